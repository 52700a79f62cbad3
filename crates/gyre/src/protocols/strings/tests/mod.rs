//! Tests of the string framers, through `StringTransport`.
//!
//! The harness: a [`Recorder`] handler, the four framings as [`Kind`]s,
//! and runs that feed an input in given chunks ([`run_chunks`]), in chunks
//! of one size ([`run_sized`]) or at every chunk size from one byte up
//! ([`every_chunking`], which checks that every run ends the same way).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::encode::Framing;
use super::*;
use crate::protocol::Protocol;
use crate::testing::StringTransport;
use crate::transport::{PushProducer, Transport};

mod flow;
mod netstring;
mod prefixed;
mod props;
mod sending;

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
