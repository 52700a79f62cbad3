//! Running out of file descriptors while accepting (reference §1.7.1):
//! `Could not accept new connection (EMFILE)` is logged, the port keeps
//! listening, and pending connections are accepted once descriptors are
//! freed.
//!
//! This lowers `RLIMIT_NOFILE` for the whole process, so it lives in its own
//! test binary with a single test; the limit is restored when the test ends,
//! also on failure.

mod util;

use std::cell::Cell;
use std::io::Write;
use std::net::TcpStream;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use gyre::{Protocol, Reactor, TcpListenOptions, Transport, for_protocol};
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use util::{join, peer, read_n, run_for, std_connect};

/// Pending connections in the backlog when the limit is lowered.
const CLIENTS: usize = 8;
/// Descriptors left free for the server to accept with.
const FREE: usize = 3;

/// Echoes, and tells the client thread how many connections have been made.
struct Echo {
    made: Rc<Cell<usize>>,
    told: mpsc::Sender<usize>,
}

impl Protocol for Echo {
    fn connection_made(&mut self, _: &Transport) {
        self.made.set(self.made.get() + 1);
        let _ = self.told.send(self.made.get());
    }
    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        transport.write(data);
    }
}

/// Restores the descriptor limit when dropped.
struct RestoreLimit(Rlimit);

impl Drop for RestoreLimit {
    fn drop(&mut self) {
        setrlimit(Resource::Nofile, self.0).expect("restore RLIMIT_NOFILE");
    }
}

/// The descriptors open in this process now.
fn open_fds() -> Vec<u64> {
    let mut fds = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd") {
        let entry = entry.unwrap();
        // Skip the descriptor of the directory being listed.
        let target = std::fs::read_link(entry.path()).unwrap_or_default();
        if target.to_string_lossy().starts_with("/proc/") && target.ends_with("fd") {
            continue;
        }
        if let Ok(fd) = entry.file_name().to_string_lossy().parse() {
            fds.push(fd);
        }
    }
    fds
}

/// The lowest soft limit that leaves exactly `free` descriptor numbers unused below it.
fn limit_leaving(free: usize) -> u64 {
    let open = open_fds();
    (1..)
        .find(|&limit| limit - open.iter().filter(|&&fd| fd < limit).count() as u64 == free as u64)
        .unwrap()
}

fn ping(i: usize) -> Vec<u8> {
    format!("ping{i}").into_bytes()
}

/// When `accept` fails with EMFILE the error is logged under the port, the port keeps
/// listening, and every pending connection is accepted and served as descriptors are freed.
#[test]
fn accept_survives_running_out_of_descriptors() {
    util::expect_errors(&["Could not accept new connection (EMFILE)"]);
    let reactor = Reactor::new().unwrap();
    let made = Rc::new(Cell::new(0));
    let (tx, rx) = mpsc::channel();
    let m = made.clone();
    let factory = for_protocol(move || Echo {
        made: m.clone(),
        told: tx.clone(),
    });
    let options = TcpListenOptions {
        interface: "127.0.0.1".into(),
        backlog: 64,
        ..Default::default()
    };
    let port = reactor.listen_tcp_with(0, factory, options).unwrap();
    let addr = port.address();
    // Every client completes its handshake into the backlog before the limit drops.
    let mut clients: Vec<Option<TcpStream>> =
        (0..CLIENTS).map(|_| Some(std_connect(addr))).collect();

    let original = getrlimit(Resource::Nofile);
    let restore = RestoreLimit(original);
    let limit = limit_leaving(FREE);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(limit),
            maximum: original.maximum,
        },
    )
    .unwrap();

    let client = peer(&reactor, move || {
        // The first FREE connections are accepted (the backlog is first in, first out)...
        while rx
            .recv_timeout(util::PEER_TIMEOUT)
            .expect("connections made")
            < FREE
        {}
        for (i, c) in clients.iter_mut().enumerate().take(FREE) {
            let c = c.as_mut().unwrap();
            c.write_all(&ping(i)).unwrap();
            assert_eq!(read_n(c, 5), ping(i), "accepted connection {i} is served");
        }
        // ...the others wait, their data queued in the kernel.
        for (i, c) in clients.iter_mut().enumerate().skip(FREE) {
            c.as_mut().unwrap().write_all(&ping(i)).unwrap();
        }
        // Closing served connections frees descriptors on both ends.
        for c in clients.iter_mut().take(FREE) {
            drop(c.take());
        }
        for (i, c) in clients.iter_mut().enumerate().skip(FREE) {
            assert_eq!(
                read_n(c.as_mut().unwrap(), 5),
                ping(i),
                "pending connection {i} is served"
            );
        }
        // And the port still takes new connections.
        drop(clients[FREE].take());
        let mut fresh = std_connect(addr);
        fresh.write_all(b"fresh").unwrap();
        assert_eq!(
            read_n(&mut fresh, 5),
            b"fresh",
            "a new connection is served"
        );
    });
    run_for(&reactor, Duration::from_secs(10));
    drop(restore);
    join(client);

    assert_eq!(made.get(), CLIENTS + 1);
    let lines = util::lines_containing("Could not accept new connection");
    assert!(!lines.is_empty(), "EMFILE not logged: {:#?}", util::texts());
    for line in &lines {
        assert_eq!(line.text, "Could not accept new connection (EMFILE)");
        assert_eq!(line.level, log::Level::Error);
        assert!(
            line.system.starts_with("gyre::ProtocolFactory<"),
            "{}",
            line.system
        );
    }
    assert!(
        util::lines_containing("Unhandled Error").is_empty(),
        "{:#?}",
        util::texts()
    );
}
