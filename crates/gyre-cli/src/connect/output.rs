//! The connection → standard output, through a bounded queue.
//!
//! The protocol pushes every chunk it receives onto an [`OutQueue`]; a
//! helper thread ([`spawn_writer`]) takes them off and writes them to
//! standard output, which may block for as long as the reader of our output
//! pleases. When more than [`HIGH`] bytes are queued, [`OutQueue::push`]
//! says so and the protocol pauses reading from the socket; once the writer
//! has taken the queue down to [`LOW`] bytes, it asks the reactor to resume.
//! A slow standard output therefore slows the peer down through TCP instead
//! of growing memory. The thresholds are kept apart ([`Backlog`]) so a
//! queue hovering at the limit does not pause and resume on every chunk.
//!
//! At the end the reactor closes the queue; the writer writes what is left,
//! flushes, and marks the queue finished, which the main thread waits for
//! before exiting. A write error (a closed pipe, a full disk) ends the
//! writer at once: queued data is dropped and the error is reported.
//! Tests are at the bottom of this file.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// Queued bytes above which reading from the socket pauses.
pub(crate) const HIGH: usize = 256 * 1024;
/// Queued bytes at or below which a paused socket is read again.
pub(crate) const LOW: usize = 64 * 1024;

/// The queue's byte count and pause state: the pure part of the queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Backlog {
    queued: usize,
    paused: bool,
}

impl Backlog {
    /// `len` bytes were queued; true if reading must pause now.
    pub(crate) fn pushed(&mut self, len: usize) -> bool {
        self.queued += len;
        if !self.paused && self.queued > HIGH {
            self.paused = true;
            return true;
        }
        false
    }

    /// `len` bytes were taken off for writing; true if reading may resume now.
    pub(crate) fn popped(&mut self, len: usize) -> bool {
        self.queued = self.queued.saturating_sub(len);
        if self.paused && self.queued <= LOW {
            self.paused = false;
            return true;
        }
        false
    }

    /// True between a pause and the resume that follows it.
    pub(crate) fn paused(&self) -> bool {
        self.paused
    }

    /// Bytes queued.
    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.queued
    }
}

/// One chunk for the writer.
#[derive(Debug)]
pub(crate) struct Chunk {
    /// The bytes to write.
    pub(crate) data: Vec<u8>,
    /// Reading was paused and may now resume.
    pub(crate) resume: bool,
    /// Nothing else is queued: flush after writing.
    pub(crate) last: bool,
}

/// The queue between the reactor and the writer thread.
#[derive(Debug, Default)]
pub(crate) struct OutQueue {
    state: Mutex<OutState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct OutState {
    chunks: VecDeque<Vec<u8>>,
    backlog: Backlog,
    /// No more chunks will be pushed.
    closed: bool,
    /// The writer is done; `Err` holds the text of its write error.
    finished: Option<Result<(), String>>,
}

impl OutQueue {
    fn lock(&self) -> MutexGuard<'_, OutState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a copy of `data`; true if reading must pause now. Dropped
    /// once the queue is closed or the writer has finished.
    pub(crate) fn push(&self, data: &[u8]) -> bool {
        if data.is_empty() {
            return false;
        }
        let pause = {
            let mut state = self.lock();
            if state.closed || state.finished.is_some() {
                return false;
            }
            state.chunks.push_back(data.to_vec());
            state.backlog.pushed(data.len())
        };
        self.changed.notify_all();
        pause
    }

    /// True while reading should stay paused: the last push paused it and
    /// the writer has not yet drained the queue to the low mark. A new
    /// connection starts paused then (with `--reconnect`).
    pub(crate) fn reading_paused(&self) -> bool {
        self.lock().backlog.paused()
    }

    /// No more chunks: the writer ends once it has written the rest.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    /// The next chunk, waiting for one; `None` once closed and empty.
    pub(crate) fn next(&self) -> Option<Chunk> {
        let mut state = self.lock();
        loop {
            if let Some(data) = state.chunks.pop_front() {
                let resume = state.backlog.popped(data.len());
                let last = state.chunks.is_empty();
                return Some(Chunk { data, resume, last });
            }
            if state.closed {
                return None;
            }
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// The writer is done, with the text of its error if it failed; what
    /// is still queued is dropped.
    pub(crate) fn finish(&self, result: Result<(), String>) {
        {
            let mut state = self.lock();
            state.chunks.clear();
            state.backlog = Backlog::default();
            state.finished = Some(result);
        }
        self.changed.notify_all();
    }

    /// Waits until the writer is done (for at most `limit`, if given);
    /// `None` if it is still writing.
    pub(crate) fn wait_finished(&self, limit: Option<Duration>) -> Option<Result<(), String>> {
        let deadline = limit.map(|l| Instant::now() + l);
        let mut state = self.lock();
        loop {
            if let Some(result) = &state.finished {
                return Some(result.clone());
            }
            state = match deadline {
                None => self.changed.wait(state).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return None;
                    }
                    self.changed
                        .wait_timeout(state, deadline - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }
}

/// Writes the queue's chunks to `out` until it is closed and empty,
/// calling `resume` whenever reading may resume; flushes whenever the queue
/// runs empty, and at the end.
pub(crate) fn write_loop(
    queue: &OutQueue,
    out: &mut impl Write,
    mut resume: impl FnMut(),
) -> io::Result<()> {
    while let Some(chunk) = queue.next() {
        if chunk.resume {
            resume();
        }
        out.write_all(&chunk.data)?;
        if chunk.last {
            out.flush()?;
        }
    }
    out.flush()
}

/// Starts the thread that writes standard output. `resume` and `failed`
/// run on that thread, to tell the reactor that reading may resume, or that
/// writing failed (with the error's text).
pub(crate) fn spawn_writer(
    queue: Arc<OutQueue>,
    resume: impl FnMut() + Send + 'static,
    failed: impl FnOnce(String) + Send + 'static,
) -> io::Result<()> {
    thread::Builder::new()
        .name("gyre-stdout".into())
        .spawn(move || {
            let result = write_loop(&queue, &mut io::stdout().lock(), resume)
                .map_err(|e| crate::exit::io_text(&e));
            queue.finish(result.clone());
            if let Err(text) = result {
                failed(text);
            }
        })
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reading pauses once above HIGH, resumes once at or below LOW, and
    /// each change is reported once.
    #[test]
    fn backlog_thresholds() {
        let mut b = Backlog::default();
        assert!(!b.pushed(HIGH));
        assert!(b.pushed(1), "just above the limit");
        assert!(b.paused());
        assert!(!b.pushed(10_000), "already paused");
        assert!(!b.popped(HIGH - LOW), "still above the low mark");
        assert_eq!(b.queued(), LOW + 10_001);
        assert!(!b.popped(10_000));
        assert!(b.popped(1), "down to the low mark");
        assert!(!b.popped(LOW), "already resumed");
        assert_eq!(b.queued(), 0);
        assert!(!b.popped(5), "never below zero");
        assert!(!b.pushed(LOW), "not paused: no resume needed later");
        assert!(!b.popped(LOW));
    }

    /// The queue hands chunks over in order, says when it runs empty, and
    /// asks to pause and resume at the thresholds.
    #[test]
    fn queue_order_and_signals() {
        let q = OutQueue::default();
        let big = vec![7u8; HIGH / 2];
        assert!(!q.push(&big));
        assert!(!q.push(&big));
        assert!(!q.push(b""), "empty chunks are ignored");
        assert!(!q.reading_paused());
        assert!(q.push(b"x"), "over the limit");
        assert!(q.reading_paused());
        let first = q.next().unwrap();
        assert!(!first.resume && !first.last);
        let second = q.next().unwrap();
        assert!(second.resume, "down to one byte queued");
        assert!(!q.reading_paused());
        assert!(!second.last);
        let third = q.next().unwrap();
        assert_eq!(third.data, b"x");
        assert!(third.last && !third.resume);
        q.close();
        assert!(q.next().is_none());
        assert!(!q.push(b"late"), "dropped after close");
        assert!(q.next().is_none());
    }

    /// The writer writes everything in order, flushes, and finishes; the
    /// main thread's wait sees it.
    #[test]
    fn writer_drains_then_finishes() {
        let q = Arc::new(OutQueue::default());
        let data: Vec<u8> = (0..=255u8).cycle().take(3 * HIGH).collect();
        let writer = {
            let q = q.clone();
            thread::spawn(move || {
                let mut out = Vec::new();
                let mut resumes = 0;
                let result = write_loop(&q, &mut out, || resumes += 1);
                q.finish(result.map_err(|e| e.to_string()));
                (out, resumes)
            })
        };
        let mut pauses = 0;
        for chunk in data.chunks(4096) {
            pauses += usize::from(q.push(chunk));
            while q.lock().backlog.queued() > HIGH {
                thread::yield_now();
            }
        }
        assert_eq!(q.wait_finished(Some(Duration::from_millis(1))), None);
        q.close();
        assert_eq!(q.wait_finished(None), Some(Ok(())));
        let (out, resumes) = writer.join().unwrap();
        assert!(out == data, "output differs");
        assert!(resumes <= pauses, "{resumes} resumes for {pauses} pauses");
    }

    /// A write error ends the writer, drops what is queued, and later
    /// pushes are dropped too.
    #[test]
    fn writer_failure_finishes_the_queue() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let q = OutQueue::default();
        q.push(b"one");
        q.push(b"two");
        let err = write_loop(&q, &mut Closed, || {}).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        q.finish(Err(crate::exit::io_text(&err)));
        assert!(!q.push(&vec![0u8; 2 * HIGH]), "no pause once finished");
        assert!(q.lock().chunks.is_empty());
        assert_eq!(q.wait_finished(None), Some(Err("broken pipe".to_string())));
    }
}
