//! `warden bench`: benchmarks measured on this machine, each against a baseline timed in
//! the same run. `startup` (the default) times `warden run` against a bare interpreter and
//! bubblewrap; `serve` times sessions and the HTTP API against a bare interpreter start
//! and a Jupyter kernel; `packages` times template sessions against a cold import, and
//! package sets from the cache and on first install; `analysis` times static analysis
//! and output redaction in-process; `egress` times HTTPS through the egress proxy
//! against direct requests.

mod analysis;
mod egress;
mod flow;
mod packages;
mod serve;
mod startup;
mod tiers;

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
    /// Templates and package sets: a python-data session from its pool (against a cold
    /// import of numpy, pandas and matplotlib), the time a cached package set adds to a
    /// new session, and the first install of small packages.
    Packages(packages::PackagesBenchArgs),
    /// Static analysis of a 1,000-line Python file (against CPython's `ast.parse`) and of
    /// a JavaScript file (against node's compile), and output redaction throughput.
    Analysis(analysis::AnalysisBenchArgs),
    /// A 10-node workflow with 5 Python code nodes against the same snippets run as plain
    /// cells: the run's overhead beyond the code.
    Flow(flow::FlowBenchArgs),
    /// HTTPS through the egress proxy (`warden run --allow-host`) against the same
    /// requests made directly from the host: added latency and throughput.
    Egress(egress::EgressBenchArgs),
    /// The namespace tier and the gVisor tier side by side: a cold one-shot (against plain
    /// `runsc run` and a bare interpreter), a session from the pool, a warm `x + 1`, and
    /// memory per idle session.
    Tiers(tiers::TiersBenchArgs),
}

pub fn main(args: BenchArgs) -> i32 {
    match args.command {
        None => startup::main(args.startup),
        Some(BenchCommand::Startup(a)) => startup::main(a),
        Some(BenchCommand::Serve(a)) => serve::main(a),
        Some(BenchCommand::Packages(a)) => packages::main(a),
        Some(BenchCommand::Analysis(a)) => analysis::main(a),
        Some(BenchCommand::Flow(a)) => flow::main(a),
        Some(BenchCommand::Egress(a)) => egress::main(a),
        Some(BenchCommand::Tiers(a)) => tiers::main(a),
    }
}
