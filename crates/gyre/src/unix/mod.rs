//! UNIX-domain stream sockets.
//!
//! A UNIX stream connection is the shared stream connection
//! (`crate::stream`) over a [`mio::net::UnixStream`]: producers, half-close,
//! pause/resume, `writev` and the 64 KiB rule behave exactly as over TCP.
//! What differs is here: addresses are [`Address::unix`] values (a path, or
//! unnamed), a server connection's log prefix has an empty host
//! (`Echo,0,`, as in Twisted), and the TCP options (`TCP_NODELAY`,
//! `SO_KEEPALIVE`) are refused with `ErrorKind::Unsupported`.
//!
//! Today a UNIX connection comes from [`Reactor::adopt_unix`] (one end of a
//! `socketpair`, or a socket made elsewhere). Tests: the shared connection
//! tests run over a `socketpair` (`tests/transport.rs`, `tests/producers.rs`).

use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;

use mio::net::UnixStream;

use crate::address::Address;
use crate::factory::{ErasedFactory, Factory, Shared};
use crate::reactor::Reactor;
use crate::stream::{self, StreamSocket};

impl StreamSocket for UnixStream {
    type Peer = Address;

    fn peer_address(peer: &Address) -> Address {
        peer.clone()
    }

    fn peer_log_host(peer: &Address) -> String {
        // Twisted puts the peer's name here, which for a socket accepted
        // from an unnamed client (nearly all of them) is empty: `Echo,0,`.
        peer.host()
    }

    fn local_address(&self) -> io::Result<Address> {
        Ok(unix_address(&self.local_addr()?))
    }

    fn closed_address() -> Address {
        Address::unix(None)
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
}

/// A UNIX socket address as an [`Address`] (an unnamed socket has no path).
fn unix_address(addr: &std::os::unix::net::SocketAddr) -> Address {
    Address::unix(addr.as_pathname())
}

impl Reactor {
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

fn adopt(
    reactor: &Reactor,
    socket: std::os::unix::net::UnixStream,
    factory: &dyn ErasedFactory,
) -> io::Result<()> {
    let peer = unix_address(&socket.peer_addr()?);
    socket.set_nonblocking(true)?;
    stream::adopt(reactor, UnixStream::from_std(socket), peer, 0, factory)
}
