//! The receiving side: [`HeaderReader`], the wrapper that reads a PROXY
//! header before its protocol sees anything, and [`AcceptSettings`], the
//! factory wrapper that gives every connection one.
//!
//! A connection's [`HeaderReader`] goes through three phases:
//!
//! * waiting: from `connection_made` on, bytes are kept (at most the
//!   header's limit, plus the read that went past it) and given to
//!   [`parse`]; a deadline runs on the clock. The inner protocol has not
//!   been told of the connection.
//! * passed: the header is complete; the deadline is cancelled, the log
//!   prefix names the header's client ([`Transport::set_log_peer`]), and
//!   the inner protocol gets `connection_made` with the transport it will
//!   see from then on (a [`Proxied`] one: the connection's, with the
//!   header's addresses as `peer()`/`host()` when it has them), then the
//!   bytes after the header. Every later callback goes to it with that
//!   transport. A protocol that pauses reading in `connection_made` (a
//!   port forwarder waits for its upstream) gets those bytes only once it
//!   resumes, on a later turn, as it would get unread bytes from a
//!   socket: the transport holds them meanwhile.
//! * refused: the bytes are not a header, or the deadline passed, or the
//!   peer stopped sending first: the connection is aborted and the inner
//!   protocol never hears of it (no `connection_made`, no
//!   `connection_lost`).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::rc::{Rc, Weak};
use std::time::Duration;

use super::header::{Command, ProxyHeader, V2_MAX_LEN};
use super::parse::{InvalidHeader, Parsed, parse};
use crate::address::Address;
use crate::error::{ProducerError, Reason};
use crate::factory::{Factory, Shared};
use crate::log::{guarded, log_panic, with_system};
use crate::protocol::Protocol;
use crate::time::{Clock, DelayedCall};
use crate::transport::{
    Producer, PushProducer, Transport, TransportImpl, resume_reading_unless_closing,
};
use crate::wrap::{ProtocolWrapper, WrapFactory, WrapProtocol, WrappingFactory};

/// The log target of the lines written here.
const TARGET: &str = "gyre::haproxy";

/// How long a connection may take to send its whole header, unless set
/// otherwise: 10 s (the spec asks for at least 3, to cover a TCP
/// retransmit).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest header accepted unless set otherwise: 4096 bytes, far more
/// than addresses and the usual TLVs take (a v1 line is at most 107).
pub const DEFAULT_MAX_HEADER_LEN: usize = 4096;

/// What runs on the inner protocol once its header is read.
type HeaderHook<P> = Rc<dyn Fn(&mut P, &ProxyHeader)>;

/// How connections read their header: the clock and the bounds, and an
/// optional hook. It is the factory wrapper of [`AcceptProxyFactory`].
///
/// ```
/// use std::rc::Rc;
/// use std::time::Duration;
/// use gyre::haproxy::AcceptSettings;
/// use gyre::testing::VirtualClock;
///
/// struct Web;
/// impl gyre::Protocol for Web {}
///
/// let settings = AcceptSettings::<Web>::new(&VirtualClock::new())
///     .with_timeout(Duration::from_secs(3))
///     .with_max_header_len(1024);
/// assert_eq!(settings.timeout(), Duration::from_secs(3));
/// ```
pub struct AcceptSettings<P> {
    clock: Rc<dyn Clock>,
    timeout: Duration,
    max_len: usize,
    on_header: Option<HeaderHook<P>>,
}

impl<P> AcceptSettings<P> {
    /// [`DEFAULT_TIMEOUT`] and [`DEFAULT_MAX_HEADER_LEN`], timed on `clock`
    /// (the reactor; in tests, a
    /// [`VirtualClock`](crate::testing::VirtualClock)).
    pub fn new(clock: &(impl Clock + Clone + 'static)) -> AcceptSettings<P> {
        AcceptSettings {
            clock: crate::time::keep(clock),
            timeout: DEFAULT_TIMEOUT,
            max_len: DEFAULT_MAX_HEADER_LEN,
            on_header: None,
        }
    }

    /// The whole header must have arrived within `timeout` of the
    /// connection being made.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Headers longer than `max` bytes are refused (capped at 65,551, the
    /// longest a v2 header can be; a v1 line is never over 107).
    pub fn with_max_header_len(mut self, max: usize) -> Self {
        self.max_len = max.min(V2_MAX_LEN);
        self
    }

    /// Calls `hook` with the inner protocol and the header once the header
    /// is read, just before the protocol's `connection_made`: how a
    /// protocol gets at the header's TLVs.
    pub fn with_on_header(mut self, hook: impl Fn(&mut P, &ProxyHeader) + 'static) -> Self {
        self.on_header = Some(Rc::new(hook));
        self
    }

    /// The time allowed for the header.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The longest header accepted.
    pub fn max_header_len(&self) -> usize {
        self.max_len
    }
}

impl<P> Clone for AcceptSettings<P> {
    fn clone(&self) -> Self {
        AcceptSettings {
            clock: self.clock.clone(),
            timeout: self.timeout,
            max_len: self.max_len,
            on_header: self.on_header.clone(),
        }
    }
}

impl<P> fmt::Debug for AcceptSettings<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcceptSettings")
            .field("timeout", &self.timeout)
            .field("max_len", &self.max_len)
            .field("on_header", &self.on_header.is_some())
            .finish()
    }
}

/// Twisted's `HAProxyWrappingFactory`: every protocol the wrapped factory
/// builds reads a PROXY header first (see the [module docs](super)).
///
/// ```
/// use std::rc::Rc;
/// use gyre::haproxy::{AcceptProxyFactory, AcceptSettings};
/// use gyre::{for_protocol, Protocol};
///
/// struct Echo;
/// impl Protocol for Echo {}
///
/// let reactor = gyre::Reactor::new()?;
/// let factory = AcceptProxyFactory::wrap(
///     for_protocol(|| Echo),
///     AcceptSettings::new(&reactor),
/// );
/// // reactor.listen_tcp(8000, factory)?;
/// # let _ = factory;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub type AcceptProxyFactory<F> = WrappingFactory<F, AcceptSettings<<F as Factory>::Protocol>>;

impl<F: Factory> WrapFactory<F> for AcceptSettings<F::Protocol> {
    type Protocol = AcceptProxy<F::Protocol>;

    fn build_protocol(&self, wrapped: &Shared<F>, addr: &Address) -> Option<Self::Protocol> {
        let inner = wrapped.build_protocol(addr)?;
        Some(AcceptProxy::new(inner, self.clone()))
    }
}

/// Twisted's `HAProxyProtocolWrapper`: the protocol `P`, told of its
/// connection only once a PROXY header has been read from it (see the
/// [module docs](super)).
///
/// `P` runs in a shared cell (`Rc<RefCell<P>>`, [`inner`](ProtocolWrapper::inner)):
/// bytes that came with the header while `P` had paused reading from its
/// `connection_made` are handed to it on a later turn, once it resumes.
pub type AcceptProxy<P> = ProtocolWrapper<Rc<RefCell<P>>, HeaderReader<P>>;

impl<P: Protocol> ProtocolWrapper<Rc<RefCell<P>>, HeaderReader<P>> {
    /// Wraps `inner`: its connection starts with a header read as
    /// `settings` say.
    pub fn new(inner: P, settings: AcceptSettings<P>) -> Self {
        ProtocolWrapper::wrap(
            Rc::new(RefCell::new(inner)),
            HeaderReader {
                settings,
                phase: Phase::Waiting {
                    buf: Vec::new(),
                    deadline: None,
                },
                header: None,
            },
        )
    }

    /// The header, once read.
    pub fn header(&self) -> Option<&ProxyHeader> {
        self.wrapper().header.as_ref()
    }
}

/// Where a connection's header reading is.
enum Phase<P> {
    /// Before and while the header arrives: what came so far (only when it
    /// came in more than one read) and the deadline (from `connection_made`).
    Waiting {
        buf: Vec<u8>,
        deadline: Option<DelayedCall>,
    },
    /// The header was read; the inner protocol runs with `given`.
    Passed { given: Rc<Proxied<P>> },
    /// Refused, or lost: nothing more reaches the inner protocol.
    Closed,
}

/// The wrapper behind [`AcceptProxy`]: reads the header, then hands the
/// inner protocol the connection (see the [module docs](super)).
pub struct HeaderReader<P> {
    settings: AcceptSettings<P>,
    phase: Phase<P>,
    header: Option<ProxyHeader>,
}

impl<P> HeaderReader<P> {
    /// Leaves the current phase for `Closed`: cancels the deadline, if
    /// any, and returns the bytes kept while waiting.
    fn stop_waiting(&mut self) -> Vec<u8> {
        match std::mem::replace(&mut self.phase, Phase::Closed) {
            Phase::Waiting { buf, deadline } => {
                if let Some(call) = deadline {
                    let _ = call.cancel();
                }
                buf
            }
            _ => Vec::new(),
        }
    }

    /// The bytes are not a header: log it and abort the connection.
    fn refuse(&mut self, transport: &Transport, why: &InvalidHeader) {
        self.stop_waiting();
        log::info!(
            target: TARGET,
            "Dropping connection from {}: invalid PROXY header: {why}",
            transport.peer()
        );
        transport.abort_connection();
    }
}

impl<P: Protocol> HeaderReader<P> {
    /// A complete header: stop waiting, make the inner protocol's
    /// transport, tell it of the connection, hand it what followed (now,
    /// or once it resumes reading if it paused).
    fn pass(
        &mut self,
        inner: &Rc<RefCell<P>>,
        transport: &Transport,
        header: ProxyHeader,
        rest: &[u8],
    ) {
        self.stop_waiting();
        let addresses = match (header.source(), header.destination()) {
            (Some(source), Some(destination)) => {
                transport.set_log_peer(source);
                Some((source.clone(), destination.clone()))
            }
            _ => None,
        };
        let given = Rc::new_cyclic(|me| Proxied {
            inner: transport.clone(),
            addresses,
            paused: Cell::new(false),
            held: RefCell::new(Vec::new()),
            scheduled: Cell::new(false),
            clock: self.settings.clock.clone(),
            protocol: Rc::downgrade(inner),
            me: me.clone(),
        });
        log::debug!(target: TARGET, "{}", describe(&header, &transport.peer()));
        if let Some(hook) = self.settings.on_header.clone() {
            hook(&mut inner.borrow_mut(), &header);
        }
        self.header = Some(header);
        self.phase = Phase::Passed {
            given: given.clone(),
        };
        inner.borrow_mut().connection_made(&given.transport());
        given.held.borrow_mut().extend_from_slice(rest);
        given.deliver_held();
    }
}

/// The debug line for a header read from a connection with `balancer`.
fn describe(header: &ProxyHeader, balancer: &Address) -> String {
    let mut line = match (header.source(), header.destination()) {
        (Some(source), Some(destination)) => format!(
            "PROXY {} header from {balancer}: client {source}, server {destination}",
            header.version()
        ),
        _ => format!(
            "PROXY {} {} header from {balancer}: the connection's own addresses apply",
            header.version(),
            match header.command() {
                Command::Local => "LOCAL",
                Command::Proxy => "address-less",
            }
        ),
    };
    if !header.tlvs().is_empty() {
        let kinds: Vec<String> = header
            .tlvs()
            .iter()
            .map(|t| format!("{:#04x} ({} bytes)", t.kind, t.value.len()))
            .collect();
        line.push_str(&format!("; TLVs {}", kinds.join(", ")));
    }
    line
}

impl<P: Protocol> WrapProtocol<Rc<RefCell<P>>> for HeaderReader<P> {
    fn connection_made(&mut self, _inner: &mut Rc<RefCell<P>>, transport: &Transport) {
        let Phase::Waiting { deadline, .. } = &mut self.phase else {
            return;
        };
        let t = transport.clone();
        let timeout = self.settings.timeout;
        let call = self.settings.clock.call_later(timeout, move || {
            with_system(t.log_prefix(), || {
                log::info!(
                    target: TARGET,
                    "Dropping connection from {}: no complete PROXY header within {timeout:?}",
                    t.peer()
                );
            });
            t.abort_connection();
        });
        if let Some(old) = deadline.replace(call) {
            let _ = old.cancel();
        }
    }

    fn data_received(&mut self, inner: &mut Rc<RefCell<P>>, transport: &Transport, data: &[u8]) {
        let outcome = match &mut self.phase {
            Phase::Passed { given } => {
                // Anything held back goes first.
                let given = given.clone();
                given.deliver_held();
                if given.held.borrow().is_empty() {
                    inner.data_received(&given.transport(), data);
                } else {
                    given.held.borrow_mut().extend_from_slice(data);
                }
                return;
            }
            Phase::Closed => return,
            // A close asked for (the deadline passed) ends the waiting too.
            Phase::Waiting { .. } if transport.is_disconnecting() => return,
            Phase::Waiting { buf, .. } if buf.is_empty() => {
                match parse(data, self.settings.max_len) {
                    Parsed::Incomplete => {
                        buf.extend_from_slice(data);
                        return;
                    }
                    Parsed::Done(header, used) => {
                        return self.pass(inner, transport, header, &data[used..]);
                    }
                    Parsed::Invalid(why) => Err(why),
                }
            }
            Phase::Waiting { buf, .. } => {
                buf.extend_from_slice(data);
                match parse(buf, self.settings.max_len) {
                    Parsed::Incomplete => return,
                    Parsed::Done(header, used) => Ok((header, used)),
                    Parsed::Invalid(why) => Err(why),
                }
            }
        };
        match outcome {
            Ok((header, used)) => {
                let buf = self.stop_waiting();
                self.pass(inner, transport, header, &buf[used..]);
            }
            Err(why) => self.refuse(transport, &why),
        }
    }

    fn connection_lost(&mut self, inner: &mut Rc<RefCell<P>>, reason: Reason) {
        // Only a protocol told of the connection hears of its end, after
        // whatever it was owed and not paused for.
        if let Phase::Passed { given } = &self.phase {
            given.deliver_held();
        }
        let told = matches!(self.phase, Phase::Passed { .. });
        self.stop_waiting();
        if told {
            inner.connection_lost(reason);
        }
    }

    fn read_connection_lost(&mut self, inner: &mut Rc<RefCell<P>>, transport: &Transport) {
        match &self.phase {
            Phase::Passed { given } => {
                let given = given.clone();
                given.deliver_held();
                inner.read_connection_lost(&given.transport());
            }
            Phase::Waiting { .. } => {
                // The header can never complete now.
                self.stop_waiting();
                log::debug!(
                    target: TARGET,
                    "Dropping connection from {}: it ended before its PROXY header was complete",
                    transport.peer()
                );
                transport.abort_connection();
            }
            Phase::Closed => {}
        }
    }

    fn write_connection_lost(&mut self, inner: &mut Rc<RefCell<P>>, _transport: &Transport) {
        if let Phase::Passed { given } = &self.phase {
            inner.write_connection_lost(&given.transport());
        }
    }
}

/// A wrapper dropped while waiting leaves no deadline on the clock.
impl<P> Drop for HeaderReader<P> {
    fn drop(&mut self) {
        self.stop_waiting();
    }
}

impl<P> fmt::Debug for HeaderReader<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = match &self.phase {
            Phase::Waiting { buf, .. } => format!("waiting ({} bytes)", buf.len()),
            Phase::Passed { .. } => "passed".to_string(),
            Phase::Closed => "closed".to_string(),
        };
        f.debug_struct("HeaderReader")
            .field("phase", &phase)
            .field("header", &self.header)
            .finish()
    }
}

/// The transport a protocol behind a header sees: the connection's, with
/// the header's addresses (if it had any) as `peer()` and `host()`; and
/// the bytes that came with the header, held while the protocol has
/// reading paused.
struct Proxied<P> {
    inner: Transport,
    /// The header's source and destination.
    addresses: Option<(Address, Address)>,
    /// The protocol paused reading (through this transport).
    paused: Cell<bool>,
    /// Read past the header and not yet handed to the protocol.
    held: RefCell<Vec<u8>>,
    /// A delivery of `held` is on the clock.
    scheduled: Cell<bool>,
    clock: Rc<dyn Clock>,
    protocol: Weak<RefCell<P>>,
    me: Weak<Proxied<P>>,
}

impl<P: Protocol> Proxied<P> {
    fn transport(self: &Rc<Self>) -> Transport {
        Transport::new(self.clone())
    }

    /// Hands the held bytes to the protocol, unless it has reading paused
    /// or its connection is closing (then nothing is delivered, as on any
    /// connection). Runs inside a callback of the connection, or from
    /// [`schedule`](Self::schedule).
    fn deliver_held(self: &Rc<Self>) {
        if self.paused.get() || self.held.borrow().is_empty() {
            return;
        }
        let held = std::mem::take(&mut *self.held.borrow_mut());
        let Some(protocol) = self.protocol.upgrade() else {
            return;
        };
        let transport = self.transport();
        if transport.is_disconnecting() {
            return;
        }
        protocol.borrow_mut().data_received(&transport, &held);
    }

    /// Delivers the held bytes on a later turn, in the connection's log
    /// context; a panic is handled as the connection handles one in
    /// `data_received`: logged, and the connection closed.
    fn schedule(&self) {
        if self.scheduled.replace(true) {
            return;
        }
        let me = self.me.clone();
        // Not cancelled: it holds no strong reference, and finds nothing
        // to do once the connection is gone.
        let _call = self.clock.call_later(Duration::ZERO, move || {
            let Some(me) = me.upgrade() else {
                return;
            };
            me.scheduled.set(false);
            with_system(me.inner.log_prefix(), || {
                if let Err(msg) = guarded(|| me.deliver_held()) {
                    log_panic("data_received", &msg);
                    me.inner.abort_connection();
                }
            });
        });
    }
}

impl<P: Protocol> TransportImpl for Proxied<P> {
    fn write(&self, data: &[u8]) {
        self.inner.write(data)
    }
    fn write_sequence(&self, parts: &[&[u8]]) {
        self.inner.write_sequence(parts)
    }
    fn lose_connection(&self) {
        self.inner.lose_connection()
    }
    fn abort_connection(&self) {
        self.inner.abort_connection()
    }
    fn lose_write_connection(&self) {
        self.inner.lose_write_connection()
    }
    fn peer(&self) -> Address {
        match &self.addresses {
            Some((source, _)) => source.clone(),
            None => self.inner.peer(),
        }
    }
    fn host(&self) -> Address {
        match &self.addresses {
            Some((_, destination)) => destination.clone(),
            None => self.inner.host(),
        }
    }
    fn set_no_delay(&self, enabled: bool) -> io::Result<()> {
        self.inner.set_no_delay(enabled)
    }
    fn no_delay(&self) -> io::Result<bool> {
        self.inner.no_delay()
    }
    fn set_keep_alive(&self, enabled: bool) -> io::Result<()> {
        self.inner.set_keep_alive(enabled)
    }
    fn keep_alive(&self) -> io::Result<bool> {
        self.inner.keep_alive()
    }
    fn pause_reading(&self) {
        self.paused.set(true);
        self.inner.pause_reading()
    }
    fn resume_reading(&self) {
        self.paused.set(false);
        self.inner.resume_reading();
        if !self.held.borrow().is_empty() {
            self.schedule();
        }
    }
    fn register_producer(&self, producer: Producer) -> Result<(), ProducerError> {
        self.inner.register_producer(producer)
    }
    fn unregister_producer(&self) {
        self.inner.unregister_producer()
    }
    fn is_connected(&self) -> bool {
        self.inner.is_connected()
    }
    fn is_disconnecting(&self) -> bool {
        self.inner.is_disconnecting()
    }
    fn buffered(&self) -> usize {
        self.inner.buffered()
    }
    fn log_prefix(&self) -> String {
        self.inner.log_prefix()
    }
    fn set_log_peer(&self, peer: &Address) {
        self.inner.set_log_peer(peer)
    }
    fn peer_credentials(&self) -> std::io::Result<crate::transport::PeerCredentials> {
        self.inner.peer_credentials()
    }
    fn send_file_descriptor(&self, fd: std::os::fd::OwnedFd) -> std::io::Result<()> {
        self.inner.send_file_descriptor(fd)
    }
    fn take_file_descriptors(&self) -> Vec<std::os::fd::OwnedFd> {
        self.inner.received_file_descriptors()
    }
    /// Itself: pausing and resuming it go through this transport (no new
    /// allocation per registration).
    fn as_push_producer(self: Rc<Self>) -> Option<Rc<dyn PushProducer>> {
        Some(self)
    }
}

/// The transport as a producer of what it reads, like any transport's.
impl<P: Protocol> PushProducer for Proxied<P> {
    fn pause_producing(&self) {
        self.pause_reading();
    }
    fn resume_producing(&self) {
        resume_reading_unless_closing(self);
    }
    fn stop_producing(&self) {
        self.lose_connection();
    }
}
