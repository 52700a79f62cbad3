//! Typed specifications for the built-in TCP endpoint types, and the errors a
//! description can produce.
//!
//! The grammar follows Twisted's `serverFromString` and `clientFromString`
//! (the UNIX types are in `spec/unix.rs`, gyre's `udp:` in `spec/udp.rs`):
//!
//! * server `tcp:<port>[:interface=<ip>][:backlog=<n>]` (positionally:
//!   port, interface, backlog);
//! * server `tcp6:<port>[:backlog=<n>][:interface=<ipv6>]` (positionally:
//!   port, backlog, interface; note the order differs from `tcp`);
//! * client `tcp:<host>:<port>[:timeout=<s>][:bindAddress=<ip>]`, where host
//!   and port may also be written `host=` and `port=` (`tcp:host=h:port=p`,
//!   `tcp:host=h:<port>`, `tcp:<host>:port=p`); `tcp6:` takes the same
//!   parameters and connects over IPv6 only.
//!
//! Values that contain a colon, IPv6 addresses above all, have to be escaped
//! with backslashes: `tcp6:8000:interface=\:\:1`, `tcp:\:\:1:80`.
//!
//! Integers are read the way Python's `int()` reads a string: surrounding
//! whitespace, a sign, leading zeros and single underscores between digits are
//! all fine (`" +80 "`, `"0080"`, `"1_000"`); anything else (`"2.5"`, `"0x50"`,
//! `"abc"`) is not an integer. Only ASCII digits are accepted.
//!
//! Type names follow Twisted's matching rules, quirks included. Client types
//! ignore case (`TCP:localhost:80` works). Among server types, `tcp` is a
//! core type in Twisted and must be written in lower case, while `tcp6` comes
//! from a plugin, and plugin types ignore case; so `TCP6:80` is accepted and
//! `TCP:80` fails with ``Unknown endpoint type: 'tcp'`` (Twisted shows the
//! unknown name lower-cased).
//!
//! Where Twisted would accept a value and fail later (when listening or
//! connecting), gyre rejects it here: interfaces and bind addresses must be IP
//! addresses (`""` is allowed as an interface, meaning every address), `tcp6`
//! refuses IPv4 addresses, the client host must not be empty, and negative
//! backlogs and timeouts are out of range.
//!
//! One default differs from Twisted's on purpose: a server description
//! without `backlog` gets [`DEFAULT_BACKLOG`], 1024, not 50, so a burst of
//! connects does not overflow the accept queue.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

pub use super::error::EndpointError;
use super::parse::{Parsed, parse, quote_string_argument};

mod udp;
mod unix;

pub use udp::{UdpServerSpec, parse_udp_server};
pub use unix::{
    DEFAULT_MODE, UnixClientSpec, UnixServerSpec, parse_unix_client, parse_unix_server,
};

/// The listen queue length used when a server description gives no
/// `backlog`: 1024, the library's
/// [`TcpListenOptions::DEFAULT_BACKLOG`](crate::TcpListenOptions::DEFAULT_BACKLOG)
/// (Twisted's strports use 50; a burst of connects overflows that). Linux
/// caps any backlog at `net.core.somaxconn`.
pub const DEFAULT_BACKLOG: u32 = crate::tcp::TcpListenOptions::DEFAULT_BACKLOG;

/// The connection timeout used when a client description gives no `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A TCP server endpoint: where and how to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpServerSpec {
    /// The port to listen on; 0 asks the system for a free one.
    pub port: u16,
    /// The listen queue length ([`DEFAULT_BACKLOG`] unless given).
    pub backlog: u32,
    /// The address to bind, as written: an IP address, or `""` for every
    /// address. Defaults to `""` for `tcp` and `"::"` for `tcp6`. A `tcp`
    /// server may name an IPv6 address here.
    pub interface: String,
    /// True for `tcp6`.
    pub ipv6: bool,
}

/// A TCP client endpoint: where to connect and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpClientSpec {
    /// The host name or IP address to connect to (never empty).
    pub host: String,
    /// The port to connect to.
    pub port: u16,
    /// How long to wait for the connection: [`DEFAULT_TIMEOUT`] unless given;
    /// `timeout=0` means no timeout and gives `None`.
    pub timeout: Option<Duration>,
    /// The local address to bind before connecting (the local port is always
    /// chosen by the system).
    pub bind_address: Option<IpAddr>,
    /// True for `tcp6`: resolve and connect over IPv6 only.
    pub ipv6: bool,
}

/// The parameters of one call, matched to names the way Python binds
/// arguments to a function's parameters.
pub(super) struct Bound<'p>(Vec<(&'static str, &'p str)>);

impl<'p> Bound<'p> {
    pub(super) fn get(&self, name: &str) -> Option<&'p str> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }
}

/// Matches `parsed`'s parameters (after the type) to names: positionals in
/// the order of `positional`, keywords by name from `accepted` (which lists
/// every name the type takes).
pub(super) fn bind<'p>(
    description: &str,
    parsed: &'p Parsed,
    positional: &[&'static str],
    accepted: &[&'static str],
) -> Result<Bound<'p>, EndpointError> {
    let given = parsed.args.get(1..).unwrap_or(&[]);
    if given.len() > positional.len() {
        return Err(EndpointError::TooManyArguments {
            description: description.to_owned(),
            kind: parsed.kind().to_owned(),
            max: positional.len(),
            given: given.len(),
        });
    }
    let mut bound: Vec<(&'static str, &'p str)> = positional
        .iter()
        .copied()
        .zip(given.iter().map(String::as_str))
        .collect();
    for (key, value) in &parsed.kwargs {
        let Some(name) = accepted.iter().copied().find(|name| name == key) else {
            return Err(EndpointError::UnexpectedKeyword {
                description: description.to_owned(),
                kind: parsed.kind().to_owned(),
                key: key.clone(),
                accepted: accepted.iter().map(|name| (*name).to_owned()).collect(),
            });
        };
        if bound.iter().any(|(n, _)| *n == name) {
            return Err(EndpointError::DuplicateParameter {
                description: description.to_owned(),
                name: name.to_owned(),
            });
        }
        bound.push((name, value));
    }
    Ok(Bound(bound))
}

/// Reads an integer as Python's `int(text)` does, for ASCII digits: returns
/// whether it is negative and its magnitude (`None` if it does not fit in a
/// `u64`), or `None` if the text is not an integer at all.
pub(super) fn python_int(text: &str) -> Option<(bool, Option<u64>)> {
    python_int_in(text, 10)
}

/// [`python_int`] in base `radix` (8 or 10), as Python's `int(text, radix)`:
/// in base 8 an `0o` prefix may follow the sign (`"0o660"`, `"-0o7"`).
pub(super) fn python_int_in(text: &str, radix: u32) -> Option<(bool, Option<u64>)> {
    // Python's `int()` also strips the four ASCII separator characters.
    let text = text.trim_matches(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c));
    let (negative, mut digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    // After a prefix, an underscore may come before the first digit.
    let mut previous_was_digit = false;
    if radix == 8
        && let Some(rest) = digits
            .strip_prefix("0o")
            .or_else(|| digits.strip_prefix("0O"))
    {
        digits = rest;
        previous_was_digit = true;
        if digits.is_empty() {
            return None;
        }
    }
    let mut magnitude = Some(0u64);
    for b in digits.bytes() {
        match b {
            b'0'..=b'9' if u32::from(b - b'0') < radix => {
                magnitude = magnitude
                    .and_then(|m| m.checked_mul(u64::from(radix)))
                    .and_then(|m| m.checked_add(u64::from(b - b'0')));
                previous_was_digit = true;
            }
            // An underscore only ever sits between two digits.
            b'_' if previous_was_digit => previous_was_digit = false,
            _ => return None,
        }
    }
    // Empty, or ending in an underscore.
    if !previous_was_digit || digits.is_empty() {
        return None;
    }
    Some((negative, magnitude))
}

/// Parameter `name`'s `value` as an integer from 0 to `max`.
pub(super) fn integer(
    description: &str,
    name: &str,
    value: &str,
    max: u64,
) -> Result<u64, EndpointError> {
    let Some((negative, magnitude)) = python_int(value) else {
        return Err(EndpointError::NotAnInteger {
            description: description.to_owned(),
            name: name.to_owned(),
            value: value.to_owned(),
        });
    };
    match magnitude {
        Some(0) => Ok(0),
        Some(n) if !negative && n <= max => Ok(n),
        _ => Err(EndpointError::OutOfRange {
            description: description.to_owned(),
            name: name.to_owned(),
            value: value.to_owned(),
            min: 0,
            max,
        }),
    }
}

/// A port number, from 0 to 65535.
pub(super) fn port_number(description: &str, value: &str) -> Result<u16, EndpointError> {
    let port = integer(description, "port", value, u64::from(u16::MAX))?;
    Ok(u16::try_from(port).expect("range checked"))
}

/// An IP address, IPv6 only if `ipv6`.
pub(super) fn ip_address(
    description: &str,
    name: &str,
    value: &str,
    ipv6: bool,
) -> Result<IpAddr, EndpointError> {
    match value.parse::<IpAddr>() {
        Ok(ip) if ip.is_ipv6() || !ipv6 => Ok(ip),
        _ => Err(EndpointError::InvalidAddress {
            description: description.to_owned(),
            name: name.to_owned(),
            value: value.to_owned(),
            expected: if ipv6 {
                "an IPv6 address"
            } else {
                "an IP address"
            }
            .to_owned(),
        }),
    }
}

pub(super) fn missing(description: &str, name: &str) -> EndpointError {
    EndpointError::MissingParameter {
        description: description.to_owned(),
        name: name.to_owned(),
    }
}

fn default_interface(ipv6: bool) -> &'static str {
    if ipv6 { "::" } else { "" }
}

impl TcpServerSpec {
    /// Builds the spec from a parsed `tcp` (or, with `ipv6`, `tcp6`) server
    /// description. The type itself is not checked; `description` is only
    /// quoted in errors.
    pub(super) fn from_parsed(
        description: &str,
        parsed: &Parsed,
        ipv6: bool,
    ) -> Result<Self, EndpointError> {
        // Twisted's positional order differs between the two types.
        let positional: &[&'static str] = if ipv6 {
            &["port", "backlog", "interface"]
        } else {
            &["port", "interface", "backlog"]
        };
        let args = bind(description, parsed, positional, positional)?;
        let port = args
            .get("port")
            .ok_or_else(|| missing(description, "port"))?;
        let port = port_number(description, port)?;
        let backlog = match args.get("backlog") {
            Some(value) => {
                let backlog = integer(description, "backlog", value, u64::from(u32::MAX))?;
                u32::try_from(backlog).expect("range checked")
            }
            None => DEFAULT_BACKLOG,
        };
        let interface = args
            .get("interface")
            .unwrap_or(default_interface(ipv6))
            .to_owned();
        if !interface.is_empty() {
            ip_address(description, "interface", &interface, ipv6)?;
        }
        Ok(TcpServerSpec {
            port,
            backlog,
            interface,
            ipv6,
        })
    }
}

impl TcpClientSpec {
    /// Builds the spec from a parsed `tcp` (or, with `ipv6`, `tcp6`) client
    /// description. The type itself is not checked; `description` is only
    /// quoted in errors.
    pub(super) fn from_parsed(
        description: &str,
        parsed: &Parsed,
        ipv6: bool,
    ) -> Result<Self, EndpointError> {
        // One positional parameter is the port if the host came as a keyword,
        // and the host otherwise.
        let positional: &[&'static str] = if parsed.args.len() == 2 && parsed.get("host").is_some()
        {
            &["port"]
        } else {
            &["host", "port"]
        };
        let args = bind(
            description,
            parsed,
            positional,
            &["host", "port", "timeout", "bindAddress"],
        )?;
        let host = args
            .get("host")
            .ok_or_else(|| missing(description, "host"))?;
        let port = args
            .get("port")
            .ok_or_else(|| missing(description, "port"))?;
        if host.is_empty() {
            return Err(EndpointError::EmptyParameter {
                description: description.to_owned(),
                name: "host".to_owned(),
            });
        }
        if ipv6 && host.parse::<Ipv4Addr>().is_ok() {
            return Err(EndpointError::InvalidAddress {
                description: description.to_owned(),
                name: "host".to_owned(),
                value: host.to_owned(),
                expected: "an IPv6 address or a host name".to_owned(),
            });
        }
        let port = port_number(description, port)?;
        let timeout = match args.get("timeout") {
            Some(value) => match integer(description, "timeout", value, u64::MAX)? {
                0 => None,
                seconds => Some(Duration::from_secs(seconds)),
            },
            None => Some(DEFAULT_TIMEOUT),
        };
        let bind_address = args
            .get("bindAddress")
            .map(|value| ip_address(description, "bindAddress", value, ipv6))
            .transpose()?;
        Ok(TcpClientSpec {
            host: host.to_owned(),
            port,
            timeout,
            bind_address,
            ipv6,
        })
    }
}

/// Writes the shortest description that parses back to this spec: the port
/// positionally, then `interface` and `backlog` only where they differ from
/// the defaults (`tcp:80`, `tcp6:8000:interface=\:\:1:backlog=10`).
impl fmt::Display for TcpServerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.ipv6 { "tcp6" } else { "tcp" };
        write!(f, "{kind}:{}", self.port)?;
        if self.interface != default_interface(self.ipv6) {
            write!(f, ":interface={}", quote_string_argument(&self.interface))?;
        }
        if self.backlog != DEFAULT_BACKLOG {
            write!(f, ":backlog={}", self.backlog)?;
        }
        Ok(())
    }
}

/// Writes a description that parses back to this spec: host and port as
/// keywords, then `timeout` unless it is the default and `bindAddress` if set
/// (`tcp:host=example.com:port=80`, `tcp6:host=\:\:1:port=80:timeout=0`).
/// The timeout is written in whole seconds, so a spec built by hand with a
/// fractional timeout does not survive the trip exactly.
impl fmt::Display for TcpClientSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.ipv6 { "tcp6" } else { "tcp" };
        write!(
            f,
            "{kind}:host={}:port={}",
            quote_string_argument(&self.host),
            self.port
        )?;
        match self.timeout {
            Some(timeout) if timeout == DEFAULT_TIMEOUT => {}
            Some(timeout) => write!(f, ":timeout={}", timeout.as_secs())?,
            None => f.write_str(":timeout=0")?,
        }
        if let Some(ip) = self.bind_address {
            write!(f, ":bindAddress={}", quote_string_argument(&ip.to_string()))?;
        }
        Ok(())
    }
}

/// The canonical name of a built-in server endpoint type, or `None` if `name`
/// is not one.
///
/// Following Twisted, `tcp` and `unix` (core types there) match only in
/// lower case, while `tcp6` (a plugin there) matches in any case.
pub(super) fn server_type_key(name: &str) -> Option<&'static str> {
    if name == "tcp" {
        Some("tcp")
    } else if name == "unix" {
        Some("unix")
    } else if name.eq_ignore_ascii_case("tcp6") {
        Some("tcp6")
    } else {
        None
    }
}

/// The lookup key of a client endpoint type: client types ignore case, so
/// the key is the name lower-cased.
pub(super) fn client_type_key(name: &str) -> String {
    name.to_lowercase()
}

/// The endpoint type of `parsed`, or [`EndpointError::MissingType`].
pub(super) fn endpoint_type<'p>(
    description: &str,
    parsed: &'p Parsed,
) -> Result<&'p str, EndpointError> {
    match parsed.kind() {
        "" => Err(EndpointError::MissingType {
            description: description.to_owned(),
        }),
        kind => Ok(kind),
    }
}

pub(super) fn unknown_type(description: &str, kind: &str) -> EndpointError {
    EndpointError::UnknownType {
        description: description.to_owned(),
        kind: kind.to_owned(),
    }
}

/// Parses a `tcp` or `tcp6` server description.
///
/// ```
/// use gyre::endpoint::spec::parse_tcp_server;
///
/// let spec = parse_tcp_server("tcp:80:interface=127.0.0.1:backlog=10").unwrap();
/// assert_eq!((spec.port, spec.backlog, spec.interface.as_str()), (80, 10, "127.0.0.1"));
///
/// let err = parse_tcp_server("TCP:80").unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "invalid endpoint description \"TCP:80\": Unknown endpoint type: 'tcp' (given as 'TCP')"
/// );
/// ```
pub fn parse_tcp_server(description: &str) -> Result<TcpServerSpec, EndpointError> {
    let parsed = parse(description)?;
    let kind = endpoint_type(description, &parsed)?;
    let ipv6 = match server_type_key(kind) {
        Some("tcp") => false,
        Some("tcp6") => true,
        _ => return Err(unknown_type(description, kind)),
    };
    TcpServerSpec::from_parsed(description, &parsed, ipv6)
}

/// Parses a `tcp` or `tcp6` client description (type in any case).
///
/// ```
/// use gyre::endpoint::spec::parse_tcp_client;
///
/// let spec = parse_tcp_client(r"TCP:\:\:1:80:timeout=5").unwrap();
/// assert_eq!((spec.host.as_str(), spec.port), ("::1", 80));
/// assert_eq!(spec.timeout, Some(std::time::Duration::from_secs(5)));
/// ```
pub fn parse_tcp_client(description: &str) -> Result<TcpClientSpec, EndpointError> {
    let parsed = parse(description)?;
    let kind = endpoint_type(description, &parsed)?;
    let ipv6 = match client_type_key(kind).as_str() {
        "tcp" => false,
        "tcp6" => true,
        _ => return Err(unknown_type(description, kind)),
    };
    TcpClientSpec::from_parsed(description, &parsed, ipv6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::Ipv6Addr;

    /// The backlog a description without one gets, as the docs state it
    /// (README, `TcpListenOptions::DEFAULT_BACKLOG`): 1024, not Twisted's 50.
    const DOCUMENTED_BACKLOG: u32 = 1024;

    fn server(port: u16, backlog: u32, interface: &str, ipv6: bool) -> TcpServerSpec {
        TcpServerSpec {
            port,
            backlog,
            interface: interface.to_owned(),
            ipv6,
        }
    }

    fn client(host: &str, port: u16, timeout: Option<u64>, ipv6: bool) -> TcpClientSpec {
        TcpClientSpec {
            host: host.to_owned(),
            port,
            timeout: timeout.map(Duration::from_secs),
            bind_address: None,
            ipv6,
        }
    }

    /// Server descriptions parse to their port, backlog and interface, the
    /// backlog defaulting to the documented 1024.
    #[test]
    fn server_descriptions() {
        let table = [
            ("tcp:80:backlog=50", server(80, 50, "", false)),
            ("tcp:80:backlog=1024", server(80, 1024, "", false)),
            ("tcp:80", server(80, DOCUMENTED_BACKLOG, "", false)),
            (
                "tcp:80:interface=127.0.0.1:backlog=10",
                server(80, 10, "127.0.0.1", false),
            ),
            ("tcp:port=80", server(80, DOCUMENTED_BACKLOG, "", false)),
            ("tcp:backlog=7:port=80", server(80, 7, "", false)),
            ("tcp:80:127.0.0.1:10", server(80, 10, "127.0.0.1", false)),
            (
                "tcp:80:127.0.0.1",
                server(80, DOCUMENTED_BACKLOG, "127.0.0.1", false),
            ),
            (
                "tcp:80:interface=",
                server(80, DOCUMENTED_BACKLOG, "", false),
            ),
            (
                r"tcp:80:interface=\:\:1",
                server(80, DOCUMENTED_BACKLOG, "::1", false),
            ),
            ("tcp:0", server(0, DOCUMENTED_BACKLOG, "", false)),
            ("tcp:65535", server(65535, DOCUMENTED_BACKLOG, "", false)),
            ("tcp: +80\t", server(80, DOCUMENTED_BACKLOG, "", false)),
            ("tcp:0080", server(80, DOCUMENTED_BACKLOG, "", false)),
            ("tcp:1_000", server(1000, DOCUMENTED_BACKLOG, "", false)),
            ("tcp:-0", server(0, DOCUMENTED_BACKLOG, "", false)),
            ("tcp:80:backlog=0", server(80, 0, "", false)),
            ("tcp:80:backlog=4294967295", server(80, u32::MAX, "", false)),
            ("tcp:80:backlog=5:backlog=7", server(80, 7, "", false)),
            ("tcp6:8000", server(8000, DOCUMENTED_BACKLOG, "::", true)),
            (
                r"tcp6:8000:interface=\:\:1",
                server(8000, DOCUMENTED_BACKLOG, "::1", true),
            ),
            (r"tcp6:8000:10:\:\:1", server(8000, 10, "::1", true)),
            (
                "tcp6:8000:interface=",
                server(8000, DOCUMENTED_BACKLOG, "", true),
            ),
            ("TCP6:8000", server(8000, DOCUMENTED_BACKLOG, "::", true)),
            ("Tcp6:8000", server(8000, DOCUMENTED_BACKLOG, "::", true)),
        ];
        for (description, expected) in table {
            assert_eq!(
                parse_tcp_server(description),
                Ok(expected),
                "{description:?}"
            );
        }
    }

    #[test]
    fn client_descriptions() {
        let table = [
            ("tcp:localhost:80", client("localhost", 80, Some(30), false)),
            ("TCP:localhost:80", client("localhost", 80, Some(30), false)),
            (
                "tcp:host=example.com:port=80",
                client("example.com", 80, Some(30), false),
            ),
            (
                "tcp:host=example.com:80",
                client("example.com", 80, Some(30), false),
            ),
            (
                "tcp:example.com:port=80",
                client("example.com", 80, Some(30), false),
            ),
            (
                "tcp:port=80:host=example.com",
                client("example.com", 80, Some(30), false),
            ),
            (
                "tcp:example.com:80:timeout=5",
                client("example.com", 80, Some(5), false),
            ),
            (
                "tcp:example.com:80:timeout=0",
                client("example.com", 80, None, false),
            ),
            ("tcp:h: +80 :timeout= +5\n", client("h", 80, Some(5), false)),
            (r"tcp:\:\:1:80", client("::1", 80, Some(30), false)),
            ("tcp:127.0.0.1:0", client("127.0.0.1", 0, Some(30), false)),
            (
                "tcp6:example.com:80",
                client("example.com", 80, Some(30), true),
            ),
            (r"Tcp6:\:\:1:80", client("::1", 80, Some(30), true)),
            (r"tcp:a\=b:80", client("a=b", 80, Some(30), false)),
            ("tcp:host=a=b:80", client("a=b", 80, Some(30), false)),
        ];
        for (description, expected) in table {
            assert_eq!(
                parse_tcp_client(description),
                Ok(expected),
                "{description:?}"
            );
        }

        let bound = parse_tcp_client("tcp:www.example.com:80:bindAddress=192.0.2.100").unwrap();
        assert_eq!(
            bound.bind_address,
            Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100)))
        );
        let bound = parse_tcp_client(r"tcp:h:80:bindAddress=\:\:1").unwrap();
        assert_eq!(bound.bind_address, Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        let bound = parse_tcp_client(r"tcp6:h:80:bindAddress=\:\:1").unwrap();
        assert_eq!(bound.bind_address, Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
    }

    #[test]
    fn exact_messages() {
        let table = [
            (
                parse_tcp_server("foo:80").unwrap_err(),
                r#"invalid endpoint description "foo:80": Unknown endpoint type: 'foo'"#,
            ),
            (
                parse_tcp_server("TCP:80").unwrap_err(),
                r#"invalid endpoint description "TCP:80": Unknown endpoint type: 'tcp' (given as 'TCP')"#,
            ),
            (
                parse_tcp_server("tcp").unwrap_err(),
                r#"invalid endpoint description "tcp": missing parameter 'port'"#,
            ),
            (
                parse_tcp_server("tcp:http").unwrap_err(),
                r#"invalid endpoint description "tcp:http": port 'http' is not an integer"#,
            ),
            (
                parse_tcp_server("tcp:65536").unwrap_err(),
                r#"invalid endpoint description "tcp:65536": port '65536' is out of range (0 to 65535)"#,
            ),
            (
                parse_tcp_server("").unwrap_err(),
                r#"invalid endpoint description "": no endpoint type given (a description starts with one, as in 'tcp:80')"#,
            ),
            (
                parse_tcp_server("tcp:80:interface=localhost").unwrap_err(),
                r#"invalid endpoint description "tcp:80:interface=localhost": interface 'localhost' is not an IP address"#,
            ),
            (
                parse_tcp_server("tcp6:80:interface=127.0.0.1").unwrap_err(),
                r#"invalid endpoint description "tcp6:80:interface=127.0.0.1": interface '127.0.0.1' is not an IPv6 address"#,
            ),
            (
                parse_tcp_server("tcp:80:bogus=1").unwrap_err(),
                r#"invalid endpoint description "tcp:80:bogus=1": unexpected keyword argument 'bogus' for endpoint type 'tcp' (it takes port, interface, backlog)"#,
            ),
            (
                parse_tcp_server("tcp:80:127.0.0.1:10:x").unwrap_err(),
                r#"invalid endpoint description "tcp:80:127.0.0.1:10:x": too many positional arguments for endpoint type 'tcp' (it takes at most 3 after the type, got 4)"#,
            ),
            (
                parse_tcp_server("tcp:80:port=81").unwrap_err(),
                r#"invalid endpoint description "tcp:80:port=81": parameter 'port' given twice, positionally and as 'port='"#,
            ),
            (
                parse_tcp_client("tcp::80").unwrap_err(),
                r#"invalid endpoint description "tcp::80": parameter 'host' is empty"#,
            ),
            (
                parse_tcp_client("tcp6:127.0.0.1:80").unwrap_err(),
                r#"invalid endpoint description "tcp6:127.0.0.1:80": host '127.0.0.1' is not an IPv6 address or a host name"#,
            ),
            (
                parse_tcp_client("foo\nbar:h:80").unwrap_err(),
                r#"invalid endpoint description "foo\nbar:h:80": Unknown endpoint type: 'foo\nbar'"#,
            ),
            (
                parse_tcp_client(r"tcp:h:80\").unwrap_err(),
                r#"invalid endpoint description "tcp:h:80\": it ends with a backslash that escapes nothing"#,
            ),
        ];
        for (error, message) in table {
            assert_eq!(error.to_string(), message);
        }
    }

    #[test]
    fn server_errors() {
        use EndpointError as E;
        let s = |x: &str| x.to_owned();
        let not_int = |d: &str, name: &str, value: &str| E::NotAnInteger {
            description: s(d),
            name: s(name),
            value: s(value),
        };
        let range = |d: &str, name: &str, value: &str, max: u64| E::OutOfRange {
            description: s(d),
            name: s(name),
            value: s(value),
            min: 0,
            max,
        };
        let address = |d: &str, name: &str, value: &str, expected: &str| E::InvalidAddress {
            description: s(d),
            name: s(name),
            value: s(value),
            expected: s(expected),
        };
        let table = vec![
            ("", E::MissingType { description: s("") }),
            (
                ":80",
                E::MissingType {
                    description: s(":80"),
                },
            ),
            (
                "port=80",
                E::MissingType {
                    description: s("port=80"),
                },
            ),
            (
                "TCP:80",
                E::UnknownType {
                    description: s("TCP:80"),
                    kind: s("TCP"),
                },
            ),
            (
                "unix:/tmp/sock",
                E::UnknownType {
                    description: s("unix:/tmp/sock"),
                    kind: s("unix"),
                },
            ),
            (
                r"tcp:80\",
                E::TrailingBackslash {
                    description: s(r"tcp:80\"),
                },
            ),
            (
                "tcp",
                E::MissingParameter {
                    description: s("tcp"),
                    name: s("port"),
                },
            ),
            (
                "tcp:interface=127.0.0.1",
                E::MissingParameter {
                    description: s("tcp:interface=127.0.0.1"),
                    name: s("port"),
                },
            ),
            ("tcp:abc", not_int("tcp:abc", "port", "abc")),
            ("tcp:2.5", not_int("tcp:2.5", "port", "2.5")),
            ("tcp:", not_int("tcp:", "port", "")),
            ("tcp:8 0", not_int("tcp:8 0", "port", "8 0")),
            ("tcp:_80", not_int("tcp:_80", "port", "_80")),
            ("tcp:80_", not_int("tcp:80_", "port", "80_")),
            ("tcp:1__0", not_int("tcp:1__0", "port", "1__0")),
            ("tcp:+", not_int("tcp:+", "port", "+")),
            ("tcp:+-1", not_int("tcp:+-1", "port", "+-1")),
            ("tcp:0x50", not_int("tcp:0x50", "port", "0x50")),
            ("tcp:65536", range("tcp:65536", "port", "65536", 65535)),
            ("tcp:-1", range("tcp:-1", "port", "-1", 65535)),
            (
                "tcp:99999999999999999999999",
                range(
                    "tcp:99999999999999999999999",
                    "port",
                    "99999999999999999999999",
                    65535,
                ),
            ),
            (
                "tcp:80:backlog=many",
                not_int("tcp:80:backlog=many", "backlog", "many"),
            ),
            (
                "tcp:80:backlog=-1",
                range("tcp:80:backlog=-1", "backlog", "-1", u64::from(u32::MAX)),
            ),
            (
                "tcp:80:backlog=4294967296",
                range(
                    "tcp:80:backlog=4294967296",
                    "backlog",
                    "4294967296",
                    u64::from(u32::MAX),
                ),
            ),
            (
                "tcp:80:interface=localhost",
                address(
                    "tcp:80:interface=localhost",
                    "interface",
                    "localhost",
                    "an IP address",
                ),
            ),
            (
                "tcp:80:interface=1.2.3",
                address(
                    "tcp:80:interface=1.2.3",
                    "interface",
                    "1.2.3",
                    "an IP address",
                ),
            ),
            (
                "tcp6:80:interface=127.0.0.1",
                address(
                    "tcp6:80:interface=127.0.0.1",
                    "interface",
                    "127.0.0.1",
                    "an IPv6 address",
                ),
            ),
            (
                "tcp:80:bogus=1",
                E::UnexpectedKeyword {
                    description: s("tcp:80:bogus=1"),
                    kind: s("tcp"),
                    key: s("bogus"),
                    accepted: vec![s("port"), s("interface"), s("backlog")],
                },
            ),
            (
                "tcp6:80:Backlog=1",
                E::UnexpectedKeyword {
                    description: s("tcp6:80:Backlog=1"),
                    kind: s("tcp6"),
                    key: s("Backlog"),
                    accepted: vec![s("port"), s("backlog"), s("interface")],
                },
            ),
            (
                "tcp:80:127.0.0.1:10:x",
                E::TooManyArguments {
                    description: s("tcp:80:127.0.0.1:10:x"),
                    kind: s("tcp"),
                    max: 3,
                    given: 4,
                },
            ),
            (
                "tcp:80:port=80",
                E::DuplicateParameter {
                    description: s("tcp:80:port=80"),
                    name: s("port"),
                },
            ),
            // The unescaped IPv6 address splits into more parameters, and the
            // last piece lands in the interface slot.
            (
                "tcp6:80:interface=::1",
                E::DuplicateParameter {
                    description: s("tcp6:80:interface=::1"),
                    name: s("interface"),
                },
            ),
        ];
        for (description, expected) in table {
            let got = parse_tcp_server(description).unwrap_err();
            assert_eq!(got, expected, "{description:?}");
            assert_eq!(got.description(), description);
            assert!(!got.to_string().contains('\n'));
        }
    }

    #[test]
    fn client_errors() {
        use EndpointError as E;
        let s = |x: &str| x.to_owned();
        let missing = |d: &str, name: &str| E::MissingParameter {
            description: s(d),
            name: s(name),
        };
        let table = vec![
            ("", E::MissingType { description: s("") }),
            (
                "foo:h:80",
                E::UnknownType {
                    description: s("foo:h:80"),
                    kind: s("foo"),
                },
            ),
            ("tcp", missing("tcp", "host")),
            ("tcp:port=80", missing("tcp:port=80", "host")),
            ("tcp:localhost", missing("tcp:localhost", "port")),
            ("tcp:host=localhost", missing("tcp:host=localhost", "port")),
            (
                "tcp::80",
                E::EmptyParameter {
                    description: s("tcp::80"),
                    name: s("host"),
                },
            ),
            (
                "tcp:h:http",
                E::NotAnInteger {
                    description: s("tcp:h:http"),
                    name: s("port"),
                    value: s("http"),
                },
            ),
            (
                "tcp:h:70000",
                E::OutOfRange {
                    description: s("tcp:h:70000"),
                    name: s("port"),
                    value: s("70000"),
                    min: 0,
                    max: 65535,
                },
            ),
            (
                "tcp:h:80:timeout=2.5",
                E::NotAnInteger {
                    description: s("tcp:h:80:timeout=2.5"),
                    name: s("timeout"),
                    value: s("2.5"),
                },
            ),
            (
                "tcp:h:80:timeout=-1",
                E::OutOfRange {
                    description: s("tcp:h:80:timeout=-1"),
                    name: s("timeout"),
                    value: s("-1"),
                    min: 0,
                    max: u64::MAX,
                },
            ),
            (
                "tcp:h:80:bindAddress=example.com",
                E::InvalidAddress {
                    description: s("tcp:h:80:bindAddress=example.com"),
                    name: s("bindAddress"),
                    value: s("example.com"),
                    expected: s("an IP address"),
                },
            ),
            (
                "tcp6:h:80:bindAddress=127.0.0.1",
                E::InvalidAddress {
                    description: s("tcp6:h:80:bindAddress=127.0.0.1"),
                    name: s("bindAddress"),
                    value: s("127.0.0.1"),
                    expected: s("an IPv6 address"),
                },
            ),
            (
                "tcp6:127.0.0.1:80",
                E::InvalidAddress {
                    description: s("tcp6:127.0.0.1:80"),
                    name: s("host"),
                    value: s("127.0.0.1"),
                    expected: s("an IPv6 address or a host name"),
                },
            ),
            (
                "tcp:h:80:x",
                E::TooManyArguments {
                    description: s("tcp:h:80:x"),
                    kind: s("tcp"),
                    max: 2,
                    given: 3,
                },
            ),
            (
                "tcp:h:80:host=g",
                E::DuplicateParameter {
                    description: s("tcp:h:80:host=g"),
                    name: s("host"),
                },
            ),
            (
                "tcp:80:host=h:port=81",
                E::DuplicateParameter {
                    description: s("tcp:80:host=h:port=81"),
                    name: s("port"),
                },
            ),
            (
                "TCP:h:80:bindaddress=127.0.0.1",
                E::UnexpectedKeyword {
                    description: s("TCP:h:80:bindaddress=127.0.0.1"),
                    kind: s("TCP"),
                    key: s("bindaddress"),
                    accepted: vec![s("host"), s("port"), s("timeout"), s("bindAddress")],
                },
            ),
            (
                r"tcp:h:80\",
                E::TrailingBackslash {
                    description: s(r"tcp:h:80\"),
                },
            ),
        ];
        for (description, expected) in table {
            let got = parse_tcp_client(description).unwrap_err();
            assert_eq!(got, expected, "{description:?}");
            assert_eq!(got.description(), description);
        }
    }

    #[test]
    fn type_names() {
        assert_eq!(server_type_key("tcp"), Some("tcp"));
        assert_eq!(server_type_key("TCP"), None);
        assert_eq!(server_type_key("tcp6"), Some("tcp6"));
        assert_eq!(server_type_key("TcP6"), Some("tcp6"));
        assert_eq!(server_type_key("unix"), Some("unix"));
        assert_eq!(server_type_key("UNIX"), None);
        assert_eq!(server_type_key("udp"), None);
        assert_eq!(client_type_key("TcP6"), "tcp6");
    }

    /// `from_parsed` reads the parameters whatever the type name says.
    #[test]
    fn from_parsed_ignores_the_type() {
        let parsed = parse("anything:80").unwrap();
        assert_eq!(
            TcpServerSpec::from_parsed("anything:80", &parsed, false),
            Ok(server(80, DOCUMENTED_BACKLOG, "", false))
        );
        let parsed = parse("anything:h:80").unwrap();
        assert_eq!(
            TcpClientSpec::from_parsed("anything:h:80", &parsed, true),
            Ok(client("h", 80, Some(30), true))
        );
    }

    /// Specs print as the shortest description, `backlog=` only when it is
    /// not the documented default.
    #[test]
    fn canonical_descriptions() {
        let table = [
            (server(80, DOCUMENTED_BACKLOG, "", false), "tcp:80"),
            (server(80, 50, "", false), "tcp:80:backlog=50"),
            (server(80, 1023, "", false), "tcp:80:backlog=1023"),
            (
                server(80, 10, "127.0.0.1", false),
                "tcp:80:interface=127.0.0.1:backlog=10",
            ),
            (server(8000, DOCUMENTED_BACKLOG, "::", true), "tcp6:8000"),
            (
                server(8000, DOCUMENTED_BACKLOG, "::1", true),
                r"tcp6:8000:interface=\:\:1",
            ),
            (
                server(8000, DOCUMENTED_BACKLOG, "", true),
                "tcp6:8000:interface=",
            ),
        ];
        for (spec, text) in table {
            assert_eq!(spec.to_string(), text);
        }
        let table = [
            (
                client("example.com", 80, Some(30), false),
                "tcp:host=example.com:port=80",
            ),
            (
                client("::1", 80, None, true),
                r"tcp6:host=\:\:1:port=80:timeout=0",
            ),
            (
                client("h", 1, Some(5), false),
                "tcp:host=h:port=1:timeout=5",
            ),
        ];
        for (spec, text) in table {
            assert_eq!(spec.to_string(), text);
        }
        let mut bound = client("h", 1, Some(30), false);
        bound.bind_address = Some(IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(bound.to_string(), r"tcp:host=h:port=1:bindAddress=\:\:1");
    }

    fn interface(ipv6: bool) -> BoxedStrategy<String> {
        let v6 = any::<Ipv6Addr>().prop_map(|ip| ip.to_string());
        if ipv6 {
            prop_oneof![Just(String::new()), Just("::".to_owned()), v6].boxed()
        } else {
            let v4 = any::<Ipv4Addr>().prop_map(|ip| ip.to_string());
            prop_oneof![Just(String::new()), v4, v6].boxed()
        }
    }

    fn server_spec() -> impl Strategy<Value = TcpServerSpec> {
        any::<bool>().prop_flat_map(|ipv6| {
            (any::<u16>(), any::<u32>(), interface(ipv6)).prop_map(
                move |(port, backlog, interface)| TcpServerSpec {
                    port,
                    backlog,
                    interface,
                    ipv6,
                },
            )
        })
    }

    fn client_spec() -> impl Strategy<Value = TcpClientSpec> {
        let host = prop_oneof![
            any::<String>(),
            "[a-z:=\\\\.]{1,12}",
            any::<IpAddr>().prop_map(|ip| ip.to_string()),
        ];
        let timeout = prop_oneof![
            Just(None),
            Just(Some(DEFAULT_TIMEOUT)),
            (1..=u64::MAX).prop_map(|s| Some(Duration::from_secs(s))),
        ];
        (
            any::<bool>(),
            host,
            any::<u16>(),
            timeout,
            proptest::option::of(any::<IpAddr>()),
        )
            .prop_filter("valid client spec", |(ipv6, host, _, _, bind)| {
                let ipv4_host = host.parse::<Ipv4Addr>().is_ok();
                let ipv4_bind = bind.is_some_and(|ip| ip.is_ipv4());
                !host.is_empty() && !(*ipv6 && (ipv4_host || ipv4_bind))
            })
            .prop_map(|(ipv6, host, port, timeout, bind_address)| TcpClientSpec {
                host,
                port,
                timeout,
                bind_address,
                ipv6,
            })
    }

    proptest! {
        #[test]
        fn server_display_parses_back(spec in server_spec()) {
            prop_assert_eq!(parse_tcp_server(&spec.to_string()), Ok(spec));
        }

        #[test]
        fn client_display_parses_back(spec in client_spec()) {
            prop_assert_eq!(parse_tcp_client(&spec.to_string()), Ok(spec));
        }

        #[test]
        fn every_port_number_parses(port in any::<u16>()) {
            prop_assert_eq!(parse_tcp_server(&format!("tcp:{port}")).map(|s| s.port), Ok(port));
            prop_assert_eq!(
                parse_tcp_client(&format!("tcp:h:port={port}")).map(|s| s.port),
                Ok(port)
            );
        }

        #[test]
        fn larger_numbers_are_out_of_range(n in 65536u128..) {
            let is_out_of_range = matches!(
                parse_tcp_server(&format!("tcp:{n}")),
                Err(EndpointError::OutOfRange { .. })
            );
            prop_assert!(is_out_of_range);
        }

        #[test]
        fn never_panics_and_errors_are_one_line(
            s in prop_oneof![
                any::<String>(),
                "(tcp6?|TCP6?|x)?(:[a-zA-Z0-9 .=\\\\+_-]{0,6}){0,5}",
            ]
        ) {
            let errors = [parse_tcp_server(&s).err(), parse_tcp_client(&s).err()];
            for e in errors.into_iter().flatten() {
                prop_assert_eq!(e.description(), s.as_str());
                prop_assert!(!e.to_string().contains('\n'));
            }
        }
    }
}
