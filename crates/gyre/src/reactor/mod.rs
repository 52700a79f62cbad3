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
//! 6. dispatch readiness to ports, connections and connectors.
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
//! down.` and stop the reactor.
//!
//! Several cores: [`ReactorPool`] runs one reactor per thread over the same
//! listening ports (`pool.rs`).
//!
//! Tests: `tests/reactor.rs` (lifecycle, triggers, timers, threads),
//! `tests/signals.rs` and `tests/pool.rs`.

mod pool;
mod signals;
mod tasks;
mod threads;
mod triggers;

use std::any::Any;
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
use crate::connector::Connector;
use crate::deferred::{Deferred, Failure, PanicError};
use crate::error::{ListenError, ReactorError};
use crate::factory::{ClientFactory, Factory, Shared};
use crate::log::{guarded, log_failure, log_panic};
use crate::tcp::{
    self, Connection, ListeningPort, Port, TcpConnectOptions, TcpConnector, TcpListenOptions,
};
use crate::time::{Clock, DelayedCall, Timers};

pub use pool::{PoolError, PoolStopper, ReactorPool, RunningPool, Worker};
pub use threads::ThreadHandle;
pub use triggers::{Phase, SystemEvent, TriggerId};

use tasks::Tasks;
use threads::ThreadQueue;
use triggers::Triggers;

const WAKER_TOKEN: Token = Token(usize::MAX - 1);
const SIGNAL_TOKEN: Token = Token(usize::MAX - 2);
/// Size of the one read buffer a reactor shares between all its connections.
pub(crate) const READ_BUFFER_SIZE: usize = 64 * 1024;
/// Twisted caps the poll timeout at this many seconds.
const MAX_POLL_TIMEOUT: Duration = Duration::from_secs(2_147_483);

/// A continuation waiting for a helper thread's result.
type Parked = Box<dyn FnOnce(Box<dyn Any + Send>)>;

/// Something registered with the poller, found by its token.
#[derive(Clone)]
pub(crate) enum Source {
    Port(Rc<Port>),
    Conn(Rc<Connection>),
    Connecting(Rc<TcpConnector>),
}

/// One readiness event, as the connection and connector code reads it.
#[derive(Debug, Clone, Copy)]
struct Ready {
    token: usize,
    readable: bool,
    writable: bool,
    read_closed: bool,
}

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
    /// Ports, connections and connecting sockets, keyed by their mio token.
    sources: RefCell<Slab<Source>>,
    /// Timed calls.
    timers: Timers,
    /// Calls to run at the start of the next iteration.
    soon: RefCell<VecDeque<Box<dyn FnOnce()>>>,
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
    /// Continuations waiting for work done on helper threads, by key.
    parked: RefCell<Slab<Parked>>,
    /// Futures spawned on this reactor.
    tasks: Tasks,
    /// Ports whose accept failed for lack of descriptors; retried when a
    /// connection closes.
    starved_ports: RefCell<Vec<Weak<Port>>>,
}

/// A handle to a reactor. Clones refer to the same reactor.
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
            read_buf: RefCell::new(vec![0; READ_BUFFER_SIZE]),
            state: Cell::new(RunState::NotStarted),
            stop_requested: Cell::new(false),
            shutting_down: Cell::new(false),
            loop_done: Cell::new(false),
            triggers: Triggers::default(),
            tasks: Tasks::new(threads.clone()),
            threads,
            signals: RefCell::new(None),
            starved_ports: RefCell::new(Vec::new()),
            parked: RefCell::new(Slab::new()),
        };
        Ok(Reactor {
            inner: Rc::new(inner),
        })
    }

    /// Runs the event loop until [`stop`](Self::stop) (or SIGINT / SIGTERM)
    /// and the orderly shutdown that follows. Installs handlers for SIGINT
    /// and SIGTERM that log `Received SIGINT, shutting down.` and stop.
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
        self.inner.timers.call_later(delay, Box::new(f))
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
    pub fn thread_handle(&self) -> ThreadHandle {
        ThreadHandle {
            queue: self.inner.threads.clone(),
        }
    }

    /// Listens for TCP connections on `port` of all IPv4 interfaces
    /// (port 0 picks a free port), with a backlog of [1024](TcpListenOptions::DEFAULT_BACKLOG).
    ///
    /// Logs `<Factory> starting on <port>`, then `Starting factory <…>` the
    /// first time this factory is used.
    pub fn listen_tcp<F: Factory>(
        &self,
        port: u16,
        factory: impl Into<Shared<F>>,
    ) -> Result<ListeningPort, ListenError> {
        self.listen_tcp_with(port, factory, TcpListenOptions::default())
    }

    /// [`listen_tcp`](Self::listen_tcp) with a backlog and interface.
    pub fn listen_tcp_with<F: Factory>(
        &self,
        port: u16,
        factory: impl Into<Shared<F>>,
        options: TcpListenOptions,
    ) -> Result<ListeningPort, ListenError> {
        let factory = factory.into();
        tcp::listen(self, port, factory.erased(), options)
    }

    /// Connects to `host:port` (an IP literal, or a name resolved off the
    /// reactor thread), with a 30-second timeout.
    ///
    /// `started_connecting` runs before this returns; the rest of the
    /// [`ClientFactory`] callbacks follow on later turns.
    pub fn connect_tcp<F: ClientFactory>(
        &self,
        host: &str,
        port: u16,
        factory: impl Into<Shared<F>>,
    ) -> Connector {
        self.connect_tcp_with(host, port, factory, TcpConnectOptions::default())
    }

    /// [`connect_tcp`](Self::connect_tcp) with a timeout and bind address.
    pub fn connect_tcp_with<F: ClientFactory>(
        &self,
        host: &str,
        port: u16,
        factory: impl Into<Shared<F>>,
        options: TcpConnectOptions,
    ) -> Connector {
        let factory = factory.into();
        tcp::connect(self, host, port, factory.erased_client(), options)
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
    /// use gyre::Reactor;
    ///
    /// let reactor = Reactor::new().unwrap();
    /// let r = reactor.clone();
    /// reactor.spawn(async move {
    ///     r.sleep(Duration::from_millis(10)).await.unwrap();
    ///     r.stop().unwrap();
    /// });
    /// reactor.run().unwrap();
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
        self.finish();
        result.map_err(ReactorError::Io)
    }

    fn iteration(&self, events: &mut Events) -> io::Result<()> {
        let inner = &self.inner;
        for call in inner.threads.take() {
            let _ctx = crate::log::enter_none();
            if let Err(msg) = guarded(|| call(self)) {
                log_failure("while calling from thread", &msg);
            }
        }
        let batch = inner.soon.borrow().len();
        for _ in 0..batch {
            let next = inner.soon.borrow_mut().pop_front();
            match next {
                Some(f) => {
                    if let Err(msg) = guarded(f) {
                        log_panic("reactor call", &msg);
                    }
                }
                None => break,
            }
        }
        inner.timers.run_due(inner.timers.now(), true, true);
        inner.tasks.run_woken();
        if inner.stop_requested.get() && !inner.shutting_down.get() {
            inner.stop_requested.set(false);
            inner.shutting_down.set(true);
            self.fire_event(SystemEvent::Shutdown);
        }
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
        for ev in events.iter() {
            self.dispatch(&Ready {
                token: ev.token().0,
                readable: ev.is_readable() || ev.is_read_closed() || ev.is_error(),
                writable: ev.is_writable() || ev.is_write_closed() || ev.is_error(),
                read_closed: ev.is_read_closed() || ev.is_error(),
            });
        }
        Ok(())
    }

    fn poll_timeout(&self) -> Option<Duration> {
        let inner = &self.inner;
        if !inner.soon.borrow().is_empty()
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

    fn dispatch(&self, ready: &Ready) {
        let token = ready.token;
        match Token(token) {
            WAKER_TOKEN => {}
            SIGNAL_TOKEN => self.handle_signals(),
            _ => {
                let source = self.inner.sources.borrow().get(token).cloned();
                match source {
                    Some(Source::Port(port)) => port.accept_ready(),
                    Some(Source::Conn(conn)) => {
                        conn.ready(ready.readable, ready.writable, ready.read_closed)
                    }
                    Some(Source::Connecting(connector)) => {
                        connector.connect_ready(token, ready.read_closed)
                    }
                    None => {}
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

    /// Closes every connection and connecting socket, then every port
    /// (during shutdown). Twisted promises no order here; gyre closes ports
    /// last so a factory is never stopped while its protocols still run.
    fn disconnect_all(&self) {
        let all: Vec<Source> = self
            .inner
            .sources
            .borrow()
            .iter()
            .map(|(_, s)| s.clone())
            .collect();
        let (ports, others): (Vec<Source>, Vec<Source>) =
            all.into_iter().partition(|s| matches!(s, Source::Port(_)));
        for source in others.into_iter().chain(ports) {
            match source {
                Source::Conn(conn) => conn.shutdown(),
                Source::Port(port) => port.close_now(),
                Source::Connecting(connector) => connector.shutdown(),
            }
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
        let sources: Vec<Source> = inner.sources.borrow_mut().drain().collect();
        drop(sources);
        for call in inner.timers.pending() {
            let _ = call.cancel();
        }
        let soon: Vec<_> = inner.soon.borrow_mut().drain(..).collect();
        drop(soon);
        inner.tasks.clear();
        inner.starved_ports.borrow_mut().clear();
        let parked: Vec<_> = inner.parked.borrow_mut().drain().collect();
        drop(parked);
    }

    // ----- crate-internal services for ports, connections and connectors -----

    /// Runs `f` at the start of the next iteration (never synchronously).
    pub(crate) fn call_soon(&self, f: impl FnOnce() + 'static) {
        self.inner.soon.borrow_mut().push_back(Box::new(f));
    }

    /// Registers `io` for read and write readiness (edge-triggered) and
    /// stores `make(token)` under its token.
    pub(crate) fn register<S: mio::event::Source>(
        &self,
        io: &mut S,
        interest: Interest,
        make: impl FnOnce(usize) -> Source,
    ) -> io::Result<usize> {
        let mut sources = self.inner.sources.borrow_mut();
        let entry = sources.vacant_entry();
        let token = entry.key();
        self.inner.registry.register(io, Token(token), interest)?;
        entry.insert(make(token));
        Ok(token)
    }

    /// Replaces what a token refers to (a connecting socket becoming a connection).
    pub(crate) fn replace_source(&self, token: usize, source: Source) {
        if let Some(slot) = self.inner.sources.borrow_mut().get_mut(token) {
            *slot = source;
        }
    }

    /// Deregisters `io` and forgets its token.
    pub(crate) fn deregister<S: mio::event::Source>(&self, io: &mut S, token: usize) {
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

    /// Runs `work` on a new helper thread and `done(result)` back on the
    /// reactor thread. If the reactor finishes first, `done` is dropped.
    pub(crate) fn run_in_thread<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
        done: impl FnOnce(T) + 'static,
    ) {
        let key =
            self.inner
                .parked
                .borrow_mut()
                .insert(Box::new(move |any: Box<dyn Any + Send>| {
                    if let Ok(value) = any.downcast::<T>() {
                        done(*value);
                    }
                }));
        let handle = self.thread_handle();
        let spawned = std::thread::Builder::new()
            .name("gyre-resolver".into())
            .spawn(move || {
                let value = work();
                handle.call_from_thread(move |reactor| reactor.unpark(key, Box::new(value)));
            });
        if spawned.is_err() {
            let removed = self.inner.parked.borrow_mut().try_remove(key);
            drop(removed);
            log::error!(target: "gyre::reactor", "Unhandled Error\ncould not start a helper thread");
        }
    }

    fn unpark(&self, key: usize, value: Box<dyn Any + Send>) {
        let parked = self.inner.parked.borrow_mut().try_remove(key);
        if let Some(f) = parked {
            f(value);
        }
    }

    pub(crate) fn add_starved_port(&self, port: &Rc<Port>) {
        self.inner
            .starved_ports
            .borrow_mut()
            .push(Rc::downgrade(port));
    }

    /// A descriptor was freed: ports that ran out retry their accept soon.
    pub(crate) fn descriptor_freed(&self) {
        if self.inner.starved_ports.borrow().is_empty() {
            return;
        }
        let ports: Vec<Weak<Port>> = self.inner.starved_ports.borrow_mut().drain(..).collect();
        for port in ports.into_iter().filter_map(|p| p.upgrade()) {
            self.call_soon(move || port.accept_ready());
        }
    }
}

/// A spawned future, firing its Deferred when done and catching its panics.
struct Spawned<F: Future + 'static> {
    future: std::pin::Pin<Box<F>>,
    deferred: Option<Deferred<F::Output>>,
}

impl<F: Future + 'static> Future for Spawned<F> {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        let this = &mut *self;
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
