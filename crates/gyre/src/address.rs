//! Address values: where a transport's ends are.
//!
//! An [`Address`] is a plain value (equality and hash by value) naming one end
//! of a connection. Its `Display` matches the representation Twisted users see
//! in logs, `IPv4Address(type='TCP', host='127.0.0.1', port=8000)`, so log
//! lines read the same. Tests for this module are at the bottom of the file.

use std::fmt;
use std::net::SocketAddr;

/// The kind of socket an address belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SocketKind {
    /// A stream (TCP) socket.
    Tcp,
    /// A datagram (UDP) socket.
    Udp,
}

impl SocketKind {
    fn as_str(self) -> &'static str {
        match self {
            SocketKind::Tcp => "TCP",
            SocketKind::Udp => "UDP",
        }
    }
}

/// One end of a connection or a listening port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Address {
    kind: SocketKind,
    addr: SocketAddr,
}

impl Address {
    /// A TCP address.
    pub fn tcp(addr: SocketAddr) -> Self {
        Address {
            kind: SocketKind::Tcp,
            addr,
        }
    }

    /// A UDP address.
    pub fn udp(addr: SocketAddr) -> Self {
        Address {
            kind: SocketKind::Udp,
            addr,
        }
    }

    /// The socket kind (`TCP` or `UDP`).
    pub fn kind(&self) -> SocketKind {
        self.kind
    }

    /// The IP address and port.
    pub fn socket_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The host part, as text (`127.0.0.1`, `::1`).
    pub fn host(&self) -> String {
        self.addr.ip().to_string()
    }

    /// The port number.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let family = if self.addr.is_ipv4() {
            "IPv4Address"
        } else {
            "IPv6Address"
        };
        write!(
            f,
            "{family}(type='{}', host='{}', port={})",
            self.kind.as_str(),
            self.addr.ip(),
            self.addr.port()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Addresses print like Twisted's address values.
    #[test]
    fn display_matches_twisted() {
        let a = Address::tcp("127.0.0.1:8000".parse().unwrap());
        assert_eq!(
            a.to_string(),
            "IPv4Address(type='TCP', host='127.0.0.1', port=8000)"
        );
        let b = Address::udp("[::1]:53".parse().unwrap());
        assert_eq!(
            b.to_string(),
            "IPv6Address(type='UDP', host='::1', port=53)"
        );
        assert_eq!(b.host(), "::1");
        assert_eq!(b.port(), 53);
    }
}
