//! The resolver pool (`gyre::resolve`) through the reactor: its bound under
//! a thousand lookups at once, cancelled lookups (queued and running), idle
//! threads exiting, shutdown, and `connect_tcp` / `HostnameEndpoint` both
//! resolving on the reactor's one pool.
//!
//! Threads are counted by name (`gyre-resolver`) from
//! `/proc/self/task/*/comm`, so the tests of this file take turns
//! ([`serial`]): each would see the others' threads. Every name resolves on
//! this machine (IP literals, `localhost` from `/etc/hosts`, or made-up names
//! answered by an injected lookup, [`Gate`]): no test asks a DNS server.

mod util;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use gyre::deferred::{CancelledError, Deferred, Failure};
use gyre::endpoint::{ClientEndpointExt, HostnameEndpoint};
use gyre::resolve::{Resolver, ResolverOptions, ThreadResolver, system_lookup};
use gyre::{
    Address, ClientFactory, ConnectError, Connector, Factory, Protocol, Reactor, Shared,
    TcpConnectOptions, Transport, for_protocol,
};
use util::{capture_logs, join, logs, loopback, peer, run_for};

const LIMIT: Duration = Duration::from_secs(20);

static SERIAL: Mutex<()> = Mutex::new(());

/// One test of this file at a time (they count the process's threads).
fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Resolver threads alive in this process, counted by name.
fn resolver_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("procfs is mounted")
        .filter_map(Result::ok)
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|comm| comm.trim_end() == "gyre-resolver")
        })
        .count()
}

/// [`resolver_threads`] once the kernel has removed the threads that already
/// said they exited (a thread leaves `/proc` a moment after its last
/// instruction); gives up after [`LIMIT`] and returns the count then.
fn resolver_threads_after_exits(expected: usize) -> usize {
    let deadline = Instant::now() + LIMIT;
    loop {
        let n = resolver_threads();
        if n <= expected || Instant::now() > deadline {
            return n;
        }
        std::thread::yield_now();
    }
}

fn localhost(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

// ----- taking results out of Deferreds --------------------------------------

/// What a lookup's Deferred fired with.
type Answer = Result<Vec<SocketAddr>, Failure>;

type Outcome = Rc<RefCell<Option<Answer>>>;

/// Keeps what `d` fires with, to assert on after the run.
fn keep(d: Deferred<Vec<SocketAddr>>) -> Outcome {
    keep_and(d, || {})
}

/// [`keep`], then stops `reactor`.
fn keep_and_stop(reactor: &Reactor, d: Deferred<Vec<SocketAddr>>) -> Outcome {
    let r = reactor.clone();
    keep_and(d, move || {
        let _ = r.stop();
    })
}

fn keep_and(d: Deferred<Vec<SocketAddr>>, then: impl FnOnce() + 'static) -> Outcome {
    let cell: Outcome = Rc::default();
    let c = cell.clone();
    d.consume(move |result| {
        *c.borrow_mut() = Some(result);
        then();
    });
    cell
}

#[track_caller]
fn answer(outcome: &Outcome) -> Vec<SocketAddr> {
    match outcome.borrow().as_ref() {
        Some(Ok(addrs)) => addrs.clone(),
        Some(Err(f)) => panic!("expected an answer, got the failure {f}"),
        None => panic!("the lookup never fired"),
    }
}

#[track_caller]
fn failure(outcome: &Outcome) -> Failure {
    match outcome.borrow().as_ref() {
        Some(Err(f)) => f.clone(),
        Some(Ok(addrs)) => panic!("expected a failure, got the answer {addrs:?}"),
        None => panic!("the lookup never fired"),
    }
}

// ----- an injectable lookup ------------------------------------------------------

/// A lookup function for the pool: names starting with `fail` fail, names
/// starting with `empty` have no address, every other name answers
/// `127.0.0.1`; names starting with `hold` first report on `started` and
/// block until released.
/// Records what ran and on which thread, the most resolver threads alive at
/// any call, when each thread's last lookup returned, and (through a
/// thread-local guard) when each of its threads exits.
#[derive(Clone)]
struct Gate {
    inner: Arc<GateInner>,
}

struct GateInner {
    ran: Mutex<Vec<(String, ThreadId)>>,
    most_threads: AtomicUsize,
    last_return: Mutex<HashMap<ThreadId, Instant>>,
    started: Mutex<Sender<String>>,
    release: Mutex<Receiver<()>>,
    exits: Mutex<Sender<(ThreadId, Instant)>>,
}

/// The test's end of a [`Gate`].
struct Control {
    /// The name of each held lookup, once its thread is inside it.
    started: Receiver<String>,
    /// One message releases one held lookup.
    release: Sender<()>,
    /// Which thread that ran a lookup exited, and when.
    exits: Receiver<(ThreadId, Instant)>,
}

/// Sends when the thread that owns it exits (a thread-local's destructor).
struct ExitSignal(Sender<(ThreadId, Instant)>, ThreadId);

impl Drop for ExitSignal {
    fn drop(&mut self) {
        let _ = self.0.send((self.1, Instant::now()));
    }
}

thread_local! {
    static EXIT_SIGNAL: RefCell<Option<ExitSignal>> = const { RefCell::new(None) };
}

impl Gate {
    fn new() -> (Gate, Control) {
        let (started_tx, started) = mpsc::channel();
        let (release, release_rx) = mpsc::channel();
        let (exits_tx, exits) = mpsc::channel();
        let gate = Gate {
            inner: Arc::new(GateInner {
                ran: Mutex::new(Vec::new()),
                most_threads: AtomicUsize::new(0),
                last_return: Mutex::new(HashMap::new()),
                started: Mutex::new(started_tx),
                release: Mutex::new(release_rx),
                exits: Mutex::new(exits_tx),
            }),
        };
        let control = Control {
            started,
            release,
            exits,
        };
        (gate, control)
    }

    /// The options of a pool of `threads` threads running this lookup.
    fn options(&self, threads: usize) -> ResolverOptions {
        let gate = self.clone();
        ResolverOptions::default()
            .with_threads(threads)
            .with_lookup(move |host, port| gate.lookup(host, port))
    }

    fn lookup(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        let inner = &self.inner;
        let me = std::thread::current().id();
        EXIT_SIGNAL.with(|signal| {
            signal
                .borrow_mut()
                .get_or_insert_with(|| ExitSignal(inner.exits.lock().unwrap().clone(), me));
        });
        inner
            .most_threads
            .fetch_max(resolver_threads(), Ordering::SeqCst);
        inner.ran.lock().unwrap().push((host.to_string(), me));
        if host.starts_with("hold") {
            let _ = inner.started.lock().unwrap().send(host.to_string());
            // A test that never releases it fails on its own deadline first.
            let _ = inner.release.lock().unwrap().recv_timeout(LIMIT);
        }
        inner.last_return.lock().unwrap().insert(me, Instant::now());
        if host.starts_with("fail") {
            Err(std::io::Error::other("no such name"))
        } else if host.starts_with("empty") {
            Ok(Vec::new())
        } else {
            Ok(vec![localhost(port)])
        }
    }

    fn ran(&self) -> Vec<String> {
        let ran = self.inner.ran.lock().unwrap();
        ran.iter().map(|(name, _)| name.clone()).collect()
    }

    fn threads_used(&self) -> Vec<ThreadId> {
        let ran = self.inner.ran.lock().unwrap();
        let mut ids: Vec<ThreadId> = ran.iter().map(|(_, id)| *id).collect();
        ids.dedup();
        ids
    }

    fn most_threads(&self) -> usize {
        self.inner.most_threads.load(Ordering::SeqCst)
    }

    /// When the last lookup `thread` ran returned.
    fn last_return(&self, thread: ThreadId) -> Instant {
        let returns = self.inner.last_return.lock().unwrap();
        *returns.get(&thread).expect("the thread ran a lookup")
    }
}

// ----- TCP pieces ------------------------------------------------------------------

/// Echoes (the server side).
struct Echo;

impl Protocol for Echo {
    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        transport.write(data);
    }
}

/// Says nothing (the client side).
struct Quiet;

impl Protocol for Quiet {}

/// A client factory that records where it connected and why it failed, and
/// calls `on_event` after either.
#[derive(Default)]
struct Recorder {
    connected: RefCell<Vec<Address>>,
    failures: RefCell<Vec<ConnectError>>,
    on_event: RefCell<Option<Box<dyn Fn()>>>,
}

impl Recorder {
    fn then(on_event: impl Fn() + 'static) -> Recorder {
        Recorder {
            on_event: RefCell::new(Some(Box::new(on_event))),
            ..Recorder::default()
        }
    }

    fn event(&self) {
        if let Some(f) = &*self.on_event.borrow() {
            f();
        }
    }
}

impl Factory for Recorder {
    type Protocol = Quiet;

    fn build_protocol(&self, addr: &Address) -> Option<Quiet> {
        self.connected.borrow_mut().push(addr.clone());
        self.event();
        Some(Quiet)
    }
}

impl ClientFactory for Recorder {
    fn client_connection_failed(&self, _connector: &Connector, reason: &ConnectError) {
        self.failures.borrow_mut().push(reason.clone());
        self.event();
    }
}

fn listen_echo(reactor: &Reactor) -> u16 {
    reactor
        .listen_tcp_with(0, for_protocol(|| Echo), loopback())
        .expect("listen on 127.0.0.1")
        .address()
        .port()
}

// ----- the tests -------------------------------------------------------------------

/// A thousand lookups asked at once all get their answer while no more
/// resolver threads than the bound (4) are ever alive, and none is left
/// once the reactor has finished.
#[test]
fn thousand_lookups_stay_within_the_bound() {
    let _serial = serial();
    let reactor = Reactor::new().unwrap();
    // The reactor's own pool, bound 4, with the system lookup wrapped to
    // count the resolver threads from inside each worker as it starts a lookup.
    let most_seen_by_workers = Arc::new(AtomicUsize::new(0));
    let most = most_seen_by_workers.clone();
    reactor.set_resolver_options(ResolverOptions::default().with_threads(4).with_lookup(
        move |host, port| {
            most.fetch_max(resolver_threads(), Ordering::SeqCst);
            system_lookup(host, port)
        },
    ));
    // And a watcher thread counting them from outside until the run ends.
    let (stop_watching, stop) = mpsc::channel::<()>();
    let watcher = std::thread::spawn(move || {
        let (mut most, mut samples) = (0, 0u64);
        while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(Duration::from_micros(200)) {
            most = most.max(resolver_threads());
            samples += 1;
        }
        (most, samples)
    });

    const N: usize = 1000;
    let expected = |i: usize| -> SocketAddr {
        let ip = if i % 2 == 0 {
            Ipv4Addr::LOCALHOST
        } else {
            Ipv4Addr::new(127, 0, 0, 1 + (i % 250) as u8)
        };
        SocketAddr::new(IpAddr::V4(ip), 1000 + i as u16)
    };
    let resolver = ThreadResolver::new(&reactor);
    let answers: Rc<RefCell<Vec<(usize, Answer)>>> = Rc::default();
    for i in 0..N {
        // `localhost` comes from /etc/hosts; the literals are parsed, not looked up.
        let name = if i % 2 == 0 {
            "localhost".to_string()
        } else {
            expected(i).ip().to_string()
        };
        let (a, r) = (answers.clone(), reactor.clone());
        resolver
            .resolve(&name, 1000 + i as u16)
            .consume(move |result| {
                a.borrow_mut().push((i, result));
                if a.borrow().len() == N {
                    let _ = r.stop();
                }
            });
    }
    let queued_after_asking = resolver.queued();
    let threads_after_asking = resolver.threads();
    let started = Instant::now();
    run_for(&reactor, LIMIT);
    let took = started.elapsed();
    let left_after_run = resolver_threads();
    stop_watching.send(()).unwrap();
    let (most_watched, samples) = join(watcher);

    let answers = answers.borrow();
    assert_eq!(answers.len(), N, "every lookup answered");
    for (i, result) in answers.iter() {
        let addrs = result
            .as_ref()
            .unwrap_or_else(|f| panic!("lookup {i} failed: {f}"));
        assert!(
            addrs.contains(&expected(*i)),
            "lookup {i}: {addrs:?} lacks {}",
            expected(*i)
        );
    }
    let most_seen_by_workers = most_seen_by_workers.load(Ordering::SeqCst);
    eprintln!(
        "{N} lookups in {took:?}: {queued_after_asking} queued and {threads_after_asking} \
         threads right after asking; most resolver threads alive: {most_seen_by_workers} \
         (seen by the workers), {most_watched} (watcher, {samples} samples)"
    );
    assert!(
        (1..=4).contains(&most_seen_by_workers),
        "workers saw {most_seen_by_workers} resolver threads alive"
    );
    assert!(
        most_watched <= 4,
        "the watcher saw {most_watched} resolver threads alive"
    );
    assert!(threads_after_asking <= 4);
    assert_eq!(
        left_after_run, 0,
        "idle threads exit when the reactor finishes"
    );
}

/// A lookup cancelled while queued never runs and its Deferred fails with
/// `CancelledError`; the lookups around it run, in order, on the one thread.
#[test]
fn cancelled_queued_lookup_never_runs() {
    let _serial = serial();
    let reactor = Reactor::new().unwrap();
    let (gate, control) = Gate::new();
    let resolver = ThreadResolver::with_options(&reactor, gate.options(1));

    let held = keep(resolver.resolve("hold", 1));
    let started = control.started.recv_timeout(LIMIT);
    // The only thread is inside `hold`: this one waits in the queue.
    let queued = resolver.resolve("queued", 2);
    let cancelled = keep(queued.clone());
    let before_cancel = (resolver.threads(), resolver.queued());
    queued.cancel();
    let failed_at_once = cancelled.borrow().is_some();
    let after_cancel = resolver.queued();
    let after = keep_and_stop(&reactor, resolver.resolve("after", 3));
    control.release.send(()).unwrap();
    run_for(&reactor, LIMIT);

    assert_eq!(started.as_deref(), Ok("hold"));
    assert_eq!(before_cancel, (1, 1), "one thread busy, one lookup queued");
    assert_eq!(after_cancel, 0, "cancelling took the job out of the queue");
    assert!(failed_at_once);
    let f = failure(&cancelled);
    assert!(f.is::<CancelledError>(), "failed with {f}");
    assert_eq!(
        gate.ran(),
        ["hold", "after"],
        "the cancelled lookup never ran"
    );
    assert_eq!(answer(&held), [localhost(1)]);
    assert_eq!(answer(&after), [localhost(3)]);
    assert_eq!(gate.most_threads(), 1);
}

/// A lookup cancelled while its thread is inside it fails at once with
/// `CancelledError`; the thread finishes the call, the answer is dropped
/// (nothing fires or logs), and the same thread takes the next lookup.
#[test]
fn cancelled_running_lookup_answer_is_dropped() {
    let _serial = serial();
    capture_logs();
    let reactor = Reactor::new().unwrap();
    let (gate, control) = Gate::new();
    let resolver = ThreadResolver::with_options(&reactor, gate.options(1));

    let running = resolver.resolve("hold", 1);
    let outcome = keep(running.clone());
    let started = control.started.recv_timeout(LIMIT);
    running.cancel();
    let failed_at_once = outcome.borrow().is_some();
    let next = keep_and_stop(&reactor, resolver.resolve("next", 2));
    control.release.send(()).unwrap();
    // `next` runs after `hold` on the one thread, and answers come back in
    // order through one queue: when `next` fires, `hold`'s answer has
    // reached the reactor and been dropped.
    run_for(&reactor, LIMIT);

    assert_eq!(started.as_deref(), Ok("hold"));
    assert!(failed_at_once);
    let f = failure(&outcome);
    assert!(f.is::<CancelledError>(), "failed with {f}");
    assert_eq!(gate.ran(), ["hold", "next"], "the running lookup finished");
    assert_eq!(gate.threads_used().len(), 1, "one thread ran both");
    assert_eq!(answer(&next), [localhost(2)]);
    assert_eq!(gate.most_threads(), 1);
    let unhandled: Vec<_> = logs()
        .into_iter()
        .filter(|l| l.text.contains("Unhandled"))
        .collect();
    assert!(unhandled.is_empty(), "{unhandled:?}");
}

/// Resolver threads with nothing to do exit once the idle timeout has
/// passed (not before), leaving none while the reactor keeps running.
#[test]
fn idle_threads_exit_after_the_idle_timeout() {
    let _serial = serial();
    let reactor = Reactor::new().unwrap();
    let idle = Duration::from_millis(50);
    let (gate, control) = Gate::new();
    reactor.set_resolver_options(gate.options(2).with_idle_timeout(idle));
    let resolver = ThreadResolver::new(&reactor);

    let a = keep(resolver.resolve("hold-a", 1));
    let b = keep(resolver.resolve("hold-b", 2));
    // Both threads inside a lookup at once: the pool started two.
    let started: Vec<_> = (0..2)
        .map(|_| control.started.recv_timeout(LIMIT))
        .collect();
    let threads_when_busy = resolver.threads();
    control.release.send(()).unwrap();
    control.release.send(()).unwrap();

    // A peer waits for both threads to exit, counts what is left, asks the
    // reactor what its pool holds, then stops it.
    let exits = control.exits;
    let handle = reactor.thread_handle();
    let pool_count = Arc::new(AtomicUsize::new(usize::MAX));
    let count = pool_count.clone();
    let watcher = peer(&reactor, move || {
        let exited: Vec<_> = (0..2).map(|_| exits.recv_timeout(LIMIT)).collect();
        let os_threads = resolver_threads_after_exits(0);
        handle.call_from_thread(move |r| {
            count.store(ThreadResolver::new(r).threads(), Ordering::SeqCst);
        });
        (exited, os_threads)
    });
    run_for(&reactor, LIMIT);
    let (exited, os_threads) = join(watcher);

    assert!(started.iter().all(Result::is_ok), "{started:?}");
    assert_eq!(threads_when_busy, 2);
    assert_eq!(answer(&a), [localhost(1)]);
    assert_eq!(answer(&b), [localhost(2)]);
    for exit in &exited {
        let (thread, at) = exit.as_ref().expect("a resolver thread exited");
        let waited = at.duration_since(gate.last_return(*thread));
        assert!(
            waited >= idle,
            "a thread exited {waited:?} after its last lookup, before the idle timeout"
        );
    }
    assert_eq!(os_threads, 0, "no resolver thread left in the process");
    assert_eq!(
        pool_count.load(Ordering::SeqCst),
        0,
        "the pool holds no thread"
    );
}

/// `connect_tcp` with a host name and `HostnameEndpoint` both resolve on
/// the reactor's one pool: the same resolver thread answers both, and both
/// connect to the address it gave.
#[test]
fn connect_tcp_and_hostname_endpoint_share_the_pool() {
    let _serial = serial();
    let reactor = Reactor::new().unwrap();
    // Each lookup: the name, and the thread that ran it (id and name).
    type Asked = (String, ThreadId, Option<String>);
    let seen: Arc<Mutex<Vec<Asked>>> = Arc::default();
    let s = seen.clone();
    reactor.set_resolver_options(ResolverOptions::default().with_threads(1).with_lookup(
        move |host, port| {
            let me = std::thread::current();
            let name = me.name().map(str::to_string);
            s.lock().unwrap().push((host.to_string(), me.id(), name));
            system_lookup(host, port)
        },
    ));
    let port = listen_echo(&reactor);
    let done = Rc::new(Cell::new(0));
    let finish = {
        let (done, r) = (done.clone(), reactor.clone());
        move || {
            done.set(done.get() + 1);
            if done.get() == 2 {
                let _ = r.stop();
            }
        }
    };
    let f = finish.clone();
    let client = Shared::new(Recorder::then(f));
    reactor.connect_tcp("localhost", port, client.clone());
    let endpoint = HostnameEndpoint::new(&reactor, "localhost", port);
    let peer_of_endpoint = Rc::new(RefCell::new(None));
    let p = peer_of_endpoint.clone();
    endpoint.connect(for_protocol(|| Quiet)).consume(move |r| {
        *p.borrow_mut() = Some(r.map(|c| c.transport().peer()));
        finish();
    });
    run_for(&reactor, LIMIT);

    let seen = seen.lock().unwrap().clone();
    let hosts: Vec<&str> = seen.iter().map(|(h, _, _)| h.as_str()).collect();
    assert_eq!(
        hosts,
        ["localhost", "localhost"],
        "both looked up by the pool"
    );
    assert_eq!(seen[0].1, seen[1].1, "by the same thread");
    assert_eq!(seen[0].2.as_deref(), Some("gyre-resolver"));
    assert_eq!(*client.connected.borrow(), [Address::tcp(localhost(port))]);
    assert!(client.failures.borrow().is_empty());
    match peer_of_endpoint.borrow_mut().take() {
        Some(Ok(peer)) => assert_eq!(peer, Address::tcp(localhost(port))),
        Some(Err(f)) => panic!("the endpoint failed: {f}"),
        None => panic!("the endpoint never fired"),
    }
}

/// A connector abandoned while resolving cancels its lookup: stopped while
/// its lookup is queued, the lookup never runs; timed out while its lookup
/// runs, the answer is dropped and nothing connects; the next connector's
/// lookup then runs and connects.
#[test]
fn abandoned_connectors_cancel_their_lookups() {
    let _serial = serial();
    let reactor = Reactor::new().unwrap();
    let (gate, control) = Gate::new();
    reactor.set_resolver_options(gate.options(1));
    let port = listen_echo(&reactor);

    // `timed_out` holds the only thread; when it times out, release it.
    let Control {
        started, release, ..
    } = control;
    let timed_out = Shared::new(Recorder::then(move || {
        let _ = release.send(());
    }));
    let options = TcpConnectOptions {
        timeout: Some(Duration::from_millis(100)),
        ..TcpConnectOptions::default()
    };
    reactor.connect_tcp_with("hold.test", port, timed_out.clone(), options);
    let stopped = Shared::new(Recorder::default());
    let to_stop = reactor.connect_tcp("stopped.test", port, stopped.clone());
    let r = reactor.clone();
    let fine = Shared::new(Recorder::then(move || {
        let _ = r.stop();
    }));
    reactor.connect_tcp("fine.test", port, fine.clone());

    // After the first pass has asked for the three lookups, and once the
    // thread is inside the first, stop the second (it waits in the queue).
    let queued = Rc::new(RefCell::new(None));
    let (q, r) = (queued.clone(), reactor.clone());
    reactor.call_later(Duration::ZERO, move || {
        let running = started.recv_timeout(LIMIT);
        let before = ThreadResolver::new(&r).queued();
        to_stop.stop_connecting().unwrap();
        *q.borrow_mut() = Some((running, before, ThreadResolver::new(&r).queued()));
    });
    run_for(&reactor, LIMIT);

    let (running, before, after) = queued.take().expect("the timer ran");
    assert_eq!(running.as_deref(), Ok("hold.test"));
    assert_eq!(
        (before, after),
        (2, 1),
        "stopping took its lookup out of the queue"
    );
    assert_eq!(gate.ran(), ["hold.test", "fine.test"]);
    assert!(matches!(
        timed_out.failures.borrow()[..],
        [ConnectError::TimedOut]
    ));
    assert!(timed_out.connected.borrow().is_empty());
    assert!(matches!(
        stopped.failures.borrow()[..],
        [ConnectError::UserAborted]
    ));
    assert!(stopped.connected.borrow().is_empty());
    assert_eq!(*fine.connected.borrow(), [Address::tcp(localhost(port))]);
    assert!(fine.failures.borrow().is_empty());
    assert_eq!(gate.most_threads(), 1);
}

/// Shutting the reactor down fails every pending lookup with `Shutdown` (a
/// connector reports it as it would for a connecting socket); queued
/// lookups never run; the thread inside a lookup finishes it after the
/// reactor is gone and exits; later lookups fail at once.
#[test]
fn shutdown_fails_pending_lookups_and_lets_the_thread_go() {
    let _serial = serial();
    let reactor = Reactor::new().unwrap();
    let (gate, control) = Gate::new();
    reactor.set_resolver_options(gate.options(1));

    let running = Shared::new(Recorder::default());
    reactor.connect_tcp("hold.test", 80, running.clone());
    let queued = Shared::new(Recorder::default());
    reactor.connect_tcp("queued.test", 80, queued.clone());
    let direct: Rc<RefCell<Option<Outcome>>> = Rc::default();
    let (d, r) = (direct.clone(), reactor.clone());
    reactor.call_later(Duration::ZERO, move || {
        *d.borrow_mut() = Some(keep(ThreadResolver::new(&r).resolve("direct.test", 80)));
    });
    // Once the only thread is inside `hold.test`, stop the reactor.
    let started = control.started;
    let stopper = peer(&reactor, move || started.recv_timeout(LIMIT));
    run_for(&reactor, LIMIT);
    let started = join(stopper);

    let ran_at_shutdown = gate.ran();
    control.release.send(()).unwrap();
    let exited = control.exits.recv_timeout(LIMIT);
    let ran_after_exit = gate.ran();
    let late = keep(ThreadResolver::new(&reactor).resolve("late.test", 80));
    let left = resolver_threads_after_exits(0);

    assert_eq!(started.as_deref(), Ok("hold.test"));
    assert!(matches!(
        running.failures.borrow()[..],
        [ConnectError::Shutdown]
    ));
    assert!(matches!(
        queued.failures.borrow()[..],
        [ConnectError::Shutdown]
    ));
    let direct = direct.borrow_mut().take().expect("asked");
    let f = failure(&direct);
    assert!(
        matches!(f.check::<ConnectError>(), Some(ConnectError::Shutdown)),
        "failed with {f}"
    );
    assert_eq!(ran_at_shutdown, ["hold.test"]);
    assert!(exited.is_ok(), "the busy thread exited after its lookup");
    assert_eq!(ran_after_exit, ["hold.test"], "queued lookups were dropped");
    let f = failure(&late);
    assert!(
        matches!(f.check::<ConnectError>(), Some(ConnectError::Shutdown)),
        "failed with {f}"
    );
    assert_eq!(left, 0);
}

/// A name whose lookup fails, or finds no address, fails `connect_tcp` with
/// `DnsLookup` naming it.
#[test]
fn failed_lookups_fail_connects_with_dns_lookup() {
    let _serial = serial();
    let reactor = Reactor::new().unwrap();
    let (gate, _control) = Gate::new();
    reactor.set_resolver_options(gate.options(1));
    let failed = Rc::new(Cell::new(0));
    let recorder = || {
        let (failed, r) = (failed.clone(), reactor.clone());
        Shared::new(Recorder::then(move || {
            failed.set(failed.get() + 1);
            if failed.get() == 2 {
                let _ = r.stop();
            }
        }))
    };
    let (unknown, empty) = (recorder(), recorder());
    reactor.connect_tcp("fail.test", 80, unknown.clone());
    reactor.connect_tcp("empty.test", 80, empty.clone());
    run_for(&reactor, LIMIT);

    assert_eq!(gate.ran(), ["fail.test", "empty.test"]);
    for (factory, name) in [(&unknown, "fail.test"), (&empty, "empty.test")] {
        let failures = factory.failures.borrow();
        match &failures[..] {
            [ConnectError::DnsLookup { host }] => assert_eq!(host, name),
            other => panic!("{name}: expected one DnsLookup failure, got {other:?}"),
        }
        assert!(factory.connected.borrow().is_empty());
    }
}

/// Raising the reactor's bound while lookups wait starts a thread for them
/// at once, without waiting for the busy thread.
#[test]
fn raising_the_bound_starts_threads_for_queued_lookups() {
    let _serial = serial();
    let reactor = Reactor::new().unwrap();
    let (gate, control) = Gate::new();
    reactor.set_resolver_options(gate.options(1));
    let resolver = ThreadResolver::new(&reactor);

    // The reactor stops once all three have answered.
    let answered = Rc::new(Cell::new(0));
    let counted = |d: Deferred<Vec<SocketAddr>>| {
        let (answered, r) = (answered.clone(), reactor.clone());
        keep_and(d, move || {
            answered.set(answered.get() + 1);
            if answered.get() == 3 {
                let _ = r.stop();
            }
        })
    };
    let first = counted(resolver.resolve("hold-1", 1));
    let started_first = control.started.recv_timeout(LIMIT);
    let second = counted(resolver.resolve("hold-2", 2));
    let before = (resolver.threads(), resolver.queued());
    reactor.set_resolver_threads(2);
    // The second starts while the first still holds its thread.
    let started_second = control.started.recv_timeout(LIMIT);
    let after = (resolver.threads(), resolver.queued());
    let last = counted(resolver.resolve("last", 3));
    control.release.send(()).unwrap();
    control.release.send(()).unwrap();
    run_for(&reactor, LIMIT);

    assert_eq!(started_first.as_deref(), Ok("hold-1"));
    assert_eq!(before, (1, 1));
    assert_eq!(started_second.as_deref(), Ok("hold-2"));
    assert_eq!(after, (2, 0));
    assert_eq!(answer(&first), [localhost(1)]);
    assert_eq!(answer(&second), [localhost(2)]);
    assert_eq!(answer(&last), [localhost(3)]);
    assert_eq!(gate.most_threads(), 2);
}
