//! Every valid fixture validates cleanly; every invalid fixture produces its expected
//! problem with the right node (and edge).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use warden_flow::{codes, validate, NodeType, Workflow};

fn dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(kind)
}

/// Workflow files of a fixture directory (not the `.input.json` / `.expect.json` siblings).
fn workflows(kind: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir(kind))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            (name.ends_with(".json") || name.ends_with(".yaml"))
                && !name.ends_with(".input.json")
                && !name.ends_with(".expect.json")
        })
        .collect();
    files.sort();
    files
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let stem = path.file_stem().unwrap().to_str().unwrap();
    path.with_file_name(format!("{stem}{suffix}"))
}

#[test]
fn valid_fixtures_have_no_problems() {
    let files = workflows("valid");
    assert!(files.len() >= 10, "{} valid fixtures", files.len());
    for path in files {
        let wf = Workflow::from_path(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if let Err(problems) = validate(&wf) {
            let list: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            panic!("{}:\n  {}", path.display(), list.join("\n  "));
        }
    }
}

#[test]
fn valid_fixtures_cover_every_node_type_and_both_languages() {
    let mut types = BTreeSet::new();
    let mut languages = BTreeSet::new();
    let mut loop_kinds = BTreeSet::new();
    let mut conditional_modes = BTreeSet::new();
    for path in workflows("valid") {
        let wf = Workflow::from_path(&path).unwrap();
        for node in &wf.nodes {
            types.insert(node.kind.clone());
            match node.kind.as_str() {
                "code" => {
                    languages.insert(node.config["language"].as_str().unwrap().to_string());
                }
                "loop" => {
                    let kind = if node.config.get("over").is_some() {
                        "over"
                    } else {
                        "while"
                    };
                    loop_kinds.insert(kind);
                }
                "conditional" => {
                    let mode = if node.config.get("expression").is_some() {
                        "label"
                    } else {
                        "guard"
                    };
                    conditional_modes.insert(mode);
                }
                _ => {}
            }
        }
    }
    let all: BTreeSet<String> = NodeType::ALL.iter().map(|t| t.name().to_string()).collect();
    assert_eq!(types, all);
    assert_eq!(
        languages,
        BTreeSet::from(["javascript".into(), "python".into()])
    );
    assert_eq!(loop_kinds, BTreeSet::from(["over", "while"]));
    assert_eq!(conditional_modes, BTreeSet::from(["guard", "label"]));
}

#[test]
fn valid_fixture_inputs_match_declared_inputs() {
    for path in workflows("valid") {
        let wf = Workflow::from_path(&path).unwrap();
        let input = sibling(&path, ".input.json");
        if wf.inputs.is_empty() {
            continue;
        }
        let text =
            std::fs::read_to_string(&input).unwrap_or_else(|e| panic!("{}: {e}", input.display()));
        let value: Value = serde_json::from_str(&text).unwrap();
        let keys: BTreeSet<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let declared: BTreeSet<&str> = wf.inputs.iter().map(String::as_str).collect();
        assert_eq!(keys, declared, "{}", input.display());
    }
}

#[test]
fn invalid_fixtures_report_their_problem() {
    let files = workflows("invalid");
    let mut covered = BTreeSet::new();
    let mut failures = Vec::new();
    for path in files {
        let expect: Value =
            serde_json::from_str(&std::fs::read_to_string(sibling(&path, ".expect.json")).unwrap())
                .unwrap();
        let code = expect["code"].as_str().unwrap();
        let node = expect["node"].as_str();
        let edge = expect
            .get("edge")
            .and_then(Value::as_u64)
            .map(|e| e as usize);
        // Problems that necessarily come with the one the fixture is about.
        let also: Vec<&str> = expect
            .get("also")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let wf = Workflow::from_path(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let problems = validate(&wf).expect_err(&path.display().to_string());
        let found = problems.iter().any(|p| {
            p.code == code && p.node.as_deref() == node && (edge.is_none() || p.edge == edge)
        });
        let list: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        if !found {
            failures.push(format!(
                "{}: expected {code} at {node:?} (edge {edge:?}), got:\n  {}",
                path.display(),
                list.join("\n  ")
            ));
        }
        // Each fixture is about its one problem: nothing else of another code.
        let others: Vec<&String> = problems
            .iter()
            .zip(&list)
            .filter(|(p, _)| p.code != code && !also.contains(&p.code))
            .map(|(_, s)| s)
            .collect();
        if !others.is_empty() {
            failures.push(format!("{}: other problems: {others:?}", path.display()));
        }
        covered.insert(code.to_string());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let all: BTreeSet<String> = codes::ALL.iter().map(|c| c.to_string()).collect();
    let missing: Vec<&String> = all.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "codes without an invalid fixture: {missing:?}"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let wf = Workflow::from_json(
        r#"{
          "name": "", "version": 1,
          "nodes": [
            {"id": "start", "type": "start"},
            {"id": "a", "type": "teleport"},
            {"id": "b", "type": "delay", "config": {"ms": -1}},
            {"id": "c", "type": "variable", "config": {"set": {"v": "1 +"}}},
            {"id": "d", "type": "variable", "config": {"set": {"w": "nowhere.key"}}}
          ],
          "edges": [
            {"source": "start", "target": "a"},
            {"source": "a", "target": "zzz"},
            {"source": "c", "target": "d"}
          ]
        }"#,
    )
    .unwrap();
    let problems = validate(&wf).unwrap_err();
    let got: BTreeSet<(&str, Option<&str>)> = problems
        .iter()
        .map(|p| (p.code, p.node.as_deref()))
        .collect();
    for want in [
        (codes::BAD_WORKFLOW, None),
        (codes::UNKNOWN_TYPE, Some("a")),
        (codes::BAD_CONFIG, Some("b")),
        (codes::BAD_EXPRESSION, Some("c")),
        (codes::MISSING_END, None),
        (codes::EDGE_TO_NOWHERE, Some("a")),
        (codes::DEAD_END, Some("b")),
        (codes::DEAD_END, Some("d")),
        (codes::UNREACHABLE, Some("b")),
        (codes::UNREACHABLE, Some("c")),
        (codes::UNREACHABLE, Some("d")),
        (codes::UNDEFINED_KEY, Some("d")),
    ] {
        assert!(got.contains(&want), "missing {want:?} in {got:?}");
    }
    let json = serde_json::to_value(&problems[0]).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"node": null, "edge": null, "code": "bad_workflow", "message": "`name` is empty"})
    );
}
