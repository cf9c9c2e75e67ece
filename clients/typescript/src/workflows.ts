/**
 * Workflows: stored, versioned graphs of nodes run on the server, their runs (waited
 * for, in the background, or streamed), and the document collections `retrieval` nodes
 * search (docs/WORKFLOWS.md).
 *
 * @module
 */

import { NetworkError, ProtocolError, errorFromBody } from "./errors.js";
import { Http, type ClientOptions } from "./http.js";
import { CollectionInfo, Run, RunList, SearchHit, WorkflowInfo, type JsonObject } from "./models.js";
import { readEvents, type SSEEvent } from "./sse.js";
import { defined, eventJson, isEventStream, isObject, segment, typeName } from "./shared.js";

/** A workflow definition: an object (sent as JSON), or YAML or JSON text (the server
 * parses it). */
export type Definition = JsonObject | string;

/** A document to index: its text, or `{text, id?, metadata?}`. */
export type Document = string | { text: string; id?: string | undefined; metadata?: JsonObject | null | undefined };

/** The events of a streamed run, in order: `run_started` (the run), per node
 * `node_started` `{node, type, step}`, `node_retrying` `{node, attempt, wait_ms,
 * error}`, `node_finished` `{entry}`, and last `run_finished` (the stored run). */
export type RunEventName = "run_started" | "node_started" | "node_retrying" | "node_finished" | "run_finished";

/** Called with each event of a streamed run and its JSON payload; may return a promise,
 * which is awaited before the next event. */
export type RunEventCallback = (name: RunEventName | (string & {}), payload: unknown) => unknown;

/** How to run a workflow. */
export interface RunOptions {
  /** The run's input: the state starts as `{"inputs": input}`. */
  input?: unknown | undefined;
  /** A stored version (default: the latest); `run` only. */
  version?: number | undefined;
  /** The thread of `memory` nodes (`inputs.thread_id`). */
  threadId?: string | undefined;
  /** `false`: answer at once with the run `running` (poll `getRun`). Default `true`. */
  wait?: boolean | undefined;
  /** Lowers the server's step limit. */
  maxSteps?: number | undefined;
  /** Lowers the server's time limit of the run, in seconds. */
  timeout?: number | undefined;
  /** Streams the run: called with each event as it happens (not with `wait: false`). */
  onEvent?: RunEventCallback | undefined;
  /** Stops waiting (the run goes on to its end on the server); rejects with
   * `AbortError`. */
  signal?: AbortSignal | undefined;
}

/** The tenant's workflows, runs and collections. */
export class Workflows {
  private readonly http: Http;

  constructor(options: ClientOptions = {}) {
    this.http = new Http(options);
  }

  /** @internal A `Workflows` over an existing connection (`sandbox.workflows`). */
  static over(http: Http): Workflows {
    const wf = Object.create(Workflows.prototype) as Workflows;
    (wf as unknown as { http: Http }).http = http;
    return wf;
  }

  /** The server this talks to. */
  get baseUrl(): string {
    return this.http.baseUrl;
  }

  /** Stores `definition` as the next version of `id` (default: its `name`). */
  async save(definition: Definition, options: { id?: string | undefined } = {}): Promise<WorkflowInfo> {
    const body = defined({ definition: definitionJson(definition), id: options.id });
    return WorkflowInfo.fromJson(await this.http.json("POST", "/v1/workflows", { json: body }));
  }

  /** One stored version (the latest by default), with its `definition`. */
  async get(id: string, options: { version?: number | undefined } = {}): Promise<WorkflowInfo> {
    const body = await this.http.json("GET", `/v1/workflows/${segment(id, "a workflow id")}`, {
      query: { version: options.version },
    });
    return WorkflowInfo.fromJson(body);
  }

  /** The latest version of each workflow (without definitions). */
  async list(): Promise<WorkflowInfo[]> {
    return listOf(await this.http.json("GET", "/v1/workflows"), "workflows").map((w) => WorkflowInfo.fromJson(w));
  }

  /** Runs a stored workflow. A node's failure is the run's result (`status: "error"`),
   * not a thrown error. */
  async run(id: string, options: RunOptions = {}): Promise<Run> {
    return this.start(`/v1/workflows/${segment(id, "a workflow id")}/runs`, undefined, options);
  }

  /** Runs a definition without storing it. */
  async runInline(definition: Definition, options: Omit<RunOptions, "version"> = {}): Promise<Run> {
    return this.start("/v1/runs", definitionJson(definition), options);
  }

  private async start(path: string, definition: unknown, options: RunOptions): Promise<Run> {
    const wait = options.wait ?? true;
    if (options.onEvent !== undefined && !wait) {
      throw new TypeError("onEvent streams the run to its end: it cannot be combined with wait: false");
    }
    const body = defined({
      definition,
      input: options.input,
      version: options.version,
      thread_id: options.threadId,
      // The server waits by default; only say so when it should not.
      wait: wait ? undefined : false,
      max_steps: options.maxSteps,
      timeout: options.timeout,
    });
    if (options.onEvent === undefined) {
      return Run.fromJson(await this.http.json("POST", path, { json: body, runsCode: wait, signal: options.signal }));
    }
    const res = await this.http.stream("POST", path, {
      json: body,
      headers: { accept: "text/event-stream" },
      signal: options.signal,
    });
    return readRunStream(res, options.onEvent, options.signal);
  }

  /** A run with its `state` and `trace`. */
  async getRun(id: string): Promise<Run> {
    return Run.fromJson(await this.http.json("GET", `/v1/runs/${segment(id, "a run id")}`));
  }

  /** One page of runs, newest first, without `state` and `trace`. */
  async listRuns(
    options: {
      workflowId?: string | undefined;
      status?: string | undefined;
      limit?: number | undefined;
      cursor?: string | undefined;
    } = {},
  ): Promise<RunList> {
    const body = await this.http.json("GET", "/v1/runs", {
      query: { workflow_id: options.workflowId, status: options.status, limit: options.limit, cursor: options.cursor },
    });
    return RunList.fromJson(body);
  }

  /** Every run, newest first, following the pages. */
  async *iterRuns(
    options: { workflowId?: string | undefined; status?: string | undefined; pageSize?: number | undefined } = {},
  ): AsyncGenerator<Run, void, undefined> {
    let cursor: string | undefined;
    for (;;) {
      const page = await this.listRuns({
        workflowId: options.workflowId,
        status: options.status,
        limit: options.pageSize,
        cursor,
      });
      yield* page.runs;
      if (!page.nextCursor || page.runs.length === 0) return;
      cursor = page.nextCursor;
    }
  }

  /** Adds documents to a collection (made if new); a stored id is replaced, others get
   * `doc-N`. */
  async addDocuments(collection: string, documents: readonly Document[]): Promise<CollectionInfo> {
    const body = await this.http.json("POST", `/v1/collections/${segment(collection, "a collection name")}/documents`, {
      json: documentsBody(documents),
    });
    return CollectionInfo.fromJson(body);
  }

  /** The ranked search a `retrieval` node makes (BM25), best first. */
  async search(collection: string, query: string, options: { topK?: number | undefined } = {}): Promise<SearchHit[]> {
    const body = await this.http.json("GET", `/v1/collections/${segment(collection, "a collection name")}/search`, {
      query: { q: query, top_k: options.topK ?? 5 },
    });
    return listOf(body, "results").map((h) => SearchHit.fromJson(h));
  }

  async listCollections(): Promise<CollectionInfo[]> {
    return listOf(await this.http.json("GET", "/v1/collections"), "collections").map((c) => CollectionInfo.fromJson(c));
  }

  /** Deletes the collection and its documents. */
  async deleteCollection(name: string): Promise<void> {
    await this.http.request("DELETE", `/v1/collections/${segment(name, "a collection name")}`);
  }
}

/** A definition as the API takes it: an object as JSON, a string (YAML or JSON) as is. */
export function definitionJson(definition: Definition): Definition {
  if (typeof definition === "string" || isObject(definition)) return definition;
  throw new TypeError(`a workflow definition must be an object or a string of YAML/JSON, not ${typeName(definition)}`);
}

export function documentsBody(documents: readonly Document[]): JsonObject {
  if (!Array.isArray(documents)) {
    throw new TypeError("documents must be an array of documents (strings or {text, id?, metadata?})");
  }
  return {
    documents: documents.map((doc, i) => {
      if (typeof doc === "string") return { text: doc };
      if (isObject(doc)) return { ...doc };
      throw new TypeError(`document ${i}: must be a string or an object with \`text\`, not ${typeName(doc)}`);
    }),
  };
}

function listOf(body: JsonObject, key: string): JsonObject[] {
  const items = body[key];
  return Array.isArray(items) ? items.filter(isObject) : [];
}

async function readRunStream(res: Response, onEvent: RunEventCallback, signal: AbortSignal | undefined): Promise<Run> {
  if (!isEventStream(res) || res.body === null) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await res.text());
    } catch (err) {
      if (err instanceof SyntaxError) throw new ProtocolError(`HTTP ${res.status} reply is not JSON`, res.status);
      throw Http.readError(err, "the run's reply", signal);
    }
    if (!isObject(parsed)) throw new ProtocolError("the reply is not a JSON object", res.status);
    return Run.fromJson(parsed);
  }
  const events = readEvents(res.body);
  try {
    for (;;) {
      let next: IteratorResult<SSEEvent>;
      try {
        next = await events.next();
      } catch (err) {
        throw Http.readError(err, "the run's event stream", signal);
      }
      if (next.done) break;
      const { event: name, data } = next.value;
      const payload = eventJson(name, data);
      if (name === "error") {
        throw (
          errorFromBody(payload, null) ??
          new ProtocolError(`error event without warden's error shape: ${data.slice(0, 200)}`)
        );
      }
      await onEvent(name, payload);
      if (name === "run_finished") {
        if (!isObject(payload)) throw new ProtocolError("the run_finished event is not a JSON object");
        return Run.fromJson(payload);
      }
    }
  } finally {
    await events.return(undefined).catch(() => {});
  }
  throw new NetworkError("the event stream ended before the run finished");
}
