//! The `gyre` binary end to end, over real sockets on 127.0.0.1: each wire
//! service (README "The `gyre` command"; reference §13.4), the log format
//! (reference §11.1), shutdown on SIGINT/SIGTERM (reference §1.6), startup
//! failures and their exit statuses, and echo's bounded memory when a client
//! does not read.
//!
//! Every test runs its own `gyre` on a free port (`tcp:0:interface=127.0.0.1`)
//! through the kit in `util/`, which reads the child's stderr on a thread,
//! bounds every wait and kills the child if a test fails.

#[allow(dead_code)] // the kit has more than these tests use
mod util;

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustix::process::Signal;
use util::{
    Gyre, LIMIT, LOOPBACK_ANY_PORT, assert_log, assert_log_line, assert_no_alarm, connect,
    exchange, peer_closed, position, read_to_eof, tcp_entry,
};

/// How far the clocks of the server and the test may disagree (seconds):
/// the reply is computed between two readings of the test's clock.
const CLOCK_SLACK: i64 = 3;

/// Seconds from 1900-01-01 to 1970-01-01 (RFC 868).
const FROM_1900_TO_1970: i64 = 2_208_988_800;

// ----- helpers -----

/// `len` bytes of a repeating pattern of period `period` (a prime, so chunk
/// boundaries never line up with it), starting at stream offset `offset`.
fn pattern(period: u64, offset: u64, len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| ((offset + i) % period) as u8)
        .collect()
}

/// The offset of the first byte of `data` (at stream offset `offset`) that
/// differs from the pattern, if any.
fn pattern_mismatch(period: u64, offset: u64, data: &[u8]) -> Option<u64> {
    data.iter()
        .zip(offset..)
        .find(|&(&b, i)| b != (i % period) as u8)
        .map(|(_, i)| i)
}

/// Now, in whole seconds since 1970.
fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses C's `asctime` text (`Sun Nov 22 00:30:49 2026`, no newline) into
/// Unix seconds, checking its shape and that the weekday matches the date.
#[track_caller]
fn parse_asctime(text: &str) -> i64 {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let b = text.as_bytes();
    assert!(
        b.len() == 24
            && b[3] == b' '
            && b[7] == b' '
            && b[10] == b' '
            && b[13] == b':'
            && b[16] == b':'
            && b[19] == b' ',
        "not asctime: {text:?}"
    );
    let num = |range: std::ops::Range<usize>| -> i64 {
        text[range]
            .trim_start()
            .parse()
            .unwrap_or_else(|_| panic!("not asctime: {text:?}"))
    };
    let weekday = DAYS
        .iter()
        .position(|d| *d == &text[0..3])
        .unwrap_or_else(|| panic!("bad weekday in {text:?}"));
    let month = MONTHS
        .iter()
        .position(|m| *m == &text[4..7])
        .unwrap_or_else(|| panic!("bad month in {text:?}")) as i64
        + 1;
    assert!(
        b[8] == b' ' || b[8].is_ascii_digit(),
        "day not space-padded: {text:?}"
    );
    let (day, hour, min, sec, year) = (
        num(8..10),
        num(11..13),
        num(14..16),
        num(17..19),
        num(20..24),
    );
    assert!(
        (1..=31).contains(&day) && hour < 24 && min < 60 && sec < 61,
        "{text:?}"
    );
    let days = days_from_civil(year, month, day);
    // 1970-01-01 was a Thursday.
    assert_eq!(
        (days + 4).rem_euclid(7) as usize,
        weekday,
        "weekday does not match the date in {text:?}"
    );
    days * 86_400 + hour * 3_600 + min * 60 + sec
}

/// Checks that `data` is whole RFC 864 lines: 72 printable ASCII characters
/// then CRLF, each line the printable ring (space to `~`) starting one
/// character after the line before.
#[track_caller]
fn assert_chargen_lines(data: &[u8]) {
    const WIDTH: usize = 72;
    const RING: usize = 95;
    assert_eq!(data.len() % (WIDTH + 2), 0, "not whole lines");
    let first = usize::from(data[0].wrapping_sub(b' '));
    assert!(first < RING, "first byte {:#x} is not printable", data[0]);
    for (n, line) in data.chunks(WIDTH + 2).enumerate() {
        assert_eq!(
            &line[WIDTH..],
            b"\r\n",
            "line {n} does not end in CRLF: {line:?}"
        );
        for (col, &c) in line[..WIDTH].iter().enumerate() {
            let expected = b' ' + ((first + n + col) % RING) as u8;
            assert_eq!(
                c,
                expected,
                "line {n} column {col}: {:?}",
                String::from_utf8_lossy(line)
            );
        }
    }
}

/// Asserts that a read on `stream` waits out `wait` without data or a close.
#[track_caller]
fn assert_silent_and_open(stream: &mut TcpStream, wait: Duration) {
    stream.set_read_timeout(Some(wait)).expect("read timeout");
    let mut buf = [0u8; 256];
    match stream.read(&mut buf) {
        Ok(0) => panic!("the server closed the connection"),
        Ok(n) => panic!("the server sent {n} bytes: {:?}", &buf[..n]),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        Err(e) => panic!("read failed: {e}"),
    }
    stream.set_read_timeout(Some(LIMIT)).expect("read timeout");
}

/// Stops `gyre` with SIGTERM, checks it exits 0, and returns its whole log,
/// checked for format and for alarming lines.
#[track_caller]
fn stop_quietly(mut gyre: Gyre) -> Vec<String> {
    gyre.signal(Signal::TERM);
    let status = gyre.wait_exit();
    assert_eq!(status.code(), Some(0), "{status:?}\n{}", gyre.transcript());
    let lines = gyre.lines();
    assert_log(&lines);
    assert_no_alarm(&lines);
    position(&lines, "Main loop terminated.");
    lines
}

/// Runs `gyre ARGS` that should fail at once; returns its exit code and stderr lines.
#[track_caller]
fn run_failing(args: &[&str]) -> (Option<i32>, Vec<String>) {
    let mut gyre = Gyre::spawn(args);
    let status = gyre.wait_exit();
    let lines = gyre.lines();
    let all = lines.join("\n");
    for bad in ["panicked", "backtrace", "RUST_BACKTRACE"] {
        assert!(!all.contains(bad), "{args:?} printed {bad:?}:\n{all}");
    }
    (status.code(), lines)
}

// ----- 1. the services -----

/// Echo sends back every byte, whether written in one chunk or several.
#[test]
fn echo_returns_every_chunk() {
    let gyre = Gyre::service("echo");
    let mut client = gyre.connect();

    for data in [
        b"hello".to_vec(),
        vec![0],
        pattern(251, 0, 1_000),
        pattern(251, 7, 100_000),
        pattern(251, 3, 1 << 20),
    ] {
        assert!(
            exchange(&mut client, &data) == data,
            "{} bytes came back changed",
            data.len()
        );
    }

    // Three writes before any read come back as one ordered stream.
    for chunk in [&b"one,"[..], b"two,", b"three"] {
        client.write_all(chunk).expect("write");
    }
    let mut back = [0u8; 13];
    client
        .read_exact(&mut back)
        .expect("read the three chunks back");
    assert_eq!(&back, b"one,two,three");

    drop(client);
    stop_quietly(gyre);
}

/// Two echo clients connected at once each get exactly their own bytes back.
#[test]
fn echo_serves_two_clients_at_once() {
    let gyre = Gyre::service("echo");
    let mut a = gyre.connect();
    let mut b = gyre.connect();

    a.write_all(b"from a").expect("write a");
    b.write_all(b"from b").expect("write b");
    // Read b first: a's pending reply must not hold b up.
    let mut reply = [0u8; 6];
    b.read_exact(&mut reply).expect("read b");
    assert_eq!(&reply, b"from b");
    a.read_exact(&mut reply).expect("read a");
    assert_eq!(&reply, b"from a");

    // Both stream at the same time, with different patterns.
    thread::scope(|s| {
        for (stream, period) in [(&mut a, 251), (&mut b, 241)] {
            s.spawn(move || {
                let data = pattern(period, 0, 2 << 20);
                let back = exchange(stream, &data);
                assert_eq!(
                    pattern_mismatch(period, 0, &back),
                    None,
                    "client with period {period} got other bytes"
                );
            });
        }
    });

    drop((a, b));
    stop_quietly(gyre);
}

/// Discard answers nothing and keeps the connection until the client closes; closes are handled quietly.
#[test]
fn discard_answers_nothing_and_outlives_clients() {
    let gyre = Gyre::service("discard");

    // Nothing comes back, and the server does not close first.
    let mut first = gyre.connect();
    for size in [1, 1_000, 100_000] {
        first.write_all(&pattern(251, 0, size)).expect("write");
    }
    assert_silent_and_open(&mut first, Duration::from_millis(300));
    assert_eq!(
        gyre.connection_count(),
        1,
        "the server's side of the connection"
    );

    // The client half-closes: the server sees end of input and closes, having sent nothing.
    first.shutdown(std::net::Shutdown::Write).expect("shutdown");
    assert_eq!(read_to_eof(&mut first, 0), b"");

    // A client that sends and closes outright: the server lets go of its socket.
    let mut second = gyre.connect();
    second.write_all(&[b'x'; 70_000]).expect("write");
    drop(second);
    drop(first);
    gyre.wait_for_connection_count(0);

    // Still serving.
    let mut third = gyre.connect();
    third.write_all(b"still there?").expect("write");
    assert_silent_and_open(&mut third, Duration::from_millis(100));
    drop(third);
    gyre.wait_for_connection_count(0);

    let lines = stop_quietly(gyre);
    // Only the lifecycle lines: a client going away is not news.
    let texts = assert_log(&lines);
    assert_eq!(texts.len(), 7, "unexpected lines:\n{}", lines.join("\n"));
}

/// Chargen streams RFC 864 lines (72 printable characters and CRLF, rotating by one), a few hundred KB of them.
#[test]
fn chargen_streams_rotating_lines() {
    let gyre = Gyre::service("chargen");

    let mut client = gyre.connect();
    let mut data = vec![0u8; 74 * 5_000]; // 370,000 bytes
    client.read_exact(&mut data).expect("read chargen output");
    assert_chargen_lines(&data);
    assert_eq!(
        gyre.connection_count(),
        1,
        "the server's side of the connection"
    );
    // Input is ignored and does not disturb the stream.
    client.write_all(b"hello\r\n").expect("write");
    let mut more = vec![0u8; 74 * 200];
    client.read_exact(&mut more).expect("read more");
    assert_chargen_lines(&more);
    assert_eq!(
        more[0],
        b' ' + ((usize::from(data[0] - b' ') + 5_000) % 95) as u8,
        "the stream skipped or repeated lines"
    );

    // The client leaves mid-stream; the server lets go and keeps serving.
    drop(client);
    gyre.wait_for_connection_count(0);
    let mut again = gyre.connect();
    let mut data = vec![0u8; 74 * 100];
    again
        .read_exact(&mut data)
        .expect("read from a new connection");
    assert_chargen_lines(&data);
    drop(again);
    gyre.wait_for_connection_count(0);

    stop_quietly(gyre);
}

/// Daytime sends one `asctime` line of the current UTC time and CRLF, then closes.
#[test]
fn daytime_sends_utc_asctime_then_closes() {
    let gyre = Gyre::service("daytime");
    for _ in 0..2 {
        let before = unix_now();
        let mut client = gyre.connect();
        let reply = read_to_eof(&mut client, 1_000);
        let after = unix_now();
        let text = String::from_utf8(reply).expect("ASCII reply");
        let line = text
            .strip_suffix("\r\n")
            .unwrap_or_else(|| panic!("no CRLF at the end: {text:?}"));
        assert!(!line.contains(['\r', '\n']), "more than one line: {text:?}");
        let sent = parse_asctime(line);
        assert!(
            before - CLOCK_SLACK <= sent && sent <= after + CLOCK_SLACK,
            "{line:?} is not now (UTC {before}..{after}, got {sent})"
        );
    }
    stop_quietly(gyre);
}

/// Qotd sends one short CRLF-terminated ASCII line, then closes.
#[test]
fn qotd_sends_one_line_then_closes() {
    let gyre = Gyre::service("qotd");
    let mut client = gyre.connect();
    let reply = read_to_eof(&mut client, 1_000);
    assert!(reply.ends_with(b"\r\n"), "{reply:?}");
    assert_eq!(
        reply.iter().filter(|&&b| b == b'\n').count(),
        1,
        "{reply:?}"
    );
    assert_eq!(
        reply.iter().filter(|&&b| b == b'\r').count(),
        1,
        "{reply:?}"
    );
    assert!(reply.len() > 2 && reply.len() < 512, "{reply:?}");
    assert!(
        reply[..reply.len() - 2]
            .iter()
            .all(|b| (b' '..=b'~').contains(b)),
        "not printable ASCII: {reply:?}"
    );
    // Every client gets a line.
    let mut again = gyre.connect();
    assert!(read_to_eof(&mut again, 1_000).ends_with(b"\r\n"));
    stop_quietly(gyre);
}

/// Time sends exactly four bytes, big-endian seconds since 1900 (now), then closes.
#[test]
fn time_sends_seconds_since_1900_then_closes() {
    let gyre = Gyre::service("time");
    let before = unix_now();
    let mut client = gyre.connect();
    let reply = read_to_eof(&mut client, 100);
    let after = unix_now();
    let bytes: [u8; 4] = reply
        .as_slice()
        .try_into()
        .unwrap_or_else(|_| panic!("expected 4 bytes, got {}: {reply:?}", reply.len()));
    let value = u32::from_be_bytes(bytes);
    let rfc868 = |unix: i64| (unix + FROM_1900_TO_1970).rem_euclid(1 << 32) as u32;
    // Compare modulo 2^32 so the 2036 wrap does not matter.
    let from_before = value.wrapping_sub(rfc868(before - CLOCK_SLACK));
    let span = (after - before + 2 * CLOCK_SLACK) as u32;
    assert!(
        from_before <= span,
        "{value} is not now: expected {}..={} (seconds since 1900)",
        rfc868(before - CLOCK_SLACK),
        rfc868(after + CLOCK_SLACK)
    );
    stop_quietly(gyre);
}

// ----- 2. the log -----

/// Every stderr line is in Twisted's format; the run opens with `Log opened.`, then `… starting on <port>`, then `Starting factory <… object at 0x…>`.
#[test]
fn log_lines_have_twisteds_format() {
    let gyre = Gyre::service("echo");
    let mut client = gyre.connect();
    assert_eq!(exchange(&mut client, b"ping"), b"ping");
    drop(client);
    let port = gyre.port();
    let lines = stop_quietly(gyre);

    let texts = assert_log(&lines);
    let (system, text) = assert_log_line(&lines[0]);
    assert_eq!((system, text), ("-", "Log opened."), "first line");

    let starting = position(&lines, " starting on ");
    assert!(
        lines[starting].ends_with(&format!("Factory starting on {port}")),
        "{}",
        lines[starting]
    );
    let factory = position(&lines, "Starting factory ");
    assert!(starting < factory, "{}", lines.join("\n"));
    let repr = assert_log_line(&lines[factory])
        .1
        .strip_prefix("Starting factory ")
        .expect("Starting factory text");
    let hex = repr
        .strip_prefix('<')
        .and_then(|r| r.strip_suffix('>'))
        .and_then(|r| r.rsplit_once(" object at 0x"))
        .map(|(_, hex)| hex)
        .unwrap_or_else(|| panic!("not <… object at 0x…>: {repr:?}"));
    assert!(
        !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        "{repr:?}"
    );
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.starts_with("Starting factory"))
            .count(),
        1
    );
}

/// With two `--listen` endpoints both ports serve, `Starting factory` and `Stopping factory` appear once, and each port's close is logged.
#[test]
fn two_endpoints_share_one_factory() {
    let gyre = Gyre::start(&[
        "echo",
        "--listen",
        LOOPBACK_ANY_PORT,
        "--listen",
        LOOPBACK_ANY_PORT,
    ]);
    let ports: Vec<u16> = gyre
        .wait_for_lines(" starting on ", 2)
        .iter()
        .map(|l| util::port_of_starting_line(l))
        .collect();
    assert_ne!(ports[0], ports[1]);
    for port in &ports {
        let mut client = connect((Ipv4Addr::LOCALHOST, *port).into());
        assert_eq!(exchange(&mut client, b"which port?"), b"which port?");
    }
    let lines = stop_quietly(gyre);
    let count = |needle: &str| lines.iter().filter(|l| l.contains(needle)).count();
    assert_eq!(count("Starting factory "), 1, "{}", lines.join("\n"));
    assert_eq!(count("Stopping factory "), 1, "{}", lines.join("\n"));
    let stopping = position(&lines, "Stopping factory ");
    for port in ports {
        let closed = position(&lines, &format!("(TCP Port {port} Closed)"));
        assert!(closed < stopping, "{}", lines.join("\n"));
    }
}

/// `--log-level error` hides every info line: a normal run and shutdown print nothing.
#[test]
fn log_level_error_hides_info() {
    let mut gyre = Gyre::spawn(&[
        "--log-level",
        "error",
        "echo",
        "--listen",
        LOOPBACK_ANY_PORT,
    ]);
    // Nothing is logged, so the port comes from /proc.
    let ports = gyre.wait_for_listening_ports();
    assert_eq!(ports.len(), 1, "{ports:?}");
    let mut client = connect((Ipv4Addr::LOCALHOST, ports[0]).into());
    assert_eq!(exchange(&mut client, b"quiet"), b"quiet");
    drop(client);
    gyre.signal(Signal::TERM);
    assert_eq!(gyre.wait_exit().code(), Some(0));
    assert_eq!(gyre.lines(), Vec::<String>::new());
}

// ----- 3. signals -----

/// Sends `signal` to an echo server with a client connected and checks the
/// orderly shutdown: the log lines in order, exit 0, the client closed.
fn shuts_down_in_order(signal: Signal, name: &str) {
    let mut gyre = Gyre::service("echo");
    let port = gyre.port();
    let mut client = gyre.connect();
    // The round trip proves the connection was accepted.
    assert_eq!(exchange(&mut client, b"before"), b"before");

    gyre.signal(signal);
    if let Err(why) = peer_closed(&mut client) {
        panic!("client not closed by {name}: {why}\n{}", gyre.transcript());
    }
    let status = gyre.wait_exit();
    assert_eq!(status.code(), Some(0), "{status:?}\n{}", gyre.transcript());

    let lines = gyre.lines();
    assert_log(&lines);
    assert_no_alarm(&lines);
    let order = [
        format!("Received {name}, shutting down."),
        format!("(TCP Port {port} Closed)"),
        "Stopping factory ".to_string(),
        "Main loop terminated.".to_string(),
    ];
    let at: Vec<usize> = order.iter().map(|n| position(&lines, n)).collect();
    assert!(
        at.windows(2).all(|w| w[0] < w[1]),
        "out of order {order:?}:\n{}",
        lines.join("\n")
    );
    assert!(
        lines
            .last()
            .is_some_and(|l| l.ends_with(" [-] Main loop terminated.")),
        "{}",
        lines.join("\n")
    );
}

/// SIGINT with a client connected: `Received SIGINT…`, port closed, factory stopped, `Main loop terminated.`, exit 0.
#[test]
fn sigint_shuts_down_in_order() {
    shuts_down_in_order(Signal::INT, "SIGINT");
}

/// SIGTERM with a client connected: `Received SIGTERM…`, port closed, factory stopped, `Main loop terminated.`, exit 0.
#[test]
fn sigterm_shuts_down_in_order() {
    shuts_down_in_order(Signal::TERM, "SIGTERM");
}

// ----- 4. startup failures -----

/// A port already in use is one line naming the address and the cause, exit 69, no panic text.
#[test]
fn port_in_use_exits_69() {
    let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a port");
    let port = taken.local_addr().expect("local addr").port();
    let endpoint = format!("tcp:{port}:interface=127.0.0.1");
    let (code, lines) = run_failing(&["echo", "--listen", &endpoint]);
    assert_eq!(code, Some(69), "{lines:?}");
    let expected = format!("gyre: Couldn't listen on 127.0.0.1:{port}: Address already in use.");
    let failures: Vec<&String> = lines.iter().filter(|l| !l.starts_with("20")).collect();
    assert_eq!(failures, [&expected], "{lines:?}");
    // Whatever else was printed is well-formed log output.
    let logged: Vec<String> = lines
        .iter()
        .filter(|l| l.starts_with("20"))
        .cloned()
        .collect();
    assert_log(&logged);
    assert!(
        logged.iter().all(|l| !l.contains("starting on")),
        "{lines:?}"
    );
    drop(taken);
}

/// Bad endpoint strings exit 64 with one line naming the bad part, before anything is logged.
#[test]
fn bad_endpoints_exit_64() {
    let table = [
        ("tcp:", "port '' is not an integer"),
        ("tcp:99999", "port '99999'"),
        ("tcp:80:backlog=x", "backlog 'x'"),
        ("udp:80:interface=nothere", "interface 'nothere'"),
        ("tcp:80:interface=nothere", "interface 'nothere'"),
    ];
    for (endpoint, part) in table {
        let (code, lines) = run_failing(&["echo", "--listen", endpoint]);
        assert_eq!(code, Some(64), "{endpoint}: {lines:?}");
        assert_eq!(lines.len(), 1, "{endpoint}: {lines:?}");
        let prefix = format!("gyre: --listen: invalid endpoint description \"{endpoint}\": ");
        assert!(
            lines[0].starts_with(&prefix) && lines[0][prefix.len()..].contains(part),
            "{endpoint}: expected {prefix:?} and {part:?}, got {:?}",
            lines[0]
        );
    }
}

/// An unknown option exits 64, names the option, and opens no port.
#[test]
fn unknown_option_exits_64() {
    let (code, lines) = run_failing(&["echo", "--listen", LOOPBACK_ANY_PORT, "--bogus"]);
    assert_eq!(code, Some(64), "{lines:?}");
    let all = lines.join("\n");
    assert!(all.contains("--bogus"), "{all}");
    assert!(!all.contains("starting on"), "{all}");
}

// ----- 5. bounded memory -----

/// An echo client that sends flat out and never reads costs the server little memory, and every byte comes back in order once it reads.
#[test]
fn echo_memory_is_bounded_when_the_client_does_not_read() {
    const PERIOD: u64 = 251;
    const CHUNK: usize = 256 * 1024;
    const MAX_SEND: u64 = 200 << 20;
    /// A write that blocks this long means the server has stopped reading.
    const BLOCKED: Duration = Duration::from_secs(1);

    let gyre = Gyre::service("echo");
    let mut client = gyre.connect();
    assert_eq!(exchange(&mut client, b"warm up"), b"warm up");
    let rss_before = gyre.rss_kib();

    // Write until the kernel blocks for over a second, or 200 MB have gone.
    let mut writer = client.try_clone().expect("clone");
    writer
        .set_write_timeout(Some(BLOCKED))
        .expect("write timeout");
    let source = pattern(PERIOD, 0, CHUNK + PERIOD as usize);
    let deadline = Instant::now() + Duration::from_secs(60);
    let (sent, blocked) = thread::scope(|s| {
        s.spawn(|| {
            let mut sent = 0u64;
            while sent < MAX_SEND && Instant::now() < deadline {
                let at = (sent % PERIOD) as usize;
                match writer.write(&source[at..at + CHUNK]) {
                    Ok(n) => sent += n as u64,
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        return (sent, true);
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => panic!("write failed after {sent} bytes: {e}"),
                }
            }
            (sent, false)
        })
        .join()
        .expect("writer thread")
    });
    let rss_after = gyre.rss_kib();
    let growth_kib = rss_after.saturating_sub(rss_before);

    // Where the bytes are: the kernel's queues on both sockets, as the
    // server last left them; the rest is in the server's own buffers.
    let local = client.local_addr().expect("local");
    let peer = client.peer_addr().expect("peer");
    let mine = tcp_entry(local, peer);
    let theirs = tcp_entry(peer, local);
    let server_read = sent - mine.tx_queue - theirs.rx_queue;
    let server_wrote = theirs.tx_queue + mine.rx_queue;
    let held_by_server = server_read.saturating_sub(server_wrote);
    eprintln!(
        "echo memory: sent {sent} bytes before the write blocked ({blocked}); \
         server RSS {rss_before} KiB -> {rss_after} KiB (+{growth_kib} KiB, peak {} KiB); \
         kernel queues: client tx {} rx {}, server tx {} rx {}; \
         held in the server's buffers: {held_by_server} bytes",
        gyre.peak_rss_kib(),
        mine.tx_queue,
        mine.rx_queue,
        theirs.tx_queue,
        theirs.rx_queue,
    );
    assert!(
        blocked,
        "the server read all {sent} bytes from a client that does not read\n{}",
        gyre.transcript()
    );
    assert!(
        growth_kib < 16 * 1024,
        "server RSS grew by {growth_kib} KiB while the client did not read"
    );
    assert!(
        theirs.rx_queue > 0,
        "the server is still reading: its receive queue is empty"
    );
    assert!(
        held_by_server <= 512 * 1024,
        "the server holds {held_by_server} bytes for a client that does not read"
    );

    // Now read everything back: the server resumes and nothing is lost or reordered.
    let mut received = 0u64;
    let mut buf = vec![0u8; CHUNK];
    let deadline = Instant::now() + Duration::from_secs(60);
    while received < sent {
        assert!(
            Instant::now() < deadline,
            "only {received} of {sent} bytes came back"
        );
        let n = match client.read(&mut buf) {
            Ok(0) => panic!("closed after {received} of {sent} bytes"),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => panic!("read failed after {received} of {sent} bytes: {e}"),
        };
        if let Some(at) = pattern_mismatch(PERIOD, received, &buf[..n]) {
            panic!("echoed stream differs from what was sent at byte {at}");
        }
        received += n as u64;
    }
    assert_eq!(received, sent, "more came back than was sent");
    // Nothing beyond what was sent.
    assert_silent_and_open(&mut client, Duration::from_millis(100));
    drop((client, writer));
    stop_quietly(gyre);
}
