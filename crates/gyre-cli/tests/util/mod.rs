//! A kit for driving the built `gyre` binary from tests.
//!
//! [`Gyre::start`] spawns `gyre` with the given arguments (typically a service
//! and `--listen tcp:0:interface=127.0.0.1`), reads its stderr on a thread
//! into a shared [`Log`], and waits for the `… starting on <port>` line to
//! learn the port. Every wait is bounded by [`LIMIT`] and panics with the log
//! so far when it runs out. Dropping a [`Gyre`] whose process is still alive
//! kills it (SIGKILL) and reaps it within a bounded time, so a failing test
//! leaves no child behind.
//!
//! [`Gyre::spawn_with`] gives the child piped stdin and stdout instead of
//! none, for `gyre connect`. `GYRE_TEST_BIN=/path/to/gyre` runs the tests
//! against another build of `gyre` (an older commit's, say).
//!
//! Also here: the log-line shape check ([`assert_log_line`]), `/proc`
//! readers (resident memory, kernel socket queues, listening ports), and
//! small socket helpers.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

/// How long any single wait may take before the test fails.
pub(crate) const LIMIT: Duration = Duration::from_secs(10);

/// The endpoint every test listens on: a free port on loopback.
pub(crate) const LOOPBACK_ANY_PORT: &str = "tcp:0:interface=127.0.0.1";

/// Everything a child wrote to stderr so far, line by line.
#[derive(Debug, Default)]
struct LogState {
    lines: Vec<String>,
    /// Set once stderr reached end of file (the process has gone).
    closed: bool,
}

/// The child's stderr, shared with the thread that reads it.
#[derive(Debug, Default)]
pub(crate) struct Log {
    state: Mutex<LogState>,
    changed: Condvar,
}

impl Log {
    fn lock(&self) -> MutexGuard<'_, LogState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads `stderr` to its end, one line at a time (lossy UTF-8, newline
    /// removed), waking waiters after each line.
    fn pump(&self, stderr: ChildStderr) {
        let mut reader = BufReader::new(stderr);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if buf.last() == Some(&b'\n') {
                        buf.pop();
                    }
                    let line = String::from_utf8_lossy(&buf).into_owned();
                    self.lock().lines.push(line);
                    self.changed.notify_all();
                }
            }
        }
        self.lock().closed = true;
        self.changed.notify_all();
    }

    /// Waits until `done(lines, closed)` holds; `None` after `limit`.
    fn wait_until<T>(
        &self,
        limit: Duration,
        mut done: impl FnMut(&[String], bool) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + limit;
        let mut state = self.lock();
        loop {
            if let Some(found) = done(&state.lines, state.closed) {
                return Some(found);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// A running (or finished) `gyre` process.
#[derive(Debug)]
pub(crate) struct Gyre {
    child: Child,
    log: Arc<Log>,
    args: Vec<String>,
    status: Option<ExitStatus>,
    port: Option<u16>,
}

impl Gyre {
    /// Spawns `gyre ARGS` with stderr captured; does not wait for anything.
    pub(crate) fn spawn(args: &[&str]) -> Gyre {
        Gyre::spawn_with(args, Stdio::null(), Stdio::null())
    }

    /// Spawns `gyre ARGS` with the given stdin and stdout (piped ones are
    /// taken with [`take_stdio`](Self::take_stdio)) and stderr captured.
    /// It starts with SIGINT at its default disposition (through `env
    /// --default-signal=INT`, which execs gyre: the pid is gyre's), since
    /// gyre, like Twisted, leaves alone a SIGINT it inherited ignored.
    pub(crate) fn spawn_with(args: &[&str], stdin: Stdio, stdout: Stdio) -> Gyre {
        let mut command = Command::new("env");
        command.arg("--default-signal=INT").arg(binary());
        Gyre::spawn_command(command, args, stdin, stdout)
    }

    /// Spawns `gyre ARGS` inside the network namespace `netns` (through
    /// `ip netns exec`, which execs gyre: the pid is gyre's) and waits for
    /// its first `… starting on <port>` line.
    #[allow(dead_code)] // only the fault tests run gyre in a namespace
    pub(crate) fn start_in_netns(netns: &str, args: &[&str]) -> Gyre {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", netns]);
        command.arg(binary());
        let mut gyre = Gyre::spawn_command(command, args, Stdio::null(), Stdio::null());
        let line = gyre.wait_for_line(" starting on ");
        gyre.port = Some(port_of_starting_line(&line));
        gyre
    }

    fn spawn_command(mut command: Command, args: &[&str], stdin: Stdio, stdout: Stdio) -> Gyre {
        let mut child = command
            .args(args)
            .stdin(stdin)
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn gyre");
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Log::default());
        let pump = Arc::clone(&log);
        thread::Builder::new()
            .name("gyre-stderr".into())
            .spawn(move || pump.pump(stderr))
            .expect("spawn the stderr reader");
        Gyre {
            child,
            log,
            args: args.iter().map(|s| s.to_string()).collect(),
            status: None,
            port: None,
        }
    }

    /// Spawns `gyre ARGS` and waits for its first `… starting on <port>` line.
    pub(crate) fn start(args: &[&str]) -> Gyre {
        let mut gyre = Gyre::spawn(args);
        let line = gyre.wait_for_line(" starting on ");
        gyre.port = Some(port_of_starting_line(&line));
        gyre
    }

    /// `gyre SERVICE --listen tcp:0:interface=127.0.0.1`, started.
    pub(crate) fn service(service: &str) -> Gyre {
        Gyre::start(&[service, "--listen", LOOPBACK_ANY_PORT])
    }

    /// The piped stdin and stdout of a process from [`spawn_with`](Self::spawn_with).
    #[allow(dead_code)] // only the connect tests talk to gyre through stdio
    pub(crate) fn take_stdio(&mut self) -> (Option<ChildStdin>, Option<ChildStdout>) {
        (self.child.stdin.take(), self.child.stdout.take())
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The port of the first `… starting on <port>` line.
    pub(crate) fn port(&self) -> u16 {
        self.port.expect("started with Gyre::start")
    }

    /// 127.0.0.1 and the server's port.
    pub(crate) fn addr(&self) -> SocketAddr {
        (Ipv4Addr::LOCALHOST, self.port()).into()
    }

    /// A blocking client connected to the server, with [`LIMIT`] timeouts.
    pub(crate) fn connect(&self) -> TcpStream {
        connect(self.addr())
    }

    /// A copy of every stderr line so far.
    pub(crate) fn lines(&self) -> Vec<String> {
        self.log.lock().lines.clone()
    }

    /// The stderr so far, for failure messages.
    pub(crate) fn transcript(&self) -> String {
        let mut out = format!("gyre {:?} stderr:\n", self.args);
        for line in self.lines() {
            out.push_str("  | ");
            out.push_str(&line);
            out.push('\n');
        }
        out
    }

    /// Waits for a stderr line containing `needle`; returns it.
    #[track_caller]
    pub(crate) fn wait_for_line(&self, needle: &str) -> String {
        self.wait_for_lines(needle, 1).pop().expect("one line")
    }

    /// Waits until `count` stderr lines contain `needle`; returns them.
    #[track_caller]
    pub(crate) fn wait_for_lines(&self, needle: &str, count: usize) -> Vec<String> {
        let found = self.log.wait_until(LIMIT, |lines, closed| {
            let hits: Vec<String> = lines
                .iter()
                .filter(|l| l.contains(needle))
                .cloned()
                .collect();
            if hits.len() >= count || closed {
                Some(hits)
            } else {
                None
            }
        });
        match found {
            Some(hits) if hits.len() >= count => hits,
            Some(_) => panic!(
                "gyre exited before logging {count} line(s) containing {needle:?}\n{}",
                self.transcript()
            ),
            None => panic!(
                "no {count} line(s) containing {needle:?} within {LIMIT:?}\n{}",
                self.transcript()
            ),
        }
    }

    /// Sends `signal` to the process.
    pub(crate) fn signal(&self, signal: Signal) {
        let pid = Pid::from_child(&self.child);
        kill_process(pid, signal).expect("signal gyre");
    }

    /// Waits (bounded by [`LIMIT`]) for the process to exit and for its
    /// stderr to be read to the end; returns the exit status.
    #[track_caller]
    pub(crate) fn wait_exit(&mut self) -> ExitStatus {
        self.wait_exit_within(LIMIT)
    }

    /// [`wait_exit`](Self::wait_exit) with another bound than [`LIMIT`].
    #[track_caller]
    pub(crate) fn wait_exit_within(&mut self, limit: Duration) -> ExitStatus {
        if let Some(status) = self.status {
            return status;
        }
        // Stderr closes when the process exits: an event, not a sleep.
        if self
            .log
            .wait_until(limit, |_, closed| closed.then_some(()))
            .is_none()
        {
            panic!("gyre did not exit within {limit:?}\n{}", self.transcript());
        }
        // The process is exiting; reaping it takes at most a moment.
        let status = reap(&mut self.child, LIMIT).unwrap_or_else(|| {
            panic!("gyre closed stderr but did not exit\n{}", self.transcript())
        });
        self.status = Some(status);
        status
    }

    /// The server's resident set size (`VmRSS`), in KiB.
    pub(crate) fn rss_kib(&self) -> u64 {
        proc_status_kib(self.pid(), "VmRSS:")
    }

    /// The server's peak resident set size (`VmHWM`), in KiB.
    pub(crate) fn peak_rss_kib(&self) -> u64 {
        proc_status_kib(self.pid(), "VmHWM:")
    }

    /// How many TCP connections (sockets that are not listening) the
    /// server holds open, found through its descriptors and `/proc/net/tcp`.
    /// Sockets are counted by inode: `/proc/net/tcp` is read in several
    /// pieces and, while other sockets come and go, may list one twice.
    pub(crate) fn connection_count(&self) -> usize {
        let inodes = socket_inodes(self.pid());
        let mut open: Vec<u64> = tcp_table()
            .iter()
            .filter(|e| e.state != TCP_LISTEN && inodes.contains(&e.inode))
            .map(|e| e.inode)
            .collect();
        open.sort_unstable();
        open.dedup();
        open.len()
    }

    /// Waits until the server holds exactly `count` TCP connections (there
    /// is no event for a peer's close being handled, so this polls, bounded).
    #[track_caller]
    pub(crate) fn wait_for_connection_count(&self, count: usize) {
        let deadline = Instant::now() + LIMIT;
        loop {
            let now = self.connection_count();
            if now == count {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "gyre still holds {now} connections, expected {count}\n{}",
                self.transcript()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits (bounded, polling `/proc`) until the process holds a TCP socket
    /// to `remote` in `state` (say [`TCP_SYN_SENT`]: its connect is in
    /// progress).
    #[track_caller]
    pub(crate) fn wait_for_socket_to(&self, remote: SocketAddr, state: u8) {
        let deadline = Instant::now() + LIMIT;
        loop {
            let inodes = socket_inodes(self.pid());
            if tcp_table()
                .iter()
                .any(|e| e.remote == remote && e.state == state && inodes.contains(&e.inode))
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "gyre has no socket to {remote} in state {state:#04x} after {LIMIT:?}\n{}",
                self.transcript()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits (bounded, polling `/proc`) until the process's thread named
    /// `name` sleeps in a kernel function whose name contains `wchan`
    /// (`pipe_write`: blocked writing into a full pipe). Where the kernel
    /// hides wait channels, asleep is taken as that.
    #[track_caller]
    pub(crate) fn wait_for_thread_in(&self, name: &str, wchan: &str) {
        let deadline = Instant::now() + LIMIT;
        let tasks = format!("/proc/{}/task", self.pid());
        loop {
            let read = |tid: &std::ffi::OsStr, what: &str| {
                std::fs::read_to_string(format!("{tasks}/{}/{what}", tid.to_string_lossy()))
                    .unwrap_or_default()
            };
            let mut seen = Vec::new();
            for task in std::fs::read_dir(&tasks).into_iter().flatten().flatten() {
                let tid = task.file_name();
                if read(&tid, "comm").trim_end() != name {
                    continue;
                }
                let stat = read(&tid, "stat");
                let state = stat
                    .rsplit_once(')')
                    .and_then(|(_, rest)| rest.trim_start().chars().next());
                let channel = read(&tid, "wchan");
                let hidden = channel.is_empty() || channel == "0";
                if state == Some('S') && (hidden || channel.contains(wchan)) {
                    return;
                }
                seen.push(format!("{state:?} in {channel:?}"));
            }
            assert!(
                Instant::now() < deadline,
                "gyre's thread {name} is not in {wchan} after {LIMIT:?} (seen: {seen:?})\n{}",
                self.transcript()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// The ports the process listens on, from `/proc` (for runs that log
    /// nothing); polls until there is at least one, bounded.
    #[track_caller]
    pub(crate) fn wait_for_listening_ports(&self) -> Vec<u16> {
        let deadline = Instant::now() + LIMIT;
        loop {
            let inodes = socket_inodes(self.pid());
            let ports: Vec<u16> = tcp_table()
                .into_iter()
                .filter(|e| e.state == TCP_LISTEN && inodes.contains(&e.inode))
                .map(|e| e.local.port())
                .collect();
            if !ports.is_empty() {
                return ports;
            }
            assert!(
                Instant::now() < deadline,
                "gyre is not listening after {LIMIT:?}\n{}",
                self.transcript()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Gyre {
    fn drop(&mut self) {
        if self.status.is_some() || matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = kill_process(Pid::from_child(&self.child), Signal::KILL);
        if reap(&mut self.child, LIMIT).is_none() {
            eprintln!(
                "gyre (pid {}) survived SIGKILL for {LIMIT:?}",
                self.child.id()
            );
        }
    }
}

/// The `gyre` binary under test: this build's, or the one named by the
/// environment variable `GYRE_TEST_BIN` (to run the tests against another
/// build, such as an older commit's, and see a regression test fail there).
fn binary() -> std::ffi::OsString {
    std::env::var_os("GYRE_TEST_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_gyre").into())
}

/// Reaps `child`, polling for at most `limit`.
fn reap(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(2)),
            _ => return None,
        }
    }
}

/// The port at the end of a `… starting on <port>` line.
#[track_caller]
pub(crate) fn port_of_starting_line(line: &str) -> u16 {
    let (_, port) = line
        .rsplit_once(" starting on ")
        .unwrap_or_else(|| panic!("not a starting line: {line:?}"));
    port.parse()
        .unwrap_or_else(|_| panic!("no port in {line:?}"))
}

/// Checks that `line` is `YYYY-MM-DD HH:MM:SS±HHMM [system] text` (Twisted's
/// legacy format, in local time) and returns `(system, text)`.
#[track_caller]
pub(crate) fn assert_log_line(line: &str) -> (&str, &str) {
    let b = line.as_bytes();
    let stamp_ok = b.len() > 27
        && [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
            .iter()
            .all(|&i| b[i].is_ascii_digit())
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b' '
        && b[13] == b':'
        && b[16] == b':'
        && (b[19] == b'+' || b[19] == b'-')
        && b[20..24].iter().all(u8::is_ascii_digit)
        && &line[24..26] == " ["
        && line.is_char_boundary(26);
    assert!(stamp_ok, "not a log line: {line:?}");
    let rest = &line[26..];
    let (system, text) = rest
        .split_once("] ")
        .unwrap_or_else(|| panic!("no '] ' after the system: {line:?}"));
    assert!(!system.contains(']'), "']' inside the system: {line:?}");
    (system, text)
}

/// Checks every line of a log: each is a log line or a tab continuation of
/// the one before. Returns the texts of the log lines.
#[track_caller]
pub(crate) fn assert_log(lines: &[String]) -> Vec<String> {
    let mut texts = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with('\t') {
            assert!(i > 0, "log starts with a continuation line: {line:?}");
        } else {
            texts.push(assert_log_line(line).1.to_string());
        }
    }
    texts
}

/// Checks that no log text sounds like trouble: errors, warnings, panics,
/// lost or reset connections.
#[track_caller]
pub(crate) fn assert_no_alarm(lines: &[String]) {
    const ALARMS: [&str; 11] = [
        "error",
        "panic",
        "unhandled",
        "traceback",
        "backtrace",
        "warn",
        "fail",
        "lost",
        "reset",
        "broken pipe",
        "abort",
    ];
    for line in lines {
        let lower = line.to_lowercase();
        if let Some(alarm) = ALARMS.iter().find(|a| lower.contains(*a)) {
            panic!(
                "alarming log line ({alarm:?}): {line:?}\nwhole log:\n{}",
                lines.join("\n")
            );
        }
    }
}

/// Index of the first line containing `needle`, or a panic showing `lines`.
#[track_caller]
pub(crate) fn position(lines: &[String], needle: &str) -> usize {
    lines
        .iter()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line containing {needle:?} in:\n{}", lines.join("\n")))
}

/// A blocking client connected to `addr`, with [`LIMIT`] read and write timeouts.
#[track_caller]
pub(crate) fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, LIMIT).expect("connect to gyre");
    stream.set_read_timeout(Some(LIMIT)).expect("read timeout");
    stream
        .set_write_timeout(Some(LIMIT))
        .expect("write timeout");
    stream
}

/// Reads until end of file (bounded by the stream's read timeout and by
/// `max` bytes, so a server that never closes fails the test).
#[track_caller]
pub(crate) fn read_to_eof(stream: &mut TcpStream, max: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                assert!(
                    out.len() <= max,
                    "more than {max} bytes and no EOF: {out:?}"
                );
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!(
                "read failed after {} bytes: {e} ({:?})",
                out.len(),
                e.kind()
            ),
        }
    }
}

/// Writes `data` from a helper thread while reading `data.len()` bytes back
/// on this one (so neither side's buffers can deadlock); returns what was read.
#[track_caller]
pub(crate) fn exchange(stream: &mut TcpStream, data: &[u8]) -> Vec<u8> {
    let mut writer = stream.try_clone().expect("clone stream");
    let mut back = vec![0u8; data.len()];
    thread::scope(|s| {
        let sent = s.spawn(move || writer.write_all(data));
        stream
            .read_exact(&mut back)
            .unwrap_or_else(|e| panic!("reading {} bytes back: {e}", data.len()));
        sent.join().expect("writer thread").expect("write to gyre");
    });
    back
}

/// Whether the peer has closed `stream`: a read gives end of file or a
/// reset (bounded by the read timeout; a timeout means "still open").
pub(crate) fn peer_closed(stream: &mut TcpStream) -> Result<(), String> {
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => return Err(format!("got {n} bytes instead of a close: {:?}", &buf[..n])),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(()),
            Err(e) => return Err(format!("no close: {e} ({:?})", e.kind())),
        }
    }
}

/// The `kB` value of one field of `/proc/<pid>/status`.
#[track_caller]
fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// The inodes of the sockets `pid` has open.
fn socket_inodes(pid: u32) -> Vec<u64> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    dir.filter_map(|entry| {
        let target = std::fs::read_link(entry.ok()?.path()).ok()?;
        let target = target.to_str()?;
        target
            .strip_prefix("socket:[")?
            .strip_suffix(']')?
            .parse()
            .ok()
    })
    .collect()
}

/// `st` of a listening socket in `/proc/net/tcp`.
pub(crate) const TCP_LISTEN: u8 = 0x0a;

/// `st` of a socket whose connect is in progress (SYN sent, not answered).
pub(crate) const TCP_SYN_SENT: u8 = 0x02;

/// One row of `/proc/net/tcp`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TcpEntry {
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    pub(crate) state: u8,
    /// Bytes written and not yet acknowledged by the peer.
    pub(crate) tx_queue: u64,
    /// Bytes received and not yet read by the application.
    pub(crate) rx_queue: u64,
    pub(crate) inode: u64,
}

/// The IPv4 TCP sockets of this network namespace.
pub(crate) fn tcp_table() -> Vec<TcpEntry> {
    let text = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    text.lines().skip(1).filter_map(parse_tcp_row).collect()
}

/// The IPv6 TCP sockets of this network namespace (`/proc/net/tcp6`).
pub(crate) fn tcp6_table() -> Vec<TcpEntry> {
    let text = std::fs::read_to_string("/proc/net/tcp6").expect("read /proc/net/tcp6");
    text.lines().skip(1).filter_map(parse_tcp_row).collect()
}

/// A row of `/proc/net/tcp` or `/proc/net/tcp6`: the address is 8 or 32
/// hex digits, one network-order 32-bit word printed as a host-order
/// number per 8 digits.
fn parse_tcp_row(row: &str) -> Option<TcpEntry> {
    let fields: Vec<&str> = row.split_whitespace().collect();
    let addr = |s: &str| -> Option<SocketAddr> {
        let (ip, port) = s.split_once(':')?;
        let port = u16::from_str_radix(port, 16).ok()?;
        let mut bytes = Vec::with_capacity(16);
        for word in ip.as_bytes().chunks(8) {
            let word = u32::from_str_radix(std::str::from_utf8(word).ok()?, 16).ok()?;
            bytes.extend_from_slice(&word.to_ne_bytes());
        }
        let ip: std::net::IpAddr = match bytes.len() {
            4 => Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?).into(),
            16 => std::net::Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?).into(),
            _ => return None,
        };
        Some((ip, port).into())
    };
    let (tx, rx) = fields.get(4)?.split_once(':')?;
    Some(TcpEntry {
        local: addr(fields.get(1)?)?,
        remote: addr(fields.get(2)?)?,
        state: u8::from_str_radix(fields.get(3)?, 16).ok()?,
        tx_queue: u64::from_str_radix(tx, 16).ok()?,
        rx_queue: u64::from_str_radix(rx, 16).ok()?,
        inode: fields.get(9)?.parse().ok()?,
    })
}

/// The `/proc/net/tcp` row for the socket bound to `local` and connected to `remote`.
#[track_caller]
pub(crate) fn tcp_entry(local: SocketAddr, remote: SocketAddr) -> TcpEntry {
    tcp_table()
        .into_iter()
        .find(|e| e.local == local && e.remote == remote)
        .unwrap_or_else(|| panic!("no socket {local} -> {remote} in /proc/net/tcp"))
}
