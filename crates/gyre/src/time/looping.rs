//! [`LoopingCall`]: run a function every interval, on any [`Clock`].
//!
//! Twisted's `task.LoopingCall`, rule for rule (reference 8.1). Tests: at the
//! bottom of this file.

use std::cell::RefCell;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Clock, DelayedCall};
use crate::completion::Completion;
use crate::log::panic_message;

/// Misuse of a [`LoopingCall`] in its current state.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum LoopingCallError {
    /// `start` was called on a running loop.
    #[error("Tried to start an already running LoopingCall.")]
    AlreadyRunning,
    /// `stop` (or `reset`) was called on a loop that is not running.
    #[error("Tried to stop a LoopingCall that was not running.")]
    NotRunning,
}

/// Calls a function every interval on a [`Clock`]: Twisted's `LoopingCall`.
///
/// Calls are aligned to the grid `start + k * interval`: after a call ends
/// at time `t`, the next is scheduled at the next grid point after `t`, so
/// a late call does not shift the ones after it, and missed intervals are
/// skipped, not replayed. With a zero interval the function runs again as
/// soon as possible (delay 0) every time.
///
/// The loop keeps itself alive while it runs: dropping every handle does not
/// stop it (the clock holds the next call). Clones are handles to the same
/// loop.
///
/// If the function panics, the panic goes no further, as in Twisted (where
/// the failure only errbacks the loop's Deferred): the loop stops, and the
/// completion returned by [`start`](Self::start) fails with the panic's
/// message ([`Completion::failure`]; [`failure`](Self::failure) has it too).
/// Whoever drove the call goes on: the reactor, `testing::VirtualClock::advance`
/// (the calls due after it still run), or `start` itself for the immediate
/// first call, which then returns a completion that has already failed. A
/// failure nobody reads from the completion is logged when the completion
/// is dropped, as Twisted logs a failed Deferred nobody handled.
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use std::time::Duration;
/// use gyre::testing::VirtualClock;
/// use gyre::time::LoopingCall;
///
/// let clock = VirtualClock::new();
/// let ticks = Rc::new(Cell::new(0));
/// let t = ticks.clone();
/// let beat = LoopingCall::new(&clock, move || t.set(t.get() + 1));
/// beat.start(Duration::from_secs(30), false).unwrap();
/// clock.pump(&[Duration::from_secs(30); 3]);
/// assert_eq!(ticks.get(), 3);
/// assert_eq!(format!("{beat:?}").split('(').next(), Some("LoopingCall<30.0>"));
/// ```
#[derive(Clone)]
pub struct LoopingCall {
    inner: Rc<Loop>,
}

/// The loop's function; it gets the count (always 1 for [`LoopingCall::new`]).
type LoopFn = Box<dyn FnMut(u64)>;

/// The loop shared by its handles and by its pending call.
struct Loop {
    clock: Rc<dyn Clock>,
    /// Type name of the function, for `Debug`.
    name: &'static str,
    /// True for `with_count`: compute the count, skip a call when it is 0.
    counting: bool,
    /// The function; taken out while it runs so that it may use the loop.
    f: RefCell<Option<LoopFn>>,
    state: RefCell<LoopState>,
}

/// Never borrowed while the function or a completion waiter runs.
#[derive(Default)]
struct LoopState {
    running: bool,
    interval: Option<Duration>,
    /// Origin of the grid (Twisted's `starttime`).
    start_time: Option<Instant>,
    /// `now` given to the last `start` (Twisted's `_runAtStart`).
    run_at_start: bool,
    /// When the counting function last ran (Twisted's `_realLastTime`).
    real_last_time: Option<Instant>,
    /// The scheduled next call; `None` while the function runs.
    call: Option<DelayedCall>,
    /// Fires when the current run stops or fails.
    completion: Option<Completion>,
    /// Completion of a run stopped from inside the function: it fires once
    /// that iteration returns.
    stopping: Option<Completion>,
    failure: Option<Arc<str>>,
}

impl LoopingCall {
    /// A loop that calls `f` on `clock` (the reactor; in tests, a
    /// [`VirtualClock`](crate::testing::VirtualClock)); it does nothing
    /// until [`start`](Self::start). The loop keeps a clone of the clock
    /// handle.
    pub fn new(
        clock: &(impl Clock + Clone + 'static),
        mut f: impl FnMut() + 'static,
    ) -> LoopingCall {
        let name = std::any::type_name_of_val(&f);
        LoopingCall::build(super::keep(clock), name, false, Box::new(move |_| f()))
    }

    /// A loop whose function gets the number of grid intervals that elapsed
    /// since it last ran (Twisted's `LoopingCall.withCount`).
    ///
    /// The count is normally 1; it is more when calls were missed, and
    /// always 1 with a zero interval. A call that falls in the same interval
    /// as the previous one (count 0, possible after [`reset`](Self::reset))
    /// does not call `f`.
    pub fn with_count(
        clock: &(impl Clock + Clone + 'static),
        f: impl FnMut(u64) + 'static,
    ) -> LoopingCall {
        let name = std::any::type_name_of_val(&f);
        LoopingCall::build(super::keep(clock), name, true, Box::new(f))
    }

    fn build(clock: Rc<dyn Clock>, name: &'static str, counting: bool, f: LoopFn) -> LoopingCall {
        LoopingCall {
            inner: Rc::new(Loop {
                clock,
                name,
                counting,
                f: RefCell::new(Some(f)),
                state: RefCell::new(LoopState::default()),
            }),
        }
    }

    /// Starts calling the function every `interval`, the first time at once
    /// (synchronously, inside `start`) if `now`, else after one interval.
    ///
    /// The completion fires when the loop is [stopped](Self::stop), or
    /// fails when its function panics ([`Completion::failure`] tells which).
    ///
    /// Called from inside the function with `now` (after stopping the loop),
    /// the first call is scheduled with delay 0 instead of running
    /// recursively.
    pub fn start(&self, interval: Duration, now: bool) -> Result<Completion, LoopingCallError> {
        let completion = Completion::new();
        let start_time = self.inner.clock.now();
        {
            let mut st = self.inner.state.borrow_mut();
            if st.running {
                return Err(LoopingCallError::AlreadyRunning);
            }
            st.running = true;
            st.failure = None;
            st.completion = Some(completion.clone());
            st.start_time = Some(start_time);
            st.interval = Some(interval);
            st.run_at_start = now;
        }
        let in_call = self.inner.f.borrow().is_none();
        if now && !in_call {
            self.inner.fire();
        } else if now {
            self.inner.schedule(Duration::ZERO);
        } else {
            self.inner.schedule_from(start_time);
        }
        Ok(completion)
    }

    /// Stops the loop: the pending call is cancelled and the completion
    /// fires at once, or, when called from inside the function, once that
    /// iteration returns.
    pub fn stop(&self) -> Result<(), LoopingCallError> {
        let (call, completion) = {
            let mut st = self.inner.state.borrow_mut();
            if !st.running {
                return Err(LoopingCallError::NotRunning);
            }
            st.running = false;
            match st.call.take() {
                Some(call) => (Some(call), st.completion.take()),
                None => {
                    st.stopping = st.completion.take();
                    (None, None)
                }
            }
        };
        if let Some(call) = call {
            let _ = call.cancel();
        }
        if let Some(completion) = completion {
            completion.complete();
        }
        Ok(())
    }

    /// Skips the next call and restarts the grid from now. Does nothing
    /// when called from inside the function.
    pub fn reset(&self) -> Result<(), LoopingCallError> {
        let call = {
            let mut st = self.inner.state.borrow_mut();
            if !st.running {
                return Err(LoopingCallError::NotRunning);
            }
            st.call.take()
        };
        if let Some(call) = call {
            let _ = call.cancel();
            let now = self.inner.clock.now();
            self.inner.state.borrow_mut().start_time = Some(now);
            self.inner.schedule_from(now);
        }
        Ok(())
    }

    /// True between [`start`](Self::start) and [`stop`](Self::stop) (or a
    /// panic of the function).
    pub fn is_running(&self) -> bool {
        self.inner.state.borrow().running
    }

    /// The interval of the last [`start`](Self::start); `None` before it.
    pub fn interval(&self) -> Option<Duration> {
        self.inner.state.borrow().interval
    }

    /// The panic message if the function panicked and stopped the loop;
    /// cleared by the next [`start`](Self::start).
    pub fn failure(&self) -> Option<Arc<str>> {
        self.inner.state.borrow().failure.clone()
    }
}

impl fmt::Debug for LoopingCall {
    /// `LoopingCall<1.0>(path::to::function)`, like Twisted's repr.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.interval() {
            Some(interval) => write!(f, "LoopingCall<{:?}>", interval.as_secs_f64())?,
            None => f.write_str("LoopingCall<None>")?,
        }
        write!(f, "({})", self.inner.name)
    }
}

impl Loop {
    /// One iteration: call the function, then schedule the next call or
    /// finish the run.
    fn fire(self: &Rc<Loop>) {
        let count = {
            let mut st = self.state.borrow_mut();
            st.call = None;
            if self.counting {
                self.count(&mut st)
            } else {
                Some(1)
            }
        };
        let taken = self.f.borrow_mut().take();
        if let (Some(count), Some(mut f)) = (count, taken) {
            let result = catch_unwind(AssertUnwindSafe(|| f(count)));
            *self.f.borrow_mut() = Some(f);
            if let Err(payload) = result {
                // Caught for good: the completion carries it (Twisted's errback).
                self.failed(panic_message(&*payload));
                return;
            }
        }
        self.iteration_done();
    }

    /// After the function returned: fire the completion of a run stopped
    /// during the call, and schedule the next call if still running.
    fn iteration_done(self: &Rc<Loop>) {
        let (stopped, next) = {
            let mut st = self.state.borrow_mut();
            let next = st.running && st.call.is_none();
            (st.stopping.take(), next)
        };
        if next {
            self.schedule_from(self.clock.now());
        }
        if let Some(completion) = stopped {
            completion.complete();
        }
    }

    /// The function panicked: stop, record, and fail the completion.
    fn failed(&self, message: Arc<str>) {
        let (call, completions) = {
            let mut st = self.state.borrow_mut();
            st.running = false;
            st.failure = Some(message.clone());
            (st.call.take(), [st.stopping.take(), st.completion.take()])
        };
        if let Some(call) = call {
            let _ = call.cancel();
        }
        for completion in completions.into_iter().flatten() {
            completion.fail(message.clone());
        }
    }

    /// Grid intervals elapsed since the function last ran; `None` for 0
    /// (Twisted's `withCount` counter).
    fn count(&self, st: &mut LoopState) -> Option<u64> {
        let now = self.clock.now();
        let interval = st.interval.unwrap_or_default();
        if interval.is_zero() {
            st.real_last_time = Some(now);
            return Some(1);
        }
        let start = st.start_time.unwrap_or(now);
        let step = interval.as_nanos() as i128;
        let last = match st.real_last_time {
            Some(t) => signed_nanos(t, start),
            None if st.run_at_start => -step,
            None => 0,
        };
        // Integer division truncates toward zero, like Python's int(a / b).
        let count = signed_nanos(now, start) / step - last / step;
        if count > 0 {
            st.real_last_time = Some(now);
            Some(count as u64)
        } else {
            None
        }
    }

    /// Schedules the next call at the first grid point after `when`
    /// (Twisted's `_scheduleFrom`).
    fn schedule_from(self: &Rc<Loop>, when: Instant) {
        let delay = {
            let st = self.state.borrow();
            let interval = st.interval.unwrap_or_default();
            if interval.is_zero() {
                Duration::ZERO
            } else {
                let start = st.start_time.unwrap_or(when);
                let step = interval.as_nanos();
                let into = when.saturating_duration_since(start).as_nanos() % step;
                duration_from_nanos(step - into)
            }
        };
        self.schedule(delay);
    }

    fn schedule(self: &Rc<Loop>, delay: Duration) {
        let me = self.clone();
        let call = self.clock.call_later(delay, move || me.fire());
        self.state.borrow_mut().call = Some(call);
    }
}

/// `a - b` in nanoseconds, negative when `a` is earlier.
fn signed_nanos(a: Instant, b: Instant) -> i128 {
    match a.checked_duration_since(b) {
        Some(d) => d.as_nanos() as i128,
        None => -(b.duration_since(a).as_nanos() as i128),
    }
}

fn duration_from_nanos(nanos: u128) -> Duration {
    const PER_SEC: u128 = 1_000_000_000;
    let secs = u64::try_from(nanos / PER_SEC).unwrap_or(u64::MAX);
    Duration::new(secs, (nanos % PER_SEC) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;
    use crate::time::Timers;
    use std::cell::Cell;

    type Seen = Rc<RefCell<Vec<(u64, u64)>>>;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Milliseconds of virtual time on `clock`.
    fn at(clock: &testing::VirtualClock) -> u64 {
        (clock.seconds() * 1000.0).round() as u64
    }

    /// A loop on `clock` that records (ms, count) for each call.
    fn recording(clock: &testing::VirtualClock) -> (LoopingCall, Seen) {
        let seen = Seen::default();
        let (c, s) = (clock.clone(), seen.clone());
        let lc = LoopingCall::with_count(clock, move |n| {
            s.borrow_mut().push((at(&c), n));
        });
        (lc, seen)
    }

    fn advance_ms(clock: &testing::VirtualClock, steps: &[u64]) {
        for &step in steps {
            clock.advance(ms(step));
        }
    }

    /// Interval 1, advancing 0.5, 0.5, 3.7, 0.3, 1 calls at 0.0, 1.0, 4.7,
    /// 5.0, 6.0: the late call runs late, then the grid resumes.
    #[test]
    fn grid_skips_missed_intervals() {
        let clock = testing::VirtualClock::new();
        let times = Rc::new(RefCell::new(Vec::new()));
        let (c, t) = (clock.clone(), times.clone());
        let lc = LoopingCall::new(&clock, move || t.borrow_mut().push(at(&c)));
        lc.start(ms(1000), true).unwrap();
        assert_eq!(*times.borrow(), [0]);
        advance_ms(&clock, &[500, 500, 3700, 300, 1000]);
        assert_eq!(*times.borrow(), [0, 1000, 4700, 5000, 6000]);
        assert_eq!(clock.pending_calls().len(), 1);
        assert_eq!(clock.pending_calls()[0].time(), clock.now() + ms(1000));
    }

    /// with_count, interval 1, now=false, advancing 1, 3.5, 0.5, 1 gives
    /// (1.0, 1), (4.5, 3), (5.0, 1), (6.0, 1).
    #[test]
    fn with_count_counts_elapsed_intervals() {
        let clock = testing::VirtualClock::new();
        let (lc, seen) = recording(&clock);
        lc.start(ms(1000), false).unwrap();
        assert!(seen.borrow().is_empty());
        advance_ms(&clock, &[1000, 3500, 500, 1000]);
        assert_eq!(*seen.borrow(), [(1000, 1), (4500, 3), (5000, 1), (6000, 1)]);
    }

    /// with_count and now=true counts the immediate call as one interval.
    #[test]
    fn with_count_now_counts_one() {
        let clock = testing::VirtualClock::new();
        let (lc, seen) = recording(&clock);
        lc.start(ms(1000), true).unwrap();
        advance_ms(&clock, &[2500, 500]);
        assert_eq!(*seen.borrow(), [(0, 1), (2500, 2), (3000, 1)]);
    }

    /// A zero interval runs as fast as possible with count 1 each time; the
    /// function stops the loop after five calls (Twisted's test).
    #[test]
    fn zero_interval_under_virtual_clock() {
        let clock = testing::VirtualClock::new();
        let seen = Rc::new(RefCell::new(Vec::new()));
        let handle: Rc<RefCell<Option<LoopingCall>>> = Rc::default();
        let (s, h) = (seen.clone(), handle.clone());
        let lc = LoopingCall::with_count(&clock, move |n| {
            s.borrow_mut().push(n);
            if s.borrow().len() > 4 {
                h.borrow().as_ref().unwrap().stop().unwrap();
            }
        });
        *handle.borrow_mut() = Some(lc.clone());
        let done = lc.start(Duration::ZERO, false).unwrap();
        clock.advance(Duration::ZERO);
        assert!(done.is_complete());
        assert_eq!(*seen.borrow(), [1, 1, 1, 1, 1]);
        assert!(clock.pending_calls().is_empty());
        handle.borrow_mut().take();
    }

    /// Under reactor semantics a zero-interval loop runs once per pass.
    #[test]
    fn zero_interval_runs_once_per_reactor_pass() {
        let timers = Timers::new_virtual(Instant::now());
        let calls = Rc::new(Cell::new(0));
        let c = calls.clone();
        let lc = LoopingCall::new(&timers, move || c.set(c.get() + 1));
        lc.start(Duration::ZERO, true).unwrap();
        for pass in 1..=3 {
            assert_eq!(timers.run_due(timers.now(), true, true), 1);
            assert_eq!(calls.get(), pass + 1);
        }
        lc.stop().unwrap();
        assert_eq!(timers.len(), 0);
    }

    /// Stopping from inside the function fires the completion only once
    /// that iteration returns, and nothing more is scheduled.
    #[test]
    fn stop_from_inside_the_function() {
        let clock = testing::VirtualClock::new();
        let handle: Rc<RefCell<Option<(LoopingCall, Completion)>>> = Rc::default();
        let observed = Rc::new(Cell::new(None));
        let (h, o) = (handle.clone(), observed.clone());
        let lc = LoopingCall::new(&clock, move || {
            let guard = h.borrow();
            let (lc, done) = guard.as_ref().unwrap();
            lc.stop().unwrap();
            o.set(Some((lc.is_running(), done.is_complete())));
        });
        let done = lc.start(ms(1000), false).unwrap();
        *handle.borrow_mut() = Some((lc.clone(), done.clone()));
        clock.advance(ms(1000));
        assert_eq!(observed.get(), Some((false, false)));
        assert!(done.is_complete());
        assert!(!lc.is_running());
        assert!(clock.pending_calls().is_empty());
        handle.borrow_mut().take();
    }

    /// `stop` cancels the pending call and fires the completion at once.
    #[test]
    fn stop_fires_completion_at_once() {
        let clock = testing::VirtualClock::new();
        let (lc, seen) = recording(&clock);
        let done = lc.start(ms(1000), true).unwrap();
        assert!(lc.is_running() && !done.is_complete());
        lc.stop().unwrap();
        assert!(done.is_complete() && !lc.is_running());
        assert!(clock.pending_calls().is_empty());
        clock.advance(ms(5000));
        assert_eq!(seen.borrow().len(), 1);
        assert_eq!(lc.failure(), None);
        assert_eq!(lc.interval(), Some(ms(1000)));
    }

    /// Stopping or resetting a loop that is not running, or starting one
    /// twice, is an error with Twisted's message.
    #[test]
    fn misuse_is_an_error() {
        let clock = testing::VirtualClock::new();
        let (lc, _) = recording(&clock);
        assert_eq!(lc.stop(), Err(LoopingCallError::NotRunning));
        assert_eq!(lc.reset(), Err(LoopingCallError::NotRunning));
        assert_eq!(lc.interval(), None);
        lc.start(ms(10), false).unwrap();
        assert_eq!(
            lc.start(ms(10), false).unwrap_err(),
            LoopingCallError::AlreadyRunning
        );
        lc.stop().unwrap();
        assert_eq!(lc.stop(), Err(LoopingCallError::NotRunning));
        assert_eq!(
            LoopingCallError::AlreadyRunning.to_string(),
            "Tried to start an already running LoopingCall."
        );
        assert_eq!(
            LoopingCallError::NotRunning.to_string(),
            "Tried to stop a LoopingCall that was not running."
        );
    }

    /// A panicking function stops the loop and fails its completion with
    /// the message; nothing escapes from `advance`, and a call due at the
    /// same time still runs in it (Twisted: `advance` returns, the loop's
    /// Deferred errbacks, the clock goes on).
    #[test]
    fn panic_stops_the_loop() {
        let clock = testing::VirtualClock::new();
        let n = Rc::new(Cell::new(0));
        let m = n.clone();
        let lc = LoopingCall::new(&clock, move || {
            m.set(m.get() + 1);
            if m.get() == 2 {
                panic!("tick failed");
            }
        });
        let done = lc.start(ms(1000), true).unwrap();
        let other = Rc::new(Cell::new(false));
        let o = other.clone();
        clock.call_later(ms(1000), move || o.set(true));
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| clock.advance(ms(1000))));
        assert!(result.is_ok(), "the panic escaped from advance");
        assert!(other.get(), "the call due at the same time ran");
        assert_eq!(n.get(), 2);
        assert!(!lc.is_running());
        assert!(done.is_complete());
        assert_eq!(done.failure().as_deref(), Some("tick failed"));
        assert_eq!(lc.failure().as_deref(), Some("tick failed"));
        assert!(clock.pending_calls().is_empty());
        // It can be started again; the failure is cleared.
        lc.start(ms(1000), false).unwrap();
        assert_eq!(lc.failure(), None);
        clock.advance(ms(1000));
        assert_eq!(n.get(), 3);
    }

    /// A panic in the first call, made inside `start`, does not escape
    /// either: `start` returns a completion that has already failed, and
    /// nothing is scheduled (Twisted: `start` returns a failed Deferred).
    #[test]
    fn panic_in_the_immediate_first_call() {
        let clock = testing::VirtualClock::new();
        let lc = LoopingCall::new(&clock, || panic!("first call failed"));
        let started = std::panic::catch_unwind(AssertUnwindSafe(|| lc.start(ms(1000), true)));
        let done = started.expect("the panic escaped from start").unwrap();
        assert!(done.is_complete());
        assert_eq!(done.failure().as_deref(), Some("first call failed"));
        assert!(!lc.is_running());
        assert!(clock.pending_calls().is_empty());
    }

    /// The completion of a failed loop, as a Deferred, errbacks with a
    /// `PanicError` carrying the message.
    #[test]
    fn failed_completion_as_a_deferred() {
        let clock = testing::VirtualClock::new();
        let lc = LoopingCall::new(&clock, || panic!("tick failed"));
        let done = lc.start(ms(1000), false).unwrap();
        let d = crate::deferred::Deferred::from_completion(&done);
        assert!(!d.is_called());
        clock.advance(ms(1000));
        assert_eq!(d.peek(), Some(false));
        let outcome = Rc::new(RefCell::new(None));
        let o = outcome.clone();
        d.consume(move |r| *o.borrow_mut() = Some(r));
        let failure = outcome.borrow_mut().take().expect("fired").unwrap_err();
        let panic = failure
            .check::<crate::deferred::PanicError>()
            .expect("a PanicError");
        assert_eq!(&*panic.message, "tick failed");
    }

    /// Under the reactor's driver the loop is stopped and its completion
    /// fails, while other calls keep running.
    #[test]
    fn panic_under_reactor_semantics() {
        let timers = Timers::new_virtual(Instant::now());
        let lc = LoopingCall::new(&timers, || panic!("bad tick"));
        let done = lc.start(ms(10), false).unwrap();
        let other = Rc::new(Cell::new(false));
        let o = other.clone();
        timers.call_later(ms(10), Box::new(move || o.set(true)));
        timers.set_now(timers.now() + ms(10));
        assert_eq!(timers.run_due(timers.now(), true, true), 2);
        assert!(other.get() && done.is_complete() && !lc.is_running());
        assert_eq!(done.failure().as_deref(), Some("bad tick"));
    }

    /// `reset` skips the next call and restarts the grid from now.
    #[test]
    fn reset_restarts_the_grid() {
        let clock = testing::VirtualClock::new();
        let (lc, seen) = recording(&clock);
        lc.start(ms(1000), false).unwrap();
        clock.advance(ms(700));
        lc.reset().unwrap();
        advance_ms(&clock, &[300, 700, 1000]);
        assert_eq!(*seen.borrow(), [(1700, 1), (2700, 1)]);
    }

    /// The loop keeps running after every handle is dropped, until stopped.
    #[test]
    fn loop_outlives_its_handles() {
        let clock = testing::VirtualClock::new();
        let n = Rc::new(Cell::new(0));
        let m = n.clone();
        let lc = LoopingCall::new(&clock, move || m.set(m.get() + 1));
        lc.start(ms(100), false).unwrap();
        drop(lc);
        clock.advance(ms(100));
        clock.advance(ms(100));
        assert_eq!(n.get(), 2);
        clock.pending_calls()[0].cancel().unwrap();
        assert_eq!(Rc::strong_count(&n), 1);
    }

    /// `Debug` prints like Twisted's repr: the interval, then the function.
    #[test]
    fn debug_looks_like_twisted() {
        let clock = testing::VirtualClock::new();
        let (lc, _) = recording(&clock);
        assert!(format!("{lc:?}").starts_with("LoopingCall<None>("));
        lc.start(ms(1500), false).unwrap();
        let text = format!("{lc:?}");
        assert!(
            text.starts_with("LoopingCall<1.5>(gyre::time::looping::tests::"),
            "{text}"
        );
        assert!(text.ends_with(')'));
    }
}
