// The console's only way to the API. The key lives in sessionStorage (this tab only,
// gone when the tab closes) and travels only in the Authorization header, never in a
// URL, a cookie or local storage.

const KEY_NAME = 'warden.apiKey';

export const auth = {
  get key() {
    return sessionStorage.getItem(KEY_NAME);
  },
  set(key) {
    sessionStorage.setItem(KEY_NAME, key);
  },
  clear() {
    sessionStorage.removeItem(KEY_NAME);
  },
  /** The public part of the key (`wk_<id>`), safe to show. */
  get keyId() {
    const k = this.key;
    return k ? k.split('.')[0] : null;
  },
};

/** An error answered by warden (`{"error": {"code", "message", ...}}`) or the network. */
export class ApiError extends Error {
  constructor(status, error, retryAfter) {
    super(error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = error?.code || (status ? `HTTP_${status}` : 'NETWORK_ERROR');
    this.detail = error || {};
    this.retryAfter = retryAfter || null;
  }
}

const listeners = new Set();
/** Called with the error whenever a request answers 401 (the key was revoked...). */
export function onUnauthorized(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/**
 * One request. Options: json (a body to send as JSON), body (raw), headers, accept,
 * signal, raw (return the Response), key (use this key instead of the stored one).
 */
export async function api(method, path, opts = {}) {
  const headers = new Headers(opts.headers || {});
  const key = opts.key !== undefined ? opts.key : auth.key;
  if (key) headers.set('Authorization', `Bearer ${key}`);
  let body = opts.body;
  if (opts.json !== undefined) {
    headers.set('Content-Type', 'application/json');
    body = JSON.stringify(opts.json);
  }
  if (opts.accept) headers.set('Accept', opts.accept);
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body,
      signal: opts.signal,
      credentials: 'omit',
      cache: 'no-store',
      referrerPolicy: 'no-referrer',
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, { code: 'NETWORK_ERROR', message: `cannot reach the server: ${e.message}` });
  }
  if (!res.ok) {
    let error = null;
    const text = await res.text().catch(() => '');
    try {
      error = JSON.parse(text).error;
    } catch {
      error = { code: `HTTP_${res.status}`, message: text.trim() || res.statusText };
    }
    const err = new ApiError(res.status, error, res.headers.get('Retry-After'));
    if (res.status === 401 && opts.key === undefined) for (const fn of listeners) fn(err);
    throw err;
  }
  if (opts.raw) return res;
  if (res.status === 204) return null;
  const ct = res.headers.get('Content-Type') || '';
  if (ct.includes('application/json')) return res.json();
  return res.text();
}

export const get = (path, opts) => api('GET', path, opts);
export const post = (path, json, opts = {}) => api('POST', path, { ...opts, json });
export const del = (path, opts) => api('DELETE', path, opts);

/** Builds `path?k=v&...`, leaving out empty values. */
export function withQuery(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === '') continue;
    q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/**
 * Reads Server-Sent Events from a fetch Response's body: yields {event, data} with data
 * parsed as JSON when it is JSON. Handles \n, \r\n and \r line ends, multi-line data,
 * comments and events split across chunks.
 */
export async function* readEvents(res) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder('utf-8');
  let buf = '';
  let event = 'message';
  let data = [];
  const dispatch = function* () {
    if (data.length) {
      const text = data.join('\n');
      let parsed = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* plain text */
      }
      yield { event, data: parsed };
    }
    event = 'message';
    data = [];
  };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let m;
      // Take whole lines; keep an unfinished one (a lone \r at the end may be half a \r\n).
      while ((m = /\r\n|\n|\r(?!$)/.exec(buf))) {
        const line = buf.slice(0, m.index);
        buf = buf.slice(m.index + m[0].length);
        if (line === '') {
          yield* dispatch();
        } else if (line[0] === ':') {
          /* comment / keep-alive */
        } else {
          const i = line.indexOf(':');
          const fieldName = i < 0 ? line : line.slice(0, i);
          let val = i < 0 ? '' : line.slice(i + 1);
          if (val[0] === ' ') val = val.slice(1);
          if (fieldName === 'event') event = val || 'message';
          else if (fieldName === 'data') data.push(val);
        }
      }
    }
    buf += decoder.decode();
    if (buf.trim() !== '' && !buf.startsWith(':')) {
      const i = buf.indexOf(':');
      if (buf.slice(0, i) === 'data') data.push(buf.slice(i + 1).replace(/^ /, ''));
    }
    yield* dispatch();
  } finally {
    reader.releaseLock();
  }
}

/** POSTs JSON asking for an event stream and yields its events. */
export async function* stream(path, json, opts = {}) {
  const res = await api('POST', path, { ...opts, json, accept: 'text/event-stream', raw: true });
  yield* readEvents(res);
}
