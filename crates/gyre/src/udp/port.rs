//! The UDP port: a bound socket registered with the reactor as a readiness
//! source, reading in bounded batches and delivering to its protocol.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::rc::{Rc, Weak};

use mio::Interest;
use rustix::io::Errno;
use rustix::net::RecvFlags;
use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::address::Address;
use crate::completion::Completion;
use crate::datagram::{DatagramPort, ErasedDatagram, Target};
use crate::error::ListenError;
use crate::log::{LogContext, enter};
use crate::reactor::{Inner, Reactor, Ready, Source};

use super::{DatagramError, DatagramTransport, READ_BUDGET, UdpListenOptions, interface_ip};

const TARGET: &str = "gyre::udp";

/// Datagrams per `sendmmsg` call (the kernel's `UIO_MAXIOV`).
const MAX_BATCH: usize = 1024;

/// Datagrams written during a turn, waiting for its end: their bytes end
/// to end, and each one's (start, length, destination; `None`: the peer).
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    items: Vec<(usize, usize, Option<SocketAddr>)>,
}

/// One `sendmmsg` of `chunk`: how many went out, or the first one's error.
/// A lone datagram is one `sendto` (no message headers to build).
#[cfg(target_os = "linux")]
fn send_chunk(
    socket: &mio::net::UdpSocket,
    bytes: &[u8],
    chunk: &[(usize, usize, Option<SocketAddr>)],
) -> Result<usize, Errno> {
    if let [(start, len, to)] = *chunk {
        return send_one(socket, &bytes[start..start + len], to);
    }
    use rustix::net::{MMsgHdr, SendAncillaryBuffer, SendFlags, SocketAddrAny};
    use std::io::IoSlice;
    let iovs: Vec<[IoSlice<'_>; 1]> = chunk
        .iter()
        .map(|&(start, len, _)| [IoSlice::new(&bytes[start..start + len])])
        .collect();
    let addrs: Vec<Option<SocketAddrAny>> = chunk
        .iter()
        .map(|&(_, _, to)| to.map(SocketAddrAny::from))
        .collect();
    let mut controls: Vec<SendAncillaryBuffer<'_, '_, '_>> = chunk
        .iter()
        .map(|_| SendAncillaryBuffer::default())
        .collect();
    let mut msgs: Vec<MMsgHdr<'_>> = iovs
        .iter()
        .zip(addrs.iter())
        .zip(controls.iter_mut())
        .map(|((iov, addr), control)| match addr {
            Some(addr) => MMsgHdr::new_with_addr(addr, iov, control),
            None => MMsgHdr::new(iov, control),
        })
        .collect();
    rustix::net::sendmmsg(socket, &mut msgs, SendFlags::empty())
}

/// Without `sendmmsg`, one `sendto` at a time.
#[cfg(not(target_os = "linux"))]
fn send_chunk(
    socket: &mio::net::UdpSocket,
    bytes: &[u8],
    chunk: &[(usize, usize, Option<SocketAddr>)],
) -> Result<usize, Errno> {
    let (start, len, to) = chunk[0];
    send_one(socket, &bytes[start..start + len], to)
}

/// One datagram, to `to` or the peer: 1 sent, or the error.
fn send_one(
    socket: &mio::net::UdpSocket,
    data: &[u8],
    to: Option<SocketAddr>,
) -> Result<usize, Errno> {
    let sent = match to {
        Some(to) => socket.send_to(data, to),
        None => socket.send(data),
    };
    sent.map(|_| 1)
        .map_err(|e| Errno::from_io_error(&e).unwrap_or(Errno::IO))
}

/// The longest UDP payload over IPv4 (65,535 less the IP and UDP headers).
const MAX_V4_PAYLOAD: usize = 65_507;
/// The longest over IPv6 (65,535 less the UDP header).
const MAX_V6_PAYLOAD: usize = 65_527;

pub(super) struct UdpPort {
    reactor: Weak<Inner>,
    me: Weak<UdpPort>,
    socket: RefCell<Option<mio::net::UdpSocket>>,
    token: Cell<usize>,
    protocol: Rc<dyn ErasedDatagram>,
    host: SocketAddr,
    max_packet_size: usize,
    peer: Cell<Option<SocketAddr>>,
    /// A read is queued for the next pass (the budget ran out).
    read_queued: Cell<bool>,
    /// Send batching: datagrams written this turn wait here and go out in
    /// one `sendmmsg` at the end of the turn.
    batching: bool,
    batch: RefCell<Batch>,
    /// This turn's first datagram went out directly; the flush is queued.
    sent_this_turn: Cell<bool>,
    system: String,
}

impl UdpPort {
    /// Binds, registers, logs `<Proto> starting on <port>` and starts the
    /// protocol if this is its first port.
    pub(super) fn open(
        reactor: &Reactor,
        port: u16,
        protocol: Rc<dyn ErasedDatagram>,
        options: &UdpListenOptions,
    ) -> Result<Rc<UdpPort>, ListenError> {
        let iface = options.interface.trim();
        let shown = if iface.is_empty() { "any" } else { iface };
        let fail = |source: io::Error| ListenError {
            address: format!("{shown}:{port}"),
            source,
        };
        let ip = interface_ip(iface).map_err(fail)?;
        let addr = SocketAddr::new(ip, port);
        let socket = Socket::new(
            Domain::for_address(addr),
            Type::DGRAM.nonblocking().cloexec(),
            Some(Protocol::UDP),
        )
        .map_err(fail)?;
        if options.listen_multiple {
            socket.set_reuse_address(true).map_err(fail)?;
            socket.set_reuse_port(true).map_err(fail)?;
        }
        if let Some(size) = options.receive_buffer_size {
            socket.set_recv_buffer_size(size).map_err(fail)?;
            // The kernel reports twice what it grants; capped below the ask,
            // force it where allowed (otherwise keep the cap).
            if socket.recv_buffer_size().map_err(fail)? < size.saturating_mul(2) {
                let _ = rustix::net::sockopt::set_socket_recv_buffer_size_force(&socket, size);
            }
        }
        socket.bind(&addr.into()).map_err(fail)?;
        let host = socket
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .unwrap_or(addr);
        let mut socket = mio::net::UdpSocket::from_std(std::net::UdpSocket::from(socket));
        let system = format!("{} (UDP)", protocol.qualified_name());
        let me = Rc::new_cyclic(|me| UdpPort {
            reactor: reactor.downgrade(),
            me: me.clone(),
            socket: RefCell::new(None),
            token: Cell::new(usize::MAX),
            protocol,
            host,
            max_packet_size: options.max_packet_size.max(1),
            peer: Cell::new(None),
            read_queued: Cell::new(false),
            batching: options.send_batching && cfg!(target_os = "linux"),
            batch: RefCell::new(Batch::default()),
            sent_this_turn: Cell::new(false),
            system,
        });
        let source: Rc<dyn Source> = me.clone();
        let token = reactor
            .register(&mut socket, Interest::READABLE, |_| source)
            .map_err(fail)?;
        me.token.set(token);
        *me.socket.borrow_mut() = Some(socket);
        log::info!(
            target: TARGET,
            "{} starting on {}",
            me.protocol.log_prefix(),
            host.port()
        );
        let transport = DatagramTransport::new(me.clone());
        me.protocol.do_start(&transport);
        Ok(me)
    }

    fn reactor(&self) -> Option<Reactor> {
        Reactor::from_weak(&self.reactor)
    }

    fn check(&self, data: &[u8], to: SocketAddr) -> Result<(), DatagramError> {
        match (self.host.is_ipv4(), to.is_ipv4()) {
            (true, false) => {
                return Err(DatagramError::WrongFamily {
                    host: to.ip().to_string(),
                    why: "IPv4 port write() called with IPv6 address",
                });
            }
            (false, true) => {
                return Err(DatagramError::WrongFamily {
                    host: to.ip().to_string(),
                    why: "IPv6 port write() called with IPv4 address",
                });
            }
            _ => {}
        }
        let max = if self.host.is_ipv4() {
            MAX_V4_PAYLOAD
        } else {
            MAX_V6_PAYLOAD
        };
        if data.len() > max {
            return Err(DatagramError::MessageTooLong { length: data.len() });
        }
        Ok(())
    }

    fn write_to(&self, data: &[u8], to: SocketAddr) -> Result<(), DatagramError> {
        self.check(data, to)?;
        match self.peer.get() {
            Some(peer) if peer == to => return self.write(data),
            Some(peer) => {
                return Err(DatagramError::Connected {
                    peer: Address::udp(peer),
                });
            }
            None => {}
        }
        if self.batching && !self.first_of_turn() {
            return self.enqueue(data, Some(to));
        }
        let sent = match &*self.socket.borrow() {
            Some(socket) => socket.send_to(data, to),
            None => return Err(DatagramError::Closed),
        };
        self.sent(sent, data.len())
    }

    fn write(&self, data: &[u8]) -> Result<(), DatagramError> {
        let Some(peer) = self.peer.get() else {
            return Err(DatagramError::NotConnected);
        };
        self.check(data, peer)?;
        if self.batching && !self.first_of_turn() {
            return self.enqueue(data, None);
        }
        let sent = match &*self.socket.borrow() {
            Some(socket) => socket.send(data),
            None => return Err(DatagramError::Closed),
        };
        self.sent(sent, data.len())
    }

    fn sent(&self, sent: io::Result<usize>, length: usize) -> Result<(), DatagramError> {
        match sent {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(Errno::MSGSIZE.raw_os_error()) => {
                Err(DatagramError::MessageTooLong { length })
            }
            // A refusal of an earlier datagram, reported on this send: the
            // protocol hears of it on the next turn (it may be inside a
            // callback now), and this datagram counts as sent, as in
            // Twisted.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused && self.peer.get().is_some() => {
                self.refused_later();
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// True for the turn's first datagram, which goes out at once (a lone
    /// datagram waits for nothing and costs one `sendto`); the port then
    /// asks to be flushed at the end of the turn, and the turn's later
    /// datagrams queue behind it.
    fn first_of_turn(&self) -> bool {
        if self.sent_this_turn.replace(true) {
            return false;
        }
        if let (Some(reactor), Some(me)) = (self.reactor(), self.me.upgrade()) {
            reactor.queue_flush(me);
        }
        true
    }

    /// Queues a datagram (checked already) for the end of the turn.
    fn enqueue(&self, data: &[u8], to: Option<SocketAddr>) -> Result<(), DatagramError> {
        if self.socket.borrow().is_none() {
            return Err(DatagramError::Closed);
        }
        let first = {
            let mut batch = self.batch.borrow_mut();
            let start = batch.bytes.len();
            batch.bytes.extend_from_slice(data);
            batch.items.push((start, data.len(), to));
            batch.items.len() == 1
        };
        if first && let (Some(reactor), Some(me)) = (self.reactor(), self.me.upgrade()) {
            reactor.queue_flush(me);
        }
        if self.batch.borrow().items.len() >= MAX_BATCH {
            self.flush_batch();
        }
        Ok(())
    }

    /// Sends the queued datagrams, in order, `MAX_BATCH` per `sendmmsg`. A
    /// datagram the system refuses is logged and skipped (its error can no
    /// longer be returned); a full send buffer drops the rest, logged.
    fn flush_batch(&self) {
        self.sent_this_turn.set(false);
        let Batch { bytes, items } = std::mem::take(&mut *self.batch.borrow_mut());
        if items.is_empty() {
            return;
        }
        let guard = self.socket.borrow();
        let Some(socket) = &*guard else {
            return;
        };
        let mut next = 0;
        while next < items.len() {
            let chunk = &items[next..items.len().min(next + MAX_BATCH)];
            match send_chunk(socket, &bytes, chunk) {
                Ok(0) | Err(Errno::AGAIN) => {
                    log::warn!(
                        target: TARGET,
                        "send buffer full: {} queued datagram(s) dropped",
                        items.len() - next
                    );
                    break;
                }
                Ok(n) => next += n,
                Err(Errno::INTR) => {}
                Err(e) => {
                    let (_, length, to) = chunk[0];
                    match e {
                        Errno::CONNREFUSED if self.peer.get().is_some() => self.refused_later(),
                        Errno::MSGSIZE => log::warn!(
                            target: TARGET,
                            "datagram of {length} bytes not sent: {}",
                            DatagramError::MessageTooLong { length }
                        ),
                        e => log::warn!(
                            target: TARGET,
                            "datagram to {} not sent: {e}",
                            to.or(self.peer.get())
                                .map_or_else(|| "the peer".to_owned(), |a| a.to_string())
                        ),
                    }
                    next += 1;
                }
            }
        }
        drop(guard);
        let mut batch = self.batch.borrow_mut();
        if batch.items.is_empty() && batch.bytes.capacity() < bytes.capacity() {
            let mut bytes = bytes;
            bytes.clear();
            let mut items = items;
            items.clear();
            *batch = Batch { bytes, items };
        }
    }

    fn refused_later(&self) {
        let (Some(reactor), Some(me)) = (self.reactor(), self.me.upgrade()) else {
            return;
        };
        reactor.call_soon(move || {
            if me.socket.borrow().is_some() {
                let _ctx = enter(me.clone());
                me.protocol.refused(&DatagramTransport::new(me.clone()));
            }
        });
    }

    fn connect(&self, to: SocketAddr) -> Result<(), DatagramError> {
        if self.peer.get().is_some() {
            return Err(DatagramError::AlreadyConnected);
        }
        self.check(&[], to)?;
        match &*self.socket.borrow() {
            Some(socket) => socket.connect(to)?,
            None => return Err(DatagramError::Closed),
        }
        self.peer.set(Some(to));
        Ok(())
    }

    /// Reads and delivers datagrams until the socket is drained or the
    /// budget is spent (then reads on in the next pass).
    fn read_ready(self: &Rc<Self>) {
        let Some(reactor) = self.reactor() else {
            return;
        };
        let _ctx = enter(self.clone());
        let transport = DatagramTransport::new(self.clone());
        let mut buf = reactor.take_read_buf();
        if buf.len() < self.max_packet_size {
            buf.resize(self.max_packet_size, 0);
        }
        let mut total = 0usize;
        loop {
            if total >= READ_BUDGET {
                if !self.read_queued.replace(true) {
                    let me = self.clone();
                    reactor.call_soon(move || {
                        me.read_queued.set(false);
                        me.read_ready();
                    });
                }
                break;
            }
            let received = match &*self.socket.borrow() {
                Some(socket) => rustix::net::recvfrom(
                    socket,
                    &mut buf[..self.max_packet_size],
                    RecvFlags::TRUNC,
                ),
                None => break,
            };
            match received {
                Ok((got, length, from)) => {
                    total += got.max(1);
                    let Some(from) = from.and_then(|a| SocketAddr::try_from(a).ok()) else {
                        continue;
                    };
                    let from = Address::udp(from);
                    self.protocol
                        .received(&transport, &buf[..got], &from, length.max(got));
                }
                Err(Errno::AGAIN) => break,
                Err(Errno::INTR) => {}
                Err(Errno::CONNREFUSED) => {
                    if self.peer.get().is_some() {
                        self.protocol.refused(&transport);
                    }
                }
                // Errors queued by ICMP for unconnected sends, and the
                // like: nothing to deliver; read on.
                Err(Errno::HOSTUNREACH | Errno::NETUNREACH | Errno::CONNRESET) => {}
                Err(e) => {
                    log::error!(target: TARGET, "Unhandled Error\nwhile reading a datagram: {e}");
                    break;
                }
            }
        }
        reactor.put_read_buf(buf);
    }

    /// Closes the socket now; returns whether it was open.
    fn close_socket(&self) -> bool {
        self.flush_batch();
        let socket = self.socket.borrow_mut().take();
        let Some(mut socket) = socket else {
            return false;
        };
        if let Some(reactor) = self.reactor() {
            reactor.deregister(&mut socket, self.token.get());
        }
        true
    }

    /// Logs the close line and stops the protocol if this was its last
    /// port; under the port's system at reactor shutdown, under `-` after
    /// `stop_listening` (as the stream ports do, after Twisted).
    fn closed(self: &Rc<Self>, in_context: bool) {
        {
            let _ctx = in_context.then(|| enter(self.clone()));
            log::info!(target: TARGET, "(UDP Port {} Closed)", self.host.port());
        }
        self.protocol.do_stop();
    }

    fn stop_listening(&self) -> Completion {
        if !self.close_socket() {
            return Completion::completed();
        }
        let Some(me) = self.me.upgrade() else {
            return Completion::completed();
        };
        let done = Completion::new();
        match self.reactor() {
            Some(reactor) => {
                let signal = done.clone();
                reactor.call_soon(move || {
                    me.closed(false);
                    signal.complete();
                });
            }
            None => {
                me.closed(false);
                done.complete();
            }
        }
        done
    }
}

impl Source for UdpPort {
    fn ready(self: Rc<Self>, _token: usize, ready: Ready) {
        if ready.readable {
            self.read_ready();
        }
    }

    fn shutdown(self: Rc<Self>) {
        if self.close_socket() {
            self.closed(true);
        }
    }

    fn flush(self: Rc<Self>) {
        self.flush_batch();
    }

    fn log_system(&self) -> Option<String> {
        Some(self.system.clone())
    }
}

impl LogContext for UdpPort {
    fn system(&self) -> String {
        self.system.clone()
    }
}

/// The target's IP address; a UNIX path is the wrong family here.
fn inet(to: Target) -> Result<SocketAddr, DatagramError> {
    match to {
        Target::Inet(addr) => Ok(addr),
        Target::Unix(path) => Err(DatagramError::WrongFamily {
            host: path.display().to_string(),
            why: "UDP port write() called with a UNIX socket path",
        }),
    }
}

impl DatagramPort for UdpPort {
    fn write_to(&self, data: &[u8], to: Target) -> Result<(), DatagramError> {
        UdpPort::write_to(self, data, inet(to)?)
    }

    fn write(&self, data: &[u8]) -> Result<(), DatagramError> {
        UdpPort::write(self, data)
    }

    fn connect(&self, to: Target) -> Result<(), DatagramError> {
        UdpPort::connect(self, inet(to)?)
    }

    fn peer(&self) -> Option<Address> {
        self.peer.get().map(Address::udp)
    }

    fn host(&self) -> Address {
        Address::udp(self.host)
    }

    fn max_packet_size(&self) -> usize {
        self.max_packet_size
    }

    fn stop_listening(&self) -> Completion {
        UdpPort::stop_listening(self)
    }

    fn is_listening(&self) -> bool {
        self.socket.borrow().is_some()
    }

    fn with_socket(
        &self,
        f: &mut dyn FnMut(SockRef<'_>) -> io::Result<()>,
    ) -> Result<(), DatagramError> {
        match &*self.socket.borrow() {
            Some(socket) => Ok(f(SockRef::from(socket))?),
            None => Err(DatagramError::Closed),
        }
    }
}
