// The console's entry point: sign-in, navigation and routing (hash routes under /ui/,
// so nothing of the console's state reaches the server in a URL). See console/README.md.

import { h, clear, button } from './dom.js';
import { api, auth, ApiError, onUnauthorized } from './api.js';
import { errorBox, ui } from './render.js';
import { signInPage } from './pages/signin.js';
import { sessionsPage } from './pages/sessions.js';
import { notebookPage } from './pages/notebook.js';
import { runPage } from './pages/run.js';
import { workflowsPage } from './pages/workflows.js';
import { recordsPage } from './pages/records.js';
import { healthPage } from './pages/health.js';

const root = document.getElementById('app');

/** What the console knows about the caller. */
export const who = { dev: false, admin: false, keyId: null };

const routes = [
  { re: /^\/sessions\/([^/]+)$/, page: notebookPage, nav: 'sessions' },
  { re: /^\/sessions$/, page: sessionsPage, nav: 'sessions' },
  { re: /^\/run$/, page: runPage, nav: 'run' },
  { re: /^\/workflows(?:\/([^/]+))?(?:\/runs\/([^/]+))?$/, page: workflowsPage, nav: 'workflows' },
  { re: /^\/records(?:\/(audit|exe_[^/]+))?$/, page: recordsPage, nav: 'records', admin: true },
  { re: /^\/health$/, page: healthPage, nav: 'health' },
];

const NAV = [
  ['sessions', 'Sessions', '#/sessions'],
  ['run', 'Run once', '#/run'],
  ['workflows', 'Workflows', '#/workflows'],
  ['records', 'Records & audit', '#/records', true],
  ['health', 'Health', '#/health'],
];

let cleanup = null;
let main = null;
let navEl = null;

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/sessions';
  const [path, query = ''] = raw.split('?');
  return { path: path.replace(/\/+$/, '') || '/sessions', query: new URLSearchParams(query) };
}

export function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function route() {
  if (!main) return;
  const { path, query } = parseHash();
  if (typeof cleanup === 'function') {
    try {
      cleanup();
    } catch {
      /* ignore */
    }
  }
  cleanup = null;
  clear(main);
  let match = null;
  let r = null;
  for (const candidate of routes) {
    match = candidate.re.exec(path);
    if (match) {
      r = candidate;
      break;
    }
  }
  for (const a of navEl.querySelectorAll('a[data-nav]')) {
    if (r && a.dataset.nav === r.nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (!r) {
    main.append(h('h1', 'Not found'), h('p', 'No such page. '), h('a', { href: '#/sessions' }, 'Go to the sessions.'));
    return;
  }
  if (r.admin && !who.admin) {
    main.append(
      h('h1', 'Records & audit'),
      errorBox({ code: 'FORBIDDEN', message: 'execution records and the audit log are for admin keys (warden keys create --admin)' }),
    );
    return;
  }
  const params = match.slice(1).map((p) => (p === undefined ? undefined : decodeURIComponent(p)));
  document.title = 'warden console';
  try {
    cleanup = r.page(main, params, query, who);
  } catch (e) {
    main.append(errorBox(e));
  }
}

function shell() {
  clear(root);
  navEl = h(
    'nav.nav',
    { 'aria-label': 'Main' },
    h('a.brand', { href: '#/sessions' }, h('span.brand-mark', 'w'), 'warden'),
    h(
      'ul.nav-links',
      NAV.filter(([, , , admin]) => !admin || who.admin).map(([id, text, href]) =>
        h('li', h('a', { href, dataset: { nav: id }, testid: `nav-${id}` }, text)),
      ),
    ),
    h(
      'div.nav-who',
      who.dev
        ? h('span.badge.dev', { testid: 'who', title: 'warden serve --dev: no API key needed' }, 'development mode')
        : h('span.badge', { testid: 'who', title: 'the key in use (its public id)' }, `${who.keyId}${who.admin ? ' · admin' : ''}`),
      auth.key ? button('Sign out', { testid: 'sign-out', class: 'secondary small' }, signOut) : null,
    ),
  );
  main = h('main.main#main', { tabindex: '-1' });
  root.append(h('a.skip', { href: '#main' }, 'Skip to content'), navEl, main);
  route();
}

function signOut() {
  auth.clear();
  who.admin = false;
  ui.admin = false;
  who.dev = false;
  who.keyId = null;
  boot();
}

function showSignIn(message) {
  main = null;
  clear(root);
  root.append(
    signInPage(message, async (key) => {
      // Check the key before keeping it; a 401 stays on this form.
      await api('GET', '/v1/sessions', { key });
      auth.set(key);
      await boot();
    }),
  );
}

async function detectAdmin() {
  try {
    await api('GET', '/v1/audit?limit=1');
    return true;
  } catch (e) {
    if (e instanceof ApiError && (e.status === 403 || e.status === 401)) return false;
    return false;
  }
}

export async function boot() {
  clear(root);
  root.append(h('p.loading', 'Connecting to warden…'));
  try {
    await api('GET', '/v1/sessions');
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      const hadKey = Boolean(auth.key);
      auth.clear();
      showSignIn(hadKey ? e : null);
      return;
    }
    clear(root);
    root.append(h('main.main', h('h1', 'warden console'), errorBox(e), button('Retry', { testid: 'retry' }, () => boot())));
    return;
  }
  who.dev = !auth.key;
  who.keyId = auth.keyId;
  who.admin = await detectAdmin();
  ui.admin = who.admin;
  shell();
}

onUnauthorized((err) => {
  auth.clear();
  showSignIn(err);
});

window.addEventListener('hashchange', route);
boot();
