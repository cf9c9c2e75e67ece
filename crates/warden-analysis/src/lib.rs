//! Pure checks on code before it runs: syntax checks, static analysis and risk levels.
//!
//! Nothing here is a security boundary — the OS sandbox is. These layers reject broken
//! code before a sandbox is paid for, and let operators see and govern what code tries
//! to do. Every decision can be explained: a finding names its rule, line and column.

pub mod javascript;
pub mod python;
pub mod redact;
pub mod utf8;

pub use warden_protocol::{
    AnalysisReport, CodeMetrics, Finding, Language, RiskLevel, Severity, SyntaxErrorInfo,
};

/// Checks that `code` parses, without analysing it. Bash is not checked (always `Ok`).
pub fn check_syntax(language: Language, code: &str) -> Result<(), SyntaxErrorInfo> {
    match language {
        Language::Python => python::syntax(code),
        Language::Javascript => javascript::syntax(code),
        Language::Bash => Ok(()),
    }
}

/// Parses and analyses `code`. A syntax error gives a report with `syntax_error` set and
/// no findings. Bash is not analysed: its report has metrics only.
pub fn analyze(language: Language, code: &str) -> AnalysisReport {
    let outcome = match language {
        Language::Python => python::analyze(code),
        Language::Javascript => javascript::analyze(code),
        Language::Bash => Ok((Vec::new(), basic_metrics(code))),
    };
    match outcome {
        Ok((mut findings, metrics)) => {
            findings.sort_by(|a, b| (a.line, a.col, &a.rule).cmp(&(b.line, b.col, &b.rule)));
            AnalysisReport {
                language,
                risk: risk_of(&findings),
                findings,
                metrics,
                syntax_error: None,
            }
        }
        Err(error) => AnalysisReport {
            language,
            risk: RiskLevel::None,
            findings: Vec::new(),
            metrics: basic_metrics(code),
            syntax_error: Some(error),
        },
    }
}

/// The risk level of a set of findings: the highest severity among them (`info`
/// findings do not count).
pub fn risk_of(findings: &[Finding]) -> RiskLevel {
    findings
        .iter()
        .map(|f| RiskLevel::of(f.severity))
        .max()
        .unwrap_or(RiskLevel::None)
}

/// Lines and bytes only, for code that is not parsed.
pub fn basic_metrics(code: &str) -> CodeMetrics {
    CodeMetrics {
        lines: count_lines(code),
        bytes: code.len() as u64,
        ..CodeMetrics::default()
    }
}

pub(crate) fn count_lines(code: &str) -> u32 {
    let newlines = code.bytes().filter(|&b| b == b'\n').count();
    let last = usize::from(!code.is_empty() && !code.ends_with('\n'));
    (newlines + last) as u32
}

/// Turns byte offsets into 1-based line and column (columns count characters).
pub(crate) struct LineIndex<'a> {
    code: &'a str,
    /// Byte offset where each line starts.
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(code: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(
            code.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex { code, starts }
    }

    /// (line, column) of a byte offset; offsets past the end map to the end.
    pub(crate) fn position(&self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.code.len());
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let start = self.starts[line];
        let col = self
            .code
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line as u32 + 1, col as u32 + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters_from_one() {
        let code = "ab\né = 1\n\nx";
        let index = LineIndex::new(code);
        assert_eq!(index.position(0), (1, 1));
        assert_eq!(index.position(1), (1, 2));
        assert_eq!(index.position(3), (2, 1));
        // 'é' is two bytes: the space after it is column 2.
        assert_eq!(index.position(5), (2, 2));
        assert_eq!(index.position(code.len()), (4, 2));
        assert_eq!(count_lines(code), 4);
        assert_eq!(count_lines(""), 0);
        assert_eq!(count_lines("a\n"), 1);
    }

    #[test]
    fn risk_is_the_highest_severity_and_info_does_not_count() {
        let f = |severity| Finding {
            rule: "r".into(),
            severity,
            line: 1,
            col: 1,
            message: String::new(),
        };
        assert_eq!(risk_of(&[]), RiskLevel::None);
        assert_eq!(risk_of(&[f(Severity::Info)]), RiskLevel::None);
        assert_eq!(
            risk_of(&[f(Severity::Low), f(Severity::High), f(Severity::Medium)]),
            RiskLevel::High
        );
    }
}
