//! [`HaproxyServerEndpoint`]: any server endpoint, with a PROXY protocol
//! header read at the start of every connection (`haproxy:` descriptions).

use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use super::ServerEndpoint;
use super::error::EndpointError;
use super::parse::Parsed;
use super::strings::server_from_string;
use crate::deferred::Deferred;
use crate::factory::AnyFactory;
use crate::haproxy::{AcceptSettings, DEFAULT_MAX_HEADER_LEN, DEFAULT_TIMEOUT};
use crate::reactor::Reactor;
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
    /// [`DEFAULT_TIMEOUT`] on `clock` (the reactor: `Rc::new(reactor.clone())`).
    pub fn new(clock: Rc<dyn Clock>, wrapped: Box<dyn ServerEndpoint>) -> Self {
        HaproxyServerEndpoint {
            wrapped,
            clock,
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
        let settings = AcceptSettings::new(self.clock.clone())
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

/// The registry's parser for `haproxy:`: the rest of the description, as
/// written, is the wrapped endpoint's.
pub(super) fn haproxy_server_of(
    reactor: &Reactor,
    description: &str,
    _parsed: &Parsed,
) -> Result<Box<dyn ServerEndpoint>, EndpointError> {
    let wrapped = match after_type(description) {
        Some(rest) if !rest.is_empty() => rest,
        _ => {
            return Err(EndpointError::MissingParameter {
                description: description.to_string(),
                name: "endpoint to wrap".to_string(),
            });
        }
    };
    let wrapped = server_from_string(reactor, wrapped)?;
    Ok(Box::new(HaproxyServerEndpoint::new(
        Rc::new(reactor.clone()),
        wrapped,
    )))
}

/// What follows the type in `description`: the text after its first
/// unescaped `:`.
fn after_type(description: &str) -> Option<&str> {
    let mut escaped = false;
    for (i, c) in description.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ':' => return Some(&description[i + 1..]),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wrapped description is the text after the type's colon, escapes
    /// kept as written.
    #[test]
    fn the_rest_after_the_type_is_the_wrapped_description() {
        assert_eq!(after_type("haproxy:tcp:80"), Some("tcp:80"));
        assert_eq!(
            after_type(r"haproxy:tcp6:80:interface=\:\:1"),
            Some(r"tcp6:80:interface=\:\:1")
        );
        assert_eq!(after_type(r"ha\:proxy:tcp:80"), Some("tcp:80"));
        assert_eq!(after_type("haproxy"), None);
        assert_eq!(after_type("haproxy:"), Some(""));
    }

    /// `haproxy:` wraps any server description, keeps its errors, and
    /// needs one.
    #[test]
    fn descriptions() {
        let reactor = Reactor::new().unwrap();
        let e = server_from_string(&reactor, r"HAProxy:tcp6:0:interface=\:\:1").unwrap();
        assert_eq!(e.to_string(), r"haproxy:tcp6:0:interface=\:\:1");
        let e = server_from_string(&reactor, "haproxy:haproxy:tcp:0").unwrap();
        assert_eq!(e.to_string(), "haproxy:haproxy:tcp:0");
        for bare in ["haproxy", "haproxy:"] {
            let err = server_from_string(&reactor, bare)
                .err()
                .unwrap()
                .to_string();
            assert!(
                err.contains("missing parameter 'endpoint to wrap'"),
                "{err}"
            );
        }
        let err = server_from_string(&reactor, "haproxy:tcp:http")
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("'http' is not an integer"),
            "{err}"
        );
        let err = server_from_string(&reactor, "haproxy:nope:1")
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("Unknown endpoint type: 'nope'"),
            "{err}"
        );
    }
}
