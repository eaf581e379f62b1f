// The signals view (`#/`): the latest signal per symbol from /signals, sortable, filterable by
// decision and reason code; a signal arriving on /events replaces its symbol's row (or adds
// one) without a reload.

import { allSignals } from './api.js';
import { age, badge, chips, clear, direction, el, num, rendered, select, time } from './util.js';

const COLS = [
  ['symbol', 'Symbol', (s) => s.symbol],
  ['direction', 'Direction', (s) => s.direction],
  ['score', 'Score', (s) => s.score],
  ['confidence', 'Confidence', (s) => s.confidence],
  ['decision', 'Decision', (s) => s.decision],
  ['reasons', 'Reasons', (s) => (s.reason_codes || []).join(',')],
  ['age', 'Age', (s) => -s.created_at_unix],
  ['origin', 'Origin', (s) => s.origin || ''],
];

export function mount(root, _param, ctx) {
  const state = { rows: new Map(), sort: 'symbol', asc: true, decision: '', reason: '', fresh: new Set() };
  const toolbar = el('div', { class: 'toolbar' });
  const summary = el('p', { class: 'muted' });
  const table = el('table', { id: 'signals-table', class: 'cards' });
  root.append(el('div', { class: 'stack' }, toolbar, el('div', { class: 'card' }, summary, el('div', { class: 'table-wrap' }, table))));

  function codes() {
    const all = new Set();
    for (const s of state.rows.values()) for (const c of s.reason_codes || []) all.add(c);
    return [...all].sort();
  }

  function drawToolbar() {
    clear(toolbar).append(
      el('h1', {}, 'Signals'),
      el('label', {}, 'Decision ', select('decision', [['', 'all'], ['allow', 'allow'], ['deny', 'deny']], state.decision, (v) => { state.decision = v; draw(); })),
      el('label', {}, 'Reason ', select('reason', [['', 'any'], ...codes().map((c) => [c, c])], state.reason, (v) => { state.reason = v; draw(); })),
    );
  }

  function draw() {
    const key = COLS.find((c) => c[0] === state.sort)[2];
    const rows = [...state.rows.values()]
      .filter((s) => !state.decision || s.decision === state.decision)
      .filter((s) => !state.reason || (s.reason_codes || []).includes(state.reason))
      .sort((a, b) => {
        const x = key(a), y = key(b);
        const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
        return state.asc ? c : -c;
      });
    const head = el('tr', {}, COLS.map(([k, label]) => el('th', {
      class: `sort ${['score', 'confidence'].includes(k) ? 'num' : ''} ${state.sort === k ? (state.asc ? 'asc' : 'desc') : ''}`,
      on: { click: () => { state.asc = state.sort === k ? !state.asc : true; state.sort = k; draw(); } },
    }, label)));
    const body = el('tbody', {}, rows.map((s) => el('tr', {
      class: state.fresh.has(s.id) ? 'flash' : null,
      data: { symbol: s.symbol, signalId: s.id, decision: s.decision },
    },
      el('td', { class: 'sym', 'data-label': 'Symbol' }, el('a', { href: `#/symbol/${encodeURIComponent(s.symbol)}` }, s.symbol)),
      el('td', { 'data-label': 'Direction' }, direction(s.direction)),
      el('td', { class: 'num', 'data-label': 'Score' }, num(s.score, 3)),
      el('td', { class: 'num', 'data-label': 'Confidence' }, num(s.confidence, 2),
        el('span', { class: 'conf' }, confBar(s.confidence))),
      el('td', { 'data-label': 'Decision' }, badge(s.decision)),
      el('td', { class: 'reasons', 'data-label': 'Reasons' }, s.reason_codes && s.reason_codes.length ? chips(s.reason_codes) : el('span', { class: 'muted' }, '—')),
      el('td', { class: 'age', 'data-label': 'Age', title: time(s.created_at_unix), data: { at: s.created_at_unix } }, age(s.created_at_unix)),
      el('td', { 'data-label': 'Origin' }, s.origin || 'live'),
    )));
    clear(table).append(el('thead', {}, head), body);
    const allowed = [...state.rows.values()].filter((s) => s.decision === 'allow').length;
    summary.textContent = `${state.rows.size} symbols · ${allowed} allowed · ${state.rows.size - allowed} denied`
      + (rows.length !== state.rows.size ? ` · ${rows.length} shown` : '');
    state.fresh.clear();
  }

  function confBar(c) {
    const bar = el('i');
    bar.style.width = `${Math.round(Math.max(0, Math.min(1, c || 0)) * 100)}%`;
    return bar;
  }

  const timer = setInterval(() => {
    for (const td of table.querySelectorAll('td.age')) td.textContent = age(Number(td.dataset.at));
  }, 5000);

  (async () => {
    try {
      const list = await allSignals('/signals?limit=1000');
      for (const s of list) state.rows.set(s.symbol, s);
      drawToolbar();
      if (!list.length) table.replaceWith(el('div', { class: 'empty' }, 'No signals yet: brain writes one per symbol once its inputs are in.'));
      else draw();
      rendered('signals');
    } catch (e) {
      ctx.fail(root, e);
    }
  })();

  return {
    destroy() { clearInterval(timer); },
    onEvent(ev) {
      if (ev.event !== 'signal' || !ev.data || !ev.data.symbol) return;
      const s = ev.data;
      const old = state.rows.get(s.symbol);
      if (old && old.created_at_unix > s.created_at_unix) return;
      const first = !state.rows.size;
      state.rows.set(s.symbol, s);
      state.fresh.add(s.id);
      if (first && !table.isConnected) {
        root.querySelector('.empty')?.replaceWith(table);
      }
      drawToolbar();
      draw();
    },
  };
}
