//! Isolation tiers through the API: sessions and one-shot runs on gVisor, the policy's
//! `isolation` (one tier, or one per risk level), requests that ask for a stronger or a
//! weaker tier, and a policy naming a tier the host lacks. CI installs runsc.

use std::process::Command;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::tenancy::{call, create_key, keyed_server};

pub(crate) fn need_runsc() {
    let present = ["/usr/bin/runsc", "/usr/local/bin/runsc", "/usr/sbin/runsc"]
        .iter()
        .any(|p| std::path::Path::new(p).exists());
    assert!(
        present,
        "these tests need runsc (apt-get install runsc; CI installs it)"
    );
}

#[tokio::test]
async fn a_gvisor_session_keeps_state_and_says_its_tier_everywhere() {
    need_runsc();
    let data = tempfile::tempdir().unwrap();
    let key = create_key(data.path(), "acme", None, false);
    let mut s = keyed_server(data.path());
    let (code, _, info) = call(
        &s,
        Some(&key),
        Method::POST,
        "/v1/sessions",
        Some(json!({"isolation": "gvisor"})),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{info}");
    assert_eq!(info["tier"], "gvisor");
    let id = info["id"].as_str().unwrap().to_string();
    let exec = |code: &'static str| {
        let (s, key, id) = (&s, &key, &id);
        async move {
            call(
                s,
                Some(key),
                Method::POST,
                &format!("/v1/sessions/{id}/execute"),
                Some(json!({ "code": code })),
            )
            .await
        }
    };
    let (code, _, r) = exec("import platform\nx = 41\nplatform.release()").await;
    assert_eq!(code, StatusCode::OK, "{r}");
    assert_eq!(r["tier"], "gvisor");
    let host = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_ne!(
        r["value"]["text/plain"]
            .as_str()
            .unwrap()
            .trim_matches('\''),
        host.trim(),
        "gVisor's kernel answers, not the host's"
    );
    let (_, _, r) = exec("x + 1").await;
    assert_eq!(r["value"]["text/plain"], "42", "{r}");
    // A figure, as in the namespace tier.
    let (_, _, r) = exec(
        "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()",
    )
    .await;
    assert!(
        r["outputs"][0]["image/png"]
            .as_str()
            .is_some_and(|p| p.len() > 100),
        "{r}"
    );
    // Files through the API reach the sandbox and back.
    let put = crate::serve::client()
        .put(s.url(&format!("/v1/sessions/{id}/files/in.txt")))
        .bearer_auth(&key)
        .body("from the host")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);
    let (_, _, r) = exec("open('in.txt').read().upper()").await;
    assert_eq!(r["value"]["text/plain"], "'FROM THE HOST'", "{r}");
    // A cell's timeout interrupts it (through runsc), and the session goes on.
    let (code, _, r) = call(
        &s,
        Some(&key),
        Method::POST,
        &format!("/v1/sessions/{id}/execute"),
        Some(json!({"code": "import time\nwhile True: time.sleep(0.01)", "timeout": 1})),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{r}");
    assert_eq!(r["timed_out"], true, "{r}");
    assert_eq!(r["error"]["name"], "KeyboardInterrupt", "{r}");
    let exe = {
        let (_, _, r) = exec("x").await;
        r["execution_id"].as_str().unwrap().to_string()
    };
    let (_, _, rec) = call(
        &s,
        Some(&key),
        Method::GET,
        &format!("/v1/executions/{exe}"),
        None,
    )
    .await;
    assert_eq!(rec["tier"], "gvisor", "{rec}");
    let (_, _, listed) = call(
        &s,
        Some(&key),
        Method::GET,
        &format!("/v1/sessions/{id}"),
        None,
    )
    .await;
    assert_eq!(listed["tier"], "gvisor");
    s.stop();
}

#[tokio::test]
async fn the_policy_maps_risk_levels_to_tiers_and_a_weaker_tier_is_refused() {
    need_runsc();
    let data = tempfile::tempdir().unwrap();
    let by_risk = create_key(
        data.path(),
        "careful",
        Some(
            r#"{"isolation": {"none": "namespaces", "low": "namespaces", "medium": "gvisor", "high": "gvisor"}}"#,
        ),
        false,
    );
    let strict = create_key(
        data.path(),
        "strict",
        Some(r#"{"isolation": "gvisor"}"#),
        false,
    );
    let mut s = keyed_server(data.path());
    let once = |key: &str, body: Value| {
        let (s, key) = (&s, key.to_string());
        async move { call(s, Some(&key), Method::POST, "/v1/execute", Some(body)).await }
    };
    // No risk: the namespace tier; medium risk: gVisor.
    let (code, _, r) = once(&by_risk, json!({"code": "print(6 * 7)"})).await;
    assert_eq!(
        (code, r["tier"].as_str()),
        (StatusCode::OK, Some("namespaces")),
        "{r}"
    );
    let (code, _, r) = once(
        &by_risk,
        json!({"code": "import subprocess\nprint(subprocess.run(['echo', 'hi'], capture_output=True).stdout.decode())"}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{r}");
    assert_eq!(r["risk"], "medium");
    assert_eq!(r["tier"], "gvisor");
    assert_eq!(r["stdout"], "hi\n\n");
    // A stronger tier may be asked for.
    let (_, _, r) = once(&by_risk, json!({"code": "1", "isolation": "gvisor"})).await;
    assert_eq!(r["tier"], "gvisor", "{r}");
    // A session made on the namespace tier refuses a cell that needs gVisor.
    let (_, _, info) = call(
        &s,
        Some(&by_risk),
        Method::POST,
        "/v1/sessions",
        Some(json!({})),
    )
    .await;
    assert_eq!(info["tier"], "namespaces");
    let id = info["id"].as_str().unwrap();
    let (code, _, r) = call(
        &s,
        Some(&by_risk),
        Method::POST,
        &format!("/v1/sessions/{id}/execute"),
        Some(json!({"code": "import subprocess"})),
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{r}");
    assert_eq!(r["error"]["code"], "POLICY_DENIED");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("gvisor"),
        "{r}"
    );
    // A policy of gVisor for everything: a request for the weaker tier is refused.
    let (code, _, r) = once(&strict, json!({"code": "1", "isolation": "namespaces"})).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{r}");
    assert_eq!(r["error"]["code"], "POLICY_DENIED");
    let (code, _, r) = call(
        &s,
        Some(&strict),
        Method::POST,
        "/v1/sessions",
        Some(json!({"isolation": "namespaces"})),
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{r}");
    let (_, _, r) = once(
        &strict,
        json!({"code": "echo $((1 + 1))", "language": "bash"}),
    )
    .await;
    assert_eq!(
        (r["tier"].as_str(), r["stdout"].as_str()),
        (Some("gvisor"), Some("2\n")),
        "{r}"
    );
    s.stop();
}

#[test]
fn a_policy_naming_a_missing_tier_is_refused_at_start_and_upload() {
    let data = tempfile::tempdir().unwrap();
    let policy = data.path().join("policy.json");
    std::fs::write(&policy, r#"{"isolation": {"high": "gvisor"}}"#).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .env("WARDEN_RUNSC", "/nonexistent/runsc")
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .arg("--default-policy")
        .arg(&policy)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("gvisor") && err.contains("runsc"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .env("WARDEN_RUNSC", "/nonexistent/runsc")
        .args(["keys", "--data-dir"])
        .arg(data.path())
        .args(["create", "--tenant", "t", "--policy"])
        .arg(&policy)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("gvisor") && err.contains("runsc"), "{err}");
    // An invalid tier name is a policy error.
    std::fs::write(&policy, r#"{"isolation": "firecracker"}"#).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["keys", "--data-dir"])
        .arg(data.path())
        .args(["create", "--tenant", "t", "--policy"])
        .arg(&policy)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid policy"));
}

#[tokio::test]
async fn a_gvisor_session_comes_from_its_pool() {
    need_runsc();
    let mut s = crate::serve::Server::start(&[
        "--pool-size",
        "0",
        "--js-pool-size",
        "0",
        "--bash-pool-size",
        "0",
        "--gvisor-pool-size",
        "1",
    ]);
    let pooled = || {
        let s = &s;
        async move {
            let v = crate::serve::healthz(s).await;
            v["pool"].as_u64().unwrap()
        }
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while pooled().await < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the gVisor pool did not fill"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (code, _, info) = call(
        &s,
        None,
        Method::POST,
        "/v1/sessions",
        Some(json!({"isolation": "gvisor"})),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{info}");
    assert_eq!(info["tier"], "gvisor");
    // Taken from the pool: it is empty until the refill (half a second or more) is done.
    assert_eq!(pooled().await, 0);
    let id = info["id"].as_str().unwrap();
    let (_, _, r) = call(
        &s,
        None,
        Method::POST,
        &format!("/v1/sessions/{id}/execute"),
        Some(json!({"code": "6 * 7"})),
    )
    .await;
    assert_eq!(
        (r["value"]["text/plain"].as_str(), r["tier"].as_str()),
        (Some("42"), Some("gvisor")),
        "{r}"
    );
    // A namespace-tier session does not take it.
    let (_, _, info) = call(&s, None, Method::POST, "/v1/sessions", Some(json!({}))).await;
    assert_eq!(info["tier"], "namespaces");
    s.stop();
}

/// A template session and a workflow's code node, on a server whose policy puts all code
/// on gVisor: the template's packages are there and preloaded, the code node's output
/// comes back through the mapping, and both ran under gVisor's kernel.
#[tokio::test]
async fn a_template_session_and_a_code_node_run_on_gvisor() {
    need_runsc();
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap().to_string();
    crate::templates::build_tiny(&dir);
    let policy = data.path().join("gvisor.json");
    std::fs::write(&policy, r#"{"isolation": "gvisor"}"#).unwrap();
    let mut s = crate::serve::Server::start_raw(&[
        "--dev",
        "--data-dir",
        &dir,
        "--default-policy",
        policy.to_str().unwrap(),
        "--pool-size",
        "0",
    ]);
    let host = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let host = host.trim();

    let id = crate::serve::create(&s, json!({"template": "tiny"})).await;
    let (_, _, info) = call(&s, None, Method::GET, &format!("/v1/sessions/{id}"), None).await;
    assert_eq!(
        (info["tier"].as_str(), info["template"].as_str()),
        (Some("gvisor"), Some("tiny")),
        "{info}"
    );
    let (code, r) = crate::serve::exec(
        &s,
        &id,
        "import sys, platform\n('tabulate' in sys.modules, platform.release())",
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{r}");
    let text = r["value"]["text/plain"].as_str().unwrap_or_default();
    assert!(text.starts_with("(True, '"), "preloaded: {r}");
    assert!(!text.contains(host), "gVisor's kernel answers: {r}");
    let (_, r) = crate::serve::exec(&s, &id, "import tabulate\ntabulate.__version__").await;
    assert_eq!(r["value"]["text/plain"], "'0.9.0'", "{r}");
    assert_eq!(r["tier"], "gvisor", "{r}");

    // A workflow whose code node reports the kernel it ran on.
    let flow = crate::workflows::DOUBLE_V1.replace(
        "result = input_data['x'] * 2",
        "import platform\\nresult = {'y': input_data['x'] * 2, 'kernel': platform.release()}",
    );
    let flow = flow
        .replace(
            "output_mapping: {y: result}",
            "output_mapping: {out: result}",
        )
        .replace("output: {y: y}", "output: {out: out}");
    let (code, _, stored) = call(
        &s,
        None,
        Method::POST,
        "/v1/workflows",
        Some(json!({ "definition": flow })),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{stored}");
    let (code, _, run) = call(
        &s,
        None,
        Method::POST,
        "/v1/workflows/double/runs",
        Some(json!({"input": {"x": 21}})),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{run}");
    assert_eq!(run["status"], "ok", "{run}");
    assert_eq!(run["output"]["out"]["y"], 42, "{run}");
    let kernel = run["output"]["out"]["kernel"].as_str().unwrap_or_default();
    assert!(!kernel.is_empty() && kernel != host, "{run}");
    s.stop();
}

/// gVisor pools for JavaScript, bash and a template: each session of those comes from
/// its pool (the pool's count drops at once; a refill takes half a second or more),
/// runs on gVisor and keeps its state; the template's package is preloaded.
#[tokio::test]
async fn gvisor_pools_hand_out_javascript_bash_and_template_sessions() {
    need_runsc();
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap().to_string();
    crate::templates::build_tiny(&dir);
    let mut s = crate::serve::Server::start_raw(&[
        "--dev",
        "--data-dir",
        &dir,
        "--pool-size",
        "0",
        "--js-pool-size",
        "0",
        "--bash-pool-size",
        "0",
        "--gvisor-js-pool-size",
        "1",
        "--gvisor-bash-pool-size",
        "1",
        "--gvisor-template-pool",
        "tiny=1",
    ]);
    let pooled = |language: &'static str| {
        let s = &s;
        async move {
            let v = crate::serve::healthz(s).await;
            v["pools"][language].as_u64().unwrap()
        }
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    for language in ["javascript", "bash", "python"] {
        while pooled(language).await < 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "the gVisor {language} pool did not fill"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    for (language, body, first, second, want) in [
        (
            "javascript",
            json!({"language": "javascript", "isolation": "gvisor"}),
            "let x = 20",
            "x + 22",
            "42",
        ),
        (
            "bash",
            json!({"language": "bash", "isolation": "gvisor"}),
            "X=41",
            "echo $((X + 1))",
            "42",
        ),
        (
            "python",
            json!({"template": "tiny", "isolation": "gvisor"}),
            "import sys\nx = 'tabulate' in sys.modules",
            "print(x)",
            "True",
        ),
    ] {
        let (code, _, info) = call(&s, None, Method::POST, "/v1/sessions", Some(body)).await;
        assert_eq!(code, StatusCode::CREATED, "{info}");
        assert_eq!(info["tier"], "gvisor", "{info}");
        assert_eq!(pooled(language).await, 0, "{language}: not from the pool");
        let id = info["id"].as_str().unwrap();
        let (_, r) = crate::serve::exec(&s, id, first).await;
        assert_eq!(r["status"], "ok", "{r}");
        let (_, r) = crate::serve::exec(&s, id, second).await;
        let got = r["value"]["text/plain"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| r["stdout"].as_str().unwrap_or("").trim().to_string());
        assert_eq!(got, want, "{language}: {r}");
        assert_eq!(r["tier"], "gvisor", "{r}");
    }
    s.stop();
}
