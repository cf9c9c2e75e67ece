//! `warden flow`: definitions validated with every problem and its node, and workflows
//! run end to end with their Python and JavaScript code nodes in sandboxes.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::warden;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../warden-flow/tests/fixtures")
        .join(name)
}

/// `warden flow run FILE --input @INPUT`: the exit status and the printed result.
fn run(name: &str) -> (Option<i32>, Value) {
    let file = fixture(&format!("valid/{name}"));
    let stem = name.rsplit_once('.').unwrap().0;
    let input = fixture(&format!("valid/{stem}.input.json"));
    let out = warden(&[
        "flow",
        "run",
        file.to_str().unwrap(),
        "--trace",
        "--input",
        &format!("@{}", input.display()),
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), v)
}

#[test]
fn validate_reports_every_problem_with_its_node() {
    let bad = fixture("invalid/unreachable.json");
    let out = warden(&["flow", "validate", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("node orphan: unreachable"), "{stdout}");

    let out = warden(&["flow", "validate", "--json", bad.to_str().unwrap()]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["problems"][0]["code"], "unreachable");
    assert_eq!(v["problems"][0]["node"], "orphan");

    let good = fixture("valid/word_count.yaml");
    let out = warden(&["flow", "validate", good.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = warden(&["flow", "validate", "/nonexistent/flow.json"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn workflows_run_their_code_nodes_in_sandboxes() {
    // Python, with input and output mappings.
    let (code, v) = run("greet_python.json");
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(
        v["output"],
        json!({"greeting": "Hello, Ada Lovelace!", "name_length": 12})
    );
    // JavaScript, which returns its result.
    let (code, v) = run("word_count.json");
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(
        v["output"]["counts"],
        json!({"distinct": 5, "top": "the", "total": 8})
    );
    // Loops over code nodes sharing one session.
    let (_, v) = run("nested_loops.json");
    assert_eq!(
        v["output"]["table"],
        json!([[1, 2, 3, 4], [2, 4, 6, 8], [3, 6, 9, 12]])
    );
    let (_, v) = run("loop_while_collatz.yaml");
    assert_eq!(v["output"]["path"], json!([6, 3, 10, 5, 16, 8, 4, 2, 1]));
    let nodes: Vec<&str> = v["trace"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["node"].as_str())
        .collect();
    assert!(nodes.len() > 8 && nodes[0] == "start", "{nodes:?}");
    // A Python exception follows the node's error edge with its code and traceback.
    let (code, v) = run("error_route.json");
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["state"]["failure"]["node"], "parse");
    assert_eq!(v["state"]["failure"]["code"], "EXECUTION_ERROR");
    assert!(v["state"]["failure"]["traceback"]
        .as_str()
        .unwrap()
        .contains("JSONDecodeError"));
}
