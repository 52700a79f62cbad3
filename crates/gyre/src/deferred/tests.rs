//! Chain semantics (reference §7.1–7.3).

use std::cell::RefCell;
use std::rc::Rc;

use super::*;
use crate::testing::{
    assert_no_result, failure_result_of, failure_result_of_type, success_result_of,
};

type Log = Rc<RefCell<Vec<String>>>;

fn log() -> Log {
    Rc::new(RefCell::new(Vec::new()))
}

fn push(log: &Log, s: impl Into<String>) {
    log.borrow_mut().push(s.into());
}

/// Results flow through the pairs in order; a failure skips callbacks and an
/// errback that returns a value recovers to the success path.
#[test]
fn callbacks_and_errbacks_alternate_by_outcome() {
    let l = log();
    let d: Deferred<i32> = Deferred::new();
    let fire = d.clone();
    let (a, b, c, e) = (l.clone(), l.clone(), l.clone(), l.clone());
    d.add_callback(move |n| {
        push(&a, format!("cb1 {n}"));
        n + 1
    })
    .and_then(move |n| -> Result<i32, Failure> {
        push(&b, format!("cb2 {n}"));
        Err(Failure::msg("bad"))
    })
    .add_callback(move |n| {
        push(&c, format!("skipped {n}"));
        n
    })
    .add_errback(move |f| {
        push(&e, format!("eb {f}"));
        Ok(7)
    })
    .consume({
        let l = l.clone();
        move |r| push(&l, format!("end {}", r.unwrap()))
    });
    assert!(
        l.borrow().is_empty(),
        "nothing runs before the Deferred fires"
    );
    fire.callback(1).unwrap();
    assert_eq!(*l.borrow(), ["cb1 1", "cb2 2", "eb bad", "end 7"]);
}

/// Callbacks added after the Deferred fired run at once, during the add.
#[test]
fn late_callbacks_run_immediately() {
    let d = succeed(5);
    let seen = Rc::new(RefCell::new(None));
    let s = seen.clone();
    d.add_callback(move |n| *s.borrow_mut() = Some(n));
    assert_eq!(*seen.borrow(), Some(5));
}

/// Firing twice is an AlreadyCalledError, whichever way.
#[test]
fn firing_twice_is_an_error() {
    let d: Deferred<u8> = Deferred::new();
    d.callback(1).unwrap();
    assert_eq!(d.callback(2), Err(AlreadyCalledError));
    assert_eq!(d.errback(Failure::msg("x")), Err(AlreadyCalledError));
    assert!(d.is_called());
}

/// A callback returning a Deferred pauses the chain until it fires; its
/// result (here a failure) continues down the outer chain.
#[test]
fn returned_deferred_pauses_the_chain() {
    let l = log();
    let outer: Deferred<u8> = Deferred::new();
    let inner: Deferred<String> = Deferred::new();
    let inner2 = inner.clone();
    let (a, b) = (l.clone(), l.clone());
    let tail = outer
        .clone()
        .add_callback_deferred(move |_| inner2)
        .add_callbacks(
            move |s| {
                push(&a, format!("cb {s}"));
                Step::Value(())
            },
            move |f| {
                push(&b, format!("eb {f}"));
                Step::Value(())
            },
        );
    outer.callback(1).unwrap();
    assert!(outer.is_paused());
    assert!(l.borrow().is_empty());
    inner.errback(Failure::msg("inner failed")).unwrap();
    assert!(!outer.is_paused());
    assert_eq!(*l.borrow(), ["eb inner failed"]);
    assert_eq!(tail.peek(), Some(true));
    assert_eq!(
        inner.peek(),
        None,
        "the inner result moved to the outer chain"
    );
}

/// A returned Deferred that already has a result is taken at once.
#[test]
fn returned_fired_deferred_is_taken_at_once() {
    let d = succeed(2u32).add_callback_deferred(|n| succeed(n * 10));
    assert!(!d.is_paused());
    let out = Rc::new(RefCell::new(0));
    let o = out.clone();
    d.add_callback(move |n| *o.borrow_mut() = n);
    assert_eq!(*out.borrow(), 20);
}

/// A callback that adds callbacks to its own Deferred gets them run in the same pass.
#[test]
fn callbacks_added_while_running_run_in_the_same_pass() {
    let l = log();
    let d: Deferred<u8> = Deferred::new();
    let fire = d.clone();
    let adder = d.clone();
    let (l2, l3) = (l.clone(), l.clone());
    d.add_callback(move |n| {
        push(&l2, "first");
        let l4 = l3.clone();
        adder.clone().add_callback(move |m| {
            push(&l4, format!("added {m}"));
            m
        });
        n + 1
    });
    fire.callback(1).unwrap();
    assert_eq!(*l.borrow(), ["first", "added 2"]);
}

/// Long chains run in a loop: 100 000 callbacks do not grow the stack.
#[test]
fn long_chains_do_not_recurse() {
    let d: Deferred<u64> = Deferred::new();
    let fire = d.clone();
    let mut d = d;
    for _ in 0..100_000 {
        d = d.add_callback(|n| n + 1);
    }
    let out = Rc::new(RefCell::new(0));
    let o = out.clone();
    d.add_callback(move |n| *o.borrow_mut() = n);
    fire.callback(0).unwrap();
    assert_eq!(*out.borrow(), 100_000);
}

/// A panic in a callback becomes a PanicError failure down the chain.
#[test]
fn panic_in_callback_becomes_failure() {
    let d = succeed(1).add_callback(|_: i32| -> i32 { panic!("oops") });
    let failure = failure_result_of_type::<PanicError>(&d);
    assert_eq!(failure.to_string(), "a callback panicked: oops");
}

/// Cancel without a canceller: CancelledError; the producer's one later
/// callback is swallowed, a second one is an error.
#[test]
fn cancel_without_canceller() {
    let d: Deferred<u8> = Deferred::new();
    let producer = d.clone();
    d.cancel();
    failure_result_of_type::<CancelledError>(&d);
    assert_eq!(producer.callback(1), Ok(()));
    assert_eq!(producer.callback(2), Err(AlreadyCalledError));
}

/// A canceller that fires the Deferred itself decides the result; one that
/// doesn't gets CancelledError, and then a later callback is an error.
#[test]
fn cancel_with_canceller() {
    let d: Deferred<u8> =
        Deferred::with_canceller(|d| d.errback(Failure::msg("stopped by canceller")).unwrap());
    d.cancel();
    assert_eq!(failure_result_of(&d).to_string(), "stopped by canceller");

    let called = Rc::new(RefCell::new(false));
    let c = called.clone();
    let d: Deferred<u8> = Deferred::with_canceller(move |_| *c.borrow_mut() = true);
    let producer = d.clone();
    d.cancel();
    assert!(*called.borrow());
    assert_eq!(producer.callback(1), Err(AlreadyCalledError));
    failure_result_of_type::<CancelledError>(&d);
}

/// Cancelling a fired Deferred that waits on another cancels that one;
/// cancelling a fired Deferred otherwise does nothing.
#[test]
fn cancel_forwards_to_the_awaited_deferred() {
    let inner_cancelled = Rc::new(RefCell::new(false));
    let c = inner_cancelled.clone();
    let inner: Deferred<u8> = Deferred::with_canceller(move |_| *c.borrow_mut() = true);
    let outer: Deferred<u8> = Deferred::new();
    let i2 = inner.clone();
    let tail = outer.clone().add_callback_deferred(move |_| i2);
    outer.callback(0).unwrap();
    assert!(outer.is_paused());
    outer.cancel();
    assert!(*inner_cancelled.borrow());
    failure_result_of_type::<CancelledError>(&tail);

    let done = succeed(3u8);
    done.cancel();
    assert_eq!(done.peek(), Some(true));
}

/// A callback returning its own Deferred is reported, not a hang.
#[test]
fn returning_self_is_a_failure() {
    let d: Deferred<u8> = Deferred::new();
    let me = d.clone();
    let d2 = d.clone().add_callback_deferred(move |_| me);
    d.callback(1).unwrap();
    failure_result_of_type::<ReturnedSelfError>(&d2);
}

/// A stale handle of the old type meets a typed failure, not a panic.
#[test]
fn stale_handle_gets_a_type_failure() {
    let d: Deferred<u8> = Deferred::new();
    let stale = d.clone();
    let fire = d.clone();
    let _strings = d.add_callback(|n| n.to_string());
    let seen = Rc::new(RefCell::new(None));
    let s = seen.clone();
    stale.consume(move |r| *s.borrow_mut() = Some(r));
    fire.callback(1).unwrap();
    let seen = seen
        .borrow_mut()
        .take()
        .expect("the stale handle's callback ran");
    assert!(seen.unwrap_err().is::<ResultTypeError>());
}

/// add_both sees both outcomes; chain_deferred hands the result on.
#[test]
fn add_both_and_chain_deferred() {
    let target: Deferred<String> = Deferred::new();
    fail::<u8>(Failure::msg("e"))
        .add_both(|r| Ok(format!("{:?}", r.map_err(|f| f.to_string()))))
        .chain_deferred(&target);
    assert_eq!(success_result_of(&target), "Err(\"e\")");
}

/// A completion converts into a Deferred.
#[test]
fn from_completion() {
    let c = crate::Completion::new();
    let d = Deferred::from_completion(&c);
    assert!(!d.is_called());
    c.complete();
    assert_eq!(d.peek(), Some(true));
}

// ----- helpers (reference §7.4, §8.3) -----

use crate::testing::VirtualClock;
use std::time::Duration;

/// Empty inputs: all_outcomes and gather fire at once with an empty list;
/// race fails at once with an empty group.
#[test]
fn empty_inputs() {
    assert_eq!(success_result_of(&all_outcomes::<u8>(vec![])).len(), 0);
    assert_eq!(success_result_of(&gather_results::<u8>(vec![])), [0u8; 0]);
    let failure = failure_result_of_type::<FailureGroup>(&race::<u8>(vec![]));
    assert_eq!(failure.check::<FailureGroup>().unwrap().failures.len(), 0);
}

/// all_outcomes keeps input order whatever the firing order.
#[test]
fn all_outcomes_keeps_input_order() {
    let (a, b, c) = (Deferred::new(), Deferred::new(), Deferred::new());
    let all = all_outcomes(vec![a.clone(), b.clone(), c.clone()]);
    c.callback(3).unwrap();
    a.errback(Failure::msg("a")).unwrap();
    assert!(!all.is_called());
    b.callback(2).unwrap();
    let v = success_result_of(&all);
    assert_eq!(v[0].as_ref().unwrap_err().to_string(), "a");
    assert_eq!(*v[1].as_ref().unwrap(), 2);
    assert_eq!(*v[2].as_ref().unwrap(), 3);
}

/// gather_results: values in input order; cancelling it cancels pending members.
#[test]
fn gather_orders_values_and_cancels_members() {
    let (a, b) = (Deferred::new(), Deferred::new());
    let all = gather_results(vec![a.clone(), b.clone()]);
    b.callback("b").unwrap();
    assert_no_result(&all);
    a.callback("a").unwrap();
    assert_eq!(success_result_of(&all), ["a", "b"]);

    let (c, d) = (Deferred::<u8>::new(), Deferred::<u8>::new());
    let all = gather_results(vec![c.clone(), d.clone()]);
    c.callback(1).unwrap();
    all.cancel();
    assert!(d.is_called(), "the pending member was cancelled");
    let f = failure_result_of_type::<FirstError>(&all);
    let first = f.check::<FirstError>().unwrap();
    assert_eq!(first.index, 1);
    assert!(first.failure.is::<CancelledError>());
}

/// race: the first success wins with its index and the others are cancelled;
/// all failing gives every failure in input order.
#[test]
fn race_first_success_wins() {
    let (a, b) = (Deferred::<u8>::new(), Deferred::<u8>::new());
    let r = race(vec![a.clone(), b.clone()]);
    b.callback(9).unwrap();
    assert!(a.is_called(), "the loser was cancelled");
    assert_eq!(success_result_of(&r), (1, 9));

    let (c, d) = (Deferred::<u8>::new(), Deferred::<u8>::new());
    let r = race(vec![c.clone(), d.clone()]);
    d.errback(Failure::msg("d")).unwrap();
    assert_no_result(&r);
    c.errback(Failure::msg("c")).unwrap();
    let f = failure_result_of_type::<FailureGroup>(&r);
    let g = f.check::<FailureGroup>().unwrap();
    let texts: Vec<String> = g.failures.iter().map(|f| f.to_string()).collect();
    assert_eq!(texts, ["c", "d"]);
}

/// add_timeout: in time, the timer is cancelled and the result passes; late,
/// the Deferred is cancelled and the failure is a TimeoutError.
#[test]
fn add_timeout_in_time_and_late() {
    let clock = VirtualClock::new();
    let d: Deferred<u8> = Deferred::new();
    let fire = d.clone();
    let d = d.add_timeout(Duration::from_secs(5), &clock);
    clock.advance(Duration::from_secs(4));
    fire.callback(1).unwrap();
    assert!(
        clock.pending_calls().is_empty(),
        "the timeout timer was cancelled"
    );
    assert_eq!(success_result_of(&d), 1);

    let late: Deferred<u8> = Deferred::new();
    let producer = late.clone();
    let late = late.add_timeout(Duration::from_secs(5), &clock);
    clock.advance(Duration::from_millis(4999));
    assert_no_result(&late);
    clock.advance(Duration::from_millis(1));
    let f = failure_result_of_type::<TimeoutError>(&late);
    assert_eq!(
        f.check::<TimeoutError>().unwrap().timeout,
        Duration::from_secs(5)
    );
    // The producer's late answer is swallowed once (cancel without canceller).
    assert_eq!(producer.callback(2), Ok(()));
}

/// defer_later: not before its time; cancelling cancels the timer.
#[test]
fn defer_later_and_cancel() {
    let clock = VirtualClock::new();
    let d = defer_later(&clock, Duration::from_secs(1), || 5u8);
    clock.advance(Duration::from_millis(999));
    assert!(!d.is_called());
    let e = defer_later(&clock, Duration::from_secs(3), || 6u8);
    e.cancel();
    assert_eq!(clock.pending_calls().len(), 1, "only d's timer is left");
    failure_result_of_type::<CancelledError>(&e);
    assert_no_result(&d);
    clock.advance(Duration::from_millis(1));
    assert_eq!(success_result_of(&d), 5);
}

/// A Deferred from defer_later runs its callbacks even if every handle was dropped.
#[test]
fn defer_later_keeps_its_deferred_alive() {
    let clock = VirtualClock::new();
    let hit = Rc::new(RefCell::new(false));
    let h = hit.clone();
    defer_later(&clock, Duration::from_secs(1), || ())
        .add_callback(move |()| *h.borrow_mut() = true);
    clock.advance(Duration::from_secs(1));
    assert!(*hit.borrow());
}
