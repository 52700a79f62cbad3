//! [`Timers`]: the timer queue shared by the reactor and `testing::VirtualClock`.
//!
//! A `Timers` is a cheap, cloneable handle (`Rc<Shared>`) to the queue and
//! its clock; `Shared` and its fields are described in `delayed.rs`, the
//! ordered store in `queue.rs`.
//!
//! This file adds the semantics around the store: scheduling, and what a
//! run runs (the reactor's pass or a virtual advance), panics caught or
//! propagated. It is the top of the module's order (`heap.rs` < `queue.rs`
//! < `delayed.rs` < `timers.rs`): nothing below names it. Tests: at the
//! bottom of this file.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::delayed::{DelayedCall, Shared, instant_after};
use super::queue::{CallInner, Queue, State};
use crate::log::guarded;

/// The crate-internal timer queue shared by the reactor and
/// `testing::VirtualClock`. Clones share the queue.
#[derive(Clone)]
pub(crate) struct Timers {
    shared: Rc<Shared>,
}

impl Timers {
    /// A queue on real (monotonic) time: `now()` is `Instant::now()`.
    pub(crate) fn new_real() -> Timers {
        Timers::with_now(Instant::now(), None)
    }

    /// A queue on virtual time starting at `start`, moved by
    /// [`set_now`](Self::set_now).
    pub(crate) fn new_virtual(start: Instant) -> Timers {
        Timers::with_now(start, Some(Cell::new(start)))
    }

    fn with_now(origin: Instant, virtual_now: Option<Cell<Instant>>) -> Timers {
        Timers {
            shared: Rc::new(Shared {
                origin,
                virtual_now,
                queue: RefCell::new(Queue::new()),
            }),
        }
    }

    /// Moves virtual time to `now`. Does not run anything.
    ///
    /// # Panics
    ///
    /// On a real-time queue.
    pub(crate) fn set_now(&self, now: Instant) {
        let Some(cell) = &self.shared.virtual_now else {
            panic!("Timers::set_now called on a real-time queue");
        };
        cell.set(now);
    }

    /// Current time on this queue's clock.
    pub(crate) fn now(&self) -> Instant {
        self.shared.now()
    }

    /// Schedules `f` at `now() + delay`.
    pub(crate) fn call_later(&self, delay: Duration, f: Box<dyn FnOnce()>) -> DelayedCall {
        let at = instant_after(self.now(), delay);
        let mut q = self.shared.queue.borrow_mut();
        let key = (self.shared.ticks(at), q.take_seq());
        let call = Rc::new(CallInner {
            state: Cell::new(State::Pending),
            time: Cell::new(at),
            key: Cell::new(key),
            entry: Cell::new(key),
            f: Cell::new(Some(f)),
        });
        q.insert(key, call.clone());
        DelayedCall::new(call, Rc::downgrade(&self.shared))
    }

    /// The time of the earliest pending call (the reactor's poll timeout),
    /// skipping cancelled entries.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.shared.queue.borrow_mut().next_deadline()
    }

    /// Runs every call due at `now`, in (deadline, sequence) order; returns
    /// how many ran.
    ///
    /// If `this_pass_only`, calls scheduled, reset or delayed while this run
    /// is in progress (even with delay 0) wait for the next run: the
    /// reactor's pass (Twisted reference 1.4), which this bounds. Otherwise
    /// calls that become due during the run also run:
    /// `testing::VirtualClock::advance` (reference 8.2).
    ///
    /// If `catch`, a panicking call is logged as an unhandled error (target
    /// `gyre::time`) and the remaining calls still run; otherwise the panic
    /// propagates, leaving the queue consistent.
    pub(crate) fn run_due(&self, now: Instant, this_pass_only: bool, catch: bool) -> usize {
        let ticks = self.shared.ticks(now);
        let mut run = self
            .shared
            .queue
            .borrow_mut()
            .begin_run(ticks, this_pass_only);
        let _end = EndRun(&self.shared);
        let mut ran = 0;
        loop {
            // The borrow ends with this statement, before the call runs.
            let due = self.shared.queue.borrow_mut().pop_due(&mut run);
            let Some(f) = due else { break };
            ran += 1;
            if catch {
                if let Err(msg) = guarded(f) {
                    crate::log::log_failure("while handling timed call", &msg);
                }
            } else {
                f();
            }
            crate::blocked::lap(|site, _| {
                if site.is_empty() {
                    "a timed call".to_string()
                } else {
                    format!("the timed call {site}")
                }
            });
        }
        ran
    }

    /// The pending calls, in firing order.
    pub(crate) fn pending(&self) -> Vec<DelayedCall> {
        let mut live = self.shared.queue.borrow().live_calls();
        live.sort_unstable_by_key(|(key, _)| *key);
        live.into_iter()
            .map(|(_, call)| DelayedCall::new(call, Rc::downgrade(&self.shared)))
            .collect()
    }

    /// How many calls are pending.
    pub(crate) fn len(&self) -> usize {
        self.shared.queue.borrow().pending()
    }

    /// Entries in the queue, live and dead (tests check memory with it).
    #[cfg(test)]
    pub(crate) fn entries(&self) -> usize {
        self.shared.queue.borrow().entries()
    }
}

impl fmt::Debug for Timers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let q = self.shared.queue.borrow();
        f.debug_struct("Timers")
            .field("virtual", &self.shared.virtual_now.is_some())
            .field("pending", &q.pending())
            .field("entries", &q.entries())
            .finish()
    }
}

#[cfg(test)]
impl super::Clock for Timers {
    fn now(&self) -> Instant {
        Timers::now(self)
    }

    fn call_later_boxed(&self, delay: Duration, f: Box<dyn FnOnce()>) -> DelayedCall {
        self.call_later(delay, f)
    }

    fn pending_calls(&self) -> Vec<DelayedCall> {
        self.pending()
    }
}

/// Ends a run (puts held and swept entries back) also when a call panics.
struct EndRun<'a>(&'a Shared);

impl Drop for EndRun<'_> {
    fn drop(&mut self) {
        if let Ok(mut q) = self.0.queue.try_borrow_mut() {
            q.end_run();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::error::DelayedCallError;

    /// In a reactor pass, a call scheduled during the pass (even with delay 0)
    /// waits for the next pass; under virtual advance it runs in the same one.
    #[test]
    fn scheduled_during_run_waits_or_runs() {
        for this_pass_only in [true, false] {
            let (timers, _) = virtual_timers();
            let log = Log::default();
            let (t, l) = (timers.clone(), log.clone());
            timers.call_later(
                ms(1),
                Box::new(move || {
                    l.borrow_mut().push(1);
                    t.call_later(Duration::ZERO, record(&l, 2));
                }),
            );
            timers.call_later(ms(1), record(&log, 3));
            let ran = advance(&timers, ms(1), this_pass_only);
            if this_pass_only {
                assert_eq!((ran, log.borrow().clone()), (2, vec![1, 3]));
                assert_eq!(timers.len(), 1);
                assert_eq!(timers.next_deadline(), Some(timers.now()));
                assert_eq!(timers.run_due(timers.now(), true, false), 1);
                assert_eq!(*log.borrow(), [1, 3, 2]);
            } else {
                assert_eq!((ran, log.borrow().clone()), (3, vec![1, 3, 2]));
            }
            assert_eq!(timers.len(), 0);
        }
    }

    /// Cancelling twice, or resetting a cancelled call, is `AlreadyCancelled`.
    #[test]
    fn cancel_twice_is_already_cancelled() {
        let (timers, _) = virtual_timers();
        let call = timers.call_later(ms(1), Box::new(|| panic!("must not run")));
        assert!(call.is_active());
        assert_eq!(call.cancel(), Ok(()));
        assert!(!call.is_active());
        assert_eq!(call.cancel(), Err(DelayedCallError::AlreadyCancelled));
        assert_eq!(call.reset(ms(1)), Err(DelayedCallError::AlreadyCancelled));
        assert_eq!(call.delay(ms(1)), Err(DelayedCallError::AlreadyCancelled));
        assert_eq!(
            DelayedCallError::AlreadyCancelled.to_string(),
            "Tried to cancel an already-cancelled event."
        );
        assert_eq!(advance(&timers, ms(5), true), 0);
        assert_eq!(timers.len(), 0);
    }

    /// Cancelling after the call ran, or from inside its own function, is
    /// `AlreadyCalled`; the call is inactive while it runs.
    #[test]
    fn cancel_after_or_during_run_is_already_called() {
        let (timers, _) = virtual_timers();
        let seen = Rc::new(RefCell::new(None));
        let handle: Rc<RefCell<Option<DelayedCall>>> = Rc::default();
        let (s, h) = (seen.clone(), handle.clone());
        let call = timers.call_later(
            ms(1),
            Box::new(move || {
                let me = h.borrow().clone().unwrap();
                *s.borrow_mut() = Some((me.is_active(), me.cancel(), me.reset(ms(1))));
            }),
        );
        *handle.borrow_mut() = Some(call.clone());
        advance(&timers, ms(1), false);
        let called = Err(DelayedCallError::AlreadyCalled);
        assert_eq!(*seen.borrow(), Some((false, called, called)));
        assert_eq!(call.cancel(), called);
        assert_eq!(call.delay(ms(1)), called);
        assert!(!call.is_active());
    }

    /// Reset moves a call earlier or later, delay adds to its time, and a
    /// moved call runs after calls already at its new time (reference 8.2).
    #[test]
    fn reset_and_delay_reorder() {
        let (timers, start) = virtual_timers();
        let log = Log::default();
        let x = timers.call_later(ms(2000), record(&log, 1));
        let y = timers.call_later(ms(1000), record(&log, 2));
        let z = timers.call_later(ms(1000), record(&log, 3));
        x.reset(ms(500)).unwrap();
        y.delay(ms(2000)).unwrap();
        assert_eq!(x.time(), start + ms(500));
        assert_eq!(y.time(), start + ms(3000));
        assert_eq!(timers.pending(), [x, z.clone(), y]);
        advance(&timers, ms(3000), false);
        assert_eq!(*log.borrow(), [1, 3, 2]);

        let a = timers.call_later(ms(10), record(&log, 4));
        let b = timers.call_later(ms(10), record(&log, 5));
        a.reset(ms(10)).unwrap();
        assert_eq!(timers.pending(), [b, a]);
        advance(&timers, ms(10), true);
        assert_eq!(*log.borrow(), [1, 3, 2, 5, 4]);
        assert_eq!(z.time(), start + ms(1000));
    }

    /// A call may cancel and reset other calls, and schedule new ones, while
    /// it runs.
    #[test]
    fn calls_may_touch_the_queue_while_running() {
        let (timers, _) = virtual_timers();
        let log = Log::default();
        let victim = timers.call_later(ms(5), record(&log, 9));
        let moved = timers.call_later(ms(50), record(&log, 2));
        let (t, l, v, m) = (timers.clone(), log.clone(), victim.clone(), moved.clone());
        timers.call_later(
            ms(1),
            Box::new(move || {
                v.cancel().unwrap();
                m.reset(ms(1)).unwrap();
                t.call_later(ms(1), record(&l, 3));
                l.borrow_mut().push(1);
            }),
        );
        advance(&timers, ms(1), true);
        assert_eq!(*log.borrow(), [1]);
        advance(&timers, ms(1), true);
        assert_eq!(*log.borrow(), [1, 2, 3]);
        assert!(!victim.is_active() && !moved.is_active());
        assert_eq!(timers.len(), 0);
    }

    /// With `catch`, a panicking call is logged and the later calls still run.
    #[test]
    fn catch_continues_after_a_panic() {
        let (timers, _) = virtual_timers();
        let log = Log::default();
        timers.call_later(ms(1), record(&log, 1));
        timers.call_later(ms(2), Box::new(|| panic!("timed boom")));
        timers.call_later(ms(3), record(&log, 3));
        let now = timers.now() + ms(3);
        timers.set_now(now);
        assert_eq!(timers.run_due(now, true, true), 3);
        assert_eq!(*log.borrow(), [1, 3]);
        assert_eq!(timers.len(), 0);
    }

    /// Without `catch`, a panic reaches the caller and the queue stays
    /// usable: the remaining and held calls run on the next run.
    #[test]
    fn uncaught_panic_leaves_queue_consistent() {
        let (timers, _) = virtual_timers();
        let log = Log::default();
        let (t, l) = (timers.clone(), log.clone());
        timers.call_later(
            ms(1),
            Box::new(move || {
                t.call_later(Duration::ZERO, record(&l, 10));
            }),
        );
        timers.call_later(ms(1), Box::new(|| panic!("boom")));
        timers.call_later(ms(1), record(&log, 3));
        let now = timers.now() + ms(1);
        timers.set_now(now);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            timers.run_due(now, true, false)
        }));
        assert!(result.is_err());
        assert_eq!(timers.len(), 2);
        assert_eq!(timers.run_due(now, true, false), 2);
        assert_eq!(*log.borrow(), [3, 10]);
    }

    /// `pending` lists live calls in firing order; dropping the queue
    /// cancels what is left and drops the functions.
    #[test]
    fn pending_in_order_and_drop_cancels() {
        let (timers, _) = virtual_timers();
        let token = Rc::new(());
        let t = token.clone();
        let late = timers.call_later(ms(9), Box::new(move || drop(t)));
        let early = timers.call_later(ms(1), Box::new(|| {}));
        let gone = timers.call_later(ms(5), Box::new(|| {}));
        gone.cancel().unwrap();
        assert_eq!(timers.pending(), [early.clone(), late.clone()]);
        assert_eq!(timers.len(), 2);
        assert!(format!("{early:?}").contains("pending"));
        drop(timers);
        assert!(!late.is_active());
        assert_eq!(late.cancel(), Err(DelayedCallError::AlreadyCancelled));
        assert_eq!(early.reset(ms(1)), Err(DelayedCallError::AlreadyCancelled));
        assert_eq!(Rc::strong_count(&token), 1);
    }

    /// A real-time queue schedules relative to `Instant::now()`.
    #[test]
    fn real_time_queue() {
        let timers = Timers::new_real();
        let before = Instant::now();
        let call = timers.call_later(Duration::from_secs(60), Box::new(|| {}));
        assert!(call.time() >= before + Duration::from_secs(60));
        assert_eq!(timers.run_due(Instant::now(), true, true), 0);
        assert_eq!(timers.next_deadline(), Some(call.time()));
        let huge = timers.call_later(Duration::MAX, Box::new(|| {}));
        assert!(huge.time() > call.time());
    }
}
