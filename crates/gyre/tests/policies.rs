//! Idle timeouts and connection limits on real loopback sockets
//! (`gyre::protocols::policies`); the virtual-time unit tests are in
//! `src/protocols/policies/tests/`.

mod util;

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::rc::Rc;
use std::time::{Duration, Instant};

use gyre::protocols::policies::{LimitConnections, TimeoutFactory};
use gyre::time::LoopingCall;
use gyre::{Protocol, Reactor, Reason, Shared, Transport, for_protocol};
use util::{join, lines_containing, loopback, peer, read_n, read_to_eof, run_for, std_connect};

const LIMIT: Duration = Duration::from_secs(5);
const IDLE: Duration = Duration::from_millis(200);

fn reactor() -> Reactor {
    util::capture_logs();
    Reactor::new().expect("reactor")
}

/// Writes back what it receives.
struct Echo;

impl Protocol for Echo {
    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        transport.write(data);
    }
}

/// Reads and ignores everything; never writes.
struct Silent;

impl Protocol for Silent {}

/// With `max_total` 2, two clients are served and a third is closed at
/// once, without a byte; the refusal is logged once, and every count is
/// released when the connections end.
#[test]
fn limit_total_accepts_two_and_closes_the_third() {
    let reactor = reactor();
    let factory = Shared::new(LimitConnections::new(for_protocol(|| Echo)).with_max_total(Some(2)));
    let port = reactor
        .listen_tcp_with(0, factory.clone(), loopback())
        .expect("listen");
    let addr = port.address();
    let client = peer(&reactor, move || {
        let mut a = std_connect(addr);
        a.write_all(b"a").unwrap();
        assert_eq!(read_n(&mut a, 1), b"a");
        let mut b = std_connect(addr);
        b.write_all(b"b").unwrap();
        assert_eq!(read_n(&mut b, 1), b"b");
        let mut c = std_connect(addr);
        assert_eq!(read_to_eof(&mut c), b"", "the third is closed at once");
        // The first two are still served.
        a.write_all(b"again").unwrap();
        assert_eq!(read_n(&mut a, 5), b"again");
        b.write_all(b"still").unwrap();
        assert_eq!(read_n(&mut b, 5), b"still");
        (a, b) // kept open until the reactor has stopped
    });
    run_for(&reactor, LIMIT);
    let (a, b) = join(client);
    let refused =
        lines_containing("Refusing connection from IPv4Address(type='TCP', host='127.0.0.1'");
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert!(
        refused[0].text.contains(": 2 connections already open"),
        "{refused:#?}"
    );
    // The reactor's shutdown ended the two connections: nothing is counted.
    assert_eq!(factory.open_connections(), 0);
    drop((a, b));
}

/// What a client saw of its connection, on the reactor thread.
#[derive(Default)]
struct Seen {
    made: Cell<Option<Instant>>,
    lost: RefCell<Option<(Instant, Reason)>>,
    local_port: Cell<u16>,
}

/// A server closing connections idle for [`IDLE`], of `Silent` protocols.
fn idle_server(reactor: &Reactor) -> std::net::SocketAddr {
    let factory = TimeoutFactory::new(reactor, for_protocol(|| Silent), IDLE);
    reactor
        .listen_tcp_with(0, factory, loopback())
        .expect("listen")
        .address()
}

/// An idle client is closed by the server once [`IDLE`] has passed, and not
/// before; the server logs `Timing out client: <peer>` in the connection's
/// log system.
#[test]
fn idle_server_closes_an_idle_client() {
    struct Idle {
        seen: Rc<Seen>,
        reactor: Reactor,
    }
    impl Protocol for Idle {
        fn connection_made(&mut self, transport: &Transport) {
            self.seen.made.set(Some(Instant::now()));
            self.seen.local_port.set(transport.host().port());
        }
        fn connection_lost(&mut self, reason: Reason) {
            *self.seen.lost.borrow_mut() = Some((Instant::now(), reason));
            let _ = self.reactor.stop();
        }
    }

    let reactor = reactor();
    let addr = idle_server(&reactor);
    let seen = Rc::new(Seen::default());
    let (s, r) = (seen.clone(), reactor.clone());
    reactor.connect_tcp(
        "127.0.0.1",
        addr.port(),
        for_protocol(move || Idle {
            seen: s.clone(),
            reactor: r.clone(),
        }),
    );
    run_for(&reactor, LIMIT);

    let made = seen.made.get().expect("the client connected");
    let (lost_at, reason) = seen.lost.borrow().clone().expect("the server closed it");
    assert!(reason.is_clean(), "closed cleanly, got {reason}");
    assert!(
        lost_at - made >= IDLE,
        "closed after {:?}, before the idle timeout",
        lost_at - made
    );
    let timed_out = lines_containing("Timing out client: ");
    assert_eq!(timed_out.len(), 1, "{timed_out:#?}");
    assert_eq!(
        timed_out[0].text,
        format!(
            "Timing out client: IPv4Address(type='TCP', host='127.0.0.1', port={})",
            seen.local_port.get()
        )
    );
    assert_eq!(timed_out[0].system, "Silent,0,127.0.0.1");
}

/// A client writing every 50 ms is still connected after 500 ms; once it
/// falls silent the server closes it, [`IDLE`] after its last write.
#[test]
fn a_chatty_client_is_not_timed_out() {
    struct Chatty {
        seen: Rc<Seen>,
        last_write: Rc<Cell<Option<Instant>>>,
        ticker: Rc<RefCell<Option<LoopingCall>>>,
        reactor: Reactor,
    }
    impl Protocol for Chatty {
        fn connection_made(&mut self, transport: &Transport) {
            self.seen.made.set(Some(Instant::now()));
            let (t, last) = (transport.clone(), self.last_write.clone());
            let ticker = LoopingCall::new(&self.reactor, move || {
                t.write(b".");
                last.set(Some(Instant::now()));
            });
            ticker
                .start(Duration::from_millis(50), true)
                .expect("ticker starts");
            *self.ticker.borrow_mut() = Some(ticker);
        }
        fn connection_lost(&mut self, reason: Reason) {
            if let Some(ticker) = self.ticker.borrow_mut().take() {
                let _ = ticker.stop();
            }
            *self.seen.lost.borrow_mut() = Some((Instant::now(), reason));
            let _ = self.reactor.stop();
        }
    }

    let reactor = reactor();
    let addr = idle_server(&reactor);
    let seen = Rc::new(Seen::default());
    let last_write = Rc::new(Cell::new(None));
    let ticker = Rc::new(RefCell::new(None));
    let (s, l, t, r) = (
        seen.clone(),
        last_write.clone(),
        ticker.clone(),
        reactor.clone(),
    );
    reactor.connect_tcp(
        "127.0.0.1",
        addr.port(),
        for_protocol(move || Chatty {
            seen: s.clone(),
            last_write: l.clone(),
            ticker: t.clone(),
            reactor: r.clone(),
        }),
    );
    // At 500 ms check that the client is still up, then let it fall silent.
    let survived = Rc::new(Cell::new(false));
    let (sv, s, t) = (survived.clone(), seen.clone(), ticker.clone());
    reactor.call_later(Duration::from_millis(500), move || {
        let up = s.made.get().is_some() && s.lost.borrow().is_none();
        sv.set(up);
        if let Some(ticker) = t.borrow_mut().take() {
            ticker.stop().expect("ticker was running");
        }
    });
    run_for(&reactor, LIMIT);

    assert!(
        survived.get(),
        "the chatty client was closed within 500 ms: {:?}",
        seen.lost.borrow()
    );
    let (lost_at, reason) = seen.lost.borrow().clone().expect("closed once silent");
    assert!(reason.is_clean(), "closed cleanly, got {reason}");
    let last = last_write.get().expect("the client wrote");
    assert!(
        lost_at - last >= IDLE,
        "closed {:?} after the last write",
        lost_at - last
    );
    assert_eq!(lines_containing("Timing out client: ").len(), 1);
}
