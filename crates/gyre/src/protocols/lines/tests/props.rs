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
    /// The word-at-a-time search agrees with the plain one, wherever the
    /// match falls in a word and whatever the bytes around it (high bytes
    /// and bytes one above the searched one included).
    #[test]
    fn find_agrees_with_a_plain_search(
        haystack in prop::collection::vec(prop_oneof![
            4 => prop::sample::select(&b"\r\n\x0b\x0cab\x80\xff\x01\x00"[..]),
            1 => any::<u8>(),
        ], 0..80),
        delimiter in prop::sample::select(&DELIMITERS[..]),
        byte in any::<u8>(),
    ) {
        let plain = |needle: &[u8]| haystack.windows(needle.len()).position(|w| w == needle);
        prop_assert_eq!(find(&haystack, delimiter), plain(delimiter));
        prop_assert_eq!(find(&haystack, &[byte]), plain(&[byte]));
    }

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

    /// Text lines ([`LineReceiver::utf8_lines`]) change nothing but which
    /// callback a line reaches: the same events as bytes in the same order,
    /// whatever the chunking, with a handler that clears the buffer, goes
    /// raw and back, pauses, and changes its delimiter and limit from
    /// inside callbacks; every text line is UTF-8 and every byte line is
    /// not.
    #[test]
    fn text_lines_deliver_what_byte_lines_do(
        tokens in prop::collection::vec(prop::sample::select(&TEXT_TOKENS[..]), 0..60),
        max in prop_oneof![Just(DEFAULT_MAX_LENGTH), 0usize..12],
        which in 0..DELIMITERS.len(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
        yielding in any::<bool>(),
    ) {
        let input: Vec<u8> = tokens.concat();
        let chunks = split_at_cuts(&input, &cuts);
        let run_mode = |text: bool| {
            let mut rec = Rec::new()
                .delimiter(DELIMITERS[which])
                .max(max)
                .on_line(steer)
                .on_raw(lines_after_l);
            if text {
                rec = rec.text();
            }
            let (mut p, st) = connected(LineProtocol::new(rec));
            st.set_should_yield(yielding);
            for chunk in &chunks {
                p.data_received(&st.transport(), chunk);
            }
            st.set_should_yield(false);
            p.resume_producing();
            p.data_received(&st.transport(), b"");
            let buffered = p.buffered().to_vec();
            (p.into_handler(), buffered, st.is_disconnecting())
        };
        let (bytes, bytes_left, bytes_closed) = run_mode(false);
        let (text, text_left, text_closed) = run_mode(true);
        prop_assert_eq!(&text.events, &bytes.events);
        prop_assert_eq!(&text.cleared, &bytes.cleared);
        prop_assert_eq!((text_left, text_closed), (bytes_left, bytes_closed));
        for line in &text.not_text {
            prop_assert!(std::str::from_utf8(line).is_err(), "{:?} came as bytes", line);
        }
        let lines = text.events.iter().filter(|e| matches!(e, Ev::Line(_))).count();
        prop_assert_eq!(text.texts + text.not_text.len(), lines);
    }
}

/// Pieces of input for the text-lines property: delimiters, UTF-8 of one
/// to four bytes, bytes that are not UTF-8 (a lone lead byte, a lone
/// continuation byte, 0xff), and the letters `steer` acts on.
const TEXT_TOKENS: [&[u8]; 17] = [
    b"\r\n",
    b"\n",
    b"--",
    b"aab",
    b"a",
    b"b",
    b"\xc3\xa9",
    b"\xe2\x98\x83",
    b"\xf0\x9f\x98\x80",
    b"\xc3",
    b"\xa9",
    b"\xff",
    b"c",
    b"r",
    b"p",
    b"d",
    b"m",
];
