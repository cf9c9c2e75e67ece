//! Who is asking, and what they may spend: API keys, tenants' policies, and the
//! per-tenant rate limiter.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
pub use warden_protocol::RiskAction;
use warden_protocol::{Language, RiskLevel};

use crate::EngineError;

/// The tenant of development mode (no keys, loopback only).
pub const DEV_TENANT: &str = "dev";

/// The authenticated caller of an engine operation.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant: String,
    /// The key used (`None` in development mode).
    pub key_id: Option<String>,
    /// Admin keys may read the audit log.
    pub admin: bool,
    pub policy: Policy,
}

impl Caller {
    /// The caller of development mode: tenant `dev`, admin, the default policy.
    pub fn dev(policy: Policy) -> Caller {
        Caller {
            tenant: DEV_TENANT.into(),
            key_id: None,
            admin: true,
            policy,
        }
    }
}

/// What a tenant may do and spend. Every field is optional: an absent limit is the
/// server's own maximum. Kept as JSON data (a file given to `warden keys create
/// --policy`, or the server's `--default-policy`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Languages the tenant may run (all when absent).
    pub languages: Option<Vec<Language>>,
    /// Longest cell or one-shot timeout, seconds.
    pub max_timeout: Option<f64>,
    pub max_memory_mb: Option<u64>,
    /// CPU bandwidth of each sandbox, in cores (applied to every sandbox of the tenant).
    pub max_cpus: Option<f64>,
    /// Processes and threads of each sandbox.
    pub max_pids: Option<u64>,
    pub max_disk_mb: Option<u64>,
    /// Whether the tenant may reach the network from workflow `http` nodes and HTTP
    /// tools (refused unless `true`). Sandboxes reach it only through `egress`.
    pub network: Option<bool>,
    /// Network egress for sandboxes, through warden's proxy (docs/NETWORK.md). Absent:
    /// sandboxes have no network.
    pub egress: Option<crate::egress::EgressPolicy>,
    /// Live sessions at once.
    pub max_sessions: Option<usize>,
    /// Executions (cells and one-shot runs) per minute, as a token bucket: a burst of
    /// this many, refilled evenly over the minute.
    pub executions_per_minute: Option<u32>,
    /// CPU seconds of executions over the last 24 hours.
    pub cpu_seconds_per_day: Option<f64>,
    /// Largest code of one execution, bytes.
    pub max_code_bytes: Option<usize>,
    /// The packages `packages: [...]` may ask for: requirements such as `"pandas"` or
    /// `"requests>=2.31"` (names with optional version constraints). Absent: the
    /// built-in allowlist; empty: no packages.
    pub packages: Option<Vec<String>>,
    /// What to do with code by the risk level static analysis gives it. Absent: allow
    /// every level, and record the findings.
    pub risk: Option<RiskPolicy>,
    /// Secrets in outputs. Absent: redact them.
    pub redaction: Option<RedactionPolicy>,
    /// Which isolation tier runs the tenant's code: one for all of it (`"gvisor"`), or
    /// one per risk level (`{"none": "namespaces", "high": "gvisor"}`; a level left out
    /// gets `namespaces`). Absent: `namespaces`. A request may ask for a stronger tier,
    /// never a weaker one (docs/SECURITY.md#isolation-tiers).
    pub isolation: Option<IsolationPolicy>,
}

/// See [`Policy::isolation`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IsolationPolicy {
    All(warden_protocol::Tier),
    ByRisk(std::collections::BTreeMap<RiskLevel, warden_protocol::Tier>),
}

impl Policy {
    /// The tier code of this risk level must run on, at least.
    pub fn tier_for(&self, risk: RiskLevel) -> warden_protocol::Tier {
        match &self.isolation {
            None => warden_protocol::Tier::Namespaces,
            Some(IsolationPolicy::All(t)) => *t,
            Some(IsolationPolicy::ByRisk(m)) => m.get(&risk).copied().unwrap_or_default(),
        }
    }

    /// Every tier the policy may ask for.
    pub fn tiers(&self) -> std::collections::BTreeSet<warden_protocol::Tier> {
        RiskLevel::ALL
            .into_iter()
            .map(|r| self.tier_for(r))
            .collect()
    }

    /// The tier of code static analysis does not cover (bash): the strongest the
    /// policy names.
    pub fn tier_unanalysed(&self) -> warden_protocol::Tier {
        self.tiers().into_iter().max().unwrap_or_default()
    }

    /// The tier of a run asking for `requested` whose code is of `risk` (`None`: not
    /// analysed): the policy's, or the stronger one asked for; a weaker one is refused.
    pub fn tier(
        &self,
        requested: Option<warden_protocol::Tier>,
        risk: Option<RiskLevel>,
    ) -> Result<warden_protocol::Tier, EngineError> {
        let floor = risk.map_or_else(|| self.tier_unanalysed(), |r| self.tier_for(r));
        let risk = risk.map_or("unanalysed", RiskLevel::as_str);
        match requested {
            Some(t) if t < floor => Err(EngineError::PolicyDenied(format!(
                "the policy runs code of risk level {risk} on the {floor} tier; {t} is weaker (isolation)"
            ))),
            Some(t) => Ok(t),
            None => Ok(floor),
        }
    }
}

/// The policy's decision per risk level (code of level `none` is always allowed).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskPolicy {
    #[serde(default)]
    pub low: RiskAction,
    #[serde(default)]
    pub medium: RiskAction,
    #[serde(default)]
    pub high: RiskAction,
    /// Timeout of a restricted execution, seconds (default 10).
    pub restricted_timeout: Option<f64>,
    /// Memory of a restricted one-shot run, MiB (default 256).
    pub restricted_memory_mb: Option<u64>,
}

impl RiskPolicy {
    pub const DEFAULT_RESTRICTED_TIMEOUT: f64 = 10.0;
    pub const DEFAULT_RESTRICTED_MEMORY_MB: u64 = 256;

    /// The action for code of a risk level.
    pub fn action(&self, risk: RiskLevel) -> RiskAction {
        match risk {
            RiskLevel::None => RiskAction::Allow,
            RiskLevel::Low => self.low,
            RiskLevel::Medium => self.medium,
            RiskLevel::High => self.high,
        }
    }

    pub fn restricted_timeout(&self) -> Duration {
        Duration::from_secs_f64(
            self.restricted_timeout
                .unwrap_or(Self::DEFAULT_RESTRICTED_TIMEOUT),
        )
    }

    pub fn restricted_memory_mb(&self) -> u64 {
        self.restricted_memory_mb
            .unwrap_or(Self::DEFAULT_RESTRICTED_MEMORY_MB)
    }
}

/// What happens to secrets found in outputs (docs/REDACTION.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RedactionMode {
    /// Outputs are not scanned.
    Off,
    /// Outputs pass unchanged; the secrets are counted in the execution record and the
    /// reply's `secrets`.
    Flag,
    /// Each secret is replaced by `[REDACTED:kind]`, and counted.
    #[default]
    Redact,
    /// Streamed output is redacted; the result of an execution that printed a secret is
    /// withheld (an `OutputBlocked` error in its place).
    Block,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionPolicy {
    #[serde(default)]
    pub mode: RedactionMode,
    /// Literal values to find besides the built-in kinds (at least 6 characters each).
    #[serde(default)]
    pub secrets: Vec<String>,
}

impl Policy {
    /// Parses and checks a policy document.
    pub fn from_json(text: &str) -> Result<Policy, String> {
        let p: Policy = serde_json::from_str(text).map_err(|e| format!("invalid policy: {e}"))?;
        let positive = |v: Option<f64>, name: &str| match v {
            Some(x) if !(x.is_finite() && x > 0.0) => {
                Err(format!("invalid policy: {name} must be a positive number"))
            }
            _ => Ok(()),
        };
        positive(p.max_timeout, "max_timeout")?;
        positive(p.max_cpus, "max_cpus")?;
        positive(p.cpu_seconds_per_day, "cpu_seconds_per_day")?;
        if let Some(r) = &p.risk {
            positive(r.restricted_timeout, "risk.restricted_timeout")?;
            if r.restricted_memory_mb == Some(0) {
                return Err("invalid policy: risk.restricted_memory_mb must be positive".into());
            }
        }
        if let Some(r) = &p.redaction {
            if let Some(short) = r.secrets.iter().find(|s| s.chars().count() < 6) {
                return Err(format!(
                    "invalid policy: redaction.secrets: {:?} is shorter than 6 characters \
                     (it would match ordinary text)",
                    short.chars().take(2).collect::<String>() + "…"
                ));
            }
        }
        if let Some(e) = &p.egress {
            e.validate().map_err(|e| format!("invalid policy: {e}"))?;
        }
        if let Some(list) = &p.packages {
            crate::packages::Allowlist::parse(list.iter().map(String::as_str))
                .map_err(|e| format!("invalid policy: packages: {e}"))?;
        }
        Ok(p)
    }

    /// The package allowlist that applies.
    pub fn allowlist(&self) -> std::borrow::Cow<'static, crate::packages::Allowlist> {
        match &self.packages {
            // Checked when the policy was parsed.
            Some(list) => std::borrow::Cow::Owned(
                crate::packages::Allowlist::parse(list.iter().map(String::as_str))
                    .unwrap_or_default(),
            ),
            None => std::borrow::Cow::Borrowed(crate::packages::Allowlist::builtin()),
        }
    }

    /// The decision per risk level.
    pub fn risk_policy(&self) -> std::borrow::Cow<'_, RiskPolicy> {
        match &self.risk {
            Some(r) => std::borrow::Cow::Borrowed(r),
            None => std::borrow::Cow::Owned(RiskPolicy::default()),
        }
    }

    /// The redaction mode, and a redactor unless the mode is `off`.
    pub fn redactor(&self) -> (RedactionMode, Option<warden_analysis::redact::Redactor>) {
        let (mode, secrets) = match &self.redaction {
            Some(r) => (r.mode, r.secrets.as_slice()),
            None => (RedactionMode::default(), &[][..]),
        };
        let redactor =
            (mode != RedactionMode::Off).then(|| warden_analysis::redact::Redactor::new(secrets));
        (mode, redactor)
    }

    /// Whether the policy allows a language.
    pub fn allows(&self, language: Language) -> bool {
        self.languages
            .as_ref()
            .is_none_or(|l| l.contains(&language))
    }
}

/// A new API key: what to show the user once, and what to store.
pub struct NewKey {
    /// The whole key, `wk_<id>.<secret>`: shown once, never stored.
    pub token: String,
    pub id: String,
    pub secret_hash: String,
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // The kernel's CSPRNG; getrandom only fails on kernels older than warden supports.
    rustix::rand::getrandom(&mut buf, rustix::rand::GetRandomFlags::empty()).expect("getrandom");
    hex::encode(buf)
}

/// SHA-256 of some bytes, hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Makes a new key: a public id (for lists and logs) and a 256-bit secret, of which only
/// the SHA-256 is stored (the secret is random, so a fast hash suffices).
pub fn new_key() -> NewKey {
    let id = format!("wk_{}", random_hex(8));
    let secret = random_hex(32);
    NewKey {
        token: format!("{id}.{secret}"),
        secret_hash: sha256_hex(secret.as_bytes()),
        id,
    }
}

/// Splits a presented key into its id and secret, if it has the key's shape.
pub fn parse_key(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.split_once('.')?;
    let well_formed = id.starts_with("wk_")
        && id.len() == 19
        && secret.len() == 64
        && id[3..].bytes().all(|b| b.is_ascii_hexdigit())
        && secret.bytes().all(|b| b.is_ascii_hexdigit());
    well_formed.then_some((id, secret))
}

/// Whether a secret matches a stored hash, compared in constant time.
pub fn secret_matches(secret: &str, stored_hash: &str) -> bool {
    let presented = sha256_hex(secret.as_bytes());
    presented.as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

/// Per-tenant token buckets for `executions_per_minute`.
#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// Takes one token from the tenant's bucket (capacity `per_minute`, refilled evenly);
    /// when empty, how long until the next token.
    pub fn take(&self, tenant: &str, per_minute: u32) -> Result<(), Duration> {
        let capacity = f64::from(per_minute.max(1));
        let rate = capacity / 60.0;
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        let (tokens, last) = buckets.entry(tenant.to_string()).or_insert((capacity, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(capacity);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_verify_only_with_their_own_secret() {
        let k = new_key();
        let (id, secret) = parse_key(&k.token).expect("well formed");
        assert_eq!(id, k.id);
        assert!(secret_matches(secret, &k.secret_hash));
        let other = new_key();
        let (_, other_secret) = parse_key(&other.token).unwrap();
        assert!(!secret_matches(other_secret, &k.secret_hash));
        assert!(
            !k.token.contains(&k.secret_hash),
            "the stored hash is not the secret"
        );
    }

    #[test]
    fn malformed_keys_are_recognised() {
        for bad in [
            "",
            "wk_",
            "Bearer x",
            "wk_0123456789abcdef",
            "wk_0123456789abcdef.zz",
            "xx_0123456789abcdef.00",
        ] {
            assert!(parse_key(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn policies_are_data_checked_at_load() {
        let p = Policy::from_json(
            r#"{"languages": ["python"], "max_timeout": 5, "executions_per_minute": 10}"#,
        )
        .unwrap();
        assert!(p.allows(Language::Python));
        assert!(!p.allows(Language::Bash));
        assert!(Policy::default().allows(Language::Bash));
        assert!(Policy::from_json(r#"{"max_timeout": -1}"#).is_err());
        assert!(Policy::from_json(r#"{"no_such_limit": 1}"#).is_err());
        assert!(Policy::from_json(r#"{"languages": ["cobol"]}"#).is_err());
    }

    #[test]
    fn the_bucket_allows_a_burst_then_says_when_to_retry() {
        let r = RateLimiter::default();
        for _ in 0..3 {
            assert!(r.take("a", 3).is_ok());
        }
        let wait = r.take("a", 3).unwrap_err();
        assert!(
            wait > Duration::from_secs(15) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(r.take("b", 3).is_ok(), "tenants have their own buckets");
    }
}
