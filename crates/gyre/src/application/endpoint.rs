//! [`StreamServerEndpointService`]: a port open while the service runs.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;

use super::Service;
use crate::completion::Completion;
use crate::deferred::{CancelledError, Deferred, Failure};
use crate::endpoint::{EndpointError, ServerEndpoint, server_from_string};
use crate::factory::{AnyFactory, Factory, Shared};
use crate::reactor::Reactor;
use crate::tcp::ListeningPort;

/// Listens on an endpoint with a factory while it runs (Twisted's
/// `StreamServerEndpointService`; [`from_string`](Self::from_string) is
/// `strports.service`).
///
/// It listens in [`privileged_start_service`](Service::privileged_start_service)
/// (or in `start_service`, if nothing called that first): a listen that
/// fails there is that call's error, so a program that cannot open its
/// port does not start. A failure that arrives later is logged
/// (`Unhandled Error`). Stopping cancels a listen still in progress or
/// stops listening, and completes when the port is closed.
///
/// ```
/// use gyre::application::{Service, StreamServerEndpointService};
/// use gyre::{for_protocol, Protocol, Reactor};
///
/// struct Quiet;
/// impl Protocol for Quiet {}
///
/// let reactor = Reactor::new()?;
/// let service =
///     StreamServerEndpointService::from_string(&reactor, "tcp:0:interface=127.0.0.1", for_protocol(|| Quiet))?;
/// service.privileged_start_service()?;
/// let port = service.port().expect("listening");
/// assert!(port.is_listening());
/// service.start_service();
/// assert!(service.is_running());
/// let _ = service.stop_service();
/// assert!(!port.is_listening() && !service.is_running());
///
/// // Bad descriptions are errors, before anything runs.
/// let bad = StreamServerEndpointService::from_string(&reactor, "tcp:http", for_protocol(|| Quiet));
/// assert!(bad.is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct StreamServerEndpointService {
    inner: Rc<Inner>,
}

struct Inner {
    endpoint: Box<dyn ServerEndpoint>,
    factory: AnyFactory,
    running: Cell<bool>,
    /// The listen in progress, until it fires.
    waiting: RefCell<Option<Deferred<ListeningPort>>>,
    /// The open port.
    port: RefCell<Option<ListeningPort>>,
    /// The failure of a listen that failed while `privileged_start_service`
    /// waited for it, taken by that call.
    failed_now: RefCell<Option<Failure>>,
    /// True while `privileged_start_service` runs the listen.
    starting: Cell<bool>,
}

impl StreamServerEndpointService {
    /// A stopped service that will listen on `endpoint` with `factory`
    /// (pass a [`Shared`] clone to share one factory between services).
    pub fn new<F: Factory>(
        endpoint: impl ServerEndpoint + 'static,
        factory: impl Into<Shared<F>>,
    ) -> StreamServerEndpointService {
        StreamServerEndpointService {
            inner: Rc::new(Inner {
                endpoint: Box::new(endpoint),
                factory: AnyFactory::new(factory),
                running: Cell::new(false),
                waiting: RefCell::new(None),
                port: RefCell::new(None),
                failed_now: RefCell::new(None),
                starting: Cell::new(false),
            }),
        }
    }

    /// A service on the endpoint `description` names (`tcp:8000`,
    /// `unix:/run/app.sock`, …; [`server_from_string`]), or the
    /// description's error.
    pub fn from_string<F: Factory>(
        reactor: &Reactor,
        description: &str,
        factory: impl Into<Shared<F>>,
    ) -> Result<StreamServerEndpointService, EndpointError> {
        let endpoint = server_from_string(reactor, description)?;
        Ok(StreamServerEndpointService::new(endpoint, factory))
    }

    /// The port, once listening.
    pub fn port(&self) -> Option<ListeningPort> {
        self.inner.port.borrow().clone()
    }

    /// Starts listening unless a listen was started already.
    fn listen(&self) -> Result<(), Failure> {
        if self.inner.waiting.borrow().is_some() || self.inner.port.borrow().is_some() {
            return Ok(());
        }
        let d = self.inner.endpoint.listen_any(self.inner.factory.clone());
        *self.inner.waiting.borrow_mut() = Some(d.clone());
        let weak = Rc::downgrade(&self.inner);
        self.inner.starting.set(true);
        d.consume(move |outcome| {
            let Some(inner) = weak.upgrade() else { return };
            inner.waiting.borrow_mut().take();
            match outcome {
                Ok(port) => *inner.port.borrow_mut() = Some(port),
                Err(failure) if failure.is::<CancelledError>() => {}
                Err(failure) if inner.starting.get() => {
                    *inner.failed_now.borrow_mut() = Some(failure);
                }
                Err(failure) => {
                    log::error!(target: "gyre::application", "Unhandled Error\n{failure}");
                }
            }
        });
        self.inner.starting.set(false);
        match self.inner.failed_now.borrow_mut().take() {
            Some(failure) => Err(failure),
            None => Ok(()),
        }
    }
}

impl Service for StreamServerEndpointService {
    fn privileged_start_service(&self) -> Result<(), Failure> {
        self.listen()
    }

    fn start_service(&self) {
        self.inner.running.set(true);
        if let Err(failure) = self.listen() {
            log::error!(target: "gyre::application", "Unhandled Error\n{failure}");
        }
    }

    fn stop_service(&self) -> Completion {
        self.inner.running.set(false);
        let waiting = self.inner.waiting.borrow_mut().take();
        if let Some(d) = waiting {
            d.cancel();
        }
        let port = self.inner.port.borrow_mut().take();
        match port {
            Some(port) => port.stop_listening(),
            None => Completion::completed(),
        }
    }

    fn is_running(&self) -> bool {
        self.inner.running.get()
    }
}

impl fmt::Debug for StreamServerEndpointService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamServerEndpointService")
            .field("endpoint", &self.inner.endpoint.to_string())
            .field("running", &self.inner.running.get())
            .field("port", &self.inner.port.borrow())
            .finish_non_exhaustive()
    }
}
