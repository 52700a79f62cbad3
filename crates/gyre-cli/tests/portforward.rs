//! `gyre portforward` end to end, over real sockets on 127.0.0.1: bytes
//! relayed both ways, half-close carried across in both directions, a
//! refused upstream, either side's close (or reset) closing the other, and
//! memory held flat while a gibibyte goes through to a slow reader.
//!
//! The upstream is a plain `TcpListener` in the test, so each test sees
//! exactly what the forwarder does on both of its connections.

#[allow(dead_code)] // the kit has more than these tests use
mod util;

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use rustix::net::sockopt::set_socket_linger;
use util::{Gyre, LIMIT, LOOPBACK_ANY_PORT, assert_log, peer_closed, read_to_eof};

// ----- helpers -----

/// A listener on a free loopback port, standing in for the upstream server.
struct Upstream {
    listener: TcpListener,
}

impl Upstream {
    fn new() -> Upstream {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind upstream");
        Upstream { listener }
    }

    /// The description `--connect` takes.
    fn description(&self) -> String {
        let port = self.listener.local_addr().expect("addr").port();
        format!("tcp:127.0.0.1:{port}")
    }

    /// Accepts the forwarder's connection, with [`LIMIT`] timeouts (a
    /// non-blocking poll, so a forwarder that never connects fails the test).
    #[track_caller]
    fn accept(&self) -> TcpStream {
        self.listener.set_nonblocking(true).expect("nonblocking");
        let deadline = Instant::now() + LIMIT;
        let stream = loop {
            match self.listener.accept() {
                Ok((stream, _)) => break stream,
                Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(2));
                }
                Err(e) => panic!("the forwarder did not connect upstream: {e}"),
            }
        };
        stream.set_nonblocking(false).expect("blocking");
        stream.set_read_timeout(Some(LIMIT)).expect("read timeout");
        stream
            .set_write_timeout(Some(LIMIT))
            .expect("write timeout");
        stream
    }
}

/// `gyre portforward` on a free loopback port, forwarding to `upstream`.
fn forwarder(upstream: &str) -> Gyre {
    Gyre::start(&[
        "portforward",
        "--listen",
        LOOPBACK_ANY_PORT,
        "--connect",
        upstream,
    ])
}

/// A client of the forwarder and the upstream connection made for it.
fn forwarded(gyre: &Gyre, upstream: &Upstream) -> (TcpStream, TcpStream) {
    let client = gyre.connect();
    let server = upstream.accept();
    (client, server)
}

/// Reads exactly `n` bytes.
#[track_caller]
fn read_n(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    stream
        .read_exact(&mut buf)
        .unwrap_or_else(|e| panic!("reading {n} bytes: {e}"));
    buf
}

/// Every byte value, then some text: what "verbatim" has to survive.
fn awkward_bytes() -> Vec<u8> {
    let mut data: Vec<u8> = (0..=255u8).collect();
    data.extend_from_slice(b"\r\n\r\nline\n\0tail");
    data
}

/// A free loopback port with nothing listening on it.
fn closed_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Resets `stream` (close with `SO_LINGER` zero) instead of closing it.
fn reset(stream: TcpStream) {
    set_socket_linger(&stream, Some(Duration::ZERO)).expect("SO_LINGER");
    drop(stream);
}

// ----- relaying -----

/// Bytes go through unchanged both ways, interleaved, and a second client
/// gets a second upstream connection of its own.
#[test]
fn relays_both_ways() {
    let upstream = Upstream::new();
    let gyre = forwarder(&upstream.description());
    let (mut client, mut server) = forwarded(&gyre, &upstream);
    let data = awkward_bytes();
    for round in 0..3 {
        client.write_all(&data).expect("client writes");
        assert_eq!(
            read_n(&mut server, data.len()),
            data,
            "round {round} upstream"
        );
        server.write_all(&data[round..]).expect("server writes");
        assert_eq!(
            read_n(&mut client, data.len() - round),
            &data[round..],
            "round {round} back"
        );
    }

    let (mut client2, mut server2) = forwarded(&gyre, &upstream);
    client2.write_all(b"second").expect("write");
    client.write_all(b"first").expect("write");
    assert_eq!(read_n(&mut server2, 6), b"second");
    assert_eq!(read_n(&mut server, 5), b"first");
    server2.write_all(b"two").expect("write");
    assert_eq!(read_n(&mut client2, 3), b"two");

    let lines = gyre.lines();
    let texts = assert_log(&lines);
    let starts = texts
        .iter()
        .filter(|t| {
            t.starts_with("Starting factory <gyre::services::ProxyClientFactory object at 0x")
        })
        .count();
    assert_eq!(
        starts,
        2,
        "one client factory per forwarded connection\n{}",
        gyre.transcript()
    );
}

// ----- half-close -----

/// The client shuts down its sending side; upstream reads the request and
/// then end of input, answers, closes; the client gets the whole answer and
/// then end of input. The forwarder then holds no connection.
#[test]
fn client_half_close_is_carried_and_the_reply_comes_back() {
    let upstream = Upstream::new();
    let gyre = forwarder(&upstream.description());
    let (mut client, mut server) = forwarded(&gyre, &upstream);
    client.write_all(b"request").expect("write");
    client.shutdown(Shutdown::Write).expect("shutdown");
    assert_eq!(read_to_eof(&mut server, 1 << 20), b"request");
    let reply = awkward_bytes().repeat(100);
    server.write_all(&reply).expect("reply");
    drop(server);
    assert_eq!(read_to_eof(&mut client, 1 << 20), reply);
    gyre.wait_for_connection_count(0);
}

/// The other way round: upstream shuts down its sending side; the client
/// sees end of input and can still send, upstream still receives, and the
/// client's own close ends it all.
#[test]
fn upstream_half_close_is_carried_and_the_client_can_still_send() {
    let upstream = Upstream::new();
    let gyre = forwarder(&upstream.description());
    let (mut client, mut server) = forwarded(&gyre, &upstream);
    server.write_all(b"banner").expect("write");
    server.shutdown(Shutdown::Write).expect("shutdown");
    assert_eq!(read_to_eof(&mut client, 1 << 20), b"banner");
    client.write_all(b"still talking").expect("write after EOF");
    assert_eq!(read_n(&mut server, 13), b"still talking");
    client.shutdown(Shutdown::Write).expect("shutdown");
    assert_eq!(read_to_eof(&mut server, 1 << 20), b"");
    gyre.wait_for_connection_count(0);
}

// ----- closing -----

/// A refused upstream closes the client's connection at once, says why in
/// one log line, and the forwarder keeps serving.
#[test]
fn refused_upstream_closes_the_inbound_connection() {
    let port = closed_port();
    let gyre = forwarder(&format!("tcp:127.0.0.1:{port}"));
    for attempt in 0..2 {
        let mut client = gyre.connect();
        client.write_all(b"anyone there?").expect("write");
        if let Err(e) = peer_closed(&mut client) {
            panic!("attempt {attempt}: {e}\n{}", gyre.transcript());
        }
    }
    let lines = gyre.wait_for_lines("Cannot forward to ", 2);
    for line in &lines {
        let (system, text) = util::assert_log_line(line);
        assert!(system.starts_with("ProxyServer,"), "{line:?}");
        assert_eq!(
            text,
            format!(
                "Cannot forward to tcp:host=127.0.0.1:port={port}: Connection was refused by \
                 other side: 111: Connection refused. Closing the inbound connection."
            )
        );
    }
    gyre.wait_for_connection_count(0);
}

/// When upstream closes, the client is closed (after what upstream sent);
/// when the client closes, upstream is closed; when the client resets,
/// upstream is closed too. Each time the forwarder ends up holding nothing.
#[test]
fn closing_either_side_closes_the_other() {
    let upstream = Upstream::new();
    let gyre = forwarder(&upstream.description());

    // Upstream closes.
    let (mut client, mut server) = forwarded(&gyre, &upstream);
    server.write_all(b"bye").expect("write");
    drop(server);
    assert_eq!(read_to_eof(&mut client, 1024), b"bye");
    drop(client);
    gyre.wait_for_connection_count(0);

    // The client closes.
    let (mut client, mut server) = forwarded(&gyre, &upstream);
    client.write_all(b"bye").expect("write");
    drop(client);
    assert_eq!(read_to_eof(&mut server, 1024), b"bye");
    drop(server);
    gyre.wait_for_connection_count(0);

    // The client resets: upstream is closed without waiting for it.
    let (client, mut server) = forwarded(&gyre, &upstream);
    reset(client);
    assert_eq!(read_to_eof(&mut server, 1024), b"");
    gyre.wait_for_connection_count(0);
    // Upstream went on holding its socket; only the forwarder closed.
    drop(server);
}

// ----- bounded memory -----

/// A gibibyte through the forwarder to an upstream that reads at 64 MiB/s
/// (the path runs at about 800 MiB/s unthrottled here, debug build): every
/// byte arrives in order, and the forwarder's resident memory, sampled from
/// `/proc` every 20 ms and read as `VmHWM` at the end, stays flat.
///
/// The bound: with flow control the forwarder holds at most about one
/// write buffer past the 64 KiB high-water mark plus one 64 KiB read per
/// direction, so growth is expected in the hundreds of KiB; 32 MiB leaves
/// room for allocator noise and is still 1/32 of what a forwarder that
/// read ahead of its slow side would hold. The second check makes sure
/// the reader really was the slow side: when the writer finishes, no more
/// than the kernel's socket buffers can hold is still on its way.
#[test]
fn a_gibibyte_to_a_slow_reader_keeps_memory_bounded() {
    const TOTAL: u64 = 1 << 30;
    const PERIOD: usize = 251;
    const CHUNK: usize = 256 * 1024;
    /// The reader's rate limit, bytes per second.
    const RATE: f64 = 64.0 * 1024.0 * 1024.0;
    const BOUND_KIB: u64 = 32 * 1024;
    /// What the kernel's socket buffers on the way can hold at most (two
    /// connections; `tcp_wmem` and `tcp_rmem` maxima here are 4 and 32 MiB),
    /// rounded up. More in flight when the writer finishes would mean the
    /// reader was not the slow side.
    const IN_FLIGHT_MAX: u64 = 128 << 20;

    let upstream = Upstream::new();
    let gyre = forwarder(&upstream.description());
    let (mut client, mut server) = forwarded(&gyre, &upstream);
    client.write_all(b"warm up").expect("write");
    assert_eq!(read_n(&mut server, 7), b"warm up");
    server.write_all(b"ok").expect("write");
    assert_eq!(read_n(&mut client, 2), b"ok");
    let baseline = gyre.rss_kib();

    // The pattern, long enough to take a CHUNK from any phase of it.
    let source: Arc<Vec<u8>> = Arc::new((0..CHUNK + PERIOD).map(|i| (i % PERIOD) as u8).collect());
    let done = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicU64::new(0));
    let peak_sampled = Arc::new(AtomicU64::new(baseline));
    let pid = gyre.pid();
    let started = Instant::now();

    let (sent, received, in_flight) = thread::scope(|s| {
        // Samples the forwarder's RSS until the transfer is over.
        let sampler = {
            let (done, peak) = (done.clone(), peak_sampled.clone());
            s.spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    if let Some(kib) = rss_kib(pid) {
                        peak.fetch_max(kib, Ordering::Relaxed);
                    }
                    thread::sleep(Duration::from_millis(20));
                }
            })
        };
        // Sends the gibibyte as fast as the forwarder takes it; notes how
        // much the reader still had to come when the last byte was written.
        let writer = {
            let (source, progress) = (source.clone(), progress.clone());
            let mut client = client.try_clone().expect("clone");
            s.spawn(move || {
                client
                    .set_write_timeout(Some(Duration::from_secs(60)))
                    .expect("timeout");
                let mut sent = 0u64;
                while sent < TOTAL {
                    let at = (sent % PERIOD as u64) as usize;
                    let len = CHUNK.min((TOTAL - sent) as usize);
                    match client.write(&source[at..at + len]) {
                        Ok(n) => sent += n as u64,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => panic!("write failed after {sent} bytes: {e}"),
                    }
                }
                let in_flight = sent - progress.load(Ordering::Relaxed);
                client.shutdown(Shutdown::Write).expect("shutdown");
                (sent, in_flight)
            })
        };
        // Reads at RATE, checking every byte against the pattern.
        server
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        let mut received = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        let begin = Instant::now();
        loop {
            let n = match server.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => panic!("read failed after {received} bytes: {e}"),
            };
            let at = (received % PERIOD as u64) as usize;
            assert!(
                buf[..n] == source[at..at + n],
                "stream differs from what was sent within bytes {received}..{}",
                received + n as u64
            );
            received += n as u64;
            progress.store(received, Ordering::Relaxed);
            let due = Duration::from_secs_f64(received as f64 / RATE);
            if let Some(ahead) = due.checked_sub(begin.elapsed()) {
                thread::sleep(ahead);
            }
        }
        done.store(true, Ordering::Relaxed);
        let (sent, in_flight) = writer.join().expect("writer thread");
        sampler.join().expect("sampler thread");
        (sent, received, in_flight)
    });
    let elapsed = started.elapsed();
    let peak_hwm = gyre.peak_rss_kib();
    let peak = peak_hwm.max(peak_sampled.load(Ordering::Relaxed));
    let growth = peak.saturating_sub(baseline);
    eprintln!(
        "portforward 1 GiB: {received} bytes in {:.1} s ({:.1} MiB/s); forwarder RSS \
         {baseline} KiB before, peak {} KiB sampled, VmHWM {peak_hwm} KiB: growth {growth} KiB \
         (bound {BOUND_KIB} KiB); {:.1} MiB still in flight when the writer finished",
        elapsed.as_secs_f64(),
        received as f64 / elapsed.as_secs_f64() / (1024.0 * 1024.0),
        peak_sampled.load(Ordering::Relaxed),
        in_flight as f64 / (1024.0 * 1024.0),
    );
    assert_eq!(sent, TOTAL);
    assert_eq!(received, TOTAL, "upstream got end of input early");
    assert!(
        growth < BOUND_KIB,
        "forwarder RSS grew by {growth} KiB pushing 1 GiB to a slow reader\n{}",
        gyre.transcript()
    );
    assert!(
        in_flight < IN_FLIGHT_MAX,
        "{in_flight} bytes were in flight when the writer finished: more than the \
         kernel can hold, so the reader was not the slow side or something buffered it"
    );
    // End of input went through; the client's side is still open for a reply.
    server.write_all(b"done").expect("reply");
    drop(server);
    assert_eq!(read_to_eof(&mut client, 1024), b"done");
    gyre.wait_for_connection_count(0);
}

/// `VmRSS` of `pid` in KiB, if it can still be read.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}
