//! `warden template`: build, list and remove templates in a data directory.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use warden_engine::installer::{InstallSpec, Installer};
use warden_engine::templates::{self, TemplateStore};
use warden_jail::{Jail, JailConfig};

#[derive(Args, Debug)]
pub struct TemplateArgs {
    /// The server's data directory (templates live in its `templates/`).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: TemplateCommand,
}

#[derive(Subcommand, Debug)]
enum TemplateCommand {
    /// Builds a template: pip installs the packages in a sandbox that can reach only the
    /// package index, the result is checked in a sandbox without network (the preload
    /// modules must import), then published atomically.
    Build {
        /// 1 to 40 of a-z, 0-9, '-' and '_'.
        name: String,
        /// Requirements, separated by spaces (e.g. "numpy pandas>=2").
        #[arg(long, default_value = "")]
        pip: String,
        /// A requirements file (one requirement per line; comments allowed, no options).
        #[arg(long)]
        requirements: Option<PathBuf>,
        /// npm packages for JavaScript sessions, separated by spaces (e.g. "lodash@4").
        #[arg(long, default_value = "")]
        npm: String,
        /// Modules imported in every pooled sandbox of the template before it is handed
        /// out, separated by spaces (e.g. "numpy pandas matplotlib.pyplot").
        #[arg(long, default_value = "")]
        preload: String,
        /// Start from a shipped recipe (python-data); --pip and --preload add to it.
        #[arg(long)]
        recipe: Option<String>,
        /// The package index (default https://pypi.org/simple).
        #[arg(long, env = "WARDEN_INDEX_URL")]
        index_url: Option<String>,
        /// Time limit of the install, in seconds.
        #[arg(long, default_value_t = 1800)]
        timeout: u64,
        /// Memory of the installer's sandbox, in MiB (the installed files count).
        #[arg(long, default_value_t = 4096)]
        memory_mb: u64,
    },
    /// Lists templates.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Removes a template (its files go at the server's next start).
    Rm { name: String },
}

pub fn main(args: TemplateArgs) -> i32 {
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("warden: {e:#}");
            1
        }
    }
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

fn run(args: TemplateArgs) -> anyhow::Result<i32> {
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(crate::serve::default_data_dir);
    let store = TemplateStore::new(data_dir.join("templates"));
    match args.command {
        TemplateCommand::List { json } => {
            let list = store.list();
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                println!("no templates (build one with `warden template build NAME --pip ...`)");
            } else {
                println!("{:<24} {:>6} {:>10}  preload", "name", "dists", "MiB");
                for t in list {
                    println!(
                        "{:<24} {:>6} {:>10.1}  {}",
                        t.name,
                        t.distributions.len(),
                        t.size_bytes as f64 / (1 << 20) as f64,
                        t.preload.join(" ")
                    );
                }
            }
            Ok(0)
        }
        TemplateCommand::Rm { name } => {
            store.remove(&name)?;
            println!("removed template {name}");
            Ok(0)
        }
        TemplateCommand::Build {
            name,
            pip,
            requirements,
            npm,
            preload,
            recipe,
            index_url,
            timeout,
            memory_mb,
        } => {
            templates::check_name(&name)?;
            let mut pip = words(&pip);
            if let Some(path) = &requirements {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                pip.extend(
                    text.lines()
                        .map(|l| l.split('#').next().unwrap_or("").trim())
                        .filter(|l| !l.is_empty())
                        .map(str::to_string),
                );
            }
            let plan =
                templates::BuildPlan::new(recipe.as_deref(), pip, words(&npm), words(&preload))
                    .map_err(anyhow::Error::msg)?;
            build(
                &data_dir,
                &store,
                &name,
                plan.pip,
                plan.npm,
                plan.preload,
                index_url,
                timeout,
                memory_mb,
            )
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn build(
    data_dir: &std::path::Path,
    store: &TemplateStore,
    name: &str,
    pip: Vec<String>,
    npm: Vec<String>,
    preload: Vec<String>,
    index_url: Option<String>,
    timeout: u64,
    memory_mb: u64,
) -> anyhow::Result<i32> {
    let jail = Arc::new(Jail::new(JailConfig::default()).context("cannot set up the sandbox")?);
    let installer = Installer::new(jail, data_dir.join("tmp"), index_url);
    let spec = InstallSpec {
        requirements: pip.clone(),
        npm: npm.clone(),
        preload: preload.clone(),
        timeout: Duration::from_secs(timeout),
        memory_mb,
    };
    eprintln!(
        "warden: building template {name}: {} (in a sandbox that reaches only the package index)",
        [
            (!pip.is_empty()).then(|| format!("pip install {}", pip.join(" "))),
            (!npm.is_empty()).then(|| format!("npm install {}", npm.join(" "))),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ")
    );
    let started = std::time::Instant::now();
    // Progress: pip's own lines, as they come.
    let progress = Box::new(|data: &[u8]| {
        use std::io::Write;
        let mut err = std::io::stderr().lock();
        for line in String::from_utf8_lossy(data).lines() {
            let _ = writeln!(err, "  | {line}");
        }
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let installed = runtime.block_on(installer.install(&spec, progress))?;
    eprintln!(
        "warden: installed and checked {} distributions in {:.1} s; preload imports: {}",
        installed.distributions.len(),
        started.elapsed().as_secs_f64(),
        if preload.is_empty() {
            "none".to_string()
        } else {
            preload.join(" ")
        }
    );
    let info = store.publish(name, installed, pip, npm, preload)?;
    println!(
        "template {} published ({} distributions, {:.1} MiB)",
        info.name,
        info.distributions.len(),
        info.size_bytes as f64 / (1 << 20) as f64
    );
    Ok(0)
}
