//! Length-prefixed strings and netstrings: framers that turn a byte stream
//! into a sequence of whole strings, and back.
//!
//! Four framings, each a [`Protocol`] wrapping your [`StringReceiver`]
//! (Twisted's `IntNStringReceiver` family and `NetstringReceiver`, reference
//! §9.3 and §9.4):
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
//!   ([`Transport::write_sequence`]): one call, one `writev`, and no copy
//!   of the string.
//!
//! Tests: at the bottom of this file; `fuzz/fuzz_targets/strings.rs` fuzzes
//! all four framings.

use std::borrow::Cow;
use std::cell::{Cell, Ref, RefCell, RefMut};
use std::fmt;
use std::rc::{Rc, Weak};

use crate::error::Reason;
use crate::protocol::Protocol;
use crate::transport::{PushProducer, Transport};

/// The default [`StringReceiver::max_length`]: Twisted's `MAX_LENGTH` for
/// its string receivers.
pub const DEFAULT_MAX_LENGTH: usize = 99_999;

/// A buffer that holds more than this once it is empty again gives its
/// memory back, so an idle connection that once received a large string
/// does not keep the space for it.
const SHRINK_ABOVE: usize = 64 * 1024;

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

/// The size of a length prefix: 1, 2 or 4 bytes, an unsigned big-endian
/// integer (Twisted's `!B`, `!H` and `!I`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrefixWidth {
    /// One byte: strings of up to 255 bytes.
    U8,
    /// Two bytes: strings of up to 65 535 bytes.
    U16,
    /// Four bytes: strings of up to 4 294 967 295 bytes.
    U32,
}

impl PrefixWidth {
    /// The prefix size in bytes: 1, 2 or 4.
    pub const fn bytes(self) -> usize {
        match self {
            PrefixWidth::U8 => 1,
            PrefixWidth::U16 => 2,
            PrefixWidth::U32 => 4,
        }
    }

    /// `2^bits`: the shortest string this prefix cannot describe (256,
    /// 65 536 or 4 294 967 296). This is the "maximum" that
    /// [`StringTooLongError`] reports, following Twisted's message.
    pub const fn limit(self) -> u64 {
        1 << (8 * self.bytes())
    }

    /// Ok if a string of `length` bytes can be sent with this prefix.
    pub fn check(self, length: usize) -> Result<(), StringTooLongError> {
        let maximum = self.limit();
        if u64::try_from(length).unwrap_or(u64::MAX) >= maximum {
            return Err(StringTooLongError { length, maximum });
        }
        Ok(())
    }

    /// Appends the prefix and `s` to `out`, or fails (appending nothing) if
    /// `s` is too long for this prefix.
    pub fn encode(self, s: &[u8], out: &mut Vec<u8>) -> Result<(), StringTooLongError> {
        let header = Framing::Prefixed(self).header(s.len())?;
        out.reserve(header.as_bytes().len() + s.len());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(s);
        Ok(())
    }

    /// Reads a prefix from exactly [`bytes`](Self::bytes) bytes.
    fn read(self, prefix: &[u8]) -> u32 {
        prefix.iter().fold(0, |n, &b| (n << 8) | u32::from(b))
    }
}

/// Appends `s` as a netstring (`5:hello,`) to `out`.
pub fn encode_netstring(s: &[u8], out: &mut Vec<u8>) {
    let header = Framing::Netstring
        .header(s.len())
        .expect("netstrings have no length limit");
    out.reserve(header.as_bytes().len() + s.len() + 1);
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(s);
    out.push(b',');
}

/// A string too long for its length prefix was given to `send_string`.
///
/// The message is Twisted's: `Try to send 65536 bytes whereas maximum is
/// 65536` (the "maximum" is `2^bits`, the first length that does not fit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Try to send {length} bytes whereas maximum is {maximum}")]
pub struct StringTooLongError {
    length: usize,
    maximum: u64,
}

impl StringTooLongError {
    /// The length of the string that was refused.
    pub fn length(&self) -> usize {
        self.length
    }

    /// `2^bits` for the prefix in use (256, 65 536 or 4 294 967 296).
    pub fn maximum(&self) -> u64 {
        self.maximum
    }
}

/// Why a decoder stopped. After any of these the decoder is broken: it
/// ignores all further input and keeps reporting the same error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A length prefix announced more than the maximum length.
    #[error("The received string is {length} bytes long, more than the maximum {max_length}")]
    LengthLimitExceeded {
        /// The announced length.
        length: usize,
        /// The maximum in force when it arrived.
        max_length: usize,
    },
    /// A netstring did not begin with `0` or `[1-9][0-9]*` followed by `:`
    /// (this covers leading zeros, signs and any other byte).
    #[error("The received netstring does not start with a length specification.")]
    NetstringMissingLength,
    /// A netstring's length is above the maximum (detected digit by digit,
    /// before the `:` arrives).
    #[error(
        "The received netstring is longer than the maximum {max_length} specified by max_length"
    )]
    NetstringTooLong {
        /// The maximum in force when it arrived.
        max_length: usize,
    },
    /// The byte after a netstring's payload was not `,`.
    #[error("The received netstring is not terminated by a comma.")]
    NetstringMissingComma,
}

/// What a decoder has next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A complete string, its framing removed.
    String(&'a [u8]),
    /// No complete string is buffered: feed more bytes.
    NeedMore,
    /// The input is malformed; the decoder is broken for good.
    Error(DecodeError),
}

/// Bytes fed but not yet parsed, with a read position so that taking a
/// string does not move the rest.
#[derive(Default)]
struct Buffer {
    data: Vec<u8>,
    start: usize,
    broken: Option<DecodeError>,
}

impl Buffer {
    fn feed(&mut self, bytes: &[u8]) {
        if self.broken.is_some() || bytes.is_empty() {
            return;
        }
        if self.start > 0 {
            self.data.drain(..self.start);
            self.start = 0;
        }
        self.data.extend_from_slice(bytes);
    }

    fn unparsed(&self) -> &[u8] {
        &self.data[self.start..]
    }

    fn len(&self) -> usize {
        self.data.len() - self.start
    }

    /// Called when no complete string is buffered: forget what was parsed,
    /// and give back a large allocation once nothing is buffered.
    fn need_more(&mut self) -> Decoded<'static> {
        if self.start == self.data.len() {
            self.start = 0;
            if self.data.capacity() > SHRINK_ABOVE {
                self.data = Vec::new();
            } else {
                self.data.clear();
            }
        }
        Decoded::NeedMore
    }

    fn fail(&mut self, error: DecodeError) -> Decoded<'static> {
        self.broken = Some(error);
        self.data = Vec::new();
        self.start = 0;
        Decoded::Error(error)
    }

    /// Takes `len` bytes starting `skip` bytes into the unparsed data, and
    /// `trailer` bytes more, consumed but not returned.
    fn take(&mut self, skip: usize, len: usize, trailer: usize) -> Decoded<'_> {
        let from = self.start + skip;
        self.start = from + len + trailer;
        Decoded::String(&self.data[from..from + len])
    }
}

impl fmt::Debug for Buffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Buffer")
            .field("buffered", &self.len())
            .field("broken", &self.broken)
            .finish()
    }
}

/// Parses length-prefixed strings (reference §9.3), sans I/O.
///
/// ```
/// use gyre::protocols::{Decoded, PrefixWidth, PrefixedDecoder};
///
/// let mut d = PrefixedDecoder::new(PrefixWidth::U32);
/// d.feed(b"\0\0\0\x03abc\0\0\0\x02d");
/// assert_eq!(d.next_string(99_999), Decoded::String(b"abc"));
/// assert_eq!(d.next_string(99_999), Decoded::NeedMore);
/// d.feed(b"e");
/// assert_eq!(d.next_string(99_999), Decoded::String(b"de"));
/// ```
#[derive(Debug)]
pub struct PrefixedDecoder {
    width: PrefixWidth,
    buffer: Buffer,
}

impl PrefixedDecoder {
    /// A decoder for prefixes of the given width.
    pub fn new(width: PrefixWidth) -> PrefixedDecoder {
        PrefixedDecoder {
            width,
            buffer: Buffer::default(),
        }
    }

    /// The prefix width this decoder reads.
    pub fn width(&self) -> PrefixWidth {
        self.width
    }

    /// Appends received bytes (ignored once the decoder is broken).
    pub fn feed(&mut self, data: &[u8]) {
        self.buffer.feed(data)
    }

    /// The next complete string, if one is buffered. A prefix announcing
    /// more than `max_length` bytes is an error as soon as the prefix is
    /// complete; exactly `max_length` is accepted.
    pub fn next_string(&mut self, max_length: usize) -> Decoded<'_> {
        if let Some(error) = self.buffer.broken {
            return Decoded::Error(error);
        }
        let w = self.width.bytes();
        let unparsed = self.buffer.unparsed();
        if unparsed.len() < w {
            return self.buffer.need_more();
        }
        let length = usize::try_from(self.width.read(&unparsed[..w])).unwrap_or(usize::MAX);
        if length > max_length {
            return self
                .buffer
                .fail(DecodeError::LengthLimitExceeded { length, max_length });
        }
        if unparsed.len() - w < length {
            return self.buffer.need_more();
        }
        self.buffer.take(w, length, 0)
    }

    /// Bytes received but not yet returned as strings.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// The error that broke this decoder, if any.
    pub fn error(&self) -> Option<DecodeError> {
        self.buffer.broken
    }
}

/// Where a netstring decoder is in the grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NetstringState {
    /// Reading length digits: `value` of the `digits` seen so far.
    Length { value: usize, digits: usize },
    /// The `:` was read: waiting for `len` bytes and the `,`.
    Payload { len: usize },
}

/// Parses netstrings (reference §9.4), sans I/O.
///
/// The length must be `0` or `[1-9][0-9]*`, followed by `:`; it is checked
/// digit by digit, so a length above the maximum is an error before its
/// `:` arrives. The payload must be followed by `,`.
///
/// ```
/// use gyre::protocols::{DecodeError, Decoded, NetstringDecoder};
///
/// let mut d = NetstringDecoder::new();
/// d.feed(b"5:hello,0:,");
/// assert_eq!(d.next_string(99_999), Decoded::String(b"hello"));
/// assert_eq!(d.next_string(99_999), Decoded::String(b""));
/// d.feed(b"05:");
/// assert_eq!(d.next_string(99_999), Decoded::Error(DecodeError::NetstringMissingLength));
/// ```
#[derive(Debug)]
pub struct NetstringDecoder {
    state: NetstringState,
    buffer: Buffer,
}

impl Default for NetstringDecoder {
    fn default() -> Self {
        NetstringDecoder::new()
    }
}

impl NetstringDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> NetstringDecoder {
        NetstringDecoder {
            state: NetstringState::Length {
                value: 0,
                digits: 0,
            },
            buffer: Buffer::default(),
        }
    }

    /// Appends received bytes (ignored once the decoder is broken).
    pub fn feed(&mut self, data: &[u8]) {
        self.buffer.feed(data)
    }

    /// The next complete string, if one is buffered.
    pub fn next_string(&mut self, max_length: usize) -> Decoded<'_> {
        if let Some(error) = self.buffer.broken {
            return Decoded::Error(error);
        }
        loop {
            match self.state {
                NetstringState::Length { value, digits } => {
                    let Some(&byte) = self.buffer.unparsed().first() else {
                        return self.buffer.need_more();
                    };
                    self.buffer.start += 1;
                    match byte {
                        b'0'..=b'9' => {
                            if digits > 0 && value == 0 {
                                // A leading zero: only "0" itself may start with one.
                                return self.buffer.fail(DecodeError::NetstringMissingLength);
                            }
                            let value = value
                                .saturating_mul(10)
                                .saturating_add(usize::from(byte - b'0'));
                            if value > max_length {
                                return self
                                    .buffer
                                    .fail(DecodeError::NetstringTooLong { max_length });
                            }
                            self.state = NetstringState::Length {
                                value,
                                digits: digits + 1,
                            };
                        }
                        b':' if digits > 0 => {
                            self.state = NetstringState::Payload { len: value };
                        }
                        _ => return self.buffer.fail(DecodeError::NetstringMissingLength),
                    }
                }
                NetstringState::Payload { len } => {
                    let unparsed = self.buffer.unparsed();
                    if unparsed.len() <= len {
                        return self.buffer.need_more();
                    }
                    if unparsed[len] != b',' {
                        return self.buffer.fail(DecodeError::NetstringMissingComma);
                    }
                    self.state = NetstringState::Length {
                        value: 0,
                        digits: 0,
                    };
                    return self.buffer.take(0, len, 1);
                }
            }
        }
    }

    /// Bytes received but not yet parsed (length digits already read are
    /// not counted).
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// The error that broke this decoder, if any.
    pub fn error(&self) -> Option<DecodeError> {
        self.buffer.broken
    }
}

/// What the framer needs from a decoder.
trait Decode: 'static {
    fn feed(&mut self, data: &[u8]);
    fn next_string(&mut self, max_length: usize) -> Decoded<'_>;
    fn buffered(&self) -> usize;
    fn is_broken(&self) -> bool;
}

impl Decode for PrefixedDecoder {
    fn feed(&mut self, data: &[u8]) {
        PrefixedDecoder::feed(self, data)
    }
    fn next_string(&mut self, max_length: usize) -> Decoded<'_> {
        PrefixedDecoder::next_string(self, max_length)
    }
    fn buffered(&self) -> usize {
        PrefixedDecoder::buffered(self)
    }
    fn is_broken(&self) -> bool {
        self.error().is_some()
    }
}

impl Decode for NetstringDecoder {
    fn feed(&mut self, data: &[u8]) {
        NetstringDecoder::feed(self, data)
    }
    fn next_string(&mut self, max_length: usize) -> Decoded<'_> {
        NetstringDecoder::next_string(self, max_length)
    }
    fn buffered(&self) -> usize {
        NetstringDecoder::buffered(self)
    }
    fn is_broken(&self) -> bool {
        self.error().is_some()
    }
}

/// How strings are written on one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Prefixed(PrefixWidth),
    Netstring,
}

/// The bytes before a string: a length prefix, or a netstring's digits and
/// `:` (at most 20 digits for a 64-bit length).
struct Header {
    bytes: [u8; 24],
    len: usize,
}

impl Header {
    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl Framing {
    fn header(self, length: usize) -> Result<Header, StringTooLongError> {
        let mut header = Header {
            bytes: [0; 24],
            len: 0,
        };
        match self {
            Framing::Prefixed(width) => {
                width.check(length)?;
                let be = u64::try_from(length).unwrap_or(u64::MAX).to_be_bytes();
                let n = width.bytes();
                header.bytes[..n].copy_from_slice(&be[be.len() - n..]);
                header.len = n;
            }
            Framing::Netstring => {
                let mut digits = [0u8; 20];
                let mut at = digits.len();
                let mut rest = length;
                loop {
                    at -= 1;
                    digits[at] = b'0' + (rest % 10) as u8;
                    rest /= 10;
                    if rest == 0 {
                        break;
                    }
                }
                let n = digits.len() - at;
                header.bytes[..n].copy_from_slice(&digits[at..]);
                header.bytes[n] = b':';
                header.len = n + 1;
            }
        }
        Ok(header)
    }

    /// Frames `s` and hands it to `transport` in one gathered write.
    fn send(self, transport: &Transport, s: &[u8]) -> Result<(), StringTooLongError> {
        let header = self.header(s.len())?;
        let trailer: &[u8] = match self {
            Framing::Prefixed(_) => b"",
            Framing::Netstring => b",",
        };
        let mut parts: [&[u8]; 3] = [header.as_bytes(), b"", b""];
        let mut count = 1;
        for part in [s, trailer] {
            if !part.is_empty() {
                parts[count] = part;
                count += 1;
            }
        }
        transport.write_sequence(&parts[..count]);
        Ok(())
    }
}

/// Framer state reachable without the handler: what a [`StringConnection`]
/// and a [`StringProducer`] touch.
struct Control {
    framing: Framing,
    paused: Cell<bool>,
    /// The framer itself, for [`StringConnection::producer`].
    me: Weak<dyn Core>,
}

impl Control {
    fn pause(&self, transport: &Transport) {
        self.paused.set(true);
        transport.pause_reading();
    }

    fn resume(&self, transport: &Transport) {
        self.paused.set(false);
        // Resumes reading only while connected and not closing.
        PushProducer::resume_producing(transport);
    }
}

/// The framer, seen from a [`StringProducer`].
trait Core {
    fn control(&self) -> &Control;
    /// Delivers what is buffered, unless a delivery is already running
    /// further up the stack (it will see the new state itself).
    fn run(&self, transport: &Transport);
}

/// The decoder and the user's handler.
struct State<D, H> {
    decoder: D,
    handler: H,
}

struct Shared<D, H> {
    control: Control,
    state: RefCell<State<D, H>>,
}

impl<D: Decode, H: StringReceiver> Shared<D, H> {
    /// Delivers buffered strings until none is complete, the framer is
    /// paused, the transport is closing, or the input turns out bad.
    fn deliver(&self, state: &mut State<D, H>, transport: &Transport) {
        if state.decoder.is_broken() {
            return;
        }
        let conn = StringConnection {
            transport,
            control: &self.control,
        };
        while !self.control.paused.get() && !transport.is_disconnecting() {
            let max_length = state.handler.max_length();
            match state.decoder.next_string(max_length) {
                Decoded::String(s) => {
                    state.handler.string_received(&conn, s);
                    if transport.should_yield() {
                        // The turn's work is done: the rest is delivered on
                        // a later turn (`data_received` with no bytes).
                        transport.yield_reading();
                        break;
                    }
                }
                Decoded::NeedMore => break,
                Decoded::Error(DecodeError::LengthLimitExceeded { length, .. }) => {
                    state.handler.length_limit_exceeded(&conn, length);
                    break;
                }
                Decoded::Error(_) => {
                    transport.lose_connection();
                    break;
                }
            }
        }
    }
}

impl<D: Decode, H: StringReceiver> Core for Shared<D, H> {
    fn control(&self) -> &Control {
        &self.control
    }

    fn run(&self, transport: &Transport) {
        if let Ok(mut state) = self.state.try_borrow_mut() {
            self.deliver(&mut state, transport);
        }
    }
}

/// The protocol behind each of the public framer types.
struct Framer<D, H> {
    shared: Rc<Shared<D, H>>,
}

impl<D: Decode, H: StringReceiver> Framer<D, H> {
    fn new(handler: H, decoder: D, framing: Framing) -> Framer<D, H> {
        let shared = Rc::new_cyclic(|me: &Weak<Shared<D, H>>| {
            let me: Weak<dyn Core> = me.clone();
            Shared {
                control: Control {
                    framing,
                    paused: Cell::new(false),
                    me,
                },
                state: RefCell::new(State { decoder, handler }),
            }
        });
        Framer { shared }
    }

    fn handler(&self) -> Ref<'_, H> {
        Ref::map(self.shared.state.borrow(), |s| &s.handler)
    }

    fn handler_mut(&mut self) -> RefMut<'_, H> {
        RefMut::map(self.shared.state.borrow_mut(), |s| &mut s.handler)
    }

    fn connection_made(&mut self, transport: &Transport) {
        let conn = StringConnection {
            transport,
            control: &self.shared.control,
        };
        self.shared
            .state
            .borrow_mut()
            .handler
            .connection_made(&conn);
    }

    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        let mut state = self.shared.state.borrow_mut();
        if state.decoder.is_broken() || transport.is_disconnecting() {
            // Nothing will ever be delivered: do not even buffer it.
            return;
        }
        state.decoder.feed(data);
        self.shared.deliver(&mut state, transport);
    }

    fn connection_lost(&mut self, reason: Reason) {
        self.shared
            .state
            .borrow_mut()
            .handler
            .connection_lost(reason);
    }

    fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct(name);
        s.field("framing", &self.shared.control.framing)
            .field("paused", &self.shared.control.paused.get());
        if let Ok(state) = self.shared.state.try_borrow() {
            s.field("buffered", &state.decoder.buffered())
                .field("broken", &state.decoder.is_broken());
        }
        s.finish_non_exhaustive()
    }
}

macro_rules! string_protocol {
    (
        $(#[$doc:meta])*
        $name:ident, $decoder:ty, $make:expr, $framing:expr
    ) => {
        $(#[$doc])*
        pub struct $name<H: StringReceiver> {
            framer: Framer<$decoder, H>,
        }

        impl<H: StringReceiver> $name<H> {
            /// A protocol that hands each received string to `handler`.
            pub fn new(handler: H) -> $name<H> {
                $name {
                    framer: Framer::new(handler, $make, $framing),
                }
            }

            /// The handler (borrowed: do not hold it across a call into the
            /// protocol).
            pub fn handler(&self) -> Ref<'_, H> {
                self.framer.handler()
            }

            /// The handler, mutably.
            pub fn handler_mut(&mut self) -> RefMut<'_, H> {
                self.framer.handler_mut()
            }
        }

        impl<H: StringReceiver> Protocol for $name<H> {
            fn connection_made(&mut self, transport: &Transport) {
                self.framer.connection_made(transport)
            }

            fn data_received(&mut self, transport: &Transport, data: &[u8]) {
                self.framer.data_received(transport, data)
            }

            fn connection_lost(&mut self, reason: Reason) {
                self.framer.connection_lost(reason)
            }

            /// The handler's type name, as Twisted names a connection after
            /// the user's receiver class.
            fn log_prefix(&self) -> Cow<'static, str> {
                crate::log::short_type_name::<H>()
            }
        }

        impl<H: StringReceiver> fmt::Debug for $name<H> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.framer.debug(stringify!($name), f)
            }
        }
    };
}

string_protocol! {
    /// Strings with a 1-byte length prefix (Twisted's `Int8StringReceiver`):
    /// at most 255 bytes each way.
    Int8StringProtocol, PrefixedDecoder, PrefixedDecoder::new(PrefixWidth::U8),
    Framing::Prefixed(PrefixWidth::U8)
}

string_protocol! {
    /// Strings with a 2-byte big-endian length prefix (Twisted's
    /// `Int16StringReceiver`): at most 65 535 bytes sent.
    Int16StringProtocol, PrefixedDecoder, PrefixedDecoder::new(PrefixWidth::U16),
    Framing::Prefixed(PrefixWidth::U16)
}

string_protocol! {
    /// Strings with a 4-byte big-endian length prefix (Twisted's
    /// `Int32StringReceiver`), the usual choice: `hello` is sent as
    /// `\0\0\0\x05hello`.
    Int32StringProtocol, PrefixedDecoder, PrefixedDecoder::new(PrefixWidth::U32),
    Framing::Prefixed(PrefixWidth::U32)
}

string_protocol! {
    /// Netstrings (Twisted's `NetstringReceiver`): `hello` is sent as
    /// `5:hello,`, the empty string as `0:,`. Any malformed input closes the
    /// connection and everything after it is ignored.
    NetstringProtocol, NetstringDecoder, NetstringDecoder::new(), Framing::Netstring
}

/// What a [`StringReceiver`] callback gets: the transport, a way to send
/// strings in the same framing, and flow control.
pub struct StringConnection<'a> {
    transport: &'a Transport,
    control: &'a Control,
}

impl StringConnection<'_> {
    /// The connection's transport.
    pub fn transport(&self) -> &Transport {
        self.transport
    }

    /// Sends `s` framed as this protocol frames strings, in one write.
    ///
    /// Fails, writing nothing, when `s` is too long for a length prefix
    /// (256 bytes or more with [`Int8StringProtocol`], 65 536 or more with
    /// [`Int16StringProtocol`], 2^32 or more with [`Int32StringProtocol`]).
    /// Netstrings never fail.
    pub fn send_string(&self, s: &[u8]) -> Result<(), StringTooLongError> {
        self.control.framing.send(self.transport, s)
    }

    /// A handle that sends strings in this framing on this connection from
    /// anywhere on the reactor thread (a timer, another connection).
    pub fn sender(&self) -> StringSender {
        StringSender {
            transport: self.transport.clone(),
            framing: self.control.framing,
        }
    }

    /// Stops delivering strings (even ones already buffered) and pauses
    /// reading from the transport, until resumed.
    pub fn pause_producing(&self) {
        self.control.pause(self.transport)
    }

    /// Undoes [`pause_producing`](Self::pause_producing): reading resumes,
    /// and buffered strings are delivered once the current callback returns.
    pub fn resume_producing(&self) {
        self.control.resume(self.transport)
    }

    /// True while paused.
    pub fn is_paused(&self) -> bool {
        self.control.paused.get()
    }

    /// A handle to pause and resume this framer from outside its callbacks,
    /// or to register with another transport as its producer.
    pub fn producer(&self) -> StringProducer {
        StringProducer {
            framer: self.control.me.clone(),
            transport: self.transport.clone(),
        }
    }
}

impl fmt::Debug for StringConnection<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StringConnection")
            .field("transport", self.transport)
            .field("framing", &self.control.framing)
            .field("paused", &self.control.paused.get())
            .finish()
    }
}

/// Sends framed strings on one connection; cheap to clone and keep (in a
/// timer, or in a map of connected peers).
#[derive(Debug, Clone)]
pub struct StringSender {
    transport: Transport,
    framing: Framing,
}

impl StringSender {
    /// Sends `s` framed as the connection's protocol frames strings, in one
    /// write (see [`StringConnection::send_string`]).
    pub fn send_string(&self, s: &[u8]) -> Result<(), StringTooLongError> {
        self.framing.send(&self.transport, s)
    }

    /// The connection's transport.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }
}

/// A string framer as a push producer of the strings it delivers
/// (Twisted's receivers are producers in the same way).
///
/// Pausing stops delivery, buffered strings included, and pauses the
/// transport's reading; resuming resumes reading and delivers what is
/// buffered at once; stopping pauses and closes the connection. Once the
/// protocol is gone, only the transport is paused or resumed.
#[derive(Clone)]
pub struct StringProducer {
    framer: Weak<dyn Core>,
    transport: Transport,
}

impl PushProducer for StringProducer {
    fn pause_producing(&self) {
        match self.framer.upgrade() {
            Some(framer) => framer.control().pause(&self.transport),
            None => self.transport.pause_reading(),
        }
    }

    fn resume_producing(&self) {
        match self.framer.upgrade() {
            Some(framer) => {
                framer.control().resume(&self.transport);
                framer.run(&self.transport);
            }
            None => PushProducer::resume_producing(&self.transport),
        }
    }

    fn stop_producing(&self) {
        if let Some(framer) = self.framer.upgrade() {
            framer.control().paused.set(true);
        }
        self.transport.lose_connection();
    }
}

impl fmt::Debug for StringProducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let paused = self.framer.upgrade().map(|c| c.control().paused.get());
        f.debug_struct("StringProducer")
            .field("transport", &self.transport)
            .field("paused", &paused)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::StringTransport;
    use proptest::prelude::*;

    /// What a test handler saw, in order.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Event {
        String(Vec<u8>),
        Exceeded(usize),
    }

    /// A handler that records events and can be told to react to one string.
    struct Recorder {
        events: Rc<RefCell<Vec<Event>>>,
        max: usize,
        pause_on: Option<Vec<u8>>,
        close_on: Option<Vec<u8>>,
        producer: Rc<RefCell<Option<StringProducer>>>,
    }

    impl Recorder {
        fn new(max: usize) -> Recorder {
            Recorder {
                events: Rc::default(),
                max,
                pause_on: None,
                close_on: None,
                producer: Rc::default(),
            }
        }
    }

    impl StringReceiver for Recorder {
        fn string_received(&mut self, conn: &StringConnection<'_>, s: &[u8]) {
            self.events.borrow_mut().push(Event::String(s.to_vec()));
            if self.pause_on.as_deref() == Some(s) {
                conn.pause_producing();
            }
            if self.close_on.as_deref() == Some(s) {
                conn.transport().lose_connection();
            }
        }

        fn connection_made(&mut self, conn: &StringConnection<'_>) {
            *self.producer.borrow_mut() = Some(conn.producer());
        }

        fn length_limit_exceeded(&mut self, conn: &StringConnection<'_>, length: usize) {
            self.events.borrow_mut().push(Event::Exceeded(length));
            conn.transport().lose_connection();
        }

        fn max_length(&self) -> usize {
            self.max
        }
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Kind {
        Int8,
        Int16,
        Int32,
        Netstring,
    }

    const KINDS: [Kind; 4] = [Kind::Int8, Kind::Int16, Kind::Int32, Kind::Netstring];

    fn protocol(kind: Kind, handler: Recorder) -> Box<dyn Protocol> {
        match kind {
            Kind::Int8 => Box::new(Int8StringProtocol::new(handler)),
            Kind::Int16 => Box::new(Int16StringProtocol::new(handler)),
            Kind::Int32 => Box::new(Int32StringProtocol::new(handler)),
            Kind::Netstring => Box::new(NetstringProtocol::new(handler)),
        }
    }

    /// Frames `s` as `kind` does, with the public encoders.
    fn encode(kind: Kind, s: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match kind {
            Kind::Int8 => PrefixWidth::U8.encode(s, &mut out).unwrap(),
            Kind::Int16 => PrefixWidth::U16.encode(s, &mut out).unwrap(),
            Kind::Int32 => PrefixWidth::U32.encode(s, &mut out).unwrap(),
            Kind::Netstring => encode_netstring(s, &mut out),
        }
        out
    }

    /// What a run produced.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Outcome {
        events: Vec<Event>,
        disconnecting: bool,
    }

    /// Feeds `chunks` in order to a fresh `kind` protocol with the given
    /// handler settings.
    fn run_chunks(kind: Kind, make: &dyn Fn() -> Recorder, chunks: &[&[u8]]) -> Outcome {
        let handler = make();
        let events = handler.events.clone();
        let st = StringTransport::new();
        let mut p = protocol(kind, handler);
        st.make_connection(&mut p);
        for chunk in chunks {
            p.data_received(&st.transport(), chunk);
        }
        let events = events.borrow().clone();
        Outcome {
            events,
            disconnecting: st.is_disconnecting(),
        }
    }

    /// Feeds `input` in chunks of `size` bytes.
    fn run_sized(kind: Kind, make: &dyn Fn() -> Recorder, input: &[u8], size: usize) -> Outcome {
        let chunks: Vec<&[u8]> = input.chunks(size).collect();
        run_chunks(kind, make, &chunks)
    }

    /// Feeds `input` at every chunk size from 1 to its length, checks every
    /// run gives the same outcome, and returns it.
    fn every_chunking(kind: Kind, make: &dyn Fn() -> Recorder, input: &[u8]) -> Outcome {
        let whole = run_chunks(kind, make, &[input]);
        for size in 1..=input.len() {
            let got = run_sized(kind, make, input, size);
            assert_eq!(
                got, whole,
                "{kind:?}: chunk size {size} differs from one chunk"
            );
        }
        whole
    }

    fn default_recorder() -> Recorder {
        Recorder::new(DEFAULT_MAX_LENGTH)
    }

    fn strings(list: &[&[u8]]) -> Vec<Event> {
        list.iter().map(|s| Event::String(s.to_vec())).collect()
    }

    /// When the turn's work is done (`should_yield`), every framing stops
    /// after the string it delivered, asks to be called again, and delivers
    /// the rest in order when it is (`data_received` with no bytes).
    #[test]
    fn a_spent_turn_yields_between_strings() {
        for kind in [Kind::Int8, Kind::Int16, Kind::Int32, Kind::Netstring] {
            let handler = default_recorder();
            let events = handler.events.clone();
            let st = StringTransport::new();
            let mut p = protocol(kind, handler);
            st.make_connection(&mut p);
            st.set_should_yield(true);
            let input = [
                encode(kind, b"one"),
                encode(kind, b"two"),
                encode(kind, b"3"),
            ]
            .concat();
            p.data_received(&st.transport(), &input);
            assert_eq!(*events.borrow(), strings(&[b"one"]), "{kind:?}");
            assert_eq!(st.yields(), 1, "{kind:?}");
            st.set_should_yield(false);
            p.data_received(&st.transport(), b"");
            assert_eq!(
                *events.borrow(),
                strings(&[b"one", b"two", b"3"]),
                "{kind:?}"
            );
            assert!(!st.is_disconnecting(), "{kind:?}");
        }
    }

    /// Reference §9.3: `\0\0\0\3abc\0\0\0\2d` then `e` gives `abc`, `de`,
    /// in those two chunks and at every chunk size.
    #[test]
    fn int32_verified_example_at_every_chunk_size() {
        let first: &[u8] = b"\0\0\0\x03abc\0\0\0\x02d";
        let two = run_chunks(Kind::Int32, &default_recorder, &[first, b"e"]);
        assert_eq!(two.events, strings(&[b"abc", b"de"]));
        assert!(!two.disconnecting);
        let input = [first, b"e"].concat();
        assert_eq!(every_chunking(Kind::Int32, &default_recorder, &input), two);
    }

    /// Each length-prefixed framing parses several strings, the empty one
    /// included, at every chunk size, and a partial string waits.
    #[test]
    fn prefixed_framings_parse_any_fragmentation() {
        for kind in [Kind::Int8, Kind::Int16, Kind::Int32] {
            let payloads: [&[u8]; 4] = [b"hello", b"", b"x", &[7u8; 255]];
            let mut input: Vec<u8> = payloads.iter().flat_map(|s| encode(kind, s)).collect();
            let partial = encode(kind, b"waiting");
            input.extend_from_slice(&partial[..partial.len() - 1]);
            let out = every_chunking(kind, &default_recorder, &input);
            assert_eq!(out.events, strings(&payloads), "{kind:?}");
            assert!(!out.disconnecting);
        }
    }

    /// Reference §9.3: a length of 99 999 is accepted and 100 000 is not,
    /// as soon as the prefix is complete; the limit stops everything after.
    #[test]
    fn int32_accepts_99999_and_rejects_100000() {
        // The prefixes alone, at every chunk size.
        let waiting = every_chunking(Kind::Int32, &default_recorder, &99_999u32.to_be_bytes());
        assert_eq!(
            waiting,
            Outcome {
                events: vec![],
                disconnecting: false
            }
        );
        let mut over = encode(Kind::Int32, b"ok");
        over.extend_from_slice(&100_000u32.to_be_bytes());
        over.extend_from_slice(&encode(Kind::Int32, b"after"));
        let refused = every_chunking(Kind::Int32, &default_recorder, &over);
        assert_eq!(
            refused.events,
            vec![Event::String(b"ok".to_vec()), Event::Exceeded(100_000)]
        );
        assert!(refused.disconnecting);
        // A whole 99 999-byte string is delivered, whatever the chunking
        // (every size would take n² time here; the boundaries are covered
        // at every size with a lowered limit below).
        let big = vec![b'z'; 99_999];
        let input = encode(Kind::Int32, &big);
        for size in [
            1,
            2,
            3,
            4,
            5,
            1000,
            4096,
            65_536,
            input.len() - 1,
            input.len(),
        ] {
            let out = run_sized(Kind::Int32, &default_recorder, &input, size);
            assert_eq!(out.events, vec![Event::String(big.clone())], "size {size}");
        }
    }

    /// The limit is `max_length`, whatever the prefix: with it lowered,
    /// Int8 and Int16 refuse one byte more than it, at every chunk size.
    #[test]
    fn lowered_max_length_limits_every_prefix_width() {
        for kind in [Kind::Int8, Kind::Int16, Kind::Int32] {
            let make = || Recorder::new(10);
            let ok = every_chunking(kind, &make, &encode(kind, b"0123456789"));
            assert_eq!(ok.events, strings(&[b"0123456789"]), "{kind:?}");
            let mut input = encode(kind, b"0123456789A");
            input.extend_from_slice(&encode(kind, b"later"));
            let refused = every_chunking(kind, &make, &input);
            assert_eq!(refused.events, vec![Event::Exceeded(11)], "{kind:?}");
            assert!(refused.disconnecting);
        }
    }

    /// The default `length_limit_exceeded` closes the connection, and the
    /// framer ignores all later input (Twisted would call it again).
    #[test]
    fn default_length_limit_exceeded_closes_and_stops_for_good() {
        struct Plain(Vec<Vec<u8>>);
        impl StringReceiver for Plain {
            fn string_received(&mut self, _: &StringConnection<'_>, s: &[u8]) {
                self.0.push(s.to_vec());
            }
            fn max_length(&self) -> usize {
                3
            }
        }
        let st = StringTransport::new();
        let mut p = Int16StringProtocol::new(Plain(vec![]));
        st.make_connection(&mut p);
        p.data_received(&st.transport(), b"\0\x02ab\0\x04abcd\0\x01c");
        assert_eq!(p.handler().0, vec![b"ab".to_vec()]);
        assert!(st.is_disconnecting());
        p.data_received(&st.transport(), b"\0\x01d");
        assert_eq!(p.handler().0, vec![b"ab".to_vec()]);
    }

    /// Reference §9.3: `send_string` writes prefix and payload, once; Int32
    /// `hello` is `\0\0\0\x05hello`.
    #[test]
    fn prefixed_send_string_writes_prefix_and_payload() {
        struct Send(&'static [u8]);
        impl StringReceiver for Send {
            fn string_received(&mut self, _: &StringConnection<'_>, _: &[u8]) {}
            fn connection_made(&mut self, conn: &StringConnection<'_>) {
                conn.send_string(self.0).unwrap();
            }
        }
        let cases: [(Box<dyn Protocol>, &[u8]); 5] = [
            (
                Box::new(Int32StringProtocol::new(Send(b"hello"))),
                b"\0\0\0\x05hello",
            ),
            (
                Box::new(Int16StringProtocol::new(Send(b"hello"))),
                b"\0\x05hello",
            ),
            (
                Box::new(Int8StringProtocol::new(Send(b"hello"))),
                b"\x05hello",
            ),
            (Box::new(Int32StringProtocol::new(Send(b""))), b"\0\0\0\0"),
            (Box::new(Int8StringProtocol::new(Send(b""))), b"\0"),
        ];
        for (mut p, wire) in cases {
            let st = StringTransport::new();
            st.make_connection(&mut p);
            assert_eq!(st.value(), wire);
        }
    }

    /// Reference §9.3: a string of `2^bits` bytes or more is refused with
    /// Twisted's message and nothing is written; one byte less is sent.
    #[test]
    fn send_string_too_long_is_refused_with_twisteds_message() {
        struct Sender(Option<StringSender>);
        impl StringReceiver for Sender {
            fn string_received(&mut self, _: &StringConnection<'_>, _: &[u8]) {}
            fn connection_made(&mut self, conn: &StringConnection<'_>) {
                self.0 = Some(conn.sender());
            }
        }
        let st = StringTransport::new();
        let mut p16 = Int16StringProtocol::new(Sender(None));
        st.make_connection(&mut p16);
        let sender = p16.handler().0.clone().unwrap();
        let err = sender.send_string(&vec![0; 65_536]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Try to send 65536 bytes whereas maximum is 65536"
        );
        assert_eq!((err.length(), err.maximum()), (65_536, 65_536));
        assert_eq!(st.value(), b"");
        sender.send_string(&vec![1; 65_535]).unwrap();
        assert_eq!(st.value()[..2], [0xff, 0xff]);
        assert_eq!(st.value().len(), 65_537);

        let st = StringTransport::new();
        let mut p8 = Int8StringProtocol::new(Sender(None));
        st.make_connection(&mut p8);
        let sender = p8.handler().0.clone().unwrap();
        let err = sender.send_string(&[0; 256]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Try to send 256 bytes whereas maximum is 256"
        );
        assert_eq!(st.value(), b"");
        sender.send_string(&[2; 255]).unwrap();
        assert_eq!(st.value().len(), 256);

        // Int32 without allocating 4 GiB: the same check on the length.
        assert_eq!(PrefixWidth::U32.check(u32::MAX as usize), Ok(()));
        if let Ok(len) = usize::try_from(1u64 << 32) {
            let err = PrefixWidth::U32.check(len).unwrap_err();
            assert_eq!(
                err.to_string(),
                "Try to send 4294967296 bytes whereas maximum is 4294967296"
            );
        }
        let mut out = vec![9];
        assert!(PrefixWidth::U8.encode(&[0; 300], &mut out).is_err());
        assert_eq!(out, [9], "a refused encode appends nothing");
    }

    /// A transport that counts calls, to check each string is one write.
    struct Counting {
        inner: StringTransport,
        calls: Cell<usize>,
    }

    impl crate::transport::TransportImpl for Counting {
        fn write(&self, data: &[u8]) {
            self.calls.set(self.calls.get() + 1);
            self.inner.transport().write(data)
        }
        fn write_sequence(&self, parts: &[&[u8]]) {
            self.calls.set(self.calls.get() + 1);
            self.inner.transport().write_sequence(parts)
        }
        fn lose_connection(&self) {
            self.inner.transport().lose_connection()
        }
        fn abort_connection(&self) {
            self.inner.transport().abort_connection()
        }
        fn lose_write_connection(&self) {
            self.inner.transport().lose_write_connection()
        }
        fn peer(&self) -> crate::Address {
            self.inner.transport().peer()
        }
        fn host(&self) -> crate::Address {
            self.inner.transport().host()
        }
        fn set_no_delay(&self, enabled: bool) -> std::io::Result<()> {
            self.inner.transport().set_no_delay(enabled)
        }
        fn no_delay(&self) -> std::io::Result<bool> {
            self.inner.transport().no_delay()
        }
        fn set_keep_alive(&self, enabled: bool) -> std::io::Result<()> {
            self.inner.transport().set_keep_alive(enabled)
        }
        fn keep_alive(&self) -> std::io::Result<bool> {
            self.inner.transport().keep_alive()
        }
        fn pause_reading(&self) {
            self.inner.transport().pause_reading()
        }
        fn resume_reading(&self) {
            self.inner.transport().resume_reading()
        }
        fn register_producer(&self, producer: crate::Producer) -> Result<(), crate::ProducerError> {
            self.inner.transport().register_producer(producer)
        }
        fn unregister_producer(&self) {
            self.inner.transport().unregister_producer()
        }
        fn is_connected(&self) -> bool {
            self.inner.transport().is_connected()
        }
        fn is_disconnecting(&self) -> bool {
            self.inner.transport().is_disconnecting()
        }
        fn buffered(&self) -> usize {
            0
        }
        fn log_prefix(&self) -> String {
            "Counting".into()
        }
    }

    /// Every framing hands one string to the transport in exactly one call.
    #[test]
    fn each_string_is_one_transport_write() {
        for kind in KINDS {
            for s in [&b""[..], b"hello", &[5u8; 200]] {
                let counting = Rc::new(Counting {
                    inner: StringTransport::new(),
                    calls: Cell::new(0),
                });
                let transport = Transport::new(counting.clone());
                let framing = match kind {
                    Kind::Int8 => Framing::Prefixed(PrefixWidth::U8),
                    Kind::Int16 => Framing::Prefixed(PrefixWidth::U16),
                    Kind::Int32 => Framing::Prefixed(PrefixWidth::U32),
                    Kind::Netstring => Framing::Netstring,
                };
                let sender = StringSender { transport, framing };
                sender.send_string(s).unwrap();
                assert_eq!(counting.calls.get(), 1, "{kind:?}");
                assert_eq!(counting.inner.value(), encode(kind, s), "{kind:?}");
            }
        }
    }

    /// Reference §9.4: `hello` is sent as `5:hello,` and the empty string
    /// as `0:,`; lengths of several digits are written in decimal.
    #[test]
    fn netstring_send_string() {
        struct Send;
        impl StringReceiver for Send {
            fn string_received(&mut self, conn: &StringConnection<'_>, s: &[u8]) {
                conn.send_string(s).unwrap();
            }
        }
        let st = StringTransport::new();
        let mut p = NetstringProtocol::new(Send);
        st.make_connection(&mut p);
        p.data_received(&st.transport(), b"5:hello,0:,");
        assert_eq!(st.value(), b"5:hello,0:,");
        let mut out = Vec::new();
        encode_netstring(&[b'a'; 1234], &mut out);
        assert!(out.starts_with(b"1234:aaa") && out.ends_with(b"a,"));
        assert_eq!(out.len(), 1234 + 6);
    }

    /// Netstrings parse at every chunk size: several strings, the empty
    /// one, a multi-digit length, and a partial one that waits.
    #[test]
    fn netstring_parses_any_fragmentation() {
        let twelve = b"hello, world";
        let mut input = b"3:abc,0:,12:".to_vec();
        input.extend_from_slice(twelve);
        input.extend_from_slice(b",1:,,4:wai");
        let out = every_chunking(Kind::Netstring, &default_recorder, &input);
        assert_eq!(out.events, strings(&[b"abc", b"", twelve, b","]));
        assert!(!out.disconnecting);
    }

    /// Reference §9.4: `99999:` is accepted and waits for its payload.
    #[test]
    fn netstring_99999_is_accepted_and_waits() {
        let out = every_chunking(Kind::Netstring, &default_recorder, b"99999:");
        assert_eq!(
            out,
            Outcome {
                events: vec![],
                disconnecting: false
            }
        );
        let mut input = b"99999:".to_vec();
        input.extend(std::iter::repeat_n(b'q', 99_999));
        input.push(b',');
        for size in [1, 7, 4096, input.len()] {
            let out = run_sized(Kind::Netstring, &default_recorder, &input, size);
            assert_eq!(out.events, vec![Event::String(vec![b'q'; 99_999])]);
        }
    }

    /// Reference §9.4, every error case: at every chunk size the connection
    /// closes, nothing is delivered, and later data (even valid) is ignored.
    #[test]
    fn netstring_errors_close_and_deliver_nothing() {
        let bad: [&[u8]; 12] = [
            b"05:hello,", // leading zero
            b"00:,",      // leading zero before an empty payload
            b"-1:",       // a sign
            b"x:",        // not a digit
            b":",         // no digits at all
            b" 1:a,",     // leading blank
            b"100000",    // above the maximum before any colon
            b"100000:",   // above the maximum
            b"123456",    // six digits above the maximum: refused at once
            b"1234567:",  // more than six digits
            b"5:hellox",  // no comma after the payload
            b"0:x",       // no comma after an empty payload
        ];
        for input in bad {
            let mut with_tail = input.to_vec();
            with_tail.extend_from_slice(b"3:abc,");
            for fed in [input, &with_tail[..]] {
                let out = every_chunking(Kind::Netstring, &default_recorder, fed);
                assert_eq!(
                    out,
                    Outcome {
                        events: vec![],
                        disconnecting: true
                    },
                    "{:?}",
                    String::from_utf8_lossy(fed)
                );
            }
        }
    }

    /// Strings before an error are delivered; nothing after it is, even in
    /// a later `data_received`.
    #[test]
    fn netstring_error_after_valid_strings() {
        let out = every_chunking(Kind::Netstring, &default_recorder, b"3:abc,1:d,2:efx3:ghi,");
        assert_eq!(out.events, strings(&[b"abc", b"d"]));
        assert!(out.disconnecting);

        let mut d = NetstringDecoder::new();
        d.feed(b"2:ab!");
        assert_eq!(
            d.next_string(10),
            Decoded::Error(DecodeError::NetstringMissingComma)
        );
        d.feed(b"1:a,");
        assert_eq!(
            d.next_string(10),
            Decoded::Error(DecodeError::NetstringMissingComma)
        );
        assert_eq!(d.buffered(), 0);
    }

    /// The digits are checked against the maximum in force, one by one: a
    /// lowered maximum refuses its successor before the colon.
    #[test]
    fn netstring_lowered_max_length() {
        let make = || Recorder::new(10);
        let ok = every_chunking(Kind::Netstring, &make, b"10:0123456789,");
        assert_eq!(ok.events, strings(&[b"0123456789"]));
        let refused = every_chunking(Kind::Netstring, &make, b"11");
        assert_eq!(
            refused,
            Outcome {
                events: vec![],
                disconnecting: true
            }
        );
        let mut d = NetstringDecoder::new();
        d.feed(b"11");
        assert_eq!(
            d.next_string(10),
            Decoded::Error(DecodeError::NetstringTooLong { max_length: 10 })
        );
        assert_eq!(
            DecodeError::NetstringTooLong { max_length: 99_999 }.to_string(),
            "The received netstring is longer than the maximum 99999 specified by max_length"
        );
    }

    /// When the handler closes the connection, no further string is
    /// delivered, in every framing and at every chunk size.
    #[test]
    fn nothing_is_delivered_after_the_handler_closes() {
        for kind in KINDS {
            let make = || Recorder {
                close_on: Some(b"b".to_vec()),
                ..Recorder::new(DEFAULT_MAX_LENGTH)
            };
            let input: Vec<u8> = [&b"a"[..], b"b", b"c"]
                .iter()
                .flat_map(|s| encode(kind, s))
                .collect();
            let out = every_chunking(kind, &make, &input);
            assert_eq!(out.events, strings(&[b"a", b"b"]), "{kind:?}");
            assert!(out.disconnecting);
        }
    }

    /// Pausing from `string_received` stops delivery, buffered strings
    /// included, and pauses reading; data arriving meanwhile is kept;
    /// resuming through the producer handle delivers the rest at once.
    #[test]
    fn pause_stops_delivery_and_resume_delivers_the_rest() {
        for kind in KINDS {
            let handler = Recorder {
                pause_on: Some(b"b".to_vec()),
                ..Recorder::new(DEFAULT_MAX_LENGTH)
            };
            let events = handler.events.clone();
            let producer = handler.producer.clone();
            let st = StringTransport::new();
            let mut p = protocol(kind, handler);
            st.make_connection(&mut p);
            let first: Vec<u8> = [&b"a"[..], b"b", b"c"]
                .iter()
                .flat_map(|s| encode(kind, s))
                .collect();
            p.data_received(&st.transport(), &first);
            assert_eq!(*events.borrow(), strings(&[b"a", b"b"]), "{kind:?}");
            assert!(st.is_reading_paused());
            p.data_received(&st.transport(), &encode(kind, b"d"));
            assert_eq!(events.borrow().len(), 2, "{kind:?}: delivered while paused");

            let producer = producer.borrow().clone().unwrap();
            producer.resume_producing();
            assert!(!st.is_reading_paused());
            assert_eq!(
                *events.borrow(),
                strings(&[b"a", b"b", b"c", b"d"]),
                "{kind:?}"
            );
            p.data_received(&st.transport(), &encode(kind, b"e"));
            assert_eq!(events.borrow().len(), 5);

            producer.pause_producing();
            assert!(st.is_reading_paused());
            p.data_received(&st.transport(), &encode(kind, b"f"));
            assert_eq!(events.borrow().len(), 5);
            producer.stop_producing();
            assert!(st.is_disconnecting());
            assert_eq!(events.borrow().len(), 5, "stopping delivers nothing");
        }
    }

    /// Resuming from inside a callback, after pausing there, lets the
    /// running delivery carry on.
    #[test]
    fn resume_inside_a_callback_continues_delivery() {
        struct Flicker(Vec<Vec<u8>>);
        impl StringReceiver for Flicker {
            fn string_received(&mut self, conn: &StringConnection<'_>, s: &[u8]) {
                self.0.push(s.to_vec());
                conn.pause_producing();
                assert!(conn.is_paused());
                conn.resume_producing();
            }
        }
        let st = StringTransport::new();
        let mut p = NetstringProtocol::new(Flicker(vec![]));
        st.make_connection(&mut p);
        p.data_received(&st.transport(), b"1:a,1:b,1:c,");
        assert_eq!(p.handler().0, [b"a", b"b", b"c"]);
        assert!(!st.is_reading_paused());
    }

    /// A producer handle outlives its protocol harmlessly: it only pauses
    /// and resumes the transport's reading.
    #[test]
    fn producer_after_the_protocol_is_dropped() {
        let handler = Recorder::new(DEFAULT_MAX_LENGTH);
        let producer = handler.producer.clone();
        let st = StringTransport::new();
        let mut p = Int32StringProtocol::new(handler);
        st.make_connection(&mut p);
        let producer = producer.borrow().clone().unwrap();
        drop(p);
        producer.pause_producing();
        assert!(st.is_reading_paused());
        producer.resume_producing();
        assert!(!st.is_reading_paused());
        assert!(format!("{producer:?}").contains("paused: None"));
    }

    /// The protocol's log prefix is the handler's name, and Debug shows
    /// the framer's state.
    #[test]
    fn log_prefix_and_debug() {
        struct Chatter;
        impl StringReceiver for Chatter {
            fn string_received(&mut self, _: &StringConnection<'_>, _: &[u8]) {}
        }
        let mut p = Int32StringProtocol::new(Chatter);
        assert_eq!(p.log_prefix(), "Chatter");
        let st = StringTransport::new();
        st.make_connection(&mut p);
        p.data_received(&st.transport(), b"\0\0");
        let debug = format!("{p:?}");
        assert!(debug.starts_with("Int32StringProtocol {"), "{debug}");
        assert!(debug.contains("buffered: 2"), "{debug}");
    }

    /// A decoder gives back a large buffer once it has drained.
    #[test]
    fn drained_decoder_releases_large_buffers() {
        let mut d = PrefixedDecoder::new(PrefixWidth::U32);
        let mut input = encode(Kind::Int32, &[1; 90_000]);
        input.extend_from_slice(b"\0\0");
        d.feed(&input);
        assert!(
            matches!(d.next_string(DEFAULT_MAX_LENGTH), Decoded::String(s) if s.len() == 90_000)
        );
        assert_eq!(d.next_string(DEFAULT_MAX_LENGTH), Decoded::NeedMore);
        d.feed(b"\0\x01z");
        assert_eq!(d.next_string(DEFAULT_MAX_LENGTH), Decoded::String(b"z"));
        assert_eq!(d.next_string(DEFAULT_MAX_LENGTH), Decoded::NeedMore);
        assert_eq!(d.buffer.data.capacity(), 0);
    }

    fn kind() -> impl Strategy<Value = Kind> {
        prop_oneof![
            Just(Kind::Int8),
            Just(Kind::Int16),
            Just(Kind::Int32),
            Just(Kind::Netstring)
        ]
    }

    /// Splits `input` at the given cut points (taken modulo its length).
    fn split<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
        let mut at: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        at.push(0);
        at.push(input.len());
        at.sort_unstable();
        at.windows(2).map(|w| &input[w[0]..w[1]]).collect()
    }

    proptest! {
        /// Any list of strings, encoded by `send_string` and split anywhere,
        /// decodes to the same list, in all four framings.
        #[test]
        fn encoded_strings_decode_identically_however_split(
            kind in kind(),
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..=255), 0..12),
            cuts in proptest::collection::vec(any::<usize>(), 0..30),
        ) {
            // Encode through send_string.
            let sender_st = StringTransport::new();
            let framing = match kind {
                Kind::Int8 => Framing::Prefixed(PrefixWidth::U8),
                Kind::Int16 => Framing::Prefixed(PrefixWidth::U16),
                Kind::Int32 => Framing::Prefixed(PrefixWidth::U32),
                Kind::Netstring => Framing::Netstring,
            };
            let send = StringSender { transport: sender_st.transport(), framing };
            for s in &payloads {
                send.send_string(s).unwrap();
            }
            let wire = sender_st.value();
            let chunks = split(&wire, &cuts);
            let out = run_chunks(kind, &default_recorder, &chunks);
            let expected: Vec<Event> = payloads.iter().map(|s| Event::String(s.clone())).collect();
            prop_assert_eq!(out.events, expected);
            prop_assert!(!out.disconnecting);
        }

        /// Arbitrary bytes never panic, never deliver a string longer than
        /// `max_length`, and give the same outcome however they are split.
        #[test]
        fn arbitrary_bytes_are_safe_and_split_independent(
            kind in kind(),
            input in proptest::collection::vec(any::<u8>(), 0..600),
            max in 0usize..300,
            cuts in proptest::collection::vec(any::<usize>(), 0..30),
        ) {
            let make = || Recorder::new(max);
            let whole = run_chunks(kind, &make, &[&input]);
            for event in &whole.events {
                if let Event::String(s) = event {
                    prop_assert!(s.len() <= max);
                }
            }
            let split_run = run_chunks(kind, &make, &split(&input, &cuts));
            prop_assert_eq!(&split_run, &whole);
            let bytewise = run_sized(kind, &make, &input, 1);
            prop_assert_eq!(&bytewise, &whole);
        }

        /// The sans-I/O netstring decoder agrees with a direct reading of
        /// the grammar on inputs made mostly of grammar characters.
        #[test]
        fn netstring_decoder_matches_the_grammar(
            input in proptest::collection::vec(prop_oneof![Just(b'0'), Just(b'1'), Just(b'9'), Just(b':'), Just(b','), Just(b'a')], 0..40),
            max in 0usize..20,
        ) {
            let mut d = NetstringDecoder::new();
            d.feed(&input);
            let mut got = Vec::new();
            let mut failed = false;
            loop {
                match d.next_string(max) {
                    Decoded::String(s) => got.push(s.to_vec()),
                    Decoded::NeedMore => break,
                    Decoded::Error(_) => { failed = true; break; }
                }
            }
            let (want, want_failed) = reference_netstrings(&input, max);
            prop_assert_eq!(got, want);
            prop_assert_eq!(failed, want_failed);
        }
    }

    /// A second, straightforward reading of §9.4 to check the decoder
    /// against: whole-input, regex-like, no state machine.
    fn reference_netstrings(mut input: &[u8], max: usize) -> (Vec<Vec<u8>>, bool) {
        let mut out = Vec::new();
        loop {
            if input.is_empty() {
                return (out, false);
            }
            let digits = input.iter().take_while(|b| b.is_ascii_digit()).count();
            let number = &input[..digits];
            let bad_start = digits == 0 || (number[0] == b'0' && digits > 1);
            // Leading zero, or a first byte that is not a digit: an error as
            // soon as the offending byte is there.
            if bad_start {
                return (out, true);
            }
            let value = std::str::from_utf8(number)
                .unwrap()
                .parse::<u128>()
                .unwrap_or(u128::MAX);
            if value > max as u128 {
                return (out, true);
            }
            if digits == input.len() {
                return (out, false); // waiting for more digits or the colon
            }
            if input[digits] != b':' {
                return (out, true);
            }
            let len = value as usize;
            let rest = &input[digits + 1..];
            if rest.len() <= len {
                return (out, false);
            }
            if rest[len] != b',' {
                return (out, true);
            }
            out.push(rest[..len].to_vec());
            input = &rest[len + 1..];
        }
    }
}
