//! A connected UDP client: fixes its peer with `connect`, sends a
//! datagram when it starts, prints the answer and stops; a refusal (nobody
//! on the port: an ICMP port unreachable) is reported by
//! `connection_refused`.
//!
//! Run: `cargo run --example udp_echo_server`, then
//! `cargo run --example udp_echo_client [PORT]` (default 9999).
//!
//! Twisted:
//! ```python
//! class Helloer(DatagramProtocol):
//!     def startProtocol(self):
//!         self.transport.connect("127.0.0.1", 9999)
//!         self.transport.write(b"hello")
//!     def datagramReceived(self, data, addr):
//!         print(f"received {data!r} from {addr}")
//!     def connectionRefused(self):
//!         print("No one listening")
//!
//! reactor.listenUDP(0, Helloer())
//! ```

use gyre::Reactor;
use gyre::udp::{DatagramProtocol, DatagramTransport};

struct Helloer {
    server: u16,
    reactor: Reactor,
}

impl DatagramProtocol for Helloer {
    fn start_protocol(&mut self, transport: &DatagramTransport) {
        let sent = transport
            .connect(("127.0.0.1", self.server))
            .and_then(|()| transport.write(b"hello"));
        if let Err(e) = sent {
            println!("cannot send: {e}");
            let _ = self.reactor.stop();
        }
    }

    fn datagram_received(&mut self, _: &DatagramTransport, data: &[u8], from: &gyre::Address) {
        println!(
            "received {:?} from {}:{}",
            String::from_utf8_lossy(data),
            from.host(),
            from.port()
        );
        let _ = self.reactor.stop();
    }

    fn connection_refused(&mut self, _: &DatagramTransport) {
        println!("No one listening");
        let _ = self.reactor.stop();
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = std::env::args().nth(1).map_or(Ok(9999), |p| p.parse())?;
    let reactor = Reactor::new()?;
    let options = gyre::udp::UdpListenOptions {
        interface: "127.0.0.1".into(),
        ..Default::default()
    };
    let helloer = Helloer {
        server,
        reactor: reactor.clone(),
    };
    reactor.listen_udp_with(0, helloer, options)?;
    reactor.run()?;
    Ok(())
}
