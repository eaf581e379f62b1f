// Talking to Eye: the bearer token (kept in sessionStorage, this tab only), JSON requests with
// the Authorization header, and the live /events stream read with fetch streaming, because
// EventSource cannot send a header. The token never goes into a URL.

const KEY = 'aivex.token';

export class Unauthorized extends Error {
  constructor() { super('the token was refused'); }
}

export function token() {
  return sessionStorage.getItem(KEY) || '';
}

export function setToken(t) {
  if (t) sessionStorage.setItem(KEY, t); else sessionStorage.removeItem(KEY);
}

function headers(extra, tok = token()) {
  const h = { Accept: 'application/json', ...(extra || {}) };
  if (tok) h.Authorization = `Bearer ${tok}`;
  return h;
}

/** GET a JSON route; throws Unauthorized on 401 and an Error with Eye's message otherwise. */
export async function get(path) {
  const r = await fetch(path, { headers: headers(), cache: 'no-store' });
  if (r.status === 401) throw new Unauthorized();
  let body = null;
  try { body = await r.json(); } catch (_) { body = null; }
  if (!r.ok) throw new Error((body && body.error && body.error.message) || `${r.status} ${path}`);
  return body;
}

/** `/auth` with `tok` (or none): `{required, authorized}`. Always a 200, so checking a token
 *  never shows up as a failed request. */
export async function authStatus(tok) {
  const r = await fetch('/auth', { headers: headers({}, tok), cache: 'no-store' });
  return r.json();
}

/** Every page of a paged signal route (`next_cursor`), up to `maxPages`. */
export async function allSignals(path, maxPages = 10) {
  const out = [];
  let cursor = null;
  for (let i = 0; i < maxPages; i++) {
    const sep = path.includes('?') ? '&' : '?';
    const page = await get(cursor ? `${path}${sep}cursor=${encodeURIComponent(cursor)}` : path);
    out.push(...page.signals);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return out;
}

/** Parses one SSE frame into {id, event, data}; null for comments and keep-alives. */
function parseFrame(frame) {
  let id = null, event = 'message';
  const data = [];
  for (const line of frame.split('\n')) {
    if (!line || line.startsWith(':')) continue;
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? '' : line.slice(i + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'id') id = value;
    else if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  if (!data.length && event === 'message') return null;
  let parsed = null;
  try { parsed = JSON.parse(data.join('\n')); } catch (_) { parsed = data.join('\n'); }
  return { id, event, data: parsed };
}

/**
 * Keeps `/events` open: `onEvent({id, event, data})` per event, `onState('on'|'retry'|'off')`
 * as the connection comes and goes, `onAuth()` when the token is refused. Reconnects with
 * Last-Event-ID after a drop (1 s, doubling to 30 s). Returns a function that stops it.
 */
export function stream(onEvent, onState, onAuth) {
  let stopped = false;
  let ctl = null;
  let lastId = null;
  (async () => {
    let delay = 1000;
    while (!stopped) {
      ctl = new AbortController();
      try {
        const extra = lastId ? { 'Last-Event-ID': lastId } : {};
        const r = await fetch('/events', { headers: headers({ Accept: 'text/event-stream', ...extra }), cache: 'no-store', signal: ctl.signal });
        if (r.status === 401) { onState('off'); onAuth(); return; }
        if (!r.ok || !r.body) throw new Error(`events: ${r.status}`);
        onState('on');
        delay = 1000;
        const reader = r.body.getReader();
        const dec = new TextDecoder();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += dec.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const ev = parseFrame(buf.slice(0, i));
            buf = buf.slice(i + 2);
            if (!ev) continue;
            if (ev.id) lastId = ev.id;
            onEvent(ev);
          }
        }
      } catch (_) {
        // A drop or an outage: retried below; the state pill says so.
      }
      if (stopped) return;
      onState('retry');
      await new Promise((res) => setTimeout(res, delay));
      delay = Math.min(delay * 2, 30000);
    }
  })();
  return () => { stopped = true; if (ctl) ctl.abort(); };
}
