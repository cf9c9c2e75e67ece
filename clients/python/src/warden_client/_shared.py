"""What the sync and async clients share: settings, request bodies, reply checks and the
Server-Sent Events decoder. Nothing here does I/O (but reading a workflow definition
given as a path)."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Union
from urllib.parse import quote

import httpx

from ._errors import ProtocolError, WardenError, error_from_body
from ._models import Execution

__version__ = "0.1.0"

DEFAULT_API_URL = "http://127.0.0.1:8080"
"""Where the client looks when neither ``api_url`` nor ``WARDEN_API_URL`` says."""

DEFAULT_REQUEST_TIMEOUT = 60.0
"""Seconds allowed for connecting and for each ordinary request. Requests that run code
(cells, one-shot runs, tool calls) are given no read limit: the server ends every cell
at its own timeout, so waiting on them is bounded by the server, not the client."""

FileData = Union[str, bytes]
"""Inline file content: text (sent as UTF-8) or bytes (sent base64-encoded)."""

OutputCallback = Callable[[str], Any]
"""Called with each chunk of stdout or stderr text as it arrives."""

Definition = Union[Mapping[str, Any], str, os.PathLike[str]]
"""A workflow definition: a mapping (sent as a JSON object), a string of YAML or JSON
(sent as is; the server parses it), or a path (`pathlib.Path`) to a file read as text."""

Document = Union[str, Mapping[str, Any]]
"""A document to index: its text, or ``{"text": ..., "id"?: ..., "metadata"?: ...}``."""

RunEventCallback = Callable[[str, Any], Any]
"""Called with each event of a streamed workflow run: its name (``run_started``,
``node_started``, ``node_retrying``, ``node_finished``, ``run_finished``) and its JSON
payload."""


def resolve_api_url(api_url: str | None) -> str:
    url = api_url or os.environ.get("WARDEN_API_URL") or DEFAULT_API_URL
    return url.rstrip("/")


def resolve_api_key(api_key: str | None) -> str | None:
    if api_key is not None:
        return api_key or None
    return os.environ.get("WARDEN_API_KEY") or None


def base_headers(api_key: str | None) -> dict[str, str]:
    headers = {"user-agent": f"warden-client-python/{__version__}"}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    return headers


def timeouts(request_timeout: float | None) -> tuple[httpx.Timeout, httpx.Timeout]:
    """The timeout of ordinary requests and of requests that run code."""
    return httpx.Timeout(request_timeout), httpx.Timeout(request_timeout, read=None)


def drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def encode_files(files: Mapping[str, FileData] | None) -> dict[str, Any] | None:
    """Inline files as the API takes them: text as a string, bytes as base64."""
    if not files:
        return None
    out: dict[str, Any] = {}
    for path, data in files.items():
        if isinstance(data, str):
            out[path] = data
        elif isinstance(data, (bytes, bytearray, memoryview)):
            out[path] = {"content": base64.b64encode(bytes(data)).decode("ascii"), "encoding": "base64"}
        else:
            raise TypeError(f"file {path!r}: content must be str or bytes, not {type(data).__name__}")
    return out


def session_body(
    language: str,
    template: str | None,
    packages: Sequence[str] | None,
    idle_ttl: float | None,
    max_lifetime: float | None,
    memory_mb: int | None,
    disk_mb: int | None,
    network: bool = False,
    allow_hosts: Sequence[str] | None = None,
) -> dict[str, Any]:
    return drop_none(
        {
            "language": language,
            "template": template,
            "packages": list(packages) if packages else None,
            "idle_ttl": idle_ttl,
            "max_lifetime": max_lifetime,
            "memory_mb": memory_mb,
            "disk_mb": disk_mb,
            **network_fields(network, allow_hosts),
        }
    )


def network_fields(network: bool, allow_hosts: Sequence[str] | None) -> dict[str, Any]:
    """``network`` and ``egress`` of a session or one-shot body: network egress through
    warden's proxy, within the tenant's policy (``allow_hosts`` narrows its allowlist)."""
    if allow_hosts is not None and not network:
        raise ValueError("allow_hosts needs network=True")
    out: dict[str, Any] = {}
    if network:
        out["network"] = True
    if allow_hosts is not None:
        if isinstance(allow_hosts, str):
            raise TypeError("allow_hosts must be a list of host patterns, not a str")
        out["egress"] = {"allow": list(allow_hosts)}
    return out


_NO_INPUT: Any = object()
"""The default of ``input``: none sent (``None`` itself is sent as JSON ``null``)."""


def cell_body(
    code: str,
    timeout: float | None,
    packages: Sequence[str] | None,
    files: Mapping[str, FileData] | None,
    input: Any = _NO_INPUT,
) -> dict[str, Any]:
    if not isinstance(code, str):
        raise TypeError(f"code must be str, not {type(code).__name__}")
    body = drop_none(
        {
            "code": code,
            "timeout": timeout,
            "packages": list(packages) if packages else None,
            "files": encode_files(files),
        }
    )
    if input is not _NO_INPUT:
        body["input"] = input
    return body


def relative_path(path: str) -> str:
    """A workspace path relative to ``/workspace``, as the API takes it: ``/workspace``
    in front is dropped. Everything else (``..``, other absolute paths) is left for the
    server to refuse with ``INVALID_PATH``."""
    if path == "/workspace":
        return ""
    if path.startswith("/workspace/"):
        return path[len("/workspace/") :]
    return path


def segment(value: str) -> str:
    """One URL path segment (a session id as the caller gave it), percent-encoded with
    ``.`` and ``..`` encoded too: it can never name another route."""
    return value.replace(".", "%2E") if value in (".", "..") else quote(value, safe="")


def workspace_path(path: str) -> str:
    """A workspace path for a URL: relative to ``/workspace``, percent-encoded. ``.``
    and ``..`` components are encoded too, so that no URL normalisation (httpx's, a
    proxy's) can resolve them into another route (``files/../..`` would otherwise name
    the session itself); the server then refuses them with ``INVALID_PATH``."""
    return "/".join(segment(part) for part in relative_path(path).split("/"))


def tool_call_json(tool_call: Any) -> dict[str, Any]:
    """A model's tool call as a JSON object: a mapping as it is, or an SDK object with
    ``model_dump()`` (openai, anthropic) or ``to_dict()``."""
    if isinstance(tool_call, Mapping):
        return dict(tool_call)
    for method in ("model_dump", "to_dict"):
        f = getattr(tool_call, method, None)
        if callable(f):
            v = f()
            if isinstance(v, Mapping):
                return dict(v)
    raise TypeError(f"a tool call must be a mapping or have model_dump(), not {type(tool_call).__name__}")


def parse_retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def error_for(status: int, headers: httpx.Headers, content: bytes) -> WardenError:
    """The exception for a reply that is not a success."""
    try:
        body = json.loads(content)
    except ValueError:
        body = None
    retry_after = parse_retry_after(headers.get("retry-after"))
    err = error_from_body(body, status, retry_after)
    if err is not None:
        return err
    snippet = content[:200].decode("utf-8", "replace").strip()
    return ProtocolError(
        "UNEXPECTED_RESPONSE", f"HTTP {status} without warden's error shape: {snippet!r}", status, {}, retry_after
    )


def check(response: httpx.Response) -> None:
    """Raises the `WardenError` for a non-2xx reply (whose body has been read)."""
    if not 200 <= response.status_code < 300:
        raise error_for(response.status_code, response.headers, response.content)


def json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as e:
        raise ProtocolError(
            "UNEXPECTED_RESPONSE", f"HTTP {response.status_code} reply is not JSON", response.status_code
        ) from e


def json_object(response: httpx.Response) -> dict[str, Any]:
    body = json_body(response)
    if not isinstance(body, dict):
        raise ProtocolError("UNEXPECTED_RESPONSE", "the reply is not a JSON object", response.status_code)
    return body


def is_event_stream(response: httpx.Response) -> bool:
    return "text/event-stream" in response.headers.get("content-type", "")


class SSEDecoder:
    """Server-Sent Events, one line at a time (the WHATWG rules warden's stream needs:
    ``event`` and ``data`` fields, comments, multi-line data, blank-line dispatch)."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> tuple[str, str] | None:
        """Takes one line (without its line ending); returns ``(event, data)`` when the
        line completes an event."""
        line = line.rstrip("\r\n")
        if not line:
            if not self._data:
                self._event = ""
                return None
            event = (self._event or "message", "\n".join(self._data))
            self._event, self._data = "", []
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        return None

    def finish(self) -> tuple[str, str] | None:
        """The last event, if the stream ended without its blank line."""
        return self.feed("")


class StreamEvent:
    """One decoded event of a cell's stream: output text, or the end (a result or an
    error)."""

    __slots__ = ("kind", "text", "execution")

    def __init__(self, kind: str, text: str = "", execution: Execution | None = None) -> None:
        self.kind = kind
        self.text = text
        self.execution = execution


def decode_event(name: str, data: str) -> StreamEvent | None:
    """The meaning of one SSE event; an ``error`` event raises its `WardenError`.
    Unknown events are skipped (``None``) so that newer servers can add some."""
    try:
        payload = json.loads(data)
    except ValueError as e:
        raise ProtocolError("UNEXPECTED_RESPONSE", f"event {name!r} does not carry JSON") from e
    if name in ("stdout", "stderr"):
        text = payload.get("text") if isinstance(payload, dict) else None
        return StreamEvent(name, text if isinstance(text, str) else "")
    if name == "result":
        if not isinstance(payload, dict):
            raise ProtocolError("UNEXPECTED_RESPONSE", "the result event is not a JSON object")
        return StreamEvent("result", execution=Execution.from_json(payload))
    if name == "error":
        err = error_from_body(payload, None)
        raise err or ProtocolError("UNEXPECTED_RESPONSE", f"error event without warden's error shape: {data[:200]!r}")
    return None


# ---------------------------------------------------------------- workflows


def definition_json(definition: Definition) -> Any:
    """A workflow definition as the API takes it: a mapping as a JSON object, a string
    as is (YAML or JSON text), a path's file as its text."""
    if isinstance(definition, Mapping):
        return dict(definition)
    if isinstance(definition, str):
        return definition
    if isinstance(definition, os.PathLike):
        return Path(definition).read_text(encoding="utf-8")
    raise TypeError(
        f"a workflow definition must be a mapping, a str of YAML/JSON or a path, not {type(definition).__name__}"
    )


def run_body(
    input: Any,
    version: int | None,
    definition: Any,
    thread_id: str | None,
    wait: bool,
    max_steps: int | None,
    timeout: float | None,
) -> dict[str, Any]:
    return drop_none(
        {
            "definition": definition,
            "input": input,
            "version": version,
            "thread_id": thread_id,
            # The server waits by default; only say so when it should not.
            "wait": False if not wait else None,
            "max_steps": max_steps,
            "timeout": timeout,
        }
    )


def check_run_mode(wait: bool, on_event: RunEventCallback | None) -> None:
    if on_event is not None and not wait:
        raise ValueError("on_event streams the run to its end: it cannot be combined with wait=False")


def documents_body(documents: Iterable[Document]) -> dict[str, Any]:
    if isinstance(documents, (str, Mapping)):
        raise TypeError("documents must be a list of documents (str or mapping), not one document")
    out: list[dict[str, Any]] = []
    for i, doc in enumerate(documents):
        if isinstance(doc, str):
            out.append({"text": doc})
        elif isinstance(doc, Mapping):
            out.append(dict(doc))
        else:
            raise TypeError(f"document {i}: must be str or a mapping with `text`, not {type(doc).__name__}")
    return {"documents": out}


def run_url(workflow_id: str | None) -> str:
    """Where runs are started: a stored workflow's runs, or ``/v1/runs`` for inline
    definitions."""
    return "/v1/runs" if workflow_id is None else f"/v1/workflows/{segment(workflow_id)}/runs"


def list_of(body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = body.get(key)
    return [x for x in items if isinstance(x, dict)] if isinstance(items, list) else []


def decode_run_event(name: str, data: str) -> tuple[str, Any]:
    """One event of a workflow run's stream as ``(name, payload)``; an ``error`` event
    raises its `WardenError`."""
    try:
        payload = json.loads(data)
    except ValueError as e:
        raise ProtocolError("UNEXPECTED_RESPONSE", f"event {name!r} does not carry JSON") from e
    if name == "error":
        err = error_from_body(payload, None)
        raise err or ProtocolError("UNEXPECTED_RESPONSE", f"error event without warden's error shape: {data[:200]!r}")
    if name == "run_finished" and not isinstance(payload, dict):
        raise ProtocolError("UNEXPECTED_RESPONSE", "the run_finished event is not a JSON object")
    return name, payload
