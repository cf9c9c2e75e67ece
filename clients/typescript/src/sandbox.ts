/**
 * Sessions: `Sandbox` (a stateful interpreter in its own sandbox), its workspace `Files`,
 * and the one-shot `execute`.
 *
 * @module
 */

import { asyncDispose } from "./dispose.js";
import {
  AbortError,
  InvalidRequestError,
  NetworkError,
  NotFoundError,
  ProtocolError,
  SessionNotFoundError,
  WardenError,
} from "./errors.js";
import { Http, sleep, type ClientOptions } from "./http.js";
import { Execution, FileEntry, SessionInfo, type JsonObject, type Result } from "./models.js";
import { readEvents, type SSEEvent } from "./sse.js";
import {
  cellBody,
  decodeCellEvent,
  defined,
  isEventStream,
  isObject,
  networkFields,
  relativePath,
  segment,
  toolCallJson,
  typeName,
  workspacePath,
  type InlineFiles,
} from "./shared.js";
import { Workflows } from "./workflows.js";

/** A language warden runs. */
export type Language = "python" | "javascript" | "bash";

/** How to create a session (`Sandbox.create`). */
export interface SandboxOptions extends ClientOptions {
  /** `python` (default), `javascript` or `bash`. */
  language?: Language | (string & {}) | undefined;
  /** A template: a read-only package environment built on the server (docs/PACKAGES.md). */
  template?: string | undefined;
  /** Python packages installed for the session (under the tenant's allowlist). */
  packages?: readonly string[] | undefined;
  /** Default per-cell timeout in seconds (default: the server's, 30 s). */
  timeout?: number | undefined;
  /** Seconds idle before the server closes the session (default 3600). */
  idleTtl?: number | undefined;
  /** Seconds after creation when the server closes the session, running or not. */
  maxLifetime?: number | undefined;
  /** Memory of the session's sandbox in MiB (it then starts its own, not a pooled one). */
  memoryMb?: number | undefined;
  /** Size of `/workspace` in MiB. */
  diskMb?: number | undefined;
  /** Network egress through warden's proxy, to the hosts the tenant's policy allows. */
  network?: boolean | undefined;
  /** With `network`: narrows the policy's allowlist to these host patterns. */
  allowHosts?: readonly string[] | undefined;
}

/** Called with each chunk of output text as it arrives; may return a promise, which is
 * awaited before the next chunk is handled. */
export type OutputCallback = (text: string) => unknown;

/** How to run one cell (`Sandbox.runCode`). */
export interface RunCodeOptions {
  /** Streams the cell: called with stdout text as the cell prints it. */
  onStdout?: OutputCallback | undefined;
  /** Streams the cell: called with stderr text as the cell prints it. */
  onStderr?: OutputCallback | undefined;
  /** Streams the cell: called with each rich result (figures, `display(...)`, then the
   * final value) when the cell ends, before `runCode` resolves. */
  onResult?: ((result: Result) => unknown) | undefined;
  /** Seconds before the server interrupts the cell (default: the sandbox's `timeout`). */
  timeout?: number | undefined;
  /** Aborts the request and interrupts the cell; the promise rejects with `AbortError`. */
  signal?: AbortSignal | undefined;
  /** Packages for this cell: only the session's own set is accepted. */
  packages?: readonly string[] | undefined;
  /** Files placed in `/workspace` before the cell runs. */
  files?: InlineFiles | undefined;
  /** JSON handed to the code: Python sees it as `input_data`, JavaScript as the global
   * `input`; the reply then carries `result` (the code's variable `result`). */
  input?: unknown | undefined;
}

/** What `files.write` takes: text (UTF-8), bytes, a `Blob`, a web `ReadableStream`, or
 * any (async) iterable of byte or string chunks, such as a Node.js `Readable` (e.g.
 * `fs.createReadStream(path)`). Streams are sent as they are read, never held whole. */
export type FileInput =
  | string
  | Uint8Array
  | ArrayBuffer
  | Blob
  | ReadableStream<Uint8Array>
  | AsyncIterable<Uint8Array | string>
  | Iterable<Uint8Array | string>;

/** Tool definition formats (docs/TOOLS.md). */
export type ToolFormat = "openai" | "anthropic";

/** The workspace of a session: paths are relative to `/workspace` (a leading
 * `/workspace/` is accepted). */
export class Files {
  /** @internal */
  constructor(
    private readonly http: Http,
    private readonly sessionId: string,
  ) {}

  private url(path: string): string {
    return `/v1/sessions/${segment(this.sessionId, "a session id")}/files/${workspacePath(path)}`;
  }

  /** Writes a file (parent directories are made); replaces an existing one only once
   * complete. */
  async write(path: string, data: FileInput, options: { signal?: AbortSignal | undefined } = {}): Promise<FileEntry> {
    const body = await toBody(data);
    const entry = await this.http.json("PUT", this.url(path), { body, runsCode: true, signal: options.signal });
    return FileEntry.fromJson(entry);
  }

  /** The file's bytes. */
  async read(path: string, options: { signal?: AbortSignal | undefined } = {}): Promise<Buffer> {
    const reply = await this.http.request("GET", this.url(path), { runsCode: true, signal: options.signal });
    return Buffer.from(reply.body.buffer, reply.body.byteOffset, reply.body.byteLength);
  }

  /** The file as text (UTF-8 unless `encoding` says otherwise). */
  async readText(path: string, encoding = "utf-8"): Promise<string> {
    return new TextDecoder(encoding).decode(await this.read(path));
  }

  /** The file as a web `ReadableStream` of bytes, read from the server as it is
   * consumed (for files too large to hold); `Readable.fromWeb` makes it a Node.js
   * stream. Errors (no such file) are thrown here, before the stream is returned. */
  async readStream(
    path: string,
    options: { signal?: AbortSignal | undefined } = {},
  ): Promise<ReadableStream<Uint8Array>> {
    const res = await this.http.stream("GET", this.url(path), { signal: options.signal });
    return res.body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() });
  }

  /** The entries of a directory (default: `/workspace` itself), sorted by name. */
  async list(path = ""): Promise<FileEntry[]> {
    const body = await this.http.json("GET", `/v1/sessions/${segment(this.sessionId, "a session id")}/files`, {
      query: { path: relativePath(path).replace(/\/+$/, "") },
    });
    const entries = body["entries"];
    return Array.isArray(entries) ? entries.filter(isObject).map((e) => FileEntry.fromJson(e)) : [];
  }

  /** Removes a file, a symlink (not its target), or a directory with its contents. */
  async remove(path: string): Promise<void> {
    await this.http.request("DELETE", this.url(path));
  }

  /** Whether the path exists (a file, a directory or another entry). */
  async exists(path: string): Promise<boolean> {
    const rel = relativePath(path).replace(/\/+$/, "");
    const slash = rel.lastIndexOf("/");
    const parent = slash < 0 ? "" : rel.slice(0, slash);
    const name = rel.slice(slash + 1);
    let entries: FileEntry[];
    try {
      entries = await this.list(parent);
    } catch (err) {
      if (err instanceof SessionNotFoundError) throw err;
      if (err instanceof NotFoundError || err instanceof InvalidRequestError) return false;
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
  readonly id: string;
  /** The session's language. */
  readonly language: string;
  /** The session's workspace. */
  readonly files: Files;
  /** The tenant's workflows, runs and collections, over this sandbox's connection. */
  readonly workflows: Workflows;
  /** The default per-cell timeout in seconds, or `undefined` for the server's. */
  timeout: number | undefined;
  private readonly http: Http;
  private closedFlag = false;
  /** After an aborted cell: settles once the session is idle again (bounded). */
  private settling: Promise<void> | null = null;

  private constructor(http: Http, info: SessionInfo, timeout: number | undefined) {
    this.http = http;
    this.id = info.id;
    this.language = info.language;
    this.timeout = timeout;
    this.files = new Files(http, info.id);
    this.workflows = Workflows.over(http);
  }

  /** Creates a session (`POST /v1/sessions`). */
  static async create(options: SandboxOptions = {}): Promise<Sandbox> {
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
  static async connect(
    sessionId: string,
    options: ClientOptions & { timeout?: number | undefined } = {},
  ): Promise<Sandbox> {
    const http = new Http(options);
    const info = SessionInfo.fromJson(await http.json("GET", `/v1/sessions/${segment(sessionId, "a session id")}`));
    return new Sandbox(http, info, options.timeout);
  }

  /** The server this sandbox talks to. */
  get baseUrl(): string {
    return this.http.baseUrl;
  }

  /** Whether `close()` has been called. */
  get closed(): boolean {
    return this.closedFlag;
  }

  private get path(): string {
    return `/v1/sessions/${segment(this.id, "a session id")}`;
  }

  /** The session as the server describes it now. */
  async info(): Promise<SessionInfo> {
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
  async runCode(code: string, options: RunCodeOptions = {}): Promise<Execution> {
    const body = cellBody(code, {
      timeout: options.timeout ?? this.timeout,
      packages: options.packages,
      files: options.files,
      input: options.input,
    });
    const { signal } = options;
    if (signal?.aborted) throw new AbortError("runCode: aborted before it started", signal.reason);
    if (this.settling !== null) await this.settling;
    // With a signal the cell streams too, callbacks or not: the server keeps a streamed
    // cell (and the session's `busy` state) going after the client has gone, so that an
    // abort can interrupt it and wait for the session to be idle again. (A plain JSON
    // request whose client goes away leaves its cell running while the session says
    // `idle`.)
    const streaming =
      options.onStdout !== undefined ||
      options.onStderr !== undefined ||
      options.onResult !== undefined ||
      signal !== undefined;
    try {
      if (!streaming) {
        return Execution.fromJson(
          await this.http.json("POST", `${this.path}/execute`, { json: body, runsCode: true, signal }),
        );
      }
      return await this.streamCell(body, options);
    } catch (err) {
      if (err instanceof AbortError || !(err instanceof WardenError)) {
        // The caller gave up (or a callback threw): stop the cell too, so that the
        // session can take the next one.
        await this.stopAfterAbort();
      }
      throw err;
    }
  }

  private async streamCell(body: JsonObject, options: RunCodeOptions): Promise<Execution> {
    const res = await this.http.stream("POST", `${this.path}/execute`, {
      json: body,
      headers: { accept: "text/event-stream" },
      signal: options.signal,
    });
    if (!isEventStream(res)) {
      // A server (or proxy) that ignored `accept`: the whole result as JSON.
      let parsed: unknown;
      try {
        parsed = JSON.parse(await res.text());
      } catch (err) {
        if (err instanceof SyntaxError) throw new ProtocolError(`HTTP ${res.status} reply is not JSON`, res.status);
        throw Http.readError(err, "the cell's reply", options.signal);
      }
      if (!isObject(parsed)) throw new ProtocolError("the reply is not a JSON object", res.status);
      return Execution.fromJson(parsed);
    }
    if (res.body === null) throw Http.readError(new Error("no body"), "the cell's event stream", options.signal);
    const events = readEvents(res.body);
    try {
      for (;;) {
        let next: IteratorResult<SSEEvent>;
        try {
          next = await events.next();
        } catch (err) {
          throw Http.readError(err, "the cell's event stream", options.signal);
        }
        if (next.done) break;
        const event = decodeCellEvent(next.value.event, next.value.data);
        if (event === null) continue;
        if (event.kind === "stdout") {
          if (event.text && options.onStdout) await options.onStdout(event.text);
        } else if (event.kind === "stderr") {
          if (event.text && options.onStderr) await options.onStderr(event.text);
        } else {
          if (options.onResult) for (const r of event.execution.results) await options.onResult(r);
          return event.execution;
        }
      }
    } finally {
      // Stops reading when a callback threw or the result came (a no-op at the end).
      await events.return(undefined).catch(() => {});
    }
    throw new NetworkError("the event stream ended before the cell's result");
  }

  /** Interrupts the aborted cell and, in the background, waits (at most 5 s) until the
   * session is idle again; the next call on this sandbox waits for that. */
  private async stopAfterAbort(): Promise<void> {
    const deadline = Date.now() + 5000;
    try {
      await this.interrupt();
    } catch {
      return; // the session is gone or the server unreachable: nothing to stop
    }
    const settle = async (): Promise<void> => {
      let lastInterrupt = Date.now();
      while (Date.now() < deadline) {
        let state: string;
        try {
          state = (await this.info()).state;
        } catch {
          return;
        }
        if (state !== "busy") return;
        await sleep(25);
        if (Date.now() - lastInterrupt > 500) {
          lastInterrupt = Date.now();
          await this.interrupt().catch(() => {});
        }
      }
    };
    const p = settle().finally(() => {
      if (this.settling === p) this.settling = null;
    });
    this.settling = p;
  }

  /** Interrupts the running cell as Ctrl-C would (`KeyboardInterrupt`); the session's
   * state is kept. Harmless when idle. */
  async interrupt(): Promise<void> {
    await this.http.request("POST", `${this.path}/interrupt`);
  }

  /** A fresh interpreter in the same session (variables are lost, files kept). */
  async restart(): Promise<SessionInfo> {
    return SessionInfo.fromJson(await this.http.json("POST", `${this.path}/restart`, { runsCode: true }));
  }

  /** warden's function-calling tools (`GET /v1/tools`), to pass to a model. */
  async tools(options: { format?: ToolFormat | undefined } = {}): Promise<JsonObject[]> {
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
  async callTool(
    toolCall: unknown,
    options: { format?: ToolFormat | undefined; signal?: AbortSignal | undefined } = {},
  ): Promise<JsonObject[]> {
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
  async close(): Promise<void> {
    if (this.closedFlag) return;
    this.closedFlag = true;
    try {
      await this.http.request("DELETE", this.path);
    } catch (err) {
      if (!(err instanceof SessionNotFoundError)) throw err;
    }
  }

  /** `await using sb = await Sandbox.create()` closes the session at the end of the
   * block. */
  async [asyncDispose](): Promise<void> {
    await this.close();
  }

  toString(): string {
    return `Sandbox(id=${this.id}, baseUrl=${this.http.baseUrl})`;
  }
}

/** Options of a one-shot run (`execute`). */
export interface ExecuteOptions extends ClientOptions {
  /** `python` (default), `javascript` or `bash`. */
  language?: Language | (string & {}) | undefined;
  files?: InlineFiles | undefined;
  packages?: readonly string[] | undefined;
  /** Seconds before the run is stopped (default: the server's, 30 s). */
  timeout?: number | undefined;
  template?: string | undefined;
  /** JSON handed to the code: `input_data` in Python, the global `input` in JavaScript. */
  input?: unknown | undefined;
  memoryMb?: number | undefined;
  diskMb?: number | undefined;
  network?: boolean | undefined;
  allowHosts?: readonly string[] | undefined;
  /** Aborts the request; the promise rejects with `AbortError`. */
  signal?: AbortSignal | undefined;
}

/**
 * One run in a fresh sandbox, discarded after (`POST /v1/execute`). `files` go in
 * first; the result lists the files the code created or changed (`files`) and the JSON
 * of its variable `result` (`result`).
 */
export async function execute(code: string, options: ExecuteOptions = {}): Promise<Execution> {
  const body = cellBody(code, options);
  Object.assign(
    body,
    defined({
      language: options.language ?? "python",
      template: options.template,
      memory_mb: options.memoryMb,
      disk_mb: options.diskMb,
    }),
    networkFields(options.network, options.allowHosts),
  );
  const http = new Http(options);
  return Execution.fromJson(
    await http.json("POST", "/v1/execute", { json: body, runsCode: true, signal: options.signal }),
  );
}

async function toBody(data: FileInput): Promise<string | Uint8Array | ReadableStream<Uint8Array>> {
  if (typeof data === "string") return new TextEncoder().encode(data);
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (typeof Blob !== "undefined" && data instanceof Blob) return new Uint8Array(await data.arrayBuffer());
  if (data instanceof ReadableStream) return data;
  if (typeof data === "object" && data !== null) {
    if (Symbol.asyncIterator in data)
      return iterableStream((data as AsyncIterable<Uint8Array | string>)[Symbol.asyncIterator]());
    if (Symbol.iterator in data) return iterableStream((data as Iterable<Uint8Array | string>)[Symbol.iterator]());
  }
  throw new TypeError(
    `file data must be a string, bytes, a Blob, a ReadableStream or an iterable of chunks, not ${typeName(data)}`,
  );
}

function iterableStream(
  it: AsyncIterator<Uint8Array | string> | Iterator<Uint8Array | string>,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await it.next();
      if (done) {
        controller.close();
        return;
      }
      if (typeof value === "string") controller.enqueue(encoder.encode(value));
      else if (value instanceof Uint8Array) controller.enqueue(value);
      else throw new TypeError(`a file chunk must be bytes or a string, not ${typeName(value)}`);
    },
    async cancel(reason) {
      await it.return?.(reason);
    },
  });
}
