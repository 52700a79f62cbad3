//! Running a [`Config`]: install the logger, open the ports, run the reactor.
//!
//! Every endpoint of a run shares one [`Shared`] factory, so `Starting
//! factory` is logged once however many ports there are, and `Stopping
//! factory` once after the last one closes. The reactor handles SIGINT and
//! SIGTERM itself (an orderly shutdown, then `Main loop terminated.`), after
//! which `run` returns and the command exits 0. Failures become one line and
//! a sysexits code (see `exit.rs`). Needs sockets, so it is exercised by the
//! integration tests rather than unit tests.

use std::process::ExitCode;

use gyre::{ListeningPort, Protocol, Reactor, Shared, TcpListenOptions};

use crate::config::Config;
use crate::endpoint::TcpEndpoint;
use crate::exit::Failure;
use crate::services::chargen::Chargen;
use crate::services::daytime::Daytime;
use crate::services::discard::Discard;
use crate::services::echo::Echo;
use crate::services::qotd::Qotd;
use crate::services::time::Time;
use crate::services::{Service, WireFactory};
use crate::{logger, panics};

/// Runs the service described by `config` until the reactor stops.
pub(crate) fn run(config: &Config) -> ExitCode {
    logger::install(config.log_level);
    match panics::catching(|| serve(config)).and_then(|served| served) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

fn serve(config: &Config) -> Result<(), Failure> {
    let reactor = Reactor::new().map_err(|e| Failure::reactor_setup(&e))?;
    let endpoints = &config.endpoints;
    // Keep the port handles for the whole run.
    let _ports = match config.service {
        Service::Echo => listen::<Echo>(&reactor, endpoints),
        Service::Discard => listen::<Discard>(&reactor, endpoints),
        Service::Chargen => listen::<Chargen>(&reactor, endpoints),
        Service::Daytime => listen::<Daytime>(&reactor, endpoints),
        Service::Qotd => listen::<Qotd>(&reactor, endpoints),
        Service::Time => listen::<Time>(&reactor, endpoints),
    }?;
    reactor.run().map_err(|e| Failure::reactor_run(&e))
}

/// Listens with one shared factory for `P` on every endpoint, in order;
/// stops at the first that fails.
fn listen<P: Protocol + Default>(
    reactor: &Reactor,
    endpoints: &[TcpEndpoint],
) -> Result<Vec<ListeningPort>, Failure> {
    let factory = Shared::new(WireFactory::<P>::new());
    endpoints
        .iter()
        .map(|ep| {
            let options = TcpListenOptions {
                backlog: ep.backlog,
                interface: ep.interface.clone(),
                ..TcpListenOptions::default()
            };
            reactor
                .listen_tcp_with(ep.port, factory.clone(), options)
                .map_err(|e| Failure::listen(&e))
        })
        .collect()
}
