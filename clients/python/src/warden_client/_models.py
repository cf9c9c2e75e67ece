"""The values calls return: executions, their results, files, sessions, and workflows
with their runs and document collections.

Each is a plain dataclass built from the server's JSON (``from_json``); fields the
server did not send get their documented default, and fields this version of the client
does not know are kept in ``raw`` rather than lost.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Finding",
    "Result",
    "ExecutionError",
    "ChangedFile",
    "Execution",
    "FileEntry",
    "SessionInfo",
    "WorkflowProblem",
    "WorkflowInfo",
    "RunError",
    "Run",
    "RunList",
    "CollectionInfo",
    "SearchHit",
]


def _b64(value: str | None) -> bytes | None:
    if value is None:
        return None
    try:
        return base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError):
        return None


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _float(v: Any, default: float = 0.0) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else default


def _int(v: Any, default: int = 0) -> int:
    return int(v) if isinstance(v, int) and not isinstance(v, bool) else default


@dataclass(frozen=True)
class Finding:
    """One thing static analysis noticed in the code (the server's docs/ANALYSIS.md)."""

    rule: str
    severity: str
    line: int
    col: int
    message: str

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> Finding:
        return cls(
            rule=str(v.get("rule", "")),
            severity=str(v.get("severity", "")),
            line=_int(v.get("line")),
            col=_int(v.get("col")),
            message=str(v.get("message", "")),
        )


@dataclass(frozen=True)
class Result:
    """A rich result of a cell: the final expression's value (``is_main_result``) or an
    output the cell displayed (a matplotlib figure, ``display(...)``).

    ``data`` is the MIME bundle as sent (binary formats base64-encoded); the properties
    give each format, binary ones (``png``, ``jpeg``) decoded to bytes.
    """

    data: dict[str, str]
    is_main_result: bool = False

    def _get(self, mime: str) -> str | None:
        return self.data.get(mime)

    @property
    def text(self) -> str | None:
        """``text/plain``: the value's ``repr`` (Python), ``util.inspect`` (JavaScript)."""
        return self._get("text/plain")

    @property
    def html(self) -> str | None:
        return self._get("text/html")

    @property
    def markdown(self) -> str | None:
        return self._get("text/markdown")

    @property
    def svg(self) -> str | None:
        return self._get("image/svg+xml")

    @property
    def latex(self) -> str | None:
        return self._get("text/latex")

    @property
    def json(self) -> str | None:
        return self._get("application/json")

    @property
    def png(self) -> bytes | None:
        """``image/png``, decoded: starts with ``b"\\x89PNG"``."""
        return _b64(self._get("image/png"))

    @property
    def jpeg(self) -> bytes | None:
        return _b64(self._get("image/jpeg"))

    @property
    def formats(self) -> list[str]:
        """The MIME types present."""
        return sorted(self.data)


@dataclass(frozen=True)
class ExecutionError:
    """The exception a cell raised: ``name`` (``ValueError``; ``ExitStatus`` in bash),
    ``value`` (its message) and ``traceback`` (the formatted lines, cell frames named
    ``<cell-N>``)."""

    name: str
    value: str
    traceback: list[str] = field(default_factory=list)

    @property
    def traceback_text(self) -> str:
        return "".join(self.traceback)

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> ExecutionError:
        tb = v.get("traceback")
        return cls(
            name=str(v.get("name", "")),
            value=str(v.get("value", "")),
            traceback=[str(x) for x in tb] if isinstance(tb, list) else [],
        )


@dataclass(frozen=True)
class ChangedFile:
    """A file a one-shot `execute` created or changed in ``/workspace``; ``content`` is
    ``None`` when it was too large to come inline (over 64 KiB)."""

    path: str
    size: int
    content: bytes | None = None

    @property
    def text(self) -> str | None:
        """The content as UTF-8 text (``None`` when absent or not UTF-8)."""
        if self.content is None:
            return None
        try:
            return self.content.decode("utf-8")
        except UnicodeDecodeError:
            return None

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> ChangedFile:
        content: bytes | None = None
        raw = v.get("content")
        if isinstance(raw, str):
            content = _b64(raw) if v.get("encoding") == "base64" else raw.encode("utf-8")
        return cls(path=str(v.get("path", "")), size=_int(v.get("size")), content=content)


@dataclass
class Execution:
    """What a cell (or a one-shot run) did.

    ``status`` is ``ok`` or ``error`` (the code raised; ``error`` says what). A cell's
    exception is a result, not a Python exception: only failures of the call itself
    (unknown session, syntax error, policy refusal, dead session, network) raise
    `WardenError`.
    """

    stdout: str = ""
    stderr: str = ""
    results: list[Result] = field(default_factory=list)
    error: ExecutionError | None = None
    execution_count: int = 0
    status: str = "ok"
    timed_out: bool = False
    duration_ms: float = 0.0
    execution_id: str | None = None
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    risk: str | None = None
    findings: list[Finding] = field(default_factory=list)
    secrets: dict[str, int] = field(default_factory=dict)
    files: list[ChangedFile] | None = None
    #: With network: the connections made and refused (``connections``, ``allowed``,
    #: ``denied``, ``bytes_in``, ``bytes_out``, ``error_code`` ``EGRESS_LIMIT`` when a
    #: limit fired), as the server reports them.
    egress: dict[str, Any] | None = None
    #: The JSON value of the variable ``result`` the code assigned (``None`` if none): on
    #: one-shot runs, and on cells run with ``input``.
    result: Any = None
    #: Why the run failed, when it did: ``EXECUTION_ERROR``, ``TIMEOUT``,
    #: ``MEMORY_LIMIT``, ``CPU_LIMIT``, ``KILLED``, ``EGRESS_LIMIT``.
    error_code: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def value(self) -> Result | None:
        """The final expression's value, or ``None`` (a statement, or ``None``)."""
        for r in self.results:
            if r.is_main_result:
                return r
        return None

    @property
    def text(self) -> str | None:
        """The final value's ``text/plain`` (e.g. ``"42"``), or ``None``."""
        v = self.value
        return v.text if v is not None else None

    @property
    def outputs(self) -> list[Result]:
        """The displayed outputs (figures, ``display(...)``), without the final value."""
        return [r for r in self.results if not r.is_main_result]

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> Execution:
        results: list[Result] = []
        outputs = v.get("outputs")
        if isinstance(outputs, list):
            results.extend(Result(data=dict(o)) for o in outputs if isinstance(o, dict))
        value = v.get("value")
        if isinstance(value, dict):
            results.append(Result(data=dict(value), is_main_result=True))
        err = v.get("error")
        findings = v.get("findings")
        secrets = v.get("secrets")
        files = v.get("files")
        return cls(
            stdout=_str(v.get("stdout")) or "",
            stderr=_str(v.get("stderr")) or "",
            results=results,
            error=ExecutionError.from_json(err) if isinstance(err, dict) else None,
            execution_count=_int(v.get("execution_count")),
            status=_str(v.get("status")) or "ok",
            timed_out=bool(v.get("timed_out", False)),
            duration_ms=_float(v.get("duration_ms")),
            execution_id=_str(v.get("execution_id")),
            stdout_truncated=bool(v.get("stdout_truncated", False)),
            stderr_truncated=bool(v.get("stderr_truncated", False)),
            risk=_str(v.get("risk")),
            findings=[Finding.from_json(f) for f in findings if isinstance(f, dict)]
            if isinstance(findings, list)
            else [],
            secrets={str(k): _int(n) for k, n in secrets.items()} if isinstance(secrets, dict) else {},
            result=v.get("result"),
            error_code=_str(v.get("error_code")),
            egress=dict(v["egress"]) if isinstance(v.get("egress"), dict) else None,
            files=[ChangedFile.from_json(f) for f in files if isinstance(f, dict)]
            if isinstance(files, list)
            else None,
            raw=v,
        )


@dataclass(frozen=True)
class FileEntry:
    """A file, directory, symlink or other entry of a session's ``/workspace``."""

    path: str
    name: str
    type: str
    size: int
    mtime: float

    @property
    def is_dir(self) -> bool:
        return self.type == "directory"

    @property
    def is_file(self) -> bool:
        return self.type == "file"

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> FileEntry:
        return cls(
            path=str(v.get("path", "")),
            name=str(v.get("name", "")),
            type=str(v.get("type", "")),
            size=_int(v.get("size")),
            mtime=_float(v.get("mtime")),
        )


@dataclass(frozen=True)
class SessionInfo:
    """A session as the server describes it. ``state`` is ``idle``, ``busy`` or
    ``dead``; times are Unix seconds."""

    id: str
    language: str
    state: str
    created_at: float
    last_used_at: float
    idle_ttl: float
    expires_at: float
    execution_count: int
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> SessionInfo:
        return cls(
            id=str(v.get("id", "")),
            language=str(v.get("language", "")),
            state=str(v.get("state", "")),
            created_at=_float(v.get("created_at")),
            last_used_at=_float(v.get("last_used_at")),
            idle_ttl=_float(v.get("idle_ttl")),
            expires_at=_float(v.get("expires_at")),
            execution_count=_int(v.get("execution_count")),
            raw=v,
        )


# ---------------------------------------------------------------- workflows


def _opt_int(v: Any) -> int | None:
    return int(v) if isinstance(v, int) and not isinstance(v, bool) else None


def _opt_float(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


@dataclass(frozen=True)
class WorkflowProblem:
    """One problem of an invalid workflow definition: the ``node`` (its id) or ``edge``
    (its index in ``edges``) it is about, when there is one, a stable ``code``
    (``unknown_type``, ``unreachable``, ``edge_to_nowhere``, ...; the server's
    docs/WORKFLOWS.md lists them) and a ``message``."""

    node: str | None
    edge: int | None
    code: str
    message: str

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> WorkflowProblem:
        return cls(
            node=_str(v.get("node")),
            edge=_opt_int(v.get("edge")),
            code=str(v.get("code", "")),
            message=str(v.get("message", "")),
        )


@dataclass(frozen=True)
class WorkflowInfo:
    """A stored workflow version. ``version`` counts 1, 2, 3... per ``id`` (a
    definition's own ``version`` field is not it); ``created_at`` is Unix seconds;
    ``definition`` (the stored, normalized JSON) is ``None`` in lists."""

    id: str
    version: int
    name: str
    created_at: float
    definition: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> WorkflowInfo:
        definition = v.get("definition")
        return cls(
            id=str(v.get("id", "")),
            version=_int(v.get("version")),
            name=str(v.get("name", "")),
            created_at=_float(v.get("created_at")),
            definition=definition if isinstance(definition, dict) else None,
            raw=v,
        )


@dataclass(frozen=True)
class RunError:
    """Why a run failed: the ``node`` that failed (``None`` for a failure of the run
    itself, e.g. ``INTERRUPTED``), a stable ``code`` (``EXECUTION_ERROR``, ``TIMEOUT``,
    ``POLICY_DENIED``, ...), the ``message`` and, for code nodes, the ``traceback``."""

    node: str | None
    code: str
    message: str
    traceback: str | None = None

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> RunError:
        tb = v.get("traceback")
        if isinstance(tb, list):
            tb = "".join(str(x) for x in tb)
        return cls(
            node=_str(v.get("node")),
            code=str(v.get("code", "")),
            message=str(v.get("message", "")),
            traceback=tb if isinstance(tb, str) else None,
        )


@dataclass
class Run:
    """A workflow run.

    ``status`` is ``running``, then ``ok`` or ``error``. A node's failure is not a
    Python exception: the run ends with ``status == "error"`` and ``error`` says where
    and why. ``output`` is the ``end`` node's output (``None`` until finished, and when
    the run failed); ``state`` is the final state and ``trace`` one entry per node
    execution (``node``, ``type``, ``status``, ``inputs``, ``outputs``, ``stdout``,
    ``error``, ``started_ms``, ``duration_ms``, ...) — both ``None`` in `list_runs`
    pages. ``workflow_id`` and ``workflow_version`` are ``None`` for inline
    definitions. Times are Unix seconds.
    """

    id: str
    status: str
    workflow_name: str = ""
    workflow_id: str | None = None
    workflow_version: int | None = None
    thread_id: str | None = None
    input: Any = None
    output: Any = None
    state: dict[str, Any] | None = None
    trace: list[dict[str, Any]] | None = None
    error: RunError | None = None
    steps: int = 0
    started_at: float = 0.0
    finished_at: float | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def finished(self) -> bool:
        """Whether the run has ended (``ok`` or ``error``)."""
        return self.status != "running"

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> Run:
        state = v.get("state")
        trace = v.get("trace")
        err = v.get("error")
        return cls(
            id=str(v.get("id", "")),
            status=str(v.get("status", "")),
            workflow_name=str(v.get("workflow_name") or ""),
            workflow_id=_str(v.get("workflow_id")),
            workflow_version=_opt_int(v.get("workflow_version")),
            thread_id=_str(v.get("thread_id")),
            input=v.get("input"),
            output=v.get("output"),
            state=state if isinstance(state, dict) else None,
            trace=[t for t in trace if isinstance(t, dict)] if isinstance(trace, list) else None,
            error=RunError.from_json(err) if isinstance(err, dict) else None,
            steps=_int(v.get("steps")),
            started_at=_float(v.get("started_at")),
            finished_at=_opt_float(v.get("finished_at")),
            raw=v,
        )


@dataclass(frozen=True)
class RunList:
    """One page of `list_runs`: ``runs`` newest first (without ``state`` and
    ``trace``), and ``next_cursor`` for the next page (``None`` on the last)."""

    runs: list[Run]
    next_cursor: str | None = None

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> RunList:
        runs = v.get("runs")
        return cls(
            runs=[Run.from_json(r) for r in runs if isinstance(r, dict)] if isinstance(runs, list) else [],
            next_cursor=_str(v.get("next_cursor")),
        )


@dataclass(frozen=True)
class CollectionInfo:
    """A document collection: its ``name``, how many ``documents`` it holds, and
    ``updated_at`` (Unix seconds of the latest write)."""

    name: str
    documents: int
    updated_at: float

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> CollectionInfo:
        return cls(name=str(v.get("name", "")), documents=_int(v.get("documents")), updated_at=_float(v.get("updated_at")))


@dataclass(frozen=True)
class SearchHit:
    """One ranked document of a search: ``score`` is BM25 (higher is better)."""

    id: str
    score: float
    text: str
    metadata: Any = None

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> SearchHit:
        return cls(
            id=str(v.get("id", "")),
            score=_float(v.get("score")),
            text=str(v.get("text", "")),
            metadata=v.get("metadata"),
        )
