//! The services' listen backlog as the kernel sees it: the library's
//! documented default of 1024 (capped by `net.core.somaxconn`) unless the
//! `--listen` description gives `backlog=N`, with one reactor or several.
//!
//! The accept queue's limit is read back through `sock_diag`, with the
//! library tests' reader (`crates/gyre/tests/util/listen_queue.rs`).

#[path = "../../gyre/tests/util/listen_queue.rs"]
mod listen_queue;
#[allow(dead_code)] // the kit has more than these tests use
mod util;

use std::net::SocketAddr;

use listen_queue::accept_queue_limits;
use util::{Gyre, port_of_starting_line};

/// The default the docs promise (README, `gyre --help`).
const DOCUMENTED_DEFAULT: u32 = 1024;

/// What the kernel makes of a requested backlog: Linux caps it at
/// `net.core.somaxconn`.
fn capped(backlog: u32) -> u32 {
    let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .expect("read net.core.somaxconn")
        .trim()
        .parse()
        .expect("somaxconn is a number");
    backlog.min(somaxconn)
}

/// The limits of every socket listening on 127.0.0.1:`port`.
#[track_caller]
fn limits(port: u16) -> Vec<u32> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    accept_queue_limits(addr).expect("sock_diag answers")
}

/// `gyre echo` without `backlog=` listens with the documented 1024.
#[test]
fn echo_listens_with_1024_by_default() {
    let gyre = Gyre::start(&["echo", "--listen", "tcp:0:interface=127.0.0.1"]);
    assert_eq!(limits(gyre.port()), [capped(DOCUMENTED_DEFAULT)]);
    assert_ne!(
        capped(DOCUMENTED_DEFAULT),
        50,
        "could not tell 1024 from 50"
    );
}

/// `backlog=1` in the description wins over the default.
#[test]
fn an_explicit_backlog_wins() {
    let gyre = Gyre::start(&["echo", "--listen", "tcp:0:interface=127.0.0.1:backlog=1"]);
    assert_eq!(limits(gyre.port()), [1]);
}

/// With `--threads 2` each reactor's socket gets the default, or the
/// backlog the description gives.
#[test]
fn every_thread_listens_with_the_same_backlog() {
    for (listen, expected) in [
        ("tcp:0:interface=127.0.0.1", capped(DOCUMENTED_DEFAULT)),
        ("tcp:0:interface=127.0.0.1:backlog=3", 3),
    ] {
        let gyre = Gyre::spawn(&["echo", "--threads", "2", "--listen", listen]);
        let starting = gyre.wait_for_lines(" starting on ", 2);
        let port = port_of_starting_line(&starting[0]);
        assert_eq!(limits(port), [expected, expected], "{listen}");
    }
}
