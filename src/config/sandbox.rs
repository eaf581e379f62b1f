//! The per-module sandbox section of `module.toml`: which isolation a module runs under and its
//! limits. Parsing and validation only; applying the limits is the supervisor's child spawner.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxMode {
    None,
    Rlimit,
    Docker,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    Host,
    None,
}

/// Effective sandbox settings of one module (manifest values, else `AIVEX_SANDBOX_*`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SandboxSpec {
    pub mode: SandboxMode,
    pub memory_limit: Option<u64>,
    pub cpu_seconds: Option<u64>,
    pub cpu_limit: Option<f64>,
    pub open_files: Option<u64>,
    pub max_processes: Option<u64>,
    pub network: NetworkMode,
    pub cycle_timeout_s: Option<f64>,
    pub image: Option<String>,
}

impl Default for SandboxSpec {
    fn default() -> Self {
        SandboxSpec {
            mode: SandboxMode::None,
            memory_limit: None,
            cpu_seconds: None,
            cpu_limit: None,
            open_files: None,
            max_processes: None,
            network: NetworkMode::Host,
            cycle_timeout_s: None,
            image: None,
        }
    }
}

pub fn parse_mode(s: &str) -> Result<SandboxMode, String> {
    match s {
        "none" => Ok(SandboxMode::None),
        "rlimit" => Ok(SandboxMode::Rlimit),
        "docker" => Ok(SandboxMode::Docker),
        "kubernetes" => Err(
            "sandbox \"kubernetes\" is reserved and not supported by this build; \
                             use \"none\", \"rlimit\" or \"docker\""
                .into(),
        ),
        other => Err(format!(
            "unknown sandbox {other:?}: expected \"none\", \"rlimit\" or \"docker\""
        )),
    }
}

pub fn parse_network(s: &str) -> Result<NetworkMode, String> {
    match s {
        "host" => Ok(NetworkMode::Host),
        "none" => Ok(NetworkMode::None),
        other => Err(format!(
            "unknown network {other:?}: expected \"none\" or \"host\""
        )),
    }
}

/// Parses a byte size such as `512M`, `1G`, `64K`, `1048576` (binary multiples).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let mult = match c.to_ascii_uppercase() {
                'K' => 1u64 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                'B' => 1,
                _ => {
                    return Err(format!(
                        "bad size {s:?}: unknown suffix {c:?} (use K, M or G)"
                    ))
                }
            };
            (&t[..i], mult)
        }
        _ => (t, 1),
    };
    let n: u64 = num.trim().parse().map_err(|_| {
        format!("bad size {s:?}: expected a whole number with an optional K/M/G suffix")
    })?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("bad size {s:?}: too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let ok = [
            ("512M", 512 << 20),
            ("1G", 1 << 30),
            ("64k", 64 << 10),
            ("100", 100),
            ("2B", 2),
        ];
        for (s, want) in ok {
            assert_eq!(parse_bytes(s), Ok(want), "{s}");
        }
        for bad in ["", "M", "12X", "-1M", "1.5G"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn modes() {
        assert_eq!(parse_mode("rlimit"), Ok(SandboxMode::Rlimit));
        assert!(parse_mode("kubernetes")
            .unwrap_err()
            .contains("not supported"));
        assert!(parse_mode("lxc").is_err());
        assert_eq!(parse_network("none"), Ok(NetworkMode::None));
    }
}
