//! Fault matrix, database row: the MariaDB server SIGKILLed in the middle of a chart cycle that
//! writes 100k bars, then restarted on the same data and port. The modules exit 75 while it is
//! gone and come back; afterwards the stored rows equal those of an undisturbed run of the same
//! inputs into another database of the same server: nothing lost, nothing duplicated.
//!
//! The server is this test's own (`scripts/mariadb-private`), since the test kills it.

use super::*;
use aivex_store::{SignalFilter, Store};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const SYMBOLS: [&str; 4] = ["KA", "KB", "KC", "KD"];
const BARS_PER_SYMBOL: usize = 25_000;

/// A private MariaDB instance, stopped and removed on drop.
struct Server {
    dir: PathBuf,
    port: String,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/mariadb-private")
}

impl Server {
    fn start(dir: PathBuf) -> Result<Server, String> {
        let out = Command::new(script())
            .arg("start")
            .arg(&dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let port = std::fs::read_to_string(dir.join("port")).map_err(|e| e.to_string())?;
        Ok(Server {
            dir,
            port: port.trim().to_string(),
        })
    }

    fn url(&self, db: &str) -> String {
        format!("mysql://aivex:aivexpw@127.0.0.1:{}/{db}", self.port)
    }

    /// One SQL statement through the admin socket; its tab-separated output.
    fn sql(&self, q: &str) -> Option<String> {
        let out = Command::new("mariadb")
            .arg("--no-defaults")
            .arg(format!(
                "--socket={}",
                self.dir.join("mysqld.sock").display()
            ))
            .args(["-uroot", "-N", "-B", "--connect-timeout=2", "-e", q])
            .stdin(Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    fn kill9(&self) -> i32 {
        let pid: i32 = std::fs::read_to_string(self.dir.join("mysqld.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // SAFETY: kill(2) on the test's own server process.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
        wait_dead(pid, secs(10.0));
        pid
    }

    fn resume(&self) {
        let out = Command::new(script())
            .arg("resume")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "restart failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .arg("stop")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .output();
    }
}

/// chart (one cycle an hour) and brain (every second) on `url`, bars in `bars/`.
fn configure(env: &Env) {
    let sources: Vec<String> = SYMBOLS
        .iter()
        .map(|s| {
            format!(
                "{{ symbol = \"{s}\", path = \"{}\" }}",
                env.path(&format!("bars/{s}.csv")).display()
            )
        })
        .collect();
    env.module(
        "chart",
        &format!(
            "builtin = \"chart\"\ninterval_s = 3600\n[settings]\ninterval = \"1m\"\nsources = [{}]\n",
            sources.join(", ")
        ),
    );
    // Inputs are old fixed bars: ages of a century keep freshness (and with it confidence)
    // the same to 1e-8 between two runs a minute apart.
    let symbols: Vec<String> = SYMBOLS.iter().map(|s| format!("\"{s}\"")).collect();
    env.module(
        "brain",
        &format!(
            "builtin = \"brain\"\ninterval_s = 1\n[settings]\nsymbols = [{}]\nonce_wait_s = 0\n\
             bar_interval = \"1m\"\n[settings.max_age_s]\nchart = 3153600000\nnews = 172800\nmetrics = 17280000\n\
             [settings.governor.max_input_age_s]\nchart = 3153600000\nnews = 172800\nmetrics = 17280000\n",
            symbols.join(", ")
        ),
    );
    for (i, s) in SYMBOLS.iter().enumerate() {
        let from = i * 1000;
        env.write(
            &format!("bars/{s}.csv"),
            &bars_csv(from..from + BARS_PER_SYMBOL, 60),
        );
    }
}

/// Every stored row of the four tables, as canonical lines: exact for bars and components;
/// for signals and decisions without the times of writing (created_at and recorded_at are the
/// run's clock, the rules' inputs hold input ages), confidence to 1e-6.
fn snapshot(url: &str) -> Vec<(&'static str, Vec<String>)> {
    let st = Store::open(url).unwrap();
    let mut bars = vec![];
    for s in SYMBOLS {
        for b in st.bars(s, "1m", None, None).unwrap() {
            bars.push(format!(
                "{s} {} {} {} {} {} {}",
                b.ts, b.open, b.high, b.low, b.close, b.volume
            ));
        }
    }
    let mut comps: Vec<String> = st
        .all_components()
        .unwrap()
        .into_iter()
        .map(|c| {
            format!(
                "{} {} {} {} {}",
                c.symbol, c.kind, c.value, c.as_of, c.detail
            )
        })
        .collect();
    comps.sort();
    let signals = st.signals_query(&SignalFilter::default()).unwrap();
    let mut sigs = vec![];
    let mut gov = vec![];
    for s in &signals {
        sigs.push(format!(
            "{} {} {} {:.9} {:.6} {} {} {} {}",
            s.id,
            s.symbol,
            s.direction,
            s.score,
            s.confidence,
            s.horizon_s,
            s.decision,
            s.reasons,
            s.origin
        ));
        for g in st.governor_log_for(&s.id).unwrap() {
            gov.push(format!(
                "{} {} {} {} {}",
                g.signal_id, g.symbol, g.decision, g.reason_codes, g.config_hash
            ));
        }
    }
    sigs.sort();
    gov.sort();
    vec![
        ("ohlcv", bars),
        ("components", comps),
        ("signals", sigs),
        ("governor_log", gov),
    ]
}

/// FNV-1a over the lines: the content checksum printed for the record.
fn checksum(lines: &[String]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for l in lines {
        for b in l.bytes().chain(std::iter::once(b'\n')) {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

fn exit_codes(env: &Env, m: &str) -> Vec<i64> {
    std::fs::read_to_string(env.run_dir().join("history.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["module"] == m && e["event"] == "exit")
        .map(|e| e["code"].as_i64().unwrap_or(-1))
        .collect()
}

#[test]
fn fault_mariadb_sigkilled_mid_chart_cycle_loses_and_duplicates_nothing() {
    let _t = Timed::start("fault_mariadb_sigkilled_mid_chart_cycle_loses_and_duplicates_nothing");
    let env = Env::new("f-mariadb-kill");
    let server = match Server::start(env.path("db")) {
        Ok(s) => s,
        Err(e) => {
            cannot_inject(&format!(
                "a MariaDB server kill: no private MariaDB server could start: {e}"
            ));
            return;
        }
    };
    server
        .sql("CREATE DATABASE aivex_ref; CREATE DATABASE aivex_hit")
        .unwrap();
    for db in ["aivex_ref", "aivex_hit"] {
        Store::open(&server.url(db)).unwrap().migrate().unwrap();
    }
    configure(&env);
    env.config("[runtime]\nenabled = [\"chart\", \"brain\"]\n");

    // The undisturbed run: once mode into `ref`.
    let out = {
        let mut c = env.cmd(&["run", "--config", "aivex.toml", "--mode", "once"]);
        c.env("AIVEX_DATABASE_URL", server.url("aivex_ref"));
        let child = c
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        rx.recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| {
                // SAFETY: kill(2) on our own child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                panic!("the undisturbed once run did not finish within 120 s")
            })
    }
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));

    // The disturbed run: supervised, into `hit`; the server dies once rows start landing.
    let mut sup = env.start_with(&[], &[("AIVEX_DATABASE_URL", &server.url("aivex_hit"))]);
    let total = SYMBOLS.len() * BARS_PER_SYMBOL;
    let seen = wait_for("the first committed bars", secs(60.0), || {
        let n: usize = server
            .sql("SELECT COUNT(*) FROM aivex_hit.ohlcv")?
            .parse()
            .ok()?;
        (n > 0).then_some(n)
    });
    assert!(
        seen < total,
        "the cycle finished before the kill ({seen} rows): no fault injected"
    );
    let killed = server.kill9();
    eprintln!(
        "fault matrix: MariaDB (pid {killed}) SIGKILLed with {seen} of {total} bars committed"
    );
    // Both modules find the database gone and exit 75, and are restarted while it is down.
    wait_for(
        "chart and brain to exit 75 during the outage",
        secs(30.0),
        || {
            let ok = |m| exit_codes(&env, m).iter().filter(|&&c| c == 75).count() >= 2;
            (ok("chart") && ok("brain")).then_some(())
        },
    );
    server.resume();
    // They come back: every bar, a component and a signal per symbol.
    let hit = server.url("aivex_hit");
    wait_for(
        "the pipeline to finish on the restarted server",
        secs(90.0),
        || {
            let n: usize = server
                .sql("SELECT COUNT(*) FROM aivex_hit.ohlcv")?
                .parse()
                .ok()?;
            let s: usize = server
                .sql("SELECT COUNT(DISTINCT symbol) FROM aivex_hit.signals")?
                .parse()
                .ok()?;
            (n == total && s == SYMBOLS.len()).then_some(())
        },
    );
    // brain writes only when inputs change: one more second of cycles adds nothing.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(sup.stop(), Some(0));
    let codes: Vec<i64> = ["chart", "brain"]
        .iter()
        .flat_map(|m| exit_codes(&env, m))
        .collect();
    assert!(
        codes.iter().all(|&c| c == 75 || c == 0),
        "exits other than 75 (and 0 at the stop): {codes:?}"
    );
    let s = env.state().unwrap();
    for m in ["chart", "brain"] {
        assert_eq!(s["modules"][m]["consecutive_failures"], 0, "{m}: {s}");
    }

    let want = snapshot(&server.url("aivex_ref"));
    let got = snapshot(&hit);
    for ((table, w), (_, g)) in want.iter().zip(&got) {
        eprintln!(
            "fault matrix: {table}: undisturbed {} rows {:016x}, disturbed {} rows {:016x}",
            w.len(),
            checksum(w),
            g.len(),
            checksum(g)
        );
        if w != g {
            let first = w.iter().zip(g).find(|(a, b)| a != b);
            panic!(
                "{table} differs: {} vs {} rows; first difference {first:?}",
                w.len(),
                g.len()
            );
        }
    }
    assert_eq!(want[0].1.len(), total);
    assert!(!want[2].1.is_empty());
}
