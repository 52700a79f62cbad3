//! Factories: build a protocol per connection and keep what outlives it.
//!
//! A [`Factory`] is handed to `listen_tcp` (or `connect_tcp`, where it must
//! also be a [`ClientFactory`]). Its `build_protocol` is called once per
//! connection and may refuse by returning `None` (the socket closes at once).
//! The protocol type is part of the factory's type, so the pitfall of a
//! Twisted factory whose `protocol` was never set (`'NoneType' object is not
//! callable` at the first connection) is a compile error here.
//!
//! The common case is one line: [`for_protocol`]`(|| Echo)`.
//!
//! A factory that names no protocol is rejected by the compiler, not at the
//! first connection:
//!
//! ```compile_fail
//! struct TcpServerFactory;
//!
//! // error[E0046]: not all trait items implemented, missing: `Protocol`, `build_protocol`
//! impl gyre::Factory for TcpServerFactory {}
//! ```
//!
//! A factory is shared through [`Shared`]: the same factory on two ports logs
//! `Starting factory` once, when the first port opens, and `Stopping factory`
//! once, when the last port closes (Twisted's `numPorts` rule, reference §3.1).
//! Pass a `Shared<F>` clone to each `listen_tcp` call to get that; passing a
//! plain factory value wraps it in a fresh `Shared`.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::rc::Rc;

use crate::address::Address;
use crate::connector::Connector;
use crate::error::{ConnectError, Reason};
use crate::log::{enter_none, guarded, log_panic, short_type_name};
use crate::protocol::Protocol;
use crate::transport::WriteLimit;

/// Builds protocols for connections and holds state that outlives them.
///
/// Methods take `&self`: a factory is shared by every connection it built and
/// every port it listens on, so mutable state goes in a `Cell` or `RefCell`.
///
/// A factory that serves loopback peers only, and opens and closes a
/// resource with its port (`start_factory` runs when the port opens,
/// `stop_factory` once it has closed):
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
///
/// use gyre::{Address, Factory, Protocol, Reactor, TcpListenOptions};
///
/// struct Quiet;
/// impl Protocol for Quiet {}
///
/// struct LocalOnly {
///     journal: Rc<RefCell<Vec<&'static str>>>,
/// }
///
/// impl Factory for LocalOnly {
///     type Protocol = Quiet;
///
///     fn build_protocol(&self, peer: &Address) -> Option<Quiet> {
///         // `None` refuses: the socket is closed at once.
///         peer.inet().is_some_and(|a| a.ip().is_loopback()).then_some(Quiet)
///     }
///     fn start_factory(&self) {
///         self.journal.borrow_mut().push("journal opened");
///     }
///     fn stop_factory(&self) {
///         self.journal.borrow_mut().push("journal closed");
///     }
/// }
///
/// let journal = Rc::new(RefCell::new(Vec::new()));
/// let factory = LocalOnly { journal: journal.clone() };
/// assert!(factory.build_protocol(&Address::tcp("127.0.0.1:5000".parse()?)).is_some());
/// assert!(factory.build_protocol(&Address::tcp("192.0.2.1:5000".parse()?)).is_none());
///
/// let reactor = Reactor::new()?;
/// # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
/// # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
/// let loopback = TcpListenOptions::interface("127.0.0.1");
/// let port = reactor.listen_tcp_with(0, factory, loopback)?;
/// assert_eq!(*journal.borrow(), ["journal opened"]);
///
/// let r = reactor.clone();
/// port.stop_listening().on_complete(move || r.stop().unwrap());
/// reactor.run()?;
/// assert_eq!(*journal.borrow(), ["journal opened", "journal closed"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Factory: 'static {
    /// The protocol this factory builds.
    type Protocol: Protocol;

    /// Builds the protocol for a new connection from `addr`, or refuses the
    /// connection by returning `None`.
    fn build_protocol(&self, addr: &Address) -> Option<Self::Protocol>;

    /// Called before the first port (or connector) starts using the factory.
    fn start_factory(&self) {}

    /// Called after the last port (or connector) stopped using it.
    fn stop_factory(&self) {}

    /// The name used in log lines (`EchoFactory starting on 8000`).
    /// Defaults to the type's short name.
    fn log_prefix(&self) -> Cow<'static, str> {
        short_type_name::<Self>()
    }

    /// Whether `Starting factory` / `Stopping factory` are logged.
    fn noisy(&self) -> bool {
        true
    }

    /// The factory's full name: the log system of its ports
    /// (`[my_server::EchoFactory] (TCP Port 8000 Closed)`) and the name in
    /// `Starting factory <my_server::EchoFactory object at 0x…>`.
    /// Defaults to the type's path.
    fn qualified_name(&self) -> Cow<'static, str> {
        Cow::Borrowed(std::any::type_name::<Self>())
    }

    /// The write cap each connection this factory serves starts with
    /// (a protocol may change its own with
    /// [`Transport::set_write_limit`](crate::Transport::set_write_limit)).
    /// Defaults to [`WriteLimit::default()`]: close a connection once more
    /// than 4 MiB wait to be sent to it.
    fn write_limit(&self) -> WriteLimit {
        WriteLimit::default()
    }
}

/// A factory for outgoing connections: adds the connector callbacks.
///
/// Order for one client session (reference §3.2): `Starting factory`,
/// [`started_connecting`](Self::started_connecting), `build_protocol`,
/// `connection_made`, … `connection_lost`,
/// [`client_connection_lost`](Self::client_connection_lost) (or
/// [`client_connection_failed`](Self::client_connection_failed) instead of
/// everything after `started_connecting`), `Stopping factory` — unless the
/// callback called `connector.connect()` again, in which case the factory
/// stays started.
///
/// Each callback gets the [`Connector`], which can try again. A client
/// that makes three attempts at a port where nobody listens:
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
///
/// use gyre::{Address, ClientFactory, ConnectError, Connector, Factory, Protocol, Reactor};
///
/// struct Quiet;
/// impl Protocol for Quiet {}
///
/// struct ThreeTries {
///     reactor: Reactor,
///     events: Rc<RefCell<Vec<String>>>,
/// }
///
/// impl Factory for ThreeTries {
///     type Protocol = Quiet;
///     fn build_protocol(&self, _: &Address) -> Option<Quiet> {
///         Some(Quiet)
///     }
/// }
///
/// impl ClientFactory for ThreeTries {
///     fn started_connecting(&self, _: &Connector) {
///         self.events.borrow_mut().push("connecting".into());
///     }
///     fn client_connection_failed(&self, connector: &Connector, reason: &ConnectError) {
///         self.events.borrow_mut().push(reason.to_string());
///         if self.events.borrow().len() < 6 {
///             connector.connect().unwrap(); // started_connecting runs again
///         } else {
///             self.reactor.stop().unwrap();
///         }
///     }
/// }
///
/// // A port that was free a moment ago: connecting to it is refused.
/// let closed = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
///
/// let reactor = Reactor::new()?;
/// # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
/// # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
/// let events = Rc::new(RefCell::new(Vec::new()));
/// let factory = ThreeTries { reactor: reactor.clone(), events: events.clone() };
/// reactor.connect_tcp("127.0.0.1", closed, factory);
/// reactor.run()?;
///
/// let refused = "Connection was refused by other side: 111: Connection refused.";
/// assert_eq!(*events.borrow(), ["connecting", refused, "connecting", refused, "connecting", refused]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// [`ReconnectingClientFactory`](crate::ReconnectingClientFactory) does
/// this with growing delays.
pub trait ClientFactory: Factory {
    /// A connection attempt has begun.
    fn started_connecting(&self, connector: &Connector) {
        let _ = connector;
    }

    /// The attempt failed.
    fn client_connection_failed(&self, connector: &Connector, reason: &ConnectError) {
        let _ = (connector, reason);
    }

    /// An established connection ended (also: the factory refused to build a
    /// protocol, reported as a clean close).
    fn client_connection_lost(&self, connector: &Connector, reason: &Reason) {
        let _ = (connector, reason);
    }
}

/// A factory shared between ports and connectors, with Twisted's port count.
///
/// Every `listen_tcp` and `connect_tcp` takes `impl Into<Shared<F>>`: a
/// plain factory gets a `Shared` of its own; a clone of one `Shared`
/// passed to several calls makes them use one factory, started when the
/// first opens and stopped when the last closes. `Shared<F>` derefs to
/// `F`, so the factory's own state stays in reach:
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
///
/// use gyre::{Address, Factory, Protocol, Reactor, Shared, TcpListenOptions};
///
/// struct Quiet;
/// impl Protocol for Quiet {}
///
/// #[derive(Default)]
/// struct Counted {
///     starts: Cell<u32>,
///     stops: Cell<u32>,
/// }
/// impl Factory for Counted {
///     type Protocol = Quiet;
///     fn build_protocol(&self, _: &Address) -> Option<Quiet> {
///         Some(Quiet)
///     }
///     fn start_factory(&self) {
///         self.starts.set(self.starts.get() + 1);
///     }
///     fn stop_factory(&self) {
///         self.stops.set(self.stops.get() + 1);
///     }
/// }
///
/// let reactor = Reactor::new()?;
/// # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
/// # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
/// let factory = Shared::new(Counted::default());
/// let loopback = TcpListenOptions::interface("127.0.0.1");
/// let a = reactor.listen_tcp_with(0, factory.clone(), loopback.clone())?;
/// let b = reactor.listen_tcp_with(0, factory.clone(), loopback)?;
/// assert_eq!((factory.num_ports(), factory.starts.get()), (2, 1), "started once, for two ports");
///
/// // Close one port, note whether the factory stopped, close the other.
/// let stops_after_first = Rc::new(Cell::new(None));
/// let (f, seen, r) = (factory.clone(), stops_after_first.clone(), reactor.clone());
/// a.stop_listening().on_complete(move || {
///     seen.set(Some(f.stops.get()));
///     b.stop_listening().on_complete(move || r.stop().unwrap());
/// });
/// reactor.run()?;
/// assert_eq!(stops_after_first.get(), Some(0), "the other port still used it");
/// assert_eq!((factory.num_ports(), factory.starts.get(), factory.stops.get()), (0, 1, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Shared<F> {
    inner: Rc<SharedInner<F>>,
}

struct SharedInner<F> {
    factory: F,
    num_ports: Cell<u32>,
}

impl<F: Factory> Shared<F> {
    /// Wraps `factory` for sharing.
    pub fn new(factory: F) -> Shared<F> {
        Shared {
            inner: Rc::new(SharedInner {
                factory,
                num_ports: Cell::new(0),
            }),
        }
    }

    /// How many ports and connectors are using the factory now.
    pub fn num_ports(&self) -> u32 {
        self.inner.num_ports.get()
    }

    /// Marks one more user; the first logs `Starting factory` and calls
    /// `start_factory`.
    pub fn do_start(&self) {
        self.inner.do_start()
    }

    /// Marks one user fewer; the last logs `Stopping factory` and calls
    /// `stop_factory`. Does nothing when there are no users.
    pub fn do_stop(&self) {
        self.inner.do_stop()
    }

    /// The factory as it appears in `Starting factory <…>` lines:
    /// `<path::Type object at 0x…>`.
    pub fn repr(&self) -> String {
        self.inner.repr()
    }

    pub(crate) fn erased(&self) -> Rc<dyn ErasedFactory> {
        self.inner.clone()
    }

    pub(crate) fn erased_client(&self) -> Rc<dyn ErasedClientFactory>
    where
        F: ClientFactory,
    {
        self.inner.clone()
    }
}

impl<F> Clone for Shared<F> {
    fn clone(&self) -> Self {
        Shared {
            inner: self.inner.clone(),
        }
    }
}

impl<F> Deref for Shared<F> {
    type Target = F;
    fn deref(&self) -> &F {
        &self.inner.factory
    }
}

impl<F: Factory> From<F> for Shared<F> {
    fn from(factory: F) -> Self {
        Shared::new(factory)
    }
}

impl<F> fmt::Debug for Shared<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("factory", &std::any::type_name::<F>())
            .field("num_ports", &self.inner.num_ports.get())
            .finish()
    }
}

/// `protocol` as a trait object. A protocol that already is one (the
/// protocol type of [`AnyFactory`] and of any factory building
/// `Box<dyn Protocol>`) is passed through rather than boxed again, which
/// saves an allocation per connection.
fn boxed<P: Protocol>(protocol: P) -> Box<dyn Protocol> {
    let mut slot = Some(protocol);
    if let Some(already) =
        (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<Box<dyn Protocol>>>()
    {
        return already.take().expect("the slot was just filled");
    }
    Box::new(slot.expect("the slot is only emptied above"))
}

/// The factory operations the reactor needs, with the protocol type erased.
pub(crate) trait ErasedFactory {
    fn build(&self, addr: &Address) -> Option<Box<dyn Protocol>>;
    fn do_start(&self);
    fn do_stop(&self);
    fn log_prefix(&self) -> Cow<'static, str>;
    fn qualified_name(&self) -> Cow<'static, str>;
    fn write_limit(&self) -> WriteLimit;
    fn repr(&self) -> String;
}

/// The client-side factory operations, erased.
pub(crate) trait ErasedClientFactory: ErasedFactory {
    fn started_connecting(&self, connector: &Connector);
    fn client_connection_failed(&self, connector: &Connector, reason: &ConnectError);
    fn client_connection_lost(&self, connector: &Connector, reason: &Reason);
}

impl<F: Factory> ErasedFactory for SharedInner<F> {
    fn build(&self, addr: &Address) -> Option<Box<dyn Protocol>> {
        self.factory.build_protocol(addr).map(boxed)
    }

    fn do_start(&self) {
        if self.num_ports.get() == 0 {
            if self.factory.noisy() {
                // `[-]` wherever it happens, as Twisted's (reference §11.1).
                let _none = enter_none();
                log::info!(target: "gyre::factory", "Starting factory {}", self.repr());
            }
            if let Err(msg) = guarded(|| self.factory.start_factory()) {
                log_panic("start_factory", &msg);
            }
        }
        self.num_ports.set(self.num_ports.get() + 1);
    }

    fn do_stop(&self) {
        let n = self.num_ports.get();
        if n == 0 {
            return;
        }
        self.num_ports.set(n - 1);
        if n == 1 {
            if self.factory.noisy() {
                let _none = enter_none();
                log::info!(target: "gyre::factory", "Stopping factory {}", self.repr());
            }
            if let Err(msg) = guarded(|| self.factory.stop_factory()) {
                log_panic("stop_factory", &msg);
            }
        }
    }

    fn log_prefix(&self) -> Cow<'static, str> {
        self.factory.log_prefix()
    }

    fn qualified_name(&self) -> Cow<'static, str> {
        self.factory.qualified_name()
    }

    fn write_limit(&self) -> WriteLimit {
        self.factory.write_limit()
    }

    fn repr(&self) -> String {
        format!(
            "<{} object at {:p}>",
            self.factory.qualified_name(),
            &self.factory
        )
    }
}

impl<F: ClientFactory> ErasedClientFactory for SharedInner<F> {
    fn started_connecting(&self, connector: &Connector) {
        self.factory.started_connecting(connector)
    }
    fn client_connection_failed(&self, connector: &Connector, reason: &ConnectError) {
        self.factory.client_connection_failed(connector, reason)
    }
    fn client_connection_lost(&self, connector: &Connector, reason: &Reason) {
        self.factory.client_connection_lost(connector, reason)
    }
}

/// Any factory, with its protocol type erased: what endpoints and other
/// type-erased machinery (a `Box<dyn ClientEndpoint>`, say) take.
///
/// It is itself a [`Factory`] building `Box<dyn Protocol>`, so it can be
/// passed to `listen_tcp` like any other. It shares the wrapped factory's
/// start/stop count: starting an `AnyFactory` starts the factory it wraps
/// (one `Starting factory` line, naming the wrapped factory), and two
/// `AnyFactory` values made from clones of one [`Shared`] count as two users.
///
/// These are the rules of a [`WrappingFactory`](crate::wrap::WrappingFactory)
/// that changes nothing; `AnyFactory` is that wrapper with the wrapped
/// factory's type erased, which a `WrappingFactory<F, _>`, generic over
/// `F`, cannot be.
///
/// Factories of different types in one collection, one of them shared:
///
/// ```
/// use gyre::testing::StringTransport;
/// use gyre::{for_protocol, Address, AnyFactory, Protocol, Shared, Transport};
///
/// struct Greet;
/// impl Protocol for Greet {
///     fn connection_made(&mut self, t: &Transport) {
///         t.write(b"hello\r\n");
///     }
/// }
/// struct Echo;
/// impl Protocol for Echo {
///     fn data_received(&mut self, t: &Transport, data: &[u8]) {
///         t.write(data);
///     }
/// }
///
/// let greeter = Shared::new(for_protocol(|| Greet));
/// let services: Vec<(&str, AnyFactory)> = vec![
///     ("greet", AnyFactory::new(greeter.clone())),
///     ("echo", AnyFactory::new(for_protocol(|| Echo))),
///     ("greet-again", AnyFactory::new(greeter.clone())),
/// ];
///
/// let peer = Address::tcp("127.0.0.1:40000".parse()?);
/// let mut protocol = services[0].1.build(&peer).expect("built");
/// let wire = StringTransport::new();
/// wire.make_connection(&mut protocol);
/// assert_eq!(wire.value(), b"hello\r\n");
///
/// // Both greeting services use the one shared factory.
/// services[0].1.do_start();
/// services[2].1.do_start();
/// assert_eq!(greeter.num_ports(), 2);
/// services[0].1.do_stop();
/// services[2].1.do_stop();
/// assert_eq!(greeter.num_ports(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct AnyFactory {
    inner: Rc<dyn ErasedFactory>,
}

impl AnyFactory {
    /// Erases `factory`'s protocol type.
    pub fn new<F: Factory>(factory: impl Into<Shared<F>>) -> AnyFactory {
        AnyFactory {
            inner: factory.into().erased(),
        }
    }

    /// Calls the wrapped factory's `build_protocol`; a panic is left to the caller.
    pub fn build(&self, addr: &Address) -> Option<Box<dyn Protocol>> {
        self.inner.build(addr)
    }

    /// Marks one more user of the wrapped factory (see [`Shared::do_start`]).
    pub fn do_start(&self) {
        self.inner.do_start()
    }

    /// Marks one user fewer (see [`Shared::do_stop`]).
    pub fn do_stop(&self) {
        self.inner.do_stop()
    }

    /// The wrapped factory as it appears in `Starting factory <…>`.
    pub fn repr(&self) -> String {
        self.inner.repr()
    }
}

impl Factory for AnyFactory {
    type Protocol = Box<dyn Protocol>;

    fn build_protocol(&self, addr: &Address) -> Option<Box<dyn Protocol>> {
        self.inner.build(addr)
    }

    fn start_factory(&self) {
        self.inner.do_start()
    }

    fn stop_factory(&self) {
        self.inner.do_stop()
    }

    fn log_prefix(&self) -> Cow<'static, str> {
        self.inner.log_prefix()
    }

    /// The wrapper itself is silent; the wrapped factory logs.
    fn noisy(&self) -> bool {
        false
    }

    fn qualified_name(&self) -> Cow<'static, str> {
        self.inner.qualified_name()
    }

    fn write_limit(&self) -> WriteLimit {
        self.inner.write_limit()
    }
}

impl fmt::Debug for AnyFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AnyFactory({})", self.inner.qualified_name())
    }
}

/// A factory that builds each protocol with a closure (Twisted's
/// `Factory.forProtocol`). Made by [`for_protocol`].
///
/// The closure runs once per connection, so each connection has a
/// protocol value of its own; state the closure captures is shared by
/// all of them. It is a [`ClientFactory`] too (with no-op callbacks), so
/// it can be given to `connect_tcp`. In log lines it is `Factory`.
///
/// ```
/// use std::cell::Cell;
///
/// use gyre::{for_protocol, Address, Factory, Protocol};
///
/// struct Numbered(u32);
/// impl Protocol for Numbered {}
///
/// let served = Cell::new(0);
/// let factory = for_protocol(move || {
///     served.set(served.get() + 1);
///     Numbered(served.get())
/// });
/// let peer = Address::tcp("127.0.0.1:40000".parse()?);
/// let first = factory.build_protocol(&peer).expect("always builds");
/// let second = factory.build_protocol(&peer).expect("always builds");
/// assert_eq!((first.0, second.0), (1, 2));
/// assert_eq!(factory.log_prefix(), "Factory");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ProtocolFactory<P, B> {
    build: B,
    _protocol: PhantomData<fn() -> P>,
}

/// A factory whose `build_protocol` calls `build` for every connection.
///
/// ```
/// use gyre::testing::StringTransport;
/// use gyre::{for_protocol, Address, Factory, Protocol, Transport};
///
/// struct Echo;
/// impl Protocol for Echo {
///     fn data_received(&mut self, t: &Transport, data: &[u8]) { t.write(data) }
/// }
///
/// let factory = for_protocol(|| Echo);
/// // `reactor.listen_tcp(8000, factory)` in a server; a connection by hand:
/// let mut echo = factory.build_protocol(&Address::tcp("127.0.0.1:40000".parse()?)).unwrap();
/// let wire = StringTransport::new();
/// wire.make_connection(&mut echo);
/// echo.data_received(&wire.transport(), b"ping");
/// assert_eq!(wire.value(), b"ping");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn for_protocol<P, B>(build: B) -> ProtocolFactory<P, B>
where
    P: Protocol,
    B: Fn() -> P + 'static,
{
    ProtocolFactory {
        build,
        _protocol: PhantomData,
    }
}

impl<P, B> Factory for ProtocolFactory<P, B>
where
    P: Protocol,
    B: Fn() -> P + 'static,
{
    type Protocol = P;

    fn build_protocol(&self, _addr: &Address) -> Option<P> {
        Some((self.build)())
    }

    fn log_prefix(&self) -> Cow<'static, str> {
        Cow::Borrowed("Factory")
    }

    fn qualified_name(&self) -> Cow<'static, str> {
        Cow::Owned(format!(
            "gyre::ProtocolFactory<{}>",
            std::any::type_name::<P>()
        ))
    }
}

impl<P, B> ClientFactory for ProtocolFactory<P, B>
where
    P: Protocol,
    B: Fn() -> P + 'static,
{
}

impl<P: 'static, B> fmt::Debug for ProtocolFactory<P, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProtocolFactory<{}>", short_type_name::<P>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Transport;
    use std::cell::RefCell;

    struct Nothing;
    impl Protocol for Nothing {}

    /// A protocol with a size, so boxing it allocates.
    struct Word(#[allow(dead_code)] u64);
    impl Protocol for Word {}

    struct Counting {
        log: Rc<RefCell<Vec<&'static str>>>,
    }
    impl Factory for Counting {
        type Protocol = Nothing;
        fn build_protocol(&self, _: &Address) -> Option<Nothing> {
            None
        }
        fn start_factory(&self) {
            self.log.borrow_mut().push("start");
        }
        fn stop_factory(&self) {
            self.log.borrow_mut().push("stop");
        }
    }

    /// A factory that already builds `Box<dyn Protocol>` has its box passed
    /// through to the connection, not boxed a second time; any other
    /// protocol is boxed once.
    #[test]
    fn erased_build_boxes_once() {
        struct Boxing {
            last: Cell<*const ()>,
        }
        impl Factory for Boxing {
            type Protocol = Box<dyn Protocol>;
            fn build_protocol(&self, _: &Address) -> Option<Box<dyn Protocol>> {
                let p: Box<dyn Protocol> = Box::new(Word(7));
                self.last.set(&*p as *const dyn Protocol as *const ());
                Some(p)
            }
        }
        let f = Shared::new(Boxing {
            last: Cell::new(std::ptr::null()),
        });
        let addr = Address::tcp("127.0.0.1:1".parse().unwrap());
        let built = f.erased().build(&addr).unwrap();
        assert_eq!(&*built as *const dyn Protocol as *const (), f.last.get());

        let plain = Shared::new(for_protocol(|| Nothing));
        assert!(plain.erased().build(&addr).is_some());
    }

    /// start/stop run once for the first user and once after the last (numPorts).
    #[test]
    fn start_stop_bracket_all_users() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let f = Shared::new(Counting { log: log.clone() });
        f.do_start();
        f.do_start();
        assert_eq!(f.num_ports(), 2);
        f.do_stop();
        assert_eq!(*log.borrow(), vec!["start"]);
        f.do_stop();
        f.do_stop(); // no users: silently nothing
        assert_eq!(*log.borrow(), vec!["start", "stop"]);
        assert_eq!(f.num_ports(), 0);
    }

    /// for_protocol builds a fresh protocol per call and is named `Factory` in logs.
    #[test]
    fn for_protocol_builds() {
        struct P(u8);
        impl Protocol for P {
            fn data_received(&mut self, _: &Transport, _: &[u8]) {
                self.0 += 1;
            }
        }
        let f = for_protocol(|| P(7));
        let addr = Address::tcp("127.0.0.1:1".parse().unwrap());
        assert_eq!(f.build_protocol(&addr).unwrap().0, 7);
        assert_eq!(f.log_prefix(), "Factory");
        let shared: Shared<_> = f.into();
        assert!(
            shared
                .repr()
                .starts_with("<gyre::ProtocolFactory<gyre::factory::tests::")
        );
        assert!(shared.repr().contains(" object at 0x"));
    }
}
