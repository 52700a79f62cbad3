//! Chapter 7: testing a protocol.
//!
//! A protocol is an object that reacts to calls. To test one, make those
//! calls yourself: no sockets, no threads, no waiting. Twisted's test
//! doubles are all here, in [`gyre::testing`](crate::testing):
//!
//! * [`StringTransport`](crate::testing::StringTransport) records what the
//!   protocol writes and whether it closed the connection;
//! * [`VirtualClock`](crate::testing::VirtualClock) is time that moves only
//!   when the test calls `advance`;
//! * [`Pump`](crate::testing::Pump) joins a server and a client protocol in
//!   memory; [`MemoryReactor`](crate::testing::MemoryReactor) records
//!   `listen_tcp` and `connect_tcp` so a factory can be driven by hand;
//! * [`success_result_of`](crate::testing::success_result_of) and its
//!   siblings take a Deferred's result out, and fail the test when there is
//!   none.
//!
//! The protocol under test: the capitals server of [chapter 5](super::lines),
//! now closing a connection that says nothing for a minute. It takes its
//! clock as a value, so the program passes the reactor and the test passes
//! a `VirtualClock` (both implement [`Clock`](crate::Clock)):
//!
//! ```
//! use std::time::Duration;
//!
//! use gyre::protocols::{LineConnection, LineProtocol, LineReceiver};
//! use gyre::testing::{StringTransport, VirtualClock};
//! use gyre::{Clock, DelayedCall, Protocol, Transport};
//!
//! const IDLE: Duration = Duration::from_secs(60);
//!
//! struct Shout<C> {
//!     clock: C,
//!     idle: Option<DelayedCall>,
//! }
//!
//! impl<C: Clock + 'static> Shout<C> {
//!     fn new(clock: C) -> Self {
//!         Shout { clock, idle: None }
//!     }
//!
//!     /// (Re)starts the minute of silence after which the connection closes.
//!     fn arm(&mut self, transport: &Transport) {
//!         if let Some(call) = self.idle.take() {
//!             let _ = call.cancel(); // an error only if it already ran
//!         }
//!         let t = transport.clone();
//!         self.idle = Some(self.clock.call_later(IDLE, move || {
//!             t.write(b"idle, bye\r\n");
//!             t.lose_connection();
//!         }));
//!     }
//! }
//!
//! impl<C: Clock + 'static> LineReceiver for Shout<C> {
//!     fn connection_made(&mut self, conn: &LineConnection<'_>) {
//!         conn.send_line(b"ready");
//!         self.arm(conn.transport());
//!     }
//!
//!     fn line_received(&mut self, conn: &LineConnection<'_>, line: &[u8]) {
//!         conn.send_line(&line.to_ascii_uppercase());
//!         self.arm(conn.transport());
//!     }
//!
//!     fn connection_lost(&mut self, _reason: gyre::Reason) {
//!         if let Some(call) = self.idle.take() {
//!             let _ = call.cancel();
//!         }
//!     }
//! }
//!
//! // In the program: `for_protocol(move || LineProtocol::new(Shout::new(reactor.clone())))`.
//! // In the test:
//! let clock = VirtualClock::new();
//! let mut protocol = LineProtocol::new(Shout::new(clock.clone()));
//! let transport = StringTransport::new();
//! transport.make_connection(&mut protocol);
//! assert_eq!(transport.value(), b"ready\r\n");
//! transport.clear();
//!
//! // Bytes arrive in whatever pieces the test likes.
//! protocol.data_received(&transport.transport(), b"hel");
//! assert_eq!(transport.value(), b"", "half a line gets no answer");
//! protocol.data_received(&transport.transport(), b"lo\r\nworld\r\n");
//! assert_eq!(transport.value(), b"HELLO\r\nWORLD\r\n");
//! transport.clear();
//!
//! // A minute of virtual time, in an instant.
//! clock.advance(IDLE - Duration::from_secs(1));
//! assert!(!transport.is_disconnecting(), "59 s of silence is allowed");
//! protocol.data_received(&transport.transport(), b"still here\r\n");
//! clock.advance(IDLE - Duration::from_secs(1));
//! assert!(!transport.is_disconnecting(), "a line restarts the minute");
//! clock.advance(Duration::from_secs(1));
//! assert!(transport.is_disconnecting());
//! assert_eq!(transport.value(), b"STILL HERE\r\nidle, bye\r\n");
//! ```
//!
//! Two habits make such tests trustworthy:
//!
//! * **Assert after, not inside.** An `assert!` inside a callback (a
//!   Deferred's, a timer's, a protocol's) checks nothing if the callback
//!   never runs, and a panic inside a reactor callback is caught and
//!   logged, as it must be in a server. Take the value out and assert
//!   afterwards, as above, or with `success_result_of`, which fails when
//!   the Deferred has not fired:
//!
//! ```
//! use std::time::Duration;
//!
//! use gyre::deferred::{sleep, TimeoutError};
//! use gyre::testing::{assert_no_result, failure_result_of_type, success_result_of, VirtualClock};
//! use gyre::Deferred;
//!
//! let clock = VirtualClock::new();
//! let nap = sleep(&clock, Duration::from_secs(5)).add_callback(|()| "rested");
//! assert_no_result(&nap);
//! clock.advance(Duration::from_secs(5));
//! assert_eq!(success_result_of(&nap), "rested");
//!
//! let never: Deferred<u8> = Deferred::new();
//! let bounded = never.add_timeout(Duration::from_secs(30), &clock);
//! clock.advance(Duration::from_secs(30));
//! failure_result_of_type::<TimeoutError>(&bounded);
//! ```
//!
//! * **Wait for the event, never for a while.** A test that sleeps and
//!   hopes is slow when it passes and flaky when the machine is busy. With a
//!   `VirtualClock`, time is exact; over real sockets, stop the reactor from
//!   the callback that marks the end (a `connection_lost`, a Deferred's
//!   `consume`), as every program in this guide does.
//!
//! A client and a server can also be tested together without a network:
//!
//! ```
//! use gyre::testing::Pump;
//! use gyre::{Protocol, Transport};
//!
//! struct Echo;
//! impl Protocol for Echo {
//!     fn data_received(&mut self, transport: &Transport, data: &[u8]) {
//!         transport.write(data);
//!     }
//! }
//!
//! #[derive(Default)]
//! struct Asker {
//!     heard: Vec<u8>,
//! }
//! impl Protocol for Asker {
//!     fn connection_made(&mut self, transport: &Transport) {
//!         transport.write(b"ping");
//!     }
//!     fn data_received(&mut self, transport: &Transport, data: &[u8]) {
//!         self.heard.extend_from_slice(data);
//!         transport.lose_connection();
//!     }
//! }
//!
//! let mut pump = Pump::connect(Echo, Asker::default());
//! pump.flush(); // moves bytes both ways until neither side has more to say
//! assert_eq!(pump.client().heard, b"ping");
//! assert!(pump.is_closed());
//! ```
//!
//! That is the tour. The [crate root](crate) lists where everything else
//! is: endpoints and their strings, producers and flow control, policies
//! (idle timeouts, connection limits), the PROXY protocol, reactor pools
//! and signals.
