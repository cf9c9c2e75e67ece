//! Tenants, keys, policies, records and the audit log, against a real server with keys
//! (no development mode), and a crash under load.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::serve::{client, Server};

/// `warden keys create` in a data directory: the printed key.
pub(crate) fn create_key(data: &Path, tenant: &str, policy: Option<&str>, admin: bool) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_warden"));
    cmd.args(["keys", "--data-dir"])
        .arg(data)
        .args(["create", "--tenant", tenant]);
    if let Some(p) = policy {
        let file = data.join(format!("{tenant}-policy.json"));
        std::fs::write(&file, p).unwrap();
        cmd.arg("--policy").arg(file);
    }
    if admin {
        cmd.arg("--admin");
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

pub(crate) fn keyed_server(data: &Path) -> Server {
    Server::start_raw(&["--data-dir", data.to_str().unwrap()])
}

/// A request with an optional key: status, headers and JSON body (or Null).
pub(crate) async fn call(
    s: &Server,
    key: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut r = client().request(method, s.url(path));
    if let Some(k) = key {
        r = r.bearer_auth(k);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.unwrap();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

pub(crate) async fn audit_actions(s: &Server, admin: &str) -> Vec<Value> {
    let (code, _, v) = call(s, Some(admin), Method::GET, "/v1/audit?limit=1000", None).await;
    assert_eq!(code, StatusCode::OK, "{v}");
    v["entries"].as_array().unwrap().clone()
}

#[tokio::test]
async fn missing_malformed_unknown_and_revoked_keys_get_401_and_are_audited() {
    let data = tempfile::tempdir().unwrap();
    let admin = create_key(data.path(), "acme", None, true);
    let user = create_key(data.path(), "acme", None, false);
    assert!(admin.starts_with("wk_") && admin != user);
    let mut s = keyed_server(data.path());
    let unknown = format!("wk_0000000000000000.{}", "0".repeat(64));
    for (key, why) in [
        (None, "missing"),
        (Some("nonsense"), "malformed"),
        (Some(unknown.as_str()), "unknown"),
    ] {
        let (code, headers, v) = call(&s, key, Method::GET, "/v1/sessions", None).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED, "{why}: {v}");
        assert_eq!(v["error"]["code"], "UNAUTHORIZED");
        assert_eq!(headers["www-authenticate"], "Bearer");
    }
    // A valid key's secret with another key's id is unknown too.
    let forged = format!("{}.{}", &admin[..19], &user[20..]);
    let (code, _, _) = call(&s, Some(&forged), Method::GET, "/v1/sessions", None).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    let (code, _, _) = call(&s, Some(&user), Method::GET, "/v1/sessions", None).await;
    assert_eq!(code, StatusCode::OK);
    // Health and metrics need no key.
    let (code, _, _) = call(&s, None, Method::GET, "/healthz", None).await;
    assert_eq!(code, StatusCode::OK);
    // Revoked: 401 from the next request on.
    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["keys", "--data-dir"])
        .arg(data.path())
        .args(["revoke", &user[..19]])
        .output()
        .unwrap();
    assert!(out.status.success());
    let (code, _, v) = call(&s, Some(&user), Method::GET, "/v1/sessions", None).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert!(v["error"]["message"].as_str().unwrap().contains("revoked"));
    // Only an admin key reads the audit log.
    let user2 = create_key(data.path(), "acme", None, false);
    let (code, _, v) = call(&s, Some(&user2), Method::GET, "/v1/audit", None).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["error"]["code"], "FORBIDDEN");
    let entries = audit_actions(&s, &admin).await;
    let failures: Vec<String> = entries
        .iter()
        .filter(|e| e["action"] == "auth.failed")
        .map(|e| e["detail"]["reason"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(failures.len(), 5, "{failures:?}");
    for reason in ["missing", "malformed", "unknown", "revoked"] {
        assert!(
            failures.iter().any(|f| f.contains(reason)),
            "{reason}: {failures:?}"
        );
    }
    let count = |action: &str| entries.iter().filter(|e| e["action"] == action).count();
    assert_eq!(count("key.created"), 3);
    assert_eq!(count("key.revoked"), 1);
    s.stop();
}

#[tokio::test]
async fn a_tenant_cannot_reach_another_tenants_sessions_files_or_records() {
    let data = tempfile::tempdir().unwrap();
    let a = create_key(data.path(), "alpha", None, false);
    let b = create_key(data.path(), "beta", None, false);
    let mut s = keyed_server(data.path());
    let (code, _, v) = call(&s, Some(&a), Method::POST, "/v1/sessions", Some(json!({}))).await;
    assert_eq!(code, StatusCode::CREATED);
    let id = v["id"].as_str().unwrap().to_string();
    // Building templates needs an admin key.
    let (code, _, v) = call(
        &s,
        Some(&a),
        Method::POST,
        "/v1/templates",
        Some(json!({"name": "t", "pip": ["six"]})),
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["error"]["code"], "FORBIDDEN");
    let (_, _, r) = call(
        &s,
        Some(&a),
        Method::POST,
        &format!("/v1/sessions/{id}/execute"),
        Some(json!({"code": "x = 1"})),
    )
    .await;
    let exe = r["execution_id"].as_str().unwrap().to_string();
    let put = client()
        .put(s.url(&format!("/v1/sessions/{id}/files/secret.txt")))
        .bearer_auth(&a)
        .body("alpha's")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);

    let cell = Some(json!({"code": "x"}));
    let probes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/v1/sessions/{id}"), None),
        (Method::POST, format!("/v1/sessions/{id}/execute"), cell),
        (Method::POST, format!("/v1/sessions/{id}/interrupt"), None),
        (Method::POST, format!("/v1/sessions/{id}/restart"), None),
        (Method::GET, format!("/v1/sessions/{id}/files"), None),
        (
            Method::GET,
            format!("/v1/sessions/{id}/files/secret.txt"),
            None,
        ),
        (
            Method::DELETE,
            format!("/v1/sessions/{id}/files/secret.txt"),
            None,
        ),
        (Method::DELETE, format!("/v1/sessions/{id}"), None),
        (Method::GET, format!("/v1/executions/{exe}"), None),
    ];
    for (method, path, body) in probes {
        let (code, _, v) = call(&s, Some(&b), method.clone(), &path, body).await;
        assert_eq!(code, StatusCode::NOT_FOUND, "{method} {path}: {v}");
    }
    // The WebSocket upgrade is refused the same way.
    let ws = client()
        .get(s.url(&format!("/v1/sessions/{id}/ws")))
        .bearer_auth(&b)
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(ws.status(), StatusCode::NOT_FOUND);
    let put = client()
        .put(s.url(&format!("/v1/sessions/{id}/files/planted.txt")))
        .bearer_auth(&b)
        .body("beta's")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::NOT_FOUND);
    let (_, _, v) = call(&s, Some(&b), Method::GET, "/v1/sessions", None).await;
    assert_eq!(v["sessions"], json!([]));
    let (_, _, v) = call(&s, Some(&b), Method::GET, "/v1/executions", None).await;
    assert_eq!(v["executions"], json!([]));
    // Alpha's session is untouched by all of that.
    let (code, _, v) = call(
        &s,
        Some(&a),
        Method::POST,
        &format!("/v1/sessions/{id}/execute"),
        Some(json!({"code": "x + open('secret.txt').read().count('a')"})),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(v["value"]["text/plain"], "3", "{v}");
    let (_, _, v) = call(
        &s,
        Some(&a),
        Method::GET,
        &format!("/v1/executions/{exe}"),
        None,
    )
    .await;
    assert_eq!(v["tenant"], "alpha");
    assert_eq!(v["session_id"], id.as_str());
    s.stop();
}

#[tokio::test]
async fn policies_cap_limits_and_quotas_answer_429_with_retry_after() {
    let data = tempfile::tempdir().unwrap();
    let policy = r#"{"languages": ["python"], "max_timeout": 2, "max_memory_mb": 256,
                     "max_sessions": 1, "executions_per_minute": 3, "max_code_bytes": 100}"#;
    let key = create_key(data.path(), "small", Some(policy), false);
    let admin = create_key(data.path(), "ops", None, true);
    let mut s = keyed_server(data.path());
    let k = Some(key.as_str());

    let denied = |v: &Value, limit: &str| {
        assert_eq!(v["error"]["code"], "POLICY_DENIED", "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(limit),
            "{limit}: {v}"
        );
    };
    let (code, _, v) = call(
        &s,
        k,
        Method::POST,
        "/v1/sessions",
        Some(json!({"language": "bash"})),
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    denied(&v, "languages");
    let (code, _, v) = call(
        &s,
        k,
        Method::POST,
        "/v1/sessions",
        Some(json!({"memory_mb": 1024})),
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    denied(&v, "max_memory_mb");
    let (code, _, v) = call(&s, k, Method::POST, "/v1/sessions", Some(json!({}))).await;
    assert_eq!(code, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    // The concurrency cap.
    let (code, headers, v) = call(&s, k, Method::POST, "/v1/sessions", Some(json!({}))).await;
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(v["error"]["code"], "QUOTA_EXCEEDED");
    assert!(
        headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );

    let exec = format!("/v1/sessions/{id}/execute");
    let (code, _, v) = call(
        &s,
        k,
        Method::POST,
        &exec,
        Some(json!({"code": "1", "timeout": 10})),
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    denied(&v, "max_timeout");
    let long = "x = 1\n".repeat(30);
    let (code, _, v) = call(&s, k, Method::POST, &exec, Some(json!({"code": long}))).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    denied(&v, "max_code_bytes");
    // The default timeout is lowered to the policy's maximum: a 3 s sleep times out.
    let started = Instant::now();
    let (code, _, v) = call(
        &s,
        k,
        Method::POST,
        &exec,
        Some(json!({"code": "import time; time.sleep(3)"})),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(v["timed_out"], true, "{v}");
    assert!(started.elapsed() < Duration::from_millis(2900));
    // Three executions per minute: that was the first; two more pass, then 429.
    for n in 0..2 {
        let (code, _, v) = call(&s, k, Method::POST, &exec, Some(json!({"code": "1 + 1"}))).await;
        assert_eq!(code, StatusCode::OK, "execution {n}: {v}");
    }
    let (code, headers, v) = call(&s, k, Method::POST, &exec, Some(json!({"code": "1 + 1"}))).await;
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert_eq!(v["error"]["code"], "RATE_LIMITED");
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&wait), "{wait}");
    let (code, _, v) = call(
        &s,
        k,
        Method::POST,
        "/v1/execute",
        Some(json!({"code": "1"})),
    )
    .await;
    assert_eq!(
        code,
        StatusCode::TOO_MANY_REQUESTS,
        "one-shot runs count too: {v}"
    );
    // Denials are in the audit log, and the timeout as a limit that fired.
    let entries = audit_actions(&s, &admin).await;
    let denials = entries
        .iter()
        .filter(|e| e["action"] == "policy.denied" && e["tenant"] == "small")
        .count();
    assert_eq!(denials, 7, "{entries:?}");
    assert!(entries
        .iter()
        .any(|e| e["action"] == "limit.fired" && e["detail"]["limit"] == "TIMEOUT"));
    s.stop();
}

#[tokio::test]
async fn every_execution_is_recorded_and_listed_newest_first() {
    let mut s = Server::start(&[]);
    let (_, _, v) = call(&s, None, Method::POST, "/v1/sessions", Some(json!({}))).await;
    let id = v["id"].as_str().unwrap().to_string();
    let exec = format!("/v1/sessions/{id}/execute");
    let mut ids = Vec::new();
    for code in ["print('hello')", "1 / 0", "sum(range(10**6))"] {
        let (_, _, r) = call(&s, None, Method::POST, &exec, Some(json!({"code": code}))).await;
        ids.push(r["execution_id"].as_str().unwrap().to_string());
    }
    let (_, _, r) = call(
        &s,
        None,
        Method::POST,
        "/v1/execute",
        Some(json!({"language": "bash", "code": "echo hi"})),
    )
    .await;
    ids.push(r["execution_id"].as_str().unwrap().to_string());

    let (_, _, e) = call(
        &s,
        None,
        Method::GET,
        &format!("/v1/executions/{}", ids[0]),
        None,
    )
    .await;
    assert_eq!(e["code"], "print('hello')");
    assert_eq!(e["code_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(e["status"], "ok");
    assert_eq!(e["stdout_bytes"], 6);
    assert_eq!(e["kind"], "cell");
    assert_eq!(e["tenant"], "dev");
    assert!(e["wall_ms"].as_f64().unwrap() > 0.0);
    assert!(e["cpu_ms"].as_f64().is_some(), "{e}");
    let (_, _, e) = call(
        &s,
        None,
        Method::GET,
        &format!("/v1/executions/{}", ids[1]),
        None,
    )
    .await;
    assert_eq!(e["status"], "error");
    assert_eq!(e["error_code"], "EXECUTION_ERROR");
    let (_, _, e) = call(
        &s,
        None,
        Method::GET,
        &format!("/v1/executions/{}", ids[3]),
        None,
    )
    .await;
    assert_eq!(
        (e["kind"].as_str(), e["language"].as_str()),
        (Some("oneshot"), Some("bash"))
    );
    assert_eq!(e["session_id"], Value::Null);

    // Pages of two, newest first, then filters.
    let (_, _, p1) = call(&s, None, Method::GET, "/v1/executions?limit=2", None).await;
    let cursor = p1["next_cursor"].as_str().unwrap().to_string();
    let (_, _, p2) = call(
        &s,
        None,
        Method::GET,
        &format!("/v1/executions?limit=2&cursor={cursor}"),
        None,
    )
    .await;
    assert_eq!(p2["next_cursor"], Value::Null);
    let listed: Vec<&str> = p1["executions"]
        .as_array()
        .unwrap()
        .iter()
        .chain(p2["executions"].as_array().unwrap())
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    let newest_first: Vec<&str> = ids.iter().rev().map(String::as_str).collect();
    assert_eq!(listed, newest_first);
    let (_, _, f) = call(
        &s,
        None,
        Method::GET,
        &format!("/v1/executions?session_id={id}&status=error"),
        None,
    )
    .await;
    assert_eq!(f["executions"].as_array().unwrap().len(), 1);
    let (code, _, v) = call(&s, None, Method::GET, "/v1/executions?cursor=zzz", None).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{v}");
    let (code, _, v) = call(&s, None, Method::GET, "/v1/executions?bogus=1", None).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{v}");
    let (code, _, v) = call(&s, None, Method::GET, "/v1/executions/exe_nope", None).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(v["error"]["code"], "EXECUTION_NOT_FOUND");
    s.stop();
}

#[tokio::test]
async fn nothing_acknowledged_is_lost_when_the_server_is_killed_under_load() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap().to_string();
    let mut s = Server::start_raw(&["--dev", "--data-dir", &dir]);
    let (_, _, v) = call(&s, None, Method::POST, "/v1/sessions", Some(json!({}))).await;
    let live = v["id"].as_str().unwrap().to_string();
    let server_pid = s.pid();
    // Four clients execute as fast as they can (cells in their own sessions and
    // one-shot runs) and keep the ids of the executions acknowledged with a 2xx.
    let mut tasks = Vec::new();
    for t in 0..4 {
        let base = s.url("");
        tasks.push(tokio::spawn(async move {
            let c = client();
            let mut acked = Vec::new();
            let session = c
                .post(format!("{base}/v1/sessions"))
                .json(&json!({}))
                .send()
                .await
                .ok()
                .and_then(|r| r.status().is_success().then_some(r));
            let sid = match session {
                Some(r) => r.json::<Value>().await.unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                None => return acked,
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            for n in 0..10_000 {
                if Instant::now() > deadline {
                    break;
                }
                let (url, body) = if (n + t) % 3 == 0 {
                    (
                        format!("{base}/v1/execute"),
                        json!({"code": format!("print({n})")}),
                    )
                } else {
                    (
                        format!("{base}/v1/sessions/{sid}/execute"),
                        json!({"code": format!("{n} * 2")}),
                    )
                };
                match c.post(url).json(&body).send().await {
                    Ok(r) if r.status().is_success() => {
                        if let Ok(v) = r.json::<Value>().await {
                            acked.push(v["execution_id"].as_str().unwrap().to_string());
                        }
                    }
                    _ => break,
                }
            }
            acked
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    Command::new("kill")
        .args(["-KILL", &server_pid.to_string()])
        .status()
        .unwrap();
    let _ = s.child.wait();
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    assert!(
        acked.len() >= 10,
        "too few executions before the kill: {}",
        acked.len()
    );
    // No sandbox outlives its server.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !crate::serve::children_of(server_pid).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(crate::serve::children_of(server_pid).is_empty());

    let mut s = Server::start_raw(&["--dev", "--data-dir", &dir]);
    let mut stored = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let path = match &cursor {
            Some(c) => format!("/v1/executions?limit=1000&cursor={c}"),
            None => "/v1/executions?limit=1000".to_string(),
        };
        let (_, _, page) = call(&s, None, Method::GET, &path, None).await;
        for e in page["executions"].as_array().unwrap() {
            stored.insert(e["id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let missing: Vec<&String> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged but not recorded: {missing:?}",
        missing.len()
    );
    // The sessions that were live are gone and marked ended in the database.
    let (code, _, _) = call(&s, None, Method::GET, &format!("/v1/sessions/{live}"), None).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let store = warden_store::open(&format!("sqlite://{dir}/warden.db"))
        .await
        .unwrap();
    let record = store.get_session(&live).await.unwrap().unwrap();
    assert_eq!(record.end_reason.as_deref(), Some("server_restart"));
    s.stop();
}

#[tokio::test]
async fn the_daily_cpu_quota_counts_recorded_cpu_time() {
    let data = tempfile::tempdir().unwrap();
    let key = create_key(
        data.path(),
        "busy",
        Some(r#"{"cpu_seconds_per_day": 0.5}"#),
        false,
    );
    let mut s = keyed_server(data.path());
    let k = Some(key.as_str());
    let burn = "import time\nwhile time.process_time() < 0.8: pass\n'burnt'";
    let (code, _, v) = call(
        &s,
        k,
        Method::POST,
        "/v1/execute",
        Some(json!({"code": burn})),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    let (_, _, e) = call(
        &s,
        k,
        Method::GET,
        &format!("/v1/executions/{}", v["execution_id"].as_str().unwrap()),
        None,
    )
    .await;
    let cpu = e["cpu_ms"].as_f64().unwrap();
    assert!(cpu >= 700.0, "the record holds the CPU time: {e}");
    let (code, headers, v) = call(
        &s,
        k,
        Method::POST,
        "/v1/execute",
        Some(json!({"code": "1"})),
    )
    .await;
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert_eq!(v["error"]["code"], "QUOTA_EXCEEDED");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("cpu_seconds_per_day"));
    assert!(headers.contains_key("retry-after"));
    s.stop();
}

#[tokio::test]
async fn the_server_runs_on_postgresql_too() {
    // CI provides a server; elsewhere this test needs WARDEN_TEST_POSTGRES_URL.
    let Ok(admin_url) = std::env::var("WARDEN_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must set WARDEN_TEST_POSTGRES_URL"
        );
        return;
    };
    let name = format!("warden_cli_{}", std::process::id());
    let pool = sqlx::PgPool::connect(&admin_url).await.unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .unwrap();
    let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["keys", "--database-url", &url, "create", "--tenant", "pg"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let data = tempfile::tempdir().unwrap();
    let mut s = Server::start_raw(&[
        "--data-dir",
        data.path().to_str().unwrap(),
        "--database-url",
        &url,
    ]);
    let (code, _, v) = call(
        &s,
        Some(&key),
        Method::POST,
        "/v1/execute",
        Some(json!({"code": "6 * 7"})),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["value"]["text/plain"], "42");
    let (_, _, list) = call(&s, Some(&key), Method::GET, "/v1/executions", None).await;
    assert_eq!(list["executions"][0]["id"], v["execution_id"]);
    assert_eq!(list["executions"][0]["tenant"], "pg");
    s.stop();
    sqlx::query(&format!("DROP DATABASE {name}"))
        .execute(&pool)
        .await
        .unwrap();
}

#[test]
fn development_mode_is_refused_off_loopback() {
    let data = tempfile::tempdir().unwrap();
    // Refused before anything is bound.
    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["serve", "--dev", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("loopback"), "{err}");
}

#[tokio::test]
async fn records_can_keep_only_the_hash_of_the_code() {
    let mut s = Server::start(&["--record-code", "hash"]);
    let (_, _, v) = call(
        &s,
        None,
        Method::POST,
        "/v1/execute",
        Some(json!({"code": "print('x')"})),
    )
    .await;
    let (_, _, e) = call(
        &s,
        None,
        Method::GET,
        &format!("/v1/executions/{}", v["execution_id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(e["code"], Value::Null);
    // SHA-256 of the code (sha256sum of the same bytes).
    assert_eq!(
        e["code_sha256"],
        "51d22c08921edc1f0205612a3a6d26adf703520a4316bd857eeabc38184ff888"
    );
    s.stop();
}

#[tokio::test]
async fn admins_see_every_tenants_records_and_filter_them_by_tenant_and_risk() {
    let data = tempfile::tempdir().unwrap();
    let a = create_key(data.path(), "alpha", None, false);
    let b = create_key(data.path(), "beta", None, false);
    let admin = create_key(data.path(), "ops", Some(r#"{"max_timeout": 7}"#), true);
    let mut s = keyed_server(data.path());
    let mut ids = Vec::new();
    for (key, code) in [(&a, "x = 1"), (&a, "import os"), (&b, "y = 2")] {
        let (status, _, v) = call(
            &s,
            Some(key),
            Method::POST,
            "/v1/execute",
            Some(json!({ "code": code })),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        ids.push(v["execution_id"].as_str().unwrap().to_string());
    }
    let listed = |key: String, query: &'static str| {
        let s = &s;
        async move {
            let (status, _, v) = call(
                s,
                Some(&key),
                Method::GET,
                &format!("/v1/executions{query}"),
                None,
            )
            .await;
            let ids: Vec<String> = v["executions"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|e| e["id"].as_str().unwrap().to_string())
                        .collect()
                })
                .unwrap_or_default();
            (status, ids, v)
        }
    };
    // A key that is not an admin key: its own tenant, and 403 for another one.
    let (status, got, _) = listed(a.clone(), "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, [ids[1].clone(), ids[0].clone()]);
    let (status, got, _) = listed(a.clone(), "?tenant=alpha").await;
    assert_eq!((status, got.len()), (StatusCode::OK, 2));
    let (status, _, v) = listed(a.clone(), "?tenant=beta").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["error"]["code"], "FORBIDDEN");
    // Risk: `import os` is low (import.system), `x = 1` none.
    let (_, got, _) = listed(a.clone(), "?min_risk=low").await;
    assert_eq!(got, [ids[1].clone()]);
    let (_, got, _) = listed(a.clone(), "?min_risk=medium").await;
    assert!(got.is_empty(), "{got:?}");
    let (_, got, _) = listed(a.clone(), "?min_risk=none").await;
    assert_eq!(got.len(), 2);
    let (status, _, v) = listed(a.clone(), "?min_risk=extreme").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    // An admin key: every tenant's, or one tenant's, and any record by id.
    let (_, got, _) = listed(admin.clone(), "").await;
    assert_eq!(got, [ids[2].clone(), ids[1].clone(), ids[0].clone()]);
    let (_, got, _) = listed(admin.clone(), "?tenant=beta").await;
    assert_eq!(got, [ids[2].clone()]);
    let (_, got, _) = listed(admin.clone(), "?tenant=alpha&min_risk=low").await;
    assert_eq!(got, [ids[1].clone()]);
    let (status, _, v) = call(
        &s,
        Some(&admin),
        Method::GET,
        &format!("/v1/executions/{}", ids[2]),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["tenant"], "beta");
    s.stop();
}

#[tokio::test]
async fn limits_and_the_isolation_report_are_served() {
    let data = tempfile::tempdir().unwrap();
    let user = create_key(
        data.path(),
        "alpha",
        Some(r#"{"max_memory_mb": 300, "risk": {"high": "deny"}}"#),
        false,
    );
    let admin = create_key(data.path(), "ops", None, true);
    let mut s = Server::start_raw(&[
        "--data-dir",
        data.path().to_str().unwrap(),
        "--max-sessions",
        "17",
        "--pool-size",
        "1",
    ]);
    let (status, _, v) = call(&s, Some(&user), Method::GET, "/v1/limits", None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["tenant"], "alpha");
    assert_eq!(v["admin"], false);
    assert_eq!(v["dev_mode"], false);
    assert_eq!(v["server"]["max_sessions"], 17);
    assert_eq!(v["server"]["pools"]["python"], 1);
    assert_eq!(
        v["policy"],
        json!({"max_memory_mb": 300, "risk": {"low": "allow", "medium": "allow", "high": "deny"}})
    );
    let (_, _, v) = call(&s, Some(&admin), Method::GET, "/v1/limits", None).await;
    assert_eq!((&v["admin"], &v["policy"]), (&json!(true), &json!({})));
    // The isolation report: admin keys only; what `warden doctor --json` says.
    let (status, _, v) = call(&s, Some(&user), Method::GET, "/v1/doctor", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    let (status, _, report) = call(&s, Some(&admin), Method::GET, "/v1/doctor", None).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["full_isolation"], true, "{report}");
    let check = |name: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name:?} check in {report}"))
    };
    assert_eq!(check("data directory")["ok"], true);
    assert_eq!(check("network egress")["ok"], true);
    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["doctor", "--json", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names = |v: &Value| -> Vec<String> {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&cli), names(&report));
    // Kept for a minute: a second request gets the same report.
    let (_, _, again) = call(&s, Some(&admin), Method::GET, "/v1/doctor", None).await;
    assert_eq!(again["checked_at"], report["checked_at"]);
    s.stop();
}
