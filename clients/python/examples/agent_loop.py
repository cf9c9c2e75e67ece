"""An LLM agent that runs code in warden: an OpenAI-style tool loop.

The model gets warden's tool definitions (``GET /v1/tools?format=openai``: execute_python,
execute_javascript, execute_bash, list_files, read_file, write_file). Each tool call it
makes is run by warden in one session (``POST /v1/tools/call``), whose answer is the
messages to append; the loop ends when the model answers without tool calls.

The model is any chat-completions endpoint speaking OpenAI's wire format (OpenAI itself,
vLLM, Ollama, llama.cpp's server, a gateway...), reached with plain httpx::

    export OPENAI_BASE_URL=https://api.openai.com/v1 OPENAI_API_KEY=sk-... OPENAI_MODEL=gpt-4o-mini
    export WARDEN_API_URL=http://127.0.0.1:8080      # and WARDEN_API_KEY unless --dev
    python examples/agent_loop.py "What is the 30th Fibonacci number? Compute it."
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import httpx

from warden_client import Sandbox

SYSTEM_PROMPT = (
    "You can run code in a sandbox with the tools you have. Compute rather than guess: "
    "run code for anything that needs calculation or data, then answer in plain words."
)


def chat(
    http: httpx.Client, base_url: str, model: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
) -> dict[str, Any]:
    """One chat-completions call; returns the assistant message."""
    r = http.post(
        f"{base_url.rstrip('/')}/chat/completions",
        json={"model": model, "messages": messages, "tools": tools, "tool_choice": "auto"},
    )
    if r.status_code != 200:
        raise RuntimeError(f"model endpoint answered {r.status_code}: {r.text[:500]}")
    message = r.json()["choices"][0]["message"]
    if not isinstance(message, dict):
        raise RuntimeError(f"unexpected model reply: {r.text[:500]}")
    return message


def run_agent(
    prompt: str,
    *,
    model_base_url: str,
    model: str = "gpt-4o-mini",
    model_api_key: str | None = None,
    api_url: str | None = None,
    api_key: str | None = None,
    max_turns: int = 10,
    images: bool = True,
    on_message: Callable[[dict[str, Any]], None] | None = None,
) -> str:
    """Runs the loop until the model answers without tool calls; returns that answer.

    ``images=False`` drops the ``user`` messages carrying figures (for models without
    vision). ``on_message`` sees every message appended to the conversation.
    """
    headers = {"authorization": f"Bearer {model_api_key}"} if model_api_key else {}
    with Sandbox(api_url=api_url, api_key=api_key) as sandbox, httpx.Client(headers=headers, timeout=120) as http:
        tools = sandbox.tools(format="openai")
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": prompt},
        ]

        def append(message: dict[str, Any]) -> None:
            messages.append(message)
            if on_message is not None:
                on_message(message)

        for _ in range(max_turns):
            message = chat(http, model_base_url, model, messages, tools)
            append({k: v for k, v in message.items() if v is not None})
            calls = message.get("tool_calls") or []
            if not calls:
                return str(message.get("content") or "")
            # Every tool message must directly follow the assistant message that asked
            # for it, so messages of other roles (images) go after all of them.
            tool_messages: list[dict[str, Any]] = []
            others: list[dict[str, Any]] = []
            for call in calls:
                for m in sandbox.call_tool(call, format="openai"):
                    (tool_messages if m.get("role") == "tool" else others).append(m)
            for m in tool_messages + (others if images else []):
                append(m)
        raise RuntimeError(f"no answer without tool calls after {max_turns} turns")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2

    def show(message: dict[str, Any]) -> None:
        for call in message.get("tool_calls") or []:
            print(f"→ {call['function']['name']}({call['function']['arguments']})", file=sys.stderr)
        if message.get("role") == "tool":
            print(f"← {message['content']}", file=sys.stderr)

    answer = run_agent(
        argv[1],
        model_base_url=os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1"),
        model=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"),
        model_api_key=os.environ.get("OPENAI_API_KEY"),
        on_message=show,
    )
    print(answer)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
