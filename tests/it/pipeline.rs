//! The whole pipeline under the supervisor in once mode on the demo data: a copy of config/
//! (the demo dated relative to today, see `fixtures`) and modules/ in a temp directory (so
//! data/ lands there), `aivex run --mode once`, then the
//! rows every stage produced (ohlcv, news_articles, fundamentals, components, signals,
//! governor_log) and brain's exports. Once on SQLite, once on MariaDB (`AIVEX_TEST_MYSQL_URL`,
//! a fresh database per run; required under CI).

use crate::harness::*;
use aivex_store::{SignalFilter, Store};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const SYMBOLS: [&str; 5] = ["AAPL", "BTCUSDT", "MSFT", "NVDA", "SPY"];

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A temp directory holding copies of the repository's config/ (its demo data dated so that it
/// ends yesterday, whatever the day) and modules/.
pub(crate) fn demo_env(name: &str) -> Env {
    let env = Env::new(name);
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate::fixtures::dated_config(&env.path("config"));
    for m in ["chart", "news", "metrics", "brain", "eye"] {
        copy_dir(&repo.join("modules").join(m), &env.path("modules").join(m));
    }
    env
}

/// `aivex run --config config/aivex.toml --mode once` with the default enabled modules.
fn run_once(env: &Env, database_url: Option<&str>) -> String {
    let mut c = env.cmd(&["run", "--config", "config/aivex.toml", "--mode", "once"]);
    // Eye serves on an ephemeral port: tests run in parallel and 8080 may be taken.
    c.env("AIVEX_EYE_ADDR", "127.0.0.1:0");
    if let Some(url) = database_url {
        c.env("AIVEX_DATABASE_URL", url);
    }
    let child = c
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_child(child, Duration::from_secs(180));
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "once run failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stderr
}

fn wait_child(mut child: std::process::Child, deadline: Duration) -> std::process::Output {
    let end = std::time::Instant::now() + deadline;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > end {
            let _ = child.kill();
            panic!(
                "aivex run --mode once did not finish within {deadline:?}: {:?}",
                text(&child.wait_with_output().unwrap())
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// Checks every stage's rows; returns the number of (live, back-filled) signals.
fn check_rows(store: &Store, env: &Env) -> (usize, usize) {
    for (symbol, bars) in [
        // The shipped year plus its generated history (config/demo/bars/history).
        ("AAPL", 251 + 341),
        ("MSFT", 251 + 341),
        ("NVDA", 251 + 341),
        ("SPY", 251 + 341),
        ("BTCUSDT", 365 + 477),
    ] {
        assert_eq!(
            store.bars(symbol, "1d", None, None).unwrap().len(),
            bars,
            "{symbol}"
        );
    }
    for ticker in ["AAPL", "MSFT", "NVDA"] {
        let articles = store.articles_for(ticker, None).unwrap();
        assert!(!articles.is_empty(), "no article for {ticker}");
        assert!(
            articles.iter().all(|a| a.sentiment_method.contains('@')),
            "{ticker}"
        );
    }
    for symbol in ["AAPL", "NVDA"] {
        assert!(
            !store.fundamentals_for(symbol).unwrap().is_empty(),
            "no fundamentals for {symbol}"
        );
    }
    let components = store.all_components().unwrap();
    for kind in ["chart", "news", "metrics"] {
        assert!(
            components.iter().any(|c| c.kind == kind),
            "no {kind} component: {components:?}"
        );
    }
    let signals = store.signals_query(&SignalFilter::default()).unwrap();
    let mut symbols: Vec<&str> = signals.iter().map(|s| s.symbol.as_str()).collect();
    symbols.sort_unstable();
    symbols.dedup();
    assert_eq!(symbols, SYMBOLS, "a signal per configured symbol");
    for s in &signals {
        let log = store.governor_log_for(&s.id).unwrap();
        assert_eq!(log.len(), 1, "{s:?}");
        assert_eq!(log[0].decision, s.decision);
        assert_eq!(log[0].reason_codes, s.reasons);
        let rules: serde_json::Value = serde_json::from_str(&log[0].rules_json).unwrap();
        assert_eq!(rules.as_array().unwrap().len(), 9, "every rule evaluated");
        assert!(
            (-1..=1).contains(&s.direction) && (0.0..=1.0).contains(&s.confidence),
            "{s:?}"
        );
        assert_eq!(s.decision == "allow", s.reasons.is_empty(), "{s:?}");
        assert!(s.origin == "live" || s.origin == "backfill", "{s:?}");
    }
    let live = signals.iter().filter(|s| s.origin == "live").count();
    let exports = env.path("data/runs/current/exports");
    let latest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(exports.join("latest_signals.json")).unwrap())
            .unwrap();
    assert_eq!(latest["count"], SYMBOLS.len());
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(exports.join("governor_summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["schema"], "aivex.governor_summary.v1");
    (live, signals.len() - live)
}

/// `secret`: the database password, which must appear in no output.
fn pipeline(env: &Env, url: &str, mysql: bool, secret: Option<&str>) {
    let stderr = run_once(env, mysql.then_some(url));
    let store = Store::open(url).unwrap();
    let (live, backfilled) = check_rows(&store, env);
    // A live signal per symbol, except where the live inputs equal those of the back-filled
    // signal at the newest bar close up to value drift (then there is nothing new to say).
    assert!((1..=SYMBOLS.len()).contains(&live), "{live} live signals");
    // The shipped brain back-fills a year: every symbol has about a year of daily signals,
    // and once mode writes all of it (and scores what its bars allow) in its one cycle.
    assert!(backfilled > 5 * 200, "{backfilled} back-filled signals");
    let scored = store.feedback_since(None).unwrap().len();
    assert!(
        scored * 10 > backfilled * 8,
        "{scored} of {backfilled} scored"
    );
    if let Some(secret) = secret.filter(|s| s.len() >= 4) {
        assert!(
            !stderr.contains(secret),
            "the database password leaked into the output"
        );
    }
    // A second once run on the same data: ingestion is idempotent and brain sees no new
    // inputs, so no signal is added.
    run_once(env, mysql.then_some(url));
    assert_eq!(check_rows(&store, env), (live, backfilled));
}

#[test]
fn demo_pipeline_on_sqlite() {
    let env = demo_env("pipeline-sqlite");
    let url = format!("sqlite://{}", env.path("data/aivex.sqlite").display());
    pipeline(&env, &url, false, None);
}

// ---------------------------------------------------------------- MariaDB

pub(crate) fn mysql_url() -> Option<String> {
    match std::env::var("AIVEX_TEST_MYSQL_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var_os("CI").is_some() => {
            panic!("AIVEX_TEST_MYSQL_URL is not set but CI is: the MariaDB pipeline test must run")
        }
        _ => {
            eprintln!("notice: AIVEX_TEST_MYSQL_URL not set, MariaDB pipeline test not run");
            None
        }
    }
}

/// The parts of `mysql://user:pass@host:port/db?params` the command-line client needs.
pub(crate) struct MysqlTarget {
    pub user: String,
    pub password: String,
    pub host: String,
    pub port: String,
    /// Everything after the database name (`?require_ssl=...`), kept for the new URL.
    pub params: String,
}

pub(crate) fn parse_mysql(url: &str) -> MysqlTarget {
    let rest = url
        .split_once("://")
        .map(|(_, r)| r)
        .expect("AIVEX_TEST_MYSQL_URL has no scheme");
    let (auth, hostpath) = rest
        .rsplit_once('@')
        .expect("AIVEX_TEST_MYSQL_URL has no user");
    let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
    let (hostport, path) = hostpath.split_once('/').unwrap_or((hostpath, ""));
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "3306"));
    let params = path
        .find('?')
        .map(|i| path[i..].to_string())
        .unwrap_or_default();
    MysqlTarget {
        user: user.into(),
        password: password.into(),
        host: host.into(),
        port: port.into(),
        params,
    }
}

/// Runs one statement with the `mariadb` client (the password travels in MYSQL_PWD, never on
/// the command line).
pub(crate) fn mysql_exec(t: &MysqlTarget, sql: &str) {
    let client = if Command::new("mariadb").arg("--version").output().is_ok() {
        "mariadb"
    } else {
        "mysql"
    };
    let out = Command::new(client)
        .args([
            "--no-defaults",
            "--protocol=TCP",
            "-h",
            &t.host,
            "-P",
            &t.port,
            "-u",
            &t.user,
            "-e",
            sql,
        ])
        .env("MYSQL_PWD", &t.password)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run the {client} client (scripts/mariadb-private installs it): {e}")
        });
    assert!(
        out.status.success(),
        "{client} -e {sql:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A database of this test's own, dropped when the test ends (even when it fails).
pub(crate) struct TempDb {
    pub target: MysqlTarget,
    pub name: String,
}

impl Drop for TempDb {
    fn drop(&mut self) {
        mysql_exec(
            &self.target,
            &format!("DROP DATABASE IF EXISTS {}", self.name),
        );
    }
}

#[test]
fn demo_pipeline_on_mariadb() {
    let Some(base) = mysql_url() else { return };
    let target = parse_mysql(&base);
    let name = format!("aivex_pipeline_{}", std::process::id());
    mysql_exec(
        &target,
        &format!("CREATE DATABASE {name} CHARACTER SET utf8mb4"),
    );
    let url = format!(
        "mysql://{}:{}@{}:{}/{name}{}",
        target.user, target.password, target.host, target.port, target.params
    );
    let secret = target.password.clone();
    let _db = TempDb { target, name };
    let env = demo_env("pipeline-mariadb");
    // The supervisor migrates SQLite by itself; a MariaDB store is migrated by hand first.
    let out = env
        .cmd(&["migrate", "--config", "config/aivex.toml"])
        .env("AIVEX_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    pipeline(&env, &url, true, Some(&secret));
}
