//! End-to-end check of `logging::init`: the real logger in a real child process, its stderr a
//! file, the environment as systemd or an operator would set it.
//!
//! It owns checking that init() picks the format and level from the environment and writes to
//! stderr. It must not test line rendering in detail (the unit tables in logging.rs do that).
//! The test re-runs its own binary as the child, selected by an environment variable, because
//! a process can install a logger only once.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD: &str = "AIVEX_PLATFORM_LOG_CHILD";

fn child_main() {
    let verbose = std::env::var("CHILD_VERBOSE").is_ok();
    aivex_platform::logging::init(aivex_platform::LogOptions {
        default_level: "info",
        verbose,
    })
    .expect("first logger in this process");
    log::trace!(target: "aivex", "t");
    log::debug!(target: "aivex", "d");
    log::info!(target: "aivex", "i");
    log::warn!(target: "aivex", "w");
    log::error!(target: "aivex", "two\nlines");
    // A second init must fail cleanly, not panic.
    assert!(aivex_platform::logging::init(aivex_platform::LogOptions {
        default_level: "info",
        verbose,
    })
    .is_err());
}

struct Case {
    name: &'static str,
    env: &'static [(&'static str, &'static str)],
    /// Set JOURNAL_STREAM to the child's real stderr (true) or to a foreign file (false).
    journal: Option<bool>,
    verbose: bool,
    check: fn(&str) -> Result<(), String>,
}

fn expect_lines(got: &str, want: &[&str]) -> Result<(), String> {
    let lines: Vec<&str> = got.lines().collect();
    if lines == want {
        Ok(())
    } else {
        Err(format!("lines {lines:?}, want {want:?}"))
    }
}

fn human_ok(got: &str, levels: &[&str]) -> Result<(), String> {
    // `2026-11-22T22:11:42.123Z INFO  aivex: i`
    let lines: Vec<&str> = got.lines().filter(|l| !l.starts_with("lines")).collect();
    if lines.len() != levels.len() {
        return Err(format!(
            "{} lines, want {}: {got:?}",
            lines.len(),
            levels.len()
        ));
    }
    for (line, level) in lines.iter().zip(levels) {
        let (ts, rest) = line
            .split_once(' ')
            .ok_or(format!("no timestamp: {line:?}"))?;
        if !(ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes().get(10) == Some(&b'T')) {
            return Err(format!("not an RFC 3339 UTC timestamp: {ts:?}"));
        }
        if !rest.starts_with(level) || !rest.contains("aivex: ") {
            return Err(format!("want level {level}: {line:?}"));
        }
    }
    Ok(())
}

#[test]
fn init_picks_format_and_level_from_env() {
    if std::env::var_os(CHILD).is_some() {
        child_main();
        return;
    }
    let cases = [
        Case {
            name: "journald when stderr is the journal stream",
            env: &[],
            journal: Some(true),
            verbose: false,
            check: |s| {
                expect_lines(
                    s,
                    &["<6>aivex: i", "<4>aivex: w", "<3>aivex: two", "<3>lines"],
                )
            },
        },
        Case {
            name: "inherited JOURNAL_STREAM of another file means human",
            env: &[],
            journal: Some(false),
            verbose: false,
            check: |s| human_ok(s, &["INFO", "WARN", "ERROR"]),
        },
        Case {
            name: "verbose adds debug",
            env: &[],
            journal: Some(true),
            verbose: true,
            check: |s| {
                expect_lines(
                    s,
                    &[
                        "<7>aivex: d",
                        "<6>aivex: i",
                        "<4>aivex: w",
                        "<3>aivex: two",
                        "<3>lines",
                    ],
                )
            },
        },
        Case {
            name: "AIVEX_LOG beats RUST_LOG and verbose",
            env: &[("AIVEX_LOG", "warn"), ("RUST_LOG", "trace")],
            journal: Some(true),
            verbose: true,
            check: |s| expect_lines(s, &["<4>aivex: w", "<3>aivex: two", "<3>lines"]),
        },
        Case {
            name: "RUST_LOG when AIVEX_LOG is unset",
            env: &[("RUST_LOG", "trace")],
            journal: Some(true),
            verbose: false,
            check: |s| {
                expect_lines(
                    s,
                    &[
                        "<7>aivex: t",
                        "<7>aivex: d",
                        "<6>aivex: i",
                        "<4>aivex: w",
                        "<3>aivex: two",
                        "<3>lines",
                    ],
                )
            },
        },
        Case {
            name: "json with module name",
            env: &[("AIVEX_LOG_FORMAT", "json"), ("AIVEX_MODULE", "news")],
            journal: Some(true),
            verbose: false,
            check: |s| {
                let lines: Vec<&str> = s.lines().collect();
                if lines.len() != 3 {
                    return Err(format!("want 3 JSON lines: {s:?}"));
                }
                let want = [("INFO", "i"), ("WARN", "w"), ("ERROR", "two\nlines")];
                for (line, (level, msg)) in lines.iter().zip(want) {
                    let v: serde_json::Value =
                        serde_json::from_str(line).map_err(|e| format!("{e}: {line:?}"))?;
                    if v["level"] != level || v["msg"] != msg || v["module"] != "news" {
                        return Err(format!("unexpected {v}"));
                    }
                    if !v["ts"].as_str().is_some_and(|t| t.ends_with('Z')) {
                        return Err(format!("bad ts in {v}"));
                    }
                }
                Ok(())
            },
        },
    ];

    let dir = std::env::temp_dir().join(format!("aivex-platform-loginit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let exe = std::env::current_exe().expect("test binary path");
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let err_path: PathBuf = dir.join(format!("stderr-{i}"));
        let err_file = std::fs::File::create(&err_path).expect("stderr file");
        let mut cmd = Command::new(&exe);
        cmd.args([
            "--exact",
            "init_picks_format_and_level_from_env",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .stdout(Stdio::null());
        for var in [
            "JOURNAL_STREAM",
            "AIVEX_LOG",
            "RUST_LOG",
            "AIVEX_LOG_FORMAT",
            "AIVEX_MODULE",
        ] {
            cmd.env_remove(var);
        }
        for (k, v) in case.env {
            cmd.env(k, v);
        }
        if case.verbose {
            cmd.env("CHILD_VERBOSE", "1");
        }
        if let Some(own) = case.journal {
            let meta = if own {
                err_file.metadata().expect("stat stderr file")
            } else {
                std::fs::metadata(&exe).expect("stat other file")
            };
            cmd.env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()));
        }
        cmd.stderr(err_file);
        let mut child = cmd.spawn().expect("spawn child");
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(st) = child.try_wait().expect("wait child") {
                break st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("child for case {:?} did not finish in 30 s", case.name);
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let got = std::fs::read_to_string(&err_path).expect("read stderr");
        if !status.success() {
            failures.push(format!("{}: child failed {status}: {got}", case.name));
            continue;
        }
        if let Err(e) = (case.check)(&got) {
            failures.push(format!("{}: {e}", case.name));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{failures:#?}");
}
