//! The ordered store of the timer queue: which call runs next.
//!
//! `Shared` (`delayed.rs`) owns one `Queue` inside a `RefCell`, and
//! [`Timers`](super::Timers) (`timers.rs`) never holds that borrow while
//! user code runs; this file is the mechanism behind them, and knows nothing
//! of clocks or panics. It is the lowest file of the module but `heap.rs`:
//! it names no other.
//!
//! # What it owns
//!
//! * `heap`: a 4-ary min-heap (`heap.rs`) of entries `(key, call)` ordered
//!   by `key = (deadline, sequence number)`, the deadline in nanoseconds
//!   since the queue's origin (24-byte entries, cheap to compare). Sequence
//!   numbers are unique, so equal deadlines come out in scheduling order;
//! * `batch`: during a run that has many calls due, the due entries taken
//!   off the heap in one sweep, sorted by key (see *Bulk expiry*);
//! * `held`: entries taken off the heap during a reactor pass because they
//!   were scheduled during that pass (sequence number at or over the pass's
//!   limit);
//! * `pending`: how many calls are pending (neither called nor cancelled);
//! * `next_seq`: the next sequence number; every schedule, `reset` and
//!   `delay` takes a fresh one.
//!
//! `batch` and `held` are empty between runs: when a run ends (also when a
//! call panics through it) what is left in them goes back on the heap.
//!
//! Each call (`CallInner`, after `Queue` in this file) keeps its state, its
//! `time` and `key` (where it is scheduled) and `entry` (the key of the one
//! queue entry that stands for it).
//!
//! # Invariants
//!
//! 1. An entry is *live* when its call is pending and `call.entry == key`;
//!    every other entry is *dead* and is dropped when it reaches the front
//!    (lazy cancellation).
//! 2. Every pending call has exactly one live entry, in `heap`, `batch` or
//!    `held`; so their total length minus `pending` is the number of dead
//!    entries.
//! 3. For a pending call, `entry <= key`. Moving a call later (`reset` to a
//!    later time, `delay`, which an idle timeout does on every message) only
//!    updates `key`: when the old entry reaches the front it is pushed again
//!    under the new key. Moving it earlier pushes a new entry at once and
//!    leaves the old one dead.
//! 4. When dead entries outnumber live ones (and there are at least
//!    `COMPACT_MIN` entries), every dead entry is dropped and the heap is
//!    rebuilt: memory stays within a small factor of the pending calls, at
//!    amortised O(1) per dead entry.
//! 5. A cancelled call drops its function at once; a dead entry only keeps
//!    the small `CallInner` alive until it is popped or compacted away, and
//!    dropping it never runs user code.
//! 6. `batch` is sorted, and every entry in it was due when it was swept.
//!
//! # Bulk expiry
//!
//! Popping a heap of a million entries costs a cache miss per level. When a
//! single run has already popped more than `1/BULK_FRACTION` of the heap
//! (and at least `BULK_MIN` entries) and more are due, the run sweeps the
//! heap once: due entries go to `batch`, sorted, the rest is re-heapified in
//! linear time. The run then takes the smaller of the heap's top and the
//! batch's front each time, so the order is the same as with pops alone.
//! The sweep costs about what the run already spent, so it at most doubles
//! a run that would have stopped soon after, and makes a mass expiry several
//! times faster.
//!
//! Tests: at the bottom of this file, including a property test against a
//! model of (deadline, sequence) order; the run semantics are tested in
//! `timers.rs`.

use std::cell::Cell;
use std::cmp::Ordering;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Instant;

use super::heap::Heap;

/// Where a call is scheduled: (deadline in nanoseconds since the queue's
/// origin, sequence number).
pub(super) type Key = (u64, u64);

/// Below this many entries the queue is never compacted.
const COMPACT_MIN: usize = 64;

/// A run sweeps the heap for due entries only after popping this many...
/// (the tests schedule enough calls to reach it).
const BULK_MIN: usize = 256;

/// ...and this fraction of the heap's entries.
const BULK_FRACTION: usize = 256;

/// The ordered entries; see the invariants at the top of this file.
pub(super) struct Queue {
    heap: Heap<Entry>,
    batch: VecDeque<Entry>,
    held: Vec<Entry>,
    pending: usize,
    next_seq: u64,
}

/// One queue entry: a key and the call it may stand for.
struct Entry {
    key: Key,
    call: Rc<CallInner>,
}

/// One run of due calls, from [`Queue::begin_run`].
pub(super) struct Run {
    /// Run calls due at or before this many ticks.
    now: u64,
    /// Hold back calls with this sequence number or higher.
    limit: u64,
    /// Calls taken off the heap so far.
    popped: usize,
    /// True once the heap has been swept for due entries.
    swept: bool,
}

impl Entry {
    /// True if this entry stands for a pending call (invariant 1).
    fn is_live(&self) -> bool {
        self.call.state.get() == State::Pending && self.call.entry.get() == self.key
    }

    /// True if the entry is live but its call was moved later (invariant 3).
    fn is_outdated(&self) -> bool {
        self.key != self.call.key.get()
    }

    /// Gives the entry its call's current key.
    fn rekey(&mut self) {
        let key = self.call.key.get();
        self.key = key;
        self.call.entry.set(key);
    }

    /// For compaction: false for a dead entry; a live one gets its call's
    /// current key.
    fn keep_if_live(&mut self) -> bool {
        let live = self.is_live();
        if live {
            self.rekey();
        }
        live
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Entry) -> Ordering {
        self.key.cmp(&other.key)
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Entry) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        self.key == other.key
    }
}

impl Eq for Entry {}

impl Queue {
    pub(super) fn new() -> Queue {
        Queue {
            heap: Heap::new(),
            batch: VecDeque::new(),
            held: Vec::new(),
            pending: 0,
            next_seq: 0,
        }
    }

    /// A fresh sequence number.
    pub(super) fn take_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// How many calls are pending.
    pub(super) fn pending(&self) -> usize {
        self.pending
    }

    /// Every entry, live or dead.
    pub(super) fn entries(&self) -> usize {
        self.heap.len() + self.batch.len() + self.held.len()
    }

    /// Adds a new pending call, whose `key` and `entry` are both `key`.
    pub(super) fn insert(&mut self, key: Key, call: Rc<CallInner>) {
        self.heap.push(Entry { key, call });
        self.pending += 1;
    }

    /// Bookkeeping for a pending call that was just cancelled.
    pub(super) fn forget(&mut self) {
        self.pending -= 1;
        self.maybe_compact();
    }

    /// Gives a pending call the (fresh) `key` (invariant 3).
    pub(super) fn reschedule(&mut self, call: &Rc<CallInner>, key: Key) {
        call.key.set(key);
        if key < call.entry.get() {
            call.entry.set(key);
            self.heap.push(Entry {
                key,
                call: call.clone(),
            });
            self.maybe_compact();
        }
    }

    /// The time of the earliest pending call. Drops dead entries from the
    /// top of the heap and re-keys a later-moved call found there.
    pub(super) fn next_deadline(&mut self) -> Option<Instant> {
        let in_heap = self.settle_top().map(|entry| entry.call.time.get());
        let aside = self
            .side_entries()
            .filter(|e| e.is_live())
            .map(|e| e.call.time.get())
            .min();
        match (in_heap, aside) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The pending calls with their keys, in no particular order.
    pub(super) fn live_calls(&self) -> Vec<(Key, Rc<CallInner>)> {
        self.heap
            .iter()
            .chain(self.side_entries())
            .filter(|e| e.is_live())
            .map(|e| (e.call.key.get(), e.call.clone()))
            .collect()
    }

    /// Starts a run of the calls due at `now` (in ticks); with
    /// `this_pass_only`, calls scheduled from here on are held back.
    pub(super) fn begin_run(&mut self, now: u64, this_pass_only: bool) -> Run {
        self.end_run();
        Run {
            now,
            limit: if this_pass_only {
                self.next_seq
            } else {
                u64::MAX
            },
            popped: 0,
            swept: false,
        }
    }

    /// Puts `batch` and `held` back on the heap.
    pub(super) fn end_run(&mut self) {
        if !self.batch.is_empty() {
            let batch = std::mem::take(&mut self.batch);
            self.heap.extend(batch);
        }
        if !self.held.is_empty() {
            let held = std::mem::take(&mut self.held);
            self.heap.extend(held);
        }
    }

    /// Takes the next due call off the queue, marks it called and returns
    /// its function; calls with a sequence number at or over the run's
    /// limit are held back.
    pub(super) fn pop_due(&mut self, run: &mut Run) -> Option<Box<dyn FnOnce()>> {
        loop {
            self.settle_batch();
            let top = self.settle_top().map(|entry| entry.key);
            let from_batch = match (self.batch.front(), top) {
                (Some(front), Some(top)) => front.key < top,
                (Some(_), None) => true,
                (None, Some(top)) if top.0 <= run.now => false,
                (None, _) => return None,
            };
            let entry = if from_batch {
                self.batch.pop_front()?
            } else if !run.swept && run.popped >= BULK_MIN.max(self.heap.len() / BULK_FRACTION) {
                self.sweep_due(run);
                continue;
            } else {
                run.popped += 1;
                self.heap.pop()?
            };
            if entry.key.1 >= run.limit {
                self.held.push(entry);
                continue;
            }
            entry.call.state.set(State::Called);
            self.pending -= 1;
            if let Some(f) = entry.call.f.take() {
                return Some(f);
            }
        }
    }

    /// Marks every pending call cancelled and empties the queue; returns
    /// their functions, for the caller to drop once nothing is borrowed.
    pub(super) fn cancel_all(&mut self) -> Vec<Box<dyn FnOnce()>> {
        let mut entries = std::mem::replace(&mut self.heap, Heap::new()).into_vec();
        entries.extend(self.batch.drain(..));
        entries.append(&mut self.held);
        self.pending = 0;
        let mut functions = Vec::new();
        for entry in &entries {
            if entry.call.state.get() == State::Pending {
                entry.call.state.set(State::Cancelled);
                functions.extend(entry.call.f.take());
            }
        }
        functions
    }

    /// The entries off the heap for the current run.
    fn side_entries(&self) -> impl Iterator<Item = &Entry> {
        self.batch.iter().chain(self.held.iter())
    }

    /// Pops entries until the heap's top is live and under its call's
    /// current key; returns that top entry.
    fn settle_top(&mut self) -> Option<&Entry> {
        loop {
            let top = self.heap.peek()?;
            if !top.is_live() {
                self.heap.pop();
            } else if top.is_outdated() {
                let mut entry = self.heap.pop()?;
                entry.rekey();
                self.heap.push(entry);
            } else {
                return self.heap.peek();
            }
        }
    }

    /// Drops dead entries from the front of `batch`, and moves an outdated
    /// one back to the heap under its new key.
    fn settle_batch(&mut self) {
        while let Some(front) = self.batch.front() {
            if !front.is_live() {
                self.batch.pop_front();
            } else if front.is_outdated() {
                if let Some(mut entry) = self.batch.pop_front() {
                    entry.rekey();
                    self.heap.push(entry);
                }
            } else {
                return;
            }
        }
    }

    /// Moves every due entry of the heap to `batch`, sorted (see *Bulk
    /// expiry*). Liveness is left to `settle_batch`: checking it here would
    /// cost a cache miss per entry.
    fn sweep_due(&mut self, run: &mut Run) {
        run.swept = true;
        let entries = std::mem::replace(&mut self.heap, Heap::new()).into_vec();
        let (mut due, rest): (Vec<Entry>, Vec<Entry>) = entries
            .into_iter()
            .partition(|e| e.key.0 <= run.now && e.key.1 < run.limit);
        due.sort_unstable();
        self.heap = Heap::from_vec(rest);
        if self.batch.is_empty() {
            self.batch = VecDeque::from(due);
        } else {
            self.batch.extend(due);
            self.batch.make_contiguous().sort_unstable();
        }
    }

    /// Drops every dead entry when dead ones outnumber live ones
    /// (invariant 4); live ones get their call's current key.
    fn maybe_compact(&mut self) {
        let total = self.entries();
        if total < COMPACT_MIN || total - self.pending <= self.pending {
            return;
        }
        let mut entries = std::mem::replace(&mut self.heap, Heap::new()).into_vec();
        entries.retain_mut(Entry::keep_if_live);
        // The batch stays sorted; a call moved later goes back to the heap.
        for mut entry in std::mem::take(&mut self.batch) {
            if !entry.is_live() {
                continue;
            }
            if entry.is_outdated() {
                entry.rekey();
                entries.push(entry);
            } else {
                self.batch.push_back(entry);
            }
        }
        self.held.retain_mut(Entry::keep_if_live);
        self.heap = Heap::from_vec(entries);
    }
}

/// Where a call is in its life. It only moves forward, out of `Pending`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// Scheduled: not yet called, not cancelled.
    Pending,
    /// Taken off the queue to run (the function may be running right now).
    Called,
    /// Cancelled, or its queue was dropped before it ran.
    Cancelled,
}

/// One scheduled call, shared by its [`DelayedCall`](super::DelayedCall)
/// handles and the queue.
pub(super) struct CallInner {
    /// Where the call is in its life.
    pub(super) state: Cell<State>,
    /// The time the call is scheduled for.
    pub(super) time: Cell<Instant>,
    /// Where the call is scheduled in the queue's order: `time` in the
    /// queue's ticks, and a sequence number.
    pub(super) key: Cell<Key>,
    /// The key of the queue entry that stands for this call; never later
    /// than `key` while the call is pending (see the invariants in `queue.rs`).
    pub(super) entry: Cell<Key>,
    /// The function; `None` once called or cancelled.
    pub(super) f: Cell<Option<Box<dyn FnOnce()>>>,
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::error::DelayedCallError;
    use crate::time::DelayedCall;
    use proptest::prelude::*;
    use std::cell::RefCell;
    use std::time::Duration;

    /// Calls with equal deadlines run in the order they were scheduled.
    #[test]
    fn equal_deadlines_run_fifo() {
        let (timers, _) = virtual_timers();
        let log = Log::default();
        for id in 0..50 {
            timers.call_later(ms(10), record(&log, id));
        }
        timers.call_later(ms(5), record(&log, 100));
        assert_eq!(advance(&timers, ms(10), true), 51);
        let mut expected = vec![100];
        expected.extend(0..50);
        assert_eq!(*log.borrow(), expected);
    }

    /// A call held back during a pass is not lost or reordered, even when a
    /// later-scheduled due call sits behind it in the heap.
    #[test]
    fn held_calls_come_back_in_order() {
        let (timers, _) = virtual_timers();
        let log = Log::default();
        let (t, l) = (timers.clone(), log.clone());
        timers.call_later(
            ms(1),
            Box::new(move || {
                t.call_later(Duration::ZERO, record(&l, 10));
                t.call_later(Duration::ZERO, record(&l, 11));
            }),
        );
        timers.call_later(ms(2), record(&log, 2));
        assert_eq!(advance(&timers, ms(2), true), 2);
        assert_eq!(*log.borrow(), [2]);
        assert_eq!(timers.entries(), 2);
        assert_eq!(timers.run_due(timers.now(), true, false), 2);
        assert_eq!(*log.borrow(), [2, 10, 11]);
    }

    /// A run with many due calls (which sweeps them into a sorted batch)
    /// keeps (deadline, sequence) order and skips cancelled calls.
    #[test]
    fn mass_expiry_keeps_order() {
        for this_pass_only in [true, false] {
            let (timers, _) = virtual_timers();
            let log = Log::default();
            let mut seed = 12345u64;
            let mut expected = Vec::new();
            for id in 0..5000u32 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let at = (seed >> 33) % 1000;
                let call = timers.call_later(ms(at), record(&log, id));
                if id % 3 == 0 {
                    call.cancel().unwrap();
                } else {
                    expected.push((at, id));
                }
            }
            expected.sort();
            let expected: Vec<u32> = expected.into_iter().map(|(_, id)| id).collect();
            assert_eq!(advance(&timers, ms(1000), this_pass_only), expected.len());
            assert_eq!(*log.borrow(), expected);
            assert_eq!((timers.len(), timers.entries()), (0, 0));
        }
    }

    /// During a mass expiry, calls may cancel, move and add calls that are
    /// already swept into the batch, and the order stays right.
    #[test]
    fn mass_expiry_with_calls_touching_the_queue() {
        for this_pass_only in [true, false] {
            let (timers, _) = virtual_timers();
            let log = Log::default();
            let calls: Rc<RefCell<Vec<DelayedCall>>> = Rc::default();
            for k in 0..2000u32 {
                let (t, l, c) = (timers.clone(), log.clone(), calls.clone());
                let call = timers.call_later(
                    ms(u64::from(k)),
                    Box::new(move || {
                        l.borrow_mut().push(k);
                        let i = k as usize;
                        match k % 10 {
                            0 if i + 5 < 2000 => c.borrow()[i + 5].cancel().unwrap(),
                            1 if i + 2 < 2000 => c.borrow()[i + 2].reset(Duration::ZERO).unwrap(),
                            7 => drop(t.call_later(Duration::ZERO, record(&l, 10_000 + k))),
                            _ => {}
                        }
                    }),
                );
                calls.borrow_mut().push(call);
            }
            let first: Vec<u32> = (0..2000).filter(|k| k % 10 != 5 && k % 10 != 3).collect();
            let mut moved = Vec::new();
            for k in 0..2000u32 {
                match k % 10 {
                    1 => moved.push(k + 2),
                    7 => moved.push(10_000 + k),
                    _ => {}
                }
            }
            advance(&timers, ms(2000), this_pass_only);
            if this_pass_only {
                assert_eq!(*log.borrow(), first);
                assert_eq!(timers.len(), moved.len());
                timers.run_due(timers.now(), true, false);
            }
            let mut expected = first.clone();
            expected.extend(&moved);
            assert_eq!(*log.borrow(), expected);
            assert_eq!((timers.len(), timers.entries()), (0, 0));
            calls.borrow_mut().clear();
        }
    }

    /// A panic in the middle of a mass expiry leaves the swept calls queued;
    /// they run, in order, on the next run.
    #[test]
    fn panic_during_mass_expiry_keeps_the_rest() {
        let (timers, _) = virtual_timers();
        let log = Log::default();
        for id in 0..1000u32 {
            if id == 500 {
                timers.call_later(ms(u64::from(id)), Box::new(|| panic!("midway")));
            } else {
                timers.call_later(ms(u64::from(id)), record(&log, id));
            }
        }
        let now = timers.now() + ms(1000);
        timers.set_now(now);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            timers.run_due(now, true, false)
        }));
        assert!(result.is_err());
        assert_eq!(*log.borrow(), (0..500).collect::<Vec<u32>>());
        assert_eq!(timers.len(), 499);
        assert_eq!(timers.next_deadline(), Some(now - ms(499)));
        assert_eq!(timers.run_due(now, true, false), 499);
        let expected: Vec<u32> = (0..1000).filter(|&id| id != 500).collect();
        assert_eq!(*log.borrow(), expected);
    }

    /// Resetting one call 100,000 times does not grow the heap: later moves
    /// update the entry in place, earlier moves are compacted away.
    #[test]
    fn resets_do_not_grow_the_heap() {
        let (timers, _) = virtual_timers();
        let log = Log::default();
        let idle = timers.call_later(ms(100), record(&log, 1));
        for i in 0..100_000u64 {
            idle.reset(ms(100)).unwrap();
            if i % 10 == 0 {
                timers.set_now(timers.now() + ms(1));
            }
        }
        assert_eq!(timers.entries(), 1);
        for i in 0..100_000u64 {
            idle.reset(ms(200_000 - i)).unwrap();
        }
        assert!(timers.entries() <= COMPACT_MIN, "{}", timers.entries());
        idle.reset(ms(100)).unwrap();
        assert_eq!(timers.len(), 1);
        assert_eq!(timers.next_deadline(), Some(idle.time()));
        advance(&timers, ms(200), true);
        assert_eq!(*log.borrow(), [1]);
        assert_eq!(timers.entries(), 0);
    }

    /// After most calls are cancelled, the heap is compacted and cancelled
    /// functions are dropped at once.
    #[test]
    fn mass_cancel_compacts_and_drops_functions() {
        let (timers, _) = virtual_timers();
        let token = Rc::new(());
        let calls: Vec<DelayedCall> = (0..10_000u64)
            .map(|i| {
                let t = token.clone();
                timers.call_later(ms(i), Box::new(move || drop(t)))
            })
            .collect();
        assert_eq!(Rc::strong_count(&token), 10_001);
        for call in calls.iter().skip(100) {
            call.cancel().unwrap();
        }
        assert_eq!(Rc::strong_count(&token), 101);
        assert_eq!(timers.len(), 100);
        assert!(timers.entries() <= 2 * 100 + 1, "{}", timers.entries());
        assert_eq!(advance(&timers, ms(20_000), true), 100);
        assert_eq!(Rc::strong_count(&token), 1);
        assert_eq!(timers.entries(), 0);
    }

    /// `next_deadline` skips cancelled entries and follows later moves.
    #[test]
    fn next_deadline_skips_dead_entries() {
        let (timers, start) = virtual_timers();
        assert_eq!(timers.next_deadline(), None);
        let a = timers.call_later(ms(1), Box::new(|| {}));
        let b = timers.call_later(ms(2), Box::new(|| {}));
        let c = timers.call_later(ms(3), Box::new(|| {}));
        assert_eq!(timers.next_deadline(), Some(start + ms(1)));
        a.cancel().unwrap();
        assert_eq!(timers.next_deadline(), Some(start + ms(2)));
        b.delay(ms(5)).unwrap();
        assert_eq!(timers.next_deadline(), Some(start + ms(3)));
        c.cancel().unwrap();
        assert_eq!(timers.next_deadline(), Some(start + ms(7)));
        b.cancel().unwrap();
        assert_eq!(timers.next_deadline(), None);
        assert_eq!(timers.entries(), 0);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Schedule(u64),
        /// Schedules this many calls (over `BULK_MIN`, so that one run can
        /// sweep) spread over the next so many milliseconds.
        ScheduleMany(usize, u64),
        Cancel(usize),
        Reset(usize, u64),
        Delay(usize, u64),
        Advance(u64, bool),
    }

    fn op() -> impl Strategy<Value = Op> {
        // About one bulk schedule a sequence, due within a few milliseconds,
        // so that many runs sweep, and the model (checked after every op)
        // stays small enough to be quick.
        prop_oneof![
            40 => (0..40u64).prop_map(Op::Schedule),
            1 => (BULK_MIN + 1..BULK_MIN + 64, 1..8u64).prop_map(|(n, d)| Op::ScheduleMany(n, d)),
            20 => any::<usize>().prop_map(Op::Cancel),
            20 => (any::<usize>(), 0..40u64).prop_map(|(i, d)| Op::Reset(i, d)),
            10 => (any::<usize>(), 0..40u64).prop_map(|(i, d)| Op::Delay(i, d)),
            20 => (0..20u64, any::<bool>()).prop_map(|(d, p)| Op::Advance(d, p)),
        ]
    }

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Model {
        Pending(u64, u64),
        Fired,
        Cancelled,
    }

    impl Model {
        fn error(self) -> Result<(), DelayedCallError> {
            match self {
                Model::Pending(..) => Ok(()),
                Model::Fired => Err(DelayedCallError::AlreadyCalled),
                Model::Cancelled => Err(DelayedCallError::AlreadyCancelled),
            }
        }
    }

    proptest! {
        /// For random schedules (some of more than `BULK_MIN` calls at once, so
        /// that runs sweep), cancels, resets and delays, calls fire in
        /// (deadline, sequence) order and exactly the non-cancelled ones fire.
        #[test]
        fn fires_in_deadline_sequence_order(ops in proptest::collection::vec(op(), 1..200)) {
            let (timers, start) = virtual_timers();
            let log = Log::default();
            let mut calls: Vec<DelayedCall> = Vec::new();
            let mut model: Vec<Model> = Vec::new();
            let (mut now, mut seq) = (0u64, 0u64);
            for op in ops {
                match op {
                    Op::Schedule(d) => {
                        calls.push(timers.call_later(ms(d), record(&log, calls.len() as u32)));
                        model.push(Model::Pending(now + d, seq));
                        seq += 1;
                    }
                    Op::ScheduleMany(n, spread) => {
                        for k in 0..n as u64 {
                            let d = (k * 7) % spread;
                            calls.push(timers.call_later(ms(d), record(&log, calls.len() as u32)));
                            model.push(Model::Pending(now + d, seq));
                            seq += 1;
                        }
                    }
                    Op::Cancel(i) | Op::Reset(i, _) | Op::Delay(i, _) if calls.is_empty() => {
                        let _ = i;
                    }
                    Op::Cancel(i) => {
                        let i = i % calls.len();
                        prop_assert_eq!(calls[i].cancel(), model[i].error());
                        if model[i].error().is_ok() {
                            model[i] = Model::Cancelled;
                        }
                    }
                    Op::Reset(i, d) | Op::Delay(i, d) => {
                        let i = i % calls.len();
                        let result = if matches!(op, Op::Reset(..)) {
                            calls[i].reset(ms(d))
                        } else {
                            calls[i].delay(ms(d))
                        };
                        prop_assert_eq!(result, model[i].error());
                        if let Model::Pending(at, _) = model[i] {
                            let at = if matches!(op, Op::Reset(..)) { now + d } else { at + d };
                            model[i] = Model::Pending(at, seq);
                            seq += 1;
                        }
                    }
                    Op::Advance(d, this_pass_only) => {
                        now += d;
                        let mut due: Vec<(u64, u64, u32)> = model
                            .iter()
                            .enumerate()
                            .filter_map(|(i, m)| match *m {
                                Model::Pending(at, s) if at <= now => Some((at, s, i as u32)),
                                _ => None,
                            })
                            .collect();
                        due.sort();
                        for &(_, _, i) in &due {
                            model[i as usize] = Model::Fired;
                        }
                        advance(&timers, ms(d), this_pass_only);
                        let fired: Vec<u32> = log.borrow_mut().drain(..).collect();
                        let expected: Vec<u32> = due.iter().map(|&(_, _, i)| i).collect();
                        prop_assert_eq!(fired, expected);
                    }
                }
                let mut pending: Vec<(u64, u64, usize)> = model
                    .iter()
                    .enumerate()
                    .filter_map(|(i, m)| match *m {
                        Model::Pending(at, s) => Some((at, s, i)),
                        _ => None,
                    })
                    .collect();
                pending.sort();
                let expected: Vec<DelayedCall> =
                    pending.iter().map(|&(_, _, i)| calls[i].clone()).collect();
                prop_assert_eq!(timers.pending(), expected);
                prop_assert_eq!(timers.len(), pending.len());
                prop_assert_eq!(
                    timers.next_deadline(),
                    pending.first().map(|&(at, _, _)| start + ms(at))
                );
            }
            advance(&timers, ms(1_000_000), true);
            let mut fired: Vec<u32> = log.borrow().clone();
            fired.sort();
            let survivors: Vec<u32> = model
                .iter()
                .enumerate()
                .filter(|(_, m)| matches!(m, Model::Pending(..)))
                .map(|(i, _)| i as u32)
                .collect();
            prop_assert_eq!(fired, survivors);
            prop_assert_eq!(timers.len(), 0);
        }
    }
}
