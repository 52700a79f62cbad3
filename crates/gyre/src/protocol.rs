//! The [`Protocol`] trait: what a connection does when things happen to it.
//!
//! A protocol is built per connection by a [`Factory`](crate::Factory) and
//! receives events: [`connection_made`](Protocol::connection_made), then any
//! number of [`data_received`](Protocol::data_received), then exactly one
//! [`connection_lost`](Protocol::connection_lost). Data arrives in arbitrary
//! chunks: framing is the job of `gyre::protocols`.
//!
//! Each callback gets the connection's [`Transport`], so the simplest protocol
//! needs no state at all:
//!
//! ```
//! use gyre::{Protocol, Transport};
//!
//! struct Echo;
//!
//! impl Protocol for Echo {
//!     fn data_received(&mut self, transport: &Transport, data: &[u8]) {
//!         transport.write(data);
//!     }
//! }
//! ```
//!
//! Differences from Twisted, on purpose:
//! * a panic in any callback is caught, logged as `Unhandled Error`, and
//!   closes that one connection with [`Reason::Panicked`] (Twisted keeps a
//!   server connection open when `connectionMade` raises; gyre closes it);
//! * after `connection_lost` the reactor drops the protocol value. Keep
//!   anything that must outlive the connection in the factory or behind an
//!   `Rc` you hold elsewhere.
//!
//! A protocol that something else must reach while the connection runs it
//! (a timer, a handle returned to the caller) can be run as an
//! `Rc<RefCell<P>>`: that is a protocol too, forwarding every callback to
//! `P` inside a borrow of the cell (see the impl below for the one rule
//! that comes with it). To add behaviour around a protocol, wrap it with
//! [`ProtocolWrapper`](crate::wrap::ProtocolWrapper).

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

use crate::error::Reason;
use crate::transport::Transport;

/// Reacts to the events of one connection.
///
/// All methods have defaults that do nothing, so an implementation writes only
/// the events it cares about.
///
/// A half-closeable protocol hears that the peer has finished sending and
/// may still answer. This one counts what a client uploads and replies
/// once the client shuts its sending side, over loopback:
///
/// ```
/// use std::io::{Read, Write};
/// use std::net::Shutdown;
///
/// use gyre::{for_protocol, Protocol, Reactor, TcpListenOptions, Transport};
///
/// #[derive(Default)]
/// struct Count {
///     bytes: usize,
/// }
///
/// impl Protocol for Count {
///     fn data_received(&mut self, _: &Transport, data: &[u8]) {
///         self.bytes += data.len();
///     }
///     fn half_closeable(&self) -> bool {
///         true
///     }
///     fn read_connection_lost(&mut self, transport: &Transport) {
///         // The peer is done sending; it still reads our answer.
///         transport.write(format!("{} bytes\n", self.bytes).as_bytes());
///         transport.lose_connection();
///     }
/// }
///
/// let reactor = Reactor::new()?;
/// # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
/// # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
/// let loopback = TcpListenOptions::interface("127.0.0.1");
/// let address = reactor.listen_tcp_with(0, for_protocol(Count::default), loopback)?.address();
/// let handle = reactor.thread_handle();
/// let client = std::thread::spawn(move || {
///     let mut stream = std::net::TcpStream::connect(address).unwrap();
///     stream.write_all(&[0; 100_000]).unwrap();
///     stream.shutdown(Shutdown::Write).unwrap();
///     let mut answer = String::new();
///     stream.read_to_string(&mut answer).unwrap();
///     handle.stop();
///     answer
/// });
/// reactor.run()?;
/// assert_eq!(client.join().unwrap(), "100000 bytes\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A protocol that is not half-closeable gets `connection_lost` when the
/// peer shuts its sending side, as in Twisted.
pub trait Protocol: 'static {
    /// The connection is established. `transport` may be cloned and kept.
    fn connection_made(&mut self, transport: &Transport) {
        let _ = transport;
    }

    /// Bytes arrived. No framing is implied: a chunk may hold part of a
    /// message or several messages.
    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        let _ = (transport, data);
    }

    /// The connection is gone; `reason` says why. Called exactly once.
    fn connection_lost(&mut self, reason: Reason) {
        let _ = reason;
    }

    /// Return `true` to receive half-close events
    /// ([`read_connection_lost`](Self::read_connection_lost) and
    /// [`write_connection_lost`](Self::write_connection_lost)) instead of a
    /// full `connection_lost` when only one direction shuts. This is
    /// Twisted's `IHalfCloseableProtocol`.
    fn half_closeable(&self) -> bool {
        false
    }

    /// The peer shut down its sending side (half-closeable protocols only).
    /// The transport can still be written to.
    fn read_connection_lost(&mut self, transport: &Transport) {
        let _ = transport;
    }

    /// Our own `lose_write_connection` completed (half-closeable protocols
    /// only): buffered data was flushed and the write side shut down.
    fn write_connection_lost(&mut self, transport: &Transport) {
        let _ = transport;
    }

    /// The name used in log lines for this protocol's connections
    /// (`Echo,0,127.0.0.1`). Defaults to the type's short name.
    fn log_prefix(&self) -> Cow<'static, str> {
        crate::log::short_type_name::<Self>()
    }
}

impl<P: Protocol + ?Sized> Protocol for Box<P> {
    fn connection_made(&mut self, transport: &Transport) {
        (**self).connection_made(transport)
    }
    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        (**self).data_received(transport, data)
    }
    fn connection_lost(&mut self, reason: Reason) {
        (**self).connection_lost(reason)
    }
    fn half_closeable(&self) -> bool {
        (**self).half_closeable()
    }
    fn read_connection_lost(&mut self, transport: &Transport) {
        (**self).read_connection_lost(transport)
    }
    fn write_connection_lost(&mut self, transport: &Transport) {
        (**self).write_connection_lost(transport)
    }
    fn log_prefix(&self) -> Cow<'static, str> {
        (**self).log_prefix()
    }
}

/// A protocol in a shared cell: every callback borrows the cell for its
/// own duration and forwards to `P` (the mutable callbacks with
/// `borrow_mut`, [`half_closeable`](Protocol::half_closeable) and
/// [`log_prefix`](Protocol::log_prefix) with `borrow`).
///
/// Whoever else holds the `Rc` may borrow it between callbacks. Holding a
/// borrow across a callback, or reaching the cell from inside one of `P`'s
/// own callbacks (through a clone of the `Rc` that `P` was given), re-enters
/// the `RefCell` and panics; on a connection that panic is caught like any
/// other and closes that connection. The transport never calls back into
/// the protocol synchronously, so writing from a callback is always fine.
impl<P: Protocol + ?Sized> Protocol for Rc<RefCell<P>> {
    fn connection_made(&mut self, transport: &Transport) {
        self.borrow_mut().connection_made(transport)
    }
    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        self.borrow_mut().data_received(transport, data)
    }
    fn connection_lost(&mut self, reason: Reason) {
        self.borrow_mut().connection_lost(reason)
    }
    fn half_closeable(&self) -> bool {
        self.borrow().half_closeable()
    }
    fn read_connection_lost(&mut self, transport: &Transport) {
        self.borrow_mut().read_connection_lost(transport)
    }
    fn write_connection_lost(&mut self, transport: &Transport) {
        self.borrow_mut().write_connection_lost(transport)
    }
    fn log_prefix(&self) -> Cow<'static, str> {
        self.borrow().log_prefix()
    }
}
