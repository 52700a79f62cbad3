//! System event triggers: `before` / `during` / `after` callbacks for startup
//! and shutdown (reference §1.2).
//!
//! Owns the registered triggers, in registration order per (phase, event).
//! Firing an event runs every *before* trigger; those that hand back a
//! [`Completion`] make the event wait until all of them fire; then every
//! *during*, then every *after*. Triggers added to a phase while it runs are
//! run in the same pass. A panicking trigger is logged (`While calling system
//! event trigger handler`) and the rest still run. Tests: `tests/reactor.rs`.

use std::cell::RefCell;
use std::fmt;

use crate::completion::Completion;
use crate::log::{guarded, log_failure};

/// When, relative to the event, a trigger runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Before the event; may delay it by returning a [`Completion`].
    Before,
    /// While the event happens (for shutdown: after connections are closed).
    During,
    /// After the event.
    After,
}

/// The events the reactor fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SystemEvent {
    /// The reactor is starting to run.
    Startup,
    /// The reactor is stopping.
    Shutdown,
}

/// Identifies a registered trigger, for `remove_system_event_trigger`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TriggerId(u64);

/// A trigger callback; `Some(completion)` from a before-trigger delays the event.
pub(crate) type TriggerFn = Box<dyn FnMut() -> Option<Completion>>;

struct Entry {
    id: u64,
    phase: Phase,
    event: SystemEvent,
    f: Option<TriggerFn>,
}

/// The registered triggers of one reactor.
#[derive(Default)]
pub(crate) struct Triggers {
    entries: RefCell<Vec<Entry>>,
    next_id: std::cell::Cell<u64>,
}

impl Triggers {
    pub(crate) fn add(&self, phase: Phase, event: SystemEvent, f: TriggerFn) -> TriggerId {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        self.entries.borrow_mut().push(Entry {
            id,
            phase,
            event,
            f: Some(f),
        });
        TriggerId(id)
    }

    /// Removes a trigger; false if it was not registered (or already ran).
    pub(crate) fn remove(&self, id: TriggerId) -> bool {
        let mut entries = self.entries.borrow_mut();
        let before = entries.len();
        entries.retain(|e| e.id != id.0);
        entries.len() != before
    }

    /// Runs every trigger of one phase of one event, in registration order,
    /// including triggers added while this runs. Returns the completions
    /// handed back (only before-triggers' are meaningful). Triggers are
    /// consumed: each runs once.
    pub(crate) fn run_phase(&self, phase: Phase, event: SystemEvent) -> Vec<Completion> {
        let mut waits = Vec::new();
        loop {
            let next = {
                let mut entries = self.entries.borrow_mut();
                let pos = entries
                    .iter()
                    .position(|e| e.phase == phase && e.event == event);
                pos.map(|i| entries.remove(i))
            };
            let Some(mut entry) = next else { break };
            let Some(mut f) = entry.f.take() else {
                continue;
            };
            match guarded(&mut f) {
                Ok(Some(c)) => waits.push(c),
                Ok(None) => {}
                Err(msg) => log_failure("While calling system event trigger handler", &msg),
            }
        }
        waits
    }
}

impl fmt::Debug for Triggers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Triggers")
            .field("count", &self.entries.borrow().len())
            .finish()
    }
}
