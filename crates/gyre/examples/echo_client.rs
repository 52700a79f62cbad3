//! Seed 002's echo client: sends "hello world", prints the answer, hangs up,
//! and stops the reactor when the connection ends or fails.
//!
//! Run: `cargo run --example echo_server` in one terminal, then
//! `cargo run --example echo_client [HOST [PORT]]` (default localhost 9000).

use gyre::{ClientFactory, ConnectError, Connector, Factory, Protocol, Reactor, Reason, Transport};

struct EchoClient;

impl Protocol for EchoClient {
    fn connection_made(&mut self, transport: &Transport) {
        println!("client send data to server");
        transport.write(b"hello world");
    }

    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        println!("Server said {}", String::from_utf8_lossy(data));
        transport.lose_connection();
    }

    fn connection_lost(&mut self, _reason: Reason) {
        println!("Connection lost");
    }
}

/// The seed's `EchoFactory(protocol.ClientFactory)`; holds the reactor so it
/// can stop it, where the Python code used the global reactor.
struct EchoFactory {
    reactor: Reactor,
}

impl Factory for EchoFactory {
    type Protocol = EchoClient;

    fn build_protocol(&self, _addr: &gyre::Address) -> Option<EchoClient> {
        Some(EchoClient)
    }
}

impl ClientFactory for EchoFactory {
    fn client_connection_failed(&self, _connector: &Connector, reason: &ConnectError) {
        println!("Connection failed - goodbye ({reason})");
        let _ = self.reactor.stop();
    }

    fn client_connection_lost(&self, _connector: &Connector, _reason: &Reason) {
        println!("Connection lost - goodbye");
        let _ = self.reactor.stop();
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "localhost".into());
    let port = args.next().map_or(Ok(9000), |p| p.parse())?;
    let reactor = Reactor::new()?;
    reactor.connect_tcp(
        &host,
        port,
        EchoFactory {
            reactor: reactor.clone(),
        },
    );
    reactor.run()?;
    Ok(())
}
