//! Log setup: env_logger to stderr in the shape the reader needs (terminal, journald, JSON).
//!
//! It owns choosing the format (`JOURNAL_STREAM`, `AIVEX_LOG_FORMAT`), choosing the level filter
//! (`AIVEX_LOG`, `RUST_LOG`, the caller's default, `--verbose`) and rendering one record as text.
//! Rendering and choosing are pure functions; `init` is the only code here that reads the
//! environment, the clock or stderr's identity. It must not log secrets itself and must not
//! write anywhere but stderr: capturing module output into files is the supervisor's job.

use crate::time::rfc3339_ms;
use crate::PlatformError;
use jiff::Timestamp;
use log::Level;
use std::io::Write;

/// Options from the command line.
#[derive(Debug, Clone, Copy)]
pub struct LogOptions<'a> {
    /// Filter used when neither AIVEX_LOG nor RUST_LOG is set, e.g. "info".
    pub default_level: &'a str,
    /// `--verbose` / dev mode: the default becomes "debug" (explicit env filters still win).
    pub verbose: bool,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// `2026-01-02T03:04:05.678Z INFO  target: message`.
    Human,
    /// `<6>target: message`: journald reads the priority and stamps its own time.
    Journald,
    /// One JSON object per line: {ts, level, target, msg[, module]}.
    Json,
}

/// True when `JOURNAL_STREAM` ("device:inode") names the file stderr is: systemd sets it for
/// the service's own stderr, and a child whose stderr was redirected elsewhere (a module's
/// output captured to a file) inherits the variable but must not use journald prefixes.
pub fn journal_stream_matches(journal_stream: &str, dev: u64, ino: u64) -> bool {
    let Some((d, i)) = journal_stream.trim().split_once(':') else {
        return false;
    };
    matches!((d.parse::<u64>(), i.parse::<u64>()), (Ok(d), Ok(i)) if d == dev && i == ino)
}

/// Picks the format. An explicit `AIVEX_LOG_FORMAT` wins; otherwise journald when stderr is
/// the journal stream, else human. The second value is a warning for an unknown setting.
pub fn choose_format(
    stderr_is_journal: bool,
    aivex_log_format: Option<&str>,
) -> (LogFormat, Option<String>) {
    let auto = if stderr_is_journal {
        LogFormat::Journald
    } else {
        LogFormat::Human
    };
    match aivex_log_format.map(|s| s.trim().to_ascii_lowercase()) {
        None => (auto, None),
        Some(s) => match s.as_str() {
            "" | "auto" => (auto, None),
            "json" => (LogFormat::Json, None),
            "journald" | "journal" => (LogFormat::Journald, None),
            "human" | "text" => (LogFormat::Human, None),
            other => (
                auto,
                Some(format!(
                    "AIVEX_LOG_FORMAT={other:?} is not one of json, journald, human, auto; using {auto:?}"
                )),
            ),
        },
    }
}

/// The env_logger filter spec: AIVEX_LOG, else RUST_LOG, else the default ("debug" when
/// verbose). Empty variables count as unset, as systemd `Environment=AIVEX_LOG=` produces them.
pub fn filter_spec(
    aivex_log: Option<&str>,
    rust_log: Option<&str>,
    default_level: &str,
    verbose: bool,
) -> String {
    if let Some(s) = set_value(aivex_log).or(set_value(rust_log)) {
        return s.to_string();
    }
    if verbose {
        "debug".to_string()
    } else {
        default_level.to_string()
    }
}

fn set_value(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|s| !s.is_empty())
}

/// syslog priority of a log level as journald expects it.
pub fn syslog_priority(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// journald's stderr format: each line carries its own `<N>` prefix, because journald splits a
/// stream record at newlines and would otherwise log continuation lines at the default level.
/// No timestamp: journald records its own.
pub fn format_journald(level: Level, msg: &str) -> String {
    let prefix = format!("<{}>", syslog_priority(level));
    let mut out = String::with_capacity(msg.len() + prefix.len());
    let mut lines = msg.lines();
    // An empty message is still one (empty) record.
    let first = lines.next().unwrap_or("");
    out.push_str(&prefix);
    out.push_str(first);
    for line in lines {
        out.push('\n');
        out.push_str(&prefix);
        out.push_str(line);
    }
    out
}

/// A human-readable line for a terminal or a captured log file.
pub fn format_human(ts: Timestamp, level: Level, target: &str, msg: &str) -> String {
    format!("{} {:<5} {target}: {msg}", rfc3339_ms(ts), level)
}

#[derive(serde::Serialize)]
struct JsonLine<'a> {
    ts: String,
    level: &'a str,
    target: &'a str,
    msg: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    module: Option<&'a str>,
}

/// One JSON object, no trailing newline; newlines inside `msg` are escaped, so one record is
/// always one line.
pub fn format_json(
    ts: Timestamp,
    level: Level,
    target: &str,
    msg: &str,
    module: Option<&str>,
) -> String {
    let line = JsonLine {
        ts: rfc3339_ms(ts),
        level: level.as_str(),
        target,
        msg,
        module,
    };
    // Serialising a struct of strings cannot fail; keep a valid line even so.
    serde_json::to_string(&line).unwrap_or_else(|e| {
        format!("{{\"level\":\"ERROR\",\"msg\":\"log line not encodable: {e}\"}}")
    })
}

/// Renders one record in `format`; `now` is passed in so rendering stays pure.
pub fn render(
    format: LogFormat,
    now: Timestamp,
    level: Level,
    target: &str,
    msg: &str,
    module: Option<&str>,
) -> String {
    match format {
        LogFormat::Human => format_human(now, level, target, msg),
        LogFormat::Journald => format_journald(level, &format!("{target}: {msg}")),
        LogFormat::Json => format_json(now, level, target, msg, module),
    }
}

fn stderr_is_journal(journal_stream: Option<&str>) -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Some(js) = journal_stream else {
        return false;
    };
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    match std::fs::File::from(fd).metadata() {
        Ok(m) => journal_stream_matches(js, m.dev(), m.ino()),
        Err(_) => false,
    }
}

/// Installs the process-wide logger on stderr. Returns the chosen format.
pub fn init(opts: LogOptions<'_>) -> Result<LogFormat, PlatformError> {
    let var = |k: &str| std::env::var(k).ok();
    let journal = stderr_is_journal(var("JOURNAL_STREAM").as_deref());
    let (format, warning) = choose_format(journal, var("AIVEX_LOG_FORMAT").as_deref());
    let spec = filter_spec(
        var("AIVEX_LOG").as_deref(),
        var("RUST_LOG").as_deref(),
        opts.default_level,
        opts.verbose,
    );
    let module = var("AIVEX_MODULE").filter(|m| !m.is_empty());

    let mut builder = env_logger::Builder::new();
    builder
        .parse_filters(&spec)
        .target(env_logger::Target::Stderr)
        .write_style(env_logger::WriteStyle::Never)
        .format(move |buf, record| {
            let line = render(
                format,
                Timestamp::now(),
                record.level(),
                record.target(),
                &record.args().to_string(),
                module.as_deref(),
            );
            writeln!(buf, "{line}")
        });
    builder
        .try_init()
        .map_err(|_| PlatformError::LoggerInstalled)?;
    if let Some(w) = warning {
        log::warn!("{w}");
    }
    Ok(format)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts() -> Timestamp {
        // 2026-11-22T22:11:42.123456789Z
        Timestamp::new(1_795_385_502, 123_456_789).expect("valid timestamp")
    }

    #[test]
    fn journald_prefixes() {
        let cases = [
            (Level::Error, "boom", "<3>boom"),
            (Level::Warn, "careful", "<4>careful"),
            (Level::Info, "hello", "<6>hello"),
            (Level::Debug, "detail", "<7>detail"),
            (Level::Trace, "fine", "<7>fine"),
            (Level::Error, "a\nb\nc", "<3>a\n<3>b\n<3>c"),
            (Level::Info, "trailing\n", "<6>trailing"),
            (Level::Warn, "crlf\r\nnext", "<4>crlf\n<4>next"),
            (Level::Info, "", "<6>"),
            (Level::Info, "blank\n\nline", "<6>blank\n<6>\n<6>line"),
        ];
        for (level, msg, want) in cases {
            assert_eq!(format_journald(level, msg), want, "{level} {msg:?}");
        }
    }

    #[test]
    fn json_lines() {
        let cases: &[(Level, &str, &str, Option<&str>, &str)] = &[
            (
                Level::Info,
                "aivex::supervisor",
                "started",
                None,
                r#"{"ts":"2026-11-22T22:11:42.123Z","level":"INFO","target":"aivex::supervisor","msg":"started"}"#,
            ),
            (
                Level::Error,
                "news",
                "bad \"feed\"\nline 2",
                Some("news"),
                r#"{"ts":"2026-11-22T22:11:42.123Z","level":"ERROR","target":"news","msg":"bad \"feed\"\nline 2","module":"news"}"#,
            ),
            (
                Level::Trace,
                "t",
                "tab\there ü",
                None,
                r#"{"ts":"2026-11-22T22:11:42.123Z","level":"TRACE","target":"t","msg":"tab\there ü"}"#,
            ),
        ];
        for (level, target, msg, module, want) in cases {
            let got = format_json(ts(), *level, target, msg, *module);
            assert_eq!(&got, want);
            assert!(!got.contains('\n'), "one record, one line: {got}");
            let v: serde_json::Value = serde_json::from_str(&got).expect("valid JSON");
            assert_eq!(v["msg"], *msg);
        }
    }

    #[test]
    fn human_lines() {
        let cases = [
            (
                Level::Info,
                "aivex",
                "up",
                "2026-11-22T22:11:42.123Z INFO  aivex: up",
            ),
            (
                Level::Error,
                "store",
                "down",
                "2026-11-22T22:11:42.123Z ERROR store: down",
            ),
        ];
        for (level, target, msg, want) in cases {
            assert_eq!(format_human(ts(), level, target, msg), want);
        }
        assert_eq!(
            rfc3339_ms(Timestamp::new(0, 5_000_000).expect("ts")),
            "1970-01-01T00:00:00.005Z"
        );
    }

    #[test]
    fn render_dispatches_by_format() {
        let cases = [
            (LogFormat::Journald, "<4>aivex: x"),
            (LogFormat::Human, "2026-11-22T22:11:42.123Z WARN  aivex: x"),
            (
                LogFormat::Json,
                r#"{"ts":"2026-11-22T22:11:42.123Z","level":"WARN","target":"aivex","msg":"x","module":"m"}"#,
            ),
        ];
        for (format, want) in cases {
            assert_eq!(
                render(format, ts(), Level::Warn, "aivex", "x", Some("m")),
                want
            );
        }
    }

    #[test]
    fn journal_stream_identity() {
        let cases = [
            ("8:1234", 8, 1234, true),
            (" 8:1234\n", 8, 1234, true),
            ("8:1235", 8, 1234, false),
            ("9:1234", 8, 1234, false),
            ("8", 8, 1234, false),
            ("x:y", 8, 1234, false),
            ("", 8, 1234, false),
        ];
        for (value, dev, ino, want) in cases {
            assert_eq!(journal_stream_matches(value, dev, ino), want, "{value:?}");
        }
    }

    #[test]
    fn format_choice() {
        use LogFormat::*;
        let cases: &[(bool, Option<&str>, LogFormat, bool)] = &[
            (false, None, Human, false),
            (true, None, Journald, false),
            (true, Some("json"), Json, false),
            (false, Some("JSON"), Json, false),
            (false, Some("journald"), Journald, false),
            (true, Some("human"), Human, false),
            (true, Some(""), Journald, false),
            (false, Some("auto"), Human, false),
            (true, Some("xml"), Journald, true),
        ];
        for (journal, setting, want, warns) in cases {
            let (got, warning) = choose_format(*journal, *setting);
            assert_eq!(got, *want, "journal={journal} {setting:?}");
            assert_eq!(warning.is_some(), *warns, "journal={journal} {setting:?}");
        }
    }

    #[test]
    fn filter_precedence() {
        // (AIVEX_LOG, RUST_LOG, default, verbose, expected spec)
        type Case<'a> = (Option<&'a str>, Option<&'a str>, &'a str, bool, &'a str);
        let cases: &[Case] = &[
            (None, None, "info", false, "info"),
            (None, None, "info", true, "debug"),
            (None, Some("warn"), "info", true, "warn"),
            (
                Some("aivex=trace"),
                Some("warn"),
                "info",
                false,
                "aivex=trace",
            ),
            (Some(""), Some("warn"), "info", false, "warn"),
            (Some("  "), Some(""), "error", false, "error"),
        ];
        for (aivex, rust, default, verbose, want) in cases {
            assert_eq!(
                filter_spec(*aivex, *rust, default, *verbose),
                *want,
                "AIVEX_LOG={aivex:?} RUST_LOG={rust:?}"
            );
        }
    }

    #[test]
    fn syslog_priorities() {
        let cases = [
            (Level::Error, 3),
            (Level::Warn, 4),
            (Level::Info, 6),
            (Level::Debug, 7),
            (Level::Trace, 7),
        ];
        for (level, want) in cases {
            assert_eq!(syslog_priority(level), want);
        }
    }
}
