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
import { WardenError } from "./errors.js";
import { type ClientOptions } from "./http.js";
import type { Execution } from "./models.js";
import { Sandbox, execute, type Language } from "./sandbox.js";
import { checkCode } from "./shared.js";

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

/** Refusals about the code itself: a result (`success: false`), not an exception. The
 * others (a bad argument, a key or policy that refuses the request, the server down) are
 * the caller's to handle and are thrown. */
const CODE_FAILURES = new Set(["SYNTAX_ERROR", "SECURITY_VIOLATION", "SESSION_DEAD"]);

function joinOutput(stdout: string, stderr: string): string {
  if (!stderr) return stdout;
  if (!stdout) return stderr;
  return stdout.endsWith("\n") ? stdout + stderr : `${stdout}\n${stderr}`;
}

/** An `Execution` as the contract's result. */
export function toCodeRunResult(ex: Execution, elapsedMs: number): CodeRunResult {
  const out: CodeRunResult = {
    success: ex.ok && !ex.timedOut,
    output: joinOutput(ex.stdout, ex.stderr),
    result: ex.result ?? null,
    executionTime: ex.durationMs > 0 ? ex.durationMs : elapsedMs,
  };
  if (!out.success) {
    const code = ex.errorCode ?? (ex.timedOut ? "TIMEOUT" : "EXECUTION_ERROR");
    const what = ex.error
      ? `${ex.error.name}: ${ex.error.value}`
      : ex.timedOut
        ? "the code's timeout fired"
        : "the run failed";
    const tb = ex.error?.tracebackText ?? "";
    out.error = tb ? `${code}: ${what}\n${tb}` : `${code}: ${what}`;
  }
  return out;
}

async function run(work: () => Promise<Execution>): Promise<CodeRunResult> {
  const started = Date.now();
  try {
    return toCodeRunResult(await work(), Date.now() - started);
  } catch (err) {
    if (err instanceof WardenError && CODE_FAILURES.has(err.code)) {
      return {
        success: false,
        output: "",
        result: null,
        error: `${err.code}: ${err.message}`,
        executionTime: Date.now() - started,
      };
    }
    throw err;
  }
}

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
export class WardenCodeRunner implements CodeRunner {
  private readonly options: CodeRunnerOptions;

  constructor(options: CodeRunnerOptions = {}) {
    this.options = { ...options };
  }

  async execute(code: string, options: CodeRunOptions = {}): Promise<CodeRunResult> {
    checkCode(code);
    const { language, timeout, input } = options;
    return run(() =>
      execute(code, {
        ...this.options,
        language: language ?? this.options.language ?? "python",
        timeout: timeout ?? this.options.timeout,
        input,
      }),
    );
  }
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
export class WardenSandboxManager {
  private readonly options: ClientOptions;
  private readonly sandboxes = new Map<string, Sandbox>();

  constructor(options: ClientOptions = {}) {
    this.options = { ...options };
  }

  /** Creates a session; returns its id. */
  async create(options: ManagedSandboxOptions = {}): Promise<string> {
    const sandbox = await Sandbox.create({ ...this.options, ...options });
    this.sandboxes.set(sandbox.id, sandbox);
    return sandbox.id;
  }

  /** Runs `code` as the next cell of session `id` (one this manager created, or any of
   * the tenant's, attached on first use). */
  async execute(id: string, code: string, options: Omit<CodeRunOptions, "language"> = {}): Promise<CodeRunResult> {
    checkCode(code);
    const sandbox = await this.sandbox(id);
    return run(() => {
      const opts: { timeout?: number; input: unknown } = { input: options.input === undefined ? {} : options.input };
      if (options.timeout !== undefined) opts.timeout = options.timeout;
      return sandbox.runCode(code, opts);
    });
  }

  /** Closes session `id`; closing one that is gone is not an error. */
  async destroy(id: string): Promise<void> {
    const sandbox = this.sandboxes.get(id) ?? (await Sandbox.connect(id, this.options).catch(() => null));
    this.sandboxes.delete(id);
    await sandbox?.close();
  }

  /** Closes every session this manager holds. */
  async destroyAll(): Promise<void> {
    const all = [...this.sandboxes.values()];
    this.sandboxes.clear();
    const results = await Promise.allSettled(all.map((s) => s.close()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  }

  /** The ids of the sessions this manager holds. */
  list(): string[] {
    return [...this.sandboxes.keys()];
  }

  async [asyncDispose](): Promise<void> {
    await this.destroyAll();
  }

  private async sandbox(id: string): Promise<Sandbox> {
    let sandbox = this.sandboxes.get(id);
    if (sandbox === undefined) {
      sandbox = await Sandbox.connect(id, this.options);
      this.sandboxes.set(id, sandbox);
    }
    return sandbox;
  }
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
export const RISK_SETTINGS: Readonly<Record<RiskLevel, Readonly<RiskSettings>>> = {
  none: { timeoutCap: null, memoryMb: null, network: true },
  low: { timeoutCap: null, memoryMb: null, network: true },
  medium: { timeoutCap: 30, memoryMb: 512, network: false },
  high: { timeoutCap: 10, memoryMb: 256, network: false },
};

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
export function createCodeExecutor(options: CodeExecutorOptions): CodeExecutor {
  const { riskLevel, ...clientOptions } = options;
  const settings = RISK_SETTINGS[riskLevel];
  if (settings === undefined || !Object.prototype.hasOwnProperty.call(RISK_SETTINGS, riskLevel)) {
    throw new TypeError(`riskLevel must be one of none, low, medium, high; not ${JSON.stringify(riskLevel)}`);
  }
  if (!settings.network && (clientOptions.network || clientOptions.allowHosts !== undefined)) {
    throw new TypeError(`riskLevel ${riskLevel} runs code without network: network cannot be asked for`);
  }
  const cap = (value: number | undefined, limit: number | null): number | undefined =>
    limit === null ? value : Math.min(value ?? limit, limit);
  const runner = new WardenCodeRunner({
    ...clientOptions,
    memoryMb: cap(clientOptions.memoryMb, settings.memoryMb),
    network: settings.network ? clientOptions.network : false,
  });
  return {
    riskLevel,
    settings,
    execute(code: string, opts: CodeRunOptions = {}): Promise<CodeRunResult> {
      return runner.execute(code, {
        ...opts,
        timeout: cap(opts.timeout ?? clientOptions.timeout, settings.timeoutCap),
      });
    },
  };
}
