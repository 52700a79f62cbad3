//! Running a [`Config`]: install the logger, open the ports (or connect),
//! run the reactor.
//!
//! Every endpoint of a service run shares one [`Shared`] factory, so
//! `Starting factory` is logged once however many ports there are, and
//! `Stopping factory` once after the last one closes. Ports are opened
//! through the endpoints' `listen`, whose Deferred fires before `listen`
//! returns for TCP; an endpoint type that answers later is waited for while
//! the reactor runs, and its failure stops it. The reactor handles SIGINT
//! and SIGTERM itself (an orderly shutdown, then `Main loop terminated.`),
//! after which `run` returns and the command exits 0. Failures become one
//! line and a sysexits code (see `exit.rs`). `connect` runs in
//! [`crate::connect`]. Needs sockets, so it is exercised by the integration
//! tests rather than unit tests.

use std::cell::RefCell;
use std::process::ExitCode;
use std::rc::Rc;

use gyre::endpoint::{ServerEndpoint, ServerEndpointExt};
use gyre::{ListeningPort, Protocol, Reactor, Shared};

use crate::config::{Command, Config};
use crate::exit::Failure;
use crate::services::chargen::Chargen;
use crate::services::daytime::Daytime;
use crate::services::discard::Discard;
use crate::services::echo::Echo;
use crate::services::qotd::Qotd;
use crate::services::time::Time;
use crate::services::{Service, WireFactory};
use crate::{connect, logger, panics};

/// Runs the command described by `config` until the reactor stops.
pub(crate) fn run(config: Config) -> ExitCode {
    logger::install(config.log_level);
    let Config {
        reactor, command, ..
    } = config;
    let outcome = panics::catching(move || match command {
        Command::Serve { service, endpoints } => serve(&reactor, service, &endpoints),
        Command::Connect {
            endpoint,
            reconnect,
        } => connect::run(&reactor, endpoint, reconnect),
    });
    match outcome.and_then(|ran| ran) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

fn serve(
    reactor: &Reactor,
    service: Service,
    endpoints: &[Box<dyn ServerEndpoint>],
) -> Result<(), Failure> {
    let listening = match service {
        Service::Echo => listen::<Echo>(reactor, endpoints),
        Service::Discard => listen::<Discard>(reactor, endpoints),
        Service::Chargen => listen::<Chargen>(reactor, endpoints),
        Service::Daytime => listen::<Daytime>(reactor, endpoints),
        Service::Qotd => listen::<Qotd>(reactor, endpoints),
        Service::Time => listen::<Time>(reactor, endpoints),
    };
    if let Some(failure) = listening.failure.borrow_mut().take() {
        return Err(failure);
    }
    reactor.run().map_err(|e| Failure::reactor_run(&e))?;
    // A listen that failed while the reactor ran stopped it.
    match listening.failure.borrow_mut().take() {
        Some(failure) => Err(failure),
        None => Ok(()),
    }
}

/// The ports of a service run, as their `listen` Deferreds fire.
#[derive(Debug, Default)]
struct Listening {
    /// Every port opened so far, kept open for the whole run.
    ports: RefCell<Vec<ListeningPort>>,
    /// The first failure.
    failure: RefCell<Option<Failure>>,
}

/// Listens with one shared factory for `P` on every endpoint, in order,
/// until one fails. Endpoints whose Deferred has not fired yet report when
/// it does: a failure then stops the reactor.
fn listen<P: Protocol + Default>(
    reactor: &Reactor,
    endpoints: &[Box<dyn ServerEndpoint>],
) -> Rc<Listening> {
    let factory = Shared::new(WireFactory::<P>::new());
    let listening = Rc::new(Listening::default());
    for endpoint in endpoints {
        if listening.failure.borrow().is_some() {
            break;
        }
        let record = listening.clone();
        let reactor = reactor.clone();
        endpoint
            .listen(factory.clone())
            .consume(move |result| match result {
                Ok(port) => record.ports.borrow_mut().push(port),
                Err(failure) => {
                    let mut first = record.failure.borrow_mut();
                    if first.is_none() {
                        *first = Some(Failure::listen_failed(&failure));
                    }
                    let stopping = reactor.clone();
                    reactor.call_when_running(move || {
                        let _ = stopping.stop();
                    });
                }
            });
    }
    listening
}
