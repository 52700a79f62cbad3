//! One measurement, as `bench-client` prints it and `bench` reads it back:
//! a single `RESULT key=value ...` line.

use std::fmt;

/// What one client run measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measurement {
    /// Completed operations (echoed messages, chunks or connections).
    pub ops: u64,
    /// Bytes echoed and checked.
    pub bytes: u64,
    /// Length of the measured window, in seconds.
    pub seconds: f64,
    /// Median latency of one operation, in microseconds.
    pub p50_us: f64,
    /// 99th percentile latency of one operation, in microseconds.
    pub p99_us: f64,
    /// Server CPU time (user plus system) over the window, in seconds;
    /// negative when it could not be read.
    pub server_cpu_s: f64,
    /// Server resident memory growth per connection, in bytes (idle only).
    pub rss_per_conn: f64,
    /// Echoed bytes that differ from what was sent.
    pub mismatched: u64,
    /// Sent bytes that never came back.
    pub missing: u64,
    /// Bytes received beyond what was sent.
    pub excess: u64,
    /// Connections that failed (refused, reset, closed early).
    pub errors: u64,
    /// The server's system calls per operation in steady state, counted by
    /// strace (the `syscalls` scenario only; 0 when not counted).
    pub syscalls_per_op: f64,
    /// Connections the kernel dropped from full accept queues during the
    /// run (`TcpExt: ListenOverflows` of `/proc/net/netstat`, the whole
    /// network namespace: other programs' sockets count too); negative
    /// when it could not be read.
    pub listen_overflows: i64,
}

impl Measurement {
    /// Operations per second.
    pub fn ops_per_sec(&self) -> f64 {
        if self.seconds > 0.0 {
            self.ops as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// Server CPU time per operation, in microseconds.
    pub fn cpu_us_per_op(&self) -> f64 {
        if self.ops > 0 && self.server_cpu_s >= 0.0 {
            self.server_cpu_s * 1e6 / self.ops as f64
        } else {
            f64::NAN
        }
    }

    /// Echoed bytes per second, in MiB.
    pub fn mib_per_sec(&self) -> f64 {
        if self.seconds > 0.0 {
            self.bytes as f64 / self.seconds / (1024.0 * 1024.0)
        } else {
            0.0
        }
    }

    /// True when every byte came back intact and no connection failed.
    pub fn is_clean(&self) -> bool {
        self.mismatched == 0 && self.missing == 0 && self.excess == 0 && self.errors == 0
    }

    /// Reads a line written by the [`fmt::Display`] impl.
    pub fn parse(line: &str) -> Option<Measurement> {
        let rest = line.trim().strip_prefix("RESULT ")?;
        let mut m = Measurement::default();
        for pair in rest.split_whitespace() {
            let (key, value) = pair.split_once('=')?;
            let f = || value.parse::<f64>().ok();
            let u = || value.parse::<u64>().ok();
            match key {
                "ops" => m.ops = u()?,
                "bytes" => m.bytes = u()?,
                "seconds" => m.seconds = f()?,
                "p50_us" => m.p50_us = f()?,
                "p99_us" => m.p99_us = f()?,
                "server_cpu_s" => m.server_cpu_s = f()?,
                "rss_per_conn" => m.rss_per_conn = f()?,
                "mismatched" => m.mismatched = u()?,
                "missing" => m.missing = u()?,
                "excess" => m.excess = u()?,
                "errors" => m.errors = u()?,
                "syscalls_per_op" => m.syscalls_per_op = f()?,
                "listen_overflows" => m.listen_overflows = value.parse().ok()?,
                _ => {}
            }
        }
        Some(m)
    }
}

impl fmt::Display for Measurement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RESULT ops={} bytes={} seconds={:.6} p50_us={:.3} p99_us={:.3} server_cpu_s={:.4} \
             rss_per_conn={:.1} mismatched={} missing={} excess={} errors={} syscalls_per_op={:.4} \
             listen_overflows={}",
            self.ops,
            self.bytes,
            self.seconds,
            self.p50_us,
            self.p99_us,
            self.server_cpu_s,
            self.rss_per_conn,
            self.mismatched,
            self.missing,
            self.excess,
            self.errors,
            self.syscalls_per_op,
            self.listen_overflows
        )
    }
}

/// The value at quantile `q` (0..=1) of `sorted`, or 0 when it is empty.
pub fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field survives printing and parsing back.
    #[test]
    fn round_trips_through_its_line() {
        let m = Measurement {
            ops: 12,
            bytes: 768,
            seconds: 1.5,
            p50_us: 20.25,
            p99_us: 80.5,
            server_cpu_s: 0.25,
            rss_per_conn: 512.0,
            mismatched: 1,
            missing: 2,
            excess: 3,
            errors: 4,
            syscalls_per_op: 2.0125,
            listen_overflows: 7,
        };
        let back = Measurement::parse(&m.to_string()).unwrap();
        assert_eq!(back, m);
        assert!(!back.is_clean());
        assert_eq!(Measurement::parse("LISTENING 5"), None);
    }

    /// Quantiles pick the nearest rank, and 0 for no values.
    #[test]
    fn quantiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), 51);
        assert_eq!(quantile(&v, 0.99), 99);
        assert_eq!(quantile(&[], 0.5), 0);
    }
}
