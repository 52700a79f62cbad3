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
///
/// `listen_tcp` returns one. Listening on port 0 lets the system pick a
/// free port; [`address`](Self::address) says which. Stopping is not
/// instant: [`stop_listening`](Self::stop_listening) returns a
/// [`Completion`] that fires once the socket is closed (and the factory
/// stopped, if this was its last port).
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
///
/// use gyre::{for_protocol, Protocol, Reactor, TcpListenOptions};
///
/// struct Quiet;
/// impl Protocol for Quiet {}
///
/// let reactor = Reactor::new()?;
/// # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
/// # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
/// let loopback = TcpListenOptions::interface("127.0.0.1");
/// let port = reactor.listen_tcp_with(0, for_protocol(|| Quiet), loopback)?;
/// let address = port.address();
/// assert!(address.ip().is_loopback() && address.port() != 0);
/// assert_eq!(port.host().port(), address.port());
/// assert!(port.is_listening());
///
/// let closed = Rc::new(Cell::new(false));
/// let (c, r) = (closed.clone(), reactor.clone());
/// let done = port.stop_listening();
/// assert!(!port.is_listening(), "no longer accepting, at once");
/// done.on_complete(move || {
///     c.set(true);
///     r.stop().unwrap();
/// });
/// reactor.run()?;
/// assert!(closed.get() && done.failure().is_none());
/// assert!(std::net::TcpStream::connect(address).is_err(), "nobody listens there now");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
