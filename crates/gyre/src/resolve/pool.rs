//! The bounded pool of resolver threads: the mechanism behind
//! [`ThreadResolver`](super::ThreadResolver).
//!
//! Knows nothing of reactors or Deferreds: a [`Job`] is a name, a port, an
//! id and a `Send` closure that takes the answer. The reactor side
//! (`lookups.rs`) turns that closure into a `call_from_thread`.
//!
//! Owns, under one mutex (`State`):
//!
//! * `queue`: jobs not taken yet, by id. Ids grow with every submission, so
//!   taking the first entry is FIFO and cancelling one is a removal by key.
//! * `bound`: the most workers alive at once (at least 1).
//! * `live`: workers reserved or running their loop. A slot is reserved
//!   before the thread is spawned and given back (under the lock) as the
//!   worker's last act, so `live <= bound` always.
//! * `starting` / `idle`: workers spawned but not yet looking for work, and
//!   workers waiting on the condvar (by thread id). A submission spawns a
//!   worker only when more jobs are queued than these can take. `busy`:
//!   workers inside a lookup.
//! * `handles` / `retired`: join handles of the workers, and the ids of
//!   workers whose loop has returned. Before spawning, the pool joins the
//!   retired ones, so the OS never holds more than `bound` threads of this
//!   pool either (an exiting thread lingers a moment after its loop ends).
//! * `closed`: no more jobs; workers leave as soon as they are not busy.
//!   `draining`: no more jobs will come, but queued ones still run.
//!
//! A worker takes the oldest job, releases the lock, runs the lookup (a
//! panic in it becomes an error answer), hands the answer to the job's
//! closure, and takes the lock again. With nothing queued it waits up to the
//! idle timeout, then exits; it also exits when the pool is closed or
//! draining and nothing is queued, or when `bound` was lowered below `live`.
//!
//! Tests: the bottom of this file; through the reactor, `tests/resolver.rs`.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

/// The name every resolver thread carries (as `/proc/self/task/*/comm` shows it).
pub(crate) const THREAD_NAME: &str = "gyre-resolver";

/// A blocking lookup: every address of `host` with `port`.
pub(crate) type LookupFn = dyn Fn(&str, u16) -> io::Result<Vec<SocketAddr>> + Send + Sync;

/// Takes a job's answer (on the worker thread that produced it).
pub(crate) type Reply = Box<dyn FnOnce(io::Result<Vec<SocketAddr>>) + Send>;

/// One lookup to run.
pub(crate) struct Job {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) reply: Reply,
}

/// A handle to one pool; clones share it.
#[derive(Clone)]
pub(crate) struct Pool {
    shared: Arc<Shared>,
}

/// A pool handle that does not keep the pool alive.
#[derive(Clone)]
pub(crate) struct WeakPool {
    shared: Weak<Shared>,
}

impl WeakPool {
    pub(crate) fn upgrade(&self) -> Option<Pool> {
        self.shared.upgrade().map(|shared| Pool { shared })
    }

    pub(crate) fn is_alive(&self) -> bool {
        self.shared.strong_count() > 0
    }
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a job is queued, the bound changes, or the pool closes.
    wake: Condvar,
    lookup: Arc<LookupFn>,
    idle_timeout: Duration,
}

#[derive(Default)]
struct State {
    queue: BTreeMap<u64, Job>,
    bound: usize,
    live: usize,
    starting: usize,
    idle: Vec<ThreadId>,
    busy: Vec<ThreadId>,
    handles: Vec<JoinHandle<()>>,
    retired: Vec<ThreadId>,
    closed: bool,
    draining: bool,
}

impl State {
    /// Takes the handles of workers whose loop has returned.
    fn take_retired(&mut self) -> Vec<JoinHandle<()>> {
        if self.retired.is_empty() {
            return Vec::new();
        }
        let retired = std::mem::take(&mut self.retired);
        let (done, running): (Vec<_>, Vec<_>) = std::mem::take(&mut self.handles)
            .into_iter()
            .partition(|h| retired.contains(&h.thread().id()));
        self.handles = running;
        done
    }

    /// True if a queued job has no worker that will take it and a new one may start.
    fn wants_worker(&self) -> bool {
        !self.closed && self.live < self.bound && self.queue.len() > self.idle.len() + self.starting
    }
}

impl Pool {
    /// A pool of at most `bound` threads (0 counts as 1) running `lookup`,
    /// each leaving after `idle_timeout` without work. Starts no thread.
    pub(crate) fn new(bound: usize, idle_timeout: Duration, lookup: Arc<LookupFn>) -> Pool {
        Pool {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    bound: bound.max(1),
                    ..State::default()
                }),
                wake: Condvar::new(),
                lookup,
                idle_timeout,
            }),
        }
    }

    pub(crate) fn downgrade(&self) -> WeakPool {
        WeakPool {
            shared: Arc::downgrade(&self.shared),
        }
    }

    /// Queues `job` under `id` (ids must grow from one call to the next),
    /// starting a worker if none is free and the bound allows. Hands the job
    /// back if the pool is closed.
    pub(crate) fn submit(&self, id: u64, job: Job) -> Result<(), Job> {
        {
            let mut state = self.shared.lock();
            if state.closed || state.draining {
                return Err(job);
            }
            state.queue.insert(id, job);
            if !state.idle.is_empty() {
                self.shared.wake.notify_one();
            }
        }
        self.start_workers();
        Ok(())
    }

    /// Removes job `id` if it is still queued (it will never run). False if
    /// a worker already took it, or it is unknown.
    pub(crate) fn cancel(&self, id: u64) -> bool {
        let removed = self.shared.lock().queue.remove(&id);
        removed.is_some()
    }

    /// Changes the bound (0 counts as 1). A higher bound starts workers for
    /// queued jobs; with a lower one, workers above it leave when not busy.
    pub(crate) fn set_bound(&self, bound: usize) {
        self.shared.lock().bound = bound.max(1);
        self.shared.wake.notify_all();
        self.start_workers();
    }

    /// Takes no more jobs; the queued ones still run, then every worker leaves.
    pub(crate) fn drain(&self) {
        self.shared.lock().draining = true;
        self.shared.wake.notify_all();
    }

    /// Drops the queued jobs (their replies are never called), takes no
    /// more, and ends the workers: every one not inside a lookup leaves now
    /// and is joined; a busy one finishes its lookup, hands the answer to
    /// its reply, and leaves (detached: nothing waits for it).
    pub(crate) fn close(&self) {
        let (jobs, join) = {
            let mut state = self.shared.lock();
            state.closed = true;
            let jobs = std::mem::take(&mut state.queue);
            let mut join = state.take_retired();
            let busy = state.busy.clone();
            let (busy, free): (Vec<_>, Vec<_>) = std::mem::take(&mut state.handles)
                .into_iter()
                .partition(|h| busy.contains(&h.thread().id()));
            join.extend(free);
            drop(busy); // detached: each leaves after its lookup
            (jobs, join)
        };
        self.shared.wake.notify_all();
        drop(jobs);
        for handle in join {
            let _ = handle.join();
        }
    }

    /// Workers alive (running their loop or about to).
    pub(crate) fn live(&self) -> usize {
        self.shared.lock().live
    }

    /// Jobs queued and not yet taken.
    pub(crate) fn queued(&self) -> usize {
        self.shared.lock().queue.len()
    }

    /// Starts workers while queued jobs outnumber the free ones.
    fn start_workers(&self) {
        loop {
            let retired = {
                let mut state = self.shared.lock();
                if !state.wants_worker() {
                    return;
                }
                state.live += 1;
                state.starting += 1;
                state.take_retired()
            };
            // Already past their last lock: this waits only for the OS to
            // finish tearing them down.
            for handle in retired {
                let _ = handle.join();
            }
            let shared = self.shared.clone();
            let mut state = self.shared.lock();
            let spawned = thread::Builder::new()
                .name(THREAD_NAME.into())
                .spawn(move || work(shared));
            match spawned {
                Ok(handle) => state.handles.push(handle),
                Err(e) => {
                    state.live -= 1;
                    state.starting -= 1;
                    let orphaned = if state.live == 0 {
                        std::mem::take(&mut state.queue)
                    } else {
                        BTreeMap::new()
                    };
                    drop(state);
                    log::error!(
                        target: "gyre::resolve",
                        "Unhandled Error\ncould not start a resolver thread: {e}"
                    );
                    for (_, job) in orphaned {
                        (job.reply)(Err(io::Error::other(format!(
                            "could not start a resolver thread: {e}"
                        ))));
                    }
                    return;
                }
            }
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A worker's loop (see the module docs).
fn work(shared: Arc<Shared>) {
    let me = thread::current().id();
    let mut state = shared.lock();
    state.starting -= 1;
    let mut idle_since: Option<Instant> = None;
    loop {
        if state.live > state.bound {
            break;
        }
        if let Some((_, job)) = state.queue.pop_first() {
            state.busy.push(me);
            drop(state);
            let answer = catch_unwind(AssertUnwindSafe(|| (shared.lookup)(&job.host, job.port)))
                .unwrap_or_else(|_| Err(io::Error::other("the lookup function panicked")));
            // Out of the lookup: from here on `close` may join this thread.
            shared.lock().busy.retain(|id| *id != me);
            (job.reply)(answer);
            idle_since = None;
            state = shared.lock();
            continue;
        }
        if state.closed || state.draining {
            break;
        }
        let now = Instant::now();
        let deadline = *idle_since.get_or_insert(now) + shared.idle_timeout;
        if now >= deadline {
            break;
        }
        state.idle.push(me);
        state = shared
            .wake
            .wait_timeout(state, deadline - now)
            .unwrap_or_else(|e| e.into_inner())
            .0;
        state.idle.retain(|id| *id != me);
    }
    state.live -= 1;
    state.retired.push(me);
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("Pool")
            .field("bound", &state.bound)
            .field("live", &state.live)
            .field("idle", &state.idle.len())
            .field("queued", &state.queue.len())
            .field("idle_timeout", &self.shared.idle_timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    const LIMIT: Duration = Duration::from_secs(10);

    fn job(host: &str, answers: &mpsc::Sender<(String, bool)>) -> Job {
        let tx = answers.clone();
        let name = host.to_string();
        Job {
            host: host.to_string(),
            port: 80,
            reply: Box::new(move |r| {
                let _ = tx.send((name, r.is_ok()));
            }),
        }
    }

    /// A lookup that holds `"hold"` until released, answering the rest at once.
    fn holding() -> (Arc<LookupFn>, mpsc::Receiver<()>, mpsc::Sender<()>) {
        let (started_tx, started) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let release_rx = Mutex::new(release_rx);
        let lookup: Arc<LookupFn> = Arc::new(move |host: &str, port| {
            if host == "hold" {
                let _ = started_tx.send(());
                let _ = release_rx.lock().unwrap().recv_timeout(LIMIT);
            }
            Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))])
        });
        (lookup, started, release)
    }

    /// Jobs beyond the bound wait their turn, in order, on the one worker.
    #[test]
    fn jobs_beyond_the_bound_queue_in_order() {
        let (lookup, started, release) = holding();
        let pool = Pool::new(1, LIMIT, lookup);
        let (tx, answers) = mpsc::channel();
        pool.submit(1, job("hold", &tx)).ok().unwrap();
        started.recv_timeout(LIMIT).unwrap();
        for (id, name) in [(2, "b"), (3, "c"), (4, "d")] {
            pool.submit(id, job(name, &tx)).ok().unwrap();
        }
        let (live, queued) = (pool.live(), pool.queued());
        release.send(()).unwrap();
        let order: Vec<String> = (0..4)
            .map(|_| answers.recv_timeout(LIMIT).unwrap().0)
            .collect();
        pool.close();
        assert_eq!((live, queued), (1, 3));
        assert_eq!(order, ["hold", "b", "c", "d"]);
    }

    /// A cancelled queued job is never run and its reply is never called.
    #[test]
    fn cancelled_job_never_runs() {
        let (lookup, started, release) = holding();
        let pool = Pool::new(1, LIMIT, lookup);
        let (tx, answers) = mpsc::channel();
        pool.submit(1, job("hold", &tx)).ok().unwrap();
        started.recv_timeout(LIMIT).unwrap();
        pool.submit(2, job("gone", &tx)).ok().unwrap();
        pool.submit(3, job("kept", &tx)).ok().unwrap();
        let removed = pool.cancel(2);
        let running_removed = pool.cancel(1);
        release.send(()).unwrap();
        let first = answers.recv_timeout(LIMIT).unwrap().0;
        let second = answers.recv_timeout(LIMIT).unwrap().0;
        pool.close();
        assert!(removed);
        assert!(!running_removed, "a running job cannot be taken back");
        assert_eq!([first, second], ["hold", "kept"]);
        assert!(answers.try_recv().is_err());
    }

    /// A panicking lookup becomes an error answer and the worker lives on.
    #[test]
    fn panicking_lookup_is_an_error_answer() {
        let lookup: Arc<LookupFn> = Arc::new(|host: &str, port| {
            if host == "boom" {
                panic!("lookup exploded");
            }
            Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))])
        });
        let pool = Pool::new(1, LIMIT, lookup);
        let (tx, answers) = mpsc::channel();
        pool.submit(1, job("boom", &tx)).ok().unwrap();
        pool.submit(2, job("fine", &tx)).ok().unwrap();
        let got = [
            answers.recv_timeout(LIMIT).unwrap(),
            answers.recv_timeout(LIMIT).unwrap(),
        ];
        let live = pool.live();
        pool.close();
        assert_eq!(
            got,
            [("boom".to_string(), false), ("fine".to_string(), true)]
        );
        assert_eq!(live, 1);
    }

    /// A closed pool refuses jobs and drops the queued ones unanswered.
    #[test]
    fn closed_pool_drops_queue_and_refuses() {
        let (lookup, started, release) = holding();
        let pool = Pool::new(1, LIMIT, lookup);
        let (tx, answers) = mpsc::channel();
        pool.submit(1, job("hold", &tx)).ok().unwrap();
        started.recv_timeout(LIMIT).unwrap();
        pool.submit(2, job("queued", &tx)).ok().unwrap();
        pool.close();
        let refused = pool.submit(3, job("late", &tx)).is_err();
        release.send(()).unwrap();
        let first = answers.recv_timeout(LIMIT).unwrap().0;
        drop(tx);
        let rest: Vec<_> = answers.iter().collect();
        assert!(refused);
        assert_eq!(first, "hold");
        assert!(rest.is_empty(), "dropped jobs answered: {rest:?}");
    }
}
