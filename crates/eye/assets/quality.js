// The quality view (`#/quality`): the track record from /quality (the numbers of a replay's
// report): hit rate of the allowed calls and of all directional calls, IC, Brier, the
// reliability diagram, overall or for one symbol (`/quality?symbol=`), and the per-symbol
// table.

import { get } from './api.js';
import { reliability } from './plot.js';
import { clear, el, num, pct, rendered, select } from './util.js';

const RANGES = [['', 'all time'], ['30', '30 days'], ['90', '90 days'], ['365', '1 year']];

export function mount(root, _param, ctx) {
  const saved = new URLSearchParams(sessionStorage.getItem('aivex.quality') || '');
  const state = { symbol: saved.get('symbol') || '', days: saved.get('days') || '', data: null, one: null };
  const toolbar = el('div', { class: 'toolbar' });
  const stats = el('div', { class: 'stats', id: 'quality-stats' });
  const canvas = el('canvas', { class: 'plot', id: 'reliability-canvas' });
  const table = el('div', { class: 'table-wrap' });
  const note = el('p', { class: 'muted' });
  root.append(el('div', { class: 'stack' }, toolbar, stats,
    el('div', { class: 'grid-2 even' },
      el('div', { class: 'card' }, el('h2', {}, 'Reliability: hit rate by confidence'), canvas, note),
      el('div', { class: 'card' }, el('h2', {}, 'Per symbol'), table))));
  const resize = new ResizeObserver(() => plot());
  resize.observe(canvas);

  /** The numbers shown above the table: every symbol's, or the chosen one's (its own
   *  report, so its reliability diagram too). */
  function group() {
    return state.symbol ? state.one : state.data;
  }

  function plot() {
    const g = state.data && group();
    if (g) reliability(canvas, g.buckets);
  }

  function stat(k, v, hint) {
    return el('div', { class: 'stat', title: hint || '' }, el('div', { class: 'v' }, v), el('div', { class: 'k' }, k));
  }

  function draw() {
    const d = state.data;
    clear(toolbar).append(el('h1', {}, 'Quality'),
      el('label', {}, 'Symbol ', select('symbol', [['', 'all symbols'], ...Object.keys(d.per_symbol).map((s) => [s, s])], state.symbol, (v) => { state.symbol = v; save(); load(); })),
      el('label', {}, 'Range ', select('days', RANGES, state.days, (v) => { state.days = v; save(); load(); })));
    const g = group();
    if (!g || !g.signals) {
      clear(stats).append(el('div', { class: 'empty' }, state.symbol ? 'No signal for this symbol in this range.' : 'No signal in this range.'));
    } else clear(stats).append(
      stat('signals', String(g.signals)),
      stat('scored', String(g.scored), 'signals with an automatic outcome'),
      stat('hit rate (allowed)', pct(g.hit_rate, 1), 'hits among allowed, scored signals with a direction'),
      stat('hit rate (all)', pct(g.hit_rate_all, 1), 'hits among every scored signal with a direction'),
      stat('IC', num(g.ic, 3), 'Spearman rank correlation of score with the realized return'),
      stat('Brier', num(g.brier, 3), 'mean (confidence − right)²: 0 is perfect, 0.25 a coin flip at 0.5'));
    note.textContent = g && g.scored ? 'Bars: observed hit rate per confidence decile (n above each); dashed: perfect calibration.'
      : 'No scored signal yet: outcomes are scored once a signal\'s horizon has passed and bars exist.';
    plot();
    const rows = Object.entries(d.per_symbol);
    clear(table).append(rows.length ? el('table', { id: 'quality-table' },
      el('thead', {}, el('tr', {}, ['symbol', 'signals', 'scored', 'hit rate', 'hit rate (all)', 'IC', 'Brier'].map((h, i) => el('th', { class: i ? 'num' : '' }, h)))),
      el('tbody', {}, rows.map(([s, q]) => el('tr', { data: { symbol: s }, class: s === state.symbol ? 'flash' : null },
        el('td', {}, el('a', { href: `#/symbol/${encodeURIComponent(s)}` }, s)),
        el('td', { class: 'num' }, String(q.signals)),
        el('td', { class: 'num' }, String(q.scored)),
        el('td', { class: 'num' }, pct(q.hit_rate, 1)),
        el('td', { class: 'num' }, pct(q.hit_rate_all, 1)),
        el('td', { class: 'num' }, num(q.ic, 3)),
        el('td', { class: 'num' }, num(q.brier, 3)))))) : el('div', { class: 'empty' }, 'No signals yet.'));
  }

  function save() {
    sessionStorage.setItem('aivex.quality', new URLSearchParams({ symbol: state.symbol, days: state.days }).toString());
  }

  async function load() {
    const q = new URLSearchParams();
    if (state.days) q.set('since', new Date(Date.now() - Number(state.days) * 86400 * 1000).toISOString());
    const all = q.toString();
    try {
      state.data = await get(`/quality${all ? `?${all}` : ''}`);
      state.one = null;
      if (state.symbol && state.data.per_symbol[state.symbol]) {
        q.set('symbol', state.symbol);
        state.one = await get(`/quality?${q}`);
      }
      draw();
      rendered('quality');
    } catch (e) {
      ctx.fail(stats, e);
    }
  }
  load();

  return { destroy() { resize.disconnect(); } };
}
