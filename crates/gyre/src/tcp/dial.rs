//! Where a TCP connector connects to, and how (the TCP half of the shared
//! connector, `crate::stream::connector`): the host as given, resolved on
//! the reactor's resolver pool unless it is an IP literal (the first IPv4
//! address, else the first), and an optional bind address.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use mio::net::TcpStream;

use crate::connector::Destination;
use crate::deferred::Failure;
use crate::error::ConnectError;
use crate::resolve::{Resolver, ThreadResolver, first_address, lookup_error};
use crate::stream::{Attempt, Dial};

pub(super) struct TcpDial {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) bind_address: Option<SocketAddr>,
}

impl TcpDial {
    fn connect_to(&self, attempt: Attempt<Self>, addr: SocketAddr) {
        match open_stream(addr, self.bind_address) {
            Ok(stream) => attempt.open(stream),
            Err(e) => attempt.fail(e),
        }
    }

    /// The lookup of `attempt` answered (or failed).
    fn resolved(&self, attempt: Attempt<Self>, result: Result<Vec<SocketAddr>, Failure>) {
        if !attempt.is_current() {
            return;
        }
        let addr = match result {
            Ok(addrs) => first_address(&addrs).ok_or_else(|| ConnectError::DnsLookup {
                host: self.host.clone(),
            }),
            Err(failure) => Err(lookup_error(&self.host, &failure)),
        };
        match addr {
            Ok(addr) => self.connect_to(attempt, addr),
            Err(e) => attempt.fail(e),
        }
    }
}

impl Dial for TcpDial {
    type Socket = TcpStream;

    fn destination(&self) -> Destination {
        Destination {
            host: self.host.clone(),
            port: self.port,
        }
    }

    fn begin(&self, attempt: Attempt<Self>) {
        let Some(reactor) = attempt.reactor() else {
            return;
        };
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            self.connect_to(attempt, SocketAddr::new(ip, self.port));
            return;
        }
        let lookup = ThreadResolver::new(&reactor).resolve(&self.host, self.port);
        let cancel = lookup.clone();
        attempt.on_abandon(move || cancel.cancel());
        lookup.consume(move |result| {
            let again = attempt.again();
            attempt.dial().resolved(again, result);
        });
    }

    fn finished(&self, stream: &TcpStream) -> io::Result<Option<SocketAddr>> {
        match stream.take_error() {
            Ok(Some(e)) | Err(e) => Err(e),
            Ok(None) => match stream.peer_addr() {
                Ok(peer) => Ok(Some(peer)),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(None),
                Err(e) => Err(e),
            },
        }
    }
}

/// A non-blocking socket connecting to `addr`, bound first if asked.
fn open_stream(addr: SocketAddr, bind: Option<SocketAddr>) -> Result<TcpStream, ConnectError> {
    let Some(bind) = bind else {
        return TcpStream::connect(addr).map_err(ConnectError::from_io);
    };
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)
        .map_err(ConnectError::from_io)?;
    socket
        .set_nonblocking(true)
        .map_err(ConnectError::from_io)?;
    socket.bind(&bind.into()).map_err(|e| ConnectError::Bind {
        address: bind.to_string(),
        source: Arc::new(e),
    })?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INPROGRESS.raw_os_error()) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(ConnectError::from_io(e)),
    }
    Ok(TcpStream::from_std(socket.into()))
}
