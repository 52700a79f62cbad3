//! `gyre connect`, end to end over 127.0.0.1: bytes through unchanged in
//! both directions, the half-close at the end of input, the peer closing
//! first, connection failures and bad descriptions, flow control in both
//! directions (a slow standard output, a peer that does not read), a closed
//! output pipe, and SIGTERM.
//!
//! The peers are `gyre` services started through the kit in `util/`, or a
//! plain `std` server on a thread where the test needs to control exactly
//! when the peer reads, writes and closes. Every wait is bounded; children
//! are killed if a test fails.

#[allow(dead_code)] // the kit has more than these tests use
mod util;

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, TcpListener, TcpStream};
use std::process::{ChildStdin, ChildStdout, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};
use util::{Gyre, LIMIT, assert_log, assert_no_alarm, position, read_to_eof};

// ----- helpers -----

/// `len` bytes of a repeating pattern of prime period `period`, starting at
/// stream offset `offset`.
fn pattern(period: u64, offset: u64, len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| ((offset + i) % period) as u8)
        .collect()
}

/// Kills a child still running after a time limit, so that reads from its
/// stdout (which have no timeout) end even if it hangs. Disarmed when
/// dropped.
struct Watchdog {
    _disarm: mpsc::Sender<()>,
}

impl Watchdog {
    /// How long any one connect test may keep its child.
    const LIMIT: Duration = Duration::from_secs(90);

    fn new(pid: u32) -> Watchdog {
        let (disarm, disarmed) = mpsc::channel::<()>();
        thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = disarmed.recv_timeout(Self::LIMIT) {
                eprintln!(
                    "gyre (pid {pid}) still running after {:?}: killed",
                    Self::LIMIT
                );
                if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
                    let _ = kill_process(pid, Signal::KILL);
                }
            }
        });
        Watchdog { _disarm: disarm }
    }
}

/// `gyre connect ARGS…` with piped stdin and stdout, and its watchdog.
/// It logs at info (the default is warn), so the tests can follow the
/// connection's life in its log.
fn connect(args: &[&str]) -> (Gyre, ChildStdin, ChildStdout, Watchdog) {
    let mut all = vec!["--log-level", "info", "connect"];
    all.extend_from_slice(args);
    let mut gyre = Gyre::spawn_with(&all, Stdio::piped(), Stdio::piped());
    let (stdin, stdout) = gyre.take_stdio();
    let watchdog = Watchdog::new(gyre.pid());
    (
        gyre,
        stdin.expect("piped stdin"),
        stdout.expect("piped stdout"),
        watchdog,
    )
}

/// Reads `stdout` to its end on a thread (it ends when gyre exits, or is
/// killed by a failing test).
fn read_all(mut stdout: ChildStdout) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        out
    })
}

/// The lines that are not log lines: what gyre printed as failures.
fn failure_lines(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| !l.starts_with("20") && !l.starts_with('\t'))
        .cloned()
        .collect()
}

/// Waits for gyre to exit; checks the status, that the log is well formed
/// and that the failure lines are exactly `failures`. Returns the log.
#[track_caller]
fn expect_exit(gyre: &mut Gyre, code: i32, failures: &[&str]) -> Vec<String> {
    let status = gyre.wait_exit();
    let lines = gyre.lines();
    assert_eq!(
        status.code(),
        Some(code),
        "{status:?}\n{}",
        gyre.transcript()
    );
    assert_eq!(failure_lines(&lines), failures, "{}", gyre.transcript());
    let logged: Vec<String> = lines
        .iter()
        .filter(|l| l.starts_with("20") || l.starts_with('\t'))
        .cloned()
        .collect();
    assert_log(&logged);
    for bad in ["panicked", "RUST_BACKTRACE"] {
        assert!(!lines.join("\n").contains(bad), "{}", gyre.transcript());
    }
    lines
}

/// A listener on a free loopback port, and the description to reach it.
fn loopback_listener() -> (TcpListener, String) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let port = listener.local_addr().expect("local addr").port();
    (listener, format!("tcp:127.0.0.1:{port}"))
}

/// Accepts one connection, with [`LIMIT`] timeouts (bounded by a
/// non-blocking poll so a gyre that never connects fails the test).
#[track_caller]
fn accept(listener: &TcpListener) -> TcpStream {
    listener.set_nonblocking(true).expect("nonblocking");
    let deadline = Instant::now() + LIMIT;
    let stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("gyre did not connect: {e}"),
        }
    };
    stream.set_nonblocking(false).expect("blocking");
    stream.set_read_timeout(Some(LIMIT)).expect("read timeout");
    stream
        .set_write_timeout(Some(LIMIT))
        .expect("write timeout");
    stream
}

// ----- data through, both ways -----

/// A mebibyte goes to `gyre echo` and comes back unchanged; closing stdin
/// then ends the session, exit 0, with nothing alarming in the log.
#[test]
fn round_trip_through_echo() {
    let echo = Gyre::service("echo");
    let target = format!("tcp:127.0.0.1:{}", echo.port());
    let (mut nc, mut stdin, mut stdout, _dog) = connect(&[&target]);
    let data = pattern(251, 0, 1 << 20);

    // Close stdin only once everything is back: echo (like Twisted's) is
    // not half-closeable and drops what it has not sent when input ends.
    let (all_back, wait_back) = mpsc::channel::<()>();
    let to_send = data.clone();
    let writer = thread::spawn(move || {
        stdin.write_all(&to_send).expect("write to gyre connect");
        let _ = wait_back.recv_timeout(LIMIT);
        drop(stdin);
    });
    let expected = data.len();
    let reader = thread::spawn(move || {
        let mut out = vec![0u8; expected];
        let got = stdout.read_exact(&mut out);
        let _ = all_back.send(());
        got.expect("read the echo back");
        let mut rest = Vec::new();
        let _ = stdout.read_to_end(&mut rest);
        out.extend(rest);
        out
    });

    let lines = expect_exit(&mut nc, 0, &[]);
    assert_no_alarm(&lines);
    writer.join().expect("writer");
    let out = reader.join().expect("reader");
    assert_eq!(out.len(), data.len(), "length");
    assert!(out == data, "the echo differs from what was sent");
    position(&lines, "Starting factory ");
    position(&lines, "Main loop terminated.");
}

/// End of input half-closes: the peer reads to its end, then replies
/// (the whole input reversed), and every byte of the reply is printed.
#[test]
fn output_continues_after_end_of_input() {
    let (listener, target) = loopback_listener();
    let data = pattern(241, 5, (1 << 20) + 17);
    let (mut nc, mut stdin, stdout, _dog) = connect(&[&target]);
    let to_send = data.clone();
    let writer = thread::spawn(move || {
        stdin.write_all(&to_send).expect("write to gyre connect");
        // Dropped here: end of input at once.
    });
    let output = read_all(stdout);

    let mut peer = accept(&listener);
    let got = read_to_eof(&mut peer, 4 << 20);
    assert_eq!(got.len(), data.len(), "the peer saw end of input early");
    assert!(got == data, "the peer got other bytes");
    let reply: Vec<u8> = got.iter().rev().copied().collect();
    peer.write_all(&reply).expect("reply after the half-close");
    peer.write_all(b"bye\n").expect("reply");
    drop(peer);

    let lines = expect_exit(&mut nc, 0, &[]);
    assert_no_alarm(&lines);
    writer.join().expect("writer");
    let out = output.join().expect("reader");
    assert_eq!(out.len(), reply.len() + 4);
    assert!(out[..reply.len()] == reply[..], "reply differs");
    assert_eq!(&out[reply.len()..], b"bye\n");
}

/// When the peer closes first (qotd sends a line and closes), the session
/// ends even though stdin stays open: the reader thread does not hold the
/// process.
#[test]
fn peer_closing_first_ends_the_session() {
    let qotd = Gyre::service("qotd");
    let target = format!("tcp:host=127.0.0.1:port={}", qotd.port());
    let (mut nc, stdin, stdout, _dog) = connect(&[&target]);
    let output = read_all(stdout);
    let lines = expect_exit(&mut nc, 0, &[]);
    assert_no_alarm(&lines);
    let out = output.join().expect("reader");
    assert!(out.ends_with(b"\r\n"), "{out:?}");
    assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1, "{out:?}");
    drop(stdin);
}

/// tcp6 descriptions work end to end (the machine must have ::1; a
/// missing IPv6 loopback fails the test rather than skipping it).
#[test]
fn tcp6_round_trip() {
    assert!(
        TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok(),
        "this machine has no IPv6 loopback (::1); the tcp6 tests need it"
    );
    let echo = Gyre::start(&["echo", "--listen", r"tcp6:0:interface=\:\:1"]);
    let target = format!(r"tcp6:\:\:1:{}", echo.port());
    let (mut nc, mut stdin, mut stdout, _dog) = connect(&[&target]);
    stdin.write_all(b"over six\n").expect("write");
    let mut back = [0u8; 9];
    stdout.read_exact(&mut back).expect("read the echo");
    assert_eq!(&back, b"over six\n");
    drop(stdin);
    expect_exit(&mut nc, 0, &[]);
}

// ----- failures -----

/// A refused connection is one line naming the endpoint and the reason, exit 69.
#[test]
fn refused_exits_69() {
    let port = {
        let (listener, _) = loopback_listener();
        listener.local_addr().expect("addr").port()
    };
    let mut nc = Gyre::spawn(&["connect", &format!("tcp:127.0.0.1:{port}")]);
    let expected = format!(
        "gyre: cannot connect to tcp:host=127.0.0.1:port={port}: \
         Connection was refused by other side: 111: Connection refused."
    );
    let lines = expect_exit(&mut nc, 69, &[&expected]);
    assert!(lines.last() == Some(&expected), "{lines:?}");
}

/// A name that does not resolve is one line too, exit 69. The name is
/// malformed (an empty label), so the resolver rejects it without asking
/// any DNS server: tests stay on this machine.
#[test]
fn unresolvable_host_exits_69() {
    let mut nc = Gyre::spawn(&["connect", "tcp:host=bad..name:port=7"]);
    expect_exit(
        &mut nc,
        69,
        &["gyre: cannot connect to tcp:host=bad..name:port=7: DNS lookup failed: bad..name."],
    );
}

/// Bad descriptions and missing arguments exit 64 before anything is logged.
#[test]
fn bad_endpoints_exit_64() {
    let table = [
        ("tcp:localhost", "missing parameter 'port'"),
        ("tcp:127.0.0.1:http", "port 'http' is not an integer"),
        ("tcp:127.0.0.1:70000", "port '70000' is out of range"),
        ("nosuch:1:2", "Unknown endpoint type: 'nosuch'"),
        (r"tcp:a:1\", "it ends with a backslash"),
    ];
    for (endpoint, part) in table {
        let mut nc = Gyre::spawn(&["connect", endpoint]);
        assert_eq!(nc.wait_exit().code(), Some(64), "{}", nc.transcript());
        let lines = nc.lines();
        let prefix = format!("gyre: connect: invalid endpoint description \"{endpoint}\": ");
        assert!(
            lines.len() == 1 && lines[0].starts_with(&prefix) && lines[0].contains(part),
            "{endpoint}: expected {prefix:?} and {part:?}\n{}",
            nc.transcript()
        );
    }
    for args in [&["connect"][..], &["connect", "tcp:a:1", "tcp:b:2"]] {
        let mut nc = Gyre::spawn(args);
        assert_eq!(nc.wait_exit().code(), Some(64), "{}", nc.transcript());
    }
}

// ----- flow control -----

/// A slow standard output pauses reading from the socket: streaming from
/// chargen while stdout is read slowly costs gyre little memory. Closing
/// the pipe then ends the session promptly (exit 74, one line).
#[test]
fn slow_output_is_bounded_and_a_closed_pipe_ends_it() {
    let chargen = Gyre::service("chargen");
    let target = format!("tcp:127.0.0.1:{}", chargen.port());
    let (mut nc, stdin, mut stdout, _dog) = connect(&[&target]);

    let mut first = vec![0u8; 74 * 100];
    stdout.read_exact(&mut first).expect("chargen output");
    assert!(
        first
            .iter()
            .all(|&b| (b' '..=b'~').contains(&b) || b == b'\r' || b == b'\n'),
        "not chargen text"
    );
    let rss_before = nc.rss_kib();
    // About 150 KiB a second, while chargen could send hundreds of MiB.
    let mut chunk = vec![0u8; 16 * 1024];
    for _ in 0..15 {
        stdout.read_exact(&mut chunk).expect("read slowly");
        thread::sleep(Duration::from_millis(100));
    }
    let peak = nc.peak_rss_kib();
    let growth = peak.saturating_sub(rss_before);
    eprintln!("gyre connect RSS {rss_before} KiB, peak {peak} KiB (+{growth} KiB)");
    assert!(
        growth < 16 * 1024,
        "gyre connect grew by {growth} KiB behind a slow stdout"
    );

    drop(stdout);
    let started = Instant::now();
    expect_exit(
        &mut nc,
        74,
        &["gyre: cannot write to standard output: Broken pipe"],
    );
    assert!(started.elapsed() < Duration::from_secs(5), "slow to notice");
    chargen.wait_for_connection_count(0);
    drop(stdin);
}

/// A peer that does not read pauses standard input: the writer into gyre
/// blocks after a bounded amount and gyre's memory stays small; once the
/// peer reads, every byte arrives in order, and end of input reaches it.
#[test]
fn slow_peer_pauses_standard_input() {
    const PERIOD: u64 = 239;
    const CHUNK: usize = 64 * 1024;
    const MAX_SEND: u64 = 400 << 20;
    let (listener, target) = loopback_listener();
    let (mut nc, mut stdin, stdout, _dog) = connect(&[&target]);
    let output = read_all(stdout);
    let mut peer = accept(&listener);
    let rss_before = nc.rss_kib();

    let sent = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (sent, stop) = (sent.clone(), stop.clone());
        thread::spawn(move || {
            let source = pattern(PERIOD, 0, CHUNK + PERIOD as usize);
            while !stop.load(Ordering::SeqCst) && sent.load(Ordering::SeqCst) < MAX_SEND {
                let at = (sent.load(Ordering::SeqCst) % PERIOD) as usize;
                stdin.write_all(&source[at..at + CHUNK]).expect("write");
                sent.fetch_add(CHUNK as u64, Ordering::SeqCst);
            }
            stdin
        })
    };

    // Wait until the writer has made no progress for a second.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut last, mut since) = (0, Instant::now());
    loop {
        thread::sleep(Duration::from_millis(50));
        let now = sent.load(Ordering::SeqCst);
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() > Duration::from_secs(1) {
            break;
        }
        assert!(
            Instant::now() < deadline && now < MAX_SEND,
            "stdin was never paused ({now} bytes sent)\n{}",
            nc.transcript()
        );
    }
    let growth = nc.peak_rss_kib().saturating_sub(rss_before);
    eprintln!("stdin paused after {last} bytes; gyre connect grew by {growth} KiB");
    assert!(
        growth < 16 * 1024,
        "gyre connect grew by {growth} KiB for a peer that does not read"
    );

    // The peer reads everything; then end of input arrives.
    stop.store(true, Ordering::SeqCst);
    let reader = thread::spawn(move || {
        let got = read_to_eof(&mut peer, MAX_SEND as usize + CHUNK);
        (peer, got)
    });
    let stdin = writer.join().expect("writer");
    let total = sent.load(Ordering::SeqCst);
    drop(stdin);
    let (peer, got) = reader.join().expect("peer reader");
    assert_eq!(got.len() as u64, total, "bytes lost or added");
    let mismatch = got
        .iter()
        .zip(0u64..)
        .find(|&(&b, i)| b != (i % PERIOD) as u8);
    assert_eq!(mismatch, None, "the peer got other bytes");
    drop(peer);

    let lines = expect_exit(&mut nc, 0, &[]);
    assert_no_alarm(&lines);
    assert!(output.join().expect("reader").is_empty());
}

// ----- signals -----

/// SIGTERM ends a session that would otherwise go on: exit 0, the usual
/// shutdown lines, no failure.
#[test]
fn sigterm_exits_0() {
    let discard = Gyre::service("discard");
    let target = format!("tcp:127.0.0.1:{}", discard.port());
    let (mut nc, mut stdin, stdout, _dog) = connect(&[&target]);
    let output = read_all(stdout);
    stdin.write_all(b"into the void\n").expect("write");
    discard.wait_for_connection_count(1);
    nc.signal(Signal::TERM);
    let lines = expect_exit(&mut nc, 0, &[]);
    let received = position(&lines, "Received SIGTERM, shutting down.");
    assert!(received < position(&lines, "Main loop terminated."));
    assert!(output.join().expect("reader").is_empty());
    discard.wait_for_connection_count(0);
    drop(stdin);
}

/// SIGINT while still connecting (to a port whose accept queue is full, so
/// the handshake hangs) stops the attempt: exit 0, no failure line.
#[test]
fn sigint_while_connecting_exits_0() {
    use rustix::net::{AddressFamily, SocketType, bind, getsockname, listen, socket};
    let fd = socket(AddressFamily::INET, SocketType::STREAM, None).expect("socket");
    bind(&fd, &std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).expect("bind");
    listen(&fd, 0).expect("listen");
    let addr = std::net::SocketAddr::try_from(getsockname(&fd).expect("getsockname"))
        .expect("an IP address");
    // Fill the accept queue; later handshakes are not answered.
    let fillers: Vec<TcpStream> = (0..4)
        .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok())
        .collect();

    let mut nc = Gyre::spawn_with(
        &[
            "--log-level",
            "info",
            "connect",
            &format!("tcp:127.0.0.1:{}", addr.port()),
        ],
        Stdio::piped(),
        Stdio::null(),
    );
    nc.wait_for_line("Starting factory ");
    // The connect is in progress: its SYN sent, and never answered.
    nc.wait_for_socket_to(addr, util::TCP_SYN_SENT);
    nc.signal(Signal::INT);
    let lines = expect_exit(&mut nc, 0, &[]);
    position(&lines, "Received SIGINT, shutting down.");
    drop((fillers, fd));
}

/// SIGTERM while standard output is not being read (chargen filling the
/// pipe): gyre still exits 0, after a bounded wait for the stuck output.
#[test]
fn sigterm_with_stuck_output_exits_promptly() {
    let chargen = Gyre::service("chargen");
    let target = format!("tcp:127.0.0.1:{}", chargen.port());
    let (mut nc, stdin, stdout, _dog) = connect(&[&target]);
    chargen.wait_for_connection_count(1);
    // The output is stuck: the pipe is full and gyre's writer blocked on it.
    nc.wait_for_thread_in("gyre-stdout", "pipe_write");
    let started = Instant::now();
    nc.signal(Signal::TERM);
    expect_exit(&mut nc, 0, &[]);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?} to exit",
        started.elapsed()
    );
    drop((stdin, stdout));
}

// ----- --reconnect -----

/// A free loopback port with nothing listening on it.
fn closed_port() -> u16 {
    let (listener, _) = loopback_listener();
    listener.local_addr().expect("addr").port()
}

/// With `--reconnect`, a refused attempt is retried (and logged); input
/// goes to each connection in turn and output comes from each; when the
/// peer closes, gyre connects again; end of input then half-closes the
/// live connection, and once it is gone the command exits 0.
#[test]
fn reconnect_follows_the_peer_across_connections() {
    let port = closed_port();
    let target = format!("tcp:127.0.0.1:{port}");
    let (mut nc, mut stdin, mut stdout, _dog) = connect(&["--reconnect", &target]);
    let retry = format!(" to connect tcp:host=127.0.0.1:port={port} in ");
    let first_retry = nc.wait_for_line(&retry);
    assert!(
        first_retry.contains("] Scheduling retry 1 to connect ")
            && first_retry.ends_with(" seconds."),
        "{first_retry}"
    );
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("listen on the port");

    // First connection: output, then input, then the peer closes.
    let mut peer = accept(&listener);
    peer.write_all(b"first\n").expect("write");
    let mut line = [0u8; 6];
    stdout.read_exact(&mut line).expect("read gyre's output");
    assert_eq!(&line, b"first\n");
    stdin.write_all(b"a\n").expect("write to gyre");
    let mut got = [0u8; 2];
    peer.read_exact(&mut got).expect("read gyre's input");
    assert_eq!(&got, b"a\n");
    drop(peer);

    // gyre schedules a retry (counting from 1 again) and comes back.
    let retries = nc.wait_for_lines(&retry, 2);
    assert!(retries[1].contains("Scheduling retry 1 "), "{}", retries[1]);
    let mut peer = accept(&listener);
    peer.write_all(b"second\n").expect("write");
    let mut line = [0u8; 7];
    stdout.read_exact(&mut line).expect("read gyre's output");
    assert_eq!(&line, b"second\n");
    stdin.write_all(b"b\n").expect("write to gyre");
    drop(stdin);

    // End of input: the peer reads to its end, answers, and closes.
    assert_eq!(read_to_eof(&mut peer, 100), b"b\n");
    peer.write_all(b"bye\n")
        .expect("write after the half-close");
    drop(peer);
    let output = read_all(stdout);
    let lines = expect_exit(&mut nc, 0, &[]);
    assert_eq!(output.join().expect("reader"), b"bye\n");
    let scheduled = lines.iter().filter(|l| l.contains(&retry)).count();
    assert_eq!(scheduled, 2, "{}", nc.transcript());
}

/// With `--reconnect`, SIGTERM while waiting to retry exits 0, and no
/// retry is scheduled after it.
#[test]
fn reconnect_sigterm_while_waiting_exits_0() {
    let port = closed_port();
    let target = format!("tcp:127.0.0.1:{port}");
    let (mut nc, stdin, stdout, _dog) = connect(&["--reconnect", &target]);
    let output = read_all(stdout);
    nc.wait_for_line("Scheduling retry 1 ");
    nc.signal(Signal::TERM);
    let lines = expect_exit(&mut nc, 0, &[]);
    let received = position(&lines, "Received SIGTERM, shutting down.");
    assert!(
        lines[received..]
            .iter()
            .all(|l| !l.contains("Scheduling retry")),
        "{}",
        nc.transcript()
    );
    assert!(output.join().expect("reader").is_empty());
    drop(stdin);
}

/// With `--reconnect`, SIGTERM while connected closes the connection
/// without scheduling a retry, exit 0.
#[test]
fn reconnect_sigterm_while_connected_exits_0() {
    let echo = Gyre::service("echo");
    let target = format!("tcp:127.0.0.1:{}", echo.port());
    let (mut nc, mut stdin, mut stdout, _dog) = connect(&["--reconnect", &target]);
    stdin.write_all(b"ping\n").expect("write");
    let mut back = [0u8; 5];
    stdout.read_exact(&mut back).expect("read the echo");
    assert_eq!(&back, b"ping\n");
    nc.signal(Signal::TERM);
    let lines = expect_exit(&mut nc, 0, &[]);
    assert_no_alarm(&lines);
    assert!(
        lines.iter().all(|l| !l.contains("Scheduling retry")),
        "{}",
        nc.transcript()
    );
    echo.wait_for_connection_count(0);
    drop(stdin);
}
