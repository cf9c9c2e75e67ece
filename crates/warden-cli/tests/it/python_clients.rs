//! Running the Python test clients (the SDK's pytest suite, the MCP client, schemathesis)
//! from the Rust suite: they need a Python with httpx, pytest, mcp and schemathesis, named
//! by `WARDEN_TEST_PYTHON` (CI makes one). In CI its absence fails; elsewhere the test is skipped with a note.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The clients' Python, or `None` (after a note) to skip outside CI.
pub(crate) fn test_python(what: &str) -> Option<String> {
    match std::env::var("WARDEN_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run {what}: set WARDEN_TEST_PYTHON to a Python with httpx, pytest, \
                 pytest-asyncio, mcp, schemathesis and nbformat"
            );
            eprintln!("WARDEN_TEST_PYTHON is not set: {what} skipped");
            None
        }
    }
}

/// Runs a client to completion (killed after `limit`) with `WARDEN_BIN` set to this
/// build, and panics with its output unless it succeeds; returns the output.
pub(crate) fn run(mut cmd: Command, what: &str, limit: Duration) -> String {
    let out_dir = tempfile::tempdir().unwrap();
    let log_path = out_dir.path().join("client.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = cmd
        .env("WARDEN_BIN", env!("CARGO_BIN_EXE_warden"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .env_remove("WARDEN_API_URL")
        .env_remove("WARDEN_API_KEY")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    match status {
        Some(s) if s.success() => output,
        Some(s) => panic!("{what} failed ({s}):\n{output}"),
        None => panic!(
            "{what} did not finish within {} s:\n{output}",
            limit.as_secs()
        ),
    }
}
