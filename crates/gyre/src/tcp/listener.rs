//! A listening TCP socket: how it is bound, and what the shared port
//! (`crate::stream::port`) needs to know of it.

use std::io;
use std::net::SocketAddr;

use mio::net::{TcpListener, TcpStream};

use crate::address::Address;
use crate::stream::Listener;

use super::TcpListenOptions;

/// Creates, binds and listens a non-blocking socket.
pub(super) fn bind(addr: SocketAddr, options: &TcpListenOptions) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if options.reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    let backlog = i32::try_from(options.backlog).unwrap_or(i32::MAX);
    socket.listen(backlog)?;
    Ok(TcpListener::from_std(socket.into()))
}

impl Listener for TcpListener {
    type Socket = TcpStream;

    const TARGET: &'static str = "gyre::tcp";

    fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        TcpListener::accept(self)
    }

    fn host(&self) -> io::Result<Address> {
        self.local_addr().map(Address::tcp)
    }

    fn shown(host: &Address) -> String {
        host.port().to_string()
    }

    fn closed_line(host: &Address) -> String {
        format!("(TCP Port {} Closed)", host.port())
    }
}
