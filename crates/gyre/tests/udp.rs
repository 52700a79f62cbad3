//! UDP ports on real sockets over 127.0.0.1: delivery and echo, the log
//! lines and the start/stop rule for a protocol on several ports, the
//! typed write errors (host name, wrong family, oversize, connect twice),
//! an ICMP refusal on a connected port, a panic in `datagram_received`,
//! truncation past `max_packet_size`, and multicast between two listeners
//! (reference §1.8, §17.4).

mod util;

use std::cell::RefCell;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::rc::Rc;
use std::time::Duration;

use gyre::Reactor;
use gyre::udp::{
    DatagramError, DatagramProtocol, DatagramTransport, SharedDatagram, UdpListenOptions,
};
use util::{Events, assert_in_order, join, peer, run_for};

const LIMIT: Duration = Duration::from_secs(5);

fn reactor() -> Reactor {
    util::capture_logs();
    Reactor::new().expect("reactor")
}

fn loopback() -> UdpListenOptions {
    UdpListenOptions {
        interface: "127.0.0.1".into(),
        ..Default::default()
    }
}

/// A std UDP socket on 127.0.0.1 with a read timeout.
fn client() -> UdpSocket {
    let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    s.set_read_timeout(Some(util::PEER_TIMEOUT)).unwrap();
    s
}

/// Echoes; records what it sees; stops the reactor on `stop`; panics on
/// `boom`.
struct Echo {
    seen: Events,
    reactor: Reactor,
}

impl DatagramProtocol for Echo {
    fn start_protocol(&mut self, t: &DatagramTransport) {
        self.seen
            .push(format!("start_protocol {}", t.address().port()));
    }
    fn stop_protocol(&mut self) {
        self.seen.push("stop_protocol");
    }
    fn datagram_received(&mut self, t: &DatagramTransport, data: &[u8], from: &gyre::Address) {
        self.seen.push(format!(
            "received {} from {}",
            String::from_utf8_lossy(data),
            from.socket_addr()
        ));
        match data {
            b"boom" => panic!("boom in datagram_received"),
            b"stop" => util::stop(&self.reactor),
            _ => {}
        }
        t.write_to(data, from).unwrap();
    }
    fn datagram_truncated(&mut self, _: &DatagramTransport, length: usize, _: &gyre::Address) {
        self.seen.push(format!("truncated {length}"));
    }
    fn connection_refused(&mut self, _: &DatagramTransport) {
        self.seen.push("connection_refused");
        util::stop(&self.reactor);
    }
}

fn echo(reactor: &Reactor) -> (SharedDatagram<Echo>, Events) {
    let seen = Events::default();
    let p = SharedDatagram::new(Echo {
        seen: seen.clone(),
        reactor: reactor.clone(),
    });
    (p, seen)
}

/// Datagrams are delivered with their source and echoed; the log lines
/// are Twisted's: `Echo starting on N`, `Starting protocol <…>`, then
/// after the stop `(UDP Port N Closed)` under the system `udp::Echo (UDP)`
/// and `Stopping protocol <…>`.
#[test]
fn echo_and_log_lines() {
    let reactor = reactor();
    let (proto, seen) = echo(&reactor);
    let port = reactor
        .listen_udp_with(0, proto.clone(), loopback())
        .unwrap();
    let addr = port.address();
    assert_eq!(
        port.host().to_string(),
        format!(
            "IPv4Address(type='UDP', host='127.0.0.1', port={})",
            addr.port()
        )
    );
    let c = peer(&reactor, move || {
        let c = client();
        c.send_to(b"hello", addr).unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = c.recv_from(&mut buf).unwrap();
        c.send_to(b"stop", addr).unwrap();
        (buf[..n].to_vec(), from, c.local_addr().unwrap())
    });
    run_for(&reactor, LIMIT);
    let (back, from, client_addr) = join(c);
    assert_eq!((back.as_slice(), from), (&b"hello"[..], addr));
    assert_eq!(
        seen.get()[..2],
        [
            format!("start_protocol {}", addr.port()),
            format!("received hello from {client_addr}"),
        ]
    );
}

/// The close line and `stop_protocol` come on the turn after
/// `stop_listening`, in Twisted's order.
#[test]
fn stop_logs_and_stops_the_protocol() {
    let reactor = reactor();
    let (proto, seen) = echo(&reactor);
    let port = reactor
        .listen_udp_with(0, proto.clone(), loopback())
        .unwrap();
    let n = port.address().port();
    let r = reactor.clone();
    port.stop_listening().on_complete(move || util::stop(&r));
    run_for(&reactor, LIMIT);
    assert_in_order(
        &util::texts(),
        &[
            &format!("Echo starting on {n}"),
            "Starting protocol <udp::Echo object at 0x",
            &format!("(UDP Port {n} Closed)"),
            "Stopping protocol <udp::Echo object at 0x",
        ],
    );
    assert_eq!(
        seen.get(),
        vec![format!("start_protocol {n}"), "stop_protocol".to_string()]
    );
    assert_eq!(proto.num_ports(), 0);
}

/// One protocol on two ports is started once (on the first) and stopped
/// once (after the last).
#[test]
fn shared_protocol_starts_and_stops_once() {
    let reactor = reactor();
    let (proto, seen) = echo(&reactor);
    let first = reactor
        .listen_udp_with(0, proto.clone(), loopback())
        .unwrap();
    let second = reactor
        .listen_udp_with(0, proto.clone(), loopback())
        .unwrap();
    assert_eq!(proto.num_ports(), 2);
    let r = reactor.clone();
    let s2 = second.clone();
    let seen2 = seen.clone();
    first.stop_listening().on_complete(move || {
        seen2.push("first closed");
        s2.stop_listening().on_complete(move || util::stop(&r));
    });
    run_for(&reactor, LIMIT);
    assert_eq!(
        seen.get(),
        vec![
            format!("start_protocol {}", first.address().port()),
            "first closed".to_string(),
            "stop_protocol".to_string(),
        ]
    );
    assert_eq!(util::lines_containing("Starting protocol").len(), 1);
    assert_eq!(util::lines_containing("Stopping protocol").len(), 1);
}

/// Refused writes are typed errors with Twisted's texts, never panics.
#[test]
fn write_errors() {
    let reactor = reactor();
    let (proto, _) = echo(&reactor);
    let port = reactor.listen_udp_with(0, proto, loopback()).unwrap();
    let err = port.write_to(b"x", ("localhost", 9)).unwrap_err();
    assert!(matches!(err, DatagramError::InvalidAddress { .. }));
    assert_eq!(
        err.to_string(),
        "Invalid address localhost: write() only accepts IP addresses, not hostnames"
    );
    let err = port.write_to(b"x", ("::1", 9)).unwrap_err();
    assert!(matches!(err, DatagramError::WrongFamily { .. }));
    assert!(
        err.to_string()
            .contains("IPv4 port write() called with IPv6 address")
    );
    let err = port
        .write_to(&vec![0u8; 70_000], ("127.0.0.1", 9))
        .unwrap_err();
    assert!(matches!(
        err,
        DatagramError::MessageTooLong { length: 70_000 }
    ));
    port.write_to(&vec![0u8; 65_507], ("127.0.0.1", 9))
        .expect("the largest IPv4 datagram is fine");
    assert!(matches!(port.write(b"x"), Err(DatagramError::NotConnected)));
    let err = port.connect(("example.com", 9)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Invalid address example.com: not an IPv4 or IPv6 address."
    );
    port.connect(("127.0.0.1", 9)).unwrap();
    let err = port.connect(("127.0.0.1", 10)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "already connected, reconnecting is not currently supported"
    );
    assert!(matches!(
        port.write_to(b"x", ("127.0.0.1", 10)),
        Err(DatagramError::Connected { .. })
    ));
    port.stop_listening();
    assert!(matches!(port.write(b"x"), Err(DatagramError::Closed)));
}

/// A connected port whose peer has no socket gets an ICMP refusal:
/// `connection_refused` runs and the port stays open, receiving from the
/// peer once it listens again.
#[test]
fn icmp_refusal_on_a_connected_port() {
    let reactor = reactor();
    /// On refusal, brings the peer back and has it send `stop`.
    struct Refused {
        seen: Events,
        peer: SocketAddr,
        back: Option<UdpSocket>,
        reactor: Reactor,
    }
    impl DatagramProtocol for Refused {
        fn datagram_received(&mut self, t: &DatagramTransport, data: &[u8], from: &gyre::Address) {
            self.seen.push(format!(
                "received {} from {} (listening: {})",
                String::from_utf8_lossy(data),
                from.socket_addr(),
                t.is_listening()
            ));
            util::stop(&self.reactor);
        }
        fn connection_refused(&mut self, t: &DatagramTransport) {
            self.seen.push("connection_refused");
            let back = UdpSocket::bind(self.peer).expect("rebind the peer's port");
            back.send_to(b"still here?", t.address()).unwrap();
            self.back = Some(back);
        }
    }
    let gone = client();
    let peer_addr = gone.local_addr().unwrap();
    drop(gone);
    let seen = Events::default();
    let proto = Refused {
        seen: seen.clone(),
        peer: peer_addr,
        back: None,
        reactor: reactor.clone(),
    };
    let port = reactor.listen_udp_with(0, proto, loopback()).unwrap();
    port.connect(peer_addr).unwrap();
    assert_eq!(port.peer(), Some(gyre::Address::udp(peer_addr)));
    port.write(b"anyone?").unwrap();
    run_for(&reactor, LIMIT);
    assert_eq!(
        seen.get(),
        vec![
            "connection_refused".to_string(),
            format!("received still here? from {peer_addr} (listening: true)"),
        ]
    );
}

/// A panic in `datagram_received` is logged as an unhandled error under
/// the system `udp::Echo (UDP)` and the port keeps serving.
#[test]
fn panic_in_datagram_received_keeps_the_port() {
    let reactor = reactor();
    util::expect_errors(&["panic in datagram_received: boom in datagram_received"]);
    let (proto, seen) = echo(&reactor);
    let port = reactor.listen_udp_with(0, proto, loopback()).unwrap();
    let addr = port.address();
    let c = peer(&reactor, move || {
        let c = client();
        c.send_to(b"boom", addr).unwrap();
        c.send_to(b"after", addr).unwrap();
        let mut buf = [0u8; 16];
        let n = c.recv(&mut buf).unwrap();
        c.send_to(b"stop", addr).unwrap();
        buf[..n].to_vec()
    });
    run_for(&reactor, LIMIT);
    assert_eq!(join(c), b"after");
    let errors = util::lines_containing("Unhandled Error");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].system, "udp::Echo (UDP)");
    assert!(seen.get().iter().any(|e| e.starts_with("received after")));
    drop(port);
}

/// A datagram longer than `max_packet_size` is cut there, and the
/// protocol is told its real length first.
#[test]
fn oversize_datagram_is_truncated_and_flagged() {
    let reactor = reactor();
    let (proto, seen) = echo(&reactor);
    let options = UdpListenOptions {
        max_packet_size: 16,
        ..loopback()
    };
    let port = reactor.listen_udp_with(0, proto, options).unwrap();
    let addr = port.address();
    let c = peer(&reactor, move || {
        let c = client();
        c.send_to(&[b'a'; 100], addr).unwrap();
        let mut buf = [0u8; 200];
        let n = c.recv(&mut buf).unwrap();
        c.send_to(b"stop", addr).unwrap();
        n
    });
    run_for(&reactor, LIMIT);
    assert_eq!(join(c), 16, "the echo is the cut datagram");
    let seen = seen.get();
    assert_eq!(seen[1], "truncated 100");
    assert!(seen[2].starts_with(&format!("received {} from", "a".repeat(16))));
}

/// A port reads at most 256 KiB per readable event and then lets the
/// reactor run other work: 100 datagrams of 8000 bytes (800 KB) queued
/// before the reactor runs are delivered in several batches, a timer set
/// at the first datagram firing before the last one is delivered.
#[test]
fn reading_yields_after_the_budget() {
    let reactor = reactor();
    const COUNT: usize = 100;
    const SIZE: usize = 8000;
    struct Count {
        got: Rc<RefCell<usize>>,
        mark: Rc<RefCell<Option<usize>>>,
        reactor: Reactor,
    }
    impl DatagramProtocol for Count {
        fn datagram_received(&mut self, _: &DatagramTransport, data: &[u8], _: &gyre::Address) {
            if data.len() != SIZE {
                return; // never reached: the run would then time out
            }
            *self.got.borrow_mut() += 1;
            let got = *self.got.borrow();
            if got == 1 {
                let (g, m) = (self.got.clone(), self.mark.clone());
                self.reactor
                    .call_later(Duration::ZERO, move || *m.borrow_mut() = Some(*g.borrow()));
            }
            if got == COUNT {
                util::stop(&self.reactor);
            }
        }
    }
    let got = Rc::new(RefCell::new(0));
    let mark = Rc::new(RefCell::new(None));
    let options = UdpListenOptions {
        receive_buffer_size: Some(4 << 20),
        ..loopback()
    };
    let port = reactor
        .listen_udp_with(
            0,
            Count {
                got: got.clone(),
                mark: mark.clone(),
                reactor: reactor.clone(),
            },
            options,
        )
        .unwrap();
    let sender = client();
    for _ in 0..COUNT {
        sender.send_to(&[7u8; SIZE], port.address()).unwrap();
    }
    run_for(&reactor, LIMIT);
    assert_eq!(
        *got.borrow(),
        COUNT,
        "every datagram was queued and delivered"
    );
    let mark = mark.borrow().expect("the timer ran");
    // 256 KiB is 32.8 datagrams: the first batch is 33.
    assert!(
        (33..COUNT).contains(&mark),
        "the timer ran after {mark} datagrams"
    );
}

/// Binding a busy port is a `ListenError` naming it; a non-IP interface
/// too.
#[test]
fn listen_errors() {
    let reactor = reactor();
    let busy = client();
    let n = busy.local_addr().unwrap().port();
    let (proto, _) = echo(&reactor);
    let err = reactor
        .listen_udp_with(n, proto.clone(), loopback())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("Couldn't listen on 127.0.0.1:{n}: Address already in use.")
    );
    let options = UdpListenOptions {
        interface: "localhost".into(),
        ..Default::default()
    };
    let err = reactor
        .listen_udp_with(0, proto.clone(), options)
        .unwrap_err();
    assert!(
        err.to_string().contains("'localhost' is not an IP address"),
        "{err}"
    );
    assert_eq!(proto.num_ports(), 0);
}

/// Two listeners share a multicast group port (`listen_multiple`) on
/// 127.0.0.1 and both receive a datagram sent to the group; TTL and
/// loopback read back what was set; joining twice is an error.
#[test]
fn multicast_between_two_listeners() {
    let reactor = reactor();
    let group = Ipv4Addr::new(239, 255, 42, 99);
    let options = UdpListenOptions {
        listen_multiple: true,
        ..Default::default()
    };
    let got: Rc<RefCell<Vec<String>>> = Rc::default();
    struct Member(&'static str, Rc<RefCell<Vec<String>>>, Reactor);
    impl DatagramProtocol for Member {
        fn datagram_received(&mut self, _: &DatagramTransport, data: &[u8], _: &gyre::Address) {
            self.1
                .borrow_mut()
                .push(format!("{} {}", self.0, String::from_utf8_lossy(data)));
            if self.1.borrow().len() == 2 {
                util::stop(&self.2);
            }
        }
    }
    let a = reactor
        .listen_multicast(
            0,
            Member("a", got.clone(), reactor.clone()),
            options.clone(),
        )
        .unwrap();
    let n = a.address().port();
    let b = reactor
        .listen_multicast(n, Member("b", got.clone(), reactor.clone()), options)
        .unwrap();
    for port in [&a, &b] {
        port.join_group(group, Ipv4Addr::LOCALHOST).unwrap();
    }
    b.leave_group(group, Ipv4Addr::LOCALHOST).unwrap();
    assert!(
        b.leave_group(group, Ipv4Addr::LOCALHOST).is_err(),
        "left twice"
    );
    b.join_group(group, Ipv4Addr::LOCALHOST).unwrap();
    assert!(
        a.join_group(group, Ipv4Addr::LOCALHOST).is_err(),
        "joined twice"
    );
    assert_eq!(a.ttl().unwrap(), 1);
    a.set_ttl(2).unwrap();
    assert_eq!(a.ttl().unwrap(), 2);
    assert!(a.loopback_mode().unwrap());
    a.set_loopback_mode(false).unwrap();
    assert!(!a.loopback_mode().unwrap());
    a.set_loopback_mode(true).unwrap();
    a.set_outgoing_interface(Ipv4Addr::LOCALHOST).unwrap();
    assert_eq!(a.outgoing_interface().unwrap(), Ipv4Addr::LOCALHOST);
    a.write_to(b"ping", (group, n)).unwrap();
    run_for(&reactor, LIMIT);
    let mut got = got.borrow().clone();
    got.sort();
    assert_eq!(got, vec!["a ping", "b ping"]);
}

/// A network namespace of this test's own, removed when dropped, holding
/// a veth pair (`v0`, `v1`) that is up: Linux's loopback carries no IPv6
/// multicast (a send there fails with `Network is unreachable`), and the
/// host's interfaces are not the tests' to use. Needs root and `ip`
/// (iproute2, which scripts/test-all installs); fails loudly without them.
struct Ipv6MulticastNet {
    name: String,
}

impl Ipv6MulticastNet {
    fn new() -> Ipv6MulticastNet {
        let net = Ipv6MulticastNet {
            name: format!("gyre-mc6-{}", std::process::id()),
        };
        let ip = |args: &[&str]| {
            let out = std::process::Command::new("ip")
                .args(args)
                .output()
                .unwrap_or_else(|e| {
                    panic!("ip {args:?}: {e} (iproute2 is needed: scripts/test-all installs it)")
                });
            assert!(
                out.status.success(),
                "ip {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        ip(&["netns", "add", &net.name]);
        let n = net.name.as_str();
        ip(&["-n", n, "link", "set", "lo", "up"]);
        ip(&[
            "-n", n, "link", "add", "v0", "type", "veth", "peer", "name", "v1",
        ]);
        ip(&[
            "-n",
            n,
            "addr",
            "add",
            "fd00:6d63::1/64",
            "dev",
            "v0",
            "nodad",
        ]);
        ip(&["-n", n, "link", "set", "v0", "up"]);
        ip(&["-n", n, "link", "set", "v1", "up"]);
        net
    }

    /// `v0`'s interface index, from `ip -o link` (`3: v0@v1: …`).
    fn v0_index(&self) -> u32 {
        let out = std::process::Command::new("ip")
            .args(["-n", &self.name, "-o", "link", "show", "v0"])
            .output()
            .expect("ip link show");
        let text = String::from_utf8_lossy(&out.stdout);
        text.split(':')
            .next()
            .and_then(|i| i.trim().parse().ok())
            .unwrap_or_else(|| panic!("no index in {text:?}"))
    }

    /// Runs `f` on a thread moved into the namespace; returns its result
    /// (a panic in `f` fails the test).
    fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};
        use std::os::fd::AsFd;
        let path = format!("/run/netns/{}", self.name);
        std::thread::scope(|scope| {
            let t = scope.spawn(|| {
                let file =
                    std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
                move_into_link_name_space(file.as_fd(), Some(LinkNameSpaceType::Network))
                    .unwrap_or_else(|e| panic!("setns into {path}: {e}"));
                f()
            });
            match t.join() {
                Ok(v) => v,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }
}

impl Drop for Ipv6MulticastNet {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// IPv6 multicast between two listeners sharing a port on `::`, in an
/// interface-local group (`ff01::…`, which never leaves the host) joined
/// on a chosen interface by index: hop limit, loopback and outgoing
/// interface read back what was set; joining twice and leaving twice are
/// errors; both listeners get the datagram. Runs in a network namespace
/// the test makes ([`Ipv6MulticastNet`]), on a veth interface.
#[test]
fn ipv6_multicast_between_two_listeners() {
    let net = Ipv6MulticastNet::new();
    let index = net.v0_index();
    net.run(|| ipv6_multicast_on(index));
}

fn ipv6_multicast_on(index: u32) {
    let reactor = reactor();
    let group: std::net::Ipv6Addr = "ff01::4242".parse().unwrap();
    let options = UdpListenOptions {
        interface: "::".into(),
        listen_multiple: true,
        ..Default::default()
    };
    let got: Rc<RefCell<Vec<String>>> = Rc::default();
    struct Member(&'static str, Rc<RefCell<Vec<String>>>, Reactor);
    impl DatagramProtocol for Member {
        fn datagram_received(&mut self, _: &DatagramTransport, data: &[u8], _: &gyre::Address) {
            self.1
                .borrow_mut()
                .push(format!("{} {}", self.0, String::from_utf8_lossy(data)));
            if self.1.borrow().len() == 2 {
                util::stop(&self.2);
            }
        }
    }
    let a = reactor
        .listen_multicast(
            0,
            Member("a", got.clone(), reactor.clone()),
            options.clone(),
        )
        .unwrap();
    let n = a.address().port();
    let b = reactor
        .listen_multicast(n, Member("b", got.clone(), reactor.clone()), options)
        .unwrap();
    for port in [&a, &b] {
        port.join_group_v6(group, index).unwrap();
    }
    b.leave_group_v6(group, index).unwrap();
    assert!(b.leave_group_v6(group, index).is_err(), "left twice");
    b.join_group_v6(group, index).unwrap();
    assert!(a.join_group_v6(group, index).is_err(), "joined twice");
    assert_eq!(a.hops_v6().unwrap(), 1);
    a.set_hops_v6(3).unwrap();
    assert_eq!(a.hops_v6().unwrap(), 3);
    assert!(a.loopback_mode_v6().unwrap());
    a.set_loopback_mode_v6(false).unwrap();
    assert!(!a.loopback_mode_v6().unwrap());
    a.set_loopback_mode_v6(true).unwrap();
    assert_eq!(a.outgoing_interface_v6().unwrap(), 0);
    a.set_outgoing_interface_v6(index).unwrap();
    assert_eq!(a.outgoing_interface_v6().unwrap(), index);
    a.write_to(b"ping6", (group, n)).unwrap();
    run_for(&reactor, LIMIT);
    let mut got = got.borrow().clone();
    got.sort();
    assert_eq!(got, vec!["a ping6", "b ping6"]);
}

/// Datagrams written in one turn (batched, the default, and unbatched)
/// reach two peers whole and in the order written; the typed errors are
/// still returned by the write itself.
#[test]
fn writes_in_one_turn_arrive_in_order() {
    for batching in [true, false] {
        let reactor = reactor();
        let options = UdpListenOptions {
            interface: "127.0.0.1".into(),
            send_batching: batching,
            ..Default::default()
        };
        struct Quiet;
        impl DatagramProtocol for Quiet {
            fn datagram_received(&mut self, _: &DatagramTransport, _: &[u8], _: &gyre::Address) {}
        }
        let port = reactor.listen_udp_with(0, Quiet, options).unwrap();
        let peers = [
            UdpSocket::bind("127.0.0.1:0").unwrap(),
            UdpSocket::bind("127.0.0.1:0").unwrap(),
        ];
        let to: Vec<SocketAddr> = peers.iter().map(|p| p.local_addr().unwrap()).collect();
        let errors = Events::default();
        let (p, e, r) = (port.clone(), errors.clone(), reactor.clone());
        reactor.call_later(Duration::from_millis(0), move || {
            for i in 0..100u32 {
                let data = format!("datagram {i}");
                if let Err(err) = p.write_to(data.as_bytes(), to[(i % 2) as usize]) {
                    e.push(format!("{err}"));
                }
            }
            let v6: SocketAddr = "[::1]:9".parse().unwrap();
            e.push(format!("{:?}", p.write_to(b"x", v6).is_err()));
            e.push(format!("{:?}", p.write_to(&[0; 70_000], to[0]).is_err()));
            util::stop(&r);
        });
        run_for(&reactor, LIMIT);
        assert_eq!(errors.get(), vec!["true", "true"], "batching {batching}");
        for (k, peer) in peers.iter().enumerate() {
            peer.set_read_timeout(Some(util::PEER_TIMEOUT)).unwrap();
            let mut buf = [0u8; 64];
            for i in (k as u32..100).step_by(2) {
                let n = peer.recv(&mut buf).unwrap();
                assert_eq!(
                    String::from_utf8_lossy(&buf[..n]),
                    format!("datagram {i}"),
                    "batching {batching}"
                );
            }
        }
    }
}
