//! Client-side helpers that sit on top of `connect_tcp` and its
//! [`ClientFactory`](crate::ClientFactory) callbacks.
//!
//! * [`ReconnectingClientFactory`]: Twisted's reconnection policy with
//!   exponential back-off and jitter, as a value your factory embeds and
//!   calls from its own callbacks;
//! * [`ClientCreator`]: Twisted's older one-shot API (connect a protocol
//!   built by a closure, get a Deferred);
//! * [`ClientService`]: keeps one connection to an endpoint alive, with
//!   its own retry policy ([`backoff_policy`]);
//! * [`Backoff`]: the exponential back-off curve both of them follow.
//! * [`Reconnecting`]: a ready-made factory that wraps yours and applies the
//!   policy after each of your callbacks, for factories with no reconnection
//!   logic of their own.
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
