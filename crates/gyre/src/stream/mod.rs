//! The stream connection every stream transport shares.
//!
//! TCP, UNIX stream sockets (and later process pipes) differ only in how a
//! socket is made (accepted, connected, adopted), its options and its
//! addresses. Everything else a connection does is here, once, in
//! [`Connection<S>`](connection::Connection), generic over the socket:
//!
//! * the write path: write at once, buffer only what the kernel refuses,
//!   gather queued chunks into one `writev`, arm nothing (the socket is
//!   registered once, edge-triggered, for reading and writing);
//! * producers and the 64 KiB high-water mark
//!   ([`HIGH_WATER`](crate::transport::HIGH_WATER)), pull producers asked on
//!   every drain;
//! * half-close both ways, pause/resume reading, `lose_connection` that
//!   flushes first, `abort_connection`;
//! * the log context (`Echo,0,127.0.0.1`, `Cli,client`) around every
//!   dispatch, and panic isolation: a panicking callback closes that one
//!   connection with [`Reason::Panicked`](crate::Reason::Panicked).
//!
//! A transport plugs in by implementing [`StreamSocket`] for its socket type
//! (`tcp/stream.rs`, `unix/socket.rs`). The connection registers itself with
//! the reactor as a readiness source; the reactor knows nothing of it.
//!
//! Tests: the connection's behaviour is tested through real sockets of both
//! kinds, TCP and a UNIX `socketpair`, by the same test bodies
//! (`over_both_kinds!` in `tests/transport.rs` and `tests/producers.rs`; the
//! panic isolation in `tests/tcp_panics.rs`).

pub(crate) mod connection;
mod connector;
mod port;

use std::io::{self, IoSlice};
use std::time::Duration;

use crate::address::Address;
use crate::error::Reason;
use crate::factory::ErasedFactory;
use crate::log::{guarded, log_panic};
use crate::reactor::Reactor;

pub(crate) use connection::Connection;
pub(crate) use connector::{Attempt, Dial, StreamConnector};
pub(crate) use port::{Listener, Port};

/// Runs a protocol from `factory` on a connected socket made elsewhere
/// (`adopt_tcp`, `adopt_unix`): builds the protocol for the peer, registers
/// the connection and delivers `connection_made`. A factory that declines
/// (or panics, which is logged) has the socket closed.
pub(crate) fn adopt<S: StreamSocket>(
    reactor: &Reactor,
    stream: S,
    peer: S::Peer,
    session: u32,
    factory: &dyn ErasedFactory,
) -> io::Result<()> {
    let protocol = match guarded(|| factory.build(&S::peer_address(&peer))) {
        Ok(Some(p)) => p,
        Ok(None) => return Ok(()), // declined: dropping the stream closes it
        Err(msg) => {
            log_panic("build_protocol", &msg);
            return Ok(());
        }
    };
    let limit = factory.write_limit();
    Connection::accept(reactor, stream, peer, session, protocol, limit)?.made();
    Ok(())
}

/// A non-blocking stream socket a [`Connection`] can run on.
///
/// The I/O methods take `&self` (the kernel serialises them; mio's sockets
/// implement `Read`/`Write` for shared references).
pub(crate) trait StreamSocket: mio::event::Source + 'static {
    /// The remote address in the socket type's own form (kept per connection).
    type Peer: 'static;

    /// The remote address as an [`Address`].
    fn peer_address(peer: &Self::Peer) -> Address;

    /// The host part of a server connection's log prefix
    /// (`Echo,0,<host>`): the peer's IP, empty for a UNIX peer.
    fn peer_log_host(peer: &Self::Peer) -> String;

    /// The local address.
    fn local_address(&self) -> io::Result<Address>;

    /// What `host()` reports once the socket is closed.
    fn closed_address() -> Address;

    /// Reads into `buf`; `Ok(0)` is the peer's end of input.
    fn read(&self, buf: &mut [u8]) -> io::Result<usize>;

    /// Writes from `buf`.
    fn write(&self, buf: &[u8]) -> io::Result<usize>;

    /// Writes from several buffers in one call.
    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;

    /// Shuts down the sending side (`shutdown(SHUT_WR)`).
    fn shutdown_write(&self) -> io::Result<()>;

    /// Makes the coming close abortive where the socket type has such a
    /// thing (TCP: `SO_LINGER` 0, so the peer sees a reset).
    fn reset_on_close(&self) {}

    /// The peer's credentials (`SO_PEERCRED`); unsupported by default.
    fn peer_credentials(&self) -> io::Result<crate::transport::PeerCredentials> {
        Err(unsupported("SO_PEERCRED"))
    }

    /// Queues `fd` to go out with the next write (`SCM_RIGHTS`);
    /// unsupported by default.
    fn send_file_descriptor(&self, fd: std::os::fd::OwnedFd) -> io::Result<()> {
        drop(fd);
        Err(unsupported("SCM_RIGHTS"))
    }

    /// The descriptors received so far, oldest first; none by default.
    fn take_file_descriptors(&self) -> Vec<std::os::fd::OwnedFd> {
        Vec::new()
    }

    /// Sets `TCP_NODELAY`; unsupported by default.
    fn set_no_delay(&self, enabled: bool) -> io::Result<()> {
        let _ = enabled;
        Err(unsupported("TCP_NODELAY"))
    }

    /// Reads `TCP_NODELAY`; unsupported by default.
    fn no_delay(&self) -> io::Result<bool> {
        Err(unsupported("TCP_NODELAY"))
    }

    /// Sets `SO_KEEPALIVE`; unsupported by default.
    fn set_keep_alive(&self, enabled: bool) -> io::Result<()> {
        let _ = enabled;
        Err(unsupported("SO_KEEPALIVE"))
    }

    /// Reads `SO_KEEPALIVE`; unsupported by default.
    fn keep_alive(&self) -> io::Result<bool> {
        Err(unsupported("SO_KEEPALIVE"))
    }

    /// Turns keep-alive on with `TCP_KEEPIDLE`, `TCP_KEEPINTVL` and
    /// `TCP_KEEPCNT` (see [`Transport::set_keep_alive_timing`](crate::Transport::set_keep_alive_timing));
    /// unsupported by default.
    fn set_keep_alive_timing(
        &self,
        idle: Duration,
        interval: Duration,
        count: u32,
    ) -> io::Result<()> {
        let _ = (idle, interval, count);
        Err(unsupported("TCP_KEEPIDLE"))
    }
}

/// The error for a socket option a socket type does not have.
fn unsupported(option: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("{option} is not an option of this kind of socket"),
    )
}

/// Whoever made a client connection, told when it ends (after the
/// protocol's `connection_lost`): the connector, which then tells the
/// client factory.
pub(crate) trait ConnectionOwner {
    /// The connection ended with `reason`.
    fn connection_lost(&self, reason: &Reason);
}
