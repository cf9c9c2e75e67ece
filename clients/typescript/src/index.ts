/**
 * warden-client: run untrusted code in warden's Linux sandboxes over its REST API.
 * Sessions with state and streamed output (`Sandbox`), one-shot runs (`execute`),
 * workspace files, function-calling tools for LLM agents, workflows, typed errors with
 * retries, and the code-runner contract of workflow engines (`./adapters`).
 *
 * @module
 */

export {
  Sandbox,
  Files,
  execute,
  type Language,
  type SandboxOptions,
  type RunCodeOptions,
  type OutputCallback,
  type ExecuteOptions,
  type FileInput,
  type ToolFormat,
} from "./sandbox.js";
export {
  Workflows,
  type Definition,
  type Document,
  type RunOptions,
  type RunEventName,
  type RunEventCallback,
} from "./workflows.js";
export {
  Execution,
  Result,
  ExecutionError,
  ChangedFile,
  FileEntry,
  SessionInfo,
  Finding,
  WorkflowProblem,
  WorkflowInfo,
  Run,
  RunError,
  RunList,
  CollectionInfo,
  SearchHit,
  type Json,
  type JsonObject,
} from "./models.js";
export {
  WardenError,
  InvalidRequestError,
  CodeSyntaxError,
  WorkflowInvalidError,
  AuthenticationError,
  PermissionDeniedError,
  SecurityViolationError,
  NotFoundError,
  SessionNotFoundError,
  SessionBusyError,
  SessionDeadError,
  RateLimitError,
  QuotaExceededError,
  UnavailableError,
  NetworkError,
  TimeoutError,
  ProtocolError,
  AbortError,
  errorFromBody,
  type ErrorBody,
} from "./errors.js";
export {
  VERSION,
  DEFAULT_BASE_URL,
  DEFAULT_REQUEST_TIMEOUT,
  DEFAULT_MAX_RETRIES,
  DEFAULT_MAX_RETRY_DELAY,
  type ClientOptions,
} from "./http.js";
export { SSEParser, readEvents, type SSEEvent } from "./sse.js";
export { type FileData, type InlineFiles } from "./shared.js";
export {
  WardenCodeRunner,
  WardenSandboxManager,
  createCodeExecutor,
  toCodeRunResult,
  RISK_SETTINGS,
  type CodeRunner,
  type CodeRunResult,
  type CodeRunOptions,
  type CodeRunnerOptions,
  type ManagedSandboxOptions,
  type RiskLevel,
  type RiskSettings,
  type CodeExecutor,
  type CodeExecutorOptions,
} from "./adapters.js";
