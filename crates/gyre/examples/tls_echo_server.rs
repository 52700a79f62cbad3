//! An echo server over TLS: seed 002's echo server with one changed line,
//! the endpoint (`ssl:PORT:privateKey=KEY:certKey=CERT`, Twisted's
//! description).
//!
//! Run: `cargo run --example tls_echo_server --features tls -- PORT KEY.pem CERT.pem`,
//! then `gyre connect tls:host=localhost:port=PORT:trustRoots=CA.pem` or
//! `openssl s_client -connect localhost:PORT`.
//!
//! Twisted:
//! ```python
//! endpoint = serverFromString(reactor, "ssl:8443:privateKey=key.pem:certKey=cert.pem")
//! endpoint.listen(Factory.forProtocol(Echo))
//! ```

use gyre::endpoint::parse::quote_string_argument;
use gyre::endpoint::{ServerEndpointExt, server_from_string};
use gyre::{Protocol, Reactor, Transport, for_protocol};

struct Echo;

impl Protocol for Echo {
    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        transport.write(data);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let port = args.next().map_or(Ok(8443), |p| p.parse::<u16>())?;
    let key = args.next().unwrap_or_else(|| "key.pem".into());
    let cert = args.next().unwrap_or_else(|| key.clone());
    let reactor = Reactor::new()?;
    let description = format!(
        "ssl:{port}:privateKey={}:certKey={}",
        quote_string_argument(&key),
        quote_string_argument(&cert)
    );
    let endpoint = server_from_string(&reactor, &description)?;
    endpoint
        .listen(for_protocol(|| Echo))
        .add_errback(|failure| {
            eprintln!("Cannot listen: {failure}");
            std::process::exit(1)
        });
    reactor.run()?;
    Ok(())
}
