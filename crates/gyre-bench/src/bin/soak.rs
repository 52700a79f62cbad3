//! The soak: `soak [--duration SECONDS] [--conns N] ...`.
//!
//! Starts `gyre echo`, `gyre chat` and `gyre portforward` (in front of a
//! second `gyre echo`) on 127.0.0.1, all at once, and churns `--conns`
//! connections against each of them for `--duration` (the client is
//! [`gyre_bench::soak`]: every connection used, checked byte by byte,
//! closed and replaced). Each service's client runs in its own process
//! (this binary again, with the hidden `--client`), so each process has
//! its own descriptor limit, raised to the hard limit; the forwarder holds
//! two descriptors per connection and gets as many connections as half
//! that limit less 2,500 allows (with a hard limit of 20,000: 7,500).
//! Every `--sample` seconds it prints each server's open descriptors
//! (`/proc/PID/fd`), resident memory and CPU time, with the client's
//! counts. At the end it fails (exit 1) on any of:
//!
//! * a wrong, missing or extra byte or line, or a connection that failed;
//! * a descriptor leak: once every client connection is closed, a server
//!   that does not get back, within 20 s, to the descriptors it had before
//!   the soak (measured after one probe connection came and went);
//! * memory growth: a server whose resident memory, at any sample after
//!   the first, is more than `--rss-growth-percent` (default 25) % plus
//!   `--rss-growth-mib` (default 16) MiB above its first sample (taken once
//!   the population is open);
//! * a server that logged anything but its start-up lines, or exited.
//!
//! `--report FILE` also writes the figures as a Markdown table.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use gyre_bench::procfs;
use gyre_bench::soak::{self, Churn, Kind, Live};

/// Churns connections against gyre's services and watches the servers.
#[derive(Debug, Parser)]
struct Args {
    /// Seconds to churn.
    #[arg(long, default_value_t = 1800)]
    duration: u64,
    /// Connections held open against each service.
    #[arg(long, default_value_t = 10_000)]
    conns: usize,
    /// Seconds between samples (default: 60, or a sixth of a run shorter
    /// than 10 minutes).
    #[arg(long)]
    sample: Option<u64>,
    /// Seconds between an echo connection's messages; a chat connection
    /// lives 6 to 17 of these (default: 5, or 1 for a run shorter than 10
    /// minutes, so that it still replaces every connection several times).
    #[arg(long)]
    every: Option<f64>,
    /// Milliseconds between lines said in the chat room.
    #[arg(long, default_value_t = 500)]
    speak_every_ms: u64,
    /// Allowed memory growth over the first sample: this percentage ...
    #[arg(long, default_value_t = 25.0)]
    rss_growth_percent: f64,
    /// ... plus this many MiB.
    #[arg(long, default_value_t = 16.0)]
    rss_growth_mib: f64,
    /// Also write the figures to this file (Markdown).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Internal: run as the churning client of one service (echo or chat)
    /// and report on standard output; the soak starts one per service, so
    /// that each has its own descriptor limit.
    #[arg(long, hide = true)]
    client: Option<String>,
    /// Internal: the client's server.
    #[arg(long, hide = true)]
    connect: Option<SocketAddr>,
    /// Internal: the client's source-address block.
    #[arg(long, hide = true, default_value_t = 0)]
    source: u8,
}

/// How long a server may take to say where it listens.
const START_LIMIT: Duration = Duration::from_secs(20);
/// How long a server may take to close what the clients closed.
const SETTLE_LIMIT: Duration = Duration::from_secs(20);
/// Log lines a server may print: its start, and the forwarder's
/// upstream factory (one per connection) starting and stopping.
const EXPECTED: [&str; 4] = [
    "Log opened.",
    " starting on ",
    "Starting factory",
    "Stopping factory",
];

/// A gyre process; killed when dropped.
struct Server {
    name: &'static str,
    child: Child,
    port: u16,
    /// Lines it logged that are not start-up lines.
    unexpected: Arc<Mutex<Vec<String>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(gyre: &Path, name: &'static str, args: &[&str]) -> Result<Server, String> {
        // The blocked-reactor check measures wall time, and the soak
        // overloads two cores on purpose (30,000 connections, seven busy
        // processes): the scheduler alone then holds a server for 100 ms
        // now and then, which the default threshold would report. A
        // callback blocking for a second is still reported, and fails it.
        let mut child = Command::new(gyre)
            .args(args)
            .args(["--blocked-threshold", "1000"])
            .args(["--listen", "tcp:0:interface=127.0.0.1"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", gyre.display()))?;
        let stderr = child.stderr.take().expect("piped");
        let unexpected = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let seen = unexpected.clone();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some((_, port)) = line.rsplit_once(" starting on ") {
                    let _ = tx.send(port.trim().to_owned());
                }
                if !EXPECTED.iter().any(|e| line.contains(e)) {
                    let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                    if seen.len() < 50 {
                        seen.push(line);
                    }
                }
            }
        });
        let port = rx
            .recv_timeout(START_LIMIT)
            .map_err(|_| format!("{name} did not say where it listens"))?;
        let port = port.parse().map_err(|_| format!("{name}: port {port:?}"))?;
        Ok(Server {
            name,
            child,
            port,
            unexpected,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn addr(&self) -> SocketAddr {
        (Ipv4Addr::LOCALHOST, self.port).into()
    }

    /// Descriptors open now.
    fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map_or(0, |d| d.count())
    }

    /// TCP connections (not listening sockets) it holds.
    fn connections(&self) -> usize {
        let inodes: Vec<u64> = std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .into_iter()
            .flatten()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter_map(|t| {
                let t = t.to_string_lossy().into_owned();
                t.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
            })
            .collect();
        let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
        table
            .lines()
            .skip(1)
            .filter(|row| {
                let f: Vec<&str> = row.split_whitespace().collect();
                f.get(3) != Some(&"0A")
                    && f.get(9)
                        .and_then(|i| i.parse::<u64>().ok())
                        .is_some_and(|i| inodes.contains(&i))
            })
            .count()
    }

    fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

/// One sample of a server: open descriptors, resident bytes, CPU seconds.
type Figures = (usize, u64, f64);

/// One service under soak: its server(s) and its client's counters.
struct Service {
    name: &'static str,
    kind: Kind,
    /// The server the clients connect to, and for the forwarder the echo
    /// behind it.
    servers: Vec<Server>,
    /// Connections its client holds open.
    conns: usize,
    /// What its client process reported last.
    client: Arc<Mutex<Report>>,
    /// Descriptors of each server before the soak.
    baseline: Vec<usize>,
    /// Samples: seconds into the run, and each server's figures.
    samples: Vec<(u64, Vec<Figures>)>,
    /// Descriptors of each server after the soak.
    end_fds: Vec<usize>,
}

/// What a client process reported: its counters (see [`Live::snapshot`]),
/// its problems, and whether it finished.
#[derive(Debug, Default, Clone)]
struct Report {
    counts: [u64; 7],
    problems: Vec<String>,
    done: Option<String>,
}

/// Runs as the client of one service: churns, printing `LIVE` and its
/// counters every half second, then `PROBLEM` lines and `DONE`.
fn client_main(args: &Args, kind: &str) -> ExitCode {
    procfs::raise_nofile_limit();
    let kind = match kind {
        "echo" => Kind::Echo,
        "chat" => Kind::Chat,
        other => {
            eprintln!("soak: unknown client kind {other:?}");
            return ExitCode::FAILURE;
        }
    };
    let Some(addr) = args.connect else {
        eprintln!("soak: --client needs --connect");
        return ExitCode::FAILURE;
    };
    let churn = Churn {
        kind,
        addr,
        conns: args.conns,
        duration: Duration::from_secs(args.duration),
        every: Duration::from_secs_f64(args.every.unwrap_or(5.0)),
        speak_every: Duration::from_millis(args.speak_every_ms),
        source: args.source,
    };
    let live = Arc::new(Live::default());
    let running = {
        let live = live.clone();
        thread::spawn(move || soak::run(&churn, &live))
    };
    let print = |live: &Live| {
        let counts = live.snapshot().map(|c| c.to_string());
        println!("LIVE {}", counts.join(" "));
        let _ = std::io::stdout().flush();
    };
    while !running.is_finished() {
        print(&live);
        thread::sleep(Duration::from_millis(500));
    }
    let outcome = running.join();
    print(&live);
    for problem in live
        .problems
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        println!("PROBLEM {}", problem.replace('\n', " "));
    }
    match outcome {
        Ok(Ok(())) => println!("DONE ok"),
        Ok(Err(e)) => println!("DONE error {e}"),
        Err(_) => println!("DONE error the client panicked"),
    }
    ExitCode::SUCCESS
}

/// Starts the client process of `service` and a thread that reads its
/// reports into `service.client`.
fn start_client(service: &Service, args: &Args, every: f64, source: u8) -> Result<Child, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let kind = match service.kind {
        Kind::Echo => "echo",
        Kind::Chat => "chat",
    };
    let mut child = Command::new(exe)
        .args(["--client", kind, "--connect"])
        .arg(service.servers[0].addr().to_string())
        .args(["--conns", &service.conns.to_string()])
        .args(["--duration", &args.duration.to_string()])
        .args(["--every", &every.to_string()])
        .args(["--speak-every-ms", &args.speak_every_ms.to_string()])
        .args(["--source", &source.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the {} client: {e}", service.name))?;
    let stdout = child.stdout.take().expect("piped");
    let report = service.client.clone();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let mut report = report.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(counts) = line.strip_prefix("LIVE ") {
                let values: Vec<u64> = counts
                    .split_whitespace()
                    .filter_map(|v| v.parse().ok())
                    .collect();
                if let Ok(counts) = values.try_into() {
                    report.counts = counts;
                }
            } else if let Some(problem) = line.strip_prefix("PROBLEM ") {
                report.problems.push(problem.to_owned());
            } else if let Some(done) = line.strip_prefix("DONE ") {
                report.done = Some(done.to_owned());
            }
        }
    });
    Ok(child)
}

impl Service {
    fn client_report(&self) -> Report {
        self.client
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn client_counts(&self) -> [u64; 7] {
        self.client_report().counts
    }
}

/// Waits until `done` holds, polling (there is no event for it), bounded.
fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    done()
}

/// One connection that comes and goes, to see the server work once; then
/// the servers' descriptors once they hold no connection.
fn probe(service: &Service) -> Result<Vec<usize>, String> {
    let mut stream = TcpStream::connect(service.servers[0].addr())
        .map_err(|e| format!("{}: probe connect: {e}", service.name))?;
    stream.set_read_timeout(Some(START_LIMIT)).unwrap();
    let mut buf = [0u8; 32];
    match service.kind {
        Kind::Echo => {
            stream.write_all(b"probe\n").map_err(|e| e.to_string())?;
            stream
                .read_exact(&mut buf[..6])
                .map_err(|e| e.to_string())?;
            if &buf[..6] != b"probe\n" {
                return Err(format!("{}: probe echoed {:?}", service.name, &buf[..6]));
            }
        }
        Kind::Chat => {
            stream
                .read_exact(&mut buf[..19])
                .map_err(|e| e.to_string())?;
            if &buf[..19] != b"What's your name?\r\n" {
                return Err(format!("{}: probe got {:?}", service.name, &buf[..19]));
            }
        }
    }
    drop(stream);
    for server in &service.servers {
        if !wait_until(SETTLE_LIMIT, || server.connections() == 0) {
            return Err(format!(
                "{}: the probe's connection stays open",
                server.name
            ));
        }
    }
    Ok(service.servers.iter().map(Server::fds).collect())
}

/// Raises the open-file limit as far as it goes (root may raise the hard
/// limit); returns the soft limit.
fn raise_nofile() -> u64 {
    use rustix::process::{Resource, Rlimit, setrlimit};
    let want = 1 << 18;
    let _ = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(want),
            maximum: Some(want),
        },
    );
    procfs::raise_nofile_limit()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(kind) = &args.client {
        return client_main(&args, kind);
    }
    match soak_all(&args) {
        Ok(report) => {
            println!("{report}");
            println!("soak: PASSED");
            ExitCode::SUCCESS
        }
        Err(failure) => {
            eprintln!("soak: FAILED\n{failure}");
            ExitCode::FAILURE
        }
    }
}

fn soak_all(args: &Args) -> Result<String, String> {
    let nofile = raise_nofile();
    // Every process (client or server) has its own descriptor limit: a
    // client or a server holds one per connection (plus some), the
    // forwarder two.
    let spare = 200;
    if (nofile as usize) < args.conns + spare {
        return Err(format!(
            "the open-file limit is {nofile}; {} connections need {} (raise it: ulimit -n)",
            args.conns,
            args.conns + spare
        ));
    }
    // The forwarder also holds, for a moment, connections its client has
    // already replaced (accepted, or waiting for their upstream connect):
    // at a thousand replacements a second, 9,900 of 20,000 ran out, and on
    // a machine busy with other work (its closes running late) so did
    // 9,000 of 20,000 once; 7,500 leaves 5,000 for that.
    let forward_conns = args.conns.min((nofile as usize).saturating_sub(5000) / 2);
    let duration = Duration::from_secs(args.duration);
    let sample = args.sample.unwrap_or(if args.duration >= 600 {
        60
    } else {
        (args.duration / 6).max(1)
    });
    let every = args
        .every
        .unwrap_or(if args.duration >= 600 { 5.0 } else { 1.0 });
    let gyre = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .with_file_name("gyre");
    if !gyre.exists() {
        return Err(format!(
            "{} is missing: cargo build --release -p gyre-cli",
            gyre.display()
        ));
    }

    let echo = Server::start(&gyre, "echo", &["echo"])?;
    let chat = Server::start(&gyre, "chat", &["chat"])?;
    let upstream = Server::start(&gyre, "upstream echo", &["echo"])?;
    let upstream_at = format!("tcp:127.0.0.1:{}", upstream.port);
    // The forwarder's default cap (256 connections) is lifted well past
    // what the soak keeps open: a connection the client has just closed is
    // still counted until the server has seen the close, so a cap of
    // exactly `forward_conns` would refuse some replacements.
    let cap = (forward_conns * 2).to_string();
    let forwarder = Server::start(
        &gyre,
        "portforward",
        &[
            "portforward",
            "--connect",
            &upstream_at,
            "--max-connections",
            &cap,
        ],
    )?;
    let mut services = vec![
        (echo.name, Kind::Echo, vec![echo]),
        (chat.name, Kind::Chat, vec![chat]),
        (forwarder.name, Kind::Echo, vec![forwarder, upstream]),
    ]
    .into_iter()
    .map(|(name, kind, servers)| Service {
        name,
        kind,
        conns: if name == "portforward" {
            forward_conns
        } else {
            args.conns
        },
        servers,
        client: Arc::default(),
        baseline: Vec::new(),
        samples: Vec::new(),
        end_fds: Vec::new(),
    })
    .collect::<Vec<_>>();
    for service in &mut services {
        service.baseline = probe(service)?;
    }
    println!(
        "soak: {} connections churning against each of echo and chat and {forward_conns} against \
         portforward (all at once) for {}s, a message every {every}s, sampled every {sample}s; \
         open-file limit {nofile} per process",
        args.conns, args.duration
    );

    let cpu_start: Vec<Vec<f64>> = services
        .iter()
        .map(|s| {
            s.servers
                .iter()
                .map(|srv| procfs::cpu_seconds(srv.pid()).unwrap_or(0.0))
                .collect()
        })
        .collect();
    let start = Instant::now();
    let mut clients = Vec::new();
    for (i, service) in services.iter().enumerate() {
        clients.push(start_client(service, args, every, (i as u8) * 64)?);
    }

    // Sample until the clients are done.
    let mut next = start + Duration::from_secs(sample);
    let give_up = start + duration + soak::DRAIN + Duration::from_secs(30);
    while clients.iter_mut().any(|c| matches!(c.try_wait(), Ok(None))) {
        if Instant::now() > give_up {
            for client in &mut clients {
                let _ = client.kill();
            }
            return Err("the clients did not finish in time".into());
        }
        thread::sleep(
            next.saturating_duration_since(Instant::now())
                .min(Duration::from_millis(200)),
        );
        if Instant::now() < next || start.elapsed() > duration + Duration::from_secs(1) {
            continue;
        }
        next += Duration::from_secs(sample);
        let t = start.elapsed().as_secs();
        for service in &mut services {
            let figures: Vec<Figures> = service
                .servers
                .iter()
                .map(|s| {
                    (
                        s.fds(),
                        procfs::rss_bytes(s.pid()).unwrap_or(0),
                        procfs::cpu_seconds(s.pid()).unwrap_or(-1.0),
                    )
                })
                .collect();
            let [opened, closed, open, ops, bytes, bad, failed] = service.client_counts();
            let mut line = format!("t={t:>5}s {:<11}", service.name);
            for (server, (fds, rss, cpu)) in service.servers.iter().zip(&figures) {
                let _ = write!(
                    line,
                    " | {} fds={fds} rss={:.1}MiB cpu={cpu:.1}s",
                    server.name,
                    mib(*rss)
                );
            }
            let _ = write!(
                line,
                " | client open={open} opened={opened} closed={closed} ops={ops} bytes={bytes} bad={bad} failed={failed}"
            );
            println!("{line}");
            let _ = std::io::stdout().flush();
            service.samples.push((t, figures));
        }
    }
    for mut client in clients {
        let _ = client.wait();
    }
    let elapsed = start.elapsed();
    // The readers have the last lines once the pipes closed.
    for service in &services {
        if !wait_until(SETTLE_LIMIT, || service.client_report().done.is_some()) {
            return Err(format!(
                "the {} client ended without its report",
                service.name
            ));
        }
    }

    // Every client connection is closed: the servers must get back to
    // their descriptors of before.
    for service in &mut services {
        for (server, &before) in service.servers.iter().zip(&service.baseline) {
            wait_until(SETTLE_LIMIT, || server.fds() <= before);
        }
        service.end_fds = service.servers.iter().map(Server::fds).collect();
    }

    let mut problems = Vec::new();
    let mut table = String::new();
    let _ = writeln!(
        table,
        "| service | server | connections opened | checked ops | checked MiB | fds before / peak / after | RSS first / peak / last (MiB) | CPU (s, % of one core) |"
    );
    let _ = writeln!(table, "|---|---|---:|---:|---:|---|---|---|");
    for (si, service) in services.iter_mut().enumerate() {
        let report = service.client_report();
        let [opened, _closed, _open, ops, bytes, bad, failed] = report.counts;
        if bad > 0 || failed > 0 || report.done.as_deref() != Some("ok") {
            problems.push(format!(
                "{}: {bad} bad bytes or lines, {failed} failed connections, client {:?}; first problems: {:#?}",
                service.name, report.done, report.problems
            ));
        }
        for (i, server) in service.servers.iter_mut().enumerate() {
            let before = service.baseline[i];
            let after = service.end_fds[i];
            if after > before {
                problems.push(format!(
                    "{}: descriptor leak: {after} open {}s after the clients closed, {before} before the soak",
                    server.name,
                    SETTLE_LIMIT.as_secs()
                ));
            }
            if server.exited() {
                problems.push(format!("{}: exited during the soak", server.name));
            }
            let unexpected = server.unexpected.lock().unwrap_or_else(|e| e.into_inner());
            if !unexpected.is_empty() {
                problems.push(format!("{} logged: {unexpected:#?}", server.name));
            }
            let rss: Vec<u64> = service.samples.iter().map(|(_, f)| f[i].1).collect();
            let fds: Vec<usize> = service.samples.iter().map(|(_, f)| f[i].0).collect();
            let first = rss.first().copied().unwrap_or(0);
            let peak = rss.iter().copied().max().unwrap_or(0);
            let last = rss.last().copied().unwrap_or(0);
            let bound = first as f64 * (1.0 + args.rss_growth_percent / 100.0)
                + args.rss_growth_mib * 1024.0 * 1024.0;
            if rss.len() > 1 && rss[1..].iter().any(|&r| r as f64 > bound) {
                problems.push(format!(
                    "{}: resident memory grew from {:.1} MiB to a peak of {:.1} MiB, past the bound of {:.1} MiB",
                    server.name,
                    mib(first),
                    mib(peak),
                    bound / (1024.0 * 1024.0)
                ));
            }
            let cpu = procfs::cpu_seconds(server.pid()).unwrap_or(0.0) - cpu_start[si][i];
            let _ = writeln!(
                table,
                "| {} | {} | {} | {} | {:.1} | {before} / {} / {after} | {:.1} / {:.1} / {:.1} | {cpu:.1} ({:.1} %) |",
                service.name,
                server.name,
                if i == 0 {
                    opened.to_string()
                } else {
                    "".into()
                },
                if i == 0 { ops.to_string() } else { "".into() },
                if i == 0 { mib(bytes) } else { 0.0 },
                fds.iter().copied().max().unwrap_or(0),
                mib(first),
                mib(peak),
                mib(last),
                cpu * 100.0 / elapsed.as_secs_f64(),
            );
        }
    }
    let mut report = format!(
        "soak: {} connections against echo and chat, {forward_conns} against portforward, \
         {}s (ran {:.0}s), samples every {sample}s\n\n{table}",
        args.conns,
        args.duration,
        elapsed.as_secs_f64()
    );
    let _ = writeln!(report, "\nSamples (t, per server fds/RSS MiB/CPU s):");
    for service in &services {
        for (t, figures) in &service.samples {
            let cells: Vec<String> = figures
                .iter()
                .map(|(fds, rss, cpu)| format!("{fds}/{:.1}/{cpu:.1}", mib(*rss)))
                .collect();
            let _ = writeln!(
                report,
                "  {:<11} t={t:>5}s {}",
                service.name,
                cells.join("  ")
            );
        }
    }
    if let Some(path) = &args.report {
        std::fs::write(path, &report).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if problems.is_empty() {
        Ok(report)
    } else {
        Err(format!("{report}\n{}", problems.join("\n")))
    }
}
