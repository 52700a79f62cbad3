//! Twisted's PID lock (`twisted.python.lockfile.FilesystemLock`): a
//! symbolic link `<path>.lock` whose target is the owner's process id.
//!
//! Taking the lock creates the link; a link left by a process that no
//! longer exists is stale and is replaced (the lock is then not *clean*:
//! whatever the dead owner left, such as its socket file, may be removed).
//! A link naming a live process (this one included) means the lock is held.
//! Released by removing the link, if it still names this process.

use std::io;
use std::path::{Path, PathBuf};

use rustix::io::Errno;
use rustix::process::{Pid, getpid, test_kill_process};

/// A lock held by this process; released when dropped.
#[derive(Debug)]
pub(super) struct PidLock {
    link: PathBuf,
    /// False when a stale lock was replaced.
    pub(super) clean: bool,
}

/// `<path>.lock`.
pub(super) fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

impl PidLock {
    /// Takes the lock at `link`; `Ok(None)` if a live process holds it.
    pub(super) fn acquire(link: &Path) -> io::Result<Option<PidLock>> {
        let mine = getpid().as_raw_nonzero().to_string();
        let mut clean = true;
        loop {
            match std::os::unix::fs::symlink(&mine, link) {
                Ok(()) => {
                    return Ok(Some(PidLock {
                        link: link.to_path_buf(),
                        clean,
                    }));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
            let owner = match std::fs::read_link(link) {
                Ok(target) => target,
                // Released meanwhile: try again.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let pid = owner
                .to_str()
                .and_then(|t| t.parse::<i32>().ok())
                .and_then(Pid::from_raw);
            let alive = match pid {
                Some(pid) => !matches!(test_kill_process(pid), Err(Errno::SRCH)),
                // Not a process id: nobody can hold it.
                None => false,
            };
            if alive {
                return Ok(None);
            }
            match std::fs::remove_file(link) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            clean = false;
        }
    }
}

impl Drop for PidLock {
    fn drop(&mut self) {
        let mine = getpid().as_raw_nonzero().to_string();
        if std::fs::read_link(&self.link).is_ok_and(|t| t.as_os_str() == mine.as_str()) {
            let _ = std::fs::remove_file(&self.link);
        }
    }
}

/// Twisted's `isLocked`: true if a live process holds the lock at `link`.
/// Checking takes and releases a free lock, and so removes a stale one.
pub(super) fn is_locked(link: &Path) -> bool {
    !matches!(PidLock::acquire(link), Ok(Some(_)))
}
