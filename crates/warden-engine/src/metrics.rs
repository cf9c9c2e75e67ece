//! The engine's Prometheus metrics (OpenMetrics text): live sessions, the pool, and
//! executions by kind, language and outcome with their durations.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use warden_protocol::Language;

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Whether an execution ran in a session or one-shot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Cell,
    OneShot,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ExecLabels {
    kind: &'static str,
    language: &'static str,
    /// `ok`, `error` (the code raised), `timeout` (interrupted by its timeout), or the
    /// error code of a refused or failed execution in lower case.
    status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LanguageLabels {
    language: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Cell => "cell",
        Kind::OneShot => "oneshot",
    }
}

fn duration_histogram() -> Histogram {
    // 0.25 ms .. ~65 s.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.000_25, 2.0, 19,
    ))
}

/// Counters and gauges, shared by every transport.
pub struct Metrics {
    registry: Registry,
    sessions: Gauge,
    pool: Family<LanguageLabels, Gauge>,
    executions: Family<ExecLabels, Counter>,
    durations: Family<KindLabels, Histogram>,
    sessions_created: Counter,
    sessions_closed: Family<ReasonLabels, Counter>,
    sandboxes_started: Counter,
    package_installs: Counter,
    package_cache_hits: Counter,
    index_connections: Counter,
    workflow_runs: Family<StatusLabels, Counter>,
    workflow_durations: Histogram,
    egress: crate::egress::Totals,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DecisionLabels {
    decision: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DirectionLabels {
    direction: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StatusLabels {
    status: &'static str,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("warden");
        let sessions = Gauge::default();
        let pool = Family::<LanguageLabels, Gauge>::default();
        let executions = Family::<ExecLabels, Counter>::default();
        let durations =
            Family::<KindLabels, Histogram>::new_with_constructor(duration_histogram as fn() -> _);
        let sessions_created = Counter::default();
        let sessions_closed = Family::<ReasonLabels, Counter>::default();
        registry.register("sessions", "Live sessions", sessions.clone());
        registry.register(
            "pool_sessions",
            "Pre-started sessions waiting in the pool, by language",
            pool.clone(),
        );
        registry.register(
            "executions",
            "Executions by kind, language and outcome",
            executions.clone(),
        );
        registry.register(
            "execution_duration_seconds",
            "Wall time of executions, as the engine saw it",
            durations.clone(),
        );
        registry.register(
            "sessions_created",
            "Sessions created",
            sessions_created.clone(),
        );
        registry.register(
            "sessions_closed",
            "Sessions closed, by reason",
            sessions_closed.clone(),
        );
        let sandboxes_started = Counter::default();
        registry.register(
            "sandboxes_started",
            "Sandboxes started, for the pool or on demand",
            sandboxes_started.clone(),
        );
        let package_installs = Counter::default();
        let package_cache_hits = Counter::default();
        let index_connections = Counter::default();
        registry.register(
            "package_installs",
            "Package sets installed (cache misses)",
            package_installs.clone(),
        );
        registry.register(
            "package_cache_hits",
            "Package sets found in the cache",
            package_cache_hits.clone(),
        );
        registry.register(
            "package_index_connections",
            "Connections the package installer opened to the package index",
            index_connections.clone(),
        );
        let workflow_runs = Family::<StatusLabels, Counter>::default();
        let workflow_durations = duration_histogram();
        registry.register(
            "workflow_runs",
            "Workflow runs finished, by status (ok or error)",
            workflow_runs.clone(),
        );
        registry.register(
            "workflow_run_duration_seconds",
            "Wall time of workflow runs",
            workflow_durations.clone(),
        );
        let connections = Family::<DecisionLabels, Counter>::default();
        let bytes = Family::<DirectionLabels, Counter>::default();
        registry.register(
            "egress_connections",
            "Connections sandboxes asked warden's egress proxy for, by decision (allowed or denied)",
            connections.clone(),
        );
        registry.register(
            "egress_bytes",
            "Bytes through warden's egress proxy, by direction (in: to sandboxes, out: from them)",
            bytes.clone(),
        );
        // One statement each: a family's guard must be gone before the next insert.
        let allowed = connections
            .get_or_create(&DecisionLabels {
                decision: "allowed",
            })
            .clone();
        let denied = connections
            .get_or_create(&DecisionLabels { decision: "denied" })
            .clone();
        let bytes_in = bytes
            .get_or_create(&DirectionLabels { direction: "in" })
            .clone();
        let bytes_out = bytes
            .get_or_create(&DirectionLabels { direction: "out" })
            .clone();
        let egress = crate::egress::Totals {
            allowed,
            denied,
            bytes_in,
            bytes_out,
        };
        Metrics {
            egress,
            registry,
            workflow_runs,
            workflow_durations,
            package_installs,
            package_cache_hits,
            index_connections,
            sessions,
            pool,
            executions,
            durations,
            sessions_created,
            sessions_closed,
            sandboxes_started,
        }
    }
}

impl Metrics {
    /// The egress proxy's counters (shared: they count into these metrics).
    pub(crate) fn egress_totals(&self) -> crate::egress::Totals {
        self.egress.clone()
    }

    pub(crate) fn execution(&self, kind: Kind, language: Language, status: String, took: Duration) {
        self.executions
            .get_or_create(&ExecLabels {
                kind: kind_name(kind),
                language: language.as_str(),
                status,
            })
            .inc();
        self.durations
            .get_or_create(&KindLabels {
                kind: kind_name(kind),
            })
            .observe(took.as_secs_f64());
    }

    /// A package set installed (with the index connections it took) or found cached.
    pub(crate) fn package_set(&self, installed: Option<u64>) {
        match installed {
            Some(connections) => {
                self.package_installs.inc();
                self.index_connections.inc_by(connections);
            }
            None => {
                self.package_cache_hits.inc();
            }
        }
    }

    /// A workflow run finished with `status` (`ok` or `error`).
    pub(crate) fn workflow_run(&self, status: &'static str, took: Duration) {
        self.workflow_runs
            .get_or_create(&StatusLabels { status })
            .inc();
        self.workflow_durations.observe(took.as_secs_f64());
    }

    pub(crate) fn sandbox_started(&self) {
        self.sandboxes_started.inc();
    }

    pub(crate) fn session_created(&self) {
        self.sessions_created.inc();
    }

    /// `reason`: `deleted`, `expired` or `shutdown`.
    pub(crate) fn session_closed(&self, reason: &'static str) {
        self.sessions_closed
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// The metrics as OpenMetrics text, with the gauges read now.
    pub fn render(&self, sessions: usize, pool: &[(Language, usize)]) -> String {
        self.sessions.set(sessions as i64);
        for (language, n) in pool {
            self.pool
                .get_or_create(&LanguageLabels {
                    language: language.as_str(),
                })
                .set(*n as i64);
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
