// Workflows: the stored workflows and their versions, the graph of a definition, runs
// streamed as Server-Sent Events (each node coloured as it goes), each node's trace, and
// saving a definition pasted as JSON or YAML.

import { h, field, select, button, fmtTime, fmtMs, pretty } from '../dom.js';
import { get, post, stream, withQuery } from '../api.js';
import { errorBox, table, statusBadge } from '../render.js';
import { workflowGraph } from '../graph.js';

export function workflowsPage(main, [workflowId, runId], query) {
  if (!workflowId) return listView(main);
  return detailView(main, workflowId, runId, query);
}

function listView(main) {
  const listBox = h('div', { testid: 'workflows-list' });
  main.append(h('div.page-head', h('h1', 'Workflows')), listBox, saveForm());
  (async () => {
    try {
      const { workflows } = await get('/v1/workflows');
      workflows.sort((a, b) => b.created_at - a.created_at);
      listBox.replaceChildren(
        table(
          [
            { title: 'Workflow', cell: (w) => h('a', { href: `#/workflows/${encodeURIComponent(w.id)}`, testid: `workflow-${w.id}` }, h('code', w.id)) },
            { title: 'Name', cell: (w) => w.name },
            { title: 'Latest version', cell: (w) => String(w.version) },
            { title: 'Saved', cell: (w) => fmtTime(w.created_at) },
          ],
          workflows,
          { testid: 'workflows-table', empty: 'No stored workflows yet. Save one below.' },
        ),
      );
    } catch (err) {
      listBox.replaceChildren(errorBox(err));
    }
  })();
}

function saveForm() {
  const text = h('textarea.json-input.tall', {
    rows: '14',
    testid: 'workflow-definition',
    spellcheck: 'false',
    placeholder: 'name: my_flow\nnodes:\n  - {id: start, type: start}\n  - {id: end, type: end}\nedges:\n  - {source: start, target: end}',
  });
  const id = h('input', { type: 'text', testid: 'workflow-id', placeholder: "default: the definition's name", autocomplete: 'off' });
  const fileInput = h('input', { type: 'file', accept: '.json,.yaml,.yml,application/json,text/yaml', testid: 'workflow-file' });
  fileInput.addEventListener('change', async () => {
    const f = fileInput.files && fileInput.files[0];
    if (f) text.value = await f.text();
  });
  const status = h('div.form-status', { 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', testid: 'save-workflow' }, 'Save workflow');
  return h(
    'form.card',
    {
      'aria-labelledby': 'save-wf-title',
      on: {
        submit: async (e) => {
          e.preventDefault();
          status.replaceChildren();
          const src = text.value.trim();
          if (!src) return;
          // JSON is sent as an object; anything else as text, which the server reads as YAML.
          let definition = src;
          try {
            const parsed = JSON.parse(src);
            if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) definition = parsed;
          } catch {
            /* YAML */
          }
          const body = { definition };
          if (id.value.trim()) body.id = id.value.trim();
          submit.disabled = true;
          try {
            const w = await post('/v1/workflows', body);
            status.append(h('div.ok', { testid: 'workflow-saved' }, `Saved ${w.id} version ${w.version}.`));
            location.hash = `#/workflows/${encodeURIComponent(w.id)}`;
          } catch (err) {
            status.append(errorBox(err));
          } finally {
            submit.disabled = false;
          }
        },
      },
    },
    h('h2#save-wf-title', 'Save a workflow'),
    h('p.muted', 'Paste a definition as JSON or YAML (docs/WORKFLOWS.md), or load a file. Saving stores the next version of its id.'),
    field('Definition', text),
    h('div.row', field('Id', id), field('Or load a file', fileInput)),
    submit,
    status,
  );
}

function detailView(main, workflowId, initialRunId, query) {
  const enc = encodeURIComponent(workflowId);
  let wf = null;
  let graph = null;
  let trace = [];
  let selected = null;
  let disposed = false;
  const aborter = new AbortController();

  const head = h('div.page-head', h('div', h('a.back', { href: '#/workflows' }, '← Workflows'), h('h1', { testid: 'workflow-title' }, 'Workflow ', h('code', workflowId))));
  const status = h('div.form-status', { 'aria-live': 'polite' });
  const versionSel = select([], { testid: 'workflow-version', id: 'workflow-version' });
  const graphBox = h('div.graph-box', { testid: 'graph-box' });
  const defView = h('pre.code-view', { testid: 'workflow-json' });
  const input = h('textarea.json-input', { rows: '6', testid: 'run-input', spellcheck: 'false', 'aria-label': 'Run input (JSON)' });
  const runBtn = h('button', { type: 'submit', testid: 'run-workflow' }, 'Run');
  const runStatus = h('div.run-status', { testid: 'run-status', 'aria-live': 'polite' });
  const nodeBox = h('div.node-detail', { testid: 'node-detail' }, h('p.muted', 'Select a node to see its configuration and trace.'));
  const traceBox = h('div', { testid: 'trace' });
  const eventsLog = h('ol.events-log', { testid: 'events-log' });
  const runsBox = h('div', { testid: 'runs-list' });

  const runForm = h(
    'form.card',
    { 'aria-labelledby': 'run-wf-title', on: { submit: (e) => (e.preventDefault(), startRun()) } },
    h('h2#run-wf-title', 'Run'),
    field('Input (JSON)', input),
    runBtn,
    runStatus,
  );

  main.append(
    head,
    status,
    h(
      'div.workflow-layout',
      h(
        'section.card.graph-card',
        { 'aria-labelledby': 'graph-title' },
        h('div.panel-head', h('h2#graph-title', 'Graph'), h('label.inline', { for: 'workflow-version' }, 'Version ', versionSel)),
        h('div.legend', ['idle', 'running', 'retrying', 'ok', 'error'].map((st) => h('span.legend-item', h('span.legend-swatch', { class: `st-${st}` }), st))),
        graphBox,
        h('details', h('summary', 'Definition (stored, normalized JSON)'), defView),
      ),
      h('div.side', runForm, h('section.card', { 'aria-labelledby': 'node-title' }, h('h2#node-title', 'Node'), nodeBox)),
    ),
    h('section.card', { 'aria-labelledby': 'trace-title' }, h('h2#trace-title', 'Trace'), traceBox, h('details', h('summary', 'Events'), eventsLog)),
    h('section.card', { 'aria-labelledby': 'runs-title' }, h('h2#runs-title', 'Recent runs'), runsBox),
  );

  function selectNode(id) {
    selected = id;
    graph?.select(id);
    const node = (wf?.definition?.nodes || []).find((n) => n.id === id);
    const entries = trace.filter((t) => t.node === id);
    nodeBox.replaceChildren(
      h('h3', h('code', id), ' ', h('span.muted', node?.type || '')),
      node?.config ? h('details', h('summary', 'config'), h('pre.code-view', pretty(node.config))) : '',
      ...(entries.length
        ? entries.map((t, i) => traceEntryView(t, entries.length > 1 ? i + 1 : null))
        : [h('p.muted', { testid: 'node-not-run' }, trace.length ? 'Not run in this run.' : 'No run shown yet.')]),
    );
  }

  function renderTrace() {
    traceBox.replaceChildren(
      table(
        [
          { title: '#', cell: (t) => String(t._step) },
          { title: 'Node', cell: (t) => h('a', { href: '#', on: { click: (e) => (e.preventDefault(), selectNode(t.node)) } }, h('code', t.node)) },
          { title: 'Type', cell: (t) => t.type },
          { title: 'Status', cell: (t) => statusBadge(t.status) },
          { title: 'Duration', cell: (t) => fmtMs(t.duration_ms) },
          { title: 'Attempts', cell: (t) => String(t.attempts ?? '') },
          { title: 'Iteration', cell: (t) => (t.iteration === null || t.iteration === undefined ? '' : String(t.iteration)) },
          { title: 'Next', cell: (t) => (t.next ? h('code', t.next) : '') },
          { title: 'Error', cell: (t) => (t.error ? h('span.error-inline', `${t.error.code}: ${t.error.message}`) : '') },
        ],
        trace.map((t, i) => ({ ...t, _step: i + 1 })),
        { testid: 'trace-table', empty: 'No run yet.', rowProps: (t) => ({ dataset: { node: t.node, status: t.status } }) },
      ),
    );
    if (selected) selectNode(selected);
  }

  function applyEntry(entry) {
    trace.push(entry);
    const n = trace.filter((t) => t.node === entry.node).length;
    graph?.setStatus(entry.node, entry.status === 'ok' ? 'ok' : 'error', n > 1 ? `×${n}` : '');
    if (entry.next) graph?.markTaken(entry.node, entry.next);
  }

  function showRun(run) {
    const out = [h('div.run-line', statusBadge(run.status), ' ', h('code', { testid: 'run-id' }, run.id), h('span.muted', ` ${run.steps} steps · started ${fmtTime(run.started_at)}`))];
    if (run.error) out.push(errorBox({ code: run.error.code, message: `node ${run.error.node}: ${run.error.message}` }, run.error.traceback ? h('pre.traceback-text', run.error.traceback) : null));
    if (run.output !== null && run.output !== undefined) out.push(h('div', h('span.field-label', 'Output'), h('pre.code-view', { testid: 'run-output' }, pretty(run.output))));
    runStatus.replaceChildren(...out);
    runStatus.dataset.status = run.status;
  }

  async function loadRun(id) {
    try {
      const run = await get(`/v1/runs/${encodeURIComponent(id)}`);
      if (run.workflow_version && wf && run.workflow_version !== wf.version) await loadVersion(run.workflow_version);
      graph?.reset();
      trace = [];
      for (const t of run.trace || []) applyEntry(t);
      renderTrace();
      showRun(run);
      input.value = pretty(run.input ?? {});
    } catch (err) {
      status.replaceChildren(errorBox(err));
    }
  }

  async function startRun() {
    let inputValue;
    try {
      inputValue = input.value.trim() ? JSON.parse(input.value) : {};
    } catch (err) {
      runStatus.replaceChildren(errorBox({ code: 'INVALID_JSON', message: `the input is not JSON: ${err.message}` }));
      return;
    }
    runBtn.disabled = true;
    graph?.reset();
    trace = [];
    renderTrace();
    eventsLog.replaceChildren();
    runStatus.replaceChildren(h('span.muted', 'Running…'));
    runStatus.dataset.status = 'running';
    const body = { input: inputValue };
    if (wf) body.version = wf.version;
    let finished = null;
    try {
      for await (const ev of stream(`/v1/workflows/${enc}/runs`, body, { signal: aborter.signal })) {
        if (disposed) return;
        const d = ev.data || {};
        eventsLog.append(h('li', h('code', ev.event), ' ', eventSummary(ev.event, d)));
        if (ev.event === 'run_started') {
          runStatus.replaceChildren(h('span.muted', 'Running '), h('code', { testid: 'run-id' }, d.id), '…');
        } else if (ev.event === 'node_started') {
          graph?.setStatus(d.node, 'running');
        } else if (ev.event === 'node_retrying') {
          graph?.setStatus(d.node, 'retrying', `retry ${d.attempt}`);
        } else if (ev.event === 'node_finished') {
          applyEntry(d.entry);
          renderTrace();
        } else if (ev.event === 'run_finished') {
          finished = d;
        } else if (ev.event === 'error') {
          runStatus.replaceChildren(errorBox(d.error || d));
        }
      }
      if (finished) {
        showRun(finished);
        history.replaceState(null, '', `#/workflows/${enc}/runs/${encodeURIComponent(finished.id)}`);
        refreshRuns();
      }
    } catch (err) {
      if (disposed) return;
      runStatus.replaceChildren(errorBox(err));
      delete runStatus.dataset.status;
    } finally {
      runBtn.disabled = false;
    }
  }

  async function refreshRuns() {
    try {
      const { runs } = await get(withQuery('/v1/runs', { workflow_id: workflowId, limit: 10 }));
      runsBox.replaceChildren(
        table(
          [
            { title: 'Run', cell: (r) => h('a', { href: '#', testid: `open-run-${r.id}`, on: { click: (e) => (e.preventDefault(), history.replaceState(null, '', `#/workflows/${enc}/runs/${encodeURIComponent(r.id)}`), loadRun(r.id)) } }, h('code', r.id)) },
            { title: 'Version', cell: (r) => String(r.workflow_version ?? '') },
            { title: 'Status', cell: (r) => statusBadge(r.status) },
            { title: 'Steps', cell: (r) => String(r.steps) },
            { title: 'Started', cell: (r) => fmtTime(r.started_at) },
            { title: 'Error', cell: (r) => (r.error ? `${r.error.code} at ${r.error.node}` : '') },
          ],
          runs || [],
          { testid: 'runs-table', empty: 'No runs yet.' },
        ),
      );
    } catch (err) {
      runsBox.replaceChildren(errorBox(err));
    }
  }

  async function loadVersion(version) {
    try {
      wf = await get(withQuery(`/v1/workflows/${enc}`, { version }));
    } catch (err) {
      status.replaceChildren(errorBox(err));
      return;
    }
    versionSel.value = String(wf.version);
    defView.textContent = pretty(wf.definition);
    graph = workflowGraph(wf.definition || { nodes: [], edges: [] }, { onSelect: selectNode });
    graphBox.replaceChildren(graph.el);
    if (!input.value.trim()) {
      const o = {};
      for (const name of wf.definition?.inputs || []) o[name] = '';
      input.value = pretty(o);
    }
  }

  (async () => {
    let latest = null;
    try {
      latest = await get(`/v1/workflows/${enc}`);
    } catch (err) {
      status.replaceChildren(errorBox(err));
      return;
    }
    const opts = [];
    for (let v = latest.version; v >= 1; v--) opts.push([String(v), v === latest.version ? `${v} (latest)` : String(v)]);
    versionSel.replaceChildren(...opts.map(([v, t]) => h('option', { value: v }, t)));
    versionSel.addEventListener('change', () => {
      trace = [];
      renderTrace();
      loadVersion(Number(versionSel.value));
    });
    const want = Number(query.get('version'));
    if (want && want !== latest.version) await loadVersion(want);
    else {
      wf = latest;
      await loadVersion(latest.version);
    }
    renderTrace();
    refreshRuns();
    if (initialRunId) loadRun(initialRunId);
  })();

  return () => {
    disposed = true;
    aborter.abort();
  };
}

function eventSummary(name, d) {
  switch (name) {
    case 'run_started':
      return `run ${d.id}`;
    case 'node_started':
      return `${d.node} (${d.type}), step ${d.step}`;
    case 'node_retrying':
      return `${d.node}: attempt ${d.attempt} in ${d.wait_ms} ms — ${d.error?.code || ''} ${d.error?.message || ''}`;
    case 'node_finished':
      return `${d.entry?.node}: ${d.entry?.status}${d.entry?.next ? ` → ${d.entry.next}` : ''}`;
    case 'run_finished':
      return `${d.status}, ${d.steps} steps`;
    case 'error':
      return `${d.error?.code}: ${d.error?.message}`;
    default:
      return '';
  }
}

function traceEntryView(t, n) {
  return h(
    'div.trace-entry',
    { testid: 'trace-entry', dataset: { status: t.status } },
    h('div', n ? h('strong', `#${n} `) : null, statusBadge(t.status), ` ${fmtMs(t.duration_ms)}`, t.attempts > 1 ? ` · ${t.attempts} attempts` : '', t.iteration !== null && t.iteration !== undefined ? ` · iteration ${t.iteration}` : '', t.next ? ` → ${t.next}` : ''),
    t.inputs !== null && t.inputs !== undefined ? h('details', h('summary', 'inputs'), h('pre.code-view', pretty(t.inputs))) : null,
    t.outputs && Object.keys(t.outputs).length ? h('details', { open: true }, h('summary', 'outputs'), h('pre.code-view', { testid: 'trace-outputs' }, pretty(t.outputs))) : null,
    t.stdout ? h('details', { open: true }, h('summary', 'stdout'), h('pre.stream.stdout', t.stdout)) : null,
    t.error ? errorBox({ code: t.error.code, message: t.error.message }, t.error.traceback ? h('pre.traceback-text', t.error.traceback) : null) : null,
  );
}
