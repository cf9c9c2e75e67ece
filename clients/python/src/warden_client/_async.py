"""The asynchronous client: `AsyncSandbox`, its `AsyncFiles`, `async_execute` and
`AsyncWorkflows`. The same API as the synchronous one, over `httpx.AsyncClient`."""

from __future__ import annotations

import builtins
import inspect
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import IO, Any

import httpx

from . import _shared as s
from ._errors import InvalidRequestError, NetworkError, NotFoundError, SessionNotFoundError
from ._models import (
    CollectionInfo,
    Execution,
    FileEntry,
    Run,
    RunList,
    SearchHit,
    SessionInfo,
    WorkflowInfo,
)

__all__ = ["AsyncSandbox", "AsyncFiles", "async_execute", "AsyncWorkflows"]


class _AsyncHttp:
    """`_Http` of the synchronous client, awaited."""

    def __init__(
        self,
        api_url: str | None,
        api_key: str | None,
        request_timeout: float | None,
        http_client: httpx.AsyncClient | None,
    ) -> None:
        self.base = s.resolve_api_url(api_url)
        self.headers = s.base_headers(s.resolve_api_key(api_key))
        self.timeout, self.run_timeout = s.timeouts(request_timeout)
        self._owns_client = http_client is None
        self.client = http_client if http_client is not None else httpx.AsyncClient()

    async def request(
        self,
        method: str,
        path: str,
        *,
        runs_code: bool = False,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        try:
            r = await self.client.request(
                method,
                self.base + path,
                headers={**self.headers, **(headers or {})},
                timeout=self.run_timeout if runs_code else self.timeout,
                **kwargs,
            )
        except httpx.TransportError as e:
            raise NetworkError(f"{method} {path}: {e or type(e).__name__}", e) from e
        s.check(r)
        return r

    @asynccontextmanager
    async def stream(self, method: str, path: str, **kwargs: Any) -> AsyncIterator[httpx.Response]:
        try:
            async with self.client.stream(
                method,
                self.base + path,
                headers={**self.headers, "accept": "text/event-stream"},
                timeout=self.run_timeout,
                **kwargs,
            ) as r:
                if not 200 <= r.status_code < 300:
                    await r.aread()
                    s.check(r)
                yield r
        except httpx.TransportError as e:
            raise NetworkError(f"{method} {path}: {e or type(e).__name__}", e) from e

    async def close(self) -> None:
        if self._owns_client:
            await self.client.aclose()


async def _call(callback: s.OutputCallback | None, text: str) -> None:
    if callback is not None and text:
        result = callback(text)
        if inspect.isawaitable(result):
            await result


async def _read_stream(
    r: httpx.Response, on_stdout: s.OutputCallback | None, on_stderr: s.OutputCallback | None
) -> Execution:
    if not s.is_event_stream(r):
        await r.aread()
        return Execution.from_json(s.json_object(r))
    decoder = s.SSEDecoder()
    lines = r.aiter_lines()
    while True:
        line = await anext(lines, None)
        raw = decoder.finish() if line is None else decoder.feed(line)
        event = s.decode_event(*raw) if raw is not None else None
        if event is not None:
            if event.kind == "result" and event.execution is not None:
                return event.execution
            if event.kind == "stdout":
                await _call(on_stdout, event.text)
            elif event.kind == "stderr":
                await _call(on_stderr, event.text)
        if line is None:
            raise NetworkError("the event stream ended before the cell's result")


class AsyncFiles:
    """`Files`, awaited."""

    def __init__(self, sandbox: AsyncSandbox) -> None:
        self._sb = sandbox

    def _url(self, path: str) -> str:
        return f"/v1/sessions/{self._sb.id}/files/{s.workspace_path(path)}"

    async def write(self, path: str, data: bytes | str | IO[bytes]) -> FileEntry:
        """Writes a file; ``str`` as UTF-8, a binary file object read whole."""
        if isinstance(data, str):
            content = data.encode("utf-8")
        elif isinstance(data, (bytes, bytearray, memoryview)):
            content = bytes(data)
        elif hasattr(data, "read"):
            content = data.read()
        else:
            raise TypeError(f"data must be bytes, str or a binary file, not {type(data).__name__}")
        r = await self._sb._http.request("PUT", self._url(path), content=content, runs_code=True)
        return FileEntry.from_json(s.json_object(r))

    async def read(self, path: str) -> bytes:
        return (await self._sb._http.request("GET", self._url(path), runs_code=True)).content

    async def read_text(self, path: str, encoding: str = "utf-8") -> str:
        return (await self.read(path)).decode(encoding)

    async def remove(self, path: str) -> None:
        await self._sb._http.request("DELETE", self._url(path))

    async def exists(self, path: str) -> bool:
        parent, _, name = s.relative_path(path).rstrip("/").rpartition("/")
        try:
            entries = await self.list(parent)
        except SessionNotFoundError:
            raise
        except (NotFoundError, InvalidRequestError):
            return False
        return any(e.name == name for e in entries)

    async def list(self, path: str = "") -> builtins.list[FileEntry]:
        params = {"path": s.relative_path(path).rstrip("/")}
        r = await self._sb._http.request("GET", f"/v1/sessions/{self._sb.id}/files", params=params)
        entries = s.json_object(r).get("entries")
        if not isinstance(entries, builtins.list):
            return []
        return [FileEntry.from_json(e) for e in entries if isinstance(e, dict)]


class AsyncSandbox:
    """`Sandbox`, awaited. The session is created on ``async with`` (or by
    ``await AsyncSandbox.create(...)``), not by the constructor::

        async with AsyncSandbox() as sb:
            execution = await sb.run_code("1 + 1")

    Takes the same arguments as `Sandbox`; ``http_client`` is an `httpx.AsyncClient`.
    """

    def __init__(
        self,
        api_url: str | None = None,
        api_key: str | None = None,
        language: str = "python",
        template: str | None = None,
        packages: Sequence[str] | None = None,
        timeout: float | None = None,
        *,
        idle_ttl: float | None = None,
        max_lifetime: float | None = None,
        memory_mb: int | None = None,
        disk_mb: int | None = None,
        session_id: str | None = None,
        network: bool = False,
        allow_hosts: Sequence[str] | None = None,
        request_timeout: float | None = s.DEFAULT_REQUEST_TIMEOUT,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._http = _AsyncHttp(api_url, api_key, request_timeout, http_client)
        self.timeout = timeout
        self._session_id = session_id
        self._body = s.session_body(
            language, template, packages, idle_ttl, max_lifetime, memory_mb, disk_mb, network, allow_hosts
        )
        self._info: SessionInfo | None = None
        self._closed = False
        self.files = AsyncFiles(self)
        self.workflows = AsyncWorkflows._over(self._http)
        """`Sandbox.workflows`, awaited (usable before the session is started)."""

    @classmethod
    async def create(cls, *args: Any, **kwargs: Any) -> AsyncSandbox:
        """Constructs and starts (creates or attaches to) the session."""
        sb = cls(*args, **kwargs)
        await sb.start()
        return sb

    @classmethod
    async def connect(
        cls, session_id: str, api_url: str | None = None, api_key: str | None = None, **kwargs: Any
    ) -> AsyncSandbox:
        """Attaches to an existing session (``SESSION_NOT_FOUND`` if there is none)."""
        return await cls.create(api_url=api_url, api_key=api_key, session_id=session_id, **kwargs)

    async def start(self) -> None:
        """Creates the session (or attaches to ``session_id``); a second call does
        nothing."""
        if self._info is not None:
            return
        try:
            if self._session_id is not None:
                r = await self._http.request("GET", f"/v1/sessions/{s.segment(self._session_id)}")
            else:
                r = await self._http.request("POST", "/v1/sessions", json=self._body)
            self._info = SessionInfo.from_json(s.json_object(r))
        except BaseException:
            await self._http.close()
            raise

    def _started(self) -> SessionInfo:
        if self._info is None:
            raise RuntimeError("the AsyncSandbox is not started: use `async with` or `await AsyncSandbox.create()`")
        return self._info

    @property
    def id(self) -> str:
        return self._started().id

    @property
    def language(self) -> str:
        return self._started().language

    @property
    def api_url(self) -> str:
        return self._http.base

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self) -> str:
        sid = self._info.id if self._info else None
        return f"AsyncSandbox(id={sid!r}, api_url={self._http.base!r})"

    async def info(self) -> SessionInfo:
        r = await self._http.request("GET", f"/v1/sessions/{self.id}")
        self._info = SessionInfo.from_json(s.json_object(r))
        return self._info

    async def run_code(
        self,
        code: str,
        on_stdout: s.OutputCallback | None = None,
        on_stderr: s.OutputCallback | None = None,
        timeout: float | None = None,
        packages: Sequence[str] | None = None,
        files: Mapping[str, s.FileData] | None = None,
        *,
        input: Any = s._NO_INPUT,
    ) -> Execution:
        """`Sandbox.run_code`, awaited; callbacks may be plain functions or coroutine
        functions."""
        body = s.cell_body(code, timeout if timeout is not None else self.timeout, packages, files, input)
        path = f"/v1/sessions/{self.id}/execute"
        if on_stdout is None and on_stderr is None:
            r = await self._http.request("POST", path, json=body, runs_code=True)
            return Execution.from_json(s.json_object(r))
        async with self._http.stream("POST", path, json=body) as r:
            return await _read_stream(r, on_stdout, on_stderr)

    async def interrupt(self) -> None:
        await self._http.request("POST", f"/v1/sessions/{self.id}/interrupt")

    async def restart(self) -> SessionInfo:
        r = await self._http.request("POST", f"/v1/sessions/{self.id}/restart", runs_code=True)
        self._info = SessionInfo.from_json(s.json_object(r))
        return self._info

    async def tools(self, format: str = "openai") -> list[dict[str, Any]]:
        r = await self._http.request("GET", "/v1/tools", params={"format": format})
        tools = s.json_object(r).get("tools")
        return list(tools) if isinstance(tools, list) else []

    async def call_tool(self, tool_call: Any, format: str = "openai") -> list[dict[str, Any]]:
        r = await self._http.request(
            "POST",
            "/v1/tools/call",
            params={"format": format, "session_id": self.id},
            json=s.tool_call_json(tool_call),
            runs_code=True,
        )
        messages = s.json_object(r).get("messages")
        return list(messages) if isinstance(messages, list) else []

    async def close(self) -> None:
        """Closes the session and the HTTP client; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._info is not None:
                await self._http.request("DELETE", f"/v1/sessions/{self._info.id}")
        except SessionNotFoundError:
            pass
        finally:
            await self._http.close()

    async def __aenter__(self) -> AsyncSandbox:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def async_execute(
    code: str,
    language: str = "python",
    files: Mapping[str, s.FileData] | None = None,
    packages: Sequence[str] | None = None,
    timeout: float | None = None,
    *,
    template: str | None = None,
    memory_mb: int | None = None,
    disk_mb: int | None = None,
    network: bool = False,
    allow_hosts: Sequence[str] | None = None,
    input: Any = s._NO_INPUT,
    api_url: str | None = None,
    api_key: str | None = None,
    request_timeout: float | None = s.DEFAULT_REQUEST_TIMEOUT,
    http_client: httpx.AsyncClient | None = None,
) -> Execution:
    """`execute`, awaited."""
    body = s.cell_body(code, timeout, packages, files, input)
    body.update(s.drop_none({"language": language, "template": template, "memory_mb": memory_mb, "disk_mb": disk_mb}))
    body.update(s.network_fields(network, allow_hosts))
    http = _AsyncHttp(api_url, api_key, request_timeout, http_client)
    try:
        r = await http.request("POST", "/v1/execute", json=body, runs_code=True)
        return Execution.from_json(s.json_object(r))
    finally:
        await http.close()


async def _read_run_stream(r: httpx.Response, on_event: s.RunEventCallback) -> Run:
    if not s.is_event_stream(r):
        await r.aread()
        return Run.from_json(s.json_object(r))
    decoder = s.SSEDecoder()
    lines = r.aiter_lines()
    while True:
        line = await anext(lines, None)
        raw = decoder.finish() if line is None else decoder.feed(line)
        if raw is not None:
            name, payload = s.decode_run_event(*raw)
            result = on_event(name, payload)
            if inspect.isawaitable(result):
                await result
            if name == "run_finished":
                return Run.from_json(payload)
        if line is None:
            raise NetworkError("the event stream ended before the run finished")


class AsyncWorkflows:
    """`Workflows`, awaited; ``on_event`` may be a plain function or a coroutine
    function, ``http_client`` is an `httpx.AsyncClient`, and `iter_runs` is an async
    iterator. ``async with AsyncWorkflows() as wf:`` closes it at the end."""

    _http: _AsyncHttp
    _owns_http: bool

    def __init__(
        self,
        api_url: str | None = None,
        api_key: str | None = None,
        *,
        request_timeout: float | None = s.DEFAULT_REQUEST_TIMEOUT,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._http = _AsyncHttp(api_url, api_key, request_timeout, http_client)
        self._owns_http = True

    @classmethod
    def _over(cls, http: _AsyncHttp) -> AsyncWorkflows:
        wf = cls.__new__(cls)
        wf._http = http
        wf._owns_http = False
        return wf

    @property
    def api_url(self) -> str:
        return self._http.base

    def __repr__(self) -> str:
        return f"AsyncWorkflows(api_url={self._http.base!r})"

    async def save(self, definition: s.Definition, id: str | None = None) -> WorkflowInfo:
        body = s.drop_none({"definition": s.definition_json(definition), "id": id})
        r = await self._http.request("POST", "/v1/workflows", json=body)
        return WorkflowInfo.from_json(s.json_object(r))

    async def get(self, id: str, version: int | None = None) -> WorkflowInfo:
        params = s.drop_none({"version": version})
        r = await self._http.request("GET", f"/v1/workflows/{s.segment(id)}", params=params)
        return WorkflowInfo.from_json(s.json_object(r))

    async def list(self) -> builtins.list[WorkflowInfo]:
        r = await self._http.request("GET", "/v1/workflows")
        return [WorkflowInfo.from_json(w) for w in s.list_of(s.json_object(r), "workflows")]

    async def run(
        self,
        id: str,
        input: Any = None,
        version: int | None = None,
        thread_id: str | None = None,
        wait: bool = True,
        max_steps: int | None = None,
        timeout: float | None = None,
        on_event: s.RunEventCallback | None = None,
    ) -> Run:
        """`Workflows.run`, awaited."""
        s.check_run_mode(wait, on_event)
        body = s.run_body(input, version, None, thread_id, wait, max_steps, timeout)
        return await self._start(s.run_url(id), body, wait, on_event)

    async def run_inline(
        self,
        definition: s.Definition,
        input: Any = None,
        thread_id: str | None = None,
        wait: bool = True,
        max_steps: int | None = None,
        timeout: float | None = None,
        on_event: s.RunEventCallback | None = None,
    ) -> Run:
        """`Workflows.run_inline`, awaited."""
        s.check_run_mode(wait, on_event)
        body = s.run_body(input, None, s.definition_json(definition), thread_id, wait, max_steps, timeout)
        return await self._start(s.run_url(None), body, wait, on_event)

    async def _start(
        self, path: str, body: dict[str, Any], wait: bool, on_event: s.RunEventCallback | None
    ) -> Run:
        if on_event is not None:
            async with self._http.stream("POST", path, json=body) as r:
                return await _read_run_stream(r, on_event)
        r = await self._http.request("POST", path, json=body, runs_code=wait)
        return Run.from_json(s.json_object(r))

    async def get_run(self, id: str) -> Run:
        r = await self._http.request("GET", f"/v1/runs/{s.segment(id)}")
        return Run.from_json(s.json_object(r))

    async def list_runs(
        self,
        workflow_id: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> RunList:
        params = s.drop_none({"workflow_id": workflow_id, "status": status, "limit": limit, "cursor": cursor})
        r = await self._http.request("GET", "/v1/runs", params=params)
        return RunList.from_json(s.json_object(r))

    async def iter_runs(
        self, workflow_id: str | None = None, status: str | None = None, page_size: int | None = None
    ) -> AsyncIterator[Run]:
        cursor: str | None = None
        while True:
            page = await self.list_runs(workflow_id, status, page_size, cursor)
            for run in page.runs:
                yield run
            if not page.next_cursor or not page.runs:
                return
            cursor = page.next_cursor

    async def add_documents(self, collection: str, documents: Iterable[s.Document]) -> CollectionInfo:
        r = await self._http.request(
            "POST", f"/v1/collections/{s.segment(collection)}/documents", json=s.documents_body(documents)
        )
        return CollectionInfo.from_json(s.json_object(r))

    async def search(self, collection: str, query: str, top_k: int = 5) -> builtins.list[SearchHit]:
        r = await self._http.request(
            "GET", f"/v1/collections/{s.segment(collection)}/search", params={"q": query, "top_k": top_k}
        )
        return [SearchHit.from_json(h) for h in s.list_of(s.json_object(r), "results")]

    async def list_collections(self) -> builtins.list[CollectionInfo]:
        r = await self._http.request("GET", "/v1/collections")
        return [CollectionInfo.from_json(c) for c in s.list_of(s.json_object(r), "collections")]

    async def delete_collection(self, name: str) -> None:
        await self._http.request("DELETE", f"/v1/collections/{s.segment(name)}")

    async def close(self) -> None:
        if self._owns_http:
            await self._http.close()

    async def __aenter__(self) -> AsyncWorkflows:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
