//! Policies that wrap any protocol or factory: idle timeouts and connection
//! limits (Twisted's `twisted.protocols.policies`).
//!
//! * [`IdleTimeout`] wraps one protocol and closes its connection once
//!   nothing was received or written for a while. [`TimeoutFactory`] wraps a
//!   factory so that every protocol it builds gets one.
//! * [`IdleTimer`] is the handle that changes, re-arms or disables a
//!   connection's timeout, from inside the wrapped protocol or anywhere else.
//! * [`LimitConnections`] wraps a server factory and refuses connections past
//!   a total limit, a per-peer-address limit, or both.
//!
//! All of them are built on [`ProtocolWrapper`] and [`WrappingFactory`]
//! (from [`crate::wrap`], re-exported here, where Twisted keeps them):
//! `IdleTimeout<P>` is `ProtocolWrapper<P, IdleWatch>`, `TimeoutFactory<F>`
//! is `WrappingFactory<F, IdleSettings>`, `LimitConnections<F>` is
//! `WrappingFactory<F, ConnectionLimits>` and builds `Limited<P>`, which is
//! `ProtocolWrapper<P, ConnectionSlot>`. Each wrapper value overrides only
//! what its policy changes; everything else is forwarded. A new policy is
//! written the same way: see [`crate::wrap`].
//!
//! An echo server that drops clients silent for five minutes and serves at
//! most 100 connections, 5 from any one address:
//!
//! ```no_run
//! use std::rc::Rc;
//! use std::time::Duration;
//! use gyre::protocols::policies::{LimitConnections, TimeoutFactory};
//! use gyre::{for_protocol, Protocol, Reactor, Transport};
//!
//! struct Echo;
//! impl Protocol for Echo {
//!     fn data_received(&mut self, transport: &Transport, data: &[u8]) {
//!         transport.write(data);
//!     }
//! }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let reactor = Reactor::new()?;
//!     let idle = Duration::from_secs(300);
//!     let timed = TimeoutFactory::new(&reactor, for_protocol(|| Echo), idle);
//!     let limited = LimitConnections::new(timed)
//!         .with_max_total(Some(100))
//!         .with_max_per_peer(Some(5));
//!     reactor.listen_tcp(8000, limited)?;
//!     reactor.run()?;
//!     Ok(())
//! }
//! ```
//!
//! # Idle timeouts
//!
//! The timer starts when the connection is made, and every chunk received and
//! every `write`/`write_sequence` the wrapped protocol makes moves it back to
//! a full `timeout` from now. The wrapped protocol sees a
//! [`Transport`](crate::Transport) that forwards to the real one and notes
//! its writes; anything holding that handle (another connection's protocol,
//! a timer) resets the timer when it writes. When the timer fires it logs
//! `Timing out client: <peer address>` (info, target `gyre::protocols`, in
//! the connection's log system) and runs the timeout hook: by default a
//! close that flushes first and aborts after a grace period
//! ([`Transport::lose_connection_within`](crate::Transport::lose_connection_within),
//! 5 s by default, [`IdleTimer::set_close_grace`],
//! [`TimeoutFactory::with_close_grace`]), so a peer that stopped reading is
//! freed too; or the closure given to
//! [`IdleTimeout::with_on_timeout`]. The timer is cancelled when the
//! connection is lost; none is left on the clock.
//!
//! Where this differs from Twisted, on purpose:
//! * Twisted's `TimeoutProtocol` starts its timer when it is built, before
//!   the connection exists; here it starts at `connection_made`.
//! * After the timer fired and a hook kept the connection open, the next
//!   traffic (or [`IdleTimer::reset_timeout`]) arms it again; Twisted's
//!   `TimeoutMixin` stays disarmed until `setTimeout` is called.
//! * A panicking hook is logged as `Unhandled Error` and the connection is
//!   closed as the default hook would; nothing else is affected.
//! * The wrappers do not show in the logs: a wrapped connection's log prefix
//!   is the wrapped protocol's (`Echo,0,127.0.0.1`, where Twisted prints
//!   `Echo (TimeoutProtocol),0,127.0.0.1`), and `Starting factory` names the
//!   wrapped factory, once.
//!
//! # Connection limits
//!
//! [`LimitConnections`] is Twisted's `LimitTotalConnectionsFactory` and
//! `LimitConnectionsByPeer` in one wrapper. A connection that would exceed a
//! limit is refused (its `build_protocol` returns `None`, so the socket is
//! closed at once) and one line is logged at info level:
//! `Refusing connection from <peer>: <n> connections already open …`. The
//! counts are exact: a connection is counted from the moment its protocol is
//! built until its `connection_lost`, or until the protocol is dropped if the
//! connection never started. Unlike Twisted:
//! * no limit is set until you set one (Twisted's per-peer factory defaults
//!   to 5);
//! * peers are counted by IP address, with an IPv4-mapped IPv6 address
//!   (`::ffff:1.2.3.4`, seen on dual-stack ports) counted as the IPv4
//!   address;
//! * there is no overflow protocol; an over-limit connection is just closed.
//!
//! Where things are: this file (the shared log target and the re-exports);
//! `policies/idle.rs` (the idle timeout: [`IdleTimer`], [`IdleTimeout`] and
//! its [`IdleWatch`], [`TimeoutFactory`] and its [`IdleSettings`]);
//! `policies/limits.rs` (the connection limits: [`LimitConnections`] and its
//! [`ConnectionLimits`], [`Limited`] and its [`ConnectionSlot`]).
//!
//! Tests: `policies/tests/` (virtual time, `StringTransport`: `idle.rs`,
//! `limits.rs`, the shared recording protocol and factory in `mod.rs`), and
//! on real sockets in `tests/policies.rs` at the crate root.
pub use crate::wrap::{ProtocolWrapper, WrapFactory, WrapProtocol, WrappingFactory};

mod idle;
mod limits;
#[cfg(test)]
mod tests;

pub use idle::{
    DEFAULT_CLOSE_GRACE, IdleSettings, IdleTimeout, IdleTimer, IdleWatch, TimeoutFactory,
};
pub use limits::{ConnectionLimits, ConnectionSlot, LimitConnections, Limited};

/// The log target of the lines written here.
const TARGET: &str = "gyre::protocols";
