//! Seed 004's `WelcomeMessage` client: greets the server and hangs up.
//!
//! Run: `cargo run --example echo_server`, then
//! `cargo run --example welcome_client [HOST [PORT]]` (default 127.0.0.1 9000).
//!
//! Twisted:
//! ```python
//! class WelcomeMessage(Protocol):
//!     def connectionMade(self):
//!         self.transport.write("Hello server, I am the client!\r\n")
//!         self.transport.loseConnection()
//! ```
//! `lose_connection` sends everything written before it, then closes.

use gyre::{ClientFactory, Connector, Protocol, Reactor, Reason, Transport, for_protocol};

struct WelcomeMessage;

impl Protocol for WelcomeMessage {
    fn connection_made(&mut self, transport: &Transport) {
        transport.write(b"Hello server, I am the client!\r\n");
        transport.lose_connection();
    }
}

/// Stops the reactor once the one connection is over, however it ended.
struct StopWhenDone<F> {
    inner: F,
    reactor: Reactor,
}

impl<F: gyre::Factory> gyre::Factory for StopWhenDone<F> {
    type Protocol = F::Protocol;
    fn build_protocol(&self, addr: &gyre::Address) -> Option<F::Protocol> {
        self.inner.build_protocol(addr)
    }
}

impl<F: gyre::Factory> ClientFactory for StopWhenDone<F> {
    fn client_connection_failed(&self, _: &Connector, reason: &gyre::ConnectError) {
        eprintln!("connection failed: {reason}");
        let _ = self.reactor.stop();
    }
    fn client_connection_lost(&self, _: &Connector, reason: &Reason) {
        println!("done: {reason}");
        let _ = self.reactor.stop();
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "127.0.0.1".into());
    let port = args.next().map_or(Ok(9000), |p| p.parse())?;
    let reactor = Reactor::new()?;
    let factory = StopWhenDone {
        inner: for_protocol(|| WelcomeMessage),
        reactor: reactor.clone(),
    };
    reactor.connect_tcp(&host, port, factory);
    reactor.run()?;
    Ok(())
}
