//! Endpoints: TCP server and client endpoints over loopback, the
//! Happy-Eyeballs race of `HostnameEndpoint` under virtual time with a fake
//! resolver, `connect_protocol`, and endpoints built from strings.

mod util;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use gyre::deferred::{Deferred, Failure, succeed};
use gyre::endpoint::{
    ClientEndpoint, ClientEndpointExt, HostnameEndpoint, ProtocolBusy, Resolver, ServerEndpointExt,
    TcpClientEndpoint, TcpServerEndpoint, client_from_string, connect_protocol, server_from_string,
};
use gyre::testing::{MemoryReactor, StringTransport};
use gyre::{
    Address, ConnectError, Factory, ListenError, Protocol, Reactor, Reason, Transport, for_protocol,
};
use util::{Saturated, capture_logs, loopback, run_for, take_logs};

const LIMIT: Duration = Duration::from_secs(10);

struct Echo;
impl Protocol for Echo {
    fn data_received(&mut self, t: &Transport, data: &[u8]) {
        t.write(data);
    }
}

fn echo_server(reactor: &Reactor) -> u16 {
    reactor
        .listen_tcp_with(0, for_protocol(|| Echo), loopback())
        .unwrap()
        .address()
        .port()
}

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Records what it saw; stops the reactor when the echo of "bye" arrives.
#[derive(Default)]
struct Greeter {
    events: Vec<String>,
    got: Vec<u8>,
    reactor: Option<Reactor>,
}

impl Protocol for Greeter {
    fn connection_made(&mut self, t: &Transport) {
        self.events.push("made".into());
        t.write(b"hello ");
    }
    fn data_received(&mut self, _t: &Transport, data: &[u8]) {
        self.got.extend_from_slice(data);
        if self.got.ends_with(b"bye") {
            if let Some(r) = &self.reactor {
                r.stop().unwrap();
            }
        }
    }
}

/// The result of a connect, kept for inspection after the reactor stopped.
type Slot<T> = Rc<RefCell<Option<Result<T, Failure>>>>;

fn keep<T: 'static>(d: Deferred<T>) -> Slot<T> {
    let slot: Slot<T> = Rc::new(RefCell::new(None));
    let s = slot.clone();
    d.consume(move |r| *s.borrow_mut() = Some(r));
    slot
}

fn failure<T>(slot: &Slot<T>) -> Failure {
    match slot.borrow_mut().take() {
        Some(Err(f)) => f,
        Some(Ok(_)) => panic!("expected a failure, got a success"),
        None => panic!("the Deferred never fired"),
    }
}

/// connect_protocol fires with the protocol after its connection_made; the
/// callback can use the protocol and its transport.
#[test]
fn connect_protocol_fires_after_connection_made() {
    let reactor = Reactor::new().unwrap();
    let port = echo_server(&reactor);
    let endpoint = TcpClientEndpoint::new(&reactor, "127.0.0.1", port);
    let greeter = Greeter {
        reactor: Some(reactor.clone()),
        ..Default::default()
    };
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    let d = connect_protocol(&endpoint, greeter).add_callback(move |p| {
        s.borrow_mut().extend(p.with_protocol(|g| g.events.clone()));
        p.transport().write(b"bye");
        p
    });
    let slot = keep(d);
    run_for(&reactor, LIMIT);
    assert_eq!(
        *seen.borrow(),
        ["made"],
        "connection_made ran before the callback"
    );
    let connected = slot.borrow_mut().take().unwrap().unwrap();
    assert_eq!(connected.with_protocol(|g| g.got.clone()), b"hello bye");
    // Reaching the protocol while it is in use is a typed error, and the
    // closure does not run; afterwards it is free again.
    let other = connected.clone();
    let nested = connected.with_protocol(|_| other.try_with_protocol(|g| g.got.len()));
    assert_eq!(nested, Err(ProtocolBusy));
    assert_eq!(
        ProtocolBusy.to_string(),
        "the protocol is in use (called from inside one of its own callbacks)"
    );
    assert_eq!(other.try_with_protocol(|g| g.got.len()), Ok(9));
    assert!(other.same_as(&connected));
}

/// A refused connection fails the Deferred with ConnectError::Refused, and
/// the factory is started and stopped around the attempt.
#[test]
fn refused_is_a_typed_failure() {
    capture_logs();
    take_logs();
    let reactor = Reactor::new().unwrap();
    let endpoint = TcpClientEndpoint::new(&reactor, "127.0.0.1", closed_port());
    let r = reactor.clone();
    let d = endpoint
        .connect(for_protocol(|| Echo))
        .add_both(move |res| {
            r.stop().unwrap();
            res
        });
    let slot = keep(d);
    run_for(&reactor, LIMIT);
    let f = failure(&slot);
    assert!(
        matches!(f.check::<ConnectError>(), Some(ConnectError::Refused)),
        "{f:?}"
    );
    let texts: Vec<String> = take_logs().into_iter().map(|l| l.text).collect();
    let start = texts
        .iter()
        .position(|t| t.starts_with("Starting factory <gyre::ProtocolFactory<"));
    let stop = texts
        .iter()
        .position(|t| t.starts_with("Stopping factory <gyre::ProtocolFactory<"));
    assert!(start.is_some() && stop > start, "{texts:?}");
}

/// Against a backlog that never answers, the endpoint's timeout fails the
/// attempt with TimedOut.
#[test]
fn timeout_is_a_typed_failure() {
    let reactor = Reactor::new().unwrap();
    let backlog = Saturated::new();
    let endpoint = TcpClientEndpoint::new(&reactor, "127.0.0.1", backlog.addr.port())
        .with_timeout(Some(Duration::from_millis(300)));
    let r = reactor.clone();
    let slot = keep(
        endpoint
            .connect(for_protocol(|| Echo))
            .add_both(move |res| {
                r.stop().unwrap();
                res
            }),
    );
    run_for(&reactor, LIMIT);
    let f = failure(&slot);
    assert!(
        matches!(f.check::<ConnectError>(), Some(ConnectError::TimedOut)),
        "{f:?}"
    );
}

/// Cancelling a pending connect stops the attempt and fails it with Cancelled;
/// the factory is stopped.
#[test]
fn cancelling_a_pending_connect() {
    capture_logs();
    take_logs();
    let reactor = Reactor::new().unwrap();
    let backlog = Saturated::new();
    let endpoint = TcpClientEndpoint::new(&reactor, "127.0.0.1", backlog.addr.port());
    let d = endpoint.connect(for_protocol(|| Echo));
    let c = d.clone();
    reactor.call_later(Duration::from_millis(50), move || c.cancel());
    let slot = keep(d);
    let r = reactor.clone();
    reactor.call_later(Duration::from_millis(150), move || r.stop().unwrap());
    run_for(&reactor, LIMIT);
    let f = failure(&slot);
    match f.check::<ConnectError>() {
        Some(ConnectError::Cancelled { address }) => {
            assert_eq!(*address, format!("127.0.0.1:{}", backlog.addr.port()))
        }
        other => panic!("{other:?}"),
    }
    let texts: Vec<String> = take_logs().into_iter().map(|l| l.text).collect();
    assert!(
        texts.iter().any(|t| t.starts_with("Stopping factory")),
        "{texts:?}"
    );
}

/// A factory that refuses to build a protocol: NoProtocol.
#[test]
fn refusing_factory_is_no_protocol() {
    struct Refuse;
    impl Factory for Refuse {
        type Protocol = Echo;
        fn build_protocol(&self, _: &Address) -> Option<Echo> {
            None
        }
    }
    let reactor = Reactor::new().unwrap();
    let port = echo_server(&reactor);
    let endpoint = TcpClientEndpoint::new(&reactor, "127.0.0.1", port);
    let r = reactor.clone();
    let slot = keep(endpoint.connect(Refuse).add_both(move |res| {
        r.stop().unwrap();
        res
    }));
    run_for(&reactor, LIMIT);
    let f = failure(&slot);
    assert!(
        matches!(f.check::<ConnectError>(), Some(ConnectError::NoProtocol)),
        "{f:?}"
    );
}

/// Listening on a port in use fails the Deferred with a ListenError (no panic,
/// no synchronous error).
#[test]
fn listen_error_comes_through_the_deferred() {
    let reactor = Reactor::new().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let endpoint = TcpServerEndpoint::new(&reactor, port).with_interface("127.0.0.1");
    let slot = keep(endpoint.listen(for_protocol(|| Echo)));
    let f = failure(&slot);
    let e = f.check::<ListenError>().expect("a ListenError");
    assert_eq!(
        e.to_string(),
        format!("Couldn't listen on 127.0.0.1:{port}: Address already in use.")
    );
}

/// Endpoints from strings, end to end: listen on `tcp:0:interface=127.0.0.1`,
/// connect with `tcp:host=127.0.0.1:port=N`, exchange data.
#[test]
fn endpoints_from_strings_end_to_end() {
    let reactor = Reactor::new().unwrap();
    let server = server_from_string(&reactor, "tcp:0:interface=127.0.0.1").unwrap();
    let port_slot = keep(server.listen(for_protocol(|| Echo)));
    let port = port_slot.borrow_mut().take().unwrap().unwrap();
    let desc = format!("TCP:host=127.0.0.1:port={}", port.address().port());
    let client = client_from_string(&reactor, &desc).unwrap();
    assert_eq!(
        client.to_string(),
        format!("tcp:host=127.0.0.1:port={}", port.address().port())
    );
    let greeter = Greeter {
        reactor: Some(reactor.clone()),
        ..Default::default()
    };
    connect_protocol(&*client, greeter).add_callback(|p| p.transport().write(b"bye"));
    run_for(&reactor, LIMIT);
}

/// Over IPv6 loopback with `tcp6` strings.
#[test]
fn tcp6_strings_connect_over_ipv6() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        panic!("this machine has no IPv6 loopback; gyre's tests need ::1");
    }
    let reactor = Reactor::new().unwrap();
    let server = server_from_string(&reactor, r"tcp6:0:interface=\:\:1").unwrap();
    let port = keep(server.listen(for_protocol(|| Echo)))
        .borrow_mut()
        .take()
        .unwrap()
        .unwrap();
    assert!(port.address().is_ipv6());
    let client =
        client_from_string(&reactor, &format!(r"tcp6:\:\:1:{}", port.address().port())).unwrap();
    let greeter = Greeter {
        reactor: Some(reactor.clone()),
        ..Default::default()
    };
    let peer = Rc::new(RefCell::new(None));
    let seen = peer.clone();
    connect_protocol(&*client, greeter).add_callback(move |p| {
        *seen.borrow_mut() = Some(p.transport().peer().to_string());
        p.transport().write(b"bye")
    });
    run_for(&reactor, LIMIT);
    let peer = peer.borrow_mut().take().expect("the client connected");
    assert!(peer.contains("::1"), "{peer}");
}

// ----- HostnameEndpoint ---------------------------------------------------

/// A resolver that answers from a fixed list (or fails, or never answers).
struct FakeResolver {
    answer: RefCell<Option<Result<Vec<SocketAddr>, ()>>>,
    asked: RefCell<Vec<String>>,
    pending: RefCell<Option<Deferred<Vec<SocketAddr>>>>,
}

impl FakeResolver {
    fn new(answer: Option<Result<Vec<&str>, ()>>) -> Rc<FakeResolver> {
        let answer = answer.map(|r| r.map(|v| v.iter().map(|a| a.parse().unwrap()).collect()));
        Rc::new(FakeResolver {
            answer: RefCell::new(answer),
            asked: RefCell::new(Vec::new()),
            pending: RefCell::new(None),
        })
    }
}

impl Resolver for FakeResolver {
    fn resolve(&self, host: &str, _port: u16) -> Deferred<Vec<SocketAddr>> {
        self.asked.borrow_mut().push(host.to_string());
        match self.answer.borrow().clone() {
            Some(Ok(addrs)) => succeed(addrs),
            Some(Err(())) => gyre::deferred::fail(ConnectError::DnsLookup {
                host: host.to_string(),
            }),
            None => {
                let d = Deferred::new();
                *self.pending.borrow_mut() = Some(d.clone());
                d
            }
        }
    }
}

fn hostname(
    reactor: &MemoryReactor,
    resolver: &Rc<FakeResolver>,
) -> HostnameEndpoint<MemoryReactor> {
    HostnameEndpoint::with_resolver(reactor, resolver.clone(), "example.test", 80)
}

/// Attempts start every 0.3 s in resolver order; the first to connect wins,
/// the one still connecting is stopped, and no further attempt starts.
#[test]
fn happy_eyeballs_order_and_winner() {
    let reactor = MemoryReactor::new();
    let resolver = FakeResolver::new(Some(Ok(vec!["[::1]:80", "127.0.0.1:80", "127.0.0.2:80"])));
    let endpoint = hostname(&reactor, &resolver);
    assert_eq!(endpoint.to_string(), "<HostnameEndpoint example.test:80>");
    let slot = keep(endpoint.connect(for_protocol(|| Echo)));
    assert_eq!(*resolver.asked.borrow(), ["example.test"]);
    let hosts = |r: &MemoryReactor| {
        r.tcp_clients()
            .iter()
            .map(|c| c.host.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(hosts(&reactor), ["::1"]);
    reactor.advance(Duration::from_millis(299));
    assert_eq!(hosts(&reactor), ["::1"]);
    reactor.advance(Duration::from_millis(1));
    assert_eq!(hosts(&reactor), ["::1", "127.0.0.1"]);
    assert!(slot.borrow().is_none());

    // The second attempt connects first.
    let second = &reactor.tcp_clients()[1];
    let addr = Address::tcp("127.0.0.1:80".parse().unwrap());
    let mut protocol = second
        .factory
        .build_protocol(&addr)
        .expect("the winner gets a protocol");
    let transport = StringTransport::new();
    transport.make_connection(&mut protocol);
    assert!(matches!(*slot.borrow(), Some(Ok(_))));
    assert!(
        reactor.tcp_clients()[0].stopped_connecting(),
        "the loser was stopped"
    );
    reactor.advance(Duration::from_secs(5));
    assert_eq!(reactor.tcp_clients().len(), 2, "no attempt after a winner");
    // A late connection of the loser is refused.
    assert!(
        reactor.tcp_clients()[0]
            .factory
            .build_protocol(&addr)
            .is_none()
    );
}

/// When every attempt fails, the last failure is reported.
#[test]
fn happy_eyeballs_reports_the_last_failure() {
    let reactor = MemoryReactor::new();
    let resolver = FakeResolver::new(Some(Ok(vec!["127.0.0.1:80", "127.0.0.2:80"])));
    let slot = keep(hostname(&reactor, &resolver).connect(for_protocol(|| Echo)));
    let first = reactor.tcp_clients()[0].clone();
    first
        .factory
        .client_connection_failed(&first.connector, &ConnectError::Refused);
    assert!(slot.borrow().is_none(), "one address is still to be tried");
    reactor.advance(Duration::from_millis(300));
    let second = reactor.tcp_clients()[1].clone();
    second
        .factory
        .client_connection_failed(&second.connector, &ConnectError::TimedOut);
    let f = failure(&slot);
    assert!(
        matches!(f.check::<ConnectError>(), Some(ConnectError::TimedOut)),
        "{f:?}"
    );
}

/// No addresses, or a failed lookup: DnsLookup naming the host.
#[test]
fn hostname_lookup_failures() {
    for answer in [Ok(vec![]), Err(())] {
        let reactor = MemoryReactor::new();
        let resolver = FakeResolver::new(Some(answer));
        let slot = keep(hostname(&reactor, &resolver).connect(for_protocol(|| Echo)));
        let f = failure(&slot);
        match f.check::<ConnectError>() {
            Some(ConnectError::DnsLookup { host }) => assert_eq!(host, "example.test"),
            other => panic!("{other:?}"),
        }
        assert!(reactor.tcp_clients().is_empty());
    }
}

/// Cancelling while the name is being resolved cancels the lookup.
#[test]
fn cancel_during_resolution() {
    let reactor = MemoryReactor::new();
    let resolver = FakeResolver::new(None);
    let d = hostname(&reactor, &resolver).connect(for_protocol(|| Echo));
    let c = d.clone();
    let slot = keep(d);
    c.cancel();
    let f = failure(&slot);
    assert!(matches!(
        f.check::<ConnectError>(),
        Some(ConnectError::Cancelled { .. })
    ));
    let lookup = resolver.pending.borrow().clone().unwrap();
    assert!(lookup.is_called(), "the lookup was cancelled");
    assert!(reactor.tcp_clients().is_empty());
}

/// On a real reactor: the first address refuses, the second (0.05 s later) connects.
#[test]
fn hostname_endpoint_over_loopback() {
    let reactor = Reactor::new().unwrap();
    let port = echo_server(&reactor);
    let resolver = FakeResolver::new(Some(Ok(vec!["[::1]:1", "127.0.0.1:1"])));
    let endpoint = HostnameEndpoint::with_resolver(&reactor, resolver, "example.test", port)
        .with_attempt_delay(Duration::from_millis(50));
    let greeter = Greeter {
        reactor: Some(reactor.clone()),
        ..Default::default()
    };
    // ::1 has no listener on `port` (the server is bound to 127.0.0.1 only).
    let slot = keep(connect_protocol(&endpoint, greeter).add_callback(|p| {
        p.transport().write(b"bye");
        p.transport().peer().to_string()
    }));
    run_for(&reactor, LIMIT);
    let peer = slot.borrow_mut().take().unwrap().unwrap();
    assert!(peer.contains("127.0.0.1"), "{peer}");
}

/// A protocol's connection_lost still runs through the endpoint wrapper.
#[test]
fn connection_lost_reaches_the_protocol() {
    struct Quit(Rc<RefCell<Option<Reason>>>, Reactor);
    impl Protocol for Quit {
        fn connection_made(&mut self, t: &Transport) {
            t.lose_connection();
        }
        fn connection_lost(&mut self, reason: Reason) {
            *self.0.borrow_mut() = Some(reason);
            self.1.stop().unwrap();
        }
    }
    let reactor = Reactor::new().unwrap();
    let port = echo_server(&reactor);
    let lost = Rc::new(RefCell::new(None));
    let endpoint: Box<dyn ClientEndpoint> =
        Box::new(TcpClientEndpoint::new(&reactor, "127.0.0.1", port));
    drop(connect_protocol(
        &*endpoint,
        Quit(lost.clone(), reactor.clone()),
    ));
    run_for(&reactor, LIMIT);
    assert!(lost.borrow().as_ref().unwrap().is_clean());
}
