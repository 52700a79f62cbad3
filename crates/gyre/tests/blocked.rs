//! Blocked-reactor detection: a callback that holds the loop past the
//! threshold is named in one line with how long it took; callbacks that
//! do not stay unlogged; repeated blocks are rate-limited; off is off.
//!
//! The blocking callbacks sleep well past the threshold (200 ms against
//! 50 ms) and the quiet run's threshold is far above anything it does,
//! so no outcome depends on the machine's speed.

mod util;

use std::cell::Cell;
use std::io::{Read, Write};
use std::rc::Rc;
use std::time::Duration;

use gyre::{Protocol, Reactor, Transport, for_protocol};
use util::{loopback, run_for};

const LIMIT: Duration = Duration::from_secs(20);
const THRESHOLD: Duration = Duration::from_millis(50);
const BLOCK: Duration = Duration::from_millis(200);

fn blocked_lines() -> Vec<String> {
    util::logs()
        .into_iter()
        .map(|l| l.text)
        .filter(|t| t.starts_with("The reactor was blocked for "))
        .collect()
}

/// The milliseconds a line reports.
fn millis(line: &str) -> u128 {
    line["The reactor was blocked for ".len()..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no duration in {line:?}"))
}

/// Sleeps in `data_received` (seed 003's `time.sleep`), then echoes.
struct Sleepy;

impl Protocol for Sleepy {
    fn data_received(&mut self, t: &Transport, data: &[u8]) {
        std::thread::sleep(BLOCK);
        t.write(data);
    }
}

/// A protocol callback that blocks: named by its callback and its
/// connection's log system, with at least the time it slept.
#[test]
fn a_blocking_data_received_is_named() {
    util::capture_logs();
    let reactor = Reactor::new().unwrap();
    reactor.set_blocked_threshold(Some(THRESHOLD));
    let port = reactor
        .listen_tcp_with(0, for_protocol(|| Sleepy), loopback())
        .unwrap();
    let addr = port.address();
    let client = util::peer(&reactor, move || {
        let mut s = util::std_connect(addr);
        s.write_all(b"hi").unwrap();
        let mut back = [0u8; 2];
        s.read_exact(&mut back).unwrap();
        back
    });
    run_for(&reactor, LIMIT);
    assert_eq!(&util::join(client), b"hi");
    let lines = blocked_lines();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].ends_with(" ms by data_received of Sleepy,0,127.0.0.1"),
        "{}",
        lines[0]
    );
    // The detection's clock is precise to a scheduler tick (at most 4 ms).
    assert!(millis(&lines[0]) >= BLOCK.as_millis() - 10, "{}", lines[0]);
}

/// A timed call that blocks: named by its function (the closure's type
/// name, which names the function it was written in).
#[test]
fn a_blocking_timer_is_named_by_its_function() {
    util::capture_logs();
    let reactor = Reactor::new().unwrap();
    reactor.set_blocked_threshold(Some(THRESHOLD));
    let r = reactor.clone();
    reactor.call_later(Duration::ZERO, move || {
        std::thread::sleep(BLOCK);
        let _ = r.stop();
    });
    run_for(&reactor, LIMIT);
    let lines = blocked_lines();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].contains(
            " ms by the timed call blocked::a_blocking_timer_is_named_by_its_function::{{closure}}"
        ),
        "{}",
        lines[0]
    );
}

/// A call from a thread that blocks is named as one.
#[test]
fn a_blocking_call_from_a_thread_is_named() {
    util::capture_logs();
    let reactor = Reactor::new().unwrap();
    reactor.set_blocked_threshold(Some(THRESHOLD));
    let handle = reactor.thread_handle();
    std::thread::spawn(move || {
        handle.call_from_thread(|r| {
            std::thread::sleep(BLOCK);
            let _ = r.stop();
        });
    });
    run_for(&reactor, LIMIT);
    let lines = blocked_lines();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].ends_with(" ms by a call from a thread"),
        "{}",
        lines[0]
    );
}

/// Blocks in a row are rate-limited: one line for three blocks within a
/// second, and the next line, a second later, counts the two left out.
#[test]
fn repeated_blocks_are_rate_limited() {
    util::capture_logs();
    let reactor = Reactor::new().unwrap();
    reactor.set_blocked_threshold(Some(THRESHOLD));
    for _ in 0..3 {
        reactor.call_later(Duration::ZERO, || {
            std::thread::sleep(Duration::from_millis(80))
        });
    }
    let r = reactor.clone();
    reactor.call_later(Duration::from_millis(1100), move || {
        std::thread::sleep(Duration::from_millis(80));
        let _ = r.stop();
    });
    run_for(&reactor, LIMIT);
    let lines = blocked_lines();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(!lines[0].contains("more blocks"), "{}", lines[0]);
    assert!(
        lines[1].ends_with(" (2 more blocks since the last report)"),
        "{}",
        lines[1]
    );
}

/// Ordinary work (an echo exchange, timers, futures) logs nothing; a
/// reactor with the detection off logs nothing even for a block.
#[test]
fn quiet_otherwise_and_off_when_off() {
    util::capture_logs();
    struct Echo;
    impl Protocol for Echo {
        fn data_received(&mut self, t: &Transport, data: &[u8]) {
            t.write(data);
        }
    }
    let reactor = Reactor::new().unwrap();
    // Far above anything this run does, even on a loaded machine.
    reactor.set_blocked_threshold(Some(Duration::from_secs(5)));
    let port = reactor
        .listen_tcp_with(0, for_protocol(|| Echo), loopback())
        .unwrap();
    let addr = port.address();
    let client = util::peer(&reactor, move || {
        let mut s = util::std_connect(addr);
        for _ in 0..200 {
            s.write_all(b"ping").unwrap();
            let mut back = [0u8; 4];
            s.read_exact(&mut back).unwrap();
        }
    });
    for i in 0..50 {
        reactor.call_later(Duration::from_millis(i), || {});
    }
    run_for(&reactor, LIMIT);
    util::join(client);
    assert_eq!(blocked_lines(), Vec::<String>::new());

    let reactor = Reactor::new().unwrap();
    reactor.set_blocked_threshold(None);
    assert_eq!(reactor.blocked_threshold(), None);
    let r = reactor.clone();
    reactor.call_later(Duration::ZERO, move || {
        std::thread::sleep(BLOCK);
        let _ = r.stop();
    });
    run_for(&reactor, LIMIT);
    assert_eq!(blocked_lines(), Vec::<String>::new());
}

/// The default: on, at 100 ms.
#[test]
fn on_by_default_at_100_ms() {
    let reactor = Reactor::new().unwrap();
    assert_eq!(
        reactor.blocked_threshold(),
        Some(Duration::from_millis(100))
    );
}

/// A spawned future whose poll blocks is named by its type (the async
/// block's, which names the function it was written in).
#[test]
fn a_blocking_future_poll_is_named() {
    util::capture_logs();
    let reactor = Reactor::new().unwrap();
    reactor.set_blocked_threshold(Some(THRESHOLD));
    let r = reactor.clone();
    reactor.spawn(async move {
        r.sleep(Duration::from_millis(1)).await.unwrap();
        std::thread::sleep(BLOCK);
        let _ = r.stop();
    });
    run_for(&reactor, LIMIT);
    let lines = blocked_lines();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0]
            .contains(" ms by the future blocked::a_blocking_future_poll_is_named::{{closure}}"),
        "{}",
        lines[0]
    );
}

/// The callbacks of a `defer_to_thread` Deferred that block are named by
/// the function that ran on the thread.
#[test]
fn blocking_deferred_callbacks_are_named() {
    util::capture_logs();
    let reactor = Reactor::new().unwrap();
    reactor.set_blocked_threshold(Some(THRESHOLD));
    let r = reactor.clone();
    let got = Rc::new(Cell::new(None));
    let g = got.clone();
    reactor.defer_to_thread(|| 7).consume(move |result| {
        g.set(result.ok());
        std::thread::sleep(BLOCK);
        let _ = r.stop();
    });
    run_for(&reactor, LIMIT);
    assert_eq!(got.get(), Some(7));
    let lines = blocked_lines();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].contains(
            " ms by the callbacks of the Deferred of defer_to_thread(blocked::blocking_deferred_callbacks_are_named::{{closure}})"
        ),
        "{}",
        lines[0]
    );
}
