//! Fuzzes the line framers: arbitrary bytes, split at fuzzer-chosen points,
//! fed to `LineProtocol` and `LineOnlyProtocol` through a `StringTransport`.
//!
//! Input layout: byte 0 picks the length limit, byte 1 the delimiter (and,
//! with its top bit, a handler that steers the framer), byte 2 the number of
//! cut points, then two bytes per cut point, then the stream itself.
//!
//! Checked, for every input:
//! * nothing panics, and the steering handler's run terminates;
//! * no delivered line is longer than the limit or holds the delimiter;
//! * `LineProtocol` with a recording handler accounts for every byte: the
//!   lines with their delimiters, the too-long arguments and what is still
//!   buffered are the input, in order;
//! * `LineOnlyProtocol`'s lines with their delimiters are a prefix of the input;
//! * split or whole, the input gives the same events (too-long arguments
//!   compared up to the point where a line is known to be too long), and the
//!   same decision to close.
//!
//! Run: `cargo fuzz run lines` from the repository root.

#![no_main]

use gyre::Protocol;
use gyre::protocols::{
    LineConnection, LineOnlyConnection, LineOnlyProtocol, LineOnlyReceiver, LineProtocol,
    LineReceiver,
};
use gyre::testing::StringTransport;
use libfuzzer_sys::fuzz_target;

const DELIMITERS: [&[u8]; 6] = [b"\r\n", b"\n", b"aab", b"--", b"\r\n\r\n", b"\0"];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Line(Vec<u8>),
    Raw(Vec<u8>),
    TooLong(Vec<u8>),
}

/// Records its events; with `steer`, also drives the framer from the data.
struct Rec {
    events: Vec<Ev>,
    delimiter: &'static [u8],
    max_length: usize,
    steer: bool,
    /// Bounds how often the steering handler feeds data back in.
    refeeds: u32,
}

impl Rec {
    fn new(delimiter: &'static [u8], max_length: usize, steer: bool) -> Rec {
        Rec {
            events: Vec::new(),
            delimiter,
            max_length,
            steer,
            refeeds: 0,
        }
    }

    fn lines(&self) -> impl Iterator<Item = &[u8]> {
        self.events.iter().filter_map(|e| match e {
            Ev::Line(l) => Some(&l[..]),
            _ => None,
        })
    }

    /// Events with each too-long argument cut to `limit` bytes.
    fn normalised(&self, limit: usize) -> Vec<Ev> {
        let cut = |e: &Ev| match e {
            Ev::TooLong(arg) => Ev::TooLong(arg[..arg.len().min(limit)].to_vec()),
            other => other.clone(),
        };
        self.events.iter().map(cut).collect()
    }
}

impl LineReceiver for Rec {
    fn line_received(&mut self, conn: &LineConnection<'_>, line: &[u8]) {
        self.events.push(Ev::Line(line.to_vec()));
        if !self.steer {
            return;
        }
        match line.first() {
            Some(b'R') => conn.set_raw_mode(),
            Some(b'P') => conn.pause_producing(),
            Some(b'C') => {
                let rest = conn.clear_line_buffer();
                if line.get(1) == Some(&b'F') && self.refeeds < 8 {
                    self.refeeds += 1;
                    conn.set_line_mode(&rest);
                }
            }
            Some(b'F') if self.refeeds < 8 => {
                self.refeeds += 1;
                conn.set_line_mode(&line[1..]);
                conn.set_line_mode(self.delimiter);
            }
            Some(b'X') => conn.transport().lose_connection(),
            Some(b'S') => conn.send_line(line),
            _ => {}
        }
    }

    fn raw_data_received(&mut self, conn: &LineConnection<'_>, data: &[u8]) {
        self.events.push(Ev::Raw(data.to_vec()));
        if let Some(at) = data.iter().position(|&b| b == b'L') {
            conn.set_line_mode(&data[at + 1..]);
        }
    }

    fn line_length_exceeded(&mut self, conn: &LineConnection<'_>, line: &[u8]) {
        self.events.push(Ev::TooLong(line.to_vec()));
        if !self.steer {
            conn.transport().lose_connection();
        }
    }

    fn delimiter(&self) -> &[u8] {
        self.delimiter
    }

    fn max_length(&self) -> usize {
        self.max_length
    }
}

/// Under `LineOnlyProtocol` there is no framer to steer: lines are recorded.
impl LineOnlyReceiver for Rec {
    fn line_received(&mut self, _conn: &LineOnlyConnection<'_>, line: &[u8]) {
        self.events.push(Ev::Line(line.to_vec()));
    }

    fn line_length_exceeded(&mut self, conn: &LineOnlyConnection<'_>, line: &[u8]) {
        self.events.push(Ev::TooLong(line.to_vec()));
        conn.transport().lose_connection();
    }

    fn delimiter(&self) -> &[u8] {
        self.delimiter
    }

    fn max_length(&self) -> usize {
        self.max_length
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Feeds `chunks` to `protocol`, calling `between` after each one.
fn run<P: Protocol>(
    mut protocol: P,
    chunks: &[&[u8]],
    mut between: impl FnMut(&mut P),
) -> (P, StringTransport) {
    let st = StringTransport::new();
    st.make_connection(&mut protocol);
    for chunk in chunks {
        protocol.data_received(&st.transport(), chunk);
        between(&mut protocol);
    }
    (protocol, st)
}

fn check_lines(rec: &Rec) {
    for line in rec.lines() {
        assert!(line.len() <= rec.max_length, "line longer than the limit");
        assert!(!contains(line, rec.delimiter), "line holds the delimiter");
    }
}

fuzz_target!(|data: &[u8]| {
    let [limit, choice, cuts, rest @ ..] = data else {
        return;
    };
    let max_length = match limit {
        250.. => 16384,
        n => usize::from(n % 24),
    };
    let delimiter = DELIMITERS[usize::from(choice & 0x7f) % DELIMITERS.len()];
    let steer = choice & 0x80 != 0;
    let ncuts = usize::from(cuts % 16).min(rest.len() / 2);
    let (cut_bytes, input) = rest.split_at(ncuts * 2);
    let mut cuts: Vec<usize> = cut_bytes
        .chunks_exact(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])) % (input.len() + 1))
        .collect();
    cuts.push(input.len());
    cuts.sort_unstable();
    let mut chunks = Vec::with_capacity(cuts.len());
    let mut at = 0;
    for cut in cuts {
        chunks.push(&input[at..cut]);
        at = cut;
    }

    if steer {
        // Steering: only safety and the line invariants; resume after every
        // chunk so that pausing is exercised and undone.
        let (p, _) = run(
            LineProtocol::new(Rec::new(delimiter, max_length, true)),
            &chunks,
            |p| p.resume_producing(),
        );
        check_lines(p.handler());
        let (p, _) = run(
            LineOnlyProtocol::new(Rec::new(delimiter, max_length, false)),
            &chunks,
            |_| {},
        );
        check_lines(p.handler());
        return;
    }

    // LineProtocol: accounting, and split == whole.
    let make = || LineProtocol::new(Rec::new(delimiter, max_length, false));
    let (split, split_st) = run(make(), &chunks, |_| {});
    check_lines(split.handler());
    let mut accounted = Vec::new();
    for e in &split.handler().events {
        match e {
            Ev::Line(l) => {
                accounted.extend_from_slice(l);
                accounted.extend_from_slice(delimiter);
            }
            Ev::TooLong(arg) => accounted.extend_from_slice(arg),
            Ev::Raw(_) => panic!("raw data without raw mode"),
        }
    }
    accounted.extend_from_slice(split.buffered());
    assert_eq!(accounted, input, "LineProtocol lost or invented bytes");
    let (whole, whole_st) = run(make(), &[input], |_| {});
    let limit = max_length + delimiter.len();
    assert_eq!(
        split.handler().normalised(limit),
        whole.handler().normalised(limit)
    );
    assert_eq!(split_st.is_disconnecting(), whole_st.is_disconnecting());

    // LineOnlyProtocol: prefix, and split == whole.
    let make = || LineOnlyProtocol::new(Rec::new(delimiter, max_length, false));
    let (split, split_st) = run(make(), &chunks, |_| {});
    check_lines(split.handler());
    let mut delivered = Vec::new();
    for line in split.handler().lines() {
        delivered.extend_from_slice(line);
        delivered.extend_from_slice(delimiter);
    }
    assert!(
        input.starts_with(&delivered),
        "LineOnlyProtocol invented bytes"
    );
    let (whole, whole_st) = run(make(), &[input], |_| {});
    assert_eq!(
        split.handler().normalised(max_length + 1),
        whole.handler().normalised(max_length + 1)
    );
    assert_eq!(split_st.is_disconnecting(), whole_st.is_disconnecting());
});
