//! A tour of gyre, in the order Twisted's tutorials teach it.
//!
//! Each chapter is a page of prose and small programs. Every program on
//! these pages is compiled and run by `cargo test --doc`, on 127.0.0.1
//! with ports the system picks, so what you read here works as written.
//!
//! If you know Twisted, the names will be familiar: a
//! [`Reactor`](crate::Reactor) runs the loop, a [`Protocol`](crate::Protocol)
//! handles one connection, a [`Factory`](crate::Factory) makes protocols and
//! keeps what outlives a connection, a [`Deferred`](crate::Deferred) is a
//! result that has not arrived yet. The methods are spelled the Rust way
//! (`data_received` for `dataReceived`), and the few places where gyre
//! differs on purpose say so.
//!
//! 1. [`reactor`]: the loop, `call_later`, stopping, repeating with
//!    `LoopingCall`.
//! 2. [`echo_server`]: a protocol, a factory, `listen_tcp`; state shared by
//!    all connections.
//! 3. [`clients`]: connecting with a `ClientFactory`, then the shorter way
//!    with an endpoint and `connect_protocol`.
//! 4. [`reconnecting`]: a client that comes back after the server goes away.
//! 5. [`lines`]: a line-based protocol with `LineReceiver`.
//! 6. [`deferreds`]: results that arrive later, chains, errors, and the same
//!    thing with `async`/`.await` on the reactor's own thread.
//! 7. [`testing`]: testing a protocol with no network and no waiting:
//!    `StringTransport`, `VirtualClock` and the result helpers.
//!
//! The runnable counterparts of the tutorials live in the crate's
//! `examples/` directory (`cargo run --example echo_server`).

pub mod clients;
pub mod deferreds;
pub mod echo_server;
pub mod lines;
pub mod reactor;
pub mod reconnecting;
pub mod testing;
