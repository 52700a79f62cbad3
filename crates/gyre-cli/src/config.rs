//! [`Config`]: everything a run needs, resolved from the arguments.
//!
//! `flags.rs` builds it (and is where its tests live); `run.rs` consumes it.
//! Endpoint descriptions have been turned into endpoints by the library's
//! parser (which is why a config carries the [`Reactor`] they belong to),
//! and the log level is a filter. The descriptions are kept as well: with
//! `--threads N` each of the `N` reactors builds its own endpoints from them.

use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use gyre::Reactor;
use gyre::endpoint::{ClientEndpoint, ServerEndpoint};
use gyre::haproxy::Version;
use log::LevelFilter;

use crate::services::Service;

/// A fully resolved command line.
pub(crate) struct Config {
    /// The reactor the endpoints were built for; `run` runs it.
    pub(crate) reactor: Reactor,
    /// What to do.
    pub(crate) command: Command,
    /// The most verbose level logged.
    pub(crate) log_level: LevelFilter,
}

/// The subcommand, resolved.
pub(crate) enum Command {
    /// Run a service on one or more ports.
    Serve {
        /// The service to run.
        service: Service,
        /// Where and how to listen.
        listen: Listen,
    },
    /// Forward every connection to `upstream` (`gyre portforward`).
    Forward {
        /// Where each accepted connection is forwarded to.
        upstream: Rc<dyn ClientEndpoint>,
        /// `upstream` as given, to build it again for each reactor of a
        /// `--threads` run.
        upstream_description: String,
        /// `--send-proxy`: start each forwarded connection with a PROXY
        /// header of this version.
        send_proxy: Option<Version>,
        /// Where and how to listen.
        listen: Listen,
    },
    /// Run a program per connection (`gyre exec`).
    Exec {
        /// The program, its arguments, the grace period.
        spec: crate::services::exec::ExecSpec,
        /// Where and how to listen.
        listen: Listen,
    },
    /// The IRC log bot (`gyre logbot`).
    Logbot {
        /// The IRC server.
        endpoint: Rc<dyn ClientEndpoint>,
        /// Nick, channel and log file.
        options: gyre_irc::logbot::LogBotOptions,
    },
    /// Connect standard input and output to a remote endpoint.
    Connect {
        /// Where to connect.
        endpoint: Rc<dyn ClientEndpoint>,
        /// Keep reconnecting when the connection fails or ends.
        reconnect: bool,
    },
}

/// The listening side of a service run.
pub(crate) struct Listen {
    /// Where to listen for connections; all share one factory.
    pub(crate) endpoints: Vec<Box<dyn ServerEndpoint>>,
    /// UDP ports (`udp:7`) of a service that has a datagram form; all
    /// share one protocol. With `endpoints`, at least one in all.
    pub(crate) udp: Vec<gyre::endpoint::spec::UdpServerSpec>,
    /// The endpoints as given: a `--threads` run builds them again on each
    /// reactor (a reactor, and so an endpoint, stays on its thread).
    pub(crate) descriptions: Vec<String>,
    /// Policies applied to every connection (per reactor).
    pub(crate) limits: Limits,
    /// How many reactors, each on its own thread, serve the endpoints.
    pub(crate) threads: usize,
}

/// `--idle-timeout`, `--max-connections` and `--keepalive`, validated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Close a connection after this long without traffic.
    pub(crate) idle_timeout: Option<Duration>,
    /// Serve at most this many connections at once (at least 1).
    pub(crate) max_connections: Option<usize>,
    /// TCP keep-alive probes after this long without traffic, and as often
    /// after that (whole seconds, 1 to 32,767).
    pub(crate) keepalive: Option<Duration>,
}

/// Endpoints print as their descriptions.
impl fmt::Debug for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let endpoints: Vec<String> = self.endpoints.iter().map(|e| e.to_string()).collect();
        f.debug_struct("Listen")
            .field("endpoints", &endpoints)
            .field(
                "udp",
                &self.udp.iter().map(|u| u.to_string()).collect::<Vec<_>>(),
            )
            .field("limits", &self.limits)
            .field("threads", &self.threads)
            .finish()
    }
}

/// Endpoints print as their descriptions.
impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Serve { service, listen } => f
                .debug_struct("Serve")
                .field("service", service)
                .field("listen", listen)
                .finish(),
            Command::Forward {
                upstream,
                send_proxy,
                listen,
                ..
            } => f
                .debug_struct("Forward")
                .field("upstream", &upstream.to_string())
                .field("send_proxy", send_proxy)
                .field("listen", listen)
                .finish(),
            Command::Exec { spec, listen } => f
                .debug_struct("Exec")
                .field("spec", spec)
                .field("listen", listen)
                .finish(),
            Command::Logbot { endpoint, options } => f
                .debug_struct("Logbot")
                .field("endpoint", &endpoint.to_string())
                .field("options", options)
                .finish(),
            Command::Connect {
                endpoint,
                reconnect,
            } => f
                .debug_struct("Connect")
                .field("endpoint", &endpoint.to_string())
                .field("reconnect", reconnect)
                .finish(),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("command", &self.command)
            .field("log_level", &self.log_level)
            .finish_non_exhaustive()
    }
}
