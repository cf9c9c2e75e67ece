"""The asynchronous client against a live server."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from warden_client import (
    AsyncSandbox,
    AuthenticationError,
    CodeSyntaxError,
    NotFoundError,
    SessionNotFoundError,
    async_execute,
)

pytestmark = pytest.mark.asyncio


async def test_async_context_manager_creates_and_closes(server: str) -> None:
    sb = AsyncSandbox(api_url=server)
    with pytest.raises(RuntimeError):
        _ = sb.id  # nothing is created before `async with`
    async with sb:
        sid = sb.id
        assert (await sb.info()).state == "idle"
        await sb.run_code("x = 20")
        assert (await sb.run_code("x * 2 + 2")).text == "42"
    assert sb.closed
    async with httpx.AsyncClient() as c:
        assert (await c.get(f"{server}/v1/sessions/{sid}")).status_code == 404
    with pytest.raises(SessionNotFoundError):
        await AsyncSandbox.connect(sid, api_url=server)


async def test_async_streaming_with_sync_and_async_callbacks(server: str) -> None:
    out: list[tuple[float, str]] = []
    err: list[str] = []

    async def on_stderr(text: str) -> None:
        await asyncio.sleep(0)
        err.append(text)

    sb = await AsyncSandbox.create(api_url=server)
    try:
        ex = await sb.run_code(
            "import sys, time\nprint('a', flush=True)\nprint('oops', file=sys.stderr, flush=True)\ntime.sleep(1)\nprint('b')",
            on_stdout=lambda t: out.append((time.monotonic(), t)),
            on_stderr=on_stderr,
        )
        end = time.monotonic()
    finally:
        await sb.close()
    assert "".join(t for _, t in out) == "a\nb\n" == ex.stdout
    assert "".join(err) == "oops\n"
    assert end - out[0][0] >= 0.8, out


async def test_async_errors_files_and_plots(server: str) -> None:
    async with AsyncSandbox(api_url=server) as sb:
        with pytest.raises(CodeSyntaxError) as e:
            await sb.run_code("for")
        assert e.value.code == "SYNTAX_ERROR" and e.value.line == 1
        ex = await sb.run_code("{}['missing']")
        assert ex.error is not None and ex.error.name == "KeyError" and "<cell-" in ex.error.traceback_text
        await sb.files.write("d/x.bin", b"\x00\x01\x02")
        assert await sb.files.read("d/x.bin") == b"\x00\x01\x02"
        assert [f.name for f in await sb.files.list("d")] == ["x.bin"]
        assert await sb.files.exists("d/x.bin")
        await sb.files.remove("d/x.bin")
        with pytest.raises(NotFoundError):
            await sb.files.read_text("d/x.bin")
        ex = await sb.run_code("import matplotlib.pyplot as plt\nplt.bar(['a'], [1])\nplt.show()")
        png = ex.results[0].png
        assert png is not None and png.startswith(b"\x89PNG")


async def test_async_interrupt(server: str) -> None:
    async with AsyncSandbox(api_url=server) as sb:
        task = asyncio.create_task(sb.run_code("while True: pass", timeout=30))
        for _ in range(200):
            if (await sb.info()).state == "busy":
                break
            await asyncio.sleep(0.05)
        await sb.interrupt()
        ex = await asyncio.wait_for(task, timeout=10)
        assert ex.error is not None and ex.error.name == "KeyboardInterrupt"


async def test_async_execute_and_keys(server: str, keyed_server: tuple[str, str]) -> None:
    ex = await async_execute(
        "print(open('a.txt').read() + str(len(open('b.bin', 'rb').read())))",
        files={"a.txt": "n=", "b.bin": b"\x01\x02\x03"},
        api_url=server,
    )
    assert ex.stdout == "n=3\n"
    url, key = keyed_server
    with pytest.raises(AuthenticationError) as e:
        await async_execute("1", api_url=url, api_key="wk_0000000000000000.bad")
    assert e.value.status == 401
    assert (await async_execute("1 + 1", api_url=url, api_key=key)).text == "2"
