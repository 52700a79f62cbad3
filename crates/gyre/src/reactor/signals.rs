//! SIGINT / SIGTERM delivery into the loop (signal-hook-mio).
//!
//! Owns the registered signal source. The reactor polls it like any socket
//! and turns each signal into `Received SIGINT, shutting down.` plus `stop`.
//! Like Twisted, the handlers stay process-wide once installed; uninstalling
//! only stops this reactor from hearing them.
//!
//! Which signals: SIGTERM always; SIGINT only while its disposition is the
//! default one, as Twisted installs its SIGINT handler only over Python's
//! default handler (reference §1.6). A process started with SIGINT ignored
//! (`nohup`-style supervisors, a background job of a non-interactive shell)
//! or with a SIGINT handler of its own keeps it: Ctrl-C then does not stop
//! the reactor, SIGTERM still does. The disposition is read from
//! `/proc/self/status` (`SigIgn`, `SigCgt`: no `unsafe` needed); where that
//! file cannot be read, SIGINT counts as default. gyre's own handler, left
//! installed by an earlier reactor, counts as default too. [`to_handle`]
//! decides; `pool.rs` asks it too. Tests: at the bottom of this file (the
//! status parsing) and `tests/signals.rs` (child processes).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

use mio::Token;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals as Source;

pub(crate) struct Signals {
    source: Source,
}

impl Signals {
    pub(crate) fn install(registry: &mio::Registry, token: Token) -> io::Result<Signals> {
        let mut source = Source::new(to_handle())?;
        registry.register(&mut source, token, mio::Interest::READABLE)?;
        Ok(Signals { source })
    }

    /// The names of the signals received since the last call.
    pub(crate) fn pending(&mut self) -> Vec<&'static str> {
        self.source
            .pending()
            .map(|sig| match sig {
                SIGINT => "SIGINT",
                SIGTERM => "SIGTERM",
                _ => "signal",
            })
            .collect()
    }

    pub(crate) fn uninstall(mut self, registry: &mio::Registry) {
        let _ = registry.deregister(&mut self.source);
        drop(self.source);
    }
}

/// Set once gyre has asked for SIGINT: from then on the process's SIGINT
/// handler is gyre's (signal-hook's), which stays installed.
static SIGINT_OURS: AtomicBool = AtomicBool::new(false);

/// The signals a reactor (or a pool) should handle to stop: SIGTERM, and
/// SIGINT unless it is ignored or has someone else's handler.
pub(crate) fn to_handle() -> Vec<i32> {
    let ours = SIGINT_OURS.load(Ordering::SeqCst);
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if ours || sigint_is_default(&status) {
        SIGINT_OURS.store(true, Ordering::SeqCst);
        vec![SIGINT, SIGTERM]
    } else {
        vec![SIGTERM]
    }
}

/// Whether `/proc/self/status` text shows SIGINT neither ignored
/// (`SigIgn`) nor caught (`SigCgt`); true when the fields are missing.
fn sigint_is_default(status: &str) -> bool {
    !in_mask(status, "SigIgn:", SIGINT) && !in_mask(status, "SigCgt:", SIGINT)
}

/// Whether signal `sig` is set in the hexadecimal mask of the status line
/// starting with `field`.
fn in_mask(status: &str, field: &str, sig: i32) -> bool {
    let Some(mask) = status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|hex| u128::from_str_radix(hex.trim(), 16).ok())
    else {
        return false;
    };
    u32::try_from(sig - 1)
        .ok()
        .and_then(|bit| mask.checked_shr(bit))
        .is_some_and(|m| m & 1 == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(ign: &str, cgt: &str) -> String {
        format!(
            "Name:\tgyre\nSigQ:\t0/62762\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000000000\n\
             SigBlk:\t0000000000000000\nSigIgn:\t{ign}\nSigCgt:\t{cgt}\nCapInh:\t0000000000000000\n"
        )
    }

    /// SIGINT (bit 1 of the masks) counts as default only when it is
    /// neither ignored nor caught; other signals in the masks do not matter.
    #[test]
    fn sigint_disposition_from_status() {
        // A fresh Rust process: SIGPIPE (13) ignored, nothing caught.
        assert!(sigint_is_default(&status(
            "0000000000001000",
            "0000000000000000"
        )));
        // `trap '' INT` (nohup-style): ignored.
        assert!(!sigint_is_default(&status(
            "0000000000001002",
            "0000000000000000"
        )));
        // A handler of someone else's.
        assert!(!sigint_is_default(&status(
            "0000000000001000",
            "0000000000000002"
        )));
        // SIGTERM (15) caught does not change SIGINT.
        assert!(sigint_is_default(&status(
            "0000000000000000",
            "0000000000004000"
        )));
        // No such fields (not Linux): default.
        assert!(sigint_is_default("Name:\tgyre\n"));
        assert!(!in_mask("SigIgn:\tzz\n", "SigIgn:", SIGINT));
    }

    /// This test process's own status file parses, and shows SIGPIPE
    /// ignored (the Rust runtime ignores it at startup).
    #[test]
    fn reads_this_process_status() {
        let text = std::fs::read_to_string("/proc/self/status").unwrap();
        assert!(in_mask(&text, "SigIgn:", signal_hook::consts::SIGPIPE));
    }
}
