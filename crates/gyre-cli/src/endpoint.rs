//! `--listen` endpoint strings: a small pure parser for the TCP subset.
//!
//! Accepted now (Twisted's strports grammar, reference §6.3, TCP only):
//!
//! ```text
//! tcp:PORT[:interface=IP][:backlog=N]
//! tcp:port=PORT[:interface=IP][:backlog=N]
//! ```
//!
//! Arguments are separated by `:`; a backslash escapes the next character, so
//! an IPv6 interface is written `tcp:8000:interface=\:\:1`. An empty
//! interface (the default) means all IPv4 interfaces; the backlog defaults to
//! 50. Port 0 asks the system for a free port.
//!
//! This module is deliberately self-contained: a later issue replaces it with
//! the library's full endpoint grammar (`gyre::endpoint`), and only
//! [`parse`] and [`TcpEndpoint`] are used outside it. Table tests are at the
//! bottom of this file.

use std::fmt;
use std::net::IpAddr;

/// The default listen backlog (Twisted's `listenTCP` default).
pub(crate) const DEFAULT_BACKLOG: u32 = 50;

/// A parsed `tcp:` server endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TcpEndpoint {
    /// The port to listen on (0: any free port).
    pub(crate) port: u16,
    /// The interface address as text; empty for all IPv4 interfaces.
    pub(crate) interface: String,
    /// The listen backlog.
    pub(crate) backlog: u32,
}

/// Why an endpoint string was rejected. `Display` is one line naming the
/// string and the bad part: `bad endpoint 'tcp:80x': port '80x' is not a number`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad endpoint '{description}': {problem}")]
pub(crate) struct EndpointError {
    /// The whole string as given.
    pub(crate) description: String,
    /// What is wrong with it.
    pub(crate) problem: Problem,
}

/// What is wrong with an endpoint string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    /// No `type:` prefix at all (`8000`).
    MissingType,
    /// A type other than `tcp`.
    UnsupportedType(String),
    /// No port, positional or `port=`.
    MissingPort,
    /// A value that should be a number is not (`option`, `value`).
    NotANumber(&'static str, String),
    /// The port is above 65535.
    PortOutOfRange(String),
    /// The interface is not an IPv4 or IPv6 address.
    BadInterface(String),
    /// An option name this endpoint type does not have.
    UnknownOption(String),
    /// The same option twice (a positional port counts as `port`).
    Duplicate(String),
    /// A positional argument after the port.
    UnexpectedArgument(String),
    /// An IPv6 interface written with bare colons (`interface=::1`).
    UnescapedColon,
    /// A backslash with nothing after it.
    TrailingBackslash,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::MissingType => f.write_str("missing endpoint type (expected 'tcp:PORT')"),
            Problem::UnsupportedType(t) => {
                write!(f, "unsupported endpoint type '{t}' (supported: tcp)")
            }
            Problem::MissingPort => f.write_str("missing port"),
            Problem::NotANumber(what, v) => write!(f, "{what} '{v}' is not a number"),
            Problem::PortOutOfRange(v) => write!(f, "port '{v}' is out of range (0-65535)"),
            Problem::BadInterface(v) => write!(f, "interface '{v}' is not an IP address"),
            Problem::UnknownOption(k) => {
                write!(
                    f,
                    "unknown option '{k}' (tcp takes port, interface, backlog)"
                )
            }
            Problem::Duplicate(k) => write!(f, "option '{k}' given more than once"),
            Problem::UnexpectedArgument(v) => write!(f, "unexpected argument '{v}'"),
            Problem::UnescapedColon => {
                f.write_str(r"unescaped ':' in interface (write IPv6 addresses as \:\:1)")
            }
            Problem::TrailingBackslash => f.write_str("a backslash at the end escapes nothing"),
        }
    }
}

/// Parses one endpoint string.
pub(crate) fn parse(description: &str) -> Result<TcpEndpoint, EndpointError> {
    parse_parts(description).map_err(|problem| EndpointError {
        description: description.to_string(),
        problem,
    })
}

fn parse_parts(description: &str) -> Result<TcpEndpoint, Problem> {
    let parts = split(description)?;
    let (kind, args) = match parts.split_first() {
        Some((kind, args)) if !args.is_empty() => (kind, args),
        _ => return Err(Problem::MissingType),
    };
    if kind != "tcp" {
        return Err(Problem::UnsupportedType(kind.clone()));
    }
    let mut port = None;
    let mut interface = None;
    let mut backlog = None;
    let mut last_key = "";
    for (i, arg) in args.iter().enumerate() {
        let (key, value) = match arg.split_once('=') {
            Some((key, value)) => (key, value),
            None if i == 0 => ("port", arg.as_str()),
            None if last_key == "interface" => return Err(Problem::UnescapedColon),
            None => return Err(Problem::UnexpectedArgument(arg.clone())),
        };
        last_key = key;
        let slot = match key {
            "port" => &mut port,
            "interface" => &mut interface,
            "backlog" => &mut backlog,
            other => return Err(Problem::UnknownOption(other.to_string())),
        };
        if slot.replace(value.to_string()).is_some() {
            return Err(Problem::Duplicate(key.to_string()));
        }
    }
    Ok(TcpEndpoint {
        port: parse_port(&port.ok_or(Problem::MissingPort)?)?,
        interface: parse_interface(interface.unwrap_or_default())?,
        backlog: match backlog {
            Some(b) => b.parse().map_err(|_| Problem::NotANumber("backlog", b))?,
            None => DEFAULT_BACKLOG,
        },
    })
}

/// Splits at unescaped colons, removing the escaping backslashes.
fn split(description: &str) -> Result<Vec<String>, Problem> {
    let mut parts = vec![String::new()];
    let mut chars = description.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let escaped = chars.next().ok_or(Problem::TrailingBackslash)?;
                parts.last_mut().expect("never empty").push(escaped);
            }
            ':' => parts.push(String::new()),
            c => parts.last_mut().expect("never empty").push(c),
        }
    }
    Ok(parts)
}

fn parse_port(text: &str) -> Result<u16, Problem> {
    if text.is_empty() {
        return Err(Problem::MissingPort);
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Problem::NotANumber("port", text.to_string()));
    }
    text.parse()
        .map_err(|_| Problem::PortOutOfRange(text.to_string()))
}

fn parse_interface(text: String) -> Result<String, Problem> {
    if text.is_empty() || text.parse::<IpAddr>().is_ok() {
        Ok(text)
    } else {
        Err(Problem::BadInterface(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(port: u16, interface: &str, backlog: u32) -> Result<TcpEndpoint, String> {
        Ok(TcpEndpoint {
            port,
            interface: interface.to_string(),
            backlog,
        })
    }

    fn run(description: &str) -> Result<TcpEndpoint, String> {
        parse(description).map_err(|e| e.to_string())
    }

    /// Valid strings, positional and keyword forms, parse to the expected endpoint.
    #[test]
    fn accepted() {
        let table = [
            ("tcp:8000", ok(8000, "", 50)),
            ("tcp:0", ok(0, "", 50)),
            ("tcp:65535", ok(65535, "", 50)),
            ("tcp:port=8000", ok(8000, "", 50)),
            ("tcp:8000:interface=127.0.0.1", ok(8000, "127.0.0.1", 50)),
            ("tcp:8000:backlog=5", ok(8000, "", 5)),
            (
                "tcp:8000:backlog=5:interface=10.1.2.3",
                ok(8000, "10.1.2.3", 5),
            ),
            ("tcp:interface=127.0.0.1:port=1", ok(1, "127.0.0.1", 50)),
            ("tcp:backlog=1:port=2", ok(2, "", 1)),
            (r"tcp:8000:interface=\:\:1", ok(8000, "::1", 50)),
            (r"tcp:8000:interface=\:\:", ok(8000, "::", 50)),
            ("tcp:8000:interface=", ok(8000, "", 50)),
            (r"tcp:80\00", ok(8000, "", 50)),
        ];
        for (input, expected) in table {
            assert_eq!(run(input), expected, "input {input:?}");
        }
    }

    /// Invalid strings are rejected with a one-line message naming the bad part.
    #[test]
    fn rejected() {
        let table = [
            (
                "tcp:80x",
                "bad endpoint 'tcp:80x': port '80x' is not a number",
            ),
            ("tcp:-1", "bad endpoint 'tcp:-1': port '-1' is not a number"),
            (
                "tcp:+80",
                "bad endpoint 'tcp:+80': port '+80' is not a number",
            ),
            (
                "tcp:65536",
                "bad endpoint 'tcp:65536': port '65536' is out of range (0-65535)",
            ),
            (
                "tcp:99999999999999999999",
                "bad endpoint 'tcp:99999999999999999999': port '99999999999999999999' is out of range (0-65535)",
            ),
            ("tcp:", "bad endpoint 'tcp:': missing port"),
            ("tcp:port=", "bad endpoint 'tcp:port=': missing port"),
            (
                "tcp:backlog=3",
                "bad endpoint 'tcp:backlog=3': missing port",
            ),
            (
                "tcp",
                "bad endpoint 'tcp': missing endpoint type (expected 'tcp:PORT')",
            ),
            (
                "8000",
                "bad endpoint '8000': missing endpoint type (expected 'tcp:PORT')",
            ),
            (
                "",
                "bad endpoint '': missing endpoint type (expected 'tcp:PORT')",
            ),
            (
                "udp:53",
                "bad endpoint 'udp:53': unsupported endpoint type 'udp' (supported: tcp)",
            ),
            (
                "TCP:80",
                "bad endpoint 'TCP:80': unsupported endpoint type 'TCP' (supported: tcp)",
            ),
            (
                "tcp:80:backlog=x",
                "bad endpoint 'tcp:80:backlog=x': backlog 'x' is not a number",
            ),
            (
                "tcp:80:backlog=-1",
                "bad endpoint 'tcp:80:backlog=-1': backlog '-1' is not a number",
            ),
            (
                "tcp:80:interface=localhost",
                "bad endpoint 'tcp:80:interface=localhost': interface 'localhost' is not an IP address",
            ),
            (
                "tcp:80:interface=::1",
                r"bad endpoint 'tcp:80:interface=::1': unescaped ':' in interface (write IPv6 addresses as \:\:1)",
            ),
            (
                "tcp:80:color=red",
                "bad endpoint 'tcp:80:color=red': unknown option 'color' (tcp takes port, interface, backlog)",
            ),
            (
                "tcp:80:port=81",
                "bad endpoint 'tcp:80:port=81': option 'port' given more than once",
            ),
            (
                "tcp:80:backlog=1:backlog=2",
                "bad endpoint 'tcp:80:backlog=1:backlog=2': option 'backlog' given more than once",
            ),
            (
                "tcp:80:90",
                "bad endpoint 'tcp:80:90': unexpected argument '90'",
            ),
            (
                r"tcp:80\",
                r"bad endpoint 'tcp:80\': a backslash at the end escapes nothing",
            ),
        ];
        for (input, expected) in table {
            assert_eq!(run(input), Err(expected.to_string()), "input {input:?}");
        }
    }

    /// The error keeps the description and the problem apart for callers that want them.
    #[test]
    fn error_fields() {
        let err = parse("tcp:x").unwrap_err();
        assert_eq!(err.description, "tcp:x");
        assert_eq!(err.problem, Problem::NotANumber("port", "x".to_string()));
    }
}
