//! UNIX datagram sockets (Twisted's `listenUNIXDatagram` and
//! `connectUNIXDatagram`): a bound `SOCK_DGRAM` socket file delivering to
//! the same [`DatagramProtocol`] as a UDP port, through the same
//! [`DatagramTransport`] (Twisted, too, has one `DatagramProtocol` for both;
//! only the address family differs).
//!
//! * [`Reactor::listen_unix_datagram`] binds `path` (mode 0o666 unless
//!   asked otherwise; a stale socket file is replaced), logs `<Proto>
//!   starting on '<path>'`, then, for the protocol's first port, `Starting
//!   protocol <…>` and `start_protocol` (a [`SharedDatagram`] may serve UDP
//!   ports and UNIX sockets at once, started and stopped once);
//! * each datagram is `datagram_received(transport, data, from)`, `from`
//!   the sender's [`Address`] (`UNIXAddress(None)` for an unbound sender,
//!   to whom `write_to(data, from)` is `InvalidAddress`); longer than
//!   `max_packet_size` (8192) it is cut (without `datagram_truncated`: the
//!   length is not known here); a panic in the protocol is logged
//!   (`Unhandled Error`, system `path::Proto (UNIX)`) and the socket keeps
//!   serving;
//! * `write_to` takes a path (or an [`Address`]); an IP address is
//!   `WrongFamily`;
//! * [`Reactor::connect_unix_datagram`] connects to a listening path (bound
//!   itself to `bind_path` if given, so the server can answer); a missing
//!   path is an error returned by the call (Twisted calls
//!   `connectionFailed` instead, and wants a `ConnectedDatagramProtocol`,
//!   whose `datagramReceived` has no address: gyre passes the peer's);
//! * `stop_listening` logs `(Port '<path>' Closed)`, then, for the
//!   protocol's last port, `Stopping protocol <…>` and `stop_protocol`,
//!   and **removes the socket file this port created** (Twisted leaves it).
//!
//! Twisted logs these sockets' datagrams under `mod.Proto (UDP)` even
//! here; gyre says `(UNIX)`.
//!
//! Tests: `tests/unix_datagram.rs`.

use std::cell::{Cell, RefCell};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::rc::{Rc, Weak};

use mio::Interest;
use mio::net::UnixDatagram;

use crate::address::{Address, shown_path};
use crate::completion::Completion;
use crate::datagram::{
    DatagramError, DatagramPort, DatagramProtocol, DatagramTransport, ErasedDatagram,
    SharedDatagram, Target,
};
use crate::error::{ConnectError, ListenError};
use crate::log::{LogContext, enter};
use crate::reactor::{Inner, Reactor, Ready, Source};

use super::{is_abstract, std_address};

const TARGET: &str = "gyre::unix";

/// Bytes read per readable event before other work runs (as for UDP).
const READ_BUDGET: usize = 256 * 1024;

/// Options for [`Reactor::listen_unix_datagram_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixDatagramOptions {
    /// Datagrams longer than this are cut (default 8192).
    pub max_packet_size: usize,
    /// The socket file's permission bits (default 0o666).
    pub mode: u32,
}

impl Default for UnixDatagramOptions {
    fn default() -> Self {
        UnixDatagramOptions {
            max_packet_size: 8192,
            mode: 0o666,
        }
    }
}

struct Port {
    reactor: Weak<Inner>,
    me: Weak<Port>,
    socket: RefCell<Option<UnixDatagram>>,
    token: Cell<usize>,
    protocol: Rc<dyn ErasedDatagram>,
    /// The path this port bound (and removes at stop), if any.
    bound: Option<PathBuf>,
    host: Address,
    peer: RefCell<Option<Address>>,
    max_packet_size: usize,
    system: String,
}

fn closed() -> DatagramError {
    DatagramError::Closed
}

impl Port {
    fn reactor(&self) -> Option<Reactor> {
        Reactor::from_weak(&self.reactor)
    }

    fn read_ready(self: &Rc<Self>) {
        let Some(reactor) = self.reactor() else {
            return;
        };
        let _ctx = enter(self.clone());
        let transport = DatagramTransport::new(self.clone());
        let mut buf = reactor.take_read_buf();
        if buf.len() < self.max_packet_size {
            buf.resize(self.max_packet_size, 0);
        }
        let mut total = 0usize;
        loop {
            if total >= READ_BUDGET {
                let me = self.clone();
                reactor.call_soon(move || me.read_ready());
                break;
            }
            let received = match &*self.socket.borrow() {
                Some(s) => s.recv_from(&mut buf[..self.max_packet_size]),
                None => break,
            };
            match received {
                Ok((n, from)) => {
                    total += n.max(1);
                    let from = std_address(&from);
                    self.protocol.received(&transport, &buf[..n], &from, n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::error!(target: TARGET, "Unhandled Error\nwhile reading a datagram: {e}");
                    break;
                }
            }
        }
        reactor.put_read_buf(buf);
    }

    fn close_socket(&self) -> bool {
        let Some(mut socket) = self.socket.borrow_mut().take() else {
            return false;
        };
        if let Some(reactor) = self.reactor() {
            reactor.deregister(&mut socket, self.token.get());
        }
        drop(socket);
        if let Some(path) = &self.bound
            && !is_abstract(path)
        {
            let _ = std::fs::remove_file(path);
        }
        true
    }

    fn closed(self: &Rc<Self>) {
        {
            let _ctx = enter(self.clone());
            match &self.bound {
                Some(path) => log::info!(target: TARGET, "(Port '{}' Closed)", shown_path(path)),
                None => log::info!(target: TARGET, "(Port {} Closed)", self.host),
            }
        }
        self.protocol.do_stop();
    }

    fn stop(&self) -> Completion {
        if !self.close_socket() {
            return Completion::completed();
        }
        let Some(me) = self.me.upgrade() else {
            return Completion::completed();
        };
        let done = Completion::new();
        match self.reactor() {
            Some(reactor) => {
                let signal = done.clone();
                reactor.call_soon(move || {
                    me.closed();
                    signal.complete();
                });
            }
            None => {
                me.closed();
                done.complete();
            }
        }
        done
    }
}

impl Source for Port {
    fn ready(self: Rc<Self>, _token: usize, ready: Ready) {
        if ready.readable {
            self.read_ready();
        }
    }

    fn shutdown(self: Rc<Self>) {
        if self.close_socket() {
            self.closed();
        }
    }

    fn log_system(&self) -> Option<String> {
        Some(self.system.clone())
    }
}

impl LogContext for Port {
    fn system(&self) -> String {
        self.system.clone()
    }
}

/// Registers `socket` and starts the protocol.
fn open(
    reactor: &Reactor,
    mut socket: UnixDatagram,
    protocol: Rc<dyn ErasedDatagram>,
    bound: Option<PathBuf>,
    peer: Option<Address>,
    max_packet_size: usize,
) -> io::Result<DatagramTransport> {
    let host = match &bound {
        Some(path) => Address::unix(Some(path)),
        None => Address::unix(None),
    };
    let system = format!("{} (UNIX)", protocol.qualified_name());
    let prefix = protocol.log_prefix();
    let port = Rc::new_cyclic(|me| Port {
        reactor: reactor.downgrade(),
        me: me.clone(),
        socket: RefCell::new(None),
        token: Cell::new(usize::MAX),
        protocol,
        bound,
        host,
        peer: RefCell::new(peer),
        max_packet_size: max_packet_size.max(1),
        system,
    });
    let source: Rc<dyn Source> = port.clone();
    let token = reactor.register(&mut socket, Interest::READABLE, |_| source)?;
    port.token.set(token);
    *port.socket.borrow_mut() = Some(socket);
    match &port.bound {
        Some(path) => log::info!(target: TARGET, "{prefix} starting on '{}'", shown_path(path)),
        None => log::info!(target: TARGET, "{prefix} starting on {}", port.host),
    }
    let transport = DatagramTransport::new(port.clone());
    port.protocol.do_start(&transport);
    Ok(transport)
}

/// Binds a datagram socket at `path`, replacing a stale socket file.
fn bind(path: &Path, mode: Option<u32>) -> io::Result<UnixDatagram> {
    if !is_abstract(path)
        && std::fs::symlink_metadata(path).is_ok_and(|m| {
            use std::os::unix::fs::FileTypeExt;
            m.file_type().is_socket()
        })
    {
        // A datagram socket file nobody has open refuses a probe.
        let probe = std::os::unix::net::UnixDatagram::unbound()?;
        if let Err(e) = probe.connect(path)
            && e.kind() == io::ErrorKind::ConnectionRefused
        {
            let _ = std::fs::remove_file(path);
        }
    }
    let socket = UnixDatagram::bind(path)?;
    if let Some(mode) = mode
        && !is_abstract(path)
    {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(socket)
}

impl Reactor {
    /// Listens for UNIX datagrams at `path` with
    /// [`UnixDatagramOptions::default`].
    pub fn listen_unix_datagram<P: DatagramProtocol>(
        &self,
        path: impl AsRef<Path>,
        protocol: impl Into<SharedDatagram<P>>,
    ) -> Result<DatagramTransport, ListenError> {
        self.listen_unix_datagram_with(path, protocol, UnixDatagramOptions::default())
    }

    /// [`listen_unix_datagram`](Self::listen_unix_datagram) with a maximum
    /// datagram size and a mode.
    pub fn listen_unix_datagram_with<P: DatagramProtocol>(
        &self,
        path: impl AsRef<Path>,
        protocol: impl Into<SharedDatagram<P>>,
        options: UnixDatagramOptions,
    ) -> Result<DatagramTransport, ListenError> {
        let path = path.as_ref();
        let fail = |source| ListenError {
            address: shown_path(path),
            source,
        };
        let socket = bind(path, Some(options.mode)).map_err(fail)?;
        open(
            self,
            socket,
            protocol.into().erased(),
            Some(path.to_path_buf()),
            None,
            options.max_packet_size,
        )
        .map_err(fail)
    }

    /// A datagram socket connected to `path`, bound to `bind_path` first if
    /// given (so the peer can answer; `None` leaves it unbound).
    pub fn connect_unix_datagram<P: DatagramProtocol>(
        &self,
        path: impl AsRef<Path>,
        protocol: impl Into<SharedDatagram<P>>,
        bind_path: Option<&Path>,
    ) -> Result<DatagramTransport, ConnectError> {
        let socket = match bind_path {
            Some(local) => bind(local, None),
            None => UnixDatagram::unbound(),
        }
        .map_err(ConnectError::from_io)?;
        socket
            .connect(path.as_ref())
            .map_err(ConnectError::from_io)?;
        open(
            self,
            socket,
            protocol.into().erased(),
            bind_path.map(Path::to_path_buf),
            Some(Address::unix(Some(path.as_ref()))),
            8192,
        )
        .map_err(ConnectError::from_io)
    }
}

/// The target's path; an IP address is the wrong family here.
fn unix_path(to: Target) -> Result<PathBuf, DatagramError> {
    match to {
        Target::Unix(path) => Ok(path),
        Target::Inet(addr) => Err(DatagramError::WrongFamily {
            host: addr.ip().to_string(),
            why: "UNIX datagram port write() called with an IP address",
        }),
    }
}

impl DatagramPort for Port {
    fn write_to(&self, data: &[u8], to: Target) -> Result<(), DatagramError> {
        let path = unix_path(to)?;
        if let Some(peer) = &*self.peer.borrow() {
            if peer.unix_path() == Some(path.as_path()) {
                return self.write(data);
            }
            return Err(DatagramError::Connected { peer: peer.clone() });
        }
        match &*self.socket.borrow() {
            Some(s) => sent(s.send_to(data, &path), data.len()),
            None => Err(closed()),
        }
    }

    fn write(&self, data: &[u8]) -> Result<(), DatagramError> {
        if self.peer.borrow().is_none() {
            return Err(DatagramError::NotConnected);
        }
        match &*self.socket.borrow() {
            Some(s) => sent(s.send(data), data.len()),
            None => Err(closed()),
        }
    }

    fn connect(&self, to: Target) -> Result<(), DatagramError> {
        let path = unix_path(to)?;
        if self.peer.borrow().is_some() {
            return Err(DatagramError::AlreadyConnected);
        }
        match &*self.socket.borrow() {
            Some(s) => s.connect(&path)?,
            None => return Err(closed()),
        }
        *self.peer.borrow_mut() = Some(Address::unix(Some(&path)));
        Ok(())
    }

    fn peer(&self) -> Option<Address> {
        self.peer.borrow().clone()
    }

    fn host(&self) -> Address {
        self.host.clone()
    }

    fn max_packet_size(&self) -> usize {
        self.max_packet_size
    }

    fn stop_listening(&self) -> Completion {
        self.stop()
    }

    fn is_listening(&self) -> bool {
        self.socket.borrow().is_some()
    }

    fn with_socket(
        &self,
        f: &mut dyn FnMut(socket2::SockRef<'_>) -> io::Result<()>,
    ) -> Result<(), DatagramError> {
        match &*self.socket.borrow() {
            Some(socket) => Ok(f(socket2::SockRef::from(socket))?),
            None => Err(closed()),
        }
    }
}

/// A send's result: a datagram longer than the socket takes is
/// `MessageTooLong`.
fn sent(result: io::Result<usize>, length: usize) -> Result<(), DatagramError> {
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::MSGSIZE.raw_os_error()) => {
            Err(DatagramError::MessageTooLong { length })
        }
        Err(e) => Err(e.into()),
    }
}
