//! UDP: datagram ports (Twisted's `listenUDP` and `listenMulticast`).
//!
//! A port is a bound UDP socket and the [`DatagramProtocol`] it delivers
//! to; the [`DatagramTransport`] handle is the port itself (writes, the
//! optional fixed peer, multicast options, stopping). There is no factory
//! and no connection; one protocol may serve several ports
//! ([`SharedDatagram`]) and is started and stopped once.
//!
//! As in Twisted (reference §1.8, §17.4):
//!
//! * [`Reactor::listen_udp`] binds at once (an error is a
//!   [`ListenError`]) and logs `<Proto> starting on <port>`, then, for the
//!   protocol's first port, `Starting protocol <path::Proto object at 0x…>`
//!   and `start_protocol`;
//! * each datagram is `datagram_received(transport, data, from)`; a port
//!   reads at most [`READ_BUDGET`] (256 KiB) per readable event and then
//!   yields to the reactor's other work before reading on; a panic in the
//!   protocol is logged (`Unhandled Error`, system `path::Proto (UDP)`)
//!   and the port keeps serving;
//! * a datagram longer than `max_packet_size` (default 8192) is cut there,
//!   and, where Twisted cuts silently, gyre tells the protocol first
//!   ([`DatagramProtocol::datagram_truncated`]);
//! * [`DatagramTransport::write_to`] takes an IP literal only: a host name
//!   is [`DatagramError::InvalidAddress`] (`write() only accepts IP
//!   addresses, not hostnames`), the wrong family
//!   [`DatagramError::WrongFamily`], an oversize datagram
//!   [`DatagramError::MessageTooLong`] — typed errors, never a panic;
//! * [`DatagramTransport::connect`] fixes the peer (a second call is
//!   [`DatagramError::AlreadyConnected`]); then
//!   [`write`](DatagramTransport::write) sends to it, and an ICMP refusal
//!   calls `connection_refused` **and the port stays open** (Twisted's epoll
//!   reactor closes it instead; its select reactor and its docs do this);
//! * writes are batched (Linux, [`UdpListenOptions::send_batching`], on by
//!   default): a turn's first datagram goes out at once, the turn's later
//!   ones in one `sendmmsg` at its end, in order; the typed errors above
//!   are still returned by the write, while an error the system reports
//!   for a queued datagram is logged. Reads are not batched: rustix has
//!   no `recvmmsg` and gyre uses no libc or raw system calls;
//! * `stop_listening` closes the socket at once; on the next turn
//!   `(UDP Port <port> Closed)` is logged, then, for the protocol's last port, `Stopping protocol <…>` and
//!   `stop_protocol`.
//!
//! Multicast ([`Reactor::listen_multicast`]): join and leave groups on a
//! chosen interface, TTL (default 1), loopback (default on), and
//! `SO_REUSEADDR` + `SO_REUSEPORT` so several sockets share a group port;
//! over IPv6 too (a port bound to `::`): [`DatagramTransport::join_group_v6`]
//! on an interface index, hop limit, loopback and outgoing interface.
//! (Linux's loopback interface `lo` has no multicast route: a send to an
//! `ff01::`/`ff02::` group there fails with `Network is unreachable`; an
//! interface-local `ff01::` group on a multicast-capable interface never
//! leaves the host and loops back to its listeners.)
//!
//! Tests: `tests/udp.rs`.

mod port;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::ListenError;
use crate::reactor::Reactor;

pub use crate::datagram::{
    DatagramError, DatagramProtocol, DatagramTarget, DatagramTransport, SharedDatagram, Target,
};

use port::UdpPort;

/// How many bytes a port reads per readable event before it lets the
/// reactor's other sources run (Twisted's `maxThroughput`, 256 KiB).
pub const READ_BUDGET: usize = 256 * 1024;

/// The largest datagram a port delivers whole unless told otherwise:
/// 8192 bytes, Twisted's `maxPacketSize`.
pub const DEFAULT_MAX_PACKET_SIZE: usize = 8192;

/// Options for [`Reactor::listen_udp_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpListenOptions {
    /// The address to bind: an IP literal, or `""` for every IPv4 address
    /// (default).
    pub interface: String,
    /// Datagrams longer than this are cut (default 8192).
    pub max_packet_size: usize,
    /// `SO_REUSEADDR` and `SO_REUSEPORT`, so that several sockets (in this
    /// process or others) bind the same port: Twisted's `listenMultiple`.
    /// Off by default.
    pub listen_multiple: bool,
    /// The kernel's receive buffer for the socket (`SO_RCVBUF`), which
    /// bounds the datagrams queued between two reads; `None` (default)
    /// leaves the system's (`net.core.rmem_default`). Above
    /// `net.core.rmem_max` the kernel caps it, unless the process may
    /// force it (`CAP_NET_ADMIN`: `SO_RCVBUFFORCE`), which is tried then.
    pub receive_buffer_size: Option<usize>,
    /// Send batching (default on, Linux): the first datagram written in a
    /// reactor turn goes out at once; the turn's later ones are queued and
    /// sent at the end of the turn in one `sendmmsg` call, in order. The typed errors (a host name, the wrong
    /// family, an oversize datagram, a closed port) are still returned by
    /// the write; an error the system gives at the send itself (a full
    /// send buffer, no route) is logged instead, as a warning naming the
    /// datagram. Off, each write is one `sendto` and returns that error.
    pub send_batching: bool,
}

impl Default for UdpListenOptions {
    fn default() -> Self {
        UdpListenOptions {
            interface: String::new(),
            max_packet_size: DEFAULT_MAX_PACKET_SIZE,
            listen_multiple: false,
            receive_buffer_size: None,
            send_batching: true,
        }
    }
}

/// Multicast options, on a UDP port (on a UNIX datagram socket they fail
/// with the system's error).
impl DatagramTransport {
    /// Joins multicast group `group` on the interface with address
    /// `interface` (`0.0.0.0`: the system's choice). Joining a group twice
    /// is an error (`Address already in use`).
    pub fn join_group(&self, group: Ipv4Addr, interface: Ipv4Addr) -> Result<(), DatagramError> {
        self.with_socket(|s| s.join_multicast_v4(&group, &interface))
    }

    /// Leaves a group joined with [`join_group`](Self::join_group);
    /// leaving one not joined is an error (`Cannot assign requested
    /// address`).
    pub fn leave_group(&self, group: Ipv4Addr, interface: Ipv4Addr) -> Result<(), DatagramError> {
        self.with_socket(|s| s.leave_multicast_v4(&group, &interface))
    }

    /// Sets the time-to-live of outgoing multicast datagrams (default 1:
    /// this network only).
    pub fn set_ttl(&self, ttl: u32) -> Result<(), DatagramError> {
        self.with_socket(|s| s.set_multicast_ttl_v4(ttl))
    }

    /// The multicast time-to-live.
    pub fn ttl(&self) -> Result<u32, DatagramError> {
        self.with_socket(|s| s.multicast_ttl_v4())
    }

    /// Whether this host's own sockets receive the multicast datagrams
    /// this port sends (default on).
    pub fn set_loopback_mode(&self, on: bool) -> Result<(), DatagramError> {
        self.with_socket(|s| s.set_multicast_loop_v4(on))
    }

    /// The multicast loopback mode.
    pub fn loopback_mode(&self) -> Result<bool, DatagramError> {
        self.with_socket(|s| s.multicast_loop_v4())
    }

    /// Sends multicast datagrams out of the interface with this address
    /// (default `0.0.0.0`: the routing table's choice).
    pub fn set_outgoing_interface(&self, interface: Ipv4Addr) -> Result<(), DatagramError> {
        self.with_socket(|s| s.set_multicast_if_v4(&interface))
    }

    /// The outgoing multicast interface.
    pub fn outgoing_interface(&self) -> Result<Ipv4Addr, DatagramError> {
        self.with_socket(|s| s.multicast_if_v4())
    }

    /// Joins IPv6 multicast group `group` on the interface with index
    /// `interface` (0: the system's choice; `ip link` shows the indexes).
    /// The port must be an IPv6 one (bound to `::` or an IPv6 address).
    pub fn join_group_v6(&self, group: Ipv6Addr, interface: u32) -> Result<(), DatagramError> {
        self.with_socket(|s| s.join_multicast_v6(&group, interface))
    }

    /// Leaves a group joined with [`join_group_v6`](Self::join_group_v6).
    pub fn leave_group_v6(&self, group: Ipv6Addr, interface: u32) -> Result<(), DatagramError> {
        self.with_socket(|s| s.leave_multicast_v6(&group, interface))
    }

    /// Sets the hop limit of outgoing IPv6 multicast datagrams (IPv4's
    /// TTL; the system's default is 1).
    pub fn set_hops_v6(&self, hops: u32) -> Result<(), DatagramError> {
        self.with_socket(|s| s.set_multicast_hops_v6(hops))
    }

    /// The IPv6 multicast hop limit.
    pub fn hops_v6(&self) -> Result<u32, DatagramError> {
        self.with_socket(|s| s.multicast_hops_v6())
    }

    /// Whether this host's own sockets receive the IPv6 multicast
    /// datagrams this port sends (the system's default: on).
    pub fn set_loopback_mode_v6(&self, on: bool) -> Result<(), DatagramError> {
        self.with_socket(|s| s.set_multicast_loop_v6(on))
    }

    /// The IPv6 multicast loopback mode.
    pub fn loopback_mode_v6(&self) -> Result<bool, DatagramError> {
        self.with_socket(|s| s.multicast_loop_v6())
    }

    /// Sends IPv6 multicast datagrams out of the interface with this index
    /// (0: the routing table's choice).
    pub fn set_outgoing_interface_v6(&self, interface: u32) -> Result<(), DatagramError> {
        self.with_socket(|s| s.set_multicast_if_v6(interface))
    }

    /// The outgoing IPv6 multicast interface's index.
    pub fn outgoing_interface_v6(&self) -> Result<u32, DatagramError> {
        self.with_socket(|s| s.multicast_if_v6())
    }

    /// Allows (or forbids) sending to broadcast addresses (`SO_BROADCAST`).
    pub fn set_broadcast_allowed(&self, on: bool) -> Result<(), DatagramError> {
        self.with_socket(|s| s.set_broadcast(on))
    }
}

impl Reactor {
    /// Listens for UDP datagrams on `port` (0: a free one) on every IPv4
    /// address, delivering them to `protocol` (a [`DatagramProtocol`]
    /// value, or a [`SharedDatagram`] clone to share one between ports).
    /// Datagrams longer than 8192 bytes are cut.
    ///
    /// ```
    /// use gyre::Address;
    /// use gyre::udp::{DatagramProtocol, DatagramTransport, UdpListenOptions};
    ///
    /// struct Echo;
    /// impl DatagramProtocol for Echo {
    ///     fn datagram_received(&mut self, t: &DatagramTransport, data: &[u8], from: &Address) {
    ///         let _ = t.write_to(data, from);
    ///     }
    /// }
    ///
    /// let reactor = gyre::Reactor::new()?;
    /// let options = UdpListenOptions { interface: "127.0.0.1".into(), ..Default::default() };
    /// let port = reactor.listen_udp_with(0, Echo, options)?;
    /// assert!(port.host().to_string().starts_with("IPv4Address(type='UDP', host='127.0.0.1'"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn listen_udp<P: DatagramProtocol>(
        &self,
        port: u16,
        protocol: impl Into<SharedDatagram<P>>,
    ) -> Result<DatagramTransport, ListenError> {
        self.listen_udp_with(port, protocol, UdpListenOptions::default())
    }

    /// [`listen_udp`](Self::listen_udp) with an interface, a maximum
    /// datagram size and `listen_multiple`.
    pub fn listen_udp_with<P: DatagramProtocol>(
        &self,
        port: u16,
        protocol: impl Into<SharedDatagram<P>>,
        options: UdpListenOptions,
    ) -> Result<DatagramTransport, ListenError> {
        let port = UdpPort::open(self, port, protocol.into().erased(), &options)?;
        Ok(DatagramTransport::new(port))
    }

    /// A UDP port for multicast (Twisted's `listenMulticast`): as
    /// [`listen_udp_with`](Self::listen_udp_with), then join groups with
    /// [`DatagramTransport::join_group`]. With `listen_multiple`, several
    /// sockets share the port and each gets every group datagram.
    pub fn listen_multicast<P: DatagramProtocol>(
        &self,
        port: u16,
        protocol: impl Into<SharedDatagram<P>>,
        options: UdpListenOptions,
    ) -> Result<DatagramTransport, ListenError> {
        self.listen_udp_with(port, protocol, options)
    }
}

/// An IPv4 address for a port's interface text (`""`: every address).
fn interface_ip(interface: &str) -> io::Result<IpAddr> {
    if interface.is_empty() {
        return Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    }
    interface.parse::<IpAddr>().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("'{interface}' is not an IP address"),
        )
    })
}
