//! Module sandboxes: rlimits really limit, `network = "none"` really cuts the network, and the
//! modes this host cannot provide are config errors, not crash loops.

use crate::harness::*;

#[test]
fn memory_limit_kills_a_greedy_module_and_is_handled_as_a_crash() {
    let env = Env::new("mem");
    env.config("[runtime]\nenabled = [\"greedy\", \"modest\"]\n");
    let greedy =
        "python3 -c 'x = bytearray(400 * 1024 * 1024); print(\"allocated\")' && exec sleep 1000";
    env.sh_module(
        "greedy",
        greedy,
        "sandbox = \"rlimit\"\nmemory_limit = \"200M\"\n",
    );
    env.sh_module(
        "modest",
        "python3 -c 'x = bytearray(50 * 1024 * 1024)' && exec sleep 1000",
        "sandbox = \"rlimit\"\nmemory_limit = \"200M\"\n",
    );
    let mut sup = env.start(&[]);
    let s = env.wait_state("greedy crashed", secs(20.0), |s| {
        s["modules"]["greedy"]["restarts"].as_u64() >= Some(1)
    });
    assert_eq!(s["modules"]["greedy"]["last_exit"]["code"], 1, "{s}");
    let log = std::fs::read_to_string(env.run_dir().join("logs/greedy.log")).unwrap();
    assert!(log.contains("MemoryError"), "{log}");
    assert!(!log.contains("allocated"));
    let s = env.wait_module("modest", "RUNNING", secs(5.0));
    assert_eq!(s["modules"]["modest"]["restarts"], 0);
    assert_eq!(sup.stop(), Some(0));
}

#[test]
fn open_files_and_cpu_limits_apply() {
    let env = Env::new("rlim");
    env.config("[runtime]\nenabled = [\"lim\"]\n");
    env.sh_module(
        "lim",
        "ulimit -n > ../../nofile; ulimit -t > ../../cpu; exec sleep 1000",
        "sandbox = \"rlimit\"\nopen_files = 64\ncpu_seconds = 7\n",
    );
    let mut sup = env.start(&[]);
    let nofile = wait_for("nofile", secs(10.0), || {
        std::fs::read_to_string(env.path("nofile"))
            .ok()
            .filter(|s| !s.is_empty())
    });
    assert_eq!(nofile.trim(), "64");
    let cpu = wait_for("cpu", secs(10.0), || {
        std::fs::read_to_string(env.path("cpu"))
            .ok()
            .filter(|s| !s.is_empty())
    });
    assert_eq!(cpu.trim(), "7");
    assert_eq!(sup.stop(), Some(0));
}

#[test]
fn network_none_cannot_reach_a_loopback_server() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let env = Env::new("netns");
    env.config("[runtime]\nenabled = [\"isolated\", \"open\"]\n");
    let try_connect = format!(
        "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}), 2)' \
         && echo connected > ../../$AIVEX_MODULE.result || echo refused > ../../$AIVEX_MODULE.result; exec sleep 1000"
    );
    env.sh_module(
        "isolated",
        &try_connect,
        "sandbox = \"rlimit\"\nnetwork = \"none\"\n",
    );
    env.sh_module(
        "open",
        &try_connect,
        "sandbox = \"rlimit\"\nnetwork = \"host\"\n",
    );
    let mut sup = env.start(&[]);
    let read = |m: &str| {
        wait_for(m, secs(10.0), || {
            std::fs::read_to_string(env.path(&format!("{m}.result"))).ok()
        })
    };
    assert_eq!(read("open").trim(), "connected");
    assert_eq!(read("isolated").trim(), "refused");
    assert_eq!(sup.stop(), Some(0));
}

#[test]
fn docker_without_an_engine_is_a_config_error_not_a_crash_loop() {
    let env = Env::new("docker");
    env.config("[runtime]\nenabled = [\"boxed\"]\n");
    env.sh_module(
        "boxed",
        "exit 0",
        "sandbox = \"docker\"\nimage = \"debian:12-slim\"\nmemory_limit = \"64M\"\n",
    );
    let mut sup = env
        .cmd(&["run", "--config", "aivex.toml"])
        .env(
            "DOCKER_HOST",
            format!("unix://{}", env.path("no-docker.sock").display()),
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let s = env.wait_state("config error", secs(10.0), |s| {
        s["modules"]["boxed"]["reason"] == "config_error"
    });
    assert!(
        s["modules"]["boxed"]["last_exit"]["reason"]
            .as_str()
            .unwrap()
            .contains("no Docker engine"),
        "{s}"
    );
    assert_eq!(s["modules"]["boxed"]["restarts"], 0);
    unsafe { libc::kill(sup.id() as i32, libc::SIGTERM) };
    assert!(sup.wait().unwrap().success());
}

#[test]
fn kubernetes_is_reserved_and_refused() {
    let env = Env::new("k8s");
    env.config("[runtime]\nenabled = [\"k\"]\n");
    env.sh_module("k", "exit 0", "sandbox = \"kubernetes\"\n");
    let out = env.run(&["check-config", "--config", "aivex.toml"], secs(10.0));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("not supported"), "{:?}", text(&out));
}

#[test]
fn sandbox_defaults_come_from_the_environment() {
    let env = Env::new("sbenv");
    env.config("[runtime]\nenabled = [\"lim\"]\n");
    env.sh_module("lim", "ulimit -v > ../../as; exec sleep 1000", "");
    let mut child = env
        .cmd(&["run", "--config", "aivex.toml"])
        .env("AIVEX_SANDBOX_MODE", "rlimit")
        .env("AIVEX_SANDBOX_MEMORY_LIMIT", "256M")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let v = wait_for("ulimit -v", secs(10.0), || {
        std::fs::read_to_string(env.path("as"))
            .ok()
            .filter(|s| !s.is_empty())
    });
    assert_eq!(v.trim(), (256 * 1024).to_string());
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
}
