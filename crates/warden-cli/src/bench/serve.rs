//! `warden bench serve`: sessions and the HTTP API, as a client on the same machine sees
//! them. Starts its own `warden serve` on a free loopback port and measures, each with its
//! baseline in the same run where there is one:
//!
//! - session creation from the pre-warmed pool (paced: each create waits until the pool is
//!   full again and 10 ms more, so every create is served from the pool by a quiet
//!   server);
//! - a warm `x + 1` round trip on an existing session, beside the same round trip to a
//!   Jupyter kernel (ipykernel through jupyter_client): back to back (bursts of 10 in a
//!   row, warden's and the kernel's bursts alternating) and after an idle pause (one
//!   sample of each at a time);
//! - a one-shot `POST /v1/execute` of `print(1)` (paced like creation), interleaved with
//!   a bare `/usr/bin/python3 -c 'print(1)'` (also paced, so that it does not compete
//!   with the pool's refill);
//! - memory per idle Python session: the PSS of every process below the server (each
//!   sandbox's init and its Python agent), grouped by sandbox;
//! - many concurrent sessions running cells at once: latency percentiles and errors.
//!
//! Every loop is bounded in count and every request in time; the server is stopped with
//! SIGTERM by its pid.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use clap::Args;
use serde_json::{json, Value};

use super::startup::{median, time_once};

/// The Jupyter round-trip helper, run with `--jupyter-python`.
const JUPYTER_BASELINE: &str = include_str!("jupyter_baseline.py");

/// The install command suggested when the Jupyter baseline cannot run.
const JUPYTER_INSTALL: &str =
    "/usr/bin/python3 -m venv /tmp/jb && /tmp/jb/bin/pip install ipykernel jupyter_client";

/// Timed round trips in a row in one burst of the back-to-back warm measurement.
const BURST: usize = 10;

/// The pause before each sample of the idle warm round trip.
const IDLE_PAUSE: Duration = Duration::from_millis(10);

/// Longest any single request may take before it counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Args, Debug)]
pub struct ServeBenchArgs {
    /// Timed samples of each sequential measurement (create, warm round trip, one-shot)
    /// and of each baseline.
    #[arg(long, default_value_t = 100)]
    runs: usize,
    /// Idle sessions held at once for the memory measurement.
    #[arg(long, default_value_t = 20)]
    idle_sessions: usize,
    /// Sessions running cells concurrently in the load measurement.
    #[arg(long, default_value_t = 100)]
    sessions: usize,
    /// Cells each concurrent session runs, one after another.
    #[arg(long, default_value_t = 100)]
    cells: usize,
    /// The server's `--pool-size`.
    #[arg(long, default_value_t = 4)]
    pool_size: usize,
    /// A Python with `jupyter_client` and `ipykernel` for the Jupyter baseline; without
    /// them the baseline is skipped with a note.
    #[arg(long, default_value = "/usr/bin/python3")]
    jupyter_python: PathBuf,
    /// Print JSON instead of Markdown tables.
    #[arg(long)]
    json: bool,
    /// The isolation tier of every session and one-shot run: `namespaces`, `gvisor`
    /// (needs runsc; the server gets a default policy of `"isolation": "gvisor"` and a
    /// gVisor pool of `--pool-size`) or `both`, one after the other in the same run.
    #[arg(long, value_enum, default_value_t = super::startup::TierChoice::Namespaces)]
    tier: super::startup::TierChoice,
}

/// Latency of one kind of request.
#[derive(serde::Serialize)]
struct Row {
    measurement: &'static str,
    system: &'static str,
    p50_ms: f64,
    p99_ms: f64,
    samples: usize,
    errors: usize,
    /// The row this one is compared with (same measurement, measured in the same run).
    baseline: Option<&'static str>,
    /// p50 over the baseline's p50.
    ratio: Option<f64>,
    target_p50_ms: Option<f64>,
    /// Median of the cell's `duration_ms` as the server reports it (from sending the
    /// request to the agent to reading its reply): the rest of p50 is HTTP, JSON and the
    /// server's scheduling.
    cell_duration_p50_ms: Option<f64>,
}

#[derive(serde::Serialize)]
struct Memory {
    /// Sandboxes found below the server (the idle sessions plus the pool).
    sandboxes: usize,
    sessions: usize,
    pool: usize,
    total_pss_mib: f64,
    /// Mean PSS of one sandbox (init + agent), all processes below the server divided by
    /// the sandboxes.
    per_session_pss_mib: f64,
    median_session_pss_mib: f64,
    max_session_pss_mib: f64,
    median_init_pss_mib: f64,
    median_agent_pss_mib: f64,
    /// Median memory charged to a sandbox's memory cgroup (its processes' pages, its
    /// tmpfs files and kernel memory), a cross-check of the PSS; `null` if unreadable.
    median_session_cgroup_mib: Option<f64>,
    /// How much the server's own PSS changed while the sessions were created.
    server_pss_change_mib: f64,
    sessions_per_16_gib: u64,
    target_mib: f64,
}

#[derive(serde::Serialize)]
struct Load {
    sessions: usize,
    cells_per_session: usize,
    cells: usize,
    errors: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    wall_s: f64,
    cells_per_s: f64,
    /// Time to create the sessions, one after another (most start fresh sandboxes).
    create_all_s: f64,
}

#[derive(serde::Serialize, Default)]
struct Report {
    tier: &'static str,
    rows: Vec<Row>,
    memory: Option<Memory>,
    load: Option<Load>,
    notes: Vec<String>,
}

pub fn main(args: ServeBenchArgs) -> i32 {
    let mut reports = Vec::new();
    for (tier, _) in args.tier.launchers() {
        match run(&args, tier) {
            Ok(report) => reports.push(report),
            Err(e) => {
                eprintln!("warden bench serve ({tier}): {e:#}");
                return 1;
            }
        }
    }
    if args.json {
        let doc = match reports.len() {
            1 => serde_json::to_value(&reports[0]),
            _ => serde_json::to_value(&reports),
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&doc.unwrap_or_default()).unwrap_or_default()
        );
    } else {
        for (i, report) in reports.iter().enumerate() {
            if reports.len() > 1 || report.tier != "namespaces" {
                println!(
                    "{}### Tier: {}\n",
                    if i > 0 { "\n" } else { "" },
                    report.tier
                );
            }
            print_markdown(&args, report);
        }
    }
    0
}

fn run(args: &ServeBenchArgs, tier: &'static str) -> anyhow::Result<Report> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let data_dir = std::env::temp_dir().join(format!("warden-bench-{}-{tier}", std::process::id()));
    let mut server = Server::start(args, &data_dir, tier)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(measure(args, &server, tier));
    drop(runtime);
    let stopped = server.stop();
    let _ = std::fs::remove_dir_all(&data_dir);
    let report = result?;
    stopped?;
    Ok(report)
}

async fn measure(
    args: &ServeBenchArgs,
    server: &Server,
    tier: &'static str,
) -> anyhow::Result<Report> {
    let api = Api::new(&server.base, args.sessions.max(8))?;
    let mut report = Report {
        tier,
        ..Report::default()
    };
    // The targets: gVisor's warm round trip is allowed 2 ms, its one-shot is
    // compared with plain `runsc run` by `warden bench tiers` instead.
    let gvisor = tier == "gvisor";
    api.wait_pool_full(args.pool_size).await?;
    // Warm the connection and the server's code paths before timing anything.
    for _ in 0..3 {
        let id = api.create().await?;
        api.expect_value(&id, "x = 1", None).await?;
        api.expect_value(&id, "x + 1", Some("2")).await?;
        api.delete(&id).await?;
        api.wait_pool_full(args.pool_size).await?;
    }

    // 1. Session creation from the pool, paced.
    let mut create = Vec::with_capacity(args.runs);
    let mut delete = Vec::with_capacity(args.runs);
    for _ in 0..args.runs {
        api.settle(args.pool_size).await?;
        let t = Instant::now();
        let id = api.create().await?;
        create.push(ms(t));
        let t = Instant::now();
        api.delete(&id).await?;
        delete.push(ms(t));
    }
    report.rows.push(row(
        "session create (pool)",
        "warden",
        &mut create,
        0,
        Some(5.0),
    ));
    report
        .rows
        .push(row("session delete", "warden", &mut delete, 0, None));

    // 2. Warm `x + 1`, interleaved with a Jupyter kernel.
    api.wait_pool_full(args.pool_size).await?;
    let id = api.create().await?;
    api.expect_value(&id, "x = 1", None).await?;
    for _ in 0..20 {
        api.expect_value(&id, "x + 1", Some("2")).await?;
    }
    let mut jupyter = match Jupyter::start(&args.jupyter_python) {
        Ok(j) => Some(j),
        Err(e) => {
            report.notes.push(format!(
                "Jupyter baseline skipped: {e:#}. Install it with `{JUPYTER_INSTALL}` and pass \
                 --jupyter-python /tmp/jb/bin/python"
            ));
            None
        }
    };
    // Two regimes. Back to back: bursts of BURST timed round trips in a row after an
    // untimed one, as when a client sends cells one after another; warden's and the
    // kernel's bursts alternate, so that slow drifts of the machine hit both alike while
    // neither system's trailing work lands inside the other's timing. After an idle
    // pause: every sample follows 10 ms of quiet, as when a person or an agent thinks
    // between cells (idle CPUs and threads take longer to wake); warden and the kernel
    // alternate one sample at a time.
    let mut hot = Samples::default();
    let mut idle = Samples::default();
    while hot.warden.len() < args.runs {
        let burst = BURST.min(args.runs - hot.warden.len());
        api.expect_value(&id, "x + 1", Some("2")).await?;
        for _ in 0..burst {
            let t = Instant::now();
            hot.cell
                .push(api.expect_value(&id, "x + 1", Some("2")).await?);
            hot.warden.push(ms(t));
        }
        if let Some(j) = jupyter.as_mut() {
            j.round_trip()?;
            for _ in 0..burst {
                hot.kernel.push(j.round_trip()?);
            }
        }
    }
    for _ in 0..args.runs {
        tokio::time::sleep(IDLE_PAUSE).await;
        let t = Instant::now();
        idle.cell
            .push(api.expect_value(&id, "x + 1", Some("2")).await?);
        idle.warden.push(ms(t));
        if let Some(j) = jupyter.as_mut() {
            std::thread::sleep(IDLE_PAUSE);
            idle.kernel.push(j.round_trip()?);
        }
    }
    drop(jupyter.take());
    api.delete(&id).await?;
    hot.report(
        &mut report,
        "warm x + 1",
        Some(if gvisor { 2.0 } else { 0.5 }),
    );
    idle.report(&mut report, "warm x + 1 after 10 ms idle", None);

    // 3. One-shot `print(1)`, paced, interleaved with a bare interpreter start.
    let bare_argv: Vec<String> = ["/usr/bin/python3", "-c", "print(1)"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if time_once(&bare_argv).is_none() {
        bail!("/usr/bin/python3 -c 'print(1)' failed");
    }
    let mut oneshot = Vec::with_capacity(args.runs);
    let mut oneshot_cell = Vec::with_capacity(args.runs);
    let mut bare = Vec::with_capacity(args.runs);
    for _ in 0..args.runs {
        api.settle(args.pool_size).await?;
        let t = Instant::now();
        oneshot_cell.push(api.one_shot().await?);
        oneshot.push(ms(t));
        // The bare start must not compete with the server refilling its pool and tearing
        // the one-shot's sandbox down.
        api.settle(args.pool_size).await?;
        bare.push(time_once(&bare_argv).ok_or_else(|| anyhow!("a bare python3 run failed"))?);
    }
    let one_target = (!gvisor).then_some(5.0);
    let mut one_row = row("one-shot print(1)", "warden", &mut oneshot, 0, one_target);
    one_row.cell_duration_p50_ms = Some(median(&mut oneshot_cell));
    let bare_row = row("one-shot print(1)", "bare python3", &mut bare, 0, None);
    one_row.baseline = Some("bare python3");
    one_row.ratio = Some(one_row.p50_ms / bare_row.p50_ms);
    report.rows.push(one_row);
    report.rows.push(bare_row);

    // 4. Memory of idle sessions.
    api.wait_pool_full(args.pool_size).await?;
    if args.idle_sessions > 0 {
        report.memory = Some(memory(args, server, &api).await?);
    }

    // 5. Many sessions running cells concurrently.
    if args.sessions > 0 && args.cells > 0 {
        api.wait_pool_full(args.pool_size).await?;
        report.load = Some(load(args, &api).await?);
    }
    Ok(report)
}

async fn memory(args: &ServeBenchArgs, server: &Server, api: &Api) -> anyhow::Result<Memory> {
    let server_before = pss_kib(server.pid).unwrap_or(0);
    let mut ids = Vec::with_capacity(args.idle_sessions);
    for _ in 0..args.idle_sessions {
        let id = api.create().await?;
        api.expect_value(&id, "x = 1", None).await?;
        ids.push(id);
    }
    api.wait_pool_full(args.pool_size).await?;
    // Let the last sandboxes settle (teardown of nothing pending, agents idle).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let groups = sandbox_pss(server.pid)?;
    let server_after = pss_kib(server.pid).unwrap_or(0);
    for id in &ids {
        api.delete(id).await?;
    }
    let sandboxes = groups.len();
    if sandboxes == 0 {
        bail!(
            "no sandbox processes found below the server (pid {})",
            server.pid
        );
    }
    let mib = |kib: u64| kib as f64 / 1024.0;
    let total: u64 = groups.iter().map(|g| g.init + g.rest).sum();
    let mut per: Vec<f64> = groups.iter().map(|g| mib(g.init + g.rest)).collect();
    let mut init: Vec<f64> = groups.iter().map(|g| mib(g.init)).collect();
    let mut rest: Vec<f64> = groups.iter().map(|g| mib(g.rest)).collect();
    let max = per.iter().copied().fold(0.0, f64::max);
    let mut cgroup: Vec<f64> = groups.iter().filter_map(|g| g.cgroup.map(mib)).collect();
    let median_session_cgroup_mib = (cgroup.len() == groups.len()).then(|| median(&mut cgroup));
    let per_session = mib(total) / sandboxes as f64;
    Ok(Memory {
        sandboxes,
        sessions: args.idle_sessions,
        pool: sandboxes.saturating_sub(args.idle_sessions),
        total_pss_mib: mib(total),
        per_session_pss_mib: per_session,
        median_session_pss_mib: median(&mut per),
        max_session_pss_mib: max,
        median_init_pss_mib: median(&mut init),
        median_agent_pss_mib: median(&mut rest),
        median_session_cgroup_mib,
        server_pss_change_mib: (server_after as f64 - server_before as f64) / 1024.0,
        sessions_per_16_gib: (16.0 * 1024.0 / per_session).floor() as u64,
        target_mib: 12.0,
    })
}

async fn load(args: &ServeBenchArgs, api: &Api) -> anyhow::Result<Load> {
    let t = Instant::now();
    let mut ids = Vec::with_capacity(args.sessions);
    for _ in 0..args.sessions {
        let id = api.create().await?;
        api.expect_value(&id, "c = 0", None).await?;
        ids.push(id);
    }
    let create_all_s = t.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for id in ids.clone() {
        let api = api.clone();
        let cells = args.cells;
        tasks.spawn(async move {
            let mut lat = Vec::with_capacity(cells);
            let mut errors = 0usize;
            for i in 1..=cells {
                let t = Instant::now();
                let want = i.to_string();
                match api.expect_value(&id, "c += 1\nc", Some(&want)).await {
                    Ok(_) => lat.push(ms(t)),
                    Err(e) => {
                        if errors == 0 {
                            eprintln!("warden bench serve: a cell of {id} failed: {e:#}");
                        }
                        errors += 1;
                    }
                }
            }
            (lat, errors)
        });
    }
    let mut lat = Vec::with_capacity(args.sessions * args.cells);
    let mut errors = 0;
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok((l, e)) => {
                lat.extend(l);
                errors += e;
            }
            Err(e) => bail!("a load task failed: {e}"),
        }
    }
    let wall_s = start.elapsed().as_secs_f64();
    for id in &ids {
        api.delete(id).await?;
    }
    let cells = args.sessions * args.cells;
    let max_ms = lat.iter().copied().fold(0.0, f64::max);
    let p99_ms = percentile(&mut lat, 99.0);
    Ok(Load {
        sessions: args.sessions,
        cells_per_session: args.cells,
        cells,
        errors,
        p50_ms: median(&mut lat),
        p99_ms,
        max_ms,
        wall_s,
        cells_per_s: (cells - errors) as f64 / wall_s,
        create_all_s,
    })
}

/// Warm round trips of warden (with the server's own cell durations) and of the kernel.
#[derive(Default)]
struct Samples {
    warden: Vec<f64>,
    cell: Vec<f64>,
    kernel: Vec<f64>,
}

impl Samples {
    fn report(mut self, report: &mut Report, name: &'static str, target: Option<f64>) {
        let mut w = row(name, "warden", &mut self.warden, 0, target);
        w.cell_duration_p50_ms = Some(median(&mut self.cell));
        if self.kernel.is_empty() {
            report.rows.push(w);
            return;
        }
        let k = row(name, "jupyter kernel", &mut self.kernel, 0, None);
        w.baseline = Some("jupyter kernel");
        w.ratio = Some(w.p50_ms / k.p50_ms);
        report.rows.push(w);
        report.rows.push(k);
    }
}

pub(super) fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// Nearest-rank percentile (sorts `v`).
pub(super) fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

fn row(
    measurement: &'static str,
    system: &'static str,
    samples: &mut [f64],
    errors: usize,
    target_p50_ms: Option<f64>,
) -> Row {
    Row {
        measurement,
        system,
        p99_ms: percentile(samples, 99.0),
        p50_ms: median(samples),
        samples: samples.len(),
        errors,
        baseline: None,
        ratio: None,
        target_p50_ms,
        cell_duration_p50_ms: None,
    }
}

fn print_markdown(args: &ServeBenchArgs, r: &Report) {
    println!("| measurement | system | p50 ms | p99 ms | ratio | target p50 | cell p50 ms |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for row in &r.rows {
        let ratio = match (row.ratio, row.baseline) {
            (Some(x), Some(b)) => format!("{x:.3} (vs {b})"),
            _ => "".into(),
        };
        let target = row
            .target_p50_ms
            .map(|t| format!("≤ {t} ms"))
            .unwrap_or_default();
        let cell = row
            .cell_duration_p50_ms
            .map(|c| format!("{c:.3}"))
            .unwrap_or_default();
        println!(
            "| {} | {} | {:.3} | {:.3} | {} | {} | {} |",
            row.measurement, row.system, row.p50_ms, row.p99_ms, ratio, target, cell
        );
    }
    if let Some(l) = &r.load {
        println!(
            "| {} sessions × {} cells, concurrent | warden | {:.3} | {:.3} | | errors: {} | |",
            l.sessions, l.cells_per_session, l.p50_ms, l.p99_ms, l.errors
        );
    }
    println!(
        "\n{} samples per sequential row; creates, one-shots and bare starts paced (each \
         waits for a full pool of {}, then 10 ms). cell p50: the server's own `duration_ms` of the cell.",
        args.runs, args.pool_size
    );
    if let Some(m) = &r.memory {
        println!(
            "\nMemory: {} sandboxes ({} idle sessions + {} pooled) hold {:.1} MiB PSS: \
             {:.2} MiB per session (median {:.2}, max {:.2}; init {:.2} + agent {:.2}); \
             {} idle sessions per 16 GiB (target ≤ {} MiB). Median memory cgroup charge: \
             {} MiB. The server's own PSS changed by {:+.2} MiB.",
            m.sandboxes,
            m.sessions,
            m.pool,
            m.total_pss_mib,
            m.per_session_pss_mib,
            m.median_session_pss_mib,
            m.max_session_pss_mib,
            m.median_init_pss_mib,
            m.median_agent_pss_mib,
            m.sessions_per_16_gib,
            m.target_mib,
            m.median_session_cgroup_mib
                .map(|c| format!("{c:.2}"))
                .unwrap_or_else(|| "unknown".into()),
            m.server_pss_change_mib
        );
    }
    if let Some(l) = &r.load {
        println!(
            "\nLoad: {} cells in {:.2} s ({:.0} cells/s), {} errors, max {:.1} ms; creating \
             the {} sessions took {:.2} s.",
            l.cells, l.wall_s, l.cells_per_s, l.errors, l.max_ms, l.sessions, l.create_all_s
        );
    }
    for n in &r.notes {
        println!("\nNote: {n}");
    }
}

/// PSS of one sandbox: its init (a child of the server) and everything below it.
struct SandboxPss {
    init: u64,
    rest: u64,
    /// The memory charged to the sandbox's memory cgroup (kernel memory included), in
    /// KiB, when it can be read.
    cgroup: Option<u64>,
}

/// Every process below the server, grouped by the server's child it descends from.
fn sandbox_pss(server: u32) -> anyhow::Result<Vec<SandboxPss>> {
    let mut parent: HashMap<u32, u32> = HashMap::new();
    for entry in std::fs::read_dir("/proc").context("reading /proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(ppid) = ppid_of(pid) {
            parent.insert(pid, ppid);
        }
    }
    let mut groups: HashMap<u32, SandboxPss> = HashMap::new();
    for &pid in parent.keys() {
        // Walk up to the server; the last pid before it names the sandbox.
        let mut top = pid;
        let mut cur = pid;
        let mut below_server = false;
        for _ in 0..64 {
            match parent.get(&cur) {
                Some(&p) if p == server => {
                    top = cur;
                    below_server = true;
                    break;
                }
                Some(&p) if p > 1 => cur = p,
                _ => break,
            }
        }
        if !below_server {
            continue;
        }
        let Some(pss) = pss_kib(pid) else { continue };
        let g = groups.entry(top).or_insert_with(|| SandboxPss {
            init: 0,
            rest: 0,
            cgroup: cgroup_memory_kib(top),
        });
        if pid == top {
            g.init += pss;
        } else {
            g.rest += pss;
        }
    }
    // A server child without anything below it is not a session's sandbox (a sandbox
    // being torn down, say).
    Ok(groups.into_values().filter(|g| g.rest > 0).collect())
}

fn ppid_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

/// The memory charged to a process's memory cgroup, in KiB: `memory.usage_in_bytes` on
/// cgroup v1, `memory.current` on v2.
fn cgroup_memory_kib(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let mut candidates = Vec::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        if controllers.split(',').any(|c| c == "memory") {
            candidates.push(format!("/sys/fs/cgroup/memory{path}/memory.usage_in_bytes"));
        } else if controllers.is_empty() && path != "/" {
            candidates.push(format!("/sys/fs/cgroup{path}/memory.current"));
        }
    }
    candidates.iter().find_map(|f| {
        let bytes: u64 = std::fs::read_to_string(f).ok()?.trim().parse().ok()?;
        Some(bytes / 1024)
    })
}

/// Proportional set size of a process, in KiB.
fn pss_kib(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// The server under test: a child `warden serve` on a free loopback port.
pub(super) struct Server {
    child: Child,
    pid: u32,
    pub(super) base: String,
}

impl Server {
    fn start(
        args: &ServeBenchArgs,
        data_dir: &std::path::Path,
        tier: &str,
    ) -> anyhow::Result<Server> {
        let max_sessions = args.sessions.max(args.idle_sessions) + 16;
        let pool_size = args.pool_size.to_string();
        let max_sessions = max_sessions.to_string();
        let (namespaces_pool, gvisor_pool) = match tier {
            "gvisor" => ("0", pool_size.as_str()),
            _ => (pool_size.as_str(), "0"),
        };
        // gVisor through the default policy, so that the requests are the same.
        let mut policy_args = Vec::new();
        if tier == "gvisor" {
            std::fs::create_dir_all(data_dir)?;
            let policy = data_dir.join("bench-policy.json");
            std::fs::write(&policy, json!({ "isolation": tier }).to_string())?;
            policy_args = vec![
                "--default-policy".to_string(),
                policy.to_string_lossy().into_owned(),
            ];
        }
        let mut server_args: Vec<&str> = policy_args.iter().map(String::as_str).collect();
        server_args.extend([
            "--gvisor-pool-size",
            gvisor_pool,
            "--pool-size",
            namespaces_pool,
            // Python only: other languages' pooled sandboxes would count in the memory
            // figures and their refills would disturb the timings.
            "--js-pool-size",
            "0",
            "--bash-pool-size",
            "0",
            "--max-sessions",
            &max_sessions,
        ]);
        Server::start_with(data_dir, &server_args)
    }

    /// Starts `warden serve --listen 127.0.0.1:0 --dev --data-dir DATA_DIR` with
    /// `server_args` added (pool sizes, template pools, limits) and waits for its address.
    pub(super) fn start_with(
        data_dir: &std::path::Path,
        server_args: &[&str],
    ) -> anyhow::Result<Server> {
        let exe = std::env::current_exe().context("cannot find the warden binary")?;
        let mut child = Command::new(exe)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(server_args)
            // No API keys: the bench measures the sandbox and HTTP path (records are
            // still written, as for every tenant).
            .arg("--dev")
            .arg("--data-dir")
            .arg(data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start warden serve")?;
        let pid = child.id();
        let mut out = BufReader::new(child.stdout.take().context("no stdout")?);
        let mut line = String::new();
        let _ = out.read_line(&mut line);
        // Drain anything the server prints later, so it never writes to a closed pipe;
        // its messages go to our stderr, except the expected one at the end.
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut out, &mut std::io::sink());
        });
        if let Some(err) = child.stderr.take() {
            std::thread::spawn(move || {
                for l in BufReader::new(err).lines().map_while(Result::ok) {
                    if l != "warden: shutting down" {
                        eprintln!("[warden serve] {l}");
                    }
                }
            });
        }
        let mut server = Server {
            child,
            pid,
            base: String::new(),
        };
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|r| r.split_whitespace().next());
        match addr {
            Some(a) => {
                server.base = format!("http://{a}");
                Ok(server)
            }
            None => {
                let _ = server.stop();
                bail!("warden serve did not print its address (got {line:?})")
            }
        }
    }

    /// SIGTERM by pid, then a bounded wait; SIGKILL if it does not stop.
    pub(super) fn stop(&mut self) -> anyhow::Result<()> {
        if let Ok(Some(_)) = self.child.try_wait() {
            return Ok(());
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        bail!("the server did not stop within 20 s of SIGTERM and was killed")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.stop();
        }
    }
}

/// A keep-alive HTTP client of the server under test.
#[derive(Clone)]
pub(super) struct Api {
    pub(super) http: reqwest::Client,
    pub(super) base: String,
}

impl Api {
    pub(super) fn new(base: &str, connections: usize) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(connections)
            .timeout(REQUEST_TIMEOUT)
            .build()?;
        Ok(Api {
            http,
            base: base.to_string(),
        })
    }

    pub(super) async fn json(
        &self,
        rb: reqwest::RequestBuilder,
        want: u16,
    ) -> anyhow::Result<Value> {
        let r = rb.send().await?;
        let status = r.status().as_u16();
        let body = r.bytes().await?;
        if status != want {
            bail!(
                "HTTP {status} (wanted {want}): {}",
                String::from_utf8_lossy(&body)
            );
        }
        if body.is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_slice(&body)?)
    }

    async fn create(&self) -> anyhow::Result<String> {
        self.create_with(&json!({"language": "python"})).await
    }

    /// Creates a session from the given `POST /v1/sessions` body; returns its id.
    pub(super) async fn create_with(&self, body: &Value) -> anyhow::Result<String> {
        let v = self
            .json(
                self.http
                    .post(format!("{}/v1/sessions", self.base))
                    .json(body),
                201,
            )
            .await?;
        v["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("no id in {v}"))
    }

    pub(super) async fn delete(&self, id: &str) -> anyhow::Result<()> {
        self.json(
            self.http.delete(format!("{}/v1/sessions/{id}", self.base)),
            204,
        )
        .await?;
        Ok(())
    }

    /// Runs a cell and checks it succeeded with the given value (`None`: no value);
    /// returns the cell's `duration_ms` as the server measured it.
    pub(super) async fn expect_value(
        &self,
        id: &str,
        code: &str,
        want: Option<&str>,
    ) -> anyhow::Result<f64> {
        let v = self
            .json(
                self.http
                    .post(format!("{}/v1/sessions/{id}/execute", self.base))
                    .json(&json!({ "code": code })),
                200,
            )
            .await?;
        let got = v["value"]["text/plain"].as_str();
        if v["status"] != "ok" || got != want {
            bail!("cell {code:?} answered {v}");
        }
        Ok(v["duration_ms"].as_f64().unwrap_or(f64::NAN))
    }

    async fn one_shot(&self) -> anyhow::Result<f64> {
        let v = self
            .json(
                self.http
                    .post(format!("{}/v1/execute", self.base))
                    .json(&json!({"language": "python", "code": "print(1)"})),
                200,
            )
            .await?;
        if v["status"] != "ok" || v["stdout"] != "1\n" {
            bail!("one-shot print(1) answered {v}");
        }
        Ok(v["duration_ms"].as_f64().unwrap_or(f64::NAN))
    }

    /// Waits until the pool is full, then a little more for the background work that
    /// goes with it (a sandbox's teardown) to end: a quiet server for the next sample.
    pub(super) async fn settle(&self, size: usize) -> anyhow::Result<()> {
        self.wait_pool_full(size).await?;
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok(())
    }

    /// Waits (bounded) until the server's Python pool holds `size` sessions.
    pub(super) async fn wait_pool_full(&self, size: usize) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            let v = self
                .json(self.http.get(format!("{}/healthz", self.base)), 200)
                .await?;
            if v["pools"]["python"].as_u64().unwrap_or(0) as usize >= size {
                return Ok(());
            }
            if start.elapsed() > Duration::from_secs(30) {
                bail!("the pool did not refill to {size} within 30 s: {v}");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

/// The Jupyter kernel baseline: the helper script, driven line by line over blocking
/// pipes (the measurements are sequential, so blocking the client's one thread is fine).
/// Every wait is bounded by the helper itself: each kernel message has a 30 s timeout and
/// the kernel a 60 s start-up timeout, after which the helper exits and its pipe closes.
struct Jupyter {
    child: Child,
    stdin: Option<std::process::ChildStdin>,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Jupyter {
    fn start(python: &std::path::Path) -> anyhow::Result<Jupyter> {
        let mut child = Command::new(python)
            .args(["-c", JUPYTER_BASELINE])
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("LANG", "C.UTF-8")
            .env("HOME", std::env::temp_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot run {}", python.display()))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().context("no stdout")?;
        let mut j = Jupyter {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        };
        match j.lines.next().transpose()?.as_deref() {
            Some("ready") => Ok(j),
            Some(other) => bail!("{} has no Jupyter kernel ({other})", python.display()),
            None => bail!("{} could not start a Jupyter kernel", python.display()),
        }
    }

    /// One `x + 1` round trip, in milliseconds, as timed by the client in the helper.
    fn round_trip(&mut self) -> anyhow::Result<f64> {
        let stdin = self.stdin.as_mut().context("the helper was stopped")?;
        stdin.write_all(b"x\n")?;
        stdin.flush()?;
        let line = self
            .lines
            .next()
            .transpose()?
            .context("the Jupyter helper ended")?;
        let (ms, value) = line
            .split_once(' ')
            .ok_or_else(|| anyhow!("bad line from the Jupyter helper: {line:?}"))?;
        if value != "2" {
            bail!("the Jupyter kernel answered {value:?} to x + 1");
        }
        Ok(ms.parse()?)
    }
}

impl Drop for Jupyter {
    /// An empty line (or the closed pipe) ends the helper, which shuts its kernel down;
    /// the wait is bounded, then the helper is killed.
    fn drop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"\n");
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
