//! [`ReconnectingClientFactory`]: reconnect after a failure or a loss, with
//! exponential back-off (Twisted's class of the same name).
//!
//! The policy is a value a client factory embeds (docs and example on the
//! type); [`Reconnecting`] wraps a factory with one. Tests at the bottom;
//! the ones on a real reactor are in `tests/reconnecting.rs`.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use super::backoff::{Backoff, to_duration};
use super::jitter::JitterRng;
use crate::address::Address;
use crate::connector::Connector;
use crate::error::{ConnectError, Reason};
use crate::factory::{ClientFactory, Factory, Shared};
use crate::time::{Clock, DelayedCall};
use crate::wrap::{WrapFactory, WrappingFactory};

/// `retry(None)` was called before any connector was seen
/// (Twisted's `ValueError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no connector to retry")]
pub struct NoConnectorError;

/// Twisted's reconnection policy: exponential back-off with jitter, an
/// optional retry limit, and an explicit stop.
///
/// The short way: write your factory as for any client, and wrap it in
/// [`Reconnecting`]. After each of your factory's failure and loss
/// callbacks the policy schedules the next attempt, and
/// [`with_reset_on_connect(true)`](Self::with_reset_on_connect) starts the
/// back-off over whenever a connection is made (what a Twisted subclass
/// does by calling `resetDelay()` from `buildProtocol`):
///
/// ```no_run
/// use gyre::{
///     Address, ClientFactory, ConnectError, Connector, Factory, Protocol, Reactor, Reason,
///     Reconnecting, Transport,
/// };
///
/// struct Echo;
/// impl Protocol for Echo {
///     fn data_received(&mut self, t: &Transport, data: &[u8]) { t.write(data) }
/// }
///
/// struct EchoClientFactory;
///
/// impl Factory for EchoClientFactory {
///     type Protocol = Echo;
///     fn build_protocol(&self, _: &Address) -> Option<Echo> {
///         println!("Connected.");
///         Some(Echo)
///     }
/// }
///
/// impl ClientFactory for EchoClientFactory {
///     fn client_connection_lost(&self, _: &Connector, reason: &Reason) {
///         println!("Lost connection. Reason: {reason}");
///     }
///     fn client_connection_failed(&self, _: &Connector, reason: &ConnectError) {
///         println!("Connection failed. Reason: {reason}");
///     }
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let reactor = Reactor::new()?;
///     let factory = Reconnecting::new(&reactor, EchoClientFactory).with_reset_on_connect(true);
///     reactor.connect_tcp("localhost", 8000, factory);
///     reactor.run()?;
///     Ok(())
/// }
/// ```
///
/// The long way, the shape of a Twisted subclass: the policy is a value
/// your factory owns; your factory forwards its two client callbacks to it
/// and calls [`reset_delay`](ReconnectingClientFactory::reset_delay) itself
/// once a connection has succeeded (nothing resets the back-off on its own
/// unless asked to):
///
/// ```no_run
/// use gyre::{
///     Address, ClientFactory, ConnectError, Connector, Factory, Protocol, Reactor, Reason,
///     ReconnectingClientFactory, Transport,
/// };
///
/// struct Echo;
/// impl Protocol for Echo {
///     fn data_received(&mut self, t: &Transport, data: &[u8]) { t.write(data) }
/// }
///
/// struct EchoClientFactory {
///     reconnect: ReconnectingClientFactory,
/// }
///
/// impl Factory for EchoClientFactory {
///     type Protocol = Echo;
///     fn build_protocol(&self, _: &Address) -> Option<Echo> {
///         println!("Connected.");
///         self.reconnect.reset_delay();
///         Some(Echo)
///     }
/// }
///
/// impl ClientFactory for EchoClientFactory {
///     fn client_connection_lost(&self, c: &Connector, reason: &Reason) {
///         println!("Lost connection. Reason: {reason}");
///         self.reconnect.client_connection_lost(c, reason);
///     }
///     fn client_connection_failed(&self, c: &Connector, reason: &ConnectError) {
///         println!("Connection failed. Reason: {reason}");
///         self.reconnect.client_connection_failed(c, reason);
///     }
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let reactor = Reactor::new()?;
///     let reconnect = ReconnectingClientFactory::new(&reactor);
///     reactor.connect_tcp("localhost", 8000, EchoClientFactory { reconnect });
///     reactor.run()?;
///     Ok(())
/// }
/// ```
///
/// # The back-off
///
/// Each retry waits the current delay and then grows it, as Twisted's
/// `retry` does (reference §4.1): unless `jitter` is zero, the delay is
/// first replaced by a draw from the normal distribution with mean `delay`
/// and standard deviation `delay * jitter`; `connector.connect()` is
/// scheduled that far ahead; then `delay = min(delay * factor, max_delay)`
/// for the next retry. The first reconnection therefore waits
/// `initial_delay` (1 s with the defaults), and without jitter the waits are
/// `initial_delay` times 1, e, e², … until they reach `max_delay` (an
/// hour). With jitter the grown value is the drawn one times `factor`, so
/// the sequence is a random walk around that curve, and since the cap
/// applies before the next draw a wait may exceed `max_delay` by a few
/// standard deviations. Delays are [`Duration`]s; the arithmetic is done in
/// `f64` seconds, as in Twisted, so the waits are Twisted's, and a negative
/// jittered draw is scheduled as zero. The curve is a [`Backoff`], the one
/// [`ClientService`](super::ClientService)'s policies follow too.
///
/// With `max_retries` set to `Some(n)`, `n` reconnections are made (`n + 1`
/// attempts in all); the failure after the last logs `Abandoning … after
/// n+1 retries.` and schedules nothing.
///
/// # Log lines
///
/// At `info` level, target `gyre::client`, unless the policy is built
/// [`with_noisy(false)`](ReconnectingClientFactory::with_noisy), and with
/// the connector printed as Twisted prints it
/// (`<gyre::Connector instance at 0x… disconnected IPv4Address(…)>`):
///
/// * `<connector> will retry in N seconds` (whole seconds, truncated: a
///   sub-second delay says 0);
/// * `Abandoning <connector> after N retries.`;
/// * `Abandoning <connector> on explicit request`, when
///   [`retry`](ReconnectingClientFactory::retry) is called after
///   [`stop_trying`](ReconnectingClientFactory::stop_trying) (`None` stands
///   for the connector when none was passed, as in Twisted). The failure and
///   loss callbacks do not retry after `stop_trying`, so they log nothing.
///
/// # Ownership
///
/// The policy remembers the last connector it saw, and that connector owns
/// the factory the policy lives in. They keep each other (and the clock the
/// policy holds) alive for the rest of the program, as a Twisted
/// reconnecting client lives as long as its process: create reconnecting
/// clients for the program's lifetime, not one per request.
///
/// # Configuration
///
/// With the `with_*` methods, when building it:
///
/// ```
/// use std::time::Duration;
/// use gyre::ReconnectingClientFactory;
/// use gyre::testing::VirtualClock;
///
/// let policy = ReconnectingClientFactory::new(&VirtualClock::new())
///     .with_initial_delay(Duration::from_millis(500))
///     .with_max_delay(Duration::from_secs(60))
///     .with_max_retries(Some(10));
/// assert_eq!(policy.delay(), Duration::from_millis(500));
/// assert_eq!(policy.factor(), std::f64::consts::E);
/// ```
///
/// All methods take `&self`; the state is kept in cells.
pub struct ReconnectingClientFactory {
    clock: Rc<dyn Clock>,
    backoff: Backoff,
    jitter: f64,
    max_retries: Option<u32>,
    noisy: bool,
    reset_on_connect: bool,
    delay: Cell<f64>,
    retries: Cell<u32>,
    continue_trying: Cell<bool>,
    pending: RefCell<Option<DelayedCall>>,
    connector: RefCell<Option<Connector>>,
    rng: RefCell<JitterRng>,
}

impl ReconnectingClientFactory {
    /// The default initial delay: 1 second.
    pub const DEFAULT_INITIAL_DELAY: Duration = Duration::from_secs(1);
    /// The default ceiling on the delay: 3600 seconds.
    pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(3600);
    /// The default growth factor: e.
    pub const DEFAULT_FACTOR: f64 = std::f64::consts::E;
    /// The default jitter, as a fraction of the delay (Twisted's value).
    pub const DEFAULT_JITTER: f64 = 0.119626565582;

    /// A policy with Twisted's defaults that schedules its reconnections on
    /// `clock` (the reactor; in tests, a
    /// [`VirtualClock`](crate::testing::VirtualClock)), keeping a clone of
    /// the clock handle. Its jitter is seeded from the system time.
    pub fn new(clock: &(impl Clock + Clone + 'static)) -> ReconnectingClientFactory {
        ReconnectingClientFactory {
            clock: crate::time::keep(clock),
            backoff: Backoff::new(
                Self::DEFAULT_INITIAL_DELAY,
                Self::DEFAULT_MAX_DELAY,
                Self::DEFAULT_FACTOR,
            ),
            jitter: Self::DEFAULT_JITTER,
            max_retries: None,
            noisy: true,
            reset_on_connect: false,
            delay: Cell::new(Self::DEFAULT_INITIAL_DELAY.as_secs_f64()),
            retries: Cell::new(0),
            continue_trying: Cell::new(true),
            pending: RefCell::new(None),
            connector: RefCell::new(None),
            rng: RefCell::new(JitterRng::from_entropy()),
        }
    }

    /// Sets the delay the back-off starts from (and returns to on
    /// [`reset_delay`](Self::reset_delay)); also makes it the current
    /// delay.
    pub fn with_initial_delay(mut self, delay: Duration) -> Self {
        self.backoff = self.backoff.with_initial_delay(delay);
        self.delay.set(self.backoff.initial_secs());
        self
    }

    /// Sets the ceiling the delay is capped at before jitter.
    pub fn with_max_delay(mut self, delay: Duration) -> Self {
        self.backoff = self.backoff.with_max_delay(delay);
        self
    }

    /// Sets the factor the delay is multiplied by at each retry.
    pub fn with_factor(mut self, factor: f64) -> Self {
        self.backoff = self.backoff.with_factor(factor);
        self
    }

    /// Sets initial delay, ceiling and factor at once (the jitter stays).
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self.delay.set(backoff.initial_secs());
        self
    }

    /// Sets the jitter: the standard deviation of each delay as a fraction
    /// of it. Zero turns jitter off.
    pub fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets how many reconnections are made before giving up
    /// (`None`: no limit).
    pub fn with_max_retries(mut self, max_retries: Option<u32>) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// Sets whether the policy logs its decisions (default: yes). This is
    /// separate from the factory's own [`Factory::noisy`].
    pub fn with_noisy(mut self, noisy: bool) -> Self {
        self.noisy = noisy;
        self
    }

    /// Sets whether a [`Reconnecting`] factory resets the back-off
    /// ([`reset_delay`](Self::reset_delay)) each time its wrapped factory
    /// builds a protocol, that is, each time a connection is made (default:
    /// no, as Twisted's class never resets by itself). A policy your own
    /// factory embeds ignores this: call `reset_delay` from your
    /// `build_protocol`.
    pub fn with_reset_on_connect(mut self, reset: bool) -> Self {
        self.reset_on_connect = reset;
        self
    }

    /// Seeds the jitter, so that the same seed gives the same delays.
    pub fn with_seed(self, seed: u64) -> Self {
        *self.rng.borrow_mut() = JitterRng::with_seed(seed);
        self
    }

    /// The current delay (Twisted's `delay`): what the next reconnection
    /// will wait, before jitter. It is the initial delay until a
    /// reconnection is scheduled; each one then grows it by `factor`, up to
    /// `max_delay`.
    pub fn delay(&self) -> Duration {
        to_duration(self.delay.get())
    }

    /// How many retries were asked for since the policy was made or reset
    /// (including the one that was refused by `max_retries`).
    pub fn retries(&self) -> u32 {
        self.retries.get()
    }

    /// False after [`stop_trying`](Self::stop_trying), until
    /// [`reset_delay`](Self::reset_delay).
    pub fn continue_trying(&self) -> bool {
        self.continue_trying.get()
    }

    /// The delay the back-off starts from.
    pub fn initial_delay(&self) -> Duration {
        self.backoff.initial_delay()
    }

    /// The ceiling on the delay before jitter.
    pub fn max_delay(&self) -> Duration {
        self.backoff.max_delay()
    }

    /// The factor the delay grows by at each retry.
    pub fn factor(&self) -> f64 {
        self.backoff.factor()
    }

    /// The back-off curve: initial delay, ceiling and factor.
    pub fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// The jitter, as a fraction of the delay.
    pub fn jitter(&self) -> f64 {
        self.jitter
    }

    /// The retry limit, if any.
    pub fn max_retries(&self) -> Option<u32> {
        self.max_retries
    }

    /// Whether the policy logs its decisions.
    pub fn noisy(&self) -> bool {
        self.noisy
    }

    /// The scheduled reconnection, while it has not run or been cancelled.
    ///
    /// [`reset_delay`](Self::reset_delay) forgets the call without
    /// cancelling it (as Twisted does), so it is not reported after a reset.
    pub fn pending_retry(&self) -> Option<DelayedCall> {
        self.pending
            .borrow()
            .as_ref()
            .filter(|call| call.is_active())
            .cloned()
    }

    /// The connector last passed to a failure or loss callback.
    pub fn connector(&self) -> Option<Connector> {
        self.connector.borrow().clone()
    }

    /// Call from your [`ClientFactory::client_connection_failed`]: unless
    /// [`stop_trying`](Self::stop_trying) was called, remembers `connector`
    /// and [`retry`](Self::retry)s.
    pub fn client_connection_failed(&self, connector: &Connector, reason: &ConnectError) {
        let _ = reason;
        self.connection_ended(connector);
    }

    /// Call from your [`ClientFactory::client_connection_lost`]: unless
    /// [`stop_trying`](Self::stop_trying) was called, remembers `connector`
    /// and [`retry`](Self::retry)s.
    pub fn client_connection_lost(&self, connector: &Connector, reason: &Reason) {
        let _ = reason;
        self.connection_ended(connector);
    }

    fn connection_ended(&self, connector: &Connector) {
        if !self.continue_trying.get() {
            return;
        }
        let previous = self.connector.replace(Some(connector.clone()));
        drop(previous);
        // A connector is known now, so this cannot fail.
        let _ = self.retry(None);
    }

    /// Schedules `connector.connect()` after the current
    /// [`delay`](Self::delay) (jittered), on `connector` or, with `None`, on
    /// the remembered one, then grows the delay for the next retry.
    ///
    /// Does nothing (but log) after [`stop_trying`](Self::stop_trying) or
    /// once `max_retries` is used up. An explicit `connector` is used for
    /// this retry only, not remembered. A connect that finds the connector
    /// busy when its time comes is logged at `warn` level and dropped.
    ///
    /// Errors with [`NoConnectorError`] if `connector` is `None` and no
    /// connector was seen yet.
    pub fn retry(&self, connector: Option<&Connector>) -> Result<(), NoConnectorError> {
        if !self.continue_trying.get() {
            if self.noisy {
                match connector {
                    Some(c) => {
                        log::info!(target: "gyre::client", "Abandoning {c} on explicit request")
                    }
                    None => {
                        log::info!(target: "gyre::client", "Abandoning None on explicit request")
                    }
                }
            }
            return Ok(());
        }
        let connector = match connector {
            Some(c) => c.clone(),
            None => self.connector().ok_or(NoConnectorError)?,
        };
        let retries = self.retries.get().saturating_add(1);
        self.retries.set(retries);
        if self.max_retries.is_some_and(|max| retries > max) {
            if self.noisy {
                log::info!(target: "gyre::client", "Abandoning {connector} after {retries} retries.");
            }
            return Ok(());
        }
        // Twisted's order: jitter the current delay, schedule it, then grow it.
        let mut delay = self.delay.get();
        if self.jitter != 0.0 {
            delay = self.rng.borrow_mut().normal(delay, delay * self.jitter);
        }
        if self.noisy {
            // Whole seconds, truncated toward zero (Python's `%d`).
            let whole = delay as i64;
            log::info!(target: "gyre::client", "{connector} will retry in {whole} seconds");
        }
        let target = connector.clone();
        let call = self.clock.call_later(to_duration(delay), move || {
            if let Err(err) = target.connect() {
                log::warn!(target: "gyre::client", "{target} could not reconnect: {err}");
            }
        });
        let previous = self.pending.replace(Some(call));
        drop(previous);
        self.delay.set(self.backoff.grow_secs(delay));
        Ok(())
    }

    /// Stops reconnecting: cancels the scheduled reconnection, turns
    /// [`continue_trying`](Self::continue_trying) off, and stops the
    /// remembered connector if it is connecting (its factory then gets
    /// `client_connection_failed` with `UserAborted`, which no longer
    /// retries). An established connection is left open; close it through
    /// its transport or [`Connector::disconnect`].
    pub fn stop_trying(&self) {
        let pending = self.pending.take();
        if let Some(call) = pending {
            // Already run (or cancelled): nothing to undo.
            let _ = call.cancel();
        }
        self.continue_trying.set(false);
        if let Some(connector) = self.connector() {
            // `NotConnecting` (connected, or idle) is expected and ignored.
            let _ = connector.stop_connecting();
        }
    }

    /// Call once a connection succeeded: the delay returns to the initial
    /// delay, the retry count to zero, and
    /// [`continue_trying`](Self::continue_trying) to true. A reconnection
    /// still scheduled is forgotten, not cancelled.
    pub fn reset_delay(&self) {
        self.delay.set(self.backoff.initial_secs());
        self.retries.set(0);
        let forgotten = self.pending.take();
        drop(forgotten);
        self.continue_trying.set(true);
    }
}

impl fmt::Debug for ReconnectingClientFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReconnectingClientFactory")
            .field("delay", &self.delay())
            .field("retries", &self.retries.get())
            .field("continue_trying", &self.continue_trying.get())
            .field("pending_retry", &self.pending_retry().is_some())
            .field("backoff", &self.backoff)
            .field("jitter", &self.jitter)
            .field("max_retries", &self.max_retries)
            .field("noisy", &self.noisy)
            .field("reset_on_connect", &self.reset_on_connect)
            .field("connector", &self.connector.borrow())
            .finish_non_exhaustive()
    }
}

/// A client factory that wraps `F` and reconnects with a
/// [`ReconnectingClientFactory`] policy: the short way to a reconnecting
/// client (example on [`ReconnectingClientFactory`]).
///
/// It is a [`WrappingFactory`] whose wrapper is the policy itself: it
/// builds `F`'s protocols and forwards every factory call to `F` (which
/// logs `Starting factory`; the wrapper is silent); its
/// `client_connection_failed` and `client_connection_lost` call `F`'s first,
/// then the policy's. Built
/// [`with_reset_on_connect(true)`](Self::with_reset_on_connect), it resets
/// the back-off each time `F` builds a protocol (a connection was made);
/// otherwise, like Twisted's class, it never resets it by itself, and the
/// delays keep growing across connections unless you call
/// `policy().reset_delay()`.
///
/// ```
/// use std::time::Duration;
/// use gyre::testing::MemoryReactor;
/// use gyre::{for_protocol, ConnectError, Protocol, Reconnecting, ReconnectingClientFactory, Shared};
///
/// struct Quiet;
/// impl Protocol for Quiet {}
///
/// let reactor = MemoryReactor::new();
/// let policy = ReconnectingClientFactory::new(&reactor).with_jitter(0.0);
/// let factory = Shared::new(Reconnecting::with_policy(for_protocol(|| Quiet), policy));
/// let connector = reactor.connect_tcp("example.org", 7, factory.clone());
///
/// // Play the network's part: the attempt fails.
/// connector.disconnect();
/// let client = &reactor.tcp_clients()[0];
/// client.factory.client_connection_failed(&connector, &ConnectError::Refused);
/// assert_eq!(factory.policy().retries(), 1);
/// assert!(factory.policy().pending_retry().is_some());
/// assert_eq!(factory.policy().delay(), Duration::from_secs_f64(std::f64::consts::E));
/// ```
pub type Reconnecting<F> = WrappingFactory<F, ReconnectingClientFactory>;

impl<F: Factory> WrappingFactory<F, ReconnectingClientFactory> {
    /// Wraps `factory` with a policy with Twisted's defaults scheduling on
    /// `clock` (the reactor; in tests, a
    /// [`VirtualClock`](crate::testing::VirtualClock)).
    pub fn new(clock: &(impl Clock + Clone + 'static), factory: impl Into<Shared<F>>) -> Self {
        Reconnecting::with_policy(factory, ReconnectingClientFactory::new(clock))
    }

    /// Sets the policy's
    /// [`with_reset_on_connect`](ReconnectingClientFactory::with_reset_on_connect):
    /// whether each connection made resets the back-off.
    pub fn with_reset_on_connect(mut self, reset: bool) -> Self {
        self.wrapper_mut().reset_on_connect = reset;
        self
    }

    /// Wraps `factory` with a policy configured by the caller.
    pub fn with_policy(factory: impl Into<Shared<F>>, policy: ReconnectingClientFactory) -> Self {
        WrappingFactory::wrap(factory, policy)
    }

    /// The reconnection policy (to reset it, stop it, or read its state).
    pub fn policy(&self) -> &ReconnectingClientFactory {
        self.wrapper()
    }

    /// The wrapped factory.
    pub fn inner(&self) -> &F {
        self.wrapped()
    }
}

/// The policy as the wrapper of a [`Reconnecting`] factory: protocols are
/// the wrapped factory's, and after the wrapped factory's own failure and
/// loss callbacks the policy schedules the reconnection.
impl<F: Factory> WrapFactory<F> for ReconnectingClientFactory {
    type Protocol = F::Protocol;

    fn build_protocol(&self, wrapped: &Shared<F>, addr: &Address) -> Option<F::Protocol> {
        let built = wrapped.build_protocol(addr);
        if built.is_some() && self.reset_on_connect {
            self.reset_delay();
        }
        built
    }

    fn client_connection_failed(
        &self,
        wrapped: &Shared<F>,
        connector: &Connector,
        reason: &ConnectError,
    ) where
        F: ClientFactory,
    {
        wrapped.client_connection_failed(connector, reason);
        // The policy's own (inherent) callback, not this trait method.
        ReconnectingClientFactory::client_connection_failed(self, connector, reason);
    }

    fn client_connection_lost(&self, wrapped: &Shared<F>, connector: &Connector, reason: &Reason)
    where
        F: ClientFactory,
    {
        wrapped.client_connection_lost(connector, reason);
        ReconnectingClientFactory::client_connection_lost(self, connector, reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::{ConnectorImpl, ConnectorState, Destination};
    use crate::error::ConnectorError;
    use crate::factory::{Shared, for_protocol};
    use crate::protocol::Protocol;
    use crate::testing::{self, MemoryReactor};

    const E: f64 = std::f64::consts::E;

    /// A connector whose state the test sets, counting the calls it gets.
    #[derive(Default)]
    struct Scripted {
        state: Cell<Option<ConnectorState>>,
        connects: Cell<u32>,
        refused_connects: Cell<u32>,
        stops: Cell<u32>,
    }

    impl Scripted {
        fn state(&self) -> ConnectorState {
            self.state.get().unwrap_or(ConnectorState::Disconnected)
        }
        fn set(&self, state: ConnectorState) {
            self.state.set(Some(state));
        }
    }

    impl ConnectorImpl for Scripted {
        fn state(&self) -> ConnectorState {
            Scripted::state(self)
        }
        fn connect(&self, _: &Connector) -> Result<(), ConnectorError> {
            if self.state() != ConnectorState::Disconnected {
                self.refused_connects.set(self.refused_connects.get() + 1);
                return Err(ConnectorError::CannotConnect);
            }
            self.connects.set(self.connects.get() + 1);
            self.set(ConnectorState::Connecting);
            Ok(())
        }
        fn stop_connecting(&self, _: &Connector) -> Result<(), ConnectorError> {
            if self.state() != ConnectorState::Connecting {
                return Err(ConnectorError::NotConnecting);
            }
            self.stops.set(self.stops.get() + 1);
            self.set(ConnectorState::Disconnected);
            Ok(())
        }
        fn disconnect(&self, _: &Connector) {
            self.set(ConnectorState::Disconnected);
        }
        fn destination(&self) -> Destination {
            Destination {
                host: "127.0.0.1".into(),
                port: 1,
            }
        }
    }

    /// A virtual clock, a quiet jitter-free policy on it, and a scripted
    /// connector (disconnected, as after a failure).
    fn setup() -> (
        testing::VirtualClock,
        ReconnectingClientFactory,
        Rc<Scripted>,
        Connector,
    ) {
        let clock = testing::VirtualClock::new();
        let policy = ReconnectingClientFactory::new(&clock)
            .with_jitter(0.0)
            .with_noisy(false);
        let script = Rc::new(Scripted::default());
        let connector = Connector::new(script.clone());
        (clock, policy, script, connector)
    }

    /// Seconds from now until the only pending call on `clock`.
    fn wait(clock: &testing::VirtualClock) -> f64 {
        let calls = clock.pending_calls();
        assert_eq!(calls.len(), 1, "{calls:?}");
        calls[0].time().duration_since(clock.now()).as_secs_f64()
    }

    #[track_caller]
    fn assert_close(got: f64, want: f64) {
        assert!(
            (got - want).abs() <= 1e-6 * want.abs().max(1.0),
            "got {got}, want {want}"
        );
    }

    /// The defaults are Twisted's.
    #[test]
    fn defaults_are_twisteds() {
        let policy = ReconnectingClientFactory::new(&testing::VirtualClock::new());
        assert_eq!(policy.initial_delay(), Duration::from_secs(1));
        assert_eq!(policy.delay(), Duration::from_secs(1));
        assert_eq!(policy.max_delay(), Duration::from_secs(3600));
        // Twisted's literal for e is the same double as `consts::E`.
        assert_eq!(
            policy.factor(),
            "2.7182818284590451".parse::<f64>().unwrap()
        );
        assert_eq!(policy.jitter(), 0.119626565582);
        assert_eq!(policy.max_retries(), None);
        assert_eq!(policy.retries(), 0);
        assert!(policy.continue_trying());
        assert!(policy.noisy());
        assert!(policy.pending_retry().is_none());
        assert!(policy.connector().is_none());
        let debug = format!("{policy:?}");
        assert!(debug.starts_with("ReconnectingClientFactory { delay: 1s, retries: 0"));
    }

    /// Without jitter the waits are 1, e, e², … seconds (the current delay
    /// is used, then grown), capped at 3600 from the tenth retry on, and
    /// `delay()` is the next wait: Twisted's sequence, as
    /// `ReconnectingClientFactory` on a `task.Clock` prints it (reference
    /// §4.1). Each scheduled call reconnects the connector a MemoryReactor
    /// handed out.
    #[test]
    // The waits are Twisted's output as printed, e included.
    #[allow(clippy::approx_constant)]
    fn nominal_delays_grow_by_e_up_to_the_cap() {
        let reactor = MemoryReactor::new();
        let clock = reactor.clock().clone();
        let policy = ReconnectingClientFactory::new(&clock).with_jitter(0.0);
        struct Nothing;
        impl Protocol for Nothing {}
        let connector = reactor.connect_tcp("127.0.0.1", 1, for_protocol(|| Nothing));
        let mut waits = Vec::new();
        let mut delays = Vec::new();
        for _ in 0..12 {
            // The attempt in progress fails.
            connector.disconnect();
            policy.client_connection_failed(&connector, &ConnectError::Refused);
            let w = wait(&clock);
            waits.push(w);
            delays.push(policy.delay().as_secs_f64());
            clock.advance(to_duration(w));
            assert_eq!(connector.state(), ConnectorState::Connecting);
            assert!(policy.pending_retry().is_none());
        }
        // Twisted 26.10: `wait` and `delay` after each of 12 failures.
        let twisted_waits = [
            1.0,
            2.718281828459045,
            7.38905609893065,
            20.085536923187668,
            54.59815003314423,
            148.41315910257657,
            403.42879349273494,
            1096.6331584284583,
            2980.957987041728,
            3600.0,
            3600.0,
            3600.0,
        ];
        for (got, want) in waits.iter().zip(twisted_waits) {
            assert_close(*got, want);
        }
        for (got, want) in delays.iter().zip(&twisted_waits[1..]) {
            assert_close(*got, *want);
        }
        assert_close(delays[11], 3600.0);
        assert_eq!(policy.retries(), 12);
        assert!(policy.connector().unwrap().same_as(&connector));
    }

    /// `max_retries: Some(3)` makes three reconnections, after 0.05,
    /// 0.05·e and 0.05·e² seconds (Twisted's waits from `initialDelay`
    /// 0.05); the fourth failure counts a fourth retry and schedules nothing.
    #[test]
    fn max_retries_allows_that_many_retries() {
        let (clock, policy, script, connector) = setup();
        let policy = policy
            .with_max_retries(Some(3))
            .with_initial_delay(Duration::from_millis(50));
        let twisted_waits = [0.05, 0.1359140914229523, 0.3694528049465326];
        for (n, want) in (1..=3).zip(twisted_waits) {
            policy.client_connection_failed(&connector, &ConnectError::Refused);
            assert_eq!(policy.retries(), n);
            assert!(policy.pending_retry().is_some());
            let w = wait(&clock);
            assert_close(w, want);
            clock.advance(to_duration(w));
            assert_eq!(script.connects.get(), n);
            script.set(ConnectorState::Disconnected);
        }
        policy.client_connection_failed(&connector, &ConnectError::Refused);
        assert_eq!(policy.retries(), 4);
        assert!(policy.pending_retry().is_none());
        assert!(clock.pending_calls().is_empty());
        // The delay stays where the last retry left it (Twisted: 1.0042768461593834).
        assert_close(policy.delay().as_secs_f64(), 1.0042768461593834);
    }

    /// `max_retries: Some(0)` never reconnects.
    #[test]
    fn max_retries_zero_never_retries() {
        let (clock, policy, _, connector) = setup();
        let policy = policy.with_max_retries(Some(0));
        policy.client_connection_lost(&connector, &Reason::Done);
        assert_eq!(policy.retries(), 1);
        assert!(clock.pending_calls().is_empty());
        assert_eq!(policy.delay(), Duration::from_secs(1));
    }

    /// A lost connection is retried like a failed attempt.
    #[test]
    fn connection_lost_retries_too() {
        let (clock, policy, script, connector) = setup();
        policy.client_connection_lost(&connector, &Reason::Done);
        assert_close(wait(&clock), 1.0);
        clock.advance(Duration::from_secs(1));
        assert_eq!(script.connects.get(), 1);
        assert!(policy.connector().unwrap().same_as(&connector));
    }

    /// `stop_trying` cancels the scheduled reconnection and turns trying off;
    /// later failures schedule nothing; the connector (idle) is not touched.
    #[test]
    fn stop_trying_cancels_the_pending_retry() {
        let (clock, policy, script, connector) = setup();
        policy.client_connection_failed(&connector, &ConnectError::Refused);
        let call = policy.pending_retry().unwrap();
        policy.stop_trying();
        assert!(!call.is_active());
        assert!(policy.pending_retry().is_none());
        assert!(clock.pending_calls().is_empty());
        assert!(!policy.continue_trying());
        assert_eq!(script.stops.get(), 0);
        clock.advance(Duration::from_secs(10));
        assert_eq!(script.connects.get(), 0);

        policy.client_connection_failed(&connector, &ConnectError::Refused);
        assert!(clock.pending_calls().is_empty());
        assert_eq!(policy.retries(), 1);
        // An explicit retry is refused too.
        assert_eq!(policy.retry(Some(&connector)), Ok(()));
        assert_eq!(policy.retry(None), Ok(()));
        assert!(clock.pending_calls().is_empty());
    }

    /// `stop_trying` stops a connector that is connecting (after a scheduled
    /// reconnection ran), but leaves an established connection alone.
    #[test]
    fn stop_trying_stops_a_connecting_connector_only() {
        let (clock, policy, script, connector) = setup();
        policy.client_connection_failed(&connector, &ConnectError::Refused);
        clock.advance(Duration::from_secs(3));
        assert_eq!(script.state(), ConnectorState::Connecting);
        policy.stop_trying();
        assert_eq!(script.stops.get(), 1);
        assert_eq!(script.state(), ConnectorState::Disconnected);

        let (_, policy, script, connector) = setup();
        policy.client_connection_lost(&connector, &Reason::Done);
        script.set(ConnectorState::Connected);
        policy.stop_trying();
        assert_eq!(script.stops.get(), 0);
        assert_eq!(script.state(), ConnectorState::Connected);
        assert!(!policy.continue_trying());
    }

    /// `reset_delay` restores the initial delay, clears the retries, turns
    /// trying back on, and forgets (without cancelling) a scheduled call.
    #[test]
    fn reset_delay_restores_the_start() {
        let (clock, policy, _, connector) = setup();
        let policy = policy.with_initial_delay(Duration::from_millis(500));
        for _ in 0..3 {
            policy.client_connection_failed(&connector, &ConnectError::Refused);
        }
        assert_close(policy.delay().as_secs_f64(), 0.5 * E.powi(3));
        assert_eq!(policy.retries(), 3);
        policy.stop_trying();
        policy.reset_delay();
        assert_eq!(policy.delay(), Duration::from_millis(500));
        assert_eq!(policy.retries(), 0);
        assert!(policy.continue_trying());

        policy.client_connection_failed(&connector, &ConnectError::Refused);
        let call = policy.pending_retry().unwrap();
        assert_close(call.time().duration_since(clock.now()).as_secs_f64(), 0.5);
        assert_close(policy.delay().as_secs_f64(), 0.5 * E);
        policy.reset_delay();
        assert!(policy.pending_retry().is_none());
        assert!(call.is_active(), "forgotten, not cancelled");
    }

    /// `retry(None)` before any connector was seen is an error; an explicit
    /// connector is used but not remembered.
    #[test]
    fn retry_without_a_connector_is_an_error() {
        let (clock, policy, script, connector) = setup();
        assert_eq!(policy.retry(None), Err(NoConnectorError));
        assert_eq!(NoConnectorError.to_string(), "no connector to retry");
        assert_eq!(policy.retries(), 0);
        assert!(clock.pending_calls().is_empty());

        assert_eq!(policy.retry(Some(&connector)), Ok(()));
        assert!(policy.connector().is_none());
        assert_eq!(policy.retries(), 1);
        clock.advance(Duration::from_secs(3));
        assert_eq!(script.connects.get(), 1);
        assert_eq!(policy.retry(None), Err(NoConnectorError));
    }

    /// A reconnection that finds the connector busy is dropped, not a panic.
    #[test]
    fn busy_connector_at_retry_time_is_skipped() {
        let (clock, policy, script, connector) = setup();
        policy.client_connection_failed(&connector, &ConnectError::Refused);
        script.set(ConnectorState::Connecting);
        clock.advance(Duration::from_secs(3));
        assert_eq!(script.refused_connects.get(), 1);
        assert_eq!(script.connects.get(), 0);
    }

    /// With jitter, the first wait is drawn around the initial delay (not
    /// around initial·e), each later one around e times the wait before it,
    /// and `delay()` is the last wait times e; the waits stay positive; the
    /// same seed gives the same waits, another seed others.
    #[test]
    fn jitter_is_seeded_and_stays_near_the_curve() {
        let run = |seed: u64| -> Vec<f64> {
            let (clock, _, script, connector) = setup();
            let policy = ReconnectingClientFactory::new(&clock)
                .with_noisy(false)
                .with_seed(seed);
            let mut waits = Vec::new();
            for _ in 0..8 {
                policy.client_connection_failed(&connector, &ConnectError::Refused);
                let w = wait(&clock);
                assert_close(policy.delay().as_secs_f64(), w * E);
                waits.push(w);
                clock.advance(to_duration(w));
                script.set(ConnectorState::Disconnected);
            }
            waits
        };
        let a = run(7);
        assert_eq!(a, run(7));
        assert_ne!(a, run(8));
        let nominal: Vec<f64> = (0..8).map(|k| E.powi(k)).collect();
        assert!(a.iter().zip(&nominal).any(|(w, n)| (w - n).abs() > 1e-3));
        for (k, w) in a.iter().enumerate() {
            assert!(*w > 0.0, "{a:?}");
            // Each wait is within ±60% (5 standard deviations) of its mean:
            // the initial delay, then e times the wait before.
            let mean = if k == 0 { 1.0 } else { a[k - 1] * E };
            let ratio = w / mean;
            assert!((0.4..1.6).contains(&ratio), "step {k}: {a:?}");
        }
        // Unseeded policies differ from each other.
        let (c1, c2) = (testing::VirtualClock::new(), testing::VirtualClock::new());
        let p1 = ReconnectingClientFactory::new(&c1).with_noisy(false);
        let p2 = ReconnectingClientFactory::new(&c2).with_noisy(false);
        let (_, _, _, connector) = setup();
        p1.client_connection_failed(&connector, &ConnectError::Refused);
        p2.client_connection_failed(&connector, &ConnectError::Refused);
        assert_ne!(p1.delay(), p2.delay());
    }

    /// Jittered waits may exceed `max_delay`: the cap applies to the grown
    /// delay, before the next draw, so the stored delay never exceeds it.
    #[test]
    fn cap_applies_before_jitter() {
        let (clock, _, _, connector) = setup();
        let policy = ReconnectingClientFactory::new(&clock)
            .with_noisy(false)
            .with_initial_delay(Duration::from_secs(10))
            .with_max_delay(Duration::from_secs(10))
            .with_seed(1);
        let mut above = 0;
        for _ in 0..50 {
            policy.client_connection_failed(&connector, &ConnectError::Refused);
            let call = policy.pending_retry().unwrap();
            let w = call.time().duration_since(clock.now()).as_secs_f64();
            assert!(w > 5.0 && w < 15.0, "{w}");
            above += usize::from(w > 10.0);
            assert_eq!(policy.delay(), Duration::from_secs(10));
        }
        assert!(above > 0 && above < 50, "{above} of 50 above the cap");
    }

    /// A jittered draw below zero is scheduled as no wait, and a zero
    /// initial delay reconnects at once.
    #[test]
    fn zero_and_negative_waits_are_no_wait() {
        let (clock, policy, script, connector) = setup();
        let policy = policy.with_initial_delay(Duration::ZERO);
        policy.client_connection_failed(&connector, &ConnectError::Refused);
        assert_eq!(policy.delay(), Duration::ZERO);
        clock.advance(Duration::ZERO);
        assert_eq!(script.connects.get(), 1);
        // A jitter of 100 standard deviations draws negative waits often.
        let (clock, _, script, connector) = setup();
        let policy = ReconnectingClientFactory::new(&clock)
            .with_noisy(false)
            .with_jitter(100.0)
            .with_seed(3);
        let mut immediate = 0;
        for _ in 0..20 {
            policy.reset_delay();
            policy.client_connection_failed(&connector, &ConnectError::Refused);
            let call = policy.pending_retry().unwrap();
            immediate += usize::from(call.time() == clock.now());
            clock.advance(Duration::ZERO);
            script.set(ConnectorState::Disconnected);
        }
        assert!(immediate > 0 && immediate < 20, "{immediate} of 20");
        assert_eq!(script.connects.get(), immediate as u32);
    }

    /// The wrapper builds the inner factory's protocols, calls the inner
    /// callbacks before the policy's, and never resets the delay itself.
    #[test]
    fn wrapper_delegates_then_applies_the_policy() {
        struct Nothing;
        impl Protocol for Nothing {}
        /// Records its callbacks, with how many calls were pending on the
        /// clock at the time (none yet: it runs before the policy).
        struct Inner {
            seen: RefCell<Vec<String>>,
            reactor: MemoryReactor,
        }
        impl Inner {
            fn push(&self, what: String) {
                let pending = self.reactor.clock().pending_calls().len();
                self.seen.borrow_mut().push(format!("{what} ({pending})"));
            }
        }
        impl Factory for Inner {
            type Protocol = Nothing;
            fn build_protocol(&self, _: &Address) -> Option<Nothing> {
                self.push("build".into());
                Some(Nothing)
            }
            fn log_prefix(&self) -> std::borrow::Cow<'static, str> {
                "InnerPrefix".into()
            }
            fn noisy(&self) -> bool {
                false
            }
        }
        impl ClientFactory for Inner {
            fn started_connecting(&self, c: &Connector) {
                self.push(format!("started {}", c.state()));
            }
            fn client_connection_failed(&self, _: &Connector, r: &ConnectError) {
                self.push(format!("failed {r}"));
            }
            fn client_connection_lost(&self, _: &Connector, r: &Reason) {
                self.push(format!("lost {r}"));
            }
        }
        let reactor = MemoryReactor::new();
        let policy = ReconnectingClientFactory::new(&reactor)
            .with_jitter(0.0)
            .with_noisy(false);
        let inner = Inner {
            seen: RefCell::default(),
            reactor: reactor.clone(),
        };
        let wrapped = Shared::new(Reconnecting::with_policy(inner, policy));
        assert_eq!(wrapped.log_prefix(), "InnerPrefix");
        assert!(!Factory::noisy(&*wrapped));
        assert!(wrapped.qualified_name().ends_with("::Inner"));
        let connector = reactor.connect_tcp("127.0.0.1", 1, wrapped.clone());
        let recorded = reactor.tcp_clients()[0].factory.clone();

        connector.disconnect();
        recorded.client_connection_failed(&connector, &ConnectError::Refused);
        assert_eq!(wrapped.policy().retries(), 1);
        reactor.advance(Duration::from_secs(3));
        assert_eq!(connector.state(), ConnectorState::Connecting);

        let addr = Address::tcp("127.0.0.1:1".parse().unwrap());
        assert!(recorded.build_protocol(&addr).is_some());
        connector.disconnect();
        recorded.client_connection_lost(&connector, &Reason::Done);
        assert_eq!(wrapped.policy().retries(), 2, "build did not reset");
        assert_close(wrapped.policy().delay().as_secs_f64(), E * E);
        assert_eq!(
            *wrapped.inner().seen.borrow(),
            [
                "started connecting (0)",
                "failed Connection was refused by other side: 111: Connection refused. (0)",
                "build (0)",
                "lost Connection was closed cleanly. (0)",
            ]
        );
        assert_eq!(reactor.clock().pending_calls().len(), 1);
        assert!(format!("{wrapped:?}").contains("Inner"));
        let direct = Reconnecting::new(reactor.clock(), for_protocol(|| Nothing));
        let shown = format!("{direct:?}");
        assert!(shown.starts_with("WrappingFactory { wrapped: Shared { factory: "));
        assert!(shown.contains("wrapper: ReconnectingClientFactory { delay: "));
    }

    /// `with_reset_on_connect(true)`: each protocol the wrapped factory
    /// builds resets the back-off (delay and retry count); a refused build
    /// (`None`) does not; without the flag nothing resets.
    #[test]
    fn reset_on_connect_resets_when_a_protocol_is_built() {
        struct Nothing;
        impl Protocol for Nothing {}
        /// Builds a protocol only when `accept` is set.
        struct Gate {
            accept: Cell<bool>,
        }
        impl Factory for Gate {
            type Protocol = Nothing;
            fn build_protocol(&self, _: &Address) -> Option<Nothing> {
                self.accept.get().then_some(Nothing)
            }
        }
        impl ClientFactory for Gate {}
        let addr = Address::tcp("127.0.0.1:1".parse().unwrap());
        for reset in [true, false] {
            let reactor = MemoryReactor::new();
            let gate = Gate {
                accept: Cell::new(false),
            };
            let policy = ReconnectingClientFactory::new(&reactor)
                .with_jitter(0.0)
                .with_noisy(false);
            let factory =
                Shared::new(Reconnecting::with_policy(gate, policy).with_reset_on_connect(reset));
            let connector = reactor.connect_tcp("127.0.0.1", 1, factory.clone());
            let recorded = reactor.tcp_clients()[0].factory.clone();
            for _ in 0..2 {
                connector.disconnect();
                recorded.client_connection_failed(&connector, &ConnectError::Refused);
            }
            let grown = factory.policy().delay();
            assert_close(grown.as_secs_f64(), E * E);
            assert!(recorded.build_protocol(&addr).is_none());
            assert_eq!(
                factory.policy().delay(),
                grown,
                "a refused build resets nothing"
            );
            factory.inner().accept.set(true);
            assert!(recorded.build_protocol(&addr).is_some());
            if reset {
                assert_eq!(factory.policy().delay(), Duration::from_secs(1));
                assert_eq!(factory.policy().retries(), 0);
            } else {
                assert_eq!(factory.policy().delay(), grown);
                assert_eq!(factory.policy().retries(), 2);
            }
        }
    }
}
