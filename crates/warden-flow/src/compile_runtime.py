# ---------------------------------------------------------------- runtime
# The same for every compiled workflow: values, paths, expressions and the run loop, with
# the semantics of warden-flow's runner (see docs/WORKFLOWS.md).

import contextlib
import copy
import io
import json
import math
import os
import shutil
import signal
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

# One namespace for every Python code node of a run, as one session would keep.
_PY_NAMESPACE = {"__name__": "__main__", "__builtins__": __builtins__}

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


def run_python(code, input_data, timeout=None):
    ns = _PY_NAMESPACE
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


# ---------------------------------------------------------------- the run


class Run:
    def __init__(self, input):
        self.state = {"inputs": copy.deepcopy(input)}
        self.loops = {}
        self.last_error = None
        self.started = time.monotonic()

    def elapsed_ms(self):
        return int((time.monotonic() - self.started) * 1000)

    def wait(self, ms):
        if self.elapsed_ms() + ms > MAX_DURATION_MS:
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
        for condition, target in EDGES[node]:
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
            remaining = max(MAX_DURATION_MS - self.elapsed_ms(), 0) / 1000.0
            limit = remaining if timeout is None else min(timeout, remaining)
            try:
                if language == "python":
                    result, stdout = run_python(code, input_data, limit)
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
            for condition, target in EDGES[node]:
                if condition == label:
                    return target
        return self.default(node)

    def default(self, node):
        target = self.edge(node, "default")
        if target is None:
            raise NodeError("NO_BRANCH", "no edge matches and there is no `default` edge")
        return target

    def loop(self, node, previous, max_iterations, over=None, while_=None, item_var=None, index_var=None):
        from_body = previous is not None and previous in LOOP_BODIES[node]
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
    run = Run(input)
    current, previous, steps = START, None, 0
    while True:
        steps += 1
        if steps > MAX_STEPS:
            error = NodeError("STEP_LIMIT", "the run passed %d steps" % MAX_STEPS)
        elif run.elapsed_ms() > MAX_DURATION_MS:
            error = NodeError(
                "TIME_LIMIT", "the run passed its time limit of %d ms" % MAX_DURATION_MS
            )
        else:
            error = None
        if error is not None:
            return _finish(run, None, current, error)
        try:
            kind, value = NODES[current](run, previous)
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
