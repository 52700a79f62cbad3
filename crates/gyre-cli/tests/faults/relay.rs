//! The delay relay's process: `faults/delay_relay.py`, run by `python3`
//! inside the router namespace, owned by a [`Relay`].
//!
//! The relay reads the packets the router's kernel sends into one TUN
//! device and writes them into the other one after a fixed delay, dropping
//! a share at random (the script's docs say how, `netns.rs` how the
//! packets get there). This module starts it, waits for its `ready` line,
//! asks it for its counters (`counts` on its stdin, one line back on its
//! stdout) and ends it.
//!
//! Owned, field by field: `child` is the relay itself (`ip netns exec`
//! execs `python3`, so the pid is the relay's); `stdin` is the command pipe,
//! whose closing also ends the relay, so a test process that dies without
//! unwinding (SIGKILL) leaves no relay behind; `lines` are its stdout lines,
//! read on a thread; `stderr` is kept for failure messages. Dropping a
//! [`Relay`] kills the process (SIGKILL) and reaps it within
//! [`RELAY_LIMIT`], also when the test panicked. Every wait is bounded by
//! [`RELAY_LIMIT`].

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// How long the relay may take to start or to answer.
const RELAY_LIMIT: Duration = Duration::from_secs(10);

/// The script, shipped with the tests.
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/faults/delay_relay.py");

/// What the relay did in one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Lane {
    /// IPv4 packets written into the other device after the delay.
    pub(crate) forwarded: u64,
    /// IPv4 packets dropped at random (the loss asked for).
    pub(crate) dropped: u64,
    /// IPv4 packets dropped because the delay queue was full.
    pub(crate) overflowed: u64,
    /// Packets that were not IPv4, not relayed.
    pub(crate) ignored: u64,
}

/// The relay's counters, one [`Lane`] per direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RelayCounts {
    /// Packets read from the first device (the client's side) and meant
    /// for the second one.
    pub(crate) to_server: Lane,
    /// Packets read from the second device and meant for the first.
    pub(crate) to_client: Lane,
}

/// What the relay wrote to stderr, read on a thread.
#[derive(Debug, Default)]
struct Stderr {
    text: String,
    /// Set at end of file: the relay has gone and said all it had to.
    closed: bool,
}

/// The running relay; see the module docs.
#[derive(Debug)]
pub(crate) struct Relay {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    stderr: Arc<Mutex<Stderr>>,
    devices: [String; 2],
}

impl Relay {
    /// Starts the relay between TUN devices `a` and `b` of namespace `ns`
    /// with `delay` each way and `loss` percent of the packets dropped, and
    /// waits for it to be ready; panics with its stderr if it is not.
    #[track_caller]
    pub(crate) fn start(ns: &str, [a, b]: [&str; 2], delay: Duration, loss: u32) -> Relay {
        let delay_ms = delay.as_secs_f64() * 1000.0;
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, "python3", SCRIPT])
            .args(["--delay-ms", &delay_ms.to_string()])
            .args(["--loss", &loss.to_string(), a, b])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run the delay relay (ip, python3): {e}"));
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let mut err_pipe = child.stderr.take().expect("piped");
        let (send, lines) = channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Stderr::default()));
        let sink = Arc::clone(&stderr);
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = err_pipe.read(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]);
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .text
                    .push_str(&text);
            }
            sink.lock().unwrap_or_else(|e| e.into_inner()).closed = true;
        });
        let relay = Relay {
            child,
            stdin,
            lines,
            stderr,
            devices: [a.to_string(), b.to_string()],
        };
        let ready = relay.next_line();
        assert_eq!(ready, "ready", "{}", relay.stderr());
        relay
    }

    /// What the relay did so far; panics if it does not answer.
    #[track_caller]
    pub(crate) fn counts(&self) -> RelayCounts {
        if let Err(e) = (&self.stdin).write_all(b"counts\n") {
            panic!("the delay relay is gone ({e}){}", self.stderr());
        }
        let line = self.next_line();
        let Some(fields) = line.strip_prefix("counts ") else {
            panic!("not a counts line from the relay: {line:?}");
        };
        let mut counts = RelayCounts::default();
        for field in fields.split_whitespace() {
            let parsed = field.split_once('.').and_then(|(device, rest)| {
                let (name, value) = rest.split_once('=')?;
                Some((device, name, value.parse::<u64>().ok()?))
            });
            let Some((device, name, value)) = parsed else {
                panic!("bad field {field:?} in {line:?}");
            };
            let lane = if device == self.devices[0] {
                &mut counts.to_server
            } else if device == self.devices[1] {
                &mut counts.to_client
            } else {
                panic!("unknown device {device:?} in {line:?}");
            };
            *match name {
                "forwarded" => &mut lane.forwarded,
                "dropped" => &mut lane.dropped,
                "overflowed" => &mut lane.overflowed,
                "ignored" => &mut lane.ignored,
                _ => panic!("unknown counter {name:?} in {line:?}"),
            } = value;
        }
        counts
    }

    /// The relay's next stdout line, within [`RELAY_LIMIT`].
    #[track_caller]
    fn next_line(&self) -> String {
        match self.lines.recv_timeout(RELAY_LIMIT) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                panic!(
                    "the delay relay said nothing for {RELAY_LIMIT:?}{}",
                    self.stderr()
                )
            }
            Err(RecvTimeoutError::Disconnected) => {
                // It exited: its last words are on their way.
                let deadline = Instant::now() + RELAY_LIMIT;
                while !self.lock_stderr().closed && Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(5));
                }
                panic!("the delay relay exited{}", self.stderr())
            }
        }
    }

    fn lock_stderr(&self) -> MutexGuard<'_, Stderr> {
        self.stderr.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The relay's stderr so far, for failure messages.
    fn stderr(&self) -> String {
        let stderr = self.lock_stderr();
        if stderr.text.is_empty() {
            String::new()
        } else {
            format!("; its stderr:\n{}", stderr.text)
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let deadline = Instant::now() + RELAY_LIMIT;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(2)),
                _ => {
                    eprintln!("the delay relay (pid {}) survived SIGKILL", self.child.id());
                    return;
                }
            }
        }
    }
}
