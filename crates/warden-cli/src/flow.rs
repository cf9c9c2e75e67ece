//! `warden flow`: workflows from the command line — `validate` checks definitions, `run`
//! runs one with its code nodes in sandboxes, on an engine of its own, and `compile` writes
//! one as a standalone Python program (`python`), a directory around it (`bundle`) or a
//! normalized definition `warden flow run` runs (`warden`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use warden_engine::workflows::run_blocking;
use warden_engine::Caller;
use warden_flow::{Limits, RunStatus, Workflow};

use crate::serve;

/// Exit status of a run that failed, or of a definition with problems.
const EXIT_FAILED: i32 = 1;
/// Exit status when a file, the input or the engine cannot be used.
const EXIT_USAGE: i32 = 2;

#[derive(Args, Debug)]
pub struct FlowArgs {
    #[command(subcommand)]
    command: FlowCommand,
}

#[derive(Subcommand, Debug)]
enum FlowCommand {
    /// Check workflow definitions (JSON or YAML) and print every problem with its node.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print the problems as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a workflow; code nodes run in sandboxes (one session per language per run).
    Run(Box<FlowRunArgs>),
    /// Compile a workflow: `--target python` (one Python 3 script, standard library only),
    /// `bundle` (a directory: the script, requirements.txt, Dockerfile, README.md) or
    /// `warden` (one normalized definition for `warden flow run`, e.g. `FLOW.warden.json`).
    Compile {
        /// The workflow definition (.json, .yaml or .yml).
        file: PathBuf,
        /// What to write: `python`, `bundle` or `warden`.
        #[arg(long, default_value = "python")]
        target: String,
        /// Where to write it (default: stdout; `bundle` needs a directory).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// With `bundle`: write into an existing non-empty directory.
        #[arg(long)]
        force: bool,
        /// With `python`: compile in the stored workflows `tool` nodes call, from
        /// `DIR/<id>.json|yaml|yml` (recursively).
        #[arg(long, value_name = "DIR")]
        workflows: Option<PathBuf>,
    },
}

#[derive(Args, Debug)]
#[command(mut_arg("listen", |a| a.hide(true)), mut_arg("dev", |a| a.hide(true)))]
pub struct FlowRunArgs {
    /// The workflow definition (.json, .yaml or .yml).
    file: PathBuf,
    /// The run's input: JSON text, or @FILE to read it from a file (default `{}`).
    #[arg(long)]
    input: Option<String>,
    /// Print the trace (one entry per node executed) with the result.
    #[arg(long)]
    trace: bool,
    /// Upload every `DIR/NAME.json` (the body of `POST /v1/collections/NAME/documents`)
    /// as collection NAME before the run.
    #[arg(long, value_name = "DIR")]
    collections: Option<PathBuf>,
    /// Store every workflow file of DIR (`ID.json`, `.yaml`, `.yml`) as workflow ID
    /// before the run, for `tool` nodes to call.
    #[arg(long, value_name = "DIR")]
    workflows: Option<PathBuf>,
    /// The engine takes `warden serve`'s options; the data directory defaults to a fresh
    /// temporary one.
    #[command(flatten)]
    engine: serve::ServeArgs,
}

pub fn main(args: FlowArgs) -> i32 {
    match args.command {
        FlowCommand::Validate { files, json } => validate(&files, json),
        FlowCommand::Compile {
            file,
            target,
            output,
            force,
            workflows,
        } => compile(
            &file,
            &target,
            output.as_deref(),
            force,
            workflows.as_deref(),
        ),
        FlowCommand::Run(args) => match run(*args) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("warden: {e:#}");
                EXIT_USAGE
            }
        },
    }
}

fn load(path: &Path) -> Result<Workflow, String> {
    Workflow::from_path(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn validate(files: &[PathBuf], json: bool) -> i32 {
    let mut status = 0;
    for path in files {
        let name = path.display().to_string();
        let problems = match load(path) {
            Ok(wf) => warden_flow::validate(&wf).err().unwrap_or_default(),
            Err(e) => {
                eprintln!("warden: {e}");
                status = status.max(EXIT_USAGE);
                continue;
            }
        };
        if !problems.is_empty() {
            status = status.max(EXIT_FAILED);
        }
        if json {
            println!("{}", json!({"path": name, "problems": problems}));
            continue;
        }
        for p in &problems {
            let at = match (&p.node, p.edge) {
                (Some(node), _) => format!("node {node}"),
                (None, Some(edge)) => format!("edge {edge}"),
                (None, None) => "workflow".to_string(),
            };
            println!("{name}: {at}: {} {}", p.code, p.message);
        }
        if problems.is_empty() {
            eprintln!("{name}: valid");
        }
    }
    status
}

fn compile(
    file: &Path,
    target: &str,
    output: Option<&Path>,
    force: bool,
    workflows: Option<&Path>,
) -> i32 {
    if !matches!(target, "python" | "bundle" | "warden") {
        eprintln!("warden: unknown --target {target} (python, bundle or warden)");
        return EXIT_USAGE;
    }
    if target == "bundle" && output.is_none() {
        eprintln!("warden: --target bundle needs -o DIR");
        return EXIT_USAGE;
    }
    let workflow = match load(file) {
        Ok(wf) => wf,
        Err(e) => {
            eprintln!("warden: {e}");
            return EXIT_USAGE;
        }
    };
    if workflows.is_some() && target != "python" {
        eprintln!("warden: --workflows applies to --target python only");
        return EXIT_USAGE;
    }
    let mut tools = std::collections::BTreeMap::new();
    if target == "python" {
        match warden_flow::compile::tool_workflows(&workflow, workflows) {
            Ok((found, warnings)) => {
                for w in warnings {
                    eprintln!("warden: warning: {w}");
                }
                tools = found;
            }
            Err(e) => {
                eprintln!("warden: {e}");
                return EXIT_FAILED;
            }
        }
    }
    let compiled = match target {
        "python" => warden_flow::compile::compile_python_with(&workflow, &tools)
            .map(|p| vec![(String::new(), p)]),
        "warden" => warden_flow::warden_file(&workflow).map(|p| vec![(String::new(), p)]),
        _ => warden_flow::bundle(&workflow),
    };
    let files = match compiled {
        Ok(f) => f,
        Err(problems) => {
            for p in &problems {
                eprintln!(
                    "{}: {}: {} {}",
                    file.display(),
                    p.node.as_deref().unwrap_or("workflow"),
                    p.code,
                    p.message
                );
            }
            return EXIT_FAILED;
        }
    };
    let Some(output) = output else {
        print!("{}", files[0].1);
        return 0;
    };
    let written = if target == "bundle" {
        write_bundle(output, &files, force)
    } else {
        std::fs::write(output, &files[0].1)
            .map_err(|e| format!("cannot write {}: {e}", output.display()))
    };
    match written {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("warden: {e}");
            EXIT_USAGE
        }
    }
}

/// Writes a bundle's files into `dir`, made if missing; an existing non-empty directory
/// only with `force` (its other files are left alone).
fn write_bundle(dir: &Path, files: &[(String, String)], force: bool) -> Result<(), String> {
    let shown = dir.display();
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir)
            .map_err(|e| format!("cannot read the directory {shown}: {e}"))?;
        if entries.next().is_some() && !force {
            return Err(format!(
                "{shown} exists and is not empty (--force writes into it)"
            ));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot make {shown}: {e}"))?;
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

fn run(mut args: FlowRunArgs) -> anyhow::Result<i32> {
    let workflow = load(&args.file).map_err(anyhow::Error::msg)?;
    let input: Value = match args.input.as_deref() {
        None => json!({}),
        Some(text) => {
            let text = match text.strip_prefix('@') {
                Some(path) => std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the input {path}"))?,
                None => text.to_string(),
            };
            serde_json::from_str(&text).context("--input is not JSON")?
        }
    };
    if let Err(problems) = warden_flow::validate(&workflow) {
        for p in &problems {
            eprintln!(
                "{}: {}: {} {}",
                args.file.display(),
                p.node.as_deref().unwrap_or("workflow"),
                p.code,
                p.message
            );
        }
        return Ok(EXIT_FAILED);
    }
    let scratch = tempfile::tempdir().context("cannot make a data directory")?;
    if args.engine.data_dir.is_none() {
        args.engine.data_dir = Some(scratch.path().to_path_buf());
    }
    let setup = serve::engine_setup(&args.engine)?;
    let mut config = setup.config;
    config.dev_mode = true;
    // The definition is the user's own: a `model` node may name its endpoint and key.
    config.flows.trust_definitions = true;
    let limits = Limits {
        max_steps: config.flows.max_steps,
        max_duration: config.flows.max_duration,
    };
    let collections = args.collections.clone();
    let workflows = args.workflows.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(async move {
        let (engine, _store) = serve::start_engine(setup.jail, config, &setup.database_url).await?;
        let caller = Caller::dev(engine.config().default_policy.clone());
        if let Some(dir) = &collections {
            upload_collections(&engine, &caller, dir).await?;
        }
        if let Some(dir) = &workflows {
            store_workflows(&engine, &caller, dir).await?;
        }
        let handle = tokio::runtime::Handle::current();
        let runner_engine = Arc::clone(&engine);
        let outcome = tokio::task::spawn_blocking(move || {
            run_blocking(
                runner_engine,
                caller,
                handle,
                &workflow,
                input,
                limits,
                |_| {},
            )
        })
        .await?;
        engine.shutdown(setup.grace).await;
        anyhow::Ok(outcome)
    })?;
    let result = match result {
        Ok(r) => r,
        Err(problems) => anyhow::bail!("the workflow is invalid: {problems:?}"),
    };
    let mut out = json!({
        "status": result.status,
        "output": result.output,
        "state": result.state,
        "error": result.error,
    });
    if args.trace {
        out["trace"] = serde_json::to_value(&result.trace)?;
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(if result.status == RunStatus::Ok {
        0
    } else {
        EXIT_FAILED
    })
}

/// The files of `dir` with one of `extensions`, sorted by name: (stem, path).
fn files_in(dir: &Path, extensions: &[&str]) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        if path.is_file() && extensions.contains(&ext) && !stem.is_empty() {
            files.push((stem.to_string(), path.clone()));
        }
    }
    files.sort();
    Ok(files)
}

/// `--collections DIR`: every `DIR/NAME.json` uploaded as collection NAME (one request
/// each, as `POST /v1/collections/NAME/documents` would).
async fn upload_collections(
    engine: &warden_engine::Engine,
    caller: &Caller,
    dir: &Path,
) -> anyhow::Result<()> {
    for (name, path) in files_in(dir, &["json"])? {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let request: warden_protocol::AddDocuments = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a documents upload", path.display()))?;
        engine
            .add_documents(caller, &name, request)
            .await
            .with_context(|| format!("cannot upload {}", path.display()))?;
    }
    Ok(())
}

/// `--workflows DIR`: every workflow file of DIR stored as workflow `ID` (its file stem).
async fn store_workflows(
    engine: &warden_engine::Engine,
    caller: &Caller,
    dir: &Path,
) -> anyhow::Result<()> {
    for (id, path) in files_in(dir, &["json", "yaml", "yml"])? {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let request = warden_protocol::SaveWorkflow {
            definition: Value::String(text),
            id: Some(id),
        };
        engine
            .save_workflow(caller, request)
            .await
            .with_context(|| format!("cannot store {}", path.display()))?;
    }
    Ok(())
}
