//! [`LineOnlyProtocol`]: Twisted's `LineOnlyReceiver` (reference §9.2),
//! with its handler trait [`LineOnlyReceiver`] and the
//! [`LineOnlyConnection`] its callbacks get.
//!
//! What it owns: the partial line left over from the last chunk (`partial`),
//! where the delimiter search resumes in it (`searched`), a copy of the
//! handler's delimiter (so a [`LineOnlyConnection`] can lend it while the
//! handler is borrowed), and the `discarding` flag of the bounded-memory
//! rule below. Between chunks `partial` holds no delimiter and is at most
//! `max_length` bytes long (or, while discarding, shorter than the
//! delimiter). Tests: `tests/line_only.rs` beside this file.

use std::borrow::Cow;
use std::fmt;

use super::buffer::find;
use super::{DEFAULT_DELIMITER, DEFAULT_MAX_LENGTH};
use crate::error::Reason;
use crate::protocol::Protocol;
use crate::protocols::flow::turn_spent;
use crate::transport::Transport;

/// What a lines-only protocol does with its lines: the handler run by
/// [`LineOnlyProtocol`] (Twisted's `LineOnlyReceiver`).
///
/// The same events as a [`LineReceiver`](super::LineReceiver) has, minus
/// raw data: each callback gets a [`LineOnlyConnection`], which writes lines
/// and has no framer to steer. Only
/// [`line_received`](Self::line_received) is required.
///
/// A handler for a protocol whose lines end in `\n` alone and are at most
/// 8 bytes, which answers an over-long line with an error instead of
/// hanging up (the default):
///
/// ```
/// use gyre::protocols::{LineOnlyConnection, LineOnlyProtocol, LineOnlyReceiver};
/// use gyre::testing::StringTransport;
/// use gyre::Protocol;
///
/// struct Short;
///
/// impl LineOnlyReceiver for Short {
///     fn line_received(&mut self, conn: &LineOnlyConnection<'_>, line: &[u8]) {
///         conn.send_line(&[b"ok ", line].concat());
///     }
///     fn line_length_exceeded(&mut self, conn: &LineOnlyConnection<'_>, _line: &[u8]) {
///         conn.send_line(b"too long");
///     }
///     fn delimiter(&self) -> &[u8] {
///         b"\n"
///     }
///     fn max_length(&self) -> usize {
///         8
///     }
/// }
///
/// let mut protocol = LineOnlyProtocol::new(Short);
/// let wire = StringTransport::new();
/// wire.make_connection(&mut protocol);
/// let t = wire.transport();
/// protocol.data_received(&t, b"one\nt"); // one line and the start of another
/// protocol.data_received(&t, b"wo\r\n"); // `\r` is part of the line here
/// // An over-long line; as in Twisted, the rest of its chunk is dropped.
/// protocol.data_received(&t, b"much too long\ndropped\n");
/// protocol.data_received(&t, b"three\n");
/// assert_eq!(wire.value(), b"ok one\nok two\r\ntoo long\nok three\n");
/// assert!(!wire.is_disconnecting());
/// ```
pub trait LineOnlyReceiver: 'static {
    /// A complete line arrived, without its delimiter (possibly empty).
    fn line_received(&mut self, conn: &LineOnlyConnection<'_>, line: &[u8]);

    /// The connection is established.
    fn connection_made(&mut self, conn: &LineOnlyConnection<'_>) {
        let _ = conn;
    }

    /// The connection is gone; `reason` says why. Called exactly once.
    fn connection_lost(&mut self, reason: Reason) {
        let _ = reason;
    }

    /// A line longer than [`max_length`](Self::max_length) arrived; `line`
    /// is the line alone (or, if no delimiter came in time, the partial
    /// line). The default closes the connection.
    fn line_length_exceeded(&mut self, conn: &LineOnlyConnection<'_>, line: &[u8]) {
        let _ = line;
        conn.transport().lose_connection()
    }

    /// The bytes that end a line (default CRLF). Only the exact sequence
    /// splits. Must not be empty.
    fn delimiter(&self) -> &[u8] {
        DEFAULT_DELIMITER
    }

    /// The longest line delivered (default 16384 bytes).
    fn max_length(&self) -> usize {
        DEFAULT_MAX_LENGTH
    }
}

/// The connection a [`LineOnlyReceiver`] callback happens on: it writes
/// lines.
///
/// It has no raw mode, no pausing and no buffer to clear (Twisted's
/// `LineOnlyReceiver` has none either); a handler that needs them is a
/// [`LineReceiver`](super::LineReceiver) run by a
/// [`LineProtocol`](super::LineProtocol). Asking for them here does not
/// compile:
///
/// ```compile_fail
/// use gyre::protocols::{LineOnlyConnection, LineOnlyReceiver};
///
/// struct Upload;
/// impl LineOnlyReceiver for Upload {
///     fn line_received(&mut self, conn: &LineOnlyConnection<'_>, line: &[u8]) {
///         if line == b"BODY" {
///             conn.set_raw_mode(); // no such method on a lines-only connection
///         }
///     }
/// }
/// ```
///
/// The same handler written as a [`LineReceiver`](super::LineReceiver)
/// compiles:
///
/// ```
/// use gyre::protocols::{LineConnection, LineReceiver};
///
/// struct Upload;
/// impl LineReceiver for Upload {
///     fn line_received(&mut self, conn: &LineConnection<'_>, line: &[u8]) {
///         if line == b"BODY" {
///             conn.set_raw_mode();
///         }
///     }
/// }
/// ```
pub struct LineOnlyConnection<'a> {
    transport: &'a Transport,
    delimiter: &'a [u8],
}

impl<'a> LineOnlyConnection<'a> {
    fn new(transport: &'a Transport, delimiter: &'a [u8]) -> Self {
        LineOnlyConnection {
            transport,
            delimiter,
        }
    }

    /// The connection's transport.
    pub fn transport(&self) -> &'a Transport {
        self.transport
    }

    /// The delimiter in force.
    pub fn delimiter(&self) -> &'a [u8] {
        self.delimiter
    }

    /// Sends `line` followed by the delimiter, as one `write_sequence`.
    pub fn send_line(&self, line: &[u8]) {
        self.transport.write_sequence(&[line, self.delimiter]);
    }
}

impl fmt::Debug for LineOnlyConnection<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineOnlyConnection")
            .field("transport", self.transport)
            .field("delimiter", &self.delimiter.escape_ascii().to_string())
            .finish()
    }
}

/// Runs a [`LineOnlyReceiver`] with Twisted's `LineOnlyReceiver` semantics:
/// lines only, no raw mode, no pausing.
///
/// A protocol value like any other: give it to a factory. A loopback
/// server that adds up the numbers it is sent, one per line, and answers
/// `total` with the sum:
///
/// ```
/// use std::io::{BufRead, BufReader, Write};
///
/// use gyre::protocols::{LineOnlyConnection, LineOnlyProtocol, LineOnlyReceiver};
/// use gyre::{for_protocol, Reactor, TcpListenOptions};
///
/// #[derive(Default)]
/// struct Adder {
///     sum: i64,
/// }
///
/// impl LineOnlyReceiver for Adder {
///     fn line_received(&mut self, conn: &LineOnlyConnection<'_>, line: &[u8]) {
///         match std::str::from_utf8(line).map(str::trim) {
///             Ok("total") => conn.send_line(self.sum.to_string().as_bytes()),
///             Ok(n) => match n.parse::<i64>() {
///                 Ok(n) => self.sum += n,
///                 Err(_) => conn.send_line(b"not a number"),
///             },
///             Err(_) => conn.transport().lose_connection(),
///         }
///     }
/// }
///
/// let reactor = Reactor::new()?;
/// # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
/// # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
/// let loopback = TcpListenOptions::interface("127.0.0.1");
/// let factory = for_protocol(|| LineOnlyProtocol::new(Adder::default()));
/// let address = reactor.listen_tcp_with(0, factory, loopback)?.address();
///
/// let handle = reactor.thread_handle();
/// let client = std::thread::spawn(move || {
///     let mut stream = std::net::TcpStream::connect(address).unwrap();
///     // Lines split across writes, several lines in one write.
///     for piece in [&b"4"[..], b"0\r\n2", b"\r\nx\r\n", b"total\r\n"] {
///         stream.write_all(piece).unwrap();
///     }
///     let mut answers = BufReader::new(stream).lines();
///     let got = [answers.next(), answers.next()].map(|a| a.unwrap().unwrap());
///     handle.stop();
///     got
/// });
/// reactor.run()?;
/// assert_eq!(client.join().unwrap(), ["not a number", "42"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Each chunk is split into all its complete lines, which are delivered in
/// order; delivery stops if the transport starts disconnecting. A complete
/// line longer than `max_length` goes to
/// [`line_length_exceeded`](LineOnlyReceiver::line_length_exceeded) (the line
/// alone) and the complete lines after it in the same chunk are dropped; the
/// trailing partial line is kept. A partial line that can no longer end
/// within `max_length` goes to `line_length_exceeded` too: with the
/// defaults, 16385 bytes with no CRLF.
/// [`send_line`](LineOnlyConnection::send_line) is one `write_sequence` of
/// the line and the delimiter.
///
/// Where gyre differs from Twisted, on purpose:
/// * Twisted counts the start of a delimiter at the end of a chunk as part
///   of the partial line, so a 16384-byte line whose CR and LF arrive in
///   different reads is reported as too long there, and delivered when they
///   arrive together. gyre does not count those bytes, so the outcome never
///   depends on how the input was split;
/// * after a partial line has been reported as too long, Twisted keeps it
///   and goes on growing it (a handler that does not close the connection
///   then holds an unbounded buffer and sees the line reported again). gyre
///   drops it and discards input up to the next delimiter; the lines after
///   that are delivered as usual. With the default handler, which closes
///   the connection, the two behave alike.
pub struct LineOnlyProtocol<H> {
    handler: H,
    partial: Vec<u8>,
    searched: usize,
    delimiter: Vec<u8>,
    discarding: bool,
    transport: Option<Transport>,
}

impl<H: LineOnlyReceiver> LineOnlyProtocol<H> {
    /// Wraps `handler`.
    pub fn new(handler: H) -> LineOnlyProtocol<H> {
        let delimiter = handler.delimiter().to_vec();
        LineOnlyProtocol {
            handler,
            partial: Vec::new(),
            searched: 0,
            delimiter,
            discarding: false,
            transport: None,
        }
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// The handler, mutably.
    pub fn handler_mut(&mut self) -> &mut H {
        &mut self.handler
    }

    /// Unwraps the handler.
    pub fn into_handler(self) -> H {
        self.handler
    }

    /// The transport, once connected.
    pub fn transport(&self) -> Option<&Transport> {
        self.transport.as_ref()
    }

    /// The partial line received so far.
    pub fn buffered(&self) -> &[u8] {
        &self.partial
    }

    /// Sends `line` and the delimiter as one `write_sequence`. Does nothing
    /// before the connection is made.
    pub fn send_line(&self, line: &[u8]) {
        if let Some(transport) = &self.transport {
            transport.write_sequence(&[line, self.handler.delimiter()]);
        }
    }

    /// Copies the handler's delimiter if it changed.
    ///
    /// # Panics
    /// If the handler's delimiter is empty.
    fn sync_delimiter(&mut self) {
        let wanted = self.handler.delimiter();
        assert!(!wanted.is_empty(), "a line delimiter cannot be empty");
        if self.delimiter != wanted {
            self.delimiter = wanted.to_vec();
            self.searched = 0;
        }
    }

    /// Keeps only the bytes after the last delimiter at or after `from`.
    fn keep_trailing_partial(&mut self, mut from: usize) {
        while let Some(at) = find(&self.partial[from..], &self.delimiter) {
            from += at + self.delimiter.len();
        }
        self.partial.drain(..from);
        self.searched = 0;
    }

    /// Enters the discarding state: drops the partial line except the bytes
    /// that may begin the next delimiter.
    fn start_discarding(&mut self) {
        let keep = self.delimiter.len() - 1;
        let drop = self.partial.len().saturating_sub(keep);
        self.partial.drain(..drop);
        self.searched = 0;
        self.discarding = true;
    }
}

impl<H: LineOnlyReceiver> Protocol for LineOnlyProtocol<H> {
    fn connection_made(&mut self, transport: &Transport) {
        self.transport = Some(transport.clone());
        self.sync_delimiter();
        let conn = LineOnlyConnection::new(transport, &self.delimiter);
        self.handler.connection_made(&conn);
    }

    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        if transport.is_disconnecting() {
            return;
        }
        self.sync_delimiter();
        let max_length = self.handler.max_length();
        let dlen = self.delimiter.len();
        self.partial.extend_from_slice(data);
        let mut start = 0;
        if self.discarding {
            let Some(at) = find(&self.partial[self.searched..], &self.delimiter) else {
                self.start_discarding();
                return;
            };
            start = self.searched + at + dlen;
            self.discarding = false;
        }
        loop {
            let from = self.searched.max(start);
            let Some(offset) = find(&self.partial[from..], &self.delimiter) else {
                break;
            };
            let end = from + offset;
            if transport.is_disconnecting() {
                self.partial.clear();
                self.searched = 0;
                return;
            }
            let conn = LineOnlyConnection::new(transport, &self.delimiter);
            let line = &self.partial[start..end];
            if line.len() > max_length {
                self.handler.line_length_exceeded(&conn, line);
                self.keep_trailing_partial(end + dlen);
                return;
            }
            self.handler.line_received(&conn, line);
            start = end + dlen;
            if turn_spent(transport, start < self.partial.len()) {
                // The turn's work is done: keep the rest for a later turn.
                self.partial.drain(..start);
                self.searched = 0;
                return;
            }
        }
        self.partial.drain(..start);
        self.searched = (self.partial.len() + 1).saturating_sub(dlen);
        let line_so_far = self.partial.len() - delimiter_begun(&self.partial, &self.delimiter);
        if line_so_far > max_length && !transport.is_disconnecting() {
            let conn = LineOnlyConnection::new(transport, &self.delimiter);
            self.handler.line_length_exceeded(&conn, &self.partial);
            self.start_discarding();
        }
    }

    fn connection_lost(&mut self, reason: Reason) {
        self.handler.connection_lost(reason);
    }

    fn log_prefix(&self) -> Cow<'static, str> {
        crate::log::short_type_name::<H>()
    }
}

/// How many bytes at the end of `partial` (which holds no delimiter) may be
/// the beginning of `delimiter`: the longest such suffix.
fn delimiter_begun(partial: &[u8], delimiter: &[u8]) -> usize {
    (1..delimiter.len())
        .rev()
        .find(|&k| partial.ends_with(&delimiter[..k]))
        .unwrap_or(0)
}

impl<H: 'static> fmt::Debug for LineOnlyProtocol<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineOnlyProtocol")
            .field("handler", &crate::log::short_type_name::<H>())
            .field("buffered", &self.partial.len())
            .field("delimiter", &self.delimiter.escape_ascii().to_string())
            .field("discarding", &self.discarding)
            .finish()
    }
}
