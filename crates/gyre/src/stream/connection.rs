//! One established stream connection: the mechanism behind a [`Transport`],
//! generic over the socket (`S`: TCP, a UNIX stream socket, ...).
//!
//! Owns the socket, the protocol, and the write buffer. Field by field:
//!
//! * `state.stream`: the socket, `None` once closed. Registered once with the
//!   poller, edge-triggered, for both read and write readiness: writing never
//!   costs an `epoll_ctl`.
//! * `state.wbuf[wpos..]`: bytes written and not yet taken by the kernel:
//!   output queued during this turn, and what the kernel refused. Empty in
//!   the steady state; an emptied buffer goes back to the reactor's pool,
//!   so idle connections hold none.
//! * `state.limit`: the write cap (bytes that may wait in `wbuf`), with the
//!   `DROP_OVER_LIMIT` flag saying what happens past it.
//! * `state.flags`: the lifecycle (see [`flags`]).
//! * `state.producer`: the registered producer, and whether we paused it.
//! * `protocol`: the user's protocol, `None` after `connection_lost`.
//! * `peer`: the remote address in the socket type's own form.
//! * `role`: a server session number (for the log prefix), or the owner a
//!   client connection reports its end to (the connector).
//! * `log_peer`: the peer a wrapper asked the log prefix to show instead of
//!   the socket's ([`Transport::set_log_peer`]); `None` until then. It
//!   takes the word the half-closeable bool used to (now the
//!   `HALF_CLOSEABLE` flag), keeping the connection at its idle budget.
//!
//! Reading: on a readable edge, read into the reactor's one shared buffer and
//! hand the protocol a slice; a short read means drained (no extra read to
//! see `WouldBlock`). At most [`MAX_READS`] full reads per edge, then the rest
//! waits for the next iteration so one busy peer cannot starve the others.
//!
//! Writing, at most two write calls per connection per turn: the first
//! write since the connection last read, when nothing is queued, goes to
//! the kernel at once, straight from the caller's bytes (the echo case: no
//! copy, no delay). Every other write (a second one in the same callback,
//! more output to a peer that has not spoken since) is appended to `wbuf`
//! and the connection asks the reactor to flush it at the end of the turn,
//! once, however many writes were queued: a burst of chat lines fanned out
//! to 200 users is at most 400 write calls per turn, not one per line per
//! user. Past 64 KiB queued in one turn the queue is offered to the kernel
//! at once (a write call per 64 KiB), so a callback that writes megabytes
//! to a reading peer is not mistaken for a slow consumer. What the kernel
//! refuses waits for the writable edge. All of it counts against the write
//! cap: past it the connection is closed as a slow consumer
//! ([`Reason::SlowConsumer`]) or the write is dropped, as the protocol chose.
//!
//! Work per turn: writes are charged to the turn's budget
//! (`reactor::budget`); once it is spent, the connection stops reading and
//! continues on a later turn, so a burst fanned out to many peers cannot
//! hold the loop.
//!
//! Calls into user code (the protocol, producers) happen with no borrow of
//! `state` held. Everything a user can trigger from inside a callback
//! (closing, aborting, half-closing, a write error) completes on a later
//! turn, so a protocol is never re-entered.

use std::cell::{Cell, RefCell};
use std::io::{self, IoSlice};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::Duration;

use mio::Interest;

use crate::address::Address;
use crate::error::{ProducerError, Reason};
use crate::log::{LogContext, dispatching, enter, guarded, log_panic};
use crate::protocol::Protocol;
use crate::reactor::{Inner, Reactor, Ready, Source, budget};
use crate::transport::{HIGH_WATER, Producer, PushProducer, Transport, TransportImpl, WriteLimit};

use super::{ConnectionOwner, StreamSocket};

/// Full reads handled per readable edge before yielding to other work.
const MAX_READS: usize = 16;
/// Parts gathered into one `writev` call.
const MAX_SLICES: usize = 16;
/// `state.limit` when there is no cap.
const NO_LIMIT: u32 = u32::MAX;
/// Output queued in one turn past which it is offered to the kernel at
/// once rather than at the end of the turn (so a callback that writes
/// megabytes to a reading peer costs a write call per 64 KiB, and the
/// write cap counts only what the kernel refuses).
const EARLY_SEND: usize = 64 * 1024;

/// Lifecycle bits of a connection.
mod flags {
    /// `connection_lost` was delivered (or is being delivered).
    pub(super) const LOST: u32 = 1;
    /// `lose_connection` was called: no more reading; close once flushed.
    pub(super) const DISCONNECTING: u32 = 1 << 1;
    /// `abort_connection` was called: nothing more is read or written.
    pub(super) const ABORTING: u32 = 1 << 2;
    /// `lose_write_connection` was called: shut down writing once flushed.
    pub(super) const WRITE_SHUT_ASKED: u32 = 1 << 3;
    /// The write side is shut down; writes are dropped.
    pub(super) const WRITE_SHUT: u32 = 1 << 4;
    /// The peer shut down its write side (half-closeable protocols).
    pub(super) const READ_EOF: u32 = 1 << 5;
    /// Reading is paused by `pause_reading`.
    pub(super) const READ_PAUSED: u32 = 1 << 6;
    /// A readable edge has not yet been drained.
    pub(super) const READ_PENDING: u32 = 1 << 7;
    /// The kernel refused bytes; waiting for a writable edge.
    pub(super) const WRITE_BLOCKED: u32 = 1 << 8;
    /// A write failed; the close is scheduled.
    pub(super) const WRITE_FAILED: u32 = 1 << 9;
    /// A pass of `drained` is scheduled.
    pub(super) const DRAIN_SCHEDULED: u32 = 1 << 10;
    /// The poller reported the peer's end of input (or an error).
    pub(super) const READ_HUP: u32 = 1 << 11;
    /// A write went to the kernel at once since the connection last read:
    /// later writes are queued until it reads again.
    pub(super) const WROTE_DIRECT: u32 = 1 << 13;
    /// Output is queued and the reactor will flush it this turn.
    pub(super) const QUEUED: u32 = 1 << 14;
    /// Past the write cap, drop writes instead of closing.
    pub(super) const DROP_OVER_LIMIT: u32 = 1 << 15;
    /// The protocol yielded: read nothing until it has been called again.
    pub(super) const YIELDED: u32 = 1 << 16;
    /// A write was dropped for the cap and that was logged.
    pub(super) const DROP_LOGGED: u32 = 1 << 17;
    /// The protocol is half-closeable (fixed when the connection is made).
    pub(super) const HALF_CLOSEABLE: u32 = 1 << 18;
    /// The registered streaming producer was paused by the high-water mark.
    pub(super) const PRODUCER_PAUSED: u32 = 1 << 19;
    /// Writes are dropped in any of these states.
    pub(super) const CLOSED_FOR_WRITES: u32 = LOST | ABORTING | WRITE_SHUT | WRITE_FAILED;
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
    /// Where the unsent bytes start in `wbuf` (a `u32` to keep the
    /// connection small; [`State::advance`] compacts before it would wrap).
    wpos: u32,
    flags: u32,
    limit: u32,
    producer: Option<Producer>,
}

impl<S> State<S> {
    fn has(&self, bits: u32) -> bool {
        self.flags & bits != 0
    }
    fn pending(&self) -> usize {
        self.wbuf.len() - self.wpos as usize
    }
    fn append(&mut self, data: &[u8]) {
        let wpos = self.wpos as usize;
        if wpos > 0 && wpos >= self.wbuf.len() / 2 {
            self.wbuf.drain(..wpos);
            self.wpos = 0;
        }
        self.wbuf.extend_from_slice(data);
    }
    /// Marks `n` more bytes as sent.
    fn advance(&mut self, n: usize) {
        let pos = self.wpos as usize + n;
        match u32::try_from(pos) {
            Ok(pos) => self.wpos = pos,
            Err(_) => {
                self.wbuf.drain(..pos);
                self.wpos = 0;
            }
        }
    }
    fn producer_paused(&self) -> bool {
        self.has(PRODUCER_PAUSED)
    }
    fn set_producer_paused(&mut self, paused: bool) {
        if paused {
            self.flags |= PRODUCER_PAUSED;
        } else {
            self.flags &= !PRODUCER_PAUSED;
        }
    }
    /// Empties the buffer; returns it for the reactor's pool.
    fn take_buffer(&mut self) -> Vec<u8> {
        self.wpos = 0;
        std::mem::take(&mut self.wbuf)
    }
    fn write_limit(&self) -> WriteLimit {
        match (self.limit, self.has(DROP_OVER_LIMIT)) {
            (NO_LIMIT, _) => WriteLimit::Unlimited,
            (n, false) => WriteLimit::Close(n as usize),
            (n, true) => WriteLimit::Drop(n as usize),
        }
    }
    fn set_write_limit(&mut self, limit: WriteLimit) {
        let (n, drop) = match limit {
            WriteLimit::Close(n) => (n, false),
            WriteLimit::Drop(n) => (n, true),
            WriteLimit::Unlimited => (usize::MAX, false),
        };
        self.limit = u32::try_from(n).unwrap_or(NO_LIMIT);
        if drop {
            self.flags |= DROP_OVER_LIMIT;
        } else {
            self.flags &= !DROP_OVER_LIMIT;
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
    /// Shown in a server connection's log prefix instead of `peer`.
    log_peer: Cell<Option<Box<Address>>>,
}

impl<S: StreamSocket> Connection<S> {
    fn create(
        reactor: &Reactor,
        stream: S,
        peer: S::Peer,
        role: Role,
        protocol: Box<dyn Protocol>,
        limit: WriteLimit,
    ) -> Rc<Self> {
        let prefix = protocol.log_prefix();
        let mut state = State {
            stream: Some(stream),
            wbuf: Vec::new(),
            wpos: 0,
            flags: if protocol.half_closeable() {
                HALF_CLOSEABLE
            } else {
                0
            },
            limit: NO_LIMIT,
            producer: None,
        };
        state.set_write_limit(limit);
        Rc::new_cyclic(|me| Connection {
            reactor: reactor.downgrade(),
            me: me.clone(),
            token: Cell::new(usize::MAX),
            state: RefCell::new(state),
            protocol: RefCell::new(Some(protocol)),
            peer,
            role,
            prefix,
            log_peer: Cell::new(None),
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
        limit: WriteLimit,
    ) -> io::Result<Rc<Self>> {
        let role = Role::Server { session };
        let conn = Connection::create(reactor, stream, peer, role, protocol, limit);
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
        limit: WriteLimit,
    ) -> Rc<Self> {
        let role = Role::Client { owner };
        let conn = Connection::create(reactor, stream, peer, role, protocol, limit);
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

    fn flags(&self) -> u32 {
        self.state.borrow().flags
    }

    fn set(&self, bits: u32) {
        self.state.borrow_mut().flags |= bits;
    }

    fn clear(&self, bits: u32) {
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
    /// It also starts the connection's turn: its first write may go to the
    /// kernel at once again (see `WROTE_DIRECT`).
    pub(crate) fn mark_read_pending(&self, read_closed: bool) {
        let mut st = self.state.borrow_mut();
        let bits = if read_closed {
            READ_PENDING | READ_HUP
        } else {
            READ_PENDING
        };
        st.flags = (st.flags | bits) & !WROTE_DIRECT;
    }

    /// Delivers `connection_made` (for a server, in the port's log context).
    pub(crate) fn made(self: &Rc<Self>) {
        let transport = self.transport();
        crate::blocked::site("connection_made", self.token.get());
        if let Err(msg) = self.with_protocol(|p| p.connection_made(&transport)) {
            log_panic("connection_made", &msg);
            self.close_now(Reason::Panicked(msg));
        }
    }

    /// Reads and delivers until drained, paused, closing, the batch is used
    /// or the turn's budget is spent.
    pub(crate) fn read_ready(self: &Rc<Self>) {
        let Some(reactor) = self.reactor() else {
            return;
        };
        // Registered under its token while it reads (it forgets the token
        // only in `close_now`, which enters its own context), and called
        // only with no object entered: see `log::dispatching`.
        let _ctx = dispatching(self.token.get());
        let transport = self.transport();
        for _ in 0..MAX_READS {
            let flags = self.flags();
            if flags
                & (LOST
                    | DISCONNECTING
                    | ABORTING
                    | READ_PAUSED
                    | READ_EOF
                    | WRITE_FAILED
                    | YIELDED)
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
                    crate::blocked::site("data_received", self.token.get());
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
                    if budget::exhausted() {
                        // This peer's callbacks spent the turn: read the
                        // rest on a later one, after the others.
                        break;
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
        if self.flags() & HALF_CLOSEABLE == 0 {
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

    /// Writes buffered bytes until done or refused (a writable edge after
    /// the kernel refused some); then runs `drained`.
    fn flush_blocked(self: &Rc<Self>) {
        let result = {
            let mut st = self.state.borrow_mut();
            let mut outcome = Ok(true);
            while st.pending() > 0 {
                let State {
                    stream, wbuf, wpos, ..
                } = &mut *st;
                let Some(stream) = stream.as_ref() else { break };
                match stream.write(&wbuf[*wpos as usize..]) {
                    Ok(n) => st.advance(n),
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
                let emptied = st.take_buffer();
                drop(st);
                self.recycle(emptied);
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
                Some(Producer::Streaming(_)) => st.producer_paused(),
                None => false,
            };
            if resume {
                st.set_producer_paused(false);
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

    /// The rest of a direct write the kernel did not take whole: what it
    /// refused is buffered until the writable edge; an error closes the
    /// connection on the next turn.
    #[cold]
    #[inline(never)]
    fn direct_rest(
        &self,
        mut st: std::cell::RefMut<'_, State<S>>,
        parts: &[&[u8]],
        result: io::Result<usize>,
    ) {
        match result {
            Ok(n) => {
                if st.wbuf.capacity() == 0
                    && let Some(reactor) = self.reactor()
                {
                    st.wbuf = reactor.take_write_buf();
                }
                append_from(&mut st, parts, n);
                st.flags |= WRITE_BLOCKED;
            }
            Err(e) => self.write_failed(&mut st, e),
        }
    }

    /// Queues a write for the turn's one write call (or behind bytes the
    /// kernel refused), within the write cap.
    #[inline(never)]
    fn write_queued(&self, parts: &[&[u8]], total: usize) {
        {
            let mut st = self.state.borrow_mut();
            if st.has(CLOSED_FOR_WRITES) || total == 0 {
                return;
            }
            let pending = st.pending();
            if pending > 0 && pending + total > st.limit as usize {
                self.over_limit(&mut st, pending + total);
                return;
            }
            if st.wbuf.capacity() == 0
                && let Some(reactor) = self.reactor()
            {
                st.wbuf = reactor.take_write_buf();
            }
            for p in parts {
                st.append(p);
            }
            if st.has(WRITE_BLOCKED) {
                // Goes out behind what the kernel refused, on the writable edge.
            } else if st.pending() >= EARLY_SEND {
                // Enough queued this turn to be worth a write call now: the
                // cap then counts only what the kernel refuses. The drain
                // (producers, a pending close) is left to the end of the
                // turn, never run inside this write.
                if let Err(e) = send_buffered(&mut st) {
                    self.write_failed(&mut st, e);
                    return;
                }
                self.queue_once(st);
            } else {
                self.queue_once(st);
            }
        }
        self.check_high_water();
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
        if self.flags() & HALF_CLOSEABLE != 0 {
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

    /// Gives an emptied write buffer back to the reactor's pool.
    fn recycle(&self, buf: Vec<u8>) {
        if buf.capacity() > 0
            && let Some(reactor) = self.reactor()
        {
            reactor.put_write_buf(buf);
        }
    }

    /// Sends the output queued during this turn, in one write call (the
    /// reactor calls this once per turn, see `queue_flush`).
    fn flush_queued(self: &Rc<Self>) {
        let result = {
            let mut st = self.state.borrow_mut();
            st.flags &= !QUEUED;
            if st.has(LOST | ABORTING | WRITE_FAILED | WRITE_BLOCKED) {
                return;
            }
            send_buffered(&mut st)
        };
        match result {
            Ok(0) => {
                let emptied = self.state.borrow_mut().take_buffer();
                self.recycle(emptied);
                self.drained();
            }
            Ok(_) => {}
            Err(e) => {
                let _ctx = enter(self.clone());
                self.close_now(Reason::lost(e));
            }
        }
    }

    /// Asks the reactor to flush this connection at the end of the turn,
    /// unless it already has.
    fn queue_once(&self, mut st: std::cell::RefMut<'_, State<S>>) {
        if st.has(QUEUED | WRITE_BLOCKED) {
            return;
        }
        st.flags |= QUEUED;
        drop(st);
        if let Some(reactor) = self.reactor() {
            reactor.queue_flush(self.rc());
        }
    }

    /// A write would put more than the cap in the buffer: close the
    /// connection as a slow consumer (the default), or drop the write.
    fn over_limit(&self, st: &mut State<S>, would_wait: usize) {
        let limit = st.limit as usize;
        let me = self.rc();
        if st.has(DROP_OVER_LIMIT) {
            if !st.has(DROP_LOGGED) {
                st.flags |= DROP_LOGGED;
                let _ctx = enter(me);
                log::warn!(
                    target: "gyre",
                    "Dropping writes: {would_wait} bytes would wait to be sent, over the limit of {limit}"
                );
            }
            return;
        }
        st.flags |= ABORTING | WRITE_FAILED;
        st.wbuf = Vec::new();
        st.wpos = 0;
        if let Some(stream) = &st.stream {
            stream.reset_on_close();
        }
        {
            let _ctx = enter(me.clone());
            log::info!(
                target: "gyre",
                "Closing connection: {would_wait} bytes would wait to be sent, over the limit of {limit} (slow consumer)"
            );
        }
        if let Some(reactor) = self.reactor() {
            reactor.call_soon(move || {
                me.close_now(Reason::SlowConsumer {
                    buffered: would_wait,
                    limit,
                })
            });
        }
    }

    /// The protocol yielded (`Transport::yield_reading`): call it again
    /// with no data on the next turn, then go on reading.
    fn resume_yielded(self: &Rc<Self>) {
        if self.flags() & (LOST | YIELDED) != YIELDED {
            return;
        }
        self.clear(YIELDED);
        {
            let _ctx = enter(self.clone());
            let transport = self.transport();
            if let Err(msg) = self.with_protocol(|p| p.data_received(&transport, &[])) {
                log_panic("data_received", &msg);
                self.close_now(Reason::Panicked(msg));
                return;
            }
        }
        self.read_ready();
    }

    /// After a write: pause a streaming producer above the high-water mark.
    fn check_high_water(&self) {
        let producer = {
            let mut st = self.state.borrow_mut();
            match &st.producer {
                Some(Producer::Streaming(p)) if st.pending() > HIGH_WATER => {
                    let p = p.clone();
                    st.set_producer_paused(true);
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

/// Offers the buffered bytes to the kernel in one write call; returns how
/// many are left. What the kernel refuses waits for the writable edge
/// (`WRITE_BLOCKED`).
fn send_buffered<S: StreamSocket>(st: &mut State<S>) -> io::Result<usize> {
    if st.pending() == 0 {
        return Ok(0);
    }
    let State {
        stream, wbuf, wpos, ..
    } = &mut *st;
    let Some(stream) = stream.as_ref() else {
        return Ok(wbuf.len() - *wpos as usize);
    };
    let written = loop {
        match stream.write(&wbuf[*wpos as usize..]) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break 0,
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => break n,
            Err(e) => return Err(e),
        }
    };
    st.advance(written);
    let left = st.pending();
    if left > 0 {
        st.flags |= WRITE_BLOCKED;
    }
    Ok(left)
}

/// Appends what is left of `parts` after the first `written` bytes.
fn append_from<S>(st: &mut State<S>, parts: &[&[u8]], mut written: usize) {
    for p in parts {
        if written >= p.len() {
            written -= p.len();
        } else {
            st.append(&p[written..]);
            written = 0;
        }
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
            self.flush_blocked();
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

    fn flush(self: Rc<Self>) {
        self.flush_queued();
    }

    fn log_system(&self) -> Option<String> {
        Some(self.system())
    }
}

impl<S: StreamSocket> TransportImpl for Connection<S> {
    fn write(&self, data: &[u8]) {
        self.write_sequence(&[data]);
    }

    fn write_sequence(&self, parts: &[&[u8]]) {
        let total: usize = match parts {
            [only] => only.len(),
            _ => parts.iter().map(|p| p.len()).sum(),
        };
        budget::charge(total);
        {
            let mut st = self.state.borrow_mut();
            // Nothing queued or blocked means nothing buffered (`wbuf` only
            // holds bytes while one of the two is set).
            if st.flags & (CLOSED_FOR_WRITES | WROTE_DIRECT | WRITE_BLOCKED | QUEUED) == 0
                && total > 0
            {
                // The first write since the connection last read, nothing
                // queued: straight to the kernel from the caller's bytes.
                st.flags |= WROTE_DIRECT;
                let result = match &st.stream {
                    Some(stream) => write_now(stream, parts, total),
                    None => return,
                };
                match result {
                    Ok(n) if n == total => {
                        // Sent whole: the buffer "drained" at once. A pull
                        // producer is asked for more, as after any drain.
                        if let Some(Producer::Pull(_)) = st.producer {
                            drop(st);
                            self.rc().schedule_drained();
                        }
                    }
                    result => {
                        self.direct_rest(st, parts, result);
                        self.check_high_water();
                    }
                }
                return;
            }
        }
        self.write_queued(parts, total);
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

    fn peer_credentials(&self) -> io::Result<crate::transport::PeerCredentials> {
        self.with_socket(|s| s.peer_credentials())
    }

    fn send_file_descriptor(&self, fd: std::os::fd::OwnedFd) -> io::Result<()> {
        self.with_socket(|s| s.send_file_descriptor(fd))
    }

    fn take_file_descriptors(&self) -> Vec<std::os::fd::OwnedFd> {
        self.with_socket(|s| Ok(s.take_file_descriptors()))
            .unwrap_or_default()
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
                st.set_producer_paused(false);
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
            st.set_producer_paused(false);
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

    fn set_write_limit(&self, limit: WriteLimit) {
        self.state.borrow_mut().set_write_limit(limit);
    }

    fn write_limit(&self) -> WriteLimit {
        self.state.borrow().write_limit()
    }

    fn yield_reading(&self) {
        {
            let mut st = self.state.borrow_mut();
            if st.has(LOST | YIELDED) {
                return;
            }
            st.flags |= YIELDED;
        }
        if let Some(reactor) = self.reactor() {
            let me = self.rc();
            reactor.call_soon(move || me.resume_yielded());
        }
    }

    fn lose_connection_within(&self, grace: Duration) {
        if self.flags() & LOST != 0 {
            return;
        }
        self.lose_connection();
        if let Some(reactor) = self.reactor() {
            let me = self.me.clone();
            reactor.call_later(grace, move || {
                if let Some(me) = me.upgrade()
                    && me.flags() & LOST == 0
                {
                    let _ctx = enter(me.clone());
                    log::info!(
                        target: "gyre",
                        "Aborting connection: {} bytes still unsent {:?} after closing",
                        me.buffered(),
                        grace
                    );
                    me.abort_connection();
                }
            });
        }
    }

    fn log_prefix(&self) -> String {
        self.system()
    }

    fn set_log_peer(&self, peer: &Address) {
        drop(self.log_peer.replace(Some(Box::new(peer.clone()))));
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
                let shown = self.log_peer.take();
                let host = match &shown {
                    // As for a socket's own peer: the IP, nothing for UNIX.
                    Some(peer) => peer.inet().map(|a| a.ip().to_string()),
                    None => Some(S::peer_log_host(&self.peer)),
                };
                self.log_peer.set(shown);
                format!("{},{},{}", self.prefix, session, host.unwrap_or_default())
            }
            Role::Client { .. } => format!("{},client", self.prefix),
        }
    }
}
#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::io::{self, IoSlice};
    use std::net::SocketAddr;
    use std::os::fd::OwnedFd;
    use std::rc::Rc;
    use std::time::Duration;

    use super::*;

    /// A socket with the layout of a release build's `mio::net::TcpStream`
    /// (one descriptor), for measuring a connection's size in any build
    /// (debug builds of mio add a field).
    struct Descriptor(#[allow(dead_code)] OwnedFd);

    impl mio::event::Source for Descriptor {
        fn register(&mut self, _: &mio::Registry, _: mio::Token, _: Interest) -> io::Result<()> {
            Ok(())
        }
        fn reregister(&mut self, _: &mio::Registry, _: mio::Token, _: Interest) -> io::Result<()> {
            Ok(())
        }
        fn deregister(&mut self, _: &mio::Registry) -> io::Result<()> {
            Ok(())
        }
    }

    impl StreamSocket for Descriptor {
        type Peer = SocketAddr;
        fn peer_address(peer: &SocketAddr) -> Address {
            Address::tcp(*peer)
        }
        fn peer_log_host(_: &SocketAddr) -> String {
            String::new()
        }
        fn local_address(&self) -> io::Result<Address> {
            Err(io::ErrorKind::Unsupported.into())
        }
        fn closed_address() -> Address {
            Address::unix(None)
        }
        fn read(&self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::ErrorKind::Unsupported.into())
        }
        fn write(&self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::Unsupported.into())
        }
        fn write_vectored(&self, _: &[IoSlice<'_>]) -> io::Result<usize> {
            Err(io::ErrorKind::Unsupported.into())
        }
        fn shutdown_write(&self) -> io::Result<()> {
            Err(io::ErrorKind::Unsupported.into())
        }
    }

    /// A TCP connection's whole per-connection state stays one allocation
    /// of at most 200 bytes (216 with the `Rc`'s counts): the idle-memory
    /// budget BENCHMARKS.md measures (about 239 B per idle connection with
    /// the slab slot and malloc's header). A field added here must pay for
    /// itself.
    #[test]
    fn a_tcp_connection_fits_the_idle_budget() {
        assert_eq!(
            std::mem::size_of::<Option<Descriptor>>(),
            std::mem::size_of::<Option<std::net::TcpStream>>(),
            "the stand-in has a descriptor's layout"
        );
        let size = std::mem::size_of::<Connection<Descriptor>>();
        assert!(size <= 200, "Connection<TcpStream> is {size} bytes");
    }

    /// A UNIX stream socket that counts the write calls made on it.
    struct Counting {
        inner: mio::net::UnixStream,
        writes: Rc<Cell<usize>>,
    }

    impl mio::event::Source for Counting {
        fn register(&mut self, r: &mio::Registry, t: mio::Token, i: Interest) -> io::Result<()> {
            self.inner.register(r, t, i)
        }
        fn reregister(&mut self, r: &mio::Registry, t: mio::Token, i: Interest) -> io::Result<()> {
            self.inner.reregister(r, t, i)
        }
        fn deregister(&mut self, r: &mio::Registry) -> io::Result<()> {
            self.inner.deregister(r)
        }
    }

    impl StreamSocket for Counting {
        type Peer = Address;
        fn peer_address(peer: &Address) -> Address {
            peer.clone()
        }
        fn peer_log_host(_: &Address) -> String {
            String::new()
        }
        fn local_address(&self) -> io::Result<Address> {
            Ok(Address::unix(None))
        }
        fn closed_address() -> Address {
            Address::unix(None)
        }
        fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
            io::Read::read(&mut &self.inner, buf)
        }
        fn write(&self, buf: &[u8]) -> io::Result<usize> {
            self.writes.set(self.writes.get() + 1);
            io::Write::write(&mut &self.inner, buf)
        }
        fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            self.writes.set(self.writes.get() + 1);
            io::Write::write_vectored(&mut &self.inner, bufs)
        }
        fn shutdown_write(&self) -> io::Result<()> {
            self.inner.shutdown(std::net::Shutdown::Write)
        }
    }

    /// Runs the protocol `make` builds on one end of a socketpair whose
    /// write calls are counted; returns the reactor, the count and the
    /// other end.
    fn counted<P: Protocol>(
        make: impl FnOnce(&Reactor) -> P,
    ) -> (Reactor, Rc<Cell<usize>>, std::os::unix::net::UnixStream) {
        let reactor = Reactor::new().unwrap();
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        theirs
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let writes = Rc::new(Cell::new(0));
        let socket = Counting {
            inner: mio::net::UnixStream::from_std(ours),
            writes: writes.clone(),
        };
        let protocol: Box<dyn Protocol> = Box::new(make(&reactor));
        let conn = Connection::accept(
            &reactor,
            socket,
            Address::unix(None),
            0,
            protocol,
            WriteLimit::default(),
        )
        .unwrap();
        conn.made();
        (reactor, writes, theirs)
    }

    /// Runs `reactor` until stopped, failing after 5 s.
    fn run_bounded(reactor: &Reactor) {
        let timed_out = Rc::new(Cell::new(false));
        let (flag, r) = (timed_out.clone(), reactor.clone());
        reactor.call_later(Duration::from_secs(5), move || {
            flag.set(true);
            let _ = r.stop();
        });
        reactor.run_without_signals().unwrap();
        assert!(!timed_out.get(), "the reactor was not stopped in 5 s");
    }

    /// Writes 1,000 lines when it first receives anything, then closes;
    /// stops the reactor when the connection is gone.
    struct Chatty(Reactor);

    impl Protocol for Chatty {
        fn data_received(&mut self, t: &Transport, _: &[u8]) {
            for i in 0..1000u32 {
                t.write_sequence(&[b"line ", i.to_string().as_bytes(), b"\n"]);
            }
            t.lose_connection();
        }
        fn connection_lost(&mut self, _: Reason) {
            let _ = self.0.stop();
        }
    }

    /// A thousand writes in one callback cost two write calls: the first
    /// goes to the kernel at once (nothing was queued), the other 999 are
    /// queued and go out together when the callback's turn ends; the peer
    /// gets every line, in order.
    #[test]
    fn writes_in_one_turn_go_out_in_two_calls() {
        let (reactor, writes, mut theirs) = counted(|r| Chatty(r.clone()));
        std::io::Write::write_all(&mut theirs, b"go").unwrap();
        run_bounded(&reactor);
        let mut got = String::new();
        std::io::Read::read_to_string(&mut theirs, &mut got).unwrap();
        let expected: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        assert!(got == expected, "lines lost or reordered");
        assert_eq!(writes.get(), 2, "write calls for 1,000 writes in one turn");
    }

    /// Writes 500 lines on each of two timer turns to a peer that never
    /// speaks, then closes.
    struct Ticker(Reactor);

    impl Protocol for Ticker {
        fn connection_made(&mut self, t: &Transport) {
            let (t, r) = (t.clone(), self.0.clone());
            self.0.call_later(Duration::ZERO, move || {
                for _ in 0..500 {
                    t.write(b"tick\n");
                }
                let (t, r2) = (t.clone(), r.clone());
                r.call_later(Duration::ZERO, move || {
                    for _ in 0..500 {
                        t.write(b"tock\n");
                    }
                    t.lose_connection();
                    let _ = r2;
                });
            });
        }
        fn connection_lost(&mut self, _: Reason) {
            let _ = self.0.stop();
        }
    }

    /// Writes from timers to a connection that has not read since: the
    /// first turn costs two write calls (the first write goes out at once),
    /// the second one write call (everything queued), whatever the number
    /// of writes.
    #[test]
    fn writes_from_timers_go_out_once_per_turn() {
        let (reactor, writes, mut theirs) = counted(|r| Ticker(r.clone()));
        run_bounded(&reactor);
        let mut got = String::new();
        std::io::Read::read_to_string(&mut theirs, &mut got).unwrap();
        assert_eq!(got, "tick\n".repeat(500) + &"tock\n".repeat(500));
        assert_eq!(writes.get(), 3, "write calls for two turns of 500 writes");
    }
}
