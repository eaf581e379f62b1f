//! The news component for one symbol: a recency-weighted mean of article sentiment over a
//! window, with exponential decay by half-life, plus an effective article count and a
//! confidence derived from it. Formula and worked examples: crates/news/README.md.
//!
//! Pure: `now` is an argument. It must not read the store; the module passes the
//! (published_at, sentiment) pairs of the symbol's articles.

use serde_json::json;

/// Confidence reaches 0.5 at this many effective articles.
const CONFIDENCE_HALF_N: f64 = 3.0;

/// The news component of one symbol.
#[derive(Debug, Clone, PartialEq)]
pub struct NewsComponent {
    /// Weighted mean sentiment in [-1, 1].
    pub value: f64,
    /// The newest `published_at` that contributed (unix seconds).
    pub as_of: i64,
    /// Articles that contributed.
    pub count: usize,
    /// `{count, effective_n, weight_sum, confidence, window_s, half_life_s, newest_age_s,
    /// oldest_age_s, skipped_future, skipped_invalid}`.
    pub detail: serde_json::Value,
}

/// The numbers behind a news component, before its explanation is written down (what a
/// replay needs at every step; `news_component` adds the `detail`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewsScore {
    /// Weighted mean sentiment in [-1, 1].
    pub value: f64,
    /// The newest `published_at` that contributed.
    pub as_of: i64,
    /// The oldest `published_at` that contributed.
    pub oldest: i64,
    pub count: usize,
    pub effective_n: f64,
    pub weight_sum: f64,
    pub confidence: f64,
    pub skipped_future: usize,
    pub skipped_invalid: usize,
}

/// Recency-weighted sentiment over `(published_at, sentiment)` pairs.
///
/// An article contributes when `now - window_s < published_at <= now`, with weight
/// `0.5^(age / half_life_s)`; `half_life_s <= 0` means no decay (equal weights). Articles
/// dated in the future and non-finite scores are skipped and counted in `detail`. `None` when
/// no article is in the window (or `window_s <= 0`).
pub fn news_component(
    articles: &[(i64, f64)],
    now: i64,
    window_s: i64,
    half_life_s: i64,
) -> Option<NewsComponent> {
    let s = news_score(articles, now, window_s, half_life_s)?;
    Some(NewsComponent {
        value: s.value,
        as_of: s.as_of,
        count: s.count,
        detail: json!({
            "count": s.count,
            "effective_n": s.effective_n,
            "weight_sum": s.weight_sum,
            "confidence": s.confidence,
            "window_s": window_s,
            "half_life_s": half_life_s,
            "newest_age_s": now - s.as_of,
            "oldest_age_s": now - s.oldest,
            "skipped_future": s.skipped_future,
            "skipped_invalid": s.skipped_invalid,
        }),
    })
}

/// `news_component` without the `detail` (the same formula; see there).
pub fn news_score(
    articles: &[(i64, f64)],
    now: i64,
    window_s: i64,
    half_life_s: i64,
) -> Option<NewsScore> {
    if window_s <= 0 {
        return None;
    }
    let (mut wsum, mut wsq, mut acc) = (0.0_f64, 0.0_f64, 0.0_f64);
    let (mut count, mut future, mut invalid) = (0usize, 0usize, 0usize);
    let (mut newest, mut oldest) = (i64::MIN, i64::MAX);
    for &(published, sentiment) in articles {
        let age = now.saturating_sub(published);
        if age < 0 {
            future += 1;
            continue;
        }
        if age >= window_s {
            continue;
        }
        if !sentiment.is_finite() {
            invalid += 1;
            continue;
        }
        let w = if half_life_s > 0 {
            0.5_f64.powf(age as f64 / half_life_s as f64)
        } else {
            1.0
        };
        acc += w * sentiment.clamp(-1.0, 1.0);
        wsum += w;
        wsq += w * w;
        count += 1;
        newest = newest.max(published);
        oldest = oldest.min(published);
    }
    if count == 0 || wsum <= 0.0 {
        return None;
    }
    let value = (acc / wsum).clamp(-1.0, 1.0);
    // Kish's effective sample size: n for equal weights, less when a few recent articles
    // dominate.
    let effective_n = wsum * wsum / wsq;
    Some(NewsScore {
        value,
        as_of: newest,
        oldest,
        count,
        effective_n,
        weight_sum: wsum,
        confidence: effective_n / (effective_n + CONFIDENCE_HALF_N),
        skipped_future: future,
        skipped_invalid: invalid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3600;
    const NOW: i64 = 1_800_000_000;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// The worked examples in README.md.
    #[test]
    fn readme_examples() {
        // Example 1: +0.8 now, -0.4 one half-life ago: (0.8*1 - 0.4*0.5) / 1.5 = 0.4.
        let c = news_component(&[(NOW, 0.8), (NOW - 6 * H, -0.4)], NOW, 24 * H, 6 * H);
        let c = c.unwrap_or_else(|| panic!("example 1 gave None"));
        assert!(close(c.value, 0.4), "{}", c.value);
        assert_eq!((c.as_of, c.count), (NOW, 2));
        // effective n = 1.5^2 / 1.25 = 1.8; confidence = 1.8 / 4.8 = 0.375.
        assert!(close(c.detail["effective_n"].as_f64().unwrap_or(0.0), 1.8));
        assert!(close(c.detail["confidence"].as_f64().unwrap_or(0.0), 0.375));

        // Example 2: three articles, one outside the 24 h window and one in the future.
        let arts = [
            (NOW - 2 * H, 0.5),
            (NOW - 30 * H, -1.0),
            (NOW + H, -1.0),
            (NOW - 14 * H, 0.1),
        ];
        let c = news_component(&arts, NOW, 24 * H, 12 * H)
            .unwrap_or_else(|| panic!("example 2 gave None"));
        let (w1, w2) = (0.5_f64.powf(2.0 / 12.0), 0.5_f64.powf(14.0 / 12.0));
        assert!(
            close(c.value, (0.5 * w1 + 0.1 * w2) / (w1 + w2)),
            "{}",
            c.value
        );
        // The two weights are exactly one half-life apart: (0.5 + 0.1 * 0.5) / 1.5 = 0.3667.
        assert!(close(c.value, 0.55 / 1.5), "{}", c.value);
        assert_eq!((c.count, c.as_of), (2, NOW - 2 * H));
        assert_eq!(c.detail["skipped_future"], 1);
    }

    #[test]
    fn edge_table() {
        // (articles, window, half-life, expected value or None)
        type Row<'a> = (&'a [(i64, f64)], i64, i64, Option<f64>);
        let table: &[Row] = &[
            (&[], 24 * H, 6 * H, None),
            (&[(NOW - 25 * H, 1.0)], 24 * H, 6 * H, None),
            (&[(NOW, 1.0)], 0, 6 * H, None),
            (&[(NOW, 0.3)], 24 * H, 6 * H, Some(0.3)),
            (&[(NOW, 1.0), (NOW - 23 * H, -1.0)], 24 * H, 0, Some(0.0)),
            (&[(NOW, 5.0)], 24 * H, 6 * H, Some(1.0)),
            (&[(NOW, f64::NAN), (NOW, -0.2)], 24 * H, 6 * H, Some(-0.2)),
            (&[(i64::MIN, 1.0), (NOW, 0.5)], 24 * H, 6 * H, Some(0.5)),
        ];
        for (i, (arts, window, hl, want)) in table.iter().enumerate() {
            let got = news_component(arts, NOW, *window, *hl).map(|c| c.value);
            match (got, want) {
                (None, None) => {}
                (Some(g), Some(w)) => assert!(close(g, *w), "row {i}: {g} != {w}"),
                _ => panic!("row {i}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn recent_news_dominates_old_news() {
        let fresh_good = news_component(&[(NOW, 0.9), (NOW - 20 * H, -0.9)], NOW, 24 * H, 4 * H);
        let fresh_bad = news_component(&[(NOW, -0.9), (NOW - 20 * H, 0.9)], NOW, 24 * H, 4 * H);
        assert!(fresh_good
            .zip(fresh_bad)
            .is_some_and(|(g, b)| g.value > 0.8 && b.value < -0.8));
    }
}
