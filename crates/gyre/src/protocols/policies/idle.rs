//! The idle-timeout policy (Twisted's `TimeoutProtocol`, `TimeoutMixin` and
//! `TimeoutFactory`): [`IdleTimer`], the handle to one connection's timer;
//! [`IdleTimeout`], a [`ProtocolWrapper`] with an [`IdleWatch`] that runs the
//! timer and hands the wrapped protocol a transport that restarts it on
//! every write; [`TimeoutFactory`], a [`WrappingFactory`] with
//! [`IdleSettings`] that gives every protocol it builds an [`IdleTimeout`].
//!
//! What it owns: `TimerState`, shared by the [`IdleTimer`] handles and
//! (weakly) by the timed call and the observed transport: the clock, the
//! timeout, where the connection is in its life (`Phase`), the pending
//! call, the transport given to the wrapped protocol, the timeout hook and
//! the close grace. The behaviour and its differences from Twisted are in
//! the [module docs](super). Tests: `tests/idle.rs` beside this file.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::TARGET;
use crate::address::Address;
use crate::error::Reason;
use crate::factory::{Factory, Shared};
use crate::log::{guarded, log_panic, with_system};
use crate::protocol::Protocol;
use crate::time::{Clock, DelayedCall};
use crate::transport::Transport;
use crate::wrap::{ProtocolWrapper, WrapFactory, WrapProtocol, WrappingFactory};

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
/// use gyre::testing::{StringTransport, VirtualClock};
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
/// let clock = VirtualClock::new();
/// let mut protocol = IdleTimeout::new_with(&clock, Duration::from_secs(10), |timer| Greeted {
///     timer,
/// });
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
/// (see the [module docs](super) for the details and the differences from
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
/// use gyre::testing::{StringTransport, VirtualClock};
/// use gyre::Protocol;
///
/// struct Quiet;
/// impl Protocol for Quiet {}
///
/// let clock = VirtualClock::new();
/// let mut protocol = IdleTimeout::new(&clock, Quiet, Duration::from_secs(30));
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
    /// timed on `clock` (the reactor; in tests, a
    /// [`VirtualClock`](crate::testing::VirtualClock)).
    pub fn new(clock: &(impl Clock + Clone + 'static), inner: P, timeout: Duration) -> Self {
        IdleTimeout::with_timer(
            IdleTimer::new(crate::time::keep(clock), Some(timeout)),
            inner,
        )
    }

    /// Wraps `inner` with `timer`, a new connection's timer.
    fn with_timer(timer: IdleTimer, inner: P) -> Self {
        ProtocolWrapper::wrap(inner, IdleWatch { timer, given: None })
    }

    /// Like [`new`](Self::new), building the wrapped protocol with `make`,
    /// which receives the connection's [`IdleTimer`] to keep: the way for a
    /// protocol to change or disable its own timeout.
    pub fn new_with(
        clock: &(impl Clock + Clone + 'static),
        timeout: Duration,
        make: impl FnOnce(IdleTimer) -> P,
    ) -> Self {
        let timer = IdleTimer::new(crate::time::keep(clock), Some(timeout));
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
///
/// A server that hangs up on a client silent for 50 ms, on loopback (the
/// client sees the end of the stream):
///
/// ```
/// use std::cell::RefCell;
/// use std::io::{Read, Write};
/// use std::rc::Rc;
/// use std::time::Duration;
///
/// use gyre::protocols::policies::TimeoutFactory;
/// use gyre::{for_protocol, Protocol, Reactor, Reason, TcpListenOptions, Transport};
///
/// struct Echo {
///     lost: Rc<RefCell<Option<Reason>>>,
/// }
/// impl Protocol for Echo {
///     fn data_received(&mut self, t: &Transport, data: &[u8]) {
///         t.write(data);
///     }
///     fn connection_lost(&mut self, reason: Reason) {
///         *self.lost.borrow_mut() = Some(reason);
///     }
/// }
///
/// let reactor = Reactor::new()?;
/// # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
/// # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
/// let lost = Rc::new(RefCell::new(None));
/// let l = lost.clone();
/// let echo = for_protocol(move || Echo { lost: l.clone() });
/// let factory = TimeoutFactory::new(&reactor, echo, Duration::from_millis(50));
/// let loopback = TcpListenOptions::interface("127.0.0.1");
/// let address = reactor.listen_tcp_with(0, factory, loopback)?.address();
///
/// let handle = reactor.thread_handle();
/// let client = std::thread::spawn(move || {
///     let mut stream = std::net::TcpStream::connect(address).unwrap();
///     stream.write_all(b"ping").unwrap();
///     let mut rest = Vec::new();
///     let ended = stream.read_to_end(&mut rest).is_ok(); // until the server hangs up
///     handle.stop();
///     (ended, rest)
/// });
/// reactor.run()?;
/// assert_eq!(client.join().unwrap(), (true, b"ping".to_vec()));
/// // Closed by the timeout, cleanly, not by the reactor's shutdown:
/// assert!(lost.borrow().as_ref().is_some_and(Reason::is_clean), "{:?}", lost.borrow());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
        let timer = IdleTimer::new(self.clock.clone(), Some(self.timeout));
        let protocol = IdleTimeout::with_timer(timer, inner);
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
    /// silence, timed on `clock` (the reactor; in tests, a
    /// [`VirtualClock`](crate::testing::VirtualClock)). Pass a [`Shared`]
    /// clone to share the wrapped factory with other ports.
    pub fn new(
        clock: &(impl Clock + Clone + 'static),
        factory: impl Into<Shared<F>>,
        timeout: Duration,
    ) -> Self {
        let grace = DEFAULT_CLOSE_GRACE;
        WrappingFactory::wrap(
            factory,
            IdleSettings {
                clock: crate::time::keep(clock),
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
