//! `warden run`: one program, one fresh sandbox.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use std::sync::Arc;
use warden_analysis::redact::{OutputRedactor, Redactor};
use warden_engine::screening;
use warden_engine::tenancy::{RedactionMode, RiskAction};
use warden_engine::EngineError;
use warden_jail::{
    Command, Exit, Jail, JailConfig, JailError, LimitHit, Limits, Outcome, OutputSink, Runtime,
    Stdin, Stream,
};

use warden_engine::egress::{self, Gate, Resolver, Rules, Totals};
use warden_protocol::{EgressReport, ErrorBody, ErrorCode, Language, RunResult, RunStatus};

/// Exit status when the sandbox could not be set up (as `docker run` and `timeout(1)` use).
pub const EXIT_SETUP_FAILED: i32 = 125;
pub const EXIT_TIMEOUT: i32 = 124;
pub const EXIT_MEMORY: i32 = 137;
/// Exit status when `--policy` refuses the code before it runs (a syntax error, a risk
/// level the policy denies, a language it does not allow).
pub const EXIT_REFUSED: i32 = 126;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Language: python, javascript or bash (default: from the file's extension, else python).
    #[arg(long, short = 'l')]
    lang: Option<String>,
    /// Wall-clock timeout in seconds.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    /// Memory limit in MiB (all processes together).
    #[arg(long, default_value_t = 512)]
    memory: u64,
    /// CPU cores the sandbox may use (e.g. 0.5); uncapped when absent.
    #[arg(long)]
    cpus: Option<f64>,
    /// Maximum processes and threads.
    #[arg(long, default_value_t = 64)]
    pids: u64,
    /// Size of /workspace in MiB.
    #[arg(long, default_value_t = 128)]
    disk: u64,
    /// Bytes of stdout and of stderr kept (the rest is drained and dropped).
    #[arg(long, default_value_t = 1 << 20)]
    output_limit: usize,
    /// Print exactly one JSON object with the result instead of streaming the output.
    #[arg(long)]
    json: bool,
    /// The isolation tier: namespaces (the default) or gvisor (needs runsc;
    /// docs/SECURITY.md#isolation-tiers).
    #[arg(long, default_value = "namespaces", value_parser = ["namespaces", "gvisor"])]
    isolation: String,
    /// Apply a policy (JSON, as for `warden keys create --policy`): its languages and
    /// limits cap this run's, the code is checked and analysed first (a syntax error or
    /// a denied risk level refuses it, `restrict` lowers the limits), and secrets in the
    /// output are handled per its `redaction` mode.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Let the program reach this host through warden's egress proxy (HTTP and HTTPS
    /// only; a pattern as in a policy's `egress.allow`: `api.github.com`,
    /// `*.wikipedia.org`, `pypi.org:443`). Repeatable. Without it: no network. Addresses
    /// of loopback, private, link-local and metadata networks stay refused
    /// (docs/NETWORK.md).
    #[arg(long, value_name = "HOST")]
    allow_host: Vec<String>,
    /// For tests: as `warden serve --egress-test-resolve` (docs/NETWORK.md).
    #[arg(long, hide = true, value_name = "NAME=ADDR", requires = "allow_host")]
    egress_test_resolve: Vec<String>,
    /// Copy the workspace's final contents into this directory.
    #[arg(long)]
    keep_workspace: Option<PathBuf>,
    /// Write the monotonic time of every step of the run (set-up, the sandbox's start
    /// in the supervisor and the child, teardown) to this file as JSON; used by
    /// `warden bench --breakdown`.
    #[arg(long, hide = true)]
    timings: Option<PathBuf>,
    /// Code to run.
    #[arg(short = 'c', conflicts_with = "file")]
    code: Option<String>,
    /// A file to run, or '-' to read the code from standard input.
    file: Option<String>,
}

/// What went wrong before the program could run, with its stable code.
struct Failure {
    code: ErrorCode,
    message: String,
}

impl From<JailError> for Failure {
    fn from(e: JailError) -> Self {
        let code = match &e {
            JailError::RuntimeNotFound { .. } => ErrorCode::RuntimeNotFound,
            JailError::Invalid(_) => ErrorCode::InvalidRequest,
            _ => ErrorCode::SandboxSetupFailed,
        };
        Failure {
            code,
            message: e.to_string(),
        }
    }
}

fn invalid(message: impl Into<String>) -> Failure {
    Failure {
        code: ErrorCode::InvalidRequest,
        message: message.into(),
    }
}

pub fn main(args: RunArgs) -> i32 {
    let entered = warden_jail::monotonic_ns();
    let json = args.json;
    let timings_file = args.timings.clone();
    match execute(args) {
        Ok((outcome, json_mode, egress)) => {
            let exit = finish(&outcome, json_mode, egress);
            if let (Some(path), Some(t)) = (timings_file, &outcome.timings) {
                let mut marks = vec![("run: arguments parsed", entered)];
                marks.extend(t.marks.iter().copied());
                marks.push(("run: result printed", warden_jail::monotonic_ns()));
                let text = serde_json::to_string(&marks).unwrap_or_default();
                if let Err(e) = std::fs::write(&path, text) {
                    eprintln!("warden: cannot write {}: {e}", path.display());
                }
            }
            exit
        }
        Err(f) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&ErrorBody::new(f.code, f.message)).unwrap_or_default()
                );
            } else {
                eprintln!("warden: {} ({})", f.message, f.code);
            }
            match f.code {
                ErrorCode::SyntaxError | ErrorCode::SecurityViolation | ErrorCode::PolicyDenied => {
                    EXIT_REFUSED
                }
                _ => EXIT_SETUP_FAILED,
            }
        }
    }
}

/// What `--policy` decided before the run.
struct Applied {
    limits: Limits,
    redaction: RedactionMode,
    redactor: Option<Redactor>,
}

/// Applies a policy to a run: refuses what it does not allow, caps the limits, and
/// screens the code (syntax, risk level).
fn apply_policy(
    path: &PathBuf,
    lang: Language,
    code: &[u8],
    mut limits: Limits,
) -> Result<Applied, Failure> {
    let policy = crate::check::load_policy(Some(path)).map_err(invalid)?;
    let denied = |message: String| Failure {
        code: ErrorCode::PolicyDenied,
        message,
    };
    if !policy.allows(lang) {
        return Err(denied(format!(
            "the policy does not allow {lang} (languages)"
        )));
    }
    if let Some(max) = policy.max_code_bytes.filter(|&m| code.len() > m) {
        return Err(denied(format!(
            "the code's {} bytes are over the policy's max_code_bytes of {max}",
            code.len()
        )));
    }
    let cap = |v: &mut u64, max: Option<u64>, unit: u64| {
        if let Some(m) = max {
            *v = (*v).min(m.saturating_mul(unit));
        }
    };
    if let Some(t) = policy.max_timeout {
        limits.timeout = limits.timeout.min(Duration::from_secs_f64(t));
    }
    cap(&mut limits.memory_bytes, policy.max_memory_mb, 1 << 20);
    cap(&mut limits.workspace_bytes, policy.max_disk_mb, 1 << 20);
    cap(&mut limits.pids, policy.max_pids, 1);
    if let Some(c) = policy.max_cpus {
        limits.cpus = Some(limits.cpus.map_or(c, |v| v.min(c)));
    }
    let text = String::from_utf8_lossy(code);
    let screening = screening::screen(&policy, lang, &text).map_err(|e| Failure {
        code: e.code(),
        message: match &e {
            EngineError::SecurityViolation { findings, .. } => {
                let lines: Vec<String> = findings
                    .iter()
                    .map(|f| format!("\n  {}:{} {} {}", f.line, f.col, f.rule, f.message))
                    .collect();
                format!("{e}:{}", lines.concat())
            }
            _ => e.to_string(),
        },
    })?;
    if screening.action == RiskAction::Restrict {
        let risk = policy.risk_policy();
        limits.timeout = limits.timeout.min(risk.restricted_timeout());
        cap(
            &mut limits.memory_bytes,
            Some(risk.restricted_memory_mb()),
            1 << 20,
        );
    }
    let (redaction, redactor) = policy.redactor();
    Ok(Applied {
        limits,
        redaction,
        redactor,
    })
}

/// Live output with secrets redacted (modes `redact` and `block`).
struct RedactedLive<'a>(OutputRedactor<'a>);

impl RedactedLive<'_> {
    /// Writes what was held back, at the end of the run.
    fn finish(&mut self) {
        for (i, stream) in [Stream::Stdout, Stream::Stderr].into_iter().enumerate() {
            Live.output(stream, self.0.finish(i).as_bytes());
        }
    }
}

impl OutputSink for RedactedLive<'_> {
    fn output(&mut self, stream: Stream, data: &[u8]) {
        let text = self.0.push(usize::from(stream != Stream::Stdout), data);
        if !text.is_empty() {
            Live.output(stream, text.as_bytes());
        }
    }
}

/// Streams output live to the terminal, as it arrives.
struct Live;

impl OutputSink for Live {
    fn output(&mut self, stream: Stream, data: &[u8]) {
        let _ = match stream {
            Stream::Stdout => {
                let mut o = std::io::stdout().lock();
                o.write_all(data).and_then(|_| o.flush())
            }
            Stream::Stderr => std::io::stderr().lock().write_all(data),
        };
    }
}

fn execute(args: RunArgs) -> Result<(Outcome, bool, Option<EgressReport>), Failure> {
    let (code, file_name): (Vec<u8>, Option<String>) = match (&args.code, args.file.as_deref()) {
        (Some(c), None) => (c.clone().into_bytes(), None),
        (None, Some("-")) => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| invalid(format!("cannot read code from standard input: {e}")))?;
            (buf, None)
        }
        (None, Some(path)) => (
            std::fs::read(path).map_err(|e| invalid(format!("cannot read {path}: {e}")))?,
            Some(path.to_string()),
        ),
        _ => return Err(invalid("give a FILE, '-' for standard input, or -c CODE")),
    };
    let lang = match (&args.lang, &file_name) {
        (Some(l), _) => Language::parse(l)
            .ok_or_else(|| invalid(format!("unknown language '{l}' (python, javascript, bash)")))?,
        (None, Some(f)) => Language::from_extension(f).unwrap_or(Language::Python),
        (None, None) => Language::Python,
    };
    let runtime = match lang {
        Language::Python => Runtime::python(),
        Language::Javascript => Runtime::javascript(),
        Language::Bash => Runtime::bash(),
    };
    runtime.check()?;
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        return Err(invalid("--timeout must be a positive number of seconds"));
    }
    let mut limits = Limits {
        timeout: Duration::from_secs_f64(args.timeout),
        memory_bytes: args.memory.saturating_mul(1 << 20),
        cpus: args.cpus,
        pids: args.pids,
        workspace_bytes: args.disk.saturating_mul(1 << 20),
        output_bytes: args.output_limit,
        ..Limits::default()
    };
    let applied = match &args.policy {
        Some(path) => {
            let applied = apply_policy(path, lang, &code, limits)?;
            limits = applied.limits.clone();
            Some(applied)
        }
        None => None,
    };
    let redactor = applied
        .as_ref()
        .and_then(|a| a.redactor.as_ref().map(|r| (a.redaction, r)));
    let mut cmd = Command::for_runtime(&runtime, code);
    cmd.limits = limits;
    cmd.tier = warden_jail::Tier::parse(&args.isolation).unwrap_or_default();
    let gate = if args.allow_host.is_empty() {
        None
    } else {
        let rules = Rules::allowing(&args.allow_host).map_err(invalid)?;
        egress::prepare_command(&mut cmd, lang == Language::Javascript, true);
        Some(Arc::new(Gate::new(
            rules,
            Arc::new(Resolver::with_test_mappings(&args.egress_test_resolve).map_err(invalid)?),
            Arc::new(Totals::default()),
        )))
    };
    cmd.record_timings = args.timings.is_some();
    cmd.keep_workspace = args.keep_workspace.clone();
    // The program reads our standard input unless the code itself came from it.
    cmd.stdin = if args.file.as_deref() == Some("-") {
        Stdin::Null
    } else {
        Stdin::Inherit
    };

    let jail = Jail::new(JailConfig::default())?;
    let rewrite =
        redactor.filter(|(mode, _)| matches!(mode, RedactionMode::Redact | RedactionMode::Block));
    let mut sandbox = jail.spawn(cmd)?;
    // With egress, the proxy serves the sandbox's listener from a thread of its own.
    let proxy = match (&gate, sandbox.take_listener()) {
        (Some(gate), Some(listener)) => Some(serve_proxy(listener, Arc::clone(gate))?),
        _ => None,
    };
    let mut outcome = match (args.json, rewrite) {
        (true, _) => sandbox.wait(&mut warden_jail::Discard)?,
        (false, None) => sandbox.wait(&mut Live)?,
        (false, Some((_, r))) => {
            let mut live = RedactedLive(OutputRedactor::new(r));
            let outcome = sandbox.wait(&mut live)?;
            live.finish();
            outcome
        }
    };
    if let Some(rt) = proxy {
        rt.shutdown_background();
    }
    let report = gate.map(|g| g.take_report());
    if let (Some(r), false) = (&report, args.json) {
        for c in r.connections.iter().filter(|c| c.decision == "denied") {
            eprintln!(
                "warden: egress refused {}:{}: {}",
                c.host,
                c.port,
                c.reason.as_deref().unwrap_or("")
            );
        }
    }
    if let Some((mode, r)) = redactor {
        scan_output(&mut outcome, mode, r, args.json);
    }
    if let Some(t) = outcome.timings.as_mut() {
        t.marks.splice(0..0, jail.setup_marks());
    }
    Ok((outcome, args.json, report))
}

/// A runtime with one worker thread of its own, serving the sandbox's egress
/// listener; dropping it stops the proxy.
fn serve_proxy(
    listener: warden_jail::Listener,
    gate: Arc<Gate>,
) -> Result<tokio::runtime::Runtime, Failure> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| invalid(format!("cannot start the egress proxy: {e}")))?;
    let listener = {
        let _guard = rt.enter();
        warden_engine::index_proxy::ProxyListener::from_jail(listener)
            .map_err(|e| invalid(format!("cannot start the egress proxy: {e}")))?
    };
    rt.spawn(warden_engine::index_proxy::serve_egress(listener, gate));
    Ok(rt)
}

/// Counts (and per the mode redacts or withholds) the secrets in a run's kept output;
/// the counts go to standard error.
fn scan_output(outcome: &mut Outcome, mode: RedactionMode, redactor: &Redactor, json: bool) {
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for captured in [&mut outcome.stdout, &mut outcome.stderr] {
        let text = String::from_utf8_lossy(&captured.bytes).into_owned();
        let (redacted, found) = redactor.redact(&text);
        for (kind, n) in found {
            *counts.entry(kind.as_str()).or_insert(0) += n;
        }
        if mode == RedactionMode::Redact {
            captured.bytes = redacted.into_bytes();
        }
    }
    if mode == RedactionMode::Block && !counts.is_empty() {
        outcome.stdout.bytes.clear();
        outcome.stderr.bytes.clear();
    }
    if !counts.is_empty() {
        let kinds: Vec<String> = counts.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
        let what = match mode {
            RedactionMode::Flag => "found",
            RedactionMode::Block if json => "found; the output is withheld",
            _ => "found and redacted",
        };
        eprintln!("warden: secrets in the output {what}: {}", kinds.join(", "));
    }
}

/// Maps an outcome to the wire result: status, stable error code and exit status.
pub fn classify(o: &Outcome) -> (RunStatus, Option<ErrorCode>, i32) {
    match (o.limit, o.exit) {
        (Some(LimitHit::Timeout), _) => {
            (RunStatus::Timeout, Some(ErrorCode::Timeout), EXIT_TIMEOUT)
        }
        (Some(LimitHit::Memory), _) => (
            RunStatus::MemoryLimit,
            Some(ErrorCode::MemoryLimit),
            EXIT_MEMORY,
        ),
        (Some(LimitHit::CpuTime), Exit::Signal(s)) => {
            (RunStatus::Killed, Some(ErrorCode::CpuLimit), 128 + s)
        }
        (Some(LimitHit::CpuTime), Exit::Code(c)) => {
            (RunStatus::Killed, Some(ErrorCode::CpuLimit), c)
        }
        (None, Exit::Code(0)) => (RunStatus::Success, None, 0),
        (None, Exit::Code(c)) => (RunStatus::Error, Some(ErrorCode::ExecutionError), c),
        (None, Exit::Signal(s)) => (RunStatus::Killed, Some(ErrorCode::Killed), 128 + s),
    }
}

pub fn to_result(o: &Outcome) -> RunResult {
    let (status, error_code, _) = classify(o);
    let (exit_code, signal) = match o.exit {
        Exit::Code(c) => (Some(c), None),
        Exit::Signal(s) => (None, Some(s)),
    };
    RunResult {
        status,
        error_code,
        exit_code,
        signal,
        stdout: String::from_utf8_lossy(&o.stdout.bytes).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr.bytes).into_owned(),
        stdout_truncated: o.stdout.truncated,
        stderr_truncated: o.stderr.truncated,
        duration_ms: o.duration.as_secs_f64() * 1000.0,
        cpu_time_ms: o.cpu_time.as_secs_f64() * 1000.0,
        peak_memory_bytes: o.peak_memory,
        egress: None,
    }
}

fn finish(o: &Outcome, json: bool, egress: Option<EgressReport>) -> i32 {
    let (status, code, exit) = classify(o);
    if json {
        let result = RunResult {
            egress,
            ..to_result(o)
        };
        // A reader that went away (`| head`) is not an error of the run's.
        use std::io::Write;
        let line = serde_json::to_string(&result).unwrap_or_default();
        let _ = writeln!(std::io::stdout().lock(), "{line}");
        return exit;
    }
    for (name, c) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
        if c.truncated {
            eprintln!(
                "\nwarden: {name} truncated: kept {} of {} bytes",
                c.bytes.len(),
                c.total
            );
        }
    }
    if let Some(code) = code {
        if status != RunStatus::Error {
            eprintln!(
                "warden: {} ({code})",
                match status {
                    RunStatus::Timeout => "timed out".to_string(),
                    RunStatus::MemoryLimit => "killed: memory limit reached".to_string(),
                    _ => match o.exit {
                        Exit::Signal(s) => format!("killed by signal {s}"),
                        Exit::Code(c) => format!("exited with {c}"),
                    },
                }
            );
        }
    }
    exit
}
