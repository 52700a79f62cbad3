//! Quick end-to-end check used while building the reactor.
use gyre::{Protocol, Reactor, Transport, for_protocol};
use std::io::{Read, Write};
use std::time::Duration;

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
        .listen_tcp_with(
            0,
            for_protocol(|| Echo),
            gyre::TcpListenOptions {
                interface: "127.0.0.1".into(),
                ..Default::default()
            },
        )
        .unwrap();
    let addr = port.address();
    let handle = reactor.thread_handle();
    let client = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"hello").unwrap();
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).unwrap();
        handle.stop();
        buf
    });
    reactor.call_later(Duration::from_secs(10), || panic!("timeout"));
    reactor.run_without_signals().unwrap();
    assert_eq!(&client.join().unwrap(), b"hello");
}
