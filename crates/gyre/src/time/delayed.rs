//! [`DelayedCall`]: the handle to one scheduled call.
//!
//! The handle is thin: it checks the call's state and hands rescheduling to
//! the timer queue (`timers.rs`, ordering in `queue.rs`). Tests: `timers.rs`
//! (cancel, reset, delay and their errors) and the property test in
//! `queue.rs`.

use std::cell::Cell;
use std::fmt;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use super::instant_after;
use super::queue::Key;
use super::timers::Shared;
use crate::error::DelayedCallError;

/// Where a call is in its life. It only moves forward, out of `Pending`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// Scheduled: not yet called, not cancelled.
    Pending,
    /// Taken off the queue to run (the function may be running right now).
    Called,
    /// Cancelled, or its queue was dropped before it ran.
    Cancelled,
}

/// One scheduled call, shared by its [`DelayedCall`] handles and the queue.
pub(super) struct CallInner {
    /// Where the call is in its life.
    pub(super) state: Cell<State>,
    /// The time the call is scheduled for.
    pub(super) time: Cell<Instant>,
    /// Where the call is scheduled in the queue's order: `time` in the
    /// queue's ticks, and a sequence number.
    pub(super) key: Cell<Key>,
    /// The key of the queue entry that stands for this call; never later
    /// than `key` while the call is pending (see the invariants in `queue.rs`).
    pub(super) entry: Cell<Key>,
    /// The function; `None` once called or cancelled.
    pub(super) f: Cell<Option<Box<dyn FnOnce()>>>,
}

/// A call scheduled with [`Clock::call_later`](super::Clock): Twisted's
/// `IDelayedCall`.
///
/// Clones are handles to the same call. Compare handles with `==` (same call).
/// Cancelling, resetting or delaying a call that was already cancelled gives
/// [`DelayedCallError::AlreadyCancelled`]; one that already ran (or is
/// running right now) gives [`DelayedCallError::AlreadyCalled`]. If the clock
/// is dropped first, its pending calls count as cancelled.
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
