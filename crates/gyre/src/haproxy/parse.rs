//! The sans-I/O reader of PROXY protocol headers: bytes in, [`Parsed`] out.
//!
//! [`parse`] is given everything received so far and says whether a header
//! is complete ([`Parsed::Done`], with how many bytes it took), needs more
//! ([`Parsed::Incomplete`]), or cannot be one ([`Parsed::Invalid`]). It
//! keeps no state: a caller that gets `Incomplete` appends what arrives
//! next and asks again. It decides as early as the bytes allow: the first
//! byte that matches neither signature, a bad version or command, a v2
//! length past the limit, a v1 line without CRLF in 107 bytes are refused
//! at once, so a misconfigured peer is dropped before it sends more.
//!
//! What it accepts is the spec's (HAProxy's `proxy-protocol.txt`), read
//! strictly where the spec is strict:
//!
//! * v1: `PROXY`, one space, `TCP4`/`TCP6`, four fields separated by
//!   single spaces (addresses of that family; IPv4 in dotted decimal
//!   without leading zeros; ports 0–65535 without leading zeros), CRLF;
//!   or `PROXY UNKNOWN` and anything up to the CRLF, which is ignored.
//!   A lone CR or LF ends nothing: the line is refused.
//! * v2: the signature, version 2, command `LOCAL` (0) or `PROXY` (1);
//!   for `PROXY`, a family (UNSPEC, INET, INET6, UNIX) and a protocol
//!   (UNSPEC, STREAM, DGRAM) from the spec's lists and a length that
//!   covers their addresses; TLVs after the addresses, each whole, and a
//!   `CRC32C` TLV, if present, matching. `LOCAL` headers have their block
//!   skipped whole, family byte included, and UNSPEC family or protocol
//!   means "ignore the addresses": both give a header without addresses,
//!   and the connection's own are used.
//!
//! Tests: `tests/parse.rs` in this directory (the spec's examples split at
//! every byte, each malformed form), and the `haproxy` fuzz target.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use super::header::{
    Command, ProxyHeader, Tlv, UNIX_ADDRESS_LEN, V1_MAX_LEN, V2_SIGNATURE, Version, crc32c,
};
use crate::address::Address;

/// What [`parse`] made of the bytes so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Could still become a header: give more bytes.
    Incomplete,
    /// A whole header, and the bytes it took; what follows them is the
    /// connection's data.
    Done(ProxyHeader, usize),
    /// Not a valid header, however many bytes follow.
    Invalid(InvalidHeader),
}

/// Why bytes are not a PROXY protocol header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidHeader {
    /// The first bytes are neither `PROXY` nor the v2 signature.
    #[error("the stream does not start with a PROXY protocol signature")]
    BadSignature,
    /// A v2 signature followed by a version other than 2.
    #[error("version {0} after the v2 signature (only 2 is defined)")]
    BadVersion(u8),
    /// A v2 command other than `LOCAL` (0) and `PROXY` (1).
    #[error("command {0:#x} is neither LOCAL nor PROXY")]
    BadCommand(u8),
    /// A v2 family or protocol the spec does not define.
    #[error("address family and protocol byte {0:#04x} is not one the spec defines")]
    BadFamily(u8),
    /// A v2 length too short for the addresses its family announces.
    #[error(
        "length {length} is too short for the addresses of family {family:#04x} ({needed} bytes)"
    )]
    WrongLength {
        /// The family-and-protocol byte.
        family: u8,
        /// The announced length.
        length: u16,
        /// What the addresses take.
        needed: usize,
    },
    /// The header is longer than the receiver accepts.
    #[error("a header of {length} bytes is longer than the {max} accepted")]
    TooLong {
        /// The header's length (v2: as announced).
        length: usize,
        /// The limit.
        max: usize,
    },
    /// A v1 line with no CRLF in its first 107 bytes.
    #[error("no CRLF in the first {max} bytes of a v1 line")]
    LineTooLong {
        /// 107, or a lower limit given to [`parse`].
        max: usize,
    },
    /// A v1 line that breaks the grammar.
    #[error("bad v1 line: {0}")]
    BadLine(&'static str),
    /// A v1 address that is not of the announced family (`TCP4` with an
    /// IPv6 address, or the reverse).
    #[error("{announced} announced, but {address:?} is not an address of that family")]
    FamilyMismatch {
        /// `TCP4` or `TCP6`.
        announced: &'static str,
        /// The address as written.
        address: String,
    },
    /// A v2 TLV that runs past the end of the header (or a `CRC32C` TLV
    /// whose value is not 4 bytes).
    #[error("a TLV runs past the end of the header or has the wrong size")]
    BadTlv,
    /// The `CRC32C` TLV does not match the header.
    #[error("the header's CRC32c does not match its CRC32C TLV")]
    ChecksumMismatch,
}

/// Reads a PROXY protocol header (v1 or v2) at the start of `input`, all
/// the bytes received so far; `max_len` bounds its length (a v1 line is
/// never longer than [`V1_MAX_LEN`] however large `max_len` is).
///
/// ```
/// use gyre::haproxy::{parse, Parsed};
///
/// let wire = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n";
/// assert_eq!(parse(&wire[..20], 4096), Parsed::Incomplete);
/// let Parsed::Done(header, used) = parse(wire, 4096) else { panic!() };
/// assert_eq!(header.source().unwrap().to_string(), "IPv4Address(type='TCP', host='192.168.0.1', port=56324)");
/// assert_eq!(&wire[used..], b"GET / HTTP/1.1\r\n");
/// assert!(matches!(parse(b"GET / HTTP/1.1\r\n", 4096), Parsed::Invalid(_)));
/// ```
pub fn parse(input: &[u8], max_len: usize) -> Parsed {
    let Some(&first) = input.first() else {
        return Parsed::Incomplete;
    };
    match first {
        b'\r' => parse_v2(input, max_len),
        b'P' => parse_v1(input, max_len.min(V1_MAX_LEN)),
        _ => Parsed::Invalid(InvalidHeader::BadSignature),
    }
}

// ---------------------------------------------------------------------------
// v1
// ---------------------------------------------------------------------------

fn parse_v1(input: &[u8], max: usize) -> Parsed {
    const START: &[u8] = b"PROXY ";
    // Only the first `max` bytes are ever looked at, so that more bytes
    // never change an answer already given.
    let window = &input[..input.len().min(max)];
    let known = window.len().min(START.len());
    if window[..known] != START[..known] {
        return Parsed::Invalid(if known < 5 || window[..5] != START[..5] {
            InvalidHeader::BadSignature
        } else {
            InvalidHeader::BadLine("no single space after PROXY")
        });
    }
    // The line ends at the first LF, which must follow a CR; no other CR
    // or LF may come before it.
    for (i, &b) in window.iter().enumerate() {
        match b {
            b'\n' => return Parsed::Invalid(InvalidHeader::BadLine("LF without CR")),
            b'\r' => match window.get(i + 1) {
                Some(b'\n') => return v1_line(&input[..i], i + 2),
                Some(_) => return Parsed::Invalid(InvalidHeader::BadLine("CR without LF")),
                None if i + 1 < max => return Parsed::Incomplete,
                None => break,
            },
            _ => {}
        }
    }
    if input.len() >= max {
        Parsed::Invalid(InvalidHeader::LineTooLong { max })
    } else {
        Parsed::Incomplete
    }
}

/// A complete v1 line (without its CRLF), `used` bytes with the CRLF.
fn v1_line(line: &[u8], used: usize) -> Parsed {
    // "PROXY " was checked by the caller.
    let protocol = line[6..].split(|&b| b == b' ').next().unwrap_or_default();
    if protocol == b"UNKNOWN" {
        // Anything may follow UNKNOWN up to the CRLF; it is ignored.
        let header = ProxyHeader::read(Version::V1, Command::Proxy, None, Vec::new());
        return Parsed::Done(header, used);
    }
    let Ok(line) = std::str::from_utf8(line) else {
        return Parsed::Invalid(InvalidHeader::BadLine("a byte that is not US-ASCII"));
    };
    let mut fields = line.split(' ').skip(1);
    let announced = match fields.next() {
        Some("TCP4") => "TCP4",
        Some("TCP6") => "TCP6",
        _ => {
            return Parsed::Invalid(InvalidHeader::BadLine(
                "the protocol is not TCP4, TCP6 or UNKNOWN",
            ));
        }
    };
    let parts: Vec<&str> = fields.collect();
    let [source, destination, source_port, destination_port] = parts[..] else {
        return Parsed::Invalid(InvalidHeader::BadLine(
            "not two addresses and two ports, each after one space",
        ));
    };
    let addresses = (|| {
        let source = SocketAddr::new(v1_address(announced, source)?, v1_port(source_port)?);
        let destination = SocketAddr::new(
            v1_address(announced, destination)?,
            v1_port(destination_port)?,
        );
        Ok((Address::tcp(source), Address::tcp(destination)))
    })();
    match addresses {
        Ok(addresses) => {
            let header =
                ProxyHeader::read(Version::V1, Command::Proxy, Some(addresses), Vec::new());
            Parsed::Done(header, used)
        }
        Err(invalid) => Parsed::Invalid(invalid),
    }
}

/// An address of the announced family, in the spec's canonical form.
fn v1_address(announced: &'static str, text: &str) -> Result<std::net::IpAddr, InvalidHeader> {
    let mismatch = || InvalidHeader::FamilyMismatch {
        announced,
        address: text.to_string(),
    };
    if announced == "TCP4" {
        if let Some(v4) = v1_ipv4(text) {
            return Ok(v4.into());
        }
        return Err(if text.parse::<Ipv6Addr>().is_ok() {
            mismatch()
        } else {
            InvalidHeader::BadLine(
                "an IPv4 address that is not four decimal numbers 0-255 without leading zeros",
            )
        });
    }
    // Hex groups around at most one `::` (an IPv4-mapped tail, as
    // `inet_ntop` writes one, is accepted too).
    match text.parse::<Ipv6Addr>() {
        Ok(v6) => Ok(v6.into()),
        Err(_) if v1_ipv4(text).is_some() => Err(mismatch()),
        Err(_) => Err(InvalidHeader::BadLine(
            "an IPv6 address that does not parse",
        )),
    }
}

/// Four decimal numbers 0–255, dot-separated, no leading zeros.
fn v1_ipv4(text: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = text.split('.');
    for octet in &mut octets {
        *octet = u8::try_from(v1_number(parts.next()?, 3)?).ok()?;
    }
    parts.next().is_none().then_some(Ipv4Addr::from(octets))
}

/// A port: a decimal 0–65535, no leading zeros.
fn v1_port(text: &str) -> Result<u16, InvalidHeader> {
    v1_number(text, 5)
        .and_then(|n| u16::try_from(n).ok())
        .ok_or(InvalidHeader::BadLine(
            "a port that is not a decimal 0-65535 without leading zeros",
        ))
}

/// Up to `digits` decimal digits, no sign and no leading zero.
fn v1_number(text: &str, digits: usize) -> Option<u32> {
    let ok = !text.is_empty()
        && text.len() <= digits
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    ok.then(|| text.parse().ok()).flatten()
}

// ---------------------------------------------------------------------------
// v2
// ---------------------------------------------------------------------------

fn parse_v2(input: &[u8], max_len: usize) -> Parsed {
    let known = input.len().min(V2_SIGNATURE.len());
    if input[..known] != V2_SIGNATURE[..known] {
        return Parsed::Invalid(InvalidHeader::BadSignature);
    }
    if let Some(&version_command) = input.get(12) {
        if version_command >> 4 != 2 {
            return Parsed::Invalid(InvalidHeader::BadVersion(version_command >> 4));
        }
        if version_command & 0xf > 1 {
            return Parsed::Invalid(InvalidHeader::BadCommand(version_command & 0xf));
        }
    }
    let local = input.get(12).is_some_and(|vc| vc & 0xf == 0);
    if let Some(&family) = input.get(13)
        && !local
        && (family >> 4 > 3 || family & 0xf > 2)
    {
        return Parsed::Invalid(InvalidHeader::BadFamily(family));
    }
    if input.len() < 16 {
        return Parsed::Incomplete;
    }
    let length = u16::from_be_bytes([input[14], input[15]]);
    let total = 16 + usize::from(length);
    if total > max_len {
        return Parsed::Invalid(InvalidHeader::TooLong {
            length: total,
            max: max_len,
        });
    }
    let Some(header) = input.get(..total) else {
        return Parsed::Incomplete;
    };
    let family = header[13];
    let block = &header[16..];
    if local {
        // LOCAL: the block, family included, is discarded.
        let header = ProxyHeader::read(Version::V2, Command::Local, None, Vec::new());
        return Parsed::Done(header, total);
    }
    if family >> 4 == 0 || family & 0xf == 0 {
        // UNSPEC: the addresses (whatever they are) are ignored.
        let header = ProxyHeader::read(Version::V2, Command::Proxy, None, Vec::new());
        return Parsed::Done(header, total);
    }
    let needed = match family >> 4 {
        1 => 12,
        2 => 36,
        _ => 2 * UNIX_ADDRESS_LEN,
    };
    if block.len() < needed {
        return Parsed::Invalid(InvalidHeader::WrongLength {
            family,
            length,
            needed,
        });
    }
    let addresses = v2_addresses(family, &block[..needed]);
    let tlvs = match v2_tlvs(header, 16 + needed) {
        Ok(tlvs) => tlvs,
        Err(invalid) => return Parsed::Invalid(invalid),
    };
    let header = ProxyHeader::read(Version::V2, Command::Proxy, Some(addresses), tlvs);
    Parsed::Done(header, total)
}

/// The two addresses of a v2 `PROXY` block of family INET, INET6 or UNIX.
fn v2_addresses(family: u8, block: &[u8]) -> (Address, Address) {
    let datagram = family & 0xf == 2;
    let inet = |ip: std::net::IpAddr, port: &[u8]| {
        let addr = SocketAddr::new(ip, u16::from_be_bytes([port[0], port[1]]));
        if datagram {
            Address::udp(addr)
        } else {
            Address::tcp(addr)
        }
    };
    match family >> 4 {
        1 => {
            let ip = |at: usize| {
                Ipv4Addr::from(<[u8; 4]>::try_from(&block[at..at + 4]).expect("4 bytes"))
            };
            (
                inet(ip(0).into(), &block[8..10]),
                inet(ip(4).into(), &block[10..12]),
            )
        }
        2 => {
            let ip = |at: usize| {
                Ipv6Addr::from(<[u8; 16]>::try_from(&block[at..at + 16]).expect("16 bytes"))
            };
            (
                inet(ip(0).into(), &block[32..34]),
                inet(ip(16).into(), &block[34..36]),
            )
        }
        _ => {
            let (source, destination) = block.split_at(UNIX_ADDRESS_LEN);
            (unix_address(source), unix_address(destination))
        }
    }
}

/// A `sun_path`: the bytes before the first NUL; none names an unnamed
/// socket (so does an abstract one, which starts with NUL).
fn unix_address(sun_path: &[u8]) -> Address {
    use std::os::unix::ffi::OsStrExt;
    let end = sun_path
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(sun_path.len());
    match &sun_path[..end] {
        [] => Address::unix(None),
        path => Address::unix(Some(Path::new(std::ffi::OsStr::from_bytes(path)))),
    }
}

/// The TLVs of `header` from byte `at` to its end; a `CRC32C` TLV is checked.
fn v2_tlvs(header: &[u8], mut at: usize) -> Result<Vec<Tlv>, InvalidHeader> {
    let mut tlvs = Vec::new();
    let mut checksum_at = None;
    while at < header.len() {
        let Some(&[kind, hi, lo]) = header.get(at..at + 3) else {
            return Err(InvalidHeader::BadTlv);
        };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        let value = header
            .get(at + 3..at + 3 + len)
            .ok_or(InvalidHeader::BadTlv)?;
        if kind == Tlv::CRC32C {
            if len != 4 {
                return Err(InvalidHeader::BadTlv);
            }
            checksum_at = Some(at + 3);
        }
        tlvs.push(Tlv::new(kind, value));
        at += 3 + len;
    }
    if let Some(at) = checksum_at {
        let sent = u32::from_be_bytes(header[at..at + 4].try_into().expect("4 bytes"));
        let mut zeroed = header.to_vec();
        zeroed[at..at + 4].fill(0);
        if crc32c(&zeroed) != sent {
            return Err(InvalidHeader::ChecksumMismatch);
        }
    }
    Ok(tlvs)
}
