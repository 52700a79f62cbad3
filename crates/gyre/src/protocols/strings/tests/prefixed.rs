//! The length-prefixed framings (`Int8`/`Int16`/`Int32StringProtocol`,
//! reference §9.3) and [`PrefixedDecoder`]: parsing at every chunk size and
//! the length limit.

use super::*;

/// Reference §9.3: `\0\0\0\3abc\0\0\0\2d` then `e` gives `abc`, `de`,
/// in those two chunks and at every chunk size.
#[test]
fn int32_verified_example_at_every_chunk_size() {
    let first: &[u8] = b"\0\0\0\x03abc\0\0\0\x02d";
    let two = run_chunks(Kind::Int32, &default_recorder, &[first, b"e"]);
    assert_eq!(two.events, strings(&[b"abc", b"de"]));
    assert!(!two.disconnecting);
    let input = [first, b"e"].concat();
    assert_eq!(every_chunking(Kind::Int32, &default_recorder, &input), two);
}

/// Each length-prefixed framing parses several strings, the empty one
/// included, at every chunk size, and a partial string waits.
#[test]
fn prefixed_framings_parse_any_fragmentation() {
    for kind in [Kind::Int8, Kind::Int16, Kind::Int32] {
        let payloads: [&[u8]; 4] = [b"hello", b"", b"x", &[7u8; 255]];
        let mut input: Vec<u8> = payloads.iter().flat_map(|s| encode(kind, s)).collect();
        let partial = encode(kind, b"waiting");
        input.extend_from_slice(&partial[..partial.len() - 1]);
        let out = every_chunking(kind, &default_recorder, &input);
        assert_eq!(out.events, strings(&payloads), "{kind:?}");
        assert!(!out.disconnecting);
    }
}

/// Reference §9.3: a length of 99 999 is accepted and 100 000 is not,
/// as soon as the prefix is complete; the limit stops everything after.
#[test]
fn int32_accepts_99999_and_rejects_100000() {
    // The prefixes alone, at every chunk size.
    let waiting = every_chunking(Kind::Int32, &default_recorder, &99_999u32.to_be_bytes());
    assert_eq!(
        waiting,
        Outcome {
            events: vec![],
            disconnecting: false
        }
    );
    let mut over = encode(Kind::Int32, b"ok");
    over.extend_from_slice(&100_000u32.to_be_bytes());
    over.extend_from_slice(&encode(Kind::Int32, b"after"));
    let refused = every_chunking(Kind::Int32, &default_recorder, &over);
    assert_eq!(
        refused.events,
        vec![Event::String(b"ok".to_vec()), Event::Exceeded(100_000)]
    );
    assert!(refused.disconnecting);
    // A whole 99 999-byte string is delivered, whatever the chunking
    // (every size would take n² time here; the boundaries are covered
    // at every size with a lowered limit below).
    let big = vec![b'z'; 99_999];
    let input = encode(Kind::Int32, &big);
    for size in [
        1,
        2,
        3,
        4,
        5,
        1000,
        4096,
        65_536,
        input.len() - 1,
        input.len(),
    ] {
        let out = run_sized(Kind::Int32, &default_recorder, &input, size);
        assert_eq!(out.events, vec![Event::String(big.clone())], "size {size}");
    }
}

/// The limit is `max_length`, whatever the prefix: with it lowered,
/// Int8 and Int16 refuse one byte more than it, at every chunk size.
#[test]
fn lowered_max_length_limits_every_prefix_width() {
    for kind in [Kind::Int8, Kind::Int16, Kind::Int32] {
        let make = || Recorder::new(10);
        let ok = every_chunking(kind, &make, &encode(kind, b"0123456789"));
        assert_eq!(ok.events, strings(&[b"0123456789"]), "{kind:?}");
        let mut input = encode(kind, b"0123456789A");
        input.extend_from_slice(&encode(kind, b"later"));
        let refused = every_chunking(kind, &make, &input);
        assert_eq!(refused.events, vec![Event::Exceeded(11)], "{kind:?}");
        assert!(refused.disconnecting);
    }
}

/// The default `length_limit_exceeded` closes the connection, and the
/// framer ignores all later input (Twisted would call it again).
#[test]
fn default_length_limit_exceeded_closes_and_stops_for_good() {
    struct Plain(Vec<Vec<u8>>);
    impl StringReceiver for Plain {
        fn string_received(&mut self, _: &StringConnection<'_>, s: &[u8]) {
            self.0.push(s.to_vec());
        }
        fn max_length(&self) -> usize {
            3
        }
    }
    let st = StringTransport::new();
    let mut p = Int16StringProtocol::new(Plain(vec![]));
    st.make_connection(&mut p);
    p.data_received(&st.transport(), b"\0\x02ab\0\x04abcd\0\x01c");
    assert_eq!(p.handler().0, vec![b"ab".to_vec()]);
    assert!(st.is_disconnecting());
    p.data_received(&st.transport(), b"\0\x01d");
    assert_eq!(p.handler().0, vec![b"ab".to_vec()]);
}

/// A decoder gives back a large buffer once it has drained.
#[test]
fn drained_decoder_releases_large_buffers() {
    let mut d = PrefixedDecoder::new(PrefixWidth::U32);
    let mut input = encode(Kind::Int32, &[1; 90_000]);
    input.extend_from_slice(b"\0\0");
    d.feed(&input);
    assert!(matches!(d.next_string(DEFAULT_MAX_LENGTH), Decoded::String(s) if s.len() == 90_000));
    assert_eq!(d.next_string(DEFAULT_MAX_LENGTH), Decoded::NeedMore);
    d.feed(b"\0\x01z");
    assert_eq!(d.next_string(DEFAULT_MAX_LENGTH), Decoded::String(b"z"));
    assert_eq!(d.next_string(DEFAULT_MAX_LENGTH), Decoded::NeedMore);
    assert_eq!(d.buffer.data.capacity(), 0);
}
