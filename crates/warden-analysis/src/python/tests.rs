use std::time::{Duration, Instant};

use super::*;
use crate::Severity::{High, Info, Low, Medium};

fn findings(code: &str) -> Vec<Finding> {
    match analyze(code) {
        Ok((findings, _)) => findings,
        Err(e) => panic!("unexpected syntax error in {code:?}: {e:?}"),
    }
}

fn metrics(code: &str) -> CodeMetrics {
    analyze(code).expect("parses").1
}

fn with_rule(code: &str, rule: &str) -> Vec<Finding> {
    findings(code)
        .into_iter()
        .filter(|f| f.rule == rule)
        .collect()
}

fn describe(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| {
            format!(
                "{}:{} {} {:?} {}",
                f.line, f.col, f.rule, f.severity, f.message
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// (code, rule that must be reported, with this severity).
const FLAGGED: &[(&str, &str, Severity)] = &[
    // import.system
    ("import os.path", "import.system", Low),
    ("import os", "import.system", Low),
    ("from os import path", "import.system", Low),
    ("import sys, json", "import.system", Low),
    ("import shutil as sh2", "import.system", Low),
    ("import pickle", "import.system", Low),
    ("from importlib import reload", "import.system", Low),
    ("import posix", "import.system", Low),
    ("def f():\n    import inspect", "import.system", Low),
    // import.process
    ("import subprocess", "import.process", Medium),
    ("from subprocess import run", "import.process", Medium),
    ("import multiprocessing.pool", "import.process", Medium),
    ("from os import system", "import.process", Medium),
    ("from posix import execv as ev", "import.process", Medium),
    (
        "from concurrent.futures import ProcessPoolExecutor",
        "import.process",
        Medium,
    ),
    ("import pty", "import.process", Medium),
    ("from subprocess import *", "import.process", Medium),
    // import.network
    ("import socket", "import.network", Medium),
    (
        "from urllib.request import urlopen",
        "import.network",
        Medium,
    ),
    ("import requests", "import.network", Medium),
    ("import http.client", "import.network", Medium),
    ("import urllib", "import.network", Medium),
    (
        "from asyncio import open_connection",
        "import.network",
        Medium,
    ),
    // import.native
    ("import ctypes", "import.native", High),
    ("from ctypes import CDLL", "import.native", High),
    ("import ctypes.util", "import.native", High),
    ("import cffi", "import.native", High),
    (
        "from importlib.machinery import ExtensionFileLoader",
        "import.native",
        High,
    ),
    // imports by name, folded
    ("__import__('os')", "import.system", Low),
    ("__import__('o' + 's').system('x')", "import.system", Low),
    ("__import__('o' + 's').system('x')", "process.spawn", Medium),
    (
        "import importlib\nimportlib.import_module('sub' + 'process')",
        "import.process",
        Medium,
    ),
    (
        "import importlib as il\nil.import_module('socket')",
        "import.network",
        Medium,
    ),
    (
        "from importlib import import_module as im\nim('ctypes')",
        "import.native",
        High,
    ),
    ("m = 'cty' 'pes'\n__import__(m)", "import.native", High),
    (
        "__import__(''.join(reversed('tekcos')))",
        "import.network",
        Medium,
    ),
    // import.dynamic
    ("m = input()\n__import__(m)", "import.dynamic", Medium),
    (
        "import importlib\nimportlib.import_module(name)",
        "import.dynamic",
        Medium,
    ),
    // exec.eval
    ("eval('1 + 1')", "exec.eval", Low),
    ("eval(expr)", "exec.eval", Medium),
    ("exec(code)", "exec.eval", Medium),
    ("compile(src, 'f', 'exec')", "exec.eval", Medium),
    ("import builtins\nbuiltins.exec(x)", "exec.eval", Medium),
    ("e = eval\ne(x)", "exec.eval", Medium),
    ("f = eval", "exec.eval", Medium),
    ("__builtins__.eval(x)", "exec.eval", Medium),
    ("__builtins__['ex' + 'ec'](x)", "exec.eval", Medium),
    ("b = __builtins__\nb.eval(x)", "exec.eval", Medium),
    (
        "import builtins\nvars(builtins)['eval'](x)",
        "exec.eval",
        Medium,
    ),
    ("exec('import subprocess')", "import.process", Medium),
    ("exec('imp' + 'ort socket')", "import.network", Medium),
    ("eval = eval\neval(x)", "exec.eval", Medium),
    ("for eval in []:\n    pass\neval(x)", "exec.eval", Medium),
    ("import runpy\nrunpy.run_path('x.py')", "exec.eval", Medium),
    ("[eval for eval in eval(p)]", "exec.eval", Medium),
    (
        "def f():\n    global eval\n    eval = 1\neval(x)",
        "exec.eval",
        Medium,
    ),
    ("def f(e=eval):\n    return e(x)", "exec.eval", Medium),
    ("(lambda e=eval: e(p))()", "exec.eval", Medium),
    (
        "class A:\n    exec = 1\n    def m(self):\n        return exec(x)",
        "exec.eval",
        Medium,
    ),
    ("eval = None\ndel eval\neval(x)", "exec.eval", Medium),
    (
        "def f():\n    eval = 1\n    def g():\n        global eval\n        return eval(x)",
        "exec.eval",
        Medium,
    ),
    // file.open
    ("open('x')", "file.open", Low),
    ("import io\nio.open('x')", "file.open", Low),
    ("import os\nos.open('x', 0)", "file.open", Low),
    ("f = lambda open: 0\nopen('x')", "file.open", Low),
    // process.spawn
    (
        "import subprocess\nsubprocess.run(['ls'])",
        "process.spawn",
        Medium,
    ),
    (
        "import subprocess as sp\nsp.Popen('ls')",
        "process.spawn",
        Medium,
    ),
    (
        "from os import system as s\ns('ls')",
        "process.spawn",
        Medium,
    ),
    (
        "from subprocess import *\nrun(['ls'])",
        "process.spawn",
        Medium,
    ),
    ("import os\nf = os.system", "process.spawn", Medium),
    (
        "import os\nos.execvp('sh', ['sh'])",
        "process.spawn",
        Medium,
    ),
    ("import posix\nposix.system('ls')", "process.spawn", Medium),
    (
        "import os\ngetattr(os, 'sys' + 'tem')('ls')",
        "process.spawn",
        Medium,
    ),
    (
        "import sys\nsys.modules['os'].system('ls')",
        "process.spawn",
        Medium,
    ),
    (
        "import os\nos.__dict__['system']('ls')",
        "process.spawn",
        Medium,
    ),
    (
        "import multiprocessing\nmultiprocessing.Process(target=f)",
        "process.spawn",
        Medium,
    ),
    (
        "import os\na, b = os.system, 1\na('ls')",
        "process.spawn",
        Medium,
    ),
    (
        "import os\nrun = lambda c: os.popen(c)",
        "process.spawn",
        Medium,
    ),
    (
        "import subprocess\nclass P(subprocess.Popen):\n    pass",
        "process.spawn",
        Medium,
    ),
    ("import pty\npty.spawn('/bin/sh')", "process.spawn", Medium),
    // network.socket
    ("import socket\nsocket.socket()", "network.socket", Medium),
    (
        "import urllib.request\nurllib.request.urlopen(u)",
        "network.socket",
        Medium,
    ),
    ("import requests as r\nr.get(u)", "network.socket", Medium),
    (
        "from http.client import HTTPConnection\nHTTPConnection('h')",
        "network.socket",
        Medium,
    ),
    (
        "import asyncio\nasyncio.open_connection('h', 80)",
        "network.socket",
        Medium,
    ),
    // native.ctypes
    (
        "import ctypes\nctypes.CDLL('libc.so.6')",
        "native.ctypes",
        High,
    ),
    (
        "import ctypes\nf = ctypes.pythonapi.PyObject_GetAttr",
        "native.ctypes",
        High,
    ),
    ("from cffi import FFI\nFFI()", "native.ctypes", High),
    (
        "import ctypes as c\nc.memmove(a, b, 8)",
        "native.ctypes",
        High,
    ),
    // reflect.dunder_attribute
    (
        "().__class__.__bases__[0].__subclasses__()",
        "reflect.dunder_attribute",
        High,
    ),
    ("f.__globals__", "reflect.dunder_attribute", High),
    ("x.__class__", "reflect.dunder_attribute", Low),
    ("obj.__dict__", "reflect.dunder_attribute", Low),
    ("import os\nos.__dict__", "reflect.dunder_attribute", High),
    ("f.__code__.co_code", "reflect.dunder_attribute", High),
    ("m.__self__", "reflect.dunder_attribute", High),
    ("x.__class__ = Other", "reflect.dunder_attribute", Low),
    // reflect.dunder_name
    ("__builtins__", "reflect.dunder_name", High),
    ("b = __builtins__", "reflect.dunder_name", High),
    ("__loader__.load_module('os')", "reflect.dunder_name", High),
    ("i = __import__", "reflect.dunder_name", High),
    // reflect.getattr_dunder
    (
        "getattr(obj, '__' + 'class__')",
        "reflect.getattr_dunder",
        High,
    ),
    (
        "getattr(x, '__glob' 'als__')",
        "reflect.getattr_dunder",
        High,
    ),
    (
        "getattr(x, ''.join(['__sub', 'classes__']))",
        "reflect.getattr_dunder",
        High,
    ),
    (
        "getattr(x, str.join('', ('__sub', 'classes__')))",
        "reflect.getattr_dunder",
        High,
    ),
    (
        "getattr(x, '__ssalc__'[::-1])",
        "reflect.getattr_dunder",
        High,
    ),
    (
        "n = '__cla' + 'ss__'\ngetattr(x, n)",
        "reflect.getattr_dunder",
        High,
    ),
    (
        "g = getattr\ng(f, '__globals__')",
        "reflect.getattr_dunder",
        High,
    ),
    (
        "getattr(x, chr(95) * 2 + 'class' + chr(95) * 2)",
        "reflect.getattr_dunder",
        High,
    ),
    (
        "getattr(x, ''.join(map(chr, [95, 95, 99, 111, 100, 101, 95, 95])))",
        "reflect.getattr_dunder",
        High,
    ),
    (
        "getattr(x, f\"{'__'}class{'__'}\")",
        "reflect.getattr_dunder",
        High,
    ),
    (
        "u = '__'\ngetattr(x, f'{u}dict{u}')",
        "reflect.getattr_dunder",
        High,
    ),
    (
        "getattr(x, '__CLASS__'.lower())",
        "reflect.getattr_dunder",
        High,
    ),
    (
        "getattr(x, 'XXglobalsXX'.replace('X', '_'))",
        "reflect.getattr_dunder",
        High,
    ),
    (
        "getattr(x, '%sclass%s' % ('__', '__'))",
        "reflect.getattr_dunder",
        High,
    ),
    (
        "getattr(x, '{}class{}'.format('__', '__'))",
        "reflect.getattr_dunder",
        High,
    ),
    (
        "getattr(x, 'a__globals__b'[1:-1])",
        "reflect.getattr_dunder",
        High,
    ),
    (
        "getattr(x, bytes.fromhex('5f5f636c6173735f5f').decode())",
        "reflect.getattr_dunder",
        High,
    ),
    (
        "getattr(x, b'__code__'.decode())",
        "reflect.getattr_dunder",
        High,
    ),
    ("globals()['__builtins__']", "reflect.getattr_dunder", High),
    ("setattr(f, '__code__', c)", "reflect.getattr_dunder", High),
    ("hasattr(f, '__globals__')", "reflect.getattr_dunder", High),
    (
        "import operator\noperator.attrgetter('__globals__')(f)",
        "reflect.getattr_dunder",
        High,
    ),
    (
        "object.__getattribute__(x, '__dict__')",
        "reflect.getattr_dunder",
        High,
    ),
    (
        "(n := '__mro__')\ngetattr(x, n)",
        "reflect.getattr_dunder",
        High,
    ),
    // reflect.getattr_dynamic
    ("getattr(x, name)", "reflect.getattr_dynamic", Low),
    ("setattr(x, k, v)", "reflect.getattr_dynamic", Low),
    ("delattr(x, k)", "reflect.getattr_dynamic", Low),
    ("x.__getattribute__(name)", "reflect.getattr_dynamic", Low),
];

/// (code, rule that must not be reported).
const NOT_FLAGGED: &[(&str, &str)] = &[
    ("import ospath", "import.system"),
    ("import osmosis", "import.system"),
    ("import json", "import.system"),
    ("import socket_utils", "import.network"),
    ("from urllib.parse import urlparse", "import.network"),
    ("from http import HTTPStatus", "import.network"),
    ("from importlib.metadata import version", "import.system"),
    ("import concurrent.futures", "import.process"),
    (
        "from concurrent.futures import ThreadPoolExecutor",
        "import.process",
    ),
    ("from . import subprocess", "import.process"),
    ("print('subprocess')", "import.process"),
    ("print('import os')", "import.system"),
    ("s = 'os.system'", "process.spawn"),
    ("x = obj.system('ls')", "process.spawn"),
    ("import os\nos.path.join('a', 'b')", "process.spawn"),
    ("import subprocess\nsubprocess.PIPE", "process.spawn"),
    ("import re\nre.compile('x')", "exec.eval"),
    ("from re import compile\ncompile('x')", "exec.eval"),
    ("eval = print\neval('x')", "exec.eval"),
    ("def open(p):\n    return p\nopen('x')", "file.open"),
    ("my_open('x')", "file.open"),
    ("x.__name__", "reflect.dunder_attribute"),
    ("x.__doc__", "reflect.dunder_attribute"),
    ("super().__init__()", "reflect.dunder_attribute"),
    (
        "if __name__ == '__main__':\n    main()",
        "reflect.dunder_name",
    ),
    ("'__class__'", "reflect.dunder_attribute"),
    (
        "class A:\n    def __reduce__(self):\n        return (str, ())",
        "reflect.dunder_attribute",
    ),
    ("getattr(x, 'name')", "reflect.getattr_dunder"),
    ("getattr(x, 'name')", "reflect.getattr_dynamic"),
    ("getattr(x, '__name__', None)", "reflect.getattr_dunder"),
    ("hasattr(x, name)", "reflect.getattr_dynamic"),
    ("d['__name__']", "reflect.getattr_dunder"),
    ("x = [1, 2, 3]\nx[::-1]", "reflect.getattr_dunder"),
    (
        "import asyncio\nasync def f():\n    await asyncio.sleep(1)",
        "process.spawn",
    ),
    ("import ctypes", "native.ctypes"),
    ("def f(eval):\n    return eval", "exec.eval"),
    (
        "def train(model, eval=False):\n    if eval:\n        model.eval()",
        "exec.eval",
    ),
    ("def f(open):\n    open('x')", "file.open"),
    (
        "def f():\n    compile = True\n    return compile",
        "exec.eval",
    ),
    (
        "def outer():\n    eval = 1\n    def inner():\n        return eval(x)",
        "exec.eval",
    ),
    ("f = lambda open: open.read()", "file.open"),
];

#[test]
fn flagged_cases() {
    let mut failures = Vec::new();
    for &(code, rule, severity) in FLAGGED {
        let found = findings(code);
        if !found
            .iter()
            .any(|f| f.rule == rule && f.severity == severity)
        {
            failures.push(format!(
                "{code:?}: expected {rule} {severity:?}, got [{}]",
                describe(&found)
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn not_flagged_cases() {
    let mut failures = Vec::new();
    for &(code, rule) in NOT_FLAGGED {
        let found = findings(code);
        if found.iter().any(|f| f.rule == rule) {
            failures.push(format!(
                "{code:?}: {rule} must not be reported, got [{}]",
                describe(&found)
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

// ---- syntax -----------------------------------------------------------------------------

#[test]
fn valid_code_parses() {
    assert_eq!(syntax("x = 1\nprint(x)\n"), Ok(()));
    assert_eq!(syntax(""), Ok(()));
    assert!(analyze("def f(a, *b, **c):\n    return [i for i in b]\n").is_ok());
}

#[test]
fn syntax_error_in_parameters_has_line_and_column() {
    let error = syntax("def f(:\n    pass\n").unwrap_err();
    assert_eq!((error.line, error.col), (1, 7), "{error:?}");
    assert!(!error.message.is_empty());
}

#[test]
fn syntax_error_on_line_three_is_reported_on_line_three() {
    let error = syntax("x = 1\ny = 2\nz = 1 +* 2\n").unwrap_err();
    assert_eq!(error.line, 3, "{error:?}");
    assert_eq!(error.col, 8, "{error:?}");
}

#[test]
fn syntax_error_columns_count_characters() {
    // 'é' is two bytes: the newline where an operand is missing is character 10.
    let error = syntax("é = 'é' +\n").unwrap_err();
    assert_eq!((error.line, error.col), (1, 10), "{error:?}");
}

#[test]
fn top_level_await_is_accepted() {
    assert_eq!(syntax("import asyncio\nawait asyncio.sleep(0)\n"), Ok(()));
    assert!(analyze("async def f():\n    pass\nawait f()\n").is_ok());
}

#[test]
fn python2_print_is_a_syntax_error() {
    let error = syntax("print 'x'\n").unwrap_err();
    assert_eq!(error.line, 1, "{error:?}");
}

#[test]
fn syntax_newer_than_the_target_is_left_to_the_interpreter() {
    assert_eq!(syntax("type X = int\n"), Ok(()));
}

#[test]
fn analyze_reports_the_syntax_error() {
    let error = analyze("x = (\n").unwrap_err();
    assert!(error.line >= 1 && !error.message.is_empty(), "{error:?}");
}

#[test]
fn cpython_limits_on_brackets_and_indentation() {
    let brackets = |n: usize| format!("x = {}1{}\n", "(".repeat(n), ")".repeat(n));
    assert_eq!(syntax(&brackets(200)), Ok(()));
    let error = syntax(&brackets(201)).unwrap_err();
    assert_eq!(error.message, "too many nested parentheses");
    assert_eq!((error.line, error.col), (1, 205));

    let indented = |n: usize| {
        let mut code: String = (0..n)
            .map(|i| format!("{}if x:\n", " ".repeat(i)))
            .collect();
        code.push_str(&" ".repeat(n));
        code.push_str("pass\n");
        code
    };
    assert_eq!(syntax(&indented(99)), Ok(()));
    let error = syntax(&indented(100)).unwrap_err();
    assert_eq!(error.message, "too many levels of indentation");
    assert_eq!(error.line, 101);
}

#[test]
fn deep_trees_are_handled_without_recursion() {
    // Valid for the parser (CPython gives up at compile time): the analysis and the drop
    // of the tree must not overflow the stack.
    let code = format!("x = {}1\n", "-".repeat(200_000));
    assert_eq!(syntax(&code), Ok(()));
    let (_, metrics) = analyze(&code).unwrap();
    assert!(metrics.max_expression_depth > 200_000, "{metrics:?}");

    let code = format!("x = 1{}\n", " + y.z".repeat(100_000));
    assert!(analyze(&code).is_ok());

    // Deep and broken: rejected, and dropped safely.
    let code = format!("x = {}", "[".repeat(300_000));
    assert_eq!(
        syntax(&code).unwrap_err().message,
        "too many nested parentheses"
    );
    assert!(analyze(&code).is_err());
}

#[test]
fn pathological_aliases_and_folding_terminate() {
    let code = "a = b\nb = a\na()\nb.c.d()\n";
    assert!(analyze(code).is_ok());
    let mut code = String::from("a0 = '_'\n");
    for i in 1..60 {
        code.push_str(&format!("a{i} = a{} + a{}\n", i - 1, i - 1));
    }
    code.push_str("getattr(x, a59)\n");
    let start = Instant::now();
    let found = findings(&code);
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(found.iter().any(|f| f.rule == "reflect.getattr_dynamic"));
}

// ---- positions and messages -------------------------------------------------------------

#[test]
fn positions_are_lines_and_character_columns() {
    let found = with_rule("x = 1\nimport subprocess\n", "import.process");
    assert_eq!((found[0].line, found[0].col), (2, 8));

    let found = with_rule("y = 'é'; eval(x)\n", "exec.eval");
    assert_eq!((found[0].line, found[0].col), (1, 10));

    let found = with_rule(
        "import os\n\ndef f():\n    return os.system('x')\n",
        "process.spawn",
    );
    assert_eq!((found[0].line, found[0].col), (4, 12));

    let found = with_rule("import os, sys as s2\n", "import.system");
    let positions: Vec<_> = found.iter().map(|f| (f.line, f.col)).collect();
    assert_eq!(positions, [(1, 8), (1, 12)]);

    let found = with_rule("a = 1\nb = x.y.__globals__\n", "reflect.dunder_attribute");
    assert_eq!((found[0].line, found[0].col), (2, 5));
}

#[test]
fn messages_say_what_was_seen() {
    let found = with_rule("from os import system as s\ns('ls')\n", "process.spawn");
    assert_eq!(found.len(), 1, "{}", describe(&found));
    assert_eq!(found[0].message, "calls os.system through alias 's'");

    let found = with_rule("import subprocess\n", "import.process");
    assert_eq!(found[0].message, "imports subprocess (runs processes)");

    let found = with_rule("import os\nf = os.system\n", "process.spawn");
    assert_eq!(found[0].message, "references os.system");

    let found = with_rule("__import__('o' + 's')\n", "import.system");
    assert_eq!(
        found[0].message,
        "imports os through __import__ (system access)"
    );
}

#[test]
fn one_finding_per_occurrence() {
    let found = with_rule(
        "import os\nos.system('a')\nos.system('b')\nos.system.__doc__\n",
        "process.spawn",
    );
    assert_eq!(found.len(), 3, "{}", describe(&found));
    let found = with_rule("import subprocess\nsubprocess.run(x)\n", "process.spawn");
    assert_eq!(found.len(), 1, "{}", describe(&found));
    let found = with_rule(
        "import ctypes\nctypes.cdll.LoadLibrary('libc.so.6')\n",
        "native.ctypes",
    );
    assert_eq!(found.len(), 1, "{}", describe(&found));
    let found = with_rule(
        "().__class__.__bases__[0].__subclasses__()\n",
        "reflect.dunder_attribute",
    );
    let severities: Vec<_> = found.iter().map(|f| f.severity).collect();
    assert_eq!(severities.len(), 3, "{}", describe(&found));
    assert_eq!(severities.iter().filter(|&&s| s == High).count(), 2);
}

#[test]
fn eval_severity_depends_on_the_argument() {
    let found = with_rule("eval('1 + 1')\n", "exec.eval");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].severity, Low);
    let found = with_rule("eval(input())\n", "exec.eval");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].severity, Medium);
}

#[test]
fn code_passed_to_exec_as_a_constant_is_analysed() {
    let found = findings("exec('import subprocess; subprocess.run(\"ls\")')\n");
    let exec = found.iter().find(|f| f.rule == "exec.eval").unwrap();
    assert_eq!(exec.severity, Low);
    let inner = found.iter().find(|f| f.rule == "process.spawn").unwrap();
    assert_eq!((inner.line, inner.col), (1, 1));
    assert!(
        inner.message.starts_with("in the code passed to exec:"),
        "{}",
        inner.message
    );
}

// ---- metrics ----------------------------------------------------------------------------

#[test]
fn metrics_count_statements_nesting_and_depth() {
    let code = "import os\n\ndef f(x):\n    if x:\n        for i in x:\n            print(i)\n    return g(h(x + 1))\n";
    let m = metrics(code);
    assert_eq!(m.lines, 7);
    assert_eq!(m.bytes, code.len() as u64);
    assert_eq!(m.statements, 6);
    assert_eq!(m.max_nesting, 3);
    // Call > Call > BinOp > Name.
    assert_eq!(m.max_expression_depth, 4);
    assert!(findings(code)
        .iter()
        .all(|f| !f.rule.starts_with("metrics.")));
}

#[test]
fn deep_nesting_is_reported() {
    let mut code = String::new();
    for i in 0..12 {
        code.push_str(&format!("{}if x:\n", "    ".repeat(i)));
    }
    code.push_str(&format!("{}pass\n", "    ".repeat(12)));
    let found = with_rule(&code, "metrics.nesting");
    assert_eq!(found.len(), 1, "{}", describe(&found));
    assert_eq!((found[0].severity, found[0].line), (Info, 11));

    let code = format!("x = {}1\n", "-".repeat(60));
    let found = with_rule(&code, "metrics.nesting");
    assert_eq!(found.len(), 1, "{}", describe(&found));

    let code = "if x:\n    if y:\n        pass\n";
    assert!(with_rule(code, "metrics.nesting").is_empty());
}

#[test]
fn long_code_is_reported() {
    let code = "x = 1\n".repeat(5001);
    let found = with_rule(&code, "metrics.size");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].severity, Info);
    assert!(with_rule(&"x = 1\n".repeat(5000), "metrics.size").is_empty());
}

// ---- out of reach: the OS sandbox is the boundary here ----------------------------------

#[test]
fn out_of_reach_attribute_name_from_input() {
    // The OS sandbox is the boundary here: a name read at run time is unknown.
    let found = findings("import os\ngetattr(os, input())('ls')\n");
    assert!(found.iter().any(|f| f.rule == "reflect.getattr_dynamic"));
    assert!(!found.iter().any(|f| f.rule == "process.spawn"));
}

#[test]
fn out_of_reach_attribute_name_from_a_function_call() {
    // The OS sandbox is the boundary here: only the dynamic getattr is seen.
    let found = findings("getattr(x, name_from_function_call())\n");
    let rules: Vec<_> = found.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(rules, ["reflect.getattr_dynamic"]);
}

#[test]
fn out_of_reach_exec_of_a_decoded_payload() {
    // The OS sandbox is the boundary here: base64 is not decoded, the inner import unseen.
    let found = findings("import base64\nexec(base64.b64decode('aW1wb3J0IG9z'))\n");
    let exec = found.iter().find(|f| f.rule == "exec.eval").unwrap();
    assert_eq!(exec.severity, Medium);
    assert!(!found.iter().any(|f| f.rule.starts_with("import.")));
}

#[test]
fn out_of_reach_module_name_through_a_parameter() {
    // The OS sandbox is the boundary here: values are not followed into functions.
    let found = findings("def load(m):\n    return __import__(m)\n\nload('subprocess')\n");
    assert!(found.iter().any(|f| f.rule == "import.dynamic"));
    assert!(!found.iter().any(|f| f.rule == "import.process"));
}

#[test]
fn out_of_reach_name_assigned_twice() {
    // The OS sandbox is the boundary here: a name bound twice is not folded.
    let found = findings("n = '__cla'\nn = n + 'ss__'\ngetattr(x, n)\n");
    assert!(found.iter().any(|f| f.rule == "reflect.getattr_dynamic"));
    assert!(!found.iter().any(|f| f.rule == "reflect.getattr_dunder"));
}

#[test]
fn out_of_reach_function_stored_on_an_object() {
    // The OS sandbox is the boundary here: attributes of objects are not tracked, so the
    // call through `c.run` is not seen; the reference to os.system is.
    let found = with_rule(
        "import os\nclass C:\n    pass\nc = C()\nc.run = os.system\nc.run('ls')\n",
        "process.spawn",
    );
    assert_eq!(found.len(), 1, "{}", describe(&found));
    assert!(found[0].message.starts_with("references"));
    assert_eq!(found[0].line, 5);
}

#[test]
fn out_of_reach_rot13_module_name() {
    // The OS sandbox is the boundary here: codecs are not run.
    let found = findings("import codecs\n__import__(codecs.decode('fhocebprff', 'rot13'))\n");
    assert!(found.iter().any(|f| f.rule == "import.dynamic"));
    assert!(!found.iter().any(|f| f.rule == "import.process"));
}

// ---- benchmark program ------------------------------------------------------------------

#[test]
fn sample_program_is_realistic_and_quiet() {
    let code = sample_program(1000);
    let lines = count_lines(&code);
    assert!((1000..1100).contains(&lines), "{lines}");
    let (found, metrics) = analyze(&code).unwrap();
    assert!(metrics.statements > 300, "{metrics:?}");
    let rules: std::collections::BTreeSet<_> = found.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(rules.into_iter().collect::<Vec<_>>(), ["file.open"]);
}

#[test]
#[ignore = "timing; run in release: cargo test --release -p warden-analysis analysis_speed -- --ignored --nocapture"]
fn analysis_speed_1000_lines() {
    let code = sample_program(1000);
    assert!(analyze(&code).is_ok());
    let mut times: Vec<Duration> = (0..200)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(analyze(std::hint::black_box(&code)).is_ok());
            start.elapsed()
        })
        .collect();
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "analyze: {} lines, {} bytes: median {median:?} (min {:?}, max {:?})",
        count_lines(&code),
        code.len(),
        times[0],
        times[times.len() - 1]
    );
    assert!(median < Duration::from_millis(5), "median {median:?}");
}

#[test]
fn code_strings_are_analysed_within_a_budget() {
    // The same large string passed to exec many times is not analysed every time.
    let inner = "x = 1\n".repeat(10_000);
    let mut code = format!("c = '''{inner}import os'''\n");
    code.push_str(&"exec(c)\n".repeat(1000));
    let start = Instant::now();
    let found = findings(&code);
    assert!(start.elapsed() < Duration::from_secs(5));
    let seen = found.iter().filter(|f| f.rule == "import.system").count();
    assert!((1..1000).contains(&seen), "{seen}");
    assert_eq!(found.iter().filter(|f| f.rule == "exec.eval").count(), 1000);
}
