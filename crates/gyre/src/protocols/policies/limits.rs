//! The connection-limit policy (Twisted's `LimitTotalConnectionsFactory` and
//! `LimitConnectionsByPeer` in one): [`LimitConnections`], a
//! [`WrappingFactory`] with [`ConnectionLimits`], refuses connections past a
//! total or a per-peer limit; every protocol it builds is a [`Limited`], a
//! [`ProtocolWrapper`] with the [`ConnectionSlot`] that keeps it counted.
//!
//! What it owns: `Counts`, the open connections in total and by peer IP
//! address (an IPv4-mapped IPv6 address counted as the IPv4 one), shared by
//! the factory and every `Slot`; a `Slot` uncounts its connection exactly
//! once, when dropped. The behaviour is described in the
//! [module docs](super). Tests: `tests/limits.rs` beside this file.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::rc::Rc;

use super::TARGET;
use crate::address::Address;
use crate::error::Reason;
use crate::factory::{Factory, Shared};
use crate::protocol::Protocol;
use crate::wrap::{ProtocolWrapper, WrapFactory, WrapProtocol, WrappingFactory};

/// Open connections, in total and by peer IP address.
#[derive(Default)]
struct Counts {
    total: Cell<usize>,
    by_peer: RefCell<HashMap<IpAddr, usize>>,
}

impl Counts {
    fn from(&self, ip: &IpAddr) -> usize {
        self.by_peer.borrow().get(ip).copied().unwrap_or(0)
    }

    fn add(&self, ip: IpAddr) {
        self.total.set(self.total.get() + 1);
        *self.by_peer.borrow_mut().entry(ip).or_insert(0) += 1;
    }

    fn remove(&self, ip: &IpAddr) {
        self.total.set(self.total.get().saturating_sub(1));
        let mut by_peer = self.by_peer.borrow_mut();
        if let Some(n) = by_peer.get_mut(ip) {
            *n -= 1;
            if *n == 0 {
                by_peer.remove(ip);
            }
        }
    }
}

/// One counted connection; dropping it uncounts it (exactly once).
struct Slot {
    counts: Rc<Counts>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.counts.remove(&self.ip);
    }
}

/// The key a peer is counted under: IPv4-mapped IPv6 as IPv4.
fn peer_key(ip: &IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// Twisted's `LimitTotalConnectionsFactory` and `LimitConnectionsByPeer` in
/// one: wraps a server factory and refuses connections past a total limit,
/// a per-peer limit, or both.
///
/// A refused connection is closed at once (no protocol is built) and logged
/// once at info level. The counts include connections whose protocol was
/// built but whose `connection_made` has not run yet, and a connection stops
/// counting at its `connection_lost` (or when its protocol is dropped, if the
/// connection never started). See the [module docs](super).
///
/// It is a [`WrappingFactory`] with [`ConnectionLimits`]; every protocol it
/// builds is a [`Limited`].
///
/// Playing the reactor's part by hand: the reactor asks `build_protocol`
/// for each accepted socket and closes the socket when it gets `None`.
///
/// ```
/// use gyre::protocols::policies::LimitConnections;
/// use gyre::testing::StringTransport;
/// use gyre::{for_protocol, Address, Factory, Protocol, Reason};
///
/// struct Quiet;
/// impl Protocol for Quiet {}
///
/// let limited = LimitConnections::new(for_protocol(|| Quiet))
///     .with_max_total(Some(2))
///     .with_max_per_peer(Some(1));
/// let peer = |text: &str| Address::tcp(text.parse().unwrap());
///
/// let mut first = limited.build_protocol(&peer("192.0.2.1:40001")).expect("under both limits");
/// assert!(limited.build_protocol(&peer("192.0.2.1:40002")).is_none(), "one per address");
/// let second = limited.build_protocol(&peer("192.0.2.2:40001")).expect("another address");
/// assert!(limited.build_protocol(&peer("192.0.2.3:40001")).is_none(), "two in all");
/// assert_eq!(limited.open_connections(), 2);
///
/// // A connection stops counting when it is lost...
/// let wire = StringTransport::new();
/// wire.make_connection(&mut first);
/// first.connection_lost(Reason::Done);
/// assert_eq!(limited.open_from(&"192.0.2.1".parse().unwrap()), 0);
/// assert!(limited.build_protocol(&peer("192.0.2.1:40003")).is_some());
///
/// // ...or when its protocol is dropped without ever starting.
/// drop(second);
/// assert_eq!(limited.open_from(&"192.0.2.2".parse().unwrap()), 0);
/// ```
pub type LimitConnections<F> = WrappingFactory<F, ConnectionLimits>;

/// The wrapper behind [`LimitConnections`]: the limits, and the counts of
/// open connections they are checked against.
///
/// Made and read through [`LimitConnections`]. Peers are counted by IP
/// address, and a dual-stack port's IPv4-mapped peers (`::ffff:1.2.3.4`)
/// count as the IPv4 address they are:
///
/// ```
/// use gyre::protocols::policies::LimitConnections;
/// use gyre::{for_protocol, Address, Factory, Protocol};
///
/// struct Quiet;
/// impl Protocol for Quiet {}
///
/// let limited = LimitConnections::new(for_protocol(|| Quiet)).with_max_per_peer(Some(1));
/// assert_eq!((limited.max_total(), limited.max_per_peer()), (None, Some(1)));
///
/// let mapped = Address::tcp("[::ffff:192.0.2.1]:40000".parse()?);
/// let _held = limited.build_protocol(&mapped).expect("first from this peer");
/// assert_eq!(limited.open_from(&"192.0.2.1".parse()?), 1);
/// let plain = Address::tcp("192.0.2.1:40001".parse()?);
/// assert!(limited.build_protocol(&plain).is_none(), "the same peer, written as IPv4");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ConnectionLimits {
    max_total: Option<usize>,
    max_per_peer: Option<usize>,
    counts: Rc<Counts>,
}

impl<F: Factory> WrapFactory<F> for ConnectionLimits {
    type Protocol = Limited<F::Protocol>;

    fn build_protocol(&self, wrapped: &Shared<F>, addr: &Address) -> Option<Self::Protocol> {
        let ip = peer_key(&addr.socket_addr().ip());
        let total = self.counts.total.get();
        if let Some(max) = self.max_total
            && total >= max
        {
            log::info!(
                target: TARGET,
                "Refusing connection from {addr}: {total} connections already open (limit {max})"
            );
            return None;
        }
        if let Some(max) = self.max_per_peer {
            let from_peer = self.counts.from(&ip);
            if from_peer >= max {
                log::info!(
                    target: TARGET,
                    "Refusing connection from {addr}: {from_peer} connections already open from {ip} (limit {max})"
                );
                return None;
            }
        }
        let inner = wrapped.build_protocol(addr)?;
        self.counts.add(ip);
        let slot = Slot {
            counts: self.counts.clone(),
            ip,
        };
        Some(ProtocolWrapper::wrap(inner, ConnectionSlot(Some(slot))))
    }
}

impl fmt::Debug for ConnectionLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionLimits")
            .field("max_total", &self.max_total)
            .field("max_per_peer", &self.max_per_peer)
            .field("open", &self.counts.total.get())
            .finish()
    }
}

impl<F: Factory> WrappingFactory<F, ConnectionLimits> {
    /// Wraps `factory`, with no limits yet. Pass a [`Shared`] clone to share
    /// the wrapped factory with other ports.
    pub fn new(factory: impl Into<Shared<F>>) -> Self {
        let limits = ConnectionLimits {
            max_total: None,
            max_per_peer: None,
            counts: Rc::default(),
        };
        WrappingFactory::wrap(factory, limits)
    }

    /// At most `max` connections open at once (`None`: no limit).
    pub fn with_max_total(mut self, max: Option<usize>) -> Self {
        self.wrapper_mut().max_total = max;
        self
    }

    /// At most `max` connections open at once from any one IP address
    /// (`None`: no limit).
    pub fn with_max_per_peer(mut self, max: Option<usize>) -> Self {
        self.wrapper_mut().max_per_peer = max;
        self
    }

    /// The total limit.
    pub fn max_total(&self) -> Option<usize> {
        self.wrapper().max_total
    }

    /// The per-peer limit.
    pub fn max_per_peer(&self) -> Option<usize> {
        self.wrapper().max_per_peer
    }

    /// How many connections are open (counted) now.
    pub fn open_connections(&self) -> usize {
        self.wrapper().counts.total.get()
    }

    /// How many connections from `ip` are open now (an IPv4-mapped IPv6
    /// address counts as the IPv4 address).
    pub fn open_from(&self, ip: &IpAddr) -> usize {
        self.wrapper().counts.from(&peer_key(ip))
    }
}

/// A protocol counted by a [`LimitConnections`]: forwards every event to the
/// wrapped protocol, and stops counting at `connection_lost` (or when
/// dropped, if that never ran).
pub type Limited<P> = ProtocolWrapper<P, ConnectionSlot>;

/// The wrapper behind [`Limited`]: the connection's place in its
/// [`LimitConnections`] counts, given up at `connection_lost` or when
/// dropped, whichever comes first.
pub struct ConnectionSlot(Option<Slot>);

impl<P: Protocol> WrapProtocol<P> for ConnectionSlot {
    fn connection_lost(&mut self, inner: &mut P, reason: Reason) {
        // Uncount first: the wrapped protocol may panic.
        drop(self.0.take());
        inner.connection_lost(reason)
    }
}

impl fmt::Debug for ConnectionSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionSlot")
            .field("counted", &self.0.is_some())
            .finish()
    }
}
