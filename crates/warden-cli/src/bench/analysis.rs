//! `warden bench analysis`: the cost of the checks beside the sandbox, in-process.
//!
//! 1. Static analysis (parse + rules) of a realistic 1,000-line Python file, against
//!    CPython's own `ast.parse` of the same file, timed inside one `python3` process in
//!    the same run (parsing only; no analysis);
//! 2. the same for a JavaScript file, against node's `new vm.Script` (compile only);
//! 3. output redaction throughput on ordinary text (log lines, numbers, hashes, UUIDs,
//!    a DataFrame dump, base64), against a plain copy of the same bytes.

use std::process::Command;
use std::time::Instant;

use clap::Args;
use warden_analysis::redact::Redactor;
use warden_protocol::Language;

use super::startup::median;

const TARGET_ANALYSIS_MS: f64 = 5.0;
const TARGET_REDACTION_MB_S: f64 = 200.0;

#[derive(Args, Debug)]
pub struct AnalysisBenchArgs {
    /// Lines of the analysed files.
    #[arg(long, default_value_t = 1000)]
    lines: usize,
    /// Timed analyses of each file (after 10 untimed).
    #[arg(long, default_value_t = 200)]
    runs: usize,
    /// MiB of text for the redaction throughput.
    #[arg(long, default_value_t = 64)]
    redaction_mib: usize,
    /// The Python interpreter of the baseline.
    #[arg(long, default_value = "python3")]
    python: String,
    /// The node binary of the JavaScript baseline.
    #[arg(long, default_value = "node")]
    node: String,
    /// Print the rows as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(serde::Serialize)]
struct Row {
    measurement: String,
    value: f64,
    unit: &'static str,
    baseline: String,
    baseline_value: Option<f64>,
    /// warden's value over the baseline's.
    ratio: Option<f64>,
    target: Option<String>,
    met: Option<bool>,
}

fn time_analysis(language: Language, code: &str, runs: usize) -> f64 {
    for _ in 0..10 {
        std::hint::black_box(warden_analysis::analyze(language, code));
    }
    let mut samples: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(warden_analysis::analyze(
                language,
                std::hint::black_box(code),
            ));
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    median(&mut samples)
}

/// The median of a timing loop run by another interpreter over `code` on its stdin; the
/// script prints one number, milliseconds.
fn baseline(program: &str, args: &[&str], code: &str) -> Option<f64> {
    use std::io::Write;
    let mut child = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(code.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

const PY_BASELINE: &str = "import ast, sys, time, statistics
src = sys.stdin.read()
runs = int(sys.argv[1])
for _ in range(10): ast.parse(src)
t = []
for _ in range(runs):
    s = time.perf_counter(); ast.parse(src); t.append((time.perf_counter() - s) * 1000)
print(statistics.median(t))";

const JS_BASELINE: &str = "const vm = require('vm');
let src = ''; process.stdin.on('data', d => src += d).on('end', () => {
  const runs = Number(process.argv[1]);
  // A distinct file name each time keeps V8's code cache out of it.
  for (let i = 0; i < 10; i++) new vm.Script(src, { filename: 'w' + i });
  const t = [];
  for (let i = 0; i < runs; i++) {
    const s = process.hrtime.bigint();
    new vm.Script(src, { filename: 'r' + i });
    t.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  t.sort((a, b) => a - b);
  console.log(t[Math.floor(t.length / 2)]);
});";

/// A realistic JavaScript program of about `lines` lines: a block of helpers, a class,
/// async code, array pipelines and a require, repeated with renamed identifiers.
fn js_sample(lines: usize) -> String {
    const BLOCK: &str = "const path_N = require('path');

/** Summarises rows of block N. */
function summarize_N(rows, key) {
  const totals = new Map();
  for (const row of rows) {
    if (!row || row[key] === undefined) {
      continue;
    }
    const prev = totals.get(row[key]) ?? 0;
    totals.set(row[key], prev + Number(row.value || 0));
  }
  return [...totals.entries()]
    .map(([k, v]) => ({ key: k, total: v, label: `${k}: ${v.toFixed(2)}` }))
    .sort((a, b) => b.total - a.total);
}

class Store_N {
  #items = [];
  constructor(name) {
    this.name = name;
    this.created = Date.now();
  }
  add(item) {
    this.#items.push({ ...item, at: this.#items.length });
    return this;
  }
  get size() {
    return this.#items.length;
  }
  async flush(writer) {
    for (const chunk of this.#items) {
      await writer(path_N.join('/workspace', this.name, String(chunk.at)));
    }
    this.#items = [];
  }
}

const store_N = new Store_N('block_N');
store_N.add({ value: 1 }).add({ value: 2 });
const report_N = summarize_N([{ k: 'a', value: 3 }, { k: 'b', value: 4 }], 'k');
if (report_N.length > 0 && store_N.size > 1) {
  console.log(JSON.stringify(report_N[0]));
}
";
    let per_block = BLOCK.lines().count();
    (0..lines.div_ceil(per_block))
        .map(|i| {
            BLOCK
                .replace("_N", &format!("_{i}"))
                .replace("block N", &format!("block {i}"))
        })
        .collect()
}

/// Ordinary output: what the redactor must pass quickly and unchanged.
fn ordinary_text(bytes: usize) -> String {
    let block = "2026-11-26 17:30:17,482 INFO worker-3 processed batch 1795709 in 0.412s (rows=48213)\n\
        sha256 9f86d081884c7d659a2feaf0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  data.csv\n\
        id=3f2b8c1e-4d5a-4e6f-9a7b-8c9d0e1f2a3b status=ok retries=0 latency_ms=12.5\n\
                 city   temp  humidity      pressure\n\
        0      Oslo   -3.2        81  1.013250e+05\n\
        1     Paris    7.9        76  1.012100e+05\n\
        iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==\n\
        Epoch 12/50 - loss: 0.0421 - accuracy: 0.9867 - val_loss: 0.0533 - val_accuracy: 0.9812\n";
    block.repeat(bytes / block.len() + 1)
}

pub fn main(args: AnalysisBenchArgs) -> i32 {
    let mut rows = Vec::new();
    let runs = args.runs.max(1);
    let runs_arg = runs.to_string();

    let py = warden_analysis::python::sample_program(args.lines);
    let report = warden_analysis::analyze(Language::Python, &py);
    if report.syntax_error.is_some() {
        eprintln!("warden: the sample program does not parse: {report:?}");
        return 1;
    }
    let ms = time_analysis(Language::Python, &py, runs);
    let base = baseline(&args.python, &["-c", PY_BASELINE, &runs_arg], &py);
    rows.push(Row {
        measurement: format!(
            "Python analysis, {} lines ({} findings)",
            report.metrics.lines,
            report.findings.len()
        ),
        value: ms,
        unit: "ms",
        baseline: "CPython ast.parse (parse only)".into(),
        baseline_value: base,
        ratio: base.map(|b| ms / b),
        target: Some(format!("≤ {TARGET_ANALYSIS_MS} ms")),
        met: Some(ms <= TARGET_ANALYSIS_MS),
    });

    let js = js_sample(args.lines);
    let report = warden_analysis::analyze(Language::Javascript, &js);
    if report.syntax_error.is_none() {
        let ms = time_analysis(Language::Javascript, &js, runs);
        let base = baseline(&args.node, &["-e", JS_BASELINE, &runs_arg], &js);
        rows.push(Row {
            measurement: format!("JavaScript analysis, {} lines", report.metrics.lines),
            value: ms,
            unit: "ms",
            baseline: "node new vm.Script (compile only)".into(),
            baseline_value: base,
            ratio: base.map(|b| ms / b),
            target: None,
            met: None,
        });
    }

    let text = ordinary_text(args.redaction_mib << 20);
    let redactor = Redactor::new(&["registered-secret-value".into()]);
    let mut mbs = Vec::new();
    let mut copies = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let (out, counts) = redactor.redact(std::hint::black_box(&text));
        let secs = t.elapsed().as_secs_f64();
        if !counts.is_empty() || out.len() != text.len() {
            eprintln!("warden: the ordinary text was changed: {counts:?}");
            return 1;
        }
        mbs.push(text.len() as f64 / 1e6 / secs);
        let t = Instant::now();
        let copy = std::hint::black_box(text.clone());
        copies.push(copy.len() as f64 / 1e6 / t.elapsed().as_secs_f64());
    }
    let (mb_s, copy_mb_s) = (median(&mut mbs), median(&mut copies));
    rows.push(Row {
        measurement: format!("redaction, {} MiB of ordinary text", args.redaction_mib),
        value: mb_s,
        unit: "MB/s",
        baseline: "a copy of the same bytes".into(),
        baseline_value: Some(copy_mb_s),
        ratio: Some(mb_s / copy_mb_s),
        target: Some(format!("≥ {TARGET_REDACTION_MB_S} MB/s")),
        met: Some(mb_s >= TARGET_REDACTION_MB_S),
    });

    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
    } else {
        println!("| measurement | warden | baseline | baseline value | ratio | target | met |");
        println!("|---|---|---|---|---|---|---|");
        for r in &rows {
            let opt = |v: Option<f64>, unit: &str| {
                v.map_or("-".to_string(), |v| format!("{v:.3} {unit}"))
            };
            println!(
                "| {} | {:.3} {} | {} | {} | {} | {} | {} |",
                r.measurement,
                r.value,
                r.unit,
                r.baseline,
                opt(r.baseline_value, r.unit),
                r.ratio.map_or("-".to_string(), |x| format!("{x:.2}")),
                r.target.as_deref().unwrap_or("-"),
                r.met.map_or("-", |m| if m { "yes" } else { "no" }),
            );
        }
    }
    if rows.iter().any(|r| r.met == Some(false)) {
        1
    } else {
        0
    }
}
