//! The web console's browser suite (`console/tests`: Debian's Chromium, headless, driven
//! by playwright-core) against this build of `warden`, and the check that the committed
//! editor bundle (`console/ui/assets/vendor/codemirror.js`) is what `console/vendor`
//! builds. The suite starts its own servers from `WARDEN_BIN` and stops them by pid; it
//! prints where it saved a screenshot of every page. Its dependencies come from `npm ci`
//! (`.ci/run` does it, and installs Debian's `chromium`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::python_clients::run;

/// The suite takes about 15 s here; this only bounds a hung run.
const SUITE_TIMEOUT: Duration = Duration::from_secs(300);

const CHROMIUM: &str = "/usr/bin/chromium";

fn console_dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../console")
        .join(sub)
}

/// Whether `dir` has its npm dependencies; outside CI a missing one skips the test.
fn installed(dir: &Path, what: &str) -> bool {
    if dir.join("node_modules").is_dir() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must run {what}: run `npm ci` in {}",
        dir.display()
    );
    eprintln!(
        "{}/node_modules is missing (npm ci): {what} skipped",
        dir.display()
    );
    false
}

#[test]
fn the_console_works_in_a_real_browser() {
    let tests = console_dir("tests");
    if !installed(&tests, "the console's browser suite") {
        return;
    }
    if !Path::new(CHROMIUM).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the console's browser suite: apt-get install chromium"
        );
        eprintln!("{CHROMIUM} is missing (apt-get install chromium): the console's suite skipped");
        return;
    }
    let mut cmd = Command::new("npm");
    cmd.args(["test", "--silent"])
        .current_dir(&tests)
        .env("CHROMIUM", CHROMIUM)
        .env_remove("WARDEN_CONSOLE_DIR");
    let output = run(cmd, "the console's browser suite", SUITE_TIMEOUT);
    // node:test's summary: at least the suite's cases passed, none failed.
    let count = |label: &str| {
        output
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .and_then(|n| n.trim().parse::<u32>().ok())
    };
    assert_eq!(count("ℹ fail"), Some(0), "{output}");
    assert!(count("ℹ pass").unwrap_or(0) >= 20, "{output}");
    eprintln!("{output}");
}

#[test]
fn the_committed_editor_bundle_is_what_console_vendor_builds() {
    let vendor = console_dir("vendor");
    if !vendor.join("package.json").exists() {
        panic!("console/vendor is missing");
    }
    if !installed(&vendor, "the editor bundle's check") {
        return;
    }
    let mut cmd = Command::new("npm");
    cmd.args(["run", "check", "--silent"]).current_dir(&vendor);
    eprintln!(
        "{}",
        run(cmd, "console/vendor's npm run check", SUITE_TIMEOUT)
    );
}
