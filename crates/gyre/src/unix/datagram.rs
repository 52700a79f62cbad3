//! UNIX datagram sockets (Twisted's `listenUNIXDatagram` and
//! `connectUNIXDatagram`): a bound `SOCK_DGRAM` socket file and the
//! [`UnixDatagramProtocol`] it delivers to.
//!
//! * [`Reactor::listen_unix_datagram`] binds `path` (mode 0o666 unless
//!   asked otherwise; a stale socket file is replaced), logs `<Proto>
//!   starting on '<path>'` and calls `start_protocol`;
//! * each datagram is `datagram_received(transport, data, from)`, `from`
//!   the sender's [`Address`] (`UNIXAddress(None)` for an unbound sender);
//!   longer than `max_packet_size` (8192) it is cut; a panic in the
//!   protocol is logged (`Unhandled Error`, system `path::Proto (UNIX)`)
//!   and the socket keeps serving;
//! * [`Reactor::connect_unix_datagram`] connects to a listening path (bound
//!   itself to `bind_path` if given, so the server can answer); a missing
//!   path is an error returned by the call (Twisted calls
//!   `connectionFailed` instead);
//! * `stop_listening` logs `(Port '<path>' Closed)`, calls `stop_protocol`
//!   and **removes the socket file this port created** (Twisted leaves it).
//!
//! Twisted logs these sockets' datagrams under `mod.Proto (UDP)` even
//! here; gyre says `(UNIX)`.
//!
//! Tests: `tests/unix_datagram.rs`.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::rc::{Rc, Weak};

use mio::Interest;
use mio::net::UnixDatagram;

use crate::address::{Address, shown_path};
use crate::completion::Completion;
use crate::error::{ConnectError, ListenError};
use crate::log::{LogContext, enter, guarded, short_type_name};
use crate::reactor::{Inner, Reactor, Ready, Source};

use super::{is_abstract, std_address};

const TARGET: &str = "gyre::unix";

/// Bytes read per readable event before other work runs (as for UDP).
const READ_BUDGET: usize = 256 * 1024;

/// What a UNIX datagram socket calls. Every method but
/// [`datagram_received`](Self::datagram_received) defaults to nothing.
pub trait UnixDatagramProtocol: 'static {
    /// The socket is ready (after `<Proto> starting on '<path>'`).
    fn start_protocol(&mut self, transport: &UnixDatagramTransport) {
        let _ = transport;
    }

    /// The socket has stopped.
    fn stop_protocol(&mut self) {}

    /// A datagram arrived from `from` (`UNIXAddress(None)`: an unbound
    /// sender, who cannot be answered).
    fn datagram_received(&mut self, transport: &UnixDatagramTransport, data: &[u8], from: &Address);

    /// The name in `<Proto> starting on '<path>'`.
    fn log_prefix(&self) -> Cow<'static, str> {
        short_type_name::<Self>()
    }
}

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

/// A UNIX datagram socket: where its protocol's datagrams come from and go
/// out. Clones are the same socket.
#[derive(Clone)]
pub struct UnixDatagramTransport {
    port: Rc<Port>,
}

struct Port {
    reactor: Weak<Inner>,
    me: Weak<Port>,
    socket: RefCell<Option<UnixDatagram>>,
    token: Cell<usize>,
    protocol: RefCell<Box<dyn UnixDatagramProtocol>>,
    /// The path this port bound (and removes at stop), if any.
    bound: Option<PathBuf>,
    host: Address,
    peer: Option<Address>,
    max_packet_size: usize,
    system: String,
}

impl UnixDatagramTransport {
    /// Sends `data` to the socket at `path`.
    pub fn write_to(&self, data: &[u8], path: impl AsRef<Path>) -> io::Result<()> {
        match &*self.port.socket.borrow() {
            Some(s) => s.send_to(data, path.as_ref()).map(|_| ()),
            None => Err(closed()),
        }
    }

    /// Sends `data` to the connected peer.
    pub fn write(&self, data: &[u8]) -> io::Result<()> {
        match &*self.port.socket.borrow() {
            Some(s) => s.send(data).map(|_| ()),
            None => Err(closed()),
        }
    }

    /// This socket's address (`UNIXAddress(None)` if unbound).
    pub fn host(&self) -> Address {
        self.port.host.clone()
    }

    /// The connected peer, for a socket from `connect_unix_datagram`.
    pub fn peer(&self) -> Option<Address> {
        self.port.peer.clone()
    }

    /// Stops: the socket closes now, the file it created is removed; the
    /// completion fires on a later turn, after the close line and
    /// `stop_protocol`.
    pub fn stop_listening(&self) -> Completion {
        self.port.stop()
    }

    /// True until stopped.
    pub fn is_listening(&self) -> bool {
        self.port.socket.borrow().is_some()
    }
}

impl std::fmt::Debug for UnixDatagramTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<UnixDatagramTransport {}>", self.port.host)
    }
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the socket is closed")
}

impl Port {
    fn reactor(&self) -> Option<Reactor> {
        Reactor::from_weak(&self.reactor)
    }

    fn call(&self, site: &str, f: impl FnOnce(&mut dyn UnixDatagramProtocol)) {
        let Ok(mut protocol) = self.protocol.try_borrow_mut() else {
            log::error!(target: TARGET, "Unhandled Error\n{site} called while the protocol is already in a callback");
            return;
        };
        if let Err(message) = guarded(|| f(&mut **protocol)) {
            log::error!(target: TARGET, "Unhandled Error\npanic in {site}: {message}");
        }
    }

    fn read_ready(self: &Rc<Self>) {
        let Some(reactor) = self.reactor() else {
            return;
        };
        let _ctx = enter(self.clone());
        let transport = UnixDatagramTransport { port: self.clone() };
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
                    self.call("datagram_received", |p| {
                        p.datagram_received(&transport, &buf[..n], &from)
                    });
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
        self.call("stop_protocol", |p| p.stop_protocol());
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
fn open<P: UnixDatagramProtocol>(
    reactor: &Reactor,
    mut socket: UnixDatagram,
    protocol: P,
    bound: Option<PathBuf>,
    peer: Option<Address>,
    max_packet_size: usize,
) -> io::Result<UnixDatagramTransport> {
    let host = match &bound {
        Some(path) => Address::unix(Some(path)),
        None => Address::unix(None),
    };
    let system = format!("{} (UNIX)", std::any::type_name::<P>());
    let prefix = protocol.log_prefix().into_owned();
    let port = Rc::new_cyclic(|me| Port {
        reactor: reactor.downgrade(),
        me: me.clone(),
        socket: RefCell::new(None),
        token: Cell::new(usize::MAX),
        protocol: RefCell::new(Box::new(protocol)),
        bound,
        host,
        peer,
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
    let transport = UnixDatagramTransport { port: port.clone() };
    port.call("start_protocol", |p| p.start_protocol(&transport));
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
    pub fn listen_unix_datagram<P: UnixDatagramProtocol>(
        &self,
        path: impl AsRef<Path>,
        protocol: P,
    ) -> Result<UnixDatagramTransport, ListenError> {
        self.listen_unix_datagram_with(path, protocol, UnixDatagramOptions::default())
    }

    /// [`listen_unix_datagram`](Self::listen_unix_datagram) with a maximum
    /// datagram size and a mode.
    pub fn listen_unix_datagram_with<P: UnixDatagramProtocol>(
        &self,
        path: impl AsRef<Path>,
        protocol: P,
        options: UnixDatagramOptions,
    ) -> Result<UnixDatagramTransport, ListenError> {
        let path = path.as_ref();
        let fail = |source| ListenError {
            address: shown_path(path),
            source,
        };
        let socket = bind(path, Some(options.mode)).map_err(fail)?;
        open(
            self,
            socket,
            protocol,
            Some(path.to_path_buf()),
            None,
            options.max_packet_size,
        )
        .map_err(fail)
    }

    /// A datagram socket connected to `path`, bound to `bind_path` first if
    /// given (so the peer can answer; `None` leaves it unbound).
    pub fn connect_unix_datagram<P: UnixDatagramProtocol>(
        &self,
        path: impl AsRef<Path>,
        protocol: P,
        bind_path: Option<&Path>,
    ) -> Result<UnixDatagramTransport, ConnectError> {
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
            protocol,
            bind_path.map(Path::to_path_buf),
            Some(Address::unix(Some(path.as_ref()))),
            8192,
        )
        .map_err(ConnectError::from_io)
    }
}
