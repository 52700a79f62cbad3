//! Processes side by side: gyre's `spawn_process` against tokio's
//! `process::Command`, and `gyre exec -- cat` against
//! `socat TCP-LISTEN:…,fork EXEC:cat`.
//!
//! ```text
//! cargo run --release -p gyre-bench --bin bench-process -- [--quick] [--rounds N]
//! ```
//!
//! * `spawn`: `/bin/true` started and waited for (its exit seen and its
//!   pipes closed) N times, one at a time and 16 at a time, on gyre's
//!   reactor and on tokio's current-thread runtime; spawns per second and
//!   this process's CPU per spawn (the children's own CPU is the same
//!   program either way and is not counted).
//! * `exec-bulk`: one connection pushing 256 MiB through `cat` and reading
//!   it back at once; MiB/s and the server's CPU per MiB, children (the
//!   `cat`, and socat's forked child) included.
//! * `exec-connections`: 400 connections, 16 at a time, each sending 1 KiB
//!   through its own `cat` and reading it back; connections per second
//!   and server CPU per connection, children included.
//!
//! Rounds alternate the two sides; figures are medians with their ranges,
//! and the ratios are gyre's ÷ the peer's. Exits non-zero when a byte
//! came back wrong or a process failed; the figures never fail it.

use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use clap::Parser;
use gyre::Reactor;
use gyre::process::{Env, ExitReason, ProcessProtocol};

#[derive(Debug, Parser)]
struct Args {
    /// Tiny sizes, one round: proves the benchmark runs.
    #[arg(long)]
    quick: bool,
    /// Rounds per scenario (each side once per round).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
}

/// One measurement: operations, seconds, CPU seconds.
#[derive(Debug, Clone, Copy)]
struct Run {
    ops: f64,
    secs: f64,
    cpu: f64,
}

impl Run {
    fn rate(&self) -> f64 {
        self.ops / self.secs
    }
    fn cpu_per_op_us(&self) -> f64 {
        self.cpu / self.ops * 1e6
    }
}

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

/// CPU seconds of `/proc/<pid>/stat`: utime + stime, plus the reaped
/// children's when `children`.
fn cpu_seconds(pid: u32, children: bool) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let get = |i: usize| f.get(i).copied().unwrap_or(0);
    let mut ticks = get(11) + get(12);
    if children {
        ticks += get(13) + get(14);
    }
    ticks as f64 / gyre_bench::procfs::clock_ticks_per_second() as f64
}

// ---------------------------------------------------------------- spawn

struct Waited {
    reactor: Reactor,
    left: Rc<Cell<usize>>,
    to_start: Rc<Cell<usize>>,
    failed: Rc<Cell<usize>>,
}

impl ProcessProtocol for Waited {
    fn process_ended(&mut self, reason: ExitReason) {
        if !reason.is_clean() {
            self.failed.set(self.failed.get() + 1);
        }
        self.left.set(self.left.get() - 1);
        if self.to_start.get() > 0 {
            start_one(&self.reactor, &self.left, &self.to_start, &self.failed);
        } else if self.left.get() == 0 {
            let _ = self.reactor.stop();
        }
    }
}

fn start_one(
    reactor: &Reactor,
    left: &Rc<Cell<usize>>,
    to_start: &Rc<Cell<usize>>,
    failed: &Rc<Cell<usize>>,
) {
    to_start.set(to_start.get() - 1);
    let p = Waited {
        reactor: reactor.clone(),
        left: left.clone(),
        to_start: to_start.clone(),
        failed: failed.clone(),
    };
    if reactor
        .spawn_process(p, "/bin/true", ["true"], Env::Inherit, None)
        .is_err()
    {
        failed.set(failed.get() + 1);
        left.set(left.get() - 1);
    }
}

fn gyre_spawn(n: usize, in_flight: usize) -> Result<Run, String> {
    let reactor = Reactor::new().map_err(|e| e.to_string())?;
    let left = Rc::new(Cell::new(n));
    let to_start = Rc::new(Cell::new(n));
    let failed = Rc::new(Cell::new(0));
    let (l, t, f, r) = (
        left.clone(),
        to_start.clone(),
        failed.clone(),
        reactor.clone(),
    );
    reactor.call_when_running(move || {
        for _ in 0..in_flight.min(n) {
            start_one(&r, &l, &t, &f);
        }
    });
    let me = std::process::id();
    let (cpu0, t0) = (cpu_seconds(me, false), Instant::now());
    reactor.run_without_signals().map_err(|e| e.to_string())?;
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds(me, false) - cpu0;
    if failed.get() > 0 {
        return Err(format!("{} of {n} gyre spawns failed", failed.get()));
    }
    Ok(Run {
        ops: n as f64,
        secs,
        cpu,
    })
}

fn tokio_spawn(n: usize, in_flight: usize) -> Result<Run, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let me = std::process::id();
    let (cpu0, t0) = (cpu_seconds(me, false), Instant::now());
    let failed = rt.block_on(async move {
        let mut failed = 0;
        let mut started = 0;
        let mut set = tokio::task::JoinSet::new();
        let one = || async {
            let mut child = tokio::process::Command::new("/bin/true")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()?;
            // As gyre's protocol does: stdout and stderr read to their end.
            let mut out = child.stdout.take().expect("piped");
            let mut err = child.stderr.take().expect("piped");
            let (mut a, mut b) = (Vec::new(), Vec::new());
            use tokio::io::AsyncReadExt;
            let _ = tokio::join!(out.read_to_end(&mut a), err.read_to_end(&mut b));
            child.wait().await
        };
        while started < in_flight.min(n) {
            set.spawn(one());
            started += 1;
        }
        while let Some(done) = set.join_next().await {
            match done {
                Ok(Ok(status)) if status.success() => {}
                _ => failed += 1,
            }
            if started < n {
                set.spawn(one());
                started += 1;
            }
        }
        failed
    });
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds(me, false) - cpu0;
    if failed > 0 {
        return Err(format!("{failed} of {n} tokio spawns failed"));
    }
    Ok(Run {
        ops: n as f64,
        secs,
        cpu,
    })
}

// ---------------------------------------------------------------- exec

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_or(0, |a| a.port())
}

fn wait_listening(addr: SocketAddr) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("nothing listens on {addr}"))
}

fn start_server(kind: &str, gyre: &PathBuf) -> Result<Server, String> {
    let port = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut cmd = match kind {
        "gyre" => {
            let mut c = Command::new(gyre);
            c.args(["--log-level", "warn", "exec", "--listen"])
                .arg(format!("tcp:{port}:interface=127.0.0.1"))
                .args(["--", "cat"]);
            c
        }
        _ => {
            let mut c = Command::new("socat");
            c.arg(format!(
                "TCP-LISTEN:{port},fork,reuseaddr,bind=127.0.0.1,backlog=1024"
            ))
            .arg("EXEC:cat");
            c
        }
    };
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {kind}: {e}"))?;
    let server = Server { child, addr };
    // A probe connection (its cat ends at once).
    wait_listening(addr)?;
    wait_no_children(server.child.id());
    Ok(server)
}

/// Waits until `pid` has no child process (so its children's CPU has been
/// added to its own `cutime`/`cstime`).
fn wait_no_children(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let any = std::fs::read_dir(format!("/proc/{pid}/task"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|t| {
                std::fs::read_to_string(t.path().join("children"))
                    .is_ok_and(|c| !c.trim().is_empty())
            });
        if !any {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Pushes `total` bytes through the server on one connection and reads
/// them back; checks every byte.
fn bulk(server: &Server, total: usize) -> Result<Run, String> {
    let pid = server.child.id();
    let cpu0 = cpu_seconds(pid, true);
    let t0 = Instant::now();
    let mut s = TcpStream::connect(server.addr).map_err(|e| e.to_string())?;
    let mut w = s.try_clone().map_err(|e| e.to_string())?;
    let chunk: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        let mut sent = 0;
        while sent < total {
            let n = chunk.len().min(total - sent);
            w.write_all(&chunk[..n])?;
            sent += n;
        }
        w.shutdown(Shutdown::Write)
    });
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0usize;
    let mut bad = false;
    loop {
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        for (k, &b) in buf[..n].iter().enumerate() {
            if b != ((got + k) % (1024 * 1024) % 251) as u8 {
                bad = true;
            }
        }
        got += n;
    }
    writer
        .join()
        .map_err(|_| "writer panicked".to_string())?
        .map_err(|e| e.to_string())?;
    let secs = t0.elapsed().as_secs_f64();
    wait_no_children(pid);
    let cpu = cpu_seconds(pid, true) - cpu0;
    if bad || got != total {
        return Err(format!("{got} of {total} bytes back, changed: {bad}"));
    }
    Ok(Run {
        ops: total as f64 / (1024.0 * 1024.0),
        secs,
        cpu,
    })
}

/// `n` connections, 16 at a time, each 1 KiB through its own cat.
fn connections(server: &Server, n: usize) -> Result<Run, String> {
    let pid = server.child.id();
    let addr = server.addr;
    let cpu0 = cpu_seconds(pid, true);
    let t0 = Instant::now();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let next = next.clone();
            std::thread::spawn(move || -> Result<(), String> {
                let msg = vec![b'x'; 1024];
                while next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < n {
                    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
                    s.write_all(&msg).map_err(|e| e.to_string())?;
                    s.shutdown(Shutdown::Write).map_err(|e| e.to_string())?;
                    let mut back = Vec::new();
                    s.read_to_end(&mut back).map_err(|e| e.to_string())?;
                    if back != msg {
                        return Err(format!("{} bytes back of 1024", back.len()));
                    }
                }
                Ok(())
            })
        })
        .collect();
    for w in workers {
        w.join().map_err(|_| "client panicked".to_string())??;
    }
    let secs = t0.elapsed().as_secs_f64();
    wait_no_children(pid);
    let cpu = cpu_seconds(pid, true) - cpu0;
    Ok(Run {
        ops: n as f64,
        secs,
        cpu,
    })
}

// ---------------------------------------------------------------- report

fn report(title: &str, unit: &str, rate_unit: &str, gyre: &[Run], peer_name: &str, peer: &[Run]) {
    println!("\n### {title}\n");
    println!("| side | {rate_unit} median [min–max] | CPU µs/{unit} median [min–max] |");
    println!("|---|---|---|");
    for (name, runs) in [("gyre", gyre), (peer_name, peer)] {
        let (r, rl, rh) = median(runs.iter().map(Run::rate).collect());
        let (c, cl, ch) = median(runs.iter().map(Run::cpu_per_op_us).collect());
        println!("| {name} | {r:.0} [{rl:.0}–{rh:.0}] | {c:.1} [{cl:.1}–{ch:.1}] |");
    }
    let g_rate = median(gyre.iter().map(Run::rate).collect()).0;
    let p_rate = median(peer.iter().map(Run::rate).collect()).0;
    let g_cpu = median(gyre.iter().map(Run::cpu_per_op_us).collect()).0;
    let p_cpu = median(peer.iter().map(Run::cpu_per_op_us).collect()).0;
    // A run shorter than a clock tick (--quick) measures no CPU.
    let cpu_ratio = if g_cpu > 0.0 && p_cpu > 0.0 {
        format!("{:.2}×", g_cpu / p_cpu)
    } else {
        "- (too short to measure)".to_string()
    };
    println!(
        "\ngyre ÷ {peer_name}: {rate_unit} {:.2}×, CPU per {unit} {cpu_ratio}",
        g_rate / p_rate
    );
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rounds = if args.quick { 1 } else { args.rounds.max(1) };
    let (spawns, bulk_bytes, conns) = if args.quick {
        (50, 8 << 20, 40)
    } else {
        (2000, 256 << 20, 400)
    };
    let gyre_bin = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("gyre")))
        .expect("the gyre binary beside this one");
    let mut failed = false;
    let mut fail = |what: &str, e: String| {
        eprintln!("bench-process: {what}: {e}");
        failed = true;
    };

    for in_flight in [1, 16] {
        let (mut g, mut t) = (Vec::new(), Vec::new());
        for round in 1..=rounds {
            match gyre_spawn(spawns, in_flight) {
                Ok(r) => g.push(r),
                Err(e) => fail("gyre spawn", e),
            }
            match tokio_spawn(spawns, in_flight) {
                Ok(r) => t.push(r),
                Err(e) => fail("tokio spawn", e),
            }
            eprintln!("round {round} spawn x{in_flight} done");
        }
        if !g.is_empty() && !t.is_empty() {
            report(
                &format!("spawn: {spawns} × /bin/true, {in_flight} at a time, waited for"),
                "spawn",
                "spawns/s",
                &g,
                "tokio",
                &t,
            );
        }
    }

    let (mut gb, mut sb, mut gc, mut sc) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        for kind in ["gyre", "socat"] {
            let server = match start_server(kind, &gyre_bin) {
                Ok(s) => s,
                Err(e) => {
                    fail(kind, e);
                    continue;
                }
            };
            let (b, c) = if kind == "gyre" {
                (&mut gb, &mut gc)
            } else {
                (&mut sb, &mut sc)
            };
            match bulk(&server, bulk_bytes) {
                Ok(r) => b.push(r),
                Err(e) => fail(&format!("{kind} bulk"), e),
            }
            match connections(&server, conns) {
                Ok(r) => c.push(r),
                Err(e) => fail(&format!("{kind} connections"), e),
            }
        }
        eprintln!("round {round} exec done");
    }
    if !gb.is_empty() && !sb.is_empty() {
        report(
            &format!(
                "exec-bulk: {} MiB through cat on one connection",
                bulk_bytes >> 20
            ),
            "MiB",
            "MiB/s",
            &gb,
            "socat",
            &sb,
        );
    }
    if !gc.is_empty() && !sc.is_empty() {
        report(
            &format!(
                "exec-connections: {conns} connections, 16 at a time, 1 KiB each through its own cat"
            ),
            "connection",
            "connections/s",
            &gc,
            "socat",
            &sc,
        );
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
