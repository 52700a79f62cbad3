//! The echo server on a UNIX socket: the same protocol as `echo_server`,
//! listening on a socket file instead of a TCP port.
//!
//! Run: `cargo run --example unix_echo_server [PATH]` (default
//! `/tmp/gyre-echo.sock`), then talk to it with
//! `cargo run -- connect unix:path=/tmp/gyre-echo.sock` (or `nc -U`).
//! The socket file is created with mode 0o666 and removed when the server
//! stops; a path starting with `@` is a Linux abstract name (no file).
//!
//! Twisted:
//! ```python
//! reactor.listenUNIX("/tmp/gyre-echo.sock", EchoFactory())
//! ```

use gyre::{Protocol, Reactor, Transport, for_protocol};

struct Echo;

impl Protocol for Echo {
    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        transport.write(data);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or("/tmp/gyre-echo.sock".into());
    let path = match path.strip_prefix('@') {
        Some(name) => gyre::unix::abstract_name(name),
        None => path.into(),
    };
    let reactor = Reactor::new()?;
    reactor.listen_unix(&path, for_protocol(|| Echo))?;
    reactor.run()?;
    Ok(())
}
