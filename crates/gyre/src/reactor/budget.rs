//! The work budget of one turn: how much a callback may do before the
//! reactor moves on to the others.
//!
//! A turn is one dispatch of readiness to a source, or one pass over the
//! due timers and queued calls. Every byte a transport is asked to write
//! during it is charged here (plus a fixed cost per write call, so that a
//! flood of tiny writes counts too). Code that can stop and continue later
//! asks [`exhausted`]: the stream connection stops reading more from a peer
//! whose callbacks spent the budget, and the framers (lines, length-prefixed
//! strings) stop delivering messages and resume on a later turn. So one
//! peer's burst, fanned out to many others, cannot hold the loop: timers,
//! signals and new connections are served between its turns.
//!
//! One reactor per thread, so the budget is a thread-local: charging it is
//! two instructions on the write path.

use std::cell::Cell;

/// What a turn may spend before [`exhausted`] says so: 1 MiB of output
/// (about 30,000 short chat lines, a few milliseconds of copying).
pub(crate) const TURN_BUDGET: usize = 1024 * 1024;

/// What one write call costs on top of its bytes.
pub(crate) const WRITE_COST: usize = 32;

thread_local! {
    static SPENT: Cell<usize> = const { Cell::new(0) };
    /// Output charged since the reactor last flushed queued output.
    static UNFLUSHED: Cell<usize> = const { Cell::new(0) };
}

/// Charges `bytes` of output (one write call) to the current turn.
pub(crate) fn charge(bytes: usize) {
    let cost = bytes + WRITE_COST;
    SPENT.with(|s| s.set(s.get().saturating_add(cost)));
    UNFLUSHED.with(|u| u.set(u.get().saturating_add(cost)));
}

/// True once the output charged since the last flush is worth flushing
/// before the rest of the poll batch is dispatched (a turn's budget).
pub(crate) fn flush_due() -> bool {
    UNFLUSHED.with(|u| u.get() >= TURN_BUDGET)
}

/// The reactor flushed the queued output.
pub(crate) fn flushed() {
    UNFLUSHED.with(|u| u.set(0));
}

/// True once the current turn has spent its budget.
pub(crate) fn exhausted() -> bool {
    SPENT.with(|s| s.get() >= TURN_BUDGET)
}

/// Starts a new turn.
pub(crate) fn reset() {
    SPENT.with(|s| s.set(0));
}
