//! Wrappers: behaviour added around a protocol or a factory that forwards
//! every callback it does not change (Twisted's `policies.ProtocolWrapper`
//! and `policies.WrappingFactory`).
//!
//! * [`ProtocolWrapper<P, W>`] is a [`Protocol`] that runs the protocol `P`
//!   with the wrapper value `W` around it. `W` implements
//!   [`WrapProtocol<P>`], whose methods mirror the protocol callbacks, each
//!   also given the inner protocol; by default every one of them passes the
//!   call on unchanged. A wrapper writes only the callbacks it changes.
//! * [`WrappingFactory<F, W>`] is a [`Factory`] (and a [`ClientFactory`]
//!   when `F` is one) around the factory `F`, with `W` implementing
//!   [`WrapFactory<F>`]: `W` says how to build a protocol (usually: build
//!   `F`'s and wrap it in a `ProtocolWrapper`), and every other method
//!   forwards to `F` unless `W` overrides it.
//!
//! Idle timeouts and connection limits
//! ([`policies`](crate::protocols::policies)), the endpoint and
//! `ClientService` plumbing and [`Reconnecting`](crate::Reconnecting) are
//! built this way; so will TLS be.
//!
//! # A policy, start to finish
//!
//! Count the bytes every connection receives, for a whole server:
//!
//! ```
//! use std::cell::Cell;
//! use std::rc::Rc;
//! use gyre::testing::StringTransport;
//! use gyre::wrap::{ProtocolWrapper, WrapFactory, WrapProtocol, WrappingFactory};
//! use gyre::{for_protocol, Address, Factory, Protocol, Shared, Transport};
//!
//! /// Adds what one connection receives to a shared total.
//! struct CountBytes {
//!     total: Rc<Cell<usize>>,
//! }
//!
//! impl<P: Protocol> WrapProtocol<P> for CountBytes {
//!     fn data_received(&mut self, inner: &mut P, transport: &Transport, data: &[u8]) {
//!         self.total.set(self.total.get() + data.len());
//!         inner.data_received(transport, data);
//!     }
//! }
//!
//! /// Gives every connection of the wrapped factory a `CountBytes`.
//! #[derive(Default)]
//! struct CountAll {
//!     total: Rc<Cell<usize>>,
//! }
//!
//! impl<F: Factory> WrapFactory<F> for CountAll {
//!     type Protocol = ProtocolWrapper<F::Protocol, CountBytes>;
//!
//!     fn build_protocol(&self, wrapped: &Shared<F>, addr: &Address) -> Option<Self::Protocol> {
//!         let counter = CountBytes { total: self.total.clone() };
//!         Some(ProtocolWrapper::wrap(wrapped.build_protocol(addr)?, counter))
//!     }
//! }
//!
//! struct Echo;
//! impl Protocol for Echo {
//!     fn data_received(&mut self, transport: &Transport, data: &[u8]) {
//!         transport.write(data);
//!     }
//! }
//!
//! let factory = WrappingFactory::wrap(for_protocol(|| Echo), CountAll::default());
//! // `reactor.listen_tcp(8000, factory)` in a server; here, two connections by hand:
//! let addr = Address::tcp("127.0.0.1:4000".parse()?);
//! for input in [&b"hello"[..], b"bye"] {
//!     let mut protocol = factory.build_protocol(&addr).expect("built");
//!     let transport = StringTransport::new();
//!     transport.make_connection(&mut protocol);
//!     protocol.data_received(&transport.transport(), input);
//!     assert_eq!(transport.value(), input); // still an echo server
//! }
//! assert_eq!(factory.wrapper().total.get(), 8);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What a wrapper can do
//!
//! Each method of [`WrapProtocol`] gets `&mut` the inner protocol and the
//! connection's transport, and decides what the inner protocol sees:
//!
//! * call it unchanged (the default), or before or after its own work;
//! * pass it a different [`Transport`]: one made with
//!   [`Transport::observe`] (sees every write: the idle timeout restarts
//!   its timer this way) or with [`Transport::new`] over your own
//!   [`TransportImpl`](crate::transport::TransportImpl) (changes the
//!   writes: a TLS wrapper encrypts them). Hand the inner protocol the same
//!   substitute in every callback, so a transport it kept compares equal
//!   ([`Transport::same_as`]) to the one it is given later;
//! * pass it other bytes than arrived (decrypted, decompressed), or none;
//! * swallow a callback, or hold it back and deliver it from a later one
//!   (a TLS wrapper calls the inner `connection_made` only once its
//!   handshake is done). To reach the inner protocol outside the callbacks
//!   (from a timer), wrap an `Rc<RefCell<P>>`, which is itself a protocol.
//!
//! Wrappers nest: `ProtocolWrapper<ProtocolWrapper<P, A>, B>` runs `B`
//! around `A` around `P`, and `WrappingFactory<WrappingFactory<F, A>, B>`
//! builds those (the command line's `LimitConnections(TimeoutFactory(f))`).
//!
//! # The factory rules
//!
//! A `WrappingFactory` keeps its wrapped factory as a [`Shared`], so
//! Twisted's `numPorts` rule holds through any depth of wrapping: starting
//! the wrapper starts the wrapped factory, which logs `Starting factory
//! <…>` once however many ports and wrappers use it, and the last stop
//! stops it. The wrapper itself is silent ([`Factory::noisy`] is `false`,
//! and not something a `WrapFactory` changes), and its log prefix and
//! qualified name are the wrapped factory's, so a wrapped server's log
//! lines read exactly as the unwrapped server's. Pass a [`Shared`] clone to
//! [`WrappingFactory::wrap`] to share the wrapped factory with other ports.
//!
//! # Why a struct and a trait
//!
//! The obvious Rust shape, a trait `Wrapper` with forwarding defaults and
//! `impl<W: Wrapper> Protocol for W`, does not compile next to the
//! existing `impl<P: Protocol + ?Sized> Protocol for Box<P>`: `Box` is a
//! fundamental type, so another crate may implement `Wrapper` for a
//! `Box<Its>`, and the two impls would overlap. Here the one
//! `impl Protocol for ProtocolWrapper<P, W>` is the only forwarding code
//! there is; a wrapper is a plain value the user writes, and knows nothing
//! of forwarding. Everything is generic, so each wrapped call is a direct
//! call the compiler can inline; a connection that is not wrapped (the TCP
//! path, `gyre echo`) never goes near this module.
//!
//! # Differences from Twisted
//!
//! * A Twisted wrapper subclasses `ProtocolWrapper` and calls the base
//!   method to forward; here the forwarding is a trait's default method,
//!   and a wrapper overrides only what it changes.
//! * Twisted's wrapper always makes itself the inner protocol's transport.
//!   Here the inner protocol gets the connection's own transport unless the
//!   wrapper hands it another, so a wrapper costs nothing on writes unless
//!   it asks to see them.
//! * The half-close callbacks (`read_connection_lost`,
//!   `write_connection_lost`) and `half_closeable` are forwarded like the
//!   rest; Twisted's `ProtocolWrapper` does not relay them.
//! * Log prefixes stay the wrapped protocol's and factory's: Twisted writes
//!   `Echo (TimeoutProtocol)`; gyre writes `Echo`. A Twisted
//!   `WrappingFactory` also logs its own `Starting factory` line; gyre's
//!   wrapper is silent and only the wrapped factory logs.
//! * There is no registry of live protocols (Twisted's
//!   `registerProtocol`/`unregisterProtocol`): a wrapper that needs one
//!   keeps its own, as [`LimitConnections`](crate::protocols::LimitConnections)
//!   keeps its counts.
//!
//! Tests: at the bottom of this file (`StringTransport`, plain recorders);
//! the wrappers built on this module are tested where they live.

use std::borrow::Cow;
use std::fmt;

use crate::address::Address;
use crate::connector::Connector;
use crate::error::{ConnectError, Reason};
use crate::factory::{ClientFactory, Factory, Shared};
use crate::log::short_type_name;
use crate::protocol::Protocol;
use crate::transport::{Transport, WriteLimit};

// ---------------------------------------------------------------------------
// Protocols
// ---------------------------------------------------------------------------

/// What a [`ProtocolWrapper`] does around its inner protocol `P`.
///
/// Every method mirrors a [`Protocol`] callback and also receives the inner
/// protocol; every default passes the call on to it unchanged. Implement
/// the ones your wrapper changes (see the [module docs](self) for what
/// that can be).
///
/// A wrapper that works for any protocol is written
/// `impl<P: Protocol> WrapProtocol<P> for MyWrapper`; one that needs to
/// call methods of a particular protocol names that type instead.
///
/// Handing the inner protocol a transport of your own, one that sees every
/// write:
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use gyre::testing::StringTransport;
/// use gyre::transport::Write;
/// use gyre::wrap::{ProtocolWrapper, WrapProtocol};
/// use gyre::{Protocol, Transport};
///
/// /// Logs what the inner protocol writes.
/// #[derive(Default)]
/// struct Spy {
///     sent: Rc<RefCell<Vec<u8>>>,
///     given: Option<Transport>,
/// }
///
/// impl Spy {
///     /// The transport the inner protocol sees: made once, then reused.
///     fn transport_for(&mut self, outer: &Transport) -> Transport {
///         let sent = self.sent.clone();
///         self.given
///             .get_or_insert_with(|| {
///                 outer.observe(move |w| match w {
///                     Write::Bytes(b) => sent.borrow_mut().extend_from_slice(b),
///                     Write::Sequence(parts) => parts.iter().for_each(|b| sent.borrow_mut().extend_from_slice(b)),
///                 })
///             })
///             .clone()
///     }
/// }
///
/// impl<P: Protocol> WrapProtocol<P> for Spy {
///     fn connection_made(&mut self, inner: &mut P, transport: &Transport) {
///         inner.connection_made(&self.transport_for(transport));
///     }
///     fn data_received(&mut self, inner: &mut P, transport: &Transport, data: &[u8]) {
///         inner.data_received(&self.transport_for(transport), data);
///     }
/// }
///
/// struct Greeter;
/// impl Protocol for Greeter {
///     fn connection_made(&mut self, transport: &Transport) {
///         transport.write(b"hello\r\n");
///     }
/// }
///
/// let spy = Spy::default();
/// let sent = spy.sent.clone();
/// let mut protocol = ProtocolWrapper::wrap(Greeter, spy);
/// let transport = StringTransport::new();
/// transport.make_connection(&mut protocol);
/// assert_eq!(*sent.borrow(), b"hello\r\n");
/// assert_eq!(transport.value(), b"hello\r\n");
/// ```
pub trait WrapProtocol<P: Protocol>: 'static {
    /// The connection is made; by default `inner.connection_made(transport)`.
    fn connection_made(&mut self, inner: &mut P, transport: &Transport) {
        inner.connection_made(transport)
    }

    /// Bytes arrived; by default `inner.data_received(transport, data)`.
    fn data_received(&mut self, inner: &mut P, transport: &Transport, data: &[u8]) {
        inner.data_received(transport, data)
    }

    /// The connection is gone; by default `inner.connection_lost(reason)`.
    fn connection_lost(&mut self, inner: &mut P, reason: Reason) {
        inner.connection_lost(reason)
    }

    /// Whether the connection delivers half-close events; by default
    /// whatever the inner protocol says.
    fn half_closeable(&self, inner: &P) -> bool {
        inner.half_closeable()
    }

    /// The peer shut its sending side; by default
    /// `inner.read_connection_lost(transport)`.
    fn read_connection_lost(&mut self, inner: &mut P, transport: &Transport) {
        inner.read_connection_lost(transport)
    }

    /// Our write side shut down; by default
    /// `inner.write_connection_lost(transport)`.
    fn write_connection_lost(&mut self, inner: &mut P, transport: &Transport) {
        inner.write_connection_lost(transport)
    }

    /// The connection's name in log lines; by default the inner protocol's.
    fn log_prefix(&self, inner: &P) -> Cow<'static, str> {
        inner.log_prefix()
    }
}

/// A protocol that runs `P` with the wrapper `W` around it: every callback
/// goes to `W`'s [`WrapProtocol`] method, which by default forwards it to
/// `P`. See the [module docs](self).
///
/// A wrapper that counts one connection's bytes each way: what arrives as
/// it passes through, what the inner protocol writes through a transport
/// that observes it. Both the wrapper and the protocol stay reachable:
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
///
/// use gyre::testing::StringTransport;
/// use gyre::transport::Write;
/// use gyre::wrap::{ProtocolWrapper, WrapProtocol};
/// use gyre::{Protocol, Transport};
///
/// #[derive(Default)]
/// struct Bytes {
///     read: usize,
///     written: Rc<Cell<usize>>,
///     watched: Option<Transport>,
/// }
///
/// impl Bytes {
///     /// The transport the inner protocol is given: the same one every time.
///     fn watched(&mut self, transport: &Transport) -> Transport {
///         let written = self.written.clone();
///         let watch = move |w: Write<'_>| {
///             let n = match w {
///                 Write::Bytes(b) => b.len(),
///                 Write::Sequence(parts) => parts.iter().map(|p| p.len()).sum(),
///             };
///             written.set(written.get() + n);
///         };
///         self.watched.get_or_insert_with(|| transport.observe(watch)).clone()
///     }
/// }
///
/// impl<P: Protocol> WrapProtocol<P> for Bytes {
///     fn connection_made(&mut self, inner: &mut P, transport: &Transport) {
///         inner.connection_made(&self.watched(transport));
///     }
///     fn data_received(&mut self, inner: &mut P, transport: &Transport, data: &[u8]) {
///         self.read += data.len();
///         inner.data_received(&self.watched(transport), data);
///     }
/// }
///
/// #[derive(Default)]
/// struct Shout {
///     lines: u32,
/// }
/// impl Protocol for Shout {
///     fn data_received(&mut self, t: &Transport, data: &[u8]) {
///         self.lines += 1;
///         t.write_sequence(&[&data.to_ascii_uppercase(), b"!"]);
///     }
/// }
///
/// let mut protocol = ProtocolWrapper::wrap(Shout::default(), Bytes::default());
/// let wire = StringTransport::new();
/// wire.make_connection(&mut protocol);
/// protocol.data_received(&wire.transport(), b"hey");
/// protocol.data_received(&wire.transport(), b"you");
///
/// assert_eq!(wire.value(), b"HEY!YOU!"); // the inner protocol's behaviour is untouched
/// assert_eq!(protocol.inner().lines, 2);
/// assert_eq!((protocol.wrapper().read, protocol.wrapper().written.get()), (6, 8));
/// ```
pub struct ProtocolWrapper<P, W> {
    inner: P,
    wrapper: W,
}

impl<P, W> ProtocolWrapper<P, W> {
    /// Runs `inner` with `wrapper` around it.
    pub fn wrap(inner: P, wrapper: W) -> Self {
        ProtocolWrapper { inner, wrapper }
    }

    /// The wrapped protocol.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// The wrapped protocol, mutably.
    pub fn inner_mut(&mut self) -> &mut P {
        &mut self.inner
    }

    /// The wrapper.
    pub fn wrapper(&self) -> &W {
        &self.wrapper
    }

    /// The wrapper, mutably.
    pub fn wrapper_mut(&mut self) -> &mut W {
        &mut self.wrapper
    }
}

impl<P: Protocol, W: WrapProtocol<P>> Protocol for ProtocolWrapper<P, W> {
    fn connection_made(&mut self, transport: &Transport) {
        self.wrapper.connection_made(&mut self.inner, transport)
    }
    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        self.wrapper.data_received(&mut self.inner, transport, data)
    }
    fn connection_lost(&mut self, reason: Reason) {
        self.wrapper.connection_lost(&mut self.inner, reason)
    }
    fn half_closeable(&self) -> bool {
        self.wrapper.half_closeable(&self.inner)
    }
    fn read_connection_lost(&mut self, transport: &Transport) {
        self.wrapper
            .read_connection_lost(&mut self.inner, transport)
    }
    fn write_connection_lost(&mut self, transport: &Transport) {
        self.wrapper
            .write_connection_lost(&mut self.inner, transport)
    }
    fn log_prefix(&self) -> Cow<'static, str> {
        self.wrapper.log_prefix(&self.inner)
    }
}

impl<P: 'static, W: fmt::Debug> fmt::Debug for ProtocolWrapper<P, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProtocolWrapper")
            .field("inner", &short_type_name::<P>())
            .field("wrapper", &self.wrapper)
            .finish()
    }
}

// ---------------------------------------------------------------------------
// Factories
// ---------------------------------------------------------------------------

/// What a [`WrappingFactory`] does around its wrapped factory `F`.
///
/// [`build_protocol`](Self::build_protocol) is the one method to write
/// (Rust has no default for the protocol type): usually it builds `F`'s
/// protocol and wraps it in a [`ProtocolWrapper`]; it may also refuse
/// (return `None`) without asking `F` at all. Every other method forwards
/// to `F` by default; the three client callbacks exist, and are forwarded,
/// when `F` is a [`ClientFactory`]; overriding one of them repeats their
/// `where F: ClientFactory`.
///
/// `wrapped` is `F` in its [`Shared`] cell: `wrapped.build_protocol(addr)`
/// and the other `F` methods work through it, and
/// [`do_start`](Shared::do_start) / [`do_stop`](Shared::do_stop) apply the
/// `numPorts` rule.
///
/// A wrapper that turns away peers outside a network before the wrapped
/// factory hears of them, and leaves connections from inside unchanged:
///
/// ```
/// use std::cell::Cell;
/// use std::net::IpAddr;
/// use std::rc::Rc;
///
/// use gyre::wrap::{WrapFactory, WrappingFactory};
/// use gyre::{for_protocol, Address, Factory, Protocol, Shared};
///
/// struct Quiet;
/// impl Protocol for Quiet {}
///
/// /// Serves 10.0.0.0/8 only.
/// struct Internal;
///
/// impl<F: Factory> WrapFactory<F> for Internal {
///     type Protocol = F::Protocol; // not wrapped: passed on as built
///
///     fn build_protocol(&self, wrapped: &Shared<F>, addr: &Address) -> Option<F::Protocol> {
///         match addr.inet()?.ip() {
///             IpAddr::V4(ip) if ip.octets()[0] == 10 => wrapped.build_protocol(addr),
///             _ => None,
///         }
///     }
/// }
///
/// let built = Rc::new(Cell::new(0));
/// let b = built.clone();
/// let inner = for_protocol(move || {
///     b.set(b.get() + 1);
///     Quiet
/// });
/// let factory = WrappingFactory::wrap(inner, Internal);
/// assert!(factory.build_protocol(&Address::tcp("10.1.2.3:5000".parse()?)).is_some());
/// assert!(factory.build_protocol(&Address::tcp("192.0.2.1:5000".parse()?)).is_none());
/// assert_eq!(built.get(), 1, "the outsider never reached the wrapped factory");
/// assert_eq!(factory.log_prefix(), "Factory", "log lines name the wrapped factory");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait WrapFactory<F: Factory>: 'static {
    /// The protocol the wrapping factory builds.
    type Protocol: Protocol;

    /// Builds the protocol for a connection from `addr`, or refuses it
    /// with `None`.
    fn build_protocol(&self, wrapped: &Shared<F>, addr: &Address) -> Option<Self::Protocol>;

    /// The wrapping factory is starting; by default `wrapped.do_start()`,
    /// which starts `F` if nothing else uses it yet.
    fn start_factory(&self, wrapped: &Shared<F>) {
        wrapped.do_start()
    }

    /// The wrapping factory stopped; by default `wrapped.do_stop()`,
    /// which stops `F` if nothing else uses it any more.
    fn stop_factory(&self, wrapped: &Shared<F>) {
        wrapped.do_stop()
    }

    /// The name in log lines; by default `F`'s.
    fn log_prefix(&self, wrapped: &Shared<F>) -> Cow<'static, str> {
        wrapped.log_prefix()
    }

    /// The full name (log system of its ports); by default `F`'s.
    fn qualified_name(&self, wrapped: &Shared<F>) -> Cow<'static, str> {
        wrapped.qualified_name()
    }

    /// The write cap of the connections it serves; by default `F`'s.
    fn write_limit(&self, wrapped: &Shared<F>) -> WriteLimit {
        wrapped.write_limit()
    }

    /// A connection attempt began; by default forwarded to `F`.
    fn started_connecting(&self, wrapped: &Shared<F>, connector: &Connector)
    where
        F: ClientFactory,
    {
        wrapped.started_connecting(connector)
    }

    /// The attempt failed; by default forwarded to `F`.
    fn client_connection_failed(
        &self,
        wrapped: &Shared<F>,
        connector: &Connector,
        reason: &ConnectError,
    ) where
        F: ClientFactory,
    {
        wrapped.client_connection_failed(connector, reason)
    }

    /// An established connection ended; by default forwarded to `F`.
    fn client_connection_lost(&self, wrapped: &Shared<F>, connector: &Connector, reason: &Reason)
    where
        F: ClientFactory,
    {
        wrapped.client_connection_lost(connector, reason)
    }
}

/// A factory around the factory `F`, with the wrapper `W` deciding what
/// changes: see [`WrapFactory`] and the [module docs](self).
///
/// It is a [`ClientFactory`] whenever `F` is one.
///
/// The byte counter of the [module docs](self), on a real server: every
/// connection's protocol is wrapped, the total is the wrapper's:
///
/// ```
/// use std::cell::Cell;
/// use std::io::{Read, Write};
/// use std::rc::Rc;
///
/// use gyre::wrap::{ProtocolWrapper, WrapFactory, WrapProtocol, WrappingFactory};
/// use gyre::{for_protocol, Address, Factory, Protocol, Reactor, Shared, TcpListenOptions, Transport};
///
/// struct CountBytes {
///     total: Rc<Cell<usize>>,
/// }
/// impl<P: Protocol> WrapProtocol<P> for CountBytes {
///     fn data_received(&mut self, inner: &mut P, transport: &Transport, data: &[u8]) {
///         self.total.set(self.total.get() + data.len());
///         inner.data_received(transport, data);
///     }
/// }
///
/// struct CountAll {
///     total: Rc<Cell<usize>>,
/// }
/// impl<F: Factory> WrapFactory<F> for CountAll {
///     type Protocol = ProtocolWrapper<F::Protocol, CountBytes>;
///     fn build_protocol(&self, wrapped: &Shared<F>, addr: &Address) -> Option<Self::Protocol> {
///         let counter = CountBytes { total: self.total.clone() };
///         Some(ProtocolWrapper::wrap(wrapped.build_protocol(addr)?, counter))
///     }
/// }
///
/// struct Echo;
/// impl Protocol for Echo {
///     fn data_received(&mut self, t: &Transport, data: &[u8]) {
///         t.write(data);
///     }
/// }
///
/// let reactor = Reactor::new()?;
/// # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
/// # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
/// let total = Rc::new(Cell::new(0));
/// let factory = WrappingFactory::wrap(for_protocol(|| Echo), CountAll { total: total.clone() });
/// let loopback = TcpListenOptions::interface("127.0.0.1");
/// let address = reactor.listen_tcp_with(0, factory, loopback)?.address();
///
/// let handle = reactor.thread_handle();
/// let clients = std::thread::spawn(move || {
///     for message in [&b"first"[..], b"second", b"third"] {
///         let mut stream = std::net::TcpStream::connect(address).unwrap();
///         stream.write_all(message).unwrap();
///         let mut echo = vec![0; message.len()];
///         stream.read_exact(&mut echo).unwrap(); // the server has counted it by now
///     }
///     handle.stop();
/// });
/// reactor.run()?;
/// clients.join().unwrap();
/// assert_eq!(total.get(), 16);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct WrappingFactory<F, W> {
    wrapped: Shared<F>,
    wrapper: W,
}

impl<F: Factory, W> WrappingFactory<F, W> {
    /// Wraps `factory` (a factory value, or a [`Shared`] clone to share it
    /// with other ports) with `wrapper`.
    pub fn wrap(factory: impl Into<Shared<F>>, wrapper: W) -> Self {
        WrappingFactory {
            wrapped: factory.into(),
            wrapper,
        }
    }

    /// The wrapped factory, in its shared cell.
    pub fn wrapped(&self) -> &Shared<F> {
        &self.wrapped
    }

    /// The wrapper.
    pub fn wrapper(&self) -> &W {
        &self.wrapper
    }

    /// The wrapper, mutably (to configure it before use).
    pub fn wrapper_mut(&mut self) -> &mut W {
        &mut self.wrapper
    }
}

impl<F: Factory, W: WrapFactory<F>> Factory for WrappingFactory<F, W> {
    type Protocol = W::Protocol;

    fn build_protocol(&self, addr: &Address) -> Option<W::Protocol> {
        self.wrapper.build_protocol(&self.wrapped, addr)
    }
    fn start_factory(&self) {
        self.wrapper.start_factory(&self.wrapped)
    }
    fn stop_factory(&self) {
        self.wrapper.stop_factory(&self.wrapped)
    }
    fn log_prefix(&self) -> Cow<'static, str> {
        self.wrapper.log_prefix(&self.wrapped)
    }
    /// Always `false`: the wrapped factory logs its own start and stop.
    fn noisy(&self) -> bool {
        false
    }
    fn qualified_name(&self) -> Cow<'static, str> {
        self.wrapper.qualified_name(&self.wrapped)
    }
    fn write_limit(&self) -> WriteLimit {
        self.wrapper.write_limit(&self.wrapped)
    }
}

impl<F: ClientFactory, W: WrapFactory<F>> ClientFactory for WrappingFactory<F, W> {
    fn started_connecting(&self, connector: &Connector) {
        self.wrapper.started_connecting(&self.wrapped, connector)
    }
    fn client_connection_failed(&self, connector: &Connector, reason: &ConnectError) {
        self.wrapper
            .client_connection_failed(&self.wrapped, connector, reason)
    }
    fn client_connection_lost(&self, connector: &Connector, reason: &Reason) {
        self.wrapper
            .client_connection_lost(&self.wrapped, connector, reason)
    }
}

impl<F, W: fmt::Debug> fmt::Debug for WrappingFactory<F, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappingFactory")
            .field("wrapped", &self.wrapped)
            .field("wrapper", &self.wrapper)
            .finish()
    }
}

#[cfg(test)]
mod tests;
