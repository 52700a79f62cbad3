//! Typed errors and connection-lost reasons.
//!
//! `io::Error` appears here only as a cause inside a typed error; a clean close
//! is not an error at all but [`Reason::Done`]. The `Display` texts follow the
//! messages Twisted users know (`Connection was closed cleanly.`,
//! `Couldn't listen on 127.0.0.1:8000: Address already in use.`).

use std::fmt;
use std::io;
use std::sync::Arc;

/// The text of an OS error without Rust's ` (os error N)` suffix.
pub(crate) fn os_text(err: &io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Why a connection ended, as passed to `Protocol::connection_lost`.
///
/// Three connections to one server on loopback, ended three ways: the
/// server closes one, a callback panics on another, and the third is still
/// open when the reactor stops:
///
/// ```
/// use std::cell::RefCell;
/// use std::io::{Read, Write};
/// use std::rc::Rc;
///
/// use gyre::{Address, Factory, Protocol, Reactor, Reason, TcpListenOptions, Transport};
///
/// type Ends = Rc<RefCell<Vec<(String, String)>>>;
///
/// struct Server {
///     word: String,
///     ends: Ends,
/// }
/// impl Protocol for Server {
///     fn data_received(&mut self, t: &Transport, data: &[u8]) {
///         self.word = String::from_utf8_lossy(data).into_owned();
///         match data {
///             b"boom" => panic!("boom"),
///             b"bye" => {
///                 t.write(b"ok");
///                 t.lose_connection();
///             }
///             _ => t.write(b"ok"),
///         }
///     }
///     fn connection_lost(&mut self, reason: Reason) {
///         self.ends.borrow_mut().push((self.word.clone(), reason.to_string()));
///     }
/// }
///
/// struct Servers(Ends);
/// impl Factory for Servers {
///     type Protocol = Server;
///     fn build_protocol(&self, _: &Address) -> Option<Server> {
///         Some(Server { word: String::new(), ends: self.0.clone() })
///     }
/// }
///
/// let reactor = Reactor::new()?;
/// # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
/// # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
/// let ends = Ends::default();
/// let loopback = TcpListenOptions::interface("127.0.0.1");
/// let address = reactor.listen_tcp_with(0, Servers(ends.clone()), loopback)?.address();
/// let handle = reactor.thread_handle();
/// let client = std::thread::spawn(move || {
///     let mut rest = Vec::new();
///     for word in [&b"bye"[..], b"boom"] {
///         let mut stream = std::net::TcpStream::connect(address).unwrap();
///         stream.write_all(word).unwrap();
///         let _ = stream.read_to_end(&mut rest); // until the server closes
///     }
///     let mut open = std::net::TcpStream::connect(address).unwrap();
///     open.write_all(b"stay").unwrap();
///     open.read_exact(&mut [0; 2]).unwrap();
///     handle.stop(); // with `open` still connected
///     open
/// });
/// reactor.run()?;
/// drop(client.join().unwrap());
///
/// ends.borrow_mut().sort();
/// assert_eq!(
///     *ends.borrow(),
///     [
///         ("boom".into(), "A callback panicked: boom".into()),
///         ("bye".into(), "Connection was closed cleanly.".into()),
///         ("stay".into(), "Connection to the other side was lost in a non-clean fashion: Connection lost.".into()),
///     ] as [(String, String); 3]
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Reason {
    /// The connection was closed cleanly, by either side.
    Done,
    /// The connection was lost in a non-clean fashion (reset, socket error).
    Lost(Option<Arc<io::Error>>),
    /// This side aborted the connection (`Transport::abort_connection`).
    Aborted,
    /// The reactor shut down while the connection was open.
    Shutdown,
    /// A protocol or factory callback panicked; the message is kept.
    Panicked(Arc<str>),
    /// The peer read too slowly: a write would have left more than the
    /// connection's write cap waiting ([`WriteLimit::Close`](crate::transport::WriteLimit::Close)),
    /// so the connection was closed at once and its buffer discarded.
    SlowConsumer {
        /// Bytes that would have waited to be sent.
        buffered: usize,
        /// The cap.
        limit: usize,
    },
}

impl Reason {
    /// True for a clean close ([`Reason::Done`]).
    pub fn is_clean(&self) -> bool {
        matches!(self, Reason::Done)
    }

    pub(crate) fn lost(err: io::Error) -> Reason {
        Reason::Lost(Some(Arc::new(err)))
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Done => f.write_str("Connection was closed cleanly."),
            Reason::Lost(None) => {
                f.write_str("Connection to the other side was lost in a non-clean fashion.")
            }
            Reason::Lost(Some(e)) => write!(
                f,
                "Connection to the other side was lost in a non-clean fashion: {}.",
                os_text(e)
            ),
            Reason::Aborted => {
                f.write_str("Connection was aborted locally using Transport::abort_connection.")
            }
            Reason::Shutdown => f.write_str(
                "Connection to the other side was lost in a non-clean fashion: Connection lost.",
            ),
            Reason::Panicked(msg) => write!(f, "A callback panicked: {msg}"),
            Reason::SlowConsumer { buffered, limit } => write!(
                f,
                "Connection closed: the peer read too slowly ({buffered} bytes would wait to be sent, over the limit of {limit})."
            ),
        }
    }
}

impl std::error::Error for Reason {}

/// Errors from starting, stopping or running a reactor.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReactorError {
    /// `stop` was called on a reactor that is not running (or already stopping).
    #[error("Can't stop reactor that isn't running.")]
    NotRunning,
    /// `run` was called on a reactor that is already running.
    #[error("Reactor is already running.")]
    AlreadyRunning,
    /// `run` was called on a reactor that has run and stopped.
    #[error("Reactor cannot be restarted.")]
    NotRestartable,
    /// The operating system refused to create the poller or waker.
    #[error("reactor I/O setup failed: {0}")]
    Io(#[from] io::Error),
}

/// Errors from `DelayedCall::cancel`, `reset` and `delay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DelayedCallError {
    /// The call was already cancelled.
    #[error("Tried to cancel an already-cancelled event.")]
    AlreadyCancelled,
    /// The call already ran (or is running now).
    #[error("Tried to cancel an already-called event.")]
    AlreadyCalled,
}

/// A port could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("Couldn't listen on {address}: {}.", os_text(.source))]
pub struct ListenError {
    /// The interface and port as asked for (`127.0.0.1:8000`, `any:8000`).
    pub address: String,
    /// The OS error.
    #[source]
    pub source: io::Error,
}

/// Why an outgoing connection attempt failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The peer refused the connection.
    #[error("Connection was refused by other side: 111: Connection refused.")]
    Refused,
    /// The attempt did not complete within its timeout.
    #[error("User timeout caused connection failure.")]
    TimedOut,
    /// The host name could not be resolved.
    #[error("DNS lookup failed: {host}.")]
    DnsLookup {
        /// The name that failed to resolve.
        host: String,
    },
    /// The local bind address could not be bound.
    #[error("Couldn't bind: {address}: {}.", os_text(.source))]
    Bind {
        /// The address we tried to bind.
        address: String,
        /// The OS error.
        #[source]
        source: Arc<io::Error>,
    },
    /// The attempt was stopped by the user (`Connector::stop_connecting`).
    #[error("User aborted connection.")]
    UserAborted,
    /// The factory refused to build a protocol.
    #[error("Connection was refused by the factory: no protocol was built.")]
    NoProtocol,
    /// The connection attempt was cancelled (by cancelling the Deferred an
    /// endpoint's `connect` returned).
    #[error("Connecting to {address} was cancelled.")]
    Cancelled {
        /// Where it was connecting to.
        address: String,
    },
    /// The reactor shut down before the connection was made.
    #[error("The reactor shut down before the connection was made.")]
    Shutdown,
    /// A UNIX client asked to check the server's PID lock
    /// (`check_pid`, `lockfile=1`) found no live lock: the socket file is
    /// not served by a running process (Twisted's `BadFileError`).
    #[error("File used for UNIX socket is no good: {path}.")]
    BadFile {
        /// The socket path.
        path: String,
    },
    /// Any other OS error while connecting; the text names the error
    /// number as Twisted's does (`2: No such file or directory`).
    #[error("An error occurred while connecting: {}.", numbered_os_text(.0))]
    Other(Arc<io::Error>),
}

/// An OS error's number and text, `2: No such file or directory`, as
/// Twisted's connect errors print them.
fn numbered_os_text(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(n) => format!("{n}: {}", os_text(err)),
        None => os_text(err),
    }
}

impl ConnectError {
    pub(crate) fn from_io(err: io::Error) -> ConnectError {
        match err.kind() {
            io::ErrorKind::ConnectionRefused => ConnectError::Refused,
            io::ErrorKind::TimedOut => ConnectError::TimedOut,
            _ => ConnectError::Other(Arc::new(err)),
        }
    }
}

/// Misuse of a `Connector` in its current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// `connect` was called while connecting or connected.
    #[error("can't connect in this state")]
    CannotConnect,
    /// `stop_connecting` was called while not connecting.
    #[error("The Connector was not connecting when it was asked to stop connecting.")]
    NotConnecting,
}

/// A second producer was registered on a transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Cannot register producer, because a producer was never unregistered.")]
pub struct ProducerError;

#[cfg(test)]
mod tests {
    use super::*;

    /// Reason texts match the messages Twisted users see.
    #[test]
    fn reason_texts() {
        assert_eq!(Reason::Done.to_string(), "Connection was closed cleanly.");
        assert!(Reason::Done.is_clean());
        assert!(!Reason::Aborted.is_clean());
        let lost = Reason::lost(io::Error::from_raw_os_error(104));
        assert_eq!(
            lost.to_string(),
            "Connection to the other side was lost in a non-clean fashion: Connection reset by peer."
        );
    }

    /// A connect error other than the named ones carries the error number
    /// and text, as Twisted's (reference §17.2).
    #[test]
    fn other_connect_error_text() {
        let e = ConnectError::from_io(io::Error::from_raw_os_error(2));
        assert_eq!(
            e.to_string(),
            "An error occurred while connecting: 2: No such file or directory."
        );
    }

    /// A listen error names the address and the OS cause, without Rust's suffix.
    #[test]
    fn listen_error_text() {
        let e = ListenError {
            address: "127.0.0.1:8000".into(),
            source: io::Error::from_raw_os_error(98),
        };
        assert_eq!(
            e.to_string(),
            "Couldn't listen on 127.0.0.1:8000: Address already in use."
        );
    }
}
