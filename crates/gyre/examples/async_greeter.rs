//! The `Greeter` of `greeter.rs` written as an `async fn`: the same
//! messages at 0 s and 1 s and the hang-up at 2 s, with `.await` on the
//! connect and on the reactor's `sleep` instead of callbacks. The future
//! runs on the reactor's own thread (`Reactor::spawn_fallible`); no tokio.
//!
//! Run a server first (`cargo run --example echo_server -- 1234`), then
//! `cargo run --example async_greeter [HOST [PORT]]` (default localhost 1234).

use std::time::Duration;

use gyre::deferred::Failure;
use gyre::endpoint::{TcpClientEndpoint, connect_protocol};
use gyre::{Protocol, Reactor, Transport};

#[derive(Default)]
struct Greeter {
    transport: Option<Transport>,
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
}

async fn greet(reactor: Reactor, host: String, port: u16) -> Result<(), Failure> {
    let point = TcpClientEndpoint::new(&reactor, &host, port);
    let p = connect_protocol(&point, Greeter::default()).await?;
    p.with_protocol(|p| p.send_message("Hello"));
    reactor.sleep(Duration::from_secs(1)).await?;
    p.with_protocol(|p| p.send_message("This is sent in a second"));
    reactor.sleep(Duration::from_secs(1)).await?;
    p.transport().lose_connection();
    // Give the close a moment to reach the peer, then end the program.
    reactor.sleep(Duration::from_millis(100)).await?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "localhost".into());
    let port = args.next().map_or(Ok(1234), |p| p.parse())?;
    let reactor = Reactor::new()?;
    let r = reactor.clone();
    reactor
        .spawn_fallible(greet(reactor.clone(), host, port))
        .consume(move |result| {
            if let Err(failure) = result {
                eprintln!("Connection failed: {failure}");
            }
            let _ = r.stop();
        });
    reactor.run()?;
    Ok(())
}
