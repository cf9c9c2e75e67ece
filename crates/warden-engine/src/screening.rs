//! The layers around an execution that are not the sandbox: the syntax check and static
//! analysis before it runs (and the policy's decision on the risk level), and the
//! secret scan of what it prints. None of these is the boundary — the OS sandbox is —
//! and each decision names its reasons.

use std::collections::BTreeMap;

use warden_analysis::redact::{OutputRedactor, Redactor};
use warden_protocol::{AnalysisReport, CellErrorInfo, CellResponse, Language, RiskLevel};

use crate::session::Event;
use crate::tenancy::{Policy, RedactionMode, RiskAction};
use crate::EngineError;

/// What the checks before an execution decided.
#[derive(Debug, Clone, Default)]
pub struct Screening {
    /// The analysis, for languages that are analysed.
    pub report: Option<AnalysisReport>,
    pub action: RiskAction,
}

/// Lines that the Python agent answers itself with a better message than a syntax error
/// (`!pip install ...`: there is no network inside the sandbox).
const SHELL_INSTALLS: &[&str] = &[
    "!pip",
    "%pip",
    "!python -m pip",
    "!python3 -m pip",
    "!conda",
    "%conda",
];

/// Parses and analyses code before it runs: a syntax error, or a risk level the policy
/// denies, refuses the execution before any sandbox is used.
pub fn screen(policy: &Policy, language: Language, code: &str) -> Result<Screening, EngineError> {
    let agent_answers = language == Language::Python
        && code
            .lines()
            .any(|l| SHELL_INSTALLS.iter().any(|p| l.trim_start().starts_with(p)));
    if language == Language::Bash || agent_answers {
        return Ok(Screening::default());
    }
    let report = warden_analysis::analyze(language, code);
    if let Some(e) = report.syntax_error {
        return Err(EngineError::Syntax(e));
    }
    let action = policy.risk_policy().action(report.risk);
    if action == RiskAction::Deny {
        let mut rules: Vec<&str> = report
            .findings
            .iter()
            .filter(|f| RiskLevel::of(f.severity) == report.risk)
            .map(|f| f.rule.as_str())
            .collect();
        rules.dedup();
        return Err(EngineError::SecurityViolation {
            message: format!(
                "the policy denies code of risk level {} ({})",
                report.risk.as_str(),
                rules.join(", ")
            ),
            risk: report.risk,
            findings: report.findings,
            execution_id: None,
        });
    }
    Ok(Screening {
        report: Some(report),
        action,
    })
}

/// The secret scan of one execution's output, as the policy sets it.
#[derive(Debug, Clone)]
pub struct OutputGuard {
    mode: RedactionMode,
    redactor: Option<Redactor>,
}

impl OutputGuard {
    pub fn new(policy: &Policy) -> OutputGuard {
        let (mode, redactor) = policy.redactor();
        OutputGuard { mode, redactor }
    }

    /// Whether streamed output is changed on its way (modes `redact` and `block`).
    fn rewrites_stream(&self) -> bool {
        matches!(self.mode, RedactionMode::Redact | RedactionMode::Block)
    }

    /// Wraps an event sink so that streamed output is redacted; call
    /// [`StreamFilter::finish`] after the execution to pass on what was held back.
    pub fn stream<'a>(&'a self, sink: &'a mut (dyn FnMut(Event) + Send)) -> StreamFilter<'a> {
        let redactor = self.redactor.as_ref().filter(|_| self.rewrites_stream());
        StreamFilter {
            streams: redactor.map(OutputRedactor::new),
            sink,
        }
    }

    /// Scans (and per the mode redacts or withholds) a result's text: stdout, stderr,
    /// the value and rich outputs (all but images), the error. Returns the secrets found
    /// per kind.
    pub fn apply(&self, response: &mut CellResponse) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        let Some(redactor) = &self.redactor else {
            return counts;
        };
        let rewrite = self.rewrites_stream();
        let mut scan = |text: &mut String| {
            let (redacted, found) = redactor.redact(text);
            if found.is_empty() {
                return;
            }
            for (kind, n) in found {
                *counts.entry(kind.as_str().to_string()).or_insert(0) += n as u64;
            }
            if rewrite {
                *text = redacted;
            }
        };
        scan(&mut response.stdout);
        scan(&mut response.stderr);
        let bundles = response.value.iter_mut().chain(response.outputs.iter_mut());
        for bundle in bundles {
            for (mime, data) in bundle.iter_mut() {
                if !mime.starts_with("image/") {
                    scan(data);
                }
            }
        }
        if let Some(error) = &mut response.error {
            scan(&mut error.value);
            error.traceback.iter_mut().for_each(&mut scan);
        }
        if self.mode == RedactionMode::Block && !counts.is_empty() {
            withhold(response, &counts);
        }
        counts
    }
}

/// Replaces a result that printed secrets by an `OutputBlocked` error.
fn withhold(response: &mut CellResponse, counts: &BTreeMap<String, u64>) {
    let kinds: Vec<String> = counts.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
    response.status = "error".into();
    response.stdout.clear();
    response.stderr.clear();
    response.value = None;
    response.outputs.clear();
    response.error = Some(CellErrorInfo {
        name: "OutputBlocked".into(),
        value: format!(
            "the output contained secrets ({}) and the policy withholds it",
            kinds.join(", ")
        ),
        traceback: Vec::new(),
    });
}

/// An event sink that redacts streamed output (see [`OutputGuard::stream`]).
pub struct StreamFilter<'a> {
    /// The redactor of stdout and stderr; `None` passes events through unchanged.
    streams: Option<OutputRedactor<'a>>,
    sink: &'a mut (dyn FnMut(Event) + Send),
}

impl StreamFilter<'_> {
    pub fn send(&mut self, event: Event) {
        let Some(streams) = &mut self.streams else {
            return (self.sink)(event);
        };
        let (i, bytes) = match &event {
            Event::Stdout(b) => (0, b),
            Event::Stderr(b) => (1, b),
        };
        let text = streams.push(i, bytes);
        if !text.is_empty() {
            (self.sink)(make(i, text));
        }
    }

    /// Passes on what was held back, at the end of the execution.
    pub fn finish(&mut self) {
        let Some(streams) = &mut self.streams else {
            return;
        };
        for i in 0..2 {
            let text = streams.finish(i);
            if !text.is_empty() {
                (self.sink)(make(i, text));
            }
        }
    }
}

fn make(stream: usize, text: String) -> Event {
    if stream == 0 {
        Event::Stdout(text.into_bytes())
    } else {
        Event::Stderr(text.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenancy::{RedactionPolicy, RiskPolicy};

    const KEY: &str = "sk-proj-Ab3dEf6hIj9kLmN0pQrStUvWxYz12345";

    fn policy(mode: RedactionMode) -> Policy {
        Policy {
            redaction: Some(RedactionPolicy {
                mode,
                secrets: vec!["hunter2-registered".into()],
            }),
            ..Policy::default()
        }
    }

    fn response(stdout: &str) -> CellResponse {
        CellResponse {
            tier: None,
            status: "ok".into(),
            execution_count: 1,
            value: Some([("text/plain".to_string(), format!("'{KEY}'"))].into()),
            error: None,
            outputs: vec![[(
                "image/png".to_string(),
                "sk-proj-notakeyjustbase64data0000".to_string(),
            )]
            .into()],
            stdout: stdout.into(),
            stderr: String::new(),
            stdout_truncated: false,
            stderr_truncated: false,
            timed_out: false,
            duration_ms: 1.0,
            files: None,
            execution_id: None,
            risk: None,
            findings: Vec::new(),
            secrets: BTreeMap::new(),
            egress: None,
            result: None,
            error_code: None,
        }
    }

    #[test]
    fn each_mode_does_what_it_says() {
        let out = format!("key={KEY}\nhunter2-registered\n");
        let mut r = response(&out);
        let counts = OutputGuard::new(&policy(RedactionMode::Off)).apply(&mut r);
        assert!(counts.is_empty());
        assert_eq!(r.stdout, out);

        let mut r = response(&out);
        let counts = OutputGuard::new(&policy(RedactionMode::Flag)).apply(&mut r);
        assert_eq!(counts.get("openai_key"), Some(&2), "stdout and the value");
        assert_eq!(counts.get("registered_secret"), Some(&1));
        assert_eq!(r.stdout, out, "flag leaves the output alone");

        let mut r = response(&out);
        let counts = OutputGuard::new(&policy(RedactionMode::Redact)).apply(&mut r);
        assert_eq!(counts.values().sum::<u64>(), 3);
        assert_eq!(
            r.stdout,
            "key=[REDACTED:openai_key]\n[REDACTED:registered_secret]\n"
        );
        assert_eq!(
            r.value.as_ref().unwrap()["text/plain"],
            "'[REDACTED:openai_key]'"
        );
        // Images are base64: never scanned.
        assert!(r.outputs[0]["image/png"].starts_with("sk-proj-"));

        let mut r = response(&out);
        OutputGuard::new(&policy(RedactionMode::Block)).apply(&mut r);
        assert_eq!(r.status, "error");
        assert!(r.stdout.is_empty() && r.value.is_none() && r.outputs.is_empty());
        let error = r.error.unwrap();
        assert_eq!(error.name, "OutputBlocked");
        assert!(error.value.contains("openai_key ×2"), "{}", error.value);

        // Nothing found: block changes nothing.
        let mut r = response("plain\n");
        r.value = None;
        OutputGuard::new(&policy(RedactionMode::Block)).apply(&mut r);
        assert_eq!((r.status.as_str(), r.stdout.as_str()), ("ok", "plain\n"));
    }

    #[test]
    fn streamed_output_is_redacted_across_chunks_and_characters() {
        let guard = OutputGuard::new(&Policy::default());
        let mut seen: Vec<(usize, String)> = Vec::new();
        let mut sink = |e: Event| match e {
            Event::Stdout(b) => seen.push((0, String::from_utf8(b).unwrap())),
            Event::Stderr(b) => seen.push((1, String::from_utf8(b).unwrap())),
        };
        {
            let mut filter = guard.stream(&mut sink);
            let text = format!("é {KEY} ★\n");
            let bytes = text.as_bytes();
            // Split inside the key and inside the multi-byte '★'.
            let star = text.find('★').unwrap() + 1;
            filter.send(Event::Stdout(bytes[..12].to_vec()));
            filter.send(Event::Stderr(b"warn\n".to_vec()));
            filter.send(Event::Stdout(bytes[12..star].to_vec()));
            filter.send(Event::Stdout(bytes[star..].to_vec()));
            filter.send(Event::Stdout(b"tail".to_vec()));
            filter.finish();
        }
        let stdout: String = seen
            .iter()
            .filter(|(s, _)| *s == 0)
            .map(|(_, t)| t.as_str())
            .collect();
        assert_eq!(stdout, "é [REDACTED:openai_key] ★\ntail");
        assert!(seen.contains(&(1, "warn\n".to_string())));
    }

    #[test]
    fn flag_mode_streams_unchanged() {
        let guard = OutputGuard::new(&policy(RedactionMode::Flag));
        let mut seen = Vec::new();
        let mut sink = |e: Event| {
            if let Event::Stdout(b) = e {
                seen.push(b)
            }
        };
        let mut filter = guard.stream(&mut sink);
        filter.send(Event::Stdout(format!("{KEY}\n").into_bytes()));
        filter.finish();
        assert_eq!(seen, vec![format!("{KEY}\n").into_bytes()]);
    }

    #[test]
    fn the_policy_decides_per_risk_level() {
        let mut p = Policy::default();
        let code = "import subprocess\nsubprocess.run(['ls'])\n";
        let s = screen(&p, Language::Python, code).unwrap();
        assert_eq!(s.action, RiskAction::Allow);
        assert_eq!(s.report.unwrap().risk, RiskLevel::Medium);

        p.risk = Some(RiskPolicy {
            medium: RiskAction::Restrict,
            ..RiskPolicy::default()
        });
        assert_eq!(
            screen(&p, Language::Python, code).unwrap().action,
            RiskAction::Restrict
        );
        assert_eq!(
            screen(&p, Language::Python, "print(1)\n").unwrap().action,
            RiskAction::Allow
        );

        p.risk = Some(RiskPolicy {
            medium: RiskAction::Deny,
            ..RiskPolicy::default()
        });
        match screen(&p, Language::Python, code) {
            Err(EngineError::SecurityViolation {
                risk,
                findings,
                message,
                ..
            }) => {
                assert_eq!(risk, RiskLevel::Medium);
                assert!(
                    findings.iter().any(|f| f.rule == "process.spawn"),
                    "{findings:?}"
                );
                assert!(message.contains("medium"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn syntax_errors_refuse_before_a_sandbox_and_shell_installs_are_left_to_the_agent() {
        let p = Policy::default();
        match screen(&p, Language::Python, "x = 1\ndef f(:\n") {
            Err(EngineError::Syntax(e)) => assert_eq!(e.line, 2),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            screen(&p, Language::Javascript, "function (\n"),
            Err(EngineError::Syntax(_))
        ));
        assert!(screen(&p, Language::Python, "!pip install requests\n").is_ok());
        assert!(screen(&p, Language::Bash, "if then fi (((").is_ok());
    }
}
