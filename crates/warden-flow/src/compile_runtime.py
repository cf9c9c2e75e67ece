# ---------------------------------------------------------------- runtime
# The same for every compiled workflow: values, paths, expressions and the run loop, with
# the semantics of warden-flow's runner (see docs/WORKFLOWS.md).

import bisect
import contextlib
import copy
import io
import json
import math
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request

MAX_STEPS = 100000
MAX_DURATION_MS = 600000
I64_MIN = -(2**63)
I64_MAX = 2**63 - 1
# How deep `tool` nodes may call workflows that call workflows (the engine's limit).
MAX_TOOL_DEPTH = 4


class NodeError(Exception):
    """Why a node failed: `code`, `message` and, for code nodes, `traceback`."""

    def __init__(self, code, message, traceback=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.traceback = traceback


class Fatal(NodeError):
    """A failure that ends the run whatever the edges (the time limit)."""


class ExprError(Exception):
    pass


class PathError(Exception):
    pass


def kind_of(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, float):
        return "a float"
    if isinstance(v, int):
        return "an integer"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "a list"
    return "an object"


def show_path(segments):
    out = ""
    for i, s in enumerate(segments):
        if isinstance(s, int):
            out += "[%d]" % s
        elif i == 0:
            out += s
        else:
            out += "." + s
    return out


def get_path(state, segments):
    """Reads a path: missing keys, indexes past the end and steps into null give None."""
    current = state
    for i, s in enumerate(segments):
        if current is None:
            return None
        if isinstance(s, str) and isinstance(current, dict):
            if s not in current:
                return None
            current = current[s]
        elif isinstance(s, int) and isinstance(current, list):
            if s >= len(current):
                return None
            current = current[s]
        else:
            raise PathError(
                "cannot read `%s`: `%s` is %s, not %s"
                % (
                    show_path(segments),
                    show_path(segments[: max(i, 1)]),
                    kind_of(current),
                    "an object" if isinstance(s, str) else "a list",
                )
            )
    return copy.deepcopy(current)


def set_path(state, keys, value):
    current = state
    for i, key in enumerate(keys):
        if not isinstance(current, dict):
            raise PathError(
                "cannot write `%s`: `%s` is %s, not an object"
                % (".".join(keys), "the state" if i == 0 else ".".join(keys[:i]), kind_of(current))
            )
        if i + 1 == len(keys):
            current[key] = copy.deepcopy(value)
            return
        if current.get(key) is None:
            current[key] = {}
        current = current[key]


def to_json(v):
    """Compact JSON, keys sorted: what `str()` and templates write."""
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


# ---------------------------------------------------------------- expressions


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_number(v):
    if isinstance(v, bool):
        return
    if isinstance(v, int):
        if not I64_MIN <= v <= I64_MAX:
            raise ExprError(
                "number out of range in `an integer in the state beyond the 64-bit range`"
            )
    elif isinstance(v, list):
        for x in v:
            _check_number(x)
    elif isinstance(v, dict):
        for x in v.values():
            _check_number(x)


def _p(state, segments):
    """A path read inside an expression."""
    try:
        v = get_path(state, segments)
    except PathError as e:
        raise ExprError(str(e))
    _check_number(v)
    return v


def _t(v):
    """Truthiness: false, null, 0, 0.0, "", [] and {} are false."""
    return bool(v)


def _eq(a, b):
    if _is_num(a) and _is_num(b):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_eq(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return len(a) == len(b) and all(k in b and _eq(v, b[k]) for k, v in a.items())
    return type(a) is type(b) and a == b


def _ne(a, b):
    return not _eq(a, b)


def _type_error(sym, a, b):
    return ExprError("`%s` does not apply to %s and %s" % (sym, kind_of(a), kind_of(b)))


def _compare(sym, a, b):
    if isinstance(a, str) and isinstance(b, str):
        pass
    elif not (_is_num(a) and _is_num(b)):
        raise _type_error(sym, a, b)
    if sym == "<":
        return a < b
    if sym == "<=":
        return a <= b
    if sym == ">":
        return a > b
    return a >= b


def _lt(a, b):
    return _compare("<", a, b)


def _le(a, b):
    return _compare("<=", a, b)


def _gt(a, b):
    return _compare(">", a, b)


def _ge(a, b):
    return _compare(">=", a, b)


def _finite(f, sym):
    if f != f or f in (float("inf"), float("-inf")):
        raise ExprError("number out of range in `%s`" % sym)
    return f


def _arith(sym, a, b):
    if not (_is_num(a) and _is_num(b)):
        raise _type_error(sym, a, b)
    if isinstance(a, int) and isinstance(b, int) and sym != "/":
        if sym == "+":
            r = a + b
        elif sym == "-":
            r = a - b
        elif sym == "*":
            r = a * b
        else:
            if b == 0:
                raise ExprError("division by zero")
            r = a % b
        if not I64_MIN <= r <= I64_MAX:
            raise ExprError("number out of range in `%s`" % sym)
        return r
    x, y = float(a), float(b)
    try:
        if sym == "+":
            r = x + y
        elif sym == "-":
            r = x - y
        elif sym == "*":
            r = x * y
        else:
            if y == 0.0:
                raise ExprError("division by zero")
            r = x / y if sym == "/" else x % y
    except OverflowError:
        raise ExprError("number out of range in `%s`" % sym)
    return _finite(r, sym)


def _add(a, b):
    if isinstance(a, str) and isinstance(b, str):
        return a + b
    if isinstance(a, list) and isinstance(b, list):
        return a + b
    return _arith("+", a, b)


def _sub(a, b):
    return _arith("-", a, b)


def _mul(a, b):
    return _arith("*", a, b)


def _div(a, b):
    return _arith("/", a, b)


def _mod(a, b):
    return _arith("%", a, b)


def _neg(a):
    if not _is_num(a):
        raise ExprError("cannot negate %s" % kind_of(a))
    if isinstance(a, int) and a == I64_MIN:
        raise ExprError("number out of range in `-`")
    return -a


def _in(needle, haystack):
    if isinstance(haystack, list):
        return any(_eq(v, needle) for v in haystack)
    if isinstance(haystack, str) and isinstance(needle, str):
        return needle in haystack
    if isinstance(haystack, dict) and isinstance(needle, str):
        return needle in haystack
    raise ExprError("`in` does not apply to %s in %s" % (kind_of(needle), kind_of(haystack)))


def _not_in(needle, haystack):
    return not _in(needle, haystack)


def _bad(func, v):
    return ExprError("`%s` does not apply to %s" % (func, kind_of(v)))


def _fn_len(x):
    if isinstance(x, (str, list, dict)):
        return len(x)
    raise _bad("len", x)


def _fn_lower(x):
    if isinstance(x, str):
        return x.lower()
    raise _bad("lower", x)


def _fn_upper(x):
    if isinstance(x, str):
        return x.upper()
    raise _bad("upper", x)


def _fn_contains(haystack, needle):
    return _in(needle, haystack)


def _fn_startswith(s, p):
    if not isinstance(s, str):
        raise _bad("startswith", s)
    if not isinstance(p, str):
        raise _bad("startswith", p)
    return s.startswith(p)


def _fn_endswith(s, p):
    if not isinstance(s, str):
        raise _bad("endswith", s)
    if not isinstance(p, str):
        raise _bad("endswith", p)
    return s.endswith(p)


def _ascii_digits(s):
    return s != "" and all("0" <= c <= "9" for c in s)


def _fn_int(x):
    if isinstance(x, bool):
        raise _bad("int", x)
    if isinstance(x, int):
        return x
    if isinstance(x, float):
        if -(2.0**63) <= x < 2.0**63:
            return int(x)
        raise ExprError("number out of range in `int`")
    if isinstance(x, str):
        digits = x[1:] if x[:1] in ("+", "-") else x
        if not _ascii_digits(digits):
            raise ExprError("int() cannot convert %s" % to_json(x))
        r = int(x)
        if not I64_MIN <= r <= I64_MAX:
            raise ExprError("number out of range in `int`")
        return r
    raise _bad("int", x)


def _is_float_literal(s):
    i, n = 0, len(s)
    if i < n and s[i] in "+-":
        i += 1
    start = i
    while i < n and "0" <= s[i] <= "9":
        i += 1
    int_digits = i - start
    frac_digits = 0
    if i < n and s[i] == ".":
        i += 1
        start = i
        while i < n and "0" <= s[i] <= "9":
            i += 1
        frac_digits = i - start
    if int_digits == 0 and frac_digits == 0:
        return False
    if i < n and s[i] in "eE":
        i += 1
        if i < n and s[i] in "+-":
            i += 1
        start = i
        while i < n and "0" <= s[i] <= "9":
            i += 1
        if i == start:
            return False
    return i == n


def _fn_float(x):
    if isinstance(x, bool):
        raise _bad("float", x)
    if isinstance(x, (int, float)):
        return float(x)
    if isinstance(x, str):
        if not _is_float_literal(x):
            raise ExprError("float() cannot convert %s" % to_json(x))
        return _finite(float(x), "float")
    raise _bad("float", x)


def _fn_str(x):
    return x if isinstance(x, str) else to_json(x)


def _fn_keys(x):
    if isinstance(x, dict):
        return sorted(x.keys())
    raise _bad("keys", x)


def render(parts):
    """A template: literal text and placeholder values (strings as is, else JSON)."""
    out = []
    for p in parts:
        if isinstance(p, str):
            out.append(p)
        else:
            out.append(p[0] if isinstance(p[0], str) else to_json(p[0]))
    return "".join(out)


# ---------------------------------------------------------------- code nodes


def new_namespace():
    """One namespace for every Python code node of a run, as one session would keep."""
    return {"__name__": "__main__", "__builtins__": __builtins__}

_JS_WRAPPER = """const __wardenFs = require('fs');
(async (input) => {
%s
;return typeof result === 'undefined' ? null : result;
})(JSON.parse(%s)).then((r) => {
  __wardenFs.writeFileSync(%s, JSON.stringify(r === undefined ? null : r));
}, (e) => {
  __wardenFs.writeFileSync(%s, JSON.stringify({name: (e && e.name) || 'Error', message: String(e && e.message !== undefined ? e.message : e), stack: String((e && e.stack) || '')}));
  process.exitCode = 1;
});
"""


class _CodeTimeout(BaseException):
    """Raised into a Python code node when its timeout fires (a BaseException, so the
    node's own `except Exception` does not swallow it)."""


class _Alarm:
    """A Python code node's timeout: SIGALRM after `seconds` (ITIMER_REAL), then again
    every 0.1 s until disarmed, in case the code catches the first. The previous handler
    and timer are restored after. Only on the main thread (signal handlers can only be
    set there): elsewhere, and without `setitimer`, the timeout is not enforced."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.armed = False
        self.enabled = (
            seconds is not None
            and hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread()
        )

    def _fire(self, signum, frame):
        if self.armed:
            raise _CodeTimeout()

    def __enter__(self):
        if self.enabled:
            self.previous_handler = signal.signal(signal.SIGALRM, self._fire)
            self.armed = True
            self.started = time.monotonic()
            # A zero delay would disarm the timer instead: fire at once.
            self.previous_timer = signal.setitimer(
                signal.ITIMER_REAL, max(self.seconds, 1e-6), 0.1
            )
        return self

    def __exit__(self, *exc):
        if not self.enabled:
            return False
        try:
            self.armed = False
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous_handler)
            delay, interval = self.previous_timer
            if delay > 0:
                left = delay - (time.monotonic() - self.started)
                signal.setitimer(signal.ITIMER_REAL, max(left, 1e-6), interval)
        return False


def run_python(code, input_data, timeout=None, ns=None):
    ns = new_namespace() if ns is None else ns
    ns["input_data"] = json.loads(json.dumps(input_data))
    ns["result"] = None
    out = io.StringIO()
    try:
        # The alarm inside the redirect, so it is disarmed before stdout is restored.
        with contextlib.redirect_stdout(out):
            with _Alarm(timeout):
                exec(compile(code, "<code node>", "exec"), ns)
                text = json.dumps(ns.get("result"), default=str)
    except _CodeTimeout:
        raise NodeError("TIMEOUT", "the code node's timeout fired")
    except (Exception, SystemExit) as e:
        raise NodeError(
            "EXECUTION_ERROR", "%s: %s" % (type(e).__name__, e), traceback.format_exc()
        )
    return json.loads(text), out.getvalue()


def run_javascript(code, input_data, timeout):
    node = shutil.which("node")
    if node is None:
        raise NodeError("EXECUTION_ERROR", "JavaScript code nodes need `node` on the PATH")
    with tempfile.TemporaryDirectory() as tmp:
        result_file = os.path.join(tmp, "result.json")
        error_file = os.path.join(tmp, "error.json")
        script = os.path.join(tmp, "node.js")
        with open(script, "w", encoding="utf-8") as f:
            f.write(
                _JS_WRAPPER
                % (code, json.dumps(json.dumps(input_data)), json.dumps(result_file), json.dumps(error_file))
            )
        try:
            proc = subprocess.run(
                [node, script], capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            raise NodeError("TIMEOUT", "the code node's timeout fired")
        if os.path.exists(error_file):
            with open(error_file, encoding="utf-8") as f:
                e = json.load(f)
            raise NodeError("EXECUTION_ERROR", "%s: %s" % (e["name"], e["message"]), e["stack"])
        if proc.returncode != 0 or not os.path.exists(result_file):
            raise NodeError("EXECUTION_ERROR", proc.stderr.strip(), proc.stderr)
        with open(result_file, encoding="utf-8") as f:
            return json.load(f), proc.stdout


# ---------------------------------------------------------------- services


def http_request(method, url, headers, body, timeout):
    """An `http` node: `{status, headers, body}`, the body parsed when it is JSON."""
    data = None
    if body is not None:
        data = (body if isinstance(body, str) else to_json(body)).encode("utf-8")
    headers = dict(headers)
    if body is not None and not isinstance(body, str):
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout or 30) as resp:
            status, resp_headers, raw = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        status, resp_headers, raw = e.code, e.headers, e.read()
    except Exception as e:
        raise NodeError("HTTP_ERROR", "%s: %s" % (type(e).__name__, e))
    text = raw.decode("utf-8", errors="replace")
    body = text
    if "json" in (resp_headers.get("Content-Type") or ""):
        try:
            body = json.loads(text)
        except ValueError:
            pass
    names = sorted({k.lower() for k in resp_headers.keys()})
    return {"status": status, "headers": {k: resp_headers.get(k) for k in names}, "body": body}


def model_request(base_url, model, api_key_env, messages, temperature, max_tokens):
    """A `model` node: a chat completion against an OpenAI-compatible endpoint."""
    base_url = base_url or os.environ.get("WARDEN_FLOW_MODEL_BASE_URL")
    if not base_url:
        raise NodeError(
            "NOT_CONFIGURED",
            "`model` nodes need `base_url` or WARDEN_FLOW_MODEL_BASE_URL",
        )
    payload = {"model": model, "messages": messages}
    if temperature is not None:
        payload["temperature"] = temperature
    if max_tokens is not None:
        payload["max_tokens"] = max_tokens
    headers = {"Content-Type": "application/json"}
    key = os.environ.get(api_key_env or "WARDEN_FLOW_MODEL_API_KEY")
    if key:
        headers["Authorization"] = "Bearer " + key
    req = urllib.request.Request(
        base_url.rstrip("/") + "/chat/completions",
        data=json.dumps(payload).encode("utf-8"),
        method="POST",
        headers=headers,
    )
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            reply = json.loads(resp.read().decode("utf-8"))
        return reply["choices"][0]["message"]["content"]
    except Exception as e:
        raise NodeError("MODEL_ERROR", "%s: %s" % (type(e).__name__, e))


def not_configured(what):
    raise NodeError("NOT_CONFIGURED", "`%s` nodes are not available here" % what)


def tool_http(method, url, headers, input):
    """An HTTP `tool` node: the mapped inputs posted as a JSON object; the reply's body
    (parsed when JSON) is the result, a status outside 2xx is HTTP_ERROR."""
    if not url.startswith(("http://", "https://")):
        raise NodeError("HTTP_ERROR", "only http and https URLs are allowed, not %s" % to_json(url))
    reply = http_request(method, url, headers, input, None)
    if not 200 <= reply["status"] < 300:
        raise NodeError("HTTP_ERROR", "the tool at %s answered %d" % (url, reply["status"]))
    return reply["body"]


# ---------------------------------------------------------------- memory

# The largest value a `memory` node appends, as compact JSON.
MEMORY_VALUE_LIMIT = 1 << 20


def memory_file():
    """The memory store: a JSON file `{thread: {key: [values]}}` (WARDEN_FLOW_MEMORY,
    default `warden-flow-memory.json` in the working directory)."""
    return os.environ.get("WARDEN_FLOW_MEMORY") or "warden-flow-memory.json"


def memory_thread(value):
    """A memory thread id: a string, or an integer written in decimal."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise NodeError(
            "BAD_VALUE", "a memory thread id is a string or an integer, not %s" % kind_of(value)
        )
    return value if isinstance(value, str) else str(value)


def _memory_load(path):
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise NodeError("INTERNAL", "cannot read the memory file %s: %s" % (path, e))
    if not isinstance(data, dict):
        raise NodeError("INTERNAL", "the memory file %s does not hold an object" % path)
    return data


def _memory_save(path, data):
    """Writes the store atomically: a temporary file in the same directory, then
    os.replace."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".warden-flow-memory.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as e:
        raise NodeError("INTERNAL", "cannot write the memory file %s: %s" % (path, e))


def memory_read(thread, key):
    """The list kept for (thread, key); empty if none."""
    lists = _memory_load(memory_file()).get(thread)
    items = lists.get(key) if isinstance(lists, dict) else None
    return copy.deepcopy(items) if isinstance(items, list) else []


def memory_append(thread, key, value):
    """Appends to the list kept for (thread, key); returns the new list."""
    text = to_json(value)
    if len(text.encode("utf-8")) > MEMORY_VALUE_LIMIT:
        raise NodeError(
            "BAD_VALUE", "a memory value is at most %d bytes of JSON" % MEMORY_VALUE_LIMIT
        )
    path = memory_file()
    data = _memory_load(path)
    lists = data.get(thread)
    if not isinstance(lists, dict):
        lists = data[thread] = {}
    items = lists.get(key)
    if not isinstance(items, list):
        items = lists[key] = []
    items.append(json.loads(text))
    _memory_save(path, data)
    return copy.deepcopy(items)


# ---------------------------------------------------------------- retrieval
# Ranked keyword search with the engine's semantics (warden-search over tantivy): the
# text split on characters that are not alphanumeric (Rust's `char::is_alphanumeric`,
# the table ALNUM_RANGES below), tokens of 40 bytes or more dropped, lower-cased per
# character, stemmed with Snowball English; BM25 (k1 = 1.2, b = 0.75) in 32-bit floats
# with tantivy's quantized field norms and glibc's logf; ties by id.


def collections_dir():
    return os.environ.get("WARDEN_FLOW_COLLECTIONS") or "collections"


def _f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


_LOGF_TAB = [
    (float.fromhex(a), float.fromhex(b))
    for a, b in (
        ("0x1.661ec79f8f3bep+0", "-0x1.57bf7808caadep-2"),
        ("0x1.571ed4aaf883dp+0", "-0x1.2bef0a7c06ddbp-2"),
        ("0x1.49539f0f010bp+0", "-0x1.01eae7f513a67p-2"),
        ("0x1.3c995b0b80385p+0", "-0x1.b31d8a68224e9p-3"),
        ("0x1.30d190c8864a5p+0", "-0x1.6574f0ac07758p-3"),
        ("0x1.25e227b0b8eap+0", "-0x1.1aa2bc79c81p-3"),
        ("0x1.1bb4a4a1a343fp+0", "-0x1.a4e76ce8c0e5ep-4"),
        ("0x1.12358f08ae5bap+0", "-0x1.1973c5a611cccp-4"),
        ("0x1.0953f419900a7p+0", "-0x1.252f438e10c1ep-5"),
        ("0x1p+0", "0x0p+0"),
        ("0x1.e608cfd9a47acp-1", "0x1.aa5aa5df25984p-5"),
        ("0x1.ca4b31f026aap-1", "0x1.c5e53aa362eb4p-4"),
        ("0x1.b2036576afce6p-1", "0x1.526e57720db08p-3"),
        ("0x1.9c2d163a1aa2dp-1", "0x1.bc2860d22477p-3"),
        ("0x1.886e6037841edp-1", "0x1.1058bc8a07ee1p-2"),
        ("0x1.767dcf5534862p-1", "0x1.4043057b6ee09p-2"),
    )
]
_LOGF_LN2 = float.fromhex("0x1.62e42fefa39efp-1")
_LOGF_A = [float.fromhex(a) for a in ("-0x1.00ea348b88334p-2", "0x1.5575b0be00b6ap-2", "-0x1.ffffef20a4123p-2")]


def _logf(x):
    """glibc's logf (what Rust's f32::ln calls), for normal positive floats: the same
    table and polynomial in doubles, so the same last bit."""
    ix = struct.unpack("<I", struct.pack("<f", x))[0]
    if ix == 0x3F800000:
        return 0.0
    tmp = (ix - 0x3F330000) & 0xFFFFFFFF
    i = (tmp >> 19) % 16
    k = (tmp - (1 << 32) if tmp & 0x80000000 else tmp) >> 23
    z = struct.unpack("<f", struct.pack("<I", (ix - (tmp & (0x1FF << 23))) & 0xFFFFFFFF))[0]
    invc, logc = _LOGF_TAB[i]
    r = z * invc - 1.0
    y0 = logc + float(k) * _LOGF_LN2
    r2 = r * r
    y = _LOGF_A[1] * r + _LOGF_A[2]
    y = _LOGF_A[0] * r2 + y
    y = y * r2 + (y0 + r)
    return _f32(y)


# tantivy's field norm quantization: a document's token count is stored as the index of
# the largest entry not above it, and scored as that entry.
FIELD_NORMS = (
    list(range(0, 41))
    + [42, 44, 46, 48, 50, 52, 54, 56, 60, 64, 68, 72, 76, 80, 84, 88, 96, 104, 112, 120,
       128, 136, 144, 152, 168, 184]
)


# ---- Snowball English (Porter2), ported from the generated code tantivy uses.


class _Env:
    def __init__(self, s):
        self.s = s
        self.cursor = 0
        self.limit = len(s)
        self.lb = 0
        self.bra = 0
        self.ket = 0

    def eq_s(self, t):
        if self.cursor >= self.limit:
            return False
        if self.s.startswith(t, self.cursor):
            self.cursor += len(t)
            return True
        return False

    def eq_s_b(self, t):
        if self.cursor - self.lb < len(t):
            return False
        if self.s[self.cursor - len(t):self.cursor] != t:
            return False
        self.cursor -= len(t)
        return True

    def in_g(self, g):
        if self.cursor >= self.limit or self.s[self.cursor] not in g:
            return False
        self.cursor += 1
        return True

    def out_g(self, g):
        if self.cursor >= self.limit or self.s[self.cursor] in g:
            return False
        self.cursor += 1
        return True

    def go_in_g(self, g):
        while self.cursor < self.limit:
            if self.s[self.cursor] not in g:
                return True
            self.cursor += 1
        return False

    def go_out_g(self, g):
        while self.cursor < self.limit:
            if self.s[self.cursor] in g:
                return True
            self.cursor += 1
        return False

    def in_g_b(self, g):
        if self.cursor <= self.lb or self.s[self.cursor - 1] not in g:
            return False
        self.cursor -= 1
        return True

    def out_g_b(self, g):
        if self.cursor <= self.lb or self.s[self.cursor - 1] in g:
            return False
        self.cursor -= 1
        return True

    def go_out_g_b(self, g):
        while self.cursor > self.lb:
            if self.s[self.cursor - 1] in g:
                return True
            self.cursor -= 1
        return False

    def hop(self, n):
        res = self.cursor
        for _ in range(n):
            if res >= self.limit:
                return False
            res += 1
        self.cursor = res
        return True

    def hop_back(self, n):
        res = self.cursor
        for _ in range(n):
            if res <= self.lb:
                return False
            res -= 1
        self.cursor = res
        return True

    def slice_from(self, t):
        bra, ket = self.bra, self.ket
        adjustment = len(t) - (ket - bra)
        self.s = self.s[:bra] + t + self.s[ket:]
        self.limit += adjustment
        if self.cursor >= ket:
            self.cursor += adjustment
        elif self.cursor > bra:
            self.cursor = bra
        self.ket = bra + len(t)

    def slice_del(self):
        self.slice_from("")

    def find_among(self, amongs):
        i, j = 0, len(amongs)
        c, l = self.cursor, self.limit
        common_i = common_j = 0
        first_key_inspected = False
        while True:
            k = i + ((j - i) >> 1)
            diff = 0
            common = min(common_i, common_j)
            w = amongs[k][0]
            for lvar in range(common, len(w)):
                if c + common == l:
                    diff = -1
                    break
                diff = ord(self.s[c + common]) - ord(w[lvar])
                if diff != 0:
                    break
                common += 1
            if diff < 0:
                j, common_j = k, common
            else:
                i, common_i = k, common
            if j - i <= 1:
                if i > 0 or j == i or first_key_inspected:
                    break
                first_key_inspected = True
        while True:
            w, sub, result = amongs[i]
            if common_i >= len(w):
                self.cursor = c + len(w)
                return result
            i = sub
            if i < 0:
                return 0

    def find_among_b(self, amongs):
        i, j = 0, len(amongs)
        c, lb = self.cursor, self.lb
        common_i = common_j = 0
        first_key_inspected = False
        while True:
            k = i + ((j - i) >> 1)
            diff = 0
            common = min(common_i, common_j)
            w = amongs[k][0]
            for lvar in range(len(w) - common - 1, -1, -1):
                if c - common == lb:
                    diff = -1
                    break
                diff = ord(self.s[c - common - 1]) - ord(w[lvar])
                if diff != 0:
                    break
                common += 1
            if diff < 0:
                j, common_j = k, common
            else:
                i, common_i = k, common
            if j - i <= 1:
                if i > 0 or j == i or first_key_inspected:
                    break
                first_key_inspected = True
        while True:
            w, sub, result = amongs[i]
            if common_i >= len(w):
                self.cursor = c - len(w)
                return result
            i = sub
            if i < 0:
                return 0


_A0 = [("arsen", -1, -1), ("commun", -1, -1), ("emerg", -1, -1), ("gener", -1, -1),
       ("inter", -1, -1), ("later", -1, -1), ("organ", -1, -1), ("past", -1, -1),
       ("univers", -1, -1)]
_A1 = [("'", -1, 1), ("'s'", 0, 1), ("'s", -1, 1)]
_A2 = [("ied", -1, 2), ("s", -1, 3), ("ies", 1, 2), ("sses", 1, 1), ("ss", 1, -1),
       ("us", 1, -1)]
_A3 = [("succ", -1, 1), ("proc", -1, 1), ("exc", -1, 1)]
_A4 = [("even", -1, 2), ("cann", -1, 2), ("inn", -1, 2), ("earr", -1, 2), ("herr", -1, 2),
       ("out", -1, 2), ("y", -1, 1)]
_A5 = [("", -1, -1), ("ed", 0, 2), ("eed", 1, 1), ("ing", 0, 3), ("edly", 0, 2),
       ("eedly", 4, 1), ("ingly", 0, 2)]
_A6 = [("", -1, 3), ("bb", 0, 2), ("dd", 0, 2), ("ff", 0, 2), ("gg", 0, 2), ("bl", 0, 1),
       ("mm", 0, 2), ("nn", 0, 2), ("pp", 0, 2), ("rr", 0, 2), ("at", 0, 1), ("tt", 0, 2),
       ("iz", 0, 1)]
_A7 = [("anci", -1, 3), ("enci", -1, 2), ("ogi", -1, 14), ("li", -1, 16), ("bli", 3, 12),
       ("abli", 4, 4), ("alli", 3, 8), ("fulli", 3, 9), ("lessli", 3, 15), ("ousli", 3, 10),
       ("entli", 3, 5), ("aliti", -1, 8), ("biliti", -1, 12), ("iviti", -1, 11),
       ("tional", -1, 1), ("ational", 14, 7), ("alism", -1, 8), ("ation", -1, 7),
       ("ization", 17, 6), ("izer", -1, 6), ("ator", -1, 7), ("iveness", -1, 11),
       ("fulness", -1, 9), ("ousness", -1, 10), ("ogist", -1, 13)]
_A8 = [("icate", -1, 4), ("ative", -1, 6), ("alize", -1, 3), ("iciti", -1, 4),
       ("ical", -1, 4), ("tional", -1, 1), ("ational", 5, 2), ("ful", -1, 5),
       ("ness", -1, 5)]
_A9 = [("ic", -1, 1), ("ance", -1, 1), ("ence", -1, 1), ("able", -1, 1), ("ible", -1, 1),
       ("ate", -1, 1), ("ive", -1, 1), ("ize", -1, 1), ("iti", -1, 1), ("al", -1, 1),
       ("ism", -1, 1), ("ion", -1, 2), ("er", -1, 1), ("ous", -1, 1), ("ant", -1, 1),
       ("ent", -1, 1), ("ment", 15, 1), ("ement", 16, 1)]
_A10 = [("e", -1, 1), ("l", -1, 2)]
_A11 = [("andes", -1, -1), ("atlas", -1, -1), ("bias", -1, -1), ("cosmos", -1, -1),
        ("early", -1, 6), ("gently", -1, 4), ("howe", -1, -1), ("idly", -1, 3),
        ("news", -1, -1), ("only", -1, 7), ("singly", -1, 8), ("skies", -1, 2),
        ("skis", -1, 1), ("sky", -1, -1), ("ugly", -1, 5)]
_A11_STEMS = {1: "ski", 2: "sky", 3: "idl", 4: "gentl", 5: "ugli", 6: "earli", 7: "onli",
              8: "singl"}
_G_V = frozenset("aeiouy")
_G_V_WXY = frozenset("aeiouywxY")
_G_AEO = frozenset("aeo")
_G_VALID_LI = frozenset("cdeghkmnrt")
_A7_STEMS = {1: "tion", 2: "ence", 3: "ance", 4: "able", 5: "ent", 6: "ize", 7: "ate",
             8: "al", 9: "ful", 10: "ous", 11: "ive", 12: "ble", 13: "og", 15: "less"}
_A8_STEMS = {1: "tion", 2: "ate", 3: "al", 4: "ic"}


def _shortv(e):
    v = e.limit - e.cursor
    if e.out_g_b(_G_V_WXY) and e.in_g_b(_G_V) and e.out_g_b(_G_V):
        return True
    e.cursor = e.limit - v
    if e.out_g_b(_G_V) and e.in_g_b(_G_V) and e.cursor <= e.lb:
        return True
    e.cursor = e.limit - v
    return e.eq_s_b("past")


def stem(word):
    """Snowball English (Porter2) as frostem 3.1.1 generates it: the stem of a lower-case
    word."""
    e = _Env(word)
    # Exceptional forms.
    e.bra = e.cursor
    among = e.find_among(_A11)
    if among != 0:
        e.ket = e.cursor
        if e.cursor >= e.limit:
            if among in _A11_STEMS:
                e.slice_from(_A11_STEMS[among])
            return e.s
    e.cursor = 0
    if not e.hop(3):
        return e.s
    e.cursor = 0
    # Prelude: drop a leading apostrophe, y as a consonant becomes Y.
    y_found = False
    e.bra = e.cursor
    if e.eq_s("'"):
        e.ket = e.cursor
        e.slice_del()
    e.cursor = 0
    e.bra = e.cursor
    if e.eq_s("y"):
        e.ket = e.cursor
        e.slice_from("Y")
        y_found = True
    e.cursor = 0
    while True:
        v5 = e.cursor
        found = False
        while True:
            v6 = e.cursor
            if e.in_g(_G_V):
                e.bra = e.cursor
                if e.eq_s("y"):
                    e.ket = e.cursor
                    e.cursor = v6
                    found = True
                    break
            e.cursor = v6
            if e.cursor >= e.limit:
                break
            e.cursor += 1
        if not found:
            e.cursor = v5
            break
        e.slice_from("Y")
        y_found = True
    e.cursor = 0
    # Regions.
    p1 = p2 = e.limit
    v7 = e.cursor
    while True:
        v8 = e.cursor
        if e.find_among(_A0) == 0:
            e.cursor = v8
            if not e.go_out_g(_G_V):
                break
            e.cursor += 1
            if not e.go_in_g(_G_V):
                break
            e.cursor += 1
        p1 = e.cursor
        if not e.go_out_g(_G_V):
            break
        e.cursor += 1
        if not e.go_in_g(_G_V):
            break
        e.cursor += 1
        p2 = e.cursor
        break
    e.cursor = v7
    # Backwards.
    e.lb = e.cursor
    e.cursor = e.limit
    _step_1a(e)
    e.cursor = e.limit
    _step_1b(e, p1)
    e.cursor = e.limit
    # Step 1c.
    e.ket = e.cursor
    if e.eq_s_b("y") or e.eq_s_b("Y"):
        e.bra = e.cursor
        if e.out_g_b(_G_V) and e.cursor > e.lb:
            e.slice_from("i")
    e.cursor = e.limit
    # Step 2.
    e.ket = e.cursor
    among = e.find_among_b(_A7)
    if among != 0:
        e.bra = e.cursor
        if p1 <= e.cursor:
            if among in _A7_STEMS:
                e.slice_from(_A7_STEMS[among])
            elif among == 14:
                if e.eq_s_b("l"):
                    e.slice_from("og")
            elif among == 16:
                if e.in_g_b(_G_VALID_LI):
                    e.slice_del()
    e.cursor = e.limit
    # Step 3.
    e.ket = e.cursor
    among = e.find_among_b(_A8)
    if among != 0:
        e.bra = e.cursor
        if p1 <= e.cursor:
            if among in _A8_STEMS:
                e.slice_from(_A8_STEMS[among])
            elif among == 5:
                e.slice_del()
            elif among == 6:
                if p2 <= e.cursor:
                    e.slice_del()
    e.cursor = e.limit
    # Step 4.
    e.ket = e.cursor
    among = e.find_among_b(_A9)
    if among != 0:
        e.bra = e.cursor
        if p2 <= e.cursor:
            if among == 1:
                e.slice_del()
            elif among == 2:
                if e.eq_s_b("s") or e.eq_s_b("t"):
                    e.slice_del()
    e.cursor = e.limit
    # Step 5.
    e.ket = e.cursor
    among = e.find_among_b(_A10)
    if among != 0:
        e.bra = e.cursor
        if among == 1:
            delete = True
            if p2 > e.cursor:
                if p1 > e.cursor:
                    delete = False
                else:
                    v26 = e.limit - e.cursor
                    if _shortv(e):
                        delete = False
                    e.cursor = e.limit - v26
            if delete:
                e.slice_del()
        elif among == 2:
            if p2 <= e.cursor and e.eq_s_b("l"):
                e.slice_del()
    # Postlude.
    if y_found:
        return e.s.replace("Y", "y")
    return e.s


def _step_1a(e):
    v10 = e.limit - e.cursor
    e.ket = e.cursor
    if e.find_among_b(_A1) == 0:
        e.cursor = e.limit - v10
    else:
        e.bra = e.cursor
        e.slice_del()
    e.ket = e.cursor
    among = e.find_among_b(_A2)
    if among == 0:
        return
    e.bra = e.cursor
    if among == 1:
        e.slice_from("ss")
    elif among == 2:
        v11 = e.limit - e.cursor
        if e.hop_back(2):
            e.slice_from("i")
        else:
            e.cursor = e.limit - v11
            e.slice_from("ie")
    elif among == 3:
        if e.cursor <= e.lb:
            return
        e.cursor -= 1
        if not e.go_out_g_b(_G_V):
            return
        e.cursor -= 1
        e.slice_del()


def _step_1b(e, p1):
    e.ket = e.cursor
    among = e.find_among_b(_A5)
    e.bra = e.cursor
    v13 = e.limit - e.cursor
    general = False
    if among == 1:
        v14 = e.limit - e.cursor
        if p1 <= e.cursor:
            v15 = e.limit - e.cursor
            if not (e.find_among_b(_A3) != 0 and e.cursor <= e.lb):
                e.cursor = e.limit - v15
                e.slice_from("ee")
        e.cursor = e.limit - v14
        return
    elif among == 2:
        general = True
    elif among == 3:
        among = e.find_among_b(_A4)
        if among == 0:
            general = True
        elif among == 1:
            v16 = e.limit - e.cursor
            if not e.out_g_b(_G_V) or e.cursor > e.lb:
                general = True
            else:
                e.cursor = e.limit - v16
                e.bra = e.cursor
                e.slice_from("ie")
                return
        elif among == 2:
            if e.cursor > e.lb:
                general = True
            else:
                return
    if not general:
        return
    e.cursor = e.limit - v13
    v17 = e.limit - e.cursor
    if not e.go_out_g_b(_G_V):
        return
    e.cursor -= 1
    e.cursor = e.limit - v17
    e.slice_del()
    e.ket = e.cursor
    e.bra = e.cursor
    v18 = e.limit - e.cursor
    among = e.find_among_b(_A6)
    if among == 1:
        e.slice_from("e")
        return
    elif among == 2:
        v19 = e.limit - e.cursor
        if e.in_g_b(_G_AEO) and e.cursor <= e.lb:
            return
        e.cursor = e.limit - v19
    elif among == 3:
        if e.cursor != p1:
            return
        v20 = e.limit - e.cursor
        if not _shortv(e):
            return
        e.cursor = e.limit - v20
        e.slice_from("e")
        return
    e.cursor = e.limit - v18
    e.ket = e.cursor
    if e.cursor <= e.lb:
        return
    e.cursor -= 1
    e.bra = e.cursor
    e.slice_del()


def _is_alnum(c):
    """Rust's `char::is_alphanumeric` (ALNUM_RANGES is emitted from it at compile time)."""
    if c < "\x80":
        return c.isalnum()
    cp = ord(c)
    k = bisect.bisect_right(ALNUM_RANGES, cp)
    # Ranges are [start, end] pairs: inside one when the insertion point is odd, or on a
    # start.
    return k % 2 == 1 or (k > 0 and ALNUM_RANGES[k - 1] == cp)


def analyze(text):
    """tantivy's `en_stem`: alphanumeric runs, those under 40 bytes, lower-cased per
    character, stemmed."""
    out = []
    i, n = 0, len(text)
    while i < n:
        if not _is_alnum(text[i]):
            i += 1
            continue
        j = i + 1
        while j < n and _is_alnum(text[j]):
            j += 1
        token = text[i:j]
        i = j
        if len(token.encode("utf-8")) >= 40:
            continue
        token = token.lower() if token.isascii() else "".join(c.lower() for c in token)
        out.append(stem(token))
    return out


# tantivy's field norm quantization: a document's token count is stored as the index of
# the largest entry not above it (0..40 exactly, then steps doubling every 8 entries).
def _field_norms_table():
    table = list(range(41))
    step = 2
    while len(table) < 256:
        for _ in range(8):
            if len(table) < 256:
                table.append(table[-1] + step)
        step *= 2
    return table


FIELD_NORMS_TABLE = _field_norms_table()
_K1 = _f32(1.2)
_B = _f32(0.75)


class SearchIndex:
    """The documents of one collection, indexed as warden-search indexes them."""

    def __init__(self, documents):
        # The last of equal ids wins; ordered by id.
        by_id = {}
        for d in documents:
            by_id[d["id"]] = d
        self.docs = [by_id[k] for k in sorted(by_id)]
        self.postings = {}
        self.norm_ids = []
        total = 0
        for ord_, d in enumerate(self.docs):
            tokens = analyze(d["text"])
            total += len(tokens)
            self.norm_ids.append(bisect.bisect_right(FIELD_NORMS_TABLE, len(tokens)) - 1)
            counts = {}
            for t in tokens:
                counts[t] = counts.get(t, 0) + 1
            for t, tf in counts.items():
                self.postings.setdefault(t, []).append((ord_, tf))
        n = len(self.docs)
        self.average = _f32(_f32(float(total)) / _f32(float(n))) if n else 0.0
        self.cache = [
            _f32(_K1 * _f32(_f32(1.0 - _B) + _f32(_f32(_B * float(FIELD_NORMS_TABLE[i])) / self.average)))
            if n
            else 0.0
            for i in range(256)
        ]

    def search(self, query, top_k):
        if top_k <= 0 or not self.docs:
            return []
        terms = []
        for t in analyze(query):
            if t and t not in terms:
                terms.append(t)
        scores = {}
        for t in terms:
            postings = self.postings.get(t)
            if not postings:
                continue
            df = len(postings)
            x = _f32(_f32(_f32(float(len(self.docs) - df)) + 0.5) / _f32(_f32(float(df)) + 0.5))
            idf = _logf(_f32(1.0 + x))
            weight = _f32(idf * _f32(1.0 + _K1))
            for ord_, tf in postings:
                tf = _f32(float(tf))
                score = _f32(weight * _f32(tf / _f32(tf + self.cache[self.norm_ids[ord_]])))
                scores[ord_] = _f32(scores.get(ord_, 0.0) + score)
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[: min(top_k, 1000)]
        return [(self.docs[o], s) for o, s in ranked]


def _round4(score):
    """A score as the engine writes it: four decimals, half away from zero."""
    v = score * 10000.0
    f = math.floor(v)
    r = f + 1.0 if v - f >= 0.5 else f
    return r / 10000.0


def _valid_collection_name(name):
    return (
        0 < len(name) <= 64
        and name not in (".", "..")
        and all(c.isascii() and (c.isalnum() or c in "_-.") for c in name)
    )


_INDEXES = {}


def load_collection(name):
    """The documents of `name` from COLLECTIONS_DIR/NAME.json, in the upload format of
    `POST /v1/collections/{name}/documents` (default ids `doc-N`), indexed once per
    version of the file."""
    not_found = NodeError("COLLECTION_NOT_FOUND", "no document collection %s" % name)
    if not _valid_collection_name(name):
        raise not_found
    path = os.path.join(collections_dir(), name + ".json")
    try:
        st = os.stat(path)
    except OSError:
        raise not_found
    key = (st.st_mtime_ns, st.st_size)
    cached = _INDEXES.get(path)
    if cached is not None and cached[0] == key:
        return cached[1]
    try:
        with open(path, encoding="utf-8") as f:
            body = json.load(f)
    except FileNotFoundError:
        raise not_found
    except (OSError, ValueError) as e:
        raise NodeError("INVALID_REQUEST", "collection %s: %s" % (name, e))
    documents = body.get("documents") if isinstance(body, dict) else None
    if not isinstance(documents, list) or not documents:
        raise NodeError("INVALID_REQUEST", "collection %s: `documents` is empty" % name)
    docs = []
    for i, d in enumerate(documents):
        if not isinstance(d, dict) or not isinstance(d.get("text"), str):
            raise NodeError("INVALID_REQUEST", "collection %s: a document needs `text`" % name)
        doc_id = d.get("id")
        if doc_id is None:
            doc_id = "doc-%d" % (i + 1)
        elif not isinstance(doc_id, str) or not 0 < len(doc_id) <= 256:
            raise NodeError("INVALID_REQUEST", "a document id must be 1 to 256 characters")
        doc = {"id": doc_id, "text": d["text"]}
        if d.get("metadata") is not None:
            doc["metadata"] = d["metadata"]
        docs.append(doc)
    index = SearchIndex(docs)
    _INDEXES[path] = (key, index)
    return index


def retrieve(collection, query, top_k):
    """A `retrieval` node: `[{id, score, text, metadata?}]`, best first."""
    hits = []
    for doc, score in load_collection(collection).search(query, top_k):
        hit = {"id": doc["id"], "score": _round4(score), "text": doc["text"]}
        if "metadata" in doc:
            hit["metadata"] = copy.deepcopy(doc["metadata"])
        hits.append(hit)
    return hits


# ---------------------------------------------------------------- the run


class Graph:
    """One workflow's graph: its start node, outgoing edges per node (condition, target),
    the bodies of its loops and its node functions."""

    def __init__(self, name, start, edges, loop_bodies, nodes):
        self.name = name
        self.start = start
        self.edges = edges
        self.loop_bodies = loop_bodies
        self.nodes = nodes


class Run:
    def __init__(self, input, graph, depth=0, namespace=None, limit_ms=MAX_DURATION_MS):
        self.state = {"inputs": copy.deepcopy(input)}
        # The time limit: the whole limit, or what a calling run had left.
        self.limit_ms = limit_ms
        self.graph = graph
        self.loops = {}
        self.last_error = None
        self.started = time.monotonic()
        # How deep this run is called as a tool, the namespace of its Python code nodes,
        # and the one its tool workflows share (made when first needed), as the engine
        # gives each run a session and the workflows it calls another.
        self.depth = depth
        self.namespace = new_namespace() if namespace is None else namespace
        self.tool_namespace = None

    def elapsed_ms(self):
        return int((time.monotonic() - self.started) * 1000)

    def wait(self, ms):
        if self.elapsed_ms() + ms > self.limit_ms:
            raise Fatal("TIME_LIMIT", "waiting %d ms would pass the run's time limit" % ms)
        time.sleep(ms / 1000.0)

    def expr(self, fn):
        """Evaluates a compiled expression; its failures are EXPRESSION_ERROR."""
        try:
            return fn()
        except (ExprError, PathError) as e:
            raise NodeError("EXPRESSION_ERROR", str(e))

    def get(self, segments):
        try:
            return get_path(self.state, segments)
        except PathError as e:
            raise NodeError("PATH_ERROR", str(e))

    def write(self, writes):
        for keys, value in writes:
            try:
                set_path(self.state, keys, value)
            except PathError as e:
                raise NodeError("PATH_ERROR", str(e))

    def edge(self, node, label=None):
        for condition, target in self.graph.edges[node]:
            if condition == label:
                return target
        return None

    def next(self, node):
        return self.edge(node)

    def mapped(self, mapping):
        return {name: self.get(segments) for name, segments in mapping}

    def code(self, node, language, code, input_mapping, output_mapping, timeout=None, retries=None):
        input_data = self.mapped(input_mapping)
        attempt = 0
        while True:
            remaining = max(self.limit_ms - self.elapsed_ms(), 0) / 1000.0
            limit = remaining if timeout is None else min(timeout, remaining)
            try:
                if language == "python":
                    result, stdout = run_python(code, input_data, limit, self.namespace)
                else:
                    result, stdout = run_javascript(code, input_data, limit)
                break
            except Fatal:
                raise
            except NodeError:
                if retries is None or attempt >= retries[0]:
                    raise
                max_retries, backoff_ms, factor = retries
                # Rounded half away from zero, as the runner does.
                wait = int(math.floor(backoff_ms * factor**attempt + 0.5))
                attempt += 1
                self.wait(wait)
        produced = {"result": result, "stdout": stdout}
        writes = []
        for target, source in output_mapping:
            try:
                writes.append((target, get_path(produced, source)))
            except PathError as e:
                raise NodeError("PATH_ERROR", str(e))
        self.write(writes)

    def tool_workflow(self, workflow_id, input):
        """A `tool` node calling a stored workflow (compiled in with `--workflows`): a
        nested run with `input`; its output is the result, its failure this node's."""
        if self.depth >= MAX_TOOL_DEPTH:
            raise NodeError(
                "TOOL_DEPTH", "workflows call workflows more than %d deep" % MAX_TOOL_DEPTH
            )
        graph = TOOL_WORKFLOWS.get(workflow_id)
        if graph is None:
            raise NodeError(
                "NOT_CONFIGURED",
                "`tool` nodes are not available here: workflow %s was not compiled in "
                "(warden flow compile --workflows DIR)" % workflow_id,
            )
        if self.tool_namespace is None:
            self.tool_namespace = new_namespace()
        remaining = max(self.limit_ms - self.elapsed_ms(), 0)
        result = run_graph(graph, input, self.depth + 1, self.tool_namespace, remaining)
        if result["status"] == "ok":
            return result["output"]
        failure = result["error"]
        raise NodeError(
            failure["code"],
            "workflow %s failed at node %s: %s"
            % (workflow_id, failure["node"] or "?", failure["message"]),
            failure["traceback"],
        )

    def by_label(self, node, value):
        if isinstance(value, str):
            label = value
        elif isinstance(value, bool):
            label = "true" if value else "false"
        elif isinstance(value, int):
            label = str(value)
        else:
            raise NodeError(
                "NO_BRANCH",
                "the expression gave %s, not a string, boolean or integer label" % kind_of(value),
            )
        if label != "error":
            for condition, target in self.graph.edges[node]:
                if condition == label:
                    return target
        return self.default(node)

    def default(self, node):
        target = self.edge(node, "default")
        if target is None:
            raise NodeError("NO_BRANCH", "no edge matches and there is no `default` edge")
        return target

    def loop(self, node, previous, max_iterations, over=None, while_=None, item_var=None, index_var=None):
        from_body = previous is not None and previous in self.graph.loop_bodies[node]
        if not (from_body and node in self.loops):
            items = None
            if over is not None:
                value = self.get(over)
                if isinstance(value, list):
                    if len(value) > max_iterations:
                        raise NodeError(
                            "LOOP_LIMIT",
                            "`%s` has %d items, more than max_iterations (%d)"
                            % (show_path(over), len(value), max_iterations),
                        )
                    items = value
                else:
                    raise NodeError(
                        "LOOP_NOT_LIST", "`%s` is %s, not a list" % (show_path(over), kind_of(value))
                    )
            self.loops[node] = {"next": 0, "items": items}
        loop = self.loops[node]
        index = loop["next"]
        if loop["items"] is not None:
            more = index < len(loop["items"])
        else:
            more = _t(self.expr(while_))
        if not more:
            del self.loops[node]
            return self.edge(node, "done")
        if index >= max_iterations:
            raise NodeError(
                "LOOP_LIMIT",
                "the loop would start iteration %d of at most %d" % (index + 1, max_iterations),
            )
        writes = []
        if item_var is not None:
            writes.append((item_var, loop["items"][index]))
        if index_var is not None:
            writes.append((index_var, index))
        self.write(writes)
        loop["next"] = index + 1
        return self.edge(node, "body")

    def end(self, output):
        if output is None:
            return copy.deepcopy(self.state)
        return {key: self.get(segments) for key, segments in output}


def run_workflow(input):
    """Runs the workflow: `{status, output, state, error}`, as `warden flow run` prints."""
    return run_graph(MAIN, input)


def run_graph(graph, input, depth=0, namespace=None, limit_ms=MAX_DURATION_MS):
    """Runs one graph (the workflow, or one it calls as a tool at `depth`, within the
    time the calling run has left)."""
    run = Run(input, graph, depth, namespace, limit_ms)
    current, previous, steps = graph.start, None, 0
    while True:
        steps += 1
        if steps > MAX_STEPS:
            error = NodeError("STEP_LIMIT", "the run passed %d steps" % MAX_STEPS)
        elif run.elapsed_ms() > run.limit_ms:
            error = NodeError(
                "TIME_LIMIT", "the run passed its time limit of %d ms" % run.limit_ms
            )
        else:
            error = None
        if error is not None:
            return _finish(run, None, current, error)
        try:
            kind, value = graph.nodes[current](run, previous)
        except NodeError as e:
            run.loops.pop(current, None)
            handler = run.edge(current, "error")
            if handler is None or isinstance(e, Fatal):
                return _finish(run, None, current, e)
            run.last_error = _failure(current, e)
            previous, current = current, handler
            continue
        if kind == "end":
            return _finish(run, value, None, None)
        previous, current = current, value


def _failure(node, e):
    return {"node": node, "code": e.code, "message": e.message, "traceback": e.traceback}


def _finish(run, output, node, error):
    return {
        "status": "ok" if error is None else "error",
        "output": output,
        "state": run.state,
        "error": None if error is None else _failure(node, error),
    }


def execute_workflow(input):
    """Runs the workflow with `input` and returns the final state."""
    return run_workflow(input)["state"]


def lambda_handler(event, context):
    """A serverless entry: the event is the input; returns `{status, output, state, error}`."""
    return run_workflow(event)


def main(argv):
    if len(argv) > 1:
        text = argv[1]
        if text.startswith("@"):
            with open(text[1:], encoding="utf-8") as f:
                text = f.read()
    else:
        text = sys.stdin.read()
    input = json.loads(text) if text.strip() else {}
    result = run_workflow(input)
    sys.stdout.write(json.dumps(result, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return 0 if result["status"] == "ok" else 1
