//! A one-shot, single-threaded completion signal.
//!
//! [`Completion`] is what the reactor hands back for things that finish on a
//! later turn: `ListeningPort::stop_listening`, a before-shutdown trigger that
//! wants the shutdown to wait. It is deliberately tiny (a flag plus a list of
//! waiters); `Deferred` (a later layer) converts into and out of it.
//! Tests: at the bottom of this file.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;

/// A signal that fires once. Clones share the same signal.
#[derive(Clone, Default)]
pub struct Completion {
    inner: Rc<Inner>,
}

#[derive(Default)]
struct Inner {
    done: Cell<bool>,
    waiters: RefCell<Vec<Box<dyn FnOnce()>>>,
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
    /// Firing again does nothing.
    pub fn complete(&self) {
        if self.inner.done.replace(true) {
            return;
        }
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

    /// True once [`complete`](Self::complete) has been called.
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
