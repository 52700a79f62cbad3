//! RFC 864 character generator: stream a rotating pattern until the peer goes.
//!
//! The pattern is the one RFC 864 calls popular: the 95 printable ASCII
//! characters (space to `~`) form a ring; line *N* holds the 72 characters
//! starting at position *N* of the ring, then CRLF. After 95 lines the
//! pattern repeats, so it is built once, at compile time, as one 7,030-byte
//! cycle.
//!
//! Output is paced by the transport: the protocol registers a *pull*
//! producer, which the transport asks for one chunk (a few whole cycles,
//! under 64 KiB) when the producer is registered and again each time its
//! write buffer has drained. A client that does not read therefore costs at
//! most one chunk of memory. Received bytes are discarded, as the RFC says.
//! (Twisted's `Chargen` writes a fixed noise string per pull instead of the
//! RFC pattern.)

use std::cell::Cell;
use std::rc::Rc;

use gyre::{Producer, Protocol, PullProducer, Transport};

/// Characters per line, before CRLF.
const WIDTH: usize = 72;
/// Printable ASCII characters: space (0x20) to `~` (0x7e).
const PRINTABLE: usize = 95;
/// Bytes per line, CRLF included.
const LINE: usize = WIDTH + 2;
/// Bytes in one full cycle of the pattern (95 lines).
const CYCLE_LEN: usize = PRINTABLE * LINE;
/// Cycles written per pull: 56,240 bytes, under the 64 KiB high-water mark.
const CYCLES_PER_CHUNK: usize = 8;

/// One full cycle of the pattern.
static CYCLE: [u8; CYCLE_LEN] = build_cycle();

const fn build_cycle() -> [u8; CYCLE_LEN] {
    let mut out = [0u8; CYCLE_LEN];
    let mut line = 0;
    while line < PRINTABLE {
        let mut col = 0;
        while col < WIDTH {
            out[line * LINE + col] = b' ' + ((line + col) % PRINTABLE) as u8;
            col += 1;
        }
        out[line * LINE + WIDTH] = b'\r';
        out[line * LINE + WIDTH + 1] = b'\n';
        line += 1;
    }
    out
}

/// The chargen protocol: sets up the producer, ignores input.
#[derive(Debug, Default)]
pub(crate) struct Chargen;

impl Protocol for Chargen {
    fn connection_made(&mut self, transport: &Transport) {
        let noise = Rc::new(Noise {
            transport: transport.clone(),
            stopped: Cell::new(false),
        });
        if let Err(err) = transport.register_producer(Producer::Pull(noise)) {
            log::warn!("chargen cannot stream: {err}");
            transport.lose_connection();
        }
    }
}

/// Writes one chunk of the pattern each time the transport asks.
struct Noise {
    transport: Transport,
    stopped: Cell<bool>,
}

impl PullProducer for Noise {
    fn resume_producing(&self) {
        let t = &self.transport;
        if self.stopped.get() || !t.is_connected() || t.is_disconnecting() {
            return;
        }
        t.write_sequence(&[&CYCLE[..]; CYCLES_PER_CHUNK]);
    }

    fn stop_producing(&self) {
        self.stopped.set(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gyre::testing::StringTransport;

    /// Connects a chargen protocol and returns its registered pull producer.
    fn connect(st: &StringTransport) -> Rc<dyn PullProducer> {
        st.make_connection(&mut Chargen);
        match st.producer() {
            Some(Producer::Pull(p)) => p,
            other => panic!("expected a pull producer, got {other:?}"),
        }
    }

    /// The first lines are the RFC 864 pattern, starting at the space character.
    #[test]
    fn rfc_864_pattern() {
        let st = StringTransport::new();
        connect(&st).resume_producing();
        let out = st.value();
        let lines: Vec<&[u8]> = out.split_inclusive(|&b| b == b'\n').collect();
        assert_eq!(
            lines[0],
            &b" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg\r\n"[..]
        );
        assert_eq!(
            lines[1],
            &b"!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefgh\r\n"[..]
        );
        // Line 94 wraps from `~` back to space; line 95 starts over.
        assert!(lines[94].starts_with(b"~ !\"#"));
        assert_eq!(lines[95], lines[0]);
        st.transport().unregister_producer();
    }

    /// Every line is 72 printable characters and CRLF, each one character after the last.
    #[test]
    fn every_line_is_well_formed() {
        let st = StringTransport::new();
        connect(&st).resume_producing();
        let out = st.value();
        assert_eq!(out.len(), CYCLES_PER_CHUNK * CYCLE_LEN);
        assert!(
            out.len() < 64 * 1024,
            "one pull stays under the high-water mark"
        );
        for (n, line) in out.chunks(LINE).enumerate() {
            assert_eq!(&line[WIDTH..], b"\r\n", "line {n}");
            assert!(
                line[..WIDTH].iter().all(|b| (b' '..=b'~').contains(b)),
                "line {n}"
            );
            assert_eq!(usize::from(line[0] - b' '), n % PRINTABLE, "line {n}");
        }
        st.transport().unregister_producer();
    }

    /// Each pull writes one chunk; nothing is written before the first pull.
    #[test]
    fn one_chunk_per_pull() {
        let st = StringTransport::new();
        let producer = connect(&st);
        assert!(st.value().is_empty());
        producer.resume_producing();
        producer.resume_producing();
        assert_eq!(st.value().len(), 2 * CYCLES_PER_CHUNK * CYCLE_LEN);
        st.transport().unregister_producer();
    }

    /// After `stop_producing` or a close, pulls write nothing.
    #[test]
    fn stops_when_the_connection_goes() {
        let st = StringTransport::new();
        let producer = connect(&st);
        producer.stop_producing();
        producer.resume_producing();
        assert!(st.value().is_empty());

        let st = StringTransport::new();
        let producer = connect(&st);
        st.transport().lose_connection();
        producer.resume_producing();
        assert!(st.value().is_empty());
        st.transport().unregister_producer();
    }

    /// Input from the client is discarded.
    #[test]
    fn input_is_discarded() {
        let st = StringTransport::new();
        let mut chargen = Chargen;
        st.make_connection(&mut chargen);
        chargen.data_received(&st.transport(), b"hello\r\n");
        assert!(st.value().is_empty());
        assert!(!st.is_disconnecting());
        st.transport().unregister_producer();
    }

    /// If a producer is already registered, chargen closes instead of streaming unpaced.
    #[test]
    fn closes_when_it_cannot_register() {
        let st = StringTransport::new();
        let t = st.transport();
        t.register_producer(t.as_producer()).unwrap();
        st.make_connection(&mut Chargen);
        assert!(st.is_disconnecting());
        t.unregister_producer();
    }
}
