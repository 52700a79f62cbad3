//! The example headers of the PROXY protocol spec, and what each one says.
//!
//! v1: the four maximum-length lines of section 2.1 and its example before
//! an HTTP request. v2: section 2.2 gives layouts, not hex dumps, so each
//! of its "protocol bytes expected in practice" (`\x00` LOCAL/UNSPEC,
//! `\x11`, `\x12`, `\x21`, `\x22`, `\x31`, `\x32`) is written out here byte
//! by byte from `struct proxy_hdr_v2` and `union proxy_addr`, plus the
//! cases the text calls out: a LOCAL header with an address block (which
//! must be skipped), `PROXY` with UNSPEC, and TLVs after the addresses
//! (one with a CRC32c, computed outside gyre).

use std::net::SocketAddr;
use std::path::Path;

use crate::address::Address;
use crate::haproxy::{Command, Tlv, Version};

/// One example: its bytes (the header, then what followed it on the wire)
/// and what it must be read as.
pub(super) struct Example {
    pub(super) name: &'static str,
    pub(super) wire: Vec<u8>,
    /// The header's length: `wire[header_len..]` is the connection's data.
    pub(super) header_len: usize,
    pub(super) version: Version,
    pub(super) command: Command,
    /// Source and destination, or `None` for "use the connection's own".
    pub(super) addresses: Option<(Address, Address)>,
    pub(super) tlvs: Vec<Tlv>,
}

/// The v2 signature, as section 2.2 lists it.
pub(super) const SIG: [u8; 12] = [
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
];

fn tcp(s: &str) -> Address {
    Address::tcp(s.parse::<SocketAddr>().unwrap())
}

fn udp(s: &str) -> Address {
    Address::udp(s.parse::<SocketAddr>().unwrap())
}

/// A v1 example: the header is the first line.
fn v1(name: &'static str, wire: &[u8], addresses: Option<(&str, &str)>) -> Example {
    let header_len = wire.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    Example {
        name,
        wire: wire.to_vec(),
        header_len,
        version: Version::V1,
        command: Command::Proxy,
        addresses: addresses.map(|(s, d)| (tcp(s), tcp(d))),
        tlvs: Vec::new(),
    }
}

/// A v2 example: signature, `ver_cmd`, `fam`, the length of `block`, the
/// block; then `after` (data that is not part of the header).
fn v2(name: &'static str, ver_cmd: u8, fam: u8, block: &[u8], after: &[u8]) -> Example {
    let mut wire = SIG.to_vec();
    wire.push(ver_cmd);
    wire.push(fam);
    wire.extend_from_slice(&(block.len() as u16).to_be_bytes());
    wire.extend_from_slice(block);
    let header_len = wire.len();
    wire.extend_from_slice(after);
    Example {
        name,
        wire,
        header_len,
        version: Version::V2,
        command: if ver_cmd & 0xf == 0 {
            Command::Local
        } else {
            Command::Proxy
        },
        addresses: None,
        tlvs: Vec::new(),
    }
}

impl Example {
    fn with(mut self, source: Address, destination: Address) -> Example {
        self.addresses = Some((source, destination));
        self
    }

    fn with_tlvs(mut self, tlvs: Vec<Tlv>) -> Example {
        self.tlvs = tlvs;
        self
    }
}

/// A `sun_path`: `path`, zero-padded to 108 bytes.
fn sun_path(path: &str) -> Vec<u8> {
    let mut out = path.as_bytes().to_vec();
    out.resize(108, 0);
    out
}

/// 192.168.0.1:56324 -> 192.168.0.11:443 (the addresses of section 2.1's
/// example), as `union proxy_addr.ipv4_addr`: addresses, then ports, in
/// network byte order (56324 = 0xDC04, 443 = 0x01BB).
const IPV4_BLOCK: [u8; 12] = [192, 168, 0, 1, 192, 168, 0, 11, 0xDC, 0x04, 0x01, 0xBB];

/// 2001:db8::1:56324 -> 2001:db8::11:443, as `ipv6_addr`.
fn ipv6_block() -> Vec<u8> {
    let mut block = vec![
        0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
    ];
    block.extend_from_slice(&[
        0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x11,
    ]);
    block.extend_from_slice(&[0xDC, 0x04, 0x01, 0xBB]);
    block
}

/// The HTTP request of section 2.1's example, sent after the header.
const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n";

/// Every example, in the order of the spec's text.
pub(super) fn all() -> Vec<Example> {
    let v6_max = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    let mut tlv_block = IPV4_BLOCK.to_vec();
    // PP2_TYPE_ALPN "h2", PP2_TYPE_AUTHORITY "example.com",
    // PP2_TYPE_NOOP of 3 bytes, PP2_TYPE_UNIQUE_ID "abc".
    tlv_block.extend_from_slice(&[0x01, 0x00, 0x02, b'h', b'2']);
    tlv_block.extend_from_slice(&[0x02, 0x00, 0x0B]);
    tlv_block.extend_from_slice(b"example.com");
    tlv_block.extend_from_slice(&[0x04, 0x00, 0x03, 0, 0, 0]);
    tlv_block.extend_from_slice(&[0x05, 0x00, 0x03, b'a', b'b', b'c']);
    let mut crc_block = IPV4_BLOCK.to_vec();
    // PP2_TYPE_CRC32C: the CRC32c of the whole 35-byte header with this
    // field zeroed, computed outside gyre (a table-driven CRC32c, which
    // gives 0xE3069283 for "123456789").
    crc_block.extend_from_slice(&[0x03, 0x00, 0x04, 0x1C, 0x1A, 0xE9, 0xC6]);
    let mut unix_block = sun_path("/var/run/client.sock");
    unix_block.extend_from_slice(&sun_path("/var/run/server.sock"));
    let unix = |p: &str| Address::unix(Some(Path::new(p)));
    vec![
        v1(
            "v1 TCP/IPv4, longest",
            b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n",
            Some(("255.255.255.255:65535", "255.255.255.255:65535")),
        ),
        v1(
            "v1 TCP/IPv6, longest",
            format!("PROXY TCP6 {v6_max} {v6_max} 65535 65535\r\n").as_bytes(),
            Some((
                "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
                "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
            )),
        ),
        v1("v1 unknown, short form", b"PROXY UNKNOWN\r\n", None),
        v1(
            "v1 unknown, worst case",
            format!("PROXY UNKNOWN {v6_max} {v6_max} 65535 65535\r\n").as_bytes(),
            None,
        ),
        v1(
            "v1 before an HTTP request",
            &[
                &b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"[..],
                REQUEST,
            ]
            .concat(),
            Some(("192.168.0.1:56324", "192.168.0.11:443")),
        ),
        v2("v2 LOCAL, UNSPEC", 0x20, 0x00, &[], REQUEST),
        v2(
            "v2 LOCAL with an address block",
            0x20,
            0x11,
            &IPV4_BLOCK,
            REQUEST,
        ),
        v2("v2 PROXY, UNSPEC", 0x21, 0x00, &[], REQUEST),
        v2("v2 TCP over IPv4", 0x21, 0x11, &IPV4_BLOCK, REQUEST)
            .with(tcp("192.168.0.1:56324"), tcp("192.168.0.11:443")),
        v2("v2 UDP over IPv4", 0x21, 0x12, &IPV4_BLOCK, b"")
            .with(udp("192.168.0.1:56324"), udp("192.168.0.11:443")),
        v2("v2 TCP over IPv6", 0x21, 0x21, &ipv6_block(), REQUEST)
            .with(tcp("[2001:db8::1]:56324"), tcp("[2001:db8::11]:443")),
        v2("v2 UDP over IPv6", 0x21, 0x22, &ipv6_block(), b"")
            .with(udp("[2001:db8::1]:56324"), udp("[2001:db8::11]:443")),
        v2("v2 UNIX stream", 0x21, 0x31, &unix_block, REQUEST)
            .with(unix("/var/run/client.sock"), unix("/var/run/server.sock")),
        v2("v2 UNIX datagram, unnamed", 0x21, 0x32, &[0; 216], b"")
            .with(Address::unix(None), Address::unix(None)),
        v2(
            "v2 TCP over IPv4 with TLVs",
            0x21,
            0x11,
            &tlv_block,
            REQUEST,
        )
        .with(tcp("192.168.0.1:56324"), tcp("192.168.0.11:443"))
        .with_tlvs(vec![
            Tlv::new(Tlv::ALPN, &b"h2"[..]),
            Tlv::new(Tlv::AUTHORITY, &b"example.com"[..]),
            Tlv::new(Tlv::NOOP, vec![0, 0, 0]),
            Tlv::new(Tlv::UNIQUE_ID, &b"abc"[..]),
        ]),
        v2(
            "v2 TCP over IPv4 with a CRC32c",
            0x21,
            0x11,
            &crc_block,
            REQUEST,
        )
        .with(tcp("192.168.0.1:56324"), tcp("192.168.0.11:443"))
        .with_tlvs(vec![Tlv::new(Tlv::CRC32C, vec![0x1C, 0x1A, 0xE9, 0xC6])]),
    ]
}

/// Lengths the spec gives for its v1 lines: 56, 104, 15, 107 characters.
#[test]
fn v1_examples_have_the_spec_s_lengths() {
    let lens: Vec<usize> = all()[..4].iter().map(|e| e.header_len).collect();
    assert_eq!(lens, [56, 104, 15, 107]);
}
