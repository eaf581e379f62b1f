//! Tests of the loader: defaults, paths, file:line problems, warnings, the dependency graph.

use super::*;

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("aivex-cfg-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn loads_defaults_resolves_paths_and_warns_on_missing_modules() {
    let d = tmp("ok");
    write(
        &d,
        "aivex.toml",
        "[runtime]\nenabled = [\"a\", \"ghost\"]\n",
    );
    write(
        &d,
        "modules/a/module.toml",
        "command = [\"sleep\", \"1\"]\n",
    );
    let l = load(&d.join("aivex.toml"), &Registry::names_only(&[]), &|_| None).unwrap();
    assert_eq!(l.config.modules.len(), 1);
    assert_eq!(l.config.runtime.data_dir, d.join("data"));
    assert_eq!(l.config.watchdog, WatchdogConfig::default());
    assert!(l.config.database.url.ends_with("/data/aivex.sqlite"));
    assert!(
        l.warnings.iter().any(|w| w.message.contains("ghost")),
        "{:?}",
        l.warnings
    );
}

#[test]
fn invalid_values_fail_with_file_and_line() {
    let d = tmp("bad");
    write(
        &d,
        "aivex.toml",
        "[runtime]\nenabled = []\n[watchdog]\n\nbackoff_base_s = -1\n",
    );
    let e = load(&d.join("aivex.toml"), &Registry::names_only(&[]), &|_| None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("aivex.toml:5:") && e.contains("backoff_base_s"),
        "{e}"
    );
    write(&d, "aivex.toml", "[runtime]\nenabled = [\"a\"\n");
    let e = load(&d.join("aivex.toml"), &Registry::names_only(&[]), &|_| None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("aivex.toml:"), "{e}");
}

#[test]
fn unreachable_crash_loop_is_a_warning() {
    let d = tmp("warn");
    write(
        &d,
        "aivex.toml",
        "[runtime]\nenabled = []\n[watchdog]\nbackoff_base_s = 60\ncrash_loop_window_s = 100\n",
    );
    let l = load(&d.join("aivex.toml"), &Registry::names_only(&[]), &|_| None).unwrap();
    assert!(l
        .warnings
        .iter()
        .any(|w| w.message.contains("crash-loop detection can never trigger")));
}

#[test]
fn dependency_cycles_and_unknown_dependencies_name_file_and_line() {
    let d = tmp("deps");
    write(
        &d,
        "aivex.toml",
        "[runtime]\nenabled = [\"a\", \"b\", \"c\", \"d\"]\n",
    );
    write(
        &d,
        "modules/a/module.toml",
        "command = [\"sleep\", \"1\"]\ndepends_on = [\"c\"]\n",
    );
    write(
        &d,
        "modules/b/module.toml",
        "command = [\"sleep\", \"1\"]\n\ndepends_on = [\"ghost\"]\n",
    );
    write(
        &d,
        "modules/c/module.toml",
        "command = [\"sleep\", \"1\"]\ndepends_on = [\"d\"]\n",
    );
    write(
        &d,
        "modules/d/module.toml",
        "command = [\"sleep\", \"1\"]\ndepends_on = [\"a\"]\n",
    );
    let e = load(&d.join("aivex.toml"), &Registry::names_only(&[]), &|_| None)
        .unwrap_err()
        .to_string();
    let a = d.join("modules/a/module.toml").display().to_string();
    let b = d.join("modules/b/module.toml").display().to_string();
    assert!(
        e.contains(&format!(
            "{b}:3: depends_on: `ghost` is not an enabled module"
        )),
        "{e}"
    );
    assert!(
        e.contains(&format!(
            "{a}:2: depends_on: dependency cycle a -> c -> d -> a"
        )),
        "{e}"
    );
    // A dependency on a module whose heartbeats are off is a warning, not an error.
    write(&d, "aivex.toml", "[runtime]\nenabled = [\"a\", \"c\"]\n");
    write(
        &d,
        "modules/c/module.toml",
        "command = [\"sleep\", \"1\"]\n",
    );
    let l = load(&d.join("aivex.toml"), &Registry::names_only(&[]), &|_| None).unwrap();
    assert_eq!(l.config.start_order(), [1, 0]);
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    write(
        &d,
        "aivex.toml",
        "[watchdog]\nheartbeat_ttl_s = 0\n[runtime]\nenabled = [\"a\", \"c\"]\n",
    );
    let l = load(&d.join("aivex.toml"), &Registry::names_only(&[]), &|_| None).unwrap();
    assert!(
        l.warnings
            .iter()
            .any(|w| w.message.contains("heartbeats are off")),
        "{:?}",
        l.warnings
    );
}
