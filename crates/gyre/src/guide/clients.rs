//! Chapter 3: clients.
//!
//! A client is a protocol too: the same `connection_made`,
//! `data_received` and `connection_lost`. Only the way the connection
//! starts differs.
//!
//! ## With a `ClientFactory`
//!
//! [`Reactor::connect_tcp`](crate::Reactor::connect_tcp) takes a
//! [`ClientFactory`](crate::ClientFactory): a factory that also hears how
//! the connection attempt went. `started_connecting` runs first;
//! then either `build_protocol` (connected) or `client_connection_failed`
//! (refused, timed out, no such host); after a connection,
//! `client_connection_lost` when it ends. Each receives the
//! [`Connector`](crate::Connector), which can `connect()` again.
//!
//! Seed 002's echo client, against an echo server in the same program. The
//! client's factory stops the reactor when the connection is over, whichever
//! way it ended:
//!
//! ```
//! use std::cell::RefCell;
//! use std::rc::Rc;
//!
//! use gyre::{
//!     for_protocol, Address, ClientFactory, ConnectError, Connector, Factory, Protocol, Reactor,
//!     Reason, TcpListenOptions, Transport,
//! };
//!
//! struct Echo;
//! impl Protocol for Echo {
//!     fn data_received(&mut self, transport: &Transport, data: &[u8]) {
//!         transport.write(data);
//!     }
//! }
//!
//! /// What the client saw, in order.
//! type Events = Rc<RefCell<Vec<String>>>;
//!
//! struct EchoClient {
//!     events: Events,
//! }
//!
//! impl Protocol for EchoClient {
//!     fn connection_made(&mut self, transport: &Transport) {
//!         transport.write(b"hello world");
//!     }
//!
//!     fn data_received(&mut self, transport: &Transport, data: &[u8]) {
//!         self.events.borrow_mut().push(format!("Server said {}", String::from_utf8_lossy(data)));
//!         transport.lose_connection();
//!     }
//! }
//!
//! struct EchoFactory {
//!     reactor: Reactor,
//!     events: Events,
//! }
//!
//! impl Factory for EchoFactory {
//!     type Protocol = EchoClient;
//!     fn build_protocol(&self, _server: &Address) -> Option<EchoClient> {
//!         Some(EchoClient { events: self.events.clone() })
//!     }
//! }
//!
//! impl ClientFactory for EchoFactory {
//!     fn client_connection_failed(&self, _: &Connector, reason: &ConnectError) {
//!         self.events.borrow_mut().push(format!("Connection failed: {reason}"));
//!         self.reactor.stop().unwrap();
//!     }
//!
//!     fn client_connection_lost(&self, _: &Connector, reason: &Reason) {
//!         self.events.borrow_mut().push(format!("Connection lost: {reason}"));
//!         self.reactor.stop().unwrap();
//!     }
//! }
//!
//! let reactor = Reactor::new()?;
//! # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
//! # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
//! let loopback = TcpListenOptions::interface("127.0.0.1");
//! let server = reactor.listen_tcp_with(0, for_protocol(|| Echo), loopback)?;
//!
//! let events = Events::default();
//! let factory = EchoFactory { reactor: reactor.clone(), events: events.clone() };
//! reactor.connect_tcp("127.0.0.1", server.address().port(), factory);
//! reactor.run()?;
//!
//! assert_eq!(
//!     *events.borrow(),
//!     ["Server said hello world", "Connection lost: Connection was closed cleanly."]
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A refused connection goes to `client_connection_failed` with a
//! [`ConnectError`](crate::ConnectError) whose text is Twisted's
//! (`Connection was refused by other side: 111: Connection refused.`).
//! `data_received` got the whole echo here because it is short and local;
//! in general a message may arrive in pieces, which is what the framers of
//! [chapter 5](super::lines) are for.
//!
//! ## With an endpoint
//!
//! Most clients connect once and only want the connected protocol. An
//! [endpoint](crate::endpoint) says where to connect;
//! [`connect_protocol`](crate::endpoint::connect_protocol) takes a protocol
//! value, with no factory, and returns a [`Deferred`](crate::Deferred)
//! that fires with the connected protocol (or fails with a `ConnectError`).
//! Code written against an endpoint does not care how it connects: TCP
//! here, or a string the user gave
//! ([`client_from_string`](crate::endpoint::client_from_string), e.g.
//! `tcp:host=example.org:port=80`).
//!
//! Seed 000's Greeter: a message at once, one after a second (here 50 ms),
//! then the hang-up.
//!
//! ```
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use std::time::Duration;
//!
//! use gyre::endpoint::{connect_protocol, TcpClientEndpoint};
//! use gyre::{Address, Factory, Protocol, Reactor, Reason, TcpListenOptions, Transport};
//!
//! #[derive(Default)]
//! struct Greeter {
//!     transport: Option<Transport>,
//! }
//!
//! impl Greeter {
//!     fn send_message(&self, msg: &str) {
//!         if let Some(t) = &self.transport {
//!             t.write(format!("MESSAGE {msg}\n").as_bytes());
//!         }
//!     }
//! }
//!
//! impl Protocol for Greeter {
//!     fn connection_made(&mut self, transport: &Transport) {
//!         self.transport = Some(transport.clone());
//!     }
//! }
//!
//! // The server side: keeps everything it hears, stops the reactor at the end.
//! struct Listener { heard: Rc<RefCell<Vec<u8>>>, reactor: Reactor }
//! struct Keep { heard: Rc<RefCell<Vec<u8>>>, reactor: Reactor }
//! impl Protocol for Keep {
//!     fn data_received(&mut self, _: &Transport, data: &[u8]) {
//!         self.heard.borrow_mut().extend_from_slice(data);
//!     }
//!     fn connection_lost(&mut self, _: Reason) {
//!         self.reactor.stop().unwrap();
//!     }
//! }
//! impl Factory for Listener {
//!     type Protocol = Keep;
//!     fn build_protocol(&self, _: &Address) -> Option<Keep> {
//!         Some(Keep { heard: self.heard.clone(), reactor: self.reactor.clone() })
//!     }
//! }
//!
//! let reactor = Reactor::new()?;
//! # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
//! # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
//! let heard = Rc::new(RefCell::new(Vec::new()));
//! let loopback = TcpListenOptions::interface("127.0.0.1");
//! let listener = Listener { heard: heard.clone(), reactor: reactor.clone() };
//! let server = reactor.listen_tcp_with(0, listener, loopback)?;
//!
//! let point = TcpClientEndpoint::new(&reactor, "127.0.0.1", server.address().port());
//! let r = reactor.clone();
//! connect_protocol(&point, Greeter::default()).consume(move |connected| {
//!     let p = match connected {
//!         Ok(p) => p,
//!         Err(failure) => {
//!             eprintln!("Connection failed: {failure}");
//!             return r.stop().unwrap();
//!         }
//!     };
//!     p.with_protocol(|g| g.send_message("Hello"));
//!     let later = p.clone();
//!     r.call_later(Duration::from_millis(50), move || {
//!         later.with_protocol(|g| g.send_message("This is sent in a second"));
//!     });
//!     r.call_later(Duration::from_millis(100), move || p.transport().lose_connection());
//! });
//! reactor.run()?;
//!
//! assert_eq!(
//!     String::from_utf8_lossy(&heard.borrow()),
//!     "MESSAGE Hello\nMESSAGE This is sent in a second\n"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `consume` is the last link of a Deferred's chain: it takes the result,
//! success or failure, and ends the chain. [Chapter 6](super::deferreds)
//! has the rest, including the same Greeter written with `async`/`.await`.
//!
//! Next: [chapter 4, reconnecting](super::reconnecting).
