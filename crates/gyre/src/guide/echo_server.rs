//! Chapter 2: an echo server.
//!
//! A [`Protocol`](crate::Protocol) handles one connection. The reactor
//! calls `connection_made` when the connection is up, `data_received` with
//! whatever bytes arrived (in pieces of any size: TCP is a stream, not a
//! sequence of messages) and `connection_lost` once at the end. The
//! [`Transport`](crate::Transport) it is handed writes and closes.
//!
//! A [`Factory`](crate::Factory) builds one protocol per connection.
//! [`for_protocol`](crate::for_protocol) makes a factory from a closure when
//! the protocols need nothing shared.
//!
//! ```
//! use std::io::{Read, Write};
//!
//! use gyre::{for_protocol, Protocol, Reactor, TcpListenOptions, Transport};
//!
//! struct Echo;
//!
//! impl Protocol for Echo {
//!     fn data_received(&mut self, transport: &Transport, data: &[u8]) {
//!         transport.write(data);
//!     }
//! }
//!
//! let reactor = Reactor::new()?;
//! # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
//! # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
//! // A real server says `reactor.listen_tcp(8000, for_protocol(|| Echo))?`.
//! // Here: loopback only, on a port the system picks.
//! let loopback = TcpListenOptions::interface("127.0.0.1");
//! let port = reactor.listen_tcp_with(0, for_protocol(|| Echo), loopback)?;
//! let address = port.address();
//!
//! // A plain blocking client on another thread, which stops the reactor
//! // when it is done.
//! let handle = reactor.thread_handle();
//! let client = std::thread::spawn(move || {
//!     let mut stream = std::net::TcpStream::connect(address).unwrap();
//!     stream.write_all(b"hello, gyre").unwrap();
//!     let mut answer = [0; 11];
//!     stream.read_exact(&mut answer).unwrap();
//!     handle.call_from_thread(|reactor| reactor.stop().unwrap());
//!     answer
//! });
//!
//! reactor.run()?;
//! assert_eq!(&client.join().unwrap(), b"hello, gyre");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `transport.write` never blocks and never fails: what the kernel does not
//! take at once is buffered and sent when the socket is writable. A peer
//! that stops reading cannot make the buffer grow forever; past a cap
//! (4 MiB by default, see [`WriteLimit`](crate::WriteLimit)) the connection
//! is closed as a slow consumer. A producer that should slow down instead
//! registers with the transport (see [`Producer`](crate::Producer)).
//!
//! ## State shared by every connection
//!
//! Whatever outlives one connection belongs to the factory. Here a factory
//! counts the connections it has served and greets each with its number,
//! the way Twisted's tutorials count `numProtocols`:
//!
//! ```
//! use std::cell::Cell;
//! use std::io::Read;
//! use std::rc::Rc;
//!
//! use gyre::{Address, Factory, Protocol, Reactor, TcpListenOptions, Transport};
//!
//! struct Greet {
//!     served: Rc<Cell<u32>>,
//! }
//!
//! impl Protocol for Greet {
//!     fn connection_made(&mut self, transport: &Transport) {
//!         self.served.set(self.served.get() + 1);
//!         transport.write(format!("you are visitor {}\r\n", self.served.get()).as_bytes());
//!         transport.lose_connection(); // after what was written is sent
//!     }
//! }
//!
//! #[derive(Default)]
//! struct GreetFactory {
//!     served: Rc<Cell<u32>>,
//! }
//!
//! impl Factory for GreetFactory {
//!     type Protocol = Greet;
//!
//!     fn build_protocol(&self, _peer: &Address) -> Option<Greet> {
//!         // `None` would refuse the connection: it is closed at once.
//!         Some(Greet { served: self.served.clone() })
//!     }
//! }
//!
//! let reactor = Reactor::new()?;
//! # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
//! # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
//! let loopback = TcpListenOptions::interface("127.0.0.1");
//! let port = reactor.listen_tcp_with(0, GreetFactory::default(), loopback)?;
//! let address = port.address();
//!
//! let handle = reactor.thread_handle();
//! let visitors = std::thread::spawn(move || {
//!     let mut heard = Vec::new();
//!     for _ in 0..2 {
//!         let mut text = String::new();
//!         // read_to_string ends when the server closes the connection.
//!         std::net::TcpStream::connect(address).unwrap().read_to_string(&mut text).unwrap();
//!         heard.push(text);
//!     }
//!     handle.call_from_thread(|reactor| reactor.stop().unwrap());
//!     heard
//! });
//!
//! reactor.run()?;
//! assert_eq!(visitors.join().unwrap(), ["you are visitor 1\r\n", "you are visitor 2\r\n"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The reactor runs on one thread, so state shared between its callbacks
//! is `Rc` and `Cell`/`RefCell`, never a lock. For one reactor per core,
//! see [`ReactorPool`](crate::ReactorPool).
//!
//! The `gyre` command runs this kind of server with no code at all:
//! `gyre echo --listen tcp:8000`.
//!
//! Next: [chapter 3, clients](super::clients).
