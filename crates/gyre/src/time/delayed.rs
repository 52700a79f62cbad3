//! [`DelayedCall`]: the handle to one scheduled call; and `Shared`, the
//! queue and its clock, which the handles reschedule on and
//! [`Timers`](super::Timers) (`timers.rs`) runs.
//!
//! The handle is thin: it checks the call's state and hands rescheduling to
//! `Shared`, which keys the call and leaves the ordering to the queue
//! (`queue.rs`). `Shared` holds, field by field:
//!
//! * `origin`: the instant deadlines are counted from (the queue's creation,
//!   or the virtual start); the queue orders deadlines as nanoseconds since
//!   it;
//! * `virtual_now`: `None` for a real-time queue (`now()` reads
//!   `Instant::now()`), or the virtual time that `Timers::set_now` moves;
//! * `queue`: the ordered store (`queue.rs`, where its invariants are
//!   written), in a `RefCell` that is never borrowed while user code runs or
//!   a function is dropped: a call may schedule, cancel or reset any call,
//!   itself included.
//!
//! When the last `Timers` handle goes, `Shared` is dropped and its pending
//! calls count as cancelled. A handle reaches it through a weak reference,
//! so a handle kept after that reports the call cancelled.
//!
//! In the module's order this file sits above `queue.rs` and below
//! `timers.rs`: it names the queue, never the driver. Tests: `timers.rs`
//! (cancel, reset, delay and their errors) and the property test in
//! `queue.rs`.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use super::queue::{CallInner, Queue, State};
use crate::error::DelayedCallError;

/// A call scheduled with [`Clock::call_later`](super::Clock): Twisted's
/// `IDelayedCall`.
///
/// Clones are handles to the same call. Compare handles with `==` (same call).
/// Cancelling, resetting or delaying a call that was already cancelled gives
/// [`DelayedCallError::AlreadyCancelled`]; one that already ran (or is
/// running right now) gives [`DelayedCallError::AlreadyCalled`]. If the clock
/// is dropped first, its pending calls count as cancelled.
///
/// A deadline pushed back while work keeps arriving, then given up:
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use std::time::Duration;
///
/// use gyre::testing::VirtualClock;
/// use gyre::DelayedCall;
/// use gyre::DelayedCallError;
///
/// let clock = VirtualClock::new();
/// let fired = Rc::new(Cell::new(0));
/// let f = fired.clone();
/// let call: DelayedCall = clock.call_later(Duration::from_secs(10), move || f.set(f.get() + 1));
/// let start = call.time();
///
/// clock.advance(Duration::from_secs(8));
/// call.reset(Duration::from_secs(10))?; // 10 s from now: at 18 s
/// call.delay(Duration::from_secs(2))?; // 2 s later than that: at 20 s
/// assert_eq!(call.time() - start, Duration::from_secs(10));
/// clock.advance(Duration::from_secs(11)); // 19 s
/// assert!(call.is_active() && fired.get() == 0);
/// clock.advance(Duration::from_secs(1)); // 20 s
/// assert!(!call.is_active());
/// assert_eq!(fired.get(), 1);
/// assert_eq!(call.cancel(), Err(DelayedCallError::AlreadyCalled));
///
/// let other = clock.call_later(Duration::from_secs(1), || unreachable!());
/// other.cancel()?;
/// assert_eq!(other.reset(Duration::from_secs(1)), Err(DelayedCallError::AlreadyCancelled));
/// clock.advance(Duration::from_secs(5)); // a cancelled call never runs
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct DelayedCall {
    inner: Rc<CallInner>,
    /// The queue the call is scheduled on.
    timers: Weak<Shared>,
}

impl DelayedCall {
    pub(super) fn new(inner: Rc<CallInner>, timers: Weak<Shared>) -> DelayedCall {
        DelayedCall { inner, timers }
    }

    /// Unschedules the call; its function is dropped at once.
    pub fn cancel(&self) -> Result<(), DelayedCallError> {
        self.check()?;
        self.inner.state.set(State::Cancelled);
        let f = self.inner.f.take();
        if let Some(timers) = self.timers.upgrade() {
            timers.forget();
        }
        // Dropped last: a closure's captures may run code of their own.
        drop(f);
        Ok(())
    }

    /// Moves the call to `from_now` after the clock's current time, earlier
    /// or later than it was.
    ///
    /// A reset call runs after calls already scheduled for the same time.
    pub fn reset(&self, from_now: Duration) -> Result<(), DelayedCallError> {
        self.check()?;
        if let Some(timers) = self.timers.upgrade() {
            let at = instant_after(timers.now(), from_now);
            timers.reschedule(&self.inner, at);
        }
        Ok(())
    }

    /// Moves the call `later_by` after its currently scheduled time.
    ///
    /// Like [`reset`](Self::reset), it then runs after calls already
    /// scheduled for its new time.
    pub fn delay(&self, later_by: Duration) -> Result<(), DelayedCallError> {
        self.check()?;
        if let Some(timers) = self.timers.upgrade() {
            let at = instant_after(self.time(), later_by);
            timers.reschedule(&self.inner, at);
        }
        Ok(())
    }

    /// True until the call is cancelled or starts running; already false
    /// while its function runs.
    pub fn is_active(&self) -> bool {
        self.inner.state.get() == State::Pending
    }

    /// The time the call is scheduled for (or was, once it ran).
    pub fn time(&self) -> Instant {
        self.inner.time.get()
    }

    /// The error for a call that is no longer pending.
    fn check(&self) -> Result<(), DelayedCallError> {
        match self.inner.state.get() {
            State::Pending => Ok(()),
            State::Called => Err(DelayedCallError::AlreadyCalled),
            State::Cancelled => Err(DelayedCallError::AlreadyCancelled),
        }
    }
}

impl PartialEq for DelayedCall {
    fn eq(&self, other: &DelayedCall) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for DelayedCall {}

impl fmt::Debug for DelayedCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.inner.state.get() {
            State::Pending => "pending",
            State::Called => "called",
            State::Cancelled => "cancelled",
        };
        f.debug_struct("DelayedCall")
            .field("time", &self.time())
            .field("state", &state)
            .finish()
    }
}

/// The queue and its clock, shared by [`Timers`](super::Timers) handles
/// and (weakly) by every [`DelayedCall`] handle to a call scheduled on it.
pub(super) struct Shared {
    /// The instant deadlines are counted from.
    pub(super) origin: Instant,
    /// `None`: real time. `Some`: virtual time, moved by `set_now`.
    pub(super) virtual_now: Option<Cell<Instant>>,
    pub(super) queue: RefCell<Queue>,
}

impl Shared {
    /// Current time on this queue's clock.
    pub(super) fn now(&self) -> Instant {
        match &self.virtual_now {
            Some(cell) => cell.get(),
            None => Instant::now(),
        }
    }

    /// `at` as nanoseconds since the origin (0 before it; saturating).
    pub(super) fn ticks(&self, at: Instant) -> u64 {
        let nanos = at.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(nanos).unwrap_or(u64::MAX)
    }

    /// Bookkeeping for a pending call that was just cancelled.
    pub(super) fn forget(&self) {
        self.queue.borrow_mut().forget();
    }

    /// Moves a pending call to `at`, under a fresh sequence number: it runs
    /// after calls already scheduled for that time.
    pub(super) fn reschedule(&self, call: &Rc<CallInner>, at: Instant) {
        let mut q = self.queue.borrow_mut();
        let key = (self.ticks(at), q.take_seq());
        call.time.set(at);
        q.reschedule(call, key);
    }
}

impl Drop for Shared {
    /// Pending calls of a dropped queue count as cancelled; their functions
    /// are dropped after the queue is emptied.
    fn drop(&mut self) {
        let functions = self.queue.get_mut().cancel_all();
        drop(functions);
    }
}

/// `at + by`, saturating at a point far in the future instead of overflowing.
pub(super) fn instant_after(at: Instant, by: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    at.checked_add(by)
        .or_else(|| at.checked_add(FAR))
        .unwrap_or(at)
}
