//! Time: the [`Clock`] trait, [`DelayedCall`] and [`LoopingCall`].
//!
//! Everything in gyre that waits (looping calls, reconnection back-off,
//! timeouts, keepalives) takes a [`Clock`] rather than reading the system
//! clock, so a test can drive it with [`testing::VirtualClock`](crate::testing::VirtualClock)
//! and never sleep. The reactor and `testing::VirtualClock` both implement the trait
//! on top of one timer queue, so a timed call behaves the same under both:
//!
//! * calls run in order of their deadline; calls with equal deadlines run in
//!   the order they were scheduled (unlike Twisted's reactor, which does not
//!   promise that; its `task.Clock` does);
//! * a [`DelayedCall`] can be [`cancel`](DelayedCall::cancel)led,
//!   [`reset`](DelayedCall::reset) or [`delay`](DelayedCall::delay)ed until it
//!   runs; doing so twice, or after it ran, is an error value
//!   ([`DelayedCallError`](crate::error::DelayedCallError)), never a panic;
//! * a call is no longer [active](DelayedCall::is_active) from the moment its
//!   function starts running.
//!
//! The two drivers differ where Twisted's do: the reactor runs the calls that
//! were due when its pass began and leaves calls scheduled during the pass
//! (even with a zero delay) for the next one, and it logs a panicking call and
//! carries on; `testing::VirtualClock::advance` also runs calls that become due
//! during the advance, and lets a panic reach the test.
//!
//! [`LoopingCall`] runs a function every interval on any clock, aligned to the
//! grid `start + k * interval`; missed intervals are skipped, not replayed; a
//! panic in the function stops the loop and fails its completion, and goes no
//! further (on either clock):
//!
//! ```
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use std::time::Duration;
//! use gyre::testing::VirtualClock;
//! use gyre::time::LoopingCall;
//!
//! let clock = VirtualClock::new();
//! let seen = Rc::new(RefCell::new(Vec::new()));
//! let (c, s) = (clock.clone(), seen.clone());
//! let tick = LoopingCall::new(&clock, move || s.borrow_mut().push(c.seconds()));
//! let stopped = tick.start(Duration::from_secs(1), true)?;
//! for ms in [500, 500, 3700, 300, 1000] {
//!     clock.advance(Duration::from_millis(ms));
//! }
//! // The call due at 2.0 ran late at 4.7; 3.0 and 4.0 were skipped.
//! assert_eq!(*seen.borrow(), [0.0, 1.0, 4.7, 5.0, 6.0]);
//! tick.stop()?;
//! assert!(stopped.is_complete());
//! # Ok::<(), gyre::time::LoopingCallError>(())
//! ```
//!
//! Where things are, lowest first (each file names only those before it):
//! `heap.rs`, the 4-ary min-heap; `queue.rs`, the ordered store on it
//! (invariants at its top) and the record of one scheduled call;
//! `delayed.rs`, the [`DelayedCall`] handle and the queue with its clock
//! that it reschedules on; `timers.rs`, the timer queue shared by the
//! reactor and `testing::VirtualClock` (`Timers`: scheduling and run semantics);
//! this file, the [`Clock`] trait; `looping.rs`, [`LoopingCall`], on any
//! clock. `scripts/check-layers` checks the order. Tests sit at the bottom
//! of each of those files; the virtual clock's own tests are in
//! `testing/virtual_clock.rs`.

use std::any::Any;
use std::rc::Rc;
use std::time::{Duration, Instant};

mod delayed;
mod heap;
mod looping;
mod queue;
mod timers;

pub use delayed::DelayedCall;
pub use looping::{LoopingCall, LoopingCallError};
pub(crate) use timers::Timers;

/// A source of time that can schedule calls: the [`Reactor`](crate::Reactor),
/// or a [`VirtualClock`](crate::testing::VirtualClock) (and the
/// [`MemoryReactor`](crate::testing::MemoryReactor) around one) in tests.
/// Twisted calls this interface `IReactorTime`.
///
/// Everything in gyre that waits takes its clock the same way: **by
/// reference, first argument**, as `&impl Clock` (or `&dyn Clock`) when it
/// only schedules, and as `&(impl Clock + Clone + 'static)` when it keeps
/// the clock, cloning the handle it keeps. So code written against the
/// reactor is tested by passing a virtual clock in its place, and nothing
/// asks for an `Rc`:
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use std::time::Duration;
/// use gyre::testing::VirtualClock;
/// use gyre::{Clock, LoopingCall};
///
/// // Code under test: a heartbeat on whatever clock it is given.
/// fn heartbeat(clock: &(impl Clock + Clone + 'static), beats: Rc<Cell<u32>>) -> LoopingCall {
///     let beat = LoopingCall::new(clock, move || beats.set(beats.get() + 1));
///     beat.start(Duration::from_secs(30), false).unwrap();
///     beat
/// }
///
/// let clock = VirtualClock::new();
/// let beats = Rc::new(Cell::new(0));
/// let _beat = heartbeat(&clock, beats.clone());
/// for _ in 0..3 {
///     clock.advance(Duration::from_secs(30));
/// }
/// assert_eq!(beats.get(), 3);
/// // `call_later` works on any clock, generic or `dyn`.
/// let fired = Rc::new(Cell::new(false));
/// let f = fired.clone();
/// Clock::call_later(&clock, Duration::from_secs(1), move || f.set(true));
/// clock.advance(Duration::from_secs(1));
/// assert!(fired.get());
/// ```
///
/// The trait is object-safe. An `Rc` of a clock is a clock too, so an
/// `Rc<dyn Clock>` you already hold can be lent wherever a clock is asked
/// for, and `call_later` works on it; on a bare `dyn Clock`, schedule with
/// [`call_later_boxed`](Self::call_later_boxed).
pub trait Clock {
    /// Current time on this clock.
    fn now(&self) -> Instant;

    /// Schedules `f` to run once `delay` has passed; the object-safe form
    /// of [`call_later`](Self::call_later), for implementors.
    fn call_later_boxed(&self, delay: Duration, f: Box<dyn FnOnce()>) -> DelayedCall;

    /// Pending calls (not yet called, not cancelled), in firing order.
    fn pending_calls(&self) -> Vec<DelayedCall>;

    /// Schedules `f` to run once `delay` has passed (Twisted's `callLater`).
    ///
    /// The call's time is [`now`](Self::now) + `delay`; calls due at the
    /// same time run in the order they were scheduled. The returned handle
    /// can cancel, reset or delay it.
    fn call_later(&self, delay: Duration, f: impl FnOnce() + 'static) -> DelayedCall
    where
        Self: Sized,
    {
        self.call_later_boxed(delay, Box::new(f))
    }
}

/// A shared clock is a clock: `Rc<dyn Clock>` (or `Rc<VirtualClock>`) can be
/// passed wherever one is asked for.
impl<C: Clock + ?Sized> Clock for Rc<C> {
    fn now(&self) -> Instant {
        (**self).now()
    }

    fn call_later_boxed(&self, delay: Duration, f: Box<dyn FnOnce()>) -> DelayedCall {
        (**self).call_later_boxed(delay, f)
    }

    fn pending_calls(&self) -> Vec<DelayedCall> {
        (**self).pending_calls()
    }
}

/// The handle a constructor keeps of the clock it was lent: a clone of it,
/// type-erased (an `Rc<dyn Clock>` is cloned as it is, not wrapped again).
pub(crate) fn keep(clock: &(impl Clock + Clone + 'static)) -> Rc<dyn Clock> {
    let any: &dyn Any = clock;
    match any.downcast_ref::<Rc<dyn Clock>>() {
        Some(shared) => shared.clone(),
        None => Rc::new(clock.clone()),
    }
}

/// Helpers shared by the tests of this module's files.
#[cfg(test)]
mod test_support {
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::time::{Duration, Instant};

    use super::Timers;

    /// Ids of the calls that ran, in order.
    pub(super) type Log = Rc<RefCell<Vec<u32>>>;

    /// A virtual-time queue and its start.
    pub(super) fn virtual_timers() -> (Timers, Instant) {
        let start = Instant::now();
        (Timers::new_virtual(start), start)
    }

    /// A function that appends `id` to `log`.
    pub(super) fn record(log: &Log, id: u32) -> Box<dyn FnOnce()> {
        let log = log.clone();
        Box::new(move || log.borrow_mut().push(id))
    }

    pub(super) fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Moves virtual time forward by `by` and runs what is due.
    pub(super) fn advance(timers: &Timers, by: Duration, this_pass_only: bool) -> usize {
        let now = timers.now() + by;
        timers.set_now(now);
        timers.run_due(now, this_pass_only, false)
    }
}
