//! [`MemoryReactor`]: a reactor that records instead of acting.
//!
//! `listen_tcp` and `connect_tcp` are written down with their arguments and
//! nothing touches the network. A test then plays the network's part: it asks
//! a recorded factory for a protocol, connects it to a
//! [`StringTransport`](super::StringTransport), or reports a failure to a
//! client factory. Time is a [`VirtualClock`](super::VirtualClock), so timeouts and
//! reconnection delays are driven with `advance`. Code under test accepts any
//! [`TcpReactor`] (and any [`time::Clock`](crate::time::Clock)) to be testable
//! this way. Twisted's `MemoryReactorClock` (reference §12).
//!
//! ```
//! use gyre::testing::{MemoryReactor, StringTransport};
//! use gyre::tcp::TcpReactor;
//! use gyre::{for_protocol, Address, Protocol, Transport};
//!
//! struct Hello;
//! impl Protocol for Hello {
//!     fn connection_made(&mut self, t: &Transport) { t.write(b"hello\r\n") }
//! }
//!
//! // Code under test: starts a client on whatever reactor it is given.
//! fn start(reactor: &impl TcpReactor) {
//!     reactor.connect_tcp_with("example.org", 7, for_protocol(|| Hello), Default::default());
//! }
//!
//! let reactor = MemoryReactor::new();
//! start(&reactor);
//! let client = &reactor.tcp_clients()[0];
//! assert_eq!((client.host.as_str(), client.port), ("example.org", 7));
//! let addr = Address::tcp("93.184.216.34:7".parse().unwrap());
//! let mut protocol = client.factory.build_protocol(&addr).unwrap();
//! let transport = StringTransport::new();
//! transport.make_connection(&mut protocol);
//! assert_eq!(transport.value(), b"hello\r\n");
//! ```

use std::cell::{Cell, RefCell};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::VirtualClock;
use crate::address::Address;
use crate::completion::Completion;
use crate::connector::{Connector, ConnectorImpl, ConnectorState, Destination};
use crate::error::{ConnectError, ConnectorError, ListenError, Reason};
use crate::factory::{ClientFactory, ErasedClientFactory, ErasedFactory, Factory, Shared};
use crate::protocol::Protocol;
use crate::tcp::{ListeningPort, PortImpl, TcpConnectOptions, TcpListenOptions, TcpReactor};
use crate::time::DelayedCall;

/// A reactor double that records TCP listens and connects.
///
/// Code written against [`TcpReactor`] and [`Clock`](crate::Clock)
/// rather than [`Reactor`](crate::Reactor) can be handed one. Here the code
/// under test is a server whose connections are told the time is up after
/// 5 s; the test reads what it listened on, connects a protocol to a
/// [`StringTransport`](super::StringTransport) and moves the clock:
///
/// ```
/// use std::time::Duration;
///
/// use gyre::tcp::TcpReactor;
/// use gyre::testing::{MemoryReactor, StringTransport};
/// use gyre::{for_protocol, Address, Clock, ListenError, ListeningPort, Protocol, TcpListenOptions, Transport};
///
/// struct Countdown<C> {
///     clock: C,
/// }
/// impl<C: Clock + 'static> Protocol for Countdown<C> {
///     fn connection_made(&mut self, t: &Transport) {
///         let t = t.clone();
///         self.clock.call_later(Duration::from_secs(5), move || {
///             t.write(b"time is up\r\n");
///             t.lose_connection();
///         });
///     }
/// }
///
/// /// The code under test.
/// fn serve<R: TcpReactor + Clock + Clone + 'static>(reactor: &R) -> Result<ListeningPort, ListenError> {
///     let clock = reactor.clone();
///     let factory = for_protocol(move || Countdown { clock: clock.clone() });
///     reactor.listen_tcp_with(7000, factory, TcpListenOptions::interface("127.0.0.1"))
/// }
///
/// let reactor = MemoryReactor::new();
/// let port = serve(&reactor)?;
/// let server = &reactor.tcp_servers()[0];
/// assert_eq!((server.port, server.options.interface.as_str()), (7000, "127.0.0.1"));
///
/// let mut protocol = server.factory.build_protocol(&Address::tcp("127.0.0.1:50000".parse()?)).unwrap();
/// let wire = StringTransport::new();
/// wire.make_connection(&mut protocol);
/// reactor.advance(Duration::from_secs(4));
/// assert_eq!(wire.value(), b"");
/// reactor.advance(Duration::from_secs(1));
/// assert_eq!(wire.value(), b"time is up\r\n");
/// assert!(wire.is_disconnecting() && reactor.pending_calls().is_empty());
///
/// let _ = port.stop_listening();
/// assert!(!server.listening_port.is_listening());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct MemoryReactor {
    inner: Rc<Inner>,
}

#[derive(Default)]
struct Inner {
    servers: RefCell<Vec<RecordedServer>>,
    clients: RefCell<Vec<RecordedClient>>,
    clock: VirtualClock,
}

/// A recorded `listen_tcp` call.
#[derive(Clone)]
pub struct RecordedServer {
    /// The port asked for.
    pub port: u16,
    /// Backlog and interface.
    pub options: TcpListenOptions,
    /// The factory passed in.
    pub factory: RecordedFactory,
    /// The port handle that was returned.
    pub listening_port: ListeningPort,
}

/// A recorded `connect_tcp` call.
#[derive(Clone)]
pub struct RecordedClient {
    /// The host, as given.
    pub host: String,
    /// The port.
    pub port: u16,
    /// Timeout and bind address.
    pub options: TcpConnectOptions,
    /// The factory passed in.
    pub factory: RecordedFactory,
    /// The connector that was returned (and passed to `started_connecting`).
    pub connector: Connector,
    fake: Rc<FakeConnector>,
}

impl RecordedClient {
    /// True once `stop_connecting` (or `disconnect` while connecting) was called.
    pub fn stopped_connecting(&self) -> bool {
        self.fake.stopped.get()
    }
}

/// A factory captured by the [`MemoryReactor`], with its type erased.
#[derive(Clone)]
pub struct RecordedFactory {
    server: Rc<dyn ErasedFactory>,
    client: Option<Rc<dyn ErasedClientFactory>>,
}

impl RecordedFactory {
    /// Calls the factory's `build_protocol`.
    pub fn build_protocol(&self, addr: &Address) -> Option<Box<dyn Protocol>> {
        self.server.build(addr)
    }

    /// Calls `do_start` (logs `Starting factory` for the first user).
    pub fn do_start(&self) {
        self.server.do_start()
    }

    /// Calls `do_stop`.
    pub fn do_stop(&self) {
        self.server.do_stop()
    }

    /// Calls a client factory's `client_connection_failed` (nothing for a server factory).
    pub fn client_connection_failed(&self, connector: &Connector, reason: &ConnectError) {
        if let Some(c) = &self.client {
            c.client_connection_failed(connector, reason)
        }
    }

    /// Calls a client factory's `client_connection_lost` (nothing for a server factory).
    pub fn client_connection_lost(&self, connector: &Connector, reason: &Reason) {
        if let Some(c) = &self.client {
            c.client_connection_lost(connector, reason)
        }
    }
}

impl MemoryReactor {
    /// An empty recording reactor with its clock at 0.
    pub fn new() -> MemoryReactor {
        MemoryReactor::default()
    }

    /// The virtual clock.
    pub fn clock(&self) -> &VirtualClock {
        &self.inner.clock
    }

    /// Schedules `f` on the virtual clock (Twisted's
    /// `MemoryReactorClock.callLater`).
    pub fn call_later(&self, delay: Duration, f: impl FnOnce() + 'static) -> DelayedCall {
        self.inner.clock.call_later(delay, f)
    }

    /// The calls pending on the virtual clock, in firing order.
    pub fn pending_calls(&self) -> Vec<DelayedCall> {
        self.inner.clock.pending_calls()
    }

    /// Advances the virtual clock, running what became due.
    pub fn advance(&self, by: Duration) {
        self.inner.clock.advance(by)
    }

    /// Records a listen with default options.
    pub fn listen_tcp<F: Factory>(
        &self,
        port: u16,
        factory: impl Into<Shared<F>>,
    ) -> Result<ListeningPort, ListenError> {
        TcpReactor::listen_tcp_with(self, port, factory, TcpListenOptions::default())
    }

    /// Records a connect with default options.
    pub fn connect_tcp<F: ClientFactory>(
        &self,
        host: &str,
        port: u16,
        factory: impl Into<Shared<F>>,
    ) -> Connector {
        TcpReactor::connect_tcp_with(self, host, port, factory, TcpConnectOptions::default())
    }

    /// Every recorded listen, in order.
    pub fn tcp_servers(&self) -> Vec<RecordedServer> {
        self.inner.servers.borrow().clone()
    }

    /// Every recorded connect, in order.
    pub fn tcp_clients(&self) -> Vec<RecordedClient> {
        self.inner.clients.borrow().clone()
    }
}

impl TcpReactor for MemoryReactor {
    fn listen_tcp_with<F: Factory>(
        &self,
        port: u16,
        factory: impl Into<Shared<F>>,
        options: TcpListenOptions,
    ) -> Result<ListeningPort, ListenError> {
        let factory: Shared<F> = factory.into();
        let fake = Rc::new(FakePort {
            address: SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port),
            listening: Cell::new(true),
        });
        let listening_port = ListeningPort::new(fake);
        self.inner.servers.borrow_mut().push(RecordedServer {
            port,
            options,
            factory: RecordedFactory {
                server: factory.erased(),
                client: None,
            },
            listening_port: listening_port.clone(),
        });
        Ok(listening_port)
    }

    fn connect_tcp_with<F: ClientFactory>(
        &self,
        host: &str,
        port: u16,
        factory: impl Into<Shared<F>>,
        options: TcpConnectOptions,
    ) -> Connector {
        let factory: Shared<F> = factory.into();
        let fake = Rc::new(FakeConnector {
            state: Cell::new(ConnectorState::Connecting),
            stopped: Cell::new(false),
            destination: Destination {
                host: host.to_string(),
                port,
            },
        });
        let connector = Connector::new(fake.clone());
        let client = factory.erased_client();
        self.inner.clients.borrow_mut().push(RecordedClient {
            host: host.to_string(),
            port,
            options,
            factory: RecordedFactory {
                server: factory.erased(),
                client: Some(client.clone()),
            },
            connector: connector.clone(),
            fake,
        });
        client.started_connecting(&connector);
        connector
    }
}

impl crate::time::Clock for MemoryReactor {
    fn now(&self) -> Instant {
        self.inner.clock.now()
    }

    fn call_later_boxed(&self, delay: Duration, f: Box<dyn FnOnce()>) -> DelayedCall {
        crate::time::Clock::call_later_boxed(&self.inner.clock, delay, f)
    }

    fn pending_calls(&self) -> Vec<DelayedCall> {
        self.inner.clock.pending_calls()
    }
}

struct FakePort {
    address: SocketAddr,
    listening: Cell<bool>,
}

impl PortImpl for FakePort {
    fn address(&self) -> SocketAddr {
        self.address
    }
    fn stop_listening(&self) -> Completion {
        self.listening.set(false);
        Completion::completed()
    }
    fn is_listening(&self) -> bool {
        self.listening.get()
    }
}

struct FakeConnector {
    state: Cell<ConnectorState>,
    stopped: Cell<bool>,
    destination: Destination,
}

impl ConnectorImpl for FakeConnector {
    fn state(&self) -> ConnectorState {
        self.state.get()
    }
    fn connect(&self, _this: &Connector) -> Result<(), ConnectorError> {
        if self.state.get() != ConnectorState::Disconnected {
            return Err(ConnectorError::CannotConnect);
        }
        self.state.set(ConnectorState::Connecting);
        Ok(())
    }
    fn stop_connecting(&self, _this: &Connector) -> Result<(), ConnectorError> {
        if self.state.get() != ConnectorState::Connecting {
            return Err(ConnectorError::NotConnecting);
        }
        self.stopped.set(true);
        self.state.set(ConnectorState::Disconnected);
        Ok(())
    }
    fn disconnect(&self, this: &Connector) {
        if self.state.get() == ConnectorState::Connecting {
            let _ = self.stop_connecting(this);
        }
        self.state.set(ConnectorState::Disconnected);
    }
    fn destination(&self) -> Destination {
        self.destination.clone()
    }
}

impl fmt::Debug for MemoryReactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryReactor")
            .field("tcp_servers", &self.inner.servers.borrow().len())
            .field("tcp_clients", &self.inner.clients.borrow().len())
            .finish()
    }
}

impl fmt::Debug for RecordedServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordedServer")
            .field("port", &self.port)
            .field("options", &self.options)
            .finish()
    }
}

impl fmt::Debug for RecordedClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordedClient")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("options", &self.options)
            .finish()
    }
}

impl fmt::Debug for RecordedFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordedFactory({})", self.server.qualified_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::factory::for_protocol;
    use crate::transport::Transport;

    struct Nothing;
    impl Protocol for Nothing {}

    struct Watch(Rc<RefCell<Vec<String>>>);
    impl Factory for Watch {
        type Protocol = Nothing;
        fn build_protocol(&self, _: &Address) -> Option<Nothing> {
            Some(Nothing)
        }
    }
    impl ClientFactory for Watch {
        fn started_connecting(&self, c: &Connector) {
            self.0.borrow_mut().push(format!("started {}", c.state()));
        }
        fn client_connection_failed(&self, _: &Connector, r: &ConnectError) {
            self.0.borrow_mut().push(format!("failed {r}"));
        }
    }

    /// Listens are recorded with their options and report the fake address.
    #[test]
    fn records_listens() {
        let r = MemoryReactor::new();
        let port = r.listen_tcp(8000, for_protocol(|| Nothing)).unwrap();
        assert_eq!(port.address().to_string(), "0.0.0.0:8000");
        let servers = r.tcp_servers();
        assert_eq!(servers.len(), 1);
        assert_eq!(servers[0].port, 8000);
        // The documented default (TcpListenOptions::DEFAULT_BACKLOG), not Twisted's 50.
        assert_eq!(servers[0].options.backlog, 1024);
        assert!(servers[0].factory.build_protocol(&port.host()).is_some());
        port.stop_listening();
        assert!(!port.is_listening());
    }

    /// Connects call started_connecting with a fake connector that records stop_connecting.
    #[test]
    fn records_connects() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let r = MemoryReactor::new();
        let connector = r.connect_tcp("localhost", 25, Watch(log.clone()));
        assert_eq!(*log.borrow(), vec!["started connecting"]);
        let client = &r.tcp_clients()[0];
        assert_eq!(client.options.timeout, Some(Duration::from_secs(30)));
        assert_eq!(
            connector.destination().to_string(),
            "IPv4Address(type='TCP', host='localhost', port=25)"
        );
        connector.stop_connecting().unwrap();
        assert!(client.stopped_connecting());
        assert_eq!(
            connector.stop_connecting(),
            Err(ConnectorError::NotConnecting)
        );
        client
            .factory
            .client_connection_failed(&connector, &ConnectError::UserAborted);
        assert_eq!(log.borrow()[1], "failed User aborted connection.");
    }

    /// The memory reactor's clock drives anything scheduled through it.
    #[test]
    fn clock_drives_calls() {
        let r = MemoryReactor::new();
        let hit = Rc::new(Cell::new(false));
        let h = hit.clone();
        // As code under test would: through the trait, generic and `dyn`.
        fn schedule(clock: &impl crate::time::Clock, f: impl FnOnce() + 'static) {
            clock.call_later(Duration::from_secs(2), f);
        }
        schedule(&r, move || h.set(true));
        let dynamic: &dyn crate::time::Clock = &r;
        dynamic.call_later_boxed(Duration::from_secs(3), Box::new(|| ()));
        assert_eq!(r.pending_calls().len(), 2);
        r.advance(Duration::from_secs(1));
        assert!(!hit.get());
        r.advance(Duration::from_secs(1));
        assert!(hit.get());
        let _ = Transport::new;
    }
}
