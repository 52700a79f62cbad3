//! [`Pump`]: two protocols connected in memory, with bytes moved on demand.
//!
//! Twisted's `iosim.connectedServerAndClient` / `IOPump` for gyre: a server
//! and a client protocol each get a [`StringTransport`]; [`Pump::flush`]
//! moves what each side wrote to the other's `data_received` until both are
//! quiet, then delivers any close a side asked for. No sockets, no reactor,
//! no clock: a test of a two-sided conversation is deterministic and runs in
//! microseconds. Pair it with [`Clock`](super::Clock) for anything timed.
//!
//! ```
//! use gyre::testing::Pump;
//! use gyre::{Protocol, Reason, Transport};
//!
//! struct Echo;
//! impl Protocol for Echo {
//!     fn data_received(&mut self, t: &Transport, data: &[u8]) { t.write(data) }
//! }
//!
//! #[derive(Default)]
//! struct Client { got: Vec<u8>, lost: Option<Reason> }
//! impl Protocol for Client {
//!     fn connection_made(&mut self, t: &Transport) { t.write(b"ping") }
//!     fn data_received(&mut self, t: &Transport, data: &[u8]) {
//!         self.got.extend_from_slice(data);
//!         t.lose_connection();
//!     }
//!     fn connection_lost(&mut self, reason: Reason) { self.lost = Some(reason) }
//! }
//!
//! let mut pump = Pump::connect(Echo, Client::default());
//! pump.flush();
//! assert_eq!(pump.client().got, b"ping");
//! assert!(pump.client().lost.as_ref().is_some_and(Reason::is_clean));
//! assert!(pump.is_closed());
//! ```
//!
//! Closing follows the TCP transport: after `lose_connection` the side's
//! written bytes are still delivered, then both sides get
//! `connection_lost(Done)`; after `abort_connection` nothing more is
//! delivered, the aborting side gets [`Reason::Aborted`] and the other
//! [`Reason::Lost`]. Tests: at the bottom of this file.

use std::fmt;

use super::StringTransport;
use crate::address::Address;
use crate::error::Reason;
use crate::protocol::Protocol;

/// Upper bound on exchanges in one [`Pump::flush`], to catch two protocols
/// that answer each other forever.
const MAX_ROUNDS: usize = 10_000;

/// A server and a client protocol connected through in-memory transports.
///
/// Nothing moves until [`flush`](Self::flush), so a test can look at each
/// side between steps, and act for either side in between:
///
/// ```
/// use gyre::testing::Pump;
/// use gyre::{Protocol, Reason, Transport};
///
/// /// Greets, then answers each message with its length.
/// #[derive(Default)]
/// struct Server {
///     lost: Option<Reason>,
/// }
/// impl Protocol for Server {
///     fn connection_made(&mut self, t: &Transport) {
///         t.write(b"hi");
///     }
///     fn data_received(&mut self, t: &Transport, data: &[u8]) {
///         t.write(data.len().to_string().as_bytes());
///     }
///     fn connection_lost(&mut self, reason: Reason) {
///         self.lost = Some(reason);
///     }
/// }
///
/// #[derive(Default)]
/// struct Client {
///     transport: Option<Transport>,
///     heard: Vec<String>,
/// }
/// impl Protocol for Client {
///     fn connection_made(&mut self, t: &Transport) {
///         self.transport = Some(t.clone());
///     }
///     fn data_received(&mut self, _: &Transport, data: &[u8]) {
///         self.heard.push(String::from_utf8_lossy(data).into_owned());
///     }
/// }
///
/// let mut pump = Pump::connect(Server::default(), Client::default());
/// assert_eq!(pump.server_transport().value(), b"hi", "written, not delivered yet");
/// assert!(pump.client().heard.is_empty());
/// assert!(pump.flush());
/// assert_eq!(pump.client().heard, ["hi"]);
///
/// // The test speaks for the client.
/// let client = pump.client().transport.clone().expect("connected");
/// client.write(b"hello");
/// pump.flush();
/// assert_eq!(pump.client().heard, ["hi", "5"]);
/// assert!(!pump.flush(), "nothing left to move");
///
/// client.abort_connection();
/// pump.flush();
/// assert!(pump.is_closed());
/// assert!(matches!(pump.server().lost, Some(Reason::Lost(_))), "the other side of a reset");
/// ```
pub struct Pump<S, C> {
    server: S,
    client: C,
    server_transport: StringTransport,
    client_transport: StringTransport,
    closed: bool,
}

impl<S: Protocol, C: Protocol> Pump<S, C> {
    /// Connects `server` and `client`: the server's `connection_made` runs
    /// first, then the client's. Nothing is delivered until [`flush`](Self::flush).
    pub fn connect(server: S, client: C) -> Pump<S, C> {
        let server_addr = Address::tcp("127.0.0.1:8000".parse().expect("literal address"));
        let client_addr = Address::tcp("127.0.0.1:54321".parse().expect("literal address"));
        let mut pump = Pump {
            server,
            client,
            server_transport: StringTransport::with_addresses(
                server_addr.clone(),
                client_addr.clone(),
            ),
            client_transport: StringTransport::with_addresses(client_addr, server_addr),
            closed: false,
        };
        pump.server_transport.make_connection(&mut pump.server);
        pump.client_transport.make_connection(&mut pump.client);
        pump
    }

    /// Moves bytes both ways until neither side has anything to send, then
    /// delivers a close that either side asked for. Returns whether
    /// anything happened.
    ///
    /// # Panics
    ///
    /// If the two sides are still talking after 10,000 exchanges.
    pub fn flush(&mut self) -> bool {
        let mut moved = false;
        for _ in 0..MAX_ROUNDS {
            if self.closed {
                return moved;
            }
            if self.server_transport.is_aborted() || self.client_transport.is_aborted() {
                self.close_aborted();
                return true;
            }
            let to_server = take(&self.client_transport);
            let to_client = take(&self.server_transport);
            if to_server.is_empty() && to_client.is_empty() {
                if self.server_transport.is_disconnecting()
                    || self.client_transport.is_disconnecting()
                {
                    self.close(Reason::Done, Reason::Done);
                    return true;
                }
                return moved;
            }
            moved = true;
            if !to_server.is_empty() {
                self.server
                    .data_received(&self.server_transport.transport(), &to_server);
            }
            if !to_client.is_empty() {
                self.client
                    .data_received(&self.client_transport.transport(), &to_client);
            }
        }
        panic!("Pump::flush: the protocols were still exchanging data after {MAX_ROUNDS} rounds");
    }

    /// The server protocol.
    pub fn server(&mut self) -> &mut S {
        &mut self.server
    }

    /// The client protocol.
    pub fn client(&mut self) -> &mut C {
        &mut self.client
    }

    /// The server's transport double (what it wrote and not yet delivered, its flags).
    pub fn server_transport(&self) -> &StringTransport {
        &self.server_transport
    }

    /// The client's transport double.
    pub fn client_transport(&self) -> &StringTransport {
        &self.client_transport
    }

    /// True once `connection_lost` was delivered to both sides.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    fn close_aborted(&mut self) {
        let server_aborted = self.server_transport.is_aborted();
        let (server_reason, client_reason) = if server_aborted {
            (Reason::Aborted, Reason::Lost(None))
        } else {
            (Reason::Lost(None), Reason::Aborted)
        };
        self.server_transport.clear();
        self.client_transport.clear();
        self.close(server_reason, client_reason);
    }

    fn close(&mut self, server_reason: Reason, client_reason: Reason) {
        self.closed = true;
        self.server.connection_lost(server_reason);
        self.client.connection_lost(client_reason);
    }
}

/// What `transport` wrote since the last take.
fn take(transport: &StringTransport) -> Vec<u8> {
    let bytes = transport.value();
    transport.clear();
    bytes
}

impl<S, C> fmt::Debug for Pump<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pump")
            .field("closed", &self.closed)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Transport;

    #[derive(Default)]
    struct Recorder {
        got: Vec<u8>,
        lost: Vec<String>,
        greet: &'static [u8],
        reply: Option<&'static [u8]>,
        close_after: Option<usize>,
        abort_on_data: bool,
    }

    impl Protocol for Recorder {
        fn connection_made(&mut self, t: &Transport) {
            t.write(self.greet);
        }
        fn data_received(&mut self, t: &Transport, data: &[u8]) {
            self.got.extend_from_slice(data);
            if let Some(r) = self.reply {
                t.write(r);
            }
            if self.abort_on_data {
                t.abort_connection();
            }
            if self.close_after.is_some_and(|n| self.got.len() >= n) {
                t.write(b"bye");
                t.lose_connection();
            }
        }
        fn connection_lost(&mut self, reason: Reason) {
            self.lost.push(reason.to_string());
        }
    }

    /// Both sides' greetings cross, and a reply to each arrives in the same flush.
    #[test]
    fn bytes_cross_both_ways_until_quiet() {
        let server = Recorder {
            greet: b"hello ",
            reply: Some(b"ok"),
            ..Default::default()
        };
        let client = Recorder {
            greet: b"hi",
            ..Default::default()
        };
        let mut pump = Pump::connect(server, client);
        assert!(pump.flush());
        assert_eq!(pump.server().got, b"hi");
        assert_eq!(pump.client().got, b"hello ok");
        assert!(!pump.flush(), "nothing left to move");
        assert!(!pump.is_closed());
    }

    /// A side that closes after writing still has its last bytes delivered,
    /// then both sides see a clean close.
    #[test]
    fn lose_connection_delivers_then_closes_both() {
        let server = Recorder {
            close_after: Some(4),
            ..Default::default()
        };
        let client = Recorder {
            greet: b"ping",
            ..Default::default()
        };
        let mut pump = Pump::connect(server, client);
        pump.flush();
        assert_eq!(pump.client().got, b"bye");
        assert_eq!(pump.server().lost, ["Connection was closed cleanly."]);
        assert_eq!(pump.client().lost, ["Connection was closed cleanly."]);
        assert!(pump.is_closed());
        assert!(!pump.flush());
    }

    /// An abort drops what is in flight: the aborting side gets Aborted, the other Lost.
    #[test]
    fn abort_drops_data_and_reports_both_reasons() {
        let server = Recorder {
            abort_on_data: true,
            reply: Some(b"never seen"),
            ..Default::default()
        };
        let client = Recorder {
            greet: b"x",
            ..Default::default()
        };
        let mut pump = Pump::connect(server, client);
        pump.flush();
        assert!(pump.client().got.is_empty());
        assert_eq!(pump.server().lost.len(), 1);
        assert!(pump.server().lost[0].contains("aborted locally"));
        assert!(pump.client().lost[0].contains("non-clean"));
    }

    /// Each side's transport reports the other's address as its peer.
    #[test]
    fn addresses_mirror() {
        let pump = Pump::connect(Recorder::default(), Recorder::default());
        let (s, c) = (
            pump.server_transport().transport(),
            pump.client_transport().transport(),
        );
        assert_eq!(s.peer(), c.host());
        assert_eq!(c.peer(), s.host());
    }

    /// Two protocols that answer each other forever are caught, not looped on.
    #[test]
    #[should_panic(expected = "still exchanging data")]
    fn endless_exchange_panics() {
        let a = Recorder {
            greet: b"a",
            reply: Some(b"a"),
            ..Default::default()
        };
        let b = Recorder {
            reply: Some(b"b"),
            ..Default::default()
        };
        Pump::connect(a, b).flush();
    }
}
