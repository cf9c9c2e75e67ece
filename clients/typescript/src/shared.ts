/**
 * Request bodies and paths, shared by sessions, one-shot runs and workflows. Nothing
 * here does I/O.
 *
 * @module
 */

import { InvalidRequestError, ProtocolError, errorFromBody } from "./errors.js";
import { Execution, type JsonObject } from "./models.js";

/** Inline file content: text (sent as UTF-8) or bytes (sent base64-encoded). */
export type FileData = string | Uint8Array;

/** Files placed in `/workspace` before the code runs: path → content. */
export type InlineFiles = Record<string, FileData> | Map<string, FileData>;

/** Inline files as the API takes them: text as a string, bytes as base64. */
export function encodeFiles(files: InlineFiles | undefined): Record<string, unknown> | undefined {
  if (files === undefined || files === null) return undefined;
  const entries = files instanceof Map ? [...files.entries()] : Object.entries(files);
  if (entries.length === 0) return undefined;
  const out: Record<string, unknown> = {};
  for (const [path, data] of entries) {
    if (typeof data === "string") out[path] = data;
    else if (data instanceof Uint8Array) {
      out[path] = {
        content: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("base64"),
        encoding: "base64",
      };
    } else
      throw new TypeError(
        `file ${JSON.stringify(path)}: content must be a string or a Uint8Array, not ${typeName(data)}`,
      );
  }
  return out;
}

/** `network` and `egress` of a session or one-shot body: network egress through warden's
 * proxy, within the tenant's policy (`allowHosts` narrows its allowlist). */
export function networkFields(network: boolean | undefined, allowHosts: readonly string[] | undefined): JsonObject {
  if (allowHosts !== undefined && !network) throw new TypeError("allowHosts needs network: true");
  const out: JsonObject = {};
  if (network) out["network"] = true;
  if (allowHosts !== undefined) {
    if (!Array.isArray(allowHosts)) throw new TypeError("allowHosts must be an array of host patterns");
    out["egress"] = { allow: [...allowHosts] };
  }
  return out;
}

/** The object without its `undefined` values. */
export function defined(o: Record<string, unknown>): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out;
}

export function checkCode(code: unknown): asserts code is string {
  if (typeof code !== "string") throw new TypeError(`code must be a string, not ${typeName(code)}`);
}

/** The body of a cell or a one-shot run. */
export function cellBody(
  code: string,
  options: {
    timeout?: number | undefined;
    packages?: readonly string[] | undefined;
    files?: InlineFiles | undefined;
    input?: unknown;
  },
): JsonObject {
  checkCode(code);
  return defined({
    code,
    timeout: options.timeout,
    packages: options.packages && options.packages.length > 0 ? [...options.packages] : undefined,
    files: encodeFiles(options.files),
    input: options.input,
  });
}

/** A workspace path relative to `/workspace`, as the API takes it: `/workspace` in front
 * is dropped. Everything else (`..`, other absolute paths) is left for the server to
 * refuse with `INVALID_PATH`. */
export function relativePath(path: string): string {
  if (typeof path !== "string") throw new TypeError(`a path must be a string, not ${typeName(path)}`);
  if (path === "/workspace") return "";
  if (path.startsWith("/workspace/")) return path.slice("/workspace/".length);
  return path;
}

/**
 * One URL path segment (an id as the caller gave it), percent-encoded. `.` and `..`
 * cannot be sent at all: the WHATWG URL parser that `fetch` uses resolves them, even
 * spelled `%2E` or `%2e%2E`, so `files/../..` would reach another route (the session
 * itself). They are refused here, with the code the server gives them.
 */
export function segment(value: string, what = "an id"): string {
  if (typeof value !== "string") throw new TypeError(`${what} must be a string, not ${typeName(value)}`);
  if (value === "." || value === "..") {
    throw new InvalidRequestError(
      "INVALID_REQUEST",
      `${what} cannot be ${JSON.stringify(value)} (refused by the client)`,
    );
  }
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * A workspace path for a URL: relative to `/workspace`, each component percent-encoded.
 * A `.` or `..` component is refused here with `INVALID_PATH`, as the server refuses it:
 * `fetch` would resolve it into another route before it left (see `segment`).
 */
export function workspacePath(path: string): string {
  const rel = relativePath(path);
  return rel
    .split("/")
    .map((part) => {
      if (part === "." || part === "..") {
        throw new InvalidRequestError(
          "INVALID_PATH",
          `invalid path ${JSON.stringify(rel)}: '${part}' is not accepted (refused by the client)`,
        );
      }
      return segment(part, "a path component");
    })
    .join("/");
}

/** A model's tool call as a JSON object (an SDK object is sent as its JSON form). */
export function toolCallJson(toolCall: unknown): JsonObject {
  if (typeof toolCall !== "object" || toolCall === null || Array.isArray(toolCall)) {
    throw new TypeError(`a tool call must be an object, not ${typeName(toolCall)}`);
  }
  const v: unknown = JSON.parse(JSON.stringify(toolCall));
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new TypeError("a tool call must serialize to a JSON object");
  return v as JsonObject;
}

/** The parsed JSON of an event's data, or `ProtocolError`. */
export function eventJson(name: string, data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    throw new ProtocolError(`event ${JSON.stringify(name)} does not carry JSON`);
  }
}

/** One decoded event of a cell's stream. */
export type CellEvent =
  { kind: "stdout"; text: string } | { kind: "stderr"; text: string } | { kind: "result"; execution: Execution };

/** The meaning of one SSE event of a cell; an `error` event throws its `WardenError`.
 * Unknown events are skipped (`null`) so that newer servers can add some. */
export function decodeCellEvent(name: string, data: string): CellEvent | null {
  if (name !== "stdout" && name !== "stderr" && name !== "result" && name !== "error") return null;
  const payload = eventJson(name, data);
  if (name === "stdout" || name === "stderr") {
    const text = isObject(payload) && typeof payload["text"] === "string" ? payload["text"] : "";
    return { kind: name, text };
  }
  if (name === "result") {
    if (!isObject(payload)) throw new ProtocolError("the result event is not a JSON object");
    return { kind: "result", execution: Execution.fromJson(payload) };
  }
  throw (
    errorFromBody(payload, null) ?? new ProtocolError(`error event without warden's error shape: ${data.slice(0, 200)}`)
  );
}

export function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function isEventStream(res: Response): boolean {
  return (res.headers.get("content-type") ?? "").includes("text/event-stream");
}

export function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return (v as object).constructor?.name ?? "an object";
  return typeof v;
}
