//! UNIX datagram sockets on real sockets in temporary directories:
//! `listen_unix_datagram` (mode, log lines, file removed at stop, a panic
//! in the protocol), `connect_unix_datagram` (answers to a bound client,
//! an unbound sender's address, a missing path) (reference §1.9, §17.3).

mod util;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

use gyre::unix::{UnixDatagramOptions, UnixDatagramProtocol, UnixDatagramTransport};
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

impl UnixDatagramProtocol for Echo {
    fn start_protocol(&mut self, t: &UnixDatagramTransport) {
        self.seen.push(format!("start_protocol {}", t.host()));
    }
    fn stop_protocol(&mut self) {
        self.seen.push("stop_protocol");
    }
    fn datagram_received(&mut self, t: &UnixDatagramTransport, data: &[u8], from: &Address) {
        self.seen.push(format!(
            "received {} from {from}",
            String::from_utf8_lossy(data)
        ));
        match data {
            b"boom" => panic!("boom in a unix datagram"),
            b"stop" => util::stop(&self.reactor),
            _ => {}
        }
        if let Some(path) = from.unix_path() {
            let _ = t.write_to(data, path);
        }
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
            &format!("(Port '{shown}' Closed)"),
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
    impl UnixDatagramProtocol for Answered {
        fn datagram_received(&mut self, _: &UnixDatagramTransport, data: &[u8], from: &Address) {
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
