//! The `warden` binary: argument parsing and wiring. Logic lives in the library crates.

mod bench;
mod check;
mod doctor;
mod flow;
mod keys;
mod mcp;
mod run;
mod serve;
mod template;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "warden",
    version,
    about = "Run untrusted code in kernel-enforced sandboxes"
)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Run a program (Python, JavaScript or bash) once in a fresh sandbox.
    Run(run::RunArgs),
    /// Serve the HTTP API: sessions, streaming execution, one-shot runs.
    Serve(serve::ServeArgs),
    /// Serve MCP (Model Context Protocol) tools over stdin/stdout, on an engine of its own.
    Mcp(mcp::McpArgs),
    /// Report which kernel features are available and whether full isolation is possible.
    Doctor(doctor::DoctorArgs),
    /// Create, list and revoke API keys (and their tenants).
    Keys(keys::KeysArgs),
    /// Build, list and remove templates: read-only package environments for sandboxes.
    Template(template::TemplateArgs),
    /// Measure warden against baselines: start-up (`warden bench`), or sessions and the
    /// HTTP API (`warden bench serve`).
    Bench(bench::BenchArgs),
    /// Analyse files without running them: findings as `file:line:col rule message`,
    /// exit status 1 when the policy would refuse one.
    Check(check::CheckArgs),
    /// Workflows: validate definitions, run them with sandboxed code nodes.
    Flow(flow::FlowArgs),
    /// Print the OpenAPI document of the HTTP API (as served at /openapi.json).
    Openapi,
}

/// `warden run` alone, parsed without building the other subcommands' arguments: clap
/// builds every argument of every subcommand before it parses, which was a fifth of
/// `warden run`'s own start-up (see docs/BENCHMARKS.md).
#[derive(Parser)]
#[command(
    name = "warden run",
    bin_name = "warden run",
    version,
    about = "Run a program (Python, JavaScript or bash) once in a fresh sandbox"
)]
struct RunCli {
    #[command(flatten)]
    args: run::RunArgs,
}

fn main() {
    if std::env::args_os().nth(1).is_some_and(|a| a == "run") {
        let args = std::env::args_os()
            .enumerate()
            .filter_map(|(i, a)| (i != 1).then_some(a));
        std::process::exit(run::main(RunCli::parse_from(args).args));
    }
    let cli = Cli::parse();
    let code = match cli.command {
        Commands::Run(args) => run::main(args),
        Commands::Serve(args) => serve::main(args),
        Commands::Mcp(args) => mcp::main(args),
        Commands::Doctor(args) => doctor::main(args),
        Commands::Keys(args) => keys::main(args),
        Commands::Template(args) => template::main(args),
        Commands::Bench(args) => bench::main(args),
        Commands::Check(args) => check::main(args),
        Commands::Flow(args) => flow::main(args),
        Commands::Openapi => match warden_server::openapi().to_pretty_json() {
            Ok(doc) => {
                println!("{doc}");
                0
            }
            Err(e) => {
                eprintln!("warden: {e}");
                1
            }
        },
    };
    std::process::exit(code);
}
