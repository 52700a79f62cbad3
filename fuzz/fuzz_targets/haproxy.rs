//! Fuzzes the PROXY protocol reader (`gyre::haproxy`): the sans-I/O
//! parser and the receiving wrapper around a recording protocol.
//!
//! Input layout: byte 0 picks a chunk size, byte 1 the header limit (small,
//! to reach it often, or the default); the rest is the stream. A few
//! valid headers start the stream more often when byte 1's top bit is set
//! (the input then follows a v2 signature), so the fuzzer gets past it.
//!
//! Checked, for every input:
//! * nothing panics;
//! * the parser is consistent as bytes arrive: every prefix of the stream
//!   is `Incomplete` until the first that is not, and every longer one
//!   gives that same answer;
//! * a header read takes at most the limit and the bytes given, and
//!   encodes back to bytes that read as the same header;
//! * the wrapper, fed whole or in chunks, makes its protocol exactly when
//!   the parser finds a header, hands it exactly the bytes after it, and
//!   aborts the connection exactly when the parser refuses the bytes.
//!
//! Run: `cargo fuzz run haproxy -s none` from the repository root.

#![no_main]

use std::cell::RefCell;
use std::rc::Rc;

use gyre::haproxy::{AcceptProxy, AcceptSettings, DEFAULT_MAX_HEADER_LEN, Parsed, V2_SIGNATURE, parse};
use gyre::testing::{StringTransport, VirtualClock};
use gyre::{Protocol, Reason, Transport};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Made,
    Data(Vec<u8>),
}

struct Recorder(Rc<RefCell<Vec<Seen>>>);

impl Protocol for Recorder {
    fn connection_made(&mut self, _: &Transport) {
        self.0.borrow_mut().push(Seen::Made);
    }
    fn data_received(&mut self, _: &Transport, data: &[u8]) {
        let mut seen = self.0.borrow_mut();
        match seen.last_mut() {
            Some(Seen::Data(all)) => all.extend_from_slice(data),
            _ => seen.push(Seen::Data(data.to_vec())),
        }
    }
    fn connection_lost(&mut self, _: Reason) {}
}

/// Feeds `data` in `chunk`-byte reads; returns what the protocol saw and
/// whether the connection was aborted.
fn through_wrapper(data: &[u8], chunk: usize, max: usize) -> (Vec<Seen>, bool) {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let settings = AcceptSettings::new(&VirtualClock::new()).with_max_header_len(max);
    let mut protocol = AcceptProxy::new(Recorder(seen.clone()), settings);
    let st = StringTransport::new();
    st.make_connection(&mut protocol);
    for piece in data.chunks(chunk.max(1)) {
        protocol.data_received(&st.transport(), piece);
    }
    protocol.connection_lost(Reason::Done);
    let seen = seen.borrow().clone();
    (seen, st.is_aborted())
}

fuzz_target!(|input: &[u8]| {
    let [chunk, limit, rest @ ..] = input else {
        return;
    };
    let chunk = usize::from(*chunk % 64) + 1;
    let max = match limit & 0x7f {
        0x7f => DEFAULT_MAX_HEADER_LEN,
        m => usize::from(m) * 4,
    };
    let data = if limit & 0x80 != 0 {
        [&V2_SIGNATURE[..], rest].concat()
    } else {
        rest.to_vec()
    };

    // Consistent as bytes arrive.
    let whole = parse(&data, max);
    let mut decided: Option<(usize, Parsed)> = None;
    for k in 0..=data.len().min(600) {
        let now = parse(&data[..k], max);
        match &decided {
            None if now == Parsed::Incomplete => {}
            None => decided = Some((k, now)),
            Some((at, first)) => assert_eq!(&now, first, "decided at {at}, changed at {k}"),
        }
    }
    if data.len() <= 600 {
        let settled = decided.map(|(_, p)| p).unwrap_or(Parsed::Incomplete);
        assert_eq!(settled, whole);
    }

    // A header read fits, and encodes back to itself.
    if let Parsed::Done(header, used) = &whole {
        assert!(*used <= max && *used <= data.len());
        let bytes = header.encode().expect("a header read can be written");
        assert_eq!(parse(&bytes, usize::MAX), Parsed::Done(header.clone(), bytes.len()));
    }

    // The wrapper does what the parser says, whatever the chunking.
    let expected = match &whole {
        Parsed::Done(_, used) => {
            let mut seen = vec![Seen::Made];
            if *used < data.len() {
                seen.push(Seen::Data(data[*used..].to_vec()));
            }
            (seen, false)
        }
        Parsed::Invalid(_) => (Vec::new(), true),
        Parsed::Incomplete => (Vec::new(), false),
    };
    assert_eq!(through_wrapper(&data, data.len(), max), expected);
    assert_eq!(through_wrapper(&data, chunk, max), expected);
});
