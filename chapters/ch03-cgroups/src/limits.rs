//! The limits as the user writes them (`--memory 64m --cpus 0.5 --pids-limit 100`), checked.
//!
//! Sizes follow docker's `RAMInBytes`: a number with an optional unit `k`, `m`, `g`, `t`, `p`
//! (powers of 1024), optionally followed by `i` and/or `b`, in any case: `64m`, `64MB`, `64MiB`. Docker refuses memory limits under 6 MiB, because a
//! container's runtime overhead alone is about that; so do we.

use crate::error::Error;

/// The smallest memory limit docker accepts.
pub const MIN_MEMORY: u64 = 6 * 1024 * 1024;

/// The CFS period: the kernel refills a cgroup's CPU quota every 100 ms.
pub const CPU_PERIOD_US: u64 = 100_000;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Limits {
    /// Bytes of memory (swap included: the container gets none).
    pub memory: Option<u64>,
    /// Microseconds of CPU time per [`CPU_PERIOD_US`].
    pub cpu_quota_us: Option<u64>,
    /// Processes and threads.
    pub pids: Option<u64>,
}

impl Limits {
    pub fn is_empty(&self) -> bool {
        *self == Limits::default()
    }

    /// Parses the three flags; each bad one is a 125 with the flag's name.
    pub fn parse(memory: Option<&str>, cpus: Option<&str>, pids: Option<&str>) -> Result<Self, Error> {
        let memory = memory.map(parse_memory).transpose()?;
        let cpu_quota_us = cpus.map(parse_cpus).transpose()?;
        let pids = pids
            .map(|text| match text.trim().parse::<u64>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(Error::BadLimit { flag: "--pids-limit", value: text.into(), why: "expected a whole number of processes, at least 1".into() }),
            })
            .transpose()?;
        Ok(Limits { memory, cpu_quota_us, pids })
    }
}

// ANCHOR: solution-size
/// `64m` → 67108864. The unit is optional; `k`, `m`, `g`, `t`, `p` are powers of 1024.
pub fn parse_size(text: &str) -> Option<u64> {
    let lower = text.trim().to_ascii_lowercase();
    let digits_end = lower.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(lower.len());
    let (number, unit) = lower.split_at(digits_end);
    let unit = unit.trim_start();
    let unit = unit.strip_suffix('b').unwrap_or(unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let scale: u64 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        "p" => 1 << 50,
        _ => return None,
    };
    let value: f64 = number.parse().ok().filter(|v: &f64| v.is_finite() && *v >= 0.0)?;
    let bytes = value * scale as f64;
    (bytes <= u64::MAX as f64 / 2.0).then_some(bytes as u64)
}
// ANCHOR_END: solution-size

fn parse_memory(text: &str) -> Result<u64, Error> {
    let bad = |why: &str| Error::BadLimit { flag: "--memory", value: text.into(), why: why.into() };
    let bytes = parse_size(text).ok_or_else(|| bad("expected a size such as 64m, 1g, 512k or a number of bytes"))?;
    if bytes < MIN_MEMORY {
        return Err(bad("the minimum memory limit is 6 MiB, as in docker"));
    }
    Ok(bytes)
}

// ANCHOR: solution-cpus
/// `0.25` CPUs → 25 000 µs of CPU time every 100 000 µs period.
fn parse_cpus(text: &str) -> Result<u64, Error> {
    let online = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let bad = |why: String| Error::BadLimit { flag: "--cpus", value: text.into(), why };
    let cpus: f64 = text.trim().parse().map_err(|_| bad("expected a number of CPUs such as 0.5".into()))?;
    if !(0.01..=online).contains(&cpus) {
        return Err(bad(format!("the range of CPUs is from 0.01 to {online} (the CPUs available)")));
    }
    Ok((cpus * CPU_PERIOD_US as f64).round() as u64)
}
// ANCHOR_END: solution-cpus

/// `33554432` → `32.0 MiB`, as the OOM message and `--stats` show sizes.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_docker_writes_them() {
        assert_eq!(parse_size("64m"), Some(64 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("512k"), Some(512 << 10));
        assert_eq!(parse_size("1GB"), Some(1 << 30));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("1.5m"), Some(3 << 19));
        assert_eq!(parse_size("64MiB"), Some(64 << 20));
        assert_eq!(parse_size("1t"), Some(1 << 40));
        assert_eq!(parse_size("64mbbb"), None);
        assert_eq!(parse_size("12x"), None);
        assert_eq!(parse_size("-5m"), None);
        assert_eq!(parse_size("m"), None);
    }

    #[test]
    fn limits_are_checked() {
        assert!(Limits::parse(Some("1k"), None, None).is_err());
        assert!(Limits::parse(None, Some("0"), None).is_err());
        assert!(Limits::parse(None, None, Some("0")).is_err());
        let l = Limits::parse(Some("32m"), Some("0.25"), Some("10")).unwrap();
        assert_eq!(l, Limits { memory: Some(32 << 20), cpu_quota_us: Some(25_000), pids: Some(10) });
        assert_eq!(human(32 << 20), "32.0 MiB");
    }
}
