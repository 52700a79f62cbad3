//! Chapter 6: Deferreds, and the same with `async`.
//!
//! A [`Deferred`](crate::Deferred) is a result that has not arrived yet:
//! a connection being made, a name being resolved, a reply from a server.
//! Code that wants the result adds callbacks to it; whoever produces the
//! result fires it once, with a value (`callback`) or a
//! [`Failure`](crate::Failure) (`errback`). Each callback's return value is
//! what the next one receives, so a Deferred is a pipeline, run as soon as
//! the result is there (at once, if it already is).
//!
//! ```
//! use gyre::testing::success_result_of;
//! use gyre::{Deferred, Failure};
//!
//! let reply: Deferred<String> = Deferred::new();
//! let length = reply
//!     .clone() // a second handle to the same Deferred
//!     .add_callback(|text| text.trim().to_string())
//!     .and_then(|text| match text.parse::<u32>() {
//!         Ok(n) => Ok(n),
//!         Err(e) => Err(Failure::new(e)), // switch to the error path
//!     })
//!     .add_errback(|failure| {
//!         eprintln!("not a number ({failure}); using 0");
//!         Ok(0) // recovered: the next callback gets a value again
//!     })
//!     .add_callback(|n| n * 2);
//!
//! // Later, when the server answered:
//! reply.callback(" 21\r\n".to_string()).unwrap();
//! assert_eq!(success_result_of(&length), 42);
//! ```
//!
//! [`success_result_of`](crate::testing::success_result_of) takes the
//! result out and fails loudly if there is none yet: in a test it is the
//! way to look at a Deferred (see [chapter 7](super::testing)). In a
//! program, the last link is usually `consume`, which takes the outcome,
//! success or failure, and ends the chain.
//!
//! The rules are Twisted's: an errback sees a failure and may recover
//! (`Ok`) or pass one on (`Err`); a callback that returns another Deferred
//! ([`add_callback_deferred`](crate::Deferred::add_callback_deferred))
//! pauses the chain until that one fires; a failure that reaches the end
//! of a chain nobody consumed is logged as `Unhandled error in Deferred:`
//! when the Deferred is dropped, so errors do not vanish. Firing twice is
//! an [`AlreadyCalledError`](crate::deferred::AlreadyCalledError).
//!
//! ## Waiting for several
//!
//! [`gather_results`](crate::deferred::gather_results) fires with all the
//! values, in the order given, once every one has arrived, or with the
//! first failure; [`race`](crate::deferred::race) with the first to
//! arrive. [`add_timeout`](crate::Deferred::add_timeout) cancels what takes
//! too long.
//!
//! ```
//! use gyre::deferred::gather_results;
//! use gyre::testing::{assert_no_result, success_result_of};
//! use gyre::Deferred;
//!
//! let (a, b) = (Deferred::new(), Deferred::new());
//! let both = gather_results(vec![a.clone(), b.clone()]);
//! b.callback("second").unwrap();
//! assert_no_result(&both); // still waiting for `a`
//! a.callback("first").unwrap();
//! assert_eq!(success_result_of(&both), ["first", "second"]);
//! ```
//!
//! ## `async` and `.await`
//!
//! A Deferred is also a [`Future`]. A future spawned
//! on the reactor ([`Reactor::spawn`](crate::Reactor::spawn), or
//! [`spawn_fallible`](crate::Reactor::spawn_fallible) for one that returns
//! a `Result`) runs on the reactor's own thread, between the other events,
//! and may `.await` any Deferred: a connection, [`Reactor::sleep`](crate::Reactor::sleep),
//! a reply. No other runtime is involved. `spawn` returns a Deferred of the
//! future's output, so callbacks and `async` code mix freely.
//!
//! The Greeter of [chapter 3](super::clients) as straight-line code:
//!
//! ```
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use std::time::Duration;
//!
//! use gyre::endpoint::{connect_protocol, TcpClientEndpoint};
//! use gyre::{for_protocol, Failure, Protocol, Reactor, Reason, TcpListenOptions, Transport};
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
//! async fn greet(reactor: Reactor, port: u16) -> Result<(), Failure> {
//!     let point = TcpClientEndpoint::new(&reactor, "127.0.0.1", port);
//!     let p = connect_protocol(&point, Greeter::default()).await?;
//!     p.with_protocol(|g| g.send_message("Hello"));
//!     reactor.sleep(Duration::from_millis(50)).await?;
//!     p.with_protocol(|g| g.send_message("This is sent in a second"));
//!     p.transport().lose_connection();
//!     Ok(())
//! }
//!
//! // A server that keeps what it hears and stops the reactor at the hang-up.
//! struct Keep(Rc<RefCell<Vec<u8>>>, Reactor);
//! impl Protocol for Keep {
//!     fn data_received(&mut self, _: &Transport, data: &[u8]) {
//!         self.0.borrow_mut().extend_from_slice(data);
//!     }
//!     fn connection_lost(&mut self, _: Reason) {
//!         self.1.stop().unwrap();
//!     }
//! }
//!
//! let reactor = Reactor::new()?;
//! # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
//! # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
//! let heard = Rc::new(RefCell::new(Vec::new()));
//! let (h, r) = (heard.clone(), reactor.clone());
//! let loopback = TcpListenOptions::interface("127.0.0.1");
//! let server =
//!     reactor.listen_tcp_with(0, for_protocol(move || Keep(h.clone(), r.clone())), loopback)?;
//!
//! let outcome = Rc::new(RefCell::new(None));
//! let (out, r) = (outcome.clone(), reactor.clone());
//! reactor.spawn_fallible(greet(reactor.clone(), server.address().port())).consume(move |result| {
//!     if result.is_err() {
//!         r.stop().unwrap(); // no connection, so no hang-up to wait for
//!     }
//!     *out.borrow_mut() = Some(result.map_err(|f| f.to_string()));
//! });
//! reactor.run()?;
//!
//! assert_eq!(outcome.borrow_mut().take(), Some(Ok(())), "the greeter finished");
//! assert_eq!(
//!     String::from_utf8_lossy(&heard.borrow()),
//!     "MESSAGE Hello\nMESSAGE This is sent in a second\n"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A future that is dropped (its Deferred cancelled, or the reactor
//! stopped) stops at its current `.await`; the Deferred it was waiting on
//! is cancelled with it, so a pending connection attempt is abandoned
//! rather than left running.
//!
//! Next: [chapter 7, testing](super::testing).
