//! The application runner: [`Reactor::run_service`].

use std::rc::Rc;

use super::Service;
use crate::deferred::Failure;
use crate::reactor::{Phase, Reactor, SystemEvent};

impl Reactor {
    /// Runs the reactor with `root` as the program's service, as Twisted's
    /// runners (`twistd`, `twist`) do: `root`'s privileged start now (a
    /// failure, a port that cannot be opened, say, is returned before
    /// anything runs); `start_service` once the reactor is running;
    /// `stop_service` in a before-shutdown trigger, which the shutdown waits
    /// for. So [`stop`](Self::stop), SIGINT or SIGTERM stop every service,
    /// in reverse order for a [`MultiService`](super::MultiService), before
    /// the reactor closes the remaining connections and ends: a
    /// [`ClientService`](crate::client::ClientService) closes its
    /// connection without scheduling a retry, a port closes, a timer stops.
    /// Returns once the reactor has stopped.
    ///
    /// See the [`application`](super) module for an example.
    pub fn run_service(&self, root: impl Service + 'static) -> Result<(), Failure> {
        let root: Rc<dyn Service> = Rc::new(root);
        root.privileged_start_service()?;
        let starting = root.clone();
        self.call_when_running(move || starting.start_service());
        self.add_system_event_trigger(Phase::Before, SystemEvent::Shutdown, move || {
            Some(root.stop_service())
        });
        self.run()?;
        Ok(())
    }
}
