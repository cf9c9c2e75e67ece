"use strict";
/**
 * The one HTTP layer of the client: settings from options or the environment, the
 * request itself over the global `fetch`, the client-side timeout, the retry rule, and
 * turning error replies into `WardenError`s. Everything that talks to warden goes
 * through `Http`.
 *
 * @module
 */
Object.defineProperty(exports, "__esModule", { value: true });
exports.Http = exports.DEFAULT_MAX_RETRY_DELAY = exports.DEFAULT_MAX_RETRIES = exports.DEFAULT_REQUEST_TIMEOUT = exports.DEFAULT_BASE_URL = exports.VERSION = void 0;
exports.resolveBaseUrl = resolveBaseUrl;
exports.resolveApiKey = resolveApiKey;
exports.parseRetryAfter = parseRetryAfter;
exports.errorFor = errorFor;
exports.jsonObject = jsonObject;
exports.sleep = sleep;
const errors_js_1 = require("./errors.js");
/** The client's version, sent in `user-agent`. */
exports.VERSION = "0.1.0";
/** Where the client looks when neither `baseUrl` nor `WARDEN_API_URL` says. */
exports.DEFAULT_BASE_URL = "http://127.0.0.1:8080";
/** Seconds allowed for each ordinary request. Requests that run code (cells, one-shot
 * runs, tool calls, file transfers, waited-for workflow runs) get no client-side limit:
 * the server ends every cell at its own timeout. */
exports.DEFAULT_REQUEST_TIMEOUT = 60;
/** Retries of a request refused with 429 or 503, or (idempotent requests only) that got
 * no reply at all. */
exports.DEFAULT_MAX_RETRIES = 2;
/** The longest sleep between two attempts, in seconds. A `Retry-After` longer than this
 * is not waited for: the error is thrown at once. */
exports.DEFAULT_MAX_RETRY_DELAY = 30;
const IDEMPOTENT = new Set(["GET", "HEAD", "PUT", "DELETE"]);
function env(name) {
    const p = globalThis.process;
    return p?.env?.[name];
}
/** The base URL from the option, else `$WARDEN_API_URL`, else the default; without a
 * trailing slash. */
function resolveBaseUrl(baseUrl) {
    return (baseUrl || env("WARDEN_API_URL") || exports.DEFAULT_BASE_URL).replace(/\/+$/, "");
}
/** The API key from the option (`""`: none), else `$WARDEN_API_KEY`. */
function resolveApiKey(apiKey) {
    if (apiKey !== undefined)
        return apiKey || null;
    return env("WARDEN_API_KEY") || null;
}
/** Seconds from a `Retry-After` header: delta-seconds or an HTTP date. */
function parseRetryAfter(value) {
    if (value === null)
        return null;
    const v = value.trim();
    if (/^\d+(\.\d+)?$/.test(v))
        return Number(v);
    const at = Date.parse(v);
    return Number.isNaN(at) ? null : Math.max(0, (at - Date.now()) / 1000);
}
/** The error for a reply that is not a success. */
function errorFor(status, headers, body) {
    const text = new TextDecoder().decode(body);
    const retryAfter = parseRetryAfter(headers.get("retry-after"));
    let parsed = null;
    try {
        parsed = JSON.parse(text);
    }
    catch {
        parsed = null;
    }
    const err = (0, errors_js_1.errorFromBody)(parsed, status, retryAfter);
    if (err !== null)
        return err;
    const snippet = text.slice(0, 200).trim();
    return new errors_js_1.ProtocolError(`HTTP ${status} without warden's error shape: ${JSON.stringify(snippet)}`, status, retryAfter);
}
/** The reply's body as a JSON object (else `ProtocolError`). */
function jsonObject(reply) {
    let v;
    try {
        v = JSON.parse(new TextDecoder().decode(reply.body));
    }
    catch {
        throw new errors_js_1.ProtocolError(`HTTP ${reply.status} reply is not JSON`, reply.status);
    }
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
        throw new errors_js_1.ProtocolError("the reply is not a JSON object", reply.status);
    }
    return v;
}
/** Sleeps `ms`, or rejects with `AbortError` when `signal` fires first. */
function sleep(ms, signal) {
    return new Promise((resolve, reject) => {
        if (signal?.aborted) {
            reject(new errors_js_1.AbortError("the operation was aborted", signal.reason));
            return;
        }
        const onAbort = () => {
            clearTimeout(timer);
            reject(new errors_js_1.AbortError("the operation was aborted", signal?.reason));
        };
        const timer = setTimeout(() => {
            signal?.removeEventListener("abort", onAbort);
            resolve();
        }, ms);
        signal?.addEventListener("abort", onAbort, { once: true });
    });
}
/** One attempt's signal: the caller's, and the client-side timeout when there is one. */
class AttemptSignal {
    user;
    controller = new AbortController();
    stop = null;
    timer = null;
    onAbort;
    constructor(user, timeoutSeconds) {
        this.user = user;
        this.onAbort = () => {
            this.stop ??= "abort";
            this.controller.abort(user?.reason);
        };
        if (user?.aborted)
            this.onAbort();
        else
            user?.addEventListener("abort", this.onAbort, { once: true });
        if (timeoutSeconds !== null && timeoutSeconds > 0) {
            this.timer = setTimeout(() => {
                this.stop ??= "timeout";
                this.controller.abort(new Error("client-side request timeout"));
            }, timeoutSeconds * 1000);
        }
    }
    get signal() {
        return this.controller.signal;
    }
    done() {
        if (this.timer !== null)
            clearTimeout(this.timer);
        this.user?.removeEventListener("abort", this.onAbort);
    }
}
/** The HTTP connection settings of one client object, and its requests. */
class Http {
    baseUrl;
    requestTimeout;
    maxRetries;
    maxRetryDelay;
    headers;
    fetchImpl;
    constructor(options = {}) {
        this.baseUrl = resolveBaseUrl(options.baseUrl);
        const key = resolveApiKey(options.apiKey);
        this.headers = { "user-agent": `warden-client-typescript/${exports.VERSION}`, ...options.headers };
        if (key !== null)
            this.headers["authorization"] = `Bearer ${key}`;
        const t = options.requestTimeout ?? exports.DEFAULT_REQUEST_TIMEOUT;
        this.requestTimeout = t > 0 ? t : null;
        this.maxRetries = Math.max(0, Math.floor(options.maxRetries ?? exports.DEFAULT_MAX_RETRIES));
        this.maxRetryDelay = Math.max(0, options.maxRetryDelay ?? exports.DEFAULT_MAX_RETRY_DELAY);
        const f = options.fetch ?? globalThis.fetch;
        if (typeof f !== "function") {
            throw new TypeError("no global fetch: warden-client needs Node.js 18 or later (or pass options.fetch)");
        }
        this.fetchImpl = f;
    }
    /** A request whose reply is read whole; throws the `WardenError` of a non-2xx reply. */
    async request(method, path, options = {}) {
        return this.send(method, path, options, async (res, attempt) => {
            const body = new Uint8Array(await res.arrayBuffer());
            attempt.done();
            return { status: res.status, headers: res.headers, body };
        });
    }
    /** `request`, then the reply as a JSON object. */
    async json(method, path, options = {}) {
        return jsonObject(await this.request(method, path, options));
    }
    /**
     * A request whose 2xx reply is returned with its body unread (an event stream, a file
     * download). Such requests have no client-side timeout; the caller's signal still
     * stops them.
     */
    async stream(method, path, options = {}) {
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
    static readError(err, what, signal) {
        if (err instanceof errors_js_1.WardenError)
            return err;
        if (signal?.aborted)
            return new errors_js_1.AbortError(`${what}: aborted`, signal.reason);
        return new errors_js_1.NetworkError(`${what}: the reply was cut: ${errText(err)}`, err);
    }
    async send(method, path, options, consume) {
        const url = this.url(path, options.query);
        const headers = { ...this.headers, ...options.headers };
        let body;
        if (options.json !== undefined) {
            body = JSON.stringify(options.json);
            headers["content-type"] ??= "application/json";
        }
        else if (options.body !== undefined) {
            body = options.body;
            headers["content-type"] ??= "application/octet-stream";
        }
        const replayable = !(body instanceof ReadableStream);
        const what = `${method} ${path}`;
        for (let attempt = 0;; attempt++) {
            const sig = new AttemptSignal(options.signal, options.runsCode ? null : this.requestTimeout);
            let res;
            try {
                const init = { method, headers, signal: sig.signal };
                if (body !== undefined)
                    init.body = body;
                if (body instanceof ReadableStream)
                    init.duplex = "half";
                res = await this.fetchImpl(url, init);
            }
            catch (err) {
                sig.done();
                const error = this.fetchError(err, what, sig);
                if (error instanceof errors_js_1.NetworkError && replayable && IDEMPOTENT.has(method) && attempt < this.maxRetries) {
                    await sleep(this.backoff(attempt) * 1000, options.signal);
                    continue;
                }
                throw error;
            }
            if (res.status >= 200 && res.status < 300) {
                try {
                    return await consume(res, sig);
                }
                catch (err) {
                    sig.done();
                    throw this.fetchError(err, what, sig);
                }
            }
            let error;
            try {
                error = errorFor(res.status, res.headers, new Uint8Array(await res.arrayBuffer()));
            }
            catch (err) {
                throw this.fetchError(err, what, sig);
            }
            finally {
                sig.done();
            }
            const delay = this.retryDelay(error, attempt, replayable);
            if (delay === null)
                throw error;
            await sleep(delay * 1000, options.signal);
        }
    }
    /** Seconds to wait before retrying after `error`, or `null` not to retry. */
    retryDelay(error, attempt, replayable) {
        if (error.status !== 429 && error.status !== 503)
            return null;
        if (error.code === "RUNTIME_NOT_FOUND" || !replayable || attempt >= this.maxRetries)
            return null;
        if (error.retryAfter !== null)
            return error.retryAfter > this.maxRetryDelay ? null : error.retryAfter;
        return this.backoff(attempt);
    }
    /** Exponential backoff with jitter: about 0.5 s, 1 s, 2 s, ... each between half and
     * all of that, never over `maxRetryDelay`. */
    backoff(attempt) {
        const full = Math.min(this.maxRetryDelay, 0.5 * 2 ** attempt);
        return full * (0.5 + Math.random() / 2);
    }
    fetchError(err, what, sig) {
        if (err instanceof errors_js_1.WardenError)
            return err;
        if (sig.stop === "abort")
            return new errors_js_1.AbortError(`${what}: aborted`, sig.signal.reason);
        if (sig.stop === "timeout")
            return new errors_js_1.TimeoutError(`${what}: no reply within ${this.requestTimeout} s`);
        return new errors_js_1.NetworkError(`${what}: ${errText(err)}`, err);
    }
    url(path, query) {
        let url = this.baseUrl + path;
        if (query) {
            const params = new URLSearchParams();
            for (const [k, v] of Object.entries(query))
                if (v !== null && v !== undefined)
                    params.append(k, String(v));
            const q = params.toString();
            if (q)
                url += `?${q}`;
        }
        return url;
    }
}
exports.Http = Http;
function errText(err) {
    if (err instanceof Error) {
        const cause = err.cause;
        return cause instanceof Error ? `${err.message} (${cause.message})` : err.message;
    }
    return String(err);
}
/** The body, passed through, with the attempt's signal unlinked once it is read or
 * cancelled. */
function unlinkWhenDone(body, attempt) {
    const reader = body.getReader();
    return new ReadableStream({
        async pull(controller) {
            try {
                const { done, value } = await reader.read();
                if (done) {
                    attempt.done();
                    controller.close();
                }
                else {
                    controller.enqueue(value);
                }
            }
            catch (err) {
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
