/**
 * The one HTTP layer of the client: settings from options or the environment, the
 * request itself over the global `fetch`, the client-side timeout, the retry rule, and
 * turning error replies into `WardenError`s. Everything that talks to warden goes
 * through `Http`.
 *
 * @module
 */

import { AbortError, NetworkError, ProtocolError, TimeoutError, WardenError, errorFromBody } from "./errors.js";
import type { JsonObject } from "./models.js";

/** The client's version, sent in `user-agent`. */
export const VERSION = "0.1.0";

/** Where the client looks when neither `baseUrl` nor `WARDEN_API_URL` says. */
export const DEFAULT_BASE_URL = "http://127.0.0.1:8080";

/** Seconds allowed for each ordinary request. Requests that run code (cells, one-shot
 * runs, tool calls, file transfers, waited-for workflow runs) get no client-side limit:
 * the server ends every cell at its own timeout. */
export const DEFAULT_REQUEST_TIMEOUT = 60;

/** Retries of a request refused with 429 or 503, or (idempotent requests only) that got
 * no reply at all. */
export const DEFAULT_MAX_RETRIES = 2;

/** The longest sleep between two attempts, in seconds. A `Retry-After` longer than this
 * is not waited for: the error is thrown at once. */
export const DEFAULT_MAX_RETRY_DELAY = 30;

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

const IDEMPOTENT = new Set(["GET", "HEAD", "PUT", "DELETE"]);

function env(name: string): string | undefined {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return p?.env?.[name];
}

/** The base URL from the option, else `$WARDEN_API_URL`, else the default; without a
 * trailing slash. */
export function resolveBaseUrl(baseUrl?: string): string {
  return (baseUrl || env("WARDEN_API_URL") || DEFAULT_BASE_URL).replace(/\/+$/, "");
}

/** The API key from the option (`""`: none), else `$WARDEN_API_KEY`. */
export function resolveApiKey(apiKey?: string): string | null {
  if (apiKey !== undefined) return apiKey || null;
  return env("WARDEN_API_KEY") || null;
}

/** Seconds from a `Retry-After` header: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | null): number | null {
  if (value === null) return null;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v);
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : Math.max(0, (at - Date.now()) / 1000);
}

/** The error for a reply that is not a success. */
export function errorFor(status: number, headers: Headers, body: Uint8Array): WardenError {
  const text = new TextDecoder().decode(body);
  const retryAfter = parseRetryAfter(headers.get("retry-after"));
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  const err = errorFromBody(parsed, status, retryAfter);
  if (err !== null) return err;
  const snippet = text.slice(0, 200).trim();
  return new ProtocolError(
    `HTTP ${status} without warden's error shape: ${JSON.stringify(snippet)}`,
    status,
    retryAfter,
  );
}

/** The reply's body as a JSON object (else `ProtocolError`). */
export function jsonObject(reply: Reply): JsonObject {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(reply.body));
  } catch {
    throw new ProtocolError(`HTTP ${reply.status} reply is not JSON`, reply.status);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new ProtocolError("the reply is not a JSON object", reply.status);
  }
  return v as JsonObject;
}

/** Sleeps `ms`, or rejects with `AbortError` when `signal` fires first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortError("the operation was aborted", signal.reason));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new AbortError("the operation was aborted", signal?.reason));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The reason a request stopped, for the error it becomes. */
type Stop = "timeout" | "abort" | null;

/** One attempt's signal: the caller's, and the client-side timeout when there is one. */
class AttemptSignal {
  readonly controller = new AbortController();
  stop: Stop = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly onAbort: () => void;

  constructor(
    private readonly user: AbortSignal | undefined,
    timeoutSeconds: number | null,
  ) {
    this.onAbort = () => {
      this.stop ??= "abort";
      this.controller.abort(user?.reason);
    };
    if (user?.aborted) this.onAbort();
    else user?.addEventListener("abort", this.onAbort, { once: true });
    if (timeoutSeconds !== null && timeoutSeconds > 0) {
      this.timer = setTimeout(() => {
        this.stop ??= "timeout";
        this.controller.abort(new Error("client-side request timeout"));
      }, timeoutSeconds * 1000);
    }
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  done(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.user?.removeEventListener("abort", this.onAbort);
  }
}

/** The HTTP connection settings of one client object, and its requests. */
export class Http {
  readonly baseUrl: string;
  readonly requestTimeout: number | null;
  readonly maxRetries: number;
  readonly maxRetryDelay: number;
  private readonly headers: Record<string, string>;
  private readonly fetchImpl: typeof fetch;

  constructor(options: ClientOptions = {}) {
    this.baseUrl = resolveBaseUrl(options.baseUrl);
    const key = resolveApiKey(options.apiKey);
    this.headers = { "user-agent": `warden-client-typescript/${VERSION}`, ...options.headers };
    if (key !== null) this.headers["authorization"] = `Bearer ${key}`;
    const t = options.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT;
    this.requestTimeout = t > 0 ? t : null;
    this.maxRetries = Math.max(0, Math.floor(options.maxRetries ?? DEFAULT_MAX_RETRIES));
    this.maxRetryDelay = Math.max(0, options.maxRetryDelay ?? DEFAULT_MAX_RETRY_DELAY);
    const f = options.fetch ?? (globalThis as { fetch?: typeof fetch }).fetch;
    if (typeof f !== "function") {
      throw new TypeError("no global fetch: warden-client needs Node.js 18 or later (or pass options.fetch)");
    }
    this.fetchImpl = f;
  }

  /** A request whose reply is read whole; throws the `WardenError` of a non-2xx reply. */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<Reply> {
    return this.send(method, path, options, async (res, attempt) => {
      const body = new Uint8Array(await res.arrayBuffer());
      attempt.done();
      return { status: res.status, headers: res.headers, body };
    });
  }

  /** `request`, then the reply as a JSON object. */
  async json(method: string, path: string, options: RequestOptions = {}): Promise<JsonObject> {
    return jsonObject(await this.request(method, path, options));
  }

  /**
   * A request whose 2xx reply is returned with its body unread (an event stream, a file
   * download). Such requests have no client-side timeout; the caller's signal still
   * stops them.
   */
  async stream(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    return this.send(method, path, { ...options, runsCode: true }, async (res, attempt) => {
      // The signal stays linked while the body is read; unlinked when it ends.
      const body = res.body;
      if (body === null) {
        attempt.done();
        return res;
      }
      return new Response(unlinkWhenDone(body, attempt), {
        status: res.status,
        statusText: res.statusText,
        headers: res.headers,
      });
    });
  }

  /** Turns an error thrown while reading a reply into the client's error. */
  static readError(err: unknown, what: string, signal?: AbortSignal): WardenError {
    if (err instanceof WardenError) return err;
    if (signal?.aborted) return new AbortError(`${what}: aborted`, signal.reason);
    return new NetworkError(`${what}: the reply was cut: ${errText(err)}`, err);
  }

  private async send<T>(
    method: string,
    path: string,
    options: RequestOptions,
    consume: (res: Response, attempt: AttemptSignal) => Promise<T>,
  ): Promise<T> {
    const url = this.url(path, options.query);
    const headers: Record<string, string> = { ...this.headers, ...options.headers };
    let body: string | Uint8Array | ReadableStream<Uint8Array> | undefined;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers["content-type"] ??= "application/json";
    } else if (options.body !== undefined) {
      body = options.body;
      headers["content-type"] ??= "application/octet-stream";
    }
    const replayable = !(body instanceof ReadableStream);
    const what = `${method} ${path}`;
    for (let attempt = 0; ; attempt++) {
      const sig = new AttemptSignal(options.signal, options.runsCode ? null : this.requestTimeout);
      let res: Response;
      try {
        const init: RequestInit & { duplex?: "half" } = { method, headers, signal: sig.signal };
        if (body !== undefined) init.body = body as NonNullable<RequestInit["body"]>;
        if (body instanceof ReadableStream) init.duplex = "half";
        res = await this.fetchImpl(url, init);
      } catch (err) {
        sig.done();
        const error = this.fetchError(err, what, sig);
        if (error instanceof NetworkError && replayable && IDEMPOTENT.has(method) && attempt < this.maxRetries) {
          await sleep(this.backoff(attempt) * 1000, options.signal);
          continue;
        }
        throw error;
      }
      if (res.status >= 200 && res.status < 300) {
        try {
          return await consume(res, sig);
        } catch (err) {
          sig.done();
          throw this.fetchError(err, what, sig);
        }
      }
      let error: WardenError;
      try {
        error = errorFor(res.status, res.headers, new Uint8Array(await res.arrayBuffer()));
      } catch (err) {
        throw this.fetchError(err, what, sig);
      } finally {
        sig.done();
      }
      const delay = this.retryDelay(error, attempt, replayable);
      if (delay === null) throw error;
      await sleep(delay * 1000, options.signal);
    }
  }

  /** Seconds to wait before retrying after `error`, or `null` not to retry. */
  private retryDelay(error: WardenError, attempt: number, replayable: boolean): number | null {
    if (error.status !== 429 && error.status !== 503) return null;
    if (error.code === "RUNTIME_NOT_FOUND" || !replayable || attempt >= this.maxRetries) return null;
    if (error.retryAfter !== null) return error.retryAfter > this.maxRetryDelay ? null : error.retryAfter;
    return this.backoff(attempt);
  }

  /** Exponential backoff with jitter: about 0.5 s, 1 s, 2 s, ... each between half and
   * all of that, never over `maxRetryDelay`. */
  private backoff(attempt: number): number {
    const full = Math.min(this.maxRetryDelay, 0.5 * 2 ** attempt);
    return full * (0.5 + Math.random() / 2);
  }

  private fetchError(err: unknown, what: string, sig: AttemptSignal): WardenError {
    if (err instanceof WardenError) return err;
    if (sig.stop === "abort") return new AbortError(`${what}: aborted`, sig.signal.reason);
    if (sig.stop === "timeout") return new TimeoutError(`${what}: no reply within ${this.requestTimeout} s`);
    return new NetworkError(`${what}: ${errText(err)}`, err);
  }

  url(path: string, query?: Query): string {
    let url = this.baseUrl + path;
    if (query) {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) if (v !== null && v !== undefined) params.append(k, String(v));
      const q = params.toString();
      if (q) url += `?${q}`;
    }
    return url;
  }
}

function errText(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    return cause instanceof Error ? `${err.message} (${cause.message})` : err.message;
  }
  return String(err);
}

/** The body, passed through, with the attempt's signal unlinked once it is read or
 * cancelled. */
function unlinkWhenDone(body: ReadableStream<Uint8Array>, attempt: AttemptSignal): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          attempt.done();
          controller.close();
        } else {
          controller.enqueue(value);
        }
      } catch (err) {
        attempt.done();
        controller.error(err);
      }
    },
    async cancel(reason) {
      attempt.done();
      await reader.cancel(reason);
    },
  });
}
