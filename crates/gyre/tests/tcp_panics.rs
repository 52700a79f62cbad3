//! A panicking protocol or factory beside a healthy connection: the panic is
//! logged as `Unhandled Error`, closes only its own connection (with
//! [`Reason::Panicked`]) and the port keeps serving (design: "panics isolated
//! per connection"; reference §1.7.6 for Twisted's behaviour). Mostly TCP;
//! the `data_received` case also runs over a UNIX socketpair.

mod util;

use std::io::Write;
use std::time::Duration;

use gyre::{Address, Factory, Protocol, Reactor, Reason, Shared, Transport};
use util::{Events, join, loopback, peer, read_n, read_to_eof, run_for, std_connect};

const LIMIT: Duration = Duration::from_secs(5);

/// Where to panic.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Trap {
    /// In `data_received`, on the bytes `boom`.
    Data,
    /// In `connection_made`, for the first connection.
    Made,
    /// In `build_protocol`, for the first connection.
    Build,
}

/// Echoes; panics where its trap says.
struct Touchy {
    trap: Trap,
    first: bool,
    lost: Events,
}

impl Protocol for Touchy {
    fn connection_made(&mut self, transport: &Transport) {
        log::info!("made {}", transport.log_prefix());
        if self.trap == Trap::Made && self.first {
            panic!("connection_made went wrong");
        }
    }
    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        if self.trap == Trap::Data && data == b"boom" {
            panic!(
                "data_received went wrong on {:?}",
                String::from_utf8_lossy(data)
            );
        }
        transport.write(data);
    }
    fn connection_lost(&mut self, reason: Reason) {
        let what = match &reason {
            Reason::Panicked(msg) => format!("panicked: {msg}"),
            other => format!("other: {other}"),
        };
        self.lost.push(what);
    }
}

struct TouchyFactory {
    trap: Trap,
    built: std::cell::Cell<u32>,
    lost: Events,
}

impl Factory for TouchyFactory {
    type Protocol = Touchy;
    fn build_protocol(&self, _: &Address) -> Option<Touchy> {
        let n = self.built.get();
        self.built.set(n + 1);
        if self.trap == Trap::Build && n == 0 {
            panic!("build_protocol went wrong");
        }
        Some(Touchy {
            trap: self.trap,
            first: n == 0,
            lost: self.lost.clone(),
        })
    }
}

/// The `connection_lost` reasons that were panics (the healthy connection's
/// own end, clean or at shutdown, depends on who finishes first).
fn panicked(factory: &TouchyFactory) -> Vec<String> {
    factory
        .lost
        .get()
        .into_iter()
        .filter(|l| l.starts_with("panicked"))
        .collect()
}

fn serve(trap: Trap) -> (Reactor, Shared<TouchyFactory>, std::net::SocketAddr) {
    util::expect_errors(&[
        "panic in data_received: data_received went wrong",
        "panic in connection_made: connection_made went wrong",
        "panic in build_protocol: build_protocol went wrong",
    ]);
    let reactor = Reactor::new().unwrap();
    let factory = Shared::new(TouchyFactory {
        trap,
        built: Default::default(),
        lost: Events::default(),
    });
    let port = reactor
        .listen_tcp_with(0, factory.clone(), loopback())
        .unwrap();
    (reactor, factory, port.address())
}

/// A panic in `data_received` closes that connection (the peer sees a clean end), its
/// `connection_lost` gets `Reason::Panicked` with the message, `Unhandled Error` is logged
/// under the connection's system, and another connection on the same port keeps echoing.
#[test]
fn panic_in_data_received_closes_only_that_connection() {
    let (reactor, factory, addr) = serve(Trap::Data);
    let client = peer(&reactor, move || {
        let mut healthy = std_connect(addr);
        healthy.write_all(b"before").unwrap();
        assert_eq!(read_n(&mut healthy, 6), b"before");
        let mut doomed = std_connect(addr);
        doomed.write_all(b"boom").unwrap();
        let rest = read_to_eof(&mut doomed);
        healthy.write_all(b"after").unwrap();
        (rest, read_n(&mut healthy, 5))
    });
    run_for(&reactor, LIMIT);
    let (rest, after) = join(client);
    assert_eq!(
        rest, b"",
        "the panicking connection ends cleanly, nothing echoed"
    );
    assert_eq!(after, b"after", "the other connection keeps echoing");
    assert_eq!(
        panicked(&factory),
        vec![r#"panicked: data_received went wrong on "boom""#.to_string()]
    );
    let unhandled = util::lines_containing("Unhandled Error");
    assert_eq!(unhandled.len(), 1, "{unhandled:#?}");
    assert!(
        unhandled[0]
            .text
            .contains(r#"data_received went wrong on "boom""#),
        "{unhandled:#?}"
    );
    assert_eq!(unhandled[0].system, "Touchy,1,127.0.0.1");
    assert_eq!(unhandled[0].level, log::Level::Error);
}

/// Over a UNIX socketpair too (the panic isolation is the shared stream connection's):
/// a panic in `data_received` closes only that connection, logged under its system
/// (`Touchy,0,`: a UNIX server connection's prefix has an empty host, as in Twisted).
#[test]
fn panic_in_data_received_closes_only_that_connection_over_unix() {
    let (reactor, factory, _) = serve(Trap::Data);
    let served = util::serve_kind(util::Kind::Unix, &reactor, 2, {
        let factory = factory.clone();
        move || factory.build_protocol(&Address::unix(None)).unwrap()
    });
    let client = peer(&reactor, move || {
        let mut healthy = served.connect();
        let mut doomed = served.connect();
        healthy.write_all(b"before").unwrap();
        assert_eq!(read_n(&mut healthy, 6), b"before");
        doomed.write_all(b"boom").unwrap();
        let rest = read_to_eof(&mut doomed);
        healthy.write_all(b"after").unwrap();
        (rest, read_n(&mut healthy, 5))
    });
    run_for(&reactor, LIMIT);
    let (rest, after) = join(client);
    assert_eq!(rest, b"", "the panicking connection ends, nothing echoed");
    assert_eq!(after, b"after", "the other connection keeps echoing");
    assert_eq!(
        panicked(&factory),
        vec![r#"panicked: data_received went wrong on "boom""#.to_string()]
    );
    let unhandled = util::lines_containing("Unhandled Error");
    assert_eq!(unhandled.len(), 1, "{unhandled:#?}");
    assert_eq!(unhandled[0].system, "Touchy,0,");
}

/// A panic in a server's `connection_made` is logged and closes that connection with
/// `Reason::Panicked` (gyre's documented difference from Twisted); the port keeps serving.
#[test]
fn panic_in_connection_made_closes_the_connection_and_port_keeps_serving() {
    let (reactor, factory, addr) = serve(Trap::Made);
    let client = peer(&reactor, move || {
        let mut doomed = std_connect(addr);
        let rest = read_to_eof(&mut doomed);
        let mut healthy = std_connect(addr);
        healthy.write_all(b"still serving").unwrap();
        (rest, read_n(&mut healthy, 13))
    });
    run_for(&reactor, LIMIT);
    let (rest, echoed) = join(client);
    assert_eq!(rest, b"");
    assert_eq!(echoed, b"still serving");
    assert_eq!(
        panicked(&factory),
        vec!["panicked: connection_made went wrong".to_string()]
    );
    let unhandled = util::lines_containing("Unhandled Error");
    assert_eq!(unhandled.len(), 1, "{unhandled:#?}");
    assert!(unhandled[0].text.contains("connection_made went wrong"));
    assert_eq!(
        unhandled[0].system, "tcp_panics::TouchyFactory",
        "logged under the port"
    );
}

/// A panic in `build_protocol` is logged and refuses that connection (connect, then a
/// clean end); the port keeps serving and no session number is used up.
#[test]
fn panic_in_build_protocol_refuses_the_connection_and_port_keeps_serving() {
    let (reactor, factory, addr) = serve(Trap::Build);
    let client = peer(&reactor, move || {
        let mut doomed = std_connect(addr);
        let rest = read_to_eof(&mut doomed);
        let mut healthy = std_connect(addr);
        healthy.write_all(b"next").unwrap();
        (rest, read_n(&mut healthy, 4))
    });
    run_for(&reactor, LIMIT);
    let (rest, echoed) = join(client);
    assert_eq!(rest, b"");
    assert_eq!(echoed, b"next");
    assert_eq!(factory.built.get(), 2);
    let unhandled = util::lines_containing("Unhandled Error");
    assert_eq!(unhandled.len(), 1, "{unhandled:#?}");
    assert!(unhandled[0].text.contains("build_protocol went wrong"));
    assert_eq!(unhandled[0].system, "tcp_panics::TouchyFactory");
    assert!(
        panicked(&factory).is_empty(),
        "no protocol, no connection_lost"
    );
    assert!(factory.lost.get().len() <= 1, "{:?}", factory.lost.get());
    let made = util::lines_containing("made Touchy,");
    assert_eq!(made.len(), 1);
    assert_eq!(
        made[0].text, "made Touchy,0,127.0.0.1",
        "no session number used up"
    );
}
