//! Notebooks: a session's cells exported as `.ipynb` (validated with nbformat from
//! PyPI), and a notebook replayed into a new session with the same values.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::python_clients::test_python;
use crate::serve::{client, create, exec, Server};

/// Validates `nb` with nbformat and returns what the script prints about it.
fn nbformat_check(python: &str, nb: &Value) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("session.ipynb");
    std::fs::write(&path, nb.to_string()).unwrap();
    let script = r#"
import sys, nbformat
nb = nbformat.read(sys.argv[1], as_version=4)
nbformat.validate(nb)
for c in nb.cells:
    kinds = [o.output_type for o in c.outputs]
    print(repr(c.source), kinds, c.execution_count)
"#;
    let out = Command::new(python)
        .args(["-c", script, path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "nbformat refused the export: {}\n{nb}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn a_session_exports_a_valid_notebook_that_replays_to_the_same_values() {
    let Some(python) = test_python("the nbformat check of notebook exports") else {
        return;
    };
    let mut s = Server::start(&[]);
    let id = create(&s, json!({})).await;
    for code in [
        "x = 41\nprint('hello')",
        "x + 1",
        "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()",
        "1 / 0",
    ] {
        let (status, v) = exec(&s, &id, code).await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    let r = client()
        .get(s.url(&format!("/v1/sessions/{id}/notebook")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains(".ipynb"));
    let nb: Value = r.json().await.unwrap();
    let listing = nbformat_check(&python, &nb);
    assert_eq!(
        listing,
        "\"x = 41\\nprint('hello')\" ['stream'] 1\n'x + 1' ['execute_result'] 2\n\
         \"import matplotlib\\nmatplotlib.use('Agg')\\nimport matplotlib.pyplot as plt\\nplt.plot([1, 3, 2])\\nplt.show()\" ['display_data'] 3\n\
         '1 / 0' ['error'] 4\n"
    );
    let png = nb["cells"][2]["outputs"][0]["data"]["image/png"]
        .as_str()
        .unwrap();
    assert!(png.starts_with("iVBORw0KGgo"), "a PNG, base64: {png:.20}");
    assert_eq!(nb["cells"][3]["outputs"][0]["ename"], "ZeroDivisionError");

    // Replayed into a new session: the same values, up to the failing cell, which ends
    // the replay.
    let r = client()
        .post(s.url("/v1/sessions"))
        .json(&json!({"notebook": nb}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    let cells = v["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 4, "{v}");
    assert_eq!(cells[0]["stdout"], "hello\n");
    assert_eq!(cells[1]["value"]["text/plain"], "42");
    assert!(cells[2]["outputs"][0]["image/png"].is_string(), "{v}");
    assert_eq!(cells[3]["error"]["name"], "ZeroDivisionError");
    assert_eq!(v["execution_count"], 4);
    let new = v["id"].as_str().unwrap();
    let (_, v) = exec(&s, new, "x").await;
    assert_eq!(
        v["value"]["text/plain"], "41",
        "the replayed state is kept: {v}"
    );
    // The new session's export starts from the replay.
    let again: Value = client()
        .get(s.url(&format!("/v1/sessions/{new}/notebook")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["cells"].as_array().unwrap().len(), 5);

    // A notebook that is not one is refused before a session exists.
    for bad in [
        json!({"cells": []}),
        json!({"nbformat": 4, "cells": [{"source": "1"}]}),
    ] {
        let r = client()
            .post(s.url("/v1/sessions"))
            .json(&json!({"notebook": bad}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["code"], "INVALID_REQUEST", "{e}");
    }
    let sessions: Value = client()
        .get(s.url("/v1/sessions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sessions["sessions"].as_array().unwrap().len(), 2);
    s.stop();
}
