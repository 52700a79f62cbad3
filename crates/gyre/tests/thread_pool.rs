//! The reactor's thread pool (reference §1.5): `defer_to_thread` results
//! and panics back on the reactor thread, `blocking_call_from_thread`
//! both ways, the pool's bound under a burst of 10,000 blocking calls,
//! and a shutdown that lets queued work finish.

mod util;

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gyre::Reactor;
use gyre::deferred::PanicError;
use gyre::reactor::{BlockingCallError, PoolStopped, ThreadPool};
use util::run_for;

const LIMIT: Duration = Duration::from_secs(60);

/// The result comes back on the reactor thread; a panic becomes a
/// `PanicError` failure with its message.
#[test]
fn defer_to_thread_result_and_panic() {
    let reactor = Reactor::new().unwrap();
    let here = std::thread::current().id();
    let got: Rc<RefCell<Vec<String>>> = Rc::default();
    let (g, r) = (got.clone(), reactor.clone());
    reactor
        .defer_to_thread(|| std::thread::current().name().map(str::to_string))
        .consume(move |res| {
            // Recorded, not asserted: the test checks after the run.
            let name = match res {
                Ok(name) => name.unwrap_or_default(),
                Err(f) => format!("failed: {f}"),
            };
            g.borrow_mut().push(format!(
                "worker {} / callback on reactor thread: {}",
                name.starts_with("gyre-pool-"),
                std::thread::current().id() == here
            ));
            let g = g.clone();
            r.defer_to_thread(|| -> u32 { panic!("boom in a thread") })
                .consume(move |res| {
                    g.borrow_mut().push(match res {
                        Err(failure) => format!(
                            "{}: {}",
                            failure.is::<PanicError>(),
                            failure.error_message()
                        ),
                        Ok(v) => format!("no failure: {v}"),
                    });
                    let _ = r.stop();
                });
        });
    run_for(&reactor, LIMIT);
    assert_eq!(
        *got.borrow(),
        [
            "worker true / callback on reactor thread: true",
            "true: a callback panicked: boom in a thread"
        ]
    );
}

/// A worker asks the reactor for a value and waits for it; on the reactor
/// thread the same call fails at once instead of deadlocking; after the
/// reactor has finished it fails too.
#[test]
fn blocking_call_from_thread_both_ways() {
    let reactor = Reactor::new().unwrap();
    let handle = reactor.thread_handle();
    let on_reactor: Rc<RefCell<Option<String>>> = Rc::default();
    let from_worker: Arc<Mutex<Option<String>>> = Arc::default();
    let (o, h) = (on_reactor.clone(), handle.clone());
    let (w, h2) = (from_worker.clone(), handle.clone());
    let r = reactor.clone();
    reactor.call_when_running(move || {
        *o.borrow_mut() = Some(format!("{:?}", h.blocking_call_from_thread(|_| 1)));
        let queued = r.call_in_thread(move || {
            let answer = h2.blocking_call_from_thread(|r| r.is_running());
            *w.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("{answer:?}"));
            h2.stop();
        });
        if queued.is_err() {
            let _ = r.stop();
        }
    });
    run_for(&reactor, LIMIT);
    assert_eq!(on_reactor.borrow().as_deref(), Some("Err(OnReactorThread)"));
    assert_eq!(from_worker.lock().unwrap().as_deref(), Some("Ok(true)"));
    let after = std::thread::spawn(move || handle.blocking_call_from_thread(|_| 1))
        .join()
        .unwrap();
    assert!(matches!(after, Err(BlockingCallError::ReactorStopped)));
}

/// 10,000 blocking calls at once: at most 10 threads run them (the
/// default bound), every result arrives, in a Deferred each.
#[test]
fn a_burst_of_ten_thousand_blocking_calls() {
    const CALLS: usize = 10_000;
    let reactor = Reactor::new().unwrap();
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let names: Arc<Mutex<HashSet<String>>> = Arc::default();
    let sum = Rc::new(Cell::new(0usize));
    let done = Rc::new(Cell::new(0usize));
    let r = reactor.clone();
    let (running2, most2, names2, sum2, done2) = (
        running.clone(),
        most.clone(),
        names.clone(),
        sum.clone(),
        done.clone(),
    );
    reactor.call_when_running(move || {
        for i in 0..CALLS {
            let (running, most, names) = (running2.clone(), most2.clone(), names2.clone());
            let (sum, done, r2) = (sum2.clone(), done2.clone(), r.clone());
            r.defer_to_thread(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                names
                    .lock()
                    .unwrap()
                    .insert(std::thread::current().name().unwrap_or("").to_string());
                std::thread::sleep(Duration::from_micros(200));
                running.fetch_sub(1, Ordering::SeqCst);
                i
            })
            .consume(move |res| {
                // A failure counts as no result (the sum then differs).
                sum.set(sum.get() + res.unwrap_or(0));
                done.set(done.get() + 1);
                if done.get() == CALLS {
                    let _ = r2.stop();
                }
            });
        }
    });
    run_for(&reactor, LIMIT);
    assert_eq!(done.get(), CALLS);
    assert_eq!(sum.get(), CALLS * (CALLS - 1) / 2);
    let most = most.load(Ordering::SeqCst);
    assert!((1..=10).contains(&most), "{most} calls ran at once");
    assert!(
        names.lock().unwrap().len() <= 10,
        "{:?}",
        names.lock().unwrap()
    );
}

/// `suggest_thread_pool_size(2)`: no more than two calls run at once.
#[test]
fn suggest_thread_pool_size_bounds_the_threads() {
    let reactor = Reactor::new().unwrap();
    reactor.suggest_thread_pool_size(2);
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let left = Rc::new(Cell::new(50));
    for _ in 0..50 {
        let (running, most) = (running.clone(), most.clone());
        let (left, r) = (left.clone(), reactor.clone());
        reactor
            .defer_to_thread(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(1));
                running.fetch_sub(1, Ordering::SeqCst);
            })
            .consume(move |_| {
                left.set(left.get() - 1);
                if left.get() == 0 {
                    let _ = r.stop();
                }
            });
    }
    // Queued, not run: the pool starts with the reactor.
    let (_, max, workers, queued) = reactor.thread_pool().stats();
    assert_eq!((max, workers, queued), (2, 0, 50));
    run_for(&reactor, LIMIT);
    assert_eq!(left.get(), 0);
    assert!(most.load(Ordering::SeqCst) <= 2);
}

/// Stopping the reactor with work queued: every queued call still runs,
/// its Deferred fires before the loop ends, and a worker waiting on the
/// reactor during the shutdown gets its answer. Work offered after the
/// shutdown began is refused with `PoolStopped`.
#[test]
fn shutdown_lets_queued_work_finish() {
    let reactor = Reactor::new().unwrap();
    reactor.suggest_thread_pool_size(1);
    let ran = Arc::new(AtomicUsize::new(0));
    let fired = Rc::new(Cell::new(0));
    let late: Rc<RefCell<Option<String>>> = Rc::default();
    let answer: Arc<Mutex<Option<String>>> = Arc::default();
    let (r, ran2, fired2, late2, answer2) = (
        reactor.clone(),
        ran.clone(),
        fired.clone(),
        late.clone(),
        answer.clone(),
    );
    reactor.call_when_running(move || {
        let handle = r.thread_handle();
        for _ in 0..20 {
            let ran = ran2.clone();
            let fired = fired2.clone();
            r.defer_to_thread(move || {
                std::thread::sleep(Duration::from_millis(2));
                ran.fetch_add(1, Ordering::SeqCst);
            })
            .consume(move |res| {
                if res.is_ok() {
                    fired.set(fired.get() + 1);
                }
            });
        }
        let _queued = r.call_in_thread(move || {
            let got = handle.blocking_call_from_thread(|r| r.is_running());
            *answer2.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("{got:?}"));
        });
        let _ = r.stop();
        let r2 = r.clone();
        r.add_system_event_trigger(
            gyre::Phase::During,
            gyre::SystemEvent::Shutdown,
            move || {
                *late2.borrow_mut() = Some(format!("{:?}", r2.call_in_thread(|| {})));
                None
            },
        );
    });
    run_for(&reactor, LIMIT);
    assert_eq!(ran.load(Ordering::SeqCst), 20);
    assert_eq!(fired.get(), 20);
    assert_eq!(answer.lock().unwrap().as_deref(), Some("Ok(true)"));
    assert_eq!(
        late.borrow().as_deref(),
        Some(format!("{:?}", Err::<(), _>(PoolStopped)).as_str())
    );
}

/// A pool of one's own: `defer_to_thread_pool`, and `stop` runs what was
/// queued even on a pool that never started.
#[test]
fn a_pool_of_ones_own() {
    let pool = ThreadPool::new(0, 3, "mine");
    let count = Arc::new(AtomicUsize::new(0));
    for _ in 0..10 {
        let c = count.clone();
        pool.call_in_thread(move || {
            c.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    pool.stop();
    assert_eq!(count.load(Ordering::SeqCst), 10);
    assert_eq!(pool.call_in_thread(|| {}), Err(PoolStopped));

    let reactor = Reactor::new().unwrap();
    let pool = ThreadPool::new(1, 2, "other");
    pool.start();
    let got = Rc::new(Cell::new(None));
    let (g, r) = (got.clone(), reactor.clone());
    reactor
        .defer_to_thread_pool(&pool, || {
            std::thread::current()
                .name()
                .map(|n| n.starts_with("other-"))
        })
        .consume(move |res| {
            g.set(res.ok().flatten());
            let _ = r.stop();
        });
    run_for(&reactor, LIMIT);
    pool.stop();
    assert_eq!(got.get(), Some(true));
}
