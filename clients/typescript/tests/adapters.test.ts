/** The workflow-engine contract: `WardenCodeRunner`, `WardenSandboxManager` and
 * `createCodeExecutor`, against a live development server (and a stub, to see the
 * settings each risk level sends). */

import { strict as assert } from "node:assert";
import { after, before, describe, test } from "node:test";

import {
  RISK_SETTINGS,
  InvalidRequestError,
  NetworkError,
  SessionNotFoundError,
  WardenCodeRunner,
  WardenSandboxManager,
  createCodeExecutor,
  type CodeRunResult,
} from "../src/index.js";
import * as adapters from "../src/adapters.js";
import { startDevServer, type Server } from "./helpers/server.js";
import { OK_CELL, sendJson, startStub } from "./helpers/stub.js";

let server: Server;
let url: string;

before(async () => {
  server = await startDevServer();
  url = server.url;
});
after(async () => {
  await server?.stop();
});

function assertShape(r: CodeRunResult): void {
  assert.equal(typeof r.success, "boolean");
  assert.equal(typeof r.output, "string");
  assert.equal(typeof r.executionTime, "number");
  assert.ok(r.executionTime >= 0);
  assert.ok(r.success ? r.error === undefined : typeof r.error === "string");
}

describe("WardenCodeRunner", { concurrency: true }, () => {
  test("input in, result and output out", async () => {
    const runner = new WardenCodeRunner({ baseUrl: url });
    const r = await runner.execute(
      "import sys\nprint('out')\nprint('warn', file=sys.stderr)\nresult = {'double': input_data['x'] * 2}",
      { input: { x: 21 }, timeout: 10 },
    );
    assertShape(r);
    assert.equal(r.success, true);
    assert.equal(r.output, "out\nwarn\n");
    assert.deepEqual(r.result, { double: 42 });
    assert.ok(r.executionTime > 0);
    const js = await runner.execute("console.log(input.length); result = input.reverse()", {
      language: "javascript",
      input: [1, 2, 3],
    });
    assert.equal(js.success, true);
    assert.equal(js.output, "3\n");
    assert.deepEqual(js.result, [3, 2, 1]);
    assert.ok(adapters.WardenCodeRunner === WardenCodeRunner, "also exported from warden-client/adapters");
  });

  test("code failures are results, never thrown", async () => {
    const runner = new WardenCodeRunner({ baseUrl: url });
    const raised = await runner.execute("print('before')\n1 / 0");
    assertShape(raised);
    assert.equal(raised.success, false);
    assert.equal(raised.output, "before\n");
    assert.equal(raised.result, null);
    assert.match(raised.error!, /^EXECUTION_ERROR: ZeroDivisionError: division by zero\n/);
    assert.match(raised.error!, /Traceback[\s\S]*<cell-1>/);
    const timedOut = await runner.execute("import time\ntime.sleep(10)", { timeout: 0.5 });
    assert.equal(timedOut.success, false);
    assert.match(timedOut.error!, /^TIMEOUT: /);
    const syntax = await runner.execute("def f(:");
    assertShape(syntax);
    assert.equal(syntax.success, false);
    assert.match(syntax.error!, /^SYNTAX_ERROR: .*line 1/);
    const exited = await runner.execute("echo oops >&2; exit 2", { language: "bash" });
    assert.equal(exited.success, false);
    assert.equal(exited.output, "oops\n");
    assert.match(exited.error!, /^EXECUTION_ERROR: ExitStatus: exit status 2/);
  });

  test("misuse is thrown", async () => {
    const runner = new WardenCodeRunner({ baseUrl: url });
    await assert.rejects(runner.execute(42 as unknown as string), TypeError);
    await assert.rejects(runner.execute("1", { language: "cobol" }), InvalidRequestError);
    const down = new WardenCodeRunner({ baseUrl: "http://127.0.0.1:9", maxRetries: 0 });
    await assert.rejects(down.execute("1"), NetworkError);
  });
});

describe("WardenSandboxManager", () => {
  test("sessions by id: state, input/result, destroy, list", async () => {
    await using manager = new WardenSandboxManager({ baseUrl: url });
    const a = await manager.create({ language: "python", timeout: 10 });
    const b = await manager.create({ language: "javascript" });
    assert.match(a, /^ses_/);
    assert.deepEqual(manager.list().sort(), [a, b].sort());
    const set = await manager.execute(a, "total = 40\nprint('set')");
    assertShape(set);
    assert.deepEqual([set.success, set.output, set.result], [true, "set\n", null]);
    const got = await manager.execute(a, "result = total + input_data", { input: 2 });
    assert.deepEqual([got.success, got.result], [true, 42]);
    const js = await manager.execute(b, "var n = 1; result = { n, input }");
    assert.deepEqual(js.result, { n: 1, input: {} }, "the default input is {}");
    const failed = await manager.execute(a, "raise KeyError('k')");
    assert.equal(failed.success, false);
    assert.match(failed.error!, /^EXECUTION_ERROR: KeyError/);
    const timed = await manager.execute(a, "import time\ntime.sleep(5)", { timeout: 0.3 });
    assert.equal(timed.success, false);
    assert.match(timed.error!, /^TIMEOUT/);
    // The interpreter ended by the code: a result, and the next call says so too.
    const dead = await manager.execute(b, "process.exit(1)");
    assert.equal(dead.success, false);
    const after = await manager.execute(b, "1");
    assert.equal(after.success, false);
    assert.match(after.error!, /^SESSION_DEAD: /);

    await manager.destroy(b);
    assert.deepEqual(manager.list(), [a]);
    assert.equal((await fetch(`${url}/v1/sessions/${b}`)).status, 404);
    await manager.destroy(b); // gone already: not an error
    await manager.destroyAll();
    assert.deepEqual(manager.list(), []);
    assert.equal((await fetch(`${url}/v1/sessions/${a}`)).status, 404);
    await assert.rejects(manager.execute(a, "1"), SessionNotFoundError);
  });
});

describe("createCodeExecutor", () => {
  test("each risk level sends its settings", async () => {
    const bodies: Record<string, unknown>[] = [];
    const stub = await startStub((req, res) => {
      bodies.push(JSON.parse(req.body.toString()) as Record<string, unknown>);
      sendJson(res, 200, { ...OK_CELL, result: 1 });
    });
    try {
      const sent = async (level: "none" | "low" | "medium" | "high", timeout?: number, extra = {}) => {
        const executor = createCodeExecutor({ riskLevel: level, baseUrl: stub.url, ...extra });
        assert.equal(executor.riskLevel, level);
        assert.deepEqual(executor.settings, RISK_SETTINGS[level]);
        const r = await executor.execute("1", timeout === undefined ? {} : { timeout });
        assert.equal(r.success, true);
        const body = bodies.at(-1)!;
        return [body["timeout"], body["memory_mb"], body["network"]];
      };
      assert.deepEqual(await sent("none"), [undefined, undefined, undefined]);
      assert.deepEqual(await sent("none", 120, { memoryMb: 2048, network: true }), [120, 2048, true]);
      assert.deepEqual(await sent("low", 45), [45, undefined, undefined]);
      assert.deepEqual(await sent("medium"), [30, 512, undefined]);
      assert.deepEqual(await sent("medium", 60), [30, 512, undefined]);
      assert.deepEqual(await sent("medium", 5, { memoryMb: 128 }), [5, 128, undefined]);
      assert.deepEqual(await sent("high"), [10, 256, undefined]);
      assert.deepEqual(await sent("high", 60, { timeout: 3, memoryMb: 4096 }), [10, 256, undefined]);
      assert.deepEqual(await sent("high", undefined, { timeout: 3 }), [3, 256, undefined]);
      assert.ok(bodies.every((b) => b["language"] === "python"));
    } finally {
      await stub.close();
    }
    assert.throws(() => createCodeExecutor({ riskLevel: "extreme" as "high" }), TypeError);
    assert.throws(() => createCodeExecutor({ riskLevel: "medium", network: true }), TypeError);
    assert.throws(() => createCodeExecutor({ riskLevel: "high", allowHosts: ["x.test"] }), TypeError);
  });

  test("every level runs in warden's sandbox; high gets 256 MiB", async () => {
    const code =
      "import os\nblob = bytearray(int(input_data['mb']) * 2**20)\nblob[::4096] = b'x' * len(blob[::4096])\n" +
      "result = {'uid': os.getuid(), 'host': os.uname().nodename}";
    for (const level of ["none", "low", "medium", "high"] as const) {
      const executor = createCodeExecutor({ riskLevel: level, baseUrl: url });
      const small = await executor.execute(code, { input: { mb: 50 } });
      assert.equal(small.success, true, `${level}: ${small.error}`);
      assert.deepEqual(small.result, { uid: 1000, host: "sandbox" }, level);
    }
    const high = createCodeExecutor({ riskLevel: "high", baseUrl: url });
    const big = await high.execute(code, { input: { mb: 300 } });
    assert.equal(big.success, false);
    assert.match(big.error!, /^MEMORY_LIMIT: /);
    const medium = createCodeExecutor({ riskLevel: "medium", baseUrl: url });
    assert.equal((await medium.execute(code, { input: { mb: 300 } })).success, true);
  });
});
