//! `--idle-timeout` and `--max-connections` end to end, over real sockets on
//! 127.0.0.1: an idle client is closed once the timeout has passed and not
//! before, a busy one is not; a client past the limit is closed at once and
//! the slot is free again when a client leaves. Also that every service,
//! `portforward` included, takes both options.

#[allow(dead_code)] // the kit has more than these tests use
mod util;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use util::{Gyre, LOOPBACK_ANY_PORT, exchange, peer_closed};

/// Waits for the server to close `stream` (end of file or reset); returns
/// how long since `since` that took. Fails if data arrives or nothing
/// happens within the stream's read timeout.
#[track_caller]
fn time_until_closed(stream: &mut TcpStream, since: Instant) -> Duration {
    if let Err(e) = peer_closed(stream) {
        panic!("the server did not close the connection: {e}");
    }
    since.elapsed()
}

/// An echo client that says nothing is closed after the idle timeout,
/// and not before it.
#[test]
fn idle_echo_client_is_closed() {
    let gyre = Gyre::start(&[
        "echo",
        "--listen",
        LOOPBACK_ANY_PORT,
        "--idle-timeout",
        "0.3",
    ]);
    let connected = Instant::now();
    let mut client = gyre.connect();
    let waited = time_until_closed(&mut client, connected);
    eprintln!("idle client closed after {waited:?}");
    let line = gyre.wait_for_line("Timing out client: ");
    let port = client.local_addr().expect("addr").port();
    assert!(
        line.ends_with(&format!(
            "[Echo,0,127.0.0.1] Timing out client: \
             IPv4Address(type='TCP', host='127.0.0.1', port={port})"
        )),
        "{line:?}"
    );
    assert!(
        waited >= Duration::from_millis(290),
        "closed after {waited:?}, before the 0.3 s timeout"
    );
    gyre.wait_for_connection_count(0);
}

/// Traffic starts the count again: a client that talks half a second into
/// a one-second timeout is closed a second after that, not a second after
/// it connected.
#[test]
fn traffic_restarts_the_idle_timeout() {
    let gyre = Gyre::start(&["echo", "--listen", LOOPBACK_ANY_PORT, "--idle-timeout", "1"]);
    let connected = Instant::now();
    let mut client = gyre.connect();
    thread::sleep(Duration::from_millis(500));
    let spoke = Instant::now();
    assert_eq!(exchange(&mut client, b"still here"), b"still here");
    let waited = time_until_closed(&mut client, spoke);
    eprintln!(
        "closed {waited:?} after the last traffic, {:?} after connecting",
        connected.elapsed()
    );
    assert!(
        waited >= Duration::from_millis(990),
        "closed {waited:?} after the last traffic"
    );
}

/// A client that keeps talking outlives many timeouts.
#[test]
fn busy_client_is_not_closed() {
    let gyre = Gyre::start(&["echo", "--listen", LOOPBACK_ANY_PORT, "--idle-timeout", "1"]);
    let mut client = gyre.connect();
    let until = Instant::now() + Duration::from_millis(2500);
    let mut rounds = 0;
    while Instant::now() < until {
        assert_eq!(exchange(&mut client, b"ping"), b"ping", "round {rounds}");
        rounds += 1;
        thread::sleep(Duration::from_millis(100));
    }
    assert!(rounds >= 10, "only {rounds} rounds");
    // Still open: one more round trip works.
    assert_eq!(exchange(&mut client, b"last"), b"last");
}

/// With `--max-connections 1`, a second client while the first is connected
/// is closed at once, and served once the first has gone.
#[test]
fn max_connections_closes_the_extra_client() {
    let gyre = Gyre::start(&[
        "echo",
        "--listen",
        LOOPBACK_ANY_PORT,
        "--max-connections",
        "1",
    ]);
    let mut first = gyre.connect();
    assert_eq!(exchange(&mut first, b"one"), b"one");
    let mut second = gyre.connect();
    let _ = second.write_all(b"two");
    if let Err(e) = peer_closed(&mut second) {
        panic!(
            "the second client was not closed: {e}\n{}",
            gyre.transcript()
        );
    }
    let line = gyre.wait_for_line("Refusing connection from ");
    let port = second.local_addr().expect("addr").port();
    assert!(
        line.ends_with(&format!(
            "Refusing connection from IPv4Address(type='TCP', host='127.0.0.1', \
             port={port}): 1 connections already open (limit 1)"
        )),
        "{line:?}"
    );
    // The first is untouched.
    assert_eq!(exchange(&mut first, b"still one"), b"still one");
    drop(first);
    gyre.wait_for_connection_count(0);
    let mut third = gyre.connect();
    assert_eq!(exchange(&mut third, b"three"), b"three");
}

/// Every service accepts both options and still serves.
#[test]
fn every_service_takes_both_options() {
    let upstream = Gyre::start(&["echo", "--listen", LOOPBACK_ANY_PORT]);
    let target = format!("tcp:127.0.0.1:{}", upstream.port());
    let services: [&[&str]; 8] = [
        &["echo"],
        &["discard"],
        &["chargen"],
        &["daytime"],
        &["qotd"],
        &["time"],
        &["chat"],
        &["portforward", "--connect", &target],
    ];
    for service in services {
        let mut args = service.to_vec();
        args.extend_from_slice(&[
            "--listen",
            LOOPBACK_ANY_PORT,
            "--idle-timeout",
            "30",
            "--max-connections",
            "5",
        ]);
        let gyre = Gyre::start(&args);
        let mut client = gyre.connect();
        match service[0] {
            "echo" | "portforward" => assert_eq!(exchange(&mut client, b"hi"), b"hi"),
            "discard" => {
                client.write_all(b"into the void").expect("write");
                client
                    .set_read_timeout(Some(Duration::from_millis(100)))
                    .expect("timeout");
                let mut buf = [0u8; 16];
                match client.read(&mut buf) {
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    other => panic!("discard answered {other:?}"),
                }
            }
            _ => {
                let mut buf = [0u8; 4];
                client
                    .read_exact(&mut buf)
                    .expect("the service speaks first");
            }
        }
    }
}
