//! Futures on the reactor: `spawn`, `sleep`, awaiting Deferreds, cancelling
//! and panicking tasks, wakes from other threads; and the unhandled-failure
//! log of a dropped Deferred.

mod util;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use gyre::Reactor;
use gyre::deferred::{CancelledError, Deferred, Failure, PanicError, defer_later};
use gyre::testing::{failure_result_of_type, success_result_of};
use util::{capture_logs, run_for, take_logs};

const LIMIT: Duration = Duration::from_secs(10);

/// An async block sleeps on the reactor's clock, awaits a Deferred fired by
/// a timer, and its result comes back through the Deferred `spawn` returned.
#[test]
fn spawned_future_sleeps_and_awaits() {
    let reactor = Reactor::new().unwrap();
    let r = reactor.clone();
    let started = Instant::now();
    let done = reactor.spawn(async move {
        r.sleep(Duration::from_millis(50)).await.unwrap();
        let later = defer_later(&r, Duration::from_millis(20), || 40);
        let n = later.await.unwrap();
        r.stop().unwrap();
        n + 2
    });
    run_for(&reactor, LIMIT);
    assert_eq!(success_result_of(&done), 42);
    assert!(started.elapsed() >= Duration::from_millis(70));
    assert_eq!(reactor.pending_tasks(), 0);
}

/// Futures need not be Send: an Rc crosses an await point.
#[test]
fn futures_need_not_be_send() {
    let reactor = Reactor::new().unwrap();
    let shared = Rc::new(RefCell::new(Vec::new()));
    for i in 0..3 {
        let r = reactor.clone();
        let s = shared.clone();
        reactor.spawn(async move {
            r.sleep(Duration::from_millis(10 * (3 - i))).await.unwrap();
            s.borrow_mut().push(i);
            if s.borrow().len() == 3 {
                r.stop().unwrap();
            }
        });
    }
    run_for(&reactor, LIMIT);
    assert_eq!(*shared.borrow(), [2, 1, 0]);
}

/// Cancelling the Deferred of a spawned future drops the future: it is
/// not polled again, and the Deferred fails with CancelledError.
#[test]
fn cancelling_a_task_drops_it() {
    let reactor = Reactor::new().unwrap();
    let r = reactor.clone();
    let reached = Rc::new(RefCell::new(false));
    let flag = reached.clone();
    let task = reactor.spawn(async move {
        r.sleep(Duration::from_millis(100)).await.unwrap();
        *flag.borrow_mut() = true;
    });
    let t = task.clone();
    reactor.call_later(Duration::from_millis(10), move || t.cancel());
    let r = reactor.clone();
    reactor.call_later(Duration::from_millis(300), move || r.stop().unwrap());
    run_for(&reactor, LIMIT);
    failure_result_of_type::<CancelledError>(&task);
    assert!(!*reached.borrow(), "the cancelled future kept running");
    assert_eq!(reactor.pending_tasks(), 0);
}

/// A panic inside a spawned future fails its Deferred; other tasks go on.
#[test]
fn panicking_task_fails_its_deferred_only() {
    let reactor = Reactor::new().unwrap();
    let bad = reactor.spawn(async { panic!("task exploded") });
    let r = reactor.clone();
    let good = reactor.spawn(async move {
        r.sleep(Duration::from_millis(20)).await.unwrap();
        r.stop().unwrap();
        "fine"
    });
    run_for(&reactor, LIMIT);
    let failure = failure_result_of_type::<PanicError>(&bad);
    assert_eq!(failure.to_string(), "a callback panicked: task exploded");
    assert_eq!(success_result_of(&good), "fine");
}

/// `spawn_fallible`: an `Err` from the future fails the Deferred with it.
#[test]
fn fallible_future_errors_become_failures() {
    let reactor = Reactor::new().unwrap();
    let d: Deferred<u8> = reactor.spawn_fallible(async { Err::<u8, _>(std::fmt::Error) });
    let r = reactor.clone();
    reactor.call_later(Duration::from_millis(10), move || r.stop().unwrap());
    run_for(&reactor, LIMIT);
    failure_result_of_type::<std::fmt::Error>(&d);
}

/// A future whose waker is called on another thread is polled again on the
/// reactor and completes.
#[test]
fn foreign_thread_waker() {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::{Arc, Condvar, Mutex};
    use std::task::{Context, Poll, Waker};

    #[derive(Default)]
    struct Shared {
        done: bool,
        waker: Option<Waker>,
    }
    /// Pending until `done`; each poll leaves its waker and says so.
    struct ThreadDone(Arc<(Mutex<Shared>, Condvar)>);
    impl Future for ThreadDone {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let (lock, registered) = &*self.0;
            let mut s = lock.lock().unwrap();
            if s.done {
                Poll::Ready(())
            } else {
                s.waker = Some(cx.waker().clone());
                registered.notify_all();
                Poll::Pending
            }
        }
    }

    let reactor = Reactor::new().unwrap();
    let shared = Arc::new((Mutex::new(Shared::default()), Condvar::new()));
    let s2 = shared.clone();
    let handle = reactor.thread_handle();
    // Waits (bounded) for the future to leave its waker, then wakes it from
    // this thread; on a timeout it stops the reactor and says why.
    let waker_thread = std::thread::spawn(move || {
        let (lock, registered) = &*s2;
        let (mut s, wait) = registered
            .wait_timeout_while(lock.lock().unwrap(), util::PEER_TIMEOUT, |s| {
                s.waker.is_none()
            })
            .unwrap();
        if wait.timed_out() {
            handle.stop();
            return Err("the future never left a waker");
        }
        s.done = true;
        let waker = s.waker.take().expect("a waker");
        drop(s);
        waker.wake();
        Ok(())
    });
    let r = reactor.clone();
    let task = reactor.spawn(async move {
        ThreadDone(shared).await;
        r.stop().unwrap();
    });
    run_for(&reactor, LIMIT);
    assert_eq!(util::join(waker_thread), Ok(()));
    success_result_of(&task);
}

/// A Deferred dropped while holding a failure logs it as unhandled; one whose
/// failure was handled, or consumed, logs nothing.
#[test]
fn unhandled_failure_is_logged_on_drop() {
    capture_logs();
    take_logs();
    {
        let d: Deferred<u8> = Deferred::new();
        d.errback(Failure::msg("nobody listened")).unwrap();
    }
    let lines: Vec<String> = take_logs().into_iter().map(|l| l.text).collect();
    assert_eq!(lines[0], "Unhandled error in Deferred:");
    assert!(
        lines[1].starts_with("Unhandled Error\n<Failure "),
        "{lines:?}"
    );
    assert!(lines[1].contains("nobody listened"), "{lines:?}");

    {
        let d: Deferred<u8> = Deferred::new();
        drop(d.clone().add_errback(|_| Ok(0)));
        d.errback(Failure::msg("handled")).unwrap();
    }
    assert!(take_logs().is_empty());
}
