/** `input` in, `result` and `errorCode` out, against a live development server. */

import { strict as assert } from "node:assert";
import { after, before, describe, test } from "node:test";

import { Sandbox, execute } from "../src/index.js";
import { startDevServer, type Server } from "./helpers/server.js";

let server: Server;
let url: string;

before(async () => {
  server = await startDevServer();
  url = server.url;
});
after(async () => {
  await server?.stop();
});

describe("input and result", { concurrency: true }, () => {
  test("a Python one-shot run sees input_data and returns result", async () => {
    const input = { values: [1, 2, 3.5], name: "grüße", nested: { ok: true, none: null } };
    const ex = await execute(
      "print('summing', len(input_data['values']))\n" +
        "result = {'sum': sum(input_data['values']), 'name': input_data['name'].upper(), 'nested': input_data['nested']}",
      { baseUrl: url, input },
    );
    assert.equal(ex.errorCode, null);
    assert.equal(ex.stdout, "summing 3\n");
    assert.deepEqual(ex.result, { sum: 6.5, name: "GRÜSSE", nested: { ok: true, none: null } });
    // Without an assignment, result is null; scalars and lists come back as they are.
    assert.equal((await execute("x = 1", { baseUrl: url })).result, null);
    assert.deepEqual((await execute("result = [input_data, 'b']", { baseUrl: url, input: "a" })).result, ["a", "b"]);
    assert.equal((await execute("result = input_data * 2", { baseUrl: url, input: 21 })).result, 42);
  });

  test("a JavaScript one-shot run sees the global input and returns result", async () => {
    const ex = await execute("result = { sum: input.a + input.b, keys: Object.keys(input) }", {
      baseUrl: url,
      language: "javascript",
      input: { a: 40, b: 2 },
    });
    assert.equal(ex.errorCode, null);
    assert.deepEqual(ex.result, { sum: 42, keys: ["a", "b"] });
    const declared = await execute("const result = input.map((x) => x * 10)", {
      baseUrl: url,
      language: "javascript",
      input: [1, 2],
    });
    assert.deepEqual(declared.result, [10, 20]);
  });

  test("a session's cell given input reports result; state is kept", async () => {
    await using sb = await Sandbox.create({ baseUrl: url });
    await sb.runCode("factor = 3");
    const ex = await sb.runCode("result = [v * factor for v in input_data]", { input: [1, 2] });
    assert.deepEqual(ex.result, [3, 6]);
    const streamed = await sb.runCode("print('hi')\nresult = {'n': input_data['n'] + 1}", {
      input: { n: 1 },
      onStdout: () => {},
    });
    assert.deepEqual(streamed.result, { n: 2 });
    assert.equal(streamed.stdout, "hi\n");
    // Without input a cell does not report result.
    assert.equal((await sb.runCode("result = 5")).result, null);
    await using js = await Sandbox.create({ baseUrl: url, language: "javascript" });
    assert.equal((await js.runCode("result = input * 2", { input: 4 })).result, 8);
  });

  test("errorCode says why a run failed", async () => {
    const raised = await execute("raise ValueError('no')", { baseUrl: url });
    assert.equal(raised.status, "error");
    assert.equal(raised.errorCode, "EXECUTION_ERROR");
    assert.equal(raised.error?.name, "ValueError");
    const js = await execute("throw new TypeError('bad')", { baseUrl: url, language: "javascript" });
    assert.equal(js.errorCode, "EXECUTION_ERROR");
    const exited = await execute("exit 3", { baseUrl: url, language: "bash" });
    assert.equal(exited.errorCode, "EXECUTION_ERROR");
    const timedOut = await execute("import time\ntime.sleep(10)", { baseUrl: url, timeout: 0.5 });
    assert.equal(timedOut.errorCode, "TIMEOUT");
    assert.ok(timedOut.timedOut);
    const memory = await execute("x = bytearray(400 * 2**20)\nx[::4096] = b'x' * len(x[::4096])", {
      baseUrl: url,
      memoryMb: 128,
    });
    assert.equal(memory.errorCode, "MEMORY_LIMIT");
    assert.equal(memory.error?.name, "MemoryLimit");
    const ok = await execute("print(1)", { baseUrl: url });
    assert.equal(ok.errorCode, null);
    assert.ok(ok.ok);
  });
});
