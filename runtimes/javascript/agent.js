// warden's JavaScript session agent: runs cells in one persistent global scope.
//
// Runs inside a sandbox, started as `node --expose-internals agent.js`. Requests arrive
// on fd 3 and replies leave on fd 4, each frame a 4-byte big-endian length followed by
// UTF-8 JSON (the same protocol as the Python agent). The cell's stdout and stderr are
// the sandbox's own streams; on Linux node writes to pipes synchronously, so a cell's
// output is in the pipe before its reply is written.
//
// Cells run as scripts in the main context, as node's REPL does: top-level `let`,
// `const`, `class` and `function` declarations persist from cell to cell. A cell that
// uses top-level `await` is rewritten by node's own REPL helper (declarations hoisted,
// the body wrapped in an async function). The value of a cell is its completion value
// (what the REPL would print), formatted with util.inspect.
'use strict';

const fs = require('fs');
const net = require('net');
const util = require('util');
const vm = require('vm');
const { createRequire } = require('module');

const REQUESTS = 3;
const REPLIES = 4;

let processTopLevelAwait = null;
try {
  // Available with --expose-internals; without it, top-level await is not supported.
  ({ processTopLevelAwait } = require('internal/repl/await'));
} catch (_) {
  processTopLevelAwait = null;
}

// A sandbox with network egress has /run/warden/egress.cjs, which points node's fetch at
// warden's proxy.
if (process.env.WARDEN_EGRESS) {
  require('/run/warden/egress.cjs');
}

// What the REPL offers at the top level: require() relative to /workspace.
globalThis.require = createRequire('/workspace/');

function writeFrame(obj) {
  const body = Buffer.from(JSON.stringify(obj), 'utf8');
  const frame = Buffer.alloc(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, 4);
  let off = 0;
  while (off < frame.length) {
    off += fs.writeSync(REPLIES, frame, off, frame.length - off);
  }
}

// Only the user's frames: node's internals and this agent are left out.
function userStack(stack) {
  return String(stack)
    .split('\n')
    .filter(
      (l) =>
        !l.includes(__filename) &&
        !/\(node:|at node:|agent\.js|^\s+at new Script|^\s+at Script\./.test(l),
    )
    .map((l) => l + '\n');
}

function errorInfo(err) {
  if (err instanceof Error || (err && typeof err === 'object' && 'stack' in err)) {
    return {
      name: err.name || (err.constructor && err.constructor.name) || 'Error',
      value: err.message === undefined ? '' : String(err.message),
      traceback: userStack(err.stack || ''),
    };
  }
  const text = util.inspect(err);
  return { name: 'Uncaught', value: text, traceback: ['Uncaught ' + text + '\n'] };
}

function bundle(value) {
  return { 'text/plain': util.inspect(value, { colors: false, depth: 4 }) };
}

// Interrupts: a synchronous cell is stopped by vm's breakOnSigint; an awaiting cell
// is rejected by this listener. Between cells SIGINT is ignored (the listener keeps
// node from exiting).
let interruptCell = null;
process.on('SIGINT', () => {
  if (interruptCell) interruptCell();
});

// Errors thrown later by a cell's callbacks must not end the session.
process.on('uncaughtException', (err) => {
  process.stderr.write(errorInfo(err).traceback.join('') || String(err) + '\n');
});
process.on('unhandledRejection', (err) => {
  process.stderr.write('Unhandled rejection: ' + (errorInfo(err).traceback.join('') || String(err)) + '\n');
});

let count = 0;
// The cell running now: if it calls process.exit(), its result is still sent (and the
// session ends, as a terminal would).
let current = null;
process.on('exit', (code) => {
  if (!current) return;
  const failed = code !== 0;
  writeFrame({
    type: 'result',
    id: current.id,
    execution_count: current.count,
    status: failed ? 'error' : 'ok',
    value: null,
    error: failed ? { name: 'ExitStatus', value: 'exit status ' + code, traceback: [] } : null,
    outputs: [],
  });
});

function compile(code, filename) {
  try {
    return { script: new vm.Script(code, { filename }), wrapped: false };
  } catch (err) {
    if (!(err instanceof SyntaxError) || !processTopLevelAwait) throw err;
    let rewritten = null;
    try {
      rewritten = processTopLevelAwait(code);
    } catch (_) {
      // Not valid with top-level await either: report the first error.
    }
    if (rewritten === null) throw err;
    return { script: new vm.Script(rewritten, { filename }), wrapped: true };
  }
}

const RESULT_LIMIT = 16 << 20;
let resultScript = null;

// The variable `result` (a global, or a top-level `let`/`const` of a cell) as JSON; what
// JSON cannot encode becomes its String; an error when it is too large to send back.
function jsonResult() {
  let value;
  try {
    resultScript ??= new vm.Script("typeof result === 'undefined' ? undefined : result");
    value = resultScript.runInThisContext();
  } catch (_) {
    value = undefined;
  }
  let text;
  try {
    text = JSON.stringify(value === undefined ? null : value, (_, v) =>
      typeof v === 'bigint' ? v.toString() : v,
    );
  } catch (_) {
    text = JSON.stringify(String(value));
  }
  if (text === undefined) text = 'null';
  if (text.length > RESULT_LIMIT) {
    const message = 'result is ' + text.length + ' characters of JSON, over the ' + RESULT_LIMIT + ' limit';
    return [null, { name: 'ResultTooLarge', value: message, traceback: [] }];
  }
  return [JSON.parse(text), null];
}

async function execute(request) {
  count += 1;
  const filename = '<cell-' + count + '>';
  const reply = { type: 'result', id: request.id, execution_count: count };
  let value;
  let error = null;
  current = { id: request.id, count };
  const wantResult = Boolean(request.result);
  if ('input' in request) {
    globalThis.input = request.input;
    // A result is this cell's own, not one an earlier cell left.
    try {
      delete globalThis.result;
    } catch (_) {
      // a `let result` of an earlier cell stays; the code may reassign it
    }
  }
  try {
    const { script, wrapped } = compile(String(request.code || ''), filename);
    const completion = script.runInThisContext({ breakOnSigint: true, displayErrors: false });
    if (wrapped) {
      const interrupted = new Promise((_, reject) => {
        interruptCell = () => {
          const e = new Error('Script execution interrupted.');
          e.name = 'KeyboardInterrupt';
          e.stack = 'KeyboardInterrupt: Script execution interrupted.';
          reject(e);
        };
      });
      const result = await Promise.race([completion, interrupted]);
      value = result === undefined ? undefined : result.value;
    } else {
      value = completion;
    }
  } catch (err) {
    if (err && err.code === 'ERR_SCRIPT_EXECUTION_INTERRUPTED') {
      error = {
        name: 'KeyboardInterrupt',
        value: 'Script execution interrupted.',
        traceback: ['KeyboardInterrupt: Script execution interrupted.\n'],
      };
    } else {
      error = errorInfo(err);
    }
  } finally {
    interruptCell = null;
    current = null;
  }
  if (wantResult) {
    const [result, failed] = jsonResult();
    reply.result = result;
    if (failed && !error) error = failed;
  }
  reply.status = error ? 'error' : 'ok';
  reply.value = error || value === undefined ? null : bundle(value);
  reply.error = error;
  reply.outputs = [];
  if (!error && value !== undefined) globalThis._ = value;
  return reply;
}

function main() {
  const input = new net.Socket({ fd: REQUESTS, readable: true, writable: false });
  let buffered = Buffer.alloc(0);
  let queue = Promise.resolve();
  input.on('data', (chunk) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 4) {
      const len = buffered.readUInt32BE(0);
      if (buffered.length < 4 + len) break;
      const body = buffered.subarray(4, 4 + len).toString('utf8');
      buffered = buffered.subarray(4 + len);
      let request;
      try {
        request = JSON.parse(body);
      } catch (e) {
        writeFrame({ type: 'error', id: null, message: 'bad request: ' + e.message });
        continue;
      }
      // One cell at a time, in order.
      queue = queue.then(async () => {
        if (request.op === 'execute') {
          writeFrame(await execute(request));
        } else if (request.op === 'ping') {
          writeFrame({ type: 'pong', id: request.id });
        } else {
          writeFrame({ type: 'error', id: request.id, message: 'unknown op ' + request.op });
        }
      });
    }
  });
  input.on('end', () => process.exit(0));
  writeFrame({ type: 'ready', pid: process.pid, node: process.version });
}

main();
