//! UNIX-socket and UDP echo, side by side: gyre against a bare mio loop
//! and tokio (current-thread), each server on its own thread of this
//! process and the client on another, in one run.
//!
//! `bench-local [--messages N] [--rounds R] [--scenarios unix-1,unix-50,udp,udp-1]`
//!
//! * `unix-1`: one UNIX stream connection, 64-byte ping-pong;
//! * `unix-50`: 50 connections, each round a 64-byte message on every one
//!   and then every answer (50 in flight);
//! * `udp`: 64-byte datagrams to a UDP echo port, 32 in flight;
//! * `udp-1`: the same, one in flight (a lone datagram's round trip: what
//!   send batching, flushed at the end of the turn, may not slow down).
//!
//! Over UDP gyre runs twice: with send batching (`sendmmsg` at the end of
//! each turn, the default) and without (`gyre-1`, one `sendto` a write).
//!
//! Reported per server: messages per second (client wall clock), and the
//! server thread's CPU time per message (`CLOCK_THREAD_CPUTIME_ID`, read on
//! the server thread itself), median of the rounds; then gyre's CPU per
//! message as a ratio to each peer's (below 1: gyre spends less).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;

const SIZE: usize = 64;
const UDP_WINDOW: usize = 32;

/// Side-by-side UNIX-socket and UDP echo benchmarks.
#[derive(Debug, Parser)]
struct Args {
    /// Messages (or datagrams) per run.
    #[arg(long, default_value_t = 100_000)]
    messages: usize,
    /// Runs per server and scenario (the median is reported).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Scenarios, comma-separated: unix-1, unix-50, udp, udp-1.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "unix-1,unix-50,udp,udp-1"
    )]
    scenarios: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    Gyre,
    /// gyre with UDP send batching (`sendmmsg`) off: one `sendto` a write.
    GyreUnbatched,
    Mio,
    Tokio,
}

impl Server {
    fn name(self) -> &'static str {
        match self {
            Server::Gyre => "gyre",
            Server::GyreUnbatched => "gyre-1",
            Server::Mio => "mio",
            Server::Tokio => "tokio",
        }
    }
}

/// Where a server listens.
#[derive(Debug, Clone)]
enum Place {
    Unix(PathBuf),
    Udp(SocketAddr),
}

fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// A running server thread: tells where it listens, stops on request and
/// reports the CPU time it used while serving.
struct Running {
    place: Place,
    stop: Box<dyn FnOnce() + Send>,
    cpu: mpsc::Receiver<Duration>,
    thread: thread::JoinHandle<()>,
}

impl Running {
    fn finish(self) -> Duration {
        (self.stop)();
        let cpu = self.cpu.recv().expect("the server reports its CPU time");
        self.thread.join().expect("server thread");
        cpu
    }
}

fn start(server: Server, udp: bool, dir: &Path) -> Running {
    let path = dir.join(format!("{}.sock", server.name()));
    let _ = std::fs::remove_file(&path);
    let (placed, place_rx) = mpsc::channel::<(Place, Box<dyn FnOnce() + Send>)>();
    let (cpu_tx, cpu) = mpsc::channel();
    let thread = thread::spawn(move || match (server, udp) {
        (Server::Gyre, false) => gyre_unix(path, placed, cpu_tx),
        (Server::Gyre, true) => gyre_udp(true, placed, cpu_tx),
        (Server::GyreUnbatched, true) => gyre_udp(false, placed, cpu_tx),
        (Server::GyreUnbatched, false) => gyre_unix(path, placed, cpu_tx),
        (Server::Mio, false) => mio_unix(path, placed, cpu_tx),
        (Server::Mio, true) => mio_udp(placed, cpu_tx),
        (Server::Tokio, false) => tokio_server(Some(path), placed, cpu_tx),
        (Server::Tokio, true) => tokio_server(None, placed, cpu_tx),
    });
    let (place, stop) = place_rx.recv().expect("the server starts");
    Running {
        place,
        stop,
        cpu,
        thread,
    }
}

type Placed = mpsc::Sender<(Place, Box<dyn FnOnce() + Send>)>;

// ----- gyre -----

struct Echo;
impl gyre::Protocol for Echo {
    fn data_received(&mut self, t: &gyre::Transport, data: &[u8]) {
        t.write(data);
    }
}

struct DgramEcho;
impl gyre::udp::DatagramProtocol for DgramEcho {
    fn datagram_received(
        &mut self,
        t: &gyre::udp::DatagramTransport,
        data: &[u8],
        from: &gyre::Address,
    ) {
        let _ = t.write_to(data, from);
    }
    fn noisy(&self) -> bool {
        false
    }
}

fn gyre_run(reactor: gyre::Reactor, place: Place, placed: Placed, cpu: mpsc::Sender<Duration>) {
    let handle = reactor.thread_handle();
    placed
        .send((
            place,
            Box::new(move || {
                handle.stop();
            }),
        ))
        .unwrap();
    let before = thread_cpu();
    reactor.run_without_signals().expect("gyre runs");
    let _ = cpu.send(thread_cpu() - before);
}

fn gyre_unix(path: PathBuf, placed: Placed, cpu: mpsc::Sender<Duration>) {
    let reactor = gyre::Reactor::new().unwrap();
    reactor
        .listen_unix(&path, gyre::for_protocol(|| Echo))
        .unwrap();
    gyre_run(reactor, Place::Unix(path), placed, cpu);
}

fn gyre_udp(send_batching: bool, placed: Placed, cpu: mpsc::Sender<Duration>) {
    let reactor = gyre::Reactor::new().unwrap();
    let options = gyre::udp::UdpListenOptions {
        interface: "127.0.0.1".into(),
        send_batching,
        ..Default::default()
    };
    let port = reactor.listen_udp_with(0, DgramEcho, options).unwrap();
    gyre_run(reactor, Place::Udp(port.address()), placed, cpu);
}

// ----- a bare mio loop -----

fn mio_loop(
    poll: &mut mio::Poll,
    stop: &std::sync::atomic::AtomicBool,
    mut on: impl FnMut(&mio::Poll, mio::Token),
) {
    let mut events = mio::Events::with_capacity(1024);
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        poll.poll(&mut events, Some(Duration::from_millis(20)))
            .expect("poll");
        for ev in events.iter() {
            on(poll, ev.token());
        }
    }
}

fn stopper() -> (
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    Box<dyn FnOnce() + Send>,
) {
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let f = flag.clone();
    (
        flag,
        Box::new(move || f.store(true, std::sync::atomic::Ordering::Relaxed)),
    )
}

fn mio_unix(path: PathBuf, placed: Placed, cpu: mpsc::Sender<Duration>) {
    use mio::net::UnixListener;
    let mut poll = mio::Poll::new().unwrap();
    let mut listener = UnixListener::bind(&path).unwrap();
    poll.registry()
        .register(
            &mut listener,
            mio::Token(usize::MAX),
            mio::Interest::READABLE,
        )
        .unwrap();
    let (flag, stop) = stopper();
    placed.send((Place::Unix(path), stop)).unwrap();
    let before = thread_cpu();
    let mut conns: Vec<Option<mio::net::UnixStream>> = Vec::new();
    let mut buf = vec![0u8; 65536];
    mio_loop(&mut poll, &flag, |poll, token| {
        if token.0 == usize::MAX {
            while let Ok((mut s, _)) = listener.accept() {
                let t = mio::Token(conns.len());
                poll.registry()
                    .register(&mut s, t, mio::Interest::READABLE)
                    .unwrap();
                conns.push(Some(s));
            }
            return;
        }
        let Some(Some(s)) = conns.get_mut(token.0) else {
            return;
        };
        loop {
            match s.read(&mut buf) {
                Ok(0) => {
                    conns[token.0] = None;
                    return;
                }
                // 64-byte answers always fit the socket buffer here.
                Ok(n) => {
                    let _ = s.write_all(&buf[..n]);
                }
                Err(_) => return,
            }
        }
    });
    let _ = cpu.send(thread_cpu() - before);
}

fn mio_udp(placed: Placed, cpu: mpsc::Sender<Duration>) {
    let mut poll = mio::Poll::new().unwrap();
    let mut socket = mio::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0).into()).unwrap();
    poll.registry()
        .register(&mut socket, mio::Token(0), mio::Interest::READABLE)
        .unwrap();
    let (flag, stop) = stopper();
    placed
        .send((Place::Udp(socket.local_addr().unwrap()), stop))
        .unwrap();
    let before = thread_cpu();
    let mut buf = vec![0u8; 8192];
    mio_loop(&mut poll, &flag, |_, _| {
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let _ = socket.send_to(&buf[..n], from);
        }
    });
    let _ = cpu.send(thread_cpu() - before);
}

// ----- tokio, current-thread -----

fn tokio_server(path: Option<PathBuf>, placed: Placed, cpu: mpsc::Sender<Duration>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let stop: Box<dyn FnOnce() + Send> = Box::new(move || {
        let _ = tx.send(());
    });
    let before = thread_cpu();
    rt.block_on(async move {
        match path {
            Some(path) => {
                let listener = tokio::net::UnixListener::bind(&path).unwrap();
                placed.send((Place::Unix(path), stop)).unwrap();
                let serve = async {
                    loop {
                        let (mut s, _) = listener.accept().await.unwrap();
                        tokio::spawn(async move {
                            let mut buf = vec![0u8; 16384];
                            loop {
                                match s.read(&mut buf).await {
                                    Ok(0) | Err(_) => return,
                                    Ok(n) => {
                                        if s.write_all(&buf[..n]).await.is_err() {
                                            return;
                                        }
                                    }
                                }
                            }
                        });
                    }
                };
                tokio::select! { _ = serve => {}, _ = rx => {} }
            }
            None => {
                let socket = tokio::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
                    .await
                    .unwrap();
                placed
                    .send((Place::Udp(socket.local_addr().unwrap()), stop))
                    .unwrap();
                let serve = async {
                    let mut buf = vec![0u8; 8192];
                    loop {
                        let (n, from) = socket.recv_from(&mut buf).await.unwrap();
                        let _ = socket.send_to(&buf[..n], from).await;
                    }
                };
                tokio::select! { _ = serve => {}, _ = rx => {} }
            }
        }
    });
    let _ = cpu.send(thread_cpu() - before);
}

// ----- clients -----

/// Runs a scenario's client; returns the messages sent and the time taken.
fn client(scenario: &str, place: &Place, messages: usize) -> (usize, Duration) {
    let msg = [b'x'; SIZE];
    let mut back = [0u8; SIZE];
    match (scenario, place) {
        ("unix-1", Place::Unix(path)) => {
            let mut s = UnixStream::connect(path).unwrap();
            let start = Instant::now();
            for _ in 0..messages {
                s.write_all(&msg).unwrap();
                s.read_exact(&mut back).unwrap();
            }
            (messages, start.elapsed())
        }
        ("unix-50", Place::Unix(path)) => {
            let mut conns: Vec<UnixStream> = (0..50)
                .map(|_| UnixStream::connect(path).unwrap())
                .collect();
            let rounds = messages / 50;
            let start = Instant::now();
            for _ in 0..rounds {
                for s in &mut conns {
                    s.write_all(&msg).unwrap();
                }
                for s in &mut conns {
                    s.read_exact(&mut back).unwrap();
                }
            }
            (rounds * 50, start.elapsed())
        }
        ("udp" | "udp-1", Place::Udp(addr)) => {
            let window = if scenario == "udp-1" { 1 } else { UDP_WINDOW };
            let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            s.connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let start = Instant::now();
            let mut sent = 0;
            let mut received = 0;
            for _ in 0..window.min(messages) {
                s.send(&msg).unwrap();
                sent += 1;
            }
            while received < sent {
                match s.recv(&mut back) {
                    Ok(_) => {
                        received += 1;
                        if sent < messages {
                            s.send(&msg).unwrap();
                            sent += 1;
                        }
                    }
                    // A lost datagram: send another in its place.
                    Err(_) if sent < messages => {
                        s.send(&msg).unwrap();
                        sent += 1;
                    }
                    Err(_) => break,
                }
            }
            (received, start.elapsed())
        }
        _ => panic!("unknown scenario {scenario}"),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let args = Args::parse();
    let dir = std::env::temp_dir().join(format!("gyre-bench-local-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    println!(
        "{:<8} {:<6} {:>14} {:>16}",
        "scenario", "server", "messages/s", "server CPU/msg"
    );
    for scenario in &args.scenarios {
        let udp = scenario.starts_with("udp");
        // Over UDP, gyre also without send batching (gyre-1).
        let servers: &[Server] = if udp {
            &[
                Server::Gyre,
                Server::Mio,
                Server::Tokio,
                Server::GyreUnbatched,
            ]
        } else {
            &[Server::Gyre, Server::Mio, Server::Tokio]
        };
        let mut cpu_per_msg = Vec::new();
        let mut rate_per_server = Vec::new();
        for &server in servers {
            let mut rates = Vec::new();
            let mut cpus = Vec::new();
            // Rounds alternate with the other servers' in spirit: each
            // round starts a fresh server.
            for _ in 0..args.rounds {
                let running = start(server, udp, &dir);
                let (n, took) = client(scenario, &running.place, args.messages);
                let cpu = running.finish();
                rates.push(n as f64 / took.as_secs_f64());
                cpus.push(cpu.as_secs_f64() * 1e9 / n as f64);
            }
            let (rate, cpu) = (median(rates), median(cpus));
            println!(
                "{:<8} {:<6} {:>14.0} {:>13.0} ns",
                scenario,
                server.name(),
                rate,
                cpu
            );
            cpu_per_msg.push(cpu);
            rate_per_server.push(rate);
        }
        println!(
            "{:<8} gyre CPU/msg: {:.2}x mio, {:.2}x tokio",
            scenario,
            cpu_per_msg[0] / cpu_per_msg[1],
            cpu_per_msg[0] / cpu_per_msg[2]
        );
        if udp {
            println!(
                "{:<8} gyre-1 (no sendmmsg) CPU/msg: {:.2}x mio, {:.2}x tokio; \
                 gyre/gyre-1: CPU/msg {:.2}x, messages/s {:.2}x",
                scenario,
                cpu_per_msg[3] / cpu_per_msg[1],
                cpu_per_msg[3] / cpu_per_msg[2],
                cpu_per_msg[0] / cpu_per_msg[3],
                rate_per_server[0] / rate_per_server[3]
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
