//! `udp:<port>[:interface=<ip>]`: where a datagram service listens. This is
//! a gyre extension (Twisted has no string form for UDP ports): the same
//! grammar and rules as a `tcp` server description without `backlog`, the
//! type in any case. It names a UDP port for [`crate::Reactor::listen_udp`],
//! not a stream endpoint, so [`server_from_string`](crate::endpoint::server_from_string)
//! does not take it; `gyre` services that have a UDP form do.

use std::fmt;

use super::super::parse::{Parsed, parse, quote_string_argument};
use super::{EndpointError, bind, endpoint_type, ip_address, missing, port_number, unknown_type};

/// A UDP port to listen on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpServerSpec {
    /// The port; 0 asks the system for a free one.
    pub port: u16,
    /// The address to bind: an IP literal, or `""` for every IPv4 address.
    pub interface: String,
}

impl UdpServerSpec {
    /// Builds the spec from a parsed `udp` description (the type itself is
    /// not checked).
    pub fn from_parsed(description: &str, parsed: &Parsed) -> Result<Self, EndpointError> {
        let names = &["port", "interface"];
        let args = bind(description, parsed, names, names)?;
        let port = args
            .get("port")
            .ok_or_else(|| missing(description, "port"))?;
        let port = port_number(description, port)?;
        let interface = args.get("interface").unwrap_or("").to_owned();
        if !interface.is_empty() {
            ip_address(description, "interface", &interface, false)?;
        }
        Ok(UdpServerSpec { port, interface })
    }
}

/// `udp:<port>`, then `interface=` if one is set.
impl fmt::Display for UdpServerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "udp:{}", self.port)?;
        if !self.interface.is_empty() {
            write!(f, ":interface={}", quote_string_argument(&self.interface))?;
        }
        Ok(())
    }
}

/// Parses a `udp` description (the type in any case).
///
/// ```
/// use gyre::endpoint::spec::parse_udp_server;
///
/// let spec = parse_udp_server("udp:7:interface=127.0.0.1").unwrap();
/// assert_eq!((spec.port, spec.interface.as_str()), (7, "127.0.0.1"));
/// assert!(parse_udp_server("tcp:7").is_err());
/// ```
pub fn parse_udp_server(description: &str) -> Result<UdpServerSpec, EndpointError> {
    let parsed = parse(description)?;
    let kind = endpoint_type(description, &parsed)?;
    if !kind.eq_ignore_ascii_case("udp") {
        return Err(unknown_type(description, kind));
    }
    UdpServerSpec::from_parsed(description, &parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions() {
        let spec = |port, interface: &str| UdpServerSpec {
            port,
            interface: interface.to_owned(),
        };
        let table = [
            ("udp:7", spec(7, "")),
            ("UDP:7", spec(7, "")),
            ("udp:port=7", spec(7, "")),
            ("udp:7:interface=127.0.0.1", spec(7, "127.0.0.1")),
            ("udp:7:127.0.0.1", spec(7, "127.0.0.1")),
            (r"udp:7:interface=\:\:1", spec(7, "::1")),
            ("udp:0", spec(0, "")),
        ];
        for (description, expected) in table {
            assert_eq!(parse_udp_server(description), Ok(expected.clone()));
            assert_eq!(parse_udp_server(&expected.to_string()), Ok(expected));
        }
        for (bad, why) in [
            ("udp", "missing parameter 'port'"),
            ("udp:x", "'x' is not an integer"),
            ("udp:70000", "out of range"),
            ("udp:7:interface=localhost", "is not an IP address"),
            ("udp:7:backlog=5", "unexpected keyword argument 'backlog'"),
            ("tcp:7", "Unknown endpoint type"),
        ] {
            let err = parse_udp_server(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
