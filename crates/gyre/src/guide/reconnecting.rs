//! Chapter 4: a client that comes back.
//!
//! Servers restart, networks drop, a client may start before its server.
//! [`Reconnecting`](crate::Reconnecting) wraps any client factory and, after
//! each failed attempt or lost connection (once your factory's own callback
//! has run), connects again after a delay that grows: about 1 s, then ×e
//! each time (2.7 s, 7.4 s, …) up to an hour, each with a little random
//! jitter so that a thousand clients do not come back in step. It is
//! Twisted's `ReconnectingClientFactory`, with its defaults, order and log
//! lines (`<…> will retry in 2 seconds`).
//!
//! Here the client starts before the server exists. Its first attempts are
//! refused; the server appears 100 ms later; the next attempt connects,
//! hears the greeting, and the connection ends. The delays are shortened
//! for the example:
//!
//! ```
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use std::time::Duration;
//!
//! use gyre::{
//!     for_protocol, Address, ClientFactory, ConnectError, Connector, Factory, Protocol, Reactor,
//!     Reason, Reconnecting, ReconnectingClientFactory, TcpListenOptions, Transport,
//! };
//!
//! /// The server: greets, hangs up.
//! struct Greet;
//! impl Protocol for Greet {
//!     fn connection_made(&mut self, transport: &Transport) {
//!         transport.write(b"hello\r\n");
//!         transport.lose_connection();
//!     }
//! }
//!
//! type Events = Rc<RefCell<Vec<String>>>;
//!
//! /// The client's protocol: notes what it hears.
//! struct Listen(Events);
//! impl Protocol for Listen {
//!     fn data_received(&mut self, _: &Transport, data: &[u8]) {
//!         let text = String::from_utf8_lossy(data);
//!         self.0.borrow_mut().push(format!("heard {}", text.trim_end()));
//!     }
//! }
//!
//! /// A plain client factory: it knows nothing about reconnecting.
//! struct Client {
//!     events: Events,
//!     reactor: Reactor,
//! }
//!
//! impl Factory for Client {
//!     type Protocol = Listen;
//!     fn build_protocol(&self, _: &Address) -> Option<Listen> {
//!         Some(Listen(self.events.clone()))
//!     }
//! }
//!
//! impl ClientFactory for Client {
//!     fn client_connection_failed(&self, _: &Connector, _: &ConnectError) {
//!         self.events.borrow_mut().push("refused".into());
//!     }
//!     fn client_connection_lost(&self, _: &Connector, _: &Reason) {
//!         self.events.borrow_mut().push("lost".into());
//!         self.reactor.stop().unwrap(); // one greeting is enough here
//!     }
//! }
//!
//! let reactor = Reactor::new()?;
//! # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
//! # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
//! // A free port for the server-to-be: listen, note the number, stop.
//! let loopback = TcpListenOptions::interface("127.0.0.1");
//! let probe = reactor.listen_tcp_with(0, for_protocol(|| Greet), loopback.clone())?;
//! let port = probe.address().port();
//! probe.stop_listening();
//!
//! let events = Events::default();
//! let policy = ReconnectingClientFactory::new(&reactor)
//!     .with_initial_delay(Duration::from_millis(10))
//!     .with_reset_on_connect(true);
//! let client = Client { events: events.clone(), reactor: reactor.clone() };
//! reactor.connect_tcp("127.0.0.1", port, Reconnecting::with_policy(client, policy));
//!
//! let r = reactor.clone();
//! reactor.call_later(Duration::from_millis(100), move || {
//!     r.listen_tcp_with(port, for_protocol(|| Greet), loopback).expect("the port is free");
//! });
//! reactor.run()?;
//!
//! // Refused at least once (how often depends on timing), then connected.
//! let events = events.borrow();
//! let (refusals, end) = events.split_at(events.len().saturating_sub(2));
//! assert_eq!(end, ["heard hello", "lost"], "{events:?}");
//! assert!(!refusals.is_empty() && refusals.iter().all(|e| e == "refused"), "{events:?}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What to know:
//!
//! * `with_reset_on_connect(true)` starts the back-off over once a
//!   connection is made, as the seeds' `resetDelay()` in `buildProtocol`
//!   does; Twisted's class never resets by itself, and neither does
//!   gyre's by default.
//! * [`policy().stop_trying()`](crate::ReconnectingClientFactory::stop_trying)
//!   (keep a [`Shared`](crate::Shared) handle on the wrapper to reach it)
//!   cancels a pending attempt and ends the retrying, for a client that is
//!   shutting down; `with_max_retries` gives up on its own.
//! * A program written like a Twisted subclass, the policy embedded in the
//!   factory and the two client callbacks forwarded to it, works too: see
//!   [`ReconnectingClientFactory`](crate::ReconnectingClientFactory).
//! * For a client that should hold one connection open as a service (and
//!   hand it to whoever asks), [`ClientService`](crate::client::ClientService)
//!   is Twisted's newer answer: `when_connected` gives the current
//!   connection, or waits for the next.
//!
//! Next: [chapter 5, a line protocol](super::lines).
