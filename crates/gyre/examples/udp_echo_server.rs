//! A UDP echo server: every datagram goes back to its sender (the
//! `DatagramProtocol` counterpart of `echo_server`).
//!
//! Run: `cargo run --example udp_echo_server [PORT]` (default 9999), then
//! `cargo run --example udp_echo_client`.
//!
//! Twisted:
//! ```python
//! class Echo(DatagramProtocol):
//!     def datagramReceived(self, data, addr):
//!         self.transport.write(data, addr)
//!
//! reactor.listenUDP(9999, Echo())
//! ```

use gyre::Reactor;
use gyre::udp::{DatagramProtocol, DatagramTransport};

struct Echo;

impl DatagramProtocol for Echo {
    fn datagram_received(
        &mut self,
        transport: &DatagramTransport,
        data: &[u8],
        from: &gyre::Address,
    ) {
        println!(
            "received {:?} from {}:{}",
            String::from_utf8_lossy(data),
            from.host(),
            from.port()
        );
        // A full socket buffer drops the reply, as UDP may.
        let _ = transport.write_to(data, from);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = std::env::args().nth(1).map_or(Ok(9999), |p| p.parse())?;
    let reactor = Reactor::new()?;
    reactor.listen_udp(port, Echo)?;
    reactor.run()?;
    Ok(())
}
