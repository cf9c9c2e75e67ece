/**
 * Sessions: `Sandbox` (a stateful interpreter in its own sandbox), its workspace `Files`,
 * and the one-shot `execute`.
 *
 * @module
 */
import { asyncDispose } from "./dispose.js";
import { type ClientOptions } from "./http.js";
import { Execution, FileEntry, SessionInfo, type JsonObject, type Result } from "./models.js";
import { type InlineFiles } from "./shared.js";
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
export type FileInput = string | Uint8Array | ArrayBuffer | Blob | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>;
/** Tool definition formats (docs/TOOLS.md). */
export type ToolFormat = "openai" | "anthropic";
/** The workspace of a session: paths are relative to `/workspace` (a leading
 * `/workspace/` is accepted). */
export declare class Files {
    private readonly http;
    private readonly sessionId;
    private url;
    /** Writes a file (parent directories are made); replaces an existing one only once
     * complete. */
    write(path: string, data: FileInput, options?: {
        signal?: AbortSignal | undefined;
    }): Promise<FileEntry>;
    /** The file's bytes. */
    read(path: string, options?: {
        signal?: AbortSignal | undefined;
    }): Promise<Buffer>;
    /** The file as text (UTF-8 unless `encoding` says otherwise). */
    readText(path: string, encoding?: string): Promise<string>;
    /** The file as a web `ReadableStream` of bytes, read from the server as it is
     * consumed (for files too large to hold); `Readable.fromWeb` makes it a Node.js
     * stream. Errors (no such file) are thrown here, before the stream is returned. */
    readStream(path: string, options?: {
        signal?: AbortSignal | undefined;
    }): Promise<ReadableStream<Uint8Array>>;
    /** The entries of a directory (default: `/workspace` itself), sorted by name. */
    list(path?: string): Promise<FileEntry[]>;
    /** Removes a file, a symlink (not its target), or a directory with its contents. */
    remove(path: string): Promise<void>;
    /** Whether the path exists (a file, a directory or another entry). */
    exists(path: string): Promise<boolean>;
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
export declare class Sandbox {
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
    private readonly http;
    private closedFlag;
    /** After an aborted cell: settles once the session is idle again (bounded). */
    private settling;
    private constructor();
    /** Creates a session (`POST /v1/sessions`). */
    static create(options?: SandboxOptions): Promise<Sandbox>;
    /** Attaches to an existing session (`SessionNotFoundError` if there is none). Closing
     * either object closes the session for both. */
    static connect(sessionId: string, options?: ClientOptions & {
        timeout?: number | undefined;
    }): Promise<Sandbox>;
    /** The server this sandbox talks to. */
    get baseUrl(): string;
    /** Whether `close()` has been called. */
    get closed(): boolean;
    private get path();
    /** The session as the server describes it now. */
    info(): Promise<SessionInfo>;
    /**
     * Runs one cell. With `onStdout`, `onStderr` or `onResult` the cell streams
     * (Server-Sent Events) and the callbacks get its output as it happens; either way the
     * promise resolves with the whole `Execution` once the cell has ended. A cell that
     * raises resolves too (`execution.error`); failures of the call reject with a
     * `WardenError`. With `signal`, an abort rejects with `AbortError` and interrupts the
     * cell; the next call on this sandbox first waits (at most 5 s) for the session to be
     * idle.
     */
    runCode(code: string, options?: RunCodeOptions): Promise<Execution>;
    private streamCell;
    /** Interrupts the aborted cell and, in the background, waits (at most 5 s) until the
     * session is idle again; the next call on this sandbox waits for that. */
    private stopAfterAbort;
    /** Interrupts the running cell as Ctrl-C would (`KeyboardInterrupt`); the session's
     * state is kept. Harmless when idle. */
    interrupt(): Promise<void>;
    /** A fresh interpreter in the same session (variables are lost, files kept). */
    restart(): Promise<SessionInfo>;
    /** warden's function-calling tools (`GET /v1/tools`), to pass to a model. */
    tools(options?: {
        format?: ToolFormat | undefined;
    }): Promise<JsonObject[]>;
    /**
     * Runs one tool call exactly as the model emitted it, in this session
     * (`POST /v1/tools/call`), and returns the messages to append to the conversation: a
     * `tool` message (OpenAI; plus a `user` message of images when the code drew
     * figures), or one `user` message with the `tool_result` (Anthropic). Failures inside
     * the tool come back as messages starting `error [CODE]:`.
     */
    callTool(toolCall: unknown, options?: {
        format?: ToolFormat | undefined;
        signal?: AbortSignal | undefined;
    }): Promise<JsonObject[]>;
    /** Closes the session (`DELETE`); a running cell is killed with it. Idempotent; a
     * session that has already expired is not an error. */
    close(): Promise<void>;
    /** `await using sb = await Sandbox.create()` closes the session at the end of the
     * block. */
    [asyncDispose](): Promise<void>;
    toString(): string;
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
export declare function execute(code: string, options?: ExecuteOptions): Promise<Execution>;
