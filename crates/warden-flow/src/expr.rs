//! The safe expression language of workflows: conditions, loop tests, `variable` values.
//!
//! An expression is parsed once ([`parse`]) to an [`Expr`] and evaluated against the run
//! state ([`eval`]). It has no side effects, cannot loop, and is bounded: at most
//! [`MAX_SOURCE_LEN`] bytes of source and [`MAX_DEPTH`] levels of nesting, so its cost is
//! bounded by its size and the size of the values it reads. A later compiler turns these
//! expressions into Python; every rule below is chosen so that Python can mirror it
//! exactly (through small helper functions, never through Python's own coercions).
//!
//! # Syntax (lowest precedence first)
//!
//! ```text
//! expr       := or_expr [ "if" or_expr "else" expr ]        conditional, as in Python
//! or_expr    := and_expr ( "or" and_expr )*
//! and_expr   := not_expr ( "and" not_expr )*
//! not_expr   := "not" not_expr | comparison
//! comparison := sum [ op sum ]     op: == != < <= > >= in, not in   (never chained)
//! sum        := term ( ("+" | "-") term )*
//! term       := unary ( ("*" | "/" | "%") unary )*
//! unary      := "-" unary | primary
//! primary    := INT | FLOAT | STRING | true | false | null
//!             | "[" [ expr ("," expr)* [","] ] "]" | "(" expr ")"
//!             | FUNC "(" [ expr ("," expr)* ] ")" | PATH
//! ```
//!
//! - `INT` is decimal digits (`0`, `42`; no sign — `-` is the unary operator; at most
//!   `9223372036854775807`). `FLOAT` has a fraction and/or an exponent: `1.5`, `2e3`,
//!   `1.0e-2` (digits on both sides of the point).
//! - `STRING` is in `"…"` or `'…'` with escapes `\\ \" \' \n \r \t \uXXXX` (no surrogates).
//! - `PATH` is a state path (`inputs.items[0].name`, see [`crate::path`]). Indexes are
//!   literal: `items[i]` is not allowed. A name followed by `(` is a function call.
//! - Comparisons do not chain: `a < b < c` is a parse error (write `a < b and b < c`).
//!
//! # Values and semantics
//!
//! Values are JSON values. Numbers are either **integers** (64-bit signed; a JSON number
//! without fraction or exponent that fits) or **floats** (64-bit IEEE, always finite).
//! Booleans are not numbers. A JSON integer beyond the 64-bit range is an error when read.
//!
//! - **Paths** read the state as [`crate::path::StatePath::get`] does: missing keys, indexes
//!   past the end and steps into `null` give `null`; a step into a value of the wrong kind
//!   is an error.
//! - **Truthiness** (for `and`, `or`, `not`, `… if c else …`, and wherever a workflow tests
//!   a condition): `false`, `null`, `0`, `0.0`, `""`, `[]` and `{}` are false; every other
//!   value is true. This is Python's rule for the same values.
//! - `and`, `or`, `not` always give a **boolean** (not one of their operands, unlike
//!   Python). `and` and `or` short-circuit: the right side is not evaluated (and its errors
//!   do not happen) when the left side decides.
//! - `a if c else b` evaluates `c`, then only the chosen side.
//! - **Arithmetic** `+ - * %` on two integers gives an integer; overflow of the 64-bit
//!   range is an error. With at least one float, the integer is converted to the nearest
//!   float first and the result is a float. `/` always converts both sides to floats first
//!   and gives a float (`7 / 2 == 3.5`, `4 / 2 == 2.0`). Division or remainder by zero
//!   (`0` or `0.0`) is an error. `%` takes the sign of the divisor, as Python does
//!   (`-7 % 3 == 2`, `7 % -3 == -2`, `-7.5 % 2 == 0.5`). A float result that is not finite
//!   (overflow) is an error. Unary `-` negates a number (`-(-9223372036854775808)` is
//!   an overflow error).
//! - `+` also **concatenates** two strings or two lists. Any other combination of types
//!   (`"a" + 1`, `true + 1`, `null + 1`) is an error; convert with `str()` or `int()`.
//! - `==` and `!=` compare any two values structurally and never fail. Numbers compare by
//!   mathematical value across integer and float (`1 == 1.0`, exact even beyond 2^53);
//!   values of different types are unequal (`1 != true`, `"1" != 1`, `null != false`);
//!   lists compare element-wise, objects by their keys and values.
//! - `< <= > >=` compare two numbers (exactly, across integer and float) or two strings
//!   (by Unicode code points). Any other pair (mixed types, booleans, null, lists,
//!   objects) is an error.
//! - `x in y`: if `y` is a list, whether some element `== x`; if `y` is a string, `x` must
//!   be a string and the test is for a substring; if `y` is an object, `x` must be a string
//!   and the test is for a key. Anything else is an error. `x not in y` is `not (x in y)`.
//!
//! # Functions
//!
//! | function | meaning |
//! |---|---|
//! | `len(x)` | the number of characters (Unicode code points) of a string, elements of a list, keys of an object |
//! | `lower(s)`, `upper(s)` | Unicode case mapping of a string |
//! | `contains(y, x)` | the same as `x in y` |
//! | `startswith(s, p)`, `endswith(s, p)` | prefix and suffix tests on two strings |
//! | `int(x)` | integer: an integer as is; a float truncated toward zero (must fit 64 bits); a string of optional sign and ASCII digits only (`"42"`, `"-7"`; no spaces, no `_`) |
//! | `float(x)` | float: from an integer or float; or a string `[+-]?(d+[.d*]\|.d+)([eE][+-]?d+)?` with ASCII digits that gives a finite float |
//! | `str(x)` | a string as is; anything else as compact JSON ([`to_json`]) |
//! | `keys(o)` | the keys of an object, sorted by code point |
//!
//! Booleans and `null` are refused by `int` and `float`. Calling a function with the wrong
//! kind of value is an error; an unknown function or a wrong number of arguments is a
//! parse error.
//!
//! `str()` and templates write values as compact JSON: no spaces (`[1,"a"]`,
//! `{"a":1}`), object keys sorted, strings escaped as JSON does (non-ASCII kept as is),
//! floats as Python's `repr` writes them (`2.0`, `0.1`, `1e+16`, `1e-05`). Python's
//! `json.dumps(v, separators=(",", ":"), ensure_ascii=False, sort_keys=True)` produces
//! the same text.

use std::cmp::Ordering;
use std::fmt;

use serde_json::{Map, Number, Value};

use crate::path::{is_ident_char, is_ident_start, kind_of, PathError, Segment, StatePath};

/// The longest expression accepted, in bytes.
pub const MAX_SOURCE_LEN: usize = 4096;
/// The deepest nesting accepted (parentheses, operators, lists, calls).
pub const MAX_DEPTH: usize = 32;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `null`, `true`, `false`, a number or a string.
    Literal(Value),
    /// `[a, b, …]`.
    List(Vec<Expr>),
    /// A state path.
    Path(StatePath),
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    /// `then if cond else otherwise`.
    IfElse {
        cond: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    Call {
        func: Func,
        args: Vec<Expr>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Not,
    Neg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl BinaryOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::In => "in",
            BinaryOp::NotIn => "not in",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
        }
    }
}

/// The built-in functions (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Len,
    Lower,
    Upper,
    Contains,
    StartsWith,
    EndsWith,
    Int,
    Float,
    Str,
    Keys,
}

impl Func {
    /// Every function, for documentation and tests.
    pub const ALL: [Func; 10] = [
        Func::Len,
        Func::Lower,
        Func::Upper,
        Func::Contains,
        Func::StartsWith,
        Func::EndsWith,
        Func::Int,
        Func::Float,
        Func::Str,
        Func::Keys,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Func::Len => "len",
            Func::Lower => "lower",
            Func::Upper => "upper",
            Func::Contains => "contains",
            Func::StartsWith => "startswith",
            Func::EndsWith => "endswith",
            Func::Int => "int",
            Func::Float => "float",
            Func::Str => "str",
            Func::Keys => "keys",
        }
    }

    pub fn arity(self) -> usize {
        match self {
            Func::Contains | Func::StartsWith | Func::EndsWith => 2,
            _ => 1,
        }
    }

    fn from_name(name: &str) -> Option<Func> {
        Func::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// An expression that does not parse, with the column where the problem is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at column {column}")]
pub struct ParseError {
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
}

/// An expression that failed while evaluating.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    /// Operands or arguments of kinds the operation does not accept.
    #[error("{0}")]
    Type(String),
    #[error("division by zero")]
    DivisionByZero,
    /// An integer result beyond 64 bits, or a float result that is not finite.
    #[error("number out of range in `{0}`")]
    Overflow(&'static str),
    /// A conversion (`int`, `float`) of a value that does not convert.
    #[error("{0}")]
    Conversion(String),
    #[error(transparent)]
    Path(#[from] PathError),
}

// ---------------------------------------------------------------- lexing

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Int(i64),
    Float(f64),
    Str(String),
    Name(String),
    Sym(&'static str),
    Eof,
}

struct Token {
    tok: Tok,
    /// 0-based character offset.
    at: usize,
}

fn lex(src: &str) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<char> = src.chars().collect();
    let err = |at: usize, message: String| ParseError {
        column: at + 1,
        message,
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() {
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let mut is_float = false;
            if i + 1 < chars.len() && chars[i] == '.' && chars[i + 1].is_ascii_digit() {
                is_float = true;
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
            }
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                let mut j = i + 1;
                if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
                    j += 1;
                }
                if j < chars.len() && chars[j].is_ascii_digit() {
                    is_float = true;
                    i = j;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                } else {
                    return Err(err(i, "malformed exponent".into()));
                }
            }
            if i < chars.len() && is_ident_start(chars[i]) {
                return Err(err(i, format!("unexpected `{}` after a number", chars[i])));
            }
            let text: String = chars[start..i].iter().collect();
            let tok = if is_float {
                match text.parse::<f64>() {
                    Ok(f) if f.is_finite() => Tok::Float(f),
                    _ => return Err(err(start, format!("float `{text}` is out of range"))),
                }
            } else {
                match text.parse::<i64>() {
                    Ok(n) => Tok::Int(n),
                    Err(_) => return Err(err(start, format!("integer `{text}` is out of range"))),
                }
            };
            out.push(Token { tok, at: start });
            continue;
        }
        if is_ident_start(c) {
            while i < chars.len() && is_ident_char(chars[i]) {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Name(chars[start..i].iter().collect()),
                at: start,
            });
            continue;
        }
        if c == '"' || c == '\'' {
            i += 1;
            let mut s = String::new();
            loop {
                let Some(&d) = chars.get(i) else {
                    return Err(err(start, "unterminated string".into()));
                };
                i += 1;
                if d == c {
                    break;
                }
                if d != '\\' {
                    s.push(d);
                    continue;
                }
                let Some(&e) = chars.get(i) else {
                    return Err(err(start, "unterminated string".into()));
                };
                i += 1;
                match e {
                    '\\' => s.push('\\'),
                    '"' => s.push('"'),
                    '\'' => s.push('\''),
                    'n' => s.push('\n'),
                    'r' => s.push('\r'),
                    't' => s.push('\t'),
                    'u' => {
                        let hex: String = chars.iter().skip(i).take(4).collect();
                        let code = (hex.len() == 4 && hex.chars().all(|h| h.is_ascii_hexdigit()))
                            .then(|| u32::from_str_radix(&hex, 16).ok())
                            .flatten()
                            .and_then(char::from_u32);
                        match code {
                            Some(ch) => s.push(ch),
                            None => {
                                return Err(err(
                                    i - 2,
                                    "`\\u` needs 4 hex digits of a non-surrogate code point".into(),
                                ))
                            }
                        }
                        i += 4;
                    }
                    other => return Err(err(i - 2, format!("unknown escape `\\{other}`"))),
                }
            }
            out.push(Token {
                tok: Tok::Str(s),
                at: start,
            });
            continue;
        }
        let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
        let sym = match two.as_str() {
            "==" => Some("=="),
            "!=" => Some("!="),
            "<=" => Some("<="),
            ">=" => Some(">="),
            _ => None,
        };
        if let Some(sym) = sym {
            out.push(Token {
                tok: Tok::Sym(sym),
                at: start,
            });
            i += 2;
            continue;
        }
        let sym = match c {
            '<' => "<",
            '>' => ">",
            '+' => "+",
            '-' => "-",
            '*' => "*",
            '/' => "/",
            '%' => "%",
            '(' => "(",
            ')' => ")",
            '[' => "[",
            ']' => "]",
            ',' => ",",
            '.' => ".",
            '=' => return Err(err(start, "unexpected `=` (comparison is `==`)".into())),
            '!' => return Err(err(start, "unexpected `!` (negation is `not`)".into())),
            '&' | '|' => return Err(err(start, format!("unexpected `{c}` (use `and` / `or`)"))),
            other => return Err(err(start, format!("unexpected character `{other}`"))),
        };
        out.push(Token {
            tok: Tok::Sym(sym),
            at: start,
        });
        i += 1;
    }
    out.push(Token {
        tok: Tok::Eof,
        at: chars.len(),
    });
    Ok(out)
}

// ---------------------------------------------------------------- parsing

/// Parses an expression.
pub fn parse(src: &str) -> Result<Expr, ParseError> {
    if src.len() > MAX_SOURCE_LEN {
        return Err(ParseError {
            column: 1,
            message: format!("expression longer than {MAX_SOURCE_LEN} bytes"),
        });
    }
    let tokens = lex(src)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        depth: 0,
    };
    if p.peek() == &Tok::Eof {
        return Err(p.error_here("empty expression"));
    }
    let expr = p.expr()?;
    if p.peek() != &Tok::Eof {
        return Err(p.error_here(&format!("unexpected {}", describe(p.peek()))));
    }
    if expr.depth() > MAX_DEPTH {
        return Err(ParseError {
            column: 1,
            message: format!("nested deeper than {MAX_DEPTH} levels"),
        });
    }
    Ok(expr)
}

impl std::str::FromStr for Expr {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Int(n) => format!("number `{n}`"),
        Tok::Float(f) => format!("number `{f}`"),
        Tok::Str(_) => "string".into(),
        Tok::Name(n) => format!("`{n}`"),
        Tok::Sym(s) => format!("`{s}`"),
        Tok::Eof => "end of expression".into(),
    }
}

fn is_keyword(name: &str) -> bool {
    crate::path::KEYWORDS.contains(&name)
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.tokens[self.pos].tok
    }

    fn peek_at(&self, n: usize) -> &Tok {
        &self.tokens[(self.pos + n).min(self.tokens.len() - 1)].tok
    }

    fn at(&self) -> usize {
        self.tokens[self.pos].at
    }

    fn bump(&mut self) -> Tok {
        let tok = self.tokens[self.pos].tok.clone();
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
        tok
    }

    fn error_here(&self, message: &str) -> ParseError {
        ParseError {
            column: self.at() + 1,
            message: message.to_string(),
        }
    }

    fn is_name(&self, name: &str) -> bool {
        matches!(self.peek(), Tok::Name(n) if n == name)
    }

    fn is_sym(&self, sym: &str) -> bool {
        matches!(self.peek(), Tok::Sym(s) if *s == sym)
    }

    fn expect_sym(&mut self, sym: &str) -> Result<(), ParseError> {
        if self.is_sym(sym) {
            self.bump();
            Ok(())
        } else {
            Err(self.error_here(&format!(
                "expected `{sym}`, found {}",
                describe(self.peek())
            )))
        }
    }

    /// Bounds the parser's own recursion; the tree's depth is checked after parsing.
    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > 2 * MAX_DEPTH {
            return Err(self.error_here(&format!("nested deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        self.enter()?;
        let then = self.or_expr()?;
        let result = if self.is_name("if") {
            self.bump();
            let cond = self.or_expr()?;
            if !self.is_name("else") {
                return Err(self.error_here("expected `else` after `… if condition`"));
            }
            self.bump();
            let otherwise = self.expr()?;
            Expr::IfElse {
                cond: Box::new(cond),
                then: Box::new(then),
                otherwise: Box::new(otherwise),
            }
        } else {
            then
        };
        self.depth -= 1;
        Ok(result)
    }

    fn or_expr(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.and_expr()?;
        while self.is_name("or") {
            self.bump();
            let right = self.and_expr()?;
            left = binary(BinaryOp::Or, left, right);
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.not_expr()?;
        while self.is_name("and") {
            self.bump();
            let right = self.not_expr()?;
            left = binary(BinaryOp::And, left, right);
        }
        Ok(left)
    }

    fn not_expr(&mut self) -> Result<Expr, ParseError> {
        if self.is_name("not") {
            self.bump();
            self.enter()?;
            let operand = self.not_expr()?;
            self.depth -= 1;
            return Ok(Expr::Unary {
                op: UnaryOp::Not,
                operand: Box::new(operand),
            });
        }
        self.comparison()
    }

    fn comparison_op(&self) -> Option<(BinaryOp, usize)> {
        let op = match self.peek() {
            Tok::Sym("==") => BinaryOp::Eq,
            Tok::Sym("!=") => BinaryOp::Ne,
            Tok::Sym("<") => BinaryOp::Lt,
            Tok::Sym("<=") => BinaryOp::Le,
            Tok::Sym(">") => BinaryOp::Gt,
            Tok::Sym(">=") => BinaryOp::Ge,
            Tok::Name(n) if n == "in" => BinaryOp::In,
            Tok::Name(n) if n == "not" && matches!(self.peek_at(1), Tok::Name(m) if m == "in") => {
                return Some((BinaryOp::NotIn, 2))
            }
            _ => return None,
        };
        Some((op, 1))
    }

    fn comparison(&mut self) -> Result<Expr, ParseError> {
        let left = self.sum()?;
        let Some((op, n)) = self.comparison_op() else {
            return Ok(left);
        };
        for _ in 0..n {
            self.bump();
        }
        let right = self.sum()?;
        if self.comparison_op().is_some() {
            return Err(self.error_here(
                "comparisons cannot be chained; join them with `and` (a < b and b < c)",
            ));
        }
        Ok(binary(op, left, right))
    }

    fn sum(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.term()?;
        loop {
            let op = match self.peek() {
                Tok::Sym("+") => BinaryOp::Add,
                Tok::Sym("-") => BinaryOp::Sub,
                _ => return Ok(left),
            };
            self.bump();
            let right = self.term()?;
            left = binary(op, left, right);
        }
    }

    fn term(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Sym("*") => BinaryOp::Mul,
                Tok::Sym("/") => BinaryOp::Div,
                Tok::Sym("%") => BinaryOp::Rem,
                _ => return Ok(left),
            };
            self.bump();
            let right = self.unary()?;
            left = binary(op, left, right);
        }
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        if self.is_sym("-") {
            self.bump();
            self.enter()?;
            let operand = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Unary {
                op: UnaryOp::Neg,
                operand: Box::new(operand),
            });
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let at = self.at();
        match self.bump() {
            Tok::Int(n) => Ok(Expr::Literal(Value::from(n))),
            Tok::Float(f) => Ok(Expr::Literal(float_value(f))),
            Tok::Str(s) => Ok(Expr::Literal(Value::String(s))),
            Tok::Sym("(") => {
                let inner = self.expr()?;
                self.expect_sym(")")?;
                Ok(inner)
            }
            Tok::Sym("[") => {
                self.enter()?;
                let mut items = Vec::new();
                while !self.is_sym("]") {
                    items.push(self.expr()?);
                    if self.is_sym(",") {
                        self.bump();
                    } else if !self.is_sym("]") {
                        return Err(self.error_here(&format!(
                            "expected `,` or `]`, found {}",
                            describe(self.peek())
                        )));
                    }
                }
                self.bump();
                self.depth -= 1;
                Ok(Expr::List(items))
            }
            Tok::Name(name) => match name.as_str() {
                "true" => Ok(Expr::Literal(Value::Bool(true))),
                "false" => Ok(Expr::Literal(Value::Bool(false))),
                "null" => Ok(Expr::Literal(Value::Null)),
                _ if is_keyword(&name) => Err(ParseError {
                    column: at + 1,
                    message: format!("unexpected `{name}`"),
                }),
                _ if self.is_sym("(") => self.call(&name, at),
                _ => self.path(name),
            },
            tok => Err(ParseError {
                column: at + 1,
                message: format!("unexpected {}", describe(&tok)),
            }),
        }
    }

    fn call(&mut self, name: &str, at: usize) -> Result<Expr, ParseError> {
        let Some(func) = Func::from_name(name) else {
            let known: Vec<&str> = Func::ALL.iter().map(|f| f.name()).collect();
            return Err(ParseError {
                column: at + 1,
                message: format!("unknown function `{name}` (known: {})", known.join(", ")),
            });
        };
        self.bump(); // (
        self.enter()?;
        let mut args = Vec::new();
        while !self.is_sym(")") {
            args.push(self.expr()?);
            if self.is_sym(",") {
                self.bump();
                if self.is_sym(")") {
                    return Err(self.error_here("expected an argument after `,`"));
                }
            } else if !self.is_sym(")") {
                return Err(self.error_here(&format!(
                    "expected `,` or `)`, found {}",
                    describe(self.peek())
                )));
            }
        }
        self.bump();
        self.depth -= 1;
        if args.len() != func.arity() {
            return Err(ParseError {
                column: at + 1,
                message: format!(
                    "`{name}` takes {} argument{}, not {}",
                    func.arity(),
                    if func.arity() == 1 { "" } else { "s" },
                    args.len()
                ),
            });
        }
        Ok(Expr::Call { func, args })
    }

    fn path(&mut self, root: String) -> Result<Expr, ParseError> {
        let mut segments = vec![Segment::Key(root)];
        loop {
            if self.is_sym(".") {
                self.bump();
                let Tok::Name(key) = self.peek().clone() else {
                    return Err(self.error_here("expected a name after `.`"));
                };
                self.bump();
                segments.push(Segment::Key(key));
            } else if self.is_sym("[") {
                self.bump();
                let index = match self.peek() {
                    Tok::Int(n) => usize::try_from(*n).ok(),
                    _ => None,
                };
                let Some(index) = index else {
                    return Err(self.error_here(
                        "a path index is a literal non-negative integer, such as `items[0]`",
                    ));
                };
                self.bump();
                self.expect_sym("]")?;
                segments.push(Segment::Index(index));
            } else {
                break;
            }
        }
        let path =
            StatePath::from_segments(segments).map_err(|e| self.error_here(&e.to_string()))?;
        Ok(Expr::Path(path))
    }
}

fn binary(op: BinaryOp, left: Expr, right: Expr) -> Expr {
    Expr::Binary {
        op,
        left: Box::new(left),
        right: Box::new(right),
    }
}

fn float_value(f: f64) -> Value {
    Value::Number(Number::from_f64(f).expect("finite floats only"))
}

impl Expr {
    /// The depth of the tree: 1 for a literal or a path, one more than the deepest operand
    /// for anything else. Bounded by [`MAX_DEPTH`] so that the compiled form nests as
    /// little (`a + b + c` is two levels below the outer `+`).
    pub fn depth(&self) -> usize {
        1 + match self {
            Expr::Literal(_) | Expr::Path(_) => 0,
            Expr::List(items) | Expr::Call { args: items, .. } => {
                items.iter().map(Expr::depth).max().unwrap_or(0)
            }
            Expr::Unary { operand, .. } => operand.depth(),
            Expr::Binary { left, right, .. } => left.depth().max(right.depth()),
            Expr::IfElse {
                cond,
                then,
                otherwise,
            } => cond.depth().max(then.depth()).max(otherwise.depth()),
        }
    }

    /// The state paths this expression reads, in source order (repeats included).
    pub fn paths(&self) -> Vec<&StatePath> {
        let mut out = Vec::new();
        self.collect_paths(&mut out);
        out
    }

    fn collect_paths<'a>(&'a self, out: &mut Vec<&'a StatePath>) {
        match self {
            Expr::Literal(_) => {}
            Expr::Path(p) => out.push(p),
            Expr::List(items) | Expr::Call { args: items, .. } => {
                items.iter().for_each(|e| e.collect_paths(out))
            }
            Expr::Unary { operand, .. } => operand.collect_paths(out),
            Expr::Binary { left, right, .. } => {
                left.collect_paths(out);
                right.collect_paths(out);
            }
            Expr::IfElse {
                cond,
                then,
                otherwise,
            } => {
                then.collect_paths(out);
                cond.collect_paths(out);
                otherwise.collect_paths(out);
            }
        }
    }
}

// ---------------------------------------------------------------- evaluation

/// Evaluates `expr` against the run state.
pub fn eval(expr: &Expr, state: &Value) -> Result<Value, ExprError> {
    match expr {
        Expr::Literal(v) => Ok(v.clone()),
        Expr::Path(p) => {
            let v = p.get(state)?;
            check_number(&v)?;
            Ok(v)
        }
        Expr::List(items) => items
            .iter()
            .map(|e| eval(e, state))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Expr::Unary { op, operand } => {
            let v = eval(operand, state)?;
            match op {
                UnaryOp::Not => Ok(Value::Bool(!truthy(&v))),
                UnaryOp::Neg => match num(&v)? {
                    Some(Num::Int(n)) => n
                        .checked_neg()
                        .map(Value::from)
                        .ok_or(ExprError::Overflow("-")),
                    Some(Num::Float(f)) => Ok(float_value(-f)),
                    None => Err(ExprError::Type(format!("cannot negate {}", kind_of(&v)))),
                },
            }
        }
        Expr::Binary {
            op: BinaryOp::And,
            left,
            right,
        } => Ok(Value::Bool(
            truthy(&eval(left, state)?) && truthy(&eval(right, state)?),
        )),
        Expr::Binary {
            op: BinaryOp::Or,
            left,
            right,
        } => Ok(Value::Bool(
            truthy(&eval(left, state)?) || truthy(&eval(right, state)?),
        )),
        Expr::Binary { op, left, right } => {
            let a = eval(left, state)?;
            let b = eval(right, state)?;
            binary_op(*op, &a, &b)
        }
        Expr::IfElse {
            cond,
            then,
            otherwise,
        } => {
            if truthy(&eval(cond, state)?) {
                eval(then, state)
            } else {
                eval(otherwise, state)
            }
        }
        Expr::Call { func, args } => {
            let args = args
                .iter()
                .map(|e| eval(e, state))
                .collect::<Result<Vec<_>, _>>()?;
            call(*func, &args)
        }
    }
}

/// Parses and evaluates in one step.
pub fn eval_str(src: &str, state: &Value) -> Result<Value, EvalStrError> {
    let expr = parse(src)?;
    Ok(eval(&expr, state)?)
}

/// The error of [`eval_str`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalStrError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Eval(#[from] ExprError),
}

/// The truth of a value (see the module docs).
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => match n.as_i64() {
            Some(i) => i != 0,
            None => n.as_f64().is_some_and(|f| f != 0.0),
        },
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

#[derive(Debug, Clone, Copy)]
enum Num {
    Int(i64),
    Float(f64),
}

/// Refuses JSON integers beyond the 64-bit signed range, anywhere in a value read.
fn check_number(v: &Value) -> Result<(), ExprError> {
    match v {
        Value::Number(n) if n.as_i64().is_none() && !n.is_f64() => Err(ExprError::Overflow(
            "an integer in the state beyond the 64-bit range",
        )),
        Value::Array(items) => items.iter().try_for_each(check_number),
        Value::Object(map) => map.values().try_for_each(check_number),
        _ => Ok(()),
    }
}

fn num(v: &Value) -> Result<Option<Num>, ExprError> {
    let Value::Number(n) = v else {
        return Ok(None);
    };
    if let Some(i) = n.as_i64() {
        return Ok(Some(Num::Int(i)));
    }
    if n.is_f64() {
        return Ok(n.as_f64().map(Num::Float));
    }
    Err(ExprError::Overflow("an integer beyond the 64-bit range"))
}

fn finite(f: f64, op: &'static str) -> Result<Value, ExprError> {
    if f.is_finite() {
        Ok(float_value(f))
    } else {
        Err(ExprError::Overflow(op))
    }
}

/// Python's float `%`: the result takes the divisor's sign.
fn py_float_rem(a: f64, b: f64) -> f64 {
    let m = a % b;
    if m != 0.0 {
        if (b < 0.0) != (m < 0.0) {
            m + b
        } else {
            m
        }
    } else {
        0.0_f64.copysign(b)
    }
}

/// Python's integer `%` (`b != 0`).
fn py_int_rem(a: i64, b: i64) -> i64 {
    if b == -1 {
        return 0; // also avoids i64::MIN % -1 overflowing
    }
    let m = a % b;
    if m != 0 && ((m < 0) != (b < 0)) {
        m + b
    } else {
        m
    }
}

/// Exact comparison of an integer with a finite float.
fn cmp_int_float(i: i64, f: f64) -> Ordering {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if f >= TWO_63 {
        return Ordering::Less;
    }
    if f < -TWO_63 {
        return Ordering::Greater;
    }
    let t = f.trunc();
    // `t` is integral and within the i64 range, so the conversion is exact.
    match i.cmp(&(t as i64)) {
        Ordering::Equal => {
            let frac = f - t;
            if frac > 0.0 {
                Ordering::Less
            } else if frac < 0.0 {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        }
        other => other,
    }
}

fn cmp_nums(a: Num, b: Num) -> Ordering {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => x.cmp(&y),
        (Num::Int(x), Num::Float(y)) => cmp_int_float(x, y),
        (Num::Float(x), Num::Int(y)) => cmp_int_float(y, x).reverse(),
        (Num::Float(x), Num::Float(y)) => x.partial_cmp(&y).expect("finite floats"),
    }
}

/// Structural equality (see the module docs): numbers by value, other types never equal.
pub fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => match (num(a), num(b)) {
            (Ok(Some(x)), Ok(Some(y))) => cmp_nums(x, y) == Ordering::Equal,
            _ => a == b,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| values_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        _ => a == b,
    }
}

fn type_error(op: BinaryOp, a: &Value, b: &Value) -> ExprError {
    ExprError::Type(format!(
        "`{}` does not apply to {} and {}",
        op.symbol(),
        kind_of(a),
        kind_of(b)
    ))
}

fn binary_op(op: BinaryOp, a: &Value, b: &Value) -> Result<Value, ExprError> {
    match op {
        BinaryOp::Eq => return Ok(Value::Bool(values_equal(a, b))),
        BinaryOp::Ne => return Ok(Value::Bool(!values_equal(a, b))),
        BinaryOp::In => return contains(b, a).map(Value::Bool),
        BinaryOp::NotIn => return contains(b, a).map(|c| Value::Bool(!c)),
        BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
            let ord = match (a, b) {
                (Value::String(x), Value::String(y)) => x.cmp(y),
                _ => match (num(a)?, num(b)?) {
                    (Some(x), Some(y)) => cmp_nums(x, y),
                    _ => return Err(type_error(op, a, b)),
                },
            };
            let result = match op {
                BinaryOp::Lt => ord == Ordering::Less,
                BinaryOp::Le => ord != Ordering::Greater,
                BinaryOp::Gt => ord == Ordering::Greater,
                _ => ord != Ordering::Less,
            };
            return Ok(Value::Bool(result));
        }
        BinaryOp::Add => match (a, b) {
            (Value::String(x), Value::String(y)) => return Ok(Value::String(format!("{x}{y}"))),
            (Value::Array(x), Value::Array(y)) => {
                return Ok(Value::Array(x.iter().chain(y).cloned().collect()))
            }
            _ => {}
        },
        _ => {}
    }
    let (Some(x), Some(y)) = (num(a)?, num(b)?) else {
        return Err(type_error(op, a, b));
    };
    let sym = op.symbol();
    match (x, y) {
        (Num::Int(x), Num::Int(y)) if op != BinaryOp::Div => {
            let r = match op {
                BinaryOp::Add => x.checked_add(y),
                BinaryOp::Sub => x.checked_sub(y),
                BinaryOp::Mul => x.checked_mul(y),
                BinaryOp::Rem if y == 0 => return Err(ExprError::DivisionByZero),
                BinaryOp::Rem => Some(py_int_rem(x, y)),
                _ => unreachable!("arithmetic operators only"),
            };
            r.map(Value::from).ok_or(ExprError::Overflow(sym))
        }
        _ => {
            let as_f = |n: Num| match n {
                Num::Int(i) => i as f64,
                Num::Float(f) => f,
            };
            let (x, y) = (as_f(x), as_f(y));
            let r = match op {
                BinaryOp::Add => x + y,
                BinaryOp::Sub => x - y,
                BinaryOp::Mul => x * y,
                BinaryOp::Div | BinaryOp::Rem if y == 0.0 => return Err(ExprError::DivisionByZero),
                BinaryOp::Div => x / y,
                BinaryOp::Rem => py_float_rem(x, y),
                _ => unreachable!("arithmetic operators only"),
            };
            finite(r, sym)
        }
    }
}

/// `needle in haystack`.
fn contains(haystack: &Value, needle: &Value) -> Result<bool, ExprError> {
    match (haystack, needle) {
        (Value::Array(items), _) => Ok(items.iter().any(|v| values_equal(v, needle))),
        (Value::String(s), Value::String(sub)) => Ok(s.contains(sub.as_str())),
        (Value::Object(map), Value::String(key)) => Ok(map.contains_key(key)),
        _ => Err(ExprError::Type(format!(
            "`in` does not apply to {} in {}",
            kind_of(needle),
            kind_of(haystack)
        ))),
    }
}

fn call(func: Func, args: &[Value]) -> Result<Value, ExprError> {
    let bad = |v: &Value| {
        ExprError::Type(format!(
            "`{}` does not apply to {}",
            func.name(),
            kind_of(v)
        ))
    };
    let a = &args[0];
    match func {
        Func::Len => match a {
            Value::String(s) => Ok(Value::from(s.chars().count())),
            Value::Array(v) => Ok(Value::from(v.len())),
            Value::Object(m) => Ok(Value::from(m.len())),
            other => Err(bad(other)),
        },
        Func::Lower | Func::Upper => match a {
            Value::String(s) if func == Func::Lower => Ok(Value::String(s.to_lowercase())),
            Value::String(s) => Ok(Value::String(s.to_uppercase())),
            other => Err(bad(other)),
        },
        Func::Contains => contains(a, &args[1]).map(Value::Bool),
        Func::StartsWith | Func::EndsWith => match (a, &args[1]) {
            (Value::String(s), Value::String(p)) => Ok(Value::Bool(if func == Func::StartsWith {
                s.starts_with(p.as_str())
            } else {
                s.ends_with(p.as_str())
            })),
            (Value::String(_), other) | (other, _) => Err(bad(other)),
        },
        Func::Int => match a {
            Value::Number(_) => match num(a)? {
                Some(Num::Int(i)) => Ok(Value::from(i)),
                Some(Num::Float(f)) => {
                    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
                    if (-TWO_63..TWO_63).contains(&f) {
                        Ok(Value::from(f.trunc() as i64))
                    } else {
                        Err(ExprError::Overflow("int"))
                    }
                }
                None => unreachable!("a number"),
            },
            Value::String(s) => {
                let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ExprError::Conversion(format!(
                        "int() cannot convert {}",
                        to_json(a)
                    )));
                }
                s.parse::<i64>()
                    .map(Value::from)
                    .map_err(|_| ExprError::Overflow("int"))
            }
            other => Err(bad(other)),
        },
        Func::Float => match a {
            Value::Number(_) => match num(a)? {
                Some(Num::Int(i)) => Ok(float_value(i as f64)),
                Some(Num::Float(f)) => Ok(float_value(f)),
                None => unreachable!("a number"),
            },
            Value::String(s) => {
                if !is_float_literal(s) {
                    return Err(ExprError::Conversion(format!(
                        "float() cannot convert {}",
                        to_json(a)
                    )));
                }
                match s.parse::<f64>() {
                    Ok(f) => finite(f, "float"),
                    Err(_) => Err(ExprError::Conversion(format!(
                        "float() cannot convert {}",
                        to_json(a)
                    ))),
                }
            }
            other => Err(bad(other)),
        },
        Func::Str => Ok(Value::String(match a {
            Value::String(s) => s.clone(),
            other => to_json(other),
        })),
        Func::Keys => match a {
            Value::Object(m) => Ok(Value::Array(
                m.keys().map(|k| Value::String(k.clone())).collect(),
            )),
            other => Err(bad(other)),
        },
    }
}

/// `[+-]?(d+[.d*]|.d+)([eE][+-]?d+)?` with ASCII digits.
fn is_float_literal(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = i - start;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    i == b.len()
}

// ---------------------------------------------------------------- formatting

/// A float as Python's `repr` writes it: shortest round-trip digits, `.0` on integral
/// values, exponent form below 1e-4 and from 1e16 (`1e-05`, `1.5e+16`).
pub fn format_float(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    // Ryu gives the shortest digits that round-trip and, among those, the closest to the
    // exact value, as Python's repr does (Rust's own `{:e}` does not always pick the
    // closest last digit).
    let mut buffer = ryu::Buffer::new();
    let text = buffer.format_finite(f);
    let (sign, rest) = match text.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", text),
    };
    let (mantissa, e) = match rest.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().expect("an integer exponent")),
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    // value = 0.<digits> × 10^point
    let mut digits = format!("{int}{frac}");
    let mut point = int.len() as i32 + e;
    let leading = digits.len() - digits.trim_start_matches('0').len();
    digits.drain(..leading);
    point -= leading as i32;
    digits.truncate(digits.trim_end_matches('0').len());
    let exp = point - 1;
    if !(-5 < exp && exp < 16) {
        let mut out = format!("{sign}{}", &digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push_str(&format!(
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        ));
        return out;
    }
    if exp < 0 {
        let zeros = "0".repeat((-exp - 1) as usize);
        return format!("{sign}0.{zeros}{digits}");
    }
    let point = exp as usize + 1;
    if digits.len() <= point {
        format!("{sign}{digits}{}.0", "0".repeat(point - digits.len()))
    } else {
        format!("{sign}{}.{}", &digits[..point], &digits[point..])
    }
}

/// A value as compact JSON (see the module docs: the text Python's
/// `json.dumps(v, separators=(",", ":"), ensure_ascii=False, sort_keys=True)` gives).
pub fn to_json(v: &Value) -> String {
    let mut out = String::new();
    write_json(v, &mut out);
    out
}

fn write_json(v: &Value, out: &mut String) {
    match v {
        Value::Number(n) if n.is_f64() => out.push_str(&format_float(n.as_f64().unwrap_or(0.0))),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // serde_json's map (without `preserve_order`) iterates in sorted key order.
            let map: &Map<String, Value> = map;
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_json(item, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

impl fmt::Display for Func {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state() -> Value {
        json!({
            "inputs": {"n": 7, "x": 2.5, "name": "Ada", "items": [1, 2, 3], "empty": [],
                       "obj": {"a": 1, "b": [true]}, "flag": true, "nothing": null,
                       "big": 9223372036854775807u64, "huge": 18446744073709551615u64},
        })
    }

    fn ev(src: &str) -> Result<Value, EvalStrError> {
        eval_str(src, &state())
    }

    fn ok(src: &str) -> Value {
        ev(src).unwrap_or_else(|e| panic!("{src}: {e}"))
    }

    fn eval_err(src: &str) -> ExprError {
        match ev(src) {
            Err(EvalStrError::Eval(e)) => e,
            other => panic!("{src}: expected an evaluation error, got {other:?}"),
        }
    }

    fn parse_err(src: &str) -> ParseError {
        parse(src).expect_err(src)
    }

    #[test]
    fn literals() {
        assert_eq!(ok("42"), json!(42));
        assert_eq!(ok("2.5"), json!(2.5));
        assert_eq!(ok("2e3"), json!(2000.0));
        assert!(ok("2e3").as_f64().is_some() && !ok("2e3").is_i64());
        assert_eq!(ok("1.5E-1"), json!(0.15));
        assert_eq!(ok("'a\\'b'"), json!("a'b"));
        assert_eq!(ok(r#""\u00e9\n\t\\""#), json!("é\n\t\\"));
        assert_eq!(ok("true"), json!(true));
        assert_eq!(ok("null"), json!(null));
        assert_eq!(ok("[1, 'a', [null],]"), json!([1, "a", [null]]));
        assert_eq!(ok("[]"), json!([]));
        assert_eq!(ok("9223372036854775807"), json!(i64::MAX));
    }

    #[test]
    fn paths_read_state() {
        assert_eq!(ok("inputs.n"), json!(7));
        assert_eq!(ok("inputs.items[2]"), json!(3));
        assert_eq!(ok("inputs.items[9]"), json!(null));
        assert_eq!(ok("inputs.missing.deeper"), json!(null));
        assert_eq!(ok("inputs.obj.b[0]"), json!(true));
        assert!(matches!(eval_err("inputs.n.x"), ExprError::Path(_)));
        assert!(matches!(eval_err("inputs.huge"), ExprError::Overflow(_)));
        assert_eq!(ok("inputs.big"), json!(i64::MAX));
    }

    #[test]
    fn arithmetic() {
        assert_eq!(ok("1 + 2"), json!(3));
        assert_eq!(ok("1 + 2.5"), json!(3.5));
        assert_eq!(ok("7 - 10"), json!(-3));
        assert_eq!(ok("6 * 7"), json!(42));
        assert_eq!(ok("7 / 2"), json!(3.5));
        let four_halves = ok("4 / 2");
        assert!(four_halves.is_f64());
        assert_eq!(four_halves, json!(2.0));
        assert_eq!(ok("-7 % 3"), json!(2));
        assert_eq!(ok("7 % -3"), json!(-2));
        assert_eq!(ok("7 % 3"), json!(1));
        assert_eq!(ok("-7.5 % 2"), json!(0.5));
        assert_eq!(ok("7.5 % -2"), json!(-0.5));
        assert_eq!(to_json(&ok("4.0 % -2")), "-0.0");
        assert_eq!(ok("(-9223372036854775807 - 1) % -1"), json!(0));
        assert_eq!(ok("-inputs.n"), json!(-7));
        assert_eq!(ok("--inputs.x"), json!(2.5));
        assert_eq!(ok("'ab' + 'cd'"), json!("abcd"));
        assert_eq!(ok("[1] + [2, 3]"), json!([1, 2, 3]));
        assert_eq!(ok("inputs.n * inputs.x"), json!(17.5));
    }

    #[test]
    fn arithmetic_errors() {
        assert_eq!(eval_err("1 / 0"), ExprError::DivisionByZero);
        assert_eq!(eval_err("1 / 0.0"), ExprError::DivisionByZero);
        assert_eq!(eval_err("1 % 0"), ExprError::DivisionByZero);
        assert_eq!(eval_err("1.5 % 0"), ExprError::DivisionByZero);
        assert!(matches!(
            eval_err("9223372036854775807 + 1"),
            ExprError::Overflow("+")
        ));
        assert!(matches!(
            eval_err("inputs.big * 2"),
            ExprError::Overflow("*")
        ));
        assert!(matches!(
            eval_err("-(-9223372036854775807 - 1)"),
            ExprError::Overflow("-")
        ));
        assert!(matches!(eval_err("1e308 * 10"), ExprError::Overflow("*")));
        for src in [
            "'a' + 1",
            "1 + 'a'",
            "true + 1",
            "null + 1",
            "[1] + 'a'",
            "'a' * 2",
            "[1] - [1]",
            "-'a'",
            "inputs.obj + inputs.obj",
        ] {
            assert!(matches!(eval_err(src), ExprError::Type(_)), "{src}");
        }
    }

    #[test]
    fn comparisons() {
        assert_eq!(ok("1 == 1.0"), json!(true));
        assert_eq!(ok("1 != 1.0"), json!(false));
        assert_eq!(ok("1 == true"), json!(false));
        assert_eq!(ok("'1' == 1"), json!(false));
        assert_eq!(ok("null == false"), json!(false));
        assert_eq!(ok("inputs.nothing == null"), json!(true));
        assert_eq!(ok("[1, 'a'] == [1.0]"), json!(false));
        assert_eq!(ok("inputs.items == [1, 2.0, 3]"), json!(true));
        assert_eq!(ok("inputs.obj == inputs.obj"), json!(true));
        assert_eq!(ok("1 < 2"), json!(true));
        assert_eq!(ok("2 <= 2.0"), json!(true));
        assert_eq!(ok("3 > 2.5"), json!(true));
        assert_eq!(ok("2 >= 3"), json!(false));
        assert_eq!(ok("'abc' < 'abd'"), json!(true));
        assert_eq!(ok("'Z' < 'a'"), json!(true));
        // exact across int and float beyond 2^53
        assert_eq!(ok("9007199254740993 > 9007199254740992.0"), json!(true));
        assert_eq!(ok("9007199254740993 == 9007199254740992.0"), json!(false));
        assert_eq!(
            ok("9223372036854775807 < 9223372036854775808.0"),
            json!(true)
        );
        assert_eq!(ok("-3 > -3.5"), json!(true));
        for src in [
            "1 < 'a'",
            "true < false",
            "null < 1",
            "[1] < [2]",
            "'a' >= 1",
        ] {
            assert!(matches!(eval_err(src), ExprError::Type(_)), "{src}");
        }
    }

    #[test]
    fn membership() {
        assert_eq!(ok("2 in inputs.items"), json!(true));
        assert_eq!(ok("2.0 in inputs.items"), json!(true));
        assert_eq!(ok("5 not in inputs.items"), json!(true));
        assert_eq!(ok("'da' in inputs.name"), json!(true));
        assert_eq!(ok("'a' in inputs.obj"), json!(true));
        assert_eq!(ok("'z' not in inputs.obj"), json!(true));
        assert!(matches!(eval_err("1 in 'abc'"), ExprError::Type(_)));
        assert!(matches!(eval_err("1 in inputs.obj"), ExprError::Type(_)));
        assert!(matches!(eval_err("1 in 5"), ExprError::Type(_)));
        assert!(matches!(eval_err("1 in null"), ExprError::Type(_)));
    }

    #[test]
    fn booleans_and_truthiness() {
        for (src, want) in [
            ("not 0", true),
            ("not 0.0", true),
            ("not ''", true),
            ("not []", true),
            ("not inputs.empty", true),
            ("not null", true),
            ("not inputs.missing", true),
            ("not 'x'", false),
            ("not [0]", false),
            ("not inputs.obj", false),
            ("1 and 'x'", true),
            ("1 and 0", false),
            ("0 or ''", false),
            ("0 or 2", true),
            ("true and not false", true),
        ] {
            assert_eq!(ok(src), json!(want), "{src}");
        }
        // `and`/`or` give booleans, not operands
        assert_eq!(ok("'x' or 1"), json!(true));
        // short-circuit: the right side is not evaluated
        assert_eq!(ok("false and 1 / 0"), json!(false));
        assert_eq!(ok("true or 1 / 0"), json!(true));
        assert_eq!(eval_err("true and 1 / 0"), ExprError::DivisionByZero);
        assert_eq!(ok("'big' if inputs.n > 5 else 1 / 0"), json!("big"));
        assert_eq!(ok("1 / 0 if inputs.n > 50 else 'small'"), json!("small"));
    }

    #[test]
    fn precedence() {
        assert_eq!(ok("1 + 2 * 3"), json!(7));
        assert_eq!(ok("(1 + 2) * 3"), json!(9));
        assert_eq!(ok("10 - 4 - 3"), json!(3));
        assert_eq!(ok("2 * 3 % 4"), json!(2));
        assert_eq!(ok("-2 * 3"), json!(-6));
        assert_eq!(ok("1 + 1 == 2"), json!(true));
        assert_eq!(ok("not 1 == 2"), json!(true));
        assert_eq!(ok("true or false and false"), json!(true));
        assert_eq!(ok("(true or false) and false"), json!(false));
        assert_eq!(ok("not true or true"), json!(true));
        assert_eq!(ok("'a' if false else 'b' if true else 'c'"), json!("b"));
        assert_eq!(ok("1 + 2 if true else 0"), json!(3));
        assert_eq!(
            parse("a or b and c").unwrap(),
            parse("a or (b and c)").unwrap()
        );
        assert_eq!(parse("not a in b").unwrap(), parse("not (a in b)").unwrap());
    }

    #[test]
    fn functions() {
        assert_eq!(ok("len('héllo')"), json!(5));
        assert_eq!(ok("len(inputs.items)"), json!(3));
        assert_eq!(ok("len(inputs.obj)"), json!(2));
        assert_eq!(ok("lower('AbC')"), json!("abc"));
        assert_eq!(ok("upper('straße')"), json!("STRASSE"));
        assert_eq!(ok("contains(inputs.items, 3)"), json!(true));
        assert_eq!(ok("contains('abc', 'bc')"), json!(true));
        assert_eq!(ok("startswith(inputs.name, 'Ad')"), json!(true));
        assert_eq!(ok("endswith(inputs.name, 'x')"), json!(false));
        assert_eq!(ok("int(3.9)"), json!(3));
        assert_eq!(ok("int(-3.9)"), json!(-3));
        assert_eq!(ok("int('-42')"), json!(-42));
        assert_eq!(ok("int('+7')"), json!(7));
        assert_eq!(ok("int(5)"), json!(5));
        assert_eq!(ok("float(2)"), json!(2.0));
        assert!(ok("float(2)").is_f64());
        assert_eq!(ok("float('1.5e2')"), json!(150.0));
        assert_eq!(ok("float('.5')"), json!(0.5));
        assert_eq!(ok("float('5.')"), json!(5.0));
        assert_eq!(ok("str(1)"), json!("1"));
        assert_eq!(ok("str(2.0)"), json!("2.0"));
        assert_eq!(ok("str(true)"), json!("true"));
        assert_eq!(ok("str(null)"), json!("null"));
        assert_eq!(ok("str('x')"), json!("x"));
        assert_eq!(ok("str(inputs.obj)"), json!(r#"{"a":1,"b":[true]}"#));
        assert_eq!(ok("keys(inputs.obj)"), json!(["a", "b"]));
        for src in [
            "len(1)",
            "len(null)",
            "lower(1)",
            "upper(null)",
            "startswith(1, 'a')",
            "endswith('a', 1)",
            "int(true)",
            "int(null)",
            "float(false)",
            "keys([1])",
            "contains(1, 1)",
        ] {
            assert!(matches!(eval_err(src), ExprError::Type(_)), "{src}");
        }
        for src in [
            "int(' 4')",
            "int('1_000')",
            "int('4.0')",
            "int('')",
            "float('inf')",
            "float('nan')",
            "float('1e')",
            "float('')",
            "float(' 1')",
        ] {
            assert!(matches!(eval_err(src), ExprError::Conversion(_)), "{src}");
        }
        assert!(matches!(
            eval_err("int('99999999999999999999')"),
            ExprError::Overflow(_)
        ));
        assert!(matches!(eval_err("int(1e19)"), ExprError::Overflow(_)));
        assert!(matches!(eval_err("float('1e999')"), ExprError::Overflow(_)));
    }

    #[test]
    fn float_formatting_matches_python_repr() {
        for (f, want) in [
            (2.0, "2.0"),
            (-0.0, "-0.0"),
            (0.1, "0.1"),
            (1.5, "1.5"),
            (123456.789, "123456.789"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.2345e-7, "1.2345e-07"),
            (1e100, "1e+100"),
            (-2.5e-300, "-2.5e-300"),
            (0.30000000000000004, "0.30000000000000004"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            // two shortest forms round-trip; Python (and Ryu) pick the closer one
            (2053637337633904.2, "2053637337633904.2"),
            (-233891771783429.62, "-233891771783429.62"),
        ] {
            assert_eq!(format_float(f), want, "{f}");
        }
        assert_eq!(
            to_json(&json!({"b": [1, 2.0, "é\"\n"], "a": null})),
            r#"{"a":null,"b":[1,2.0,"é\"\n"]}"#
        );
    }

    #[test]
    fn parse_errors_have_columns() {
        for (src, column, fragment) in [
            ("", 1, "empty"),
            ("1 +", 4, "end of expression"),
            ("a = 1", 3, "=="),
            ("a && b", 3, "and"),
            ("!a", 1, "not"),
            ("(1 + 2", 7, "expected `)`"),
            ("'abc", 1, "unterminated"),
            ("'\\q'", 2, "unknown escape"),
            ("1 < 2 < 3", 7, "chained"),
            ("foo(1)", 1, "unknown function"),
            ("len(1, 2)", 1, "takes 1 argument"),
            ("startswith('a')", 1, "takes 2 arguments"),
            ("a[b]", 3, "literal non-negative integer"),
            ("a.", 3, "expected a name"),
            ("1 2", 3, "unexpected number"),
            ("99999999999999999999", 1, "out of range"),
            ("1e999", 1, "out of range"),
            ("1abc", 2, "after a number"),
            ("a if b", 7, "else"),
            ("[1 2]", 4, "expected `,` or `]`"),
            ("#", 1, "unexpected character"),
            ("and", 1, "unexpected `and`"),
            ("1e+", 2, "exponent"),
        ] {
            let e = parse_err(src);
            assert_eq!(e.column, column, "{src:?}: {e}");
            assert!(e.message.contains(fragment), "{src:?}: {e}");
        }
    }

    #[test]
    fn bounds() {
        let deep = format!("{}1{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(parse(&deep).is_ok());
        let deeper = format!("{}1{}", "(".repeat(100), ")".repeat(100));
        assert!(parse_err(&deeper).message.contains("nested deeper"));
        assert!(parse_err(&format!("{}1", "-".repeat(MAX_DEPTH)))
            .message
            .contains("nested"));
        assert!(parse(&format!("{}1", "-".repeat(MAX_DEPTH - 1))).is_ok());
        assert!(parse_err(&"-".repeat(100))
            .message
            .contains("nested deeper"));
        assert!(parse_err(&"not ".repeat(100))
            .message
            .contains("nested deeper"));
        assert!(parse_err(&"[".repeat(100))
            .message
            .contains("nested deeper"));
        // a chain of operators nests too: 32 terms are fine, 33 are not
        let flat = vec!["1"; MAX_DEPTH].join("+");
        assert_eq!(eval_str(&flat, &json!({})).unwrap(), json!(MAX_DEPTH));
        let flat = vec!["1"; MAX_DEPTH + 1].join("+");
        assert!(parse_err(&flat).message.contains("nested deeper"));
        let long = "(1)+".repeat(MAX_SOURCE_LEN / 4) + "1";
        assert!(parse_err(&long).message.contains("longer than"));
    }

    #[test]
    fn lists_paths_read() {
        let e = parse("len(a.b) > 0 and c[1] in d if e else f.g").unwrap();
        let paths: Vec<String> = e.paths().iter().map(|p| p.to_string()).collect();
        assert_eq!(paths, ["a.b", "c[1]", "d", "e", "f.g"]);
        assert!(parse("1 + 'x' + [true]").unwrap().paths().is_empty());
        // keywords may follow a dot
        assert_eq!(parse("x.in").unwrap().paths()[0].to_string(), "x.in");
        // a name followed by `(` is a call; without, a path
        assert!(matches!(parse("len").unwrap(), Expr::Path(_)));
    }
}
