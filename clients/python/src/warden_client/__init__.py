"""Python client for warden: run untrusted code in Linux sandboxes over warden's REST API.

- `Sandbox` / `AsyncSandbox`: a session whose state and files persist across cells.
- `execute` / `async_execute`: one program in a fresh, discarded sandbox.
- `Workflows` / `AsyncWorkflows`: stored workflows, their runs, document collections.
- Every failure of a call raises a `WardenError` with the server's stable ``code``.
"""

from ._async import AsyncFiles, AsyncSandbox, AsyncWorkflows, async_execute
from ._errors import (
    AuthenticationError,
    CodeSyntaxError,
    InvalidRequestError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitError,
    SecurityViolationError,
    SessionBusyError,
    SessionDeadError,
    SessionNotFoundError,
    UnavailableError,
    WardenError,
    WorkflowInvalidError,
)
from ._models import (
    ChangedFile,
    CollectionInfo,
    Execution,
    ExecutionError,
    FileEntry,
    Finding,
    Result,
    Run,
    RunError,
    RunList,
    SearchHit,
    SessionInfo,
    WorkflowInfo,
    WorkflowProblem,
)
from ._shared import DEFAULT_API_URL, DEFAULT_REQUEST_TIMEOUT, __version__
from ._sync import Files, Sandbox, Workflows, execute

__all__ = [
    "__version__",
    "DEFAULT_API_URL",
    "DEFAULT_REQUEST_TIMEOUT",
    # sessions and one-shot runs
    "Sandbox",
    "AsyncSandbox",
    "Files",
    "AsyncFiles",
    "execute",
    "async_execute",
    # workflows, runs, collections
    "Workflows",
    "AsyncWorkflows",
    # results
    "Execution",
    "ExecutionError",
    "Result",
    "ChangedFile",
    "FileEntry",
    "Finding",
    "SessionInfo",
    "WorkflowInfo",
    "WorkflowProblem",
    "Run",
    "RunError",
    "RunList",
    "CollectionInfo",
    "SearchHit",
    # errors
    "WardenError",
    "InvalidRequestError",
    "CodeSyntaxError",
    "WorkflowInvalidError",
    "AuthenticationError",
    "PermissionDeniedError",
    "SecurityViolationError",
    "NotFoundError",
    "SessionNotFoundError",
    "SessionBusyError",
    "SessionDeadError",
    "RateLimitError",
    "UnavailableError",
    "NetworkError",
    "ProtocolError",
]
