//! The `gyre` command: classic network services on the gyre reactor, a chat
//! room, a port forwarder, and a netcat.
//!
//! ```text
//! gyre [--log-level LEVEL] <echo|discard|chargen|daytime|qotd|time|chat> [--listen ENDPOINT]...
//!      [--idle-timeout SECONDS] [--max-connections N] [--threads N] [--keepalive SECONDS]
//! gyre [--log-level LEVEL] portforward [--listen ENDPOINT]... --connect ENDPOINT
//!      [--idle-timeout SECONDS] [--max-connections N] [--threads N] [--keepalive SECONDS]
//! gyre [--log-level LEVEL] connect [--reconnect] ENDPOINT
//! gyre [--log-level LEVEL] exec [--listen ENDPOINT]... [--grace SECONDS]
//!      [--idle-timeout SECONDS] [--max-connections N] -- PROGRAM [ARGS]...
//! gyre [--log-level LEVEL] logbot --server ENDPOINT --channel NAME --file PATH [--nick NICK]
//! ```
//!
//! Every command takes `--blocked-threshold MS`: log any callback that
//! holds the reactor longer (default 100; 0 turns the check off).
//!
//! The shape is arguments → resolved config → run → exit code:
//! [`flags`] parses and resolves the command line into a [`config::Config`]
//! (endpoint descriptions go through the library's grammar there), [`run`]
//! installs the logger, opens the ports or connects, and runs the reactor,
//! and [`exit`] lists the exit statuses. The services themselves are plain
//! protocols in [`services`], tested with `gyre::testing::StringTransport`;
//! [`forward`] has `portforward`'s start-up rules (its default connection
//! cap, refusing to forward to its own ports);
//! [`connect`] is the netcat, with its helper threads for standard input and
//! output; [`logger`] writes Twisted's legacy log format with timestamps
//! from [`civil`].

mod config;
mod connect;
mod exit;
mod flags;
mod forward;
mod keepalive;
mod panics;
mod run;
mod services;

use std::process::ExitCode;

fn main() -> ExitCode {
    panics::install_quiet_hook();
    match flags::parse(std::env::args_os()) {
        Ok(config) => run::run(config),
        Err(stop) => stop.report(),
    }
}
