//! Property tests of the four framings on generated input, and of the
//! netstring decoder against a direct reading of the grammar.

use proptest::prelude::*;

use super::*;

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Int8),
        Just(Kind::Int16),
        Just(Kind::Int32),
        Just(Kind::Netstring)
    ]
}

/// Splits `input` at the given cut points (taken modulo its length).
fn split<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    at.push(0);
    at.push(input.len());
    at.sort_unstable();
    at.windows(2).map(|w| &input[w[0]..w[1]]).collect()
}

proptest! {
    /// Any list of strings, encoded by `send_string` and split anywhere,
    /// decodes to the same list, in all four framings.
    #[test]
    fn encoded_strings_decode_identically_however_split(
        kind in kind(),
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..=255), 0..12),
        cuts in proptest::collection::vec(any::<usize>(), 0..30),
    ) {
        // Encode through send_string.
        let sender_st = StringTransport::new();
        let framing = match kind {
            Kind::Int8 => Framing::Prefixed(PrefixWidth::U8),
            Kind::Int16 => Framing::Prefixed(PrefixWidth::U16),
            Kind::Int32 => Framing::Prefixed(PrefixWidth::U32),
            Kind::Netstring => Framing::Netstring,
        };
        let send = StringSender { transport: sender_st.transport(), framing };
        for s in &payloads {
            send.send_string(s).unwrap();
        }
        let wire = sender_st.value();
        let chunks = split(&wire, &cuts);
        let out = run_chunks(kind, &default_recorder, &chunks);
        let expected: Vec<Event> = payloads.iter().map(|s| Event::String(s.clone())).collect();
        prop_assert_eq!(out.events, expected);
        prop_assert!(!out.disconnecting);
    }

    /// Arbitrary bytes never panic, never deliver a string longer than
    /// `max_length`, and give the same outcome however they are split.
    #[test]
    fn arbitrary_bytes_are_safe_and_split_independent(
        kind in kind(),
        input in proptest::collection::vec(any::<u8>(), 0..600),
        max in 0usize..300,
        cuts in proptest::collection::vec(any::<usize>(), 0..30),
    ) {
        let make = || Recorder::new(max);
        let whole = run_chunks(kind, &make, &[&input]);
        for event in &whole.events {
            if let Event::String(s) = event {
                prop_assert!(s.len() <= max);
            }
        }
        let split_run = run_chunks(kind, &make, &split(&input, &cuts));
        prop_assert_eq!(&split_run, &whole);
        let bytewise = run_sized(kind, &make, &input, 1);
        prop_assert_eq!(&bytewise, &whole);
    }

    /// The sans-I/O netstring decoder agrees with a direct reading of
    /// the grammar on inputs made mostly of grammar characters.
    #[test]
    fn netstring_decoder_matches_the_grammar(
        input in proptest::collection::vec(prop_oneof![Just(b'0'), Just(b'1'), Just(b'9'), Just(b':'), Just(b','), Just(b'a')], 0..40),
        max in 0usize..20,
    ) {
        let mut d = NetstringDecoder::new();
        d.feed(&input);
        let mut got = Vec::new();
        let mut failed = false;
        loop {
            match d.next_string(max) {
                Decoded::String(s) => got.push(s.to_vec()),
                Decoded::NeedMore => break,
                Decoded::Error(_) => { failed = true; break; }
            }
        }
        let (want, want_failed) = reference_netstrings(&input, max);
        prop_assert_eq!(got, want);
        prop_assert_eq!(failed, want_failed);
    }
}

/// A second, straightforward reading of §9.4 to check the decoder
/// against: whole-input, regex-like, no state machine.
fn reference_netstrings(mut input: &[u8], max: usize) -> (Vec<Vec<u8>>, bool) {
    let mut out = Vec::new();
    loop {
        if input.is_empty() {
            return (out, false);
        }
        let digits = input.iter().take_while(|b| b.is_ascii_digit()).count();
        let number = &input[..digits];
        let bad_start = digits == 0 || (number[0] == b'0' && digits > 1);
        // Leading zero, or a first byte that is not a digit: an error as
        // soon as the offending byte is there.
        if bad_start {
            return (out, true);
        }
        let value = std::str::from_utf8(number)
            .unwrap()
            .parse::<u128>()
            .unwrap_or(u128::MAX);
        if value > max as u128 {
            return (out, true);
        }
        if digits == input.len() {
            return (out, false); // waiting for more digits or the colon
        }
        if input[digits] != b':' {
            return (out, true);
        }
        let len = value as usize;
        let rest = &input[digits + 1..];
        if rest.len() <= len {
            return (out, false);
        }
        if rest[len] != b',' {
            return (out, true);
        }
        out.push(rest[..len].to_vec());
        input = &rest[len + 1..];
    }
}
