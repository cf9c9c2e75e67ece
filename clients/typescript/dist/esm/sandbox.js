/**
 * Sessions: `Sandbox` (a stateful interpreter in its own sandbox), its workspace `Files`,
 * and the one-shot `execute`.
 *
 * @module
 */
import { asyncDispose } from "./dispose.js";
import { AbortError, InvalidRequestError, NetworkError, NotFoundError, ProtocolError, SessionNotFoundError, WardenError, } from "./errors.js";
import { Http, sleep } from "./http.js";
import { Execution, FileEntry, SessionInfo } from "./models.js";
import { readEvents } from "./sse.js";
import { cellBody, decodeCellEvent, defined, isEventStream, isObject, networkFields, relativePath, segment, toolCallJson, typeName, workspacePath, } from "./shared.js";
import { Workflows } from "./workflows.js";
/** The workspace of a session: paths are relative to `/workspace` (a leading
 * `/workspace/` is accepted). */
export class Files {
    http;
    sessionId;
    /** @internal */
    constructor(http, sessionId) {
        this.http = http;
        this.sessionId = sessionId;
    }
    url(path) {
        return `/v1/sessions/${segment(this.sessionId, "a session id")}/files/${workspacePath(path)}`;
    }
    /** Writes a file (parent directories are made); replaces an existing one only once
     * complete. */
    async write(path, data, options = {}) {
        const body = await toBody(data);
        const entry = await this.http.json("PUT", this.url(path), { body, runsCode: true, signal: options.signal });
        return FileEntry.fromJson(entry);
    }
    /** The file's bytes. */
    async read(path, options = {}) {
        const reply = await this.http.request("GET", this.url(path), { runsCode: true, signal: options.signal });
        return Buffer.from(reply.body.buffer, reply.body.byteOffset, reply.body.byteLength);
    }
    /** The file as text (UTF-8 unless `encoding` says otherwise). */
    async readText(path, encoding = "utf-8") {
        return new TextDecoder(encoding).decode(await this.read(path));
    }
    /** The file as a web `ReadableStream` of bytes, read from the server as it is
     * consumed (for files too large to hold); `Readable.fromWeb` makes it a Node.js
     * stream. Errors (no such file) are thrown here, before the stream is returned. */
    async readStream(path, options = {}) {
        const res = await this.http.stream("GET", this.url(path), { signal: options.signal });
        return res.body ?? new ReadableStream({ start: (c) => c.close() });
    }
    /** The entries of a directory (default: `/workspace` itself), sorted by name. */
    async list(path = "") {
        const body = await this.http.json("GET", `/v1/sessions/${segment(this.sessionId, "a session id")}/files`, {
            query: { path: relativePath(path).replace(/\/+$/, "") },
        });
        const entries = body["entries"];
        return Array.isArray(entries) ? entries.filter(isObject).map((e) => FileEntry.fromJson(e)) : [];
    }
    /** Removes a file, a symlink (not its target), or a directory with its contents. */
    async remove(path) {
        await this.http.request("DELETE", this.url(path));
    }
    /** Whether the path exists (a file, a directory or another entry). */
    async exists(path) {
        const rel = relativePath(path).replace(/\/+$/, "");
        const slash = rel.lastIndexOf("/");
        const parent = slash < 0 ? "" : rel.slice(0, slash);
        const name = rel.slice(slash + 1);
        let entries;
        try {
            entries = await this.list(parent);
        }
        catch (err) {
            if (err instanceof SessionNotFoundError)
                throw err;
            if (err instanceof NotFoundError || err instanceof InvalidRequestError)
                return false;
            throw err;
        }
        return entries.some((e) => e.name === name);
    }
}
/**
 * A session: one sandbox running a long-lived interpreter whose state (variables,
 * imports) and `/workspace` files persist across cells.
 *
 * ```ts
 * await using sb = await Sandbox.create();   // POST /v1/sessions; DELETE when the block ends
 * await sb.runCode("x = 41");
 * (await sb.runCode("x + 1")).text;          // "42"
 * ```
 */
export class Sandbox {
    /** The session id (`ses_...`). */
    id;
    /** The session's language. */
    language;
    /** The session's workspace. */
    files;
    /** The tenant's workflows, runs and collections, over this sandbox's connection. */
    workflows;
    /** The default per-cell timeout in seconds, or `undefined` for the server's. */
    timeout;
    http;
    closedFlag = false;
    /** After an aborted cell: settles once the session is idle again (bounded). */
    settling = null;
    constructor(http, info, timeout) {
        this.http = http;
        this.id = info.id;
        this.language = info.language;
        this.timeout = timeout;
        this.files = new Files(http, info.id);
        this.workflows = Workflows.over(http);
    }
    /** Creates a session (`POST /v1/sessions`). */
    static async create(options = {}) {
        const http = new Http(options);
        const body = defined({
            language: options.language ?? "python",
            template: options.template,
            packages: options.packages && options.packages.length > 0 ? [...options.packages] : undefined,
            idle_ttl: options.idleTtl,
            max_lifetime: options.maxLifetime,
            memory_mb: options.memoryMb,
            disk_mb: options.diskMb,
            ...networkFields(options.network, options.allowHosts),
        });
        // Installing packages may take minutes (the server bounds it): no client limit then.
        const runsCode = body["packages"] !== undefined;
        const info = SessionInfo.fromJson(await http.json("POST", "/v1/sessions", { json: body, runsCode }));
        return new Sandbox(http, info, options.timeout);
    }
    /** Attaches to an existing session (`SessionNotFoundError` if there is none). Closing
     * either object closes the session for both. */
    static async connect(sessionId, options = {}) {
        const http = new Http(options);
        const info = SessionInfo.fromJson(await http.json("GET", `/v1/sessions/${segment(sessionId, "a session id")}`));
        return new Sandbox(http, info, options.timeout);
    }
    /** The server this sandbox talks to. */
    get baseUrl() {
        return this.http.baseUrl;
    }
    /** Whether `close()` has been called. */
    get closed() {
        return this.closedFlag;
    }
    get path() {
        return `/v1/sessions/${segment(this.id, "a session id")}`;
    }
    /** The session as the server describes it now. */
    async info() {
        return SessionInfo.fromJson(await this.http.json("GET", this.path));
    }
    /**
     * Runs one cell. With `onStdout`, `onStderr` or `onResult` the cell streams
     * (Server-Sent Events) and the callbacks get its output as it happens; either way the
     * promise resolves with the whole `Execution` once the cell has ended. A cell that
     * raises resolves too (`execution.error`); failures of the call reject with a
     * `WardenError`. With `signal`, an abort rejects with `AbortError` and interrupts the
     * cell; the next call on this sandbox first waits (at most 5 s) for the session to be
     * idle.
     */
    async runCode(code, options = {}) {
        const body = cellBody(code, {
            timeout: options.timeout ?? this.timeout,
            packages: options.packages,
            files: options.files,
            input: options.input,
        });
        const { signal } = options;
        if (signal?.aborted)
            throw new AbortError("runCode: aborted before it started", signal.reason);
        if (this.settling !== null)
            await this.settling;
        // With a signal the cell streams too, callbacks or not: the server keeps a streamed
        // cell (and the session's `busy` state) going after the client has gone, so that an
        // abort can interrupt it and wait for the session to be idle again. (A plain JSON
        // request whose client goes away leaves its cell running while the session says
        // `idle`.)
        const streaming = options.onStdout !== undefined ||
            options.onStderr !== undefined ||
            options.onResult !== undefined ||
            signal !== undefined;
        try {
            if (!streaming) {
                return Execution.fromJson(await this.http.json("POST", `${this.path}/execute`, { json: body, runsCode: true, signal }));
            }
            return await this.streamCell(body, options);
        }
        catch (err) {
            if (err instanceof AbortError || !(err instanceof WardenError)) {
                // The caller gave up (or a callback threw): stop the cell too, so that the
                // session can take the next one.
                await this.stopAfterAbort();
            }
            throw err;
        }
    }
    async streamCell(body, options) {
        const res = await this.http.stream("POST", `${this.path}/execute`, {
            json: body,
            headers: { accept: "text/event-stream" },
            signal: options.signal,
        });
        if (!isEventStream(res)) {
            // A server (or proxy) that ignored `accept`: the whole result as JSON.
            let parsed;
            try {
                parsed = JSON.parse(await res.text());
            }
            catch (err) {
                if (err instanceof SyntaxError)
                    throw new ProtocolError(`HTTP ${res.status} reply is not JSON`, res.status);
                throw Http.readError(err, "the cell's reply", options.signal);
            }
            if (!isObject(parsed))
                throw new ProtocolError("the reply is not a JSON object", res.status);
            return Execution.fromJson(parsed);
        }
        if (res.body === null)
            throw Http.readError(new Error("no body"), "the cell's event stream", options.signal);
        const events = readEvents(res.body);
        try {
            for (;;) {
                let next;
                try {
                    next = await events.next();
                }
                catch (err) {
                    throw Http.readError(err, "the cell's event stream", options.signal);
                }
                if (next.done)
                    break;
                const event = decodeCellEvent(next.value.event, next.value.data);
                if (event === null)
                    continue;
                if (event.kind === "stdout") {
                    if (event.text && options.onStdout)
                        await options.onStdout(event.text);
                }
                else if (event.kind === "stderr") {
                    if (event.text && options.onStderr)
                        await options.onStderr(event.text);
                }
                else {
                    if (options.onResult)
                        for (const r of event.execution.results)
                            await options.onResult(r);
                    return event.execution;
                }
            }
        }
        finally {
            // Stops reading when a callback threw or the result came (a no-op at the end).
            await events.return(undefined).catch(() => { });
        }
        throw new NetworkError("the event stream ended before the cell's result");
    }
    /** Interrupts the aborted cell and, in the background, waits (at most 5 s) until the
     * session is idle again; the next call on this sandbox waits for that. */
    async stopAfterAbort() {
        const deadline = Date.now() + 5000;
        try {
            await this.interrupt();
        }
        catch {
            return; // the session is gone or the server unreachable: nothing to stop
        }
        const settle = async () => {
            let lastInterrupt = Date.now();
            while (Date.now() < deadline) {
                let state;
                try {
                    state = (await this.info()).state;
                }
                catch {
                    return;
                }
                if (state !== "busy")
                    return;
                await sleep(25);
                if (Date.now() - lastInterrupt > 500) {
                    lastInterrupt = Date.now();
                    await this.interrupt().catch(() => { });
                }
            }
        };
        const p = settle().finally(() => {
            if (this.settling === p)
                this.settling = null;
        });
        this.settling = p;
    }
    /** Interrupts the running cell as Ctrl-C would (`KeyboardInterrupt`); the session's
     * state is kept. Harmless when idle. */
    async interrupt() {
        await this.http.request("POST", `${this.path}/interrupt`);
    }
    /** A fresh interpreter in the same session (variables are lost, files kept). */
    async restart() {
        return SessionInfo.fromJson(await this.http.json("POST", `${this.path}/restart`, { runsCode: true }));
    }
    /** warden's function-calling tools (`GET /v1/tools`), to pass to a model. */
    async tools(options = {}) {
        const body = await this.http.json("GET", "/v1/tools", { query: { format: options.format ?? "openai" } });
        const tools = body["tools"];
        return Array.isArray(tools) ? tools.filter(isObject) : [];
    }
    /**
     * Runs one tool call exactly as the model emitted it, in this session
     * (`POST /v1/tools/call`), and returns the messages to append to the conversation: a
     * `tool` message (OpenAI; plus a `user` message of images when the code drew
     * figures), or one `user` message with the `tool_result` (Anthropic). Failures inside
     * the tool come back as messages starting `error [CODE]:`.
     */
    async callTool(toolCall, options = {}) {
        const body = await this.http.json("POST", "/v1/tools/call", {
            query: { format: options.format ?? "openai", session_id: this.id },
            json: toolCallJson(toolCall),
            runsCode: true,
            signal: options.signal,
        });
        const messages = body["messages"];
        return Array.isArray(messages) ? messages.filter(isObject) : [];
    }
    /** Closes the session (`DELETE`); a running cell is killed with it. Idempotent; a
     * session that has already expired is not an error. */
    async close() {
        if (this.closedFlag)
            return;
        this.closedFlag = true;
        try {
            await this.http.request("DELETE", this.path);
        }
        catch (err) {
            if (!(err instanceof SessionNotFoundError))
                throw err;
        }
    }
    /** `await using sb = await Sandbox.create()` closes the session at the end of the
     * block. */
    async [asyncDispose]() {
        await this.close();
    }
    toString() {
        return `Sandbox(id=${this.id}, baseUrl=${this.http.baseUrl})`;
    }
}
/**
 * One run in a fresh sandbox, discarded after (`POST /v1/execute`). `files` go in
 * first; the result lists the files the code created or changed (`files`) and the JSON
 * of its variable `result` (`result`).
 */
export async function execute(code, options = {}) {
    const body = cellBody(code, options);
    Object.assign(body, defined({
        language: options.language ?? "python",
        template: options.template,
        memory_mb: options.memoryMb,
        disk_mb: options.diskMb,
    }), networkFields(options.network, options.allowHosts));
    const http = new Http(options);
    return Execution.fromJson(await http.json("POST", "/v1/execute", { json: body, runsCode: true, signal: options.signal }));
}
async function toBody(data) {
    if (typeof data === "string")
        return new TextEncoder().encode(data);
    if (data instanceof Uint8Array)
        return data;
    if (data instanceof ArrayBuffer)
        return new Uint8Array(data);
    if (typeof Blob !== "undefined" && data instanceof Blob)
        return new Uint8Array(await data.arrayBuffer());
    if (data instanceof ReadableStream)
        return data;
    if (typeof data === "object" && data !== null) {
        if (Symbol.asyncIterator in data)
            return iterableStream(data[Symbol.asyncIterator]());
        if (Symbol.iterator in data)
            return iterableStream(data[Symbol.iterator]());
    }
    throw new TypeError(`file data must be a string, bytes, a Blob, a ReadableStream or an iterable of chunks, not ${typeName(data)}`);
}
function iterableStream(it) {
    const encoder = new TextEncoder();
    return new ReadableStream({
        async pull(controller) {
            const { done, value } = await it.next();
            if (done) {
                controller.close();
                return;
            }
            if (typeof value === "string")
                controller.enqueue(encoder.encode(value));
            else if (value instanceof Uint8Array)
                controller.enqueue(value);
            else
                throw new TypeError(`a file chunk must be bytes or a string, not ${typeName(value)}`);
        },
        async cancel(reason) {
            await it.return?.(reason);
        },
    });
}
