//! Panics: quiet while the library handles them, one line when it cannot.
//!
//! The library catches a panic in a protocol or factory callback, logs it as
//! `Unhandled Error` and closes that one connection. Rust's default hook
//! would print the panic a second time, with a backtrace hint, before the
//! library catches it; [`install_quiet_hook`] replaces that with a debug-level
//! log line (seen with `--log-level debug`). A panic that escapes to `main`
//! is turned by [`catching`] into the usual one-line failure, exit 70.
//! Tests are at the bottom of this file.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::exit::{Failure, SOFTWARE};

/// Replaces the default panic hook with a debug-level log line.
pub(crate) fn install_quiet_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map_or_else(String::new, |l| format!(" at {l}"));
        log::debug!("panic{location}: {}", payload_text(info.payload()));
    }));
}

/// Runs `f`; a panic becomes an internal-error [`Failure`].
pub(crate) fn catching<T>(f: impl FnOnce() -> T) -> Result<T, Failure> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        Failure::new(
            SOFTWARE,
            format!("internal error: {}", payload_text(&*payload)),
        )
    })
}

/// The message of a panic payload (`panic!("...")` gives `&str` or `String`).
fn payload_text(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panic's message, static or formatted, becomes a one-line internal error, exit 70.
    #[test]
    fn escaped_panic_is_an_internal_error() {
        let f = catching(|| panic!("boom")).unwrap_err();
        assert_eq!(f, Failure::new(70, "internal error: boom"));
        let f = catching(|| panic!("n={}", 3)).unwrap_err();
        assert_eq!(f.line(), "gyre: internal error: n=3\n");
        assert_eq!(catching(|| 5).unwrap(), 5);
    }

    /// A payload that is not a string still yields a message.
    #[test]
    fn odd_payload() {
        let f = catching(|| std::panic::panic_any(17u8)).unwrap_err();
        assert_eq!(f.message, "internal error: (no message)");
    }
}
