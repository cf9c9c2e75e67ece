//! Python: syntax check and static analysis on ruff's AST.
//!
//! The syntax check reports the parser's first error (errors about syntax too new for a
//! target version are ignored: the Python 3.11 interpreter has the last word). Top-level
//! `await` is accepted, as the notebook agent compiles with `PyCF_ALLOW_TOP_LEVEL_AWAIT`.
//! Two limits of CPython's tokenizer are applied too, as the interpreter would refuse the
//! code: more than 200 nested brackets, and 100 levels of indentation.
//!
//! The analysis walks the AST once to collect what each name is bound to (imports, simple
//! assignments), then once more to report findings:
//!
//! | rule | severity | matches |
//! |---|---|---|
//! | `import.system` | low | imports of `os`, `sys`, `shutil`, `importlib`, `pickle`, ... (`MODULES`) |
//! | `import.process` | medium | `subprocess`, `pty`, `multiprocessing`, `pexpect`, `from os import system`, ... |
//! | `import.network` | medium | `socket`, `ssl`, `http`, `urllib.request`, `requests`, ... (not `urllib.parse`) |
//! | `import.native` | high | `ctypes`, `cffi`, `_imp`, `pyximport`, ... |
//! | `import.dynamic` | medium | `__import__(x)` / `importlib.import_module(x)` with a name that does not fold |
//! | `exec.eval` | low / medium | `eval`, `exec`, `compile` (low with a constant string), `runpy.run_path`, ... |
//! | `file.open` | low | `open`, `io.open`, `os.open`, `os.fdopen`, `codecs.open` |
//! | `process.spawn` | medium | `subprocess.run`, `os.system`, `os.exec*`, `pty.spawn`, ... (`CALLS`) |
//! | `network.socket` | medium | `socket.socket`, `urllib.request.urlopen`, `requests.get`, ... |
//! | `native.ctypes` | high | any `ctypes.*` / `cffi.*`, `ExtensionFileLoader`, `_imp.create_dynamic` |
//! | `reflect.dunder_attribute` | high / low | `x.__globals__`, `x.__subclasses__`, ... (`ESCAPE_DUNDERS`); low for `__class__`, `__dict__` |
//! | `reflect.dunder_name` | high | the names `__builtins__`, `__loader__`, `__spec__`; `__import__` not called |
//! | `reflect.getattr_dunder` | high | `getattr`/`setattr`/`delattr`/`hasattr`/`attrgetter` with a name folding to a flagged dunder; `x['__globals__']` |
//! | `reflect.getattr_dynamic` | low | `getattr`/`setattr`/`delattr` with a name that does not fold |
//! | `metrics.size` | info | more than [`MAX_LINES`] lines |
//! | `metrics.nesting` | info | blocks nested deeper than [`MAX_BLOCK_NESTING`], expressions deeper than [`MAX_EXPRESSION_DEPTH`] |
//!
//! Calls and references are resolved through aliases: `import subprocess as sp`,
//! `from os import system as s`, `s = os.system`, `b = __builtins__`, `g = getattr`,
//! `from subprocess import *`, `__import__('os')`, `getattr(os, 'sys' + 'tem')`,
//! `sys.modules['os']`, `vars(builtins)['eval']`. Strings are folded when built from
//! constants (`Ctx::fold`), and names bound once in the module propagate their constant.
//! The code passed to `exec`/`eval`/`compile` as a constant string is analysed too.
//!
//! None of this is a boundary: runtime data (input, files, decoding, function arguments)
//! is out of reach, and the OS sandbox is what contains the code.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::OnceLock;

use ruff_python_ast::token::{Token, TokenKind};
use ruff_python_ast::visitor::transformer::{self, Transformer};
use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{
    self as ast, AtomicNodeIndex, ConversionFlag, ExceptHandler, Expr, ExprContext, FStringPart,
    InterpolatedStringElement, Number, Operator, Pattern, PySourceType, Stmt, UnaryOp,
};
use ruff_python_parser::parse_unchecked_source;
use ruff_text_size::{Ranged, TextRange, TextSize};

use crate::{count_lines, CodeMetrics, Finding, LineIndex, Severity, SyntaxErrorInfo};

/// More lines than this gives `metrics.size`.
pub const MAX_LINES: u32 = 5000;
/// Blocks nested deeper than this give `metrics.nesting`.
pub const MAX_BLOCK_NESTING: u32 = 10;
/// Expressions nested deeper than this give `metrics.nesting`.
pub const MAX_EXPRESSION_DEPTH: u32 = 50;

/// CPython's tokenizer refuses more nested brackets than this (`MAXLEVEL`).
const MAX_BRACKETS: u32 = 200;
/// CPython's tokenizer refuses this many levels of indentation (`MAXINDENT`).
const MAX_INDENT: u32 = 100;
/// Recursion of the walkers before a node is put aside and walked later from the top:
/// the stack stays small whatever the depth of the tree.
const MAX_FRAMES: u32 = 48;
/// A tree nested deeper than this is taken apart iteratively when dropped (dropping it
/// recursively could overflow the stack).
const DROP_SAFE_DEPTH: u32 = 256;
/// Folded strings longer than this (in bytes) are given up.
const FOLD_MAX_LEN: usize = 4096;
/// Folded sequences longer than this are given up.
const FOLD_MAX_ITEMS: usize = 1024;
/// Recursion of constant folding.
const FOLD_MAX_DEPTH: u32 = 32;
/// Nodes looked at by one constant folding.
const FOLD_BUDGET: u32 = 2048;
/// Steps of one name resolution (aliases of aliases...).
const RESOLVE_BUDGET: u32 = 64;
/// What one expression may refer to, at most.
const MAX_CANDIDATES: usize = 4;
/// Code strings analysed inside code strings (`exec("exec('...')")`), at most.
const MAX_EXEC_NESTING: u8 = 2;
/// Bytes of code strings analysed for one program, at most (the same string may be
/// passed to `exec` many times).
const MAX_EXEC_BYTES: usize = 256 * 1024;

/// Checks that `code` parses as a Python 3 module.
pub fn syntax(code: &str) -> Result<(), SyntaxErrorInfo> {
    let (mut tree, error) = parse(code);
    tree.deep = Collector::new(false).run(&tree.module.body) > DROP_SAFE_DEPTH;
    match error {
        None => Ok(()),
        Some((offset, message)) => Err(syntax_error(code, offset, message)),
    }
}

/// Parses and analyses `code`: findings (unsorted) and metrics, or the first syntax error.
pub fn analyze(code: &str) -> Result<(Vec<Finding>, CodeMetrics), SyntaxErrorInfo> {
    analyze_nested(code, 0, &Cell::new(MAX_EXEC_BYTES))
}

/// `nested`: how deep in code strings passed to `exec` this code is; `exec_bytes`: what
/// is left to analyse of such strings.
fn analyze_nested(
    code: &str,
    nested: u8,
    exec_bytes: &Cell<usize>,
) -> Result<(Vec<Finding>, CodeMetrics), SyntaxErrorInfo> {
    let (mut tree, error) = parse(code);
    if let Some((offset, message)) = error {
        tree.deep = Collector::new(false).run(&tree.module.body) > DROP_SAFE_DEPTH;
        return Err(syntax_error(code, offset, message));
    }
    let body: &[Stmt] = &tree.module.body;
    let mut collector = Collector::new(true);
    let depth = collector.run(body);
    tree.deep = depth > DROP_SAFE_DEPTH;
    let ctx = Ctx {
        code,
        names: Names::new(collector),
    };
    let index = LineIndex::new(code);
    let mut walker = Walker::new(&ctx, &index, nested, exec_bytes);
    walker.run(body);
    Ok(walker.finish(code))
}

/// A realistic program of about this many lines, for benchmarks.
pub fn sample_program(lines: usize) -> String {
    const HEADER: &str = "\
\"\"\"Inventory reports: parse records, accumulate, summarise.\"\"\"
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field


";
    const BLOCK: &str = r##"def parse_recordXN(line, sep=","):
    """Split one line into a typed record."""
    fields = [part.strip() for part in line.split(sep) if part]
    if not fields:
        return None
    name, *rest = fields
    values = {key: int(value) for key, value in zip("abc", rest) if value.isdigit()}
    return {"name": name.title(), "values": values, "id": XN}


@dataclass
class AccumulatorXN:
    limit: int = 10
    items: list = field(default_factory=list)

    def add(self, record):
        if record is None or len(self.items) >= self.limit:
            return False
        self.items.append(record)
        return True

    def summary(self):
        total = sum(sum(r["values"].values()) for r in self.items)
        names = ", ".join(sorted({r["name"] for r in self.items}))
        return f"{len(self.items)} records ({names}): total={total:,}"


def load_recordsXN(path, verbose=False):
    acc = AccumulatorXN(limit=100)
    counts = defaultdict(int)
    try:
        with open(path, encoding="utf-8") as handle:
            for number, raw in enumerate(handle, start=1):
                if raw.startswith("#") or not raw.strip():
                    continue
                record = parse_recordXN(raw.rstrip("\n"))
                if acc.add(record):
                    counts[record["name"][:1].lower()] += 1
                elif verbose:
                    print("skipped line %d of %s" % (number, path))
    except (OSError, ValueError) as exc:
        print(f"cannot read {path}: {exc}")
    return json.dumps({"summary": acc.summary(), "counts": dict(counts)}, indent=2)


PATTERNXN = re.compile(r"^(?P<key>\w+)\s*=\s*(?P<value>.*)$")
settingsXN = {m["key"]: m["value"] for m in map(PATTERNXN.match, ["a = 1", "b = 2"]) if m}
thresholdXN = max((v for v in (3, 5, 8) if v % 2), default=0) * 2 ** 3


"##;
    let mut out = String::with_capacity(lines * 40 + HEADER.len());
    out.push_str(HEADER);
    let mut n = 0;
    while count_lines(&out) < lines as u32 {
        out.push_str(&BLOCK.replace("XN", &n.to_string()));
        n += 1;
    }
    out
}

// ---------------------------------------------------------------------------------------
// Parsing, and dropping deep trees safely
// ---------------------------------------------------------------------------------------

/// A parsed module. A very deep one is taken apart iteratively when dropped: the default
/// recursive drop could overflow the stack on hostile input (`-` repeated 100,000 times).
struct Tree {
    module: ast::ModModule,
    deep: bool,
}

impl Drop for Tree {
    fn drop(&mut self) {
        if self.deep {
            dismantle(std::mem::take(&mut self.module.body));
        }
    }
}

/// Parses `code`; the error is the first one by position, with the parser's message.
fn parse(code: &str) -> (Tree, Option<(usize, String)>) {
    let parsed = parse_unchecked_source(code, PySourceType::Python);
    let mut error = parsed
        .errors()
        .iter()
        .min_by_key(|e| e.location.start())
        .map(|e| (e.location.start().to_usize(), e.error.to_string()));
    if let Some((offset, message)) = cpython_limits(parsed.tokens()) {
        if error.as_ref().is_none_or(|(first, _)| offset < *first) {
            error = Some((offset, message.to_string()));
        }
    }
    let tree = Tree {
        module: parsed.into_syntax(),
        // Until measured: a panic before then still drops safely.
        deep: true,
    };
    (tree, error)
}

fn syntax_error(code: &str, offset: usize, message: String) -> SyntaxErrorInfo {
    let (line, col) = LineIndex::new(code).position(offset);
    SyntaxErrorInfo { line, col, message }
}

/// CPython's tokenizer limits that ruff does not apply: nested brackets and indentation.
fn cpython_limits(tokens: &[Token]) -> Option<(usize, &'static str)> {
    let mut level = 0u32;
    // Brackets inside an f-string's replacement fields are counted afresh, as CPython 3.11
    // parses each field on its own.
    let mut outer_levels: Vec<u32> = Vec::new();
    let mut indent = 0u32;
    for token in tokens {
        match token.kind() {
            TokenKind::Lpar | TokenKind::Lsqb | TokenKind::Lbrace => {
                if level >= MAX_BRACKETS {
                    return Some((token.start().to_usize(), "too many nested parentheses"));
                }
                level += 1;
            }
            TokenKind::Rpar | TokenKind::Rsqb | TokenKind::Rbrace => {
                level = level.saturating_sub(1);
            }
            TokenKind::FStringStart | TokenKind::TStringStart => {
                outer_levels.push(level);
                level = 0;
            }
            TokenKind::FStringEnd | TokenKind::TStringEnd => {
                level = outer_levels.pop().unwrap_or(0);
            }
            TokenKind::Indent => {
                indent += 1;
                if indent >= MAX_INDENT {
                    return Some((token.start().to_usize(), "too many levels of indentation"));
                }
            }
            TokenKind::Dedent => indent = indent.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Takes a tree apart without recursion: every statement, expression and pattern is moved
/// out of its parent onto a work list before the (now shallow) parent is dropped.
fn dismantle(body: ast::Suite) {
    let work = Dismantler {
        stmts: RefCell::new(body.into_iter().collect()),
        exprs: RefCell::new(Vec::new()),
        patterns: RefCell::new(Vec::new()),
    };
    loop {
        let stmt = work.stmts.borrow_mut().pop();
        if let Some(mut stmt) = stmt {
            transformer::walk_stmt(&work, &mut stmt);
            continue;
        }
        let expr = work.exprs.borrow_mut().pop();
        if let Some(mut expr) = expr {
            transformer::walk_expr(&work, &mut expr);
            continue;
        }
        let pattern = work.patterns.borrow_mut().pop();
        if let Some(mut pattern) = pattern {
            transformer::walk_pattern(&work, &mut pattern);
            continue;
        }
        break;
    }
}

struct Dismantler {
    stmts: RefCell<Vec<Stmt>>,
    exprs: RefCell<Vec<Expr>>,
    patterns: RefCell<Vec<Pattern>>,
}

impl Transformer for Dismantler {
    fn visit_stmt(&self, stmt: &mut Stmt) {
        let placeholder = Stmt::Pass(ast::StmtPass {
            node_index: AtomicNodeIndex::NONE,
            range: TextRange::default(),
        });
        self.stmts
            .borrow_mut()
            .push(std::mem::replace(stmt, placeholder));
    }

    fn visit_expr(&self, expr: &mut Expr) {
        let placeholder = Expr::NoneLiteral(ast::ExprNoneLiteral::default());
        self.exprs
            .borrow_mut()
            .push(std::mem::replace(expr, placeholder));
    }

    fn visit_pattern(&self, pattern: &mut Pattern) {
        let placeholder = Pattern::MatchSingleton(ast::PatternMatchSingleton {
            node_index: AtomicNodeIndex::NONE,
            range: TextRange::default(),
            value: ast::Singleton::None,
        });
        self.patterns
            .borrow_mut()
            .push(std::mem::replace(pattern, placeholder));
    }
}

/// A node put aside by a walker, to be walked later with a fresh stack.
#[derive(Clone, Copy)]
enum Node<'a> {
    Stmt(&'a Stmt),
    Expr(&'a Expr),
    Pattern(&'a Pattern),
}

fn is_compound(stmt: &Stmt) -> bool {
    matches!(
        stmt,
        Stmt::FunctionDef(_)
            | Stmt::ClassDef(_)
            | Stmt::For(_)
            | Stmt::While(_)
            | Stmt::If(_)
            | Stmt::With(_)
            | Stmt::Try(_)
            | Stmt::Match(_)
    )
}

// ---------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------

/// What importing a module says about the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Category {
    System,
    Process,
    Network,
    Native,
    /// Overrides a parent package: `urllib.parse` is not networking.
    Benign,
}

impl Category {
    fn rule(self) -> Option<(&'static str, Severity, &'static str)> {
        match self {
            Category::System => Some(("import.system", Severity::Low, "system access")),
            Category::Process => Some(("import.process", Severity::Medium, "runs processes")),
            Category::Network => Some(("import.network", Severity::Medium, "network access")),
            Category::Native => Some(("import.native", Severity::High, "loads native code")),
            Category::Benign => None,
        }
    }
}

/// Modules by category; the longest matching package prefix decides (`urllib.parse` is
/// benign while `urllib.request` is networking). Importing a function listed in [`CALLS`]
/// (`from os import system`) takes that function's category.
const MODULES: &[(&str, Category)] = &{
    use Category::*;
    [
        ("os", System),
        ("posix", System),
        ("nt", System),
        ("sys", System),
        ("shutil", System),
        ("signal", System),
        ("resource", System),
        ("importlib", System),
        ("importlib.metadata", Benign),
        ("importlib.resources", Benign),
        ("imp", System),
        ("builtins", System),
        ("gc", System),
        ("inspect", System),
        ("code", System),
        ("codeop", System),
        ("pickle", System),
        ("_pickle", System),
        ("cPickle", System),
        ("dill", System),
        ("cloudpickle", System),
        ("marshal", System),
        ("shelve", System),
        ("runpy", System),
        ("pkgutil", System),
        ("zipimport", System),
        ("mmap", System),
        ("fcntl", System),
        ("pwd", System),
        ("grp", System),
        ("pdb", System),
        ("subprocess", Process),
        ("_posixsubprocess", Process),
        ("pty", Process),
        ("ptyprocess", Process),
        ("pexpect", Process),
        ("sh", Process),
        ("plumbum", Process),
        ("multiprocessing", Process),
        ("concurrent.futures.process", Process),
        ("asyncio.subprocess", Process),
        ("socket", Network),
        ("_socket", Network),
        ("ssl", Network),
        ("http", Network),
        ("http.HTTPStatus", Benign),
        ("http.HTTPMethod", Benign),
        ("http.cookies", Benign),
        ("urllib", Network),
        ("urllib.parse", Benign),
        ("urllib.error", Benign),
        ("urllib2", Network),
        ("urllib3", Network),
        ("httplib", Network),
        ("httplib2", Network),
        ("requests", Network),
        ("httpx", Network),
        ("aiohttp", Network),
        ("ftplib", Network),
        ("smtplib", Network),
        ("poplib", Network),
        ("imaplib", Network),
        ("nntplib", Network),
        ("telnetlib", Network),
        ("socketserver", Network),
        ("SocketServer", Network),
        ("xmlrpc", Network),
        ("websockets", Network),
        ("websocket", Network),
        ("paramiko", Network),
        ("asyncssh", Network),
        ("pycurl", Network),
        ("twisted", Network),
        ("grpc", Network),
        ("zmq", Network),
        ("scapy", Network),
        ("webbrowser", Network),
        ("boto3", Network),
        ("botocore", Network),
        ("ctypes", Native),
        ("_ctypes", Native),
        ("cffi", Native),
        ("_cffi_backend", Native),
        ("pyximport", Native),
        ("_imp", Native),
        ("numpy.ctypeslib", Native),
    ]
};

/// What calling (or referring to) a resolved name does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Use {
    Spawn,
    Network,
    Native,
    Exec,
    File,
    /// `getattr` and friends: the position of the attribute name; whether a computed name
    /// is reported; whether the call returns the attribute (so resolves further).
    Getattr {
        name_arg: usize,
        dynamic: bool,
        returns: bool,
    },
    /// `operator.attrgetter('a.b', ...)`.
    AttrGetter,
    /// `__import__` (gives the top package) or `importlib.import_module` (the module).
    Import {
        top: bool,
    },
    /// `vars(x)`: the namespace of `x`.
    Vars,
}

impl Use {
    /// The rule reported for a call of, or reference to, a name with this use.
    fn effect(self) -> Option<(&'static str, Severity)> {
        match self {
            Use::Spawn => Some(("process.spawn", Severity::Medium)),
            Use::Network => Some(("network.socket", Severity::Medium)),
            Use::Native => Some(("native.ctypes", Severity::High)),
            Use::Exec => Some(("exec.eval", Severity::Medium)),
            Use::File => Some(("file.open", Severity::Low)),
            _ => None,
        }
    }

    /// The import category of a module-level name with this use (`from os import system`).
    fn category(self) -> Option<Category> {
        match self {
            Use::Spawn => Some(Category::Process),
            Use::Network => Some(Category::Network),
            Use::Native => Some(Category::Native),
            _ => None,
        }
    }
}

/// Functions and classes by use, by canonical name (`posix.system` is `os.system`). A name
/// ending with `.` matches everything under it (`ctypes.` matches `ctypes.CDLL`).
const CALLS: &[(&str, Use)] = &{
    use Use::*;
    const GETATTR: Use = Getattr {
        name_arg: 1,
        dynamic: true,
        returns: true,
    };
    const SETATTR: Use = Getattr {
        name_arg: 1,
        dynamic: true,
        returns: false,
    };
    const HASATTR: Use = Getattr {
        name_arg: 1,
        dynamic: false,
        returns: false,
    };
    [
        ("subprocess.run", Spawn),
        ("subprocess.Popen", Spawn),
        ("subprocess.call", Spawn),
        ("subprocess.check_call", Spawn),
        ("subprocess.check_output", Spawn),
        ("subprocess.getoutput", Spawn),
        ("subprocess.getstatusoutput", Spawn),
        ("os.system", Spawn),
        ("os.popen", Spawn),
        ("os.execl", Spawn),
        ("os.execle", Spawn),
        ("os.execlp", Spawn),
        ("os.execlpe", Spawn),
        ("os.execv", Spawn),
        ("os.execve", Spawn),
        ("os.execvp", Spawn),
        ("os.execvpe", Spawn),
        ("os.spawnl", Spawn),
        ("os.spawnle", Spawn),
        ("os.spawnlp", Spawn),
        ("os.spawnlpe", Spawn),
        ("os.spawnv", Spawn),
        ("os.spawnve", Spawn),
        ("os.spawnvp", Spawn),
        ("os.spawnvpe", Spawn),
        ("os.fork", Spawn),
        ("os.forkpty", Spawn),
        ("os.posix_spawn", Spawn),
        ("os.posix_spawnp", Spawn),
        ("os.startfile", Spawn),
        ("pty.spawn", Spawn),
        ("pty.fork", Spawn),
        ("multiprocessing.Process", Spawn),
        ("multiprocessing.Pool", Spawn),
        ("multiprocessing.pool.Pool", Spawn),
        ("concurrent.futures.ProcessPoolExecutor", Spawn),
        ("concurrent.futures.process.ProcessPoolExecutor", Spawn),
        ("asyncio.create_subprocess_exec", Spawn),
        ("asyncio.create_subprocess_shell", Spawn),
        ("asyncio.subprocess.create_subprocess_exec", Spawn),
        ("asyncio.subprocess.create_subprocess_shell", Spawn),
        ("_posixsubprocess.fork_exec", Spawn),
        ("pexpect.spawn", Spawn),
        ("pexpect.run", Spawn),
        ("pexpect.popen_spawn.PopenSpawn", Spawn),
        ("ptyprocess.", Spawn),
        ("sh.", Spawn),
        ("plumbum.local", Spawn),
        ("plumbum.cmd.", Spawn),
        ("socket.socket", Network),
        ("socket.create_connection", Network),
        ("socket.create_server", Network),
        ("socket.socketpair", Network),
        ("socket.fromfd", Network),
        ("socket.getaddrinfo", Network),
        ("socket.gethostbyname", Network),
        ("socket.gethostbyname_ex", Network),
        ("socket.gethostbyaddr", Network),
        ("ssl.wrap_socket", Network),
        ("ssl.get_server_certificate", Network),
        ("urllib.urlopen", Network),
        ("urllib.request.urlopen", Network),
        ("urllib.request.urlretrieve", Network),
        ("urllib.request.build_opener", Network),
        ("urllib2.urlopen", Network),
        ("http.client.HTTPConnection", Network),
        ("http.client.HTTPSConnection", Network),
        ("http.server.HTTPServer", Network),
        ("http.server.ThreadingHTTPServer", Network),
        ("requests.get", Network),
        ("requests.post", Network),
        ("requests.put", Network),
        ("requests.patch", Network),
        ("requests.delete", Network),
        ("requests.head", Network),
        ("requests.options", Network),
        ("requests.request", Network),
        ("requests.Session", Network),
        ("requests.session", Network),
        ("requests.api.", Network),
        ("httpx.get", Network),
        ("httpx.post", Network),
        ("httpx.put", Network),
        ("httpx.patch", Network),
        ("httpx.delete", Network),
        ("httpx.head", Network),
        ("httpx.options", Network),
        ("httpx.request", Network),
        ("httpx.stream", Network),
        ("httpx.Client", Network),
        ("httpx.AsyncClient", Network),
        ("aiohttp.ClientSession", Network),
        ("aiohttp.request", Network),
        ("urllib3.PoolManager", Network),
        ("urllib3.ProxyManager", Network),
        ("urllib3.request", Network),
        ("urllib3.HTTPConnectionPool", Network),
        ("urllib3.HTTPSConnectionPool", Network),
        ("urllib3.connection_from_url", Network),
        ("httplib2.Http", Network),
        ("pycurl.Curl", Network),
        ("ftplib.FTP", Network),
        ("ftplib.FTP_TLS", Network),
        ("smtplib.SMTP", Network),
        ("smtplib.SMTP_SSL", Network),
        ("smtplib.LMTP", Network),
        ("poplib.POP3", Network),
        ("poplib.POP3_SSL", Network),
        ("imaplib.IMAP4", Network),
        ("imaplib.IMAP4_SSL", Network),
        ("nntplib.NNTP", Network),
        ("nntplib.NNTP_SSL", Network),
        ("telnetlib.Telnet", Network),
        ("socketserver.TCPServer", Network),
        ("socketserver.UDPServer", Network),
        ("socketserver.ThreadingTCPServer", Network),
        ("socketserver.ThreadingUDPServer", Network),
        ("socketserver.ForkingTCPServer", Network),
        ("socketserver.ForkingUDPServer", Network),
        ("socketserver.UnixStreamServer", Network),
        ("socketserver.UnixDatagramServer", Network),
        ("xmlrpc.client.ServerProxy", Network),
        ("xmlrpc.server.SimpleXMLRPCServer", Network),
        ("websockets.connect", Network),
        ("websockets.serve", Network),
        ("websockets.client.connect", Network),
        ("websockets.server.serve", Network),
        ("websocket.create_connection", Network),
        ("websocket.WebSocket", Network),
        ("websocket.WebSocketApp", Network),
        ("paramiko.SSHClient", Network),
        ("paramiko.Transport", Network),
        ("asyncio.open_connection", Network),
        ("asyncio.start_server", Network),
        ("asyncio.open_unix_connection", Network),
        ("asyncio.start_unix_server", Network),
        ("ctypes.", Native),
        ("_ctypes.", Native),
        ("cffi.", Native),
        ("_cffi_backend.", Native),
        ("numpy.ctypeslib.", Native),
        ("importlib.machinery.ExtensionFileLoader", Native),
        ("_imp.create_dynamic", Native),
        ("imp.load_dynamic", Native),
        ("builtins.eval", Exec),
        ("builtins.exec", Exec),
        ("builtins.compile", Exec),
        ("runpy.run_path", Exec),
        ("runpy.run_module", Exec),
        ("code.interact", Exec),
        ("code.InteractiveInterpreter", Exec),
        ("code.InteractiveConsole", Exec),
        ("codeop.compile_command", Exec),
        ("builtins.open", File),
        ("io.open", File),
        ("io.open_code", File),
        ("io.FileIO", File),
        ("os.open", File),
        ("os.fdopen", File),
        ("codecs.open", File),
        ("builtins.getattr", GETATTR),
        ("inspect.getattr_static", GETATTR),
        ("builtins.setattr", SETATTR),
        ("builtins.delattr", SETATTR),
        ("builtins.hasattr", HASATTR),
        ("operator.attrgetter", AttrGetter),
        ("builtins.__import__", Import { top: true }),
        ("importlib.__import__", Import { top: true }),
        ("importlib.import_module", Import { top: false }),
        ("builtins.vars", Vars),
    ]
};

/// Builtins that matter here: a bare name resolves to `builtins.<name>` unless shadowed.
const BUILTINS: &[&str] = &[
    "eval",
    "exec",
    "compile",
    "open",
    "getattr",
    "setattr",
    "delattr",
    "hasattr",
    "__import__",
    "vars",
];

/// Attributes that lead out of an object to interpreter internals (globals, builtins,
/// every loaded class, code objects, loaders).
const ESCAPE_DUNDERS: &[&str] = &[
    "__subclasses__",
    "__globals__",
    "__builtins__",
    "__code__",
    "__mro__",
    "__bases__",
    "__base__",
    "__closure__",
    "__getattribute__",
    "__func__",
    "__self__",
    "__loader__",
    "__reduce__",
    "__reduce_ex__",
    "__import__",
];

/// Attributes worth knowing about but common in ordinary code.
const PLAIN_DUNDERS: &[&str] = &["__class__", "__dict__"];

/// Names that reach the import machinery or the builtins namespace.
const DUNDER_NAMES: &[&str] = &["__builtins__", "__loader__", "__spec__"];

struct Tables {
    calls: HashMap<&'static str, Use>,
    call_prefixes: Vec<(&'static str, Use)>,
    modules: HashMap<&'static str, Category>,
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| Tables {
        calls: CALLS
            .iter()
            .filter(|(name, _)| !name.ends_with('.'))
            .copied()
            .collect(),
        call_prefixes: CALLS
            .iter()
            .filter(|(name, _)| name.ends_with('.'))
            .copied()
            .collect(),
        modules: MODULES.iter().copied().collect(),
    })
}

/// The use of exactly this canonical name.
fn use_of(name: &str) -> Option<Use> {
    let t = tables();
    t.calls.get(name).copied().or_else(|| {
        t.call_prefixes
            .iter()
            .find(|(prefix, _)| name.starts_with(prefix))
            .map(|&(_, u)| u)
    })
}

/// The longest prefix of a dotted name that has a use: `os.system.__doc__` → `os.system`.
fn match_use(name: &str) -> Option<(&str, Use)> {
    let mut part = name;
    loop {
        if let Some(u) = use_of(part) {
            return Some((part, u));
        }
        part = &part[..part.rfind('.')?];
    }
}

/// Aliases of modules: `posix.system` is `os.system`.
fn canonical(name: &str) -> Cow<'_, str> {
    let (head, rest) = name.split_once('.').unwrap_or((name, ""));
    let mapped = match head {
        "posix" | "nt" => "os",
        "__builtin__" => "builtins",
        "_io" => "io",
        "_socket" => "socket",
        "_pickle" => "pickle",
        _ => return Cow::Borrowed(name),
    };
    if rest.is_empty() {
        Cow::Borrowed(mapped)
    } else {
        Cow::Owned(format!("{mapped}.{rest}"))
    }
}

/// The category of importing a dotted module (or module member) path.
fn import_category(path: &str) -> Option<Category> {
    let path = canonical(path);
    if let Some(category) = use_of(&path).and_then(Use::category) {
        return Some(category);
    }
    let modules = &tables().modules;
    let mut part: &str = &path;
    loop {
        if let Some(&category) = modules.get(part) {
            return Some(category);
        }
        part = &part[..part.rfind('.')?];
    }
}

fn is_dunder(name: &str) -> bool {
    name.len() > 4 && name.starts_with("__") && name.ends_with("__")
}

/// Dunder names reported when reached by name (`getattr(x, '__class__')`).
fn is_flagged_dunder(name: &str) -> bool {
    ESCAPE_DUNDERS.contains(&name) || PLAIN_DUNDERS.contains(&name)
}

// ---------------------------------------------------------------------------------------
// Names: what each name is bound to, and where builtins are shadowed
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Bound<'a> {
    /// `import a.b as c` binds `c` to `a.b`; `import a.b` binds `a` to `a`.
    Module(&'a str),
    /// `from m import n [as k]`.
    From(&'a str, &'a str),
    /// `x = value`, `(x := value)`, `a, b = va, vb`.
    Value(&'a Expr),
    /// Anything else: parameters, loop targets, `def`, `class`, `except ... as`.
    Opaque,
    /// `del x`: a shadowed builtin is visible again.
    Deleted,
}

#[derive(Clone, Copy, Debug)]
struct Binding<'a> {
    name: &'a str,
    bound: Bound<'a>,
    /// Where the binding takes effect (the end of its statement).
    offset: TextSize,
    /// A definite binding directly in the module body (not in a block, function or class).
    top: bool,
    /// The scope (function, lambda or class body; 0 is the module) the binding is in.
    scope: u32,
    /// Makes the name local to its scope (comprehension variables do not count: they live
    /// in a scope of their own).
    local: bool,
}

/// What the bindings of a name refer to (see `Ctx::bound_to`).
#[derive(Clone, Debug)]
enum Resolved {
    Todo,
    /// Being resolved: a cycle of aliases (`a = b; b = a`) stops here.
    Busy,
    Done(Vec<String>),
}

#[derive(Clone, Copy, Debug)]
struct Scope {
    parent: u32,
    /// A function or lambda (a class body does not hide names from nested functions).
    function: bool,
}

/// How a builtin is bound at module level.
#[derive(Clone, Copy, Debug, Default)]
struct ModuleBuiltin {
    /// The first definite module-level binding shadowing it.
    shadowed_from: Option<TextSize>,
    /// `del name` somewhere: the builtin may be visible again.
    deleted: bool,
}

/// Every binding in the module, sorted by name (in source order for each name). For
/// aliases, a name may refer to any of its bindings, whatever the scope; whether a bare
/// name is a builtin follows Python's scopes.
struct Names<'a> {
    all: Vec<Binding<'a>>,
    /// (scope, name) declared `global`, sorted.
    globals: Vec<(u32, &'a str)>,
    /// Each bound name: the range of its bindings in `all`.
    index: HashMap<&'a str, usize>,
    ranges: Vec<(usize, usize)>,
    /// What the bindings of each name refer to, once resolved.
    resolved: RefCell<Vec<Resolved>>,
    /// Modules imported with `from m import *`.
    stars: Vec<&'a str>,
    scopes: Vec<Scope>,
    /// The scope of each function, lambda and class body, by the address of its node.
    scope_of: HashMap<usize, u32>,
    /// (scope, index in [`BUILTINS`]) for functions where a builtin's name is local.
    builtin_locals: HashSet<(u32, usize)>,
    module_builtins: [ModuleBuiltin; BUILTINS.len()],
}

impl<'a> Names<'a> {
    fn new(collector: Collector<'a>) -> Self {
        let Collector {
            names: mut all,
            stars,
            scopes,
            scope_of,
            mut declared,
            mut globals,
            ..
        } = collector;
        globals.sort_unstable();
        all.sort_by(|a, b| a.name.cmp(b.name));
        declared.sort_unstable();
        let mut index = HashMap::new();
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        for (i, binding) in all.iter().enumerate() {
            match ranges.last_mut() {
                Some(range) if all[range.0].name == binding.name => range.1 = i + 1,
                _ => {
                    index.insert(binding.name, ranges.len());
                    ranges.push((i, i + 1));
                }
            }
        }
        let resolved = RefCell::new(vec![Resolved::Todo; ranges.len()]);
        let mut builtin_locals = HashSet::new();
        let mut module_builtins = [ModuleBuiltin::default(); BUILTINS.len()];
        for binding in &all {
            let Some(i) = BUILTINS.iter().position(|&b| b == binding.name) else {
                continue;
            };
            let module = &mut module_builtins[i];
            module.deleted |= matches!(binding.bound, Bound::Deleted);
            if binding.top {
                module.shadowed_from = Some(
                    module
                        .shadowed_from
                        .map_or(binding.offset, |o| o.min(binding.offset)),
                );
            }
            let scope = binding.scope as usize;
            if binding.local
                && scopes.get(scope).is_some_and(|s| s.function)
                && declared
                    .binary_search(&(binding.scope, binding.name))
                    .is_err()
            {
                builtin_locals.insert((binding.scope, i));
            }
        }
        Names {
            all,
            globals,
            index,
            ranges,
            resolved,
            stars,
            scopes,
            scope_of,
            builtin_locals,
            module_builtins,
        }
    }

    fn of(&self, name: &str) -> &[Binding<'a>] {
        self.index.get(name).map_or(&[], |&id| self.bindings(id))
    }

    fn bindings(&self, id: usize) -> &[Binding<'a>] {
        let (start, end) = self.ranges[id];
        &self.all[start..end]
    }

    fn scope_of<T>(&self, node: &T) -> u32 {
        self.scope_of
            .get(&(std::ptr::from_ref(node) as usize))
            .copied()
            .unwrap_or(0)
    }

    /// Whether a bare name at `at` in `scope` is the builtin of that name: it is not if a
    /// function around it binds the name (then it is local there, whatever the order;
    /// `global` goes straight to the module), or
    /// if a definite module-level binding made before this point shadows it (unless a
    /// `del` may make it visible again).
    fn is_builtin(&self, name: &str, at: TextSize, scope: u32) -> bool {
        let Some(i) = BUILTINS.iter().position(|&b| b == name) else {
            return false;
        };
        let mut s = scope;
        while s != 0 && self.globals.binary_search(&(s, name)).is_err() {
            if self.builtin_locals.contains(&(s, i)) {
                return false;
            }
            s = self.scopes.get(s as usize).map_or(0, |scope| scope.parent);
        }
        let module = self.module_builtins[i];
        module.deleted || module.shadowed_from.is_none_or(|from| from > at)
    }

    /// The single value a name is bound to, if it is bound exactly once.
    fn single_value(&self, name: &str) -> Option<&'a Expr> {
        match self.of(name) {
            [Binding {
                bound: Bound::Value(value),
                ..
            }] => Some(value),
            _ => None,
        }
    }
}

/// Where the collector was when it put a node aside.
#[derive(Clone, Copy)]
struct CollectorState {
    depth: u32,
    block: u32,
    stmt_end: TextSize,
    scope: u32,
}

/// First walk: collects bindings and scopes (when `collect`), and measures how deep the
/// tree is.
struct Collector<'a> {
    collect: bool,
    names: Vec<Binding<'a>>,
    stars: Vec<&'a str>,
    scopes: Vec<Scope>,
    scope_of: HashMap<usize, u32>,
    /// Names declared `global` or `nonlocal`, by scope.
    declared: Vec<(u32, &'a str)>,
    /// Names declared `global`, by scope.
    globals: Vec<(u32, &'a str)>,
    scope: u32,
    /// Compound statements around the current node.
    block: u32,
    /// End of the statement being visited: where its bindings take effect.
    stmt_end: TextSize,
    frames: u32,
    depth: u32,
    max_depth: u32,
    deferred: Vec<(Node<'a>, CollectorState)>,
}

impl<'a> Collector<'a> {
    fn new(collect: bool) -> Self {
        Collector {
            collect,
            names: Vec::new(),
            stars: Vec::new(),
            scopes: vec![Scope {
                parent: 0,
                function: false,
            }],
            scope_of: HashMap::new(),
            declared: Vec::new(),
            globals: Vec::new(),
            scope: 0,
            block: 0,
            stmt_end: TextSize::default(),
            frames: 0,
            depth: 0,
            max_depth: 0,
            deferred: Vec::new(),
        }
    }

    /// Walks `body`; returns the deepest nesting of statements, expressions and patterns.
    fn run(&mut self, body: &'a [Stmt]) -> u32 {
        self.visit_body(body);
        while let Some((node, state)) = self.deferred.pop() {
            self.frames = 0;
            self.depth = state.depth;
            self.block = state.block;
            self.stmt_end = state.stmt_end;
            self.scope = state.scope;
            match node {
                Node::Stmt(stmt) => self.visit_stmt(stmt),
                Node::Expr(expr) => self.visit_expr(expr),
                Node::Pattern(pattern) => self.visit_pattern(pattern),
            }
        }
        self.max_depth
    }

    fn enter(&mut self, node: Node<'a>) -> bool {
        if self.frames >= MAX_FRAMES {
            let state = CollectorState {
                depth: self.depth,
                block: self.block,
                stmt_end: self.stmt_end,
                scope: self.scope,
            };
            self.deferred.push((node, state));
            return false;
        }
        self.frames += 1;
        self.depth += 1;
        self.max_depth = self.max_depth.max(self.depth);
        true
    }

    fn leave(&mut self) {
        self.frames -= 1;
        self.depth -= 1;
    }

    /// Enters the scope of a function, lambda or class body; returns the scope to go back to.
    fn open_scope<T>(&mut self, node: &T, function: bool) -> u32 {
        let outer = self.scope;
        if self.collect {
            let id = u32::try_from(self.scopes.len()).unwrap_or(u32::MAX);
            self.scopes.push(Scope {
                parent: outer,
                function,
            });
            self.scope_of.insert(std::ptr::from_ref(node) as usize, id);
            self.scope = id;
        }
        outer
    }

    /// Records a binding. Only `definite` ones directly in the module body can shadow a
    /// builtin there: an empty loop, a failed `with`, a walrus in a branch or an
    /// `except ... as` name (deleted after its block) leaves the builtin visible.
    fn bind(&mut self, name: &'a str, bound: Bound<'a>, definite: bool, local: bool) {
        if self.collect {
            self.names.push(Binding {
                name,
                bound,
                offset: self.stmt_end,
                top: definite && self.block == 0,
                scope: self.scope,
                local,
            });
        }
    }

    fn bind_parameters(&mut self, parameters: &'a ast::Parameters) {
        for parameter in parameters.iter() {
            let name = parameter.as_parameter().name.as_str();
            self.bind(name, Bound::Opaque, false, true);
        }
    }

    /// Binds the names of an assignment target; `value` for a plain assignment.
    fn bind_target(&mut self, target: &'a Expr, value: Option<&'a Expr>, local: bool) {
        match target {
            Expr::Name(name) => {
                let bound = value.map_or(Bound::Opaque, Bound::Value);
                self.bind(name.id.as_str(), bound, value.is_some(), local);
            }
            Expr::Tuple(ast::ExprTuple { elts, .. }) | Expr::List(ast::ExprList { elts, .. }) => {
                let values = match value {
                    Some(Expr::Tuple(t)) => Some(&t.elts),
                    Some(Expr::List(l)) => Some(&l.elts),
                    _ => None,
                }
                .filter(|values| {
                    values.len() == elts.len()
                        && !values.iter().chain(elts).any(Expr::is_starred_expr)
                });
                for (i, elt) in elts.iter().enumerate() {
                    self.bind_target(elt, values.map(|v| &v[i]), local);
                }
            }
            Expr::Starred(starred) => self.bind_target(&starred.value, None, local),
            _ => {}
        }
    }

    fn bind_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(def) => self.bind(def.name.as_str(), Bound::Opaque, true, true),
            Stmt::ClassDef(class) => self.bind(class.name.as_str(), Bound::Opaque, true, true),
            Stmt::Assign(assign) => {
                for target in &assign.targets {
                    self.bind_target(target, Some(&assign.value), true);
                }
            }
            Stmt::AnnAssign(assign) => {
                if let Some(value) = &assign.value {
                    self.bind_target(&assign.target, Some(value), true);
                }
            }
            Stmt::AugAssign(assign) => self.bind_target(&assign.target, None, true),
            Stmt::For(for_) => self.bind_target(&for_.target, None, true),
            Stmt::With(with) => {
                for item in &with.items {
                    if let Some(vars) = &item.optional_vars {
                        self.bind_target(vars, None, true);
                    }
                }
            }
            Stmt::Import(import) => {
                for alias in &import.names {
                    let full = alias.name.as_str();
                    match &alias.asname {
                        Some(asname) => {
                            self.bind(asname.as_str(), Bound::Module(full), true, true);
                        }
                        None => {
                            let head = full.split('.').next().unwrap_or(full);
                            self.bind(head, Bound::Module(head), true, true);
                        }
                    }
                }
            }
            Stmt::ImportFrom(import) => {
                let module = import
                    .module
                    .as_ref()
                    .map(|m| m.as_str())
                    .filter(|_| import.level == 0);
                for alias in &import.names {
                    if alias.name.as_str() == "*" {
                        if let Some(module) = module {
                            self.stars.push(module);
                        }
                        continue;
                    }
                    let local = alias.asname.as_ref().unwrap_or(&alias.name);
                    let bound =
                        module.map_or(Bound::Opaque, |m| Bound::From(m, alias.name.as_str()));
                    self.bind(local.as_str(), bound, true, true);
                }
            }
            Stmt::Delete(delete) => {
                for target in &delete.targets {
                    if let Expr::Name(name) = target {
                        self.bind(name.id.as_str(), Bound::Deleted, false, true);
                    }
                }
            }
            Stmt::TypeAlias(alias) => {
                if let Expr::Name(name) = &*alias.name {
                    self.bind(name.id.as_str(), Bound::Opaque, true, true);
                }
            }
            Stmt::Global(ast::StmtGlobal { names, .. }) => {
                for name in names {
                    self.declared.push((self.scope, name.as_str()));
                    self.globals.push((self.scope, name.as_str()));
                }
            }
            Stmt::Nonlocal(ast::StmtNonlocal { names, .. }) => {
                for name in names {
                    self.declared.push((self.scope, name.as_str()));
                }
            }
            _ => {}
        }
    }
}

impl<'a> Visitor<'a> for Collector<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if !self.enter(Node::Stmt(stmt)) {
            return;
        }
        let outer_end = self.stmt_end;
        self.stmt_end = stmt.end();
        if self.collect {
            self.bind_stmt(stmt);
        }
        let compound = is_compound(stmt);
        self.block += u32::from(compound);
        match stmt {
            // Decorators, defaults, annotations and base classes are evaluated outside;
            // the body runs in a scope of its own.
            Stmt::FunctionDef(def) => {
                for decorator in &def.decorator_list {
                    self.visit_decorator(decorator);
                }
                if let Some(type_params) = &def.type_params {
                    self.visit_type_params(type_params);
                }
                self.visit_parameters(&def.parameters);
                if let Some(returns) = &def.returns {
                    self.visit_annotation(returns);
                }
                let outer = self.open_scope(def, true);
                self.bind_parameters(&def.parameters);
                self.visit_body(&def.body);
                self.scope = outer;
            }
            Stmt::ClassDef(class) => {
                for decorator in &class.decorator_list {
                    self.visit_decorator(decorator);
                }
                if let Some(type_params) = &class.type_params {
                    self.visit_type_params(type_params);
                }
                if let Some(arguments) = &class.arguments {
                    self.visit_arguments(arguments);
                }
                let outer = self.open_scope(class, false);
                self.visit_body(&class.body);
                self.scope = outer;
            }
            _ => visitor::walk_stmt(self, stmt),
        }
        self.block -= u32::from(compound);
        self.stmt_end = outer_end;
        self.leave();
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        if !self.enter(Node::Expr(expr)) {
            return;
        }
        match expr {
            Expr::Named(named) => {
                if let Expr::Name(name) = &*named.target {
                    // It may sit in a branch that does not run: it does not shadow builtins.
                    self.bind(name.id.as_str(), Bound::Value(&named.value), false, true);
                }
                visitor::walk_expr(self, expr);
            }
            Expr::Lambda(lambda) => {
                if let Some(parameters) = &lambda.parameters {
                    self.visit_parameters(parameters);
                }
                let outer = self.open_scope(lambda, true);
                if let Some(parameters) = &lambda.parameters {
                    self.bind_parameters(parameters);
                }
                self.visit_expr(&lambda.body);
                self.scope = outer;
            }
            _ => visitor::walk_expr(self, expr),
        }
        self.leave();
    }

    fn visit_pattern(&mut self, pattern: &'a Pattern) {
        if !self.enter(Node::Pattern(pattern)) {
            return;
        }
        let name = match pattern {
            Pattern::MatchAs(p) => p.name.as_ref(),
            Pattern::MatchStar(p) => p.name.as_ref(),
            Pattern::MatchMapping(p) => p.rest.as_ref(),
            _ => None,
        };
        if let Some(name) = name {
            self.bind(name.as_str(), Bound::Opaque, false, true);
        }
        visitor::walk_pattern(self, pattern);
        self.leave();
    }

    fn visit_comprehension(&mut self, comprehension: &'a ast::Comprehension) {
        self.bind_target(&comprehension.target, None, false);
        visitor::walk_comprehension(self, comprehension);
    }

    fn visit_except_handler(&mut self, handler: &'a ExceptHandler) {
        let ExceptHandler::ExceptHandler(h) = handler;
        if let Some(name) = &h.name {
            self.bind(name.as_str(), Bound::Opaque, false, true);
        }
        visitor::walk_except_handler(self, handler);
    }
}

// ---------------------------------------------------------------------------------------
// Constant folding and name resolution
// ---------------------------------------------------------------------------------------

/// A value computed from constants.
#[derive(Clone, Debug, PartialEq)]
enum Val<'a> {
    Str(Cow<'a, str>),
    Bytes(Vec<u8>),
    Int(i64),
    Seq(Vec<Val<'a>>),
}

struct Ctx<'a> {
    code: &'a str,
    names: Names<'a>,
}

impl<'a> Ctx<'a> {
    /// Folds an expression built from constants: string, bytes and int literals, implicit
    /// concatenation, `+`, `*` by an int, `%` with `%s`/`%d`, f-strings of constants,
    /// indexing and slicing with constant bounds, `sep.join(...)`, `str.join(sep, ...)`,
    /// `.lower()`, `.upper()`, `.strip()`, `.replace(a, b)`, `.format(...)`, `.encode()`,
    /// `.decode()`, `bytes.fromhex`, `chr`, `ord`, `str`, `int`, `reversed`, `list`,
    /// `tuple`, `bytes`, `map(chr, ...)`, and names bound exactly once in the module.
    fn fold(&self, expr: &'a Expr) -> Option<Val<'a>> {
        let mut budget = FOLD_BUDGET;
        self.fold_in(expr, 0, &mut budget)
    }

    fn fold_str(&self, expr: &'a Expr) -> Option<Cow<'a, str>> {
        match self.fold(expr)? {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }

    fn fold_in(&self, expr: &'a Expr, depth: u32, budget: &mut u32) -> Option<Val<'a>> {
        if depth > FOLD_MAX_DEPTH || *budget == 0 {
            return None;
        }
        *budget -= 1;
        let d = depth + 1;
        match expr {
            Expr::StringLiteral(s) => Some(Val::Str(Cow::Borrowed(s.value.to_str()))),
            Expr::BytesLiteral(b) => {
                let bytes: Vec<u8> = b.value.bytes().take(FOLD_MAX_LEN + 1).collect();
                (bytes.len() <= FOLD_MAX_LEN).then_some(Val::Bytes(bytes))
            }
            Expr::NumberLiteral(n) => match &n.value {
                Number::Int(i) => i.as_i64().map(Val::Int),
                _ => None,
            },
            Expr::BooleanLiteral(b) => Some(Val::Int(i64::from(b.value))),
            Expr::FString(f) => self.fold_fstring(f, d, budget),
            Expr::Tuple(t) => self.fold_seq(&t.elts, d, budget),
            Expr::List(l) => self.fold_seq(&l.elts, d, budget),
            Expr::UnaryOp(u) => match (u.op, self.fold_in(&u.operand, d, budget)?) {
                (UnaryOp::USub, Val::Int(i)) => i.checked_neg().map(Val::Int),
                (UnaryOp::UAdd, Val::Int(i)) => Some(Val::Int(i)),
                _ => None,
            },
            Expr::BinOp(b) => {
                let left = self.fold_in(&b.left, d, budget)?;
                let right = self.fold_in(&b.right, d, budget)?;
                binop(b.op, left, right)
            }
            Expr::Name(n) => {
                let value = self.names.single_value(n.id.as_str())?;
                self.fold_in(value, d, budget)
            }
            Expr::Named(n) => self.fold_in(&n.value, d, budget),
            Expr::Subscript(s) => self.fold_subscript(s, d, budget),
            Expr::Call(c) => self.fold_call(c, d, budget),
            _ => None,
        }
    }

    fn fold_seq(&self, items: &'a [Expr], depth: u32, budget: &mut u32) -> Option<Val<'a>> {
        if items.len() > FOLD_MAX_ITEMS {
            return None;
        }
        items
            .iter()
            .map(|item| self.fold_in(item, depth, budget))
            .collect::<Option<Vec<_>>>()
            .map(Val::Seq)
    }

    fn fold_fstring(
        &self,
        fstring: &'a ast::ExprFString,
        depth: u32,
        budget: &mut u32,
    ) -> Option<Val<'a>> {
        let mut out = String::new();
        for part in fstring.value.iter() {
            match part {
                FStringPart::Literal(literal) => out.push_str(&literal.value),
                FStringPart::FString(f) => {
                    for element in &f.elements {
                        match element {
                            InterpolatedStringElement::Literal(literal) => {
                                out.push_str(&literal.value);
                            }
                            InterpolatedStringElement::Interpolation(field) => {
                                let plain = field.debug_text.is_none()
                                    && field
                                        .format_spec
                                        .as_ref()
                                        .is_none_or(|spec| spec.elements.is_empty())
                                    && matches!(
                                        field.conversion,
                                        ConversionFlag::None | ConversionFlag::Str
                                    );
                                if !plain {
                                    return None;
                                }
                                match self.fold_in(&field.expression, depth, budget)? {
                                    Val::Str(s) => out.push_str(&s),
                                    Val::Int(i) => {
                                        let _ = write!(out, "{i}");
                                    }
                                    _ => return None,
                                }
                            }
                        }
                    }
                }
            }
            if out.len() > FOLD_MAX_LEN {
                return None;
            }
        }
        Some(Val::Str(Cow::Owned(out)))
    }

    fn fold_subscript(
        &self,
        sub: &'a ast::ExprSubscript,
        depth: u32,
        budget: &mut u32,
    ) -> Option<Val<'a>> {
        let base = self.fold_in(&sub.value, depth, budget)?;
        if let Expr::Slice(slice) = &*sub.slice {
            let mut bound = |b: &'a Option<Box<Expr>>| -> Option<Option<i64>> {
                match b {
                    None => Some(None),
                    Some(e) => match self.fold_in(e, depth, budget)? {
                        Val::Int(i) => Some(Some(i)),
                        _ => None,
                    },
                }
            };
            let (lower, upper, step) = (
                bound(&slice.lower)?,
                bound(&slice.upper)?,
                bound(&slice.step)?,
            );
            return match base {
                Val::Str(s) => {
                    let chars: Vec<char> = s.chars().collect();
                    let sliced = py_slice(&chars, lower, upper, step)?;
                    Some(Val::Str(Cow::Owned(sliced.into_iter().collect())))
                }
                Val::Bytes(b) => Some(Val::Bytes(py_slice(&b, lower, upper, step)?)),
                Val::Seq(v) => Some(Val::Seq(py_slice(&v, lower, upper, step)?)),
                Val::Int(_) => None,
            };
        }
        let Val::Int(index) = self.fold_in(&sub.slice, depth, budget)? else {
            return None;
        };
        match base {
            Val::Str(s) => {
                let i = py_index(index, s.chars().count())?;
                Some(Val::Str(Cow::Owned(s.chars().nth(i)?.to_string())))
            }
            Val::Bytes(b) => Some(Val::Int(i64::from(b[py_index(index, b.len())?]))),
            Val::Seq(v) => {
                let i = py_index(index, v.len())?;
                v.into_iter().nth(i)
            }
            Val::Int(_) => None,
        }
    }

    fn fold_call(&self, call: &'a ast::ExprCall, depth: u32, budget: &mut u32) -> Option<Val<'a>> {
        let args = &call.arguments;
        if !args.keywords.is_empty() || args.args.iter().any(Expr::is_starred_expr) {
            return None;
        }
        let args: &'a [Expr] = &args.args;
        match &*call.func {
            Expr::Attribute(attr) => {
                let method = attr.attr.as_str();
                if let Expr::Name(class) = &*attr.value {
                    let class = class.id.as_str();
                    if self.names.of(class).is_empty() {
                        match (class, method) {
                            // `str.join(sep, items)`, `str.lower(s)`...
                            ("str", _) => {
                                let (receiver, rest) = args.split_first()?;
                                let receiver = self.fold_in(receiver, depth, budget)?;
                                return self.fold_method(receiver, method, rest, depth, budget);
                            }
                            ("bytes" | "bytearray", "fromhex") => {
                                let [hex] = args else { return None };
                                let Val::Str(hex) = self.fold_in(hex, depth, budget)? else {
                                    return None;
                                };
                                return from_hex(&hex).map(Val::Bytes);
                            }
                            _ => {}
                        }
                    }
                }
                let receiver = self.fold_in(&attr.value, depth, budget)?;
                self.fold_method(receiver, method, args, depth, budget)
            }
            Expr::Name(name) if self.names.of(name.id.as_str()).is_empty() => {
                self.fold_builtin(name.id.as_str(), args, depth, budget)
            }
            _ => None,
        }
    }

    fn fold_method(
        &self,
        receiver: Val<'a>,
        method: &str,
        args: &'a [Expr],
        depth: u32,
        budget: &mut u32,
    ) -> Option<Val<'a>> {
        let mut arg = |i: usize| self.fold_in(&args[i], depth, budget);
        let text = |v: Val<'a>| match v {
            Val::Str(s) => Some(s),
            _ => None,
        };
        match (receiver, method, args.len()) {
            (Val::Str(sep), "join", 1) => {
                let parts: Vec<Cow<'a, str>> = match arg(0)? {
                    Val::Seq(items) => items.into_iter().map(text).collect::<Option<_>>()?,
                    Val::Str(s) => s.chars().map(|c| Cow::Owned(c.to_string())).collect(),
                    _ => return None,
                };
                let joined = parts.join(&*sep);
                (joined.len() <= FOLD_MAX_LEN).then_some(Val::Str(Cow::Owned(joined)))
            }
            (Val::Str(s), "lower" | "casefold", 0) => Some(Val::Str(Cow::Owned(s.to_lowercase()))),
            (Val::Str(s), "upper", 0) => Some(Val::Str(Cow::Owned(s.to_uppercase()))),
            (Val::Str(s), "strip" | "lstrip" | "rstrip", n @ (0 | 1)) => {
                let chars: Option<Cow<'a, str>> = if n == 1 { Some(text(arg(0)?)?) } else { None };
                let strip = |c: char| match &chars {
                    Some(set) => set.contains(c),
                    None => c.is_whitespace(),
                };
                let out = match method {
                    "strip" => s.trim_matches(strip),
                    "lstrip" => s.trim_start_matches(strip),
                    _ => s.trim_end_matches(strip),
                };
                Some(Val::Str(Cow::Owned(out.to_string())))
            }
            (Val::Str(s), "replace", n @ (2 | 3)) => {
                let from = text(arg(0)?)?;
                let to = text(arg(1)?)?;
                let count = if n == 3 {
                    match arg(2)? {
                        Val::Int(c) => c,
                        _ => return None,
                    }
                } else {
                    -1
                };
                let out = match usize::try_from(count) {
                    Ok(count) => s.replacen(&*from, &to, count),
                    Err(_) => s.replace(&*from, &to),
                };
                (out.len() <= FOLD_MAX_LEN).then_some(Val::Str(Cow::Owned(out)))
            }
            (Val::Str(s), "format", _) => {
                let values = (0..args.len()).map(&mut arg).collect::<Option<Vec<_>>>()?;
                format_braces(&s, &values).map(|out| Val::Str(Cow::Owned(out)))
            }
            (Val::Str(s), "encode", 0 | 1) => Some(Val::Bytes(s.as_bytes().to_vec())),
            (Val::Bytes(b), "decode", 0 | 1) => {
                String::from_utf8(b).ok().map(|s| Val::Str(Cow::Owned(s)))
            }
            _ => None,
        }
    }

    fn fold_builtin(
        &self,
        name: &str,
        args: &'a [Expr],
        depth: u32,
        budget: &mut u32,
    ) -> Option<Val<'a>> {
        let mut arg = |i: usize| self.fold_in(&args[i], depth, budget);
        match (name, args.len()) {
            ("chr", 1) => match arg(0)? {
                Val::Int(i) => char_of(i).map(|c| Val::Str(Cow::Owned(c.to_string()))),
                _ => None,
            },
            ("ord", 1) => match arg(0)? {
                Val::Str(s) => ord_of(&s).map(Val::Int),
                _ => None,
            },
            ("str", 0) => Some(Val::Str(Cow::Borrowed(""))),
            ("str", 1) => match arg(0)? {
                Val::Str(s) => Some(Val::Str(s)),
                Val::Int(i) => Some(Val::Str(Cow::Owned(i.to_string()))),
                _ => None,
            },
            ("int", 1) => match arg(0)? {
                Val::Str(s) => s.trim().parse().ok().map(Val::Int),
                Val::Int(i) => Some(Val::Int(i)),
                _ => None,
            },
            ("reversed" | "list" | "tuple", 1) => {
                let mut items = match arg(0)? {
                    Val::Str(s) => s
                        .chars()
                        .map(|c| Val::Str(Cow::Owned(c.to_string())))
                        .collect(),
                    Val::Bytes(b) => b.into_iter().map(|x| Val::Int(i64::from(x))).collect(),
                    Val::Seq(v) => v,
                    Val::Int(_) => return None,
                };
                if name == "reversed" {
                    items.reverse();
                }
                Some(Val::Seq(items))
            }
            ("bytes" | "bytearray", 1) => match arg(0)? {
                Val::Bytes(b) => Some(Val::Bytes(b)),
                Val::Seq(items) => items
                    .into_iter()
                    .map(|v| match v {
                        Val::Int(i) => u8::try_from(i).ok(),
                        _ => None,
                    })
                    .collect::<Option<Vec<u8>>>()
                    .map(Val::Bytes),
                _ => None,
            },
            ("bytes" | "bytearray", 2) => match arg(0)? {
                Val::Str(s) => Some(Val::Bytes(s.as_bytes().to_vec())),
                _ => None,
            },
            ("map", 2) => {
                let Expr::Name(f) = &args[0] else { return None };
                let f = f.id.as_str();
                if !self.names.of(f).is_empty() {
                    return None;
                }
                let items = match arg(1)? {
                    Val::Seq(v) => v,
                    Val::Str(s) => s
                        .chars()
                        .map(|c| Val::Str(Cow::Owned(c.to_string())))
                        .collect(),
                    _ => return None,
                };
                items
                    .into_iter()
                    .map(|item| match (f, item) {
                        ("chr", Val::Int(i)) => {
                            char_of(i).map(|c| Val::Str(Cow::Owned(c.to_string())))
                        }
                        ("ord", Val::Str(s)) => ord_of(&s).map(Val::Int),
                        ("str", Val::Int(i)) => Some(Val::Str(Cow::Owned(i.to_string()))),
                        ("str", Val::Str(s)) => Some(Val::Str(s)),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()
                    .map(Val::Seq)
            }
            _ => None,
        }
    }

    /// What an expression may refer to, as dotted names (`os.system`, `builtins.eval`):
    /// through imports, aliases (`s = os.system`), `__builtins__`, star imports, `getattr`
    /// with a constant name, `__import__`/`import_module` with a constant module,
    /// `sys.modules[...]`, `vars(m)[...]` and `m.__dict__[...]`. At most
    /// [`MAX_CANDIDATES`]; names are not canonical yet.
    fn resolve(&self, expr: &'a Expr, scope: u32) -> Vec<String> {
        let mut out = Vec::new();
        let mut budget = RESOLVE_BUDGET;
        self.resolve_in(expr, scope, &mut budget, &mut out);
        out
    }

    fn resolve_in(&self, expr: &'a Expr, scope: u32, budget: &mut u32, out: &mut Vec<String>) {
        if *budget == 0 || out.len() >= MAX_CANDIDATES {
            return;
        }
        *budget -= 1;
        match expr {
            Expr::Name(name) => {
                self.resolve_name(name.id.as_str(), name.start(), scope, out);
            }
            Expr::Attribute(attr) => {
                let from = out.len();
                self.resolve_in(&attr.value, scope, budget, out);
                for q in &mut out[from..] {
                    q.push('.');
                    q.push_str(attr.attr.as_str());
                }
            }
            Expr::Subscript(sub) => {
                let Some(key) = self.fold_str(&sub.slice) else {
                    return;
                };
                let from = out.len();
                self.resolve_in(&sub.value, scope, budget, out);
                let mut resolved: Vec<String> = out
                    .drain(from..)
                    .filter_map(|q| {
                        if q == "builtins" {
                            Some(format!("builtins.{key}"))
                        } else if q == "sys.modules" {
                            Some(key.to_string())
                        } else {
                            q.strip_suffix(".__dict__")
                                .map(|base| format!("{base}.{key}"))
                        }
                    })
                    .collect();
                out.append(&mut resolved);
            }
            Expr::Call(call) => self.resolve_call(call, scope, budget, out),
            Expr::Named(named) => self.resolve_in(&named.value, scope, budget, out),
            _ => {}
        }
    }

    fn resolve_name(&self, name: &'a str, at: TextSize, scope: u32, out: &mut Vec<String>) {
        if name == "__builtins__" {
            push_unique(out, "builtins".to_string());
            return;
        }
        let id = self.names.index.get(name).copied();
        if let Some(id) = id {
            for q in self.bound_to(id) {
                push_unique(out, q);
            }
        }
        if self.names.is_builtin(name, at, scope) {
            push_unique(out, format!("builtins.{name}"));
        } else if id.is_none() {
            for module in &self.names.stars {
                push_unique(out, format!("{module}.{name}"));
            }
        }
        out.truncate(MAX_CANDIDATES);
    }

    /// What the bindings of a name refer to, whatever the scope (resolved once per name).
    fn bound_to(&self, id: usize) -> Vec<String> {
        match &self.names.resolved.borrow()[id] {
            Resolved::Done(names) => return names.clone(),
            Resolved::Busy => return Vec::new(),
            Resolved::Todo => {}
        }
        self.names.resolved.borrow_mut()[id] = Resolved::Busy;
        let mut out = Vec::new();
        let mut budget = RESOLVE_BUDGET;
        for binding in self.names.bindings(id) {
            if budget == 0 || out.len() >= MAX_CANDIDATES {
                break;
            }
            budget -= 1;
            match binding.bound {
                Bound::Module(module) => push_unique(&mut out, module.to_string()),
                Bound::From(module, member) => {
                    push_unique(&mut out, format!("{module}.{member}"));
                }
                Bound::Value(value) => {
                    let from = out.len();
                    self.resolve_in(value, binding.scope, &mut budget, &mut out);
                    dedup_from(&mut out, from);
                }
                Bound::Opaque | Bound::Deleted => {}
            }
        }
        out.truncate(MAX_CANDIDATES);
        self.names.resolved.borrow_mut()[id] = Resolved::Done(out.clone());
        out
    }

    fn resolve_call(
        &self,
        call: &'a ast::ExprCall,
        scope: u32,
        budget: &mut u32,
        out: &mut Vec<String>,
    ) {
        let mut funcs = Vec::new();
        self.resolve_in(&call.func, scope, budget, &mut funcs);
        let args = &call.arguments;
        for func in &funcs {
            match use_of(&canonical(func)) {
                Some(Use::Getattr { returns: true, .. }) => {
                    let (Some(object), Some(name)) = (plain_arg(args, 0), plain_arg(args, 1))
                    else {
                        continue;
                    };
                    let Some(name) = self.fold_str(name) else {
                        continue;
                    };
                    let from = out.len();
                    self.resolve_in(object, scope, budget, out);
                    for q in &mut out[from..] {
                        q.push('.');
                        q.push_str(&name);
                    }
                }
                Some(Use::Import { top }) => {
                    let Some(module) = import_arg(args).and_then(|m| self.fold_str(m)) else {
                        continue;
                    };
                    let fromlist = args.args.len() >= 4 || args.find_keyword("fromlist").is_some();
                    let module = if top && !fromlist {
                        module.split('.').next().unwrap_or_default()
                    } else {
                        &module
                    };
                    if !module.is_empty() && !module.starts_with('.') {
                        push_unique(out, module.to_string());
                    }
                }
                Some(Use::Vars) => {
                    let Some(object) = plain_arg(args, 0) else {
                        continue;
                    };
                    let from = out.len();
                    self.resolve_in(object, scope, budget, out);
                    for q in &mut out[from..] {
                        q.push_str(".__dict__");
                    }
                }
                _ => {}
            }
        }
        out.truncate(MAX_CANDIDATES);
    }
}

fn push_unique(out: &mut Vec<String>, q: String) {
    if out.len() < MAX_CANDIDATES && !out.contains(&q) {
        out.push(q);
    }
}

fn dedup_from(out: &mut Vec<String>, from: usize) {
    let mut i = from;
    while i < out.len() {
        if out[..i].contains(&out[i]) {
            out.remove(i);
        } else {
            i += 1;
        }
    }
}

/// The positional argument at `i`, if no starred argument comes before or at it.
fn plain_arg(args: &ast::Arguments, i: usize) -> Option<&Expr> {
    if args.args.iter().take(i + 1).any(Expr::is_starred_expr) {
        return None;
    }
    args.args.get(i)
}

/// The module name given to `__import__` / `import_module`.
fn import_arg(args: &ast::Arguments) -> Option<&Expr> {
    plain_arg(args, 0).or_else(|| args.find_keyword("name").map(|k| &k.value))
}

fn binop<'a>(op: Operator, left: Val<'a>, right: Val<'a>) -> Option<Val<'a>> {
    let repeat_len = |len: usize, n: i64| len.checked_mul(usize::try_from(n.max(0)).ok()?);
    match (op, left, right) {
        (Operator::Add, Val::Str(a), Val::Str(b)) => {
            (a.len() + b.len() <= FOLD_MAX_LEN).then(|| Val::Str(Cow::Owned(format!("{a}{b}"))))
        }
        (Operator::Add, Val::Bytes(mut a), Val::Bytes(b)) => {
            a.extend_from_slice(&b);
            (a.len() <= FOLD_MAX_LEN).then_some(Val::Bytes(a))
        }
        (Operator::Add, Val::Seq(mut a), Val::Seq(b)) => {
            a.extend(b);
            (a.len() <= FOLD_MAX_ITEMS).then_some(Val::Seq(a))
        }
        (Operator::Add, Val::Int(a), Val::Int(b)) => a.checked_add(b).map(Val::Int),
        (Operator::Sub, Val::Int(a), Val::Int(b)) => a.checked_sub(b).map(Val::Int),
        (Operator::Mult, Val::Int(a), Val::Int(b)) => a.checked_mul(b).map(Val::Int),
        (Operator::Mult, Val::Str(s), Val::Int(n)) | (Operator::Mult, Val::Int(n), Val::Str(s)) => {
            let len = repeat_len(s.len(), n)?;
            (len <= FOLD_MAX_LEN)
                .then(|| Val::Str(Cow::Owned(s.repeat(usize::try_from(n.max(0)).unwrap_or(0)))))
        }
        (Operator::Mult, Val::Seq(v), Val::Int(n)) | (Operator::Mult, Val::Int(n), Val::Seq(v)) => {
            let len = repeat_len(v.len(), n)?;
            let n = usize::try_from(n.max(0)).unwrap_or(0);
            (len <= FOLD_MAX_ITEMS).then(|| Val::Seq(std::iter::repeat_n(v, n).flatten().collect()))
        }
        (Operator::Mod, Val::Str(format), args) => {
            let args = match args {
                Val::Seq(v) => v,
                other => vec![other],
            };
            percent_format(&format, &args).map(|s| Val::Str(Cow::Owned(s)))
        }
        _ => None,
    }
}

/// `'%s-%d' % (a, b)`, with `%s`, `%d` and `%%` only.
fn percent_format(format: &str, args: &[Val<'_>]) -> Option<String> {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match (chars.next()?, args.next()) {
            ('%', _) => out.push('%'),
            ('s', Some(Val::Str(s))) => out.push_str(s),
            ('s' | 'd', Some(Val::Int(i))) => {
                let _ = write!(out, "{i}");
            }
            _ => return None,
        }
        if out.len() > FOLD_MAX_LEN {
            return None;
        }
    }
    args.next().is_none().then_some(out)
}

/// `'{}{}'.format(a, b)` and `'{0}'.format(a)`, without conversions or format specs.
fn format_braces(format: &str, args: &[Val<'_>]) -> Option<String> {
    let mut out = String::new();
    let mut next = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let mut field = String::new();
                loop {
                    match chars.next()? {
                        '}' => break,
                        c => field.push(c),
                    }
                }
                let index = if field.is_empty() {
                    next += 1;
                    next - 1
                } else {
                    field.parse().ok()?
                };
                match args.get(index)? {
                    Val::Str(s) => out.push_str(s),
                    Val::Int(i) => {
                        let _ = write!(out, "{i}");
                    }
                    _ => return None,
                }
            }
            '}' => return None,
            c => out.push(c),
        }
        if out.len() > FOLD_MAX_LEN {
            return None;
        }
    }
    Some(out)
}

fn char_of(i: i64) -> Option<char> {
    char::from_u32(u32::try_from(i).ok()?)
}

fn ord_of(s: &str) -> Option<i64> {
    let mut chars = s.chars();
    let c = chars.next()?;
    chars.next().is_none().then_some(i64::from(u32::from(c)))
}

fn from_hex(hex: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = hex
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_digit(16).and_then(|d| u8::try_from(d).ok()))
        .collect::<Option<_>>()?;
    if digits.len() % 2 != 0 || digits.len() / 2 > FOLD_MAX_LEN {
        return None;
    }
    Some(digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect())
}

/// Python's index rules: negative counts from the end.
fn py_index(index: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let i = if index < 0 { index + len } else { index };
    (0..len)
        .contains(&i)
        .then(|| usize::try_from(i).ok())
        .flatten()
}

/// Python's slice rules (`s[a:b:c]`, including negative bounds and steps).
fn py_slice<T: Clone>(
    items: &[T],
    lower: Option<i64>,
    upper: Option<i64>,
    step: Option<i64>,
) -> Option<Vec<T>> {
    let n = i64::try_from(items.len()).ok()?;
    let step = step.unwrap_or(1);
    if step == 0 {
        return None;
    }
    let (start, stop) = if step > 0 {
        let clamp = |v: i64| if v < 0 { (v + n).max(0) } else { v.min(n) };
        (lower.map_or(0, clamp), upper.map_or(n, clamp))
    } else {
        let clamp = |v: i64| if v < 0 { (v + n).max(-1) } else { v.min(n - 1) };
        (lower.map_or(n - 1, clamp), upper.map_or(-1, clamp))
    };
    let mut out = Vec::new();
    let mut i = start;
    while (step > 0 && i < stop) || (step < 0 && i > stop) {
        out.push(items[usize::try_from(i).ok()?].clone());
        i = i.checked_add(step)?;
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------
// The analysis walk
// ---------------------------------------------------------------------------------------

/// Whether a name or attribute is checked as a reference: not when it is the function of
/// a call (the call is checked) or part of a chain already checked (`os.path` in
/// `os.path.join`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Ref,
    NoRef,
}

struct Deferred<'a> {
    node: Node<'a>,
    mode: Mode,
    block: u32,
    depth: u32,
    scope: u32,
}

struct Walker<'a, 'c> {
    ctx: &'c Ctx<'a>,
    index: &'c LineIndex<'a>,
    /// How deep in code strings passed to `exec` this analysis is.
    nested: u8,
    exec_bytes: &'c Cell<usize>,
    findings: Vec<Finding>,
    statements: u32,
    block: u32,
    max_block: u32,
    block_over: Option<TextSize>,
    depth: u32,
    max_depth: u32,
    depth_over: Option<TextSize>,
    /// The scope (function, lambda or class body) being walked.
    scope: u32,
    frames: u32,
    deferred: Vec<Deferred<'a>>,
}

impl<'a, 'c> Walker<'a, 'c> {
    fn new(
        ctx: &'c Ctx<'a>,
        index: &'c LineIndex<'a>,
        nested: u8,
        exec_bytes: &'c Cell<usize>,
    ) -> Self {
        Walker {
            ctx,
            index,
            nested,
            exec_bytes,
            findings: Vec::new(),
            statements: 0,
            block: 0,
            max_block: 0,
            block_over: None,
            depth: 0,
            max_depth: 0,
            depth_over: None,
            scope: 0,
            frames: 0,
            deferred: Vec::new(),
        }
    }

    fn run(&mut self, body: &'a [Stmt]) {
        self.visit_body(body);
        while let Some(d) = self.deferred.pop() {
            self.frames = 0;
            self.block = d.block;
            self.depth = d.depth;
            self.scope = d.scope;
            match d.node {
                Node::Stmt(stmt) => self.visit_stmt(stmt),
                Node::Expr(expr) => self.expr(expr, d.mode),
                Node::Pattern(pattern) => self.visit_pattern(pattern),
            }
        }
    }

    fn finish(mut self, code: &str) -> (Vec<Finding>, CodeMetrics) {
        let lines = count_lines(code);
        if lines > MAX_LINES {
            self.report(
                "metrics.size",
                Severity::Info,
                TextSize::default(),
                format!("{lines} lines (more than {MAX_LINES})"),
            );
        }
        if let Some(at) = self.block_over {
            let message = format!(
                "blocks nested {} deep (more than {MAX_BLOCK_NESTING})",
                self.max_block
            );
            self.report("metrics.nesting", Severity::Info, at, message);
        }
        if let Some(at) = self.depth_over {
            let message = format!(
                "expressions nested {} deep (more than {MAX_EXPRESSION_DEPTH})",
                self.max_depth
            );
            self.report("metrics.nesting", Severity::Info, at, message);
        }
        let metrics = CodeMetrics {
            lines,
            bytes: code.len() as u64,
            statements: self.statements,
            max_nesting: self.max_block,
            max_expression_depth: self.max_depth,
        };
        (self.findings, metrics)
    }

    fn report(&mut self, rule: &str, severity: Severity, at: TextSize, message: String) {
        let (line, col) = self.index.position(at.to_usize());
        self.findings.push(Finding {
            rule: rule.to_string(),
            severity,
            line,
            col,
            message,
        });
    }

    fn text(&self, expr: &Expr) -> &'a str {
        let range = expr.range();
        self.ctx
            .code
            .get(range.start().to_usize()..range.end().to_usize())
            .unwrap_or_default()
    }

    /// ` through alias 's'` when the code does not spell the resolved name.
    fn through(&self, expr: &Expr, name: &str) -> String {
        let text = self.text(expr);
        if text == name || name.strip_prefix("builtins.") == Some(text) {
            return String::new();
        }
        if matches!(expr, Expr::Name(_)) {
            return format!(" through alias '{text}'");
        }
        let short: String = text.chars().take(40).collect();
        let ellipsis = if short.len() < text.len() { "..." } else { "" };
        format!(" through `{short}{ellipsis}`")
    }

    fn import(&mut self, path: &str, at: TextSize, via: Option<&str>) {
        let Some((rule, severity, what)) = import_category(path).and_then(Category::rule) else {
            return;
        };
        let message = match via {
            Some(via) => format!("imports {path} through {via} ({what})"),
            None => format!("imports {path} ({what})"),
        };
        self.report(rule, severity, at, message);
    }

    fn expr(&mut self, expr: &'a Expr, mode: Mode) {
        if self.frames >= MAX_FRAMES {
            self.deferred.push(Deferred {
                node: Node::Expr(expr),
                mode,
                block: self.block,
                depth: self.depth,
                scope: self.scope,
            });
            return;
        }
        self.frames += 1;
        self.depth += 1;
        if self.depth > self.max_depth {
            self.max_depth = self.depth;
            if self.depth > MAX_EXPRESSION_DEPTH && self.depth_over.is_none() {
                self.depth_over = Some(expr.start());
            }
        }
        match expr {
            Expr::Call(call) => {
                self.call(expr, call, mode);
                self.expr(&call.func, Mode::NoRef);
                self.visit_arguments(&call.arguments);
            }
            Expr::Name(name) => self.name(expr, name, mode),
            Expr::Attribute(attr) => {
                self.attribute(expr, attr, mode);
                self.expr(&attr.value, Mode::NoRef);
            }
            Expr::Subscript(sub) => {
                self.subscript(expr, sub, mode);
                self.expr(&sub.value, Mode::NoRef);
                self.expr(&sub.slice, Mode::Ref);
            }
            Expr::Lambda(lambda) => {
                if let Some(parameters) = &lambda.parameters {
                    self.visit_parameters(parameters);
                }
                let outer = self.scope;
                self.scope = self.ctx.names.scope_of(lambda);
                self.expr(&lambda.body, Mode::Ref);
                self.scope = outer;
            }
            _ => visitor::walk_expr(self, expr),
        }
        self.depth -= 1;
        self.frames -= 1;
    }

    fn name(&mut self, expr: &'a Expr, name: &'a ast::ExprName, mode: Mode) {
        let id = name.id.as_str();
        if DUNDER_NAMES.contains(&id) {
            self.report(
                "reflect.dunder_name",
                Severity::High,
                expr.start(),
                format!("uses {id}"),
            );
        }
        if mode == Mode::NoRef || name.ctx != ExprContext::Load {
            return;
        }
        if id == "__import__" && self.ctx.names.is_builtin(id, expr.start(), self.scope) {
            self.report(
                "reflect.dunder_name",
                Severity::High,
                expr.start(),
                "refers to __import__ without calling it".to_string(),
            );
        }
        self.reference(expr);
    }

    fn attribute(&mut self, expr: &'a Expr, attr: &'a ast::ExprAttribute, mode: Mode) {
        let name = attr.attr.as_str();
        if is_dunder(name) {
            if ESCAPE_DUNDERS.contains(&name) {
                self.report(
                    "reflect.dunder_attribute",
                    Severity::High,
                    expr.start(),
                    format!("accesses .{name}"),
                );
            } else if name == "__dict__" {
                // The namespace of a module (or of the builtins) is a way around names.
                let of = self.ctx.resolve(&attr.value, self.scope);
                match of.first() {
                    Some(module) => self.report(
                        "reflect.dunder_attribute",
                        Severity::High,
                        expr.start(),
                        format!("accesses .__dict__ of {module}"),
                    ),
                    None => self.report(
                        "reflect.dunder_attribute",
                        Severity::Low,
                        expr.start(),
                        "accesses .__dict__".to_string(),
                    ),
                }
            } else if PLAIN_DUNDERS.contains(&name) {
                self.report(
                    "reflect.dunder_attribute",
                    Severity::Low,
                    expr.start(),
                    format!("accesses .{name}"),
                );
            }
        }
        if mode == Mode::Ref && attr.ctx == ExprContext::Load {
            self.reference(expr);
        }
    }

    fn subscript(&mut self, expr: &'a Expr, sub: &'a ast::ExprSubscript, mode: Mode) {
        if let Some(key) = self.ctx.fold_str(&sub.slice) {
            if ESCAPE_DUNDERS.contains(&&*key) {
                self.report(
                    "reflect.getattr_dunder",
                    Severity::High,
                    expr.start(),
                    format!("indexes a namespace with '{key}'"),
                );
            }
            if mode == Mode::Ref && sub.ctx == ExprContext::Load {
                self.reference(expr);
            }
        }
    }

    /// A reference to a function with an effect, without calling it (`f = os.system`).
    fn reference(&mut self, expr: &'a Expr) {
        let candidates = self.ctx.resolve(expr, self.scope);
        let mut reported: Vec<&'static str> = Vec::new();
        for q in &candidates {
            let q = canonical(q);
            let Some((name, u)) = match_use(&q) else {
                continue;
            };
            let Some((rule, severity)) = u.effect() else {
                continue;
            };
            if reported.contains(&rule) {
                continue;
            }
            reported.push(rule);
            let message = format!("references {name}{}", self.through(expr, name));
            self.report(rule, severity, expr.start(), message);
        }
    }

    fn call(&mut self, expr: &'a Expr, call: &'a ast::ExprCall, mode: Mode) {
        let candidates = self.ctx.resolve(&call.func, self.scope);
        // What the function may be: each kind is reported once.
        let mut seen: Vec<Use> = Vec::new();
        let mut returns = false;
        for q in &candidates {
            let q = canonical(q);
            let Some((name, u)) = match_use(&q) else {
                continue;
            };
            if seen.contains(&u) {
                continue;
            }
            seen.push(u);
            let display = name.strip_prefix("builtins.").unwrap_or(name);
            match u {
                Use::Getattr {
                    name_arg,
                    dynamic,
                    returns: r,
                } => {
                    returns |= r;
                    self.attribute_name(
                        call,
                        plain_arg(&call.arguments, name_arg),
                        dynamic,
                        display,
                    );
                }
                Use::AttrGetter => {
                    for arg in call.arguments.args.iter() {
                        self.attribute_name(call, Some(arg), false, display);
                    }
                }
                Use::Import { .. } => {
                    returns = true;
                    match import_arg(&call.arguments).and_then(|m| self.ctx.fold_str(m)) {
                        Some(module) => self.import(&module, expr.start(), Some(display)),
                        None => self.report(
                            "import.dynamic",
                            Severity::Medium,
                            expr.start(),
                            format!("{display} with a computed module name"),
                        ),
                    }
                }
                Use::Vars => returns = true,
                Use::Exec | Use::Spawn | Use::Network | Use::Native | Use::File => {
                    let Some((rule, mut severity)) = u.effect() else {
                        continue;
                    };
                    let through = self.through(&call.func, name);
                    let message = if u == Use::Exec && name.starts_with("builtins.") {
                        let source = plain_arg(&call.arguments, 0)
                            .or_else(|| call.arguments.find_keyword("source").map(|k| &k.value))
                            .and_then(|arg| match self.ctx.fold(arg)? {
                                Val::Str(s) => Some(s.into_owned()),
                                Val::Bytes(b) => String::from_utf8(b).ok(),
                                _ => None,
                            });
                        match source {
                            Some(source) => {
                                severity = Severity::Low;
                                self.nested_code(&source, display, expr.start());
                                format!("calls {display} with a constant string{through}")
                            }
                            None => format!("calls {display} on a computed value{through}"),
                        }
                    } else {
                        format!("calls {name}{through}")
                    };
                    self.report(rule, severity, expr.start(), message);
                }
            }
        }
        // `object.__getattribute__(x, name)` and `x.__getattribute__(name)`.
        if let Expr::Attribute(attr) = &*call.func {
            if attr.attr.as_str() == "__getattribute__" {
                let i = usize::from(call.arguments.args.len() >= 2);
                self.attribute_name(
                    call,
                    plain_arg(&call.arguments, i),
                    true,
                    "__getattribute__",
                );
            }
        }
        if returns && mode == Mode::Ref {
            self.reference(expr);
        }
    }

    /// The attribute name given to `getattr` and friends.
    fn attribute_name(
        &mut self,
        call: &'a ast::ExprCall,
        arg: Option<&'a Expr>,
        dynamic: bool,
        what: &str,
    ) {
        let at = call.start();
        match arg.and_then(|arg| self.ctx.fold_str(arg)) {
            Some(name) => {
                if let Some(dunder) = name.split('.').find(|part| is_flagged_dunder(part)) {
                    let message = format!("{what} with the name '{dunder}'");
                    self.report("reflect.getattr_dunder", Severity::High, at, message);
                }
            }
            None if dynamic => {
                let message = format!("{what} with a computed name");
                self.report("reflect.getattr_dynamic", Severity::Low, at, message);
            }
            None => {}
        }
    }

    /// Analyses a constant code string passed to `exec`/`eval`/`compile`; its findings are
    /// reported at the call.
    fn nested_code(&mut self, source: &str, function: &str, at: TextSize) {
        if self.nested >= MAX_EXEC_NESTING || source.len() > self.exec_bytes.get() {
            return;
        }
        self.exec_bytes.set(self.exec_bytes.get() - source.len());
        let Ok((inner, _)) = analyze_nested(source, self.nested + 1, self.exec_bytes) else {
            return;
        };
        for finding in inner {
            if finding.rule.starts_with("metrics.") {
                continue;
            }
            let message = format!("in the code passed to {function}: {}", finding.message);
            self.report(&finding.rule, finding.severity, at, message);
        }
    }
}

impl<'a> Visitor<'a> for Walker<'a, '_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if self.frames >= MAX_FRAMES {
            self.deferred.push(Deferred {
                node: Node::Stmt(stmt),
                mode: Mode::Ref,
                block: self.block,
                depth: self.depth,
                scope: self.scope,
            });
            return;
        }
        self.frames += 1;
        self.statements += 1;
        match stmt {
            Stmt::Import(import) => {
                for alias in &import.names {
                    self.import(alias.name.as_str(), alias.start(), None);
                }
            }
            Stmt::ImportFrom(import) if import.level == 0 => {
                if let Some(module) = &import.module {
                    for alias in &import.names {
                        if alias.name.as_str() == "*" {
                            self.import(module.as_str(), alias.start(), None);
                        } else {
                            let path = format!("{}.{}", module.as_str(), alias.name.as_str());
                            self.import(&path, alias.start(), None);
                        }
                    }
                }
            }
            _ => {}
        }
        let compound = is_compound(stmt);
        if compound {
            self.block += 1;
            if self.block > self.max_block {
                self.max_block = self.block;
                if self.block > MAX_BLOCK_NESTING && self.block_over.is_none() {
                    self.block_over = Some(stmt.start());
                }
            }
        }
        match stmt {
            // Decorators, defaults, annotations and base classes are evaluated outside;
            // the body runs in a scope of its own.
            Stmt::FunctionDef(def) => {
                for decorator in &def.decorator_list {
                    self.visit_decorator(decorator);
                }
                if let Some(type_params) = &def.type_params {
                    self.visit_type_params(type_params);
                }
                self.visit_parameters(&def.parameters);
                if let Some(returns) = &def.returns {
                    self.visit_annotation(returns);
                }
                let outer = self.scope;
                self.scope = self.ctx.names.scope_of(def);
                self.visit_body(&def.body);
                self.scope = outer;
            }
            Stmt::ClassDef(class) => {
                for decorator in &class.decorator_list {
                    self.visit_decorator(decorator);
                }
                if let Some(type_params) = &class.type_params {
                    self.visit_type_params(type_params);
                }
                if let Some(arguments) = &class.arguments {
                    self.visit_arguments(arguments);
                }
                let outer = self.scope;
                self.scope = self.ctx.names.scope_of(class);
                self.visit_body(&class.body);
                self.scope = outer;
            }
            _ => visitor::walk_stmt(self, stmt),
        }
        self.block -= u32::from(compound);
        self.frames -= 1;
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        self.expr(expr, Mode::Ref);
    }

    fn visit_pattern(&mut self, pattern: &'a Pattern) {
        if self.frames >= MAX_FRAMES {
            self.deferred.push(Deferred {
                node: Node::Pattern(pattern),
                mode: Mode::Ref,
                block: self.block,
                depth: self.depth,
                scope: self.scope,
            });
            return;
        }
        self.frames += 1;
        visitor::walk_pattern(self, pattern);
        self.frames -= 1;
    }
}

#[cfg(test)]
mod tests;
