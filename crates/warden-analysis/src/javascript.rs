//! JavaScript: syntax check and static analysis on oxc's AST.
//!
//! # What is accepted
//!
//! Code must never be rejected when the runtime would run it. Session cells are compiled
//! by `runtimes/javascript/agent.js` with `new vm.Script(code)` (a sloppy script) and, when
//! that fails, through node's REPL rewrite for top-level `await` (the code wrapped in
//! `(async () => { ... })()`); one-shot runs execute `main.js` as a CommonJS file. So three
//! parses are tried, the first that has no error wins:
//!
//! 1. a sloppy CommonJS script: top-level `return` and `new.target` allowed, `with`,
//!    legacy octal literals and HTML-like comments accepted, `await` an identifier;
//! 2. an ES module: top-level `await`, `import` and `export` (strict mode);
//! 3. a sloppy script wrapped as node's REPL wraps it, `(async () => { CODE\n})()`:
//!    top-level `await` in sloppy code.
//!
//! When all three fail, the first error (by position) of the CommonJS parse is reported,
//! with oxc's message. oxc leaves some early errors (redeclarations, duplicate
//! parameters in strict code) to its semantic pass, which is not run: such code is
//! accepted here and node reports the error when it runs.
//!
//! # Rules
//!
//! | rule | severity | matches |
//! |---|---|---|
//! | `import.process` | medium | `require`/`import`/`import()`/`export … from` of `child_process`, `cluster`, `worker_threads` |
//! | `import.network` | medium | the same of `net`, `http`, `https`, `http2`, `dgram`, `tls`, `dns`, `undici`, `node-fetch`, `axios`, `ws`; calls of the global `fetch()`; `WebSocket` (global in node 22, cheap to flag) |
//! | `import.system` | low | the same of `fs`, `fs/promises`, `os`, `vm`, `v8`, `inspector`, `module`, `process`, `repl`, `wasi` (`path`, `util`, … are harmless) |
//! | `import.native` | high | `process.binding`, `process._linkedBinding`, `process.dlopen` (accessed, destructured or imported); FFI modules (`ffi-napi`, `node-ffi`, `ffi`, `koffi`, `ref-napi`) |
//! | `import.dynamic` | medium | `require(x)` / `import(x)` whose module name does not fold to a constant string |
//! | `exec.eval` | low with a constant string argument, medium otherwise | `eval(…)` direct or indirect (`(0, eval)`, `globalThis.eval`, `window['eval']`, aliases, `.call`/`.apply`), `vm.runIn*Context`, `vm.compileFunction`, `new vm.Script`; `setTimeout`/`setInterval` with a string (always low: node refuses string callbacks with a `TypeError`) |
//! | `exec.function` | medium; high for a constructor chain | `Function(…)` / `new Function(…)` (also aliases, `globalThis.Function`, `Reflect.construct(Function, …)`), `(function(){}).constructor(…)`, `x.constructor('code')`; `….constructor.constructor(…)` is high |
//! | `process.spawn` | medium | `exec`, `execSync`, `execFile`, `execFileSync`, `spawn`, `spawnSync`, `fork` called on a `child_process` binding (module object, destructured, named import, `require('child_process').exec(…)`) |
//! | `reflect.prototype` | high | `__proto__` accessed as a member (`x.__proto__`, `x['__proto__']`), `….constructor.constructor`, writes through `….constructor.prototype` |
//! | `metrics.size` | info | more than 5,000 lines |
//! | `metrics.nesting` | info | blocks nested more than 10 deep, or expressions more than 50 deep |
//!
//! A call of a user object's method named `eval` (`obj.eval(x)`) is not flagged: only the
//! global `eval` is. `{ __proto__: null }` in an object literal (a common idiom for
//! dictionaries) is not flagged. Objects' own prototypes written directly
//! (`Array.prototype.x = …`) are not flagged.
//!
//! Module names are folded from string literals, template literals (their expressions
//! folded too), `+` of constants, `const` names bound to constants, `[…].join(…)`,
//! `s.split(…)`, `.reverse()`, `.concat(…)`, `.replace(…)`, `.toLowerCase()` and
//! `String.fromCharCode(…)`. Bindings are followed through `const/let/var` (plain and
//! destructured), `import` (default, namespace, named), `require` aliases (`const r =
//! require`), `module.require`, `process.mainModule.require`, `require.main.require`,
//! `createRequire(…)`, `Module._load`, `globalThis.X` and `.call`/`.apply`.
//!
//! Out of reach (the OS sandbox is the boundary): module names built at run time
//! (`Buffer.from('…', 'base64')`, `atob`, arithmetic, user functions) give only
//! `import.dynamic`; values passed through functions, objects, promises (`import('x').then(m
//! => m.exec())`) or `Reflect.get` are not followed. Names are resolved through block and
//! function scopes, but a local whose value is unknown never hides what it shadows: a
//! local `fetch` or `eval` function, or a `const cp` shadowing a `child_process` binding,
//! still counts as the global or the module (a finding too many rather than one too few).
//!
//! # Deep code
//!
//! oxc's parser is recursive and has no depth limit: a few thousand nested brackets
//! overflow a 2 MiB stack and abort the process. So the stack the parse and the walk can
//! need is bounded first, from a count of bytes that does not depend on reading the code
//! right ([`stack_bound`]): snippets are parsed on the caller's thread (which needs 1 MiB
//! of stack to spare), larger code on a thread whose stack is the bound, and code whose
//! bound is over [`MAX_STACK`] (far more than a megabyte of code) is refused.

use std::collections::HashMap;

use oxc_allocator::Allocator;
use oxc_ast::ast::{
    Argument, ArrayExpressionElement, ArrowFunctionBody, ArrowFunctionExpression,
    AssignmentExpression, AssignmentOperator, AssignmentTarget, BinaryOperator, BindingPattern,
    BlockStatement, CallExpression, CatchClause, ChainElement, Class, ComputedMemberExpression,
    DoWhileStatement, ExportAllDeclaration, ExportFromDeclaration, Expression, ForInStatement,
    ForOfStatement, ForStatement, FunctionBody, IfStatement, ImportDeclaration,
    ImportDeclarationSpecifier, ImportExpression, MemberExpression, ModuleExportName,
    NewExpression, Program, PropertyKey, Statement, StaticBlock, StaticMemberExpression,
    SwitchStatement, VariableDeclaration, VariableDeclarationKind, WhileStatement, WithStatement,
};
use oxc_ast_visit::{walk, Visit};
use oxc_parser::{ParseOptions, Parser, ParserReturn};
use oxc_span::{SourceType, Span};

use crate::{count_lines, CodeMetrics, Finding, LineIndex, Severity, SyntaxErrorInfo};

const IMPORT_PROCESS: &str = "import.process";
const IMPORT_NETWORK: &str = "import.network";
const IMPORT_SYSTEM: &str = "import.system";
const IMPORT_NATIVE: &str = "import.native";
const IMPORT_DYNAMIC: &str = "import.dynamic";
const EXEC_EVAL: &str = "exec.eval";
const EXEC_FUNCTION: &str = "exec.function";
const PROCESS_SPAWN: &str = "process.spawn";
const REFLECT_PROTOTYPE: &str = "reflect.prototype";
const METRICS_SIZE: &str = "metrics.size";
const METRICS_NESTING: &str = "metrics.nesting";

const MAX_LINES: u32 = 5000;
const MAX_NESTING: u32 = 10;
const MAX_EXPRESSION_DEPTH: u32 = 50;

/// Modules worth a finding: (name, rule, severity, what the module does). A name
/// matches exactly, or by its first path segment (`dns/promises`).
#[rustfmt::skip]
const MODULES: &[(&str, &str, Severity, &str)] = &[
    ("child_process", IMPORT_PROCESS, Severity::Medium, "runs other programs"),
    ("cluster", IMPORT_PROCESS, Severity::Medium, "forks processes"),
    ("worker_threads", IMPORT_PROCESS, Severity::Medium, "starts threads running other code"),
    ("net", IMPORT_NETWORK, Severity::Medium, "opens network sockets"),
    ("http", IMPORT_NETWORK, Severity::Medium, "makes or serves HTTP requests"),
    ("https", IMPORT_NETWORK, Severity::Medium, "makes or serves HTTPS requests"),
    ("http2", IMPORT_NETWORK, Severity::Medium, "makes or serves HTTP/2 requests"),
    ("dgram", IMPORT_NETWORK, Severity::Medium, "opens UDP sockets"),
    ("tls", IMPORT_NETWORK, Severity::Medium, "opens TLS connections"),
    ("dns", IMPORT_NETWORK, Severity::Medium, "resolves names over the network"),
    ("undici", IMPORT_NETWORK, Severity::Medium, "makes HTTP requests"),
    ("node-fetch", IMPORT_NETWORK, Severity::Medium, "makes HTTP requests"),
    ("axios", IMPORT_NETWORK, Severity::Medium, "makes HTTP requests"),
    ("ws", IMPORT_NETWORK, Severity::Medium, "opens WebSocket connections"),
    ("fs", IMPORT_SYSTEM, Severity::Low, "reads and writes files"),
    ("fs/promises", IMPORT_SYSTEM, Severity::Low, "reads and writes files"),
    ("os", IMPORT_SYSTEM, Severity::Low, "inspects the operating system"),
    ("vm", IMPORT_SYSTEM, Severity::Low, "compiles and runs code"),
    ("v8", IMPORT_SYSTEM, Severity::Low, "reaches the JavaScript engine"),
    ("inspector", IMPORT_SYSTEM, Severity::Low, "opens the debugger protocol"),
    ("module", IMPORT_SYSTEM, Severity::Low, "loads modules by path"),
    ("process", IMPORT_SYSTEM, Severity::Low, "reaches the process object"),
    ("repl", IMPORT_SYSTEM, Severity::Low, "evaluates code interactively"),
    ("wasi", IMPORT_SYSTEM, Severity::Low, "runs WebAssembly with system access"),
    ("ffi-napi", IMPORT_NATIVE, Severity::High, "calls native code"),
    ("node-ffi", IMPORT_NATIVE, Severity::High, "calls native code"),
    ("ffi", IMPORT_NATIVE, Severity::High, "calls native code"),
    ("koffi", IMPORT_NATIVE, Severity::High, "calls native code"),
    ("ref-napi", IMPORT_NATIVE, Severity::High, "reads and writes raw memory"),
];

/// `child_process` functions that start a program.
const SPAWN_FUNCTIONS: &[&str] = &[
    "exec",
    "execSync",
    "execFile",
    "execFileSync",
    "spawn",
    "spawnSync",
    "fork",
];

/// `process` members that reach node's native bindings.
const NATIVE_PROCESS_MEMBERS: &[&str] = &["binding", "_linkedBinding", "dlopen"];

/// `vm` functions that compile code from a string.
const VM_EVAL_FUNCTIONS: &[&str] = &[
    "runInThisContext",
    "runInNewContext",
    "runInContext",
    "compileFunction",
];

/// Globals the analysis follows (besides `require`, `module`, `process` and the global
/// object's names).
const BUILTINS: &[&str] = &[
    "eval",
    "Function",
    "fetch",
    "WebSocket",
    "setTimeout",
    "setInterval",
    "Reflect",
    "String",
];

/// How deep constant folding and value tracking recurse.
const MAX_FOLD_DEPTH: u32 = 32;
/// Longest string constant folding builds (module names are short).
const MAX_FOLD_LEN: usize = 4096;

/// Checks that `code` parses as JavaScript node would run (see the module docs).
pub fn syntax(code: &str) -> Result<(), SyntaxErrorInfo> {
    on_parser_stack(code, || {
        let allocator = Allocator::default();
        parse(&allocator, code).map(|_| ())
    })?
}

/// Parses and analyses `code`: findings (unsorted) and metrics.
pub fn analyze(code: &str) -> Result<(Vec<Finding>, CodeMetrics), SyntaxErrorInfo> {
    on_parser_stack(code, || {
        let allocator = Allocator::default();
        let parsed = parse(&allocator, code)?;
        Ok(Analyzer::run(code, &parsed))
    })?
}

// ---------------------------------------------------------------------------------------
// Parsing

/// A successful parse.
struct Parsed<'a> {
    program: Program<'a>,
    /// Bytes of wrapper before the user's code (the top-level-await parse), to subtract
    /// from spans.
    shift: u32,
    wrapped: bool,
}

/// What node's REPL puts around a cell that uses top-level `await` (with a line break
/// before the end, so that a trailing `//` comment does not swallow it).
const AWAIT_PREFIX: &str = "(async () => { ";
const AWAIT_SUFFIX: &str = "\n})()";

fn parse_as<'a>(
    allocator: &'a Allocator,
    code: &'a str,
    source_type: SourceType,
    allow_return: bool,
) -> ParserReturn<'a> {
    let options = ParseOptions {
        allow_return_outside_function: allow_return,
        preserve_parens: false,
        ..ParseOptions::default()
    };
    Parser::new(allocator, code, source_type)
        .with_options(options)
        .parse()
}

fn is_clean(ret: &ParserReturn<'_>) -> bool {
    !ret.panicked && !ret.diagnostics.has_errors()
}

fn parse<'a>(allocator: &'a Allocator, code: &'a str) -> Result<Parsed<'a>, SyntaxErrorInfo> {
    let script = parse_as(allocator, code, SourceType::cjs(), true);
    if is_clean(&script) {
        return Ok(Parsed {
            program: script.program,
            shift: 0,
            wrapped: false,
        });
    }
    let error = first_error(code, &script);
    let module = parse_as(allocator, code, SourceType::mjs(), false);
    if is_clean(&module) {
        return Ok(Parsed {
            program: module.program,
            shift: 0,
            wrapped: false,
        });
    }
    let source = allocator.alloc_str(&format!("{AWAIT_PREFIX}{code}{AWAIT_SUFFIX}"));
    let wrapped = parse_as(allocator, source, SourceType::script(), false);
    if is_clean(&wrapped) {
        return Ok(Parsed {
            program: wrapped.program,
            shift: AWAIT_PREFIX.len() as u32,
            wrapped: true,
        });
    }
    Err(error)
}

/// The error nearest the start of the code.
fn first_error(code: &str, ret: &ParserReturn<'_>) -> SyntaxErrorInfo {
    let first = ret
        .diagnostics
        .errors()
        .map(|error| {
            let label = error
                .labels
                .iter()
                .find(|l| l.primary())
                .or_else(|| error.labels.first());
            (label.map_or(0, |l| l.offset() as usize), error)
        })
        .min_by_key(|(offset, _)| *offset);
    let (offset, message) = match first {
        Some((offset, error)) => (offset, error.message.to_string()),
        None => (0, "syntax error".to_string()),
    };
    let (line, col) = LineIndex::new(code).position(offset);
    SyntaxErrorInfo { line, col, message }
}

// ---------------------------------------------------------------------------------------
// Stack safety

/// Stack bytes the parse and the walk may use for each `(`, `[` or `{`, and for each other
/// byte that is not blank: twice the most measured per level of nesting (paren and array
/// nesting for brackets, `!!!…`, `a=>a=>…` and `a=a=…` for other bytes; debug builds use
/// about twice what release builds do). Every level of nesting consumes at least one
/// token, so these bound the stack whatever the code is, however its strings, comments,
/// templates and regular expressions are read.
#[cfg(not(debug_assertions))]
const STACK_PER_BRACKET: u64 = 3_200;
#[cfg(not(debug_assertions))]
const STACK_PER_BYTE: u64 = 650;
#[cfg(debug_assertions)]
const STACK_PER_BRACKET: u64 = 5_700;
#[cfg(debug_assertions)]
const STACK_PER_BYTE: u64 = 1_150;
/// What the parse and the walk use without any nesting.
const STACK_BASE: u64 = 256 << 10;
/// Code bounded by this much runs on the caller's thread, whose stack must have this much
/// to spare (Rust gives spawned threads 2 MiB). Snippets of up to a kilobyte or so.
const INLINE_STACK: u64 = 1 << 20;
/// Code whose bound is over this is refused (a megabyte of code bounds to well under it).
const MAX_STACK: u64 = 2 << 30;

/// An upper bound of the stack the parse and the walk of `code` need (see
/// [`STACK_PER_BRACKET`]).
fn stack_bound(code: &str) -> u64 {
    let (mut brackets, mut others) = (0u64, 0u64);
    for &b in code.as_bytes() {
        match b {
            b'(' | b'[' | b'{' => brackets += 1,
            b' ' | b'\t' | b'\n' | b'\r' => {}
            _ => others += 1,
        }
    }
    STACK_BASE + brackets * STACK_PER_BRACKET + others * STACK_PER_BYTE
}

/// Runs `f` (a parse and walk of `code`) on a stack large enough for any nesting of
/// `code`: the caller's for snippets, a thread of its own otherwise (its stack is reserved,
/// not used: pages are touched only as deep as the code really goes). Refuses code too
/// large to bound.
fn on_parser_stack<R: Send>(
    code: &str,
    f: impl FnOnce() -> R + Send,
) -> Result<R, SyntaxErrorInfo> {
    let bound = stack_bound(code);
    if bound <= INLINE_STACK {
        return Ok(f());
    }
    let refused = |why: String| SyntaxErrorInfo {
        line: 1,
        col: 1,
        message: format!("the code could not be checked: {why}"),
    };
    if bound > MAX_STACK {
        return Err(refused(
            "it is too large, or too deeply nested, to parse safely".to_string(),
        ));
    }
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("warden-js-parse".to_string())
            .stack_size(bound as usize)
            .spawn_scoped(scope, f)
            .map_err(|e| refused(format!("no thread with a {} MiB stack ({e})", bound >> 20)))?;
        match handle.join() {
            Ok(r) => Ok(r),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

// ---------------------------------------------------------------------------------------
// Values: what an expression is known to be

#[derive(Debug, Clone, PartialEq)]
enum Value {
    /// A `require` function.
    Require,
    /// A module object (`node:` prefix removed).
    Module(String),
    /// A member of a module object: (module, member).
    Export(String, String),
    /// `module`, `require.main`, `process.mainModule`.
    ModuleObject,
    /// The global object: `globalThis`, `global`, `window`, `self`.
    Global,
    /// A global function the rules care about (see [`BUILTINS`]).
    Builtin(&'static str),
    /// A constant string.
    Str(String),
}

/// What a global name is (when no binding shadows it).
fn global_value(name: &str) -> Option<Value> {
    match name {
        "require" => Some(Value::Require),
        "module" => Some(Value::ModuleObject),
        "process" => Some(Value::Module("process".to_string())),
        "globalThis" | "global" | "window" | "self" => Some(Value::Global),
        _ => BUILTINS
            .iter()
            .find(|b| **b == name)
            .map(|b| Value::Builtin(b)),
    }
}

/// What `object[key]` is.
fn member_value(object: Value, key: &str) -> Option<Value> {
    match object {
        Value::Global => global_value(key),
        Value::ModuleObject => match key {
            "require" => Some(Value::Require),
            "constructor" => Some(Value::Module("module".to_string())),
            _ => None,
        },
        Value::Require => (key == "main").then_some(Value::ModuleObject),
        Value::Module(module) => match key {
            "default" => Some(Value::Module(module)),
            "mainModule" if module == "process" => Some(Value::ModuleObject),
            _ => Some(Value::Export(module, key.to_string())),
        },
        Value::Builtin("Function") if key == "constructor" => Some(Value::Builtin("Function")),
        _ => None,
    }
}

/// `node:fs` → `fs`.
fn normalize_module(name: &str) -> &str {
    name.strip_prefix("node:").unwrap_or(name)
}

/// The rule a module falls under: exact name, else its first path segment (`dns/promises`).
fn classify_module(name: &str) -> Option<(&'static str, Severity, &'static str)> {
    let name = normalize_module(name);
    let find = |n: &str| {
        MODULES
            .iter()
            .find(|(m, ..)| *m == n)
            .map(|&(_, rule, severity, what)| (rule, severity, what))
    };
    find(name).or_else(|| {
        name.split_once('/')
            .filter(|_| !name.starts_with('@'))
            .and_then(|(first, _)| find(first))
    })
}

/// The first argument a call passes to its effective callee.
#[derive(Clone, Copy)]
enum First<'b, 'a> {
    Missing,
    Expr(&'b Expression<'a>),
    /// A spread, or an argument list not written out.
    Opaque,
}

fn argument_at<'b, 'a>(args: &'b [Argument<'a>], index: usize) -> First<'b, 'a> {
    match args.get(index) {
        None => First::Missing,
        Some(arg) => arg.as_expression().map_or(First::Opaque, First::Expr),
    }
}

/// The first element of an argument array (`f.apply(this, [x])`).
fn array_first<'b, 'a>(arg: Option<&'b Argument<'a>>) -> First<'b, 'a> {
    match arg {
        None => First::Missing,
        Some(Argument::ArrayExpression(array)) => match array.elements.first() {
            None => First::Missing,
            Some(element) => element.as_expression().map_or(First::Opaque, First::Expr),
        },
        Some(_) => First::Opaque,
    }
}

/// A call's effective callee: `f(x)`, `f.call(t, x)`, `f.apply(t, [x])`,
/// `Reflect.apply(f, t, [x])`, `Reflect.construct(F, [x])`.
struct Target<'b, 'a> {
    value: Value,
    first: First<'b, 'a>,
    /// The callee is reached through `.constructor.constructor`.
    chain: bool,
}

// ---------------------------------------------------------------------------------------
// The analysis

struct Scope {
    function: bool,
    names: HashMap<String, Value>,
}

struct Analyzer<'s> {
    code: &'s str,
    /// Built at the first finding.
    index: Option<LineIndex<'s>>,
    shift: u32,
    findings: Vec<Finding>,
    scopes: Vec<Scope>,
    statements: u32,
    nesting: u32,
    max_nesting: u32,
    nesting_at: Option<Span>,
    expression_depth: u32,
    max_expression_depth: u32,
    expression_at: Option<Span>,
}

impl<'s> Analyzer<'s> {
    fn run(code: &'s str, parsed: &Parsed<'_>) -> (Vec<Finding>, CodeMetrics) {
        let mut analyzer = Analyzer {
            code,
            index: None,
            shift: parsed.shift,
            findings: Vec::new(),
            scopes: vec![Scope {
                function: true,
                names: HashMap::new(),
            }],
            statements: 0,
            nesting: 0,
            max_nesting: 0,
            nesting_at: None,
            expression_depth: 0,
            max_expression_depth: 0,
            expression_at: None,
        };
        match wrapped_body(parsed) {
            Some(body) => {
                analyzer.visit_directives(&body.directives);
                analyzer.visit_statements(&body.statements);
            }
            None => analyzer.visit_program(&parsed.program),
        }
        let lines = count_lines(code);
        if lines > MAX_LINES {
            analyzer.findings.push(Finding {
                rule: METRICS_SIZE.to_string(),
                severity: Severity::Info,
                line: 1,
                col: 1,
                message: format!("{lines} lines (over {MAX_LINES})"),
            });
        }
        if let Some(span) = analyzer.nesting_at {
            let depth = analyzer.max_nesting;
            analyzer.report(
                METRICS_NESTING,
                Severity::Info,
                span,
                format!("blocks nested {depth} deep (over {MAX_NESTING})"),
            );
        }
        if let Some(span) = analyzer.expression_at {
            let depth = analyzer.max_expression_depth;
            analyzer.report(
                METRICS_NESTING,
                Severity::Info,
                span,
                format!("expressions nested {depth} deep (over {MAX_EXPRESSION_DEPTH})"),
            );
        }
        let metrics = CodeMetrics {
            lines,
            bytes: code.len() as u64,
            statements: analyzer.statements,
            max_nesting: analyzer.max_nesting,
            max_expression_depth: analyzer.max_expression_depth,
        };
        (analyzer.findings, metrics)
    }

    fn report(&mut self, rule: &str, severity: Severity, span: Span, message: String) {
        let offset = span.start.saturating_sub(self.shift) as usize;
        let code = self.code;
        let (line, col) = self
            .index
            .get_or_insert_with(|| LineIndex::new(code))
            .position(offset);
        self.findings.push(Finding {
            rule: rule.to_string(),
            severity,
            line,
            col,
            message,
        });
    }

    // --- scopes and bindings

    fn push_scope(&mut self, function: bool) {
        self.scopes.push(Scope {
            function,
            names: HashMap::new(),
        });
    }

    fn pop_scope(&mut self) {
        if self.scopes.len() > 1 {
            self.scopes.pop();
        }
    }

    fn lookup(&self, name: &str) -> Option<Value> {
        for scope in self.scopes.iter().rev() {
            if let Some(value) = scope.names.get(name) {
                return Some(value.clone());
            }
        }
        global_value(name)
    }

    /// Records that `name` holds `value`. Unknown values are not recorded, so a local
    /// name never hides a global the rules follow (a finding too many rather than one
    /// too few); constant strings are trusted only from `const`.
    fn bind(&mut self, name: &str, value: Option<Value>, kind: VariableDeclarationKind) {
        let Some(value) = value else { return };
        if matches!(value, Value::Str(_)) && kind != VariableDeclarationKind::Const {
            return;
        }
        let index = if kind == VariableDeclarationKind::Var {
            self.scopes.iter().rposition(|s| s.function).unwrap_or(0)
        } else {
            self.scopes.len() - 1
        };
        self.scopes[index].names.insert(name.to_string(), value);
    }

    /// `name = value`: updates the binding where it lives (constant strings are not
    /// recorded: the name is reassigned).
    fn assign(&mut self, name: &str, value: Value) {
        if matches!(value, Value::Str(_)) {
            for scope in self.scopes.iter_mut().rev() {
                if scope.names.remove(name).is_some() {
                    return;
                }
            }
            return;
        }
        let index = self
            .scopes
            .iter()
            .rposition(|s| s.names.contains_key(name))
            .unwrap_or(0);
        self.scopes[index].names.insert(name.to_string(), value);
    }

    fn bind_pattern(
        &mut self,
        pattern: &BindingPattern<'_>,
        value: Option<Value>,
        kind: VariableDeclarationKind,
    ) {
        match pattern {
            BindingPattern::BindingIdentifier(id) => self.bind(id.name.as_str(), value, kind),
            BindingPattern::ObjectPattern(object) => {
                for property in &object.properties {
                    let Some(key) = self.property_key(&property.key) else {
                        continue;
                    };
                    if let Some(Value::Module(module)) = &value {
                        self.check_export(module, &key, property.span);
                    }
                    let member = value.clone().and_then(|v| member_value(v, &key));
                    self.bind_pattern(&property.value, member, kind);
                }
            }
            BindingPattern::AssignmentPattern(assignment) => {
                let value = value.or_else(|| self.value(&assignment.right, 0));
                self.bind_pattern(&assignment.left, value, kind);
            }
            BindingPattern::ArrayPattern(_) => {}
        }
    }

    fn property_key(&self, key: &PropertyKey<'_>) -> Option<String> {
        key.static_name()
            .map(|name| name.into_owned())
            .or_else(|| key.as_expression().and_then(|e| self.fold(e, 0)))
    }

    // --- constant folding

    /// The constant string `expr` evaluates to, if known.
    fn fold(&self, expr: &Expression<'_>, depth: u32) -> Option<String> {
        self.folded(expr, depth)
            .filter(|(_, string)| *string)
            .map(|(text, _)| text)
    }

    /// The constant `expr` evaluates to, as text, and whether it is a string (else an
    /// integer).
    fn folded(&self, expr: &Expression<'_>, depth: u32) -> Option<(String, bool)> {
        if depth > MAX_FOLD_DEPTH {
            return None;
        }
        let depth = depth + 1;
        let folded = match expr {
            Expression::StringLiteral(s) => (s.value.to_string(), true),
            Expression::TemplateLiteral(t) => {
                let mut out = String::new();
                for (i, quasi) in t.quasis.iter().enumerate() {
                    out.push_str(quasi.value.cooked.as_ref()?.as_str());
                    if let Some(e) = t.expressions.get(i) {
                        out.push_str(&self.folded(e, depth)?.0);
                    }
                    if out.len() > MAX_FOLD_LEN {
                        return None;
                    }
                }
                (out, true)
            }
            Expression::NumericLiteral(n) => {
                if n.value.fract() != 0.0 || n.value.abs() > 1e15 {
                    return None;
                }
                ((n.value as i64).to_string(), false)
            }
            Expression::BinaryExpression(b) if b.operator == BinaryOperator::Addition => {
                let (left, left_string) = self.folded(&b.left, depth)?;
                let (right, right_string) = self.folded(&b.right, depth)?;
                if !(left_string || right_string) {
                    return None;
                }
                (left + &right, true)
            }
            Expression::Identifier(id) => match self.lookup(id.name.as_str()) {
                Some(Value::Str(s)) => (s, true),
                _ => return None,
            },
            Expression::ParenthesizedExpression(p) => return self.folded(&p.expression, depth),
            Expression::SequenceExpression(s) => {
                return self.folded(s.expressions.last()?, depth);
            }
            Expression::CallExpression(call) => (self.fold_call(call, depth)?, true),
            _ => return None,
        };
        (folded.0.len() <= MAX_FOLD_LEN).then_some(folded)
    }

    /// String methods on constants: `join`, `concat`, `replace`, `replaceAll`,
    /// `toLowerCase`, `toUpperCase`, `trim`, `String.fromCharCode`.
    fn fold_call(&self, call: &CallExpression<'_>, depth: u32) -> Option<String> {
        let (object, method) = self.member_parts(&call.callee, depth)?;
        let arg = |i: usize| call.arguments.get(i).and_then(|a| a.as_expression());
        match method.as_str() {
            "join" => {
                let parts = self.fold_array(object, depth)?;
                let separator = match call.arguments.first() {
                    None => ",".to_string(),
                    Some(a) => self.fold(a.as_expression()?, depth)?,
                };
                let joined = parts.join(&separator);
                (joined.len() <= MAX_FOLD_LEN).then_some(joined)
            }
            "concat" => {
                let mut out = self.fold(object, depth)?;
                for a in &call.arguments {
                    out.push_str(&self.folded(a.as_expression()?, depth)?.0);
                    if out.len() > MAX_FOLD_LEN {
                        return None;
                    }
                }
                Some(out)
            }
            "replace" | "replaceAll" => {
                let s = self.fold(object, depth)?;
                let from = self.fold(arg(0)?, depth)?;
                let to = self.fold(arg(1)?, depth)?;
                if method == "replace" {
                    Some(s.replacen(&from, &to, 1))
                } else if from.is_empty() {
                    None
                } else {
                    Some(s.replace(&from, &to)).filter(|r| r.len() <= MAX_FOLD_LEN)
                }
            }
            "toLowerCase" => Some(self.fold(object, depth)?.to_lowercase()),
            "toUpperCase" => Some(self.fold(object, depth)?.to_uppercase()),
            "trim" => Some(self.fold(object, depth)?.trim().to_string()),
            "fromCharCode" if self.value(object, depth) == Some(Value::Builtin("String")) => {
                let mut out = String::new();
                for a in &call.arguments {
                    let (text, string) = self.folded(a.as_expression()?, depth)?;
                    if string {
                        return None;
                    }
                    out.push(char::from_u32(text.parse::<u32>().ok()?)?);
                }
                Some(out)
            }
            _ => None,
        }
    }

    /// A constant array of strings: a literal, `s.split(sep)`, `a.reverse()`.
    fn fold_array(&self, expr: &Expression<'_>, depth: u32) -> Option<Vec<String>> {
        if depth > MAX_FOLD_DEPTH {
            return None;
        }
        let depth = depth + 1;
        match expr {
            Expression::ArrayExpression(array) => array
                .elements
                .iter()
                .map(|e| match e {
                    ArrayExpressionElement::Elision(_) => Some(String::new()),
                    _ => self.folded(e.as_expression()?, depth).map(|(text, _)| text),
                })
                .collect(),
            Expression::CallExpression(call) => {
                let (object, method) = self.member_parts(&call.callee, depth)?;
                match method.as_str() {
                    "split" => {
                        let s = self.fold(object, depth)?;
                        let separator =
                            self.fold(call.arguments.first()?.as_expression()?, depth)?;
                        Some(if separator.is_empty() {
                            s.chars().map(String::from).collect()
                        } else {
                            s.split(separator.as_str()).map(String::from).collect()
                        })
                    }
                    "reverse" => {
                        let mut parts = self.fold_array(object, depth)?;
                        parts.reverse();
                        Some(parts)
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    // --- values

    /// `object.key` / `object['key']` (key folded): the object and the key.
    fn member_parts<'b, 'a>(
        &self,
        expr: &'b Expression<'a>,
        depth: u32,
    ) -> Option<(&'b Expression<'a>, String)> {
        match expr {
            Expression::StaticMemberExpression(m) => {
                Some((&m.object, m.property.name.as_str().to_string()))
            }
            Expression::ComputedMemberExpression(m) => {
                Some((&m.object, self.fold(&m.expression, depth + 1)?))
            }
            Expression::ParenthesizedExpression(p) => self.member_parts(&p.expression, depth),
            Expression::ChainExpression(chain) => match &chain.expression {
                ChainElement::StaticMemberExpression(m) => {
                    Some((&m.object, m.property.name.as_str().to_string()))
                }
                ChainElement::ComputedMemberExpression(m) => {
                    Some((&m.object, self.fold(&m.expression, depth + 1)?))
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// `….constructor` reached through another `.constructor`.
    fn is_constructor_chain(&self, expr: &Expression<'_>) -> bool {
        match self.member_parts(expr, 0) {
            Some((object, key)) if key == "constructor" => self
                .member_parts(object, 0)
                .is_some_and(|(_, inner)| inner == "constructor"),
            _ => false,
        }
    }

    /// What `expr` is known to be.
    fn value(&self, expr: &Expression<'_>, depth: u32) -> Option<Value> {
        if depth > MAX_FOLD_DEPTH {
            return None;
        }
        let depth = depth + 1;
        match expr {
            Expression::Identifier(id) => self.lookup(id.name.as_str()),
            Expression::StaticMemberExpression(_)
            | Expression::ComputedMemberExpression(_)
            | Expression::ChainExpression(_)
                if self.member_parts(expr, depth).is_some() =>
            {
                let (object, key) = self.member_parts(expr, depth)?;
                if key == "constructor"
                    && (matches!(
                        object,
                        Expression::FunctionExpression(_)
                            | Expression::ArrowFunctionExpression(_)
                            | Expression::ClassExpression(_)
                    ) || self.is_constructor_chain(expr))
                {
                    return Some(Value::Builtin("Function"));
                }
                member_value(self.value(object, depth)?, &key)
            }
            Expression::ChainExpression(chain) => match &chain.expression {
                ChainElement::CallExpression(call) => self.call_value(call, depth),
                _ => None,
            },
            Expression::ParenthesizedExpression(p) => self.value(&p.expression, depth),
            Expression::SequenceExpression(s) => self.value(s.expressions.last()?, depth),
            Expression::AssignmentExpression(a) if a.operator == AssignmentOperator::Assign => {
                self.value(&a.right, depth)
            }
            Expression::LogicalExpression(l) => self
                .value(&l.left, depth)
                .or_else(|| self.value(&l.right, depth)),
            Expression::ConditionalExpression(c) => self
                .value(&c.consequent, depth)
                .or_else(|| self.value(&c.alternate, depth)),
            Expression::AwaitExpression(a) => match &a.argument {
                Expression::ImportExpression(import) => self
                    .fold(&import.source, depth)
                    .map(|s| Value::Module(normalize_module(&s).to_string())),
                other => self.value(other, depth),
            },
            Expression::CallExpression(call) => self.call_value(call, depth),
            _ => self.fold(expr, depth).map(Value::Str),
        }
    }

    /// What a call returns, when it loads a module or makes a `require`.
    fn call_value(&self, call: &CallExpression<'_>, depth: u32) -> Option<Value> {
        let target = self.target(&call.callee, &call.arguments, depth)?;
        match &target.value {
            Value::Require => match target.first {
                First::Expr(e) => self
                    .fold(e, depth)
                    .map(|s| Value::Module(normalize_module(&s).to_string())),
                _ => None,
            },
            Value::Export(module, name) if module == "module" && name == "_load" => {
                match target.first {
                    First::Expr(e) => self
                        .fold(e, depth)
                        .map(|s| Value::Module(normalize_module(&s).to_string())),
                    _ => None,
                }
            }
            Value::Export(module, name) if module == "module" && name == "createRequire" => {
                Some(Value::Require)
            }
            _ => None,
        }
    }

    fn target<'b, 'a>(
        &self,
        callee: &'b Expression<'a>,
        args: &'b [Argument<'a>],
        depth: u32,
    ) -> Option<Target<'b, 'a>> {
        if let Some((object, method)) = self.member_parts(callee, depth) {
            if method == "call" || method == "apply" {
                if let Some(value) = self.value(object, depth) {
                    let first = if method == "call" {
                        argument_at(args, 1)
                    } else {
                        array_first(args.get(1))
                    };
                    return Some(Target {
                        value,
                        first,
                        chain: self.is_constructor_chain(object),
                    });
                }
            }
            if (method == "apply" || method == "construct")
                && self.value(object, depth) == Some(Value::Builtin("Reflect"))
            {
                let function = args.first()?.as_expression()?;
                let first = if method == "apply" {
                    array_first(args.get(2))
                } else {
                    array_first(args.get(1))
                };
                return Some(Target {
                    value: self.value(function, depth)?,
                    first,
                    chain: self.is_constructor_chain(function),
                });
            }
        }
        Some(Target {
            value: self.value(callee, depth)?,
            first: argument_at(args, 0),
            chain: self.is_constructor_chain(callee),
        })
    }

    // --- rules

    fn import_module(&mut self, name: &str, span: Span, how: &str) {
        if let Some((rule, severity, what)) = classify_module(name) {
            let module = normalize_module(name);
            self.report(rule, severity, span, format!("{how}: {module} {what}"));
        }
    }

    /// `require(first)` and the like.
    fn load(&mut self, first: First<'_, '_>, span: Span, how: &str) {
        match first {
            First::Expr(e) => match self.fold(e, 0) {
                Some(name) => self.import_module(&name, span, &format!("{how}('{name}')")),
                None => self.report(
                    IMPORT_DYNAMIC,
                    Severity::Medium,
                    span,
                    format!("{how}() of a module name computed at run time"),
                ),
            },
            First::Opaque => self.report(
                IMPORT_DYNAMIC,
                Severity::Medium,
                span,
                format!("{how}() of a module name computed at run time"),
            ),
            First::Missing => {}
        }
    }

    /// A member of a module reached by name (destructured, imported).
    fn check_export(&mut self, module: &str, name: &str, span: Span) {
        if module == "process" && NATIVE_PROCESS_MEMBERS.contains(&name) {
            self.report(
                IMPORT_NATIVE,
                Severity::High,
                span,
                format!("process.{name} reaches node's native bindings"),
            );
        }
    }

    /// Severity of code run from a string: low when the string is a constant.
    fn code_severity(&self, first: First<'_, '_>) -> Severity {
        match first {
            First::Missing => Severity::Low,
            First::Expr(e) if self.fold(e, 0).is_some() => Severity::Low,
            _ => Severity::Medium,
        }
    }

    /// Whether `first` is a string (a literal, a template, or a `+` with one).
    fn is_stringish(&self, first: First<'_, '_>) -> bool {
        fn stringish(e: &Expression<'_>) -> bool {
            match e {
                Expression::StringLiteral(_) | Expression::TemplateLiteral(_) => true,
                Expression::BinaryExpression(b) if b.operator == BinaryOperator::Addition => {
                    stringish(&b.left) || stringish(&b.right)
                }
                Expression::ParenthesizedExpression(p) => stringish(&p.expression),
                _ => false,
            }
        }
        match first {
            First::Expr(e) => stringish(e) || self.fold(e, 0).is_some(),
            _ => false,
        }
    }

    fn check_call(
        &mut self,
        callee: &Expression<'_>,
        args: &[Argument<'_>],
        span: Span,
        new: bool,
    ) {
        let target = self.target(callee, args, 0);
        let value = target.as_ref().map(|t| &t.value);
        let first = target.as_ref().map_or(First::Missing, |t| t.first);
        match value {
            Some(Value::Require) if !new => self.load(first, span, "require"),
            Some(Value::Export(module, name)) if module == "module" && name == "_load" => {
                self.load(first, span, "Module._load");
            }
            Some(Value::Export(module, name))
                if module == "child_process" && SPAWN_FUNCTIONS.contains(&name.as_str()) =>
            {
                self.report(
                    PROCESS_SPAWN,
                    Severity::Medium,
                    span,
                    format!("child_process.{name}() runs another program"),
                );
            }
            Some(Value::Export(module, name))
                if module == "vm"
                    && (VM_EVAL_FUNCTIONS.contains(&name.as_str())
                        || (new && name == "Script")) =>
            {
                let severity = self.code_severity(first);
                self.report(
                    EXEC_EVAL,
                    severity,
                    span,
                    format!("vm.{name} compiles code from a string"),
                );
            }
            Some(Value::Builtin("eval")) if !new => {
                let severity = self.code_severity(first);
                let what = if severity == Severity::Low {
                    "eval() of a constant string"
                } else {
                    "eval() of a string computed at run time"
                };
                self.report(EXEC_EVAL, severity, span, what.to_string());
            }
            Some(Value::Builtin("Function")) => {
                let chain = target.as_ref().is_some_and(|t| t.chain);
                if chain {
                    self.report(
                        EXEC_FUNCTION,
                        Severity::High,
                        span,
                        "a .constructor.constructor chain reaches Function and compiles code"
                            .to_string(),
                    );
                } else {
                    self.report(
                        EXEC_FUNCTION,
                        Severity::Medium,
                        span,
                        "Function() compiles code from a string".to_string(),
                    );
                }
            }
            Some(Value::Builtin("fetch")) if !new => self.report(
                IMPORT_NETWORK,
                Severity::Medium,
                span,
                "fetch() makes network requests".to_string(),
            ),
            Some(Value::Builtin("WebSocket")) => self.report(
                IMPORT_NETWORK,
                Severity::Medium,
                span,
                "WebSocket opens a network connection".to_string(),
            ),
            Some(Value::Builtin(timer @ ("setTimeout" | "setInterval")))
                if !new && self.is_stringish(first) =>
            {
                self.report(
                    EXEC_EVAL,
                    Severity::Low,
                    span,
                    format!(
                        "{timer}() with a string runs it as code in browsers (node refuses it)"
                    ),
                );
            }
            _ => {
                // `x.constructor('code')`: most likely a Function constructor.
                let is_constructor = self
                    .member_parts(callee, 0)
                    .is_some_and(|(_, key)| key == "constructor");
                if is_constructor && self.is_stringish(argument_at(args, 0)) {
                    self.report(
                        EXEC_FUNCTION,
                        Severity::Medium,
                        span,
                        ".constructor() called with a string: a Function constructor compiles it"
                            .to_string(),
                    );
                }
            }
        }
    }

    fn check_member(&mut self, object: &Expression<'_>, key: &str, span: Span) {
        if key == "__proto__" {
            self.report(
                REFLECT_PROTOTYPE,
                Severity::High,
                span,
                "__proto__ reaches an object's prototype".to_string(),
            );
        } else if key == "constructor"
            && self
                .member_parts(object, 0)
                .is_some_and(|(_, k)| k == "constructor")
        {
            self.report(
                REFLECT_PROTOTYPE,
                Severity::High,
                span,
                ".constructor.constructor reaches the Function constructor".to_string(),
            );
        } else if NATIVE_PROCESS_MEMBERS.contains(&key)
            && self.value(object, 0) == Some(Value::Module("process".to_string()))
        {
            self.check_export("process", key, span);
        }
    }

    /// A write through `….constructor.prototype`.
    fn writes_constructor_prototype(&self, member: &MemberExpression<'_>) -> bool {
        let mut expr = member.object();
        for _ in 0..MAX_FOLD_DEPTH {
            let Some((object, key)) = self.member_parts(expr, 0) else {
                return false;
            };
            if key == "prototype"
                && self
                    .member_parts(object, 0)
                    .is_some_and(|(_, k)| k == "constructor")
            {
                return true;
            }
            expr = object;
        }
        false
    }

    // --- metrics

    fn enter(&mut self, span: Span) {
        self.nesting += 1;
        if self.nesting > self.max_nesting {
            self.max_nesting = self.nesting;
            if self.nesting > MAX_NESTING && self.nesting_at.is_none() {
                self.nesting_at = Some(span);
            }
        }
    }

    fn leave(&mut self) {
        self.nesting -= 1;
    }

    /// The body of an `if`, a loop or `with`: a block nests by itself, a single statement
    /// nests as one.
    fn visit_body<'a>(&mut self, body: &Statement<'a>, span: Span) {
        if matches!(body, Statement::BlockStatement(_)) {
            self.visit_statement(body);
        } else {
            self.enter(span);
            self.visit_statement(body);
            self.leave();
        }
    }

    /// A function's body: a new scope, one more level, expressions counted afresh.
    fn function_scope(&mut self, span: Span, walk: impl FnOnce(&mut Self)) {
        self.push_scope(true);
        self.enter(span);
        let outer = std::mem::take(&mut self.expression_depth);
        walk(self);
        self.expression_depth = outer;
        self.leave();
        self.pop_scope();
    }
}

/// The statements of the user's code in the top-level-await parse (inside the wrapper).
fn wrapped_body<'p, 'a>(parsed: &'p Parsed<'a>) -> Option<&'p FunctionBody<'a>> {
    if !parsed.wrapped {
        return None;
    }
    let [Statement::ExpressionStatement(statement)] = parsed.program.body.as_slice() else {
        return None;
    };
    let Expression::CallExpression(call) = &statement.expression else {
        return None;
    };
    let Expression::ArrowFunctionExpression(arrow) = call.callee.get_inner_expression() else {
        return None;
    };
    match &arrow.body {
        ArrowFunctionBody::FunctionBody(body) => Some(body),
        _ => None,
    }
}

impl<'a> Visit<'a> for Analyzer<'_> {
    fn visit_statement(&mut self, it: &Statement<'a>) {
        if !matches!(
            it,
            Statement::BlockStatement(_) | Statement::EmptyStatement(_)
        ) {
            self.statements += 1;
        }
        walk::walk_statement(self, it);
    }

    fn visit_expression(&mut self, it: &Expression<'a>) {
        self.expression_depth += 1;
        if self.expression_depth > self.max_expression_depth {
            self.max_expression_depth = self.expression_depth;
            if self.expression_depth > MAX_EXPRESSION_DEPTH && self.expression_at.is_none() {
                self.expression_at = Some(oxc_span::GetSpan::span(it));
            }
        }
        walk::walk_expression(self, it);
        self.expression_depth -= 1;
    }

    fn visit_block_statement(&mut self, it: &BlockStatement<'a>) {
        self.push_scope(false);
        self.enter(it.span);
        walk::walk_block_statement(self, it);
        self.leave();
        self.pop_scope();
    }

    fn visit_if_statement(&mut self, it: &IfStatement<'a>) {
        self.visit_expression(&it.test);
        self.visit_body(&it.consequent, it.span);
        match &it.alternate {
            // `else if` stays at the same level.
            Some(alternate @ Statement::IfStatement(_)) => self.visit_statement(alternate),
            Some(alternate) => self.visit_body(alternate, it.span),
            None => {}
        }
    }

    fn visit_while_statement(&mut self, it: &WhileStatement<'a>) {
        self.visit_expression(&it.test);
        self.visit_body(&it.body, it.span);
    }

    fn visit_do_while_statement(&mut self, it: &DoWhileStatement<'a>) {
        self.visit_body(&it.body, it.span);
        self.visit_expression(&it.test);
    }

    fn visit_for_statement(&mut self, it: &ForStatement<'a>) {
        self.push_scope(false);
        if let Some(init) = &it.init {
            self.visit_for_statement_init(init);
        }
        if let Some(test) = &it.test {
            self.visit_expression(test);
        }
        if let Some(update) = &it.update {
            self.visit_expression(update);
        }
        self.visit_body(&it.body, it.span);
        self.pop_scope();
    }

    fn visit_for_in_statement(&mut self, it: &ForInStatement<'a>) {
        self.push_scope(false);
        self.visit_for_statement_left(&it.left);
        self.visit_expression(&it.right);
        self.visit_body(&it.body, it.span);
        self.pop_scope();
    }

    fn visit_for_of_statement(&mut self, it: &ForOfStatement<'a>) {
        self.push_scope(false);
        self.visit_for_statement_left(&it.left);
        self.visit_expression(&it.right);
        self.visit_body(&it.body, it.span);
        self.pop_scope();
    }

    fn visit_with_statement(&mut self, it: &WithStatement<'a>) {
        self.visit_expression(&it.object);
        self.visit_body(&it.body, it.span);
    }

    fn visit_switch_statement(&mut self, it: &SwitchStatement<'a>) {
        self.visit_expression(&it.discriminant);
        self.push_scope(false);
        self.enter(it.span);
        self.visit_switch_cases(&it.cases);
        self.leave();
        self.pop_scope();
    }

    fn visit_catch_clause(&mut self, it: &CatchClause<'a>) {
        self.push_scope(false);
        walk::walk_catch_clause(self, it);
        self.pop_scope();
    }

    fn visit_function_body(&mut self, it: &FunctionBody<'a>) {
        self.function_scope(it.span, |v| walk::walk_function_body(v, it));
    }

    fn visit_arrow_function_expression(&mut self, it: &ArrowFunctionExpression<'a>) {
        if matches!(it.body, ArrowFunctionBody::FunctionBody(_)) {
            walk::walk_arrow_function_expression(self, it);
        } else {
            // `x => expr`: a function too.
            self.function_scope(it.span, |v| walk::walk_arrow_function_expression(v, it));
        }
    }

    fn visit_class(&mut self, it: &Class<'a>) {
        self.enter(it.span);
        walk::walk_class(self, it);
        self.leave();
    }

    fn visit_static_block(&mut self, it: &StaticBlock<'a>) {
        self.function_scope(it.span, |v| walk::walk_static_block(v, it));
    }

    fn visit_variable_declaration(&mut self, it: &VariableDeclaration<'a>) {
        for declarator in &it.declarations {
            let value = declarator.init.as_ref().and_then(|e| self.value(e, 0));
            self.bind_pattern(&declarator.id, value, it.kind);
            self.visit_variable_declarator(declarator);
        }
    }

    fn visit_assignment_expression(&mut self, it: &AssignmentExpression<'a>) {
        if it.operator == AssignmentOperator::Assign {
            if let AssignmentTarget::AssignmentTargetIdentifier(id) = &it.left {
                if let Some(value) = self.value(&it.right, 0) {
                    self.assign(id.name.as_str(), value);
                }
            }
        }
        if let Some(member) = it.left.as_member_expression() {
            if self.writes_constructor_prototype(member) {
                self.report(
                    REFLECT_PROTOTYPE,
                    Severity::High,
                    it.span,
                    "a write through .constructor.prototype changes a shared prototype".to_string(),
                );
            }
        }
        walk::walk_assignment_expression(self, it);
    }

    fn visit_call_expression(&mut self, it: &CallExpression<'a>) {
        self.check_call(&it.callee, &it.arguments, it.span, false);
        walk::walk_call_expression(self, it);
    }

    fn visit_new_expression(&mut self, it: &NewExpression<'a>) {
        self.check_call(&it.callee, &it.arguments, it.span, true);
        walk::walk_new_expression(self, it);
    }

    fn visit_import_expression(&mut self, it: &ImportExpression<'a>) {
        let first = First::Expr(&it.source);
        self.load(first, it.span, "import");
        walk::walk_import_expression(self, it);
    }

    fn visit_static_member_expression(&mut self, it: &StaticMemberExpression<'a>) {
        self.check_member(&it.object, it.property.name.as_str(), it.span);
        walk::walk_static_member_expression(self, it);
    }

    fn visit_computed_member_expression(&mut self, it: &ComputedMemberExpression<'a>) {
        if let Some(key) = self.fold(&it.expression, 0) {
            self.check_member(&it.object, &key, it.span);
        }
        walk::walk_computed_member_expression(self, it);
    }

    fn visit_import_declaration(&mut self, it: &ImportDeclaration<'a>) {
        let name = it.source.value.as_str();
        let module = normalize_module(name).to_string();
        self.import_module(name, it.span, &format!("import from '{name}'"));
        for specifier in it.specifiers.iter().flatten() {
            match specifier {
                ImportDeclarationSpecifier::ImportDefaultSpecifier(s) => {
                    self.scopes[0]
                        .names
                        .insert(s.local.name.to_string(), Value::Module(module.clone()));
                }
                ImportDeclarationSpecifier::ImportNamespaceSpecifier(s) => {
                    self.scopes[0]
                        .names
                        .insert(s.local.name.to_string(), Value::Module(module.clone()));
                }
                ImportDeclarationSpecifier::ImportSpecifier(s) => {
                    let imported = match &s.imported {
                        ModuleExportName::IdentifierName(n) => n.name.as_str(),
                        ModuleExportName::IdentifierReference(n) => n.name.as_str(),
                        ModuleExportName::StringLiteral(n) => n.value.as_str(),
                    };
                    self.check_export(&module, imported, s.span);
                    let value = member_value(Value::Module(module.clone()), imported);
                    if let Some(value) = value {
                        self.scopes[0].names.insert(s.local.name.to_string(), value);
                    }
                }
            }
        }
        walk::walk_import_declaration(self, it);
    }

    fn visit_export_from_declaration(&mut self, it: &ExportFromDeclaration<'a>) {
        let name = it.source.value.as_str();
        self.import_module(name, it.span, &format!("export from '{name}'"));
        walk::walk_export_from_declaration(self, it);
    }

    fn visit_export_all_declaration(&mut self, it: &ExportAllDeclaration<'a>) {
        let name = it.source.value.as_str();
        self.import_module(name, it.span, &format!("export * from '{name}'"));
        walk::walk_export_all_declaration(self, it);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings(code: &str) -> Vec<Finding> {
        match analyze(code) {
            Ok((findings, _)) => findings,
            Err(e) => panic!("{code:?} does not parse: {e:?}"),
        }
    }

    /// The (rule, severity) pairs found in `code`, sorted.
    fn rules(code: &str) -> Vec<(String, Severity)> {
        let mut rules: Vec<_> = findings(code)
            .into_iter()
            .map(|f| (f.rule, f.severity))
            .collect();
        rules.sort_by(|a, b| a.0.cmp(&b.0));
        rules
    }

    fn has(code: &str, rule: &str, severity: Severity) -> bool {
        rules(code).iter().any(|(r, s)| r == rule && *s == severity)
    }

    fn assert_has(code: &str, rule: &str, severity: Severity) {
        assert!(
            has(code, rule, severity),
            "{code:?}: expected {rule} ({severity:?}), got {:?}",
            rules(code)
        );
    }

    fn assert_clean(code: &str) {
        let found = rules(code);
        assert!(
            found.is_empty(),
            "{code:?}: expected no findings, got {found:?}"
        );
    }

    fn assert_only(code: &str, expected: &[(&str, Severity)]) {
        let mut expected: Vec<(String, Severity)> =
            expected.iter().map(|(r, s)| (r.to_string(), *s)).collect();
        expected.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(rules(code), expected, "{code:?}");
    }

    // --- syntax

    #[test]
    fn valid_code_node_runs_is_accepted() {
        let snippets = [
            "class A extends B { #x = 1; static { this.y = 2 } get x() { return this.#x } }",
            "async function f() { await g(); for await (const x of y) {} }",
            "function* g() { yield 1; yield* [2, 3] }",
            "const r = /a[/]b(?<n>c)\\k<n>/gu; r.test('x'); const d = a / b / c;",
            "const s = `a ${b + `c ${d}`} e`; String.raw`\\u`;",
            "a?.b?.[c]?.(d); x ??= 1; y ||= 2; z &&= 3;",
            "with (Math) { x = cos(0) }",
            "var a = 010, b = 08; '\\08';",
            "#!/usr/bin/env node\nconsole.log(1)",
            "({a: 1})",
            "const r = await fetch('x'); console.log(await r.text())",
            "await Promise.all([1, 2].map(async (x) => x))",
            "return 5",
            "if (x) return\nconsole.log(1)",
            "new.target",
            "<!-- an HTML-like comment\nx = 1\n--> another",
            "var let = 1, yield = 2, await = 3, async = 4; let\nx = 5",
            "label: for (;;) { break label }",
            "try { x() } catch { y() } finally { z() }",
            "switch (x) { case 1: { let y = 1; break } default: }",
            "import fs from 'fs'; export const x = fs;",
            "const { default: m } = await import('x'); let package = 1; await m",
            "await x // a trailing comment",
        ];
        for code in snippets {
            assert_eq!(syntax(code), Ok(()), "{code:?}");
            assert!(analyze(code).is_ok(), "{code:?}");
        }
    }

    #[test]
    fn an_incomplete_function_is_rejected_where_it_breaks() {
        let error = syntax("function (").unwrap_err();
        assert_eq!((error.line, error.col), (1, 10), "{error:?}");
        assert!(!error.message.is_empty());
        assert_eq!(analyze("function (").unwrap_err(), error);
    }

    #[test]
    fn an_error_on_line_three_is_reported_on_line_three() {
        let error = syntax("let a = 1;\nlet b = 2;\nlet c = ;\n").unwrap_err();
        assert_eq!((error.line, error.col), (3, 9), "{error:?}");
    }

    #[test]
    fn error_columns_count_characters() {
        let error = syntax("const é = 'é'; )").unwrap_err();
        assert_eq!((error.line, error.col), (1, 16), "{error:?}");
    }

    #[test]
    fn top_level_await_with_an_error_reports_the_script_error() {
        // No parse accepts it: the error is the CommonJS parse's first.
        let error = syntax("x = 1;\nawait y;\nz = (;").unwrap_err();
        assert_eq!(error.line, 2, "{error:?}");
    }

    #[test]
    fn code_too_large_to_bound_is_refused_not_a_stack_overflow() {
        let deep = format!("x = {}1{}", "(".repeat(400_000), ")".repeat(400_000));
        let error = syntax(&deep).unwrap_err();
        assert!(error.message.contains("too deeply nested"), "{error:?}");
        assert_eq!((error.line, error.col), (1, 1));
        assert_eq!(analyze(&deep).unwrap_err(), error);
    }

    #[test]
    fn deep_nesting_parses_on_its_own_stack() {
        // Each is more than a 2 MiB stack holds.
        let code = format!("x = {}1{}", "[".repeat(4000), "]".repeat(4000));
        assert!(stack_bound(&code) > INLINE_STACK);
        let (found, metrics) = analyze(&code).unwrap();
        assert_eq!(metrics.max_expression_depth, 4002);
        assert!(found.iter().any(|f| f.rule == METRICS_NESTING));
        let chain = format!("if (a) b();{}", " else if (a) b();".repeat(5000));
        assert!(analyze(&chain).is_ok());
        let unary = format!("x = {}1", "!".repeat(20_000));
        assert!(analyze(&unary).is_ok());
        let concatenation = format!("x = 'a'{}", " + 'a'".repeat(20_000));
        assert_eq!(
            analyze(&concatenation).unwrap().1.max_expression_depth,
            20_002
        );
    }

    #[test]
    fn the_stack_bound_counts_brackets_and_bytes_but_not_blanks() {
        assert_eq!(stack_bound(""), STACK_BASE);
        assert_eq!(stack_bound(" \n\t\r "), STACK_BASE);
        let call = STACK_BASE + STACK_PER_BRACKET + 3 * STACK_PER_BYTE;
        assert_eq!(stack_bound("f(x)"), call);
        assert_eq!(stack_bound("f (\n  x\n)"), call);
        let blocks = STACK_BASE + 3 * STACK_PER_BRACKET + 3 * STACK_PER_BYTE;
        assert_eq!(stack_bound("{ [ ( ) ] }"), blocks);
        // Brackets in strings and comments count: the bound trusts no reading of the code.
        let quoted = STACK_BASE + 2 * STACK_PER_BRACKET + 4 * STACK_PER_BYTE;
        assert_eq!(stack_bound("'(' // ["), quoted);
        // Snippets run on the caller's stack.
        assert!(stack_bound(&"x = f(a, b);\n".repeat(40)) <= INLINE_STACK);
    }

    // --- import.process

    #[test]
    fn process_modules_are_found_however_they_are_loaded() {
        for code in [
            "require('child_process')",
            "require('node:child_process')",
            "const cp = require(\"cluster\")",
            "import cp from 'child_process'",
            "import * as wt from 'node:worker_threads'",
            "import('child_process').then(m => m)",
            "process.mainModule.require('child_process')",
            "module.require('child_process')",
            "require.main.require('child_process')",
            "globalThis.require('child_process')",
            "export * from 'child_process'",
            "export { exec } from 'child_process'",
        ] {
            assert_has(code, IMPORT_PROCESS, Severity::Medium);
        }
    }

    #[test]
    fn harmless_modules_and_strings_are_not_flagged() {
        assert_clean("const path = require('path'); const util = require('node:util');");
        assert_clean("import { join } from 'path'");
        assert_clean("console.log('child_process', \"http\", `fs`)");
        assert_clean("const x = { require: 1, child_process: 2 }; x.require; x.child_process");
        assert_clean("require.resolve('./local'); require('./child_process.js')");
    }

    // --- obfuscations seen through

    #[test]
    fn obfuscated_module_names_are_folded() {
        for code in [
            "require('child' + '_process')",
            "require(`child_process`)",
            "require(`child_${'process'}`)",
            "require(['chi', 'ld_process'].join(''))",
            "require('ssecorp_dlihc'.split('').reverse().join(''))",
            "require(String.fromCharCode(99,104,105,108,100,95,112,114,111,99,101,115,115))",
            "require('CHILD_PROCESS'.toLowerCase())",
            "require('child-process'.replace('-', '_'))",
            "require('node:'.concat('child_process'))",
            "const m = 'child_' + 'process'; require(m)",
            "const a = 'child_', b = a + 'process'; require(b)",
            "require('child_process', 'ignored')",
        ] {
            assert_has(code, IMPORT_PROCESS, Severity::Medium);
            assert!(!has(code, IMPORT_DYNAMIC, Severity::Medium), "{code:?}");
        }
    }

    #[test]
    fn aliased_requires_are_followed() {
        for code in [
            "const r = require; r('child_process')",
            "let r; r = require; r('child_process')",
            "const { require: r } = module; r('child_process')",
            "require.call(null, 'child_process')",
            "require.apply(null, ['child_process'])",
            "(0, require)('child_process')",
            "const { createRequire } = require('module'); createRequire(__filename)('child_process')",
            "import { createRequire } from 'node:module'; const r = createRequire(import.meta.url); r('child_process')",
            "module.constructor._load('child_process')",
            "const Module = require('module'); Module._load('child_process')",
            "globalThis['req' + 'uire']('child_process')",
        ] {
            assert_has(code, IMPORT_PROCESS, Severity::Medium);
        }
    }

    // --- import.network

    #[test]
    fn network_modules_and_fetch_are_found() {
        for code in [
            "require('http')",
            "require('node:https').get('https://example.com')",
            "import net from 'node:net'",
            "import { lookup } from 'dns/promises'",
            "require('dgram'); require('tls'); require('http2')",
            "const r = await fetch('https://example.com')",
            "globalThis.fetch(url)",
            "new WebSocket('wss://example.com')",
        ] {
            assert_has(code, IMPORT_NETWORK, Severity::Medium);
        }
    }

    #[test]
    fn a_user_objects_fetch_is_not_the_global_fetch() {
        assert_clean("const api = { fetch(x) { return x } }; api.fetch('u'); this.fetch()");
    }

    // --- import.system

    #[test]
    fn system_modules_are_low() {
        for code in [
            "require('fs').readFileSync('x')",
            "require('node:fs/promises')",
            "import os from 'os'",
            "const vm = require('vm')",
            "import { Session } from 'inspector/promises'",
            "require('v8')",
            "require('module')",
        ] {
            assert_has(code, IMPORT_SYSTEM, Severity::Low);
        }
        assert_clean("require('path'); require('util'); require('events'); require('crypto')");
    }

    // --- import.native

    #[test]
    fn native_bindings_are_high() {
        for code in [
            "process.binding('spawn_sync')",
            "process['_linked' + 'Binding']('x')",
            "globalThis.process.dlopen(m, '/tmp/x.node')",
            "const { binding } = process; binding('fs')",
            "const p = require('process'); p.binding('fs')",
            "import { dlopen } from 'node:process'",
            "require('ffi-napi')",
            "import koffi from 'koffi'",
        ] {
            assert_has(code, IMPORT_NATIVE, Severity::High);
        }
        assert_clean("process.env.HOME; process.argv; process.exit(0); obj.binding('x')");
    }

    // --- import.dynamic

    #[test]
    fn computed_module_names_are_dynamic() {
        for code in [
            "require(name)",
            "require('child_' + suffix)",
            "import(`./plugins/${name}.js`)",
            "require(...names)",
            "let m = 'child_process'; require(m)",
            "require.apply(null, names)",
        ] {
            assert_only(code, &[(IMPORT_DYNAMIC, Severity::Medium)]);
        }
        assert_clean("require(); require('lodash')");
    }

    // --- exec.eval

    #[test]
    fn eval_is_low_with_a_constant_and_medium_without() {
        assert_only("eval('1 + 1')", &[(EXEC_EVAL, Severity::Low)]);
        assert_only("eval(`${'a'}b`)", &[(EXEC_EVAL, Severity::Low)]);
        for code in [
            "eval(code)",
            "(0, eval)(code)",
            "globalThis.eval(code)",
            "window['eval'](code)",
            "const e = eval; e(code)",
            "eval.call(null, code)",
            "eval?.(code)",
            "require('vm').runInNewContext(code)",
            "const { runInThisContext } = require('node:vm'); runInThisContext(code)",
            "const vm = require('vm'); new vm.Script(code)",
        ] {
            assert_has(code, EXEC_EVAL, Severity::Medium);
        }
    }

    #[test]
    fn timers_with_strings_are_low_and_with_functions_clean() {
        assert_only("setTimeout('alert(1)', 10)", &[(EXEC_EVAL, Severity::Low)]);
        assert_only(
            "setInterval('tick(' + n + ')', 10)",
            &[(EXEC_EVAL, Severity::Low)],
        );
        assert_clean("setTimeout(() => tick(), 10); setInterval(tick, 5)");
    }

    #[test]
    fn a_method_named_eval_is_not_eval() {
        assert_clean("const o = { eval(x) { return x } }; o.eval('1'); db.eval(query)");
    }

    // --- exec.function

    #[test]
    fn function_constructors_are_found() {
        for code in [
            "new Function('a', 'return a')",
            "Function(code)()",
            "globalThis.Function('return this')()",
            "const F = Function; new F(code)",
            "(function () {}).constructor('return process')()",
            "(async () => {}).constructor(code)",
            "x.constructor('return process')()",
            "Reflect.construct(Function, ['return 1'])",
        ] {
            assert_has(code, EXEC_FUNCTION, Severity::Medium);
        }
    }

    #[test]
    fn the_constructor_chain_escape_is_high() {
        let code = "[].constructor.constructor('return process')().mainModule";
        assert_has(code, EXEC_FUNCTION, Severity::High);
        assert_has(code, REFLECT_PROTOTYPE, Severity::High);
        assert_has(
            "''['constructor']['constructor'](code)()",
            EXEC_FUNCTION,
            Severity::High,
        );
    }

    #[test]
    fn constructors_used_as_values_are_not_function_calls() {
        assert_clean(
            "if (x.constructor === Array) {} new Foo(1); class A { constructor() {} }; new A()",
        );
        assert_clean("const y = x.constructor(5); Object(1)");
    }

    // --- process.spawn

    #[test]
    fn child_process_calls_are_spawns() {
        for code in [
            "const cp = require('child_process'); cp.exec('ls')",
            "const { exec } = require('child_process'); exec('ls')",
            "const { execSync: run } = require('node:child_process'); run('ls')",
            "import { spawn as s } from 'node:child_process'; s('ls', [])",
            "import * as cp from 'child_process'; cp.spawnSync('ls')",
            "import cp from 'child_process'; cp.fork('w.js')",
            "require('child_process').execFileSync('ls')",
            "const cp = await import('child_process'); cp.execFile('ls')",
            "const cp = require('child_process'); const cp2 = cp; cp2['ex' + 'ec']('ls')",
        ] {
            assert_has(code, PROCESS_SPAWN, Severity::Medium);
        }
    }

    #[test]
    fn exec_methods_elsewhere_are_not_spawns() {
        assert_clean("/a/.exec('abc'); const { exec } = require('./mine'); exec(); db.spawn()");
        assert_only(
            "const cp = require('child_process'); cp.toString()",
            &[(IMPORT_PROCESS, Severity::Medium)],
        );
    }

    // --- reflect.prototype

    #[test]
    fn prototype_reach_is_high() {
        for code in [
            "obj.__proto__.polluted = 1",
            "obj['__proto__']",
            "a.constructor.prototype.isAdmin = true",
            "const F = x.constructor.constructor",
        ] {
            assert_has(code, REFLECT_PROTOTYPE, Severity::High);
        }
    }

    #[test]
    fn ordinary_prototype_use_is_clean() {
        assert_clean("const d = { __proto__: null }; Foo.prototype.bar = function () {};");
        assert_clean("Object.getPrototypeOf(x); x.constructor.name; A.prototype.constructor");
    }

    // --- metrics

    #[test]
    fn metrics_count_lines_statements_and_depth() {
        let code =
            "function f(a) {\n  if (a) {\n    for (;;) { g(h(a + 1)) }\n  }\n  return 1\n}\nf(2)\n";
        let (found, metrics) = analyze(code).unwrap();
        assert!(found.is_empty(), "{found:?}");
        assert_eq!(metrics.lines, 7);
        assert_eq!(metrics.bytes, code.len() as u64);
        // function, if, for, g(...), return, f(2)
        assert_eq!(metrics.statements, 6);
        // function body > if block > for block
        assert_eq!(metrics.max_nesting, 3);
        // g( h( a + 1 ) ): call > call > binary > literal
        assert_eq!(metrics.max_expression_depth, 4);
    }

    #[test]
    fn single_statement_bodies_nest_and_else_if_does_not() {
        let (_, metrics) =
            analyze("if (a) b(); else if (c) d(); else if (e) f(); else g()").unwrap();
        assert_eq!(metrics.max_nesting, 1);
        assert_eq!(metrics.statements, 7);
        let (_, metrics) = analyze("while (a) while (b) x => x").unwrap();
        assert_eq!(metrics.max_nesting, 3);
    }

    #[test]
    fn deep_blocks_and_expressions_are_reported() {
        let blocks = format!("{}x(){}", "if (a) {\n".repeat(12), "}".repeat(12));
        let found = findings(&blocks);
        let nesting: Vec<_> = found.iter().filter(|f| f.rule == METRICS_NESTING).collect();
        assert_eq!(nesting.len(), 1, "{found:?}");
        assert_eq!((nesting[0].line, nesting[0].severity), (11, Severity::Info));
        let expressions = format!("x = {}1{}", "f(".repeat(60), ")".repeat(60));
        assert_has(&expressions, METRICS_NESTING, Severity::Info);
        assert_clean(&format!("{}x(){}", "if (a) {\n".repeat(10), "}".repeat(10)));
    }

    #[test]
    fn long_code_is_reported_by_size() {
        let long = "x++\n".repeat(5001);
        assert_only(&long, &[(METRICS_SIZE, Severity::Info)]);
        assert_clean(&"x++\n".repeat(5000));
    }

    // --- positions

    #[test]
    fn findings_point_at_their_line_and_column() {
        let found = findings("const a = 1;\nconst cp = require('child_process');\n");
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].line, found[0].col), (2, 12));
        assert!(found[0].message.contains("child_process"), "{found:?}");
    }

    #[test]
    fn top_level_await_findings_point_into_the_users_code() {
        // Parsed inside node's async wrapper (sloppy `with` rules out the module parse).
        let code = "with (o) {}\nconst r = await fetch('u'); require('child_process')";
        let (found, metrics) = analyze(code).unwrap();
        let mut positions: Vec<_> = found
            .iter()
            .map(|f| (f.rule.as_str(), f.line, f.col))
            .collect();
        positions.sort();
        assert_eq!(
            positions,
            [(IMPORT_NETWORK, 2, 17), (IMPORT_PROCESS, 2, 29)],
            "{found:?}"
        );
        // The wrapper's arrow function is not counted.
        assert_eq!(metrics.max_nesting, 1);
        assert_eq!(metrics.statements, 3);
        let first_line = findings("await fetch('u')");
        assert_eq!((first_line[0].line, first_line[0].col), (1, 7));
    }

    // --- out of reach: the OS sandbox is the boundary here

    #[test]
    fn out_of_reach_module_names_decoded_at_run_time() {
        // The OS sandbox is the boundary here: only the dynamic require is visible.
        assert_only(
            "require(Buffer.from('Y2hpbGRfcHJvY2Vzcw==', 'base64').toString())",
            &[(IMPORT_DYNAMIC, Severity::Medium)],
        );
        assert_only(
            "require(atob('Y2hpbGRfcHJvY2Vzcw=='))",
            &[(IMPORT_DYNAMIC, Severity::Medium)],
        );
    }

    #[test]
    fn out_of_reach_values_through_objects_and_promises() {
        // The OS sandbox is the boundary here: a require kept in an object is not
        // followed, nor a module passed to a callback.
        assert_clean("const o = { r: require }; o.r('child_process')");
        assert_only(
            "import('child_process').then(m => m.exec('ls'))",
            &[(IMPORT_PROCESS, Severity::Medium)],
        );
        assert_clean("Reflect.get(globalThis, 'ev' + 'al')('1')");
    }

    #[test]
    fn out_of_reach_shadowed_names_err_towards_a_finding() {
        // The OS sandbox is the boundary here: bindings are not resolved exactly, and a
        // local named like a dangerous global keeps the global's meaning.
        assert_has(
            "function eval(x) { return x } eval('1')",
            EXEC_EVAL,
            Severity::Low,
        );
        assert_has(
            "function f(require) { require('child_process') }",
            IMPORT_PROCESS,
            Severity::Medium,
        );
    }
}
