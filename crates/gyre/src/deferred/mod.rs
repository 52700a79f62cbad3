//! [`Deferred`]: a result that is not there yet, with Twisted's callback chain.
//!
//! A `Deferred<T>` will be fired once, with a `T` ([`callback`](Deferred::callback))
//! or a [`Failure`] ([`errback`](Deferred::errback)). Callbacks added to it
//! form a chain (reference §7.1): the result flows through the pairs in
//! order; a success goes to the callback half and a failure to the errback
//! half; what a callback returns is the next result, so a callback that
//! fails switches the chain to the error path and an errback that returns a
//! value recovers it. Callbacks added after the Deferred fired run at once.
//!
//! ```
//! use gyre::deferred::{Deferred, Failure};
//!
//! let d: Deferred<u32> = Deferred::new();
//! let fire = d.clone();
//! let seen = std::rc::Rc::new(std::cell::Cell::new(0));
//! let s = seen.clone();
//! d.add_callback(|n| n * 2)
//!     .and_then(|n| if n > 10 { Err(Failure::msg("too big")) } else { Ok(n) })
//!     .add_errback(|_failure| Ok(0))
//!     .add_callback(move |n| s.set(n));
//! fire.callback(21).unwrap();
//! assert_eq!(seen.get(), 0); // 42 was too big; the errback recovered with 0
//! ```
//!
//! In Rust each step may change the result's type, so the adding methods take
//! the handle by value and hand back a handle typed for the new result (the
//! chain is the same one, as in Twisted). Keep a clone from before the first
//! `add_*` call to fire it. A callback that returns another Deferred
//! ([`add_callback_deferred`](Deferred::add_callback_deferred)) pauses the chain
//! until that one fires.
//!
//! Firing twice is an [`AlreadyCalledError`]. [`cancel`](Deferred::cancel)
//! runs the canceller given at creation and, if that did not fire the
//! Deferred, fails it with [`CancelledError`]. A Deferred whose chain ends in a
//! failure that nobody handled logs `Unhandled error in Deferred:` when it is
//! dropped. A panic inside a callback becomes a [`PanicError`] failure.
//!
//! A Deferred is a [`Future`]: `deferred.await` gives `Result<T, Failure>`.
//! [`Reactor::spawn`](crate::Reactor::spawn) runs any future on the reactor
//! and returns a Deferred of its output.
//!
//! Helpers: [`succeed`], [`fail`], [`gather_results`] (all succeed, or the
//! first failure with its index), [`all_outcomes`] (every result in input
//! order, Twisted's `DeferredList`), [`race`], [`defer_later`] and [`sleep`]
//! on any [`Clock`](crate::Clock), and [`Deferred::add_timeout`].
//!
//! Tests: at the bottom of this file and of `helpers.rs`; futures on the
//! reactor in `tests/futures.rs`.

mod chain;
mod failure;
mod future;
mod helpers;

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::rc::{Rc, Weak};

use chain::{Chain, Next, Outcome, Pair};

pub use failure::{
    AlreadyCalledError, CancelledError, Failure, FailureGroup, FirstError, Message, PanicError,
    ResultTakenError, ResultTypeError, ReturnedSelfError, TimeoutError,
};
pub use helpers::{all_outcomes, defer_later, fail, gather_results, race, sleep, succeed};

use future::Waiter;

/// What a callback passed to [`Deferred::add_callbacks`] hands on.
#[derive(Debug)]
pub enum Step<U: 'static> {
    /// The next result is this value.
    Value(U),
    /// The chain switches to (or stays on) the error path.
    Fail(Failure),
    /// Pause until this Deferred fires; its result comes next.
    Wait(Deferred<U>),
}

impl<U: 'static> From<Result<U, Failure>> for Step<U> {
    fn from(r: Result<U, Failure>) -> Step<U> {
        match r {
            Ok(v) => Step::Value(v),
            Err(f) => Step::Fail(f),
        }
    }
}

impl<U: 'static> From<Deferred<U>> for Step<U> {
    fn from(d: Deferred<U>) -> Step<U> {
        Step::Wait(d)
    }
}

impl<U: 'static> Step<U> {
    fn into_next(self) -> Next {
        match self {
            Step::Value(v) => Next::Done(Ok(Box::new(v))),
            Step::Fail(f) => Next::Done(Err(f)),
            Step::Wait(d) => Next::Wait(d.chain.clone()),
        }
    }
}

/// A result that will arrive later, with a chain of callbacks (Twisted's `Deferred`).
///
/// Clones are handles to the same Deferred. See the [module docs](self).
///
/// Whoever makes the result keeps a handle to fire it; whoever wants it
/// adds callbacks. A failure skips the callbacks until an errback takes
/// it, and an errback that returns `Ok` puts the chain back on the
/// success path:
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
///
/// use gyre::deferred::{Deferred, Failure};
/// use gyre::testing::{failure_result_of, success_result_of};
///
/// fn parse_port(text: &str) -> Result<u16, Failure> {
///     text.trim().parse().map_err(|e| Failure::msg(format!("bad port {text:?}: {e}")))
/// }
///
/// // The producer of the result keeps `fire`; the consumer builds the chain.
/// let seen = Rc::new(RefCell::new(String::new()));
/// let why = seen.clone();
/// let fire: Deferred<String> = Deferred::new();
/// let port = fire
///     .clone()
///     .and_then(|text| parse_port(&text)) // may switch to the error path
///     .add_callback(|port| port + 1) // skipped on failure
///     .add_errback(move |failure| {
///         // Handled: note why, and recover with a default.
///         *why.borrow_mut() = failure.to_string();
///         Ok(8080)
///     });
/// fire.callback("80x".to_string())?;
/// assert_eq!(success_result_of(&port), 8080);
/// assert_eq!(*seen.borrow(), r#"bad port "80x": invalid digit found in string"#);
///
/// // Without the errback, the failure is the chain's result.
/// let fire: Deferred<String> = Deferred::new();
/// let port = fire.clone().and_then(|text| parse_port(&text));
/// fire.callback("x".to_string())?;
/// assert_eq!(failure_result_of(&port).to_string(), r#"bad port "x": invalid digit found in string"#);
/// assert!(fire.callback("81".to_string()).is_err(), "a Deferred fires once");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Cancelling asks whoever would fire it to give up: the canceller given
/// to [`with_canceller`](Self::with_canceller) runs, and a Deferred still
/// unfired after that fails with [`CancelledError`]:
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
///
/// use gyre::deferred::{CancelledError, Deferred};
/// use gyre::testing::failure_result_of_type;
///
/// let stopped = Rc::new(Cell::new(false));
/// let s = stopped.clone();
/// let download: Deferred<Vec<u8>> = Deferred::with_canceller(move |_| s.set(true));
/// let size = download.clone().add_callback(|bytes| bytes.len());
/// download.cancel();
/// assert!(stopped.get(), "the canceller stopped the work");
/// failure_result_of_type::<CancelledError>(&size);
/// ```
pub struct Deferred<T: 'static> {
    chain: Rc<Chain>,
    waiter: Option<Rc<Waiter>>,
    _type: PhantomData<fn(T) -> T>,
}

impl<T: 'static> Clone for Deferred<T> {
    fn clone(&self) -> Self {
        Deferred::from_chain(self.chain.clone())
    }
}

impl<T: 'static> Default for Deferred<T> {
    fn default() -> Self {
        Deferred::new()
    }
}

/// Takes `T` out of a boxed result, or explains why not.
pub(crate) fn unbox<T: 'static>(outcome: Outcome) -> Result<T, Failure> {
    match outcome {
        Ok(value) => value.downcast::<T>().map(|b| *b).map_err(|_| {
            Failure::new(ResultTypeError {
                expected: std::any::type_name::<T>(),
            })
        }),
        Err(f) => Err(f),
    }
}

impl<T: 'static> Deferred<T> {
    /// A Deferred that has not fired yet, with no canceller.
    pub fn new() -> Deferred<T> {
        Deferred::from_chain(Chain::new())
    }

    /// A Deferred whose [`cancel`](Self::cancel) first calls `canceller`
    /// (which may fire it, say with a more specific error). If the canceller
    /// leaves it unfired, it fails with [`CancelledError`].
    pub fn with_canceller(canceller: impl FnOnce(&Deferred<T>) + 'static) -> Deferred<T> {
        let d = Deferred::new();
        let weak = Rc::downgrade(&d.chain);
        d.chain.set_canceller(Box::new(move || {
            if let Some(chain) = weak.upgrade() {
                canceller(&Deferred::from_chain(chain));
            }
        }));
        d
    }

    fn from_chain(chain: Rc<Chain>) -> Deferred<T> {
        Deferred {
            chain,
            waiter: None,
            _type: PhantomData,
        }
    }

    fn retype<U: 'static>(self) -> Deferred<U> {
        Deferred::from_chain(self.chain.clone())
    }

    /// Fires with a success. [`AlreadyCalledError`] if it already fired
    /// (except once after a [`cancel`](Self::cancel) without canceller,
    /// which is silently ignored, as in Twisted).
    pub fn callback(&self, value: T) -> Result<(), AlreadyCalledError> {
        self.chain.fire(Ok(Box::new(value) as Box<dyn Any>))
    }

    /// Fires with a failure; see [`callback`](Self::callback).
    pub fn errback(&self, failure: impl Into<Failure>) -> Result<(), AlreadyCalledError> {
        self.chain.fire(Err(failure.into()))
    }

    /// Fires with `result`: `Ok` as [`callback`](Self::callback), `Err` as
    /// [`errback`](Self::errback).
    pub fn fire(&self, result: Result<T, Failure>) -> Result<(), AlreadyCalledError> {
        match result {
            Ok(v) => self.callback(v),
            Err(f) => self.errback(f),
        }
    }

    /// True once fired (Twisted's `called`).
    pub fn is_called(&self) -> bool {
        self.chain.is_called()
    }

    /// True while the chain waits for a Deferred a callback returned.
    pub fn is_paused(&self) -> bool {
        self.chain.is_paused()
    }

    /// `Some(true)` if the chain currently holds a success, `Some(false)`
    /// for a failure; `None` if it has not fired, is waiting, or its result
    /// was taken by an awaiting future or another chain.
    pub fn peek(&self) -> Option<bool> {
        self.chain.peek()
    }

    /// Adds a callback/errback pair; both hand on a [`Step`]. The general
    /// form of every other `add_*` method.
    pub fn add_callbacks<U: 'static>(
        self,
        callback: impl FnOnce(T) -> Step<U> + 'static,
        errback: impl FnOnce(Failure) -> Step<U> + 'static,
    ) -> Deferred<U> {
        let pair: Pair = Box::new(move |outcome: Outcome| match unbox::<T>(outcome) {
            Ok(v) => callback(v).into_next(),
            Err(f) => errback(f).into_next(),
        });
        self.chain.add(pair);
        self.retype()
    }

    /// Adds a callback whose return value is the next result; a failure
    /// passes it by.
    pub fn add_callback<U: 'static>(self, f: impl FnOnce(T) -> U + 'static) -> Deferred<U> {
        self.add_callbacks(move |v| Step::Value(f(v)), Step::Fail)
    }

    /// Adds a callback that may fail: `Err` switches the chain to the error path.
    pub fn and_then<U: 'static>(
        self,
        f: impl FnOnce(T) -> Result<U, Failure> + 'static,
    ) -> Deferred<U> {
        self.add_callbacks(move |v| f(v).into(), Step::Fail)
    }

    /// Adds a callback that returns another Deferred: the chain pauses
    /// until that one fires, and its result (success or failure) comes next.
    pub fn add_callback_deferred<U: 'static>(
        self,
        f: impl FnOnce(T) -> Deferred<U> + 'static,
    ) -> Deferred<U> {
        self.add_callbacks(move |v| Step::Wait(f(v)), Step::Fail)
    }

    /// Adds an errback: it sees a failure and returns `Ok` to recover or
    /// `Err` to pass a failure on. A success passes it by.
    pub fn add_errback(
        self,
        f: impl FnOnce(Failure) -> Result<T, Failure> + 'static,
    ) -> Deferred<T> {
        self.add_callbacks(Step::Value, move |e| f(e).into())
    }

    /// Adds one function for both outcomes (Twisted's `addBoth`).
    pub fn add_both<U: 'static>(
        self,
        f: impl FnOnce(Result<T, Failure>) -> Result<U, Failure> + 'static,
    ) -> Deferred<U> {
        let pair: Pair =
            Box::new(move |outcome: Outcome| Step::from(f(unbox::<T>(outcome))).into_next());
        self.chain.add(pair);
        self.retype()
    }

    /// Passes this chain's result to `other` (Twisted's `chainDeferred`).
    /// This chain is finished afterwards: its result now belongs to `other`.
    pub fn chain_deferred(self, other: &Deferred<T>) {
        let other = other.clone();
        self.chain.add(chain::taking(move |outcome| {
            let _ = other.fire(unbox::<T>(outcome));
        }));
    }

    /// Calls `f` with the result and finishes the chain (the result is
    /// moved into `f`, so nothing is left to report as unhandled).
    pub fn consume(self, f: impl FnOnce(Result<T, Failure>) + 'static) {
        self.chain
            .add(chain::taking(move |outcome| f(unbox::<T>(outcome))));
    }

    /// Cancels it (reference §7.3). Not fired yet: the canceller runs, and
    /// if the Deferred is still unfired it fails with [`CancelledError`].
    /// Fired but waiting on a Deferred a callback returned: that one is
    /// cancelled. Otherwise nothing happens.
    pub fn cancel(&self) {
        self.chain.cancel()
    }

    /// Takes the result out if the chain holds one at its end (fired, not
    /// waiting, not running, not taken); `None` otherwise. What
    /// [`testing::success_result_of`](crate::testing::success_result_of)
    /// and its siblings are built on.
    pub(crate) fn take_result(&self) -> Option<Result<T, Failure>> {
        self.chain.take_ready().map(unbox::<T>)
    }

    /// A handle that does not keep the Deferred alive.
    pub fn downgrade(&self) -> WeakDeferred<T> {
        WeakDeferred {
            chain: Rc::downgrade(&self.chain),
            _type: PhantomData,
        }
    }

    /// True if both handles refer to the same Deferred.
    pub fn same_as<U: 'static>(&self, other: &Deferred<U>) -> bool {
        Rc::ptr_eq(&self.chain, &other.chain)
    }
}

impl Deferred<()> {
    /// A Deferred that fires (with `()`) when `completion` does, or fails
    /// with a [`PanicError`] carrying its [`failure`](crate::Completion::failure)
    /// (as Twisted's `LoopingCall` Deferred errbacks when its function fails).
    pub fn from_completion(completion: &crate::Completion) -> Deferred<()> {
        let d = Deferred::new();
        let fire = d.clone();
        completion.on_outcome(move |failure| {
            let _ = match failure {
                None => fire.callback(()),
                Some(message) => fire.errback(Failure::from_panic(message)),
            };
        });
        d
    }
}

/// A Deferred that finishes with nothing but success or failure becomes the
/// [`Completion`](crate::Completion) that a shutdown trigger or a
/// [`Service`](crate::application::Service) returns: it fires when the
/// Deferred does, a failure becoming the completion's failure text. The
/// Deferred's result is taken, so its failure is not also reported as
/// unhandled; an unread failure of the completion is.
///
/// ```
/// use gyre::{Completion, Deferred};
///
/// let stopping: Deferred<()> = Deferred::new();
/// let done = Completion::from(stopping.clone());
/// assert!(!done.is_complete());
/// stopping.callback(()).unwrap();
/// assert!(done.is_complete() && done.failure().is_none());
///
/// // And back: `Deferred::from_completion`.
/// let again = Deferred::from_completion(&done);
/// assert_eq!(again.peek(), Some(true));
/// ```
impl From<Deferred<()>> for crate::Completion {
    fn from(deferred: Deferred<()>) -> crate::Completion {
        let completion = crate::Completion::new();
        let fire = completion.clone();
        deferred.consume(move |outcome| match outcome {
            Ok(()) => fire.complete(),
            Err(failure) => fire.fail(failure.to_string()),
        });
        completion
    }
}

impl<T: 'static> fmt::Debug for Deferred<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if !self.is_called() {
            "waiting"
        } else if self.is_paused() {
            "paused"
        } else {
            match self.peek() {
                Some(true) => "success",
                Some(false) => "failure",
                None => "taken",
            }
        };
        write!(f, "<Deferred<{}> {state}>", std::any::type_name::<T>())
    }
}

/// A [`Deferred`] handle that does not keep it alive.
pub struct WeakDeferred<T: 'static> {
    chain: Weak<Chain>,
    _type: PhantomData<fn(T) -> T>,
}

impl<T: 'static> WeakDeferred<T> {
    /// The Deferred, if some strong handle (or pending work) still holds it.
    pub fn upgrade(&self) -> Option<Deferred<T>> {
        self.chain.upgrade().map(Deferred::from_chain)
    }
}

impl<T: 'static> Clone for WeakDeferred<T> {
    fn clone(&self) -> Self {
        WeakDeferred {
            chain: self.chain.clone(),
            _type: PhantomData,
        }
    }
}

impl<T: 'static> fmt::Debug for WeakDeferred<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WeakDeferred<{}>", std::any::type_name::<T>())
    }
}

#[cfg(test)]
mod tests;
