// Health: the server's /healthz, its pools and templates, the limits in force as far as
// the API tells them, and what is known of the isolation (warden doctor's report is not
// served over HTTP: see console/README.md).

import { h, fmtBytes, fmtTime, button } from '../dom.js';
import { get, post, api } from '../api.js';
import { errorBox, table } from '../render.js';

// The documented maximums of `warden serve` (docs/API.md "Errors", docs/LIMITS.md). The
// API does not expose the values a server was started with, nor a tenant's policy.
const DOCUMENTED = [
  ['Cell / one-shot timeout', '30 s default, 600 s maximum (a policy’s max_timeout lowers it)'],
  ['Session memory', '512 MiB default, 4096 MiB maximum'],
  ['Session /workspace', '512 MiB default, 8192 MiB maximum'],
  ['Processes and threads', '64 per sandbox'],
  ['Session idle time', '1 h default (--idle-ttl), 24 h maximum'],
  ['Session lifetime', '24 h (--max-lifetime)'],
  ['stdout / stderr', '1 MiB each per cell'],
  ['Code size', '1 MiB (--max-code-bytes)'],
  ['Inline files', '10 MiB per request'],
  ['Workflow runs', '10,000 steps, 600 s (--flow-max-steps, --flow-max-duration)'],
];

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
      h('h3', 'Server limits (documented defaults)'),
      h('p.muted', 'The API does not report the limits this server was started with, nor your tenant’s policy; these are the documented defaults and maximums (docs/LIMITS.md). Asking beyond your policy answers 403 POLICY_DENIED naming the field.'),
      h('dl.facts', { testid: 'documented-limits' }, DOCUMENTED.flatMap(([k, v]) => [h('dt', k), h('dd', v)])),
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
      h(
        'p.muted',
        'The detailed report of what this kernel offers is printed by ',
        h('code', 'warden doctor'),
        ' on the server’s machine; the HTTP API does not serve it yet. Pools with ready sandboxes (above) mean sandboxes are being built on this machine.',
      ),
    ),
  );

  async function load() {
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
