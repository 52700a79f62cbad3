//! The reactor: one event loop per thread, owning I/O readiness and the clock.
//!
//! A [`Reactor`] is a cheap, cloneable, `!Send` handle. One iteration of
//! [`Reactor::run`] does, in order:
//!
//! 1. run the calls handed in by other threads ([`ThreadHandle`]);
//! 2. run the calls queued for "soon" (deferred closes, resumed reads) that
//!    were queued before this step began;
//! 3. run the timed calls that are due (calls scheduled meanwhile wait for
//!    the next iteration);
//! 4. begin the shutdown if [`Reactor::stop`] was called;
//! 5. poll the OS with the time until the next timer (0 if work is queued);
//! 6. dispatch readiness to the sources that registered with the poller.
//!
//! The rule that keeps this sound without locks: *collect, release, then call
//! out*. Reactor state lives in `RefCell`s that are borrowed only to look
//! something up or change it, never across a call into user code; a user
//! callback may therefore call any reactor method. Work queued while a pass
//! runs waits for the next pass.
//!
//! Startup and shutdown follow Twisted (reference §1.1–1.2): system event
//! triggers run before / during / after each event; stopping closes every
//! connection (reason [`Reason::Shutdown`](crate::Reason::Shutdown)) and
//! every port during the shutdown event, and `run` returns after logging
//! `Main loop terminated.`. SIGINT and SIGTERM log `Received SIGINT, shutting
//! down.` and stop the reactor (SIGINT only if it was not ignored or handled
//! when the reactor started, reference §1.6: `signals.rs`).
//!
//! The reactor knows no transport. Ports, connections and connecting
//! sockets register themselves as readiness sources (`source.rs`) and the
//! reactor tells them when they are ready; TCP's `listen_tcp`, `connect_tcp`
//! and `adopt_tcp` are defined with TCP, in `tcp/`, as the UNIX socket's are
//! in `unix/`.
//!
//! Several cores: [`ReactorPool`] runs one reactor per thread over the same
//! listening ports (`pool.rs`).
//!
//! Blocking work runs on the reactor's thread pool (`thread_pool.rs`:
//! `call_in_thread`, `defer_to_thread`, `blocking_call_from_thread`), made
//! on first use, started with the loop and stopped during shutdown once
//! its queued work has finished.
//!
//! Name lookups run on the reactor's resolver pool ([`crate::resolve`]),
//! made on the first lookup; shutdown fails the pending ones and the end of
//! the run closes the pool.
//!
//! Tests: `tests/reactor.rs` (lifecycle, triggers, timers, threads),
//! `tests/signals.rs` and `tests/pool.rs`.

pub(crate) mod budget;
mod pool;
mod signals;
mod source;
mod tasks;
mod thread_pool;
mod threads;
mod triggers;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::completion::Completion;
use crate::deferred::{Deferred, Failure, PanicError};
use crate::error::ReactorError;
use crate::log::{guarded, log_failure, log_panic};
use crate::time::{Clock, DelayedCall, Timers};

pub use pool::{PoolError, PoolStopper, ReactorPool, RunningPool, Worker};
pub(crate) use source::{Ready, Source};
pub use thread_pool::{
    BlockingCallError, DEFAULT_MAX_THREADS, DEFAULT_RESOLVER_THREADS, PoolStopped, ThreadPool,
};
pub use threads::ThreadHandle;
pub use triggers::{Phase, SystemEvent, TriggerId};

use tasks::Tasks;
use threads::ThreadQueue;
use triggers::Triggers;

const WAKER_TOKEN: Token = Token(usize::MAX - 1);
const SIGNAL_TOKEN: Token = Token(usize::MAX - 2);
/// Size of the one read buffer a reactor shares between all its connections.
pub(crate) const READ_BUFFER_SIZE: usize = 64 * 1024;
/// How many emptied write buffers a reactor keeps for reuse.
const POOLED_WRITE_BUFS: usize = 64;
/// The largest emptied write buffer kept for reuse.
const POOLED_WRITE_BUF_SIZE: usize = 64 * 1024;
/// Twisted caps the poll timeout at this many seconds.
const MAX_POLL_TIMEOUT: Duration = Duration::from_secs(2_147_483);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunState {
    NotStarted,
    Starting,
    Running,
    ShuttingDown,
    Stopped,
}

/// The reactor's state. Every field is borrowed only briefly (see module docs).
pub(crate) struct Inner {
    /// Registers sources without borrowing `poll` (which is borrowed while waiting).
    registry: mio::Registry,
    poll: RefCell<Poll>,
    /// Everything registered with the poller, keyed by its mio token.
    sources: RefCell<Slab<Rc<dyn Source>>>,
    /// Timed calls.
    timers: Timers,
    /// Calls to run at the start of the next iteration.
    soon: RefCell<VecDeque<Box<dyn FnOnce()>>>,
    /// Sources with queued output, flushed once per turn (see `queue_flush`).
    dirty: RefCell<Vec<Rc<dyn Source>>>,
    /// Emptied write buffers, lent to connections that queue output.
    write_bufs: RefCell<Vec<Vec<u8>>>,
    /// The shared read buffer; taken out while a protocol reads from it.
    read_buf: RefCell<Vec<u8>>,
    state: Cell<RunState>,
    /// `stop` was called; the shutdown event has not begun yet.
    stop_requested: Cell<bool>,
    /// The shutdown event has begun.
    shutting_down: Cell<bool>,
    /// The main loop ends after the current iteration.
    loop_done: Cell<bool>,
    triggers: Triggers,
    threads: Arc<ThreadQueue>,
    signals: RefCell<Option<signals::Signals>>,
    /// Name lookups and the resolver pools that run them (`crate::resolve`).
    pub(crate) lookups: crate::resolve::Lookups,
    /// Futures spawned on this reactor.
    tasks: Tasks,
    /// Retries of sources that ran out of descriptors (a port's accept),
    /// queued to run soon after any source frees one.
    starved: RefCell<Vec<Box<dyn FnOnce()>>>,
    /// The reactor's thread pool, made on first use (`thread_pool.rs`).
    thread_pool: RefCell<Option<ThreadPool>>,
    /// Blocked-reactor detection's threshold (`crate::blocked`); `None`: off.
    blocked_threshold: Cell<Option<Duration>>,
}

/// A handle to a reactor. Clones refer to the same reactor.
///
/// One reactor runs on one thread: [`new`](Self::new) makes it,
/// [`run`](Self::run) runs its loop until [`stop`](Self::stop), and every
/// callback it makes (timers, protocols, triggers) runs on that thread,
/// one at a time. Clone the handle into the closures that need it. A
/// reactor runs once; a second `run` is an error.
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use std::time::Duration;
///
/// use gyre::{Reactor, ReactorError};
///
/// let reactor = Reactor::new()?;
/// # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
/// # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
/// assert!(matches!(reactor.stop(), Err(ReactorError::NotRunning)), "not running yet");
///
/// let seen = Rc::new(RefCell::new(Vec::new()));
/// let (log, r) = (seen.clone(), reactor.clone());
/// reactor.call_when_running(move || {
///     log.borrow_mut().push(format!("running: {}", r.is_running()));
///     let (log, r) = (log.clone(), r.clone());
///     r.clone().call_later(Duration::from_millis(10), move || {
///         log.borrow_mut().push("10 ms later".to_string());
///         r.stop().unwrap();
///     });
/// });
///
/// reactor.run()?;
/// assert_eq!(*seen.borrow(), ["running: true", "10 ms later"]);
/// assert!(!reactor.is_running());
/// assert!(matches!(reactor.run(), Err(ReactorError::NotRestartable)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Other threads reach it through a [`ThreadHandle`]
/// ([`thread_handle`](Self::thread_handle)); futures run on it with
/// [`spawn`](Self::spawn); startup and shutdown can be hooked with
/// [`add_system_event_trigger`](Self::add_system_event_trigger).
#[derive(Clone)]
pub struct Reactor {
    pub(crate) inner: Rc<Inner>,
}

impl Reactor {
    /// Creates a reactor (a poller and a waker). It does nothing until [`run`](Self::run).
    pub fn new() -> Result<Reactor, ReactorError> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = mio::Waker::new(poll.registry(), WAKER_TOKEN)?;
        let threads = Arc::new(ThreadQueue::new(waker));
        let inner = Inner {
            registry,
            poll: RefCell::new(poll),
            sources: RefCell::new(Slab::new()),
            timers: Timers::new_real(),
            soon: RefCell::new(VecDeque::new()),
            dirty: RefCell::new(Vec::new()),
            write_bufs: RefCell::new(Vec::new()),
            read_buf: RefCell::new(vec![0; READ_BUFFER_SIZE]),
            state: Cell::new(RunState::NotStarted),
            stop_requested: Cell::new(false),
            shutting_down: Cell::new(false),
            loop_done: Cell::new(false),
            triggers: Triggers::default(),
            tasks: Tasks::new(threads.clone()),
            threads,
            signals: RefCell::new(None),
            starved: RefCell::new(Vec::new()),
            lookups: crate::resolve::Lookups::new(),
            thread_pool: RefCell::new(None),
            blocked_threshold: Cell::new(Some(crate::blocked::DEFAULT_THRESHOLD)),
        };
        Ok(Reactor {
            inner: Rc::new(inner),
        })
    }

    /// Runs the event loop until [`stop`](Self::stop) (or SIGINT / SIGTERM)
    /// and the orderly shutdown that follows. Installs handlers for SIGINT
    /// and SIGTERM that log `Received SIGINT, shutting down.` and stop.
    ///
    /// As in Twisted, SIGINT is handled only if its disposition is still
    /// the default one: a process started with SIGINT ignored (`nohup`,
    /// some supervisors, a background job of a script) or with its own
    /// SIGINT handler keeps it, and only SIGTERM (or [`stop`](Self::stop))
    /// stops the reactor.
    ///
    /// A reactor runs once: a second `run` is [`ReactorError::NotRestartable`].
    pub fn run(&self) -> Result<(), ReactorError> {
        self.run_loop(true)
    }

    /// Like [`run`](Self::run) but leaves signal handling alone (for
    /// reactors on worker threads, or embedding in a larger program).
    pub fn run_without_signals(&self) -> Result<(), ReactorError> {
        self.run_loop(false)
    }

    /// Asks the reactor to stop at the end of the current iteration.
    ///
    /// The shutdown that follows is Twisted's: the `before` shutdown
    /// triggers run (a trigger that returns a pending
    /// [`Completion`] is waited for, so services can
    /// finish what they owe); then, first thing in the `during` phase,
    /// every open connection is closed and its protocol's `connection_lost`
    /// gets [`Reason::Shutdown`](crate::Reason::Shutdown) (`Connection to
    /// the other side was lost in a non-clean fashion: Connection lost.`),
    /// and after them every port stops listening (`(TCP Port N Closed)`,
    /// `Stopping factory …`); then the other `during` triggers and the
    /// `after` ones; `run` returns after `Main loop terminated.`.
    ///
    /// [`ReactorError::NotRunning`] if it is not running or already stopping
    /// (`Can't stop reactor that isn't running.`).
    pub fn stop(&self) -> Result<(), ReactorError> {
        let inner = &self.inner;
        if inner.state.get() != RunState::Running
            || inner.stop_requested.get()
            || inner.shutting_down.get()
        {
            return Err(ReactorError::NotRunning);
        }
        inner.stop_requested.set(true);
        Ok(())
    }

    /// True between the end of startup and the end of the loop.
    pub fn is_running(&self) -> bool {
        self.inner.state.get() == RunState::Running
    }

    /// Runs `f` after `delay` on this reactor's clock. Calls due at the same
    /// time run in the order they were scheduled.
    pub fn call_later(&self, delay: Duration, f: impl FnOnce() + 'static) -> DelayedCall {
        if self.inner.blocked_threshold.get().is_some() {
            // Named, should it block the loop (`crate::blocked`).
            let name = std::any::type_name_of_val(&f);
            return self.inner.timers.call_later(
                delay,
                Box::new(move || {
                    crate::blocked::site(name, usize::MAX);
                    f()
                }),
            );
        }
        self.inner.timers.call_later(delay, Box::new(f))
    }

    /// Blocked-reactor detection: when one callback (a protocol event, a
    /// timed call, a call from a thread, a pass of futures) holds the loop
    /// longer than `threshold`, one line is logged at warning level,
    /// naming it and how long it took:
    /// `The reactor was blocked for 503 ms by data_received of Echo,0,127.0.0.1`
    /// (at most one line a second; the next says how many it left out).
    /// On by default with 100 ms; `None` turns it off. Costs one coarse
    /// clock read per readiness event while on. The time is wall-clock
    /// time: a thread the OS did not run for that long is reported too.
    pub fn set_blocked_threshold(&self, threshold: Option<Duration>) {
        self.inner.blocked_threshold.set(threshold);
        if matches!(
            self.inner.state.get(),
            RunState::Starting | RunState::Running | RunState::ShuttingDown
        ) {
            crate::blocked::set_threshold(threshold);
        }
    }

    /// The blocked-reactor threshold (`None`: detection off).
    pub fn blocked_threshold(&self) -> Option<Duration> {
        self.inner.blocked_threshold.get()
    }

    /// The pending timed calls, in firing order.
    pub fn pending_calls(&self) -> Vec<DelayedCall> {
        self.inner.timers.pending()
    }

    /// The reactor's monotonic now.
    pub fn now(&self) -> Instant {
        self.inner.timers.now()
    }

    /// Runs `f` now if the reactor is running, otherwise once startup has
    /// finished (as an after-startup trigger).
    pub fn call_when_running(&self, f: impl FnOnce() + 'static) {
        if self.is_running() {
            if let Err(msg) = guarded(f) {
                log_panic("call_when_running", &msg);
            }
        } else {
            let mut f = Some(f);
            self.add_system_event_trigger(Phase::After, SystemEvent::Startup, move || {
                if let Some(f) = f.take() {
                    f();
                }
                None
            });
        }
    }

    /// Registers `f` to run in `phase` of `event`. A before-trigger may return
    /// `Some(completion)` to hold the event until the completion fires (a
    /// before-shutdown trigger that flushes something, say).
    ///
    /// Here a before-shutdown trigger holds the shutdown for 20 ms of
    /// cleanup, and a removed trigger never runs:
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use std::time::Duration;
    ///
    /// use gyre::{Completion, Phase, Reactor, SystemEvent};
    ///
    /// let reactor = Reactor::new()?;
    /// # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
    /// # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
    /// let seen = Rc::new(RefCell::new(Vec::new()));
    ///
    /// let log = seen.clone();
    /// reactor.add_system_event_trigger(Phase::After, SystemEvent::Startup, move || {
    ///     log.borrow_mut().push("started");
    ///     None
    /// });
    /// let (log, r) = (seen.clone(), reactor.clone());
    /// reactor.add_system_event_trigger(Phase::Before, SystemEvent::Shutdown, move || {
    ///     log.borrow_mut().push("cleaning up");
    ///     let done = Completion::new();
    ///     let (log, finished) = (log.clone(), done.clone());
    ///     r.call_later(Duration::from_millis(20), move || {
    ///         log.borrow_mut().push("clean");
    ///         finished.complete();
    ///     });
    ///     Some(done) // the shutdown waits for this
    /// });
    /// let log = seen.clone();
    /// reactor.add_system_event_trigger(Phase::After, SystemEvent::Shutdown, move || {
    ///     log.borrow_mut().push("stopped");
    ///     None
    /// });
    /// let log = seen.clone();
    /// let unwanted = reactor.add_system_event_trigger(Phase::During, SystemEvent::Shutdown, move || {
    ///     log.borrow_mut().push("removed, never runs");
    ///     None
    /// });
    /// assert!(reactor.remove_system_event_trigger(unwanted));
    ///
    /// let r = reactor.clone();
    /// reactor.call_when_running(move || r.stop().unwrap());
    /// reactor.run()?;
    /// assert_eq!(*seen.borrow(), ["started", "cleaning up", "clean", "stopped"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_system_event_trigger(
        &self,
        phase: Phase,
        event: SystemEvent,
        f: impl FnMut() -> Option<Completion> + 'static,
    ) -> TriggerId {
        self.inner.triggers.add(phase, event, Box::new(f))
    }

    /// Removes a trigger; false if it is unknown or already ran.
    pub fn remove_system_event_trigger(&self, id: TriggerId) -> bool {
        self.inner.triggers.remove(id)
    }

    /// A `Send` handle for calling into this reactor from other threads.
    ///
    /// Blocking work goes to a thread of its own; its result comes back
    /// with [`ThreadHandle::call_from_thread`], whose closure runs on the
    /// reactor's thread:
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    ///
    /// use gyre::Reactor;
    ///
    /// let reactor = Reactor::new()?;
    /// # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
    /// # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
    /// let handle = reactor.thread_handle();
    /// let answer = Arc::new(Mutex::new(None));
    /// let slot = answer.clone();
    /// let worker = std::thread::spawn(move || {
    ///     let sum: u64 = (1..=1000).sum(); // the blocking part
    ///     handle.call_from_thread(move |reactor| {
    ///         *slot.lock().unwrap() = Some((sum, std::thread::current().id()));
    ///         reactor.stop().unwrap();
    ///     });
    /// });
    /// reactor.run()?;
    /// worker.join().unwrap();
    ///
    /// let (sum, ran_on) = answer.lock().unwrap().take().expect("the call ran");
    /// assert_eq!(sum, 500_500);
    /// assert_eq!(ran_on, std::thread::current().id(), "on the reactor's thread");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// The reactor itself cannot cross to another thread; the handle is the
    /// way in:
    ///
    /// ```compile_fail,E0277
    /// let reactor = gyre::Reactor::new().unwrap();
    /// // error[E0277]: `Rc<gyre::reactor::Inner>` cannot be sent between threads safely
    /// std::thread::spawn(move || reactor.stop());
    /// ```
    pub fn thread_handle(&self) -> ThreadHandle {
        ThreadHandle {
            queue: self.inner.threads.clone(),
        }
    }

    /// Runs `future` on this reactor's thread and returns a Deferred of its
    /// output. The future need not be `Send`; it is polled between I/O
    /// dispatches like any other callback, and a panic inside it fails the
    /// Deferred with a [`PanicError`]. Cancelling the Deferred drops the
    /// future (it is not polled again) and fails the Deferred with
    /// `CancelledError`. Dropping the Deferred does not stop the future.
    ///
    /// Futures spawned before [`run`](Self::run) start when the loop does.
    ///
    /// ```
    /// use std::time::Duration;
    /// use gyre::testing::{failure_result_of_type, success_result_of};
    /// use gyre::deferred::CancelledError;
    /// use gyre::Reactor;
    ///
    /// let reactor = Reactor::new()?;
    /// # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
    /// # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
    /// let r = reactor.clone();
    /// let answer = reactor.spawn(async move {
    ///     r.sleep(Duration::from_millis(10)).await.unwrap();
    ///     r.stop().unwrap();
    ///     6 * 7
    /// });
    /// let never = reactor.spawn(std::future::pending::<()>());
    /// never.cancel(); // the future is dropped, never polled again
    /// reactor.run()?;
    ///
    /// assert_eq!(success_result_of(&answer), 42);
    /// failure_result_of_type::<CancelledError>(&never);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn<F>(&self, future: F) -> Deferred<F::Output>
    where
        F: Future + 'static,
    {
        let id_cell = Rc::new(Cell::new(None::<(usize, u64)>));
        let weak = self.downgrade();
        let id_for_cancel = id_cell.clone();
        let d = Deferred::with_canceller(move |_| {
            if let (Some(reactor), Some(id)) = (Reactor::from_weak(&weak), id_for_cancel.get()) {
                reactor.inner.tasks.cancel(id);
            }
        });
        let fire = d.clone();
        let task = Box::pin(Spawned {
            future: Box::pin(future),
            deferred: Some(fire),
            name: std::any::type_name::<F>(),
        });
        id_cell.set(Some(self.inner.tasks.spawn(task)));
        d
    }

    /// Like [`spawn`](Self::spawn) for a future that returns a `Result`:
    /// `Err` fails the Deferred (Twisted's `ensureDeferred`).
    pub fn spawn_fallible<T, E, F>(&self, future: F) -> Deferred<T>
    where
        T: 'static,
        E: Into<Failure> + 'static,
        F: Future<Output = Result<T, E>> + 'static,
    {
        let inner = self.spawn(future);
        let task = inner.clone();
        let out: Deferred<T> = Deferred::with_canceller(move |_| task.cancel());
        let fire = out.clone();
        inner.consume(move |r| {
            let _ = fire.fire(r.and_then(|v| v.map_err(Into::into)));
        });
        out
    }

    /// A Deferred that fires after `delay`; `.await` it to pause a future
    /// spawned on this reactor. See [`deferred::sleep`](crate::deferred::sleep).
    pub fn sleep(&self, delay: Duration) -> Deferred<()> {
        crate::deferred::sleep(self, delay)
    }

    /// How many spawned futures have not finished.
    pub fn pending_tasks(&self) -> usize {
        self.inner.tasks.len()
    }

    pub(crate) fn downgrade(&self) -> Weak<Inner> {
        Rc::downgrade(&self.inner)
    }

    pub(crate) fn from_weak(weak: &Weak<Inner>) -> Option<Reactor> {
        weak.upgrade().map(|inner| Reactor { inner })
    }

    fn run_loop(&self, install_signals: bool) -> Result<(), ReactorError> {
        match self.inner.state.get() {
            RunState::NotStarted => {}
            RunState::Starting | RunState::Running | RunState::ShuttingDown => {
                return Err(ReactorError::AlreadyRunning);
            }
            RunState::Stopped => return Err(ReactorError::NotRestartable),
        }
        self.inner.state.set(RunState::Starting);
        if install_signals {
            match signals::Signals::install(&self.inner.registry, SIGNAL_TOKEN) {
                Ok(sigs) => *self.inner.signals.borrow_mut() = Some(sigs),
                Err(e) => {
                    self.inner.state.set(RunState::NotStarted);
                    return Err(e.into());
                }
            }
        }
        let weak = self.downgrade();
        let previous_resolver = crate::log::set_source_resolver(Some(Rc::new(move |token| {
            let inner = weak.upgrade()?;
            let source = inner.sources.try_borrow().ok()?.get(token).cloned()?;
            source.log_system()
        })));
        crate::blocked::set_threshold(self.inner.blocked_threshold.get());
        self.fire_event(SystemEvent::Startup);
        let mut events = Events::with_capacity(1024);
        let result = loop {
            if let Err(e) = self.iteration(&mut events) {
                break Err(e);
            }
            if self.inner.loop_done.get() {
                break Ok(());
            }
        };
        crate::blocked::stop();
        self.finish();
        crate::log::set_source_resolver(previous_resolver);
        result.map_err(ReactorError::Io)
    }

    fn iteration(&self, events: &mut Events) -> io::Result<()> {
        let inner = &self.inner;
        budget::reset();
        for call in inner.threads.take() {
            let _ctx = crate::log::enter_none();
            if let Err(msg) = guarded(|| call(self)) {
                log_failure("while calling from thread", &msg);
            }
            crate::blocked::lap(|site, token| self.describe(site, token, "a call from a thread"));
        }
        let batch = inner.soon.borrow().len();
        for _ in 0..batch {
            let next = inner.soon.borrow_mut().pop_front();
            match next {
                Some(f) => {
                    // Each queued call (a resumed read, a continued burst)
                    // gets a turn's budget of its own.
                    budget::reset();
                    if let Err(msg) = guarded(f) {
                        log_panic("reactor call", &msg);
                    }
                    crate::blocked::lap(|site, token| self.describe(site, token, "a queued call"));
                }
                None => break,
            }
        }
        budget::reset();
        inner.timers.run_due(inner.timers.now(), true, true);
        inner.tasks.run_woken();
        self.flush_queued();
        if inner.stop_requested.get() && !inner.shutting_down.get() {
            inner.stop_requested.set(false);
            inner.shutting_down.set(true);
            self.fire_event(SystemEvent::Shutdown);
        }
        crate::blocked::lap(|site, token| {
            self.describe(
                site,
                token,
                "a spawned future, queued output or a shutdown trigger",
            )
        });
        if inner.loop_done.get() {
            return Ok(());
        }
        let timeout = self.poll_timeout();
        {
            let mut poll = inner.poll.borrow_mut();
            match poll.poll(events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        // Waiting is not blocking.
        crate::blocked::restart();
        // Output queued by the batch's callbacks goes out once, after the
        // whole batch (a connection written to by every speaker of a room
        // gets one write call, not one per speaker), or sooner once a
        // turn's budget of it has piled up.
        for ev in events.iter() {
            budget::reset();
            self.dispatch(ev.token(), Ready::from_event(ev));
            if budget::flush_due() {
                self.flush_queued();
            }
            crate::blocked::lap(|site, token| {
                let token = if token == usize::MAX {
                    ev.token().0
                } else {
                    token
                };
                self.describe(site, token, "a readiness event")
            });
        }
        // Its time counts in the next iteration's last unit.
        self.flush_queued();
        Ok(())
    }

    /// What a blocking unit of the loop was, for `crate::blocked`: the
    /// protocol callback `site` and the log system of source `token`, a
    /// timed call's function, or `otherwise`.
    #[cold]
    fn describe(&self, site: &str, token: usize, otherwise: &str) -> String {
        let system = self
            .inner
            .sources
            .try_borrow()
            .ok()
            .and_then(|s| s.get(token).cloned())
            .and_then(|s| s.log_system());
        match (site, system) {
            ("", Some(system)) => format!("{otherwise} of {system}"),
            ("", None) => otherwise.to_string(),
            (site, Some(system)) => format!("{site} of {system}"),
            (site, None) if token == usize::MAX => format!("the timed call {site}"),
            (site, None) if token == crate::blocked::FUTURE => format!("the future {site}"),
            (site, None) if token == crate::blocked::THREAD_RESULT => {
                format!("the callbacks of the Deferred of defer_to_thread({site})")
            }
            (site, None) => format!("{site} of a connection since closed"),
        }
    }

    fn poll_timeout(&self) -> Option<Duration> {
        let inner = &self.inner;
        if !inner.soon.borrow().is_empty()
            || !inner.dirty.borrow().is_empty()
            || inner.stop_requested.get()
            || inner.threads.has_calls()
            || inner.tasks.has_woken()
        {
            return Some(Duration::ZERO);
        }
        inner.timers.next_deadline().map(|deadline| {
            deadline
                .saturating_duration_since(inner.timers.now())
                .min(MAX_POLL_TIMEOUT)
        })
    }

    fn dispatch(&self, token: Token, ready: Ready) {
        match token {
            WAKER_TOKEN => {}
            SIGNAL_TOKEN => self.handle_signals(),
            Token(key) => {
                let source = self.inner.sources.borrow().get(key).cloned();
                if let Some(source) = source {
                    source.ready(key, ready);
                }
            }
        }
    }

    fn handle_signals(&self) {
        let received = match &mut *self.inner.signals.borrow_mut() {
            Some(sigs) => sigs.pending(),
            None => Vec::new(),
        };
        for name in received {
            log::info!(target: "gyre::reactor", "Received {name}, shutting down.");
            if let Err(e) = self.stop() {
                log::error!(target: "gyre::reactor", "Unhandled Error\nwhile handling {name}: {e}");
            }
        }
    }

    /// Fires `event`: before-triggers now; during and after once every
    /// completion a before-trigger handed back has fired.
    fn fire_event(&self, event: SystemEvent) {
        let waits = self.inner.triggers.run_phase(Phase::Before, event);
        let all = Completion::all(waits);
        if all.is_complete() {
            self.finish_event(event);
        } else {
            let weak = self.downgrade();
            all.on_complete(move || {
                if let Some(reactor) = Reactor::from_weak(&weak) {
                    let r2 = reactor.clone();
                    reactor.call_soon(move || r2.finish_event(event));
                }
            });
        }
    }

    fn finish_event(&self, event: SystemEvent) {
        match event {
            SystemEvent::Startup => {
                self.inner.state.set(RunState::Running);
                self.inner.triggers.run_phase(Phase::During, event);
            }
            SystemEvent::Shutdown => {
                // Twisted's crash(): the loop ends after this pass and the
                // reactor no longer counts as running.
                self.inner.state.set(RunState::ShuttingDown);
                self.inner.loop_done.set(true);
                self.disconnect_all();
                self.inner.triggers.run_phase(Phase::During, event);
            }
        }
        self.inner.triggers.run_phase(Phase::After, event);
    }

    /// Shuts down every source: connections and connecting sockets first,
    /// then ports (during shutdown); pending name lookups fail before
    /// anything else, with `ConnectError::Shutdown`, so a connector still
    /// resolving fails as a connecting one does. Twisted promises no order
    /// here; gyre closes ports last so a factory is never stopped while its
    /// protocols still run.
    fn disconnect_all(&self) {
        self.inner.lookups.shut_down();
        let all: Vec<Rc<dyn Source>> = self
            .inner
            .sources
            .borrow()
            .iter()
            .map(|(_, s)| s.clone())
            .collect();
        let (last, first): (Vec<_>, Vec<_>) = all.into_iter().partition(|s| s.shuts_down_last());
        for source in first.into_iter().chain(last) {
            source.shutdown();
        }
    }

    /// Ends the run: logs, drops everything that could hold the reactor alive.
    fn finish(&self) {
        let inner = &self.inner;
        inner.state.set(RunState::Stopped);
        if let Some(sigs) = inner.signals.borrow_mut().take() {
            sigs.uninstall(&inner.registry);
        }
        log::info!(target: "gyre::reactor", "Main loop terminated.");
        inner.threads.close();
        let sources: Vec<Rc<dyn Source>> = inner.sources.borrow_mut().drain().collect();
        drop(sources);
        for call in inner.timers.pending() {
            let _ = call.cancel();
        }
        let soon: Vec<_> = inner.soon.borrow_mut().drain(..).collect();
        drop(soon);
        let dirty: Vec<_> = inner.dirty.borrow_mut().drain(..).collect();
        drop(dirty);
        inner.write_bufs.borrow_mut().clear();
        inner.tasks.clear();
        let starved: Vec<_> = inner.starved.borrow_mut().drain(..).collect();
        drop(starved);
        inner.lookups.close();
        // Stopped by its shutdown trigger, unless the loop ended otherwise.
        let pool = inner.thread_pool.borrow_mut().take();
        if let Some(pool) = pool {
            pool.stop();
        }
    }

    // ----- crate-internal services for the sources (see `source.rs`) -----

    /// Runs `f` at the start of the next iteration (never synchronously).
    pub(crate) fn call_soon(&self, f: impl FnOnce() + 'static) {
        self.inner.soon.borrow_mut().push_back(Box::new(f));
    }

    /// Has `source.flush()` called at the end of the current turn: after
    /// the batch of readiness events being dispatched (or sooner, once a
    /// turn's budget of output has piled up), or, for output queued by
    /// timers and other calls, before the reactor next waits. A source
    /// queues itself once per turn however many writes it takes, so its
    /// output goes out in one write call.
    pub(crate) fn queue_flush(&self, source: Rc<dyn Source>) {
        self.inner.dirty.borrow_mut().push(source);
    }

    /// Flushes the sources queued so far. Output queued while this runs
    /// (a producer resumed by a drain) waits for the next flush, so a pass
    /// is bounded; the reactor does not wait while any is queued.
    #[inline]
    fn flush_queued(&self) {
        budget::flushed();
        if !self.inner.dirty.borrow().is_empty() {
            self.flush_dirty();
        }
    }

    #[cold]
    fn flush_dirty(&self) {
        let queued = std::mem::take(&mut *self.inner.dirty.borrow_mut());
        for source in queued {
            source.flush();
        }
    }

    /// A write buffer to queue output in: an emptied one from the pool, or
    /// a new one.
    pub(crate) fn take_write_buf(&self) -> Vec<u8> {
        self.inner.write_bufs.borrow_mut().pop().unwrap_or_default()
    }

    /// Returns an emptied write buffer to the pool (up to
    /// [`POOLED_WRITE_BUFS`] buffers of at most [`POOLED_WRITE_BUF_SIZE`]
    /// bytes are kept; others are freed).
    pub(crate) fn put_write_buf(&self, mut buf: Vec<u8>) {
        if buf.capacity() > POOLED_WRITE_BUF_SIZE {
            return;
        }
        let mut pool = self.inner.write_bufs.borrow_mut();
        if pool.len() < POOLED_WRITE_BUFS {
            buf.clear();
            pool.push(buf);
        }
    }

    /// Registers `io` with `interest` (edge-triggered) and stores
    /// `make(token)` under its token.
    pub(crate) fn register<S: mio::event::Source + ?Sized>(
        &self,
        io: &mut S,
        interest: Interest,
        make: impl FnOnce(usize) -> Rc<dyn Source>,
    ) -> io::Result<usize> {
        let mut sources = self.inner.sources.borrow_mut();
        let entry = sources.vacant_entry();
        let token = entry.key();
        self.inner.registry.register(io, Token(token), interest)?;
        entry.insert(make(token));
        Ok(token)
    }

    /// Replaces what a token refers to (a connecting socket becoming a connection).
    pub(crate) fn replace_source(&self, token: usize, source: Rc<dyn Source>) {
        if let Some(slot) = self.inner.sources.borrow_mut().get_mut(token) {
            *slot = source;
        }
    }

    /// Deregisters `io` and forgets its token.
    pub(crate) fn deregister<S: mio::event::Source + ?Sized>(&self, io: &mut S, token: usize) {
        let _ = self.inner.registry.deregister(io);
        let removed = self.inner.sources.borrow_mut().try_remove(token);
        drop(removed);
    }

    /// Forgets a token whose socket is already closed.
    pub(crate) fn forget(&self, token: usize) {
        let removed = self.inner.sources.borrow_mut().try_remove(token);
        drop(removed);
    }

    /// Takes the shared read buffer (a fresh one if it is already out).
    pub(crate) fn take_read_buf(&self) -> Vec<u8> {
        let buf = std::mem::take(&mut *self.inner.read_buf.borrow_mut());
        if buf.is_empty() {
            vec![0; READ_BUFFER_SIZE]
        } else {
            buf
        }
    }

    /// Returns the shared read buffer.
    pub(crate) fn put_read_buf(&self, buf: Vec<u8>) {
        *self.inner.read_buf.borrow_mut() = buf;
    }

    /// Runs `retry` soon after any source of this reactor frees a
    /// descriptor (a source that ran out of them, such as a port whose
    /// accept failed with `EMFILE`, waits this way).
    pub(crate) fn when_descriptor_freed(&self, retry: impl FnOnce() + 'static) {
        self.inner.starved.borrow_mut().push(Box::new(retry));
    }

    /// A descriptor was freed: the retries waiting for one run soon.
    pub(crate) fn descriptor_freed(&self) {
        if self.inner.starved.borrow().is_empty() {
            return;
        }
        let waiting: Vec<_> = self.inner.starved.borrow_mut().drain(..).collect();
        for retry in waiting {
            self.call_soon(retry);
        }
    }
}

/// A spawned future, firing its Deferred when done and catching its panics.
struct Spawned<F: Future + 'static> {
    future: std::pin::Pin<Box<F>>,
    deferred: Option<Deferred<F::Output>>,
    /// The future's type, named should a poll block the loop.
    name: &'static str,
}

impl<F: Future + 'static> Future for Spawned<F> {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        let this = &mut *self;
        crate::blocked::site(this.name, crate::blocked::FUTURE);
        match guarded(|| this.future.as_mut().poll(cx)) {
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Ok(std::task::Poll::Ready(value)) => {
                if let Some(d) = this.deferred.take() {
                    let _ = d.callback(value);
                }
                std::task::Poll::Ready(())
            }
            Err(message) => {
                if let Some(d) = this.deferred.take() {
                    let _ = d.errback(PanicError { message });
                }
                std::task::Poll::Ready(())
            }
        }
    }
}

impl Clock for Reactor {
    fn now(&self) -> Instant {
        self.inner.timers.now()
    }

    fn call_later_boxed(&self, delay: Duration, f: Box<dyn FnOnce()>) -> DelayedCall {
        self.inner.timers.call_later(delay, f)
    }

    fn pending_calls(&self) -> Vec<DelayedCall> {
        self.inner.timers.pending()
    }
}

impl fmt::Debug for Reactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reactor")
            .field("state", &self.inner.state.get())
            .field("sources", &self.inner.sources.borrow().len())
            .field("timers", &self.inner.timers.len())
            .finish()
    }
}
