/** examples/agent-loop.ts end to end: warden's tools, a live server, and a stub model
 * speaking the chat-completions wire format. */

import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, describe, test } from "node:test";

import { runAgent } from "../examples/agent-loop.js";
import type { JsonObject } from "../src/index.js";
import { PACKAGE_DIR, startDevServer, type Server } from "./helpers/server.js";
import { sendJson, startStub, type Stub } from "./helpers/stub.js";

const CODE = "import math\nprint(sum(math.comb(40, k) for k in range(0, 41, 3)))";

function comb(n: bigint, k: bigint): bigint {
  let r = 1n;
  for (let i = 1n; i <= k; i++) r = (r * (n - k + i)) / i;
  return r;
}
let expectedSum = 0n;
for (let k = 0n; k <= 40n; k += 3n) expectedSum += comb(40n, k);
const EXPECTED = expectedSum.toString();

/** Answers the first request with a tool call, the next (which must carry the tool's
 * message) with an answer quoting what the tool said. */
class StubModel {
  code = CODE;
  requests: JsonObject[] = [];

  reply(request: JsonObject): JsonObject {
    this.requests.push(request);
    const messages = request["messages"] as JsonObject[];
    const toolMessages = messages.filter((m) => m["role"] === "tool");
    const message: JsonObject =
      toolMessages.length === 0
        ? {
            role: "assistant",
            content: null,
            tool_calls: [
              {
                id: "call_1",
                type: "function",
                function: { name: "execute_python", arguments: JSON.stringify({ code: this.code }) },
              },
            ],
          }
        : { role: "assistant", content: `The sandbox printed: ${String(toolMessages.at(-1)!["content"]).trim()}` };
    return {
      id: "chatcmpl-stub",
      object: "chat.completion",
      model: request["model"] ?? "stub",
      choices: [{ index: 0, message, finish_reason: "tool_calls" in message ? "tool_calls" : "stop" }],
    };
  }
}

let server: Server;
let model: StubModel;
let stub: Stub;
let modelUrl: string;

before(async () => {
  server = await startDevServer();
});
after(async () => {
  await server?.stop();
});
beforeEach(async () => {
  model = new StubModel();
  stub = await startStub((req, res) => {
    if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
      sendJson(res, 404, { error: "no such route" });
      return;
    }
    assert.equal(req.headers["content-type"], "application/json");
    sendJson(res, 200, model.reply(JSON.parse(req.body.toString()) as JsonObject));
  });
  modelUrl = `${stub.url}/v1`;
});
afterEach(async () => {
  await stub.close();
});

describe("the agent loop example", () => {
  test("runs the model's code and answers with its output", async () => {
    const seen: JsonObject[] = [];
    const answer = await runAgent("Sum every third binomial coefficient of 40.", {
      modelBaseUrl: modelUrl,
      model: "stub",
      modelApiKey: "sk-stub",
      baseUrl: server.url,
      maxTurns: 4,
      onMessage: (m) => void seen.push(m),
    });
    assert.ok(answer.includes(EXPECTED), answer);
    assert.equal(model.requests.length, 2);
    const [first, second] = model.requests as [JsonObject, JsonObject];
    const names = new Set((first["tools"] as JsonObject[]).map((t) => (t["function"] as JsonObject)["name"]));
    for (const n of ["execute_python", "execute_bash", "read_file"]) assert.ok(names.has(n), n);
    assert.deepEqual((first["messages"] as JsonObject[]).at(-1), {
      role: "user",
      content: "Sum every third binomial coefficient of 40.",
    });
    assert.equal(first["model"], "stub");
    assert.equal(stub.requests[0]!.headers["authorization"], "Bearer sk-stub");
    // What the model saw second: its own tool call, then warden's answer.
    const [assistant, tool] = (second["messages"] as JsonObject[]).slice(-2) as [JsonObject, JsonObject];
    assert.equal((assistant["tool_calls"] as JsonObject[])[0]!["id"], "call_1");
    assert.equal(tool["role"], "tool");
    assert.equal(tool["tool_call_id"], "call_1");
    assert.ok(
      String(tool["content"]).startsWith("stdout:") && String(tool["content"]).includes(EXPECTED),
      String(tool["content"]),
    );
    assert.deepEqual(
      seen.map((m) => m["role"]),
      ["assistant", "tool", "assistant"],
    );
    assert.ok(!("content" in seen[0]!), "null fields are dropped from the assistant message");
  });

  test("figures follow the tool messages as images, unless images is false", async () => {
    model.code = "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()\nprint('plotted')";
    const answer = await runAgent("Plot a line.", { modelBaseUrl: modelUrl, baseUrl: server.url, maxTurns: 4 });
    assert.ok(answer.includes("plotted"), answer);
    const [assistant, tool, user] = (model.requests[1]!["messages"] as JsonObject[]).slice(-3) as JsonObject[];
    assert.deepEqual([assistant!["role"], tool!["role"], user!["role"]], ["assistant", "tool", "user"]);
    const images = (user!["content"] as JsonObject[]).filter((p) => p["type"] === "image_url");
    assert.ok(images.length > 0);
    assert.match(String((images[0]!["image_url"] as JsonObject)["url"]), /^data:image\/png;base64,iVBORw0KGgo/);

    model.requests = [];
    await runAgent("Plot.", { modelBaseUrl: modelUrl, baseUrl: server.url, images: false, maxTurns: 4 });
    assert.deepEqual(
      (model.requests[1]!["messages"] as JsonObject[]).slice(-2).map((m) => m["role"]),
      ["assistant", "tool"],
    );
  });

  test("runs as a program configured by OPENAI_* and WARDEN_API_URL", async () => {
    const script = join(PACKAGE_DIR, "build-test", "examples", "agent-loop.js");
    const child = spawn(process.execPath, [script, "Sum every third binomial coefficient of 40."], {
      env: {
        PATH: process.env["PATH"] ?? "",
        OPENAI_BASE_URL: modelUrl,
        OPENAI_API_KEY: "sk-cli",
        OPENAI_MODEL: "stub-cli",
        WARDEN_API_URL: server.url,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        resolve(null);
      }, 30_000);
      child.once("exit", (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    assert.equal(code, 0, stderr);
    assert.match(stdout, new RegExp(`The sandbox printed: stdout:\\s+${EXPECTED}`));
    assert.match(stderr, /→ execute_python\(/);
    assert.match(stderr, new RegExp(`← stdout:\\s+${EXPECTED}`));
    assert.equal(model.requests[0]!["model"], "stub-cli");
    assert.equal(stub.requests[0]!.headers["authorization"], "Bearer sk-cli");
  });
});
