// DOM building and formatting shared by every view. Text always goes in through textContent
// (never innerHTML), so nothing a module or a feed wrote can become markup. No network here.

/** Creates an element: attrs keys are `class`, `text`, `data` (an object), `on` (events) or
 *  plain attributes; children are nodes, strings or null. */
export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = String(v);
    else if (k === 'data') for (const [dk, dv] of Object.entries(v)) e.dataset[dk] = String(dv);
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

/** A CSS custom property's value (the charts draw in the page's colours). */
export function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

const pad = (n) => String(n).padStart(2, '0');

/** Unix seconds as `YYYY-MM-DD HH:MMZ` (UTC: the box and its feeds speak UTC). */
export function time(unix) {
  if (unix === null || unix === undefined) return '—';
  const d = new Date(unix * 1000);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}Z`;
}

/** Unix seconds as `YYYY-MM-DD` (UTC). */
export function date(unix) {
  const d = new Date(unix * 1000);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

/** A duration in seconds, short: `42s`, `5m`, `3h 20m`, `12d`. */
export function dur(s) {
  if (s === null || s === undefined || !isFinite(s)) return '—';
  s = Math.max(0, s);
  if (s < 60) return `${Math.round(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d`;
}

export function nowUnix() {
  return Date.now() / 1000;
}

/** How long ago a Unix time was. */
export function age(unix) {
  return unix === null || unix === undefined ? '—' : dur(nowUnix() - unix);
}

export function num(x, digits = 2) {
  return typeof x === 'number' && isFinite(x) ? x.toFixed(digits) : '—';
}

export function pct(x, digits = 0) {
  return typeof x === 'number' && isFinite(x) ? `${(x * 100).toFixed(digits)}%` : '—';
}

export function bytes(n) {
  if (typeof n !== 'number') return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

/** ▲ long / ▼ short / ● neutral, as an element. */
export function direction(d) {
  const [cls, sym, word] = d > 0 ? ['long', '▲', 'long'] : d < 0 ? ['short', '▼', 'short'] : ['flat', '●', 'neutral'];
  return el('span', { class: `dir ${cls}`, title: word }, `${sym} ${word}`);
}

export function badge(text, cls) {
  return el('span', { class: `badge ${cls || text}` }, text);
}

export function chips(codes) {
  return (codes || []).map((c) => el('span', { class: 'chip' }, c));
}

/** A `<select>` with `[value, label]` options. */
export function select(name, options, value, onChange) {
  const s = el('select', { name, on: { change: () => onChange(s.value) } },
    options.map(([v, label]) => el('option', { value: v }, label)));
  s.value = value;
  return s;
}

/** Colour for a reason code: stable per code, from the page's palette. */
const CODE_ORDER = ['HALTED', 'BLACKLISTED', 'NOT_ALLOWLISTED', 'OUTSIDE_HOURS', 'NEUTRAL',
  'MIN_CONFIDENCE', 'STALE_INPUT', 'COOLDOWN_ACTIVE', 'WINDOW_LIMIT'];
export function codeColour(code) {
  let i = CODE_ORDER.indexOf(code);
  if (i < 0) i = [...code].reduce((a, c) => (a * 31 + c.charCodeAt(0)) >>> 0, 7) % 9;
  return cssVar(`--r${i + 1}`);
}

/** Resizes a canvas's backing store to its CSS size × devicePixelRatio; returns the 2D
 *  context scaled to CSS pixels and the size, or null while it has no size. */
export function fit(canvas) {
  const r = canvas.getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(r.width)), h = Math.max(1, Math.round(r.height));
  if (r.width < 2 || r.height < 2) return null;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  return { ctx, w, h };
}

/** Nice tick values covering [lo, hi], about `n` of them. */
export function ticks(lo, hi, n) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, n);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toFixed(10));
  return out;
}

/** Marks a view as rendered: a performance mark (the benchmark reads it) and a data
 *  attribute the browser tests wait for. */
export function rendered(view) {
  const name = `aivex:render:${view}`;
  if (!performance.getEntriesByName(name).length) performance.mark(name);
  document.documentElement.dataset.ready = view;
}
