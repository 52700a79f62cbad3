//! Outgoing TCP connections: `connect_tcp`, the [`ClientFactory`] callbacks
//! and their order, connect failures (refused, timed out, aborted, DNS,
//! bind), the [`Connector`] and its states, and Twisted's rule for when a
//! reconnecting factory is stopped (reference §1.7.2, §1.7.3, §3.2).
//!
//! Callbacks log what happens (`log::info!`), so one captured log shows
//! gyre's own lines (`Starting factory …`) and the callbacks in their order.

mod util;

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use gyre::{
    Address, ClientFactory, ConnectError, Connector, ConnectorError, ConnectorState, Factory,
    Protocol, Reactor, Reason, Shared, TcpConnectOptions, Transport, for_protocol,
};
use util::{Events, Saturated, assert_in_order, loopback, run_for};

const LIMIT: Duration = Duration::from_secs(5);

/// Echoes (the server side of these tests).
struct Echo;

impl Protocol for Echo {
    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        transport.write(data);
    }
}

/// What a [`CliFactory`] does after a failed attempt.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum Retry {
    /// Nothing.
    #[default]
    Never,
    /// Calls `connector.connect()` inside `client_connection_failed`, up to N attempts in all.
    Inside(u32),
    /// Calls `connector.connect()` from a timer, up to N attempts in all.
    Later(u32),
}

/// A client factory that logs every callback, with the connector's state.
#[derive(Default)]
struct CliFactory {
    reactor: RefCell<Option<Reactor>>,
    connector: Rc<RefCell<Option<Connector>>>,
    refuse: bool,
    /// Its protocol tries `stop_connecting` and `connect` when connected.
    probe: bool,
    retry: Retry,
    attempts: Cell<u32>,
    failures: RefCell<Vec<ConnectError>>,
    losses: RefCell<Vec<Reason>>,
    built: RefCell<Vec<Address>>,
}

impl CliFactory {
    fn on(reactor: &Reactor) -> CliFactory {
        CliFactory {
            reactor: RefCell::new(Some(reactor.clone())),
            ..Default::default()
        }
    }

    fn stop_reactor(&self) {
        if let Some(r) = &*self.reactor.borrow() {
            util::stop(r);
        }
    }
}

impl Factory for CliFactory {
    type Protocol = Cli;
    fn build_protocol(&self, addr: &Address) -> Option<Cli> {
        log::info!("build_protocol {addr}");
        self.built.borrow_mut().push(addr.clone());
        (!self.refuse).then(|| Cli {
            connector: self.connector.clone(),
            probe: self.probe,
        })
    }
}

impl ClientFactory for CliFactory {
    fn started_connecting(&self, connector: &Connector) {
        self.attempts.set(self.attempts.get() + 1);
        log::info!("started_connecting {}", connector.state());
        *self.connector.borrow_mut() = Some(connector.clone());
    }
    fn client_connection_failed(&self, connector: &Connector, reason: &ConnectError) {
        log::info!("client_connection_failed {} {reason}", connector.state());
        self.failures.borrow_mut().push(reason.clone());
        match self.retry {
            Retry::Inside(n) if self.attempts.get() < n => connector.connect().unwrap(),
            Retry::Later(n) if self.attempts.get() < n => {
                let c = connector.clone();
                let reactor = self.reactor.borrow().clone().unwrap();
                reactor.call_later(Duration::from_millis(1), move || c.connect().unwrap());
            }
            _ => self.stop_reactor(),
        }
    }
    fn client_connection_lost(&self, connector: &Connector, reason: &Reason) {
        log::info!("client_connection_lost {} {reason}", connector.state());
        self.losses.borrow_mut().push(reason.clone());
        self.stop_reactor();
    }
}

/// Says hello, closes once answered; logs its events with the connector's state.
struct Cli {
    connector: Rc<RefCell<Option<Connector>>>,
    probe: bool,
}

impl Cli {
    fn state(&self) -> String {
        self.connector
            .borrow()
            .as_ref()
            .map(|c| c.state().to_string())
            .unwrap_or_default()
    }
}

impl Protocol for Cli {
    fn connection_made(&mut self, transport: &Transport) {
        log::info!("connection_made {}", self.state());
        if self.probe {
            let c = self.connector.borrow().clone().unwrap();
            log::info!("probe stop_connecting {:?}", c.stop_connecting());
            log::info!("probe connect {:?}", c.connect());
        }
        transport.write(b"hello");
    }
    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        log::info!("data_received {}", String::from_utf8_lossy(data));
        transport.lose_connection();
    }
    fn connection_lost(&mut self, reason: Reason) {
        log::info!("connection_lost {} {reason}", self.state());
    }
}

/// A reactor with the log captured.
fn reactor() -> Reactor {
    util::capture_logs();
    Reactor::new().unwrap()
}

/// An echo server on 127.0.0.1; returns its port.
fn echo_server(reactor: &Reactor) -> u16 {
    reactor
        .listen_tcp_with(0, for_protocol(|| Echo), loopback())
        .unwrap()
        .address()
        .port()
}

/// A port on 127.0.0.1 where nothing listens.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The captured lines about the client (its callbacks and its factory's start/stop).
fn client_lines() -> Vec<String> {
    const OURS: [&str; 8] = [
        "probe",
        "started_connecting",
        "build_protocol",
        "connection_made",
        "data_received",
        "connection_lost",
        "client_connection_",
        "connect_tcp returned",
    ];
    util::texts()
        .into_iter()
        .filter(|t| OURS.iter().any(|o| t.starts_with(o)) || t.contains("tcp_client::CliFactory"))
        .map(|t| match t.find(" <tcp_client::CliFactory") {
            Some(i) => t[..i].to_string(),
            None => t,
        })
        .collect()
}

/// A full client session runs `Starting factory`, `started_connecting` (before
/// `connect_tcp` returns), `build_protocol`, `connection_made`, …, `connection_lost`,
/// `client_connection_lost`, `Stopping factory`, with the connector's states along the way,
/// each under Twisted's log system (reference §1.7.4, §11.1: `[-]`, `[Uninitialized]`
/// until connected, then `[Cli,client]`, and `[-]` again for `Stopping factory`).
#[test]
fn client_session_callback_order() {
    let reactor = reactor();
    let port = echo_server(&reactor);
    let factory = Shared::new(CliFactory::on(&reactor));
    let connector = reactor.connect_tcp("127.0.0.1", port, factory.clone());
    log::info!("connect_tcp returned {}", connector.state());
    run_for(&reactor, LIMIT);
    let done = "Connection was closed cleanly.";
    assert_eq!(
        client_lines(),
        vec![
            "Starting factory".to_string(),
            "started_connecting connecting".into(),
            "connect_tcp returned connecting".into(),
            format!("build_protocol IPv4Address(type='TCP', host='127.0.0.1', port={port})"),
            "connection_made connected".into(),
            "data_received hello".into(),
            format!("connection_lost connected {done}"),
            format!("client_connection_lost disconnected {done}"),
            "Stopping factory".into(),
        ]
    );
    assert_eq!(connector.state(), ConnectorState::Disconnected);
    assert!(factory.failures.borrow().is_empty());
    let lines = util::logs();
    let system = |prefix: &str| {
        lines
            .iter()
            .find(|l| l.text.starts_with(prefix))
            .unwrap()
            .system
            .clone()
    };
    assert_eq!(system("Starting factory <tcp_client::CliFactory"), "-");
    assert_eq!(system("started_connecting"), "-");
    assert_eq!(system("build_protocol"), "Uninitialized");
    assert_eq!(system("connection_made"), "Uninitialized");
    assert_eq!(system("data_received"), "Cli,client");
    assert_eq!(system("connection_lost"), "Cli,client");
    assert_eq!(system("client_connection_lost"), "Cli,client");
    assert_eq!(system("Stopping factory <tcp_client::CliFactory"), "-");
}

/// Connecting to a closed port fails with `Refused` and Twisted's text, under `[Uninitialized]`; the factory is then stopped.
#[test]
fn refused_connection_fails_with_refused() {
    let reactor = reactor();
    let port = closed_port();
    let factory = Shared::new(CliFactory::on(&reactor));
    reactor.connect_tcp("127.0.0.1", port, factory.clone());
    run_for(&reactor, LIMIT);
    let failures = factory.failures.borrow();
    assert!(
        matches!(failures[..], [ConnectError::Refused]),
        "{failures:?}"
    );
    assert_eq!(
        failures[0].to_string(),
        "Connection was refused by other side: 111: Connection refused."
    );
    assert_eq!(
        client_lines(),
        vec![
            "Starting factory",
            "started_connecting connecting",
            "client_connection_failed disconnected Connection was refused by other side: 111: Connection refused.",
            "Stopping factory",
        ]
    );
    assert!(factory.built.borrow().is_empty());
    // Twisted: `[Uninitialized] clientConnectionFailed`, then `[-] Stopping factory`.
    let lines = util::logs();
    let system = |prefix: &str| {
        let line = lines.iter().find(|l| l.text.starts_with(prefix));
        line.unwrap_or_else(|| panic!("no {prefix:?} in {lines:#?}"))
            .system
            .clone()
    };
    assert_eq!(system("client_connection_failed"), "Uninitialized");
    assert_eq!(system("Stopping factory <tcp_client::CliFactory"), "-");
}

/// Against a saturated backlog that never accepts, a 0.5 s timeout fails the attempt
/// with `TimedOut` after about 0.5 s.
#[test]
fn saturated_backlog_times_out() {
    let reactor = reactor();
    let backlog = Saturated::new();
    let addr = backlog.addr;

    // The factory stops the reactor when the attempt fails.
    let factory = Shared::new(CliFactory::on(&reactor));
    let options = TcpConnectOptions {
        timeout: Some(Duration::from_millis(500)),
        ..Default::default()
    };
    let started = Instant::now();
    reactor.connect_tcp_with("127.0.0.1", addr.port(), factory.clone(), options);
    run_for(&reactor, LIMIT);
    let elapsed = started.elapsed();
    let failures = factory.failures.borrow();
    assert!(
        matches!(failures[..], [ConnectError::TimedOut]),
        "{failures:?}"
    );
    assert_eq!(
        failures[0].to_string(),
        "User timeout caused connection failure."
    );
    assert!(
        elapsed >= Duration::from_millis(450),
        "gave up too early: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(3),
        "gave up too late: {elapsed:?}"
    );
    drop(backlog);
}

/// `stop_connecting` while connecting fails the attempt with `UserAborted` at once; the
/// abandoned attempt never connects.
#[test]
fn stop_connecting_aborts_with_user_aborted() {
    let reactor = reactor();
    let accepted = Rc::new(Cell::new(0));
    let a = accepted.clone();
    let server = for_protocol(move || {
        a.set(a.get() + 1);
        Echo
    });
    let port = reactor
        .listen_tcp_with(0, server, loopback())
        .unwrap()
        .address()
        .port();
    let aborted = Shared::new(CliFactory::default());
    let connector = reactor.connect_tcp("127.0.0.1", port, aborted.clone());
    assert_eq!(connector.stop_connecting(), Ok(()));
    assert_eq!(connector.state(), ConnectorState::Disconnected);
    {
        let failures = aborted.failures.borrow();
        assert!(
            matches!(failures[..], [ConnectError::UserAborted]),
            "{failures:?}"
        );
        assert_eq!(failures[0].to_string(), "User aborted connection.");
    }
    assert_eq!(
        client_lines(),
        vec![
            "Starting factory",
            "started_connecting connecting",
            "client_connection_failed disconnected User aborted connection.",
            "Stopping factory",
        ]
    );
    // A second client, started after the aborted one, connects; the aborted one never does.
    let second = Shared::new(CliFactory::on(&reactor));
    reactor.connect_tcp("127.0.0.1", port, second.clone());
    run_for(&reactor, LIMIT);
    assert_eq!(second.losses.borrow().len(), 1);
    assert_eq!(
        accepted.get(),
        1,
        "only the second client reached the server"
    );
    assert!(aborted.built.borrow().is_empty());
    assert_eq!(aborted.failures.borrow().len(), 1);
}

/// `stop_connecting` during a name lookup abandons the attempt; the late answer is ignored.
#[test]
fn stop_connecting_while_resolving_ignores_the_answer() {
    let reactor = reactor();
    let port = echo_server(&reactor);
    let aborted = Shared::new(CliFactory::default());
    let connector = reactor.connect_tcp("localhost", port, aborted.clone());
    let second = Shared::new(CliFactory::on(&reactor));
    let (r, s) = (reactor.clone(), second.clone());
    let stopped = Rc::new(RefCell::new(None));
    let st = stopped.clone();
    // One turn later the lookup has been handed to a helper thread.
    reactor.call_later(Duration::ZERO, move || {
        *st.borrow_mut() = Some(connector.stop_connecting());
        // A whole second session (lookup, connect, echo, close) keeps the reactor
        // running well past the abandoned lookup's answer (from /etc/hosts).
        r.connect_tcp("localhost", port, s);
    });
    run_for(&reactor, LIMIT);
    assert_eq!(stopped.borrow_mut().take(), Some(Ok(())));
    assert!(matches!(
        aborted.failures.borrow()[..],
        [ConnectError::UserAborted]
    ));
    assert!(
        aborted.built.borrow().is_empty(),
        "the abandoned attempt built nothing"
    );
    assert_eq!(second.losses.borrow().len(), 1);
}

/// `stop_connecting` when not connecting (connected, or disconnected) is `NotConnecting`
/// and leaves the connection alone.
#[test]
fn stop_connecting_when_not_connecting_is_an_error() {
    let reactor = reactor();
    let port = echo_server(&reactor);
    let factory = Shared::new(CliFactory {
        probe: true,
        ..CliFactory::on(&reactor)
    });
    let connector = reactor.connect_tcp("127.0.0.1", port, factory.clone());
    run_for(&reactor, LIMIT);
    assert_in_order(
        &client_lines(),
        &[
            "connection_made connected",
            "probe stop_connecting Err(NotConnecting)",
            "data_received hello",
        ],
    );
    let err = connector.stop_connecting().unwrap_err();
    assert_eq!(err, ConnectorError::NotConnecting);
    assert_eq!(
        err.to_string(),
        "The Connector was not connecting when it was asked to stop connecting."
    );
    assert!(
        matches!(factory.losses.borrow()[..], [Reason::Done]),
        "the connection was not disturbed"
    );
    assert!(factory.failures.borrow().is_empty());
}

/// `connect()` while connecting or connected is `CannotConnect` (`can't connect in this state`).
#[test]
fn connect_while_busy_is_an_error() {
    let reactor = reactor();
    let port = echo_server(&reactor);
    let factory = Shared::new(CliFactory {
        probe: true,
        ..CliFactory::on(&reactor)
    });
    let connector = reactor.connect_tcp("127.0.0.1", port, factory.clone());
    let err = connector.connect().unwrap_err();
    assert_eq!(err, ConnectorError::CannotConnect);
    assert_eq!(err.to_string(), "can't connect in this state");
    run_for(&reactor, LIMIT);
    assert_in_order(
        &client_lines(),
        &[
            "connection_made connected",
            "probe connect Err(CannotConnect)",
        ],
    );
    assert_eq!(factory.attempts.get(), 1, "no second attempt was started");
    assert!(matches!(factory.losses.borrow()[..], [Reason::Done]));
    assert_eq!(
        util::lines_containing("Starting factory <tcp_client::CliFactory").len(),
        1
    );
}

/// A factory that reconnects inside `client_connection_failed` is not stopped and
/// restarted: one `Starting factory`, one `Stopping factory` after the last failure.
#[test]
fn reconnect_inside_failed_keeps_the_factory_started() {
    let reactor = reactor();
    let factory = Shared::new(CliFactory {
        retry: Retry::Inside(3),
        ..CliFactory::on(&reactor)
    });
    reactor.connect_tcp("127.0.0.1", closed_port(), factory.clone());
    run_for(&reactor, LIMIT);
    let failed = "client_connection_failed disconnected Connection was refused by other side: 111: Connection refused.";
    assert_eq!(
        client_lines(),
        vec![
            "Starting factory",
            "started_connecting connecting",
            failed,
            "started_connecting connecting",
            failed,
            "started_connecting connecting",
            failed,
            "Stopping factory",
        ]
    );
    assert_eq!(factory.num_ports(), 0);
}

/// A factory that reconnects later (from a timer) gets a `Stopping factory` /
/// `Starting factory` pair around every retry (reference §1.7.3).
#[test]
fn delayed_reconnect_stops_and_restarts_the_factory() {
    let reactor = reactor();
    let factory = Shared::new(CliFactory {
        retry: Retry::Later(3),
        ..CliFactory::on(&reactor)
    });
    reactor.connect_tcp("127.0.0.1", closed_port(), factory.clone());
    run_for(&reactor, LIMIT);
    let failed = "client_connection_failed disconnected Connection was refused by other side: 111: Connection refused.";
    let round = [
        "Starting factory",
        "started_connecting connecting",
        failed,
        "Stopping factory",
    ];
    assert_eq!(client_lines(), round.repeat(3));
    assert_eq!(factory.num_ports(), 0);
}

/// A client factory whose `build_protocol` returns `None` gets `client_connection_lost`
/// with a clean reason (not `client_connection_failed`); the server sees a clean close.
#[test]
fn client_build_protocol_none_is_a_clean_loss() {
    let reactor = reactor();
    let server_lost = Rc::new(RefCell::new(Vec::new()));
    struct Watch(Rc<RefCell<Vec<Reason>>>, Reactor);
    impl Protocol for Watch {
        fn connection_lost(&mut self, reason: Reason) {
            self.0.borrow_mut().push(reason);
            util::stop(&self.1);
        }
    }
    let (sl, r) = (server_lost.clone(), reactor.clone());
    let server = for_protocol(move || Watch(sl.clone(), r.clone()));
    let port = reactor
        .listen_tcp_with(0, server, loopback())
        .unwrap()
        .address()
        .port();
    // The server stops the reactor once it has seen the close.
    let factory = Shared::new(CliFactory {
        refuse: true,
        ..CliFactory::default()
    });
    let connector = reactor.connect_tcp("127.0.0.1", port, factory.clone());
    run_for(&reactor, LIMIT);
    assert!(factory.failures.borrow().is_empty());
    let losses = factory.losses.borrow();
    assert!(matches!(losses[..], [Reason::Done]), "{losses:?}");
    assert_eq!(
        client_lines(),
        vec![
            "Starting factory".to_string(),
            "started_connecting connecting".into(),
            format!("build_protocol IPv4Address(type='TCP', host='127.0.0.1', port={port})"),
            "client_connection_lost disconnected Connection was closed cleanly.".into(),
            "Stopping factory".into(),
        ]
    );
    assert_eq!(connector.state(), ConnectorState::Disconnected);
    assert!(
        matches!(server_lost.borrow()[..], [Reason::Done]),
        "{:?}",
        server_lost.borrow()
    );
}

/// A client that checks its addresses when connected.
struct Where {
    seen: Events,
    connector: Rc<RefCell<Option<Connector>>>,
}

impl Protocol for Where {
    fn connection_made(&mut self, transport: &Transport) {
        let c = self.connector.borrow().clone().unwrap();
        self.seen.push(format!("peer {}", transport.peer()));
        self.seen.push(format!("host {}", transport.host().host()));
        self.seen.push(format!("destination {}", c.destination()));
        transport.lose_connection();
    }
}

/// A factory for [`Where`] that stops the reactor when the connection ends or fails.
struct WhereFactory {
    seen: Events,
    connector: Rc<RefCell<Option<Connector>>>,
    reactor: Reactor,
}

impl Factory for WhereFactory {
    type Protocol = Where;
    fn build_protocol(&self, addr: &Address) -> Option<Where> {
        self.seen.push(format!("build {addr}"));
        Some(Where {
            seen: self.seen.clone(),
            connector: self.connector.clone(),
        })
    }
}

impl ClientFactory for WhereFactory {
    fn started_connecting(&self, connector: &Connector) {
        *self.connector.borrow_mut() = Some(connector.clone());
    }
    fn client_connection_failed(&self, _: &Connector, reason: &ConnectError) {
        self.seen.push(format!("failed {reason:?}"));
        util::stop(&self.reactor);
    }
    fn client_connection_lost(&self, _: &Connector, _: &Reason) {
        util::stop(&self.reactor);
    }
}

fn where_factory(reactor: &Reactor) -> Shared<WhereFactory> {
    Shared::new(WhereFactory {
        seen: Events::default(),
        connector: Default::default(),
        reactor: reactor.clone(),
    })
}

/// `localhost` is resolved (after `connect_tcp` returns) to 127.0.0.1: the peer is
/// 127.0.0.1 while the connector's destination still says `localhost`.
#[test]
fn localhost_resolves_and_destination_keeps_the_name() {
    let reactor = reactor();
    let port = echo_server(&reactor);
    let factory = where_factory(&reactor);
    let connector = reactor.connect_tcp("localhost", port, factory.clone());
    assert!(
        factory.seen.get().is_empty(),
        "nothing resolved or built synchronously"
    );
    assert_eq!(connector.state(), ConnectorState::Connecting);
    run_for(&reactor, LIMIT);
    assert_eq!(
        factory.seen.get(),
        vec![
            format!("build IPv4Address(type='TCP', host='127.0.0.1', port={port})"),
            format!("peer IPv4Address(type='TCP', host='127.0.0.1', port={port})"),
            "host 127.0.0.1".to_string(),
            format!("destination IPv4Address(type='TCP', host='localhost', port={port})"),
        ]
    );
    assert_eq!(connector.destination().host, "localhost");
    assert_eq!(connector.destination().port, port);
}

/// An IPv6 literal host connects over IPv6; addresses are `IPv6Address` values.
#[test]
fn ipv6_literal_connects_over_ipv6() {
    let reactor = reactor();
    let options = gyre::TcpListenOptions {
        interface: "::1".into(),
        ..Default::default()
    };
    let port = reactor
        .listen_tcp_with(0, for_protocol(|| Echo), options)
        .unwrap()
        .address()
        .port();
    let factory = where_factory(&reactor);
    reactor.connect_tcp("::1", port, factory.clone());
    run_for(&reactor, LIMIT);
    let seen = factory.seen.get();
    assert_eq!(
        seen[0],
        format!("build IPv6Address(type='TCP', host='::1', port={port}, flowInfo=0, scopeID=0)")
    );
    assert_eq!(
        seen[1],
        format!("peer IPv6Address(type='TCP', host='::1', port={port}, flowInfo=0, scopeID=0)")
    );
    assert_eq!(seen[2], "host ::1");
    assert_eq!(
        seen[3],
        format!(
            "destination IPv6Address(type='TCP', host='::1', port={port}, flowInfo=0, scopeID=0)"
        )
    );
}

/// A name that cannot be resolved fails with `DnsLookup` naming it.
///
/// `bad..name` (an empty label) is rejected by the system resolver itself,
/// so the test sends no query off this machine.
#[test]
fn unresolvable_name_fails_with_dns_lookup() {
    let reactor = reactor();
    let factory = Shared::new(CliFactory::on(&reactor));
    reactor.connect_tcp("bad..name", 80, factory.clone());
    run_for(&reactor, Duration::from_secs(15));
    let failures = factory.failures.borrow();
    match &failures[..] {
        [e @ ConnectError::DnsLookup { host }] => {
            assert_eq!(host, "bad..name");
            assert_eq!(e.to_string(), "DNS lookup failed: bad..name.");
        }
        other => panic!("expected one DnsLookup failure, got {other:?}"),
    }
}

/// A bind address is used for the local end (the server sees it as the peer).
#[test]
fn bind_address_is_used() {
    let reactor = reactor();
    let seen_by_server = Events::default();
    struct Peer(Events);
    impl Protocol for Peer {
        fn connection_made(&mut self, transport: &Transport) {
            let peer = transport.peer();
            self.0.push(format!("{}:{}", peer.host(), peer.port()));
        }
    }
    let s = seen_by_server.clone();
    let server = for_protocol(move || Peer(s.clone()));
    let port = reactor
        .listen_tcp_with(0, server, loopback())
        .unwrap()
        .address()
        .port();
    let factory = where_factory(&reactor);
    // A local port that was free a moment ago, on 127.0.0.1 (tests use no
    // other address): the server must see exactly it.
    let bind: SocketAddr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap();
    let options = TcpConnectOptions {
        bind_address: Some(bind),
        ..Default::default()
    };
    reactor.connect_tcp_with("127.0.0.1", port, factory.clone(), options);
    run_for(&reactor, LIMIT);
    assert_eq!(
        factory.seen.get()[2],
        "host 127.0.0.1",
        "{:?}",
        factory.seen.get()
    );
    assert_eq!(seen_by_server.get(), vec![bind.to_string()]);
}

/// A bind address that cannot be bound fails the attempt with `ConnectError::Bind`.
#[test]
fn bad_bind_address_fails_with_bind_error() {
    let reactor = reactor();
    let port = echo_server(&reactor);
    let factory = where_factory(&reactor);
    let bind: SocketAddr = "192.0.2.1:0".parse().unwrap();
    let options = TcpConnectOptions {
        bind_address: Some(bind),
        ..Default::default()
    };
    let connector = reactor.connect_tcp_with("127.0.0.1", port, factory.clone(), options);
    run_for(&reactor, LIMIT);
    let seen = factory.seen.get();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen[0].starts_with("failed Bind { address: \"192.0.2.1:0\""),
        "{seen:?}"
    );
    assert_eq!(connector.state(), ConnectorState::Disconnected);
}

/// The connector prints like Twisted's repr, with its state and destination.
#[test]
fn connector_display() {
    let reactor = reactor();
    let port = closed_port();
    let factory = Shared::new(CliFactory::on(&reactor));
    let connector = reactor.connect_tcp("127.0.0.1", port, factory.clone());
    let check = |text: String, state: &str| {
        let rest = text
            .strip_prefix("<gyre::Connector instance at 0x")
            .unwrap_or_else(|| panic!("{text}"));
        let hex_end = rest.find(' ').unwrap();
        assert!(
            rest[..hex_end].chars().all(|c| c.is_ascii_hexdigit()),
            "{text}"
        );
        assert_eq!(
            &rest[hex_end..],
            format!(" {state} IPv4Address(type='TCP', host='127.0.0.1', port={port})>"),
        );
    };
    check(connector.to_string(), "connecting");
    check(format!("{connector:?}"), "connecting");
    run_for(&reactor, LIMIT);
    check(connector.to_string(), "disconnected");

    let v6 = reactor.connect_tcp("::1", port, CliFactory::default());
    assert!(
        v6.to_string().ends_with(&format!(
            " connecting IPv6Address(type='TCP', host='::1', port={port}, flowInfo=0, scopeID=0)>"
        )),
        "{v6}"
    );
    v6.stop_connecting().unwrap();
    assert!(!connector.same_as(&v6));
    assert!(connector.same_as(&connector.clone()));
}

/// A protocol that panics in its `connection_made` (client side).
struct Clumsy;

impl Protocol for Clumsy {
    fn connection_made(&mut self, _: &Transport) {
        panic!("client connection_made went wrong");
    }
}

struct ClumsyFactory {
    losses: RefCell<Vec<Reason>>,
    reactor: Reactor,
}

impl Factory for ClumsyFactory {
    type Protocol = Clumsy;
    fn build_protocol(&self, _: &Address) -> Option<Clumsy> {
        Some(Clumsy)
    }
}

impl ClientFactory for ClumsyFactory {
    fn client_connection_lost(&self, _: &Connector, reason: &Reason) {
        self.losses.borrow_mut().push(reason.clone());
        util::stop(&self.reactor);
    }
}

/// A panic in a client's `connection_made` is logged and closes the connection;
/// `client_connection_lost` gets `Reason::Panicked` with the message (reference §1.7.6).
#[test]
fn panic_in_client_connection_made_closes_it() {
    util::expect_errors(&["panic in connection_made: client connection_made went wrong"]);
    let reactor = reactor();
    let port = echo_server(&reactor);
    let factory = Shared::new(ClumsyFactory {
        losses: RefCell::new(Vec::new()),
        reactor: reactor.clone(),
    });
    reactor.connect_tcp("127.0.0.1", port, factory.clone());
    run_for(&reactor, LIMIT);
    let losses = factory.losses.borrow();
    match &losses[..] {
        [Reason::Panicked(msg)] => assert_eq!(&**msg, "client connection_made went wrong"),
        other => panic!("expected one Panicked loss, got {other:?}"),
    }
    let unhandled = util::lines_containing("Unhandled Error");
    assert_eq!(unhandled.len(), 1);
    assert!(
        unhandled[0]
            .text
            .contains("client connection_made went wrong")
    );
    assert_in_order(
        &util::texts(),
        &[
            "Unhandled Error",
            "Stopping factory <tcp_client::ClumsyFactory",
        ],
    );
}

/// Collects what it reads; stops the reactor when its connection ends.
struct Collect {
    got: Rc<RefCell<Vec<u8>>>,
    ends: Events,
    reactor: Reactor,
}

impl Protocol for Collect {
    fn data_received(&mut self, _: &Transport, data: &[u8]) {
        self.got.borrow_mut().extend_from_slice(data);
    }
    fn connection_lost(&mut self, reason: Reason) {
        self.ends.push(reason.to_string());
        util::stop(&self.reactor);
    }
}

/// A client reads everything, then sees the clean close, from a server that writes and
/// closes before the client's reactor even looks at the new connection (a `qotd` server).
#[test]
fn server_that_writes_and_closes_at_once_is_read_to_the_end() {
    let reactor = reactor();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        std::io::Write::write_all(&mut s, b"An apple a day keeps the doctor away.\r\n").unwrap();
        drop(s);
        done_tx.send(()).unwrap();
    });
    let got = Rc::new(RefCell::new(Vec::new()));
    let ends = Events::default();
    let (g, e, r) = (got.clone(), ends.clone(), reactor.clone());
    let factory = for_protocol(move || Collect {
        got: g.clone(),
        ends: e.clone(),
        reactor: r.clone(),
    });
    reactor.connect_tcp("127.0.0.1", port, factory);
    // The connect is issued at the start of the first turn; hold that turn until the
    // server has written and closed, so the data and the end arrive together.
    reactor.call_later(Duration::ZERO, move || {
        done_rx
            .recv_timeout(util::PEER_TIMEOUT)
            .expect("server wrote and closed");
    });
    run_for(&reactor, LIMIT);
    server.join().unwrap();
    assert_eq!(
        &got.borrow()[..],
        b"An apple a day keeps the doctor away.\r\n"
    );
    assert_eq!(ends.get(), vec!["Connection was closed cleanly."]);
}

/// Stopping the reactor fails a connect in progress with `ConnectError::Shutdown`, and
/// the factory is stopped.
#[test]
fn reactor_stop_fails_a_pending_connect() {
    let reactor = reactor();
    let backlog = Saturated::new();
    let factory = Shared::new(CliFactory::default());
    let connector = reactor.connect_tcp("127.0.0.1", backlog.addr.port(), factory.clone());
    let (r, c) = (reactor.clone(), connector.clone());
    let state_at_stop = Rc::new(RefCell::new(None));
    let at_stop = state_at_stop.clone();
    // Stop once the connect is in progress (issued on the first turn).
    reactor.call_later(Duration::ZERO, move || {
        *at_stop.borrow_mut() = Some(c.state());
        util::stop(&r);
    });
    run_for(&reactor, LIMIT);
    assert_eq!(
        state_at_stop.borrow_mut().take(),
        Some(ConnectorState::Connecting)
    );
    let failures = factory.failures.borrow();
    assert!(
        matches!(failures[..], [ConnectError::Shutdown]),
        "{failures:?}"
    );
    assert_eq!(connector.state(), ConnectorState::Disconnected);
    assert_in_order(
        &client_lines(),
        &["client_connection_failed disconnected", "Stopping factory"],
    );
}

/// `Connector::disconnect` stops an attempt in progress (`UserAborted`) and closes an
/// established connection (`Done`).
#[test]
fn connector_disconnect_stops_or_closes() {
    let reactor = reactor();
    let port = echo_server(&reactor);
    let connecting = Shared::new(CliFactory::default());
    let c = reactor.connect_tcp("127.0.0.1", port, connecting.clone());
    c.disconnect();
    assert!(matches!(
        connecting.failures.borrow()[..],
        [ConnectError::UserAborted]
    ));
    c.disconnect(); // disconnected: nothing happens
    assert_eq!(connecting.failures.borrow().len(), 1);

    /// Disconnects through its connector as soon as it is connected.
    struct Quiet(Rc<RefCell<Option<Connector>>>);
    impl Protocol for Quiet {
        fn connection_made(&mut self, _: &Transport) {
            self.0.borrow().as_ref().unwrap().disconnect();
        }
    }
    struct QuietFactory(Rc<RefCell<Option<Connector>>>, Events, Reactor);
    impl Factory for QuietFactory {
        type Protocol = Quiet;
        fn build_protocol(&self, _: &Address) -> Option<Quiet> {
            Some(Quiet(self.0.clone()))
        }
    }
    impl ClientFactory for QuietFactory {
        fn started_connecting(&self, connector: &Connector) {
            *self.0.borrow_mut() = Some(connector.clone());
        }
        fn client_connection_lost(&self, _: &Connector, reason: &Reason) {
            self.1.push(reason.to_string());
            util::stop(&self.2);
        }
    }
    let lost = Events::default();
    let factory = QuietFactory(Rc::default(), lost.clone(), reactor.clone());
    let connected = reactor.connect_tcp("127.0.0.1", port, factory);
    run_for(&reactor, LIMIT);
    assert_eq!(lost.get(), vec!["Connection was closed cleanly."]);
    assert_eq!(connected.state(), ConnectorState::Disconnected);
}

/// Holds its connection open for a while, then closes it.
struct Linger {
    hold: Duration,
    reactor: Reactor,
}

impl Protocol for Linger {
    fn connection_made(&mut self, t: &Transport) {
        let t = t.clone();
        self.reactor
            .call_later(self.hold, move || t.lose_connection());
    }
}

struct LingerFactory {
    hold: Duration,
    ends: Events,
    reactor: Reactor,
}

impl Factory for LingerFactory {
    type Protocol = Linger;
    fn build_protocol(&self, _: &Address) -> Option<Linger> {
        Some(Linger {
            hold: self.hold,
            reactor: self.reactor.clone(),
        })
    }
}

impl ClientFactory for LingerFactory {
    fn client_connection_failed(&self, _: &Connector, reason: &ConnectError) {
        self.ends.push(format!("failed: {reason}"));
        util::stop(&self.reactor);
    }
    fn client_connection_lost(&self, _: &Connector, reason: &Reason) {
        self.ends.push(format!("lost: {reason}"));
        util::stop(&self.reactor);
    }
}

/// The connect timeout no longer applies once connected: a connection held past it
/// ends cleanly, not with `TimedOut`.
#[test]
fn connect_timeout_is_cancelled_once_connected() {
    let reactor = reactor();
    let port = echo_server(&reactor);
    let ends = Events::default();
    let factory = LingerFactory {
        hold: Duration::from_millis(300),
        ends: ends.clone(),
        reactor: reactor.clone(),
    };
    let options = TcpConnectOptions {
        timeout: Some(Duration::from_millis(100)),
        ..Default::default()
    };
    reactor.connect_tcp_with("127.0.0.1", port, factory, options);
    run_for(&reactor, LIMIT);
    assert_eq!(ends.get(), vec!["lost: Connection was closed cleanly."]);
}
