//! Futures on the reactor: `spawn`, `sleep`, awaiting Deferreds, cancelling
//! and panicking tasks, wakes from other threads; and the unhandled-failure
//! log of a dropped Deferred.

mod util;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use gyre::Reactor;
use gyre::deferred::{CancelledError, Deferred, Failure, PanicError, defer_later};
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
        n + 2
    });
    let seen = Rc::new(RefCell::new(None));
    let s = seen.clone();
    let r = reactor.clone();
    done.add_callback(move |n| {
        *s.borrow_mut() = Some(n);
        r.stop().unwrap();
    });
    run_for(&reactor, LIMIT);
    assert_eq!(*seen.borrow(), Some(42));
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
    let outcome = Rc::new(RefCell::new(None));
    let o = outcome.clone();
    let t = task.clone();
    reactor.call_later(Duration::from_millis(10), move || t.cancel());
    task.consume(move |r| *o.borrow_mut() = Some(r.unwrap_err().is::<CancelledError>()));
    let r = reactor.clone();
    reactor.call_later(Duration::from_millis(300), move || r.stop().unwrap());
    run_for(&reactor, LIMIT);
    assert_eq!(*outcome.borrow(), Some(true));
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
    let msg = Rc::new(RefCell::new(String::new()));
    let m = msg.clone();
    bad.consume(move |r| {
        let f = r.unwrap_err();
        assert!(f.is::<PanicError>());
        *m.borrow_mut() = f.to_string();
    });
    run_for(&reactor, LIMIT);
    assert_eq!(*msg.borrow(), "a callback panicked: task exploded");
    assert_eq!(good.peek(), Some(true));
}

/// `spawn_fallible`: an `Err` from the future fails the Deferred with it.
#[test]
fn fallible_future_errors_become_failures() {
    let reactor = Reactor::new().unwrap();
    let d: Deferred<u8> = reactor.spawn_fallible(async { Err::<u8, _>(std::fmt::Error) });
    let r = reactor.clone();
    reactor.call_later(Duration::from_millis(10), move || r.stop().unwrap());
    run_for(&reactor, LIMIT);
    d.consume(|r| assert!(r.unwrap_err().is::<std::fmt::Error>()));
}

/// A waker that really is called on another thread (a std mpsc-driven future).
#[test]
fn foreign_thread_waker() {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll, Waker};

    #[derive(Default)]
    struct Shared {
        done: bool,
        waker: Option<Waker>,
    }
    struct ThreadDone(Arc<Mutex<Shared>>);
    impl Future for ThreadDone {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let mut s = self.0.lock().unwrap();
            if s.done {
                Poll::Ready(())
            } else {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    let reactor = Reactor::new().unwrap();
    let shared = Arc::new(Mutex::new(Shared::default()));
    let s2 = shared.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        let mut s = s2.lock().unwrap();
        s.done = true;
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    });
    let r = reactor.clone();
    reactor.spawn(async move {
        ThreadDone(shared).await;
        r.stop().unwrap();
    });
    run_for(&reactor, LIMIT);
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
