"""Errors: every failure of a call is a `WardenError` carrying the server's stable code.

The server answers every error with one shape,
``{"error": {"code": "SESSION_NOT_FOUND", "message": "...", ...}}``; the client turns it
into the subclass registered for the code (or `WardenError` itself for the others), so
callers can catch broadly (``except WardenError``), by family (``except NotFoundError``)
or test ``err.code``. Failures that never reached a reply (connection refused, reset,
timed out) raise `NetworkError`, whose code is ``UNAVAILABLE`` like the server's own
"shutting down or full" reply, so one retry rule covers both.
"""

from __future__ import annotations

from typing import Any

from ._models import Finding, WorkflowProblem

__all__ = [
    "WardenError",
    "InvalidRequestError",
    "CodeSyntaxError",
    "WorkflowInvalidError",
    "SecurityViolationError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "SessionNotFoundError",
    "SessionBusyError",
    "SessionDeadError",
    "RateLimitError",
    "UnavailableError",
    "NetworkError",
    "ProtocolError",
    "error_from_body",
]


class WardenError(Exception):
    """A call to warden failed.

    Attributes:
        code: the stable error code (``SESSION_NOT_FOUND``, ``SYNTAX_ERROR``, ...; see the
            server's docs/ERRORS.md), or a client-side code: ``UNAVAILABLE`` for network
            failures (`NetworkError`), ``UNEXPECTED_RESPONSE`` for a reply that is not
            warden's (`ProtocolError`).
        message: the server's human-readable message.
        status: the HTTP status, or ``None`` when no reply arrived (or the error came
            inside an event stream, whose HTTP status was 200).
        details: every other field of the error object (``line``, ``col``, ``risk``,
            ``findings``, ...), as sent.
        retry_after: seconds from the ``Retry-After`` header (429 replies), else ``None``.
    """

    code: str
    message: str
    status: int | None
    details: dict[str, Any]
    retry_after: float | None

    def __init__(
        self,
        code: str,
        message: str,
        status: int | None = None,
        details: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.details = dict(details or {})
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, status={self.status!r})"


class InvalidRequestError(WardenError):
    """``INVALID_REQUEST``, ``INVALID_PATH``, ``PAYLOAD_TOO_LARGE``: the request itself
    was wrong (a bad field, path or size); retrying it unchanged will not help."""


class CodeSyntaxError(InvalidRequestError):
    """``SYNTAX_ERROR``: the code does not parse, nothing ran. ``line`` and ``col`` (from
    1, columns in characters) say where."""

    @property
    def line(self) -> int | None:
        v = self.details.get("line")
        return v if isinstance(v, int) else None

    @property
    def col(self) -> int | None:
        v = self.details.get("col")
        return v if isinstance(v, int) else None


class WorkflowInvalidError(InvalidRequestError):
    """``WORKFLOW_INVALID``: a workflow definition does not load or does not validate;
    nothing was stored and nothing ran. ``problems`` lists every problem, each with the
    node (or edge) it is about."""

    @property
    def problems(self) -> list[WorkflowProblem]:
        raw = self.details.get("problems")
        if not isinstance(raw, list):
            return []
        return [WorkflowProblem.from_json(p) for p in raw if isinstance(p, dict)]


class AuthenticationError(WardenError):
    """``UNAUTHORIZED``: no valid API key (missing, malformed, unknown or revoked)."""


class PermissionDeniedError(WardenError):
    """``FORBIDDEN``, ``POLICY_DENIED``, ``PATH_FORBIDDEN``, ``PACKAGE_NOT_ALLOWED``: the
    key, the tenant's policy or the workspace does not allow this."""


class SecurityViolationError(PermissionDeniedError):
    """``SECURITY_VIOLATION``: the tenant's policy refuses code of this risk level;
    ``risk`` and ``findings`` say why. Nothing ran."""

    @property
    def risk(self) -> str | None:
        v = self.details.get("risk")
        return v if isinstance(v, str) else None

    @property
    def findings(self) -> list[Finding]:
        raw = self.details.get("findings")
        if not isinstance(raw, list):
            return []
        return [Finding.from_json(f) for f in raw if isinstance(f, dict)]


class NotFoundError(WardenError):
    """``NOT_FOUND``, ``FILE_NOT_FOUND``, ``EXECUTION_NOT_FOUND``,
    ``TEMPLATE_NOT_FOUND``, ``WORKFLOW_NOT_FOUND``, ``RUN_NOT_FOUND``,
    ``COLLECTION_NOT_FOUND`` (and `SessionNotFoundError`)."""


class SessionNotFoundError(NotFoundError):
    """``SESSION_NOT_FOUND``: no such session, it expired, or it belongs to another
    tenant."""


class SessionBusyError(WardenError):
    """``SESSION_BUSY``: the session is running another cell (requests are not
    queued)."""


class SessionDeadError(WardenError):
    """``SESSION_DEAD``: the session's interpreter is gone (a limit, a timeout that would
    not stop, an exit); `Sandbox.restart` brings it back."""


class RateLimitError(WardenError):
    """``RATE_LIMITED``, ``QUOTA_EXCEEDED``: try again after ``retry_after`` seconds."""


class UnavailableError(WardenError):
    """``UNAVAILABLE``, ``SANDBOX_SETUP_FAILED``, ``RUNTIME_NOT_FOUND``: the server
    cannot do this now (shutting down, full, cannot start a sandbox)."""


class NetworkError(UnavailableError):
    """No reply: the server could not be reached, the connection failed or timed out, or
    a stream ended before its result. ``code`` is ``UNAVAILABLE``, ``status`` is
    ``None``, ``details["cause"]`` names the underlying exception's type (which is also
    ``__cause__``)."""

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        details = {"cause": type(cause).__name__} if cause is not None else {}
        super().__init__("UNAVAILABLE", message, None, details)


class ProtocolError(WardenError):
    """A reply that is not warden's error shape or not the JSON expected (a proxy's
    error page, a server of another kind). ``code`` is ``UNEXPECTED_RESPONSE``."""


_BY_CODE: dict[str, type[WardenError]] = {
    "INVALID_REQUEST": InvalidRequestError,
    "INVALID_PATH": InvalidRequestError,
    "PAYLOAD_TOO_LARGE": InvalidRequestError,
    "SYNTAX_ERROR": CodeSyntaxError,
    "WORKFLOW_INVALID": WorkflowInvalidError,
    "UNAUTHORIZED": AuthenticationError,
    "FORBIDDEN": PermissionDeniedError,
    "POLICY_DENIED": PermissionDeniedError,
    "PATH_FORBIDDEN": PermissionDeniedError,
    "PACKAGE_NOT_ALLOWED": PermissionDeniedError,
    "SECURITY_VIOLATION": SecurityViolationError,
    "NOT_FOUND": NotFoundError,
    "FILE_NOT_FOUND": NotFoundError,
    "EXECUTION_NOT_FOUND": NotFoundError,
    "TEMPLATE_NOT_FOUND": NotFoundError,
    "WORKFLOW_NOT_FOUND": NotFoundError,
    "RUN_NOT_FOUND": NotFoundError,
    "COLLECTION_NOT_FOUND": NotFoundError,
    "SESSION_NOT_FOUND": SessionNotFoundError,
    "SESSION_BUSY": SessionBusyError,
    "SESSION_DEAD": SessionDeadError,
    "RATE_LIMITED": RateLimitError,
    "QUOTA_EXCEEDED": RateLimitError,
    "UNAVAILABLE": UnavailableError,
    "SANDBOX_SETUP_FAILED": UnavailableError,
    "RUNTIME_NOT_FOUND": UnavailableError,
}


def error_from_body(
    body: Any, status: int | None, retry_after: float | None = None
) -> WardenError | None:
    """The exception for an error body ``{"error": {"code", "message", ...}}``, or
    ``None`` if ``body`` is not of that shape."""
    if not isinstance(body, dict):
        return None
    err = body.get("error")
    if not isinstance(err, dict) or not isinstance(err.get("code"), str):
        return None
    code: str = err["code"]
    message = err.get("message")
    details = {k: v for k, v in err.items() if k not in ("code", "message")}
    cls = _BY_CODE.get(code, WardenError)
    return cls(code, message if isinstance(message, str) else "", status, details, retry_after)
