//! Seed 004's reconnecting echo client. The seed subclasses
//! `ReconnectingClientFactory`; here `EchoClientFactory` is a plain client
//! factory (it only prints), wrapped in `Reconnecting`, which after each
//! loss or failure reconnects with Twisted's exponential back-off (first
//! wait about 1 second, then e, e², … up to an hour, each with a little
//! random jitter), and resets the back-off when a connection is made (the
//! seed's `self.resetDelay()` in `buildProtocol`).
//!
//! The seed's own shape, with the policy embedded in the factory and the
//! callbacks forwarded to it by hand, is on `ReconnectingClientFactory`'s
//! page.
//!
//! To see something happen, each connection sends one line and hangs up
//! when the echo is back, so the client keeps reconnecting. Start and stop
//! `cargo run --example echo_server` while it runs to see the back-off.
//! Run: `cargo run --example reconnecting_echo_client [HOST [PORT]]`
//! (default localhost 9000); Ctrl-C to stop.

use std::io::Write;

use gyre::{
    Address, ClientFactory, ConnectError, Connector, Factory, Protocol, Reactor, Reason,
    Reconnecting, Transport,
};

struct Echo;

impl Protocol for Echo {
    fn connection_made(&mut self, transport: &Transport) {
        transport.write(b"hello again\n");
    }

    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        let mut out = std::io::stdout();
        let _ = out.write_all(data);
        let _ = out.flush();
        transport.lose_connection();
    }
}

struct EchoClientFactory;

impl Factory for EchoClientFactory {
    type Protocol = Echo;

    fn build_protocol(&self, _addr: &Address) -> Option<Echo> {
        println!("Connected.");
        // `Reconnecting` resets the delay once this returns (see `main`).
        println!("Resetting reconnection delay.");
        Some(Echo)
    }
}

impl ClientFactory for EchoClientFactory {
    fn started_connecting(&self, _connector: &Connector) {
        println!("Started to connect.");
    }

    fn client_connection_lost(&self, _connector: &Connector, reason: &Reason) {
        println!("Lost connection.  Reason: {reason}");
    }

    fn client_connection_failed(&self, _connector: &Connector, reason: &ConnectError) {
        println!("Connection failed. Reason: {reason}");
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "localhost".into());
    let port = args.next().map_or(Ok(9000), |p| p.parse())?;
    let reactor = Reactor::new()?;
    let factory = Reconnecting::new(&reactor, EchoClientFactory).with_reset_on_connect(true);
    reactor.connect_tcp(&host, port, factory);
    reactor.run()?;
    Ok(())
}
