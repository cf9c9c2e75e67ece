"""warden's Python session agent: runs cells in one persistent namespace.

Runs inside a sandbox. Requests arrive on fd 3 and replies leave on fd 4, each frame a
4-byte big-endian length followed by UTF-8 JSON, so nothing the user's code prints can
forge a reply. The cell's stdout and stderr are the sandbox's own streams (fd 1 and 2),
read by the supervisor as they happen.

Requests:  {"op": "execute", "id": N, "code": "..."}   {"op": "ping", "id": N}
           {"op": "paths", "id": N, "paths": ["/opt/warden/cache/KEY/site-packages"]}
Replies:   {"type": "ready", ...}  {"type": "pong", "id": N}
           {"type": "result", "id": N, "execution_count": K, "status": "ok"|"error",
            "value": {mime: data} | null, "error": {"name", "value", "traceback"} | null,
            "outputs": [{mime: data}, ...]}
Binary MIME data (image/png) is base64.
"""

import ast
import base64
import io
import json
import linecache
import os
import signal
import struct
import sys
import traceback
import types

REQUESTS = 3
REPLIES = 4
AGENT_FILE = __file__

_in_cell = False


def _on_sigint(signum, frame):
    # An interrupt only ever lands in user code: between cells it is ignored, so that it
    # can never cut a protocol frame in half.
    if _in_cell:
        raise KeyboardInterrupt


def read_exact(n):
    chunks = []
    while n:
        chunk = os.read(REQUESTS, n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_frame():
    header = read_exact(4)
    if header is None:
        return None
    (length,) = struct.unpack(">I", header)
    body = read_exact(length)
    if body is None:
        return None
    return json.loads(body)


def write_frame(obj):
    data = json.dumps(obj, default=repr).encode()
    frame = struct.pack(">I", len(data)) + data
    view = memoryview(frame)
    while view:
        written = os.write(REPLIES, view)
        view = view[written:]


def mime_bundle(obj):
    """The representations of an object, as a notebook shows it."""
    bundle = {"text/plain": repr(obj)}
    for method, mime, binary in (
        ("_repr_html_", "text/html", False),
        ("_repr_svg_", "image/svg+xml", False),
        ("_repr_png_", "image/png", True),
        ("_repr_markdown_", "text/markdown", False),
    ):
        fn = getattr(obj, method, None)
        if not callable(fn) or isinstance(obj, type):
            continue
        try:
            data = fn()
        except Exception:
            continue
        if data is None:
            continue
        if binary:
            if isinstance(data, str):
                data = data.encode("latin-1")
            data = base64.b64encode(data).decode()
        bundle[mime] = data
    return bundle


class Cell:
    def __init__(self):
        self.outputs = []


_current = Cell()


def display(*objs):
    """Shows objects as rich outputs of the current cell (like IPython's display)."""
    for obj in objs:
        _current.outputs.append(mime_bundle(obj))


def capture_figures(outputs):
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return
    for number in pyplot.get_fignums():
        figure = pyplot.figure(number)
        buf = io.BytesIO()
        try:
            figure.savefig(buf, format="png", bbox_inches="tight")
        except Exception:
            continue
        outputs.append(
            {"image/png": base64.b64encode(buf.getvalue()).decode(), "text/plain": repr(figure)}
        )
    pyplot.close("all")


def user_traceback(exc):
    """The traceback without the agent's own frames (the cell's caller, and the SIGINT
    handler that raises KeyboardInterrupt), chained exceptions included."""
    te = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    seen = set()
    todo = [te]
    while todo:
        t = todo.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        t.stack = traceback.StackSummary.from_list([f for f in t.stack if f.filename != AGENT_FILE])
        todo.extend(x for x in (t.__cause__, t.__context__) if x is not None)
    return list(te.format())


class NoPackageInstall(RuntimeError):
    """A notebook-style `!pip install` / `%pip install`: there is no network to install
    from inside the sandbox."""


_SHELL_INSTALLS = ("!pip", "%pip", "!python -m pip", "!python3 -m pip", "!conda", "%conda")


def refuse_shell_installs(code):
    for line in code.splitlines():
        if line.lstrip().startswith(_SHELL_INSTALLS):
            try:
                with open("/opt/warden/tools/MESSAGE.txt") as f:
                    message = f.read().strip()
            except OSError:
                message = "pip cannot install packages inside this sandbox: it has no network"
            raise NoPackageInstall(message)


class Agent:
    def __init__(self):
        self.namespace = {"__name__": "__main__", "__builtins__": __builtins__, "display": display}
        self.count = 0
        self.loop = None

    def run(self, code, filename):
        refuse_shell_installs(code)
        flags = getattr(ast, "PyCF_ALLOW_TOP_LEVEL_AWAIT", 0)
        tree = ast.parse(code, filename=filename, mode="exec")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        value = None
        if tree.body:  # a cell that is one expression has nothing else to run
            value = self.evaluate(compile(tree, filename, "exec", flags=flags))
        if last is not None:
            value = self.evaluate(compile(last, filename, "eval", flags=flags))
        return value

    def evaluate(self, code):
        result = eval(code, self.namespace)
        if code.co_flags & 0x80 and isinstance(result, types.CoroutineType):  # CO_COROUTINE
            import asyncio

            if self.loop is None:
                self.loop = asyncio.new_event_loop()
            result = self.loop.run_until_complete(result)
        return result

    def execute(self, request):
        global _in_cell, _current
        self.count += 1
        filename = "<cell-%d>" % self.count
        code = request.get("code", "")
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        _current = Cell()
        reply = {"type": "result", "id": request.get("id"), "execution_count": self.count}
        value = None
        error = None
        want_result = bool(request.get("result"))
        if "input" in request:
            self.namespace["input_data"] = request["input"]
            # A result is this cell's own, not one an earlier cell left.
            self.namespace.pop("result", None)
        _in_cell = True
        try:
            value = self.run(code, filename)
        except BaseException as exc:  # KeyboardInterrupt and SystemExit included
            if isinstance(exc, SystemExit) and exc.code in (None, 0):
                exc = None
            if exc is not None:
                error = {
                    "name": type(exc).__name__,
                    "value": str(exc),
                    "traceback": user_traceback(exc),
                }
        finally:
            _in_cell = False
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        outputs = _current.outputs
        try:
            capture_figures(outputs)
        except Exception:
            pass
        if value is not None:
            self.namespace["_"] = value
            try:
                reply["value"] = mime_bundle(value)
            except Exception as exc:
                reply["value"] = {"text/plain": "<unrepresentable: %s>" % exc}
        else:
            reply["value"] = None
        if want_result:
            reply["result"], failed = json_result(self.namespace.get("result"))
            if failed and error is None:
                error = failed
        reply["status"] = "error" if error else "ok"
        reply["error"] = error
        reply["outputs"] = outputs
        return reply


RESULT_LIMIT = 16 << 20


def json_result(value):
    """The variable `result` as JSON (what `json` cannot encode becomes its `str`), and an
    error when it is too large to send back."""
    import json

    try:
        text = json.dumps(value, default=str, allow_nan=False)
    except (TypeError, ValueError):
        text = json.dumps(str(value))
    if len(text) > RESULT_LIMIT:
        return None, {
            "name": "ResultTooLarge",
            "value": "result is %d bytes of JSON, over the %d-byte limit" % (len(text), RESULT_LIMIT),
            "traceback": [],
        }
    return json.loads(text), None


def preload(names):
    """Imports a template's modules before the first cell, so that it does not pay for
    them; a module that fails is reported on stderr and left for the cell to import."""
    import importlib

    failed = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:
            failed.append(name)
            print("warden: preloading %s failed: %s" % (name, exc), file=sys.stderr)
    return failed


def add_paths(paths):
    """Puts package directories on the module search path, right after /workspace (so
    that the user's own modules still come first), and forgets cached directory
    listings so that new modules are found."""
    import importlib

    at = sys.path.index("/workspace") + 1 if "/workspace" in sys.path else 0
    for path in reversed(paths):
        if path not in sys.path:
            sys.path.insert(at, path)
    importlib.invalidate_caches()


def main():
    signal.signal(signal.SIGINT, _on_sigint)
    agent = Agent()
    failed = preload(os.environ.get("WARDEN_PRELOAD", "").split())
    write_frame(
        {
            "type": "ready",
            "pid": os.getpid(),
            "python": sys.version.split()[0],
            "preload_failed": failed,
        }
    )
    while True:
        request = read_frame()
        if request is None:
            return
        op = request.get("op")
        if op == "execute":
            write_frame(agent.execute(request))
        elif op == "ping":
            write_frame({"type": "pong", "id": request.get("id")})
        elif op == "paths":
            add_paths(request.get("paths") or [])
            write_frame({"type": "pong", "id": request.get("id")})
        else:
            write_frame({"type": "error", "id": request.get("id"), "message": "unknown op %r" % op})


if __name__ == "__main__":
    main()
