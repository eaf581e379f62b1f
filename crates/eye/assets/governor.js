// The governor view (`#/governor`): decisions over time from /governor, allowed in green and
// denials stacked by their first reason code, filtered by symbol, reason and range; totals by
// every code carried; the latest decisions with their rules.

import { allSignals, get } from './api.js';
import { stackedBars } from './plot.js';
import { badge, chips, clear, codeColour, cssVar, el, rendered, select, time } from './util.js';

const RANGES = [['7', '7 days'], ['30', '30 days'], ['90', '90 days'], ['365', '1 year'], ['1825', '5 years']];

export function mount(root, _param, ctx) {
  const saved = new URLSearchParams(sessionStorage.getItem('aivex.governor') || '');
  const state = { symbol: saved.get('symbol') || '', reason: saved.get('reason') || '', days: saved.get('days') || '30', symbols: [], data: null };
  const toolbar = el('div', { class: 'toolbar' });
  const canvas = el('canvas', { class: 'plot', id: 'governor-canvas' });
  const legend = el('div', { class: 'legend' });
  const totals = el('div', { class: 'stats' });
  const list = el('div', { class: 'table-wrap' });
  root.append(el('div', { class: 'stack' }, toolbar, totals,
    el('div', { class: 'card' }, el('h2', {}, 'Decisions over time'), canvas, legend),
    el('div', { class: 'card' }, el('h2', {}, 'Latest decisions'), list)));
  const resize = new ResizeObserver(() => plot());
  resize.observe(canvas);

  function save() {
    sessionStorage.setItem('aivex.governor', new URLSearchParams({ symbol: state.symbol, reason: state.reason, days: state.days }).toString());
  }

  function drawToolbar() {
    const codes = new Set(Object.keys((state.data && state.data.totals.by_reason) || {}));
    if (state.reason) codes.add(state.reason);
    clear(toolbar).append(
      el('h1', {}, 'Governor'),
      el('label', {}, 'Symbol ', select('symbol', [['', 'all'], ...state.symbols.map((s) => [s, s])], state.symbol, (v) => { state.symbol = v; save(); load(); })),
      el('label', {}, 'Reason ', select('reason', [['', 'any'], ...[...codes].sort().map((c) => [c, c])], state.reason, (v) => { state.reason = v; save(); load(); })),
      el('label', {}, 'Range ', select('days', RANGES, state.days, (v) => { state.days = v; save(); load(); })));
  }

  function plot() {
    const d = state.data;
    if (!d) return;
    const allow = cssVar('--allow');
    stackedBars(canvas, d.series.map((b) => ({
      t: b.t,
      stacks: [{ value: b.allow, colour: allow }, ...Object.entries(b.by_first_reason).sort().map(([c, v]) => ({ value: v, colour: codeColour(c) }))],
    })), d.bucket_s);
  }

  function draw() {
    const d = state.data;
    clear(totals).append(
      stat('decisions', d.totals.allow + d.totals.deny),
      stat('allowed', d.totals.allow),
      stat('denied', d.totals.deny),
      ...Object.entries(d.totals.by_reason).sort((a, b) => b[1] - a[1]).map(([c, n]) => stat(c, n)));
    const sw = (colour) => { const s = el('span', { class: 'sw box' }); s.style.background = colour; return s; };
    clear(legend).append(el('span', {}, sw(cssVar('--allow')), ' allow'),
      ...Object.keys(d.totals.by_first_reason).sort().map((c) => el('span', {}, sw(codeColour(c)), ` ${c}`)),
      el('span', {}, `· one bar per ${d.bucket_s >= 86400 ? `${d.bucket_s / 86400} day(s)` : `${d.bucket_s / 3600} h`}; denials by their first reason`));
    plot();
    clear(list).append(d.decisions.length ? el('table', { id: 'decisions' },
      el('thead', {}, el('tr', {}, ['time', 'symbol', 'decision', 'reasons', 'rules failed / evaluated', 'config'].map((h) => el('th', {}, h)))),
      el('tbody', {}, d.decisions.map((g) => {
        const rules = Array.isArray(g.rules) ? g.rules : [];
        return el('tr', { data: { symbol: g.symbol } },
          el('td', {}, time(g.at_unix)),
          el('td', {}, el('a', { href: `#/symbol/${encodeURIComponent(g.symbol)}` }, g.symbol)),
          el('td', {}, badge(g.decision)),
          el('td', {}, chips(g.reason_codes)),
          el('td', { class: 'num' }, `${rules.filter((r) => !r.passed).length} / ${rules.length}`),
          el('td', { class: 'mono muted' }, (g.config_hash || '').slice(0, 10)));
      }))) : el('div', { class: 'empty' }, 'No decision in this range.'));
  }

  function stat(k, v) {
    return el('div', { class: 'stat' }, el('div', { class: 'v' }, String(v)), el('div', { class: 'k' }, k));
  }

  let seq = 0;
  async function load() {
    const mine = ++seq;
    const since = new Date(Date.now() - Number(state.days) * 86400 * 1000).toISOString();
    const q = new URLSearchParams({ since, limit: '100' });
    if (state.symbol) q.set('symbol', state.symbol);
    if (state.reason) q.set('reason', state.reason);
    try {
      const d = await get(`/governor?${q}`);
      if (mine !== seq) return;
      state.data = d;
      drawToolbar();
      draw();
      rendered('governor');
    } catch (e) {
      if (mine === seq) ctx.fail(list, e);
    }
  }

  (async () => {
    try {
      state.symbols = (await allSignals('/signals?limit=1000')).map((s) => s.symbol).sort();
    } catch (_) { state.symbols = []; }
    load();
  })();

  let pending = null;
  return {
    destroy() { resize.disconnect(); clearTimeout(pending); },
    onEvent(ev) {
      // Decisions arrive one per signal: refresh once a burst has passed.
      if (ev.event !== 'decision' && ev.event !== 'resync') return;
      clearTimeout(pending);
      pending = setTimeout(load, 1500);
    },
  };
}
