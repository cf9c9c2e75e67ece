"""warden's MCP server, driven by the official MCP Python SDK.

    WARDEN_BIN=target/debug/warden python mcp_client.py stdio   # spawns `warden mcp`
    WARDEN_BIN=target/debug/warden python mcp_client.py http    # `warden serve`, /mcp

Run by crates/warden-cli/tests/it/mcp.rs. Prints each check as it passes; exits non-zero
(with the failing result) at the first that does not. Every wait is bounded.
"""

import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time

import anyio
import httpx
import httpx2
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

WARDEN = os.environ["WARDEN_BIN"]
TOOLS = {
    "run_code",
    "create_session",
    "close_session",
    "list_files",
    "read_file",
    "write_file",
    "install_packages",
}
# Each scenario, all calls together.
SCENARIO_SECONDS = 40
CALL_SECONDS = 30

PLOT = """
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
plt.plot([1, 2, 3], [1, 4, 9])
plt.title("squares")
"""


@contextlib.contextmanager
def data_dir(below_private_parent=False):
    """A temporary data directory as users make them: mkdtemp's, mode 0700, which the
    sandboxes' user cannot enter (warden binds the tools and caches under it into
    sandboxes all the same); or a directory below such a one."""
    with tempfile.TemporaryDirectory(prefix="warden-mcp-") as tmp:
        assert os.stat(tmp).st_mode & 0o777 == 0o700, oct(os.stat(tmp).st_mode)
        if not below_private_parent:
            yield tmp
            return
        inner = os.path.join(tmp, "data")
        os.mkdir(inner, 0o755)
        yield inner


def texts(result):
    return "".join(c.text for c in result.content if c.type == "text")


def images(result):
    return [c for c in result.content if c.type == "image"]


def check(condition, what, result=None):
    if not condition:
        detail = "" if result is None else f"\n  result: {result!r}"
        raise AssertionError(f"FAILED: {what}{detail}")
    print(f"ok: {what}", flush=True)


async def call(client, name, arguments, **kw):
    return await client.call_tool(name, arguments, read_timeout_seconds=CALL_SECONDS, **kw)


def session_id_of(result):
    if isinstance(result.structured_content, dict) and "session_id" in result.structured_content:
        return result.structured_content["session_id"]
    found = re.search(r"ses_[0-9a-zA-Z]+", texts(result))
    return found and found.group(0)


async def exercise(client, where):
    """The tools, end to end, over one connection."""
    listed = await client.list_tools()
    names = {t.name for t in listed.tools}
    check(TOOLS <= names, f"{where}: the 7 tools are listed ({sorted(names)})")
    run_code = next(t for t in listed.tools if t.name == "run_code")
    description = run_code.description.lower()
    check(
        "network" in description and "/workspace" in description and "python" in description,
        f"{where}: run_code's description says what the sandbox has",
        run_code,
    )
    check(
        run_code.input_schema.get("required") == ["code"],
        f"{where}: run_code needs only code",
        run_code.input_schema,
    )

    r = await call(client, "run_code", {"code": "print(6 * 7)"})
    check(not r.is_error and "42" in texts(r), f"{where}: one-shot run_code prints", r)

    r = await call(client, "run_code", {"code": "echo $((20 + 22))", "language": "bash"})
    check(not r.is_error and "42" in texts(r), f"{where}: one-shot bash", r)

    r = await call(client, "create_session", {"language": "python"})
    sid = session_id_of(r)
    check(not r.is_error and sid and sid.startswith("ses_"), f"{where}: create_session gives an id", r)

    r = await call(client, "run_code", {"code": "x = 41", "session_id": sid})
    check(not r.is_error, f"{where}: x = 41 in the session", r)
    r = await call(client, "run_code", {"code": "x + 1", "session_id": sid})
    check(not r.is_error and "42" in texts(r), f"{where}: the session kept x (x + 1 is 42)", r)

    r = await call(client, "run_code", {"code": PLOT, "session_id": sid})
    pngs = images(r)
    check(
        not r.is_error
        and len(pngs) == 1
        and pngs[0].mime_type == "image/png"
        and pngs[0].data.startswith("iVBOR"),
        f"{where}: a matplotlib figure is image content (base64 PNG)",
        r,
    )

    r = await call(client, "run_code", {"code": "1 / 0", "session_id": sid})
    check(r.is_error and "ZeroDivisionError" in texts(r), f"{where}: an exception is a tool error", r)
    r = await call(client, "run_code", {"language": "ruby"})
    check(
        r.is_error and texts(r).startswith("INVALID_REQUEST"),
        f"{where}: arguments that do not fit the schema are INVALID_REQUEST",
        r,
    )
    r = await call(client, "run_code", {"code": "def broken(:\n    pass"})
    check(r.is_error and texts(r).startswith("SYNTAX_ERROR"), f"{where}: a syntax error is SYNTAX_ERROR", r)

    content = "héllo, wörld\nline 2\n"
    r = await call(client, "write_file", {"session_id": sid, "path": "data/hello.txt", "content": content})
    check(not r.is_error and "data/hello.txt" in texts(r), f"{where}: write_file", r)
    r = await call(client, "read_file", {"session_id": sid, "path": "/workspace/data/hello.txt"})
    check(not r.is_error and texts(r) == content, f"{where}: read_file gives back what was written", r)
    r = await call(client, "run_code", {"code": "print(open('data/hello.txt').read().upper())", "session_id": sid})
    check("HÉLLO, WÖRLD" in texts(r), f"{where}: the code sees the file in /workspace", r)
    r = await call(client, "run_code", {"code": "open('made.bin', 'wb').write(bytes([255, 254, 0, 1]))", "session_id": sid})
    r = await call(client, "list_files", {"session_id": sid})
    check(
        not r.is_error and "data/" in texts(r) and "made.bin" in texts(r),
        f"{where}: list_files shows the workspace",
        r,
    )
    r = await call(client, "read_file", {"session_id": sid, "path": "made.bin"})
    check(not r.is_error and "//4AAQ==" in texts(r), f"{where}: a binary file comes back as base64", r)
    r = await call(client, "read_file", {"session_id": sid, "path": "nope.txt"})
    check(r.is_error and texts(r).startswith("FILE_NOT_FOUND"), f"{where}: a missing file is FILE_NOT_FOUND", r)

    seen = []

    async def on_progress(progress, total, message):
        seen.append(message)

    r = await call(
        client,
        "run_code",
        {"code": "import sys\nprint('first')\nprint('oops', file=sys.stderr)", "session_id": sid},
        progress_callback=on_progress,
    )
    check(
        not r.is_error and "first" in texts(r) and "oops" in texts(r),
        f"{where}: stdout and stderr are labelled in the result",
        r,
    )
    check(
        any("first" in (m or "") for m in seen),
        f"{where}: output streams as progress notifications ({seen!r})",
    )

    r = await call(client, "install_packages", {"session_id": sid, "packages": ["definitely-not-allowed"]})
    check(
        r.is_error and texts(r).startswith("PACKAGE_NOT_ALLOWED"),
        f"{where}: install_packages keeps to the allowlist",
        r,
    )
    if where == "stdio":
        # From the package index, once (the packages tests do the same over REST).
        r = await call(client, "install_packages", {"session_id": sid, "packages": ["tabulate==0.9.0"]})
        check(not r.is_error and "tabulate==0.9.0" in texts(r), f"{where}: install_packages", r)
        r = await call(client, "run_code", {"code": "import tabulate\n(tabulate.__version__, x)", "session_id": sid})
        check(
            not r.is_error and "('0.9.0', 41)" in texts(r),
            f"{where}: the package imports and the session kept its variables",
            r,
        )

    r = await call(client, "close_session", {"session_id": sid})
    check(not r.is_error, f"{where}: close_session", r)
    r = await call(client, "run_code", {"code": "x", "session_id": sid})
    check(
        r.is_error and texts(r).startswith("SESSION_NOT_FOUND"),
        f"{where}: a closed session is SESSION_NOT_FOUND",
        r,
    )
    return sid


def raw_stdio(data, *extra, env=None):
    """`warden mcp` driven by hand: a handshake, a run that prints, then EOF. Every line
    it writes to stdout must be JSON-RPC."""
    messages = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "run_code", "arguments": {"code": "print('to stdout?')"}},
        },
    ]
    proc = subprocess.Popen(
        [WARDEN, "mcp", "--data-dir", data, "--pool-size", "1", *extra],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ, **(env or {})),
    )
    replies = {}
    lines = []
    deadline = time.monotonic() + 20
    proc.stdin.write((json.dumps(messages[0]) + "\n").encode())
    proc.stdin.flush()
    sent = 1
    while time.monotonic() < deadline and len(replies) < 2:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        message = json.loads(line)
        if "id" in message:
            replies[message["id"]] = message
        if 1 in replies and sent == 1:
            for m in messages[1:]:
                proc.stdin.write((json.dumps(m) + "\n").encode())
            proc.stdin.flush()
            sent = len(messages)
    try:
        # Closes stdin (EOF), then reads what is left.
        rest, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        rest, err = proc.communicate()
        raise AssertionError("warden mcp did not exit within 15 s of EOF on stdin")
    lines += rest.splitlines(keepends=True)
    return proc.returncode, lines, replies, err.decode(errors="replace")


async def over_stdio():
    with data_dir() as data, tempfile.TemporaryFile("w+") as log:
        params = StdioServerParameters(
            command=WARDEN,
            args=["mcp", "--data-dir", data, "--pool-size", "1"],
            env={"RUST_BACKTRACE": "1"},
        )
        try:
            with anyio.fail_after(SCENARIO_SECONDS):
                async with Client(stdio_client(params, errlog=log)) as client:
                    await exercise(client, "stdio")
            # The older initialize handshake, as Claude Desktop and most clients speak it.
            with anyio.fail_after(SCENARIO_SECONDS):
                async with Client(stdio_client(params, errlog=log), mode="legacy") as client:
                    check(
                        client.session.server_info.name == "warden",
                        "stdio (legacy handshake): the server is warden",
                    )
                    check(
                        "session" in (client.session.instructions or ""),
                        "stdio (legacy handshake): the server gives instructions",
                    )
                    r = await call(client, "run_code", {"code": "print('legacy')"})
                    check("legacy" in texts(r), "stdio (legacy handshake): run_code", r)
            # Under a policy with egress, the instructions name the hosts.
            policy = os.path.join(data, "egress-policy.json")
            with open(policy, "w") as f:
                json.dump({"egress": {"allow": ["api.example.org"]}}, f)
            egress_params = StdioServerParameters(
                command=WARDEN,
                args=["mcp", "--data-dir", data, "--pool-size", "0", "--default-policy", policy],
                env={"RUST_BACKTRACE": "1"},
            )
            with anyio.fail_after(SCENARIO_SECONDS):
                async with Client(stdio_client(egress_params, errlog=log), mode="legacy") as client:
                    check(
                        "network: true allows HTTP and HTTPS to: api.example.org"
                        in (client.session.instructions or ""),
                        "stdio: the instructions name the hosts the policy allows",
                    )
        except BaseException:
            log.seek(0)
            print("--- warden mcp's stderr ---\n" + log.read()[-4000:], file=sys.stderr)
            raise

        code, lines, replies, err = raw_stdio(data)
        parsed = []
        for line in lines:
            try:
                parsed.append(json.loads(line)["jsonrpc"] == "2.0")
            except (ValueError, KeyError, TypeError):
                parsed.append(False)
        check(
            all(parsed) and 2 in replies,
            f"stdio: stdout holds JSON-RPC only ({len(lines)} lines)",
            (lines, err[-2000:]),
        )
        check(
            "to stdout?" in json.dumps(replies[2]),
            "stdio: the program's output is in the reply, not on stdout",
            replies[2],
        )
        check(code == 0, "stdio: EOF on stdin ends warden mcp with status 0", (code, err[-2000:]))

        # A key: its tenant and policy apply; a bad key is refused at start.
        key = create_key(data, "k", '{"languages": ["python"]}')
        params = StdioServerParameters(
            command=WARDEN, args=["mcp", "--data-dir", data, "--pool-size", "1"], env={"WARDEN_API_KEY": key}
        )
        with anyio.fail_after(SCENARIO_SECONDS):
            async with Client(stdio_client(params, errlog=log)) as client:
                r = await call(client, "run_code", {"code": "print(7 * 6)"})
                check(not r.is_error and "42" in texts(r), "stdio --api-key: the key's tenant runs code", r)
                r = await call(client, "run_code", {"code": "echo no", "language": "bash"})
                check(
                    r.is_error and texts(r).startswith("POLICY_DENIED"),
                    "stdio --api-key: the key's policy applies (bash is not allowed)",
                    r,
                )
        out = subprocess.run(
            [WARDEN, "mcp", "--data-dir", data, "--api-key", "wk_0000000000000000.nope"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=20,
        )
        check(
            out.returncode == 1 and "UNAUTHORIZED" in out.stderr and out.stdout == "",
            "stdio: a bad --api-key is refused at start",
            (out.returncode, out.stdout, out.stderr[-1000:]),
        )


class Server:
    """`warden serve` on a free port, stopped with SIGTERM."""

    def __init__(self, data, *extra):
        self.log = open(os.path.join(data, "serve.log"), "w+")
        self.proc = subprocess.Popen(
            [WARDEN, "serve", "--listen", "127.0.0.1:0", "--data-dir", data, "--pool-size", "1", *extra],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.log,
        )
        ready, _, _ = select.select([self.proc.stdout], [], [], 20)
        line = self.proc.stdout.readline().decode() if ready else ""
        found = re.search(r"http://(\S+)", line)
        if not found:
            self.stop()
            raise AssertionError(f"no address from warden serve: {line!r}\n{self.stderr()}")
        self.base = f"http://{found.group(1)}"
        self.url = f"{self.base}/mcp"

    def stderr(self):
        self.log.seek(0)
        return self.log.read()[-4000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("warden serve did not stop within 15 s of SIGTERM")
        return self.proc.returncode


def create_key(data, tenant, policy=None):
    cmd = [WARDEN, "keys", "--data-dir", data, "create", "--tenant", tenant]
    if policy:
        path = os.path.join(data, f"{tenant}-policy.json")
        with open(path, "w") as f:
            f.write(policy)
        cmd += ["--policy", path]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def http_client(key):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(CALL_SECONDS))


async def over_http():
    with data_dir(below_private_parent=True) as data:
        key = create_key(data, "t", '{"languages": ["python", "bash"]}')
        other = create_key(data, "u")
        networked = create_key(data, "n", '{"egress": {"allow": ["api.example.org", "*.wikipedia.org"]}}')
        server = Server(data)
        try:
            # A bad key, or none, is the API's usual 401, before any MCP.
            initialize = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "probe", "version": "0"},
                },
            }
            accept = {"Accept": "application/json, text/event-stream"}
            for bad in ["Bearer wk_0000000000000000.nope", None]:
                headers = dict(accept, **({"Authorization": bad} if bad else {}))
                resp = httpx.post(server.url, json=initialize, headers=headers, timeout=10)
                check(
                    resp.status_code == 401
                    and resp.json()["error"]["code"] == "UNAUTHORIZED"
                    and resp.headers.get("www-authenticate") == "Bearer",
                    f"http: {'a bad key' if bad else 'no key'} gets 401 UNAUTHORIZED",
                    (resp.status_code, resp.text),
                )
            resp = httpx.post(
                server.url, json=initialize, headers=dict(accept, Authorization=f"Bearer {key}"), timeout=10
            )
            check(resp.status_code == 200, "http: the key is accepted", (resp.status_code, resp.text))

            with anyio.fail_after(SCENARIO_SECONDS):
                async with http_client(key) as http:
                    async with Client(streamable_http_client(server.url, http_client=http)) as client:
                        await exercise(client, "http")
                        r = await call(client, "run_code", {"code": "console.log(1)", "language": "javascript"})
                        check(
                            r.is_error and texts(r).startswith("POLICY_DENIED"),
                            "http: the tenant's policy applies (javascript is not allowed)",
                            r,
                        )
                        r = await call(client, "create_session", {})
                        sid = session_id_of(r)
                        listed = await client.list_tools()
                        for t in listed.tools:
                            if t.name in ("run_code", "create_session"):
                                check(
                                    "sandboxes have no network (network: true is refused" in t.description,
                                    f"http: {t.name} tells a tenant without egress that there is no network",
                                    t.description,
                                )
                # A tenant whose policy has egress is told which hosts network: true reaches.
                async with http_client(networked) as http:
                    async with Client(streamable_http_client(server.url, http_client=http)) as client:
                        listed = await client.list_tools()
                        for t in listed.tools:
                            if t.name in ("run_code", "create_session"):
                                check(
                                    "network: true allows HTTP and HTTPS to: api.example.org, *.wikipedia.org"
                                    in t.description,
                                    f"http: {t.name} names the hosts of the caller's egress policy",
                                    t.description,
                                )
                # Another tenant cannot see that session.
                async with http_client(other) as http:
                    async with Client(streamable_http_client(server.url, http_client=http)) as client:
                        r = await call(client, "run_code", {"code": "1", "session_id": sid})
                        check(
                            r.is_error and texts(r).startswith("SESSION_NOT_FOUND"),
                            "http: another tenant's session is SESSION_NOT_FOUND",
                            r,
                        )
            # The REST API is still there beside /mcp.
            resp = httpx.get(f"{server.base}/v1/sessions", headers={"Authorization": f"Bearer {key}"}, timeout=10)
            check(
                resp.status_code == 200 and [s["id"] for s in resp.json()["sessions"]] == [sid],
                "http: the REST API beside /mcp sees the same sessions",
                resp.text,
            )
            started = time.monotonic()
            code = server.stop()
            check(code == 0, f"http: SIGTERM stops the server ({time.monotonic() - started:.1f} s)", code)
        except BaseException:
            print("--- warden serve's stderr ---\n" + server.stderr(), file=sys.stderr)
            raise
        finally:
            server.stop()

    # Development mode: no key needed. This client speaks the older handshake, whose
    # Streamable HTTP sessions keep an event stream open: shutdown must not wait for it.
    with data_dir() as data:
        server = Server(data, "--dev")
        try:
            with anyio.fail_after(SCENARIO_SECONDS):
                async with http_client(None) as http:
                    async with Client(streamable_http_client(server.url, http_client=http), mode="legacy") as client:
                        check(
                            client.session.protocol_version < "2026-07-28",
                            f"http --dev: the legacy handshake ({client.session.protocol_version})",
                        )
                        r = await call(client, "run_code", {"code": "print('dev')"})
                        check(not r.is_error and "dev" in texts(r), "http --dev: no key needed", r)
                        started = time.monotonic()
                        server.proc.send_signal(signal.SIGTERM)
                        code = await anyio.to_thread.run_sync(lambda: server.proc.wait(timeout=15))
                        check(
                            code == 0,
                            f"http --dev: SIGTERM stops the server while a client is connected "
                            f"({time.monotonic() - started:.1f} s)",
                        )
        except BaseException:
            print("--- warden serve --dev's stderr ---\n" + server.stderr(), file=sys.stderr)
            raise
        finally:
            server.stop()


def main():
    which = sys.argv[1] if len(sys.argv) > 1 else ""
    scenarios = {"stdio": over_stdio, "http": over_http}
    if which not in scenarios:
        sys.exit(f"usage: {sys.argv[0]} stdio|http")
    started = time.monotonic()
    anyio.run(scenarios[which])
    print(f"all {which} checks passed in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
