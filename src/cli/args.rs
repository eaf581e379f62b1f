//! Argument parsing (lexopt: small, no proc macros) into a closed `Command` enum. Pure.

use super::CliError;
use crate::supervisor::Mode;
use crate::tools::ReplayArgs;
use lexopt::prelude::*;
use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Debug, PartialEq)]
pub enum Command {
    Help,
    Version,
    Run {
        config: PathBuf,
        mode: Mode,
    },
    CheckConfig {
        config: PathBuf,
    },
    Module {
        name: String,
        once: bool,
    },
    Status {
        config: PathBuf,
        json: bool,
    },
    Control {
        config: PathBuf,
        verb: ControlVerb,
        module: Option<String>,
    },
    Migrate {
        config: PathBuf,
    },
    Indicators {
        file: PathBuf,
    },
    NewsPreview {
        source: String,
        config: PathBuf,
    },
    Calibrate {
        config: PathBuf,
        since: Option<String>,
        json: bool,
    },
    AlertTest {
        config: PathBuf,
    },
    Replay {
        config: PathBuf,
        args: ReplayArgs,
    },
    ClusterStatus {
        config: PathBuf,
        json: bool,
    },
}

#[derive(Debug, PartialEq, Clone, Copy)]
pub enum ControlVerb {
    Start,
    Stop,
    Restart,
    Reset,
    Reload,
}

pub const HELP: &str = "\
aivex: a supervised market-signal pipeline for unattended edge boxes

USAGE:
    aivex run [--config PATH] [--mode continuous|once|dev]
    aivex check-config [--config PATH]
    aivex status [--config PATH] [--json]
    aivex start|stop|restart|reset <module> [--config PATH]
    aivex reload [--config PATH]
    aivex migrate [--config PATH]
    aivex module <name> [--once]
    aivex indicators FILE
    aivex news-preview SOURCE [--config PATH]
    aivex calibrate [--config PATH] [--since DATE] [--json]
    aivex alert-test [--config PATH]
    aivex replay [--config PATH] --from DATE --to DATE [--step DURATION] [--symbols A,B,...]
                 [--governor FILE.toml] [--json] [--out FILE] [--signals FILE]
    aivex cluster status [--config PATH] [--json]
    aivex --version | --help

COMMANDS:
    run           Start the watchdog supervisor and every enabled module
    check-config  Validate the config and the module registry; exit 0, or 2 with every problem
    status        Show every module of the running supervisor (via its control socket)
    start, stop, restart, reset <module>
                  Control one module of the running supervisor (reset re-arms a module in
                  LOOP_DETECTED or stopped by max_restarts)
    reload        Re-read the config (same as SIGHUP)
    migrate       Apply pending database migrations
    module        Run one built-in module (what the supervisor starts)
    indicators    Print the indicator table of a bar file as CSV
    news-preview  Print what the news module would ingest from a feed, one JSON object per item
    calibrate     Hit rates, Brier scores and suggested weights from signal feedback
    alert-test    Send one test alert to every [[alerts.sink]] and report each result
    replay        Run the brain over the stored history as known at each step (no look-ahead)
                  and print a quality report; writes nothing to the store. DATE is YYYY-MM-DD
                  (00:00 UTC) or RFC 3339, both ends inclusive; --step defaults to the brain's
                  bar_interval; --governor overlays [settings.governor] keys (a what-if);
                  --out writes the JSON report, --signals one JSON line per signal
    cluster status
                  Every node of the cluster (alive, last seen) and every shard (holder, epoch,
                  lease expiry, configured symbols), read from the shared MySQL/MariaDB store

OPTIONS:
    -c, --config PATH   Global config (default config/aivex.toml; AIVEX_CONFIG overrides the default)
    -m, --mode MODE     continuous (default), once (one cycle per module, for cron/tests), dev
        --once          (module) run one cycle and exit
        --json          Machine-readable output
    -h, --help          Print this help
    -V, --version       Print the version

ENVIRONMENT:
    WATCHDOG_MAX_RESTARTS, WATCHDOG_BACKOFF, WATCHDOG_HEARTBEAT_TTL   override [watchdog]
    AIVEX_DATA_DIR, AIVEX_DATABASE_URL, AIVEX_ENABLED, AIVEX_CONTROL_SOCKET, AIVEX_LOG
    AIVEX_NODE_ID   this box's node id: alerts carry it; overrides [cluster] node_id
";

fn default_config() -> PathBuf {
    std::env::var_os("AIVEX_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::config::DEFAULT_CONFIG.into())
}

fn usage(e: impl std::fmt::Display) -> CliError {
    CliError::Usage(e.to_string())
}

pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, CliError> {
    let mut p = lexopt::Parser::from_args(args);
    let mut sub: Option<String> = None;
    let mut positional: Vec<String> = Vec::new();
    let mut config: Option<PathBuf> = None;
    let mut mode = Mode::Continuous;
    let (mut once, mut json) = (false, false);
    let mut since = None;
    let mut replay = ReplayArgs::default();
    while let Some(arg) = p.next().map_err(usage)? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            Short('c') | Long("config") => config = Some(p.value().map_err(usage)?.into()),
            Short('m') | Long("mode") => {
                let v = p.value().map_err(usage)?.string().map_err(usage)?;
                mode = Mode::parse(&v).ok_or_else(|| {
                    usage(format!(
                        "invalid --mode {v:?}: expected continuous, once or dev"
                    ))
                })?;
            }
            Long("once") => once = true,
            Long("json") => json = true,
            Long("since") => since = Some(p.value().map_err(usage)?.string().map_err(usage)?),
            Long("from") => replay.from = Some(p.value().map_err(usage)?.string().map_err(usage)?),
            Long("to") => replay.to = Some(p.value().map_err(usage)?.string().map_err(usage)?),
            Long("step") => replay.step = Some(p.value().map_err(usage)?.string().map_err(usage)?),
            Long("symbols") => {
                replay.symbols = Some(p.value().map_err(usage)?.string().map_err(usage)?)
            }
            Long("governor") => replay.governor = Some(p.value().map_err(usage)?.into()),
            Long("out") => replay.out = Some(p.value().map_err(usage)?.into()),
            Long("signals") => replay.signals = Some(p.value().map_err(usage)?.into()),
            Value(v) => {
                let v = v.string().map_err(usage)?;
                if sub.is_none() {
                    sub = Some(v);
                } else {
                    positional.push(v);
                }
            }
            other => return Err(usage(other.unexpected())),
        }
    }
    let config = config.unwrap_or_else(default_config);
    let Some(sub) = sub else {
        return Ok(Command::Help);
    };
    let one = |what: &str, positional: &mut Vec<String>| -> Result<String, CliError> {
        match positional.len() {
            1 => Ok(positional.remove(0)),
            0 => Err(usage(format!("`aivex {sub}` needs {what}"))),
            _ => Err(usage(format!(
                "`aivex {sub}` takes one {what}, got {}",
                positional.len()
            ))),
        }
    };
    let none = |positional: &[String]| -> Result<(), CliError> {
        match positional.first() {
            Some(x) => Err(usage(format!(
                "unexpected argument {x:?} for `aivex {sub}`"
            ))),
            None => Ok(()),
        }
    };
    let cmd = match sub.as_str() {
        "run" => {
            none(&positional)?;
            Command::Run { config, mode }
        }
        "check-config" => {
            none(&positional)?;
            Command::CheckConfig { config }
        }
        "module" => Command::Module {
            name: one("a module name", &mut positional)?,
            once,
        },
        "status" => {
            none(&positional)?;
            Command::Status { config, json }
        }
        "start" | "stop" | "restart" | "reset" => {
            let verb = match sub.as_str() {
                "start" => ControlVerb::Start,
                "stop" => ControlVerb::Stop,
                "restart" => ControlVerb::Restart,
                _ => ControlVerb::Reset,
            };
            Command::Control {
                config,
                verb,
                module: Some(one("a module name", &mut positional)?),
            }
        }
        "reload" => {
            none(&positional)?;
            Command::Control {
                config,
                verb: ControlVerb::Reload,
                module: None,
            }
        }
        "migrate" => {
            none(&positional)?;
            Command::Migrate { config }
        }
        "indicators" => Command::Indicators {
            file: one("a bar file", &mut positional)?.into(),
        },
        "news-preview" => Command::NewsPreview {
            source: one("a feed file or URL", &mut positional)?,
            config,
        },
        "calibrate" => {
            none(&positional)?;
            Command::Calibrate {
                config,
                since,
                json,
            }
        }
        "alert-test" => {
            none(&positional)?;
            Command::AlertTest { config }
        }
        "replay" => {
            none(&positional)?;
            replay.json = json;
            Command::Replay {
                config,
                args: replay,
            }
        }
        "cluster" => match one("a subcommand (status)", &mut positional)?.as_str() {
            "status" => Command::ClusterStatus { config, json },
            other => {
                return Err(usage(format!(
                    "unknown cluster subcommand {other:?} (expected status)"
                )))
            }
        },
        "help" => Command::Help,
        "version" => Command::Version,
        other => return Err(usage(format!("unknown command {other:?}"))),
    };
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Command, CliError> {
        parse(s.split_whitespace().map(OsString::from))
    }

    #[test]
    fn table() {
        assert_eq!(p("--version").unwrap(), Command::Version);
        assert_eq!(p("").unwrap(), Command::Help);
        assert_eq!(
            p("run --config x.toml --mode once").unwrap(),
            Command::Run {
                config: "x.toml".into(),
                mode: Mode::Once
            }
        );
        assert_eq!(
            p("module news --once").unwrap(),
            Command::Module {
                name: "news".into(),
                once: true
            }
        );
        assert_eq!(
            p("stop chart -c c.toml").unwrap(),
            Command::Control {
                config: "c.toml".into(),
                verb: ControlVerb::Stop,
                module: Some("chart".into())
            }
        );
        assert_eq!(
            p("alert-test --config a.toml").unwrap(),
            Command::AlertTest {
                config: "a.toml".into()
            }
        );
        assert_eq!(
            p("replay --from 2026-01-01 --to 2026-11-20 --step 1d --symbols AAPL,SPY --governor g.toml --json --out r.json --signals s.jsonl -c c.toml").unwrap(),
            Command::Replay {
                config: "c.toml".into(),
                args: ReplayArgs {
                    from: Some("2026-01-01".into()),
                    to: Some("2026-11-20".into()),
                    step: Some("1d".into()),
                    symbols: Some("AAPL,SPY".into()),
                    governor: Some("g.toml".into()),
                    json: true,
                    out: Some("r.json".into()),
                    signals: Some("s.jsonl".into()),
                }
            }
        );
        for bad in [
            "alert-test now",
            "replay --from",
            "replay extra --from 2026-01-01",
            "run --mode fast",
            "explode",
            "stop",
            "run extra",
            "--bogus",
            "module a b",
        ] {
            assert!(matches!(p(bad), Err(CliError::Usage(_))), "{bad}");
        }
    }
}
