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
//! line and a sysexits code (see `exit.rs`). `--idle-timeout` and
//! `--max-connections` wrap the shared factory in the library's
//! `TimeoutFactory` and `LimitConnections` (see [`open`]); `portforward`
//! is served like any other service, with its own factory. `connect` runs in
//! [`crate::connect`]. Needs sockets, so it is exercised by the integration
//! tests rather than unit tests.

use std::cell::RefCell;
use std::process::ExitCode;
use std::rc::Rc;

use gyre::endpoint::{ServerEndpoint, ServerEndpointExt};
use gyre::protocols::policies::{LimitConnections, TimeoutFactory};
use gyre::{Clock, Factory, ListeningPort, Reactor, Shared};

use crate::config::{Command, Config, Listen};
use crate::exit::Failure;
use crate::services::chargen::Chargen;
use crate::services::chat::ChatFactory;
use crate::services::daytime::Daytime;
use crate::services::discard::Discard;
use crate::services::echo::Echo;
use crate::services::portforward::ProxyFactory;
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
        Command::Serve { service, listen } => serve(&reactor, service, &listen),
        Command::Forward { upstream, listen } => {
            let listening = open(&reactor, &listen, ProxyFactory::new(upstream));
            run_ports(&reactor, &listening)
        }
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

fn serve(reactor: &Reactor, service: Service, listen: &Listen) -> Result<(), Failure> {
    let listening = match service {
        Service::Echo => open(reactor, listen, WireFactory::<Echo>::new()),
        Service::Discard => open(reactor, listen, WireFactory::<Discard>::new()),
        Service::Chargen => open(reactor, listen, WireFactory::<Chargen>::new()),
        Service::Daytime => open(reactor, listen, WireFactory::<Daytime>::new()),
        Service::Qotd => open(reactor, listen, WireFactory::<Qotd>::new()),
        Service::Time => open(reactor, listen, WireFactory::<Time>::new()),
        Service::Chat => open(reactor, listen, ChatFactory::new()),
    };
    run_ports(reactor, &listening)
}

/// Runs the reactor with the ports `listening` opened (or is opening);
/// the first failure to open one is the run's failure.
fn run_ports(reactor: &Reactor, listening: &Listening) -> Result<(), Failure> {
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

/// Listens on every endpoint of `listen` with one shared `factory`,
/// wrapped in the policies `listen.limits` asks for: the connection limit
/// outermost, so a refused connection never starts an idle timer. The
/// reactor is the timers' clock.
fn open<F: Factory>(reactor: &Reactor, listen: &Listen, factory: F) -> Rc<Listening> {
    let endpoints = &listen.endpoints;
    let clock = || -> Rc<dyn Clock> { Rc::new(reactor.clone()) };
    match (listen.limits.idle_timeout, listen.limits.max_connections) {
        (None, None) => listen_all(reactor, endpoints, Shared::new(factory)),
        (Some(idle), None) => {
            let timed = TimeoutFactory::new(factory, clock(), idle);
            listen_all(reactor, endpoints, Shared::new(timed))
        }
        (None, Some(max)) => {
            let limited = LimitConnections::new(factory).with_max_total(Some(max));
            listen_all(reactor, endpoints, Shared::new(limited))
        }
        (Some(idle), Some(max)) => {
            let timed = TimeoutFactory::new(factory, clock(), idle);
            let limited = LimitConnections::new(timed).with_max_total(Some(max));
            listen_all(reactor, endpoints, Shared::new(limited))
        }
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

/// Listens with `factory` on every endpoint, in order, until one fails.
/// Endpoints whose Deferred has not fired yet report when it does: a
/// failure then stops the reactor.
fn listen_all<F: Factory>(
    reactor: &Reactor,
    endpoints: &[Box<dyn ServerEndpoint>],
    factory: Shared<F>,
) -> Rc<Listening> {
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
