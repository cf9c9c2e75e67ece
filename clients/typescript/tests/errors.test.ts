/** Every error class from a real server's reply: keyed servers whose tenants have
 * policies (refusals, risk levels, rates and quotas), and development servers with small
 * limits. */

import { strict as assert } from "node:assert";
import { after, before, describe, test } from "node:test";

import {
  AuthenticationError,
  InvalidRequestError,
  NotFoundError,
  PermissionDeniedError,
  QuotaExceededError,
  RateLimitError,
  Sandbox,
  SecurityViolationError,
  SessionDeadError,
  UnavailableError,
  WardenError,
  execute,
} from "../src/index.js";
import { createKey, startDevServer, startServer, tempDir, type Server } from "./helpers/server.js";

let keyed: Server;
const keys: Record<string, string> = {};
let small: Server;

before(async () => {
  delete process.env["WARDEN_API_URL"];
  delete process.env["WARDEN_API_KEY"];
  const dataDir = tempDir("keyed");
  keys["plain"] = createKey(dataDir, "plain");
  keys["strict"] = createKey(dataDir, "strict", {
    languages: ["python"],
    max_timeout: 5,
    max_code_bytes: 2000,
    packages: [],
    risk: { low: "allow", medium: "deny", high: "deny" },
  });
  keys["rate"] = createKey(dataDir, "rate", { executions_per_minute: 60 });
  keys["slow"] = createKey(dataDir, "slow", { executions_per_minute: 2 });
  keys["quota"] = createKey(dataDir, "quota", { max_sessions: 1 });
  [keyed, small] = await Promise.all([
    startServer({ dataDir }),
    // A development server that holds one session at most and takes small code only.
    startDevServer(["--max-sessions", "1", "--max-code-bytes", "4096"]),
  ]);
});
after(async () => {
  await Promise.all([keyed?.stop(), small?.stop()]);
});

function rejectsWith<T extends WardenError>(
  cls: abstract new (...args: never[]) => T,
  code: string,
  status: number,
  check: (e: T) => void = () => {},
): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name} (${code}), got ${String(e)}`);
    assert.equal(e.code, code);
    assert.equal(e.status, status);
    assert.equal(e.name, cls.name);
    check(e);
    return true;
  };
}

describe("keyed server", { concurrency: true }, () => {
  test("UNAUTHORIZED without a valid key; the key from the environment works", async () => {
    for (const bad of ["", "wk_0000000000000000.bad", "not-a-key"]) {
      await assert.rejects(
        Sandbox.create({ baseUrl: keyed.url, apiKey: bad }),
        rejectsWith(AuthenticationError, "UNAUTHORIZED", 401),
      );
    }
    await assert.rejects(execute("1", { baseUrl: keyed.url, apiKey: "wk_0000000000000000.bad" }), AuthenticationError);
    assert.equal((await execute("2 + 2", { baseUrl: keyed.url, apiKey: keys["plain"]! })).text, "4");
    process.env["WARDEN_API_KEY"] = keys["plain"]!;
    try {
      await using sb = await Sandbox.create({ baseUrl: keyed.url });
      assert.equal((await sb.runCode("3")).text, "3");
    } finally {
      delete process.env["WARDEN_API_KEY"];
    }
  });

  test("POLICY_DENIED names the policy field; PACKAGE_NOT_ALLOWED", async () => {
    const opts = { baseUrl: keyed.url, apiKey: keys["strict"]! };
    await assert.rejects(
      Sandbox.create({ ...opts, language: "javascript" }),
      rejectsWith(PermissionDeniedError, "POLICY_DENIED", 403, (e) => assert.match(e.message, /languages/)),
    );
    await assert.rejects(
      execute("1", { ...opts, timeout: 10 }),
      rejectsWith(PermissionDeniedError, "POLICY_DENIED", 403, (e) => assert.match(e.message, /max_timeout/)),
    );
    await assert.rejects(
      execute(`x = ${"1 + ".repeat(600)}1`, opts),
      rejectsWith(PermissionDeniedError, "POLICY_DENIED", 403, (e) => assert.match(e.message, /max_code_bytes/)),
    );
    await assert.rejects(
      Sandbox.create({ ...opts, packages: ["tabulate"] }),
      rejectsWith(PermissionDeniedError, "PACKAGE_NOT_ALLOWED", 403),
    );
    assert.equal((await execute("1 + 1", opts)).text, "2");
  });

  test("SECURITY_VIOLATION carries the risk and the findings; nothing ran", async () => {
    const opts = { baseUrl: keyed.url, apiKey: keys["strict"]! };
    const code = "import subprocess\nsubprocess.run(['touch', '/workspace/ran'])";
    await assert.rejects(
      execute(code, opts),
      rejectsWith(SecurityViolationError, "SECURITY_VIOLATION", 403, (e) => {
        assert.ok(e instanceof PermissionDeniedError);
        assert.ok(e.risk === "medium" || e.risk === "high", String(e.risk));
        assert.ok(e.findings.length > 0);
        assert.ok(e.findings.some((f) => f.rule.startsWith("import.") || f.rule.startsWith("process.")));
        assert.ok(e.findings.every((f) => f.line >= 1 && f.message.length > 0));
      }),
    );
    await using sb = await Sandbox.create(opts);
    await assert.rejects(sb.runCode(code), SecurityViolationError);
    await assert.rejects(sb.runCode(code, { onStdout: () => {} }), SecurityViolationError);
    assert.equal(await sb.files.exists("ran"), false);
  });

  test("RATE_LIMITED with Retry-After; retried when the wait is short", async () => {
    // 2 per minute: a burst of 2, then one token every 30 s.
    const slow = { baseUrl: keyed.url, apiKey: keys["slow"]!, maxRetries: 0 };
    await execute("1", slow);
    await execute("1", slow);
    await assert.rejects(
      execute("1", slow),
      rejectsWith(RateLimitError, "RATE_LIMITED", 429, (e) => {
        assert.ok(e.retryAfter !== null && e.retryAfter > 1 && e.retryAfter <= 30, String(e.retryAfter));
      }),
    );
    // The default cap (30 s) is not below that wait, but a smaller one is: thrown at once.
    const started = performance.now();
    await assert.rejects(execute("1", { ...slow, maxRetries: 2, maxRetryDelay: 1 }), RateLimitError);
    assert.ok(performance.now() - started < 1000);

    // 60 per minute: after the burst, one token a second.
    const rate = { baseUrl: keyed.url, apiKey: keys["rate"]! };
    await using burst = await Sandbox.create({ ...rate, maxRetries: 0 });
    let limited: RateLimitError | null = null;
    for (let i = 0; i < 100 && limited === null; i++) {
      try {
        await burst.runCode("1");
      } catch (e) {
        if (!(e instanceof RateLimitError)) throw e;
        limited = e;
      }
    }
    assert.ok(limited !== null, "the burst of 60 ran out");
    assert.ok(limited.retryAfter !== null && limited.retryAfter <= 2, String(limited.retryAfter));
    // With the default retries, the call waits for the Retry-After and succeeds. The
    // attempts are seen through a `fetch` of our own. (A token may come back between the
    // 429 above and this call; then the burst is drained again.)
    const attempts: { status: number; at: number; retryAfter: string | null }[] = [];
    const counting: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      attempts.push({ status: res.status, at: performance.now(), retryAfter: res.headers.get("retry-after") });
      return res;
    };
    const waiting = await Sandbox.connect(burst.id, { ...rate, fetch: counting });
    for (let round = 0; round < 5; round++) {
      attempts.length = 0;
      assert.equal((await waiting.runCode("6 * 7")).text, "42");
      if (attempts[0]?.status === 429) break;
      while (
        await burst.runCode("1").then(
          () => true,
          (e: unknown) => !(e instanceof RateLimitError),
        )
      );
    }
    assert.deepEqual(
      attempts.map((a) => a.status),
      [429, 200],
      "one 429, then the retry succeeded",
    );
    const waited = attempts[1]!.at - attempts[0]!.at;
    assert.ok(waited >= Number(attempts[0]!.retryAfter) * 1000 - 50, `retried after ${waited} ms`);
  });

  test("QUOTA_EXCEEDED with Retry-After when max_sessions are live", async () => {
    const opts = { baseUrl: keyed.url, apiKey: keys["quota"]!, maxRetries: 0 };
    const first = await Sandbox.create(opts);
    try {
      await assert.rejects(
        Sandbox.create(opts),
        rejectsWith(QuotaExceededError, "QUOTA_EXCEEDED", 429, (e) => {
          assert.equal(e.retryAfter, 5);
          assert.ok(!(e instanceof RateLimitError));
        }),
      );
    } finally {
      await first.close();
    }
    await (await Sandbox.create(opts)).close();
  });
});

describe("development server with small limits", () => {
  test("UNAVAILABLE at the session maximum, retried until a session closes", async () => {
    const first = await Sandbox.create({ baseUrl: small.url });
    await assert.rejects(
      Sandbox.create({ baseUrl: small.url, maxRetries: 0 }),
      rejectsWith(UnavailableError, "UNAVAILABLE", 503),
    );
    // With retries (backoff 0.25–0.5 s, then 0.5–1 s): the first session closes meanwhile.
    setTimeout(() => void first.close(), 200).unref();
    const second = await Sandbox.create({ baseUrl: small.url });
    assert.notEqual(second.id, first.id);
    await second.close();
  });

  test("PAYLOAD_TOO_LARGE, TEMPLATE_NOT_FOUND, PATH_FORBIDDEN, SESSION_DEAD", async () => {
    await assert.rejects(
      execute(`# ${"x".repeat(5000)}\n1`, { baseUrl: small.url }),
      rejectsWith(InvalidRequestError, "PAYLOAD_TOO_LARGE", 413),
    );
    await assert.rejects(
      Sandbox.create({ baseUrl: small.url, template: "no-such-template" }),
      rejectsWith(NotFoundError, "TEMPLATE_NOT_FOUND", 404),
    );
    {
      await using sb = await Sandbox.create({ baseUrl: small.url });
      await sb.runCode("import os\nos.symlink('/etc/passwd', 'link')");
      await assert.rejects(sb.files.read("link"), rejectsWith(PermissionDeniedError, "PATH_FORBIDDEN", 403));
    }
    await using js = await Sandbox.create({ baseUrl: small.url, language: "javascript" });
    const exit = await js.runCode("process.exit(3)");
    assert.equal(exit.error?.name, "ExitStatus");
    await assert.rejects(js.runCode("1"), rejectsWith(SessionDeadError, "SESSION_DEAD", 410));
    const info = await js.restart();
    assert.equal(info.state, "idle");
    assert.equal((await js.runCode("1 + 1")).text, "2");
  });
});
