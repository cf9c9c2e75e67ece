//! The Python SDK's own test suite (`clients/python/tests`, pytest) against this build of
//! `warden`: the suite starts its servers from `WARDEN_BIN`. It needs a Python with httpx,
//! pytest and pytest-asyncio, named by `WARDEN_TEST_PYTHON` (CI makes one; in CI its
//! absence fails, elsewhere the test is skipped with a note).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The whole suite takes about 20 s; this only bounds a hung run.
const SUITE_TIMEOUT: Duration = Duration::from_secs(300);

#[test]
fn the_python_sdk_suite_passes() {
    let python = match std::env::var("WARDEN_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run the Python SDK's tests: set WARDEN_TEST_PYTHON to a Python with httpx, pytest and pytest-asyncio"
            );
            eprintln!("WARDEN_TEST_PYTHON is not set: the Python SDK's tests are skipped");
            return;
        }
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
    let out_dir = tempfile::tempdir().unwrap();
    let log_path = out_dir.path().join("pytest.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(&python)
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "clients/python/tests",
        ])
        .current_dir(&repo)
        .env("WARDEN_BIN", env!("CARGO_BIN_EXE_warden"))
        .env("PYTHONPATH", python_path)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("WARDEN_API_URL")
        .env_remove("WARDEN_API_KEY")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {python}: {e}"));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > SUITE_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    match status {
        Some(s) if s.success() => eprintln!("{output}"),
        Some(s) => panic!("the Python SDK's tests failed ({s}):\n{output}"),
        None => panic!(
            "the Python SDK's tests did not finish within {} s:\n{output}",
            SUITE_TIMEOUT.as_secs()
        ),
    }
}
