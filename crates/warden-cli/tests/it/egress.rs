//! Network egress through warden's proxy (docs/NETWORK.md), against servers this test
//! starts on 127.0.0.1: names reach them only through `--egress-test-resolve`, so no
//! request leaves the machine. What runs inside the sandboxes is ordinary client code
//! (urllib, requests, node's fetch, curl); nothing here probes the host itself.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::serve::{client, one_shot, Server};

/// A small HTTP/1.1 origin on 127.0.0.1: `GET /size/N` answers N bytes of `x`, anything
/// else `hello from origin`; counts the connections it accepted. Stopped when dropped.
struct Origin {
    port: u16,
    connections: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Origin {
    fn start() -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (Arc::clone(&connections), Arc::clone(&stop));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                c.fetch_add(1, Ordering::Relaxed);
                std::thread::spawn(move || serve_one(stream));
            }
        });
        Origin {
            port,
            connections,
            stop,
        }
    }

    fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve_one(stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    loop {
        let mut h = String::new();
        match reader.read_line(&mut h) {
            Ok(0) | Err(_) => return,
            Ok(_) if h == "\r\n" => break,
            Ok(_) => {}
        }
    }
    let path = line.split(' ').nth(1).unwrap_or("/").to_string();
    let body = match path
        .strip_prefix("/size/")
        .and_then(|n| n.parse::<usize>().ok())
    {
        Some(n) => vec![b'x'; n],
        None => format!("hello from origin {path}").into_bytes(),
    };
    let mut stream = stream;
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
}

/// A TCP server that speaks first, as SMTP does; counts the bytes it received.
fn banner_server() -> (u16, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(AtomicU64::new(0));
    let g = Arc::clone(&got);
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten().take(8) {
            let _ = stream.write_all(b"220 smtp.test ESMTP\r\n");
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 256];
            if let Ok(n) = stream.read(&mut buf) {
                g.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    });
    (port, got)
}

/// A development-mode server whose default policy is `policy`, with test names.
fn server(policy: Value, resolve: &[String]) -> (Server, tempfile::TempDir) {
    server_in(tempfile::tempdir().unwrap(), policy, resolve)
}

/// [`server`] with `dir` as its data directory (templates built there beforehand).
fn server_in(
    dir: tempfile::TempDir,
    policy: Value,
    resolve: &[String],
) -> (Server, tempfile::TempDir) {
    let file = dir.path().join("policy.json");
    std::fs::write(&file, policy.to_string()).unwrap();
    let mut args = vec![
        "--dev".to_string(),
        "--data-dir".into(),
        dir.path().to_str().unwrap().to_string(),
        "--default-policy".into(),
        file.to_str().unwrap().to_string(),
        "--pool-size".into(),
        "0".into(),
    ];
    for r in resolve {
        args.push("--egress-test-resolve".into());
        args.push(r.clone());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    (Server::start_raw(&args), dir)
}

async fn run(s: &Server, language: &str, code: &str) -> Value {
    let (status, v) = one_shot(
        s,
        json!({"language": language, "code": code, "network": true, "timeout": 30}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v
}

/// `GET url`, the JSON body.
async fn get_json(url: String) -> Value {
    client()
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// `POST url` with a JSON body, the JSON reply.
async fn post_json(url: String, body: &Value) -> Value {
    client()
        .post(url)
        .json(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn connections(v: &Value) -> Vec<Value> {
    v["egress"]["connections"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn denied_reasons(v: &Value) -> Vec<String> {
    connections(v)
        .iter()
        .filter(|c| c["decision"] == "denied")
        .map(|c| {
            format!(
                "{}:{} {}",
                c["host"].as_str().unwrap_or(""),
                c["port"],
                c["reason"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// node's `fetch` reaches `api.test` through the proxy, then curl does by plain HTTP and
/// through a CONNECT tunnel; the curl run's result.
async fn fetch_and_curl_reach_the_origin(s: &Server) -> Value {
    let v = run(
        s,
        "javascript",
        "const r = await fetch('http://api.test/js'); console.log(r.status, await r.text());",
    )
    .await;
    assert_eq!(v["stdout"], "200 hello from origin /js\n", "{v}");
    assert_eq!(v["stderr"], "", "{v}");
    let v = run(
        s,
        "bash",
        "curl -sS http://api.test/curl; echo; curl -sS --proxytunnel http://api.test/tunnel; echo",
    )
    .await;
    assert_eq!(
        v["stdout"], "hello from origin /curl\nhello from origin /tunnel\n",
        "{v}"
    );
    assert_eq!(connections(&v).len(), 2, "{v}");
    v
}

#[tokio::test]
async fn allowed_names_work_from_urllib_fetch_and_curl() {
    let origin = Origin::start();
    let (mut s, _dir) = server(
        json!({"egress": {"allow": ["api.test"]}}),
        &[format!("api.test=127.0.0.1:{}", origin.port)],
    );

    let v = run(
        &s,
        "python",
        "import urllib.request\nprint(urllib.request.urlopen('http://api.test/py', timeout=10).read().decode())",
    )
    .await;
    assert_eq!(v["stdout"], "hello from origin /py\n", "{v}");
    let c = connections(&v);
    assert_eq!(c.len(), 1, "{v}");
    assert_eq!(
        (c[0]["host"].as_str(), c[0]["decision"].as_str()),
        (Some("api.test"), Some("allowed"))
    );
    assert!(c[0]["bytes_in"].as_u64().unwrap() > 20, "{v}");
    assert_eq!(v["egress"]["allow"], json!(["api.test"]));

    let v = fetch_and_curl_reach_the_origin(&s).await;
    assert_eq!(origin.connections(), 4);
    let metrics = client()
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("warden_egress_connections_total{decision=\"allowed\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("warden_egress_bytes_total{direction=\"in\"}"),
        "{metrics}"
    );

    // The records keep the account.
    let id = v["execution_id"].as_str().unwrap();
    let r: Value = get_json(s.url(&format!("/v1/executions/{id}"))).await;
    assert_eq!(r["egress"]["allowed"], 2, "{r}");

    // The LLM tools say which hosts, and take `network`.
    let tools: Value = get_json(s.url("/v1/tools?format=anthropic")).await;
    let description = tools["tools"][0]["description"].as_str().unwrap();
    assert!(
        description.contains("only these hosts: api.test"),
        "{description}"
    );
    let call = json!({"type": "tool_use", "id": "t1", "name": "execute_python", "input": {
        "code": "import urllib.request\nprint(urllib.request.urlopen('http://api.test/tool').read().decode())",
        "network": true}});
    let r: Value = post_json(s.url("/v1/tools/call?format=anthropic"), &call).await;
    assert!(r.to_string().contains("hello from origin /tool"), "{r}");
    assert_eq!(origin.connections(), 5);

    // Without `network` a sandbox has none, and no proxy settings.
    let (status, v) = one_shot(
        &s,
        json!({"code": "import os, urllib.request\nprint(os.environ.get('HTTP_PROXY'))\ntry:\n    urllib.request.urlopen('http://api.test/', timeout=5)\nexcept Exception as e:\n    print(type(e).__name__)"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["stdout"], "None\nURLError\n", "{v}");
    assert!(v.get("egress").is_none(), "{v}");
    assert_eq!(origin.connections(), 5);

    // pip, the real one in a sandbox with network, fetches its index through the proxy
    // (the origin's page lists no files, so nothing is found) and is refused elsewhere.
    let v = run(
        &s,
        "bash",
        "python3 -m pip download --no-deps -d /tmp/p --retries 0 --timeout 10 --disable-pip-version-check \
         --index-url http://api.test/simple/ --trusted-host api.test tabulate 2>&1 | tail -1\n\
         python3 -m pip download --no-deps -d /tmp/p --retries 0 --timeout 10 --disable-pip-version-check \
         tabulate >/dev/null 2>&1; echo $?",
    )
    .await;
    let out = v["stdout"].as_str().unwrap();
    assert!(
        out.contains("No matching distribution found for tabulate"),
        "{v}"
    );
    assert!(out.ends_with("\n1\n"), "pip from PyPI must fail: {v}");
    assert!(
        origin.connections() > 5,
        "pip did not reach the origin: {v}"
    );
    let hosts: Vec<String> = connections(&v)
        .iter()
        .filter_map(|c| c["host"].as_str().map(str::to_string))
        .collect();
    assert!(
        hosts.iter().any(|h| h == "api.test") && hosts.iter().any(|h| h == "pypi.org"),
        "{v}"
    );
    s.stop();
}

#[tokio::test]
async fn names_off_the_list_raw_ips_internal_addresses_and_rebinding_are_refused() {
    let origin = Origin::start();
    let (mut s, _dir) = server(
        json!({"egress": {"allow": ["api.test", "*.inside.test", "localhost"], "deny": ["blocked.inside.test"]}}),
        &[
            format!("api.test=127.0.0.1:{}", origin.port),
            "private.inside.test=10.1.2.3".into(),
            "meta.inside.test=169.254.169.254".into(),
            "mixed.inside.test=93.184.215.14,192.168.0.7".into(),
            "rebind.inside.test=192.0.2.1|127.0.0.1".into(),
            "meta6.inside.test=fd00:ec2::254".into(),
            "ula.inside.test=2001:db8::5,fd12:3456::1".into(),
            "mapped.inside.test=::ffff:10.0.0.1".into(),
            format!("blocked.inside.test=127.0.0.1:{}", origin.port),
        ],
    );
    let code = r#"
import urllib.request, urllib.error
def get(url, timeout=10):
    try:
        urllib.request.urlopen(url, timeout=timeout)
        return 'reached'
    except urllib.error.HTTPError as e:
        return '%d %s' % (e.code, e.reason)
    except Exception as e:
        return type(e).__name__
for url in ['http://other.test/', 'http://10.9.8.7/', 'http://93.184.215.14/',
            'http://localhost./', 'http://private.inside.test/', 'http://meta.inside.test/latest/meta-data',
            'http://mixed.inside.test/', 'http://blocked.inside.test/']:
    print(url, '->', get(url))
# A rebinding name: the first answer is public (unreachable here: a short timeout), the
# second private. The proxy resolves once per request and checks what it connects to.
get('http://rebind.inside.test/', timeout=1)
print('rebind ->', get('http://rebind.inside.test/'))
# Loopback is never proxied (NO_PROXY): the sandbox's own, where nothing of the host is.
print('loopback ->', get('http://127.0.0.1:%d/' % PORT))
"#
    .replace("PORT", &origin.port.to_string());
    let v = run(&s, "python", &code).await;
    let out = v["stdout"].as_str().unwrap();
    for (url, why) in [
        ("http://other.test/", "not on the allowlist"),
        ("http://10.9.8.7/", "a raw IP address"),
        ("http://93.184.215.14/", "a raw IP address"),
        // (`localhost` itself is never proxied: NO_PROXY; with the final dot it is.)
        ("http://localhost./", "loopback"),
        ("http://private.inside.test/", "10.1.2.3, a private address"),
        ("http://meta.inside.test/", "cloud metadata"),
        ("http://mixed.inside.test/", "192.168.0.7"),
        ("http://blocked.inside.test/", "egress.deny"),
        ("rebind", "127.0.0.1, a loopback address"),
    ] {
        let line = out
            .lines()
            .find(|l| l.starts_with(url))
            .unwrap_or_else(|| panic!("no line for {url} in {out}"));
        assert!(line.contains("-> 403 warden egress refused"), "{line}");
        assert!(line.contains(why), "{line} should say {why}");
    }
    assert!(out.contains("loopback -> URLError"), "{out}");
    assert_eq!(origin.connections(), 0, "nothing reached the origin");
    let denied = denied_reasons(&v);
    assert_eq!(denied.len(), 9, "{denied:?}");

    // Denials are in the audit log.
    let audit: Value = get_json(s.url("/v1/audit?action=egress.denied&limit=100")).await;
    let hosts: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "egress.denied")
        .filter_map(|e| e["detail"]["host"].as_str())
        .collect();
    for h in [
        "other.test",
        "localhost.",
        "meta.inside.test",
        "rebind.inside.test",
    ] {
        assert!(hosts.contains(&h), "{h} not audited: {audit}");
    }

    // IPv6: a raw address, the metadata address, a unique local one beside a public one,
    // and an IPv4-mapped private one.
    let code = r#"
import urllib.request, urllib.error
for url in ['http://[2001:db8::1]/', 'http://meta6.inside.test/', 'http://ula.inside.test/',
            'http://mapped.inside.test/']:
    try:
        urllib.request.urlopen(url, timeout=10); print(url, '-> reached')
    except urllib.error.HTTPError as e:
        print(url, '-> %d %s' % (e.code, e.reason))
"#;
    let v = run(&s, "python", code).await;
    let out = v["stdout"].as_str().unwrap();
    for (url, why) in [
        ("http://[2001:db8::1]/", "a raw IP address"),
        (
            "http://meta6.inside.test/",
            "fd00:ec2::254, a cloud metadata",
        ),
        ("http://ula.inside.test/", "fd12:3456::1, a unique local"),
        ("http://mapped.inside.test/", "a private address"),
    ] {
        let line = out
            .lines()
            .find(|l| l.starts_with(url))
            .unwrap_or_else(|| panic!("no line for {url} in {out}"));
        assert!(line.contains("-> 403 warden egress refused"), "{line}");
        assert!(line.contains(why), "{line} should say {why}");
    }
    assert_eq!(denied_reasons(&v).len(), 4, "{v}");

    // A request may narrow the allowlist, never widen it.
    let (status, e) = one_shot(
        &s,
        json!({"code": "1", "network": true, "egress": {"allow": ["evil.example"]}}),
    )
    .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("POLICY_DENIED")),
        "{e}"
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("evil.example"),
        "{e}"
    );
    let (status, e) = one_shot(
        &s,
        json!({"code": "1", "network": true, "egress": {"allow": ["not a host"]}}),
    )
    .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_REQUEST")),
        "{e}"
    );
    let (status, v) = one_shot(
        &s,
        json!({"code": "import urllib.request\ntry:\n    urllib.request.urlopen('http://api.test/')\nexcept Exception as e:\n    print(e)",
               "network": true, "egress": {"allow": ["x.inside.test"]}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(
        v["stdout"]
            .as_str()
            .unwrap()
            .contains("not on the allowlist (x.inside.test)"),
        "{v}"
    );
    s.stop();
}

#[tokio::test]
async fn limits_fire_non_http_fails_and_a_policy_without_egress_refuses_network() {
    let origin = Origin::start();
    let (smtp, smtp_got) = banner_server();
    let (mut s, _dir) = server(
        json!({"egress": {"allow": ["api.test", "smtp.test:25"], "max_connections": 2, "max_bytes": 300000}}),
        &[
            format!("api.test=127.0.0.1:{}", origin.port),
            format!("smtp.test=127.0.0.1:{smtp}"),
        ],
    );
    // max_connections: the third connection of the execution is refused.
    let v = run(
        &s,
        "python",
        r#"
import urllib.request
for i in range(3):
    try:
        print(len(urllib.request.urlopen('http://api.test/size/1000', timeout=10).read()))
    except Exception as e:
        print('refused', e)
"#,
    )
    .await;
    let out = v["stdout"].as_str().unwrap();
    assert!(out.starts_with("1000\n1000\nrefused HTTP Error 403"), "{v}");
    assert!(out.contains("EGRESS_LIMIT"), "{v}");
    assert_eq!(v["egress"]["error_code"], "EGRESS_LIMIT", "{v}");
    assert_eq!(v["egress"]["allowed"], 2, "{v}");

    // max_bytes: a 1 MB body is cut off; the program fails, and the record says why.
    let v = run(
        &s,
        "python",
        "import urllib.request\ndata = urllib.request.urlopen('http://api.test/size/1000000', timeout=10).read()\nprint(len(data))",
    )
    .await;
    assert_eq!(v["egress"]["error_code"], "EGRESS_LIMIT", "{v}");
    assert!(v["error"].is_object(), "the read must fail: {v}");
    assert!(
        v["egress"]["bytes_in"].as_u64().unwrap() <= 300000 + 65536,
        "{v}"
    );
    let id = v["execution_id"].as_str().unwrap();
    let r: Value = get_json(s.url(&format!("/v1/executions/{id}"))).await;
    assert_eq!(r["error_code"], "EGRESS_LIMIT", "{r}");

    // A protocol other than HTTP(S): through a tunnel the first bytes are not TLS or
    // HTTP, and the tunnel closes before the server's banner or the client's bytes pass;
    // without the proxy there is no DNS and no route.
    let v = run(
        &s,
        "python",
        r#"
import socket, smtplib
c = socket.create_connection(('127.0.0.1', 3128), timeout=10)
c.sendall(b'CONNECT smtp.test:25 HTTP/1.1\r\nHost: smtp.test:25\r\n\r\n')
print(c.recv(100).split(b'\r\n')[0].decode())
c.sendall(b'EHLO sandbox\r\n')
print('after EHLO:', c.recv(100))
try:
    smtplib.SMTP('smtp.test', 25, timeout=5)
except Exception as e:
    print('smtplib:', type(e).__name__)
"#,
    )
    .await;
    assert_eq!(
        v["stdout"], "HTTP/1.1 200 Connection established\nafter EHLO: b''\nsmtplib: gaierror\n",
        "{v}"
    );
    assert_eq!(
        smtp_got.load(Ordering::Relaxed),
        0,
        "no byte reached the SMTP server"
    );
    s.stop();

    // A policy without `egress`: network is refused, naming the policy.
    let (mut s, _dir) = server(json!({}), &[]);
    let (status, e) = one_shot(&s, json!({"code": "1", "network": true})).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("POLICY_DENIED")),
        "{e}"
    );
    let r = client()
        .post(s.url("/v1/sessions"))
        .json(&json!({"network": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (status, e) = one_shot(&s, json!({"code": "1", "egress": {"allow": ["a.test"]}})).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_REQUEST")),
        "{e}"
    );
    s.stop();
}

#[tokio::test]
async fn network_sessions_keep_state_and_cannot_reach_each_other_or_the_host() {
    let origin = Origin::start();
    let (mut s, _dir) = server(
        json!({"egress": {"allow": ["api.test"]}}),
        &[format!("api.test=127.0.0.1:{}", origin.port)],
    );
    let mut ids = Vec::new();
    for _ in 0..2 {
        let r: Value = post_json(s.url("/v1/sessions"), &json!({"network": true})).await;
        assert_eq!(r["egress"], json!(["api.test"]), "{r}");
        ids.push(r["id"].as_str().unwrap().to_string());
    }
    let exec = |id: String, code: String| {
        let url = s.url(&format!("/v1/sessions/{id}/execute"));
        async move {
            let v: Value = post_json(url, &json!({"code": code})).await;
            v
        }
    };
    // Session A listens on its own loopback; state persists across cells.
    let v = exec(
        ids[0].clone(),
        "import socket, threading, urllib.request\nsrv = socket.socket(); srv.bind(('127.0.0.1', 9999)); srv.listen()\nbody = urllib.request.urlopen('http://api.test/a').read()".into(),
    )
    .await;
    assert_eq!(v["status"], "ok", "{v}");
    let v = exec(
        ids[0].clone(),
        "c = socket.create_connection(('127.0.0.1', 9999)); srv.accept(); print(body.decode(), 'own listener reached')".into(),
    )
    .await;
    assert_eq!(
        v["stdout"], "hello from origin /a own listener reached\n",
        "{v}"
    );
    assert_eq!(
        v["egress"]["allowed"], 0,
        "a cell's account is its own: {v}"
    );

    // Session B reaches neither A's listener nor the host's origin server directly.
    let v = exec(
        ids[1].clone(),
        format!(
            "import socket\nfor port in (9999, {}):\n    try:\n        socket.create_connection(('127.0.0.1', port), timeout=3); print(port, 'reached')\n    except OSError as e:\n        print(port, type(e).__name__)",
            origin.port
        ),
    )
    .await;
    assert_eq!(
        v["stdout"],
        format!(
            "9999 ConnectionRefusedError\n{} ConnectionRefusedError\n",
            origin.port
        ),
        "{v}"
    );
    assert_eq!(origin.connections(), 1);
    s.stop();
}

/// `requests` in a template (built from the index through the installer's proxy) goes
/// through the egress proxy; so does `httpx` from a package set.
#[tokio::test]
async fn requests_from_a_template_and_httpx_from_a_package_set_go_through_the_proxy() {
    let origin = Origin::start();
    let dir = tempfile::tempdir().unwrap();
    let built = crate::warden(&[
        "template",
        "build",
        "web",
        "--pip",
        "requests",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let (mut s, _dir) = server_in(
        dir,
        json!({"packages": ["httpx"], "egress": {"allow": ["api.test"]}}),
        &[format!("api.test=127.0.0.1:{}", origin.port)],
    );
    let (status, v) = one_shot(
        &s,
        json!({"template": "web", "network": true, "timeout": 60, "code":
            "import requests\nprint(requests.get('http://api.test/requests', timeout=10).text)\ntry:\n    requests.get('https://evil.test/', timeout=10)\nexcept requests.exceptions.ProxyError as e:\n    print('refused', 'warden egress refused evil.test:443' in str(e))"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        v["stdout"], "hello from origin /requests\nrefused True\n",
        "{v}"
    );
    assert_eq!(origin.connections(), 1);
    // httpx reads the same settings.
    let (status, v) = one_shot(
        &s,
        json!({"packages": ["httpx"], "network": true, "timeout": 60, "code":
            "import httpx\nprint(httpx.get('http://api.test/httpx', timeout=10).text)\nprint(httpx.get('http://other.test/', timeout=10).status_code)"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["stdout"], "hello from origin /httpx\n403\n", "{v}");
    assert_eq!(origin.connections(), 2);
    s.stop();
}

/// A workflow code node with `network: true` reaches an allowed name under a policy with
/// `egress`, and is refused under one without.
#[tokio::test]
async fn a_workflow_code_node_with_network_follows_the_policy() {
    let origin = Origin::start();
    let definition = r#"
name: fetcher
inputs: [path]
nodes:
  - {id: start, type: start}
  - id: fetch
    type: code
    config:
      language: python
      network: true
      egress: {allow: [api.test]}
      code: |
        import urllib.request
        result = urllib.request.urlopen("http://api.test" + input_data["path"], timeout=10).read().decode()
      input_mapping: {path: inputs.path}
      output_mapping: {body: result}
  - id: offline
    type: code
    config:
      language: python
      code: |
        import os
        result = os.environ.get("HTTP_PROXY", "no proxy")
      output_mapping: {offline: result}
  - {id: end, type: end, config: {output: {body: body, offline: offline}}}
edges:
  - {source: start, target: fetch}
  - {source: fetch, target: offline}
  - {source: offline, target: end}
"#;
    let start = json!({"definition": definition, "input": {"path": "/flow"}});
    let run = |s: &Server| {
        let url = s.url("/v1/runs");
        let body = start.clone();
        async move {
            let v: Value = post_json(url, &body).await;
            v
        }
    };
    let (mut s, _dir) = server(
        json!({"egress": {"allow": ["*.test"]}}),
        &[format!("api.test=127.0.0.1:{}", origin.port)],
    );
    let v = run(&s).await;
    assert_eq!(v["status"], "ok", "{v}");
    assert_eq!(
        v["output"],
        json!({"body": "hello from origin /flow", "offline": "no proxy"}),
        "{v}"
    );
    s.stop();

    let (mut s, _dir) = server(json!({}), &[]);
    let v = run(&s).await;
    assert_eq!(v["status"], "error", "{v}");
    assert!(v["error"].to_string().contains("POLICY_DENIED"), "{v}");
    s.stop();
    assert_eq!(origin.connections(), 1);
}

/// `warden run --allow-host`: the same proxy for one program; refusals also go to stderr.
#[test]
fn warden_run_allow_host_opens_only_those_hosts() {
    let origin = Origin::start();
    let mapping = format!("api.test=127.0.0.1:{}", origin.port);
    let warden = env!("CARGO_BIN_EXE_warden");
    let run = |lang: &str, code: &str, allow: bool| {
        let mut cmd = std::process::Command::new(warden);
        cmd.args(["run", "--json", "--lang", lang]);
        if allow {
            cmd.args([
                "--allow-host",
                "api.test",
                "--egress-test-resolve",
                &mapping,
            ]);
        }
        let out = cmd.args(["-c", code]).output().unwrap();
        serde_json::from_slice::<Value>(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{e}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    };
    let v = run(
        "python",
        "import urllib.request\nprint(urllib.request.urlopen('http://api.test/cli').read().decode())\ntry:\n    urllib.request.urlopen('http://evil.test/')\nexcept Exception as e:\n    print(e)",
        true,
    );
    assert_eq!(
        v["stdout"],
        "hello from origin /cli\nHTTP Error 403: warden egress refused evil.test:80: not on the allowlist (api.test)\n",
        "{v}"
    );
    assert_eq!(
        (
            v["egress"]["allowed"].as_u64(),
            v["egress"]["denied"].as_u64()
        ),
        (Some(1), Some(1)),
        "{v}"
    );
    let v = run(
        "javascript",
        "fetch('http://api.test/node').then(r => r.text()).then(t => console.log(t))",
        true,
    );
    assert_eq!(v["stdout"], "hello from origin /node\n", "{v}");
    assert_eq!(v["stderr"], "", "{v}");
    let v = run("bash", "curl -sS http://api.test/none; echo rc=$?", false);
    assert!(
        v["stdout"].as_str().unwrap().ends_with("rc=6\n"),
        "no DNS, no proxy: {v}"
    );
    assert!(v.get("egress").is_none(), "{v}");
    assert_eq!(origin.connections(), 2);

    // The same on the gVisor tier (node: the relay a process beside the program).
    crate::tiers::need_runsc();
    for (lang, code) in [
        ("python", "import urllib.request\nprint(urllib.request.urlopen('http://api.test/gv').read().decode())"),
        ("javascript", "fetch('http://api.test/gv').then(r => r.text()).then(t => console.log(t))"),
    ] {
        let out = std::process::Command::new(warden)
            .args(["run", "--json", "--isolation", "gvisor", "--lang", lang])
            .args(["--allow-host", "api.test", "--egress-test-resolve", &mapping, "-c", code])
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["stdout"], "hello from origin /gv\n", "{lang}: {v}");
        assert_eq!(v["egress"]["allowed"].as_u64(), Some(1), "{v}");
    }
    assert_eq!(origin.connections(), 4);
}

/// Workflow `http` nodes follow the same rules: the policy's allowlist, and no loopback,
/// private or metadata address (by name, by raw address, or by redirect).
#[tokio::test]
async fn workflow_http_nodes_follow_the_egress_rules() {
    let origin = Origin::start();
    let definition = r#"
name: http_rules
nodes:
  - {id: start, type: start}
  - {id: ok, type: http, config: {url: "http://api.test/node", output: fine}}
  - {id: off_list, type: http, config: {url: "http://other.test/", output: never}}
  - {id: f1, type: error_handler, config: {output: off_list_failure}}
  - {id: private, type: http, config: {url: "http://private.test/", output: never}}
  - {id: f2, type: error_handler, config: {output: private_failure}}
  - {id: raw, type: http, config: {url: "http://169.254.169.254/latest/meta-data", output: never}}
  - {id: f3, type: error_handler, config: {output: raw_failure}}
  - {id: end, type: end, config: {output: {fine: fine.body, a: off_list_failure.message, b: private_failure.message, c: raw_failure.message}}}
edges:
  - {source: start, target: ok}
  - {source: ok, target: off_list}
  - {source: off_list, target: f1, condition: error}
  - {source: off_list, target: private}
  - {source: f1, target: private}
  - {source: private, target: f2, condition: error}
  - {source: private, target: raw}
  - {source: f2, target: raw}
  - {source: raw, target: f3, condition: error}
  - {source: raw, target: end}
  - {source: f3, target: end}
"#;
    let (mut s, _dir) = server(
        json!({"egress": {"allow": ["api.test", "private.test"]}}),
        &[
            format!("api.test=127.0.0.1:{}", origin.port),
            "private.test=10.0.0.8".into(),
        ],
    );
    let v: Value = post_json(
        s.url("/v1/runs"),
        &json!({"definition": definition, "input": {}}),
    )
    .await;
    assert_eq!(v["status"], "ok", "{v}");
    let out = &v["output"];
    assert_eq!(out["fine"], "hello from origin /node", "{v}");
    assert!(
        out["a"].as_str().unwrap().contains("not on the allowlist"),
        "{v}"
    );
    assert!(out["b"].as_str().unwrap().contains("10.0.0.8"), "{v}");
    assert!(out["c"].as_str().unwrap().contains("cloud metadata"), "{v}");
    assert_eq!(origin.connections(), 1);

    // An HTTP tool (a `tool` node posting to a URL) goes by the same rules.
    let tools = r#"
name: http_tools
nodes:
  - {id: start, type: start}
  - {id: good, type: tool, config: {http: {url: "http://api.test/tool"}, input_mapping: {}, output: good}}
  - {id: bad, type: tool, config: {http: {url: "http://private.test/tool"}, input_mapping: {}, output: never}}
  - {id: f, type: error_handler, config: {output: failure}}
  - {id: end, type: end, config: {output: {failure: failure.message}}}
edges:
  - {source: start, target: good}
  - {source: good, target: bad}
  - {source: bad, target: f, condition: error}
  - {source: bad, target: end}
  - {source: f, target: end}
"#;
    let v: Value = post_json(
        s.url("/v1/runs"),
        &json!({"definition": tools, "input": {}}),
    )
    .await;
    assert_eq!(v["status"], "ok", "{v}");
    assert!(
        v["output"]["failure"]
            .as_str()
            .unwrap()
            .contains("10.0.0.8"),
        "{v}"
    );
    assert_eq!(
        origin.connections(),
        2,
        "the allowed tool reached the origin"
    );
    s.stop();
}

/// The gVisor tier has the same way out: its proxy's socket is bound into the sandbox and
/// a relay inside makes it 127.0.0.1:3128 (docs/NETWORK.md). urllib (the relay a thread
/// of the Python process), node's fetch and curl (the relay a process of its own) reach
/// an allowed name; a name off the list is refused and reported; the host's origin is
/// not reachable directly; a network session keeps its state across cells.
#[tokio::test]
async fn the_gvisor_tier_reaches_allowed_names_through_the_same_proxy() {
    crate::tiers::need_runsc();
    let origin = Origin::start();
    let (mut s, _dir) = server(
        json!({"isolation": "gvisor", "egress": {"allow": ["api.test"]}}),
        &[
            format!("api.test=127.0.0.1:{}", origin.port),
            format!("other.test=127.0.0.1:{}", origin.port),
        ],
    );
    let v = run(
        &s,
        "python",
        &format!(
            "import socket, urllib.request\n\
             print(urllib.request.urlopen('http://api.test/gv', timeout=10).read().decode())\n\
             try:\n    urllib.request.urlopen('http://other.test/', timeout=10)\n\
             except Exception as e:\n    print('refused', getattr(e, 'code', e))\n\
             try:\n    socket.create_connection(('127.0.0.1', {}), timeout=3); print('direct reached')\n\
             except OSError as e:\n    print('direct', type(e).__name__)",
            origin.port
        ),
    )
    .await;
    assert_eq!(v["tier"], "gvisor", "{v}");
    assert_eq!(
        v["stdout"], "hello from origin /gv\nrefused 403\ndirect ConnectionRefusedError\n",
        "{v}"
    );
    assert_eq!(denied_reasons(&v).len(), 1, "{v}");
    assert!(denied_reasons(&v)[0].starts_with("other.test:80"), "{v}");

    fetch_and_curl_reach_the_origin(&s).await;

    let r: Value = post_json(s.url("/v1/sessions"), &json!({"network": true})).await;
    assert_eq!(
        (r["tier"].as_str(), &r["egress"]),
        (Some("gvisor"), &json!(["api.test"])),
        "{r}"
    );
    let id = r["id"].as_str().unwrap().to_string();
    let url = s.url(&format!("/v1/sessions/{id}/execute"));
    let v: Value = post_json(
        url.clone(),
        &json!({"code": "import urllib.request\nbody = urllib.request.urlopen('http://api.test/s1', timeout=10).read().decode()"}),
    )
    .await;
    assert_eq!(v["status"], "ok", "{v}");
    let v: Value = post_json(
        url,
        &json!({"code": "import subprocess\nprint(body, subprocess.run(['curl', '-sS', 'http://api.test/s2'], capture_output=True, text=True).stdout)"}),
    )
    .await;
    assert_eq!(
        v["stdout"], "hello from origin /s1 hello from origin /s2\n",
        "{v}"
    );
    assert_eq!(origin.connections(), 6);
    s.stop();
}
