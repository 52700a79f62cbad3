//! A line-based key/value store speaking `LineReceiver`: `key=value` stores
//! a value and answers `OK`; a bare `key` answers its value, or
//! `NOT FOUND`. The store is shared by every connection and lives as long
//! as the server.
//!
//! Run: `cargo run --example kv_store [PORT]` (default 8124), then
//! `printf 'colour=blue\r\ncolour\r\n' | nc localhost 8124`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use gyre::protocols::{LineConnection, LineProtocol, LineReceiver};
use gyre::{Reactor, for_protocol};

type Store = Rc<RefCell<HashMap<Vec<u8>, Vec<u8>>>>;

struct KeyValue {
    store: Store,
}

impl LineReceiver for KeyValue {
    fn line_received(&mut self, conn: &LineConnection<'_>, line: &[u8]) {
        match line.iter().position(|&b| b == b'=') {
            Some(eq) => {
                let (key, value) = (&line[..eq], &line[eq + 1..]);
                self.store.borrow_mut().insert(key.to_vec(), value.to_vec());
                conn.send_line(b"OK");
            }
            None => match self.store.borrow().get(line) {
                Some(value) => conn.send_line(value),
                None => conn.send_line(b"NOT FOUND"),
            },
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = std::env::args().nth(1).map_or(Ok(8124), |p| p.parse())?;
    let reactor = Reactor::new()?;
    let store: Store = Rc::default();
    reactor.listen_tcp(
        port,
        for_protocol(move || {
            LineProtocol::new(KeyValue {
                store: store.clone(),
            })
        }),
    )?;
    reactor.run()?;
    Ok(())
}
