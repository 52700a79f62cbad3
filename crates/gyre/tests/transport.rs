//! The stream transport on real sockets: write order, flushing before a
//! close, how connections end (reference §1.7.6), addresses and socket
//! options, pausing reads, and half-close (reference §5.1, §5.4).
//!
//! The tests listed in `over_both_kinds!` at the bottom run twice, over TCP
//! on loopback (`tcp::…`) and over a UNIX socketpair (`unix::…`): they test
//! the one stream connection every stream transport shares. The rest are
//! about TCP itself (resets, addresses, gyre's TCP client).
//!
//! Peers are blocking std sockets on helper threads or gyre clients on the
//! same reactor; servers tell a std peer what happened through a channel.

mod util;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use gyre::{
    Address, ClientFactory, Connector, Factory, Protocol, Reactor, Reason, Shared, Transport,
    for_protocol,
};
use util::{
    Events, Kind, Served, fill_kernel, join, loopback, pattern, peer, read_to_eof, run_for,
    serve_kind, std_connect,
};

const LIMIT: Duration = Duration::from_secs(5);
const MIB: usize = 1024 * 1024;
/// What [`Aborter`] writes before it aborts.
const ABORTED_WRITE: usize = 16 * MIB;

fn reactor() -> Reactor {
    util::capture_logs();
    Reactor::new().unwrap()
}

/// Listens on 127.0.0.1 with a protocol built by `build`; returns the address.
fn serve<P: Protocol>(reactor: &Reactor, build: impl Fn() -> P + 'static) -> SocketAddr {
    reactor
        .listen_tcp_with(0, for_protocol(build), loopback())
        .unwrap()
        .address()
}

/// Serves `build` over `kind` for one peer.
fn serve_one<P: Protocol>(
    kind: Kind,
    reactor: &Reactor,
    build: impl Fn() -> P + 'static,
) -> Served {
    serve_kind(kind, reactor, 1, build)
}

/// A short name for a reason, for event lists.
fn describe(reason: &Reason) -> String {
    match reason {
        Reason::Done => "Done".into(),
        Reason::Lost(Some(e)) => format!("Lost({:?})", e.kind()),
        Reason::Lost(None) => "Lost".into(),
        Reason::Aborted => "Aborted".into(),
        Reason::Shutdown => "Shutdown".into(),
        Reason::Panicked(m) => format!("Panicked({m})"),
        other => format!("{other:?}"),
    }
}

/// Writes a script of `write` and `write_sequence` calls at once, then closes.
struct Script;

impl Protocol for Script {
    fn connection_made(&mut self, t: &Transport) {
        let mut at = 0;
        let mut next = |len: usize| {
            let chunk = pattern(len, at);
            at += len;
            chunk
        };
        t.write(&next(1));
        t.write_sequence(&[&next(2), &[], &next(3)]);
        t.write(&[]);
        t.write_sequence(&[]);
        // Large enough that the kernel refuses some and the rest is buffered.
        t.write(&next(300_000));
        t.write_sequence(&[&next(5), &next(200_000), &next(7)]);
        for len in [1, 70_000, 13, 0, 150_000] {
            t.write(&next(len));
        }
        t.write_sequence(&[&next(11), &next(100_000)]);
        t.lose_connection();
    }
}

/// Bytes from `write` and `write_sequence` arrive in call order, also once they are buffered.
fn write_and_write_sequence_keep_order(kind: Kind) {
    let reactor = reactor();
    let served = serve_one(kind, &reactor, || Script);
    let client = peer(&reactor, move || {
        read_to_eof(&mut served.small_window_connect())
    });
    run_for(&reactor, LIMIT);
    let got = join(client);
    let total = 1 + 2 + 3 + 300_000 + 5 + 200_000 + 7 + 1 + 70_000 + 13 + 150_000 + 11 + 100_000;
    assert_eq!(got.len(), total);
    assert!(got == pattern(total, 0), "bytes reordered or corrupted");
}

/// Optionally fills the kernel's buffers first, then writes `first` bytes, closes, and
/// writes `after` bytes before the close completes. Tells the peer how many bytes it
/// prefilled and how many were buffered after the `first` write; notes in `lost` the
/// transport's state just after `lose_connection`, then how the connection ended.
struct WriteThenLose {
    prefill: bool,
    first: usize,
    after: usize,
    told: mpsc::Sender<(usize, usize)>,
    lost: Events,
}

impl Protocol for WriteThenLose {
    fn connection_made(&mut self, t: &Transport) {
        let filled = if self.prefill { fill_kernel(t) } else { 0 };
        let before = t.buffered();
        t.write(&pattern(self.first, filled));
        let buffered = t.buffered() - before;
        t.lose_connection();
        self.lost.push(format!(
            "closing: disconnecting={} connected={}",
            t.is_disconnecting(),
            t.is_connected()
        ));
        t.write(&pattern(self.after, filled + self.first));
        self.told.send((filled, buffered)).unwrap();
    }
    fn connection_lost(&mut self, reason: Reason) {
        self.lost.push(describe(&reason));
    }
}

/// A [`WriteThenLose`]'s transport just after `lose_connection`: disconnecting,
/// and still connected (the close waits for the flush).
const CLOSING: &str = "closing: disconnecting=true connected=true";

/// What the peer of a [`WriteThenLose`] saw.
struct Seen {
    prefilled: usize,
    buffered: usize,
    got: Vec<u8>,
    lost: Vec<String>,
}

/// Runs [`WriteThenLose`] against a reader that waits until the server wrote everything.
fn write_then_lose(kind: Kind, prefill: bool, first: usize, after: usize) -> Seen {
    let reactor = reactor();
    let lost = Events::default();
    let (tx, rx) = mpsc::channel();
    let l = lost.clone();
    let served = serve_one(kind, &reactor, move || WriteThenLose {
        prefill,
        first,
        after,
        told: tx.clone(),
        lost: l.clone(),
    });
    let client = peer(&reactor, move || {
        let mut s = served.small_window_connect();
        let told = rx.recv_timeout(util::PEER_TIMEOUT).expect("server wrote");
        (told, read_to_eof(&mut s))
    });
    run_for(&reactor, LIMIT);
    let ((prefilled, buffered), got) = join(client);
    Seen {
        prefilled,
        buffered,
        got,
        lost: lost.get(),
    }
}

/// `lose_connection` flushes a 1 MiB write that is entirely in gyre's buffer (the
/// kernel's is full), then closes cleanly: the peer reads every byte, then end of input.
fn lose_connection_flushes_a_large_write_first(kind: Kind) {
    let seen = write_then_lose(kind, true, MIB, 0);
    assert_eq!(seen.buffered, MIB, "the 1 MiB write waits in gyre's buffer");
    assert_eq!(seen.got.len(), seen.prefilled + MIB);
    assert!(seen.got == pattern(seen.prefilled + MIB, 0));
    assert_eq!(seen.lost, [CLOSING, "Done"]);
}

/// Data written after `lose_connection` but before the close completes still arrives,
/// whether the buffer was full or empty at the time.
fn writes_after_lose_connection_still_arrive(kind: Kind) {
    let seen = write_then_lose(kind, true, MIB, 10);
    let total = seen.prefilled + MIB + 10;
    assert_eq!(seen.got.len(), total);
    assert!(seen.got == pattern(total, 0));
    assert_eq!(seen.lost, [CLOSING, "Done"]);

    let seen = write_then_lose(kind, false, 5, 10);
    assert_eq!(seen.got, pattern(15, 0));
    assert_eq!(seen.lost, [CLOSING, "Done"]);
}

/// Records how its connection ended under a name; stops the reactor after `expect` endings.
struct Ending {
    name: &'static str,
    close_at_once: bool,
    ends: Events,
    expect: usize,
    reactor: Reactor,
}

impl Protocol for Ending {
    fn connection_made(&mut self, t: &Transport) {
        if self.close_at_once {
            t.lose_connection();
        }
    }
    fn connection_lost(&mut self, reason: Reason) {
        self.ends
            .push(format!("{} {} / {reason}", self.name, describe(&reason)));
        if self.ends.get().len() == self.expect {
            util::stop(&self.reactor);
        }
    }
}

/// A gyre client factory for one [`Ending`] protocol.
struct EndingClient {
    ends: Events,
    reactor: Reactor,
}

impl Factory for EndingClient {
    type Protocol = Ending;
    fn build_protocol(&self, _: &Address) -> Option<Ending> {
        Some(Ending {
            name: "client",
            close_at_once: false,
            ends: self.ends.clone(),
            expect: 2,
            reactor: self.reactor.clone(),
        })
    }
}

impl ClientFactory for EndingClient {}

/// A local `lose_connection` ends the connection with `Done` on both sides.
#[test]
fn local_lose_connection_is_done_on_both_sides() {
    let reactor = reactor();
    let ends = Events::default();
    let (e, r) = (ends.clone(), reactor.clone());
    let addr = serve(&reactor, move || Ending {
        name: "server",
        close_at_once: true,
        ends: e.clone(),
        expect: 2,
        reactor: r.clone(),
    });
    reactor.connect_tcp(
        "127.0.0.1",
        addr.port(),
        EndingClient {
            ends: ends.clone(),
            reactor: reactor.clone(),
        },
    );
    run_for(&reactor, LIMIT);
    let mut got = ends.get();
    got.sort();
    assert_eq!(
        got,
        vec![
            "client Done / Connection was closed cleanly.",
            "server Done / Connection was closed cleanly.",
        ]
    );
}

/// A peer that resets the connection (close with `SO_LINGER` 0) ends it with `Lost`.
#[test]
fn peer_reset_is_lost() {
    let reactor = reactor();
    let ends = Events::default();
    let (made_tx, made_rx) = mpsc::channel::<()>();
    struct Tell(mpsc::Sender<()>, Ending);
    impl Protocol for Tell {
        fn connection_made(&mut self, _: &Transport) {
            self.0.send(()).unwrap();
        }
        fn connection_lost(&mut self, reason: Reason) {
            self.1.connection_lost(reason)
        }
    }
    let (e, r) = (ends.clone(), reactor.clone());
    let addr = serve(&reactor, move || {
        let ending = Ending {
            name: "server",
            close_at_once: false,
            ends: e.clone(),
            expect: 1,
            reactor: r.clone(),
        };
        Tell(made_tx.clone(), ending)
    });
    let client = std::thread::spawn(move || {
        let s = std_connect(addr);
        made_rx
            .recv_timeout(util::PEER_TIMEOUT)
            .expect("server made the connection");
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(s);
    });
    run_for(&reactor, LIMIT);
    join(client);
    assert_eq!(
        ends.get(),
        vec![
            "server Lost(ConnectionReset) / Connection to the other side was lost in a non-clean fashion: \
             Connection reset by peer."
        ]
    );
}

/// Aborts on the first data (`abort`) after queueing data; notes what it received,
/// its transport's state after the abort and the loss (which comes on a later turn).
struct Aborter {
    returned: Rc<Cell<bool>>,
    ends: Events,
    reactor: Reactor,
    /// Told once the abort was asked for, so the peer reads only then.
    aborted: mpsc::Sender<()>,
}

impl Protocol for Aborter {
    fn data_received(&mut self, t: &Transport, data: &[u8]) {
        self.ends
            .push(format!("received {}", String::from_utf8_lossy(data)));
        // More than the kernel's buffers hold while the peer does not read.
        t.write(&pattern(ABORTED_WRITE, 0));
        t.abort_connection();
        self.ends.push(format!(
            "after abort: connected={} buffered={}",
            t.is_connected(),
            t.buffered()
        ));
        t.abort_connection();
        t.lose_connection();
        t.write(b"dropped");
        self.returned.set(true);
        let _ = self.aborted.send(());
    }
    fn connection_lost(&mut self, reason: Reason) {
        self.ends.push(format!(
            "lost {} (after the call returned: {})",
            describe(&reason),
            self.returned.get()
        ));
        util::stop(&self.reactor);
    }
}

/// `abort_connection` discards buffered data and delivers `Reason::Aborted` on a later
/// turn (not inside the call). A TCP peer sees a reset; a UNIX socket has no reset, and
/// its peer sees the end of input early.
fn abort_connection_is_aborted_later_and_discards(kind: Kind) {
    let reactor = reactor();
    let ends = Events::default();
    let (e, r) = (ends.clone(), reactor.clone());
    let (aborted, told) = mpsc::channel();
    let served = serve_one(kind, &reactor, move || Aborter {
        aborted: aborted.clone(),
        returned: Rc::default(),
        ends: e.clone(),
        reactor: r.clone(),
    });
    let client = std::thread::spawn(move || {
        let mut s = served.small_window_connect();
        s.write_all(b"abort").unwrap();
        // Read only once the server has aborted: a reader draining the
        // socket meanwhile could let the whole write through.
        told.recv_timeout(util::PEER_TIMEOUT)
            .expect("the server aborted");
        let mut sink = Vec::new();
        let outcome = s.read_to_end(&mut sink).map(|_| ()).map_err(|e| e.kind());
        (outcome, sink.len())
    });
    run_for(&reactor, LIMIT);
    let (outcome, received) = join(client);
    let expected = match kind {
        Kind::Tcp => Err(std::io::ErrorKind::ConnectionReset),
        Kind::Unix | Kind::UnixPort => Ok(()),
    };
    assert_eq!(outcome, expected, "after {received} bytes");
    assert!(received < ABORTED_WRITE, "buffered data was discarded");
    assert_eq!(
        ends.get(),
        vec![
            "received abort",
            "after abort: connected=true buffered=0",
            "lost Aborted (after the call returned: true)"
        ]
    );
}

/// Keeps its transport and tries everything on it once the connection is gone.
struct Afterlife {
    kept: Rc<RefCell<Option<Transport>>>,
    seen: Events,
    reactor: Reactor,
}

impl Protocol for Afterlife {
    fn connection_made(&mut self, t: &Transport) {
        *self.kept.borrow_mut() = Some(t.clone());
        t.write(b"alive");
        t.lose_connection();
    }
    fn connection_lost(&mut self, _: Reason) {
        let (kept, seen, reactor) = (self.kept.clone(), self.seen.clone(), self.reactor.clone());
        // On a later turn, outside any callback of this connection.
        reactor.clone().call_later(Duration::ZERO, move || {
            let t = kept.borrow().clone().unwrap();
            t.write(b"late");
            t.write_sequence(&[b"later", b"still"]);
            t.pause_reading();
            t.resume_reading();
            t.lose_connection();
            t.abort_connection();
            t.lose_write_connection();
            seen.push(format!(
                "connected={} buffered={} no_delay_err={}",
                t.is_connected(),
                t.buffered(),
                t.set_no_delay(true).is_err()
            ));
            util::stop(&reactor);
        });
    }
}

/// Writing to (or closing) a transport whose connection is gone is silently ignored.
fn writes_to_a_closed_transport_are_dropped(kind: Kind) {
    let reactor = reactor();
    let seen = Events::default();
    let (s, r) = (seen.clone(), reactor.clone());
    let served = serve_one(kind, &reactor, move || Afterlife {
        kept: Rc::default(),
        seen: s.clone(),
        reactor: r.clone(),
    });
    let client = std::thread::spawn(move || read_to_eof(&mut served.connect()));
    run_for(&reactor, LIMIT);
    assert_eq!(join(client), b"alive");
    assert_eq!(
        seen.get(),
        vec!["connected=false buffered=0 no_delay_err=true"]
    );
    assert!(util::lines_containing("Unhandled Error").is_empty());
}

/// Records its transport's addresses and socket options.
struct Inspect {
    seen: Events,
    close: bool,
}

impl Protocol for Inspect {
    fn connection_made(&mut self, t: &Transport) {
        self.seen.push(format!("peer {}", t.peer()));
        self.seen.push(format!("host {}", t.host()));
        let nd = (
            t.no_delay().unwrap(),
            t.set_no_delay(true).is_ok(),
            t.no_delay().unwrap(),
        );
        let nd_off = (t.set_no_delay(false).is_ok(), t.no_delay().unwrap());
        let ka = (
            t.keep_alive().unwrap(),
            t.set_keep_alive(true).is_ok(),
            t.keep_alive().unwrap(),
        );
        let ka_off = (t.set_keep_alive(false).is_ok(), t.keep_alive().unwrap());
        self.seen.push(format!(
            "no_delay {nd:?} {nd_off:?} keep_alive {ka:?} {ka_off:?}"
        ));
        if self.close {
            t.lose_connection();
        }
    }
}

struct InspectClient {
    seen: Events,
    reactor: Reactor,
}

impl Factory for InspectClient {
    type Protocol = Inspect;
    fn build_protocol(&self, _: &Address) -> Option<Inspect> {
        Some(Inspect {
            seen: self.seen.clone(),
            close: true,
        })
    }
}

impl ClientFactory for InspectClient {
    fn client_connection_lost(&self, _: &Connector, _: &Reason) {
        util::stop(&self.reactor);
    }
}

const OPTIONS: &str =
    "no_delay (false, true, true) (true, false) keep_alive (false, true, true) (true, false)";

/// On a server transport, `peer()` is the client's address and `host()` the port's, and
/// `TCP_NODELAY` / `SO_KEEPALIVE` start off and round-trip.
#[test]
fn server_transport_addresses_and_options() {
    let reactor = reactor();
    let seen = Events::default();
    let s = seen.clone();
    let addr = serve(&reactor, move || Inspect {
        seen: s.clone(),
        close: true,
    });
    let client = peer(&reactor, move || {
        let mut s = std_connect(addr);
        read_to_eof(&mut s);
        s.local_addr().unwrap()
    });
    run_for(&reactor, LIMIT);
    let local = join(client);
    assert_eq!(
        seen.get(),
        vec![
            format!(
                "peer IPv4Address(type='TCP', host='127.0.0.1', port={})",
                local.port()
            ),
            format!(
                "host IPv4Address(type='TCP', host='127.0.0.1', port={})",
                addr.port()
            ),
            OPTIONS.to_string(),
        ]
    );
}

/// On a client transport, `peer()` is the server's address and `host()` the local end
/// (which the server sees as its peer); the options round-trip there too.
#[test]
fn client_transport_addresses_and_options() {
    let reactor = reactor();
    let server_seen = Events::default();
    let s = server_seen.clone();
    let addr = serve(&reactor, move || Inspect {
        seen: s.clone(),
        close: false,
    });
    let client_seen = Events::default();
    let factory = InspectClient {
        seen: client_seen.clone(),
        reactor: reactor.clone(),
    };
    reactor.connect_tcp("127.0.0.1", addr.port(), factory);
    run_for(&reactor, LIMIT);
    let (client, server) = (client_seen.get(), server_seen.get());
    assert_eq!(
        client[0],
        format!(
            "peer IPv4Address(type='TCP', host='127.0.0.1', port={})",
            addr.port()
        )
    );
    assert_eq!(client[1], format!("host {}", &server[0]["peer ".len()..]));
    assert_eq!(client[2], OPTIONS);
    assert_eq!(
        server[1],
        format!(
            "host IPv4Address(type='TCP', host='127.0.0.1', port={})",
            addr.port()
        )
    );
    assert_eq!(server[2], OPTIONS);
}

/// Connection A pauses reading after `first`; connection B's `marker` resumes it.
struct Pauser {
    seen: Events,
    paused_a: Rc<RefCell<Option<Transport>>>,
    told: mpsc::Sender<()>,
    is_paused: Rc<Cell<bool>>,
}

impl Protocol for Pauser {
    fn data_received(&mut self, t: &Transport, data: &[u8]) {
        match data {
            b"first" => {
                t.pause_reading();
                self.is_paused.set(true);
                *self.paused_a.borrow_mut() = Some(t.clone());
                self.seen.push("A first");
                self.told.send(()).unwrap();
            }
            b"marker" => {
                self.seen.push("B marker");
                self.is_paused.set(false);
                self.paused_a.borrow().as_ref().unwrap().resume_reading();
            }
            other => {
                self.seen.push(format!(
                    "A {} (paused={})",
                    String::from_utf8_lossy(other),
                    self.is_paused.get()
                ));
                t.lose_connection();
            }
        }
    }
}

/// `pause_reading` stops `data_received` until `resume_reading`; data sent meanwhile
/// arrives after the resume.
fn pause_reading_holds_data_until_resume(kind: Kind) {
    let reactor = reactor();
    let seen = Events::default();
    let (tx, rx) = mpsc::channel();
    let (s, slot, flag) = (
        seen.clone(),
        Rc::new(RefCell::new(None)),
        Rc::new(Cell::new(false)),
    );
    let served = serve_kind(kind, &reactor, 2, move || Pauser {
        seen: s.clone(),
        paused_a: slot.clone(),
        told: tx.clone(),
        is_paused: flag.clone(),
    });
    let client = peer(&reactor, move || {
        let mut a = served.connect();
        let mut b = served.connect();
        a.write_all(b"first").unwrap();
        rx.recv_timeout(util::PEER_TIMEOUT)
            .expect("server paused A");
        // Sent while A is paused: it reaches A's socket before B's marker arrives.
        a.write_all(b"second").unwrap();
        b.write_all(b"marker").unwrap();
        read_to_eof(&mut a)
    });
    run_for(&reactor, LIMIT);
    assert_eq!(join(client), b"");
    assert_eq!(
        seen.get(),
        vec!["A first", "B marker", "A second (paused=false)"]
    );
}

/// A server that logs its events, acknowledges data when asked to (so a std peer can
/// wait until its data was read before it shuts down writing), and replies once its
/// peer has finished sending.
struct HalfServer {
    half: bool,
    ack: Option<mpsc::Sender<()>>,
    heard: Vec<u8>,
    seen: Events,
}

impl HalfServer {
    fn heard(&self) -> String {
        String::from_utf8_lossy(&self.heard).into_owned()
    }
}

impl Protocol for HalfServer {
    fn half_closeable(&self) -> bool {
        self.half
    }
    fn data_received(&mut self, t: &Transport, data: &[u8]) {
        self.heard.extend_from_slice(data);
        if let Some(ack) = &self.ack {
            let _ = ack.send(());
        }
        if data == b"x" {
            t.write(b"ack");
        }
    }
    fn read_connection_lost(&mut self, t: &Transport) {
        self.seen.push(format!(
            "server read_connection_lost after {:?}",
            self.heard()
        ));
        t.write(format!("reply to {}", self.heard()).as_bytes());
        t.lose_connection();
    }
    fn connection_lost(&mut self, reason: Reason) {
        self.seen.push(format!(
            "server connection_lost {} after {:?}",
            describe(&reason),
            self.heard()
        ));
    }
}

/// Serves [`HalfServer`]; with `ack`, it signals each data delivery on the channel.
fn half_server(
    kind: Kind,
    reactor: &Reactor,
    half: bool,
    seen: &Events,
    ack: Option<mpsc::Sender<()>>,
) -> Served {
    let s = seen.clone();
    serve_one(kind, reactor, move || HalfServer {
        half,
        ack: ack.clone(),
        heard: Vec::new(),
        seen: s.clone(),
    })
}

/// A std peer that sends `data`, waits until the server read it (if `acks` is given),
/// shuts down its sending side and reads until the end.
fn send_then_shutdown(
    served: Served,
    data: &'static [u8],
    acks: Option<mpsc::Receiver<()>>,
) -> Vec<u8> {
    let mut s = served.connect();
    s.write_all(data).unwrap();
    if let Some(acks) = acks {
        acks.recv_timeout(util::PEER_TIMEOUT)
            .expect("the server read the data");
    }
    s.shutdown(Shutdown::Write).unwrap();
    read_to_eof(&mut s)
}

/// A half-closeable server gets `read_connection_lost` (not `connection_lost`) when the
/// client shuts down its sending side, and can still write its reply.
fn half_closeable_server_gets_read_connection_lost_and_replies(kind: Kind) {
    let reactor = reactor();
    let seen = Events::default();
    let (tx, rx) = mpsc::channel();
    let served = half_server(kind, &reactor, true, &seen, Some(tx));
    let client = peer(&reactor, move || {
        send_then_shutdown(served, b"question", Some(rx))
    });
    run_for(&reactor, LIMIT);
    assert_eq!(join(client), b"reply to question");
    assert_eq!(
        seen.get(),
        vec![
            r#"server read_connection_lost after "question""#,
            r#"server connection_lost Done after "question""#,
        ]
    );
}

/// A protocol that is not half-closeable gets `connection_lost(Done)` when the client
/// shuts down its sending side.
fn plain_server_gets_connection_lost_on_peer_shutdown(kind: Kind) {
    let reactor = reactor();
    let seen = Events::default();
    let (tx, rx) = mpsc::channel();
    let served = half_server(kind, &reactor, false, &seen, Some(tx));
    let client = peer(&reactor, move || {
        send_then_shutdown(served, b"bye", Some(rx))
    });
    run_for(&reactor, LIMIT);
    assert_eq!(join(client), b"");
    assert_eq!(
        seen.get(),
        vec![r#"server connection_lost Done after "bye""#]
    );
}

/// The end of input is noticed when it arrives right behind the last data (one readable
/// edge for both): a plain server gets `connection_lost(Done)`.
fn end_of_input_right_behind_data_is_noticed(kind: Kind) {
    let reactor = reactor();
    let seen = Events::default();
    let served = half_server(kind, &reactor, false, &seen, None);
    let client = peer(&reactor, move || send_then_shutdown(served, b"bye", None));
    run_for(&reactor, LIMIT);
    assert_eq!(join(client), b"");
    assert_eq!(
        seen.get(),
        vec![r#"server connection_lost Done after "bye""#]
    );
}

/// The same for a half-closeable server: `read_connection_lost` follows the data even
/// when both arrive together, and the reply goes out.
fn half_close_right_behind_data_is_noticed(kind: Kind) {
    let reactor = reactor();
    let seen = Events::default();
    let served = half_server(kind, &reactor, true, &seen, None);
    let client = peer(&reactor, move || {
        send_then_shutdown(served, b"question", None)
    });
    run_for(&reactor, LIMIT);
    assert_eq!(join(client), b"reply to question");
    assert_eq!(
        seen.get(),
        vec![
            r#"server read_connection_lost after "question""#,
            r#"server connection_lost Done after "question""#,
        ]
    );
}

thread_local! {
    /// The transport of the [`BothHalves`] connection, for a call from another thread.
    static KEPT: RefCell<Option<Transport>> = const { RefCell::new(None) };
}

/// Half-closeable: acknowledges data, shuts down its own writing once the peer is done,
/// and keeps its transport (in [`KEPT`]) so the test can close it later.
struct BothHalves {
    ack: mpsc::Sender<()>,
    seen: Events,
    reactor: Reactor,
}

impl Protocol for BothHalves {
    fn half_closeable(&self) -> bool {
        true
    }
    fn connection_made(&mut self, t: &Transport) {
        KEPT.with(|k| *k.borrow_mut() = Some(t.clone()));
    }
    fn data_received(&mut self, _: &Transport, _: &[u8]) {
        self.ack.send(()).unwrap();
    }
    fn read_connection_lost(&mut self, t: &Transport) {
        self.seen.push("read_connection_lost");
        t.lose_write_connection();
    }
    fn write_connection_lost(&mut self, _: &Transport) {
        self.seen.push("write_connection_lost");
    }
    fn connection_lost(&mut self, reason: Reason) {
        self.seen
            .push(format!("connection_lost {}", describe(&reason)));
        util::stop(&self.reactor);
    }
}

/// Once both directions are shut, no `connection_lost` comes (even after the peer has
/// gone) until the protocol calls `lose_connection`, which then ends it with `Done`.
fn both_halves_shut_wait_for_lose_connection(kind: Kind) {
    let reactor = reactor();
    let seen = Events::default();
    let (tx, rx) = mpsc::channel();
    let (s, r) = (seen.clone(), reactor.clone());
    let served = serve_one(kind, &reactor, move || BothHalves {
        ack: tx.clone(),
        seen: s.clone(),
        reactor: r.clone(),
    });
    let handle = reactor.thread_handle();
    let client = std::thread::spawn(move || {
        let mut s = served.connect();
        s.write_all(b"q").unwrap();
        rx.recv_timeout(util::PEER_TIMEOUT)
            .expect("server read the data");
        s.shutdown(Shutdown::Write).unwrap();
        let rest = read_to_eof(&mut s);
        drop(s);
        // Gone. Let the reactor take a turn (to see any event the close caused),
        // then have the server close its side.
        handle.call_from_thread(|reactor| {
            reactor.call_later(Duration::ZERO, || {
                let t = KEPT.with(|k| k.borrow_mut().take()).unwrap();
                log::info!("before lose_connection: connected={}", t.is_connected());
                t.lose_connection();
            });
        });
        rest
    });
    run_for(&reactor, LIMIT);
    assert_eq!(join(client), b"");
    assert_eq!(
        seen.get(),
        vec![
            "read_connection_lost",
            "write_connection_lost",
            "connection_lost Done"
        ]
    );
    let before = util::lines_containing("before lose_connection");
    assert_eq!(before.len(), 1);
    assert_eq!(before[0].text, "before lose_connection: connected=true");
}

/// A half-closeable client: sends `x`; on `ack` shuts down writing (with `trailer`
/// written right after asking, which must still go out); closes on the reply.
struct HalfClient {
    trailer: Option<&'static [u8]>,
    seen: Events,
    reactor: Reactor,
}

impl Protocol for HalfClient {
    fn half_closeable(&self) -> bool {
        true
    }
    fn connection_made(&mut self, t: &Transport) {
        t.write(b"x");
    }
    fn data_received(&mut self, t: &Transport, data: &[u8]) {
        let text = String::from_utf8_lossy(data).into_owned();
        self.seen.push(format!("client data {text:?}"));
        if data == b"ack" {
            t.lose_write_connection();
            if let Some(trailer) = self.trailer {
                t.write(trailer);
            }
        } else if text.starts_with("reply to") {
            t.lose_connection();
        }
    }
    fn write_connection_lost(&mut self, t: &Transport) {
        self.seen.push("client write_connection_lost");
        t.write(b"dropped: the write side is shut");
    }
    fn connection_lost(&mut self, reason: Reason) {
        self.seen
            .push(format!("client connection_lost {}", describe(&reason)));
        util::stop(&self.reactor);
    }
}

struct HalfClientFactory {
    trailer: Option<&'static [u8]>,
    seen: Events,
    reactor: Reactor,
}

impl Factory for HalfClientFactory {
    type Protocol = HalfClient;
    fn build_protocol(&self, _: &Address) -> Option<HalfClient> {
        Some(HalfClient {
            trailer: self.trailer,
            seen: self.seen.clone(),
            reactor: self.reactor.clone(),
        })
    }
}

impl ClientFactory for HalfClientFactory {}

/// Runs a [`HalfClient`] against a half-closeable [`HalfServer`]; returns the events.
fn half_client(trailer: Option<&'static [u8]>) -> Vec<String> {
    let reactor = reactor();
    let seen = Events::default();
    let addr = half_server(Kind::Tcp, &reactor, true, &seen, None).addr();
    let factory = Shared::new(HalfClientFactory {
        trailer,
        seen: seen.clone(),
        reactor: reactor.clone(),
    });
    reactor.connect_tcp("127.0.0.1", addr.port(), factory);
    run_for(&reactor, LIMIT);
    seen.get()
}

/// A half-closeable client's `lose_write_connection` shuts down writing and delivers
/// `write_connection_lost`; the server gets `read_connection_lost`, and the client still
/// reads its reply; writes after the shutdown are dropped.
#[test]
fn lose_write_connection_delivers_write_connection_lost() {
    let seen = half_client(None);
    util::assert_in_order(
        &seen,
        &[
            r#"client data "ack""#,
            "client write_connection_lost",
            r#"server read_connection_lost after "x""#,
            r#"client data "reply to x""#,
            "client connection_lost Done",
        ],
    );
    let client: Vec<_> = seen.iter().filter(|e| e.starts_with("client")).collect();
    assert_eq!(
        client,
        [
            r#"client data "ack""#,
            "client write_connection_lost",
            r#"client data "reply to x""#,
            "client connection_lost Done",
        ],
        "nothing else reaches the client"
    );
}

/// Data written after `lose_write_connection` but before the shutdown completes is still
/// sent, ahead of the end of input.
#[test]
fn writes_before_the_write_shutdown_completes_are_sent() {
    let seen = half_client(Some(b"+more"));
    util::assert_in_order(
        &seen,
        &[
            "client write_connection_lost",
            r#"server read_connection_lost after "x+more""#,
            r#"client data "reply to x+more""#,
            "client connection_lost Done",
        ],
    );
}

/// On a UNIX socketpair, both addresses are unnamed (`UNIXAddress(None)`), and the TCP
/// options are refused as unsupported.
#[test]
fn unix_transport_addresses_and_refused_options() {
    let reactor = reactor();
    let seen = Events::default();
    let s = seen.clone();
    let served = serve_one(Kind::Unix, &reactor, move || UnixInspect(s.clone()));
    let client = peer(&reactor, move || read_to_eof(&mut served.connect()));
    run_for(&reactor, LIMIT);
    join(client);
    assert_eq!(
        seen.get(),
        vec![
            "peer UNIXAddress(None)",
            "host UNIXAddress(None)",
            "no_delay Unsupported Unsupported keep_alive Unsupported Unsupported",
        ]
    );
}

/// Records a UNIX transport's addresses and what its TCP options answer, then closes.
struct UnixInspect(Events);

impl Protocol for UnixInspect {
    fn connection_made(&mut self, t: &Transport) {
        let kind = |r: std::io::Result<()>| format!("{:?}", r.map_err(|e| e.kind()).err());
        self.0.push(format!("peer {}", t.peer()));
        self.0.push(format!("host {}", t.host()));
        self.0.push(
            format!(
                "no_delay {} {} keep_alive {} {}",
                kind(t.set_no_delay(true)),
                kind(t.no_delay().map(drop)),
                kind(t.set_keep_alive(true)),
                kind(t.keep_alive().map(drop)),
            )
            .replace("Some(", "")
            .replace(')', ""),
        );
        t.lose_connection();
    }
}

over_both_kinds!(
    write_and_write_sequence_keep_order,
    lose_connection_flushes_a_large_write_first,
    writes_after_lose_connection_still_arrive,
    abort_connection_is_aborted_later_and_discards,
    writes_to_a_closed_transport_are_dropped,
    pause_reading_holds_data_until_resume,
    half_closeable_server_gets_read_connection_lost_and_replies,
    plain_server_gets_connection_lost_on_peer_shutdown,
    end_of_input_right_behind_data_is_noticed,
    half_close_right_behind_data_is_noticed,
    both_halves_shut_wait_for_lose_connection,
);
