/**
 * warden-client: run untrusted code in warden's Linux sandboxes over its REST API.
 * Sessions with state and streamed output (`Sandbox`), one-shot runs (`execute`),
 * workspace files, function-calling tools for LLM agents, workflows, typed errors with
 * retries, and the code-runner contract of workflow engines (`./adapters`).
 *
 * @module
 */
export { Sandbox, Files, execute, } from "./sandbox.js";
export { Workflows, } from "./workflows.js";
export { Execution, Result, ExecutionError, ChangedFile, FileEntry, SessionInfo, Finding, WorkflowProblem, WorkflowInfo, Run, RunError, RunList, CollectionInfo, SearchHit, } from "./models.js";
export { WardenError, InvalidRequestError, CodeSyntaxError, WorkflowInvalidError, AuthenticationError, PermissionDeniedError, SecurityViolationError, NotFoundError, SessionNotFoundError, SessionBusyError, SessionDeadError, RateLimitError, QuotaExceededError, UnavailableError, NetworkError, TimeoutError, ProtocolError, AbortError, errorFromBody, } from "./errors.js";
export { VERSION, DEFAULT_BASE_URL, DEFAULT_REQUEST_TIMEOUT, DEFAULT_MAX_RETRIES, DEFAULT_MAX_RETRY_DELAY, } from "./http.js";
export { SSEParser, readEvents } from "./sse.js";
export { WardenCodeRunner, WardenSandboxManager, createCodeExecutor, toCodeRunResult, RISK_SETTINGS, } from "./adapters.js";
