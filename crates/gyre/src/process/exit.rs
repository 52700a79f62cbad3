//! Noticing a child's exit: a readiness source, so the exit is one more
//! event of the loop.
//!
//! On Linux (5.3 and later) each child gets a pidfd, which the poller
//! reports readable once the child has exited; the child is then reaped
//! with a non-blocking wait on its own pid (it cannot have been reused:
//! an unreaped child keeps its pid). Signals go through the pidfd too.
//!
//! Where `pidfd_open` is missing (`ENOSYS`), a SIGCHLD handler
//! (signal-hook-mio, one per reactor) wakes the reactor, which then polls
//! each of its own children with a non-blocking wait for its pid (never a
//! wait for any child, which would steal other code's children). A child
//! that exited before the handler was in place is caught by a poll made
//! right after it is registered.

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::{Rc, Weak};

use mio::Interest;
use mio::unix::SourceFd;
use rustix::process::{Pid, PidfdFlags, Signal};
use signal_hook_mio::v1_0::Signals;

use super::ProcessInner;
use crate::reactor::{Inner, Reactor, Ready, Source};

thread_local! {
    /// Tests set this to use the SIGCHLD way where pidfds exist.
    static FORCE_SIGCHLD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Each reactor's SIGCHLD source on this thread, made on first need.
    static SIGCHLD: RefCell<Vec<(Weak<Inner>, Weak<SigchldSource>)>> = const { RefCell::new(Vec::new()) };
}

/// Makes the processes spawned later on this thread notice their exit
/// through SIGCHLD instead of a pidfd, as on kernels without pidfds
/// (for testing that way where pidfds exist).
#[doc(hidden)]
pub fn force_sigchld(on: bool) {
    FORCE_SIGCHLD.with(|f| f.set(on));
}

/// How one child's exit is being watched.
pub(super) enum Watch {
    /// Its pidfd, registered under `token`.
    Pidfd { fd: OwnedFd, token: usize },
    /// The reactor's SIGCHLD source.
    Sigchld,
}

impl Watch {
    /// Stops watching (the child was reaped, or is abandoned).
    pub(super) fn stop(self, reactor: &Reactor) {
        match self {
            Watch::Pidfd { fd, token } => {
                reactor.deregister(&mut SourceFd(&fd.as_raw_fd()), token);
                drop(fd);
            }
            Watch::Sigchld => {}
        }
    }

    /// Sends `sig` to the child.
    pub(super) fn signal(&self, pid: u32, sig: Signal) -> io::Result<()> {
        match self {
            Watch::Pidfd { fd, .. } => Ok(rustix::process::pidfd_send_signal(fd, sig)?),
            Watch::Sigchld => signal_pid(pid, sig),
        }
    }
}

/// Sends `sig` to `pid` (a child not reaped yet).
pub(super) fn signal_pid(pid: u32, sig: Signal) -> io::Result<()> {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    Ok(rustix::process::kill_process(pid, sig)?)
}

/// Starts watching `process`'s exit.
pub(super) fn watch(reactor: &Reactor, process: &Rc<ProcessInner>) -> io::Result<()> {
    if !FORCE_SIGCHLD.with(|f| f.get()) {
        let pid = i32::try_from(process.pid)
            .ok()
            .and_then(Pid::from_raw)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        match rustix::process::pidfd_open(pid, PidfdFlags::empty()) {
            Ok(fd) => {
                let source: Rc<dyn Source> = Rc::new(PidfdSource {
                    process: process.clone(),
                });
                let token =
                    reactor.register(&mut SourceFd(&fd.as_raw_fd()), Interest::READABLE, |_| {
                        source
                    })?;
                *process.watch.borrow_mut() = Some(Watch::Pidfd { fd, token });
                return Ok(());
            }
            Err(rustix::io::Errno::NOSYS) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let source = sigchld_source(reactor)?;
    source.children.borrow_mut().push(Rc::downgrade(process));
    *process.watch.borrow_mut() = Some(Watch::Sigchld);
    // It may have exited before the handler was installed.
    let weak = Rc::downgrade(process);
    reactor.call_soon(move || {
        if let Some(p) = weak.upgrade() {
            p.try_reap();
        }
    });
    Ok(())
}

/// A child's pidfd.
struct PidfdSource {
    process: Rc<ProcessInner>,
}

impl Source for PidfdSource {
    fn ready(self: Rc<Self>, _token: usize, _ready: Ready) {
        self.process.try_reap();
    }

    fn shutdown(self: Rc<Self>) {
        self.process.abandon();
    }

    fn log_system(&self) -> Option<String> {
        Some(crate::log::LogContext::system(&*self.process))
    }
}

/// A reactor's SIGCHLD handler and the children it polls.
struct SigchldSource {
    signals: RefCell<Option<Signals>>,
    children: RefCell<Vec<Weak<ProcessInner>>>,
}

fn sigchld_source(reactor: &Reactor) -> io::Result<Rc<SigchldSource>> {
    let me = reactor.downgrade();
    let found = SIGCHLD.with(|all| {
        let mut all = all.borrow_mut();
        all.retain(|(r, s)| r.strong_count() > 0 && s.strong_count() > 0);
        all.iter()
            .find(|(r, _)| r.ptr_eq(&me))
            .and_then(|(_, s)| s.upgrade())
    });
    if let Some(found) = found {
        return Ok(found);
    }
    let mut signals = Signals::new([signal_hook::consts::SIGCHLD])?;
    let source = Rc::new(SigchldSource {
        signals: RefCell::new(None),
        children: RefCell::new(Vec::new()),
    });
    let as_source: Rc<dyn Source> = source.clone();
    reactor.register(&mut signals, Interest::READABLE, |_| as_source)?;
    *source.signals.borrow_mut() = Some(signals);
    SIGCHLD.with(|all| all.borrow_mut().push((me, Rc::downgrade(&source))));
    Ok(source)
}

impl Source for SigchldSource {
    fn ready(self: Rc<Self>, _token: usize, _ready: Ready) {
        if let Some(signals) = self.signals.borrow_mut().as_mut() {
            signals.pending().for_each(drop);
        }
        let children: Vec<Rc<ProcessInner>> = {
            let mut children = self.children.borrow_mut();
            children.retain(|c| c.strong_count() > 0);
            children.iter().filter_map(Weak::upgrade).collect()
        };
        let mut reaped = Vec::new();
        for child in children {
            if child.try_reap() {
                reaped.push(Rc::downgrade(&child));
            }
        }
        self.children
            .borrow_mut()
            .retain(|c| !reaped.iter().any(|r| r.ptr_eq(c)));
    }

    fn shutdown(self: Rc<Self>) {
        let children: Vec<Rc<ProcessInner>> = self
            .children
            .borrow_mut()
            .drain(..)
            .filter_map(|c| c.upgrade())
            .collect();
        for child in children {
            child.abandon();
        }
    }
}
