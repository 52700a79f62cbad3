//! The reactor's side of name resolution: which pool a lookup goes to, and
//! which Deferred its answer fires.
//!
//! A reactor owns one [`Lookups`] (its field `lookups`). It holds, all on
//! the reactor thread:
//!
//! * `options` and `default`: the options of the reactor's own pool, and
//!   that pool once the first lookup made it (`None` before: an idle
//!   program that never resolved has no pool and no thread);
//! * `pools`: every pool answering to this reactor (its own and those of
//!   [`ThreadResolver::with_options`](super::ThreadResolver::with_options)),
//!   weakly, to close them when the reactor finishes;
//! * `pending`: the Deferred of every lookup not answered yet, with its
//!   pool, under an id that is never reused. A worker's answer comes back
//!   through [`ThreadHandle::call_from_thread`](crate::ThreadHandle) carrying
//!   the id; an id no longer pending (cancelled, shut down) drops the answer.
//!   Ids grow, so one pool's queue taken in id order is FIFO.
//!
//! Every method takes what it needs out of these cells and releases them
//! before firing a Deferred (collect, release, then call out).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;

use super::ResolverOptions;
use super::pool::{Job, Pool, WeakPool};
use crate::deferred::Deferred;
use crate::error::ConnectError;
use crate::reactor::Reactor;

/// A lookup waiting for its answer.
struct Pending {
    deferred: Deferred<Vec<SocketAddr>>,
    host: String,
    pool: Pool,
}

/// The reactor's lookups and pools (see the module docs).
pub(crate) struct Lookups {
    options: RefCell<ResolverOptions>,
    default: RefCell<Option<Pool>>,
    pools: RefCell<Vec<WeakPool>>,
    pending: RefCell<BTreeMap<u64, Pending>>,
    next_id: Cell<u64>,
    /// The reactor finished: new lookups fail at once.
    closed: Cell<bool>,
}

impl Lookups {
    pub(crate) fn new() -> Lookups {
        Lookups {
            options: RefCell::new(ResolverOptions::default()),
            default: RefCell::new(None),
            pools: RefCell::new(Vec::new()),
            pending: RefCell::new(BTreeMap::new()),
            next_id: Cell::new(0),
            closed: Cell::new(false),
        }
    }

    /// The reactor's own pool, made now if this is the first lookup.
    pub(crate) fn default_pool(&self) -> Pool {
        if let Some(pool) = &*self.default.borrow() {
            return pool.clone();
        }
        let pool = self.new_pool(&self.options.borrow());
        *self.default.borrow_mut() = Some(pool.clone());
        pool
    }

    /// The reactor's own pool if a lookup made it.
    pub(crate) fn default_pool_if_made(&self) -> Option<Pool> {
        self.default.borrow().clone()
    }

    /// A pool answering to this reactor, closed when it finishes.
    pub(crate) fn new_pool(&self, options: &ResolverOptions) -> Pool {
        let pool = Pool::new(
            options.threads,
            options.idle_timeout,
            options.lookup.clone(),
        );
        let mut pools = self.pools.borrow_mut();
        pools.retain(WeakPool::is_alive);
        pools.push(pool.downgrade());
        pool
    }

    /// Sets the bound of the reactor's own pool, now or when it is made.
    pub(crate) fn set_threads(&self, threads: usize) {
        let options = self.options.borrow().clone().with_threads(threads);
        *self.options.borrow_mut() = options;
        if let Some(pool) = self.default_pool_if_made() {
            pool.set_bound(threads);
        }
    }

    /// Replaces the options of the reactor's own pool. A pool already made
    /// finishes its queued jobs and lets its threads go; the next lookup
    /// makes a new one.
    pub(crate) fn set_options(&self, options: ResolverOptions) {
        *self.options.borrow_mut() = options;
        let old = self.default.borrow_mut().take();
        if let Some(old) = old {
            old.drain();
        }
    }

    /// Starts looking `host` up on `pool`; the Deferred fires on this
    /// reactor's thread. Cancelling it takes a queued job back, or drops the
    /// answer of a running one.
    pub(crate) fn resolve(
        reactor: &Reactor,
        pool: Option<&Pool>,
        host: &str,
        port: u16,
    ) -> Deferred<Vec<SocketAddr>> {
        let lookups = &reactor.inner.lookups;
        let id = lookups.next_id.get();
        lookups.next_id.set(id + 1);
        let weak = reactor.downgrade();
        let deferred = Deferred::with_canceller(move |_| {
            if let Some(reactor) = Reactor::from_weak(&weak) {
                reactor.inner.lookups.cancel(id);
            }
        });
        if lookups.closed.get() {
            let _ = deferred.errback(ConnectError::Shutdown);
            return deferred;
        }
        let pool = match pool {
            Some(pool) => pool.clone(),
            None => lookups.default_pool(),
        };
        lookups.pending.borrow_mut().insert(
            id,
            Pending {
                deferred: deferred.clone(),
                host: host.to_string(),
                pool: pool.clone(),
            },
        );
        let handle = reactor.thread_handle();
        let job = Job {
            host: host.to_string(),
            port,
            reply: Box::new(move |answer| {
                handle.call_from_thread(move |reactor| reactor.inner.lookups.answer(id, answer));
            }),
        };
        if pool.submit(id, job).is_err() {
            // A pool that no longer takes jobs (its reactor is finishing).
            lookups.pending.borrow_mut().remove(&id);
            let _ = deferred.errback(ConnectError::Shutdown);
        }
        deferred
    }

    /// A worker's answer for lookup `id` reached the reactor thread.
    fn answer(&self, id: u64, answer: io::Result<Vec<SocketAddr>>) {
        let Some(pending) = self.pending.borrow_mut().remove(&id) else {
            return; // cancelled or shut down: the answer is dropped
        };
        let _ = match answer {
            Ok(addrs) => pending.deferred.callback(addrs),
            Err(_) => pending
                .deferred
                .errback(ConnectError::DnsLookup { host: pending.host }),
        };
    }

    /// The lookup's Deferred was cancelled: forget it, and take its job back
    /// if no worker has taken it yet.
    fn cancel(&self, id: u64) {
        let pending = self.pending.borrow_mut().remove(&id);
        if let Some(pending) = pending {
            pending.pool.cancel(id);
        }
    }

    /// The reactor is shutting down: every pending lookup fails with
    /// [`ConnectError::Shutdown`], oldest first, and its job is taken back.
    pub(crate) fn shut_down(&self) {
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        for (id, lookup) in pending {
            lookup.pool.cancel(id);
            let _ = lookup.deferred.errback(ConnectError::Shutdown);
        }
    }

    /// The reactor finished: closes every pool (queued jobs dropped, idle
    /// workers joined, busy ones leave after their lookup), forgets pending
    /// lookups without firing them, and fails later lookups at once.
    pub(crate) fn close(&self) {
        self.closed.set(true);
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        self.default.borrow_mut().take();
        let pools = std::mem::take(&mut *self.pools.borrow_mut());
        for pool in pools.iter().filter_map(WeakPool::upgrade) {
            pool.close();
        }
        drop(pending);
    }
}

impl Drop for Lookups {
    fn drop(&mut self) {
        // A reactor dropped without running still lets its threads go.
        for pool in self.pools.get_mut().iter().filter_map(WeakPool::upgrade) {
            pool.close();
        }
    }
}
