//! Listening TCP ports on loopback: addresses, the log lines and the
//! factory's start/stop bracket (reference §1.7.1, §3.1), listen errors,
//! refused connections and session numbers, many connections at once.
//!
//! Peers are blocking std sockets on helper threads ([`util::peer`]) or gyre
//! clients on the same reactor.

mod util;

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use gyre::{
    Address, ClientFactory, Connector, Factory, Protocol, Reactor, Reason, Shared,
    TcpListenOptions, Transport, for_protocol,
};
use util::{
    Events, assert_in_order, join, loopback, peer, read_n, read_to_eof, run_for, std_connect,
};

const LIMIT: Duration = Duration::from_secs(5);

/// Echoes what it receives and records its log prefix when made.
struct Echo {
    made: Events,
}

impl Protocol for Echo {
    fn connection_made(&mut self, transport: &Transport) {
        log::info!("echo made {}", transport.log_prefix());
        self.made.push(transport.log_prefix());
    }
    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        log::info!("echo data");
        transport.write(data);
    }
}

/// A named factory (its name appears in `… starting on N`), with hooks recorded.
#[derive(Default)]
struct EchoFactory {
    made: Events,
    hooks: Events,
}

impl Factory for EchoFactory {
    type Protocol = Echo;
    fn build_protocol(&self, _addr: &Address) -> Option<Echo> {
        Some(Echo {
            made: self.made.clone(),
        })
    }
    fn start_factory(&self) {
        self.hooks.push("start_factory");
    }
    fn stop_factory(&self) {
        self.hooks.push("stop_factory");
    }
}

fn reactor() -> Reactor {
    util::capture_logs();
    Reactor::new().expect("reactor")
}

fn texts() -> Vec<String> {
    util::texts()
}

/// Listening on port 0 reports the port the OS picked, as a socket address and as an `Address`.
#[test]
fn port_zero_reports_the_real_port() {
    let reactor = reactor();
    let port = reactor
        .listen_tcp_with(0, EchoFactory::default(), loopback())
        .unwrap();
    let addr = port.address();
    assert_eq!(addr.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_ne!(addr.port(), 0);
    assert!(port.is_listening());
    assert_eq!(port.host(), Address::tcp(addr));
    assert_eq!(
        port.host().to_string(),
        format!(
            "IPv4Address(type='TCP', host='127.0.0.1', port={})",
            addr.port()
        )
    );
    // The OS really listens there: a connect completes into the backlog.
    let s = std::net::TcpStream::connect(addr).expect("the reported port accepts connections");
    assert_eq!(s.peer_addr().unwrap(), addr);
}

/// With no interface the port listens on every IPv4 address (`0.0.0.0`).
#[test]
fn default_interface_is_every_ipv4_address() {
    let reactor = reactor();
    let port = reactor.listen_tcp(0, EchoFactory::default()).unwrap();
    assert_eq!(port.address().ip(), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let target = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port.address().port());
    std::net::TcpStream::connect(target).expect("reachable on 127.0.0.1");
}

/// An IPv6 literal interface (`::1`) makes an IPv6 port that serves IPv6 clients.
#[test]
fn ipv6_loopback_interface_serves() {
    let reactor = reactor();
    let factory = Shared::new(EchoFactory::default());
    let options = TcpListenOptions {
        interface: "::1".into(),
        ..Default::default()
    };
    let port = reactor
        .listen_tcp_with(0, factory.clone(), options)
        .unwrap();
    let addr = port.address();
    assert_eq!(addr.ip(), IpAddr::V6(Ipv6Addr::LOCALHOST));
    assert_eq!(
        port.host().to_string(),
        format!(
            "IPv6Address(type='TCP', host='::1', port={}, flowInfo=0, scopeID=0)",
            addr.port()
        )
    );
    let client = peer(&reactor, move || {
        let mut s = std_connect(addr);
        s.write_all(b"over six").unwrap();
        read_n(&mut s, 8)
    });
    run_for(&reactor, LIMIT);
    assert_eq!(join(client), b"over six");
    assert_eq!(factory.made.get(), vec!["Echo,0,::1".to_string()]);
}

/// `<Factory> starting on <port>` is logged before `Starting factory <…object at 0x…>`.
#[test]
fn listen_logs_starting_on_then_starting_factory() {
    let reactor = reactor();
    let factory = Shared::new(EchoFactory::default());
    let port = reactor
        .listen_tcp_with(0, factory.clone(), loopback())
        .unwrap();
    let n = port.address().port();
    let lines = texts();
    assert_in_order(
        &lines,
        &[
            &format!("EchoFactory starting on {n}"),
            "Starting factory <tcp_server::EchoFactory object at 0x",
        ],
    );
    assert!(
        lines.contains(&format!("Starting factory {}", factory.repr())),
        "{lines:#?}"
    );
    assert_eq!(factory.hooks.get(), vec!["start_factory"]);
    assert_eq!(factory.num_ports(), 1);
}

/// One shared factory on two ports starts once, and stops once, after the last port closed.
#[test]
fn shared_factory_on_two_ports_starts_and_stops_once() {
    let reactor = reactor();
    let factory = Shared::new(EchoFactory::default());
    let first = reactor
        .listen_tcp_with(0, factory.clone(), loopback())
        .unwrap();
    let second = reactor
        .listen_tcp_with(0, factory.clone(), loopback())
        .unwrap();
    let (p1, p2) = (first.address().port(), second.address().port());
    assert_in_order(
        &texts(),
        &[
            &format!("starting on {p1}"),
            "Starting factory",
            &format!("starting on {p2}"),
        ],
    );
    assert_eq!(util::lines_containing("Starting factory").len(), 1);
    assert_eq!(factory.num_ports(), 2);

    let events = Events::default();
    let (r, f, ev) = (reactor.clone(), factory.clone(), events.clone());
    reactor.call_when_running(move || {
        let done = first.stop_listening();
        ev.push(format!(
            "first stop returned, complete={}",
            done.is_complete()
        ));
        let (r, f, ev) = (r.clone(), f.clone(), ev.clone());
        done.on_complete(move || {
            ev.push(format!(
                "first done: closed={} stopping={} ports={}",
                util::lines_containing(&format!("(TCP Port {p1} Closed)")).len(),
                util::lines_containing("Stopping factory").len(),
                f.num_ports()
            ));
            let done = second.stop_listening();
            let (r, ev) = (r.clone(), ev.clone());
            done.on_complete(move || {
                ev.push(format!(
                    "second done: stopping={}",
                    util::lines_containing("Stopping factory").len()
                ));
                util::stop(&r);
            });
        });
    });
    run_for(&reactor, LIMIT);
    assert_eq!(
        events.get(),
        vec![
            "first stop returned, complete=false".to_string(),
            "first done: closed=1 stopping=0 ports=1".to_string(),
            "second done: stopping=1".to_string(),
        ]
    );
    assert_in_order(
        &texts(),
        &[
            &format!("(TCP Port {p1} Closed)"),
            &format!("(TCP Port {p2} Closed)"),
            "Stopping factory <tcp_server::EchoFactory",
        ],
    );
    assert_eq!(factory.hooks.get(), vec!["start_factory", "stop_factory"]);
    assert_eq!(factory.num_ports(), 0);
}

/// `stop_listening` stops accepting at once and completes on a later turn, after
/// `(TCP Port N Closed)` (system: the factory) and `Stopping factory`; a second stop is a no-op.
#[test]
fn stop_listening_completes_on_a_later_turn() {
    let reactor = reactor();
    let port = reactor
        .listen_tcp_with(0, EchoFactory::default(), loopback())
        .unwrap();
    let addr = port.address();
    let n = addr.port();
    let events = Events::default();
    let (r, ev) = (reactor.clone(), events.clone());
    reactor.call_when_running(move || {
        let done = port.stop_listening();
        ev.push(format!(
            "returned: complete={} listening={} closed_lines={}",
            done.is_complete(),
            port.is_listening(),
            util::lines_containing("Closed)").len()
        ));
        // Not accepting any more, right away.
        let refused = std::net::TcpStream::connect(addr).map_err(|e| e.kind());
        ev.push(format!("connect after stop: {refused:?}"));
        let (r, ev) = (r.clone(), ev.clone());
        done.on_complete(move || {
            // Noted here, asserted after the run.
            let lines = util::logs();
            let closed = lines
                .iter()
                .position(|l| l.text == format!("(TCP Port {n} Closed)"));
            let stopping = lines.iter().position(|l| {
                l.text
                    .starts_with("Stopping factory <tcp_server::EchoFactory")
            });
            ev.push(format!(
                "completed: closed under {:?}, then stopping: {}",
                closed.map(|i| lines[i].system.as_str()),
                matches!((closed, stopping), (Some(c), Some(s)) if s > c)
            ));
            let again = port.stop_listening();
            ev.push(format!("second stop: complete={}", again.is_complete()));
            util::stop(&r);
        });
    });
    run_for(&reactor, LIMIT);
    assert_eq!(
        events.get(),
        vec![
            "returned: complete=false listening=false closed_lines=0".to_string(),
            format!(
                "connect after stop: Err({:?})",
                std::io::ErrorKind::ConnectionRefused
            ),
            // Under `-`, as Twisted logs it after stopListening (its close
            // runs from a timed call; tests/logging.rs compares live).
            "completed: closed under Some(\"-\"), then stopping: true".to_string(),
            "second stop: complete=true".to_string(),
        ]
    );
    assert_eq!(util::lines_containing("Closed)").len(), 1);
    assert_eq!(util::lines_containing("Stopping factory").len(), 1);
}

/// Echoes, except `stop`, which stops the port and answers `stopped` once it has.
struct StopsPort {
    port: Rc<RefCell<Option<gyre::ListeningPort>>>,
}

impl Protocol for StopsPort {
    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        if data != b"stop" {
            transport.write(data);
            return;
        }
        let port = self.port.borrow_mut().take().expect("stopped once");
        let t = transport.clone();
        port.stop_listening()
            .on_complete(move || t.write(b"stopped"));
    }
}

/// Connections already accepted stay open after `stop_listening`.
#[test]
fn stop_listening_keeps_accepted_connections() {
    let reactor = reactor();
    let slot = Rc::new(RefCell::new(None));
    let s2 = slot.clone();
    let port = reactor
        .listen_tcp_with(
            0,
            for_protocol(move || StopsPort { port: s2.clone() }),
            loopback(),
        )
        .unwrap();
    let addr = port.address();
    *slot.borrow_mut() = Some(port);
    let client = peer(&reactor, move || {
        let mut s = std_connect(addr);
        s.write_all(b"stop").unwrap();
        assert_eq!(read_n(&mut s, 7), b"stopped");
        let refused = std::net::TcpStream::connect(addr)
            .map(|_| ())
            .map_err(|e| e.kind());
        assert_eq!(refused, Err(std::io::ErrorKind::ConnectionRefused));
        s.write_all(b"still here").unwrap();
        read_n(&mut s, 10)
    });
    run_for(&reactor, LIMIT);
    assert_eq!(join(client), b"still here");
}

/// Listening on a port in use is a `ListenError` with Twisted's text, and starts nothing.
#[test]
fn busy_port_is_a_listen_error() {
    let reactor = reactor();
    let port = reactor
        .listen_tcp_with(0, EchoFactory::default(), loopback())
        .unwrap();
    let n = port.address().port();
    let second = Shared::new(EchoFactory::default());
    let err = reactor
        .listen_tcp_with(n, second.clone(), loopback())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("Couldn't listen on 127.0.0.1:{n}: Address already in use.")
    );
    assert_eq!(err.address, format!("127.0.0.1:{n}"));
    assert_eq!(err.source.kind(), std::io::ErrorKind::AddrInUse);
    assert_eq!(
        util::lines_containing("starting on").len(),
        1,
        "{:#?}",
        texts()
    );
    assert_eq!(util::lines_containing("Starting factory").len(), 1);
    assert!(second.hooks.get().is_empty());
    assert_eq!(second.num_ports(), 0);
}

/// With no interface, the error names the address `any` (Twisted's wording).
#[test]
fn busy_port_on_every_interface_names_any() {
    let reactor = reactor();
    let taken = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let n = taken.local_addr().unwrap().port();
    let err = reactor.listen_tcp(n, EchoFactory::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("Couldn't listen on any:{n}: Address already in use.")
    );
}

/// Stops the reactor once connected; records how its connection ended.
struct StopsReactor(Events, Reactor);

impl Protocol for StopsReactor {
    fn connection_made(&mut self, _: &Transport) {
        util::stop(&self.1);
    }
    fn connection_lost(&mut self, reason: Reason) {
        self.0.push(format!("connection_lost {reason}"));
    }
}

/// Stopping the reactor closes open connections with `Reason::Shutdown` and closes the
/// port (`(TCP Port N Closed)`, then `Stopping factory`); the peer sees the end.
#[test]
fn reactor_stop_closes_connections_and_ports() {
    let reactor = reactor();
    let ends = Events::default();
    let (e, r) = (ends.clone(), reactor.clone());
    let factory = for_protocol(move || StopsReactor(e.clone(), r.clone()));
    let port = reactor.listen_tcp_with(0, factory, loopback()).unwrap();
    let addr = port.address();
    let client = std::thread::spawn(move || {
        let mut s = std_connect(addr);
        let mut sink = Vec::new();
        std::io::Read::read_to_end(&mut s, &mut sink)
            .map(|_| sink)
            .map_err(|e| e.kind())
    });
    run_for(&reactor, LIMIT);
    let outcome = client.join().unwrap();
    assert!(
        matches!(
            outcome.as_deref(),
            Ok(b"") | Err(std::io::ErrorKind::ConnectionReset)
        ),
        "{outcome:?}"
    );
    assert_eq!(
        ends.get(),
        vec![
            "connection_lost Connection to the other side was lost in a non-clean fashion: Connection lost."
        ]
    );
    assert!(!port.is_listening());
    assert_in_order(
        &texts(),
        &[
            &format!("(TCP Port {} Closed)", addr.port()),
            "Stopping factory",
            "Main loop terminated.",
        ],
    );
}

/// An interface that is not an IP address, or not one of ours, is a `ListenError`.
#[test]
fn bad_interface_is_a_listen_error() {
    let reactor = reactor();
    let options = TcpListenOptions {
        interface: "not-an-address".into(),
        ..Default::default()
    };
    let err = reactor
        .listen_tcp_with(0, EchoFactory::default(), options)
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("Couldn't listen on not-an-address:0: "),
        "{err}"
    );
    assert_eq!(err.address, "not-an-address:0");

    // TEST-NET-1 is never a local address.
    let options = TcpListenOptions {
        interface: "192.0.2.1".into(),
        ..Default::default()
    };
    let err = reactor
        .listen_tcp_with(0, EchoFactory::default(), options)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Couldn't listen on 192.0.2.1:0: Cannot assign requested address."
    );
    assert!(util::lines_containing("starting on").is_empty());
    assert!(util::lines_containing("Starting factory").is_empty());
}

/// A factory that refuses every other connection (the 1st, 3rd, 5th …);
/// notes the host of each address it is asked about.
struct Picky {
    calls: Cell<u32>,
    hosts: Events,
    made: Events,
}

impl Factory for Picky {
    type Protocol = Echo;
    fn build_protocol(&self, addr: &Address) -> Option<Echo> {
        self.hosts.push(addr.host());
        let n = self.calls.get();
        self.calls.set(n + 1);
        (n % 2 == 1).then(|| Echo {
            made: self.made.clone(),
        })
    }
}

/// A refused connection looks to the client like a connect followed by a clean
/// close, and uses no session number: accepted ones are still `Echo,0`, `Echo,1`, `Echo,2`.
#[test]
fn refused_connections_use_no_session_numbers() {
    let reactor = reactor();
    let factory = Shared::new(Picky {
        calls: Cell::new(0),
        hosts: Events::default(),
        made: Events::default(),
    });
    let port = reactor
        .listen_tcp_with(0, factory.clone(), loopback())
        .unwrap();
    let addr = port.address();
    let client = peer(&reactor, move || {
        let mut kept = Vec::new();
        for i in 0..6u8 {
            let mut s = std_connect(addr);
            if i % 2 == 0 {
                assert_eq!(
                    read_to_eof(&mut s),
                    b"",
                    "refused connection {i} ends cleanly"
                );
            } else {
                s.write_all(&[i]).unwrap();
                assert_eq!(read_n(&mut s, 1), [i]);
                kept.push(s);
            }
        }
    });
    run_for(&reactor, LIMIT);
    join(client);
    assert_eq!(factory.calls.get(), 6);
    assert_eq!(factory.hosts.get(), ["127.0.0.1"; 6]);
    assert_eq!(
        factory.made.get(),
        vec!["Echo,0,127.0.0.1", "Echo,1,127.0.0.1", "Echo,2,127.0.0.1"]
    );
    let lines = util::logs();
    assert!(
        !lines.iter().any(|l| l.text.contains("Unhandled Error")),
        "{lines:#?}"
    );
}

/// Log lines carry the dispatching object's system: a server protocol's
/// `connection_made` runs under the port's (the factory's full name), its
/// `data_received` under the connection's prefix (reference §1.7.4).
#[test]
fn server_log_systems() {
    let reactor = reactor();
    let port = reactor
        .listen_tcp_with(0, EchoFactory::default(), loopback())
        .unwrap();
    let addr = port.address();
    let client = peer(&reactor, move || {
        let mut s = std_connect(addr);
        s.write_all(b"x").unwrap();
        read_n(&mut s, 1)
    });
    run_for(&reactor, LIMIT);
    join(client);
    let lines = util::logs();
    let made = lines
        .iter()
        .find(|l| l.text.starts_with("echo made"))
        .expect("made logged");
    assert_eq!(made.system, "tcp_server::EchoFactory");
    let data = lines
        .iter()
        .find(|l| l.text == "echo data")
        .expect("data logged");
    assert_eq!(data.system, "Echo,0,127.0.0.1");
    let starting = lines
        .iter()
        .find(|l| l.text.contains("starting on"))
        .unwrap();
    assert_eq!(starting.system, "-", "listen_tcp outside any dispatch");
}

/// Counts connections open at once and notes how each ended; after each
/// end, stops the reactor if `finished` says the test is over.
struct Counted {
    open: Rc<Cell<usize>>,
    peak: Rc<Cell<usize>>,
    ends: Rc<RefCell<Vec<Reason>>>,
    finished: Rc<dyn Fn() -> bool>,
    reactor: Reactor,
}

impl Protocol for Counted {
    fn connection_made(&mut self, _: &Transport) {
        self.open.set(self.open.get() + 1);
        self.peak.set(self.peak.get().max(self.open.get()));
    }
    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        transport.write(data);
    }
    fn connection_lost(&mut self, reason: Reason) {
        self.ends.borrow_mut().push(reason);
        self.open.set(self.open.get() - 1);
        if (self.finished)() {
            util::stop(&self.reactor);
        }
    }
}

/// 300 std clients connected at once are all accepted and echoed.
#[test]
fn three_hundred_std_clients_at_once() {
    const N: usize = 300;
    let reactor = reactor();
    let (open, peak, ends) = (
        Rc::new(Cell::new(0)),
        Rc::new(Cell::new(0)),
        Rc::new(RefCell::new(Vec::new())),
    );
    let e = ends.clone();
    let finished: Rc<dyn Fn() -> bool> = Rc::new(move || e.borrow().len() == N);
    let (o, p, e, r) = (open.clone(), peak.clone(), ends.clone(), reactor.clone());
    let factory = for_protocol(move || Counted {
        open: o.clone(),
        peak: p.clone(),
        ends: e.clone(),
        finished: finished.clone(),
        reactor: r.clone(),
    });
    let addr = reactor
        .listen_tcp_with(
            0,
            factory,
            TcpListenOptions {
                backlog: 512,
                ..loopback()
            },
        )
        .unwrap()
        .address();
    let client = std::thread::spawn(move || {
        let mut socks: Vec<_> = (0..N).map(|_| std_connect(addr)).collect();
        for (i, s) in socks.iter_mut().enumerate() {
            s.write_all(format!("{i:05}").as_bytes()).unwrap();
        }
        for (i, s) in socks.iter_mut().enumerate() {
            assert_eq!(read_n(s, 5), format!("{i:05}").as_bytes());
        }
    });
    run_for(&reactor, Duration::from_secs(20));
    client.join().unwrap();
    assert_eq!(peak.get(), N, "all connections were open at once");
    let ends = ends.borrow();
    assert_eq!(ends.len(), N);
    assert!(ends.iter().all(Reason::is_clean), "{ends:?}");
    assert_eq!(open.get(), 0);
    assert!(
        util::lines_containing("Unhandled Error").is_empty(),
        "{:#?}",
        texts()
    );
}

/// What each numbered client got back, by number.
type Echoes = Rc<RefCell<Vec<(usize, Vec<u8>)>>>;

/// A gyre client that sends its number, notes the first five bytes that
/// come back (its echo) and closes.
struct Numbered {
    n: usize,
    got: Vec<u8>,
    echoes: Echoes,
}

impl Protocol for Numbered {
    fn connection_made(&mut self, transport: &Transport) {
        transport.write(format!("{:05}", self.n).as_bytes());
    }
    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        self.got.extend_from_slice(data);
        if self.got.len() >= 5 {
            let echo = std::mem::take(&mut self.got);
            self.echoes.borrow_mut().push((self.n, echo));
            transport.lose_connection();
        }
    }
}

/// Client side of the many-clients test: notes every loss; after each,
/// stops the reactor if `finished` says the test is over.
struct ManyClients {
    next: Cell<usize>,
    lost: Rc<RefCell<Vec<Reason>>>,
    echoes: Echoes,
    finished: Rc<dyn Fn() -> bool>,
    reactor: Reactor,
}

impl Factory for ManyClients {
    type Protocol = Numbered;
    fn build_protocol(&self, _: &Address) -> Option<Numbered> {
        let n = self.next.get();
        self.next.set(n + 1);
        Some(Numbered {
            n,
            got: Vec::new(),
            echoes: self.echoes.clone(),
        })
    }
}

impl ClientFactory for ManyClients {
    fn client_connection_lost(&self, _: &Connector, reason: &Reason) {
        self.lost.borrow_mut().push(reason.clone());
        if (self.finished)() {
            util::stop(&self.reactor);
        }
    }
}

/// 300 gyre clients started at once on the same reactor are all accepted (over several
/// accept passes), echoed and closed cleanly.
#[test]
fn three_hundred_gyre_clients_at_once() {
    const N: usize = 300;
    let reactor = reactor();
    let (open, peak, ends) = (
        Rc::new(Cell::new(0)),
        Rc::new(Cell::new(0)),
        Rc::new(RefCell::new(Vec::new())),
    );
    let lost = Rc::new(RefCell::new(Vec::new()));
    // Over once both sides saw all N connections end.
    let (e, l) = (ends.clone(), lost.clone());
    let finished: Rc<dyn Fn() -> bool> =
        Rc::new(move || e.borrow().len() == N && l.borrow().len() == N);
    let (o, p, e, f, r) = (
        open.clone(),
        peak.clone(),
        ends.clone(),
        finished.clone(),
        reactor.clone(),
    );
    let server = for_protocol(move || Counted {
        open: o.clone(),
        peak: p.clone(),
        ends: e.clone(),
        finished: f.clone(),
        reactor: r.clone(),
    });
    let addr = reactor
        // All 300 connects are issued in one turn, before the first accept: a backlog
        // that holds them all avoids SYN retransmissions (a second each); the port
        // still accepts them over several passes (100, then 120, ...).
        .listen_tcp_with(
            0,
            server,
            TcpListenOptions {
                backlog: 512,
                ..loopback()
            },
        )
        .unwrap()
        .address();
    let echoes = Rc::new(RefCell::new(Vec::new()));
    let clients = Shared::new(ManyClients {
        next: Cell::new(0),
        lost: lost.clone(),
        echoes: echoes.clone(),
        finished,
        reactor: reactor.clone(),
    });
    for _ in 0..N {
        reactor.connect_tcp("127.0.0.1", addr.port(), clients.clone());
    }
    run_for(&reactor, Duration::from_secs(20));
    let lost = lost.borrow();
    assert_eq!(lost.len(), N);
    assert!(lost.iter().all(Reason::is_clean), "{lost:?}");
    let ends = ends.borrow();
    assert!(ends.iter().all(Reason::is_clean), "server side: {ends:?}");
    assert_eq!(open.get(), 0);
    let mut echoes = echoes.borrow().clone();
    echoes.sort();
    let expected: Vec<(usize, Vec<u8>)> = (0..N)
        .map(|n| (n, format!("{n:05}").into_bytes()))
        .collect();
    assert_eq!(echoes, expected, "each client got its own number back");
    assert_eq!(clients.next.get(), N);
    assert_eq!(
        util::lines_containing("Starting factory <tcp_server::ManyClients").len(),
        1
    );
    assert_eq!(
        util::lines_containing("Stopping factory <tcp_server::ManyClients").len(),
        1
    );
}
