// Run once: one program in a fresh sandbox (POST /v1/execute), its result as a card with
// the files it created.

import { h, field, select, button } from '../dom.js';
import { post } from '../api.js';
import { errorBox, cellResult } from '../render.js';
import { codeEditor } from '../editor.js';
import { LANGUAGES, loadTemplates, templateSelect, splitPackages } from './sessions.js';

const SAMPLES = {
  python: 'import csv\nrows = [(i, i * i) for i in range(5)]\nwith open("squares.csv", "w", newline="") as f:\n    csv.writer(f).writerows(rows)\nprint("wrote", len(rows), "rows")\nsum(b for _, b in rows)',
  javascript: 'const fs = require("fs");\nfs.writeFileSync("hello.txt", "hi\\n");\nconsole.log("wrote hello.txt");\n6 * 7',
  bash: 'echo "hello from $(uname -s)" | tee hello.txt\nls -l',
};

export function runPage(main) {
  const lang = select(LANGUAGES, { testid: 'run-language', name: 'language' });
  let tmpl = templateSelect([], 'run-template');
  const tmplField = field('Template', tmpl);
  loadTemplates().then((ts) => {
    const fresh = templateSelect(ts, 'run-template');
    tmpl.replaceWith(fresh);
    tmpl = fresh;
  });
  const pkgs = h('input', { type: 'text', testid: 'run-packages', placeholder: 'e.g. tabulate==0.9.0', autocomplete: 'off' });
  const timeout = h('input', { type: 'number', min: '1', max: '600', placeholder: '30', testid: 'run-timeout', class: 'narrow' });
  const memory = h('input', { type: 'number', min: '16', max: '4096', placeholder: '512', testid: 'run-memory', class: 'narrow' });
  const input = h('textarea.json-input', { rows: '3', testid: 'run-input', placeholder: '{"rows": [1, 2, 3]}  (optional: Python sees input_data, JavaScript input)', spellcheck: 'false' });
  const status = h('div.form-status', { 'aria-live': 'polite' });
  const results = h('div.results', { testid: 'run-results', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', testid: 'run-submit' }, 'Run');
  let touched = false;
  const editor = codeEditor({
    value: SAMPLES.python,
    label: 'Code',
    testid: 'run-code',
    onRun: () => form.requestSubmit(),
    onRunAndAdvance: () => form.requestSubmit(),
    onChange: () => (touched = true),
  });
  lang.addEventListener('change', () => {
    editor.setLanguage(lang.value);
    if (!touched) editor.value = SAMPLES[lang.value];
  });

  const form = h(
    'form.card',
    {
      'aria-labelledby': 'run-title',
      on: {
        submit: async (e) => {
          e.preventDefault();
          status.replaceChildren();
          const body = { language: lang.value, code: editor.value };
          if (tmpl.value) body.template = tmpl.value;
          const p = splitPackages(pkgs.value);
          if (p.length) body.packages = p;
          if (timeout.value) body.timeout = Number(timeout.value);
          if (memory.value) body.memory_mb = Number(memory.value);
          if (input.value.trim()) {
            try {
              body.input = JSON.parse(input.value);
            } catch (err) {
              status.append(errorBox({ code: 'INVALID_JSON', message: `the input is not JSON: ${err.message}` }));
              return;
            }
          }
          submit.disabled = true;
          status.append(h('span.muted', 'Running in a fresh sandbox…'));
          const started = new Date();
          try {
            const r = await post('/v1/execute', body);
            status.replaceChildren();
            results.prepend(resultCard(r, body, started));
          } catch (err) {
            status.replaceChildren(errorBox(err));
          } finally {
            submit.disabled = false;
          }
        },
      },
    },
    h('h2#run-title', 'Run a program once'),
    h('p.muted', 'A fresh sandbox from the pool, discarded after the reply. Files it writes to /workspace come back with the result.'),
    h('div.row', field('Language', lang), tmplField, field('Packages', pkgs), field('Timeout (s)', timeout), field('Memory (MiB)', memory)),
    h('div.field', h('span.field-label', 'Code'), editor.el),
    field('Input (JSON)', input),
    h('div.toolbar', submit, button('Clear results', { class: 'secondary', testid: 'run-clear' }, () => results.replaceChildren())),
    status,
  );
  main.append(h('div.page-head', h('h1', 'Run once')), form, results);
}

function resultCard(r, body, started) {
  return h(
    'article.card.result-card',
    { testid: 'run-result', dataset: { status: r.status } },
    h('header.result-head', h('strong', body.language), h('span.muted', ` ${started.toLocaleTimeString(undefined, { hour12: false })}`), h('details.code-details', h('summary', 'code'), h('pre.code-view', body.code))),
    cellResult(r, { code: body.code, oneShot: true }),
  );
}
