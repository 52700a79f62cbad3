//! Client-side helpers that sit on top of `connect_tcp` and its
//! [`ClientFactory`](crate::ClientFactory) callbacks.
//!
//! * [`Reconnecting`]: wraps your client factory and reconnects after each
//!   loss or failure with Twisted's back-off: the short way to a
//!   reconnecting client
//!   (`Reconnecting::new(&reactor, factory).with_reset_on_connect(true)`);
//! * [`ReconnectingClientFactory`]: the policy itself (Twisted's class of
//!   that name: exponential back-off with jitter, a retry limit, an
//!   explicit stop), which `Reconnecting` applies, or which your factory
//!   can embed and call from its own callbacks as a Twisted subclass does;
//! * [`ClientService`]: keeps one connection to an endpoint alive, with
//!   its own retry policy ([`RetryPolicy`]; by default
//!   [`default_backoff_policy`]);
//! * [`Backoff`]: the exponential back-off curve both follow;
//! * [`ClientCreator`]: Twisted's older one-shot API (connect a protocol
//!   built by a closure, get a Deferred).
//!
//! Every delay is a [`Duration`](std::time::Duration); the clock is lent by
//! reference (the reactor, or a
//! [`VirtualClock`](crate::testing::VirtualClock) in tests).
//!
//! Reconnection log lines use the target `gyre::client`.

mod backoff;
mod creator;
mod jitter;
mod reconnecting;
mod service;

pub use backoff::{Backoff, BackoffPolicy, RetryPolicy, backoff_policy, default_backoff_policy};
pub use creator::ClientCreator;
pub use reconnecting::{NoConnectorError, Reconnecting, ReconnectingClientFactory};
pub use service::ClientService;
