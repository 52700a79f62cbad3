//! The receiving side of the string framings: [`PrefixedDecoder`] and
//! [`NetstringDecoder`], sans-I/O parsers that take bytes and hand out whole
//! strings ([`Decoded`]) or the error that broke the stream
//! ([`DecodeError`]); and `Decode`, what the framer needs from either.
//!
//! What it owns: the bytes fed and not yet parsed (`Buffer`: a read
//! position so that taking a string moves nothing, and the error once
//! broken, after which all input is ignored), and for netstrings where the
//! parser is in the grammar. Tests: `tests/prefixed.rs` and
//! `tests/netstring.rs` beside this file (every chunk size), and the
//! grammar check in `tests/props.rs`.

use std::fmt;

use super::encode::PrefixWidth;

/// A buffer that holds more than this once it is empty again gives its
/// memory back, so an idle connection that once received a large string
/// does not keep the space for it.
const SHRINK_ABOVE: usize = 64 * 1024;

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
pub(super) struct Buffer {
    pub(super) data: Vec<u8>,
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
    pub(super) buffer: Buffer,
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
pub(super) trait Decode: 'static {
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
