//! Fault matrix, disk row: the data directory on a 16 MiB tmpfs, filled to the last byte while
//! the supervisor runs chart (SQLite in the data dir), probe and Eye. The supervisor keeps
//! supervising, says why once per condition, `/health` is 503 with a `disk` reason, the state
//! file and the store stay intact, and everything resumes when the filler file goes.

use super::*;
use aivex_store::Store;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A tmpfs mounted on a directory for the test, lazily unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .stdin(Stdio::null())
            .output();
    }
}

/// Writes `path` until the filesystem refuses: returns how many bytes it took.
fn fill(path: &Path) -> u64 {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0x5a; 64 << 10];
    let mut n = 0u64;
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(k) => n += k as u64,
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "filling: {e}");
                break;
            }
        }
    }
    n
}

fn health(addr: std::net::SocketAddr) -> Option<(u16, serde_json::Value)> {
    http(addr, "GET", "/health", None)
}

fn disk_detail(v: &serde_json::Value) -> String {
    v["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == "disk"))
        .map(|c| c["detail"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

/// The live state through the control socket (the state file cannot be rewritten now).
fn live_state(env: &Env) -> serde_json::Value {
    let out = env.run(&["status", "--json"], secs(10.0));
    assert!(
        out.status.success(),
        "status while the disk is full: {:?}",
        text(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn fault_full_data_disk_degrades_and_recovers() {
    let _t = Timed::start("fault_full_data_disk_degrades_and_recovers");
    let env = Env::new("f-disk");
    let data = env.path("data");
    let _mount = match Tmpfs::mount(&data, "16m") {
        Ok(m) => m,
        Err(e) => {
            cannot_inject(&format!("a full data disk: {e}"));
            return;
        }
    };
    env.write("bars/DSK.csv", &bars_csv(0..200, 86_400));
    let port = free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    env.config(&format!(
        "[watchdog]\nbackoff_base_s = 0.5\nbackoff_cap_s = 2\nstop_grace_s = 2\nstatus_interval_s = 1\n\
         heartbeat_ttl_s = 2\nstart_stagger_s = 0\n[runtime]\nenabled = [\"chart\", \"probe\", \"eye\"]\n\
         [eye]\nlisten = \"127.0.0.1:{port}\"\n"
    ));
    env.module(
        "chart",
        &format!(
            "builtin = \"chart\"\ninterval_s = 0.5\n[settings]\nsources = [{{ symbol = \"DSK\", path = \"{}\" }}]\n",
            env.path("bars/DSK.csv").display()
        ),
    );
    env.module(
        "probe",
        "builtin = \"probe\"\ninterval_s = 0.5\n[settings]\ntargets = []\n",
    );
    env.module("eye", "builtin = \"eye\"\ninterval_s = 0.5\n");
    let url = format!("sqlite://{}", data.join("aivex.sqlite").display());
    let mut sup = env.start(&[]);
    let count = |st: &Store| {
        st.bars("DSK", "1d", None, None)
            .map(|b| b.len())
            .unwrap_or(0)
    };
    let store = wait_for("the store", secs(30.0), || Store::open(&url).ok());
    wait_for("200 bars", secs(30.0), || {
        (count(&store) == 200).then_some(())
    });
    drop(store);
    wait_for("/health 200", secs(30.0), || {
        health(addr).filter(|(code, _)| *code == 200).map(|_| ())
    });

    // The disk fills up; new bars wait to be written.
    let log_before = env.stderr().len();
    let filler = data.join("filler");
    let took = fill(&filler);
    eprintln!(
        "fault matrix: the filler took {} KiB to fill the data disk",
        took >> 10
    );
    env.write("bars/DSK.csv", &bars_csv(0..250, 86_400));
    let (_, body) = wait_for("/health 503 with a disk reason", secs(20.0), || {
        health(addr).filter(|(code, v)| {
            *code == 503
                && v["failing"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|x| x == "disk"))
        })
    });
    assert!(disk_detail(&body).contains("full"), "{body}");
    // Several state refreshes (every 5 s, and on every change) and chart retries later...
    std::thread::sleep(Duration::from_secs(7));
    let s = live_state(&env);
    for m in ["probe", "eye"] {
        assert_eq!(s["modules"][m]["state"], "RUNNING", "{m}: {s}");
        assert_eq!(
            s["modules"][m]["restarts"], 0,
            "{m} restarted while the disk was full: {s}"
        );
    }
    assert_ne!(s["modules"]["chart"]["state"], "LOOP_DETECTED", "{s}");
    assert_eq!(s["modules"]["chart"]["consecutive_failures"], 0, "{s}");
    // ...the log said why once, not once per write.
    let full_log = env.stderr()[log_before..].to_string();
    for what in ["the runtime state file", "history.jsonl", "logs/chart.log"] {
        let said = full_log
            .lines()
            .filter(|l| l.contains("cannot write") && l.contains(what))
            .count();
        assert!(said <= 1, "{what} reported {said} times:\n{full_log}");
    }
    assert_eq!(
        full_log
            .matches("cannot write the runtime state file")
            .count(),
        1,
        "{full_log}"
    );
    // chart could not store its new bars: exit 75, restarted soon, never a failure.
    assert!(
        full_log.contains("module chart exited: exit 75"),
        "{full_log}"
    );
    assert!(full_log.contains("No space left on device"), "{full_log}");
    // The state file still holds its last good version.
    let kept = env
        .state()
        .expect("the state file parses while the disk is full");
    assert!(kept["modules"]["chart"].is_object());

    // Space returns: everything resumes.
    std::fs::remove_file(&filler).unwrap();
    wait_for("/health 200 again", secs(30.0), || {
        health(addr).filter(|(code, _)| *code == 200).map(|_| ())
    });
    let store = Store::open(&url).unwrap();
    wait_for("the 50 new bars", secs(30.0), || {
        (count(&store) == 250).then_some(())
    });
    // Said once writes have worked for WriteLatch::QUIET (10 s) after the last failure.
    wait_for("the recovery in the log", secs(40.0), || {
        env.stderr()
            .contains("the runtime state file can be written again")
            .then_some(())
    });
    let after = env.stderr()[log_before..].to_string();
    assert_eq!(
        after.matches("cannot write the runtime state file").count(),
        1,
        "{after}"
    );
    let s = env.wait_state("the state file rewritten", secs(10.0), |s| {
        s["modules"]["chart"]["state"] == "RUNNING"
    });
    assert_eq!(s["modules"]["probe"]["restarts"], 0, "{s}");
    assert_eq!(sup.stop(), Some(0));
    drop(store);
    let out = Command::new("python3")
        .args(["-c", "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA integrity_check').fetchone()[0])"])
        .arg(data.join("aivex.sqlite"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok", "{out:?}");
    assert_eq!(env.state().unwrap()["modules"]["chart"]["state"], "STOPPED");
}
