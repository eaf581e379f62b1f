//! What of the supervisor's environment reaches a module (issue: secrets stripped): the Eye
//! token only Eye, an external module only the basics, its manifest's `env`/`required_env` and
//! the contract, a built-in the rest minus aivex's own settings. Read from the real processes'
//! `/proc/PID/environ` under a real supervisor.

use crate::harness::*;
use std::collections::BTreeMap;

fn environ(pid: i32) -> BTreeMap<String, String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    raw.split(|b| *b == 0)
        .filter_map(|kv| {
            let kv = String::from_utf8_lossy(kv);
            let (k, v) = kv.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

fn module_pid(env: &Env, m: &str) -> i32 {
    let st = env.wait_state(&format!("{m} running with a pid"), secs(30.0), |s| {
        s["modules"][m]["state"] == "RUNNING" && s["modules"][m]["pid"].is_i64()
    });
    st["modules"][m]["pid"].as_i64().unwrap() as i32
}

#[test]
fn secrets_reach_only_the_modules_that_need_them() {
    let env = Env::new("secrets");
    let port = free_port();
    env.config(&format!(
        "[runtime]\nenabled = [\"eye\", \"probe\", \"ext\"]\n[eye]\nlisten = \"127.0.0.1:{port}\"\n"
    ));
    env.module("eye", "builtin = \"eye\"\ninterval_s = 0.5\n");
    env.module(
        "probe",
        "builtin = \"probe\"\ninterval_s = 60\n[settings]\ntargets = []\n",
    );
    env.sh_module(
        "ext",
        "while true; do date > \"$AIVEX_HEARTBEAT_FILE\"; sleep 0.2; done",
        "env = [\"FEED_KEY\"]\nrequired_env = [\"NEEDED\"]\n",
    );
    let mut sup = env.start_with(
        &[],
        &[
            ("AIVEX_EYE_TOKEN", "tok-very-secret-1"),
            ("AWS_SECRET_ACCESS_KEY", "aws-very-secret-2"),
            ("FEED_KEY", "feed-key-3"),
            ("NEEDED", "needed-4"),
            ("LD_LIBRARY_PATH", "/opt/lib"),
        ],
    );
    let eye = environ(module_pid(&env, "eye"));
    let probe = environ(module_pid(&env, "probe"));
    let ext = environ(module_pid(&env, "ext"));

    assert_eq!(
        eye.get("AIVEX_EYE_TOKEN").map(String::as_str),
        Some("tok-very-secret-1")
    );
    for (name, e) in [("probe", &probe), ("ext", &ext)] {
        assert!(
            !e.contains_key("AIVEX_EYE_TOKEN"),
            "{name} got the Eye token"
        );
        assert_eq!(e.get("AIVEX_MODULE").map(String::as_str), Some(name));
    }
    // A built-in keeps the process basics and other variables, not aivex's own settings.
    assert_eq!(
        probe.get("LD_LIBRARY_PATH").map(String::as_str),
        Some("/opt/lib")
    );
    assert!(probe.contains_key("AWS_SECRET_ACCESS_KEY"));
    // An external module: the basics, what its manifest names, the contract; nothing else.
    assert_eq!(ext.get("FEED_KEY").map(String::as_str), Some("feed-key-3"));
    assert_eq!(ext.get("NEEDED").map(String::as_str), Some("needed-4"));
    assert!(ext.contains_key("PATH"));
    for k in ["AWS_SECRET_ACCESS_KEY", "LD_LIBRARY_PATH"] {
        assert!(!ext.contains_key(k), "ext got {k}");
    }
    let stray: Vec<&String> = ext
        .keys()
        .filter(|k| {
            !(k.starts_with("AIVEX_")
                || k.starts_with("LC_")
                || [
                    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR",
                    "TERM", "FEED_KEY", "NEEDED", "PWD", "SHLVL", "_",
                ]
                .contains(&k.as_str()))
        })
        .collect();
    assert!(stray.is_empty(), "ext inherited {stray:?}");
    assert_eq!(sup.stop(), Some(0));
}
