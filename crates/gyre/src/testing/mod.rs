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
