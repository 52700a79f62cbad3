//! A UNIX stream socket as a [`StreamSocket`]: its addresses, the peer's
//! credentials, passed descriptors (`SCM_RIGHTS`), and no TCP options.
//! Everything else a UNIX connection does is the shared stream
//! connection's.
//!
//! Descriptors: reads are `recvmsg` calls with room for
//! [`FDS_PER_READ`] descriptors, which are kept (close-on-exec) until the
//! protocol takes them; descriptors queued to send go out with the next
//! write, as `sendmsg` with `SCM_RIGHTS`, and are closed once sent.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, IoSlice, IoSliceMut, Write};
use std::mem::MaybeUninit;
use std::net::Shutdown;
use std::os::fd::{AsFd, OwnedFd};

use mio::net::UnixStream;
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

use crate::address::Address;
use crate::stream::StreamSocket;
use crate::transport::PeerCredentials;

use super::std_address;

/// The most descriptors one read takes in (more in one message are
/// closed by the kernel, which sets `MSG_CTRUNC`).
const FDS_PER_READ: usize = 16;

/// A connected UNIX stream socket and the descriptors passing through it.
pub(super) struct UnixSocket {
    stream: UnixStream,
    /// Queued by `send_file_descriptor`, sent with the next write.
    outgoing: RefCell<Vec<OwnedFd>>,
    /// Received, not taken yet.
    incoming: RefCell<VecDeque<OwnedFd>>,
}

impl UnixSocket {
    pub(super) fn new(stream: UnixStream) -> UnixSocket {
        UnixSocket {
            stream,
            outgoing: RefCell::new(Vec::new()),
            incoming: RefCell::new(VecDeque::new()),
        }
    }

    /// The socket itself.
    pub(super) fn stream(&self) -> &UnixStream {
        &self.stream
    }

    /// Writes `bufs` with the queued descriptors attached.
    fn send_with_fds(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let sent = {
            let outgoing = self.outgoing.borrow();
            let fds: Vec<_> = outgoing.iter().map(|fd| fd.as_fd()).collect();
            let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(fds.len()))];
            let mut control = SendAncillaryBuffer::new(&mut space);
            if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
                return Err(io::Error::other("too many descriptors for one message"));
            }
            rustix::net::sendmsg(&self.stream, bufs, &mut control, SendFlags::NOSIGNAL)?
        };
        // Sent: the peer has its own copies.
        self.outgoing.borrow_mut().clear();
        Ok(sent)
    }
}

impl mio::event::Source for UnixSocket {
    fn register(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        self.stream.register(registry, token, interests)
    }
    fn reregister(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        self.stream.reregister(registry, token, interests)
    }
    fn deregister(&mut self, registry: &mio::Registry) -> io::Result<()> {
        self.stream.deregister(registry)
    }
}

impl StreamSocket for UnixSocket {
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
        Ok(std_address(&self.stream.local_addr()?))
    }

    fn closed_address() -> Address {
        Address::unix(None)
    }

    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(FDS_PER_READ))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let mut iov = [IoSliceMut::new(buf)];
        let received = rustix::net::recvmsg(
            &self.stream,
            &mut iov,
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )?;
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(fds) = message {
                self.incoming.borrow_mut().extend(fds);
            }
        }
        Ok(received.bytes)
    }

    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        if self.outgoing.borrow().is_empty() {
            Write::write(&mut &self.stream, buf)
        } else {
            self.send_with_fds(&[IoSlice::new(buf)])
        }
    }

    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if self.outgoing.borrow().is_empty() {
            Write::write_vectored(&mut &self.stream, bufs)
        } else {
            self.send_with_fds(bufs)
        }
    }

    fn shutdown_write(&self) -> io::Result<()> {
        self.stream.shutdown(Shutdown::Write)
    }

    fn send_file_descriptor(&self, fd: OwnedFd) -> io::Result<()> {
        self.outgoing.borrow_mut().push(fd);
        Ok(())
    }

    fn take_file_descriptors(&self) -> Vec<OwnedFd> {
        self.incoming.borrow_mut().drain(..).collect()
    }

    fn peer_credentials(&self) -> io::Result<PeerCredentials> {
        let cred = rustix::net::sockopt::socket_peercred(&self.stream)?;
        Ok(PeerCredentials {
            pid: u32::try_from(cred.pid.as_raw_nonzero().get()).unwrap_or(0),
            uid: cred.uid.as_raw(),
            gid: cred.gid.as_raw(),
        })
    }
}
