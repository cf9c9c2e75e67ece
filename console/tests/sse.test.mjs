// The console's Server-Sent Events parser (console/ui/assets/api.js), fed chunks split
// at awkward places. Runs in Node, no browser.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readEvents } from '../ui/assets/api.js';

async function parse(chunks) {
  const enc = new TextEncoder();
  const body = new ReadableStream({
    start(c) {
      for (const ch of chunks) c.enqueue(typeof ch === 'string' ? enc.encode(ch) : ch);
      c.close();
    },
  });
  const out = [];
  for await (const ev of readEvents(new Response(body))) out.push(ev);
  return out;
}

test('events split across chunks, CRLF and CR line ends, comments', async () => {
  const text = 'event: stdout\r\ndata: {"text":"a\\n"}\r\n\r\n: keep-alive\n\nevent: stderr\rdata: {"text":"b"}\r\revent: result\ndata: {"status":"ok"}\n\n';
  for (let cut = 1; cut < text.length; cut++) {
    const evs = await parse([text.slice(0, cut), text.slice(cut)]);
    assert.deepEqual(
      evs,
      [
        { event: 'stdout', data: { text: 'a\n' } },
        { event: 'stderr', data: { text: 'b' } },
        { event: 'result', data: { status: 'ok' } },
      ],
      `cut at ${cut}`,
    );
  }
});

test('a UTF-8 character split between chunks, multi-line data, no final blank line', async () => {
  const bytes = new TextEncoder().encode('event: stdout\ndata: {"text":"é€"}\n\ndata: line one\ndata: line two');
  const evs = await parse([bytes.slice(0, 25), bytes.slice(25, 27), bytes.slice(27)]);
  assert.deepEqual(evs, [
    { event: 'stdout', data: { text: 'é€' } },
    { event: 'message', data: 'line one\nline two' },
  ]);
});
