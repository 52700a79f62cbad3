//! Multicast ping: a server joins group 228.0.0.5 on port 9999 and answers
//! every `Client: Ping` with `Server: Pong`, sent to the whole group; the
//! client sends one ping to the group and prints every pong it hears.
//! `SO_REUSEADDR`/`SO_REUSEPORT` (`listen_multiple`) let both, and any
//! number of servers, share the port on one machine.
//!
//! Run: `cargo run --example multicast_ping server` in one terminal and
//! `cargo run --example multicast_ping client` in another (the client stops
//! after two seconds).
//!
//! Twisted:
//! ```python
//! class MulticastPingPong(DatagramProtocol):
//!     def startProtocol(self):
//!         self.transport.setTTL(5)
//!         self.transport.joinGroup("228.0.0.5")
//!     def datagramReceived(self, datagram, address):
//!         if datagram == b"Client: Ping":
//!             self.transport.write(b"Server: Pong", address)
//!
//! reactor.listenMulticast(9999, MulticastPingPong(), listenMultiple=True)
//! ```

use std::net::Ipv4Addr;
use std::time::Duration;

use gyre::Reactor;
use gyre::udp::{DatagramProtocol, DatagramTransport, UdpListenOptions};

const GROUP: Ipv4Addr = Ipv4Addr::new(228, 0, 0, 5);
const PORT: u16 = 9999;

struct PingPong {
    client: bool,
}

impl DatagramProtocol for PingPong {
    fn start_protocol(&mut self, t: &DatagramTransport) {
        let joined = t
            .set_ttl(5)
            .and_then(|()| t.join_group(GROUP, Ipv4Addr::UNSPECIFIED));
        if let Err(e) = joined {
            println!("cannot join {GROUP}: {e}");
        }
        if self.client {
            let _ = t.write_to(b"Client: Ping", (GROUP, PORT));
        }
    }

    fn datagram_received(&mut self, t: &DatagramTransport, data: &[u8], from: &gyre::Address) {
        println!("{from}: {}", String::from_utf8_lossy(data));
        if !self.client && data == b"Client: Ping" {
            let _ = t.write_to(b"Server: Pong", (GROUP, PORT));
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = std::env::args().nth(1).as_deref() == Some("client");
    let reactor = Reactor::new()?;
    let options = UdpListenOptions {
        listen_multiple: true,
        ..Default::default()
    };
    reactor.listen_multicast(PORT, PingPong { client }, options)?;
    if client {
        let r = reactor.clone();
        reactor.call_later(Duration::from_secs(2), move || {
            let _ = r.stop();
        });
    }
    reactor.run()?;
    Ok(())
}
