//! `warden bench startup` (also plain `warden bench`): start-up overhead of `warden run` against a bare interpreter and
//! bubblewrap, interleaved in one run on the same machine.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use clap::Args;

#[derive(Args, Debug)]
pub struct StartupArgs {
    /// Runs of each launcher per language (median reported).
    #[arg(long, default_value_t = 50)]
    runs: usize,
    /// Print JSON instead of a Markdown table.
    #[arg(long)]
    json: bool,
    /// Also time each step of `warden run` for Python (from the stamps the jail records,
    /// in extra runs after the table's): median time per step.
    #[arg(long)]
    breakdown: bool,
    /// Which isolation tiers' `warden run` to time, side by side in the same run:
    /// `namespaces`, `gvisor` (needs runsc) or `both`; `warden bench tiers` times the
    /// gVisor tier against plain `runsc run` of the same program.
    #[arg(long, value_enum, default_value_t = TierChoice::Namespaces)]
    tier: TierChoice,
}

/// The tiers `--tier` selects.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TierChoice {
    Namespaces,
    Gvisor,
    Both,
}

impl TierChoice {
    /// The `--isolation` value of each selected tier, with its launcher's name.
    pub(super) fn launchers(self) -> Vec<(&'static str, &'static str)> {
        let ns = ("namespaces", "warden run");
        let gv = ("gvisor", "warden run --isolation gvisor");
        match self {
            TierChoice::Namespaces => vec![ns],
            TierChoice::Gvisor => vec![gv],
            TierChoice::Both => vec![ns, gv],
        }
    }
}

struct Case {
    lang: &'static str,
    launcher: &'static str,
    argv: Vec<String>,
}

fn bwrap_argv(inner: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "bwrap",
        "--unshare-all",
        "--die-with-parent",
        "--ro-bind",
        "/usr",
        "/usr",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for link in ["bin", "lib", "lib64", "sbin"] {
        let p = Path::new("/").join(link);
        if let Ok(t) = std::fs::read_link(&p) {
            v.extend([
                "--symlink".into(),
                t.to_string_lossy().into_owned(),
                p.to_string_lossy().into_owned(),
            ]);
        }
    }
    v.extend(
        [
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--tmpfs",
            "/tmp",
            "--ro-bind",
            "/etc/ld.so.cache",
            "/etc/ld.so.cache",
            "--",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    v.extend(inner.iter().map(|s| s.to_string()));
    v
}

fn cases(tier: TierChoice) -> Vec<Case> {
    let warden = std::env::current_exe()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "warden".into());
    let have_bwrap = Command::new("bwrap")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    let langs: [(&str, &str, Vec<&str>); 3] = [
        (
            "python",
            "print(1)",
            vec!["/usr/bin/python3", "-c", "print(1)"],
        ),
        (
            "javascript",
            "console.log(1)",
            vec!["/usr/bin/node", "-e", "console.log(1)"],
        ),
        ("bash", "echo 1", vec!["/bin/bash", "-c", "echo 1"]),
    ];
    let mut out = Vec::new();
    for (lang, code, bare) in langs {
        if !Path::new(bare[0]).exists() {
            continue;
        }
        out.push(Case {
            lang,
            launcher: "bare",
            argv: bare.iter().map(|s| s.to_string()).collect(),
        });
        for (isolation, launcher) in tier.launchers() {
            out.push(Case {
                lang,
                launcher,
                argv: vec![
                    warden.clone(),
                    "run".into(),
                    "--isolation".into(),
                    isolation.into(),
                    "--lang".into(),
                    lang.into(),
                    "-c".into(),
                    code.into(),
                ],
            });
        }
        if have_bwrap {
            out.push(Case {
                lang,
                launcher: "bwrap --unshare-all",
                argv: bwrap_argv(&bare),
            });
        }
    }
    out
}

pub(super) fn time_once(argv: &[String]) -> Option<f64> {
    let start = Instant::now();
    // Every launcher gets the same small environment: the host's may hold variables that
    // slow an interpreter down (NODE_EXTRA_CA_CERTS, PYTHONSTARTUP) or speed it up.
    let out = Command::new(&argv[0])
        .args(&argv[1..])
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("LANG", "C.UTF-8")
        .env("HOME", "/tmp")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .ok()?;
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    (out.status.success() && out.stdout == b"1\n").then_some(ms)
}

pub(super) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// One `warden run` with `--timings`: the steps' durations, in order, from the fork of
/// `warden` by this process to its exit being reaped here.
fn breakdown_once(warden: &[String], file: &Path) -> Option<Vec<(String, f64)>> {
    let mut argv = warden.to_vec();
    argv.insert(2, "--timings".into());
    argv.insert(3, file.to_string_lossy().into_owned());
    let start = warden_jail::monotonic_ns();
    time_once(&argv)?;
    let end = warden_jail::monotonic_ns();
    let text = std::fs::read_to_string(file).ok()?;
    let marks: Vec<(String, u64)> = serde_json::from_str(&text).ok()?;
    let mut steps = Vec::new();
    let mut last = start;
    for (name, ns) in marks
        .into_iter()
        .chain([("exit, reaped by the benchmark".to_string(), end)])
    {
        let name = if steps.is_empty() {
            "fork and exec of warden, argument parsing".to_string()
        } else {
            name
        };
        steps.push((name, ns.saturating_sub(last) as f64 / 1e6));
        last = ns;
    }
    Some(steps)
}

#[derive(serde::Serialize)]
struct Step {
    step: String,
    median_ms: f64,
}

/// Fork, exec and exit of `/bin/true`, as [`time_once`] times a launcher: what any
/// program costs before and after its own work, for reference beside the breakdown.
fn trivial_program_ms() -> Option<f64> {
    let start = Instant::now();
    let status = Command::new("/bin/true")
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .ok()?
        .status;
    status
        .success()
        .then(|| start.elapsed().as_secs_f64() * 1000.0)
}

/// The median duration of each step over `runs` Python runs of `warden run`, and (last)
/// the median run of `/bin/true` interleaved with them.
fn breakdown(case: &Case, runs: usize) -> Option<Vec<Step>> {
    let dir = tempfile::tempdir().ok()?;
    let file = dir.path().join("timings.json");
    let mut names: Vec<String> = Vec::new();
    let mut samples: Vec<Vec<f64>> = Vec::new();
    let mut trivial = Vec::new();
    for _ in 0..runs {
        trivial.push(trivial_program_ms()?);
        let steps = breakdown_once(&case.argv, &file)?;
        if names.is_empty() {
            names = steps.iter().map(|(n, _)| n.clone()).collect();
            samples = vec![Vec::new(); names.len()];
        }
        // The steps come in time order; a run whose order differs is left out.
        if steps.iter().map(|(n, _)| n).ne(names.iter()) {
            continue;
        }
        for (i, (_, ms)) in steps.into_iter().enumerate() {
            samples[i].push(ms);
        }
    }
    let mut steps: Vec<Step> = names
        .into_iter()
        .zip(samples)
        .map(|(step, mut v)| Step {
            step,
            median_ms: median(&mut v),
        })
        .collect();
    steps.push(Step {
        step: TRIVIAL.into(),
        median_ms: median(&mut trivial),
    });
    Some(steps)
}

/// The reference row of the breakdown (not a step of `warden run`).
const TRIVIAL: &str = "for reference: fork, exec and exit of /bin/true";

#[derive(serde::Serialize)]
struct Row {
    lang: String,
    launcher: String,
    median_ms: f64,
    overhead_ms: f64,
    ratio: f64,
    runs: usize,
}

pub fn main(args: StartupArgs) -> i32 {
    let cases = cases(args.tier);
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    // Warm the page cache and check every launcher works before timing.
    for (i, c) in cases.iter().enumerate() {
        if time_once(&c.argv).is_none() {
            eprintln!(
                "warden bench: '{}' for {} failed; fix it first (try: {})",
                c.launcher,
                c.lang,
                c.argv.join(" ")
            );
            return 1;
        }
        let _ = i;
    }
    // Interleaved: one run of every case per round, so drift affects all alike.
    for _ in 0..args.runs {
        for (i, c) in cases.iter().enumerate() {
            match time_once(&c.argv) {
                Some(ms) => samples[i].push(ms),
                None => {
                    eprintln!(
                        "warden bench: a run of '{}' for {} failed",
                        c.launcher, c.lang
                    );
                    return 1;
                }
            }
        }
    }
    let mut rows = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let m = median(&mut samples[i]);
        let bare = cases
            .iter()
            .position(|b| b.lang == c.lang && b.launcher == "bare")
            .map(|b| median(&mut samples[b].clone()))
            .unwrap_or(m);
        rows.push(Row {
            lang: c.lang.into(),
            launcher: c.launcher.into(),
            median_ms: m,
            overhead_ms: m - bare,
            ratio: m / bare,
            runs: args.runs,
        });
    }
    let steps = match args.breakdown {
        false => None,
        true => {
            let case = cases
                .iter()
                .find(|c| c.lang == "python" && c.launcher.starts_with("warden run"));
            match case.and_then(|c| breakdown(c, args.runs)) {
                Some(steps) => Some(steps),
                None => {
                    eprintln!("warden bench: the breakdown runs of warden run failed");
                    return 1;
                }
            }
        }
    };
    if args.json {
        let doc = match &steps {
            Some(steps) => serde_json::json!({"rows": rows, "breakdown": steps}),
            None => serde_json::json!(rows),
        };
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        println!("| language | launcher | median ms | overhead ms | ratio |");
        println!("|---|---|---:|---:|---:|");
        for r in &rows {
            println!(
                "| {} | {} | {:.2} | {:+.2} | {:.3} |",
                r.lang, r.launcher, r.median_ms, r.overhead_ms, r.ratio
            );
        }
        println!(
            "\n{} interleaved runs per launcher; overhead and ratio against the bare interpreter.",
            args.runs
        );
        if let Some(steps) = &steps {
            println!("\n| step of `warden run` (python), ending with | median ms |");
            println!("|---|---:|");
            for s in steps {
                println!("| {} | {:.3} |", s.step, s.median_ms);
            }
            let total: f64 = steps
                .iter()
                .filter(|s| s.step != TRIVIAL)
                .map(|s| s.median_ms)
                .sum();
            println!(
                "\nSum of the medians: {total:.2} ms over {} runs (the interpreter itself runs between \"program executed\" and \"the sandbox ended\").",
                args.runs
            );
        }
    }
    0
}
