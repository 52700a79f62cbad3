//! Blocked-reactor detection: one callback holding the loop too long is
//! logged, with what it was and for how long.
//!
//! The loop is cut into units: one readiness dispatch, one call from a
//! thread, one queued call, one timed call, and the rest of an iteration
//! (woken futures, flushing queued output, shutdown triggers). After each
//! unit the reactor calls [`lap`], which reads the clock once (the end of
//! one unit is the start of the next, so an iteration with `N` readiness
//! events costs `N + 2` clock reads) and, if the unit took longer than the
//! threshold, logs
//!
//! ```text
//! The reactor was blocked for 503 ms by data_received of Echo,0,127.0.0.1
//! ```
//!
//! naming what ran: the protocol callback and its connection's log system
//! (the stream connection notes which callback it is in with [`site`], a
//! store of two words), or the timed call's function (its closure's type
//! name, kept by `Reactor::call_later`), or the spawned future's type (each
//! poll of a woken future is a unit of its own), or the kind of unit. At most one
//! line a second is logged; the next line says how many blocks it left
//! out. With the detection off ([`set_threshold`]`(None)`), `lap` is one
//! thread-local read and a branch, and no clock is read.
//!
//! The clock is `CLOCK_MONOTONIC_COARSE`: a read from the vDSO's page with
//! no arithmetic on the time-stamp counter, a few nanoseconds where the
//! precise clock costs about 25 on this project's VM, and precise to a
//! scheduler tick (1 to 4 ms), which is plenty against a threshold of
//! 100 ms. Measured with the echo bench's `gyre-unwatched` server.
//!
//! The time is wall-clock time, on purpose: a callback that sleeps or
//! waits on a lock holds the loop as surely as one that computes. So a
//! reactor thread the OS did not run for longer than the threshold (an
//! overloaded machine, a stopped process) is reported as well, named by
//! the unit it was in.
//!
//! One reactor per thread, so the state is thread-local; the reactor sets
//! the threshold when its loop starts.

use std::cell::Cell;
use std::time::Duration;

use rustix::time::{ClockId, clock_gettime};

/// The threshold unless configured: 100 ms.
pub(crate) const DEFAULT_THRESHOLD: Duration = Duration::from_millis(100);

/// The token [`site`] is given for a spawned future (named by its type).
pub(crate) const FUTURE: usize = usize::MAX - 1;

/// The token [`site`] is given for the callbacks of a `defer_to_thread`
/// Deferred (named by the function that ran on the thread).
pub(crate) const THREAD_RESULT: usize = usize::MAX - 2;

/// At most one line per this long.
const RATE: u64 = 1_000_000_000;

/// The coarse monotonic clock, in nanoseconds (never 0 in practice: it
/// counts from boot).
#[inline]
fn now() -> u64 {
    let t = clock_gettime(ClockId::MonotonicCoarse);
    (t.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(t.tv_nsec as u64)
}

thread_local! {
    /// The threshold in nanoseconds; 0: off.
    static THRESHOLD: Cell<u64> = const { Cell::new(0) };
    /// When the current unit began (0 outside a loop).
    static MARK: Cell<u64> = const { Cell::new(0) };
    /// The callback running in the current unit, and the token of its
    /// source (`usize::MAX`: none).
    static SITE: Cell<(&'static str, usize)> = const { Cell::new(("", usize::MAX)) };
    static LAST_LOGGED: Cell<Option<u64>> = const { Cell::new(None) };
    static SUPPRESSED: Cell<u64> = const { Cell::new(0) };
}

/// Sets this thread's threshold (`None`: off) and starts a unit now.
pub(crate) fn set_threshold(threshold: Option<Duration>) {
    let nanos = threshold.map_or(0, |t| {
        u64::try_from(t.as_nanos()).unwrap_or(u64::MAX).max(1)
    });
    THRESHOLD.with(|t| t.set(nanos));
    MARK.with(|m| m.set(if nanos > 0 { now() } else { 0 }));
}

/// True when detection is on for this thread.
#[inline]
pub(crate) fn enabled() -> bool {
    THRESHOLD.with(|t| t.get() != 0)
}

/// Notes the protocol callback about to run, and its source's token.
#[inline]
pub(crate) fn site(name: &'static str, token: usize) {
    SITE.with(|s| s.set((name, token)));
}

/// Starts a unit now, without checking the previous one (the reactor
/// calls it when it wakes from waiting: the wait is no block).
#[inline]
pub(crate) fn restart() {
    if enabled() {
        MARK.with(|m| m.set(now()));
    }
}

/// Ends a unit: if it took longer than the threshold, logs a line naming
/// it (`name(site, token)` builds the name, only then). Starts the next.
#[inline]
pub(crate) fn lap(name: impl FnOnce(&'static str, usize) -> String) {
    let threshold = THRESHOLD.with(|t| t.get());
    if threshold == 0 {
        return;
    }
    let now = now();
    let start = MARK.with(|m| m.replace(now));
    let took = now.saturating_sub(start);
    if start != 0 && took > threshold {
        blocked(now, took, name);
    } else {
        SITE.with(|s| s.set(("", usize::MAX)));
    }
}

#[cold]
#[inline(never)]
fn blocked(now: u64, took: u64, name: impl FnOnce(&'static str, usize) -> String) {
    let (site, token) = SITE.with(|s| s.replace(("", usize::MAX)));
    let due = LAST_LOGGED.with(|l| l.get().is_none_or(|last| now.saturating_sub(last) >= RATE));
    if !due {
        SUPPRESSED.with(|s| s.set(s.get() + 1));
        return;
    }
    LAST_LOGGED.with(|l| l.set(Some(now)));
    let left_out = SUPPRESSED.with(|s| s.replace(0));
    let what = name(site, token);
    let more = if left_out > 0 {
        format!(" ({left_out} more blocks since the last report)")
    } else {
        String::new()
    };
    log::warn!(
        target: "gyre::reactor",
        "The reactor was blocked for {} ms by {what}{more}",
        took / 1_000_000
    );
    // Logging may itself take a while: not the next unit's time.
    MARK.with(|m| m.set(self::now()));
}

/// Ends the loop's detection on this thread.
pub(crate) fn stop() {
    THRESHOLD.with(|t| t.set(0));
    MARK.with(|m| m.set(0));
}
