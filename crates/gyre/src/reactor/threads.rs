//! The one door in from other threads: [`ThreadHandle::call_from_thread`].
//!
//! Owns a queue of `Send` closures and the reactor's `mio::Waker`. A call
//! pushes onto the queue and wakes the reactor unless a wake is already
//! pending; the reactor drains the queue at the start of each iteration, in
//! FIFO order (calls queued while it drains wait for the next iteration).
//! Tests: `tests/reactor.rs`.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::Reactor;

type ThreadCall = Box<dyn FnOnce(&Reactor) + Send>;

pub(crate) struct ThreadQueue {
    calls: Mutex<Vec<ThreadCall>>,
    wake_pending: AtomicBool,
    closed: AtomicBool,
    waker: mio::Waker,
    /// The reactor's thread (a reactor is made on the thread it runs on).
    owner: std::thread::ThreadId,
}

impl ThreadQueue {
    pub(crate) fn new(waker: mio::Waker) -> ThreadQueue {
        ThreadQueue {
            calls: Mutex::new(Vec::new()),
            wake_pending: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            waker,
            owner: std::thread::current().id(),
        }
    }

    /// True on the reactor's own thread.
    pub(crate) fn is_reactor_thread(&self) -> bool {
        std::thread::current().id() == self.owner
    }

    /// Takes the queued calls (the reactor runs them outside the lock).
    ///
    /// A caller pushes, then raises `wake_pending`; so when the flag is down
    /// there is nothing to take yet (or its raise, and wake, is still to
    /// come), and the common case costs one atomic swap and no lock.
    pub(crate) fn take(&self) -> Vec<ThreadCall> {
        if !self.wake_pending.swap(false, Ordering::SeqCst) {
            return Vec::new();
        }
        std::mem::take(&mut *self.calls.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// True if calls are (or are about to be) queued.
    pub(crate) fn has_calls(&self) -> bool {
        self.wake_pending.load(Ordering::SeqCst)
    }

    /// Wakes the poller (for work queued elsewhere, such as a woken task).
    pub(crate) fn wake(&self) {
        if !self.wake_pending.swap(true, Ordering::SeqCst) {
            let _ = self.waker.wake();
        }
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// A `Send` handle for handing work to a reactor from any thread.
///
/// ```
/// use gyre::Reactor;
///
/// let reactor = Reactor::new().unwrap();
/// # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
/// # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
/// let handle = reactor.thread_handle();
/// let later = handle.clone();
/// std::thread::spawn(move || {
///     // ... blocking work ...
///     handle.call_from_thread(|reactor| { reactor.stop().unwrap(); });
/// });
/// reactor.run().unwrap();
///
/// // Once the reactor has finished, calls are refused (and dropped).
/// assert!(!later.call_from_thread(|_| unreachable!()));
/// ```
#[derive(Clone)]
pub struct ThreadHandle {
    pub(crate) queue: Arc<ThreadQueue>,
}

impl ThreadHandle {
    /// Runs `f` on the reactor thread at the start of its next iteration.
    /// Returns false (and drops `f`) if the reactor has finished running.
    pub fn call_from_thread(&self, f: impl FnOnce(&Reactor) + Send + 'static) -> bool {
        if self.queue.closed.load(Ordering::SeqCst) {
            return false;
        }
        self.queue
            .calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Box::new(f));
        if !self.queue.wake_pending.swap(true, Ordering::SeqCst) {
            // A failed wake means the poller is gone; the call is dropped with it.
            let _ = self.queue.waker.wake();
        }
        true
    }

    /// Asks the reactor to stop, from any thread (a stop of a reactor that is
    /// already stopping is ignored).
    pub fn stop(&self) -> bool {
        self.call_from_thread(|r| {
            let _ = r.stop();
        })
    }
}

impl fmt::Debug for ThreadHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadHandle")
            .field("closed", &self.queue.closed.load(Ordering::SeqCst))
            .finish()
    }
}
