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
//! * [`HaproxyServerEndpoint`] (`haproxy:tcp:8000`): any server endpoint,
//!   behind a load balancer that sends PROXY protocol headers
//!   ([`crate::haproxy`]);
//! * `TlsServerEndpoint` (`ssl:8443:privateKey=key.pem`) and
//!   `TlsClientEndpoint` (`tls:host=example.org:port=443`): any endpoint with
//!   TLS on every connection (feature `tls`, see `crate::tls`);
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
#[cfg(feature = "tls")]
mod tls;

use std::cell::{Ref, RefCell, RefMut};
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
#[cfg(feature = "tls")]
pub use tls::{TlsClientEndpoint, TlsServerEndpoint};

/// Somewhere to listen (Twisted's `IStreamServerEndpoint`).
///
/// Object-safe: the typed entry point is [`ServerEndpointExt::listen`].
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
/// The protocol is shared with the connection (which calls it for every
/// event), so it is reached through [`protocol`](Self::protocol), a
/// `RefCell` borrow: do not hold the borrow across a call that could make
/// the reactor call the protocol (none of the transport's methods do).
pub struct Connected<P> {
    protocol: Rc<RefCell<P>>,
    transport: Transport,
}

impl<P> Connected<P> {
    /// Pairs a protocol cell with the transport it runs on.
    pub(crate) fn new(protocol: Rc<RefCell<P>>, transport: Transport) -> Connected<P> {
        Connected {
            protocol,
            transport,
        }
    }

    /// The protocol, mutably.
    pub fn protocol(&self) -> RefMut<'_, P> {
        self.protocol.borrow_mut()
    }

    /// The protocol, shared.
    pub fn borrow(&self) -> Ref<'_, P> {
        self.protocol.borrow()
    }

    /// The connection's transport.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// The shared protocol cell itself, to keep in timers and other objects.
    pub fn shared(&self) -> Rc<RefCell<P>> {
        self.protocol.clone()
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
