//! The client of `netstring_server`: sends a few netstrings (an empty one
//! and one with a comma and a colon inside included), prints each answer,
//! and hangs up once every answer is in.
//!
//! Run `cargo run --example netstring_server` first, then
//! `cargo run --example netstring_client [HOST [PORT]]` (default localhost 9010).

use gyre::endpoint::{TcpClientEndpoint, connect_protocol};
use gyre::protocols::{NetstringProtocol, StringConnection, StringReceiver};
use gyre::{Reactor, Reason};

const MESSAGES: [&[u8]; 4] = [b"hello", b"", b"netstrings: 3:a,b, inside", b"bye"];

struct Client {
    answers: usize,
    reactor: Reactor,
}

impl StringReceiver for Client {
    fn connection_made(&mut self, conn: &StringConnection<'_>) {
        for m in MESSAGES {
            if let Err(e) = conn.send_string(m) {
                eprintln!("{e}");
            }
        }
    }

    fn string_received(&mut self, conn: &StringConnection<'_>, s: &[u8]) {
        println!("answer: {:?}", String::from_utf8_lossy(s));
        self.answers += 1;
        if self.answers == MESSAGES.len() {
            conn.transport().lose_connection();
        }
    }

    fn connection_lost(&mut self, reason: Reason) {
        println!("connection closed: {reason}");
        let _ = self.reactor.stop();
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "localhost".into());
    let port = args.next().map_or(Ok(9010), |p| p.parse())?;
    let reactor = Reactor::new()?;
    let endpoint = TcpClientEndpoint::new(&reactor, &host, port);
    let client = Client {
        answers: 0,
        reactor: reactor.clone(),
    };
    let r = reactor.clone();
    connect_protocol(&endpoint, NetstringProtocol::new(client))
        .add_errback(move |failure| {
            eprintln!("Connection failed: {failure}");
            let _ = r.stop();
            Err(failure)
        })
        .consume(|_| ());
    reactor.run()?;
    Ok(())
}
