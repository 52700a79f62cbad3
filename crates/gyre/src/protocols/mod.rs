//! Framing protocols: turn a byte stream into lines or strings, and back.
//!
//! TCP delivers bytes in whatever chunks the network chose; a message can
//! arrive split in two, or several at once. A framer buffers what arrives and
//! hands your code whole messages. You write a small handler — a struct and
//! the one method that receives a message — and wrap it in the framer's
//! protocol, which is what the reactor runs:
//!
//! * line handlers, for text protocols: a [`LineReceiver`] run by
//!   [`LineProtocol`] (Twisted's `LineReceiver`: lines, raw mode, pausing),
//!   or a [`LineOnlyReceiver`] run by [`LineOnlyProtocol`]
//!   (`LineOnlyReceiver`: lines only). The framing
//!   algorithm itself is [`LineBuffer`], a sans-I/O state machine you can
//!   drive without a connection;
//! * `StringReceiver` handlers, for length-prefixed binary messages
//!   (`Int8`/`Int16`/`Int32StringProtocol`) and netstrings, in [`strings`];
//! * [`policies`]: wrappers that add idle timeouts and connection limits to
//!   any protocol.
//!
//! A line server that answers each line in upper case is one struct and one
//! method; this one runs on loopback with a client that asks once and stops:
//!
//! ```
//! use gyre::protocols::{LineConnection, LineProtocol, LineReceiver};
//! use gyre::{for_protocol, Reactor, TcpListenOptions};
//! # use std::{cell::RefCell, rc::Rc, time::Duration};
//!
//! struct Upper;
//!
//! impl LineReceiver for Upper {
//!     fn line_received(&mut self, conn: &LineConnection<'_>, line: &[u8]) {
//!         conn.send_line(&line.to_ascii_uppercase())
//!     }
//! }
//!
//! // The client: says hello, keeps the answer, stops the reactor.
//! struct Ask {
//!     reactor: Reactor,
//!     answer: Rc<RefCell<Vec<u8>>>,
//! }
//!
//! impl LineReceiver for Ask {
//!     fn connection_made(&mut self, conn: &LineConnection<'_>) {
//!         conn.send_line(b"hello");
//!     }
//!     fn line_received(&mut self, _conn: &LineConnection<'_>, line: &[u8]) {
//!         *self.answer.borrow_mut() = line.to_vec();
//!         self.reactor.stop().unwrap();
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let reactor = Reactor::new()?;
//! # let options = TcpListenOptions { interface: "127.0.0.1".into(), ..Default::default() };
//! let port = reactor.listen_tcp_with(0, for_protocol(|| LineProtocol::new(Upper)), options)?;
//! let answer = Rc::new(RefCell::new(Vec::new()));
//! let (r, a) = (reactor.clone(), answer.clone());
//! reactor.connect_tcp(
//!     "127.0.0.1",
//!     port.address().port(),
//!     for_protocol(move || LineProtocol::new(Ask { reactor: r.clone(), answer: a.clone() })),
//! );
//! # let r = reactor.clone();
//! # let guard = reactor.call_later(Duration::from_secs(10), move || r.stop().unwrap());
//! reactor.run_without_signals()?;
//! # let _ = guard.cancel();
//! assert_eq!(*answer.borrow(), b"HELLO");
//! # Ok(())
//! # }
//! ```
//!
//! In a server, `reactor.listen_tcp(8000, for_protocol(|| LineProtocol::new(Upper)))?`
//! is all the setup there is.
//!
//! Where things are: `lines.rs` ([`LineReceiver`], [`LineConnection`],
//! [`LineProtocol`]), `lines/buffer.rs` ([`LineBuffer`]),
//! `lines/line_only.rs` ([`LineOnlyProtocol`]), `strings.rs` and
//! `strings/` ([`StringReceiver`] and the Int8/16/32 and netstring framers,
//! with their sans-I/O decoders: the file list is in [`strings`]),
//! `policies.rs` and `policies/` (`idle.rs`: [`IdleTimeout`],
//! [`TimeoutFactory`]; `limits.rs`: [`LimitConnections`]). What the line
//! and string framers share is written once, below both, in `flow.rs`
//! (crate-private): the paused flag with what pausing, resuming and
//! stopping do to the transport, and the check that ends a spent turn.
//! `lines/`, `strings/` and `policies/` name one another nowhere
//! (`scripts/check-layers`). Each framer is tested with every input at
//! every chunk size down to one byte, by property tests, and by the fuzz
//! targets in `fuzz/` at the repository root; the tests sit in
//! `lines/tests/` and `strings/tests/`.

mod flow;
pub mod lines;
pub mod policies;
pub mod strings;

pub use lines::{
    LineBuffer, LineConnection, LineEvent, LineOnlyConnection, LineOnlyProtocol, LineOnlyReceiver,
    LineProtocol, LineReceiver,
};
pub use policies::{IdleTimeout, IdleTimer, LimitConnections, TimeoutFactory};
pub use strings::{
    DecodeError, Decoded, Int8StringProtocol, Int16StringProtocol, Int32StringProtocol,
    NetstringDecoder, NetstringProtocol, PrefixWidth, PrefixedDecoder, StringConnection,
    StringProducer, StringReceiver, StringSender, StringTooLongError, encode_netstring,
};
