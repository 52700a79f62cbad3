//! A pool of worker threads for blocking work (Twisted's `ThreadPool`,
//! reference §1.5), and the reactor's own: `call_in_thread`,
//! `defer_to_thread`, `defer_to_thread_pool`, and the way back,
//! [`ThreadHandle::blocking_call_from_thread`].
//!
//! [`ThreadPool`] is a `Send + Sync` handle; clones share one pool. Work
//! is queued FIFO under one mutex; a call spawns a worker when none is
//! idle and fewer than `max` are alive. Workers live until the pool
//! stops. A panic in a call is caught, logged (`Unhandled Error` /
//! `panic in a thread pool call`), and the worker goes on.
//!
//! Stopping ([`ThreadPool::stop`]) refuses new work, lets the workers run
//! everything already queued, then joins them: queued work is never
//! dropped silently. A pool stopped with work queued and no worker
//! allowed (`max` 0) runs one anyway to finish it.
//!
//! The reactor's pool ([`Reactor::thread_pool`]) is made on first use
//! with 0 to [`DEFAULT_MAX_THREADS`] threads and starts when the reactor
//! runs. Its stop is a before-shutdown trigger that waits, without
//! blocking the loop, until the workers have finished what was queued:
//! the results of that work still reach the reactor (a worker blocked in
//! `blocking_call_from_thread` gets its answer), then the shutdown goes on.
//!
//! The resolver's threads (`crate::resolve`) are a pool of their own,
//! beside this one: lookups are cancellable and bounded separately, so
//! that a slow DNS server cannot take every thread that blocking user
//! work needs, nor the reverse.
//!
//! Tests: `tests/thread_pool.rs`.

use std::any::Any;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, mpsc};
use std::thread::JoinHandle;

use super::{Phase, Reactor, SystemEvent, ThreadHandle};
use crate::completion::Completion;
use crate::deferred::{Deferred, Failure, PanicError};
use crate::log::{guarded, log_panic};

/// The reactor's pool's thread limit unless changed
/// ([`Reactor::suggest_thread_pool_size`]): Twisted's 10.
///
/// A reactor has two kinds of helper threads, and their bounds are set
/// here, together: this pool, for the program's blocking work, and the
/// name resolver's ([`DEFAULT_RESOLVER_THREADS`]). They are two pools on
/// purpose: a burst of slow DNS lookups cannot hold every thread the
/// program's own blocking calls need, nor the other way round (Twisted's
/// resolver shares its one pool, and a stuck lookup there delays
/// `deferToThread` work).
pub const DEFAULT_MAX_THREADS: usize = 10;

/// The name resolver's thread limit unless changed
/// ([`ResolverOptions`](crate::resolve::ResolverOptions)); see
/// [`DEFAULT_MAX_THREADS`] for why it is a pool of its own, and the
/// [`resolve`](crate::resolve) module for why 4.
pub const DEFAULT_RESOLVER_THREADS: usize = 4;

type Job = Box<dyn FnOnce() + Send>;

struct State {
    queue: VecDeque<Job>,
    min: usize,
    max: usize,
    /// Workers alive (spawned and not yet returned).
    workers: usize,
    /// Workers waiting for work.
    idle: usize,
    started: bool,
    stopping: bool,
    /// Incremented per worker, for thread names.
    spawned: usize,
    joins: Vec<JoinHandle<()>>,
    /// Told (once) when the last worker has returned after `stopping`.
    on_stopped: Vec<Box<dyn FnOnce() + Send>>,
}

struct Shared {
    name: String,
    state: Mutex<State>,
    work: Condvar,
    all_gone: Condvar,
}

/// A pool of threads for blocking calls (see the module docs).
#[derive(Clone)]
pub struct ThreadPool {
    shared: Arc<Shared>,
}

/// The pool refuses work: it has been stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the thread pool is stopped")]
pub struct PoolStopped;

impl ThreadPool {
    /// A pool of `min` to `max` threads named `name-0`, `name-1`, … It
    /// runs nothing until [`start`](Self::start) (calls queue up meanwhile).
    pub fn new(min: usize, max: usize, name: impl Into<String>) -> ThreadPool {
        ThreadPool {
            shared: Arc::new(Shared {
                name: name.into(),
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    min: min.min(max),
                    max,
                    workers: 0,
                    idle: 0,
                    started: false,
                    stopping: false,
                    spawned: 0,
                    joins: Vec::new(),
                    on_stopped: Vec::new(),
                }),
                work: Condvar::new(),
                all_gone: Condvar::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts `min` workers, and as many as the queued calls need (up to `max`).
    pub fn start(&self) {
        let mut st = self.lock();
        if st.started || st.stopping {
            return;
        }
        st.started = true;
        let want = st.min.max(st.queue.len().min(st.max));
        while st.workers < want {
            self.spawn_worker(&mut st);
        }
    }

    /// Runs `f` on a worker thread (queued until one is free).
    pub fn call_in_thread(&self, f: impl FnOnce() + Send + 'static) -> Result<(), PoolStopped> {
        let mut st = self.lock();
        if st.stopping {
            return Err(PoolStopped);
        }
        st.queue.push_back(Box::new(f));
        if st.started && st.idle < st.queue.len() && st.workers < st.max {
            self.spawn_worker(&mut st);
        }
        drop(st);
        self.shared.work.notify_one();
        Ok(())
    }

    /// Changes the bounds; extra workers leave once idle, missing ones
    /// start as work needs them.
    pub fn adjust_size(&self, min: usize, max: usize) {
        let mut st = self.lock();
        st.max = max;
        st.min = min.min(max);
        if st.started && !st.stopping {
            let want = st.min.max(st.queue.len().min(st.max));
            while st.workers < want {
                self.spawn_worker(&mut st);
            }
        }
        drop(st);
        self.shared.work.notify_all();
    }

    /// (min, max, workers alive, calls queued).
    pub fn stats(&self) -> (usize, usize, usize, usize) {
        let st = self.lock();
        (st.min, st.max, st.workers, st.queue.len())
    }

    /// Refuses new work, lets the workers finish every queued call, and
    /// joins them. Blocks the calling thread meanwhile.
    pub fn stop(&self) {
        let joins = {
            let mut st = self.begin_stop();
            while st.workers > 0 {
                st = self
                    .shared
                    .all_gone
                    .wait(st)
                    .unwrap_or_else(|e| e.into_inner());
            }
            std::mem::take(&mut st.joins)
        };
        for j in joins {
            let _ = j.join();
        }
    }

    /// Stops like [`stop`](Self::stop) without blocking: `done` runs (on a
    /// worker thread, or here if none is alive) once every worker is gone.
    pub fn stop_then(&self, done: impl FnOnce() + Send + 'static) {
        let mut st = self.begin_stop();
        if st.workers == 0 {
            let joins = std::mem::take(&mut st.joins);
            drop(st);
            for j in joins {
                let _ = j.join();
            }
            done();
        } else {
            st.on_stopped.push(Box::new(done));
        }
    }

    fn begin_stop(&self) -> MutexGuard<'_, State> {
        let mut st = self.lock();
        st.stopping = true;
        // Queued work runs even if the pool never started or may not
        // have threads.
        if !st.queue.is_empty() && st.workers == 0 {
            self.spawn_worker(&mut st);
        }
        self.shared.work.notify_all();
        st
    }

    fn spawn_worker(&self, st: &mut State) {
        let index = st.spawned;
        st.spawned += 1;
        let shared = self.shared.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("{}-{index}", self.shared.name))
            .spawn(move || worker(shared));
        match spawned {
            Ok(join) => {
                st.workers += 1;
                st.joins.retain(|j| !j.is_finished());
                st.joins.push(join);
            }
            Err(e) => {
                log::error!(target: "gyre", "Unhandled Error\ncannot start a thread of the pool {}: {e}", self.shared.name);
            }
        }
    }
}

fn worker(shared: Arc<Shared>) {
    let mut st = shared.state.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if let Some(job) = st.queue.pop_front() {
            drop(st);
            if let Err(msg) = guarded(job) {
                log_panic("a thread pool call", &msg);
            }
            st = shared.state.lock().unwrap_or_else(|e| e.into_inner());
            continue;
        }
        if st.stopping || st.workers > st.max.max(st.min) {
            break;
        }
        st.idle += 1;
        st = shared.work.wait(st).unwrap_or_else(|e| e.into_inner());
        st.idle -= 1;
    }
    st.workers -= 1;
    let last = st.workers == 0 && st.stopping;
    let callbacks = if last {
        std::mem::take(&mut st.on_stopped)
    } else {
        Vec::new()
    };
    drop(st);
    shared.all_gone.notify_all();
    for cb in callbacks {
        cb();
    }
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (min, max, workers, queued) = self.stats();
        f.debug_struct("ThreadPool")
            .field("name", &self.shared.name)
            .field("min", &min)
            .field("max", &max)
            .field("workers", &workers)
            .field("queued", &queued)
            .finish()
    }
}

// ----- the reactor's pool and the Deferred bridge -----

thread_local! {
    /// Deferreds waiting for a thread's result, by id (the reactor thread
    /// that made each one takes it back: one reactor per thread).
    static WAITING: RefCell<HashMap<u64, Box<dyn Any>>> = RefCell::new(HashMap::new());
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

impl Reactor {
    /// The reactor's thread pool, made on first use (0 to
    /// [`DEFAULT_MAX_THREADS`] threads named `gyre-pool-N`): started when
    /// the reactor runs (now, if it is running), stopped during shutdown
    /// once the work queued on it has finished.
    pub fn thread_pool(&self) -> ThreadPool {
        if let Some(pool) = self.inner.thread_pool.borrow().as_ref() {
            return pool.clone();
        }
        let pool = ThreadPool::new(0, DEFAULT_MAX_THREADS, "gyre-pool");
        *self.inner.thread_pool.borrow_mut() = Some(pool.clone());
        let starter = pool.clone();
        self.call_when_running(move || starter.start());
        let stopper = pool.clone();
        let handle = self.thread_handle();
        self.add_system_event_trigger(Phase::Before, SystemEvent::Shutdown, move || {
            // The shutdown waits for this completion, fired on the
            // reactor thread once the last worker is gone; the loop keeps
            // running meanwhile, so the workers' results still arrive.
            let done = Completion::new();
            let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
            WAITING.with(|w| w.borrow_mut().insert(id, Box::new(done.clone())));
            let handle = handle.clone();
            stopper.stop_then(move || {
                handle.call_from_thread(move |_| {
                    if let Some(waiting) = WAITING.with(|w| w.borrow_mut().remove(&id))
                        && let Ok(done) = waiting.downcast::<Completion>()
                    {
                        done.complete();
                    }
                });
            });
            Some(done)
        });
        pool
    }

    /// Changes the most threads the reactor's pool may run (Twisted's
    /// `suggestThreadPoolSize`).
    pub fn suggest_thread_pool_size(&self, max: usize) {
        let pool = self.thread_pool();
        let (min, ..) = pool.stats();
        pool.adjust_size(min, max);
    }

    /// Runs `f` on the reactor's thread pool. `Err` once the pool has
    /// been stopped (the reactor is shutting down).
    pub fn call_in_thread(&self, f: impl FnOnce() + Send + 'static) -> Result<(), PoolStopped> {
        self.thread_pool().call_in_thread(f)
    }

    /// Runs `f` on the reactor's thread pool; the Deferred fires on the
    /// reactor thread with its result, or fails with a
    /// [`PanicError`] if it panicked (or with [`PoolStopped`]).
    ///
    /// ```
    /// use gyre::Reactor;
    ///
    /// let reactor = Reactor::new()?;
    /// let (got, r) = (std::rc::Rc::new(std::cell::Cell::new(None)), reactor.clone());
    /// let slot = got.clone();
    /// reactor.defer_to_thread(|| (1..=10u64).product::<u64>()).consume(move |result| {
    ///     slot.set(result.ok());
    ///     let _ = r.stop();
    /// });
    /// reactor.run_without_signals()?;
    /// assert_eq!(got.get(), Some(3_628_800));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn defer_to_thread<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Deferred<T> {
        let pool = self.thread_pool();
        self.defer_to_thread_pool(&pool, f)
    }

    /// [`defer_to_thread`](Self::defer_to_thread) on a pool of your own.
    pub fn defer_to_thread_pool<T: Send + 'static>(
        &self,
        pool: &ThreadPool,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Deferred<T> {
        let d: Deferred<T> = Deferred::new();
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        WAITING.with(|w| w.borrow_mut().insert(id, Box::new(d.clone())));
        let handle = self.thread_handle();
        let name = std::any::type_name_of_val(&f);
        let queued = pool.call_in_thread(move || {
            let outcome = guarded(f);
            handle.call_from_thread(move |_| {
                // Should its callbacks block the loop, they are named.
                crate::blocked::site(name, crate::blocked::THREAD_RESULT);
                let Some(waiting) = WAITING.with(|w| w.borrow_mut().remove(&id)) else {
                    return;
                };
                let Ok(d) = waiting.downcast::<Deferred<T>>() else {
                    return;
                };
                let _ = match outcome {
                    Ok(value) => d.callback(value),
                    Err(message) => d.errback(PanicError { message }),
                };
            });
        });
        if queued.is_err() {
            WAITING.with(|w| w.borrow_mut().remove(&id));
            let _ = d.errback(Failure::new(PoolStopped));
        }
        d
    }
}

/// Why [`ThreadHandle::blocking_call_from_thread`] got no result.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum BlockingCallError {
    /// Called on the reactor's own thread, where waiting would deadlock.
    #[error("blocking_call_from_thread called on the reactor thread (it would wait for itself)")]
    OnReactorThread,
    /// The reactor has stopped (or stopped before running the call).
    #[error("the reactor is not running")]
    ReactorStopped,
    /// The call panicked on the reactor thread.
    #[error("the call panicked on the reactor thread: {0}")]
    Panicked(Arc<str>),
}

impl ThreadHandle {
    /// Runs `f` on the reactor thread and waits for its result (Twisted's
    /// `blockingCallFromThread`): for a worker thread that needs an
    /// answer from the reactor. On the reactor thread itself it fails at
    /// once ([`BlockingCallError::OnReactorThread`]) instead of waiting
    /// forever.
    pub fn blocking_call_from_thread<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Reactor) -> T + Send + 'static,
    ) -> Result<T, BlockingCallError> {
        if self.queue.is_reactor_thread() {
            return Err(BlockingCallError::OnReactorThread);
        }
        let (tx, rx) = mpsc::sync_channel(1);
        let queued = self.call_from_thread(move |r| {
            let _ = tx.send(guarded(|| f(r)));
        });
        if !queued {
            return Err(BlockingCallError::ReactorStopped);
        }
        match rx.recv() {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(message)) => Err(BlockingCallError::Panicked(message)),
            // Dropped unrun: the reactor finished first.
            Err(_) => Err(BlockingCallError::ReactorStopped),
        }
    }
}
