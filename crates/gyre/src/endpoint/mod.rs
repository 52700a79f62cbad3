//! Endpoints: where to listen and where to connect, as values and as strings.
//!
//! A [`ServerEndpoint`] listens with a factory; a [`ClientEndpoint`]
//! connects with one. Code that takes an endpoint instead of a host and port
//! lets its caller choose the transport (TCP, IPv6, later TLS and UNIX
//! sockets) and lets tests hand it anything (reference §6).
//!
//! * [`TcpServerEndpoint`] (`tcp:8000`, `tcp6:8000`);
//! * [`TcpClientEndpoint`] (`tcp:host=example.org:port=80`): one connection,
//!   a host name resolved to its first IPv4 address;
//! * [`HostnameEndpoint`]: resolves a name to all its addresses and races
//!   them Happy-Eyeballs style;
//! * [`UnixServerEndpoint`] (`unix:/run/echo.sock`) and
//!   [`UnixClientEndpoint`] (`unix:path=/run/echo.sock`): UNIX stream
//!   sockets;
//! * [`HaproxyServerEndpoint`] (`haproxy:tcp:8000`): any server endpoint,
//!   behind a load balancer that sends PROXY protocol headers
//!   ([`crate::haproxy`]);
//! * [`connect_protocol`]: connect with a protocol value rather than a factory;
//! * [`server_from_string`] / [`client_from_string`]: Twisted's description
//!   grammar (see [`parse`] and [`spec`]).
//!
//! Results come back as [`Deferred`]s: `listen` fires with the
//! [`ListeningPort`] or fails with a [`ListenError`](crate::ListenError);
//! `connect` fires with a [`Connected`] handle (the protocol and its
//! transport) after the protocol's `connection_made` ran, or fails with a
//! [`ConnectError`]: refused, timed out, DNS lookup,
//! [`NoProtocol`](crate::ConnectError::NoProtocol) when the factory
//! declines, [`Cancelled`](crate::ConnectError::Cancelled) when the
//! Deferred is cancelled while connecting (which stops the attempt).
//!
//! ```no_run
//! use std::time::Duration;
//! use gyre::endpoint::{connect_protocol, TcpClientEndpoint};
//! use gyre::{Protocol, Reactor, Transport};
//!
//! #[derive(Default)]
//! struct Greeter { transport: Option<Transport> }
//!
//! impl Protocol for Greeter {
//!     fn connection_made(&mut self, t: &Transport) { self.transport = Some(t.clone()) }
//! }
//!
//! let reactor = Reactor::new()?;
//! let endpoint = TcpClientEndpoint::new(&reactor, "localhost", 1234);
//! connect_protocol(&endpoint, Greeter::default()).add_callback(|p| {
//!     p.transport().write(b"MESSAGE Hello\n");
//! });
//! reactor.run()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Where things are: `client.rs` (the connection race behind both client
//! endpoints), `server.rs`, `haproxy.rs`, `strings.rs` (the type registry),
//! and the pure grammar, lowest first: `error.rs` ([`EndpointError`]),
//! `parse.rs` (the tokeniser), `spec.rs` (the typed TCP specifications);
//! each file names only those below it. Name resolution ([`Resolver`],
//! [`ThreadResolver`], re-exported here) lives in [`crate::resolve`].
//! Tests: `tests/endpoints.rs` and the bottom of each file.

mod client;
mod error;
mod haproxy;
pub mod parse;
mod server;
pub mod spec;
mod strings;
mod unix;

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use crate::address::Address;
use crate::deferred::Deferred;
use crate::error::ConnectError;
use crate::factory::{AnyFactory, Factory, Shared};
use crate::protocol::Protocol;
use crate::tcp::ListeningPort;
use crate::transport::Transport;
use crate::wrap::{WrapFactory, WrappingFactory};

pub use crate::resolve::{Resolver, ThreadResolver};
pub use client::{HostnameEndpoint, TcpClientEndpoint};
pub use error::EndpointError;
pub use haproxy::HaproxyServerEndpoint;
pub use server::TcpServerEndpoint;
pub use strings::{
    ClientParser, ServerParser, client_from_string, register_client_type, register_server_type,
    server_from_string,
};
pub use unix::{UnixClientEndpoint, UnixServerEndpoint};

/// Somewhere to listen (Twisted's `IStreamServerEndpoint`).
///
/// Object-safe: the typed entry point is [`ServerEndpointExt::listen`].
///
/// A server that takes its endpoint as a value listens wherever its user
/// says, here from a description string as a command line would give it,
/// with a client made the same way:
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
///
/// use gyre::endpoint::{client_from_string, connect_protocol, server_from_string, ServerEndpointExt};
/// use gyre::testing::success_result_of;
/// use gyre::{for_protocol, Protocol, Reactor, Reason, Transport};
///
/// struct Echo;
/// impl Protocol for Echo {
///     fn data_received(&mut self, t: &Transport, data: &[u8]) {
///         t.write(data);
///     }
/// }
///
/// struct Ask {
///     heard: Rc<RefCell<Vec<u8>>>,
///     reactor: Reactor,
/// }
/// impl Protocol for Ask {
///     fn connection_made(&mut self, t: &Transport) {
///         t.write(b"anyone there?");
///     }
///     fn data_received(&mut self, t: &Transport, data: &[u8]) {
///         self.heard.borrow_mut().extend_from_slice(data);
///         t.lose_connection();
///     }
///     fn connection_lost(&mut self, _: Reason) {
///         self.reactor.stop().unwrap();
///     }
/// }
///
/// let reactor = Reactor::new()?;
/// # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
/// # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
/// let server = server_from_string(&reactor, "tcp:0:interface=127.0.0.1")?;
/// let port = success_result_of(&server.listen(for_protocol(|| Echo)));
///
/// let client = client_from_string(&reactor, &format!("tcp:127.0.0.1:{}", port.address().port()))?;
/// let heard = Rc::new(RefCell::new(Vec::new()));
/// let asking = Ask { heard: heard.clone(), reactor: reactor.clone() };
/// connect_protocol(&client, asking).consume(|_| {});
/// reactor.run()?;
/// assert_eq!(*heard.borrow(), b"anyone there?");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait ServerEndpoint: fmt::Display {
    /// Starts listening with `factory`. Fires with the port, or fails with
    /// a [`ListenError`](crate::ListenError) (never panics, never returns
    /// the error synchronously).
    fn listen_any(&self, factory: AnyFactory) -> Deferred<ListeningPort>;
}

/// Somewhere to connect to (Twisted's `IStreamClientEndpoint`).
///
/// Object-safe: the typed entry points are [`ClientEndpointExt::connect`]
/// and [`connect_protocol`].
///
/// An endpoint of your own usually wraps another. This one counts the
/// connections asked of it; a [`MemoryReactor`](crate::testing::MemoryReactor)
/// under the TCP endpoint records the attempt instead of making it:
///
/// ```
/// use std::cell::Cell;
/// use std::fmt;
///
/// use gyre::endpoint::{connect_protocol, ClientEndpoint, TcpClientEndpoint};
/// use gyre::testing::{assert_no_result, MemoryReactor};
/// use gyre::{AnyFactory, Deferred, Protocol, Transport};
///
/// struct Counted<E> {
///     inner: E,
///     connects: Cell<u32>,
/// }
///
/// impl<E: ClientEndpoint> ClientEndpoint for Counted<E> {
///     fn connect_any(&self, factory: AnyFactory) -> Deferred<Transport> {
///         self.connects.set(self.connects.get() + 1);
///         self.inner.connect_any(factory)
///     }
/// }
///
/// impl<E: fmt::Display> fmt::Display for Counted<E> {
///     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
///         write!(f, "counted({})", self.inner)
///     }
/// }
///
/// struct Quiet;
/// impl Protocol for Quiet {}
///
/// let reactor = MemoryReactor::new();
/// let endpoint = Counted {
///     inner: TcpClientEndpoint::new(&reactor, "example.test", 25),
///     connects: Cell::new(0),
/// };
/// let pending = connect_protocol(&endpoint, Quiet);
/// assert_no_result(&pending); // nothing has answered yet
/// assert_eq!(endpoint.connects.get(), 1);
/// assert_eq!(endpoint.to_string(), "counted(tcp:host=example.test:port=25)");
/// let attempt = &reactor.tcp_clients()[0];
/// assert_eq!((attempt.host.as_str(), attempt.port), ("example.test", 25));
/// ```
pub trait ClientEndpoint: fmt::Display {
    /// Connects and runs a protocol from `factory` on the connection.
    ///
    /// The factory is started when the attempt begins and stopped when the
    /// attempt fails or the connection ends. Fires with the transport after
    /// the protocol's `connection_made`; fails with a
    /// [`ConnectError`]. Cancelling it while connecting
    /// stops the attempt and fails it with
    /// [`ConnectError::Cancelled`].
    fn connect_any(&self, factory: AnyFactory) -> Deferred<Transport>;
}

/// A boxed or shared endpoint is an endpoint (what
/// [`server_from_string`] returns can be passed where one is asked for).
impl<E: ServerEndpoint + ?Sized> ServerEndpoint for Box<E> {
    fn listen_any(&self, factory: AnyFactory) -> Deferred<ListeningPort> {
        (**self).listen_any(factory)
    }
}

impl<E: ServerEndpoint + ?Sized> ServerEndpoint for Rc<E> {
    fn listen_any(&self, factory: AnyFactory) -> Deferred<ListeningPort> {
        (**self).listen_any(factory)
    }
}

/// A boxed or shared endpoint is an endpoint (what
/// [`client_from_string`] returns can be passed where one is asked for).
impl<E: ClientEndpoint + ?Sized> ClientEndpoint for Box<E> {
    fn connect_any(&self, factory: AnyFactory) -> Deferred<Transport> {
        (**self).connect_any(factory)
    }
}

impl<E: ClientEndpoint + ?Sized> ClientEndpoint for Rc<E> {
    fn connect_any(&self, factory: AnyFactory) -> Deferred<Transport> {
        (**self).connect_any(factory)
    }
}

/// The typed form of [`ServerEndpoint::listen_any`], for every server endpoint.
pub trait ServerEndpointExt: ServerEndpoint {
    /// Listens with `factory` (pass a [`Shared`] clone to share one factory
    /// between ports).
    fn listen<F: Factory>(&self, factory: impl Into<Shared<F>>) -> Deferred<ListeningPort> {
        self.listen_any(AnyFactory::new(factory))
    }
}

impl<E: ServerEndpoint + ?Sized> ServerEndpointExt for E {}

/// The typed form of [`ClientEndpoint::connect_any`], for every client endpoint.
pub trait ClientEndpointExt: ClientEndpoint {
    /// Connects with `factory`; fires with the protocol it built (shared
    /// with the connection) and its transport.
    fn connect<F: Factory>(
        &self,
        factory: impl Into<Shared<F>>,
    ) -> Deferred<Connected<F::Protocol>> {
        let built = Rc::new(RefCell::new(None));
        let typed = WrappingFactory::wrap(
            factory,
            KeepBuilt {
                built: built.clone(),
            },
        );
        self.connect_any(AnyFactory::new(typed))
            .and_then(move |transport| match built.borrow_mut().take() {
                Some(protocol) => Ok(Connected {
                    protocol,
                    transport,
                }),
                None => Err(ConnectError::NoProtocol.into()),
            })
    }
}

impl<E: ClientEndpoint + ?Sized> ClientEndpointExt for E {}

/// Connects `endpoint` and runs `protocol` on the connection (Twisted's
/// `connectProtocol`). Fires with the [`Connected`] protocol after its
/// `connection_made` ran.
///
/// The one-shot factory behind it is named in the log like any other
/// (`Starting factory <gyre::endpoint::OneShotFactory<…> object at 0x…>`).
///
/// A connection that fails fails the Deferred with the
/// [`ConnectError`]:
///
/// ```
/// use gyre::endpoint::{connect_protocol, TcpClientEndpoint};
/// use gyre::testing::failure_result_of;
/// use gyre::{ConnectError, Protocol, Reactor};
///
/// struct Quiet;
/// impl Protocol for Quiet {}
///
/// // A port that was free a moment ago: connecting to it is refused.
/// let closed = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
///
/// let reactor = Reactor::new()?;
/// # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
/// # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
/// let endpoint = TcpClientEndpoint::new(&reactor, "127.0.0.1", closed);
/// let connecting = connect_protocol(&endpoint, Quiet);
/// let r = reactor.clone();
/// let outcome = connecting.add_both(move |result| {
///     r.stop().unwrap();
///     result
/// });
/// reactor.run()?;
/// let failure = failure_result_of(&outcome);
/// assert!(matches!(failure.check::<ConnectError>(), Some(ConnectError::Refused)), "{failure}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn connect_protocol<P: Protocol, E: ClientEndpoint + ?Sized>(
    endpoint: &E,
    protocol: P,
) -> Deferred<Connected<P>> {
    endpoint.connect(OneShotFactory::new(protocol, true))
}

/// The factory behind [`connect_protocol`] (and, silent, behind
/// [`ClientCreator`](crate::client::ClientCreator)): hands out its one
/// protocol once.
pub struct OneShotFactory<P> {
    protocol: RefCell<Option<P>>,
    noisy: bool,
}

impl<P> OneShotFactory<P> {
    /// A factory for `protocol`; `noisy`: whether it logs `Starting
    /// factory` / `Stopping factory`.
    pub(crate) fn new(protocol: P, noisy: bool) -> OneShotFactory<P> {
        OneShotFactory {
            protocol: RefCell::new(Some(protocol)),
            noisy,
        }
    }
}

impl<P: Protocol> Factory for OneShotFactory<P> {
    type Protocol = P;

    fn build_protocol(&self, _addr: &Address) -> Option<P> {
        self.protocol.borrow_mut().take()
    }

    fn noisy(&self) -> bool {
        self.noisy
    }
}

impl<P> fmt::Debug for OneShotFactory<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OneShotFactory")
    }
}

/// A protocol connected through an endpoint, with its transport.
///
/// The protocol is shared with the connection, which calls it for every
/// event, so it is reached only for the length of a closure:
/// [`with_protocol`](Self::with_protocol). No borrow of it can be kept,
/// so none can be held across an `.await` (or a return to the reactor)
/// while data arrives for it.
///
/// ```
/// use gyre::endpoint::{connect_protocol, TcpClientEndpoint};
/// use gyre::testing::{success_result_of, MemoryReactor, StringTransport};
/// use gyre::{Address, Protocol, Transport};
///
/// #[derive(Default)]
/// struct Greeter {
///     transport: Option<Transport>,
/// }
/// impl Greeter {
///     fn send_message(&self, msg: &str) {
///         if let Some(t) = &self.transport {
///             t.write(format!("MESSAGE {msg}\n").as_bytes());
///         }
///     }
/// }
/// impl Protocol for Greeter {
///     fn connection_made(&mut self, t: &Transport) {
///         self.transport = Some(t.clone());
///     }
/// }
///
/// let reactor = MemoryReactor::new();
/// let endpoint = TcpClientEndpoint::new(&reactor, "example.test", 1234);
/// let d = connect_protocol(&endpoint, Greeter::default());
/// // Play the network's part: the connection is made.
/// let client = &reactor.tcp_clients()[0];
/// let mut protocol = client.factory.build_protocol(&Address::tcp("192.0.2.7:1234".parse()?)).unwrap();
/// let wire = StringTransport::new();
/// wire.make_connection(&mut protocol);
/// let p = success_result_of(&d);
/// p.with_protocol(|g| g.send_message("Hello"));
/// assert_eq!(wire.value(), b"MESSAGE Hello\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Connected<P> {
    protocol: Rc<RefCell<P>>,
    transport: Transport,
}

/// [`Connected::try_with_protocol`] was called while the protocol was
/// already in use: from inside one of its own callbacks, or from inside
/// another `with_protocol` on the same connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the protocol is in use (called from inside one of its own callbacks)")]
pub struct ProtocolBusy;

impl<P> Connected<P> {
    /// Pairs a protocol cell with the transport it runs on.
    pub(crate) fn new(protocol: Rc<RefCell<P>>, transport: Transport) -> Connected<P> {
        Connected {
            protocol,
            transport,
        }
    }

    /// Runs `f` on the protocol and returns what it returns.
    ///
    /// # Panics
    /// If the protocol is in use: called from inside one of the protocol's
    /// own callbacks (which already have `&mut self`), or from inside
    /// another `with_protocol` on this connection.
    /// [`try_with_protocol`](Self::try_with_protocol) reports that instead.
    pub fn with_protocol<R>(&self, f: impl FnOnce(&mut P) -> R) -> R {
        match self.try_with_protocol(f) {
            Ok(r) => r,
            Err(busy) => panic!("Connected::with_protocol: {busy}"),
        }
    }

    /// Runs `f` on the protocol, or fails with [`ProtocolBusy`] (without
    /// running it) if the protocol is in use.
    pub fn try_with_protocol<R>(&self, f: impl FnOnce(&mut P) -> R) -> Result<R, ProtocolBusy> {
        let mut protocol = self.protocol.try_borrow_mut().map_err(|_| ProtocolBusy)?;
        Ok(f(&mut protocol))
    }

    /// The connection's transport.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// True if both are handles to the same protocol.
    pub fn same_as(&self, other: &Connected<P>) -> bool {
        Rc::ptr_eq(&self.protocol, &other.protocol)
    }
}

impl<P> Clone for Connected<P> {
    fn clone(&self) -> Self {
        Connected {
            protocol: self.protocol.clone(),
            transport: self.transport.clone(),
        }
    }
}

impl<P: 'static> fmt::Debug for Connected<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Connected<{}>({})",
            crate::log::short_type_name::<P>(),
            self.transport.peer()
        )
    }
}

/// A protocol in a shared cell, driven by the connection: `Rc<RefCell<P>>`
/// is itself a [`Protocol`] that forwards every callback to `P` (see that
/// impl for the borrow rule), and this is the name endpoints give it.
pub type SharedProtocol<P> = Rc<RefCell<P>>;

/// Where [`KeepBuilt`] leaves the protocol it built.
type BuiltSlot<P> = Rc<RefCell<Option<Rc<RefCell<P>>>>>;

/// The wrapper behind [`ClientEndpointExt::connect`]: builds with the
/// user's factory and keeps a handle to what it built; everything else is
/// the user's factory's.
struct KeepBuilt<P> {
    built: BuiltSlot<P>,
}

impl<F: Factory> WrapFactory<F> for KeepBuilt<F::Protocol> {
    type Protocol = SharedProtocol<F::Protocol>;

    fn build_protocol(&self, wrapped: &Shared<F>, addr: &Address) -> Option<Self::Protocol> {
        let protocol = Rc::new(RefCell::new(wrapped.build_protocol(addr)?));
        *self.built.borrow_mut() = Some(protocol.clone());
        Some(protocol)
    }
}
