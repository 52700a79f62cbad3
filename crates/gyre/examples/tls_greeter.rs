//! The seeds' `Greeter` over TLS (seed 000: "to run the Greeter over SSL,
//! replace `TCP4ClientEndpoint` with `SSL4ClientEndpoint`"): `greeter.rs`
//! with one changed line, the endpoint, here the `tls:` description. The
//! server's certificate is checked for HOST, against the system's roots
//! or, given CA.pem, against that CA (Twisted's `trustRoots`).
//!
//! Run a TLS server first (`cargo run --example tls_echo_server --features
//! tls -- 1234 key.pem cert.pem`), then `cargo run --example tls_greeter
//! --features tls -- [HOST [PORT [CA.pem]]]` (default localhost 1234).

use std::time::Duration;

use gyre::endpoint::parse::quote_string_argument;
use gyre::endpoint::{Connected, client_from_string, connect_protocol};
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
    let port: u16 = args.next().map_or(Ok(1234), |p| p.parse())?;
    let roots = args
        .next()
        .map(|ca| format!(":trustRoots={}", quote_string_argument(&ca)))
        .unwrap_or_default();
    let reactor = Reactor::new()?;

    let description = format!(
        "tls:host={}:port={port}{roots}",
        quote_string_argument(&host)
    );
    let point = client_from_string(&reactor, &description)?;
    let greeter = Greeter {
        transport: None,
        reactor: reactor.clone(),
    };
    let (r, r2) = (reactor.clone(), reactor.clone());
    connect_protocol(&*point, greeter)
        .add_callback(move |p| got_protocol(&r, p))
        .add_errback(move |failure| {
            eprintln!("Connection failed: {failure}");
            let _ = r2.stop();
            Ok(())
        });
    reactor.run()?;
    Ok(())
}
