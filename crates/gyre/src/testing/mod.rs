//! Test doubles for protocols, factories and anything that schedules.
//!
//! These are public API, for your tests as much as ours (Twisted ships the
//! same in `twisted.internet.testing`):
//!
//! * [`StringTransport`]: a transport that records what is written, and
//!   whether the protocol closed or aborted;
//! * [`VirtualClock`]: virtual time (Twisted's `task.Clock`); `advance` runs
//!   what became due, nothing sleeps;
//! * [`MemoryReactor`]: records `listen_tcp` / `connect_tcp` calls instead of
//!   touching the network, so the test drives the recorded factories itself;
//! * [`Pump`]: a server and a client protocol connected in memory, bytes
//!   moved both ways on demand;
//! * [`success_result_of`], [`failure_result_of`],
//!   [`failure_result_of_type`] and [`assert_no_result`]: take a
//!   [`Deferred`](crate::deferred::Deferred)'s result out to assert on it,
//!   failing the test when it has none (Twisted's `successResultOf`,
//!   `failureResultOf`, `assertNoResult`). Assert after, never inside a
//!   callback: a callback that never runs asserts nothing.
//!
//! A protocol is best tested as the program builds it: through its
//! factory, wrappers included. `build_protocol` on the outermost factory
//! gives the protocol the reactor would run, wrapped in every policy; a
//! [`StringTransport`] and a [`VirtualClock`] then play the network and
//! time:
//!
//! ```
//! use std::time::Duration;
//!
//! use gyre::protocols::policies::{LimitConnections, TimeoutFactory};
//! use gyre::testing::{StringTransport, VirtualClock};
//! use gyre::{for_protocol, Address, Factory, Protocol, Transport};
//!
//! struct Echo;
//! impl Protocol for Echo {
//!     fn data_received(&mut self, transport: &Transport, data: &[u8]) {
//!         transport.write(data);
//!     }
//! }
//!
//! // The chain the program listens with: at most 2 clients, each closed
//! // after 30 s of silence.
//! let clock = VirtualClock::new();
//! let timed = TimeoutFactory::new(&clock, for_protocol(|| Echo), Duration::from_secs(30));
//! let factory = LimitConnections::new(timed).with_max_total(Some(2));
//!
//! let peer = Address::tcp(([192, 168, 1, 1], 54321).into());
//! let mut protocol = factory.build_protocol(&peer).expect("under the limit");
//! let transport = StringTransport::new();
//! transport.make_connection(&mut protocol);
//! protocol.data_received(&transport.transport(), b"ping");
//! assert_eq!(transport.value(), b"ping");
//!
//! clock.advance(Duration::from_secs(29));
//! assert!(!transport.is_disconnecting());
//! clock.advance(Duration::from_secs(1));
//! assert!(transport.is_disconnecting(), "the idle timeout closed it");
//! ```
//!
//! Tests of the doubles themselves live beside each of them.

mod memory_reactor;
mod pump;
mod results;
mod string_transport;
mod virtual_clock;

pub use memory_reactor::{MemoryReactor, RecordedClient, RecordedFactory, RecordedServer};
pub use pump::Pump;
pub use results::{assert_no_result, failure_result_of, failure_result_of_type, success_result_of};
pub use string_transport::{ProducerState, StringTransport};
pub use virtual_clock::VirtualClock;
