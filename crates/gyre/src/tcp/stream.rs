//! A TCP socket as a [`StreamSocket`]: its addresses and options. Everything
//! else a TCP connection does is the shared stream connection's.

use std::io::{self, IoSlice, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr};
use std::time::Duration;

use mio::net::TcpStream;

use crate::address::Address;
use crate::stream::StreamSocket;

impl StreamSocket for TcpStream {
    type Peer = SocketAddr;

    fn peer_address(peer: &SocketAddr) -> Address {
        Address::tcp(*peer)
    }

    fn peer_log_host(peer: &SocketAddr) -> String {
        peer.ip().to_string()
    }

    fn local_address(&self) -> io::Result<Address> {
        self.local_addr().map(Address::tcp)
    }

    fn closed_address() -> Address {
        Address::tcp(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0))
    }

    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        Read::read(&mut &*self, buf)
    }

    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        Write::write(&mut &*self, buf)
    }

    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        Write::write_vectored(&mut &*self, bufs)
    }

    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }

    fn reset_on_close(&self) {
        let _ = socket2::SockRef::from(self).set_linger(Some(std::time::Duration::ZERO));
    }

    fn set_no_delay(&self, enabled: bool) -> io::Result<()> {
        self.set_nodelay(enabled)
    }

    fn no_delay(&self) -> io::Result<bool> {
        self.nodelay()
    }

    fn set_keep_alive(&self, enabled: bool) -> io::Result<()> {
        socket2::SockRef::from(self).set_keepalive(enabled)
    }

    fn keep_alive(&self) -> io::Result<bool> {
        socket2::SockRef::from(self).keepalive()
    }

    fn set_keep_alive_timing(
        &self,
        idle: Duration,
        interval: Duration,
        count: u32,
    ) -> io::Result<()> {
        // The kernel counts in whole seconds: round a fraction up, so that
        // no timing asked for becomes zero (which it refuses).
        let whole =
            |d: Duration| Duration::from_secs(d.as_secs() + u64::from(d.subsec_nanos() > 0));
        let params = socket2::TcpKeepalive::new()
            .with_time(whole(idle))
            .with_interval(whole(interval))
            .with_retries(count);
        let socket = socket2::SockRef::from(self);
        let was_on = socket.keepalive()?;
        // socket2 turns SO_KEEPALIVE on first: undo that if a value is refused.
        socket.set_tcp_keepalive(&params).inspect_err(|_| {
            let _ = socket.set_keepalive(was_on);
        })
    }
}
