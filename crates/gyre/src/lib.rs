//! gyre: an event-driven networking engine in the model of Twisted.
//!
//! A [`Reactor`] owns the event loop and the clock. A [`Protocol`] reacts to
//! the events of one connection (`connection_made`, `data_received`,
//! `connection_lost`); a [`Factory`] builds a protocol per connection and
//! keeps the state that outlives it; a [`Transport`] buffers and writes.
//!
//! An echo server:
//!
//! ```no_run
//! use gyre::{for_protocol, Protocol, Reactor, Transport};
//!
//! struct Echo;
//!
//! impl Protocol for Echo {
//!     fn data_received(&mut self, transport: &Transport, data: &[u8]) {
//!         transport.write(data);
//!     }
//! }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let reactor = Reactor::new()?;
//!     reactor.listen_tcp(8000, for_protocol(|| Echo))?;
//!     reactor.run()?;
//!     Ok(())
//! }
//! ```
//!
//! New to gyre? The [`guide`] is a tour in the order Twisted's tutorials
//! take: the reactor and time, an echo server, clients, reconnecting, a
//! line protocol, Deferreds and `async`, testing. Every program in it runs
//! as a test.
//!
//! Where things are:
//! * [`reactor`]: the loop, system event triggers, signals, `call_from_thread`,
//!   the thread pool (`defer_to_thread`, [`reactor::ThreadPool`]),
//!   and [`ReactorPool`] (one reactor per core over the same ports);
//! * [`resolve`]: host names to addresses on a bounded, cancellable pool of
//!   resolver threads per reactor;
//! * [`time`]: [`Clock`], [`DelayedCall`], [`LoopingCall`];
//! * [`tcp`]: listening ports, outgoing connections and adopted sockets
//!   ([`Reactor::adopt_tcp`]);
//! * [`unix`]: UNIX stream sockets ([`Reactor::listen_unix`],
//!   [`Reactor::connect_unix`], [`Reactor::adopt_unix`]) and datagram
//!   sockets ([`Reactor::listen_unix_datagram`]), the stream ones on the same
//!   stream connection, port and connector, which every stream transport
//!   shares (the reactor itself knows no transport);
//! * [`process`]: child processes driven by the reactor
//!   ([`Reactor::spawn_process`], a [`process::ProcessProtocol`]), their pipes
//!   on the same stream connection;
//! * [`udp`]: datagram ports ([`Reactor::listen_udp`],
//!   [`Reactor::listen_multicast`]), delivering to the
//!   [`DatagramProtocol`](datagram::DatagramProtocol) of [`datagram`], which
//!   UNIX datagram sockets share;
//! * [`port`]: the [`ListeningPort`] handle of any transport;
//! * [`client`]: reconnecting clients ([`ReconnectingClientFactory`], [`Reconnecting`]);
//! * [`protocol`], [`factory`], [`transport`], [`connector`]: the user-facing model;
//! * [`protocols`]: framing (lines, length-prefixed strings, netstrings) and policies;
//! * [`wrap`]: [`ProtocolWrapper`] and [`WrappingFactory`], behaviour added around a
//!   protocol or factory that forwards every callback it does not change;
//! * [`haproxy`]: the PROXY protocol, read (`haproxy:` endpoints) and sent,
//!   for servers behind a load balancer;
//! * `tls` (feature `tls`): TLS over any stream transport with rustls, as a
//!   wrapper, and the `ssl:` / `tls:` endpoint types;
//! * [`testing`]: test doubles (`StringTransport`, `MemoryReactor`, `Clock`, `Pump`)
//!   for testing your protocols without sockets or sleeping, and
//!   `success_result_of` / `failure_result_of` / `assert_no_result` to take
//!   a Deferred's result out and assert on it (failing when it has none);
//! * [`log`]: the log context (which connection a line is about).
//!
//! Logging goes through the [`log`](::log) facade; gyre installs no logger.

pub mod address;
pub mod application;
mod blocked;
pub mod client;
pub mod completion;
pub mod connector;
pub mod datagram;
pub mod deferred;
pub mod endpoint;
pub mod error;
pub mod factory;
pub mod guide;
pub mod haproxy;
pub mod log;
pub mod port;
pub mod process;
pub mod protocol;
pub mod protocols;
pub mod reactor;
pub mod resolve;
mod stream;
pub mod tcp;
pub mod testing;
pub mod time;
#[cfg(feature = "tls")]
pub mod tls;
pub mod transport;
pub mod udp;
pub mod unix;
pub mod wrap;

pub use address::Address;
pub use client::{Reconnecting, ReconnectingClientFactory};
pub use completion::Completion;
pub use connector::{Connector, ConnectorState, Destination};
pub use deferred::{Deferred, Failure};
pub use error::{
    ConnectError, ConnectorError, DelayedCallError, ListenError, ProducerError, ReactorError,
    Reason,
};
pub use factory::{AnyFactory, ClientFactory, Factory, ProtocolFactory, Shared, for_protocol};
pub use protocol::Protocol;
pub use reactor::{
    Phase, PoolError, PoolStopper, Reactor, ReactorPool, RunningPool, SystemEvent, ThreadHandle,
    TriggerId, Worker,
};
pub use tcp::{ListeningPort, TcpConnectOptions, TcpListenOptions, TcpReactor};
pub use time::{Clock, DelayedCall, LoopingCall, LoopingCallError};
pub use transport::{Producer, PullProducer, PushProducer, Transport, Write, WriteLimit};
pub use wrap::{ProtocolWrapper, WrapFactory, WrapProtocol, WrappingFactory};
