//! What Eye's module cycle does between requests: probe the store, the inputs and the data
//! directory's free space for `/health`, find newly stored signals and publish them (with their
//! governor decision) on the event hub and in the metrics, bring the read model (`model.rs`)
//! up to the store's version, tail the supervisor's `history.jsonl` for module state changes,
//! and write `/health`'s verdict (`contract::HealthVerdict`) to the run's `state/health.json`
//! when it changes (and once a minute while it holds), which the supervisor turns into
//! `health_degraded` / `health_recovered` alerts.
//!
//! It owns the "what is new" bookkeeping: signals are found by `created_at` inside a sliding
//! overlap window and de-duplicated by id (the brain stamps `created_at` with its clock, and a
//! transaction may commit a little after it); signals older than Eye's start are counted for
//! the metrics in pages over several cycles, never all at once. Every step is bounded per
//! cycle so a cycle returns quickly. It must not serve requests.

use crate::api;
use crate::app::App;
use crate::error::ApiError;
use crate::health::Probe;
use aivex_core::contract::ReasonCodes;
use aivex_store::{SignalFilter, SignalRecord, Store};
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

/// Signals created this long before the newest one seen are still looked for.
pub const OVERLAP_S: i64 = 120;
const PAGE: usize = 500;
const LIVE_PAGES: usize = 10;
const BACKFILL_PAGES: usize = 5;
const HISTORY_READ_MAX: u64 = 256 * 1024;

pub struct Housekeeping {
    store: Option<Store>,
    /// Newest created_at seen; None until the first successful poll.
    high_water: Option<i64>,
    /// Ids seen inside the overlap window, with their created_at.
    seen: HashMap<String, i64>,
    /// Backfill of signals older than the start window: None when finished.
    backfill: Option<Backfill>,
    history: HistoryTail,
    verdict: VerdictFile,
}

/// The last verdict written to `state/health.json`.
struct VerdictFile {
    path: PathBuf,
    last: Option<(bool, Vec<String>, f64)>,
}

/// A verdict that has not changed is written again after this long, so its reader can tell a
/// live Eye's verdict from a dead one's.
const VERDICT_REFRESH_S: f64 = 60.0;

impl VerdictFile {
    fn update(&mut self, app: &App, now_unix: f64) {
        let (healthy, body) = app.verdict(now_unix);
        let failing: Vec<String> = body["failing"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let unchanged = self.last.as_ref().is_some_and(|(h, f, at)| {
            *h == healthy && *f == failing && now_unix - at < VERDICT_REFRESH_S
        });
        if unchanged {
            return;
        }
        let details = body["checks"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|c| failing.iter().any(|f| c["name"] == f.as_str()))
                    .map(|c| {
                        format!(
                            "{}: {}",
                            c["name"].as_str().unwrap_or(""),
                            c["detail"].as_str().unwrap_or("")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let v = aivex_core::contract::HealthVerdict {
            healthy,
            failing: failing.clone(),
            details,
            at_unix: now_unix,
        };
        if let Err(e) = aivex_platform::write_atomic(&self.path, &v.to_json()) {
            // Once per verdict, not every cycle: the next try comes with a change or a refresh.
            log::warn!("eye: cannot write {}: {e}", self.path.display());
        }
        self.last = Some((healthy, failing, now_unix));
    }
}

struct Backfill {
    until: i64,
    cursor: Option<(i64, String)>,
}

impl Housekeeping {
    pub fn new(history_file: PathBuf, health_file: PathBuf) -> Housekeeping {
        Housekeeping {
            store: None,
            high_water: None,
            seen: HashMap::new(),
            backfill: None,
            history: HistoryTail::new(history_file),
            verdict: VerdictFile {
                path: health_file,
                last: None,
            },
        }
    }

    /// One round. Errors are reported through the probe (and the log), not returned: a store
    /// outage must leave Eye serving `/health` with 503, not restart it.
    pub fn run(&mut self, app: &App, now_unix: f64) {
        let probe = self.probe(app, now_unix);
        let store_ok = probe.store.is_ok();
        if let Ok(inputs) = &probe.inputs {
            app.metrics.set_inputs(inputs.clone());
        }
        *app.probe() = Some(probe);
        self.verdict.update(app, now_unix);
        if store_ok {
            if let Err(e) = self.poll_signals(app, now_unix as i64) {
                log::warn!("eye: polling new signals failed: {e}");
                self.store = None;
            }
        }
        // After the poll: a signal announced on /events is in the model by then (the model
        // may be ahead of the events, never behind them).
        if let Some(store) = self.store.as_ref() {
            if let Err(e) = app.model.refresh(store) {
                log::warn!("eye: refreshing the read model failed: {e}");
                self.store = None;
            }
        }
        for line in self.history.read_new() {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                app.events.publish("module", v.to_string());
                app.metrics.event_published();
            }
        }
    }

    fn probe(&mut self, app: &App, now_unix: f64) -> Probe {
        let disk_free = free_bytes(&app.data_dir);
        let result = (|| {
            if self.store.is_none() {
                let s = crate::app::open_store(&app.db_url)?;
                s.check_schema()?;
                self.store = Some(s);
            }
            let Some(s) = self.store.as_ref() else {
                return Err(aivex_store::StoreError::Unavailable(
                    "store not open".into(),
                ));
            };
            s.ping()?;
            let mut kinds: BTreeMap<String, (i64, u64)> = BTreeMap::new();
            for c in s.all_components()? {
                let e = kinds.entry(c.kind.clone()).or_insert((c.as_of, 0));
                e.0 = e.0.max(c.as_of);
                e.1 += 1;
            }
            Ok(kinds)
        })();
        // In a cluster, the node and lease rows (read on the same connection; a failure here
        // fails only the cluster check).
        let cluster = match (&app.cluster, self.store.as_ref()) {
            (None, _) => None,
            (Some(_), None) => Some(Err("store not open".to_string())),
            (Some(_), Some(s)) => Some(
                s.cluster_nodes()
                    .and_then(|nodes| {
                        Ok(crate::cluster::View {
                            nodes,
                            leases: s.shard_leases()?,
                        })
                    })
                    .map_err(|e| e.to_string()),
            ),
        };
        match result {
            Ok(kinds) => Probe {
                at_unix: now_unix,
                store: Ok(()),
                inputs: Ok(kinds),
                cluster,
                disk_free,
            },
            Err(e) => {
                self.store = None;
                let msg = e.to_string();
                Probe {
                    at_unix: now_unix,
                    store: Err(msg.clone()),
                    inputs: Err(msg.clone()),
                    cluster: app.cluster.as_ref().map(|_| Err(msg)),
                    disk_free,
                }
            }
        }
    }

    fn poll_signals(&mut self, app: &App, now: i64) -> Result<(), aivex_store::StoreError> {
        let Some(store) = self.store.as_ref() else {
            return Ok(());
        };
        let hw = match self.high_water {
            Some(h) => h,
            None => {
                // First poll: everything before the window is history (counted, not
                // announced); the window itself is announced like new signals.
                let start = now - OVERLAP_S;
                self.backfill = Some(Backfill {
                    until: start - OVERLAP_S,
                    cursor: None,
                });
                self.high_water = Some(start);
                start
            }
        };
        let since = hw - OVERLAP_S;
        let mut fresh: Vec<SignalRecord> = Vec::new();
        let mut cursor = None;
        for _ in 0..LIVE_PAGES {
            let page = store.signals_query(&SignalFilter {
                since: Some(since),
                limit: Some(PAGE),
                after: cursor.clone(),
                ..Default::default()
            })?;
            let full = page.len() == PAGE;
            cursor = page.last().map(|s| (s.created_at, s.id.clone()));
            fresh.extend(page.into_iter().filter(|s| !self.seen.contains_key(&s.id)));
            if !full {
                break;
            }
        }
        // Announce oldest first so ids follow creation order.
        fresh.reverse();
        let mut new_hw = hw;
        let ids: Vec<&str> = fresh.iter().map(|s| s.id.as_str()).collect();
        let logs = store.governor_logs_for(&ids)?;
        for (s, gov) in fresh.iter().zip(logs) {
            app.metrics
                .signal(&s.decision, &ReasonCodes::decode(&s.reasons));
            // A signal is announced when it is stored: not scored yet.
            announce(app, "signal", &s.id, api::signal_json(s, &gov, None));
            if let Some(g) = gov.last() {
                announce(app, "decision", &s.id, api::governor_json(g));
            }
            new_hw = new_hw.max(s.created_at);
            self.seen.insert(s.id.clone(), s.created_at);
        }
        self.high_water = Some(new_hw);
        let floor = new_hw - OVERLAP_S;
        self.seen.retain(|_, at| *at >= floor);

        if let Some(b) = self.backfill.as_mut() {
            for _ in 0..BACKFILL_PAGES {
                let page = store.signals_query(&SignalFilter {
                    until: Some(b.until),
                    limit: Some(PAGE),
                    after: b.cursor.clone(),
                    ..Default::default()
                })?;
                for s in &page {
                    app.metrics
                        .signal(&s.decision, &ReasonCodes::decode(&s.reasons));
                }
                b.cursor = page.last().map(|s| (s.created_at, s.id.clone()));
                if page.len() < PAGE {
                    self.backfill = None;
                    break;
                }
            }
        }
        Ok(())
    }
}

/// Follows `history.jsonl`, starting at its end (no replay of old events) and restarting at
/// the top when the file is replaced (a new run behind `runs/current`).
pub struct HistoryTail {
    path: PathBuf,
    target: Option<PathBuf>,
    offset: Option<u64>,
    /// Set after the first look: a file that appears later is read from its start.
    primed: bool,
}

impl HistoryTail {
    pub fn new(path: PathBuf) -> HistoryTail {
        HistoryTail {
            path,
            target: None,
            offset: None,
            primed: false,
        }
    }

    /// Complete new lines since the last call (at most `HISTORY_READ_MAX` bytes of them).
    pub fn read_new(&mut self) -> Vec<String> {
        let primed = std::mem::replace(&mut self.primed, true);
        let real = std::fs::canonicalize(&self.path).ok();
        let Some(real) = real else {
            return Vec::new();
        };
        let Ok(mut f) = std::fs::File::open(&real) else {
            return Vec::new();
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let offset = match (&self.target, self.offset) {
            (Some(t), Some(o)) if *t == real && o <= len => o,
            // The file as it was when Eye started: its events are history, start at its end.
            (None, _) if !primed => len,
            // Replaced or truncated: a new run, read it from the top.
            _ => 0,
        };
        self.target = Some(real);
        self.offset = Some(offset);
        read_lines(&mut f, offset, len, &mut self.offset)
    }
}

fn read_lines(
    f: &mut std::fs::File,
    offset: u64,
    len: u64,
    out_offset: &mut Option<u64>,
) -> Vec<String> {
    if len <= offset || f.seek(SeekFrom::Start(offset)).is_err() {
        return Vec::new();
    }
    let mut buf = Vec::new();
    if f.take((len - offset).min(HISTORY_READ_MAX))
        .read_to_end(&mut buf)
        .is_err()
    {
        return Vec::new();
    }
    let end = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let lines = complete_lines(buf.get(..end).unwrap_or(&[]));
    *out_offset = Some(offset + end as u64);
    // One line longer than the read limit would never complete: skip past it.
    if end == 0 && buf.len() as u64 == HISTORY_READ_MAX {
        *out_offset = Some(offset + HISTORY_READ_MAX);
    }
    lines
}

/// Splits complete lines, dropping blank and non-UTF-8 ones.
pub fn complete_lines(b: &[u8]) -> Vec<String> {
    b.split(|&c| c == b'\n')
        .filter_map(|l| std::str::from_utf8(l).ok())
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Publishes one rendered event (and counts it); a rendering failure is logged, not sent.
fn announce(app: &App, kind: &'static str, signal_id: &str, rendered: Result<String, ApiError>) {
    match rendered {
        Ok(json) => {
            app.events.publish(kind, json);
            app.metrics.event_published();
        }
        Err(e) => log::warn!(
            "eye: {kind} event of signal {signal_id} not announced: {}",
            e.message
        ),
    }
}

/// Bytes available to an unprivileged writer on the filesystem holding `dir` (statvfs).
fn free_bytes(dir: &std::path::Path) -> Result<u64, String> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| format!("{}: a NUL in the path", dir.display()))?;
    // SAFETY: statvfs fills the zeroed struct we own from a valid NUL-terminated path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(format!(
            "statvfs {}: {}",
            dir.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_table() {
        let table: &[(&[u8], &[&str])] = &[
            (b"", &[]),
            (b"a\n", &["a"]),
            (b"a\n\nb\n", &["a", "b"]),
            (b"a\n\xff\nc\n", &["a", "c"]),
        ];
        for (b, want) in table {
            assert_eq!(
                complete_lines(b),
                want.iter().map(|s| s.to_string()).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn tail_starts_at_end_and_follows() {
        let dir = std::env::temp_dir().join(format!("eye-tail-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let p = dir.join("history.jsonl");
        let _ = std::fs::write(&p, "{\"old\":1}\n");
        let mut t = HistoryTail::new(p.clone());
        assert!(t.read_new().is_empty());
        let mut late = HistoryTail::new(dir.join("later.jsonl"));
        assert!(late.read_new().is_empty());
        let _ = std::fs::write(dir.join("later.jsonl"), "{\"first\":1}\n");
        assert_eq!(late.read_new(), vec!["{\"first\":1}".to_string()]);
        let _ = std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"{\"new\":1}\n{\"part"));
        assert_eq!(t.read_new(), vec!["{\"new\":1}".to_string()]);
        let _ = std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"\":2}\n"));
        assert_eq!(t.read_new(), vec!["{\"part\":2}".to_string()]);
        let _ = std::fs::write(&p, "{\"run\":2}\n");
        assert_eq!(t.read_new(), vec!["{\"run\":2}".to_string()]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
