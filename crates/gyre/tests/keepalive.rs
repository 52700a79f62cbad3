//! TCP keep-alive timing on real sockets (`Transport::set_keep_alive_timing`).
//!
//! What the kernel was told is read from outside gyre, on the server's own
//! socket: its descriptor is found through `/proc/net/tcp` (the row's inode)
//! and `/proc/self/fd`, duplicated with `pidfd_getfd`, and asked with
//! `getsockopt` (`SO_KEEPALIVE`, `TCP_KEEPIDLE`, `TCP_KEEPINTVL`,
//! `TCP_KEEPCNT`); and the row's `tr:tm->when` column shows whether the
//! keep-alive timer is armed (timer kind 2) and how far off it is, in the
//! kernel's `USER_HZ` ticks (100 a second on Linux). That a peer which
//! vanished is then dropped after the probes is tested in
//! `gyre-cli/tests/faults.rs`, which can cut a link.

mod util;

use std::io::Read;
use std::net::SocketAddr;
use std::time::Duration;

use rustix::net::sockopt;
use rustix::process::{PidfdFlags, PidfdGetfdFlags, getpid, pidfd_getfd, pidfd_open};

use gyre::{Protocol, Reactor, Transport};
use util::{Events, Kind, join, peer, run_for, serve_kind};

const LIMIT: Duration = Duration::from_secs(5);

/// `USER_HZ`: the unit of `tm->when` in `/proc/net/tcp`.
const TICKS_PER_SECOND: u64 = 100;

/// `tr` of a socket whose keep-alive timer (`sk_timer`) is pending.
const TIMER_KEEPALIVE: u8 = 2;

fn reactor() -> Reactor {
    util::capture_logs();
    Reactor::new().unwrap()
}

/// What a server does to its transport's keep-alive when a client connects.
#[derive(Debug, Clone, Copy)]
enum Setting {
    /// `set_keep_alive(true)` only: the system's timing.
    On,
    /// `set_keep_alive_timing(idle, interval, count)`.
    Timing(Duration, Duration, u32),
}

/// Applies a [`Setting`], records the outcome and `keep_alive()` after it,
/// and tells the client it is done with one byte.
struct Apply {
    setting: Setting,
    seen: Events,
}

impl Protocol for Apply {
    fn connection_made(&mut self, t: &Transport) {
        let outcome = match self.setting {
            Setting::On => t.set_keep_alive(true),
            Setting::Timing(idle, interval, count) => {
                t.set_keep_alive_timing(idle, interval, count)
            }
        };
        let outcome = outcome.map_err(|e| e.kind());
        let on = t.keep_alive().map_err(|e| e.kind());
        self.seen.push(format!("{outcome:?} keep_alive={on:?}"));
        t.write(b"!");
    }
}

/// What the kernel says of a server socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Kernel {
    /// `SO_KEEPALIVE`.
    on: bool,
    /// `TCP_KEEPIDLE`, `TCP_KEEPINTVL` (whole seconds) and `TCP_KEEPCNT`.
    timing: (u64, u64, u32),
    /// `tr` of its `/proc/net/tcp` row: which timer is pending.
    timer: u8,
    /// `tm->when`: ticks until it fires.
    when: u64,
}

/// Reads [`Kernel`] for this process's socket from `local` to `remote`.
fn kernel_view(local: SocketAddr, remote: SocketAddr) -> Kernel {
    let (timer, when, inode) = row_of(local, remote);
    let wanted = format!("socket:[{inode}]");
    let fd: i32 = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| std::fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy() == wanted))
        .and_then(|e| e.file_name().to_str()?.parse().ok())
        .unwrap_or_else(|| panic!("no descriptor of this process is {wanted}"));
    let me = pidfd_open(getpid(), PidfdFlags::empty()).expect("pidfd_open");
    let socket = pidfd_getfd(&me, fd, PidfdGetfdFlags::empty()).expect("pidfd_getfd");
    Kernel {
        on: sockopt::socket_keepalive(&socket).unwrap(),
        timing: (
            sockopt::tcp_keepidle(&socket).unwrap().as_secs(),
            sockopt::tcp_keepintvl(&socket).unwrap().as_secs(),
            sockopt::tcp_keepcnt(&socket).unwrap(),
        ),
        timer,
        when,
    }
}

/// The `tr`, `tm->when` (in ticks) and inode of the `/proc/net/tcp` row of
/// the socket from `local` to `remote`.
fn row_of(local: SocketAddr, remote: SocketAddr) -> (u8, u64, u64) {
    let hex = |a: SocketAddr| {
        let SocketAddr::V4(a) = a else {
            panic!("IPv4 only: {a}")
        };
        let ip = u32::from_ne_bytes(a.ip().octets());
        format!("{ip:08X}:{:04X}", a.port())
    };
    let (local, remote) = (hex(local), hex(remote));
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    for row in table.lines().skip(1) {
        let fields: Vec<&str> = row.split_whitespace().collect();
        if fields.get(1) == Some(&local.as_str()) && fields.get(2) == Some(&remote.as_str()) {
            let (tr, when) = fields[5].split_once(':').expect("tr:tm->when");
            return (
                u8::from_str_radix(tr, 16).expect("tr"),
                u64::from_str_radix(when, 16).expect("tm->when"),
                fields[9].parse().expect("inode"),
            );
        }
    }
    panic!("no row {local} {remote} in /proc/net/tcp:\n{table}");
}

/// Serves [`Apply`] with `setting` on 127.0.0.1, connects once, waits for
/// the server's byte, then reads what the kernel says of the server's
/// socket. Returns what the server recorded and that.
fn apply(setting: Setting) -> (Vec<String>, Kernel) {
    let reactor = reactor();
    let seen = Events::default();
    let s = seen.clone();
    let served = serve_kind(Kind::Tcp, &reactor, 1, move || Apply {
        setting,
        seen: s.clone(),
    });
    let server = served.addr();
    let client = peer(&reactor, move || {
        let mut stream = util::std_connect(server);
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).expect("the server's byte");
        kernel_view(server, stream.local_addr().unwrap())
    });
    run_for(&reactor, LIMIT);
    let kernel = join(client);
    (seen.get(), kernel)
}

/// One of the system's keep-alive settings (`tcp_keepalive_time`, `_intvl`, `_probes`).
fn system(name: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/sys/net/ipv4/{name}")).unwrap();
    text.trim().parse().unwrap()
}

/// Keep-alive timing sets `TCP_KEEPIDLE`, `TCP_KEEPINTVL` and `TCP_KEEPCNT` and arms the keep-alive timer
/// for the first probe `idle` from now, where plain `SO_KEEPALIVE` keeps the system's timing.
#[test]
fn timing_sets_idle_interval_and_count() {
    let (seen, kernel) = apply(Setting::Timing(
        Duration::from_secs(30),
        Duration::from_secs(7),
        4,
    ));
    assert_eq!(seen, ["Ok(()) keep_alive=Ok(true)"]);
    assert!(kernel.on);
    assert_eq!(kernel.timing, (30, 7, 4));
    assert_eq!(kernel.timer, TIMER_KEEPALIVE, "no keep-alive timer pending");
    assert!(
        kernel.when <= 30 * TICKS_PER_SECOND,
        "first probe in {} ticks, later than 30 s",
        kernel.when
    );

    // The control: SO_KEEPALIVE alone leaves the system's timing.
    let (seen, kernel) = apply(Setting::On);
    assert_eq!(seen, ["Ok(()) keep_alive=Ok(true)"]);
    let defaults = (
        system("tcp_keepalive_time"),
        system("tcp_keepalive_intvl"),
        system("tcp_keepalive_probes") as u32,
    );
    assert_eq!(kernel.timing, defaults);
    assert_eq!(kernel.timer, TIMER_KEEPALIVE);
    assert!(kernel.when > 30 * TICKS_PER_SECOND, "{kernel:?}");
}

/// A fraction of a second is rounded up to the next whole second (the kernel's unit),
/// never down to a shorter time or to zero.
#[test]
fn fractions_of_a_second_round_up() {
    let (seen, kernel) = apply(Setting::Timing(
        Duration::from_millis(1200),
        Duration::from_millis(300),
        1,
    ));
    assert_eq!(seen, ["Ok(()) keep_alive=Ok(true)"]);
    assert_eq!(kernel.timing, (2, 1, 1));
    assert_eq!(kernel.timer, TIMER_KEEPALIVE);
}

/// Values outside Linux's ranges (idle and interval 1..=32767 s, 1..=127 probes) are
/// refused as invalid input, and keep-alive stays off.
#[test]
fn out_of_range_timing_is_refused_and_changes_nothing() {
    let s = Duration::from_secs;
    for (idle, interval, count) in [
        (s(10), s(1), 0),
        (s(10), s(1), 128),
        (s(32_768), s(1), 3),
        (s(10), s(32_768), 3),
        (Duration::ZERO, s(1), 3),
    ] {
        let (seen, kernel) = apply(Setting::Timing(idle, interval, count));
        assert_eq!(
            seen,
            ["Err(InvalidInput) keep_alive=Ok(false)"],
            "{idle:?} {interval:?} {count}"
        );
        assert!(!kernel.on, "SO_KEEPALIVE was left on");
        assert_ne!(
            kernel.timer, TIMER_KEEPALIVE,
            "a keep-alive timer was left running"
        );
    }
}

/// A UNIX stream socket has no TCP keep-alive: the timing is refused as unsupported.
#[test]
fn unix_sockets_refuse_keep_alive_timing() {
    let reactor = reactor();
    let seen = Events::default();
    let s = seen.clone();
    let served = serve_kind(Kind::Unix, &reactor, 1, move || Apply {
        setting: Setting::Timing(Duration::from_secs(3), Duration::from_secs(1), 4),
        seen: s.clone(),
    });
    let client = peer(&reactor, move || {
        let mut stream = served.connect();
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).expect("the server's byte");
    });
    run_for(&reactor, LIMIT);
    join(client);
    assert_eq!(seen.get(), ["Err(Unsupported) keep_alive=Err(Unsupported)"]);
}
