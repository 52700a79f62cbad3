//! `gyre exec` end to end over 127.0.0.1: a program per connection with
//! its stdin and stdout wired to the socket, half-close passed on both
//! ways, stderr logged with the connection's prefix, a missing program,
//! the child of a client that left (SIGTERM, then SIGKILL after the
//! grace), back-pressure with memory bounded, 200 connections at once,
//! and the limits every service takes.

#[allow(dead_code)] // the kit has more than these tests use
mod util;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use util::{Gyre, LOOPBACK_ANY_PORT, peer_closed, read_to_eof};

fn exec(extra: &[&str], command: &[&str]) -> Gyre {
    let mut args = vec!["exec", "--listen", LOOPBACK_ANY_PORT];
    args.extend_from_slice(extra);
    args.push("--");
    args.extend_from_slice(command);
    Gyre::start(&args)
}

/// `cat` per connection: what the client sends comes back; the client's
/// half-close ends cat's input, cat's exit closes the connection after
/// its output, and the end is logged with Twisted's text.
/// The same through the policies (`--idle-timeout`, `--max-connections`
/// wrap the protocol): the half-close still passes.
#[test]
fn cat_echoes_and_half_close_is_passed_on() {
    for extra in [
        &[][..],
        &["--idle-timeout", "30", "--max-connections", "10"][..],
    ] {
        let gyre = exec(extra, &["cat"]);
        let mut client = gyre.connect();
        client.write_all(b"hello, process\n").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        assert_eq!(
            read_to_eof(&mut client, 1 << 20),
            b"hello, process\n",
            "{extra:?}"
        );
        gyre.wait_for_line(
            "A process has ended without apparent errors: process finished with exit code 0.",
        );
    }
}

/// The child's stderr is logged line by line under the connection's log
/// system; its exit code reaches the log too.
#[test]
fn stderr_is_logged_with_the_connection() {
    let gyre = exec(
        &[],
        &["sh", "-c", "echo first >&2; echo second >&2; exit 3"],
    );
    let mut client = gyre.connect();
    peer_closed(&mut client).unwrap();
    let first = gyre.wait_for_line(" stderr: first");
    assert!(first.contains("[ExecConnection,0,127.0.0.1]"), "{first}");
    let second = gyre.wait_for_line(" stderr: second");
    assert!(second.contains("[ExecConnection,0,127.0.0.1]"), "{second}");
    gyre.wait_for_line("process ended with exit code 3.");
}

/// A program that does not exist: one line saying so, the connection
/// closed, the server still serving.
#[test]
fn a_missing_program_is_one_line_and_a_close() {
    let gyre = exec(&[], &["/nonexistent/program", "x"]);
    for _ in 0..2 {
        let mut client = gyre.connect();
        peer_closed(&mut client).unwrap();
    }
    let lines = gyre.wait_for_lines(
        "cannot run /nonexistent/program: No such file or directory",
        2,
    );
    assert_eq!(lines.len(), 2);
}

/// A client that leaves while its program runs: the program gets SIGTERM;
/// one that ignores it gets SIGKILL after the grace period. (A client's
/// close looks like a half-close until something is written to it, so
/// the programs here keep writing.)
#[test]
fn a_client_leaving_ends_its_program() {
    let gyre = exec(
        &["--grace", "0.2"],
        &[
            "sh",
            "-c",
            "trap '' TERM PIPE; echo ready; while :; do sleep 0.05; echo tick; done",
        ],
    );
    let mut client = gyre.connect();
    let mut ready = [0u8; 6];
    client.read_exact(&mut ready).unwrap();
    assert_eq!(&ready, b"ready\n");
    drop(client);
    gyre.wait_for_line("client gone: sent SIGTERM to process");
    gyre.wait_for_line("after SIGTERM: sent SIGKILL");
    gyre.wait_for_line("process ended by signal 9.");

    // A program that does not ignore it ends with SIGTERM alone.
    let gyre = exec(
        &[],
        &[
            "sh",
            "-c",
            "echo ready; while :; do sleep 0.05; echo tick; done",
        ],
    );
    let mut client = gyre.connect();
    let mut ready = [0u8; 6];
    client.read_exact(&mut ready).unwrap();
    drop(client);
    gyre.wait_for_line("process ended by signal 15.");
    assert!(!gyre.transcript().contains("SIGKILL"));
}

/// 32 MiB through `cat` to a client that reads only once it has sent it
/// all: gyre's memory stays bounded (back-pressure holds both ways: the
/// client's bytes wait in the kernel, not in gyre), and every byte comes
/// back in order.
#[test]
fn back_pressure_keeps_memory_bounded() {
    const TOTAL: usize = 32 * 1024 * 1024;
    let gyre = exec(&[], &["cat"]);
    let before = gyre.rss_kib();
    let mut client = gyre.connect();
    let mut writer = client.try_clone().unwrap();
    let data: Vec<u8> = (0..TOTAL).map(|i| (i % 251) as u8).collect();
    let expected = data.clone();
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let sender = thread::spawn(move || {
        for chunk in data.chunks(64 * 1024) {
            writer.write_all(chunk).unwrap();
            counter.fetch_add(chunk.len(), Ordering::SeqCst);
        }
        writer.shutdown(Shutdown::Write).unwrap();
    });
    // Nothing is read until 8 MiB are on their way (more than gyre's
    // write cap: without back-pressure the connection would be closed as
    // a slow consumer, and the bytes would not all come back).
    let deadline = Instant::now() + util::LIMIT;
    while sent.load(Ordering::SeqCst) < 8 * 1024 * 1024 {
        assert!(Instant::now() < deadline, "the client could not send 8 MiB");
        thread::sleep(Duration::from_millis(5));
    }
    let back = read_to_eof(&mut client, TOTAL + 1);
    sender.join().unwrap();
    assert!(
        back == expected,
        "the bytes came back changed ({} of {TOTAL})",
        back.len()
    );
    let peak = gyre.peak_rss_kib();
    assert!(
        peak < before + 16 * 1024,
        "gyre's peak RSS grew from {before} KiB to {peak} KiB for 32 MiB through cat"
    );
}

/// 200 connections at once, each with its own `cat`: every one gets its
/// own bytes back.
#[test]
fn two_hundred_connections_at_once() {
    let gyre = exec(&[], &["cat"]);
    let addr = gyre.addr();
    let clients: Vec<_> = (0..200)
        .map(|i| {
            thread::spawn(move || {
                let mut s = util::connect(addr);
                let message = format!("connection {i}\n").repeat(100);
                s.write_all(message.as_bytes()).unwrap();
                s.shutdown(Shutdown::Write).unwrap();
                let back = read_to_eof(&mut s, 1 << 20);
                back == message.as_bytes()
            })
        })
        .collect();
    let ok = clients
        .into_iter()
        .map(|c| c.join().expect("client thread"))
        .filter(|&same| same)
        .count();
    assert_eq!(ok, 200, "connections that got their own bytes back");
}

/// --max-connections and --idle-timeout, as for every service.
#[test]
fn limits_apply() {
    let gyre = exec(
        &["--max-connections", "1", "--idle-timeout", "0.3"],
        &["cat"],
    );
    let mut first = gyre.connect();
    first.write_all(b"x").unwrap();
    let mut one = [0u8; 1];
    first.read_exact(&mut one).unwrap();
    let mut second = gyre.connect();
    peer_closed(&mut second).unwrap();
    // The first, now idle, is closed by the timeout.
    peer_closed(&mut first).unwrap();
}
