//! Exit statuses and the one-line failure report.
//!
//! The codes follow BSD's `sysexits.h`, so scripts and service managers can
//! tell a usage mistake from an environment problem:
//!
//! | code | name | when |
//! |---|---|---|
//! | 0 | `EX_OK` | the reactor stopped cleanly (SIGINT/SIGTERM), a `connect` session ended, or `--help`/`--version` |
//! | 64 | `EX_USAGE` | bad arguments: unknown option or command, bad endpoint description, bad `--idle-timeout` or `--max-connections`, a `portforward --connect` that reaches its own `--listen` |
//! | 69 | `EX_UNAVAILABLE` | a port could not be opened (address in use, address not available), or `connect` could not connect (refused, unreachable, DNS, timeout) |
//! | 70 | `EX_SOFTWARE` | an internal error: the reactor failed while running, or a panic escaped |
//! | 71 | `EX_OSERR` | the operating system refused to set up the reactor (poller, signals) |
//! | 74 | `EX_IOERR` | during `connect`: reading standard input or writing standard output failed, or the connection was lost uncleanly |
//! | 77 | `EX_NOPERM` | a port could not be opened for lack of permission (ports below 1024) |
//!
//! Every failure prints exactly one line to standard error, `gyre: <message>`,
//! and a closed standard error is not a crash. Tests are at the bottom of
//! this file; `flags.rs` tests which arguments map to which code.

use std::io::{self, Write};
use std::process::ExitCode;

use gyre::deferred::PanicError;
use gyre::{ListenError, ReactorError};

/// Bad command-line usage.
pub(crate) const USAGE: u8 = 64;
/// A service (here: a port) is unavailable.
pub(crate) const UNAVAILABLE: u8 = 69;
/// An internal software error.
pub(crate) const SOFTWARE: u8 = 70;
/// An operating-system error.
pub(crate) const OSERR: u8 = 71;
/// An input or output error.
pub(crate) const IOERR: u8 = 74;
/// Permission denied.
pub(crate) const NOPERM: u8 = 77;

/// A failure that ends the program: an exit code and the line explaining it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// The exit status.
    pub(crate) code: u8,
    /// The explanation, without the `gyre: ` prefix or a newline.
    pub(crate) message: String,
}

impl Failure {
    /// A failure with `code` and `message`.
    pub(crate) fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// A port could not be opened: 77 for permission, 69 otherwise.
    pub(crate) fn listen(err: &ListenError) -> Failure {
        let code = match err.source.kind() {
            io::ErrorKind::PermissionDenied => NOPERM,
            _ => UNAVAILABLE,
        };
        Failure::new(code, err.to_string())
    }

    /// An endpoint's `listen` failed: a [`ListenError`] as [`Failure::listen`],
    /// a panic as an internal error, anything else as unavailable.
    pub(crate) fn listen_failed(failure: &gyre::Failure) -> Failure {
        if let Some(err) = failure.check::<ListenError>() {
            Failure::listen(err)
        } else if failure.is::<PanicError>() {
            Failure::new(SOFTWARE, format!("internal error: {failure}"))
        } else {
            Failure::new(UNAVAILABLE, failure.to_string())
        }
    }

    /// The reactor could not be created: an OS error.
    pub(crate) fn reactor_setup(err: &ReactorError) -> Failure {
        Failure::new(OSERR, format!("cannot start the reactor: {err}"))
    }

    /// The reactor failed while running: an internal error.
    pub(crate) fn reactor_run(err: &ReactorError) -> Failure {
        Failure::new(SOFTWARE, format!("reactor failed: {err}"))
    }

    /// The line printed for this failure.
    pub(crate) fn line(&self) -> String {
        format!("gyre: {}\n", self.message)
    }

    /// Prints the line to standard error (ignoring a closed stream) and
    /// returns the exit status.
    pub(crate) fn report(&self) -> ExitCode {
        let _ = io::stderr().lock().write_all(self.line().as_bytes());
        ExitCode::from(self.code)
    }
}

/// The text of an I/O error without Rust's ` (os error N)` suffix
/// (`Broken pipe`), as the library prints OS errors.
pub(crate) fn io_text(err: &io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A port in use is EX_UNAVAILABLE with the library's one-line text.
    #[test]
    fn address_in_use_is_unavailable() {
        let err = ListenError {
            address: "any:8000".into(),
            source: io::Error::from(io::ErrorKind::AddrInUse),
        };
        let f = Failure::listen(&err);
        assert_eq!(f.code, 69);
        assert!(
            f.line().starts_with("gyre: Couldn't listen on any:8000: "),
            "{}",
            f.line()
        );
        assert!(f.line().ends_with(".\n"));
        assert_eq!(f.line().lines().count(), 1);
    }

    /// A privileged port is EX_NOPERM.
    #[test]
    fn permission_denied_is_noperm() {
        let err = ListenError {
            address: "any:80".into(),
            source: io::Error::from_raw_os_error(13),
        };
        let f = Failure::listen(&err);
        assert_eq!(f.code, 77);
        assert_eq!(f.message, "Couldn't listen on any:80: Permission denied.");
    }

    /// A failed `listen` Deferred maps by the error inside: a ListenError as
    /// above, a panic as internal, anything else as unavailable.
    #[test]
    fn listen_failures_by_type() {
        let in_use = gyre::Failure::new(ListenError {
            address: "127.0.0.1:7".into(),
            source: io::Error::from_raw_os_error(98),
        });
        assert_eq!(
            Failure::listen_failed(&in_use),
            Failure::new(
                69,
                "Couldn't listen on 127.0.0.1:7: Address already in use."
            )
        );
        let denied = gyre::Failure::new(ListenError {
            address: "any:80".into(),
            source: io::Error::from_raw_os_error(13),
        });
        assert_eq!(Failure::listen_failed(&denied).code, 77);
        let panicked = gyre::Failure::new(PanicError {
            message: "boom".into(),
        });
        let f = Failure::listen_failed(&panicked);
        assert_eq!(f.code, 70);
        assert!(f.message.starts_with("internal error: "), "{f:?}");
        let other = Failure::listen_failed(&gyre::Failure::msg("no such socket file"));
        assert_eq!(other, Failure::new(69, "no such socket file"));
    }

    /// OS error texts lose Rust's `(os error N)` suffix; others are kept.
    #[test]
    fn io_error_text() {
        assert_eq!(io_text(&io::Error::from_raw_os_error(32)), "Broken pipe");
        assert_eq!(io_text(&io::Error::other("odd")), "odd");
    }

    /// Reactor errors map to EX_OSERR at setup and EX_SOFTWARE while running.
    #[test]
    fn reactor_errors() {
        let setup = Failure::reactor_setup(&ReactorError::Io(io::Error::from_raw_os_error(24)));
        assert_eq!(setup.code, 71);
        assert_eq!(
            setup.line(),
            "gyre: cannot start the reactor: reactor I/O setup failed: Too many open files (os error 24)\n"
        );
        assert_eq!(Failure::reactor_run(&ReactorError::AlreadyRunning).code, 70);
    }
}
