//! [`NetstringProtocol`] and [`NetstringDecoder`] (reference §9.4):
//! parsing at every chunk size, the length limit, and every error case.

use super::*;

/// Netstrings parse at every chunk size: several strings, the empty
/// one, a multi-digit length, and a partial one that waits.
#[test]
fn netstring_parses_any_fragmentation() {
    let twelve = b"hello, world";
    let mut input = b"3:abc,0:,12:".to_vec();
    input.extend_from_slice(twelve);
    input.extend_from_slice(b",1:,,4:wai");
    let out = every_chunking(Kind::Netstring, &default_recorder, &input);
    assert_eq!(out.events, strings(&[b"abc", b"", twelve, b","]));
    assert!(!out.disconnecting);
}

/// Reference §9.4: `99999:` is accepted and waits for its payload.
#[test]
fn netstring_99999_is_accepted_and_waits() {
    let out = every_chunking(Kind::Netstring, &default_recorder, b"99999:");
    assert_eq!(
        out,
        Outcome {
            events: vec![],
            disconnecting: false
        }
    );
    let mut input = b"99999:".to_vec();
    input.extend(std::iter::repeat_n(b'q', 99_999));
    input.push(b',');
    for size in [1, 7, 4096, input.len()] {
        let out = run_sized(Kind::Netstring, &default_recorder, &input, size);
        assert_eq!(out.events, vec![Event::String(vec![b'q'; 99_999])]);
    }
}

/// Reference §9.4, every error case: at every chunk size the connection
/// closes, nothing is delivered, and later data (even valid) is ignored.
#[test]
fn netstring_errors_close_and_deliver_nothing() {
    let bad: [&[u8]; 12] = [
        b"05:hello,", // leading zero
        b"00:,",      // leading zero before an empty payload
        b"-1:",       // a sign
        b"x:",        // not a digit
        b":",         // no digits at all
        b" 1:a,",     // leading blank
        b"100000",    // above the maximum before any colon
        b"100000:",   // above the maximum
        b"123456",    // six digits above the maximum: refused at once
        b"1234567:",  // more than six digits
        b"5:hellox",  // no comma after the payload
        b"0:x",       // no comma after an empty payload
    ];
    for input in bad {
        let mut with_tail = input.to_vec();
        with_tail.extend_from_slice(b"3:abc,");
        for fed in [input, &with_tail[..]] {
            let out = every_chunking(Kind::Netstring, &default_recorder, fed);
            assert_eq!(
                out,
                Outcome {
                    events: vec![],
                    disconnecting: true
                },
                "{:?}",
                String::from_utf8_lossy(fed)
            );
        }
    }
}

/// Strings before an error are delivered; nothing after it is, even in
/// a later `data_received`.
#[test]
fn netstring_error_after_valid_strings() {
    let out = every_chunking(Kind::Netstring, &default_recorder, b"3:abc,1:d,2:efx3:ghi,");
    assert_eq!(out.events, strings(&[b"abc", b"d"]));
    assert!(out.disconnecting);

    let mut d = NetstringDecoder::new();
    d.feed(b"2:ab!");
    assert_eq!(
        d.next_string(10),
        Decoded::Error(DecodeError::NetstringMissingComma)
    );
    d.feed(b"1:a,");
    assert_eq!(
        d.next_string(10),
        Decoded::Error(DecodeError::NetstringMissingComma)
    );
    assert_eq!(d.buffered(), 0);
}

/// The digits are checked against the maximum in force, one by one: a
/// lowered maximum refuses its successor before the colon.
#[test]
fn netstring_lowered_max_length() {
    let make = || Recorder::new(10);
    let ok = every_chunking(Kind::Netstring, &make, b"10:0123456789,");
    assert_eq!(ok.events, strings(&[b"0123456789"]));
    let refused = every_chunking(Kind::Netstring, &make, b"11");
    assert_eq!(
        refused,
        Outcome {
            events: vec![],
            disconnecting: true
        }
    );
    let mut d = NetstringDecoder::new();
    d.feed(b"11");
    assert_eq!(
        d.next_string(10),
        Decoded::Error(DecodeError::NetstringTooLong { max_length: 10 })
    );
    assert_eq!(
        DecodeError::NetstringTooLong { max_length: 99_999 }.to_string(),
        "The received netstring is longer than the maximum 99999 specified by max_length"
    );
}
