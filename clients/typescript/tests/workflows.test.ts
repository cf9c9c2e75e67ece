/** Workflows, runs and document collections against a live development server. Each test
 * uses ids and collection names of its own. */

import { strict as assert } from "node:assert";
import { after, before, describe, test } from "node:test";

import {
  CollectionInfo,
  InvalidRequestError,
  NotFoundError,
  Sandbox,
  SearchHit,
  WorkflowInfo,
  WorkflowInvalidError,
  Workflows,
  type JsonObject,
} from "../src/index.js";
import { startDevServer, unique, type Server } from "./helpers/server.js";

const DOUBLE: JsonObject = {
  name: "double",
  inputs: ["x"],
  nodes: [
    { id: "start", type: "start" },
    {
      id: "twice",
      type: "code",
      config: {
        language: "python",
        code: "print('doubling', input_data['x'])\nresult = input_data['x'] * 2",
        input_mapping: { x: "inputs.x" },
        output_mapping: { y: "result" },
      },
    },
    { id: "end", type: "end", config: { output: { y: "y" } } },
  ],
  edges: [
    { source: "start", target: "twice" },
    { source: "twice", target: "end" },
  ],
};

const TRIPLE_YAML = `
name: double
inputs: [x]
nodes:
  - {id: start, type: start}
  - id: twice
    type: code
    config:
      language: python
      code: "result = input_data['x'] * 3"
      input_mapping: {x: inputs.x}
      output_mapping: {y: result}
  - {id: end, type: end, config: {output: {y: y}}}
edges:
  - {source: start, target: twice}
  - {source: twice, target: end}
`;

const BROKEN: JsonObject = {
  name: "broken",
  nodes: [
    { id: "start", type: "start" },
    { id: "mystery", type: "teleport" },
    { id: "island", type: "variable", config: { set: { a: "1" } } },
    { id: "end", type: "end" },
  ],
  edges: [
    { source: "start", target: "mystery" },
    { source: "mystery", target: "end" },
    { source: "start", target: "ghost" },
  ],
};

const RUN_EVENTS = ["run_started", ...Array(3).fill(["node_started", "node_finished"]).flat(), "run_finished"];

function codeFlow(code: string, name = "inline"): JsonObject {
  return {
    name,
    inputs: ["values"],
    nodes: [
      { id: "start", type: "start" },
      {
        id: "work",
        type: "code",
        config: {
          language: "python",
          code,
          input_mapping: { values: "inputs.values" },
          output_mapping: { out: "result" },
        },
      },
      { id: "end", type: "end", config: { output: { out: "out" } } },
    ],
    edges: [
      { source: "start", target: "work" },
      { source: "work", target: "end" },
    ],
  };
}

function retrievalFlow(collection: string): JsonObject {
  return {
    name: "ask",
    inputs: ["question"],
    nodes: [
      { id: "start", type: "start" },
      {
        id: "search",
        type: "retrieval",
        config: { collection, query: "inputs.question", top_k: 2, output: "hits" },
      },
      { id: "end", type: "end", config: { output: { hits: "hits" } } },
    ],
    edges: [
      { source: "start", target: "search" },
      { source: "search", target: "end" },
    ],
  };
}

let server: Server;
let wf: Workflows;

before(async () => {
  server = await startDevServer();
  wf = new Workflows({ baseUrl: server.url });
});
after(async () => {
  await server?.stop();
});

describe("workflows", { concurrency: true }, () => {
  test("saved versions run and are kept", async () => {
    const wid = unique("double");
    const v1 = await wf.save(DOUBLE, { id: wid });
    assert.ok(v1 instanceof WorkflowInfo);
    assert.deepEqual([v1.id, v1.version, v1.name], [wid, 1, "double"]);
    const v2 = await wf.save(TRIPLE_YAML, { id: wid });
    assert.equal(v2.version, 2);
    assert.ok(v2.createdAt >= v1.createdAt);
    const listed = new Map((await wf.list()).map((w) => [w.id, w]));
    assert.equal(listed.get(wid)?.version, 2);
    assert.equal(listed.get(wid)?.definition, null);
    const old = await wf.get(wid, { version: 1 });
    assert.match(JSON.stringify(old.definition), /\* 2/);
    assert.equal((await wf.get(wid)).version, 2);

    const latest = await wf.run(wid, { input: { x: 7 } });
    assert.deepEqual(
      [latest.status, latest.output, latest.workflowId, latest.workflowVersion],
      ["ok", { y: 21 }, wid, 2],
    );
    const first = await wf.run(wid, { input: { x: 7 }, version: 1, threadId: "t-1" });
    assert.deepEqual([first.output, first.workflowVersion, first.threadId, first.steps], [{ y: 14 }, 1, "t-1", 3]);
    assert.deepEqual(
      first.trace?.map((t) => t["node"]),
      ["start", "twice", "end"],
    );
    assert.equal(first.trace?.[1]?.["stdout"], "doubling 7\n");
    assert.deepEqual(first.state?.["inputs"], { x: 7 });
    const stored = await wf.getRun(first.id);
    assert.deepEqual([stored.output, stored.trace], [first.output, first.trace]);

    await assert.rejects(wf.get(wid, { version: 9 }), (e: unknown) => {
      assert.ok(e instanceof NotFoundError);
      assert.equal(e.code, "WORKFLOW_NOT_FOUND");
      return true;
    });
    await assert.rejects(wf.run(unique("nope"), { input: {} }), (e: unknown) => {
      assert.ok(e instanceof NotFoundError);
      assert.deepEqual([e.code, e.status], ["WORKFLOW_NOT_FOUND", 404]);
      return true;
    });
    await assert.rejects(
      wf.getRun("run_nope"),
      (e: unknown) => e instanceof NotFoundError && e.code === "RUN_NOT_FOUND",
    );
  });

  test("inline runs; a node's failure is the run's result", async () => {
    const run = await wf.runInline(
      codeFlow("import statistics\nresult = {'mean': statistics.fmean(input_data['values'])}"),
      { input: { values: [1, 2, 3, 6] } },
    );
    assert.deepEqual([run.status, run.output, run.error], ["ok", { out: { mean: 3.0 } }, null]);
    assert.equal(run.workflowId, null);
    assert.equal(run.workflowName, "inline");
    assert.notEqual(run.finishedAt, null);
    assert.ok(run.ok && run.finished);

    const failed = await wf.runInline(codeFlow("result = 1 / 0"), { input: { values: [] } });
    assert.equal(failed.status, "error");
    assert.equal(failed.output, null);
    assert.deepEqual([failed.error?.node, failed.error?.code], ["work", "EXECUTION_ERROR"]);
    assert.match((failed.error?.message ?? "") + (failed.error?.traceback ?? ""), /ZeroDivisionError/);
  });

  test("streamed runs call onEvent in order", async () => {
    const events: [string, unknown][] = [];
    const run = await wf.runInline(DOUBLE, {
      input: { x: 4 },
      onEvent: async (name, payload) => {
        await new Promise((r) => setTimeout(r, 1));
        events.push([name, payload]);
      },
    });
    assert.deepEqual(
      events.map(([n]) => n),
      RUN_EVENTS,
    );
    const payload = (i: number): JsonObject => events[i]![1] as JsonObject;
    assert.equal(payload(0)["status"], "running");
    assert.equal(payload(3)["node"], "twice");
    assert.deepEqual((payload(4)["entry"] as JsonObject)["outputs"], { y: 8 });
    assert.deepEqual([run.status, run.output, run.id], ["ok", { y: 8 }, payload(events.length - 1)["id"]]);
    assert.equal((await wf.getRun(run.id)).status, "ok");

    const wid = unique("streamed");
    await wf.save(DOUBLE, { id: wid });
    const names: string[] = [];
    const stored = await wf.run(wid, { input: { x: 1 }, onEvent: (name) => void names.push(name) });
    assert.deepEqual(stored.output, { y: 2 });
    assert.deepEqual(names, RUN_EVENTS);
    await assert.rejects(wf.run(wid, { wait: false, onEvent: () => {} }), TypeError);
  });

  test("wait: false answers at once, then the run finishes", async () => {
    const started = await wf.runInline(codeFlow("import time\ntime.sleep(1)\nresult = 'late'"), {
      input: { values: [] },
      wait: false,
    });
    assert.deepEqual([started.status, started.finished, started.output], ["running", false, null]);
    const deadline = Date.now() + 60_000;
    let run = await wf.getRun(started.id);
    while (!run.finished && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      run = await wf.getRun(started.id);
    }
    assert.deepEqual([run.status, run.output], ["ok", { out: "late" }]);
  });

  test("invalid definitions list their problems", async () => {
    await assert.rejects(wf.save(BROKEN), (e: unknown) => {
      assert.ok(e instanceof WorkflowInvalidError && e instanceof InvalidRequestError);
      assert.deepEqual([e.code, e.status], ["WORKFLOW_INVALID", 400]);
      const got = new Set(e.problems.map((p) => `${p.node}:${p.code}`));
      assert.ok(got.has("mystery:unknown_type") && got.has("island:unreachable"), [...got].join(" "));
      assert.ok(e.problems.some((p) => p.code === "edge_to_nowhere" && p.edge === 2));
      return true;
    });
    assert.ok((await wf.list()).every((w) => w.name !== "broken"));
    await assert.rejects(wf.runInline("name: [unclosed"), WorkflowInvalidError);
    await assert.rejects(wf.runInline(BROKEN, { onEvent: () => {} }), (e: unknown) => {
      assert.ok(e instanceof WorkflowInvalidError);
      assert.ok(e.problems.some((p) => p.node === "mystery"));
      return true;
    });
  });

  test("listRuns filters and pages; iterRuns follows the pages", async () => {
    const wid = unique("listed");
    await wf.save(DOUBLE, { id: wid });
    const ids = [(await wf.run(wid, { input: { x: 1 } })).id, (await wf.run(wid, { input: { x: 2 } })).id];
    const failed = await wf.run(wid, { input: { x: null } });
    assert.equal(failed.status, "error");
    ids.push(failed.id);
    await wf.runInline(DOUBLE, { input: { x: 3 } }); // not of this workflow

    const newestFirst = [...ids].reverse();
    const page = await wf.listRuns({ workflowId: wid });
    assert.deepEqual(
      page.runs.map((r) => r.id),
      newestFirst,
    );
    assert.equal(page.nextCursor, null);
    assert.ok(page.runs.every((r) => r.state === null && r.trace === null));
    assert.deepEqual(
      (await wf.listRuns({ workflowId: wid, status: "error" })).runs.map((r) => r.id),
      [failed.id],
    );
    assert.deepEqual(
      (await wf.listRuns({ workflowId: wid, status: "ok" })).runs.map((r) => r.id),
      [ids[1], ids[0]],
    );
    const first = await wf.listRuns({ workflowId: wid, limit: 2 });
    assert.equal(first.runs.length, 2);
    assert.ok(first.nextCursor);
    const rest = await wf.listRuns({ workflowId: wid, limit: 2, cursor: first.nextCursor });
    assert.deepEqual(
      [...first.runs, ...rest.runs].map((r) => r.id),
      newestFirst,
    );
    const iterated: string[] = [];
    for await (const run of wf.iterRuns({ workflowId: wid, pageSize: 2 })) iterated.push(run.id);
    assert.deepEqual(iterated, newestFirst);
  });

  test("collections and a retrieval node", async () => {
    const name = unique("handbook");
    const info = await wf.addDocuments(name, [
      { id: "vacation", text: "Employees get 25 vacation days per year.", metadata: { section: "leave" } },
      { id: "expenses", text: "Travel expenses are reimbursed within 30 days." },
      "The office opens at nine.",
    ]);
    assert.ok(info instanceof CollectionInfo);
    assert.deepEqual([info.name, info.documents], [name, 3]);
    assert.ok((await wf.listCollections()).some((c) => c.name === name && c.documents === 3));
    const hits = await wf.search(name, "how many vacation days?", { topK: 2 });
    assert.ok(hits[0] instanceof SearchHit);
    assert.deepEqual([hits[0].id, hits[0].metadata], ["vacation", { section: "leave" }]);
    assert.ok(hits[0].score > 0 && hits.length <= 2);
    assert.ok((await wf.search(name, "office nine")).some((h) => h.id === "doc-3"));

    const run = await wf.runInline(retrievalFlow(name), { input: { question: "travel expenses" } });
    assert.equal(run.status, "ok", JSON.stringify(run.error));
    assert.equal(((run.output as JsonObject)["hits"] as JsonObject[])[0]?.["id"], "expenses");

    await wf.deleteCollection(name);
    assert.ok((await wf.listCollections()).every((c) => c.name !== name));
    await assert.rejects(
      wf.search(name, "vacation"),
      (e: unknown) => e instanceof NotFoundError && e.code === "COLLECTION_NOT_FOUND",
    );
    await assert.rejects(wf.deleteCollection(name), NotFoundError);
    const missing = await wf.runInline(retrievalFlow(name), { input: { question: "x" } });
    assert.equal(missing.status, "error");
    assert.equal(missing.error?.code, "COLLECTION_NOT_FOUND");
    await assert.rejects(wf.addDocuments(name, "one document" as unknown as string[]), TypeError);
  });

  test("a sandbox reaches the workflows of its server", async () => {
    await using sb = await Sandbox.create({ baseUrl: server.url });
    assert.equal(sb.workflows.baseUrl, server.url);
    assert.deepEqual((await sb.workflows.runInline(DOUBLE, { input: { x: 5 } })).output, { y: 10 });
    assert.equal((await sb.runCode("1 + 1")).text, "2");
  });
});
