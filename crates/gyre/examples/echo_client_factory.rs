//! Seed 004's `EchoClientFactory`: a `ClientFactory` that prints each state
//! of the connection (Started to connect, Connected, Lost, Failed) with the
//! reason. The `Echo` protocol prints what it receives; to have something to
//! print, it sends one line and hangs up once the echo is back, and the
//! reactor stops when the connection is lost or fails.
//!
//! Run `cargo run --example echo_server` first, then
//! `cargo run --example echo_client_factory [HOST [PORT]]` (default localhost 9000).

use std::io::Write;

use gyre::{
    Address, ClientFactory, ConnectError, Connector, Factory, Protocol, Reactor, Reason, Transport,
};

struct Echo;

impl Protocol for Echo {
    fn connection_made(&mut self, transport: &Transport) {
        transport.write(b"hello, echo\n");
    }

    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        let mut out = std::io::stdout();
        let _ = out.write_all(data);
        let _ = out.flush();
        transport.lose_connection();
    }
}

struct EchoClientFactory {
    reactor: Reactor,
}

impl Factory for EchoClientFactory {
    type Protocol = Echo;

    fn build_protocol(&self, _addr: &Address) -> Option<Echo> {
        println!("Connected.");
        Some(Echo)
    }
}

impl ClientFactory for EchoClientFactory {
    fn started_connecting(&self, _connector: &Connector) {
        println!("Started to connect.");
    }

    fn client_connection_lost(&self, _connector: &Connector, reason: &Reason) {
        println!("Lost connection.  Reason: {reason}");
        let _ = self.reactor.stop();
    }

    fn client_connection_failed(&self, _connector: &Connector, reason: &ConnectError) {
        println!("Connection failed. Reason: {reason}");
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
        EchoClientFactory {
            reactor: reactor.clone(),
        },
    );
    reactor.run()?;
    Ok(())
}
