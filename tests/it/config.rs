//! Configuration errors and `check-config`: every problem named with its file and line.

use crate::harness::*;

#[test]
fn invalid_config_exits_2_naming_file_and_line() {
    let env = Env::new("badcfg");
    env.write(
        "aivex.toml",
        "[watchdog]\nmax_restarts = 3\nbackoff_base_s = \"fast\"\n[runtime]\nenabled = []\n",
    );
    for args in [
        &["run", "--config", "aivex.toml"][..],
        &["check-config", "--config", "aivex.toml"],
    ] {
        let out = env.run(args, secs(10.0));
        let (_, err) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("aivex.toml:3:"), "{args:?}: {err}");
    }
}

#[test]
fn invalid_manifest_names_its_file_and_line() {
    let env = Env::new("badmanifest");
    env.config("[runtime]\nenabled = [\"m\"]\n");
    env.module(
        "m",
        "command = [\"true\"]\ninterval_s = 1\nrestart_on_fatal = \"sometimes\"\n",
    );
    let out = env.run(&["check-config", "--config", "aivex.toml"], secs(10.0));
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("modules/m/module.toml:3:"), "{err}");
}

#[test]
fn check_config_passes_with_warnings_for_registry_mismatches() {
    let env = Env::new("okcfg");
    env.config("[runtime]\nenabled = [\"m\", \"ghost\", \"fake\"]\n");
    env.module("m", "command = [\"true\"]\n");
    env.module("fake", "builtin = \"no-such-builtin\"\n");
    let out = env.run(&["check-config", "--config", "aivex.toml"], secs(10.0));
    let (stdout, err) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{err}");
    assert!(
        stdout.contains("ghost") && stdout.contains("no directory"),
        "{stdout}"
    );
    assert!(
        stdout.contains("no-such-builtin") && stdout.contains("not a built-in"),
        "{stdout}"
    );
    assert!(stdout.contains("ok (2 module(s)"), "{stdout}");
}

#[test]
fn unreachable_crash_loop_rule_warns() {
    let env = Env::new("warnloop");
    env.write(
        "aivex.toml",
        "[watchdog]\nbackoff_base_s = 100\ncrash_loop_window_s = 60\n[runtime]\nenabled = []\n",
    );
    let out = env.run(&["check-config", "--config", "aivex.toml"], secs(10.0));
    assert!(
        text(&out)
            .0
            .contains("crash-loop detection can never trigger"),
        "{:?}",
        text(&out)
    );
}

#[test]
fn bad_environment_override_is_named() {
    let env = Env::new("badenv");
    env.config("[runtime]\nenabled = []\n");
    let out = env
        .cmd(&["check-config", "--config", "aivex.toml"])
        .env("WATCHDOG_HEARTBEAT_TTL", "soon")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("WATCHDOG_HEARTBEAT_TTL"),
        "{:?}",
        text(&out)
    );
}

#[test]
fn version_and_help() {
    let env = Env::new("version");
    let out = env.run(&["--version"], secs(5.0));
    assert!(text(&out).0.starts_with("aivex "));
    let out = env.run(&["--help"], secs(5.0));
    assert!(text(&out).0.contains("check-config"));
    let out = env.run(&["frobnicate"], secs(5.0));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn database_passwords_never_appear_in_output() {
    let env = Env::new("secret");
    env.config("[runtime]\nenabled = [\"a\"]\n[database]\nauto_migrate = true\n");
    env.sh_module("a", "exit 0", "");
    let url = "mysql://aivex:Sup3rS3cretPw@127.0.0.1:1/aivex";
    for args in [
        &["check-config", "--config", "aivex.toml"][..],
        &["migrate", "--config", "aivex.toml"],
        &["run", "--config", "aivex.toml", "--mode", "once"],
    ] {
        let out = env
            .cmd(args)
            .env("AIVEX_DATABASE_URL", url)
            .output()
            .unwrap();
        let (o, e) = text(&out);
        assert!(
            !o.contains("Sup3rS3cretPw") && !e.contains("Sup3rS3cretPw"),
            "{args:?}\n{o}\n{e}"
        );
        assert!(
            o.contains("aivex:***@") || e.contains("aivex:***@"),
            "{args:?}: the URL is shown redacted\n{o}\n{e}"
        );
    }
    let out = env
        .cmd(&["migrate", "--config", "aivex.toml"])
        .env("AIVEX_DATABASE_URL", url)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "an unreachable store is a runtime failure"
    );
    // Nothing written to the run directory holds it either.
    let mut stack = vec![env.path("data")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                assert!(
                    !String::from_utf8_lossy(&b).contains("Sup3rS3cretPw"),
                    "{}",
                    p.display()
                );
            }
        }
    }
}

/// A built-in's `[settings]` (and the `[eye]` table) are checked where the config is: a typo
/// is a config error with file and line from `check-config` and `run`, not a module that stops
/// with a config error once it starts.
#[test]
fn bad_builtin_settings_are_config_errors_with_file_and_line() {
    let env = Env::new("badsettings");
    env.config("[runtime]\nenabled = [\"brain\", \"chart\", \"eye\"]\n");
    env.module("eye", "builtin = \"eye\"\n");
    env.module("chart", "builtin = \"chart\"\n[settings]\nsources = []\n");
    // (brain manifest, the line the error must name, what it must say)
    let cases = [
        (
            "builtin = \"brain\"\n[settings]\nsymbols = [\"AAPL\"]\nhorizon_z = 5\n",
            "modules/brain/module.toml:4:",
            "horizon_z",
        ),
        (
            "builtin = \"brain\"\n[settings]\nsymbols = [\"AAPL\", \"A..B\"]\n",
            "modules/brain/module.toml:3:",
            "symbols[1]",
        ),
        (
            "builtin = \"brain\"\n[settings]\n[settings.governor]\nmin_confidence = 7\n",
            "modules/brain/module.toml:4:",
            "min_confidence",
        ),
    ];
    for (manifest, line, what) in cases {
        env.module("brain", manifest);
        for args in [
            &["check-config", "--config", "aivex.toml"][..],
            &["run", "--config", "aivex.toml"],
        ] {
            let out = env.run(args, secs(20.0));
            let (_, err) = text(&out);
            assert_eq!(out.status.code(), Some(2), "{args:?} {manifest}: {err}");
            assert!(err.contains(line) && err.contains(what), "{args:?}: {err}");
        }
    }
    // Another built-in's settings and the [eye] table.
    env.module("brain", "builtin = \"brain\"\n");
    env.module("chart", "builtin = \"chart\"\n[settings]\nwindow = 10\n");
    let out = env.run(&["check-config", "--config", "aivex.toml"], secs(20.0));
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("modules/chart/module.toml:3:") && err.contains("window"),
        "{err}"
    );
    env.module("chart", "builtin = \"chart\"\n");
    env.config("[runtime]\nenabled = [\"brain\", \"chart\", \"eye\"]\n[eye]\nlisten = \"127.0.0.1:0\"\nworkerz = 3\n");
    let out = env.run(&["check-config", "--config", "aivex.toml"], secs(20.0));
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("aivex.toml:") && err.contains("workerz"),
        "{err}"
    );
    // Fixed: ok again.
    env.config(
        "[runtime]\nenabled = [\"brain\", \"chart\", \"eye\"]\n[eye]\nlisten = \"127.0.0.1:0\"\n",
    );
    let out = env.run(&["check-config", "--config", "aivex.toml"], secs(20.0));
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
}

/// A reload whose new module settings are invalid is refused: the old config keeps running and
/// the log says which file, line and key.
#[test]
fn reload_refuses_bad_builtin_settings() {
    let env = Env::new("reloadsettings");
    env.config("[runtime]\nenabled = [\"probe\"]\n");
    env.module(
        "probe",
        "builtin = \"probe\"\ninterval_s = 60\n[settings]\ntargets = []\n",
    );
    let mut sup = env.start(&[]);
    let s = env.wait_module("probe", "RUNNING", secs(20.0));
    let pid = s["modules"]["probe"]["pid"].clone();
    env.module(
        "probe",
        "builtin = \"probe\"\ninterval_s = 60\n[settings]\ntargetz = []\n",
    );
    sup.signal(libc::SIGHUP);
    wait_for("the refusal in the log", secs(10.0), || {
        let err = env.stderr();
        (err.contains("reload refused") && err.contains("modules/probe/module.toml:4:"))
            .then_some(())
    });
    let s = env.state().unwrap();
    assert_eq!(
        s["modules"]["probe"]["pid"], pid,
        "the old module keeps running"
    );
    assert_eq!(s["modules"]["probe"]["state"], "RUNNING");
    assert_eq!(sup.stop(), Some(0));
}
