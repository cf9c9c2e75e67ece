/**
 * The code-execution contract of workflow engines, over warden: `WardenCodeRunner`
 * (one-shot runs), `WardenSandboxManager` (sessions by id) and `createCodeExecutor`
 * (one-shot runs whose limits follow a risk level). All three answer with
 * `CodeRunResult` and never throw because the code failed; they throw only for misuse
 * (bad arguments, a refused key or policy, an unreachable server).
 *
 * @module
 */
import { asyncDispose } from "./dispose.js";
import { type ClientOptions } from "./http.js";
import type { Execution } from "./models.js";
import { type Language } from "./sandbox.js";
/** What every `execute` of this module answers. */
export interface CodeRunResult {
    /** The code ran to its end without raising, timing out or hitting a limit. */
    success: boolean;
    /** stdout, then stderr (when there is any) after it. */
    output: string;
    /** The JSON value of the variable `result` the code assigned, or `null`. */
    result: unknown;
    /** When `success` is false: the stable code (`EXECUTION_ERROR`, `TIMEOUT`,
     * `MEMORY_LIMIT`, `SYNTAX_ERROR`, `SECURITY_VIOLATION`, ...), the message and the
     * traceback, as one text. */
    error?: string;
    /** Milliseconds the code ran (the server's measure), or the call took when nothing
     * ran. */
    executionTime: number;
}
/** Options of one `execute`. */
export interface CodeRunOptions {
    /** `python` (default), `javascript` or `bash`. */
    language?: Language | (string & {}) | undefined;
    /** Seconds before the run is stopped. */
    timeout?: number | undefined;
    /** JSON handed to the code: `input_data` in Python, the global `input` in
     * JavaScript. */
    input?: unknown | undefined;
}
/** Anything with the runner's `execute`. */
export interface CodeRunner {
    execute(code: string, options?: CodeRunOptions): Promise<CodeRunResult>;
}
/** An `Execution` as the contract's result. */
export declare function toCodeRunResult(ex: Execution, elapsedMs: number): CodeRunResult;
/** Defaults of a runner: where warden is, and the limits of each run. */
export interface CodeRunnerOptions extends ClientOptions {
    /** The language when `execute` does not say (default `python`). */
    language?: Language | (string & {}) | undefined;
    /** The timeout when `execute` does not say (default: the server's, 30 s). */
    timeout?: number | undefined;
    memoryMb?: number | undefined;
    diskMb?: number | undefined;
    template?: string | undefined;
    network?: boolean | undefined;
    allowHosts?: readonly string[] | undefined;
}
/** Runs each piece of code in a fresh sandbox (`POST /v1/execute`), with `input` in and
 * `result` out. */
export declare class WardenCodeRunner implements CodeRunner {
    private readonly options;
    constructor(options?: CodeRunnerOptions);
    execute(code: string, options?: CodeRunOptions): Promise<CodeRunResult>;
}
/** Options of `WardenSandboxManager.create`. */
export interface ManagedSandboxOptions {
    language?: Language | (string & {}) | undefined;
    template?: string | undefined;
    packages?: readonly string[] | undefined;
    /** Default per-cell timeout of the sandbox, in seconds. */
    timeout?: number | undefined;
}
/**
 * Sessions by id, for engines that keep state between code nodes. `create` returns the
 * session id; `execute` runs a cell in it (state persists). The manager always passes
 * `input` (default `{}`), so that the reply reports `result`.
 */
export declare class WardenSandboxManager {
    private readonly options;
    private readonly sandboxes;
    constructor(options?: ClientOptions);
    /** Creates a session; returns its id. */
    create(options?: ManagedSandboxOptions): Promise<string>;
    /** Runs `code` as the next cell of session `id` (one this manager created, or any of
     * the tenant's, attached on first use). */
    execute(id: string, code: string, options?: Omit<CodeRunOptions, "language">): Promise<CodeRunResult>;
    /** Closes session `id`; closing one that is gone is not an error. */
    destroy(id: string): Promise<void>;
    /** Closes every session this manager holds. */
    destroyAll(): Promise<void>;
    /** The ids of the sessions this manager holds. */
    list(): string[];
    [asyncDispose](): Promise<void>;
    private sandbox;
}
/** How much the caller trusts the code. */
export type RiskLevel = "none" | "low" | "medium" | "high";
/** The limits a risk level puts on each run. `null`: the caller's (or the server's). */
export interface RiskSettings {
    /** The longest timeout, in seconds; a longer (or absent) one is lowered to it. */
    timeoutCap: number | null;
    /** The sandbox's memory, in MiB. */
    memoryMb: number | null;
    /** Whether the caller may ask for network. */
    network: boolean;
}
/** The mapping of risk levels onto warden's settings (README: "Risk levels"). */
export declare const RISK_SETTINGS: Readonly<Record<RiskLevel, Readonly<RiskSettings>>>;
export interface CodeExecutorOptions extends CodeRunnerOptions {
    riskLevel: RiskLevel;
}
/** A runner bound to a risk level. */
export interface CodeExecutor extends CodeRunner {
    readonly riskLevel: RiskLevel;
    readonly settings: Readonly<RiskSettings>;
}
/**
 * A runner whose limits follow `riskLevel`. Every level runs in warden's sandbox, each
 * run in a fresh one (one-shot); there is no "direct execution". `none` and `low` use
 * the caller's defaults; `medium` caps the timeout at 30 s and memory at 512 MiB, with
 * no network; `high` caps them at 10 s and 256 MiB, no network. Asking for network at
 * `medium` or `high` is refused (`TypeError`), as is an unknown level.
 */
export declare function createCodeExecutor(options: CodeExecutorOptions): CodeExecutor;
