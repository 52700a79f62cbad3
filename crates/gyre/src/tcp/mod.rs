//! TCP: listening ports, outgoing connectors, adopted sockets.
//!
//! * `listener.rs`: a listening socket, bound with its options; the shared
//!   port (`crate::stream`) accepts from it in batches, asks the factory
//!   for a protocol per connection and survives running out of descriptors
//!   (`Could not accept new connection (EMFILE)`).
//! * `dial.rs`: where an outgoing connection goes and how (resolve, bind,
//!   connect); the shared connector (`crate::stream`) runs its lifecycle
//!   behind a [`Connector`].
//! * `stream.rs`: a TCP socket's addresses and options. An established TCP
//!   connection is the shared stream connection (`crate::stream`) over it.
//!
//! Entry points are [`Reactor::listen_tcp`], [`Reactor::connect_tcp`] and
//! [`Reactor::adopt_tcp`], defined here (the reactor itself knows no
//! transport). Tests: `tests/tcp_server.rs`, `tests/tcp_client.rs`,
//! `tests/tcp_panics.rs`, `tests/transport.rs`, `tests/producers.rs` and
//! `tests/emfile.rs`.

mod dial;
mod listener;
mod stream;

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use crate::connector::Connector;
use crate::error::ListenError;
use crate::factory::{ClientFactory, ErasedClientFactory, ErasedFactory, Factory, Shared};
use crate::reactor::{Reactor, Worker};

pub use crate::port::{ListeningPort, PortImpl};

use crate::stream::{Port, StreamConnector};
use dial::TcpDial;

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
    pub const DEFAULT_BACKLOG: u32 = crate::port::DEFAULT_BACKLOG;

    /// The defaults, bound to `interface` only (an IPv4 or IPv6 literal):
    /// `TcpListenOptions::interface("127.0.0.1")` listens on loopback, out
    /// of reach of other machines.
    pub fn interface(interface: impl Into<String>) -> TcpListenOptions {
        TcpListenOptions {
            interface: interface.into(),
            ..TcpListenOptions::default()
        }
    }

    /// These options with a listen queue of `backlog`.
    pub fn with_backlog(mut self, backlog: u32) -> TcpListenOptions {
        self.backlog = backlog;
        self
    }

    /// These options with `SO_REUSEPORT` on or off.
    pub fn with_reuse_port(mut self, reuse_port: bool) -> TcpListenOptions {
        self.reuse_port = reuse_port;
        self
    }
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
///
/// A client that connects from a chosen local address and port, as the
/// server sees it:
///
/// ```
/// use std::cell::Cell;
/// use std::net::SocketAddr;
/// use std::rc::Rc;
/// use std::time::Duration;
///
/// use gyre::{for_protocol, Address, Factory, Protocol, Reactor, TcpConnectOptions, TcpListenOptions};
///
/// struct Quiet;
/// impl Protocol for Quiet {}
///
/// /// Notes the peer's address, then stops the reactor.
/// struct Note {
///     peer: Rc<Cell<Option<SocketAddr>>>,
///     reactor: Reactor,
/// }
/// impl Factory for Note {
///     type Protocol = Quiet;
///     fn build_protocol(&self, addr: &Address) -> Option<Quiet> {
///         self.peer.set(addr.inet());
///         self.reactor.stop().unwrap();
///         Some(Quiet)
///     }
/// }
///
/// let reactor = Reactor::new()?;
/// # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
/// # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
/// let peer = Rc::new(Cell::new(None));
/// let note = Note { peer: peer.clone(), reactor: reactor.clone() };
/// let loopback = TcpListenOptions::interface("127.0.0.1");
/// let port = reactor.listen_tcp_with(0, note, loopback)?.address().port();
///
/// // A local port that was free a moment ago.
/// let local = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
/// let options = TcpConnectOptions {
///     timeout: Some(Duration::from_secs(5)),
///     bind_address: Some(local),
/// };
/// reactor.connect_tcp_with("127.0.0.1", port, for_protocol(|| Quiet), options);
/// reactor.run()?;
/// assert_eq!(peer.get(), Some(local));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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

impl Reactor {
    /// Listens for TCP connections on `port` of all IPv4 interfaces
    /// (port 0 picks a free port), with a backlog of
    /// [1024](TcpListenOptions::DEFAULT_BACKLOG).
    ///
    /// Logs `<Factory> starting on <port>`, then `Starting factory <…>` the
    /// first time this factory is used.
    pub fn listen_tcp<F: Factory>(
        &self,
        port: u16,
        factory: impl Into<Shared<F>>,
    ) -> Result<ListeningPort, ListenError> {
        self.listen_tcp_with(port, factory, TcpListenOptions::default())
    }

    /// [`listen_tcp`](Self::listen_tcp) with a backlog, an interface, or
    /// `SO_REUSEPORT`.
    ///
    /// ```
    /// use gyre::{for_protocol, Protocol, Reactor, TcpListenOptions};
    ///
    /// struct Quiet;
    /// impl Protocol for Quiet {}
    ///
    /// let reactor = Reactor::new()?;
    /// // Loopback only, on a port the system picks, with a longer queue.
    /// let options = TcpListenOptions::interface("127.0.0.1").with_backlog(4096);
    /// let port = reactor.listen_tcp_with(0, for_protocol(|| Quiet), options)?;
    /// assert!(port.address().ip().is_loopback());
    /// assert_ne!(port.address().port(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn listen_tcp_with<F: Factory>(
        &self,
        port: u16,
        factory: impl Into<Shared<F>>,
        options: TcpListenOptions,
    ) -> Result<ListeningPort, ListenError> {
        let factory = factory.into();
        listen(self, port, factory.erased(), options)
    }

    /// Connects to `host:port` (an IP literal, or a name resolved off the
    /// reactor thread), with a 30-second timeout.
    ///
    /// `started_connecting` runs before this returns; the rest of the
    /// [`ClientFactory`] callbacks follow on later turns.
    pub fn connect_tcp<F: ClientFactory>(
        &self,
        host: &str,
        port: u16,
        factory: impl Into<Shared<F>>,
    ) -> Connector {
        self.connect_tcp_with(host, port, factory, TcpConnectOptions::default())
    }

    /// [`connect_tcp`](Self::connect_tcp) with a timeout and bind address.
    pub fn connect_tcp_with<F: ClientFactory>(
        &self,
        host: &str,
        port: u16,
        factory: impl Into<Shared<F>>,
        options: TcpConnectOptions,
    ) -> Connector {
        let factory = factory.into();
        connect(self, host, port, factory.erased_client(), options)
    }

    /// Runs a protocol from `factory` on a TCP connection made elsewhere
    /// (Twisted's `adoptStreamConnection`): a socket inherited from a
    /// supervisor, accepted by other code, or one end of a pair.
    ///
    /// The socket is made non-blocking and owned by the reactor from here
    /// on. `factory.build_protocol(peer)` runs now; if it declines, the
    /// socket is closed and nothing else happens. Otherwise the protocol's
    /// `connection_made` runs before this returns, and the connection then
    /// behaves exactly as an accepted one. As in Twisted, the factory is
    /// not started or stopped, and the session number in the log prefix is
    /// the peer's port (`Echo,51234,127.0.0.1`).
    ///
    /// Fails if the socket is not connected or cannot be registered.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use gyre::{for_protocol, Protocol, Reactor, Reason, Transport};
    ///
    /// struct EchoOnce(Reactor);
    /// impl Protocol for EchoOnce {
    ///     fn data_received(&mut self, t: &Transport, data: &[u8]) {
    ///         t.write(data);
    ///         t.lose_connection();
    ///     }
    ///     fn connection_lost(&mut self, _: Reason) {
    ///         let _ = self.0.stop();
    ///     }
    /// }
    ///
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let mut client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// let (accepted, _) = listener.accept()?;
    ///
    /// let reactor = Reactor::new()?;
    /// let r = reactor.clone();
    /// reactor.adopt_tcp(accepted, for_protocol(move || EchoOnce(r.clone())))?;
    /// client.write_all(b"hi")?;
    /// reactor.run_without_signals()?;
    /// let mut back = Vec::new();
    /// client.read_to_end(&mut back)?;
    /// assert_eq!(back, b"hi");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn adopt_tcp<F: Factory>(
        &self,
        socket: std::net::TcpStream,
        factory: impl Into<Shared<F>>,
    ) -> io::Result<()> {
        let peer = socket.peer_addr()?;
        socket.set_nonblocking(true)?;
        let stream = mio::net::TcpStream::from_std(socket);
        let session = u32::from(peer.port());
        crate::stream::adopt(self, stream, peer, session, &*factory.into().erased())
    }
}

impl Worker {
    /// Listens for TCP connections with `SO_REUSEPORT` set (whatever
    /// `options` says), sharing the port with the other threads of the
    /// pool: see [`share_port`](Self::share_port).
    pub fn listen_tcp<F: Factory>(
        &self,
        reactor: &Reactor,
        port: u16,
        factory: impl Into<Shared<F>>,
        options: TcpListenOptions,
    ) -> Result<ListeningPort, ListenError> {
        let options = TcpListenOptions {
            reuse_port: true,
            ..options
        };
        self.share_port(port, |p| reactor.listen_tcp_with(p, factory, options))
    }
}

/// Opens a listening socket and registers it.
fn listen(
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
    let listener = listener::bind(addr, &options).map_err(fail)?;
    let port = Port::open(reactor, listener, factory).map_err(fail)?;
    Ok(ListeningPort::new(port))
}

/// Creates a connector and starts its first attempt.
fn connect(
    reactor: &Reactor,
    host: &str,
    port: u16,
    factory: Rc<dyn ErasedClientFactory>,
    options: TcpConnectOptions,
) -> Connector {
    let dial = TcpDial {
        host: host.to_string(),
        port,
        bind_address: options.bind_address,
    };
    let connector = StreamConnector::new(reactor, dial, factory, options.timeout);
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
