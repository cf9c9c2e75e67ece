//! `warden bench egress`: HTTPS through warden's egress proxy against the same requests
//! made directly from the host, in the same run.
//!
//! A local HTTPS server (Python's `http.server` over TLS, with a certificate made by
//! `openssl` for this run) serves a body of `--mib` MiB. The same bash loop of `curl`
//! requests (one connection each; `curl -k`, the certificate is self-signed) runs
//! directly on the host and inside `warden run --allow-host bench.test` (the name mapped
//! to the server with the test resolver, as the tests do), interleaved round by round;
//! curl reports each request's own time, so process start-up is not counted. Reported:
//! the median time of a request and the throughput (body size over that time), both ways,
//! the added latency and the throughput ratio.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use anyhow::{anyhow, bail, Context};
use clap::Args;

use super::startup::median;

/// The targets: added latency at the median, and throughput against direct.
const TARGET_ADDED_MS: f64 = 1.0;
const TARGET_THROUGHPUT: f64 = 0.8;

#[derive(Args, Debug)]
pub struct EgressBenchArgs {
    /// Rounds: each runs `--requests` requests directly and as many through the proxy.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Requests per round and way.
    #[arg(long, default_value_t = 20)]
    requests: usize,
    /// MiB of the body.
    #[arg(long, default_value_t = 1)]
    mib: usize,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// The HTTPS server: prints its port, serves `/body` (N bytes) until killed.
const SERVER: &str = r#"
import http.server, socketserver, ssl, sys
size = int(sys.argv[3])
body = b"x" * size
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
s = S(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
s.socket = ctx.wrap_socket(s.socket, server_side=True)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

/// Kills and reaps the server by pid when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The bash loop: one line per request, curl's own `time_total` in seconds.
fn curl_loop(url: &str, requests: usize, extra: &str) -> String {
    format!(
        "for i in $(seq {requests}); do curl -sk {extra} -o /dev/null -w '%{{time_total}} %{{size_download}}\\n' {url} || echo fail; done"
    )
}

/// Request times in ms from a loop's output; fails unless every request got `size` bytes.
fn times(out: &str, size: usize, what: &str) -> anyhow::Result<Vec<f64>> {
    out.lines()
        .map(|l| {
            let mut parts = l.split_whitespace();
            let t: f64 = parts
                .next()
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| anyhow!("{what}: {l:?}"))?;
            let got: usize = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
            if got != size {
                bail!("{what}: a request got {got} of {size} bytes");
            }
            Ok(t * 1000.0)
        })
        .collect()
}

pub fn main(args: EgressBenchArgs) -> i32 {
    match run(&args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("warden bench egress: {e:#}");
            1
        }
    }
}

fn run(args: &EgressBenchArgs) -> anyhow::Result<()> {
    let size = args.mib.max(1) << 20;
    let dir = tempfile::tempdir()?;
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=bench.test",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("openssl (for the test certificate)")?;
    if !status.success() {
        bail!("openssl could not make a certificate");
    }
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", SERVER])
        .arg(&cert)
        .arg(&key)
        .arg(size.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .context("python3 (the HTTPS server)")?;
    let stdout = child.stdout.take().context("server stdout")?;
    let server = Killed(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let port: u16 = line.trim().parse().context("the server's port")?;
    let warden = std::env::current_exe()?;
    let (mut direct, mut proxied) = (Vec::new(), Vec::new());
    for round in 0..args.rounds.max(1) {
        let host = format!("--resolve bench.test:{port}:127.0.0.1");
        let out = Command::new("bash")
            .args([
                "-c",
                &curl_loop(
                    &format!("https://bench.test:{port}/body"),
                    args.requests,
                    &host,
                ),
            ])
            .output()?;
        direct.extend(times(
            &String::from_utf8_lossy(&out.stdout),
            size,
            "direct",
        )?);
        let out = Command::new(&warden)
            .args([
                "run",
                "--lang",
                "bash",
                "--timeout",
                "300",
                "--allow-host",
                "bench.test",
            ])
            .arg("--egress-test-resolve")
            .arg(format!("bench.test=127.0.0.1:{port}"))
            .args([
                "-c",
                &curl_loop("https://bench.test/body", args.requests, ""),
            ])
            .output()?;
        if !out.status.success() {
            bail!(
                "round {round}: warden run failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        proxied.extend(times(
            &String::from_utf8_lossy(&out.stdout),
            size,
            "through the proxy",
        )?);
    }
    drop(server);
    let (d, p) = (median(&mut direct), median(&mut proxied));
    let mb = size as f64 / (1 << 20) as f64;
    let (d_tp, p_tp) = (mb / (d / 1000.0), mb / (p / 1000.0));
    let added = p - d;
    let ratio = p_tp / d_tp;
    let n = direct.len();
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "requests_each_way": n, "body_bytes": size,
                "direct_ms_p50": d, "proxy_ms_p50": p, "added_ms_p50": added,
                "direct_mib_s": d_tp, "proxy_mib_s": p_tp, "throughput_ratio": ratio,
                "target_added_ms": TARGET_ADDED_MS, "target_throughput_ratio": TARGET_THROUGHPUT,
                "met": added <= TARGET_ADDED_MS && ratio >= TARGET_THROUGHPUT,
            })
        );
    } else {
        println!(
            "HTTPS GET of {mb} MiB from a local server, {n} requests each way, one connection each"
        );
        println!("| way | p50 ms | MiB/s |");
        println!("|---|---:|---:|");
        println!("| direct from the host | {d:.2} | {d_tp:.1} |");
        println!("| warden run --allow-host (through the proxy) | {p:.2} | {p_tp:.1} |");
        println!(
            "added latency {added:+.2} ms (target <= {TARGET_ADDED_MS} ms), throughput {:.0}% of direct (target >= {:.0}%)",
            ratio * 100.0,
            TARGET_THROUGHPUT * 100.0
        );
    }
    Ok(())
}
