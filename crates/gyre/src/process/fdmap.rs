//! Descriptors 3 and up in the child (the part of Twisted's `childFDs`
//! the standard library cannot do), and the library's one `unsafe` block.
//!
//! [`std::process::Command`] places the child's descriptors 0, 1 and 2
//! itself. Any other number needs a `dup2` in the child, between `fork`
//! and `exec`: a [`CommandExt::pre_exec`] closure, which is `unsafe` to
//! install. [`install`] is the only function of the workspace allowed to
//! (the workspace denies `unsafe_code`; `scripts/check-layers` fails on
//! any other `unsafe`).
//!
//! The plan is made in the parent, in safe code ([`FdPlan::new`]): every
//! source is a descriptor the plan owns (the child's end of a pipe, a
//! `/dev/null`, a descriptor the caller handed over), close-on-exec, and
//! numbered 3 or more so that the standard library's own placing of 0, 1
//! and 2 (done before the closure runs) cannot overwrite it. In the child
//! the closure then does what Twisted's `_fdmap` does, which stays right
//! when sources and targets overlap (`{3: <fd 4>, 4: <fd 3>}`, or a target
//! that is another mapping's source):
//! 1. duplicates every source to a temporary above the highest target
//!    (so no later step can overwrite a source not yet placed);
//! 2. `dup2`s each temporary onto its target (the copy `dup2` makes is
//!    not close-on-exec: it survives `exec`);
//! 3. closes the temporaries.
//!
//! Before that, as Twisted closes every descriptor it was not asked to
//! pass, the closure makes close-on-exec every descriptor 3 and up the
//! parent had open when the plan was made (listed from `/proc/self/fd`,
//! or `/dev/fd`, in the parent): gyre and the standard library open all
//! of theirs close-on-exec already, but a process may have inherited some
//! that are not (a build tool's job server, a supervisor's pipe), and
//! those must not reach the program either. (It marks rather than closes
//! them: one of them may be the pipe on which the standard library
//! reports a failed `exec`, which must stay open until `exec`.)

use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

use rustix::io::FdFlags;

/// Where the child's descriptors 3 and up come from, prepared before the
/// spawn: plain vectors the closure owns, sized once, so the child only
/// reads them and fills slots already there.
#[derive(Debug)]
pub(crate) struct FdPlan {
    /// The child's descriptor numbers.
    targets: Vec<RawFd>,
    /// The descriptor to place at each target (kept open in the parent
    /// until the command is dropped, after the spawn).
    sources: Vec<OwnedFd>,
    /// The child's temporaries, one slot a source; empty in the parent.
    temps: Vec<Option<OwnedFd>>,
    /// The lowest number a temporary may take: above every target.
    above: RawFd,
    /// The parent's descriptors 3 and up when the plan was made, to be
    /// made close-on-exec in the child.
    open: Vec<RawFd>,
}

impl FdPlan {
    /// A plan placing each `(target, source)`; targets are 3 or more and
    /// distinct (the caller's mapping is keyed by them).
    pub(crate) fn new(placements: Vec<(RawFd, OwnedFd)>) -> io::Result<FdPlan> {
        let mut targets = Vec::with_capacity(placements.len());
        let mut sources = Vec::with_capacity(placements.len());
        for (target, source) in placements {
            // Close-on-exec, so a source survives exec only where placed.
            rustix::io::fcntl_setfd(&source, FdFlags::CLOEXEC)?;
            // 0, 1 and 2 are overwritten before the closure runs.
            let source = if source.as_raw_fd() < 3 {
                rustix::io::fcntl_dupfd_cloexec(&source, 3)?
            } else {
                source
            };
            targets.push(target);
            sources.push(source);
        }
        let above = targets.iter().copied().max().unwrap_or(2).max(2) + 1;
        let temps = sources.iter().map(|_| None).collect();
        Ok(FdPlan {
            targets,
            sources,
            temps,
            above,
            open: open_descriptors(),
        })
    }

    /// No descriptor to place.
    pub(crate) fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }
}

/// The numbers of this process's open descriptors 3 and up (none if
/// neither `/proc/self/fd` nor `/dev/fd` can be listed).
fn open_descriptors() -> Vec<RawFd> {
    let listing = std::fs::read_dir("/proc/self/fd").or_else(|_| std::fs::read_dir("/dev/fd"));
    let Ok(listing) = listing else {
        return Vec::new();
    };
    listing
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<RawFd>().ok())
        .filter(|&fd| fd >= 3)
        .collect()
}

/// Makes `cmd` place the plan's descriptors in the child before `exec`.
#[allow(unsafe_code)]
pub(crate) fn install(cmd: &mut Command, mut plan: FdPlan) {
    // SAFETY: the closure runs in the child after `fork`, where the
    // parent may have had other threads: only async-signal-safe work is
    // sound there. It makes only raw system calls through rustix (fcntl
    // F_SETFD and F_DUPFD_CLOEXEC, dup2, close), which allocate nothing, take no
    // lock and touch no state of the Rust standard library; errors are
    // plain errno values (an `io::Error` of an OS code allocates
    // nothing). The memory it reads and writes is the plan, owned by the
    // closure and sized before the spawn (`temps` has one slot a source:
    // filling it does not allocate). Two operations inside need `unsafe`.
    // `OwnedFd::from_raw_fd(target)` makes an owner of
    // a number that may be unopened or open on something else; it is
    // only ever the target of `dup2` (which opens it on the source
    // whatever it was) and is wrapped in `ManuallyDrop`, so it is never
    // closed by Rust and nothing reads from it before `dup2` has made it
    // ours. `BorrowedFd::borrow_raw(fd)` on a number listed in the parent
    // only sets that descriptor's close-on-exec flag in the child, where
    // no other code runs before `exec` to own it; a number closed since
    // the listing gives EBADF, which is ignored.
    unsafe {
        cmd.pre_exec(move || {
            for &fd in &plan.open {
                let _ = rustix::io::fcntl_setfd(BorrowedFd::borrow_raw(fd), FdFlags::CLOEXEC);
            }
            for (source, temp) in plan.sources.iter().zip(plan.temps.iter_mut()) {
                *temp = Some(rustix::io::fcntl_dupfd_cloexec(source, plan.above)?);
            }
            for (&target, temp) in plan.targets.iter().zip(plan.temps.iter()) {
                let Some(temp) = temp else {
                    continue;
                };
                let mut at = ManuallyDrop::new(OwnedFd::from_raw_fd(target));
                rustix::io::dup2(temp, &mut at)?;
            }
            for temp in plan.temps.iter_mut() {
                drop(temp.take());
            }
            Ok(())
        });
    }
}
