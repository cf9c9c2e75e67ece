//! The package-index proxy: an HTTP CONNECT proxy that lets a sandbox reach the package
//! index, and nothing else; and, in the second half of this module, the egress proxy
//! that serves sandboxes with network under their policy's rules.
//!
//! A sandbox has its own network namespace with only loopback. For a package install,
//! the jail makes a listening socket on `127.0.0.1:3128` inside that namespace before
//! the installer starts (`Command::listen_inside`, the supervisor's socket), this proxy
//! serves it from the host, and pip and npm run with it as their proxy
//! (`runtimes/python/pip_install.py`). Sandboxes with egress get the same listener,
//! served by [`serve_egress`]; both go through one accept loop.
//!
//! What the proxy accepts is deliberately narrow:
//! - only `CONNECT host:port HTTP/1.1` (or `HTTP/1.0`, which pip sends) whose host and
//!   port match an [`AllowedHost`] exactly (the host case-insensitively; no wildcards, no suffixes);
//! - names are resolved here, on the host; the sandbox never does DNS;
//! - every other request, plain-HTTP proxying (`GET http://…`) included, gets
//!   `403 Forbidden` and is counted as refused. An `http://` index would be reached only
//!   by a client that tunnels to `host:80` with CONNECT; pip does not (it forwards
//!   `GET http://…` to the proxy), so for pip an index must be `https://`.
//! - request heads are bounded in size ([`MAX_HEAD`]) and time, and tunnels in number
//!   ([`MAX_TUNNELS`]); malformed input gets a 4xx reply, never a panic.

use std::io;
use std::net::Ipv6Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::egress::{Direction, Gate, Host};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::either::Either;

/// Longest request head (request line and headers) read, in bytes.
pub const MAX_HEAD: usize = 8 * 1024;
/// Tunnels served at once, at most; connections beyond get `503 Service Unavailable`.
pub const MAX_TUNNELS: usize = 64;
/// Time a client has to send its whole request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed to resolve and connect to the index host.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Distinct refused targets remembered for error messages.
const MAX_REFUSED_TARGETS: usize = 20;
/// Longest refused target quoted in a reply or remembered, in characters.
const MAX_TARGET_CHARS: usize = 200;

/// The reply to a connection beyond [`MAX_TUNNELS`], written without waiting.
const BUSY_REPLY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\
Content-Length: 37\r\nConnection: close\r\n\r\nwarden: too many index connections.\r\n";

/// A host and port a sandbox may open a tunnel to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    /// A DNS name or IP address (an IPv6 address with or without brackets); compared
    /// case-insensitively.
    pub host: String,
    pub port: u16,
}

/// The hosts a `pip install` needs: those of the default index, `pypi.org:443` and
/// `files.pythonhosted.org:443`, plus, when the operator configured an index URL such
/// as `https://mirror.example/simple`, that URL's host and port (443 unless the URL
/// names one). Credentials in the URL are ignored here.
///
/// An `http://` URL is refused: pip does not tunnel plain HTTP through CONNECT, and the
/// proxy serves nothing else.
pub fn allowed_for_index(index_url: Option<&str>) -> Result<Vec<AllowedHost>, String> {
    let mut allowed = vec![
        AllowedHost {
            host: "pypi.org".into(),
            port: 443,
        },
        AllowedHost {
            host: "files.pythonhosted.org".into(),
            port: 443,
        },
    ];
    if let Some(url) = index_url {
        let extra = parse_index_url(url)?;
        if !allowed.contains(&extra) {
            allowed.push(extra);
        }
    }
    Ok(allowed)
}

/// The host and port of an `http(s)://[user[:password]@]host[:port][/path…]` URL.
fn parse_index_url(url: &str) -> Result<AllowedHost, String> {
    let invalid = |why: &str| format!("invalid index URL {:?}: {why}", sanitize(url));
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| invalid("expected http:// or https://"))?;
    let default_port =
        match scheme.to_ascii_lowercase().as_str() {
            "https" => 443,
            "http" => return Err(invalid(
                "the index must be https:// (pip reaches it through the proxy's CONNECT tunnels)",
            )),
            _ => return Err(invalid("the scheme must be https")),
        };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) =
        parse_authority(host_port).ok_or_else(|| invalid("expected a host and optional port"))?;
    Ok(AllowedHost {
        host,
        port: port.unwrap_or(default_port),
    })
}

/// Splits `host[:port]` or `[ipv6][:port]` into a normalised host and the port, if any.
/// `None` if the host holds anything but name characters or the port is not 1–65535.
fn parse_authority(authority: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let address: Ipv6Addr = inside.parse().ok()?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?),
        };
        (address.to_string(), port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let name_chars = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
        if host.is_empty() || host.len() > 253 || !host.chars().all(name_chars) {
            return None;
        }
        (host.to_ascii_lowercase(), port)
    };
    let port = match port {
        None => None,
        Some(p) if (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse::<u16>().ok().filter(|&p| p != 0)?)
        }
        Some(_) => return None,
    };
    Some((host, port))
}

/// The form hosts are compared in: lower case, IPv6 addresses canonical and unbracketed.
fn normalize_host(host: &str) -> String {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    match bare.parse::<Ipv6Addr>() {
        Ok(address) => address.to_string(),
        Err(_) => bare.to_ascii_lowercase(),
    }
}

/// `host:port`, with an IPv6 host in brackets.
fn display_target(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Client-supplied text made safe to quote: printable ASCII only, and not too long.
fn sanitize(text: &str) -> String {
    text.chars()
        .take(MAX_TARGET_CHARS)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// What has happened so far, shared between the proxy's tasks and its handle.
#[derive(Debug, Default)]
struct Counters {
    opened: AtomicU64,
    refused: AtomicU64,
    refused_targets: Mutex<Vec<String>>,
}

impl Counters {
    fn refuse(&self, target: String) {
        self.refused.fetch_add(1, Ordering::Relaxed);
        let mut targets = self
            .refused_targets
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if targets.len() < MAX_REFUSED_TARGETS && !targets.contains(&target) {
            targets.push(target);
        }
    }
}

/// Bounds of one proxy; fixed in production, shortened by tests.
#[derive(Debug, Clone, Copy)]
struct Limits {
    max_tunnels: usize,
    head_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_tunnels: MAX_TUNNELS,
            head_timeout: HEAD_TIMEOUT,
        }
    }
}

/// A proxy's listener, from a sandbox ([`warden_jail::Sandbox::take_listener`]): TCP
/// inside a namespace-tier sandbox's network namespace, or the Unix socket a gVisor
/// sandbox's relay connects to.
#[derive(Debug)]
pub enum ProxyListener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// One connection to a [`ProxyListener`].
pub type ProxyStream = Either<TcpStream, UnixStream>;

impl ProxyListener {
    /// Registers a sandbox's listener with the current tokio runtime.
    pub fn from_jail(listener: warden_jail::Listener) -> io::Result<Self> {
        Ok(match listener {
            warden_jail::Listener::Tcp(l) => {
                l.set_nonblocking(true)?;
                ProxyListener::Tcp(TcpListener::from_std(l)?)
            }
            warden_jail::Listener::Unix(l) => {
                l.set_nonblocking(true)?;
                ProxyListener::Unix(UnixListener::from_std(l)?)
            }
        })
    }

    async fn accept(&self) -> io::Result<ProxyStream> {
        match self {
            ProxyListener::Tcp(l) => l.accept().await.map(|(s, _)| Either::Left(s)),
            ProxyListener::Unix(l) => l.accept().await.map(|(s, _)| Either::Right(s)),
        }
    }
}

/// Writes what a socket's buffer takes at once, without waiting.
fn try_write(stream: &ProxyStream, bytes: &[u8]) {
    let _ = match stream {
        Either::Left(s) => s.try_write(bytes),
        Either::Right(s) => s.try_write(bytes),
    };
}

/// A running index proxy. Dropping it stops it: the listener and every open tunnel are
/// aborted and the socket file is removed.
#[derive(Debug)]
pub struct IndexProxy {
    task: JoinHandle<()>,
    counters: Arc<Counters>,
}

impl IndexProxy {
    /// Serves `listener` (in practice a sandbox's, from `Sandbox::take_listener`) until
    /// dropped; drop aborts the task and the tunnels with it. Must be called within a
    /// tokio runtime.
    pub fn start(listener: warden_jail::Listener, allowed: Vec<AllowedHost>) -> io::Result<Self> {
        Self::start_with(listener, allowed, Limits::default())
    }

    fn start_with(
        listener: warden_jail::Listener,
        allowed: Vec<AllowedHost>,
        limits: Limits,
    ) -> io::Result<Self> {
        let listener = ProxyListener::from_jail(listener)?;
        let allowed: Arc<[AllowedHost]> = allowed
            .into_iter()
            .map(|a| AllowedHost {
                host: normalize_host(&a.host),
                port: a.port,
            })
            .collect();
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(serve(listener, allowed, Arc::clone(&counters), limits));
        Ok(IndexProxy { task, counters })
    }

    /// Tunnels opened (CONNECTs allowed and connected) so far.
    pub fn opened(&self) -> u64 {
        self.counters.opened.load(Ordering::Relaxed)
    }

    /// Requests refused with `403 Forbidden` so far: CONNECTs to hosts not allowed, and
    /// every other method. Malformed, oversized or late heads are answered with 400 or
    /// 408 and not counted here.
    pub fn refused(&self) -> u64 {
        self.counters.refused.load(Ordering::Relaxed)
    }

    /// The first distinct refused targets (`host:port` for a CONNECT, `METHOD target`
    /// otherwise), at most 20, for error messages.
    pub fn refused_targets(&self) -> Vec<String> {
        self.counters
            .refused_targets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for IndexProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Accepts connections until aborted. The tunnels live in a `JoinSet` owned by this
/// task, so aborting it aborts them all.
async fn serve(
    listener: ProxyListener,
    allowed: Arc<[AllowedHost]>,
    counters: Arc<Counters>,
    limits: Limits,
) {
    accept_loop(&listener, limits.max_tunnels, |stream| {
        let (allowed, counters) = (Arc::clone(&allowed), Arc::clone(&counters));
        async move { handle(stream, &allowed, &counters, limits.head_timeout).await }
    })
    .await
}

/// The accept loop of both proxies: each connection is served by `handle` in a task
/// of a `JoinSet` this future owns (dropping or aborting it ends them all); beyond
/// `max_tunnels` at once a connection gets [`BUSY_REPLY`].
async fn accept_loop<H, HF>(listener: &ProxyListener, max_tunnels: usize, handle: H)
where
    H: Fn(ProxyStream) -> HF,
    HF: std::future::Future<Output = ()> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(max_tunnels));
    let mut tunnels = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(stream) => match Arc::clone(&permits).try_acquire_owned() {
                    Ok(permit) => {
                        let served = handle(stream);
                        tunnels.spawn(async move {
                            served.await;
                            drop(permit);
                        });
                    }
                    // A fresh socket's buffer takes the short reply at once; if it
                    // does not, the client just sees the connection close.
                    Err(_) => try_write(&stream, BUSY_REPLY),
                },
                // Typically EMFILE: back off instead of spinning, and keep serving.
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            },
            Some(_) = tunnels.join_next(), if !tunnels.is_empty() => {}
        }
    }
}

/// Why a request head could not be read.
enum HeadError {
    /// The client closed the connection (or it failed) before a complete head.
    Closed,
    /// No `\r\n\r\n` within [`MAX_HEAD`] bytes.
    TooLarge,
}

/// Reads until the end of the request head. Returns the bytes read and the length of
/// the head within them; bytes after it belong to the tunnel.
async fn read_head<S: AsyncRead + Unpin>(client: &mut S) -> Result<(Vec<u8>, usize), HeadError> {
    let mut buf = vec![0; MAX_HEAD];
    let mut filled = 0;
    while filled < MAX_HEAD {
        let n = match client.read(&mut buf[filled..]).await {
            Ok(0) | Err(_) => return Err(HeadError::Closed),
            Ok(n) => n,
        };
        let search_from = filled.saturating_sub(3);
        filled += n;
        if let Some(at) = find(&buf[search_from..filled], b"\r\n\r\n") {
            buf.truncate(filled);
            return Ok((buf, search_from + at + 4));
        }
    }
    Err(HeadError::TooLarge)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A request line, as far as the proxy cares.
#[derive(Debug, PartialEq, Eq)]
enum Request {
    Connect { host: String, port: u16 },
    Other { method: String, target: String },
}

/// Parses the request line at the start of `head`; `Err` names what is wrong with it.
fn parse_request_line(head: &[u8]) -> Result<Request, &'static str> {
    let end = find(head, b"\r\n").ok_or("no request line")?;
    let line = std::str::from_utf8(&head[..end]).map_err(|_| "request line is not ASCII")?;
    if !line.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return Err("request line holds control or non-ASCII characters");
    }
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("expected METHOD TARGET VERSION");
    };
    if method.is_empty() || target.is_empty() {
        return Err("expected METHOD TARGET VERSION");
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err("unsupported HTTP version");
    }
    if method != "CONNECT" {
        return Ok(Request::Other {
            method: method.to_string(),
            target: target.to_string(),
        });
    }
    match parse_authority(target) {
        Some((host, Some(port))) => Ok(Request::Connect { host, port }),
        _ => Err("CONNECT target is not host:port"),
    }
}

fn is_allowed(allowed: &[AllowedHost], host: &str, port: u16) -> bool {
    allowed
        .iter()
        .any(|a| a.port == port && a.host.eq_ignore_ascii_case(host))
}

/// Serves one client connection: reads its head, then refuses it or opens its tunnel.
async fn handle(
    mut client: ProxyStream,
    allowed: &[AllowedHost],
    counters: &Counters,
    head_timeout: Duration,
) {
    let Some((buf, head_len)) = head_or_reply(&mut client, head_timeout).await else {
        return;
    };
    let (host, port) = match parse_request_line(&buf[..head_len]) {
        Ok(Request::Connect { host, port }) => (host, port),
        Ok(Request::Other { method, target }) => {
            let refused = sanitize(&format!("{method} {target}"));
            let body = format!("only CONNECT to the package index is allowed; refused {refused}");
            counters.refuse(refused);
            return reply(&mut client, "403 Forbidden", &body).await;
        }
        Err(why) => return reply(&mut client, "400 Bad Request", why).await,
    };
    let target = display_target(&host, port);
    if !is_allowed(allowed, &host, port) {
        let body = format!("{target} is not an allowed package index host");
        counters.refuse(target);
        return reply(&mut client, "403 Forbidden", &body).await;
    }
    let connect = TcpStream::connect((host.as_str(), port));
    let mut upstream = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(Ok(upstream)) => upstream,
        Ok(Err(e)) => {
            let body = format!("cannot connect to {target}: {e}");
            return reply(&mut client, "502 Bad Gateway", &body).await;
        }
        Err(_) => {
            let body = format!("cannot connect to {target}: timed out");
            return reply(&mut client, "502 Bad Gateway", &body).await;
        }
    };
    if client.write_all(CONNECTED).await.is_err() {
        return;
    }
    counters.opened.fetch_add(1, Ordering::Relaxed);
    // Whatever the client sent right after its head (a TLS ClientHello, say) is the
    // start of the tunnel's traffic.
    let early = &buf[head_len..];
    if !early.is_empty() && upstream.write_all(early).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

const CONNECTED: &[u8] = b"HTTP/1.1 200 Connection established\r\n\r\n";

/// Reads a request head within `head_timeout`; on failure answers the client (400, 408)
/// and gives `None`.
async fn head_or_reply<S: AsyncRead + AsyncWrite + Unpin>(
    client: &mut S,
    head_timeout: Duration,
) -> Option<(Vec<u8>, usize)> {
    match tokio::time::timeout(head_timeout, read_head(client)).await {
        Ok(Ok(head)) => Some(head),
        Ok(Err(HeadError::Closed)) => None,
        Ok(Err(HeadError::TooLarge)) => {
            let body = format!("request head exceeds {MAX_HEAD} bytes");
            reply(client, "400 Bad Request", &body).await;
            None
        }
        Err(_) => {
            let body = "request head not received in time";
            reply(client, "408 Request Timeout", body).await;
            None
        }
    }
}

/// Writes a short plain-text error reply and closes the connection.
async fn reply<S: AsyncWrite + Unpin>(client: &mut S, status: &str, body: &str) {
    let body = format!("warden: {body}\r\n");
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = client.write_all(response.as_bytes()).await;
    let _ = client.shutdown().await;
}

// ------------------------------------------------------------------ sandbox egress

/// Time a tunnel's client has to send its first bytes (a TLS ClientHello or an HTTP
/// request); anything else, or nothing, closes it: only HTTP(S) leaves a sandbox.
const FIRST_BYTES_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes copied at a time through an egress connection.
const RELAY_BUFFER: usize = 64 << 10;

/// Accepts connections on a listener inside a sandbox ([`crate::egress::PROXY_PORT`])
/// and serves each under the sandbox's [`Gate`], until aborted (tunnels included).
pub async fn serve_egress(listener: ProxyListener, gate: Arc<Gate>) {
    accept_loop(&listener, MAX_TUNNELS, |mut stream| {
        let gate = Arc::clone(&gate);
        async move { handle_egress(&mut stream, &gate, HEAD_TIMEOUT).await }
    })
    .await
}

/// The status line of a refusal: the reason in the reason phrase too, since that is what
/// most clients print (`Tunnel connection failed: 403 warden egress: ...`).
fn refusal(target: &str, why: &str) -> String {
    sanitize(&format!("403 warden egress refused {target}: {why}"))
}

/// Serves one connection from a sandbox: `CONNECT host:port` (tunnels for HTTPS) or a
/// plain-HTTP request in absolute form (`GET http://host/path`), under `gate`.
pub async fn handle_egress<S: AsyncRead + AsyncWrite + Unpin>(
    client: &mut S,
    gate: &Gate,
    head_timeout: Duration,
) {
    let Some((buf, head_len)) = head_or_reply(client, head_timeout).await else {
        return;
    };
    let (host, port, forward) = match parse_request_line(&buf[..head_len]) {
        Ok(Request::Connect { host, port }) => (host, port, None),
        Ok(Request::Other { method, target }) => match absolute_http(&target) {
            Some((host, port, path)) => (host, port, Some((method, path))),
            None => {
                let why = "expected CONNECT host:port or a request for an absolute http:// URL";
                return reply(client, "400 Bad Request", why).await;
            }
        },
        Err(why) => return reply(client, "400 Bad Request", why).await,
    };
    let target = display_target(&host, port);
    let parsed = Host::parse(&host);
    let checked = match gate.rules.check_host(&parsed, port) {
        Ok(()) => gate.resolver.resolve(&parsed, port).await,
        Err(why) => Err(why),
    };
    let addresses = match checked {
        Ok(t) => t.addresses,
        Err(why) => {
            gate.deny(&host, port, &why);
            return reply(client, &refusal(&target, &why), &format!("{target}: {why}")).await;
        }
    };
    let index = match gate.open(&host, port, addresses[0]) {
        Ok(i) => i,
        Err(why) => {
            return reply(client, &refusal(&target, &why), &format!("{target}: {why}")).await
        }
    };
    let mut upstream = None;
    let mut last_error = String::from("no address");
    for address in &addresses {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address)).await {
            Ok(Ok(s)) => {
                upstream = Some(s);
                break;
            }
            Ok(Err(e)) => last_error = format!("{address}: {e}"),
            Err(_) => last_error = format!("{address}: timed out"),
        }
    }
    let Some(mut upstream) = upstream else {
        let why = format!("cannot connect to {target} ({last_error})");
        gate.note(index, why.clone());
        return reply(client, "502 Bad Gateway", &why).await;
    };
    let _ = upstream.set_nodelay(true);
    let early = &buf[head_len..];
    let one_request = forward.is_some();
    match forward {
        None => {
            if client.write_all(CONNECTED).await.is_err() {
                return;
            }
            // The tunnel's first bytes must open TLS or HTTP.
            let mut first = early.to_vec();
            if first.is_empty() {
                let mut b = vec![0u8; 4096];
                match tokio::time::timeout(FIRST_BYTES_TIMEOUT, client.read(&mut b)).await {
                    Ok(Ok(n)) if n > 0 => first.extend_from_slice(&b[..n]),
                    _ => {
                        gate.note(index, "the tunnel's client sent nothing".into());
                        return;
                    }
                }
            }
            if !opens_tls_or_http(&first) {
                gate.note(
                    index,
                    "refused: the tunnel carried neither TLS nor HTTP".into(),
                );
                return;
            }
            if !gate.count(index, Direction::Out, first.len() as u64)
                || upstream.write_all(&first).await.is_err()
            {
                return;
            }
        }
        Some((method, path)) => {
            let head = origin_form_head(&buf[..head_len], &method, &path);
            if !gate.count(index, Direction::Out, (head.len() + early.len()) as u64)
                || upstream.write_all(&head).await.is_err()
                || upstream.write_all(early).await.is_err()
            {
                return;
            }
        }
    }
    relay_counted(client, &mut upstream, gate, index, one_request).await;
}

/// Whether a tunnel's first bytes open a TLS handshake or an HTTP/1 request.
fn opens_tls_or_http(first: &[u8]) -> bool {
    const METHODS: [&[u8]; 9] = [
        b"GET ",
        b"HEAD ",
        b"POST ",
        b"PUT ",
        b"DELETE ",
        b"OPTIONS ",
        b"PATCH ",
        b"TRACE ",
        b"PRI * HTTP/2",
    ];
    (first.len() >= 3 && first[0] == 0x16 && first[1] == 0x03)
        || METHODS
            .iter()
            .any(|m| first.starts_with(m) || (first.len() < m.len() && m.starts_with(first)))
}

/// `http://host[:port][/path]` split into the host, the port (80 by default) and the
/// origin-form path (`/` when empty).
fn absolute_http(target: &str) -> Option<(String, u16, String)> {
    let rest = target.strip_prefix("http://").or_else(|| {
        target
            .get(..7)
            .filter(|p| p.eq_ignore_ascii_case("http://"))
            .map(|_| &target[7..])
    })?;
    let cut = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(cut);
    if authority.contains('@') {
        return None;
    }
    let (host, port) = parse_authority(authority)?;
    let path = match path {
        "" => "/".to_string(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_string(),
    };
    Some((host, port.unwrap_or(80), path))
}

/// The request head for the origin server: the request line in origin form, hop-by-hop
/// and proxy headers dropped, one request per connection.
fn origin_form_head(head: &[u8], method: &str, path: &str) -> Vec<u8> {
    let mut lines = head.split(|&b| b == b'\n');
    let request_line = lines.next().unwrap_or_default();
    let version = if request_line.ends_with(b"HTTP/1.0\r") {
        "HTTP/1.0"
    } else {
        "HTTP/1.1"
    };
    let mut out = format!("{method} {path} {version}\r\n").into_bytes();
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let name = line.split(|&b| b == b':').next().unwrap_or_default();
        let drop = [
            b"proxy-connection".as_slice(),
            b"proxy-authorization",
            b"connection",
            b"keep-alive",
        ]
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h));
        if !drop {
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out
}

/// Copies both ways, counting every chunk against the gate; stops both directions when
/// `max_bytes` is exceeded.
async fn relay_counted<S: AsyncRead + AsyncWrite + Unpin>(
    client: &mut S,
    upstream: &mut TcpStream,
    gate: &Gate,
    index: usize,
    one_request: bool,
) {
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut ur, mut uw) = upstream.split();
    let out = pump(&mut cr, &mut uw, gate, index, Direction::Out);
    let back = pump(&mut ur, &mut cw, gate, index, Direction::In);
    if one_request {
        // The origin closes after its response (`Connection: close`); so does the
        // client's side then, whatever the client keeps open.
        tokio::pin!(out, back);
        loop {
            tokio::select! {
                r = &mut out => if r.is_err() { return },
                _ = &mut back => return,
            }
        }
    }
    let _ = tokio::try_join!(out, back);
}

async fn pump<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    from: &mut R,
    to: &mut W,
    gate: &Gate,
    index: usize,
    direction: Direction,
) -> io::Result<()> {
    let mut buf = vec![0u8; RELAY_BUFFER];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            let _ = to.shutdown().await;
            return Ok(());
        }
        if !gate.count(index, direction, n as u64) {
            return Err(io::Error::other("max_bytes"));
        }
        to.write_all(&buf[..n]).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every test finishes within this, or fails.
    const TEST_TIMEOUT: Duration = Duration::from_secs(20);

    /// A TCP echo server on 127.0.0.1; returns its port.
    async fn echo_server() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
        let port = listener.local_addr().expect("echo addr").port();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = stream.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        port
    }

    /// A listener on a free loopback port, as a sandbox's would be, and its address.
    fn bound() -> (warden_jail::Listener, std::net::SocketAddr) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        (warden_jail::Listener::Tcp(listener), addr)
    }

    fn local(port: u16) -> Vec<AllowedHost> {
        vec![AllowedHost {
            host: "127.0.0.1".into(),
            port,
        }]
    }

    /// Reads from `stream` until `want` bytes have arrived past the end of the reply
    /// head; returns the head (as text) and those bytes.
    async fn read_reply<S: tokio::io::AsyncRead + Unpin>(
        stream: &mut S,
        want: usize,
    ) -> (String, Vec<u8>) {
        let mut buf = Vec::new();
        let mut chunk = [0; 4096];
        loop {
            if let Some(at) = find(&buf, b"\r\n\r\n") {
                if buf.len() >= at + 4 + want {
                    let head = String::from_utf8_lossy(&buf[..at + 4]).into_owned();
                    return (head, buf[at + 4..].to_vec());
                }
            }
            let n = stream.read(&mut chunk).await.expect("read reply");
            assert!(
                n > 0,
                "closed early after {:?}",
                String::from_utf8_lossy(&buf)
            );
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends `request` on a new connection and returns everything until the proxy closes.
    async fn exchange(socket: std::net::SocketAddr, request: &[u8]) -> String {
        let mut stream = TcpStream::connect(socket).await.expect("connect proxy");
        // The proxy may answer and close before it reads everything (oversized heads).
        let _ = stream.write_all(request).await;
        let _ = stream.shutdown().await;
        let mut out = Vec::new();
        let _ = stream.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    async fn within<F: std::future::Future>(f: F) -> F::Output {
        tokio::time::timeout(TEST_TIMEOUT, f)
            .await
            .expect("test timed out")
    }

    #[tokio::test]
    async fn tunnel_round_trips_bytes_including_those_sent_with_the_head() {
        within(async {
            let port = echo_server().await;
            let (listener, socket) = bound();
            let proxy = IndexProxy::start(listener, local(port)).expect("start");

            let mut stream = TcpStream::connect(socket).await.expect("connect");
            let request = format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: x\r\n\r\nearly");
            stream.write_all(request.as_bytes()).await.expect("write");
            let (head, echoed) = read_reply(&mut stream, 5).await;
            assert_eq!(head, "HTTP/1.1 200 Connection established\r\n\r\n");
            assert_eq!(echoed, b"early");

            stream.write_all(b"later").await.expect("write");
            let mut later = [0; 5];
            stream.read_exact(&mut later).await.expect("read");
            assert_eq!(&later, b"later");
            assert_eq!((proxy.opened(), proxy.refused()), (1, 0));
        })
        .await;
    }

    #[tokio::test]
    async fn connect_to_a_host_not_allowed_is_refused() {
        within(async {
            let port = echo_server().await;
            let (listener, socket) = bound();
            let proxy = IndexProxy::start(listener, local(port)).expect("start");

            let reply = exchange(socket, b"CONNECT example.com:443 HTTP/1.1\r\n\r\n").await;
            assert!(reply.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{reply}");
            assert!(reply.contains("example.com:443"), "{reply}");
            // Same host, another port; and a name that merely contains the allowed one.
            let other = format!("CONNECT 127.0.0.1:{} HTTP/1.0\r\n\r\n", port ^ 1);
            assert!(exchange(socket, other.as_bytes()).await.contains(" 403 "));
            let suffix = format!("CONNECT 127.0.0.1.evil:{port} HTTP/1.1\r\n\r\n");
            assert!(exchange(socket, suffix.as_bytes()).await.contains(" 403 "));
            // Repeats are counted but listed once.
            exchange(socket, b"CONNECT example.com:443 HTTP/1.1\r\n\r\n").await;

            assert_eq!((proxy.opened(), proxy.refused()), (0, 4));
            let targets = proxy.refused_targets();
            assert_eq!(targets.len(), 3);
            assert_eq!(targets[0], "example.com:443");
            assert_eq!(targets[2], format!("127.0.0.1.evil:{port}"));
        })
        .await;
    }

    #[tokio::test]
    async fn plain_http_requests_are_refused_even_to_an_allowed_host() {
        within(async {
            let port = echo_server().await;
            let (listener, socket) = bound();
            let proxy = IndexProxy::start(listener, local(port)).expect("start");

            let get = format!("GET http://127.0.0.1:{port}/simple/ HTTP/1.1\r\nHost: x\r\n\r\n");
            let reply = exchange(socket, get.as_bytes()).await;
            assert!(reply.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{reply}");
            assert!(reply.contains("GET http://127.0.0.1"), "{reply}");
            assert_eq!((proxy.opened(), proxy.refused()), (0, 1));
            assert_eq!(
                proxy.refused_targets(),
                [format!("GET http://127.0.0.1:{port}/simple/")]
            );
        })
        .await;
    }

    #[tokio::test]
    async fn malformed_and_oversized_heads_get_an_error_reply() {
        within(async {
            let port = echo_server().await;
            let (listener, socket) = bound();
            let proxy = IndexProxy::start(listener, local(port)).expect("start");

            let oversized = vec![b'A'; MAX_HEAD + 100];
            let nul_in_line = format!("CONNECT 127.0.0.1:{port}\0 HTTP/1.1\r\n\r\n");
            let bad: [&[u8]; 12] = [
                b"\x00\xff\xfe garbage\r\n\r\n",
                b"\r\n\r\n",
                b"CONNECT HTTP/1.1\r\n\r\n",
                b"CONNECT  127.0.0.1:1 HTTP/1.1\r\n\r\n",
                b"CONNECT nohostport HTTP/1.1\r\n\r\n",
                b"CONNECT a:b:c HTTP/1.1\r\n\r\n",
                b"CONNECT 127.0.0.1:99999 HTTP/1.1\r\n\r\n",
                b"CONNECT 127.0.0.1:0 HTTP/1.1\r\n\r\n",
                b"CONNECT [::1 HTTP/1.1\r\n\r\n",
                b"CONNECT 127.0.0.1:1 HTTP/2\r\n\r\n",
                nul_in_line.as_bytes(),
                &oversized,
            ];
            for request in bad {
                let reply = exchange(socket, request).await;
                assert!(reply.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{reply}");
            }
            // A client that leaves mid-head gets nothing and costs nothing.
            assert_eq!(exchange(socket, b"CONNECT 127.0.0.1:1").await, "");
            assert_eq!((proxy.opened(), proxy.refused()), (0, 0));

            // The proxy still serves.
            let ok = format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n");
            let mut stream = TcpStream::connect(socket).await.expect("connect");
            stream.write_all(ok.as_bytes()).await.expect("write");
            let (head, _) = read_reply(&mut stream, 0).await;
            assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
        })
        .await;
    }

    #[tokio::test]
    async fn a_head_not_sent_in_time_gets_408() {
        within(async {
            let (listener, socket) = bound();
            let limits = Limits {
                head_timeout: Duration::from_millis(200),
                ..Limits::default()
            };
            let _proxy = IndexProxy::start_with(listener, local(1), limits).expect("start");
            let mut stream = TcpStream::connect(socket).await.expect("connect");
            stream.write_all(b"CONNECT 127.0").await.expect("write");
            let mut reply = String::new();
            stream.read_to_string(&mut reply).await.expect("read");
            assert!(reply.starts_with("HTTP/1.1 408 "), "{reply}");
        })
        .await;
    }

    #[tokio::test]
    async fn connections_beyond_the_limit_get_503() {
        within(async {
            let port = echo_server().await;
            let (listener, socket) = bound();
            let limits = Limits {
                max_tunnels: 1,
                ..Limits::default()
            };
            let _proxy = IndexProxy::start_with(listener, local(port), limits).expect("start");

            let mut first = TcpStream::connect(socket).await.expect("connect");
            let ok = format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n");
            first.write_all(ok.as_bytes()).await.expect("write");
            read_reply(&mut first, 0).await;
            let reply = exchange(socket, ok.as_bytes()).await;
            assert!(reply.starts_with("HTTP/1.1 503 "), "{reply}");
            let body_at = reply.find("\r\n\r\n").expect("head end") + 4;
            assert!(reply.contains(&format!("Content-Length: {}\r\n", reply.len() - body_at)));
            assert!(reply[body_at..].starts_with("warden: "), "{reply}");

            // Once the first tunnel closes, its slot is free again.
            drop(first);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            loop {
                let mut s = TcpStream::connect(socket).await.expect("connect");
                s.write_all(ok.as_bytes()).await.expect("write");
                let mut head = [0; 12];
                s.read_exact(&mut head).await.expect("read");
                if &head == b"HTTP/1.1 200" {
                    break;
                }
                assert!(tokio::time::Instant::now() < deadline, "slot never freed");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    }

    #[tokio::test]
    async fn an_unreachable_index_gets_502() {
        within(async {
            let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let port = closed.local_addr().expect("addr").port();
            drop(closed);
            let (listener, socket) = bound();
            let proxy = IndexProxy::start(listener, local(port)).expect("start");
            let request = format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n");
            let reply = exchange(socket, request.as_bytes()).await;
            assert!(reply.starts_with("HTTP/1.1 502 Bad Gateway\r\n"), "{reply}");
            assert_eq!((proxy.opened(), proxy.refused()), (0, 0));
        })
        .await;
    }

    #[test]
    fn hosts_match_exactly_and_case_insensitively() {
        let allowed = allowed_for_index(None).expect("default");
        assert!(is_allowed(&allowed, "pypi.org", 443));
        assert!(is_allowed(&allowed, "PyPI.ORG", 443));
        assert!(!is_allowed(&allowed, "pypi.org", 80));
        assert!(!is_allowed(&allowed, "evil.pypi.org", 443));
        assert!(!is_allowed(&allowed, "pypi.org.", 443));
        assert!(!is_allowed(&allowed, "pythonhosted.org", 443));
        assert_eq!(
            parse_request_line(b"CONNECT PyPI.org:443 HTTP/1.1\r\n"),
            Ok(Request::Connect {
                host: "pypi.org".into(),
                port: 443
            })
        );
        assert_eq!(
            parse_request_line(b"CONNECT [::1]:443 HTTP/1.1\r\n"),
            Ok(Request::Connect {
                host: "::1".into(),
                port: 443
            })
        );
        assert_eq!(normalize_host("[0:0::1]"), "::1");
        assert_eq!(display_target("::1", 443), "[::1]:443");
    }

    #[test]
    fn allowed_for_index_parses_index_urls() {
        let default = allowed_for_index(None).expect("default");
        let pairs = |v: Vec<AllowedHost>| -> Vec<String> {
            v.iter().map(|a| display_target(&a.host, a.port)).collect()
        };
        assert_eq!(
            pairs(default.clone()),
            ["pypi.org:443", "files.pythonhosted.org:443"]
        );
        let cases = [
            ("https://mirror.example/simple", "mirror.example:443"),
            ("HTTPS://Mirror.Example", "mirror.example:443"),
            ("https://mirror.example:8443/simple", "mirror.example:8443"),
            (
                "https://user:p%40ss@mirror.example/simple",
                "mirror.example:443",
            ),
            ("https://10.0.0.5:3141/root/pypi/+simple/", "10.0.0.5:3141"),
            ("https://[2001:db8::1]:8443/simple", "[2001:db8::1]:8443"),
            ("https://mirror.example?x=1", "mirror.example:443"),
        ];
        for (url, want) in cases {
            let got = pairs(allowed_for_index(Some(url)).expect(url));
            assert_eq!(got.len(), 3, "{url}");
            assert_eq!(got[2], want, "{url}");
        }
        // The default index named again adds nothing.
        assert_eq!(
            allowed_for_index(Some("https://pypi.org/simple")).expect("pypi"),
            default
        );
    }

    #[test]
    fn allowed_for_index_rejects_nonsense() {
        for url in [
            "",
            "mirror.example",
            "ftp://mirror.example/",
            "http://mirror.example/simple/",
            "file:///srv/index",
            "https://",
            "https:///simple",
            "https://mirror.example:/simple",
            "https://mirror.example:0/",
            "https://mirror.example:65536/",
            "https://mirror.example:443x/",
            "https://mirror example/",
            "https://mirror.example\n/",
            "https://[not-v6]/",
            "https://a:b:c/",
        ] {
            let err = allowed_for_index(Some(url)).expect_err(url);
            assert!(err.starts_with("invalid index URL"), "{err}");
        }
    }
}
