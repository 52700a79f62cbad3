//! The classic inetd "internal" services (Twisted's `twisted.protocols.wire`).
//!
//! One file per service, each a plain [`Protocol`] with no I/O of its own, so
//! its behaviour is tested with `gyre::testing::StringTransport` in that file.
//! [`Service`] names them for the command line and [`WireFactory`] builds
//! one protocol value per connection.
//!
//! | service | RFC | behaviour |
//! |---|---|---|
//! | echo | 862 | writes back every chunk; stops reading while the peer does not read |
//! | discard | 863 | reads and drops everything |
//! | chargen | 864 | streams the 72-column rotating pattern until the peer goes |
//! | daytime | 867 | sends `asctime` (UTC) and CRLF, then closes |
//! | qotd | 865 | sends one quote line, then closes |
//! | time | 868 | sends 4 bytes: seconds since 1900 (UTC), then closes |
//!
//! echo, discard, daytime, qotd and time also run over UDP (`--listen
//! udp:7`), as their RFCs define them for datagrams ([`udp`]).
//!
//! Two more services are not RFC wire services: [`chat`], the Twisted
//! tutorial's line-based chat room, and [`portforward`], which relays every
//! connection to another endpoint.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use gyre::log::short_type_name;
use gyre::{Address, Factory, Protocol};

pub(crate) mod chargen;
pub(crate) mod chat;
pub(crate) mod daytime;
pub(crate) mod discard;
pub(crate) mod echo;
pub(crate) mod exec;
pub(crate) mod portforward;
pub(crate) mod qotd;
pub(crate) mod time;
pub(crate) mod udp;

/// Which service the command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    /// RFC 862.
    Echo,
    /// RFC 863.
    Discard,
    /// RFC 864.
    Chargen,
    /// RFC 867.
    Daytime,
    /// RFC 865.
    Qotd,
    /// RFC 868.
    Time,
    /// The chat room.
    Chat,
}

/// Builds a fresh `P` for every connection. Logs as `<Protocol>Factory`
/// (`EchoFactory starting on 8000`).
pub(crate) struct WireFactory<P> {
    _protocol: PhantomData<fn() -> P>,
}

impl<P> WireFactory<P> {
    /// A factory for `P`.
    pub(crate) fn new() -> WireFactory<P> {
        WireFactory {
            _protocol: PhantomData,
        }
    }
}

impl<P: Protocol + Default> Factory for WireFactory<P> {
    type Protocol = P;

    fn build_protocol(&self, _addr: &Address) -> Option<P> {
        Some(P::default())
    }

    fn log_prefix(&self) -> Cow<'static, str> {
        Cow::Owned(format!("{}Factory", short_type_name::<P>()))
    }

    fn qualified_name(&self) -> Cow<'static, str> {
        Cow::Owned(format!("gyre::services::{}", self.log_prefix()))
    }
}

impl<P: 'static> fmt::Debug for WireFactory<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WireFactory<{}>", short_type_name::<P>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The factory builds a protocol per connection and names itself after it.
    #[test]
    fn factory_names_and_builds() {
        let f = WireFactory::<echo::Echo>::new();
        assert_eq!(f.log_prefix(), "EchoFactory");
        assert_eq!(format!("{f:?}"), "WireFactory<Echo>");
        let addr = Address::tcp(([127, 0, 0, 1], 1).into());
        assert!(f.build_protocol(&addr).is_some());
        assert_eq!(WireFactory::<time::Time>::new().log_prefix(), "TimeFactory");
        assert_eq!(f.qualified_name(), "gyre::services::EchoFactory");
    }
}
