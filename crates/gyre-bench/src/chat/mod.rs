//! The chat fan-out benchmark: `gyre chat` beside the chat server of
//! Twisted's tutorial (`twisted_chat.py`), on the same load, run by `bench`
//! (scenario `chat`).
//!
//! Each measurement starts a fresh server and runs three phases against it
//! from one client thread on mio, which checks every line it receives:
//!
//! * **rounds**: `users` clients join; in each round every client sends one
//!   line of 64 bytes and waits until it has the line of every other client
//!   (each line is relayed to `users − 1` clients: a *delivered line* is one
//!   line arriving at one client). The server's CPU time over the rounds is
//!   read from `/proc`, so CPU per delivered line is the server's alone.
//! * **burst**: client 0 sends 64 KiB of empty lines (CRLF) at once, 32,768
//!   lines for each of the others. Once they are all in the kernel, a
//!   newcomer connects and times its `What's your name?`; how much of the
//!   burst the listeners had received by then is recorded too.
//! * **SIGTERM** (a fresh server): `sigterm_users` clients all send 100-byte
//!   lines, each keeping at most a few lines ahead of what it has heard (so
//!   the server stays saturated without anyone falling behind far enough to
//!   be cut off); after a while the server gets SIGTERM and the time until
//!   the process has exited is taken, the load going on meanwhile.
//!
//! System calls per delivered line come from a second run of the rounds and
//! the burst on a fresh server with `strace -c -f` attached once the clients
//! have joined (so joining is not counted) and detached after each phase.
//!
//! A line that arrives wrong, twice, at the wrong client or not at all, or
//! a client cut off in the rounds or the burst, fails the benchmark.
//!
//! Here: the options, the measurement of one server and the report;
//! `room.rs`: the clients on one mio poll; `phases.rs`: the three loads.

use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use crate::procfs;
use crate::strace::Tracer;

mod phases;
mod room;

use phases::{burst, rounds, sigterm};
use room::Room;

/// What `bench` hands the chat benchmark.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `gyre` binary.
    pub gyre: PathBuf,
    /// The Python with Twisted that runs `twisted_chat.py`.
    pub python: PathBuf,
    /// Where the strace summaries and `chat.csv` go.
    pub results_dir: PathBuf,
    /// Which of `gyre` and `twisted` to run.
    pub servers: Vec<String>,
    /// Tiny sizes: proves the benchmark runs.
    pub quick: bool,
    /// Measurements per server (interleaved: gyre, twisted, gyre, ...).
    pub rounds: usize,
}

/// The sizes of the load.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    users: usize,
    rounds: usize,
    line: usize,
    burst: usize,
    sigterm_users: usize,
    sigterm_load: Duration,
    exit_limit: Duration,
}

const FULL: Sizes = Sizes {
    users: 200,
    rounds: 50,
    line: 64,
    burst: 64 * 1024,
    sigterm_users: 500,
    sigterm_load: Duration::from_secs(2),
    exit_limit: Duration::from_secs(30),
};

const QUICK: Sizes = Sizes {
    users: 20,
    rounds: 3,
    line: 64,
    burst: 4 * 1024,
    sigterm_users: 50,
    sigterm_load: Duration::from_millis(300),
    exit_limit: Duration::from_secs(10),
};

/// How long one phase may take before the benchmark gives up on it.
const PHASE_LIMIT: Duration = Duration::from_secs(300);
/// The newcomer's target (issue 16).
const NEWCOMER_TARGET_MS: f64 = 100.0;
/// The SIGTERM target (issue 16).
const EXIT_TARGET_MS: f64 = 1000.0;

/// The path of the Twisted chat server.
fn twisted_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("twisted_chat.py")
}

/// What one measurement of one server gave.
#[derive(Debug, Clone, Default)]
struct Figures {
    rounds_lines: u64,
    rounds_s: f64,
    rounds_cpu_s: f64,
    burst_lines: u64,
    burst_s: f64,
    burst_cpu_s: f64,
    newcomer_ms: f64,
    newcomer_share: f64,
    rounds_syscalls: f64,
    burst_syscalls: f64,
    /// `None`: still running at the limit (then killed).
    exit_ms: Option<f64>,
    /// Clients the server cut off during the SIGTERM load.
    sigterm_cuts: u64,
}

impl Figures {
    fn rounds_rate(&self) -> f64 {
        self.rounds_lines as f64 / self.rounds_s
    }
    fn rounds_cpu_us(&self) -> f64 {
        self.rounds_cpu_s * 1e6 / self.rounds_lines as f64
    }
    fn burst_rate(&self) -> f64 {
        self.burst_lines as f64 / self.burst_s
    }
    fn burst_cpu_us(&self) -> f64 {
        self.burst_cpu_s * 1e6 / self.burst_lines as f64
    }
}

/// Runs the benchmark; returns the report (markdown), or what went wrong.
pub fn run(options: &Options) -> Result<String, String> {
    let sizes = if options.quick { QUICK } else { FULL };
    std::fs::create_dir_all(&options.results_dir)
        .map_err(|e| format!("chat: cannot create {}: {e}", options.results_dir.display()))?;
    let mut all: Vec<(String, usize, Figures)> = Vec::new();
    for round in 1..=options.rounds.max(1) {
        for kind in &options.servers {
            let figures =
                measure(options, kind, &sizes).map_err(|e| format!("chat against {kind}: {e}"))?;
            eprintln!(
                "round {round} {:>13} {kind:>9}: rounds {:.0} lines/s, {:.3} µs CPU/line, {:.3} syscalls/line; \
                 burst {:.3} µs CPU/line, {:.3} syscalls/line; newcomer {:.1} ms; SIGTERM → exit {}",
                "chat",
                figures.rounds_rate(),
                figures.rounds_cpu_us(),
                figures.rounds_syscalls,
                figures.burst_cpu_us(),
                figures.burst_syscalls,
                figures.newcomer_ms,
                figures.exit_ms.map_or_else(
                    || format!("> {:?}", sizes.exit_limit),
                    |ms| format!("{ms:.0} ms")
                ),
            );
            all.push((kind.clone(), round, figures));
        }
    }
    write_csv(&options.results_dir.join("chat.csv"), &all)
        .map_err(|e| format!("chat: cannot write chat.csv: {e}"))?;
    Ok(report(&sizes, options, &all))
}

/// One measurement: the rounds and the burst (timed), again under strace
/// (counted), and the SIGTERM load, each on a fresh server.
fn measure(options: &Options, kind: &str, sizes: &Sizes) -> Result<Figures, String> {
    let mut f = Figures::default();
    {
        let server = ChatServer::start(options, kind)?;
        let mut room =
            Room::join(server.addr(), sizes.users).map_err(|e| format!("joining: {e}"))?;
        let cpu0 = server.cpu()?;
        let (lines, seconds) = rounds(&mut room, sizes)?;
        let cpu1 = server.cpu()?;
        let burst = burst(&mut room, server.addr(), sizes)?;
        let cpu2 = server.cpu()?;
        (f.rounds_lines, f.rounds_s, f.rounds_cpu_s) = (lines, seconds, cpu1 - cpu0);
        (f.burst_lines, f.burst_s, f.burst_cpu_s) = (burst.lines, burst.seconds, cpu2 - cpu1);
        (f.newcomer_ms, f.newcomer_share) = (burst.newcomer_ms, burst.share);
        server.check_no_cuts()?;
    }
    {
        let server = ChatServer::start(options, kind)?;
        let mut room =
            Room::join(server.addr(), sizes.users).map_err(|e| format!("joining: {e}"))?;
        let trace = |phase: &str| {
            options
                .results_dir
                .join(format!("strace-chat-{kind}-{phase}.txt"))
        };
        let tracer = Tracer::attach(server.pid(), &trace("rounds")).map_err(|e| e.to_string())?;
        let (lines, _) = rounds(&mut room, sizes)?;
        let counts = tracer.finish().map_err(|e| e.to_string())?;
        f.rounds_syscalls = counts.total as f64 / lines as f64;
        let tracer = Tracer::attach(server.pid(), &trace("burst")).map_err(|e| e.to_string())?;
        let burst = burst(&mut room, server.addr(), sizes)?;
        let counts = tracer.finish().map_err(|e| e.to_string())?;
        // The newcomer's own connection and greeting are a handful of calls.
        f.burst_syscalls = counts.total as f64 / burst.lines as f64;
        server.check_no_cuts()?;
    }
    {
        let mut server = ChatServer::start(options, kind)?;
        let mut room =
            Room::join(server.addr(), sizes.sigterm_users).map_err(|e| format!("joining: {e}"))?;
        f.exit_ms = sigterm(&mut room, &mut server, sizes)?;
        f.sigterm_cuts = server.cuts.load(Ordering::Relaxed);
    }
    Ok(f)
}

// ----- the server -----

/// A chat server process; killed when dropped.
struct ChatServer {
    child: Child,
    port: u16,
    /// `(slow consumer)` lines gyre logged: clients it cut off.
    cuts: Arc<AtomicU64>,
}

impl ChatServer {
    fn start(options: &Options, kind: &str) -> Result<ChatServer, String> {
        let mut cmd = match kind {
            "gyre" => {
                let mut c = Command::new(&options.gyre);
                c.args(["chat", "--listen", "tcp:0:interface=127.0.0.1"]);
                c
            }
            "twisted" => {
                let mut c = Command::new(&options.python);
                c.arg(twisted_script()).args(["--listen", "127.0.0.1:0"]);
                c
            }
            other => return Err(format!("no chat server {other:?}")),
        };
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {kind}: {e}"))?;
        let cuts = Arc::new(AtomicU64::new(0));
        let (tx, rx) = mpsc::channel::<String>();
        let pump =
            |stream: Box<dyn Read + Send>, tx: mpsc::Sender<String>, cuts: Arc<AtomicU64>| {
                thread::spawn(move || {
                    for line in BufReader::new(stream).lines() {
                        let Ok(line) = line else { break };
                        let port = line
                            .strip_prefix("LISTENING ")
                            .or_else(|| line.rsplit_once(" starting on ").map(|(_, p)| p));
                        if let Some(port) = port {
                            let _ = tx.send(port.trim().to_owned());
                        } else if line.contains("(slow consumer)") {
                            cuts.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            };
        pump(
            Box::new(child.stdout.take().expect("piped")),
            tx.clone(),
            cuts.clone(),
        );
        pump(
            Box::new(child.stderr.take().expect("piped")),
            tx,
            cuts.clone(),
        );
        let port = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(p) => p.parse().map_err(|_| format!("{kind}: bad port {p:?}"))?,
            Err(_) => {
                let _ = child.kill();
                let status = child
                    .wait()
                    .map_or_else(|e| e.to_string(), |s| s.to_string());
                return Err(format!("{kind} did not say where it listens ({status})"));
            }
        };
        Ok(ChatServer { child, port, cuts })
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn cpu(&self) -> Result<f64, String> {
        procfs::cpu_seconds(self.pid()).map_err(|e| format!("server CPU time: {e}"))
    }

    /// The rounds and the burst stay far below the chat's cap: a client cut
    /// off there is a failure.
    fn check_no_cuts(&self) -> Result<(), String> {
        match self.cuts.load(Ordering::Relaxed) {
            0 => Ok(()),
            n => Err(format!("the server cut off {n} clients as slow consumers")),
        }
    }
}

impl Drop for ChatServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ----- the report -----

/// Median, minimum and maximum.
fn stats(values: impl Iterator<Item = f64>) -> Option<(f64, f64, f64)> {
    let mut v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    let median = if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    };
    Some((median, v[0], v[v.len() - 1]))
}

fn num(x: f64) -> String {
    if !x.is_finite() {
        "-".into()
    } else if x != 0.0 && x.abs() < 0.01 {
        // Three significant digits: 0.00782, 0.000326.
        let digits = (2 - x.abs().log10().floor() as i32).max(0) as usize;
        format!("{x:.digits$}")
    } else if x.abs() >= 1000.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    }
}

fn cell(s: Option<(f64, f64, f64)>) -> String {
    match s {
        Some((m, lo, hi)) if lo == hi => num(m),
        Some((m, lo, hi)) => format!("{} [{}–{}]", num(m), num(lo), num(hi)),
        None => "-".into(),
    }
}

type Metric = fn(&Figures) -> f64;

fn report(sizes: &Sizes, options: &Options, all: &[(String, usize, Figures)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n### chat: {} users, {} rounds of one {} B line from each (every line relayed to the {} others), \
         then one user's burst of {} KiB of empty lines ({} lines for each of the {} others); \
         SIGTERM under {} users sending 100 B lines{}\n",
        sizes.users,
        sizes.rounds,
        sizes.line,
        sizes.users - 1,
        sizes.burst / 1024,
        sizes.burst / 2,
        sizes.users - 1,
        sizes.sigterm_users,
        if options.quick { " (--quick)" } else { "" }
    );
    let metrics: [(&str, Metric); 9] = [
        ("rounds: lines/s", Figures::rounds_rate),
        ("rounds: CPU µs/line", Figures::rounds_cpu_us),
        ("rounds: syscalls/line", |f| f.rounds_syscalls),
        ("burst: lines/s", Figures::burst_rate),
        ("burst: CPU µs/line", Figures::burst_cpu_us),
        ("burst: syscalls/line", |f| f.burst_syscalls),
        ("newcomer greeted after, ms", |f| f.newcomer_ms),
        ("burst delivered by then, %", |f| f.newcomer_share * 100.0),
        ("SIGTERM → exit, ms", |f| {
            f.exit_ms.unwrap_or(f64::INFINITY)
        }),
    ];
    let _ = write!(out, "| server |");
    for (name, _) in &metrics {
        let _ = write!(out, " {name} |");
    }
    let _ = writeln!(out, "\n|{}", "---|".repeat(metrics.len() + 1));
    let of = |kind: &'static str| all.iter().filter(move |(k, ..)| k == kind).map(|(.., f)| f);
    for kind in ["gyre", "twisted"] {
        if !options.servers.iter().any(|s| s == kind) {
            continue;
        }
        let _ = write!(out, "| {kind} |");
        for (name, metric) in &metrics {
            let s = stats(of(kind).map(metric));
            let timed_out = of(kind).filter(|f| f.exit_ms.is_none()).count();
            if name.starts_with("SIGTERM") && timed_out > 0 {
                let _ = write!(
                    out,
                    " {} > {:.0} s, {} |",
                    timed_out,
                    sizes.exit_limit.as_secs_f64(),
                    cell(s)
                );
            } else {
                let _ = write!(out, " {} |", cell(s));
            }
        }
        let _ = writeln!(out);
    }
    let median = |kind: &'static str, m: Metric| stats(of(kind).map(m)).map(|s| s.0);
    let ratio = |m: Metric| match (median("twisted", m), median("gyre", m)) {
        (Some(t), Some(g)) if g > 0.0 => format!("{:.2}×", t / g),
        _ => "-".into(),
    };
    let _ = writeln!(
        out,
        "\nTwisted ÷ gyre (medians): CPU per delivered line {} in the rounds, {} in the burst; \
         system calls per delivered line {} in the rounds, {} in the burst; lines/s {} in the rounds, {} in the burst.",
        ratio(Figures::rounds_cpu_us),
        ratio(Figures::burst_cpu_us),
        ratio(|f| f.rounds_syscalls),
        ratio(|f| f.burst_syscalls),
        ratio(Figures::rounds_rate),
        ratio(Figures::burst_rate),
    );
    let cuts: u64 = of("gyre").map(|f| f.sigterm_cuts).sum();
    if cuts > 0 {
        let _ = writeln!(
            out,
            "\ngyre cut off {cuts} clients as slow consumers under the SIGTERM load (the clients share the machine with it)."
        );
    }
    let _ = writeln!(
        out,
        "\n#### chat against the targets (gyre, every measurement)\n"
    );
    let verdict = |values: Vec<f64>, target: f64, unit: &str| {
        if values.is_empty() {
            return "not measured".to_string();
        }
        let met = values.iter().filter(|v| **v <= target).count();
        let shown: Vec<String> = values
            .iter()
            .map(|v| {
                if v.is_finite() {
                    format!("{v:.1}")
                } else {
                    "none".into()
                }
            })
            .collect();
        format!(
            "{} {unit}; met in {met} of {}: {}",
            shown.join(", "),
            values.len(),
            if met == values.len() { "met" } else { "MISSED" }
        )
    };
    let _ = writeln!(
        out,
        "- newcomer greeted within {NEWCOMER_TARGET_MS:.0} ms during the burst: {}",
        verdict(
            of("gyre").map(|f| f.newcomer_ms).collect(),
            NEWCOMER_TARGET_MS,
            "ms"
        )
    );
    let _ = writeln!(
        out,
        "- SIGTERM → exit within {EXIT_TARGET_MS:.0} ms under {} users: {}",
        sizes.sigterm_users,
        verdict(
            of("gyre")
                .map(|f| f.exit_ms.unwrap_or(f64::INFINITY))
                .collect(),
            EXIT_TARGET_MS,
            "ms"
        )
    );
    out
}

fn write_csv(path: &Path, all: &[(String, usize, Figures)]) -> io::Result<()> {
    let mut csv = String::from(
        "server,round,rounds_lines,rounds_s,rounds_cpu_s,rounds_cpu_us_per_line,rounds_syscalls_per_line,\
         burst_lines,burst_s,burst_cpu_s,burst_cpu_us_per_line,burst_syscalls_per_line,newcomer_ms,\
         burst_share_at_greeting,sigterm_exit_ms,sigterm_cuts\n",
    );
    for (kind, round, f) in all {
        let _ = writeln!(
            csv,
            "{kind},{round},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            f.rounds_lines,
            f.rounds_s,
            f.rounds_cpu_s,
            f.rounds_cpu_us(),
            f.rounds_syscalls,
            f.burst_lines,
            f.burst_s,
            f.burst_cpu_s,
            f.burst_cpu_us(),
            f.burst_syscalls,
            f.newcomer_ms,
            f.newcomer_share,
            f.exit_ms.map_or_else(|| "".into(), |ms| ms.to_string()),
            f.sigterm_cuts,
        );
    }
    std::fs::write(path, csv)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small figures keep three significant digits; large ones no decimals.
    #[test]
    fn numbers() {
        assert_eq!(num(0.000326), "0.000326");
        assert_eq!(num(0.0078231), "0.00782");
        assert_eq!(num(1.005), "1.005");
        assert_eq!(num(273486.4), "273486");
        assert_eq!(num(0.0), "0.000");
    }

    /// Medians of odd and even counts, and the range.
    #[test]
    fn medians() {
        assert_eq!(stats([3.0, 1.0, 2.0].into_iter()), Some((2.0, 1.0, 3.0)));
        assert_eq!(stats([4.0, 1.0].into_iter()), Some((2.5, 1.0, 4.0)));
        assert_eq!(stats([f64::NAN].into_iter()), None);
    }
}
