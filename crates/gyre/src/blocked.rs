//! Blocked-reactor detection: one callback holding the loop too long is
//! logged, with what it was and for how long.
//!
//! The loop is cut into units: one readiness dispatch, one call from a
//! thread, one queued call, one timed call, one pass of woken futures,
//! one flush of queued output. After each unit the reactor calls [`lap`],
//! which reads the clock once (the end of one unit is the start of the
//! next, so a batch of `N` events costs `N + 1` clock reads, about 20 ns
//! each) and, if the unit took longer than the threshold, logs
//!
//! ```text
//! The reactor was blocked for 503 ms by data_received of Echo,0,127.0.0.1
//! ```
//!
//! naming what ran: the protocol callback and its connection's log system
//! (the stream connection notes which callback it is in with [`site`], a
//! store of two words), or the timed call's function (its closure's type
//! name, kept by `Reactor::call_later`), or the kind of unit. At most one
//! line a second is logged; the next line says how many blocks it left
//! out. With the detection off ([`set_threshold`]`(None)`), `lap` is one
//! thread-local read and a branch, and no clock is read.
//!
//! One reactor per thread, so the state is thread-local; the reactor sets
//! the threshold when its loop starts.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// The threshold unless configured: 100 ms.
pub(crate) const DEFAULT_THRESHOLD: Duration = Duration::from_millis(100);

/// At most one line per this long.
const RATE: Duration = Duration::from_secs(1);

thread_local! {
    static THRESHOLD: Cell<Option<Duration>> = const { Cell::new(None) };
    /// When the current unit began (`None` outside a loop).
    static MARK: Cell<Option<Instant>> = const { Cell::new(None) };
    /// The callback running in the current unit, and the token of its
    /// source (`usize::MAX`: none).
    static SITE: Cell<(&'static str, usize)> = const { Cell::new(("", usize::MAX)) };
    static LAST_LOGGED: Cell<Option<Instant>> = const { Cell::new(None) };
    static SUPPRESSED: Cell<u64> = const { Cell::new(0) };
}

/// Sets this thread's threshold (`None`: off) and starts a unit now.
pub(crate) fn set_threshold(threshold: Option<Duration>) {
    THRESHOLD.with(|t| t.set(threshold));
    MARK.with(|m| m.set(threshold.map(|_| Instant::now())));
}

/// True when detection is on for this thread.
#[inline]
pub(crate) fn enabled() -> bool {
    THRESHOLD.with(|t| t.get().is_some())
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
        MARK.with(|m| m.set(Some(Instant::now())));
    }
}

/// Ends a unit: if it took longer than the threshold, logs a line naming
/// it (`name(site, token)` builds the name, only then). Starts the next.
#[inline]
pub(crate) fn lap(name: impl FnOnce(&'static str, usize) -> String) {
    let Some(threshold) = THRESHOLD.with(|t| t.get()) else {
        return;
    };
    let now = Instant::now();
    let Some(start) = MARK.with(|m| m.replace(Some(now))) else {
        return;
    };
    let took = now.saturating_duration_since(start);
    if took > threshold {
        blocked(now, took, name);
    } else {
        SITE.with(|s| s.set(("", usize::MAX)));
    }
}

#[cold]
#[inline(never)]
fn blocked(now: Instant, took: Duration, name: impl FnOnce(&'static str, usize) -> String) {
    let (site, token) = SITE.with(|s| s.replace(("", usize::MAX)));
    let due = LAST_LOGGED.with(|l| l.get().is_none_or(|last| now.duration_since(last) >= RATE));
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
        took.as_millis()
    );
    // Logging may itself take a while: not the next unit's time.
    MARK.with(|m| m.set(Some(Instant::now())));
}

/// Ends the loop's detection on this thread.
pub(crate) fn stop() {
    THRESHOLD.with(|t| t.set(None));
    MARK.with(|m| m.set(None));
}
