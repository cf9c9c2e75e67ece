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
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A JSON object as parsed (values not narrowed). */
export type JsonObject = Record<string, unknown>;

function str(v: unknown): string | null {
  return typeof v === "string" ? v : null;
}

function num(v: unknown, fallback = 0): number {
  return typeof v === "number" && Number.isFinite(v) ? v : fallback;
}

function optNum(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

function optInt(v: unknown): number | null {
  return typeof v === "number" && Number.isInteger(v) ? v : null;
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function objects(v: unknown): JsonObject[] {
  return Array.isArray(v) ? v.filter(isObject) : [];
}

function b64(value: string | null): Buffer | null {
  return value === null ? null : Buffer.from(value, "base64");
}

/** One thing static analysis noticed in the code (the server's docs/ANALYSIS.md). */
export class Finding {
  constructor(
    readonly rule: string,
    readonly severity: string,
    readonly line: number,
    readonly col: number,
    readonly message: string,
  ) {}

  static fromJson(v: JsonObject): Finding {
    return new Finding(
      str(v["rule"]) ?? "",
      str(v["severity"]) ?? "",
      num(v["line"]),
      num(v["col"]),
      str(v["message"]) ?? "",
    );
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
  constructor(
    readonly data: Readonly<Record<string, string>>,
    readonly isMainResult = false,
  ) {}

  private get(mime: string): string | null {
    const v = this.data[mime];
    return typeof v === "string" ? v : null;
  }

  /** `text/plain`: the value's `repr` (Python), `util.inspect` (JavaScript). */
  get text(): string | null {
    return this.get("text/plain");
  }
  get html(): string | null {
    return this.get("text/html");
  }
  get markdown(): string | null {
    return this.get("text/markdown");
  }
  get svg(): string | null {
    return this.get("image/svg+xml");
  }
  get latex(): string | null {
    return this.get("text/latex");
  }
  /** `application/json`, as the text sent. */
  get json(): string | null {
    return this.get("application/json");
  }
  /** `image/png`, decoded: starts with `\x89PNG`. */
  get png(): Buffer | null {
    return b64(this.pngBase64);
  }
  /** `image/png` as sent, base64 (for `data:` URLs). */
  get pngBase64(): string | null {
    return this.get("image/png");
  }
  get jpeg(): Buffer | null {
    return b64(this.get("image/jpeg"));
  }

  /** The MIME types present, sorted. */
  formats(): string[] {
    return Object.keys(this.data).sort();
  }

  toJSON(): JsonObject {
    return { data: this.data, isMainResult: this.isMainResult };
  }
}

/** The exception a cell raised: `name` (`ValueError`; `ExitStatus` in bash), `value`
 * (its message) and `traceback` (the formatted lines, cell frames named `<cell-N>`). */
export class ExecutionError {
  constructor(
    readonly name: string,
    readonly value: string,
    readonly traceback: readonly string[] = [],
  ) {}

  /** The traceback's lines joined. */
  get tracebackText(): string {
    return this.traceback.join("");
  }

  static fromJson(v: JsonObject): ExecutionError {
    const tb = v["traceback"];
    return new ExecutionError(
      str(v["name"]) ?? "",
      str(v["value"]) ?? "",
      Array.isArray(tb) ? tb.map((x) => String(x)) : [],
    );
  }
}

/** A file a one-shot `execute` created or changed in `/workspace`; `content` is `null`
 * when it was too large to come inline (over 64 KiB). */
export class ChangedFile {
  constructor(
    readonly path: string,
    readonly size: number,
    readonly content: Buffer | null = null,
  ) {}

  /** The content as UTF-8 text (`null` when absent or not valid UTF-8). */
  get text(): string | null {
    if (this.content === null) return null;
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(this.content);
    } catch {
      return null;
    }
  }

  static fromJson(v: JsonObject): ChangedFile {
    const raw = str(v["content"]);
    let content: Buffer | null = null;
    if (raw !== null) content = v["encoding"] === "base64" ? Buffer.from(raw, "base64") : Buffer.from(raw, "utf8");
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

  constructor(raw: JsonObject) {
    this.raw = raw;
    const results: Result[] = [];
    for (const o of objects(raw["outputs"])) results.push(new Result(stringValues(o)));
    const value = raw["value"];
    if (isObject(value)) results.push(new Result(stringValues(value), true));
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
    const secrets: Record<string, number> = {};
    if (isObject(raw["secrets"])) for (const [k, n] of Object.entries(raw["secrets"])) secrets[k] = num(n);
    this.secrets = secrets;
    this.files = Array.isArray(raw["files"]) ? objects(raw["files"]).map((f) => ChangedFile.fromJson(f)) : null;
    this.egress = isObject(raw["egress"]) ? raw["egress"] : null;
  }

  static fromJson(v: JsonObject): Execution {
    return new Execution(v);
  }

  /** The final expression's value, or `null` (a statement, or `None`/`undefined`). */
  get value(): Result | null {
    return this.results.find((r) => r.isMainResult) ?? null;
  }

  /** The final value's `text/plain` (e.g. `"42"`), or `null`. */
  get text(): string | null {
    return this.value?.text ?? null;
  }

  /** The displayed outputs (figures, `display(...)`), without the final value. */
  get outputs(): Result[] {
    return this.results.filter((r) => !r.isMainResult);
  }

  /** Whether the run succeeded: `status` `ok` and no `errorCode`. */
  get ok(): boolean {
    return this.status === "ok" && this.errorCode === null && this.error === null;
  }

  toJSON(): JsonObject {
    return this.raw;
  }
}

function stringValues(o: JsonObject): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(o)) if (typeof v === "string") out[k] = v;
  return out;
}

/** A file, directory, symlink or other entry of a session's `/workspace`. `mtime` is
 * Unix seconds. */
export class FileEntry {
  constructor(
    readonly path: string,
    readonly name: string,
    readonly type: string,
    readonly size: number,
    readonly mtime: number,
  ) {}

  get isDir(): boolean {
    return this.type === "directory";
  }

  get isFile(): boolean {
    return this.type === "file";
  }

  static fromJson(v: JsonObject): FileEntry {
    return new FileEntry(
      str(v["path"]) ?? "",
      str(v["name"]) ?? "",
      str(v["type"]) ?? "",
      num(v["size"]),
      num(v["mtime"]),
    );
  }
}

/** A session as the server describes it. `state` is `idle`, `busy` or `dead`; times are
 * Unix seconds. */
export class SessionInfo {
  constructor(
    readonly id: string,
    readonly language: string,
    readonly state: string,
    readonly createdAt: number,
    readonly lastUsedAt: number,
    readonly idleTtl: number,
    readonly expiresAt: number,
    readonly executionCount: number,
    readonly raw: JsonObject = {},
  ) {}

  static fromJson(v: JsonObject): SessionInfo {
    return new SessionInfo(
      str(v["id"]) ?? "",
      str(v["language"]) ?? "",
      str(v["state"]) ?? "",
      num(v["created_at"]),
      num(v["last_used_at"]),
      num(v["idle_ttl"]),
      num(v["expires_at"]),
      num(v["execution_count"]),
      v,
    );
  }
}

// ---------------------------------------------------------------- workflows

/** One problem of an invalid workflow definition: the `node` (its id) or `edge` (its
 * index in `edges`) it is about, when there is one, a stable `code` (`unknown_type`,
 * `unreachable`, `edge_to_nowhere`, ...; the server's docs/WORKFLOWS.md) and a
 * `message`. */
export class WorkflowProblem {
  constructor(
    readonly node: string | null,
    readonly edge: number | null,
    readonly code: string,
    readonly message: string,
  ) {}

  static fromJson(v: JsonObject): WorkflowProblem {
    return new WorkflowProblem(str(v["node"]), optInt(v["edge"]), str(v["code"]) ?? "", str(v["message"]) ?? "");
  }
}

/** A stored workflow version. `version` counts 1, 2, 3... per `id`; `createdAt` is Unix
 * seconds; `definition` (the stored, normalized JSON) is `null` in lists. */
export class WorkflowInfo {
  constructor(
    readonly id: string,
    readonly version: number,
    readonly name: string,
    readonly createdAt: number,
    readonly definition: JsonObject | null = null,
    readonly raw: JsonObject = {},
  ) {}

  static fromJson(v: JsonObject): WorkflowInfo {
    const d = v["definition"];
    return new WorkflowInfo(
      str(v["id"]) ?? "",
      num(v["version"]),
      str(v["name"]) ?? "",
      num(v["created_at"]),
      isObject(d) ? d : null,
      v,
    );
  }
}

/** Why a run failed: the `node` that failed (`null` for a failure of the run itself),
 * a stable `code` (`EXECUTION_ERROR`, `TIMEOUT`, `POLICY_DENIED`, ...), the `message`
 * and, for code nodes, the `traceback`. */
export class RunError {
  constructor(
    readonly node: string | null,
    readonly code: string,
    readonly message: string,
    readonly traceback: string | null = null,
  ) {}

  static fromJson(v: JsonObject): RunError {
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

  constructor(v: JsonObject) {
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

  static fromJson(v: JsonObject): Run {
    return new Run(v);
  }

  /** Whether the run has ended (`ok` or `error`). */
  get finished(): boolean {
    return this.status !== "running";
  }

  get ok(): boolean {
    return this.status === "ok";
  }

  toJSON(): JsonObject {
    return this.raw;
  }
}

/** One page of `listRuns`: `runs` newest first (without `state` and `trace`), and
 * `nextCursor` for the next page (`null` on the last). */
export class RunList {
  constructor(
    readonly runs: Run[],
    readonly nextCursor: string | null = null,
  ) {}

  static fromJson(v: JsonObject): RunList {
    return new RunList(
      objects(v["runs"]).map((r) => Run.fromJson(r)),
      str(v["next_cursor"]),
    );
  }
}

/** A document collection: its `name`, how many `documents` it holds, and `updatedAt`
 * (Unix seconds of the latest write). */
export class CollectionInfo {
  constructor(
    readonly name: string,
    readonly documents: number,
    readonly updatedAt: number,
  ) {}

  static fromJson(v: JsonObject): CollectionInfo {
    return new CollectionInfo(str(v["name"]) ?? "", num(v["documents"]), num(v["updated_at"]));
  }
}

/** One ranked document of a search: `score` is BM25 (higher is better). */
export class SearchHit {
  constructor(
    readonly id: string,
    readonly score: number,
    readonly text: string,
    readonly metadata: unknown = null,
  ) {}

  static fromJson(v: JsonObject): SearchHit {
    return new SearchHit(str(v["id"]) ?? "", num(v["score"]), str(v["text"]) ?? "", v["metadata"] ?? null);
  }
}
