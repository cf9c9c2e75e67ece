//! The MCP server as clients see it, driven by the official MCP Python SDK
//! (`mcp_client.py`): over stdio (`warden mcp`) and over Streamable HTTP (`/mcp` on
//! `warden serve`, with keys and in development mode).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::python_clients::{run, test_python};

/// Each scenario takes a few seconds; this only bounds a hung run.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(90);

/// Runs `mcp_client.py SCENARIO` and fails with its output unless it succeeds.
fn client(scenario: &str) {
    let what = format!("the MCP client's {scenario} scenario");
    let Some(python) = test_python(&what) else {
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/mcp_client.py");
    let mut cmd = Command::new(python);
    cmd.arg(&script).arg(scenario);
    run(cmd, &what, SCENARIO_TIMEOUT);
}

#[test]
fn mcp_over_stdio_runs_code_keeps_state_and_returns_images() {
    client("stdio");
}

#[test]
fn mcp_over_streamable_http_authenticates_and_runs_code() {
    client("http");
}
