//! Bulk-ingest benchmark for the store (run by `scripts/bench-store`, not a test).
//!
//! It owns generating a deterministic OHLCV stream (symbols × bars, one symbol's bars in
//! memory at a time, so peak RSS measures the store and not the generator) and timing
//! either `Store::upsert_bars` or, for MySQL/MariaDB, `LOAD DATA LOCAL INFILE` of the same
//! rows through the driver's local-infile handler. It prints one line of `key=value` figures
//! including the process's peak RSS (VmHWM). It must not be used as a correctness test.
//!
//! Usage: bench_upsert MODE URL [SYMBOLS] [BARS] [WORKERS]
//!   MODE: upsert (two passes: fresh insert, then the identical batch again, one connection)
//!       | workers (the same two passes through `aivex_store::Workers`: this thread generates
//!         each symbol's batch while WORKERS connections, default 2, upsert earlier ones, one
//!         job and one transaction per symbol, as the chart module does)
//!       | load-data

use aivex_store::{OhlcvRow, Store};
use mysql::prelude::Queryable;
use std::io::Write;
use std::time::Instant;

fn bars_of(symbol_index: usize, bars: usize) -> Vec<OhlcvRow> {
    let symbol = format!("S{symbol_index:04}");
    // A cheap deterministic walk: the values differ per row, which is what matters for the
    // database; their realism does not.
    let mut state = (symbol_index as u64 + 1).wrapping_mul(6364136223846793005);
    let mut price = 100.0 + symbol_index as f64;
    (0..bars)
        .map(|i| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let step = ((state >> 33) % 2001) as f64 / 1000.0 - 1.0;
            price = (price + step).max(1.0);
            OhlcvRow {
                symbol: symbol.clone(),
                interval: "1m".into(),
                ts: 1_500_000_000 + i as i64 * 60,
                open: price,
                high: price + 0.5,
                low: price - 0.5,
                close: price + step / 2.0,
                adj_close: if i % 2 == 0 { Some(price) } else { None },
                volume: 1000.0 + (state >> 40) as f64,
                source: "bench".into(),
            }
        })
        .collect()
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn upsert(url: &str, symbols: usize, bars: usize) -> Result<(), String> {
    let mut store = Store::open(url).map_err(|e| e.to_string())?;
    store.migrate().map_err(|e| e.to_string())?;
    for pass in ["insert", "unchanged"] {
        let start = Instant::now();
        let mut rows = 0u64;
        let mut counts = aivex_store::UpsertCounts::default();
        for s in 0..symbols {
            let batch = bars_of(s, bars);
            counts.add(store.upsert_bars(&batch).map_err(|e| e.to_string())?);
            rows += batch.len() as u64;
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "mode=upsert backend={} pass={pass} rows={rows} inserted={} updated={} unchanged={} seconds={secs:.2} rows_per_s={:.0} peak_rss_kib={}",
            store.backend_name(),
            counts.inserted,
            counts.updated,
            counts.unchanged,
            rows as f64 / secs,
            peak_rss_kib()
        );
    }
    Ok(())
}

fn upsert_workers(url: &str, symbols: usize, bars: usize, workers: usize) -> Result<(), String> {
    let mut store = Store::open(url).map_err(|e| e.to_string())?;
    store.migrate().map_err(|e| e.to_string())?;
    let backend = store.backend_name();
    drop(store);
    type Done = aivex_store::Result<aivex_store::UpsertCounts>;
    let mut pool: aivex_store::Workers<Done> =
        aivex_store::Workers::open(url, workers).map_err(|e| e.to_string())?;
    for pass in ["insert", "unchanged"] {
        let start = Instant::now();
        let mut rows = 0u64;
        let mut counts = aivex_store::UpsertCounts::default();
        let mut take = |done: Option<Done>| -> Result<(), String> {
            if let Some(r) = done {
                counts.add(r.map_err(|e| e.to_string())?);
            }
            Ok(())
        };
        for s in 0..symbols {
            let batch = bars_of(s, bars);
            rows += batch.len() as u64;
            pool.submit(move |store| store.upsert_bars(&batch))
                .map_err(|e| e.to_string())?;
            while let Some(done) = pool.try_recv().map_err(|e| e.to_string())? {
                take(Some(done))?;
            }
        }
        while pool.pending() > 0 {
            let done = pool
                .recv_timeout(std::time::Duration::from_secs(1))
                .map_err(|e| e.to_string())?;
            take(done)?;
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "mode=workers workers={workers} backend={backend} pass={pass} rows={rows} inserted={} updated={} unchanged={} seconds={secs:.2} rows_per_s={:.0} peak_rss_kib={}",
            counts.inserted,
            counts.updated,
            counts.unchanged,
            rows as f64 / secs,
            peak_rss_kib()
        );
    }
    Ok(())
}

fn load_data(url: &str, symbols: usize, bars: usize) -> Result<(), String> {
    // The store creates the schema so both modes load into identical tables.
    let mut store = Store::open(url).map_err(|e| e.to_string())?;
    store.migrate().map_err(|e| e.to_string())?;
    drop(store);
    let opts = mysql::Opts::from_url(url).map_err(|e| e.to_string())?;
    let mut conn = mysql::Conn::new(opts).map_err(|e| e.to_string())?;
    conn.set_local_infile_handler(Some(mysql::LocalInfileHandler::new(move |_, out| {
        let mut line = String::with_capacity(128);
        for s in 0..symbols {
            for b in bars_of(s, bars) {
                line.clear();
                let adj = b.adj_close.map(|a| a.to_string()).unwrap_or_default();
                line.push_str(&format!(
                    "{},{},{},{},{},{},{},{},{},{}\n",
                    b.symbol,
                    b.interval,
                    b.ts,
                    b.open,
                    b.high,
                    b.low,
                    b.close,
                    adj,
                    b.volume,
                    b.source
                ));
                out.write_all(line.as_bytes())?;
            }
        }
        out.flush()
    })));
    let start = Instant::now();
    conn.query_drop(
        "LOAD DATA LOCAL INFILE 'aivex-bench' INTO TABLE ohlcv \
         FIELDS TERMINATED BY ',' LINES TERMINATED BY '\\n' \
         (symbol, `interval`, ts, open, high, low, close, @adj, volume, source) \
         SET adj_close = NULLIF(@adj, '')",
    )
    .map_err(|e| e.to_string())?;
    let secs = start.elapsed().as_secs_f64();
    let rows = conn.affected_rows();
    println!(
        "mode=load-data backend=mysql rows={rows} seconds={secs:.2} rows_per_s={:.0} peak_rss_kib={}",
        rows as f64 / secs,
        peak_rss_kib()
    );
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    let number = |i: usize, default: usize| arg(i).and_then(|v| v.parse().ok()).unwrap_or(default);
    let (Some(mode), Some(url)) = (arg(1), arg(2)) else {
        eprintln!("usage: bench_upsert upsert|workers|load-data URL [SYMBOLS] [BARS] [WORKERS]");
        std::process::exit(2);
    };
    let (symbols, bars) = (number(3, 500), number(4, 2000));
    let result = match mode {
        "upsert" => upsert(url, symbols, bars),
        "workers" => upsert_workers(url, symbols, bars, number(5, 2)),
        "load-data" => load_data(url, symbols, bars),
        other => Err(format!("unknown mode {other}")),
    };
    if let Err(e) = result {
        eprintln!("bench_upsert: {e}");
        std::process::exit(1);
    }
}
