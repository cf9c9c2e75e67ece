// Small DOM helpers. Everything the console shows is built with DOM APIs: text always
// goes in as text (textContent / text nodes), never as markup.

/**
 * h('div.card#main', {attrs, on: {click}, dataset, testid}, ...children)
 * Children: strings (as text), nodes, arrays, null/false (skipped).
 */
export function h(tag, props, ...children) {
  if (props === null || typeof props !== 'object' || props instanceof Node || Array.isArray(props)) {
    if (props !== undefined) children.unshift(props);
    props = {};
  }
  const [name, ...rest] = tag.split(/(?=[.#])/);
  const el = document.createElement(name || 'div');
  for (const part of rest) {
    if (part[0] === '.') el.classList.add(part.slice(1));
    else if (part[0] === '#') el.id = part.slice(1);
  }
  applyProps(el, props);
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** An SVG element with attributes (presentation attributes, never `style`). */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.setAttribute('class', v);
    else if (k === 'testid') el.setAttribute('data-testid', v);
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function applyProps(el, props) {
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    switch (k) {
      case 'class':
        for (const c of String(v).split(/\s+/).filter(Boolean)) el.classList.add(c);
        break;
      case 'testid':
        el.dataset.testid = v;
        break;
      case 'text':
        el.textContent = String(v);
        break;
      case 'on':
        for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
        break;
      case 'dataset':
        for (const [dk, dv] of Object.entries(v)) el.dataset[dk] = dv;
        break;
      case 'value':
        el.value = v;
        break;
      case 'checked':
      case 'disabled':
      case 'multiple':
      case 'selected':
      case 'hidden':
      case 'required':
        el[k] = Boolean(v);
        break;
      default:
        if (k === 'style') throw new Error('inline styles are not allowed (CSP): use a class');
        el.setAttribute(k, v === true ? '' : String(v));
    }
  }
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false || c === true) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** A labelled form field: <label>Text <input></label> with a test id on the control. */
export function field(label, control, hint) {
  return h('label.field', {}, h('span.field-label', label), control, hint ? h('span.hint', hint) : null);
}

export function select(options, props = {}) {
  const el = h('select', props);
  for (const o of options) {
    const [value, text] = Array.isArray(o) ? o : [o, o];
    el.append(h('option', { value }, text));
  }
  if (props.value !== undefined) el.value = props.value;
  return el;
}

export function button(text, props = {}, onClick) {
  return h('button', { type: 'button', ...props, on: { ...(props.on || {}), ...(onClick ? { click: onClick } : {}) } }, text);
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return '';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < units.length - 1);
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function fmtAge(unixSeconds, now = Date.now() / 1000) {
  const d = Math.max(0, now - unixSeconds);
  if (d < 60) return `${Math.floor(d)} s`;
  if (d < 3600) return `${Math.floor(d / 60)} min`;
  if (d < 86400) return `${Math.floor(d / 3600)} h ${Math.floor((d % 3600) / 60)} min`;
  return `${Math.floor(d / 86400)} d`;
}

export function fmtTime(unixSeconds) {
  if (unixSeconds === null || unixSeconds === undefined) return '';
  const d = new Date(unixSeconds * 1000);
  return d.toLocaleString(undefined, { hour12: false });
}

export function fmtMs(ms) {
  if (ms === null || ms === undefined) return '';
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

/** Saves a Blob under a file name through a temporary object URL. */
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: filename, class: 'hidden-link' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export function base64ToBytes(b64) {
  const bin = atob(b64.replace(/\s+/g, ''));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** UTF-8 text to base64 (for SVG data URLs). */
export function textToBase64(text) {
  const bytes = new TextEncoder().encode(text);
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

export function pretty(value) {
  try {
    return JSON.stringify(value, null, 2);
  } catch {
    return String(value);
  }
}

/** Encodes a workspace path segment by segment (slashes kept). */
export function encodePath(path) {
  return path.split('/').map(encodeURIComponent).join('/');
}
