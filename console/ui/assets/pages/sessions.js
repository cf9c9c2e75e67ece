// Sessions: the tenant's live sessions, creating one (language, template, packages),
// deleting, and opening a Jupyter notebook as a new session.

import { h, field, select, button, fmtAge, fmtBytes } from '../dom.js';
import { get, post, del } from '../api.js';
import { errorBox, table, statusBadge } from '../render.js';
import { stashReplay } from './notebook.js';

export const LANGUAGES = [
  ['python', 'Python'],
  ['javascript', 'JavaScript'],
  ['bash', 'bash'],
];

/** "a, b c" → ["a", "b", "c"] */
export function splitPackages(text) {
  return text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

export async function loadTemplates() {
  try {
    return (await get('/v1/templates')).templates || [];
  } catch {
    return [];
  }
}

export function templateSelect(templates, testid) {
  return select([['', '(none: the base runtime)'], ...templates.map((t) => [t.name, `${t.name} — ${(t.pip || []).join(' ') || 'no packages'}`])], { testid });
}

export function sessionsPage(main) {
  const listBox = h('div.list-box', { testid: 'sessions-list', 'aria-live': 'polite' });
  const createStatus = h('div.form-status', { 'aria-live': 'polite' });
  const openStatus = h('div.form-status', { 'aria-live': 'polite' });

  const lang = select(LANGUAGES, { testid: 'new-language', name: 'language' });
  const tmpl = templateSelect([], 'new-template');
  const pkgs = h('input', { type: 'text', testid: 'new-packages', name: 'packages', placeholder: 'e.g. tabulate==0.9.0, rich', autocomplete: 'off' });
  const createBtn = h('button', { type: 'submit', testid: 'create-session' }, 'Create session');

  loadTemplates().then((ts) => {
    const fresh = templateSelect(ts, 'new-template');
    tmpl.replaceWith(fresh);
    tmplRef.el = fresh;
  });
  const tmplRef = { el: tmpl };

  const createForm = h(
    'form.card.inline-form',
    {
      'aria-labelledby': 'create-title',
      on: {
        submit: async (e) => {
          e.preventDefault();
          createStatus.replaceChildren();
          createBtn.disabled = true;
          const body = { language: lang.value };
          if (tmplRef.el.value) body.template = tmplRef.el.value;
          const p = splitPackages(pkgs.value);
          if (p.length) body.packages = p;
          createStatus.append(h('span.muted', p.length ? 'Creating the session and installing its packages…' : 'Creating…'));
          try {
            const s = await post('/v1/sessions', body);
            location.hash = `#/sessions/${encodeURIComponent(s.id)}`;
          } catch (err) {
            createStatus.replaceChildren(errorBox(err));
          } finally {
            createBtn.disabled = false;
          }
        },
      },
    },
    h('h2#create-title', 'New session'),
    h('div.row', field('Language', lang), field('Template', tmpl), field('Packages', pkgs, 'installed on demand, from the allowlist')),
    createBtn,
    createStatus,
  );
  // The template select is swapped in once templates load; keep the field's label on it.
  tmplRef.el = tmpl;

  const nbInput = h('input', { type: 'file', accept: '.ipynb,application/x-ipynb+json,application/json', testid: 'open-notebook-file', id: 'open-notebook-file' });
  nbInput.addEventListener('change', async () => {
    const file = nbInput.files && nbInput.files[0];
    if (!file) return;
    openStatus.replaceChildren(h('span.muted', `Replaying ${file.name}…`));
    let nb;
    try {
      nb = JSON.parse(await file.text());
    } catch (err) {
      openStatus.replaceChildren(errorBox({ code: 'INVALID_NOTEBOOK', message: `${file.name} is not JSON: ${err.message}` }));
      return;
    }
    const body = { notebook: nb };
    const kl = nb?.metadata?.kernelspec?.language || nb?.metadata?.language_info?.name;
    if (['python', 'javascript', 'bash'].includes(kl)) body.language = kl;
    try {
      const s = await post('/v1/sessions', body);
      stashReplay(s.id, nb, s.cells || [], file.name);
      location.hash = `#/sessions/${encodeURIComponent(s.id)}`;
    } catch (err) {
      openStatus.replaceChildren(errorBox(err));
    } finally {
      nbInput.value = '';
    }
  });
  const openForm = h(
    'section.card',
    { 'aria-labelledby': 'open-title' },
    h('h2#open-title', 'Open a notebook'),
    h('p.muted', 'A Jupyter notebook (.ipynb, nbformat 4): a new session replays its code cells in order, stopping at the first that fails.'),
    field('Notebook file', nbInput),
    openStatus,
  );

  async function refresh() {
    try {
      const { sessions } = await get('/v1/sessions');
      sessions.sort((a, b) => b.created_at - a.created_at);
      const now = Date.now() / 1000;
      listBox.replaceChildren(
        table(
          [
            { title: 'Session', cell: (s) => h('a', { href: `#/sessions/${encodeURIComponent(s.id)}`, testid: `open-${s.id}` }, h('code', s.id)) },
            { title: 'Language', cell: (s) => s.language },
            { title: 'Template', cell: (s) => (s.template ? h('code', s.template) : h('span.muted', 'base')) },
            { title: 'State', cell: (s) => statusBadge(s.state) },
            { title: 'Age', cell: (s) => h('span', { title: new Date(s.created_at * 1000).toISOString() }, fmtAge(s.created_at, now)) },
            { title: 'Cells run', cell: (s) => String(s.execution_count) },
            { title: 'Memory', cell: (s) => (s.memory_bytes == null ? h('span.muted', '—') : h('span', { testid: 'session-memory' }, fmtBytes(s.memory_bytes))) },
            {
              title: h('span.sr-only', 'Actions'),
              cell: (s) =>
                button('Delete', { class: 'danger small', testid: `delete-${s.id}`, 'aria-label': `Delete session ${s.id}` }, async (e) => {
                  e.target.disabled = true;
                  try {
                    await del(`/v1/sessions/${encodeURIComponent(s.id)}`);
                  } catch (err) {
                    listBox.prepend(errorBox(err));
                  }
                  refresh();
                }),
            },
          ],
          sessions,
          { testid: 'sessions-table', empty: 'No live sessions. Create one below.', rowProps: (s) => ({ dataset: { session: s.id } }) },
        ),
      );
    } catch (err) {
      listBox.replaceChildren(errorBox(err));
    }
  }

  main.append(
    h('div.page-head', h('h1', 'Sessions'), button('Refresh', { class: 'secondary', testid: 'refresh-sessions' }, refresh)),
    listBox,
    h('div.grid-2', createForm, openForm),
  );
  refresh();
  const timer = setInterval(() => {
    if (document.visibilityState === 'visible') refresh();
  }, 10_000);
  return () => clearInterval(timer);
}
