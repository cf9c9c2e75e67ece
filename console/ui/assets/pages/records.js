// Records and audit (admin keys): every tenant's execution records with filters (tenant,
// session, status, risk, time), one record in detail (refusals by policy included), and
// the audit log with filters.

import { h, field, select, button, fmtTime, fmtMs, fmtBytes, pretty } from '../dom.js';
import { get, withQuery } from '../api.js';
import { errorBox, table, statusBadge, riskBadge, findingsList, egressView } from '../render.js';

const STATUSES = ['', 'ok', 'error', 'refused', 'timeout', 'memory_limit', 'cpu_limit', 'session_dead', 'killed'];
const RISKS = ['', 'none', 'low', 'medium', 'high'];
const ACTIONS = [
  '',
  'policy.denied',
  'execution.flagged',
  'limit.fired',
  'auth.failed',
  'session.created',
  'session.deleted',
  'session.expired',
  'file.written',
  'file.deleted',
  'key.created',
  'key.revoked',
  'workflow.saved',
  'workflow.run',
  'collection.updated',
  'collection.deleted',
];

/** <input type=datetime-local> → Unix seconds. */
const toUnix = (v) => (v ? new Date(v).getTime() / 1000 : undefined);

export function recordsPage(main, [sub], query) {
  const tabs = h(
    'div.tabs',
    { role: 'tablist' },
    h('a.tab', { href: '#/records', role: 'tab', 'aria-selected': String(sub !== 'audit'), testid: 'tab-executions' }, 'Execution records'),
    h('a.tab', { href: '#/records/audit', role: 'tab', 'aria-selected': String(sub === 'audit'), testid: 'tab-audit' }, 'Audit log'),
  );
  main.append(h('div.page-head', h('h1', 'Records & audit')), tabs);
  if (sub === 'audit') return auditView(main, query);
  if (sub && sub.startsWith('exe_')) return executionView(main, sub);
  return executionsView(main, query);
}

function executionsView(main, query) {
  const session = h('input', { type: 'text', testid: 'filter-session', placeholder: 'ses_…', value: query.get('session_id') || '' });
  const status = select(STATUSES.map((s) => [s, s || '(any)']), { testid: 'filter-status', value: query.get('status') || '' });
  const risk = select(RISKS.map((s) => [s, s ? `${s} or higher` : '(any)']), { testid: 'filter-risk', value: query.get('min_risk') || '' });
  const since = h('input', { type: 'datetime-local', testid: 'filter-since', step: '1' });
  const until = h('input', { type: 'datetime-local', testid: 'filter-until', step: '1' });
  const tenant = h('input', { type: 'text', testid: 'filter-tenant', placeholder: 'every tenant', value: query.get('tenant') || '' });
  const listBox = h('div', { testid: 'executions-list', 'aria-live': 'polite' });
  const more = button('Load more', { class: 'secondary', testid: 'load-more', hidden: true });
  let cursor = null;
  let rows = [];

  const render = () => {
    listBox.replaceChildren(
      table(
        [
          { title: 'Record', cell: (r) => h('a', { href: `#/records/${encodeURIComponent(r.id)}`, testid: `exe-${r.id}` }, h('code', r.id)) },
          { title: 'Tenant', cell: (r) => r.tenant },
          { title: 'Started', cell: (r) => fmtTime(r.started_at) },
          { title: 'Kind', cell: (r) => `${r.kind} · ${r.language}` },
          { title: 'Status', cell: (r) => h('span', statusBadge(r.status), r.error_code ? h('span.muted', ` ${r.error_code}`) : '') },
          { title: 'Risk', cell: (r) => h('span', riskBadge(r.risk), r.findings?.length ? h('span.muted', ` ${r.findings.map((f) => f.rule).join(', ')}`) : '') },
          { title: 'Secrets', cell: (r) => (r.secrets && Object.keys(r.secrets).length ? Object.entries(r.secrets).map(([k, v]) => `${k}×${v}`).join(', ') : '') },
          { title: 'Wall', cell: (r) => fmtMs(r.wall_ms) },
          { title: 'Session', cell: (r) => (r.session_id ? h('code.muted', r.session_id) : h('span.muted', 'one-shot')) },
        ],
        rows,
        { testid: 'executions-table', empty: 'No records match.', rowProps: (r) => ({ dataset: { id: r.id, status: r.status, risk: r.risk } }) },
      ),
    );
    more.hidden = !cursor;
  };

  const load = async (append) => {
    try {
      const page = await get(
        withQuery('/v1/executions', {
          tenant: tenant.value.trim(),
          session_id: session.value.trim(),
          status: status.value,
          min_risk: risk.value,
          since: toUnix(since.value),
          until: toUnix(until.value),
          cursor: append ? cursor : undefined,
          limit: 100,
        }),
      );
      rows = append ? rows.concat(page.executions) : page.executions;
      cursor = page.next_cursor;
      render();
    } catch (err) {
      listBox.replaceChildren(errorBox(err));
    }
  };
  more.addEventListener('click', () => load(true));
  for (const s of [status, risk]) s.addEventListener('change', () => load(false));

  main.append(
    h(
      'form.card.filters',
      { 'aria-label': 'Filter execution records', on: { submit: (e) => (e.preventDefault(), load(false)) } },
      h(
        'div.row',
        field('Tenant', tenant),
        field('Session', session),
        field('Status', status),
        field('Risk', risk),
        field('Since', since),
        field('Until', until),
      ),
      h('button', { type: 'submit', testid: 'apply-filters' }, 'Apply'),
    ),
    listBox,
    more,
  );
  load(false);
}

function executionView(main, id) {
  const box = h('div', { testid: 'execution-detail' }, h('p.muted', 'Loading…'));
  main.append(h('a.back', { href: '#/records' }, '← Execution records'), box);
  (async () => {
    try {
      const r = await get(`/v1/executions/${encodeURIComponent(id)}`);
      const facts = [
        ['Tenant', r.tenant],
        ['Kind', r.kind],
        ['Language', r.language],
        ['Session', r.session_id || 'one-shot'],
        ['Status', statusBadge(r.status)],
        ['Error code', r.error_code || '—'],
        ['Exit code', r.exit_code ?? '—'],
        ['Started', fmtTime(r.started_at)],
        ['Finished', fmtTime(r.finished_at)],
        ['Wall time', fmtMs(r.wall_ms)],
        ['CPU time', r.cpu_ms === null ? '—' : fmtMs(r.cpu_ms)],
        ['Peak memory', r.peak_memory_bytes === null ? '—' : fmtBytes(r.peak_memory_bytes)],
        ['stdout / stderr', `${fmtBytes(r.stdout_bytes)} / ${fmtBytes(r.stderr_bytes)}`],
        ['Risk', riskBadge(r.risk)],
        ['Code SHA-256', h('code.wrap', r.code_sha256)],
      ];
      box.replaceChildren(
        h('h2', 'Execution ', h('code', { testid: 'execution-id' }, r.id)),
        r.status === 'refused'
          ? h('p.refused', { testid: 'refused-note' }, 'Refused by the policy for its risk level before it ran: nothing ran. The findings below are why.')
          : null,
        h('dl.facts', facts.flatMap(([k, v]) => [h('dt', k), h('dd', v)])),
        h('h3', 'Code'),
        r.code === null ? h('p.muted', 'Not kept: the server records hashes only (--record-code hash).') : h('pre.code-view', { testid: 'execution-code' }, r.code),
        h('h3', 'Findings'),
        r.findings && r.findings.length ? findingsList(r.findings) : h('p.muted', { testid: 'no-findings' }, 'None.'),
        h('h3', 'Secrets in the output'),
        r.secrets && Object.keys(r.secrets).length
          ? h('ul', { testid: 'secrets' }, Object.entries(r.secrets).map(([k, v]) => h('li', h('code', k), ` × ${v}`)))
          : h('p.muted', 'None found.'),
        h('h3', 'Network'),
        r.egress ? egressView(r.egress) : h('p.muted', 'No egress (the sandbox had no network).'),
      );
    } catch (err) {
      box.replaceChildren(errorBox(err));
    }
  })();
}

function auditView(main, query) {
  const tenant = h('input', { type: 'text', testid: 'audit-tenant', placeholder: 'any tenant', value: query.get('tenant') || '' });
  const action = select(ACTIONS.map((a) => [a, a || '(any)']), { testid: 'audit-action', value: query.get('action') || '' });
  const since = h('input', { type: 'datetime-local', testid: 'audit-since', step: '1' });
  const listBox = h('div', { testid: 'audit-list', 'aria-live': 'polite' });
  const more = button('Load more', { class: 'secondary', testid: 'audit-more', hidden: true });
  let cursor = null;
  let rows = [];

  const render = () => {
    listBox.replaceChildren(
      table(
        [
          { title: '#', cell: (e) => String(e.seq) },
          { title: 'At', cell: (e) => fmtTime(e.at) },
          { title: 'Action', cell: (e) => h('code', { class: e.action === 'policy.denied' ? 'action-denied' : '' }, e.action) },
          { title: 'Tenant', cell: (e) => e.tenant || '' },
          { title: 'Key', cell: (e) => (e.key_id ? h('code.muted', e.key_id) : '') },
          { title: 'Target', cell: (e) => (e.target ? (e.target.startsWith('exe_') ? h('a', { href: `#/records/${encodeURIComponent(e.target)}` }, h('code', e.target)) : h('code', e.target)) : '') },
          { title: 'Detail', cell: (e) => auditDetail(e) },
        ],
        rows,
        { testid: 'audit-table', empty: 'No entries match.', rowProps: (e) => ({ dataset: { action: e.action, code: e.detail?.code || '' } }) },
      ),
    );
    more.hidden = !cursor;
  };
  const load = async (append) => {
    try {
      const page = await get(withQuery('/v1/audit', { tenant: tenant.value.trim(), action: action.value, since: toUnix(since.value), cursor: append ? cursor : undefined, limit: 100 }));
      rows = append ? rows.concat(page.entries) : page.entries;
      cursor = page.next_cursor;
      render();
    } catch (err) {
      listBox.replaceChildren(errorBox(err));
    }
  };
  more.addEventListener('click', () => load(true));
  main.append(
    h(
      'form.card.filters',
      { 'aria-label': 'Filter the audit log', on: { submit: (e) => (e.preventDefault(), load(false)) } },
      h('div.row', field('Tenant', tenant), field('Action', action), field('Since', since)),
      h('button', { type: 'submit', testid: 'audit-apply' }, 'Apply'),
    ),
    listBox,
    more,
  );
  load(false);
}

function auditDetail(e) {
  const d = e.detail || {};
  if (e.action === 'policy.denied') {
    // "the policy denies code of risk level medium (import.process, process.spawn)"
    const rules = /\(([^)]*)\)\s*$/.exec(d.message || '');
    return h(
      'div.audit-detail',
      h('strong.error-code', { testid: 'denied-code' }, d.code || ''),
      d.operation ? h('span.muted', ` on ${d.operation}`) : '',
      h('div', { testid: 'denied-message' }, d.message || ''),
      d.execution_id ? h('a', { href: `#/records/${encodeURIComponent(d.execution_id)}`, testid: 'denied-record' }, 'the refused code’s record') : null,
      d.code === 'SECURITY_VIOLATION' && rules ? h('div', rules[1].split(/,\s*/).map((r) => h('code.badge.sev-medium', { testid: 'denied-rule' }, r))) : null,
    );
  }
  if (e.action === 'execution.flagged') {
    return h('div.audit-detail', riskBadge(d.risk), ' ', (d.rules || []).map((r) => h('code.badge', r)), d.secrets && Object.keys(d.secrets).length ? ` secrets: ${Object.keys(d.secrets).join(', ')}` : '');
  }
  const keys = Object.keys(d);
  if (!keys.length) return '';
  return h('details', h('summary', keys.slice(0, 4).join(', ')), h('pre.code-view', pretty(d)));
}
