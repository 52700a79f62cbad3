//! Listening ports of any transport: the [`ListeningPort`] handle and the
//! [`PortImpl`] mechanism behind it (a TCP or UNIX port, or a test double
//! in [`crate::testing`]). Re-exported from [`crate::tcp`], where most users
//! meet it.

use std::fmt;
use std::net::SocketAddr;
use std::rc::Rc;

use crate::address::Address;
use crate::completion::Completion;

/// The listen queue length a stream port gets unless told otherwise (TCP
/// and UNIX alike): 1024, where Twisted's is 50. Why:
/// [`TcpListenOptions::DEFAULT_BACKLOG`](crate::tcp::TcpListenOptions::DEFAULT_BACKLOG).
pub const DEFAULT_BACKLOG: u32 = 1024;

/// The mechanism behind a [`ListeningPort`] handle (TCP, UNIX, or a test
/// double).
pub trait PortImpl {
    /// The bound IP address (with the real port when 0 was asked for); a
    /// port with no IP address (a UNIX port) says `0.0.0.0:0`.
    fn address(&self) -> SocketAddr;
    /// The bound address as an [`Address`]; by default the TCP address
    /// [`address`](Self::address) names.
    fn host(&self) -> Address {
        Address::tcp(self.address())
    }
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

    /// The bound IP address; with port 0, the port the OS picked. A UNIX
    /// port has none (`0.0.0.0:0`): its [`host`](Self::host) is its path.
    pub fn address(&self) -> SocketAddr {
        self.inner.address()
    }

    /// The bound address as an [`Address`] value: Twisted's `getHost()`,
    /// `IPv4Address(type='TCP', …)` or `UNIXAddress('/run/echo.sock')`.
    pub fn host(&self) -> Address {
        self.inner.host()
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
        match self.inner.host().inet() {
            Some(addr) => write!(f, "ListeningPort({addr})"),
            None => write!(f, "ListeningPort({})", self.inner.host()),
        }
    }
}
