//! The PROXY protocol: who the client is, behind a load balancer
//! (Twisted's `twisted.protocols.haproxy`).
//!
//! Behind a TCP load balancer (HAProxy, nginx `stream`, a cloud L4
//! balancer) every connection comes from the balancer, so a server sees
//! the balancer's address instead of its client's. A balancer set up to
//! speak the PROXY protocol (HAProxy's `send-proxy` and `send-proxy-v2`)
//! starts each connection with a header that names the client and the
//! address the client connected to: a text line in version 1
//! (`PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n`), a binary block
//! in version 2, which can also carry UNIX addresses and extra facts
//! (TLVs: TLS details, the name the client asked for, a connection ID).
//!
//! # Receiving
//!
//! [`AcceptProxy<P>`](AcceptProxy) wraps a protocol so that its connection
//! starts with a header; [`AcceptProxyFactory`] does it for every protocol
//! a factory builds, and the endpoint description `haproxy:` for every
//! connection of any server endpoint (`haproxy:tcp:8000:interface=127.0.0.1`,
//! see [`HaproxyServerEndpoint`](crate::endpoint::HaproxyServerEndpoint)).
//! The wrapped protocol:
//!
//! * is told of the connection (`connection_made`) only once a whole, valid
//!   header has arrived, in however many reads it came, and receives only
//!   the bytes after it;
//! * sees a transport whose [`peer()`](crate::Transport::peer) and
//!   [`host()`](crate::Transport::host) are the header's client and server
//!   (TCP over IPv4 or IPv6, UDP, UNIX paths, as the header says), and whose
//!   log lines name the client (`Echo,0,<client IP>`), not the balancer;
//! * gets the connection's own addresses when the header has none: a v2
//!   `LOCAL` header (the balancer's health checks), v1 `UNKNOWN` and v2
//!   `UNSPEC`, which the spec says to accept and treat so;
//! * can read the header itself, TLVs included, from a hook that runs just
//!   before its `connection_made` ([`AcceptSettings::with_on_header`]), and
//!   whoever holds the wrapper from [`AcceptProxy::header`].
//!
//! A connection whose first bytes cannot begin a header, whose header is
//! malformed in any way the spec forbids (see [`parse`] for the exact
//! rules), is longer than its bound ([`DEFAULT_MAX_HEADER_LEN`]; a v1 line
//! is at most 107 bytes), or is not complete within its time bound
//! ([`DEFAULT_TIMEOUT`], on the reactor's clock) is aborted, and one line
//! says why (`Dropping connection from …: invalid PROXY header: …`, info,
//! target `gyre::haproxy`). Its protocol never hears of it: no
//! `connection_made`, no `connection_lost`. A header read is logged at
//! debug level, in the connection's log context, so with the client's
//! address.
//!
//! Only put `haproxy:` on a port that only the balancer can reach: the
//! header is believed, and a client that could reach the port directly
//! could claim to be anyone. A port expects the header on every connection;
//! it never guesses.
//!
//! # Sending
//!
//! [`SendProxy<P>`](SendProxy) writes a header as the first bytes of its
//! connection, then runs `P`; [`SendProxyFactory`] does it for every
//! connection of a factory. [`ProxyHeader`] builds the header and encodes
//! it in either version. `gyre portforward --send-proxy v1|v2` uses it to
//! pass the client it was told of (by its own `haproxy:` listener, or the
//! socket's peer) on to its upstream, as HAProxy's `send-proxy` does, so
//! gyre can sit anywhere in a chain of proxies.
//!
//! # A server behind a balancer, and a client speaking for one
//!
//! On loopback: the server answers each connection with its client's
//! address; the client sends a v2 header for `203.0.113.7:4000`.
//!
//! ```
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use gyre::endpoint::{connect_protocol, TcpClientEndpoint};
//! use gyre::haproxy::{AcceptProxyFactory, AcceptSettings, ProxyHeader, SendProxy, Version};
//! use gyre::{for_protocol, Address, Protocol, Reactor, TcpListenOptions, Transport};
//! # use std::time::Duration;
//!
//! /// Tells each client who it is, as far as the server knows.
//! struct WhoAmI;
//! impl Protocol for WhoAmI {
//!     fn connection_made(&mut self, transport: &Transport) {
//!         transport.write(transport.peer().to_string().as_bytes());
//!         transport.lose_connection();
//!     }
//! }
//!
//! /// Keeps the answer; stops the reactor when the server hangs up.
//! struct Ask {
//!     answer: Rc<RefCell<Vec<u8>>>,
//!     reactor: Reactor,
//! }
//! impl Protocol for Ask {
//!     fn data_received(&mut self, _: &Transport, data: &[u8]) {
//!         self.answer.borrow_mut().extend_from_slice(data);
//!     }
//!     fn connection_lost(&mut self, _: gyre::Reason) {
//!         self.reactor.stop().unwrap();
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let reactor = Reactor::new()?;
//! let server = AcceptProxyFactory::wrap(
//!     for_protocol(|| WhoAmI),
//!     AcceptSettings::new(&reactor),
//! );
//! let options = TcpListenOptions { interface: "127.0.0.1".into(), ..Default::default() };
//! let port = reactor.listen_tcp_with(0, server, options)?;
//!
//! let client = Address::tcp("203.0.113.7:4000".parse()?);
//! let header = ProxyHeader::new(Version::V2, client, port.address().into());
//! let answer = Rc::new(RefCell::new(Vec::new()));
//! let ask = Ask { answer: answer.clone(), reactor: reactor.clone() };
//! let endpoint = TcpClientEndpoint::new(&reactor, "127.0.0.1", port.address().port());
//! connect_protocol(&endpoint, SendProxy::new(ask, &header)?);
//! # let r = reactor.clone();
//! # let guard = reactor.call_later(Duration::from_secs(10), move || r.stop().unwrap());
//! reactor.run_without_signals()?;
//! # let _ = guard.cancel();
//! assert_eq!(*answer.borrow(), b"IPv4Address(type='TCP', host='203.0.113.7', port=4000)");
//! # Ok(())
//! # }
//! ```
//!
//! # Differences from Twisted
//!
//! * Twisted's wrapper calls the wrapped protocol's `connectionMade` at
//!   once and its `getPeer()` changes when the header arrives; here the
//!   protocol is told of the connection only with the header, as the spec
//!   asks ("the receiver MUST NOT start processing the connection before it
//!   receives a complete and valid PROXY protocol header").
//! * Twisted waits for a header without a time bound; here it must come
//!   within [`DEFAULT_TIMEOUT`] and [`DEFAULT_MAX_HEADER_LEN`] bytes.
//! * v2 TLVs are parsed (and a `CRC32C` one checked) and handed to the
//!   protocol; UNIX and UDP addresses are kept; Twisted skips TLVs and
//!   reports only TCP addresses.
//! * The log prefix names the client, not the balancer.
//! * The sending side ([`SendProxy`]) has no Twisted counterpart.
//!
//! Where things are: `header.rs` ([`ProxyHeader`], [`Tlv`], the
//! encoders), `parse.rs` ([`parse`], the sans-I/O reader), `accept.rs`
//! (the receiving wrappers), `send.rs` (the sending ones). Tests: `tests/`
//! in this directory (every example header of the spec split at every
//! byte, each malformed form, the wrappers on test doubles and the test
//! clock), `tests/haproxy.rs` (real sockets), the `haproxy` fuzz target,
//! and `crates/gyre-cli/tests/haproxy.rs` (behind a real HAProxy).

mod accept;
mod header;
mod parse;
mod send;

pub use accept::{
    AcceptProxy, AcceptProxyFactory, AcceptSettings, DEFAULT_MAX_HEADER_LEN, DEFAULT_TIMEOUT,
    HeaderReader,
};
pub use header::{
    Command, EncodeError, ProxyHeader, Tlv, V1_MAX_LEN, V2_MAX_LEN, V2_SIGNATURE, Version,
};
pub use parse::{InvalidHeader, Parsed, parse};
pub use send::{SendHeader, SendProxy, SendProxyFactory};

#[cfg(test)]
mod tests;
