//! Chapter 5: a line protocol.
//!
//! TCP delivers a stream of bytes, cut wherever the network cut it: one
//! `data_received` may hold half a message or three. Most text protocols
//! (SMTP, IRC, Redis's inline commands, a chat) are lines, and
//! [`LineProtocol`](crate::protocols::LineProtocol) does the framing:
//! you write a [`LineReceiver`](crate::protocols::LineReceiver), whose
//! `line_received` gets one whole line at a time without its delimiter.
//!
//! A server that answers each line with the line in capitals, against a
//! client that sends its lines cut in awkward places:
//!
//! ```
//! use std::io::{BufRead, BufReader, Write};
//!
//! use gyre::protocols::{LineConnection, LineProtocol, LineReceiver};
//! use gyre::{for_protocol, Reactor, TcpListenOptions};
//!
//! struct Shout;
//!
//! impl LineReceiver for Shout {
//!     fn connection_made(&mut self, conn: &LineConnection<'_>) {
//!         conn.send_line(b"ready");
//!     }
//!
//!     fn line_received(&mut self, conn: &LineConnection<'_>, line: &[u8]) {
//!         if line == b"bye" {
//!             conn.transport().lose_connection();
//!         } else {
//!             conn.send_line(&line.to_ascii_uppercase());
//!         }
//!     }
//! }
//!
//! let reactor = Reactor::new()?;
//! # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
//! # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
//! let loopback = TcpListenOptions::interface("127.0.0.1");
//! let port = reactor.listen_tcp_with(0, for_protocol(|| LineProtocol::new(Shout)), loopback)?;
//! let address = port.address();
//!
//! let handle = reactor.thread_handle();
//! let client = std::thread::spawn(move || {
//!     let mut stream = std::net::TcpStream::connect(address).unwrap();
//!     stream.set_nodelay(true).unwrap();
//!     // Three lines in four writes, cut inside a line and inside a CRLF.
//!     for piece in [&b"hel"[..], b"lo\r", b"\nwor", b"ld\r\nbye\r\n"] {
//!         stream.write_all(piece).unwrap();
//!     }
//!     let lines: Vec<String> = BufReader::new(stream).lines().map(Result::unwrap).collect();
//!     handle.call_from_thread(|reactor| reactor.stop().unwrap());
//!     lines
//! });
//!
//! reactor.run()?;
//! // `lines()` ends at the close and drops each line's CRLF.
//! assert_eq!(client.join().unwrap(), ["ready", "HELLO", "WORLD"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What the framer does for you, as Twisted's `LineReceiver` does:
//!
//! * the delimiter is CRLF unless [`delimiter`](crate::protocols::LineReceiver::delimiter)
//!   says otherwise (a chat that accepts `nc` sessions uses `b"\n"` and
//!   strips a trailing `\r`, as `examples/chat_server.rs` does);
//! * a line longer than [`max_length`](crate::protocols::LineReceiver::max_length)
//!   (16384 bytes by default) goes to `line_length_exceeded`, which closes
//!   the connection unless you override it: a peer cannot make the buffer
//!   grow without bound;
//! * [`set_raw_mode`](crate::protocols::LineConnection::set_raw_mode)
//!   switches to raw bytes for a body whose length a line announced, and
//!   `set_line_mode` switches back; [`LineOnlyProtocol`](crate::protocols::LineOnlyProtocol)
//!   is the lighter framer for protocols that never need that;
//! * one read full of short lines does not hold the reactor: past the
//!   turn's budget the framer keeps the rest for the next turn, so the
//!   other connections get their turn.
//!
//! Length-prefixed messages (netstrings, 32-bit prefixes) have the same
//! shape in [`protocols`](crate::protocols): a `StringReceiver` handler
//! run by a framer (`examples/netstring_server.rs`).
//!
//! Next: [chapter 6, Deferreds and async](super::deferreds).
