//! The `news_articles` table and its ticker index `news_tickers` (one row per article and
//! distinct ticker, replaced whenever the article changes).
//!
//! It owns `Article`, its checks, how tickers are stored (comma-joined in the article, one row
//! each in the index), every statement on both tables in both dialects side by side, and the
//! `Store` methods that write and read articles. It must not open connections or transactions
//! (the backends do) or read the clock (`ingested_at` comes from the caller).

use crate::counts::{insert_or_update, row_counts, UpsertCounts};
use crate::db::{column, placeholders, qualified, Cells, Db, Decode, Dialect, Param};
use crate::error::Result;
use crate::tables::{at_most, finite, invalid, non_empty};
use crate::Store;

/// A news article with its NLP outputs. `id` is chosen by the caller (guid or a hash of the
/// canonical URL). `ingested_at` is kept from the first ingest: re-ingesting an unchanged
/// article changes nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Article {
    pub id: String,
    pub source: String,
    pub url: String,
    pub title: String,
    pub summary: String,
    pub published_at: Option<i64>,
    pub ingested_at: i64,
    pub sentiment: f64,
    /// `method@version`, e.g. `lexicon@1`.
    pub sentiment_method: String,
    pub tickers: Vec<String>,
}

/// What a replay needs of an article: when it counts from and its sentiment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArticleSentiment {
    pub published_at: Option<i64>,
    pub ingested_at: i64,
    pub sentiment: f64,
}

impl Decode for ArticleSentiment {
    fn decode(r: &mut impl Cells) -> Result<Self> {
        Ok(ArticleSentiment {
            published_at: r.get(0)?,
            ingested_at: r.get(1)?,
            sentiment: r.get(2)?,
        })
    }
}

/// The columns of `news_articles`, in the order of `Decode for Article`.
const COLS: &str = "id, source, url, title, summary, published_at, ingested_at, sentiment, \
                    sentiment_method, tickers";

impl Decode for Article {
    fn decode(r: &mut impl Cells) -> Result<Self> {
        let tickers: String = r.get(9)?;
        Ok(Article {
            id: r.get(0)?,
            source: r.get(1)?,
            url: r.get(2)?,
            title: r.get(3)?,
            summary: r.get(4)?,
            published_at: r.get(5)?,
            ingested_at: r.get(6)?,
            sentiment: r.get(7)?,
            sentiment_method: r.get(8)?,
            tickers: split_tickers(&tickers),
        })
    }
}

pub(crate) fn validate(i: usize, a: &Article) -> Result<()> {
    non_empty("article", i, "id", &a.id, 128)?;
    non_empty("article", i, "source", &a.source, 128)?;
    non_empty("article", i, "sentiment_method", &a.sentiment_method, 64)?;
    at_most("article", i, "url", &a.url, 2048)?;
    finite("article", i, "sentiment", a.sentiment)?;
    for t in &a.tickers {
        non_empty("article", i, "tickers", t, 32)?;
        if t.contains(',') {
            return Err(invalid(
                "article",
                i,
                "tickers",
                "holds a ticker with a comma",
            ));
        }
    }
    Ok(())
}

/// The parameters of a row, in `COLS` order; `tickers` is `join_tickers(&a.tickers)`.
fn params<'a>(a: &'a Article, tickers: &'a str) -> [Param<'a>; 10] {
    [
        (&a.id).into(),
        (&a.source).into(),
        (&a.url).into(),
        (&a.title).into(),
        (&a.summary).into(),
        a.published_at.into(),
        a.ingested_at.into(),
        a.sentiment.into(),
        (&a.sentiment_method).into(),
        tickers.into(),
    ]
}

/// Tickers as stored in `news_articles.tickers`: comma-separated, in the caller's order.
fn join_tickers(t: &[String]) -> String {
    t.join(",")
}

fn split_tickers(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// The distinct tickers of an article, for the `news_tickers` index.
fn distinct_tickers(t: &[String]) -> Vec<&str> {
    let mut v: Vec<&str> = t.iter().map(String::as_str).collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn upsert<D: Db>(db: &mut D, articles: &[Article]) -> Result<UpsertCounts> {
    let mut counts = UpsertCounts::default();
    for a in articles {
        let tickers = join_tickers(&a.tickers);
        let c = match D::DIALECT {
            Dialect::Sqlite => sqlite_upsert(db, a, &tickers)?,
            Dialect::Mysql => mysql_upsert(db, a, &tickers)?,
        };
        if c.unchanged == 0 {
            replace_tickers::<D>(db, a)?;
        }
        counts.add(c);
    }
    Ok(counts)
}

/// SQLite: insert, else update when something differs. `ingested_at` is only written on
/// insert: the first ingest time is kept.
fn sqlite_upsert(db: &mut impl Db, a: &Article, tickers: &str) -> Result<UpsertCounts> {
    let args = params(a, tickers);
    let marks = placeholders(1, args.len());
    let inserted = db.exec(
        &format!(
            "INSERT INTO news_articles ({COLS}) VALUES {marks} \
             ON CONFLICT (id) DO NOTHING"
        ),
        &args,
    )? == 1;
    // ?7 (ingested_at) is bound but not used: the first ingest time is kept.
    let updated = !inserted
        && db.exec(
            "UPDATE news_articles SET source = ?2, url = ?3, title = ?4, summary = ?5, \
             published_at = ?6, sentiment = ?8, sentiment_method = ?9, tickers = ?10 \
             WHERE id = ?1 AND (source IS NOT ?2 OR url IS NOT ?3 OR title IS NOT ?4 \
             OR summary IS NOT ?5 OR published_at IS NOT ?6 OR sentiment IS NOT ?8 \
             OR sentiment_method IS NOT ?9 OR tickers IS NOT ?10)",
            &args,
        )? == 1;
    Ok(insert_or_update(inserted, updated))
}

/// MySQL/MariaDB: one `ON DUPLICATE KEY UPDATE` that leaves `ingested_at` alone.
fn mysql_upsert(db: &mut impl Db, a: &Article, tickers: &str) -> Result<UpsertCounts> {
    let args = params(a, tickers);
    let marks = placeholders(1, args.len());
    let affected = db.exec(
        &format!(
            "INSERT INTO news_articles ({COLS}) VALUES {marks} \
             ON DUPLICATE KEY UPDATE source = VALUES(source), url = VALUES(url), \
             title = VALUES(title), summary = VALUES(summary), \
             published_at = VALUES(published_at), sentiment = VALUES(sentiment), \
             sentiment_method = VALUES(sentiment_method), tickers = VALUES(tickers)"
        ),
        &args,
    )?;
    Ok(row_counts(affected))
}

/// Rebuilds the `news_tickers` rows of an article that was inserted or changed: SQLite one
/// cached single-row insert per ticker, MySQL/MariaDB one multi-row insert (a round trip
/// each is what costs there).
fn replace_tickers<D: Db>(db: &mut D, a: &Article) -> Result<()> {
    db.exec(
        "DELETE FROM news_tickers WHERE article_id = ?",
        &[(&a.id).into()],
    )?;
    let tickers = distinct_tickers(&a.tickers);
    match D::DIALECT {
        Dialect::Sqlite => {
            for t in tickers {
                db.exec(
                    "INSERT INTO news_tickers (article_id, ticker) VALUES (?, ?)",
                    &[(&a.id).into(), t.into()],
                )?;
            }
        }
        Dialect::Mysql if !tickers.is_empty() => {
            let args: Vec<Param<'_>> = tickers
                .iter()
                .flat_map(|t| [Param::Text(&a.id), Param::Text(t)])
                .collect();
            db.exec(
                &format!(
                    "INSERT INTO news_tickers (article_id, ticker) VALUES {}",
                    placeholders(tickers.len(), 2)
                ),
                &args,
            )?;
        }
        Dialect::Mysql => {}
    }
    Ok(())
}

/// `(sql, params)` for `Store::articles_for` (both dialects), oldest first by publication
/// (or ingest) time.
fn articles_query(ticker: &str, since: Option<i64>) -> (String, Vec<Param<'_>>) {
    let mut params = vec![Param::Text(ticker)];
    let mut sql = format!(
        "SELECT {} FROM news_tickers t JOIN news_articles a ON a.id = t.article_id \
         WHERE t.ticker = ?",
        qualified(COLS, "a")
    );
    if let Some(s) = since {
        sql.push_str(" AND COALESCE(a.published_at, a.ingested_at) >= ?");
        params.push(Param::Int(s));
    }
    sql.push_str(" ORDER BY COALESCE(a.published_at, a.ingested_at) ASC, a.id ASC");
    (sql, params)
}

impl Store {
    /// Inserts or updates articles (keyed by id) and their ticker index, in one transaction.
    /// `ingested_at` of an existing article is kept, so re-ingesting changes nothing.
    pub fn upsert_articles(&mut self, articles: &[Article]) -> Result<UpsertCounts> {
        for (i, a) in articles.iter().enumerate() {
            validate(i, a)?;
        }
        db_write!(self, |db| upsert(db, articles))
    }

    /// The publication time, ingest time and sentiment of every article mentioning `ticker`,
    /// oldest first by publication (or ingest) time: the lean read a replay steps through.
    pub fn article_sentiments(&self, ticker: &str) -> Result<Vec<ArticleSentiment>> {
        db_read!(self, |db| db.rows(
            "SELECT a.published_at, a.ingested_at, a.sentiment FROM news_tickers t \
             JOIN news_articles a ON a.id = t.article_id WHERE t.ticker = ? \
             ORDER BY COALESCE(a.published_at, a.ingested_at) ASC, a.id ASC",
            &[Param::Text(ticker)]
        ))
    }

    /// How many articles are stored.
    pub fn article_count(&self) -> Result<u64> {
        let n: Vec<i64> = db_read!(self, |db| column(
            db,
            "SELECT COUNT(*) FROM news_articles",
            &[]
        ))?;
        Ok(n.first().map_or(0, |n| u64::try_from(*n).unwrap_or(0)))
    }

    /// Articles mentioning `ticker` published (or, without a date, ingested) at or after
    /// `since`, oldest first.
    pub fn articles_for(&self, ticker: &str, since: Option<i64>) -> Result<Vec<Article>> {
        let (q, p) = articles_query(ticker, since);
        db_read!(self, |db| db.rows(&q, &p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickers_round_trip() {
        let t = vec!["AAPL".to_string(), "MSFT".to_string(), "AAPL".to_string()];
        assert_eq!(split_tickers(&join_tickers(&t)), t);
        assert_eq!(distinct_tickers(&t), vec!["AAPL", "MSFT"]);
        assert!(split_tickers("").is_empty());
    }

    #[test]
    fn articles_query_counts_params() {
        for (since, n) in [(None, 1), (Some(5), 2)] {
            let (sql, params) = articles_query("AAPL", since);
            assert_eq!(params.len(), n);
            assert_eq!(sql.matches('?').count(), n, "{sql}");
            assert!(sql.starts_with("SELECT a.id, a.source,"), "{sql}");
        }
    }
}
