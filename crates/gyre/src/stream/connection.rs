//! One established stream connection: the mechanism behind a [`Transport`],
//! generic over the socket (`S`: TCP, a UNIX stream socket, ...).
//!
//! Owns the socket, the protocol, and the write buffer. Field by field:
//!
//! * `state.stream`: the socket, `None` once closed. Registered once with the
//!   poller, edge-triggered, for both read and write readiness: writing never
//!   costs an `epoll_ctl`.
//! * `state.wbuf[wpos..]`: bytes the kernel has not taken yet. Empty in the
//!   steady state: `write` sends at once and only buffers what the kernel
//!   refuses; the buffer is drained on the next writable edge. A large
//!   buffer is freed once drained, so idle connections hold none.
//! * `state.flags`: the lifecycle (see [`flags`]).
//! * `state.producer`: the registered producer, and whether we paused it.
//! * `protocol`: the user's protocol, `None` after `connection_lost`.
//! * `peer`: the remote address in the socket type's own form.
//! * `role`: a server session number (for the log prefix), or the owner a
//!   client connection reports its end to (the connector).
//!
//! Reading: on a readable edge, read into the reactor's one shared buffer and
//! hand the protocol a slice; a short read means drained (no extra read to
//! see `WouldBlock`). At most [`MAX_READS`] full reads per edge, then the rest
//! waits for the next iteration so one busy peer cannot starve the others.
//!
//! Calls into user code (the protocol, producers) happen with no borrow of
//! `state` held. Everything a user can trigger from inside a callback
//! (closing, aborting, half-closing, a write error) completes on a later
//! turn, so a protocol is never re-entered.

use std::cell::{Cell, RefCell};
use std::io::{self, IoSlice};
use std::rc::{Rc, Weak};
use std::sync::Arc;

use mio::Interest;

use crate::address::Address;
use crate::error::{ProducerError, Reason};
use crate::log::{LogContext, enter, guarded, log_panic};
use crate::protocol::Protocol;
use crate::reactor::{Inner, Reactor, Ready, Source};
use crate::transport::{HIGH_WATER, Producer, PushProducer, Transport, TransportImpl};

use super::{ConnectionOwner, StreamSocket};

/// Full reads handled per readable edge before yielding to other work.
const MAX_READS: usize = 16;
/// Parts gathered into one `writev` call.
const MAX_SLICES: usize = 16;
/// A drained write buffer larger than this is freed rather than kept.
const KEEP_BUFFER: usize = 4096;

/// Lifecycle bits of a connection.
mod flags {
    /// `connection_lost` was delivered (or is being delivered).
    pub(super) const LOST: u16 = 1;
    /// `lose_connection` was called: no more reading; close once flushed.
    pub(super) const DISCONNECTING: u16 = 1 << 1;
    /// `abort_connection` was called: nothing more is read or written.
    pub(super) const ABORTING: u16 = 1 << 2;
    /// `lose_write_connection` was called: shut down writing once flushed.
    pub(super) const WRITE_SHUT_ASKED: u16 = 1 << 3;
    /// The write side is shut down; writes are dropped.
    pub(super) const WRITE_SHUT: u16 = 1 << 4;
    /// The peer shut down its write side (half-closeable protocols).
    pub(super) const READ_EOF: u16 = 1 << 5;
    /// Reading is paused by `pause_reading`.
    pub(super) const READ_PAUSED: u16 = 1 << 6;
    /// A readable edge has not yet been drained.
    pub(super) const READ_PENDING: u16 = 1 << 7;
    /// The kernel refused bytes; waiting for a writable edge.
    pub(super) const WRITE_BLOCKED: u16 = 1 << 8;
    /// A write failed; the close is scheduled.
    pub(super) const WRITE_FAILED: u16 = 1 << 9;
    /// A pass of `drained` is scheduled.
    pub(super) const DRAIN_SCHEDULED: u16 = 1 << 10;
    /// The poller reported the peer's end of input (or an error).
    pub(super) const READ_HUP: u16 = 1 << 11;
}
use flags::*;

/// Which side of a connection this is.
pub(crate) enum Role {
    /// Accepted by a port (or adopted): the session number in the log prefix.
    Server {
        /// 0, 1, 2, ... per port.
        session: u32,
    },
    /// Made by a connector, which hears of the connection's end.
    Client {
        /// Told after the protocol's `connection_lost`.
        owner: Rc<dyn ConnectionOwner>,
    },
}

struct State<S> {
    stream: Option<S>,
    wbuf: Vec<u8>,
    wpos: usize,
    flags: u16,
    producer: Option<Producer>,
    producer_paused: bool,
}

impl<S> State<S> {
    fn has(&self, bits: u16) -> bool {
        self.flags & bits != 0
    }
    fn pending(&self) -> usize {
        self.wbuf.len() - self.wpos
    }
    fn append(&mut self, data: &[u8]) {
        if self.wpos > 0 && self.wpos >= self.wbuf.len() / 2 {
            self.wbuf.drain(..self.wpos);
            self.wpos = 0;
        }
        self.wbuf.extend_from_slice(data);
    }
    fn reset_buffer(&mut self) {
        self.wpos = 0;
        if self.wbuf.capacity() > KEEP_BUFFER {
            self.wbuf = Vec::new();
        } else {
            self.wbuf.clear();
        }
    }
}

/// One stream connection (see the module docs).
pub(crate) struct Connection<S: StreamSocket> {
    reactor: Weak<Inner>,
    me: Weak<Connection<S>>,
    token: Cell<usize>,
    state: RefCell<State<S>>,
    protocol: RefCell<Option<Box<dyn Protocol>>>,
    peer: S::Peer,
    role: Role,
    /// The protocol's log prefix, taken when the connection was made.
    prefix: std::borrow::Cow<'static, str>,
    half_closeable: bool,
}

impl<S: StreamSocket> Connection<S> {
    fn create(
        reactor: &Reactor,
        stream: S,
        peer: S::Peer,
        role: Role,
        protocol: Box<dyn Protocol>,
    ) -> Rc<Self> {
        let prefix = protocol.log_prefix();
        let half_closeable = protocol.half_closeable();
        Rc::new_cyclic(|me| Connection {
            reactor: reactor.downgrade(),
            me: me.clone(),
            token: Cell::new(usize::MAX),
            state: RefCell::new(State {
                stream: Some(stream),
                wbuf: Vec::new(),
                wpos: 0,
                flags: 0,
                producer: None,
                producer_paused: false,
            }),
            protocol: RefCell::new(Some(protocol)),
            peer,
            role,
            prefix,
            half_closeable,
        })
    }

    /// A server-side connection (accepted by a port, or adopted):
    /// registers it with the poller, once, for read and write readiness.
    /// `connection_made` follows with [`made`](Self::made).
    pub(crate) fn accept(
        reactor: &Reactor,
        stream: S,
        peer: S::Peer,
        session: u32,
        protocol: Box<dyn Protocol>,
    ) -> io::Result<Rc<Self>> {
        let conn = Connection::create(reactor, stream, peer, Role::Server { session }, protocol);
        let token = {
            let mut st = conn.state.borrow_mut();
            let stream = st.stream.as_mut().expect("a new connection has its socket");
            let source: Rc<dyn Source> = conn.clone();
            reactor.register(stream, Interest::READABLE | Interest::WRITABLE, |_| source)?
        };
        conn.token.set(token);
        Ok(conn)
    }

    /// A connection made by a connector whose socket is already registered
    /// under `token`: takes the token over. `owner` hears of its end.
    pub(crate) fn connected(
        reactor: &Reactor,
        stream: S,
        peer: S::Peer,
        token: usize,
        owner: Rc<dyn ConnectionOwner>,
        protocol: Box<dyn Protocol>,
    ) -> Rc<Self> {
        let conn = Connection::create(reactor, stream, peer, Role::Client { owner }, protocol);
        conn.token.set(token);
        reactor.replace_source(token, conn.clone());
        conn
    }

    fn reactor(&self) -> Option<Reactor> {
        Reactor::from_weak(&self.reactor)
    }

    fn rc(&self) -> Rc<Self> {
        self.me.upgrade().expect("a connection in use is alive")
    }

    fn transport(self: &Rc<Self>) -> Transport {
        Transport::new(self.clone())
    }

    fn flags(&self) -> u16 {
        self.state.borrow().flags
    }

    fn set(&self, bits: u16) {
        self.state.borrow_mut().flags |= bits;
    }

    fn clear(&self, bits: u16) {
        self.state.borrow_mut().flags &= !bits;
    }

    /// Runs a protocol callback with the protocol borrowed; `Err` on panic.
    fn with_protocol(&self, f: impl FnOnce(&mut dyn Protocol)) -> Result<(), Arc<str>> {
        let mut slot = self.protocol.borrow_mut();
        match slot.as_mut() {
            Some(p) => guarded(|| f(&mut **p)),
            None => Ok(()),
        }
    }

    /// Runs `f` on the socket; `NotConnected` once it is closed.
    fn with_socket<T>(&self, f: impl FnOnce(&S) -> io::Result<T>) -> io::Result<T> {
        match &self.state.borrow().stream {
            Some(s) => f(s),
            None => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// True until `connection_lost` (for the connector, right after `made`).
    pub(crate) fn is_connected_now(&self) -> bool {
        self.flags() & LOST == 0
    }

    /// Marks unread data as possible (a readable edge, or a fresh client
    /// connection that may have received bytes with its connect edge).
    /// `read_closed`: the edge also reported the peer's end of input, so a
    /// short read does not mean drained.
    pub(crate) fn mark_read_pending(&self, read_closed: bool) {
        self.set(if read_closed {
            READ_PENDING | READ_HUP
        } else {
            READ_PENDING
        });
    }

    /// Delivers `connection_made` (for a server, in the port's log context).
    pub(crate) fn made(self: &Rc<Self>) {
        let transport = self.transport();
        if let Err(msg) = self.with_protocol(|p| p.connection_made(&transport)) {
            log_panic("connection_made", &msg);
            self.close_now(Reason::Panicked(msg));
        }
    }

    /// Reads and delivers until drained, paused, closing or the batch is used.
    pub(crate) fn read_ready(self: &Rc<Self>) {
        let Some(reactor) = self.reactor() else {
            return;
        };
        let _ctx = enter(self.clone());
        let transport = self.transport();
        for _ in 0..MAX_READS {
            let flags = self.flags();
            if flags & (LOST | DISCONNECTING | ABORTING | READ_PAUSED | READ_EOF | WRITE_FAILED)
                != 0
                || flags & READ_PENDING == 0
            {
                return;
            }
            let mut buf = reactor.take_read_buf();
            let result = match &self.state.borrow().stream {
                Some(stream) => stream.read(&mut buf),
                None => Ok(0),
            };
            match result {
                Ok(0) => {
                    reactor.put_read_buf(buf);
                    self.clear(READ_PENDING);
                    self.read_eof();
                    return;
                }
                Ok(n) => {
                    // A short read means drained, unless the peer's end of
                    // input came with this edge: then read on until 0, as no
                    // further edge will come for it.
                    let drained = n < buf.len() && self.flags() & READ_HUP == 0;
                    if drained {
                        self.clear(READ_PENDING);
                    }
                    let outcome = self.with_protocol(|p| p.data_received(&transport, &buf[..n]));
                    reactor.put_read_buf(buf);
                    if let Err(msg) = outcome {
                        log_panic("data_received", &msg);
                        self.close_now(Reason::Panicked(msg));
                        return;
                    }
                    if drained {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    reactor.put_read_buf(buf);
                    self.clear(READ_PENDING);
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => reactor.put_read_buf(buf),
                Err(e) => {
                    reactor.put_read_buf(buf);
                    self.close_now(Reason::lost(e));
                    return;
                }
            }
        }
        let me = self.clone();
        reactor.call_soon(move || me.read_ready());
    }

    /// The peer shut down its sending side.
    fn read_eof(self: &Rc<Self>) {
        if !self.half_closeable {
            self.close_now(Reason::Done);
            return;
        }
        self.set(READ_EOF);
        let transport = self.transport();
        if let Err(msg) = self.with_protocol(|p| p.read_connection_lost(&transport)) {
            log_panic("read_connection_lost", &msg);
            self.close_now(Reason::Panicked(msg));
        }
    }

    /// Writes buffered bytes until done or refused; then runs `drained`.
    fn flush(self: &Rc<Self>) {
        let result = {
            let mut st = self.state.borrow_mut();
            let mut outcome = Ok(true);
            while st.pending() > 0 {
                let State {
                    stream, wbuf, wpos, ..
                } = &mut *st;
                let Some(stream) = stream.as_ref() else { break };
                match stream.write(&wbuf[*wpos..]) {
                    Ok(n) => *wpos += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        outcome = Ok(false);
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        outcome = Err(e);
                        break;
                    }
                }
            }
            if let Ok(true) = outcome {
                st.flags &= !WRITE_BLOCKED;
                st.reset_buffer();
            }
            outcome
        };
        match result {
            Ok(true) => self.drained(),
            Ok(false) => {}
            Err(e) => {
                let _ctx = enter(self.clone());
                self.close_now(Reason::lost(e));
            }
        }
    }

    /// The write buffer is empty: resume producers, finish a close or a
    /// half-close. Runs in reactor context (never inside a user callback).
    fn drained(self: &Rc<Self>) {
        let (producer, resume, disconnecting, shut_write) = {
            let mut st = self.state.borrow_mut();
            st.flags &= !DRAIN_SCHEDULED;
            if st.has(LOST | ABORTING | WRITE_FAILED) || st.pending() > 0 {
                return;
            }
            let resume = match &st.producer {
                Some(Producer::Pull(_)) => true,
                Some(Producer::Streaming(_)) => st.producer_paused,
                None => false,
            };
            if resume {
                st.producer_paused = false;
            }
            let shut_write = st.has(WRITE_SHUT_ASKED) && !st.has(WRITE_SHUT);
            (
                st.producer.clone(),
                resume,
                st.has(DISCONNECTING),
                shut_write,
            )
        };
        let _ctx = enter(self.clone());
        if resume {
            let outcome = guarded(|| match producer.as_ref() {
                Some(Producer::Pull(p)) => p.resume_producing(),
                Some(Producer::Streaming(p)) => p.resume_producing(),
                None => {}
            });
            if let Err(msg) = outcome {
                log_panic("resume_producing", &msg);
                self.close_now(Reason::Panicked(msg));
                return;
            }
            // A write the producer made either is buffered (a writable edge
            // follows) or went out whole (`write_sequence` schedules a drain
            // for a pull producer). A producer that wrote nothing is not
            // asked again until it writes, as in Twisted. A waiting close or
            // half-close is finished on the next pass.
            if disconnecting || shut_write {
                self.schedule_drained();
            }
            return;
        }
        if disconnecting {
            self.close_now(Reason::Done);
            return;
        }
        if shut_write {
            self.shutdown_write();
        }
    }

    fn schedule_drained(self: &Rc<Self>) {
        {
            let mut st = self.state.borrow_mut();
            if st.has(DRAIN_SCHEDULED | LOST) || st.pending() > 0 {
                return;
            }
            st.flags |= DRAIN_SCHEDULED;
        }
        if let Some(reactor) = self.reactor() {
            let me = self.clone();
            reactor.call_soon(move || me.drained());
        }
    }

    fn shutdown_write(self: &Rc<Self>) {
        let result = {
            let mut st = self.state.borrow_mut();
            st.flags |= WRITE_SHUT;
            match &st.stream {
                Some(s) => s.shutdown_write(),
                None => Ok(()),
            }
        };
        if let Err(e) = result {
            self.close_now(Reason::lost(e));
            return;
        }
        if self.half_closeable {
            let transport = self.transport();
            if let Err(msg) = self.with_protocol(|p| p.write_connection_lost(&transport)) {
                log_panic("write_connection_lost", &msg);
                self.close_now(Reason::Panicked(msg));
            }
        }
    }

    /// Closes the socket and delivers `connection_lost(reason)` now.
    /// Runs in reactor context only.
    pub(crate) fn close_now(self: &Rc<Self>, reason: Reason) {
        let (stream, producer) = {
            let mut st = self.state.borrow_mut();
            if st.has(LOST) {
                return;
            }
            st.flags |= LOST;
            st.wbuf = Vec::new();
            st.wpos = 0;
            (st.stream.take(), st.producer.take())
        };
        let reactor = self.reactor();
        if let Some(stream) = stream {
            // No `EPOLL_CTL_DEL`: closing the socket takes it out of the
            // poller, as this connection holds its only descriptor (one
            // system call less per connection). Should a forked child still
            // hold it, a late event for the token is spurious and harmless:
            // a read finds `WouldBlock`, a connector finds no connection.
            if let Some(r) = &reactor {
                r.forget(self.token.get());
            }
            drop(stream);
            if let Some(r) = &reactor {
                r.descriptor_freed();
            }
        } else if let Some(r) = &reactor {
            r.forget(self.token.get());
        }
        let _ctx = enter(self.clone());
        if let Some(producer) = producer
            && let Err(msg) = guarded(|| producer.stop_producing())
        {
            log_panic("stop_producing", &msg);
        }
        let protocol = self.protocol.borrow_mut().take();
        if let Some(mut protocol) = protocol
            && let Err(msg) = guarded(|| protocol.connection_lost(reason.clone()))
        {
            log_panic("connection_lost", &msg);
        }
        if let Role::Client { owner } = &self.role {
            owner.connection_lost(&reason);
        }
    }

    /// Schedules `close_now(reason)` for the next iteration.
    fn close_soon(&self, reason: Reason) {
        if let Some(reactor) = self.reactor() {
            let me = self.rc();
            reactor.call_soon(move || me.close_now(reason));
        }
    }

    /// After a write: pause a streaming producer above the high-water mark.
    fn check_high_water(&self) {
        let producer = {
            let mut st = self.state.borrow_mut();
            match &st.producer {
                Some(Producer::Streaming(p)) if st.pending() > HIGH_WATER => {
                    let p = p.clone();
                    st.producer_paused = true;
                    p
                }
                _ => return,
            }
        };
        if let Err(msg) = guarded(|| producer.pause_producing()) {
            log_panic("pause_producing", &msg);
        }
    }

    fn write_failed(&self, st: &mut State<S>, err: io::Error) {
        st.flags |= WRITE_FAILED;
        st.wbuf = Vec::new();
        st.wpos = 0;
        self.close_soon(Reason::lost(err));
    }
}

/// Writes as much of `parts` (`total` bytes) as the kernel takes; returns
/// the bytes written.
/// Gathers up to [`MAX_SLICES`] parts per `writev`, without allocating.
fn write_now<S: StreamSocket>(stream: &S, parts: &[&[u8]], total: usize) -> io::Result<usize> {
    let mut written = 0;
    while written < total {
        let result = if let [only] = parts {
            stream.write(&only[written..])
        } else {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let mut count = 0;
            let mut skip = written;
            for p in parts {
                if skip >= p.len() {
                    skip -= p.len();
                    continue;
                }
                if count == MAX_SLICES {
                    break;
                }
                slices[count] = IoSlice::new(&p[skip..]);
                count += 1;
                skip = 0;
            }
            stream.write_vectored(&slices[..count])
        };
        match result {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}

impl<S: StreamSocket> Source for Connection<S> {
    /// Readiness from the poller: flush a blocked write, then read. When
    /// `read_closed`, the peer's end of input (or an error) came with the data.
    fn ready(self: Rc<Self>, _token: usize, ready: Ready) {
        if ready.writable && self.flags() & WRITE_BLOCKED != 0 {
            self.flush();
        }
        if ready.readable {
            self.mark_read_pending(ready.read_closed);
            self.read_ready();
        }
    }

    /// Reactor shutdown: the connection is lost with [`Reason::Shutdown`].
    fn shutdown(self: Rc<Self>) {
        self.close_now(Reason::Shutdown);
    }
}

impl<S: StreamSocket> TransportImpl for Connection<S> {
    fn write(&self, data: &[u8]) {
        self.write_sequence(&[data]);
    }

    fn write_sequence(&self, parts: &[&[u8]]) {
        {
            let mut st = self.state.borrow_mut();
            if st.has(LOST | ABORTING | WRITE_SHUT | WRITE_FAILED) {
                return;
            }
            let total: usize = match parts {
                [only] => only.len(),
                _ => parts.iter().map(|p| p.len()).sum(),
            };
            if total == 0 {
                return;
            }
            if st.pending() == 0 && !st.has(WRITE_BLOCKED) {
                let result = match &st.stream {
                    Some(stream) => write_now(stream, parts, total),
                    None => return,
                };
                match result {
                    Ok(n) if n == total => {
                        // Sent whole: the buffer "drained" at once. A pull
                        // producer is asked for more, as after any drain.
                        let pull = matches!(st.producer, Some(Producer::Pull(_)));
                        drop(st);
                        if pull {
                            self.rc().schedule_drained();
                        }
                        return;
                    }
                    Ok(mut n) => {
                        for p in parts {
                            if n >= p.len() {
                                n -= p.len();
                            } else {
                                st.append(&p[n..]);
                                n = 0;
                            }
                        }
                        st.flags |= WRITE_BLOCKED;
                    }
                    Err(e) => {
                        self.write_failed(&mut st, e);
                        return;
                    }
                }
            } else {
                for p in parts {
                    st.append(p);
                }
            }
        }
        self.check_high_water();
    }

    fn lose_connection(&self) {
        let empty = {
            let mut st = self.state.borrow_mut();
            if st.has(LOST | DISCONNECTING | ABORTING) {
                return;
            }
            st.flags |= DISCONNECTING;
            st.pending() == 0
        };
        if empty {
            self.rc().schedule_drained();
        }
    }

    fn abort_connection(&self) {
        {
            let mut st = self.state.borrow_mut();
            if st.has(LOST | ABORTING) {
                return;
            }
            st.flags |= ABORTING;
            st.wbuf = Vec::new();
            st.wpos = 0;
            if let Some(stream) = &st.stream {
                stream.reset_on_close();
            }
        }
        self.close_soon(Reason::Aborted);
    }

    fn lose_write_connection(&self) {
        let empty = {
            let mut st = self.state.borrow_mut();
            if st.has(LOST | ABORTING | WRITE_SHUT_ASKED) {
                return;
            }
            st.flags |= WRITE_SHUT_ASKED;
            st.pending() == 0
        };
        if empty {
            self.rc().schedule_drained();
        }
    }

    fn peer(&self) -> Address {
        S::peer_address(&self.peer)
    }

    fn host(&self) -> Address {
        let local = self
            .state
            .borrow()
            .stream
            .as_ref()
            .and_then(|s| s.local_address().ok());
        local.unwrap_or_else(S::closed_address)
    }

    fn set_no_delay(&self, enabled: bool) -> io::Result<()> {
        self.with_socket(|s| s.set_no_delay(enabled))
    }

    fn no_delay(&self) -> io::Result<bool> {
        self.with_socket(|s| s.no_delay())
    }

    fn set_keep_alive(&self, enabled: bool) -> io::Result<()> {
        self.with_socket(|s| s.set_keep_alive(enabled))
    }

    fn keep_alive(&self) -> io::Result<bool> {
        self.with_socket(|s| s.keep_alive())
    }

    fn set_keep_alive_timing(
        &self,
        idle: std::time::Duration,
        interval: std::time::Duration,
        count: u32,
    ) -> io::Result<()> {
        self.with_socket(|s| s.set_keep_alive_timing(idle, interval, count))
    }

    fn pause_reading(&self) {
        self.set(READ_PAUSED);
    }

    fn resume_reading(&self) {
        let flags = self.flags();
        if flags & READ_PAUSED == 0 {
            return;
        }
        self.clear(READ_PAUSED);
        if flags & READ_PENDING != 0
            && flags & (LOST | DISCONNECTING | ABORTING) == 0
            && let Some(reactor) = self.reactor()
        {
            let me = self.rc();
            reactor.call_soon(move || me.read_ready());
        }
    }

    fn register_producer(&self, producer: Producer) -> Result<(), ProducerError> {
        {
            let mut st = self.state.borrow_mut();
            if !st.has(LOST | ABORTING) {
                if st.producer.is_some() {
                    return Err(ProducerError);
                }
                st.producer = Some(producer.clone());
                st.producer_paused = false;
            }
        }
        if !self.is_connected() || self.flags() & ABORTING != 0 {
            producer.stop_producing();
            return Ok(());
        }
        if let Producer::Pull(p) = &producer {
            // A chunk it writes that goes out whole schedules the next ask
            // (see `write_sequence`); a buffered one brings a writable edge.
            p.resume_producing();
        }
        Ok(())
    }

    fn unregister_producer(&self) {
        let closing = {
            let mut st = self.state.borrow_mut();
            st.producer = None;
            st.producer_paused = false;
            st.has(DISCONNECTING | WRITE_SHUT_ASKED) && st.pending() == 0
        };
        if closing {
            self.rc().schedule_drained();
        }
    }

    fn is_connected(&self) -> bool {
        self.flags() & LOST == 0
    }

    fn is_disconnecting(&self) -> bool {
        self.flags() & (DISCONNECTING | ABORTING) != 0
    }

    fn buffered(&self) -> usize {
        self.state.borrow().pending()
    }

    fn log_prefix(&self) -> String {
        self.system()
    }

    fn as_push_producer(self: Rc<Self>) -> Option<Rc<dyn PushProducer>> {
        Some(self)
    }
}

/// The connection as a producer of what it reads (see
/// [`Transport::as_producer`]); the same behaviour as `Transport`'s impl.
impl<S: StreamSocket> PushProducer for Connection<S> {
    fn pause_producing(&self) {
        self.pause_reading();
    }
    fn resume_producing(&self) {
        crate::transport::resume_reading_unless_closing(self);
    }
    fn stop_producing(&self) {
        self.lose_connection();
    }
}

impl<S: StreamSocket> LogContext for Connection<S> {
    fn system(&self) -> String {
        match &self.role {
            Role::Server { session } => {
                let host = S::peer_log_host(&self.peer);
                format!("{},{},{}", self.prefix, session, host)
            }
            Role::Client { .. } => format!("{},client", self.prefix),
        }
    }
}
#[cfg(test)]
mod tests {
    /// A TCP connection's whole per-connection state stays one allocation
    /// of at most 216 bytes: the idle-memory budget BENCHMARKS.md measures
    /// (about 239 B per idle connection with the slab slot and malloc's
    /// header). A field added here must pay for itself.
    #[test]
    fn a_tcp_connection_fits_the_idle_budget() {
        let size = std::mem::size_of::<super::Connection<mio::net::TcpStream>>();
        assert!(size <= 216, "Connection<TcpStream> is {size} bytes");
    }
}
