//! The compiled workflow runtime (`warden-flow/src/compile_runtime.py`) analyses text for
//! `retrieval` nodes with a pure-Python port of tantivy's `en_stem` (the Snowball English
//! stemmer included): checked here against tantivy itself on a large generated word list
//! and on text with punctuation, long tokens and Unicode. The runtime is our own code,
//! run with the host's `python3` on our own data.

use std::io::Write;
use std::process::{Command, Stdio};

use tantivy::tokenizer::{TokenStream, TokenizerManager};

const RUNTIME: &str = include_str!("../../warden-flow/src/compile_runtime.py");

/// What tantivy's `en_stem` makes of `text`.
fn tantivy_terms(text: &str) -> Vec<String> {
    let mut analyzer = TokenizerManager::default().get("en_stem").unwrap();
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

/// `char::is_alphanumeric` beyond ASCII as the compiler emits it (`first, last` pairs).
fn alnum_ranges() -> String {
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for cp in 0x80..=0x10FFFFu32 {
        let Some(c) = char::from_u32(cp) else {
            continue;
        };
        if !c.is_alphanumeric() {
            continue;
        }
        match ranges.last_mut() {
            Some(last) if last.1 + 1 == cp => last.1 = cp,
            _ => ranges.push((cp, cp)),
        }
    }
    ranges.iter().map(|(a, b)| format!("{a}, {b}, ")).collect()
}

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

/// Words that exercise every step of the stemmer: random stems (vowels, `y`, doubled
/// consonants, apostrophes) with the suffixes of its tables, plus the exceptions.
fn words() -> Vec<String> {
    let suffixes = [
        "", "s", "'s", "'", "'s'", "ies", "ied", "sses", "ss", "us", "ed", "eed", "ing", "edly",
        "eedly", "ingly", "ational", "tional", "enci", "anci", "abli", "entli", "izer", "ization",
        "ation", "ator", "alism", "aliti", "alli", "fulness", "ousli", "ousness", "iveness",
        "iviti", "biliti", "bli", "ogi", "fulli", "lessli", "li", "icate", "ative", "alize",
        "iciti", "ical", "ful", "ness", "al", "ance", "ence", "er", "ic", "able", "ible", "ant",
        "ement", "ment", "ent", "ism", "ate", "iti", "ous", "ive", "ize", "ion", "sion", "tion",
        "e", "l", "ll", "y", "ly", "ying", "ling", "ening", "anning", "inning", "earring",
        "erring", "outing", "at", "bl", "iz", "bb", "dd", "ff", "gg", "mm", "nn", "pp", "rr", "tt",
        "ogist", "ogy", "ed'", "yed", "ys",
    ];
    let prefixes = [
        "", "gener", "commun", "arsen", "emerg", "inter", "later", "organ", "past", "univers",
        "succ", "proc", "exc", "y", "'", "re", "un", "sky", "ski",
    ];
    let letters = [
        "a", "e", "i", "o", "u", "y", "b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r",
        "s", "t", "v", "w", "x", "z", "q", "j", "'", "y", "e", "s", "t",
    ];
    let mut out: Vec<String> = [
        "skis",
        "skies",
        "sky",
        "idly",
        "gently",
        "ugly",
        "early",
        "only",
        "singly",
        "news",
        "howe",
        "atlas",
        "cosmos",
        "bias",
        "andes",
        "dying",
        "lying",
        "tying",
        "tied",
        "ties",
        "cries",
        "caress",
        "running",
        "hopping",
        "hoping",
        "filing",
        "failing",
        "luxuriated",
        "agreed",
        "proceed",
        "exceed",
        "succeed",
        "evening",
        "canning",
        "innings",
        "earring",
        "herring",
        "outing",
        "generously",
        "communism",
        "arsenal",
        "past",
        "pasted",
        "yes",
        "youth",
        "boyish",
        "sayings",
        "ay",
        "a",
        "",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut rng = Rng(0x9E3779B97F4A7C15);
    for _ in 0..30_000 {
        let mut w = rng.pick(&prefixes).to_string();
        let n = rng.next() % 9;
        for _ in 0..n {
            w.push_str(rng.pick(&letters));
        }
        w.push_str(rng.pick(&suffixes));
        if rng.next() % 4 == 0 {
            w.push_str(rng.pick(&suffixes));
        }
        out.push(w);
    }
    out
}

#[test]
fn the_python_port_of_en_stem_matches_tantivy() {
    let mut texts: Vec<String> = words();
    texts.extend(
        [
            "Sandboxes, SANDBOXED; sandboxing — the sandbox's sandboxes'",
            "naïve café Ünïcode STRASSE straße ΣΊΣΥΦΟΣ ὈΔΥΣΣΕΎΣ İstanbul ǅemal",
            "日本語のテキスト and 한국어 text, ١٢٣ digits ², Ⅻ, ⅷ",
            "supercalifragilisticexpialidociousnessxxxxxxxxxxx short-words v1.2.3 a_b",
            "éééééééééééééééééééé long accented token over forty bytes",
            "quotes \"AND\" (OR) field:value +plus -minus NOT",
            "tab\tnew\nline\r\ncarriage ‘curly’ “quotes” don't won't o'clock",
            "Ⓐⓑⓒ ꙮ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ß ŉ ǰ ﬁne ﬂow",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let expected: Vec<Vec<String>> = texts.iter().map(|t| tantivy_terms(t)).collect();
    let driver = format!(
        "{RUNTIME}\nALNUM_RANGES = ({})\n\
         texts = json.load(sys.stdin)\n\
         json.dump([analyze(t) for t in texts], sys.stdout)\n",
        alnum_ranges()
    );
    let dir = tempfile_dir();
    let script = dir.join("port.py");
    std::fs::write(&script, driver).unwrap();
    let mut child = Command::new("python3")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&texts).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let got: Vec<Vec<String>> = serde_json::from_slice(&out.stdout).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let mut wrong = Vec::new();
    for ((t, want), got) in texts.iter().zip(&expected).zip(&got) {
        if want != got {
            wrong.push(format!("{t:?}: tantivy {want:?}, python {got:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} differ:\n{}",
        wrong.len(),
        texts.len(),
        wrong[..wrong.len().min(20)].join("\n")
    );
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("warden-search-port-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
