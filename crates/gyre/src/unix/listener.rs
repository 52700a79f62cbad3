//! A listening UNIX stream socket: binding it (mode, stale socket files,
//! the PID lock, abstract names), and what the shared port
//! (`crate::stream::port`) needs to know of it.

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use mio::net::UnixListener;
use socket2::{Domain, SockAddr, Socket, Type};

use crate::address::Address;
use crate::stream::Listener;

use super::lock::{PidLock, lock_path};
use super::socket::UnixSocket;
use super::{UnixListenOptions, is_abstract, std_address};

/// A listening UNIX socket, its path, and the lock it holds.
pub(super) struct UnixPort {
    listener: UnixListener,
    path: PathBuf,
    _lock: Option<PidLock>,
}

/// Why a UNIX port could not be opened.
pub(super) enum BindError {
    /// The PID lock is held by a live process.
    Locked,
    /// The OS refused.
    Io(io::Error),
}

impl From<io::Error> for BindError {
    fn from(e: io::Error) -> Self {
        BindError::Io(e)
    }
}

/// Takes the lock (if asked), clears a stale socket file, binds, sets the
/// file's mode and listens.
pub(super) fn bind(path: &Path, options: &UnixListenOptions) -> Result<UnixPort, BindError> {
    let named = !is_abstract(path);
    let lock = if options.want_pid && named {
        match PidLock::acquire(&lock_path(path))? {
            None => return Err(BindError::Locked),
            Some(lock) => {
                if !lock.clean && is_socket_file(path) {
                    // The dead owner's socket (Twisted does the same).
                    let _ = std::fs::remove_file(path);
                }
                Some(lock)
            }
        }
    } else {
        None
    };
    if named {
        remove_if_stale(path);
    }
    let socket = Socket::new(Domain::UNIX, Type::STREAM.nonblocking().cloexec(), None)?;
    socket.bind(&SockAddr::unix(path)?)?;
    if named {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(options.mode))?;
    }
    let backlog = i32::try_from(options.backlog).unwrap_or(i32::MAX);
    socket.listen(backlog)?;
    Ok(UnixPort {
        listener: UnixListener::from_std(std::os::unix::net::UnixListener::from(
            std::os::fd::OwnedFd::from(socket),
        )),
        path: path.to_path_buf(),
        _lock: lock,
    })
}

fn is_socket_file(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

/// Removes the socket file at `path` if no process listens on it any more
/// (a connect is refused). A live socket, or a file that is not a socket,
/// is left for `bind` to refuse with "Address already in use".
fn remove_if_stale(path: &Path) {
    if !is_socket_file(path) {
        return;
    }
    let Ok(probe) = Socket::new(Domain::UNIX, Type::STREAM.nonblocking().cloexec(), None) else {
        return;
    };
    let Ok(addr) = SockAddr::unix(path) else {
        return;
    };
    if let Err(e) = probe.connect(&addr)
        && e.kind() == io::ErrorKind::ConnectionRefused
    {
        let _ = std::fs::remove_file(path);
    }
}

impl Listener for UnixPort {
    type Socket = UnixSocket;

    const TARGET: &'static str = "gyre::unix";

    fn accept(&self) -> io::Result<(UnixSocket, Address)> {
        let (stream, peer) = self.listener.accept()?;
        Ok((UnixSocket::new(stream), std_address(&peer)))
    }

    fn host(&self) -> io::Result<Address> {
        Ok(Address::unix(Some(&self.path)))
    }

    fn shown(host: &Address) -> String {
        format!("'{}'", host.host())
    }

    fn closed_line(host: &Address) -> String {
        format!("(UNIX Port {} Closed)", host.host())
    }

    fn close(self) {
        let UnixPort {
            listener,
            path,
            _lock,
        } = self;
        drop(listener);
        if !is_abstract(&path) {
            let _ = std::fs::remove_file(&path);
        }
        // The lock goes last, as in Twisted.
        drop(_lock);
    }
}

impl mio::event::Source for UnixPort {
    fn register(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        self.listener.register(registry, token, interests)
    }
    fn reregister(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        self.listener.reregister(registry, token, interests)
    }
    fn deregister(&mut self, registry: &mio::Registry) -> io::Result<()> {
        self.listener.deregister(registry)
    }
}
