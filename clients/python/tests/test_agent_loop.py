"""examples/agent_loop.py end to end: warden's tools, a live server, and a stub model
speaking the chat-completions wire format."""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "agent_loop.py"
CODE = "import math\nprint(sum(math.comb(40, k) for k in range(0, 41, 3)))"
EXPECTED = str(sum(__import__("math").comb(40, k) for k in range(0, 41, 3)))


class StubModel:
    """Answers the first request with a tool call, the next (which must carry the tool's
    message) with an answer quoting what the tool said."""

    def __init__(self) -> None:
        self.code = CODE
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def reply(self, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.requests.append(request)
        tool_messages = [m for m in request["messages"] if m.get("role") == "tool"]
        if not tool_messages:
            message: dict[str, Any] = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "execute_python", "arguments": json.dumps({"code": self.code})},
                    }
                ],
            }
        else:
            said = tool_messages[-1]["content"]
            message = {"role": "assistant", "content": f"The sandbox printed: {said.strip()}"}
        return {
            "id": "chatcmpl-stub",
            "object": "chat.completion",
            "model": request.get("model", "stub"),
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if "tool_calls" in message else "stop"}],
        }


@pytest.fixture
def stub_model() -> Iterator[tuple[str, StubModel]]:
    model = StubModel()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("content-length", "0"))
            if self.path != "/v1/chat/completions":
                self.send_error(404)
                return
            body = json.dumps(model.reply(json.loads(self.rfile.read(length)))).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", model
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("agent_loop", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_agent_loop_runs_the_models_code_and_answers(server: str, stub_model: tuple[str, StubModel]) -> None:
    base_url, model = stub_model
    seen: list[dict[str, Any]] = []
    answer = load_example().run_agent(
        "Sum every third binomial coefficient of 40.",
        model_base_url=base_url,
        model="stub",
        model_api_key="sk-stub",
        api_url=server,
        max_turns=4,
        on_message=seen.append,
    )
    assert EXPECTED in answer, answer
    assert len(model.requests) == 2
    first, second = model.requests
    names = {t["function"]["name"] for t in first["tools"]}
    assert {"execute_python", "execute_bash", "read_file"} <= names, names
    assert first["messages"][-1] == {"role": "user", "content": "Sum every third binomial coefficient of 40."}
    # The conversation the model saw second: its own tool call, then warden's answer.
    assistant, tool = second["messages"][-2:]
    assert assistant["tool_calls"][0]["id"] == "call_1"
    assert tool["role"] == "tool" and tool["tool_call_id"] == "call_1"
    assert tool["content"].startswith("stdout:") and EXPECTED in tool["content"], tool
    assert [m["role"] for m in seen] == ["assistant", "tool", "assistant"]


def test_figures_follow_the_tool_messages_as_images(server: str, stub_model: tuple[str, StubModel]) -> None:
    base_url, model = stub_model
    model.code = "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()\nprint('plotted')"
    answer = load_example().run_agent("Plot a line.", model_base_url=base_url, model="stub", api_url=server, max_turns=4)
    assert "plotted" in answer, answer
    assistant, tool, user = model.requests[1]["messages"][-3:]
    assert (assistant["role"], tool["role"], user["role"]) == ("assistant", "tool", "user")
    images = [p for p in user["content"] if p.get("type") == "image_url"]
    assert images and images[0]["image_url"]["url"].startswith("data:image/png;base64,"), user
    # Without images the conversation has only the tool message.
    model.requests.clear()
    load_example().run_agent("Plot.", model_base_url=base_url, model="stub", api_url=server, images=False, max_turns=4)
    assert [m["role"] for m in model.requests[1]["messages"][-2:]] == ["assistant", "tool"]
