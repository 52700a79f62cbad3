//! A [`Deferred`] is a [`Future`].
//!
//! The first poll adds a last pair to the chain that moves the result into
//! a [`Waiter`] and wakes the task. So awaiting a Deferred finishes its
//! chain: callbacks added after the `await` began never run.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::chain::{Outcome, taken_failure, taking};
use super::{Deferred, Failure, unbox};

/// Where an awaited Deferred leaves its result.
#[derive(Default)]
pub(crate) struct Waiter {
    outcome: RefCell<Option<Outcome>>,
    waker: RefCell<Option<Waker>>,
    done: std::cell::Cell<bool>,
}

impl<T: 'static> Future for Deferred<T> {
    type Output = Result<T, Failure>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let waiter = match &self.waiter {
            Some(w) => w.clone(),
            None => {
                let w = Rc::new(Waiter::default());
                // Store the waker before attaching: attaching runs the pair
                // at once if the Deferred already fired.
                *w.waker.borrow_mut() = Some(cx.waker().clone());
                let slot = w.clone();
                self.waiter = Some(w.clone());
                self.chain.add(taking(move |outcome| {
                    *slot.outcome.borrow_mut() = Some(outcome);
                    if let Some(waker) = slot.waker.borrow_mut().take() {
                        waker.wake();
                    }
                }));
                w
            }
        };
        if let Some(outcome) = waiter.outcome.borrow_mut().take() {
            waiter.done.set(true);
            return Poll::Ready(unbox::<T>(outcome));
        }
        if waiter.done.get() {
            return Poll::Ready(Err(taken_failure()));
        }
        let mut slot = waiter.waker.borrow_mut();
        match &*slot {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}
