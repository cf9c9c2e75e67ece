//! Finding secrets in what code prints, to flag, redact or block them (docs/REDACTION.md).
//!
//! Recognised: provider API keys (OpenAI, Anthropic, GitHub, Slack, Stripe, Google), AWS
//! access key ids and secret keys (the latter next to their usual names), private-key
//! blocks, JWTs, bearer tokens, card numbers that pass the Luhn check (with a card
//! network's prefix), US social security numbers, and literal values an operator
//! registers. One [`RegexSet`] pass decides whether any pattern can match, so ordinary
//! text costs one scan; only text with a candidate is searched pattern by pattern.
//!
//! Output that arrives in chunks goes through a [`StreamRedactor`], which passes on whole
//! lines and holds back an unfinished one (and an open private-key block) until more
//! arrives, so a secret split across two chunks is still seen whole.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::{Regex, RegexSet};

/// What kind of secret a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    PrivateKey,
    AnthropicKey,
    OpenAiKey,
    GithubToken,
    SlackToken,
    StripeKey,
    GoogleApiKey,
    AwsAccessKeyId,
    AwsSecretKey,
    Jwt,
    BearerToken,
    CardNumber,
    UsSsn,
    /// A value the operator registered.
    Registered,
}

impl Kind {
    /// The name used in `[REDACTED:name]` and in counts.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::PrivateKey => "private_key",
            Kind::AnthropicKey => "anthropic_key",
            Kind::OpenAiKey => "openai_key",
            Kind::GithubToken => "github_token",
            Kind::SlackToken => "slack_token",
            Kind::StripeKey => "stripe_key",
            Kind::GoogleApiKey => "google_api_key",
            Kind::AwsAccessKeyId => "aws_access_key_id",
            Kind::AwsSecretKey => "aws_secret_key",
            Kind::Jwt => "jwt",
            Kind::BearerToken => "bearer_token",
            Kind::CardNumber => "card_number",
            Kind::UsSsn => "us_ssn",
            Kind::Registered => "registered_secret",
        }
    }
}

/// The patterns, in order of precedence where matches overlap. Where a pattern has a
/// capture group, only the group is the secret (the name before it stays).
const PATTERNS: &[(Kind, &str)] = &[
    (
        Kind::PrivateKey,
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]+?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----",
    ),
    (Kind::AnthropicKey, r"\bsk-ant-[A-Za-z0-9_-]{20,}"),
    (
        Kind::OpenAiKey,
        r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}",
    ),
    (
        Kind::GithubToken,
        r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{50,})",
    ),
    (Kind::SlackToken, r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    (
        Kind::StripeKey,
        r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}",
    ),
    (Kind::GoogleApiKey, r"\bAIza[0-9A-Za-z_-]{35}"),
    (
        Kind::AwsAccessKeyId,
        r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b",
    ),
    (
        Kind::AwsSecretKey,
        r#"(?i)aws_?secret_?(?:access_?)?key["']?\s*[:=]\s*["']?([A-Za-z0-9/+]{40})\b"#,
    ),
    (
        Kind::Jwt,
        r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
    ),
    (
        Kind::BearerToken,
        r"(?i)\bbearer\s+([A-Za-z0-9._~+/-]{20,}=*)",
    ),
    (
        Kind::CardNumber,
        r"\b(?:\d{13,19}|\d{4}(?:[ -]\d{4}){2,3}(?:[ -]\d{1,3})?|\d{4}[ -]\d{6}[ -]\d{4,5})\b",
    ),
    (Kind::UsSsn, r"\b\d{3}-\d{2}-\d{4}\b"),
];

/// An unfinished line (or open private-key block) longer than twice this is passed on
/// anyway, all but its last `HOLD` bytes; the longest secret a [`StreamRedactor`] is sure
/// to see whole across chunks is `HOLD` bytes.
pub const HOLD: usize = 8192;

/// One secret found: its kind and byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

/// Finds and redacts secrets. Cheap to build: the built-in patterns are compiled once per
/// process and shared.
#[derive(Debug, Clone)]
pub struct Redactor {
    builtins: &'static Builtins,
    literals: Vec<String>,
}

#[derive(Debug)]
struct Builtins {
    set: RegexSet,
    patterns: Vec<(Kind, Regex)>,
}

static BUILTINS: LazyLock<Builtins> = LazyLock::new(|| {
    // The patterns are constants, checked by the tests.
    // ASCII word boundaries: a Unicode `\b` keeps the regex engine off its fast DFA.
    let ascii = |p: &str| p.replace(r"\b", r"(?-u:\b)");
    Builtins {
        set: RegexSet::new(PATTERNS.iter().map(|(_, p)| ascii(p))).expect("valid patterns"),
        patterns: PATTERNS
            .iter()
            .map(|(k, p)| (*k, Regex::new(&ascii(p)).expect("valid pattern")))
            .collect(),
    }
});

/// The Luhn checksum of a digit string.
fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum % 10 == 0
}

/// Whether digits look like a payment card: a network's prefix, its length, and Luhn.
fn card_number(text: &str) -> bool {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_digit).collect();
    let n = digits.len();
    let prefix = |len: usize| -> u32 {
        std::str::from_utf8(&digits[..len.min(n)])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    };
    let network = match digits.first() {
        Some(b'4') => matches!(n, 13 | 16 | 19),
        Some(b'3') => matches!(prefix(2), 34 | 37) && n == 15,
        Some(b'5') => (51..=55).contains(&prefix(2)) && n == 16,
        Some(b'2') => (2221..=2720).contains(&prefix(4)) && n == 16,
        Some(b'6') => (prefix(4) == 6011 || prefix(2) == 65) && matches!(n, 16 | 19),
        _ => false,
    };
    // A separated number must be grouped like a card (4-4-4-4, 4-6-5, ...), not a
    // sequence of small numbers.
    let groups_ok =
        !text.contains([' ', '-']) || text.split([' ', '-']).all(|g| (4..=6).contains(&g.len()));
    network && groups_ok && luhn(&digits)
}

/// Whether `ddd-dd-dddd` can be an SSN (not an area 000, 666 or 9xx, group 00, serial
/// 0000).
fn us_ssn(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let [area, group, serial] = parts[..] else {
        return false;
    };
    area != "000" && area != "666" && !area.starts_with('9') && group != "00" && serial != "0000"
}

impl Redactor {
    /// A redactor for the built-in kinds and these literal values (values shorter than 6
    /// characters are ignored: they would match ordinary text).
    pub fn new(literals: &[String]) -> Redactor {
        let mut literals: Vec<String> = literals.iter().filter(|l| l.len() >= 6).cloned().collect();
        literals.sort_by_key(|l| std::cmp::Reverse(l.len()));
        Redactor {
            builtins: &BUILTINS,
            literals,
        }
    }

    /// The secrets in `text`, sorted, not overlapping (on overlap the earlier pattern
    /// of [`PATTERNS`], then the longer match, wins).
    pub fn find(&self, text: &str) -> Vec<Finding> {
        let mut found = Vec::new();
        for lit in &self.literals {
            for (start, _) in text.match_indices(lit.as_str()) {
                found.push(Finding {
                    kind: Kind::Registered,
                    start,
                    end: start + lit.len(),
                });
            }
        }
        let set = &self.builtins.set;
        let candidates = if set.is_match(text) {
            set.matches(text).into_iter().collect()
        } else {
            Vec::new()
        };
        for i in candidates {
            let (kind, re) = &self.builtins.patterns[i];
            let grouped = re.captures_len() > 1;
            let matches: Vec<regex::Match> = if grouped {
                re.captures_iter(text)
                    .filter_map(|c| c.get(1).or_else(|| c.get(0)))
                    .collect()
            } else {
                re.find_iter(text).collect()
            };
            for m in matches {
                let ok = match kind {
                    Kind::CardNumber => card_number(m.as_str()),
                    Kind::UsSsn => us_ssn(m.as_str()),
                    _ => true,
                };
                if ok {
                    found.push(Finding {
                        kind: *kind,
                        start: m.start(),
                        end: m.end(),
                    });
                }
            }
        }
        found.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end), f.kind));
        let mut kept: Vec<Finding> = Vec::with_capacity(found.len());
        for f in found {
            match kept.last() {
                Some(last) if f.start < last.end => {}
                _ => kept.push(f),
            }
        }
        kept
    }

    /// `text` with each secret replaced by `[REDACTED:kind]`, and the count per kind.
    pub fn redact(&self, text: &str) -> (String, BTreeMap<Kind, usize>) {
        let found = self.find(text);
        let mut counts = BTreeMap::new();
        if found.is_empty() {
            return (text.to_string(), counts);
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for f in found {
            out.push_str(&text[at..f.start]);
            out.push_str("[REDACTED:");
            out.push_str(f.kind.as_str());
            out.push(']');
            *counts.entry(f.kind).or_insert(0) += 1;
            at = f.end;
        }
        out.push_str(&text[at..]);
        (out, counts)
    }
}

/// Redacts a stream of text chunks: what [`StreamRedactor::push`] returns is final. Whole
/// lines pass at once; an unfinished line, and a private-key block still open, wait for
/// the next chunk (or [`StreamRedactor::finish`]) unless longer than twice [`HOLD`].
#[derive(Debug)]
pub struct StreamRedactor<'a> {
    redactor: &'a Redactor,
    pending: String,
    pub counts: BTreeMap<Kind, usize>,
}

impl<'a> StreamRedactor<'a> {
    pub fn new(redactor: &'a Redactor) -> StreamRedactor<'a> {
        StreamRedactor {
            redactor,
            pending: String::new(),
            counts: BTreeMap::new(),
        }
    }

    /// Adds a chunk; returns the redacted text that can be passed on now.
    pub fn push(&mut self, chunk: &str) -> String {
        self.pending.push_str(chunk);
        let len = self.pending.len();
        // Secrets do not span lines, but for private-key blocks: pass on whole lines.
        let mut cut = self.pending.rfind(['\n', '\r']).map_or(0, |i| i + 1);
        if let Some(begin) = self.pending[..cut].rfind("-----BEGIN ") {
            if !self.pending[begin..].contains("-----END ") && len - begin <= 2 * HOLD {
                cut = begin;
            }
        }
        if len - cut > 2 * HOLD {
            // A very long unfinished line: pass on all but its tail.
            cut = len - HOLD;
            while !self.pending.is_char_boundary(cut) {
                cut -= 1;
            }
        }
        if cut == 0 {
            return String::new();
        }
        // Never cut through a secret: stop before one that reaches past the cut.
        for f in self.redactor.find(&self.pending) {
            if f.start < cut && f.end > cut {
                cut = f.start;
                break;
            }
        }
        let rest = self.pending.split_off(cut);
        let ready = std::mem::replace(&mut self.pending, rest);
        self.emit(&ready)
    }

    /// The rest, at the end of the stream.
    pub fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.pending);
        self.emit(&rest)
    }

    fn emit(&mut self, text: &str) -> String {
        let (out, counts) = self.redactor.redact(text);
        for (k, n) in counts {
            *self.counts.entry(k).or_insert(0) += n;
        }
        out
    }
}

/// Raw output streams (stdout and stderr, numbered 0 and 1), each decoded as UTF-8
/// without splitting a character and redacted on its own.
#[derive(Debug)]
pub struct OutputRedactor<'a> {
    streams: [(crate::utf8::Utf8Chunks, StreamRedactor<'a>); 2],
}

impl<'a> OutputRedactor<'a> {
    pub fn new(redactor: &'a Redactor) -> OutputRedactor<'a> {
        OutputRedactor {
            streams: [
                (Default::default(), StreamRedactor::new(redactor)),
                (Default::default(), StreamRedactor::new(redactor)),
            ],
        }
    }

    /// Adds bytes of stream 0 or 1; returns the redacted text that can be passed on now.
    pub fn push(&mut self, stream: usize, bytes: &[u8]) -> String {
        let (utf8, redactor) = &mut self.streams[stream];
        redactor.push(&utf8.push(bytes))
    }

    /// The rest of stream 0 or 1, at its end.
    pub fn finish(&mut self, stream: usize) -> String {
        let (utf8, redactor) = &mut self.streams[stream];
        let mut text = redactor.push(&utf8.finish());
        text.push_str(&redactor.finish());
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(r: &Redactor, text: &str) -> Vec<&'static str> {
        r.find(text).iter().map(|f| f.kind.as_str()).collect()
    }

    const SAMPLES: &[(&str, &str)] = &[
        ("openai_key", "OPENAI_API_KEY=sk-proj-Ab3dEf6hIj9kLmN0pQrStUvWxYz12345"),
        ("anthropic_key", "key: sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"),
        ("github_token", "token ghp_0123456789abcdefghijABCDEFGHIJ012345xy"),
        ("slack_token", "xoxb-123456789012-1234567890123-AbCdEfGhIjKl"),
        ("stripe_key", "stripe sk_live_51HAbCdEfGhIjKlMnOp"),
        ("google_api_key", "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW"),
        ("aws_access_key_id", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE"),
        (
            "aws_secret_key",
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ),
        (
            "jwt",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        ),
        ("bearer_token", "Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123"),
        ("card_number", "card 4111 1111 1111 1111 exp 12/30"),
        ("card_number", "amex 378282246310005"),
        ("us_ssn", "ssn: 123-45-6789"),
    ];

    #[test]
    fn every_kind_is_found_and_redacted() {
        let r = Redactor::new(&[]);
        for (kind, text) in SAMPLES {
            assert_eq!(kinds(&r, text), [*kind], "{text}");
            let (out, counts) = r.redact(text);
            assert!(out.contains(&format!("[REDACTED:{kind}]")), "{out}");
            assert_eq!(counts.values().sum::<usize>(), 1);
        }
        let key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgHcTz6sE2I2yPB\naFDrBz9vFqU4yZlG\n-----END RSA PRIVATE KEY-----";
        let (out, _) = r.redact(&format!("before\n{key}\nafter"));
        assert_eq!(out, "before\n[REDACTED:private_key]\nafter");
    }

    #[test]
    fn named_values_keep_their_names() {
        let r = Redactor::new(&[]);
        let (out, _) = r.redact("Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123\n");
        assert_eq!(out, "Authorization: Bearer [REDACTED:bearer_token]\n");
    }

    #[test]
    fn registered_literals_are_found() {
        let r = Redactor::new(&["hunter2-but-longer".into(), "abc".into()]);
        let (out, counts) = r.redact("pw=hunter2-but-longer; short abc stays");
        assert_eq!(out, "pw=[REDACTED:registered_secret]; short abc stays");
        assert_eq!(counts[&Kind::Registered], 1);
    }

    #[test]
    fn ordinary_output_has_no_false_positives() {
        let r = Redactor::new(&[]);
        let corpus = [
            "1795709446.2194219",
            "1795709446219422",
            "2026-11-26 16:30:17 UTC",
            "sha256: 9b71d224bd62f3785d96d46ad3ea3d73319bfbc2890caadae2dff72519673ca7",
            "uuid 550e8400-e29b-41d4-a716-446655440000",
            "   city  temp\n0  Oslo   3.5\n1  Lima  19.0\n[2 rows x 2 columns]",
            "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
            "phone +1 (555) 010-0199, zip 94103-1234",
            "1234 5678 9012 3456",
            "range(0, 1000000000000000)",
            "ids: 100000000000001 100000000000002",
            "000-12-3456 and 666-12-3456",
            "sk-short",
            "the bearer of bad news",
            "numpy 2.4.6, pandas 3.1.1",
        ];
        for text in corpus {
            assert!(r.find(text).is_empty(), "{text}: {:?}", r.find(text));
        }
    }

    #[test]
    fn a_secret_split_across_chunks_is_caught() {
        let r = Redactor::new(&[]);
        for (kind, sample) in SAMPLES {
            let secret = r.find(sample)[0];
            let secret = &sample[secret.start..secret.end];
            // Long ordinary text around it, cut at every position near the secret.
            let text = format!("{}{sample}{}", "x ".repeat(9000), " y".repeat(9000));
            let at = 18_000 + sample.len() / 2;
            for split in [at - 3, at, at + 3] {
                let mut s = StreamRedactor::new(&r);
                let mut out = s.push(&text[..split]);
                out.push_str(&s.push(&text[split..]));
                out.push_str(&s.finish());
                assert!(
                    out.contains(&format!("[REDACTED:{kind}]")),
                    "{kind} split at {split}"
                );
                assert_eq!(s.counts.values().sum::<usize>(), 1, "{kind}");
                assert!(!out.contains(secret), "{kind}");
            }
        }
        // Many small chunks, too.
        let text = format!("{}{}", "z".repeat(20_000), SAMPLES[0].1);
        let mut s = StreamRedactor::new(&r);
        let mut out = String::new();
        for chunk in text.as_bytes().chunks(7) {
            out.push_str(&s.push(std::str::from_utf8(chunk).unwrap()));
        }
        out.push_str(&s.finish());
        assert!(
            out.ends_with("OPENAI_API_KEY=[REDACTED:openai_key]"),
            "{}",
            &out[out.len() - 60..]
        );
    }

    #[test]
    fn whole_lines_pass_at_once_and_key_blocks_wait_for_their_end() {
        let r = Redactor::new(&[]);
        let mut s = StreamRedactor::new(&r);
        assert_eq!(s.push("hello\nwor"), "hello\n");
        assert_eq!(s.push("ld\r"), "world\r");
        assert_eq!(s.push("no newline yet"), "");
        assert_eq!(s.finish(), "no newline yet");

        // A private key printed line by line: nothing of it passes before its end.
        let key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA0Z3VS5JJcds3xfn\n\
                   Zq5J6QxkJ4D8GfNn0a9wq1bn0x4X\n-----END RSA PRIVATE KEY-----\n";
        let mut s = StreamRedactor::new(&r);
        let mut out = s.push("before\n");
        assert_eq!(out, "before\n");
        let lines: Vec<&str> = key.split_inclusive('\n').collect();
        for line in &lines[..lines.len() - 1] {
            assert_eq!(s.push(line), "", "{line}");
        }
        out.push_str(&s.push(lines[lines.len() - 1]));
        out.push_str(&s.push("after\n"));
        out.push_str(&s.finish());
        assert_eq!(out, "before\n[REDACTED:private_key]\nafter\n");
        assert_eq!(s.counts.get(&Kind::PrivateKey), Some(&1));
    }

    /// `cargo test --release -p warden-analysis --lib redaction_throughput -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn redaction_throughput() {
        let r = Redactor::new(&["my-registered-secret".into()]);
        let line = "   city  temp  2026-11-26 16:30:17 value=1795709446.21 ok\n";
        let text = line.repeat((64 << 20) / line.len());
        let t = std::time::Instant::now();
        let (out, _) = r.redact(&text);
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(out.len(), text.len());
        eprintln!("{:.0} MB/s", text.len() as f64 / 1e6 / secs);
    }
}
