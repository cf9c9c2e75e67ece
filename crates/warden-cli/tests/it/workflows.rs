//! Workflows through `warden serve`: stored versions, runs with their trace kept, run
//! events as Server-Sent Events, and every node type's service — `model` against a local
//! OpenAI-compatible stub, `http` and HTTP tools against the same stub under the network
//! policy, stored workflows called as tools, memory across runs, retrieval over an
//! uploaded collection. Every valid fixture with an expect file is run here and checked
//! for its final state and trace.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::flows::{fixture, reduced, valid_workflows, SERVICE_TYPES};
use crate::serve::{client, Server};

// ---------------------------------------------------------------- the stub

/// A request the stub received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    /// Lower-case names.
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A local HTTP server standing in for an OpenAI-compatible endpoint
/// (`POST /v1/chat/completions` answers `echo: <last user message>`) and for the APIs the
/// fixtures call: `GET /users/{n}` (404 for 404), `POST /echo`, `POST /translate?to=xx`.
struct Stub {
    /// `http://stub.test:PORT`: `http` nodes and HTTP tools reach it by this name (the
    /// server maps it with `--egress-test-resolve`; loopback itself is refused to them).
    base: String,
    /// `127.0.0.1:PORT`, for the operator's model endpoint (not subject to egress rules).
    addr: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Stub {
    fn start() -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let base = format!("http://stub.test:{}", listener.local_addr().unwrap().port());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, flag) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            // Bounded: stops when dropped, or after ten minutes at most.
            let deadline = Instant::now() + Duration::from_secs(600);
            while !flag.load(Ordering::Relaxed) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let log = log.clone();
                        std::thread::spawn(move || serve_one(stream, &log));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Stub {
            base,
            addr,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn seen(&self, path_prefix: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path.starts_with(path_prefix))
            .cloned()
            .collect()
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_one(stream: TcpStream, log: &Mutex<Vec<Seen>>) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length.min(1 << 20)];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let seen = Seen {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let (status, reply) = route(&seen);
    log.lock().unwrap().push(seen);
    let text = reply.to_string();
    let reason = if status == 200 { "OK" } else { "Not Found" };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

fn route(req: &Seen) -> (u16, Value) {
    let body: Value = serde_json::from_str(&req.body).unwrap_or(Value::Null);
    let (path, query) = req.path.split_once('?').unwrap_or((&req.path, ""));
    match (req.method.as_str(), path) {
        ("POST", "/v1/chat/completions") => {
            let last_user = body["messages"]
                .as_array()
                .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
                .and_then(|m| m["content"].as_str())
                .unwrap_or("")
                .to_string();
            (
                200,
                json!({"id": "stub-1", "object": "chat.completion", "model": body["model"],
                       "choices": [{"index": 0, "finish_reason": "stop",
                                    "message": {"role": "assistant",
                                                "content": format!("echo: {last_user}")}}]}),
            )
        }
        ("GET", "/users/404") => (404, json!({"error": "no such user"})),
        ("GET", p) if p.starts_with("/users/") => {
            let n = &p["/users/".len()..];
            (
                200,
                json!({"id": n.parse::<u64>().unwrap_or(0), "name": format!("User {n}"),
                       "email": format!("user{n}@example.org")}),
            )
        }
        ("POST", "/echo") => (
            200,
            json!({"received": body, "order_header": req.header("x-order")}),
        ),
        ("POST", "/translate") => {
            let to = query.strip_prefix("to=").unwrap_or("?");
            let text = body["text"].as_str().unwrap_or("");
            (200, json!({"text": format!("[{to}] {text}")}))
        }
        _ => (404, json!({"error": "no such route"})),
    }
}

// ---------------------------------------------------------------- helpers

const MODEL_KEY: &str = "sk-test-warden-flow";

/// A development-mode server whose model endpoint is the stub; `network` sets the
/// default policy's network permission.
fn server(stub: &Stub, network: bool, data: &Path) -> Server {
    let policy = data.join("policy.json");
    std::fs::write(&policy, json!({ "network": network }).to_string()).unwrap();
    let model = format!("http://{}/v1", stub.addr);
    let resolve = format!("stub.test={}", stub.addr);
    Server::start_env(
        &[
            "--egress-test-resolve",
            &resolve,
            "--dev",
            "--data-dir",
            data.to_str().unwrap(),
            "--default-policy",
            policy.to_str().unwrap(),
            "--model-base-url",
            &model,
            "--model-api-key-env",
            "WARDEN_TEST_MODEL_KEY",
            "--pool-size",
            "1",
        ],
        &[("WARDEN_TEST_MODEL_KEY", MODEL_KEY)],
    )
}

async fn call(s: &Server, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut r = client().request(method, s.url(path));
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status();
    let bytes = resp.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A fixture's definition as the API takes it: JSON as an object, YAML as text.
fn definition(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).unwrap()
    } else {
        Value::String(text)
    }
}

/// Uploads the `handbook` collection and stores the `summarize_passages` tool workflow.
async fn provision(s: &Server) {
    let docs: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("collections/handbook.json")).unwrap(),
    )
    .unwrap();
    let (status, info) = call(
        s,
        Method::POST,
        "/v1/collections/handbook/documents",
        Some(docs),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(info["documents"], 8, "{info}");
    // Metadata is an object (the search hits' schema says so): a list is refused.
    let (status, e) = call(
        s,
        Method::POST,
        "/v1/collections/handbook/documents",
        Some(json!({"documents": [{"text": "t", "metadata": [1, 2]}]})),
    )
    .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_REQUEST")),
        "{e}"
    );
    let (status, info) = call(
        s,
        Method::POST,
        "/v1/workflows",
        Some(json!({"definition": definition(&fixture("tools/summarize_passages.yaml"))})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{info}");
    assert_eq!(info["id"], "summarize_passages");
}

/// A run as a fixture's `.expect.json` holds it ([`reduced`]), the stub's address (which
/// differs by run) written `$STUB`.
fn normalize(run: &Value, stub: &Stub) -> Value {
    serde_json::from_str(&reduced(run).to_string().replace(&stub.base, "$STUB")).unwrap()
}

/// Whether the fixture has nodes only a server offers (expect files of the others are
/// written from `warden flow run`, see flows.rs).
fn uses_services(path: &Path) -> bool {
    let wf = warden_flow::Workflow::from_path(path).unwrap();
    wf.nodes
        .iter()
        .any(|n| SERVICE_TYPES.contains(&n.kind.as_str()))
}

// ---------------------------------------------------------------- tests

/// Every valid fixture runs through `POST /v1/runs` (services included) and ends in the
/// final state and along the trace its expect file says. `WARDEN_BLESS=1` writes missing
/// expect files (to be reviewed by hand before committing).
#[tokio::test]
async fn every_fixture_ends_in_its_expected_state_and_trace() {
    let stub = Stub::start();
    let data = tempfile::tempdir().unwrap();
    let s = server(&stub, true, data.path());
    provision(&s).await;
    let bless = std::env::var("WARDEN_BLESS").is_ok_and(|v| v == "1");
    let mut checked = Vec::new();
    let mut failures = Vec::new();
    for name in valid_workflows() {
        let path = fixture(&format!("valid/{name}"));
        let stem = name.rsplit_once('.').unwrap().0;
        let input_text = std::fs::read_to_string(fixture(&format!("valid/{stem}.input.json")))
            .unwrap_or_else(|_| "{}".into())
            .replace("$STUB", &stub.base);
        let input: Value = serde_json::from_str(&input_text).unwrap();
        let (status, run) = call(
            &s,
            Method::POST,
            "/v1/runs",
            Some(json!({"definition": definition(&path), "input": input})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{name}: {run}");
        let actual = normalize(&run, &stub);
        let expect_path = fixture(&format!("valid/{stem}.expect.json"));
        let expected: Value = match std::fs::read_to_string(&expect_path) {
            Ok(text) => serde_json::from_str(&text).unwrap(),
            Err(_) if bless && uses_services(&path) => {
                std::fs::write(
                    &expect_path,
                    serde_json::to_string_pretty(&actual).unwrap() + "\n",
                )
                .unwrap();
                actual.clone()
            }
            Err(_) => {
                failures.push(format!("{name}: no expect file"));
                continue;
            }
        };
        for key in ["status", "state", "trace"] {
            if actual[key] != expected[key] {
                failures.push(format!(
                    "{name}: {key} differs\n  expected: {}\n  actual:   {}",
                    expected[key], actual[key]
                ));
            }
        }
        checked.push(name);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        checked.len() >= 20,
        "only {} fixtures: {checked:?}",
        checked.len()
    );
}

pub(crate) const DOUBLE_V1: &str = r#"
name: double
inputs: [x]
nodes:
  - {id: start, type: start}
  - id: twice
    type: code
    config:
      language: python
      code: "print('doubling', input_data['x'])\nresult = input_data['x'] * 2"
      input_mapping: {x: inputs.x}
      output_mapping: {y: result}
  - {id: end, type: end, config: {output: {y: y}}}
edges:
  - {source: start, target: twice}
  - {source: twice, target: end}
"#;

/// Stored workflows get versions; runs of any version are kept with their trace, listed
/// newest first, and survive a restart of the server.
#[tokio::test]
async fn stored_workflows_are_versioned_and_runs_are_kept() {
    let stub = Stub::start();
    let data = tempfile::tempdir().unwrap();
    let mut s = server(&stub, false, data.path());
    let (status, v1) = call(
        &s,
        Method::POST,
        "/v1/workflows",
        Some(json!({"definition": DOUBLE_V1})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v1}");
    assert_eq!(
        (v1["id"].as_str(), v1["version"].as_u64()),
        (Some("double"), Some(1))
    );
    let v2_text = DOUBLE_V1.replace("* 2", "* 3");
    let (status, v2) = call(
        &s,
        Method::POST,
        "/v1/workflows",
        Some(json!({"definition": v2_text})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v2}");
    assert_eq!(v2["version"], 2);
    let (_, list) = call(&s, Method::GET, "/v1/workflows", None).await;
    assert_eq!(list["workflows"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["workflows"][0]["version"], 2);
    let (_, old) = call(&s, Method::GET, "/v1/workflows/double?version=1", None).await;
    assert!(old["definition"]["nodes"][1]["config"]["code"]
        .as_str()
        .unwrap()
        .contains("* 2"));
    // Versions out of range are the caller's mistake (400), never a server error; a
    // version in range that was never stored is not found.
    for q in ["9223372036854775808", "18446744073709551615", "-1", "x"] {
        let (status, e) = call(
            &s,
            Method::GET,
            &format!("/v1/workflows/double?version={q}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{q}: {e}");
        assert_eq!(e["error"]["code"], "INVALID_REQUEST", "{q}: {e}");
    }
    let (status, _) = call(&s, Method::GET, "/v1/workflows/double?version=3", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, e) = call(
        &s,
        Method::POST,
        "/v1/workflows/double/runs",
        Some(json!({"input": {"x": 1}, "version": 9223372036854775808u64})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");

    // The latest version, then version 1.
    let (status, latest) = call(
        &s,
        Method::POST,
        "/v1/workflows/double/runs",
        Some(json!({"input": {"x": 7}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{latest}");
    assert_eq!(latest["status"], "ok");
    assert_eq!(latest["output"], json!({"y": 21}));
    assert_eq!(latest["workflow_version"], 2);
    let (_, first) = call(
        &s,
        Method::POST,
        "/v1/workflows/double/runs",
        Some(json!({"input": {"x": 7}, "version": 1})),
    )
    .await;
    assert_eq!(first["output"], json!({"y": 14}), "{first}");
    let trace = first["trace"].as_array().unwrap();
    let nodes: Vec<&str> = trace.iter().map(|t| t["node"].as_str().unwrap()).collect();
    assert_eq!(nodes, ["start", "twice", "end"]);
    assert_eq!(trace[1]["inputs"], json!({"x": 7}));
    assert_eq!(trace[1]["outputs"], json!({"y": 14}));
    assert_eq!(trace[1]["stdout"], "doubling 7\n");
    assert!(trace[1]["duration_ms"].is_u64());
    assert_eq!(first["steps"], 3);

    // A failing run is kept too.
    let (_, failed) = call(
        &s,
        Method::POST,
        "/v1/workflows/double/runs",
        Some(json!({"input": {"x": "a"}})),
    )
    .await;
    assert_eq!(
        failed["status"], "ok",
        "a string times 3 is a string: {failed}"
    );
    let (_, failed) = call(
        &s,
        Method::POST,
        "/v1/workflows/double/runs",
        Some(json!({"input": {"x": null}})),
    )
    .await;
    assert_eq!(failed["status"], "error", "{failed}");
    assert_eq!(failed["error"]["node"], "twice");
    assert_eq!(failed["error"]["code"], "EXECUTION_ERROR");

    let (_, runs) = call(&s, Method::GET, "/v1/runs?workflow_id=double", None).await;
    let runs = runs["runs"].as_array().unwrap().clone();
    assert_eq!(runs.len(), 4);
    assert_eq!(runs[0]["id"], failed["id"], "newest first");
    assert!(runs[0].get("trace").is_none(), "lists leave out traces");
    let (_, errors) = call(&s, Method::GET, "/v1/runs?status=error", None).await;
    assert_eq!(errors["runs"].as_array().unwrap().len(), 1);
    let (_, page) = call(&s, Method::GET, "/v1/runs?limit=3", None).await;
    assert_eq!(page["runs"].as_array().unwrap().len(), 3);
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let (_, rest) = call(
        &s,
        Method::GET,
        &format!("/v1/runs?limit=3&cursor={cursor}"),
        None,
    )
    .await;
    assert_eq!(rest["runs"].as_array().unwrap().len(), 1);

    // Bounded in steps and time.
    let (_, bounded) = call(
        &s,
        Method::POST,
        "/v1/workflows/double/runs",
        Some(json!({"input": {"x": 1}, "max_steps": 2})),
    )
    .await;
    assert_eq!(
        (
            bounded["status"].as_str(),
            bounded["error"]["code"].as_str()
        ),
        (Some("error"), Some("STEP_LIMIT")),
        "{bounded}"
    );
    let slow = DOUBLE_V1.replace("result = input_data['x'] * 2", "import time; time.sleep(5)");
    let t0 = Instant::now();
    let (_, timed) = call(
        &s,
        Method::POST,
        "/v1/runs",
        Some(json!({"definition": slow, "input": {"x": 1}, "timeout": 1})),
    )
    .await;
    assert_eq!(timed["status"], "error", "{timed}");
    assert_eq!(
        timed["error"]["code"], "TIMEOUT",
        "the code node's time is capped: {timed}"
    );
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());

    // Not found, and bad input, with stable codes.
    let (status, e) = call(&s, Method::GET, "/v1/runs/run_nope", None).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("RUN_NOT_FOUND"))
    );
    let (status, e) = call(&s, Method::POST, "/v1/workflows/nope/runs", Some(json!({}))).await;
    assert_eq!(e["error"]["code"], "WORKFLOW_NOT_FOUND");
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, e) = call(&s, Method::GET, "/v1/workflows/double?version=9", None).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("WORKFLOW_NOT_FOUND"))
    );
    let (status, e) = call(&s, Method::POST, "/v1/runs", Some(json!({"input": {}}))).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_REQUEST"))
    );
    let (status, e) = call(&s, Method::POST, "/v1/runs", Some(json!({"definition": 5}))).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_REQUEST"))
    );
    let (status, e) = call(
        &s,
        Method::POST,
        "/v1/workflows",
        Some(json!({"definition": DOUBLE_V1, "id": "../x"})),
    )
    .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_REQUEST"))
    );

    let huge = json!({"definition": DOUBLE_V1.replace("name: double", &format!("name: double\ndescription: {}", "x".repeat(5 << 20)))});
    let (status, e) = call(&s, Method::POST, "/v1/workflows", Some(huge)).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("PAYLOAD_TOO_LARGE"))
    );

    // Every problem of an invalid definition, each with its node.
    let broken = json!({
        "name": "broken",
        "nodes": [
            {"id": "start", "type": "start"},
            {"id": "mystery", "type": "teleport"},
            {"id": "island", "type": "variable", "config": {"set": {"a": "1"}}},
            {"id": "end", "type": "end"}
        ],
        "edges": [
            {"source": "start", "target": "mystery"},
            {"source": "mystery", "target": "end"},
            {"source": "start", "target": "ghost"}
        ]
    });
    let (status, e) = call(
        &s,
        Method::POST,
        "/v1/workflows",
        Some(json!({"definition": broken})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["error"]["code"], "WORKFLOW_INVALID");
    let problems: Vec<(String, String)> = e["error"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["node"].as_str().unwrap_or("-").to_string(),
                p["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for expected in [("mystery", "unknown_type"), ("island", "unreachable")] {
        assert!(
            problems
                .iter()
                .any(|(n, c)| (n.as_str(), c.as_str()) == expected),
            "{expected:?} not in {problems:?}"
        );
    }
    assert!(
        problems.iter().any(|(_, c)| c == "edge_to_nowhere"),
        "{problems:?}"
    );
    let (status, e) = call(
        &s,
        Method::POST,
        "/v1/runs",
        Some(json!({"definition": "name: [unclosed"})),
    )
    .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("WORKFLOW_INVALID"))
    );

    // Runs survive a restart.
    s.stop();
    let s = server(&stub, false, data.path());
    let (status, again) = call(
        &s,
        Method::GET,
        &format!("/v1/runs/{}", first["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["output"], json!({"y": 14}));
    assert_eq!(again["trace"], first["trace"]);
    assert_eq!(again["state"], first["state"]);
}

/// Server-Sent Events until the stream ends (it does after `run_finished`), at most a
/// minute: `(name, payload)` in order, and the raw text.
async fn read_events(resp: reqwest::Response) -> (Vec<(String, Value)>, String) {
    let mut stream = resp.bytes_stream();
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(30), stream.next()).await {
            Ok(Some(Ok(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            _ => break,
        }
    }
    let events = text
        .split("\n\n")
        .filter_map(|block| {
            let name = block.lines().find_map(|l| l.strip_prefix("event: "))?;
            let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
            Some((name.to_string(), serde_json::from_str(data).ok()?))
        })
        .collect();
    (events, text)
}

/// The events of a live run of a three-node workflow, in order.
const LIVE_EVENTS: [&str; 8] = [
    "run_started",
    "node_started",
    "node_finished",
    "node_started",
    "node_finished",
    "node_started",
    "node_finished",
    "run_finished",
];

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(n, _)| n.as_str()).collect()
}

/// `Accept: text/event-stream` streams the run's events; `"wait": false` answers at once
/// and the run finishes in the background, its events followed (or replayed) by
/// `GET /v1/runs/{id}/events`.
#[tokio::test]
async fn runs_stream_their_events_and_run_in_the_background() {
    let stub = Stub::start();
    let data = tempfile::tempdir().unwrap();
    let s = server(&stub, false, data.path());
    let resp = client()
        .post(s.url("/v1/runs"))
        .header("accept", "text/event-stream")
        .json(&json!({"definition": DOUBLE_V1, "input": {"x": 4}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (events, text) = read_events(resp).await;
    assert_eq!(names(&events), LIVE_EVENTS, "{text}");
    assert_eq!(events[0].1["status"], "running");
    assert_eq!(events[3].1["node"], "twice");
    assert_eq!(events[4].1["entry"]["outputs"], json!({"y": 8}));
    let done = &events[7].1;
    assert_eq!(
        (done["status"].as_str(), &done["output"]),
        (Some("ok"), &json!({"y": 8}))
    );
    let (_, stored) = call(
        &s,
        Method::GET,
        &format!("/v1/runs/{}", done["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(stored["status"], "ok");
    let metrics = client()
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("warden_workflow_runs_total{status=\"ok\"} 1"),
        "{metrics}"
    );

    // In the background: 202 at once, then the stored run finishes.
    let slow = DOUBLE_V1.replace(
        "result = input_data['x'] * 2",
        "import time; time.sleep(1); result = 1",
    );
    let (status, started) = call(
        &s,
        Method::POST,
        "/v1/runs",
        Some(json!({"definition": slow, "input": {"x": 1}, "wait": false})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    assert_eq!(started["status"], "running");
    let id = started["id"].as_str().unwrap().to_string();
    let (_, now) = call(&s, Method::GET, &format!("/v1/runs/{id}"), None).await;
    assert_eq!(now["status"], "running", "{now}");
    // Attached while it runs: every event, from the start.
    let resp = client()
        .get(s.url(&format!("/v1/runs/{id}/events")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (live, text) = read_events(resp).await;
    assert_eq!(names(&live), LIVE_EVENTS, "{text}");
    assert_eq!(live[7].1["output"], json!({"y": 1}));
    // Once finished: a replay from the record.
    let resp = client()
        .get(s.url(&format!("/v1/runs/{id}/events")))
        .send()
        .await
        .unwrap();
    let (replayed, text) = read_events(resp).await;
    assert_eq!(
        names(&replayed),
        [
            "run_started",
            "node_finished",
            "node_finished",
            "node_finished",
            "run_finished"
        ],
        "{text}"
    );
    assert_eq!(replayed[0].1["status"], "running");
    assert_eq!(replayed[2].1["entry"], live[4].1["entry"]);
    assert_eq!(replayed[4].1, live[7].1);
    let (status, e) = call(&s, Method::GET, "/v1/runs/run_nope/events", None).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("RUN_NOT_FOUND"))
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let finished = loop {
        let (_, run) = call(&s, Method::GET, &format!("/v1/runs/{id}"), None).await;
        if run["status"] != "running" || Instant::now() > deadline {
            break run;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(finished["status"], "ok", "{finished}");
    assert_eq!(finished["output"], json!({"y": 1}));
}

/// `model` nodes call the operator's endpoint with the operator's key; memory carries a
/// conversation across runs of one thread and not into another.
#[tokio::test]
async fn model_nodes_call_the_operators_endpoint_and_memory_spans_runs() {
    let stub = Stub::start();
    let data = tempfile::tempdir().unwrap();
    let s = server(&stub, false, data.path());
    let chat = definition(&fixture("valid/chat_with_memory.json"));
    let turn = |thread: &str, message: &str| {
        json!({"definition": chat, "input": {"thread_id": thread, "message": message},
               "thread_id": thread})
    };
    let (_, one) = call(&s, Method::POST, "/v1/runs", Some(turn("t-1", "hello"))).await;
    assert_eq!(one["status"], "ok", "{one}");
    assert_eq!(one["output"]["reply"], "echo: hello");
    assert_eq!(one["thread_id"], "t-1");
    let (_, two) = call(&s, Method::POST, "/v1/runs", Some(turn("t-1", "and then?"))).await;
    assert_eq!(
        two["output"]["turns"],
        json!([{"user": "hello", "assistant": "echo: hello"},
               {"user": "and then?", "assistant": "echo: and then?"}]),
        "{two}"
    );
    let (_, other) = call(&s, Method::POST, "/v1/runs", Some(turn("t-2", "hi"))).await;
    assert_eq!(
        other["output"]["turns"].as_array().unwrap().len(),
        1,
        "{other}"
    );

    let requests = stub.seen("/v1/chat/completions");
    assert_eq!(requests.len(), 3);
    let second = &requests[1];
    assert_eq!(
        second.header("authorization"),
        Some(format!("Bearer {MODEL_KEY}").as_str())
    );
    let body: Value = serde_json::from_str(&second.body).unwrap();
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["temperature"], 0.2);
    assert_eq!(body["max_tokens"], 200);
    assert_eq!(
        body["messages"][1],
        json!({"role": "user", "content": "and then?"})
    );
    let system = body["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains("echo: hello"),
        "the first turn is in the prompt: {system}"
    );

    // A node may not send model requests elsewhere on a server.
    let mut own = chat.clone();
    own["nodes"][2]["config"]["base_url"] = json!("http://127.0.0.1:9/v1");
    let (_, refused) = call(
        &s,
        Method::POST,
        "/v1/runs",
        Some(json!({"definition": own, "input": {"thread_id": "t-3", "message": "x"}})),
    )
    .await;
    assert_eq!(refused["status"], "error");
    assert_eq!(refused["error"]["node"], "ask");
    assert_eq!(refused["error"]["code"], "POLICY_DENIED", "{refused}");
    assert_eq!(stub.seen("/v1/chat/completions").len(), 3);
}

/// Without `network: true` in the tenant's policy, `http` nodes and HTTP tools are
/// refused (the error follows the node's error edge) and nothing is sent.
#[tokio::test]
async fn http_nodes_need_a_policy_that_allows_network() {
    let stub = Stub::start();
    let data = tempfile::tempdir().unwrap();
    let s = server(&stub, false, data.path());
    let input = json!({"api": stub.base, "user_id": 3});
    let (_, run) = call(
        &s,
        Method::POST,
        "/v1/runs",
        Some(json!({"definition": definition(&fixture("valid/http_fetch.yaml")), "input": input})),
    )
    .await;
    assert_eq!(run["status"], "ok", "routed to the error handler: {run}");
    assert_eq!(run["state"]["failure"]["code"], "POLICY_DENIED");
    assert_eq!(run["state"]["failure"]["node"], "fetch");
    assert!(run["output"]["note"]
        .as_str()
        .unwrap()
        .starts_with("request failed: "));
    assert!(stub.seen("/users").is_empty(), "nothing was sent");

    // The collection and the stored tool are there; the HTTP tool is refused.
    provision(&s).await;
    let (_, run) = call(
        &s,
        Method::POST,
        "/v1/runs",
        Some(
            json!({"definition": definition(&fixture("valid/tool_and_retrieval.yaml")),
                    "input": {"question": "sessions kept", "language": "de", "tools": stub.base}}),
        ),
    )
    .await;
    assert_eq!(run["status"], "error", "{run}");
    assert_eq!(run["error"]["node"], "translate");
    assert_eq!(run["error"]["code"], "POLICY_DENIED");
    assert!(run["state"]["summary"]["text"]
        .as_str()
        .unwrap()
        .contains("Sandbox sessions"));
    assert!(stub.seen("/translate").is_empty());

    // Collections: search, list, delete.
    let (_, hits) = call(
        &s,
        Method::GET,
        "/v1/collections/handbook/search?q=network%20access%3F&top_k=1",
        None,
    )
    .await;
    assert_eq!(hits["results"].as_array().unwrap().len(), 1, "{hits}");
    assert_eq!(hits["results"][0]["id"], "network");
    let (_, list) = call(&s, Method::GET, "/v1/collections", None).await;
    assert_eq!(list["collections"][0]["documents"], 8);
    let (status, _) = call(&s, Method::DELETE, "/v1/collections/handbook", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, e) = call(&s, Method::GET, "/v1/collections/handbook/search?q=x", None).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("COLLECTION_NOT_FOUND"))
    );
    let (status, e) = call(
        &s,
        Method::POST,
        "/v1/collections/handbook/documents",
        Some(json!({"documents": []})),
    )
    .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_REQUEST"))
    );
}

/// The tenant's risk policy screens a code node's own code, not the prologue and
/// epilogue warden wraps it in (which read the input and write the result to a file):
/// plain code runs under a policy denying every risk level, code that opens files is
/// refused as the node's `SECURITY_VIOLATION`, and the records keep the node's code.
#[tokio::test]
async fn policies_screen_the_code_of_code_nodes() {
    let data = tempfile::tempdir().unwrap();
    let policy = data.path().join("policy.json");
    std::fs::write(
        &policy,
        json!({"risk": {"low": "deny", "medium": "deny", "high": "deny"}}).to_string(),
    )
    .unwrap();
    let s = Server::start_raw(&[
        "--dev",
        "--data-dir",
        data.path().to_str().unwrap(),
        "--default-policy",
        policy.to_str().unwrap(),
        "--pool-size",
        "1",
    ]);
    let js = r#"
name: screened
inputs: [x]
nodes:
  - {id: start, type: start}
  - id: py
    type: code
    config:
      language: python
      code: "result = input_data['x'] + 1"
      input_mapping: {x: inputs.x}
      output_mapping: {y: result}
  - id: js
    type: code
    config:
      language: javascript
      code: "return input.y * 10;"
      input_mapping: {y: y}
      output_mapping: {z: result}
  - {id: end, type: end, config: {output: {z: z}}}
edges:
  - {source: start, target: py}
  - {source: py, target: js}
  - {source: js, target: end}
"#;
    let (_, run) = call(
        &s,
        Method::POST,
        "/v1/runs",
        Some(json!({"definition": js, "input": {"x": 1}})),
    )
    .await;
    assert_eq!(run["status"], "ok", "{run}");
    assert_eq!(run["output"], json!({"z": 20}));
    let (_, records) = call(&s, Method::GET, "/v1/executions", None).await;
    let codes: Vec<&str> = records["executions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["code"].as_str())
        .collect();
    assert!(codes.contains(&"result = input_data['x'] + 1"), "{codes:?}");

    let risky = js.replace(
        "result = input_data['x'] + 1",
        "result = open('/etc/hostname').read()",
    );
    let (_, run) = call(
        &s,
        Method::POST,
        "/v1/runs",
        Some(json!({"definition": risky, "input": {"x": 1}})),
    )
    .await;
    assert_eq!(run["status"], "error", "{run}");
    assert_eq!(run["error"]["node"], "py");
    assert_eq!(run["error"]["code"], "SECURITY_VIOLATION");
}

/// A run cut short by a crash of its server is not left `running`: the restarted server
/// marks it failed with `INTERRUPTED`.
#[tokio::test]
async fn runs_cut_short_by_a_crash_are_marked_interrupted() {
    let stub = Stub::start();
    let data = tempfile::tempdir().unwrap();
    let mut s = server(&stub, false, data.path());
    let slow = DOUBLE_V1.replace(
        "result = input_data['x'] * 2",
        "import time; time.sleep(60); result = 1",
    );
    let (status, started) = call(
        &s,
        Method::POST,
        "/v1/runs",
        Some(json!({"definition": slow, "input": {"x": 1}, "wait": false})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let id = started["id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.child.kill().unwrap(); // SIGKILL, by pid
    s.child.wait().unwrap();
    let s = server(&stub, false, data.path());
    let (_, run) = call(&s, Method::GET, &format!("/v1/runs/{id}"), None).await;
    assert_eq!(run["status"], "error", "{run}");
    assert_eq!(run["error"]["code"], "INTERRUPTED");
    assert!(run["finished_at"].is_f64());
}

/// Workflows, runs, collections and memory threads belong to their tenant.
#[tokio::test]
async fn tenants_see_only_their_own_workflows_runs_collections_and_memory() {
    use crate::tenancy::{call as keyed, create_key, keyed_server};
    let data = tempfile::tempdir().unwrap();
    let a = create_key(data.path(), "acme", None, false);
    let b = create_key(data.path(), "globex", None, true);
    let s = keyed_server(data.path());
    let (status, _, saved) = keyed(
        &s,
        Some(&a),
        Method::POST,
        "/v1/workflows",
        Some(json!({"definition": DOUBLE_V1})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    let (_, _, run) = keyed(
        &s,
        Some(&a),
        Method::POST,
        "/v1/workflows/double/runs",
        Some(json!({"input": {"x": 2}})),
    )
    .await;
    assert_eq!(run["output"], json!({"y": 4}), "{run}");
    let run_path = format!("/v1/runs/{}", run["id"].as_str().unwrap());
    let (status, _, _) = keyed(&s, None, Method::GET, &run_path, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, e) = keyed(&s, Some(&b), Method::GET, &run_path, None).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("RUN_NOT_FOUND"))
    );
    let (_, _, runs) = keyed(&s, Some(&b), Method::GET, "/v1/runs", None).await;
    assert_eq!(runs["runs"], json!([]));
    let (status, _, e) = keyed(
        &s,
        Some(&b),
        Method::POST,
        "/v1/workflows/double/runs",
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("WORKFLOW_NOT_FOUND"))
    );
    let (_, _, list) = keyed(&s, Some(&b), Method::GET, "/v1/workflows", None).await;
    assert_eq!(list["workflows"], json!([]));
    // globex's first version of its own `double` is version 1.
    let (_, _, own) = keyed(
        &s,
        Some(&b),
        Method::POST,
        "/v1/workflows",
        Some(json!({"definition": DOUBLE_V1})),
    )
    .await;
    assert_eq!(own["version"], 1);

    let docs = json!({"documents": [{"id": "d", "text": "secret acme plans"}]});
    keyed(
        &s,
        Some(&a),
        Method::POST,
        "/v1/collections/notes/documents",
        Some(docs),
    )
    .await;
    let (status, _, e) = keyed(
        &s,
        Some(&b),
        Method::GET,
        "/v1/collections/notes/search?q=plans",
        None,
    )
    .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("COLLECTION_NOT_FOUND"))
    );

    // The same thread id is two threads.
    let remember = r#"
name: remember
inputs: [v]
nodes:
  - {id: start, type: start}
  - {id: add, type: memory, config: {thread: "'t-1'", op: append, key: k, value: inputs.v, output: all}}
  - {id: end, type: end, config: {output: {all: all}}}
edges:
  - {source: start, target: add}
  - {source: add, target: end}
"#;
    for (key, v) in [(&a, 1), (&a, 2), (&b, 3)] {
        keyed(
            &s,
            Some(key),
            Method::POST,
            "/v1/runs",
            Some(json!({"definition": remember, "input": {"v": v}})),
        )
        .await;
    }
    let (_, _, last_a) = keyed(
        &s,
        Some(&a),
        Method::POST,
        "/v1/runs",
        Some(json!({"definition": remember, "input": {"v": 4}})),
    )
    .await;
    assert_eq!(last_a["output"]["all"], json!([1, 2, 4]), "{last_a}");
    let (_, _, last_b) = keyed(
        &s,
        Some(&b),
        Method::POST,
        "/v1/runs",
        Some(json!({"definition": remember, "input": {"v": 5}})),
    )
    .await;
    assert_eq!(last_b["output"]["all"], json!([3, 5]), "{last_b}");

    // Saves, runs and uploads are audited, with their tenant.
    let entries = crate::tenancy::audit_actions(&s, &b).await;
    let seen = |action: &str, tenant: &str| {
        entries
            .iter()
            .any(|e| e["action"] == action && e["tenant"] == tenant)
    };
    assert!(seen("workflow.saved", "acme") && seen("workflow.saved", "globex"));
    assert!(seen("workflow.run", "acme") && seen("collection.updated", "acme"));
    let run_entry = entries
        .iter()
        .find(|e| e["action"] == "workflow.run" && e["target"] == run["id"])
        .expect("the first run is audited");
    assert_eq!(run_entry["detail"]["status"], "ok", "{run_entry}");
}

/// A stored workflow called as a tool has only the time its caller has left.
#[tokio::test]
async fn tool_workflows_get_the_time_their_caller_has_left() {
    let stub = Stub::start();
    let data = tempfile::tempdir().unwrap();
    let s = server(&stub, false, data.path());
    let sleeper = DOUBLE_V1
        .replace("name: double", "name: sleeper")
        .replace("result = input_data['x'] * 2", "import time; time.sleep(5)");
    let (status, _) = call(
        &s,
        Method::POST,
        "/v1/workflows",
        Some(json!({"definition": sleeper})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let caller = r#"
name: caller
inputs: [x]
nodes:
  - {id: start, type: start}
  - {id: first, type: code, config: {language: python, code: "import time; time.sleep(1.5)"}}
  - {id: call, type: tool, config: {workflow: sleeper, input_mapping: {x: inputs.x}, output: out}}
  - {id: end, type: end}
edges:
  - {source: start, target: first}
  - {source: first, target: call}
  - {source: call, target: end}
"#;
    let t0 = Instant::now();
    let (_, run) = call(
        &s,
        Method::POST,
        "/v1/runs",
        Some(json!({"definition": caller, "input": {"x": 1}, "timeout": 2.2})),
    )
    .await;
    let took = t0.elapsed();
    assert_eq!(run["status"], "error", "{run}");
    assert_eq!(run["error"]["node"], "call");
    assert_eq!(run["error"]["code"], "TIMEOUT", "{run}");
    assert!(
        run["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("workflow sleeper failed at node twice: "),
        "{run}"
    );
    // 2.2 s for the whole run; a fresh limit for the tool would take about 3.7 s.
    assert!(took < Duration::from_millis(3200), "{took:?}");
}
