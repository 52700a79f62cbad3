//! [`ProxyHeader`]: what a PROXY protocol header says, and its two wire
//! forms (v1 text, v2 binary). Reading one is [`parse`](super::parse)'s
//! job; this file builds and encodes them.
//!
//! Field by field, a header is: the version it was (or will be) written in;
//! the command (`LOCAL` for the balancer's own connections, `PROXY` for a
//! relayed client); the client's and the server's address when the header
//! carries them (`None` for `LOCAL`, v1 `UNKNOWN` and v2 `UNSPEC`, which
//! say "use the connection's own addresses"); and v2's TLVs in the order
//! they came.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use crate::address::{Address, SocketKind};

/// The twelve bytes every v2 header starts with.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The longest v1 line, CRLF included (the spec's worst case,
/// `PROXY UNKNOWN` with two full IPv6 addresses and ports).
pub const V1_MAX_LEN: usize = 107;

/// The longest v2 header there can be: 16 fixed bytes and a 16-bit length.
pub const V2_MAX_LEN: usize = 16 + u16::MAX as usize;

/// The size of one UNIX address in a v2 header (a `sun_path`).
pub(super) const UNIX_ADDRESS_LEN: usize = 108;

/// Which form of the protocol a header is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// The human-readable line: `PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n`.
    V1,
    /// The binary form: the 12-byte signature, then version and command,
    /// family and protocol, length, addresses and TLVs.
    V2,
}

impl Version {
    /// 1 or 2.
    pub fn number(self) -> u8 {
        match self {
            Version::V1 => 1,
            Version::V2 => 2,
        }
    }
}

/// What the connection carrying a header is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// v2 `LOCAL`: the balancer made the connection for itself (a health
    /// check); the connection's own addresses are the right ones.
    Local,
    /// `PROXY`: the connection is relayed on behalf of a client; the
    /// header's addresses, when it has them, are the client's and the
    /// server's (every v1 header is this).
    Proxy,
}

/// One v2 type-length-value entry: extra facts a balancer passes on (the
/// ALPN or SNI the client sent, TLS details, a unique connection ID).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tlv {
    /// The type byte.
    pub kind: u8,
    /// The value, at most 65,535 bytes.
    pub value: Vec<u8>,
}

impl Tlv {
    /// `PP2_TYPE_ALPN`: the application protocol negotiated (TLS ALPN).
    pub const ALPN: u8 = 0x01;
    /// `PP2_TYPE_AUTHORITY`: the host name the client asked for (TLS SNI), UTF-8.
    pub const AUTHORITY: u8 = 0x02;
    /// `PP2_TYPE_CRC32C`: a CRC32c of the whole header; checked when read.
    pub const CRC32C: u8 = 0x03;
    /// `PP2_TYPE_NOOP`: padding, to be ignored.
    pub const NOOP: u8 = 0x04;
    /// `PP2_TYPE_UNIQUE_ID`: an opaque ID of the connection, up to 128 bytes.
    pub const UNIQUE_ID: u8 = 0x05;
    /// `PP2_TYPE_SSL`: TLS details of the client's connection (with sub-TLVs).
    pub const SSL: u8 = 0x20;
    /// `PP2_TYPE_NETNS`: the network namespace's name.
    pub const NETNS: u8 = 0x30;

    /// A TLV of type `kind`.
    pub fn new(kind: u8, value: impl Into<Vec<u8>>) -> Tlv {
        Tlv {
            kind,
            value: value.into(),
        }
    }
}

/// A PROXY protocol header: who the client is, as the balancer saw it.
///
/// Read from a stream by [`parse`](super::parse) (and by the
/// [`AcceptProxy`](super::AcceptProxy) wrapper), or built to be sent:
///
/// ```
/// use gyre::Address;
/// use gyre::haproxy::{ProxyHeader, Version};
///
/// let client = Address::tcp("192.168.0.1:56324".parse()?);
/// let server = Address::tcp("192.168.0.11:443".parse()?);
/// let header = ProxyHeader::new(Version::V1, client, server);
/// assert_eq!(header.encode()?, b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProxyHeader {
    version: Version,
    command: Command,
    addresses: Option<(Address, Address)>,
    tlvs: Vec<Tlv>,
}

impl ProxyHeader {
    /// A `PROXY` header for a client at `source` that connected to
    /// `destination` (TCP, UDP or UNIX addresses; see [`encode`](Self::encode)
    /// for what each version can carry).
    pub fn new(version: Version, source: Address, destination: Address) -> ProxyHeader {
        ProxyHeader {
            version,
            command: Command::Proxy,
            addresses: Some((source, destination)),
            tlvs: Vec::new(),
        }
    }

    /// A `LOCAL` header (the sender's own connection, such as a health
    /// check). v1 has no `LOCAL`; it is sent as `PROXY UNKNOWN`.
    pub fn local(version: Version) -> ProxyHeader {
        ProxyHeader {
            version,
            command: Command::Local,
            addresses: None,
            tlvs: Vec::new(),
        }
    }

    /// A `PROXY` header without addresses (v1 `UNKNOWN`, v2 `UNSPEC`): the
    /// sender could not tell; the receiver uses the connection's own.
    pub fn unknown(version: Version) -> ProxyHeader {
        ProxyHeader {
            version,
            command: Command::Proxy,
            addresses: None,
            tlvs: Vec::new(),
        }
    }

    /// Adds a TLV (sent in v2 only; v1 has none).
    pub fn with_tlv(mut self, tlv: Tlv) -> ProxyHeader {
        self.tlvs.push(tlv);
        self
    }

    /// The version it was read in, or will be written in.
    pub fn version(&self) -> Version {
        self.version
    }

    /// `LOCAL` or `PROXY`.
    pub fn command(&self) -> Command {
        self.command
    }

    /// The client's address, when the header gives one.
    pub fn source(&self) -> Option<&Address> {
        self.addresses.as_ref().map(|(source, _)| source)
    }

    /// The address the client connected to, when the header gives one.
    pub fn destination(&self) -> Option<&Address> {
        self.addresses.as_ref().map(|(_, destination)| destination)
    }

    /// Every TLV, in the order read (or added).
    pub fn tlvs(&self) -> &[Tlv] {
        &self.tlvs
    }

    /// The value of the first TLV of type `kind`.
    pub fn tlv(&self, kind: u8) -> Option<&[u8]> {
        self.tlvs
            .iter()
            .find(|t| t.kind == kind)
            .map(|t| t.value.as_slice())
    }

    /// Parts for the parser: a header read from the wire.
    pub(super) fn read(
        version: Version,
        command: Command,
        addresses: Option<(Address, Address)>,
        tlvs: Vec<Tlv>,
    ) -> ProxyHeader {
        ProxyHeader {
            version,
            command,
            addresses,
            tlvs,
        }
    }

    /// The header's bytes, in its version.
    ///
    /// * v1 carries TCP over IPv4 or IPv6 only: a `PROXY` header with two
    ///   TCP addresses is `PROXY TCP4 …` (or `TCP6`; an IPv4 address beside
    ///   an IPv6 one is written IPv4-mapped); anything else (UDP or UNIX
    ///   addresses, no addresses, `LOCAL`) is `PROXY UNKNOWN\r\n`, as the
    ///   spec asks. TLVs are not sent.
    /// * v2 carries all of it: TCP and UDP over IPv4 or IPv6, UNIX paths
    ///   (an unnamed socket as an empty path), `LOCAL`, `UNSPEC`, TLVs.
    ///
    /// Fails only in v2, for what does not fit the format: more than 65,535
    /// bytes after the fixed 16, or a UNIX path longer than 108 bytes.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        match self.version {
            Version::V1 => Ok(self.encode_v1().into_bytes()),
            Version::V2 => self.encode_v2(),
        }
    }

    fn encode_v1(&self) -> String {
        let tcp = match (&self.command, &self.addresses) {
            (Command::Proxy, Some((s, d))) if s.kind() == SocketKind::Tcp => {
                match (s.inet(), d.inet(), d.kind()) {
                    (Some(s), Some(d), SocketKind::Tcp) => Some((s, d)),
                    _ => None,
                }
            }
            _ => None,
        };
        let Some((source, destination)) = tcp else {
            return "PROXY UNKNOWN\r\n".to_string();
        };
        let (family, s, d) = match (source.ip(), destination.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => ("TCP4", s.to_string(), d.to_string()),
            (s, d) => ("TCP6", ipv6_text(&as_v6(s)), ipv6_text(&as_v6(d))),
        };
        format!(
            "PROXY {family} {s} {d} {} {}\r\n",
            source.port(),
            destination.port()
        )
    }

    fn encode_v2(&self) -> Result<Vec<u8>, EncodeError> {
        let (command, family, block) = match (&self.command, &self.addresses) {
            (Command::Local, _) => (0x0, 0x00, Vec::new()),
            (Command::Proxy, None) => (0x1, 0x00, Vec::new()),
            (Command::Proxy, Some((s, d))) => {
                let (family, block) = address_block(s, d)?;
                (0x1, family, block)
            }
        };
        let tlv_len: usize = self.tlvs.iter().map(|t| 3 + t.value.len()).sum();
        let length = block.len() + tlv_len;
        if length > usize::from(u16::MAX) || self.tlvs.iter().any(|t| t.value.len() > 0xffff) {
            return Err(EncodeError::TooLong { length });
        }
        let mut out = Vec::with_capacity(16 + length);
        out.extend_from_slice(&V2_SIGNATURE);
        out.push(0x20 | command);
        out.push(family);
        out.extend_from_slice(&(length as u16).to_be_bytes());
        out.extend_from_slice(&block);
        for tlv in &self.tlvs {
            out.push(tlv.kind);
            out.extend_from_slice(&(tlv.value.len() as u16).to_be_bytes());
            out.extend_from_slice(&tlv.value);
        }
        Ok(out)
    }
}

/// The family-and-protocol byte and the address block of a v2 `PROXY`
/// header for `source` and `destination`.
fn address_block(source: &Address, destination: &Address) -> Result<(u8, Vec<u8>), EncodeError> {
    let protocol = match source.kind() {
        SocketKind::Udp => 0x2,
        SocketKind::Tcp | SocketKind::Unix => 0x1,
    };
    match (source.inet(), destination.inet()) {
        (Some(s), Some(d)) => Ok(inet_block(protocol, s, d)),
        (None, None) => {
            let mut block = Vec::with_capacity(2 * UNIX_ADDRESS_LEN);
            for address in [source, destination] {
                block.extend_from_slice(&unix_path_bytes(address)?);
            }
            Ok((0x30 | protocol, block))
        }
        // A UNIX address beside an IP one: no family fits both.
        _ => Ok((0x00, Vec::new())),
    }
}

fn inet_block(protocol: u8, source: SocketAddr, destination: SocketAddr) -> (u8, Vec<u8>) {
    let mut block = Vec::with_capacity(36);
    let family = match (source.ip(), destination.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            block.extend_from_slice(&s.octets());
            block.extend_from_slice(&d.octets());
            0x10
        }
        (s, d) => {
            block.extend_from_slice(&as_v6(s).octets());
            block.extend_from_slice(&as_v6(d).octets());
            0x20
        }
    };
    block.extend_from_slice(&source.port().to_be_bytes());
    block.extend_from_slice(&destination.port().to_be_bytes());
    (family | protocol, block)
}

/// A UNIX address as the 108 bytes of a `sun_path`, zero-padded.
fn unix_path_bytes(address: &Address) -> Result<[u8; UNIX_ADDRESS_LEN], EncodeError> {
    use std::os::unix::ffi::OsStrExt;
    let mut out = [0u8; UNIX_ADDRESS_LEN];
    if let Some(path) = address.unix_path() {
        let bytes = path.as_os_str().as_bytes();
        if bytes.len() > UNIX_ADDRESS_LEN {
            return Err(EncodeError::UnixPathTooLong {
                length: bytes.len(),
            });
        }
        out[..bytes.len()].copy_from_slice(bytes);
    }
    Ok(out)
}

fn as_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// An IPv6 address as the spec writes it: groups of hex digits and at most
/// one `::` for the longest run of zero groups (never the dotted tail that
/// Rust's `Display` gives an IPv4-mapped address).
pub(super) fn ipv6_text(ip: &Ipv6Addr) -> String {
    let groups = ip.segments();
    // The longest run of two or more zero groups (the first, on a tie).
    let (mut best, mut run) = ((0, 0), (0, 0));
    for (i, g) in groups.iter().enumerate() {
        if *g == 0 {
            run = if run.1 == 0 {
                (i, 1)
            } else {
                (run.0, run.1 + 1)
            };
            if run.1 > best.1 {
                best = run;
            }
        } else {
            run = (0, 0);
        }
    }
    let hex = |gs: &[u16]| {
        gs.iter()
            .map(|g| format!("{g:x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    if best.1 < 2 {
        return hex(&groups);
    }
    let (start, len) = best;
    format!("{}::{}", hex(&groups[..start]), hex(&groups[start + len..]))
}

/// A header that cannot be written in v2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The addresses and TLVs come to more than the 65,535 bytes a v2
    /// length can announce (or one TLV value is longer than that).
    #[error("a PROXY v2 header cannot carry {length} bytes of addresses and TLVs (at most 65535)")]
    TooLong {
        /// The bytes after the fixed 16.
        length: usize,
    },
    /// A UNIX path does not fit the 108 bytes of a v2 address.
    #[error("a UNIX path of {length} bytes does not fit a PROXY v2 header (at most 108)")]
    UnixPathTooLong {
        /// The path's length in bytes.
        length: usize,
    },
}

/// The CRC32c (Castagnoli) of `data`, as the `PP2_TYPE_CRC32C` TLV carries it.
pub(super) fn crc32c(data: &[u8]) -> u32 {
    const POLY: u32 = 0x82f6_3b78; // reflected 0x1EDC6F41
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (POLY & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.number())
    }
}
