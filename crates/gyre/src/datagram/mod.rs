//! Datagram sockets, whatever their family: the [`DatagramProtocol`] both
//! UDP ports ([`crate::udp`]) and UNIX datagram sockets
//! ([`crate::unix`]) deliver to, and the [`DatagramTransport`] handle it
//! is given. As in Twisted, one protocol trait serves both; only the
//! address differs (`IPv4Address(type='UDP', …)` or `UNIXAddress(…)`, both
//! an [`Address`]).
//!
//! This module knows no socket family: each family's port implements
//! `DatagramPort` and hands its protocol a [`DatagramTransport`] around
//! itself.

mod error;
mod protocol;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use socket2::SockRef;

use crate::address::Address;
use crate::completion::Completion;

pub use error::DatagramError;
pub(crate) use protocol::ErasedDatagram;
pub use protocol::{DatagramProtocol, SharedDatagram};

/// Where a datagram goes: an IP address and port, or a UNIX socket path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A UDP peer.
    Inet(SocketAddr),
    /// A UNIX datagram socket (a path, or `@name` for an abstract one).
    Unix(PathBuf),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Inet(addr) => write!(f, "{addr}"),
            Target::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Something a datagram can be sent to: a [`SocketAddr`], a host given as
/// text with a port (`("127.0.0.1", 9)`, which must be an IP literal), a
/// UNIX socket path, or an [`Address`] (such as the `from` a datagram
/// arrived with, to answer it).
pub trait DatagramTarget {
    /// The target, or why there is none (`why` is the text for a host that
    /// is not an IP literal).
    fn target(&self, why: &'static str) -> Result<Target, DatagramError>;
}

impl DatagramTarget for SocketAddr {
    fn target(&self, _: &'static str) -> Result<Target, DatagramError> {
        Ok(Target::Inet(*self))
    }
}

impl DatagramTarget for (IpAddr, u16) {
    fn target(&self, _: &'static str) -> Result<Target, DatagramError> {
        Ok(Target::Inet(SocketAddr::new(self.0, self.1)))
    }
}

impl DatagramTarget for (Ipv4Addr, u16) {
    fn target(&self, _: &'static str) -> Result<Target, DatagramError> {
        Ok(Target::Inet(SocketAddr::new(self.0.into(), self.1)))
    }
}

impl DatagramTarget for (Ipv6Addr, u16) {
    fn target(&self, _: &'static str) -> Result<Target, DatagramError> {
        Ok(Target::Inet(SocketAddr::new(self.0.into(), self.1)))
    }
}

impl DatagramTarget for (&str, u16) {
    fn target(&self, why: &'static str) -> Result<Target, DatagramError> {
        match self.0.parse::<IpAddr>() {
            Ok(ip) => Ok(Target::Inet(SocketAddr::new(ip, self.1))),
            Err(_) => Err(DatagramError::InvalidAddress {
                host: self.0.to_owned(),
                why,
            }),
        }
    }
}

impl DatagramTarget for (String, u16) {
    fn target(&self, why: &'static str) -> Result<Target, DatagramError> {
        (self.0.as_str(), self.1).target(why)
    }
}

impl DatagramTarget for &Path {
    fn target(&self, _: &'static str) -> Result<Target, DatagramError> {
        Ok(Target::Unix(self.to_path_buf()))
    }
}

impl DatagramTarget for PathBuf {
    fn target(&self, _: &'static str) -> Result<Target, DatagramError> {
        Ok(Target::Unix(self.clone()))
    }
}

impl DatagramTarget for &PathBuf {
    fn target(&self, _: &'static str) -> Result<Target, DatagramError> {
        Ok(Target::Unix(self.to_path_buf()))
    }
}

/// An IP address, or a named UNIX socket; an unnamed UNIX socket
/// (`UNIXAddress(None)`, an unbound sender) cannot be written to.
impl DatagramTarget for &Address {
    fn target(&self, _: &'static str) -> Result<Target, DatagramError> {
        if let Some(addr) = self.inet() {
            return Ok(Target::Inet(addr));
        }
        match self.unix_path() {
            Some(path) => Ok(Target::Unix(path.to_path_buf())),
            None => Err(DatagramError::InvalidAddress {
                host: "None".to_owned(),
                why: "an unbound UNIX socket has no address to answer",
            }),
        }
    }
}

impl DatagramTarget for Address {
    fn target(&self, why: &'static str) -> Result<Target, DatagramError> {
        (&self).target(why)
    }
}

/// What a family's datagram port offers its [`DatagramTransport`].
pub(crate) trait DatagramPort {
    fn write_to(&self, data: &[u8], to: Target) -> Result<(), DatagramError>;
    fn write(&self, data: &[u8]) -> Result<(), DatagramError>;
    fn connect(&self, to: Target) -> Result<(), DatagramError>;
    fn peer(&self) -> Option<Address>;
    fn host(&self) -> Address;
    fn max_packet_size(&self) -> usize;
    fn stop_listening(&self) -> Completion;
    fn is_listening(&self) -> bool;
    /// Runs `f` on the socket (for its options), or fails with `Closed`.
    fn with_socket(
        &self,
        f: &mut dyn FnMut(SockRef<'_>) -> io::Result<()>,
    ) -> Result<(), DatagramError>;
}

/// A datagram port, UDP or UNIX: where its protocol's datagrams come from
/// and go out (Twisted's `udp.Port` and `unix.DatagramPort`). Cheap to
/// clone; clones are the same port.
#[derive(Clone)]
pub struct DatagramTransport {
    port: Rc<dyn DatagramPort>,
}

impl DatagramTransport {
    pub(crate) fn new(port: Rc<dyn DatagramPort>) -> DatagramTransport {
        DatagramTransport { port }
    }

    /// Sends `data` to `to`: an IP literal and port on a UDP port, a path
    /// on a UNIX one; a datagram's `from` answers it. On a connected port,
    /// `to` must be the peer.
    pub fn write_to(&self, data: &[u8], to: impl DatagramTarget) -> Result<(), DatagramError> {
        let to = to.target("write() only accepts IP addresses, not hostnames")?;
        self.port.write_to(data, to)
    }

    /// Sends `data` to the peer fixed by [`connect`](Self::connect) (or by
    /// `connect_unix_datagram`).
    pub fn write(&self, data: &[u8]) -> Result<(), DatagramError> {
        self.port.write(data)
    }

    /// Fixes the peer: from now on only its datagrams are received, and
    /// [`write`](Self::write) sends to it. Once only.
    pub fn connect(&self, to: impl DatagramTarget) -> Result<(), DatagramError> {
        let to = to.target("not an IPv4 or IPv6 address.")?;
        self.port.connect(to)
    }

    /// The peer fixed by [`connect`](Self::connect), if any.
    pub fn peer(&self) -> Option<Address> {
        self.port.peer()
    }

    /// The bound address: `IPv4Address(type='UDP', host='127.0.0.1',
    /// port=…)`, `UNIXAddress('/path')`, or `UNIXAddress(None)` for an
    /// unbound UNIX socket.
    pub fn host(&self) -> Address {
        self.port.host()
    }

    /// The bound IP address and port of a UDP port (the real port when 0
    /// was asked for); `0.0.0.0:0` for a UNIX socket.
    pub fn address(&self) -> SocketAddr {
        self.port.host().socket_addr()
    }

    /// The longest datagram delivered whole.
    pub fn max_packet_size(&self) -> usize {
        self.port.max_packet_size()
    }

    /// Stops the port (Twisted's `stopListening` / `loseConnection`): the
    /// socket closes now; the completion fires on a later turn, after the
    /// close line and, for the protocol's last port, `stop_protocol`.
    pub fn stop_listening(&self) -> Completion {
        self.port.stop_listening()
    }

    /// True until stopped.
    pub fn is_listening(&self) -> bool {
        self.port.is_listening()
    }

    /// Runs `f` on the socket (its options), or fails with `Closed`.
    pub(crate) fn with_socket<R>(
        &self,
        f: impl FnOnce(SockRef<'_>) -> io::Result<R>,
    ) -> Result<R, DatagramError> {
        let mut f = Some(f);
        let mut out = None;
        self.port.with_socket(&mut |s| {
            if let Some(f) = f.take() {
                out = Some(f(s)?);
            }
            Ok(())
        })?;
        out.ok_or(DatagramError::Closed)
    }
}

impl std::fmt::Debug for DatagramTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<DatagramTransport on {}>", self.port.host())
    }
}
