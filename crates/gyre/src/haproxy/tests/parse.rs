//! The sans-I/O parser: the spec's examples at every prefix, and each
//! malformed form refused (as early as the bytes allow).

use super::examples::{self, SIG};
use crate::haproxy::{InvalidHeader, Parsed, V1_MAX_LEN, V2_MAX_LEN, parse};

/// Plenty: no example is refused for its length.
const MAX: usize = V2_MAX_LEN;

/// Parses `wire` whole; the header must be done.
#[track_caller]
fn done(wire: &[u8]) -> (crate::haproxy::ProxyHeader, usize) {
    match parse(wire, MAX) {
        Parsed::Done(header, used) => (header, used),
        other => panic!("{:?} parsed as {other:?}", String::from_utf8_lossy(wire)),
    }
}

/// What `wire` is refused for.
#[track_caller]
fn invalid(wire: &[u8]) -> InvalidHeader {
    match parse(wire, MAX) {
        Parsed::Invalid(why) => why,
        other => panic!("{:?} parsed as {other:?}", String::from_utf8_lossy(wire)),
    }
}

/// Every example of the spec is read as what it says, taking exactly its
/// header's bytes, whatever follows.
#[test]
fn every_example_reads_as_the_spec_says() {
    for e in examples::all() {
        let (header, used) = done(&e.wire);
        assert_eq!(used, e.header_len, "{}", e.name);
        assert_eq!(header.version(), e.version, "{}", e.name);
        assert_eq!(header.command(), e.command, "{}", e.name);
        let addresses = header.source().cloned().zip(header.destination().cloned());
        assert_eq!(addresses, e.addresses, "{}", e.name);
        assert_eq!(header.tlvs(), e.tlvs, "{}", e.name);
    }
}

/// Every proper prefix of every example's header is `Incomplete`: a
/// header split at any byte is waited for, never refused.
#[test]
fn every_prefix_of_an_example_is_incomplete() {
    for e in examples::all() {
        for cut in 0..e.header_len {
            assert_eq!(
                parse(&e.wire[..cut], MAX),
                Parsed::Incomplete,
                "{} cut at {cut}",
                e.name
            );
        }
    }
}

/// The TLV accessors find values by type; the first of a type wins.
#[test]
fn tlvs_are_found_by_type() {
    let e = &examples::all()[14];
    let (header, _) = done(&e.wire);
    assert_eq!(header.tlv(0x02), Some(&b"example.com"[..]));
    assert_eq!(header.tlv(0x01), Some(&b"h2"[..]));
    assert_eq!(header.tlv(0x30), None);
}

/// Bytes that begin neither signature are refused at the first byte that
/// shows it.
#[test]
fn a_bad_signature_is_refused_at_once() {
    for (wire, at) in [
        (&b"GET / HTTP/1.1\r\n"[..], 1),
        (b"\x16\x03\x01\x02\x00", 1), // a TLS ClientHello
        (b"proxy TCP4", 1),
        (b"PROXZ TCP4", 5),
        (b"\r\n\r\n\0\r\nQUIX\n\x21", 11),
        (b"\r\n\r\n\r\n", 5),
        (b"\x00", 1),
    ] {
        assert_eq!(parse(&wire[..at - 1], MAX), Parsed::Incomplete);
        assert_eq!(
            parse(&wire[..at], MAX),
            Parsed::Invalid(InvalidHeader::BadSignature),
            "{:?}",
            String::from_utf8_lossy(wire)
        );
    }
}

/// A v2 signature followed by a version other than 2 is refused at its
/// 13th byte; so is a command other than LOCAL and PROXY.
#[test]
fn a_bad_version_or_command_is_refused_at_the_13th_byte() {
    for (byte, why) in [
        (0x11, InvalidHeader::BadVersion(1)),
        (0x01, InvalidHeader::BadVersion(0)),
        (0x31, InvalidHeader::BadVersion(3)),
        (0xF1, InvalidHeader::BadVersion(15)),
        (0x22, InvalidHeader::BadCommand(2)),
        (0x2F, InvalidHeader::BadCommand(15)),
    ] {
        let mut wire = SIG.to_vec();
        wire.push(byte);
        assert_eq!(invalid(&wire), why, "{byte:#x}");
    }
}

/// A `PROXY` command with a family or protocol outside the spec's lists is
/// refused at the 14th byte; a LOCAL header's family is ignored.
#[test]
fn a_bad_family_is_refused_unless_local() {
    for fam in [0x41, 0x13, 0x03, 0xF0, 0x4F] {
        let wire = [&SIG[..], &[0x21, fam]].concat();
        assert_eq!(invalid(&wire), InvalidHeader::BadFamily(fam), "{fam:#x}");
        let local = [&SIG[..], &[0x20, fam, 0, 0]].concat();
        assert_eq!(done(&local).1, 16, "LOCAL with {fam:#x}");
    }
}

/// A length too short for the announced addresses is refused.
#[test]
fn a_length_short_of_the_addresses_is_refused() {
    for (fam, len, needed) in [
        (0x11u8, 11u16, 12),
        (0x12, 0, 12),
        (0x21, 12, 36),
        (0x31, 215, 216),
    ] {
        let mut wire = [&SIG[..], &[0x21, fam]].concat();
        wire.extend_from_slice(&len.to_be_bytes());
        wire.resize(16 + usize::from(len), 0);
        assert_eq!(
            invalid(&wire),
            InvalidHeader::WrongLength {
                family: fam,
                length: len,
                needed
            }
        );
    }
}

/// A v2 header announcing more than the limit is refused as soon as its
/// length is read, before its block arrives.
#[test]
fn a_v2_header_over_the_limit_is_refused_from_its_length() {
    let wire = [&SIG[..], &[0x21, 0x11, 0x10, 0x00]].concat(); // 16 + 4096
    assert_eq!(
        parse(&wire, 4096),
        Parsed::Invalid(InvalidHeader::TooLong {
            length: 4112,
            max: 4096
        })
    );
    assert_eq!(parse(&wire, 4112), Parsed::Incomplete);
}

/// A TLV running past the header's end, or a CRC32C TLV of the wrong size
/// or value, is refused.
#[test]
fn bad_tlvs_are_refused() {
    let header = |tlvs: &[u8]| {
        let mut block = vec![192, 168, 0, 1, 192, 168, 0, 11, 0xDC, 0x04, 0x01, 0xBB];
        block.extend_from_slice(tlvs);
        let mut wire = [&SIG[..], &[0x21, 0x11]].concat();
        wire.extend_from_slice(&(block.len() as u16).to_be_bytes());
        wire.extend_from_slice(&block);
        wire
    };
    assert_eq!(invalid(&header(&[0x01, 0x00])), InvalidHeader::BadTlv);
    assert_eq!(
        invalid(&header(&[0x01, 0x00, 0x03, b'h', b'2'])),
        InvalidHeader::BadTlv
    );
    assert_eq!(
        invalid(&header(&[0x03, 0x00, 0x02, 0, 0])),
        InvalidHeader::BadTlv
    );
    // The checksum of the spec example with its last bit flipped.
    assert_eq!(
        invalid(&header(&[0x03, 0x00, 0x04, 0x1C, 0x1A, 0xE9, 0xC7])),
        InvalidHeader::ChecksumMismatch
    );
}

/// A v1 line announcing one family with addresses of the other is refused.
#[test]
fn a_v1_family_mismatch_is_refused() {
    for (line, address) in [
        ("PROXY TCP4 ::1 127.0.0.1 1 2\r\n", "::1"),
        ("PROXY TCP4 127.0.0.1 2001:db8::1 1 2\r\n", "2001:db8::1"),
        ("PROXY TCP6 127.0.0.1 ::1 1 2\r\n", "127.0.0.1"),
    ] {
        let announced = &line[6..10];
        assert_eq!(
            invalid(line.as_bytes()),
            InvalidHeader::FamilyMismatch {
                announced: if announced == "TCP4" { "TCP4" } else { "TCP6" },
                address: address.to_string()
            },
            "{line:?}"
        );
    }
}

/// A v1 line with no CRLF in its first 107 bytes is refused at the 107th;
/// the 107-byte example of the spec, CRLF included, is not.
#[test]
fn a_v1_line_longer_than_107_bytes_is_refused() {
    let long = format!("PROXY UNKNOWN {}", "f".repeat(200));
    assert_eq!(parse(&long.as_bytes()[..106], MAX), Parsed::Incomplete);
    assert_eq!(
        invalid(&long.as_bytes()[..107]),
        InvalidHeader::LineTooLong { max: V1_MAX_LEN }
    );
    // A CR as the 107th byte: its LF would be the 108th.
    let cr_late = format!("PROXY UNKNOWN {}\r\n", "f".repeat(92));
    assert_eq!(cr_late.len(), 108);
    assert_eq!(
        parse(&cr_late.as_bytes()[..107], MAX),
        Parsed::Invalid(InvalidHeader::LineTooLong { max: 107 })
    );
    // A lower limit applies to v1 too.
    assert_eq!(
        parse(b"PROXY UNKNOWN ", 10),
        Parsed::Invalid(InvalidHeader::LineTooLong { max: 10 })
    );
}

/// Each way a v1 line can break the grammar is refused.
#[test]
fn malformed_v1_lines_are_refused() {
    for line in [
        "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\n", // LF without CR
        "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\rX", // CR without LF
        "PROXYTCP4 192.168.0.1 192.168.0.11 56324 443\r\n", // no space
        "PROXY  TCP4 192.168.0.1 192.168.0.11 56324 443\r\n", // two spaces
        "PROXY TCP4  192.168.0.1 192.168.0.11 56324 443\r\n",
        "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443 \r\n", // trailing space
        "PROXY TCP5 192.168.0.1 192.168.0.11 56324 443\r\n",
        "PROXY tcp4 192.168.0.1 192.168.0.11 56324 443\r\n",
        "PROXY TCP4 192.168.0.1 192.168.0.11 56324\r\n", // a port missing
        "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443 1\r\n",
        "PROXY TCP4 192.168.0.01 192.168.0.11 56324 443\r\n", // leading zero
        "PROXY TCP4 192.168.0.256 192.168.0.11 56324 443\r\n",
        "PROXY TCP4 192.168.0 192.168.0.11 56324 443\r\n",
        "PROXY TCP4 192.168.0.1 192.168.0.11 056324 443\r\n", // leading zero
        "PROXY TCP4 192.168.0.1 192.168.0.11 65536 443\r\n",
        "PROXY TCP4 192.168.0.1 192.168.0.11 -1 443\r\n",
        "PROXY TCP4 192.168.0.1 192.168.0.11 +1 443\r\n",
        "PROXY TCP6 2001:db8::1::2 ::1 1 2\r\n",
        "PROXY TCP6 [::1] ::1 1 2\r\n",
        "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\r\n",
        "PROXY\r\n",
        "PROXY UNKNOWNX\r\n",
    ] {
        assert!(
            matches!(parse(line.as_bytes(), MAX), Parsed::Invalid(_)),
            "{line:?} parsed as {:?}",
            parse(line.as_bytes(), MAX)
        );
    }
}

/// Anything between `PROXY UNKNOWN` and the CRLF is ignored, as the spec
/// says the receiver must.
#[test]
fn anything_after_unknown_is_ignored() {
    let (header, used) = done(b"PROXY UNKNOWN whatever \xff at all\r\nrest");
    assert_eq!(used, 33);
    assert_eq!(header.source(), None);
}
