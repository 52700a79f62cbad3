//! Child processes driven by the reactor (Twisted's `spawnProcess`,
//! reference §1.11).
//!
//! [`Reactor::spawn_process`] starts a program and runs a
//! [`ProcessProtocol`] on it: bytes the child writes on its stdout and
//! stderr arrive as [`out_received`](ProcessProtocol::out_received) and
//! [`err_received`](ProcessProtocol::err_received), the
//! [`ProcessTransport`] writes to its stdin, and the protocol hears when
//! each pipe closes, when the process exits
//! ([`process_exited`](ProcessProtocol::process_exited)) and when both
//! have happened ([`process_ended`](ProcessProtocol::process_ended)).
//!
//! How it is built:
//! * Each pipe is the core's stream connection on the parent's
//!   non-blocking end of the pipe (`pipe.rs`): writing to stdin has the
//!   write path of any socket (direct write, buffering of what the pipe
//!   refuses, producers paused at 64 KiB, the write cap), and reading
//!   stdout can be paused, so output is back-pressured.
//! * The exit is a readiness source too: on Linux a pidfd, readable once
//!   the child has exited, so there is no race with a signal handler and
//!   no other child is ever reaped by mistake. Where pidfds are missing
//!   (kernels before 5.3) a SIGCHLD handler wakes the reactor and every
//!   child of this reactor is polled (`exit.rs`). Either way the child is
//!   reaped by the reactor as soon as it exits: no zombie is left.
//! * The child is started by [`std::process::Command`], which opens
//!   every descriptor close-on-exec: nothing of the parent's leaks into
//!   a child except the three standard descriptors it is given.
//!
//! Differences from Twisted, all on the safe side:
//! * A program that cannot be started (missing, not executable, a bad
//!   working directory) is an error from `spawn_process`
//!   ([`SpawnError`]); Twisted starts a child that prints a traceback and
//!   exits with code 1.
//! * A standard descriptor left out of the mapping
//!   ([`ProcessOptions::child_fd`]) is `/dev/null` in the child, not a
//!   closed descriptor (a closed fd 1 or 2 is reused by the first file the
//!   child opens, which then receives its error messages).
//! * Descriptors 3 and up (Twisted's `childFDs` beyond the three) are not
//!   available yet: the library forbids `unsafe` code and the standard
//!   library maps only the first three. Asking for one is
//!   [`SpawnError::ChildFd`].
//!
//! A child still running when its reactor stops: its pipes are closed with
//! the rest of the connections (the protocol hears `child_connection_lost`
//! for each; [`process_ended`](ProcessProtocol::process_ended) is never
//! delivered), the child is neither signalled nor waited for by the
//! reactor (as in Twisted), and a background thread (`gyre-reaper`) waits
//! for its exit, so it does not remain a zombie.
//!
//! [`ProcessOptions::use_pty`] puts the child on a pseudo-terminal
//! instead of pipes: its master side is one more stream connection.
//!
//! Tests: `tests/process.rs` (the callback order checked against Twisted
//! itself, exit codes and signals, back-pressure, a thousand children with
//! no descriptor or zombie left).

mod exit;

#[doc(hidden)]
pub use exit::force_sigchld;
mod pipe;

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::rc::{Rc, Weak};

use mio::unix::pipe::{Receiver, Sender};

use crate::error::Reason;
use crate::log::{LogContext, enter, guarded, log_panic, short_type_name};
use crate::protocol::Protocol;
use crate::reactor::{Inner, Reactor};
use crate::stream::Connection;
use crate::transport::{Producer, PushProducer, Transport, WriteLimit};

use pipe::{Pipe, PipePeer};

/// Reacts to the events of one child process (Twisted's `ProcessProtocol`).
///
/// Every method has a default; the per-descriptor ones
/// ([`child_data_received`](Self::child_data_received),
/// [`child_connection_lost`](Self::child_connection_lost)) dispatch to the
/// named ones for descriptors 0, 1 and 2, as in Twisted.
pub trait ProcessProtocol: 'static {
    /// The child was started; `transport` may be cloned and kept.
    fn connection_made(&mut self, transport: &ProcessTransport) {
        let _ = transport;
    }

    /// The child wrote `data` on descriptor `fd`.
    fn child_data_received(&mut self, transport: &ProcessTransport, fd: u32, data: &[u8]) {
        match fd {
            1 => self.out_received(transport, data),
            2 => self.err_received(transport, data),
            _ => {}
        }
    }

    /// The child wrote `data` on its stdout.
    fn out_received(&mut self, transport: &ProcessTransport, data: &[u8]) {
        let _ = (transport, data);
    }

    /// The child wrote `data` on its stderr.
    fn err_received(&mut self, transport: &ProcessTransport, data: &[u8]) {
        let _ = (transport, data);
    }

    /// The pipe to or from the child's descriptor `fd` closed (either
    /// end closed it).
    fn child_connection_lost(&mut self, fd: u32) {
        match fd {
            0 => self.in_connection_lost(),
            1 => self.out_connection_lost(),
            2 => self.err_connection_lost(),
            _ => {}
        }
    }

    /// The child's stdin closed.
    fn in_connection_lost(&mut self) {}

    /// The child's stdout closed.
    fn out_connection_lost(&mut self) {}

    /// The child's stderr closed.
    fn err_connection_lost(&mut self) {}

    /// The process exited (its pipes may still be open: a grandchild can
    /// hold them).
    fn process_exited(&mut self, reason: ExitReason) {
        let _ = reason;
    }

    /// The process exited and every pipe to it is closed. The last call.
    fn process_ended(&mut self, reason: ExitReason) {
        let _ = reason;
    }

    /// The first part of the log system of lines about this process
    /// (`Cat,4242,stdout`); the type's name by default.
    fn log_prefix(&self) -> Cow<'static, str> {
        short_type_name::<Self>()
    }
}

/// How a process ended: Twisted's `ProcessDone` (exit code 0) or
/// `ProcessTerminated` (another exit code, or a signal), with their texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitReason {
    /// Exit code 0.
    Done,
    /// A non-zero exit code, or killed by a signal.
    Terminated {
        /// The exit code, if the process exited.
        exit_code: Option<i32>,
        /// The signal's number, if a signal ended it.
        signal: Option<i32>,
    },
}

impl ExitReason {
    /// The reason for a wait status.
    pub fn from_status(status: std::process::ExitStatus) -> ExitReason {
        match (status.code(), status.signal()) {
            (Some(0), _) => ExitReason::Done,
            (code, signal) => ExitReason::Terminated {
                exit_code: code,
                signal,
            },
        }
    }

    /// True for exit code 0.
    pub fn is_clean(&self) -> bool {
        matches!(self, ExitReason::Done)
    }

    /// The exit code (0 for [`ExitReason::Done`]); `None` when a signal
    /// ended the process.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            ExitReason::Done => Some(0),
            ExitReason::Terminated { exit_code, .. } => *exit_code,
        }
    }

    /// The signal that ended the process, if one did.
    pub fn signal(&self) -> Option<i32> {
        match self {
            ExitReason::Done => None,
            ExitReason::Terminated { signal, .. } => *signal,
        }
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Done => f.write_str(
                "A process has ended without apparent errors: process finished with exit code 0.",
            ),
            ExitReason::Terminated { exit_code, signal } => {
                f.write_str("A process has ended with a probable error condition: ")?;
                match (exit_code, signal) {
                    (_, Some(sig)) => write!(f, "process ended by signal {sig}."),
                    (Some(code), None) => write!(f, "process ended with exit code {code}."),
                    (None, None) => f.write_str("process ended."),
                }
            }
        }
    }
}

/// The child's environment. Twisted's rule, made explicit: an empty
/// mapping is an empty environment, and only [`Env::Inherit`] passes the
/// parent's on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Env {
    /// The parent's environment (Twisted's `env=None`).
    Inherit,
    /// Exactly these variables, none of the parent's (an empty list is an
    /// empty environment).
    Exactly(Vec<(OsString, OsString)>),
}

impl Env {
    /// Exactly the given variables.
    pub fn exactly<K: Into<OsString>, V: Into<OsString>>(
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Env {
        Env::Exactly(
            vars.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// No variables at all.
    pub fn empty() -> Env {
        Env::Exactly(Vec::new())
    }
}

/// What a child's descriptor is connected to (Twisted's `childFDs`
/// values).
#[derive(Debug)]
pub enum ChildFd {
    /// A pipe the child writes and the parent reads (Twisted's `"r"`):
    /// for descriptors 1 and 2.
    ToParent,
    /// A pipe the parent writes and the child reads (Twisted's `"w"`):
    /// for descriptor 0.
    FromParent,
    /// The parent's own descriptor of the same number.
    Inherit,
    /// `/dev/null`.
    Null,
}

/// Everything about a spawn besides the protocol, the program and its
/// arguments.
#[derive(Debug)]
pub struct ProcessOptions {
    env: Env,
    path: Option<PathBuf>,
    uid: Option<u32>,
    gid: Option<u32>,
    fds: BTreeMap<u32, ChildFd>,
    write_limit: WriteLimit,
    use_pty: bool,
}

impl Default for ProcessOptions {
    fn default() -> Self {
        let mut fds = BTreeMap::new();
        fds.insert(0, ChildFd::FromParent);
        fds.insert(1, ChildFd::ToParent);
        fds.insert(2, ChildFd::ToParent);
        ProcessOptions {
            env: Env::Inherit,
            path: None,
            uid: None,
            gid: None,
            fds,
            write_limit: WriteLimit::default(),
            use_pty: false,
        }
    }
}

impl ProcessOptions {
    /// Pipes on 0, 1 and 2, the parent's environment, its directory.
    pub fn new() -> ProcessOptions {
        ProcessOptions::default()
    }

    /// The child's environment.
    pub fn env(mut self, env: Env) -> Self {
        self.env = env;
        self
    }

    /// The child's working directory.
    pub fn path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Run the child as this user (needs the privilege to).
    pub fn uid(mut self, uid: u32) -> Self {
        self.uid = Some(uid);
        self
    }

    /// Run the child with this group (needs the privilege to).
    pub fn gid(mut self, gid: u32) -> Self {
        self.gid = Some(gid);
        self
    }

    /// What the child's descriptor `fd` is; a standard descriptor (0, 1,
    /// 2) left out by [`no_child_fd`](Self::no_child_fd) is `/dev/null`.
    pub fn child_fd(mut self, fd: u32, what: ChildFd) -> Self {
        self.fds.insert(fd, what);
        self
    }

    /// Leaves descriptor `fd` out of the mapping.
    pub fn no_child_fd(mut self, fd: u32) -> Self {
        self.fds.remove(&fd);
        self
    }

    /// Runs the child on a new pseudo-terminal (Twisted's `usePTY`): its
    /// descriptors 0, 1 and 2 are the terminal's, so it sees a terminal
    /// (`isatty`, line editing, echo); everything it writes arrives as
    /// [`out_received`](ProcessProtocol::out_received), writes go to its
    /// input, and, as in Twisted, the terminal cannot be closed one way
    /// (`close_stdin` and the like do nothing; `lose_connection` closes it)
    /// and no `child_connection_lost` is delivered. The descriptor mapping
    /// is ignored.
    ///
    /// Unlike Twisted's, the terminal is not the child's controlling
    /// terminal (making it one takes `setsid` in the child between fork
    /// and exec, which needs `unsafe` code the library does not allow):
    /// the child cannot open `/dev/tty`, and a typed ^C reaches it as a
    /// byte, not as SIGINT (use [`ProcessTransport::signal_process`]).
    pub fn use_pty(mut self, on: bool) -> Self {
        self.use_pty = on;
        self
    }

    /// The write cap of the pipe to the child's stdin
    /// ([`WriteLimit::default`] unless set).
    pub fn write_limit(mut self, limit: WriteLimit) -> Self {
        self.write_limit = limit;
        self
    }
}

/// Why a process could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// The program could not be run (missing, not executable, a bad
    /// working directory, no permission for the uid or gid).
    #[error("cannot run {program}: {}", crate::error::os_text(.error))]
    Exec {
        /// The program asked for.
        program: String,
        /// What the OS said.
        error: io::Error,
    },
    /// A child descriptor mapping gyre cannot set up.
    #[error("cannot give the child descriptor {fd} as {what}")]
    ChildFd {
        /// The child's descriptor.
        fd: u32,
        /// What was asked for it.
        what: String,
    },
    /// The parent's end of a pipe, or the exit watch, could not be set up
    /// (the child was killed and reaped).
    #[error("cannot watch the child process: {0}")]
    Watch(io::Error),
}

/// Why a signal could not be sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignalError {
    /// The process has exited already (Twisted's `ProcessExitedAlready`).
    #[error("process has already exited")]
    ExitedAlready,
    /// A name or number that is no signal.
    #[error("no such signal: {0}")]
    Unknown(String),
    /// The OS refused.
    #[error("cannot signal the process: {}", crate::error::os_text(.0))]
    Os(io::Error),
}

/// A signal to send, by Twisted's name (`"TERM"`, `"KILL"`, `"INT"`,
/// `"HUP"`, with or without `SIG`) or by number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalSpec {
    /// A name.
    Name(String),
    /// A number.
    Number(i32),
}

impl From<&str> for SignalSpec {
    fn from(name: &str) -> Self {
        SignalSpec::Name(name.to_string())
    }
}

impl From<i32> for SignalSpec {
    fn from(n: i32) -> Self {
        SignalSpec::Number(n)
    }
}

impl SignalSpec {
    fn resolve(&self) -> Result<rustix::process::Signal, SignalError> {
        use rustix::process::Signal;
        match self {
            SignalSpec::Number(n) => {
                Signal::from_named_raw(*n).ok_or_else(|| SignalError::Unknown(n.to_string()))
            }
            SignalSpec::Name(name) => {
                let bare = name.strip_prefix("SIG").unwrap_or(name);
                let sig = match bare {
                    "TERM" => Signal::TERM,
                    "KILL" => Signal::KILL,
                    "INT" => Signal::INT,
                    "HUP" => Signal::HUP,
                    "QUIT" => Signal::QUIT,
                    "USR1" => Signal::USR1,
                    "USR2" => Signal::USR2,
                    "STOP" => Signal::STOP,
                    "CONT" => Signal::CONT,
                    "ALRM" => Signal::ALARM,
                    "PIPE" => Signal::PIPE,
                    _ => match bare.parse::<i32>() {
                        Ok(n) => return SignalSpec::Number(n).resolve(),
                        Err(_) => return Err(SignalError::Unknown(name.clone())),
                    },
                };
                Ok(sig)
            }
        }
    }
}

impl Reactor {
    /// Starts `program` with `args` (which, as in Twisted, include the
    /// program's name as `argv[0]`; an empty list uses `program`) and runs
    /// `protocol` on it: pipes to its stdin, stdout and stderr, `env` as
    /// its environment, `path` (if given) as its working directory.
    ///
    /// `connection_made` runs before this returns.
    ///
    /// ```
    /// use gyre::Reactor;
    /// use gyre::process::{Env, ExitReason, ProcessProtocol, ProcessTransport};
    ///
    /// struct Upper(Reactor, std::rc::Rc<std::cell::RefCell<Vec<u8>>>);
    /// impl ProcessProtocol for Upper {
    ///     fn connection_made(&mut self, t: &ProcessTransport) {
    ///         t.write(b"hello\n");
    ///         t.close_stdin();
    ///     }
    ///     fn out_received(&mut self, _: &ProcessTransport, data: &[u8]) {
    ///         self.1.borrow_mut().extend_from_slice(data);
    ///     }
    ///     fn process_ended(&mut self, _: ExitReason) {
    ///         let _ = self.0.stop();
    ///     }
    /// }
    ///
    /// let reactor = Reactor::new()?;
    /// let out = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    /// reactor.spawn_process(Upper(reactor.clone(), out.clone()), "tr", ["tr", "a-z", "A-Z"], Env::Inherit, None)?;
    /// reactor.run_without_signals()?;
    /// assert_eq!(&*out.borrow(), b"HELLO\n");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn_process<A: AsRef<OsStr>>(
        &self,
        protocol: impl ProcessProtocol,
        program: impl AsRef<OsStr>,
        args: impl IntoIterator<Item = A>,
        env: Env,
        path: Option<&std::path::Path>,
    ) -> Result<ProcessTransport, SpawnError> {
        let mut options = ProcessOptions::new().env(env);
        if let Some(path) = path {
            options = options.path(path);
        }
        self.spawn_process_with(protocol, program, args, options)
    }

    /// [`spawn_process`](Self::spawn_process) with every option
    /// ([`ProcessOptions`]: uid, gid, the descriptor mapping, the stdin
    /// pipe's write cap).
    pub fn spawn_process_with<A: AsRef<OsStr>>(
        &self,
        protocol: impl ProcessProtocol,
        program: impl AsRef<OsStr>,
        args: impl IntoIterator<Item = A>,
        options: ProcessOptions,
    ) -> Result<ProcessTransport, SpawnError> {
        spawn(self, Box::new(protocol), program.as_ref(), args, options)
    }
}

fn spawn<A: AsRef<OsStr>>(
    reactor: &Reactor,
    protocol: Box<dyn ProcessProtocol>,
    program: &OsStr,
    args: impl IntoIterator<Item = A>,
    options: ProcessOptions,
) -> Result<ProcessTransport, SpawnError> {
    let mut cmd = Command::new(program);
    let mut args = args.into_iter();
    if let Some(arg0) = args.next() {
        cmd.arg0(arg0);
    }
    cmd.args(args);
    if let Env::Exactly(vars) = &options.env {
        cmd.env_clear();
        cmd.envs(vars.iter().map(|(k, v)| (k, v)));
    }
    if let Some(path) = &options.path {
        cmd.current_dir(path);
    }
    if let Some(uid) = options.uid {
        cmd.uid(uid);
    }
    if let Some(gid) = options.gid {
        cmd.gid(gid);
    }
    let mut fds = options.fds;
    let mut pty_master = None;
    if options.use_pty {
        use rustix::pty::OpenptFlags;
        let flags = OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC;
        let opened = (|| -> io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
            let master = rustix::pty::openpt(flags)?;
            rustix::pty::grantpt(&master)?;
            rustix::pty::unlockpt(&master)?;
            let slave = rustix::pty::ioctl_tiocgptpeer(&master, flags)?;
            rustix::io::ioctl_fionbio(&master, true)?;
            Ok((master, slave))
        })();
        let (master, slave) = opened.map_err(SpawnError::Watch)?;
        let copy = |fd: &std::os::fd::OwnedFd| fd.try_clone().map_err(SpawnError::Watch);
        cmd.stdin(Stdio::from(copy(&slave)?));
        cmd.stdout(Stdio::from(copy(&slave)?));
        cmd.stderr(Stdio::from(slave));
        fds.clear();
        pty_master = Some(master);
    }
    for fd in 0..3u32 {
        if pty_master.is_some() {
            break;
        }
        let stdio = match fds.remove(&fd) {
            None | Some(ChildFd::Null) => Stdio::null(),
            Some(ChildFd::Inherit) => Stdio::inherit(),
            Some(ChildFd::FromParent) if fd == 0 => Stdio::piped(),
            Some(ChildFd::ToParent) if fd != 0 => Stdio::piped(),
            Some(what) => {
                return Err(SpawnError::ChildFd {
                    fd,
                    what: format!("{what:?}"),
                });
            }
        };
        match fd {
            0 => cmd.stdin(stdio),
            1 => cmd.stdout(stdio),
            _ => cmd.stderr(stdio),
        };
    }
    if let Some((fd, what)) = fds.into_iter().next() {
        return Err(SpawnError::ChildFd {
            fd,
            what: format!("{what:?} (descriptors 3 and up are not supported yet)"),
        });
    }
    let spawned = cmd.spawn();
    // The parent's copies of the terminal's child side close here.
    drop(cmd);
    let mut child = spawned.map_err(|error| SpawnError::Exec {
        program: program.to_string_lossy().into_owned(),
        error,
    })?;
    let pid = child.id();
    let mut pipes = Vec::new();
    let pty = pty_master.is_some();
    if let Some(master) = pty_master {
        pipes.push((1, Pipe::Pty(master)));
    }
    let setup = (|| -> io::Result<()> {
        if let Some(stdin) = child.stdin.take() {
            let s = Sender::from(stdin);
            s.set_nonblocking(true)?;
            pipes.push((0, Pipe::ToChild(s)));
        }
        if let Some(out) = child.stdout.take() {
            let r = Receiver::from(out);
            r.set_nonblocking(true)?;
            pipes.push((1, Pipe::FromChild(r)));
        }
        if let Some(err) = child.stderr.take() {
            let r = Receiver::from(err);
            r.set_nonblocking(true)?;
            pipes.push((2, Pipe::FromChild(r)));
        }
        Ok(())
    })();
    if let Err(e) = setup {
        kill_and_reap(child);
        return Err(SpawnError::Watch(e));
    }
    let prefix = protocol.log_prefix();
    let inner = Rc::new_cyclic(|me| ProcessInner {
        reactor: reactor.downgrade(),
        me: me.clone(),
        pid,
        prefix,
        protocol: RefCell::new(Some(protocol)),
        pipes: RefCell::new(BTreeMap::new()),
        child: RefCell::new(Some(child)),
        watch: RefCell::new(None),
        exited: Cell::new(None),
        ended: Cell::new(false),
        abandoned: Cell::new(false),
        pty,
    });
    if let Err(e) = exit::watch(reactor, &inner) {
        if let Some(child) = inner.child.borrow_mut().take() {
            kill_and_reap(child);
        }
        inner.protocol.borrow_mut().take();
        return Err(SpawnError::Watch(e));
    }
    for (fd, pipe) in pipes {
        let adapter: Box<dyn Protocol> = Box::new(PipeProtocol {
            process: inner.clone(),
            fd,
        });
        let limit = if fd == 0 || pty {
            options.write_limit
        } else {
            WriteLimit::default()
        };
        match Connection::accept(reactor, pipe, PipePeer { fd }, pid, adapter, limit) {
            Ok(conn) => {
                let transport = Transport::new(conn);
                if pty {
                    // One terminal, written as stdin, read as stdout.
                    inner.pipes.borrow_mut().insert(0, transport.clone());
                }
                inner.pipes.borrow_mut().insert(fd, transport);
            }
            Err(e) => {
                // The pipes already set up close with the process.
                let transport = ProcessTransport {
                    inner: inner.clone(),
                };
                inner.protocol.borrow_mut().take();
                let _ = transport.signal_process("KILL");
                transport.lose_connection();
                return Err(SpawnError::Watch(e));
            }
        }
    }
    let transport = ProcessTransport {
        inner: inner.clone(),
    };
    inner.call("connection_made", |p, t| p.connection_made(t));
    Ok(transport)
}

/// Kills a child gyre gave up on and waits for it.
fn kill_and_reap(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Waits for a child on a thread of its own (a child still running when
/// the reactor that started it goes away), so it leaves no zombie.
fn reap_in_background(mut child: Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("gyre-reaper".into())
        .spawn(move || {
            let _ = child.wait();
        });
    if let Err(e) = spawned {
        log::warn!(target: "gyre", "cannot wait for a child process that outlived its reactor: {e}");
    }
}

/// One child and what the reactor knows of it.
struct ProcessInner {
    reactor: Weak<Inner>,
    me: Weak<ProcessInner>,
    pid: u32,
    prefix: Cow<'static, str>,
    protocol: RefCell<Option<Box<dyn ProcessProtocol>>>,
    /// The open pipes, by the child's descriptor.
    pipes: RefCell<BTreeMap<u32, Transport>>,
    /// The child until it is reaped.
    child: RefCell<Option<Child>>,
    /// How the exit is watched (`exit.rs`), until it is seen.
    watch: RefCell<Option<exit::Watch>>,
    exited: Cell<Option<ExitReason>>,
    ended: Cell<bool>,
    /// The reactor shut down with the child running.
    abandoned: Cell<bool>,
    /// The child runs on a pseudo-terminal: one connection under 0 and 1.
    pty: bool,
}

impl ProcessInner {
    fn rc(&self) -> Rc<ProcessInner> {
        self.me.upgrade().expect("a process in use is alive")
    }

    fn reactor(&self) -> Option<Reactor> {
        Reactor::from_weak(&self.reactor)
    }

    /// Calls the protocol in this process's log context, catching a panic.
    fn call(&self, site: &str, f: impl FnOnce(&mut dyn ProcessProtocol, &ProcessTransport)) {
        let me = self.rc();
        let _ctx = enter(me.clone());
        let transport = ProcessTransport { inner: me };
        let Ok(mut slot) = self.protocol.try_borrow_mut() else {
            log::error!(target: "gyre", "Unhandled Error\n{site} called from inside another callback of the same process protocol");
            return;
        };
        if let Some(p) = slot.as_mut()
            && let Err(msg) = guarded(|| f(&mut **p, &transport))
        {
            log_panic(site, &msg);
        }
    }

    /// The child has exited (`exit.rs` saw it and reaped it).
    fn exited(&self, reason: ExitReason) {
        if self.exited.get().is_some() {
            return;
        }
        self.exited.set(Some(reason));
        self.call("process_exited", |p, _| p.process_exited(reason));
        self.maybe_ended();
    }

    /// A pipe closed.
    fn pipe_lost(&self, fd: u32) {
        if self.pty {
            // The whole terminal; Twisted reports no descriptor's loss.
            let removed = std::mem::take(&mut *self.pipes.borrow_mut());
            drop(removed);
            self.maybe_ended();
            return;
        }
        let removed = self.pipes.borrow_mut().remove(&fd);
        drop(removed);
        self.call("child_connection_lost", |p, _| p.child_connection_lost(fd));
        self.maybe_ended();
    }

    fn maybe_ended(&self) {
        let Some(reason) = self.exited.get() else {
            if self.abandoned.get() && self.pipes.borrow().is_empty() {
                let protocol = self.protocol.borrow_mut().take();
                drop(protocol);
            }
            return;
        };
        if self.ended.get() || !self.pipes.borrow().is_empty() {
            return;
        }
        self.ended.set(true);
        self.call("process_ended", |p, _| p.process_ended(reason));
        // The last call: let go of the protocol (it may hold our transport).
        let protocol = self.protocol.borrow_mut().take();
        drop(protocol);
    }

    /// Reaps the child if it has exited; true if it has.
    fn try_reap(&self) -> bool {
        let status = {
            let mut slot = self.child.borrow_mut();
            let Some(child) = slot.as_mut() else {
                return true;
            };
            match child.try_wait() {
                Ok(Some(status)) => {
                    slot.take();
                    status
                }
                Ok(None) => return false,
                Err(e) => {
                    log::warn!(target: "gyre", "cannot wait for process {}: {e}", self.pid);
                    return false;
                }
            }
        };
        if let Some(watch) = self.watch.borrow_mut().take()
            && let Some(reactor) = self.reactor()
        {
            watch.stop(&reactor);
        }
        self.exited(ExitReason::from_status(status));
        true
    }

    /// The reactor is shutting down with the child still running.
    fn abandon(&self) {
        if let Some(watch) = self.watch.borrow_mut().take()
            && let Some(reactor) = self.reactor()
        {
            watch.stop(&reactor);
        }
        if let Some(child) = self.child.borrow_mut().take() {
            reap_in_background(child);
        }
        self.abandoned.set(true);
        // Dropped now, or once the last pipe has told it of its close.
        self.maybe_ended();
    }
}

impl Drop for ProcessInner {
    fn drop(&mut self) {
        if let Some(child) = self.child.get_mut().take() {
            reap_in_background(child);
        }
    }
}

impl LogContext for ProcessInner {
    fn system(&self) -> String {
        format!("{},{}", self.prefix, self.pid)
    }
}

/// The protocol of one pipe's stream connection: forwards to the process
/// protocol, naming the descriptor.
struct PipeProtocol {
    process: Rc<ProcessInner>,
    fd: u32,
}

impl Protocol for PipeProtocol {
    fn data_received(&mut self, _: &Transport, data: &[u8]) {
        let transport = ProcessTransport {
            inner: self.process.clone(),
        };
        let mut slot = self.process.protocol.borrow_mut();
        if let Some(p) = slot.as_mut() {
            // A panic is caught by the connection, which logs it and
            // closes this pipe.
            p.child_data_received(&transport, self.fd, data);
        }
    }

    fn connection_lost(&mut self, _: Reason) {
        self.process.pipe_lost(self.fd);
    }

    fn log_prefix(&self) -> Cow<'static, str> {
        self.process.prefix.clone()
    }
}

/// The handle to a child process a [`ProcessProtocol`] gets: writes to its
/// stdin, closes its pipes, signals it. Cheap to clone.
#[derive(Clone)]
pub struct ProcessTransport {
    inner: Rc<ProcessInner>,
}

impl ProcessTransport {
    fn pipe(&self, fd: u32) -> Option<Transport> {
        self.inner.pipes.borrow().get(&fd).cloned()
    }

    /// Writes `data` to the child's stdin, with the stream write path
    /// (dropped once stdin is closed).
    pub fn write(&self, data: &[u8]) {
        self.write_to_child(0, data);
    }

    /// Writes all of `parts` to the child's stdin.
    pub fn write_sequence(&self, parts: &[&[u8]]) {
        if let Some(t) = self.pipe(0) {
            t.write_sequence(parts);
        }
    }

    /// Writes `data` to the child's descriptor `fd` (one the parent writes to).
    pub fn write_to_child(&self, fd: u32, data: &[u8]) {
        if let Some(t) = self.pipe(fd) {
            t.write(data);
        }
    }

    /// Closes the child's stdin once what was written to it is sent.
    pub fn close_stdin(&self) {
        self.close_child_fd(0);
    }

    /// Closes the pipe from the child's stdout.
    pub fn close_stdout(&self) {
        self.close_child_fd(1);
    }

    /// Closes the pipe from the child's stderr.
    pub fn close_stderr(&self) {
        self.close_child_fd(2);
    }

    /// Closes the pipe of the child's descriptor `fd` (a pipe to the child
    /// once its buffered bytes are sent).
    pub fn close_child_fd(&self, fd: u32) {
        if self.inner.pty {
            return; // a terminal closes whole (`lose_connection`)
        }
        if let Some(t) = self.pipe(fd) {
            t.lose_connection();
        }
    }

    /// Closes every pipe (stdin after what is buffered for it); the
    /// process itself is not signalled.
    pub fn lose_connection(&self) {
        let pipes: Vec<Transport> = self.inner.pipes.borrow().values().cloned().collect();
        for t in pipes {
            t.lose_connection();
        }
    }

    /// Sends a signal (`"TERM"`, `"KILL"`, `"INT"`, another name, or a
    /// number). [`SignalError::ExitedAlready`] once the process has exited.
    pub fn signal_process(&self, signal: impl Into<SignalSpec>) -> Result<(), SignalError> {
        let sig = signal.into().resolve()?;
        if self.inner.child.borrow().is_none() {
            return Err(SignalError::ExitedAlready);
        }
        // While the child is unreaped its pid cannot be reused.
        match self.inner.watch.borrow().as_ref() {
            Some(watch) => watch.signal(self.inner.pid, sig),
            None => exit::signal_pid(self.inner.pid, sig),
        }
        .map_err(|e| {
            if e.raw_os_error() == Some(rustix::io::Errno::SRCH.raw_os_error()) {
                SignalError::ExitedAlready
            } else {
                SignalError::Os(e)
            }
        })
    }

    /// The child's process id; `None` once it has exited and been reaped
    /// (as Twisted's `pid` becomes `None`).
    pub fn pid(&self) -> Option<u32> {
        self.inner.child.borrow().as_ref().map(|_| self.inner.pid)
    }

    /// The process's exit, once it has exited.
    pub fn exit_reason(&self) -> Option<ExitReason> {
        self.inner.exited.get()
    }

    /// Registers a producer of what is written to the child's stdin
    /// (paused while more than 64 KiB waits for the child to read).
    pub fn register_producer(&self, producer: Producer) -> Result<(), crate::ProducerError> {
        match self.pipe(0) {
            Some(t) => t.register_producer(producer),
            None => {
                producer.stop_producing();
                Ok(())
            }
        }
    }

    /// Unregisters the stdin producer.
    pub fn unregister_producer(&self) {
        if let Some(t) = self.pipe(0) {
            t.unregister_producer();
        }
    }

    /// Bytes written to stdin the child has not read yet.
    pub fn buffered(&self) -> usize {
        self.pipe(0).map_or(0, |t| t.buffered())
    }

    /// The stream transport of the pipe of the child's descriptor `fd`,
    /// while it is open (to register a producer on it, change its write
    /// cap, observe it).
    pub fn child_transport(&self, fd: u32) -> Option<Transport> {
        self.pipe(fd)
    }

    /// Stops reading the child's output until [`resume_reading`](Self::resume_reading).
    pub fn pause_reading(&self) {
        for (fd, t) in self.inner.pipes.borrow().iter() {
            if *fd != 0 {
                t.pause_reading();
            }
        }
    }

    /// Reads the child's output again.
    pub fn resume_reading(&self) {
        let readers: Vec<Transport> = self
            .inner
            .pipes
            .borrow()
            .iter()
            .filter(|(fd, _)| **fd != 0)
            .map(|(_, t)| t.clone())
            .collect();
        for t in readers {
            if t.is_connected() && !t.is_disconnecting() {
                t.resume_reading();
            }
        }
    }

    /// This process as the producer of its output: register it on the
    /// transport its output is written to, and a slow reader there pauses
    /// the reading of the child's stdout and stderr (then the child
    /// blocks on a full pipe). Stopping it closes the pipes.
    pub fn as_producer(&self) -> Producer {
        Producer::Streaming(Rc::new(self.clone()))
    }
}

impl PushProducer for ProcessTransport {
    fn pause_producing(&self) {
        self.pause_reading();
    }
    fn resume_producing(&self) {
        self.resume_reading();
    }
    fn stop_producing(&self) {
        self.lose_connection();
    }
}

impl fmt::Debug for ProcessTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessTransport")
            .field("pid", &self.inner.pid)
            .field(
                "pipes",
                &self.inner.pipes.borrow().keys().collect::<Vec<_>>(),
            )
            .field("exited", &self.inner.exited.get())
            .finish()
    }
}
