//! schemathesis, a fuzzer nobody here wrote, driven by the served `/openapi.json`: every
//! operation gets the document's examples, its boundary values (coverage) and random
//! requests (fuzzing), and every reply must be no server error, a status the document
//! lists for that operation, and a body of the listed schema. Run in development mode, with
//! an admin key, and with a tenant whose policy refuses most things (so that the 403s and
//! 429s the document lists are actually met); each with a fixed seed, plus a random one
//! printed for a rerun (`--seed N`).

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::python_clients::{run, test_python};
use crate::serve::Server;
use crate::tenancy::{create_key, keyed_server};

/// The checks the outside report used.
const CHECKS: &str = "not_a_server_error,status_code_conformance,response_schema_conformance";
/// Examples per operation in the fuzzing phase: with the coverage phase, about 2,000
/// requests in all, 15-30 s. (schemathesis's `--max-time` would instead keep generating
/// until the time is up.)
const MAX_EXAMPLES: &str = "30";
/// Our bound on one run, for a hung one.
const LIMIT: Duration = Duration::from_secs(240);

/// A seed that changes from run to run (printed, so a failure can be replayed).
fn random_seed() -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    u64::from(now.subsec_nanos()) ^ (now.as_secs() << 20)
}

/// One schemathesis run against `server`; panics (with its report) on any failure.
fn fuzz(python: &str, server: &Server, key: Option<&str>, seed: u64, what: &str) {
    eprintln!("schemathesis {what}: --seed {seed}");
    let mut cmd = Command::new(python);
    // The `st` entry point, through the venv's interpreter (the package has no __main__).
    cmd.args([
        "-c",
        "import sys; from schemathesis.cli import schemathesis; sys.argv[0] = 'st'; \
         sys.exit(schemathesis())",
        "run",
    ])
    .arg(server.url("/openapi.json"))
    .args(["--checks", CHECKS])
    .args(["--phases", "examples,coverage,fuzzing"])
    .args(["--workers", "2", "--max-examples", MAX_EXAMPLES])
    .args(["--seed", &seed.to_string()])
    .args(["--generation-database", "none", "--no-color"])
    .current_dir(std::env::temp_dir());
    if let Some(k) = key {
        cmd.args(["-H", &format!("Authorization: Bearer {k}")]);
    }
    let report = run(cmd, &format!("schemathesis {what} (--seed {seed})"), LIMIT);
    // Exit 0 already means no failure; the summary must also show that requests were made.
    let summary = report
        .lines()
        .rev()
        .find(|l| l.contains(" passed") || l.contains(" failed"))
        .unwrap_or_default()
        .to_string();
    assert!(
        summary.contains("passed") && !summary.contains("fail"),
        "schemathesis {what}: no clean summary line in:\n{report}"
    );
    // "Test cases:" then, on the next line, "N generated, N passed".
    let cases: u64 = report
        .lines()
        .skip_while(|l| l.trim() != "Test cases:")
        .nth(1)
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    assert!(
        cases >= 500,
        "schemathesis {what} generated only {cases} test cases:\n{report}"
    );
    eprintln!("schemathesis {what}: {cases} test cases, {summary}");
}

#[test]
fn the_document_holds_under_schemathesis_in_development_mode() {
    let what = "schemathesis (development mode)";
    let Some(python) = test_python(what) else {
        return;
    };
    let mut server = Server::start(&[]);
    fuzz(&python, &server, None, 1, "dev, fixed seed");
    fuzz(&python, &server, None, random_seed(), "dev, random seed");
    server.stop();
}

#[test]
fn the_document_holds_under_schemathesis_with_keys() {
    let what = "schemathesis (API keys)";
    let Some(python) = test_python(what) else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let admin = create_key(data.path(), "ops", None, true);
    // A tenant refused nearly everything: each refusal must be a listed status.
    let strict = create_key(
        data.path(),
        "strict",
        Some(
            r#"{"languages": ["python"], "max_timeout": 2, "max_memory_mb": 128,
                "max_sessions": 1, "executions_per_minute": 5, "max_code_bytes": 64,
                "packages": [], "network": false,
                "risk": {"low": "allow", "medium": "deny", "high": "deny"}}"#,
        ),
        false,
    );
    let mut server = keyed_server(data.path());
    fuzz(&python, &server, Some(&admin), 2, "admin key, fixed seed");
    fuzz(
        &python,
        &server,
        Some(&strict),
        random_seed(),
        "strict tenant, random seed",
    );
    fuzz(&python, &server, None, 3, "no key, fixed seed");
    server.stop();
}
