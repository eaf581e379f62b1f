//! Hostile sources through the real binary: a feed of 100k nested elements served over
//! loopback HTTP to a supervised news module, which must keep running (the restart used to
//! refetch the feed and crash again) and store the good feed's items; and the redirect
//! policy end to end in a network namespace where a "public" address exists: redirects from it
//! to loopback, or to a name that resolves to loopback, are refused, a public-to-public one is
//! followed, and `allow_private_redirects = true` lets the private ones through.

use crate::harness::*;
use aivex_store::Store;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// A tiny HTTP/1.1 server on 127.0.0.1 answering fixed routes (200 with the body, else 404).
fn serve(routes: HashMap<&'static str, Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let routes = Arc::new(routes);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let routes = routes.clone();
            std::thread::spawn(move || {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut first = String::new();
                if reader.read_line(&mut first).is_err() {
                    return;
                }
                let mut line = String::new();
                while matches!(reader.read_line(&mut line), Ok(n) if n > 2) {
                    line.clear();
                }
                let path = first.split_whitespace().nth(1).unwrap_or("/");
                let (status, body) = match routes.get(path) {
                    Some(b) => ("200 OK", b.as_slice()),
                    None => ("404 Not Found", &b"no"[..]),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes());
                let _ = conn.write_all(body);
            });
        }
    });
    base
}

fn good_feed() -> String {
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><link>https://good.example/</link>\
         <item><guid>g1</guid><title>Apple shares surge on record profit</title><link>/g1</link>\
         <pubDate>{}</pubDate></item>\
         <item><guid>g2</guid><title>Apple supplier wins contract</title><link>/g2</link></item>\
         </channel></rss>",
        crate::fixtures::rfc822_days_ago(0, 1)
    )
}

fn crash_records(dir: &std::path::Path) -> Vec<Value> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return vec![];
    };
    rd.filter_map(|e| std::fs::read(e.ok()?.path()).ok())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect()
}

#[test]
fn supervised_news_survives_a_deeply_nested_feed() {
    // 100k nested elements in 300 KB overflowed the stack (recursive walk and drop of the
    // element tree); the supervisor restarted the module, which fetched the feed again.
    let deep = format!(
        "<rss><channel><item><title>Deep</title><description>{}",
        "<a>".repeat(100_000)
    );
    let base = serve(HashMap::from([
        ("/deep.xml", deep.into_bytes()),
        ("/good.xml", good_feed().into_bytes()),
    ]));
    let env = Env::new("hostile-deep");
    env.config("[runtime]\nenabled = [\"news\"]\n");
    env.module(
        "news",
        &format!(
            "builtin = \"news\"\ninterval_s = 0.3\n[settings]\nsources = [\"{base}/deep.xml\", \"{base}/good.xml\"]\n\
             [settings.symbols]\nAAPL = [\"Apple\"]\n"
        ),
    );
    let mut sup = env.start(&[]);
    env.wait_module("news", "RUNNING", secs(20.0));
    // One DataValidationError naming the deep feed per cycle: wait for three cycles.
    let records = wait_for("three cycles of the deep feed's error", secs(30.0), || {
        let recs = crash_records(&env.run_dir().join("errors/crashes"));
        let deep: Vec<Value> = recs
            .into_iter()
            .filter(|r| {
                r["class"] == "DataValidationError"
                    && r["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("/deep.xml"))
            })
            .collect();
        (deep.len() >= 3).then_some(deep)
    });
    let msg = records[0]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("nested deeper than 512 levels at line 1"),
        "{msg}"
    );
    let s = env.state().unwrap();
    assert_eq!(s["modules"]["news"]["state"], "RUNNING", "{s}");
    assert_eq!(s["modules"]["news"]["restarts"], 0, "{s}");
    assert_eq!(sup.stop(), Some(0));
    let st = Store::open(&format!(
        "sqlite://{}",
        env.path("data/aivex.sqlite").display()
    ))
    .unwrap();
    let apple = st.articles_for("AAPL", None).unwrap();
    let mut urls: Vec<&str> = apple.iter().map(|a| a.url.as_str()).collect();
    urls.sort();
    assert_eq!(urls, ["https://good.example/g1", "https://good.example/g2"]);
}

/// The "public" address of the namespace (TEST-NET-2: routed nowhere outside it).
const PUBLIC: &str = "198.51.100.7";

const SERVER: &str = r#"
import http.server, sys
FEED = '<rss version="2.0"><channel><item><guid>{0}</guid><title>Apple item {0}</title><link>https://n.example/{0}</link></item></channel></rss>'
REDIRECTS = {
    '/to-loopback': 'http://127.0.0.1:8080/feed-a.xml',
    '/to-name': 'http://internal.test:8080/feed-b.xml',
    '/to-public': 'http://198.51.100.7:8080/feed-c.xml',
}
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path in REDIRECTS:
            self.send_response(302)
            self.send_header('Location', REDIRECTS[self.path])
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        body = FEED.format(self.path.strip('/').split('.')[0]).encode() if self.path.startswith('/feed-') else b'no'
        self.send_response(200 if self.path.startswith('/feed-') else 404)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
server = http.server.ThreadingHTTPServer(('0.0.0.0', 8080), H)
open(sys.argv[1], 'w').write('ready')
server.serve_forever()
"#;

/// Runs `aivex module news --once` with `settings` inside a fresh user, network, mount and pid
/// namespace where `PUBLIC` is a local address, `public.test` resolves to it, `internal.test`
/// resolves to 127.0.0.1, and SERVER listens on port 8080. Returns the exit code and stderr.
fn news_in_netns(env: &Env, settings: &Value) -> (Option<i32>, String) {
    env.write(
        "hosts",
        &format!("127.0.0.1 localhost internal.test\n{PUBLIC} public.test\n"),
    );
    env.write("server.py", SERVER);
    let script = format!(
        "set -e\n\
         mount --bind \"$DIR/hosts\" /etc/hosts\n\
         ip link set lo up\n\
         ip addr add {PUBLIC}/32 dev lo\n\
         rm -f \"$DIR/ready\"\n\
         python3 \"$DIR/server.py\" \"$DIR/ready\" &\n\
         i=0; while [ ! -s \"$DIR/ready\" ]; do sleep 0.05; i=$((i+1)); [ $i -lt 200 ]; done\n\
         set +e\n\
         \"$AIVEX_BIN\" module news --once\n"
    );
    let child = Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--net",
            "--mount",
            "--pid",
            "--fork",
        ])
        .args(["sh", "-c", &script])
        .current_dir(&env.dir)
        .env("DIR", &env.dir)
        .env("AIVEX_BIN", BIN)
        .env("AIVEX_SETTINGS", settings.to_string())
        .env("AIVEX_CONFIG_DIR", &env.dir)
        .env("AIVEX_DATA_DIR", env.path("data"))
        .env("AIVEX_RUN_DIR", env.path("run"))
        .env(
            "AIVEX_DATABASE_URL",
            format!("sqlite://{}", env.path("data/aivex.sqlite").display()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("unshare (util-linux) runs");
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    // The pid namespace's init is sh: killing it takes the server and aivex with it.
    let out = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("news in a network namespace did not finish within 60 s");
        }
    };
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn stored_guids(env: &Env) -> Vec<String> {
    let st = Store::open(&format!(
        "sqlite://{}",
        env.path("data/aivex.sqlite").display()
    ))
    .unwrap();
    let mut urls: Vec<String> = st
        .articles_for("AAPL", None)
        .unwrap()
        .into_iter()
        .map(|a| a.url.rsplit('/').next().unwrap_or_default().to_string())
        .collect();
    urls.sort();
    urls
}

#[test]
fn redirects_from_a_public_address_to_private_ones_are_refused_unless_allowed() {
    let env = Env::new("hostile-redirect");
    env.config(&format!(
        "[runtime]\nenabled = []\n[database]\nurl = \"sqlite://{}\"\n",
        env.path("data/aivex.sqlite").display()
    ));
    let out = env.run(&["migrate", "--config", "aivex.toml"], secs(60.0));
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let sources = [
        format!("http://{PUBLIC}:8080/to-loopback"),
        format!("http://{PUBLIC}:8080/to-name"),
        "http://public.test:8080/to-public".to_string(),
    ];
    let mut settings = json!({"sources": sources, "symbols": {"AAPL": ["Apple"]}});
    let (code, stderr) = news_in_netns(&env, &settings);
    assert_eq!(code, Some(0), "{stderr}");
    // Only the public-to-public redirect was followed.
    assert_eq!(stored_guids(&env), ["feed-c"], "{stderr}");
    let recs = crash_records(&env.path("run/errors/crashes"));
    let refused: Vec<&str> = recs
        .iter()
        .filter(|r| r["class"] == "DataValidationError")
        .filter_map(|r| r["message"].as_str())
        .filter(|m| m.contains("private address"))
        .collect();
    assert_eq!(refused.len(), 2, "{recs:?}\n{stderr}");
    assert!(
        refused
            .iter()
            .any(|m| m.contains("/to-loopback") && m.contains("127.0.0.1")),
        "{refused:?}"
    );
    assert!(
        refused
            .iter()
            .any(|m| m.contains("/to-name") && m.contains("internal.test")),
        "{refused:?}"
    );
    assert!(
        refused
            .iter()
            .all(|m| m.contains("allow_private_redirects")),
        "{refused:?}"
    );

    // The operator opts in: the private targets are fetched too.
    settings["allow_private_redirects"] = json!(true);
    let _ = std::fs::remove_dir_all(env.path("run/errors"));
    let (code, stderr) = news_in_netns(&env, &settings);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        stored_guids(&env),
        ["feed-a", "feed-b", "feed-c"],
        "{stderr}"
    );
    assert!(
        crash_records(&env.path("run/errors/crashes")).is_empty(),
        "{stderr}"
    );
    // A mistyped opt-in is a ConfigError, not a silent default.
    settings["allow_private_redirects"] = json!("yes");
    let (code, stderr) = news_in_netns(&env, &settings);
    assert_eq!(code, Some(2), "{stderr}");
}
