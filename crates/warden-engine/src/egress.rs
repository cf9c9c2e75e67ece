//! Network egress for sandboxes: the rules a tenant's policy sets (`egress`), and the
//! decision and accounting of warden's proxy ([`crate::index_proxy`] serves both the
//! package installer and sandboxes with it).
//!
//! A sandbox with egress has no route out of its network namespace: the supervisor
//! listens on `127.0.0.1:`[`PROXY_PORT`] *inside* it (see
//! `warden_jail::Command::listen_inside`) and each connection there is handled here, on
//! the host. The program reaches it through `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY`
//! ([`proxy_env`]). For each request the proxy
//!
//! 1. checks the host against the deny patterns, then the allow patterns (a raw IP
//!    address only matches an entry naming its network);
//! 2. resolves a name itself (the sandbox never does DNS), once;
//! 3. checks every resolved address against [`blocked_address`] (loopback, private,
//!    link-local, CGNAT, multicast, ULA/site-local, cloud metadata, ...): any blocked
//!    address refuses the request;
//! 4. connects to a checked address, never resolving again (no DNS rebinding);
//! 5. counts connections and bytes against the execution's `max_connections` and
//!    `max_bytes`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use ipnet::IpNet;
use prometheus_client::metrics::counter::Counter;
use serde::{Deserialize, Serialize};
use warden_protocol::{EgressConnection, EgressReport, ErrorCode};

/// The port the proxy listens on inside a sandbox with egress (`127.0.0.1`).
pub const PROXY_PORT: u16 = 3128;
/// Connections kept in an execution's report; the counts go on beyond.
pub const MAX_REPORTED: usize = 100;
/// Longest allowlist accepted, in entries.
pub const MAX_ENTRIES: usize = 256;

/// Placed at `/run/warden/egress.cjs` in JavaScript sandboxes with egress: points node's
/// `fetch` at the proxy (see `runtimes/javascript/egress.cjs`).
pub const NODE_FETCH_HOOK: &str = include_str!("../../../runtimes/javascript/egress.cjs");
/// The name of [`NODE_FETCH_HOOK`] under `/run/warden`.
pub const NODE_FETCH_HOOK_FILE: &str = "egress.cjs";

/// Sets a jail command up for egress: the listener inside, the proxy environment, and
/// for node the fetch hook (`hook_args`: also load it from the command line, for a plain
/// `node FILE` rather than the agent, which loads it itself).
pub fn prepare_command(cmd: &mut warden_jail::Command, node: bool, hook_args: bool) {
    cmd.listen_inside = Some(PROXY_PORT);
    cmd.env.extend(proxy_env());
    if node {
        cmd.files.push((
            NODE_FETCH_HOOK_FILE.into(),
            NODE_FETCH_HOOK.as_bytes().to_vec(),
        ));
        if hook_args {
            let hook = format!("/run/warden/{NODE_FETCH_HOOK_FILE}");
            for (i, a) in ["--expose-internals", "--require", hook.as_str()]
                .into_iter()
                .enumerate()
            {
                cmd.args.insert(i, a.to_string());
            }
        }
    }
}

/// The environment that points a sandbox's HTTP clients at the proxy: the upper- and
/// lower-case spellings (curl reads only `http_proxy` for plain HTTP), and loopback left
/// direct so that a server the program starts itself stays reachable.
pub fn proxy_env() -> Vec<(String, String)> {
    let url = format!("http://127.0.0.1:{PROXY_PORT}");
    let mut env = Vec::new();
    for name in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"] {
        env.push((name.to_string(), url.clone()));
        env.push((name.to_ascii_lowercase(), url.clone()));
    }
    let direct = "localhost,127.0.0.1,::1".to_string();
    env.push(("NO_PROXY".into(), direct.clone()));
    env.push(("no_proxy".into(), direct));
    env.push(("WARDEN_EGRESS".into(), "1".into()));
    env
}

/// A tenant's `egress` policy (docs/NETWORK.md). Absent: no network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressPolicy {
    /// Host patterns a sandbox may reach: `api.github.com` (ports 80 and 443),
    /// `*.wikipedia.org` (any subdomain, not the name itself), `pypi.org:443` (that port
    /// only), `host:*` (any port), `*` (any name), `203.0.113.0/24` or `198.51.100.7`
    /// (raw addresses in that network), `[2001:db8::/32]:443`.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Patterns refused even when an allow entry matches.
    #[serde(default)]
    pub deny: Vec<String>,
    /// Bytes in and out, summed over an execution's connections.
    pub max_bytes: Option<u64>,
    /// Connections an execution may open.
    pub max_connections: Option<u64>,
}

impl EgressPolicy {
    /// Checks that every pattern parses.
    pub fn validate(&self) -> Result<(), String> {
        if self.allow.len() > MAX_ENTRIES || self.deny.len() > MAX_ENTRIES {
            return Err(format!("egress: at most {MAX_ENTRIES} entries per list"));
        }
        for p in self.allow.iter().chain(&self.deny) {
            Pattern::parse(p).map_err(|e| format!("egress: {e}"))?;
        }
        Ok(())
    }

    /// The rules of a sandbox under this policy, narrowed to `request` when given: each
    /// requested entry must be covered by one of the policy's (else `Err` naming it).
    pub fn rules(&self, request: Option<&[String]>) -> Result<Rules, String> {
        let parse = |list: &[String]| -> Result<Vec<Pattern>, String> {
            list.iter().map(|p| Pattern::parse(p)).collect()
        };
        let policy_allow = parse(&self.allow)?;
        let deny = parse(&self.deny)?;
        let (allow, shown) = match request {
            None => (policy_allow, self.allow.clone()),
            Some(asked) => {
                if asked.len() > MAX_ENTRIES {
                    return Err(format!("egress.allow: at most {MAX_ENTRIES} entries"));
                }
                let asked_patterns = parse(asked)?;
                for (text, p) in asked.iter().zip(&asked_patterns) {
                    if !policy_allow.iter().any(|q| q.covers(p)) {
                        return Err(format!(
                            "egress.allow entry {text:?} is wider than the policy allows \
                             (policy egress.allow: {})",
                            self.allow.join(", ")
                        ));
                    }
                }
                (asked_patterns, asked.to_vec())
            }
        };
        Ok(Rules {
            allow,
            deny,
            shown,
            max_bytes: self.max_bytes,
            max_connections: self.max_connections,
        })
    }
}

/// Checks that every pattern of a list parses (a request's `egress.allow`).
pub fn validate_patterns(list: &[String]) -> Result<(), String> {
    if list.len() > MAX_ENTRIES {
        return Err(format!("egress.allow: at most {MAX_ENTRIES} entries"));
    }
    list.iter().try_for_each(|p| Pattern::parse(p).map(drop))
}

/// Which ports an entry allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ports {
    /// 80 and 443: an entry without a port.
    Web,
    Any,
    One(u16),
}

impl Ports {
    fn matches(self, port: u16) -> bool {
        match self {
            Ports::Web => port == 80 || port == 443,
            Ports::Any => true,
            Ports::One(p) => p == port,
        }
    }

    fn covers(self, other: Ports) -> bool {
        match (self, other) {
            (Ports::Any, _) => true,
            (Ports::Web, Ports::Web) => true,
            (Ports::Web, Ports::One(p)) => p == 80 || p == 443,
            (Ports::One(a), Ports::One(b)) => a == b,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Hosts {
    /// `*`: any name (raw addresses still need a network entry).
    AnyName,
    /// An exact name, lower case.
    Name(String),
    /// `*.example.org`: names ending in `.example.org`.
    Subdomains(String),
    /// Raw addresses in a network.
    Net(IpNet),
}

/// One parsed allow or deny entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    hosts: Hosts,
    ports: Ports,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

impl Pattern {
    fn parse(text: &str) -> Result<Pattern, String> {
        let bad = |why: &str| format!("invalid host pattern {text:?}: {why}");
        let t = text.trim();
        // `[v6 or v6/len]:port`, a bare v6 address or network, or `host[:port]`.
        let (host, port) = if let Some(rest) = t.strip_prefix('[') {
            let (inside, after) = rest.split_once(']').ok_or_else(|| bad("no closing ]"))?;
            let port = match after {
                "" => None,
                a => Some(
                    a.strip_prefix(':')
                        .ok_or_else(|| bad("expected :PORT after ]"))?,
                ),
            };
            (inside, port)
        } else if t.matches(':').count() > 1 {
            (t, None)
        } else {
            match t.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (t, None),
            }
        };
        let ports = match port {
            None => Ports::Web,
            Some("*") => Ports::Any,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Ports::One(n),
                _ => return Err(bad("the port must be 1-65535 or *")),
            },
        };
        let hosts = if host == "*" {
            Hosts::AnyName
        } else if let Ok(net) = host.parse::<IpNet>() {
            Hosts::Net(net.trunc())
        } else if let Ok(ip) = host.parse::<IpAddr>() {
            Hosts::Net(IpNet::from(ip))
        } else if let Some(suffix) = host.strip_prefix("*.") {
            let suffix = suffix.to_ascii_lowercase();
            if !valid_name(&suffix) {
                return Err(bad("not a DNS name after *."));
            }
            Hosts::Subdomains(suffix)
        } else {
            let name = host.to_ascii_lowercase();
            if !valid_name(&name) {
                return Err(bad(
                    "expected a DNS name, *.name, *, an address or a network",
                ));
            }
            Hosts::Name(name)
        };
        Ok(Pattern { hosts, ports })
    }

    /// Whether this entry matches a request for `host` (normalised: lower case, an
    /// address canonical) on `port`.
    fn matches(&self, host: &Host, port: u16) -> bool {
        self.ports.matches(port)
            && match (&self.hosts, host) {
                (Hosts::AnyName, Host::Name(_)) => true,
                (Hosts::Name(n), Host::Name(h)) => n == h,
                (Hosts::Subdomains(s), Host::Name(h)) => {
                    h.len() > s.len() + 1 && h.ends_with(s.as_str()) && {
                        let cut = h.len() - s.len() - 1;
                        h.as_bytes()[cut] == b'.'
                    }
                }
                (Hosts::Net(net), Host::Ip(ip)) => net.contains(ip),
                _ => false,
            }
    }

    /// Whether everything `other` matches, this matches too.
    fn covers(&self, other: &Pattern) -> bool {
        self.ports.covers(other.ports)
            && match (&self.hosts, &other.hosts) {
                (Hosts::AnyName, Hosts::AnyName | Hosts::Name(_) | Hosts::Subdomains(_)) => true,
                (Hosts::Name(a), Hosts::Name(b)) => a == b,
                (Hosts::Subdomains(s), Hosts::Name(n)) => n.ends_with(&format!(".{s}")),
                (Hosts::Subdomains(a), Hosts::Subdomains(b)) => {
                    a == b || b.ends_with(&format!(".{a}"))
                }
                (Hosts::Net(a), Hosts::Net(b)) => a.contains(b),
                _ => false,
            }
    }
}

/// A request's host: a name or a raw address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Name(String),
    Ip(IpAddr),
}

impl Host {
    /// `host` as it appears in a request (an IPv6 address with or without brackets).
    pub fn parse(host: &str) -> Host {
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        match bare.parse::<IpAddr>() {
            Ok(ip) => Host::Ip(ip),
            Err(_) => Host::Name(bare.trim_end_matches('.').to_ascii_lowercase()),
        }
    }
}

/// Whether an address is one no sandbox may reach, whatever the allowlist says: and why.
pub fn blocked_address(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => blocked_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return blocked_v4(v4);
            }
            let seg = v6.segments();
            // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address.
            if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let o = v6.octets();
                return blocked_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
            }
            if seg[0] == 0x2002 {
                let o = v6.octets();
                return blocked_v4(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
            }
            if v6 == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x254) {
                Some("a cloud metadata address")
            } else if v6.is_loopback() {
                Some("a loopback address")
            } else if v6.is_unspecified() {
                Some("the unspecified address")
            } else if seg[0] & 0xfe00 == 0xfc00 {
                Some("a unique local (private) address")
            } else if seg[0] & 0xffc0 == 0xfe80 {
                Some("a link-local address")
            } else if seg[0] & 0xffc0 == 0xfec0 {
                Some("a site-local address")
            } else if seg[0] & 0xff00 == 0xff00 {
                Some("a multicast address")
            } else if seg[..4] == [0x100, 0, 0, 0] {
                Some("a discard-only address")
            } else if seg[..6] == [0, 0, 0, 0, 0, 0] {
                Some("an IPv4-compatible address")
            } else {
                None
            }
        }
    }
}

fn blocked_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    if ip == Ipv4Addr::new(169, 254, 169, 254) {
        Some("a cloud metadata address")
    } else if ip.is_loopback() {
        Some("a loopback address")
    } else if o[0] == 0 {
        Some("an address of \"this network\" (0.0.0.0/8)")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address")
    } else if o[0] == 100 && o[1] & 0xc0 == 64 {
        Some("a shared (CGNAT) address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if o[0] >= 240 {
        Some("a reserved or broadcast address")
    } else if o[0] == 192 && o[1] == 0 && o[2] == 0 {
        Some("an IETF protocol address (192.0.0.0/24)")
    } else if o[0] == 198 && o[1] & 0xfe == 18 {
        Some("a benchmarking address (198.18.0.0/15)")
    } else {
        None
    }
}

/// The rules of one sandbox: the allowlist in force, the deny list, the limits.
#[derive(Debug, Clone)]
pub struct Rules {
    allow: Vec<Pattern>,
    deny: Vec<Pattern>,
    /// The allowlist as written, for reports and tool descriptions.
    shown: Vec<String>,
    max_bytes: Option<u64>,
    max_connections: Option<u64>,
}

impl Rules {
    /// Rules for a list of allowed patterns without limits (`warden run --allow-host`).
    pub fn allowing(allow: &[String]) -> Result<Rules, String> {
        EgressPolicy {
            allow: allow.to_vec(),
            ..EgressPolicy::default()
        }
        .rules(None)
    }

    /// The allowlist as written.
    pub fn shown(&self) -> &[String] {
        &self.shown
    }

    /// Whether a request for `host:port` passes the patterns; `Err` says why not.
    pub fn check_host(&self, host: &Host, port: u16) -> Result<(), String> {
        if self.deny.iter().any(|p| p.matches(host, port)) {
            return Err("matches the policy's egress.deny".into());
        }
        if self.allow.iter().any(|p| p.matches(host, port)) {
            return Ok(());
        }
        Err(match host {
            Host::Ip(_) => "a raw IP address not in any allowed network".into(),
            Host::Name(_) => format!(
                "not on the allowlist ({})",
                if self.shown.is_empty() {
                    "empty".to_string()
                } else {
                    self.shown.join(", ")
                }
            ),
        })
    }
}

/// One name's stand-in answers, for tests without the internet.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TestAnswer {
    /// `NAME=ADDR:PORT`: every connection to NAME, whatever its port, goes to this test
    /// server, which the deny list does not apply to.
    Server(SocketAddr),
    /// `NAME=ADDR[,ADDR...][|ADDR...]`: what a resolver would answer, one group per
    /// successive lookup (the last repeats); checked like any answer.
    Answers(Vec<Vec<IpAddr>>),
}

/// How the proxy resolves names: the system resolver, with an operator's test mappings
/// (`--egress-test-resolve`, development mode only) in front.
#[derive(Debug, Default)]
pub struct Resolver {
    test: HashMap<String, TestAnswer>,
    lookups: Mutex<HashMap<String, usize>>,
}

/// Where a checked request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub addresses: Vec<SocketAddr>,
}

impl Resolver {
    /// Parses `NAME=ADDR:PORT` or `NAME=ADDR[,ADDR...][|...]` mappings.
    pub fn with_test_mappings(mappings: &[String]) -> Result<Resolver, String> {
        let mut test = HashMap::new();
        for m in mappings {
            let bad = || {
                format!("invalid --egress-test-resolve {m:?}: expected NAME=ADDR:PORT or NAME=ADDR[,ADDR...][|ADDR...]")
            };
            let (name, value) = m.split_once('=').ok_or_else(bad)?;
            let name = name.trim().to_ascii_lowercase();
            if !valid_name(&name) {
                return Err(bad());
            }
            let answer = if let Ok(server) = value.parse::<SocketAddr>() {
                TestAnswer::Server(server)
            } else {
                let groups = value
                    .split('|')
                    .map(|g| {
                        g.split(',')
                            .map(|a| a.trim().parse::<IpAddr>().map_err(|_| bad()))
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                TestAnswer::Answers(groups)
            };
            test.insert(name, answer);
        }
        Ok(Resolver {
            test,
            lookups: Mutex::default(),
        })
    }

    /// Whether any test mapping is configured.
    pub fn has_test_mappings(&self) -> bool {
        !self.test.is_empty()
    }

    /// Resolves and checks `host:port` (already allowed by the patterns): `Err` says why
    /// it is refused.
    pub async fn resolve(&self, host: &Host, port: u16) -> Result<Target, String> {
        let ips: Vec<IpAddr> = match host {
            Host::Ip(ip) => vec![*ip],
            Host::Name(name) => match self.test.get(name) {
                Some(TestAnswer::Server(server)) => {
                    return Ok(Target {
                        addresses: vec![*server],
                    })
                }
                Some(TestAnswer::Answers(groups)) => {
                    let mut lookups = self.lookups.lock().unwrap_or_else(PoisonError::into_inner);
                    let n = lookups.entry(name.clone()).or_insert(0);
                    let group = groups[(*n).min(groups.len() - 1)].clone();
                    *n += 1;
                    group
                }
                None => match tokio::net::lookup_host((name.as_str(), port)).await {
                    Ok(found) => found.map(|a| a.ip()).collect(),
                    Err(e) => return Err(format!("cannot resolve {name}: {e}")),
                },
            },
        };
        if ips.is_empty() {
            return Err("the name has no addresses".into());
        }
        for ip in &ips {
            if let Some(why) = blocked_address(*ip) {
                return Err(format!("resolves to {ip}, {why}"));
            }
        }
        Ok(Target {
            addresses: ips
                .into_iter()
                .map(|ip| SocketAddr::new(ip, port))
                .collect(),
        })
    }
}

/// Totals over every sandbox: the counters of `/metrics`
/// (`warden_egress_connections_total{decision}`, `warden_egress_bytes_total{direction}`).
#[derive(Debug, Default, Clone)]
pub struct Totals {
    pub allowed: Counter,
    pub denied: Counter,
    pub bytes_in: Counter,
    pub bytes_out: Counter,
}

/// A sandbox's egress: its rules and what its current execution has done.
#[derive(Debug)]
pub struct Gate {
    pub rules: Rules,
    pub resolver: Arc<Resolver>,
    totals: Arc<Totals>,
    report: Mutex<EgressReport>,
}

/// Which way bytes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the remote end to the sandbox.
    In,
    /// From the sandbox out.
    Out,
}

impl Gate {
    pub fn new(rules: Rules, resolver: Arc<Resolver>, totals: Arc<Totals>) -> Gate {
        let report = EgressReport {
            allow: rules.shown.clone(),
            ..EgressReport::default()
        };
        Gate {
            rules,
            resolver,
            totals,
            report: Mutex::new(report),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, EgressReport> {
        self.report.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ends the current execution's account and starts the next one's.
    pub fn take_report(&self) -> EgressReport {
        let fresh = EgressReport {
            allow: self.rules.shown.clone(),
            ..EgressReport::default()
        };
        std::mem::replace(&mut *self.lock(), fresh)
    }

    /// Records a refused request.
    pub fn deny(&self, host: &str, port: u16, reason: &str) {
        self.totals.denied.inc();
        let mut r = self.lock();
        r.denied += 1;
        if r.connections.len() < MAX_REPORTED {
            r.connections.push(EgressConnection {
                host: host.to_string(),
                port,
                decision: "denied".into(),
                reason: Some(reason.to_string()),
                address: None,
                bytes_in: 0,
                bytes_out: 0,
            });
        }
    }

    /// Takes a connection slot under `max_connections`; `Err` is the refusal's reason.
    pub fn open(&self, host: &str, port: u16, address: SocketAddr) -> Result<usize, String> {
        let mut r = self.lock();
        if let Some(max) = self.rules.max_connections {
            if r.allowed >= max {
                let why =
                    format!("EGRESS_LIMIT: the execution's max_connections of {max} is used up");
                r.error_code = Some(ErrorCode::EgressLimit);
                r.limit
                    .get_or_insert_with(|| format!("max_connections {max}"));
                drop(r);
                self.deny(host, port, &why);
                return Err(why);
            }
        }
        r.allowed += 1;
        self.totals.allowed.inc();
        let index = r.connections.len();
        if index < MAX_REPORTED {
            r.connections.push(EgressConnection {
                host: host.to_string(),
                port,
                decision: "allowed".into(),
                reason: None,
                address: Some(address.to_string()),
                bytes_in: 0,
                bytes_out: 0,
            });
        }
        Ok(index)
    }

    /// Counts `n` bytes of connection `index` ([`Gate::open`]); `false` once the
    /// execution's `max_bytes` is exceeded (the connection must then be closed).
    pub fn count(&self, index: usize, direction: Direction, n: u64) -> bool {
        let total = match direction {
            Direction::In => &self.totals.bytes_in,
            Direction::Out => &self.totals.bytes_out,
        };
        total.inc_by(n);
        let mut r = self.lock();
        match direction {
            Direction::In => r.bytes_in += n,
            Direction::Out => r.bytes_out += n,
        }
        if let Some(c) = r.connections.get_mut(index) {
            match direction {
                Direction::In => c.bytes_in += n,
                Direction::Out => c.bytes_out += n,
            }
        }
        match self.rules.max_bytes {
            Some(max) if r.bytes_in + r.bytes_out > max => {
                r.error_code = Some(ErrorCode::EgressLimit);
                r.limit.get_or_insert_with(|| format!("max_bytes {max}"));
                if let Some(c) = r.connections.get_mut(index) {
                    c.reason = Some(format!(
                        "EGRESS_LIMIT: closed at the execution's max_bytes of {max}"
                    ));
                }
                false
            }
            _ => true,
        }
    }

    /// Notes why an allowed connection failed or ended early.
    pub fn note(&self, index: usize, reason: String) {
        if let Some(c) = self.lock().connections.get_mut(index) {
            c.reason.get_or_insert(reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(allow: &[&str], deny: &[&str]) -> Rules {
        EgressPolicy {
            allow: allow.iter().map(|s| s.to_string()).collect(),
            deny: deny.iter().map(|s| s.to_string()).collect(),
            ..EgressPolicy::default()
        }
        .rules(None)
        .expect("rules")
    }

    fn ok(r: &Rules, host: &str, port: u16) -> bool {
        r.check_host(&Host::parse(host), port).is_ok()
    }

    #[test]
    fn patterns_match_names_subdomains_ports_and_networks() {
        let r = rules(
            &[
                "api.github.com",
                "*.wikipedia.org",
                "pypi.org:443",
                "203.0.113.0/24",
                "files.example:*",
            ],
            &["evil.wikipedia.org"],
        );
        assert!(ok(&r, "api.github.com", 443));
        assert!(ok(&r, "API.GitHub.com.", 80));
        assert!(!ok(&r, "api.github.com", 8080));
        assert!(!ok(&r, "github.com", 443));
        assert!(!ok(&r, "xapi.github.com", 443));
        assert!(ok(&r, "en.wikipedia.org", 443));
        assert!(ok(&r, "a.b.wikipedia.org", 443));
        assert!(!ok(&r, "wikipedia.org", 443));
        assert!(!ok(&r, "enwikipedia.org", 443));
        assert!(!ok(&r, "evil.wikipedia.org", 443), "deny wins");
        assert!(ok(&r, "pypi.org", 443));
        assert!(!ok(&r, "pypi.org", 80));
        assert!(ok(&r, "files.example", 9999));
        assert!(ok(&r, "203.0.113.9", 443));
        assert!(
            !ok(&r, "198.51.100.1", 443),
            "a raw IP outside the networks"
        );
        assert!(!ok(&r, "[2001:db8::1]", 443));
        let any = rules(&["*"], &[]);
        assert!(ok(&any, "anything.example", 443));
        assert!(!ok(&any, "93.184.215.14", 443), "* names no network");
    }

    #[test]
    fn bad_patterns_are_refused() {
        for p in [
            "",
            "a b",
            "*.",
            "*",
            "host:0",
            "host:99999",
            "host:x",
            "[::1",
            "-:1:2:3",
            "a..b",
        ] {
            if p == "*" {
                assert!(Pattern::parse(p).is_ok());
                continue;
            }
            assert!(Pattern::parse(p).is_err(), "{p:?} must be refused");
        }
        assert!(Pattern::parse("[2001:db8::/32]:443").is_ok());
        assert!(Pattern::parse("2001:db8::/32").is_ok());
    }

    #[test]
    fn a_request_may_narrow_the_policy_never_widen_it() {
        let policy = EgressPolicy {
            allow: vec![
                "*.example.org".into(),
                "api.github.com".into(),
                "203.0.113.0/24".into(),
            ],
            ..EgressPolicy::default()
        };
        for narrower in [
            "docs.example.org",
            "*.docs.example.org",
            "docs.example.org:443",
            "api.github.com:80",
            "203.0.113.128/25",
        ] {
            let r = policy.rules(Some(&[narrower.to_string()]));
            assert!(r.is_ok(), "{narrower}: {r:?}");
        }
        for wider in [
            "example.org",
            "*.org",
            "api.github.com:8080",
            "api.github.com:*",
            "*",
            "203.0.0.0/16",
            "gitlab.com",
        ] {
            let e = policy.rules(Some(&[wider.to_string()])).expect_err(wider);
            assert!(e.contains(wider), "{e}");
        }
        let narrowed = policy.rules(Some(&["docs.example.org".into()])).unwrap();
        assert!(ok(&narrowed, "docs.example.org", 443));
        assert!(!ok(&narrowed, "www.example.org", 443));
    }

    #[test]
    fn the_deny_list_holds_every_internal_range() {
        for ip in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.0.8",
            "198.18.0.1",
            "::1",
            "::",
            "fd00:ec2::254",
            "fc00::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "::127.0.0.1",
        ] {
            let addr: IpAddr = ip.parse().unwrap();
            assert!(blocked_address(addr).is_some(), "{ip} must be blocked");
        }
        for ip in [
            "93.184.215.14",
            "1.1.1.1",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700::1111",
            "64:ff9b::101:101",
        ] {
            let addr: IpAddr = ip.parse().unwrap();
            assert_eq!(blocked_address(addr), None, "{ip} is public");
        }
    }

    #[tokio::test]
    async fn resolution_checks_every_answer_and_test_servers_are_exempt() {
        let resolver = Resolver::with_test_mappings(&[
            "api.test=127.0.0.1:8080".into(),
            "mixed.test=93.184.215.14,10.0.0.1".into(),
            "rebind.test=93.184.215.14|127.0.0.1".into(),
        ])
        .unwrap();
        let t = resolver
            .resolve(&Host::parse("api.test"), 443)
            .await
            .unwrap();
        assert_eq!(t.addresses, vec!["127.0.0.1:8080".parse().unwrap()]);
        let e = resolver
            .resolve(&Host::parse("mixed.test"), 443)
            .await
            .unwrap_err();
        assert!(e.contains("10.0.0.1"), "{e}");
        let first = resolver
            .resolve(&Host::parse("rebind.test"), 80)
            .await
            .unwrap();
        assert_eq!(first.addresses, vec!["93.184.215.14:80".parse().unwrap()]);
        let second = resolver
            .resolve(&Host::parse("rebind.test"), 80)
            .await
            .unwrap_err();
        assert!(second.contains("loopback"), "{second}");
        let local = resolver
            .resolve(&Host::parse("localhost"), 80)
            .await
            .unwrap_err();
        assert!(
            local.contains("loopback") || local.contains("resolve"),
            "{local}"
        );
        assert!(Resolver::with_test_mappings(&["nonsense".into()]).is_err());
    }

    #[test]
    fn limits_fire_and_are_reported() {
        let policy = EgressPolicy {
            allow: vec!["*".into()],
            max_bytes: Some(100),
            max_connections: Some(1),
            ..EgressPolicy::default()
        };
        let gate = Gate::new(
            policy.rules(None).unwrap(),
            Arc::new(Resolver::default()),
            Arc::new(Totals::default()),
        );
        let addr: SocketAddr = "93.184.215.14:443".parse().unwrap();
        let i = gate.open("a.example", 443, addr).unwrap();
        assert!(gate.count(i, Direction::Out, 60));
        assert!(!gate.count(i, Direction::In, 60));
        assert!(gate
            .open("b.example", 443, addr)
            .unwrap_err()
            .contains("EGRESS_LIMIT"));
        let r = gate.take_report();
        assert_eq!(
            (r.allowed, r.denied, r.bytes_in, r.bytes_out),
            (1, 1, 60, 60)
        );
        assert_eq!(r.error_code, Some(ErrorCode::EgressLimit));
        assert_eq!(r.connections.len(), 2);
        // The next execution starts afresh.
        assert_eq!(gate.take_report().allowed, 0);
        assert!(gate.open("c.example", 443, addr).is_ok());
    }
}
