//! Taking a [`Deferred`]'s result in a test, failing loudly when there is
//! none (Twisted's `successResultOf`, `failureResultOf` and
//! `assertNoResult`, from `twisted.trial._synctest`).
//!
//! A test that asserts inside a callback added to a Deferred asserts
//! nothing when the Deferred never fires: the callback never runs, and the
//! test passes.
//!
//! Take the result out instead, then assert on it. Each function here panics
//! (with the caller's location) unless the Deferred holds the kind of result
//! asked for:
//!
//! ```
//! use gyre::deferred::{Deferred, Failure};
//! use gyre::testing::{assert_no_result, failure_result_of, success_result_of};
//!
//! let d: Deferred<u32> = Deferred::new();
//! assert_no_result(&d);
//! d.callback(42).unwrap();
//! assert_eq!(success_result_of(&d), 42);
//!
//! let e: Deferred<u32> = Deferred::new();
//! e.errback(Failure::msg("no")).unwrap();
//! assert_eq!(failure_result_of(&e).to_string(), "no");
//! ```
//!
//! A Deferred *has a result* when it fired, its chain ran to the end, and it
//! is not waiting on a Deferred one of its callbacks returned. Taking it
//! moves it out, as Twisted's helpers leave `None` behind: a second take, an
//! `await` or a later callback finds nothing. A failure taken this way is
//! handled, so it is not logged as unhandled when the Deferred is dropped.
//!
//! Tests: at the bottom of this file.

use std::error::Error;

use crate::deferred::{Deferred, Failure};

/// What a Deferred holds, for the messages below (its `Debug` form,
/// `<Deferred<u8> waiting>`, is computed before anything is taken).
enum Found<T> {
    Nothing,
    Taken,
    Success(T),
    Failure(Failure),
}

fn take<T: 'static>(d: &Deferred<T>) -> Found<T> {
    match d.take_result() {
        Some(Ok(v)) => Found::Success(v),
        Some(Err(f)) => Found::Failure(f),
        None if d.is_called() && !d.is_paused() && d.peek().is_none() => Found::Taken,
        None => Found::Nothing,
    }
}

const TAKEN: &str = "its result already taken (by an await, another chain, or an earlier \
                     success_result_of / failure_result_of)";

/// The success result of `d`, taken out of it (Twisted's `successResultOf`).
///
/// Panics if `d` has no result yet (not fired, or waiting on another
/// Deferred), if its result was already taken, or if it holds a failure;
/// the message shows that failure.
///
/// ```
/// use gyre::deferred::Deferred;
/// use gyre::testing::{assert_no_result, success_result_of};
///
/// let inner: Deferred<u32> = Deferred::new();
/// let outer: Deferred<u32> = Deferred::new();
/// let waiting = inner.clone();
/// let chained = outer.clone().add_callback_deferred(move |_| waiting).add_callback(|n| n + 1);
/// outer.callback(0).unwrap(); // fired, but now waits for `inner`
/// assert_no_result(&chained); // success_result_of would panic here
/// inner.callback(41).unwrap();
/// assert_eq!(success_result_of(&chained), 42);
/// ```
///
/// A Deferred that never fired makes the test fail, where an assertion
/// inside a callback would have passed:
///
/// ```should_panic
/// use gyre::deferred::Deferred;
/// use gyre::testing::success_result_of;
///
/// let never: Deferred<u32> = Deferred::new();
/// let doubled = never.add_callback(|n| n * 2);
/// let _ = success_result_of(&doubled); // panics: "found no result instead"
/// ```
#[track_caller]
pub fn success_result_of<T: 'static>(d: &Deferred<T>) -> T {
    let shown = format!("{d:?}");
    match take(d) {
        Found::Success(v) => v,
        Found::Nothing => panic!("Success result expected on {shown}, found no result instead"),
        Found::Taken => panic!("Success result expected on {shown}, found {TAKEN}"),
        Found::Failure(f) => {
            panic!("Success result expected on {shown}, found failure result instead:\n{f:?}")
        }
    }
}

/// The failure result of `d`, taken out of it (Twisted's `failureResultOf`).
///
/// Panics if `d` has no result yet, if its result was already taken, or if
/// it holds a success.
///
/// The failure taken counts as handled: dropping the Deferred afterwards
/// logs no `Unhandled error in Deferred`.
///
/// ```
/// use gyre::deferred::{Deferred, Failure, TimeoutError};
/// use gyre::testing::failure_result_of;
///
/// let d: Deferred<u32> = Deferred::new();
/// let checked = d.clone().and_then(|n| if n > 100 { Err(Failure::msg("too big")) } else { Ok(n) });
/// d.callback(500).unwrap();
/// let failure = failure_result_of(&checked);
/// assert_eq!(failure.to_string(), "too big");
/// assert!(!failure.is::<TimeoutError>());
/// ```
#[track_caller]
pub fn failure_result_of<T: 'static>(d: &Deferred<T>) -> Failure {
    let shown = format!("{d:?}");
    match take(d) {
        Found::Failure(f) => f,
        Found::Nothing => panic!("Failure result expected on {shown}, found no result instead"),
        Found::Taken => panic!("Failure result expected on {shown}, found {TAKEN}"),
        Found::Success(_) => panic!(
            "Failure result expected on {shown}, found success result (a {}) instead",
            std::any::type_name::<T>()
        ),
    }
}

/// [`failure_result_of`], and the failure must wrap an `E` (Twisted's
/// `failureResultOf(d, E)`); panics showing the failure otherwise.
///
/// ```
/// use gyre::deferred::{CancelledError, Deferred};
/// use gyre::testing::failure_result_of_type;
///
/// let d: Deferred<u8> = Deferred::new();
/// d.cancel();
/// let failure = failure_result_of_type::<CancelledError>(&d);
/// assert_eq!(failure.to_string(), "The Deferred was cancelled.");
/// ```
#[track_caller]
pub fn failure_result_of_type<E: Error + 'static>(d: &Deferred<impl Sized + 'static>) -> Failure {
    let shown = format!("{d:?}");
    let failure = failure_result_of(d);
    if !failure.is::<E>() {
        panic!(
            "Failure of type ({}) expected on {shown}, found type {} instead: {failure:?}",
            std::any::type_name::<E>(),
            failure.type_name()
        );
    }
    failure
}

/// Asserts that `d` has no result yet: not fired, or waiting on a Deferred
/// one of its callbacks returned (Twisted's `assertNoResult`). `d` is left
/// as it was.
///
/// Panics if it has a result, showing it (a failure found this way is
/// taken, so it is reported once, here, and not again as unhandled), or if
/// its result was already taken.
#[track_caller]
pub fn assert_no_result<T: 'static>(d: &Deferred<T>) {
    if !d.is_called() || d.is_paused() {
        return;
    }
    let shown = format!("{d:?}");
    match take(d) {
        Found::Nothing => {}
        Found::Taken => panic!("No result expected on {shown}, found {TAKEN}"),
        Found::Success(_) => panic!(
            "No result expected on {shown}, found a success result (a {}) instead",
            std::any::type_name::<T>()
        ),
        Found::Failure(f) => panic!("No result expected on {shown}, found {f:?} instead"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deferred::{CancelledError, Message, fail, succeed};

    /// The panic message of `f`, which must panic.
    fn panic_of(f: impl FnOnce()) -> String {
        let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
            .expect_err("expected a panic");
        match payload.downcast::<String>() {
            Ok(s) => *s,
            Err(p) => p.downcast_ref::<&str>().unwrap().to_string(),
        }
    }

    /// success_result_of takes a success out; the Deferred has none left.
    #[test]
    fn success_is_taken() {
        let d = succeed(7u8);
        assert_eq!(success_result_of(&d), 7);
        assert_eq!(d.peek(), None);
        assert_eq!(
            panic_of(|| {
                success_result_of(&d);
            }),
            "Success result expected on <Deferred<u8> taken>, found its result already taken \
             (by an await, another chain, or an earlier success_result_of / failure_result_of)"
        );
    }

    /// success_result_of fails on an unfired Deferred, and on one paused on another.
    #[test]
    fn success_of_nothing_fails() {
        let d: Deferred<u8> = Deferred::new();
        assert_eq!(
            panic_of(|| {
                success_result_of(&d);
            }),
            "Success result expected on <Deferred<u8> waiting>, found no result instead"
        );
        let inner: Deferred<u8> = Deferred::new();
        let i = inner.clone();
        let outer = succeed(1u8).add_callback_deferred(move |_| i);
        assert_eq!(
            panic_of(|| {
                success_result_of(&outer);
            }),
            "Success result expected on <Deferred<u8> paused>, found no result instead"
        );
        inner.callback(3).unwrap();
        assert_eq!(success_result_of(&outer), 3);
    }

    /// success_result_of on a failure fails and shows the failure.
    #[test]
    fn success_of_failure_shows_it() {
        let d: Deferred<u8> = fail(Failure::msg("it broke"));
        assert_eq!(
            panic_of(|| {
                success_result_of(&d);
            }),
            "Success result expected on <Deferred<u8> failure>, found failure result instead:\n\
             <Failure gyre::deferred::failure::Message: it broke>"
        );
    }

    /// failure_result_of takes a failure; it fails on a success or on nothing.
    #[test]
    fn failure_is_taken() {
        let d: Deferred<u8> = fail(Failure::msg("no"));
        assert_eq!(failure_result_of(&d).check::<Message>().unwrap().0, "no");
        let ok = succeed(1u8);
        assert_eq!(
            panic_of(|| drop(failure_result_of(&ok))),
            "Failure result expected on <Deferred<u8> success>, found success result (a u8) instead"
        );
        let none: Deferred<u8> = Deferred::new();
        assert_eq!(
            panic_of(|| drop(failure_result_of(&none))),
            "Failure result expected on <Deferred<u8> waiting>, found no result instead"
        );
    }

    /// failure_result_of_type checks the error's type and shows the wrong one.
    #[test]
    fn failure_of_type() {
        let d: Deferred<u8> = Deferred::new();
        d.cancel();
        assert!(failure_result_of_type::<CancelledError>(&d).is::<CancelledError>());
        let d: Deferred<u8> = fail(Failure::msg("other"));
        assert_eq!(
            panic_of(|| drop(failure_result_of_type::<CancelledError>(&d))),
            "Failure of type (gyre::deferred::failure::CancelledError) expected on \
             <Deferred<u8> failure>, found type gyre::deferred::failure::Message instead: \
             <Failure gyre::deferred::failure::Message: other>"
        );
    }

    /// assert_no_result passes on unfired and paused Deferreds and leaves them
    /// alone; it fails on a success, a failure (taking it) or a taken result.
    #[test]
    fn no_result() {
        let d: Deferred<u8> = Deferred::new();
        assert_no_result(&d);
        d.callback(1).unwrap();
        assert_eq!(
            panic_of(|| assert_no_result(&d)),
            "No result expected on <Deferred<u8> success>, found a success result (a u8) instead"
        );
        let inner: Deferred<u8> = Deferred::new();
        let i = inner.clone();
        let outer = succeed(1u8).add_callback_deferred(move |_| i);
        assert_no_result(&outer);
        inner.callback(2).unwrap();
        assert_eq!(success_result_of(&outer), 2);
        assert!(panic_of(|| assert_no_result(&outer)).contains("already taken"));

        let failed: Deferred<u8> = fail(Failure::msg("gone"));
        assert_eq!(
            panic_of(|| assert_no_result(&failed)),
            "No result expected on <Deferred<u8> failure>, found \
             <Failure gyre::deferred::failure::Message: gone> instead"
        );
        assert_eq!(
            failed.peek(),
            None,
            "the failure was taken, not left to be logged"
        );
    }
}
