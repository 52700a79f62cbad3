//! TCP: listening ports, connections and outgoing connectors.
//!
//! * `port.rs`: a listening socket; accepts in batches, asks
//!   the factory for a protocol per connection, survives running out of
//!   descriptors (`Could not accept new connection (EMFILE)`).
//! * `connection.rs`: one established connection; the [`Transport`](crate::Transport)
//!   mechanism with the write-at-once buffer, half-close and producers.
//! * `connector.rs`: an outgoing connection's lifecycle behind a
//!   [`Connector`].
//!
//! Entry points are [`Reactor::listen_tcp`](crate::Reactor::listen_tcp) and
//! [`Reactor::connect_tcp`](crate::Reactor::connect_tcp). Tests:
//! `tests/tcp_server.rs`, `tests/tcp_client.rs`, `tests/tcp_panics.rs`,
//! `tests/transport.rs`, `tests/producers.rs` and `tests/emfile.rs`.

mod connection;
mod connector;
mod port;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use crate::address::Address;
use crate::completion::Completion;
use crate::connector::Connector;
use crate::error::ListenError;
use crate::factory::{ErasedClientFactory, ErasedFactory};
use crate::reactor::Reactor;

pub(crate) use connection::Connection;
pub(crate) use connector::TcpConnector;
pub(crate) use port::Port;

/// Options for [`Reactor::listen_tcp_with`](crate::Reactor::listen_tcp_with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpListenOptions {
    /// The listen queue length (default [`DEFAULT_BACKLOG`](Self::DEFAULT_BACKLOG),
    /// 1024; Twisted's is 50).
    pub backlog: u32,
    /// The local address to bind: empty for every IPv4 address, or an IPv4
    /// or IPv6 literal (an IPv6 literal makes an IPv6 port).
    pub interface: String,
    /// Sets `SO_REUSEPORT`, so several reactors (threads or processes) can
    /// listen on the same port and the kernel spreads connections between them.
    pub reuse_port: bool,
}

impl TcpListenOptions {
    /// The listen queue length when none is given: 1024, a deliberate change
    /// from Twisted's 50.
    ///
    /// The queue holds connections the kernel has completed and the reactor
    /// has not yet accepted. When a burst of clients outruns the accepts, a
    /// full queue makes Linux drop the SYNs past it, and each dropped client
    /// waits a 1 s retransmit: 3,000 clients with 32 connects in flight set
    /// up about 110 connections a second against `gyre echo` with 50, where
    /// a bare mio loop took 17,000; with 1024 gyre set up 42,957 a second
    /// and the loop 42,449, and gyre with 50 only 127 (`bench --scenarios
    /// burst`, BENCHMARKS.md). Go asks for `net.core.somaxconn`, nginx for
    /// 511. Linux silently caps any backlog at `net.core.somaxconn` (4096 by
    /// default since Linux 5.4); an explicit `backlog` still wins below that.
    pub const DEFAULT_BACKLOG: u32 = 1024;
}

impl Default for TcpListenOptions {
    fn default() -> Self {
        TcpListenOptions {
            backlog: Self::DEFAULT_BACKLOG,
            interface: String::new(),
            reuse_port: false,
        }
    }
}

/// Options for [`Reactor::connect_tcp_with`](crate::Reactor::connect_tcp_with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpConnectOptions {
    /// Give up after this long (default 30 s; `None` waits for the OS).
    pub timeout: Option<Duration>,
    /// Bind the local end to this address before connecting.
    pub bind_address: Option<SocketAddr>,
}

impl Default for TcpConnectOptions {
    fn default() -> Self {
        TcpConnectOptions {
            timeout: Some(Duration::from_secs(30)),
            bind_address: None,
        }
    }
}

/// The mechanism behind a [`ListeningPort`] handle (TCP, or a test double).
pub trait PortImpl {
    /// The bound address (with the real port when 0 was asked for).
    fn address(&self) -> SocketAddr;
    /// Stops accepting at once; the completion fires on a later turn, after
    /// `(TCP Port N Closed)` is logged and the factory is stopped if this was
    /// its last port. Already stopped: a completion that has fired.
    fn stop_listening(&self) -> Completion;
    /// True until `stop_listening` (or reactor shutdown).
    fn is_listening(&self) -> bool;
}

/// A handle to a listening port.
#[derive(Clone)]
pub struct ListeningPort {
    inner: Rc<dyn PortImpl>,
}

impl ListeningPort {
    /// Wraps a port mechanism.
    pub fn new(inner: Rc<dyn PortImpl>) -> ListeningPort {
        ListeningPort { inner }
    }

    /// The bound address; with port 0, the port the OS picked.
    pub fn address(&self) -> SocketAddr {
        self.inner.address()
    }

    /// The bound address as an [`Address`] value.
    pub fn host(&self) -> Address {
        Address::tcp(self.inner.address())
    }

    /// Stops accepting connections now; see [`PortImpl::stop_listening`].
    /// Connections already accepted stay open.
    pub fn stop_listening(&self) -> Completion {
        self.inner.stop_listening()
    }

    /// True until the port is stopped.
    pub fn is_listening(&self) -> bool {
        self.inner.is_listening()
    }
}

impl fmt::Debug for ListeningPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ListeningPort({})", self.inner.address())
    }
}

/// Opens a listening socket and registers it.
pub(crate) fn listen(
    reactor: &Reactor,
    port: u16,
    factory: Rc<dyn ErasedFactory>,
    options: TcpListenOptions,
) -> Result<ListeningPort, ListenError> {
    let iface = options.interface.trim();
    let shown = if iface.is_empty() { "any" } else { iface };
    let fail = |source: std::io::Error| ListenError {
        address: format!("{shown}:{port}"),
        source,
    };
    let ip: IpAddr = if iface.is_empty() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        iface
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| {
                fail(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("'{iface}' is not an IP address"),
                ))
            })?
    };
    let addr = SocketAddr::new(ip, port);
    let listener = port::bind(addr, &options).map_err(fail)?;
    let port = Port::open(reactor, listener, factory).map_err(fail)?;
    Ok(ListeningPort::new(port))
}

/// Creates a connector and starts its first attempt.
pub(crate) fn connect(
    reactor: &Reactor,
    host: &str,
    port: u16,
    factory: Rc<dyn ErasedClientFactory>,
    options: TcpConnectOptions,
) -> Connector {
    let connector = TcpConnector::new(reactor, host, port, factory, options);
    let handle = Connector::new(connector);
    // A fresh connector is disconnected, so this cannot fail.
    let _ = handle.connect();
    handle
}

/// The TCP half of a reactor, as a trait, so code that listens or connects
/// can be handed a [`MemoryReactor`](crate::testing::MemoryReactor) in tests
/// (Twisted's `IReactorTCP`).
pub trait TcpReactor {
    /// See [`Reactor::listen_tcp_with`](crate::Reactor::listen_tcp_with).
    fn listen_tcp_with<F: crate::Factory>(
        &self,
        port: u16,
        factory: impl Into<crate::Shared<F>>,
        options: TcpListenOptions,
    ) -> Result<ListeningPort, ListenError>;

    /// See [`Reactor::connect_tcp_with`](crate::Reactor::connect_tcp_with).
    fn connect_tcp_with<F: crate::ClientFactory>(
        &self,
        host: &str,
        port: u16,
        factory: impl Into<crate::Shared<F>>,
        options: TcpConnectOptions,
    ) -> Connector;
}

impl TcpReactor for Reactor {
    fn listen_tcp_with<F: crate::Factory>(
        &self,
        port: u16,
        factory: impl Into<crate::Shared<F>>,
        options: TcpListenOptions,
    ) -> Result<ListeningPort, ListenError> {
        Reactor::listen_tcp_with(self, port, factory, options)
    }

    fn connect_tcp_with<F: crate::ClientFactory>(
        &self,
        host: &str,
        port: u16,
        factory: impl Into<crate::Shared<F>>,
        options: TcpConnectOptions,
    ) -> Connector {
        Reactor::connect_tcp_with(self, host, port, factory, options)
    }
}
