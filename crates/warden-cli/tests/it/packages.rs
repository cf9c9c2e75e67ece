//! `packages: [...]`: allowlisted, installed once into a shared read-only cache, reused
//! without the network. Needs the package index (CI reaches PyPI).

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::serve::{client, exec, one_shot, plain, Server};

/// A counter of the server's /metrics.
async fn metric(s: &Server, name: &str) -> f64 {
    let text = client()
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} "))?.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn create_with(s: &Server, body: Value) -> (StatusCode, Value) {
    let r = client()
        .post(s.url("/v1/sessions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

#[tokio::test]
async fn package_sets_are_allowlisted_installed_once_and_cached() {
    let mut s = Server::start(&[]);
    // Concurrent requests for one new set install it once.
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let base = s.url("");
        tasks.push(tokio::spawn(async move {
            let r = client()
                .post(format!("{base}/v1/sessions"))
                .json(&json!({"packages": ["tabulate==0.9.0"]}))
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        let (code, v) = t.await.unwrap();
        assert_eq!(code, StatusCode::CREATED, "{v}");
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    assert_eq!(metric(&s, "warden_package_installs_total").await, 1.0);
    let connections = metric(&s, "warden_package_index_connections_total").await;
    assert!(connections >= 1.0);
    let (_, v) = exec(&s, &ids[0], "import tabulate\ntabulate.__version__").await;
    assert_eq!(plain(&v), "'0.9.0'", "{v}");
    // The set is read-only for every session.
    let (_, v) = exec(
        &s,
        &ids[1],
        "import tabulate\ntry:\n    open(tabulate.__file__, 'a')\n    r = 'CHANGED'\nexcept OSError as e:\n    r = e.strerror\nr",
    )
    .await;
    // Landlock (EACCES) or the read-only mount (EROFS) refuses it, whichever comes first.
    let refused = plain(&v);
    assert!(
        refused.contains("Read-only") || refused.contains("Permission denied"),
        "{v}"
    );

    // A cache hit: no install, no connection to the index; one-shot runs too.
    let (code, v) = one_shot(
        &s,
        json!({"packages": ["Tabulate == 0.9.0"], "code": "import tabulate\nprint(tabulate.__version__)"}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["stdout"], "0.9.0\n");
    assert_eq!(metric(&s, "warden_package_installs_total").await, 1.0);
    assert_eq!(
        metric(&s, "warden_package_index_connections_total").await,
        connections
    );
    assert!(metric(&s, "warden_package_cache_hits_total").await >= 1.0);

    // Off the allowlist, or a pin outside it: 403 before anything is installed.
    let (code, v) = create_with(&s, json!({"packages": ["definitely-not-allowed"]})).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["error"]["code"], "PACKAGE_NOT_ALLOWED");
    // Not a requirement (a URL, an option): 400.
    for bad in [
        "tabulate @ https://example.com/t.whl",
        "--index-url=https://x",
    ] {
        let (code, v) = create_with(&s, json!({"packages": [bad]})).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
    // A version that does not exist: the installer's own words come back.
    let (code, v) = create_with(&s, json!({"packages": ["tabulate==0.0.999"]})).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["code"], "PACKAGE_INSTALL_FAILED");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("0.0.999"),
        "{v}"
    );
    // A cell may ask for more packages: the set is installed, then importable in the
    // same session, which keeps its state.
    let (_, v) = exec(&s, &ids[0], "kept = 41").await;
    assert_eq!(v["status"], "ok", "{v}");
    let r = client()
        .post(s.url(&format!("/v1/sessions/{}/execute", ids[0])))
        .json(&json!({"code": "import six\n(six.__name__, kept + 1)", "packages": ["six"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(plain(&v), "('six', 42)", "{v}");
    assert_eq!(metric(&s, "warden_package_installs_total").await, 2.0);
    // Sandboxes can enter a set by its key but cannot list the cache.
    let (_, v) = exec(
        &s,
        &ids[1],
        "import os
try:
    os.listdir('/opt/warden/cache')
    r = 'LISTED'
except OSError as e:
    r = e.strerror
r",
    )
    .await;
    assert_eq!(plain(&v), "'Permission denied'", "{v}");
    s.stop();
}

#[tokio::test]
async fn a_policy_allowlist_with_version_constraints_is_enforced() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let policy = data.path().join("policy.json");
    std::fs::write(&policy, r#"{"packages": ["tabulate>=0.9"]}"#).unwrap();
    let mut s = Server::start_raw(&[
        "--dev",
        "--data-dir",
        dir,
        "--default-policy",
        policy.to_str().unwrap(),
    ]);
    let (code, v) = create_with(&s, json!({"packages": ["tabulate==0.8.10"]})).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["error"]["code"], "PACKAGE_NOT_ALLOWED");
    assert!(
        v["error"]["message"].as_str().unwrap().contains(">=0.9"),
        "{v}"
    );
    // six is on the built-in list but not on this policy's.
    let (code, v) = create_with(&s, json!({"packages": ["six"]})).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(metric(&s, "warden_package_installs_total").await, 0.0);
    s.stop();
}

#[tokio::test]
async fn pip_inside_a_sandbox_says_how_to_ask_for_packages() {
    let mut s = Server::start(&[]);
    let id = crate::serve::create(&s, json!({})).await;
    // subprocess pip, python -m pip, and a notebook-style !pip: each fails at once with
    // the message, instead of retrying a network that is not there.
    let code = r#"
import subprocess, time
t = time.monotonic()
a = subprocess.run(['pip', 'install', 'tabulate'], capture_output=True, text=True)
b = subprocess.run(['python3', '-m', 'pip', 'install', 'tabulate'], capture_output=True, text=True)
(a.returncode, b.returncode, '"packages"' in a.stderr, '"packages"' in b.stderr, time.monotonic() - t < 5)
"#;
    let (_, v) = exec(&s, &id, code).await;
    assert_eq!(plain(&v), "(1, 1, True, True, True)", "{v}");
    let (_, v) = exec(&s, &id, "!pip install tabulate").await;
    assert_eq!(v["error"]["name"], "NoPackageInstall", "{v}");
    assert!(
        v["error"]["value"]
            .as_str()
            .unwrap()
            .contains("\"packages\""),
        "{v}"
    );
    // bash sessions get the same stand-in.
    let bash = crate::serve::create(&s, json!({"language": "bash"})).await;
    let (_, v) = exec(&s, &bash, "pip3 install x 2>&1; echo \"status $?\"").await;
    let out = v["stdout"].as_str().unwrap();
    assert!(
        out.contains("no network") && out.contains("status 1"),
        "{v}"
    );
    s.stop();
}

#[tokio::test]
async fn an_install_that_takes_too_long_fails_with_its_reason() {
    // pip alone takes longer than 0.3 s to start in its sandbox.
    let mut s = Server::start(&["--package-install-timeout", "0.3"]);
    let started = std::time::Instant::now();
    let (code, v) = create_with(&s, json!({"packages": ["humanize"]})).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["code"], "PACKAGE_INSTALL_FAILED");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("longer than 0.3 s"),
        "{v}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // Nothing was cached: the failed set is not there for the next request.
    assert_eq!(metric(&s, "warden_package_installs_total").await, 0.0);
    s.stop();
}
