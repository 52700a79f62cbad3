//! An outgoing stream connection's lifecycle: the mechanism behind a
//! [`Connector`], for any stream transport.
//!
//! Owns the client factory, the [`Dial`] (where to connect, and how), and
//! the current attempt: `epoch` numbers attempts so that a late event for an
//! abandoned one (a resolver answer, a timeout, a readiness edge) is ignored.
//!
//! One attempt (reference §1.7.2): `do_start` on the factory (first attempt
//! only, or again after it was stopped) → `started_connecting` (before
//! `connect` returns) → one turn later, the dial begins (TCP: resolve the
//! host unless it is an IP literal, then a non-blocking `connect`; UNIX:
//! `connect` to the path) → writable edge → `build_protocol(peer)` →
//! `connection_made`. On failure, `client_connection_failed`; on loss,
//! `client_connection_lost`; after either, the factory is stopped unless the
//! callback called `connect` again. Abandoning an attempt (timeout,
//! `stop_connecting`, shutdown) runs what the dial left to undo (TCP: cancel
//! its lookup, so a queued one never runs and a running one's answer is
//! dropped).
//!
//! Log system: while the connector handles its socket's readiness (the
//! connect finishing or failing, and so `build_protocol`, the protocol's
//! `connection_made` and `client_connection_failed`) and the reactor's
//! shutdown, lines are logged under `Uninitialized`, as Twisted logs a
//! client transport's events before its prefix is set (reference §1.7.4);
//! once connected, the connection names itself (`EchoClient,client`).

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::{Rc, Weak};
use std::time::Duration;

use mio::Interest;

use crate::address::Address;
use crate::connector::{Connector, ConnectorImpl, ConnectorState, Destination};
use crate::error::{ConnectError, ConnectorError, Reason};
use crate::factory::ErasedClientFactory;
use crate::log::{LogContext, enter, guarded, log_panic};
use crate::reactor::{Inner, Reactor, Ready, Source};
use crate::time::DelayedCall;

use super::{Connection, ConnectionOwner, StreamSocket};

/// Where a [`StreamConnector`] connects to, and how: what differs between
/// stream transports.
pub(crate) trait Dial: Sized + 'static {
    /// The socket it connects.
    type Socket: StreamSocket;

    /// The log system while the connect finishes (`build_protocol`,
    /// `connection_made`, `client_connection_failed`): Twisted's
    /// `Uninitialized` for TCP; a UNIX connect, which Twisted finishes in
    /// the call that starts it, runs under `-`.
    const CONNECTING_SYSTEM: &'static str = "Uninitialized";

    /// Where it connects to, as [`Connector::destination`] reports it.
    fn destination(&self) -> Destination;

    /// The destination as an address, where it is one before connecting
    /// (a UNIX path); `None` for TCP, whose host may be a name.
    fn address(&self) -> Option<Address> {
        None
    }

    /// Starts an attempt, one turn after `connect`: opens a connecting
    /// socket and hands it to [`Attempt::open`], or fails the attempt, now
    /// or later (after a lookup).
    fn begin(&self, attempt: Attempt<Self>);

    /// The connecting socket had a readiness edge: `Ok(Some(peer))` once it
    /// is connected, `Ok(None)` if not yet, an error if it failed.
    fn finished(
        &self,
        socket: &Self::Socket,
    ) -> io::Result<Option<<Self::Socket as StreamSocket>::Peer>>;
}

struct Pending<S> {
    stream: Option<S>,
    token: Option<usize>,
    timeout: Option<DelayedCall>,
    /// What abandoning the attempt must undo (cancel a lookup).
    undo: Option<Box<dyn FnOnce()>>,
}

impl<S> Default for Pending<S> {
    fn default() -> Self {
        Pending {
            stream: None,
            token: None,
            timeout: None,
            undo: None,
        }
    }
}

/// One connector (see the module docs).
pub(crate) struct StreamConnector<D: Dial> {
    reactor: Weak<Inner>,
    me: Weak<StreamConnector<D>>,
    factory: Rc<dyn ErasedClientFactory>,
    dial: D,
    timeout: Option<Duration>,
    state: Cell<ConnectorState>,
    factory_started: Cell<bool>,
    epoch: Cell<u64>,
    attempt: RefCell<Pending<D::Socket>>,
    connection: RefCell<Option<Rc<Connection<D::Socket>>>>,
}

/// The attempt a [`Dial::begin`] works for: its connector and epoch.
pub(crate) struct Attempt<D: Dial> {
    connector: Rc<StreamConnector<D>>,
    epoch: u64,
}

impl<D: Dial> Attempt<D> {
    /// The reactor, while it exists.
    pub(crate) fn reactor(&self) -> Option<Reactor> {
        self.connector.reactor()
    }

    /// True while this attempt is the connector's current one.
    pub(crate) fn is_current(&self) -> bool {
        self.connector.is_current(self.epoch)
    }

    /// Runs `undo` if the attempt is abandoned before it opens a socket.
    pub(crate) fn on_abandon(&self, undo: impl FnOnce() + 'static) {
        self.connector.attempt.borrow_mut().undo = Some(Box::new(undo));
    }

    /// The dial this attempt belongs to.
    pub(crate) fn dial(&self) -> &D {
        &self.connector.dial
    }

    /// A second handle to the same attempt.
    pub(crate) fn again(&self) -> Attempt<D> {
        Attempt {
            connector: self.connector.clone(),
            epoch: self.epoch,
        }
    }

    /// The socket connecting for this attempt: registered for readiness,
    /// which says when it is connected or failed.
    pub(crate) fn open(self, mut stream: D::Socket) {
        if !self.is_current() {
            return;
        }
        let Some(reactor) = self.reactor() else {
            return;
        };
        let source: Rc<dyn Source> = self.connector.clone();
        match reactor.register(&mut stream, Interest::READABLE | Interest::WRITABLE, |_| {
            source
        }) {
            Ok(token) => {
                let mut attempt = self.connector.attempt.borrow_mut();
                attempt.undo = None;
                attempt.stream = Some(stream);
                attempt.token = Some(token);
            }
            Err(e) => self.fail(ConnectError::from_io(e)),
        }
    }

    /// Begins the attempt again after `delay` (a UNIX listener whose queue
    /// was full), unless it was abandoned meanwhile.
    pub(crate) fn retry_after(self, delay: Duration) {
        let Some(reactor) = self.reactor() else {
            return;
        };
        reactor.call_later(delay, move || {
            if self.is_current() {
                let connector = self.connector.clone();
                connector.dial.begin(self);
            }
        });
    }

    /// Ends the attempt with `err`.
    pub(crate) fn fail(self, err: ConnectError) {
        self.connector.fail(self.epoch, err);
    }
}

impl<D: Dial> StreamConnector<D> {
    pub(crate) fn new(
        reactor: &Reactor,
        dial: D,
        factory: Rc<dyn ErasedClientFactory>,
        timeout: Option<Duration>,
    ) -> Rc<StreamConnector<D>> {
        Rc::new_cyclic(|me| StreamConnector {
            reactor: reactor.downgrade(),
            me: me.clone(),
            factory,
            dial,
            timeout,
            state: Cell::new(ConnectorState::Disconnected),
            factory_started: Cell::new(false),
            epoch: Cell::new(0),
            attempt: RefCell::new(Pending::default()),
            connection: RefCell::new(None),
        })
    }

    fn reactor(&self) -> Option<Reactor> {
        Reactor::from_weak(&self.reactor)
    }

    fn rc(&self) -> Rc<StreamConnector<D>> {
        self.me.upgrade().expect("a connector in use is alive")
    }

    fn handle(&self) -> Connector {
        Connector::new(self.rc())
    }

    fn is_current(&self, epoch: u64) -> bool {
        self.epoch.get() == epoch && self.state.get() == ConnectorState::Connecting
    }

    /// Step two of an attempt: the dial begins.
    fn begin(self: &Rc<Self>, epoch: u64) {
        if !self.is_current(epoch) {
            return;
        }
        let attempt = Attempt {
            connector: self.clone(),
            epoch,
        };
        self.dial.begin(attempt);
    }

    /// A readiness edge on the connecting socket.
    fn connect_ready(self: &Rc<Self>, token: usize, read_closed: bool) {
        let epoch = self.epoch.get();
        let outcome = {
            let attempt = self.attempt.borrow();
            if attempt.token != Some(token) || self.state.get() != ConnectorState::Connecting {
                return;
            }
            let Some(stream) = attempt.stream.as_ref() else {
                return;
            };
            match self.dial.finished(stream) {
                Ok(Some(peer)) => Ok(peer),
                Ok(None) => return,
                Err(e) => Err(e),
            }
        };
        match outcome {
            Ok(peer) => self.established(peer, read_closed),
            Err(e) => self.fail(epoch, ConnectError::from_io(e)),
        }
    }

    fn established(self: &Rc<Self>, peer: <D::Socket as StreamSocket>::Peer, read_closed: bool) {
        let Some(reactor) = self.reactor() else {
            return;
        };
        let (stream, token) = {
            let mut attempt = self.attempt.borrow_mut();
            if let Some(t) = attempt.timeout.take() {
                let _ = t.cancel();
            }
            (attempt.stream.take(), attempt.token.take())
        };
        let (Some(mut stream), Some(token)) = (stream, token) else {
            return;
        };
        let addr = D::Socket::peer_address(&peer);
        // Connected from here on, as in Twisted: `stop_connecting` from
        // inside `build_protocol` is NotConnecting, not a phantom failure.
        self.state.set(ConnectorState::Connected);
        let built = guarded(|| self.factory.build(&addr));
        let protocol = match built {
            Ok(Some(p)) => p,
            refused => {
                reactor.deregister(&mut stream, token);
                drop(stream);
                let reason = match refused {
                    Err(msg) => {
                        log_panic("build_protocol", &msg);
                        Reason::Panicked(msg)
                    }
                    _ => Reason::Done,
                };
                self.state.set(ConnectorState::Disconnected);
                let handle = self.handle();
                if let Err(msg) = guarded(|| self.factory.client_connection_lost(&handle, &reason))
                {
                    log_panic("client_connection_lost", &msg);
                }
                self.stop_factory_unless_reconnecting();
                return;
            }
        };
        let owner: Rc<dyn ConnectionOwner> = self.clone();
        let limit = self.factory.write_limit();
        let conn = Connection::connected(&reactor, stream, peer, token, owner, protocol, limit);
        *self.connection.borrow_mut() = Some(conn.clone());
        // Still under `Uninitialized` (see `ready`), as Twisted's
        // `connectionMade` of a client.
        conn.made();
        if conn.is_connected_now() {
            conn.mark_read_pending(read_closed);
            let c = conn.clone();
            reactor.call_soon(move || c.read_ready());
        }
    }

    /// Ends the current attempt with `err` (if `epoch` is still current).
    fn fail(self: &Rc<Self>, epoch: u64, err: ConnectError) {
        if !self.is_current(epoch) {
            return;
        }
        // Not current any more before anything is undone: a cancelled
        // lookup answers at once, and that answer must be ignored.
        self.state.set(ConnectorState::Disconnected);
        self.abandon_attempt();
        let handle = self.handle();
        if let Err(msg) = guarded(|| self.factory.client_connection_failed(&handle, &err)) {
            log_panic("client_connection_failed", &msg);
        }
        self.stop_factory_unless_reconnecting();
    }

    fn abandon_attempt(&self) {
        let attempt = std::mem::take(&mut *self.attempt.borrow_mut());
        if let Some(t) = attempt.timeout {
            let _ = t.cancel();
        }
        if let Some(undo) = attempt.undo {
            undo();
        }
        if let (Some(mut stream), Some(token), Some(reactor)) =
            (attempt.stream, attempt.token, self.reactor())
        {
            reactor.deregister(&mut stream, token);
        }
    }

    /// Twisted's rule: after a failure or loss, the factory is stopped unless
    /// the callback started a new attempt.
    fn stop_factory_unless_reconnecting(&self) {
        if self.state.get() == ConnectorState::Disconnected && self.factory_started.replace(false) {
            self.factory.do_stop();
        }
    }
}

impl<D: Dial> ConnectionOwner for StreamConnector<D> {
    /// The established connection ended (called by the connection).
    fn connection_lost(&self, reason: &Reason) {
        self.connection.borrow_mut().take();
        self.state.set(ConnectorState::Disconnected);
        let handle = self.handle();
        if let Err(msg) = guarded(|| self.factory.client_connection_lost(&handle, reason)) {
            log_panic("client_connection_lost", &msg);
        }
        self.stop_factory_unless_reconnecting();
    }
}

impl<D: Dial> Source for StreamConnector<D> {
    fn ready(self: Rc<Self>, token: usize, ready: Ready) {
        let _ctx = enter(Rc::new(Uninitialized(D::CONNECTING_SYSTEM)));
        self.connect_ready(token, ready.read_closed);
    }

    /// Reactor shutdown while connecting.
    fn shutdown(self: Rc<Self>) {
        let _ctx = enter(Rc::new(Uninitialized(D::CONNECTING_SYSTEM)));
        self.fail(self.epoch.get(), ConnectError::Shutdown);
    }
}

/// The log system of a client transport that is not connected yet
/// (Twisted's `Uninitialized` prefix for TCP; see
/// [`Dial::CONNECTING_SYSTEM`]).
struct Uninitialized(&'static str);

impl LogContext for Uninitialized {
    fn system(&self) -> String {
        self.0.to_string()
    }
}

impl<D: Dial> ConnectorImpl for StreamConnector<D> {
    fn state(&self) -> ConnectorState {
        self.state.get()
    }

    fn connect(&self, this: &Connector) -> Result<(), ConnectorError> {
        if self.state.get() != ConnectorState::Disconnected {
            return Err(ConnectorError::CannotConnect);
        }
        let Some(reactor) = self.reactor() else {
            return Err(ConnectorError::CannotConnect);
        };
        let epoch = self.epoch.get() + 1;
        self.epoch.set(epoch);
        self.state.set(ConnectorState::Connecting);
        if !self.factory_started.replace(true) {
            self.factory.do_start();
        }
        if let Some(timeout) = self.timeout {
            let me = self.me.clone();
            let call = reactor.call_later(timeout, move || {
                if let Some(me) = me.upgrade() {
                    me.fail(epoch, ConnectError::TimedOut);
                }
            });
            self.attempt.borrow_mut().timeout = Some(call);
        }
        if let Err(msg) = guarded(|| self.factory.started_connecting(this)) {
            log_panic("started_connecting", &msg);
        }
        let me = self.rc();
        reactor.call_soon(move || me.begin(epoch));
        Ok(())
    }

    fn stop_connecting(&self, _this: &Connector) -> Result<(), ConnectorError> {
        if self.state.get() != ConnectorState::Connecting {
            return Err(ConnectorError::NotConnecting);
        }
        self.rc().fail(self.epoch.get(), ConnectError::UserAborted);
        Ok(())
    }

    fn disconnect(&self, this: &Connector) {
        match self.state.get() {
            ConnectorState::Connecting => {
                let _ = self.stop_connecting(this);
            }
            ConnectorState::Connected => {
                let conn = self.connection.borrow().clone();
                if let Some(conn) = conn {
                    crate::transport::TransportImpl::lose_connection(&*conn);
                }
            }
            ConnectorState::Disconnected => {}
        }
    }

    fn destination(&self) -> Destination {
        self.dial.destination()
    }

    fn destination_address(&self) -> Option<Address> {
        self.dial.address()
    }
}
