/**
 * The values calls return: executions, their results, files, sessions, and workflows with
 * their runs and document collections.
 *
 * Each is built from the server's JSON (`fromJson`); fields the server did not send get
 * their documented default (`null`, `0`, `""`, `[]`), and the reply as sent is kept in
 * `raw`, so fields this version of the client does not know are not lost.
 *
 * @module
 */
/** Any JSON value. */
export type Json = null | boolean | number | string | Json[] | {
    [key: string]: Json;
};
/** A JSON object as parsed (values not narrowed). */
export type JsonObject = Record<string, unknown>;
/** One thing static analysis noticed in the code (the server's docs/ANALYSIS.md). */
export declare class Finding {
    readonly rule: string;
    readonly severity: string;
    readonly line: number;
    readonly col: number;
    readonly message: string;
    constructor(rule: string, severity: string, line: number, col: number, message: string);
    static fromJson(v: JsonObject): Finding;
}
/**
 * A rich result of a cell: the final expression's value (`isMainResult`) or an output
 * the cell displayed (a matplotlib figure, `display(...)`).
 *
 * `data` is the MIME bundle as sent (binary formats base64-encoded); the getters give
 * each format, binary ones (`png`, `jpeg`) decoded to bytes.
 */
export declare class Result {
    readonly data: Readonly<Record<string, string>>;
    readonly isMainResult: boolean;
    constructor(data: Readonly<Record<string, string>>, isMainResult?: boolean);
    private get;
    /** `text/plain`: the value's `repr` (Python), `util.inspect` (JavaScript). */
    get text(): string | null;
    get html(): string | null;
    get markdown(): string | null;
    get svg(): string | null;
    get latex(): string | null;
    /** `application/json`, as the text sent. */
    get json(): string | null;
    /** `image/png`, decoded: starts with `\x89PNG`. */
    get png(): Buffer | null;
    /** `image/png` as sent, base64 (for `data:` URLs). */
    get pngBase64(): string | null;
    get jpeg(): Buffer | null;
    /** The MIME types present, sorted. */
    formats(): string[];
    toJSON(): JsonObject;
}
/** The exception a cell raised: `name` (`ValueError`; `ExitStatus` in bash), `value`
 * (its message) and `traceback` (the formatted lines, cell frames named `<cell-N>`). */
export declare class ExecutionError {
    readonly name: string;
    readonly value: string;
    readonly traceback: readonly string[];
    constructor(name: string, value: string, traceback?: readonly string[]);
    /** The traceback's lines joined. */
    get tracebackText(): string;
    static fromJson(v: JsonObject): ExecutionError;
}
/** A file a one-shot `execute` created or changed in `/workspace`; `content` is `null`
 * when it was too large to come inline (over 64 KiB). */
export declare class ChangedFile {
    readonly path: string;
    readonly size: number;
    readonly content: Buffer | null;
    constructor(path: string, size: number, content?: Buffer | null);
    /** The content as UTF-8 text (`null` when absent or not valid UTF-8). */
    get text(): string | null;
    static fromJson(v: JsonObject): ChangedFile;
}
/**
 * What a cell (or a one-shot run) did.
 *
 * `status` is `ok` or `error` (the code raised; `error` says what, `errorCode` why). A
 * cell's exception is a result, not a thrown error: only failures of the call itself
 * (unknown session, syntax error, policy refusal, dead session, network) throw a
 * `WardenError`.
 */
export declare class Execution {
    /** What the cell printed (up to 1 MiB each; see `stdoutTruncated`). */
    readonly stdout: string;
    readonly stderr: string;
    readonly stdoutTruncated: boolean;
    readonly stderrTruncated: boolean;
    /** The displayed outputs (figures, `display(...)`) in order, then the final value
     * (`isMainResult`). */
    readonly results: readonly Result[];
    /** The exception the code raised, or `null`. */
    readonly error: ExecutionError | null;
    /** `ok` or `error`. */
    readonly status: string;
    /**
     * The stable code of what made the run fail, or `null` when it did not:
     * `EXECUTION_ERROR` (the code raised or exited non-zero), `TIMEOUT`, `MEMORY_LIMIT`,
     * `CPU_LIMIT`, `KILLED`, `EGRESS_LIMIT`.
     */
    readonly errorCode: string | null;
    /**
     * The JSON value of the variable `result` the code assigned (`null` if none): sent for
     * every Python or JavaScript one-shot run, and for a session's cell given `input`.
     */
    readonly result: unknown;
    readonly executionCount: number;
    readonly executionId: string | null;
    readonly timedOut: boolean;
    readonly durationMs: number;
    /** The risk level static analysis gave the code (absent for bash). */
    readonly risk: string | null;
    readonly findings: readonly Finding[];
    /** Secrets redacted from the output, counted by kind. */
    readonly secrets: Readonly<Record<string, number>>;
    /** One-shot runs only: the files the code created or changed; `null` for cells. */
    readonly files: readonly ChangedFile[] | null;
    /** With network: the connections made and refused, as the server reports them. */
    readonly egress: JsonObject | null;
    /** The reply as sent. */
    readonly raw: JsonObject;
    constructor(raw: JsonObject);
    static fromJson(v: JsonObject): Execution;
    /** The final expression's value, or `null` (a statement, or `None`/`undefined`). */
    get value(): Result | null;
    /** The final value's `text/plain` (e.g. `"42"`), or `null`. */
    get text(): string | null;
    /** The displayed outputs (figures, `display(...)`), without the final value. */
    get outputs(): Result[];
    /** Whether the run succeeded: `status` `ok` and no `errorCode`. */
    get ok(): boolean;
    toJSON(): JsonObject;
}
/** A file, directory, symlink or other entry of a session's `/workspace`. `mtime` is
 * Unix seconds. */
export declare class FileEntry {
    readonly path: string;
    readonly name: string;
    readonly type: string;
    readonly size: number;
    readonly mtime: number;
    constructor(path: string, name: string, type: string, size: number, mtime: number);
    get isDir(): boolean;
    get isFile(): boolean;
    static fromJson(v: JsonObject): FileEntry;
}
/** A session as the server describes it. `state` is `idle`, `busy` or `dead`; times are
 * Unix seconds. */
export declare class SessionInfo {
    readonly id: string;
    readonly language: string;
    readonly state: string;
    readonly createdAt: number;
    readonly lastUsedAt: number;
    readonly idleTtl: number;
    readonly expiresAt: number;
    readonly executionCount: number;
    readonly raw: JsonObject;
    constructor(id: string, language: string, state: string, createdAt: number, lastUsedAt: number, idleTtl: number, expiresAt: number, executionCount: number, raw?: JsonObject);
    static fromJson(v: JsonObject): SessionInfo;
}
/** One problem of an invalid workflow definition: the `node` (its id) or `edge` (its
 * index in `edges`) it is about, when there is one, a stable `code` (`unknown_type`,
 * `unreachable`, `edge_to_nowhere`, ...; the server's docs/WORKFLOWS.md) and a
 * `message`. */
export declare class WorkflowProblem {
    readonly node: string | null;
    readonly edge: number | null;
    readonly code: string;
    readonly message: string;
    constructor(node: string | null, edge: number | null, code: string, message: string);
    static fromJson(v: JsonObject): WorkflowProblem;
}
/** A stored workflow version. `version` counts 1, 2, 3... per `id`; `createdAt` is Unix
 * seconds; `definition` (the stored, normalized JSON) is `null` in lists. */
export declare class WorkflowInfo {
    readonly id: string;
    readonly version: number;
    readonly name: string;
    readonly createdAt: number;
    readonly definition: JsonObject | null;
    readonly raw: JsonObject;
    constructor(id: string, version: number, name: string, createdAt: number, definition?: JsonObject | null, raw?: JsonObject);
    static fromJson(v: JsonObject): WorkflowInfo;
}
/** Why a run failed: the `node` that failed (`null` for a failure of the run itself),
 * a stable `code` (`EXECUTION_ERROR`, `TIMEOUT`, `POLICY_DENIED`, ...), the `message`
 * and, for code nodes, the `traceback`. */
export declare class RunError {
    readonly node: string | null;
    readonly code: string;
    readonly message: string;
    readonly traceback: string | null;
    constructor(node: string | null, code: string, message: string, traceback?: string | null);
    static fromJson(v: JsonObject): RunError;
}
/**
 * A workflow run. `status` is `running`, then `ok` or `error`. A node's failure is not
 * a thrown error: the run ends with `status === "error"` and `error` says where and why.
 * `output` is the `end` node's output (`null` until finished, and when the run failed);
 * `state` and `trace` are `null` in `listRuns` pages. Times are Unix seconds.
 */
export declare class Run {
    readonly id: string;
    readonly status: string;
    readonly workflowId: string | null;
    readonly workflowVersion: number | null;
    readonly workflowName: string;
    readonly threadId: string | null;
    readonly input: unknown;
    readonly output: unknown;
    readonly state: JsonObject | null;
    /** One entry per node execution (`node`, `type`, `status`, `inputs`, `outputs`,
     * `stdout`, `error`, `started_ms`, `duration_ms`, ...). */
    readonly trace: JsonObject[] | null;
    readonly error: RunError | null;
    readonly steps: number;
    readonly startedAt: number;
    readonly finishedAt: number | null;
    readonly raw: JsonObject;
    constructor(v: JsonObject);
    static fromJson(v: JsonObject): Run;
    /** Whether the run has ended (`ok` or `error`). */
    get finished(): boolean;
    get ok(): boolean;
    toJSON(): JsonObject;
}
/** One page of `listRuns`: `runs` newest first (without `state` and `trace`), and
 * `nextCursor` for the next page (`null` on the last). */
export declare class RunList {
    readonly runs: Run[];
    readonly nextCursor: string | null;
    constructor(runs: Run[], nextCursor?: string | null);
    static fromJson(v: JsonObject): RunList;
}
/** A document collection: its `name`, how many `documents` it holds, and `updatedAt`
 * (Unix seconds of the latest write). */
export declare class CollectionInfo {
    readonly name: string;
    readonly documents: number;
    readonly updatedAt: number;
    constructor(name: string, documents: number, updatedAt: number);
    static fromJson(v: JsonObject): CollectionInfo;
}
/** One ranked document of a search: `score` is BM25 (higher is better). */
export declare class SearchHit {
    readonly id: string;
    readonly score: number;
    readonly text: string;
    readonly metadata: unknown;
    constructor(id: string, score: number, text: string, metadata?: unknown);
    static fromJson(v: JsonObject): SearchHit;
}
