/** The workspace files of a session against a live development server: round trips of
 * text, every byte value and 10 MiB, streams in and out, listing, removal and the path
 * rules. */

import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import { createReadStream, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";

import { InvalidRequestError, NotFoundError, Sandbox, SessionNotFoundError } from "../src/index.js";
import { startDevServer, tempDir, type Server } from "./helpers/server.js";

let server: Server;
let sb: Sandbox;

before(async () => {
  server = await startDevServer();
  sb = await Sandbox.create({ baseUrl: server.url });
});
after(async () => {
  await sb?.close();
  await server?.stop();
});

const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, i) => i);

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** 10 MiB of bytes that are not all alike (so that a shifted or dropped chunk shows). */
function bigBlob(): Buffer {
  const b = Buffer.alloc(10 * 1024 * 1024);
  let x = 0x12345678;
  for (let i = 0; i < b.length; i += 4) {
    x = (x * 1103515245 + 12345) >>> 0;
    b.writeUInt32LE(x, i);
  }
  return b;
}

describe("files", () => {
  test("every byte value and unicode names round trip; the code sees them", async () => {
    const blob = Buffer.concat(Array.from({ length: 64 }, () => ALL_BYTES));
    const entry = await sb.files.write("data/blob.bin", blob);
    assert.deepEqual(
      [entry.path, entry.name, entry.type, entry.size],
      ["data/blob.bin", "blob.bin", "file", blob.length],
    );
    assert.ok(entry.isFile);
    await sb.files.write("/workspace/data/notes dir/héllo #1?.txt", "grüße\n");
    const back = await sb.files.read("data/blob.bin");
    assert.ok(Buffer.isBuffer(back));
    assert.ok(back.equals(blob));
    assert.equal(await sb.files.readText("data/notes dir/héllo #1?.txt"), "grüße\n");
    const ex = await sb.runCode(
      "data = open('/workspace/data/blob.bin', 'rb').read()\n" +
        "open('out.bin', 'wb').write(data[::-1])\n" +
        "sorted(set(data)) == list(range(256)), len(data)",
    );
    assert.equal(ex.text, `(True, ${blob.length})`);
    assert.ok((await sb.files.read("out.bin")).equals(Buffer.from(blob).reverse()));
    // Uint8Array and ArrayBuffer inputs too.
    await sb.files.write("bytes.bin", ALL_BYTES);
    assert.deepEqual([...(await sb.files.read("bytes.bin"))], [...ALL_BYTES]);
    await sb.files.write("ab.bin", ALL_BYTES.slice().buffer);
    assert.deepEqual([...(await sb.files.read("ab.bin"))], [...ALL_BYTES]);
  });

  test("list, exists and remove", async () => {
    await sb.files.write("tree/a.txt", "a");
    await sb.files.write("tree/sub/b.txt", "bb");
    const listed = new Map((await sb.files.list("tree")).map((e) => [e.name, e]));
    assert.deepEqual([...listed.keys()], ["a.txt", "sub"]);
    assert.ok(listed.get("sub")?.isDir);
    assert.equal(listed.get("a.txt")?.size, 1);
    assert.ok((await sb.files.list("/workspace/")).some((e) => e.name === "tree" && e.isDir));
    assert.equal(await sb.files.exists("tree/sub/b.txt"), true);
    assert.equal(await sb.files.exists("tree/sub"), true);
    assert.equal(await sb.files.exists("tree/nope.txt"), false);
    assert.equal(await sb.files.exists("nowhere/x"), false);
    await sb.files.remove("tree/sub");
    assert.deepEqual(
      (await sb.files.list("tree")).map((e) => e.name),
      ["a.txt"],
    );
    await sb.files.remove("tree");
    assert.equal(await sb.files.exists("tree"), false);
    await assert.rejects(sb.files.read("tree/a.txt"), (e: unknown) => {
      assert.ok(e instanceof NotFoundError);
      assert.equal(e.code, "FILE_NOT_FOUND");
      assert.equal(e.status, 404);
      return true;
    });
  });

  test("10 MiB in and out, whole and as streams", async () => {
    const blob = bigBlob();
    const digest = sha256(blob);
    const entry = await sb.files.write("big/whole.bin", blob);
    assert.equal(entry.size, blob.length);
    assert.equal(sha256(await sb.files.read("big/whole.bin")), digest);

    // In: a Node.js Readable of a file, a web ReadableStream, an async generator.
    const local = join(tempDir("files"), "big.bin");
    writeFileSync(local, blob);
    assert.equal((await sb.files.write("big/from-file.bin", createReadStream(local))).size, blob.length);
    const web = Readable.toWeb(Readable.from(chunks(blob, 65_536))) as ReadableStream<Uint8Array>;
    assert.equal((await sb.files.write("big/from-web.bin", web)).size, blob.length);
    async function* gen(): AsyncGenerator<Uint8Array | string> {
      yield "head:";
      for (const c of chunks(blob, 1_000_003)) yield c;
    }
    assert.equal((await sb.files.write("big/from-gen.bin", gen())).size, blob.length + 5);

    const ex = await sb.runCode(
      "import hashlib\n" +
        "[hashlib.sha256(open(f'big/{n}.bin', 'rb').read()).hexdigest() for n in ('whole', 'from-file', 'from-web')]",
    );
    assert.equal(ex.text, `['${digest}', '${digest}', '${digest}']`);

    // Out: a web ReadableStream, read chunk by chunk.
    const stream = await sb.files.readStream("big/from-gen.bin");
    const hash = createHash("sha256");
    let size = 0;
    let pieces = 0;
    for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
      hash.update(chunk);
      size += chunk.length;
      pieces++;
    }
    assert.equal(size, blob.length + 5);
    assert.ok(pieces > 1, "a 10 MiB download arrives in more than one chunk");
    assert.equal(hash.digest("hex"), sha256(Buffer.concat([Buffer.from("head:"), blob])));
    await assert.rejects(sb.files.readStream("big/none.bin"), (e: unknown) => {
      assert.ok(e instanceof NotFoundError);
      assert.equal(e.code, "FILE_NOT_FOUND");
      return true;
    });
    await sb.files.remove("big");
  });

  test("paths with .. are INVALID_PATH and never reach another route", async () => {
    for (const bad of ["../etc/passwd", "../..", "a/../../x", "./a", "a/./b", ".."]) {
      await assert.rejects(sb.files.read(bad), (e: unknown) => {
        assert.ok(e instanceof InvalidRequestError, `${bad}: ${String(e)}`);
        assert.equal(e.code, "INVALID_PATH");
        return true;
      });
      await assert.rejects(sb.files.remove(bad), InvalidRequestError);
      await assert.rejects(sb.files.write(bad, "x"), InvalidRequestError);
    }
    // The server's own refusals: an absolute path, an empty component.
    for (const bad of ["/etc/passwd", "a//b"]) {
      await assert.rejects(sb.files.read(bad), (e: unknown) => {
        assert.ok(e instanceof InvalidRequestError, `${bad}: ${String(e)}`);
        assert.equal(e.code, "INVALID_PATH");
        assert.equal(e.status, 400);
        return true;
      });
    }
    // The session is still there (no DELETE reached it).
    assert.equal((await sb.info()).state, "idle");
  });

  test("files of a closed session are SESSION_NOT_FOUND", async () => {
    const other = await Sandbox.create({ baseUrl: server.url });
    await other.files.write("x.txt", "x");
    await other.close();
    await assert.rejects(other.files.read("x.txt"), SessionNotFoundError);
    await assert.rejects(other.files.exists("x.txt"), SessionNotFoundError);
  });
});

function* chunks(b: Uint8Array, size: number): Generator<Uint8Array> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, Math.min(b.length, i + size));
}
