//! Where a UNIX connector connects to, and how (the UNIX half of the shared
//! connector, `crate::stream::connector`): a path (or abstract name), and
//! whether the server's PID lock must be live first (`check_pid`).

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use mio::net::UnixStream;
use socket2::{Domain, SockAddr, Socket, Type};

use crate::address::{Address, shown_path};
use crate::connector::Destination;
use crate::error::ConnectError;
use crate::stream::{Attempt, Dial};

use super::lock::{is_locked, lock_path};
use super::socket::UnixSocket;

/// How long a connect waits before trying again when the listener's queue
/// is full (a non-blocking UNIX connect then fails with `EAGAIN` instead of
/// waiting). The connector's timeout bounds the retries.
const FULL_QUEUE_RETRY: Duration = Duration::from_millis(20);

pub(super) struct UnixDial {
    pub(super) path: PathBuf,
    pub(super) check_pid: bool,
}

impl Dial for UnixDial {
    type Socket = UnixSocket;

    /// Twisted logs a UNIX client's `connectionMade` under `-`.
    const CONNECTING_SYSTEM: &'static str = "-";

    fn destination(&self) -> Destination {
        Destination {
            host: shown_path(&self.path),
            port: 0,
        }
    }

    fn address(&self) -> Option<Address> {
        Some(Address::unix(Some(&self.path)))
    }

    fn begin(&self, attempt: Attempt<Self>) {
        if self.check_pid && !is_locked(&lock_path(&self.path)) {
            attempt.fail(ConnectError::BadFile {
                path: shown_path(&self.path),
            });
            return;
        }
        let connecting = Socket::new(Domain::UNIX, Type::STREAM.nonblocking().cloexec(), None)
            .and_then(|socket| {
                let outcome = socket.connect(&SockAddr::unix(&self.path)?);
                Ok((socket, outcome))
            });
        match connecting {
            Ok((socket, Ok(()))) => attempt.open(stream_of(socket)),
            Ok((socket, Err(e)))
                if e.raw_os_error() == Some(rustix::io::Errno::INPROGRESS.raw_os_error()) =>
            {
                attempt.open(stream_of(socket))
            }
            Ok((_, Err(e))) if e.kind() == io::ErrorKind::WouldBlock => {
                attempt.retry_after(FULL_QUEUE_RETRY)
            }
            Ok((_, Err(e))) | Err(e) => attempt.fail(ConnectError::from_io(e)),
        }
    }

    fn finished(&self, socket: &UnixSocket) -> io::Result<Option<Address>> {
        let stream = socket.stream();
        match stream.take_error() {
            Ok(Some(e)) | Err(e) => Err(e),
            // The peer as Twisted reports it: the path as given.
            Ok(None) => match stream.peer_addr() {
                Ok(_) => Ok(Some(Address::unix(Some(&self.path)))),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(None),
                Err(e) => Err(e),
            },
        }
    }
}

fn stream_of(socket: Socket) -> UnixSocket {
    UnixSocket::new(UnixStream::from_std(std::os::unix::net::UnixStream::from(
        std::os::fd::OwnedFd::from(socket),
    )))
}
