//! `warden bench`: benchmarks measured on this machine, each against a baseline timed in
//! the same run. `startup` (the default) times `warden run` against a bare interpreter and
//! bubblewrap; `serve` times sessions and the HTTP API against a bare interpreter start
//! and a Jupyter kernel.

mod serve;
mod startup;

use clap::{Args, Subcommand};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: Option<BenchCommand>,
    /// Without a subcommand: the start-up benchmark.
    #[command(flatten)]
    startup: startup::StartupArgs,
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Start-up overhead of `warden run` against a bare interpreter and bubblewrap (the
    /// default).
    Startup(startup::StartupArgs),
    /// Sessions and the HTTP API of `warden serve`: session creation, warm round trips
    /// (against a Jupyter kernel), one-shot runs (against a bare interpreter), memory per
    /// idle session, many concurrent sessions.
    Serve(serve::ServeBenchArgs),
}

pub fn main(args: BenchArgs) -> i32 {
    match args.command {
        None => startup::main(args.startup),
        Some(BenchCommand::Startup(a)) => startup::main(a),
        Some(BenchCommand::Serve(a)) => serve::main(a),
    }
}
