//! Bearer-token authentication: parsing the `Authorization` header and comparing the presented
//! token with every configured one in constant time.
//!
//! It owns the rule "no tokens configured = open, otherwise a matching bearer token is
//! required". It must never log, echo or store a presented token, and the comparison must not
//! return early on the first differing byte (or the first matching token), so timing reveals
//! neither a token's content nor which token matched.

/// Compares two byte strings in time that depends only on their lengths.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    // Fold the length difference in, then walk the longer input in full.
    let mut diff = (a.len() ^ b.len()) as u64;
    let n = a.len().max(b.len());
    for i in 0..n {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= u64::from(x ^ y);
    }
    // black_box keeps the optimiser from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

/// True when the request may pass: no tokens configured, or `authorization` is
/// `Bearer <token>` with a configured token.
pub fn allowed(tokens: &[String], authorization: Option<&str>) -> bool {
    if tokens.is_empty() {
        return true;
    }
    let presented = authorization
        .and_then(|h| {
            let (scheme, rest) = h.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(rest.trim())
        })
        .unwrap_or("");
    let mut ok = false;
    for t in tokens {
        // `|` not `||`: every token is compared whatever the earlier results.
        ok |= ct_eq(presented.as_bytes(), t.as_bytes());
    }
    ok && !presented.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_table() {
        let tokens = vec!["old-token-1".to_string(), "new-token-2".to_string()];
        let table: &[(&[String], Option<&str>, bool)] = &[
            (&[], None, true),
            (&[], Some("Bearer anything"), true),
            (&tokens, None, false),
            (&tokens, Some("Bearer old-token-1"), true),
            (&tokens, Some("bearer  new-token-2 "), true),
            (&tokens, Some("Bearer new-token-"), false),
            (&tokens, Some("Bearer new-token-22"), false),
            (&tokens, Some("Basic old-token-1"), false),
            (&tokens, Some("old-token-1"), false),
            (&tokens, Some("Bearer "), false),
        ];
        for (t, h, want) in table {
            assert_eq!(allowed(t, *h), *want, "{h:?}");
        }
        assert!(ct_eq(b"", b""));
        assert!(!ct_eq(b"a", b""));
    }
}
