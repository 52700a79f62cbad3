//! One end of a pipe to a child process as a [`StreamSocket`], so that a
//! child's descriptors run on the shared stream connection (write path,
//! producers, the 64 KiB rule, pause/resume) like any socket.
//!
//! A pipe goes one way. The end the parent writes to (the child's stdin)
//! is never read: the poller reports it "readable" only when it has an
//! error, which for a pipe means the child closed its end, so a read there
//! reports the end of input and the connection ends as a clean close. The
//! end the parent reads from refuses writes. A pseudo-terminal's master
//! side goes both ways; it reports the end of input as `EIO`, which reads
//! as an end of file.

use std::io::{self, IoSlice, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};

use mio::unix::SourceFd;
use mio::unix::pipe::{Receiver, Sender};

use crate::address::Address;
use crate::stream::StreamSocket;

/// The parent's end of one of a child's pipes.
pub(crate) enum Pipe {
    /// The parent writes, the child reads (stdin, or a `Write` descriptor).
    ToChild(Sender),
    /// The child writes, the parent reads (stdout, stderr, a `Read` descriptor).
    FromChild(Receiver),
    /// The master side of the child's pseudo-terminal: both ways.
    Pty(OwnedFd),
}

/// Which descriptor of which child a pipe is: the log prefix's parts.
pub(crate) struct PipePeer {
    pub(crate) fd: u32,
}

impl PipePeer {
    pub(crate) fn name(&self) -> String {
        match self.fd {
            0 => "stdin".into(),
            1 => "stdout".into(),
            2 => "stderr".into(),
            n => format!("fd{n}"),
        }
    }
}

impl mio::event::Source for Pipe {
    fn register(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        match self {
            Pipe::ToChild(s) => s.register(registry, token, interests),
            Pipe::FromChild(r) => r.register(registry, token, interests),
            Pipe::Pty(fd) => SourceFd(&fd.as_raw_fd()).register(registry, token, interests),
        }
    }

    fn reregister(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        match self {
            Pipe::ToChild(s) => s.reregister(registry, token, interests),
            Pipe::FromChild(r) => r.reregister(registry, token, interests),
            Pipe::Pty(fd) => SourceFd(&fd.as_raw_fd()).reregister(registry, token, interests),
        }
    }

    fn deregister(&mut self, registry: &mio::Registry) -> io::Result<()> {
        match self {
            Pipe::ToChild(s) => s.deregister(registry),
            Pipe::FromChild(r) => r.deregister(registry),
            Pipe::Pty(fd) => SourceFd(&fd.as_raw_fd()).deregister(registry),
        }
    }
}

fn one_way(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("this pipe end cannot {what}"),
    )
}

impl StreamSocket for Pipe {
    type Peer = PipePeer;

    /// A process has no address; gyre shows an unnamed UNIX address.
    fn peer_address(_: &PipePeer) -> Address {
        Address::unix(None)
    }

    fn peer_log_host(peer: &PipePeer) -> String {
        peer.name()
    }

    fn local_address(&self) -> io::Result<Address> {
        Ok(Address::unix(None))
    }

    fn closed_address() -> Address {
        Address::unix(None)
    }

    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Pipe::FromChild(r) => Read::read(&mut &*r, buf),
            // Only an error makes this end readable: the child closed its
            // end. That is this pipe's end of input.
            Pipe::ToChild(_) => Ok(0),
            // Once every descriptor of the terminal's other side is
            // closed, Linux answers EIO: that is its end of input.
            Pipe::Pty(fd) => match rustix::io::read(fd, buf) {
                Err(rustix::io::Errno::IO) => Ok(0),
                other => Ok(other?),
            },
        }
    }

    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Pipe::ToChild(s) => Write::write(&mut &*s, buf),
            Pipe::FromChild(_) => Err(one_way("be written to")),
            Pipe::Pty(fd) => Ok(rustix::io::write(fd, buf)?),
        }
    }

    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Pipe::ToChild(s) => Write::write_vectored(&mut &*s, bufs),
            Pipe::FromChild(_) => Err(one_way("be written to")),
            Pipe::Pty(fd) => Ok(rustix::io::writev(fd, bufs)?),
        }
    }

    fn shutdown_write(&self) -> io::Result<()> {
        // A pipe has no half-close: closing it is the whole of it.
        Ok(())
    }
}
