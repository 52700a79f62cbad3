//! The chat server of Twisted's tutorials: a new user is asked for a name,
//! a taken name is refused, and every line a user then sends goes to all
//! the others as `<name> message`.
//!
//! Run: `cargo run --example chat_server [PORT]` (default 8123), then connect
//! with two or more `telnet localhost 8123` or `nc localhost 8123` sessions.
//! Lines may end with CRLF (telnet) or LF (nc): the delimiter is `\n` and a
//! trailing `\r` is dropped.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use gyre::protocols::{LineConnection, LineProtocol, LineReceiver};
use gyre::{Reactor, Reason, Transport, for_protocol};

/// Every registered user's name and connection, shared by all connections.
type Users = Rc<RefCell<HashMap<String, Transport>>>;

struct Chat {
    users: Users,
    name: Option<String>,
}

impl Chat {
    fn handle_get_name(&mut self, conn: &LineConnection<'_>, name: &str) {
        if self.users.borrow().contains_key(name) {
            conn.send_line(b"Name taken, please choose another.");
            return;
        }
        conn.send_line(format!("Welcome, {name}!").as_bytes());
        self.users
            .borrow_mut()
            .insert(name.to_string(), conn.transport().clone());
        self.name = Some(name.to_string());
    }

    fn handle_chat(&self, name: &str, message: &str) {
        let line = format!("<{name}> {message}\r\n");
        for (other, transport) in self.users.borrow().iter() {
            if other != name {
                transport.write(line.as_bytes());
            }
        }
    }
}

impl LineReceiver for Chat {
    fn connection_made(&mut self, conn: &LineConnection<'_>) {
        conn.send_line(b"What's your name?");
    }

    fn connection_lost(&mut self, _reason: Reason) {
        if let Some(name) = self.name.take() {
            self.users.borrow_mut().remove(&name);
        }
    }

    fn line_received(&mut self, conn: &LineConnection<'_>, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        match self.name.clone() {
            None => self.handle_get_name(conn, text),
            Some(name) => self.handle_chat(&name, text),
        }
    }

    fn delimiter(&self) -> &[u8] {
        b"\n"
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = std::env::args().nth(1).map_or(Ok(8123), |p| p.parse())?;
    let reactor = Reactor::new()?;
    let users: Users = Rc::default();
    reactor.listen_tcp(
        port,
        for_protocol(move || {
            LineProtocol::new(Chat {
                users: users.clone(),
                name: None,
            })
        }),
    )?;
    reactor.run()?;
    Ok(())
}
