//! `warden bench flow`: what running a workflow adds to its code. A 10-node workflow
//! (start, five Python code nodes, three variable nodes, end) runs on an in-process
//! engine with a warm Python pool; the baseline, interleaved in the same run, is the same
//! five snippets run as plain cells of a session taken from the same pool. The overhead
//! is the difference of the medians: taking the run's session, binding each node's input
//! and reading its result back, the mappings, the variable nodes, the runner.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Parser};
use serde_json::json;
use warden_engine::flows::SessionCodeRunner;
use warden_engine::Caller;
use warden_flow::{Host, Limits, NoServices, RunStatus, SystemClock, Workflow};
use warden_protocol::{CreateSession, ExecuteRequest, Language};

use super::startup::median;
use crate::serve;

const TARGET_OVERHEAD_MS: f64 = 10.0;

/// The five code nodes' snippets (each sets `result` from `input_data`).
const SNIPPETS: [&str; 5] = [
    "result = sum(range(input_data['n']))",
    "result = [i * i for i in range(input_data['n'] % 50)]",
    "import statistics\nresult = statistics.fmean(input_data['xs'] or [0])",
    "result = {'count': len(input_data['xs']), 'max': max(input_data['xs'] or [0])}",
    "result = str(input_data['total']) + ' done'",
];

#[derive(Args, Debug)]
pub struct FlowBenchArgs {
    /// Timed runs of each (after 3 untimed).
    #[arg(long, default_value_t = 30)]
    runs: usize,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Parser)]
struct EngineFlags {
    #[command(flatten)]
    engine: serve::ServeArgs,
}

fn workflow() -> Workflow {
    let code = |id: &str, i: usize, input: serde_json::Value, output: &str| {
        json!({"id": id, "type": "code", "config": {"language": "python", "code": SNIPPETS[i],
            "input_mapping": input, "output_mapping": {output: "result"}}})
    };
    let nodes = json!([
        {"id": "start", "type": "start"},
        code("total", 0, json!({"n": "inputs.n"}), "total"),
        {"id": "double", "type": "variable", "config": {"set": {"doubled": "total * 2"}}},
        code("squares", 1, json!({"n": "inputs.n"}), "squares"),
        {"id": "pick", "type": "variable", "config": {"set": {"xs": "squares"}}},
        code("mean", 2, json!({"xs": "xs"}), "mean"),
        {"id": "label", "type": "variable", "config": {"set": {"tag": "'n=' + str(inputs.n)"}}},
        code("summary", 3, json!({"xs": "xs"}), "summary"),
        code("done", 4, json!({"total": "total"}), "message"),
        {"id": "end", "type": "end", "config": {"output": {"message": "message", "mean": "mean"}}},
    ]);
    let ids: Vec<&str> = nodes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    let edges: Vec<serde_json::Value> = ids
        .windows(2)
        .map(|w| json!({"source": w[0], "target": w[1]}))
        .collect();
    let def =
        json!({"name": "bench", "version": 1, "inputs": ["n"], "nodes": nodes, "edges": edges});
    Workflow::from_json(&def.to_string()).expect("the benchmark's workflow is valid")
}

pub fn main(args: FlowBenchArgs) -> i32 {
    match measure(&args) {
        Ok(met) => i32::from(!met),
        Err(e) => {
            eprintln!("warden: {e:#}");
            1
        }
    }
}

fn measure(args: &FlowBenchArgs) -> anyhow::Result<bool> {
    let data = tempfile::tempdir()?;
    let flags = EngineFlags::parse_from([
        "bench",
        "--data-dir",
        data.path().to_str().unwrap_or("/tmp"),
        "--pool-size",
        "2",
        "--js-pool-size",
        "0",
        "--bash-pool-size",
        "0",
    ]);
    let setup = serve::engine_setup(&flags.engine)?;
    let mut config = setup.config;
    config.dev_mode = true;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let wf = workflow();
    let runs = args.runs.max(1);
    let (flow_ms, cells_ms) = runtime.block_on(async {
        let (engine, _store) = serve::start_engine(setup.jail, config, &setup.database_url).await?;
        let pool = engine.spawn_pool();
        let caller = Caller::dev(engine.config().default_policy.clone());
        let (mut flow_ms, mut cells_ms) = (Vec::new(), Vec::new());
        for round in 0..runs + 3 {
            // Each waits for a full pool, so that both take a pooled session.
            wait_for_pool(&engine).await;
            let t = run_flow(&engine, &caller, &wf).await?;
            wait_for_pool(&engine).await;
            let c = run_cells(&engine, &caller).await?;
            if round >= 3 {
                flow_ms.push(t);
                cells_ms.push(c);
            }
        }
        engine.shutdown(setup.grace).await;
        pool.abort();
        anyhow::Ok((flow_ms, cells_ms))
    })?;
    let (mut flow_ms, mut cells_ms) = (flow_ms, cells_ms);
    let (flow, cells) = (median(&mut flow_ms), median(&mut cells_ms));
    let overhead = flow - cells;
    let met = overhead <= TARGET_OVERHEAD_MS;
    if args.json {
        println!(
            "{}",
            json!({"flow_p50_ms": flow, "cells_p50_ms": cells, "overhead_ms": overhead,
                   "ratio": flow / cells, "target_ms": TARGET_OVERHEAD_MS, "met": met, "runs": runs})
        );
    } else {
        println!("| measurement | p50 ms |");
        println!("|---|---:|");
        println!("| workflow run: 10 nodes, 5 Python code nodes | {flow:.3} |");
        println!("| baseline: the 5 snippets as cells of a pooled session | {cells:.3} |");
        println!(
            "| overhead (target ≤ {TARGET_OVERHEAD_MS} ms: {}) | {overhead:.3} |",
            if met { "met" } else { "missed" }
        );
        println!(
            "\n{runs} runs of each, interleaved; ratio {:.2}",
            flow / cells
        );
    }
    Ok(met)
}

async fn wait_for_pool(engine: &Arc<warden_engine::Engine>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while engine.pool_len_of(Language::Python) < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// One workflow run, timed from the start of the run to its end (closing the run's
/// session afterwards is not timed, as for the baseline).
async fn run_flow(
    engine: &Arc<warden_engine::Engine>,
    caller: &Caller,
    wf: &Workflow,
) -> anyhow::Result<f64> {
    let (engine, caller, wf) = (Arc::clone(engine), caller.clone(), wf.clone());
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let mut code = SessionCodeRunner::new(engine, caller, handle);
        let (mut services, mut clock) = (NoServices, SystemClock::default());
        let t = Instant::now();
        let result = warden_flow::run(
            &wf,
            json!({"n": 1000}),
            Host {
                code: &mut code,
                services: &mut services,
                clock: &mut clock,
                on_event: None,
            },
            Limits::default(),
        );
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        match result {
            Ok(r) if r.status == RunStatus::Ok => Ok(ms),
            Ok(r) => anyhow::bail!("the benchmark's run failed: {:?}", r.error),
            Err(p) => anyhow::bail!("invalid: {p:?}"),
        }
    })
    .await?
}

/// The baseline: a pooled session, the five snippets as cells, timed the same way.
async fn run_cells(engine: &Arc<warden_engine::Engine>, caller: &Caller) -> anyhow::Result<f64> {
    let t = Instant::now();
    let id = engine
        .create_session(caller, CreateSession::default())
        .await?
        .id;
    let inputs = [
        "input_data = {'n': 1000}",
        "input_data = {'n': 1000}",
        "input_data = {'xs': result}",
        "input_data = {'xs': xs}",
        "input_data = {'total': 499500}",
    ];
    for (i, snippet) in SNIPPETS.iter().enumerate() {
        let code = format!(
            "{}\n{snippet}{}",
            inputs[i],
            if i == 1 { "\nxs = result" } else { "" }
        );
        let req = ExecuteRequest {
            isolation: None,
            code,
            language: None,
            timeout: None,
            files: Default::default(),
            memory_mb: None,
            disk_mb: None,
            template: None,
            packages: Vec::new(),
            network: None,
            egress: None,
            input: None,
        };
        let r = engine.execute(caller, &id, req, &mut |_| {}).await?;
        if let Some(e) = r.error {
            anyhow::bail!("baseline cell {i} failed: {}: {}", e.name, e.value);
        }
    }
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    engine.delete_session(caller, &id).await?;
    Ok(ms)
}
