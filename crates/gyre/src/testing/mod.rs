//! Test doubles for protocols, factories and anything that schedules.
//!
//! These are public API, for your tests as much as ours (Twisted ships the
//! same in `twisted.internet.testing`):
//!
//! * [`StringTransport`]: a transport that records what is written, and
//!   whether the protocol closed or aborted;
//! * [`Clock`]: virtual time; `advance` runs what became due, nothing sleeps;
//! * [`MemoryReactor`]: records `listen_tcp` / `connect_tcp` calls instead of
//!   touching the network, so the test drives the recorded factories itself;
//! * [`Pump`]: a server and a client protocol connected in memory, bytes
//!   moved both ways on demand.
//!
//! Tests of the doubles themselves live beside each of them.

mod clock;
mod memory_reactor;
mod pump;
mod string_transport;

pub use clock::Clock;
pub use memory_reactor::{MemoryReactor, RecordedClient, RecordedFactory, RecordedServer};
pub use pump::Pump;
pub use string_transport::{ProducerState, StringTransport};
