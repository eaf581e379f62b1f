// The modules view (`#/modules`): every module from /modules with its state, restarts,
// uptime, heartbeat age, last exit and the last lines of its output (/modules/{name}/log);
// crash loops and failure stops stand out and show their log open. Resource fields (cpu_pct,
// rss_bytes, waiting_for) are shown when the supervisor reports them.

import { get } from './api.js';
import { badge, bytes, clear, dur, el, num, rendered, time } from './util.js';

const QUIET_STOPS = ['clean_exit', 'stopped_by_operator', 'shutdown', 'not_started'];

function severity(m) {
  if (m.state === 'LOOP_DETECTED' || m.state === 'CRASHED') return 'bad';
  if (m.state === 'STOPPED' && !QUIET_STOPS.includes(m.reason)) return 'bad';
  if (m.state === 'RESTARTING' || (m.heartbeat_ttl_s && m.heartbeat_age_s > m.heartbeat_ttl_s / 2)) return 'warn';
  return '';
}

export function mount(root, _param, ctx) {
  const head = el('p', { class: 'muted' });
  const grid = el('div', { class: 'modules', id: 'modules' });
  root.append(el('div', { class: 'stack' }, el('div', { class: 'toolbar' }, el('h1', {}, 'Modules'), head), grid));
  const logs = new Map();
  const open = new Set();

  async function loadLog(name, pre) {
    try {
      const r = await get(`/modules/${encodeURIComponent(name)}/log?lines=40`);
      logs.set(name, r.lines);
      pre.textContent = r.lines.length ? r.lines.join('\n') : '(no output yet)';
      pre.scrollTop = pre.scrollHeight;
    } catch (e) {
      pre.textContent = `could not read the log: ${e.message}`;
    }
  }

  function card(name, m) {
    const sev = severity(m);
    const facts = [
      ['state', m.reason ? `${m.state} (${m.reason})` : m.state],
      ['pid', m.pid ?? '—'],
      ['restarts', `${m.restarts ?? 0}${m.consecutive_failures ? ` (${m.consecutive_failures} in a row)` : ''}`],
      ['uptime', dur(m.uptime_s)],
      ['heartbeat', m.heartbeat_age_s == null ? '—' : `${dur(m.heartbeat_age_s)} ago${m.heartbeat_ttl_s ? ` (ttl ${dur(m.heartbeat_ttl_s)})` : ''}`],
      ['last exit', m.last_exit ? `${m.last_exit.reason || '—'}${m.last_exit.at ? ` at ${m.last_exit.at.replace('T', ' ').slice(0, 16)}Z` : ''}` : '—'],
    ];
    if (m.next_restart_in_s != null) facts.push(['next restart', `in ${dur(m.next_restart_in_s)}`]);
    if (m.cpu_pct != null) facts.push(['cpu', `${num(m.cpu_pct, 1)}%`]);
    if (m.rss_bytes != null) facts.push(['memory', bytes(m.rss_bytes)]);
    if (m.waiting_for != null) facts.push(['waiting for', typeof m.waiting_for === 'string' ? m.waiting_for : JSON.stringify(m.waiting_for)]);
    const pre = el('pre', { class: 'log', data: { module: name } }, logs.has(name) ? logs.get(name).join('\n') : 'loading…');
    const details = el('details', {}, el('summary', {}, 'last lines of output'), pre);
    details.addEventListener('toggle', () => { if (details.open) { open.add(name); loadLog(name, pre); } else open.delete(name); });
    // Opening fires `toggle`, which loads the log; a closed one is loaded once, for later.
    if (sev === 'bad' || open.has(name)) details.open = true;
    else if (!logs.has(name)) loadLog(name, pre);
    return el('section', { class: `card module ${sev}`, data: { name, state: m.state } },
      el('header', {}, el('h2', {}, name), badge(m.state), m.kind ? el('span', { class: 'muted' }, m.kind) : null),
      el('dl', {}, facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, String(v))])),
      details);
  }

  async function load() {
    try {
      const st = await get('/modules');
      const names = Object.keys(st.modules || {});
      head.textContent = `run ${st.run_id} · ${st.mode} · supervisor pid ${st.pid} · up ${dur(st.uptime_s)} · state written ${st.age_s == null ? '—' : `${num(st.age_s, 1)} s`} ago (${time(Date.now() / 1000 - (st.age_s || 0))})`;
      clear(grid).append(...(names.length ? names.map((n) => card(n, st.modules[n])) : [el('div', { class: 'empty' }, 'No module in this run.')]));
      rendered('modules');
    } catch (e) {
      ctx.fail(grid, e);
    }
  }
  load();
  const timer = setInterval(load, 5000);

  return {
    destroy() { clearInterval(timer); },
    onEvent(ev) {
      if (ev.event === 'module' || ev.event === 'resync') load();
    },
  };
}
