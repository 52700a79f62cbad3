//! Listening ports of any transport: the [`ListeningPort`] handle and the
//! [`PortImpl`] mechanism behind it (a TCP port, or a test double in
//! [`crate::testing`]). Re-exported from [`crate::tcp`], where most users
//! meet it.

use std::fmt;
use std::net::SocketAddr;
use std::rc::Rc;

use crate::address::Address;
use crate::completion::Completion;

/// The mechanism behind a [`ListeningPort`] handle (TCP, or a test double).
pub trait PortImpl {
    /// The bound address (with the real port when 0 was asked for).
    fn address(&self) -> SocketAddr;
    /// Stops accepting at once; the completion fires on a later turn, after
    /// `(TCP Port N Closed)` is logged and the factory is stopped if this was
    /// its last port. Already stopped: a completion that has fired.
    fn stop_listening(&self) -> Completion;
    /// True until `stop_listening` (or reactor shutdown).
    fn is_listening(&self) -> bool;
}

/// A handle to a listening port.
#[derive(Clone)]
pub struct ListeningPort {
    inner: Rc<dyn PortImpl>,
}

impl ListeningPort {
    /// Wraps a port mechanism.
    pub fn new(inner: Rc<dyn PortImpl>) -> ListeningPort {
        ListeningPort { inner }
    }

    /// The bound address; with port 0, the port the OS picked.
    pub fn address(&self) -> SocketAddr {
        self.inner.address()
    }

    /// The bound address as an [`Address`] value.
    pub fn host(&self) -> Address {
        Address::tcp(self.inner.address())
    }

    /// Stops accepting connections now; see [`PortImpl::stop_listening`].
    /// Connections already accepted stay open.
    pub fn stop_listening(&self) -> Completion {
        self.inner.stop_listening()
    }

    /// True until the port is stopped.
    pub fn is_listening(&self) -> bool {
        self.inner.is_listening()
    }
}

impl fmt::Debug for ListeningPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ListeningPort({})", self.inner.address())
    }
}
