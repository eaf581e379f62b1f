//! Table tests of the `[eye]` validation (kept apart so config.rs stays about the keys).
use super::*;
use serde_json::json;

#[test]
fn config_table() {
    let ok = |t: Value, addr: Option<&str>, tok: Option<&str>| EyeConfig::from_parts(&t, addr, tok);
    let c = ok(Value::Null, None, None).unwrap_or_default();
    assert_eq!(c, EyeConfig::default());
    let c = ok(
        json!({"listen": "0.0.0.0:9000", "tokens": ["abcdefgh1"]}),
        Some("127.0.0.1:1"),
        Some("tok-two-22, tok-three-3"),
    )
    .unwrap_or_default();
    assert_eq!(c.listen, "127.0.0.1:1");
    assert_eq!(c.tokens, vec!["abcdefgh1", "tok-two-22", "tok-three-3"]);
    let c = ok(
        json!({"health": {"fail_on": ["store"]}, "freshness": {"news": 3600}}),
        None,
        None,
    )
    .unwrap_or_default();
    assert_eq!(c.fail_on, vec!["store"]);
    assert_eq!(c.freshness.get("news"), Some(&3600.0));

    let bad: &[(Value, Option<&str>, &str)] = &[
        (json!({"listn": "x"}), None, "[eye] listn: unknown key"),
        (
            json!({"workers": 0}),
            None,
            "[eye] workers: must be an integer in 1..=64",
        ),
        (
            json!({"workers": "4"}),
            None,
            "[eye] workers: must be an integer",
        ),
        (
            json!({"tokens": ["short"]}),
            None,
            "[eye] tokens: item 0: a token must be at least 8",
        ),
        (
            json!({"tokens": "abcdefghij"}),
            None,
            "[eye] tokens: must be a list",
        ),
        (
            Value::Null,
            Some("has space inside"),
            "AIVEX_EYE_TOKEN item 0: a token may hold only visible",
        ),
        (
            json!({"health": {"fail_on": ["memory"]}}),
            None,
            "[eye] health.fail_on: item 0 is \"memory\"",
        ),
        (
            json!({"freshness": {"prices": 10}}),
            None,
            "[eye] freshness.prices: unknown input kind",
        ),
        (
            json!({"freshness": {"news": -1}}),
            None,
            "[eye] freshness.news: must be a positive",
        ),
        (
            json!({"header_timeout_s": 0}),
            None,
            "[eye] header_timeout_s: must be a positive",
        ),
        (json!(3), None, "[eye] must be a table"),
        (
            json!({"listen": "0.0.0.0:8080"}),
            None,
            "[eye] listen \"0.0.0.0:8080\": not a loopback address, and no token is configured: set [eye] tokens",
        ),
        (
            json!({"listen": "eye.lan:8080"}),
            None,
            "[eye] listen \"eye.lan:8080\": not a loopback address",
        ),
        (
            json!({"allow_anonymous": "yes"}),
            None,
            "[eye] allow_anonymous: must be true or false",
        ),
        (json!({"hosts": "x"}), None, "[eye] hosts: must be a list"),
        (
            json!({"hosts": ["a b"]}),
            None,
            "[eye] hosts: item 0 \"a b\" is not a host name",
        ),
        (
            json!({"max_connections": 0}),
            None,
            "[eye] max_connections: must be an integer in 1..=65536",
        ),
    ];
    for (t, tok, want) in bad {
        let got = EyeConfig::from_parts(t, None, *tok)
            .err()
            .unwrap_or_default();
        assert!(got.starts_with(want), "{t}: got {got:?}, want {want:?}");
    }
    // The disk check is one of the checks health may fail on.
    let c = EyeConfig::from_parts(&json!({"health": {"fail_on": ["disk"]}}), None, None).unwrap();
    assert_eq!(c.fail_on, ["disk"]);
}

#[test]
fn non_loopback_needs_a_token_or_allow_anonymous() {
    let table: &[(Value, Option<&str>, Option<&str>, bool)] = &[
        (json!({}), None, None, true),
        (json!({"listen": "127.0.0.2:80"}), None, None, true),
        (json!({"listen": "[::1]:80"}), None, None, true),
        (json!({"listen": "localhost:80"}), None, None, true),
        (json!({"listen": "0.0.0.0:80"}), None, None, false),
        (json!({"listen": "[::]:80"}), None, None, false),
        (json!({}), Some("192.168.1.5:80"), None, false),
        (
            json!({"listen": "0.0.0.0:80"}),
            None,
            Some("a-token-123"),
            true,
        ),
        (
            json!({"listen": "0.0.0.0:80", "tokens": ["a-token-123"]}),
            None,
            None,
            true,
        ),
        (
            json!({"listen": "0.0.0.0:80", "allow_anonymous": true}),
            None,
            None,
            true,
        ),
        (
            json!({"listen": "0.0.0.0:80", "allow_anonymous": false}),
            None,
            None,
            false,
        ),
    ];
    for (t, addr, tok, ok) in table {
        let got = EyeConfig::from_parts(t, *addr, *tok);
        assert_eq!(got.is_ok(), *ok, "{t} {addr:?}: {got:?}");
        if let Err(e) = got {
            assert!(e.contains("allow_anonymous"), "{e}");
        }
    }
    let c = EyeConfig::from_parts(
        &json!({"hosts": ["Eye.Example.org", "box:9000"]}),
        None,
        None,
    )
    .unwrap_or_default();
    assert_eq!(c.hosts, vec!["eye.example.org", "box:9000"]);
}

#[test]
fn debug_hides_tokens() {
    let c = EyeConfig::from_parts(&json!({"tokens": ["secret-token-1"]}), None, None)
        .unwrap_or_default();
    let d = format!("{c:?}");
    assert!(!d.contains("secret-token-1"), "{d}");
    assert!(d.contains("<1 configured>"), "{d}");
}
