//! Exit statuses and the one-line failure report.
//!
//! The codes follow BSD's `sysexits.h`, so scripts and service managers can
//! tell a usage mistake from an environment problem:
//!
//! | code | name | when |
//! |---|---|---|
//! | 0 | `EX_OK` | the reactor stopped cleanly (SIGINT/SIGTERM), or `--help`/`--version` |
//! | 64 | `EX_USAGE` | bad arguments: unknown option or service, bad `--listen` endpoint |
//! | 69 | `EX_UNAVAILABLE` | a port could not be opened (address in use, address not available) |
//! | 70 | `EX_SOFTWARE` | an internal error: the reactor failed while running, or a panic escaped |
//! | 71 | `EX_OSERR` | the operating system refused to set up the reactor (poller, signals) |
//! | 77 | `EX_NOPERM` | a port could not be opened for lack of permission (ports below 1024) |
//!
//! Every failure prints exactly one line to standard error, `gyre: <message>`,
//! and a closed standard error is not a crash. Tests are at the bottom of
//! this file; `flags.rs` tests which arguments map to which code.

use std::io::{self, Write};
use std::process::ExitCode;

use gyre::{ListenError, ReactorError};

/// Bad command-line usage.
pub(crate) const USAGE: u8 = 64;
/// A service (here: a port) is unavailable.
pub(crate) const UNAVAILABLE: u8 = 69;
/// An internal software error.
pub(crate) const SOFTWARE: u8 = 70;
/// An operating-system error.
pub(crate) const OSERR: u8 = 71;
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
