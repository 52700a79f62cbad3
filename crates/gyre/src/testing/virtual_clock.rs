//! [`VirtualClock`]: virtual time for tests (Twisted's `task.Clock`).
//!
//! It runs on the same timer queue as the reactor, so a [`DelayedCall`]
//! behaves the same on both; only the driving differs (see
//! [`advance`](VirtualClock::advance)). Tests: at the bottom of this file.

use std::fmt;
use std::time::{Duration, Instant};

use crate::time::{self, DelayedCall, Timers};

/// A deterministic clock: time stands still until the test moves it with
/// [`advance`](Self::advance) or [`pump`](Self::pump) (Twisted's
/// `task.Clock`).
///
/// Calls run in order of their time, and calls for the same time in the
/// order they were scheduled. Clones are handles to the same clock; lend
/// one (`&clock`) to whatever takes a [`Clock`](crate::Clock), exactly where
/// the program lends `&reactor`.
///
/// Why the name: [`gyre::Clock`](crate::Clock) is the trait every source
/// of time implements (Twisted's `IReactorTime`), and it appears in the
/// signature of everything that schedules; the test double is the one
/// clock whose time is *virtual*, moved only by the test. Twisted calls it
/// `task.Clock`; the two could not share a name in Rust without one of them
/// being renamed at every import that needs both.
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use std::time::Duration;
/// use gyre::testing::VirtualClock;
///
/// let clock = VirtualClock::new();
/// let fired = Rc::new(Cell::new(false));
/// let f = fired.clone();
/// clock.call_later(Duration::from_secs(5), move || f.set(true));
/// clock.advance(Duration::from_secs(4));
/// assert!(!fired.get());
/// clock.advance(Duration::from_secs(1));
/// assert!(fired.get());
/// assert_eq!(clock.seconds(), 5.0);
/// ```
#[derive(Clone)]
pub struct VirtualClock {
    timers: Timers,
    origin: Instant,
}

impl VirtualClock {
    /// A clock at virtual time 0 with nothing scheduled.
    pub fn new() -> VirtualClock {
        let origin = Instant::now();
        VirtualClock {
            timers: Timers::new_virtual(origin),
            origin,
        }
    }

    /// The current virtual time, as an `Instant` (what
    /// [`time::Clock::now`] returns).
    pub fn now(&self) -> Instant {
        self.timers.now()
    }

    /// Virtual seconds since the clock was created (Twisted's `seconds()`;
    /// starts at `0.0`).
    pub fn seconds(&self) -> f64 {
        self.now().duration_since(self.origin).as_secs_f64()
    }

    /// Moves time forward by `by`, then runs every call that is due, in
    /// order, including calls scheduled during the advance that are already
    /// due (a `call_later` with delay 0 runs in the same advance).
    ///
    /// A panic in a plain call propagates to the caller, as an exception
    /// does from Twisted's `Clock.advance`; the calls not yet run stay
    /// scheduled. A [`LoopingCall`](crate::LoopingCall) catches its
    /// function's panic itself (its completion fails with it), so a failing
    /// loop never interrupts `advance`.
    pub fn advance(&self, by: Duration) {
        let now = self.now() + by;
        self.timers.set_now(now);
        self.timers.run_due(now, false, false);
    }

    /// [`advance`](Self::advance)s by each step in turn.
    pub fn pump(&self, steps: &[Duration]) {
        for &step in steps {
            self.advance(step);
        }
    }

    /// Schedules `f` to run once `delay` of virtual time has passed.
    pub fn call_later(&self, delay: Duration, f: impl FnOnce() + 'static) -> DelayedCall {
        self.timers.call_later(delay, Box::new(f))
    }

    /// Pending calls (not called, not cancelled), in firing order
    /// (Twisted's `getDelayedCalls()`).
    pub fn pending_calls(&self) -> Vec<DelayedCall> {
        self.timers.pending()
    }
}

impl Default for VirtualClock {
    fn default() -> VirtualClock {
        VirtualClock::new()
    }
}

impl time::Clock for VirtualClock {
    fn now(&self) -> Instant {
        VirtualClock::now(self)
    }

    fn call_later_boxed(&self, delay: Duration, f: Box<dyn FnOnce()>) -> DelayedCall {
        self.timers.call_later(delay, f)
    }

    fn pending_calls(&self) -> Vec<DelayedCall> {
        VirtualClock::pending_calls(self)
    }
}

impl fmt::Debug for VirtualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtualClock")
            .field("seconds", &self.seconds())
            .field("pending", &self.timers.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::DelayedCallError;
    use std::cell::RefCell;
    use std::rc::Rc;

    type Log = Rc<RefCell<Vec<&'static str>>>;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn record(log: &Log, name: &'static str) -> impl FnOnce() + 'static {
        let log = log.clone();
        move || log.borrow_mut().push(name)
    }

    /// `seconds` starts at 0.0 and follows `advance` and `pump`.
    #[test]
    fn seconds_advance_and_pump() {
        let clock = VirtualClock::default();
        assert_eq!(clock.seconds(), 0.0);
        let start = clock.now();
        clock.advance(ms(1500));
        assert_eq!(clock.seconds(), 1.5);
        clock.pump(&[ms(250), ms(250), ms(1000)]);
        assert_eq!(clock.seconds(), 3.0);
        assert_eq!(clock.now(), start + ms(3000));
        assert!(format!("{clock:?}").starts_with("VirtualClock { seconds: 3.0"));
    }

    /// Calls run when their time comes, in time order, FIFO for equal times.
    #[test]
    fn calls_run_in_time_then_fifo_order() {
        let clock = VirtualClock::new();
        let log = Log::default();
        clock.call_later(ms(2000), record(&log, "late"));
        clock.call_later(ms(1000), record(&log, "a"));
        clock.call_later(ms(1000), record(&log, "b"));
        clock.advance(ms(999));
        assert!(log.borrow().is_empty());
        clock.advance(ms(1));
        assert_eq!(*log.borrow(), ["a", "b"]);
        clock.pump(&[ms(500), ms(500)]);
        assert_eq!(*log.borrow(), ["a", "b", "late"]);
    }

    /// Time moves before calls run; calls scheduled during an advance that
    /// are already due run in the same advance.
    #[test]
    fn advance_runs_calls_that_become_due() {
        let clock = VirtualClock::new();
        let log = Log::default();
        let (c, l) = (clock.clone(), log.clone());
        clock.call_later(ms(1000), move || {
            l.borrow_mut().push("first");
            c.call_later(Duration::ZERO, record(&l, "zero"));
            c.call_later(ms(500), record(&l, "half"));
            c.call_later(ms(2000), record(&l, "later"));
        });
        clock.call_later(ms(1200), record(&log, "second"));
        clock.advance(ms(1500));
        // Time moves first: the calls see 1.5, so "zero" is due at 1.5.
        assert_eq!(*log.borrow(), ["first", "second", "zero"]);
        assert_eq!(clock.pending_calls().len(), 2);
        clock.advance(ms(500));
        assert_eq!(*log.borrow(), ["first", "second", "zero", "half"]);
    }

    /// A panic in a call reaches the caller of `advance`; the rest stay
    /// scheduled and run on the next advance.
    #[test]
    fn panics_propagate_to_advance() {
        let clock = VirtualClock::new();
        let log = Log::default();
        clock.call_later(ms(1), || panic!("clock boom"));
        clock.call_later(ms(1), record(&log, "after"));
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| clock.advance(ms(1))))
            .unwrap_err();
        assert_eq!(err.downcast_ref::<&str>(), Some(&"clock boom"));
        assert!(log.borrow().is_empty());
        clock.advance(Duration::ZERO);
        assert_eq!(*log.borrow(), ["after"]);
    }

    /// x at 2 reset to 0.5, y at 1 delayed by 2, z at 1: they run x, z, y
    /// (reference 8.2); cancelled calls leave `pending_calls`.
    #[test]
    fn reset_and_delay_resort() {
        let clock = VirtualClock::new();
        let log = Log::default();
        let x = clock.call_later(ms(2000), record(&log, "x"));
        let y = clock.call_later(ms(1000), record(&log, "y"));
        let z = clock.call_later(ms(1000), record(&log, "z"));
        let w = clock.call_later(ms(1000), record(&log, "w"));
        x.reset(ms(500)).unwrap();
        y.delay(ms(2000)).unwrap();
        w.cancel().unwrap();
        assert_eq!(clock.pending_calls(), [x.clone(), z.clone(), y.clone()]);
        clock.pump(&[ms(1000); 3]);
        assert_eq!(*log.borrow(), ["x", "z", "y"]);
        assert_eq!(y.cancel(), Err(DelayedCallError::AlreadyCalled));
        assert!(clock.pending_calls().is_empty());
    }

    /// The clock works through the trait, as code under test uses it:
    /// lent as `&impl Clock`, and kept as an `Rc<dyn Clock>`.
    #[test]
    fn works_through_the_trait() {
        use crate::time::Clock as _;
        fn schedule(clock: &impl time::Clock, log: &Log) -> DelayedCall {
            clock.call_later(ms(5), record(log, "generic"))
        }
        let clock = VirtualClock::new();
        let dynamic: Rc<dyn time::Clock> = Rc::new(clock.clone());
        let log = Log::default();
        let first = schedule(&clock, &log);
        assert_eq!(schedule(&dynamic, &log).time(), first.time());
        clock.advance(ms(5));
        assert_eq!(*log.borrow(), ["generic", "generic"]);
        log.borrow_mut().clear();
        let call = dynamic.call_later(ms(10), record(&log, "dyn"));
        assert_eq!(dynamic.now(), clock.now());
        assert_eq!(call.time(), clock.now() + ms(10));
        assert_eq!(dynamic.pending_calls(), [call]);
        clock.advance(ms(10));
        assert_eq!(*log.borrow(), ["dyn"]);
    }
}
