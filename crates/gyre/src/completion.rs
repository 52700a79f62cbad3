//! A one-shot, single-threaded completion signal.
//!
//! [`Completion`] is what the reactor hands back for things that finish on a
//! later turn: `ListeningPort::stop_listening`, a before-shutdown trigger that
//! wants the shutdown to wait, a `LoopingCall` run. It is deliberately tiny
//! (a flag, an optional failure and a list of waiters); `Deferred` (a later
//! layer) converts into and out of it.
//! Tests: at the bottom of this file.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::{Rc, Weak};
use std::sync::Arc;

/// A signal that fires once, successfully or with a failure. Clones share
/// the same signal.
///
/// A failure (what [`fail`](Self::fail) was given: the message of the panic
/// that ended a [`LoopingCall`](crate::LoopingCall), say) is read with
/// [`failure`](Self::failure). One that nobody read is logged when the
/// last handle is dropped (`Unhandled error in Completion:`, at error
/// level), as Twisted logs a failed Deferred nobody handled.
#[derive(Clone, Default)]
pub struct Completion {
    inner: Rc<Inner>,
}

#[derive(Default)]
struct Inner {
    done: Cell<bool>,
    /// Why it failed, if it did.
    failure: RefCell<Option<Arc<str>>>,
    /// The failure was read (or handed on), so dropping logs nothing.
    observed: Cell<bool>,
    waiters: RefCell<Vec<Box<dyn FnOnce()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(message) = self.failure.get_mut().take() {
            if !self.observed.get() {
                crate::log::log_failure("Unhandled error in Completion:", &message);
            }
        }
    }
}

impl Completion {
    /// A completion that has not fired yet.
    pub fn new() -> Completion {
        Completion::default()
    }

    /// A completion that has already fired.
    pub fn completed() -> Completion {
        let c = Completion::new();
        c.inner.done.set(true);
        c
    }

    /// Fires the signal: every waiter runs now, in the order it was added.
    /// Firing again (or after [`fail`](Self::fail)) does nothing.
    pub fn complete(&self) {
        if self.inner.done.replace(true) {
            return;
        }
        self.run_waiters();
    }

    /// Fires the signal with a failure, `why` it failed (read back with
    /// [`failure`](Self::failure)); the waiters run as for
    /// [`complete`](Self::complete). Does nothing if it already fired.
    pub fn fail(&self, why: impl Into<Arc<str>>) {
        if self.inner.done.replace(true) {
            return;
        }
        *self.inner.failure.borrow_mut() = Some(why.into());
        self.run_waiters();
    }

    /// Why it failed: `None` while it has not fired, or if it completed
    /// successfully. Reading it counts as handling the failure (nothing is
    /// logged when the completion is dropped).
    pub fn failure(&self) -> Option<Arc<str>> {
        self.inner.observed.set(true);
        self.inner.failure.borrow().clone()
    }

    /// Runs `f` with the failure (or `None`) when the signal fires, or now
    /// if it already has; `f` takes over the failure, so nothing is logged
    /// for it on drop. Does not keep the completion alive.
    pub(crate) fn on_outcome(&self, f: impl FnOnce(Option<Arc<str>>) + 'static) {
        let weak: Weak<Inner> = Rc::downgrade(&self.inner);
        self.on_complete(move || {
            // Waiters run from `complete`/`fail`, through a live handle.
            let failure = weak.upgrade().and_then(|inner| {
                inner.observed.set(true);
                inner.failure.borrow().clone()
            });
            f(failure)
        });
    }

    fn run_waiters(&self) {
        loop {
            let batch = std::mem::take(&mut *self.inner.waiters.borrow_mut());
            if batch.is_empty() {
                break;
            }
            for waiter in batch {
                waiter();
            }
        }
    }

    /// True once [`complete`](Self::complete) or [`fail`](Self::fail) has
    /// been called.
    pub fn is_complete(&self) -> bool {
        self.inner.done.get()
    }

    /// Runs `f` when the signal fires, or now if it already has.
    pub fn on_complete(&self, f: impl FnOnce() + 'static) {
        if self.is_complete() {
            f();
        } else {
            self.inner.waiters.borrow_mut().push(Box::new(f));
        }
    }

    /// A completion that fires once every one of `parts` has fired
    /// (at once when `parts` is empty).
    pub fn all(parts: Vec<Completion>) -> Completion {
        let all = Completion::new();
        let remaining = Rc::new(Cell::new(parts.len()));
        if parts.is_empty() {
            all.complete();
        }
        for part in parts {
            let all = all.clone();
            let remaining = remaining.clone();
            part.on_complete(move || {
                remaining.set(remaining.get() - 1);
                if remaining.get() == 0 {
                    all.complete();
                }
            });
        }
        all
    }
}

impl fmt::Debug for Completion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completion")
            .field("complete", &self.is_complete())
            .field("failure", &self.inner.failure.borrow())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waiters run once, in order, when the signal fires; late waiters run at once.
    #[test]
    fn fires_once_in_order() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let c = Completion::new();
        for i in 0..3 {
            let log = log.clone();
            c.on_complete(move || log.borrow_mut().push(i));
        }
        assert!(log.borrow().is_empty());
        c.complete();
        c.complete();
        let l2 = log.clone();
        c.on_complete(move || l2.borrow_mut().push(9));
        assert_eq!(*log.borrow(), vec![0, 1, 2, 9]);
    }

    /// `fail` fires the waiters and records why; a second `fail` or a
    /// `complete` changes nothing; a plain completion has no failure.
    #[test]
    fn fail_carries_the_failure() {
        let c = Completion::new();
        let seen = Rc::new(RefCell::new(Vec::new()));
        let s = seen.clone();
        c.on_outcome(move |failure| s.borrow_mut().push(failure));
        assert_eq!(c.failure(), None);
        c.fail("tick failed");
        c.fail("again");
        c.complete();
        assert!(c.is_complete());
        assert_eq!(c.failure().as_deref(), Some("tick failed"));
        assert_eq!(*seen.borrow(), [Some(Arc::from("tick failed"))]);
        let ok = Completion::completed();
        assert_eq!(ok.failure(), None);
        assert!(format!("{c:?}").contains("tick failed"));
    }

    /// `all` waits for every part, and fires at once for none.
    #[test]
    fn all_waits_for_every_part() {
        let a = Completion::new();
        let b = Completion::new();
        let both = Completion::all(vec![a.clone(), b.clone()]);
        a.complete();
        assert!(!both.is_complete());
        b.complete();
        assert!(both.is_complete());
        assert!(Completion::all(vec![]).is_complete());
    }
}
