//! Seed 002's echo server: every byte received is written back.
//!
//! Run: `cargo run --example echo_server [PORT]` (default 9000, as in the seed),
//! then `cargo run --example echo_client`.
//!
//! Twisted:
//! ```python
//! class Echo(protocol.Protocol):
//!     def dataReceived(self, data):
//!         self.transport.write(data)
//! ```

use gyre::{Protocol, Reactor, Transport, for_protocol};

struct Echo;

impl Protocol for Echo {
    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        transport.write(data);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = std::env::args().nth(1).map_or(Ok(9000), |p| p.parse())?;
    let reactor = Reactor::new()?;
    reactor.listen_tcp(port, for_protocol(|| Echo))?;
    reactor.run()?;
    Ok(())
}
