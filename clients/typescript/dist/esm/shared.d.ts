/**
 * Request bodies and paths, shared by sessions, one-shot runs and workflows. Nothing
 * here does I/O.
 *
 * @module
 */
import { Execution, type JsonObject } from "./models.js";
/** Inline file content: text (sent as UTF-8) or bytes (sent base64-encoded). */
export type FileData = string | Uint8Array;
/** Files placed in `/workspace` before the code runs: path → content. */
export type InlineFiles = Record<string, FileData> | Map<string, FileData>;
/** Inline files as the API takes them: text as a string, bytes as base64. */
export declare function encodeFiles(files: InlineFiles | undefined): Record<string, unknown> | undefined;
/** `network` and `egress` of a session or one-shot body: network egress through warden's
 * proxy, within the tenant's policy (`allowHosts` narrows its allowlist). */
export declare function networkFields(network: boolean | undefined, allowHosts: readonly string[] | undefined): JsonObject;
/** The object without its `undefined` values. */
export declare function defined(o: Record<string, unknown>): JsonObject;
export declare function checkCode(code: unknown): asserts code is string;
/** The body of a cell or a one-shot run. */
export declare function cellBody(code: string, options: {
    timeout?: number | undefined;
    packages?: readonly string[] | undefined;
    files?: InlineFiles | undefined;
    input?: unknown;
}): JsonObject;
/** A workspace path relative to `/workspace`, as the API takes it: `/workspace` in front
 * is dropped. Everything else (`..`, other absolute paths) is left for the server to
 * refuse with `INVALID_PATH`. */
export declare function relativePath(path: string): string;
/**
 * One URL path segment (an id as the caller gave it), percent-encoded. `.` and `..`
 * cannot be sent at all: the WHATWG URL parser that `fetch` uses resolves them, even
 * spelled `%2E` or `%2e%2E`, so `files/../..` would reach another route (the session
 * itself). They are refused here, with the code the server gives them.
 */
export declare function segment(value: string, what?: string): string;
/**
 * A workspace path for a URL: relative to `/workspace`, each component percent-encoded.
 * A `.` or `..` component is refused here with `INVALID_PATH`, as the server refuses it:
 * `fetch` would resolve it into another route before it left (see `segment`).
 */
export declare function workspacePath(path: string): string;
/** A model's tool call as a JSON object (an SDK object is sent as its JSON form). */
export declare function toolCallJson(toolCall: unknown): JsonObject;
/** The parsed JSON of an event's data, or `ProtocolError`. */
export declare function eventJson(name: string, data: string): unknown;
/** One decoded event of a cell's stream. */
export type CellEvent = {
    kind: "stdout";
    text: string;
} | {
    kind: "stderr";
    text: string;
} | {
    kind: "result";
    execution: Execution;
};
/** The meaning of one SSE event of a cell; an `error` event throws its `WardenError`.
 * Unknown events are skipped (`null`) so that newer servers can add some. */
export declare function decodeCellEvent(name: string, data: string): CellEvent | null;
export declare function isObject(v: unknown): v is JsonObject;
export declare function isEventStream(res: Response): boolean;
export declare function typeName(v: unknown): string;
