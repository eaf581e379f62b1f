#!/usr/bin/env python3
"""gen-demo-history: writes config/demo/bars/history/<SYMBOL>.csv, the year and a quarter of
daily bars before each shipped demo series starts (2024-08-01 .. 2025-11-20), so that brain's
365-day back-fill has its indicators warmed up from the window's first day, whatever the date.

Real-shaped, not real: each series walks backwards from the first shipped bar's open with the
shipped series' own daily volatility (log returns, a little volatility clustering), intraday
ranges and volume level, on weekdays for stocks and every day for BTCUSDT, with a fixed seed, so
running it again gives the same files. Usage: scripts/gen-demo-history.py (from the repository).
"""
import csv
import datetime as dt
import json
import math
import random
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BARS = ROOT / "config/demo/bars"
OUT = BARS / "history"
START = dt.date(2024, 8, 1)


def shipped(symbol):
    """(first date, rows as dicts of floats, has Adj Close) of the shipped series."""
    if symbol == "BTCUSDT":
        k = json.loads((BARS / "BTCUSDT.json").read_text())
        rows = [
            {"Open": float(x[1]), "High": float(x[2]), "Low": float(x[3]),
             "Close": float(x[4]), "Volume": float(x[5])}
            for x in k
        ]
        first = dt.datetime.fromtimestamp(k[0][0] / 1000, dt.timezone.utc).date()
        return first, rows, False
    with open(BARS / f"{symbol}.csv") as f:
        raw = list(csv.DictReader(f))
    rows = [{k: float(v) for k, v in r.items() if k != "Date"} for r in raw]
    return dt.date.fromisoformat(raw[0]["Date"]), rows, "Adj Close" in raw[0]


def days(first, every_day):
    d, out = first - dt.timedelta(days=1), []
    while d >= START:
        if every_day or d.weekday() < 5:
            out.append(d)
        d -= dt.timedelta(days=1)
    return out  # newest first


def generate(symbol, seed):
    first, rows, adj = shipped(symbol)
    closes = [r["Close"] for r in rows]
    rets = [math.log(closes[i] / closes[i - 1]) for i in range(1, len(closes))]
    sigma = statistics.stdev(rets)
    hl = statistics.mean((r["High"] - r["Low"]) / r["Close"] for r in rows)
    vol_mean = statistics.mean(r["Volume"] for r in rows)
    rng = random.Random(seed)
    dates = days(first, symbol == "BTCUSDT")
    # Daily returns with volatility clustering (the day's sigma drifts around the series'
    # own), then shifted so the whole stretch gains a moderate `target` (a bridge), so that
    # no series drifts to an implausible level by chance.
    s, rets, sigmas = sigma, [], []
    for _ in dates:
        s = max(0.4 * sigma, min(2.5 * sigma, s * math.exp(rng.gauss(0, 0.15)) * (sigma / s) ** 0.1))
        sigmas.append(s)
        rets.append(rng.gauss(0, s))
    target = rng.uniform(-0.15, 0.30)
    shift = (target - sum(rets)) / len(rets)
    rets = [r + shift for r in rets]
    out = []
    close = rows[0]["Open"]
    for d, r, s in zip(dates, rets, sigmas):
        open_ = close / math.exp(rng.gauss(0, s * 0.3))
        high = max(open_, close) * (1 + abs(rng.gauss(0, hl * 0.4)))
        low = min(open_, close) * (1 - abs(rng.gauss(0, hl * 0.4)))
        volume = vol_mean * math.exp(rng.gauss(0, 0.35)) * (1 + 3 * abs(r) / sigma * 0.1)
        out.append((d, open_, high, low, close, volume))
        close = open_ / math.exp(r)  # the previous day's close
    out.reverse()
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / f"{symbol}.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["Date", "Open", "High", "Low", "Close"] + (["Adj Close"] if adj else []) + ["Volume"])
        for d, o, h, l, c, v in out:
            prec = 2 if symbol == "BTCUSDT" or c > 50 else 4
            row = [d.isoformat(), f"{o:.{prec}f}", f"{h:.{prec}f}", f"{l:.{prec}f}", f"{c:.{prec}f}"]
            if adj:
                row.append(f"{c * 0.996:.{prec}f}")
            row.append(f"{v:.5f}" if symbol == "BTCUSDT" else str(int(v)))
            w.writerow(row)
    print(f"{symbol}: {len(out)} bars {out[0][0]} .. {out[-1][0]}")


for i, sym in enumerate(["AAPL", "MSFT", "NVDA", "SPY", "BTCUSDT"]):
    generate(sym, 1515 + i)
