"""The synchronous client: `Sandbox` (a session), its `Files`, one-shot `execute`, and
`Workflows` (stored workflows, their runs, document collections)."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
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

__all__ = ["Sandbox", "Files", "execute", "Workflows"]

_UPLOAD_CHUNK = 1 << 16


class _Http:
    """One base URL and key over an `httpx.Client`; every reply checked, every transport
    failure turned into `NetworkError`."""

    def __init__(
        self,
        api_url: str | None,
        api_key: str | None,
        request_timeout: float | None,
        http_client: httpx.Client | None,
    ) -> None:
        self.base = s.resolve_api_url(api_url)
        self.headers = s.base_headers(s.resolve_api_key(api_key))
        self.timeout, self.run_timeout = s.timeouts(request_timeout)
        self._owns_client = http_client is None
        self.client = http_client if http_client is not None else httpx.Client()

    def request(
        self,
        method: str,
        path: str,
        *,
        runs_code: bool = False,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        try:
            r = self.client.request(
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

    @contextmanager
    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """A streamed request that runs code; a non-2xx reply raises before yielding."""
        try:
            with self.client.stream(
                method,
                self.base + path,
                headers={**self.headers, "accept": "text/event-stream"},
                timeout=self.run_timeout,
                **kwargs,
            ) as r:
                if not 200 <= r.status_code < 300:
                    r.read()
                    s.check(r)
                yield r
        except httpx.TransportError as e:
            raise NetworkError(f"{method} {path}: {e or type(e).__name__}", e) from e

    def close(self) -> None:
        if self._owns_client:
            self.client.close()


def _read_stream(r: httpx.Response, on_stdout: s.OutputCallback | None, on_stderr: s.OutputCallback | None) -> Execution:
    if not s.is_event_stream(r):
        # A server (or proxy) that answered in JSON after all.
        r.read()
        return Execution.from_json(s.json_object(r))
    decoder = s.SSEDecoder()
    lines = r.iter_lines()
    while True:
        line = next(lines, None)
        raw = decoder.finish() if line is None else decoder.feed(line)
        event = s.decode_event(*raw) if raw is not None else None
        if event is not None:
            if event.kind == "result" and event.execution is not None:
                return event.execution
            callback = on_stdout if event.kind == "stdout" else on_stderr if event.kind == "stderr" else None
            if callback is not None and event.text:
                callback(event.text)
        if line is None:
            raise NetworkError("the event stream ended before the cell's result")


class Files:
    """The session's ``/workspace``: paths are relative to it (a leading
    ``/workspace/`` is accepted and dropped). Available while a cell runs."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sb = sandbox

    def _url(self, path: str) -> str:
        return f"/v1/sessions/{self._sb.id}/files/{s.workspace_path(path)}"

    def write(self, path: str, data: bytes | str | IO[bytes]) -> FileEntry:
        """Writes a file (parent directories are made; an existing file is replaced once
        the new one is complete). ``str`` is written as UTF-8; a binary file object is
        streamed in chunks."""
        content: Any
        if isinstance(data, str):
            content = data.encode("utf-8")
        elif isinstance(data, (bytes, bytearray, memoryview)):
            content = bytes(data)
        elif hasattr(data, "read"):
            f = data

            def chunks() -> Iterator[bytes]:
                while chunk := f.read(_UPLOAD_CHUNK):
                    yield chunk

            content = chunks()
        else:
            raise TypeError(f"data must be bytes, str or a binary file, not {type(data).__name__}")
        r = self._sb._http.request("PUT", self._url(path), content=content, runs_code=True)
        return FileEntry.from_json(s.json_object(r))

    def read(self, path: str) -> bytes:
        """A regular file's bytes (``FILE_NOT_FOUND``, ``INVALID_PATH`` for a
        directory, ``PATH_FORBIDDEN`` for a symlink)."""
        return self._sb._http.request("GET", self._url(path), runs_code=True).content

    def read_text(self, path: str, encoding: str = "utf-8") -> str:
        return self.read(path).decode(encoding)

    def remove(self, path: str) -> None:
        """Removes a file, a symlink (not its target), or a directory with its contents."""
        self._sb._http.request("DELETE", self._url(path))

    def exists(self, path: str) -> bool:
        """Whether ``path`` names an entry of any type (a missing parent is ``False``)."""
        parent, _, name = s.relative_path(path).rstrip("/").rpartition("/")
        try:
            entries = self.list(parent)
        except SessionNotFoundError:
            raise
        except (NotFoundError, InvalidRequestError):
            return False
        return any(e.name == name for e in entries)

    def list(self, path: str = "") -> builtins.list[FileEntry]:
        """The entries of a directory (``""``: ``/workspace`` itself), sorted by name."""
        params = {"path": s.relative_path(path).rstrip("/")}
        r = self._sb._http.request("GET", f"/v1/sessions/{self._sb.id}/files", params=params)
        entries = s.json_object(r).get("entries")
        return [FileEntry.from_json(e) for e in entries if isinstance(e, dict)] if isinstance(entries, builtins.list) else []


class Sandbox:
    """A session: one sandbox with a long-lived interpreter whose variables, imports and
    ``/workspace`` files persist across `run_code` calls.

    Constructing it creates the session (``POST /v1/sessions``), or attaches to an
    existing one when ``session_id`` is given (see `connect`). As a context manager it
    closes the session on exit::

        with Sandbox() as sb:
            sb.run_code("x = 41")
            print(sb.run_code("x + 1").text)  # 42

    Args:
        api_url: the server, e.g. ``http://127.0.0.1:8080``; default ``$WARDEN_API_URL``,
            else ``http://127.0.0.1:8080``.
        api_key: sent as ``Authorization: Bearer``; default ``$WARDEN_API_KEY`` (none
            for a server in ``--dev`` mode).
        language: ``python``, ``javascript`` or ``bash``.
        template: a template built on the server (preinstalled packages).
        packages: Python packages for this session (from the tenant's allowlist).
        timeout: the default per-cell timeout in seconds for `run_code` (``None``: the
            server's default, 30 s).
        idle_ttl, max_lifetime: seconds; the server's defaults when ``None``.
        memory_mb, disk_mb: the session's own limits (it then does not come from the
            pre-started pool).
        session_id: attach to this existing session instead of creating one.
        network: give the sandbox network egress through warden's proxy: HTTP and HTTPS
            to the hosts the tenant's policy ``egress`` allows (refused with
            ``POLICY_DENIED`` under a policy without it). Default: no network.
        allow_hosts: with ``network``, a narrower allowlist than the policy's.
        request_timeout: seconds for connecting and for requests that do not run code.
        http_client: an `httpx.Client` to use (its timeouts are overridden per request;
            it is not closed by `close`).
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
        http_client: httpx.Client | None = None,
    ) -> None:
        self._http = _Http(api_url, api_key, request_timeout, http_client)
        self.timeout = timeout
        self._closed = False
        try:
            if session_id is not None:
                r = self._http.request("GET", f"/v1/sessions/{s.segment(session_id)}")
            else:
                body = s.session_body(
                    language, template, packages, idle_ttl, max_lifetime, memory_mb, disk_mb, network, allow_hosts
                )
                r = self._http.request("POST", "/v1/sessions", json=body)
            self._info = SessionInfo.from_json(s.json_object(r))
        except BaseException:
            self._http.close()
            raise
        self.files = Files(self)
        self.workflows = Workflows._over(self._http)
        """The tenant's workflows, runs and collections, over this sandbox's server and
        key (a `Workflows` that this sandbox's `close` ends with it)."""

    @classmethod
    def connect(cls, session_id: str, api_url: str | None = None, api_key: str | None = None, **kwargs: Any) -> Sandbox:
        """Attaches to an existing session (``SESSION_NOT_FOUND`` if there is none)."""
        return cls(api_url=api_url, api_key=api_key, session_id=session_id, **kwargs)

    @property
    def id(self) -> str:
        """The session id (``ses_...``)."""
        return self._info.id

    @property
    def language(self) -> str:
        return self._info.language

    @property
    def api_url(self) -> str:
        return self._http.base

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self) -> str:
        return f"Sandbox(id={self.id!r}, language={self.language!r}, api_url={self._http.base!r})"

    def info(self) -> SessionInfo:
        """The session's current state (``GET /v1/sessions/{id}``)."""
        r = self._http.request("GET", f"/v1/sessions/{self.id}")
        self._info = SessionInfo.from_json(s.json_object(r))
        return self._info

    def run_code(
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
        """Runs one cell and returns what it did.

        With ``on_stdout`` or ``on_stderr`` the output streams (Server-Sent Events) and
        each callback is called with text chunks as they arrive, before this returns.
        ``timeout`` (seconds) interrupts the cell (default: the sandbox's ``timeout``).
        ``files`` are placed in ``/workspace`` first (text, or bytes).

        A cell that raises is not an exception here: see ``Execution.error``. Raises
        `WardenError` when the cell could not run: ``SYNTAX_ERROR`` (`CodeSyntaxError`),
        ``SECURITY_VIOLATION``, ``SESSION_BUSY``, ``SESSION_DEAD``, ...
        """
        body = s.cell_body(code, timeout if timeout is not None else self.timeout, packages, files, input)
        path = f"/v1/sessions/{self.id}/execute"
        if on_stdout is None and on_stderr is None:
            r = self._http.request("POST", path, json=body, runs_code=True)
            return Execution.from_json(s.json_object(r))
        with self._http.stream("POST", path, json=body) as r:
            return _read_stream(r, on_stdout, on_stderr)

    def interrupt(self) -> None:
        """Interrupts the running cell, as Ctrl-C would (it ends with a
        ``KeyboardInterrupt`` error); harmless when idle. Safe to call from another
        thread while `run_code` waits."""
        self._http.request("POST", f"/v1/sessions/{self.id}/interrupt")

    def restart(self) -> SessionInfo:
        """Replaces the interpreter with a fresh one (variables are lost)."""
        r = self._http.request("POST", f"/v1/sessions/{self.id}/restart", runs_code=True)
        self._info = SessionInfo.from_json(s.json_object(r))
        return self._info

    def tools(self, format: str = "openai") -> list[dict[str, Any]]:
        """warden's tool definitions for a model (``GET /v1/tools``): ``openai``
        (chat-completions ``tools``) or ``anthropic``."""
        r = self._http.request("GET", "/v1/tools", params={"format": format})
        tools = s.json_object(r).get("tools")
        return list(tools) if isinstance(tools, list) else []

    def call_tool(self, tool_call: Any, format: str = "openai") -> list[dict[str, Any]]:
        """Runs one tool call exactly as the model emitted it, in this session, and
        returns the messages to append to the conversation (a ``tool`` message, and a
        ``user`` message with images when the code made any). Tool failures come back as
        a message whose content starts with ``error [CODE]:``, not as exceptions."""
        r = self._http.request(
            "POST",
            "/v1/tools/call",
            params={"format": format, "session_id": self.id},
            json=s.tool_call_json(tool_call),
            runs_code=True,
        )
        messages = s.json_object(r).get("messages")
        return list(messages) if isinstance(messages, list) else []

    def close(self) -> None:
        """Closes the session (its sandbox, processes and files are gone) and the HTTP
        client. Idempotent; a session that already expired is not an error."""
        if self._closed:
            return
        self._closed = True
        try:
            self._http.request("DELETE", f"/v1/sessions/{self.id}")
        except SessionNotFoundError:
            pass
        finally:
            self._http.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def execute(
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
    http_client: httpx.Client | None = None,
) -> Execution:
    """Runs code once in a fresh sandbox that is discarded after (``POST /v1/execute``).

    ``files`` are placed in ``/workspace`` first; ``Execution.files`` lists the files
    the code created or changed (content inline up to 64 KiB).
    """
    body = s.cell_body(code, timeout, packages, files, input)
    body.update(s.drop_none({"language": language, "template": template, "memory_mb": memory_mb, "disk_mb": disk_mb}))
    body.update(s.network_fields(network, allow_hosts))
    http = _Http(api_url, api_key, request_timeout, http_client)
    try:
        r = http.request("POST", "/v1/execute", json=body, runs_code=True)
        return Execution.from_json(s.json_object(r))
    finally:
        http.close()


def _read_run_stream(r: httpx.Response, on_event: s.RunEventCallback) -> Run:
    if not s.is_event_stream(r):
        r.read()
        return Run.from_json(s.json_object(r))
    decoder = s.SSEDecoder()
    lines = r.iter_lines()
    while True:
        line = next(lines, None)
        raw = decoder.finish() if line is None else decoder.feed(line)
        if raw is not None:
            name, payload = s.decode_run_event(*raw)
            on_event(name, payload)
            if name == "run_finished":
                return Run.from_json(payload)
        if line is None:
            raise NetworkError("the event stream ended before the run finished")


class Workflows:
    """The tenant's stored workflows, their runs, and the document collections that
    ``retrieval`` nodes search (the server's docs/WORKFLOWS.md)::

        with Workflows() as wf:
            wf.save(Path("flow.yaml"))
            run = wf.run("my_flow", {"x": 1})
            print(run.status, run.output)

    A `Sandbox` has one over its own connection: ``sb.workflows``.

    Args:
        api_url, api_key: as for `Sandbox` (``$WARDEN_API_URL``, ``$WARDEN_API_KEY``).
        request_timeout: seconds for connecting and for requests that do not wait for a
            run (runs that are waited for or streamed have no read limit: the server
            bounds them with ``timeout`` and its ``--flow-max-duration``).
        http_client: an `httpx.Client` to use (not closed by `close`).
    """

    _http: _Http
    _owns_http: bool

    def __init__(
        self,
        api_url: str | None = None,
        api_key: str | None = None,
        *,
        request_timeout: float | None = s.DEFAULT_REQUEST_TIMEOUT,
        http_client: httpx.Client | None = None,
    ) -> None:
        self._http = _Http(api_url, api_key, request_timeout, http_client)
        self._owns_http = True

    @classmethod
    def _over(cls, http: _Http) -> Workflows:
        wf = cls.__new__(cls)
        wf._http = http
        wf._owns_http = False
        return wf

    @property
    def api_url(self) -> str:
        return self._http.base

    def __repr__(self) -> str:
        return f"Workflows(api_url={self._http.base!r})"

    # ---- workflows

    def save(self, definition: s.Definition, id: str | None = None) -> WorkflowInfo:
        """Stores ``definition`` (a mapping, YAML/JSON text, or a `pathlib.Path`) as the
        next version of ``id`` (default: its ``name``) and returns that version. An
        invalid definition raises `WorkflowInvalidError` with every problem."""
        body = s.drop_none({"definition": s.definition_json(definition), "id": id})
        r = self._http.request("POST", "/v1/workflows", json=body)
        return WorkflowInfo.from_json(s.json_object(r))

    def get(self, id: str, version: int | None = None) -> WorkflowInfo:
        """One stored version (the latest without ``version``), with its ``definition``
        (``WORKFLOW_NOT_FOUND``: `NotFoundError`)."""
        params = s.drop_none({"version": version})
        r = self._http.request("GET", f"/v1/workflows/{s.segment(id)}", params=params)
        return WorkflowInfo.from_json(s.json_object(r))

    def list(self) -> builtins.list[WorkflowInfo]:
        """The latest version of each stored workflow (without definitions)."""
        r = self._http.request("GET", "/v1/workflows")
        return [WorkflowInfo.from_json(w) for w in s.list_of(s.json_object(r), "workflows")]

    # ---- runs

    def run(
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
        """Runs a stored workflow (the latest version unless ``version``) with ``input``
        (the state starts as ``{"inputs": input}``) and returns the run.

        By default this returns when the run has finished (``status`` ``ok`` or
        ``error``: a node's failure is a result, see ``Run.error``, not an exception).
        ``wait=False`` returns at once with the run ``running``; poll `get_run`. With
        ``on_event`` the run streams (Server-Sent Events): ``on_event(name, payload)`` is
        called with ``run_started`` (the run), ``node_started`` (``{node, type,
        step}``), ``node_retrying`` (``{node, attempt, wait_ms, error}``),
        ``node_finished`` (``{entry}``: the trace entry) and ``run_finished`` (the
        stored run) as they happen, and the run of ``run_finished`` is returned.
        ``max_steps`` and ``timeout`` (seconds) lower the server's limits. The run goes
        on to its end on the server even if this call is abandoned.
        """
        s.check_run_mode(wait, on_event)
        body = s.run_body(input, version, None, thread_id, wait, max_steps, timeout)
        return self._start(s.run_url(id), body, wait, on_event)

    def run_inline(
        self,
        definition: s.Definition,
        input: Any = None,
        thread_id: str | None = None,
        wait: bool = True,
        max_steps: int | None = None,
        timeout: float | None = None,
        on_event: s.RunEventCallback | None = None,
    ) -> Run:
        """Runs a definition without storing it (``POST /v1/runs``); otherwise as
        `run`. An invalid definition raises `WorkflowInvalidError` and nothing runs."""
        s.check_run_mode(wait, on_event)
        body = s.run_body(input, None, s.definition_json(definition), thread_id, wait, max_steps, timeout)
        return self._start(s.run_url(None), body, wait, on_event)

    def _start(self, path: str, body: dict[str, Any], wait: bool, on_event: s.RunEventCallback | None) -> Run:
        if on_event is not None:
            with self._http.stream("POST", path, json=body) as r:
                return _read_run_stream(r, on_event)
        r = self._http.request("POST", path, json=body, runs_code=wait)
        return Run.from_json(s.json_object(r))

    def get_run(self, id: str) -> Run:
        """A run with its state and trace (``RUN_NOT_FOUND``: `NotFoundError`)."""
        r = self._http.request("GET", f"/v1/runs/{s.segment(id)}")
        return Run.from_json(s.json_object(r))

    def list_runs(
        self,
        workflow_id: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> RunList:
        """One page of runs, newest first, without ``state`` and ``trace``: only of
        ``workflow_id``, only with ``status`` (``running``, ``ok``, ``error``); ``limit``
        runs (1 to 1000, default 100) after ``cursor`` (``next_cursor`` of the previous
        page). `iter_runs` follows the pages."""
        params = s.drop_none({"workflow_id": workflow_id, "status": status, "limit": limit, "cursor": cursor})
        r = self._http.request("GET", "/v1/runs", params=params)
        return RunList.from_json(s.json_object(r))

    def iter_runs(
        self, workflow_id: str | None = None, status: str | None = None, page_size: int | None = None
    ) -> Iterator[Run]:
        """Every run (with the filters of `list_runs`), newest first, a page at a time."""
        cursor: str | None = None
        while True:
            page = self.list_runs(workflow_id, status, page_size, cursor)
            yield from page.runs
            if not page.next_cursor or not page.runs:
                return
            cursor = page.next_cursor

    # ---- collections

    def add_documents(self, collection: str, documents: Iterable[s.Document]) -> CollectionInfo:
        """Adds documents to ``collection`` (created by its first): each a text, or
        ``{"text", "id"?, "metadata"?}``. A document with a stored id replaces it;
        documents without one get ``doc-N``. At most 10,000 per call, 1 MiB each."""
        r = self._http.request(
            "POST", f"/v1/collections/{s.segment(collection)}/documents", json=s.documents_body(documents)
        )
        return CollectionInfo.from_json(s.json_object(r))

    def search(self, collection: str, query: str, top_k: int = 5) -> builtins.list[SearchHit]:
        """The ``top_k`` best documents for ``query`` (free text; BM25 ranking, as a
        ``retrieval`` node searches), best first (``COLLECTION_NOT_FOUND``:
        `NotFoundError`)."""
        r = self._http.request(
            "GET", f"/v1/collections/{s.segment(collection)}/search", params={"q": query, "top_k": top_k}
        )
        return [SearchHit.from_json(h) for h in s.list_of(s.json_object(r), "results")]

    def list_collections(self) -> builtins.list[CollectionInfo]:
        r = self._http.request("GET", "/v1/collections")
        return [CollectionInfo.from_json(c) for c in s.list_of(s.json_object(r), "collections")]

    def delete_collection(self, name: str) -> None:
        """Deletes a collection and its documents (``COLLECTION_NOT_FOUND``:
        `NotFoundError`)."""
        self._http.request("DELETE", f"/v1/collections/{s.segment(name)}")

    # ----

    def close(self) -> None:
        """Closes the HTTP client (not one given as ``http_client``, nor a sandbox's)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Workflows:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
