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
/** A call to warden failed. */
export class WardenError extends Error {
    /**
     * The stable error code (`SESSION_NOT_FOUND`, `SYNTAX_ERROR`, ...; the server's
     * docs/ERRORS.md), or a client-side one: `UNAVAILABLE` when no reply arrived
     * (`NetworkError`), `TIMEOUT` when the client stopped waiting (`TimeoutError`),
     * `UNEXPECTED_RESPONSE` for a reply that is not warden's (`ProtocolError`), `ABORTED`
     * when the caller's `AbortSignal` fired (`AbortError`).
     */
    code;
    /** The server's HTTP status, or `null` when no reply arrived (or the error came inside
     * an event stream, whose HTTP status was 200). */
    status;
    /** Every other field of the server's error object (`line`, `col`, `risk`, `findings`,
     * `problems`, ...), as sent; for client-side errors, `cause` names what failed. */
    details;
    /** Seconds from the reply's `Retry-After` header (429 and 503 replies), else `null`. */
    retryAfter;
    constructor(code, message, status = null, details = {}, retryAfter = null, options) {
        super(message, options);
        this.code = code;
        this.status = status;
        this.details = { ...details };
        this.retryAfter = retryAfter;
    }
    toString() {
        return `${this.name} [${this.code}]: ${this.message}`;
    }
}
/** `INVALID_REQUEST`, `INVALID_PATH`, `PAYLOAD_TOO_LARGE`: the request itself was wrong
 * (a bad field, path or size); retrying it unchanged will not help. */
export class InvalidRequestError extends WardenError {
}
/** `SYNTAX_ERROR`: the code does not parse; nothing ran. `line` and `col` (from 1,
 * columns in characters) say where. */
export class CodeSyntaxError extends InvalidRequestError {
    get line() {
        return intOrNull(this.details["line"]);
    }
    get col() {
        return intOrNull(this.details["col"]);
    }
}
/** `WORKFLOW_INVALID`: a workflow definition does not load or does not validate; nothing
 * was stored and nothing ran. `problems` lists every problem, each with the node (or
 * edge) it is about. */
export class WorkflowInvalidError extends InvalidRequestError {
    get problems() {
        const raw = this.details["problems"];
        return Array.isArray(raw) ? raw.filter(isObject).map((p) => WorkflowProblem.fromJson(p)) : [];
    }
}
/** `UNAUTHORIZED`: no valid API key (missing, malformed, unknown or revoked). */
export class AuthenticationError extends WardenError {
}
/** `FORBIDDEN`, `POLICY_DENIED`, `PATH_FORBIDDEN`, `PACKAGE_NOT_ALLOWED`: the key, the
 * tenant's policy or the workspace does not allow this. */
export class PermissionDeniedError extends WardenError {
}
/** `SECURITY_VIOLATION`: the tenant's policy refuses code of this risk level; `risk` and
 * `findings` say why. Nothing ran. */
export class SecurityViolationError extends PermissionDeniedError {
    get risk() {
        const v = this.details["risk"];
        return typeof v === "string" ? v : null;
    }
    get findings() {
        const raw = this.details["findings"];
        return Array.isArray(raw) ? raw.filter(isObject).map((f) => Finding.fromJson(f)) : [];
    }
}
/** `NOT_FOUND`, `FILE_NOT_FOUND`, `EXECUTION_NOT_FOUND`, `TEMPLATE_NOT_FOUND`,
 * `WORKFLOW_NOT_FOUND`, `RUN_NOT_FOUND`, `COLLECTION_NOT_FOUND` (and
 * `SessionNotFoundError`). */
export class NotFoundError extends WardenError {
}
/** `SESSION_NOT_FOUND`: no such session, it expired, or it belongs to another tenant. */
export class SessionNotFoundError extends NotFoundError {
}
/** `SESSION_BUSY`: the session is running another cell (requests are not queued). */
export class SessionBusyError extends WardenError {
}
/** `SESSION_DEAD`: the session's interpreter is gone (a limit, a timeout that would not
 * stop, an exit); `Sandbox.restart()` brings it back. */
export class SessionDeadError extends WardenError {
}
/** `RATE_LIMITED`: over the tenant's `executions_per_minute`; try again after
 * `retryAfter` seconds. */
export class RateLimitError extends WardenError {
}
/** `QUOTA_EXCEEDED`: a quota is used up (`max_sessions` live sessions, or
 * `cpu_seconds_per_day`); try again after `retryAfter` seconds. */
export class QuotaExceededError extends WardenError {
}
/** `UNAVAILABLE`, `SANDBOX_SETUP_FAILED`, `RUNTIME_NOT_FOUND`: the server cannot do this
 * now (shutting down, full, cannot start a sandbox). */
export class UnavailableError extends WardenError {
}
/**
 * No reply: the server could not be reached, the connection failed, or a stream ended
 * before its result. `code` is `UNAVAILABLE`, `status` is `null`, `details.cause` names
 * the underlying error (which is also `cause`).
 */
export class NetworkError extends UnavailableError {
    constructor(message, cause) {
        super("UNAVAILABLE", message, null, cause === undefined ? {} : { cause: describe(cause) }, null, {
            cause,
        });
    }
}
/**
 * The client stopped waiting: a request that does not run code took longer than
 * `requestTimeout`. `code` is `TIMEOUT`, `status` is `null`. (A cell whose own timeout
 * fires is not an error: its `Execution` has `timedOut` and `errorCode` `TIMEOUT`.)
 */
export class TimeoutError extends WardenError {
    constructor(message) {
        super("TIMEOUT", message);
    }
}
/** A reply that is not warden's error shape, or not the JSON expected (a proxy's error
 * page, a server of another kind). `code` is `UNEXPECTED_RESPONSE`. */
export class ProtocolError extends WardenError {
    constructor(message, status = null, retryAfter = null) {
        super("UNEXPECTED_RESPONSE", message, status, {}, retryAfter);
    }
}
/**
 * The caller's `AbortSignal` fired. Its `name` is `AbortError`, as `fetch` and other web
 * APIs name theirs; `code` is `ABORTED`; `cause` is the signal's reason. A cell aborted
 * this way has also been interrupted on the server.
 */
export class AbortError extends WardenError {
    constructor(message, reason) {
        super("ABORTED", message, null, {}, null, { cause: reason });
    }
}
// Each class's `name` is its own (as for built-in errors), set on the prototype so that it
// survives minifiers that rename classes.
for (const [cls, name] of [
    [WardenError, "WardenError"],
    [InvalidRequestError, "InvalidRequestError"],
    [CodeSyntaxError, "CodeSyntaxError"],
    [WorkflowInvalidError, "WorkflowInvalidError"],
    [AuthenticationError, "AuthenticationError"],
    [PermissionDeniedError, "PermissionDeniedError"],
    [SecurityViolationError, "SecurityViolationError"],
    [NotFoundError, "NotFoundError"],
    [SessionNotFoundError, "SessionNotFoundError"],
    [SessionBusyError, "SessionBusyError"],
    [SessionDeadError, "SessionDeadError"],
    [RateLimitError, "RateLimitError"],
    [QuotaExceededError, "QuotaExceededError"],
    [UnavailableError, "UnavailableError"],
    [NetworkError, "NetworkError"],
    [TimeoutError, "TimeoutError"],
    [ProtocolError, "ProtocolError"],
    [AbortError, "AbortError"],
]) {
    Object.defineProperty(cls.prototype, "name", { value: name, writable: true, configurable: true });
}
const BY_CODE = {
    INVALID_REQUEST: InvalidRequestError,
    INVALID_PATH: InvalidRequestError,
    PAYLOAD_TOO_LARGE: InvalidRequestError,
    SYNTAX_ERROR: CodeSyntaxError,
    WORKFLOW_INVALID: WorkflowInvalidError,
    UNAUTHORIZED: AuthenticationError,
    FORBIDDEN: PermissionDeniedError,
    POLICY_DENIED: PermissionDeniedError,
    PATH_FORBIDDEN: PermissionDeniedError,
    PACKAGE_NOT_ALLOWED: PermissionDeniedError,
    SECURITY_VIOLATION: SecurityViolationError,
    NOT_FOUND: NotFoundError,
    FILE_NOT_FOUND: NotFoundError,
    EXECUTION_NOT_FOUND: NotFoundError,
    TEMPLATE_NOT_FOUND: NotFoundError,
    WORKFLOW_NOT_FOUND: NotFoundError,
    RUN_NOT_FOUND: NotFoundError,
    COLLECTION_NOT_FOUND: NotFoundError,
    SESSION_NOT_FOUND: SessionNotFoundError,
    SESSION_BUSY: SessionBusyError,
    SESSION_DEAD: SessionDeadError,
    RATE_LIMITED: RateLimitError,
    QUOTA_EXCEEDED: QuotaExceededError,
    UNAVAILABLE: UnavailableError,
    SANDBOX_SETUP_FAILED: UnavailableError,
    RUNTIME_NOT_FOUND: UnavailableError,
};
/** The error for an error body `{"error": {"code", "message", ...}}`, or `null` if
 * `body` is not of that shape. */
export function errorFromBody(body, status, retryAfter = null) {
    if (!isObject(body))
        return null;
    const err = body["error"];
    if (!isObject(err) || typeof err["code"] !== "string")
        return null;
    const code = err["code"];
    const message = typeof err["message"] === "string" ? err["message"] : "";
    const details = {};
    for (const [k, v] of Object.entries(err))
        if (k !== "code" && k !== "message")
            details[k] = v;
    const Cls = BY_CODE[code] ?? WardenError;
    return new Cls(code, message, status, details, retryAfter);
}
function intOrNull(v) {
    return typeof v === "number" && Number.isInteger(v) ? v : null;
}
function isObject(v) {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}
function describe(cause) {
    if (cause instanceof Error) {
        const inner = cause.cause;
        const code = isObject(inner) && typeof inner["code"] === "string" ? ` (${inner["code"]})` : "";
        return `${cause.name}${code}`;
    }
    return typeof cause;
}
