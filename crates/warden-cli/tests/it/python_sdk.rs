//! The Python SDK's own test suite (`clients/python/tests`, pytest) against this build of
//! `warden`: the suite starts its servers from `WARDEN_BIN`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::python_clients::{run, test_python};

/// The whole suite takes about 20 s; this only bounds a hung run.
const SUITE_TIMEOUT: Duration = Duration::from_secs(300);

#[test]
fn the_python_sdk_suite_passes() {
    let what = "the Python SDK's tests";
    let Some(python) = test_python(what) else {
        return;
    };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let src = repo.join("clients/python/src");
    let python_path = match std::env::var_os("PYTHONPATH") {
        Some(rest) if !rest.is_empty() => {
            let mut paths = vec![src];
            paths.extend(std::env::split_paths(&rest));
            std::env::join_paths(paths).unwrap()
        }
        _ => src.into_os_string(),
    };
    let mut cmd = Command::new(python);
    cmd.args([
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "clients/python/tests",
    ])
    .current_dir(&repo)
    .env("PYTHONPATH", python_path);
    eprintln!("{}", run(cmd, what, SUITE_TIMEOUT));
}
