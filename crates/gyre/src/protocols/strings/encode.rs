//! The sending side of the string framings: [`PrefixWidth`] and
//! [`encode_netstring`] (sans-I/O encoders), [`StringTooLongError`], and
//! `Framing`, which says how one connection frames what it sends and writes
//! a framed string to its transport in one gathered write.
//!
//! What it owns: the wire format of a length prefix (big-endian, 1, 2 or 4
//! bytes) and of a netstring header (decimal digits and `:`), built on the
//! stack (`Header`, at most 24 bytes) so that sending a string copies
//! nothing. Tests: `tests/sending.rs` beside this file, and the round trips
//! in `tests/props.rs`.

use crate::transport::Transport;

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
    pub(super) fn read(self, prefix: &[u8]) -> u32 {
        prefix.iter().fold(0, |n, &b| (n << 8) | u32::from(b))
    }
}

/// Appends `s` as a netstring (`5:hello,`) to `out`.
///
/// For building a message without a connection (a file, a buffer sent
/// later); a [`NetstringDecoder`](crate::protocols::NetstringDecoder) reads
/// it back:
///
/// ```
/// use gyre::protocols::encode_netstring;
///
/// let mut out = Vec::new();
/// encode_netstring(b"hello", &mut out);
/// encode_netstring(b"", &mut out);
/// encode_netstring("déjà".as_bytes(), &mut out); // the length counts bytes
/// assert_eq!(out, "5:hello,0:,6:déjà,".as_bytes());
/// ```
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

/// How strings are written on one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
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
    pub(super) fn send(self, transport: &Transport, s: &[u8]) -> Result<(), StringTooLongError> {
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
