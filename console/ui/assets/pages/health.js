// Health: the server's /healthz, its pools and templates, the limits in force
// (GET /v1/limits: the server's flags and the caller's policy), and warden doctor's
// isolation report (GET /v1/doctor, admin keys).

import { h, fmtBytes, fmtTime, button, pretty } from '../dom.js';
import { get, post, api } from '../api.js';
import { errorBox, table } from '../render.js';

const seconds = (v) => (v >= 3600 && v % 3600 === 0 ? `${v / 3600} h` : v >= 60 && v % 60 === 0 ? `${v / 60} min` : `${v} s`);

/** The server's limits, as rows of [label, value]. */
function serverRows(l) {
  const pools = Object.entries(l.pools || {}).map(([k, v]) => `${k} ${v}`).join(', ');
  const templatePools = Object.entries(l.template_pools || {}).map(([k, v]) => `${k} ${v}`).join(', ');
  return [
    ['Live sessions (--max-sessions)', String(l.max_sessions)],
    ['Cell / one-shot timeout', `${seconds(l.default_timeout_seconds)} default, ${seconds(l.max_timeout_seconds)} maximum`],
    ['Memory per sandbox', `${l.max_memory_mb} MiB maximum`],
    ['Workspace per sandbox', `${l.max_disk_mb} MiB maximum`],
    ['Session idle time (--idle-ttl)', `${seconds(l.default_idle_ttl_seconds)} default, ${seconds(l.max_idle_ttl_seconds)} maximum`],
    ['Session lifetime (--max-lifetime)', seconds(l.max_lifetime_seconds)],
    ['stdout / stderr kept per cell', `${fmtBytes(l.cell_output_bytes)} each`],
    ['Code size (--max-code-bytes)', fmtBytes(l.max_code_bytes)],
    ['Inline files per request', fmtBytes(l.max_inline_file_bytes)],
    ['Files returned inline by a one-shot', `up to ${fmtBytes(l.inline_result_file_bytes)} each`],
    ['Pools (ready sandboxes kept)', pools || 'none'],
    ['Template pools', templatePools || 'none'],
    ['Workflow runs', `${l.workflow_max_steps.toLocaleString('en')} steps, ${seconds(l.workflow_max_seconds)}`],
  ];
}

// Code of each risk level, to ask the caller's policy what it does with it.
const PROBES = [
  ['low', 'import os'],
  ['medium', 'import subprocess'],
  ['high', 'import ctypes'],
];

function parseMetrics(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const [, name, labels = '', value] = m;
    (out[name] ||= []).push({ labels, value: Number(value) });
  }
  return out;
}

export function healthPage(main) {
  const healthBox = h('div', { testid: 'health' }, h('p.muted', 'Loading…'));
  const templatesBox = h('div', { testid: 'templates' });
  const policyBox = h('div', { testid: 'policy-probe' });
  const metricsBox = h('div', { testid: 'metrics' });
  const limitsBox = h('div', { testid: 'limits' });
  const isolationBox = h('div', { testid: 'isolation' }, h('p.muted', 'Loading…'));
  main.append(
    h('div.page-head', h('h1', 'Health'), button('Refresh', { class: 'secondary', testid: 'refresh-health' }, () => load())),
    h(
      'div.grid-2',
      h('section.card', { 'aria-labelledby': 'h-server' }, h('h2#h-server', 'Server'), healthBox),
      h('section.card', { 'aria-labelledby': 'h-metrics' }, h('h2#h-metrics', 'Activity'), metricsBox),
    ),
    h('section.card', { 'aria-labelledby': 'h-templates' }, h('h2#h-templates', 'Templates'), templatesBox),
    h(
      'section.card',
      { 'aria-labelledby': 'h-limits' },
      h('h2#h-limits', 'Limits in force'),
      h('h3', 'Your policy on risky code'),
      h('p.muted', 'Asked of the server with POST /v1/analyze (nothing runs): what your key’s policy does with code of each risk level.'),
      policyBox,
      limitsBox,
    ),
    h(
      'section.card',
      { 'aria-labelledby': 'h-isolation' },
      h('h2#h-isolation', 'Isolation'),
      h(
        'p',
        { testid: 'isolation-note' },
        'Every sandbox gets user, pid, mount, network, ipc, uts and cgroup namespaces, a read-only root, seccomp, landlock (when the kernel has it), cgroup and rlimit limits, and no capabilities; if any of it cannot be set up, warden refuses to run code (SANDBOX_SETUP_FAILED) rather than run it with less.',
      ),
      isolationBox,
    ),
  );

  async function load() {
    try {
      const l = await get('/v1/limits');
      const policy = l.policy && Object.keys(l.policy).length ? l.policy : null;
      limitsBox.replaceChildren(
        h('h3', 'This server'),
        h('p.muted', 'What it was started with (GET /v1/limits). A request may ask for at most the smaller of these and your policy; beyond that it gets 400 or 403 POLICY_DENIED naming the field.'),
        h('dl.facts', { testid: 'server-limits' }, serverRows(l.server).flatMap(([k, v]) => [h('dt', k), h('dd', v)])),
        h('h3', 'Your policy'),
        h('p', { testid: 'policy-tenant' }, 'Tenant ', h('code', l.tenant), l.admin ? ' · admin key' : '', l.dev_mode ? ' · development mode' : ''),
        policy
          ? h('pre.code-view', { testid: 'policy-json' }, pretty(policy))
          : h('p.muted', { testid: 'policy-json' }, 'The server’s default policy: nothing beyond the server’s limits.'),
      );
    } catch (err) {
      limitsBox.replaceChildren(errorBox(err));
    }
    try {
      const r = await get('/v1/doctor');
      const mark = (c) => (c.ok ? ['ok', 'check-ok'] : c.required ? ['FAIL', 'check-fail'] : ['warn', 'check-warn']);
      isolationBox.replaceChildren(
        h(
          'p',
          h('span.badge', { class: r.full_isolation ? 'status-ok' : 'status-error', testid: 'full-isolation' }, r.full_isolation ? 'full isolation' : 'full isolation NOT available'),
          h('span.muted', ` warden doctor’s checks, run ${fmtTime(r.checked_at)} (kept a minute)`),
        ),
        table(
          [
            { title: '', cell: (c) => h('span', { class: mark(c)[1] }, mark(c)[0]) },
            { title: 'Check', cell: (c) => c.name },
            { title: 'Found', cell: (c) => h('span', c.detail, c.hint ? h('div.muted', `hint: ${c.hint}`) : '') },
          ],
          r.checks,
          { testid: 'isolation-checks', rowProps: (c) => ({ dataset: { check: c.name, ok: String(c.ok) } }) },
        ),
      );
    } catch (err) {
      isolationBox.replaceChildren(
        err.code === 'FORBIDDEN'
          ? h('p.muted', { testid: 'isolation-forbidden' }, 'The detailed report of what this host offers (warden doctor) is shown to admin keys only.')
          : errorBox(err),
      );
    }
    try {
      const hz = await get('/healthz');
      const pools = Object.entries(hz.pools || {}).sort();
      healthBox.replaceChildren(
        h('p', h('span.badge.status-ok', { testid: 'health-status' }, hz.status), ` ${hz.sessions} live session${hz.sessions === 1 ? '' : 's'}, ${hz.pool} sandbox${hz.pool === 1 ? '' : 'es'} waiting in the pools`),
        table(
          [
            { title: 'Pool', cell: ([k]) => h('code', k) },
            { title: 'Ready sandboxes', cell: ([, v]) => String(v) },
          ],
          pools,
          { testid: 'pools-table', empty: 'No pools.' },
        ),
      );
    } catch (err) {
      healthBox.replaceChildren(errorBox(err));
    }
    try {
      const { templates } = await get('/v1/templates');
      templatesBox.replaceChildren(
        table(
          [
            { title: 'Name', cell: (t) => h('code', t.name) },
            { title: 'Python', cell: (t) => t.python },
            { title: 'Packages', cell: (t) => [...(t.pip || []), ...(t.npm || []).map((n) => `npm:${n}`)].join(' ') },
            { title: 'Preloaded', cell: (t) => (t.preload || []).join(', ') },
            { title: 'Distributions', cell: (t) => h('details', h('summary', String((t.distributions || []).length)), h('ul.compact', (t.distributions || []).map(([n, v]) => h('li', `${n} ${v}`)))) },
            { title: 'Size', cell: (t) => fmtBytes(t.size_bytes) },
            { title: 'Built', cell: (t) => fmtTime(t.created_at) },
          ],
          templates || [],
          { testid: 'templates-table', empty: 'No templates: sessions use the base runtime (warden template build NAME makes one).' },
        ),
      );
    } catch (err) {
      templatesBox.replaceChildren(errorBox(err));
    }
    try {
      const rows = [];
      for (const [level, code] of PROBES) {
        const r = await post('/v1/analyze', { code, language: 'python' });
        rows.push({ level, code, risk: r.risk, action: r.action });
      }
      policyBox.replaceChildren(
        table(
          [
            { title: 'Risk level', cell: (r) => h('span.badge', { class: `risk-${r.level}` }, r.level) },
            { title: 'Example', cell: (r) => h('code', r.code) },
            { title: 'Your policy', cell: (r) => h('span.badge', { class: `action-${r.action}`, testid: `policy-${r.level}` }, r.action) },
          ],
          rows,
          { testid: 'policy-table' },
        ),
      );
    } catch (err) {
      policyBox.replaceChildren(errorBox(err));
    }
    try {
      const res = await api('GET', '/metrics', { raw: true, key: null });
      const m = parseMetrics(await res.text());
      const sum = (name, pred = () => true) => (m[name] || []).filter((x) => pred(x.labels)).reduce((a, x) => a + x.value, 0);
      const items = [
        ['Sessions created', sum('warden_sessions_created_total')],
        ['Sandboxes started', sum('warden_sandboxes_started_total')],
        ['Executions (cells)', sum('warden_executions_total', (l) => l.includes('kind="cell"'))],
        ['Executions (one-shot)', sum('warden_executions_total', (l) => l.includes('kind="oneshot"'))],
        ['Workflow runs', sum('warden_workflow_runs_total')],
      ];
      metricsBox.replaceChildren(h('dl.facts', items.flatMap(([k, v]) => [h('dt', k), h('dd', String(v))])), h('p.muted', 'From GET /metrics (this server node, since it started).'));
    } catch (err) {
      metricsBox.replaceChildren(errorBox(err));
    }
  }
  load();
}
