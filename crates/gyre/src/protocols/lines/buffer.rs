//! [`LineBuffer`]: Twisted's `LineReceiver` framing as a sans-I/O state machine.
//!
//! What it owns: the bytes received and not yet handed out, the delimiter,
//! the length limit and the mode (lines or raw). It performs no I/O and
//! calls nothing: [`feed`](LineBuffer::feed) appends bytes,
//! [`next_event`](LineBuffer::next_event) hands out what they frame, one
//! event at a time. [`LineProtocol`](super::LineProtocol) is a thin driver
//! around it.
//!
//! Invariants, field by field:
//! * `buf[..start]` has been handed out and is dropped at the next
//!   [`feed`](LineBuffer::feed) (lazily, once it is at least half the buffer,
//!   so compaction costs amortised O(1) per byte); `buf[start..]` is what
//!   [`buffered`](LineBuffer::buffered) returns;
//! * `searched` (≥ `start`) is where the next delimiter search begins: no
//!   delimiter starts in `buf[start..searched]`. It makes feeding a long
//!   line one byte at a time linear instead of quadratic. Changing the
//!   delimiter resets it;
//! * `delimiter` is never empty.
//!
//! Tests: `tests/buffer.rs` beside this file for the core itself, and
//! through `LineProtocol` at every chunk size in `tests/line_protocol.rs`.

use std::fmt;
use std::ops::Range;

/// The delimiter `LineReceiver` uses unless told otherwise: CRLF.
pub const DEFAULT_DELIMITER: &[u8] = b"\r\n";

/// The longest line delivered unless told otherwise (Twisted's `MAX_LENGTH`).
pub const DEFAULT_MAX_LENGTH: usize = 16384;

/// One thing a [`LineBuffer`] framed. The slices borrow the buffer and are
/// valid until it is next changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEvent<'a> {
    /// A complete line, delimiter stripped (possibly empty).
    Line(&'a [u8]),
    /// A line longer than the limit was found, or the buffer grew to
    /// `max_length + delimiter.len()` bytes without a delimiter. Carries
    /// everything that was buffered: the line, its delimiter if one arrived,
    /// and what followed. The buffer is now empty.
    LineTooLong(&'a [u8]),
    /// Raw mode: everything buffered, in one piece. The buffer is now empty.
    Raw(&'a [u8]),
}

/// Which event [`LineBuffer::advance`] found, without the borrow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Line,
    LineTooLong,
    Raw,
}

/// Twisted's `LineReceiver` framing algorithm (reference §9.1), sans I/O.
///
/// In line mode the buffer is split at the first occurrence of the exact
/// delimiter (with the default CRLF, a lone `\n` is ordinary data). A line
/// longer than `max_length` is not delivered: the whole buffer is handed out
/// as [`LineEvent::LineTooLong`] instead. So is a buffer that reaches
/// `max_length + delimiter.len()` bytes with no delimiter in it, since the
/// line it holds can no longer fit. With the defaults: a 16384-byte line is
/// delivered, a 16385-byte one is too long; 16385 unterminated bytes wait for
/// more, 16386 are too long.
///
/// In raw mode everything buffered is handed out as one [`LineEvent::Raw`].
///
/// ```
/// use gyre::protocols::{LineBuffer, LineEvent};
///
/// let mut framer = LineBuffer::new();
/// framer.feed(b"HELLO\r\n\r\nrest");
/// assert_eq!(framer.next_event(), Some(LineEvent::Line(b"HELLO")));
/// assert_eq!(framer.next_event(), Some(LineEvent::Line(b"")));
/// assert_eq!(framer.next_event(), None); // "rest" waits for its delimiter
/// framer.set_raw_mode();
/// assert_eq!(framer.next_event(), Some(LineEvent::Raw(b"rest")));
/// ```
#[derive(Clone)]
pub struct LineBuffer {
    buf: Vec<u8>,
    start: usize,
    searched: usize,
    delimiter: Vec<u8>,
    max_length: usize,
    raw: bool,
}

/// Capacity above which an emptied buffer gives its memory back.
const SHRINK_ABOVE: usize = 64 * 1024;

impl LineBuffer {
    /// An empty framer in line mode with [`DEFAULT_DELIMITER`] and
    /// [`DEFAULT_MAX_LENGTH`].
    pub fn new() -> LineBuffer {
        LineBuffer::with_delimiter(DEFAULT_DELIMITER, DEFAULT_MAX_LENGTH)
    }

    /// An empty framer in line mode with the given delimiter and limit.
    ///
    /// # Panics
    /// If `delimiter` is empty.
    pub fn with_delimiter(delimiter: &[u8], max_length: usize) -> LineBuffer {
        assert!(!delimiter.is_empty(), "a line delimiter cannot be empty");
        LineBuffer {
            buf: Vec::new(),
            start: 0,
            searched: 0,
            delimiter: delimiter.to_vec(),
            max_length,
            raw: false,
        }
    }

    /// The delimiter lines are split at.
    pub fn delimiter(&self) -> &[u8] {
        &self.delimiter
    }

    /// Splits further lines at `delimiter` (buffered bytes included).
    ///
    /// # Panics
    /// If `delimiter` is empty.
    pub fn set_delimiter(&mut self, delimiter: &[u8]) {
        assert!(!delimiter.is_empty(), "a line delimiter cannot be empty");
        if !same_bytes(&self.delimiter, delimiter) {
            self.delimiter.clear();
            self.delimiter.extend_from_slice(delimiter);
            self.searched = self.start;
        }
    }

    /// The longest line delivered.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// Sets the longest line delivered.
    pub fn set_max_length(&mut self, max_length: usize) {
        self.max_length = max_length;
    }

    /// True in line mode (the initial mode), false in raw mode.
    pub fn is_line_mode(&self) -> bool {
        !self.raw
    }

    /// Hands out everything buffered, now and later, as raw data.
    pub fn set_raw_mode(&mut self) {
        self.raw = true;
    }

    /// Splits lines again. (Twisted's `setLineMode(extra)` re-feeds `extra`:
    /// here that is a [`feed`](Self::feed) after this call.)
    pub fn set_line_mode(&mut self) {
        if self.raw {
            self.raw = false;
            self.searched = self.start;
        }
    }

    /// Appends received bytes. Nothing is framed until
    /// [`next_event`](Self::next_event).
    pub fn feed(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.compact();
        self.buf.extend_from_slice(data);
    }

    /// The bytes received and not yet handed out.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Returns the buffered bytes and empties the buffer (Twisted's
    /// `clearLineBuffer`).
    pub fn clear(&mut self) -> Vec<u8> {
        let out = self.buffered().to_vec();
        self.discard();
        out
    }

    /// The next line, too-long line or raw chunk, or `None` when the buffer
    /// holds nothing that can be handed out yet.
    pub fn next_event(&mut self) -> Option<LineEvent<'_>> {
        let (kind, range) = self.advance()?;
        let bytes = &self.buf[range];
        Some(match kind {
            Kind::Line => LineEvent::Line(bytes),
            Kind::LineTooLong => LineEvent::LineTooLong(bytes),
            Kind::Raw => LineEvent::Raw(bytes),
        })
    }

    /// [`next_event`](Self::next_event) as a kind and a range of
    /// [`slice`](Self::slice), so a driver can keep reading the buffer
    /// (its delimiter, what remains) while it hands the event out.
    pub(super) fn advance(&mut self) -> Option<(Kind, Range<usize>)> {
        let len = self.buf.len();
        if self.start == len {
            return None;
        }
        if self.raw {
            return Some((Kind::Raw, self.take_all()));
        }
        let dlen = self.delimiter.len();
        let from = self.searched.max(self.start);
        match find(&self.buf[from..], &self.delimiter) {
            Some(offset) => {
                let at = from + offset;
                if at - self.start > self.max_length {
                    return Some((Kind::LineTooLong, self.take_all()));
                }
                let line = self.start..at;
                self.start = at + dlen;
                self.searched = self.start;
                Some((Kind::Line, line))
            }
            None => {
                // No delimiter can start before the last `dlen - 1` bytes.
                self.searched = (len + 1).saturating_sub(dlen).max(self.start);
                if len - self.start >= self.max_length.saturating_add(dlen) {
                    Some((Kind::LineTooLong, self.take_all()))
                } else {
                    None
                }
            }
        }
    }

    /// The bytes of a range returned by [`advance`](Self::advance).
    pub(super) fn slice(&self, range: Range<usize>) -> &[u8] {
        &self.buf[range]
    }

    /// Empties the buffer without returning what was in it.
    pub(super) fn discard(&mut self) {
        self.start = self.buf.len();
        self.searched = self.start;
        self.compact();
    }

    /// Marks everything buffered as handed out and returns its range.
    fn take_all(&mut self) -> Range<usize> {
        let all = self.start..self.buf.len();
        self.start = all.end;
        self.searched = all.end;
        all
    }

    /// Marks the first `n` buffered bytes as handed out (lines a driver
    /// delivered from [`buffered`](Self::buffered) itself).
    pub(super) fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.buf.len() - self.start);
        self.start += n;
        self.searched = self.start;
    }

    /// Drops the handed-out prefix once it is at least half the buffer.
    fn compact(&mut self) {
        if self.start == 0 {
            return;
        }
        if self.start == self.buf.len() {
            self.buf.clear();
            if self.buf.capacity() > SHRINK_ABOVE {
                self.buf.shrink_to(SHRINK_ABOVE);
            }
            self.start = 0;
            self.searched = 0;
        } else if self.start * 2 >= self.buf.len() {
            self.buf.drain(..self.start);
            self.searched -= self.start;
            self.start = 0;
        }
    }
}

impl Default for LineBuffer {
    fn default() -> Self {
        LineBuffer::new()
    }
}

impl fmt::Debug for LineBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineBuffer")
            .field("buffered", &self.buffered().len())
            .field("delimiter", &self.delimiter.escape_ascii().to_string())
            .field("max_length", &self.max_length)
            .field("line_mode", &!self.raw)
            .finish()
    }
}

/// The index of the first occurrence of `needle` (non-empty) in `haystack`.
pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, tail) = needle.split_first()?;
    let last_start = haystack.len().checked_sub(needle.len())?;
    if tail.is_empty() {
        return find_byte(first, haystack);
    }
    let mut from = 0;
    while from <= last_start {
        let at = from + find_byte(first, &haystack[from..=last_start])?;
        if same_bytes(&haystack[at + 1..at + needle.len()], tail) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// The index of the last occurrence of `needle` (non-empty) in `haystack`.
pub(super) fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if let [byte] = needle {
        return haystack.iter().rposition(|b| b == byte);
    }
    let last_start = haystack.len().checked_sub(needle.len())?;
    (0..=last_start)
        .rev()
        .find(|&at| same_bytes(&haystack[at..at + needle.len()], needle))
}

/// `a == b`, without a `memcmp` call for the
/// one- or two-byte tails of the usual delimiters.
pub(super) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    match (a, b) {
        ([x], [y]) => x == y,
        ([x0, x1], [y0, y1]) => x0 == y0 && x1 == y1,
        _ => a == b,
    }
}

/// The index of the first `byte` in `haystack`, examining eight bytes at a
/// time: a word XORed with `byte` repeated has a zero byte exactly where
/// `byte` was, and `(w - 0x01..01) & !w & 0x80..80` marks zero bytes. A
/// borrow can only mark a byte above a real zero byte, so the lowest mark
/// (the words are read little-endian) is exact.
fn find_byte(byte: u8, haystack: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    let repeated = ONES * u64::from(byte);
    let marks = |word: &[u8]| {
        let bytes: [u8; 8] = word.try_into().expect("eight bytes");
        let x = u64::from_le_bytes(bytes) ^ repeated;
        x.wrapping_sub(ONES) & !x & HIGHS
    };
    let at = |offset: usize, marks: u64| offset + (marks.trailing_zeros() / 8) as usize;
    // Sixteen bytes a turn, then eight, then the last eight again
    // (overlapping bytes already seen, which hold no `byte`).
    let mut pairs = haystack.chunks_exact(16);
    let mut offset = 0;
    for pair in &mut pairs {
        let (low, high) = (marks(&pair[..8]), marks(&pair[8..]));
        if low | high != 0 {
            return Some(if low != 0 {
                at(offset, low)
            } else {
                at(offset + 8, high)
            });
        }
        offset += 16;
    }
    let rest = pairs.remainder();
    if rest.len() >= 8 {
        let m = marks(&rest[..8]);
        if m != 0 {
            return Some(at(offset, m));
        }
        offset += 8;
    }
    if offset == haystack.len() {
        return None;
    }
    if haystack.len() >= 8 {
        let last = haystack.len() - 8;
        let m = marks(&haystack[last..]);
        return (m != 0).then(|| at(last, m));
    }
    haystack.iter().position(|&b| b == byte)
}
