//! [`Connector`]: the handle to one outgoing connection's lifecycle.
//!
//! `connect_tcp` returns a `Connector` and passes it to every
//! [`ClientFactory`](crate::ClientFactory) callback. Its
//! [`connect`](Connector::connect) starts a new attempt after a failure or a
//! loss (this is how reconnecting clients work), and
//! [`stop_connecting`](Connector::stop_connecting) abandons a pending one
//! with [`ConnectError::UserAborted`](crate::ConnectError::UserAborted).
//! States and errors follow Twisted's `IConnector` (reference §1.7.3).

use std::fmt;
use std::rc::Rc;

use crate::address::Address;
use crate::error::ConnectorError;

/// Where a connector is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectorState {
    /// No attempt in progress and no connection.
    Disconnected,
    /// An attempt is in progress (resolving or connecting).
    Connecting,
    /// Connected; the protocol is running.
    Connected,
}

impl fmt::Display for ConnectorState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectorState::Disconnected => "disconnected",
            ConnectorState::Connecting => "connecting",
            ConnectorState::Connected => "connected",
        })
    }
}

/// Where a connector connects to: the host *as given* (not resolved) and the
/// port. A UNIX connector's host is its path and its port 0 (its
/// [`Connector::destination_address`] is the `UNIXAddress`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    /// The host name or IP literal passed to `connect_tcp`.
    pub host: String,
    /// The port.
    pub port: u16,
}

/// Twisted's repr of the address `getDestination` returns, IPv6 with its
/// flow label and scope (always 0 for a destination given as a string).
impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(
                f,
                "IPv6Address(type='TCP', host='{}', port={}, flowInfo=0, scopeID=0)",
                self.host, self.port
            )
        } else {
            write!(
                f,
                "IPv4Address(type='TCP', host='{}', port={})",
                self.host, self.port
            )
        }
    }
}

/// The mechanism behind a [`Connector`] handle (TCP, or a test double).
pub trait ConnectorImpl {
    /// The current state.
    fn state(&self) -> ConnectorState;
    /// Starts a new attempt (only when disconnected).
    fn connect(&self, this: &Connector) -> Result<(), ConnectorError>;
    /// Abandons the attempt in progress.
    fn stop_connecting(&self, this: &Connector) -> Result<(), ConnectorError>;
    /// Stops connecting, or closes the connection, whichever applies.
    fn disconnect(&self, this: &Connector);
    /// Where it connects to.
    fn destination(&self) -> Destination;
    /// Where it connects to as an address, when that is known before
    /// connecting (a UNIX path); `None` by default (TCP: the host may be
    /// a name).
    fn destination_address(&self) -> Option<Address> {
        None
    }
}

/// A handle to an outgoing connection's lifecycle. Clones share it.
///
/// [`Reactor::connect_tcp`](crate::Reactor::connect_tcp) returns one, and
/// every [`ClientFactory`](crate::ClientFactory) callback gets it.
/// Abandoning an attempt in progress:
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
///
/// use gyre::{
///     for_protocol, Address, ClientFactory, ConnectError, Connector, ConnectorError,
///     ConnectorState, Factory, Protocol, Reactor, TcpListenOptions,
/// };
///
/// struct Quiet;
/// impl Protocol for Quiet {}
///
/// struct Report {
///     reactor: Reactor,
///     failed: Rc<RefCell<Option<String>>>,
/// }
/// impl Factory for Report {
///     type Protocol = Quiet;
///     fn build_protocol(&self, _: &Address) -> Option<Quiet> {
///         Some(Quiet)
///     }
/// }
/// impl ClientFactory for Report {
///     fn client_connection_failed(&self, _: &Connector, reason: &ConnectError) {
///         *self.failed.borrow_mut() = Some(reason.to_string());
///         self.reactor.stop().unwrap();
///     }
/// }
///
/// let reactor = Reactor::new()?;
/// # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
/// # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
/// let loopback = TcpListenOptions::interface("127.0.0.1");
/// let port = reactor.listen_tcp_with(0, for_protocol(|| Quiet), loopback)?.address().port();
///
/// let failed = Rc::new(RefCell::new(None));
/// let factory = Report { reactor: reactor.clone(), failed: failed.clone() };
/// let connector = reactor.connect_tcp("127.0.0.1", port, factory);
/// assert_eq!(connector.state(), ConnectorState::Connecting);
/// assert_eq!((connector.destination().host.as_str(), connector.destination().port), ("127.0.0.1", port));
/// assert!(matches!(connector.connect(), Err(ConnectorError::CannotConnect)), "already connecting");
///
/// let c = connector.clone();
/// reactor.call_when_running(move || c.stop_connecting().expect("still connecting"));
/// reactor.run()?;
/// assert_eq!(failed.borrow().as_deref(), Some("User aborted connection."));
/// assert_eq!(connector.state(), ConnectorState::Disconnected);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Connector {
    inner: Rc<dyn ConnectorImpl>,
}

impl Connector {
    /// Wraps a connector mechanism.
    pub fn new(inner: Rc<dyn ConnectorImpl>) -> Connector {
        Connector { inner }
    }

    /// `disconnected`, `connecting` or `connected`.
    pub fn state(&self) -> ConnectorState {
        self.inner.state()
    }

    /// Starts a new connection attempt. Only valid when disconnected;
    /// otherwise [`ConnectorError::CannotConnect`].
    pub fn connect(&self) -> Result<(), ConnectorError> {
        self.inner.connect(self)
    }

    /// Abandons the attempt in progress: the factory's
    /// `client_connection_failed` gets `UserAborted`. Only valid while
    /// connecting; otherwise [`ConnectorError::NotConnecting`].
    pub fn stop_connecting(&self) -> Result<(), ConnectorError> {
        self.inner.stop_connecting(self)
    }

    /// While connecting: `stop_connecting`. While connected: the
    /// transport's `lose_connection`. Otherwise nothing.
    pub fn disconnect(&self) {
        self.inner.disconnect(self)
    }

    /// The destination, with the host as it was given.
    pub fn destination(&self) -> Destination {
        self.inner.destination()
    }

    /// The destination as an [`Address`] where it is one before connecting:
    /// `UNIXAddress('/run/echo.sock')` for a UNIX connector; `None` for TCP,
    /// whose host may be a name.
    pub fn destination_address(&self) -> Option<Address> {
        self.inner.destination_address()
    }

    /// True if both handles refer to the same connector.
    pub fn same_as(&self, other: &Connector) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }
}

/// Prints like Twisted's connector repr, used in reconnection log lines:
/// `<gyre::Connector instance at 0x… disconnected IPv4Address(type='TCP', host='127.0.0.1', port=1)>`,
/// or `… UNIXAddress('/run/echo.sock')>` for a UNIX connector.
impl fmt::Display for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = Rc::as_ptr(&self.inner) as *const u8;
        match self.destination_address() {
            Some(addr) => write!(
                f,
                "<gyre::Connector instance at {at:p} {} {addr}>",
                self.state()
            ),
            None => write!(
                f,
                "<gyre::Connector instance at {at:p} {} {}>",
                self.state(),
                self.destination()
            ),
        }
    }
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
