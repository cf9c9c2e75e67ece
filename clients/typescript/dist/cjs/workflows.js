"use strict";
/**
 * Workflows: stored, versioned graphs of nodes run on the server, their runs (waited
 * for, in the background, or streamed), and the document collections `retrieval` nodes
 * search (docs/WORKFLOWS.md).
 *
 * @module
 */
Object.defineProperty(exports, "__esModule", { value: true });
exports.Workflows = void 0;
exports.definitionJson = definitionJson;
exports.documentsBody = documentsBody;
const errors_js_1 = require("./errors.js");
const http_js_1 = require("./http.js");
const models_js_1 = require("./models.js");
const sse_js_1 = require("./sse.js");
const shared_js_1 = require("./shared.js");
/** The tenant's workflows, runs and collections. */
class Workflows {
    http;
    constructor(options = {}) {
        this.http = new http_js_1.Http(options);
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
        const body = (0, shared_js_1.defined)({ definition: definitionJson(definition), id: options.id });
        return models_js_1.WorkflowInfo.fromJson(await this.http.json("POST", "/v1/workflows", { json: body }));
    }
    /** One stored version (the latest by default), with its `definition`. */
    async get(id, options = {}) {
        const body = await this.http.json("GET", `/v1/workflows/${(0, shared_js_1.segment)(id, "a workflow id")}`, {
            query: { version: options.version },
        });
        return models_js_1.WorkflowInfo.fromJson(body);
    }
    /** The latest version of each workflow (without definitions). */
    async list() {
        return listOf(await this.http.json("GET", "/v1/workflows"), "workflows").map((w) => models_js_1.WorkflowInfo.fromJson(w));
    }
    /** Runs a stored workflow. A node's failure is the run's result (`status: "error"`),
     * not a thrown error. */
    async run(id, options = {}) {
        return this.start(`/v1/workflows/${(0, shared_js_1.segment)(id, "a workflow id")}/runs`, undefined, options);
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
        const body = (0, shared_js_1.defined)({
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
            return models_js_1.Run.fromJson(await this.http.json("POST", path, { json: body, runsCode: wait, signal: options.signal }));
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
        return models_js_1.Run.fromJson(await this.http.json("GET", `/v1/runs/${(0, shared_js_1.segment)(id, "a run id")}`));
    }
    /** One page of runs, newest first, without `state` and `trace`. */
    async listRuns(options = {}) {
        const body = await this.http.json("GET", "/v1/runs", {
            query: { workflow_id: options.workflowId, status: options.status, limit: options.limit, cursor: options.cursor },
        });
        return models_js_1.RunList.fromJson(body);
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
        const body = await this.http.json("POST", `/v1/collections/${(0, shared_js_1.segment)(collection, "a collection name")}/documents`, {
            json: documentsBody(documents),
        });
        return models_js_1.CollectionInfo.fromJson(body);
    }
    /** The ranked search a `retrieval` node makes (BM25), best first. */
    async search(collection, query, options = {}) {
        const body = await this.http.json("GET", `/v1/collections/${(0, shared_js_1.segment)(collection, "a collection name")}/search`, {
            query: { q: query, top_k: options.topK ?? 5 },
        });
        return listOf(body, "results").map((h) => models_js_1.SearchHit.fromJson(h));
    }
    async listCollections() {
        return listOf(await this.http.json("GET", "/v1/collections"), "collections").map((c) => models_js_1.CollectionInfo.fromJson(c));
    }
    /** Deletes the collection and its documents. */
    async deleteCollection(name) {
        await this.http.request("DELETE", `/v1/collections/${(0, shared_js_1.segment)(name, "a collection name")}`);
    }
}
exports.Workflows = Workflows;
/** A definition as the API takes it: an object as JSON, a string (YAML or JSON) as is. */
function definitionJson(definition) {
    if (typeof definition === "string" || (0, shared_js_1.isObject)(definition))
        return definition;
    throw new TypeError(`a workflow definition must be an object or a string of YAML/JSON, not ${(0, shared_js_1.typeName)(definition)}`);
}
function documentsBody(documents) {
    if (!Array.isArray(documents)) {
        throw new TypeError("documents must be an array of documents (strings or {text, id?, metadata?})");
    }
    return {
        documents: documents.map((doc, i) => {
            if (typeof doc === "string")
                return { text: doc };
            if ((0, shared_js_1.isObject)(doc))
                return { ...doc };
            throw new TypeError(`document ${i}: must be a string or an object with \`text\`, not ${(0, shared_js_1.typeName)(doc)}`);
        }),
    };
}
function listOf(body, key) {
    const items = body[key];
    return Array.isArray(items) ? items.filter(shared_js_1.isObject) : [];
}
async function readRunStream(res, onEvent, signal) {
    if (!(0, shared_js_1.isEventStream)(res) || res.body === null) {
        let parsed;
        try {
            parsed = JSON.parse(await res.text());
        }
        catch (err) {
            if (err instanceof SyntaxError)
                throw new errors_js_1.ProtocolError(`HTTP ${res.status} reply is not JSON`, res.status);
            throw http_js_1.Http.readError(err, "the run's reply", signal);
        }
        if (!(0, shared_js_1.isObject)(parsed))
            throw new errors_js_1.ProtocolError("the reply is not a JSON object", res.status);
        return models_js_1.Run.fromJson(parsed);
    }
    const events = (0, sse_js_1.readEvents)(res.body);
    try {
        for (;;) {
            let next;
            try {
                next = await events.next();
            }
            catch (err) {
                throw http_js_1.Http.readError(err, "the run's event stream", signal);
            }
            if (next.done)
                break;
            const { event: name, data } = next.value;
            const payload = (0, shared_js_1.eventJson)(name, data);
            if (name === "error") {
                throw ((0, errors_js_1.errorFromBody)(payload, null) ??
                    new errors_js_1.ProtocolError(`error event without warden's error shape: ${data.slice(0, 200)}`));
            }
            await onEvent(name, payload);
            if (name === "run_finished") {
                if (!(0, shared_js_1.isObject)(payload))
                    throw new errors_js_1.ProtocolError("the run_finished event is not a JSON object");
                return models_js_1.Run.fromJson(payload);
            }
        }
    }
    finally {
        await events.return(undefined).catch(() => { });
    }
    throw new errors_js_1.NetworkError("the event stream ended before the run finished");
}
