//! Fuzzes the four string framers (`gyre::protocols::strings`).
//!
//! The first input byte picks a chunk size, the second a `max_length`
//! (small, to reach the limit often, or the default); the rest is fed to
//! each framer twice, whole and in chunks. Checked: nothing panics, no
//! string longer than `max_length` is delivered, nothing is delivered once
//! the connection is closing, and the chunking does not change the outcome.

#![no_main]

use std::cell::RefCell;
use std::rc::Rc;

use gyre::Protocol;
use gyre::protocols::{
    Int8StringProtocol, Int16StringProtocol, Int32StringProtocol,
    NetstringProtocol, StringConnection, StringReceiver,
};
use gyre::protocols::strings::DEFAULT_MAX_LENGTH;
use gyre::testing::StringTransport;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    String(Vec<u8>),
    Exceeded(usize),
}

struct Recorder {
    events: Rc<RefCell<Vec<Event>>>,
    max: usize,
}

impl StringReceiver for Recorder {
    fn string_received(&mut self, conn: &StringConnection<'_>, s: &[u8]) {
        assert!(
            !conn.transport().is_disconnecting(),
            "delivered after close"
        );
        assert!(
            s.len() <= self.max,
            "{} bytes delivered, max {}",
            s.len(),
            self.max
        );
        self.events.borrow_mut().push(Event::String(s.to_vec()));
    }

    fn length_limit_exceeded(&mut self, conn: &StringConnection<'_>, length: usize) {
        assert!(length > self.max);
        self.events.borrow_mut().push(Event::Exceeded(length));
        conn.transport().lose_connection();
    }

    fn max_length(&self) -> usize {
        self.max
    }
}

fn run(kind: u8, max: usize, data: &[u8], chunk: usize) -> (Vec<Event>, bool) {
    let events = Rc::new(RefCell::new(Vec::new()));
    let handler = Recorder {
        events: events.clone(),
        max,
    };
    let mut protocol: Box<dyn Protocol> = match kind {
        0 => Box::new(Int8StringProtocol::new(handler)),
        1 => Box::new(Int16StringProtocol::new(handler)),
        2 => Box::new(Int32StringProtocol::new(handler)),
        _ => Box::new(NetstringProtocol::new(handler)),
    };
    let st = StringTransport::new();
    st.make_connection(&mut protocol);
    for piece in data.chunks(chunk.max(1)) {
        protocol.data_received(&st.transport(), piece);
    }
    let events = events.borrow().clone();
    (events, st.is_disconnecting())
}

fuzz_target!(|input: &[u8]| {
    let [chunk, max, data @ ..] = input else {
        return;
    };
    let chunk = usize::from(*chunk) + 1;
    let max = match max {
        255 => DEFAULT_MAX_LENGTH,
        m => usize::from(*m),
    };
    for kind in 0..4 {
        let whole = run(kind, max, data, data.len());
        let chunked = run(kind, max, data, chunk);
        assert_eq!(
            whole, chunked,
            "framer {kind}: chunk size {chunk} changed the outcome"
        );
    }
});
