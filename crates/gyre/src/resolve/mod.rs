//! Name resolution: a bounded, cancellable pool of resolver threads.
//!
//! Turning a host name into addresses means calling the system's
//! `getaddrinfo`, which blocks (on `/etc/hosts`, on a cache, on a DNS server
//! a network away) and cannot be interrupted. gyre runs it on a small pool
//! of threads, so the reactor never blocks, and hands each answer back to
//! the reactor thread through the one door in from other threads,
//! [`ThreadHandle::call_from_thread`](crate::ThreadHandle::call_from_thread).
//!
//! Every lookup a reactor makes goes through that reactor's pool:
//! [`Reactor::connect_tcp`](crate::Reactor::connect_tcp) with a host name,
//! [`HostnameEndpoint`](crate::endpoint::HostnameEndpoint) (and so the
//! `tcp:`/`tcp6:` client strings), and [`ThreadResolver::new`] for your own
//! lookups. The reactor makes the pool on its first lookup.
//!
//! # What the pool owns
//!
//! * **Threads, at most a bound** (default
//!   [`ResolverOptions::DEFAULT_THREADS`], 4), started one by one as
//!   lookups arrive and no thread is free, named `gyre-resolver`. Beyond the
//!   bound, lookups wait in a queue and run first come, first served.
//!   Four because a lookup mostly *waits*: threads here buy concurrency,
//!   not CPU. One thread would let a single slow name (a DNS server that
//!   times out after seconds) hold up every connect behind it; a thread per
//!   lookup, what gyre did before, lets a burst of a thousand connects start
//!   a thousand threads, each with its stack, all asking the same local
//!   resolver at once. A few threads let fast names pass a slow one while
//!   the cost stays small and fixed. (Twisted runs `getaddrinfo` on the
//!   reactor's general thread pool, at most 10 threads shared with all other
//!   blocking work.) A program that resolves many slow names at once (a
//!   crawler) raises it with [`Reactor::set_resolver_threads`].
//! * **No thread when idle**: a thread with nothing to do for
//!   [`ResolverOptions::DEFAULT_IDLE_TIMEOUT`] (5 s) exits, so a burst of
//!   connects reuses the threads it started and an idle program holds none.
//!   A thread that exited is joined before another starts, so not even for
//!   the moment an exiting thread takes to disappear does the pool hold
//!   more threads than its bound.
//! * **The queue of lookups** not started yet, and for each pending lookup
//!   the [`Deferred`] its answer fires (on the reactor thread).
//!
//! # Cancellation
//!
//! Cancelling a lookup's Deferred fails it at once with
//! [`CancelledError`](crate::deferred::CancelledError). If the lookup was
//! still queued, it is removed and never runs. If a thread is already
//! inside `getaddrinfo`, the call cannot be interrupted: the thread finishes
//! it, the answer is dropped when it reaches the reactor, and the thread
//! goes on to the next job. No thread is started to replace a busy one, so
//! the pool stays bounded either way (and a lookup stuck in a slow DNS
//! query keeps its thread until the query gives up).
//!
//! A TCP connector cancels its lookup when the attempt is abandoned (its
//! timeout, [`Connector::stop_connecting`](crate::Connector::stop_connecting)),
//! and so does a [`HostnameEndpoint`](crate::endpoint::HostnameEndpoint)
//! whose `connect` Deferred is cancelled.
//!
//! # Shutdown
//!
//! When the reactor shuts down, every lookup still pending fails with
//! [`ConnectError::Shutdown`] (queued ones are removed), at the moment
//! connecting sockets fail the same way; a connector resolving a name
//! reports it through `client_connection_failed` as if it were connecting.
//! When the reactor's run ends, its pools close: queued jobs are dropped,
//! idle threads exit (the reactor joins them), and a thread inside
//! `getaddrinfo` finishes the call and exits, its answer going nowhere.
//! Lookups asked for after that fail at once with `Shutdown`.
//!
//! # Example
//!
//! ```
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use gyre::deferred::CancelledError;
//! use gyre::resolve::{Resolver, ThreadResolver};
//! use gyre::Reactor;
//!
//! let reactor = Reactor::new()?;
//! reactor.set_resolver_threads(2); // the reactor's pool: at most 2 threads
//! let resolver = ThreadResolver::new(&reactor);
//!
//! let answer = Rc::new(RefCell::new(None));
//! let slot = answer.clone();
//! let r = reactor.clone();
//! resolver.resolve("localhost", 8080).consume(move |result| {
//!     *slot.borrow_mut() = Some(result);
//!     r.stop().unwrap();
//! });
//!
//! // A lookup nobody wants any more: it fails with CancelledError at once.
//! let unwanted = resolver.resolve("localhost", 9090);
//! unwanted.cancel();
//! let outcome = Rc::new(RefCell::new(None));
//! let seen = outcome.clone();
//! unwanted.consume(move |result| *seen.borrow_mut() = Some(result));
//!
//! reactor.run()?;
//! let addrs = answer.borrow_mut().take().expect("answered").expect("resolved");
//! assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 8080));
//! let failure = outcome.borrow_mut().take().expect("fired").unwrap_err();
//! assert!(failure.is::<CancelledError>());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Where things are: `pool.rs` (the threads, the queue, the bound, idle
//! exit), `lookups.rs` (the reactor's side: pending Deferreds, its pool,
//! shutdown). Tests: the bottom of `pool.rs`, and `tests/resolver.rs`.

mod lookups;
mod pool;

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use crate::deferred::Deferred;
use crate::error::ConnectError;
use crate::reactor::Reactor;

pub(crate) use lookups::Lookups;
use pool::{LookupFn, Pool};

/// Turns a host name into addresses (Twisted's `IHostnameResolver`).
///
/// [`HostnameEndpoint`](crate::endpoint::HostnameEndpoint) uses one; tests
/// give it a fake that answers from a table, so no test ever asks a real
/// DNS server.
///
/// A resolver answers with a [`Deferred`], so one that knows at once (a
/// table, a cache) fires it before returning:
///
/// ```
/// use std::collections::HashMap;
/// use std::net::{IpAddr, SocketAddr};
///
/// use gyre::deferred::{fail, succeed};
/// use gyre::resolve::Resolver;
/// use gyre::testing::{failure_result_of, success_result_of};
/// use gyre::{ConnectError, Deferred};
///
/// struct Table(HashMap<&'static str, IpAddr>);
///
/// impl Resolver for Table {
///     fn resolve(&self, host: &str, port: u16) -> Deferred<Vec<SocketAddr>> {
///         match self.0.get(host) {
///             Some(ip) => succeed(vec![SocketAddr::new(*ip, port)]),
///             None => fail(ConnectError::DnsLookup { host: host.to_string() }),
///         }
///     }
/// }
///
/// let table = Table(HashMap::from([("cache.test", IpAddr::from([127, 0, 0, 1]))]));
/// let found = success_result_of(&table.resolve("cache.test", 6379));
/// assert_eq!(found, [SocketAddr::from(([127, 0, 0, 1], 6379))]);
/// let missing = failure_result_of(&table.resolve("other.test", 6379));
/// assert_eq!(missing.to_string(), "DNS lookup failed: other.test.");
/// ```
///
/// [`HostnameEndpoint::with_resolver`](crate::endpoint::HostnameEndpoint::with_resolver)
/// takes one; its example connects through such a table.
pub trait Resolver {
    /// Every address for `host` and `port`, in the order to try them.
    /// Fails with [`ConnectError::DnsLookup`] when the name does not resolve.
    fn resolve(&self, host: &str, port: u16) -> Deferred<Vec<SocketAddr>>;
}

/// The system resolver (`getaddrinfo`) on a bounded pool of threads, so the
/// reactor never blocks (see the [module docs](self)).
///
/// Addresses come back in the system's preferred order (RFC 6724), IPv6 and
/// IPv4 alike. A name that does not resolve fails with
/// [`ConnectError::DnsLookup`]; cancelling the Deferred removes a queued
/// lookup, or drops the answer of one already running.
///
/// [`new`](Self::new) uses the reactor's own pool, shared with
/// `connect_tcp` and `HostnameEndpoint`; [`with_threads`](Self::with_threads)
/// and [`with_options`](Self::with_options) make a separate pool for this
/// resolver and its clones.
///
/// The lookup runs on a pool thread and its answer comes back to the
/// reactor's thread. Here the pool's lookup function is a table of its own
/// (it may block, as `getaddrinfo` does) that notes the thread it ran on:
///
/// ```
/// use std::cell::RefCell;
/// use std::net::SocketAddr;
/// use std::rc::Rc;
/// use std::sync::{Arc, Mutex};
///
/// use gyre::resolve::{system_lookup, Resolver, ResolverOptions, ThreadResolver};
/// use gyre::Reactor;
///
/// let reactor = Reactor::new()?;
/// # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
/// # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
/// let ran_on = Arc::new(Mutex::new(None));
/// let noted = ran_on.clone();
/// let options = ResolverOptions::default().with_threads(1).with_lookup(move |host, port| {
///     *noted.lock().unwrap() = std::thread::current().name().map(str::to_string);
///     match host {
///         "queue.internal" => Ok(vec![SocketAddr::from(([127, 0, 0, 9], port))]),
///         _ => system_lookup(host, port),
///     }
/// });
/// let resolver = ThreadResolver::with_options(&reactor, options);
///
/// let answer = Rc::new(RefCell::new(None));
/// let (slot, r) = (answer.clone(), reactor.clone());
/// resolver.resolve("queue.internal", 5672).consume(move |result| {
///     *slot.borrow_mut() = Some(result.map_err(|f| f.to_string()));
///     r.stop().unwrap();
/// });
/// reactor.run()?;
///
/// let addresses = answer.borrow_mut().take().expect("answered")?;
/// assert_eq!(addresses, [SocketAddr::from(([127, 0, 0, 9], 5672))]);
/// assert_eq!(ran_on.lock().unwrap().as_deref(), Some("gyre-resolver"), "not the reactor's thread");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ThreadResolver {
    reactor: Reactor,
    /// `None`: the reactor's own pool.
    pool: Option<Pool>,
}

impl ThreadResolver {
    /// A resolver on `reactor`'s own pool (made on the first lookup, sized
    /// by [`Reactor::set_resolver_threads`]).
    pub fn new(reactor: &Reactor) -> ThreadResolver {
        ThreadResolver {
            reactor: reactor.clone(),
            pool: None,
        }
    }

    /// A resolver with a pool of its own, of at most `threads` threads (0
    /// counts as 1), answering to `reactor`.
    pub fn with_threads(reactor: &Reactor, threads: usize) -> ThreadResolver {
        ThreadResolver::with_options(reactor, ResolverOptions::default().with_threads(threads))
    }

    /// A resolver with a pool of its own, run as `options` say (threads,
    /// idle timeout, lookup function). The pool starts no thread until the
    /// first lookup and closes when `reactor` finishes.
    pub fn with_options(reactor: &Reactor, options: ResolverOptions) -> ThreadResolver {
        let pool = reactor.inner.lookups.new_pool(&options);
        ThreadResolver {
            reactor: reactor.clone(),
            pool: Some(pool),
        }
    }

    /// How many resolver threads this resolver's pool holds now.
    pub fn threads(&self) -> usize {
        self.pool().map_or(0, |p| p.live())
    }

    /// How many lookups wait for a free thread in this resolver's pool.
    pub fn queued(&self) -> usize {
        self.pool().map_or(0, |p| p.queued())
    }

    /// This resolver's pool if it exists yet.
    fn pool(&self) -> Option<Pool> {
        match &self.pool {
            Some(pool) => Some(pool.clone()),
            None => self.reactor.inner.lookups.default_pool_if_made(),
        }
    }
}

impl Resolver for ThreadResolver {
    fn resolve(&self, host: &str, port: u16) -> Deferred<Vec<SocketAddr>> {
        Lookups::resolve(&self.reactor, self.pool.as_ref(), host, port)
    }
}

impl fmt::Debug for ThreadResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ThreadResolver");
        match self.pool() {
            Some(pool) => d.field("pool", &pool),
            None => d.field("pool", &"not started"),
        };
        d.finish()
    }
}

/// How a resolver pool runs: its bound, its idle timeout, and the blocking
/// lookup its threads call.
///
/// For the reactor's own pool, give it to
/// [`Reactor::set_resolver_options`]; for a separate one, to
/// [`ThreadResolver::with_options`]. The lookup function is the place for a
/// name table of your own (tests that connect to made-up names on loopback,
/// a service directory):
///
/// ```
/// use std::net::SocketAddr;
/// use gyre::resolve::{system_lookup, ResolverOptions};
/// use gyre::Reactor;
///
/// let reactor = Reactor::new()?;
/// reactor.set_resolver_options(ResolverOptions::default().with_lookup(|host, port| {
///     match host {
///         "db.internal" => Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))]),
///         _ => system_lookup(host, port),
///     }
/// }));
/// // reactor.connect_tcp("db.internal", 5432, factory) now connects to 127.0.0.1.
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ResolverOptions {
    threads: usize,
    idle_timeout: Duration,
    lookup: Arc<LookupFn>,
}

impl ResolverOptions {
    /// The default bound on resolver threads (see the [module docs](self)
    /// for why 4), set beside the reactor's own pool's:
    /// [`DEFAULT_RESOLVER_THREADS`](crate::reactor::DEFAULT_RESOLVER_THREADS).
    pub const DEFAULT_THREADS: usize = crate::reactor::DEFAULT_RESOLVER_THREADS;
    /// How long a resolver thread waits for work before it exits, by default.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(5);

    /// At most `threads` threads (0 counts as 1).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// A thread with no work for `timeout` exits.
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// The threads call `lookup(host, port)` instead of [`system_lookup`].
    /// It may block; an `Err` (or a panic) fails the lookup with
    /// [`ConnectError::DnsLookup`].
    pub fn with_lookup(
        mut self,
        lookup: impl Fn(&str, u16) -> io::Result<Vec<SocketAddr>> + Send + Sync + 'static,
    ) -> Self {
        self.lookup = Arc::new(lookup);
        self
    }

    /// The bound on threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The idle timeout.
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }
}

impl Default for ResolverOptions {
    fn default() -> Self {
        ResolverOptions {
            threads: Self::DEFAULT_THREADS,
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
            lookup: Arc::new(system_lookup),
        }
    }
}

impl fmt::Debug for ResolverOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolverOptions")
            .field("threads", &self.threads)
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

/// The system's lookup (`getaddrinfo`, through std): every address of
/// `host` with `port`, in the system's order. Blocks; an IP literal is
/// parsed without asking anyone.
pub fn system_lookup(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    (host, port).to_socket_addrs().map(Iterator::collect)
}

/// The resolver's part of the reactor's API.
impl Reactor {
    /// Sets how many threads the reactor's own resolver pool may run
    /// (default [`ResolverOptions::DEFAULT_THREADS`]; 0 counts as 1). Takes
    /// effect at once: a higher bound starts threads for queued lookups; with
    /// a lower one, threads above it exit as they finish their lookup.
    pub fn set_resolver_threads(&self, threads: usize) {
        self.inner.lookups.set_threads(threads);
    }

    /// Sets how the reactor's own resolver pool runs, for lookups from now
    /// on. If the pool already exists, it finishes its queued lookups and
    /// lets its threads go, and the next lookup starts a new pool.
    pub fn set_resolver_options(&self, options: ResolverOptions) {
        self.inner.lookups.set_options(options);
    }
}

/// The first IPv4 address, else the first of any family (how a TCP
/// connector picks among a name's addresses, as Twisted does).
pub(crate) fn first_address(addrs: &[SocketAddr]) -> Option<SocketAddr> {
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
}

/// The error a failed lookup for `host` reports: the failure's own
/// [`ConnectError`] (a `DnsLookup`, a `Shutdown`), else `DnsLookup`.
pub(crate) fn lookup_error(host: &str, failure: &crate::Failure) -> ConnectError {
    match failure.check::<ConnectError>() {
        Some(e) => e.clone(),
        None => ConnectError::DnsLookup {
            host: host.to_string(),
        },
    }
}
