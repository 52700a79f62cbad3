//! An outgoing TCP connection's lifecycle: the mechanism behind a [`Connector`].
//!
//! Owns the client factory, the destination as given, and the current
//! attempt: `epoch` numbers attempts so that a late event for an abandoned
//! one (a resolver answer, a timeout, a readiness edge) is ignored.
//!
//! One attempt (reference §1.7.2): `do_start` on the factory (first attempt
//! only, or again after it was stopped) → `started_connecting` (before
//! `connect` returns) → one turn later, resolve the host on the reactor's
//! resolver pool unless it is an IP literal (the first IPv4 address, else
//! the first) → non-blocking `connect` → writable edge
//! → `build_protocol(peer)` → `connection_made`. On failure,
//! `client_connection_failed`; on loss, `client_connection_lost`; after
//! either, the factory is stopped unless the callback called `connect` again.
//! Abandoning an attempt (timeout, `stop_connecting`, shutdown) cancels its
//! lookup: a queued one never runs, a running one's answer is dropped.
//!
//! Log system: while the connector handles its socket's readiness (the
//! connect finishing or failing, and so `build_protocol`, the protocol's
//! `connection_made` and `client_connection_failed`) and the reactor's
//! shutdown, lines are logged under `Uninitialized`, as Twisted logs a
//! client transport's events before its prefix is set (reference §1.7.4);
//! once connected, the connection names itself (`EchoClient,client`).

use std::cell::{Cell, RefCell};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::rc::{Rc, Weak};
use std::sync::Arc;

use mio::Interest;
use mio::net::TcpStream;

use crate::address::Address;
use crate::connector::{Connector, ConnectorImpl, ConnectorState, Destination};
use crate::deferred::{Deferred, Failure};
use crate::error::{ConnectError, ConnectorError, Reason};
use crate::factory::ErasedClientFactory;
use crate::log::{LogContext, enter, guarded, log_panic};
use crate::reactor::{Inner, Reactor, Ready, Source};
use crate::resolve::{Resolver, ThreadResolver, first_address, lookup_error};
use crate::stream::{Connection, ConnectionOwner};
use crate::time::DelayedCall;

use super::TcpConnectOptions;

#[derive(Default)]
struct Attempt {
    stream: Option<TcpStream>,
    token: Option<usize>,
    timeout: Option<DelayedCall>,
    /// The name lookup, while it runs.
    lookup: Option<Deferred<Vec<SocketAddr>>>,
}

pub(crate) struct TcpConnector {
    reactor: Weak<Inner>,
    me: Weak<TcpConnector>,
    factory: Rc<dyn ErasedClientFactory>,
    host: String,
    port: u16,
    options: TcpConnectOptions,
    state: Cell<ConnectorState>,
    factory_started: Cell<bool>,
    epoch: Cell<u64>,
    attempt: RefCell<Attempt>,
    connection: RefCell<Option<Rc<Connection<TcpStream>>>>,
}

impl TcpConnector {
    pub(crate) fn new(
        reactor: &Reactor,
        host: &str,
        port: u16,
        factory: Rc<dyn ErasedClientFactory>,
        options: TcpConnectOptions,
    ) -> Rc<TcpConnector> {
        Rc::new_cyclic(|me| TcpConnector {
            reactor: reactor.downgrade(),
            me: me.clone(),
            factory,
            host: host.to_string(),
            port,
            options,
            state: Cell::new(ConnectorState::Disconnected),
            factory_started: Cell::new(false),
            epoch: Cell::new(0),
            attempt: RefCell::new(Attempt::default()),
            connection: RefCell::new(None),
        })
    }

    fn reactor(&self) -> Option<Reactor> {
        Reactor::from_weak(&self.reactor)
    }

    fn rc(&self) -> Rc<TcpConnector> {
        self.me.upgrade().expect("a connector in use is alive")
    }

    fn handle(&self) -> Connector {
        Connector::new(self.rc())
    }

    fn is_current(&self, epoch: u64) -> bool {
        self.epoch.get() == epoch && self.state.get() == ConnectorState::Connecting
    }

    /// Step two of an attempt: resolve (if needed), then connect.
    fn begin(self: &Rc<Self>, epoch: u64) {
        if !self.is_current(epoch) {
            return;
        }
        let Some(reactor) = self.reactor() else {
            return;
        };
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            self.start_socket(&reactor, epoch, SocketAddr::new(ip, self.port));
            return;
        }
        let lookup = ThreadResolver::new(&reactor).resolve(&self.host, self.port);
        self.attempt.borrow_mut().lookup = Some(lookup.clone());
        let me = self.clone();
        lookup.consume(move |result| me.resolved(epoch, result));
    }

    /// The lookup of attempt `epoch` answered (or failed, or was cancelled).
    fn resolved(self: &Rc<Self>, epoch: u64, result: Result<Vec<SocketAddr>, Failure>) {
        // An abandoned attempt took its lookup out before cancelling it.
        if !self.is_current(epoch) || self.attempt.borrow_mut().lookup.take().is_none() {
            return;
        }
        let Some(reactor) = self.reactor() else {
            return;
        };
        let addr = match result {
            Ok(addrs) => first_address(&addrs).ok_or_else(|| ConnectError::DnsLookup {
                host: self.host.clone(),
            }),
            Err(failure) => Err(lookup_error(&self.host, &failure)),
        };
        match addr {
            Ok(addr) => self.start_socket(&reactor, epoch, addr),
            Err(e) => self.fail(epoch, e),
        }
    }

    fn start_socket(self: &Rc<Self>, reactor: &Reactor, epoch: u64, addr: SocketAddr) {
        let stream = match open_stream(addr, self.options.bind_address) {
            Ok(s) => s,
            Err(e) => {
                self.fail(epoch, e);
                return;
            }
        };
        let mut stream = stream;
        let source: Rc<dyn Source> = self.clone();
        match reactor.register(&mut stream, Interest::READABLE | Interest::WRITABLE, |_| {
            source
        }) {
            Ok(token) => {
                let mut attempt = self.attempt.borrow_mut();
                attempt.stream = Some(stream);
                attempt.token = Some(token);
            }
            Err(e) => self.fail(epoch, ConnectError::from_io(e)),
        }
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
            match stream.take_error() {
                Ok(Some(e)) | Err(e) => Err(e),
                Ok(None) => match stream.peer_addr() {
                    Ok(peer) => Ok(peer),
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                    Err(e) => Err(e),
                },
            }
        };
        match outcome {
            Ok(peer) => self.established(peer, read_closed),
            Err(e) => self.fail(epoch, ConnectError::from_io(e)),
        }
    }

    fn established(self: &Rc<Self>, peer: SocketAddr, read_closed: bool) {
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
        let addr = Address::tcp(peer);
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
        self.abandon_attempt();
        self.state.set(ConnectorState::Disconnected);
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
        if let Some(lookup) = attempt.lookup {
            lookup.cancel();
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

impl ConnectionOwner for TcpConnector {
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

impl Source for TcpConnector {
    fn ready(self: Rc<Self>, token: usize, ready: Ready) {
        let _ctx = enter(Rc::new(Uninitialized));
        self.connect_ready(token, ready.read_closed);
    }

    /// Reactor shutdown while connecting.
    fn shutdown(self: Rc<Self>) {
        let _ctx = enter(Rc::new(Uninitialized));
        self.fail(self.epoch.get(), ConnectError::Shutdown);
    }
}

/// The log system of a client transport that is not connected yet
/// (Twisted's `Uninitialized` prefix).
struct Uninitialized;

impl LogContext for Uninitialized {
    fn system(&self) -> String {
        "Uninitialized".to_string()
    }
}

impl ConnectorImpl for TcpConnector {
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
        if let Some(timeout) = self.options.timeout {
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
        Destination {
            host: self.host.clone(),
            port: self.port,
        }
    }
}

/// A non-blocking socket connecting to `addr`, bound first if asked.
fn open_stream(addr: SocketAddr, bind: Option<SocketAddr>) -> Result<TcpStream, ConnectError> {
    let Some(bind) = bind else {
        return TcpStream::connect(addr).map_err(ConnectError::from_io);
    };
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)
        .map_err(ConnectError::from_io)?;
    socket
        .set_nonblocking(true)
        .map_err(ConnectError::from_io)?;
    socket.bind(&bind.into()).map_err(|e| ConnectError::Bind {
        address: bind.to_string(),
        source: Arc::new(e),
    })?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INPROGRESS.raw_os_error()) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(ConnectError::from_io(e)),
    }
    Ok(TcpStream::from_std(socket.into()))
}
