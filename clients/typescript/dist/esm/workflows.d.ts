/**
 * Workflows: stored, versioned graphs of nodes run on the server, their runs (waited
 * for, in the background, or streamed), and the document collections `retrieval` nodes
 * search (docs/WORKFLOWS.md).
 *
 * @module
 */
import { type ClientOptions } from "./http.js";
import { CollectionInfo, Run, RunList, SearchHit, WorkflowInfo, type JsonObject } from "./models.js";
/** A workflow definition: an object (sent as JSON), or YAML or JSON text (the server
 * parses it). */
export type Definition = JsonObject | string;
/** A document to index: its text, or `{text, id?, metadata?}`. */
export type Document = string | {
    text: string;
    id?: string | undefined;
    metadata?: JsonObject | null | undefined;
};
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
export declare class Workflows {
    private readonly http;
    constructor(options?: ClientOptions);
    /** The server this talks to. */
    get baseUrl(): string;
    /** Stores `definition` as the next version of `id` (default: its `name`). */
    save(definition: Definition, options?: {
        id?: string | undefined;
    }): Promise<WorkflowInfo>;
    /** One stored version (the latest by default), with its `definition`. */
    get(id: string, options?: {
        version?: number | undefined;
    }): Promise<WorkflowInfo>;
    /** The latest version of each workflow (without definitions). */
    list(): Promise<WorkflowInfo[]>;
    /** Runs a stored workflow. A node's failure is the run's result (`status: "error"`),
     * not a thrown error. */
    run(id: string, options?: RunOptions): Promise<Run>;
    /** Runs a definition without storing it. */
    runInline(definition: Definition, options?: Omit<RunOptions, "version">): Promise<Run>;
    private start;
    /** A run with its `state` and `trace`. */
    getRun(id: string): Promise<Run>;
    /** One page of runs, newest first, without `state` and `trace`. */
    listRuns(options?: {
        workflowId?: string | undefined;
        status?: string | undefined;
        limit?: number | undefined;
        cursor?: string | undefined;
    }): Promise<RunList>;
    /** Every run, newest first, following the pages. */
    iterRuns(options?: {
        workflowId?: string | undefined;
        status?: string | undefined;
        pageSize?: number | undefined;
    }): AsyncGenerator<Run, void, undefined>;
    /** Adds documents to a collection (made if new); a stored id is replaced, others get
     * `doc-N`. */
    addDocuments(collection: string, documents: readonly Document[]): Promise<CollectionInfo>;
    /** The ranked search a `retrieval` node makes (BM25), best first. */
    search(collection: string, query: string, options?: {
        topK?: number | undefined;
    }): Promise<SearchHit[]>;
    listCollections(): Promise<CollectionInfo[]>;
    /** Deletes the collection and its documents. */
    deleteCollection(name: string): Promise<void>;
}
/** A definition as the API takes it: an object as JSON, a string (YAML or JSON) as is. */
export declare function definitionJson(definition: Definition): Definition;
export declare function documentsBody(documents: readonly Document[]): JsonObject;
