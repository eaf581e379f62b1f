//! aivex-source: fetching a module's source: a local file or an http(s) URL with timeouts, a size cap and a User-Agent
