//! Address values: where a transport's ends are.
//!
//! An [`Address`] is a plain value (equality and hash by value) naming one end
//! of a connection. Its `Display` matches the representation Twisted users see
//! in logs, `IPv4Address(type='TCP', host='127.0.0.1', port=8000)`, so log
//! lines read the same. Tests for this module are at the bottom of the file.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

/// The kind of socket an address belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SocketKind {
    /// A stream (TCP) socket.
    Tcp,
    /// A datagram (UDP) socket.
    Udp,
    /// A UNIX-domain socket.
    Unix,
}

impl SocketKind {
    fn as_str(self) -> &'static str {
        match self {
            SocketKind::Tcp => "TCP",
            SocketKind::Udp => "UDP",
            SocketKind::Unix => "UNIX",
        }
    }
}

/// Where an address points.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Place {
    /// An IP address and port (TCP, UDP).
    Inet(SocketAddr),
    /// A UNIX socket's path; `None` for an unnamed socket (a client's own
    /// end, either end of a `socketpair`).
    Unix(Option<Arc<Path>>),
}

/// One end of a connection or a listening port.
///
/// Cheap to clone: an IP address is stored inline, a UNIX path is shared.
///
/// A factory's `build_protocol` gets the peer's address, and a transport
/// has [`peer`](crate::Transport::peer) and [`host`](crate::Transport::host).
/// It prints as Twisted's address values do (log lines show it that way):
///
/// ```
/// use std::path::Path;
///
/// use gyre::address::SocketKind;
/// use gyre::Address;
///
/// let peer = Address::tcp("192.0.2.7:40312".parse()?);
/// assert_eq!((peer.host(), peer.port()), ("192.0.2.7".to_string(), 40312));
/// assert_eq!(peer.to_string(), "IPv4Address(type='TCP', host='192.0.2.7', port=40312)");
/// assert_eq!(peer.kind(), SocketKind::Tcp);
///
/// let v6: Address = "[::1]:8000".parse::<std::net::SocketAddr>()?.into();
/// assert_eq!(v6.to_string(), "IPv6Address(type='TCP', host='::1', port=8000, flowInfo=0, scopeID=0)");
///
/// let socket = Address::unix(Some(Path::new("/run/app.sock")));
/// assert_eq!(socket.inet(), None);
/// assert_eq!(socket.unix_path(), Some(Path::new("/run/app.sock")));
/// assert_eq!(socket.to_string(), "UNIXAddress('/run/app.sock')");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    kind: SocketKind,
    place: Place,
}

impl Address {
    /// A TCP address.
    pub fn tcp(addr: SocketAddr) -> Self {
        Address {
            kind: SocketKind::Tcp,
            place: Place::Inet(addr),
        }
    }

    /// A UDP address.
    pub fn udp(addr: SocketAddr) -> Self {
        Address {
            kind: SocketKind::Udp,
            place: Place::Inet(addr),
        }
    }

    /// A UNIX-domain address: the socket's path, or `None` for an unnamed
    /// socket (Twisted's `UNIXAddress(None)`). A Linux abstract name is a
    /// path starting with a NUL byte (`"\0name"`); it is shown as `@name`.
    pub fn unix(path: Option<&Path>) -> Self {
        Address {
            kind: SocketKind::Unix,
            place: Place::Unix(path.map(Arc::from)),
        }
    }

    /// The socket kind (`TCP`, `UDP` or `UNIX`).
    pub fn kind(&self) -> SocketKind {
        self.kind
    }

    /// The IP address and port of a TCP or UDP address; for a UNIX address,
    /// the unspecified IPv4 address and port 0.
    pub fn socket_addr(&self) -> SocketAddr {
        match &self.place {
            Place::Inet(addr) => *addr,
            Place::Unix(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        }
    }

    /// The IP address and port, or `None` for a UNIX address.
    pub fn inet(&self) -> Option<SocketAddr> {
        match &self.place {
            Place::Inet(addr) => Some(*addr),
            Place::Unix(_) => None,
        }
    }

    /// A UNIX address's path (`None` when unnamed, and for IP addresses).
    pub fn unix_path(&self) -> Option<&Path> {
        match &self.place {
            Place::Unix(path) => path.as_deref(),
            Place::Inet(_) => None,
        }
    }

    /// The host part, as text: `127.0.0.1`, `::1`; for a UNIX address its
    /// path, or the empty string when it is unnamed (what Twisted puts in a
    /// UNIX server connection's log prefix, `Echo,0,`).
    pub fn host(&self) -> String {
        match &self.place {
            Place::Inet(addr) => addr.ip().to_string(),
            Place::Unix(Some(path)) => shown_path(path),
            Place::Unix(None) => String::new(),
        }
    }

    /// The port number (0 for a UNIX address).
    pub fn port(&self) -> u16 {
        match &self.place {
            Place::Inet(addr) => addr.port(),
            Place::Unix(_) => 0,
        }
    }
}

impl From<SocketAddr> for Address {
    /// A TCP address.
    fn from(addr: SocketAddr) -> Self {
        Address::tcp(addr)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.place {
            Place::Inet(SocketAddr::V4(addr)) => write!(
                f,
                "IPv4Address(type='{}', host='{}', port={})",
                self.kind.as_str(),
                addr.ip(),
                addr.port()
            ),
            // Twisted's IPv6Address also shows the flow label and scope.
            Place::Inet(SocketAddr::V6(addr)) => write!(
                f,
                "IPv6Address(type='{}', host='{}', port={}, flowInfo={}, scopeID={})",
                self.kind.as_str(),
                addr.ip(),
                addr.port(),
                addr.flowinfo(),
                addr.scope_id()
            ),
            Place::Unix(Some(path)) => write!(f, "UNIXAddress('{}')", shown_path(path)),
            Place::Unix(None) => f.write_str("UNIXAddress(None)"),
        }
    }
}

/// A UNIX socket path as text; an abstract name (a leading NUL) as `@name`
/// (Twisted prints the raw NUL).
pub(crate) fn shown_path(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    match path.as_os_str().as_bytes().split_first() {
        Some((0, name)) => format!("@{}", String::from_utf8_lossy(name)),
        _ => path.display().to_string(),
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
            "IPv6Address(type='UDP', host='::1', port=53, flowInfo=0, scopeID=0)"
        );
        assert_eq!(b.host(), "::1");
        assert_eq!(b.port(), 53);
    }

    /// UNIX addresses print like Twisted's `UNIXAddress`, named or not.
    #[test]
    fn unix_addresses_match_twisted() {
        let named = Address::unix(Some(Path::new("/tmp/s.sock")));
        assert_eq!(named.to_string(), "UNIXAddress('/tmp/s.sock')");
        assert_eq!(named.unix_path(), Some(Path::new("/tmp/s.sock")));
        assert_eq!(named.inet(), None);
        let unnamed = Address::unix(None);
        assert_eq!(unnamed.to_string(), "UNIXAddress(None)");
        assert_eq!((unnamed.host(), unnamed.port()), (String::new(), 0));
        assert_eq!(unnamed.kind(), SocketKind::Unix);
        let abstract_name = Address::unix(Some(Path::new("\0gyre-test")));
        assert_eq!(abstract_name.to_string(), "UNIXAddress('@gyre-test')");
        assert_eq!(abstract_name.host(), "@gyre-test");
    }
}
