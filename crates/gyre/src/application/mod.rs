//! Services: the parts of a program that start when the reactor runs and
//! stop, in order, before it ends (Twisted's `twisted.application`,
//! reference §13.1).
//!
//! A [`Service`] starts and stops; stopping returns a [`Completion`] that
//! the shutdown waits for, so a service can finish what it owes (close its
//! ports, end its client connection without a retry, flush a file) before
//! the reactor closes the connections and ends. The pieces:
//!
//! * [`MultiService`]: a group, started in the order the children were
//!   added and stopped in reverse, waiting for every child's stop; names
//!   are unique within it;
//! * [`StreamServerEndpointService`]: listens on an endpoint with a
//!   factory while it runs (`strports.service`: [`StreamServerEndpointService::from_string`]);
//! * [`TimerService`]: a [`LoopingCall`](crate::LoopingCall) that runs while the
//!   service does (its first call at start);
//! * [`ClientService`]: one client
//!   connection kept alive, reconnecting with back-off;
//! * [`Reactor::run_service`](crate::Reactor::run_service): the
//!   application runner. It starts the root service's privileged part
//!   (listening) before the loop, the rest once the loop runs, and stops it
//!   in a before-shutdown trigger, so SIGINT or SIGTERM stops every service
//!   in order and `run_service` returns once all of them have stopped.
//!
//! ```
//! use std::cell::Cell;
//! use std::rc::Rc;
//! use std::time::Duration;
//!
//! use gyre::application::{MultiService, Service, StreamServerEndpointService, TimerService};
//! use gyre::endpoint::TcpServerEndpoint;
//! use gyre::{for_protocol, Protocol, Reactor, Transport};
//!
//! struct Echo;
//! impl Protocol for Echo {
//!     fn data_received(&mut self, transport: &Transport, data: &[u8]) {
//!         transport.write(data);
//!     }
//! }
//!
//! let reactor = Reactor::new()?;
//! let root = MultiService::new();
//! let echo = TcpServerEndpoint::new(&reactor, 0).with_interface("127.0.0.1");
//! root.add_service(StreamServerEndpointService::new(echo, for_protocol(|| Echo)).named("echo"))?;
//!
//! // A heartbeat that stops the program on its third beat.
//! let beats = Rc::new(Cell::new(0));
//! let (b, r) = (beats.clone(), reactor.clone());
//! root.add_service(TimerService::new(&reactor, Duration::from_millis(10), move || {
//!     b.set(b.get() + 1);
//!     if b.get() == 3 {
//!         r.stop().unwrap();
//!     }
//! }))?;
//!
//! reactor.run_service(root.clone())?;
//! assert_eq!(beats.get(), 3);
//! assert!(!root.get_service_named("echo").unwrap().is_running());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Where things are: `multi.rs`, `endpoint.rs`, `timer.rs`, `runner.rs`
//! (and `ClientService`'s `Service` implementation, in this file). Tests:
//! at the bottom of each file, and `tests/services.rs` (a real reactor,
//! SIGTERM).

mod endpoint;
mod multi;
mod runner;
mod timer;

use std::rc::Rc;

use crate::client::ClientService;
use crate::completion::Completion;
use crate::deferred::Failure;
use crate::protocol::Protocol;

pub use endpoint::StreamServerEndpointService;
pub use multi::{AddServiceError, MultiService};
pub use timer::TimerService;

/// Something that runs between the reactor's start and its shutdown
/// (Twisted's `IService`).
///
/// `start_service` and `stop_service` are called by a parent
/// ([`MultiService`]) or by the runner ([`Reactor::run_service`](crate::Reactor::run_service)),
/// each once per run, in that order. Clones of a service are usually
/// handles to the same one, so a program keeps a handle to ask it things
/// while a parent runs it.
pub trait Service {
    /// The name a parent knows it by (`None`: unnamed; several unnamed
    /// services may share a parent).
    fn name(&self) -> Option<String> {
        None
    }

    /// The part of starting that must happen before the reactor runs and
    /// may fail: listening on a port, say (done before the process could
    /// drop privileges, in Twisted). A failure stops the start of the
    /// program. Does nothing by default.
    fn privileged_start_service(&self) -> Result<(), Failure> {
        Ok(())
    }

    /// Starts the service (the reactor is running).
    fn start_service(&self);

    /// Stops the service; the completion fires when it has stopped (at
    /// once, for a service with nothing to wait for).
    fn stop_service(&self) -> Completion;

    /// True between `start_service` and `stop_service`.
    fn is_running(&self) -> bool;

    /// This service under `name` (for services with no name of their own).
    fn named(self, name: impl Into<String>) -> Named<Self>
    where
        Self: Sized,
    {
        Named::new(name, self)
    }
}

impl<S: Service + ?Sized> Service for Rc<S> {
    fn name(&self) -> Option<String> {
        (**self).name()
    }
    fn privileged_start_service(&self) -> Result<(), Failure> {
        (**self).privileged_start_service()
    }
    fn start_service(&self) {
        (**self).start_service()
    }
    fn stop_service(&self) -> Completion {
        (**self).stop_service()
    }
    fn is_running(&self) -> bool {
        (**self).is_running()
    }
}

impl<S: Service + ?Sized> Service for Box<S> {
    fn name(&self) -> Option<String> {
        (**self).name()
    }
    fn privileged_start_service(&self) -> Result<(), Failure> {
        (**self).privileged_start_service()
    }
    fn start_service(&self) {
        (**self).start_service()
    }
    fn stop_service(&self) -> Completion {
        (**self).stop_service()
    }
    fn is_running(&self) -> bool {
        (**self).is_running()
    }
}

/// A service under a name ([`Service::named`]).
#[derive(Debug, Clone)]
pub struct Named<S> {
    name: String,
    service: S,
}

impl<S> Named<S> {
    /// `service`, known to its parent as `name`.
    pub fn new(name: impl Into<String>, service: S) -> Named<S> {
        Named {
            name: name.into(),
            service,
        }
    }

    /// The service itself.
    pub fn inner(&self) -> &S {
        &self.service
    }
}

impl<S: Service> Service for Named<S> {
    fn name(&self) -> Option<String> {
        Some(self.name.clone())
    }
    fn privileged_start_service(&self) -> Result<(), Failure> {
        self.service.privileged_start_service()
    }
    fn start_service(&self) {
        self.service.start_service()
    }
    fn stop_service(&self) -> Completion {
        self.service.stop_service()
    }
    fn is_running(&self) -> bool {
        self.service.is_running()
    }
}

/// A [`ClientService`] as a service: started, it connects; stopped, it
/// cancels the attempt or the retry and closes the connection, and its
/// completion fires once the connection is closed.
impl<P: Protocol> Service for ClientService<P> {
    fn start_service(&self) {
        ClientService::start_service(self)
    }

    fn stop_service(&self) -> Completion {
        ClientService::stop_service(self).into()
    }

    fn is_running(&self) -> bool {
        ClientService::is_running(self)
    }
}
