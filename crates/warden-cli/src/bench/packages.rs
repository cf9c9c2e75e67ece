//! `warden bench packages`: templates and package sets, as a client on the same machine
//! sees them. Starts its own `warden serve` children on free loopback ports, one after
//! another, and measures:
//!
//! 1. a session of the `python-data` template with numpy, pandas and matplotlib already
//!    imported, handed out from the template's pool (paced: each create waits until the
//!    pool is full again and 10 ms more), and its first cell importing them; against a
//!    cold `import numpy, pandas, matplotlib.pyplot` by a bare `/usr/bin/python3` over the
//!    template's own site-packages, interleaved with the creates;
//! 2. the time a cached package set adds to a new session: creates with the set and plain
//!    creates, interleaved and paced alike, with `/metrics` checked to show no install
//!    and no connection to the package index while they ran;
//! 3. the first install of small pure-Python packages, each into an empty cache.
//!
//! Parts 1 and 2 run in the given data directory (a temporary one by default, where the
//! template is built first); part 3 always in a fresh temporary one. Every loop is
//! bounded in count and every request in time; each server is stopped with SIGTERM by
//! its pid before the next starts.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use clap::Args;
use serde_json::{json, Value};

use super::serve::{ms, percentile, Api, Server};
use super::startup::median;

/// The shipped recipe benchmarked, built under the same name.
const TEMPLATE: &str = "python-data";

/// Sandboxes in the template's pool (part 1) and in the plain Python pool (part 2).
const POOL: usize = 2;

/// The first cell of a template session; its value is numpy's version.
const FIRST_CELL: &str = "import numpy, pandas, matplotlib.pyplot as plt\nnumpy.__version__";

/// The cold baseline: what the template's preload saves a session from.
const COLD_IMPORT: &str = "import numpy, pandas, matplotlib.pyplot";

/// Timed runs of the cold import (each takes about 1.5 s).
const COLD_RUNS: usize = 5;

/// Untimed rounds before each timed loop, to warm the connection and the server's paths.
const WARMUP: usize = 2;

/// The package set of part 2, and the module and version that show it applied.
const CACHED_SET: &str = "tabulate==0.9.0";
const CACHED_CHECK: &str = "import tabulate\ntabulate.__version__";
const CACHED_VALUE: &str = "'0.9.0'";

/// Small pure-Python packages of the built-in allowlist (`runtimes/python/allowlist.txt`)
/// installed for the first time in part 3: the requirement and the module it provides.
const FIRST_INSTALLS: [(&str, &str); 3] =
    [("humanize", "humanize"), ("six", "six"), ("toolz", "toolz")];

/// The targets, in milliseconds.
const TARGET_TEMPLATE_CREATE_MS: f64 = 30.0;
const TARGET_CACHED_SET_ADDED_MS: f64 = 100.0;
const TARGET_FIRST_INSTALL_MS: f64 = 10_000.0;

/// Pool sizes of every server: only the pool a part measures is non-zero, so that no
/// other pool's refill disturbs its timings.
const NO_OTHER_POOLS: [&str; 4] = ["--js-pool-size", "0", "--bash-pool-size", "0"];

#[derive(Args, Debug)]
pub struct PackagesBenchArgs {
    /// Timed samples of each session-create measurement (the cold-import baseline always
    /// takes 5).
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// A data directory with the python-data template (built there first if `warden
    /// template list` does not show it); the package set of part 2 is cached in its
    /// `packages/`. Default: a temporary directory, removed at the end, where the template
    /// is built first (about 35 s, from PyPI).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Print JSON instead of Markdown tables.
    #[arg(long)]
    json: bool,
}

/// One line of the table: a latency, or a figure derived from latencies.
#[derive(serde::Serialize)]
struct Row {
    measurement: String,
    p50_ms: f64,
    /// `None` for derived figures (a difference, a maximum).
    p99_ms: Option<f64>,
    samples: usize,
    /// A short name of the row this one is compared with (measured in the same run).
    baseline: Option<String>,
    /// p50 over the baseline's p50.
    ratio: Option<f64>,
    target_p50_ms: Option<f64>,
    /// Whether p50 is within the target.
    met: Option<bool>,
}

impl Row {
    /// A latency row from its samples (sorts them).
    fn latency(measurement: impl Into<String>, samples: &mut [f64], target: Option<f64>) -> Row {
        let p99 = percentile(samples, 99.0);
        Row::figure(measurement, median(samples), samples.len(), target).with_p99(p99)
    }

    /// A single figure: a difference, a maximum, one sample.
    fn figure(
        measurement: impl Into<String>,
        value_ms: f64,
        samples: usize,
        target: Option<f64>,
    ) -> Row {
        Row {
            measurement: measurement.into(),
            p50_ms: value_ms,
            p99_ms: None,
            samples,
            baseline: None,
            ratio: None,
            target_p50_ms: target,
            met: target.map(|t| value_ms <= t),
        }
    }

    fn with_p99(mut self, p99: f64) -> Row {
        self.p99_ms = Some(p99);
        self
    }

    /// Compares with `baseline`, named `label` in the tables.
    fn against(mut self, baseline: &Row, label: &str) -> Row {
        self.baseline = Some(label.to_string());
        self.ratio = Some(self.p50_ms / baseline.p50_ms);
        self
    }
}

/// What `/metrics` says about the package cache.
#[derive(serde::Serialize, Clone, Copy, Default)]
struct CacheCounters {
    installs: u64,
    cache_hits: u64,
    index_connections: u64,
}

/// Part 2's check that the timed creates with the cached set neither installed nor
/// reached the package index.
#[derive(serde::Serialize)]
struct CacheCheck {
    /// Installs of the set before the timed loop: 1 if this run filled the cache, 0 if
    /// the data directory already held it.
    installed_by_fill: u64,
    before_loop: CacheCounters,
    after_loop: CacheCounters,
    /// No install and no index connection during the timed loop, and a cache hit for
    /// every create with the set.
    ok: bool,
}

/// One first install of part 3.
#[derive(serde::Serialize)]
struct FirstInstall {
    requirement: &'static str,
    /// `__version__` of the installed module, as the session sees it.
    version: String,
    create_ms: f64,
    /// Installs counted by `/metrics` during the create (1 expected).
    installs: u64,
}

#[derive(serde::Serialize, Default)]
struct Report {
    rows: Vec<Row>,
    cache_check: Option<CacheCheck>,
    first_installs: Vec<FirstInstall>,
    notes: Vec<String>,
}

pub fn main(args: PackagesBenchArgs) -> i32 {
    match run(&args) {
        Ok(report) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
            } else {
                print_markdown(&args, &report);
            }
            let cache_ok = report.cache_check.as_ref().is_none_or(|c| c.ok);
            let installs_ok = report.first_installs.iter().all(|f| f.installs == 1);
            if cache_ok && installs_ok {
                0
            } else {
                eprintln!("warden bench packages: a package-cache check failed (see above)");
                1
            }
        }
        Err(e) => {
            eprintln!("warden bench packages: {e:#}");
            1
        }
    }
}

/// A directory of the bench's own, removed when dropped (`None`: keep it).
struct OwnedDir(Option<PathBuf>);

impl OwnedDir {
    /// A fresh `warden-bench-packages-<what>-<pid>` under the temporary directory.
    fn fresh(what: &str) -> anyhow::Result<OwnedDir> {
        let dir = std::env::temp_dir().join(format!(
            "warden-bench-packages-{what}-{}",
            std::process::id()
        ));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot empty {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(OwnedDir(Some(dir)))
    }
}

impl Drop for OwnedDir {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn run(args: &PackagesBenchArgs) -> anyhow::Result<Report> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let exe = std::env::current_exe().context("cannot find the warden binary")?;
    let mut report = Report::default();
    let (data_dir, _owned) = match &args.data_dir {
        Some(d) => (d.clone(), OwnedDir(None)),
        None => {
            let owned = OwnedDir::fresh("data")?;
            (owned.0.clone().unwrap_or_default(), owned)
        }
    };
    let template = Template::ensure(&exe, &data_dir, &mut report.notes)?;
    // The cold import's HOME: matplotlib keeps its font cache there.
    let home = OwnedDir::fresh("home")?;
    let home = home.0.as_deref().unwrap_or(Path::new("/tmp")).to_path_buf();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    // 1. Template sessions from the pool, against the cold import.
    let pool = format!("{TEMPLATE}={POOL}");
    let mut server = Server::start_with(
        &data_dir,
        &[
            &["--template-pool", &pool, "--pool-size", "0"],
            &NO_OTHER_POOLS[..],
        ]
        .concat(),
    )?;
    let result = runtime.block_on(template_sessions(args, &server, &template, &home));
    let stopped = server.stop();
    report.rows.extend(result?);
    stopped?;

    // 2. A cached package set, against plain creates; a separate server on the same data
    // directory, with a plain Python pool and no template pool.
    let pool = POOL.to_string();
    let mut server = Server::start_with(
        &data_dir,
        &[&["--pool-size", pool.as_str()], &NO_OTHER_POOLS[..]].concat(),
    )?;
    let result = runtime.block_on(cached_set(args, &server));
    let stopped = server.stop();
    let (rows, check) = result?;
    stopped?;
    report.rows.extend(rows);
    report.cache_check = Some(check);

    // 3. First installs, in a fresh data directory (an empty package cache) and a server
    // without pools (nothing to refill while pip runs).
    let fresh = OwnedDir::fresh("fresh")?;
    let fresh_dir = fresh.0.clone().unwrap_or_default();
    let mut server = Server::start_with(
        &fresh_dir,
        &[&["--pool-size", "0"], &NO_OTHER_POOLS[..]].concat(),
    )?;
    let result = runtime.block_on(first_installs(&server));
    let stopped = server.stop();
    let installs = result?;
    stopped?;
    drop(fresh);
    for f in &installs {
        report.rows.push(Row::figure(
            format!("first install: `{}` ({})", f.requirement, f.version),
            f.create_ms,
            1,
            Some(TARGET_FIRST_INSTALL_MS),
        ));
    }
    let max = installs.iter().map(|f| f.create_ms).fold(0.0, f64::max);
    report.rows.push(Row::figure(
        "first install: the slowest",
        max,
        installs.len(),
        Some(TARGET_FIRST_INSTALL_MS),
    ));
    report.first_installs = installs;

    report.notes.push(environment(&template));
    report.notes.push(
        "Servers: part 1 `warden serve --dev --template-pool python-data=2 --pool-size 0 \
         --js-pool-size 0 --bash-pool-size 0`; part 2 a separate server on the same data \
         directory with `--pool-size 2` (no template pool); part 3 a third with \
         `--pool-size 0` on a fresh data directory (empty package cache)."
            .into(),
    );
    Ok(report)
}

/// The benchmarked template, as `warden template list --json` describes it.
struct Template {
    build: String,
    site_packages: PathBuf,
    /// `(name, version)` of every distribution it holds.
    distributions: Vec<(String, String)>,
}

impl Template {
    /// Finds the template in the data directory, building it first (with this binary)
    /// when it is missing.
    fn ensure(exe: &Path, data_dir: &Path, notes: &mut Vec<String>) -> anyhow::Result<Template> {
        if let Some(t) = Template::find(exe, data_dir)? {
            notes.push(format!(
                "Template {TEMPLATE} found in {} (build {}).",
                data_dir.display(),
                t.build
            ));
            return Ok(t);
        }
        eprintln!(
            "warden bench packages: building the {TEMPLATE} template in {} (from PyPI, about 35 s)",
            data_dir.display()
        );
        let started = Instant::now();
        // Bounded by the build's own install time limit (`--timeout`, 30 min by default).
        // Its stdout goes to our stderr, to keep ours for the report.
        let status = Command::new(exe)
            .args([
                "template",
                "build",
                TEMPLATE,
                "--recipe",
                TEMPLATE,
                "--data-dir",
            ])
            .arg(data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(std::io::stderr()))
            .status()
            .context("cannot run `warden template build`")?;
        if !status.success() {
            bail!("`warden template build {TEMPLATE} --recipe {TEMPLATE}` failed ({status})");
        }
        let t = Template::find(exe, data_dir)?.ok_or_else(|| {
            anyhow!("{TEMPLATE} was built but `warden template list` does not show it")
        })?;
        notes.push(format!(
            "Template {TEMPLATE} built in this run in {:.1} s (build {}).",
            started.elapsed().as_secs_f64(),
            t.build
        ));
        Ok(t)
    }

    fn find(exe: &Path, data_dir: &Path) -> anyhow::Result<Option<Template>> {
        let out = Command::new(exe)
            .args(["template", "list", "--json", "--data-dir"])
            .arg(data_dir)
            .stdin(Stdio::null())
            .output()
            .context("cannot run `warden template list`")?;
        if !out.status.success() {
            bail!(
                "`warden template list --json` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let list: Value = serde_json::from_slice(&out.stdout)
            .context("`warden template list --json` printed no JSON")?;
        let Some(info) = list
            .as_array()
            .and_then(|l| l.iter().find(|t| t["name"] == TEMPLATE))
        else {
            return Ok(None);
        };
        let build = info["build"]
            .as_str()
            .ok_or_else(|| anyhow!("{TEMPLATE} has no build: {info}"))?
            .to_string();
        let site_packages = data_dir
            .join("templates/builds")
            .join(&build)
            .join("site-packages");
        if !site_packages.is_dir() {
            bail!(
                "{TEMPLATE}'s files are missing: no {}",
                site_packages.display()
            );
        }
        let distributions = info["distributions"]
            .as_array()
            .map(|ds| {
                ds.iter()
                    .filter_map(|d| Some((d[0].as_str()?.to_string(), d[1].as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some(Template {
            build,
            site_packages,
            distributions,
        }))
    }

    fn version(&self, name: &str) -> Option<&str> {
        self.distributions
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Part 1: template sessions from the pool and their first cell, interleaved with the
/// cold import.
async fn template_sessions(
    args: &PackagesBenchArgs,
    server: &Server,
    template: &Template,
    home: &Path,
) -> anyhow::Result<Vec<Row>> {
    let api = Api::new(&server.base, 4)?;
    let body = json!({ "template": TEMPLATE });
    // The cell must see the template's numpy, not some other.
    let numpy = template
        .version("numpy")
        .ok_or_else(|| anyhow!("{TEMPLATE} holds no numpy"))?;
    let want = format!("'{numpy}'");
    api.wait_pool_full(POOL)
        .await
        .context("waiting for the template pool")?;
    for _ in 0..WARMUP {
        api.settle(POOL).await?;
        let id = api
            .create_with(&body)
            .await
            .context("creating a python-data session")?;
        api.expect_value(&id, FIRST_CELL, Some(&want))
            .await
            .context("the first cell of a python-data session")?;
        api.delete(&id).await?;
    }
    // Untimed: fills the page cache and matplotlib's font cache, and checks it runs.
    cold_import(template, home)?;

    let mut create = Vec::with_capacity(args.runs);
    let mut first = Vec::with_capacity(args.runs);
    let mut cold = Vec::with_capacity(COLD_RUNS);
    for i in 0..args.runs {
        api.settle(POOL).await?;
        let t = Instant::now();
        let id = api
            .create_with(&body)
            .await
            .context("creating a python-data session")?;
        create.push(ms(t));
        let t = Instant::now();
        api.expect_value(&id, FIRST_CELL, Some(&want))
            .await
            .context("the first cell of a python-data session")?;
        first.push(ms(t));
        api.delete(&id).await?;
        // The cold imports are spread over the loop, each on a quiet server (the pool
        // refilled: a refill imports the same modules and would compete for the CPUs).
        while cold.len() < COLD_RUNS * (i + 1) / args.runs {
            api.settle(POOL).await?;
            cold.push(cold_import(template, home)?);
        }
    }
    let cold_row = Row::latency(
        "cold `import numpy, pandas, matplotlib.pyplot` (bare python3, the template's site-packages)",
        &mut cold,
        None,
    );
    let create_row = Row::latency(
        "session create, python-data from the pool (numpy, pandas, matplotlib imported)",
        &mut create,
        Some(TARGET_TEMPLATE_CREATE_MS),
    )
    .against(&cold_row, "cold import");
    let first_row = Row::latency(
        "its first cell `import numpy, pandas, matplotlib.pyplot as plt; numpy.__version__`",
        &mut first,
        None,
    );
    Ok(vec![create_row, first_row, cold_row])
}

/// One cold import by a bare interpreter over the template's site-packages, timed from
/// fork to exit. The environment is as small as `warden bench startup` gives its bare
/// interpreters, plus the template's path and a non-interactive matplotlib backend.
fn cold_import(template: &Template, home: &Path) -> anyhow::Result<f64> {
    let start = Instant::now();
    let out = Command::new("/usr/bin/python3")
        .args(["-c", COLD_IMPORT])
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("LANG", "C.UTF-8")
        .env("HOME", home)
        .env("PYTHONPATH", &template.site_packages)
        .env("MPLBACKEND", "Agg")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .context("cannot run /usr/bin/python3")?;
    let took = ms(start);
    if !out.status.success() {
        bail!(
            "/usr/bin/python3 -c {COLD_IMPORT:?} with PYTHONPATH={} failed ({}): {}",
            template.site_packages.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(took)
}

/// Part 2: creates with the cached set interleaved with plain creates, and the cache's
/// counters around them.
async fn cached_set(
    args: &PackagesBenchArgs,
    server: &Server,
) -> anyhow::Result<(Vec<Row>, CacheCheck)> {
    let api = Api::new(&server.base, 4)?;
    let with_set = json!({ "packages": [CACHED_SET] });
    let plain = json!({});
    api.wait_pool_full(POOL)
        .await
        .context("waiting for the Python pool")?;
    for _ in 0..WARMUP {
        api.settle(POOL).await?;
        let id = api
            .create_with(&plain)
            .await
            .context("creating a session")?;
        api.delete(&id).await?;
    }
    // Fill the cache (untimed): the only install of the set this server may do.
    let before_fill = cache_counters(&api).await?;
    let id = api
        .create_with(&with_set)
        .await
        .with_context(|| format!("creating a session with {CACHED_SET} (filling the cache)"))?;
    api.expect_value(&id, CACHED_CHECK, Some(CACHED_VALUE))
        .await
        .with_context(|| format!("{CACHED_SET} in its session"))?;
    api.delete(&id).await?;

    let before_loop = cache_counters(&api).await?;
    let mut set_ms = Vec::with_capacity(args.runs);
    let mut plain_ms = Vec::with_capacity(args.runs);
    for _ in 0..args.runs {
        api.settle(POOL).await?;
        let t = Instant::now();
        let id = api
            .create_with(&with_set)
            .await
            .with_context(|| format!("creating a session with {CACHED_SET}"))?;
        set_ms.push(ms(t));
        // Untimed: every timed session really has the set.
        api.expect_value(&id, CACHED_CHECK, Some(CACHED_VALUE))
            .await
            .with_context(|| format!("{CACHED_SET} in its session"))?;
        api.delete(&id).await?;

        api.settle(POOL).await?;
        let t = Instant::now();
        let id = api
            .create_with(&plain)
            .await
            .context("creating a session")?;
        plain_ms.push(ms(t));
        api.delete(&id).await?;
    }
    let after_loop = cache_counters(&api).await?;
    let check = CacheCheck {
        installed_by_fill: before_loop.installs.saturating_sub(before_fill.installs),
        ok: after_loop.installs == before_loop.installs
            && after_loop.index_connections == before_loop.index_connections
            && after_loop.cache_hits >= before_loop.cache_hits + args.runs as u64,
        before_loop,
        after_loop,
    };
    let set_row = Row::latency(
        format!("session create with the cached set `{CACHED_SET}`"),
        &mut set_ms,
        None,
    );
    let plain_row = Row::latency("session create, plain `{}` (pool)", &mut plain_ms, None);
    let added = Row::figure(
        "time the cached set adds (p50 with set − p50 plain)",
        set_row.p50_ms - plain_row.p50_ms,
        args.runs,
        Some(TARGET_CACHED_SET_ADDED_MS),
    );
    let set_row = set_row.against(&plain_row, "plain create");
    Ok((vec![set_row, plain_row, added], check))
}

/// Part 3: one first install of each small package, each its own set.
async fn first_installs(server: &Server) -> anyhow::Result<Vec<FirstInstall>> {
    let api = Api::new(&server.base, 2)?;
    // Warm the connection and the server's create path (a plain session, no install).
    let id = api
        .create_with(&json!({}))
        .await
        .context("creating a session")?;
    api.delete(&id).await?;
    let mut out = Vec::with_capacity(FIRST_INSTALLS.len());
    for (requirement, module) in FIRST_INSTALLS {
        let before = cache_counters(&api).await?;
        let t = Instant::now();
        let id = api
            .create_with(&json!({ "packages": [requirement] }))
            .await
            .with_context(|| format!("creating a session with {requirement} (first install)"))?;
        let create_ms = ms(t);
        let version = cell_value(
            &api,
            &id,
            &format!("import {module}\ngetattr({module}, '__version__', '?')"),
        )
        .await
        .with_context(|| format!("importing {module} in its session"))?;
        api.delete(&id).await?;
        let after = cache_counters(&api).await?;
        out.push(FirstInstall {
            requirement,
            version: version.trim_matches('\'').to_string(),
            create_ms,
            installs: after.installs.saturating_sub(before.installs),
        });
    }
    Ok(out)
}

/// Runs a cell that must succeed with a value; returns the value's `text/plain`.
async fn cell_value(api: &Api, id: &str, code: &str) -> anyhow::Result<String> {
    let v = api
        .json(
            api.http
                .post(format!("{}/v1/sessions/{id}/execute", api.base))
                .json(&json!({ "code": code })),
            200,
        )
        .await?;
    match v["value"]["text/plain"].as_str() {
        Some(text) if v["status"] == "ok" => Ok(text.to_string()),
        _ => bail!("cell {code:?} answered {v}"),
    }
}

/// The package counters of the server's `/metrics`.
async fn cache_counters(api: &Api) -> anyhow::Result<CacheCounters> {
    let r = api
        .http
        .get(format!("{}/metrics", api.base))
        .send()
        .await
        .context("GET /metrics")?;
    if !r.status().is_success() {
        bail!("GET /metrics answered HTTP {}", r.status());
    }
    let text = r.text().await.context("reading /metrics")?;
    let counter = |name: &str| -> anyhow::Result<u64> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| {
                let (metric, value) = l.split_once(' ')?;
                (metric == name).then(|| value.trim().parse::<f64>().ok())?
            })
            .map(|v| v as u64)
            .ok_or_else(|| anyhow!("/metrics has no {name}"))
    };
    Ok(CacheCounters {
        installs: counter("warden_package_installs_total")?,
        cache_hits: counter("warden_package_cache_hits_total")?,
        index_connections: counter("warden_package_index_connections_total")?,
    })
}

/// The notes line on the measured environment.
fn environment(template: &Template) -> String {
    let command: Vec<String> = std::env::args().collect();
    let python = Command::new("/usr/bin/python3")
        .arg("--version")
        .env_clear()
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "unknown".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get().to_string())
        .unwrap_or_else(|_| "?".into());
    let versions: Vec<String> = ["numpy", "pandas", "matplotlib"]
        .iter()
        .map(|n| format!("{n} {}", template.version(n).unwrap_or("?")))
        .collect();
    format!(
        "Command: `{}`. Environment: /usr/bin/python3 = {python}; kernel {kernel}; {cpus} CPUs; \
         template {TEMPLATE} build {} ({}).",
        command.join(" "),
        template.build,
        versions.join(", ")
    )
}

fn print_markdown(args: &PackagesBenchArgs, r: &Report) {
    println!("| measurement | p50 ms | p99 ms | samples | ratio | target p50 | met |");
    println!("|---|---:|---:|---:|---:|---:|:---:|");
    for row in &r.rows {
        let p99 = row.p99_ms.map(|p| format!("{p:.3}")).unwrap_or_default();
        let ratio = match (row.ratio, &row.baseline) {
            (Some(x), Some(b)) => format!("{x:.4} (vs {b})"),
            _ => String::new(),
        };
        let target = row
            .target_p50_ms
            .map(|t| format!("≤ {t} ms"))
            .unwrap_or_default();
        let met = match row.met {
            Some(true) => "yes",
            Some(false) => "no",
            None => "",
        };
        println!(
            "| {} | {:.3} | {p99} | {} | {ratio} | {target} | {met} |",
            row.measurement, row.p50_ms, row.samples
        );
    }
    println!(
        "\n{} samples per create row ({COLD_RUNS} of the cold import, spread over part 1); \
         creates paced (each waits for a full pool of {POOL}, then 10 ms); first cells, \
         deletes and checks untimed.",
        args.runs
    );
    if let Some(c) = &r.cache_check {
        println!(
            "\nPackage cache during the timed creates with `{CACHED_SET}`: installs {} → {}, \
             index connections {} → {}, cache hits {} → {} ({}); the fill before them \
             installed {} set(s) (0: already cached in the data directory).",
            c.before_loop.installs,
            c.after_loop.installs,
            c.before_loop.index_connections,
            c.after_loop.index_connections,
            c.before_loop.cache_hits,
            c.after_loop.cache_hits,
            if c.ok { "OK" } else { "FAILED" },
            c.installed_by_fill
        );
    }
    if !r.first_installs.is_empty() {
        let each: Vec<String> = r
            .first_installs
            .iter()
            .map(|f| format!("{} {} install(s)", f.requirement, f.installs))
            .collect();
        println!("\nFirst installs counted by /metrics: {}.", each.join(", "));
    }
    for n in &r.notes {
        println!("\nNote: {n}");
    }
}
