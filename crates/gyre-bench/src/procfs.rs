//! What the benchmarks read about a server process and the machine from
//! `/proc`, and the file-descriptor limit they raise.

use std::fs;
use std::io;

/// Clock ticks per second, the unit of `utime`/`stime` in `/proc/<pid>/stat`.
pub fn clock_ticks_per_second() -> u64 {
    rustix::param::clock_ticks_per_second()
}

/// CPU time (user plus system, all threads) the process has used, in
/// seconds, from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: u32) -> io::Result<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces and parentheses: fields
    // are counted from after its closing parenthesis, where field 3 starts.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| io::Error::other("malformed /proc/<pid>/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15, i.e. indexes 11 and 12 here.
    let parse = |i: usize| -> io::Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| io::Error::other("malformed /proc/<pid>/stat"))
    };
    let ticks = parse(11)? + parse(12)?;
    Ok(ticks as f64 / clock_ticks_per_second() as f64)
}

/// CPU time the process's threads have run, in seconds, to the
/// nanosecond: the sum of the first field of each
/// `/proc/<pid>/task/<tid>/schedstat` (where `/proc/<pid>/stat` counts in
/// clock ticks, 10 ms on most machines). Threads that have ended are not
/// counted.
pub fn cpu_seconds_precise(pid: u32) -> io::Result<f64> {
    let mut ns: u64 = 0;
    for task in fs::read_dir(format!("/proc/{pid}/task"))? {
        let path = task?.path().join("schedstat");
        let Ok(text) = fs::read_to_string(&path) else {
            continue; // the thread ended meanwhile
        };
        ns += text
            .split_whitespace()
            .next()
            .and_then(|f| f.parse::<u64>().ok())
            .ok_or_else(|| io::Error::other(format!("malformed {}", path.display())))?;
    }
    Ok(ns as f64 / 1e9)
}

/// Resident memory of the process in bytes (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_bytes(pid: u32) -> io::Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .ok_or_else(|| io::Error::other("no VmRSS in /proc/<pid>/status"))
}

/// Raises the soft limit on open files to the hard limit; returns the new
/// soft limit. Children started afterwards inherit it.
pub fn raise_nofile_limit() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        // Failing to raise it only means the idle scenario may hit EMFILE,
        // which it reports.
        let _ = setrlimit(Resource::Nofile, limit);
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

/// The machine's CPU time so far, from the first line of `/proc/stat`:
/// `(steal, total)` in clock ticks over all CPUs. Steal is time the
/// hypervisor ran something else while a virtual CPU wanted to run.
pub fn steal_and_total_ticks() -> io::Result<(u64, u64)> {
    let stat = fs::read_to_string("/proc/stat")?;
    let line = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .ok_or_else(|| io::Error::other("no cpu line in /proc/stat"))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal
    let steal = fields.get(7).copied().unwrap_or(0);
    Ok((steal, fields.iter().sum()))
}

/// Connections the kernel dropped because a listening socket's accept queue
/// was full, so far: `ListenOverflows` of the `TcpExt` lines of
/// `/proc/net/netstat`. The count covers every socket of the network
/// namespace, not one server.
pub fn listen_overflows() -> io::Result<u64> {
    let text = fs::read_to_string("/proc/net/netstat")?;
    netstat_counter(&text, "TcpExt", "ListenOverflows")
        .ok_or_else(|| io::Error::other("no TcpExt ListenOverflows in /proc/net/netstat"))
}

/// One counter of a `/proc/net/netstat`-style text, where each group is a
/// line of names followed by a line of values, both led by `GROUP:`.
fn netstat_counter(text: &str, group: &str, name: &str) -> Option<u64> {
    let prefix = format!("{group}:");
    let mut lines = text.lines().filter(|l| l.starts_with(&prefix));
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        let at = names.split_whitespace().position(|n| n == name);
        if let Some(at) = at {
            return values.split_whitespace().nth(at)?.parse().ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A counter is read from the value line under its name, in its group.
    #[test]
    fn reads_a_netstat_counter() {
        let text = "TcpExt: SyncookiesSent ListenOverflows ListenDrops\n\
                    TcpExt: 1 23 24\n\
                    IpExt: InNoRoutes ListenOverflows\n\
                    IpExt: 5 6\n";
        assert_eq!(netstat_counter(text, "TcpExt", "ListenOverflows"), Some(23));
        assert_eq!(netstat_counter(text, "IpExt", "ListenOverflows"), Some(6));
        assert_eq!(netstat_counter(text, "TcpExt", "Missing"), None);
        assert_eq!(netstat_counter(text, "MptcpExt", "ListenOverflows"), None);
        assert!(
            listen_overflows().is_ok(),
            "this machine's /proc/net/netstat"
        );
    }

    /// CPU time, memory and the clock tick are read for this very process.
    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        // Spin a little so there is some CPU time to see.
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert_ne!(x, 1);
        assert!(cpu_seconds(pid).unwrap() >= 0.0);
        assert!(rss_bytes(pid).unwrap() > 0);
        assert!(clock_ticks_per_second() > 0);
    }
}
