//! Seed 004's `ClientCreator` form of the greeter: the older API that
//! builds the protocol from a closure and returns a Deferred. The endpoint
//! form (`greeter.rs`) is preferred in new code.
//!
//! Run a server first (`cargo run --example echo_server -- 1234`), then
//! `cargo run --example client_creator [HOST [PORT]]` (default localhost 1234).

use std::time::Duration;

use gyre::client::ClientCreator;
use gyre::{Protocol, Reactor, Reason, Transport};

struct Greeter {
    reactor: Reactor,
}

impl Protocol for Greeter {
    fn data_received(&mut self, _transport: &Transport, data: &[u8]) {
        print!("{}", String::from_utf8_lossy(data));
    }

    fn connection_lost(&mut self, _reason: Reason) {
        let _ = self.reactor.stop();
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "localhost".into());
    let port = args.next().map_or(Ok(1234), |p| p.parse())?;
    let reactor = Reactor::new()?;

    let r = reactor.clone();
    let creator = ClientCreator::new(&reactor, move || Greeter { reactor: r.clone() });
    let (r, r2) = (reactor.clone(), reactor.clone());
    creator
        .connect_tcp(&host, port)
        .add_callback(move |p| {
            p.transport().write(b"MESSAGE Hello\n");
            let t = p.transport().clone();
            r.call_later(Duration::from_secs(1), move || t.lose_connection());
        })
        .add_errback(move |failure| {
            eprintln!("Connection failed: {failure}");
            let _ = r2.stop();
            Ok(())
        });
    reactor.run()?;
    Ok(())
}
