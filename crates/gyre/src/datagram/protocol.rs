//! [`DatagramProtocol`], and [`SharedDatagram`]: one protocol value that
//! several ports may use, started once and stopped once (Twisted's
//! `numPorts` rule for `doStart`/`doStop`).

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;

use crate::address::Address;
use crate::log::{guarded, short_type_name};

use super::DatagramTransport;

/// What a datagram port calls, UDP or UNIX (Twisted's `DatagramProtocol`).
/// One value per port, or one shared by several ports through
/// [`SharedDatagram`]; unlike a stream protocol there is no factory and no
/// connection. `from` is the sender's [`Address`]:
/// `IPv4Address(type='UDP', …)` on a UDP port, `UNIXAddress('/path')` on a
/// UNIX one (`UNIXAddress(None)`: an unbound sender, who cannot be
/// answered).
///
/// Every method but [`datagram_received`](Self::datagram_received) has a
/// default that does nothing. A panic in any of them is caught, logged as
/// `Unhandled Error` under the system `<path::Proto> (UDP)` (`(UNIX)` on a
/// UNIX socket), and the port keeps serving.
pub trait DatagramProtocol: 'static {
    /// The first port using this protocol has started (after `<Proto>
    /// starting on <port>` and `Starting protocol <…>`); `transport` is
    /// that port. Runs once however many ports share the protocol.
    fn start_protocol(&mut self, transport: &DatagramTransport) {
        let _ = transport;
    }

    /// The last port using this protocol has stopped (after `(UDP Port
    /// <port> Closed)` or `(Port '<path>' Closed)`, and `Stopping protocol
    /// <…>`).
    fn stop_protocol(&mut self) {}

    /// A datagram arrived on `transport` from `from`. `data` is at most the
    /// port's `max_packet_size` long: a longer datagram was cut there, and
    /// [`datagram_truncated`](Self::datagram_truncated) was called first.
    fn datagram_received(&mut self, transport: &DatagramTransport, data: &[u8], from: &Address);

    /// The datagram about to be delivered was `length` bytes long, more
    /// than the port's `max_packet_size`, and has been cut (Twisted cuts
    /// silently; gyre says so). UDP ports only: a UNIX datagram socket cuts
    /// without knowing the length.
    fn datagram_truncated(&mut self, transport: &DatagramTransport, length: usize, from: &Address) {
        let _ = (transport, length, from);
    }

    /// A connected port's peer refused a datagram (an ICMP port
    /// unreachable). The port stays open.
    fn connection_refused(&mut self, transport: &DatagramTransport) {
        let _ = transport;
    }

    /// The name in `<Proto> starting on <port>`; the type's short name by
    /// default.
    fn log_prefix(&self) -> Cow<'static, str> {
        short_type_name::<Self>()
    }

    /// The full name: in `Starting protocol <path::Proto object at 0x…>`
    /// and, with ` (UDP)` or ` (UNIX)`, the port's log system. The type's path by
    /// default.
    fn qualified_name(&self) -> Cow<'static, str> {
        Cow::Borrowed(std::any::type_name::<Self>())
    }

    /// Whether `Starting protocol` / `Stopping protocol` are logged.
    fn noisy(&self) -> bool {
        true
    }
}

/// A [`DatagramProtocol`] that several ports may share (pass clones), with
/// the count of ports using it: `start_protocol` runs when the first port
/// starts and `stop_protocol` when the last one stops.
pub struct SharedDatagram<P> {
    inner: Rc<Inner<P>>,
}

struct Inner<P> {
    protocol: RefCell<P>,
    num_ports: Cell<u32>,
}

impl<P: DatagramProtocol> SharedDatagram<P> {
    /// Wraps `protocol` for sharing.
    pub fn new(protocol: P) -> SharedDatagram<P> {
        SharedDatagram {
            inner: Rc::new(Inner {
                protocol: RefCell::new(protocol),
                num_ports: Cell::new(0),
            }),
        }
    }

    /// How many ports use the protocol now.
    pub fn num_ports(&self) -> u32 {
        self.inner.num_ports.get()
    }

    /// Runs `f` on the protocol. Panics if called from inside one of the
    /// protocol's own callbacks (the protocol is in use there).
    pub fn with<R>(&self, f: impl FnOnce(&mut P) -> R) -> R {
        f(&mut self.inner.protocol.borrow_mut())
    }

    /// `<path::Proto object at 0x…>`, as in `Starting protocol <…>`.
    pub fn repr(&self) -> String {
        self.inner.repr()
    }

    pub(crate) fn erased(&self) -> Rc<dyn ErasedDatagram> {
        self.inner.clone()
    }
}

impl<P> Clone for SharedDatagram<P> {
    fn clone(&self) -> Self {
        SharedDatagram {
            inner: self.inner.clone(),
        }
    }
}

impl<P: DatagramProtocol> From<P> for SharedDatagram<P> {
    fn from(protocol: P) -> Self {
        SharedDatagram::new(protocol)
    }
}

impl<P> fmt::Debug for SharedDatagram<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedDatagram")
            .field("protocol", &std::any::type_name::<P>())
            .field("num_ports", &self.inner.num_ports.get())
            .finish()
    }
}

/// What a port needs of its protocol, without its type.
pub(crate) trait ErasedDatagram {
    fn do_start(&self, transport: &DatagramTransport);
    fn do_stop(&self);
    fn received(&self, transport: &DatagramTransport, data: &[u8], from: &Address, length: usize);
    fn refused(&self, transport: &DatagramTransport);
    fn log_prefix(&self) -> String;
    /// `path::Proto`, to which a port adds ` (UDP)` or ` (UNIX)`.
    fn qualified_name(&self) -> String;
}

impl<P: DatagramProtocol> Inner<P> {
    fn repr(&self) -> String {
        let name = match self.protocol.try_borrow() {
            Ok(p) => p.qualified_name().into_owned(),
            Err(_) => std::any::type_name::<P>().to_owned(),
        };
        format!("<{name} object at {:p}>", &self.protocol)
    }

    /// Runs `f` on the protocol, catching its panic (logged); a callback
    /// re-entered from inside the protocol's own is refused with a log line.
    fn call(&self, site: &str, f: impl FnOnce(&mut P)) {
        let Ok(mut protocol) = self.protocol.try_borrow_mut() else {
            log::error!(
                target: "gyre::datagram",
                "Unhandled Error\n{site} called while the protocol is already in a callback"
            );
            return;
        };
        if let Err(message) = guarded(|| f(&mut protocol)) {
            log::error!(target: "gyre::datagram", "Unhandled Error\npanic in {site}: {message}");
        }
    }

    fn noisy(&self) -> bool {
        self.protocol.try_borrow().is_ok_and(|p| p.noisy())
    }
}

impl<P: DatagramProtocol> ErasedDatagram for Inner<P> {
    fn do_start(&self, transport: &DatagramTransport) {
        let n = self.num_ports.get();
        self.num_ports.set(n + 1);
        if n == 0 {
            if self.noisy() {
                log::info!(target: "gyre::datagram", "Starting protocol {}", self.repr());
            }
            self.call("start_protocol", |p| p.start_protocol(transport));
        }
    }

    fn do_stop(&self) {
        let n = self.num_ports.get();
        if n == 0 {
            return;
        }
        self.num_ports.set(n - 1);
        if n == 1 {
            if self.noisy() {
                log::info!(target: "gyre::datagram", "Stopping protocol {}", self.repr());
            }
            self.call("stop_protocol", |p| p.stop_protocol());
        }
    }

    fn received(&self, transport: &DatagramTransport, data: &[u8], from: &Address, length: usize) {
        self.call("datagram_received", |p| {
            if length > data.len() {
                p.datagram_truncated(transport, length, from);
            }
            p.datagram_received(transport, data, from);
        });
    }

    fn refused(&self, transport: &DatagramTransport) {
        self.call("connection_refused", |p| p.connection_refused(transport));
    }

    fn log_prefix(&self) -> String {
        match self.protocol.try_borrow() {
            Ok(p) => p.log_prefix().into_owned(),
            Err(_) => short_type_name::<P>().into_owned(),
        }
    }

    fn qualified_name(&self) -> String {
        match self.protocol.try_borrow() {
            Ok(p) => p.qualified_name().into_owned(),
            Err(_) => std::any::type_name::<P>().to_owned(),
        }
    }
}
