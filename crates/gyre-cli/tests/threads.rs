//! `--threads N`: N reactors on N threads over the same ports, end to end.
//! The ports come from the `… starting on <port>` lines (one per thread);
//! the spreading of connections across threads is tested in the library
//! (`crates/gyre/tests/pool.rs`), where each thread's share can be counted.

#[allow(dead_code)] // the kit has more than these tests use
mod util;

use rustix::process::Signal;
use util::{
    Gyre, LOOPBACK_ANY_PORT, assert_log, assert_log_line, assert_no_alarm, connect, exchange,
    peer_closed, port_of_starting_line, position,
};

/// `gyre echo --threads 2`: both threads listen on the one port picked for
/// port 0, 32 clients are all echoed, and SIGTERM shuts both reactors down
/// in order (connections closed, each port closed, each `Main loop
/// terminated.`) with exit 0.
#[test]
fn echo_on_two_threads_shares_the_port_and_stops_in_order() {
    let mut gyre = Gyre::spawn(&["echo", "--threads", "2", "--listen", LOOPBACK_ANY_PORT]);
    let starting = gyre.wait_for_lines(" starting on ", 2);
    let ports: Vec<u16> = starting.iter().map(|l| port_of_starting_line(l)).collect();
    assert_eq!(ports[0], ports[1], "{}", gyre.transcript());
    let mut systems: Vec<&str> = starting.iter().map(|l| assert_log_line(l).0).collect();
    systems.sort();
    assert_eq!(systems, ["reactor-0", "reactor-1"]);

    let addr = (std::net::Ipv4Addr::LOCALHOST, ports[0]).into();
    let mut clients: Vec<_> = (0..32).map(|_| connect(addr)).collect();
    for (i, client) in clients.iter_mut().enumerate() {
        let msg = format!("client {i}\n");
        assert_eq!(exchange(client, msg.as_bytes()), msg.as_bytes());
    }

    gyre.signal(Signal::TERM);
    for client in &mut clients {
        if let Err(why) = peer_closed(client) {
            panic!("client not closed by SIGTERM: {why}\n{}", gyre.transcript());
        }
    }
    let status = gyre.wait_exit();
    assert_eq!(status.code(), Some(0), "{status:?}\n{}", gyre.transcript());
    let lines = gyre.lines();
    assert_log(&lines);
    assert_no_alarm(&lines);
    let received = position(&lines, "Received SIGTERM, shutting down.");
    for thread in ["reactor-0", "reactor-1"] {
        let at = |text: &str| {
            lines
                .iter()
                .position(|l| {
                    let (system, said) = assert_log_line(l);
                    system.ends_with(thread) && said.starts_with(text)
                })
                .unwrap_or_else(|| panic!("{thread}: no {text:?}\n{}", lines.join("\n")))
        };
        let order = [
            received,
            at(&format!("(TCP Port {} Closed)", ports[0])),
            at("Stopping factory "),
            at("Main loop terminated."),
        ];
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "{thread} out of order:\n{}",
            lines.join("\n")
        );
    }
    let ends = lines
        .iter()
        .filter(|l| l.ends_with("] Main loop terminated."))
        .count();
    assert_eq!(ends, 2, "{}", lines.join("\n"));
}

/// A bad `--threads` is one line and exit 64, before anything listens.
#[test]
fn bad_thread_counts_exit_64() {
    for (args, line) in [
        (
            &["echo", "--threads", "0"][..],
            "gyre: --threads: '0' is not a whole number from 1 to 1024",
        ),
        (
            &["discard", "--threads=two"][..],
            "gyre: --threads: 'two' is not a whole number from 1 to 1024",
        ),
        (
            &["chat", "--threads", "2"][..],
            "gyre: --threads: chat keeps its one room on one reactor; it runs with --threads 1 only",
        ),
    ] {
        let mut gyre = Gyre::spawn(args);
        let status = gyre.wait_exit();
        assert_eq!(status.code(), Some(64), "{args:?}\n{}", gyre.transcript());
        assert_eq!(gyre.lines(), [line], "{args:?}");
    }
}

/// `gyre portforward --threads 2`: every thread builds its own upstream
/// endpoint from the `--connect` description; 8 clients are relayed to an
/// echo server and back, and SIGTERM ends both threads with exit 0.
#[test]
fn portforward_on_two_threads_relays() {
    let mut echo = Gyre::service("echo");
    let upstream = format!("tcp:127.0.0.1:{}", echo.port());
    let mut forward = Gyre::spawn(&[
        "portforward",
        "--threads",
        "2",
        "--listen",
        LOOPBACK_ANY_PORT,
        "--connect",
        &upstream,
    ]);
    let starting = forward.wait_for_lines(" starting on ", 2);
    let port = port_of_starting_line(&starting[0]);
    let addr = (std::net::Ipv4Addr::LOCALHOST, port).into();
    for i in 0..8 {
        let mut client = connect(addr);
        let msg = format!("relayed {i}\n");
        assert_eq!(exchange(&mut client, msg.as_bytes()), msg.as_bytes());
    }
    for gyre in [&mut forward, &mut echo] {
        gyre.signal(Signal::TERM);
        let status = gyre.wait_exit();
        assert_eq!(status.code(), Some(0), "{status:?}\n{}", gyre.transcript());
    }
    let lines = forward.lines();
    assert_log(&lines);
    let ends = lines
        .iter()
        .filter(|l| l.ends_with("] Main loop terminated."))
        .count();
    assert_eq!(ends, 2, "{}", lines.join("\n"));
}
