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
use crate::transport::Transport;

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
mod tests {
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;

    use super::*;
    use crate::connector::{ConnectorImpl, ConnectorState, Destination};
    use crate::error::ConnectorError;
    use crate::testing::StringTransport;
    use crate::transport::Write;

    /// Events seen, in order, shared by everything a test records into.
    #[derive(Clone, Default)]
    struct Events(Rc<RefCell<Vec<String>>>);

    impl Events {
        fn push(&self, event: impl Into<String>) {
            self.0.borrow_mut().push(event.into());
        }
        fn take(&self) -> Vec<String> {
            std::mem::take(&mut *self.0.borrow_mut())
        }
    }

    /// Records every callback, with whether the transport is the one it
    /// was given at `connection_made`; echoes what it receives.
    struct Recorder {
        name: &'static str,
        events: Events,
        transport: Option<Transport>,
        half_closeable: bool,
    }

    impl Recorder {
        fn new(name: &'static str, events: &Events) -> Recorder {
            Recorder {
                name,
                events: events.clone(),
                transport: None,
                half_closeable: true,
            }
        }

        fn same(&self, transport: &Transport) -> bool {
            self.transport
                .as_ref()
                .is_some_and(|t| t.same_as(transport))
        }
    }

    impl Protocol for Recorder {
        fn connection_made(&mut self, transport: &Transport) {
            self.events.push(format!("{} made", self.name));
            self.transport = Some(transport.clone());
        }
        fn data_received(&mut self, transport: &Transport, data: &[u8]) {
            let same = self.same(transport);
            let text = String::from_utf8_lossy(data);
            self.events
                .push(format!("{} data {text} same={same}", self.name));
            transport.write(data);
        }
        fn connection_lost(&mut self, reason: Reason) {
            self.events.push(format!("{} lost {reason:?}", self.name));
        }
        fn half_closeable(&self) -> bool {
            self.half_closeable
        }
        fn read_connection_lost(&mut self, transport: &Transport) {
            let same = self.same(transport);
            self.events
                .push(format!("{} read lost same={same}", self.name));
        }
        fn write_connection_lost(&mut self, transport: &Transport) {
            let same = self.same(transport);
            self.events
                .push(format!("{} write lost same={same}", self.name));
        }
        fn log_prefix(&self) -> Cow<'static, str> {
            Cow::Owned(format!("Rec-{}", self.name))
        }
    }

    /// Overrides nothing.
    #[derive(Debug)]
    struct Transparent;
    impl<P: Protocol> WrapProtocol<P> for Transparent {}

    /// Upper-cases what the inner protocol receives; nothing else.
    struct Shout;
    impl<P: Protocol> WrapProtocol<P> for Shout {
        fn data_received(&mut self, inner: &mut P, transport: &Transport, data: &[u8]) {
            inner.data_received(transport, &data.to_ascii_uppercase());
        }
    }

    /// Notes each callback it passes on, before passing it on unchanged.
    struct Tag {
        events: Events,
    }
    impl<P: Protocol> WrapProtocol<P> for Tag {
        fn connection_made(&mut self, inner: &mut P, transport: &Transport) {
            self.events.push("tag made");
            inner.connection_made(transport);
        }
        fn data_received(&mut self, inner: &mut P, transport: &Transport, data: &[u8]) {
            self.events.push("tag data");
            inner.data_received(transport, data);
        }
        fn connection_lost(&mut self, inner: &mut P, reason: Reason) {
            self.events.push("tag lost");
            inner.connection_lost(reason);
        }
    }

    /// Drives every callback once, half-close events included.
    fn drive(protocol: &mut impl Protocol, st: &StringTransport) {
        let t = st.transport();
        protocol.connection_made(&t);
        protocol.data_received(&t, b"one");
        protocol.data_received(&t, b"two");
        protocol.read_connection_lost(&t);
        protocol.write_connection_lost(&t);
        protocol.connection_lost(Reason::Done);
    }

    /// What a lone `Recorder` named `a` records under `drive`.
    fn unwrapped_events() -> Vec<String> {
        let events = Events::default();
        drive(&mut Recorder::new("a", &events), &StringTransport::new());
        events.take()
    }

    /// A wrapper that overrides nothing forwards every callback, in order,
    /// with the connection's own transport, and reports the inner
    /// protocol's `half_closeable` and log prefix.
    #[test]
    fn a_transparent_wrapper_forwards_everything_in_order() {
        let events = Events::default();
        let mut wrapped = ProtocolWrapper::wrap(Recorder::new("a", &events), Transparent);
        let st = StringTransport::new();
        drive(&mut wrapped, &st);
        let seen = events.take();
        let prefix = wrapped.log_prefix();
        let half = wrapped.half_closeable();
        wrapped.inner_mut().half_closeable = false;
        let half_after = wrapped.half_closeable();

        assert_eq!(
            seen,
            [
                "a made",
                "a data one same=true",
                "a data two same=true",
                "a read lost same=true",
                "a write lost same=true",
                "a lost Done",
            ]
        );
        assert_eq!(seen, unwrapped_events());
        assert_eq!(prefix, "Rec-a");
        assert_eq!((half, half_after), (true, false));
        assert_eq!(st.value(), b"onetwo");
    }

    /// A wrapper that overrides one callback changes that one only: the
    /// inner protocol receives upper-cased bytes, and every other event
    /// is as without the wrapper.
    #[test]
    fn overriding_one_callback_changes_only_that_one() {
        let events = Events::default();
        let mut wrapped = ProtocolWrapper::wrap(Recorder::new("a", &events), Shout);
        let st = StringTransport::new();
        drive(&mut wrapped, &st);
        let seen = events.take();

        let mut expected = unwrapped_events();
        expected[1] = "a data ONE same=true".into();
        expected[2] = "a data TWO same=true".into();
        assert_eq!(seen, expected);
        assert_eq!(st.value(), b"ONETWO");
        assert_eq!(wrapped.log_prefix(), "Rec-a");
    }

    /// A wrapper around a wrapper: the outer one sees each event first,
    /// then the inner wrapper's change applies, then the protocol runs.
    #[test]
    fn a_wrapper_around_a_wrapper() {
        let events = Events::default();
        let inner = ProtocolWrapper::wrap(Recorder::new("a", &events), Shout);
        let mut outer = ProtocolWrapper::wrap(
            inner,
            Tag {
                events: events.clone(),
            },
        );
        let st = StringTransport::new();
        drive(&mut outer, &st);
        let seen = events.take();
        let prefix = outer.log_prefix();

        assert_eq!(
            seen,
            [
                "tag made",
                "a made",
                "tag data",
                "a data ONE same=true",
                "tag data",
                "a data TWO same=true",
                "a read lost same=true",
                "a write lost same=true",
                "tag lost",
                "a lost Done",
            ]
        );
        assert_eq!(prefix, "Rec-a");
        assert!(outer.half_closeable());
    }

    /// Hands the inner protocol an observed transport, the same one in
    /// every callback, and records what goes through it.
    struct Observe {
        writes: Rc<RefCell<Vec<String>>>,
        given: Option<Transport>,
    }

    impl Observe {
        fn transport_for(&mut self, outer: &Transport) -> Transport {
            let writes = self.writes.clone();
            self.given
                .get_or_insert_with(|| {
                    outer.observe(move |w| {
                        let text = match w {
                            Write::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
                            Write::Sequence(parts) => parts
                                .iter()
                                .map(|b| String::from_utf8_lossy(b))
                                .collect::<Vec<_>>()
                                .join("+"),
                        };
                        writes.borrow_mut().push(text);
                    })
                })
                .clone()
        }
    }

    impl<P: Protocol> WrapProtocol<P> for Observe {
        fn connection_made(&mut self, inner: &mut P, transport: &Transport) {
            let t = self.transport_for(transport);
            inner.connection_made(&t);
        }
        fn data_received(&mut self, inner: &mut P, transport: &Transport, data: &[u8]) {
            let t = self.transport_for(transport);
            inner.data_received(&t, data);
        }
        fn read_connection_lost(&mut self, inner: &mut P, transport: &Transport) {
            let t = self.transport_for(transport);
            inner.read_connection_lost(&t);
        }
        fn write_connection_lost(&mut self, inner: &mut P, transport: &Transport) {
            let t = self.transport_for(transport);
            inner.write_connection_lost(&t);
        }
    }

    /// A wrapper can hand the inner protocol a substituted transport: the
    /// inner protocol's writes go through the wrapper on their way to the
    /// connection, and the inner protocol sees one stable handle.
    #[test]
    fn a_substituted_transport_carries_the_inner_writes() {
        let events = Events::default();
        let writes = Rc::new(RefCell::new(Vec::new()));
        let mut wrapped = ProtocolWrapper::wrap(
            Recorder::new("a", &events),
            Observe {
                writes: writes.clone(),
                given: None,
            },
        );
        let st = StringTransport::new();
        drive(&mut wrapped, &st);
        let kept = wrapped.inner().transport.clone().expect("connected");
        kept.write_sequence(&[b"x", b"y"]);
        let seen = events.take();

        assert_eq!(seen, unwrapped_events());
        assert_eq!(*writes.borrow(), ["one", "two", "x+y"]);
        assert_eq!(st.value(), b"onetwoxy");
        assert!(!kept.same_as(&st.transport()));
    }

    /// Holds the inner protocol back until the first bytes arrive, which it
    /// swallows (the shape of a handshake), then lets everything through.
    struct Handshake {
        done: bool,
    }

    impl<P: Protocol> WrapProtocol<P> for Handshake {
        fn connection_made(&mut self, _inner: &mut P, _transport: &Transport) {}
        fn data_received(&mut self, inner: &mut P, transport: &Transport, data: &[u8]) {
            if self.done {
                inner.data_received(transport, data);
            } else {
                self.done = true;
                inner.connection_made(transport);
            }
        }
        fn connection_lost(&mut self, inner: &mut P, reason: Reason) {
            if self.done {
                inner.connection_lost(reason);
            }
        }
    }

    /// A wrapper can swallow callbacks and deliver one later: the inner
    /// `connection_made` runs at the first data, which the inner protocol
    /// never sees; a connection lost before that reaches it not at all.
    #[test]
    fn a_wrapper_can_delay_and_swallow_callbacks() {
        let events = Events::default();
        let st = StringTransport::new();
        let t = st.transport();
        let mut wrapped =
            ProtocolWrapper::wrap(Recorder::new("a", &events), Handshake { done: false });
        wrapped.connection_made(&t);
        let before = events.take();
        wrapped.data_received(&t, b"hello");
        wrapped.data_received(&t, b"data");
        wrapped.connection_lost(Reason::Done);
        let after = events.take();

        let mut early =
            ProtocolWrapper::wrap(Recorder::new("b", &events), Handshake { done: false });
        early.connection_made(&t);
        early.connection_lost(Reason::Done);
        let never = events.take();

        assert!(before.is_empty());
        assert_eq!(after, ["a made", "a data data same=true", "a lost Done"]);
        assert!(never.is_empty());
    }

    /// A connector that stays where it is put.
    struct Idle;
    impl ConnectorImpl for Idle {
        fn state(&self) -> ConnectorState {
            ConnectorState::Connecting
        }
        fn connect(&self, _: &Connector) -> Result<(), ConnectorError> {
            Err(ConnectorError::CannotConnect)
        }
        fn stop_connecting(&self, _: &Connector) -> Result<(), ConnectorError> {
            Err(ConnectorError::NotConnecting)
        }
        fn disconnect(&self, _: &Connector) {}
        fn destination(&self) -> Destination {
            Destination {
                host: "example.test".into(),
                port: 7,
            }
        }
    }

    /// A client factory that records every call it gets.
    struct Recorders {
        events: Events,
    }

    impl Factory for Recorders {
        type Protocol = Recorder;
        fn build_protocol(&self, addr: &Address) -> Option<Recorder> {
            self.events.push(format!("build {}", addr.socket_addr()));
            Some(Recorder::new("a", &self.events))
        }
        fn start_factory(&self) {
            self.events.push("start");
        }
        fn stop_factory(&self) {
            self.events.push("stop");
        }
        fn log_prefix(&self) -> Cow<'static, str> {
            "Recorders-prefix".into()
        }
        fn qualified_name(&self) -> Cow<'static, str> {
            "test::Recorders".into()
        }
    }

    impl ClientFactory for Recorders {
        fn started_connecting(&self, connector: &Connector) {
            self.events
                .push(format!("started {}", connector.destination().host));
        }
        fn client_connection_failed(&self, _: &Connector, reason: &ConnectError) {
            self.events.push(format!("failed {reason:?}"));
        }
        fn client_connection_lost(&self, _: &Connector, reason: &Reason) {
            self.events.push(format!("lost {reason:?}"));
        }
    }

    /// Wraps every protocol in `Transparent`; overrides nothing else.
    #[derive(Debug)]
    struct WrapAll;
    impl<F: Factory> WrapFactory<F> for WrapAll {
        type Protocol = ProtocolWrapper<F::Protocol, Transparent>;
        fn build_protocol(&self, wrapped: &Shared<F>, addr: &Address) -> Option<Self::Protocol> {
            Some(ProtocolWrapper::wrap(
                wrapped.build_protocol(addr)?,
                Transparent,
            ))
        }
    }

    fn addr() -> Address {
        Address::tcp("127.0.0.1:4000".parse().expect("address"))
    }

    /// The factory wrapper forwards build, start, stop, the log prefix,
    /// the qualified name and the three client callbacks to the wrapped
    /// factory, and is silent itself.
    #[test]
    fn the_factory_wrapper_forwards_every_method() {
        let events = Events::default();
        let factory = Shared::new(WrappingFactory::wrap(
            Recorders {
                events: events.clone(),
            },
            WrapAll,
        ));
        let connector = Connector::new(Rc::new(Idle));
        factory.do_start();
        factory.started_connecting(&connector);
        let mut protocol = factory.build_protocol(&addr()).expect("built");
        protocol.connection_made(&StringTransport::new().transport());
        factory.client_connection_failed(&connector, &ConnectError::Refused);
        factory.client_connection_lost(&connector, &Reason::Done);
        factory.do_stop();
        let seen = events.take();

        assert_eq!(
            seen,
            [
                "start",
                "started example.test",
                "build 127.0.0.1:4000",
                "a made",
                "failed Refused",
                "lost Done",
                "stop",
            ]
        );
        assert_eq!(factory.log_prefix(), "Recorders-prefix");
        assert_eq!(factory.qualified_name(), "test::Recorders");
        assert!(!Factory::noisy(&*factory));
        assert_eq!(protocol.log_prefix(), "Rec-a");
        assert_eq!(factory.wrapped().num_ports(), 0);
    }

    /// Through two wrappers and a direct user, the wrapped factory is
    /// started once, when the first user starts, and stopped once, when
    /// the last one stops (Twisted's numPorts rule).
    #[test]
    fn start_and_stop_are_counted_once_through_two_wrappers() {
        let events = Events::default();
        let base = Shared::new(Recorders {
            events: events.clone(),
        });
        let twice = Shared::new(WrappingFactory::wrap(
            WrappingFactory::wrap(base.clone(), WrapAll),
            WrapAll,
        ));
        let mut counts = Vec::new();
        twice.do_start();
        twice.do_start();
        base.do_start();
        counts.push(base.num_ports());
        twice.do_stop();
        twice.do_stop();
        counts.push(base.num_ports());
        let before_last = events.take();
        base.do_stop();
        let at_last = events.take();
        let prefix = twice.log_prefix();
        let name = twice.qualified_name();
        let quiet = !Factory::noisy(&*twice) && !Factory::noisy(&**twice.wrapped());

        assert_eq!(counts, [2, 1]);
        assert_eq!(before_last, ["start"]);
        assert_eq!(at_last, ["stop"]);
        assert_eq!(
            (prefix.as_ref(), name.as_ref()),
            ("Recorders-prefix", "test::Recorders")
        );
        assert!(quiet);
    }

    /// A wrapper whose `build_protocol` refuses (returns `None`) never
    /// calls the wrapped factory.
    #[test]
    fn a_refusing_wrapper_does_not_call_the_wrapped_factory() {
        struct Refuse;
        impl<F: Factory> WrapFactory<F> for Refuse {
            type Protocol = F::Protocol;
            fn build_protocol(&self, _: &Shared<F>, _: &Address) -> Option<F::Protocol> {
                None
            }
        }
        let events = Events::default();
        let factory = WrappingFactory::wrap(
            Recorders {
                events: events.clone(),
            },
            Refuse,
        );
        let built = factory.build_protocol(&addr());
        let seen = events.take();

        assert!(built.is_none());
        assert!(seen.is_empty());
    }

    /// A factory wrapper that overrides one client callback changes only
    /// that one; the others still reach the wrapped factory.
    #[test]
    fn overriding_one_client_callback_changes_only_that_one() {
        struct MuteFailures {
            muted: Cell<u32>,
        }
        impl<F: Factory> WrapFactory<F> for MuteFailures {
            type Protocol = F::Protocol;
            fn build_protocol(&self, wrapped: &Shared<F>, addr: &Address) -> Option<F::Protocol> {
                wrapped.build_protocol(addr)
            }
            fn client_connection_failed(&self, _: &Shared<F>, _: &Connector, _: &ConnectError)
            where
                F: ClientFactory,
            {
                self.muted.set(self.muted.get() + 1);
            }
        }
        let events = Events::default();
        let factory = WrappingFactory::wrap(
            Recorders {
                events: events.clone(),
            },
            MuteFailures {
                muted: Cell::new(0),
            },
        );
        let connector = Connector::new(Rc::new(Idle));
        factory.started_connecting(&connector);
        factory.client_connection_failed(&connector, &ConnectError::Refused);
        factory.client_connection_lost(&connector, &Reason::Done);
        let seen = events.take();

        assert_eq!(seen, ["started example.test", "lost Done"]);
        assert_eq!(factory.wrapper().muted.get(), 1);
    }

    /// `Rc<RefCell<P>>` is a protocol that forwards every callback to `P`,
    /// so a protocol can be shared with its connection and still be reached.
    #[test]
    fn a_shared_cell_is_a_forwarding_protocol() {
        let events = Events::default();
        let shared = Rc::new(RefCell::new(Recorder::new("a", &events)));
        let mut driven = shared.clone();
        drive(&mut driven, &StringTransport::new());
        let seen = events.take();
        let prefix = Protocol::log_prefix(&driven);
        let half = Protocol::half_closeable(&driven);

        assert_eq!(seen, unwrapped_events());
        assert_eq!((prefix.as_ref(), half), ("Rec-a", true));
        assert!(shared.borrow().transport.is_some());
    }

    /// The wrapper's debug form names the inner protocol and shows the wrapper.
    #[test]
    fn debug_names_both_parts() {
        let wrapped = ProtocolWrapper::wrap(Recorder::new("a", &Events::default()), Transparent);
        let factory = WrappingFactory::wrap(
            Recorders {
                events: Events::default(),
            },
            WrapAll,
        );
        let shown = (format!("{wrapped:?}"), format!("{factory:?}"));

        assert_eq!(
            shown.0,
            "ProtocolWrapper { inner: \"Recorder\", wrapper: Transparent }"
        );
        assert!(shown.1.starts_with("WrappingFactory { wrapped: Shared {"));
        assert!(shown.1.ends_with("wrapper: WrapAll }"));
    }
}
