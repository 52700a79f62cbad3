//! TCP keep-alive timing on real sockets (`Transport::set_keep_alive_timing`).
//!
//! What the kernel was told is read from outside gyre: the keep-alive timer
//! of the server's socket in `/proc/net/tcp` (column `tr:tm->when`: timer
//! kind 2 and the time left, in the kernel's `USER_HZ` ticks, 100 a second
//! on Linux). That a peer which vanished is then dropped after the probes
//! is tested in `gyre-cli/tests/faults.rs`, which can cut a link.

mod util;

use std::io::Read;
use std::net::SocketAddr;
use std::time::Duration;

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

/// The `tr` and `tm->when` (in ticks) of the `/proc/net/tcp` row of the
/// socket from `local` to `remote`.
fn timer_of(local: SocketAddr, remote: SocketAddr) -> (u8, u64) {
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
            );
        }
    }
    panic!("no row {local} {remote} in /proc/net/tcp:\n{table}");
}

/// Serves [`Apply`] with `setting` on 127.0.0.1, connects once, waits for
/// the server's byte, then reads the server socket's timer. Returns what
/// the server recorded and the timer.
fn apply(setting: Setting) -> (Vec<String>, (u8, u64)) {
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
        timer_of(server, stream.local_addr().unwrap())
    });
    run_for(&reactor, LIMIT);
    let timer = join(client);
    (seen.get(), timer)
}

/// The system's idle time before the first probe, in ticks.
fn system_idle_ticks() -> u64 {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_keepalive_time").unwrap();
    text.trim().parse::<u64>().unwrap() * TICKS_PER_SECOND
}

/// Keep-alive timing sets the first probe `idle` after the last traffic, where plain
/// `SO_KEEPALIVE` leaves the system's idle time.
#[test]
fn timing_sets_the_idle_time_of_the_first_probe() {
    let (seen, (tr, when)) = apply(Setting::Timing(
        Duration::from_secs(3),
        Duration::from_secs(1),
        4,
    ));
    assert_eq!(seen, ["Ok(()) keep_alive=Ok(true)"]);
    assert_eq!(tr, TIMER_KEEPALIVE, "no keep-alive timer pending");
    assert!(
        (2 * TICKS_PER_SECOND..=3 * TICKS_PER_SECOND).contains(&when),
        "first probe in {when} ticks, not within 3 s"
    );

    // The control: the same reading with the system's timing.
    let (seen, (tr, when)) = apply(Setting::On);
    assert_eq!(seen, ["Ok(()) keep_alive=Ok(true)"]);
    assert_eq!(tr, TIMER_KEEPALIVE);
    let system = system_idle_ticks();
    assert!(
        when > system - 2 * TICKS_PER_SECOND && when <= system,
        "first probe in {when} ticks, not the system's {system}"
    );
}

/// A fraction of a second is rounded up to the next whole second (the kernel's unit),
/// never down to a shorter idle time or to zero.
#[test]
fn fractions_of_a_second_round_up() {
    let (seen, (tr, when)) = apply(Setting::Timing(
        Duration::from_millis(1200),
        Duration::from_millis(300),
        1,
    ));
    assert_eq!(seen, ["Ok(()) keep_alive=Ok(true)"]);
    assert_eq!(tr, TIMER_KEEPALIVE);
    assert!(
        (TICKS_PER_SECOND + 1..=2 * TICKS_PER_SECOND).contains(&when),
        "1.2 s became {when} ticks, not 2 s"
    );
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
        let (seen, (tr, _)) = apply(Setting::Timing(idle, interval, count));
        assert_eq!(
            seen,
            ["Err(InvalidInput) keep_alive=Ok(false)"],
            "{idle:?} {interval:?} {count}"
        );
        assert_ne!(tr, TIMER_KEEPALIVE, "a keep-alive timer was left running");
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
