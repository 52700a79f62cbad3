//! The closed-loop load generator behind `bench-client`.
//!
//! Every scenario runs on mio, one thread per slice of the connections
//! (one thread unless asked otherwise). Each connection sends the stream of
//! [`Pattern`] bytes; every byte that comes back is checked against what was
//! sent at its offset. Bytes that differ, never come back or come back in
//! excess are counted, and any of them makes the run a failure.

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::pattern::Pattern;
use crate::procfs;
use crate::report::{Measurement, quantile};

/// Size of the read buffer and of the pattern window.
const BUF: usize = 64 * 1024;
/// How long outstanding bytes may take to come back once sending stops.
const DRAIN: Duration = Duration::from_secs(10);
/// Connects in flight at once while opening many connections (idle and
/// burst). The idle scenario counts a connection until its echo is back,
/// so at most 32 ever wait in the server's accept queue, below even
/// Twisted's backlog of 50: it measures memory, not SYN retransmissions
/// after an overflowing queue. The burst scenario counts a connection only
/// until its handshake completes, so the accept queue holds whatever the
/// server has not accepted yet, and a small backlog shows.
pub const CONNECTS_IN_FLIGHT: usize = 32;

/// A load shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// `conns` connections, each with `depth` messages of `size` bytes in
    /// flight (ping-pong is depth 1; bulk is one connection, depth 1, 1 MiB).
    Stream {
        /// Connections.
        conns: usize,
        /// Messages in flight per connection.
        depth: usize,
        /// Bytes per message.
        size: usize,
    },
    /// `conns` connections opened and each checked with one echo of 64
    /// bytes, then held open while the server's memory is read.
    Idle {
        /// Connections.
        conns: usize,
    },
    /// `conns` connections opened as fast as their handshakes complete
    /// ([`CONNECTS_IN_FLIGHT`] handshakes at a time), each checked with one
    /// echo of 64 bytes, closed at the end: a burst of new clients, which
    /// the server's accept queue must hold until it accepts them.
    Burst {
        /// Connections.
        conns: usize,
    },
    /// Connect, echo `size` bytes, close; `concurrency` at a time, the
    /// source address rotating over the [`SOURCE_ADDRESSES`] addresses
    /// 127.2.0.0..=127.2.0.255.
    ConnRate {
        /// Cycles in progress at once.
        concurrency: usize,
        /// Bytes echoed per connection.
        size: usize,
    },
}

/// What to run against which server.
#[derive(Debug, Clone)]
pub struct Config {
    /// The load.
    pub scenario: Scenario,
    /// The echo server.
    pub addr: SocketAddr,
    /// How long to keep sending (not used by [`Scenario::Idle`] and
    /// [`Scenario::Burst`]).
    pub duration: Duration,
    /// Client threads.
    pub threads: usize,
    /// The server's process id, for its CPU time and memory.
    pub server_pid: Option<u32>,
}

/// What one worker thread counted.
#[derive(Debug, Default)]
struct Tally {
    ops: u64,
    bytes: u64,
    latencies_ns: Vec<u64>,
    mismatched: u64,
    missing: u64,
    excess: u64,
    errors: u64,
    end: Option<Instant>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.ops += other.ops;
        self.bytes += other.bytes;
        self.latencies_ns.extend(other.latencies_ns);
        self.mismatched += other.mismatched;
        self.missing += other.missing;
        self.excess += other.excess;
        self.errors += other.errors;
        self.end = self.end.max(other.end);
    }
}

fn server_cpu(pid: Option<u32>) -> f64 {
    pid.and_then(|p| procfs::cpu_seconds(p).ok())
        .unwrap_or(-1.0)
}

/// Runs `config` and returns what it measured, with the accept-queue
/// overflows the machine counted meanwhile.
pub fn run(config: &Config) -> io::Result<Measurement> {
    let overflows_before = procfs::listen_overflows().ok();
    let mut m = match config.scenario {
        Scenario::Idle { conns } => run_idle(config, conns),
        Scenario::Burst { conns } => run_burst(config, conns),
        _ => run_workers(config),
    }?;
    m.listen_overflows = match (overflows_before, procfs::listen_overflows().ok()) {
        (Some(a), Some(b)) => b.saturating_sub(a) as i64,
        _ => -1,
    };
    Ok(m)
}

/// Splits `0..n` into `parts` nearly equal ranges.
fn split(n: usize, parts: usize) -> Vec<(usize, usize)> {
    let parts = parts.max(1).min(n.max(1));
    (0..parts)
        .map(|i| (n * i / parts, n * (i + 1) / parts))
        .collect()
}

fn run_workers(config: &Config) -> io::Result<Measurement> {
    let total = match config.scenario {
        Scenario::Stream { conns, .. } => conns,
        Scenario::ConnRate { concurrency, .. } => concurrency,
        Scenario::Idle { .. } | Scenario::Burst { .. } => {
            unreachable!("idle and burst run on their own")
        }
    };
    let slices = split(total, config.threads);
    // Workers connect, then all wait at `ready`; the server's CPU time is
    // read; `go` starts the measured window.
    let ready = Arc::new(Barrier::new(slices.len() + 1));
    let go = Arc::new(Barrier::new(slices.len() + 1));
    let mut handles = Vec::new();
    for (lo, hi) in slices {
        let (ready, go, config) = (ready.clone(), go.clone(), config.clone());
        handles.push(thread::spawn(move || -> io::Result<Tally> {
            match config.scenario {
                Scenario::Stream { depth, size, .. } => {
                    stream_worker(&config, lo as u64..hi as u64, depth, size, &ready, &go)
                }
                Scenario::ConnRate { size, .. } => {
                    connrate_worker(&config, lo as u64, hi - lo, size, &ready, &go)
                }
                Scenario::Idle { .. } | Scenario::Burst { .. } => unreachable!(),
            }
        }));
    }
    ready.wait();
    let cpu_before = server_cpu(config.server_pid);
    let start = Instant::now();
    go.wait();
    let mut tally = Tally::default();
    let mut first_error = None;
    for h in handles {
        match h.join().expect("worker thread panicked") {
            Ok(t) => tally.merge(t),
            Err(e) => first_error = first_error.or(Some(e)),
        }
    }
    let cpu_after = server_cpu(config.server_pid);
    if let Some(e) = first_error {
        return Err(e);
    }
    let end = tally.end.unwrap_or_else(Instant::now);
    Ok(finish(tally, end - start, cpu_before, cpu_after, 0.0))
}

fn finish(mut t: Tally, elapsed: Duration, cpu0: f64, cpu1: f64, rss: f64) -> Measurement {
    t.latencies_ns.sort_unstable();
    Measurement {
        ops: t.ops,
        bytes: t.bytes,
        seconds: elapsed.as_secs_f64(),
        p50_us: quantile(&t.latencies_ns, 0.50) as f64 / 1e3,
        p99_us: quantile(&t.latencies_ns, 0.99) as f64 / 1e3,
        server_cpu_s: if cpu0 >= 0.0 && cpu1 >= 0.0 {
            cpu1 - cpu0
        } else {
            -1.0
        },
        rss_per_conn: rss,
        mismatched: t.mismatched,
        missing: t.missing,
        excess: t.excess,
        errors: t.errors,
        syscalls_per_op: 0.0,
        listen_overflows: -1,
    }
}

/// One connection of a stream scenario.
#[derive(Debug)]
struct StreamConn {
    id: u64,
    stream: TcpStream,
    /// Bytes handed to the kernel.
    written: u64,
    /// Bytes of the messages issued so far.
    target: u64,
    /// Bytes received and checked.
    received: u64,
    /// End offset and issue time of each message in flight.
    in_flight: VecDeque<(u64, Instant)>,
    open: bool,
}

impl StreamConn {
    fn issue(&mut self, size: usize, now: Instant) {
        self.target += size as u64;
        self.in_flight.push_back((self.target, now));
    }

    /// Writes what is issued and unwritten until the kernel refuses.
    fn flush(&mut self, pattern: &Pattern, tally: &mut Tally) {
        while self.open && self.written < self.target {
            let n = ((self.target - self.written) as usize).min(pattern.window());
            match self.stream.write(pattern.slice(self.id, self.written, n)) {
                Ok(0) => self.fail(tally),
                Ok(k) => self.written += k as u64,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => self.fail(tally),
            }
        }
    }

    fn fail(&mut self, tally: &mut Tally) {
        if self.open {
            self.open = false;
            tally.errors += 1;
        }
    }

    /// Reads until the kernel has no more, checking every byte. Returns
    /// how many messages completed.
    fn drain(&mut self, buf: &mut [u8], pattern: &Pattern, tally: &mut Tally) {
        while self.open {
            match self.stream.read(buf) {
                Ok(0) => self.fail(tally),
                Ok(n) => {
                    let data = &buf[..n];
                    let room = (self.written - self.received) as usize;
                    let good = n.min(room);
                    tally.excess += (n - good) as u64;
                    tally.mismatched += pattern.mismatches(self.id, self.received, &data[..good]);
                    self.received += good as u64;
                    tally.bytes += good as u64;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => self.fail(tally),
            }
        }
    }
}

fn connect_blocking(addr: SocketAddr) -> io::Result<TcpStream> {
    let std = std::net::TcpStream::connect(addr)?;
    std.set_nodelay(true)?;
    std.set_nonblocking(true)?;
    Ok(TcpStream::from_std(std))
}

fn stream_worker(
    config: &Config,
    ids: std::ops::Range<u64>,
    depth: usize,
    size: usize,
    ready: &Barrier,
    go: &Barrier,
) -> io::Result<Tally> {
    let pattern = Pattern::new(BUF);
    let mut poll = Poll::new()?;
    let mut conns = Vec::new();
    let mut setup_error = None;
    for id in ids {
        match connect_blocking(config.addr) {
            Ok(mut stream) => {
                let token = Token(conns.len());
                poll.registry().register(
                    &mut stream,
                    token,
                    Interest::READABLE | Interest::WRITABLE,
                )?;
                conns.push(StreamConn {
                    id,
                    stream,
                    written: 0,
                    target: 0,
                    received: 0,
                    in_flight: VecDeque::with_capacity(depth),
                    open: true,
                });
            }
            Err(e) => {
                setup_error = Some(e);
                break;
            }
        }
    }
    ready.wait();
    go.wait();
    if let Some(e) = setup_error {
        return Err(e);
    }
    let mut tally = Tally::default();
    let mut buf = vec![0u8; BUF];
    let mut events = Events::with_capacity(1024);
    let start = Instant::now();
    let stop_at = start + config.duration;
    let give_up = stop_at + DRAIN;
    for c in conns.iter_mut() {
        for _ in 0..depth {
            c.issue(size, start);
        }
        c.flush(&pattern, &mut tally);
    }
    let mut stopping = false;
    loop {
        let now = Instant::now();
        if !stopping && now >= stop_at {
            stopping = true;
        }
        if stopping && conns.iter().all(|c| !c.open || c.received == c.target) {
            break;
        }
        if now >= give_up {
            break;
        }
        let wait = if stopping { give_up } else { stop_at } - now;
        poll.poll(&mut events, Some(wait.min(Duration::from_millis(50))))?;
        for event in events.iter() {
            let c = &mut conns[event.token().0];
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                c.drain(&mut buf, &pattern, &mut tally);
                let mut done = 0;
                while let Some(&(end, sent)) = c.in_flight.front() {
                    if end > c.received {
                        break;
                    }
                    c.in_flight.pop_front();
                    done += 1;
                    let now = Instant::now();
                    tally.latencies_ns.push((now - sent).as_nanos() as u64);
                    tally.ops += 1;
                    tally.end = Some(now);
                }
                if done > 0 && !stopping {
                    let now = Instant::now();
                    for _ in 0..done {
                        c.issue(size, now);
                    }
                }
            }
            c.flush(&pattern, &mut tally);
        }
    }
    for c in &conns {
        tally.missing += c.target - c.received;
    }
    Ok(tally)
}

/// Source addresses the connection-rate client rotates over.
///
/// Every cycle leaves a socket in TIME_WAIT on the client for a minute, and
/// `bind` to port 0 must find a port no such socket holds on that address.
/// A full matrix round opens a few hundred thousand connections; with eight
/// addresses their ports ran out after about 110,000 and the rate fell
/// fifty-fold within one run. With 256, each address holds at most a few
/// thousand (the kernel keeps at most `tcp_max_tw_buckets`, 131,072 here,
/// in all).
pub const SOURCE_ADDRESSES: u64 = 256;

/// The address a connection-rate cycle binds to before connecting.
fn source_address(cycle: u64) -> SocketAddr {
    let n = (cycle % SOURCE_ADDRESSES) as u8;
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 2, 0, n)), 0)
}

/// Starts a non-blocking connect from a rotating source address.
fn start_connect(server: SocketAddr, cycle: u64) -> io::Result<TcpStream> {
    use socket2::{Domain, Protocol, Socket, Type};
    let mut last = None;
    // When one source address has run out of ports, try the next ones.
    for k in 0..8 {
        let socket = Socket::new(
            Domain::for_address(server),
            Type::STREAM,
            Some(Protocol::TCP),
        )?;
        socket.set_nonblocking(true)?;
        socket.set_tcp_nodelay(true)?;
        let source = if server.ip().is_loopback() && server.is_ipv4() {
            source_address(cycle + k)
        } else {
            SocketAddr::new(
                if server.is_ipv4() {
                    Ipv4Addr::UNSPECIFIED.into()
                } else {
                    std::net::Ipv6Addr::UNSPECIFIED.into()
                },
                0,
            )
        };
        if let Err(e) = socket.bind(&source.into()) {
            last = Some(e);
            continue;
        }
        match socket.connect(&server.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INPROGRESS.raw_os_error()) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => {
                last = Some(e);
                continue;
            }
        }
        return Ok(TcpStream::from_std(socket.into()));
    }
    Err(last.unwrap_or_else(|| io::Error::other("no source address")))
}

/// One slot of the connection-rate scenario.
#[derive(Debug)]
struct Cycle {
    id: u64,
    stream: TcpStream,
    started: Instant,
    connected: bool,
    written: usize,
    received: usize,
}

fn connrate_worker(
    config: &Config,
    first_id: u64,
    slots: usize,
    size: usize,
    ready: &Barrier,
    go: &Barrier,
) -> io::Result<Tally> {
    let pattern = Pattern::new(BUF);
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; BUF];
    let mut tally = Tally::default();
    ready.wait();
    go.wait();
    let start = Instant::now();
    let stop_at = start + config.duration;
    let give_up = stop_at + DRAIN;
    // Cycle ids: each worker numbers its own cycles from `first_id` upward in
    // steps of a large stride, so ids never collide between workers.
    let stride = 1u64 << 40;
    let mut next_id = first_id * stride;
    let mut cycles: Vec<Option<Cycle>> = (0..slots).map(|_| None).collect();
    let open = |slot: usize, id: u64, poll: &Poll| -> io::Result<Cycle> {
        let mut stream = start_connect(config.addr, id)?;
        poll.registry().register(
            &mut stream,
            Token(slot),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        Ok(Cycle {
            id,
            stream,
            started: Instant::now(),
            connected: false,
            written: 0,
            received: 0,
        })
    };
    for (slot, c) in cycles.iter_mut().enumerate() {
        match open(slot, next_id, &poll) {
            Ok(cycle) => *c = Some(cycle),
            Err(_) => tally.errors += 1,
        }
        next_id += 1;
    }
    loop {
        let now = Instant::now();
        if cycles.iter().all(Option::is_none) || now >= give_up {
            break;
        }
        poll.poll(
            &mut events,
            Some((give_up - now).min(Duration::from_millis(50))),
        )?;
        for event in events.iter() {
            let slot = event.token().0;
            let Some(c) = cycles[slot].as_mut() else {
                continue;
            };
            let mut failed = false;
            let mut complete = false;
            if !c.connected {
                if let Ok(Some(_)) | Err(_) = c.stream.take_error() {
                    failed = true;
                } else if c.stream.peer_addr().is_ok() {
                    c.connected = true;
                }
            }
            if c.connected && !failed {
                while c.written < size {
                    let piece = pattern.slice(c.id, c.written as u64, size - c.written);
                    match c.stream.write(piece) {
                        Ok(0) => {
                            failed = true;
                            break;
                        }
                        Ok(k) => c.written += k,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(_) => {
                            failed = true;
                            break;
                        }
                    }
                }
                while !failed && c.received < size {
                    match c.stream.read(&mut buf) {
                        Ok(0) => failed = true,
                        Ok(n) => {
                            let good = n.min(c.written - c.received);
                            tally.excess += (n - good) as u64;
                            tally.mismatched +=
                                pattern.mismatches(c.id, c.received as u64, &buf[..good]);
                            c.received += good;
                            tally.bytes += good as u64;
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(_) => failed = true,
                    }
                }
                complete = !failed && c.received == size;
            }
            if failed || complete {
                let c = cycles[slot].take().expect("slot is busy");
                let now = Instant::now();
                if complete {
                    tally.ops += 1;
                    tally.latencies_ns.push((now - c.started).as_nanos() as u64);
                    tally.end = Some(now);
                } else {
                    tally.errors += 1;
                    tally.missing += (size - c.received) as u64;
                }
                // Closing deregisters it; the server sees end of file.
                drop(c);
                if now < stop_at {
                    match open(slot, next_id, &poll) {
                        Ok(cycle) => cycles[slot] = Some(cycle),
                        Err(_) => tally.errors += 1,
                    }
                    next_id += 1;
                }
            }
        }
    }
    for c in cycles.iter().flatten() {
        tally.errors += 1;
        tally.missing += (size - c.received) as u64;
    }
    Ok(tally)
}

/// When a connection stops counting against [`CONNECTS_IN_FLIGHT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InFlightUntil {
    /// Until its echo is back (idle): at most [`CONNECTS_IN_FLIGHT`]
    /// connections wait for the server at any time.
    Echoed,
    /// Until its handshake completes (burst): the kernel completes a
    /// handshake before the server accepts, so the connections the server
    /// has not accepted yet pile up in its accept queue, as a burst of
    /// independent clients does.
    Connected,
}

/// One connection of the idle and burst scenarios.
#[derive(Debug)]
struct OpenConn {
    stream: TcpStream,
    started: Instant,
    connected: bool,
    /// Counted against [`CONNECTS_IN_FLIGHT`].
    in_flight: bool,
    written: usize,
    received: usize,
    done: bool,
}

impl OpenConn {
    /// Handles a readiness event: completes the connect, writes the
    /// connection's [`OPEN_ECHO`] bytes of pattern, reads and checks what
    /// came back. Returns false when the connection failed.
    fn advance(&mut self, id: u64, pattern: &Pattern, buf: &mut [u8], tally: &mut Tally) -> bool {
        if !self.connected {
            if let Ok(Some(_)) | Err(_) = self.stream.take_error() {
                return false;
            } else if self.stream.peer_addr().is_ok() {
                self.connected = true;
            } else {
                return true;
            }
        }
        while self.written < OPEN_ECHO {
            let piece = pattern.slice(id, self.written as u64, OPEN_ECHO - self.written);
            match self.stream.write(piece) {
                Ok(0) => return false,
                Ok(k) => self.written += k,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        while self.received < self.written {
            match self.stream.read(buf) {
                Ok(0) => return false,
                Ok(k) => {
                    let good = k.min(self.written - self.received);
                    tally.excess += (k - good) as u64;
                    tally.mismatched += pattern.mismatches(id, self.received as u64, &buf[..good]);
                    self.received += good;
                    tally.bytes += good as u64;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    }
}

/// Bytes each connection of the idle and burst scenarios echoes.
const OPEN_ECHO: usize = 64;

/// What [`open_and_echo`] leaves: the tally, the open connections and when
/// the first connect started.
#[derive(Debug)]
struct Opened {
    tally: Tally,
    conns: Vec<OpenConn>,
    start: Instant,
}

/// Opens `n` connections, at most [`CONNECTS_IN_FLIGHT`] in flight (as
/// `until` counts them), and checks each with one echo of [`OPEN_ECHO`]
/// bytes. One op is one connection set up and echoed; its latency runs
/// from the connect to the last byte back. The connections stay open.
fn open_and_echo(config: &Config, n: usize, until: InFlightUntil) -> io::Result<Opened> {
    procfs::raise_nofile_limit();
    let pattern = Pattern::new(BUF);
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; BUF];
    let mut tally = Tally::default();
    let mut conns: Vec<OpenConn> = Vec::with_capacity(n);
    let start = Instant::now();
    // A SYN dropped by a full accept queue is retried after 1, 3, 7, 15 ...
    // seconds: a burst against a small backlog may take long, not forever.
    let give_up = start + Duration::from_secs(120) + config.duration;
    let mut pending = 0usize;
    let mut finished = 0usize;
    let mut attempted = 0usize;
    while finished < n && Instant::now() < give_up {
        while attempted < n && pending < CONNECTS_IN_FLIGHT {
            attempted += 1;
            let mut stream = match TcpStream::connect(config.addr) {
                Ok(s) => s,
                Err(_) => {
                    tally.errors += 1;
                    tally.missing += OPEN_ECHO as u64;
                    finished += 1;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            poll.registry().register(
                &mut stream,
                Token(conns.len()),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            conns.push(OpenConn {
                stream,
                started: Instant::now(),
                connected: false,
                in_flight: true,
                written: 0,
                received: 0,
                done: false,
            });
            pending += 1;
        }
        poll.poll(&mut events, Some(Duration::from_millis(50)))?;
        for event in events.iter() {
            let id = event.token().0;
            let c = &mut conns[id];
            if c.done {
                continue;
            }
            let ok = c.advance(id as u64, &pattern, &mut buf, &mut tally);
            if !ok {
                c.done = true;
                tally.errors += 1;
                tally.missing += (OPEN_ECHO - c.received) as u64;
            } else if c.received == OPEN_ECHO {
                c.done = true;
                let now = Instant::now();
                tally.ops += 1;
                tally.latencies_ns.push((now - c.started).as_nanos() as u64);
                tally.end = Some(now);
            }
            if c.done {
                finished += 1;
            }
            let counted_out = c.done || (until == InFlightUntil::Connected && c.connected);
            if c.in_flight && counted_out {
                c.in_flight = false;
                pending -= 1;
            }
        }
    }
    for c in &conns {
        if !c.done {
            tally.errors += 1;
            tally.missing += (OPEN_ECHO - c.received) as u64;
        }
    }
    tally.errors += (n - attempted) as u64;
    Ok(Opened {
        tally,
        conns,
        start,
    })
}

/// The idle scenario: [`open_and_echo`], then the server's memory growth
/// per connection while all are still open.
fn run_idle(config: &Config, n: usize) -> io::Result<Measurement> {
    let rss_before = config.server_pid.and_then(|p| procfs::rss_bytes(p).ok());
    let cpu_before = server_cpu(config.server_pid);
    let Opened {
        tally,
        conns,
        start,
    } = open_and_echo(config, n, InFlightUntil::Echoed)?;
    let end = tally.end.unwrap_or_else(Instant::now);
    let cpu_after = server_cpu(config.server_pid);
    // Every connection is open and has echoed once: read the server's
    // memory now, before any is closed.
    let rss_after = config.server_pid.and_then(|p| procfs::rss_bytes(p).ok());
    let rss = match (rss_before, rss_after) {
        (Some(a), Some(b)) if n > 0 => (b as f64 - a as f64) / n as f64,
        _ => -1.0,
    };
    drop(conns);
    Ok(finish(tally, end - start, cpu_before, cpu_after, rss))
}

/// The burst scenario: [`open_and_echo`] with only the handshakes counted
/// in flight; the rate is connections set up and echoed per second, from
/// the first connect to the last echo. The connections are closed after.
fn run_burst(config: &Config, n: usize) -> io::Result<Measurement> {
    let cpu_before = server_cpu(config.server_pid);
    let Opened {
        tally,
        conns,
        start,
    } = open_and_echo(config, n, InFlightUntil::Connected)?;
    let end = tally.end.unwrap_or_else(Instant::now);
    let cpu_after = server_cpu(config.server_pid);
    drop(conns);
    Ok(finish(tally, end - start, cpu_before, cpu_after, -1.0))
}
