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
//! The seed shows only the protocol; here it is connected with an endpoint
//! and `connect_protocol`, as seed 004's greeter is, and the reactor stops
//! when the connection is over (or could not be made).

use gyre::endpoint::{TcpClientEndpoint, connect_protocol};
use gyre::{Protocol, Reactor, Reason, Transport};

struct WelcomeMessage {
    reactor: Reactor,
}

impl Protocol for WelcomeMessage {
    fn connection_made(&mut self, transport: &Transport) {
        transport.write(b"Hello server, I am the client!\r\n");
        transport.lose_connection();
    }

    fn connection_lost(&mut self, reason: Reason) {
        println!("done: {reason}");
        let _ = self.reactor.stop();
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "127.0.0.1".into());
    let port = args.next().map_or(Ok(9000), |p| p.parse())?;
    let reactor = Reactor::new()?;

    let point = TcpClientEndpoint::new(&reactor, &host, port);
    let r = reactor.clone();
    connect_protocol(
        &point,
        WelcomeMessage {
            reactor: reactor.clone(),
        },
    )
    .consume(move |result| {
        if let Err(failure) = result {
            eprintln!("connection failed: {failure}");
            let _ = r.stop();
        }
    });
    reactor.run()?;
    Ok(())
}
