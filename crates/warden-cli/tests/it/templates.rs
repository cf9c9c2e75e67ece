//! Templates: built from PyPI in a sandbox, published, used by sessions and one-shot runs,
//! read-only for all of them. Needs the package index (CI reaches PyPI).

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::serve::{client, create, exec, one_shot, plain, Server};
use crate::warden;

/// Builds template `tiny` (tabulate 0.9.0, preloaded) in `data`.
pub(crate) fn build_tiny(data: &str) {
    let out = warden(&[
        "template",
        "build",
        "tiny",
        "--pip",
        "tabulate==0.9.0",
        "--preload",
        "tabulate",
        "--data-dir",
        data,
    ]);
    assert!(
        out.status.success(),
        "build failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    // pip's progress is shown as it runs.
    assert!(stderr.contains("Successfully installed"), "{stderr}");
}

#[tokio::test]
async fn a_template_built_from_pypi_is_used_read_only_by_sessions_and_one_shots() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    build_tiny(dir);
    let list = warden(&["template", "list", "--json", "--data-dir", dir]);
    let list: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list[0]["name"], "tiny");
    assert_eq!(list[0]["distributions"], json!([["tabulate", "0.9.0"]]));
    assert_eq!(list[0]["python"], "3.11");
    // Bad names and options smuggled in as requirements are refused before anything runs.
    for bad in [
        vec!["template", "build", "Bad/Name", "--pip", "six"],
        vec![
            "template",
            "build",
            "ok",
            "--pip",
            "--index-url=https://evil.example six",
        ],
        vec!["template", "build", "ok"],
    ] {
        let mut args = bad.clone();
        args.extend(["--data-dir", dir]);
        assert!(!warden(&args).status.success(), "{bad:?}");
    }

    let mut s = Server::start_raw(&[
        "--dev",
        "--data-dir",
        dir,
        "--template-pool",
        "tiny=1",
        "--template-pool",
        "tiny2=1",
    ]);
    let r = client().get(s.url("/v1/templates")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["templates"][0]["preload"], json!(["tabulate"]));

    let id = create(&s, json!({"template": "tiny"})).await;
    // The session says which template it carries and how much memory it uses.
    let info: Value = client()
        .get(s.url(&format!("/v1/sessions/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["template"], "tiny", "{info}");
    let memory = info["memory_bytes"].as_u64().expect("memory_bytes");
    assert!((1 << 20..512 << 20).contains(&memory), "{info}");
    // Preloaded before the session was handed out, importable, and the right version.
    let (_, v) = exec(&s, &id, "import sys\n'tabulate' in sys.modules").await;
    assert_eq!(plain(&v), "True", "{v}");
    let (_, v) = exec(
        &s,
        &id,
        "import tabulate\ntabulate.tabulate([[1, 2]], headers=['a', 'b'], tablefmt='plain')",
    )
    .await;
    assert_eq!(plain(&v), "'  a    b\\n  1    2'", "{v}");
    // Read-only: no file of the template can be changed, added or removed.
    let attack = r#"
import errno, os, tabulate
site = os.path.dirname(os.path.dirname(tabulate.__file__))
results = []
for attempt in (
    lambda: open(tabulate.__file__, 'a').write('x = 1'),
    lambda: open(os.path.join(site, 'evil.py'), 'w'),
    lambda: os.remove(tabulate.__file__),
    lambda: os.rename(tabulate.__file__, tabulate.__file__ + '.bak'),
    lambda: os.chmod(tabulate.__file__, 0o777),
):
    try:
        attempt()
        results.append('CHANGED')
    except OSError as e:
        results.append(errno.errorcode[e.errno])
results
"#;
    let (_, v) = exec(&s, &id, attack).await;
    let text = plain(&v);
    assert!(!text.contains("CHANGED") && text.contains("EROFS"), "{v}");
    // Another session of the template sees it unchanged; a session without a template
    // does not have it at all.
    let other = create(&s, json!({"template": "tiny"})).await;
    let (_, v) = exec(
        &s,
        &other,
        "import tabulate, os\nos.path.exists(os.path.join(os.path.dirname(os.path.dirname(tabulate.__file__)), 'evil.py'))",
    )
    .await;
    assert_eq!(plain(&v), "False", "{v}");
    let bare = create(&s, json!({})).await;
    let (_, v) = exec(
        &s,
        &bare,
        "import os\nos.path.exists('/opt/warden/template')",
    )
    .await;
    assert_eq!(plain(&v), "False", "{v}");

    // One-shot runs take a template too.
    let (code, v) = one_shot(
        &s,
        json!({"template": "tiny", "code": "import tabulate\nprint(tabulate.__version__)"}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["stdout"], "0.9.0\n", "{v}");

    // Errors: unknown template, a template on a non-Python session, on a cell.
    let r = client()
        .post(s.url("/v1/sessions"))
        .json(&json!({"template": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "TEMPLATE_NOT_FOUND");
    let r = client()
        .post(s.url("/v1/sessions"))
        .json(&json!({"template": "tiny", "language": "javascript"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = client()
        .post(s.url(&format!("/v1/sessions/{id}/execute")))
        .json(&json!({"code": "1", "template": "tiny"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = client()
        .get(s.url("/v1/templates/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // An admin builds a template through the API: 202, then its build's state; a second
    // build of the same name while the first runs is a conflict. tiny2 already has a
    // configured pool, which fills once the build is published.
    let build = json!({"name": "tiny2", "pip": ["six==1.16.0"], "preload": ["six"]});
    let r = client()
        .post(s.url("/v1/templates"))
        .json(&build)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = client()
        .post(s.url("/v1/templates"))
        .json(&build)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let state = loop {
        let v: Value = client()
            .get(s.url("/v1/templates/tiny2/build"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["state"] != "building" || std::time::Instant::now() > deadline {
            break v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(state["state"], "ready", "{state}");
    assert_eq!(
        state["template"]["distributions"],
        json!([["six", "1.16.0"]])
    );
    // The pools: python 2 (the default), tiny 1, and now tiny2 1.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let h = crate::serve::healthz(&s).await;
        if h["pools"]["python"] == 4 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{h}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let id = create(&s, json!({"template": "tiny2"})).await;
    let (_, v) = exec(
        &s,
        &id,
        "import sys\n('six' in sys.modules, __import__('six').__version__)",
    )
    .await;
    assert_eq!(plain(&v), "(True, '1.16.0')", "{v}");
    // Bad builds are refused up front.
    for bad in [
        json!({"name": "Bad Name", "pip": ["six"]}),
        json!({"name": "x", "pip": []}),
        json!({"name": "x", "pip": ["--index-url=https://evil.example"]}),
        json!({"name": "x", "recipe": "nope"}),
        json!({"name": "x", "npm": ["git+https://github.com/x/y"]}),
    ] {
        let r = client()
            .post(s.url("/v1/templates"))
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    s.stop();
}

#[tokio::test]
async fn with_the_data_template_a_dataframe_and_a_plot_round_trip() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let out = warden(&[
        "template",
        "build",
        "python-data",
        "--recipe",
        "python-data",
        "--data-dir",
        dir,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut s = Server::start_raw(&[
        "--dev",
        "--data-dir",
        dir,
        "--template-pool",
        "python-data=1",
    ]);
    let id = create(&s, json!({"template": "python-data"})).await;
    // The packages come from the template (not from the host's), already imported.
    let (_, v) = exec(
        &s,
        &id,
        "import sys\nimport pandas as pd\n(pd.__file__.startswith('/opt/warden/template/'), 'matplotlib.pyplot' in sys.modules)",
    )
    .await;
    assert_eq!(plain(&v), "(True, True)", "{v}");
    let (_, v) = exec(
        &s,
        &id,
        "df = pd.DataFrame({'city': ['Oslo', 'Lima'], 'temp': [3.5, 19.0]})\ndf",
    )
    .await;
    let html = v["value"]["text/html"].as_str().unwrap_or_default();
    assert!(html.contains("<table") && html.contains("Lima"), "{v}");
    assert!(plain(&v).contains("Oslo"), "{v}");
    let (_, v) = exec(
        &s,
        &id,
        "import matplotlib.pyplot as plt\nplt.plot(df['temp'])\nplt.title('t')\nNone",
    )
    .await;
    let png = v["outputs"][0]["image/png"].as_str().unwrap_or_default();
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{v}");
    assert!(bytes.len() > 1000);
    s.stop();
}

#[tokio::test]
async fn an_npm_template_serves_javascript_sessions() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let out = warden(&[
        "template",
        "build",
        "jsutil",
        "--npm",
        "lodash@4.17.21",
        "--data-dir",
        dir,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for bad in [
        "git+https://github.com/lodash/lodash",
        "--registry=https://x",
    ] {
        let out = warden(&["template", "build", "bad", "--npm", bad, "--data-dir", dir]);
        assert!(!out.status.success(), "{bad}");
    }
    let mut s = Server::start_raw(&["--dev", "--data-dir", dir]);
    let id = create(&s, json!({"language": "javascript", "template": "jsutil"})).await;
    let (_, v) = exec(&s, &id, "require('lodash').VERSION").await;
    assert_eq!(plain(&v), "'4.17.21'", "{v}");
    // A template without Python packages is no use to a Python session.
    let r = client()
        .post(s.url("/v1/sessions"))
        .json(&json!({"template": "jsutil"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    s.stop();
}
