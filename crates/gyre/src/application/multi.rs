//! [`MultiService`]: a group of services run as one.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;

use super::Service;
use crate::completion::Completion;
use crate::deferred::Failure;

/// Why [`MultiService::add_service`] refused a service.
#[derive(Debug, thiserror::Error)]
pub enum AddServiceError {
    /// Another child already has this name (Twisted's `RuntimeError`, same text).
    #[error("cannot have two services with same name '{0}'")]
    DuplicateName(String),
    /// The group is running, so the child was started at once, and its
    /// privileged start failed; it was not added.
    #[error("{0}")]
    StartFailed(Failure),
}

/// Services started together in the order they were added, and stopped
/// together in reverse order (Twisted's `MultiService`).
///
/// Stopping stops every child at once, last added first, and the group's
/// completion fires when every child's has. A child added while the group
/// runs is started at once; one removed while it runs is stopped.
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
///
/// use gyre::application::{AddServiceError, MultiService, Service};
/// use gyre::Completion;
///
/// /// Notes its starts and stops in a shared log.
/// struct Noted(&'static str, Rc<RefCell<Vec<String>>>);
/// impl Service for Noted {
///     fn start_service(&self) { self.1.borrow_mut().push(format!("start {}", self.0)) }
///     fn stop_service(&self) -> Completion {
///         self.1.borrow_mut().push(format!("stop {}", self.0));
///         Completion::completed()
///     }
///     fn is_running(&self) -> bool { false }
/// }
///
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let group = MultiService::new();
/// group.add_service(Noted("a", log.clone()).named("a")).unwrap();
/// group.add_service(Noted("b", log.clone())).unwrap();
/// let again = group.add_service(Noted("c", log.clone()).named("a"));
/// assert!(matches!(again, Err(AddServiceError::DuplicateName(name)) if name == "a"));
///
/// group.start_service();
/// assert!(group.stop_service().is_complete());
/// assert_eq!(*log.borrow(), ["start a", "start b", "stop b", "stop a"]);
/// ```
#[derive(Clone, Default)]
pub struct MultiService {
    inner: Rc<Inner>,
}

#[derive(Default)]
struct Inner {
    name: Option<String>,
    running: Cell<bool>,
    children: RefCell<Vec<Rc<dyn Service>>>,
}

impl MultiService {
    /// An empty, stopped, unnamed group.
    pub fn new() -> MultiService {
        MultiService::default()
    }

    /// An empty group known to its own parent as `name`.
    pub fn with_name(name: impl Into<String>) -> MultiService {
        MultiService {
            inner: Rc::new(Inner {
                name: Some(name.into()),
                ..Inner::default()
            }),
        }
    }

    /// Adds `service` as the last child; starts it at once (privileged
    /// part first) if the group is running. Refused if a child already has
    /// its name.
    pub fn add_service(&self, service: impl Service + 'static) -> Result<(), AddServiceError> {
        if let Some(name) = service.name() {
            if self.get_service_named(&name).is_some() {
                return Err(AddServiceError::DuplicateName(name));
            }
        }
        let service: Rc<dyn Service> = Rc::new(service);
        if self.inner.running.get() {
            service
                .privileged_start_service()
                .map_err(AddServiceError::StartFailed)?;
        }
        self.inner.children.borrow_mut().push(service.clone());
        if self.inner.running.get() {
            service.start_service();
        }
        Ok(())
    }

    /// Removes the child named `name`; if the group is running, the child
    /// is stopped and its stop's completion returned. `None` if no child
    /// has that name.
    pub fn remove_service(&self, name: &str) -> Option<Completion> {
        let removed = {
            let mut children = self.inner.children.borrow_mut();
            let at = children
                .iter()
                .position(|c| c.name().as_deref() == Some(name))?;
            children.remove(at)
        };
        Some(if self.inner.running.get() {
            removed.stop_service()
        } else {
            Completion::completed()
        })
    }

    /// The child named `name` (Twisted's `getServiceNamed`).
    pub fn get_service_named(&self, name: &str) -> Option<Rc<dyn Service>> {
        self.children()
            .into_iter()
            .find(|c| c.name().as_deref() == Some(name))
    }

    /// How many children it has.
    pub fn len(&self) -> usize {
        self.inner.children.borrow().len()
    }

    /// True if it has no children.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The children, in the order they were added (a snapshot: the calls
    /// into them run with no borrow held, so a child may change the group).
    fn children(&self) -> Vec<Rc<dyn Service>> {
        self.inner.children.borrow().clone()
    }
}

impl Service for MultiService {
    fn name(&self) -> Option<String> {
        self.inner.name.clone()
    }

    /// Every child's privileged start, in order, until one fails.
    fn privileged_start_service(&self) -> Result<(), Failure> {
        self.children()
            .iter()
            .try_for_each(|c| c.privileged_start_service())
    }

    fn start_service(&self) {
        self.inner.running.set(true);
        for child in self.children() {
            child.start_service();
        }
    }

    fn stop_service(&self) -> Completion {
        self.inner.running.set(false);
        let stops = self
            .children()
            .iter()
            .rev()
            .map(|c| c.stop_service())
            .collect();
        Completion::all(stops)
    }

    fn is_running(&self) -> bool {
        self.inner.running.get()
    }
}

impl fmt::Debug for MultiService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiService")
            .field("name", &self.inner.name)
            .field("running", &self.inner.running.get())
            .field("children", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A child whose stop finishes when the test says so.
    struct Slow {
        name: &'static str,
        log: Rc<RefCell<Vec<String>>>,
        done: Completion,
        running: Cell<bool>,
    }

    impl Service for Slow {
        fn name(&self) -> Option<String> {
            Some(self.name.to_string())
        }
        fn start_service(&self) {
            self.running.set(true);
            self.log.borrow_mut().push(format!("start {}", self.name));
        }
        fn stop_service(&self) -> Completion {
            self.running.set(false);
            self.log.borrow_mut().push(format!("stop {}", self.name));
            self.done.clone()
        }
        fn is_running(&self) -> bool {
            self.running.get()
        }
    }

    fn slow(name: &'static str, log: &Rc<RefCell<Vec<String>>>) -> (Slow, Completion) {
        let done = Completion::new();
        let s = Slow {
            name,
            log: log.clone(),
            done: done.clone(),
            running: Cell::new(false),
        };
        (s, done)
    }

    /// The group's stop waits for every child's, whichever finishes last.
    #[test]
    fn stop_waits_for_every_child_in_reverse() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let group = MultiService::new();
        let (a, a_done) = slow("a", &log);
        let (b, b_done) = slow("b", &log);
        group.add_service(a).unwrap();
        group.add_service(b).unwrap();
        group.start_service();
        let stopped = group.stop_service();
        assert_eq!(*log.borrow(), ["start a", "start b", "stop b", "stop a"]);
        assert!(!stopped.is_complete());
        a_done.complete();
        assert!(!stopped.is_complete(), "b has not finished");
        b_done.complete();
        assert!(stopped.is_complete());
        assert!(!group.is_running());
    }

    /// Added while running: started at once; removed while running: stopped.
    #[test]
    fn add_and_remove_while_running() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let group = MultiService::new();
        group.start_service();
        let (a, a_done) = slow("a", &log);
        group.add_service(a).unwrap();
        assert!(group.get_service_named("a").unwrap().is_running());
        let stop = group.remove_service("a").expect("a is there");
        assert!(!stop.is_complete());
        a_done.complete();
        assert!(stop.is_complete());
        assert_eq!(*log.borrow(), ["start a", "stop a"]);
        assert!(group.is_empty());
        assert!(group.remove_service("a").is_none());
    }

    /// The duplicate's text is Twisted's.
    #[test]
    fn duplicate_name_text() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let group = MultiService::new();
        group.add_service(slow("x", &log).0).unwrap();
        let err = group.add_service(slow("x", &log).0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot have two services with same name 'x'"
        );
        assert_eq!(group.len(), 1);
    }

    /// A privileged start that fails stops the group's privileged start there.
    #[test]
    fn privileged_failure_stops_there() {
        struct Fails;
        impl Service for Fails {
            fn privileged_start_service(&self) -> Result<(), Failure> {
                Err(Failure::msg("no port for you"))
            }
            fn start_service(&self) {}
            fn stop_service(&self) -> Completion {
                Completion::completed()
            }
            fn is_running(&self) -> bool {
                false
            }
        }
        let group = MultiService::new();
        group.add_service(Fails).unwrap();
        let err = group.privileged_start_service().unwrap_err();
        assert!(err.to_string().contains("no port for you"), "{err}");
        // Added to a running group: refused, not added.
        group.start_service();
        assert!(matches!(
            group.add_service(Fails),
            Err(AddServiceError::StartFailed(_))
        ));
        assert_eq!(group.len(), 1);
    }
}
