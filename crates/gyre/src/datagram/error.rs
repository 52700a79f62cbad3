//! [`DatagramError`]: why a datagram write or `connect` was refused.

use std::io;
use std::sync::Arc;

/// Why a datagram port (UDP or UNIX) refused a `write_to`, `write`, `connect` or multicast
/// call. Every refusal is a value, never a panic; the texts follow
/// Twisted's where it has one.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum DatagramError {
    /// The host is not an IP literal (a host name: UDP ports do not resolve
    /// names; Twisted's `InvalidAddressError`).
    #[error("Invalid address {host}: {why}")]
    InvalidAddress {
        /// The host as given.
        host: String,
        /// `write() only accepts IP addresses, not hostnames`, or
        /// `not an IPv4 or IPv6 address`.
        why: &'static str,
    },
    /// An IPv6 address given to an IPv4 port, or the other way round; an
    /// IP address given to a UNIX socket, or a path to a UDP port.
    #[error("Invalid address {host}: {why}")]
    WrongFamily {
        /// The address as given.
        host: String,
        /// `IPv4 port write() called with IPv6 address`, or the reverse.
        why: &'static str,
    },
    /// The datagram is longer than one UDP datagram can be (65,507 bytes
    /// over IPv4, 65,527 over IPv6), or than the route allows (Twisted's
    /// `MessageLengthError`).
    #[error("Message is too long to send: {length} bytes")]
    MessageTooLong {
        /// The datagram's length.
        length: usize,
    },
    /// `connect` on a port that is connected already (Twisted raises
    /// `RuntimeError` here).
    #[error("already connected, reconnecting is not currently supported")]
    AlreadyConnected,
    /// `write` without an address on a port that is not connected.
    #[error("write() without an address needs a connected port (call connect first)")]
    NotConnected,
    /// `write_to` on a connected port (which sends only to its peer).
    #[error("a connected port writes only to its peer {peer}; use write()")]
    Connected {
        /// The peer fixed by `connect`.
        peer: crate::address::Address,
    },
    /// The port has stopped listening.
    #[error("the port is closed")]
    Closed,
    /// Any other OS error (the send buffer is full: `WouldBlock`).
    #[error("{0}")]
    Io(Arc<io::Error>),
}

impl From<io::Error> for DatagramError {
    fn from(e: io::Error) -> Self {
        DatagramError::Io(Arc::new(e))
    }
}
