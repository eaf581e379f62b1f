// The dashboard's entry: asks for the token when Eye needs one, keeps the live event stream
// open, routes `#/...` to a view, and raises the banner when a module is crash-looping or
// stopped by failure. Read-only: nothing here sends anything but GETs.

import { authStatus, get, setToken, stream, token, Unauthorized } from './api.js';
import { el, clear } from './util.js';
import * as signals from './signals.js';
import * as symbol from './symbol.js';
import * as governor from './governor.js';
import * as quality from './quality.js';
import * as modules from './modules.js';

const ROUTES = [
  [/^#?\/?$/, signals, 'signals'],
  [/^#\/symbol\/(.+)$/, symbol, 'signals'],
  [/^#\/governor(?:\/|$)/, governor, 'governor'],
  [/^#\/quality(?:\/|$)/, quality, 'quality'],
  [/^#\/modules(?:\/|$)/, modules, 'modules'],
];

const view = document.getElementById('view');
const live = document.getElementById('live');
let current = null;
let stopStream = null;

const ctx = {
  /** Called by views when a request comes back 401: the token was rotated. */
  unauthorized() { login('The token was refused; enter the current one.'); },
  /** Shows an error in place of a view. */
  fail(where, e) {
    if (e instanceof Unauthorized) { ctx.unauthorized(); return; }
    clear(where).append(el('div', { class: 'card empty error' }, `Could not load: ${e.message}`));
  },
};

function route() {
  const hash = location.hash || '#/';
  const found = ROUTES.find(([re]) => re.test(hash)) || ROUTES[0];
  const [re, mod, nav] = found;
  const m = hash.match(re);
  if (current && current.destroy) current.destroy();
  document.documentElement.dataset.ready = '';
  clear(view);
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.view === nav);
  const param = m && m[1] ? decodeURIComponent(m[1]) : null;
  current = mod.mount(view, param, ctx);
}

function onEvent(ev) {
  if (ev.event === 'module' || ev.event === 'resync') refreshBanner();
  if (current && current.onEvent) current.onEvent(ev);
}

function setLive(state) {
  live.className = `live ${state}`;
  live.textContent = state === 'on' ? 'live' : state === 'retry' ? 'reconnecting' : 'offline';
}

/** Failing modules, on every page: LOOP_DETECTED, or STOPPED for a reason other than a
 *  clean exit or the operator. */
async function refreshBanner() {
  const banner = document.getElementById('banner');
  let st;
  try { st = await get('/modules'); } catch (_) { return; }
  const bad = Object.entries(st.modules || {}).filter(([, m]) => m.state === 'LOOP_DETECTED' || m.state === 'CRASHED'
    || (m.state === 'STOPPED' && !['clean_exit', 'stopped_by_operator', 'shutdown', 'not_started'].includes(m.reason)));
  clear(banner);
  banner.hidden = !bad.length;
  if (bad.length) {
    banner.append('Needs attention: ');
    bad.forEach(([name, m], i) => {
      if (i) banner.append(', ');
      banner.append(el('a', { href: '#/modules' }, name), ` ${m.state}${m.reason ? ` (${m.reason})` : ''}`);
    });
  }
}

function start() {
  document.getElementById('login').hidden = true;
  view.hidden = false;
  if (stopStream) stopStream();
  stopStream = stream(onEvent, setLive, () => ctx.unauthorized());
  window.onhashchange = route;
  route();
  refreshBanner();
}

/** Shows the token form; a token is kept only once /auth accepts it. */
function login(message) {
  if (stopStream) { stopStream(); stopStream = null; }
  if (current && current.destroy) current.destroy();
  current = null;
  setToken('');
  setLive('off');
  view.hidden = true;
  const form = document.getElementById('login');
  const error = document.getElementById('login-error');
  error.hidden = !message;
  error.textContent = message || '';
  form.hidden = false;
  document.documentElement.dataset.ready = 'login';
  const input = form.elements.token;
  input.value = '';
  input.focus();
  form.onsubmit = async (e) => {
    e.preventDefault();
    const tok = input.value.trim();
    if (!tok) return;
    const st = await authStatus(tok).catch(() => null);
    if (st && st.authorized) {
      setToken(tok);
      start();
    } else {
      error.hidden = false;
      error.textContent = st ? 'That token was refused.' : 'Eye did not answer.';
    }
  };
}

async function boot() {
  let st = null;
  try { st = await authStatus(token()); } catch (_) { st = null; }
  if (!st) {
    clear(view).append(el('div', { class: 'card empty error' }, 'Eye did not answer /auth.'));
    return;
  }
  if (st.authorized) start();
  else login(token() ? 'The saved token was refused.' : '');
}

boot();
