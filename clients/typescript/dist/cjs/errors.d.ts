/**
 * Errors: every failure of a call is a `WardenError` carrying the server's stable code.
 *
 * The server answers every error with one shape,
 * `{"error": {"code": "SESSION_NOT_FOUND", "message": "...", ...}}`; the client turns it
 * into the class registered for the code (or `WardenError` itself for the others), so
 * callers can catch broadly (`instanceof WardenError`), by family
 * (`instanceof NotFoundError`) or test `err.code`. Failures that never reached a reply
 * raise `NetworkError`, whose code is `UNAVAILABLE` like the server's own "shutting down
 * or full" reply, so one retry rule covers both.
 *
 * @module
 */
import { Finding, WorkflowProblem } from "./models.js";
/** The error object of a warden error reply, as sent. */
export interface ErrorBody {
    code: string;
    message: string;
    [field: string]: unknown;
}
/** A call to warden failed. */
export declare class WardenError extends Error {
    /**
     * The stable error code (`SESSION_NOT_FOUND`, `SYNTAX_ERROR`, ...; the server's
     * docs/ERRORS.md), or a client-side one: `UNAVAILABLE` when no reply arrived
     * (`NetworkError`), `TIMEOUT` when the client stopped waiting (`TimeoutError`),
     * `UNEXPECTED_RESPONSE` for a reply that is not warden's (`ProtocolError`), `ABORTED`
     * when the caller's `AbortSignal` fired (`AbortError`).
     */
    readonly code: string;
    /** The server's HTTP status, or `null` when no reply arrived (or the error came inside
     * an event stream, whose HTTP status was 200). */
    readonly status: number | null;
    /** Every other field of the server's error object (`line`, `col`, `risk`, `findings`,
     * `problems`, ...), as sent; for client-side errors, `cause` names what failed. */
    readonly details: Record<string, unknown>;
    /** Seconds from the reply's `Retry-After` header (429 and 503 replies), else `null`. */
    readonly retryAfter: number | null;
    constructor(code: string, message: string, status?: number | null, details?: Record<string, unknown>, retryAfter?: number | null, options?: {
        cause?: unknown;
    });
    toString(): string;
}
/** `INVALID_REQUEST`, `INVALID_PATH`, `PAYLOAD_TOO_LARGE`: the request itself was wrong
 * (a bad field, path or size); retrying it unchanged will not help. */
export declare class InvalidRequestError extends WardenError {
}
/** `SYNTAX_ERROR`: the code does not parse; nothing ran. `line` and `col` (from 1,
 * columns in characters) say where. */
export declare class CodeSyntaxError extends InvalidRequestError {
    get line(): number | null;
    get col(): number | null;
}
/** `WORKFLOW_INVALID`: a workflow definition does not load or does not validate; nothing
 * was stored and nothing ran. `problems` lists every problem, each with the node (or
 * edge) it is about. */
export declare class WorkflowInvalidError extends InvalidRequestError {
    get problems(): WorkflowProblem[];
}
/** `UNAUTHORIZED`: no valid API key (missing, malformed, unknown or revoked). */
export declare class AuthenticationError extends WardenError {
}
/** `FORBIDDEN`, `POLICY_DENIED`, `PATH_FORBIDDEN`, `PACKAGE_NOT_ALLOWED`: the key, the
 * tenant's policy or the workspace does not allow this. */
export declare class PermissionDeniedError extends WardenError {
}
/** `SECURITY_VIOLATION`: the tenant's policy refuses code of this risk level; `risk` and
 * `findings` say why. Nothing ran. */
export declare class SecurityViolationError extends PermissionDeniedError {
    get risk(): string | null;
    get findings(): Finding[];
}
/** `NOT_FOUND`, `FILE_NOT_FOUND`, `EXECUTION_NOT_FOUND`, `TEMPLATE_NOT_FOUND`,
 * `WORKFLOW_NOT_FOUND`, `RUN_NOT_FOUND`, `COLLECTION_NOT_FOUND` (and
 * `SessionNotFoundError`). */
export declare class NotFoundError extends WardenError {
}
/** `SESSION_NOT_FOUND`: no such session, it expired, or it belongs to another tenant. */
export declare class SessionNotFoundError extends NotFoundError {
}
/** `SESSION_BUSY`: the session is running another cell (requests are not queued). */
export declare class SessionBusyError extends WardenError {
}
/** `SESSION_DEAD`: the session's interpreter is gone (a limit, a timeout that would not
 * stop, an exit); `Sandbox.restart()` brings it back. */
export declare class SessionDeadError extends WardenError {
}
/** `RATE_LIMITED`: over the tenant's `executions_per_minute`; try again after
 * `retryAfter` seconds. */
export declare class RateLimitError extends WardenError {
}
/** `QUOTA_EXCEEDED`: a quota is used up (`max_sessions` live sessions, or
 * `cpu_seconds_per_day`); try again after `retryAfter` seconds. */
export declare class QuotaExceededError extends WardenError {
}
/** `UNAVAILABLE`, `SANDBOX_SETUP_FAILED`, `RUNTIME_NOT_FOUND`: the server cannot do this
 * now (shutting down, full, cannot start a sandbox). */
export declare class UnavailableError extends WardenError {
}
/**
 * No reply: the server could not be reached, the connection failed, or a stream ended
 * before its result. `code` is `UNAVAILABLE`, `status` is `null`, `details.cause` names
 * the underlying error (which is also `cause`).
 */
export declare class NetworkError extends UnavailableError {
    constructor(message: string, cause?: unknown);
}
/**
 * The client stopped waiting: a request that does not run code took longer than
 * `requestTimeout`. `code` is `TIMEOUT`, `status` is `null`. (A cell whose own timeout
 * fires is not an error: its `Execution` has `timedOut` and `errorCode` `TIMEOUT`.)
 */
export declare class TimeoutError extends WardenError {
    constructor(message: string);
}
/** A reply that is not warden's error shape, or not the JSON expected (a proxy's error
 * page, a server of another kind). `code` is `UNEXPECTED_RESPONSE`. */
export declare class ProtocolError extends WardenError {
    constructor(message: string, status?: number | null, retryAfter?: number | null);
}
/**
 * The caller's `AbortSignal` fired. Its `name` is `AbortError`, as `fetch` and other web
 * APIs name theirs; `code` is `ABORTED`; `cause` is the signal's reason. A cell aborted
 * this way has also been interrupted on the server.
 */
export declare class AbortError extends WardenError {
    constructor(message: string, reason?: unknown);
}
/** The error for an error body `{"error": {"code", "message", ...}}`, or `null` if
 * `body` is not of that shape. */
export declare function errorFromBody(body: unknown, status: number | null, retryAfter?: number | null): WardenError | null;
