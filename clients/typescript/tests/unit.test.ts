/** The client's own logic against stub HTTP servers: retries and their delays, timeouts,
 * error mapping, request bodies, result parsing, paths, broken streams. */

import { strict as assert } from "node:assert";
import { createServer } from "node:net";
import { describe, test } from "node:test";

import {
  AbortError,
  AuthenticationError,
  CodeSyntaxError,
  Execution,
  InvalidRequestError,
  NetworkError,
  NotFoundError,
  PermissionDeniedError,
  ProtocolError,
  QuotaExceededError,
  RateLimitError,
  Sandbox,
  SecurityViolationError,
  SessionBusyError,
  SessionDeadError,
  SessionNotFoundError,
  TimeoutError,
  UnavailableError,
  WardenError,
  WorkflowInvalidError,
  Workflows,
  errorFromBody,
  execute,
} from "../src/index.js";
import { encodeFiles, segment, workspacePath } from "../src/shared.js";
import { OK_CELL, SESSION, sendJson, startStub } from "./helpers/stub.js";

describe("retries", { concurrency: true }, () => {
  test("a 429 is retried after its Retry-After, and the call succeeds", async () => {
    const stub = await startStub((_req, res, n) => {
      if (n === 1)
        sendJson(res, 429, { error: { code: "RATE_LIMITED", message: "slow down" } }, { "retry-after": "1" });
      else sendJson(res, 200, OK_CELL);
    });
    try {
      const ex = await execute("1 + 1", { baseUrl: stub.url });
      assert.equal(ex.text, "2");
      assert.equal(stub.requests.length, 2);
      const gap = stub.requests[1]!.at - stub.requests[0]!.at;
      assert.ok(gap >= 900, `the retry came ${gap} ms after the 429`);
      assert.ok(gap < 5000, `the retry came ${gap} ms after the 429`);
      // The same request again: a POST that runs code is retried on 429 (it did not run).
      assert.deepEqual(stub.requests[0]!.body, stub.requests[1]!.body);
      assert.equal(stub.requests[1]!.method, "POST");
    } finally {
      await stub.close();
    }
  });

  test("a 503 without Retry-After is retried with a short backoff", async () => {
    const stub = await startStub((_req, res, n) => {
      if (n <= 2) sendJson(res, 503, { error: { code: "UNAVAILABLE", message: "shutting down" } });
      else sendJson(res, 201, SESSION);
    });
    try {
      const started = performance.now();
      const sb = await Sandbox.create({ baseUrl: stub.url });
      assert.equal(sb.id, "ses_1");
      assert.equal(stub.requests.length, 3);
      const took = performance.now() - started;
      // 0.25–0.5 s, then 0.5–1 s.
      assert.ok(took >= 700 && took < 3000, `two backoffs took ${took} ms`);
    } finally {
      await stub.close();
    }
  });

  test("retries stop after maxRetries; a Retry-After over maxRetryDelay is not waited for", async () => {
    const stub = await startStub((req, res) => {
      const after = req.url.includes("long") ? "120" : "0";
      sendJson(res, 429, { error: { code: "QUOTA_EXCEEDED", message: "quota" } }, { "retry-after": after });
    });
    try {
      await assert.rejects(Sandbox.connect("short", { baseUrl: stub.url }), (e: unknown) => {
        assert.ok(e instanceof QuotaExceededError && !(e instanceof RateLimitError));
        assert.equal(e.retryAfter, 0);
        return true;
      });
      assert.equal(stub.requests.length, 3, "one try and two retries");
      const started = performance.now();
      await assert.rejects(Sandbox.connect("long", { baseUrl: stub.url }), (e: unknown) => {
        assert.ok(e instanceof QuotaExceededError);
        assert.equal(e.retryAfter, 120);
        assert.equal(e.status, 429);
        return true;
      });
      assert.ok(performance.now() - started < 1000);
      assert.equal(stub.requests.length, 4, "not retried");
      await assert.rejects(Sandbox.connect("short", { baseUrl: stub.url, maxRetries: 0 }), QuotaExceededError);
      assert.equal(stub.requests.length, 5);
      await assert.rejects(
        Sandbox.connect("short", { baseUrl: stub.url, maxRetries: 5, maxRetryDelay: 0 }),
        QuotaExceededError,
      );
      assert.equal(stub.requests.length, 11);
    } finally {
      await stub.close();
    }
  });

  test("no reply: GET, PUT and DELETE are retried, a POST is not", async () => {
    // The first request of each kind has its connection cut before any reply.
    const cut = new Set<string>();
    const stub = await startStub((req, res) => {
      const key = `${req.method} ${req.url}`;
      if (!cut.has(key)) {
        cut.add(key);
        res.socket?.destroy();
        return;
      }
      if (req.method === "GET") sendJson(res, 200, SESSION);
      else if (req.method === "PUT") sendJson(res, 201, { path: "a.txt", name: "a.txt", type: "file", size: 1 });
      else sendJson(res, 200, OK_CELL);
    });
    try {
      const sb = await Sandbox.connect("ses_1", { baseUrl: stub.url });
      assert.equal(sb.id, "ses_1");
      assert.equal((await sb.files.write("a.txt", "a")).size, 1);
      await assert.rejects(sb.runCode("1 + 1"), (e: unknown) => {
        assert.ok(e instanceof NetworkError && e instanceof UnavailableError);
        assert.equal(e.code, "UNAVAILABLE");
        assert.equal(e.status, null);
        return true;
      });
      assert.deepEqual(
        stub.requests.map((r) => r.method),
        ["GET", "GET", "PUT", "PUT", "POST"],
      );
      // A streamed upload cannot be sent twice: not retried either.
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(new Uint8Array([1]));
          c.close();
        },
      });
      await assert.rejects(sb.files.write("b.txt", stream), NetworkError);
      assert.equal(stub.requests.filter((r) => r.url.endsWith("/b.txt")).length, 1);
    } finally {
      await stub.close();
    }
  });

  test("an abort during the wait before a retry rejects at once with AbortError", async () => {
    const stub = await startStub((_req, res) =>
      sendJson(res, 429, { error: { code: "RATE_LIMITED", message: "m" } }, { "retry-after": "10" }),
    );
    try {
      const started = performance.now();
      await assert.rejects(
        execute("1", { baseUrl: stub.url, signal: AbortSignal.timeout(300) }),
        (e: unknown) => e instanceof AbortError && e.name === "AbortError",
      );
      assert.ok(performance.now() - started < 2000);
      assert.equal(stub.requests.length, 1);
    } finally {
      await stub.close();
    }
  });

  test("an unreachable server is a NetworkError", async () => {
    // A port that is bound but not listening refuses connections.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((r) => probe.close(() => r()));
    await assert.rejects(
      Sandbox.connect("ses_1", { baseUrl: `http://127.0.0.1:${port}`, maxRetries: 1 }),
      (e: unknown) => {
        assert.ok(e instanceof NetworkError);
        assert.equal(e.code, "UNAVAILABLE");
        assert.equal(e.status, null);
        assert.match(String(e.details["cause"]), /TypeError/);
        assert.ok(e.cause instanceof Error);
        return true;
      },
    );
  });
});

describe("timeouts", { concurrency: true }, () => {
  test("an ordinary request over requestTimeout is a TimeoutError; code runs are not limited", async () => {
    const stub = await startStub((req, res) => {
      const delay = req.method === "GET" ? 5000 : 600;
      const timer = setTimeout(() => sendJson(res, 200, req.method === "GET" ? SESSION : OK_CELL), delay);
      res.on("close", () => clearTimeout(timer));
    });
    try {
      const started = performance.now();
      await assert.rejects(Sandbox.connect("ses_1", { baseUrl: stub.url, requestTimeout: 0.3 }), (e: unknown) => {
        assert.ok(e instanceof TimeoutError && e instanceof WardenError);
        assert.equal(e.code, "TIMEOUT");
        assert.equal(e.status, null);
        return true;
      });
      const took = performance.now() - started;
      assert.ok(took >= 280 && took < 2000, `timed out after ${took} ms`);
      assert.equal(stub.requests.length, 1, "a timeout is not retried");
      const ex = await execute("1 + 1", { baseUrl: stub.url, requestTimeout: 0.3 });
      assert.equal(ex.text, "2");
    } finally {
      await stub.close();
    }
  });
});

describe("errors", () => {
  const cases: [number, Record<string, unknown>, Function][] = [
    [400, { code: "INVALID_REQUEST", message: "m" }, InvalidRequestError],
    [400, { code: "INVALID_PATH", message: "m" }, InvalidRequestError],
    [413, { code: "PAYLOAD_TOO_LARGE", message: "m" }, InvalidRequestError],
    [400, { code: "SYNTAX_ERROR", message: "m", line: 2, col: 7 }, CodeSyntaxError],
    [400, { code: "WORKFLOW_INVALID", message: "m", problems: [] }, WorkflowInvalidError],
    [401, { code: "UNAUTHORIZED", message: "m" }, AuthenticationError],
    [403, { code: "POLICY_DENIED", message: "m" }, PermissionDeniedError],
    [403, { code: "PACKAGE_NOT_ALLOWED", message: "m" }, PermissionDeniedError],
    [403, { code: "SECURITY_VIOLATION", message: "m", risk: "high", findings: [] }, SecurityViolationError],
    [404, { code: "FILE_NOT_FOUND", message: "m" }, NotFoundError],
    [404, { code: "RUN_NOT_FOUND", message: "m" }, NotFoundError],
    [404, { code: "SESSION_NOT_FOUND", message: "m" }, SessionNotFoundError],
    [409, { code: "SESSION_BUSY", message: "m" }, SessionBusyError],
    [410, { code: "SESSION_DEAD", message: "m" }, SessionDeadError],
    [429, { code: "RATE_LIMITED", message: "m" }, RateLimitError],
    [429, { code: "QUOTA_EXCEEDED", message: "m" }, QuotaExceededError],
    [503, { code: "SANDBOX_SETUP_FAILED", message: "m" }, UnavailableError],
    [418, { code: "SOMETHING_NEW", message: "m", extra: 1 }, WardenError],
  ];

  test("each code becomes its class, with status and details", () => {
    for (const [status, error, cls] of cases) {
      const e = errorFromBody({ error }, status, null);
      assert.ok(e !== null);
      assert.equal(e.constructor, cls, String(error["code"]));
      assert.equal(e.name, cls.name);
      assert.ok(e instanceof WardenError && e instanceof Error);
      assert.equal(e.code, error["code"]);
      assert.equal(e.status, status);
      assert.equal(e.message, "m");
    }
    const syntax = errorFromBody({ error: { code: "SYNTAX_ERROR", message: "m", line: 2, col: 7 } }, 400);
    assert.ok(syntax instanceof CodeSyntaxError);
    assert.deepEqual([syntax.line, syntax.col], [2, 7]);
    const sec = errorFromBody(
      {
        error: {
          code: "SECURITY_VIOLATION",
          message: "m",
          risk: "high",
          findings: [{ rule: "process.spawn", severity: "high", line: 1, col: 1, message: "x" }],
        },
      },
      403,
    );
    assert.ok(sec instanceof SecurityViolationError && sec instanceof PermissionDeniedError);
    assert.equal(sec.risk, "high");
    assert.equal(sec.findings[0]?.rule, "process.spawn");
    const unknown = errorFromBody({ error: { code: "SOMETHING_NEW", message: "m", extra: 1 } }, 418);
    assert.deepEqual(unknown?.details, { extra: 1 });
    assert.equal(errorFromBody({ nope: 1 }, 400), null);
    assert.equal(errorFromBody("text", 400), null);
    assert.match(String(sec), /^SecurityViolationError \[SECURITY_VIOLATION\]: m$/);
  });

  test("error replies reject with the error of their code, Retry-After in seconds", async () => {
    const stub = await startStub((req, res) => {
      const [status, error] = cases[Number(req.url.split("/").at(-1))]!;
      sendJson(res, status, { error }, { "retry-after": "3" });
    });
    try {
      // Retry-After 3 is over maxRetryDelay: thrown at once, not waited for.
      const wf = new Workflows({ baseUrl: stub.url, maxRetryDelay: 1 });
      for (const [i, [status, error, cls]] of cases.entries()) {
        const e = await wf.getRun(String(i)).then(
          () => null,
          (err: unknown) => err,
        );
        assert.ok(e instanceof cls, `${String(error["code"])}: ${String(e)}`);
        assert.equal((e as WardenError).code, error["code"]);
        assert.equal((e as WardenError).status, status);
        assert.equal((e as WardenError).retryAfter, 3);
      }
      assert.equal(stub.requests.length, cases.length);
    } finally {
      await stub.close();
    }
  });

  test("a reply that is not warden's is a ProtocolError", async () => {
    const stub = await startStub((_req, res) => {
      res.writeHead(502, { "content-type": "text/html" });
      res.end("<html>bad gateway</html>");
    });
    try {
      await assert.rejects(execute("1", { baseUrl: stub.url }), (e: unknown) => {
        assert.ok(e instanceof ProtocolError);
        assert.equal(e.code, "UNEXPECTED_RESPONSE");
        assert.equal(e.status, 502);
        assert.match(e.message, /bad gateway/);
        return true;
      });
    } finally {
      await stub.close();
    }
  });

  test("a stream that ends before its result is a NetworkError, after its chunks", async () => {
    const stub = await startStub((req, res) => {
      if (req.url === "/v1/sessions") return sendJson(res, 201, SESSION);
      assert.equal(req.headers["accept"], "text/event-stream");
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.end('event: stdout\ndata: {"text":"partial"}\n\n');
    });
    try {
      const sb = await Sandbox.create({ baseUrl: stub.url });
      const chunks: string[] = [];
      await assert.rejects(
        sb.runCode("x", { onStdout: (t) => void chunks.push(t) }),
        (e: unknown) => e instanceof NetworkError && e.status === null,
      );
      assert.deepEqual(chunks, ["partial"]);
    } finally {
      await stub.close();
    }
  });

  test("an error event of a stream rejects with its error; unknown events are skipped", async () => {
    const stub = await startStub((req, res) => {
      if (req.url === "/v1/sessions") return sendJson(res, 201, SESSION);
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.end(
        'event: future\ndata: {"x":1}\n\nevent: stdout\ndata: {"text":"a"}\n\n' +
          'event: error\ndata: {"error":{"code":"SESSION_DEAD","message":"gone"}}\n\n',
      );
    });
    try {
      const sb = await Sandbox.create({ baseUrl: stub.url });
      await assert.rejects(sb.runCode("x", { onStdout: () => {} }), (e: unknown) => {
        assert.ok(e instanceof SessionDeadError);
        assert.equal(e.status, null);
        assert.equal(e.message, "gone");
        return true;
      });
    } finally {
      await stub.close();
    }
  });

  test("a callback that throws rejects runCode with its own error", async () => {
    const stub = await startStub((req, res) => {
      if (req.url === "/v1/sessions") return sendJson(res, 201, SESSION);
      if (req.url.endsWith("/interrupt")) return sendJson(res, 202, {});
      if (req.method === "GET") return sendJson(res, 200, SESSION);
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write('event: stdout\ndata: {"text":"a"}\n\n');
    });
    try {
      const sb = await Sandbox.create({ baseUrl: stub.url });
      const boom = new RangeError("from the callback");
      await assert.rejects(
        sb.runCode("x", {
          onStdout: () => {
            throw boom;
          },
        }),
        (e: unknown) => e === boom,
      );
      assert.ok(
        stub.requests.some((r) => r.url.endsWith("/interrupt")),
        "the cell was interrupted",
      );
    } finally {
      await stub.close();
    }
  });
});

describe("requests", () => {
  test("bodies, headers and URLs", async () => {
    const stub = await startStub((req, res) => {
      if (req.url === "/v1/sessions") return sendJson(res, 201, SESSION);
      if (req.method === "GET") return sendJson(res, 200, SESSION);
      sendJson(res, 200, { ...OK_CELL, result: { y: 2 }, error_code: null });
    });
    try {
      const ex = await execute("1+1", {
        baseUrl: `${stub.url}/`,
        apiKey: "wk_x.y",
        files: { b: new Uint8Array([1]), "t.txt": "hé" },
        packages: ["tabulate"],
        timeout: 5,
        input: { x: 1 },
      });
      assert.deepEqual(ex.result, { y: 2 });
      const req = stub.requests[0]!;
      assert.equal(req.url, "/v1/execute");
      assert.equal(req.headers["authorization"], "Bearer wk_x.y");
      assert.match(String(req.headers["user-agent"]), /^warden-client-typescript\//);
      assert.equal(req.headers["content-type"], "application/json");
      assert.deepEqual(JSON.parse(req.body.toString()), {
        code: "1+1",
        timeout: 5,
        packages: ["tabulate"],
        files: { b: { content: "AQ==", encoding: "base64" }, "t.txt": "hé" },
        input: { x: 1 },
        language: "python",
      });

      process.env["WARDEN_API_KEY"] = "wk_from.env";
      try {
        await Sandbox.create({ baseUrl: stub.url, network: true, allowHosts: ["api.github.com"], memoryMb: 256 });
        await Sandbox.create({ baseUrl: stub.url, apiKey: "" });
      } finally {
        delete process.env["WARDEN_API_KEY"];
      }
      const [withNet, withoutKey] = stub.requests.slice(1);
      assert.equal(withNet!.headers["authorization"], "Bearer wk_from.env");
      assert.deepEqual(JSON.parse(withNet!.body.toString()), {
        language: "python",
        memory_mb: 256,
        network: true,
        egress: { allow: ["api.github.com"] },
      });
      assert.equal(withoutKey!.headers["authorization"], undefined);
      await assert.rejects(execute("1", { baseUrl: stub.url, allowHosts: ["a.test"] }), TypeError);
      await assert.rejects(execute(42 as unknown as string, { baseUrl: stub.url }), TypeError);

      const sb = await Sandbox.connect("ses_1", { baseUrl: stub.url });
      await sb.files.write("/workspace/a b/c#?.txt", "x").catch(() => undefined);
      assert.equal(stub.requests.at(-1)!.url, "/v1/sessions/ses_1/files/a%20b/c%23%3F.txt");
      assert.equal(stub.requests.at(-1)!.method, "PUT");
      assert.equal(stub.requests.at(-1)!.headers["content-type"], "application/octet-stream");
      assert.equal(stub.requests.at(-1)!.body.toString(), "x");
    } finally {
      await stub.close();
    }
  });

  test("paths and inline files are encoded as the API takes them", () => {
    assert.equal(workspacePath("/workspace/a b/c#?.txt"), "a%20b/c%23%3F.txt");
    assert.equal(workspacePath("data/x.csv"), "data/x.csv");
    assert.equal(workspacePath("it's (1)*!.txt"), "it%27s%20%281%29%2A%21.txt");
    for (const bad of ["../../ses_other", "a/./b", "a/b/..", "..", "."]) {
      assert.throws(
        () => workspacePath(bad),
        (e: unknown) => e instanceof InvalidRequestError && e.code === "INVALID_PATH" && e.status === null,
      );
    }
    assert.throws(() => segment(".."), InvalidRequestError);
    assert.equal(segment("ses/1"), "ses%2F1");
    assert.deepEqual(encodeFiles({ "a.txt": "hé", "b.bin": new Uint8Array([0]) }), {
      "a.txt": "hé",
      "b.bin": { content: "AA==", encoding: "base64" },
    });
    assert.equal(encodeFiles(undefined), undefined);
    assert.throws(() => encodeFiles({ x: 1 as unknown as string }), TypeError);
  });

  test("results are parsed, defaults for what is missing", () => {
    const png = Buffer.from("\x89PNG\r\n\x1a\nrest", "latin1").toString("base64");
    const ex = Execution.fromJson({
      status: "error",
      execution_count: 3,
      value: { "text/plain": "1" },
      outputs: [{ "image/png": png, "text/plain": "<Figure>" }],
      error: { name: "E", value: "v", traceback: ["a\n", "b\n"] },
      error_code: "EXECUTION_ERROR",
      result: [1, "two"],
      stdout: "o",
      stderr: "e",
      timed_out: true,
      duration_ms: 2.5,
      execution_id: "exe_1",
      risk: "low",
      findings: [{ rule: "r", severity: "low", line: 1, col: 2, message: "m" }],
      secrets: { openai_key: 2 },
      something_new: 1,
    });
    assert.deepEqual(
      ex.results.map((r) => r.isMainResult),
      [false, true],
    );
    assert.equal(ex.text, "1");
    assert.equal(ex.results[0]!.png!.toString("latin1"), "\x89PNG\r\n\x1a\nrest");
    assert.equal(ex.results[0]!.pngBase64, png);
    assert.deepEqual(ex.results[0]!.formats(), ["image/png", "text/plain"]);
    assert.equal(ex.error?.tracebackText, "a\nb\n");
    assert.deepEqual(
      [ex.timedOut, ex.durationMs, ex.executionId, ex.risk, ex.errorCode],
      [true, 2.5, "exe_1", "low", "EXECUTION_ERROR"],
    );
    assert.deepEqual(ex.result, [1, "two"]);
    assert.equal(ex.findings[0]?.col, 2);
    assert.deepEqual(ex.secrets, { openai_key: 2 });
    assert.equal(ex.raw["something_new"], 1);
    assert.equal(ex.files, null);
    assert.equal(ex.ok, false);
    const empty = Execution.fromJson({ value: null, error: null, outputs: [] });
    assert.deepEqual(
      [empty.text, empty.value, empty.results.length, empty.error, empty.result, empty.errorCode],
      [null, null, 0, null, null, null],
    );
    assert.ok(empty.ok);
  });
});
