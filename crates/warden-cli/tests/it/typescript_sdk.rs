//! The TypeScript SDK's own suite (`clients/typescript`: type check, format check, the
//! built `dist/` up to date, and its node:test suite) against this build of `warden`:
//! the suite starts its servers from `WARDEN_BIN`. Its dependencies come from
//! `npm ci` (`.ci/run` does it).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::python_clients::run;

/// The whole suite takes well under this; it only bounds a hung run.
const SUITE_TIMEOUT: Duration = Duration::from_secs(400);

#[test]
fn the_typescript_sdk_suite_passes() {
    let package = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../clients/typescript");
    if !package.join("node_modules").is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the TypeScript SDK's suite: run `npm ci` in clients/typescript"
        );
        eprintln!("clients/typescript/node_modules is missing (npm ci): the TypeScript SDK's suite skipped");
        return;
    }
    let mut cmd = Command::new("npm");
    cmd.args(["test", "--silent"]).current_dir(&package);
    eprintln!("{}", run(cmd, "the TypeScript SDK's suite", SUITE_TIMEOUT));
}
