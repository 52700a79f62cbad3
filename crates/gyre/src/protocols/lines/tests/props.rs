//! Property tests of both protocols on generated input.

use proptest::prelude::*;

use super::*;

/// Delimiters for the property tests: the default, one byte, and ones
/// whose prefixes repeat.
const DELIMITERS: [&[u8]; 5] = [b"\r\n", b"\n", b"aab", b"--", b"\r\n\r\n"];

/// Lines that cannot contain `delimiter`: its first byte is removed from them.
fn clean_lines(lines: Vec<Vec<u8>>, delimiter: &[u8]) -> Vec<Vec<u8>> {
    lines
        .into_iter()
        .map(|mut l| {
            l.retain(|&b| b != delimiter[0]);
            l
        })
        .collect()
}

/// Bytes from a small alphabet rich in delimiter material, with any byte now and then.
fn noisy_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => prop::sample::select(&b"a\r\n-b"[..]),
        1 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..max)
}

/// Splits `input` at the given cut points (taken modulo its length).
fn split_at_cuts<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.push(input.len());
    cuts.sort_unstable();
    let mut chunks = Vec::new();
    let mut at = 0;
    for cut in cuts {
        chunks.push(&input[at..cut]);
        at = cut;
    }
    chunks
}

fn run<P: Protocol>(mut p: P, chunks: &[&[u8]]) -> (P, StringTransport) {
    let st = StringTransport::new();
    st.make_connection(&mut p);
    for chunk in chunks {
        p.data_received(&st.transport(), chunk);
    }
    (p, st)
}

proptest! {
    /// Lines without the delimiter, joined with it and split anywhere, come back identical through both protocols.
    #[test]
    fn prop_lines_round_trip(
        lines in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..20),
        which in 0..DELIMITERS.len(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let delimiter = DELIMITERS[which];
        let lines = clean_lines(lines, delimiter);
        let input: Vec<u8> = lines.iter().flat_map(|l| [&l[..], delimiter].concat()).collect();
        let chunks = split_at_cuts(&input, &cuts);
        let (p, _) = run(LineProtocol::new(Rec::new().delimiter(delimiter)), &chunks);
        prop_assert_eq!(p.handler().lines(), lines.clone());
        prop_assert!(p.buffered().is_empty());
        let (p, _) = run(LineOnlyProtocol::new(Rec::new().delimiter(delimiter)), &chunks);
        prop_assert_eq!(p.handler().lines(), lines);
    }

    /// Arbitrary bytes split anywhere never panic, never deliver a line longer than the limit or holding the delimiter, account for every byte, and end as the whole input does.
    #[test]
    fn prop_line_protocol_on_arbitrary_bytes(
        input in noisy_bytes(200),
        max in 0usize..12,
        which in 0..DELIMITERS.len(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let delimiter = DELIMITERS[which];
        let make = || LineProtocol::new(Rec::new().delimiter(delimiter).max(max));
        let (p, st) = run(make(), &split_at_cuts(&input, &cuts));
        let mut accounted = Vec::new();
        for e in &p.handler().events {
            match e {
                Ev::Line(l) => {
                    prop_assert!(l.len() <= max);
                    prop_assert!(find(l, delimiter).is_none());
                    accounted.extend_from_slice(l);
                    accounted.extend_from_slice(delimiter);
                }
                Ev::TooLong(arg) => accounted.extend_from_slice(arg),
                Ev::Raw(_) => prop_assert!(false, "no raw mode here"),
            }
        }
        accounted.extend_from_slice(p.buffered());
        prop_assert_eq!(&accounted, &input);
        let (whole, whole_st) = run(make(), &[&input]);
        let limit = max + delimiter.len();
        prop_assert_eq!(p.handler().normalised(limit), whole.handler().normalised(limit));
        prop_assert_eq!(st.is_disconnecting(), whole_st.is_disconnecting());
    }

    /// `LineOnlyProtocol` on arbitrary bytes split anywhere: no panic, lines within the limit and free of the delimiter, the same outcome as the whole input.
    #[test]
    fn prop_line_only_on_arbitrary_bytes(
        input in noisy_bytes(200),
        max in 0usize..12,
        which in 0..DELIMITERS.len(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let delimiter = DELIMITERS[which];
        let make = || LineOnlyProtocol::new(Rec::new().delimiter(delimiter).max(max));
        let (p, st) = run(make(), &split_at_cuts(&input, &cuts));
        let mut delivered = Vec::new();
        for l in p.handler().lines() {
            prop_assert!(l.len() <= max);
            prop_assert!(find(&l, delimiter).is_none());
            delivered.extend_from_slice(&l);
            delivered.extend_from_slice(delimiter);
        }
        prop_assert!(input.starts_with(&delivered));
        let (whole, whole_st) = run(make(), &[&input]);
        prop_assert_eq!(p.handler().normalised(max + 1), whole.handler().normalised(max + 1));
        prop_assert_eq!(st.is_disconnecting(), whole_st.is_disconnecting());
    }
}
