//! The files API of `warden serve`: byte-exact round trips, streaming of large files,
//! every path trick refused, and the files of one-shot executions.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine as _;
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::serve::{client, create, exec, plain, Server};

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Deterministic bytes covering every value.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

async fn put(s: &Server, id: &str, path: &str, data: Vec<u8>) -> (StatusCode, Value) {
    let r = client()
        .put(s.url(&format!("/v1/sessions/{id}/files/{path}")))
        .body(data)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn get(s: &Server, id: &str, path: &str) -> (StatusCode, Vec<u8>) {
    let r = client()
        .get(s.url(&format!("/v1/sessions/{id}/files/{path}")))
        .send()
        .await
        .unwrap();
    (r.status(), r.bytes().await.unwrap().to_vec())
}

fn code_of(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_string))
        .unwrap_or_else(|| format!("<no error body: {:?}>", String::from_utf8_lossy(body)))
}

/// A request written byte for byte, so that no client library normalises `..` or `//`
/// out of the path first.
fn raw(s: &Server, method: &str, target: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let addr = s.base.trim_start_matches("http://");
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        conn,
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    conn.write_all(body).unwrap();
    let mut resp = Vec::new();
    conn.read_to_end(&mut resp).unwrap();
    let text = String::from_utf8_lossy(&resp);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body_at = text.find("\r\n\r\n").map(|i| i + 4).unwrap_or(resp.len());
    (status, resp[body_at..].to_vec())
}

#[tokio::test]
async fn files_round_trip_byte_exact() {
    let mut s = Server::start(&[]);
    let id = create(&s, json!({})).await;
    let big = pattern(10 << 20, 7);
    for (path, data) in [
        ("one.bin", vec![0xffu8]),
        ("empty", vec![]),
        ("dir/sub/big.bin", big.clone()),
        ("ünïcode name.txt", "héllo\n".as_bytes().to_vec()),
    ] {
        let (status, entry) = put(&s, &id, path, data.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{path}: {entry}");
        assert_eq!(entry["size"], data.len(), "{path}");
        let (status, back) = get(&s, &id, path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(back == data, "{path} came back different");
    }
    // The sandboxed code sees the same bytes, and can change what was uploaded.
    let (_, v) = exec(
        &s,
        &id,
        "import hashlib, os\n\
         d = open('/workspace/dir/sub/big.bin','rb').read()\n\
         open('/workspace/one.bin','ab').write(b'\\x00')\n\
         (len(d), hashlib.sha256(d).hexdigest(), open('one.bin','rb').read())",
    )
    .await;
    let sha = {
        let out = std::process::Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        out.stdin.as_ref().unwrap().write_all(&big).unwrap();
        let o = out.wait_with_output().unwrap();
        String::from_utf8(o.stdout).unwrap()[..64].to_string()
    };
    assert_eq!(plain(&v), format!("({}, '{sha}', b'\\xff\\x00')", 10 << 20));
    // A file the code wrote comes back byte-exact.
    exec(&s, &id, "open('made.bin','wb').write(bytes(range(256))*3)").await;
    let (status, made) = get(&s, &id, "made.bin").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(made, (0..=255u8).cycle().take(768).collect::<Vec<_>>());

    // Listing: names, sizes, types, mtimes.
    let r = client()
        .get(s.url(&format!("/v1/sessions/{id}/files")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let list: Value = r.json().await.unwrap();
    let entries = list["entries"].as_array().unwrap();
    let find = |name: &str| entries.iter().find(|e| e["name"] == name).cloned();
    assert_eq!(find("one.bin").unwrap()["size"], 2);
    assert_eq!(find("dir").unwrap()["type"], "directory");
    assert_eq!(find("made.bin").unwrap()["type"], "file");
    assert!(find("made.bin").unwrap()["mtime"].as_f64().unwrap() > 1.7e9);
    let r = client()
        .get(s.url(&format!("/v1/sessions/{id}/files?path=dir/sub")))
        .send()
        .await
        .unwrap();
    let list: Value = r.json().await.unwrap();
    assert_eq!(list["entries"][0]["path"], "dir/sub/big.bin");
    assert_eq!(list["entries"][0]["size"], 10 << 20);

    // Delete a file, then a directory tree.
    for path in ["one.bin", "dir"] {
        let r = client()
            .delete(s.url(&format!("/v1/sessions/{id}/files/{path}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }
    let (status, body) = get(&s, &id, "dir/sub/big.bin").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(code_of(&body), "FILE_NOT_FOUND");
    let (_, v) = exec(&s, &id, "sorted(os.listdir('/workspace'))").await;
    assert_eq!(plain(&v), "['empty', 'made.bin', 'ünïcode name.txt']");
    s.stop();
}

#[tokio::test]
async fn every_path_trick_is_refused() {
    let mut s = Server::start(&[]);
    let id = create(&s, json!({})).await;
    // Things the sandboxed code plants: symlinks out, up and around, a fifo, a deep
    // symlinked directory, and a real file behind a symlink inside the workspace.
    let (status, v) = exec(
        &s,
        &id,
        "import os\n\
         os.symlink('/etc/passwd', 'passwd')\n\
         os.symlink('/', 'root')\n\
         os.symlink('..', 'up')\n\
         os.makedirs('d')\n\
         os.symlink('/etc', 'd/etc')\n\
         open('real.txt', 'w').write('real')\n\
         os.symlink('real.txt', 'inner')\n\
         os.mkfifo('fifo')\n\
         sorted(os.listdir('.'))",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let base = format!("/v1/sessions/{id}/files");
    let cases: Vec<(&str, String, u16, &str)> = vec![
        // Syntax: refused before anything is opened.
        (
            "GET",
            format!("{base}/../../../etc/passwd"),
            400,
            "INVALID_PATH",
        ),
        (
            "GET",
            format!("{base}/%2e%2e/%2e%2e/etc/passwd"),
            400,
            "INVALID_PATH",
        ),
        (
            "GET",
            format!("{base}/d/%2E%2E/%2E%2E/x"),
            400,
            "INVALID_PATH",
        ),
        ("GET", format!("{base}//etc/passwd"), 400, "INVALID_PATH"),
        (
            "GET",
            format!("{base}/%2Fetc%2Fpasswd"),
            400,
            "INVALID_PATH",
        ),
        ("GET", format!("{base}/a%00b"), 400, "INVALID_PATH"),
        ("GET", format!("{base}/./real.txt"), 400, "INVALID_PATH"),
        ("GET", format!("{base}?path=.."), 400, "INVALID_PATH"),
        ("GET", format!("{base}?path=/etc"), 400, "INVALID_PATH"),
        ("PUT", format!("{base}/../escape.txt"), 400, "INVALID_PATH"),
        (
            "PUT",
            format!("{base}/%2e%2e/escape.txt"),
            400,
            "INVALID_PATH",
        ),
        ("DELETE", format!("{base}/%2e%2e"), 400, "INVALID_PATH"),
        // Symlinks are never followed, wherever they are in the path.
        ("GET", format!("{base}/passwd"), 403, "PATH_FORBIDDEN"),
        (
            "GET",
            format!("{base}/root/etc/passwd"),
            403,
            "PATH_FORBIDDEN",
        ),
        (
            "GET",
            format!("{base}/up/etc/passwd"),
            403,
            "PATH_FORBIDDEN",
        ),
        ("GET", format!("{base}/d/etc/passwd"), 403, "PATH_FORBIDDEN"),
        ("GET", format!("{base}/inner"), 403, "PATH_FORBIDDEN"),
        ("GET", format!("{base}?path=root"), 403, "PATH_FORBIDDEN"),
        ("GET", format!("{base}?path=d/etc"), 403, "PATH_FORBIDDEN"),
        (
            "PUT",
            format!("{base}/root/tmp/planted"),
            403,
            "PATH_FORBIDDEN",
        ),
        (
            "PUT",
            format!("{base}/d/etc/planted"),
            403,
            "PATH_FORBIDDEN",
        ),
        (
            "DELETE",
            format!("{base}/root/etc/hostname"),
            403,
            "PATH_FORBIDDEN",
        ),
        // A fifo is refused at once, never waited on.
        ("GET", format!("{base}/fifo"), 403, "PATH_FORBIDDEN"),
        // A directory is not a file, and the workspace itself is not deletable.
        ("GET", format!("{base}/d"), 400, "INVALID_PATH"),
        ("PUT", format!("{base}/d"), 400, "INVALID_PATH"),
        ("DELETE", format!("{base}/%2e"), 400, "INVALID_PATH"),
        ("GET", format!("{base}/real.txt/x"), 400, "INVALID_PATH"),
        ("GET", format!("{base}/missing"), 404, "FILE_NOT_FOUND"),
        (
            "GET",
            "/v1/sessions/ses_nope/files/x".to_string(),
            404,
            "SESSION_NOT_FOUND",
        ),
    ];
    for (method, target, want, code) in &cases {
        let (status, body) = raw(&s, method, target, b"planted");
        assert_eq!(
            (status, code_of(&body).as_str()),
            (*want, *code),
            "{method} {target}"
        );
    }
    // Nothing was written outside, and what the links point to is untouched.
    assert!(!std::path::Path::new("/tmp/planted").exists());
    assert!(!std::path::Path::new("/etc/planted").exists());
    // Deleting a symlink removes the link only; the host file it named is intact.
    for link in ["passwd", "root", "inner"] {
        let (status, _) = raw(&s, "DELETE", &format!("{base}/{link}"), b"");
        assert_eq!(status, 204, "DELETE {link}");
    }
    assert!(std::fs::metadata("/etc/passwd").unwrap().len() > 0);
    assert!(std::path::Path::new("/etc/hostname").exists());
    let (_, v) = exec(&s, &id, "sorted(os.listdir('.')), open('real.txt').read()").await;
    assert_eq!(plain(&v), "(['d', 'fifo', 'real.txt', 'up'], 'real')");
    // Writing where a symlink was replaces the link, never its target.
    exec(&s, &id, "os.symlink('/etc/hostname', 'host')").await;
    let (status, _) = put(&s, &id, "host", b"mine".to_vec()).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, v) = exec(&s, &id, "os.path.islink('host'), open('host').read()").await;
    assert_eq!(plain(&v), "(False, 'mine')");
    s.stop();
}

#[tokio::test]
async fn uploads_over_the_workspace_size_get_413() {
    let mut s = Server::start(&[]);
    let id = create(&s, json!({"disk_mb": 1})).await;
    // Known size: refused before any byte is written.
    let (status, v) = put(&s, &id, "big", vec![1u8; 3 << 20]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_eq!(v["error"]["code"], "PAYLOAD_TOO_LARGE");
    // Unknown size (chunked): refused when the workspace fills, and nothing is left.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..48).map(|_| Ok(vec![2u8; 64 << 10])).collect();
    let r = client()
        .put(s.url(&format!("/v1/sessions/{id}/files/chunked")))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let (_, v) = exec(&s, &id, "import os; os.listdir('/workspace')").await;
    assert_eq!(plain(&v), "[]");
    // Session limits beyond the server's maximum are refused.
    let r = client()
        .post(s.url("/v1/sessions"))
        .json(&json!({"disk_mb": 1 << 30}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    s.stop();
}

/// Peak resident memory of a process, from /proc.
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

#[tokio::test]
async fn a_one_gib_file_streams_through_without_being_held_in_memory() {
    const SIZE: u64 = 1 << 30;
    const CHUNK: usize = 1 << 20;
    let mut s = Server::start(&[]);
    let id = create(&s, json!({"disk_mb": 1100})).await;
    let chunk = pattern(CHUNK, 3);
    let body = futures_util::stream::iter(
        (0..SIZE / CHUNK as u64).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
    );
    let r = client()
        .put(s.url(&format!("/v1/sessions/{id}/files/huge.bin")))
        .header(reqwest::header::CONTENT_LENGTH, SIZE)
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = client()
        .get(s.url(&format!("/v1/sessions/{id}/files/huge.bin")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.content_length(), Some(SIZE));
    let expected = pattern(CHUNK, 3);
    let (mut got, mut pending) = (0u64, Vec::new());
    let mut stream = r.bytes_stream();
    while let Some(part) = stream.next().await {
        pending.extend_from_slice(&part.unwrap());
        while pending.len() >= CHUNK {
            assert!(pending[..CHUNK] == expected[..], "chunk at {got} differs");
            pending.drain(..CHUNK);
            got += CHUNK as u64;
        }
    }
    assert_eq!((got, pending.len()), (SIZE, 0));
    let peak = peak_rss_kib(s.pid());
    assert!(
        peak < 256 << 10,
        "the server's peak RSS was {peak} KiB for a 1 GiB round trip"
    );
    s.stop();
}

#[tokio::test]
async fn one_shot_files_in_and_changed_files_out() {
    let mut s = Server::start(&[]);
    let png_like = pattern(300, 9);
    let r = client()
        .post(s.url("/v1/execute"))
        .json(&json!({
            "code": "import os\n\
                     rows = open('in.csv').read().split()\n\
                     open('out.txt', 'w').write(str(len(rows)))\n\
                     os.makedirs('sub')\n\
                     open('sub/out.bin', 'wb').write(open('blob', 'rb').read()[::-1])\n\
                     open('large.txt', 'w').write('x' * 100000)\n\
                     open('in.csv', 'r').read()[:3]",
            "files": {
                "in.csv": "a,b\n1,2\n3,4\n",
                "blob": {"content": b64(&png_like), "encoding": "base64"},
                "untouched.txt": "same"
            }
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(plain(&v), "'a,b'", "{v}");
    let files = v["files"].as_array().unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(paths, vec!["large.txt", "out.txt", "sub/out.bin"]);
    assert_eq!(files[0]["size"], 100000);
    assert!(files[0].get("content").is_none(), "large content inlined");
    assert_eq!(
        (files[1]["content"].as_str(), files[1]["encoding"].as_str()),
        (Some("3"), Some("utf-8"))
    );
    let mut reversed = png_like.clone();
    reversed.reverse();
    assert_eq!(files[2]["encoding"], "base64");
    assert_eq!(files[2]["content"].as_str().unwrap(), b64(&reversed));

    // Bad inline files are refused with 400 before any sandbox is used.
    for files in [
        json!({"../x": "a"}),
        json!({"x": {"content": "@@@", "encoding": "base64"}}),
        json!({"x": {"content": "a", "encoding": "rot13"}}),
    ] {
        let r = client()
            .post(s.url("/v1/execute"))
            .json(&json!({"code": "1", "files": files}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{files}");
    }
    s.stop();
}
