"""The client's own logic, without a server: SSE decoding, error mapping, result parsing,
request bodies, network failures."""

from __future__ import annotations

import base64
import json
import socket
from typing import Any

import httpx
import pytest

from warden_client import (
    CodeSyntaxError,
    Execution,
    NetworkError,
    ProtocolError,
    RateLimitError,
    Sandbox,
    SecurityViolationError,
    SessionDeadError,
    UnavailableError,
    WardenError,
    execute,
)
from warden_client._shared import SSEDecoder, encode_files, tool_call_json, workspace_path

SESSION = {"id": "ses_1", "language": "python", "state": "idle", "created_at": 1.0, "last_used_at": 1.0,
           "idle_ttl": 3600.0, "expires_at": 2.0, "execution_count": 0}


def mock(handler: Any) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def test_sse_decoder_follows_the_format() -> None:
    d = SSEDecoder()
    events = [d.feed(line) for line in [": keep-alive", "event: stdout", 'data: {"text":', "data: 1}", "", "", "data: x"]]
    assert [e for e in events if e] == [("stdout", '{"text":\n1}')]
    assert d.finish() == ("message", "x")


def test_results_and_errors_are_parsed() -> None:
    png = base64.b64encode(b"\x89PNG\r\n\x1a\nrest").decode()
    ex = Execution.from_json({
        "status": "error", "execution_count": 3, "value": {"text/plain": "1"},
        "outputs": [{"image/png": png, "text/plain": "<Figure>"}],
        "error": {"name": "E", "value": "v", "traceback": ["a\n", "b\n"]},
        "stdout": "o", "stderr": "e", "timed_out": True, "duration_ms": 2.5, "execution_id": "exe_1",
        "risk": "low", "findings": [{"rule": "r", "severity": "low", "line": 1, "col": 2, "message": "m"}],
        "secrets": {"openai_key": 2}, "something_new": 1,
    })
    assert [r.is_main_result for r in ex.results] == [False, True]
    assert ex.text == "1" and ex.results[0].png == b"\x89PNG\r\n\x1a\nrest" and ex.results[0].text == "<Figure>"
    assert ex.error is not None and ex.error.traceback_text == "a\nb\n"
    assert (ex.timed_out, ex.duration_ms, ex.execution_id, ex.risk) == (True, 2.5, "exe_1", "low")
    assert ex.findings[0].col == 2 and ex.secrets == {"openai_key": 2} and ex.raw["something_new"] == 1
    assert ex.files is None
    empty = Execution.from_json({"value": None, "error": None, "outputs": []})
    assert (empty.text, empty.value, empty.results, empty.error) == (None, None, [], None)


def test_inline_files_and_paths_are_encoded() -> None:
    assert encode_files({"a.txt": "hé", "b.bin": b"\x00"}) == {
        "a.txt": "hé", "b.bin": {"content": "AA==", "encoding": "base64"}}
    assert encode_files(None) is None
    with pytest.raises(TypeError):
        encode_files({"x": 1})  # type: ignore[dict-item]
    assert workspace_path("/workspace/a b/c#?.txt") == "a%20b/c%23%3F.txt"
    assert workspace_path("data/x.csv") == "data/x.csv"
    assert workspace_path("../../ses_other") == "%2E%2E/%2E%2E/ses_other"
    assert workspace_path("a/./b/..") == "a/%2E/b/%2E%2E"


def test_tool_calls_accept_sdk_objects() -> None:
    class Call:
        def model_dump(self) -> dict[str, Any]:
            return {"id": "c"}

    assert tool_call_json(Call()) == {"id": "c"} == tool_call_json({"id": "c"})
    with pytest.raises(TypeError):
        tool_call_json(3)


@pytest.mark.parametrize(
    ("status", "error", "cls", "headers"),
    [
        (400, {"code": "SYNTAX_ERROR", "message": "m", "line": 2, "col": 7}, CodeSyntaxError, {}),
        (403, {"code": "SECURITY_VIOLATION", "message": "m", "risk": "high",
               "findings": [{"rule": "process.spawn", "severity": "high", "line": 1, "col": 1, "message": "x"}]},
         SecurityViolationError, {}),
        (410, {"code": "SESSION_DEAD", "message": "m"}, SessionDeadError, {}),
        (429, {"code": "RATE_LIMITED", "message": "m"}, RateLimitError, {"retry-after": "3"}),
        (503, {"code": "UNAVAILABLE", "message": "m"}, UnavailableError, {}),
        (418, {"code": "SOMETHING_NEW", "message": "m", "extra": 1}, WardenError, {}),
    ],
)
def test_error_replies_become_typed_exceptions(status: int, error: dict[str, Any], cls: type, headers: dict[str, str]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/sessions":
            return httpx.Response(201, json=SESSION)
        return httpx.Response(status, json={"error": error}, headers=headers)

    sb = Sandbox(api_url="http://warden.test", http_client=mock(handler))
    with pytest.raises(WardenError) as e:
        sb.run_code("x")
    assert type(e.value) is cls
    assert (e.value.code, e.value.status, e.value.message) == (error["code"], status, "m")
    if cls is CodeSyntaxError:
        assert (e.value.line, e.value.col) == (2, 7)  # type: ignore[attr-defined]
    if cls is SecurityViolationError:
        assert e.value.risk == "high" and e.value.findings[0].rule == "process.spawn"  # type: ignore[attr-defined]
    if cls is RateLimitError:
        assert e.value.retry_after == 3.0
    if cls is WardenError:
        assert e.value.details == {"extra": 1}


def test_a_reply_that_is_not_wardens_raises_protocol_error() -> None:
    client = mock(lambda r: httpx.Response(502, text="<html>bad gateway</html>"))
    with pytest.raises(ProtocolError) as e:
        execute("1", api_url="http://warden.test", http_client=client)
    assert e.value.code == "UNEXPECTED_RESPONSE" and e.value.status == 502 and "bad gateway" in e.value.message


def test_requests_carry_the_key_and_the_body() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "ok", "value": {"text/plain": "2"}})

    execute("1+1", files={"b": b"\x01"}, packages=["tabulate"], timeout=5, api_url="http://w.test/", api_key="wk_x.y",
            http_client=mock(handler))
    (req,) = seen
    assert str(req.url) == "http://w.test/v1/execute"
    assert req.headers["authorization"] == "Bearer wk_x.y"
    assert json.loads(req.content) == {"code": "1+1", "timeout": 5, "packages": ["tabulate"], "language": "python",
                                       "files": {"b": {"content": "AQ==", "encoding": "base64"}}}


def test_a_stream_that_ends_early_is_a_network_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/sessions":
            return httpx.Response(201, json=SESSION)
        body = b'event: stdout\ndata: {"text":"partial"}\n\n'
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    chunks: list[str] = []
    sb = Sandbox(api_url="http://warden.test", http_client=mock(handler))
    with pytest.raises(NetworkError) as e:
        sb.run_code("x", on_stdout=chunks.append)
    assert chunks == ["partial"] and e.value.code == "UNAVAILABLE" and e.value.status is None


def test_an_unreachable_server_is_a_network_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        with pytest.raises(NetworkError) as e:
            Sandbox(api_url=f"http://127.0.0.1:{port}", request_timeout=5)
    assert e.value.code == "UNAVAILABLE" and e.value.status is None
    assert e.value.details["cause"] == "ConnectError" and isinstance(e.value.__cause__, httpx.ConnectError)
    assert isinstance(e.value, UnavailableError)


def test_network_is_asked_for_explicitly_and_reported() -> None:
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.content:
            bodies.append(json.loads(request.content))
        if request.url.path == "/v1/sessions":
            return httpx.Response(201, json=SESSION)
        return httpx.Response(200, json={"status": "ok", "stdout": "", "egress": {"allowed": 1, "denied": 0}})

    Sandbox(http_client=mock(handler), network=True, allow_hosts=["api.github.com"]).close()
    assert bodies[-1]["network"] is True
    assert bodies[-1]["egress"] == {"allow": ["api.github.com"]}
    Sandbox(http_client=mock(handler)).close()
    assert "network" not in bodies[-1] and "egress" not in bodies[-1]
    e = execute("1", network=True, http_client=mock(handler))
    assert bodies[-1]["network"] is True
    assert e.egress == {"allowed": 1, "denied": 0}
    with pytest.raises(ValueError):
        execute("1", allow_hosts=["a.test"], http_client=mock(handler))
