//! State paths: the one syntax for naming a place in a run's state.
//!
//! A run's state is a JSON object. It starts as `{"inputs": <the run's input>}` and nodes
//! write into it. A path is dotted keys with optional `[n]` list indexes, rooted at the
//! state object:
//!
//! ```text
//! path    := root ( "." key | "[" digits "]" )*
//! root    := ident                  (not a keyword: and or not in if else true false null)
//! key     := ident                  (keywords are allowed here: `x.in` is fine)
//! ident   := [A-Za-z_][A-Za-z0-9_]*
//! ```
//!
//! Examples: `inputs.name`, `orders[0].total`, `stats.mean`.
//!
//! **Reading** ([`StatePath::get`]) never invents values: a missing key, an index past the
//! end of a list, or any step into `null` gives `null`. Stepping into a value of the wrong
//! kind (a key into a number, an index into an object) is an error.
//!
//! **Writing** ([`StatePath::set`]) is only allowed on paths without indexes
//! ([`StatePath::is_writable`]); missing objects along the way are created, and a
//! non-object in the way is an error.

use std::fmt;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// Words that cannot be the root of a path, because expressions give them a meaning.
pub const KEYWORDS: [&str; 9] = [
    "and", "or", "not", "in", "if", "else", "true", "false", "null",
];

/// The longest path accepted, in bytes.
pub const MAX_PATH_LEN: usize = 512;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Segment {
    /// `.key` (or the root).
    Key(String),
    /// `[n]`.
    Index(usize),
}

/// A parsed state path such as `orders[0].total`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StatePath {
    segments: Vec<Segment>,
}

/// Why a path string is not a path, or why a path cannot be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("invalid state path `{path}`: {reason}")]
    Syntax { path: String, reason: String },
    #[error("cannot read `{path}`: `{at}` is {found}, not {expected}")]
    WrongKind {
        path: String,
        at: String,
        found: &'static str,
        expected: &'static str,
    },
    #[error("cannot write `{path}`: it has a list index (only dotted keys can be written)")]
    NotWritable { path: String },
    #[error("cannot write `{path}`: `{at}` is {found}, not an object")]
    Blocked {
        path: String,
        at: String,
        found: &'static str,
    },
}

pub(crate) fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

pub(crate) fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Whether `s` is an identifier (`[A-Za-z_][A-Za-z0-9_]*`).
pub fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(is_ident_start) && chars.all(is_ident_char)
}

/// The name of a JSON value's kind, as used in error messages.
pub fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a float",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

impl StatePath {
    /// Builds a path from segments; the first must be a key that is not a keyword.
    pub fn from_segments(segments: Vec<Segment>) -> Result<StatePath, PathError> {
        match segments.first() {
            Some(Segment::Key(root)) if is_ident(root) && !KEYWORDS.contains(&root.as_str()) => {
                Ok(StatePath { segments })
            }
            _ => Err(PathError::Syntax {
                path: display_segments(&segments),
                reason: "a path starts with a name that is not a keyword".into(),
            }),
        }
    }

    /// Parses `text` as a path.
    pub fn parse(text: &str) -> Result<StatePath, PathError> {
        let err = |reason: &str| PathError::Syntax {
            path: text.to_string(),
            reason: reason.to_string(),
        };
        if text.len() > MAX_PATH_LEN {
            return Err(err("longer than 512 bytes"));
        }
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        let mut segments = Vec::new();
        let ident = |i: &mut usize| -> Option<String> {
            if *i < chars.len() && is_ident_start(chars[*i]) {
                let start = *i;
                while *i < chars.len() && is_ident_char(chars[*i]) {
                    *i += 1;
                }
                Some(chars[start..*i].iter().collect())
            } else {
                None
            }
        };
        match ident(&mut i) {
            Some(root) if KEYWORDS.contains(&root.as_str()) => {
                return Err(err(&format!(
                    "`{root}` is a keyword and cannot start a path"
                )))
            }
            Some(root) => segments.push(Segment::Key(root)),
            None if text.is_empty() => return Err(err("empty")),
            None => return Err(err("a path starts with a name ([A-Za-z_][A-Za-z0-9_]*)")),
        }
        while i < chars.len() {
            match chars[i] {
                '.' => {
                    i += 1;
                    match ident(&mut i) {
                        Some(key) => segments.push(Segment::Key(key)),
                        None => return Err(err(&format!("expected a name after `.` at {i}"))),
                    }
                }
                '[' => {
                    i += 1;
                    let start = i;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                    let digits: String = chars[start..i].iter().collect();
                    if digits.is_empty() || i >= chars.len() || chars[i] != ']' {
                        return Err(err("an index is `[` digits `]`"));
                    }
                    i += 1;
                    let n = digits
                        .parse::<usize>()
                        .map_err(|_| err("index too large"))?;
                    segments.push(Segment::Index(n));
                }
                c => return Err(err(&format!("unexpected `{c}` at {i}"))),
            }
        }
        Ok(StatePath { segments })
    }

    /// The path's steps, root first.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The first key (`inputs` in `inputs.x`).
    pub fn root(&self) -> &str {
        match &self.segments[0] {
            Segment::Key(k) => k,
            Segment::Index(_) => unreachable!("a path starts with a key"),
        }
    }

    /// Whether the path can be written (it has no `[n]` index).
    pub fn is_writable(&self) -> bool {
        self.segments.iter().all(|s| matches!(s, Segment::Key(_)))
    }

    /// Whether `self` is a prefix of `other` (segment-wise; a path is a prefix of itself).
    pub fn is_prefix_of(&self, other: &StatePath) -> bool {
        other.segments.starts_with(&self.segments)
    }

    /// Whether one of the two paths is a prefix of the other, so that writing one can
    /// make the other readable.
    pub fn overlaps(&self, other: &StatePath) -> bool {
        self.is_prefix_of(other) || other.is_prefix_of(self)
    }

    /// Reads the value at this path in `state` (`null` when absent; see the module docs).
    pub fn get(&self, state: &Value) -> Result<Value, PathError> {
        let mut current = state;
        for (i, segment) in self.segments.iter().enumerate() {
            let next = match (segment, current) {
                (_, Value::Null) => return Ok(Value::Null),
                (Segment::Key(k), Value::Object(map)) => map.get(k),
                (Segment::Index(n), Value::Array(list)) => list.get(*n),
                (seg, other) => {
                    return Err(PathError::WrongKind {
                        path: self.to_string(),
                        at: display_segments(&self.segments[..i.max(1)]),
                        found: kind_of(other),
                        expected: match seg {
                            Segment::Key(_) => "an object",
                            Segment::Index(_) => "a list",
                        },
                    })
                }
            };
            match next {
                Some(v) => current = v,
                None => return Ok(Value::Null),
            }
        }
        Ok(current.clone())
    }

    /// Writes `value` at this path in `state`, creating missing objects on the way.
    /// `state` itself must be an object (or `null`, which becomes one).
    pub fn set(&self, state: &mut Value, value: Value) -> Result<(), PathError> {
        if !self.is_writable() {
            return Err(PathError::NotWritable {
                path: self.to_string(),
            });
        }
        let keys: Vec<&str> = self
            .segments
            .iter()
            .map(|s| match s {
                Segment::Key(k) => k.as_str(),
                Segment::Index(_) => unreachable!("checked writable"),
            })
            .collect();
        let mut current = state;
        for (i, key) in keys.iter().enumerate() {
            if current.is_null() {
                *current = Value::Object(Map::new());
            }
            let map = match current {
                Value::Object(map) => map,
                other => {
                    return Err(PathError::Blocked {
                        path: self.to_string(),
                        at: if i == 0 {
                            "the state".into()
                        } else {
                            keys[..i].join(".")
                        },
                        found: kind_of(other),
                    })
                }
            };
            if i + 1 == keys.len() {
                map.insert((*key).to_string(), value);
                return Ok(());
            }
            current = map.entry((*key).to_string()).or_insert(Value::Null);
        }
        Ok(())
    }
}

fn display_segments(segments: &[Segment]) -> String {
    let mut out = String::new();
    for (i, s) in segments.iter().enumerate() {
        match s {
            Segment::Key(k) if i == 0 => out.push_str(k),
            Segment::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Segment::Index(n) => {
                out.push('[');
                out.push_str(&n.to_string());
                out.push(']');
            }
        }
    }
    out
}

impl fmt::Display for StatePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&display_segments(&self.segments))
    }
}

impl std::str::FromStr for StatePath {
    type Err = PathError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StatePath::parse(s)
    }
}

impl Serialize for StatePath {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for StatePath {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        StatePath::parse(&text).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> StatePath {
        StatePath::parse(s).unwrap()
    }

    #[test]
    fn parses_and_displays() {
        for s in ["inputs", "inputs.x", "a[0].b[12]", "x.in", "_a.b_2"] {
            assert_eq!(p(s).to_string(), s);
        }
        assert_eq!(
            p("a[1].b").segments(),
            &[
                Segment::Key("a".into()),
                Segment::Index(1),
                Segment::Key("b".into())
            ]
        );
    }

    #[test]
    fn rejects_bad_paths() {
        for s in [
            "", "1a", "a.", "a..b", "a[", "a[]", "a[x]", "a[-1]", "$.a", "a b", "true", "in.x",
            "a.0", ".a",
        ] {
            assert!(StatePath::parse(s).is_err(), "{s:?} should not parse");
        }
    }

    #[test]
    fn reads_with_null_for_missing() {
        let state = json!({"a": {"b": [1, {"c": 2}]}, "n": null, "x": 5});
        assert_eq!(p("a.b[1].c").get(&state).unwrap(), json!(2));
        assert_eq!(p("a.b[9]").get(&state).unwrap(), Value::Null);
        assert_eq!(p("a.zz.y").get(&state).unwrap(), Value::Null);
        assert_eq!(p("n.y[3]").get(&state).unwrap(), Value::Null);
        assert!(p("x.y").get(&state).is_err());
        assert!(p("a[0]").get(&state).is_err());
    }

    #[test]
    fn writes_creating_objects() {
        let mut state = json!({"inputs": {}});
        p("a.b.c").set(&mut state, json!(1)).unwrap();
        p("a.d").set(&mut state, json!("x")).unwrap();
        assert_eq!(state, json!({"inputs": {}, "a": {"b": {"c": 1}, "d": "x"}}));
        assert!(p("a.d.e").set(&mut state, json!(0)).is_err());
        assert!(p("a[0]").set(&mut state, json!(0)).is_err());
    }

    #[test]
    fn prefixes() {
        assert!(p("a").is_prefix_of(&p("a.b")));
        assert!(!p("a.b").is_prefix_of(&p("a")));
        assert!(p("a.b").overlaps(&p("a")));
        assert!(!p("a.b").overlaps(&p("a.c")));
    }
}
