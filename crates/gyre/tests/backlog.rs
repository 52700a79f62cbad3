//! Listen backlogs as the kernel sees them: the documented default of 1024
//! (capped by `net.core.somaxconn`) for `listen_tcp` and for server
//! descriptions without `backlog`, and an explicit backlog winning over it.
//!
//! The accept queue's limit is read back from the kernel through
//! `sock_diag` (`util/listen_queue.rs`, what `ss -ltn` shows as `Send-Q`).

#[path = "util/listen_queue.rs"]
mod listen_queue;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use gyre::endpoint::{ServerEndpointExt, server_from_string};
use gyre::{ListeningPort, Protocol, Reactor, TcpListenOptions, for_protocol};
use listen_queue::accept_queue_limits;

/// The default the docs promise (README, `TcpListenOptions::DEFAULT_BACKLOG`).
const DOCUMENTED_DEFAULT: u32 = 1024;

struct Quiet;
impl Protocol for Quiet {}

/// What the kernel makes of a requested backlog: Linux caps it at
/// `net.core.somaxconn`.
fn capped(backlog: u32) -> u32 {
    let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .expect("read net.core.somaxconn")
        .trim()
        .parse()
        .expect("somaxconn is a number");
    backlog.min(somaxconn)
}

/// The kernel's accept-queue limit for the one socket listening on `addr`.
#[track_caller]
fn limit_of(addr: SocketAddr) -> u32 {
    match accept_queue_limits(addr).expect("sock_diag answers")[..] {
        [limit] => limit,
        ref other => panic!("expected one socket listening on {addr}, found {other:?}"),
    }
}

fn on_loopback(backlog: Option<u32>) -> TcpListenOptions {
    let mut options = TcpListenOptions {
        interface: "127.0.0.1".into(),
        ..Default::default()
    };
    if let Some(b) = backlog {
        options.backlog = b;
    }
    options
}

/// Listens through an endpoint description; the Deferred must have fired.
fn listen_described(reactor: &Reactor, description: &str) -> ListeningPort {
    let slot = Rc::new(RefCell::new(None));
    let s = slot.clone();
    server_from_string(reactor, description)
        .unwrap()
        .listen(for_protocol(|| Quiet))
        .consume(move |r| *s.borrow_mut() = Some(r));
    let outcome = slot.borrow_mut().take();
    outcome
        .expect("listen fired")
        .unwrap_or_else(|f| panic!("{f}"))
}

/// `listen_tcp` without options listens with the documented backlog of 1024.
#[test]
fn listen_tcp_defaults_to_1024() {
    let reactor = Reactor::new().unwrap();
    let port = reactor.listen_tcp(0, for_protocol(|| Quiet)).unwrap();
    let addr = port.address();
    assert_eq!(limit_of(addr), capped(DOCUMENTED_DEFAULT));
    // Not Twisted's 50: the check could tell the two apart.
    assert_ne!(capped(DOCUMENTED_DEFAULT), 50);
}

/// Default listen options on one interface give the same queue of 1024.
#[test]
fn default_options_give_1024() {
    let reactor = Reactor::new().unwrap();
    let port = reactor
        .listen_tcp_with(0, for_protocol(|| Quiet), on_loopback(None))
        .unwrap();
    assert_eq!(limit_of(port.address()), capped(DOCUMENTED_DEFAULT));
}

/// An explicit backlog wins over the default, down to a queue of one.
#[test]
fn an_explicit_backlog_wins() {
    let reactor = Reactor::new().unwrap();
    for backlog in [1, 50, 1000] {
        let port = reactor
            .listen_tcp_with(0, for_protocol(|| Quiet), on_loopback(Some(backlog)))
            .unwrap();
        assert_eq!(
            limit_of(port.address()),
            capped(backlog),
            "backlog {backlog}"
        );
    }
}

/// A description without `backlog` listens with 1024; `backlog=1` with one.
#[test]
fn descriptions_default_to_1024_and_obey_backlog() {
    let reactor = Reactor::new().unwrap();
    let port = listen_described(&reactor, "tcp:0:interface=127.0.0.1");
    assert_eq!(limit_of(port.address()), capped(DOCUMENTED_DEFAULT));
    let port = listen_described(&reactor, "tcp:0:interface=127.0.0.1:backlog=1");
    assert_eq!(limit_of(port.address()), 1);
    let port = listen_described(&reactor, r"tcp6:0:interface=\:\:1");
    assert_eq!(limit_of(port.address()), capped(DOCUMENTED_DEFAULT));
}

/// The reader finds nothing where nothing listens, and reads back the
/// backlog a plain socket was given, so a wrong reading cannot pass.
#[test]
fn the_reader_sees_what_listen_was_given() {
    use socket2::{Domain, Socket, Type};
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    assert_eq!(accept_queue_limits(closed).unwrap(), []);
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    socket.bind(&any.into()).unwrap();
    socket.listen(7).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    assert_eq!(limit_of(addr), 7);
}
