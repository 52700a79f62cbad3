//! Seed 004's `ClientCreator` form of the greeter: the older API that
//! builds the protocol from a closure and returns a Deferred. The endpoint
//! form (`greeter.rs`) is preferred in new code.
//!
//! Run a server first (`cargo run --example echo_server -- 1234`), then
//! `cargo run --example client_creator [HOST [PORT]]` (default localhost 1234).

use std::time::Duration;

use gyre::client::ClientCreator;
use gyre::endpoint::Connected;
use gyre::{Protocol, Reactor, Reason, Transport};

struct Greeter {
    transport: Option<Transport>,
    reactor: Reactor,
}

impl Greeter {
    fn send_message(&self, msg: &str) {
        if let Some(t) = &self.transport {
            t.write(format!("MESSAGE {msg}\n").as_bytes());
        }
    }
}

impl Protocol for Greeter {
    fn connection_made(&mut self, transport: &Transport) {
        self.transport = Some(transport.clone());
    }

    fn data_received(&mut self, _transport: &Transport, data: &[u8]) {
        print!("{}", String::from_utf8_lossy(data));
    }

    fn connection_lost(&mut self, _reason: Reason) {
        let _ = self.reactor.stop();
    }
}

/// The same `got_protocol` as `greeter.rs`.
fn got_protocol(reactor: &Reactor, p: Connected<Greeter>) {
    p.with_protocol(|p| p.send_message("Hello"));
    let later = p.clone();
    reactor.call_later(Duration::from_secs(1), move || {
        later.with_protocol(|p| p.send_message("This is sent in a second"))
    });
    let transport = p.transport().clone();
    reactor.call_later(Duration::from_secs(2), move || transport.lose_connection());
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "localhost".into());
    let port = args.next().map_or(Ok(1234), |p| p.parse())?;
    let reactor = Reactor::new()?;

    let r = reactor.clone();
    let creator = ClientCreator::new(&reactor, move || Greeter {
        transport: None,
        reactor: r.clone(),
    });
    let (r, r2) = (reactor.clone(), reactor.clone());
    creator
        .connect_tcp(&host, port)
        .add_callback(move |p| got_protocol(&r, p))
        .add_errback(move |failure| {
            eprintln!("Connection failed: {failure}");
            let _ = r2.stop();
            Ok(())
        });
    reactor.run()?;
    Ok(())
}
