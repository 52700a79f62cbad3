//! The PROXY protocol wrapper on real sockets, through `haproxy:`
//! endpoints: the header's client as `peer()` and in the log lines, data
//! after the header echoed byte for byte with flow control, garbage and
//! silence dropped without the protocol hearing of them. (Parser and
//! wrapper details are tested on doubles in `src/haproxy/tests/`; behind a
//! real HAProxy in `crates/gyre-cli/tests/haproxy.rs`.)

mod util;

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::time::Duration;

use gyre::endpoint::{
    HaproxyServerEndpoint, ServerEndpoint, ServerEndpointExt, server_from_string,
};
use gyre::haproxy::{ProxyHeader, Version};
use gyre::{Address, ListeningPort, Protocol, Reactor, Transport, for_protocol};
use util::{Events, PEER_TIMEOUT, capture_logs, join, pattern, peer, run_for, take_logs};

const LIMIT: Duration = Duration::from_secs(10);

/// Answers its first bytes with what it knows of the connection, then
/// echoes, reading no faster than its peer reads (like `gyre echo`).
struct Report {
    made: Events,
    answered: bool,
}

impl Protocol for Report {
    fn connection_made(&mut self, transport: &Transport) {
        self.made.push(transport.peer().to_string());
        transport
            .register_producer(transport.as_producer())
            .unwrap();
    }

    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        if !self.answered {
            self.answered = true;
            log::info!("first data");
            let line = format!(
                "{} {} {}\n",
                transport.peer(),
                transport.host(),
                transport.log_prefix()
            );
            transport.write(line.as_bytes());
        }
        transport.write(data);
    }
}

/// Listens on `endpoint` with a `Report` factory.
fn listen(endpoint: &dyn ServerEndpoint, made: &Events) -> ListeningPort {
    let made = made.clone();
    let factory = for_protocol(move || Report {
        made: made.clone(),
        answered: false,
    });
    let port = Rc::new(RefCell::new(None));
    let p = port.clone();
    endpoint
        .listen(factory)
        .consume(move |r| *p.borrow_mut() = Some(r.expect("listening")));
    port.borrow_mut().take().expect("TCP listens at once")
}

/// A client connected to 127.0.0.1:`port` from 127.0.0.1, with its own
/// port (chosen by the kernel) returned: the balancer's address, which the
/// header's client must replace, and which the wrapper's log lines name.
fn connect_loopback(port: u16) -> (TcpStream, u16) {
    let s = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    let from = s.local_addr().unwrap();
    assert_eq!(from.ip(), std::net::Ipv4Addr::LOCALHOST, "{from}");
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(PEER_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(PEER_TIMEOUT)).unwrap();
    (s, from.port())
}

/// Reads up to and including the first `\n`.
fn read_line(s: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8];
    while line.last() != Some(&b'\n') {
        s.read_exact(&mut byte).expect("a whole line");
        line.push(byte[0]);
    }
    String::from_utf8(line).unwrap()
}

/// Through `haproxy:tcp:…`, a v2 header sent in pieces makes the header's
/// client the protocol's peer and the name in its log lines; 1 MiB after
/// it comes back byte for byte.
#[test]
fn the_header_s_client_is_the_peer_and_in_the_logs() {
    capture_logs();
    let reactor = Reactor::new().unwrap();
    let endpoint = server_from_string(&reactor, "haproxy:tcp:0:interface=127.0.0.1").unwrap();
    let made = Events::default();
    let listening = listen(&*endpoint, &made);
    let port = listening.address().port();
    let client = Address::tcp("203.0.113.9:5555".parse().unwrap());
    let server = Address::tcp("198.51.100.1:443".parse().unwrap());
    let header = ProxyHeader::new(Version::V2, client, server)
        .encode()
        .unwrap();
    let body = pattern(1 << 20, 0);
    let sent = body.clone();
    let talk = peer(&reactor, move || {
        let (mut s, from) = connect_loopback(port);
        for piece in header.chunks(7) {
            s.write_all(piece).unwrap();
        }
        let mut writer = s.try_clone().unwrap();
        let send = std::thread::spawn(move || writer.write_all(&sent));
        let line = read_line(&mut s);
        let mut back = vec![0u8; 1 << 20];
        s.read_exact(&mut back).unwrap();
        send.join().unwrap().unwrap();
        (line, back, from)
    });
    run_for(&reactor, LIMIT);
    let (line, back, from) = join(talk);
    assert_eq!(
        line,
        "IPv4Address(type='TCP', host='203.0.113.9', port=5555) \
         IPv4Address(type='TCP', host='198.51.100.1', port=443) Report,0,203.0.113.9\n"
    );
    assert!(back == body, "the echoed bytes differ");
    assert_eq!(
        made.get(),
        ["IPv4Address(type='TCP', host='203.0.113.9', port=5555)"]
    );
    let logs = take_logs();
    let first = logs
        .iter()
        .find(|l| l.text == "first data")
        .expect("logged");
    assert_eq!(first.system, "Report,0,203.0.113.9");
    let read = logs
        .iter()
        .find(|l| l.text.starts_with("PROXY v2 header from"))
        .expect("the header is logged at debug level");
    assert_eq!(read.system, "Report,0,203.0.113.9");
    // The connection's own peer (the balancer: this test's socket, port
    // and all) is named as where the header came from, and only there.
    let balancer = format!("IPv4Address(type='TCP', host='127.0.0.1', port={from})");
    assert!(
        read.text
            .starts_with(&format!("PROXY v2 header from {balancer}"))
            && read
                .text
                .contains("client IPv4Address(type='TCP', host='203.0.113.9', port=5555)"),
        "{}",
        read.text
    );
}

/// Bytes that are not a header close the connection at once, with one
/// line saying why; the protocol never hears of the connection.
#[test]
fn garbage_is_dropped_unseen() {
    capture_logs();
    let reactor = Reactor::new().unwrap();
    let endpoint = server_from_string(&reactor, "haproxy:tcp:0:interface=127.0.0.1").unwrap();
    let made = Events::default();
    let listening = listen(&*endpoint, &made);
    let port = listening.address().port();
    let talk = peer(&reactor, move || {
        let (mut s, from) = connect_loopback(port);
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut buf = [0u8; 64];
        // End of input or a reset: either way, closed without a reply.
        let n = match s.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
            Err(e) => panic!("no close: {e}"),
        };
        (n, from)
    });
    run_for(&reactor, LIMIT);
    let (n, from) = join(talk);
    assert_eq!(n, 0);
    assert_eq!(made.get(), Vec::<String>::new());
    let dropped: Vec<_> = take_logs()
        .into_iter()
        .filter(|l| l.text.starts_with("Dropping connection"))
        .collect();
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert_eq!(
        dropped[0].text,
        format!(
            "Dropping connection from IPv4Address(type='TCP', host='127.0.0.1', port={from}): \
             invalid PROXY header: the stream does not start with a PROXY protocol signature"
        )
    );
}

/// A client that sends only part of a header is dropped at the time
/// bound; the protocol never hears of it.
#[test]
fn a_partial_header_is_dropped_at_the_bound() {
    capture_logs();
    let reactor = Reactor::new().unwrap();
    let inner = server_from_string(&reactor, "tcp:0:interface=127.0.0.1").unwrap();
    let endpoint =
        HaproxyServerEndpoint::new(&reactor, inner).with_timeout(Duration::from_millis(200));
    let made = Events::default();
    let listening = listen(&endpoint, &made);
    let port = listening.address().port();
    let talk = peer(&reactor, move || {
        let (mut s, _) = connect_loopback(port);
        s.write_all(b"PROXY TCP4 203.0.113.9 ").unwrap();
        let started = std::time::Instant::now();
        let mut buf = [0u8; 64];
        let n = match s.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
            Err(e) => panic!("no close: {e}"),
        };
        (n, started.elapsed())
    });
    run_for(&reactor, LIMIT);
    let (n, waited) = join(talk);
    assert_eq!(n, 0);
    assert!(
        waited >= Duration::from_millis(150),
        "closed after {waited:?}"
    );
    assert_eq!(made.get(), Vec::<String>::new());
    assert!(
        take_logs()
            .iter()
            .any(|l| l.text.ends_with("no complete PROXY header within 200ms")),
        "no timeout line"
    );
}
