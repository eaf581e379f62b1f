//! aivex-news: news: RSS/Atom/JSON Feed/Alpha Vantage parsing, canonical ids, lexicon sentiment, ticker extraction, the news component
