// The file browser of a session's /workspace: list, open directories, upload (file
// input or drag and drop), download (fetched with the key, saved from a blob), delete.

import { h, button, fmtBytes, fmtTime, encodePath, saveBlob } from '../dom.js';
import { api, get, del } from '../api.js';
import { errorBox } from '../render.js';

export function fileBrowser(sessionId) {
  const base = `/v1/sessions/${encodeURIComponent(sessionId)}/files`;
  let cwd = '';
  const crumbs = h('nav.crumbs', { 'aria-label': 'Workspace path', testid: 'files-path' });
  const list = h('div.files-list', { testid: 'files-list', 'aria-live': 'polite' });
  const status = h('div.form-status', { 'aria-live': 'polite', testid: 'files-status' });
  const upload = h('input', { type: 'file', multiple: true, testid: 'upload-input', id: `upload-${sessionId}` });
  const drop = h(
    'div.dropzone',
    { testid: 'dropzone', tabindex: '0', role: 'group', 'aria-label': 'Upload files: drop them here or choose them' },
    h('label.upload-label', { for: `upload-${sessionId}` }, 'Upload files'),
    upload,
    h('span.muted', ' or drop them here'),
  );
  const panel = h(
    'aside.card.files',
    { testid: 'files-panel', 'aria-labelledby': `files-title-${sessionId}` },
    h('div.panel-head', h('h2', { id: `files-title-${sessionId}` }, 'Files'), button('Refresh', { class: 'secondary small', testid: 'files-refresh' }, () => refresh())),
    crumbs,
    list,
    drop,
    status,
  );

  async function uploadFiles(files) {
    status.replaceChildren();
    for (const f of files) {
      const path = cwd ? `${cwd}/${f.name}` : f.name;
      status.append(h('div.muted', `uploading ${path} (${fmtBytes(f.size)})…`));
      try {
        await api('PUT', `${base}/${encodePath(path)}`, { body: f, headers: { 'Content-Type': 'application/octet-stream' } });
        status.lastChild.replaceWith(h('div.ok', { testid: 'upload-done' }, `uploaded ${path}`));
      } catch (err) {
        status.lastChild.replaceWith(errorBox(err));
      }
    }
    refresh();
  }

  upload.addEventListener('change', () => {
    if (upload.files && upload.files.length) uploadFiles([...upload.files]).finally(() => (upload.value = ''));
  });
  for (const ev of ['dragenter', 'dragover']) {
    panel.addEventListener(ev, (e) => {
      if (e.dataTransfer && [...e.dataTransfer.types].includes('Files')) {
        e.preventDefault();
        drop.classList.add('dragging');
      }
    });
  }
  panel.addEventListener('dragleave', (e) => {
    if (!panel.contains(e.relatedTarget)) drop.classList.remove('dragging');
  });
  panel.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('dragging');
    const files = e.dataTransfer ? [...e.dataTransfer.files] : [];
    if (files.length) uploadFiles(files);
  });

  async function download(entry) {
    try {
      const res = await api('GET', `${base}/${encodePath(entry.path)}`, { raw: true });
      saveBlob(await res.blob(), entry.name);
    } catch (err) {
      status.replaceChildren(errorBox(err));
    }
  }

  function renderCrumbs() {
    const parts = cwd ? cwd.split('/') : [];
    const items = [h('a', { href: '#', testid: 'crumb-root', on: { click: (e) => (e.preventDefault(), refresh('')) } }, '/workspace')];
    parts.forEach((p, i) => {
      const target = parts.slice(0, i + 1).join('/');
      items.push(' / ', h('a', { href: '#', on: { click: (e) => (e.preventDefault(), refresh(target)) } }, p));
    });
    crumbs.replaceChildren(...items);
  }

  async function refresh(path = cwd) {
    cwd = path;
    renderCrumbs();
    try {
      const { entries } = await get(`${base}?path=${encodeURIComponent(cwd)}`);
      const visible = entries.filter((e) => !e.name.startsWith('.warden-upload-'));
      if (!visible.length) {
        list.replaceChildren(h('p.empty', { testid: 'files-empty' }, 'No files here.'));
        return;
      }
      list.replaceChildren(
        h(
          'ul.file-entries',
          visible.map((e) =>
            h(
              'li.file-entry',
              { dataset: { path: e.path, type: e.type }, testid: `file-${e.path}` },
              e.type === 'directory'
                ? h('a.file-name', { href: '#', on: { click: (ev) => (ev.preventDefault(), refresh(e.path)) } }, `${e.name}/`)
                : h('span.file-name', { title: e.type === 'file' ? '' : e.type }, e.name, e.type === 'symlink' ? ' →' : ''),
              h('span.muted.file-size', e.type === 'file' ? fmtBytes(e.size) : e.type),
              h('span.muted.file-time', { title: fmtTime(e.mtime) }, new Date(e.mtime * 1000).toLocaleTimeString(undefined, { hour12: false })),
              h(
                'span.file-actions',
                e.type === 'file' ? button('Download', { class: 'small secondary', testid: `download-${e.path}`, 'aria-label': `Download ${e.path}` }, () => download(e)) : null,
                button('Delete', { class: 'small danger', testid: `delete-file-${e.path}`, 'aria-label': `Delete ${e.path}` }, async () => {
                  try {
                    await del(`${base}/${encodePath(e.path)}`);
                  } catch (err) {
                    status.replaceChildren(errorBox(err));
                  }
                  refresh();
                }),
              ),
            ),
          ),
        ),
      );
    } catch (err) {
      if (err.code === 'FILE_NOT_FOUND' && cwd) return refresh('');
      list.replaceChildren(errorBox(err));
    }
  }

  return { el: panel, refresh: () => refresh() };
}
