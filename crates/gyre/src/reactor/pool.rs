//! Multi-core: one reactor per thread, all listening on the same ports.
//!
//! See [`ReactorPool`]. Tests: `tests/pool.rs`; the `gyre` command's
//! `--threads` (`crates/gyre-cli/tests/threads.rs`).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

use super::{Reactor, ThreadHandle};
use crate::error::ReactorError;
use crate::port::ListeningPort;

/// Runs one reactor per thread over the same listening ports.
///
/// A reactor is single-threaded; to use more cores, [`ReactorPool`] runs `N`
/// reactors on `N` threads (named `gyre-reactor-0` …). Each thread creates
/// its own [`Reactor`] and calls the one `setup` closure (`Send + Sync`,
/// shared by reference) with it, so every thread builds its own factories
/// and opens its own listening sockets. Nothing is shared between the
/// reactors unless `setup` shares it (behind a lock or an atomic, since it
/// crosses threads). Sockets opened with [`Worker::listen_tcp`] set
/// `SO_REUSEPORT`, so the kernel spreads incoming connections across the
/// threads (Linux hashes each connection's address pair to one socket); a
/// connection stays on the reactor that accepted it.
///
/// Port 0: thread 0 is set up first, alone. The port each of its
/// [`Worker::listen_tcp`] (or [`Worker::share_port`]) calls got is handed to
/// the other threads, whose matching calls (the first with the first, and so
/// on) bind that same port. The other threads are then set up together.
/// Only when every setup has succeeded do the reactors start running; if any
/// setup fails, none runs and the first failure (by thread index) is
/// returned.
///
/// Shutdown: [`RunningPool::wait`] (or [`ReactorPool::run`]) blocks until
/// SIGINT or SIGTERM (logged on the calling thread as `Received SIGTERM,
/// shutting down.`, when the pool handles signals; SIGINT only if the
/// process did not start with it ignored or handled, as for
/// [`Reactor::run`](crate::Reactor::run)), a [`PoolStopper::stop`],
/// or one reactor ending by itself. It then stops every reactor through its
/// [`ThreadHandle`]; each performs its normal orderly shutdown (connections,
/// then ports, then `Main loop terminated.`), and the threads are joined in
/// index order. A reactor that failed, or a thread that panicked, is
/// reported as a [`PoolError`] after all threads have been joined.
///
/// Log lines written on a pool thread carry its index in their system
/// ([`crate::log::system`]): `Echo,0,127.0.0.1,reactor-1`, or `reactor-1`
/// outside any connection.
///
/// Like the reactor's own handlers, the pool's SIGINT/SIGTERM handlers stay
/// installed process-wide once the pool has ended. `SO_REUSEPORT` lets any
/// process of the same user bind the same port, as on every Linux server
/// that uses it.
///
/// ```no_run
/// use gyre::{for_protocol, Protocol, ReactorPool, TcpListenOptions, Transport};
///
/// struct Echo;
/// impl Protocol for Echo {
///     fn data_received(&mut self, t: &Transport, data: &[u8]) {
///         t.write(data);
///     }
/// }
///
/// // Four reactors on four threads, each with its own factory and its own
/// // socket on port 8000; Ctrl-C stops them all in order.
/// ReactorPool::new(4).run(|reactor, worker| {
///     worker.listen_tcp(reactor, 8000, for_protocol(|| Echo), TcpListenOptions::default())?;
///     Ok::<_, gyre::ListenError>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// The same pool started rather than run, on loopback with a port the
/// system picks and no signal handlers, talked to and then stopped from
/// the calling thread:
///
/// ```
/// use std::io::{Read, Write};
/// use std::time::Duration;
///
/// use gyre::{for_protocol, Protocol, ReactorPool, TcpListenOptions, Transport};
///
/// struct Echo;
/// impl Protocol for Echo {
///     fn data_received(&mut self, t: &Transport, data: &[u8]) {
///         t.write(data);
///     }
/// }
///
/// let pool = ReactorPool::new(2).handle_signals(false).start(|reactor, worker| {
///     let loopback = TcpListenOptions::interface("127.0.0.1");
///     worker.listen_tcp(reactor, 0, for_protocol(|| Echo), loopback)?;
///     Ok::<_, gyre::ListenError>(())
/// })?;
/// assert_eq!(pool.threads(), 2);
/// let port = pool.ports()[0]; // the one port both reactors listen on
/// assert_ne!(port, 0);
///
/// for word in [&b"one"[..], b"two", b"three"] {
///     let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
///     stream.set_read_timeout(Some(Duration::from_secs(10)))?; // never hangs
///     stream.write_all(word)?;
///     let mut echoed = vec![0; word.len()];
///     stream.read_exact(&mut echoed)?;
///     assert_eq!(echoed, word);
/// }
///
/// let stopper = pool.stopper();
/// assert!(stopper.stop());
/// pool.wait()?; // every reactor shut down in order, every thread joined
/// assert!(!stopper.stop(), "the pool has ended");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ReactorPool {
    threads: usize,
    signals: bool,
}

impl ReactorPool {
    /// A pool of `threads` reactors that handles SIGINT and SIGTERM.
    /// `threads` must be at least 1 ([`PoolError::NoThreads`] otherwise).
    pub fn new(threads: usize) -> ReactorPool {
        ReactorPool {
            threads,
            signals: true,
        }
    }

    /// Whether [`start`](Self::start) installs SIGINT/SIGTERM handlers that
    /// stop the pool (default true). Turn it off when embedding the pool
    /// in a program that handles signals itself, or in tests.
    pub fn handle_signals(mut self, handle: bool) -> ReactorPool {
        self.signals = handle;
        self
    }

    /// How many reactors the pool runs.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// [`start`](Self::start), then [`wait`](RunningPool::wait): runs until
    /// a signal or a reactor ending stops the pool.
    pub fn run<S, E>(self, setup: S) -> Result<(), PoolError<E>>
    where
        S: Fn(&Reactor, &Worker) -> Result<(), E> + Send + Sync + 'static,
        E: Send + 'static,
    {
        self.start(setup)?.wait()
    }

    /// Starts the threads, sets each reactor up with `setup` (thread 0
    /// first, then the others), and once all succeeded starts them
    /// running. Returns when they run; if a setup fails (or panics), no
    /// reactor runs and the failure is returned once every thread has
    /// ended.
    pub fn start<S, E>(self, setup: S) -> Result<RunningPool<E>, PoolError<E>>
    where
        S: Fn(&Reactor, &Worker) -> Result<(), E> + Send + Sync + 'static,
        E: Send + 'static,
    {
        if self.threads == 0 {
            return Err(PoolError::NoThreads);
        }
        let setup = Arc::new(setup);
        let (events_tx, events) = mpsc::channel();
        let signals = if self.signals {
            Some(SignalThread::start(events_tx.clone()).map_err(PoolError::Signals)?)
        } else {
            None
        };
        let mut pending: Vec<Pending<E>> = Vec::with_capacity(self.threads);
        let mut outcome: Result<(), PoolError<E>> = Ok(());
        // Thread 0 alone, so the others learn the ports it bound.
        let first = spawn_worker(0, self.threads, Vec::new(), &setup, &events_tx);
        let shared_ports = match first {
            Ok(p) => {
                pending.push(p);
                match pending[0].setup_result() {
                    Ok(ports) => ports,
                    Err(e) => {
                        outcome = Err(e);
                        Vec::new()
                    }
                }
            }
            Err(e) => {
                outcome = Err(e);
                Vec::new()
            }
        };
        if outcome.is_ok() {
            for index in 1..self.threads {
                match spawn_worker(
                    index,
                    self.threads,
                    shared_ports.clone(),
                    &setup,
                    &events_tx,
                ) {
                    Ok(p) => pending.push(p),
                    Err(e) => {
                        outcome = Err(e);
                        break;
                    }
                }
            }
            for p in pending.iter_mut().skip(1) {
                if let Err(e) = p.setup_result() {
                    if outcome.is_ok() {
                        outcome = Err(e);
                    }
                }
            }
        }
        if let Err(mut e) = outcome {
            // No reactor runs: tell every set-up thread to end, and join.
            for p in pending {
                drop(p.go);
                let joined = p.join.join();
                if let (PoolError::Panicked { worker, message }, Err(payload)) = (&mut e, joined) {
                    if *worker == p.index {
                        *message = crate::log::panic_message(&*payload).to_string();
                    }
                }
            }
            if let Some(s) = signals {
                s.finish();
            }
            return Err(e);
        }
        let mut workers = Vec::with_capacity(pending.len());
        for p in pending {
            let _ = p.go.send(());
            workers.push(Running {
                index: p.index,
                handle: p.handle.expect("set up"),
                join: p.join,
            });
        }
        Ok(RunningPool {
            workers,
            ports: shared_ports,
            events,
            events_tx,
            signals,
            _error: PhantomData,
        })
    }
}

/// What a pool thread's setup closure gets besides its reactor: which
/// thread this is, and the port sharing between threads.
pub struct Worker {
    index: usize,
    count: usize,
    /// The ports thread 0 bound, in the order it bound them.
    first: Vec<u16>,
    /// On thread 0: the ports bound so far.
    bound: RefCell<Vec<u16>>,
    /// How many shared ports this thread has bound.
    next: Cell<usize>,
}

impl Worker {
    /// This thread's index, from 0.
    pub fn index(&self) -> usize {
        self.index
    }

    /// How many threads the pool runs.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Opens a listening socket through `bind`, which gets the port to
    /// bind and must set `SO_REUSEPORT` itself. On thread 0 that port is
    /// `asked`; on the others, when `asked` is 0, it is the port thread 0's
    /// call of the same rank got (the n-th call here matches thread 0's
    /// n-th), so port 0 means one free port shared by every thread.
    pub fn share_port<X>(
        &self,
        asked: u16,
        bind: impl FnOnce(u16) -> Result<ListeningPort, X>,
    ) -> Result<ListeningPort, X> {
        let rank = self.next.get();
        self.next.set(rank + 1);
        let port = match (self.index, asked) {
            (0, _) | (_, 1..) => asked,
            (_, 0) => self.first.get(rank).copied().unwrap_or(0),
        };
        let listening = bind(port)?;
        if self.index == 0 {
            self.bound.borrow_mut().push(listening.address().port());
        }
        Ok(listening)
    }
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("index", &self.index)
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

/// A started pool: its reactors are running.
pub struct RunningPool<E> {
    workers: Vec<Running>,
    ports: Vec<u16>,
    events: Receiver<Event>,
    events_tx: Sender<Event>,
    signals: Option<SignalThread>,
    _error: PhantomData<fn() -> E>,
}

impl<E> RunningPool<E> {
    /// The ports thread 0 shared through [`Worker::listen_tcp`] /
    /// [`Worker::share_port`], in order (with port 0: the ports chosen).
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// How many reactors run.
    pub fn threads(&self) -> usize {
        self.workers.len()
    }

    /// A `Send` handle that stops the pool from any thread.
    pub fn stopper(&self) -> PoolStopper {
        PoolStopper {
            events: self.events_tx.clone(),
        }
    }

    /// Blocks until the pool is told to stop (a signal, a
    /// [`PoolStopper::stop`], or one reactor ending by itself), stops
    /// every reactor in order, and joins the threads. The first reactor
    /// failure or thread panic, by thread index, is the error.
    pub fn wait(self) -> Result<(), PoolError<E>> {
        let RunningPool {
            workers,
            events,
            events_tx,
            signals,
            ..
        } = self;
        drop(events_tx);
        match events.recv() {
            Ok(Event::Signal(name)) => {
                log::info!(target: "gyre::reactor", "Received {name}, shutting down.");
            }
            Ok(Event::Stop | Event::Ended) | Err(_) => {}
        }
        for w in &workers {
            w.handle.call_from_thread(|reactor| {
                // Still starting up: stop once it has.
                if reactor.stop().is_err() && !reactor.is_running() {
                    let r = reactor.clone();
                    reactor.call_when_running(move || {
                        let _ = r.stop();
                    });
                }
            });
        }
        let mut result = Ok(());
        for w in workers {
            let worker = w.index;
            let ended = match w.join.join() {
                Ok(Ok(())) => continue,
                Ok(Err(error)) => {
                    log::error!(target: "gyre::reactor", "Unhandled Error\nreactor thread {worker} failed: {error}");
                    PoolError::Reactor { worker, error }
                }
                Err(payload) => {
                    let message = crate::log::panic_message(&*payload).to_string();
                    log::error!(target: "gyre::reactor", "Unhandled Error\nreactor thread {worker} panicked: {message}");
                    PoolError::Panicked { worker, message }
                }
            };
            if result.is_ok() {
                result = Err(ended);
            }
        }
        if let Some(s) = signals {
            s.finish();
        }
        result
    }
}

impl<E> fmt::Debug for RunningPool<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningPool")
            .field("threads", &self.workers.len())
            .field("ports", &self.ports)
            .finish_non_exhaustive()
    }
}

/// Stops a [`RunningPool`] from any thread.
#[derive(Clone)]
pub struct PoolStopper {
    events: Sender<Event>,
}

impl PoolStopper {
    /// Asks the pool to stop every reactor; false if it already ended.
    pub fn stop(&self) -> bool {
        self.events.send(Event::Stop).is_ok()
    }
}

impl fmt::Debug for PoolStopper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PoolStopper")
    }
}

/// Why a pool did not start, or how it ended badly.
#[derive(Debug, thiserror::Error)]
pub enum PoolError<E> {
    /// A pool of zero threads was asked for.
    #[error("a reactor pool needs at least one thread")]
    NoThreads,
    /// The SIGINT/SIGTERM handlers (or the thread that listens for them)
    /// could not be set up.
    #[error("cannot start the reactor pool: {0}")]
    Signals(io::Error),
    /// A thread could not be started.
    #[error("cannot start reactor thread {worker}: {error}")]
    Spawn {
        /// The thread's index.
        worker: usize,
        /// Why.
        error: io::Error,
    },
    /// The setup closure failed on a thread.
    #[error("reactor thread {worker} setup failed: {error}")]
    Setup {
        /// The thread's index.
        worker: usize,
        /// What setup returned.
        error: E,
    },
    /// A reactor could not be created, or failed while running.
    #[error("reactor thread {worker} failed: {error}")]
    Reactor {
        /// The thread's index.
        worker: usize,
        /// The reactor's error.
        error: ReactorError,
    },
    /// A thread panicked outside any protocol callback (the reactor
    /// catches those), for example in the setup closure.
    #[error("reactor thread {worker} panicked: {message}")]
    Panicked {
        /// The thread's index.
        worker: usize,
        /// The panic's message.
        message: String,
    },
}

/// What wakes [`RunningPool::wait`].
enum Event {
    Signal(&'static str),
    Stop,
    /// A reactor thread ended (by itself, or because it was stopped).
    Ended,
}

/// What a thread reports once its setup is done.
enum SetupDone<E> {
    Ok(ThreadHandle, Vec<u16>),
    Setup(E),
    Reactor(ReactorError),
}

/// A thread being set up.
struct Pending<E> {
    index: usize,
    done: Receiver<SetupDone<E>>,
    /// Sending runs the reactor; dropping ends the thread without running it.
    go: Sender<()>,
    handle: Option<ThreadHandle>,
    join: JoinHandle<Result<(), ReactorError>>,
}

impl<E> Pending<E> {
    /// Waits for the thread's setup; the ports thread 0 bound on success.
    fn setup_result(&mut self) -> Result<Vec<u16>, PoolError<E>> {
        let worker = self.index;
        match self.done.recv() {
            Ok(SetupDone::Ok(handle, ports)) => {
                self.handle = Some(handle);
                Ok(ports)
            }
            Ok(SetupDone::Setup(error)) => Err(PoolError::Setup { worker, error }),
            Ok(SetupDone::Reactor(error)) => Err(PoolError::Reactor { worker, error }),
            // The thread ended without reporting: it panicked.
            Err(_) => Err(PoolError::Panicked {
                worker,
                message: "panicked during setup".into(),
            }),
        }
    }
}

/// A running reactor thread.
struct Running {
    index: usize,
    handle: ThreadHandle,
    join: JoinHandle<Result<(), ReactorError>>,
}

/// Sends [`Event::Ended`] when the thread ends, panicking or not.
struct EndedGuard(Sender<Event>);

impl Drop for EndedGuard {
    fn drop(&mut self) {
        let _ = self.0.send(Event::Ended);
    }
}

fn spawn_worker<S, E>(
    index: usize,
    count: usize,
    first: Vec<u16>,
    setup: &Arc<S>,
    events: &Sender<Event>,
) -> Result<Pending<E>, PoolError<E>>
where
    S: Fn(&Reactor, &Worker) -> Result<(), E> + Send + Sync + 'static,
    E: Send + 'static,
{
    let (done_tx, done) = mpsc::channel();
    let (go, go_rx) = mpsc::channel::<()>();
    let setup = Arc::clone(setup);
    let events = events.clone();
    let join = std::thread::Builder::new()
        .name(format!("gyre-reactor-{index}"))
        .spawn(move || {
            crate::log::set_thread_tag(Some(index));
            let reactor = match Reactor::new() {
                Ok(r) => r,
                Err(e) => {
                    let _ = done_tx.send(SetupDone::Reactor(e));
                    return Ok(());
                }
            };
            let worker = Worker {
                index,
                count,
                first,
                bound: RefCell::new(Vec::new()),
                next: Cell::new(0),
            };
            if let Err(e) = setup(&reactor, &worker) {
                let _ = done_tx.send(SetupDone::Setup(e));
                return Ok(());
            }
            let ports = worker.bound.take();
            let _ = done_tx.send(SetupDone::Ok(reactor.thread_handle(), ports));
            if go_rx.recv().is_err() {
                return Ok(());
            }
            let _ended = EndedGuard(events);
            reactor.run_without_signals()
        })
        .map_err(|error| PoolError::Spawn {
            worker: index,
            error,
        })?;
    Ok(Pending {
        index,
        done,
        go,
        handle: None,
        join,
    })
}

/// Turns SIGINT and SIGTERM into [`Event::Signal`]s, on a thread of its own.
struct SignalThread {
    handle: signal_hook::iterator::Handle,
    join: JoinHandle<()>,
}

impl SignalThread {
    fn start(events: Sender<Event>) -> io::Result<SignalThread> {
        use signal_hook::consts::SIGINT;
        // SIGINT only where it is still the default (see `signals.rs`).
        let mut signals = signal_hook::iterator::Signals::new(super::signals::to_handle())?;
        let handle = signals.handle();
        let join = std::thread::Builder::new()
            .name("gyre-signals".into())
            .spawn(move || {
                for signal in signals.forever() {
                    let name = if signal == SIGINT {
                        "SIGINT"
                    } else {
                        "SIGTERM"
                    };
                    if events.send(Event::Signal(name)).is_err() {
                        break;
                    }
                }
            })?;
        Ok(SignalThread { handle, join })
    }

    fn finish(self) {
        self.handle.close();
        let _ = self.join.join();
    }
}
