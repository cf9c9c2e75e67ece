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
function str(v) {
    return typeof v === "string" ? v : null;
}
function num(v, fallback = 0) {
    return typeof v === "number" && Number.isFinite(v) ? v : fallback;
}
function optNum(v) {
    return typeof v === "number" && Number.isFinite(v) ? v : null;
}
function optInt(v) {
    return typeof v === "number" && Number.isInteger(v) ? v : null;
}
function isObject(v) {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}
function objects(v) {
    return Array.isArray(v) ? v.filter(isObject) : [];
}
function b64(value) {
    return value === null ? null : Buffer.from(value, "base64");
}
/** One thing static analysis noticed in the code (the server's docs/ANALYSIS.md). */
export class Finding {
    rule;
    severity;
    line;
    col;
    message;
    constructor(rule, severity, line, col, message) {
        this.rule = rule;
        this.severity = severity;
        this.line = line;
        this.col = col;
        this.message = message;
    }
    static fromJson(v) {
        return new Finding(str(v["rule"]) ?? "", str(v["severity"]) ?? "", num(v["line"]), num(v["col"]), str(v["message"]) ?? "");
    }
}
/**
 * A rich result of a cell: the final expression's value (`isMainResult`) or an output
 * the cell displayed (a matplotlib figure, `display(...)`).
 *
 * `data` is the MIME bundle as sent (binary formats base64-encoded); the getters give
 * each format, binary ones (`png`, `jpeg`) decoded to bytes.
 */
export class Result {
    data;
    isMainResult;
    constructor(data, isMainResult = false) {
        this.data = data;
        this.isMainResult = isMainResult;
    }
    get(mime) {
        const v = this.data[mime];
        return typeof v === "string" ? v : null;
    }
    /** `text/plain`: the value's `repr` (Python), `util.inspect` (JavaScript). */
    get text() {
        return this.get("text/plain");
    }
    get html() {
        return this.get("text/html");
    }
    get markdown() {
        return this.get("text/markdown");
    }
    get svg() {
        return this.get("image/svg+xml");
    }
    get latex() {
        return this.get("text/latex");
    }
    /** `application/json`, as the text sent. */
    get json() {
        return this.get("application/json");
    }
    /** `image/png`, decoded: starts with `\x89PNG`. */
    get png() {
        return b64(this.pngBase64);
    }
    /** `image/png` as sent, base64 (for `data:` URLs). */
    get pngBase64() {
        return this.get("image/png");
    }
    get jpeg() {
        return b64(this.get("image/jpeg"));
    }
    /** The MIME types present, sorted. */
    formats() {
        return Object.keys(this.data).sort();
    }
    toJSON() {
        return { data: this.data, isMainResult: this.isMainResult };
    }
}
/** The exception a cell raised: `name` (`ValueError`; `ExitStatus` in bash), `value`
 * (its message) and `traceback` (the formatted lines, cell frames named `<cell-N>`). */
export class ExecutionError {
    name;
    value;
    traceback;
    constructor(name, value, traceback = []) {
        this.name = name;
        this.value = value;
        this.traceback = traceback;
    }
    /** The traceback's lines joined. */
    get tracebackText() {
        return this.traceback.join("");
    }
    static fromJson(v) {
        const tb = v["traceback"];
        return new ExecutionError(str(v["name"]) ?? "", str(v["value"]) ?? "", Array.isArray(tb) ? tb.map((x) => String(x)) : []);
    }
}
/** A file a one-shot `execute` created or changed in `/workspace`; `content` is `null`
 * when it was too large to come inline (over 64 KiB). */
export class ChangedFile {
    path;
    size;
    content;
    constructor(path, size, content = null) {
        this.path = path;
        this.size = size;
        this.content = content;
    }
    /** The content as UTF-8 text (`null` when absent or not valid UTF-8). */
    get text() {
        if (this.content === null)
            return null;
        try {
            return new TextDecoder("utf-8", { fatal: true }).decode(this.content);
        }
        catch {
            return null;
        }
    }
    static fromJson(v) {
        const raw = str(v["content"]);
        let content = null;
        if (raw !== null)
            content = v["encoding"] === "base64" ? Buffer.from(raw, "base64") : Buffer.from(raw, "utf8");
        return new ChangedFile(str(v["path"]) ?? "", num(v["size"]), content);
    }
}
/**
 * What a cell (or a one-shot run) did.
 *
 * `status` is `ok` or `error` (the code raised; `error` says what, `errorCode` why). A
 * cell's exception is a result, not a thrown error: only failures of the call itself
 * (unknown session, syntax error, policy refusal, dead session, network) throw a
 * `WardenError`.
 */
export class Execution {
    /** What the cell printed (up to 1 MiB each; see `stdoutTruncated`). */
    stdout;
    stderr;
    stdoutTruncated;
    stderrTruncated;
    /** The displayed outputs (figures, `display(...)`) in order, then the final value
     * (`isMainResult`). */
    results;
    /** The exception the code raised, or `null`. */
    error;
    /** `ok` or `error`. */
    status;
    /**
     * The stable code of what made the run fail, or `null` when it did not:
     * `EXECUTION_ERROR` (the code raised or exited non-zero), `TIMEOUT`, `MEMORY_LIMIT`,
     * `CPU_LIMIT`, `KILLED`, `EGRESS_LIMIT`.
     */
    errorCode;
    /**
     * The JSON value of the variable `result` the code assigned (`null` if none): sent for
     * every Python or JavaScript one-shot run, and for a session's cell given `input`.
     */
    result;
    executionCount;
    executionId;
    timedOut;
    durationMs;
    /** The risk level static analysis gave the code (absent for bash). */
    risk;
    findings;
    /** Secrets redacted from the output, counted by kind. */
    secrets;
    /** One-shot runs only: the files the code created or changed; `null` for cells. */
    files;
    /** With network: the connections made and refused, as the server reports them. */
    egress;
    /** The reply as sent. */
    raw;
    constructor(raw) {
        this.raw = raw;
        const results = [];
        for (const o of objects(raw["outputs"]))
            results.push(new Result(stringValues(o)));
        const value = raw["value"];
        if (isObject(value))
            results.push(new Result(stringValues(value), true));
        this.results = results;
        this.stdout = str(raw["stdout"]) ?? "";
        this.stderr = str(raw["stderr"]) ?? "";
        this.stdoutTruncated = raw["stdout_truncated"] === true;
        this.stderrTruncated = raw["stderr_truncated"] === true;
        const err = raw["error"];
        this.error = isObject(err) ? ExecutionError.fromJson(err) : null;
        this.status = str(raw["status"]) ?? "ok";
        this.errorCode = str(raw["error_code"]);
        this.result = raw["result"] === undefined ? null : raw["result"];
        this.executionCount = num(raw["execution_count"]);
        this.executionId = str(raw["execution_id"]);
        this.timedOut = raw["timed_out"] === true;
        this.durationMs = num(raw["duration_ms"]);
        this.risk = str(raw["risk"]);
        this.findings = objects(raw["findings"]).map((f) => Finding.fromJson(f));
        const secrets = {};
        if (isObject(raw["secrets"]))
            for (const [k, n] of Object.entries(raw["secrets"]))
                secrets[k] = num(n);
        this.secrets = secrets;
        this.files = Array.isArray(raw["files"]) ? objects(raw["files"]).map((f) => ChangedFile.fromJson(f)) : null;
        this.egress = isObject(raw["egress"]) ? raw["egress"] : null;
    }
    static fromJson(v) {
        return new Execution(v);
    }
    /** The final expression's value, or `null` (a statement, or `None`/`undefined`). */
    get value() {
        return this.results.find((r) => r.isMainResult) ?? null;
    }
    /** The final value's `text/plain` (e.g. `"42"`), or `null`. */
    get text() {
        return this.value?.text ?? null;
    }
    /** The displayed outputs (figures, `display(...)`), without the final value. */
    get outputs() {
        return this.results.filter((r) => !r.isMainResult);
    }
    /** Whether the run succeeded: `status` `ok` and no `errorCode`. */
    get ok() {
        return this.status === "ok" && this.errorCode === null && this.error === null;
    }
    toJSON() {
        return this.raw;
    }
}
function stringValues(o) {
    const out = {};
    for (const [k, v] of Object.entries(o))
        if (typeof v === "string")
            out[k] = v;
    return out;
}
/** A file, directory, symlink or other entry of a session's `/workspace`. `mtime` is
 * Unix seconds. */
export class FileEntry {
    path;
    name;
    type;
    size;
    mtime;
    constructor(path, name, type, size, mtime) {
        this.path = path;
        this.name = name;
        this.type = type;
        this.size = size;
        this.mtime = mtime;
    }
    get isDir() {
        return this.type === "directory";
    }
    get isFile() {
        return this.type === "file";
    }
    static fromJson(v) {
        return new FileEntry(str(v["path"]) ?? "", str(v["name"]) ?? "", str(v["type"]) ?? "", num(v["size"]), num(v["mtime"]));
    }
}
/** A session as the server describes it. `state` is `idle`, `busy` or `dead`; times are
 * Unix seconds. */
export class SessionInfo {
    id;
    language;
    state;
    createdAt;
    lastUsedAt;
    idleTtl;
    expiresAt;
    executionCount;
    raw;
    constructor(id, language, state, createdAt, lastUsedAt, idleTtl, expiresAt, executionCount, raw = {}) {
        this.id = id;
        this.language = language;
        this.state = state;
        this.createdAt = createdAt;
        this.lastUsedAt = lastUsedAt;
        this.idleTtl = idleTtl;
        this.expiresAt = expiresAt;
        this.executionCount = executionCount;
        this.raw = raw;
    }
    static fromJson(v) {
        return new SessionInfo(str(v["id"]) ?? "", str(v["language"]) ?? "", str(v["state"]) ?? "", num(v["created_at"]), num(v["last_used_at"]), num(v["idle_ttl"]), num(v["expires_at"]), num(v["execution_count"]), v);
    }
}
// ---------------------------------------------------------------- workflows
/** One problem of an invalid workflow definition: the `node` (its id) or `edge` (its
 * index in `edges`) it is about, when there is one, a stable `code` (`unknown_type`,
 * `unreachable`, `edge_to_nowhere`, ...; the server's docs/WORKFLOWS.md) and a
 * `message`. */
export class WorkflowProblem {
    node;
    edge;
    code;
    message;
    constructor(node, edge, code, message) {
        this.node = node;
        this.edge = edge;
        this.code = code;
        this.message = message;
    }
    static fromJson(v) {
        return new WorkflowProblem(str(v["node"]), optInt(v["edge"]), str(v["code"]) ?? "", str(v["message"]) ?? "");
    }
}
/** A stored workflow version. `version` counts 1, 2, 3... per `id`; `createdAt` is Unix
 * seconds; `definition` (the stored, normalized JSON) is `null` in lists. */
export class WorkflowInfo {
    id;
    version;
    name;
    createdAt;
    definition;
    raw;
    constructor(id, version, name, createdAt, definition = null, raw = {}) {
        this.id = id;
        this.version = version;
        this.name = name;
        this.createdAt = createdAt;
        this.definition = definition;
        this.raw = raw;
    }
    static fromJson(v) {
        const d = v["definition"];
        return new WorkflowInfo(str(v["id"]) ?? "", num(v["version"]), str(v["name"]) ?? "", num(v["created_at"]), isObject(d) ? d : null, v);
    }
}
/** Why a run failed: the `node` that failed (`null` for a failure of the run itself),
 * a stable `code` (`EXECUTION_ERROR`, `TIMEOUT`, `POLICY_DENIED`, ...), the `message`
 * and, for code nodes, the `traceback`. */
export class RunError {
    node;
    code;
    message;
    traceback;
    constructor(node, code, message, traceback = null) {
        this.node = node;
        this.code = code;
        this.message = message;
        this.traceback = traceback;
    }
    static fromJson(v) {
        const tb = v["traceback"];
        const traceback = Array.isArray(tb) ? tb.map((x) => String(x)).join("") : str(tb);
        return new RunError(str(v["node"]), str(v["code"]) ?? "", str(v["message"]) ?? "", traceback);
    }
}
/**
 * A workflow run. `status` is `running`, then `ok` or `error`. A node's failure is not
 * a thrown error: the run ends with `status === "error"` and `error` says where and why.
 * `output` is the `end` node's output (`null` until finished, and when the run failed);
 * `state` and `trace` are `null` in `listRuns` pages. Times are Unix seconds.
 */
export class Run {
    id;
    status;
    workflowId;
    workflowVersion;
    workflowName;
    threadId;
    input;
    output;
    state;
    /** One entry per node execution (`node`, `type`, `status`, `inputs`, `outputs`,
     * `stdout`, `error`, `started_ms`, `duration_ms`, ...). */
    trace;
    error;
    steps;
    startedAt;
    finishedAt;
    raw;
    constructor(v) {
        this.raw = v;
        this.id = str(v["id"]) ?? "";
        this.status = str(v["status"]) ?? "";
        this.workflowId = str(v["workflow_id"]);
        this.workflowVersion = optInt(v["workflow_version"]);
        this.workflowName = str(v["workflow_name"]) ?? "";
        this.threadId = str(v["thread_id"]);
        this.input = v["input"] ?? null;
        this.output = v["output"] ?? null;
        this.state = isObject(v["state"]) ? v["state"] : null;
        this.trace = Array.isArray(v["trace"]) ? objects(v["trace"]) : null;
        this.error = isObject(v["error"]) ? RunError.fromJson(v["error"]) : null;
        this.steps = num(v["steps"]);
        this.startedAt = num(v["started_at"]);
        this.finishedAt = optNum(v["finished_at"]);
    }
    static fromJson(v) {
        return new Run(v);
    }
    /** Whether the run has ended (`ok` or `error`). */
    get finished() {
        return this.status !== "running";
    }
    get ok() {
        return this.status === "ok";
    }
    toJSON() {
        return this.raw;
    }
}
/** One page of `listRuns`: `runs` newest first (without `state` and `trace`), and
 * `nextCursor` for the next page (`null` on the last). */
export class RunList {
    runs;
    nextCursor;
    constructor(runs, nextCursor = null) {
        this.runs = runs;
        this.nextCursor = nextCursor;
    }
    static fromJson(v) {
        return new RunList(objects(v["runs"]).map((r) => Run.fromJson(r)), str(v["next_cursor"]));
    }
}
/** A document collection: its `name`, how many `documents` it holds, and `updatedAt`
 * (Unix seconds of the latest write). */
export class CollectionInfo {
    name;
    documents;
    updatedAt;
    constructor(name, documents, updatedAt) {
        this.name = name;
        this.documents = documents;
        this.updatedAt = updatedAt;
    }
    static fromJson(v) {
        return new CollectionInfo(str(v["name"]) ?? "", num(v["documents"]), num(v["updated_at"]));
    }
}
/** One ranked document of a search: `score` is BM25 (higher is better). */
export class SearchHit {
    id;
    score;
    text;
    metadata;
    constructor(id, score, text, metadata = null) {
        this.id = id;
        this.score = score;
        this.text = text;
        this.metadata = metadata;
    }
    static fromJson(v) {
        return new SearchHit(str(v["id"]) ?? "", num(v["score"]), str(v["text"]) ?? "", v["metadata"] ?? null);
    }
}
