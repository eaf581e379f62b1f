// The symbol view (`#/symbol/SYM`): /candles with indicator series, the symbol's signals from
// /signals/{symbol} since the first bar, the chart, and the marker tooltip: the signal's
// components (value, weight, contribution, input age) and every governor rule with its inputs.
// A new signal of this symbol on /events is added without a reload.

import { allSignals, get } from './api.js';
import { OVERLAYS, SymbolChart } from './chart.js';
import { badge, chips, clear, direction, dur, el, num, rendered, select, time } from './util.js';

const RANGES = [['250', '250 bars'], ['500', '500 bars'], ['1000', '1,000 bars'], ['2000', '2,000 bars'], ['5000', '5,000 bars'], ['20000', '20,000 bars']];
const INTERVALS = ['1m', '5m', '15m', '30m', '1h', '4h', '1d', '1w'];

/** A rule input, short: objects as `(k=v …)` with `kind` first, arrays as `[…]`. */
function compact(v) {
  if (Array.isArray(v)) return `[${v.map(compact).join(', ')}]`;
  if (v && typeof v === 'object') {
    const keys = Object.keys(v).sort((a, b) => (a === 'kind' ? -1 : b === 'kind' ? 1 : 0));
    return `(${keys.map((k) => `${k}=${compact(v[k])}`).join(' ')})`;
  }
  return JSON.stringify(v);
}

/** The tooltip body for one signal. */
export function explain(sig) {
  const out = [el('h3', {}, `${sig.symbol} · ${time(sig.created_at_unix)}`),
    el('div', {}, direction(sig.direction), ' score ', el('b', {}, num(sig.score, 3)), ' · confidence ', el('b', {}, num(sig.confidence, 2)), ' · ', badge(sig.decision), ' ', chips(sig.reason_codes))];
  const comps = sig.components && Array.isArray(sig.components.components) ? sig.components.components
    : sig.components && typeof sig.components === 'object' ? Object.entries(sig.components).filter(([, v]) => v && typeof v === 'object').map(([kind, v]) => ({ kind, ...v })) : [];
  if (comps.length) {
    out.push(el('table', { class: 'components' },
      el('thead', {}, el('tr', {}, ['component', 'value', 'weight', 'contribution', 'input age'].map((h) => el('th', { class: h === 'component' ? '' : 'num' }, h)))),
      el('tbody', {}, comps.map((c) => el('tr', { class: c.present === false ? 'muted' : '' },
        el('td', {}, c.kind + (c.present === false ? ' (absent)' : '')),
        el('td', { class: 'num' }, num(c.value, 3)),
        el('td', { class: 'num' }, num(c.effective_weight ?? c.weight, 2)),
        el('td', { class: 'num' }, num(c.contribution, 3)),
        el('td', { class: 'num' }, dur(c.age_s ?? c.input_age_s)))))));
  }
  const f = sig.components && sig.components.factors;
  if (f) out.push(el('div', { class: 'muted' }, `confidence = coverage ${num(f.coverage)} × agreement ${num(f.agreement)} × freshness ${num(f.freshness)} × strength ${num(f.strength)}`));
  const rules = sig.governor && Array.isArray(sig.governor.rules) ? sig.governor.rules : [];
  if (rules.length) {
    out.push(el('table', { class: 'rules' }, el('tbody', {}, rules.map((r) => {
      const inputs = r.inputs && typeof r.inputs === 'object' && !Array.isArray(r.inputs)
        ? Object.entries(r.inputs).map(([k, v]) => `${k}=${compact(v)}`).join(', ') : compact(r.inputs ?? null);
      return el('tr', { class: `rule ${r.passed ? 'pass' : 'fail'}`, data: { code: r.code || r.rule } },
        el('td', {}, `${r.passed ? '✓' : '✗'} ${r.code || r.rule}`),
        el('td', { class: 'inputs mono' }, inputs));
    }))));
    if (sig.governor.config_hash) out.push(el('div', { class: 'muted' }, `governor config ${sig.governor.config_hash}`));
  } else {
    out.push(el('div', { class: 'muted' }, 'No governor record for this signal.'));
  }
  return out;
}

export function mount(root, symbolName, ctx) {
  const sym = symbolName || '';
  const params = new URLSearchParams(sessionStorage.getItem(`aivex.symbol.${sym}`) || '');
  const state = { limit: params.get('limit') || '500', interval: params.get('interval') || '1d', candles: null, signals: [], show: new Set(OVERLAYS.map((o) => o[0])) };
  const tip = document.getElementById('tip');
  let pinned = null;
  const chartCard = el('div', { class: 'card' });
  const side = el('div', { class: 'card', id: 'latest' }, el('p', { class: 'muted' }, 'Loading…'));
  const legend = el('div', { class: 'legend' });
  const status = el('span', { class: 'muted' });
  root.append(el('div', { class: 'stack' },
    el('div', { class: 'toolbar' },
      el('h1', {}, sym),
      el('label', {}, 'Interval ', select('interval', INTERVALS.map((i) => [i, i]), state.interval, (v) => { state.interval = v; save(); load(); })),
      el('label', {}, 'Range ', select('limit', RANGES, state.limit, (v) => { state.limit = v; save(); load(); })),
      status),
    el('div', { class: 'grid-2' }, el('div', {}, chartCard, legend), side)));
  const chart = new SymbolChart(chartCard, onMarker);

  function save() {
    sessionStorage.setItem(`aivex.symbol.${sym}`, new URLSearchParams({ limit: state.limit, interval: state.interval }).toString());
  }

  function drawLegend() {
    clear(legend).append(
      ...OVERLAYS.map(([key, label, colour]) => {
        const sw = el('span', { class: `sw ${key === 'bb' ? 'box' : ''}` });
        sw.style.background = getComputedStyle(document.documentElement).getPropertyValue(colour);
        const box = el('input', { type: 'checkbox', name: key, on: { change: () => { if (box.checked) state.show.add(key); else state.show.delete(key); chart.setOverlays(state.show); } } });
        box.checked = state.show.has(key);
        return el('label', {}, box, sw, label);
      }),
      el('span', {}, el('span', { class: 'marker-key allow' }, '●'), ' allowed  ', el('span', { class: 'marker-key deny' }, '●'), ' denied signal'));
  }

  function showTip(sig, m) {
    clear(tip).append(...explain(sig));
    tip.hidden = false;
    tip.dataset.signalId = sig.id;
    const r = m.getBoundingClientRect();
    const tw = tip.offsetWidth, th = tip.offsetHeight;
    let left = r.right + 10;
    if (left + tw > window.innerWidth - 8) left = Math.max(8, r.left - tw - 10);
    let top = Math.min(Math.max(8, r.top - th / 2), window.innerHeight - th - 8);
    tip.style.left = `${left}px`;
    tip.style.top = `${Math.max(8, top)}px`;
  }

  function hideTip() {
    tip.hidden = true;
    delete tip.dataset.signalId;
  }

  function onMarker(e, sig, m) {
    if (e.type === 'click') {
      if (pinned === m) { pinned.classList.remove('pinned'); pinned = null; hideTip(); return; }
      if (pinned) pinned.classList.remove('pinned');
      pinned = m; m.classList.add('pinned'); showTip(sig, m);
    } else if (e.type === 'mouseenter' || e.type === 'focus') {
      showTip(sig, m);
    } else if (!pinned) {
      hideTip();
    } else if (pinned !== m) {
      showTip(pinned.__sig || sig, pinned);
    }
    m.__sig = sig;
  }

  function drawSide() {
    const latest = state.signals.length ? state.signals.reduce((a, b) => (b.created_at_unix > a.created_at_unix ? b : a)) : null;
    clear(side).append(el('h2', {}, 'Latest signal'));
    if (!latest) { side.append(el('p', { class: 'muted' }, 'No signal for this symbol in this range.')); return; }
    side.append(...explain(latest));
    const allowed = state.signals.filter((s) => s.decision === 'allow').length;
    side.append(el('p', { class: 'muted' }, `${state.signals.length} signals in view · ${allowed} allowed · ${state.signals.length - allowed} denied`));
  }

  let seq = 0;
  async function load() {
    const mine = ++seq;
    status.textContent = 'loading…';
    try {
      const enc = encodeURIComponent(sym);
      const candles = await get(`/candles/${enc}?interval=${encodeURIComponent(state.interval)}&limit=${state.limit}`);
      const since = candles.t.length ? `&since=${encodeURIComponent(new Date(candles.t[0] * 1000).toISOString())}` : '';
      const signals = await allSignals(`/signals/${enc}?limit=1000${since}`);
      if (mine !== seq) return;
      state.candles = candles;
      state.signals = signals;
      chart.set(candles, signals);
      chart.setOverlays(state.show);
      drawLegend();
      drawSide();
      status.textContent = `${candles.bars} bars${candles.downsampled ? ` shown as ${candles.points} (×${candles.bucket_bars})` : ''} · ${chart.data.signals.length} signals`;
      rendered('symbol');
    } catch (e) {
      if (mine === seq) ctx.fail(chartCard, e);
    }
  }
  load();

  return {
    destroy() { chart.destroy(); hideTip(); },
    onEvent(ev) {
      if (ev.event !== 'signal' || !ev.data || ev.data.symbol !== sym || !state.candles) return;
      if (state.signals.some((s) => s.id === ev.data.id)) return;
      state.signals.push(ev.data);
      chart.set(state.candles, state.signals);
      drawSide();
    },
  };
}
