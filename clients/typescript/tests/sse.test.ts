/** The Server-Sent Events parser, without a server. */

import { strict as assert } from "node:assert";
import { describe, test } from "node:test";

import { SSEParser, readEvents, type SSEEvent } from "../src/index.js";

function parseAll(chunks: string[]): { event: string; data: string }[] {
  const p = new SSEParser();
  const out: SSEEvent[] = [];
  for (const c of chunks) out.push(...p.feed(c));
  out.push(...p.end());
  return out.map(({ event, data }) => ({ event, data }));
}

/** Every way of cutting `text` in two and in three. */
function splits(text: string): string[][] {
  const out: string[][] = [[text]];
  for (let i = 0; i <= text.length; i++) {
    out.push([text.slice(0, i), text.slice(i)]);
    for (let j = i; j <= text.length; j += 3) out.push([text.slice(0, i), text.slice(i, j), text.slice(j)]);
  }
  return out;
}

const STREAM =
  ": a comment, then a keep-alive\n" +
  ":\n" +
  "event: stdout\n" +
  'data: {"text":"first\\n"}\n' +
  "\n" +
  "event: stderr\r\n" +
  'data:{"text":"no space after the colon"}\r\n' +
  "\r\n" +
  "data: line one\r" +
  "data: line two\r" +
  "data\r" +
  "\r" +
  "event: result\n" +
  "id: 7\n" +
  "retry: 1500\n" +
  "unknown: field\n" +
  "data:  two leading spaces keep one\n" +
  "\n";

const EXPECTED = [
  { event: "stdout", data: '{"text":"first\\n"}' },
  { event: "stderr", data: '{"text":"no space after the colon"}' },
  { event: "message", data: "line one\nline two\n" },
  { event: "result", data: " two leading spaces keep one" },
];

describe("SSEParser", () => {
  test("fields, comments, multi-line data, LF, CR and CRLF, blank-line dispatch", () => {
    assert.deepEqual(parseAll([STREAM]), EXPECTED);
  });

  test("the same events whatever the chunk boundaries", () => {
    for (const chunks of splits(STREAM)) assert.deepEqual(parseAll(chunks), EXPECTED, JSON.stringify(chunks));
    // One character at a time.
    assert.deepEqual(parseAll([...STREAM]), EXPECTED);
  });

  test("a CRLF split between chunks is one line ending, not two", () => {
    // If the LF after a CR were taken as a blank line, the event would be dispatched
    // before its data line.
    assert.deepEqual(parseAll(["event: a\r", "\ndata: x\r", "\n\r", "\n"]), [{ event: "a", data: "x" }]);
    assert.deepEqual(parseAll(["data: x\r", "", "\n", "\r\n"]), [{ event: "message", data: "x" }]);
  });

  test("blank lines without data dispatch nothing and reset the event name", () => {
    assert.deepEqual(parseAll(["\n\n\nevent: lost\n\ndata: kept\n\n"]), [{ event: "message", data: "kept" }]);
    assert.deepEqual(parseAll(["data:\n\n"]), [{ event: "message", data: "" }]);
  });

  test("a stream cut before its blank line still gives its last event at the end", () => {
    const p = new SSEParser();
    assert.deepEqual(p.feed("event: result\ndata: {}"), []);
    assert.deepEqual(
      p.end().map((e) => [e.event, e.data]),
      [["result", "{}"]],
    );
    assert.deepEqual(p.end(), []);
  });

  test("a byte-order mark at the start is dropped; ids and retry are kept", () => {
    const p = new SSEParser();
    const events = p.feed("\ufeffid: 3\nretry: 250\ndata: x\n\ndata: y\n\n");
    assert.deepEqual(
      events.map((e) => [e.event, e.data, e.id]),
      [
        ["message", "x", "3"],
        ["message", "y", "3"],
      ],
    );
    assert.equal(p.retry, 250);
  });

  test("readEvents decodes UTF-8 split anywhere between byte chunks", async () => {
    const text = 'event: stdout\ndata: {"text":"grüße 😀"}\n\nevent: result\ndata: {}\n\n';
    const bytes = new TextEncoder().encode(text);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(bytes.slice(0, cut));
          for (let i = cut; i < bytes.length; i++) c.enqueue(bytes.slice(i, i + 1));
          c.close();
        },
      });
      const got: string[] = [];
      for await (const e of readEvents(body)) got.push(`${e.event}:${e.data}`);
      assert.deepEqual(got, ['stdout:{"text":"grüße 😀"}', "result:{}"], `cut at ${cut}`);
    }
  });
});
