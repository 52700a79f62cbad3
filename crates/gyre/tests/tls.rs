//! TLS over loopback TCP: a round trip, every bad-certificate case, a peer
//! that does not speak TLS, a handshake timeout, a reset mid-handshake,
//! client certificates, ALPN and SNI, producers through TLS with a slow
//! reader, a panicking protocol, half-close through close_notify, and
//! STARTTLS with bytes in flight. Certificates are made by rcgen at test
//! time (`tls_kit`).

mod tls_kit;
mod util;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use gyre::deferred::Failure;
use gyre::endpoint::{
    ClientEndpoint, ServerEndpointExt, TcpClientEndpoint, TcpServerEndpoint, TlsClientEndpoint,
    TlsServerEndpoint,
};
use gyre::testing::success_result_of;
use gyre::tls::{ClientTls, ServerTls, StartTls, TlsError, TlsLayer, TlsSettings, tls_factory};
use gyre::{
    ConnectError, Factory, Producer, Protocol, PushProducer, Reactor, Reason, Transport,
    for_protocol,
};
use tls_kit::{Ca, Leaf, self_signed};
use util::{Events, expect_errors, lines_containing, run_for};

const LIMIT: Duration = Duration::from_secs(20);

fn server_tls(leaf: &Leaf) -> ServerTls {
    ServerTls::builder()
        .certificate(leaf.chain(), leaf.key())
        .build()
        .unwrap()
}

fn client_tls(ca: &Ca) -> ClientTls {
    ClientTls::builder()
        .roots(vec![ca.der.clone()])
        .build()
        .unwrap()
}

/// Listens on 127.0.0.1 with TLS; returns the port.
fn listen<F: Factory>(reactor: &Reactor, tls: ServerTls, factory: F) -> u16 {
    let tcp = TcpServerEndpoint::new(reactor, 0).with_interface("127.0.0.1");
    let endpoint = TlsServerEndpoint::new(reactor, Box::new(tcp), tls);
    success_result_of(&endpoint.listen(factory))
        .address()
        .port()
}

fn endpoint(reactor: &Reactor, port: u16, tls: ClientTls, name: &str) -> TlsClientEndpoint {
    let tcp = TcpClientEndpoint::new(reactor, "127.0.0.1", port);
    TlsClientEndpoint::new(reactor, Box::new(tcp), tls, name)
}

struct Echo;
impl Protocol for Echo {
    fn data_received(&mut self, t: &Transport, data: &[u8]) {
        t.write(data);
    }
}

/// Records a server connection's life.
struct Watch {
    events: Events,
}
impl Protocol for Watch {
    fn connection_made(&mut self, _t: &Transport) {
        self.events.push("made");
    }
    fn data_received(&mut self, t: &Transport, data: &[u8]) {
        t.write(data);
    }
    fn connection_lost(&mut self, reason: Reason) {
        self.events.push(format!("lost: {reason}"));
    }
}

/// Sends `send`, closes once `expect` bytes came back, stops the reactor
/// when the connection is gone.
struct Client {
    send: Vec<u8>,
    expect: usize,
    got: Rc<RefCell<Vec<u8>>>,
    reason: Rc<RefCell<Option<Reason>>>,
    reactor: Reactor,
    stop: bool,
}
impl Protocol for Client {
    fn connection_made(&mut self, t: &Transport) {
        t.write(&self.send);
    }
    fn data_received(&mut self, t: &Transport, data: &[u8]) {
        self.got.borrow_mut().extend_from_slice(data);
        if self.got.borrow().len() >= self.expect {
            t.lose_connection();
        }
    }
    fn connection_lost(&mut self, reason: Reason) {
        *self.reason.borrow_mut() = Some(reason);
        if self.stop {
            self.reactor.stop().unwrap();
        }
    }
}

type Got = Rc<RefCell<Vec<u8>>>;
type Lost = Rc<RefCell<Option<Reason>>>;

fn client(reactor: &Reactor, send: &[u8], expect: usize) -> (Client, Got, Lost) {
    let got = Got::default();
    let reason = Lost::default();
    (
        Client {
            send: send.to_vec(),
            expect,
            got: got.clone(),
            reason: reason.clone(),
            reactor: reactor.clone(),
            stop: true,
        },
        got,
        reason,
    )
}

/// Connects; returns the connect failure, if it failed (stopping the
/// reactor then), after running the reactor until something stops it.
fn connect_and_run(
    reactor: &Reactor,
    endpoint: &dyn ClientEndpoint,
    protocol: Client,
) -> Option<Failure> {
    let failed: Rc<RefCell<Option<Failure>>> = Rc::default();
    let f = failed.clone();
    let r = reactor.clone();
    gyre::endpoint::connect_protocol(endpoint, protocol).consume(move |outcome| {
        if let Err(e) = outcome {
            *f.borrow_mut() = Some(e);
            r.stop().unwrap();
        }
    });
    run_for(reactor, LIMIT);
    failed.borrow_mut().take()
}

fn tls_error_of(failure: &Failure) -> TlsError {
    match failure.check::<ConnectError>() {
        Some(ConnectError::Tls(e)) => e.clone(),
        _ => panic!("expected a TLS connect error, got {failure:?}"),
    }
}

#[test]
fn echo_round_trip_closes_cleanly_on_both_sides() {
    let reactor = Reactor::new().unwrap();
    let ca = Ca::new("gyre test CA");
    let leaf = ca.leaf(&["localhost"]);
    let events = Events::default();
    let e = events.clone();
    let port = listen(
        &reactor,
        server_tls(&leaf),
        for_protocol(move || Watch { events: e.clone() }),
    );
    let (c, got, reason) = client(&reactor, b"hello over TLS", 14);
    // Run until the server has heard of the close too.
    let (r, e) = (reactor.clone(), events.clone());
    let _poll = gyre::LoopingCall::new(&reactor, move || {
        if e.get().len() == 2 {
            let _ = r.stop();
        }
    });
    let c = Client { stop: false, ..c };
    let _running = _poll.start(Duration::from_millis(10), true);
    let failed = connect_and_run(
        &reactor,
        &endpoint(&reactor, port, client_tls(&ca), "localhost"),
        c,
    );
    assert!(failed.is_none(), "{failed:?}");
    assert_eq!(&*got.borrow(), b"hello over TLS");
    assert!(
        matches!(*reason.borrow(), Some(Reason::Done)),
        "{:?}",
        reason.borrow()
    );
    assert_eq!(
        events.get(),
        vec![
            "made".to_string(),
            "lost: Connection was closed cleanly.".to_string()
        ]
    );
}

fn bad_certificate_case(leaf: &Leaf, trusted: &Ca, name: &str) -> (TlsError, Vec<String>) {
    let reactor = Reactor::new().unwrap();
    let events = Events::default();
    let e = events.clone();
    let port = listen(
        &reactor,
        server_tls(leaf),
        for_protocol(move || Watch { events: e.clone() }),
    );
    let (c, _got, reason) = client(&reactor, b"secret", 6);
    let failed = connect_and_run(
        &reactor,
        &endpoint(&reactor, port, client_tls(trusted), name),
        c,
    )
    .expect("the connect fails");
    // The client protocol was never told of a connection.
    assert!(reason.borrow().is_none());
    (tls_error_of(&failed), events.get())
}

#[test]
fn self_signed_certificate_fails_the_connect() {
    let ca = Ca::new("some CA");
    let (error, server) = bad_certificate_case(&self_signed(&["localhost"]), &ca, "localhost");
    assert!(matches!(error, TlsError::UntrustedCertificate), "{error:?}");
    assert!(server.is_empty(), "{server:?}");
    assert_eq!(lines_containing("certificate verify failed").len(), 1);
}

#[test]
fn certificate_from_another_ca_fails_the_connect() {
    let (ca, other) = (Ca::new("one CA"), Ca::new("another CA"));
    let (error, server) = bad_certificate_case(&ca.leaf(&["localhost"]), &other, "localhost");
    assert!(matches!(error, TlsError::UntrustedCertificate), "{error:?}");
    assert!(server.is_empty(), "{server:?}");
}

#[test]
fn expired_certificate_fails_the_connect() {
    let ca = Ca::new("gyre test CA");
    let (error, server) = bad_certificate_case(&ca.expired_leaf(&["localhost"]), &ca, "localhost");
    assert!(matches!(error, TlsError::CertificateExpired), "{error:?}");
    assert!(server.is_empty(), "{server:?}");
}

#[test]
fn wrong_name_fails_the_connect() {
    let ca = Ca::new("gyre test CA");
    let (error, server) = bad_certificate_case(&ca.leaf(&["example.org"]), &ca, "localhost");
    match &error {
        TlsError::WrongName { name } => assert_eq!(name, "localhost"),
        other => panic!("{other:?}"),
    }
    assert!(server.is_empty(), "{server:?}");
    assert_eq!(
        error.to_string(),
        "certificate verify failed: the peer's certificate is not valid for localhost"
    );
}

/// Says a line when connected, reads nothing.
struct Banner;
impl Protocol for Banner {
    fn connection_made(&mut self, t: &Transport) {
        t.write(b"220 hello, I speak plain text\r\n");
    }
}

#[test]
fn a_server_that_does_not_speak_tls_fails_the_connect() {
    let reactor = Reactor::new().unwrap();
    let port = reactor
        .listen_tcp_with(0, for_protocol(|| Banner), util::loopback())
        .unwrap()
        .address()
        .port();
    let ca = Ca::new("gyre test CA");
    let (c, _got, _reason) = client(&reactor, b"x", 1);
    let failed = connect_and_run(
        &reactor,
        &endpoint(&reactor, port, client_tls(&ca), "localhost"),
        c,
    )
    .expect("the connect fails");
    let error = tls_error_of(&failed);
    assert!(matches!(error, TlsError::NotTls(_)), "{error:?}");
}

#[test]
fn a_client_that_does_not_speak_tls_is_dropped_and_never_reaches_the_protocol() {
    let reactor = Reactor::new().unwrap();
    util::capture_logs();
    let ca = Ca::new("gyre test CA");
    let events = Events::default();
    let e = events.clone();
    let port = listen(
        &reactor,
        server_tls(&ca.leaf(&["localhost"])),
        for_protocol(move || Watch { events: e.clone() }),
    );
    let peer = util::peer(&reactor, move || {
        use std::io::Write;
        let mut s = util::std_connect(([127, 0, 0, 1], port).into());
        s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        util::read_to_eof(&mut s)
    });
    run_for(&reactor, LIMIT);
    // The server answers with an alert, then closes.
    let _answer = util::join(peer);
    assert!(events.get().is_empty(), "{:?}", events.get());
    let lines = lines_containing("not speaking TLS");
    assert_eq!(lines.len(), 1, "{:?}", util::texts());
}

/// Accepts, then says nothing at all.
struct Silent;
impl Protocol for Silent {}

#[test]
fn a_handshake_that_never_completes_times_out() {
    let reactor = Reactor::new().unwrap();
    let port = reactor
        .listen_tcp_with(0, for_protocol(|| Silent), util::loopback())
        .unwrap()
        .address()
        .port();
    let ca = Ca::new("gyre test CA");
    let ep = endpoint(&reactor, port, client_tls(&ca), "localhost")
        .with_handshake_timeout(Some(Duration::from_millis(200)));
    let (c, _got, _reason) = client(&reactor, b"x", 1);
    let failed = connect_and_run(&reactor, &ep, c).expect("the connect fails");
    let error = tls_error_of(&failed);
    assert!(
        matches!(error, TlsError::HandshakeTimeout(d) if d == Duration::from_millis(200)),
        "{error:?}"
    );
    assert_eq!(lines_containing("did not complete within").len(), 1);
}

/// Resets the connection as soon as anything arrives.
struct Resetter;
impl Protocol for Resetter {
    fn data_received(&mut self, t: &Transport, _data: &[u8]) {
        t.abort_connection();
    }
}

#[test]
fn a_reset_mid_handshake_fails_the_connect_with_its_reason() {
    let reactor = Reactor::new().unwrap();
    let port = reactor
        .listen_tcp_with(0, for_protocol(|| Resetter), util::loopback())
        .unwrap()
        .address()
        .port();
    let ca = Ca::new("gyre test CA");
    let (c, _got, _reason) = client(&reactor, b"x", 1);
    let failed = connect_and_run(
        &reactor,
        &endpoint(&reactor, port, client_tls(&ca), "localhost"),
        c,
    )
    .expect("the connect fails");
    match tls_error_of(&failed) {
        TlsError::ClosedDuringHandshake(reason) => {
            assert!(
                matches!(*reason, Reason::Lost(_) | Reason::Done),
                "{reason:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(lines_containing("closed during the TLS handshake").len(), 1);
}

#[test]
fn client_certificates_are_required_and_checked() {
    let ca = Ca::new("gyre test CA");
    let client_ca = Ca::new("client CA");
    let leaf = ca.leaf(&["localhost"]);
    let tls = ServerTls::builder()
        .certificate(leaf.chain(), leaf.key())
        .client_cas(vec![client_ca.der.clone()])
        .build()
        .unwrap();

    // With a certificate from the client CA: works.
    let reactor = Reactor::new().unwrap();
    let port = listen(&reactor, tls.clone(), for_protocol(|| Echo));
    let me = client_ca.leaf(&["client.example"]);
    let with_cert = ClientTls::builder()
        .roots(vec![ca.der.clone()])
        .client_certificate(me.chain(), me.key())
        .build()
        .unwrap();
    let (c, got, reason) = client(&reactor, b"let me in", 9);
    assert!(
        connect_and_run(
            &reactor,
            &endpoint(&reactor, port, with_cert, "localhost"),
            c
        )
        .is_none()
    );
    assert_eq!(&*got.borrow(), b"let me in");
    assert!(matches!(*reason.borrow(), Some(Reason::Done)));

    // Without one: under TLS 1.3 the client finishes its handshake first,
    // then the server's alert ends the connection with a TLS reason.
    let reactor = Reactor::new().unwrap();
    let port = listen(&reactor, tls, for_protocol(|| Echo));
    let (c, got, reason) = client(&reactor, b"let me in", 9);
    let failed = connect_and_run(
        &reactor,
        &endpoint(&reactor, port, client_tls(&ca), "localhost"),
        c,
    );
    let error = match (failed, reason.borrow().clone()) {
        (Some(f), _) => tls_error_of(&f),
        (None, Some(Reason::Tls(e))) => e,
        other => panic!("{other:?}"),
    };
    assert!(matches!(error, TlsError::PeerAlert(_)), "{error:?}");
    assert!(got.borrow().is_empty());
    assert_eq!(lines_containing("presented no certificate").len(), 1);
}

/// Writes the negotiated ALPN protocol and the server name it served.
struct Negotiated {
    seen: Rc<RefCell<Vec<String>>>,
}
impl Protocol for Negotiated {
    fn data_received(&mut self, t: &Transport, data: &[u8]) {
        self.seen
            .borrow_mut()
            .push(String::from_utf8_lossy(data).into_owned());
        t.write(data);
    }
}

#[test]
fn sni_picks_the_certificate_for_the_name_asked_for() {
    let ca = Ca::new("gyre test CA");
    let default = ca.leaf(&["default.test"]);
    let other = ca.leaf(&["other.test"]);
    let tls = ServerTls::builder()
        .certificate(default.chain(), default.key())
        .sni_certificate("other.test", other.chain(), other.key())
        .alpn(&["h2", "gyre/1"])
        .build()
        .unwrap();
    for name in ["default.test", "other.test"] {
        let reactor = Reactor::new().unwrap();
        let seen = Rc::new(RefCell::new(Vec::new()));
        let s = seen.clone();
        let port = listen(
            &reactor,
            tls.clone(),
            for_protocol(move || Negotiated { seen: s.clone() }),
        );
        let client_tls = ClientTls::builder()
            .roots(vec![ca.der.clone()])
            .alpn(&["gyre/1"])
            .build()
            .unwrap();
        let (c, got, _reason) = client(&reactor, name.as_bytes(), name.len());
        // Verification against `name` passes only if the server chose the
        // certificate for that name.
        let failed = connect_and_run(&reactor, &endpoint(&reactor, port, client_tls, name), c);
        assert!(failed.is_none(), "{name}: {failed:?}");
        assert_eq!(&*got.borrow(), name.as_bytes());
    }
}

// ----- producers through TLS -----

/// Writes 16 KiB chunks while not paused, up to `total`.
struct Source(Rc<SourceState>);

struct SourceState {
    transport: Transport,
    paused: Cell<bool>,
    sent: Cell<usize>,
    total: usize,
    pauses: Cell<usize>,
    max_buffered: Cell<usize>,
}

impl SourceState {
    fn pump(&self) {
        let chunk = vec![b'x'; 16 * 1024];
        while !self.paused.get() && self.sent.get() < self.total {
            self.transport.write(&chunk);
            self.sent.set(self.sent.get() + chunk.len());
            self.max_buffered
                .set(self.max_buffered.get().max(self.transport.buffered()));
        }
        if self.sent.get() >= self.total {
            self.transport.unregister_producer();
            self.transport.lose_connection();
        }
    }
}

impl PushProducer for Source {
    fn pause_producing(&self) {
        self.0.paused.set(true);
        self.0.pauses.set(self.0.pauses.get() + 1);
    }
    fn resume_producing(&self) {
        self.0.paused.set(false);
        self.0.pump();
    }
    fn stop_producing(&self) {
        self.0.paused.set(true);
    }
}

struct Streamer {
    total: usize,
    source: Rc<RefCell<Option<Rc<SourceState>>>>,
}

impl Protocol for Streamer {
    fn connection_made(&mut self, t: &Transport) {
        let source = Rc::new(SourceState {
            transport: t.clone(),
            paused: Cell::new(false),
            sent: Cell::new(0),
            total: self.total,
            pauses: Cell::new(0),
            max_buffered: Cell::new(0),
        });
        t.register_producer(Producer::streaming(Source(source.clone())))
            .unwrap();
        *self.source.borrow_mut() = Some(source.clone());
        source.pump();
    }
}

/// Reads slowly: pauses after every read, resumes on a timer.
struct SlowReader {
    got: Rc<Cell<usize>>,
    reactor: Reactor,
    lost: Lost,
}

impl Protocol for SlowReader {
    fn data_received(&mut self, t: &Transport, data: &[u8]) {
        self.got.set(self.got.get() + data.len());
        t.pause_reading();
        let t = t.clone();
        self.reactor
            .call_later(Duration::from_millis(2), move || t.resume_reading());
    }
    fn connection_lost(&mut self, reason: Reason) {
        *self.lost.borrow_mut() = Some(reason);
        self.reactor.stop().unwrap();
    }
}

#[test]
fn a_producer_is_paused_and_resumed_through_tls_for_a_slow_reader() {
    let reactor = Reactor::new().unwrap();
    let ca = Ca::new("gyre test CA");
    let total = 4 * 1024 * 1024;
    let source: Rc<RefCell<Option<Rc<SourceState>>>> = Rc::default();
    let s = source.clone();
    let port = listen(
        &reactor,
        server_tls(&ca.leaf(&["localhost"])),
        for_protocol(move || Streamer {
            total,
            source: s.clone(),
        }),
    );
    let got = Rc::new(Cell::new(0));
    let lost = Lost::default();
    let reader = SlowReader {
        got: got.clone(),
        reactor: reactor.clone(),
        lost: lost.clone(),
    };
    let ep = endpoint(&reactor, port, client_tls(&ca), "localhost");
    let _connecting = gyre::endpoint::connect_protocol(&ep, reader);
    run_for(&reactor, Duration::from_secs(60));
    assert!(
        matches!(*lost.borrow(), Some(Reason::Done)),
        "{:?}",
        lost.borrow()
    );
    assert_eq!(got.get(), total);
    let source = source.borrow().clone().expect("served");
    assert!(source.pauses.get() > 0, "never paused");
    // The 64 KiB rule counts the encrypted bytes: the producer is paused
    // once they pass 64 KiB, so at most one chunk (plus its records'
    // overhead) more is ever buffered.
    assert!(
        source.max_buffered.get() <= 64 * 1024 + 17 * 1024,
        "buffered up to {}",
        source.max_buffered.get()
    );
}

// ----- a panic in the wrapped protocol -----

struct Panicker {
    events: Events,
}
impl Protocol for Panicker {
    fn connection_made(&mut self, _t: &Transport) {
        self.events.push("made");
    }
    fn data_received(&mut self, t: &Transport, data: &[u8]) {
        if data == b"trigger" {
            panic!("boom in a TLS protocol");
        }
        t.write(data);
    }
    fn connection_lost(&mut self, reason: Reason) {
        self.events.push(format!("lost: {reason}"));
    }
}

#[test]
fn a_panic_in_the_wrapped_protocol_closes_only_its_connection() {
    expect_errors(&["boom in a TLS protocol"]);
    let reactor = Reactor::new().unwrap();
    let ca = Ca::new("gyre test CA");
    let events = Events::default();
    let e = events.clone();
    let port = listen(
        &reactor,
        server_tls(&ca.leaf(&["localhost"])),
        for_protocol(move || Panicker { events: e.clone() }),
    );
    let ep = endpoint(&reactor, port, client_tls(&ca), "localhost");
    // One connection makes its protocol panic, another one is echoed.
    let (bad, _got, bad_reason) = client(&reactor, b"trigger", 1);
    let (good, good_got, good_reason) = client(&reactor, b"still served", 12);
    let (bad, good) = (
        Client { stop: false, ..bad },
        Client {
            stop: false,
            ..good
        },
    );
    let _a = gyre::endpoint::connect_protocol(&ep, bad);
    let _b = gyre::endpoint::connect_protocol(&ep, good);
    let (r, br, gr) = (reactor.clone(), bad_reason.clone(), good_reason.clone());
    let poll = gyre::LoopingCall::new(&reactor, move || {
        if br.borrow().is_some() && gr.borrow().is_some() {
            let _ = r.stop();
        }
    });
    let _running = poll.start(Duration::from_millis(10), true);
    run_for(&reactor, LIMIT);
    // The panicking connection was aborted: no close_notify for its client.
    assert!(
        matches!(*bad_reason.borrow(), Some(Reason::Lost(_))),
        "{:?}",
        bad_reason.borrow()
    );
    assert_eq!(&*good_got.borrow(), b"still served");
    assert!(matches!(*good_reason.borrow(), Some(Reason::Done)));
    let got = events.get();
    assert!(
        got.iter()
            .any(|l| l.starts_with("lost: A callback panicked: boom in a TLS protocol")),
        "{got:?}"
    );
    assert_eq!(util::lines_containing("boom in a TLS protocol").len(), 1);
}

// ----- half-close -----

/// Half-closeable: answers with the byte count once the peer is done.
struct Counter {
    n: usize,
    events: Events,
}
impl Protocol for Counter {
    fn half_closeable(&self) -> bool {
        true
    }
    fn data_received(&mut self, _t: &Transport, data: &[u8]) {
        self.n += data.len();
    }
    fn read_connection_lost(&mut self, t: &Transport) {
        self.events.push("read lost");
        t.write(format!("{} bytes", self.n).as_bytes());
        t.lose_connection();
    }
    fn connection_lost(&mut self, reason: Reason) {
        self.events.push(format!("lost: {reason}"));
    }
}

/// Sends, half-closes, reads the answer.
struct HalfCloser {
    got: Got,
    reactor: Reactor,
    lost: Lost,
}
impl Protocol for HalfCloser {
    fn half_closeable(&self) -> bool {
        true
    }
    fn connection_made(&mut self, t: &Transport) {
        t.write(b"twelve bytes");
        t.lose_write_connection();
    }
    fn data_received(&mut self, _t: &Transport, data: &[u8]) {
        self.got.borrow_mut().extend_from_slice(data);
    }
    fn read_connection_lost(&mut self, t: &Transport) {
        t.lose_connection();
    }
    fn connection_lost(&mut self, reason: Reason) {
        *self.lost.borrow_mut() = Some(reason);
        self.reactor.stop().unwrap();
    }
}

#[test]
fn half_close_is_close_notify_and_the_other_side_can_still_answer() {
    let reactor = Reactor::new().unwrap();
    let ca = Ca::new("gyre test CA");
    let events = Events::default();
    let e = events.clone();
    let port = listen(
        &reactor,
        server_tls(&ca.leaf(&["localhost"])),
        for_protocol(move || Counter {
            n: 0,
            events: e.clone(),
        }),
    );
    let got = Got::default();
    let lost = Lost::default();
    let ep = endpoint(&reactor, port, client_tls(&ca), "localhost");
    let _c = gyre::endpoint::connect_protocol(
        &ep,
        HalfCloser {
            got: got.clone(),
            reactor: reactor.clone(),
            lost: lost.clone(),
        },
    );
    run_for(&reactor, LIMIT);
    assert_eq!(&*got.borrow(), b"12 bytes");
    assert!(
        matches!(*lost.borrow(), Some(Reason::Done)),
        "{:?}",
        lost.borrow()
    );
    assert_eq!(events.get()[0], "read lost");
}

// ----- STARTTLS -----

/// A line protocol: "STARTTLS\n" switches both sides to TLS; before that,
/// lines are answered in clear.
struct StartTlsServer {
    handle: Rc<RefCell<Option<StartTls>>>,
    settings: TlsSettings,
    events: Events,
}
impl Protocol for StartTlsServer {
    fn data_received(&mut self, t: &Transport, data: &[u8]) {
        self.events.push(String::from_utf8_lossy(data).into_owned());
        if data == b"STARTTLS\n" {
            // In clear, then the switch; both before the handshake.
            t.write(b"GO AHEAD\n");
            let handle = self.handle.borrow().clone().expect("handle");
            handle.start_tls(&self.settings).unwrap();
            t.write(b"encrypted hello\n");
        } else {
            t.write(data);
        }
    }
}

#[test]
fn start_tls_sends_earlier_bytes_in_clear_once_then_encrypts() {
    let reactor = Reactor::new().unwrap();
    let ca = Ca::new("gyre test CA");
    let settings = TlsSettings::server(&reactor, server_tls(&ca.leaf(&["localhost"])));
    let events = Events::default();
    let (e, st, c) = (events.clone(), settings.clone(), reactor.clone());
    struct Plain<F>(F);
    let factory = for_protocol(move || {
        let handle = Rc::new(RefCell::new(None));
        let p = TlsLayer::plain(
            StartTlsServer {
                handle: handle.clone(),
                settings: st.clone(),
                events: e.clone(),
            },
            &c,
        );
        *handle.borrow_mut() = Some(p.start_tls_handle());
        p
    });
    let _ = Plain(());
    let port = reactor
        .listen_tcp_with(0, factory, util::loopback())
        .unwrap()
        .address()
        .port();

    // A client that speaks in clear, then switches when told to go ahead.
    struct StartTlsClient {
        handle: Rc<RefCell<Option<StartTls>>>,
        settings: TlsSettings,
        got: Got,
        reactor: Reactor,
    }
    impl Protocol for StartTlsClient {
        fn connection_made(&mut self, t: &Transport) {
            t.write(b"STARTTLS\n");
        }
        fn data_received(&mut self, t: &Transport, data: &[u8]) {
            self.got.borrow_mut().extend_from_slice(data);
            if self.got.borrow().ends_with(b"GO AHEAD\n") {
                let handle = self.handle.borrow().clone().expect("handle");
                handle.start_tls(&self.settings).unwrap();
                t.write(b"secret\n");
            }
            if self.got.borrow().ends_with(b"secret\n") {
                t.lose_connection();
            }
        }
        fn connection_lost(&mut self, _reason: Reason) {
            self.reactor.stop().unwrap();
        }
    }
    let got = Got::default();
    let handle = Rc::new(RefCell::new(None));
    let client_settings = TlsSettings::client(&reactor, client_tls(&ca), "localhost");
    let p = TlsLayer::plain(
        StartTlsClient {
            handle: handle.clone(),
            settings: client_settings,
            got: got.clone(),
            reactor: reactor.clone(),
        },
        &reactor,
    );
    *handle.borrow_mut() = Some(p.start_tls_handle());
    let ep = TcpClientEndpoint::new(&reactor, "127.0.0.1", port);
    let _c = gyre::endpoint::connect_protocol(&ep, p);
    run_for(&reactor, LIMIT);
    // "GO AHEAD" once in clear, then (decrypted) what came after the switch.
    assert_eq!(&*got.borrow(), b"GO AHEAD\nencrypted hello\nsecret\n");
    assert_eq!(
        events.get(),
        vec!["STARTTLS\n".to_string(), "secret\n".to_string()]
    );
}

#[allow(dead_code)]
fn _tls_factory_is_a_factory(reactor: &Reactor, tls: ServerTls) -> impl Factory {
    tls_factory(for_protocol(|| Echo), TlsSettings::server(reactor, tls))
}

// ----- endpoint strings -----

#[test]
fn ssl_server_and_tls_client_strings_round_trip() {
    use gyre::endpoint::{client_from_string, server_from_string};
    let reactor = Reactor::new().unwrap();
    let ca = Ca::new("gyre test CA");
    let dir = tls_kit::temp_dir("strings");
    // privateKey alone: key and certificate in one file (certKey defaults
    // to privateKey, as in Twisted).
    let (_cert, _key, both) = ca.leaf(&["localhost"]).write(&dir, "server");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let quote = gyre::endpoint::parse::quote_string_argument;
    let server = server_from_string(
        &reactor,
        &format!(
            "ssl:0:privateKey={}:interface=127.0.0.1",
            quote(both.to_str().unwrap())
        ),
    )
    .unwrap();
    let port = success_result_of(&server.listen(for_protocol(|| Echo)))
        .address()
        .port();
    let described = client_from_string(
        &reactor,
        &format!(
            "tls:host=localhost:port={port}:trustRoots={}",
            quote(ca_file.to_str().unwrap())
        ),
    )
    .unwrap();
    let (c, got, reason) = client(&reactor, b"via strings", 11);
    assert!(connect_and_run(&reactor, &*described, c).is_none());
    assert_eq!(&*got.borrow(), b"via strings");
    assert!(matches!(*reason.borrow(), Some(Reason::Done)));
}

#[test]
fn a_tls_client_string_verifies_against_the_system_roots_by_default() {
    use gyre::endpoint::client_from_string;
    let reactor = Reactor::new().unwrap();
    let ca = Ca::new("gyre test CA");
    let port = listen(
        &reactor,
        server_tls(&ca.leaf(&["localhost"])),
        for_protocol(|| Echo),
    );
    let described = client_from_string(&reactor, &format!("tls:localhost:{port}")).unwrap();
    let (c, _got, _reason) = client(&reactor, b"x", 1);
    let failed = connect_and_run(&reactor, &*described, c).expect("not trusted");
    let error = tls_error_of(&failed);
    assert!(matches!(error, TlsError::UntrustedCertificate), "{error:?}");
}

#[test]
fn tls_string_errors_are_typed_and_name_the_file() {
    use gyre::endpoint::{EndpointError, client_from_string, server_from_string};
    let reactor = Reactor::new().unwrap();
    match server_from_string(&reactor, "ssl:0:privateKey=/nonexistent/key.pem") {
        Err(EndpointError::Tls { detail, .. }) => {
            assert!(
                detail.starts_with("cannot read /nonexistent/key.pem"),
                "{detail}"
            )
        }
        other => panic!("{:?}", other.map(|e| e.to_string())),
    }
    match server_from_string(&reactor, "ssl:0:privateKey=k.pem:sslmethod=TLSv1") {
        Err(EndpointError::UnexpectedKeyword { key, .. }) => assert_eq!(key, "sslmethod"),
        other => panic!("{:?}", other.map(|e| e.to_string())),
    }
    match client_from_string(
        &reactor,
        "tls:host=localhost:port=443:trustRoots=/nonexistent",
    ) {
        Err(EndpointError::Tls { detail, .. }) => {
            assert!(detail.contains("/nonexistent"), "{detail}")
        }
        other => panic!("{:?}", other.map(|e| e.to_string())),
    }
    match client_from_string(&reactor, "tls:host=localhost") {
        Err(EndpointError::MissingParameter { name, .. }) => assert_eq!(name, "port"),
        other => panic!("{:?}", other.map(|e| e.to_string())),
    }
}

/// Closes, then writes in the same call: as over TCP, the write is still
/// delivered (Twisted's TLS drops it; see the reference, 17.1).
struct CloseThenWrite;
impl Protocol for CloseThenWrite {
    fn data_received(&mut self, t: &Transport, _data: &[u8]) {
        t.write(b"before ");
        t.lose_connection();
        t.write(b"after");
    }
}

#[test]
fn a_write_right_after_lose_connection_is_still_delivered_then_close_notify() {
    let reactor = Reactor::new().unwrap();
    let ca = Ca::new("gyre test CA");
    let port = listen(
        &reactor,
        server_tls(&ca.leaf(&["localhost"])),
        for_protocol(|| CloseThenWrite),
    );
    // Expects more than comes: the server's close ends it.
    let (c, got, reason) = client(&reactor, b"go", 1000);
    let failed = connect_and_run(
        &reactor,
        &endpoint(&reactor, port, client_tls(&ca), "localhost"),
        c,
    );
    assert!(failed.is_none(), "{failed:?}");
    assert_eq!(&*got.borrow(), b"before after");
    assert!(
        matches!(*reason.borrow(), Some(Reason::Done)),
        "{:?}",
        reason.borrow()
    );
}

/// Pauses reading as soon as it is made (as a port forwarder does until
/// its other side is up) and resumes 100 ms later; notes what it gets when.
struct PausedAtStart {
    events: Events,
    reactor: Reactor,
}
impl Protocol for PausedAtStart {
    fn connection_made(&mut self, t: &Transport) {
        t.pause_reading();
        self.events.push("made, paused");
        let (t, e) = (t.clone(), self.events.clone());
        self.reactor
            .call_later(Duration::from_millis(100), move || {
                e.push("resumed");
                t.resume_reading();
            });
    }
    fn data_received(&mut self, t: &Transport, data: &[u8]) {
        self.events
            .push(format!("data {}", String::from_utf8_lossy(data)));
        t.write(data);
    }
}

/// Bytes the client sends with the end of its handshake reach a protocol
/// that paused in `connection_made` only once it resumes: none is handed
/// over while it is paused (they once were, and a port forwarder, which
/// cannot send them anywhere yet, lost them).
#[test]
fn a_protocol_paused_in_connection_made_gets_nothing_until_it_resumes() {
    let reactor = Reactor::new().unwrap();
    let ca = Ca::new("gyre test CA");
    let leaf = ca.leaf(&["localhost"]);
    let events = Events::default();
    let (e, r) = (events.clone(), reactor.clone());
    let port = listen(
        &reactor,
        server_tls(&leaf),
        for_protocol(move || PausedAtStart {
            events: e.clone(),
            reactor: r.clone(),
        }),
    );
    // A client whose "early" leaves in the same write as its last
    // handshake record (rustls, written before the handshake, on a plain
    // blocking socket), so the server reads both at once and finishes the
    // handshake, makes the protocol (which pauses) and holds the data, all
    // in one read.
    let der = ca.der.clone();
    let client = std::thread::spawn(move || -> std::io::Result<Vec<u8>> {
        use std::io::{Read, Write};
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der).expect("the test CA");
        #[allow(deprecated)] // ring's provider, as gyre's (see tls::config)
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS 1.2 and 1.3")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("a name");
        let mut conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name)
            .expect("a client session");
        conn.writer().write_all(b"early")?;
        let mut sock = std::net::TcpStream::connect(("127.0.0.1", port))?;
        sock.set_read_timeout(Some(LIMIT))?;
        let mut tls = rustls::Stream::new(&mut conn, &mut sock);
        let mut got = vec![0u8; 5];
        tls.read_exact(&mut got)?;
        Ok(got)
    });
    let (r, e) = (reactor.clone(), events.clone());
    let _poll = gyre::LoopingCall::new(&reactor, move || {
        if e.get().len() >= 3 {
            let _ = r.stop();
        }
    });
    let _running = _poll.start(Duration::from_millis(10), true);
    run_for(&reactor, LIMIT);
    let got = client.join().expect("the client thread");
    assert_eq!(
        events.get()[..3],
        ["made, paused", "resumed", "data early"],
        "{:?}",
        events.get()
    );
    assert_eq!(got.expect("the echo").as_slice(), b"early");
}
