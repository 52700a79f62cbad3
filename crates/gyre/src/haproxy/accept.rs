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
//!   see from then on (the connection's own, or a [`Proxied`] one whose
//!   `peer()`/`host()` are the header's), then the bytes after the header.
//!   Every later callback goes to it with that transport.
//! * refused: the bytes are not a header, or the deadline passed, or the
//!   peer stopped sending first: the connection is aborted and the inner
//!   protocol never hears of it (no `connection_made`, no
//!   `connection_lost`).

use std::fmt;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use super::header::{Command, ProxyHeader, V2_MAX_LEN};
use super::parse::{InvalidHeader, Parsed, parse};
use crate::address::Address;
use crate::error::{ProducerError, Reason};
use crate::factory::{Factory, Shared};
use crate::log::with_system;
use crate::protocol::Protocol;
use crate::time::{Clock, DelayedCall};
use crate::transport::{Producer, PushProducer, Transport, TransportImpl};
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
/// use gyre::testing::Clock;
///
/// struct Web;
/// impl gyre::Protocol for Web {}
///
/// let settings = AcceptSettings::<Web>::new(Rc::new(Clock::new()))
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
    /// (the reactor: `Rc::new(reactor.clone())`; in tests, a
    /// [`testing::Clock`](crate::testing::Clock)).
    pub fn new(clock: Rc<dyn Clock>) -> AcceptSettings<P> {
        AcceptSettings {
            clock,
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
///     AcceptSettings::new(Rc::new(reactor.clone())),
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
pub type AcceptProxy<P> = ProtocolWrapper<P, HeaderReader<P>>;

impl<P: Protocol> ProtocolWrapper<P, HeaderReader<P>> {
    /// Wraps `inner`: its connection starts with a header read as
    /// `settings` say.
    pub fn new(inner: P, settings: AcceptSettings<P>) -> Self {
        ProtocolWrapper::wrap(
            inner,
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
enum Phase {
    /// Before and while the header arrives: what came so far (only when it
    /// came in more than one read) and the deadline (from `connection_made`).
    Waiting {
        buf: Vec<u8>,
        deadline: Option<DelayedCall>,
    },
    /// The header was read; the inner protocol runs with `given`.
    Passed { given: Transport },
    /// Refused, or lost: nothing more reaches the inner protocol.
    Closed,
}

/// The wrapper behind [`AcceptProxy`]: reads the header, then hands the
/// inner protocol the connection (see the [module docs](super)).
pub struct HeaderReader<P> {
    settings: AcceptSettings<P>,
    phase: Phase,
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
    /// A complete header: stop waiting, pick the inner protocol's
    /// transport, tell it of the connection, hand it what followed.
    fn pass(&mut self, inner: &mut P, transport: &Transport, header: ProxyHeader, rest: &[u8]) {
        self.stop_waiting();
        let given = match (header.source(), header.destination()) {
            (Some(source), Some(destination)) => {
                transport.set_log_peer(source);
                Transport::new(Rc::new(Proxied {
                    inner: transport.clone(),
                    peer: source.clone(),
                    host: destination.clone(),
                }))
            }
            _ => transport.clone(),
        };
        log::debug!(target: TARGET, "{}", describe(&header, &transport.peer()));
        if let Some(hook) = self.settings.on_header.clone() {
            hook(inner, &header);
        }
        self.header = Some(header);
        self.phase = Phase::Passed {
            given: given.clone(),
        };
        inner.connection_made(&given);
        // As on any connection, nothing is delivered once a close was asked for.
        if !rest.is_empty() && !given.is_disconnecting() {
            inner.data_received(&given, rest);
        }
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

impl<P: Protocol> WrapProtocol<P> for HeaderReader<P> {
    fn connection_made(&mut self, _inner: &mut P, transport: &Transport) {
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

    fn data_received(&mut self, inner: &mut P, transport: &Transport, data: &[u8]) {
        let outcome = match &mut self.phase {
            Phase::Passed { given } => {
                let given = given.clone();
                return inner.data_received(&given, data);
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

    fn connection_lost(&mut self, inner: &mut P, reason: Reason) {
        // Only a protocol told of the connection hears of its end.
        let told = matches!(self.phase, Phase::Passed { .. });
        self.stop_waiting();
        if told {
            inner.connection_lost(reason);
        }
    }

    fn read_connection_lost(&mut self, inner: &mut P, transport: &Transport) {
        match &self.phase {
            Phase::Passed { given } => {
                let given = given.clone();
                inner.read_connection_lost(&given);
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

    fn write_connection_lost(&mut self, inner: &mut P, _transport: &Transport) {
        if let Phase::Passed { given } = &self.phase {
            let given = given.clone();
            inner.write_connection_lost(&given);
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
/// the header's addresses as `peer()` and `host()`.
struct Proxied {
    inner: Transport,
    peer: Address,
    host: Address,
}

impl TransportImpl for Proxied {
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
        self.peer.clone()
    }
    fn host(&self) -> Address {
        self.host.clone()
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
        self.inner.pause_reading()
    }
    fn resume_reading(&self) {
        self.inner.resume_reading()
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
    /// The connection's own producer of what it reads (no new allocation).
    fn as_push_producer(self: Rc<Self>) -> Option<Rc<dyn PushProducer>> {
        match self.inner.as_producer() {
            Producer::Streaming(p) => Some(p),
            Producer::Pull(_) => None,
        }
    }
}
