//! A 4-ary min-heap: the timer queue's ordered store.
//!
//! With a million timers the heap no longer fits in cache and `pop` is
//! bound by memory access, one miss per level. Four children per node halve
//! the depth of a binary heap, and the four sit next to each other (one or
//! two cache lines), so popping is about twice as fast as with
//! `std::collections::BinaryHeap`. `pop` moves the hole to the bottom along
//! the smallest children and then sifts the last item up from there, which
//! saves comparisons because that item nearly always belongs near the bottom.
//!
//! Tests: at the bottom of this file (against sorting).

/// A min-heap: [`pop`](Self::pop) returns the smallest item.
pub(super) struct Heap<T> {
    items: Vec<T>,
}

const ARITY: usize = 4;

impl<T: Ord> Heap<T> {
    pub(super) fn new() -> Heap<T> {
        Heap { items: Vec::new() }
    }

    /// A heap of `items`, built in O(n).
    pub(super) fn from_vec(items: Vec<T>) -> Heap<T> {
        let mut heap = Heap { items };
        let n = heap.items.len();
        if n > 1 {
            for i in (0..=(n - 2) / ARITY).rev() {
                heap.sift_down(i);
            }
        }
        heap
    }

    /// The items, in no particular order.
    pub(super) fn into_vec(self) -> Vec<T> {
        self.items
    }

    pub(super) fn len(&self) -> usize {
        self.items.len()
    }

    /// The items, in no particular order.
    pub(super) fn iter(&self) -> std::slice::Iter<'_, T> {
        self.items.iter()
    }

    /// The smallest item.
    pub(super) fn peek(&self) -> Option<&T> {
        self.items.first()
    }

    pub(super) fn push(&mut self, item: T) {
        self.items.push(item);
        self.sift_up(self.items.len() - 1);
    }

    /// Removes and returns the smallest item.
    pub(super) fn pop(&mut self) -> Option<T> {
        let top = self.items.pop()?;
        if self.items.is_empty() {
            return Some(top);
        }
        // `top` is really the last item; put it at the root and take the root.
        let top = std::mem::replace(&mut self.items[0], top);
        let hole = self.hole_to_bottom();
        self.sift_up(hole);
        Some(top)
    }

    /// Moves the root down along the smallest children to a leaf; returns
    /// where it ends up.
    fn hole_to_bottom(&mut self) -> usize {
        let n = self.items.len();
        let mut i = 0;
        loop {
            let first = ARITY * i + 1;
            if first >= n {
                return i;
            }
            let child = self.smallest_child(first, n);
            self.items.swap(i, child);
            i = child;
        }
    }

    /// Index of the smallest of the children starting at `first`.
    fn smallest_child(&self, first: usize, n: usize) -> usize {
        let end = (first + ARITY).min(n);
        let mut best = first;
        for c in first + 1..end {
            if self.items[c] < self.items[best] {
                best = c;
            }
        }
        best
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / ARITY;
            if self.items[i] >= self.items[parent] {
                break;
            }
            self.items.swap(i, parent);
            i = parent;
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.items.len();
        loop {
            let first = ARITY * i + 1;
            if first >= n {
                return;
            }
            let child = self.smallest_child(first, n);
            if self.items[child] >= self.items[i] {
                return;
            }
            self.items.swap(i, child);
            i = child;
        }
    }
}

impl<T: Ord> Extend<T> for Heap<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        for item in iter {
            self.push(item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Pushes and pops, interleaved, return items in sorted order; a
        /// heap built from a vector pops sorted too.
        #[test]
        fn pops_in_order(ops in proptest::collection::vec(proptest::option::of(0..50u32), 0..300)) {
            let mut heap = Heap::new();
            let mut model = Vec::new();
            for op in ops {
                match op {
                    Some(x) => {
                        heap.push(x);
                        model.push(x);
                    }
                    None => {
                        model.sort_unstable_by(|a, b| b.cmp(a));
                        prop_assert_eq!(heap.pop(), model.pop());
                    }
                }
                prop_assert_eq!(heap.len(), model.len());
                prop_assert_eq!(heap.peek().copied(), model.iter().min().copied());
            }
            let mut rebuilt = Heap::from_vec(heap.into_vec());
            model.sort_unstable();
            let mut out = Vec::new();
            while let Some(x) = rebuilt.pop() {
                out.push(x);
            }
            prop_assert_eq!(out, model);
        }
    }
}
