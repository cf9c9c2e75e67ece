//! `warden serve` as a client sees it: a real server on a free loopback port, stopped by
//! pid at the end of each test.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) base: String,
    /// The server's own data directory (its database), removed after the test.
    _data: Option<tempfile::TempDir>,
}

impl Server {
    /// A server in development mode (no keys) with a data directory of its own.
    pub(crate) fn start(extra: &[&str]) -> Server {
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().to_str().unwrap().to_string();
        let mut args = vec!["--dev", "--data-dir", dir.as_str()];
        args.extend_from_slice(extra);
        let mut s = Server::start_raw(&args);
        s._data = Some(data);
        s
    }

    /// A server with exactly these extra arguments.
    pub(crate) fn start_raw(extra: &[&str]) -> Server {
        Server::start_env(extra, &[])
    }

    /// A server with exactly these extra arguments and environment variables.
    pub(crate) fn start_env(extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_warden"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Server {
            child,
            base: format!("http://{addr}"),
            _data: None,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM by pid, then a bounded wait; SIGKILL if it does not stop.
    pub(crate) fn stop(&mut self) -> Duration {
        let start = Instant::now();
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        while start.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return start.elapsed();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        panic!("the server did not stop within 15 s of SIGTERM");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// `GET /healthz`, the JSON body.
pub(crate) async fn healthz(s: &Server) -> Value {
    client()
        .get(s.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub(crate) async fn create(s: &Server, body: Value) -> String {
    let r = client()
        .post(s.url("/v1/sessions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

pub(crate) async fn exec(s: &Server, id: &str, code: &str) -> (StatusCode, Value) {
    let r = client()
        .post(s.url(&format!("/v1/sessions/{id}/execute")))
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

/// `POST /v1/execute`: the status and the JSON body.
pub(crate) async fn one_shot(s: &Server, body: Value) -> (StatusCode, Value) {
    let r = client()
        .post(s.url("/v1/execute"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status(), r.json::<Value>().await.unwrap())
}

pub(crate) fn plain(v: &Value) -> &str {
    v["value"]["text/plain"].as_str().unwrap_or("<none>")
}

#[tokio::test]
async fn state_imports_and_errors_in_a_session() {
    let mut s = Server::start(&[]);
    let id = create(&s, json!({"language": "python"})).await;
    assert_eq!(exec(&s, &id, "x = 1").await.0, StatusCode::OK);
    assert_eq!(plain(&exec(&s, &id, "x + 1").await.1), "2");
    exec(&s, &id, "import json").await;
    assert_eq!(plain(&exec(&s, &id, "json.dumps([1])").await.1), "'[1]'");
    let (code, v) = exec(&s, &id, "1 / 0").await;
    assert_eq!(
        code,
        StatusCode::OK,
        "a cell's exception is a result, not an HTTP error"
    );
    assert_eq!(v["status"], "error");
    assert_eq!(v["error"]["name"], "ZeroDivisionError");
    assert_eq!(plain(&exec(&s, &id, "x").await.1), "1");
    let info: Value = client()
        .get(s.url(&format!("/v1/sessions/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["state"], "idle");
    assert_eq!(info["execution_count"], 6);
    let list: Value = client()
        .get(s.url("/v1/sessions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["sessions"].as_array().unwrap().len(), 1);
    let r = client()
        .delete(s.url(&format!("/v1/sessions/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(exec(&s, &id, "x").await.0, StatusCode::NOT_FOUND);
    s.stop();
}

#[tokio::test]
async fn a_plot_comes_back_as_png_over_http() {
    let mut s = Server::start(&[]);
    let id = create(&s, json!({})).await;
    let (_, v) = exec(
        &s,
        &id,
        "import matplotlib.pyplot as plt\nplt.bar(['a', 'b'], [3, 5])\nplt.show()",
    )
    .await;
    let png = base64::engine::general_purpose::STANDARD
        .decode(
            v["outputs"][0]["image/png"]
                .as_str()
                .unwrap_or_else(|| panic!("a PNG output: {v}")),
        )
        .unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    s.stop();
}

#[tokio::test]
async fn interrupt_busy_and_state_survival() {
    let mut s = Server::start(&[]);
    let id = create(&s, json!({})).await;
    exec(&s, &id, "x = 7").await;
    let url = s.url(&format!("/v1/sessions/{id}/execute"));
    let running = tokio::spawn(async move {
        let r = client()
            .post(url)
            .json(&json!({"code": "while True: pass"}))
            .send()
            .await
            .unwrap();
        (r.status(), r.json::<Value>().await.unwrap())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (code, v) = exec(&s, &id, "x").await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(v["error"]["code"], "SESSION_BUSY");
    let r = client()
        .post(s.url(&format!("/v1/sessions/{id}/interrupt")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let (code, v) = tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(code, StatusCode::OK);
    assert_eq!(v["error"]["name"], "KeyboardInterrupt");
    assert_eq!(plain(&exec(&s, &id, "x").await.1), "7");
    s.stop();
}

#[tokio::test]
async fn javascript_and_bash_sessions_over_http() {
    let mut s = Server::start(&[]);
    let js = create(&s, json!({"language": "javascript"})).await;
    exec(&s, &js, "let x = 41").await;
    let (code, v) = exec(&s, &js, "await Promise.resolve(x + 1)").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(plain(&v), "42", "{v}");
    let (_, v) = exec(&s, &js, "null.f()").await;
    assert_eq!(v["error"]["name"], "TypeError", "{v}");

    let sh = create(&s, json!({"language": "bash"})).await;
    exec(&s, &sh, "n=6; cd /tmp").await;
    // Interrupting a bash cell reaches its child process too.
    let url = s.url(&format!("/v1/sessions/{sh}/execute"));
    let running = tokio::spawn(async move {
        let r = client()
            .post(url)
            .json(&json!({"code": "sleep 100"}))
            .send()
            .await
            .unwrap();
        r.json::<Value>().await.unwrap()
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = client()
        .post(s.url(&format!("/v1/sessions/{sh}/interrupt")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let v = tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v["error"]["name"], "KeyboardInterrupt", "{v}");
    let (_, v) = exec(&s, &sh, "echo $((n * 7)) $PWD").await;
    assert_eq!(v["stdout"], "42 /tmp\n", "{v}");
    let info: Value = client()
        .get(s.url(&format!("/v1/sessions/{sh}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["language"], "bash");
    assert_eq!(info["execution_count"], 3);
    s.stop();
}

#[tokio::test]
async fn sse_events_arrive_before_the_cell_ends() {
    let mut s = Server::start(&[]);
    let id = create(&s, json!({})).await;
    let start = Instant::now();
    let r = client()
        .post(s.url(&format!("/v1/sessions/{id}/execute")))
        .header("accept", "text/event-stream")
        .json(&json!({"code": "import time\nprint('first', flush=True)\ntime.sleep(1)\nprint('second')"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut stream = r.bytes_stream();
    let mut text = String::new();
    let mut first_stdout = None;
    let mut result_at = None;
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .unwrap()
    {
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        if first_stdout.is_none() && text.contains("event: stdout") {
            first_stdout = Some(start.elapsed());
        }
        if text.contains("event: result") && text.ends_with("\n\n") {
            result_at = Some(start.elapsed());
            break;
        }
    }
    let (first, last) = (first_stdout.unwrap(), result_at.unwrap());
    assert!(
        last - first >= Duration::from_millis(800),
        "first {first:?}, result {last:?}"
    );
    let result_line = text
        .lines()
        .skip_while(|l| *l != "event: result")
        .nth(1)
        .unwrap();
    let v: Value = serde_json::from_str(result_line.strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(v["stdout"], "first\nsecond\n");
    s.stop();
}

#[tokio::test]
async fn idle_sessions_expire() {
    let mut s = Server::start(&[]);
    let id = create(&s, json!({"idle_ttl": 1})).await;
    let keep = create(&s, json!({})).await;
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let r = client()
        .get(s.url(&format!("/v1/sessions/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        client()
            .get(s.url(&format!("/v1/sessions/{keep}")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    s.stop();
}

#[tokio::test]
async fn a_dead_interpreter_answers_410() {
    let mut s = Server::start(&[]);
    let id = create(&s, json!({})).await;
    let (code, v) = exec(
        &s,
        &id,
        "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
    )
    .await;
    assert_eq!(code, StatusCode::GONE, "{v}");
    assert_eq!(v["error"]["code"], "SESSION_DEAD");
    let start = Instant::now();
    assert_eq!(exec(&s, &id, "1").await.0, StatusCode::GONE);
    assert!(start.elapsed() < Duration::from_secs(2));
    // A restart brings it back with a fresh interpreter.
    let r = client()
        .post(s.url(&format!("/v1/sessions/{id}/restart")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(plain(&exec(&s, &id, "1 + 1").await.1), "2");
    s.stop();
}

#[tokio::test]
async fn fifty_concurrent_sessions_keep_their_variables_apart() {
    let mut s = Server::start(&[]);
    let base = s.base.clone();
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let base = base.clone();
            tokio::spawn(async move {
                let c = client();
                let r = c
                    .post(format!("{base}/v1/sessions"))
                    .json(&json!({}))
                    .send()
                    .await
                    .unwrap();
                let id = r.json::<Value>().await.unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_string();
                let url = format!("{base}/v1/sessions/{id}/execute");
                c.post(&url)
                    .json(&json!({"code": format!("v = {i}")}))
                    .send()
                    .await
                    .unwrap();
                let v: Value = c
                    .post(&url)
                    .json(&json!({"code": "v * 3"}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                v["value"]["text/plain"].as_str().unwrap().to_string()
            })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(t.await.unwrap(), (i * 3).to_string());
    }
    s.stop();
}

#[tokio::test]
async fn one_shot_execute_runs_each_language() {
    let mut s = Server::start(&[]);
    let run = |body: Value| one_shot(&s, body);
    let (code, v) = run(json!({"code": "print(1)\n2 + 2"})).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(v["stdout"], "1\n");
    assert_eq!(plain(&v), "4");
    let (_, v) = run(json!({"language": "javascript", "code": "console.log([1,2].length)"})).await;
    assert_eq!(v["stdout"], "2\n");
    let (_, v) = run(json!({"language": "javascript", "code": "const fs = require('fs'); fs.writeFileSync('/workspace/out.json', '[1]'); 6 * 7"})).await;
    assert_eq!(plain(&v), "42", "{v}");
    assert_eq!(v["files"][0]["path"], "out.json", "{v}");
    assert_eq!(v["files"][0]["content"], "[1]", "{v}");
    let (_, v) = run(json!({"language": "bash", "code": "echo hi; exit 3"})).await;
    assert_eq!(v["stdout"], "hi\n");
    assert_eq!(v["status"], "error");
    assert_eq!(v["error"]["value"], "exit status 3");
    let (_, v) = run(json!({"language": "bash", "code": "cat in.txt | tr a-z A-Z", "files": {"in.txt": "shout"}})).await;
    assert_eq!(v["stdout"], "SHOUT", "{v}");
    s.stop();
}

#[tokio::test]
async fn a_one_shot_sandbox_that_dies_reports_why_with_its_output() {
    let mut s = Server::start(&[]);
    let run = |body: Value| one_shot(&s, body);
    let (code, v) = run(json!({
        "code": "print('before', flush=True)\nx = bytearray(200 << 20)",
        "memory_mb": 64,
    }))
    .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "error");
    assert_eq!(v["error"]["name"], "MemoryLimit", "{v}");
    assert_eq!(v["stdout"], "before\n");
    // A cell that ignores its timeout's interrupt: killed after the grace period.
    let started = Instant::now();
    let (code, v) = run(json!({
        "language": "bash",
        "code": "trap '' INT; echo spinning; while :; do :; done",
        "timeout": 0.5,
    }))
    .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["error"]["name"], "Timeout", "{v}");
    assert_eq!(v["timed_out"], true);
    assert_eq!(v["stdout"], "spinning\n");
    assert!(started.elapsed() < Duration::from_secs(5));
    s.stop();
}

#[tokio::test]
async fn bad_requests_get_clear_4xx_codes() {
    let mut s = Server::start(&[]);
    let id = create(&s, json!({})).await;
    let post_raw = |path: &str, body: &'static str| {
        let url = s.url(path);
        async move {
            let r = client()
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    let exec_path = format!("/v1/sessions/{id}/execute");
    let cases: Vec<(StatusCode, &str, (StatusCode, Value))> = vec![
        (
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            post_raw(&exec_path, "{not json").await,
        ),
        (
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            post_raw("/v1/sessions", r#"{"language": "cobol"}"#).await,
        ),
        (
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            post_raw(&exec_path, r#"{"code": "1", "timeout": 100000}"#).await,
        ),
        (
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            post_raw(&exec_path, r#"{"code": "1", "timeout": -1}"#).await,
        ),
        (
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            post_raw("/v1/sessions", r#"{"memory_mb": 999999}"#).await,
        ),
        (
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            post_raw(&exec_path, r#"{"code": "1", "surprise": true}"#).await,
        ),
        (
            StatusCode::NOT_FOUND,
            "SESSION_NOT_FOUND",
            post_raw("/v1/sessions/ses_nope/execute", r#"{"code": "1"}"#).await,
        ),
        (
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            post_raw("/v1/nothing", "{}").await,
        ),
    ];
    for (status, code, (got_status, body)) in cases {
        assert_eq!(got_status, status, "{body}");
        assert_eq!(body["error"]["code"], code, "{body}");
        assert!(body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    // Code over the 1 MiB limit.
    let big = "x".repeat((1 << 20) + 10);
    let r = client()
        .post(s.url(&exec_path))
        .json(&json!({"code": big}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "PAYLOAD_TOO_LARGE"
    );
    let r = client().put(s.url("/v1/sessions")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "METHOD_NOT_ALLOWED"
    );
    // The session is still fine after all that.
    assert_eq!(plain(&exec(&s, &id, "1 + 1").await.1), "2");
    s.stop();
}

#[tokio::test]
async fn a_body_far_over_the_limit_is_refused_before_it_is_parsed() {
    // With a 1000-byte code limit the body limit is about 66 KiB; 200 KiB is refused by
    // its length (and still fits the socket buffers, so the client reads the reply).
    let mut s = Server::start(&["--max-code-bytes", "1000"]);
    let id = create(&s, json!({})).await;
    let huge = format!("{{\"code\": \"{}\"}}", "y".repeat(200 << 10));
    let r = client()
        .post(s.url(&format!("/v1/sessions/{id}/execute")))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "PAYLOAD_TOO_LARGE"
    );
    let (code, v) = exec(&s, &id, &"z".repeat(1001)).await;
    assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    s.stop();
}

#[tokio::test]
async fn shutdown_interrupts_cells_and_leaves_nothing_behind() {
    let mut s = Server::start(&["--shutdown-grace", "2"]);
    let pid = s.pid();
    let mut ids = vec![];
    for _ in 0..3 {
        ids.push(create(&s, json!({})).await);
    }
    // One busy cell that would run for ever.
    let url = s.url(&format!("/v1/sessions/{}/execute", ids[0]));
    let busy = tokio::spawn(async move {
        client()
            .post(url)
            .json(&json!({"code": "while True: pass"}))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let took = s.stop();
    assert!(took < Duration::from_secs(8), "shutdown took {took:?}");
    let _ = busy.await;
    // Nothing of this server's sandboxes remains: run directories and cgroups are named
    // after the supervisor's pid.
    let prefix = format!("{pid}-");
    let leftovers: Vec<String> = std::fs::read_dir("/run/warden")
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert!(leftovers.is_empty(), "run directories left: {leftovers:?}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&format!("/run/warden/{prefix}")),
        "a workspace is still mounted"
    );
    for hierarchy in ["/sys/fs/cgroup/pids/warden", "/sys/fs/cgroup/memory"] {
        let out = Command::new("find")
            .args([hierarchy, "-maxdepth", "4", "-name", &format!("{prefix}*")])
            .output()
            .unwrap();
        assert!(
            out.stdout.is_empty(),
            "cgroups left: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[tokio::test]
async fn pooled_one_shot_runs_each_return_their_own_output() {
    let mut s = Server::start(&["--pool-size", "3"]);
    // Wait (bounded) until the pool is full.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let h = healthz(&s).await;
        if h["pools"]["python"] == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "the pool did not fill: {h}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for i in 0..40 {
        let v: Value = client()
            .post(s.url("/v1/execute"))
            .json(&json!({"code": format!("print({i})")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["stdout"], format!("{i}\n"), "run {i}: {v}");
    }
    s.stop();
}

/// The value of one sample line of the metrics text, by its exact name and labels.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test]
async fn metrics_count_sessions_and_executions_by_status() {
    let mut s = Server::start(&[]);
    let id = create(&s, json!({})).await;
    exec(&s, &id, "1").await;
    exec(&s, &id, "2").await;
    exec(&s, &id, "1/0").await;
    let r = client()
        .post(s.url("/v1/execute"))
        .json(&json!({"code": "print(1)"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = client().get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = r.text().await.unwrap();
    let cell = |status: &str| {
        sample(
            &text,
            &format!(
                "warden_executions_total{{kind=\"cell\",language=\"python\",status=\"{status}\"}}"
            ),
        )
    };
    assert_eq!(cell("ok"), Some(2.0), "{text}");
    assert_eq!(cell("error"), Some(1.0), "{text}");
    assert_eq!(
        sample(
            &text,
            "warden_executions_total{kind=\"oneshot\",language=\"python\",status=\"ok\"}"
        ),
        Some(1.0)
    );
    assert_eq!(sample(&text, "warden_sessions"), Some(1.0));
    assert_eq!(sample(&text, "warden_sessions_created_total"), Some(1.0));
    assert_eq!(
        sample(
            &text,
            "warden_execution_duration_seconds_count{kind=\"cell\"}"
        ),
        Some(3.0)
    );
    for language in ["python", "javascript", "bash"] {
        let series = format!("warden_pool_sessions{{language=\"{language}\"}}");
        assert!(sample(&text, &series).is_some(), "{series} missing");
    }
    s.stop();
}

#[tokio::test]
async fn websocket_carries_the_same_events() {
    use tokio_tungstenite::tungstenite::Message;
    let mut s = Server::start(&[]);
    let id = create(&s, json!({})).await;
    let ws_url = s
        .url(&format!("/v1/sessions/{id}/ws"))
        .replacen("http", "ws", 1);
    let (mut ws, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
    async fn next(
        ws: &mut (impl futures_util::Stream<
            Item = Result<Message, tokio_tungstenite::tungstenite::Error>,
        > + Unpin),
    ) -> Value {
        loop {
            let m = tokio::time::timeout(Duration::from_secs(20), ws.next())
                .await
                .expect("no message within 20 s")
                .unwrap()
                .unwrap();
            if let Message::Text(t) = m {
                return serde_json::from_str(&t).unwrap();
            }
        }
    }
    use futures_util::SinkExt;
    let send = |v: Value| Message::Text(v.to_string().into());
    ws.send(send(json!({"type": "execute", "code": "x = 41"})))
        .await
        .unwrap();
    assert_eq!(next(&mut ws).await["type"], "result");
    ws.send(send(json!({"type": "execute",
        "code": "import time\nprint('first', flush=True)\ntime.sleep(1)\nprint('second')\nx + 1"})))
        .await
        .unwrap();
    let started = Instant::now();
    let first = next(&mut ws).await;
    assert_eq!(first["type"], "stdout");
    assert!(first["text"].as_str().unwrap().starts_with("first"));
    let first_at = started.elapsed();
    let mut texts = first["text"].as_str().unwrap().to_string();
    let result = loop {
        let m = next(&mut ws).await;
        match m["type"].as_str() {
            Some("stdout") => texts.push_str(m["text"].as_str().unwrap()),
            Some("result") => break m,
            other => panic!("unexpected {other:?}: {m}"),
        }
    };
    assert!(started.elapsed() >= first_at + Duration::from_millis(800));
    assert_eq!(texts, "first\nsecond\n");
    assert_eq!(result["result"]["value"]["text/plain"], "42");
    // Interrupt over the same socket; state survives.
    ws.send(send(json!({"type": "execute", "code": "while True: pass"})))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    ws.send(send(json!({"type": "interrupt"}))).await.unwrap();
    let m = next(&mut ws).await;
    assert_eq!(m["result"]["error"]["name"], "KeyboardInterrupt", "{m}");
    // A bad message gets an error event and the socket stays usable.
    ws.send(send(json!({"type": "dance"}))).await.unwrap();
    let m = next(&mut ws).await;
    assert_eq!(
        (m["type"].as_str(), m["error"]["code"].as_str()),
        (Some("error"), Some("INVALID_REQUEST"))
    );
    ws.send(send(json!({"type": "execute", "code": "x"})))
        .await
        .unwrap();
    assert_eq!(next(&mut ws).await["result"]["value"]["text/plain"], "41");
    ws.close(None).await.unwrap();
    // No socket for a session that does not exist.
    let bad = s.url("/v1/sessions/ses_nope/ws").replacen("http", "ws", 1);
    match tokio_tungstenite::connect_async(&bad).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 404),
        other => panic!("expected 404, got {other:?}"),
    }
    s.stop();
}

#[tokio::test]
async fn openapi_document_covers_every_route_and_matches_replies() {
    let mut s = Server::start(&[]);
    let doc: Value = client()
        .get(s.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut routes: Vec<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(p, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| format!("{} {p}", m.to_uppercase()))
        })
        .collect();
    routes.sort();
    let mut want = vec![
        "GET /healthz",
        "GET /metrics",
        "POST /v1/execute",
        "POST /v1/analyze",
        "GET /v1/tools",
        "POST /v1/tools/call",
        "GET /v1/sessions",
        "POST /v1/sessions",
        "GET /v1/sessions/{id}",
        "DELETE /v1/sessions/{id}",
        "POST /v1/sessions/{id}/execute",
        "GET /v1/sessions/{id}/notebook",
        "GET /v1/sessions/{id}/ws",
        "POST /v1/sessions/{id}/interrupt",
        "POST /v1/sessions/{id}/restart",
        "GET /v1/sessions/{id}/files",
        "GET /v1/sessions/{id}/files/{path}",
        "PUT /v1/sessions/{id}/files/{path}",
        "DELETE /v1/sessions/{id}/files/{path}",
        "GET /v1/executions",
        "GET /v1/executions/{id}",
        "GET /v1/audit",
        "GET /v1/limits",
        "GET /v1/doctor",
        "GET /v1/templates",
        "POST /v1/templates",
        "GET /v1/templates/{name}",
        "GET /v1/templates/{name}/build",
        "POST /v1/workflows",
        "GET /v1/workflows",
        "GET /v1/workflows/{id}",
        "POST /v1/workflows/{id}/runs",
        "POST /v1/runs",
        "GET /v1/runs",
        "GET /v1/runs/{id}",
        "GET /v1/runs/{id}/events",
        "GET /v1/collections",
        "POST /v1/collections/{name}/documents",
        "DELETE /v1/collections/{name}",
        "GET /v1/collections/{name}/search",
    ];
    want.sort();
    assert_eq!(routes, want);
    // Every error code the server can answer with is in the schema.
    let codes = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap();
    for code in [
        "SESSION_DEAD",
        "INVALID_PATH",
        "PATH_FORBIDDEN",
        "PAYLOAD_TOO_LARGE",
        "UNAUTHORIZED",
        "POLICY_DENIED",
        "RATE_LIMITED",
        "QUOTA_EXCEEDED",
        "TEMPLATE_NOT_FOUND",
        "PACKAGE_NOT_ALLOWED",
        "PACKAGE_INSTALL_FAILED",
        "CONFLICT",
        "SYNTAX_ERROR",
        "SECURITY_VIOLATION",
        "WORKFLOW_INVALID",
        "WORKFLOW_NOT_FOUND",
        "RUN_NOT_FOUND",
        "COLLECTION_NOT_FOUND",
    ] {
        assert!(codes.contains(&json!(code)), "{code} missing");
    }
    // A live result has every field the schema requires, and no undocumented field.
    let id = create(&s, json!({})).await;
    let (_, result) = exec(&s, &id, "1").await;
    let schema = &doc["components"]["schemas"]["CellResponse"];
    let props = schema["properties"].as_object().unwrap();
    for key in result.as_object().unwrap().keys() {
        assert!(props.contains_key(key), "{key} is not in the schema");
    }
    for key in schema["required"].as_array().unwrap() {
        assert!(result.get(key.as_str().unwrap()).is_some(), "{key} missing");
    }
    // The CLI prints the same document.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
        .arg("openapi")
        .output()
        .unwrap();
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["paths"], doc["paths"]);
    s.stop();
}

#[tokio::test]
async fn a_session_past_its_lifetime_is_closed_even_mid_cell() {
    let mut s = Server::start(&["--max-lifetime", "100"]);
    let id = create(&s, json!({"max_lifetime": 1.5})).await;
    let info: Value = client()
        .get(s.url(&format!("/v1/sessions/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let left = info["expires_at"].as_f64().unwrap() - info["created_at"].as_f64().unwrap();
    assert!((left - 1.5).abs() < 0.01, "{info}");
    let started = Instant::now();
    let (status, v) = exec(&s, &id, "import time\ntime.sleep(30)").await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::GONE, "{v}");
    assert_eq!(v["error"]["code"], "SESSION_DEAD");
    assert!(
        took > Duration::from_millis(1000) && took < Duration::from_millis(4000),
        "{took:?}"
    );
    let r = client()
        .get(s.url(&format!("/v1/sessions/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Longer than the server allows: refused.
    let r = client()
        .post(s.url("/v1/sessions"))
        .json(&json!({"max_lifetime": 101}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    s.stop();
}

/// Direct children of a process (over all its threads).
pub(crate) fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Ok(c) = std::fs::read_to_string(t.path().join("children")) {
                out.extend(c.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
            }
        }
    }
    out
}

fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        })
        .unwrap_or(false)
}

/// The places where warden keeps per-sandbox state named after the supervisor's pid:
/// run directories and the memory cgroups beneath the cgroup the tests run in.
fn leftovers_of(pid: u32) -> Vec<std::path::PathBuf> {
    let prefix = format!("{pid}-");
    let mut places = vec![std::path::PathBuf::from("/run/warden")];
    for line in std::fs::read_to_string("/proc/self/cgroup")
        .unwrap()
        .lines()
    {
        let mut f = line.splitn(3, ':');
        let (_, ctrl, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or(""));
        for c in ["memory", "pids"] {
            if ctrl.split(',').any(|x| x == c) {
                places.push(format!("/sys/fs/cgroup/{c}{path}/warden").into());
            }
        }
        if ctrl.is_empty() {
            places.push(format!("/sys/fs/cgroup{path}/warden").into());
            places.push(format!("/sys/fs/cgroup/unified{path}/warden").into());
        }
    }
    places
        .iter()
        .filter_map(|p| std::fs::read_dir(p).ok())
        .flat_map(|d| d.flatten())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

#[tokio::test]
async fn a_killed_server_takes_its_sandboxes_along_and_the_next_start_cleans_up() {
    let mut a = Server::start(&[]);
    let busy = create(&a, json!({})).await;
    let idle = create(&a, json!({})).await;
    exec(&a, &idle, "x = 1").await;
    // A cell that never ends by itself.
    let url = a.url(&format!("/v1/sessions/{busy}/execute"));
    let cell = tokio::spawn(async move {
        client()
            .post(url)
            .json(&json!({"code": "while True: pass", "timeout": 600}))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = a.pid();
    let inits = children_of(pid);
    let mut sandboxed: Vec<u32> = inits.iter().flat_map(|&i| children_of(i)).collect();
    sandboxed.extend(&inits);
    assert!(
        sandboxed.len() >= 4,
        "expected inits and agents: {sandboxed:?}"
    );
    assert!(!leftovers_of(pid).is_empty());

    a.child.kill().unwrap(); // SIGKILL, by pid
    a.child.wait().unwrap();
    let _ = cell.await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while sandboxed.iter().any(|&p| running(p)) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let alive: Vec<u32> = sandboxed.iter().copied().filter(|&p| running(p)).collect();
    assert!(
        alive.is_empty(),
        "sandbox processes outlived the server: {alive:?}"
    );

    // The next server removes the run directories, mounts and cgroups left behind.
    let mut b = Server::start(&[]);
    let left = leftovers_of(pid);
    assert!(left.is_empty(), "left behind: {left:?}");
    b.stop();
}

/// A data directory made as users make them (`mktemp -d`: mode 0700), or one below such
/// a directory: the sandboxes' user cannot enter it, yet sessions and one-shot runs get
/// what lives there (the tools, the package cache) bound read-only.
#[tokio::test]
async fn private_data_directories_run_code() {
    use std::os::unix::fs::PermissionsExt;
    let outer = tempfile::tempdir().unwrap();
    std::fs::set_permissions(outer.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let nested = outer.path().join("nested");
    std::fs::create_dir(&nested).unwrap();
    std::fs::set_permissions(&nested, std::fs::Permissions::from_mode(0o755)).unwrap();
    for dir in [outer.path().to_path_buf(), nested.clone()] {
        let d = dir.to_str().unwrap();
        let mut s = Server::start_raw(&["--dev", "--data-dir", d, "--pool-size", "1"]);
        let listing = "import os\nsorted(os.listdir('/opt/warden'))";
        let (code, v) = one_shot(&s, json!({ "code": listing })).await;
        assert_eq!(code, StatusCode::OK, "{d}: {v}");
        assert_eq!(v["status"], "ok", "{d}: {v}");
        assert!(plain(&v).contains("'tools'"), "{d}: {v}");
        let id = create(&s, json!({"language": "python"})).await;
        let (code, v) = exec(&s, &id, "x = 41").await;
        assert_eq!(code, StatusCode::OK, "{d}: {v}");
        let (_, v) = exec(&s, &id, "x + 1").await;
        assert_eq!(plain(&v), "42", "{d}: {v}");
        s.stop();
    }
    // `warden doctor` names the closed directory and says why it is fine.
    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["doctor", "--json", "--data-dir", nested.to_str().unwrap()])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "data directory")
        .expect("a data directory check");
    assert_eq!(check["ok"], true, "{check}");
    let detail = check["detail"].as_str().unwrap();
    assert!(
        detail.contains(outer.path().to_str().unwrap()) && detail.contains("0700"),
        "{detail}"
    );
}

/// `input` goes in as `input_data` (Python) or `input` (JavaScript); `result` comes
/// back as JSON on every one-shot run and on a cell given `input`; a failure says why
/// in `error_code`.
#[tokio::test]
async fn input_goes_in_and_result_comes_back_with_the_error_code_of_a_failure() {
    let mut s = Server::start(&[]);
    let input = json!({"rows": [{"amount": 3}, {"amount": 4.5}], "name": "Ada"});
    let (code, v) = one_shot(
        &s,
        json!({"code": "result = {'total': sum(r['amount'] for r in input_data['rows']), 'tags': {1}}\nprint(input_data['name'])",
               "input": input}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["result"], json!({"total": 7.5, "tags": "{1}"}), "{v}");
    assert_eq!(v["stdout"], "Ada\n", "{v}");
    assert!(v.get("error_code").is_none(), "{v}");

    let (_, v) = one_shot(
        &s,
        json!({"language": "javascript", "input": input,
               "code": "const result = input.rows.map(r => r.amount * 2); console.log(input.name)"}),
    )
    .await;
    assert_eq!(v["result"], json!([6, 9]), "{v}");
    assert_eq!(v["stdout"], "Ada\n", "{v}");
    // Without input, a one-shot run still sends back its result (null when none).
    let (_, v) = one_shot(
        &s,
        json!({"language": "javascript", "code": "result = 'x'"}),
    )
    .await;
    assert_eq!(v["result"], "x", "{v}");
    let (_, v) = one_shot(&s, json!({"code": "x = 1"})).await;
    assert_eq!(v["result"], Value::Null, "{v}");
    assert!(v.as_object().unwrap().contains_key("result"), "{v}");

    // Failures: the traceback, and the stable code of why.
    let (_, v) = one_shot(&s, json!({"code": "input_data['missing']", "input": {}})).await;
    assert_eq!(
        (v["error"]["name"].as_str(), v["error_code"].as_str()),
        (Some("KeyError"), Some("EXECUTION_ERROR")),
        "{v}"
    );
    assert!(
        v["error"]["traceback"].to_string().contains("<cell-1>"),
        "{v}"
    );
    let (_, v) = one_shot(
        &s,
        json!({"code": "import time\ntime.sleep(10)", "timeout": 1}),
    )
    .await;
    assert_eq!(v["error_code"], "TIMEOUT", "{v}");
    // Tracebacks leave warden's own frames out (here: the SIGINT handler's).
    assert!(
        !v["error"]["traceback"].to_string().contains("/run/warden"),
        "{v}"
    );
    let (_, v) = one_shot(
        &s,
        json!({"language": "javascript", "code": "function f() { throw new Error('boom') }\nf()"}),
    )
    .await;
    let tb = v["error"]["traceback"].to_string();
    assert!(
        tb.contains("<cell-1>:1") && !tb.contains("/run/warden"),
        "{v}"
    );
    let (_, v) = one_shot(
        &s,
        json!({"code": "result = 1
x = bytearray(400 << 20)", "memory_mb": 128}),
    )
    .await;
    assert_eq!(v["error_code"], "MEMORY_LIMIT", "{v}");
    assert!(
        v.as_object().unwrap().contains_key("result") && v["result"].is_null(),
        "{v}"
    );
    let (code, v) = one_shot(&s, json!({"language": "bash", "code": "echo", "input": 1})).await;
    assert_eq!(
        (code, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_REQUEST")),
        "{v}"
    );

    // A session's cell sends `result` back only when given `input`, and never one an
    // earlier cell left.
    let id = create(&s, json!({})).await;
    let (_, v) = exec(&s, &id, "result = 5\nbase = 1").await;
    assert!(v.get("result").is_none(), "{v}");
    let post = |body: Value| {
        let url = s.url(&format!("/v1/sessions/{id}/execute"));
        async move {
            let r = client().post(url).json(&body).send().await.unwrap();
            r.json::<Value>().await.unwrap()
        }
    };
    let v = post(json!({"code": "y = input_data", "input": 2})).await;
    assert_eq!(v["result"], Value::Null, "{v}");
    let v = post(json!({"code": "result = input_data + base + y", "input": 40})).await;
    assert_eq!(v["result"], 43, "{v}");
    s.stop();
}

/// The console's files are served from the binary at `/` and `/ui/`, with a strict
/// Content-Security-Policy and cache validators.
#[tokio::test]
async fn the_console_is_served_with_a_strict_policy_and_cache_headers() {
    let mut s = Server::start(&[]);
    for path in ["/", "/ui/", "/ui/sessions/ses_1"] {
        let r = client().get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let h = r.headers().clone();
        assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(h["cache-control"], "no-cache");
        let body = r.text().await.unwrap();
        assert!(body.contains("/ui/assets/app.js"), "{body}");
        assert!(!body.contains("<script>"), "no inline script: {body}");
    }
    let r = client()
        .get(s.url("/ui/assets/app.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert_eq!(r.headers()["cache-control"], "public, max-age=3600");
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let r = client()
        .get(s.url("/ui/assets/app.js"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    let r = client()
        .get(s.url("/ui/assets/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    s.stop();
}

/// A client that hangs up on a cell does not cut it short: the cell runs to its end (the
/// session is busy meanwhile), is counted and recorded, and its output stays its own.
#[tokio::test]
async fn a_cell_whose_client_hangs_up_still_finishes_and_keeps_its_output() {
    let mut s = Server::start(&[]);
    let id = create(&s, json!({})).await;
    let url = s.url(&format!("/v1/sessions/{id}/execute"));
    let abandoned = client()
        .post(&url)
        .timeout(std::time::Duration::from_millis(300))
        .json(&json!({"code": "import time\ntime.sleep(1.5)\nprint('old')"}))
        .send()
        .await;
    assert!(abandoned.is_err(), "the client gave up first");
    let info: Value = client()
        .get(s.url(&format!("/v1/sessions/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["state"], "busy", "{info}");
    let (status, v) = exec(&s, &id, "print('next')").await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["error"]["code"], "SESSION_BUSY", "{v}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let v = loop {
        let (status, v) = exec(&s, &id, "print('next')").await;
        if status == StatusCode::OK {
            break v;
        }
        assert!(std::time::Instant::now() < deadline, "still busy: {v}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(v["stdout"], "next\n", "{v}");
    assert_eq!(v["execution_count"], 2, "{v}");
    let records: Value = client()
        .get(s.url(&format!("/v1/executions?session_id={id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        records["executions"].as_array().map(Vec::len),
        Some(2),
        "the abandoned cell is recorded too: {records}"
    );
    s.stop();
}
