//! Endpoints from description strings, and the registry of endpoint types.
//!
//! [`server_from_string`] and [`client_from_string`] split a description
//! with the pure grammar ([`parse`](super::parse)), look its type up, and let
//! that type's parser build the endpoint. The built-in types are `tcp`,
//! `tcp6` and `unix`, and for servers `haproxy` (which wraps any other server
//! description: `haproxy:tcp:8000`); [`register_server_type`] and
//! [`register_client_type`] add more (later gyre layers add `ssl` and
//! `tls` this way, and so can an application). Server types match
//! Twisted's rules: `tcp` and `unix` are lower-case only, other types ignore case;
//! client types always ignore case.
//!
//! The built-in types' parsers are here, below the registry: each builds
//! its endpoint from `spec.rs`'s typed specification (or, for `haproxy:`,
//! from the rest of the description), so no endpoint file names the
//! registry. Tests: at the bottom of this file (the
//! `haproxy:` parser), in `spec.rs` (the grammar), and
//! `tests/endpoints.rs` at the crate root.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use super::client::{HostnameEndpoint, TcpClientEndpoint};
use super::error::EndpointError;
use super::haproxy::HaproxyServerEndpoint;
use super::parse::{Parsed, parse};
use super::server::TcpServerEndpoint;
use super::spec::{self, TcpClientSpec, TcpServerSpec, UnixClientSpec, UnixServerSpec};
use super::unix::{UnixClientEndpoint, UnixServerEndpoint};
use super::{ClientEndpoint, ServerEndpoint};
use crate::reactor::Reactor;

/// Builds a server endpoint from a parsed description (`description` is the
/// whole string, for error messages).
pub type ServerParser =
    fn(&Reactor, &str, &Parsed) -> Result<Box<dyn ServerEndpoint>, EndpointError>;

/// Builds a client endpoint from a parsed description.
pub type ClientParser =
    fn(&Reactor, &str, &Parsed) -> Result<Box<dyn ClientEndpoint>, EndpointError>;

#[derive(Default)]
struct Registry {
    servers: HashMap<String, ServerParser>,
    clients: HashMap<String, ClientParser>,
}

fn registry() -> &'static RwLock<Registry> {
    static REGISTRY: OnceLock<RwLock<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut r = Registry::default();
        r.servers
            .insert("tcp".into(), |r, d, p| tcp_server_of(false, r, d, p));
        r.servers
            .insert("tcp6".into(), |r, d, p| tcp_server_of(true, r, d, p));
        r.servers.insert("haproxy".into(), haproxy_server_of);
        r.servers.insert("unix".into(), unix_server_of);
        r.clients.insert("unix".into(), unix_client_of);
        r.clients
            .insert("tcp".into(), |r, d, p| tcp_client_of(false, r, d, p));
        r.clients
            .insert("tcp6".into(), |r, d, p| tcp_client_of(true, r, d, p));
        RwLock::new(r)
    })
}

/// Adds (or replaces) a server endpoint type. Names are matched ignoring
/// case, except the built-in `tcp`, which must be lower-case (as in Twisted).
///
/// The registry is the process's: a type registered once is known to every
/// [`server_from_string`] call after it, on any thread. A `local:<port>`
/// type that listens on loopback only:
///
/// ```
/// use gyre::endpoint::parse::Parsed;
/// use gyre::endpoint::{
///     register_server_type, server_from_string, EndpointError, ServerEndpoint,
///     ServerEndpointExt, TcpServerEndpoint,
/// };
/// use gyre::testing::success_result_of;
/// use gyre::{for_protocol, Protocol, Reactor};
///
/// fn local(
///     reactor: &Reactor,
///     description: &str,
///     parsed: &Parsed,
/// ) -> Result<Box<dyn ServerEndpoint>, EndpointError> {
///     let port = parsed.args.get(1).ok_or_else(|| EndpointError::MissingParameter {
///         description: description.to_string(),
///         name: "port".to_string(),
///     })?;
///     let port = port.parse().map_err(|_| EndpointError::NotAnInteger {
///         description: description.to_string(),
///         name: "port".to_string(),
///         value: port.clone(),
///     })?;
///     Ok(Box::new(TcpServerEndpoint::new(reactor, port).with_interface("127.0.0.1")))
/// }
///
/// register_server_type("local", local);
///
/// let reactor = Reactor::new()?;
/// let endpoint = server_from_string(&reactor, "LOCAL:0")?; // any case but `tcp`'s
/// assert_eq!(endpoint.to_string(), "tcp:0:interface=127.0.0.1");
///
/// struct Quiet;
/// impl Protocol for Quiet {}
/// let port = success_result_of(&endpoint.listen(for_protocol(|| Quiet)));
/// assert!(port.address().ip().is_loopback() && port.address().port() != 0);
///
/// let err = server_from_string(&reactor, "local:http").err().expect("not a port");
/// assert!(matches!(err, EndpointError::NotAnInteger { .. }), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn register_server_type(name: &str, parser: ServerParser) {
    registry()
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .servers
        .insert(name.to_lowercase(), parser);
}

/// Adds (or replaces) a client endpoint type; names are matched ignoring case.
///
/// A `loop:<port>` type that connects to this machine's loopback, used for
/// a real connection:
///
/// ```
/// use gyre::endpoint::parse::Parsed;
/// use gyre::endpoint::{
///     client_from_string, connect_protocol, register_client_type, ClientEndpoint,
///     EndpointError, TcpClientEndpoint,
/// };
/// use gyre::{for_protocol, Protocol, Reactor, TcpListenOptions};
///
/// fn to_loopback(
///     reactor: &Reactor,
///     description: &str,
///     parsed: &Parsed,
/// ) -> Result<Box<dyn ClientEndpoint>, EndpointError> {
///     let port = parsed.args.get(1).map(String::as_str).unwrap_or("");
///     let port = port.parse().map_err(|_| EndpointError::NotAnInteger {
///         description: description.to_string(),
///         name: "port".to_string(),
///         value: port.to_string(),
///     })?;
///     Ok(Box::new(TcpClientEndpoint::new(reactor, "127.0.0.1", port)))
/// }
///
/// register_client_type("loop", to_loopback);
///
/// struct Quiet;
/// impl Protocol for Quiet {}
///
/// let reactor = Reactor::new()?;
/// # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
/// # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
/// let loopback = TcpListenOptions::interface("127.0.0.1");
/// let server = reactor.listen_tcp_with(0, for_protocol(|| Quiet), loopback)?.address();
///
/// let endpoint = client_from_string(&reactor, &format!("Loop:{}", server.port()))?;
/// assert_eq!(endpoint.to_string(), format!("tcp:host=127.0.0.1:port={}", server.port()));
/// let peer = std::rc::Rc::new(std::cell::Cell::new(None));
/// let (seen, r) = (peer.clone(), reactor.clone());
/// connect_protocol(&endpoint, Quiet).consume(move |connected| {
///     seen.set(connected.ok().and_then(|c| c.transport().peer().inet()));
///     r.stop().unwrap();
/// });
/// reactor.run()?;
/// assert_eq!(peer.get(), Some(server));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn register_client_type(name: &str, parser: ClientParser) {
    registry()
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .clients
        .insert(spec::client_type_key(name), parser);
}

fn type_of(description: &str, parsed: &Parsed) -> Result<String, EndpointError> {
    match parsed.kind() {
        "" => Err(EndpointError::MissingType {
            description: description.to_string(),
        }),
        kind => Ok(kind.to_string()),
    }
}

/// A server endpoint from its description (Twisted's `serverFromString`):
/// `tcp:8000`, `tcp:8000:interface=127.0.0.1:backlog=10`, `tcp6:8000`.
///
/// ```
/// use gyre::endpoint::server_from_string;
///
/// let reactor = gyre::Reactor::new().unwrap();
/// let e = server_from_string(&reactor, "tcp:8000:interface=127.0.0.1").unwrap();
/// assert_eq!(e.to_string(), "tcp:8000:interface=127.0.0.1");
/// let err = server_from_string(&reactor, "foo:80").err().unwrap();
/// assert!(err.to_string().contains("Unknown endpoint type: 'foo'"), "{err}");
/// ```
pub fn server_from_string(
    reactor: &Reactor,
    description: &str,
) -> Result<Box<dyn ServerEndpoint>, EndpointError> {
    let parsed = parse(description)?;
    let kind = type_of(description, &parsed)?;
    let key = match spec::server_type_key(&kind) {
        Some(builtin) => builtin.to_string(),
        // `TCP` is not `tcp` for servers, nor `UNIX` `unix`; every other
        // name ignores case.
        None if kind.eq_ignore_ascii_case("tcp") || kind.eq_ignore_ascii_case("unix") => {
            String::new()
        }
        None => kind.to_lowercase(),
    };
    let parser = registry()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .servers
        .get(&key)
        .copied();
    match parser {
        Some(p) => p(reactor, description, &parsed),
        None => Err(EndpointError::UnknownType {
            description: description.to_string(),
            kind,
        }),
    }
}

/// A client endpoint from its description (Twisted's `clientFromString`):
/// `tcp:host=example.org:port=80`, `tcp:127.0.0.1:8000`, `TCP:localhost:80`,
/// `tcp6:host=\:\:1:port=80`.
///
/// ```
/// use gyre::endpoint::client_from_string;
///
/// let reactor = gyre::Reactor::new().unwrap();
/// let e = client_from_string(&reactor, "TCP:localhost:80:timeout=5").unwrap();
/// assert_eq!(e.to_string(), "tcp:host=localhost:port=80:timeout=5");
/// let err = client_from_string(&reactor, "tcp:localhost").err().unwrap();
/// assert!(err.to_string().contains("missing parameter 'port'"), "{err}");
/// ```
pub fn client_from_string(
    reactor: &Reactor,
    description: &str,
) -> Result<Box<dyn ClientEndpoint>, EndpointError> {
    let parsed = parse(description)?;
    let kind = type_of(description, &parsed)?;
    let parser = registry()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clients
        .get(&spec::client_type_key(&kind))
        .copied();
    match parser {
        Some(p) => p(reactor, description, &parsed),
        None => Err(EndpointError::UnknownType {
            description: description.to_string(),
            kind,
        }),
    }
}

/// Builds a `tcp` (`ipv6` false) or `tcp6` server endpoint.
fn tcp_server_of(
    ipv6: bool,
    reactor: &Reactor,
    description: &str,
    parsed: &Parsed,
) -> Result<Box<dyn ServerEndpoint>, EndpointError> {
    let spec = TcpServerSpec::from_parsed(description, parsed, ipv6)?;
    let base = if spec.ipv6 {
        TcpServerEndpoint::ipv6(reactor, spec.port)
    } else {
        TcpServerEndpoint::new(reactor, spec.port)
    };
    Ok(Box::new(
        base.with_interface(&spec.interface)
            .with_backlog(spec.backlog),
    ))
}

/// A `tcp` client is one connection to the host as given (its first IPv4
/// address); a `tcp6` client races the host's IPv6 addresses only.
fn tcp_client_of(
    ipv6: bool,
    reactor: &Reactor,
    description: &str,
    parsed: &Parsed,
) -> Result<Box<dyn ClientEndpoint>, EndpointError> {
    let spec = TcpClientSpec::from_parsed(description, parsed, ipv6)?;
    let bind = spec.bind_address.map(|ip| std::net::SocketAddr::new(ip, 0));
    Ok(if ipv6 {
        Box::new(
            HostnameEndpoint::new(reactor, &spec.host, spec.port)
                .ipv6_only()
                .with_timeout(spec.timeout)
                .with_bind_address(bind),
        )
    } else {
        Box::new(
            TcpClientEndpoint::new(reactor, &spec.host, spec.port)
                .with_timeout(spec.timeout)
                .with_bind_address(bind),
        )
    })
}

/// Builds a `unix` server endpoint.
fn unix_server_of(
    reactor: &Reactor,
    description: &str,
    parsed: &Parsed,
) -> Result<Box<dyn ServerEndpoint>, EndpointError> {
    let spec = UnixServerSpec::from_parsed(description, parsed)?;
    Ok(Box::new(UnixServerEndpoint::from_spec(reactor, &spec)))
}

/// Builds a `unix` client endpoint.
fn unix_client_of(
    reactor: &Reactor,
    description: &str,
    parsed: &Parsed,
) -> Result<Box<dyn ClientEndpoint>, EndpointError> {
    let spec = UnixClientSpec::from_parsed(description, parsed)?;
    Ok(Box::new(UnixClientEndpoint::from_spec(reactor, &spec)))
}

/// The registry's parser for `haproxy:`: the rest of the description, as
/// written, is the wrapped endpoint's.
fn haproxy_server_of(
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
    Ok(Box::new(HaproxyServerEndpoint::new(reactor, wrapped)))
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
