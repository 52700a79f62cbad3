//! Tests of the line framers, through `StringTransport`.
//!
//! Most inputs are fed at every chunk size from one byte up to their whole
//! length ([`every_chunking`]), and every run must end the same way. Where
//! Twisted's own results depend on the chunking, the comparison normalises
//! them: adjacent raw chunks are joined, and the argument of
//! `line_length_exceeded` is compared up to the length at which an
//! unterminated line is already known to be too long.

use std::cell::Cell;
use std::fmt::Debug;
use std::rc::Rc;

use super::buffer::find;
use super::*;
use crate::testing::{ProducerState, StringTransport};
use crate::transport::Write;

mod buffer;
mod line_only;
mod line_protocol;
mod props;

/// One callback a [`Rec`] received.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Line(Vec<u8>),
    Raw(Vec<u8>),
    TooLong(Vec<u8>),
}

type Hook = fn(&mut Rec, &LineConnection<'_>, &[u8]);

/// A hook run under `LineOnlyProtocol`.
type OnlyHook = fn(&mut Rec, &LineOnlyConnection<'_>, &[u8]);

/// A handler that records its callbacks and runs a configurable hook in each.
struct Rec {
    events: Vec<Ev>,
    delimiter: Vec<u8>,
    max_length: usize,
    on_made: fn(&LineConnection<'_>),
    on_line: Hook,
    on_raw: Hook,
    on_too_long: Hook,
    only_on_line: OnlyHook,
    only_on_too_long: OnlyHook,
    /// Raw bytes consumed (see [`back_to_lines_after_end`]).
    raw: Vec<u8>,
    /// What `clear_line_buffer` returned inside callbacks.
    cleared: Vec<Vec<u8>>,
    lost: Option<Reason>,
    /// Asks for text lines ([`LineReceiver::utf8_lines`]).
    text: bool,
    /// In text mode: how many lines came as text, and the lines that came
    /// as bytes.
    texts: usize,
    not_text: Vec<Vec<u8>>,
}

impl Rec {
    fn new() -> Rec {
        Rec {
            events: Vec::new(),
            delimiter: DEFAULT_DELIMITER.to_vec(),
            max_length: DEFAULT_MAX_LENGTH,
            on_made: |_| {},
            on_line: |_, _, _| {},
            on_raw: |_, _, _| {},
            on_too_long: |_, conn, _| conn.transport().lose_connection(),
            only_on_line: |_, _, _| {},
            only_on_too_long: |_, conn, _| conn.transport().lose_connection(),
            raw: Vec::new(),
            cleared: Vec::new(),
            lost: None,
            text: false,
            texts: 0,
            not_text: Vec::new(),
        }
    }

    /// Asks for text lines.
    fn text(mut self) -> Rec {
        self.text = true;
        self
    }

    fn delimiter(mut self, delimiter: &[u8]) -> Rec {
        self.delimiter = delimiter.to_vec();
        self
    }

    fn max(mut self, max_length: usize) -> Rec {
        self.max_length = max_length;
        self
    }

    fn on_line(mut self, hook: Hook) -> Rec {
        self.on_line = hook;
        self
    }

    fn on_raw(mut self, hook: Hook) -> Rec {
        self.on_raw = hook;
        self
    }

    fn on_too_long(mut self, hook: Hook) -> Rec {
        self.on_too_long = hook;
        self
    }

    fn only_on_line(mut self, hook: OnlyHook) -> Rec {
        self.only_on_line = hook;
        self
    }

    fn only_on_too_long(mut self, hook: OnlyHook) -> Rec {
        self.only_on_too_long = hook;
        self
    }

    fn lines(&self) -> Vec<Vec<u8>> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Ev::Line(l) => Some(l.clone()),
                _ => None,
            })
            .collect()
    }

    /// The events with adjacent raw chunks joined and each too-long argument
    /// cut to `limit` bytes: what every chunking must agree on.
    fn normalised(&self, limit: usize) -> Vec<Ev> {
        let mut out: Vec<Ev> = Vec::new();
        for e in &self.events {
            match (e, out.last_mut()) {
                (Ev::Raw(more), Some(Ev::Raw(raw))) => raw.extend_from_slice(more),
                (Ev::TooLong(arg), _) => {
                    out.push(Ev::TooLong(arg[..arg.len().min(limit)].to_vec()))
                }
                _ => out.push(e.clone()),
            }
        }
        out
    }
}

impl LineReceiver for Rec {
    fn connection_made(&mut self, conn: &LineConnection<'_>) {
        (self.on_made)(conn)
    }
    fn line_received(&mut self, conn: &LineConnection<'_>, line: &[u8]) {
        if self.text {
            self.not_text.push(line.to_vec());
        }
        self.events.push(Ev::Line(line.to_vec()));
        (self.on_line)(self, conn, line)
    }
    fn utf8_lines(&self) -> bool {
        self.text
    }
    fn text_line_received(&mut self, conn: &LineConnection<'_>, line: &str) {
        self.texts += 1;
        self.events.push(Ev::Line(line.as_bytes().to_vec()));
        (self.on_line)(self, conn, line.as_bytes())
    }
    fn raw_data_received(&mut self, conn: &LineConnection<'_>, data: &[u8]) {
        self.events.push(Ev::Raw(data.to_vec()));
        (self.on_raw)(self, conn, data)
    }
    fn line_length_exceeded(&mut self, conn: &LineConnection<'_>, line: &[u8]) {
        self.events.push(Ev::TooLong(line.to_vec()));
        (self.on_too_long)(self, conn, line)
    }
    fn connection_lost(&mut self, reason: Reason) {
        self.lost = Some(reason);
    }
    fn delimiter(&self) -> &[u8] {
        &self.delimiter
    }
    fn max_length(&self) -> usize {
        self.max_length
    }
}

impl LineOnlyReceiver for Rec {
    fn line_received(&mut self, conn: &LineOnlyConnection<'_>, line: &[u8]) {
        self.events.push(Ev::Line(line.to_vec()));
        (self.only_on_line)(self, conn, line)
    }
    fn line_length_exceeded(&mut self, conn: &LineOnlyConnection<'_>, line: &[u8]) {
        self.events.push(Ev::TooLong(line.to_vec()));
        (self.only_on_too_long)(self, conn, line)
    }
    fn connection_lost(&mut self, reason: Reason) {
        self.lost = Some(reason);
    }
    fn delimiter(&self) -> &[u8] {
        &self.delimiter
    }
    fn max_length(&self) -> usize {
        self.max_length
    }
}

/// Connects `protocol` to a fresh `StringTransport`.
fn connected<P: Protocol>(mut protocol: P) -> (P, StringTransport) {
    let st = StringTransport::new();
    st.make_connection(&mut protocol);
    (protocol, st)
}

/// Feeds `input` in chunks of `size` bytes.
fn feed<P: Protocol>(protocol: &mut P, st: &StringTransport, input: &[u8], size: usize) {
    for chunk in input.chunks(size.max(1)) {
        protocol.data_received(&st.transport(), chunk);
    }
}

/// Feeds `input` to a fresh protocol at every chunk size from 1 to its
/// length, asserts that `outcome` is the same after every run, and returns it.
#[track_caller]
fn every_chunking<P: Protocol, R: PartialEq + Debug>(
    input: &[u8],
    make: impl Fn() -> P,
    outcome: impl Fn(&mut P, &StringTransport) -> R,
) -> R {
    let (mut p, st) = connected(make());
    feed(&mut p, &st, input, input.len());
    let whole = outcome(&mut p, &st);
    for size in 1..input.len() {
        let (mut p, st) = connected(make());
        feed(&mut p, &st, input, size);
        let got = outcome(&mut p, &st);
        assert!(
            got == whole,
            "chunks of {size}: {got:?}\nwhole input: {whole:?}"
        );
    }
    whole
}

/// Events normalised for [`LineProtocol`], what was written, and whether it closed.
fn summary(p: &mut LineProtocol<Rec>, st: &StringTransport) -> (Vec<Ev>, Vec<u8>, bool) {
    let limit = p.handler().max_length + p.handler().delimiter.len();
    (
        p.handler().normalised(limit),
        st.value(),
        st.is_disconnecting(),
    )
}

/// Events normalised for [`LineOnlyProtocol`], what was written, and whether it closed.
fn summary_only(p: &mut LineOnlyProtocol<Rec>, st: &StringTransport) -> (Vec<Ev>, Vec<u8>, bool) {
    let limit = p.handler().max_length + 1;
    (
        p.handler().normalised(limit),
        st.value(),
        st.is_disconnecting(),
    )
}

fn line(l: &[u8]) -> Ev {
    Ev::Line(l.to_vec())
}

fn a_line(len: usize) -> Vec<u8> {
    vec![b'a'; len]
}

/// What the text-lines tests' handler does on a line, by its first
/// byte: `c` clears the buffer, `r` goes raw (an `L` in raw data comes
/// back to lines), `p` pauses, `d` changes the delimiter to `\n`, `m`
/// the limit to 5.
fn steer(rec: &mut Rec, conn: &LineConnection<'_>, line: &[u8]) {
    match line.first() {
        Some(b'c') => {
            let rest = conn.clear_line_buffer();
            rec.cleared.push(rest);
        }
        Some(b'r') => conn.set_raw_mode(),
        Some(b'p') => conn.pause_producing(),
        Some(b'd') => rec.delimiter = b"\n".to_vec(),
        Some(b'm') => rec.max_length = 5,
        _ => {}
    }
}

/// Back to lines after an `L` in raw data, with what follows it.
fn lines_after_l(_: &mut Rec, conn: &LineConnection<'_>, data: &[u8]) {
    if let Some(at) = data.iter().position(|&b| b == b'L') {
        conn.set_line_mode(&data[at + 1..]);
    }
}

/// Switches to raw mode on the line `RAW`.
fn raw_on_raw(_: &mut Rec, conn: &LineConnection<'_>, line: &[u8]) {
    if line == b"RAW" {
        conn.set_raw_mode();
    }
}

/// A transport that counts `write` and `write_sequence` calls.
struct Counting {
    inner: StringTransport,
    writes: Rc<Cell<usize>>,
    sequences: Rc<Cell<usize>>,
}

fn counting() -> (Rc<Counting>, Transport) {
    let c = Rc::new(Counting {
        inner: StringTransport::new(),
        writes: Rc::new(Cell::new(0)),
        sequences: Rc::new(Cell::new(0)),
    });
    let (w, q) = (c.writes.clone(), c.sequences.clone());
    let t = c.inner.transport().observe(move |write| match write {
        Write::Bytes(_) => w.set(w.get() + 1),
        Write::Sequence(_) => q.set(q.get() + 1),
    });
    (c, t)
}

/// Echoes each line back.
fn echo(_: &mut Rec, conn: &LineConnection<'_>, line: &[u8]) {
    conn.send_line(line);
}
