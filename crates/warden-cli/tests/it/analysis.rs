//! The layers beside the sandbox, end to end: syntax checks before a sandbox is used,
//! static analysis and the policy's decision per risk level, records and audit, and the
//! redaction of secrets in outputs (including streamed output). Also `warden check` and
//! `warden run --policy`.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::serve::{client, create, exec, one_shot, Server};
use crate::tenancy::{audit_actions, call, create_key, keyed_server};
use crate::warden;

/// A made-up OpenAI-style key: the shape the redactor looks for.
const KEY: &str = "sk-proj-Ab3dEf6hIj9kLmN0pQrStUvWxYz12345";

async fn metric(s: &Server, series: &str) -> Option<f64> {
    let text = client()
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test]
async fn syntax_errors_come_back_with_line_and_column_before_any_sandbox_starts() {
    let mut s = Server::start(&[
        "--pool-size",
        "0",
        "--js-pool-size",
        "0",
        "--bash-pool-size",
        "0",
    ]);
    let (code, v) = one_shot(&s, json!({"code": "x = 1\ndef f(:\n    pass\n"})).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["code"], "SYNTAX_ERROR");
    assert_eq!(v["error"]["line"], 2, "{v}");
    assert!(v["error"]["col"].as_u64().unwrap() >= 1, "{v}");

    let (code, v) = one_shot(
        &s,
        json!({"language": "javascript", "code": "const a = 1;\n\nlet b = ;\n"}),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["code"], "SYNTAX_ERROR");
    assert_eq!(v["error"]["line"], 3, "{v}");

    // Nothing was started and nothing recorded for either.
    let started = "warden_sandboxes_started_total";
    assert_eq!(metric(&s, started).await, Some(0.0));
    let (_, _, list) = call(&s, None, Method::GET, "/v1/executions", None).await;
    assert_eq!(list["executions"].as_array().unwrap().len(), 0, "{list}");
    // Valid code does start one (so the counter can tell).
    let (code, v) = one_shot(&s, json!({"code": "print('ok')"})).await;
    assert_eq!((code, v["stdout"].as_str()), (StatusCode::OK, Some("ok\n")));
    assert_eq!(metric(&s, started).await, Some(1.0));

    // In a session, a cell with a syntax error leaves the state and the count alone.
    let id = create(&s, json!({})).await;
    assert_eq!(exec(&s, &id, "x = 41").await.0, StatusCode::OK);
    let (code, v) = exec(&s, &id, "x = 5\nif x:\nprint(x)\n").await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["code"], "SYNTAX_ERROR");
    assert_eq!(v["error"]["line"], 3, "{v}");
    let (code, v) = exec(&s, &id, "x + 1").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(v["value"]["text/plain"], "42");
    assert_eq!(v["execution_count"], 2);
    // Top-level await is fine in a notebook cell.
    let (code, v) = exec(&s, &id, "import asyncio\nawait asyncio.sleep(0)\n7").await;
    assert_eq!(
        (code, &v["value"]["text/plain"]),
        (StatusCode::OK, &json!("7")),
        "{v}"
    );
    s.stop();
}

#[tokio::test]
async fn analyze_reports_findings_and_what_the_policy_would_do() {
    let mut s = Server::start(&[]);
    let (code, _, v) = call(
        &s,
        None,
        Method::POST,
        "/v1/analyze",
        Some(json!({"code": "import subprocess as sp\nsp.run(['ls'])\n"})),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["risk"], "medium", "{v}");
    assert_eq!(
        v["action"], "allow",
        "the default policy allows every level"
    );
    let spawn = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "process.spawn")
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(
        (spawn["line"].as_u64(), spawn["severity"].as_str()),
        (Some(2), Some("medium"))
    );
    assert_eq!(v["metrics"]["lines"], 2);

    let (_, _, v) = call(
        &s,
        None,
        Method::POST,
        "/v1/analyze",
        Some(json!({"language": "javascript", "code": "const cp = require('child_' + 'process');\ncp.execSync('id');\n"})),
    )
    .await;
    let rules: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["rule"].as_str())
        .collect();
    assert!(rules.contains(&"import.process"), "{v}");

    // A syntax error is part of the report here, not an error.
    let (code, _, v) = call(
        &s,
        None,
        Method::POST,
        "/v1/analyze",
        Some(json!({"code": "print(1\n"})),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert!(v["syntax_error"]["line"].as_u64().is_some(), "{v}");
    assert!(v.get("action").is_none(), "{v}");

    // Bad input is a 400, not a 500.
    let (code, _, v) = call(
        &s,
        None,
        Method::POST,
        "/v1/analyze",
        Some(json!({"cod": "1"})),
    )
    .await;
    assert_eq!(
        (code, &v["error"]["code"]),
        (StatusCode::BAD_REQUEST, &json!("INVALID_REQUEST"))
    );
    s.stop();
}

#[tokio::test]
async fn a_policy_allows_restricts_or_denies_by_risk_level() {
    let data = tempfile::tempdir().unwrap();
    let policy = r#"{"risk": {"medium": "restrict", "high": "deny", "restricted_timeout": 1}}"#;
    let key = create_key(data.path(), "careful", Some(policy), false);
    let admin = create_key(data.path(), "ops", None, true);
    let mut s = keyed_server(data.path());

    // High: refused with the findings, and audited.
    let escape = "().__class__.__bases__[0].__subclasses__()";
    let (code, _, v) = call(
        &s,
        Some(&key),
        Method::POST,
        "/v1/execute",
        Some(json!({ "code": escape })),
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["error"]["code"], "SECURITY_VIOLATION");
    assert_eq!(v["error"]["risk"], "high");
    let findings = v["error"]["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f["rule"] == "reflect.dunder_attribute"),
        "{v}"
    );
    let audit = audit_actions(&s, &admin).await;
    assert!(
        audit.iter().any(|e| e["action"] == "policy.denied"
            && e["tenant"] == "careful"
            && e["detail"]["code"] == "SECURITY_VIOLATION"),
        "{audit:?}"
    );
    // The refusal has a record (nothing ran), with the findings behind it, which its
    // audit entry names.
    let refused = v["error"]["execution_id"]
        .as_str()
        .expect("a record id")
        .to_string();
    assert!(
        audit
            .iter()
            .any(|e| e["action"] == "policy.denied"
                && e["detail"]["execution_id"] == refused.as_str()),
        "{audit:?}"
    );
    for k in [&key, &admin] {
        let (code, _, r) = call(
            &s,
            Some(k),
            Method::GET,
            &format!("/v1/executions/{refused}"),
            None,
        )
        .await;
        assert_eq!(code, StatusCode::OK, "{r}");
        assert_eq!(r["status"], "refused", "{r}");
        assert_eq!(r["error_code"], "SECURITY_VIOLATION");
        assert_eq!(r["risk"], "high");
        assert_eq!(r["code"], escape);
        assert_eq!(r["findings"], v["error"]["findings"]);
    }
    let (_, _, listed) = call(
        &s,
        Some(&admin),
        Method::GET,
        "/v1/executions?status=refused&tenant=careful",
        None,
    )
    .await;
    assert_eq!(listed["executions"][0]["id"], refused.as_str(), "{listed}");

    // Medium: runs, with the restricted timeout (1 s rather than the default 30 s).
    let started = Instant::now();
    let (code, _, v) = call(
        &s,
        Some(&key),
        Method::POST,
        "/v1/execute",
        Some(json!({"code": "import subprocess, time\ntime.sleep(5)\n"})),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["timed_out"], true, "{v}");
    assert_eq!(v["risk"], "medium");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );

    // The same in a session cell.
    let (code, _, session) = call(
        &s,
        Some(&key),
        Method::POST,
        "/v1/sessions",
        Some(json!({})),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED);
    let path = format!("/v1/sessions/{}/execute", session["id"].as_str().unwrap());
    let (code, _, v) = call(
        &s,
        Some(&key),
        Method::POST,
        &path,
        Some(json!({"code": "import socket, time\ntime.sleep(5)\n"})),
    )
    .await;
    assert_eq!(
        (code, &v["timed_out"]),
        (StatusCode::OK, &json!(true)),
        "{v}"
    );

    // Low: allowed as usual.
    let (code, _, v) = call(
        &s,
        Some(&key),
        Method::POST,
        "/v1/execute",
        Some(json!({"code": "import os\nprint(os.getcwd())\n"})),
    )
    .await;
    assert_eq!(
        (code, v["stdout"].as_str()),
        (StatusCode::OK, Some("/workspace\n")),
        "{v}"
    );
    assert_eq!(v["risk"], "low");

    // /v1/analyze tells what this tenant's policy would do.
    let (_, _, v) = call(
        &s,
        Some(&key),
        Method::POST,
        "/v1/analyze",
        Some(json!({ "code": escape })),
    )
    .await;
    assert_eq!(
        (v["risk"].as_str(), v["action"].as_str()),
        (Some("high"), Some("deny")),
        "{v}"
    );
    s.stop();
}

#[tokio::test]
async fn findings_and_risk_are_kept_in_the_record_and_the_audit_log() {
    let mut s = Server::start(&[]);
    let (code, v) = one_shot(&s, json!({"code": "import socket\nprint(1)\n"})).await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["risk"], "medium");
    let id = v["execution_id"].as_str().unwrap().to_string();
    let (_, _, record) = call(&s, None, Method::GET, &format!("/v1/executions/{id}"), None).await;
    assert_eq!(record["risk"], "medium", "{record}");
    assert!(
        record["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "import.network" && f["line"] == 1),
        "{record}"
    );
    let (_, _, audit) = call(&s, None, Method::GET, "/v1/audit?limit=100", None).await;
    let flagged = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "execution.flagged" && e["detail"]["execution_id"] == id.as_str())
        .unwrap_or_else(|| panic!("{audit}"));
    assert_eq!(flagged["detail"]["risk"], "medium");

    // Clean code: risk none, no findings, nothing flagged.
    let (_, v) = one_shot(&s, json!({"code": "print(sum(range(10)))"})).await;
    assert_eq!(v["risk"], "none");
    assert!(v.get("findings").is_none(), "{v}");
    let id = v["execution_id"].as_str().unwrap();
    let (_, _, audit) = call(&s, None, Method::GET, "/v1/audit?limit=100", None).await;
    assert!(!audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["detail"]["execution_id"] == id));
    s.stop();
}

/// The stdout text of an SSE reply, and its result.
async fn streamed(s: &Server, id: &str, code: &str) -> (String, Value) {
    let r = client()
        .post(s.url(&format!("/v1/sessions/{id}/execute")))
        .header("accept", "text/event-stream")
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap();
    let mut body = r.bytes_stream();
    let mut text = String::new();
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(20), body.next())
        .await
        .unwrap()
    {
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        if text.contains("event: result") && text.ends_with("\n\n") {
            break;
        }
    }
    let mut stdout = String::new();
    let mut result = Value::Null;
    let mut event = "";
    for line in text.lines() {
        if let Some(e) = line.strip_prefix("event: ") {
            event = e;
        } else if let Some(data) = line.strip_prefix("data: ") {
            let v: Value = serde_json::from_str(data).unwrap();
            match event {
                "stdout" => stdout.push_str(v["text"].as_str().unwrap()),
                "result" => result = v,
                _ => {}
            }
        }
    }
    (stdout, result)
}

#[tokio::test]
async fn secrets_are_redacted_by_default_even_split_across_streamed_chunks() {
    let mut s = Server::start(&[]);
    let (code, v) = one_shot(&s, json!({"code": format!("print('key={KEY}')\n'{KEY}'")})).await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["stdout"], "key=[REDACTED:openai_key]\n");
    assert_eq!(v["secrets"]["openai_key"], 2, "stdout and the value: {v}");
    assert!(!v.to_string().contains(KEY));
    let id = v["execution_id"].as_str().unwrap();
    let (_, _, record) = call(&s, None, Method::GET, &format!("/v1/executions/{id}"), None).await;
    assert_eq!(record["secrets"]["openai_key"], 2, "{record}");

    // Printed in two halves with a pause between: the two chunks travel separately,
    // and the key is still caught.
    let (first, second) = KEY.split_at(15);
    let session = create(&s, json!({})).await;
    let code = format!(
        "import sys, time\nsys.stdout.write('token: {first}'); sys.stdout.flush()\n\
         time.sleep(0.5)\nsys.stdout.write('{second} done\\n')\nprint('after')\n"
    );
    let (stdout, result) = streamed(&s, &session, &code).await;
    assert_eq!(stdout, "token: [REDACTED:openai_key] done\nafter\n");
    assert_eq!(result["stdout"], stdout.as_str());
    assert_eq!(result["secrets"]["openai_key"], 1, "{result}");
    s.stop();
}

#[tokio::test]
async fn redaction_modes_flag_block_and_off_and_registered_secrets() {
    let data = tempfile::tempdir().unwrap();
    let flag = create_key(
        data.path(),
        "flagger",
        Some(r#"{"redaction": {"mode": "flag", "secrets": ["hunter2-prod-token"]}}"#),
        false,
    );
    let block = create_key(
        data.path(),
        "blocker",
        Some(r#"{"redaction": {"mode": "block"}}"#),
        false,
    );
    let off = create_key(
        data.path(),
        "trusting",
        Some(r#"{"redaction": {"mode": "off"}}"#),
        false,
    );
    let mut s = keyed_server(data.path());
    let code = format!("print('{KEY}')\nprint('pw=hunter2-prod-token')\n");
    let run = |key: String| {
        let s = &s;
        let code = code.clone();
        async move {
            let (status, _, v) = call(
                s,
                Some(&key),
                Method::POST,
                "/v1/execute",
                Some(json!({ "code": code })),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{v}");
            v
        }
    };
    let v = run(flag).await;
    assert_eq!(
        v["stdout"],
        format!("{KEY}\npw=hunter2-prod-token\n"),
        "flag changes nothing"
    );
    assert_eq!(
        v["secrets"],
        json!({"openai_key": 1, "registered_secret": 1})
    );

    let v = run(block).await;
    assert_eq!(v["status"], "error", "{v}");
    assert_eq!(v["error"]["name"], "OutputBlocked");
    assert_eq!(v["stdout"], "");
    assert!(!v.to_string().contains(KEY));

    let v = run(off).await;
    assert_eq!(v["stdout"], format!("{KEY}\npw=hunter2-prod-token\n"));
    assert!(v.get("secrets").is_none(), "{v}");

    // A registered value shorter than 6 characters is refused when the policy is set.
    let file = data.path().join("short.json");
    std::fs::write(&file, r#"{"redaction": {"secrets": ["abc"]}}"#).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["keys", "--data-dir"])
        .arg(data.path())
        .args(["create", "--tenant", "x", "--policy"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("shorter than 6"));
    s.stop();
}

#[test]
fn warden_check_prints_findings_like_a_linter_and_fails_when_the_policy_would_deny() {
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean.py");
    std::fs::write(&clean, "def mean(xs):\n    return sum(xs) / len(xs)\n").unwrap();
    let risky = dir.path().join("risky.py");
    std::fs::write(&risky, "import os\nos.system('id')\n").unwrap();
    let broken = dir.path().join("broken.js");
    std::fs::write(&broken, "function (\n").unwrap();
    let deny = dir.path().join("deny.json");
    std::fs::write(&deny, r#"{"risk": {"medium": "deny"}}"#).unwrap();
    let p = |f: &std::path::Path| f.to_str().unwrap().to_string();

    let out = warden(&["check", &p(&clean)]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");

    let out = warden(&["check", &p(&clean), &p(&risky)]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the default policy denies nothing"
    );
    assert!(
        stdout.contains(&format!("{}:2:1 process.spawn ", p(&risky))),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("{}:1:", p(&risky))), "{stdout}");

    let out = warden(&["check", "--policy", &p(&deny), &p(&risky)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("would deny"));

    let out = warden(&["check", &p(&broken)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with(&format!("{}:1:", p(&broken))),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let out = warden(&["check", "--json", &p(&risky)]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["analysis"]["risk"], "medium");

    let out = warden(&["check", &p(&dir.path().join("missing.py"))]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn warden_run_applies_a_policy() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.json");
    std::fs::write(
        &policy,
        r#"{"risk": {"medium": "restrict", "high": "deny", "restricted_timeout": 0.5}, "languages": ["python"]}"#,
    )
    .unwrap();
    let pol = policy.to_str().unwrap();

    let out = warden(&[
        "run",
        "--policy",
        pol,
        "-c",
        "getattr((), '__cl' + 'ass__')",
    ]);
    assert_eq!(out.status.code(), Some(126));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("SECURITY_VIOLATION") && stderr.contains("reflect.getattr_dunder"),
        "{stderr}"
    );

    let started = Instant::now();
    let out = warden(&[
        "run",
        "--policy",
        pol,
        "-c",
        "import subprocess, time\ntime.sleep(5)",
    ]);
    assert_eq!(out.status.code(), Some(124), "restricted to 0.5 s");
    assert!(started.elapsed() < Duration::from_secs(4));

    let out = warden(&["run", "--policy", pol, "-c", "print(1"]);
    assert_eq!(out.status.code(), Some(126));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SYNTAX_ERROR"));

    let out = warden(&["run", "--policy", pol, "-l", "bash", "-c", "echo hi"]);
    assert_eq!(out.status.code(), Some(126));
    assert!(String::from_utf8_lossy(&out.stderr).contains("POLICY_DENIED"));

    // Secrets are redacted (the default mode), live and in --json.
    let code = format!("print('k={KEY}')");
    let out = warden(&["run", "--policy", pol, "-c", &code]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "k=[REDACTED:openai_key]\n"
    );
    let out = warden(&["run", "--policy", pol, "--json", "-c", &code]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("k=[REDACTED:openai_key]"));
    // Without a policy, `warden run` changes nothing.
    let out = warden(&["run", "-c", &code]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("k={KEY}\n"));
}
