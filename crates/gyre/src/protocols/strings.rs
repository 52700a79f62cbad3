//! Length-prefixed strings and netstrings: framers that turn a byte stream
//! into a sequence of whole strings, and back.
//!
//! Four framings, each a [`Protocol`](crate::Protocol) wrapping your
//! [`StringReceiver`] (Twisted's `IntNStringReceiver` family and
//! `NetstringReceiver`, reference §9.3 and §9.4):
//!
//! | protocol | on the wire | largest string sent |
//! |---|---|---|
//! | [`Int8StringProtocol`] | 1-byte big-endian length, then the bytes | 255 |
//! | [`Int16StringProtocol`] | 2-byte big-endian length, then the bytes | 65 535 |
//! | [`Int32StringProtocol`] | 4-byte big-endian length, then the bytes | 4 294 967 295 |
//! | [`NetstringProtocol`] | decimal length, `:`, the bytes, `,` (`5:hello,`) | any |
//!
//! On the receiving side every framing refuses strings longer than
//! [`StringReceiver::max_length`] (99 999 by default, as in Twisted), so one
//! connection buffers at most one string plus the rest of the chunk it
//! arrived in.
//!
//! A user's protocol is one struct and one method:
//!
//! ```
//! use gyre::protocols::{Int32StringProtocol, StringConnection, StringReceiver};
//! use gyre::testing::StringTransport;
//! use gyre::Protocol;
//!
//! /// Answers every string with its reverse.
//! struct Reverse;
//!
//! impl StringReceiver for Reverse {
//!     fn string_received(&mut self, conn: &StringConnection<'_>, s: &[u8]) {
//!         let reversed: Vec<u8> = s.iter().rev().copied().collect();
//!         conn.send_string(&reversed).expect("no longer than what arrived");
//!     }
//! }
//!
//! // In a server: reactor.listen_tcp(8000, for_protocol(|| Int32StringProtocol::new(Reverse)))
//! let st = StringTransport::new();
//! let mut protocol = Int32StringProtocol::new(Reverse);
//! st.make_connection(&mut protocol);
//! protocol.data_received(&st.transport(), b"\0\0\0\x03abc");
//! assert_eq!(st.value(), b"\0\0\0\x03cba");
//! ```
//!
//! The parsing and encoding underneath are sans-I/O and public, for use
//! outside a protocol: [`PrefixedDecoder`], [`NetstringDecoder`],
//! [`PrefixWidth::encode`] and [`encode_netstring`].
//!
//! Where gyre departs from Twisted, on purpose:
//! * once the transport is disconnecting (the handler, or anyone else, called
//!   `lose_connection`), no further string is delivered, in every framing
//!   (Twisted's line receiver does this; its string receivers keep going);
//! * after [`length_limit_exceeded`](StringReceiver::length_limit_exceeded)
//!   the framer stops for good and discards all later input: the stream is
//!   out of step and nothing after the bad prefix can be trusted. (Twisted
//!   keeps the data and calls the method again on every later chunk.)
//!   A netstring parse error likewise closes the connection and ignores
//!   everything after it, as in Twisted;
//! * every framing can be paused ([`StringConnection::pause_producing`], or
//!   the [`StringProducer`] handle registered with another transport);
//!   Twisted only pauses its length-prefixed receivers;
//! * [`send_string`](StringConnection::send_string) hands the header, the
//!   string and the trailer to the transport as one gathered write
//!   ([`Transport::write_sequence`](crate::Transport::write_sequence)): one
//!   call, one `writev`, and no copy of the string.
//!
//! Where things are: this file ([`StringReceiver`]); `strings/encode.rs`
//! (the sending side: [`PrefixWidth`], [`encode_netstring`],
//! [`StringTooLongError`], and how a connection frames what it sends);
//! `strings/decode.rs` (the sans-I/O decoders [`PrefixedDecoder`] and
//! [`NetstringDecoder`], [`Decoded`], [`DecodeError`]);
//! `strings/connection.rs` (the handles: [`StringConnection`],
//! [`StringSender`], [`StringProducer`]); `strings/framer.rs` (the four
//! protocols and the delivery loop behind them).
//!
//! Tests: `strings/tests/` (the harness in `mod.rs` feeds every input at
//! every chunk size; `prefixed.rs`, `netstring.rs`, `sending.rs`, `flow.rs`
//! for pausing, yielding and the producer handle, and property tests in
//! `props.rs`); `fuzz/fuzz_targets/strings.rs` fuzzes all four framings.

use crate::error::Reason;

mod connection;
mod decode;
mod encode;
mod framer;
#[cfg(test)]
mod tests;

pub use connection::{StringConnection, StringProducer, StringSender};
pub use decode::{DecodeError, Decoded, NetstringDecoder, PrefixedDecoder};
pub use encode::{PrefixWidth, StringTooLongError, encode_netstring};
pub use framer::{Int8StringProtocol, Int16StringProtocol, Int32StringProtocol, NetstringProtocol};

/// The default [`StringReceiver::max_length`]: Twisted's `MAX_LENGTH` for
/// its string receivers.
pub const DEFAULT_MAX_LENGTH: usize = 99_999;

/// Receives whole strings from one of the string framers
/// ([`Int8StringProtocol`], [`Int16StringProtocol`], [`Int32StringProtocol`],
/// [`NetstringProtocol`]).
///
/// Only [`string_received`](Self::string_received) must be written; the
/// other methods have Twisted's defaults.
pub trait StringReceiver: 'static {
    /// One complete string arrived (its framing removed).
    fn string_received(&mut self, conn: &StringConnection<'_>, s: &[u8]);

    /// The connection is established.
    fn connection_made(&mut self, conn: &StringConnection<'_>) {
        let _ = conn;
    }

    /// The connection is gone; `reason` says why. Called exactly once.
    fn connection_lost(&mut self, reason: Reason) {
        let _ = reason;
    }

    /// A length prefix announced a string of `length` bytes, more than
    /// [`max_length`](Self::max_length). The framer delivers nothing more on
    /// this connection whatever this method does. Default: close the
    /// connection.
    ///
    /// Length-prefixed framings only: a netstring that is too long is a parse
    /// error, which closes the connection without calling this (as in
    /// Twisted).
    fn length_limit_exceeded(&mut self, conn: &StringConnection<'_>, length: usize) {
        let _ = length;
        conn.transport().lose_connection()
    }

    /// The longest string accepted from the peer, in bytes (default
    /// [`DEFAULT_MAX_LENGTH`], 99 999). Asked again before every string, so
    /// it may change during a connection. It does not limit what is sent.
    fn max_length(&self) -> usize {
        DEFAULT_MAX_LENGTH
    }
}
