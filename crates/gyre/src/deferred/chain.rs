//! The untyped callback chain behind every [`Deferred`](super::Deferred).
//!
//! A chain holds the current result (a boxed value or a [`Failure`]) and the
//! callback pairs still to run. Typed handles put values in and take them
//! out with a downcast; everything here is type-erased so that one chain can
//! change its result type at each step, as a Twisted chain does.
//!
//! Processing is a loop, not recursion: each pass pops one pair, runs it
//! with no borrow held, and stores what it returned. A pair may return
//! another chain to wait on; this one is then paused until that one fires
//! (or takes its result at once if it already has one and nothing of its
//! own is pending). Callbacks added while the chain is running are picked up
//! by the same loop (the `running` flag stops re-entry). A panic inside a
//! pair becomes a [`PanicError`] failure. A chain dropped while holding a
//! failure logs it as unhandled.

use std::any::Any;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use super::failure::{
    AlreadyCalledError, CancelledError, Failure, PanicError, ResultTakenError, ReturnedSelfError,
};
use crate::log::guarded;

/// A result in flight: a boxed value of the chain's current type, or a failure.
pub(crate) type Outcome = Result<Box<dyn Any>, Failure>;

/// What a callback pair hands back.
pub(crate) enum Next {
    /// The new current result.
    Done(Outcome),
    /// Wait for that chain; its result becomes this chain's.
    Wait(Rc<Chain>),
    /// The pair moved the result elsewhere (a future, a gathering list, an
    /// outer chain); this chain is finished.
    Taken,
}

/// One callback/errback pair, already dispatching on the outcome.
pub(crate) type Pair = Box<dyn FnOnce(Outcome) -> Next>;

#[derive(Default)]
struct State {
    result: Option<Outcome>,
    called: bool,
    pairs: VecDeque<Pair>,
    paused: u32,
    running: bool,
    taken: bool,
    canceller: Option<Box<dyn FnOnce()>>,
    suppress_already_called: bool,
    /// The chain a callback returned, held strongly (as Twisted's outer
    /// Deferred holds the inner one as its result) so cancelling reaches it.
    waiting_on: Option<Rc<Chain>>,
}

/// The shared, untyped state of a Deferred.
#[derive(Default)]
pub(crate) struct Chain {
    state: RefCell<State>,
}

impl Chain {
    pub(crate) fn new() -> Rc<Chain> {
        Rc::new(Chain::default())
    }

    pub(crate) fn set_canceller(&self, canceller: Box<dyn FnOnce()>) {
        self.state.borrow_mut().canceller = Some(canceller);
    }

    pub(crate) fn is_called(&self) -> bool {
        self.state.borrow().called
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.state.borrow().paused > 0
    }

    /// `Some(true)` for a success, `Some(false)` for a failure, `None` if
    /// there is no result to look at (not fired, running, waiting or taken).
    pub(crate) fn peek(&self) -> Option<bool> {
        self.state.borrow().result.as_ref().map(|r| r.is_ok())
    }

    /// Fires the chain with its first result.
    pub(crate) fn fire(self: &Rc<Self>, outcome: Outcome) -> Result<(), AlreadyCalledError> {
        {
            let mut st = self.state.borrow_mut();
            if st.called {
                if st.suppress_already_called {
                    st.suppress_already_called = false;
                    return Ok(());
                }
                return Err(AlreadyCalledError);
            }
            st.called = true;
            st.canceller = None;
            st.result = Some(outcome);
        }
        self.run();
        Ok(())
    }

    /// Appends a pair; runs it at once if the chain has a result.
    pub(crate) fn add(self: &Rc<Self>, pair: Pair) {
        let called = {
            let mut st = self.state.borrow_mut();
            st.pairs.push_back(pair);
            st.called
        };
        if called {
            self.run();
        }
    }

    /// Cancels: see `Deferred::cancel`.
    pub(crate) fn cancel(self: &Rc<Self>) {
        let (called, canceller, waiting_on) = {
            let mut st = self.state.borrow_mut();
            (st.called, st.canceller.take(), st.waiting_on.clone())
        };
        if called {
            if let Some(inner) = waiting_on {
                inner.cancel();
            }
            return;
        }
        match canceller {
            Some(canceller) => {
                if let Err(msg) = guarded(canceller) {
                    crate::log::log_panic("a Deferred's canceller", &msg);
                }
            }
            None => self.state.borrow_mut().suppress_already_called = true,
        }
        if !self.is_called() {
            let _ = self.fire(Err(Failure::new(CancelledError)));
        }
    }

    /// Takes the result if this chain has one and nothing else will use it.
    pub(crate) fn take_ready(&self) -> Option<Outcome> {
        let mut st = self.state.borrow_mut();
        if st.called && !st.running && st.paused == 0 && st.pairs.is_empty() && !st.taken {
            let result = st.result.take();
            if result.is_some() {
                st.taken = true;
            }
            return result;
        }
        None
    }

    /// Runs pairs until none is left, the chain pauses, or it is taken.
    fn run(self: &Rc<Self>) {
        loop {
            let (pair, outcome) = {
                let mut st = self.state.borrow_mut();
                if st.running || st.paused > 0 || st.taken {
                    return;
                }
                let Some(outcome) = st.result.take() else {
                    return;
                };
                match st.pairs.pop_front() {
                    Some(pair) => {
                        st.running = true;
                        (pair, outcome)
                    }
                    None => {
                        st.result = Some(outcome);
                        return;
                    }
                }
            };
            let next = match guarded(|| pair(outcome)) {
                Ok(next) => next,
                Err(message) => Next::Done(Err(Failure::new(PanicError { message }))),
            };
            self.state.borrow_mut().running = false;
            match next {
                Next::Done(outcome) => self.state.borrow_mut().result = Some(outcome),
                Next::Taken => {
                    self.state.borrow_mut().taken = true;
                    return;
                }
                Next::Wait(inner) => {
                    if Rc::ptr_eq(&inner, self) {
                        self.state.borrow_mut().result = Some(Err(Failure::new(ReturnedSelfError)));
                        continue;
                    }
                    if let Some(outcome) = inner.take_ready() {
                        self.state.borrow_mut().result = Some(outcome);
                        continue;
                    }
                    {
                        let mut st = self.state.borrow_mut();
                        st.paused += 1;
                        st.waiting_on = Some(inner.clone());
                    }
                    let outer = self.clone();
                    inner.add(Box::new(move |outcome| {
                        {
                            let mut st = outer.state.borrow_mut();
                            st.paused -= 1;
                            st.waiting_on = None;
                            st.result = Some(outcome);
                        }
                        outer.run();
                        Next::Taken
                    }));
                    return;
                }
            }
        }
    }
}

impl Drop for Chain {
    fn drop(&mut self) {
        let st = self.state.get_mut();
        if let Some(Err(failure)) = st.result.take() {
            log::error!(target: "gyre::deferred", "Unhandled error in Deferred:");
            log::error!(target: "gyre::deferred", "Unhandled Error\n{failure:?}");
        }
    }
}

/// A pair that takes the result out of the chain and gives it to `f`.
pub(crate) fn taking(f: impl FnOnce(Outcome) + 'static) -> Pair {
    Box::new(move |outcome| {
        f(outcome);
        Next::Taken
    })
}

/// The failure for a result that is no longer there.
pub(crate) fn taken_failure() -> Failure {
    Failure::new(ResultTakenError)
}
