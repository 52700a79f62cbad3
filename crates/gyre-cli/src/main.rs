//! The `gyre` command: classic network services on the gyre reactor.
//!
//! ```text
//! gyre [--log-level LEVEL] <echo|discard|chargen|daytime|qotd|time> [--listen ENDPOINT]...
//! ```
//!
//! The shape is arguments → resolved config → run → exit code:
//! [`flags`] parses and resolves the command line into a [`config::Config`],
//! [`run`] installs the logger, opens the ports and runs the reactor, and
//! [`exit`] lists the exit statuses. The services themselves are plain
//! protocols in [`services`], tested with `gyre::testing::StringTransport`;
//! [`endpoint`] is the (temporary) endpoint-string parser; [`logger`] writes
//! Twisted's legacy log format with timestamps from [`civil`].

mod civil;
mod config;
mod endpoint;
mod exit;
mod flags;
mod logger;
mod panics;
mod run;
mod services;

use std::process::ExitCode;

fn main() -> ExitCode {
    panics::install_quiet_hook();
    match flags::parse(std::env::args_os()) {
        Ok(config) => run::run(&config),
        Err(stop) => stop.report(),
    }
}
