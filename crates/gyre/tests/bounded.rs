//! Memory bounded by default, on real sockets: the write cap and what
//! happens past it (`WriteLimit`, `Reason::SlowConsumer`), the turn's work
//! budget that framers and connections yield to, and closes that free what
//! they close (`lose_connection_within`, the idle timeout's grace).
//!
//! The tests listed in `over_both_kinds!` at the bottom run over TCP and a
//! UNIX socketpair (the cap is the shared stream connection's).

mod util;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use gyre::protocols::policies::TimeoutFactory;
use gyre::protocols::{LineConnection, LineProtocol, LineReceiver};
use gyre::transport::{DEFAULT_WRITE_LIMIT, WriteLimit};
use gyre::{Protocol, Reactor, Reason, Transport, for_protocol};
use util::{Events, Kind, join, pattern, peer, run_for, serve_kind};

const LIMIT: Duration = Duration::from_secs(10);
const KIB: usize = 1024;

fn reactor() -> Reactor {
    util::capture_logs();
    Reactor::new().unwrap()
}

/// A short name for a reason, for event lists.
fn describe(reason: &Reason) -> String {
    match reason {
        Reason::SlowConsumer { limit, .. } => format!("SlowConsumer(limit {limit})"),
        Reason::Aborted => "Aborted".into(),
        Reason::Done => "Done".into(),
        other => format!("{other:?}"),
    }
}

/// Writes 16 KiB every millisecond to a peer that never reads, under
/// `limit`, and records how the connection ends and what it saw of its
/// buffer.
struct Flooder {
    limit: WriteLimit,
    ends: Events,
    most_buffered: Rc<Cell<usize>>,
    reactor: Reactor,
}

impl Protocol for Flooder {
    fn connection_made(&mut self, t: &Transport) {
        t.set_write_limit(self.limit);
        let (t, most) = (t.clone(), self.most_buffered.clone());
        let lc = gyre::LoopingCall::new(&self.reactor, move || {
            t.write(&[b'x'; 16 * KIB]);
            most.set(most.get().max(t.buffered()));
        });
        lc.start(Duration::from_millis(1), true).unwrap();
        // Stopped with the reactor; the test ends it.
        std::mem::forget(lc);
    }
    fn connection_lost(&mut self, reason: Reason) {
        self.ends.push(describe(&reason));
        util::stop(&self.reactor);
    }
}

/// A peer that does not read is closed once more than the cap would wait:
/// `connection_lost` gets `Reason::SlowConsumer` with the cap, the buffer
/// never held more than the cap, and one line says why, under the
/// connection's log system.
fn a_peer_that_does_not_read_is_closed_as_a_slow_consumer(kind: Kind) {
    let reactor = reactor();
    let ends = Events::default();
    let most = Rc::new(Cell::new(0));
    let (e, m, r) = (ends.clone(), most.clone(), reactor.clone());
    let served = serve_kind(kind, &reactor, 1, move || Flooder {
        limit: WriteLimit::Close(256 * KIB),
        ends: e.clone(),
        most_buffered: m.clone(),
        reactor: r.clone(),
    });
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let client = std::thread::spawn(move || {
        let s = served.small_window_connect();
        // Hold the connection, unread, until the test is over.
        let _ = done_rx.recv_timeout(LIMIT);
        drop(s);
    });
    run_for(&reactor, LIMIT);
    drop(done_tx);
    join(client);
    assert_eq!(
        ends.get(),
        vec![format!("SlowConsumer(limit {})", 256 * KIB)]
    );
    assert!(most.get() <= 256 * KIB, "buffered {} > the cap", most.get());
    let lines = util::lines_containing("slow consumer");
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].text.starts_with("Closing connection: ")
            && lines[0]
                .text
                .ends_with(&format!("over the limit of {} (slow consumer)", 256 * KIB)),
        "{}",
        lines[0].text
    );
    assert!(
        lines[0].system.starts_with("Flooder,"),
        "{}",
        lines[0].system
    );
}

/// The cap a connection starts with is the library's default, 4 MiB, closing
/// (the factory's `write_limit`), unless the factory says otherwise.
#[test]
fn connections_start_with_the_factory_write_limit() {
    struct Seen(Rc<RefCell<Vec<WriteLimit>>>);
    impl Protocol for Seen {
        fn connection_made(&mut self, t: &Transport) {
            self.0.borrow_mut().push(t.write_limit());
            t.lose_connection();
        }
    }
    struct Capped(Rc<RefCell<Vec<WriteLimit>>>);
    impl gyre::Factory for Capped {
        type Protocol = Seen;
        fn build_protocol(&self, _: &gyre::Address) -> Option<Seen> {
            Some(Seen(self.0.clone()))
        }
        fn write_limit(&self) -> WriteLimit {
            WriteLimit::Drop(1000)
        }
    }
    let reactor = reactor();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let (a, theirs_a) = std::os::unix::net::UnixStream::pair().unwrap();
    let (b, theirs_b) = std::os::unix::net::UnixStream::pair().unwrap();
    let s = seen.clone();
    reactor
        .adopt_unix(a, for_protocol(move || Seen(s.clone())))
        .unwrap();
    reactor.adopt_unix(b, Capped(seen.clone())).unwrap();
    drop((theirs_a, theirs_b));
    assert_eq!(
        *seen.borrow(),
        vec![
            WriteLimit::Close(DEFAULT_WRITE_LIMIT),
            WriteLimit::Drop(1000)
        ]
    );
    assert_eq!(DEFAULT_WRITE_LIMIT, 4 * 1024 * 1024);
}

/// Writes numbered 1 KiB chunks to a peer that is not reading yet, under a
/// dropping cap, until the cap has dropped some; then tells the peer to read
/// and closes once everything kept has gone out.
struct NumberedChunks {
    tell: mpsc::Sender<u32>,
    ends: Events,
    reactor: Reactor,
}

/// Chunk `n`: 1 KiB of the byte `n % 251`, whose first four bytes are `n`.
fn chunk(n: u32) -> Vec<u8> {
    let mut c = vec![(n % 251) as u8; KIB];
    c[..4].copy_from_slice(&n.to_be_bytes());
    c
}

impl Protocol for NumberedChunks {
    fn connection_made(&mut self, t: &Transport) {
        t.set_write_limit(WriteLimit::Drop(64 * KIB));
        let (t, tell, reactor) = (t.clone(), self.tell.clone(), self.reactor.clone());
        // On a later turn, so that writes queue behind what the kernel holds.
        self.reactor.call_later(Duration::ZERO, move || {
            let mut n = 0;
            let mut last = t.buffered();
            let mut dropped = 0;
            // Write until 100 chunks in a row were dropped whole (or a
            // million were written: then the cap never dropped a write,
            // which the test reports, as every chunk arrives).
            while dropped < 100 && n < 1_000_000 {
                t.write(&chunk(n));
                n += 1;
                if t.buffered() == last {
                    dropped += 1;
                } else {
                    dropped = 0;
                }
                last = t.buffered();
            }
            tell.send(n).unwrap();
            t.lose_connection();
            let _ = reactor;
        });
    }
    fn connection_lost(&mut self, reason: Reason) {
        self.ends.push(describe(&reason));
        util::stop(&self.reactor);
    }
}

/// Under `WriteLimit::Drop`, a write that would pass the cap is dropped
/// whole (never a part of one), the connection stays up, what was kept
/// arrives in order, and the first drop is logged once.
fn a_drop_limit_drops_whole_writes_and_keeps_the_connection(kind: Kind) {
    let reactor = reactor();
    let ends = Events::default();
    let (tx, rx) = mpsc::channel();
    let (e, r) = (ends.clone(), reactor.clone());
    let served = serve_kind(kind, &reactor, 1, move || NumberedChunks {
        tell: tx.clone(),
        ends: e.clone(),
        reactor: r.clone(),
    });
    let client = peer(&reactor, move || {
        let mut s = served.small_window_connect();
        let written = rx.recv_timeout(LIMIT).expect("the server wrote");
        let mut got = Vec::new();
        s.read_to_end(&mut got).expect("a clean end");
        (written, got)
    });
    run_for(&reactor, LIMIT);
    let (written, got) = join(client);
    assert_eq!(got.len() % KIB, 0, "only whole chunks arrive");
    let numbers: Vec<u32> = got
        .chunks(KIB)
        .map(|c| {
            let n = u32::from_be_bytes(c[..4].try_into().unwrap());
            assert!(c == chunk(n), "chunk {n} arrived damaged");
            n
        })
        .collect();
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "out of order");
    assert!(
        (numbers.len() as u32) < written,
        "{} of {written} arrived: nothing was dropped",
        numbers.len()
    );
    assert_eq!(numbers[0], 0, "the first chunks are kept");
    assert_eq!(ends.get(), vec!["Done"]);
    let drops = util::lines_containing("Dropping writes");
    assert_eq!(drops.len(), 1, "{drops:#?}");
}

/// One write larger than the cap into an empty buffer is taken whole (the
/// cap bounds what accumulates), and `WriteLimit::Unlimited` lets the buffer
/// grow past any size; everything arrives.
fn a_single_large_write_and_an_unlimited_buffer_are_kept(kind: Kind) {
    struct Big(Events, Reactor, mpsc::Sender<usize>);
    impl Protocol for Big {
        fn connection_made(&mut self, t: &Transport) {
            t.set_write_limit(WriteLimit::Close(64 * KIB));
            // More than the kernel takes at once, even over loopback.
            t.write(&pattern(BIG, 0));
            let after_big = t.buffered();
            // More is refused while more than the cap waits, unless there
            // is no cap.
            t.set_write_limit(WriteLimit::Unlimited);
            for i in 0..8 {
                t.write(&pattern(MIB, BIG + i * MIB));
            }
            self.2.send(after_big).unwrap();
            t.lose_connection();
        }
        fn connection_lost(&mut self, reason: Reason) {
            self.0.push(describe(&reason));
            util::stop(&self.1);
        }
    }
    const MIB: usize = 1024 * KIB;
    const BIG: usize = 16 * MIB;
    let reactor = reactor();
    let ends = Events::default();
    let (tx, rx) = mpsc::channel();
    let (e, r) = (ends.clone(), reactor.clone());
    let served = serve_kind(kind, &reactor, 1, move || {
        Big(e.clone(), r.clone(), tx.clone())
    });
    let client = peer(&reactor, move || {
        let mut s = served.small_window_connect();
        let after_big = rx.recv_timeout(LIMIT).expect("the server wrote");
        let mut got = Vec::new();
        s.read_to_end(&mut got).expect("a clean end");
        (after_big, got)
    });
    run_for(&reactor, LIMIT);
    let (after_big, got) = join(client);
    assert!(
        after_big > 64 * KIB,
        "the big write was buffered: {after_big}"
    );
    assert_eq!(got.len(), BIG + 8 * MIB);
    assert!(got == pattern(BIG + 8 * MIB, 0), "bytes lost or reordered");
    assert_eq!(ends.get(), vec!["Done"]);
}

/// Under a closing cap, a write that would pass it while the buffer is
/// above it closes the connection at once: what the peer had not read is
/// discarded (the connection does not wait to flush it).
#[test]
fn the_cap_does_not_wait_for_a_flush() {
    struct Twice(Events, Reactor);
    impl Protocol for Twice {
        fn connection_made(&mut self, t: &Transport) {
            t.set_write_limit(WriteLimit::Close(64 * KIB));
            t.write(&[1; 1024 * KIB]);
            t.write(&[2; 1024 * KIB]);
            self.0
                .push(format!("buffered after the second write: {}", t.buffered()));
        }
        fn connection_lost(&mut self, reason: Reason) {
            self.0.push(describe(&reason));
            util::stop(&self.1);
        }
    }
    let reactor = reactor();
    let ends = Events::default();
    let (e, r) = (ends.clone(), reactor.clone());
    let served = serve_kind(Kind::Unix, &reactor, 1, move || Twice(e.clone(), r.clone()));
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let client = std::thread::spawn(move || {
        let s = served.connect();
        let _ = done_rx.recv_timeout(LIMIT);
        drop(s);
    });
    run_for(&reactor, LIMIT);
    drop(done_tx);
    join(client);
    assert_eq!(
        ends.get(),
        vec![
            "buffered after the second write: 0".to_string(),
            format!("SlowConsumer(limit {})", 64 * KIB)
        ]
    );
}

/// Echoes each line as 100 bytes, and notes how many lines it had handled
/// when a timer it set at the first line ran.
struct Fan {
    lines: Rc<Cell<usize>>,
    at_timer: Rc<Cell<Option<usize>>>,
    reactor: Reactor,
}

impl LineReceiver for Fan {
    fn connection_made(&mut self, conn: &LineConnection<'_>) {
        // The answers (6.5 MiB) pile up while the reader is slow, on a
        // busy machine past the default 4 MiB cap: what is checked here is
        // the yield, not the cap (tested above), so no cap.
        conn.transport().set_write_limit(WriteLimit::Unlimited);
    }
    fn line_received(&mut self, conn: &LineConnection<'_>, _line: &[u8]) {
        let n = self.lines.get() + 1;
        self.lines.set(n);
        if n == 1 {
            let (lines, at) = (self.lines.clone(), self.at_timer.clone());
            self.reactor
                .call_later(Duration::ZERO, move || at.set(Some(lines.get())));
        }
        conn.transport().write(&[b'.'; 100]);
    }
    fn delimiter(&self) -> &[u8] {
        b"\n"
    }
}

/// A burst of 65,536 lines in one read, each answered with 100 bytes, does
/// not hold the loop: the framer yields once the turn's budget is spent, so
/// a timer that falls due during the burst runs before the burst is done,
/// and every answer still arrives.
fn a_burst_of_lines_yields_to_timers(kind: Kind) {
    const LINES: usize = 65_536;
    let reactor = reactor();
    let lines = Rc::new(Cell::new(0));
    let at_timer = Rc::new(Cell::new(None));
    let (l, a, r) = (lines.clone(), at_timer.clone(), reactor.clone());
    let served = serve_kind(kind, &reactor, 1, move || {
        LineProtocol::new(Fan {
            lines: l.clone(),
            at_timer: a.clone(),
            reactor: r.clone(),
        })
    });
    let client = peer(&reactor, move || {
        let mut s = served.connect();
        let mut reader = match &s {
            util::Peer::Tcp(t) => util::Peer::Tcp(t.try_clone().unwrap()),
            util::Peer::Unix(u) => util::Peer::Unix(u.try_clone().unwrap()),
        };
        let reading = std::thread::spawn(move || {
            let mut got = vec![0; LINES * 100];
            reader.read_exact(&mut got).expect("every answer");
            got.iter().all(|&b| b == b'.')
        });
        s.write_all(&[b'\n'; LINES]).unwrap();
        join(reading)
    });
    run_for(&reactor, LIMIT);
    assert!(join(client), "answers damaged");
    assert_eq!(lines.get(), LINES);
    let at = at_timer.get().expect("the timer ran");
    assert!(
        at < LINES,
        "the timer ran only after all {LINES} lines: the burst held the loop"
    );
}

/// Writes 16 MiB on connect (more than the kernel takes) to a peer that
/// never reads, under an idle timeout of 100 ms with a close grace of
/// 200 ms; records how it ends.
struct Stuck(Events, Reactor);

impl Protocol for Stuck {
    fn connection_made(&mut self, t: &Transport) {
        t.write(&vec![7; 16 * 1024 * KIB]);
    }
    fn connection_lost(&mut self, reason: Reason) {
        self.0.push(describe(&reason));
        util::stop(&self.1);
    }
}

/// The idle timeout frees a connection whose peer stopped reading: its close
/// cannot flush, so after the grace it aborts (`Reason::Aborted`), logging
/// `Timing out client` and then the abort.
fn the_idle_timeout_frees_a_peer_that_stopped_reading(kind: Kind) {
    let reactor = reactor();
    let ends = Events::default();
    let (e, r) = (ends.clone(), reactor.clone());
    let factory = TimeoutFactory::new(
        &reactor,
        for_protocol(move || Stuck(e.clone(), r.clone())),
        Duration::from_millis(100),
    )
    .with_close_grace(Duration::from_millis(200));
    assert_eq!(factory.close_grace(), Duration::from_millis(200));
    let served = util::serve_factory(kind, &reactor, 1, factory);
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let client = std::thread::spawn(move || {
        let s = served.small_window_connect();
        let _ = done_rx.recv_timeout(LIMIT);
        drop(s);
    });
    run_for(&reactor, LIMIT);
    drop(done_tx);
    join(client);
    assert_eq!(ends.get(), vec!["Aborted"]);
    let texts = util::texts();
    util::assert_in_order(&texts, &["Timing out client", "Aborting connection: "]);
}

/// `lose_connection_within` closes cleanly when the buffer drains in time:
/// the peer reads everything, the reason is `Done`, nothing is aborted.
fn lose_connection_within_closes_cleanly_when_it_can(kind: Kind) {
    struct Bye(Events, Reactor);
    impl Protocol for Bye {
        fn connection_made(&mut self, t: &Transport) {
            t.write(&pattern(512 * KIB, 0));
            t.lose_connection_within(Duration::from_secs(5));
        }
        fn connection_lost(&mut self, reason: Reason) {
            self.0.push(describe(&reason));
            util::stop(&self.1);
        }
    }
    let reactor = reactor();
    let ends = Events::default();
    let (e, r) = (ends.clone(), reactor.clone());
    let served = serve_kind(kind, &reactor, 1, move || Bye(e.clone(), r.clone()));
    let client = peer(&reactor, move || util::read_to_eof(&mut served.connect()));
    run_for(&reactor, LIMIT);
    assert!(join(client) == pattern(512 * KIB, 0));
    assert_eq!(ends.get(), vec!["Done"]);
    assert!(util::lines_containing("Aborting").is_empty());
}

over_both_kinds!(
    a_peer_that_does_not_read_is_closed_as_a_slow_consumer,
    a_drop_limit_drops_whole_writes_and_keeps_the_connection,
    a_single_large_write_and_an_unlimited_buffer_are_kept,
    a_burst_of_lines_yields_to_timers,
    the_idle_timeout_frees_a_peer_that_stopped_reading,
    lose_connection_within_closes_cleanly_when_it_can,
);
