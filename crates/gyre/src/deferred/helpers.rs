//! Helpers around [`Deferred`]: ready-made results, gathering, racing,
//! delays and timeouts (reference §7.4, §8.3).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use super::{CancelledError, Deferred, Failure, FailureGroup, FirstError, TimeoutError};
use crate::time::{Clock, DelayedCall};

/// A Deferred that has already fired with `value`.
pub fn succeed<T: 'static>(value: T) -> Deferred<T> {
    let d = Deferred::new();
    let _ = d.callback(value);
    d
}

/// A Deferred that has already failed with `failure`.
pub fn fail<T: 'static>(failure: impl Into<Failure>) -> Deferred<T> {
    let d = Deferred::new();
    let _ = d.errback(failure);
    d
}

/// Collects one result per input, in input order.
struct Gathering<R> {
    slots: RefCell<Vec<Option<R>>>,
    remaining: Cell<usize>,
}

impl<R> Gathering<R> {
    fn new(n: usize) -> Rc<Gathering<R>> {
        Rc::new(Gathering {
            slots: RefCell::new((0..n).map(|_| None).collect()),
            remaining: Cell::new(n),
        })
    }

    /// Stores result `i`; true when it was the last one.
    fn put(&self, i: usize, r: R) -> bool {
        self.slots.borrow_mut()[i] = Some(r);
        self.remaining.set(self.remaining.get() - 1);
        self.remaining.get() == 0
    }

    fn take_all(&self) -> Vec<R> {
        self.slots.borrow_mut().drain(..).flatten().collect()
    }
}

/// A Deferred whose cancel cancels every member not yet fired.
fn cancelling_all<T: 'static, R: 'static>(members: &[Deferred<T>]) -> Deferred<R> {
    let weak: Vec<_> = members.iter().map(Deferred::downgrade).collect();
    Deferred::with_canceller(move |_| {
        for m in weak.iter().filter_map(|w| w.upgrade()) {
            m.cancel();
        }
    })
}

/// Every result, in input order, once all have fired (Twisted's
/// `DeferredList` with its defaults). Fires at once with an empty list for
/// no inputs. The members' results are moved into the list, so their
/// failures are not reported as unhandled.
///
/// ```
/// use gyre::deferred::{all_outcomes, fail, succeed, Failure};
/// use gyre::testing::success_result_of;
///
/// let all = all_outcomes(vec![succeed(1), fail(Failure::msg("no")), succeed(3)]);
/// let outcomes = success_result_of(&all);
/// assert_eq!(outcomes.len(), 3);
/// assert_eq!(*outcomes[0].as_ref().unwrap(), 1);
/// assert_eq!(outcomes[1].as_ref().unwrap_err().to_string(), "no");
/// ```
pub fn all_outcomes<T: 'static>(members: Vec<Deferred<T>>) -> Deferred<Vec<Result<T, Failure>>> {
    let out = cancelling_all(&members);
    if members.is_empty() {
        let _ = out.callback(Vec::new());
        return out;
    }
    let gathering = Gathering::new(members.len());
    for (i, m) in members.into_iter().enumerate() {
        let gathering = gathering.clone();
        let out = out.clone();
        m.consume(move |r| {
            if gathering.put(i, r) {
                let _ = out.callback(gathering.take_all());
            }
        });
    }
    out
}

/// Every value, in input order, once all succeeded; or, at the first
/// failure, a [`FirstError`] naming its position (Twisted's
/// `gatherResults`). Later results are dropped. Cancelling it cancels the
/// members still pending.
///
/// ```
/// use gyre::deferred::{gather_results, succeed, Deferred, FirstError, Failure};
/// use gyre::testing::failure_result_of;
///
/// let slow: Deferred<i32> = Deferred::new();
/// let all = gather_results(vec![succeed(1), slow.clone()]);
/// slow.errback(Failure::msg("lost")).unwrap();
/// let failure = failure_result_of(&all);
/// let first = failure.check::<FirstError>().unwrap();
/// assert_eq!(first.index, 1);
/// assert_eq!(first.failure.to_string(), "lost");
/// ```
pub fn gather_results<T: 'static>(members: Vec<Deferred<T>>) -> Deferred<Vec<T>> {
    let out = cancelling_all(&members);
    if members.is_empty() {
        let _ = out.callback(Vec::new());
        return out;
    }
    let gathering = Gathering::new(members.len());
    for (i, m) in members.into_iter().enumerate() {
        let gathering = gathering.clone();
        let out = out.clone();
        m.consume(move |r| {
            if out.is_called() {
                return;
            }
            match r {
                Ok(v) => {
                    if gathering.put(i, v) {
                        let _ = out.callback(gathering.take_all());
                    }
                }
                Err(failure) => {
                    let _ = out.errback(FirstError { index: i, failure });
                }
            }
        });
    }
    out
}

/// The first success, with its position; the others are cancelled. If all
/// fail: a [`FailureGroup`] with every failure in input order (Twisted's
/// `race`). An empty input fails at once with an empty group.
///
/// Two ways to get an answer, whichever comes first; the loser's timer is
/// cancelled:
///
/// ```
/// use std::time::Duration;
///
/// use gyre::deferred::{defer_later, race};
/// use gyre::testing::{assert_no_result, success_result_of, VirtualClock};
///
/// let clock = VirtualClock::new();
/// let cache = defer_later(&clock, Duration::from_millis(300), || "from the cache");
/// let origin = defer_later(&clock, Duration::from_millis(100), || "from the origin");
/// let first = race(vec![cache, origin]);
/// assert_no_result(&first);
///
/// clock.advance(Duration::from_millis(100));
/// assert_eq!(success_result_of(&first), (1, "from the origin"));
/// assert!(clock.pending_calls().is_empty(), "the cache lookup was cancelled");
/// ```
pub fn race<T: 'static>(members: Vec<Deferred<T>>) -> Deferred<(usize, T)> {
    let out = cancelling_all(&members);
    if members.is_empty() {
        let _ = out.errback(FailureGroup {
            failures: Vec::new(),
        });
        return out;
    }
    let weak: Rc<Vec<_>> = Rc::new(members.iter().map(Deferred::downgrade).collect());
    let gathering: Rc<Gathering<Failure>> = Gathering::new(members.len());
    for (i, m) in members.into_iter().enumerate() {
        let gathering = gathering.clone();
        let out = out.clone();
        let weak = weak.clone();
        m.consume(move |r| {
            if out.is_called() {
                return;
            }
            match r {
                Ok(v) => {
                    let _ = out.callback((i, v));
                    for (j, other) in weak.iter().enumerate() {
                        if j != i {
                            if let Some(other) = other.upgrade() {
                                other.cancel();
                            }
                        }
                    }
                }
                Err(f) => {
                    if gathering.put(i, f) {
                        let _ = out.errback(FailureGroup {
                            failures: gathering.take_all(),
                        });
                    }
                }
            }
        });
    }
    out
}

/// A Deferred that fires with `f()` after `delay` on `clock` (Twisted's
/// `deferLater`). It does not fire before that time. Cancelling it cancels
/// the timer and fails it with [`CancelledError`]. A panic in `f` becomes
/// a failure.
///
/// ```
/// use std::time::Duration;
/// use gyre::deferred::defer_later;
/// use gyre::testing::{assert_no_result, success_result_of, VirtualClock};
///
/// let clock = VirtualClock::new();
/// let d = defer_later(&clock, Duration::from_secs(2), || "done");
/// clock.advance(Duration::from_secs(1));
/// assert_no_result(&d);
/// clock.advance(Duration::from_secs(1));
/// assert_eq!(success_result_of(&d), "done");
/// ```
pub fn defer_later<T: 'static>(
    clock: &dyn Clock,
    delay: Duration,
    f: impl FnOnce() -> T + 'static,
) -> Deferred<T> {
    let call: Rc<RefCell<Option<DelayedCall>>> = Rc::new(RefCell::new(None));
    let timer = call.clone();
    let d = Deferred::with_canceller(move |_| {
        if let Some(c) = timer.borrow_mut().take() {
            let _ = c.cancel();
        }
    });
    // The timer holds the Deferred, as Twisted's reactor does: callbacks
    // added to it run even if every other handle was dropped.
    let fire = d.clone();
    let scheduled = clock.call_later_boxed(
        delay,
        Box::new(move || match crate::log::guarded(f) {
            Ok(v) => {
                let _ = fire.callback(v);
            }
            Err(msg) => {
                let _ = fire.errback(Failure::from_panic(msg));
            }
        }),
    );
    *call.borrow_mut() = Some(scheduled);
    d
}

/// A Deferred that fires with `()` after `delay` on `clock`; `.await` it to
/// pause an `async` block. Cancelling it cancels the timer.
///
/// A future spawned on the reactor pauses while the reactor serves other
/// callbacks:
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use std::time::Duration;
///
/// use gyre::deferred::sleep;
/// use gyre::Reactor;
///
/// let reactor = Reactor::new()?;
/// # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
/// # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
/// let seen = Rc::new(RefCell::new(Vec::new()));
/// let (log, r) = (seen.clone(), reactor.clone());
/// reactor.spawn(async move {
///     log.borrow_mut().push("going to sleep");
///     sleep(&r, Duration::from_millis(40)).await.unwrap();
///     log.borrow_mut().push("awake");
///     r.stop().unwrap();
/// });
/// let log = seen.clone();
/// reactor.call_later(Duration::from_millis(10), move || log.borrow_mut().push("timer"));
/// reactor.run()?;
/// assert_eq!(*seen.borrow(), ["going to sleep", "timer", "awake"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn sleep(clock: &dyn Clock, delay: Duration) -> Deferred<()> {
    defer_later(clock, delay, || ())
}

impl<T: 'static> Deferred<T> {
    /// Cancels this Deferred if it has not fired within `timeout` on
    /// `clock`; the resulting [`CancelledError`] becomes a [`TimeoutError`]
    /// (Twisted's `addTimeout`). The timer is cancelled when it fires in time.
    ///
    /// ```
    /// use std::time::Duration;
    /// use gyre::deferred::{Deferred, TimeoutError};
    /// use gyre::testing::{failure_result_of_type, VirtualClock};
    ///
    /// let clock = VirtualClock::new();
    /// let d: Deferred<u8> = Deferred::new();
    /// let d = d.add_timeout(Duration::from_secs(5), &clock);
    /// clock.advance(Duration::from_secs(5));
    /// failure_result_of_type::<TimeoutError>(&d);
    /// ```
    pub fn add_timeout(self, timeout: Duration, clock: &dyn Clock) -> Deferred<T> {
        let timed_out = Rc::new(Cell::new(false));
        let flag = timed_out.clone();
        let weak = self.downgrade();
        let call = clock.call_later_boxed(
            timeout,
            Box::new(move || {
                if let Some(d) = weak.upgrade() {
                    flag.set(true);
                    d.cancel();
                }
            }),
        );
        self.add_both(move |r| {
            if call.is_active() {
                let _ = call.cancel();
            }
            match r {
                Err(f) if timed_out.get() && f.is::<CancelledError>() => {
                    Err(Failure::new(TimeoutError { timeout }))
                }
                other => other,
            }
        })
    }
}
