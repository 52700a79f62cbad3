//! Producers and consumers on real stream transports (reference §5.1, §5.2):
//! the high-water rule for streaming producers, pull producers asked for
//! more on every drain, registration errors, `stop_producing` when the
//! connection goes, and the echo pattern that keeps memory bounded.
//!
//! A peer that does not read (a std socket with a tiny receive window, see
//! [`util::small_window_connect`]) makes the server's buffer fill; a channel
//! tells it when to start reading.
//!
//! Every test runs twice (`over_both_kinds!` at the bottom): over TCP on
//! loopback and over a UNIX socketpair, since producers belong to the one
//! stream connection both transports share.

mod util;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use gyre::transport::HIGH_WATER;
use gyre::{
    Producer, ProducerError, Protocol, PullProducer, PushProducer, Reactor, Reason, Transport,
};
use util::{
    Events, Kind, fill_kernel, join, pattern, peer, read_n, read_to_eof, run_for, serve_kind,
};

const LIMIT: Duration = Duration::from_secs(10);

fn reactor() -> Reactor {
    util::capture_logs();
    Reactor::new().unwrap()
}

/// A streaming producer that only records what its consumer asks of it.
struct Recorder {
    events: Events,
    transport: Rc<RefCell<Option<Transport>>>,
}

impl Recorder {
    fn buffered(&self) -> usize {
        self.transport
            .borrow()
            .as_ref()
            .map_or(0, Transport::buffered)
    }
}

impl PushProducer for Recorder {
    fn pause_producing(&self) {
        self.events.push(format!("pause at {}", self.buffered()));
    }
    fn resume_producing(&self) {
        self.events.push(format!("resume at {}", self.buffered()));
    }
    fn stop_producing(&self) {
        self.events.push("stop");
    }
}

/// Fills the kernel, registers a [`Recorder`], notes whether 1..=64 KiB were
/// left buffered, then writes up to and past the high-water mark, noting the
/// buffer and the pauses after each write.
struct HighWater {
    events: Events,
    start_reading: mpsc::Sender<usize>,
    reactor: Reactor,
}

impl Protocol for HighWater {
    fn connection_made(&mut self, t: &Transport) {
        let mut total = fill_kernel(t);
        let slot = Rc::new(RefCell::new(Some(t.clone())));
        let producer = Recorder {
            events: self.events.clone(),
            transport: slot,
        };
        t.register_producer(Producer::streaming(producer)).unwrap();
        let start = t.buffered();
        self.events.push(format!(
            "fill_kernel left 1..=64 KiB: {}",
            start > 0 && start <= HIGH_WATER
        ));
        for len in [HIGH_WATER.saturating_sub(start), 1, 1, 20_000] {
            t.write(&pattern(len, total));
            total += len;
            self.events
                .push(format!("wrote {len}: buffered {}", t.buffered()));
        }
        self.start_reading.send(total).unwrap();
    }
    fn connection_lost(&mut self, reason: Reason) {
        self.events.push(format!("connection_lost {reason}"));
        util::stop(&self.reactor);
    }
}

/// A streaming producer is paused on every write that leaves more than 64 KiB buffered
/// (not at exactly 64 KiB), resumed once when the buffer is empty, and stopped when the
/// connection goes.
fn streaming_producer_follows_the_high_water_rule(kind: Kind) {
    let reactor = reactor();
    let events = Events::default();
    let (tx, rx) = mpsc::channel();
    let (e, r) = (events.clone(), reactor.clone());
    let served = serve_kind(kind, &reactor, 1, move || HighWater {
        events: e.clone(),
        start_reading: tx.clone(),
        reactor: r.clone(),
    });
    let client = std::thread::spawn(move || {
        let mut s = served.small_window_connect();
        let total = rx.recv_timeout(util::PEER_TIMEOUT).expect("server wrote");
        let got = read_n(&mut s, total);
        assert!(got == pattern(total, 0));
        // Closing is what ends the connection (the server has nothing more to say).
    });
    run_for(&reactor, LIMIT);
    join(client);
    let events = events.get();
    assert!(
        events[1].ends_with(&format!(": buffered {HIGH_WATER}")),
        "{events:#?}"
    );
    let mut expected = vec![
        "fill_kernel left 1..=64 KiB: true".to_string(),
        events[1].clone(),
    ];
    for (len, after) in [
        (1, HIGH_WATER + 1),
        (1, HIGH_WATER + 2),
        (20_000, HIGH_WATER + 20_002),
    ] {
        expected.push(format!("pause at {after}"));
        expected.push(format!("wrote {len}: buffered {after}"));
    }
    expected.push("resume at 0".into());
    expected.push("stop".into());
    expected.push("connection_lost Connection was closed cleanly.".into());
    assert_eq!(events, expected);
}

/// Fills the buffer past the high-water mark with a [`Recorder`] registered, then
/// closes while the producer is paused.
struct CloseWhilePaused {
    events: Events,
    start_reading: mpsc::Sender<usize>,
    reactor: Reactor,
}

impl Protocol for CloseWhilePaused {
    fn connection_made(&mut self, t: &Transport) {
        let mut total = fill_kernel(t);
        let slot = Rc::new(RefCell::new(Some(t.clone())));
        t.register_producer(Producer::streaming(Recorder {
            events: self.events.clone(),
            transport: slot,
        }))
        .unwrap();
        t.write(&pattern(HIGH_WATER, total));
        total += HIGH_WATER;
        t.lose_connection();
        self.events.push("lose_connection");
        self.start_reading.send(total).unwrap();
    }
    fn connection_lost(&mut self, reason: Reason) {
        self.events.push(format!("connection_lost {reason}"));
        util::stop(&self.reactor);
    }
}

/// `lose_connection` with a paused streaming producer: when the buffer drains the
/// producer is resumed first, the close follows, and the producer is stopped with it.
fn lose_connection_resumes_a_paused_producer_then_closes(kind: Kind) {
    let reactor = reactor();
    let events = Events::default();
    let (tx, rx) = mpsc::channel();
    let (e, r) = (events.clone(), reactor.clone());
    let served = serve_kind(kind, &reactor, 1, move || CloseWhilePaused {
        events: e.clone(),
        start_reading: tx.clone(),
        reactor: r.clone(),
    });
    let client = std::thread::spawn(move || {
        let mut s = served.small_window_connect();
        let total = rx.recv_timeout(util::PEER_TIMEOUT).expect("server wrote");
        let got = read_to_eof(&mut s);
        assert_eq!(got.len(), total);
    });
    run_for(&reactor, LIMIT);
    join(client);
    let events = events.get();
    assert_eq!(events.len(), 5, "{events:#?}");
    assert!(events[0].starts_with("pause at "), "{events:#?}");
    assert_eq!(
        events[1..],
        [
            "lose_connection",
            "resume at 0",
            "stop",
            "connection_lost Connection was closed cleanly."
        ]
    );
}

/// Registering a second producer is a `ProducerError`; after `unregister_producer` it works.
fn registering_a_second_producer_is_an_error(kind: Kind) {
    let reactor = reactor();
    let events = Events::default();
    let outcome = Rc::new(RefCell::new(Vec::new()));
    struct Twice(Events, Rc<RefCell<Vec<String>>>);
    impl Protocol for Twice {
        fn connection_made(&mut self, t: &Transport) {
            let make = || {
                Producer::streaming(Recorder {
                    events: self.0.clone(),
                    transport: Rc::default(),
                })
            };
            let mut out = self.1.borrow_mut();
            out.push(format!("{:?}", t.register_producer(make())));
            let err = t.register_producer(make());
            out.push(format!("{err:?}"));
            if let Err(e) = err {
                out.push(e.to_string());
            }
            t.unregister_producer();
            out.push(format!("{:?}", t.register_producer(make())));
            t.lose_connection();
        }
    }
    let (e, o) = (events.clone(), outcome.clone());
    let served = serve_kind(kind, &reactor, 1, move || Twice(e.clone(), o.clone()));
    let client = peer(&reactor, move || read_to_eof(&mut served.connect()));
    run_for(&reactor, LIMIT);
    join(client);
    assert_eq!(
        *outcome.borrow(),
        vec![
            "Ok(())".to_string(),
            format!("{:?}", Err::<(), _>(ProducerError)),
            "Cannot register producer, because a producer was never unregistered.".into(),
            "Ok(())".into(),
        ]
    );
}

/// A pull producer that only records.
struct PullRecorder(Events);

impl PullProducer for PullRecorder {
    fn resume_producing(&self) {
        self.0.push("pull resume");
    }
    fn stop_producing(&self) {
        self.0.push("pull stop");
    }
}

/// Keeps its transport; once the connection is gone, registers producers on it.
struct LateRegistration {
    kept: Option<Transport>,
    events: Events,
    reactor: Reactor,
}

impl Protocol for LateRegistration {
    fn connection_made(&mut self, t: &Transport) {
        self.kept = Some(t.clone());
        t.lose_connection();
    }
    fn connection_lost(&mut self, _: Reason) {
        let t = self.kept.take().unwrap();
        let (events, reactor) = (self.events.clone(), self.reactor.clone());
        reactor.clone().call_later(Duration::ZERO, move || {
            let streaming = Recorder {
                events: events.clone(),
                transport: Rc::default(),
            };
            let a = t.register_producer(Producer::streaming(streaming));
            events.push(format!("streaming registered: {a:?}"));
            let b = t.register_producer(Producer::pull(PullRecorder(events.clone())));
            events.push(format!("pull registered: {b:?}"));
            util::stop(&reactor);
        });
    }
}

/// Registering a producer on a closed transport calls its `stop_producing` at once and
/// keeps nothing (a second registration is not an error).
fn registering_on_a_closed_transport_stops_the_producer(kind: Kind) {
    let reactor = reactor();
    let events = Events::default();
    let (e, r) = (events.clone(), reactor.clone());
    let served = serve_kind(kind, &reactor, 1, move || LateRegistration {
        kept: None,
        events: e.clone(),
        reactor: r.clone(),
    });
    let client = std::thread::spawn(move || read_to_eof(&mut served.connect()));
    run_for(&reactor, LIMIT);
    join(client);
    assert_eq!(
        events.get(),
        vec![
            "stop",
            "streaming registered: Ok(())",
            "pull stop",
            "pull registered: Ok(())"
        ]
    );
}

/// Registers a recording producer and waits for the peer to go.
struct Registered {
    events: Events,
    reactor: Reactor,
}

impl Protocol for Registered {
    fn connection_made(&mut self, t: &Transport) {
        let producer = Recorder {
            events: self.events.clone(),
            transport: Rc::default(),
        };
        t.register_producer(Producer::streaming(producer)).unwrap();
        t.write(b"registered");
    }
    fn connection_lost(&mut self, reason: Reason) {
        self.events.push(format!("connection_lost {reason}"));
        util::stop(&self.reactor);
    }
}

/// When the connection goes, a registered producer's `stop_producing` is called, before
/// the protocol's `connection_lost`.
fn producer_is_stopped_when_the_connection_goes(kind: Kind) {
    let reactor = reactor();
    let events = Events::default();
    let (e, r) = (events.clone(), reactor.clone());
    let served = serve_kind(kind, &reactor, 1, move || Registered {
        events: e.clone(),
        reactor: r.clone(),
    });
    let client = std::thread::spawn(move || {
        let mut s = served.connect();
        read_n(&mut s, 10);
    });
    run_for(&reactor, LIMIT);
    join(client);
    assert_eq!(
        events.get(),
        vec!["stop", "connection_lost Connection was closed cleanly."]
    );
}

/// Writes `chunks` chunks of `size` bytes, one per `resume_producing`; after the last it
/// unregisters and closes.
struct Chunks {
    transport: Transport,
    size: usize,
    chunks: usize,
    sent: Cell<usize>,
    asked: Rc<Cell<usize>>,
    stopped: Rc<Cell<bool>>,
}

impl PullProducer for Chunks {
    fn resume_producing(&self) {
        self.asked.set(self.asked.get() + 1);
        let n = self.sent.get();
        if n >= self.chunks {
            // Asked again after the last chunk: `asked` counts it, and the
            // tests' check of that count fails.
            return;
        }
        self.transport.write(&pattern(self.size, n * self.size));
        self.sent.set(n + 1);
        if n + 1 == self.chunks {
            self.transport.unregister_producer();
            self.transport.lose_connection();
        }
    }
    fn stop_producing(&self) {
        self.stopped.set(true);
    }
}

/// Serves a [`Chunks`] pull producer (closing early if `close_first`).
struct PullServer {
    size: usize,
    chunks: usize,
    close_first: bool,
    asked: Rc<Cell<usize>>,
    stopped: Rc<Cell<bool>>,
    lost: Events,
}

impl Protocol for PullServer {
    fn connection_made(&mut self, t: &Transport) {
        let producer = Chunks {
            transport: t.clone(),
            size: self.size,
            chunks: self.chunks,
            sent: Cell::new(0),
            asked: self.asked.clone(),
            stopped: self.stopped.clone(),
        };
        t.register_producer(Producer::pull(producer)).unwrap();
        if self.close_first {
            // The close waits until the pull producer is unregistered.
            t.lose_connection();
        }
    }
    fn connection_lost(&mut self, reason: Reason) {
        self.lost.push(reason.to_string());
    }
}

/// What a pull transfer did.
struct Transfer {
    /// The bytes the peer read before a clean end, or why it could not.
    got: Result<Vec<u8>, std::io::ErrorKind>,
    asked: usize,
    stopped: bool,
    lost: Vec<String>,
}

/// Runs a pull transfer to a peer that reads until the end (or times out).
fn pull_transfer(kind: Kind, size: usize, chunks: usize, close_first: bool) -> Transfer {
    let reactor = reactor();
    let (asked, stopped, lost) = (
        Rc::new(Cell::new(0)),
        Rc::new(Cell::new(false)),
        Events::default(),
    );
    let (a, s, l) = (asked.clone(), stopped.clone(), lost.clone());
    let served = serve_kind(kind, &reactor, 1, move || PullServer {
        size,
        chunks,
        close_first,
        asked: a.clone(),
        stopped: s.clone(),
        lost: l.clone(),
    });
    let client = peer(&reactor, move || {
        let mut s = served.small_window_connect();
        let mut got = Vec::new();
        s.read_to_end(&mut got).map(|_| got).map_err(|e| e.kind())
    });
    run_for(&reactor, LIMIT);
    Transfer {
        got: join(client),
        asked: asked.get(),
        stopped: stopped.get(),
        lost: lost.get(),
    }
}

/// A pull producer is asked for one chunk at registration and another each time the
/// buffer drains; a `lose_connection` made meanwhile waits for it to unregister, and the
/// whole transfer arrives before the clean close.
fn pull_producer_is_asked_for_more_until_done(kind: Kind) {
    let t = pull_transfer(kind, 64 * 1024, 64, true);
    let got = t
        .got
        .unwrap_or_else(|e| panic!("peer read failed ({e:?}) after {} requests", t.asked));
    assert_eq!(got.len(), 64 * 64 * 1024);
    assert!(got == pattern(64 * 64 * 1024, 0));
    assert_eq!(t.asked, 64);
    assert!(!t.stopped, "unregistered before the close: not stopped");
    assert_eq!(t.lost, vec!["Connection was closed cleanly."]);
}

/// A pull producer whose writes go straight into the kernel (nothing buffered, so no
/// writable edge follows) is still asked for the next chunk, and the transfer completes.
fn pull_producer_with_small_writes_keeps_flowing(kind: Kind) {
    let t = pull_transfer(kind, 100, 200, false);
    let got = t
        .got
        .unwrap_or_else(|e| panic!("peer read failed ({e:?}) after {} of 200 requests", t.asked));
    assert_eq!(got.len(), 200 * 100);
    assert!(got == pattern(200 * 100, 0));
    assert_eq!(t.asked, 200);
    assert_eq!(t.lost, vec!["Connection was closed cleanly."]);
}

/// The echo pattern's producer: the transport itself (what
/// [`Transport::as_producer`] gives), with its pauses recorded.
struct SelfProducer {
    transport: Rc<dyn PushProducer>,
    paused: Rc<Cell<bool>>,
    pauses: Rc<Cell<usize>>,
    resumes: Rc<Cell<usize>>,
    told: mpsc::Sender<()>,
}

impl PushProducer for SelfProducer {
    fn pause_producing(&self) {
        if !self.paused.replace(true) && self.pauses.get() == 0 {
            let _ = self.told.send(());
        }
        self.pauses.set(self.pauses.get() + 1);
        self.transport.pause_producing();
    }
    fn resume_producing(&self) {
        self.paused.set(false);
        self.resumes.set(self.resumes.get() + 1);
        self.transport.resume_producing();
    }
    fn stop_producing(&self) {
        self.transport.stop_producing();
    }
}

/// Echoes, with its transport registered as its own streaming producer.
struct FlowEcho {
    paused: Rc<Cell<bool>>,
    pauses: Rc<Cell<usize>>,
    resumes: Rc<Cell<usize>>,
    max_buffered: Rc<Cell<usize>>,
    read_while_paused: Rc<Cell<usize>>,
    echoed: Rc<Cell<usize>>,
    told: mpsc::Sender<()>,
    reactor: Reactor,
}

impl Protocol for FlowEcho {
    fn connection_made(&mut self, t: &Transport) {
        let Producer::Streaming(own) = t.as_producer() else {
            panic!("a transport is a streaming producer");
        };
        let producer = SelfProducer {
            transport: own,
            paused: self.paused.clone(),
            pauses: self.pauses.clone(),
            resumes: self.resumes.clone(),
            told: self.told.clone(),
        };
        t.register_producer(Producer::streaming(producer)).unwrap();
    }
    fn data_received(&mut self, t: &Transport, data: &[u8]) {
        if self.paused.get() {
            self.read_while_paused.set(self.read_while_paused.get() + 1);
        }
        t.write(data);
        self.echoed.set(self.echoed.get() + data.len());
        self.max_buffered
            .set(self.max_buffered.get().max(t.buffered()));
    }
    fn connection_lost(&mut self, _: Reason) {
        util::stop(&self.reactor);
    }
}

/// An echo server registered as its own producer stops reading from a client that sends
/// but does not read: its buffer stays under 64 KiB plus one read, reading pauses until
/// the client reads, and every byte comes back in order.
fn echo_as_its_own_producer_stays_bounded(kind: Kind) {
    const TOTAL: usize = 16 * 1024 * 1024;
    let reactor = reactor();
    let cells: [Rc<Cell<usize>>; 5] = Default::default();
    let [pauses, resumes, max_buffered, read_while_paused, echoed] = cells.clone();
    let paused = Rc::new(Cell::new(false));
    let (tx, rx) = mpsc::channel();
    let (p, r) = (paused.clone(), reactor.clone());
    let served = serve_kind(kind, &reactor, 1, move || FlowEcho {
        paused: p.clone(),
        pauses: cells[0].clone(),
        resumes: cells[1].clone(),
        max_buffered: cells[2].clone(),
        read_while_paused: cells[3].clone(),
        echoed: cells[4].clone(),
        told: tx.clone(),
        reactor: r.clone(),
    });
    let client = std::thread::spawn(move || {
        let mut writer = served.small_window_connect();
        writer
            .set_write_timeout(Some(Duration::from_secs(8)))
            .unwrap();
        let mut reader = writer.try_clone().unwrap();
        reader
            .set_read_timeout(Some(Duration::from_secs(8)))
            .unwrap();
        let reading = std::thread::spawn(move || {
            // Start reading only once the server has stopped reading from us.
            rx.recv_timeout(Duration::from_secs(8))
                .expect("the server paused");
            let mut got = vec![0; TOTAL];
            reader.read_exact(&mut got).expect("every byte echoed");
            assert!(got == pattern(TOTAL, 0), "echo reordered or corrupted");
        });
        for at in (0..TOTAL).step_by(256 * 1024) {
            writer
                .write_all(&pattern(256 * 1024, at))
                .expect("the server keeps reading, eventually");
        }
        join(reading);
    });
    run_for(&reactor, Duration::from_secs(20));
    join(client);
    assert_eq!(echoed.get(), TOTAL);
    assert!(pauses.get() >= 1, "reading was never paused");
    assert!(resumes.get() >= 1, "reading was never resumed");
    assert_eq!(
        read_while_paused.get(),
        0,
        "data was delivered while paused"
    );
    let bound = HIGH_WATER + 64 * 1024;
    assert!(
        max_buffered.get() <= bound,
        "buffered {} > {bound}",
        max_buffered.get()
    );
}

/// A pull producer that writes nothing when asked is not asked again in a
/// busy loop: it waits, as in Twisted, until it writes on its own; its later
/// write makes the transport ask for more once the write has gone out.
fn idle_pull_producer_is_not_polled(kind: Kind) {
    struct Idle {
        asked: Rc<Cell<u32>>,
    }
    impl PullProducer for Idle {
        fn resume_producing(&self) {
            self.asked.set(self.asked.get() + 1);
        }
        fn stop_producing(&self) {}
    }
    let reactor = reactor();
    let asked = Rc::new(Cell::new(0));
    let slot: Rc<RefCell<Option<Transport>>> = Rc::default();
    let (a, s) = (asked.clone(), slot.clone());
    let served = serve_kind(kind, &reactor, 1, move || Holder {
        asked: a.clone(),
        slot: s.clone(),
    });
    struct Holder {
        asked: Rc<Cell<u32>>,
        slot: Rc<RefCell<Option<Transport>>>,
    }
    impl Protocol for Holder {
        fn connection_made(&mut self, t: &Transport) {
            *self.slot.borrow_mut() = Some(t.clone());
            t.register_producer(Producer::pull(Idle {
                asked: self.asked.clone(),
            }))
            .unwrap();
        }
    }
    let client = std::thread::spawn(move || {
        let mut s = served.connect();
        read_to_eof(&mut s)
    });
    // Once connected, many reactor iterations pass (a timer every
    // millisecond) while the producer stays idle; then the protocol writes
    // once on its own; later the server closes (the client holds the
    // connection open until then, so the drain is seen while connected).
    let ticks = Rc::new(Cell::new(0));
    let asked_at_write = Rc::new(Cell::new(0));
    let asked_at_close = Rc::new(Cell::new(0));
    let (r, t, sl, asked2, at_write, at_close) = (
        reactor.clone(),
        ticks.clone(),
        slot.clone(),
        asked.clone(),
        asked_at_write.clone(),
        asked_at_close.clone(),
    );
    let lc = gyre::LoopingCall::new(&reactor, move || {
        let Some(tr) = sl.borrow().clone() else {
            return;
        };
        t.set(t.get() + 1);
        if t.get() == 50 {
            at_write.set(asked2.get());
            tr.write(b"abc");
        }
        if t.get() == 100 {
            at_close.set(asked2.get());
            tr.unregister_producer();
            tr.lose_connection();
        }
        if t.get() == 150 {
            let _ = r.stop();
        }
    });
    lc.start(Duration::from_millis(1), false).unwrap();
    run_for(&reactor, LIMIT);
    assert_eq!(join(client), b"abc");
    assert_eq!(
        asked_at_write.get(),
        1,
        "an idle pull producer was asked again"
    );
    assert_eq!(
        asked_at_close.get(),
        2,
        "asked once on registration, once after its write drained"
    );
}

/// `Transport::as_producer` on a stream connection: pausing it stops delivery
/// of what the peer sends until it is resumed, and stopping it closes the
/// connection.
fn transport_as_producer_pauses_reading_and_stopping_closes(kind: Kind) {
    struct Held {
        producer: Rc<RefCell<Option<Producer>>>,
        resumed: Rc<Cell<bool>>,
        early: Rc<Cell<usize>>,
        got: Rc<RefCell<Vec<u8>>>,
        reactor: Reactor,
    }
    impl Protocol for Held {
        fn connection_made(&mut self, t: &Transport) {
            let producer = t.as_producer();
            let Producer::Streaming(p) = &producer else {
                panic!("a transport is a streaming producer");
            };
            p.pause_producing();
            *self.producer.borrow_mut() = Some(producer.clone());
            let (resumed, p) = (self.resumed.clone(), p.clone());
            self.reactor
                .call_later(Duration::from_millis(300), move || {
                    resumed.set(true);
                    p.resume_producing();
                });
        }
        fn data_received(&mut self, _: &Transport, data: &[u8]) {
            if !self.resumed.get() {
                self.early.set(self.early.get() + data.len());
            }
            self.got.borrow_mut().extend_from_slice(data);
            if self.got.borrow().len() >= 5
                && let Some(Producer::Streaming(p)) = self.producer.borrow_mut().take()
            {
                p.stop_producing();
            }
        }
        fn connection_lost(&mut self, _: Reason) {
            util::stop(&self.reactor);
        }
    }
    let reactor = reactor();
    let (resumed, early, got) = (Rc::new(Cell::new(false)), Rc::default(), Rc::default());
    let (r, e, g, rr) = (
        resumed.clone(),
        Rc::clone(&early),
        Rc::clone(&got),
        reactor.clone(),
    );
    let served = serve_kind(kind, &reactor, 1, move || Held {
        producer: Rc::default(),
        resumed: r.clone(),
        early: Rc::clone(&e),
        got: Rc::clone(&g),
        reactor: rr.clone(),
    });
    let client = peer(&reactor, move || {
        let mut s = served.connect();
        s.write_all(b"hello").unwrap();
        read_to_eof(&mut s)
    });
    run_for(&reactor, LIMIT);
    assert_eq!(join(client), b"", "the server closed without writing");
    assert!(resumed.get(), "closed before the producer was resumed");
    assert_eq!(early.get(), 0, "bytes delivered while paused");
    assert_eq!(&*got.borrow(), b"hello");
}

over_both_kinds!(
    streaming_producer_follows_the_high_water_rule,
    lose_connection_resumes_a_paused_producer_then_closes,
    registering_a_second_producer_is_an_error,
    registering_on_a_closed_transport_stops_the_producer,
    producer_is_stopped_when_the_connection_goes,
    pull_producer_is_asked_for_more_until_done,
    pull_producer_with_small_writes_keeps_flowing,
    echo_as_its_own_producer_stays_bounded,
    idle_pull_producer_is_not_polled,
    transport_as_producer_pauses_reading_and_stopping_closes,
);
