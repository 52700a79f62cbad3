//! UNIX datagram sockets on real sockets in temporary directories:
//! `listen_unix_datagram` (mode, log lines, file removed at stop, a panic
//! in the protocol), `connect_unix_datagram` (answers to a bound client,
//! an unbound sender's address, a missing path), and the one
//! `DatagramProtocol` shared by a UDP port and a UNIX datagram socket
//! (reference §1.8, §1.9, §17.3).

mod util;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

use gyre::datagram::{DatagramError, DatagramProtocol, DatagramTransport, SharedDatagram};
use gyre::udp::UdpListenOptions;
use gyre::unix::UnixDatagramOptions;
use gyre::{Address, Reactor};
use util::{Events, TempDir, assert_in_order, run_for};

const LIMIT: Duration = Duration::from_secs(5);

fn reactor() -> Reactor {
    util::capture_logs();
    Reactor::new().expect("reactor")
}

/// Echoes to bound senders; records; panics on `boom`; stops on `stop`.
struct Echo {
    seen: Events,
    reactor: Reactor,
}

impl DatagramProtocol for Echo {
    fn start_protocol(&mut self, t: &DatagramTransport) {
        self.seen.push(format!("start_protocol {}", t.host()));
    }
    fn stop_protocol(&mut self) {
        self.seen.push("stop_protocol");
    }
    fn datagram_received(&mut self, t: &DatagramTransport, data: &[u8], from: &Address) {
        self.seen.push(format!(
            "received {} from {from}",
            String::from_utf8_lossy(data)
        ));
        match data {
            b"boom" => panic!("boom in a unix datagram"),
            b"stop" => util::stop(&self.reactor),
            _ => {}
        }
        // An unbound UNIX sender cannot be answered (a typed error).
        let _ = t.write_to(data, from);
    }
}

/// A server socket file with the mode asked for, datagrams from an unbound
/// sender (`UNIXAddress(None)`) and from a bound one (answered), a panic
/// logged under `… (UNIX)` without stopping the socket, Twisted's log
/// lines, and the file removed at stop.
#[test]
fn listen_receive_answer_and_stop() {
    let reactor = reactor();
    util::expect_errors(&["panic in datagram_received: boom in a unix datagram"]);
    let dir = TempDir::new();
    let path = dir.join("dgram.sock");
    let seen = Events::default();
    let options = UnixDatagramOptions {
        mode: 0o600,
        ..Default::default()
    };
    let port = reactor
        .listen_unix_datagram_with(
            &path,
            Echo {
                seen: seen.clone(),
                reactor: reactor.clone(),
            },
            options,
        )
        .unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
        0o600
    );
    let unbound = UnixDatagram::unbound().unwrap();
    unbound.send_to(b"anonymous", &path).unwrap();
    unbound.send_to(b"boom", &path).unwrap();
    let client_path: PathBuf = dir.join("client.sock");
    let bound = UnixDatagram::bind(&client_path).unwrap();
    bound.set_read_timeout(Some(util::PEER_TIMEOUT)).unwrap();
    bound.send_to(b"named", &path).unwrap();
    bound.send_to(b"stop", &path).unwrap();
    run_for(&reactor, LIMIT);
    let mut buf = [0u8; 16];
    let n = bound.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"named");
    let shown = path.display().to_string();
    assert_eq!(
        seen.get(),
        vec![
            format!("start_protocol UNIXAddress('{shown}')"),
            "received anonymous from UNIXAddress(None)".to_string(),
            "received boom from UNIXAddress(None)".to_string(),
            format!(
                "received named from UNIXAddress('{}')",
                client_path.display()
            ),
            format!(
                "received stop from UNIXAddress('{}')",
                client_path.display()
            ),
            "stop_protocol".to_string(),
        ]
    );
    assert!(!path.exists(), "the socket file is removed");
    assert!(!port.is_listening());
    assert_in_order(
        &util::texts(),
        &[
            &format!("Echo starting on '{shown}'"),
            "Starting protocol <unix_datagram::Echo object at 0x",
            &format!("(Port '{shown}' Closed)"),
            "Stopping protocol <unix_datagram::Echo object at 0x",
        ],
    );
    let errors = util::lines_containing("Unhandled Error");
    assert_eq!(errors[0].system, "unix_datagram::Echo (UNIX)");
}

/// A client bound to its own path connects to a server and gets answers;
/// connecting to a missing path is an error from the call.
#[test]
fn connect_and_missing_path() {
    let reactor = reactor();
    let dir = TempDir::new();
    let server = dir.join("server.sock");
    let seen = Events::default();
    reactor
        .listen_unix_datagram(
            &server,
            Echo {
                seen: Events::default(),
                reactor: reactor.clone(),
            },
        )
        .unwrap();
    let client_path = dir.join("client.sock");
    /// Records the answer and stops.
    struct Answered(Events, Reactor);
    impl DatagramProtocol for Answered {
        fn datagram_received(&mut self, _: &DatagramTransport, data: &[u8], from: &Address) {
            self.0.push(format!(
                "answer {} from {from}",
                String::from_utf8_lossy(data)
            ));
            util::stop(&self.1);
        }
    }
    let client = reactor
        .connect_unix_datagram(
            &server,
            Answered(seen.clone(), reactor.clone()),
            Some(&client_path),
        )
        .unwrap();
    assert_eq!(client.peer(), Some(Address::unix(Some(&server))));
    assert_eq!(client.host(), Address::unix(Some(&client_path)));
    client.write(b"hello").unwrap();
    run_for(&reactor, LIMIT);
    assert_eq!(
        seen.get(),
        vec![format!(
            "answer hello from UNIXAddress('{}')",
            server.display()
        )]
    );
    let err = Reactor::new()
        .unwrap()
        .connect_unix_datagram(
            dir.join("missing.sock"),
            Echo {
                seen: Events::default(),
                reactor: reactor.clone(),
            },
            None,
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "An error occurred while connecting: 2: No such file or directory."
    );
}

/// One protocol value, shared by a UDP port and a UNIX datagram socket, as
/// Twisted allows (one `DatagramProtocol` for both): started once, told
/// each sender's address in its own family, answering each through the
/// same `write_to(data, from)`, stopped once when the last port stops.
/// Writing an IP address on the UNIX socket, a path on the UDP port, or
/// to an unbound sender are typed errors.
#[test]
fn one_protocol_on_udp_and_unix() {
    let reactor = reactor();
    let dir = TempDir::new();
    let path = dir.join("both.sock");
    let seen = Events::default();
    let shared = SharedDatagram::new(Echo {
        seen: seen.clone(),
        reactor: reactor.clone(),
    });
    let unix = reactor.listen_unix_datagram(&path, shared.clone()).unwrap();
    let options = UdpListenOptions {
        interface: "127.0.0.1".into(),
        ..Default::default()
    };
    let udp = reactor.listen_udp_with(0, shared.clone(), options).unwrap();
    assert_eq!(shared.num_ports(), 2);
    let udp_addr = udp.address();

    let unix_client = UnixDatagram::bind(dir.join("c.sock")).unwrap();
    unix_client
        .set_read_timeout(Some(util::PEER_TIMEOUT))
        .unwrap();
    unix_client.send_to(b"over unix", &path).unwrap();
    let udp_client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp_client
        .set_read_timeout(Some(util::PEER_TIMEOUT))
        .unwrap();
    udp_client.send_to(b"over udp", udp_addr).unwrap();
    let udp_client_addr = udp_client.local_addr().unwrap();

    let errors = Events::default();
    let (u, d, e) = (unix.clone(), udp.clone(), errors.clone());
    reactor.call_later(Duration::from_millis(0), move || {
        let ip: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
        for result in [
            u.write_to(b"x", ip),
            d.write_to(b"x", std::path::Path::new("/tmp/x.sock")),
            u.write_to(b"x", gyre::Address::unix(None)),
        ] {
            e.push(match result {
                Err(DatagramError::WrongFamily { why, .. }) => format!("WrongFamily: {why}"),
                Err(DatagramError::InvalidAddress { host, .. }) => format!("InvalidAddress {host}"),
                other => format!("unexpected {other:?}"),
            });
        }
    });
    let mut buf = [0u8; 32];
    let (u, d) = (unix.clone(), udp.clone());
    // Both datagrams were queued in the kernel before the reactor ran.
    reactor.call_later(Duration::from_millis(200), move || {
        let _ = u.stop_listening();
        let _ = d.stop_listening();
    });
    let r = reactor.clone();
    reactor.call_later(Duration::from_millis(300), move || util::stop(&r));
    run_for(&reactor, LIMIT);
    let n = unix_client.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"over unix");
    let n = udp_client.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"over udp");
    let mut got = seen.get();
    got[1..3].sort();
    let first = got[0].clone();
    assert_eq!(
        first,
        format!("start_protocol UNIXAddress('{}')", path.display())
    );
    let mut expected_mid = vec![
        format!(
            "received over unix from UNIXAddress('{}')",
            dir.join("c.sock").display()
        ),
        format!(
            "received over udp from IPv4Address(type='UDP', host='127.0.0.1', port={})",
            udp_client_addr.port()
        ),
    ];
    expected_mid.sort();
    assert_eq!(got[1..3].to_vec(), expected_mid);
    assert_eq!(got[3..].to_vec(), vec!["stop_protocol".to_string()]);
    assert_eq!(shared.num_ports(), 0);
    assert_eq!(
        errors.get(),
        vec![
            "WrongFamily: UNIX datagram port write() called with an IP address".to_string(),
            "WrongFamily: UDP port write() called with a UNIX socket path".to_string(),
            "InvalidAddress None".to_string(),
        ]
    );
    let texts = util::texts();
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.starts_with("Starting protocol"))
            .count(),
        1,
        "started once for two ports"
    );
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.starts_with("Stopping protocol"))
            .count(),
        1,
        "stopped once after both ports"
    );
}
