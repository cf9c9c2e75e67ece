//! `warden bench tiers`: the namespace tier and the gVisor tier side by side, in one run:
//!
//! - a cold one-shot `print(1)`: `warden run` on each tier, against a bare
//!   `/usr/bin/python3` and against plain `runsc run` of the same program from a minimal
//!   bundle of its own (read-only root, `/usr` bound, no network), interleaved;
//! - through `warden serve` (started here with a pool of each tier): a session from the
//!   pool (paced: each create waits until the pools are full again), a warm `x + 1`
//!   round trip, and the memory an idle session's sandbox holds (its cgroup's count, as
//!   `GET /v1/sessions/{id}` reports it).
//!
//! Every loop is bounded; the server is stopped with SIGTERM by its pid.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use serde_json::{json, Value};

use super::serve::{Api, Server};
use super::startup::{median, time_once};

#[derive(Args, Debug)]
pub struct TiersBenchArgs {
    /// Samples per measurement.
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Idle sessions per tier for the memory figure.
    #[arg(long, default_value_t = 5)]
    idle_sessions: usize,
}

pub fn main(args: TiersBenchArgs) -> i32 {
    match run(&args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("warden bench tiers: {e:#}");
            1
        }
    }
}

fn p50(mut v: Vec<f64>) -> f64 {
    median(&mut v)
}

fn run(args: &TiersBenchArgs) -> anyhow::Result<()> {
    let runsc = ["/usr/bin/runsc", "/usr/local/bin/runsc", "/usr/sbin/runsc"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .context("runsc is not installed (apt-get install runsc)")?;
    let warden = std::env::current_exe()?.to_string_lossy().into_owned();
    let dir = tempfile::tempdir()?;

    // Cold one-shot runs, interleaved.
    let bundle = dir.path().join("bundle");
    plain_bundle(&bundle)?;
    let state = dir.path().join("runsc-state");
    std::fs::create_dir_all(&state)?;
    let argv = |tier: &str| -> Vec<String> {
        [&warden, "run", "--isolation", tier, "-c", "print(1)"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let bare: Vec<String> = ["/usr/bin/python3", "-c", "print(1)"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let (mut ns, mut gv, mut plain, mut b) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..args.runs {
        ns.extend(time_once(&argv("namespaces")));
        gv.extend(time_once(&argv("gvisor")));
        b.extend(time_once(&bare));
        let id = format!("bench-{}-{i}", std::process::id());
        let start = Instant::now();
        let out = Command::new(runsc)
            .arg("--root")
            .arg(&state)
            .args([
                "--platform=ptrace",
                "--network=none",
                "--ignore-cgroups",
                "run",
                "--bundle",
            ])
            .arg(&bundle)
            .arg(&id)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()?;
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        let _ = Command::new(runsc)
            .arg("--root")
            .arg(&state)
            .args(["delete", "--force", &id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if out.status.success() && out.stdout == b"1\n" {
            plain.push(ms);
        }
    }
    if ns.is_empty() || gv.is_empty() || plain.is_empty() || b.is_empty() {
        bail!(
            "a cold run failed (namespaces {}, gvisor {}, runsc {}, bare {} of {})",
            ns.len(),
            gv.len(),
            plain.len(),
            b.len(),
            args.runs
        );
    }
    let (ns, gv, plain, b) = (p50(ns), p50(gv), p50(plain), p50(b));

    // Through the server, with a pool of each tier.
    let data = dir.path().join("data");
    let mut server = Server::start_with(
        &data,
        &[
            "--pool-size",
            "2",
            "--gvisor-pool-size",
            "2",
            "--js-pool-size",
            "0",
            "--bash-pool-size",
            "0",
        ],
    )?;
    let result = tokio::runtime::Runtime::new()?.block_on(serve_part(args, &server.base));
    server.stop()?;
    let rows = result?;

    println!(
        "| measurement | namespaces p50 ms | gvisor p50 ms | baseline p50 ms | gvisor / baseline |"
    );
    println!("|---|---:|---:|---:|---:|");
    println!("| cold one-shot `print(1)`, `warden run` | {ns:.1} | {gv:.1} | plain `runsc run` {plain:.1} | {:.2} |", gv / plain);
    println!("| cold `print(1)`, bare `/usr/bin/python3` | | | {b:.1} | |");
    println!(
        "| session from the pool | {:.2} | {:.2} | | |",
        rows.create.0, rows.create.1
    );
    println!(
        "| warm `x + 1` | {:.3} | {:.3} | | |",
        rows.warm.0, rows.warm.1
    );
    println!(
        "| memory per idle session (cgroup), MiB | {:.1} | {:.1} | | |",
        rows.memory.0, rows.memory.1
    );
    println!();
    println!("{} samples per cold row and per pooled create, {} warm round trips, {} idle sessions per tier.", args.runs, args.runs * 5, args.idle_sessions);
    Ok(())
}

/// Per measurement: (namespaces, gvisor).
struct ServeRows {
    create: (f64, f64),
    warm: (f64, f64),
    memory: (f64, f64),
}

async fn pools_full(api: &Api) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let v = api
            .json(api.http.get(format!("{}/healthz", api.base)), 200)
            .await?;
        if v["pool"].as_u64() >= Some(4) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the pools did not fill within 120 s: {v}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn serve_part(args: &TiersBenchArgs, base: &str) -> anyhow::Result<ServeRows> {
    let api = Api::new(base, 4)?;
    let body = |tier: &str| json!({"language": "python", "isolation": tier});
    let mut create = (Vec::new(), Vec::new());
    for _ in 0..args.runs {
        for (tier, out) in [("namespaces", &mut create.0), ("gvisor", &mut create.1)] {
            pools_full(&api).await?;
            tokio::time::sleep(Duration::from_millis(10)).await;
            let start = Instant::now();
            let id = api.create_with(&body(tier)).await?;
            out.push(start.elapsed().as_secs_f64() * 1000.0);
            api.delete(&id).await?;
        }
    }
    pools_full(&api).await?;
    let mut warm = (Vec::new(), Vec::new());
    let mut memory = (Vec::new(), Vec::new());
    for (tier, w, m) in [
        ("namespaces", &mut warm.0, &mut memory.0),
        ("gvisor", &mut warm.1, &mut memory.1),
    ] {
        let mut ids = Vec::new();
        for _ in 0..args.idle_sessions.max(1) {
            let id = api.create_with(&body(tier)).await?;
            api.expect_value(&id, "x = 1", None).await?;
            ids.push(id);
        }
        for _ in 0..args.runs * 5 {
            let start = Instant::now();
            api.expect_value(&ids[0], "x + 1", Some("2")).await?;
            w.push(start.elapsed().as_secs_f64() * 1000.0);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        for id in &ids {
            let v: Value = api
                .json(api.http.get(format!("{}/v1/sessions/{id}", api.base)), 200)
                .await?;
            if v["tier"] != tier {
                bail!("session {id} is on {} not {tier}", v["tier"]);
            }
            if let Some(bytes) = v["memory_bytes"].as_f64() {
                m.push(bytes / f64::from(1 << 20));
            }
            api.delete(id).await?;
        }
    }
    Ok(ServeRows {
        create: (p50(create.0), p50(create.1)),
        warm: (p50(warm.0), p50(warm.1)),
        memory: (p50(memory.0), p50(memory.1)),
    })
}

/// A minimal OCI bundle for `runsc run`: `/usr` bound read-only, the Debian symlinks,
/// `python3 -c 'print(1)'` as nobody, no capabilities, no network.
fn plain_bundle(bundle: &Path) -> anyhow::Result<()> {
    let rootfs = bundle.join("rootfs");
    for d in ["usr", "tmp", "proc", "dev", "etc"] {
        std::fs::create_dir_all(rootfs.join(d))?;
    }
    for (link, target) in [
        ("bin", "usr/bin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
        ("sbin", "usr/sbin"),
    ] {
        if Path::new("/").join(link).is_symlink() {
            std::os::unix::fs::symlink(target, rootfs.join(link))?;
        }
    }
    let config = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 65534, "gid": 65534},
            "args": ["/usr/bin/python3", "-c", "print(1)"],
            "env": ["PATH=/usr/bin:/bin", "LANG=C.UTF-8", "HOME=/tmp"],
            "cwd": "/tmp",
            "capabilities": {"bounding": [], "effective": [], "inheritable": [], "permitted": [], "ambient": []},
            "noNewPrivileges": true,
        },
        "root": {"path": rootfs, "readonly": true},
        "hostname": "sandbox",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro", "nosuid", "nodev"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "size=64m"]},
        ],
        "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]},
    });
    std::fs::write(
        bundle.join("config.json"),
        serde_json::to_vec_pretty(&config)?,
    )?;
    Ok(())
}
