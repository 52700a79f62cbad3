//! Standard input → the connection, paced by credits.
//!
//! Standard input is read on a helper thread ([`spawn_reader`]): it may be a
//! file, a pipe or a terminal, and the poller cannot watch regular files.
//! The thread reads one chunk of up to [`CHUNK`] bytes per *credit*, and
//! hands each chunk to the reactor; it never reads ahead of its credits,
//! blocking in [`Credits::acquire`] instead.
//!
//! The reactor hands out credits through a [`Window`]: at most
//! [`Window::LIMIT`] chunks are ever granted and not yet written, and none
//! are granted while no connection is live or while the connection's write
//! buffer is above its high-water mark (the transport pauses our push
//! producer there and resumes it once the buffer is empty). So the bytes
//! between standard input and the socket are bounded by the high-water mark
//! plus a few chunks, however slow the peer.
//!
//! The pure accounting ([`Window`], [`Credits`], [`read_loop`]) is tested
//! at the bottom of this file.

use std::io::{self, ErrorKind, Read};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread;

/// Bytes read from standard input at a time (at most).
pub(crate) const CHUNK: usize = 64 * 1024;

/// What the reader thread reports.
#[derive(Debug)]
pub(crate) enum Input {
    /// The next chunk of standard input (never empty).
    Data(Vec<u8>),
    /// End of standard input.
    End,
    /// Reading failed; the text is the OS error's.
    Failed(String),
}

/// Credits shared between the reactor (which grants them) and the reader
/// thread (which spends one per chunk).
#[derive(Debug, Default)]
pub(crate) struct Credits {
    state: Mutex<CreditState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct CreditState {
    available: usize,
    closed: bool,
}

impl Credits {
    fn lock(&self) -> MutexGuard<'_, CreditState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `n` credits (nothing to do for 0).
    pub(crate) fn grant(&self, n: usize) {
        if n == 0 {
            return;
        }
        self.lock().available += n;
        self.changed.notify_all();
    }

    /// No more credits, ever: a waiting or later `acquire` returns false.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    /// Waits for a credit and takes it; false once closed.
    pub(crate) fn acquire(&self) -> bool {
        let mut state = self.lock();
        loop {
            if state.closed {
                return false;
            }
            if state.available > 0 {
                state.available -= 1;
                return true;
            }
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// The reactor's side of the credit scheme: how many chunks may be granted
/// now. Every change is followed by [`grant`](Self::grant), which hands out
/// whatever the window allows (level-triggered, so no grant is ever lost).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Window {
    /// Credits granted whose chunk has not arrived yet.
    outstanding: usize,
    /// Chunks that arrived while no connection was live, not written yet.
    held: usize,
    /// The connection's write buffer is above its high-water mark.
    paused: bool,
    /// A connection is live and still accepts input.
    open: bool,
}

impl Window {
    /// Chunks granted and not yet written, at most.
    pub(crate) const LIMIT: usize = 2;

    /// A connection is live: input may flow (and its buffer is empty).
    pub(crate) fn open(&mut self) {
        self.open = true;
        self.paused = false;
    }

    /// No connection takes input any more.
    pub(crate) fn close(&mut self) {
        self.open = false;
    }

    /// The transport paused its producer (write buffer above high water).
    pub(crate) fn pause(&mut self) {
        self.paused = true;
    }

    /// The transport resumed its producer (write buffer empty).
    pub(crate) fn resume(&mut self) {
        self.paused = false;
    }

    /// A chunk arrived from the reader; `held` if it waits for a connection.
    pub(crate) fn arrived(&mut self, held: bool) {
        self.outstanding = self.outstanding.saturating_sub(1);
        if held {
            self.held += 1;
        }
    }

    /// `n` held chunks were written (or dropped).
    pub(crate) fn released(&mut self, n: usize) {
        self.held = self.held.saturating_sub(n);
    }

    /// Credits to grant now (counted as outstanding).
    pub(crate) fn grant(&mut self) -> usize {
        if !self.open || self.paused {
            return 0;
        }
        let n = Self::LIMIT.saturating_sub(self.outstanding + self.held);
        self.outstanding += n;
        n
    }
}

/// Reads `input` one credit at a time and reports each chunk with `send`,
/// until end of input, an error, closed credits, or `send` returning false
/// (the reactor is gone).
pub(crate) fn read_loop(
    credits: &Credits,
    input: &mut impl Read,
    mut send: impl FnMut(Input) -> bool,
) {
    loop {
        if !credits.acquire() {
            return;
        }
        let mut buf = vec![0u8; CHUNK];
        let event = loop {
            match input.read(&mut buf) {
                Ok(0) => break Input::End,
                Ok(n) => {
                    buf.truncate(n);
                    break Input::Data(buf);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => break Input::Failed(crate::exit::io_text(&e)),
            }
        };
        let more = matches!(event, Input::Data(_));
        if !send(event) || !more {
            return;
        }
    }
}

/// Starts the thread that reads standard input. It ends at end of input or
/// when the credits close; if it is blocked reading when the command ends,
/// it is simply left behind (the process exits without it).
pub(crate) fn spawn_reader(
    credits: std::sync::Arc<Credits>,
    send: impl FnMut(Input) -> bool + Send + 'static,
) -> io::Result<()> {
    thread::Builder::new()
        .name("gyre-stdin".into())
        .spawn(move || read_loop(&credits, &mut io::stdin().lock(), send))
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::mpsc;
    use std::time::Duration;

    /// The window grants up to its limit, and nothing while closed or paused.
    #[test]
    fn window_limits_credits() {
        let mut w = Window::default();
        assert_eq!(w.grant(), 0, "no connection yet");
        w.open();
        assert_eq!(w.grant(), Window::LIMIT);
        assert_eq!(w.grant(), 0, "all granted");
        w.arrived(false);
        assert_eq!(w.grant(), 1, "one came back");
        w.pause();
        w.arrived(false);
        w.arrived(false);
        assert_eq!(w.grant(), 0, "paused above high water");
        w.resume();
        assert_eq!(w.grant(), 2, "the buffer drained");
        w.close();
        assert_eq!(w.grant(), 0, "connection gone");
    }

    /// Chunks held while no connection is live count against the window.
    #[test]
    fn window_counts_held_chunks() {
        let mut w = Window::default();
        w.open();
        assert_eq!(w.grant(), 2);
        w.close();
        w.arrived(true);
        w.arrived(true);
        assert_eq!(w.grant(), 0);
        w.open();
        assert_eq!(w.grant(), 0, "two held chunks fill the window");
        w.released(2);
        assert_eq!(w.grant(), 2);
        // A new connection starts unpaused.
        w.pause();
        w.close();
        w.open();
        assert_eq!(w.grant(), 0, "still two outstanding");
        w.arrived(false);
        assert_eq!(w.grant(), 1);
    }

    /// Credits are spent one at a time; closing wakes a blocked waiter for good.
    #[test]
    fn credits_block_and_close() {
        let credits = Arc::new(Credits::default());
        credits.grant(0);
        credits.grant(2);
        assert!(credits.acquire());
        assert!(credits.acquire());
        let (tid_tx, tid_rx) = mpsc::channel();
        let waiter = {
            let c = credits.clone();
            thread::spawn(move || {
                tid_tx.send(thread_id()).unwrap();
                c.acquire()
            })
        };
        let tid = tid_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        wait_until_blocked(&tid);
        credits.close();
        assert!(!waiter.join().unwrap(), "woken by the close, no credit");
        credits.grant(1);
        assert!(!credits.acquire(), "closed stays closed");
    }

    /// This thread's id in `/proc/self/task`.
    fn thread_id() -> String {
        let link = std::fs::read_link("/proc/thread-self").expect("/proc/thread-self");
        let name = link.file_name().expect("a task id");
        name.to_string_lossy().into_owned()
    }

    /// Waits (bounded) until thread `tid` of this process is asleep in a
    /// futex wait: for a thread that only takes an uncontended lock and
    /// then waits on the credits' condition variable, blocked in `acquire`.
    /// (Where the kernel hides the wait channel, asleep is taken as that.)
    #[track_caller]
    fn wait_until_blocked(tid: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let read = |what| std::fs::read_to_string(format!("/proc/self/task/{tid}/{what}"));
            let stat = read("stat").unwrap_or_default();
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next());
            let wchan = read("wchan").unwrap_or_default();
            let hidden = wchan.is_empty() || wchan == "0";
            if state == Some('S') && (hidden || wchan.contains("futex")) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "thread {tid} never blocked (state {state:?}, in {wchan:?})"
            );
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// A reader that has no data for its read.
    struct Endless(usize);

    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.0 += 1;
            buf[0] = b'x';
            Ok(1)
        }
    }

    /// The reader never reads more chunks than it was granted credits.
    #[test]
    fn reader_waits_for_credits() {
        let credits = Arc::new(Credits::default());
        let (tx, rx) = mpsc::channel();
        let reader = {
            let c = credits.clone();
            thread::spawn(move || {
                let mut input = Endless(0);
                read_loop(&c, &mut input, |event| tx.send(event).is_ok());
                input.0
            })
        };
        assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
        credits.grant(3);
        for _ in 0..3 {
            let event = rx.recv_timeout(Duration::from_secs(10)).unwrap();
            assert!(
                matches!(event, Input::Data(ref d) if d == b"x"),
                "{event:?}"
            );
        }
        assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
        credits.close();
        assert_eq!(reader.join().unwrap(), 3, "no read without a credit");
    }

    /// Chunks are at most CHUNK bytes, then end of input, then the loop ends.
    #[test]
    fn reader_reports_chunks_then_end() {
        let data: Vec<u8> = (0..=255u8).cycle().take(CHUNK + 10).collect();
        let credits = Credits::default();
        credits.grant(10);
        let mut seen = Vec::new();
        read_loop(&credits, &mut &data[..], |event| {
            seen.push(event);
            true
        });
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert!(matches!(&seen[0], Input::Data(d) if d[..] == data[..CHUNK]));
        assert!(matches!(&seen[1], Input::Data(d) if d[..] == data[CHUNK..]));
        assert!(matches!(seen[2], Input::End));
    }

    /// A read error is reported once, with the OS text, and ends the loop.
    #[test]
    fn reader_reports_errors() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::from_raw_os_error(5))
            }
        }
        let credits = Credits::default();
        credits.grant(10);
        let mut seen = Vec::new();
        read_loop(&credits, &mut Broken, |event| {
            seen.push(event);
            true
        });
        assert!(
            matches!(&seen[..], [Input::Failed(text)] if text == "Input/output error"),
            "{seen:?}"
        );
    }

    /// The loop stops as soon as the reactor refuses a chunk.
    #[test]
    fn reader_stops_when_the_reactor_is_gone() {
        let credits = Credits::default();
        credits.grant(10);
        let mut input = Endless(0);
        read_loop(&credits, &mut input, |_| false);
        assert_eq!(input.0, 1);
    }
}
