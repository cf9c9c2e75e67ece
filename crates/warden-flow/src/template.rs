//! String templates: text with `{{ expression }}` placeholders, used for URLs, headers and
//! model messages.
//!
//! Each placeholder holds an expression ([`crate::expr`]); rendering replaces it with the
//! value: a string as is, anything else as compact JSON ([`crate::expr::to_json`]) — the
//! same text `str()` gives. `{{` always opens a placeholder and must be closed by `}}`;
//! there is no escape for a literal `{{`. A lone `}}` outside a placeholder is plain text.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::expr::{self, Expr, ExprError, ParseError};
use crate::path::StatePath;

/// A template's source text. Parsing happens in [`Template::parse`] (and in validation),
/// so that a bad placeholder is reported as `bad_expression`, not as bad config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(pub String);

/// A piece of a parsed template.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    Expr(Expr),
}

impl Template {
    /// Splits the text into literal parts and parsed placeholders. Error columns count
    /// from the start of the template.
    pub fn parse(&self) -> Result<Vec<Part>, ParseError> {
        let src = &self.0;
        let mut parts = Vec::new();
        let mut rest = src.as_str();
        let mut consumed_chars = 0;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let open_col = consumed_chars + rest[..open].chars().count();
            let inner_start = open + 2;
            let Some(close) = rest[inner_start..].find("}}") else {
                return Err(ParseError {
                    column: open_col + 1,
                    message: "`{{` without a closing `}}`".into(),
                });
            };
            let inner = &rest[inner_start..inner_start + close];
            let parsed = expr::parse(inner).map_err(|e| ParseError {
                column: open_col + 2 + e.column,
                message: e.message,
            })?;
            parts.push(Part::Expr(parsed));
            let end = inner_start + close + 2;
            consumed_chars += rest[..end].chars().count();
            rest = &rest[end..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(parts)
    }

    /// Renders the template against the run state.
    pub fn render(&self, state: &Value) -> Result<String, TemplateError> {
        render_parts(&self.parse()?, state).map_err(TemplateError::Eval)
    }
}

/// Renders already-parsed parts.
pub fn render_parts(parts: &[Part], state: &Value) -> Result<String, ExprError> {
    let mut out = String::new();
    for part in parts {
        match part {
            Part::Text(t) => out.push_str(t),
            Part::Expr(e) => match expr::eval(e, state)? {
                Value::String(s) => out.push_str(&s),
                other => out.push_str(&expr::to_json(&other)),
            },
        }
    }
    Ok(out)
}

/// The state paths the placeholders of parsed parts read.
pub fn parts_paths(parts: &[Part]) -> Vec<&StatePath> {
    parts
        .iter()
        .flat_map(|p| match p {
            Part::Text(_) => Vec::new(),
            Part::Expr(e) => e.paths(),
        })
        .collect()
}

/// Why a template could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Eval(ExprError),
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Template {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Template {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Template)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_placeholders() {
        let state = json!({"user": {"name": "Ada", "tags": ["a", 1]}, "n": 2.0});
        let t = Template("Hi {{ user.name }}, {{user.tags}} x{{ n * 2 }}}} {{ 'é' }}".into());
        assert_eq!(t.render(&state).unwrap(), r#"Hi Ada, ["a",1] x4.0}} é"#);
        assert_eq!(Template("plain".into()).render(&state).unwrap(), "plain");
        let paths: Vec<String> = t
            .parse()
            .unwrap()
            .iter()
            .flat_map(|p| match p {
                Part::Expr(e) => e.paths().iter().map(|p| p.to_string()).collect(),
                Part::Text(_) => vec![],
            })
            .collect();
        assert_eq!(paths, ["user.name", "user.tags", "n"]);
    }

    #[test]
    fn reports_columns_in_the_template() {
        let e = Template("ab {{ 1 + }}".into()).parse().unwrap_err();
        assert_eq!(e.column, 11, "{e}");
        let e = Template("é {{ x".into()).parse().unwrap_err();
        assert_eq!(e.column, 3, "{e}");
        assert!(Template("{{ 1 / 0 }}".into()).render(&json!({})).is_err());
    }
}
