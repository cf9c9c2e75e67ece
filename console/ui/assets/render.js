// Rendering of what warden returns: errors with their stable code, cell results (streams,
// rich outputs, values, tracebacks), findings. Untrusted output is shown as text; HTML
// only inside <iframe sandbox=""> (no scripts, no same-origin); images only as <img>
// data URLs (SVG too: an SVG in <img> runs no script and loads nothing).

import { h, fmtMs, pretty, textToBase64, base64ToBytes, saveBlob, fmtBytes } from './dom.js';

/** What the caller may see (set at sign-in): admins get links to execution records. */
export const ui = { admin: false };

/** An error box: warden's code, its message and what the error carries besides. */
export function errorBox(err, extra) {
  const code = err?.code || 'ERROR';
  const message = err?.message || String(err);
  const d = err?.detail || {};
  const box = h(
    'div.error-box',
    { role: 'alert', testid: 'error', dataset: { code } },
    h('strong.error-code', { testid: 'error-code' }, code),
    ' ',
    h('span.error-message', { testid: 'error-message' }, message),
  );
  if (d.line) box.append(h('div.error-extra', `at line ${d.line}, column ${d.col ?? '?'}`));
  if (d.risk) box.append(h('div.error-extra', `risk level: ${d.risk}`));
  if (Array.isArray(d.findings) && d.findings.length) box.append(findingsList(d.findings));
  if (Array.isArray(d.problems) && d.problems.length) {
    box.append(
      h(
        'ul.problems',
        { testid: 'problems' },
        d.problems.map((p) =>
          h(
            'li',
            h('code', p.code),
            ' ',
            p.node ? h('span.muted', `node ${p.node}: `) : p.edge !== null && p.edge !== undefined ? h('span.muted', `edge ${p.edge}: `) : null,
            p.message,
          ),
        ),
      ),
    );
  }
  if (err?.retryAfter) box.append(h('div.error-extra', `retry after ${err.retryAfter} s`));
  if (extra) box.append(extra);
  return box;
}

export function findingsList(findings) {
  return h(
    'ul.findings',
    { testid: 'findings' },
    findings.map((f) =>
      h(
        'li',
        { class: 'finding', dataset: { rule: f.rule, severity: f.severity } },
        h('span.badge', { class: `sev-${f.severity}` }, f.severity),
        ' ',
        h('code', { testid: 'finding-rule' }, f.rule),
        ` line ${f.line}:${f.col} — `,
        f.message,
      ),
    ),
  );
}

export function riskBadge(risk) {
  if (!risk) return null;
  return h('span.badge', { class: `risk-${risk}`, testid: 'risk', title: 'static analysis risk level' }, `risk ${risk}`);
}

export function statusBadge(status) {
  return h('span.badge', { class: `status-${String(status).replace(/[^a-z_]/gi, '')}`, testid: 'status' }, status);
}

/** A sandboxed frame for untrusted HTML: no scripts, an opaque origin, no referrer. */
export function htmlFrame(html) {
  const frame = document.createElement('iframe');
  frame.setAttribute('sandbox', '');
  frame.setAttribute('referrerpolicy', 'no-referrer');
  frame.setAttribute('title', 'HTML output (sandboxed: no scripts)');
  frame.setAttribute('loading', 'lazy');
  frame.className = 'html-frame';
  frame.dataset.testid = 'html-output';
  frame.srcdoc = html;
  return frame;
}

const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];

/** One MIME bundle as the richest safe form it offers. */
export function mimeBundle(bundle, { label } = {}) {
  if (!bundle || typeof bundle !== 'object') return null;
  for (const t of IMAGE_TYPES) {
    if (typeof bundle[t] === 'string') {
      const img = h('img.output-image', {
        src: `data:${t};base64,${bundle[t].replace(/\s+/g, '')}`,
        alt: bundle['text/plain'] || label || 'image output',
        testid: 'image-output',
        dataset: { mime: t },
      });
      return h('div.output.output-image-wrap', img);
    }
  }
  if (typeof bundle['image/svg+xml'] === 'string') {
    const img = h('img.output-image', {
      src: `data:image/svg+xml;base64,${textToBase64(bundle['image/svg+xml'])}`,
      alt: bundle['text/plain'] || label || 'SVG output',
      testid: 'image-output',
      dataset: { mime: 'image/svg+xml' },
    });
    return h('div.output.output-image-wrap', img);
  }
  if (typeof bundle['text/html'] === 'string') {
    return h('div.output', htmlFrame(bundle['text/html']));
  }
  if (typeof bundle['text/markdown'] === 'string') {
    return h('pre.output.output-text', { testid: 'markdown-output' }, bundle['text/markdown']);
  }
  if (typeof bundle['application/json'] === 'string' || typeof bundle['application/json'] === 'object') {
    const v = bundle['application/json'];
    return h('pre.output.output-text', typeof v === 'string' ? v : pretty(v));
  }
  if (typeof bundle['text/plain'] === 'string') {
    return h('pre.output.output-text', { testid: 'text-output' }, bundle['text/plain']);
  }
  const keys = Object.keys(bundle);
  return keys.length ? h('pre.output.output-text.muted', `(output of type ${keys.join(', ')})`) : null;
}

/**
 * Where a traceback failed in the cell's own code: the last frame naming `<cell-N>`
 * (Python: `File "<cell-3>", line 4`; JavaScript: `<cell-3>:4:7`).
 */
export function failingLine(traceback, count) {
  const text = (traceback || []).join('');
  const re = /File "<cell-(\d+)>", line (\d+)|<cell-(\d+)>:(\d+)(?::(\d+))?/g;
  let found = null;
  let m;
  while ((m = re.exec(text))) {
    const n = Number(m[1] || m[3]);
    const line = Number(m[2] || m[4]);
    if (count === undefined || count === null || n === count) found = { cell: n, line, col: m[5] ? Number(m[5]) : null };
  }
  return found;
}

export function tracebackView(error, code, count) {
  const wrap = h('div.traceback', { testid: 'traceback', role: 'group', 'aria-label': 'error' });
  wrap.append(h('div.traceback-head', h('strong', { testid: 'error-name' }, error.name), error.value ? `: ${error.value}` : ''));
  const at = failingLine(error.traceback, count);
  if (at && code) {
    const lines = code.split('\n');
    const src = lines[at.line - 1];
    if (src !== undefined) {
      wrap.append(
        h(
          'div.failing-line',
          { testid: 'failing-line', dataset: { line: String(at.line) } },
          h('span.muted', `line ${at.line}: `),
          h('code', src),
        ),
      );
    }
  }
  if (error.traceback && error.traceback.length) {
    wrap.append(h('pre.traceback-text', error.traceback.join('')));
  }
  return wrap;
}

/**
 * A cell result. opts: code (the cell's source, to show the failing line), oneShot
 * (show `files`), showMeta.
 */
export function cellResult(r, opts = {}) {
  const out = h('div.cell-result', { testid: 'cell-result', dataset: { status: r.status } });
  if (r.stdout) out.append(h('pre.stream.stdout', { testid: 'stdout' }, r.stdout));
  if (r.stdout_truncated) out.append(h('div.note', 'stdout truncated (over 1 MiB)'));
  if (r.stderr) out.append(h('pre.stream.stderr', { testid: 'stderr' }, r.stderr));
  if (r.stderr_truncated) out.append(h('div.note', 'stderr truncated (over 1 MiB)'));
  for (const o of r.outputs || []) {
    const el = mimeBundle(o);
    if (el) out.append(el);
  }
  if (r.value) {
    const v = mimeBundle(r.value, { label: 'value' });
    if (v) {
      out.append(
        h(
          'div.value',
          { testid: 'value' },
          h('span.prompt', r.execution_count ? `Out[${r.execution_count}]:` : 'value:'),
          v,
        ),
      );
    }
  }
  if (r.error) out.append(tracebackView(r.error, opts.code, r.execution_count));
  if (r.result !== undefined && r.result !== null) {
    out.append(h('div.value', h('span.prompt', 'result:'), h('pre.output.output-text', { testid: 'result-json' }, pretty(r.result))));
  }
  if (opts.oneShot && Array.isArray(r.files) && r.files.length) out.append(filesCreated(r.files));
  if (r.egress) out.append(egressView(r.egress));
  if (opts.showMeta !== false) out.append(resultMeta(r));
  return out;
}

export function resultMeta(r) {
  const meta = h('div.result-meta', { testid: 'result-meta' });
  meta.append(statusBadge(r.status));
  if (r.error_code) meta.append(h('span.badge.status-error', { testid: 'error-code' }, r.error_code));
  if (r.timed_out) meta.append(h('span.badge.status-timeout', 'timed out'));
  if (r.risk && r.risk !== 'none') meta.append(riskBadge(r.risk));
  if (r.secrets && Object.keys(r.secrets).length) {
    meta.append(h('span.badge.sev-high', { title: 'secrets found in the output (redacted)' }, `secrets: ${Object.entries(r.secrets).map(([k, v]) => `${k}×${v}`).join(', ')}`));
  }
  if (r.duration_ms !== undefined) meta.append(h('span.muted', fmtMs(r.duration_ms)));
  if (r.execution_id) {
    meta.append(
      ui.admin
        ? h('a', { href: `#/records/${encodeURIComponent(r.execution_id)}`, testid: 'execution-id', title: 'the execution record' }, h('code', r.execution_id))
        : h('code.muted', { testid: 'execution-id', title: 'execution record id' }, r.execution_id),
    );
  }
  if (r.findings && r.findings.length) {
    meta.append(h('details.findings-details', h('summary', `${r.findings.length} finding${r.findings.length > 1 ? 's' : ''}`), findingsList(r.findings)));
  }
  return meta;
}

export function filesCreated(files) {
  return h(
    'div.files-created',
    { testid: 'files-created' },
    h('h4', 'Files the run created or changed'),
    h(
      'ul',
      files.map((f) => {
        const li = h('li', h('code', f.path), ' ', h('span.muted', fmtBytes(f.size)), ' ');
        if (typeof f.content === 'string') {
          const name = f.path.split('/').pop();
          li.append(
            h(
              'a',
              {
                href: '#',
                testid: `download-created-${f.path}`,
                on: {
                  click: (e) => {
                    e.preventDefault();
                    const bytes = f.encoding === 'base64' ? base64ToBytes(f.content) : new TextEncoder().encode(f.content);
                    saveBlob(new Blob([bytes], { type: 'application/octet-stream' }), name);
                  },
                },
              },
              'download',
            ),
          );
        } else {
          li.append(h('span.muted', '(too large to be sent inline: over 64 KiB)'));
        }
        return li;
      }),
    ),
  );
}

export function egressView(e) {
  return h(
    'details.egress',
    { testid: 'egress' },
    h('summary', `network: ${e.allowed} allowed, ${e.denied} denied, ${fmtBytes(e.bytes_out)} out, ${fmtBytes(e.bytes_in)} in${e.error_code ? ` — ${e.error_code}` : ''}`),
    h('div.muted', `allowlist: ${(e.allow || []).join(', ') || '(none)'}`),
    h(
      'table.table',
      h('thead', h('tr', ['host', 'port', 'decision', 'reason', 'out', 'in'].map((c) => h('th', c)))),
      h(
        'tbody',
        (e.connections || []).map((c) =>
          h('tr', h('td', c.host), h('td', String(c.port)), h('td', c.decision), h('td', c.reason || ''), h('td', fmtBytes(c.bytes_out)), h('td', fmtBytes(c.bytes_in))),
        ),
      ),
    ),
  );
}

/** A table from rows, with column definitions [{title, cell(row) → node|string}]. */
export function table(columns, rows, { testid, empty = 'Nothing here yet.', rowProps } = {}) {
  if (!rows.length) return h('p.empty', { testid: testid ? `${testid}-empty` : undefined }, empty);
  return h(
    'table.table',
    { testid },
    h('thead', h('tr', columns.map((c) => h('th', { scope: 'col' }, c.title)))),
    h(
      'tbody',
      rows.map((r) => h('tr', rowProps ? rowProps(r) : {}, columns.map((c) => h('td', c.cell(r))))),
    ),
  );
}
