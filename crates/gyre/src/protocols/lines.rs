//! Line framing: a [`LineReceiver`] handler run by [`LineProtocol`]
//! (Twisted's `LineReceiver`), or a [`LineOnlyReceiver`] handler run by
//! [`LineOnlyProtocol`] (`LineOnlyReceiver`).
//!
//! The handler is the part you write: `line_received` and, if you need
//! them, the other events. The protocol owns the framing state and hands
//! the handler a connection with each event: a [`LineConnection`], through
//! which it writes lines and steers the framer (raw mode, pausing, clearing
//! the buffer), or under [`LineOnlyProtocol`] a [`LineOnlyConnection`],
//! which only writes lines (it has no framer to steer, so asking for raw
//! mode there does not compile).
//!
//! Which one to use:
//! * [`LineProtocol`]: lines, raw mode (for a length-prefixed body in the
//!   middle of a line protocol), pausing; the framing algorithm is
//!   [`LineBuffer`], usable on its own without I/O;
//! * [`LineOnlyProtocol`]: lines only, a little less bookkeeping per chunk.
//!
//! A handler meant for both implements both traits.
//!
//! Behaviour follows Twisted exactly (reference §9.1, §9.2), with these
//! differences, on purpose:
//! * no line (nor raw chunk, nor over-long line) is handed to the handler
//!   while the transport is disconnecting. Twisted checks after each line,
//!   so it may deliver one more line from data that arrives after
//!   `loseConnection` — which a real transport never reads anyway;
//! * re-entry cannot corrupt the buffer by construction: the handler never
//!   sees the buffer, only a [`LineConnection`], whose calls that change the
//!   framer ([`set_line_mode`](LineConnection::set_line_mode) re-feeding
//!   data, [`clear_line_buffer`](LineConnection::clear_line_buffer),
//!   [`set_raw_mode`](LineConnection::set_raw_mode)) take effect when the
//!   callback returns, with exactly Twisted's results (re-fed data is
//!   appended to what is buffered);
//! * [`LineOnlyProtocol`] does not count an incomplete delimiter at the end
//!   of a chunk toward the length limit (Twisted does, so its verdict on a
//!   line of exactly the limit depends on how the input was split), and
//!   keeps memory bounded when a handler overrides
//!   [`line_length_exceeded`](LineOnlyReceiver::line_length_exceeded) without
//!   closing: see its docs.
//!
//! Work per turn is bounded: between lines, a framer whose callbacks have
//! spent the turn's budget ([`Transport::should_yield`]) stops, keeps the
//! rest, and asks to go on later ([`Transport::yield_reading`]), so a
//! 64 KiB read of short lines fanned out to a room of listeners does not
//! hold the loop (Twisted delivers every line of a read at once).
//!
//! Tests: `lines/tests/` (the harness in `mod.rs` feeds every input at every
//! chunk size; `buffer.rs`, `line_protocol.rs`, `line_only.rs`, and property
//! tests in `props.rs`) and the `lines` target of the fuzz crate at the
//! repository root.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::fmt;

use super::flow::{Flow, turn_spent};
use crate::error::Reason;
use crate::protocol::Protocol;
use crate::transport::Transport;

mod buffer;
mod line_only;
#[cfg(test)]
mod tests;

pub use buffer::{DEFAULT_DELIMITER, DEFAULT_MAX_LENGTH, LineBuffer, LineEvent};
pub use line_only::{LineOnlyConnection, LineOnlyProtocol, LineOnlyReceiver};

use buffer::Kind;

/// What a line-based protocol does with its lines: the handler run by
/// [`LineProtocol`]. (Under [`LineOnlyProtocol`], a [`LineOnlyReceiver`].)
///
/// Only [`line_received`](Self::line_received) is required. Each callback
/// gets the [`LineConnection`] it happens on.
///
/// Raw mode carries a body of known length in the middle of a line
/// protocol: a `PUT <n>` line, then `n` bytes that are not lines, then
/// lines again. The bytes after the body go back to the line framer:
///
/// ```
/// use gyre::protocols::{LineConnection, LineProtocol, LineReceiver};
/// use gyre::testing::StringTransport;
/// use gyre::Protocol;
///
/// #[derive(Default)]
/// struct Store {
///     expecting: usize,
///     body: Vec<u8>,
///     stored: Vec<Vec<u8>>,
/// }
///
/// impl LineReceiver for Store {
///     fn line_received(&mut self, conn: &LineConnection<'_>, line: &[u8]) {
///         let size = line.strip_prefix(b"PUT ").and_then(|n| std::str::from_utf8(n).ok()?.parse().ok());
///         match size {
///             Some(n) => {
///                 self.expecting = n;
///                 conn.set_raw_mode(); // the rest of this chunk arrives raw
///             }
///             None => conn.send_line(format!("{} stored", self.stored.len()).as_bytes()),
///         }
///     }
///
///     fn raw_data_received(&mut self, conn: &LineConnection<'_>, data: &[u8]) {
///         let take = data.len().min(self.expecting - self.body.len());
///         self.body.extend_from_slice(&data[..take]);
///         if self.body.len() == self.expecting {
///             self.stored.push(std::mem::take(&mut self.body));
///             conn.set_line_mode(&data[take..]); // what follows the body is lines again
///         }
///     }
/// }
///
/// let mut protocol = LineProtocol::new(Store::default());
/// let wire = StringTransport::new();
/// wire.make_connection(&mut protocol);
/// for chunk in [&b"PUT 5\r\nhel"[..], b"loPUT 3\r\nab", b"cCOUNT\r\n"] {
///     protocol.data_received(&wire.transport(), chunk);
/// }
/// assert_eq!(protocol.handler().stored, [&b"hello"[..], b"abc"]);
/// assert_eq!(wire.value(), b"2 stored\r\n");
/// assert!(protocol.is_line_mode());
/// ```
pub trait LineReceiver: 'static {
    /// A complete line arrived, without its delimiter (possibly empty).
    fn line_received(&mut self, conn: &LineConnection<'_>, line: &[u8]);

    /// The connection is established.
    fn connection_made(&mut self, conn: &LineConnection<'_>) {
        let _ = conn;
    }

    /// The connection is gone; `reason` says why. Called exactly once.
    fn connection_lost(&mut self, reason: Reason) {
        let _ = reason;
    }

    /// In raw mode ([`LineConnection::set_raw_mode`]), everything that
    /// arrives comes here instead of being split into lines. Ignored unless
    /// overridden.
    fn raw_data_received(&mut self, conn: &LineConnection<'_>, data: &[u8]) {
        let _ = (conn, data);
    }

    /// A line longer than [`max_length`](Self::max_length) arrived.
    ///
    /// Under [`LineProtocol`], `line` is everything that was buffered: the
    /// line, its delimiter if it arrived, and what followed (or, if no
    /// delimiter came within `max_length + delimiter.len()` bytes, those
    /// bytes). The default closes the connection.
    fn line_length_exceeded(&mut self, conn: &LineConnection<'_>, line: &[u8]) {
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

    /// Whether lines are wanted as text (default false). When true, under
    /// [`LineProtocol`] a line that is valid UTF-8 goes to
    /// [`text_line_received`](Self::text_line_received) and one that is not
    /// to [`line_received`](Self::line_received), which then sees only
    /// lines that are not UTF-8. Nothing else changes (framing, limits,
    /// modes, pausing).
    ///
    /// Asking for text costs less than decoding each line in
    /// `line_received`: the framer validates every complete line it has
    /// buffered in one pass (when the delimiter is itself UTF-8), which
    /// for short lines is two to three times faster than a `from_utf8`
    /// per line.
    ///
    /// ```
    /// use gyre::protocols::{LineConnection, LineProtocol, LineReceiver};
    /// use gyre::testing::StringTransport;
    /// use gyre::Protocol;
    ///
    /// #[derive(Default)]
    /// struct Words {
    ///     words: usize,
    ///     not_text: usize,
    /// }
    ///
    /// impl LineReceiver for Words {
    ///     fn utf8_lines(&self) -> bool {
    ///         true
    ///     }
    ///     fn text_line_received(&mut self, _conn: &LineConnection<'_>, line: &str) {
    ///         self.words += line.split_whitespace().count();
    ///     }
    ///     fn line_received(&mut self, _conn: &LineConnection<'_>, _line: &[u8]) {
    ///         self.not_text += 1;
    ///     }
    /// }
    ///
    /// let mut protocol = LineProtocol::new(Words::default());
    /// let wire = StringTransport::new();
    /// wire.make_connection(&mut protocol);
    /// protocol.data_received(&wire.transport(), b"caf\xc3\xa9 cr\xc3");
    /// protocol.data_received(&wire.transport(), b"\xa8me\r\n\xff\r\nna\xc3\xafve\r\n");
    /// assert_eq!(protocol.handler().words, 3);
    /// assert_eq!(protocol.handler().not_text, 1);
    /// ```
    fn utf8_lines(&self) -> bool {
        false
    }

    /// A complete line that is valid UTF-8, without its delimiter, when
    /// [`utf8_lines`](Self::utf8_lines) is true. The default hands its
    /// bytes to [`line_received`](Self::line_received).
    fn text_line_received(&mut self, conn: &LineConnection<'_>, line: &str) {
        self.line_received(conn, line.as_bytes())
    }
}

/// The connection a [`LineReceiver`] callback happens on: write lines, and
/// steer the framer.
///
/// A [`LineOnlyProtocol`] hands its handler a [`LineOnlyConnection`]
/// instead, which has no framer to steer.
pub struct LineConnection<'a> {
    transport: &'a Transport,
    delimiter: &'a [u8],
    framer: Framer<'a>,
}

/// What a [`LineConnection`] of a [`LineProtocol`] can reach: the staging
/// area, and the bytes buffered after the current event.
#[derive(Clone, Copy)]
struct Framer<'a> {
    control: &'a Control,
    rest: &'a [u8],
}

impl<'a> LineConnection<'a> {
    /// The connection's transport.
    pub fn transport(&self) -> &'a Transport {
        self.transport
    }

    /// The delimiter in force.
    pub fn delimiter(&self) -> &'a [u8] {
        self.delimiter
    }

    /// Sends `line` followed by the delimiter, as one `write`.
    pub fn send_line(&self, line: &[u8]) {
        self.framer
            .control
            .send_line(self.transport, line, self.delimiter)
    }

    /// From now on, hands everything received (what is still buffered
    /// included) to [`raw_data_received`](LineReceiver::raw_data_received).
    pub fn set_raw_mode(&self) {
        self.framer.control.mode.set(Some(Mode::Raw));
    }

    /// Back to lines; `extra` (typically the unconsumed tail of a raw chunk)
    /// is fed in again after whatever is buffered.
    pub fn set_line_mode(&self, extra: &[u8]) {
        let control = self.framer.control;
        control.mode.set(Some(Mode::Line));
        control.fed.borrow_mut().extend_from_slice(extra);
    }

    /// Returns the bytes buffered after the current line (and any fed by
    /// `set_line_mode` in this callback) and empties the buffer: no further
    /// line is delivered from them.
    pub fn clear_line_buffer(&self) -> Vec<u8> {
        let Framer { control, rest } = self.framer;
        let mut out = if control.cleared.replace(true) {
            Vec::new()
        } else {
            rest.to_vec()
        };
        out.append(&mut control.fed.borrow_mut());
        out
    }

    /// Stops delivering lines, even from data already buffered, and pauses
    /// the transport's reading, until [`LineProtocol::resume_producing`]
    /// (or `resume_producing` here).
    pub fn pause_producing(&self) {
        self.framer.control.flow.pause(Some(self.transport));
    }

    /// Undoes [`pause_producing`](Self::pause_producing): resumes the
    /// transport's reading and delivery of buffered lines (when this
    /// callback returns).
    pub fn resume_producing(&self) {
        self.framer.control.flow.resume(Some(self.transport));
    }

    /// Pauses for good and closes the connection (Twisted's `stopProducing`).
    pub fn stop_producing(&self) {
        self.framer.control.flow.stop(Some(self.transport));
    }

    /// True while paused.
    pub fn is_paused(&self) -> bool {
        self.framer.control.flow.is_paused()
    }

    /// The connection a [`LineProtocol`] hands its handler: it steers the
    /// framer through `control`, and sees what `buffer` holds after the
    /// current event.
    fn framed(transport: &'a Transport, buffer: &'a LineBuffer, control: &'a Control) -> Self {
        LineConnection {
            transport,
            delimiter: buffer.delimiter(),
            framer: Framer {
                control,
                rest: buffer.buffered(),
            },
        }
    }
}

impl fmt::Debug for LineConnection<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineConnection")
            .field("transport", self.transport)
            .field("delimiter", &self.delimiter.escape_ascii().to_string())
            .finish()
    }
}

/// The mode a callback asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Line,
    Raw,
}

/// A [`LineProtocol`]'s state that its handler may change through a
/// [`LineConnection`] while the buffer is lent out.
///
/// `flow` (the paused flag, `flow.rs`) takes effect at once. The rest is
/// staged: `fed` (bytes fed again by `set_line_mode`), `cleared` (the
/// buffer was emptied) and `mode` (the last mode asked for) are applied to
/// the [`LineBuffer`] by [`apply`](Control::apply) after the callback, in
/// that order — which gives Twisted's results, because data fed during a
/// callback is only appended. `line` is scratch space for `send_line`, so
/// that sending a line does not allocate.
#[derive(Default)]
struct Control {
    flow: Flow,
    fed: RefCell<Vec<u8>>,
    cleared: Cell<bool>,
    mode: Cell<Option<Mode>>,
    line: RefCell<Vec<u8>>,
}

impl Control {
    fn send_line(&self, transport: &Transport, line: &[u8], delimiter: &[u8]) {
        let mut out = self.line.borrow_mut();
        out.clear();
        out.extend_from_slice(line);
        out.extend_from_slice(delimiter);
        transport.write(&out);
    }

    /// Whether a callback staged something for [`apply`](Self::apply).
    fn staged(&self) -> bool {
        self.cleared.get() || self.mode.get().is_some() || !self.fed.borrow().is_empty()
    }

    /// Applies what a callback staged.
    fn apply(&self, buffer: &mut LineBuffer) {
        if self.cleared.replace(false) {
            buffer.discard();
        }
        let mut fed = self.fed.borrow_mut();
        if !fed.is_empty() {
            buffer.feed(&fed);
            fed.clear();
        }
        match self.mode.take() {
            Some(Mode::Raw) => buffer.set_raw_mode(),
            Some(Mode::Line) => buffer.set_line_mode(),
            None => {}
        }
    }
}

/// Runs a [`LineReceiver`] on a connection, with Twisted's `LineReceiver`
/// semantics (reference §9.1): lines, raw mode, pausing.
///
/// ```
/// use gyre::protocols::{LineConnection, LineProtocol, LineReceiver};
/// use gyre::testing::StringTransport;
/// use gyre::Protocol;
///
/// struct Upper;
///
/// impl LineReceiver for Upper {
///     fn line_received(&mut self, conn: &LineConnection<'_>, line: &[u8]) {
///         conn.send_line(&line.to_ascii_uppercase())
///     }
/// }
///
/// let st = StringTransport::new();
/// let mut proto = LineProtocol::new(Upper);
/// st.make_connection(&mut proto);
/// proto.data_received(&st.transport(), b"hello\r\nwor");
/// proto.data_received(&st.transport(), b"ld\r\n");
/// assert_eq!(st.value(), b"HELLO\r\nWORLD\r\n");
/// ```
///
/// The steering methods here ([`set_raw_mode`](Self::set_raw_mode),
/// [`resume_producing`](Self::resume_producing), …) are for code outside the
/// handler's callbacks, such as a timer holding the protocol in a shared
/// cell (see [`Connected`](crate::endpoint::Connected)); inside a callback,
/// use the [`LineConnection`].
pub struct LineProtocol<H> {
    handler: H,
    buffer: LineBuffer,
    control: Control,
    transport: Option<Transport>,
}

impl<H: LineReceiver> LineProtocol<H> {
    /// Wraps `handler`.
    pub fn new(handler: H) -> LineProtocol<H> {
        let buffer = LineBuffer::with_delimiter(handler.delimiter(), handler.max_length());
        LineProtocol {
            handler,
            buffer,
            control: Control::default(),
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

    /// The bytes received and not yet delivered.
    pub fn buffered(&self) -> &[u8] {
        self.buffer.buffered()
    }

    /// True in line mode, false in raw mode.
    pub fn is_line_mode(&self) -> bool {
        self.buffer.is_line_mode()
    }

    /// True while paused.
    pub fn is_paused(&self) -> bool {
        self.control.flow.is_paused()
    }

    /// Sends `line` and the delimiter in one write. Does nothing before
    /// the connection is made.
    pub fn send_line(&self, line: &[u8]) {
        if let Some(transport) = &self.transport {
            self.control
                .send_line(transport, line, self.handler.delimiter());
        }
    }

    /// Hands everything received from now on (and what is buffered) to
    /// `raw_data_received`, at the next data.
    pub fn set_raw_mode(&mut self) {
        self.buffer.set_raw_mode();
    }

    /// Back to lines; a non-empty `extra` is fed in as if received, and
    /// everything buffered is processed at once.
    pub fn set_line_mode(&mut self, extra: &[u8]) {
        self.buffer.set_line_mode();
        if !extra.is_empty() {
            self.buffer.feed(extra);
            self.process_now();
        }
    }

    /// Returns the buffered bytes and empties the buffer.
    pub fn clear_line_buffer(&mut self) -> Vec<u8> {
        self.buffer.clear()
    }

    /// Stops delivering lines, even from data already buffered, and pauses
    /// the transport's reading.
    pub fn pause_producing(&mut self) {
        self.control.flow.pause(self.transport.as_ref());
    }

    /// Resumes the transport's reading and delivers what is buffered.
    pub fn resume_producing(&mut self) {
        self.control.flow.resume(self.transport.as_ref());
        self.process_now();
    }

    /// Pauses for good and closes the connection.
    pub fn stop_producing(&mut self) {
        self.control.flow.stop(self.transport.as_ref());
    }

    /// Delivers what is buffered, if connected.
    fn process_now(&mut self) {
        if let Some(transport) = self.transport.clone() {
            self.process(&transport);
        }
    }

    /// The framing loop: hands out events until the buffer has none, the
    /// protocol is paused, the transport is disconnecting, or a line was
    /// too long. Each callback's staged changes are applied before the next
    /// event is framed.
    fn process(&mut self, transport: &Transport) {
        let LineProtocol {
            handler,
            buffer,
            control,
            ..
        } = self;
        while control.flow.may_deliver(transport) {
            buffer.set_delimiter(handler.delimiter());
            buffer.set_max_length(handler.max_length());
            let text = handler.utf8_lines();
            if text && buffer.is_line_mode() {
                let (used, end) = deliver_text(handler, buffer, control, transport);
                if used > 0 {
                    buffer.consume(used);
                    control.apply(buffer);
                    let spent = match end {
                        BatchEnd::Spent => true,
                        BatchEnd::Done => false,
                        BatchEnd::Changed => turn_spent(transport, !buffer.buffered().is_empty()),
                    };
                    if spent {
                        break;
                    }
                    continue;
                }
            }
            let Some((kind, range)) = buffer.advance() else {
                break;
            };
            let conn = LineConnection::framed(transport, buffer, control);
            let data = buffer.slice(range);
            match kind {
                Kind::Line if text => match std::str::from_utf8(data) {
                    Ok(line) => handler.text_line_received(&conn, line),
                    Err(_) => handler.line_received(&conn, data),
                },
                Kind::Line => handler.line_received(&conn, data),
                Kind::Raw => handler.raw_data_received(&conn, data),
                Kind::LineTooLong => handler.line_length_exceeded(&conn, data),
            }
            control.apply(buffer);
            if kind == Kind::LineTooLong {
                break;
            }
            if turn_spent(transport, !buffer.buffered().is_empty()) {
                // This turn's work is done: the rest is delivered on a
                // later turn (`data_received` with no bytes), after the
                // reactor has served the others.
                break;
            }
        }
    }
}

/// The most bytes [`deliver_text`] validates in one pass: past a few
/// kilobytes a longer pass saves nothing.
const TEXT_BATCH: usize = 8 * 1024;

/// Why [`deliver_text`] stopped.
enum BatchEnd {
    /// No more lines in the batch; the turn is not spent.
    Done,
    /// The turn is spent (and `yield_reading` was called).
    Spent,
    /// A callback changed something the batch cannot see; whether the turn
    /// is spent is for the caller to ask, after applying the change.
    Changed,
}

/// Text lines, many at a time: validates every complete line `buffer`
/// holds with one `from_utf8` (up to the last delimiter before the first
/// byte that is not UTF-8) and hands them to `text_line_received` in order,
/// each callback seeing what follows its line as the general path would
/// show it. Stops when a callback changed what the batch cannot see (it
/// staged a change, paused, changed the delimiter or the limit), at a line
/// over the limit, or when the turn is spent. Returns the bytes delivered
/// and why it stopped; 0 bytes leaves the next event (a line that is not
/// UTF-8, a line too long, or nothing yet) to the general path.
fn deliver_text<H: LineReceiver>(
    handler: &mut H,
    buffer: &LineBuffer,
    control: &Control,
    transport: &Transport,
) -> (usize, BatchEnd) {
    let delimiter = buffer.delimiter();
    let dlen = delimiter.len();
    // Only a delimiter that is UTF-8 itself is sure to cut valid text at
    // character boundaries.
    if std::str::from_utf8(delimiter).is_err() {
        return (0, BatchEnd::Done);
    }
    let bytes = buffer.buffered();
    // At most TEXT_BATCH bytes are validated at once (or one line, if it
    // is longer), so that a turn which ends early does not leave much
    // validated work to be done again on the next.
    let window = &bytes[..bytes.len().min(TEXT_BATCH)];
    let Some(last) = buffer::rfind(window, delimiter).or_else(|| buffer::find(bytes, delimiter))
    else {
        return (0, BatchEnd::Done);
    };
    let text = match std::str::from_utf8(&bytes[..last + dlen]) {
        Ok(text) => text,
        Err(e) => {
            let valid = &bytes[..e.valid_up_to()];
            match buffer::rfind(valid, delimiter) {
                Some(at) => match std::str::from_utf8(&valid[..at + dlen]) {
                    Ok(text) => text,
                    Err(_) => return (0, BatchEnd::Done),
                },
                None => return (0, BatchEnd::Done),
            }
        }
    };
    let max = buffer.max_length();
    let mut pos = 0;
    while pos < text.len() {
        let Some(len) = buffer::find(&text.as_bytes()[pos..], delimiter) else {
            break;
        };
        let Some(line) = text.get(pos..pos + len).filter(|_| len <= max) else {
            break;
        };
        pos += len + dlen;
        let conn = LineConnection {
            transport,
            delimiter,
            framer: Framer {
                control,
                rest: &bytes[pos..],
            },
        };
        handler.text_line_received(&conn, line);
        if control.staged()
            || !control.flow.may_deliver(transport)
            || !buffer::same_bytes(handler.delimiter(), delimiter)
            || handler.max_length() != max
        {
            return (pos, BatchEnd::Changed);
        }
        if turn_spent(transport, pos < bytes.len()) {
            return (pos, BatchEnd::Spent);
        }
    }
    (pos, BatchEnd::Done)
}

impl<H: LineReceiver> Protocol for LineProtocol<H> {
    fn connection_made(&mut self, transport: &Transport) {
        self.transport = Some(transport.clone());
        let LineProtocol {
            handler,
            buffer,
            control,
            ..
        } = self;
        buffer.set_delimiter(handler.delimiter());
        let conn = LineConnection::framed(transport, buffer, control);
        handler.connection_made(&conn);
        control.apply(buffer);
        self.process(transport);
    }

    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        self.buffer.feed(data);
        self.process(transport);
    }

    fn connection_lost(&mut self, reason: Reason) {
        self.handler.connection_lost(reason);
    }

    fn log_prefix(&self) -> Cow<'static, str> {
        crate::log::short_type_name::<H>()
    }
}

impl<H: 'static> fmt::Debug for LineProtocol<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineProtocol")
            .field("handler", &crate::log::short_type_name::<H>())
            .field("buffer", &self.buffer)
            .field("paused", &self.control.flow.is_paused())
            .finish()
    }
}
