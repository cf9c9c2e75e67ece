//! `warden check`: static analysis of files, printed as a linter does, without running
//! anything.

use std::path::PathBuf;

use clap::Args;
use warden_engine::Policy;
use warden_protocol::{AnalyzeResponse, Language, RiskAction};

/// Exit status when a file would be refused (a syntax error, or a risk level the policy
/// denies).
pub const EXIT_DENIED: i32 = 1;
/// Exit status when a file or the policy cannot be read.
pub const EXIT_USAGE: i32 = 2;

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Files to check (language from the extension unless --lang).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Language of every file: python, javascript or bash.
    #[arg(long, short = 'l')]
    lang: Option<String>,
    /// The policy whose risk decisions apply (JSON, as for `warden keys create
    /// --policy`); default: the built-in policy, which allows every level.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Print one JSON object per file (path, report, action) instead of lines.
    #[arg(long)]
    json: bool,
}

/// Reads a policy file, or the default policy.
pub fn load_policy(path: Option<&PathBuf>) -> Result<Policy, String> {
    match path {
        None => Ok(Policy::default()),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            Policy::from_json(&text).map_err(|e| format!("{}: {e}", p.display()))
        }
    }
}

pub fn main(args: CheckArgs) -> i32 {
    let policy = match load_policy(args.policy.as_ref()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("warden: {e}");
            return EXIT_USAGE;
        }
    };
    let forced = match args.lang.as_deref().map(|l| (l, Language::parse(l))) {
        Some((l, None)) => {
            eprintln!("warden: unknown language '{l}' (python, javascript, bash)");
            return EXIT_USAGE;
        }
        Some((_, lang)) => lang,
        None => None,
    };
    let mut status = 0;
    for path in &args.files {
        let name = path.display().to_string();
        let code = match std::fs::read_to_string(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("warden: cannot read {name}: {e}");
                status = status.max(EXIT_USAGE);
                continue;
            }
        };
        let language = forced
            .or_else(|| Language::from_extension(&name))
            .unwrap_or(Language::Python);
        let report = warden_analysis::analyze(language, &code);
        let action = report
            .syntax_error
            .is_none()
            .then(|| policy.risk_policy().action(report.risk));
        if report.syntax_error.is_some() || action == Some(RiskAction::Deny) {
            status = status.max(EXIT_DENIED);
        }
        let reply = AnalyzeResponse { report, action };
        if args.json {
            let line = serde_json::json!({"path": name, "analysis": reply});
            println!("{line}");
        } else {
            print_lines(&name, &reply);
        }
    }
    status
}

fn print_lines(name: &str, reply: &AnalyzeResponse) {
    let report = &reply.report;
    if let Some(e) = &report.syntax_error {
        println!("{name}:{}:{} syntax-error {}", e.line, e.col, e.message);
        return;
    }
    for f in &report.findings {
        println!(
            "{name}:{}:{} {} {} [{}]",
            f.line,
            f.col,
            f.rule,
            f.message,
            f.severity.as_str()
        );
    }
    if let Some(action) = reply.action {
        eprintln!(
            "{name}: risk {}, the policy would {}",
            report.risk.as_str(),
            action.as_str()
        );
    }
}
