//! The reactor's local executor: `!Send` futures polled on the reactor thread.
//!
//! A task is a boxed future in a slab slot, found by (key, generation) so a
//! waker left over from a finished task cannot poll a new one in the same
//! slot. Waking pushes the task's id on a queue (a `Mutex`, since `Waker`
//! must be `Send`); a wake from another thread also wakes the poller. Each
//! iteration polls the tasks that were woken before it began; tasks woken
//! meanwhile wait for the next iteration, like every other queue here.
//! A task is polled with no borrow of the slab held, so it may spawn or
//! cancel tasks, itself included.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Wake, Waker};
use std::thread::ThreadId;

use slab::Slab;

use super::threads::ThreadQueue;

type Task = Pin<Box<dyn Future<Output = ()>>>;

enum Slot {
    Idle(Task),
    /// Taken out for polling; `true` once cancelled during the poll.
    Polling(bool),
}

struct Entry {
    generation: u64,
    slot: Slot,
    waker: Waker,
}

/// The ids of woken tasks, shared with every waker.
pub(crate) struct WakeQueue {
    woken: Mutex<Vec<(usize, u64)>>,
    /// Raised after every push, lowered by the reactor before it takes the
    /// queue: an iteration with nothing woken costs one atomic swap, no lock.
    pending: AtomicBool,
    reactor_thread: ThreadId,
    threads: Arc<ThreadQueue>,
}

impl WakeQueue {
    fn push(&self, id: (usize, u64)) {
        self.woken
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(id);
        self.pending.store(true, Ordering::Release);
        if std::thread::current().id() != self.reactor_thread {
            self.threads.wake();
        }
    }
}

struct TaskWaker {
    queue: Arc<WakeQueue>,
    id: (usize, u64),
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.queue.push(self.id);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.queue.push(self.id);
    }
}

pub(crate) struct Tasks {
    entries: RefCell<Slab<Entry>>,
    next_generation: std::cell::Cell<u64>,
    queue: Arc<WakeQueue>,
    /// The emptied list from the last pass, kept for its capacity.
    spare: std::cell::Cell<Vec<(usize, u64)>>,
}

impl Tasks {
    pub(crate) fn new(threads: Arc<ThreadQueue>) -> Tasks {
        Tasks {
            entries: RefCell::new(Slab::new()),
            next_generation: std::cell::Cell::new(0),
            spare: std::cell::Cell::new(Vec::new()),
            queue: Arc::new(WakeQueue {
                woken: Mutex::new(Vec::new()),
                pending: AtomicBool::new(false),
                reactor_thread: std::thread::current().id(),
                threads,
            }),
        }
    }

    /// Adds a task and queues its first poll. Returns its id.
    pub(crate) fn spawn(&self, task: Task) -> (usize, u64) {
        let generation = self.next_generation.get();
        self.next_generation.set(generation + 1);
        let mut entries = self.entries.borrow_mut();
        let entry = entries.vacant_entry();
        let id = (entry.key(), generation);
        let waker = Waker::from(Arc::new(TaskWaker {
            queue: self.queue.clone(),
            id,
        }));
        entry.insert(Entry {
            generation,
            slot: Slot::Idle(task),
            waker,
        });
        drop(entries);
        self.queue.push(id);
        id
    }

    /// Drops a task (it will not be polled again). During its own poll, it
    /// is dropped when the poll returns.
    pub(crate) fn cancel(&self, id: (usize, u64)) {
        let removed = {
            let mut entries = self.entries.borrow_mut();
            match entries.get_mut(id.0) {
                Some(e) if e.generation == id.1 => match &mut e.slot {
                    Slot::Polling(cancelled) => {
                        *cancelled = true;
                        None
                    }
                    Slot::Idle(_) => Some(entries.remove(id.0)),
                },
                _ => None,
            }
        };
        // Dropped outside the borrow: the future's drop may touch tasks.
        drop(removed);
    }

    /// True if some task was woken and waits for a poll.
    pub(crate) fn has_woken(&self) -> bool {
        self.queue.pending.load(Ordering::Acquire)
    }

    /// Polls every task woken before this call.
    pub(crate) fn run_woken(&self) {
        if !self.queue.pending.swap(false, Ordering::AcqRel) {
            return;
        }
        // Swap in the spare list so neither side allocates in steady state.
        let mut woken = self.spare.take();
        std::mem::swap(
            &mut woken,
            &mut *self.queue.woken.lock().unwrap_or_else(|e| e.into_inner()),
        );
        for id in woken.drain(..) {
            self.poll_one(id);
            crate::blocked::lap(|site, token| {
                if token == crate::blocked::FUTURE {
                    format!("the future {site}")
                } else {
                    "a spawned future".to_string()
                }
            });
        }
        self.spare.set(woken);
    }

    fn poll_one(&self, id: (usize, u64)) {
        let (mut task, waker) = {
            let mut entries = self.entries.borrow_mut();
            match entries.get_mut(id.0) {
                Some(e) if e.generation == id.1 => {
                    match std::mem::replace(&mut e.slot, Slot::Polling(false)) {
                        Slot::Idle(task) => (task, e.waker.clone()),
                        polling => {
                            e.slot = polling;
                            return;
                        }
                    }
                }
                _ => return,
            }
        };
        let mut cx = Context::from_waker(&waker);
        // Spawned futures catch their own panics (see `Reactor::spawn`).
        let done = task.as_mut().poll(&mut cx).is_ready();
        let finished = {
            let mut entries = self.entries.borrow_mut();
            let cancelled = matches!(
                entries.get(id.0).map(|e| &e.slot),
                Some(Slot::Polling(true))
            );
            if done || cancelled {
                entries.remove(id.0);
                Some(task)
            } else {
                if let Some(e) = entries.get_mut(id.0) {
                    e.slot = Slot::Idle(task);
                }
                None
            }
        };
        drop(finished);
    }

    /// Drops every task (the reactor has finished).
    pub(crate) fn clear(&self) {
        let all: Vec<Entry> = self.entries.borrow_mut().drain().collect();
        drop(all);
        self.queue
            .woken
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// How many tasks exist.
    pub(crate) fn len(&self) -> usize {
        self.entries.borrow().len()
    }
}
