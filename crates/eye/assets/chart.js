// The symbol chart, drawn on canvas: candles (or a close line when bars are thinner than 3 px),
// the chart module's SMA/EMA lines and Bollinger band, the composite score beneath, and one
// marker per signal (a DOM button over the canvas, so it can be hovered, focused and counted)
// coloured by the governor's decision. No network: the symbol view hands it the data.

import { clear, cssVar, date, el, fit, num, ticks, time } from './util.js';

const AXIS = 58; // px on the right for price labels
const PAD = 8;

export const OVERLAYS = [
  ['sma_20', 'SMA 20', '--sma20'],
  ['sma_50', 'SMA 50', '--sma50'],
  ['ema_12', 'EMA 12', '--ema12'],
  ['ema_26', 'EMA 26', '--ema26'],
  ['bb', 'Bollinger 20/2', '--bb-line'],
];

/** Index of the last point with t <= x (binary search); -1 when none. */
function lastAtOrBefore(t, x) {
  let lo = 0, hi = t.length - 1, ans = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (t[mid] <= x) { ans = mid; lo = mid + 1; } else hi = mid - 1;
  }
  return ans;
}

export class SymbolChart {
  constructor(container, onMarker) {
    this.onMarker = onMarker;
    this.price = el('canvas', { class: 'price', id: 'price-canvas', 'aria-label': 'price chart' });
    this.markers = el('div', { class: 'markers', id: 'markers' });
    this.score = el('canvas', { class: 'score', id: 'score-canvas', 'aria-label': 'composite score' });
    this.readout = el('div', { class: 'readout' });
    this.box = el('div', { class: 'chart-box' }, this.price, this.markers);
    clear(container).append(this.box, el('div', { class: 'readout muted' }, 'Composite score (−1 … 1), one point per signal'), this.score, this.readout);
    this.data = null;
    this.show = new Set(OVERLAYS.map((o) => o[0]));
    this.price.addEventListener('mousemove', (e) => this.hover(e));
    this.price.addEventListener('mouseleave', () => { this.readout.textContent = ''; });
    this.resize = new ResizeObserver(() => this.draw());
    this.resize.observe(this.box);
  }

  destroy() { this.resize.disconnect(); }

  /** candles: the /candles body; signals: /signals/{symbol} items (any order). */
  set(candles, signals) {
    const sorted = [...signals].sort((a, b) => a.created_at_unix - b.created_at_unix);
    const t = candles.t;
    const step = t.length > 1 ? (t[t.length - 1] - t[0]) / (t.length - 1) : 86400;
    const first = t.length ? t[0] : (sorted.length ? sorted[0].created_at_unix : 0);
    let last = t.length ? t[t.length - 1] + step : first + 1;
    if (sorted.length) last = Math.max(last, sorted[sorted.length - 1].created_at_unix);
    const inView = sorted.filter((s) => s.created_at_unix >= first && s.created_at_unix <= last);
    this.data = { c: candles, signals: inView, t0: first, t1: Math.max(last, first + 1), step };
    this.draw();
  }

  setOverlays(show) { this.show = show; this.draw(); }

  x(t, w) {
    const { t0, t1 } = this.data;
    return PAD + ((t - t0) / (t1 - t0)) * (w - AXIS - 2 * PAD);
  }

  draw() {
    if (!this.data) return;
    const f = fit(this.price);
    const g = fit(this.score);
    if (!f || !g) return;
    this.drawPrice(f);
    this.drawScore(g);
    this.placeMarkers(f);
  }

  drawPrice({ ctx, w, h }) {
    const { c } = this.data;
    const ind = c.indicators || {};
    const n = c.t.length;
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < n; i++) {
      lo = Math.min(lo, c.low[i]); hi = Math.max(hi, c.high[i]);
      if (this.show.has('bb')) {
        if (ind.bb_lower[i] != null) lo = Math.min(lo, ind.bb_lower[i]);
        if (ind.bb_upper[i] != null) hi = Math.max(hi, ind.bb_upper[i]);
      }
    }
    if (!isFinite(lo)) { lo = 0; hi = 1; }
    const padY = (hi - lo) * 0.06 || 1;
    lo -= padY; hi += padY;
    const top = PAD, bottom = h - 22;
    const Y = (v) => bottom - ((v - lo) / (hi - lo)) * (bottom - top);
    this.Y = Y;
    ctx.font = '11px system-ui, sans-serif';
    // Grid and price axis.
    ctx.strokeStyle = cssVar('--grid');
    ctx.fillStyle = cssVar('--muted');
    ctx.lineWidth = 1;
    for (const v of ticks(lo, hi, 6)) {
      const y = Math.round(Y(v)) + 0.5;
      ctx.beginPath(); ctx.moveTo(PAD, y); ctx.lineTo(w - AXIS, y); ctx.stroke();
      ctx.fillText(num(v, v >= 1000 ? 0 : 2), w - AXIS + 6, y + 4);
    }
    this.timeAxis(ctx, w, h);
    if (!n) {
      ctx.fillText('no bars for this interval', w / 2 - 60, h / 2);
      return;
    }
    const X = (t) => this.x(t, w);
    const barW = (w - AXIS - 2 * PAD) / Math.max(1, (this.data.t1 - this.data.t0) / this.data.step);
    // Bollinger band under everything.
    if (this.show.has('bb')) {
      ctx.fillStyle = cssVar('--bb');
      ctx.beginPath();
      let started = false;
      const idx = [];
      for (let i = 0; i < n; i++) if (ind.bb_upper[i] != null && ind.bb_lower[i] != null) idx.push(i);
      for (const i of idx) { const px = X(c.t[i]) + barW / 2; if (!started) { ctx.moveTo(px, Y(ind.bb_upper[i])); started = true; } else ctx.lineTo(px, Y(ind.bb_upper[i])); }
      for (const i of idx.reverse()) ctx.lineTo(X(c.t[i]) + barW / 2, Y(ind.bb_lower[i]));
      ctx.closePath();
      if (started) ctx.fill();
      this.line(ctx, c.t, ind.bb_upper, X, Y, barW, cssVar('--bb-line'));
      this.line(ctx, c.t, ind.bb_lower, X, Y, barW, cssVar('--bb-line'));
    }
    if (barW >= 3) {
      const body = Math.max(1, Math.min(barW * 0.7, 14));
      const up = cssVar('--candle-up'), down = cssVar('--candle-down');
      for (let i = 0; i < n; i++) {
        const cx = Math.round(X(c.t[i]) + barW / 2) + 0.5;
        const rising = c.close[i] >= c.open[i];
        ctx.strokeStyle = ctx.fillStyle = rising ? up : down;
        ctx.beginPath(); ctx.moveTo(cx, Y(c.high[i])); ctx.lineTo(cx, Y(c.low[i])); ctx.stroke();
        const y1 = Y(Math.max(c.open[i], c.close[i])), y2 = Y(Math.min(c.open[i], c.close[i]));
        ctx.fillRect(cx - body / 2, y1, body, Math.max(1, y2 - y1));
      }
    } else {
      this.line(ctx, c.t, c.close, X, Y, barW, cssVar('--price'), 1.5);
    }
    for (const [key, , colour] of OVERLAYS) {
      if (key !== 'bb' && this.show.has(key) && ind[key]) this.line(ctx, c.t, ind[key], X, Y, barW, cssVar(colour), 1.4);
    }
  }

  line(ctx, t, v, X, Y, barW, colour, width = 1) {
    ctx.strokeStyle = colour;
    ctx.lineWidth = width;
    ctx.beginPath();
    let pen = false;
    for (let i = 0; i < t.length; i++) {
      if (v[i] == null) { pen = false; continue; }
      const px = X(t[i]) + barW / 2, py = Y(v[i]);
      if (pen) ctx.lineTo(px, py); else { ctx.moveTo(px, py); pen = true; }
    }
    ctx.stroke();
    ctx.lineWidth = 1;
  }

  timeAxis(ctx, w, h) {
    const { t0, t1 } = this.data;
    const short = t1 - t0 < 3 * 86400;
    const count = Math.max(2, Math.floor((w - AXIS) / 110));
    ctx.fillStyle = cssVar('--muted');
    for (let i = 0; i <= count; i++) {
      const t = t0 + ((t1 - t0) * i) / count;
      const label = short ? time(t).slice(5) : date(t);
      const x = Math.min(Math.max(this.x(t, w) - 30, 0), w - AXIS - 60);
      ctx.fillText(label, x, h - 6);
    }
  }

  drawScore({ ctx, w, h }) {
    const top = 6, bottom = h - 6;
    const Y = (v) => bottom - ((v + 1) / 2) * (bottom - top);
    ctx.font = '11px system-ui, sans-serif';
    ctx.strokeStyle = cssVar('--grid');
    ctx.fillStyle = cssVar('--muted');
    for (const v of [-1, -0.5, 0, 0.5, 1]) {
      const y = Math.round(Y(v)) + 0.5;
      ctx.beginPath(); ctx.moveTo(PAD, y); ctx.lineTo(w - AXIS, y); ctx.stroke();
      ctx.fillText(v.toFixed(1), w - AXIS + 6, y + 4);
    }
    const s = this.data.signals;
    if (!s.length) return;
    ctx.strokeStyle = cssVar('--score');
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    s.forEach((sig, i) => {
      const px = this.x(sig.created_at_unix, w), py = Y(Math.max(-1, Math.min(1, sig.score)));
      if (i) ctx.lineTo(px, py); else ctx.moveTo(px, py);
    });
    ctx.stroke();
    ctx.lineWidth = 1;
    const allow = cssVar('--allow'), deny = cssVar('--deny');
    for (const sig of s) {
      ctx.fillStyle = sig.decision === 'allow' ? allow : deny;
      ctx.beginPath();
      ctx.arc(this.x(sig.created_at_unix, w), Y(Math.max(-1, Math.min(1, sig.score))), 2.5, 0, Math.PI * 2);
      ctx.fill();
    }
  }

  placeMarkers({ w }) {
    const { c, signals } = this.data;
    clear(this.markers);
    this.markers.style.height = `${this.price.getBoundingClientRect().height}px`;
    for (const sig of signals) {
      const i = lastAtOrBefore(c.t, sig.created_at_unix);
      const close = c.close.length ? c.close[Math.max(0, i)] : null;
      const dir = sig.direction > 0 ? 'long' : sig.direction < 0 ? 'short' : 'neutral';
      const m = el('button', {
        class: `marker ${sig.decision === 'allow' ? 'allow' : 'deny'} ${dir}`,
        type: 'button',
        'aria-label': `${sig.decision} ${dir} signal at ${time(sig.created_at_unix)}`,
        data: { id: sig.id, decision: sig.decision },
      });
      m.style.left = `${this.x(sig.created_at_unix, w)}px`;
      m.style.top = `${close == null || !this.Y ? 20 : this.Y(close)}px`;
      for (const ev of ['mouseenter', 'mouseleave', 'focus', 'blur', 'click']) m.addEventListener(ev, (e) => this.onMarker(e, sig, m));
      this.markers.append(m);
    }
  }

  hover(e) {
    const { c } = this.data || {};
    if (!c || !c.t.length) return;
    const r = this.price.getBoundingClientRect();
    const { t0, t1 } = this.data;
    const t = t0 + ((e.clientX - r.left - PAD) / (r.width - AXIS - 2 * PAD)) * (t1 - t0);
    const i = Math.max(0, lastAtOrBefore(c.t, t));
    const ind = c.indicators || {};
    const parts = [time(c.t[i]), `O ${num(c.open[i])}`, `H ${num(c.high[i])}`, `L ${num(c.low[i])}`, `C ${num(c.close[i])}`];
    for (const [key, label] of OVERLAYS) if (key !== 'bb' && ind[key]) parts.push(`${label} ${num(ind[key][i])}`);
    if (ind.bb_upper) parts.push(`BB ${num(ind.bb_lower[i])}–${num(ind.bb_upper[i])}`);
    this.readout.textContent = parts.join('  ·  ');
  }
}
