//! Fault matrix, store row: the SQLite store locked by another process for 30 s while the chart
//! module has bars to write. Writers wait out the busy timeout, then exit 75 and are restarted
//! soon (not counted as failures); afterwards the file is intact and every bar is stored once.

use super::*;
use aivex_store::Store;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Holds `BEGIN EXCLUSIVE` on the database for `argv[2]` seconds, saying when it has the lock.
const LOCKER: &str = r#"import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
print("released", flush=True)
"#;

const INTEGRITY: &str = r#"import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=30)
print(db.execute("PRAGMA integrity_check").fetchone()[0])
"#;

fn python(script: &str, args: &[&str]) -> Command {
    let mut c = Command::new("python3");
    c.arg("-c").arg(script).args(args);
    // A helper, not under test: the real clock (scripts/test-shifted preloads libfaketime,
    // under which Python's monotonic sleep fails with EINVAL).
    c.env_remove("LD_PRELOAD").env_remove("FAKETIME");
    c
}

fn chart_exit_codes(env: &Env) -> Vec<i64> {
    std::fs::read_to_string(env.run_dir().join("history.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["module"] == "chart" && e["event"] == "exit")
        .map(|e| e["code"].as_i64().unwrap_or(-1))
        .collect()
}

#[test]
fn fault_sqlite_locked_30s_writers_wait_or_exit_75() {
    let _t = Timed::start("fault_sqlite_locked_30s_writers_wait_or_exit_75");
    let env = Env::new("f-sqlite-lock");
    env.write("bars/LCK.csv", &bars_csv(0..200, 86_400));
    env.config("[runtime]\nenabled = [\"chart\"]\n");
    env.module(
        "chart",
        &format!(
            "builtin = \"chart\"\ninterval_s = 0.5\nheartbeat_ttl_s = 4\n[settings]\n\
             sources = [{{ symbol = \"LCK\", path = \"{}\" }}]\n",
            env.path("bars/LCK.csv").display()
        ),
    );
    let db = env.path("data/aivex.sqlite");
    let url = format!("sqlite://{}", db.display());
    let mut sup = env.start(&[]);
    let count = |store: &Store| {
        store
            .bars("LCK", "1d", None, None)
            .map(|b| b.len())
            .unwrap_or(0)
    };
    let store = wait_for("the store file", secs(20.0), || Store::open(&url).ok());
    wait_for("200 bars stored", secs(20.0), || {
        (count(&store) == 200).then_some(())
    });
    drop(store);

    let mut locker = python(LOCKER, &[&db.display().to_string(), "30"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    {
        use std::io::BufRead;
        let out = locker.stdout.as_mut().unwrap();
        std::io::BufReader::new(out).read_line(&mut line).unwrap();
    }
    assert_eq!(line.trim(), "locked");
    let locked_at = Instant::now();
    let exits_before = chart_exit_codes(&env).len();
    // New bars arrive while the store is locked: the chart module has something to write.
    env.write("bars/LCK.csv", &bars_csv(0..250, 86_400));
    let status = wait_for("the locker to finish", secs(45.0), || {
        locker.try_wait().unwrap()
    });
    assert!(status.success(), "the locking helper failed");
    let held = locked_at.elapsed();
    assert!(held >= Duration::from_secs(29), "lock held only {held:?}");

    let during: Vec<i64> = chart_exit_codes(&env)[exits_before..].to_vec();
    eprintln!("fault matrix: chart exits during the 30 s lock: {during:?}");
    assert!(
        !during.is_empty(),
        "a 30 s lock outlasts the 10 s busy timeout: chart must have exited"
    );
    assert!(
        during.iter().all(|&c| c == 75),
        "chart exits while locked: {during:?}"
    );
    let s = env.state().unwrap();
    let chart = &s["modules"]["chart"];
    assert_eq!(
        chart["consecutive_failures"], 0,
        "exit 75 is no failure: {s}"
    );
    assert!(
        chart["state"] == "RUNNING" || chart["state"] == "RESTARTING",
        "{s}"
    );
    let recs = crash_records(&env, "chart");
    assert!(
        !recs.iter().any(|r| r["class"] == "StaleHeartbeat"),
        "{recs:?}"
    );

    // The pipeline resumes: the 50 new bars land, each once.
    let store = Store::open(&url).unwrap();
    wait_for("250 bars stored after the lock", secs(30.0), || {
        (count(&store) == 250).then_some(())
    });
    assert_eq!(sup.stop(), Some(0));
    let out = python(INTEGRITY, &[&db.display().to_string()])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok", "{out:?}");
    assert_eq!(count(&store), 250);
    let comps = store.components_for("LCK").unwrap();
    assert_eq!(comps.len(), 1, "{comps:?}");
}
