//! [`Config`]: everything a run needs, resolved from the arguments.
//!
//! `flags.rs` builds it (and is where its tests live); `run.rs` consumes it.
//! Nothing here is optional or textual any more: endpoints are parsed, the
//! log level is a filter.

use log::LevelFilter;

use crate::endpoint::TcpEndpoint;
use crate::services::Service;

/// A fully resolved command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Config {
    /// The service to run.
    pub(crate) service: Service,
    /// Where to listen, at least one; all share one factory.
    pub(crate) endpoints: Vec<TcpEndpoint>,
    /// The most verbose level logged.
    pub(crate) log_level: LevelFilter,
}
