//! Client endpoints: [`TcpClientEndpoint`] and [`HostnameEndpoint`].
//!
//! Both run a *race* (`Race`): a list of targets, each tried with its own
//! connector, a new one every `attempt_delay` until one connects. The first
//! connection to reach `build_protocol` wins: the user's factory builds the
//! protocol for it, the pending timer and every other attempt are stopped,
//! and later connections (if any raced in) are refused. When every attempt
//! has failed and none is left to start, the last failure is reported.
//! A TCP endpoint is the one-target case, and so is a UNIX endpoint
//! (`unix.rs`), whose one attempt connects to a path: how an attempt
//! connects is the race's `dial`.
//!
//! The user's factory is started once when `connect` begins and stopped
//! once when the race fails, is cancelled, or its connection ends.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use super::ClientEndpoint;
use super::parse::quote_string_argument;
use crate::address::Address;
use crate::connector::{Connector, ConnectorState};
use crate::deferred::{Deferred, Failure, PanicError};
use crate::error::{ConnectError, Reason};
use crate::factory::{AnyFactory, ClientFactory, Factory};
use crate::protocol::Protocol;
use crate::reactor::Reactor;
use crate::resolve::{Resolver, ThreadResolver};
use crate::tcp::{TcpConnectOptions, TcpReactor};
use crate::time::{Clock, DelayedCall};
use crate::transport::Transport;
use crate::wrap::{ProtocolWrapper, WrapProtocol};

/// What a race needs from its reactor: TCP connects and a clock.
pub trait RaceReactor: TcpReactor + Clock + Clone + 'static {}
impl<R: TcpReactor + Clock + Clone + 'static> RaceReactor for R {}

/// How a race starts one attempt: connects to a target with the attempt's
/// client factory.
pub(super) type DialFn<R> = Box<dyn Fn(&R, &str, Attempt<R>) -> Connector>;

/// Each attempt a TCP connect to its target (an IP literal or a name).
fn tcp_dial<R: RaceReactor>(port: u16, options: TcpConnectOptions) -> DialFn<R> {
    Box::new(move |reactor, host, attempt| {
        reactor.connect_tcp_with(host, port, attempt, options.clone())
    })
}

pub(super) struct Race<R: RaceReactor> {
    reactor: R,
    factory: AnyFactory,
    pub(super) deferred: Deferred<Transport>,
    dial: DialFn<R>,
    attempt_delay: Duration,
    /// Targets not tried yet (IP literals, or the host as given).
    pending: RefCell<VecDeque<String>>,
    connectors: RefCell<Vec<Connector>>,
    started: Cell<usize>,
    failed: Cell<usize>,
    won: Cell<bool>,
    cancelled: Cell<bool>,
    finished: Cell<bool>,
    last_error: RefCell<Option<ConnectError>>,
    timer: RefCell<Option<DelayedCall>>,
    resolving: RefCell<Option<Deferred<Vec<SocketAddr>>>>,
}

impl<R: RaceReactor> Race<R> {
    /// Sets up a race and the Deferred it fires; the factory is started.
    pub(super) fn new(
        reactor: &R,
        factory: AnyFactory,
        dial: DialFn<R>,
        attempt_delay: Duration,
        address: String,
    ) -> Rc<Race<R>> {
        let race_cell: Rc<RefCell<Option<Rc<Race<R>>>>> = Rc::new(RefCell::new(None));
        let for_cancel = race_cell.clone();
        // Stop every attempt first, so callbacks on the failed Deferred see
        // nothing still connecting.
        let deferred = Deferred::with_canceller(move |d: &Deferred<Transport>| {
            let race = for_cancel.borrow_mut().take();
            if let Some(race) = &race {
                race.cancelled.set(true);
                race.stop_all(None);
            }
            let _ = d.errback(ConnectError::Cancelled { address });
            if let Some(race) = race {
                race.finish();
            }
        });
        let race = Rc::new(Race {
            reactor: reactor.clone(),
            factory,
            deferred,
            dial,
            attempt_delay,
            pending: RefCell::new(VecDeque::new()),
            connectors: RefCell::new(Vec::new()),
            started: Cell::new(0),
            failed: Cell::new(0),
            won: Cell::new(false),
            cancelled: Cell::new(false),
            finished: Cell::new(false),
            last_error: RefCell::new(None),
            timer: RefCell::new(None),
            resolving: RefCell::new(None),
        });
        *race_cell.borrow_mut() = Some(race.clone());
        race.factory.do_start();
        race
    }

    fn over(&self) -> bool {
        self.won.get() || self.cancelled.get() || self.finished.get() || self.deferred.is_called()
    }

    /// Adds targets and starts the first attempt.
    pub(super) fn run(self: &Rc<Self>, targets: impl IntoIterator<Item = String>) {
        self.pending.borrow_mut().extend(targets);
        if self.pending.borrow().is_empty() {
            self.fail(Failure::new(ConnectError::Other(std::sync::Arc::new(
                std::io::Error::other("no addresses to connect to"),
            ))));
            return;
        }
        self.start_next();
    }

    fn start_next(self: &Rc<Self>) {
        self.timer.borrow_mut().take();
        if self.over() {
            return;
        }
        let Some(host) = self.pending.borrow_mut().pop_front() else {
            return;
        };
        let index = self.started.get();
        self.started.set(index + 1);
        let attempt = Attempt {
            race: self.clone(),
            index,
            winner: Cell::new(false),
        };
        let connector = (self.dial)(&self.reactor, &host, attempt);
        self.connectors.borrow_mut().push(connector);
        if !self.pending.borrow().is_empty() && !self.over() {
            let me = self.clone();
            let call = self
                .reactor
                .call_later_boxed(self.attempt_delay, Box::new(move || me.start_next()));
            *self.timer.borrow_mut() = Some(call);
        }
    }

    /// Stops the timer and every attempt still connecting, except `keep`.
    fn stop_all(&self, keep: Option<usize>) {
        if let Some(t) = self.timer.borrow_mut().take() {
            let _ = t.cancel();
        }
        self.pending.borrow_mut().clear();
        if let Some(r) = self.resolving.borrow_mut().take() {
            r.cancel();
        }
        let connectors = self.connectors.borrow().clone();
        for (i, c) in connectors.iter().enumerate() {
            if Some(i) != keep && c.state() == ConnectorState::Connecting {
                let _ = c.stop_connecting();
            }
        }
    }

    /// One attempt failed; the race fails when it was the last one.
    fn attempt_failed(self: &Rc<Self>, reason: &ConnectError) {
        if self.over() {
            return;
        }
        self.failed.set(self.failed.get() + 1);
        *self.last_error.borrow_mut() = Some(reason.clone());
        if self.failed.get() == self.started.get() && self.pending.borrow().is_empty() {
            let err = self
                .last_error
                .borrow_mut()
                .take()
                .unwrap_or(ConnectError::Refused);
            self.fail(Failure::new(err));
        }
    }

    fn fail(&self, failure: Failure) {
        self.stop_all(None);
        if !self.deferred.is_called() {
            let _ = self.deferred.errback(failure);
        }
        self.finish();
    }

    /// Stops the user's factory (once) and drops what ties the race to its connectors.
    fn finish(&self) {
        if self.finished.replace(true) {
            return;
        }
        if let Some(t) = self.timer.borrow_mut().take() {
            let _ = t.cancel();
        }
        self.connectors.borrow_mut().clear();
        self.factory.do_stop();
    }
}

/// The client factory for one attempt of a race.
///
/// Not a [`WrappingFactory`](crate::wrap::WrappingFactory) around the
/// user's factory, on purpose: the race starts and stops that factory once
/// per `connect`, not once per attempt; the client callbacks are the race's
/// own bookkeeping, not forwarded; and the user's factory is held as an
/// [`AnyFactory`], which has no client callbacks to forward to. Only the
/// names are the user's factory's.
pub(super) struct Attempt<R: RaceReactor> {
    race: Rc<Race<R>>,
    index: usize,
    winner: Cell<bool>,
}

impl<R: RaceReactor> Factory for Attempt<R> {
    type Protocol = RaceProtocol<R>;

    fn build_protocol(&self, addr: &Address) -> Option<RaceProtocol<R>> {
        let race = &self.race;
        if race.over() {
            return None;
        }
        race.won.set(true);
        self.winner.set(true);
        race.stop_all(Some(self.index));
        let inner = race.factory.build(addr)?;
        Some(ProtocolWrapper::wrap(
            inner,
            FireWhenMade { race: race.clone() },
        ))
    }

    fn noisy(&self) -> bool {
        false
    }

    fn log_prefix(&self) -> std::borrow::Cow<'static, str> {
        self.race.factory.log_prefix()
    }

    fn qualified_name(&self) -> std::borrow::Cow<'static, str> {
        self.race.factory.qualified_name()
    }
}

impl<R: RaceReactor> ClientFactory for Attempt<R> {
    fn client_connection_failed(&self, _connector: &Connector, reason: &ConnectError) {
        self.race.attempt_failed(reason);
    }

    fn client_connection_lost(&self, _connector: &Connector, reason: &Reason) {
        if !self.winner.get() {
            return;
        }
        let race = &self.race;
        if !race.deferred.is_called() {
            // The protocol never got going: refused by the factory, or a panic.
            let failure = match reason {
                Reason::Panicked(message) => Failure::new(PanicError {
                    message: message.clone(),
                }),
                Reason::Done => Failure::new(ConnectError::NoProtocol),
                other => Failure::new(other.clone()),
            };
            let _ = race.deferred.errback(failure);
        }
        race.finish();
    }
}

/// The winning protocol, with the race's Deferred fired after its
/// `connection_made`.
type RaceProtocol<R> = ProtocolWrapper<Box<dyn Protocol>, FireWhenMade<R>>;

/// The wrapper around the winning protocol: fires the race's Deferred with
/// the transport once the protocol's `connection_made` ran; every other
/// callback passes through.
pub(super) struct FireWhenMade<R: RaceReactor> {
    race: Rc<Race<R>>,
}

impl<R: RaceReactor> WrapProtocol<Box<dyn Protocol>> for FireWhenMade<R> {
    fn connection_made(&mut self, inner: &mut Box<dyn Protocol>, transport: &Transport) {
        inner.connection_made(transport);
        if !self.race.deferred.is_called() {
            let _ = self.race.deferred.callback(transport.clone());
        }
    }
}

/// A TCP client endpoint (Twisted's `TCP4ClientEndpoint`): one connection
/// to `host:port`, a name resolved off the reactor thread to its first
/// IPv4 address (else its first address). Timeout 30 s by default.
///
/// Its string form is `tcp:host=<h>:port=<p>[:timeout=<s>][:bindAddress=<ip>]`.
///
/// With a factory, [`connect`](super::ClientEndpointExt::connect) fires
/// with a [`Connected`](super::Connected) handle to the protocol the
/// factory built, through which the program reaches it later:
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use std::time::Duration;
///
/// use gyre::endpoint::{ClientEndpointExt, Connected, TcpClientEndpoint};
/// use gyre::{for_protocol, Protocol, Reactor, Reason, TcpListenOptions, Transport};
///
/// struct Hello;
/// impl Protocol for Hello {
///     fn connection_made(&mut self, t: &Transport) {
///         t.write(b"welcome\r\n");
///         t.lose_connection();
///     }
/// }
///
/// /// Keeps what the server says; stops the reactor when it hangs up.
/// struct Collect {
///     got: Vec<u8>,
///     reactor: Reactor,
/// }
/// impl Protocol for Collect {
///     fn data_received(&mut self, _: &Transport, data: &[u8]) {
///         self.got.extend_from_slice(data);
///     }
///     fn connection_lost(&mut self, _: Reason) {
///         self.reactor.stop().unwrap();
///     }
/// }
///
/// let reactor = Reactor::new()?;
/// # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
/// # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
/// let loopback = TcpListenOptions::interface("127.0.0.1");
/// let port = reactor.listen_tcp_with(0, for_protocol(|| Hello), loopback)?.address().port();
///
/// let endpoint = TcpClientEndpoint::new(&reactor, "127.0.0.1", port)
///     .with_timeout(Some(Duration::from_secs(5)));
/// assert_eq!(endpoint.to_string(), format!("tcp:host=127.0.0.1:port={port}:timeout=5"));
///
/// let r = reactor.clone();
/// let factory = for_protocol(move || Collect { got: Vec::new(), reactor: r.clone() });
/// let kept: Rc<RefCell<Option<Connected<Collect>>>> = Rc::default();
/// let slot = kept.clone();
/// endpoint.connect(factory).consume(move |connected| *slot.borrow_mut() = connected.ok());
/// reactor.run()?;
///
/// let connected = kept.borrow_mut().take().expect("connected");
/// assert_eq!(connected.with_protocol(|c| c.got.clone()), b"welcome\r\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct TcpClientEndpoint<R: RaceReactor = Reactor> {
    reactor: R,
    host: String,
    port: u16,
    options: TcpConnectOptions,
}

impl<R: RaceReactor> TcpClientEndpoint<R> {
    /// An endpoint for `host:port` (an IP literal or a name) on `reactor`.
    pub fn new(reactor: &R, host: &str, port: u16) -> Self {
        TcpClientEndpoint {
            reactor: reactor.clone(),
            host: host.to_string(),
            port,
            options: TcpConnectOptions::default(),
        }
    }

    /// Gives up after `timeout` (`None`: wait for the OS).
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.options.timeout = timeout;
        self
    }

    /// Binds the local end to `addr` first.
    pub fn with_bind_address(mut self, addr: Option<SocketAddr>) -> Self {
        self.options.bind_address = addr;
        self
    }

    /// The host as given.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Timeout and bind address.
    pub fn options(&self) -> &TcpConnectOptions {
        &self.options
    }
}

impl<R: RaceReactor> ClientEndpoint for TcpClientEndpoint<R> {
    fn connect_any(&self, factory: AnyFactory) -> Deferred<Transport> {
        let race = Race::new(
            &self.reactor,
            factory,
            tcp_dial(self.port, self.options.clone()),
            Duration::ZERO,
            format!("{}:{}", self.host, self.port),
        );
        race.run([self.host.clone()]);
        race.deferred.clone()
    }
}

/// The description form: `tcp:host=127.0.0.1:port=8000`.
impl<R: RaceReactor> fmt::Display for TcpClientEndpoint<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tcp:host={}:port={}",
            quote_string_argument(&self.host),
            self.port
        )?;
        if let Some(t) = self.options.timeout {
            if t != Duration::from_secs(30) {
                write!(f, ":timeout={}", t.as_secs())?;
            }
        } else {
            write!(f, ":timeout=0")?;
        }
        if let Some(b) = self.options.bind_address {
            write!(
                f,
                ":bindAddress={}",
                quote_string_argument(&b.ip().to_string())
            )?;
        }
        Ok(())
    }
}

impl<R: RaceReactor> fmt::Debug for TcpClientEndpoint<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TcpClientEndpoint({self})")
    }
}

/// Which address families a [`HostnameEndpoint`] tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Families {
    Both,
    V6Only,
}

/// Connects to a host name by racing its addresses (Twisted's
/// `HostnameEndpoint`, in the spirit of RFC 8305 "Happy Eyeballs").
///
/// The name is resolved off the reactor thread (IPv6 and IPv4), by the
/// reactor's resolver pool unless another [`Resolver`] is given; cancelling
/// the `connect` Deferred cancels the lookup too. An attempt
/// starts with the first address, and another with the next address every
/// `attempt_delay` (0.3 s) until one connects. The first to connect wins and
/// the others are stopped; if all fail, the last failure is reported. No
/// addresses, or a name that does not resolve:
/// [`ConnectError::DnsLookup`]. An IP literal skips the resolver.
///
/// A name with two addresses, of which only the second answers (nothing
/// listens on that port of `::1`), resolved by a table rather than by DNS:
///
/// ```
/// use std::cell::RefCell;
/// use std::net::SocketAddr;
/// use std::rc::Rc;
/// use std::time::Duration;
///
/// use gyre::deferred::{fail, succeed};
/// use gyre::endpoint::{connect_protocol, HostnameEndpoint, Resolver};
/// use gyre::{for_protocol, ConnectError, Deferred, Protocol, Reactor, TcpListenOptions};
///
/// struct Table(Vec<(&'static str, Vec<&'static str>)>);
///
/// impl Resolver for Table {
///     fn resolve(&self, host: &str, port: u16) -> Deferred<Vec<SocketAddr>> {
///         match self.0.iter().find(|(name, _)| *name == host) {
///             Some((_, ips)) => succeed(ips.iter().map(|ip| SocketAddr::new(ip.parse().unwrap(), port)).collect()),
///             None => fail(ConnectError::DnsLookup { host: host.to_string() }),
///         }
///     }
/// }
///
/// struct Quiet;
/// impl Protocol for Quiet {}
///
/// let reactor = Reactor::new()?;
/// # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
/// # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
/// let loopback = TcpListenOptions::interface("127.0.0.1");
/// let server = reactor.listen_tcp_with(0, for_protocol(|| Quiet), loopback)?.address();
///
/// let table = Rc::new(Table(vec![("db.test", vec!["::1", "127.0.0.1"])]));
/// let endpoint = HostnameEndpoint::with_resolver(&reactor, table.clone(), "db.test", server.port())
///     .with_attempt_delay(Duration::from_millis(50));
/// assert_eq!(endpoint.to_string(), format!("<HostnameEndpoint db.test:{}>", server.port()));
///
/// let results = Rc::new(RefCell::new(Vec::new()));
/// let (seen, r) = (results.clone(), reactor.clone());
/// connect_protocol(&endpoint, Quiet).consume(move |connected| {
///     seen.borrow_mut().push(connected.map(|c| c.transport().peer().to_string()).map_err(|f| f.to_string()));
///     let unknown = HostnameEndpoint::with_resolver(&r, table, "nowhere.test", 80);
///     let (seen, r) = (seen.clone(), r.clone());
///     connect_protocol(&unknown, Quiet).consume(move |connected| {
///         seen.borrow_mut().push(connected.map(|_| String::new()).map_err(|f| f.to_string()));
///         r.stop().unwrap();
///     });
/// });
/// reactor.run()?;
///
/// assert_eq!(
///     *results.borrow(),
///     [
///         Ok(format!("IPv4Address(type='TCP', host='127.0.0.1', port={})", server.port())),
///         Err("DNS lookup failed: nowhere.test.".to_string()),
///     ]
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct HostnameEndpoint<R: RaceReactor = Reactor> {
    reactor: R,
    resolver: Rc<dyn Resolver>,
    host: String,
    port: u16,
    options: TcpConnectOptions,
    attempt_delay: Duration,
    families: Families,
}

impl HostnameEndpoint<Reactor> {
    /// An endpoint for `host:port` resolved by the reactor's resolver pool
    /// (a [`ThreadResolver::new`], shared with `connect_tcp`).
    pub fn new(reactor: &Reactor, host: &str, port: u16) -> Self {
        HostnameEndpoint::with_resolver(reactor, Rc::new(ThreadResolver::new(reactor)), host, port)
    }
}

impl<R: RaceReactor> HostnameEndpoint<R> {
    /// The default delay between starting attempts.
    pub const DEFAULT_ATTEMPT_DELAY: Duration = Duration::from_millis(300);

    /// An endpoint that resolves with `resolver` (a fake one in tests).
    pub fn with_resolver(reactor: &R, resolver: Rc<dyn Resolver>, host: &str, port: u16) -> Self {
        HostnameEndpoint {
            reactor: reactor.clone(),
            resolver,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
            options: TcpConnectOptions::default(),
            attempt_delay: Self::DEFAULT_ATTEMPT_DELAY,
            families: Families::Both,
        }
    }

    /// Sets the delay between starting attempts (default 0.3 s).
    pub fn with_attempt_delay(mut self, delay: Duration) -> Self {
        self.attempt_delay = delay;
        self
    }

    /// Sets each attempt's timeout (default 30 s; `None`: the OS decides).
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.options.timeout = timeout;
        self
    }

    /// Binds the local end of each attempt to `addr`.
    pub fn with_bind_address(mut self, addr: Option<SocketAddr>) -> Self {
        self.options.bind_address = addr;
        self
    }

    /// Only tries IPv6 addresses (the `tcp6:` client type).
    pub fn ipv6_only(mut self) -> Self {
        self.families = Families::V6Only;
        self
    }

    /// The host name.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl<R: RaceReactor> ClientEndpoint for HostnameEndpoint<R> {
    fn connect_any(&self, factory: AnyFactory) -> Deferred<Transport> {
        let race = Race::new(
            &self.reactor,
            factory,
            tcp_dial(self.port, self.options.clone()),
            self.attempt_delay,
            self.to_string(),
        );
        let families = self.families;
        let keep = move |ip: &IpAddr| families == Families::Both || ip.is_ipv6();
        if let Ok(ip) = self.host.parse::<IpAddr>() {
            if keep(&ip) {
                race.run([ip.to_string()]);
            } else {
                race.fail(Failure::new(ConnectError::DnsLookup {
                    host: self.host.clone(),
                }));
            }
            return race.deferred.clone();
        }
        let resolving = self.resolver.resolve(&self.host, self.port);
        *race.resolving.borrow_mut() = Some(resolving.clone());
        let host = self.host.clone();
        let r = race.clone();
        resolving.consume(move |result| {
            r.resolving.borrow_mut().take();
            if r.over() {
                return;
            }
            match result {
                Ok(addrs) => {
                    let mut targets: Vec<String> = Vec::new();
                    for a in addrs.iter().filter(|a| keep(&a.ip())) {
                        let t = a.ip().to_string();
                        if !targets.contains(&t) {
                            targets.push(t);
                        }
                    }
                    if targets.is_empty() {
                        r.fail(Failure::new(ConnectError::DnsLookup { host }));
                    } else {
                        r.run(targets);
                    }
                }
                Err(f) => r.fail(f),
            }
        });
        race.deferred.clone()
    }
}

/// `<HostnameEndpoint host:port>`, an IPv6 host in brackets.
impl<R: RaceReactor> fmt::Display for HostnameEndpoint<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "<HostnameEndpoint [{}]:{}>", self.host, self.port)
        } else {
            write!(f, "<HostnameEndpoint {}:{}>", self.host, self.port)
        }
    }
}

impl<R: RaceReactor> fmt::Debug for HostnameEndpoint<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
