//! Quick end-to-end check used while building the reactor.

mod util;

use std::io::Write;
use std::time::Duration;

use gyre::{Protocol, Reactor, Transport, for_protocol};
use util::{join, loopback, peer, read_n, run_for, std_connect};

struct Echo;
impl Protocol for Echo {
    fn data_received(&mut self, t: &Transport, data: &[u8]) {
        t.write(data);
    }
}

/// An echo server answers a blocking client on loopback.
#[test]
fn echo_roundtrip() {
    let reactor = Reactor::new().unwrap();
    let port = reactor
        .listen_tcp_with(0, for_protocol(|| Echo), loopback())
        .unwrap();
    let addr = port.address();
    // The peer stops the reactor when it is done, or when it fails; the
    // watchdog is run_for's limit, which stops the reactor and fails the
    // test (a panicking timer could not: the reactor catches the panic).
    let client = peer(&reactor, move || {
        let mut s = std_connect(addr);
        s.write_all(b"hello").unwrap();
        read_n(&mut s, 5)
    });
    run_for(&reactor, Duration::from_secs(10));
    assert_eq!(join(client), b"hello");
}
