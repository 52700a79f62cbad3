//! Policies that wrap any protocol or factory: idle timeouts and connection
//! limits (Twisted's `twisted.protocols.policies`).
//!
//! * [`IdleTimeout`] wraps one protocol and closes its connection once
//!   nothing was received or written for a while. [`TimeoutFactory`] wraps a
//!   factory so that every protocol it builds gets one.
//! * [`IdleTimer`] is the handle that changes, re-arms or disables a
//!   connection's timeout, from inside the wrapped protocol or anywhere else.
//! * [`LimitConnections`] wraps a server factory and refuses connections past
//!   a total limit, a per-peer-address limit, or both.
//!
//! All of them are built on [`ProtocolWrapper`] and [`WrappingFactory`]
//! (from [`crate::wrap`], re-exported here, where Twisted keeps them):
//! `IdleTimeout<P>` is `ProtocolWrapper<P, IdleWatch>`, `TimeoutFactory<F>`
//! is `WrappingFactory<F, IdleSettings>`, `LimitConnections<F>` is
//! `WrappingFactory<F, ConnectionLimits>` and builds `Limited<P>`, which is
//! `ProtocolWrapper<P, ConnectionSlot>`. Each wrapper value overrides only
//! what its policy changes; everything else is forwarded. A new policy is
//! written the same way: see [`crate::wrap`].
//!
//! An echo server that drops clients silent for five minutes and serves at
//! most 100 connections, 5 from any one address:
//!
//! ```no_run
//! use std::rc::Rc;
//! use std::time::Duration;
//! use gyre::protocols::policies::{LimitConnections, TimeoutFactory};
//! use gyre::{for_protocol, Protocol, Reactor, Transport};
//!
//! struct Echo;
//! impl Protocol for Echo {
//!     fn data_received(&mut self, transport: &Transport, data: &[u8]) {
//!         transport.write(data);
//!     }
//! }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let reactor = Reactor::new()?;
//!     let idle = Duration::from_secs(300);
//!     let timed = TimeoutFactory::new(for_protocol(|| Echo), Rc::new(reactor.clone()), idle);
//!     let limited = LimitConnections::new(timed)
//!         .with_max_total(Some(100))
//!         .with_max_per_peer(Some(5));
//!     reactor.listen_tcp(8000, limited)?;
//!     reactor.run()?;
//!     Ok(())
//! }
//! ```
//!
//! # Idle timeouts
//!
//! The timer starts when the connection is made, and every chunk received and
//! every `write`/`write_sequence` the wrapped protocol makes moves it back to
//! a full `timeout` from now. The wrapped protocol sees a [`Transport`] that
//! forwards to the real one and notes its writes; anything holding that handle
//! (another connection's protocol, a timer) resets the timer when it writes.
//! When the timer fires it logs `Timing out client: <peer address>` (info,
//! target `gyre::protocols`, in the connection's log system) and runs the
//! timeout hook: by default a close that flushes first and aborts after a
//! grace period ([`Transport::lose_connection_within`], 5 s by default,
//! [`IdleTimer::set_close_grace`], [`TimeoutFactory::with_close_grace`]),
//! so a peer that stopped reading is freed too; or the closure given to
//! [`IdleTimeout::with_on_timeout`]. The timer is cancelled when the
//! connection is lost; none is left on the clock.
//!
//! Where this differs from Twisted, on purpose:
//! * Twisted's `TimeoutProtocol` starts its timer when it is built, before
//!   the connection exists; here it starts at `connection_made`.
//! * After the timer fired and a hook kept the connection open, the next
//!   traffic (or [`IdleTimer::reset_timeout`]) arms it again; Twisted's
//!   `TimeoutMixin` stays disarmed until `setTimeout` is called.
//! * A panicking hook is logged as `Unhandled Error` and the connection is
//!   closed as the default hook would; nothing else is affected.
//! * The wrappers do not show in the logs: a wrapped connection's log prefix
//!   is the wrapped protocol's (`Echo,0,127.0.0.1`, where Twisted prints
//!   `Echo (TimeoutProtocol),0,127.0.0.1`), and `Starting factory` names the
//!   wrapped factory, once.
//!
//! # Connection limits
//!
//! [`LimitConnections`] is Twisted's `LimitTotalConnectionsFactory` and
//! `LimitConnectionsByPeer` in one wrapper. A connection that would exceed a
//! limit is refused (its `build_protocol` returns `None`, so the socket is
//! closed at once) and one line is logged at info level:
//! `Refusing connection from <peer>: <n> connections already open …`. The
//! counts are exact: a connection is counted from the moment its protocol is
//! built until its `connection_lost`, or until the protocol is dropped if the
//! connection never started. Unlike Twisted:
//! * no limit is set until you set one (Twisted's per-peer factory defaults
//!   to 5);
//! * peers are counted by IP address, with an IPv4-mapped IPv6 address
//!   (`::ffff:1.2.3.4`, seen on dual-stack ports) counted as the IPv4
//!   address;
//! * there is no overflow protocol; an over-limit connection is just closed.
//!
//! Tests: at the bottom of this file (virtual time, `StringTransport`), and
//! on real sockets in `tests/policies.rs`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::address::Address;
use crate::error::Reason;
use crate::factory::{Factory, Shared};
use crate::log::{guarded, log_panic, with_system};
use crate::protocol::Protocol;
use crate::time::{Clock, DelayedCall};
use crate::transport::Transport;

pub use crate::wrap::{ProtocolWrapper, WrapFactory, WrapProtocol, WrappingFactory};

/// The log target of the lines written here.
const TARGET: &str = "gyre::protocols";

// ---------------------------------------------------------------------------
// IdleTimer
// ---------------------------------------------------------------------------

/// Where a timed connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Built; `connection_made` has not run. Nothing is scheduled.
    Waiting,
    /// Connected: the timer runs while a timeout is set.
    Connected,
    /// `connection_lost` ran (or the wrapper was dropped): never armed again.
    Lost,
}

/// What runs when the timer fires.
type Hook = Box<dyn FnMut(&Transport)>;

/// How long the idle timeout's close may wait for the buffer to drain
/// before it aborts the connection (see [`IdleTimer::set_close_grace`]).
pub const DEFAULT_CLOSE_GRACE: Duration = Duration::from_secs(5);

/// The state behind an [`IdleTimer`] and its connection's wrapped transport.
struct TimerState {
    clock: Rc<dyn Clock>,
    timeout: Cell<Option<Duration>>,
    phase: Cell<Phase>,
    /// The pending timed call, if armed.
    call: RefCell<Option<DelayedCall>>,
    /// The transport handed to the wrapped protocol (and to the hook);
    /// `None` until connected and after the connection is lost.
    transport: RefCell<Option<Transport>>,
    /// The timeout hook; `None` while it runs, and after the connection is
    /// lost (it may hold a clone of this timer: dropping it breaks the cycle).
    hook: RefCell<Option<Hook>>,
    /// How long a close on expiry may wait for a flush before it aborts.
    grace: Rc<Cell<Duration>>,
}

impl TimerState {
    /// Schedules the timer a full timeout from now, or moves the pending
    /// call there. Does nothing unless connected with a timeout set.
    fn arm(self: &Rc<Self>) {
        if self.phase.get() != Phase::Connected {
            return;
        }
        let Some(timeout) = self.timeout.get() else {
            return;
        };
        if let Some(call) = self.call.borrow().as_ref()
            && call.reset(timeout).is_ok()
        {
            return;
        }
        let me = Rc::downgrade(self);
        let call = self.clock.call_later(timeout, move || {
            if let Some(state) = me.upgrade() {
                state.fire();
            }
        });
        let old = self.call.borrow_mut().replace(call);
        drop(old);
    }

    /// Unschedules the pending call, if any.
    fn cancel(&self) {
        let call = self.call.borrow_mut().take();
        if let Some(call) = call {
            let _ = call.cancel();
        }
    }

    /// The connection is gone: cancel, and drop what could hold a cycle.
    fn finish(&self) {
        self.phase.set(Phase::Lost);
        self.cancel();
        let transport = self.transport.borrow_mut().take();
        let hook = self.hook.borrow_mut().take();
        drop((transport, hook));
    }

    /// The timer expired: log, then run the hook (or close).
    fn fire(self: &Rc<Self>) {
        let fired = self.call.borrow_mut().take();
        drop(fired);
        if self.phase.get() != Phase::Connected {
            return;
        }
        let Some(transport) = self.transport.borrow().clone() else {
            return;
        };
        with_system(transport.log_prefix(), || {
            log::info!(target: TARGET, "Timing out client: {}", transport.peer());
            let hook = self.hook.borrow_mut().take();
            let Some(mut hook) = hook else {
                // Only while the hook itself runs (a nested expiry).
                transport.lose_connection_within(self.grace.get());
                return;
            };
            let outcome = guarded(|| hook(&transport));
            if self.phase.get() != Phase::Lost {
                let mut slot = self.hook.borrow_mut();
                if slot.is_none() {
                    *slot = Some(hook);
                }
            }
            if let Err(msg) = outcome {
                log_panic("timeout_connection", &msg);
                transport.lose_connection_within(self.grace.get());
            }
        });
    }
}

/// A handle to one connection's idle timer: change, re-arm or disable the
/// timeout (Twisted's `TimeoutMixin.setTimeout` / `resetTimeout`).
///
/// Clones are handles to the same timer. Get one from
/// [`IdleTimeout::timer`], or give the wrapped protocol its own when it is
/// built, with [`IdleTimeout::new_with`]:
///
/// ```
/// use std::rc::Rc;
/// use std::time::Duration;
/// use gyre::protocols::policies::{IdleTimeout, IdleTimer};
/// use gyre::testing::{Clock, StringTransport};
/// use gyre::{Protocol, Transport};
///
/// /// Waits up to 10 s for a greeting, then lets the client idle forever.
/// struct Greeted {
///     timer: IdleTimer,
/// }
///
/// impl Protocol for Greeted {
///     fn data_received(&mut self, _: &Transport, data: &[u8]) {
///         if data.starts_with(b"HELLO") {
///             self.timer.set_timeout(None);
///         }
///     }
/// }
///
/// let clock = Clock::new();
/// let mut protocol = IdleTimeout::new_with(
///     Rc::new(clock.clone()),
///     Duration::from_secs(10),
///     |timer| Greeted { timer },
/// );
/// let transport = StringTransport::new();
/// transport.make_connection(&mut protocol);
/// protocol.data_received(&transport.transport(), b"HELLO\r\n");
/// clock.advance(Duration::from_secs(3600));
/// assert!(!transport.is_disconnecting());
/// ```
///
/// Before the connection is made a handle only records the timeout; after
/// it is lost the handle does nothing (no timer is ever left on the clock).
#[derive(Clone)]
pub struct IdleTimer {
    state: Rc<TimerState>,
}

impl IdleTimer {
    fn new(clock: Rc<dyn Clock>, timeout: Option<Duration>) -> IdleTimer {
        let grace = Rc::new(Cell::new(DEFAULT_CLOSE_GRACE));
        let close_grace = grace.clone();
        let close: Hook =
            Box::new(move |t: &Transport| t.lose_connection_within(close_grace.get()));
        IdleTimer {
            state: Rc::new(TimerState {
                clock,
                timeout: Cell::new(timeout),
                phase: Cell::new(Phase::Waiting),
                call: RefCell::new(None),
                transport: RefCell::new(None),
                hook: RefCell::new(Some(close)),
                grace,
            }),
        }
    }

    /// How long the close on expiry may wait for what is buffered to be
    /// sent before the connection is aborted (default
    /// [`DEFAULT_CLOSE_GRACE`], 5 s). The close flushes first, as
    /// `lose_connection` does; a peer that stopped reading (a zero receive
    /// window) would hold it open for ever, so past the grace the
    /// connection is aborted and its buffer freed
    /// ([`Transport::lose_connection_within`]). Also used when a custom hook
    /// panics.
    pub fn set_close_grace(&self, grace: Duration) {
        self.state.grace.set(grace);
    }

    /// The close grace (see [`set_close_grace`](Self::set_close_grace)).
    pub fn close_grace(&self) -> Duration {
        self.state.grace.get()
    }

    /// Sets the timeout. `Some(d)`: the connection times out after `d` of
    /// silence, counted from now (re-arming a timer that fired or was
    /// disabled). `None`: disables the timer until a timeout is set again.
    pub fn set_timeout(&self, timeout: Option<Duration>) {
        self.state.timeout.set(timeout);
        match timeout {
            Some(_) => self.state.arm(),
            None => self.state.cancel(),
        }
    }

    /// Restarts the countdown from now, as traffic does. Does nothing when
    /// no timeout is set or the connection is not (or no longer) up.
    pub fn reset_timeout(&self) {
        self.state.arm();
    }

    /// The timeout currently set; `None` when disabled.
    pub fn timeout(&self) -> Option<Duration> {
        self.state.timeout.get()
    }

    /// True while the timer is scheduled to fire.
    pub fn is_armed(&self) -> bool {
        self.state
            .call
            .borrow()
            .as_ref()
            .is_some_and(DelayedCall::is_active)
    }

    /// When the timer will fire, if it is armed.
    pub fn deadline(&self) -> Option<Instant> {
        self.state
            .call
            .borrow()
            .as_ref()
            .filter(|call| call.is_active())
            .map(DelayedCall::time)
    }
}

impl fmt::Debug for IdleTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdleTimer")
            .field("timeout", &self.state.timeout.get())
            .field("phase", &self.state.phase.get())
            .field("armed", &self.is_armed())
            .finish()
    }
}

// ---------------------------------------------------------------------------
// IdleTimeout
// ---------------------------------------------------------------------------

/// Twisted's `policies.TimeoutProtocol` / `TimeoutMixin`: wraps a protocol
/// and closes its connection once it has been idle for `timeout`.
///
/// Idle means nothing received and nothing written by the wrapped protocol
/// (see the [module docs](self) for the details and the differences from
/// Twisted). The wrapped protocol receives a [`Transport`] of its own that
/// forwards to the connection's; keep and compare that one.
///
/// It is a [`ProtocolWrapper`] with an [`IdleWatch`] around the protocol:
/// the half-close events and the log prefix pass through untouched.
///
/// ```
/// use std::rc::Rc;
/// use std::time::Duration;
/// use gyre::protocols::policies::IdleTimeout;
/// use gyre::testing::{Clock, StringTransport};
/// use gyre::Protocol;
///
/// struct Quiet;
/// impl Protocol for Quiet {}
///
/// let clock = Clock::new();
/// let mut protocol = IdleTimeout::new(Quiet, Rc::new(clock.clone()), Duration::from_secs(30));
/// let transport = StringTransport::new();
/// transport.make_connection(&mut protocol);
/// clock.advance(Duration::from_secs(30));
/// assert!(transport.is_disconnecting());
/// ```
pub type IdleTimeout<P> = ProtocolWrapper<P, IdleWatch>;

/// The wrapper behind [`IdleTimeout`]: runs one connection's idle timer and
/// hands the wrapped protocol a transport that restarts it on every write.
///
/// Dropping it (with its [`IdleTimeout`]) without a `connection_lost`
/// cancels the timer too.
pub struct IdleWatch {
    timer: IdleTimer,
    /// The transport handed to the wrapped protocol, made once at
    /// `connection_made`.
    given: Option<Transport>,
}

impl IdleWatch {
    /// The transport for the wrapped protocol: the one made at
    /// `connection_made`, or a fresh wrapper around `outer` if that never ran.
    fn transport_for(&mut self, outer: &Transport) -> Transport {
        match &self.given {
            Some(t) => t.clone(),
            None => {
                // Every write the wrapped protocol makes restarts the timer.
                let timer = Rc::downgrade(&self.timer.state);
                let t = outer.observe(move |_| {
                    if let Some(state) = timer.upgrade() {
                        state.arm();
                    }
                });
                self.given = Some(t.clone());
                t
            }
        }
    }
}

impl<P: Protocol> WrapProtocol<P> for IdleWatch {
    fn connection_made(&mut self, inner: &mut P, transport: &Transport) {
        let given = self.transport_for(transport);
        let state = &self.timer.state;
        if state.phase.get() == Phase::Waiting {
            *state.transport.borrow_mut() = Some(given.clone());
            state.phase.set(Phase::Connected);
            state.arm();
        }
        inner.connection_made(&given);
    }

    fn data_received(&mut self, inner: &mut P, transport: &Transport, data: &[u8]) {
        self.timer.state.arm();
        let given = self.transport_for(transport);
        inner.data_received(&given, data);
    }

    fn connection_lost(&mut self, inner: &mut P, reason: Reason) {
        self.timer.state.finish();
        self.given = None;
        inner.connection_lost(reason);
    }

    fn read_connection_lost(&mut self, inner: &mut P, transport: &Transport) {
        let given = self.transport_for(transport);
        inner.read_connection_lost(&given);
    }

    fn write_connection_lost(&mut self, inner: &mut P, transport: &Transport) {
        let given = self.transport_for(transport);
        inner.write_connection_lost(&given);
    }
}

/// A wrapper dropped without `connection_lost` leaves no timer behind.
impl Drop for IdleWatch {
    fn drop(&mut self) {
        self.timer.state.finish();
    }
}

impl fmt::Debug for IdleWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdleWatch")
            .field("timer", &self.timer)
            .finish()
    }
}

impl<P: Protocol> ProtocolWrapper<P, IdleWatch> {
    /// Wraps `inner`; its connection times out after `timeout` of silence,
    /// timed on `clock` (the reactor: `Rc::new(reactor.clone())`; in tests,
    /// a [`testing::Clock`](crate::testing::Clock)).
    pub fn new(inner: P, clock: Rc<dyn Clock>, timeout: Duration) -> Self {
        let timer = IdleTimer::new(clock, Some(timeout));
        ProtocolWrapper::wrap(inner, IdleWatch { timer, given: None })
    }

    /// Like [`new`](Self::new), building the wrapped protocol with `make`,
    /// which receives the connection's [`IdleTimer`] to keep: the way for a
    /// protocol to change or disable its own timeout.
    pub fn new_with(
        clock: Rc<dyn Clock>,
        timeout: Duration,
        make: impl FnOnce(IdleTimer) -> P,
    ) -> Self {
        let timer = IdleTimer::new(clock, Some(timeout));
        let inner = make(timer.clone());
        ProtocolWrapper::wrap(inner, IdleWatch { timer, given: None })
    }

    /// Replaces what happens on expiry (Twisted's `timeoutConnection`); the
    /// default is `transport.lose_connection_within(grace)` (see
    /// [`IdleTimer::set_close_grace`]). `f` gets the transport the
    /// wrapped protocol sees, so a write from `f` restarts the timer; to
    /// keep the connection without writing, call
    /// [`IdleTimer::reset_timeout`] (from a clone of [`timer`](Self::timer)).
    /// A panic in `f` is logged and the connection is closed.
    pub fn with_on_timeout(self, f: impl FnMut(&Transport) + 'static) -> Self {
        let old = self
            .wrapper()
            .timer
            .state
            .hook
            .borrow_mut()
            .replace(Box::new(f));
        drop(old);
        self
    }

    /// A handle to this connection's idle timer.
    pub fn timer(&self) -> IdleTimer {
        self.wrapper().timer.clone()
    }
}

// ---------------------------------------------------------------------------
// TimeoutFactory
// ---------------------------------------------------------------------------

/// Twisted's `policies.TimeoutFactory`: wraps every protocol the wrapped
/// factory builds in an [`IdleTimeout`].
///
/// It is a [`WrappingFactory`] with [`IdleSettings`]: a
/// [`ClientFactory`](crate::ClientFactory)
/// when the wrapped factory is one, forwarding the connector callbacks.
/// Starting it starts the wrapped factory (which logs `Starting factory`);
/// the wrapper itself is silent. A protocol that needs its own
/// [`IdleTimer`] is built with [`IdleTimeout::new_with`] inside
/// [`for_protocol`](crate::for_protocol) instead.
pub type TimeoutFactory<F> = WrappingFactory<F, IdleSettings>;

/// The wrapper behind [`TimeoutFactory`]: the clock and the timeout every
/// connection's [`IdleTimeout`] gets.
pub struct IdleSettings {
    clock: Rc<dyn Clock>,
    timeout: Duration,
    grace: Duration,
}

impl<F: Factory> WrapFactory<F> for IdleSettings {
    type Protocol = IdleTimeout<F::Protocol>;

    fn build_protocol(&self, wrapped: &Shared<F>, addr: &Address) -> Option<Self::Protocol> {
        let inner = wrapped.build_protocol(addr)?;
        let protocol = IdleTimeout::new(inner, self.clock.clone(), self.timeout);
        protocol.timer().set_close_grace(self.grace);
        Some(protocol)
    }
}

impl fmt::Debug for IdleSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdleSettings")
            .field("timeout", &self.timeout)
            .field("grace", &self.grace)
            .finish()
    }
}

impl<F: Factory> WrappingFactory<F, IdleSettings> {
    /// Wraps `factory`: each connection times out after `timeout` of
    /// silence, timed on `clock`. Pass a [`Shared`] clone to share the
    /// wrapped factory with other ports.
    pub fn new(factory: impl Into<Shared<F>>, clock: Rc<dyn Clock>, timeout: Duration) -> Self {
        let grace = DEFAULT_CLOSE_GRACE;
        WrappingFactory::wrap(
            factory,
            IdleSettings {
                clock,
                timeout,
                grace,
            },
        )
    }

    /// Sets the close grace of every connection (see
    /// [`IdleTimer::set_close_grace`]; default [`DEFAULT_CLOSE_GRACE`]).
    pub fn with_close_grace(mut self, grace: Duration) -> Self {
        self.wrapper_mut().grace = grace;
        self
    }

    /// The idle timeout given to each connection.
    pub fn timeout(&self) -> Duration {
        self.wrapper().timeout
    }

    /// The close grace given to each connection.
    pub fn close_grace(&self) -> Duration {
        self.wrapper().grace
    }
}

// ---------------------------------------------------------------------------
// LimitConnections
// ---------------------------------------------------------------------------

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
/// connection never started). See the [module docs](self).
///
/// It is a [`WrappingFactory`] with [`ConnectionLimits`]; every protocol it
/// builds is a [`Limited`].
pub type LimitConnections<F> = WrappingFactory<F, ConnectionLimits>;

/// The wrapper behind [`LimitConnections`]: the limits, and the counts of
/// open connections they are checked against.
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
#[cfg(test)]
mod tests {
    use super::*;
    use crate::factory::for_protocol;
    use crate::testing::{Clock as VirtualClock, StringTransport};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// What the wrapped protocol saw, in order.
    #[derive(Clone, Default)]
    struct Events(Rc<RefCell<Vec<String>>>);

    impl Events {
        fn push(&self, e: impl Into<String>) {
            self.0.borrow_mut().push(e.into());
        }
        fn get(&self) -> Vec<String> {
            self.0.borrow().clone()
        }
    }

    /// Records its events and keeps the transport it was given.
    struct Recorder {
        events: Events,
        transport: Option<Transport>,
        timer: Option<IdleTimer>,
    }

    impl Recorder {
        fn new(events: &Events) -> Recorder {
            Recorder {
                events: events.clone(),
                transport: None,
                timer: None,
            }
        }
    }

    impl Protocol for Recorder {
        fn connection_made(&mut self, transport: &Transport) {
            self.events.push("made");
            self.transport = Some(transport.clone());
        }
        fn data_received(&mut self, transport: &Transport, data: &[u8]) {
            let same = self
                .transport
                .as_ref()
                .is_some_and(|t| t.same_as(transport));
            self.events.push(format!(
                "data {} same={same}",
                String::from_utf8_lossy(data)
            ));
            match (data, &self.timer) {
                (b"off", Some(timer)) => timer.set_timeout(None),
                (b"on", Some(timer)) => timer.set_timeout(Some(secs(5))),
                _ => {}
            }
        }
        fn connection_lost(&mut self, reason: Reason) {
            self.events.push(format!("lost {}", reason.is_clean()));
        }
        fn half_closeable(&self) -> bool {
            true
        }
        fn read_connection_lost(&mut self, transport: &Transport) {
            let same = self
                .transport
                .as_ref()
                .is_some_and(|t| t.same_as(transport));
            self.events.push(format!("read lost same={same}"));
        }
    }

    struct Setup {
        clock: VirtualClock,
        st: StringTransport,
        protocol: IdleTimeout<Recorder>,
        events: Events,
    }

    /// A connected `Recorder` under a 10 s idle timeout; its timer handle is
    /// given to it.
    fn connected() -> Setup {
        let clock = VirtualClock::new();
        let events = Events::default();
        let mut protocol = IdleTimeout::new_with(Rc::new(clock.clone()), secs(10), |timer| {
            let mut r = Recorder::new(&events);
            r.timer = Some(timer);
            r
        });
        let st = StringTransport::new();
        st.make_connection(&mut protocol);
        Setup {
            clock,
            st,
            protocol,
            events,
        }
    }

    /// With no traffic the connection is closed exactly `timeout` after it
    /// was made, and no call is left on the clock.
    #[test]
    fn fires_at_exactly_the_timeout() {
        let s = connected();
        let timer = s.protocol.timer();
        assert!(timer.is_armed());
        assert_eq!(timer.deadline(), Some(s.clock.now() + secs(10)));
        assert_eq!(s.clock.pending_calls().len(), 1);
        s.clock.advance(ms(9_999));
        assert!(!s.st.is_disconnecting());
        s.clock.advance(ms(1));
        assert!(s.st.is_disconnecting());
        assert!(!s.st.is_aborted());
        assert!(!timer.is_armed());
        assert!(s.clock.pending_calls().is_empty());
    }

    /// The timer does not run before `connection_made`; a timeout set
    /// before then is what the connection starts with.
    #[test]
    fn nothing_is_scheduled_before_connection_made() {
        let clock = VirtualClock::new();
        let mut protocol = IdleTimeout::new(
            Recorder::new(&Events::default()),
            Rc::new(clock.clone()),
            secs(10),
        );
        let timer = protocol.timer();
        timer.set_timeout(Some(secs(2)));
        timer.reset_timeout();
        assert!(clock.pending_calls().is_empty());
        assert!(!timer.is_armed());
        clock.advance(secs(60));
        let st = StringTransport::new();
        st.make_connection(&mut protocol);
        assert_eq!(timer.timeout(), Some(secs(2)));
        clock.advance(ms(1_999));
        assert!(!st.is_disconnecting());
        clock.advance(ms(1));
        assert!(st.is_disconnecting());
    }

    /// Each chunk received restarts the countdown from a full timeout; the
    /// wrapped protocol gets the same transport handle every time.
    #[test]
    fn received_data_pushes_the_timer_back() {
        let mut s = connected();
        s.clock.advance(secs(6));
        s.protocol.data_received(&s.st.transport(), b"a");
        s.clock.advance(secs(6));
        s.protocol.data_received(&s.st.transport(), b"b");
        s.clock.advance(ms(9_999));
        assert!(!s.st.is_disconnecting());
        s.clock.advance(ms(1));
        assert!(s.st.is_disconnecting());
        assert_eq!(
            s.events.get(),
            ["made", "data a same=true", "data b same=true"]
        );
    }

    /// Writes through the wrapped protocol's transport (kept and used
    /// later, as a timer or another connection would) restart the countdown
    /// and reach the real transport.
    #[test]
    fn writes_push_the_timer_back() {
        let s = connected();
        let kept = s.protocol.inner().transport.clone().expect("made");
        s.clock.advance(secs(6));
        kept.write(b"one ");
        s.clock.advance(secs(6));
        kept.write_sequence(&[b"two", b" three"]);
        assert_eq!(
            s.protocol.timer().deadline(),
            Some(s.clock.now() + secs(10))
        );
        s.clock.advance(ms(9_999));
        assert!(!s.st.is_disconnecting());
        s.clock.advance(ms(1));
        assert!(s.st.is_disconnecting());
        assert_eq!(s.st.value(), b"one two three");
        // The real transport's handle does not count: only the wrapped one does.
        assert!(!kept.same_as(&s.st.transport()));
    }

    /// `set_timeout(None)` from inside the protocol disables the timer:
    /// nothing pending, nothing fires, traffic does not re-arm it.
    #[test]
    fn set_timeout_none_disables() {
        let mut s = connected();
        s.clock.advance(secs(9));
        s.protocol.data_received(&s.st.transport(), b"off");
        assert!(s.clock.pending_calls().is_empty());
        s.protocol.data_received(&s.st.transport(), b"more");
        s.protocol.inner().transport.as_ref().unwrap().write(b"x");
        assert!(s.clock.pending_calls().is_empty());
        s.clock.advance(secs(3600));
        assert!(!s.st.is_disconnecting());
        assert_eq!(s.protocol.timer().timeout(), None);
    }

    /// A disabled timer is re-armed by `set_timeout(Some(..))`, counted from
    /// then; setting a shorter timeout while armed moves the expiry earlier.
    #[test]
    fn set_timeout_some_rearms() {
        let mut s = connected();
        s.protocol.data_received(&s.st.transport(), b"off");
        s.clock.advance(secs(100));
        s.protocol.data_received(&s.st.transport(), b"on"); // 5 s from now
        s.clock.advance(ms(4_999));
        assert!(!s.st.is_disconnecting());
        s.clock.advance(ms(1));
        assert!(s.st.is_disconnecting());

        let s = connected();
        let timer = s.protocol.timer();
        s.clock.advance(secs(2));
        timer.set_timeout(Some(secs(3)));
        assert_eq!(s.clock.pending_calls().len(), 1);
        s.clock.advance(ms(2_999));
        assert!(!s.st.is_disconnecting());
        s.clock.advance(ms(1));
        assert!(s.st.is_disconnecting());
    }

    /// A hook replaces the close. A hook that writes restarts the timer by
    /// that write; one that does not leaves it disarmed until traffic or
    /// `reset_timeout` arms it again.
    #[test]
    fn the_hook_runs_instead_of_closing() {
        let s = connected();
        let calls = Rc::new(Cell::new(0));
        let seen = calls.clone();
        let protocol = s.protocol.with_on_timeout(move |t| {
            seen.set(seen.get() + 1);
            t.write(b"are you there?\r\n");
        });
        s.clock.advance(secs(10));
        assert_eq!(calls.get(), 1);
        assert!(!s.st.is_disconnecting());
        assert_eq!(s.st.value(), b"are you there?\r\n");
        assert!(protocol.timer().is_armed());
        s.clock.advance(secs(10));
        assert_eq!(calls.get(), 2);

        let mut s = connected();
        let calls = Rc::new(Cell::new(0));
        let seen = calls.clone();
        s.protocol = s
            .protocol
            .with_on_timeout(move |_| seen.set(seen.get() + 1));
        s.clock.advance(secs(10));
        assert_eq!(calls.get(), 1);
        assert!(!s.st.is_disconnecting());
        assert!(s.clock.pending_calls().is_empty());
        s.protocol.data_received(&s.st.transport(), b"back");
        s.clock.advance(secs(10));
        assert_eq!(calls.get(), 2);
        s.protocol.timer().reset_timeout();
        s.clock.advance(secs(10));
        assert_eq!(calls.get(), 3);
        assert!(!s.st.is_disconnecting());
    }

    /// A panicking hook is contained: the advance returns, that connection
    /// is closed as by default, another connection's timer is untouched.
    #[test]
    fn a_panicking_hook_closes_only_its_connection() {
        let s = connected();
        let clock: Rc<dyn Clock> = Rc::new(s.clock.clone());
        let _protocol = s.protocol.with_on_timeout(|_| panic!("hook failed"));
        let mut other = IdleTimeout::new(Recorder::new(&Events::default()), clock, secs(20));
        let other_st = StringTransport::new();
        other_st.make_connection(&mut other);
        s.clock.advance(secs(10));
        assert!(s.st.is_disconnecting());
        assert!(!other_st.is_disconnecting());
        assert!(other.timer().is_armed());
        s.clock.advance(secs(10));
        assert!(other_st.is_disconnecting());
    }

    /// `connection_lost` cancels the timer and reaches the wrapped protocol;
    /// the handle can no longer arm anything.
    #[test]
    fn connection_lost_cancels_the_timer() {
        let mut s = connected();
        let timer = s.protocol.timer();
        s.clock.advance(secs(5));
        s.protocol.connection_lost(Reason::Done);
        assert!(s.clock.pending_calls().is_empty());
        timer.set_timeout(Some(secs(1)));
        timer.reset_timeout();
        assert!(s.clock.pending_calls().is_empty());
        s.clock.advance(secs(60));
        assert!(!s.st.is_disconnecting());
        assert_eq!(s.events.get(), ["made", "lost true"]);
    }

    /// A wrapper dropped without `connection_lost` leaves nothing pending.
    #[test]
    fn dropping_the_wrapper_cancels_the_timer() {
        let s = connected();
        let timer = s.protocol.timer();
        drop(s.protocol);
        assert!(s.clock.pending_calls().is_empty());
        timer.reset_timeout();
        assert!(s.clock.pending_calls().is_empty());
    }

    /// Half-close events and the log prefix pass through; the wrapped
    /// protocol gets its own transport handle there too.
    #[test]
    fn other_events_pass_through() {
        let mut s = connected();
        assert!(s.protocol.half_closeable());
        assert_eq!(s.protocol.log_prefix(), "Recorder");
        s.protocol.read_connection_lost(&s.st.transport());
        assert_eq!(s.events.get(), ["made", "read lost same=true"]);
        assert!(format!("{:?}", s.protocol).starts_with(
            "ProtocolWrapper { inner: \"Recorder\", wrapper: IdleWatch { timer: IdleTimer {"
        ));
    }

    /// A factory whose protocols are `Recorder`s; records start/stop and can refuse.
    struct Recorders {
        events: Events,
        refuse: bool,
    }

    impl Factory for Recorders {
        type Protocol = Recorder;
        fn build_protocol(&self, _: &Address) -> Option<Recorder> {
            (!self.refuse).then(|| Recorder::new(&self.events))
        }
        fn start_factory(&self) {
            self.events.push("start");
        }
        fn stop_factory(&self) {
            self.events.push("stop");
        }
    }

    fn addr(s: &str) -> Address {
        Address::tcp(s.parse().expect("socket address"))
    }

    /// Every protocol a `TimeoutFactory` builds times out on its own; the
    /// wrapped factory is started and stopped through it, and its refusal
    /// passes through.
    #[test]
    fn timeout_factory_wraps_every_protocol() {
        let clock = VirtualClock::new();
        let events = Events::default();
        let factory = Shared::new(TimeoutFactory::new(
            Recorders {
                events: events.clone(),
                refuse: false,
            },
            Rc::new(clock.clone()),
            secs(5),
        ));
        factory.do_start();
        assert_eq!(factory.timeout(), secs(5));
        let mut quiet = factory.build_protocol(&addr("1.2.3.4:5")).unwrap();
        let mut chatty = factory.build_protocol(&addr("1.2.3.4:6")).unwrap();
        let (q, c) = (StringTransport::new(), StringTransport::new());
        q.make_connection(&mut quiet);
        c.make_connection(&mut chatty);
        clock.advance(secs(3));
        chatty.data_received(&c.transport(), b"hi");
        clock.advance(secs(2));
        assert!(q.is_disconnecting());
        assert!(!c.is_disconnecting());
        clock.advance(secs(3));
        assert!(c.is_disconnecting());
        factory.do_stop();
        assert_eq!(
            events.get(),
            ["start", "made", "made", "data hi same=true", "stop"]
        );

        let refusing = TimeoutFactory::new(
            Recorders {
                events: Events::default(),
                refuse: true,
            },
            Rc::new(clock.clone()),
            secs(5),
        );
        assert!(refusing.build_protocol(&addr("1.2.3.4:5")).is_none());
        assert!(clock.pending_calls().is_empty());
    }

    fn limited(total: Option<usize>, per_peer: Option<usize>) -> LimitConnections<Recorders> {
        LimitConnections::new(Recorders {
            events: Events::default(),
            refuse: false,
        })
        .with_max_total(total)
        .with_max_per_peer(per_peer)
    }

    /// Connects a built protocol to a `StringTransport` whose peer is `peer`.
    fn connect(protocol: &mut impl Protocol, peer: &str) -> StringTransport {
        let st = StringTransport::with_addresses(addr("10.0.0.1:80"), addr(peer));
        st.make_connection(protocol);
        st
    }

    /// Past `max_total` open connections, new ones are refused, whatever
    /// their peer.
    #[test]
    fn total_limit_refuses_past_the_maximum() {
        let f = limited(Some(2), None);
        let mut a = f.build_protocol(&addr("1.2.3.4:5")).expect("first");
        let mut b = f.build_protocol(&addr("5.6.7.8:9")).expect("second");
        connect(&mut a, "1.2.3.4:5");
        connect(&mut b, "5.6.7.8:9");
        assert_eq!(f.open_connections(), 2);
        assert!(f.build_protocol(&addr("9.9.9.9:1")).is_none());
        assert!(f.build_protocol(&addr("1.2.3.4:6")).is_none());
        assert_eq!(f.open_connections(), 2);
    }

    /// Past `max_per_peer` connections from one IP, that IP is refused
    /// (any port); other peers are not.
    #[test]
    fn per_peer_limit_counts_by_ip() {
        let f = limited(None, Some(2));
        let ip: IpAddr = "1.2.3.4".parse().unwrap();
        let _a = f.build_protocol(&addr("1.2.3.4:5")).expect("first");
        let _b = f.build_protocol(&addr("1.2.3.4:6")).expect("second");
        assert_eq!(f.open_from(&ip), 2);
        assert!(f.build_protocol(&addr("1.2.3.4:7")).is_none());
        let _c = f.build_protocol(&addr("5.6.7.8:5")).expect("another peer");
        assert_eq!(f.open_from(&"5.6.7.8".parse().unwrap()), 1);
        assert_eq!(f.open_connections(), 3);
    }

    /// A connection stops counting at `connection_lost`, and its place can
    /// be taken by a new one.
    #[test]
    fn counts_are_released_on_connection_lost_and_reused() {
        let f = limited(Some(2), Some(1));
        let ip: IpAddr = "1.2.3.4".parse().unwrap();
        let mut a = f.build_protocol(&addr("1.2.3.4:5")).unwrap();
        let mut b = f.build_protocol(&addr("5.6.7.8:5")).unwrap();
        connect(&mut a, "1.2.3.4:5");
        connect(&mut b, "5.6.7.8:5");
        assert!(f.build_protocol(&addr("1.2.3.4:6")).is_none());
        a.connection_lost(Reason::Done);
        assert_eq!((f.open_connections(), f.open_from(&ip)), (1, 0));
        let mut again = f.build_protocol(&addr("1.2.3.4:6")).expect("reused");
        connect(&mut again, "1.2.3.4:6");
        assert_eq!((f.open_connections(), f.open_from(&ip)), (2, 1));
        // Dropping a protocol after its connection_lost does not uncount twice.
        drop(a);
        assert_eq!(f.open_connections(), 2);
        assert!(f.build_protocol(&addr("7.7.7.7:1")).is_none());
    }

    /// A protocol built but dropped without ever running (the connection
    /// failed to start) is uncounted too.
    #[test]
    fn a_protocol_dropped_unstarted_is_uncounted() {
        let f = limited(Some(1), None);
        let p = f.build_protocol(&addr("1.2.3.4:5")).unwrap();
        assert_eq!(f.open_connections(), 1);
        drop(p);
        assert_eq!(f.open_connections(), 0);
        assert_eq!(f.open_from(&"1.2.3.4".parse().unwrap()), 0);
        assert!(f.build_protocol(&addr("1.2.3.4:5")).is_some());
    }

    /// A panic in the wrapped `connection_lost` still releases the count.
    #[test]
    fn a_panicking_connection_lost_still_uncounts() {
        struct Bad;
        impl Protocol for Bad {
            fn connection_lost(&mut self, _: Reason) {
                panic!("lost");
            }
        }
        let f = LimitConnections::new(for_protocol(|| Bad)).with_max_total(Some(1));
        let mut p = f.build_protocol(&addr("1.2.3.4:5")).unwrap();
        assert!(guarded(|| p.connection_lost(Reason::Done)).is_err());
        assert_eq!(f.open_connections(), 0);
    }

    /// A connection the wrapped factory refuses is not counted.
    #[test]
    fn a_wrapped_refusal_is_not_counted() {
        let f = LimitConnections::new(Recorders {
            events: Events::default(),
            refuse: true,
        })
        .with_max_total(Some(1));
        assert!(f.build_protocol(&addr("1.2.3.4:5")).is_none());
        assert_eq!(f.open_connections(), 0);
    }

    /// An IPv4-mapped IPv6 peer counts as its IPv4 address.
    #[test]
    fn ipv4_mapped_peers_count_as_ipv4() {
        let f = limited(None, Some(1));
        let _a = f.build_protocol(&addr("1.2.3.4:5")).unwrap();
        assert!(f.build_protocol(&addr("[::ffff:1.2.3.4]:6")).is_none());
        assert_eq!(f.open_from(&"::ffff:1.2.3.4".parse().unwrap()), 1);
        assert!(f.build_protocol(&addr("[::1]:6")).is_some());
    }

    /// Events reach the wrapped protocol unchanged; start/stop reach the
    /// wrapped factory; the wrapper takes the wrapped names.
    #[test]
    fn limited_protocols_pass_events_through() {
        let events = Events::default();
        let f = Shared::new(LimitConnections::new(Recorders {
            events: events.clone(),
            refuse: false,
        }));
        f.do_start();
        let mut p = f.build_protocol(&addr("1.2.3.4:5")).unwrap();
        let st = connect(&mut p, "1.2.3.4:5");
        p.data_received(&st.transport(), b"x");
        p.read_connection_lost(&st.transport());
        p.connection_lost(Reason::Aborted);
        f.do_stop();
        assert_eq!(
            events.get(),
            [
                "start",
                "made",
                "data x same=true",
                "read lost same=true",
                "lost false",
                "stop"
            ]
        );
        assert!(p.half_closeable());
        assert_eq!(p.log_prefix(), "Recorder");
        assert_eq!(f.log_prefix(), "Recorders");
        assert!(p.inner().transport.is_some());
    }
}
