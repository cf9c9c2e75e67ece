/**
 * Workflows: stored, versioned graphs of nodes run on the server, their runs (waited
 * for, in the background, or streamed), and the document collections `retrieval` nodes
 * search (docs/WORKFLOWS.md).
 *
 * @module
 */
import { NetworkError, ProtocolError, errorFromBody } from "./errors.js";
import { Http } from "./http.js";
import { CollectionInfo, Run, RunList, SearchHit, WorkflowInfo } from "./models.js";
import { readEvents } from "./sse.js";
import { defined, eventJson, isEventStream, isObject, segment, typeName } from "./shared.js";
/** The tenant's workflows, runs and collections. */
export class Workflows {
    http;
    constructor(options = {}) {
        this.http = new Http(options);
    }
    /** @internal A `Workflows` over an existing connection (`sandbox.workflows`). */
    static over(http) {
        const wf = Object.create(Workflows.prototype);
        wf.http = http;
        return wf;
    }
    /** The server this talks to. */
    get baseUrl() {
        return this.http.baseUrl;
    }
    /** Stores `definition` as the next version of `id` (default: its `name`). */
    async save(definition, options = {}) {
        const body = defined({ definition: definitionJson(definition), id: options.id });
        return WorkflowInfo.fromJson(await this.http.json("POST", "/v1/workflows", { json: body }));
    }
    /** One stored version (the latest by default), with its `definition`. */
    async get(id, options = {}) {
        const body = await this.http.json("GET", `/v1/workflows/${segment(id, "a workflow id")}`, {
            query: { version: options.version },
        });
        return WorkflowInfo.fromJson(body);
    }
    /** The latest version of each workflow (without definitions). */
    async list() {
        return listOf(await this.http.json("GET", "/v1/workflows"), "workflows").map((w) => WorkflowInfo.fromJson(w));
    }
    /** Runs a stored workflow. A node's failure is the run's result (`status: "error"`),
     * not a thrown error. */
    async run(id, options = {}) {
        return this.start(`/v1/workflows/${segment(id, "a workflow id")}/runs`, undefined, options);
    }
    /** Runs a definition without storing it. */
    async runInline(definition, options = {}) {
        return this.start("/v1/runs", definitionJson(definition), options);
    }
    async start(path, definition, options) {
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
    async getRun(id) {
        return Run.fromJson(await this.http.json("GET", `/v1/runs/${segment(id, "a run id")}`));
    }
    /** One page of runs, newest first, without `state` and `trace`. */
    async listRuns(options = {}) {
        const body = await this.http.json("GET", "/v1/runs", {
            query: { workflow_id: options.workflowId, status: options.status, limit: options.limit, cursor: options.cursor },
        });
        return RunList.fromJson(body);
    }
    /** Every run, newest first, following the pages. */
    async *iterRuns(options = {}) {
        let cursor;
        for (;;) {
            const page = await this.listRuns({
                workflowId: options.workflowId,
                status: options.status,
                limit: options.pageSize,
                cursor,
            });
            yield* page.runs;
            if (!page.nextCursor || page.runs.length === 0)
                return;
            cursor = page.nextCursor;
        }
    }
    /** Adds documents to a collection (made if new); a stored id is replaced, others get
     * `doc-N`. */
    async addDocuments(collection, documents) {
        const body = await this.http.json("POST", `/v1/collections/${segment(collection, "a collection name")}/documents`, {
            json: documentsBody(documents),
        });
        return CollectionInfo.fromJson(body);
    }
    /** The ranked search a `retrieval` node makes (BM25), best first. */
    async search(collection, query, options = {}) {
        const body = await this.http.json("GET", `/v1/collections/${segment(collection, "a collection name")}/search`, {
            query: { q: query, top_k: options.topK ?? 5 },
        });
        return listOf(body, "results").map((h) => SearchHit.fromJson(h));
    }
    async listCollections() {
        return listOf(await this.http.json("GET", "/v1/collections"), "collections").map((c) => CollectionInfo.fromJson(c));
    }
    /** Deletes the collection and its documents. */
    async deleteCollection(name) {
        await this.http.request("DELETE", `/v1/collections/${segment(name, "a collection name")}`);
    }
}
/** A definition as the API takes it: an object as JSON, a string (YAML or JSON) as is. */
export function definitionJson(definition) {
    if (typeof definition === "string" || isObject(definition))
        return definition;
    throw new TypeError(`a workflow definition must be an object or a string of YAML/JSON, not ${typeName(definition)}`);
}
export function documentsBody(documents) {
    if (!Array.isArray(documents)) {
        throw new TypeError("documents must be an array of documents (strings or {text, id?, metadata?})");
    }
    return {
        documents: documents.map((doc, i) => {
            if (typeof doc === "string")
                return { text: doc };
            if (isObject(doc))
                return { ...doc };
            throw new TypeError(`document ${i}: must be a string or an object with \`text\`, not ${typeName(doc)}`);
        }),
    };
}
function listOf(body, key) {
    const items = body[key];
    return Array.isArray(items) ? items.filter(isObject) : [];
}
async function readRunStream(res, onEvent, signal) {
    if (!isEventStream(res) || res.body === null) {
        let parsed;
        try {
            parsed = JSON.parse(await res.text());
        }
        catch (err) {
            if (err instanceof SyntaxError)
                throw new ProtocolError(`HTTP ${res.status} reply is not JSON`, res.status);
            throw Http.readError(err, "the run's reply", signal);
        }
        if (!isObject(parsed))
            throw new ProtocolError("the reply is not a JSON object", res.status);
        return Run.fromJson(parsed);
    }
    const events = readEvents(res.body);
    try {
        for (;;) {
            let next;
            try {
                next = await events.next();
            }
            catch (err) {
                throw Http.readError(err, "the run's event stream", signal);
            }
            if (next.done)
                break;
            const { event: name, data } = next.value;
            const payload = eventJson(name, data);
            if (name === "error") {
                throw (errorFromBody(payload, null) ??
                    new ProtocolError(`error event without warden's error shape: ${data.slice(0, 200)}`));
            }
            await onEvent(name, payload);
            if (name === "run_finished") {
                if (!isObject(payload))
                    throw new ProtocolError("the run_finished event is not a JSON object");
                return Run.fromJson(payload);
            }
        }
    }
    finally {
        await events.return(undefined).catch(() => { });
    }
    throw new NetworkError("the event stream ended before the run finished");
}
