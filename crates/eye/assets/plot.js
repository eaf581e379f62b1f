// Two small canvas charts: stacked bars over time (the governor's decisions by reason) and the
// reliability diagram (hit rate by confidence decile against the diagonal). No network.

import { cssVar, date, fit, ticks, time } from './util.js';

const L = 40, R = 10, T = 10, B = 24;

/** buckets: [{t, stacks: [{value, colour}]}]; bucketS: their length in seconds. */
export function stackedBars(canvas, buckets, bucketS) {
  const f = fit(canvas);
  if (!f) return;
  const { ctx, w, h } = f;
  const max = Math.max(1, ...buckets.map((b) => b.stacks.reduce((a, s) => a + s.value, 0)));
  const Y = (v) => h - B - (v / max) * (h - B - T);
  ctx.font = '11px system-ui, sans-serif';
  ctx.strokeStyle = cssVar('--grid');
  ctx.fillStyle = cssVar('--muted');
  for (const v of ticks(0, max, 4)) {
    if (v !== Math.round(v)) continue;
    const y = Math.round(Y(v)) + 0.5;
    ctx.beginPath(); ctx.moveTo(L, y); ctx.lineTo(w - R, y); ctx.stroke();
    ctx.fillText(String(v), 4, y + 4);
  }
  const n = Math.max(1, buckets.length);
  const slot = (w - L - R) / n;
  const bw = Math.max(1, slot * 0.8);
  buckets.forEach((b, i) => {
    let acc = 0;
    for (const s of b.stacks) {
      if (!s.value) continue;
      ctx.fillStyle = s.colour;
      const y1 = Y(acc + s.value), y0 = Y(acc);
      ctx.fillRect(L + i * slot + (slot - bw) / 2, y1, bw, Math.max(1, y0 - y1));
      acc += s.value;
    }
  });
  ctx.fillStyle = cssVar('--muted');
  const labels = Math.max(2, Math.floor((w - L) / 110));
  for (let k = 0; k < labels && buckets.length; k++) {
    const i = Math.round((k * (buckets.length - 1)) / Math.max(1, labels - 1));
    const t = buckets[i].t;
    const label = bucketS < 86400 ? time(t).slice(5) : date(t);
    ctx.fillText(label, Math.min(L + i * slot, w - 80), h - 6);
  }
}

/** buckets: /quality's `buckets` ({lo, hi, n, hit_rate}). Bars: observed hit rate per decile;
 *  the diagonal is perfect calibration; each bar is labelled with its count. */
export function reliability(canvas, buckets) {
  const f = fit(canvas);
  if (!f) return;
  const { ctx, w, h } = f;
  const X = (p) => L + p * (w - L - R);
  const Y = (p) => h - B - p * (h - B - T);
  ctx.font = '11px system-ui, sans-serif';
  ctx.strokeStyle = cssVar('--grid');
  ctx.fillStyle = cssVar('--muted');
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    const y = Math.round(Y(v)) + 0.5;
    ctx.beginPath(); ctx.moveTo(L, y); ctx.lineTo(w - R, y); ctx.stroke();
    ctx.fillText(`${v * 100}%`, 4, y + 4);
  }
  for (const v of [0, 0.2, 0.4, 0.6, 0.8, 1]) ctx.fillText(v.toFixed(1), X(v) - 8, h - 6);
  const accent = cssVar('--accent');
  for (const b of buckets) {
    if (!b.n || b.hit_rate == null) continue;
    const x0 = X(b.lo) + 2, x1 = X(b.hi) - 2;
    ctx.fillStyle = accent;
    ctx.globalAlpha = 0.75;
    ctx.fillRect(x0, Y(b.hit_rate), x1 - x0, Y(0) - Y(b.hit_rate));
    ctx.globalAlpha = 1;
    ctx.fillStyle = cssVar('--muted');
    ctx.fillText(`n=${b.n}`, x0, Math.max(T + 10, Y(b.hit_rate) - 4));
  }
  ctx.strokeStyle = cssVar('--deny');
  ctx.setLineDash([5, 4]);
  ctx.beginPath(); ctx.moveTo(X(0), Y(0)); ctx.lineTo(X(1), Y(1)); ctx.stroke();
  ctx.setLineDash([]);
}
