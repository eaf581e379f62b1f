//! Eye against its own OpenAPI document, by schemathesis (an outside property-based tester):
//! every documented route, with the token and without it, on the shipped demo pipeline. No
//! 5xx, no connection reset, no response that violates the schema, no schema-valid request
//! refused and no schema-violating one accepted (`--checks all`).
//!
//! schemathesis comes from PyPI into a venv that `scripts/test` makes and names in
//! `AIVEX_TEST_SCHEMATHESIS` (the `st` program). Without it the test fails when `CI` is set
//! and says why otherwise. The seed is fixed so a finding reproduces; each finding became a
//! fix and a row of a unit test (crates/eye/src/api.rs, openapi.rs).

use crate::harness::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "schemathesis-token-1";
const SEED: &str = "20261201";

fn schemathesis() -> Option<PathBuf> {
    let from_env = std::env::var_os("AIVEX_TEST_SCHEMATHESIS").map(PathBuf::from);
    let found = from_env.filter(|p| p.is_file());
    if found.is_none() {
        let why = "schemathesis not found: set AIVEX_TEST_SCHEMATHESIS to its `st` program \
                   (scripts/test makes a venv with it)";
        assert!(std::env::var_os("CI").is_none(), "{why}");
        eprintln!("skipping: {why}");
    }
    found
}

/// Runs `st` with a hard deadline; (success, everything it printed).
fn run_st(st: &Path, args: &[&str], out_path: &Path, deadline: Duration) -> (bool, String) {
    let out = std::fs::File::create(out_path).unwrap();
    // Its caches (.schemathesis/, .hypothesis/) go into the test's directory, not the repo.
    let cwd = out_path.parent().unwrap();
    let mut child = Command::new(st)
        .current_dir(cwd)
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = std::fs::read_to_string(out_path).unwrap_or_default();
    match status {
        Some(s) => (s.success(), text),
        None => (false, format!("st ran past {deadline:?}\n{text}")),
    }
}

#[test]
fn eye_keeps_to_its_openapi_document_under_schemathesis() {
    let Some(st) = schemathesis() else { return };
    let env = Env::new("schemathesis");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    copy_dir(&repo.join("config"), &env.path("config"));
    copy_dir(&repo.join("modules"), &env.path("modules"));
    // Streams a client dropped close at the next keep-alive; schemathesis opens them faster
    // than that, so the stream cap (a documented 503) is raised out of its way.
    let config = std::fs::read_to_string(env.path("config/aivex.toml")).unwrap();
    assert!(
        config.contains("# max_streams = 8"),
        "the shipped [eye] changed"
    );
    std::fs::write(
        env.path("config/aivex.toml"),
        config.replace("# max_streams = 8", "max_streams = 256"),
    )
    .unwrap();
    let port = free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut sup = env.start_config(
        "config/aivex.toml",
        &[
            ("AIVEX_EYE_ADDR", &addr.to_string()),
            ("AIVEX_EYE_TOKEN", TOKEN),
        ],
    );
    // The document as a file, so the run without a token can still read it.
    let doc = wait_for("Eye's OpenAPI document", secs(30.0), || {
        let (status, doc) = http_auth(addr, "GET", "/openapi.json", None, Some(TOKEN))?;
        (status == 200).then_some(doc)
    });
    let doc_path = env.path("openapi.json");
    std::fs::write(&doc_path, doc.to_string()).unwrap();
    wait_for("signals to read", secs(60.0), || {
        let (status, page) = http_auth(addr, "GET", "/signals", None, Some(TOKEN))?;
        (status == 200 && page["count"].as_u64()? > 0).then_some(())
    });
    let doc_arg = path_str(&doc_path);
    let base = format!("http://{addr}");
    let bearer = format!("Authorization: Bearer {TOKEN}");
    let common = [
        "run",
        doc_arg.as_str(),
        "--url",
        base.as_str(),
        "--checks",
        "all",
        "--seed",
        SEED,
        "--request-timeout",
        "5",
        "--workers",
        "1",
    ];
    let runs: [(&str, Vec<&str>); 3] = [
        (
            "every route but the event stream, with the token",
            vec![
                "-H",
                &bearer,
                "--max-examples",
                "15",
                "--exclude-path",
                "/events",
            ],
        ),
        (
            "the event stream, with the token",
            vec![
                "-H",
                &bearer,
                "--max-examples",
                "5",
                "--include-path",
                "/events",
            ],
        ),
        ("every route without the token", vec!["--max-examples", "5"]),
    ];
    for (i, (what, extra)) in runs.into_iter().enumerate() {
        let args: Vec<&str> = common.iter().copied().chain(extra).collect();
        let log = env.path(&format!("st-{i}.log"));
        let (ok, out) = run_st(&st, &args, &log, secs(240.0));
        assert!(!out.contains(TOKEN), "schemathesis printed the token");
        assert!(ok, "schemathesis found problems ({what}):\n{out}");
    }
    assert_eq!(sup.stop(), Some(0));
}
