//! `warden serve`: the HTTP API on the embedded defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use warden_engine::workflows::{FlowSettings, ModelEndpoint};
use warden_engine::{Engine, EngineConfig, Policy, PoolSizes};
use warden_jail::{Jail, JailConfig};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where warden keeps its data (created if missing): the SQLite database by default.
    #[arg(long)]
    pub(crate) data_dir: Option<PathBuf>,
    /// The database: `sqlite://PATH` or `postgres://USER:PASSWORD@HOST/DB` (default: the
    /// SQLite file `warden.db` in the data directory).
    #[arg(long, env = "WARDEN_DATABASE_URL")]
    database_url: Option<String>,
    /// Development mode: no API keys, every request is the tenant `dev`. Allowed only on
    /// a loopback address.
    #[arg(long)]
    dev: bool,
    /// The policy of tenants without their own (a JSON file; see docs/POLICIES.md).
    #[arg(long)]
    default_policy: Option<PathBuf>,
    /// What execution records keep of the code: `text` (the code and its SHA-256) or
    /// `hash` (only the SHA-256).
    #[arg(long, default_value = "text", value_parser = ["text", "hash"])]
    record_code: String,
    /// This node's name in session records (several nodes may share one PostgreSQL
    /// database); default: the host name.
    #[arg(long)]
    node_id: Option<String>,
    /// Default idle time-to-live of a session, in seconds.
    #[arg(long, default_value_t = 3600.0)]
    idle_ttl: f64,
    /// Longest a session may live, busy or not, in seconds (also the most a session may
    /// ask for).
    #[arg(long, default_value_t = 86400.0)]
    max_lifetime: f64,
    /// Maximum number of live sessions.
    #[arg(long, default_value_t = 256)]
    max_sessions: usize,
    /// Python sessions kept started and idle, ready to hand out.
    #[arg(long, default_value_t = 2)]
    pool_size: usize,
    /// JavaScript sessions kept started and idle.
    #[arg(long, default_value_t = 1)]
    js_pool_size: usize,
    /// bash sessions kept started and idle.
    #[arg(long, default_value_t = 1)]
    bash_pool_size: usize,
    /// Python sessions kept started and idle on the gVisor tier (needs runsc).
    #[arg(long, default_value_t = 0)]
    gvisor_pool_size: usize,
    /// JavaScript sessions kept started and idle on the gVisor tier.
    #[arg(long, default_value_t = 0)]
    gvisor_js_pool_size: usize,
    /// bash sessions kept started and idle on the gVisor tier.
    #[arg(long, default_value_t = 0)]
    gvisor_bash_pool_size: usize,
    /// Python sessions of a template kept started, with its preload modules imported:
    /// `NAME=SIZE` (repeat for several templates).
    #[arg(long, value_parser = parse_template_pool)]
    template_pool: Vec<(String, usize)>,
    /// The same on the gVisor tier: `NAME=SIZE` (repeat for several templates).
    #[arg(long, value_parser = parse_template_pool)]
    gvisor_template_pool: Vec<(String, usize)>,
    /// For tests without the internet (needs --dev): the egress proxy sends connections
    /// for NAME to a local test server (`NAME=ADDR:PORT`, exempt from the address deny
    /// list), or answers lookups of NAME with these addresses (`NAME=ADDR[,ADDR][|ADDR]`,
    /// one group per lookup, checked like any answer). Repeatable. See docs/NETWORK.md.
    #[arg(long, value_name = "NAME=ADDR")]
    egress_test_resolve: Vec<String>,
    /// The package index for `packages` (default https://pypi.org/simple; https only).
    #[arg(long, env = "WARDEN_INDEX_URL")]
    index_url: Option<String>,
    /// Time limit of installing one package set, in seconds.
    #[arg(long, default_value_t = 300.0)]
    package_install_timeout: f64,
    /// Largest code accepted in one request, in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    max_code_bytes: usize,
    /// How long shutdown waits for interrupted cells before killing them, in seconds.
    #[arg(long, default_value_t = 5.0)]
    shutdown_grace: f64,
    /// The OpenAI-compatible endpoint workflow `model` nodes call, e.g.
    /// https://api.openai.com/v1 (`/chat/completions` is appended).
    #[arg(long, env = "WARDEN_FLOW_MODEL_BASE_URL")]
    model_base_url: Option<String>,
    /// The environment variable holding the model endpoint's API key.
    #[arg(long, default_value = warden_engine::workflows::MODEL_API_KEY_ENV)]
    model_api_key_env: String,
    /// The model of `model` nodes that ask for `"default"`.
    #[arg(long, env = "WARDEN_FLOW_MODEL_NAME")]
    model_name: Option<String>,
    /// Most node executions of one workflow run.
    #[arg(long, default_value_t = 10_000)]
    flow_max_steps: u64,
    /// Longest workflow run, in seconds.
    #[arg(long, default_value_t = 600.0)]
    flow_max_duration: f64,
}

fn parse_template_pool(s: &str) -> Result<(String, usize), String> {
    let (name, size) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected NAME=SIZE"))?;
    warden_engine::templates::check_name(name).map_err(|e| e.to_string())?;
    let size = size
        .parse()
        .map_err(|_| format!("{s:?}: SIZE must be a whole number"))?;
    Ok((name.to_string(), size))
}

pub(crate) fn default_data_dir() -> PathBuf {
    if warden_jail::config::default_run_root().starts_with("/run") {
        PathBuf::from("/var/lib/warden")
    } else {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir)
            .join(".local/share/warden")
    }
}

pub fn main(args: ServeArgs) -> i32 {
    match serve(args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("warden: {e:#}");
            1
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let EngineSetup {
        data_dir,
        jail,
        config,
        database_url,
        grace,
    } = engine_setup(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let (engine, store) = start_engine(jail, config, &database_url).await?;
        let reaper = engine.spawn_reaper();
        let pool = engine.spawn_pool();
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = listener.local_addr()?;
        println!(
            "warden: listening on http://{addr} (data in {}, {} database)",
            data_dir.display(),
            store.backend()
        );
        if args.dev {
            eprintln!(
                "warden: DEVELOPMENT MODE: no API keys are checked; every request is tenant \"dev\" (loopback only)"
            );
        }
        // MCP over Streamable HTTP at /mcp, beside the REST API. Its event streams end when
        // shutdown starts, so that connected clients do not hold the shutdown open.
        let mcp_stop = warden_mcp::CancellationToken::new();
        let app = warden_server::router(engine.clone())
            .merge(warden_mcp::http_router(engine.clone(), mcp_stop.clone()));
        let engine_for_stop = engine.clone();
        let stop = async move {
            wait_for_signal().await;
            eprintln!("warden: shutting down");
            mcp_stop.cancel();
            engine_for_stop.shutdown(grace).await;
        };
        axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await?;
        reaper.abort();
        pool.abort();
        Ok(())
    })
}

/// Refuses a policy that names an isolation tier this host lacks (rather than run its
/// code on a weaker one).
pub(crate) fn check_policy_tiers(policy: &Policy) -> anyhow::Result<()> {
    if policy.tiers().contains(&warden_protocol::Tier::Gvisor) {
        let run_root = warden_jail::JailConfig::default().run_root;
        std::fs::create_dir_all(&run_root).ok();
        if let Err(why) = warden_jail::gvisor::Runsc::detect(&run_root) {
            anyhow::bail!(
                "the policy's isolation names the gvisor tier, which this host lacks: {why} \
                 (see `warden doctor`)"
            );
        }
    }
    Ok(())
}

/// What an engine is built from, by `warden serve` and `warden mcp` alike.
pub(crate) struct EngineSetup {
    pub(crate) data_dir: PathBuf,
    pub(crate) jail: Arc<Jail>,
    pub(crate) config: EngineConfig,
    pub(crate) database_url: String,
    /// How long shutdown waits for interrupted cells.
    pub(crate) grace: Duration,
}

/// The engine the flags describe; creates the data directory and sets up sandboxing.
pub(crate) fn engine_setup(args: &ServeArgs) -> anyhow::Result<EngineSetup> {
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let jail = Arc::new(
        Jail::new(JailConfig::default())
            .context("cannot set up sandboxing (see `warden doctor`)")?,
    );
    // Refuse now rather than start "healthy" and fail every sandbox.
    let reach = warden_jail::probe::data_dir(&data_dir, jail.config());
    if !reach.ok {
        anyhow::bail!(
            "the data directory cannot be used by sandboxes: {} (hint: {})",
            reach.detail,
            reach.hint.unwrap_or_default()
        );
    }
    let config = EngineConfig {
        default_idle_ttl: Duration::try_from_secs_f64(args.idle_ttl).context("--idle-ttl")?,
        max_lifetime: Duration::try_from_secs_f64(args.max_lifetime)
            .ok()
            .filter(|d| !d.is_zero())
            .context("--max-lifetime must be a positive number of seconds")?,
        max_sessions: args.max_sessions,
        max_code_bytes: args.max_code_bytes,
        pool: PoolSizes {
            python: args.pool_size,
            javascript: args.js_pool_size,
            bash: args.bash_pool_size,
            gvisor_python: args.gvisor_pool_size,
            gvisor_javascript: args.gvisor_js_pool_size,
            gvisor_bash: args.gvisor_bash_pool_size,
        },
        ..EngineConfig::default()
    };
    warden_engine::index_proxy::allowed_for_index(args.index_url.as_deref())
        .map_err(|e| anyhow::anyhow!("--index-url: {e}"))?;
    if args.dev && !args.listen.ip().is_loopback() {
        anyhow::bail!(
            "--dev (no API keys) is allowed only on a loopback address, not {}",
            args.listen
        );
    }
    let default_policy = match &args.default_policy {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Policy::from_json(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => Policy::default(),
    };
    check_policy_tiers(&default_policy).map_err(|e| anyhow::anyhow!("--default-policy: {e}"))?;
    let gvisor_pools = [
        ("--gvisor-pool-size", args.gvisor_pool_size > 0),
        ("--gvisor-js-pool-size", args.gvisor_js_pool_size > 0),
        ("--gvisor-bash-pool-size", args.gvisor_bash_pool_size > 0),
        (
            "--gvisor-template-pool",
            !args.gvisor_template_pool.is_empty(),
        ),
    ];
    if let Some((flag, _)) = gvisor_pools.iter().find(|(_, asked)| *asked) {
        if let Err(why) = jail.gvisor() {
            anyhow::bail!("{flag} needs the gvisor tier, which this host lacks: {why}");
        }
    }
    let config = EngineConfig {
        default_policy,
        dev_mode: args.dev,
        record_code: args.record_code == "text",
        node: args.node_id.clone().unwrap_or_else(host_name),
        records_journal: Some(data_dir.join("journal")),
        template_root: Some(data_dir.join("templates")),
        template_pools: args.template_pool.clone(),
        gvisor_template_pools: args.gvisor_template_pool.clone(),
        package_cache: Some(data_dir.join("packages")),
        tools_dir: Some(data_dir.join("tools")),
        index_url: args.index_url.clone(),
        egress_test_resolve: args.egress_test_resolve.clone(),
        data_dir: Some(data_dir.clone()),
        package_install_timeout: Duration::try_from_secs_f64(args.package_install_timeout)
            .ok()
            .filter(|d| !d.is_zero())
            .context("--package-install-timeout must be a positive number of seconds")?,
        flows: FlowSettings {
            max_steps: args.flow_max_steps.max(1),
            max_duration: Duration::try_from_secs_f64(args.flow_max_duration)
                .ok()
                .filter(|d| !d.is_zero())
                .context("--flow-max-duration must be a positive number of seconds")?,
            model: ModelEndpoint {
                base_url: args.model_base_url.clone(),
                api_key_env: args.model_api_key_env.clone(),
                default_model: args.model_name.clone(),
                ..ModelEndpoint::default()
            },
            trust_definitions: false,
        },
        ..config
    };
    let database_url = database_url(args.database_url.as_deref(), &data_dir);
    let grace = Duration::try_from_secs_f64(args.shutdown_grace).context("--shutdown-grace")?;
    Ok(EngineSetup {
        data_dir,
        jail,
        config,
        database_url,
        grace,
    })
}

/// Opens the database and starts the engine: what an earlier run left is recovered and
/// unused template builds are removed. Call within the runtime.
pub(crate) async fn start_engine(
    jail: Arc<Jail>,
    config: EngineConfig,
    database_url: &str,
) -> anyhow::Result<(Arc<Engine>, Arc<dyn warden_store::Store>)> {
    let store = warden_store::open(database_url)
        .await
        .context("cannot open the database")?;
    let engine = Engine::new(jail, config, store.clone())?;
    let recovered = engine.recover().await?;
    let old_builds = engine.collect_template_garbage();
    if old_builds > 0 {
        eprintln!("warden: removed {old_builds} template builds no template uses");
    }
    if recovered > 0 {
        eprintln!("warden: {recovered} sessions of an earlier run marked ended");
    }
    Ok((engine, store))
}

pub(crate) async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handling, serve until killed.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// The database URL: the one given, or the SQLite file in the data directory.
pub(crate) fn database_url(given: Option<&str>, data_dir: &std::path::Path) -> String {
    match given {
        Some(url) => url.to_string(),
        None => format!("sqlite://{}", data_dir.join("warden.db").display()),
    }
}

/// The host's name, for session records.
fn host_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}
