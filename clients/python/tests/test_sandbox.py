"""The synchronous client against a live server."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from warden_client import (
    AuthenticationError,
    CodeSyntaxError,
    Execution,
    InvalidRequestError,
    NotFoundError,
    Sandbox,
    SessionBusyError,
    SessionNotFoundError,
    WardenError,
    execute,
)


def test_context_manager_creates_and_closes_the_session(server: str) -> None:
    with Sandbox(api_url=server) as sb:
        sid = sb.id
        assert sid.startswith("ses_")
        info = sb.info()
        assert (info.id, info.language, info.state) == (sid, "python", "idle")
    assert sb.closed
    assert httpx.get(f"{server}/v1/sessions/{sid}").status_code == 404
    with pytest.raises(SessionNotFoundError) as e:
        Sandbox.connect(sid, api_url=server)
    assert (e.value.code, e.value.status) == ("SESSION_NOT_FOUND", 404)
    sb.close()  # idempotent


def test_the_api_url_comes_from_the_environment(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDEN_API_URL", server + "/")
    with Sandbox() as sb:
        assert sb.api_url == server
        assert sb.run_code("6 * 7").text == "42"


def test_state_persists_across_cells(server: str) -> None:
    with Sandbox(api_url=server) as sb:
        first = sb.run_code("x = 41\nimport json")
        assert first.text is None and first.results == [] and first.error is None
        second = sb.run_code("json.dumps({'x': x + 1})")
        assert second.text == "'{\"x\": 42}'"
        assert second.execution_count == first.execution_count + 1
        assert second.execution_id and second.execution_id.startswith("exe_")
        assert second.status == "ok" and not second.timed_out and second.duration_ms > 0
        assert sb.info().execution_count == 2


def test_callbacks_receive_output_while_the_cell_runs(server: str) -> None:
    seen: list[tuple[float, str, str]] = []
    code = (
        "import sys, time\n"
        "print('first', flush=True)\n"
        "print('warning', file=sys.stderr, flush=True)\n"
        "time.sleep(1)\n"
        "print('second')\n"
        "'done'"
    )
    with Sandbox(api_url=server) as sb:
        ex = sb.run_code(
            code,
            on_stdout=lambda t: seen.append((time.monotonic(), "out", t)),
            on_stderr=lambda t: seen.append((time.monotonic(), "err", t)),
        )
        end = time.monotonic()
    assert ex.stdout == "first\nsecond\n" and ex.stderr == "warning\n" and ex.text == "'done'"
    out = "".join(t for _, k, t in seen if k == "out")
    assert out == "first\nsecond\n", seen
    assert "".join(t for _, k, t in seen if k == "err") == "warning\n", seen
    first_at = next(at for at, k, t in seen if k == "out")
    assert end - first_at >= 0.8, f"the first chunk arrived only {end - first_at:.2f} s before the end: {seen}"


def test_a_matplotlib_figure_comes_back_as_png_bytes(server: str) -> None:
    with Sandbox(api_url=server) as sb:
        ex = sb.run_code("import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()")
    assert ex.error is None, ex.error
    pngs = [r.png for r in ex.results if r.png is not None]
    assert len(pngs) == 1, ex.results
    assert pngs[0].startswith(b"\x89PNG\r\n\x1a\n")
    assert ex.outputs and not ex.outputs[0].is_main_result
    assert "image/png" in ex.outputs[0].data and "image/png" in ex.outputs[0].formats


def test_html_of_a_rich_value(server: str) -> None:
    code = "class T:\n    def _repr_html_(self): return '<b>hi</b>'\n    def __repr__(self): return 'T()'\nT()"
    with Sandbox(api_url=server) as sb:
        ex = sb.run_code(code)
    assert ex.value is not None and ex.value.is_main_result
    assert (ex.text, ex.value.html, ex.value.png) == ("T()", "<b>hi</b>", None)


def test_an_exception_is_a_result_with_its_traceback(server: str) -> None:
    with Sandbox(api_url=server) as sb:
        ex = sb.run_code("print('before')\ndef f():\n    raise ValueError('bad value')\nf()")
        assert ex.status == "error"
        assert ex.stdout == "before\n"
        assert ex.error is not None
        assert (ex.error.name, ex.error.value) == ("ValueError", "bad value")
        assert "<cell-" in ex.error.traceback_text and "in f" in ex.error.traceback_text
        assert sb.run_code("'still alive'").text == "'still alive'"


def test_a_syntax_error_raises_with_its_line(server: str) -> None:
    with Sandbox(api_url=server) as sb:
        with pytest.raises(CodeSyntaxError) as e:
            sb.run_code("x = 1\ny = (\n")
        assert e.value.code == "SYNTAX_ERROR" and e.value.status == 400
        assert e.value.line is not None and e.value.line >= 2 and e.value.col is not None
        assert isinstance(e.value, WardenError) and isinstance(e.value, InvalidRequestError)
        # The same refusal arrives as an `error` event when streaming.
        with pytest.raises(CodeSyntaxError) as e:
            sb.run_code("def f(:\n  pass", on_stdout=lambda t: None)
        assert e.value.code == "SYNTAX_ERROR" and e.value.line == 1


def test_files_round_trip(server: str) -> None:
    blob = bytes(range(256)) * 64
    with Sandbox(api_url=server) as sb:
        entry = sb.files.write("data/blob.bin", blob)
        assert (entry.path, entry.name, entry.type, entry.size) == ("data/blob.bin", "blob.bin", "file", len(blob))
        sb.files.write("/workspace/data/notes dir/héllo #1.txt", "grüße\n")
        assert sb.files.read("data/blob.bin") == blob
        assert sb.files.read_text("data/notes dir/héllo #1.txt") == "grüße\n"
        assert [e.name for e in sb.files.list()] == ["data"] and sb.files.list()[0].is_dir
        listed = {e.name: e for e in sb.files.list("data")}
        assert set(listed) == {"blob.bin", "notes dir"}
        assert listed["blob.bin"].is_file and listed["blob.bin"].size == len(blob)
        assert sb.files.exists("data/blob.bin") and not sb.files.exists("nowhere/x")
        # The code sees the files, and files it writes can be read back.
        ex = sb.run_code(
            "data = open('/workspace/data/blob.bin', 'rb').read()\n"
            "open('out.bin', 'wb').write(data[::-1])\n"
            "len(data)"
        )
        assert ex.text == str(len(blob))
        assert sb.files.read("out.bin") == blob[::-1]
        sb.files.remove("data")
        assert [e.name for e in sb.files.list()] == ["out.bin"]
        with pytest.raises(NotFoundError) as e:
            sb.files.read("data/blob.bin")
        assert e.value.code == "FILE_NOT_FOUND" and e.value.status == 404
        # `..` reaches the server as it is (never resolved into another route) and is
        # refused there.
        for bad in ("../etc/passwd", "../..", "a/../../x"):
            with pytest.raises(InvalidRequestError) as invalid:
                sb.files.read(bad)
            assert invalid.value.code == "INVALID_PATH", bad
            with pytest.raises(InvalidRequestError):
                sb.files.remove(bad)
        assert sb.info().state == "idle"


def test_interrupt_stops_a_running_loop_from_another_thread(server: str) -> None:
    with Sandbox(api_url=server) as sb:
        sb.run_code("n = 0")
        done: list[Execution] = []
        failed: list[BaseException] = []

        def run() -> None:
            try:
                done.append(sb.run_code("while True:\n    n += 1", timeout=30))
            except BaseException as e:  # noqa: BLE001 - reported by the assertion below
                failed.append(e)

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        deadline = time.monotonic() + 10
        while sb.info().state != "busy":
            assert time.monotonic() < deadline, "the cell never started"
            time.sleep(0.05)
        with pytest.raises(SessionBusyError) as e:
            sb.run_code("1")
        assert e.value.code == "SESSION_BUSY" and e.value.status == 409
        time.sleep(0.2)
        sb.interrupt()
        worker.join(timeout=10)
        assert not worker.is_alive(), "run_code did not return after the interrupt"
        assert not failed, failed
        ex = done[0]
        assert ex.error is not None and ex.error.name == "KeyboardInterrupt", ex
        assert not ex.timed_out
        assert int(sb.run_code("n").text or "0") > 0


def test_a_cell_timeout_interrupts_it(server: str) -> None:
    with Sandbox(api_url=server, timeout=0.5) as sb:
        ex = sb.run_code("import time\ntime.sleep(10)")
        assert ex.timed_out and ex.error is not None
        assert sb.run_code("1 + 1", timeout=5).text == "2"


def test_restart_gives_a_fresh_interpreter(server: str) -> None:
    with Sandbox(api_url=server) as sb:
        sb.run_code("x = 1")
        info = sb.restart()
        assert info.id == sb.id and info.state == "idle"
        ex = sb.run_code("x")
        assert ex.error is not None and ex.error.name == "NameError"


def test_other_languages(server: str) -> None:
    with Sandbox(api_url=server, language="bash") as sb:
        assert sb.language == "bash"
        sb.run_code("cd /tmp && X=hi")
        assert sb.run_code("echo $X $PWD").stdout == "hi /tmp\n"
    with Sandbox(api_url=server, language="javascript") as sb:
        sb.run_code("var total = 40")
        assert sb.run_code("total + 2").text == "42"


def test_one_shot_execute_with_files(server: str) -> None:
    code = (
        "import os\n"
        "text = open('in/data.txt').read()\n"
        "raw = open('raw.bin', 'rb').read()\n"
        "open('out.txt', 'w').write(text.upper())\n"
        "open('out.bin', 'wb').write(raw * 2)\n"
        "print(sorted(os.listdir('.')))\n"
        "len(raw)"
    )
    ex = execute(code, files={"in/data.txt": "hello", "raw.bin": b"\x00\xff"}, api_url=server, timeout=20)
    assert ex.error is None, ex.error
    assert ex.stdout == "['in', 'out.bin', 'out.txt', 'raw.bin']\n"
    assert ex.text == "2"
    assert ex.files is not None
    changed = {f.path: f for f in ex.files}
    assert set(changed) == {"out.txt", "out.bin"}
    assert changed["out.txt"].content == b"HELLO" and changed["out.txt"].text == "HELLO"
    assert changed["out.bin"].content == b"\x00\xff\x00\xff" and changed["out.bin"].size == 4
    js = execute("[1, 2, 3].map(x => x * 2)", language="javascript", api_url=server)
    assert js.text == "[ 2, 4, 6 ]"


def test_input_goes_in_and_result_comes_back(server: str) -> None:
    ex = execute("result = sum(input_data['xs'])", input={"xs": [1, 2, 3]}, api_url=server)
    assert (ex.result, ex.error_code) == (6, None)
    ex = execute("const result = input.map(x => x + 1)", language="javascript", input=[1], api_url=server)
    assert ex.result == [2]
    ex = execute("raise ValueError('no')", input=None, api_url=server)
    assert (ex.error.name, ex.error_code) == ("ValueError", "EXECUTION_ERROR")
    with Sandbox(api_url=server) as sb:
        sb.run_code("result = 'left over'")
        assert sb.run_code("y = 1", input={"a": 1}).result is None
        assert sb.run_code("result = input_data['a'] + y", input={"a": 1}).result == 2


def test_one_shot_syntax_error_raises(server: str) -> None:
    with pytest.raises(CodeSyntaxError) as e:
        execute("print(", api_url=server)
    assert e.value.line == 1


def test_an_unknown_session_raises_session_not_found(server: str) -> None:
    with pytest.raises(SessionNotFoundError) as e:
        Sandbox(api_url=server, session_id="ses_000000000000000000000000")
    assert e.value.code == "SESSION_NOT_FOUND" and e.value.status == 404 and "ses_0000" in e.value.message


def test_connect_attaches_to_a_live_session(server: str) -> None:
    with Sandbox(api_url=server) as sb:
        sb.run_code("shared = 'yes'")
        other = Sandbox.connect(sb.id, api_url=server)
        assert other.run_code("shared").text == "'yes'"
        other.close()  # closes the session for both
        with pytest.raises(SessionNotFoundError):
            sb.run_code("shared")


def test_keys_are_required_and_checked(keyed_server: tuple[str, str]) -> None:
    url, key = keyed_server
    for bad in (None, "wk_0000000000000000.bad", "not-a-key"):
        with pytest.raises(AuthenticationError) as e:
            Sandbox(api_url=url, api_key=bad)
        assert (e.value.code, e.value.status) == ("UNAUTHORIZED", 401)
    with pytest.raises(AuthenticationError):
        execute("1", api_url=url, api_key="wk_0000000000000000.bad")
    with Sandbox(api_url=url, api_key=key) as sb:
        assert sb.run_code("1 + 1").text == "2"
    assert execute("2 + 2", api_url=url, api_key=key).text == "4"


def test_the_api_key_comes_from_the_environment(keyed_server: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    url, key = keyed_server
    monkeypatch.setenv("WARDEN_API_URL", url)
    monkeypatch.setenv("WARDEN_API_KEY", key)
    with Sandbox() as sb:
        assert sb.run_code("3").text == "3"


def test_tools_and_tool_calls_act_on_the_session(server: str) -> None:
    with Sandbox(api_url=server) as sb:
        tools = sb.tools()
        names = {t["function"]["name"] for t in tools}
        assert {"execute_python", "list_files", "read_file", "write_file"} <= names, names
        assert all(t["type"] == "function" and "parameters" in t["function"] for t in tools)
        sb.run_code("secret = 6 * 7")
        messages = sb.call_tool(
            {
                "id": "call_7",
                "type": "function",
                "function": {"name": "execute_python", "arguments": '{"code": "print(secret)"}'},
            }
        )
        assert messages[0]["role"] == "tool" and messages[0]["tool_call_id"] == "call_7"
        assert "42" in messages[0]["content"], messages
        failed = sb.call_tool({"id": "c", "type": "function", "function": {"name": "read_file", "arguments": '{"path": "nope.txt"}'}})
        assert failed[0]["content"].startswith("error [FILE_NOT_FOUND]"), failed
        anthropic = sb.tools(format="anthropic")
        assert any(t["name"] == "execute_python" and "input_schema" in t for t in anthropic)
