//! [`Failure`]: the error half of a Deferred's result, and the errors the
//! Deferred machinery itself produces.

use std::error::Error;
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// An error travelling down a Deferred's chain (Twisted's `Failure`).
///
/// It wraps any `std::error::Error` and keeps its type, so an errback can
/// ask what went wrong with [`check`](Failure::check) (Twisted's `check` and
/// `trap`). Clones share the same error.
///
/// ```
/// use gyre::deferred::Failure;
/// use gyre::ConnectError;
///
/// let failure = Failure::new(ConnectError::Refused);
/// assert!(failure.is::<ConnectError>());
/// assert!(matches!(failure.check::<ConnectError>(), Some(ConnectError::Refused)));
/// assert!(failure.check::<std::fmt::Error>().is_none());
/// assert_eq!(failure.to_string(), "Connection was refused by other side: 111: Connection refused.");
/// ```
#[derive(Clone)]
pub struct Failure {
    error: Rc<dyn Error + 'static>,
    type_name: &'static str,
}

impl Failure {
    /// Wraps `error`.
    pub fn new<E: Error + 'static>(error: E) -> Failure {
        Failure {
            error: Rc::new(error),
            type_name: std::any::type_name::<E>(),
        }
    }

    /// A failure carrying only a message ([`Message`]).
    pub fn msg(text: impl Into<String>) -> Failure {
        Failure::new(Message(text.into()))
    }

    /// The error, if it is an `E` (Twisted's `check`, with the value).
    pub fn check<E: Error + 'static>(&self) -> Option<&E> {
        self.error.downcast_ref::<E>()
    }

    /// True if the error is an `E`.
    pub fn is<E: Error + 'static>(&self) -> bool {
        self.error.is::<E>()
    }

    /// The wrapped error.
    pub fn error(&self) -> &(dyn Error + 'static) {
        &*self.error
    }

    /// The error's type, as a path (`gyre::error::ConnectError`).
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// The error's message (Twisted's `getErrorMessage`); the same as `to_string`.
    pub fn error_message(&self) -> String {
        self.error.to_string()
    }

    /// The failure a caught panic becomes.
    pub(crate) fn from_panic(message: Arc<str>) -> Failure {
        Failure::new(PanicError { message })
    }
}

impl<E: Error + 'static> From<E> for Failure {
    fn from(error: E) -> Failure {
        Failure::new(error)
    }
}

/// A failure as a boxed error, so that `?` carries it out of a
/// `main() -> Result<(), Box<dyn Error>>` (a `Failure` is not itself an
/// `Error`: it wraps one). The box displays the wrapped error and has its
/// causes.
impl From<Failure> for Box<dyn Error> {
    fn from(failure: Failure) -> Box<dyn Error> {
        Box::new(Boxed(failure))
    }
}

/// A [`Failure`] in a `Box<dyn Error>`.
struct Boxed(Failure);

impl fmt::Display for Boxed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for Boxed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl Error for Boxed {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.error.source()
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

/// `<Failure path::Type: message>`, as Twisted's repr, followed by the
/// error's causes.
impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Failure {}: {}>", self.type_name, self.error)?;
        let mut cause = self.error.source();
        while let Some(c) = cause {
            write!(f, "\n  caused by: {c}")?;
            cause = c.source();
        }
        Ok(())
    }
}

/// A plain message as an error (what [`Failure::msg`] wraps).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Message(pub String);

/// The Deferred was cancelled (Twisted's `CancelledError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("The Deferred was cancelled.")]
pub struct CancelledError;

/// `callback` or `errback` was called on a Deferred that already has a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("The Deferred was already called.")]
pub struct AlreadyCalledError;

/// A Deferred given a timeout with [`add_timeout`](super::Deferred::add_timeout)
/// did not fire in time (Twisted's `defer.TimeoutError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Deferred timed out after {} seconds.", .timeout.as_secs_f64())]
pub struct TimeoutError {
    /// The timeout that ran out.
    pub timeout: Duration,
}

/// The first failure among Deferreds gathered with
/// [`gather_results`](super::gather_results), and its position.
#[derive(Debug, Clone, thiserror::Error)]
#[error("FirstError[#{index}, {failure}]")]
pub struct FirstError {
    /// The position of the failed Deferred in the input.
    pub index: usize,
    /// Its failure (Twisted's `subFailure`).
    pub failure: Failure,
}

/// Every Deferred passed to [`race`](super::race) failed; their failures in input order.
#[derive(Debug, Clone, thiserror::Error)]
#[error("all {} Deferreds in the race failed", .failures.len())]
pub struct FailureGroup {
    /// One failure per input, in input order.
    pub failures: Vec<Failure>,
}

/// A callback (or a spawned future) panicked; the panic became this failure.
#[derive(Debug, Clone, thiserror::Error)]
#[error("a callback panicked: {message}")]
pub struct PanicError {
    /// The panic's message.
    pub message: Arc<str>,
}

/// A callback met a result of a type it did not expect.
///
/// Each `add_callback` changes the type a Deferred's chain carries and hands
/// back the handle for the new type. This failure means an older handle (a
/// clone taken before the change) was used to add callbacks or to fire.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "a Deferred callback expected a result of type {expected}, but the chain carries another type"
)]
pub struct ResultTypeError {
    /// The type the callback expected.
    pub expected: &'static str,
}

/// A callback returned the very Deferred it was added to, which could never fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a callback returned the Deferred it belongs to")]
pub struct ReturnedSelfError;

/// A Deferred's result was already handed to an awaiting future or another
/// chain, so there is nothing left to give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the Deferred's result was already taken")]
pub struct ResultTakenError;

#[cfg(test)]
mod tests {
    use super::*;

    /// Failures keep the error's type, message and causes.
    #[test]
    fn failure_keeps_type_and_message() {
        let f = Failure::new(CancelledError);
        assert!(f.is::<CancelledError>());
        assert!(!f.is::<AlreadyCalledError>());
        assert_eq!(f.error_message(), "The Deferred was cancelled.");
        assert_eq!(
            format!("{f:?}"),
            "<Failure gyre::deferred::failure::CancelledError: The Deferred was cancelled.>"
        );
        let m = Failure::msg("boom");
        assert_eq!(m.check::<Message>(), Some(&Message("boom".into())));
        let first = FirstError {
            index: 1,
            failure: m,
        };
        assert_eq!(first.to_string(), "FirstError[#1, boom]");
        let t = TimeoutError {
            timeout: Duration::from_secs(5),
        };
        assert_eq!(t.to_string(), "Deferred timed out after 5 seconds.");
    }
}
