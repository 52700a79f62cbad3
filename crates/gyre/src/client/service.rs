//! [`ClientService`] (Twisted's `ClientService`, reference §4.2); its
//! public description is on the type.
//!
//! How it works: each attempt wraps the user's factory in a
//! [`WrappingFactory`] (sharing the user's start/stop count) whose wrapper,
//! an `AttemptWrapper`, keeps the protocol it built in a shared cell and
//! runs it in a [`ProtocolWrapper`] that reports `connection_lost` back to
//! the service. The
//! endpoint's Deferred, turned into a [`Connected`] and passed through the
//! optional `prepare_connection` step, settles the attempt. Stopping
//! cancels that Deferred (which stops the attempt, or cancels the
//! preparation), cancels the retry timer, or closes the live connection.
//! The service never holds a borrow of its own state while it runs user
//! code or fires a Deferred, since those may call back into it.
//!
//! Tests: at the bottom of this file (on a `MemoryReactor`), and
//! `tests/client_service.rs` (on a real reactor, and the log lines).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::{Rc, Weak};

use super::backoff::{PyFloat, RetryPolicy, default_backoff_policy, to_duration};

use crate::address::Address;
use crate::deferred::{CancelledError, Deferred, Failure, Step, fail, succeed};
use crate::endpoint::{ClientEndpoint, Connected};
use crate::error::{ConnectError, Reason};
use crate::factory::{AnyFactory, Factory, Shared};
use crate::protocol::Protocol;
use crate::time::{Clock, DelayedCall};
use crate::transport::Transport;
use crate::wrap::{ProtocolWrapper, WrapFactory, WrapProtocol, WrappingFactory};

/// The retry policy in force (see [`RetryPolicy`]).
type Policy = Rc<dyn RetryPolicy>;

/// The hook run on each new connection before it counts as made.
type Prepare<P> = Rc<dyn Fn(&Connected<P>) -> Deferred<()>>;

/// Keeps one connection to an endpoint alive, reconnecting with back-off
/// (Twisted's `ClientService`).
///
/// The service connects when started. When an attempt fails, or a live
/// connection ends, it waits as long as its retry policy says and tries
/// again, for as long as it runs. The policy gets the number of consecutive
/// failures *including* the one just seen, so with [`default_backoff_policy`](super::default_backoff_policy)
/// the first wait is 1.5 s (plus up to 1 s of jitter), then 2.25 s, 3.375 s,
/// … up to 60 s. A successful connection resets the count; losing that
/// connection counts as the first failure again, so a reconnect after a
/// disconnect also waits 1.5 s (plus jitter). Each wait is logged at info
/// level (target `gyre::client`), the seconds printed as Python prints a
/// float: `Scheduling retry 1 to connect tcp:host=example.test:port=7 in
/// 1.5 seconds.`
///
/// ```
/// use std::rc::Rc;
/// use std::time::Duration;
/// use gyre::client::ClientService;
/// use gyre::endpoint::TcpClientEndpoint;
/// use gyre::testing::MemoryReactor;
/// use gyre::{ConnectError, Protocol, for_protocol};
///
/// struct Chat;
/// impl Protocol for Chat {}
///
/// let reactor = MemoryReactor::new();
/// let endpoint = TcpClientEndpoint::new(&reactor, "example.test", 7);
/// let service = ClientService::new(&reactor, endpoint, for_protocol(|| Chat))
///     .with_retry_policy(|_failures| Duration::from_secs(5));
/// service.start_service();
/// let first = &reactor.tcp_clients()[0];
/// first.factory.client_connection_failed(&first.connector, &ConnectError::Refused);
/// assert_eq!(service.failed_attempts(), 1);
/// reactor.advance(Duration::from_secs(5));
/// assert_eq!(reactor.tcp_clients().len(), 2); // the retry
/// let stopped = service.stop_service();
/// assert!(reactor.tcp_clients()[1].stopped_connecting());
/// assert!(stopped.is_called());
/// ```
///
/// Clones are handles to the same service. A started service keeps itself
/// alive through its pending work (the attempt in flight, the retry timer,
/// the live connection), so dropping every handle does not stop it: call
/// [`stop_service`](Self::stop_service).
pub struct ClientService<P: Protocol> {
    inner: Rc<Inner<P>>,
}

impl<P: Protocol> Clone for ClientService<P> {
    fn clone(&self) -> Self {
        ClientService {
            inner: self.inner.clone(),
        }
    }
}

impl<P: Protocol> ClientService<P> {
    /// A stopped service that will connect `endpoint` with protocols from
    /// `factory`, timing its retries on `clock` (the reactor; in tests, a
    /// [`MemoryReactor`](crate::testing::MemoryReactor) or
    /// [`VirtualClock`](crate::testing::VirtualClock)), with
    /// [`default_backoff_policy`](super::default_backoff_policy) and no preparation step. The service
    /// keeps a clone of the clock handle.
    ///
    /// The factory is started when each attempt begins and stopped when
    /// that attempt fails or its connection ends (pass a [`Shared`] clone to
    /// keep a handle to it).
    pub fn new<F: Factory<Protocol = P>>(
        clock: &(impl Clock + Clone + 'static),
        endpoint: impl ClientEndpoint + 'static,
        factory: impl Into<Shared<F>>,
    ) -> Self {
        let clock = crate::time::keep(clock);
        let endpoint: Rc<dyn ClientEndpoint> = Rc::new(endpoint);
        let factory: Shared<F> = factory.into();
        let for_attempt: ForAttempt<P> = Box::new(move |wrapper| {
            AnyFactory::new(WrappingFactory::wrap(factory.clone(), wrapper))
        });
        ClientService {
            inner: Rc::new(Inner {
                endpoint,
                for_attempt,
                clock,
                policy: RefCell::new(Rc::new(default_backoff_policy())),
                prepare: RefCell::new(None),
                running: Cell::new(false),
                state: RefCell::new(State::Idle),
                failed_attempts: Cell::new(0),
                waiters: RefCell::new(Vec::new()),
                stop_waiters: RefCell::new(Vec::new()),
            }),
        }
    }

    /// Uses `policy` for the wait before each retry: it is given the number
    /// of consecutive failures so far, counting the one just seen (so 1
    /// before the first retry), and returns the wait. A closure
    /// `|failures| Duration` will do, or a [`backoff_policy`](super::backoff_policy)
    /// with other settings. Meant to be set before
    /// [`start_service`](Self::start_service); set later, it applies from the
    /// next wait on.
    pub fn with_retry_policy(self, policy: impl RetryPolicy) -> Self {
        *self.inner.policy.borrow_mut() = Rc::new(policy);
        self
    }

    /// Runs `prepare` on every new connection, after the protocol's
    /// `connection_made` (Twisted's `prepareConnection`). The connection
    /// counts as made (and [`when_connected`](Self::when_connected) fires)
    /// only once the returned Deferred succeeds. If it fails (or `prepare`
    /// panics), the connection is closed and the failure counts as a failed
    /// attempt: the service waits and retries.
    pub fn with_prepare_connection(
        self,
        prepare: impl Fn(&Connected<P>) -> Deferred<()> + 'static,
    ) -> Self {
        *self.inner.prepare.borrow_mut() = Some(Rc::new(prepare));
        self
    }

    /// Starts the service: it begins connecting at once. Starting a running
    /// service does nothing. Starting it again while a
    /// [`stop_service`](Self::stop_service) is still closing the old
    /// connection connects anew once that connection is gone. Each start
    /// resets the count of failed attempts.
    pub fn start_service(&self) {
        let inner = &self.inner;
        if inner.running.replace(true) {
            return;
        }
        inner.failed_attempts.set(0);
        let connect_now = {
            let mut state = inner.state.borrow_mut();
            match &mut *state {
                State::Idle | State::Stopped => true,
                State::Disconnecting { restart, .. } => {
                    *restart = true;
                    false
                }
                _ => false,
            }
        };
        if connect_now {
            inner.connect();
        }
    }

    /// Stops the service: cancels the attempt in progress (which stops it
    /// connecting), or the pending retry, or closes the live connection.
    ///
    /// The Deferred fires once the service is fully stopped: at once if no
    /// connection was open, otherwise after the protocol's
    /// `connection_lost`. At that moment every pending
    /// [`when_connected`](Self::when_connected) Deferred fails with
    /// [`CancelledError`]. Stopping a stopped service gives a Deferred that
    /// has already fired.
    pub fn stop_service(&self) -> Deferred<()> {
        let inner = &self.inner;
        inner.running.set(false);
        let done = Deferred::new();
        inner.stop_waiters.borrow_mut().push(done.clone());
        let previous = inner.set_state(State::Stopped);
        match previous {
            State::Idle | State::Stopped => inner.enter_stopped(),
            State::Waiting(retry) => {
                if let Some(call) = retry {
                    let _ = call.cancel();
                }
                inner.enter_stopped();
            }
            State::Connecting(attempt) => {
                inner.set_state(State::Disconnecting {
                    attempt: attempt.clone(),
                    restart: false,
                });
                let pending = attempt.pending.borrow().clone();
                if let Some(pending) = pending {
                    pending.cancel();
                }
                inner.check_stopped();
            }
            State::Connected(attempt, connection) => {
                inner.set_state(State::Disconnecting {
                    attempt,
                    restart: false,
                });
                connection.transport().lose_connection();
                inner.check_stopped();
            }
            State::Disconnecting { attempt, .. } => {
                inner.set_state(State::Disconnecting {
                    attempt,
                    restart: false,
                });
                inner.check_stopped();
            }
        }
        done
    }

    /// A Deferred of the connected protocol (Twisted's `whenConnected`).
    ///
    /// Fires at once while connected; otherwise with the next connection
    /// made. With `Some(n)` it fails with the `n`-th connection failure seen
    /// from now on (a refused attempt, a failed preparation; `Some(0)` acts
    /// as `Some(1)`); with `None` it waits however many attempts fail. A
    /// connection that ends is not a failure here. Called before the first
    /// [`start_service`](Self::start_service), it waits for the start. When
    /// the service stops, it fails with [`CancelledError`], and so does a
    /// call on a stopped service. Cancelling it just drops it from the
    /// waiting list.
    pub fn when_connected(&self, fail_after_failures: Option<u32>) -> Deferred<Connected<P>> {
        let inner = &self.inner;
        {
            let state = inner.state.borrow();
            match &*state {
                State::Connected(attempt, connection) if attempt.lost.borrow().is_none() => {
                    return succeed(connection.clone());
                }
                State::Stopped => return fail(CancelledError),
                _ => {}
            }
        }
        let weak: Weak<Inner<P>> = Rc::downgrade(inner);
        let d = Deferred::with_canceller(move |d: &Deferred<Connected<P>>| {
            if let Some(inner) = weak.upgrade() {
                inner
                    .waiters
                    .borrow_mut()
                    .retain(|w| !w.deferred.same_as(d));
            }
        });
        inner.waiters.borrow_mut().push(Waiter {
            deferred: d.clone(),
            remaining: fail_after_failures,
        });
        d
    }

    /// True between [`start_service`](Self::start_service) and
    /// [`stop_service`](Self::stop_service).
    pub fn is_running(&self) -> bool {
        self.inner.running.get()
    }

    /// How many attempts in a row have failed so far (a lost connection
    /// counts as one); 0 after a connection is made.
    pub fn failed_attempts(&self) -> u32 {
        self.inner.failed_attempts.get()
    }
}

impl<P: Protocol> fmt::Debug for ClientService<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("ClientService")
            .field("endpoint", &inner.endpoint.to_string())
            .field("running", &inner.running.get())
            .field("state", &inner.state.borrow().name())
            .field("failed_attempts", &inner.failed_attempts.get())
            .finish()
    }
}

/// Where the service is.
enum State<P: Protocol> {
    /// Never started.
    Idle,
    /// Stopped.
    Stopped,
    /// An attempt is in flight (connecting, or preparing the connection).
    Connecting(Rc<Attempt<P>>),
    /// Waiting to retry; the timer (`None` only while it is being scheduled).
    Waiting(Option<DelayedCall>),
    /// Connected.
    Connected(Rc<Attempt<P>>, Connected<P>),
    /// Stopping: waiting for this attempt to settle and its connection (if
    /// any) to end. `restart`: start again afterwards.
    Disconnecting {
        attempt: Rc<Attempt<P>>,
        restart: bool,
    },
}

impl<P: Protocol> State<P> {
    fn name(&self) -> &'static str {
        match self {
            State::Idle => "idle",
            State::Stopped => "stopped",
            State::Connecting(_) => "connecting",
            State::Waiting(_) => "waiting",
            State::Connected(..) => "connected",
            State::Disconnecting { restart: false, .. } => "disconnecting",
            State::Disconnecting { restart: true, .. } => "restarting",
        }
    }
}

/// One connection attempt, shared by the service, the attempt's factory
/// and the protocol it built.
struct Attempt<P> {
    /// The user's protocol, once built.
    protocol: RefCell<Option<Rc<RefCell<P>>>>,
    /// The connection's transport, from `connection_made` on.
    transport: RefCell<Option<Transport>>,
    /// Why the connection ended, once it has.
    lost: RefCell<Option<Reason>>,
    /// True once the attempt's Deferred chain delivered its result.
    settled: Cell<bool>,
    /// The endpoint's Deferred while the attempt is unsettled (to cancel it).
    pending: RefCell<Option<Deferred<Transport>>>,
    /// The preparation's Deferred while it runs. Held here because a
    /// paused chain only keeps a weak link to what it waits on: without
    /// this, cancelling `pending` could not reach a preparation that
    /// nothing else holds.
    preparing: RefCell<Option<Deferred<()>>>,
}

impl<P> Attempt<P> {
    fn new() -> Attempt<P> {
        Attempt {
            protocol: RefCell::new(None),
            transport: RefCell::new(None),
            lost: RefCell::new(None),
            settled: Cell::new(false),
            pending: RefCell::new(None),
            preparing: RefCell::new(None),
        }
    }

    /// A connection was made and has not ended yet.
    fn live(&self) -> bool {
        self.transport.borrow().is_some() && self.lost.borrow().is_none()
    }

    /// Nothing more will happen to it.
    fn finished(&self) -> bool {
        self.settled.get() && !self.live()
    }
}

/// A pending [`ClientService::when_connected`].
struct Waiter<P: Protocol> {
    deferred: Deferred<Connected<P>>,
    /// Failures still allowed before it fails (`None`: any number).
    remaining: Option<u32>,
}

/// Makes one attempt's factory: the user's factory (whose type only
/// [`ClientService::new`] knows) wrapped with that attempt's
/// [`AttemptWrapper`].
type ForAttempt<P> = Box<dyn Fn(AttemptWrapper<P>) -> AnyFactory>;

struct Inner<P: Protocol> {
    endpoint: Rc<dyn ClientEndpoint>,
    for_attempt: ForAttempt<P>,
    clock: Rc<dyn Clock>,
    policy: RefCell<Policy>,
    prepare: RefCell<Option<Prepare<P>>>,
    running: Cell<bool>,
    state: RefCell<State<P>>,
    failed_attempts: Cell<u32>,
    waiters: RefCell<Vec<Waiter<P>>>,
    stop_waiters: RefCell<Vec<Deferred<()>>>,
}

impl<P: Protocol> Inner<P> {
    /// Replaces the state; the old one is handed back (and so dropped
    /// after the borrow ended).
    fn set_state(&self, state: State<P>) -> State<P> {
        std::mem::replace(&mut *self.state.borrow_mut(), state)
    }

    /// Starts a new attempt.
    fn connect(self: &Rc<Self>) {
        let attempt = Rc::new(Attempt::new());
        self.set_state(State::Connecting(attempt.clone()));
        let factory = (self.for_attempt)(AttemptWrapper {
            attempt: attempt.clone(),
            service: self.clone(),
        });
        let endpoint = self.endpoint.clone();
        let connecting = endpoint.connect_any(factory);

        let built = attempt.clone();
        let prepare = self.prepare.borrow().clone();
        let service = self.clone();
        let settled = attempt.clone();
        let preparing = attempt.clone();
        connecting
            .clone()
            .and_then(move |transport| {
                let protocol = built.protocol.borrow().clone();
                match protocol {
                    Some(protocol) => Ok(Connected::new(protocol, transport)),
                    None => Err(Failure::new(ConnectError::NoProtocol)),
                }
            })
            .add_callbacks(
                move |connected| run_prepare(prepare, &preparing, connected),
                Step::Fail,
            )
            .consume(move |result| service.attempt_settled(&settled, result));

        if attempt.settled.get() {
            return;
        }
        *attempt.pending.borrow_mut() = Some(connecting.clone());
        // Stopped while `connect_any` ran (say, from the factory's
        // `start_factory`): the attempt is no longer wanted.
        let wanted =
            matches!(&*self.state.borrow(), State::Connecting(a) if Rc::ptr_eq(a, &attempt));
        if !wanted {
            connecting.cancel();
        }
    }

    /// The attempt's chain delivered its result.
    fn attempt_settled(
        self: &Rc<Self>,
        attempt: &Rc<Attempt<P>>,
        result: Result<Connected<P>, Failure>,
    ) {
        attempt.settled.set(true);
        attempt.pending.borrow_mut().take();
        attempt.preparing.borrow_mut().take();
        let lost = attempt.lost.borrow().clone();
        let result = match (result, lost) {
            // The connection ended while it was being prepared.
            (Ok(_), Some(reason)) => Err(Failure::new(reason)),
            (Err(f), Some(reason)) if f.is::<CancelledError>() => Err(Failure::new(reason)),
            (result, _) => result,
        };
        let current =
            matches!(&*self.state.borrow(), State::Connecting(a) if Rc::ptr_eq(a, attempt));
        if current {
            match result {
                Ok(connection) => {
                    self.failed_attempts.set(0);
                    self.set_state(State::Connected(attempt.clone(), connection.clone()));
                    let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
                    for w in waiters {
                        let _ = w.deferred.callback(connection.clone());
                    }
                }
                Err(failure) => self.connection_failed(failure),
            }
            return;
        }
        // Stopping, or a stale attempt: a connection made anyway is closed.
        if let Ok(connection) = result {
            connection.transport().lose_connection();
        }
        self.check_stopped();
    }

    /// The current attempt failed: wait, then tell the waiters that gave up.
    fn connection_failed(self: &Rc<Self>, failure: Failure) {
        self.schedule_retry();
        let ready: Vec<Deferred<Connected<P>>> = {
            let mut ready = Vec::new();
            self.waiters
                .borrow_mut()
                .retain_mut(|w| match &mut w.remaining {
                    None => true,
                    Some(n) if *n <= 1 => {
                        ready.push(w.deferred.clone());
                        false
                    }
                    Some(n) => {
                        *n -= 1;
                        true
                    }
                });
            ready
        };
        for d in ready {
            let _ = d.errback(failure.clone());
        }
    }

    /// Counts a failure and schedules the next attempt.
    fn schedule_retry(self: &Rc<Self>) {
        let attempt = self.failed_attempts.get().saturating_add(1);
        self.failed_attempts.set(attempt);
        self.set_state(State::Waiting(None));
        let policy = self.policy.borrow().clone();
        let secs = policy.retry_wait_seconds(attempt);
        let delay = to_duration(secs);
        let shown = if secs.is_finite() && secs > 0.0 {
            secs
        } else {
            0.0
        };
        log::info!(
            target: "gyre::client",
            "Scheduling retry {attempt} to connect {} in {} seconds.",
            self.endpoint,
            PyFloat(shown)
        );
        let me = self.clone();
        let call = self
            .clock
            .call_later_boxed(delay, Box::new(move || me.retry_due()));
        let mut state = self.state.borrow_mut();
        match &mut *state {
            State::Waiting(slot @ None) => *slot = Some(call),
            _ => {
                drop(state);
                let _ = call.cancel();
            }
        }
    }

    /// The retry timer ran.
    fn retry_due(self: &Rc<Self>) {
        let waiting = matches!(&*self.state.borrow(), State::Waiting(_));
        if waiting {
            self.connect();
        }
    }

    /// The protocol of `attempt` saw `connection_lost`.
    fn connection_ended(self: &Rc<Self>, attempt: &Rc<Attempt<P>>) {
        let (connected, connecting) = {
            let state = self.state.borrow();
            match &*state {
                State::Connected(a, _) => (Rc::ptr_eq(a, attempt), false),
                State::Connecting(a) => (false, Rc::ptr_eq(a, attempt)),
                _ => (false, false),
            }
        };
        if connected {
            self.schedule_retry();
        } else if connecting {
            // Lost while being prepared: give up on the preparation. (Before
            // the endpoint fired, the endpoint reports the failure itself.)
            let pending = attempt.pending.borrow().clone();
            if let Some(pending) = pending.filter(|d| d.is_called()) {
                pending.cancel();
            }
        } else {
            self.check_stopped();
        }
    }

    /// Finishes stopping (or restarting) once the attempt is over.
    fn check_stopped(self: &Rc<Self>) {
        let restart = match &*self.state.borrow() {
            State::Disconnecting { attempt, restart } if attempt.finished() => *restart,
            _ => return,
        };
        if restart {
            let stops = std::mem::take(&mut *self.stop_waiters.borrow_mut());
            self.connect();
            for d in stops {
                let _ = d.callback(());
            }
        } else {
            self.enter_stopped();
        }
    }

    /// Now stopped: the connection waiters are cancelled, the stop waiters fired.
    fn enter_stopped(&self) {
        self.set_state(State::Stopped);
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        let stops = std::mem::take(&mut *self.stop_waiters.borrow_mut());
        for w in waiters {
            let _ = w.deferred.errback(CancelledError);
        }
        for d in stops {
            let _ = d.callback(());
        }
    }
}

/// The preparation step of an attempt's chain.
fn run_prepare<P: Protocol>(
    prepare: Option<Prepare<P>>,
    attempt: &Attempt<P>,
    connected: Connected<P>,
) -> Step<Connected<P>> {
    let Some(prepare) = prepare else {
        return Step::Value(connected);
    };
    match crate::log::guarded(|| prepare(&connected)) {
        Ok(preparing) => {
            *attempt.preparing.borrow_mut() = Some(preparing.clone());
            Step::Wait(preparing.add_both(move |r| match r {
                Ok(()) => Ok(connected),
                Err(failure) => {
                    connected.transport().lose_connection();
                    Err(failure)
                }
            }))
        }
        Err(message) => {
            connected.transport().lose_connection();
            Step::Fail(Failure::from_panic(message))
        }
    }
}

/// One attempt's wrapper, around the user's factory and around the
/// protocol it builds: the factory keeps the protocol it built in the
/// attempt; the protocol tells the attempt its transport and the service
/// its end. Everything else is the user's factory's and protocol's.
struct AttemptWrapper<P: Protocol> {
    attempt: Rc<Attempt<P>>,
    service: Rc<Inner<P>>,
}

/// The user's protocol as one attempt runs it.
type ServiceProtocol<P> = ProtocolWrapper<Rc<RefCell<P>>, AttemptWrapper<P>>;

impl<P: Protocol, F: Factory<Protocol = P>> WrapFactory<F> for AttemptWrapper<P> {
    type Protocol = ServiceProtocol<P>;

    fn build_protocol(&self, wrapped: &Shared<F>, addr: &Address) -> Option<ServiceProtocol<P>> {
        let protocol = Rc::new(RefCell::new(wrapped.build_protocol(addr)?));
        *self.attempt.protocol.borrow_mut() = Some(protocol.clone());
        let wrapper = AttemptWrapper {
            attempt: self.attempt.clone(),
            service: self.service.clone(),
        };
        Some(ProtocolWrapper::wrap(protocol, wrapper))
    }
}

impl<P: Protocol> WrapProtocol<Rc<RefCell<P>>> for AttemptWrapper<P> {
    fn connection_made(&mut self, inner: &mut Rc<RefCell<P>>, transport: &Transport) {
        *self.attempt.transport.borrow_mut() = Some(transport.clone());
        inner.connection_made(transport)
    }

    fn connection_lost(&mut self, inner: &mut Rc<RefCell<P>>, reason: Reason) {
        *self.attempt.lost.borrow_mut() = Some(reason.clone());
        inner.connection_lost(reason);
        self.service.connection_ended(&self.attempt);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::client::backoff_policy;
    use crate::endpoint::TcpClientEndpoint;
    use crate::factory::for_protocol;
    use crate::testing::{
        MemoryReactor, StringTransport, assert_no_result, failure_result_of,
        failure_result_of_type, success_result_of,
    };

    /// A protocol that records its events.
    struct Probe {
        events: Rc<RefCell<Vec<String>>>,
    }

    impl Protocol for Probe {
        fn connection_made(&mut self, _: &Transport) {
            self.events.borrow_mut().push("made".into());
        }
        fn connection_lost(&mut self, reason: Reason) {
            self.events.borrow_mut().push(format!("lost {reason}"));
        }
    }

    struct Fixture {
        reactor: MemoryReactor,
        events: Rc<RefCell<Vec<String>>>,
    }

    impl Fixture {
        fn new() -> Fixture {
            Fixture {
                reactor: MemoryReactor::new(),
                events: Rc::new(RefCell::new(Vec::new())),
            }
        }

        /// A service on the memory reactor with a jitter-free default back-off.
        fn service(&self) -> ClientService<Probe> {
            let endpoint = TcpClientEndpoint::new(&self.reactor, "example.test", 7);
            let events = self.events.clone();
            ClientService::new(
                &self.reactor,
                endpoint,
                for_protocol(move || Probe {
                    events: events.clone(),
                }),
            )
            .with_retry_policy(backoff_policy(
                Duration::from_secs(1),
                Duration::from_secs(60),
                1.5,
                || Duration::ZERO,
            ))
        }

        fn attempts(&self) -> usize {
            self.reactor.tcp_clients().len()
        }

        /// Fails the latest attempt with "refused".
        fn refuse(&self) {
            let client = self.reactor.tcp_clients().pop().expect("an attempt");
            client
                .factory
                .client_connection_failed(&client.connector, &ConnectError::Refused);
        }

        /// Connects the latest attempt over a StringTransport.
        fn accept(&self) -> (Box<dyn Protocol>, StringTransport) {
            let client = self.reactor.tcp_clients().pop().expect("an attempt");
            let addr = Address::tcp("192.0.2.7:7".parse().unwrap());
            let mut protocol = client.factory.build_protocol(&addr).expect("a protocol");
            let transport = StringTransport::new();
            transport.make_connection(&mut protocol);
            (protocol, transport)
        }

        /// Ends the latest attempt's connection, as the reactor would.
        fn lose(&self, mut protocol: Box<dyn Protocol>) {
            let client = self.reactor.tcp_clients().pop().expect("an attempt");
            protocol.connection_lost(Reason::Done);
            client
                .factory
                .client_connection_lost(&client.connector, &Reason::Done);
        }

        /// Asserts that the next attempt starts exactly `secs` from now.
        #[track_caller]
        fn expect_retry_after(&self, secs: f64) {
            let before = self.attempts();
            let wait = Duration::from_secs_f64(secs);
            let early = wait - Duration::from_millis(1);
            self.reactor.advance(early);
            assert_eq!(self.attempts(), before, "no attempt 1 ms before {secs} s");
            self.reactor.advance(wait - early);
            assert_eq!(self.attempts(), before + 1, "an attempt after {secs} s");
        }
    }

    /// Without a policy of its own the service waits 1.5 s plus jitter.
    #[test]
    fn default_policy_is_used() {
        let fx = Fixture::new();
        let endpoint = TcpClientEndpoint::new(&fx.reactor, "example.test", 7);
        let events = fx.events.clone();
        let service = ClientService::new(
            &fx.reactor,
            endpoint,
            for_protocol(move || Probe {
                events: events.clone(),
            }),
        );
        service.start_service();
        fx.refuse();
        let calls = crate::time::Clock::pending_calls(&fx.reactor);
        assert_eq!(calls.len(), 1);
        let wait = calls[0].time() - fx.reactor.clock().now();
        assert!(
            wait >= Duration::from_millis(1500) && wait < Duration::from_millis(2500),
            "{wait:?}"
        );
    }

    /// Start connects at once; starting twice does nothing more.
    #[test]
    fn start_connects_once() {
        let fx = Fixture::new();
        let service = fx.service();
        assert!(!service.is_running());
        assert_eq!(fx.attempts(), 0);
        service.start_service();
        service.start_service();
        assert!(service.is_running());
        assert_eq!(fx.attempts(), 1);
        let client = &fx.reactor.tcp_clients()[0];
        assert_eq!((client.host.as_str(), client.port), ("example.test", 7));
    }

    /// With no jitter the waits are 1.5, 2.25, 3.375, … seconds, capped at 60.
    #[test]
    fn backoff_sequence() {
        let fx = Fixture::new();
        let service = fx.service();
        service.start_service();
        let expected = [
            1.5,
            2.25,
            3.375,
            5.0625,
            7.59375,
            11.390625,
            17.0859375,
            25.62890625,
            38.443359375,
            57.6650390625,
            60.0,
            60.0,
            60.0,
        ];
        for (i, secs) in expected.into_iter().enumerate() {
            fx.refuse();
            assert_eq!(service.failed_attempts(), i as u32 + 1);
            fx.expect_retry_after(secs);
        }
        assert!(fx.events.borrow().is_empty());
    }

    /// A connection resets the count; losing it waits 1.5 s again, not 0.
    #[test]
    fn success_resets_backoff() {
        let fx = Fixture::new();
        let service = fx.service();
        service.start_service();
        fx.refuse();
        fx.expect_retry_after(1.5);
        fx.refuse();
        fx.expect_retry_after(2.25);
        let (protocol, _transport) = fx.accept();
        assert_eq!(service.failed_attempts(), 0);
        fx.lose(protocol);
        assert_eq!(service.failed_attempts(), 1);
        fx.expect_retry_after(1.5);
        fx.refuse();
        fx.expect_retry_after(2.25);
        assert_eq!(
            *fx.events.borrow(),
            ["made", "lost Connection was closed cleanly."]
        );
    }

    /// Connected: when_connected fires at once with the protocol and its transport.
    #[test]
    fn when_connected_at_once_when_connected() {
        let fx = Fixture::new();
        let service = fx.service();
        service.start_service();
        let (_protocol, transport) = fx.accept();
        let d = service.when_connected(None);
        let connected = success_result_of(&d);
        assert!(connected.transport().same_as(&transport.transport()));
        let again = success_result_of(&service.when_connected(None));
        assert!(again.same_as(&connected));
    }

    /// Not connected: when_connected(None) waits through failures for the connection.
    #[test]
    fn when_connected_waits() {
        let fx = Fixture::new();
        let service = fx.service();
        service.start_service();
        let d = service.when_connected(None);
        for secs in [1.5, 2.25, 3.375] {
            fx.refuse();
            fx.expect_retry_after(secs);
        }
        assert_no_result(&d);
        let (_protocol, transport) = fx.accept();
        let connected = success_result_of(&d);
        assert!(connected.transport().same_as(&transport.transport()));
    }

    /// Some(3) fails with the third failure after the call, carrying its ConnectError.
    #[test]
    fn when_connected_fails_after_failures() {
        let fx = Fixture::new();
        let service = fx.service();
        service.start_service();
        fx.refuse(); // before the call: not counted
        fx.expect_retry_after(1.5);
        let three = service.when_connected(Some(3));
        let one = service.when_connected(Some(1));
        let patient = service.when_connected(None);
        fx.refuse();
        failure_result_of_type::<ConnectError>(&one);
        assert_no_result(&three);
        fx.expect_retry_after(2.25);
        fx.refuse();
        assert_no_result(&three);
        fx.expect_retry_after(3.375);
        fx.refuse();
        let failure = failure_result_of(&three);
        assert!(matches!(
            failure.check::<ConnectError>(),
            Some(ConnectError::Refused)
        ));
        assert_no_result(&patient);
        // The service goes on retrying.
        fx.expect_retry_after(5.0625);
        success_result_of(&service.stop_service());
        failure_result_of_type::<CancelledError>(&patient);
    }

    /// After stop_service, waiting and new when_connected calls fail with CancelledError.
    #[test]
    fn when_connected_after_stop() {
        let fx = Fixture::new();
        let service = fx.service();
        service.start_service();
        let waiting = service.when_connected(None);
        fx.refuse();
        let stopped = service.stop_service();
        success_result_of(&stopped);
        failure_result_of_type::<CancelledError>(&waiting);
        failure_result_of_type::<CancelledError>(&service.when_connected(Some(1)));
    }

    /// Before the first start, when_connected waits for the start and the
    /// connection; stopping a never-started service cancels it.
    #[test]
    fn when_connected_before_start() {
        let fx = Fixture::new();
        let service = fx.service();
        let early = service.when_connected(None);
        assert_no_result(&early);
        service.start_service();
        let _ = fx.accept();
        success_result_of(&early);

        let other = fx.service();
        let waiting = other.when_connected(None);
        success_result_of(&other.stop_service());
        failure_result_of_type::<CancelledError>(&waiting);
        assert_eq!(fx.attempts(), 1);
    }

    /// A cancelled when_connected is dropped from the list; the others still fire.
    #[test]
    fn when_connected_cancel() {
        let fx = Fixture::new();
        let service = fx.service();
        service.start_service();
        let gone = service.when_connected(None);
        let kept = service.when_connected(None);
        gone.cancel();
        assert_eq!(service.inner.waiters.borrow().len(), 1);
        failure_result_of_type::<CancelledError>(&gone);
        assert_no_result(&kept);
        let _ = fx.accept();
        success_result_of(&kept);
    }

    /// Stopping while waiting cancels the retry: no attempt follows, ever.
    #[test]
    fn stop_cancels_retry() {
        let fx = Fixture::new();
        let service = fx.service();
        service.start_service();
        fx.refuse();
        assert_eq!(crate::time::Clock::pending_calls(&fx.reactor).len(), 1);
        let stopped = service.stop_service();
        success_result_of(&stopped);
        assert!(!service.is_running());
        assert!(crate::time::Clock::pending_calls(&fx.reactor).is_empty());
        fx.reactor.advance(Duration::from_secs(3600));
        assert_eq!(fx.attempts(), 1);
        // Stopping again: already stopped.
        success_result_of(&service.stop_service());
    }

    /// Stopping while connecting stops the attempt and finishes at once.
    #[test]
    fn stop_while_connecting() {
        let fx = Fixture::new();
        let service = fx.service();
        service.start_service();
        let stopped = service.stop_service();
        assert!(fx.reactor.tcp_clients()[0].stopped_connecting());
        success_result_of(&stopped);
        assert_eq!(service.failed_attempts(), 0, "a cancel is not a failure");
        fx.reactor.advance(Duration::from_secs(3600));
        assert_eq!(fx.attempts(), 1);
    }

    /// Stopping while connected closes the connection and fires after connection_lost.
    #[test]
    fn stop_while_connected() {
        let fx = Fixture::new();
        let service = fx.service();
        service.start_service();
        let (protocol, transport) = fx.accept();
        let stopped = service.stop_service();
        assert!(transport.is_disconnecting());
        assert_no_result(&stopped);
        let late = service.when_connected(None);
        assert_no_result(&late); // stopping: waits for the end
        let seen = fx.events.clone();
        let order = stopped.add_callback(move |()| seen.borrow().len());
        fx.lose(protocol);
        assert_eq!(success_result_of(&order), 2, "after connection_lost");
        failure_result_of_type::<CancelledError>(&late);
        fx.reactor.advance(Duration::from_secs(3600));
        assert_eq!(fx.attempts(), 1);
    }

    /// Starting again while the stop is closing the connection reconnects
    /// once it is gone (and the stop still completes).
    #[test]
    fn restart_while_stopping() {
        let fx = Fixture::new();
        let service = fx.service();
        service.start_service();
        let (protocol, _transport) = fx.accept();
        let stopped = service.stop_service();
        service.start_service();
        assert_eq!(fx.attempts(), 1);
        let next = service.when_connected(None);
        fx.lose(protocol);
        success_result_of(&stopped);
        assert_eq!(fx.attempts(), 2, "connects again at once");
        assert_no_result(&next);
        let _ = fx.accept();
        success_result_of(&next);
    }

    /// A failing prepare_connection closes the connection and retries with back-off.
    #[test]
    fn prepare_failure_retries() {
        let fx = Fixture::new();
        let service = fx
            .service()
            .with_prepare_connection(|_| fail(Failure::msg("not ready")));
        service.start_service();
        let d = service.when_connected(Some(1));
        let (protocol, transport) = fx.accept();
        assert!(transport.is_disconnecting());
        assert_eq!(service.failed_attempts(), 1);
        assert_eq!(failure_result_of(&d).to_string(), "not ready");
        // The old connection's end changes nothing.
        fx.lose(protocol);
        assert_eq!(service.failed_attempts(), 1);
        fx.expect_retry_after(1.5);
    }

    /// when_connected fires only once prepare_connection's Deferred succeeded.
    #[test]
    fn prepare_success_then_connected() {
        let fx = Fixture::new();
        let gate: Deferred<()> = Deferred::new();
        let prepared = Rc::new(RefCell::new(Vec::new()));
        let (g, p) = (gate.clone(), prepared.clone());
        let service = fx.service().with_prepare_connection(move |c| {
            c.transport().write(b"HELLO\r\n");
            p.borrow_mut().push(c.transport().peer().to_string());
            g.clone()
        });
        service.start_service();
        let d = service.when_connected(None);
        let (_protocol, transport) = fx.accept();
        assert_eq!(prepared.borrow().len(), 1);
        assert_eq!(transport.value(), b"HELLO\r\n");
        assert_no_result(&d);
        assert_eq!(service.inner.state.borrow().name(), "connecting");
        gate.callback(()).unwrap();
        assert_eq!(service.inner.state.borrow().name(), "connected");
        let connected = success_result_of(&d);
        assert_eq!(connected.with_protocol(|p| p.events.borrow().len()), 1);
    }

    /// Stopping during the preparation cancels it, closes the connection and
    /// waits for its end.
    #[test]
    fn stop_while_preparing() {
        let fx = Fixture::new();
        let gate: Deferred<()> = Deferred::new();
        let g = gate.clone();
        let service = fx.service().with_prepare_connection(move |_| g.clone());
        service.start_service();
        let (protocol, transport) = fx.accept();
        let stopped = service.stop_service();
        assert!(transport.is_disconnecting());
        assert_eq!(
            gate.peek(),
            None,
            "cancelled; the result went to the service"
        );
        assert!(gate.is_called());
        assert_no_result(&stopped);
        fx.lose(protocol);
        success_result_of(&stopped);
        assert_eq!(service.failed_attempts(), 0);
    }

    /// A connection lost during its preparation is a failed attempt, reported with its reason.
    #[test]
    fn lost_while_preparing() {
        let fx = Fixture::new();
        let service = fx.service().with_prepare_connection(|_| Deferred::new());
        service.start_service();
        let d = service.when_connected(Some(1));
        let (protocol, _transport) = fx.accept();
        fx.lose(protocol);
        assert_eq!(service.failed_attempts(), 1);
        failure_result_of_type::<Reason>(&d);
        fx.expect_retry_after(1.5);
    }

    /// Callbacks may call back into the service: stopping from when_connected.
    #[test]
    fn reentrant_stop_from_callback() {
        let fx = Fixture::new();
        let service = fx.service();
        service.start_service();
        let s = service.clone();
        let stopped = Rc::new(RefCell::new(None));
        let out = stopped.clone();
        service
            .when_connected(Some(1))
            .consume(move |_| *out.borrow_mut() = Some(s.stop_service()));
        fx.refuse();
        let stopped = stopped
            .borrow_mut()
            .take()
            .expect("stopped from the errback");
        success_result_of(&stopped);
        fx.reactor.advance(Duration::from_secs(3600));
        assert_eq!(fx.attempts(), 1);
    }

    /// The Debug form names the endpoint and the state.
    #[test]
    fn debug_form() {
        let fx = Fixture::new();
        let service = fx.service();
        service.start_service();
        assert_eq!(
            format!("{service:?}"),
            "ClientService { endpoint: \"tcp:host=example.test:port=7\", running: true, state: \"connecting\", failed_attempts: 0 }"
        );
    }
}
