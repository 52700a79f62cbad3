//! [`TimerService`]: a function called every interval while the service runs.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use super::Service;
use crate::completion::Completion;
use crate::time::{Clock, LoopingCall};

/// Calls a function every `interval` while it runs, the first time when it
/// starts (Twisted's `TimerService`, a [`LoopingCall`] started with
/// `now = true`). Stopping completes once a call in progress has returned.
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use std::time::Duration;
///
/// use gyre::application::{Service, TimerService};
/// use gyre::testing::VirtualClock;
///
/// let clock = VirtualClock::new();
/// let ticks = Rc::new(Cell::new(0));
/// let t = ticks.clone();
/// let service = TimerService::new(&clock, Duration::from_secs(30), move || t.set(t.get() + 1));
/// service.start_service();
/// assert_eq!(ticks.get(), 1, "the first call is at start");
/// clock.advance(Duration::from_secs(30));
/// assert_eq!(ticks.get(), 2);
/// assert!(service.stop_service().is_complete());
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(ticks.get(), 2, "stopped");
/// ```
#[derive(Clone)]
pub struct TimerService {
    call: LoopingCall,
    interval: Duration,
    /// The completion of the loop's current run (from `start`).
    finished: Rc<RefCell<Option<Completion>>>,
}

impl TimerService {
    /// A stopped service that will call `f` every `interval` on `clock`
    /// (the reactor; in tests, a [`VirtualClock`](crate::testing::VirtualClock)).
    pub fn new(
        clock: &(impl Clock + Clone + 'static),
        interval: Duration,
        f: impl FnMut() + 'static,
    ) -> TimerService {
        TimerService {
            call: LoopingCall::new(clock, f),
            interval,
            finished: Rc::default(),
        }
    }

    /// The loop behind the service (to read its state).
    pub fn looping_call(&self) -> &LoopingCall {
        &self.call
    }
}

impl Service for TimerService {
    fn start_service(&self) {
        match self.call.start(self.interval, true) {
            Ok(finished) => *self.finished.borrow_mut() = Some(finished),
            Err(e) => log::error!(target: "gyre::application", "Unhandled Error\n{e}"),
        }
    }

    /// Stops the loop; the completion is the loop's own, so it fires once
    /// a call in progress has returned (and carries the failure of a
    /// function that panicked).
    fn stop_service(&self) -> Completion {
        if self.call.is_running() {
            // Only fails when the loop is not running, just checked.
            let _ = self.call.stop();
        }
        self.finished
            .borrow_mut()
            .take()
            .unwrap_or_else(Completion::completed)
    }

    fn is_running(&self) -> bool {
        self.call.is_running()
    }
}

impl fmt::Debug for TimerService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerService")
            .field("interval", &self.interval)
            .field("running", &self.call.is_running())
            .finish()
    }
}
