/**
 * The one HTTP layer of the client: settings from options or the environment, the
 * request itself over the global `fetch`, the client-side timeout, the retry rule, and
 * turning error replies into `WardenError`s. Everything that talks to warden goes
 * through `Http`.
 *
 * @module
 */
import { WardenError } from "./errors.js";
import type { JsonObject } from "./models.js";
/** The client's version, sent in `user-agent`. */
export declare const VERSION = "0.1.0";
/** Where the client looks when neither `baseUrl` nor `WARDEN_API_URL` says. */
export declare const DEFAULT_BASE_URL = "http://127.0.0.1:8080";
/** Seconds allowed for each ordinary request. Requests that run code (cells, one-shot
 * runs, tool calls, file transfers, waited-for workflow runs) get no client-side limit:
 * the server ends every cell at its own timeout. */
export declare const DEFAULT_REQUEST_TIMEOUT = 60;
/** Retries of a request refused with 429 or 503, or (idempotent requests only) that got
 * no reply at all. */
export declare const DEFAULT_MAX_RETRIES = 2;
/** The longest sleep between two attempts, in seconds. A `Retry-After` longer than this
 * is not waited for: the error is thrown at once. */
export declare const DEFAULT_MAX_RETRY_DELAY = 30;
/** How to reach warden; every constructor and one-shot function takes these. */
export interface ClientOptions {
    /** The server, e.g. `http://127.0.0.1:8080`; default `$WARDEN_API_URL`, then
     * `http://127.0.0.1:8080`. */
    baseUrl?: string | undefined;
    /** The API key (`wk_...`), sent as `Authorization: Bearer`; default
     * `$WARDEN_API_KEY`; not needed with `warden serve --dev`. `""` sends none. */
    apiKey?: string | undefined;
    /** Seconds allowed for each request that does not run code (default 60; `0`: no
     * limit). Over it, the call throws `TimeoutError`. */
    requestTimeout?: number | undefined;
    /** Retries of a request refused with 429/503 or (GET, PUT, DELETE) that got no reply;
     * default 2, `0` turns retrying off. */
    maxRetries?: number | undefined;
    /** The longest sleep before a retry, in seconds (default 30). A `Retry-After` longer
     * than this throws the error instead of waiting. */
    maxRetryDelay?: number | undefined;
    /** A `fetch` of your own (a proxy agent, instrumentation); default the global one. */
    fetch?: typeof fetch | undefined;
    /** Headers added to every request. */
    headers?: Record<string, string> | undefined;
}
/** Query parameters; `null` and `undefined` values are left out. */
export type Query = Record<string, string | number | boolean | null | undefined>;
/** A request body. Bytes and strings can be sent again (and so retried); a stream
 * cannot. */
export type Body = string | Uint8Array | ReadableStream<Uint8Array>;
export interface RequestOptions {
    query?: Query | undefined;
    /** A JSON body (`content-type: application/json`). */
    json?: unknown | undefined;
    /** A raw body (`content-type: application/octet-stream`). */
    body?: Body | undefined;
    headers?: Record<string, string> | undefined;
    /** The request runs code or moves a file: no client-side timeout. */
    runsCode?: boolean | undefined;
    signal?: AbortSignal | undefined;
}
/** A reply read whole. */
export interface Reply {
    status: number;
    headers: Headers;
    body: Uint8Array;
}
/** The base URL from the option, else `$WARDEN_API_URL`, else the default; without a
 * trailing slash. */
export declare function resolveBaseUrl(baseUrl?: string): string;
/** The API key from the option (`""`: none), else `$WARDEN_API_KEY`. */
export declare function resolveApiKey(apiKey?: string): string | null;
/** Seconds from a `Retry-After` header: delta-seconds or an HTTP date. */
export declare function parseRetryAfter(value: string | null): number | null;
/** The error for a reply that is not a success. */
export declare function errorFor(status: number, headers: Headers, body: Uint8Array): WardenError;
/** The reply's body as a JSON object (else `ProtocolError`). */
export declare function jsonObject(reply: Reply): JsonObject;
/** Sleeps `ms`, or rejects with `AbortError` when `signal` fires first. */
export declare function sleep(ms: number, signal?: AbortSignal): Promise<void>;
/** The HTTP connection settings of one client object, and its requests. */
export declare class Http {
    readonly baseUrl: string;
    readonly requestTimeout: number | null;
    readonly maxRetries: number;
    readonly maxRetryDelay: number;
    private readonly headers;
    private readonly fetchImpl;
    constructor(options?: ClientOptions);
    /** A request whose reply is read whole; throws the `WardenError` of a non-2xx reply. */
    request(method: string, path: string, options?: RequestOptions): Promise<Reply>;
    /** `request`, then the reply as a JSON object. */
    json(method: string, path: string, options?: RequestOptions): Promise<JsonObject>;
    /**
     * A request whose 2xx reply is returned with its body unread (an event stream, a file
     * download). Such requests have no client-side timeout; the caller's signal still
     * stops them.
     */
    stream(method: string, path: string, options?: RequestOptions): Promise<Response>;
    /** Turns an error thrown while reading a reply into the client's error. */
    static readError(err: unknown, what: string, signal?: AbortSignal): WardenError;
    private send;
    /** Seconds to wait before retrying after `error`, or `null` not to retry. */
    private retryDelay;
    /** Exponential backoff with jitter: about 0.5 s, 1 s, 2 s, ... each between half and
     * all of that, never over `maxRetryDelay`. */
    private backoff;
    private fetchError;
    url(path: string, query?: Query): string;
}
