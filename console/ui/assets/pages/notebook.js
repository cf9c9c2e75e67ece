// A session as a notebook: cells with a code editor, Run (streamed over Server-Sent
// Events), Interrupt, Restart, outputs, tracebacks, the workspace's files, and export to
// .ipynb. Cells already run are loaded from the session's notebook.

import { h, button, clear, saveBlob, fmtAge } from '../dom.js';
import { api, get, post, del, stream } from '../api.js';
import { errorBox, cellResult, mimeBundle, tracebackView, statusBadge } from '../render.js';
import { codeEditor } from '../editor.js';
import { fileBrowser } from './files.js';

// A notebook just opened (Sessions → Open a notebook): the reply's replayed cells, kept
// in memory for the page that shows them.
const replays = new Map();
export function stashReplay(sessionId, notebook, cells, name) {
  replays.set(sessionId, { notebook, cells, name });
}

const joinText = (t) => (Array.isArray(t) ? t.join('') : t || '');

/** Sources of a notebook's code cells that a replay runs (non-empty code cells). */
function codeCells(nb) {
  return (nb?.cells || []).filter((c) => c.cell_type === 'code' && joinText(c.source).trim() !== '');
}

/** nbformat outputs → DOM (for cells loaded from the session's notebook). */
function notebookOutputs(outputs, code, count) {
  const box = h('div.cell-result', { testid: 'cell-result', dataset: { status: outputs.some((o) => o.output_type === 'error') ? 'error' : 'ok' } });
  for (const o of outputs || []) {
    if (o.output_type === 'stream') {
      box.append(h(`pre.stream.${o.name === 'stderr' ? 'stderr' : 'stdout'}`, { testid: o.name === 'stderr' ? 'stderr' : 'stdout' }, joinText(o.text)));
    } else if (o.output_type === 'display_data' || o.output_type === 'execute_result') {
      const data = {};
      for (const [k, v] of Object.entries(o.data || {})) data[k] = typeof v === 'string' || Array.isArray(v) ? joinText(v) : v;
      const el = mimeBundle(data);
      if (!el) continue;
      if (o.output_type === 'execute_result') box.append(h('div.value', { testid: 'value' }, h('span.prompt', `Out[${o.execution_count ?? count ?? ' '}]:`), el));
      else box.append(el);
    } else if (o.output_type === 'error') {
      const tb = (o.traceback || []).map((l) => (l.endsWith('\n') ? l : `${l}\n`));
      box.append(tracebackView({ name: o.ename, value: o.evalue, traceback: tb }, code, count));
    }
  }
  return box;
}

export function notebookPage(main, [sessionId]) {
  const enc = encodeURIComponent(sessionId);
  const base = `/v1/sessions/${enc}`;
  let session = null;
  let running = null; // the cell running now
  let language = 'python';
  const cells = [];
  let disposed = false;
  const aborter = new AbortController();

  const title = h('h1', { testid: 'session-title' }, 'Session ', h('code', sessionId));
  const info = h('div.session-info', { testid: 'session-info' });
  const pageStatus = h('div.form-status', { 'aria-live': 'polite', testid: 'session-status' });
  const cellsBox = h('div.cells', { testid: 'cells' });
  const timeoutInput = h('input', { type: 'number', min: '1', max: '600', step: '1', placeholder: '30', testid: 'cell-timeout', id: 'cell-timeout', class: 'narrow' });
  const files = fileBrowser(sessionId);

  const interruptBtn = button('Interrupt', { class: 'secondary', testid: 'interrupt', disabled: true, title: 'Send Ctrl-C to the running cell' }, interrupt);
  const restartBtn = button('Restart', { class: 'secondary', testid: 'restart', title: 'A fresh sandbox and interpreter: variables and /workspace files are lost' }, restart);
  const exportBtn = button('Export .ipynb', { class: 'secondary', testid: 'export-notebook' }, exportNotebook);
  const deleteBtn = button('Delete session', { class: 'danger', testid: 'delete-session' }, async () => {
    try {
      await del(base);
      location.hash = '#/sessions';
    } catch (err) {
      pageStatus.replaceChildren(errorBox(err));
    }
  });
  const addBtn = button('+ Add cell', { class: 'secondary', testid: 'add-cell' }, () => addCell('', { focus: true }));

  main.append(
    h('div.page-head', h('div', h('a.back', { href: '#/sessions' }, '← Sessions'), title, info), h('div.toolbar', interruptBtn, restartBtn, exportBtn, deleteBtn)),
    pageStatus,
    h(
      'div.notebook-layout',
      h(
        'section.notebook',
        { 'aria-label': 'Cells' },
        h('div.notebook-options', h('label.inline', { for: 'cell-timeout' }, 'Cell timeout (s) '), timeoutInput, h('span.muted.hint', 'Shift+Enter runs a cell and moves to the next; Ctrl+Enter runs it.')),
        cellsBox,
        addBtn,
      ),
      files.el,
    ),
  );

  function renderInfo() {
    if (!session) return;
    info.replaceChildren(
      h('span', { testid: 'session-language' }, session.language),
      ' · ',
      statusBadge(session.state),
      ' · ',
      h('span', `${session.execution_count} cells run`),
      ' · ',
      h('span.muted', `started ${fmtAge(session.created_at)} ago, idle limit ${Math.round(session.idle_ttl / 60)} min`),
    );
  }

  async function refreshSession() {
    try {
      session = await get(base);
      language = session.language;
      renderInfo();
    } catch (err) {
      pageStatus.replaceChildren(errorBox(err));
    }
  }

  function setRunning(cell) {
    running = cell;
    interruptBtn.disabled = !cell;
    for (const c of cells) {
      c.runBtn.disabled = Boolean(cell);
      c.stopBtn.hidden = c !== cell;
      c.el.classList.toggle('running', c === cell);
    }
    if (session) {
      session.state = cell ? 'busy' : 'idle';
      renderInfo();
    }
  }

  function addCell(code, { focus = false, after = null, result = null, nbOutputs = null, count = null, replayed = false } = {}) {
    const cell = { code, count };
    const prompt = h('span.prompt', { testid: 'cell-count' }, count ? `[${count}]:` : '[ ]:');
    const output = h('div.cell-output', { testid: 'cell-output', 'aria-live': 'polite' });
    const editor = codeEditor({
      value: code,
      language,
      label: 'Cell code',
      testid: 'cell-code',
      onRun: () => runCell(cell),
      onRunAndAdvance: () => {
        runCell(cell);
        const i = cells.indexOf(cell);
        if (i === cells.length - 1) addCell('', { focus: true });
        else cells[i + 1].editor.focus();
      },
    });
    cell.editor = editor;
    cell.prompt = prompt;
    cell.output = output;
    cell.runBtn = button('▶ Run', { class: 'small', testid: 'run-cell', title: 'Run (Shift+Enter)' }, () => runCell(cell));
    cell.stopBtn = button('■ Interrupt', { class: 'small secondary', testid: 'interrupt-cell', hidden: true }, interrupt);
    const removeBtn = button('Remove', { class: 'small secondary', testid: 'remove-cell', 'aria-label': 'Remove this cell from the page' }, () => {
      if (running === cell) return;
      cells.splice(cells.indexOf(cell), 1);
      cell.el.remove();
    });
    cell.el = h(
      'section.cell',
      { testid: replayed ? 'replayed-cell' : 'cell', 'aria-label': 'Cell' },
      h('div.cell-gutter', prompt),
      h('div.cell-body', editor.el, h('div.cell-toolbar', cell.runBtn, cell.stopBtn, removeBtn), output),
    );
    if (replayed) cell.el.classList.add('replayed');
    if (result) output.append(cellResult(result, { code }));
    if (nbOutputs) output.append(notebookOutputs(nbOutputs, code, count));
    if (after) {
      const i = cells.indexOf(after);
      cells.splice(i + 1, 0, cell);
      after.el.after(cell.el);
    } else {
      cells.push(cell);
      cellsBox.append(cell.el);
    }
    cell.runBtn.disabled = Boolean(running);
    if (focus) editor.focus();
    return cell;
  }

  async function runCell(cell) {
    if (running) {
      pageStatus.replaceChildren(errorBox({ code: 'SESSION_BUSY', message: 'a cell is running: wait for it, or interrupt it' }));
      return;
    }
    const code = cell.editor.value;
    cell.code = code;
    pageStatus.replaceChildren();
    clear(cell.output);
    cell.prompt.textContent = '[*]:';
    const live = h('div.live');
    let stdout = null;
    let stderr = null;
    cell.output.append(live);
    setRunning(cell);
    const body = { code };
    const t = Number(timeoutInput.value);
    if (timeoutInput.value && t > 0) body.timeout = t;
    let gotResult = false;
    try {
      for await (const ev of stream(`${base}/execute`, body, { signal: aborter.signal })) {
        if (disposed) break;
        if (ev.event === 'stdout' || ev.event === 'stderr') {
          const text = ev.data?.text ?? '';
          if (ev.event === 'stdout') {
            if (!stdout) live.append((stdout = h('pre.stream.stdout', { testid: 'stdout' })));
            stdout.append(text);
          } else {
            if (!stderr) live.append((stderr = h('pre.stream.stderr', { testid: 'stderr' })));
            stderr.append(text);
          }
        } else if (ev.event === 'result') {
          gotResult = true;
          const r = ev.data;
          cell.count = r.execution_count;
          cell.prompt.textContent = `[${r.execution_count}]:`;
          cell.output.replaceChildren(cellResult(r, { code }));
          if (session) session.execution_count = r.execution_count;
        } else if (ev.event === 'error') {
          gotResult = true;
          cell.prompt.textContent = '[!]:';
          cell.output.append(errorBox(ev.data?.error || ev.data));
        }
      }
      if (!gotResult && !disposed) {
        cell.prompt.textContent = '[!]:';
        cell.output.append(errorBox({ code: 'STREAM_ENDED', message: 'the stream ended without a result' }));
      }
    } catch (err) {
      if (disposed) return;
      cell.prompt.textContent = '[!]:';
      cell.output.append(errorBox(err));
    } finally {
      if (!disposed) {
        setRunning(null);
        refreshSession();
        files.refresh();
      }
    }
  }

  async function interrupt() {
    try {
      await post(`${base}/interrupt`);
      pageStatus.replaceChildren(h('div.muted', { testid: 'interrupt-sent' }, 'Interrupt sent.'));
    } catch (err) {
      pageStatus.replaceChildren(errorBox(err));
    }
  }

  async function restart() {
    restartBtn.disabled = true;
    try {
      session = await post(`${base}/restart`);
      for (const c of cells) {
        c.prompt.textContent = '[ ]:';
        c.el.classList.add('stale');
      }
      pageStatus.replaceChildren(h('div.ok', { testid: 'restarted' }, 'Restarted: a fresh sandbox and interpreter (variables and /workspace files are gone).'));
      renderInfo();
      files.refresh();
    } catch (err) {
      pageStatus.replaceChildren(errorBox(err));
    } finally {
      restartBtn.disabled = false;
    }
  }

  async function exportNotebook() {
    try {
      const res = await api('GET', `${base}/notebook`, { raw: true });
      saveBlob(new Blob([await res.arrayBuffer()], { type: 'application/x-ipynb+json' }), `${sessionId}.ipynb`);
    } catch (err) {
      pageStatus.replaceChildren(errorBox(err));
    }
  }

  async function load() {
    await refreshSession();
    if (!session) return;
    const replay = replays.get(sessionId);
    if (replay) {
      replays.delete(sessionId);
      const sources = codeCells(replay.notebook).map((c) => joinText(c.source));
      const ok = replay.cells.filter((c) => c.status === 'ok').length;
      pageStatus.replaceChildren(
        h('div.ok', { testid: 'replay-summary' }, `Opened ${replay.name}: replayed ${replay.cells.length} of ${sources.length} code cells (${ok} ok).`),
      );
      replay.cells.forEach((r, i) => addCell(sources[i] ?? '', { result: r, count: r.execution_count, replayed: true }));
    } else {
      try {
        const nb = await get(`${base}/notebook`);
        for (const c of nb.cells || []) {
          if (c.cell_type !== 'code') continue;
          addCell(joinText(c.source), { nbOutputs: c.outputs || [], count: c.execution_count });
        }
      } catch (err) {
        pageStatus.replaceChildren(errorBox(err));
      }
    }
    addCell('', { focus: true });
    cellsBox.dataset.loaded = 'true';
    files.refresh();
  }

  load();
  return () => {
    disposed = true;
    aborter.abort();
  };
}
