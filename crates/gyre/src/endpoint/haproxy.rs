//! [`HaproxyServerEndpoint`]: any server endpoint, with a PROXY protocol
//! header read at the start of every connection (`haproxy:` descriptions,
//! parsed by the registry in `strings.rs`, where its tests are).

use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use super::ServerEndpoint;
use crate::deferred::Deferred;
use crate::factory::AnyFactory;
use crate::haproxy::{AcceptSettings, DEFAULT_MAX_HEADER_LEN, DEFAULT_TIMEOUT};
use crate::tcp::ListeningPort;
use crate::time::Clock;
use crate::wrap::WrappingFactory;

/// Twisted's `proxyEndpoint`: listens where the wrapped endpoint does, and
/// every connection's protocol hears of it only once a PROXY header has
/// been read, with the header's client as its peer (see
/// [`gyre::haproxy`](crate::haproxy)).
///
/// Its description is `haproxy:` followed by the wrapped endpoint's:
/// `haproxy:tcp:8000:interface=127.0.0.1`, `haproxy:tcp6:8000`.
///
/// ```
/// use gyre::endpoint::server_from_string;
///
/// let reactor = gyre::Reactor::new()?;
/// let e = server_from_string(&reactor, "haproxy:tcp:8000:interface=127.0.0.1")?;
/// assert_eq!(e.to_string(), "haproxy:tcp:8000:interface=127.0.0.1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct HaproxyServerEndpoint {
    wrapped: Box<dyn ServerEndpoint>,
    clock: Rc<dyn Clock>,
    timeout: Duration,
    max_len: usize,
}

impl HaproxyServerEndpoint {
    /// `wrapped`, reading a header on every connection within
    /// [`DEFAULT_TIMEOUT`] on `clock` (the reactor).
    pub fn new(clock: &(impl Clock + Clone + 'static), wrapped: Box<dyn ServerEndpoint>) -> Self {
        HaproxyServerEndpoint {
            wrapped,
            clock: crate::time::keep(clock),
            timeout: DEFAULT_TIMEOUT,
            max_len: DEFAULT_MAX_HEADER_LEN,
        }
    }

    /// Sets the time a connection has to send its whole header.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the longest header accepted.
    pub fn with_max_header_len(mut self, max: usize) -> Self {
        self.max_len = max;
        self
    }
}

impl ServerEndpoint for HaproxyServerEndpoint {
    fn listen_any(&self, factory: AnyFactory) -> Deferred<ListeningPort> {
        let settings = AcceptSettings::new(&self.clock)
            .with_timeout(self.timeout)
            .with_max_header_len(self.max_len);
        let wrapped = WrappingFactory::wrap(factory, settings);
        self.wrapped.listen_any(AnyFactory::new(wrapped))
    }
}

impl fmt::Display for HaproxyServerEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "haproxy:{}", self.wrapped)
    }
}

impl fmt::Debug for HaproxyServerEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HaproxyServerEndpoint({self})")
    }
}
