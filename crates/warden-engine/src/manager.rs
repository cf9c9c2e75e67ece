//! The session manager: every live session by id, with the operations the transports
//! call (create, list, execute, interrupt, restart, delete), idle expiry and shutdown.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use warden_jail::{Jail, Signaller};
use warden_protocol::{
    AnalysisReport, AnalyzeRequest, AnalyzeResponse, CellErrorInfo, CellResponse, CreateSession,
    ExecuteRequest, FileChange, FileContent, Language, RiskLevel, SessionInfo,
};

use crate::error::{DeathReason, EngineError};
use crate::files::{FileEntry, OpenFile, Workspace};
use crate::metrics::{Kind, Metrics};
use crate::session::{
    CellIo, CellResult, CellStatus, Environment, Event, Session, SessionLimits, StreamOutput,
    TemplateMount,
};

/// A pool: a language and the template build its sandboxes carry.
/// A pool: its language, its template build, its tier.
type PoolKey = (Language, Option<String>, warden_protocol::Tier);

fn pool_key(language: Language, env: &Environment) -> PoolKey {
    (language, env.build().map(str::to_string), env.tier)
}
use crate::screening::{self, OutputGuard, Screening};
use crate::tenancy::{self, Caller, Policy, RateLimiter, RiskAction};
use warden_store::{
    AuditEvent, AuditFilter, ExecutionFilter, ExecutionRecord, SessionRecord, Store,
};

/// Settings of the engine, with the server's maximums.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub default_idle_ttl: Duration,
    pub max_idle_ttl: Duration,
    /// How long a session may live at most, busy or not (per-session override up to
    /// this).
    pub max_lifetime: Duration,
    pub max_sessions: usize,
    pub max_code_bytes: usize,
    pub default_cell_timeout: Duration,
    pub max_cell_timeout: Duration,
    pub max_memory_mb: u64,
    pub max_disk_mb: u64,
    /// Total decoded bytes of the `files` sent inline with an execute request.
    pub max_inline_file_bytes: usize,
    /// Changed files up to this size come back inline from a one-shot execution.
    pub inline_result_file_bytes: u64,
    pub session_limits: SessionLimits,
    /// How often idle sessions are looked for.
    pub reap_interval: Duration,
    /// Sessions of each language kept started and idle, so that creating a session or a
    /// one-shot run does not wait for a sandbox and an interpreter to start.
    pub pool: PoolSizes,
    /// The policy of tenants without their own, and of development mode.
    pub default_policy: Policy,
    /// Development mode: no API keys; every request is the `dev` tenant (the server
    /// allows it on loopback addresses only).
    pub dev_mode: bool,
    /// Keep each execution's code in its record (else only its SHA-256).
    pub record_code: bool,
    /// This node's name in the store's session records (several nodes may share one
    /// PostgreSQL database).
    pub node: String,
    /// The directory of the execution records' journal (see [`crate::records`]); without
    /// one, each record is inserted into the database before its reply.
    pub records_journal: Option<std::path::PathBuf>,
    /// Where templates are published (`DATA_DIR/templates`); none: no templates.
    pub template_root: Option<std::path::PathBuf>,
    /// Pooled Python sessions kept ready per template, by template name.
    pub template_pools: Vec<(String, usize)>,
    /// The same on the gVisor tier.
    pub gvisor_template_pools: Vec<(String, usize)>,
    /// The cache of installed package sets (`DATA_DIR/packages`); none: no `packages`.
    pub package_cache: Option<std::path::PathBuf>,
    /// The package index (default PyPI); must be `https://`.
    pub index_url: Option<String>,
    /// Time limit of one package set's install.
    pub package_install_timeout: Duration,
    /// Where the stand-ins for pip are written for sandboxes (see [`crate::tools`]).
    pub tools_dir: Option<std::path::PathBuf>,
    /// Workflow runs: limits and the model endpoint.
    pub flows: crate::workflows::FlowSettings,
    /// `--egress-test-resolve NAME=ADDR:PORT` mappings (development mode only; see
    /// [`crate::egress::Resolver`]).
    pub egress_test_resolve: Vec<String>,
    /// The data directory, for the isolation report's check that sandboxes can be
    /// given what it holds (none: the report skips that check's directory and uses
    /// the current one).
    pub data_dir: Option<std::path::PathBuf>,
}

/// How many idle sessions the pool keeps ready, per language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSizes {
    pub python: usize,
    pub javascript: usize,
    pub bash: usize,
    /// Sessions kept ready on the gVisor tier, per language.
    pub gvisor_python: usize,
    pub gvisor_javascript: usize,
    pub gvisor_bash: usize,
}

impl Default for PoolSizes {
    fn default() -> Self {
        PoolSizes {
            python: 2,
            javascript: 1,
            bash: 1,
            gvisor_python: 0,
            gvisor_javascript: 0,
            gvisor_bash: 0,
        }
    }
}

impl PoolSizes {
    pub fn get(&self, language: Language) -> usize {
        match language {
            Language::Python => self.python,
            Language::Javascript => self.javascript,
            Language::Bash => self.bash,
        }
    }

    /// The size of the gVisor tier's pool of `language`.
    pub fn gvisor(&self, language: Language) -> usize {
        match language {
            Language::Python => self.gvisor_python,
            Language::Javascript => self.gvisor_javascript,
            Language::Bash => self.gvisor_bash,
        }
    }

    /// Whether any gVisor pool is asked for.
    pub fn any_gvisor(&self) -> bool {
        Language::ALL.into_iter().any(|l| self.gvisor(l) > 0)
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            default_idle_ttl: Duration::from_secs(3600),
            max_idle_ttl: Duration::from_secs(24 * 3600),
            max_lifetime: Duration::from_secs(24 * 3600),
            max_sessions: 256,
            max_code_bytes: 1 << 20,
            default_cell_timeout: Duration::from_secs(30),
            max_cell_timeout: Duration::from_secs(600),
            max_memory_mb: 4096,
            max_disk_mb: 8192,
            max_inline_file_bytes: 10 << 20,
            inline_result_file_bytes: 64 << 10,
            session_limits: SessionLimits::default(),
            reap_interval: Duration::from_secs(1),
            pool: PoolSizes::default(),
            default_policy: Policy::default(),
            dev_mode: false,
            record_code: true,
            node: "local".into(),
            records_journal: None,
            template_root: None,
            template_pools: Vec::new(),
            gvisor_template_pools: Vec::new(),
            package_cache: None,
            index_url: None,
            package_install_timeout: Duration::from_secs(300),
            tools_dir: None,
            flows: crate::workflows::FlowSettings::default(),
            egress_test_resolve: Vec::new(),
            data_dir: None,
        }
    }
}

struct Slot {
    id: String,
    tenant: String,
    language: Language,
    created_at: SystemTime,
    /// What the sandbox carries (a template); a restart keeps it.
    env: Environment,
    idle_ttl: Duration,
    /// The session is closed this long after its creation, even mid-cell.
    lifetime: Duration,
    created: Instant,
    last_used: Mutex<(Instant, SystemTime)>,
    execution_count: AtomicU64,
    dead: Mutex<Option<DeathReason>>,
    interrupter: Mutex<Option<Signaller>>,
    /// The session's `/workspace`, reachable while a cell runs.
    workspace: Mutex<Option<Arc<Workspace>>>,
    session: tokio::sync::Mutex<Option<Session>>,
    /// The session's network rules and account (a restart keeps them).
    egress: Option<Arc<crate::egress::Gate>>,
    /// The cells it ran, for its notebook (`GET /v1/sessions/{id}/notebook`).
    history: Mutex<crate::notebook::History>,
}

/// Removes the fields whose value is null, at every depth.
fn drop_nulls(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(fields) => {
            fields.retain(|_, f| !f.is_null());
            fields.values_mut().for_each(drop_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Slot {
    fn info(&self) -> SessionInfo {
        let dead = self.dead.lock().map(|d| d.is_some()).unwrap_or(false);
        let (busy, memory_bytes) = match self.session.try_lock() {
            Ok(s) => (false, s.as_ref().and_then(Session::current_memory)),
            Err(_) => (true, None),
        };
        SessionInfo {
            id: self.id.clone(),
            language: self.language,
            state: if dead {
                "dead"
            } else if busy {
                "busy"
            } else {
                "idle"
            }
            .into(),
            created_at: unix(self.created_at),
            last_used_at: self.last_used.lock().map(|l| unix(l.1)).unwrap_or(0.0),
            idle_ttl: self.idle_ttl.as_secs_f64(),
            expires_at: unix(self.created_at) + self.lifetime.as_secs_f64(),
            execution_count: self.execution_count.load(Ordering::Relaxed),
            egress: self.egress.as_ref().map(|g| g.rules.shown().to_vec()),
            template: self.env.template.as_ref().map(|t| t.name.clone()),
            tier: self.env.tier,
            memory_bytes,
            cells: None,
        }
    }

    fn touch(&self) {
        if let Ok(mut l) = self.last_used.lock() {
            *l = (Instant::now(), SystemTime::now());
        }
    }
}

/// Owns every session of the server.
pub struct Engine {
    jail: Arc<Jail>,
    config: EngineConfig,
    sessions: Mutex<HashMap<String, Arc<Slot>>>,
    shutting_down: AtomicBool,
    /// Pre-started sessions with the default limits, per language.
    pool: Mutex<HashMap<PoolKey, VecDeque<Session>>>,
    templates: Option<crate::templates::TemplateStore>,
    /// Installs package sets into the cache (when there is one).
    installer: Option<crate::installer::Installer>,
    /// The interpreter's tag in package cache keys (read once).
    python_tag: String,
    /// Templates with a configured pool that do not exist (yet), already reported.
    missing_templates: Mutex<std::collections::HashSet<String>>,
    /// Template builds started through the API, by name (the latest of each).
    template_builds: Mutex<HashMap<String, warden_protocol::TemplateBuild>>,
    /// One lock per package set being installed, so that concurrent requests for the
    /// same set install it once.
    installing: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    pool_wake: tokio::sync::Notify,
    pub(crate) metrics: Metrics,
    pub(crate) store: Arc<dyn Store>,
    records: Arc<crate::records::RecordWriter>,
    /// Workflow runs' HTTP client and collections' search indexes.
    pub(crate) flows: crate::workflows::FlowState,
    rate: RateLimiter,
    /// How the egress proxy resolves names, and its totals for `/metrics`.
    egress_resolver: Arc<crate::egress::Resolver>,
    egress_totals: Arc<crate::egress::Totals>,
    /// The last isolation report and when it was made; the lock is held while one is
    /// made, so concurrent requests wait for that one.
    isolation: tokio::sync::Mutex<Option<(std::time::Instant, warden_protocol::IsolationReport)>>,
}

/// What a cell used, read from its sandbox.
#[derive(Debug, Default, Clone)]
struct Usage {
    /// The tier that ran it.
    tier: warden_protocol::Tier,
    /// The execution's network account, when its sandbox has egress.
    egress: Option<warden_protocol::EgressReport>,
    cpu: Option<Duration>,
    peak_memory: Option<u64>,
    /// And what analysis found before it ran.
    analysis: Option<AnalysisReport>,
}

fn seconds(
    value: Option<f64>,
    default: Duration,
    max: Duration,
    what: &str,
) -> Result<Duration, EngineError> {
    let Some(v) = value else { return Ok(default) };
    let d = Duration::try_from_secs_f64(v)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            EngineError::Invalid(format!("{what} must be a positive number of seconds"))
        })?;
    if d > max {
        return Err(EngineError::Invalid(format!(
            "{what} of {v} s is over the server's maximum of {} s",
            max.as_secs_f64()
        )));
    }
    Ok(d)
}

impl Engine {
    /// A new engine; call within a tokio runtime (the records journal's flusher is a
    /// task). Fails when the records journal cannot be opened.
    pub fn new(
        jail: Arc<Jail>,
        config: EngineConfig,
        store: Arc<dyn Store>,
    ) -> Result<Arc<Engine>, EngineError> {
        let records = Arc::new(match &config.records_journal {
            Some(dir) => crate::records::RecordWriter::open(store.clone(), dir)?,
            None => crate::records::RecordWriter::direct(store.clone()),
        });
        if !config.egress_test_resolve.is_empty() && !config.dev_mode {
            return Err(EngineError::Invalid(
                "--egress-test-resolve is for tests: it needs --dev".into(),
            ));
        }
        let egress_resolver = Arc::new(
            crate::egress::Resolver::with_test_mappings(&config.egress_test_resolve)
                .map_err(EngineError::Invalid)?,
        );
        records.spawn_flusher();
        if let Some(dir) = &config.tools_dir {
            crate::tools::install(dir).map_err(|e| {
                EngineError::Io(std::io::Error::other(format!(
                    "cannot write the sandbox tools to {}: {e}",
                    dir.display()
                )))
            })?;
        }
        let templates = config
            .template_root
            .clone()
            .map(crate::templates::TemplateStore::new);
        if let Some(cache) = &config.package_cache {
            // Sandboxes bind the cache: they may enter a set's directory by its key, not
            // list which sets exist.
            std::fs::create_dir_all(cache)
                .and_then(|()| set_mode(cache, 0o711))
                .map_err(|e| {
                    EngineError::Io(std::io::Error::other(format!(
                        "cannot create the package cache {}: {e}",
                        cache.display()
                    )))
                })?;
        }
        let installer = config.package_cache.as_ref().map(|cache| {
            crate::installer::Installer::new(
                jail.clone(),
                staging_of(cache),
                config.index_url.clone(),
            )
        });
        let metrics = Metrics::default();
        Ok(Arc::new(Engine {
            jail,
            config,
            sessions: Mutex::new(HashMap::new()),
            shutting_down: AtomicBool::new(false),
            pool: Mutex::new(HashMap::new()),
            templates,
            installer,
            installing: Mutex::new(HashMap::new()),
            template_builds: Mutex::new(HashMap::new()),
            missing_templates: Mutex::new(std::collections::HashSet::new()),
            python_tag: python_tag(),
            pool_wake: tokio::sync::Notify::new(),
            egress_totals: Arc::new(metrics.egress_totals()),
            metrics,
            records,
            store,
            flows: crate::workflows::FlowState::new(Arc::clone(&egress_resolver)),
            rate: RateLimiter::default(),
            egress_resolver,
            isolation: tokio::sync::Mutex::new(None),
        }))
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// `warden doctor`'s report for this server (admin keys): made at most once a
    /// minute, since making it starts a sandbox.
    pub async fn isolation_report(
        &self,
        caller: &Caller,
    ) -> Result<warden_protocol::IsolationReport, EngineError> {
        if !caller.admin {
            return Err(EngineError::Forbidden(
                "the isolation report needs an admin key (warden keys create --admin)".into(),
            ));
        }
        let mut cached = self.isolation.lock().await;
        if let Some((at, report)) = cached.as_ref() {
            if at.elapsed() < Duration::from_secs(60) {
                return Ok(report.clone());
            }
        }
        let jail = Arc::clone(&self.jail);
        let data_dir = self
            .config
            .data_dir
            .clone()
            .unwrap_or_else(|| std::path::PathBuf::from("."));
        let report = tokio::task::spawn_blocking(move || {
            crate::doctor::report(&data_dir, jail.config(), Some(&jail))
        })
        .await
        .map_err(|e| {
            EngineError::Io(std::io::Error::other(format!(
                "the isolation checks failed: {e}"
            )))
        })?;
        let report = crate::doctor::to_protocol(&report, unix(SystemTime::now()));
        *cached = Some((std::time::Instant::now(), report.clone()));
        Ok(report)
    }

    /// The limits in force for the caller: the server's, and the caller's policy.
    pub fn limits(&self, caller: &Caller) -> warden_protocol::LimitsInfo {
        let c = &self.config;
        warden_protocol::LimitsInfo {
            tenant: caller.tenant.clone(),
            admin: caller.admin,
            dev_mode: c.dev_mode,
            server: warden_protocol::ServerLimits {
                max_sessions: c.max_sessions,
                max_code_bytes: c.max_code_bytes,
                max_inline_file_bytes: c.max_inline_file_bytes,
                inline_result_file_bytes: c.inline_result_file_bytes,
                default_timeout_seconds: c.default_cell_timeout.as_secs_f64(),
                max_timeout_seconds: c.max_cell_timeout.as_secs_f64(),
                max_memory_mb: c.max_memory_mb,
                max_disk_mb: c.max_disk_mb,
                cell_output_bytes: c.session_limits.cell_output_bytes,
                default_idle_ttl_seconds: c.default_idle_ttl.as_secs_f64(),
                max_idle_ttl_seconds: c.max_idle_ttl.as_secs_f64(),
                max_lifetime_seconds: c.max_lifetime.as_secs_f64(),
                pools: [
                    (Language::Python, c.pool.python),
                    (Language::Javascript, c.pool.javascript),
                    (Language::Bash, c.pool.bash),
                ]
                .into_iter()
                .map(|(l, n)| (l.as_str().to_string(), n))
                .collect(),
                template_pools: c.template_pools.iter().cloned().collect(),
                workflow_max_steps: c.flows.max_steps,
                workflow_max_seconds: c.flows.max_duration.as_secs_f64(),
            },
            policy: match serde_json::to_value(&caller.policy) {
                // Only what the policy sets: an unset field takes the server's limit.
                Ok(mut v @ serde_json::Value::Object(_)) => {
                    drop_nulls(&mut v);
                    v
                }
                _ => serde_json::Value::Object(Default::default()),
            },
        }
    }

    /// The metrics as OpenMetrics text (see [`crate::metrics::CONTENT_TYPE`]).
    pub fn metrics_text(&self) -> String {
        let pool: Vec<(Language, usize)> = Language::ALL
            .into_iter()
            .map(|l| (l, self.pool_len_of(l)))
            .collect();
        self.metrics.render(self.session_count(), &pool)
    }

    fn record(
        &self,
        kind: Kind,
        language: Language,
        result: &Result<CellResponse, EngineError>,
        started: Instant,
    ) {
        let status = match result {
            Ok(r) if r.timed_out => "timeout".to_string(),
            Ok(r) => r.status.clone(),
            Err(e) => e.code().as_str().to_ascii_lowercase(),
        };
        self.metrics
            .execution(kind, language, status, started.elapsed());
    }

    /// A session of the caller's tenant; another tenant's session is "not found".
    fn slot(&self, caller: &Caller, id: &str) -> Result<Arc<Slot>, EngineError> {
        self.sessions
            .lock()
            .ok()
            .and_then(|m| m.get(id).cloned())
            .filter(|s| s.tenant == caller.tenant)
            .ok_or_else(|| EngineError::SessionNotFound(id.to_string()))
    }

    fn check_open(&self) -> Result<(), EngineError> {
        if self.shutting_down.load(Ordering::Relaxed) {
            return Err(EngineError::Unavailable(
                "the server is shutting down".into(),
            ));
        }
        Ok(())
    }

    /// A ready session with `paths` (package sets) on its module path.
    async fn obtain(
        &self,
        language: Language,
        limits: Option<SessionLimits>,
        env: &Environment,
        paths: &[String],
        egress: Option<Arc<crate::egress::Gate>>,
    ) -> Result<Session, EngineError> {
        let mut session = self.obtain_bare(language, limits, env, egress).await?;
        if let Err(e) = session.add_paths(paths).await {
            session.close().await;
            return Err(e);
        }
        Ok(session)
    }

    /// A ready session: from the pool when the defaults fit, else a fresh one.
    async fn obtain_bare(
        &self,
        language: Language,
        limits: Option<SessionLimits>,
        env: &Environment,
        egress: Option<Arc<crate::egress::Gate>>,
    ) -> Result<Session, EngineError> {
        // Pooled sandboxes have no network: a session with egress gets a fresh one,
        // listening for its proxy before the agent starts.
        self.check_tier(env.tier)?;
        if limits.is_none() && egress.is_none() {
            let key = pool_key(language, env);
            loop {
                let pooled = self
                    .pool
                    .lock()
                    .ok()
                    .and_then(|mut p| p.get_mut(&key).and_then(|q| q.pop_front()));
                let Some(session) = pooled else { break };
                self.pool_wake.notify_one();
                if session.alive() {
                    return Ok(session);
                }
                session.close().await;
            }
        }
        let limits = limits.unwrap_or_else(|| self.config.session_limits.clone());
        self.metrics.sandbox_started();
        Session::start(self.jail.clone(), language, limits, env, egress).await
    }

    /// Whether this server can run sandboxes on `tier`.
    pub fn check_tier(&self, tier: warden_protocol::Tier) -> Result<(), EngineError> {
        match tier {
            warden_protocol::Tier::Namespaces => Ok(()),
            warden_protocol::Tier::Gvisor => self.jail.gvisor().map(drop).map_err(|why| {
                EngineError::Unavailable(format!("the gvisor tier is not available here: {why}"))
            }),
        }
    }

    /// The isolation tiers this host offers, each with why it is missing if it is.
    pub fn tiers(&self) -> Vec<(warden_protocol::Tier, Result<String, String>)> {
        vec![
            (
                warden_protocol::Tier::Namespaces,
                Ok("the host kernel's namespaces, seccomp, landlock and cgroups".into()),
            ),
            (
                warden_protocol::Tier::Gvisor,
                self.jail
                    .gvisor()
                    .map(|r| format!("{} ({}), ptrace platform", r.path.display(), r.version())),
            ),
        ]
    }

    /// The egress gate of a sandbox asked for with `network` / `egress`: `None` without
    /// network; refused when the policy has no `egress` or the request asks for more.
    pub fn egress_gate(
        &self,
        caller: &Caller,
        network: Option<bool>,
        egress: Option<&warden_protocol::EgressRequest>,
    ) -> Result<Option<Arc<crate::egress::Gate>>, EngineError> {
        let asked = egress.and_then(|e| e.allow.as_deref());
        match network {
            Some(true) => {}
            _ if asked.is_some() => {
                return Err(EngineError::Invalid(
                    "egress.allow needs \"network\": true".into(),
                ))
            }
            _ => return Ok(None),
        }
        if let Some(list) = asked {
            crate::egress::validate_patterns(list).map_err(EngineError::Invalid)?;
        }
        let Some(policy) = &caller.policy.egress else {
            return Err(EngineError::PolicyDenied(
                "the tenant's policy allows no network (it has no `egress`)".into(),
            ));
        };
        let rules = policy.rules(asked).map_err(EngineError::PolicyDenied)?;
        Ok(Some(Arc::new(crate::egress::Gate::new(
            rules,
            Arc::clone(&self.egress_resolver),
            Arc::clone(&self.egress_totals),
        ))))
    }

    /// The environment of a session asking for a template and packages: the package
    /// set is checked against the caller's allowlist and installed into the cache when
    /// it is not there yet.
    pub async fn environment(
        &self,
        caller: &Caller,
        language: Language,
        template: Option<&str>,
        packages: &[String],
    ) -> Result<(Environment, Vec<String>), EngineError> {
        let env = self.template_environment(language, template)?;
        let paths = self.package_paths(caller, language, packages).await?;
        Ok((env, paths))
    }

    /// The `sys.path` entries of a package request: the set checked against the caller's
    /// allowlist and installed into the cache when it is not there yet.
    async fn package_paths(
        &self,
        caller: &Caller,
        language: Language,
        packages: &[String],
    ) -> Result<Vec<String>, EngineError> {
        if packages.is_empty() {
            return Ok(Vec::new());
        }
        if language != Language::Python {
            return Err(EngineError::Invalid(format!(
                "packages are Python packages; {language} sessions cannot ask for them"
            )));
        }
        let set = caller.policy.allowlist().check(packages)?;
        let key = self.package_set(&set).await?;
        Ok(vec![crate::session::package_path(&key)])
    }

    /// A package set from the cache, installed first if needed (once, however many ask
    /// for it at the same time).
    async fn package_set(&self, set: &crate::packages::PackageSet) -> Result<String, EngineError> {
        let (Some(cache), Some(installer)) = (&self.config.package_cache, &self.installer) else {
            return Err(EngineError::Invalid(
                "this server has no package cache".into(),
            ));
        };
        let key = set.key(&self.python_tag, std::env::consts::ARCH, installer.index());
        let dir = cache.join(&key);
        if dir.is_dir() {
            self.metrics.package_set(None);
            return Ok(key);
        }
        let lock = self
            .installing
            .lock()
            .map(|mut m| m.entry(key.clone()).or_default().clone())
            .map_err(|_| EngineError::Invalid("the install table is poisoned".into()))?;
        let _one = lock.lock().await;
        if dir.is_dir() {
            self.metrics.package_set(None);
            return Ok(key);
        }
        let spec = crate::installer::InstallSpec {
            requirements: set.requirements.clone(),
            timeout: self.config.package_install_timeout,
            memory_mb: 2048,
            ..crate::installer::InstallSpec::default()
        };
        let installed = installer
            .install(&spec, Box::new(|_: &[u8]| {}))
            .await
            .map_err(|e| EngineError::PackageInstallFailed(e.to_string()))?;
        let connections = installed.index_connections;
        let published =
            set_mode(&installed.dir, 0o755).and_then(|()| std::fs::rename(&installed.dir, &dir));
        if let Err(e) = published {
            let _ = std::fs::remove_dir_all(&installed.dir);
            return Err(EngineError::Io(e));
        }
        if let Ok(mut m) = self.installing.lock() {
            m.remove(&key);
        }
        self.metrics.package_set(Some(connections));
        Ok(key)
    }

    /// The environment of a template (none: the bare runtime).
    fn template_environment(
        &self,
        language: Language,
        template: Option<&str>,
    ) -> Result<Environment, EngineError> {
        let bare = Environment {
            tools: self.config.tools_dir.clone(),
            cache: self
                .config
                .package_cache
                .clone()
                .filter(|_| language == Language::Python),
            ..Environment::default()
        };
        let Some(name) = template else {
            return Ok(bare);
        };
        let store = self
            .templates
            .as_ref()
            .ok_or_else(|| EngineError::TemplateNotFound(name.to_string()))?;
        let info = store.get(name)?;
        let fits = match language {
            Language::Python => !info.pip.is_empty(),
            Language::Javascript => !info.npm.is_empty(),
            Language::Bash => false,
        };
        if !fits {
            return Err(EngineError::Invalid(format!(
                "template {name} holds no packages for {language} (Python packages: {}, npm packages: {})",
                info.pip.len(),
                info.npm.len()
            )));
        }
        Ok(Environment {
            template: Some(TemplateMount {
                name: info.name.clone(),
                dir: store.dir(&info),
                build: info.build,
                preload: info.preload,
            }),
            ..bare
        })
    }

    /// Starts building a template in the background (admin keys only); its progress is
    /// [`Engine::template_build`]. A second build of a name while one runs is refused.
    pub async fn build_template(
        self: &Arc<Self>,
        caller: &Caller,
        req: warden_protocol::BuildTemplate,
    ) -> Result<warden_protocol::TemplateBuild, EngineError> {
        if !caller.admin {
            return Err(EngineError::Forbidden(
                "building templates needs an admin key (warden keys create --admin)".into(),
            ));
        }
        self.check_open()?;
        crate::templates::check_name(&req.name)?;
        let (Some(root), Some(_)) = (&self.config.template_root, &self.templates) else {
            return Err(EngineError::Invalid(
                "this server keeps no templates".into(),
            ));
        };
        let crate::templates::BuildPlan { pip, npm, preload } =
            crate::templates::BuildPlan::new(req.recipe.as_deref(), req.pip, req.npm, req.preload)
                .map_err(EngineError::Invalid)?;
        let status = warden_protocol::TemplateBuild {
            name: req.name.clone(),
            state: "building".into(),
            started_at: warden_store::now(),
            finished_at: None,
            error: None,
            template: None,
        };
        {
            let mut builds = self
                .template_builds
                .lock()
                .map_err(|_| EngineError::Invalid("the build table is poisoned".into()))?;
            if builds.get(&req.name).is_some_and(|b| b.state == "building") {
                return Err(EngineError::Conflict(format!(
                    "template {} is being built; see GET /v1/templates/{}/build",
                    req.name, req.name
                )));
            }
            builds.insert(req.name.clone(), status.clone());
        }
        self.write_audit(
            "template.build",
            Some(caller.tenant.clone()),
            caller.key_id.clone(),
            Some(&req.name),
            serde_json::json!({"pip": pip, "npm": npm, "preload": preload}),
        )
        .await;
        let engine = Arc::clone(self);
        let installer = crate::installer::Installer::new(
            self.jail.clone(),
            root.join(".staging"),
            self.config.index_url.clone(),
        );
        let name = req.name.clone();
        tokio::spawn(async move {
            let spec = crate::installer::InstallSpec {
                requirements: pip.clone(),
                npm: npm.clone(),
                preload: preload.clone(),
                timeout: Duration::from_secs(1800),
                ..crate::installer::InstallSpec::default()
            };
            let result = match installer.install(&spec, Box::new(|_: &[u8]| {})).await {
                Ok(installed) => engine
                    .templates
                    .as_ref()
                    .ok_or_else(|| "no template store".to_string())
                    .and_then(|store| {
                        store
                            .publish(&name, installed, pip, npm, preload)
                            .map_err(|e| e.to_string())
                    }),
                Err(e) => Err(e.to_string()),
            };
            let (action, detail) = match &result {
                Ok(t) => ("template.published", serde_json::json!({"build": t.build})),
                Err(e) => ("template.failed", serde_json::json!({"error": e})),
            };
            engine
                .write_audit(action, None, None, Some(&name), detail)
                .await;
            if let Ok(mut builds) = engine.template_builds.lock() {
                if let Some(b) = builds.get_mut(&name) {
                    b.finished_at = Some(warden_store::now());
                    match result {
                        Ok(t) => {
                            b.state = "ready".into();
                            b.template = Some(t);
                        }
                        Err(e) => {
                            b.state = "failed".into();
                            b.error = Some(e);
                        }
                    }
                }
            }
            engine.pool_wake.notify_one();
        });
        Ok(status)
    }

    /// The latest API build of a template on this server.
    pub fn template_build(
        &self,
        name: &str,
    ) -> Result<warden_protocol::TemplateBuild, EngineError> {
        self.template_builds
            .lock()
            .ok()
            .and_then(|b| b.get(name).cloned())
            .ok_or_else(|| {
                EngineError::TemplateNotFound(format!("{name} (no build on this server)"))
            })
    }

    /// One published template.
    pub fn template(&self, name: &str) -> Result<warden_protocol::TemplateInfo, EngineError> {
        let store = self
            .templates
            .as_ref()
            .ok_or_else(|| EngineError::TemplateNotFound(name.to_string()))?;
        Ok(store.get(name)?)
    }

    /// Removes template builds no template names any more; call at start-up, before
    /// any sandbox runs.
    pub fn collect_template_garbage(&self) -> usize {
        if let Some(root) = &self.config.template_root {
            // Builds a crash cut short.
            let _ = std::fs::remove_dir_all(root.join(".staging"));
        }
        self.templates
            .as_ref()
            .map(|t| t.collect_garbage())
            .unwrap_or(0)
    }

    /// The published templates.
    pub fn templates(&self) -> Vec<warden_protocol::TemplateInfo> {
        self.templates
            .as_ref()
            .map(|t| t.list())
            .unwrap_or_default()
    }

    /// Sessions waiting in the pool, all languages together.
    pub fn pool_len(&self) -> usize {
        self.pool
            .lock()
            .map(|p| p.values().map(VecDeque::len).sum())
            .unwrap_or(0)
    }

    /// Sessions of one language waiting in the pool (templates' included).
    pub fn pool_len_of(&self, language: Language) -> usize {
        self.pool
            .lock()
            .map(|p| {
                p.iter()
                    .filter(|((l, _, _), _)| *l == language)
                    .map(|(_, q)| q.len())
                    .sum()
            })
            .unwrap_or(0)
    }

    fn pool_len_key(&self, key: &PoolKey) -> usize {
        self.pool
            .lock()
            .map(|p| p.get(key).map_or(0, VecDeque::len))
            .unwrap_or(0)
    }

    /// Every pool the configuration asks for, with its environment and size: one per
    /// language, and one per configured template (its current build).
    fn wanted_pools(&self) -> Vec<(Language, Environment, usize)> {
        let gvisor = |env: Environment| Environment {
            tier: warden_protocol::Tier::Gvisor,
            ..env
        };
        let mut wanted: Vec<(Language, Environment, usize)> = Vec::new();
        for l in Language::ALL {
            // The bare environment of a language cannot fail.
            let Ok(env) = self.template_environment(l, None) else {
                continue;
            };
            if self.config.pool.gvisor(l) > 0 {
                wanted.push((l, gvisor(env.clone()), self.config.pool.gvisor(l)));
            }
            wanted.push((l, env, self.config.pool.get(l)));
        }
        let templates = self
            .config
            .template_pools
            .iter()
            .map(|(n, size)| (n, size, false))
            .chain(
                self.config
                    .gvisor_template_pools
                    .iter()
                    .map(|(n, size)| (n, size, true)),
            );
        for (name, size, on_gvisor) in templates {
            let env = self.template_environment(Language::Python, Some(name));
            // Said once while the template is missing, not on every refill round.
            let first = self
                .missing_templates
                .lock()
                .map(|mut m| match &env {
                    Ok(_) => {
                        m.remove(name);
                        false
                    }
                    Err(_) => m.insert(name.clone()),
                })
                .unwrap_or(false);
            match env {
                Ok(env) if on_gvisor => wanted.push((Language::Python, gvisor(env), *size)),
                Ok(env) => wanted.push((Language::Python, env, *size)),
                Err(e) if first => eprintln!("warden: no pool for template {name} yet: {e}"),
                Err(_) => {}
            }
        }
        // The namespace tier's pools fill first: a gVisor sandbox takes longer to start.
        wanted.sort_by_key(|(_, env, _)| env.tier == warden_protocol::Tier::Gvisor);
        wanted
    }

    /// The first pool below its size; sessions of builds no longer wanted (a template
    /// rebuilt or removed) are taken out of the pool, to be closed.
    fn pool_short(&self) -> (Option<(Language, Environment)>, Vec<Session>) {
        let wanted = self.wanted_pools();
        let stale: Vec<Session> = self
            .pool
            .lock()
            .map(|mut p| {
                let keys: Vec<PoolKey> = p
                    .keys()
                    .filter(|k| !wanted.iter().any(|(l, e, _)| **k == pool_key(*l, e)))
                    .cloned()
                    .collect();
                keys.iter().filter_map(|k| p.remove(k)).flatten().collect()
            })
            .unwrap_or_default();
        let short = wanted.into_iter().find_map(|(l, env, size)| {
            (self.pool_len_key(&pool_key(l, &env)) < size).then_some((l, env))
        });
        (short, stale)
    }

    /// Keeps the pool at its size until shutdown.
    pub fn spawn_pool(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let engine = Arc::clone(self);
        tokio::spawn(async move {
            while !engine.shutting_down.load(Ordering::Relaxed) {
                let (short, stale) = engine.pool_short();
                for session in stale {
                    session.close().await;
                }
                if let Some((language, env)) = short {
                    let limits = engine.config.session_limits.clone();
                    engine.metrics.sandbox_started();
                    match Session::start(engine.jail.clone(), language, limits, &env, None).await {
                        Ok(session) => {
                            if engine.shutting_down.load(Ordering::Relaxed) {
                                session.close().await;
                                break;
                            }
                            if let Ok(mut p) = engine.pool.lock() {
                                p.entry(pool_key(language, &env))
                                    .or_default()
                                    .push_back(session);
                            }
                        }
                        Err(e) => {
                            eprintln!("warden: cannot start a pooled {language} session: {e}");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                    continue;
                }
                tokio::select! {
                    _ = engine.pool_wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        })
    }

    /// The session limits for a request, or `None` when it asks for the defaults (so a
    /// pooled sandbox fits).
    fn limits_for(
        &self,
        caller: &Caller,
        memory_mb: Option<u64>,
        disk_mb: Option<u64>,
    ) -> Result<Option<SessionLimits>, EngineError> {
        let policy = &caller.policy;
        let mut limits = self.config.session_limits.clone();
        let memory_mb = capped(
            memory_mb,
            policy.max_memory_mb,
            limits.sandbox.memory_bytes >> 20,
            "memory_mb",
            "max_memory_mb",
        )?;
        let disk_mb = capped(
            disk_mb,
            policy.max_disk_mb,
            limits.sandbox.workspace_bytes >> 20,
            "disk_mb",
            "max_disk_mb",
        )?;
        let pids = policy.max_pids.filter(|&p| p < limits.sandbox.pids);
        if memory_mb.is_none() && disk_mb.is_none() && pids.is_none() && policy.max_cpus.is_none() {
            return Ok(None);
        }
        if let Some(mb) = memory_mb {
            if mb < 16 || mb > self.config.max_memory_mb {
                return Err(EngineError::Invalid(format!(
                    "memory_mb must be between 16 and the server's maximum of {}",
                    self.config.max_memory_mb
                )));
            }
            limits.sandbox.memory_bytes = mb << 20;
        }
        if let Some(mb) = disk_mb {
            if mb < 1 || mb > self.config.max_disk_mb {
                return Err(EngineError::Invalid(format!(
                    "disk_mb must be between 1 and the server's maximum of {}",
                    self.config.max_disk_mb
                )));
            }
            limits.sandbox.workspace_bytes = mb << 20;
            limits.sandbox.file_size_bytes = limits.sandbox.file_size_bytes.max(mb << 20);
        }
        if let Some(p) = pids {
            limits.sandbox.pids = p.max(8);
        }
        if let Some(c) = policy.max_cpus {
            limits.sandbox.cpus = Some(c);
        }
        Ok(Some(limits))
    }

    /// A request's timeout, within the server's maximum and the caller's policy.
    fn timeout_for(&self, caller: &Caller, asked: Option<f64>) -> Result<Duration, EngineError> {
        let t = seconds(
            asked,
            self.config.default_cell_timeout,
            self.config.max_cell_timeout,
            "timeout",
        )?;
        match caller.policy.max_timeout.map(Duration::from_secs_f64) {
            Some(max) if t > max && asked.is_some() => Err(EngineError::PolicyDenied(format!(
                "timeout of {} s is over the policy's max_timeout of {} s",
                t.as_secs_f64(),
                max.as_secs_f64()
            ))),
            Some(max) if t > max => Ok(max),
            _ => Ok(t),
        }
    }

    /// The policy's checks before an execution: language, code size, rate, CPU quota.
    async fn admit_execution(
        &self,
        caller: &Caller,
        language: Language,
        code: &str,
    ) -> Result<Screening, EngineError> {
        let policy = &caller.policy;
        if !policy.allows(language) {
            return Err(EngineError::PolicyDenied(format!(
                "the policy does not allow {language} (languages)"
            )));
        }
        if let Some(max) = policy.max_code_bytes {
            if code.len() > max {
                return Err(EngineError::PolicyDenied(format!(
                    "the code's {} bytes are over the policy's max_code_bytes of {max}",
                    code.len()
                )));
            }
        }
        let screening = if code.len() <= INLINE_PARSE_BYTES {
            screening::screen(policy, language, code)?
        } else {
            let (policy, code) = (policy.clone(), code.to_string());
            off_thread(move || screening::screen(&policy, language, &code)).await??
        };
        if let Some(per_minute) = policy.executions_per_minute {
            if let Err(wait) = self.rate.take(&caller.tenant, per_minute) {
                return Err(EngineError::RateLimited {
                    message: format!("over the policy's executions_per_minute of {per_minute}"),
                    retry_after: wait,
                });
            }
        }
        if let Some(max) = policy.cpu_seconds_per_day {
            self.records.flush().await?;
            let used = self
                .store
                .cpu_seconds_since(&caller.tenant, warden_store::now() - 86_400.0)
                .await?;
            if used >= max {
                return Err(EngineError::QuotaExceeded {
                    message: format!(
                        "{used:.1} CPU seconds used in the last 24 h, the policy's cpu_seconds_per_day is {max}"
                    ),
                    retry_after: Duration::from_secs(60),
                });
            }
        }
        Ok(screening)
    }

    /// Decodes the files of a request, checking their total size.
    fn decode_files(
        &self,
        files: &BTreeMap<String, FileContent>,
    ) -> Result<Vec<(String, Vec<u8>)>, EngineError> {
        let mut total = 0usize;
        let mut out = Vec::with_capacity(files.len());
        for (path, content) in files {
            crate::files::components(path)?;
            let bytes = match content {
                FileContent::Text(t) => t.clone().into_bytes(),
                FileContent::Encoded { content, encoding } => match encoding.as_deref() {
                    None | Some("utf-8") | Some("utf8") => content.clone().into_bytes(),
                    Some("base64") => BASE64.decode(content.as_bytes()).map_err(|e| {
                        EngineError::Invalid(format!("file {path:?} is not valid base64: {e}"))
                    })?,
                    Some(other) => {
                        return Err(EngineError::Invalid(format!(
                            "file {path:?} has unknown encoding {other:?} (utf-8 or base64)"
                        )))
                    }
                },
            };
            total += bytes.len();
            if total > self.config.max_inline_file_bytes {
                return Err(EngineError::TooLarge {
                    what: "the inline files",
                    size: total,
                    limit: self.config.max_inline_file_bytes,
                });
            }
            out.push((path.clone(), bytes));
        }
        Ok(out)
    }

    pub async fn create_session(
        &self,
        caller: &Caller,
        req: CreateSession,
    ) -> Result<SessionInfo, EngineError> {
        let cells = match &req.notebook {
            Some(nb) => Some(crate::notebook::code_cells(nb).map_err(EngineError::Invalid)?),
            None => None,
        };
        let r = self.create_session_inner(caller, req).await;
        self.audit_denial(caller, "session.create", &r).await;
        let mut info = r?;
        if let Some(cells) = cells {
            info.cells = Some(self.replay(caller, &info.id, cells).await);
            if let Ok(slot) = self.slot(caller, &info.id) {
                info.execution_count = slot.execution_count.load(Ordering::Relaxed);
            }
        }
        Ok(info)
    }

    /// Runs a notebook's code cells in a new session, in order, up to the first that
    /// fails (an exception, or a refusal such as a syntax error, given as an error reply).
    async fn replay(&self, caller: &Caller, id: &str, cells: Vec<String>) -> Vec<CellResponse> {
        let mut replies = Vec::new();
        for code in cells {
            let req = ExecuteRequest {
                code,
                ..ExecuteRequest::default()
            };
            match self.execute(caller, id, req, &mut |_| {}).await {
                Ok(r) => {
                    let failed = r.status != "ok";
                    replies.push(r);
                    if failed {
                        break;
                    }
                }
                Err(e) => {
                    replies.push(refused_cell(&e));
                    break;
                }
            }
        }
        replies
    }

    /// A session's cells as a Jupyter notebook (nbformat 4.5).
    pub fn notebook(&self, caller: &Caller, id: &str) -> Result<serde_json::Value, EngineError> {
        let slot = self.slot(caller, id)?;
        let history = slot
            .history
            .lock()
            .map_err(|_| EngineError::Protocol("the session's history is poisoned".into()))?;
        Ok(crate::notebook::export(&slot.id, slot.language, &history))
    }

    async fn create_session_inner(
        &self,
        caller: &Caller,
        req: CreateSession,
    ) -> Result<SessionInfo, EngineError> {
        self.check_open()?;
        let idle_ttl = seconds(
            req.idle_ttl,
            self.config.default_idle_ttl,
            self.config.max_idle_ttl,
            "idle_ttl",
        )?;
        let lifetime = seconds(
            req.max_lifetime,
            self.config.max_lifetime,
            self.config.max_lifetime,
            "max_lifetime",
        )?;
        if !caller.policy.allows(req.language) {
            return Err(EngineError::PolicyDenied(format!(
                "the policy does not allow {} (languages)",
                req.language
            )));
        }
        let limits = self.limits_for(caller, req.memory_mb, req.disk_mb)?;
        if let Some(max) = caller.policy.max_sessions {
            if self.tenant_sessions(&caller.tenant) >= max {
                return Err(EngineError::QuotaExceeded {
                    message: format!("the tenant holds its policy's max_sessions of {max}"),
                    retry_after: Duration::from_secs(5),
                });
            }
        }
        if self.sessions.lock().map(|m| m.len()).unwrap_or(0) >= self.config.max_sessions {
            return Err(EngineError::Unavailable(format!(
                "the server holds its maximum of {} sessions",
                self.config.max_sessions
            )));
        }
        let egress = self.egress_gate(caller, req.network, req.egress.as_ref())?;
        let egress_allow = egress.as_ref().map(|g| g.rules.shown().to_vec());
        let (mut env, paths) = self
            .environment(caller, req.language, req.template.as_deref(), &req.packages)
            .await?;
        // A session's tier is fixed when it is made: the policy's for code of no risk, or
        // the stronger one asked for; a cell whose risk needs more is refused later.
        let analysed = (req.language != Language::Bash).then_some(RiskLevel::None);
        env.tier = caller.policy.tier(req.isolation, analysed)?;
        let session = self
            .obtain(req.language, limits, &env, &paths, egress.clone())
            .await?;
        let now = SystemTime::now();
        let slot = Arc::new(Slot {
            id: new_id(),
            tenant: caller.tenant.clone(),
            language: req.language,
            created_at: now,
            env,
            idle_ttl,
            lifetime,
            created: Instant::now(),
            last_used: Mutex::new((Instant::now(), now)),
            execution_count: AtomicU64::new(0),
            dead: Mutex::new(None),
            interrupter: Mutex::new(session.interrupter().ok()),
            workspace: Mutex::new(workspace_of(&session)),
            session: tokio::sync::Mutex::new(Some(session)),
            egress,
            history: Mutex::default(),
        });
        let info = slot.info();
        let record = SessionRecord {
            id: slot.id.clone(),
            node: self.config.node.clone(),
            tenant: caller.tenant.clone(),
            language: req.language.as_str().into(),
            created_at: info.created_at,
            ended_at: None,
            end_reason: None,
        };
        if let Err(e) = self.store.session_started(&record).await {
            close_slot(&slot).await;
            return Err(e.into());
        }
        if let Ok(mut m) = self.sessions.lock() {
            m.insert(slot.id.clone(), slot);
        }
        self.metrics.session_created();
        self.audit(
            "session.created",
            Some(caller),
            Some(&info.id),
            serde_json::json!({
                "language": req.language.as_str(),
                "egress": egress_allow,
            }),
        )
        .await;
        Ok(info)
    }

    /// Live sessions of a tenant.
    fn tenant_sessions(&self, tenant: &str) -> usize {
        self.sessions
            .lock()
            .map(|m| m.values().filter(|s| s.tenant == tenant).count())
            .unwrap_or(0)
    }

    /// The caller's live sessions, oldest first.
    pub fn list_sessions(&self, caller: &Caller) -> Vec<SessionInfo> {
        let mut v: Vec<SessionInfo> = self
            .sessions
            .lock()
            .map(|m| {
                m.values()
                    .filter(|s| s.tenant == caller.tenant)
                    .map(|s| s.info())
                    .collect()
            })
            .unwrap_or_default();
        v.sort_by(|a, b| a.created_at.total_cmp(&b.created_at));
        v
    }

    pub fn get_session(&self, caller: &Caller, id: &str) -> Result<SessionInfo, EngineError> {
        Ok(self.slot(caller, id)?.info())
    }

    /// Closes a session and forgets it. A running cell is killed with it.
    pub async fn delete_session(&self, caller: &Caller, id: &str) -> Result<(), EngineError> {
        self.slot(caller, id)?;
        let slot = self
            .sessions
            .lock()
            .ok()
            .and_then(|mut m| m.remove(id))
            .ok_or_else(|| EngineError::SessionNotFound(id.to_string()))?;
        close_slot(&slot).await;
        self.metrics.session_closed("deleted");
        self.session_ended(&slot, "deleted").await;
        self.audit(
            "session.deleted",
            Some(caller),
            Some(id),
            serde_json::json!({}),
        )
        .await;
        Ok(())
    }

    /// Notes in the store that a session ended (failures go to the log).
    async fn session_ended(&self, slot: &Slot, reason: &str) {
        if let Err(e) = self
            .store
            .session_ended(&slot.id, reason, warden_store::now())
            .await
        {
            eprintln!("warden: cannot record the end of session {}: {e}", slot.id);
        }
    }

    /// Audits an action of a caller (see [`Engine::write_audit`]).
    pub async fn audit(
        &self,
        action: &str,
        caller: Option<&Caller>,
        target: Option<&str>,
        detail: serde_json::Value,
    ) {
        self.write_audit(
            action,
            caller.map(|c| c.tenant.clone()),
            caller.and_then(|c| c.key_id.clone()),
            target,
            detail,
        )
        .await;
    }

    /// Appends to the audit log and writes the same entry as a JSON line on stderr; a
    /// failure to append goes to the log, not to the request.
    async fn write_audit(
        &self,
        action: &str,
        tenant: Option<String>,
        key_id: Option<String>,
        target: Option<&str>,
        detail: serde_json::Value,
    ) {
        let event = AuditEvent {
            seq: 0,
            at: warden_store::now(),
            action: action.into(),
            tenant,
            key_id,
            target: target.map(str::to_string),
            detail: Some(detail.to_string()),
        };
        eprintln!(
            "{}",
            serde_json::json!({"audit": {
                "at": event.at, "action": event.action, "tenant": event.tenant,
                "key_id": event.key_id, "target": event.target, "detail": detail,
            }})
        );
        if let Err(e) = self.store.append_audit(&event).await {
            eprintln!("warden: cannot append to the audit log: {e}");
        }
    }

    /// Audits a refusal by policy, rate or quota (with the id of its record, for a
    /// `SECURITY_VIOLATION` that has one).
    async fn audit_denial<T>(&self, caller: &Caller, what: &str, r: &Result<T, EngineError>) {
        if let Err(
            e @ (EngineError::PolicyDenied(_)
            | EngineError::SecurityViolation { .. }
            | EngineError::RateLimited { .. }
            | EngineError::QuotaExceeded { .. }),
        ) = r
        {
            let mut detail = serde_json::json!({"operation": what, "code": e.code().as_str(), "message": e.to_string()});
            if let EngineError::SecurityViolation {
                execution_id: Some(id),
                ..
            } = e
            {
                detail["execution_id"] = id.as_str().into();
            }
            self.audit("policy.denied", Some(caller), None, detail)
                .await;
        }
    }

    /// Runs a cell in a session. A second call while one runs gets `SessionBusy`.
    pub async fn execute(
        &self,
        caller: &Caller,
        id: &str,
        req: ExecuteRequest,
        on_event: &mut (dyn FnMut(Event) + Send),
    ) -> Result<CellResponse, EngineError> {
        let code = req.code.clone();
        self.execute_as(caller, id, req, &code, on_event).await
    }

    /// Runs a cell whose code wraps the caller's `code` (a workflow node between its
    /// input prologue and result epilogue): the policy's syntax and risk screening, and
    /// the execution record, are about `code`, not the wrapper warden added.
    pub async fn execute_as(
        &self,
        caller: &Caller,
        id: &str,
        req: ExecuteRequest,
        code: &str,
        on_event: &mut (dyn FnMut(Event) + Send),
    ) -> Result<CellResponse, EngineError> {
        let started = Instant::now();
        let started_at = warden_store::now();
        let language = self.slot(caller, id)?.language;
        let guard = OutputGuard::new(&caller.policy);
        let (mut result, usage) = {
            let mut filter = guard.stream(on_event);
            let outcome = self
                .execute_in_session(caller, id, req, code, &mut |e| filter.send(e))
                .await;
            filter.finish();
            outcome
        };
        self.finish_execution(
            caller,
            Some(id),
            Kind::Cell,
            language,
            code,
            &mut result,
            started_at,
            started,
            usage,
            &guard,
        )
        .await;
        if let (Ok(r), Ok(slot)) = (&result, self.slot(caller, id)) {
            if let Ok(mut h) = slot.history.lock() {
                h.push(code, r);
            }
        }
        result
    }

    async fn execute_in_session(
        &self,
        caller: &Caller,
        id: &str,
        req: ExecuteRequest,
        screened: &str,
        on_event: &mut (dyn FnMut(Event) + Send),
    ) -> (Result<CellResponse, EngineError>, Usage) {
        let none = Usage::default();
        let prepared = async {
            self.check_open()?;
            self.check_code(&req.code)?;
            let timeout = self.timeout_for(caller, req.timeout)?;
            let slot = self.slot(caller, id)?;
            if let Some(lang) = req.language {
                if lang != slot.language {
                    return Err(EngineError::Invalid(format!(
                        "session {id} runs {}, not {lang}",
                        slot.language
                    )));
                }
            }
            if req.memory_mb.is_some()
                || req.disk_mb.is_some()
                || req.template.is_some()
                || req.network.is_some()
                || req.egress.is_some()
            {
                return Err(EngineError::Invalid(
                    "memory_mb, disk_mb, template, network and egress are set when a session is \
                     created, not per cell"
                        .into(),
                ));
            }
            if req.isolation.is_some_and(|t| t != slot.env.tier) {
                return Err(EngineError::Invalid(format!(
                    "session {id} runs on the {} tier; isolation is set when a session is created",
                    slot.env.tier
                )));
            }
            let files = self.decode_files(&req.files)?;
            let screening = self
                .admit_execution(caller, slot.language, screened)
                .await?;
            // Code whose risk the policy runs on a stronger tier than the session's.
            let risk = screening.report.as_ref().map(|r| r.risk);
            let needed = caller.policy.tier(None, risk)?;
            if needed > slot.env.tier {
                return Err(EngineError::PolicyDenied(format!(
                    "the policy runs code of risk level {} on the {needed} tier, and session \
                     {id} runs on {} (create it with \"isolation\": \"{needed}\")",
                    risk.map_or("unanalysed", RiskLevel::as_str),
                    slot.env.tier
                )));
            }
            let timeout = match screening.action {
                RiskAction::Restrict => {
                    timeout.min(caller.policy.risk_policy().restricted_timeout())
                }
                _ => timeout,
            };
            // Packages a cell asks for are installed (or found cached) before the cell
            // takes the session, then added to its module path.
            let paths = self
                .package_paths(caller, slot.language, &req.packages)
                .await?;
            if !files.is_empty() {
                let ws = self.workspace(caller, id)?;
                place_files(&ws, files).await?;
            }
            Ok((slot, timeout, paths, screening))
        }
        .await;
        let (slot, timeout, paths, screening) = match prepared {
            Ok(p) => p,
            Err(e) => return (Err(e), none),
        };
        let none = Usage {
            analysis: screening.report,
            tier: slot.env.tier,
            ..Usage::default()
        };
        let Ok(mut guard) = slot.session.try_lock() else {
            return (Err(EngineError::SessionBusy(id.to_string())), none);
        };
        slot.touch();
        let Some(session) = guard.as_mut() else {
            return (Err(EngineError::SessionDead(DeathReason::Closed)), none);
        };
        if let Err(e) = session.add_paths(&paths).await {
            return (Err(e), none);
        }
        let cpu_before = session.cpu_usage();
        if let Some(gate) = &slot.egress {
            // What happened between cells is not this cell's.
            gate.take_report();
        }
        let io = CellIo {
            input: req.input.as_ref(),
            result: req.input.is_some(),
        };
        let result = session.execute_with(&req.code, io, timeout, on_event).await;
        let usage = Usage {
            egress: slot.egress.as_ref().map(|g| g.take_report()),
            cpu: match (cpu_before, session.cpu_usage()) {
                (Some(a), Some(b)) => Some(b.saturating_sub(a)),
                _ => None,
            },
            peak_memory: session.peak_memory(),
            analysis: none.analysis,
            tier: slot.env.tier,
        };
        slot.touch();
        let result = match result {
            Ok(r) => {
                slot.execution_count
                    .store(r.execution_count, Ordering::Relaxed);
                Ok(to_response(r))
            }
            Err(e) => {
                if let EngineError::SessionDead(reason) = &e {
                    if let Ok(mut d) = slot.dead.lock() {
                        *d = Some(*reason);
                    }
                }
                Err(e)
            }
        };
        (result, usage)
    }

    /// After an execution: audits a refusal by policy, counts it in the metrics, and
    /// stores the record of an execution that ran (refused requests have none) before the
    /// reply reports it, auditing the limits that fired. A record that cannot be stored
    /// turns the reply into an error: nothing is acknowledged unrecorded.
    #[allow(clippy::too_many_arguments)]
    async fn finish_execution(
        &self,
        caller: &Caller,
        session_id: Option<&str>,
        kind: Kind,
        language: Language,
        code: &str,
        result: &mut Result<CellResponse, EngineError>,
        started_at: f64,
        started: Instant,
        usage: Usage,
        guard: &OutputGuard,
    ) {
        // A refusal for the code's risk is audited once its record is stored.
        if !matches!(result, Err(EngineError::SecurityViolation { .. })) {
            self.audit_denial(caller, "execute", result).await;
        }
        let egress = usage.egress.clone();
        if let Some(report) = &egress {
            for c in report
                .connections
                .iter()
                .filter(|c| c.decision == "denied")
                .take(10)
            {
                self.audit(
                    "egress.denied",
                    Some(caller),
                    session_id,
                    serde_json::json!({
                        "host": c.host, "port": c.port, "reason": c.reason,
                        "kind": kind_str(kind),
                    }),
                )
                .await;
            }
        }
        let secrets = match result {
            Ok(r) => {
                r.egress = egress.clone();
                r.tier = Some(usage.tier);
                let secrets = guard.apply(r);
                if let Some(report) = &usage.analysis {
                    r.risk = Some(report.risk);
                    r.findings = report.findings.clone();
                }
                r.secrets = secrets.clone();
                secrets
            }
            Err(_) => BTreeMap::new(),
        };
        self.record(kind, language, result, started);
        let wall = started.elapsed();
        let (status, error_code, out, err) = match &*result {
            Ok(r) => {
                let error_code = match r.error.as_ref().map(|e| e.name.as_str()) {
                    _ if r.timed_out => Some("TIMEOUT"),
                    None => None,
                    Some("MemoryLimit") => Some("MEMORY_LIMIT"),
                    Some("CpuLimit") => Some("CPU_LIMIT"),
                    Some("Exited") => Some("KILLED"),
                    Some(_) => Some("EXECUTION_ERROR"),
                };
                // A program that failed after its network was cut at a limit failed
                // because of the limit.
                let error_code = match (error_code, egress.as_ref().and_then(|e| e.error_code)) {
                    (None | Some("EXECUTION_ERROR"), Some(_))
                        if r.status != "ok" || r.error.is_some() =>
                    {
                        Some("EGRESS_LIMIT")
                    }
                    (c, _) => c,
                };
                let status = match error_code {
                    Some("TIMEOUT") => "timeout".to_string(),
                    Some("MEMORY_LIMIT") => "memory_limit".to_string(),
                    Some("CPU_LIMIT") => "cpu_limit".to_string(),
                    _ => r.status.clone(),
                };
                (status, error_code, r.stdout.len(), r.stderr.len())
            }
            Err(EngineError::SessionDead(reason)) if *reason != DeathReason::Closed => {
                let code = match reason {
                    DeathReason::MemoryLimit => "MEMORY_LIMIT",
                    DeathReason::Timeout => "TIMEOUT",
                    DeathReason::CpuLimit => "CPU_LIMIT",
                    _ => "SESSION_DEAD",
                };
                (code.to_ascii_lowercase(), Some(code), 0, 0)
            }
            // Code the policy refused for its risk level is recorded too (nothing ran),
            // with the findings behind the refusal, so that it can be looked at.
            Err(EngineError::SecurityViolation { .. }) => {
                ("refused".to_string(), Some("SECURITY_VIOLATION"), 0, 0)
            }
            Err(_) => return,
        };
        let (risk, findings) = match &*result {
            Err(EngineError::SecurityViolation { risk, findings, .. }) => (*risk, findings.clone()),
            _ => usage.analysis.as_ref().map_or_else(
                || (RiskLevel::None, Vec::new()),
                |a| (a.risk, a.findings.clone()),
            ),
        };
        let refused = matches!(result, Err(EngineError::SecurityViolation { .. }));
        if let Ok(r) = result {
            r.error_code = error_code.map(str::to_string);
        }
        if let Some(code) = error_code.filter(|c| *c != "EXECUTION_ERROR") {
            self.audit(
                "limit.fired",
                Some(caller),
                session_id,
                serde_json::json!({"limit": code, "kind": kind_str(kind)}),
            )
            .await;
        }
        let record = ExecutionRecord {
            id: new_prefixed_id("exe"),
            tenant: caller.tenant.clone(),
            session_id: session_id.map(str::to_string),
            kind: kind_str(kind).into(),
            language: language.as_str().into(),
            code_sha256: tenancy::sha256_hex(code.as_bytes()),
            code: self.config.record_code.then(|| code.to_string()),
            status,
            error_code: error_code.map(str::to_string),
            exit_code: None,
            wall_ms: wall.as_secs_f64() * 1000.0,
            cpu_ms: usage.cpu.map(|d| d.as_secs_f64() * 1000.0),
            peak_memory_bytes: usage.peak_memory.map(|b| b as i64),
            stdout_bytes: out as i64,
            stderr_bytes: err as i64,
            started_at,
            finished_at: warden_store::now(),
            risk,
            findings,
            secrets,
            egress,
            tier: usage.tier,
        };
        let id = record.id.clone();
        // A refusal is audited as `policy.denied` already.
        let flagged = (!refused && (record.risk > RiskLevel::None || !record.secrets.is_empty()))
            .then(|| {
                let rules: Vec<&str> = record.findings.iter().map(|f| f.rule.as_str()).collect();
                serde_json::json!({
                    "execution_id": id, "kind": kind_str(kind), "risk": record.risk.as_str(),
                    "rules": rules, "secrets": record.secrets,
                })
            });
        match self.records.write(record).await {
            Ok(()) => {
                match result {
                    Ok(r) => r.execution_id = Some(id),
                    Err(EngineError::SecurityViolation { execution_id, .. }) => {
                        *execution_id = Some(id)
                    }
                    Err(_) => {}
                }
                if refused {
                    self.audit_denial(caller, "execute", result).await;
                }
                if let Some(detail) = flagged {
                    self.audit("execution.flagged", Some(caller), session_id, detail)
                        .await;
                }
            }
            Err(e) => {
                eprintln!("warden: {e}");
                if refused {
                    self.audit_denial(caller, "execute", result).await;
                }
                *result = Err(e.into());
            }
        }
    }

    fn check_code(&self, code: &str) -> Result<(), EngineError> {
        if code.len() > self.config.max_code_bytes {
            return Err(EngineError::TooLarge {
                what: "code",
                size: code.len(),
                limit: self.config.max_code_bytes,
            });
        }
        Ok(())
    }

    /// The workspace of a live session (files can be used while a cell runs).
    fn workspace(&self, caller: &Caller, id: &str) -> Result<Arc<Workspace>, EngineError> {
        let slot = self.slot(caller, id)?;
        if let Some(reason) = slot.dead.lock().ok().and_then(|d| *d) {
            return Err(EngineError::SessionDead(reason));
        }
        slot.touch();
        let ws = slot.workspace.lock().ok().and_then(|w| w.clone());
        ws.ok_or(EngineError::SessionDead(DeathReason::Exited))
    }

    /// Opens a regular file of the session's workspace for reading.
    pub fn read_file(
        &self,
        caller: &Caller,
        id: &str,
        path: &str,
    ) -> Result<OpenFile, EngineError> {
        Ok(self.workspace(caller, id)?.read(path)?)
    }

    /// Writes a file into the session's workspace from a stream (never held whole in
    /// memory). `size`, when known in advance, is checked against the free space first.
    pub async fn write_file(
        &self,
        caller: &Caller,
        id: &str,
        path: &str,
        size: Option<u64>,
        data: impl tokio::io::AsyncRead + Unpin,
    ) -> Result<FileEntry, EngineError> {
        self.check_open()?;
        let ws = self.workspace(caller, id)?;
        crate::files::components(path)?;
        if let Some(size) = size {
            let free = ws.available();
            if size > free {
                return Err(EngineError::TooLarge {
                    what: "the file",
                    size: size as usize,
                    limit: free as usize,
                });
            }
        }
        let entry = ws.write(path, data).await?;
        self.audit(
            "file.written",
            Some(caller),
            Some(id),
            serde_json::json!({"path": entry.path, "size": entry.size}),
        )
        .await;
        Ok(entry)
    }

    /// Deletes a file, symlink or directory tree of the session's workspace.
    pub async fn delete_file(
        &self,
        caller: &Caller,
        id: &str,
        path: &str,
    ) -> Result<(), EngineError> {
        self.workspace(caller, id)?.remove(path)?;
        self.audit(
            "file.deleted",
            Some(caller),
            Some(id),
            serde_json::json!({"path": path}),
        )
        .await;
        Ok(())
    }

    /// Lists a directory of the session's workspace.
    pub fn list_files(
        &self,
        caller: &Caller,
        id: &str,
        path: &str,
    ) -> Result<Vec<FileEntry>, EngineError> {
        Ok(self.workspace(caller, id)?.list(path)?)
    }

    /// Interrupts the session's running cell; harmless when it is idle.
    pub fn interrupt(&self, caller: &Caller, id: &str) -> Result<(), EngineError> {
        let slot = self.slot(caller, id)?;
        if let Some(reason) = *slot
            .dead
            .lock()
            .map_err(|_| EngineError::Unavailable("poisoned".into()))?
        {
            return Err(EngineError::SessionDead(reason));
        }
        let guard = slot
            .interrupter
            .lock()
            .map_err(|_| EngineError::Unavailable("poisoned".into()))?;
        match guard.as_ref() {
            Some(s) => s
                .signal_program_tree(libc::SIGINT)
                .map_err(|_| EngineError::SessionDead(DeathReason::Exited)),
            None => Err(EngineError::SessionDead(DeathReason::Exited)),
        }
    }

    /// Replaces the session's interpreter with a fresh one (variables are lost; a new
    /// workspace). The id stays.
    pub async fn restart(&self, caller: &Caller, id: &str) -> Result<SessionInfo, EngineError> {
        self.check_open()?;
        let slot = self.slot(caller, id)?;
        let limits = self
            .limits_for(caller, None, None)?
            .unwrap_or_else(|| self.config.session_limits.clone());
        // A running cell ends with the old interpreter.
        signal(&slot, libc::SIGKILL);
        let mut guard = slot.session.lock().await;
        if let Some(old) = guard.take() {
            old.close().await;
        }
        self.metrics.sandbox_started();
        let session = Session::start(
            self.jail.clone(),
            slot.language,
            limits,
            &slot.env,
            slot.egress.clone(),
        )
        .await?;
        if let Ok(mut i) = slot.interrupter.lock() {
            *i = session.interrupter().ok();
        }
        if let Ok(mut w) = slot.workspace.lock() {
            *w = workspace_of(&session);
        }
        *guard = Some(session);
        drop(guard);
        if let Ok(mut d) = slot.dead.lock() {
            *d = None;
        }
        slot.execution_count.store(0, Ordering::Relaxed);
        if let Ok(mut h) = slot.history.lock() {
            h.clear();
        }
        slot.touch();
        Ok(slot.info())
    }

    /// Analyses code without running it: its findings and risk level, and what the
    /// caller's policy would do with it.
    pub async fn analyze(
        &self,
        caller: &Caller,
        req: AnalyzeRequest,
    ) -> Result<AnalyzeResponse, EngineError> {
        self.check_code(&req.code)?;
        let language = req.language.unwrap_or(Language::Python);
        let code = req.code;
        let report = if code.len() <= INLINE_PARSE_BYTES {
            warden_analysis::analyze(language, &code)
        } else {
            off_thread(move || warden_analysis::analyze(language, &code)).await?
        };
        let action = report
            .syntax_error
            .is_none()
            .then(|| caller.policy.risk_policy().action(report.risk));
        Ok(AnalyzeResponse { report, action })
    }

    /// One-shot: a fresh sandbox runs the code and is discarded.
    pub async fn execute_once(
        &self,
        caller: &Caller,
        req: ExecuteRequest,
        on_event: &mut (dyn FnMut(Event) + Send),
    ) -> Result<CellResponse, EngineError> {
        let started = Instant::now();
        let started_at = warden_store::now();
        let language = req.language.unwrap_or(Language::Python);
        let code = req.code.clone();
        let input = req.input.clone();
        // Every Python or JavaScript one-shot run sends back its `result`.
        let io = CellIo {
            input: input.as_ref(),
            result: language != Language::Bash || input.is_some(),
        };
        let guard = OutputGuard::new(&caller.policy);
        let (mut result, usage) = {
            let mut filter = guard.stream(on_event);
            let outcome = match self.prepare_one_shot(caller, req).await {
                Ok((session, code, files, timeout, analysis)) => {
                    let (result, usage) = self
                        .run_once(session, &code, io, files, timeout, &mut |e| filter.send(e))
                        .await;
                    (result, Usage { analysis, ..usage })
                }
                Err(e) => (Err(e), Usage::default()),
            };
            filter.finish();
            outcome
        };
        self.finish_execution(
            caller,
            None,
            Kind::OneShot,
            language,
            &code,
            &mut result,
            started_at,
            started,
            usage,
            &guard,
        )
        .await;
        result
    }

    #[allow(clippy::type_complexity)]
    async fn prepare_one_shot(
        &self,
        caller: &Caller,
        req: ExecuteRequest,
    ) -> Result<
        (
            Session,
            String,
            Vec<(String, Vec<u8>)>,
            Duration,
            Option<AnalysisReport>,
        ),
        EngineError,
    > {
        self.check_open()?;
        self.check_code(&req.code)?;
        let mut timeout = self.timeout_for(caller, req.timeout)?;
        let language = req.language.unwrap_or(Language::Python);
        let mut memory_mb = req.memory_mb;
        // Checked before the restriction below lowers it, so that a request over the
        // policy is refused as such.
        self.limits_for(caller, req.memory_mb, req.disk_mb)?;
        let files = self.decode_files(&req.files)?;
        let screening = self.admit_execution(caller, language, &req.code).await?;
        if screening.action == RiskAction::Restrict {
            let risk = caller.policy.risk_policy();
            timeout = timeout.min(risk.restricted_timeout());
            let default_mb = self.config.session_limits.sandbox.memory_bytes >> 20;
            memory_mb = [
                memory_mb,
                caller.policy.max_memory_mb,
                Some(default_mb),
                Some(risk.restricted_memory_mb()),
            ]
            .into_iter()
            .flatten()
            .min();
        }
        let limits = self.limits_for(caller, memory_mb, req.disk_mb)?;
        let egress = self.egress_gate(caller, req.network, req.egress.as_ref())?;
        let (mut env, paths) = self
            .environment(caller, language, req.template.as_deref(), &req.packages)
            .await?;
        // A one-shot's tier follows its code's risk.
        let risk = screening.report.as_ref().map(|r| r.risk);
        env.tier = caller.policy.tier(req.isolation, risk)?;
        let session = self.obtain(language, limits, &env, &paths, egress).await?;
        Ok((session, req.code, files, timeout, screening.report))
    }

    /// Runs one cell in a fresh session and discards it: the request's files are placed
    /// first, and the files the cell created or changed are reported.
    async fn run_once(
        &self,
        mut session: Session,
        code: &str,
        io: CellIo<'_>,
        files: Vec<(String, Vec<u8>)>,
        timeout: Duration,
        on_event: &mut (dyn FnMut(Event) + Send),
    ) -> (Result<CellResponse, EngineError>, Usage) {
        let ws = workspace_of(&session);
        let mut usage = Usage {
            tier: session.tier(),
            ..Usage::default()
        };
        let result = async {
            if let Some(ws) = &ws {
                place_files(ws, files).await?;
            }
            let before = ws.as_ref().map(|w| w.snapshot()).unwrap_or_default();
            // The output is kept here too, so that a sandbox that dies mid-run (a limit,
            // a timeout that would not stop) still reports what it printed.
            let cap = self.config.session_limits.cell_output_bytes;
            let (mut out, mut err) = (StreamOutput::default(), StreamOutput::default());
            let started = Instant::now();
            let outcome = {
                let mut tee = |event: Event| {
                    match &event {
                        Event::Stdout(b) => out.push(b, cap),
                        Event::Stderr(b) => err.push(b, cap),
                    }
                    on_event(event)
                };
                session.execute_with(code, io, timeout, &mut tee).await
            };
            usage = Usage {
                egress: session.egress().map(|g| g.take_report()),
                cpu: session.cpu_usage(),
                peak_memory: session.peak_memory(),
                analysis: None,
                tier: session.tier(),
            };
            let mut response = match outcome {
                Ok(r) => to_response(r),
                Err(EngineError::SessionDead(reason)) if reason != DeathReason::Closed => {
                    let mut r = died_response(reason, out, err, started.elapsed());
                    // A run that died assigned no result it could send back.
                    r.result = io.result.then_some(serde_json::Value::Null);
                    r
                }
                Err(e) => return Err(e),
            };
            if let Some(ws) = &ws {
                response.files = Some(self.changed_files(ws, &before));
            }
            Ok(response)
        }
        .await;
        // The reply need not wait for the teardown. If the task is cancelled (at
        // shutdown), dropping the session still tears the sandbox down.
        tokio::spawn(session.close());
        (result, usage)
    }

    /// Files created or changed since `before`; small ones with their content.
    fn changed_files(&self, ws: &Workspace, before: &crate::files::Snapshot) -> Vec<FileChange> {
        let limit = self.config.inline_result_file_bytes;
        ws.snapshot()
            .changed_since(before)
            .into_iter()
            .map(|(path, size)| {
                let data = (size <= limit)
                    .then(|| ws.read_small(&path, limit))
                    .flatten();
                let (content, encoding) = match data {
                    Some(d) => match String::from_utf8(d) {
                        Ok(text) => (Some(text), Some("utf-8".to_string())),
                        Err(e) => (
                            Some(BASE64.encode(e.into_bytes())),
                            Some("base64".to_string()),
                        ),
                    },
                    None => (None, None),
                };
                FileChange {
                    path,
                    size,
                    content,
                    encoding,
                }
            })
            .collect()
    }

    /// Closes sessions idle for longer than their TTL (dead ones included), and sessions
    /// past their maximum lifetime even if a cell runs.
    pub async fn reap_idle(&self) -> usize {
        let now = Instant::now();
        let expired: Vec<Arc<Slot>> = match self.sessions.lock() {
            Ok(mut m) => {
                let ids: Vec<String> = m
                    .values()
                    .filter(|s| {
                        let idle = s
                            .last_used
                            .lock()
                            .map(|l| now.duration_since(l.0))
                            .unwrap_or_default();
                        let idle_out = idle >= s.idle_ttl && s.session.try_lock().is_ok();
                        idle_out || now.duration_since(s.created) >= s.lifetime
                    })
                    .map(|s| s.id.clone())
                    .collect();
                ids.iter().filter_map(|id| m.remove(id)).collect()
            }
            Err(_) => vec![],
        };
        for slot in &expired {
            close_slot(slot).await;
            self.metrics.session_closed("expired");
            self.session_ended(slot, "expired").await;
            self.write_audit(
                "session.expired",
                Some(slot.tenant.clone()),
                None,
                Some(&slot.id),
                serde_json::json!({}),
            )
            .await;
        }
        expired.len()
    }

    /// At start-up: sessions the store still holds as live belonged to a run that
    /// crashed (their sandboxes were already removed by the jail's clean-up); mark them
    /// ended.
    pub async fn recover(&self) -> Result<usize, EngineError> {
        // Records an earlier run journalled but did not move to the database.
        self.records.flush().await?;
        // Installs a crash cut short.
        if let Some(cache) = &self.config.package_cache {
            let _ = std::fs::remove_dir_all(staging_of(cache));
        }
        let ended = self
            .store
            .end_live_sessions(&self.config.node, "server_restart", warden_store::now())
            .await?;
        // Workflow runs this node was running when it stopped.
        let interrupted = serde_json::json!({
            "node": null, "code": "INTERRUPTED",
            "message": "the server stopped during the run",
        });
        self.store
            .interrupt_runs(
                &self.config.node,
                &interrupted.to_string(),
                warden_store::now(),
            )
            .await?;
        Ok(ended.len())
    }

    /// Authenticates a request from its `Authorization` header. In development mode
    /// every request is the `dev` tenant. Failures are audited.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Caller, EngineError> {
        if self.config.dev_mode {
            return Ok(Caller::dev(self.config.default_policy.clone()));
        }
        let (reason, key_id) = match self.check_key(authorization).await? {
            Ok(caller) => return Ok(caller),
            Err(failure) => failure,
        };
        self.write_audit(
            "auth.failed",
            None,
            key_id,
            None,
            serde_json::json!({"reason": reason}),
        )
        .await;
        Err(EngineError::Unauthorized(reason.to_string()))
    }

    /// The caller of a key, or why it is refused (and the key id, when it had one).
    async fn check_key(
        &self,
        authorization: Option<&str>,
    ) -> Result<Result<Caller, (&'static str, Option<String>)>, EngineError> {
        let Some(header) = authorization else {
            return Ok(Err(("missing API key (Authorization: Bearer KEY)", None)));
        };
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim);
        let Some((id, secret)) = token.and_then(tenancy::parse_key) else {
            return Ok(Err(("malformed API key", None)));
        };
        let Some((key, policy)) = self.store.get_key_and_policy(id).await? else {
            return Ok(Err(("unknown API key", Some(id.to_string()))));
        };
        if !tenancy::secret_matches(secret, &key.secret_hash) {
            return Ok(Err(("unknown API key", Some(id.to_string()))));
        }
        if key.revoked_at.is_some() {
            return Ok(Err(("revoked API key", Some(id.to_string()))));
        }
        let policy = match policy {
            Some(text) => Policy::from_json(&text).map_err(EngineError::Invalid)?,
            None => self.config.default_policy.clone(),
        };
        Ok(Ok(Caller {
            tenant: key.tenant,
            key_id: Some(key.id),
            admin: key.admin,
            policy,
        }))
    }

    /// One execution record: of the caller's tenant, or of any tenant for an admin key.
    pub async fn get_execution(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<warden_protocol::ExecutionInfo, EngineError> {
        self.records.flush().await?;
        let tenant = (!caller.admin).then_some(caller.tenant.as_str());
        self.store
            .get_execution(tenant, id)
            .await?
            .ok_or_else(|| EngineError::ExecutionNotFound(id.to_string()))
    }

    /// Execution records, newest first: the caller's tenant's, or for an admin key every
    /// tenant's (or the one `filter.tenant` names).
    pub async fn list_executions(
        &self,
        caller: &Caller,
        mut filter: ExecutionFilter,
    ) -> Result<warden_protocol::ExecutionList, EngineError> {
        if !caller.admin {
            if filter.tenant.as_ref().is_some_and(|t| *t != caller.tenant) {
                return Err(EngineError::Forbidden(
                    "records of another tenant need an admin key (warden keys create --admin)"
                        .into(),
                ));
            }
            filter.tenant = Some(caller.tenant.clone());
        }
        self.records.flush().await?;
        let page = self
            .store
            .list_executions(&filter)
            .await
            .map_err(EngineError::from_caller_query)?;
        Ok(warden_protocol::ExecutionList {
            executions: page.items,
            next_cursor: page.next,
        })
    }

    /// The audit log, for admin keys: every tenant's entries.
    pub async fn list_audit(
        &self,
        caller: &Caller,
        filter: AuditFilter,
    ) -> Result<warden_protocol::AuditList, EngineError> {
        if !caller.admin {
            return Err(EngineError::Forbidden(
                "the audit log needs an admin key (warden keys create --admin)".into(),
            ));
        }
        let page = self
            .store
            .list_audit(&filter)
            .await
            .map_err(EngineError::from_caller_query)?;
        Ok(warden_protocol::AuditList {
            entries: page
                .items
                .into_iter()
                .map(|e| warden_protocol::AuditEntry {
                    seq: e.seq,
                    at: e.at,
                    action: e.action,
                    tenant: e.tenant,
                    key_id: e.key_id,
                    target: e.target,
                    detail: e.detail.and_then(|d| serde_json::from_str(&d).ok()),
                })
                .collect(),
            next_cursor: page.next,
        })
    }

    /// Runs [`Engine::reap_idle`] every `reap_interval` until shutdown.
    pub fn spawn_reaper(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let engine = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(engine.config.reap_interval);
            while !engine.shutting_down.load(Ordering::Relaxed) {
                tick.tick().await;
                engine.reap_idle().await;
            }
        })
    }

    /// Refuses new work, interrupts running cells, waits up to `grace` for them, then
    /// closes every session.
    pub async fn shutdown(&self, grace: Duration) {
        self.shutting_down.store(true, Ordering::Relaxed);
        let slots: Vec<Arc<Slot>> = self
            .sessions
            .lock()
            .map(|mut m| m.drain().map(|(_, s)| s).collect())
            .unwrap_or_default();
        for slot in &slots {
            signal(slot, libc::SIGINT);
        }
        let deadline = tokio::time::Instant::now() + grace;
        for slot in &slots {
            let _ = tokio::time::timeout_at(deadline, slot.session.lock()).await;
        }
        for slot in &slots {
            close_slot(slot).await;
            self.metrics.session_closed("shutdown");
            self.session_ended(slot, "shutdown").await;
        }
        let pooled: Vec<Session> = self
            .pool
            .lock()
            .map(|mut p| p.drain().flat_map(|(_, q)| q).collect())
            .unwrap_or_default();
        for session in pooled {
            session.close().await;
        }
        if let Err(e) = self.records.flush().await {
            eprintln!("warden: execution records stay in the journal for the next start: {e}");
        }
    }

    pub fn session_count(&self) -> usize {
        self.sessions.lock().map(|m| m.len()).unwrap_or(0)
    }
}

/// Writes the decoded files of a request into a workspace.
async fn place_files(ws: &Workspace, files: Vec<(String, Vec<u8>)>) -> Result<(), EngineError> {
    for (path, data) in files {
        ws.write(&path, &data[..]).await?;
    }
    Ok(())
}

fn workspace_of(session: &Session) -> Option<Arc<Workspace>> {
    session
        .workspace()
        .and_then(|p| Workspace::open(p).ok())
        .map(Arc::new)
}

/// Signals a session's interpreter, if it still runs.
fn signal(slot: &Slot, sig: i32) {
    if let Ok(g) = slot.interrupter.lock() {
        if let Some(s) = g.as_ref() {
            let _ = s.signal_program_tree(sig);
        }
    }
}

/// Kills the session's sandbox, even if a cell holds it.
async fn close_slot(slot: &Slot) {
    signal(slot, libc::SIGKILL);
    let mut guard = slot.session.lock().await;
    if let Some(session) = guard.take() {
        session.close().await;
    }
}

/// A size asked for (or not), within a policy's maximum: asking for more is denied, and
/// a maximum below the server's default lowers the default.
fn capped(
    asked: Option<u64>,
    max: Option<u64>,
    default: u64,
    field: &str,
    policy_field: &str,
) -> Result<Option<u64>, EngineError> {
    match (asked, max) {
        (Some(v), Some(max)) if v > max => Err(EngineError::PolicyDenied(format!(
            "{field} {v} is over the policy's {policy_field} of {max}"
        ))),
        (None, Some(max)) if max < default => Ok(Some(max)),
        (v, _) => Ok(v),
    }
}

fn kind_str(kind: Kind) -> &'static str {
    match kind {
        Kind::Cell => "cell",
        Kind::OneShot => "oneshot",
    }
}

fn new_id() -> String {
    new_prefixed_id("ses")
}

/// Where package sets are installed before they are published into `cache` (the same
/// file system, outside the directory sandboxes bind).
fn staging_of(cache: &std::path::Path) -> std::path::PathBuf {
    cache.with_file_name("packages-staging")
}

fn set_mode(path: &std::path::Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// The interpreter's tag for package cache keys: the name `/usr/bin/python3` points to
/// (e.g. `python3.11`).
fn python_tag() -> String {
    std::fs::read_link("/usr/bin/python3")
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "python3".into())
}

fn new_prefixed_id(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut bytes = [0u8; 12];
    if rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty()).is_err() {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed) ^ unix(SystemTime::now()).to_bits();
        bytes[..8].copy_from_slice(&n.to_le_bytes());
    }
    format!("{prefix}_{}", hex::encode(bytes))
}

/// The result of a one-shot run whose sandbox died: an error of the run, named after the
/// reason, with the output it printed before.
fn died_response(
    reason: DeathReason,
    out: StreamOutput,
    err: StreamOutput,
    took: Duration,
) -> CellResponse {
    let name = match reason {
        DeathReason::MemoryLimit => "MemoryLimit",
        DeathReason::Timeout => "Timeout",
        DeathReason::CpuLimit => "CpuLimit",
        DeathReason::Exited | DeathReason::Closed => "Exited",
    };
    CellResponse {
        tier: None,
        status: "error".into(),
        execution_count: 1,
        value: None,
        error: Some(CellErrorInfo {
            name: name.into(),
            value: reason.to_string(),
            traceback: vec![],
        }),
        outputs: vec![],
        stdout: out.text(),
        stderr: err.text(),
        stdout_truncated: out.truncated,
        stderr_truncated: err.truncated,
        timed_out: reason == DeathReason::Timeout,
        duration_ms: took.as_secs_f64() * 1000.0,
        files: None,
        execution_id: None,
        risk: None,
        findings: Vec::new(),
        secrets: BTreeMap::new(),
        egress: None,
        result: None,
        error_code: None,
    }
}

/// The reply standing for a replayed cell that was refused before it ran: an error
/// named after the refusal's stable code.
fn refused_cell(e: &EngineError) -> CellResponse {
    let mut r = died_response(
        DeathReason::Exited,
        StreamOutput::default(),
        StreamOutput::default(),
        Duration::ZERO,
    );
    let code = e.code().as_str();
    r.execution_count = 0;
    r.error = Some(CellErrorInfo {
        name: code.to_string(),
        value: e.to_string(),
        traceback: vec![],
    });
    r.error_code = Some(code.to_string());
    r
}

/// Code up to this size is parsed and analysed on the request's own thread (well under a
/// millisecond); larger code on the blocking pool, so that it does not hold up others.
const INLINE_PARSE_BYTES: usize = 16 << 10;

/// Runs CPU work on the blocking pool.
async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, EngineError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| EngineError::Io(std::io::Error::other(e)))
}

fn to_response(r: CellResult) -> CellResponse {
    CellResponse {
        tier: None,
        status: match r.status {
            CellStatus::Ok => "ok",
            CellStatus::Error => "error",
        }
        .into(),
        execution_count: r.execution_count,
        value: r.value,
        error: r.error.map(|e| CellErrorInfo {
            name: e.name,
            value: e.value,
            traceback: e.traceback,
        }),
        outputs: r.outputs,
        result: r.result,
        error_code: None,
        stdout: r.stdout.text(),
        stderr: r.stderr.text(),
        stdout_truncated: r.stdout.truncated,
        stderr_truncated: r.stderr.truncated,
        timed_out: r.timed_out,
        duration_ms: r.duration.as_secs_f64() * 1000.0,
        files: None,
        execution_id: None,
        risk: None,
        findings: Vec::new(),
        secrets: BTreeMap::new(),
        egress: None,
    }
}
