//! The benchmark matrix: every server against every scenario, each
//! measurement on a fresh server process, servers interleaved round by
//! round (A B C … A B C …), medians with their ranges, and ratios to the
//! bare mio loop and to tokio's current-thread runtime.
//!
//! ```text
//! cargo run --release -p gyre-bench --bin bench -- [--quick] [--rounds N]
//!     [--duration S] [--servers gyre,mio,tokio-ct,tokio-mt,twisted]
//!     [--scenarios pingpong-1,...,timers] [--pin] [--multicore]
//! ```
//!
//! `--multicore` compares one reactor thread with two (`gyre echo
//! --threads 2`) and tokio's multi-thread runtime with one worker and with
//! two, driven by a two-thread client, and prints how each scales.
//!
//! `haproxy-plain`, `haproxy-v1` and `haproxy-v2` put HAProxy in front of
//! `gyre echo`: plain, or sending PROXY headers to a `haproxy:` listener;
//! the ratios of the last two to the first are what the header costs.
//!
//! `burst` opens 3,000 connections with 32 handshakes in flight; its target
//! (gyre's set-up rate ≥ 0.9× the mio loop's) is judged round by round and
//! must hold in every round. `gyre-backlog50` is gyre with Twisted's
//! backlog of 50, to show what a small accept queue does to a burst.
//!
//! `chat` is not a column of the matrix but its own section after it (see
//! `gyre_bench::chat`): `gyre chat` beside Twisted's tutorial chat server.
//! It runs unless `--scenarios` leaves it out, and not with `--multicore`.
//!
//! Exits non-zero when any echoed byte was wrong, missing or in excess, or a
//! server failed to start; the figures themselves never fail it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use gyre_bench::report::Measurement;
use gyre_bench::strace::{Counts, Tracer};
use gyre_bench::{haproxy, procfs};

/// Side-by-side benchmarks of gyre, a bare mio loop, tokio and Twisted.
#[derive(Debug, Parser)]
struct Args {
    /// Every scenario at a tiny size, one round: proves the suite works.
    #[arg(long)]
    quick: bool,
    /// Rounds (each server once per scenario per round).
    #[arg(long)]
    rounds: Option<usize>,
    /// Seconds each measurement sends for.
    #[arg(long)]
    duration: Option<f64>,
    /// Servers, comma-separated: gyre, mio, tokio-ct, tokio-mt, twisted,
    /// gyre-2t, tokio-mt-1t, gyre-unwatched (gyre with blocked-reactor
    /// detection off, to show what it costs), gyre-backlog50 (gyre with Twisted's backlog of
    /// 50), haproxy-plain, haproxy-v1, haproxy-v2 (gyre echo behind HAProxy,
    /// without and with PROXY headers) [default:
    /// gyre,mio,tokio-ct,tokio-mt,twisted; with --multicore:
    /// gyre,gyre-2t,tokio-mt-1t,tokio-mt].
    #[arg(long, value_delimiter = ',')]
    servers: Option<Vec<String>>,
    /// Scenarios, comma-separated: pingpong-1, pingpong-50, pingpong-500,
    /// pipelined, bulk, idle, burst, connrate, syscalls, timers, chat
    /// [default: all; with --multicore: pingpong-50,pingpong-500,pipelined,connrate].
    #[arg(long, value_delimiter = ',')]
    scenarios: Option<Vec<String>>,
    /// Also pin the multi-connection scenarios: client to CPU 0, server to
    /// CPU 1 (the 1-connection ping-pong always runs both on CPU 0).
    #[arg(long)]
    pin: bool,
    /// Client threads for the load generator [default: 1; with
    /// --multicore: 2].
    #[arg(long)]
    client_threads: Option<usize>,
    /// The multi-core comparison: one and two server threads, gyre and
    /// tokio, a two-thread client, and the scaling from 1 to 2.
    #[arg(long)]
    multicore: bool,
}

impl Args {
    fn client_threads(&self) -> usize {
        self.client_threads
            .unwrap_or(if self.multicore { 2 } else { 1 })
            .max(1)
    }
}

const SERVERS: [&str; 12] = [
    "gyre",
    "mio",
    "tokio-ct",
    "tokio-mt",
    "twisted",
    "gyre-2t",
    "tokio-mt-1t",
    "gyre-backlog50",
    "gyre-unwatched",
    "haproxy-plain",
    "haproxy-v1",
    "haproxy-v2",
];
const SCENARIOS: [&str; 10] = [
    "pingpong-1",
    "pingpong-50",
    "pingpong-500",
    "pipelined",
    "bulk",
    "idle",
    "burst",
    "connrate",
    "syscalls",
    "timers",
];
const DEFAULT_SERVERS: &str = "gyre,mio,tokio-ct,tokio-mt,twisted";
const MULTICORE_SERVERS: &str = "gyre,gyre-2t,tokio-mt-1t,tokio-mt";
const MULTICORE_SCENARIOS: &str = "pingpong-50,pingpong-500,pipelined,connrate";
/// How long a server may take to say where it listens.
const START_LIMIT: Duration = Duration::from_secs(20);

/// Where the binaries and scripts are.
#[derive(Debug)]
struct Paths {
    bin_dir: PathBuf,
    python: PathBuf,
    twisted_script: PathBuf,
    results_dir: PathBuf,
}

impl Paths {
    fn find() -> Paths {
        let exe = std::env::current_exe().expect("own executable path");
        let bin_dir = exe.parent().expect("executable directory").to_path_buf();
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = manifest.join("../..");
        let python = std::env::var_os("GYRE_TWISTED_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join(".venv/bin/python"));
        // <target>/release/bench -> <target>/bench/
        let results_dir = bin_dir
            .parent()
            .map(|t| t.join("bench"))
            .unwrap_or_else(|| root.join("target/bench"));
        Paths {
            bin_dir,
            python,
            twisted_script: manifest.join("twisted_echo.py"),
            results_dir,
        }
    }
}

/// A server process under measurement (whose CPU time is measured), and
/// what runs in front of it (HAProxy); killed when dropped.
#[derive(Debug)]
struct Server {
    child: Child,
    port: u16,
    front: Option<Child>,
}

impl Drop for Server {
    fn drop(&mut self) {
        for child in self.front.iter_mut().chain([&mut self.child]) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Prefixes `command` with `taskset -c cpu` when pinning.
fn pinned(program: &Path, cpu: Option<usize>) -> Command {
    match cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpu.to_string()).arg(program);
            c
        }
        None => Command::new(program),
    }
}

fn start_server(paths: &Paths, kind: &str, cpu: Option<usize>) -> Result<Server, String> {
    let server = start_process(paths, kind, cpu)?;
    let send = match kind {
        "haproxy-plain" => haproxy::Send::Plain,
        "haproxy-v1" => haproxy::Send::V1,
        "haproxy-v2" => haproxy::Send::V2,
        _ => return Ok(server),
    };
    in_front(paths, kind, server, send, cpu)
}

/// Starts HAProxy on a free loopback port in front of `backend` (on the
/// backend's CPU when pinned) and waits until it listens; the server's
/// port becomes HAProxy's, its CPU time stays the backend's.
fn in_front(
    paths: &Paths,
    kind: &str,
    mut backend: Server,
    send: haproxy::Send,
    cpu: Option<usize>,
) -> Result<Server, String> {
    let binary = haproxy::binary()
        .ok_or("haproxy is not installed (apt-get install -y haproxy)".to_string())?;
    let frontend = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port for haproxy: {e}"))?
        .port();
    std::fs::create_dir_all(&paths.results_dir)
        .map_err(|e| format!("cannot create {}: {e}", paths.results_dir.display()))?;
    let config = paths.results_dir.join(format!("{kind}.cfg"));
    let log = paths.results_dir.join(format!("{kind}.log"));
    std::fs::write(&config, haproxy::config(frontend, backend.port, send))
        .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
    let stderr =
        std::fs::File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let child = pinned(&binary, cpu)
        .arg("-db")
        .arg("-f")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("cannot start haproxy: {e}"))?;
    backend.front = Some(child);
    let deadline = Instant::now() + START_LIMIT;
    while !haproxy::listening(frontend).unwrap_or(false) {
        let exited = backend
            .front
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten());
        if exited.is_some() || Instant::now() >= deadline {
            let said = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(format!(
                "{kind}: haproxy does not listen on {frontend}:\n{said}"
            ));
        }
        thread::sleep(Duration::from_millis(5));
    }
    backend.port = frontend;
    Ok(backend)
}

/// Starts the process of `kind` and waits for it to say where it listens.
fn start_process(paths: &Paths, kind: &str, cpu: Option<usize>) -> Result<Server, String> {
    let listen = "127.0.0.1:0";
    let mut cmd;
    // gyre announces its port on stderr (`… starting on <port>`), the
    // others print `LISTENING <port>` on stdout.
    let from_stderr = kind.starts_with("gyre") || kind.starts_with("haproxy-");
    match kind {
        "haproxy-plain" => {
            cmd = pinned(&paths.bin_dir.join("gyre"), cpu);
            cmd.args(["echo", "--listen", "tcp:0:interface=127.0.0.1"]);
        }
        "haproxy-v1" | "haproxy-v2" => {
            cmd = pinned(&paths.bin_dir.join("gyre"), cpu);
            cmd.args(["echo", "--listen", "haproxy:tcp:0:interface=127.0.0.1"]);
        }
        "gyre" | "gyre-2t" => {
            cmd = pinned(&paths.bin_dir.join("gyre"), cpu);
            cmd.args(["echo", "--listen", "tcp:0:interface=127.0.0.1"]);
            if kind == "gyre-2t" {
                cmd.args(["--threads", "2"]);
            }
        }
        "gyre-unwatched" => {
            cmd = pinned(&paths.bin_dir.join("gyre"), cpu);
            cmd.args([
                "--blocked-threshold",
                "0",
                "echo",
                "--listen",
                "tcp:0:interface=127.0.0.1",
            ]);
        }
        "gyre-backlog50" => {
            cmd = pinned(&paths.bin_dir.join("gyre"), cpu);
            cmd.args(["echo", "--listen", "tcp:0:interface=127.0.0.1:backlog=50"]);
        }
        "mio" | "tokio-ct" | "tokio-mt" => {
            cmd = pinned(&paths.bin_dir.join("bench-server"), cpu);
            cmd.args([kind, "--listen", listen]);
        }
        "tokio-mt-1t" => {
            cmd = pinned(&paths.bin_dir.join("bench-server"), cpu);
            cmd.args(["tokio-mt", "--threads", "1", "--listen", listen]);
        }
        "twisted" => {
            cmd = pinned(&paths.python, cpu);
            cmd.arg(&paths.twisted_script).args(["--listen", listen]);
        }
        other => return Err(format!("unknown server {other:?}")),
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {kind}: {e}"))?;
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    // Both streams are read to their end on threads, so the server never
    // blocks on a full pipe; the announcing line is passed on.
    let pump = |stream: Box<dyn std::io::Read + Send>,
                announces: bool,
                tx: mpsc::Sender<String>| {
        thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                let port = if announces {
                    line.strip_prefix("LISTENING ")
                        .map(str::to_owned)
                        .or_else(|| line.rsplit_once(" starting on ").map(|(_, p)| p.to_owned()))
                } else {
                    None
                };
                if let Some(p) = port {
                    let _ = tx.send(p.trim().to_owned());
                } else if !announces || !line.contains(" starting on ") {
                    // Keep what the server says for the report on failure.
                    let _ = tx.send(format!("#{line}"));
                }
            }
        });
    };
    pump(Box::new(stdout), !from_stderr, tx.clone());
    pump(Box::new(stderr), from_stderr, tx);
    let deadline = Instant::now() + START_LIMIT;
    let mut said = String::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.starts_with('#') => {
                if said.len() < 4000 {
                    said.push_str(&line[1..]);
                    said.push('\n');
                }
            }
            Ok(port) => {
                let port = port
                    .parse()
                    .map_err(|_| format!("{kind}: bad port {port:?}"))?;
                return Ok(Server {
                    child,
                    port,
                    front: None,
                });
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{kind} did not start within {START_LIMIT:?}:\n{said}"
                ));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child
                    .wait()
                    .map_or_else(|e| e.to_string(), |s| s.to_string());
                return Err(format!(
                    "{kind} exited ({status}) before saying where it listens:\n{said}"
                ));
            }
        }
    }
}

/// The client arguments of a socket scenario.
fn client_args(scenario: &str, quick: bool) -> Vec<&'static str> {
    match scenario {
        "pingpong-1" => vec!["ping-pong", "--conns", "1"],
        "pingpong-50" => vec!["ping-pong", "--conns", "50"],
        "pingpong-500" => vec!["ping-pong", "--conns", "500"],
        "pipelined" => vec!["pipelined", "--conns", "50", "--depth", "16"],
        "bulk" => vec!["bulk", "--size", "1048576"],
        "idle" if quick => vec!["idle", "--conns", "500"],
        "idle" => vec!["idle", "--conns", "10000"],
        "burst" if quick => vec!["burst", "--conns", "300"],
        "burst" => vec!["burst", "--conns", "3000"],
        "connrate" => vec!["conn-rate", "--conns", "16"],
        "syscalls" => vec!["ping-pong", "--conns", "50"],
        // The syscalls scenario's baseline: the same connections, one echo
        // each, so connection set-up and tear-down can be subtracted.
        "syscalls-baseline" => vec!["idle", "--conns", "50"],
        _ => unreachable!("not a socket scenario: {scenario}"),
    }
}

fn run_socket(
    paths: &Paths,
    args: &Args,
    scenario: &str,
    kind: &str,
    duration: f64,
) -> Result<Measurement, String> {
    if scenario == "syscalls" {
        return run_syscalls(paths, args, kind, duration);
    }
    let have_two = thread::available_parallelism().map_or(1, |n| n.get()) >= 2;
    let (server_cpu, client_cpu) = if scenario == "pingpong-1" {
        (Some(0), Some(0))
    } else if args.pin && have_two {
        (Some(1), Some(0))
    } else {
        (None, None)
    };
    let server = start_server(paths, kind, server_cpu)?;
    run_client(paths, args, scenario, kind, &server, client_cpu, duration)
}

/// Runs `bench-client` for `scenario` against `server`.
fn run_client(
    paths: &Paths,
    args: &Args,
    scenario: &str,
    kind: &str,
    server: &Server,
    client_cpu: Option<usize>,
    duration: f64,
) -> Result<Measurement, String> {
    let mut cmd = pinned(&paths.bin_dir.join("bench-client"), client_cpu);
    cmd.args(client_args(scenario, args.quick))
        .arg("--connect")
        .arg(format!("127.0.0.1:{}", server.port))
        .arg("--duration")
        .arg(duration.to_string())
        .arg("--threads")
        .arg(args.client_threads().to_string())
        .arg("--server-pid")
        .arg(server.child.id().to_string());
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run bench-client: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let measurement = stdout.lines().find_map(Measurement::parse);
    match measurement {
        Some(m) if out.status.success() => Ok(m),
        _ => Err(format!(
            "{scenario} against {kind}: client failed ({}):\n{}{}",
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

/// System calls per echoed message in steady state, counted by `strace -c
/// -f` attached to the running server (after it has started, so its start-up
/// is not counted).
///
/// Two traced runs on fresh servers: 50 connections ping-ponging 64 B for
/// the duration, and the same 50 connections echoing once each. The second
/// holds the set-up and tear-down of the connections (accept, options,
/// registration, close), so the difference of the two counts over the
/// difference of the messages is the cost of a message alone. The throughput
/// under strace is a fraction of the real one; its CPU and latency are not
/// reported.
fn run_syscalls(
    paths: &Paths,
    args: &Args,
    kind: &str,
    duration: f64,
) -> Result<Measurement, String> {
    let traced = |scenario: &str| -> Result<(Measurement, Counts), String> {
        let server = start_server(paths, kind, None)?;
        std::fs::create_dir_all(&paths.results_dir)
            .map_err(|e| format!("cannot create {}: {e}", paths.results_dir.display()))?;
        let file = paths
            .results_dir
            .join(format!("strace-{kind}-{scenario}.txt"));
        let tracer = Tracer::attach(server.child.id(), &file)
            .map_err(|e| format!("syscalls against {kind}: {e}"))?;
        let m = run_client(paths, args, scenario, kind, &server, None, duration)?;
        let counts = tracer
            .finish()
            .map_err(|e| format!("syscalls against {kind}: {e}"))?;
        Ok((m, counts))
    };
    let (mut m, load) = traced("syscalls")?;
    let (base, setup) = traced("syscalls-baseline")?;
    let messages = m.ops.saturating_sub(base.ops);
    if messages == 0 || load.total < setup.total {
        return Err(format!(
            "syscalls against {kind}: too few messages to count ({} traced, {} baseline)",
            m.ops, base.ops
        ));
    }
    m.syscalls_per_op = (load.total - setup.total) as f64 / messages as f64;
    let top: Vec<String> = load
        .calls
        .iter()
        .take(4)
        .map(|(name, n)| format!("{name} {:.3}", *n as f64 / m.ops as f64))
        .collect();
    eprintln!(
        "  {kind} under strace: {} calls for {} messages, baseline {} calls for {}; per message: {}",
        load.total,
        m.ops,
        setup.total,
        base.ops,
        top.join(", ")
    );
    m.server_cpu_s = -1.0;
    m.p50_us = 0.0;
    m.p99_us = 0.0;
    Ok(m)
}

/// A deterministic spread of timer delays over `0..span_ms` milliseconds.
fn timer_delays(n: usize, span_ms: u64) -> Vec<Duration> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Duration::from_micros(x % (span_ms * 1000))
        })
        .collect()
}

/// Schedules `n` calls on gyre's reactor, cancels every other one, runs the
/// rest. Returns the wall time and this process's CPU time.
fn timers_gyre(delays: &[Duration]) -> Result<Measurement, String> {
    use std::cell::Cell;
    use std::rc::Rc;
    let reactor = gyre::Reactor::new().map_err(|e| e.to_string())?;
    let cpu0 = procfs::cpu_seconds(std::process::id()).unwrap_or(-1.0);
    let start = Instant::now();
    let remaining = Rc::new(Cell::new(delays.len() - delays.len() / 2));
    let mut calls = Vec::with_capacity(delays.len());
    for &d in delays {
        let (remaining, r) = (remaining.clone(), reactor.clone());
        calls.push(reactor.call_later(d, move || {
            remaining.set(remaining.get() - 1);
            if remaining.get() == 0 {
                let _ = r.stop();
            }
        }));
    }
    for call in calls.iter().skip(1).step_by(2) {
        call.cancel().map_err(|e| e.to_string())?;
    }
    reactor.run().map_err(|e| e.to_string())?;
    let elapsed = start.elapsed();
    let cpu1 = procfs::cpu_seconds(std::process::id()).unwrap_or(-1.0);
    let fired = delays.len() - delays.len() / 2 - remaining.get();
    Ok(timer_measurement(delays.len(), fired, elapsed, cpu0, cpu1))
}

/// The same on tokio's current-thread runtime: one spawned task per timer
/// awaiting `sleep_until` (a task is tokio's unit of a scheduled callback),
/// every other task aborted through its handle, the rest awaited.
fn timers_tokio(delays: &[Duration]) -> Result<Measurement, String> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| e.to_string())?;
    let fired = Arc::new(AtomicUsize::new(0));
    let cpu0 = procfs::cpu_seconds(std::process::id()).unwrap_or(-1.0);
    let start = Instant::now();
    rt.block_on(async {
        let now = tokio::time::Instant::now();
        let mut handles = Vec::with_capacity(delays.len());
        for &d in delays {
            let fired = fired.clone();
            handles.push(tokio::spawn(async move {
                tokio::time::sleep_until(now + d).await;
                fired.fetch_add(1, Ordering::Relaxed);
            }));
        }
        for h in handles.iter().skip(1).step_by(2) {
            h.abort();
        }
        for h in handles {
            let _ = h.await;
        }
    });
    let elapsed = start.elapsed();
    let cpu1 = procfs::cpu_seconds(std::process::id()).unwrap_or(-1.0);
    drop(rt);
    Ok(timer_measurement(
        delays.len(),
        fired.load(Ordering::Relaxed),
        elapsed,
        cpu0,
        cpu1,
    ))
}

fn timer_measurement(
    n: usize,
    fired: usize,
    elapsed: Duration,
    cpu0: f64,
    cpu1: f64,
) -> Measurement {
    let want = n - n / 2;
    Measurement {
        ops: n as u64,
        seconds: elapsed.as_secs_f64(),
        server_cpu_s: if cpu0 >= 0.0 && cpu1 >= 0.0 {
            cpu1 - cpu0
        } else {
            -1.0
        },
        // A timer that should have fired and did not, or fired too often.
        missing: want.saturating_sub(fired) as u64,
        excess: fired.saturating_sub(want) as u64,
        ..Measurement::default()
    }
}

/// Median, minimum and maximum of the finite values.
fn stats(values: impl Iterator<Item = f64>) -> Option<(f64, f64, f64)> {
    let mut v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let mid = v.len() / 2;
    let median = if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    };
    Some((median, v[0], v[v.len() - 1]))
}

/// The headline figures of one scenario.
#[derive(Debug, Clone, Copy)]
enum Metric {
    OpsPerSec,
    CpuUsPerOp,
    P50,
    P99,
    MibPerSec,
    RssPerConn,
    Seconds,
    SyscallsPerOp,
    ListenOverflows,
}

impl Metric {
    fn of(self, m: &Measurement) -> f64 {
        match self {
            Metric::OpsPerSec => m.ops_per_sec(),
            Metric::CpuUsPerOp => m.cpu_us_per_op(),
            Metric::P50 => m.p50_us,
            Metric::P99 => m.p99_us,
            Metric::MibPerSec => m.mib_per_sec(),
            Metric::RssPerConn if m.rss_per_conn >= 0.0 => m.rss_per_conn,
            Metric::RssPerConn => f64::NAN,
            Metric::Seconds => m.seconds,
            Metric::SyscallsPerOp if m.syscalls_per_op > 0.0 => m.syscalls_per_op,
            Metric::SyscallsPerOp => f64::NAN,
            Metric::ListenOverflows if m.listen_overflows >= 0 => m.listen_overflows as f64,
            Metric::ListenOverflows => f64::NAN,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Metric::OpsPerSec => "ops_per_sec",
            Metric::CpuUsPerOp => "cpu_us_per_op",
            Metric::P50 => "p50_us",
            Metric::P99 => "p99_us",
            Metric::MibPerSec => "mib_per_sec",
            Metric::RssPerConn => "rss_bytes_per_conn",
            Metric::Seconds => "seconds",
            Metric::SyscallsPerOp => "syscalls_per_op",
            Metric::ListenOverflows => "listen_overflows",
        }
    }
}

const METRICS: [Metric; 9] = [
    Metric::OpsPerSec,
    Metric::CpuUsPerOp,
    Metric::P50,
    Metric::P99,
    Metric::MibPerSec,
    Metric::RssPerConn,
    Metric::Seconds,
    Metric::SyscallsPerOp,
    Metric::ListenOverflows,
];

type Results = BTreeMap<(usize, usize), Vec<Measurement>>;
/// One measurement: scenario, server, round and what was measured.
type Row = (usize, usize, usize, Measurement);

fn median_of(results: &Results, key: (usize, usize), metric: Metric) -> Option<f64> {
    results
        .get(&key)
        .and_then(|ms| stats(ms.iter().map(|m| metric.of(m))))
        .map(|s| s.0)
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        "-".into()
    } else if x.abs() >= 1000.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn fmt_stat(s: Option<(f64, f64, f64)>) -> String {
    match s {
        Some((med, lo, hi)) => format!("{} [{}–{}]", fmt_num(med), fmt_num(lo), fmt_num(hi)),
        None => "-".into(),
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "-".into(), |r| format!("{r:.2}×"))
}

fn describe(scenario: &str, quick: bool) -> &'static str {
    match scenario {
        "pingpong-1" => "1 connection, 64 B ping-pong; client and server pinned to CPU 0",
        "pingpong-50" => "50 connections, 64 B ping-pong",
        "pingpong-500" => "500 connections, 64 B ping-pong",
        "pipelined" => "50 connections × 16 messages of 64 B in flight",
        "bulk" => "one connection, 1 MiB chunks, one in flight (op = 1 MiB)",
        "idle" if quick => "500 connections opened, one 64 B echo each, held open",
        "idle" => "10,000 connections opened, one 64 B echo each, held open",
        "burst" if quick => {
            "300 connections opened, 32 handshakes in flight, one 64 B echo each, then closed (op = connection set up and echoed)"
        }
        "burst" => {
            "3,000 connections opened, 32 handshakes in flight, one 64 B echo each, then closed (op = connection set up and echoed)"
        }
        "connrate" => "connect, echo 64 B, close; 16 at a time (op = connection)",
        "syscalls" => {
            "50 connections, 64 B ping-pong, under `strace -c -f` (steady-state system calls per message; the throughput is strace's, CPU and latency are not reported)"
        }
        "timers" if quick => {
            "10,000 timers over 0–100 ms, every other cancelled, the rest run (in-process; CPU = whole process)"
        }
        "timers" => {
            "1,000,000 timers over 0–100 ms, every other cancelled, the rest run (in-process; CPU = whole process)"
        }
        _ => "",
    }
}

/// The extra column of a scenario, if it has one.
fn extra(scenario: &str) -> Option<Metric> {
    match scenario {
        "bulk" => Some(Metric::MibPerSec),
        "idle" => Some(Metric::RssPerConn),
        "burst" => Some(Metric::ListenOverflows),
        "timers" => Some(Metric::Seconds),
        "syscalls" => Some(Metric::SyscallsPerOp),
        _ => None,
    }
}

fn table(args: &Args, scenarios: &[usize], servers: &[usize], results: &Results) -> String {
    let mut out = String::new();
    let idx = |name: &str| SERVERS.iter().position(|s| *s == name);
    // The timers scenario has no per-operation latency.
    let latency = |x: Option<f64>| x.filter(|v| *v > 0.0).unwrap_or(f64::NAN);
    for &sc in scenarios {
        let name = SCENARIOS[sc];
        let _ = writeln!(out, "\n### {name}: {}\n", describe(name, args.quick));
        let extra_head = match extra(name) {
            Some(Metric::MibPerSec) => " MiB/s |",
            Some(Metric::RssPerConn) => " RSS B/conn |",
            Some(Metric::Seconds) => " wall s |",
            Some(Metric::SyscallsPerOp) => " syscalls/msg |",
            Some(Metric::ListenOverflows) => " listen overflows |",
            _ => "",
        };
        let _ = writeln!(
            out,
            "| server | ops/s median [min–max] | p50 µs | p99 µs | server CPU µs/op median [min–max] | CPU/op ÷ mio | CPU/op ÷ tokio-ct | ops/s ÷ mio | ops/s ÷ tokio-ct |{extra_head}"
        );
        let cols = if extra_head.is_empty() { 9 } else { 10 };
        let _ = writeln!(out, "|{}", "---|".repeat(cols));
        for &sv in servers {
            let Some(ms) = results.get(&(sc, sv)) else {
                continue;
            };
            let st = |m: Metric| stats(ms.iter().map(|x| m.of(x)));
            let med = |server: Option<usize>, m: Metric| {
                server.and_then(|s| median_of(results, (sc, s), m))
            };
            let mine = |m: Metric| st(m).map(|s| s.0);
            let mut row = format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                SERVERS[sv],
                fmt_stat(st(Metric::OpsPerSec)),
                fmt_num(latency(mine(Metric::P50))),
                fmt_num(latency(mine(Metric::P99))),
                fmt_stat(st(Metric::CpuUsPerOp)),
                fmt_ratio(ratio(
                    mine(Metric::CpuUsPerOp),
                    med(idx("mio"), Metric::CpuUsPerOp)
                )),
                fmt_ratio(ratio(
                    mine(Metric::CpuUsPerOp),
                    med(idx("tokio-ct"), Metric::CpuUsPerOp)
                )),
                fmt_ratio(ratio(
                    mine(Metric::OpsPerSec),
                    med(idx("mio"), Metric::OpsPerSec)
                )),
                fmt_ratio(ratio(
                    mine(Metric::OpsPerSec),
                    med(idx("tokio-ct"), Metric::OpsPerSec)
                )),
            );
            if let Some(m) = extra(name) {
                let _ = write!(row, " {} |", fmt_stat(st(m)));
            }
            let _ = writeln!(out, "{row}");
        }
    }
    out
}

/// The ratio `a ÷ b` of `metric` in each round (both measured in the same
/// round, one after the other); `None` for a round that lacks either.
fn round_ratios(raw: &[Row], sc: usize, a: usize, b: usize, metric: Metric) -> Vec<Option<f64>> {
    let of = |server: usize, round: usize| {
        raw.iter()
            .find(|(s, v, r, _)| *s == sc && *v == server && *r == round)
            .map(|(.., m)| metric.of(m))
    };
    let rounds = raw.iter().map(|(.., r, _)| *r).max().unwrap_or(0);
    (1..=rounds).map(|r| ratio(of(a, r), of(b, r))).collect()
}

/// The ratio `a ÷ b` of `metric` round by round: median, minimum and
/// maximum.
fn paired(raw: &[Row], sc: usize, a: usize, b: usize, metric: Metric) -> Option<(f64, f64, f64)> {
    stats(round_ratios(raw, sc, a, b, metric).into_iter().flatten())
}

/// The burst target, which has to hold in every round, not only for the
/// medians: gyre sets up connections at ≥ 0.9× the mio loop's rate.
fn burst_target(results: &Results, raw: &[Row]) -> String {
    const FLOOR: f64 = 0.9;
    let what = "burst: set-up rate ÷ mio ≥ 0.90 in every round";
    let sc = SCENARIOS
        .iter()
        .position(|s| *s == "burst")
        .expect("scenario");
    let sv = |n: &str| SERVERS.iter().position(|s| *s == n).expect("server");
    let med = |v: &str| median_of(results, (sc, sv(v)), Metric::OpsPerSec);
    let (Some(of_medians), Some((m, lo, hi))) = (
        ratio(med("gyre"), med("mio")),
        paired(raw, sc, sv("gyre"), sv("mio"), Metric::OpsPerSec),
    ) else {
        return format!("- {what}: not measured\n");
    };
    let rounds = round_ratios(raw, sc, sv("gyre"), sv("mio"), Metric::OpsPerSec);
    let met = rounds.iter().flatten().filter(|r| **r >= FLOOR).count();
    let each: Vec<String> = rounds
        .iter()
        .enumerate()
        .map(|(i, r)| match r {
            Some(r) if *r >= FLOOR => format!("round {} {r:.2}× met", i + 1),
            Some(r) => format!("round {} {r:.2}× MISSED", i + 1),
            None => format!("round {} not measured", i + 1),
        })
        .collect();
    let verdict = if met == rounds.len() { "met" } else { "MISSED" };
    format!(
        "- {what}: {of_medians:.3}× of medians, {m:.3}× [{lo:.3}–{hi:.3}] round by round; {}; \
         met in {met} of {} rounds: {verdict}\n",
        each.join(", "),
        rounds.len()
    )
}

/// gyre's figures against the issue's targets.
///
/// A ratio to the mio loop is given two ways: the ratio of the two medians,
/// and the median of the ratios taken round by round. The verdict is "met"
/// when both meet the target, "MISSED" when neither does, and "within
/// noise" when they disagree.
fn targets(results: &Results, raw: &[Row]) -> String {
    let mut out = String::from("\n### gyre against the targets\n\n");
    let sc = |n: &str| SCENARIOS.iter().position(|s| *s == n).expect("scenario");
    let sv = |n: &str| SERVERS.iter().position(|s| *s == n).expect("server");
    let med = |s: &str, v: &str, m: Metric| median_of(results, (sc(s), sv(v)), m);
    let mut against_mio = Vec::new();
    for s in [
        "pingpong-1",
        "pingpong-50",
        "pingpong-500",
        "pipelined",
        "connrate",
    ] {
        against_mio.push((
            format!("{s}: server CPU/op ÷ mio ≤ 1.00"),
            s,
            Metric::CpuUsPerOp,
            (|r| r <= 1.0) as fn(f64) -> bool,
        ));
    }
    against_mio.push((
        "bulk: throughput ÷ mio ≥ 0.95".into(),
        "bulk",
        Metric::MibPerSec,
        |r| r >= 0.95,
    ));
    for (what, s, metric, ok) in against_mio {
        let of_medians = ratio(med(s, "gyre", metric), med(s, "mio", metric));
        let by_round = paired(raw, sc(s), sv("gyre"), sv("mio"), metric);
        let verdict = match (of_medians, by_round) {
            (Some(a), Some((b, ..))) if ok(a) && ok(b) => "met",
            (Some(a), Some((b, ..))) if !ok(a) && !ok(b) => "MISSED",
            (Some(_), Some(_)) => "within noise (the two ratios disagree)",
            _ => "not measured",
        };
        let by_round = by_round.map_or_else(
            || "-".into(),
            |(m, lo, hi)| format!("{m:.3}× [{lo:.3}–{hi:.3}]"),
        );
        let of_medians = of_medians.map_or_else(|| "-".into(), |r| format!("{r:.3}×"));
        let _ = writeln!(
            out,
            "- {what}: {of_medians} of medians, {by_round} round by round: {verdict}"
        );
    }
    out.push_str(&burst_target(results, raw));
    let mut line = |what: String, value: Option<f64>, unit: &str, ok: fn(f64) -> bool| {
        let verdict = match value {
            Some(v) if ok(v) => format!("{}{unit}: met", fmt_num(v)),
            Some(v) => format!("{}{unit}: MISSED", fmt_num(v)),
            None => "not measured".into(),
        };
        let _ = writeln!(out, "- {what}: {verdict}");
    };

    line(
        "idle: RSS growth ≤ 256 B/connection".into(),
        med("idle", "gyre", Metric::RssPerConn),
        " B",
        |b| b <= 256.0,
    );
    line(
        "pingpong-50: Twisted CPU/msg ÷ gyre CPU/msg ≥ 8".into(),
        ratio(
            med("pingpong-50", "twisted", Metric::CpuUsPerOp),
            med("pingpong-50", "gyre", Metric::CpuUsPerOp),
        ),
        "×",
        |r| r >= 8.0,
    );
    line(
        "syscalls: per echoed message in steady state ≤ 2.05".into(),
        med("syscalls", "gyre", Metric::SyscallsPerOp),
        "",
        |n| n <= 2.05,
    );
    line(
        "timers: gyre CPU ÷ tokio CPU ≤ 1.00".into(),
        ratio(
            med("timers", "gyre", Metric::CpuUsPerOp),
            med("timers", "tokio-ct", Metric::CpuUsPerOp),
        ),
        "×",
        |r| r <= 1.0,
    );
    out
}

/// How throughput and CPU per operation change from one server thread to
/// two, for gyre and for tokio, and gyre against tokio at two.
fn scaling(scenarios: &[usize], results: &Results) -> String {
    let mut out = String::from(
        "\n### Scaling from 1 to 2 threads (two-thread client)\n\n\
         | scenario | gyre ops/s 2t ÷ 1t | gyre CPU/op 2t ÷ 1t | tokio-mt ops/s 2t ÷ 1t | tokio-mt CPU/op 2t ÷ 1t | gyre-2t ÷ tokio-mt ops/s | gyre-2t ÷ tokio-mt CPU/op |\n\
         |---|---|---|---|---|---|---|\n",
    );
    let sv = |n: &str| SERVERS.iter().position(|s| *s == n).expect("server");
    for &sc in scenarios {
        let med = |v: &str, m: Metric| median_of(results, (sc, sv(v)), m);
        let r = |a: &str, b: &str, m: Metric| fmt_ratio(ratio(med(a, m), med(b, m)));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            SCENARIOS[sc],
            r("gyre-2t", "gyre", Metric::OpsPerSec),
            r("gyre-2t", "gyre", Metric::CpuUsPerOp),
            r("tokio-mt", "tokio-mt-1t", Metric::OpsPerSec),
            r("tokio-mt", "tokio-mt-1t", Metric::CpuUsPerOp),
            r("gyre-2t", "tokio-mt", Metric::OpsPerSec),
            r("gyre-2t", "tokio-mt", Metric::CpuUsPerOp),
        );
    }
    out
}

/// What the PROXY header costs behind HAProxy: each `haproxy-v1`/`-v2`
/// server against `haproxy-plain` (the same path without a header), for
/// throughput and for gyre's CPU per operation, as the ratio of medians
/// and round by round.
fn header_cost(scenarios: &[usize], servers: &[usize], results: &Results, raw: &[Row]) -> String {
    let sv = |n: &str| SERVERS.iter().position(|s| *s == n).expect("server");
    let plain = sv("haproxy-plain");
    let with: Vec<usize> = ["haproxy-v1", "haproxy-v2"]
        .into_iter()
        .map(sv)
        .filter(|s| servers.contains(s))
        .collect();
    if !servers.contains(&plain) || with.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n### The PROXY header behind HAProxy: with ÷ without (haproxy-plain)\n\n\
         | scenario | server | ops/s ÷ plain, of medians | round by round [min–max] | gyre CPU/op ÷ plain, of medians | round by round [min–max] |\n\
         |---|---|---|---|---|---|\n",
    );
    for &sc in scenarios {
        for &h in &with {
            let med = |s: usize, m: Metric| median_of(results, (sc, s), m);
            let cell = |m: Metric| {
                let rounds = paired(raw, sc, h, plain, m).map_or_else(
                    || "-".into(),
                    |(m, lo, hi)| format!("{m:.3}× [{lo:.3}–{hi:.3}]"),
                );
                (fmt_ratio(ratio(med(h, m), med(plain, m))), rounds)
            };
            let (ops, ops_rounds) = cell(Metric::OpsPerSec);
            let (cpu, cpu_rounds) = cell(Metric::CpuUsPerOp);
            let _ = writeln!(
                out,
                "| {} | {} | {ops} | {ops_rounds} | {cpu} | {cpu_rounds} |",
                SCENARIOS[sc], SERVERS[h]
            );
        }
    }
    out
}

fn json_num(x: Option<f64>) -> String {
    match x {
        Some(x) if x.is_finite() => format!("{x}"),
        _ => "null".into(),
    }
}

fn write_files(
    dir: &Path,
    scenarios: &[usize],
    servers: &[usize],
    results: &Results,
    raw: &[Row],
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut csv = String::from(
        "scenario,server,round,ops,bytes,seconds,ops_per_sec,p50_us,p99_us,server_cpu_s,cpu_us_per_op,mib_per_sec,rss_bytes_per_conn,syscalls_per_op,listen_overflows,mismatched,missing,excess,errors\n",
    );
    for (sc, sv, round, m) in raw {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            SCENARIOS[*sc],
            SERVERS[*sv],
            round,
            m.ops,
            m.bytes,
            m.seconds,
            m.ops_per_sec(),
            m.p50_us,
            m.p99_us,
            m.server_cpu_s,
            m.cpu_us_per_op(),
            m.mib_per_sec(),
            m.rss_per_conn,
            m.syscalls_per_op,
            m.listen_overflows,
            m.mismatched,
            m.missing,
            m.excess,
            m.errors
        );
    }
    std::fs::write(dir.join("results.csv"), csv)?;
    let idx = |name: &str| SERVERS.iter().position(|s| *s == name);
    let mut json = String::from("[\n");
    let mut first = true;
    for &sc in scenarios {
        for &sv in servers {
            let Some(ms) = results.get(&(sc, sv)) else {
                continue;
            };
            if !first {
                json.push_str(",\n");
            }
            first = false;
            let _ = write!(
                json,
                "  {{\"scenario\": \"{}\", \"server\": \"{}\", \"runs\": {}",
                SCENARIOS[sc],
                SERVERS[sv],
                ms.len()
            );
            for metric in METRICS {
                let s = stats(ms.iter().map(|m| metric.of(m)));
                let _ = write!(
                    json,
                    ", \"{}\": {{\"median\": {}, \"min\": {}, \"max\": {}}}",
                    metric.name(),
                    json_num(s.map(|s| s.0)),
                    json_num(s.map(|s| s.1)),
                    json_num(s.map(|s| s.2))
                );
            }
            for (reference, label) in [("mio", "mio"), ("tokio-ct", "tokio_ct")] {
                for metric in [Metric::CpuUsPerOp, Metric::OpsPerSec] {
                    let r = ratio(
                        median_of(results, (sc, sv), metric),
                        idx(reference).and_then(|r| median_of(results, (sc, r), metric)),
                    );
                    let _ = write!(json, ", \"{}_vs_{label}\": {}", metric.name(), json_num(r));
                }
            }
            json.push('}');
        }
    }
    json.push_str("\n]\n");
    std::fs::write(dir.join("results.json"), json)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let paths = Paths::find();
    procfs::raise_nofile_limit();
    let server_names: Vec<String> = args.servers.clone().unwrap_or_else(|| {
        let list = if args.multicore {
            MULTICORE_SERVERS
        } else {
            DEFAULT_SERVERS
        };
        list.split(',').map(str::to_owned).collect()
    });
    let mut scenario_names: Vec<String> = args.scenarios.clone().unwrap_or_else(|| {
        if args.multicore {
            MULTICORE_SCENARIOS.split(',').map(str::to_owned).collect()
        } else {
            SCENARIOS.iter().map(|s| (*s).to_owned()).collect()
        }
    });
    // The chat benchmark is its own section, after the matrix.
    let run_chat = !args.multicore
        && args
            .scenarios
            .as_ref()
            .is_none_or(|s| s.iter().any(|s| s == "chat"));
    scenario_names.retain(|s| s != "chat");
    let mut servers = Vec::new();
    for s in &server_names {
        match SERVERS.iter().position(|k| k == s) {
            Some(i) => servers.push(i),
            None => {
                eprintln!(
                    "bench: unknown server {s:?} (known: {})",
                    SERVERS.join(", ")
                );
                return ExitCode::FAILURE;
            }
        }
    }
    let mut scenarios = Vec::new();
    for s in &scenario_names {
        match SCENARIOS.iter().position(|k| k == s) {
            Some(i) => scenarios.push(i),
            None => {
                eprintln!(
                    "bench: unknown scenario {s:?} (known: {})",
                    SCENARIOS.join(", ")
                );
                return ExitCode::FAILURE;
            }
        }
    }
    let rounds = args.rounds.unwrap_or(if args.quick { 1 } else { 3 }).max(1);
    let duration = args.duration.unwrap_or(if args.quick { 0.2 } else { 3.0 });
    let timer_count = if args.quick { 10_000 } else { 1_000_000 };
    let delays = timer_delays(timer_count, 100);
    let mut results: Results = BTreeMap::new();
    let mut raw = Vec::new();
    let mut failures = Vec::new();
    eprintln!(
        "bench: {} round(s), {duration} s per measurement, servers {}, {} client thread(s), CPU ticks {}/s",
        rounds,
        server_names.join(","),
        args.client_threads(),
        procfs::clock_ticks_per_second()
    );
    let steal_before = procfs::steal_and_total_ticks().ok();
    for round in 1..=rounds {
        for &sc in &scenarios {
            let name = SCENARIOS[sc];
            for &sv in &servers {
                let kind = SERVERS[sv];
                let outcome = if name == "timers" {
                    match kind {
                        "gyre" => timers_gyre(&delays),
                        "tokio-ct" => timers_tokio(&delays),
                        _ => continue,
                    }
                } else {
                    run_socket(&paths, &args, name, kind, duration)
                };
                match outcome {
                    Ok(m) if m.is_clean() => {
                        let overflows = if name == "burst" {
                            format!(", {} listen overflows", m.listen_overflows)
                        } else {
                            String::new()
                        };
                        eprintln!(
                            "round {round} {name:>13} {kind:>9}: {:>10.0} ops/s, {:>8.2} µs CPU/op{overflows}",
                            m.ops_per_sec(),
                            m.cpu_us_per_op()
                        );
                        raw.push((sc, sv, round, m.clone()));
                        results.entry((sc, sv)).or_default().push(m);
                    }
                    Ok(m) => failures.push(format!("{name} against {kind}: {m}")),
                    Err(e) => failures.push(e),
                }
            }
        }
    }
    print!("{}", table(&args, &scenarios, &servers, &results));
    if let (Some((s0, t0)), Ok((s1, t1))) = (steal_before, procfs::steal_and_total_ticks())
        && t1 > t0
    {
        println!(
            "\nSteal time during the run: {:.1} % of all CPU time (the hypervisor running \
             something else while a virtual CPU wanted to run; high values make every figure noisier).",
            (s1 - s0) as f64 * 100.0 / (t1 - t0) as f64
        );
    }
    if args.multicore {
        print!("{}", scaling(&scenarios, &results));
    } else {
        print!("{}", targets(&results, &raw));
    }
    print!("{}", header_cost(&scenarios, &servers, &results, &raw));
    if run_chat {
        let chat = gyre_bench::chat::Options {
            gyre: paths.bin_dir.join("gyre"),
            python: paths.python.clone(),
            results_dir: paths.results_dir.clone(),
            servers: ["gyre", "twisted"]
                .into_iter()
                .filter(|s| server_names.iter().any(|n| n == s))
                .map(str::to_owned)
                .collect(),
            quick: args.quick,
            rounds,
        };
        match gyre_bench::chat::run(&chat) {
            Ok(report) => print!("{report}"),
            Err(e) => failures.push(e),
        }
    }
    if args.quick {
        println!(
            "\n(--quick: tiny sizes, one round; the figures prove the suite runs, nothing more)"
        );
    }
    match write_files(&paths.results_dir, &scenarios, &servers, &results, &raw) {
        Ok(()) => eprintln!(
            "bench: results in {}",
            paths.results_dir.join("results.{csv,json}").display()
        ),
        Err(e) => failures.push(format!("cannot write results: {e}")),
    }
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        for f in &failures {
            eprintln!("bench: FAILED: {f}");
        }
        ExitCode::FAILURE
    }
}
