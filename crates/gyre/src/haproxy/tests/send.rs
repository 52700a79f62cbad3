//! Encoding headers and the sending wrapper. Expected bytes are the spec's
//! layouts written out by hand (v2) and its line format (v1).

use std::path::Path;

use super::examples::{self, SIG};
use crate::address::Address;
use crate::factory::{Factory, for_protocol};
use crate::haproxy::{
    EncodeError, Parsed, ProxyHeader, SendHeader, SendProxy, Tlv, Version, parse,
};
use crate::protocol::Protocol;
use crate::testing::StringTransport;
use crate::transport::Transport;
use crate::wrap::WrappingFactory;

fn tcp(s: &str) -> Address {
    Address::tcp(s.parse().unwrap())
}

/// A v1 header is the spec's line for TCP over IPv4 and IPv6, IPv6 written
/// as hex groups with one `::`; an IPv4 address beside an IPv6 one is
/// written IPv4-mapped.
#[test]
fn v1_lines() {
    let cases = [
        (
            tcp("192.168.0.1:56324"),
            tcp("192.168.0.11:443"),
            "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
        ),
        (
            tcp("[2001:db8::1]:1"),
            tcp("[2001:db8:0:0:1:0:0:1]:2"),
            "PROXY TCP6 2001:db8::1 2001:db8::1:0:0:1 1 2\r\n",
        ),
        (
            tcp("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"),
            tcp("[::]:0"),
            "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff :: 65535 0\r\n",
        ),
        (
            tcp("127.0.0.7:40000"),
            tcp("[::1]:8000"),
            "PROXY TCP6 ::ffff:7f00:7 ::1 40000 8000\r\n",
        ),
    ];
    for (source, destination, line) in cases {
        let header = ProxyHeader::new(Version::V1, source, destination);
        assert_eq!(String::from_utf8(header.encode().unwrap()).unwrap(), line);
    }
}

/// What v1 cannot carry (UDP, UNIX, no addresses, LOCAL) is sent as
/// `PROXY UNKNOWN`, without TLVs.
#[test]
fn v1_unknown() {
    let unix = Address::unix(Some(Path::new("/tmp/s")));
    let udp = Address::udp("192.0.2.1:53".parse().unwrap());
    for header in [
        ProxyHeader::new(Version::V1, udp.clone(), udp),
        ProxyHeader::new(Version::V1, unix.clone(), unix),
        ProxyHeader::unknown(Version::V1),
        ProxyHeader::local(Version::V1).with_tlv(Tlv::new(Tlv::NOOP, vec![0])),
    ] {
        assert_eq!(header.encode().unwrap(), b"PROXY UNKNOWN\r\n", "{header:?}");
    }
}

/// A v2 header is the spec's layout: signature, version and command,
/// family and protocol, length, addresses in network order, TLVs.
#[test]
fn v2_layouts() {
    let mut tcp4 = SIG.to_vec();
    tcp4.extend_from_slice(&[0x21, 0x11, 0x00, 0x12]);
    tcp4.extend_from_slice(&[192, 168, 0, 1, 192, 168, 0, 11, 0xDC, 0x04, 0x01, 0xBB]);
    tcp4.extend_from_slice(&[0x02, 0x00, 0x03, b'a', b'.', b'b']);
    let header = ProxyHeader::new(
        Version::V2,
        tcp("192.168.0.1:56324"),
        tcp("192.168.0.11:443"),
    )
    .with_tlv(Tlv::new(Tlv::AUTHORITY, &b"a.b"[..]));
    assert_eq!(header.encode().unwrap(), tcp4);

    let mut mixed = SIG.to_vec();
    mixed.extend_from_slice(&[0x21, 0x21, 0x00, 0x24]);
    mixed.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 127, 0, 0, 7]);
    mixed.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    mixed.extend_from_slice(&[0x9C, 0x40, 0x1F, 0x40]);
    let header = ProxyHeader::new(Version::V2, tcp("127.0.0.7:40000"), tcp("[::1]:8000"));
    assert_eq!(header.encode().unwrap(), mixed);

    let mut unix = SIG.to_vec();
    unix.extend_from_slice(&[0x21, 0x31, 0x00, 0xD8]);
    let mut path = b"/run/a".to_vec();
    path.resize(108, 0);
    unix.extend_from_slice(&path);
    unix.extend_from_slice(&[0; 108]);
    let header = ProxyHeader::new(
        Version::V2,
        Address::unix(Some(Path::new("/run/a"))),
        Address::unix(None),
    );
    assert_eq!(header.encode().unwrap(), unix);

    let local = [&SIG[..], &[0x20, 0x00, 0x00, 0x00]].concat();
    assert_eq!(ProxyHeader::local(Version::V2).encode().unwrap(), local);
    let unspec = [&SIG[..], &[0x21, 0x00, 0x00, 0x00]].concat();
    assert_eq!(ProxyHeader::unknown(Version::V2).encode().unwrap(), unspec);
    let half = ProxyHeader::new(Version::V2, Address::unix(None), tcp("192.0.2.1:1"));
    assert_eq!(half.encode().unwrap(), unspec, "no family fits UNIX and IP");
}

/// What does not fit v2 is an error, not a panic.
#[test]
fn v2_limits() {
    let long = ProxyHeader::unknown(Version::V2).with_tlv(Tlv::new(0xE0, vec![0; 65533]));
    assert_eq!(long.encode(), Err(EncodeError::TooLong { length: 65536 }));
    let fits = ProxyHeader::unknown(Version::V2).with_tlv(Tlv::new(0xE0, vec![0; 65532]));
    assert_eq!(fits.encode().unwrap().len(), 16 + 65535);
    let path = "/".repeat(109);
    let unix = Address::unix(Some(Path::new(&path)));
    let header = ProxyHeader::new(Version::V2, unix.clone(), unix);
    assert_eq!(
        header.encode(),
        Err(EncodeError::UnixPathTooLong { length: 109 })
    );
    assert!(SendHeader::new(&header).is_err());
}

/// Every example header of the spec that gyre can write reads back as
/// itself when encoded (LOCAL and UNSPEC examples lose only their skipped
/// block).
#[test]
fn examples_round_trip() {
    for e in examples::all() {
        let Parsed::Done(header, _) = parse(&e.wire, usize::MAX) else {
            panic!("{}", e.name)
        };
        let bytes = header.encode().unwrap();
        assert_eq!(
            parse(&bytes, usize::MAX),
            Parsed::Done(header.clone(), bytes.len()),
            "{}",
            e.name
        );
        // A UNIX address does not say stream or datagram; gyre writes stream.
        if e.addresses.is_some() && e.version == Version::V2 && !e.name.contains("datagram") {
            assert_eq!(bytes, e.wire[..e.header_len], "{}", e.name);
        }
    }
}

/// Says hello when connected.
struct Hello;
impl Protocol for Hello {
    fn connection_made(&mut self, transport: &Transport) {
        transport.write(b"hello");
    }
}

/// The header is the first thing on the wire, before anything the
/// protocol writes; every connection of a wrapped factory gets it.
#[test]
fn the_header_goes_first() {
    let header = ProxyHeader::new(Version::V1, tcp("192.0.2.7:1"), tcp("192.0.2.1:2"));
    let mut protocol = SendProxy::new(Hello, &header).unwrap();
    let st = StringTransport::new();
    st.make_connection(&mut protocol);
    assert_eq!(st.value(), b"PROXY TCP4 192.0.2.7 192.0.2.1 1 2\r\nhello");

    let factory = WrappingFactory::wrap(for_protocol(|| Hello), SendHeader::new(&header).unwrap());
    for _ in 0..2 {
        let mut protocol = factory.build_protocol(&tcp("192.0.2.1:2")).unwrap();
        let st = StringTransport::new();
        st.make_connection(&mut protocol);
        assert_eq!(st.value(), b"PROXY TCP4 192.0.2.7 192.0.2.1 1 2\r\nhello");
    }
    assert!(format!("{:?}", factory.wrapper()).contains("len: 36"));
}
