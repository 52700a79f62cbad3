//! SIGINT / SIGTERM delivery into the loop (signal-hook-mio).
//!
//! Owns the registered signal source. The reactor polls it like any socket
//! and turns each signal into `Received SIGINT, shutting down.` plus `stop`.
//! Like Twisted, the handlers stay process-wide once installed; uninstalling
//! only stops this reactor from hearing them.

use std::io;

use mio::Token;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals as Source;

pub(crate) struct Signals {
    source: Source,
}

impl Signals {
    pub(crate) fn install(registry: &mio::Registry, token: Token) -> io::Result<Signals> {
        let mut source = Source::new([SIGINT, SIGTERM])?;
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
