//! Checks of the host files this crate's issue ships: systemd/aivex.service, docs/deploy.md and
//! scripts/install-unit.
//!
//! It owns keeping the unit, its documentation and the installer consistent: the unit sets the
//! options the issue requires, docs/deploy.md documents exactly the options the unit sets, the
//! unit passes `systemd-analyze verify` where that tool exists, and `install-unit --dry-run`
//! plans the right commands. It must not install anything or talk to a running systemd.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

/// `Key=value` settings of a unit file, in order (comments, blanks and section headers skipped).
fn unit_settings(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .filter(|l| !l.starts_with('['))
        .map(String::from)
        .collect()
}

/// The `Key=value` in the first backticks of each table row of the unit-options section.
fn documented_settings(doc: &str) -> Vec<String> {
    let start = doc
        .find("## The unit's options and why")
        .expect("deploy.md has the unit options section");
    let rest = doc.get(start + 3..).unwrap_or_default();
    let section = rest.split("\n## ").next().unwrap_or_default();
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once("` |").map(|(s, _)| s.to_string()))
        .collect()
}

fn run_with_deadline(cmd: &mut Command, secs: u64) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("collect output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn unit_sets_the_required_options() {
    let unit = unit_settings(&read("systemd/aivex.service"));
    let required = [
        "Type=notify",
        "NotifyAccess=main",
        "WatchdogSec=30s",
        "Restart=on-failure",
        "RestartSec=5s",
        "User=aivex",
        "Group=aivex",
        "StateDirectory=aivex",
        "ConfigurationDirectory=aivex",
        "ExecStart=/usr/local/bin/aivex run --config /etc/aivex/aivex.toml",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "KillMode=mixed",
        "EnvironmentFile=-/etc/aivex/aivex.env",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "ReadWritePaths=/var/lib/aivex",
        "ProtectKernelTunables=yes",
        "ProtectControlGroups=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
        "MemoryDenyWriteExecute=yes",
    ];
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|r| !unit.iter().any(|u| u == r))
        .collect();
    assert!(missing.is_empty(), "unit lacks {missing:?}");

    // No key set twice (a later line would silently override or append).
    let mut keys = BTreeSet::new();
    for s in &unit {
        let key = s.split_once('=').map_or(s.as_str(), |(k, _)| k);
        assert!(keys.insert(key.to_string()), "{key} set twice");
    }
}

#[test]
fn deploy_doc_documents_exactly_the_unit_options() {
    let unit: BTreeSet<String> = unit_settings(&read("systemd/aivex.service"))
        .into_iter()
        .collect();
    let doc: BTreeSet<String> = documented_settings(&read("docs/deploy.md"))
        .into_iter()
        .collect();
    let undocumented: Vec<&String> = unit.difference(&doc).collect();
    let stale: Vec<&String> = doc.difference(&unit).collect();
    assert!(
        undocumented.is_empty() && stale.is_empty(),
        "in the unit but not in docs/deploy.md: {undocumented:?}; documented but not in the unit: {stale:?}"
    );
}

#[test]
fn systemd_analyze_verify_passes() {
    let Ok(probe) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("systemd-analyze is not installed: verify not run");
        return;
    };
    assert!(probe.status.success(), "systemd-analyze --version failed");
    // verify checks that ExecStart's binary exists; point it at a real executable.
    let exe = std::env::current_exe().expect("test binary");
    let unit = read("systemd/aivex.service").replace(
        "ExecStart=/usr/local/bin/aivex ",
        &format!("ExecStart={} ", exe.display()),
    );
    let dir = std::env::temp_dir().join(format!("aivex-unit-verify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("aivex.service");
    std::fs::write(&path, unit).expect("write unit copy");
    let out = run_with_deadline(
        Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(&path),
        120,
    );
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // verify reports problems on stderr even when it exits 0 for some of them.
    let problems: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("aivex.service"))
        .collect();
    assert!(
        out.status.success() && problems.is_empty(),
        "systemd-analyze verify: {} {stderr}",
        out.status
    );
}

#[test]
fn install_unit_dry_run_plans_the_install() {
    let tmp = std::env::temp_dir().join(format!("aivex-install-dry-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let prefix = tmp.join("opt");
    let exe = std::env::current_exe().expect("test binary");
    let out = run_with_deadline(
        Command::new("bash")
            .arg(repo().join("scripts/install-unit"))
            .arg("--dry-run")
            .arg("--prefix")
            .arg(&prefix)
            .arg("--binary")
            .arg(&exe),
        60,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "install-unit --dry-run failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = prefix.join("bin/aivex");
    let want = [
        format!("+ install -D -m 0755 {} {}", exe.display(), bin.display()),
        format!(
            "unit ExecStart={} run --config /etc/aivex/aivex.toml",
            bin.display()
        ),
        "+ install -d -m 0755 /etc/aivex /etc/aivex/modules".to_string(),
        "+ install -D -m 0644 ".to_string(),
        "+ systemctl daemon-reload".to_string(),
    ];
    for w in &want {
        assert!(
            stdout.lines().any(|l| l.starts_with(w.as_str())),
            "no {w:?} in:\n{stdout}"
        );
    }
    let unit_line = stdout.lines().find(|l| {
        l.starts_with("+ install -D -m 0644 ") && l.ends_with(" /etc/systemd/system/aivex.service")
    });
    assert!(unit_line.is_some(), "unit not installed in:\n{stdout}");
    // A dry run changes nothing.
    assert!(!prefix.exists(), "dry run created {}", prefix.display());
    let _ = std::fs::remove_dir_all(&tmp);

    let bad = run_with_deadline(
        Command::new("bash")
            .arg(repo().join("scripts/install-unit"))
            .args(["--dry-run", "--prefix", "relative/dir"]),
        60,
    );
    assert_eq!(
        bad.status.code(),
        Some(2),
        "a relative prefix is a usage error"
    );
}
