//! A netstring server: answers every netstring with the same bytes upper-cased,
//! framed as a netstring (`5:hello,` → `5:HELLO,`). A malformed netstring
//! closes the connection, as Twisted's `NetstringReceiver` does.
//!
//! Run: `cargo run --example netstring_server [PORT]` (default 9010), then
//! `cargo run --example netstring_client`.

use gyre::protocols::{NetstringProtocol, StringConnection, StringReceiver};
use gyre::{Reactor, for_protocol};

struct Shout;

impl StringReceiver for Shout {
    fn string_received(&mut self, conn: &StringConnection<'_>, s: &[u8]) {
        // A reply is as long as the request, so it always fits.
        let _ = conn.send_string(&s.to_ascii_uppercase());
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = std::env::args().nth(1).map_or(Ok(9010), |p| p.parse())?;
    let reactor = Reactor::new()?;
    reactor.listen_tcp(port, for_protocol(|| NetstringProtocol::new(Shout)))?;
    reactor.run()?;
    Ok(())
}
