#!/usr/bin/env python3
"""Writes TA-Lib golden vectors for aivex-market's indicator tests.

Needs `pip install TA-Lib numpy` (only to regenerate; the Rust tests read the committed files).
Each output file crates/market/tests/golden/<name>.csv holds the input bars (floats printed with
repr, so they round-trip exactly) and TA-Lib's output for every indicator column, empty where
TA-Lib has no value:

    date,open,high,low,close,volume,<the 14 indicator columns of `aivex indicators`>

Inputs: a seeded random walk (300 bars, large volumes), a series with flat stretches (RSI of no
movement, zero deviation, collapsed bands) and the real-format demo file
config/demo/bars/AAPL.csv (Yahoo layout). Run from anywhere: python3 scripts/gen-talib-golden.py
"""
import csv
import datetime as dt
import math
import os
import random

import numpy as np
import talib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "crates", "market", "tests", "golden")
COLUMNS = ["sma_20", "sma_50", "ema_12", "ema_26", "rsi_14", "macd", "macd_signal", "macd_hist",
           "bb_upper", "bb_middle", "bb_lower", "bb_pctb", "atr_14", "volume_z_20"]


def random_walk(n=300, seed=20261120):
    rng = random.Random(seed)
    t0 = dt.date(2025, 1, 1)
    rows, c = [], 100.0
    for i in range(n):
        o = c * (1 + rng.gauss(0, 0.004))
        c = o * math.exp(rng.gauss(0.0003, 0.018))
        h = max(o, c) * (1 + abs(rng.gauss(0, 0.006)))
        lo = min(o, c) * (1 - abs(rng.gauss(0, 0.006)))
        v = float(round(3e7 * math.exp(rng.gauss(0, 0.5))))
        rows.append((t0 + dt.timedelta(days=i), o, h, lo, c, v))
    return rows


def flat_stretches():
    # 40 identical bars, a 30-bar ramp, then 40 identical again: exercises TA-Lib's zero rules.
    t0 = dt.date(2024, 3, 1)
    closes = [50.0] * 40 + [50.0 + 0.5 * i for i in range(1, 31)] + [65.0] * 40
    rows = []
    for i, c in enumerate(closes):
        rows.append((t0 + dt.timedelta(days=i), c, c + 0.25, c - 0.25, c, 1000.0 if i < 40 or i >= 70 else 1000.0 + 10 * i))
    return rows


def demo_csv(path):
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            rows.append((dt.date.fromisoformat(r["Date"]), float(r["Open"]), float(r["High"]),
                         float(r["Low"]), float(r["Close"]), float(r["Volume"])))
    return rows


def indicators(rows):
    o, h, lo, c, v = (np.array([r[k] for r in rows], dtype=np.float64) for k in range(1, 6))
    macd, sig, hist = talib.MACD(c, 12, 26, 9)
    up, mid, low = talib.BBANDS(c, 20, 2.0, 2.0, talib.MA_Type.SMA)
    width = up - low
    with np.errstate(divide="ignore", invalid="ignore"):
        pctb = np.where(np.abs(width) >= 1e-14, (c - low) / width, np.nan)
        vsd = talib.STDDEV(v, 20, 1.0)
        vz = np.where(vsd != 0.0, (v - talib.SMA(v, 20)) / vsd, np.nan)
    return {
        "sma_20": talib.SMA(c, 20), "sma_50": talib.SMA(c, 50),
        "ema_12": talib.EMA(c, 12), "ema_26": talib.EMA(c, 26), "rsi_14": talib.RSI(c, 14),
        "macd": macd, "macd_signal": sig, "macd_hist": hist,
        "bb_upper": up, "bb_middle": mid, "bb_lower": low, "bb_pctb": pctb,
        "atr_14": talib.ATR(h, lo, c, 14), "volume_z_20": vz,
    }


def cell(x):
    return "" if x is None or math.isnan(x) else repr(float(x))


def write(name, rows):
    out = indicators(rows)
    path = os.path.join(OUT, name + ".csv")
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["date", "open", "high", "low", "close", "volume"] + COLUMNS)
        for i, r in enumerate(rows):
            w.writerow([r[0].isoformat()] + [repr(float(x)) for x in r[1:]] + [cell(out[k][i]) for k in COLUMNS])
    print(f"wrote {path} ({len(rows)} bars)")


def main():
    os.makedirs(OUT, exist_ok=True)
    print("TA-Lib", talib.__ta_version__.decode() if isinstance(talib.__ta_version__, bytes) else talib.__ta_version__)
    write("random_walk", random_walk())
    write("flat_stretches", flat_stretches())
    write("demo_aapl", demo_csv(os.path.join(ROOT, "config", "demo", "bars", "AAPL.csv")))


if __name__ == "__main__":
    main()
