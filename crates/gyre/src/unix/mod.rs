//! UNIX-domain sockets: stream listening ports, outgoing connections and
//! adopted sockets, and datagram sockets (`datagram.rs`).
//!
//! A UNIX stream connection is the shared stream connection
//! (`crate::stream`) over a [`mio::net::UnixStream`]: producers, half-close,
//! pause/resume, `writev` and the 64 KiB rule behave exactly as over TCP;
//! ports and connectors are the shared ones too. What differs is here:
//!
//! * `listener.rs`: binding a path: the socket file gets its mode (default
//!   0o666, set after `bind` as Twisted does), a stale socket file (one
//!   that refuses connections: its server died) is removed first while a
//!   live one is an error, `want_pid` takes Twisted's `<path>.lock` PID
//!   lock (`lock.rs`), and the file (and lock) go when the port stops;
//! * `dial.rs`: connecting to a path, with `check_pid`;
//! * `socket.rs`: addresses are [`Address::unix`] values (a path, or
//!   unnamed), the peer's credentials come from `SO_PEERCRED`, descriptors
//!   pass with `SCM_RIGHTS` ([`Transport::send_file_descriptor`](crate::Transport::send_file_descriptor),
//!   [`Transport::received_file_descriptors`](crate::Transport::received_file_descriptors);
//!   reads are `recvmsg` calls for that), and the TCP options
//!   (`TCP_NODELAY`, `SO_KEEPALIVE`) are refused with
//!   `ErrorKind::Unsupported`;
//! * `datagram.rs`: UNIX datagram sockets ([`Reactor::listen_unix_datagram`],
//!   [`Reactor::connect_unix_datagram`]).
//!
//! Names: a path, or on Linux an abstract name, a path that starts with a
//! NUL byte ([`abstract_name`]`("name")`, `@name` in endpoint strings and
//! log lines); an abstract name has no file, no mode and no lock.
//!
//! Log lines and addresses are Twisted's (reference §1.9, §17.2):
//! `EchoFactory starting on '/run/echo.sock'`, `(UNIX Port /run/echo.sock
//! Closed)`; a server connection logs as `Echo,0,` (the peer is unnamed);
//! a server's `host()` is `UNIXAddress('/run/echo.sock')` and its `peer()`
//! `UNIXAddress(None)`, a client's the other way round. Two things differ
//! on purpose: the socket is bound before `starting on` is logged and the
//! factory started (Twisted starts the factory first and leaves it started
//! when the bind fails), and a listen error names the path alone
//! (`Couldn't listen on /run/echo.sock: Address already in use.`).
//!
//! Tests: `tests/unix.rs` (ports, connectors, files, locks, credentials),
//! and the shared connection tests over listened UNIX sockets and
//! socketpairs (`tests/transport.rs`, `tests/producers.rs`).

mod datagram;
mod dial;
mod listener;
mod lock;
mod socket;

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::address::{Address, shown_path};
use crate::connector::Connector;
use crate::error::ListenError;
use crate::factory::{ClientFactory, ErasedFactory, Factory, Shared};
use crate::port::ListeningPort;
use crate::reactor::Reactor;
use crate::stream::{self, Port, StreamConnector};

pub use crate::datagram::{DatagramProtocol, DatagramTransport, SharedDatagram};
pub use crate::transport::PeerCredentials;
pub use datagram::UnixDatagramOptions;

use dial::UnixDial;
use listener::BindError;

/// Options for [`Reactor::listen_unix_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixListenOptions {
    /// The listen queue length (default 1024, as for TCP; Twisted's is 50).
    pub backlog: u32,
    /// The socket file's permission bits (default `0o666`, anyone may
    /// connect).
    pub mode: u32,
    /// Take the PID lock `<path>.lock` first (Twisted's `wantPID`): a
    /// second locked listener on the path is refused with `Cannot acquire
    /// lock`, and a lock left by a dead process is taken over (its socket
    /// file removed).
    pub want_pid: bool,
}

impl Default for UnixListenOptions {
    fn default() -> Self {
        UnixListenOptions {
            backlog: crate::port::DEFAULT_BACKLOG,
            mode: 0o666,
            want_pid: false,
        }
    }
}

/// Options for [`Reactor::connect_unix_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixConnectOptions {
    /// Give up after this long (default 30 s; `None` never gives up).
    pub timeout: Option<Duration>,
    /// Connect only if a live process holds the server's PID lock
    /// (`<path>.lock`); otherwise fail with
    /// [`ConnectError::BadFile`](crate::ConnectError::BadFile) (Twisted's
    /// `checkPID`). A stale lock is removed by the check.
    pub check_pid: bool,
}

impl Default for UnixConnectOptions {
    fn default() -> Self {
        UnixConnectOptions {
            timeout: Some(Duration::from_secs(30)),
            check_pid: false,
        }
    }
}

/// The path naming Linux abstract socket `name` (a leading NUL byte): no
/// file is created for it, and it goes away with the last socket using it.
///
/// ```
/// let path = gyre::unix::abstract_name("gyre-echo");
/// assert_eq!(gyre::Address::unix(Some(&path)).to_string(), "UNIXAddress('@gyre-echo')");
/// ```
pub fn abstract_name(name: &str) -> PathBuf {
    let mut bytes = vec![0u8];
    bytes.extend_from_slice(name.as_bytes());
    PathBuf::from(OsString::from_vec(bytes))
}

/// True for an abstract name (a path starting with a NUL byte).
pub(crate) fn is_abstract(path: &Path) -> bool {
    path.as_os_str().as_bytes().first() == Some(&0)
}

/// A UNIX socket address as an [`Address`] (an unnamed socket has no path).
fn std_address(addr: &std::os::unix::net::SocketAddr) -> Address {
    use std::os::linux::net::SocketAddrExt;
    match (addr.as_pathname(), addr.as_abstract_name()) {
        (Some(path), _) => Address::unix(Some(path)),
        (None, Some(name)) => {
            let mut bytes = vec![0u8];
            bytes.extend_from_slice(name);
            Address::unix(Some(Path::new(&OsString::from_vec(bytes))))
        }
        (None, None) => Address::unix(None),
    }
}

impl Reactor {
    /// Listens for UNIX stream connections on the socket file `path` (or an
    /// [`abstract_name`]), with [`UnixListenOptions::default`]: mode 0o666,
    /// backlog 1024, no PID lock.
    ///
    /// Logs `<Factory> starting on '<path>'`, then `Starting factory <…>`
    /// the first time this factory is used; stopping the port removes the
    /// socket file and logs `(UNIX Port <path> Closed)`.
    ///
    /// ```
    /// use gyre::{for_protocol, Protocol, Reactor};
    ///
    /// struct Quiet;
    /// impl Protocol for Quiet {}
    ///
    /// let dir = std::env::temp_dir().join(format!("gyre-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("echo.sock");
    /// let reactor = Reactor::new()?;
    /// let port = reactor.listen_unix(&path, for_protocol(|| Quiet))?;
    /// assert_eq!(port.host().to_string(), format!("UNIXAddress('{}')", path.display()));
    /// assert!(path.exists());
    /// port.stop_listening();
    /// assert!(!path.exists());
    /// # std::fs::remove_dir(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn listen_unix<F: Factory>(
        &self,
        path: impl AsRef<Path>,
        factory: impl Into<Shared<F>>,
    ) -> Result<ListeningPort, ListenError> {
        self.listen_unix_with(path, factory, UnixListenOptions::default())
    }

    /// [`listen_unix`](Self::listen_unix) with a backlog, mode and PID lock.
    pub fn listen_unix_with<F: Factory>(
        &self,
        path: impl AsRef<Path>,
        factory: impl Into<Shared<F>>,
        options: UnixListenOptions,
    ) -> Result<ListeningPort, ListenError> {
        listen(self, path.as_ref(), factory.into().erased(), &options)
    }

    /// Connects to the UNIX socket at `path`, with a 30-second timeout.
    ///
    /// The [`ClientFactory`] callbacks and the [`Connector`] behave exactly
    /// as for [`connect_tcp`](Self::connect_tcp): `started_connecting` before
    /// this returns, then `build_protocol(UNIXAddress('<path>'))` and
    /// `connection_made`, or `client_connection_failed` (a missing path:
    /// `2: No such file or directory`; nobody listening: refused).
    pub fn connect_unix<F: ClientFactory>(
        &self,
        path: impl AsRef<Path>,
        factory: impl Into<Shared<F>>,
    ) -> Connector {
        self.connect_unix_with(path, factory, UnixConnectOptions::default())
    }

    /// [`connect_unix`](Self::connect_unix) with a timeout and `check_pid`.
    pub fn connect_unix_with<F: ClientFactory>(
        &self,
        path: impl AsRef<Path>,
        factory: impl Into<Shared<F>>,
        options: UnixConnectOptions,
    ) -> Connector {
        let dial = UnixDial {
            path: path.as_ref().to_path_buf(),
            check_pid: options.check_pid,
        };
        let factory = factory.into().erased_client();
        let handle = Connector::new(StreamConnector::new(self, dial, factory, options.timeout));
        // A fresh connector is disconnected, so this cannot fail.
        let _ = handle.connect();
        handle
    }

    /// Runs a protocol from `factory` on a connected UNIX stream socket made
    /// elsewhere (Twisted's `adoptStreamConnection` with `AF_UNIX`): one end
    /// of a [`UnixStream::pair`](std::os::unix::net::UnixStream::pair), a
    /// socket inherited from a parent process, or one accepted by other code.
    ///
    /// The socket is made non-blocking and owned by the reactor from here
    /// on. `factory.build_protocol(peer)` runs now (the peer is
    /// `UNIXAddress(None)` for an unnamed peer); if it declines, the socket
    /// is closed and nothing else happens. Otherwise `connection_made` runs
    /// before this returns, and the connection behaves as a TCP one does,
    /// less the TCP options. The factory is not started or stopped; the log
    /// prefix is `<Protocol>,0,`.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use gyre::{for_protocol, Protocol, Reactor, Reason, Transport};
    ///
    /// struct Upper(Reactor);
    /// impl Protocol for Upper {
    ///     fn data_received(&mut self, t: &Transport, data: &[u8]) {
    ///         t.write(&data.to_ascii_uppercase());
    ///         t.lose_connection();
    ///     }
    ///     fn connection_lost(&mut self, _: Reason) {
    ///         let _ = self.0.stop();
    ///     }
    /// }
    ///
    /// let (ours, mut theirs) = std::os::unix::net::UnixStream::pair()?;
    /// let reactor = Reactor::new()?;
    /// let r = reactor.clone();
    /// reactor.adopt_unix(ours, for_protocol(move || Upper(r.clone())))?;
    /// theirs.write_all(b"hello")?;
    /// reactor.run_without_signals()?;
    /// let mut back = Vec::new();
    /// theirs.read_to_end(&mut back)?;
    /// assert_eq!(back, b"HELLO");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn adopt_unix<F: Factory>(
        &self,
        socket: std::os::unix::net::UnixStream,
        factory: impl Into<Shared<F>>,
    ) -> io::Result<()> {
        adopt(self, socket, &*factory.into().erased())
    }
}

fn listen(
    reactor: &Reactor,
    path: &Path,
    factory: std::rc::Rc<dyn ErasedFactory>,
    options: &UnixListenOptions,
) -> Result<ListeningPort, ListenError> {
    let fail = |source: io::Error| ListenError {
        address: shown_path(path),
        source,
    };
    let bound = listener::bind(path, options).map_err(|e| match e {
        BindError::Locked => fail(io::Error::other("Cannot acquire lock")),
        BindError::Io(e) => fail(e),
    })?;
    let port = Port::open(reactor, bound, factory).map_err(fail)?;
    Ok(ListeningPort::new(port))
}

fn adopt(
    reactor: &Reactor,
    socket: std::os::unix::net::UnixStream,
    factory: &dyn ErasedFactory,
) -> io::Result<()> {
    let peer = std_address(&socket.peer_addr()?);
    socket.set_nonblocking(true)?;
    let stream = socket::UnixSocket::new(mio::net::UnixStream::from_std(socket));
    stream::adopt(reactor, stream, peer, 0, factory)
}
