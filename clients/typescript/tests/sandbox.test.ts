/** Sessions, cells, streaming, rich results, one-shot runs, tools, abort and disposal
 * against a live development server. */

import { strict as assert } from "node:assert";
import { after, before, describe, test } from "node:test";

import {
  AbortError,
  CodeSyntaxError,
  InvalidRequestError,
  Sandbox,
  SessionBusyError,
  SessionNotFoundError,
  WardenError,
  execute,
  type Execution,
} from "../src/index.js";
import { startDevServer, type Server } from "./helpers/server.js";

let server: Server;
let url: string;

before(async () => {
  delete process.env["WARDEN_API_URL"];
  delete process.env["WARDEN_API_KEY"];
  server = await startDevServer();
  url = server.url;
});
after(async () => {
  await server?.stop();
});

describe("sessions", { concurrency: true }, () => {
  test("state persists across cells", async () => {
    await using sb = await Sandbox.create({ baseUrl: url });
    assert.match(sb.id, /^ses_/);
    const first = await sb.runCode("x = 41\nimport json");
    assert.equal(first.text, null);
    assert.deepEqual(first.results, []);
    assert.equal(first.error, null);
    const second = await sb.runCode("json.dumps({'x': x + 1})");
    assert.equal(second.text, `'{"x": 42}'`);
    assert.equal(second.executionCount, first.executionCount + 1);
    assert.match(second.executionId ?? "", /^exe_/);
    assert.equal(second.status, "ok");
    assert.equal(second.timedOut, false);
    assert.ok(second.durationMs > 0);
    assert.equal(second.errorCode, null);
    const info = await sb.info();
    assert.equal(info.executionCount, 2);
    assert.equal(info.state, "idle");
    assert.equal(info.language, "python");
  });

  test("await using closes the session at the end of the block", async () => {
    let id: string;
    {
      await using sb = await Sandbox.create({ baseUrl: url });
      id = sb.id;
      assert.equal((await sb.runCode("1 + 1")).text, "2");
    }
    const res = await fetch(`${url}/v1/sessions/${id}`);
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, "SESSION_NOT_FOUND");
    await assert.rejects(Sandbox.connect(id, { baseUrl: url }), (e: unknown) => {
      assert.ok(e instanceof SessionNotFoundError);
      assert.equal(e.code, "SESSION_NOT_FOUND");
      assert.equal(e.status, 404);
      return true;
    });
  });

  test("close is idempotent and the base URL comes from the environment", async () => {
    process.env["WARDEN_API_URL"] = `${url}/`;
    try {
      const sb = await Sandbox.create();
      assert.equal(sb.baseUrl, url);
      assert.equal((await sb.runCode("6 * 7")).text, "42");
      await sb.close();
      assert.ok(sb.closed);
      await sb.close();
      assert.equal((await fetch(`${url}/v1/sessions/${sb.id}`)).status, 404);
    } finally {
      delete process.env["WARDEN_API_URL"];
    }
  });

  test("a matplotlib figure comes back as PNG bytes", async () => {
    await using sb = await Sandbox.create({ baseUrl: url });
    const ex = await sb.runCode("import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()");
    assert.equal(ex.error, null);
    const pngs = ex.results.filter((r) => r.png !== null);
    assert.equal(pngs.length, 1);
    const r = pngs[0]!;
    const png = r.png!;
    assert.ok(Buffer.isBuffer(png));
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.equal(png.toString("base64"), r.pngBase64);
    assert.equal(r.isMainResult, false);
    assert.ok(r.formats().includes("image/png"));
    assert.equal(ex.outputs.length, 1);
    assert.equal(ex.value, null);
  });

  test("html of a rich value, and an exception as a result", async () => {
    await using sb = await Sandbox.create({ baseUrl: url });
    const rich = await sb.runCode(
      "class T:\n    def _repr_html_(self): return '<b>hi</b>'\n    def __repr__(self): return 'T()'\nT()",
    );
    assert.ok(rich.value?.isMainResult);
    assert.equal(rich.text, "T()");
    assert.equal(rich.value?.html, "<b>hi</b>");
    assert.equal(rich.value?.png, null);
    const ex = await sb.runCode("print('before')\ndef f():\n    raise ValueError('bad value')\nf()");
    assert.equal(ex.status, "error");
    assert.equal(ex.errorCode, "EXECUTION_ERROR");
    assert.equal(ex.stdout, "before\n");
    assert.equal(ex.error?.name, "ValueError");
    assert.equal(ex.error?.value, "bad value");
    assert.match(ex.error?.tracebackText ?? "", /<cell-\d+>[\s\S]*in f/);
    assert.equal((await sb.runCode("'still alive'")).text, "'still alive'");
  });

  test("a syntax error rejects with its line and column, plain and streamed", async () => {
    await using sb = await Sandbox.create({ baseUrl: url });
    await assert.rejects(sb.runCode("x = 1\ny = (\n"), (e: unknown) => {
      assert.ok(e instanceof CodeSyntaxError && e instanceof InvalidRequestError && e instanceof WardenError);
      assert.equal(e.code, "SYNTAX_ERROR");
      assert.equal(e.status, 400);
      assert.ok((e.line ?? 0) >= 2);
      assert.equal(typeof e.col, "number");
      return true;
    });
    await assert.rejects(sb.runCode("def f(:\n  pass", { onStdout: () => {} }), (e: unknown) => {
      assert.ok(e instanceof CodeSyntaxError);
      assert.equal(e.line, 1);
      return true;
    });
  });

  test("an AbortSignal stops the cell promptly and the session takes the next one", async () => {
    await using sb = await Sandbox.create({ baseUrl: url });
    await sb.runCode("n = 0");
    const loop = "while True:\n    n += 1\n    if n % 200000 == 0: print(n, flush=True)";
    for (const callbacks of [false, true]) {
      const started = performance.now();
      const chunks: string[] = [];
      const options = callbacks
        ? { signal: AbortSignal.timeout(500), timeout: 60, onStdout: (t: string) => void chunks.push(t) }
        : { signal: AbortSignal.timeout(500), timeout: 60 };
      await assert.rejects(sb.runCode(loop, options), (e: unknown) => {
        assert.ok(e instanceof AbortError, String(e));
        assert.equal(e.name, "AbortError");
        assert.equal(e.code, "ABORTED");
        return true;
      });
      const took = performance.now() - started;
      assert.ok(took < 3000, `the abort took ${took} ms`);
      if (callbacks) assert.ok(chunks.length > 0, "the loop printed before the abort");
      // The loop has stopped (n no longer grows), and none of its output leaks into the
      // next cell.
      const next = await sb.runCode("import time\nm = n\ntime.sleep(0.3)\n(m > 0, n == m)", { timeout: 10 });
      assert.equal(next.text, "(True, True)");
      assert.equal(next.stdout, "");
    }
    assert.equal((await sb.info()).state, "idle");
    // Aborted before it starts: nothing is sent.
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(sb.runCode("n = -1", { signal: ac.signal }), AbortError);
    assert.equal((await sb.runCode("n > 0")).text, "True");
  });

  test("interrupt stops a running cell; a second cell meanwhile is SESSION_BUSY", async () => {
    await using sb = await Sandbox.create({ baseUrl: url });
    const running = sb.runCode("while True: pass", { timeout: 30 });
    const deadline = Date.now() + 10_000;
    while ((await sb.info()).state !== "busy") {
      assert.ok(Date.now() < deadline, "the cell never started");
      await new Promise((r) => setTimeout(r, 25));
    }
    await assert.rejects(sb.runCode("1"), (e: unknown) => {
      assert.ok(e instanceof SessionBusyError);
      assert.equal(e.status, 409);
      return true;
    });
    await sb.interrupt();
    const ex: Execution = await running;
    assert.equal(ex.error?.name, "KeyboardInterrupt");
    assert.equal(ex.timedOut, false);
  });

  test("a cell timeout interrupts it; restart gives a fresh interpreter", async () => {
    await using sb = await Sandbox.create({ baseUrl: url, timeout: 0.5 });
    const ex = await sb.runCode("import time\ntime.sleep(10)");
    assert.ok(ex.timedOut);
    assert.notEqual(ex.error, null);
    assert.equal(ex.errorCode, "TIMEOUT");
    await sb.runCode("x = 1", { timeout: 5 });
    const info = await sb.restart();
    assert.equal(info.id, sb.id);
    assert.equal(info.state, "idle");
    assert.equal((await sb.runCode("x", { timeout: 5 })).error?.name, "NameError");
  });

  test("javascript and bash sessions", async () => {
    await using js = await Sandbox.create({ baseUrl: url, language: "javascript" });
    assert.equal(js.language, "javascript");
    await js.runCode("var total = 40");
    assert.equal((await js.runCode("total + 2")).text, "42");
    await using sh = await Sandbox.create({ baseUrl: url, language: "bash" });
    await sh.runCode("cd /tmp && X=hi");
    assert.equal((await sh.runCode("echo $X $PWD")).stdout, "hi /tmp\n");
  });

  test("connect attaches to a live session", async () => {
    await using sb = await Sandbox.create({ baseUrl: url });
    await sb.runCode("shared = 'yes'");
    const other = await Sandbox.connect(sb.id, { baseUrl: url });
    assert.equal((await other.runCode("shared")).text, "'yes'");
    await other.close();
    await assert.rejects(sb.runCode("shared"), SessionNotFoundError);
  });

  test("an unknown session is SESSION_NOT_FOUND", async () => {
    await assert.rejects(Sandbox.connect("ses_000000000000000000000000", { baseUrl: url }), (e: unknown) => {
      assert.ok(e instanceof SessionNotFoundError);
      assert.equal(e.status, 404);
      assert.match(e.message, /ses_0000/);
      return true;
    });
  });
});

// On its own (not beside the other tests of the file), since it measures time.
describe("streaming", () => {
  test("stdout chunks stream in order before the result, while the cell runs", async () => {
    await using sb = await Sandbox.create({ baseUrl: url });
    const seen: { at: number; kind: string; text: string }[] = [];
    const code =
      "import sys, time\n" +
      "print('first', flush=True)\n" +
      "print('warning', file=sys.stderr, flush=True)\n" +
      "time.sleep(0.3)\n" +
      "print('second', flush=True)\n" +
      "time.sleep(0.3)\n" +
      "print('third')\n" +
      "'done'";
    const results: string[] = [];
    const ex = await sb.runCode(code, {
      onStdout: (text) => void seen.push({ at: performance.now(), kind: "out", text }),
      onStderr: (text) => void seen.push({ at: performance.now(), kind: "err", text }),
      onResult: (r) => void results.push(r.text ?? ""),
    });
    const end = performance.now();
    assert.equal(ex.stdout, "first\nsecond\nthird\n");
    assert.equal(ex.stderr, "warning\n");
    assert.equal(ex.text, "'done'");
    assert.deepEqual(results, ["'done'"]);
    const out = seen.filter((s) => s.kind === "out");
    assert.equal(out.map((s) => s.text).join(""), "first\nsecond\nthird\n");
    assert.equal(
      seen
        .filter((s) => s.kind === "err")
        .map((s) => s.text)
        .join(""),
      "warning\n",
    );
    // Each line arrived while the cell ran: the first well before the end, each next
    // one about 0.3 s after the one before (at least half of that, on a loaded machine;
    // chunks held back to the end would arrive together).
    const at = (line: string): number => out.find((s) => s.text.includes(line))!.at;
    assert.ok(end - at("first") >= 400, `first chunk only ${end - at("first")} ms before the end`);
    assert.ok(at("second") - at("first") >= 150, `second ${at("second") - at("first")} ms after first`);
    assert.ok(at("third") - at("second") >= 150, `third ${at("third") - at("second")} ms after second`);
  });
});

describe("one-shot runs", { concurrency: true }, () => {
  test("files go in, changed files come back", async () => {
    const code =
      "import os\n" +
      "text = open('in/data.txt').read()\n" +
      "raw = open('raw.bin', 'rb').read()\n" +
      "open('out.txt', 'w').write(text.upper())\n" +
      "open('out.bin', 'wb').write(raw * 2)\n" +
      "print(sorted(os.listdir('.')))\n" +
      "len(raw)";
    const ex = await execute(code, {
      baseUrl: url,
      files: { "in/data.txt": "hello", "raw.bin": new Uint8Array([0, 255]) },
      timeout: 20,
    });
    assert.equal(ex.error, null);
    assert.equal(ex.stdout, "['in', 'out.bin', 'out.txt', 'raw.bin']\n");
    assert.equal(ex.text, "2");
    const changed = new Map((ex.files ?? []).map((f) => [f.path, f]));
    assert.deepEqual([...changed.keys()].sort(), ["out.bin", "out.txt"]);
    assert.equal(changed.get("out.txt")?.text, "HELLO");
    assert.deepEqual([...(changed.get("out.bin")?.content ?? [])], [0, 255, 0, 255]);
    assert.equal(changed.get("out.bin")?.size, 4);
    const js = await execute("[1, 2, 3].map(x => x * 2)", { language: "javascript", baseUrl: url });
    assert.equal(js.text, "[ 2, 4, 6 ]");
  });

  test("a one-shot syntax error rejects", async () => {
    await assert.rejects(
      execute("print(", { baseUrl: url }),
      (e: unknown) => e instanceof CodeSyntaxError && e.line === 1,
    );
  });
});

describe("tools", () => {
  test("tool definitions, and tool calls acting on the session", async () => {
    await using sb = await Sandbox.create({ baseUrl: url });
    const tools = await sb.tools();
    const names = new Set(tools.map((t) => (t["function"] as { name: string }).name));
    for (const n of ["execute_python", "list_files", "read_file", "write_file"]) assert.ok(names.has(n), n);
    assert.ok(tools.every((t) => t["type"] === "function"));
    await sb.runCode("secret = 6 * 7");
    const messages = await sb.callTool({
      id: "call_7",
      type: "function",
      function: { name: "execute_python", arguments: JSON.stringify({ code: "print(secret)" }) },
    });
    assert.equal(messages[0]?.["role"], "tool");
    assert.equal(messages[0]?.["tool_call_id"], "call_7");
    assert.match(String(messages[0]?.["content"]), /42/);
    const failed = await sb.callTool({
      id: "c",
      type: "function",
      function: { name: "read_file", arguments: '{"path": "nope.txt"}' },
    });
    assert.match(String(failed[0]?.["content"]), /^error \[FILE_NOT_FOUND\]/);
    const anthropic = await sb.tools({ format: "anthropic" });
    assert.ok(anthropic.some((t) => t["name"] === "execute_python" && "input_schema" in t));
    const reply = await sb.callTool(
      { type: "tool_use", id: "tu_1", name: "execute_python", input: { code: "print(secret + 1)" } },
      { format: "anthropic" },
    );
    assert.equal(reply[0]?.["role"], "user");
    assert.match(JSON.stringify(reply[0]?.["content"]), /43/);
  });
});
