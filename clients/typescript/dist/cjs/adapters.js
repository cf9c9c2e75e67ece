"use strict";
/**
 * The code-execution contract of workflow engines, over warden: `WardenCodeRunner`
 * (one-shot runs), `WardenSandboxManager` (sessions by id) and `createCodeExecutor`
 * (one-shot runs whose limits follow a risk level). All three answer with
 * `CodeRunResult` and never throw because the code failed; they throw only for misuse
 * (bad arguments, a refused key or policy, an unreachable server).
 *
 * @module
 */
Object.defineProperty(exports, "__esModule", { value: true });
exports.RISK_SETTINGS = exports.WardenSandboxManager = exports.WardenCodeRunner = void 0;
exports.toCodeRunResult = toCodeRunResult;
exports.createCodeExecutor = createCodeExecutor;
const dispose_js_1 = require("./dispose.js");
const errors_js_1 = require("./errors.js");
const sandbox_js_1 = require("./sandbox.js");
const shared_js_1 = require("./shared.js");
/** Refusals about the code itself: a result (`success: false`), not an exception. The
 * others (a bad argument, a key or policy that refuses the request, the server down) are
 * the caller's to handle and are thrown. */
const CODE_FAILURES = new Set(["SYNTAX_ERROR", "SECURITY_VIOLATION", "SESSION_DEAD"]);
function joinOutput(stdout, stderr) {
    if (!stderr)
        return stdout;
    if (!stdout)
        return stderr;
    return stdout.endsWith("\n") ? stdout + stderr : `${stdout}\n${stderr}`;
}
/** An `Execution` as the contract's result. */
function toCodeRunResult(ex, elapsedMs) {
    const out = {
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
async function run(work) {
    const started = Date.now();
    try {
        return toCodeRunResult(await work(), Date.now() - started);
    }
    catch (err) {
        if (err instanceof errors_js_1.WardenError && CODE_FAILURES.has(err.code)) {
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
/** Runs each piece of code in a fresh sandbox (`POST /v1/execute`), with `input` in and
 * `result` out. */
class WardenCodeRunner {
    options;
    constructor(options = {}) {
        this.options = { ...options };
    }
    async execute(code, options = {}) {
        (0, shared_js_1.checkCode)(code);
        const { language, timeout, input } = options;
        return run(() => (0, sandbox_js_1.execute)(code, {
            ...this.options,
            language: language ?? this.options.language ?? "python",
            timeout: timeout ?? this.options.timeout,
            input,
        }));
    }
}
exports.WardenCodeRunner = WardenCodeRunner;
/**
 * Sessions by id, for engines that keep state between code nodes. `create` returns the
 * session id; `execute` runs a cell in it (state persists). The manager always passes
 * `input` (default `{}`), so that the reply reports `result`.
 */
class WardenSandboxManager {
    options;
    sandboxes = new Map();
    constructor(options = {}) {
        this.options = { ...options };
    }
    /** Creates a session; returns its id. */
    async create(options = {}) {
        const sandbox = await sandbox_js_1.Sandbox.create({ ...this.options, ...options });
        this.sandboxes.set(sandbox.id, sandbox);
        return sandbox.id;
    }
    /** Runs `code` as the next cell of session `id` (one this manager created, or any of
     * the tenant's, attached on first use). */
    async execute(id, code, options = {}) {
        (0, shared_js_1.checkCode)(code);
        const sandbox = await this.sandbox(id);
        return run(() => {
            const opts = { input: options.input === undefined ? {} : options.input };
            if (options.timeout !== undefined)
                opts.timeout = options.timeout;
            return sandbox.runCode(code, opts);
        });
    }
    /** Closes session `id`; closing one that is gone is not an error. */
    async destroy(id) {
        const sandbox = this.sandboxes.get(id) ?? (await sandbox_js_1.Sandbox.connect(id, this.options).catch(() => null));
        this.sandboxes.delete(id);
        await sandbox?.close();
    }
    /** Closes every session this manager holds. */
    async destroyAll() {
        const all = [...this.sandboxes.values()];
        this.sandboxes.clear();
        const results = await Promise.allSettled(all.map((s) => s.close()));
        const failed = results.find((r) => r.status === "rejected");
        if (failed)
            throw failed.reason;
    }
    /** The ids of the sessions this manager holds. */
    list() {
        return [...this.sandboxes.keys()];
    }
    async [dispose_js_1.asyncDispose]() {
        await this.destroyAll();
    }
    async sandbox(id) {
        let sandbox = this.sandboxes.get(id);
        if (sandbox === undefined) {
            sandbox = await sandbox_js_1.Sandbox.connect(id, this.options);
            this.sandboxes.set(id, sandbox);
        }
        return sandbox;
    }
}
exports.WardenSandboxManager = WardenSandboxManager;
/** The mapping of risk levels onto warden's settings (README: "Risk levels"). */
exports.RISK_SETTINGS = {
    none: { timeoutCap: null, memoryMb: null, network: true },
    low: { timeoutCap: null, memoryMb: null, network: true },
    medium: { timeoutCap: 30, memoryMb: 512, network: false },
    high: { timeoutCap: 10, memoryMb: 256, network: false },
};
/**
 * A runner whose limits follow `riskLevel`. Every level runs in warden's sandbox, each
 * run in a fresh one (one-shot); there is no "direct execution". `none` and `low` use
 * the caller's defaults; `medium` caps the timeout at 30 s and memory at 512 MiB, with
 * no network; `high` caps them at 10 s and 256 MiB, no network. Asking for network at
 * `medium` or `high` is refused (`TypeError`), as is an unknown level.
 */
function createCodeExecutor(options) {
    const { riskLevel, ...clientOptions } = options;
    const settings = exports.RISK_SETTINGS[riskLevel];
    if (settings === undefined || !Object.prototype.hasOwnProperty.call(exports.RISK_SETTINGS, riskLevel)) {
        throw new TypeError(`riskLevel must be one of none, low, medium, high; not ${JSON.stringify(riskLevel)}`);
    }
    if (!settings.network && (clientOptions.network || clientOptions.allowHosts !== undefined)) {
        throw new TypeError(`riskLevel ${riskLevel} runs code without network: network cannot be asked for`);
    }
    const cap = (value, limit) => limit === null ? value : Math.min(value ?? limit, limit);
    const runner = new WardenCodeRunner({
        ...clientOptions,
        memoryMb: cap(clientOptions.memoryMb, settings.memoryMb),
        network: settings.network ? clientOptions.network : false,
    });
    return {
        riskLevel,
        settings,
        execute(code, opts = {}) {
            return runner.execute(code, {
                ...opts,
                timeout: cap(opts.timeout ?? clientOptions.timeout, settings.timeoutCap),
            });
        },
    };
}
