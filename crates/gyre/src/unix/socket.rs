//! A UNIX stream socket as a [`StreamSocket`]: its addresses, the peer's
//! credentials, and no TCP options. Everything else a UNIX connection does
//! is the shared stream connection's.

use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;

use mio::net::UnixStream;

use crate::address::Address;
use crate::stream::StreamSocket;
use crate::transport::PeerCredentials;

use super::std_address;

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
        Ok(std_address(&self.local_addr()?))
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

    fn peer_credentials(&self) -> io::Result<PeerCredentials> {
        let cred = rustix::net::sockopt::socket_peercred(self)?;
        Ok(PeerCredentials {
            pid: u32::try_from(cred.pid.as_raw_nonzero().get()).unwrap_or(0),
            uid: cred.uid.as_raw(),
            gid: cred.gid.as_raw(),
        })
    }
}
