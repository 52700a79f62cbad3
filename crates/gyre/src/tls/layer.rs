//! The TLS wrapper: a rustls connection fed from `data_received`, its
//! output written to the transport below (Twisted's memory-BIO design).
//!
//! [`TlsLayer`] is the [`WrapProtocol`] around the user's protocol;
//! [`Tls`] (behind `TlsShared`) is the transport the user's protocol sees.
//! Phases: handshaking (the inner protocol has not been told of the
//! connection), open (told), failed (a [`TlsError`] is recorded and the
//! transport below is closing), and plain (a STARTTLS-capable connection
//! before [`start_tls`]: bytes pass through untouched).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::{self, Read, Write as _};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::Duration;

use rustls::Connection;

use super::config::{ClientTls, ServerTls};
use super::error::{TlsError, TlsSide};
use crate::address::Address;
use crate::error::{ProducerError, Reason};
use crate::factory::{ClientFactory, Factory, Shared};
use crate::log::{guarded, log_panic, with_system};
use crate::protocol::Protocol;
use crate::time::{Clock, DelayedCall};
use crate::transport::{
    Producer, PushProducer, Transport, TransportImpl, WriteLimit, resume_reading_unless_closing,
};
use crate::wrap::{ProtocolWrapper, WrapFactory, WrapProtocol, WrappingFactory};

const TARGET: &str = "gyre::tls";

/// How long a handshake may take by default.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Size of the scratch buffer plaintext is gathered into (the reactor's
/// read size).
const SCRATCH: usize = 64 * 1024;

thread_local! {
    /// One plaintext buffer per thread (as the reactor has one read buffer),
    /// lent out while a protocol's `data_received` runs.
    static SCRATCH_BUF: Cell<Option<Box<[u8]>>> = const { Cell::new(None) };
}

fn take_scratch() -> Box<[u8]> {
    SCRATCH_BUF
        .with(|s| s.take())
        .unwrap_or_else(|| vec![0u8; SCRATCH].into_boxed_slice())
}

fn give_back_scratch(buf: Box<[u8]>) {
    SCRATCH_BUF.with(|s| s.set(Some(buf)));
}

/// Called once per connection with the outcome of its handshake: the
/// transport the protocol was given, or why the handshake failed.
pub type HandshakeHook = Rc<dyn Fn(Result<Transport, TlsError>)>;

/// The TLS side of one connection to build: a server configuration, or a
/// client configuration and the name to check.
#[derive(Clone)]
pub enum TlsRole {
    /// Accepts TLS with this configuration.
    Server(ServerTls),
    /// Connects with this configuration, checking the certificate against
    /// `name` (and sending it as SNI when it is a DNS name).
    Client {
        /// What the client trusts and presents.
        tls: ClientTls,
        /// The name the server's certificate must be valid for.
        name: String,
    },
}

impl fmt::Debug for TlsRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsRole::Server(_) => f.write_str("TlsRole::Server"),
            TlsRole::Client { name, .. } => write!(f, "TlsRole::Client({name})"),
        }
    }
}

impl TlsRole {
    fn side(&self) -> TlsSide {
        match self {
            TlsRole::Server(_) => TlsSide::Server,
            TlsRole::Client { .. } => TlsSide::Client,
        }
    }

    fn connection(&self) -> Result<Connection, TlsError> {
        let conn: Connection = match self {
            TlsRole::Server(tls) => rustls::ServerConnection::new(tls.rustls_config().clone())
                .map_err(|e| TlsError::from_rustls(&e, None))?
                .into(),
            TlsRole::Client { tls, name } => {
                let server_name = super::config::server_name(name)
                    .map_err(|e| TlsError::Protocol(e.to_string()))?;
                rustls::ClientConnection::new(tls.rustls_config().clone(), server_name)
                    .map_err(|e| TlsError::from_rustls(&e, Some(name)))?
                    .into()
            }
        };
        Ok(conn)
    }

    fn checked_name(&self) -> Option<&str> {
        match self {
            TlsRole::Server(_) => None,
            TlsRole::Client { name, .. } => Some(name),
        }
    }
}

/// What every TLS connection of a factory or endpoint shares: the role,
/// the clock and the handshake timeout.
#[derive(Clone)]
pub struct TlsSettings {
    role: TlsRole,
    clock: Rc<dyn Clock>,
    timeout: Option<Duration>,
    hook: Option<HandshakeHook>,
}

impl TlsSettings {
    /// TLS as a server, handshakes timed on `clock`
    /// ([`DEFAULT_HANDSHAKE_TIMEOUT`]).
    pub fn server(clock: &(impl Clock + Clone + 'static), tls: ServerTls) -> TlsSettings {
        TlsSettings::new(clock, TlsRole::Server(tls))
    }

    /// TLS as a client that checks the server's certificate for `name`.
    pub fn client(
        clock: &(impl Clock + Clone + 'static),
        tls: ClientTls,
        name: &str,
    ) -> TlsSettings {
        TlsSettings::new(
            clock,
            TlsRole::Client {
                tls,
                name: name.to_string(),
            },
        )
    }

    /// Settings for a role.
    pub fn new(clock: &(impl Clock + Clone + 'static), role: TlsRole) -> TlsSettings {
        let clock = crate::time::keep(clock);
        TlsSettings {
            role,
            clock,
            timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
            hook: None,
        }
    }

    /// The handshake timeout; `None` for none.
    pub fn with_handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// A function told of each connection's handshake outcome (endpoints
    /// use it to fire their Deferred).
    pub fn with_handshake_hook(mut self, hook: HandshakeHook) -> Self {
        self.hook = Some(hook);
        self
    }

    /// The role.
    pub fn role(&self) -> &TlsRole {
        &self.role
    }
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("role", &self.role)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A factory whose every connection runs TLS around the wrapped factory's
/// protocols.
pub type TlsFactory<F> = WrappingFactory<F, TlsSettings>;

/// A protocol `P` run over TLS.
pub type TlsProtocol<P> = ProtocolWrapper<Rc<RefCell<P>>, TlsLayer<P>>;

impl<F: Factory> WrapFactory<F> for TlsSettings {
    type Protocol = TlsProtocol<F::Protocol>;

    fn build_protocol(&self, wrapped: &Shared<F>, addr: &Address) -> Option<Self::Protocol> {
        let inner = wrapped.build_protocol(addr)?;
        match TlsLayer::wrap(inner, self) {
            Ok(p) => Some(p),
            Err(e) => {
                log::error!(target: TARGET, "Cannot start TLS: {e}");
                None
            }
        }
    }
}

/// Wraps `factory` so that every connection it serves or makes speaks TLS.
pub fn tls_factory<F: Factory>(
    factory: impl Into<Shared<F>>,
    settings: TlsSettings,
) -> TlsFactory<F> {
    WrappingFactory::wrap(factory, settings)
}

#[allow(dead_code)]
fn _client_factory_forwarding<F: ClientFactory>(f: TlsFactory<F>) -> impl ClientFactory {
    f
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Bytes pass through untouched until `start_tls`.
    Plain,
    Handshaking,
    Open,
    Failed,
}

/// The [`WrapProtocol`] that runs TLS under its inner protocol. Built with
/// [`TlsLayer::wrap`] (TLS from the first byte) or [`TlsLayer::plain`]
/// (clear text until [`StartTls::start_tls`]).
pub struct TlsLayer<P> {
    shared: Rc<TlsShared<P>>,
}

impl<P: Protocol> TlsLayer<P> {
    /// `inner` run over TLS from the first byte.
    pub fn wrap(inner: P, settings: &TlsSettings) -> Result<TlsProtocol<P>, TlsError> {
        let conn = settings.role.connection()?;
        Ok(Self::build(inner, settings, Some(conn), Phase::Handshaking))
    }

    /// `inner` run in clear until it calls [`StartTls::start_tls`] on the
    /// handle it can get with
    /// [`start_tls_handle`](crate::wrap::ProtocolWrapper::start_tls_handle)
    /// (STARTTLS).
    pub fn plain(inner: P, clock: &(impl Clock + Clone + 'static)) -> TlsProtocol<P> {
        let clock = crate::time::keep(clock);
        let settings = TlsSettings {
            role: TlsRole::Client {
                tls: ClientTls::from_rustls(Arc::new(
                    rustls::ClientConfig::builder_with_provider(super::config::provider())
                        .with_safe_default_protocol_versions()
                        .expect("ring supports the default versions")
                        .with_root_certificates(rustls::RootCertStore::empty())
                        .with_no_client_auth(),
                )),
                name: String::new(),
            },
            clock,
            timeout: None,
            hook: None,
        };
        Self::build(inner, &settings, None, Phase::Plain)
    }

    fn build(
        inner: P,
        settings: &TlsSettings,
        conn: Option<Connection>,
        phase: Phase,
    ) -> TlsProtocol<P> {
        let protocol = Rc::new(RefCell::new(inner));
        let shared = Rc::new_cyclic(|me| TlsShared {
            me: me.clone(),
            protocol: Rc::downgrade(&protocol),
            conn: RefCell::new(conn),
            lower: RefCell::new(None),
            phase: Cell::new(phase),
            side: Cell::new(settings.role.side()),
            name: RefCell::new(settings.role.checked_name().map(str::to_string)),
            told: Cell::new(phase == Phase::Plain),
            failure: RefCell::new(None),
            paused: Cell::new(false),
            pending_in: RefCell::new(Vec::new()),
            pending_pos: Cell::new(0),
            backlog: RefCell::new(Vec::new()),
            peer_closed: Cell::new(false),
            close_sent: Cell::new(false),
            closing: Cell::new(false),
            fin_pending: Cell::new(false),
            close_wanted: Cell::new(None),
            deadline: RefCell::new(None),
            clock: settings.clock.clone(),
            timeout: Cell::new(settings.timeout),
            hook: RefCell::new(settings.hook.clone()),
            scheduled: Cell::new(false),
        });
        ProtocolWrapper::wrap(protocol, TlsLayer { shared })
    }
}

impl<P: Protocol> ProtocolWrapper<Rc<RefCell<P>>, TlsLayer<P>> {
    /// The handle the protocol (or anyone) uses to switch a clear-text
    /// connection to TLS.
    pub fn start_tls_handle(&self) -> StartTls {
        StartTls {
            shared: self.wrapper().shared.clone(),
        }
    }

    /// The inner protocol's shared cell.
    pub fn protocol(&self) -> &Rc<RefCell<P>> {
        self.inner()
    }
}

impl<P> fmt::Debug for TlsLayer<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsLayer")
            .field("phase", &self.shared.phase.get())
            .finish()
    }
}

/// Switches a clear-text connection run by [`TlsLayer::plain`] to TLS
/// (STARTTLS). Cheap to clone; keep it in the protocol.
#[derive(Clone)]
pub struct StartTls {
    shared: Rc<dyn StartTlsImpl>,
}

impl fmt::Debug for StartTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StartTls")
    }
}

/// Why [`StartTls::start_tls`] refused.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StartTlsError {
    /// The connection already runs TLS.
    #[error("TLS was already started on this connection")]
    AlreadyStarted,
    /// The connection is closed or closing.
    #[error("the connection is closed")]
    Closed,
    /// The TLS session could not be created.
    #[error("{0}")]
    Tls(#[from] TlsError),
}

impl StartTls {
    /// From now on, everything written is encrypted and everything read is
    /// decrypted. Bytes written before this call are sent in clear, once,
    /// before the handshake; bytes written after it are held until the
    /// handshake is done. The protocol keeps its transport (the same
    /// handle works before and after). A failed handshake closes the
    /// connection with [`Reason::Tls`].
    pub fn start_tls(&self, settings: &TlsSettings) -> Result<(), StartTlsError> {
        self.shared.start(settings)
    }
}

trait StartTlsImpl {
    fn start(&self, settings: &TlsSettings) -> Result<(), StartTlsError>;
}

/// The state of one TLS connection, shared by its wrapper and the
/// transport its protocol sees.
struct TlsShared<P> {
    me: Weak<TlsShared<P>>,
    protocol: Weak<RefCell<P>>,
    /// `None` in the plain phase.
    conn: RefCell<Option<Connection>>,
    lower: RefCell<Option<Transport>>,
    phase: Cell<Phase>,
    side: Cell<TlsSide>,
    name: RefCell<Option<String>>,
    /// Whether the inner protocol got `connection_made`.
    told: Cell<bool>,
    failure: RefCell<Option<TlsError>>,
    paused: Cell<bool>,
    /// Ciphertext that arrived while reading was paused.
    pending_in: RefCell<Vec<u8>>,
    /// How much of `pending_in` was used already (compacted lazily, so a
    /// protocol that pauses often costs no copy per resume).
    pending_pos: Cell<usize>,
    /// Plaintext written from inside a call that held the session.
    backlog: RefCell<Vec<u8>>,
    /// The peer sent `close_notify`.
    peer_closed: Cell<bool>,
    /// We sent `close_notify`.
    close_sent: Cell<bool>,
    /// `lose_connection` was called: close_notify goes at the end of the
    /// turn.
    closing: Cell<bool>,
    /// The transport below saw the peer's FIN while ciphertext still waited
    /// to be read (reading was paused): handled once it has been.
    fin_pending: Cell<bool>,
    /// A close asked for before the handshake finished: `Some(true)` for a
    /// whole close, `Some(false)` for a half-close.
    close_wanted: Cell<Option<bool>>,
    deadline: RefCell<Option<DelayedCall>>,
    clock: Rc<dyn Clock>,
    timeout: Cell<Option<Duration>>,
    hook: RefCell<Option<HandshakeHook>>,
    scheduled: Cell<bool>,
}

/// Writes what rustls produces to the transport below: one write (a
/// `writev` for several records) per flush.
struct Below<'a>(&'a Transport);

impl io::Write for Below<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf);
        Ok(buf.len())
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let parts: Vec<&[u8]> = bufs.iter().map(|b| &**b).collect();
        self.0.write_sequence(&parts);
        Ok(parts.iter().map(|p| p.len()).sum())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<P: Protocol> TlsShared<P> {
    fn lower(&self) -> Option<Transport> {
        self.lower.borrow().clone()
    }

    fn transport(&self) -> Transport {
        Transport::new(self.me.upgrade().expect("called through a live connection"))
    }

    /// Sends whatever rustls has queued (handshake messages, records,
    /// alerts) to the transport below.
    fn flush_tls(&self) {
        let Some(lower) = self.lower() else { return };
        let Ok(mut conn) = self.conn.try_borrow_mut() else {
            return;
        };
        let Some(conn) = conn.as_mut() else { return };
        while conn.wants_write() {
            if conn.write_tls(&mut Below(&lower)).is_err() {
                break;
            }
        }
    }

    /// Encrypts `data` and sends it.
    fn send(&self, parts: &[&[u8]]) {
        match self.conn.try_borrow_mut() {
            Ok(mut conn) => {
                let Some(c) = conn.as_mut() else {
                    drop(conn);
                    if let Some(lower) = self.lower() {
                        lower.write_sequence(parts);
                    }
                    return;
                };
                let backlog = std::mem::take(&mut *self.backlog.borrow_mut());
                if !backlog.is_empty() {
                    let _ = c.writer().write_all(&backlog);
                }
                if let [one] = parts {
                    let _ = c.writer().write_all(one);
                } else {
                    let slices: Vec<io::IoSlice<'_>> =
                        parts.iter().map(|p| io::IoSlice::new(p)).collect();
                    let mut rest: &mut [io::IoSlice<'_>] = &mut slices.clone();
                    while !rest.is_empty() {
                        match c.writer().write_vectored(rest) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => io::IoSlice::advance_slices(&mut rest, n),
                        }
                    }
                }
                drop(conn);
                self.flush_tls();
            }
            // Written from inside a call that holds the session (a
            // producer paused by our own flush): encrypted next time.
            Err(_) => {
                let mut backlog = self.backlog.borrow_mut();
                for p in parts {
                    backlog.extend_from_slice(p);
                }
            }
        }
    }

    fn cancel_deadline(&self) {
        if let Some(call) = self.deadline.borrow_mut().take() {
            let _ = call.cancel();
        }
    }

    fn fire_hook(&self, outcome: Result<Transport, TlsError>) {
        let hook = self.hook.borrow_mut().take();
        if let Some(hook) = hook {
            hook(outcome);
        }
    }

    /// Records a failure (the first one wins), logs it once, tells the
    /// endpoint, sends any alert, and closes the connection below.
    fn fail(&self, error: TlsError, abort: bool) {
        if self.failure.borrow().is_some() {
            return;
        }
        self.cancel_deadline();
        let lower = self.lower();
        let peer = lower
            .as_ref()
            .map(|l| l.peer().to_string())
            .unwrap_or_default();
        log::info!(
            target: TARGET,
            "TLS {} connection with {peer} failed: {error}",
            self.side.get()
        );
        *self.failure.borrow_mut() = Some(error.clone());
        self.phase.set(Phase::Failed);
        self.fire_hook(Err(error));
        self.flush_tls();
        if let Some(lower) = lower {
            if abort {
                lower.abort_connection();
            } else {
                lower.lose_connection();
            }
        }
    }

    fn start_deadline(&self) {
        let Some(timeout) = self.timeout.get() else {
            return;
        };
        let me = self.me.clone();
        let call = self.clock.call_later(timeout, move || {
            if let Some(me) = me.upgrade() {
                if me.phase.get() == Phase::Handshaking {
                    let prefix = me.lower().map(|l| l.log_prefix()).unwrap_or_default();
                    with_system(prefix, || {
                        me.fail(TlsError::HandshakeTimeout(timeout), true)
                    });
                }
            }
        });
        if let Some(old) = self.deadline.borrow_mut().replace(call) {
            let _ = old.cancel();
        }
    }

    /// Bytes from the transport below.
    fn receive(&self, data: &[u8]) {
        if self.phase.get() == Phase::Plain {
            if let Some(p) = self.protocol.upgrade() {
                p.borrow_mut().data_received(&self.transport(), data);
            }
            return;
        }
        if self.paused.get() || self.has_pending() {
            self.pending_in.borrow_mut().extend_from_slice(data);
            return;
        }
        let mut rest = data;
        self.consume(&mut rest);
        if !rest.is_empty() {
            self.pending_in.borrow_mut().extend_from_slice(rest);
        }
    }

    /// Feeds ciphertext to rustls and delivers what comes of it, until
    /// `rest` is used up, reading is paused, or the connection failed.
    /// Plaintext is gathered into one buffer (up to [`SCRATCH`] bytes) and
    /// handed over in one `data_received`, however many records it came
    /// in, so an echo answers a 64 KiB read with one write.
    fn consume(&self, rest: &mut &[u8]) {
        let mut buf = take_scratch();
        let mut eof = false;
        loop {
            if self.phase.get() == Phase::Failed {
                *rest = &[];
                break;
            }
            let processed = {
                let mut conn = self.conn.borrow_mut();
                let Some(c) = conn.as_mut() else { break };
                // As much as rustls takes at once (about one record).
                while !rest.is_empty() {
                    match c.read_tls(rest) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
                c.process_new_packets()
            };
            if let Err(e) = processed {
                let name = self.name.borrow().clone();
                self.fail(TlsError::from_rustls(&e, name.as_deref()), false);
                *rest = &[];
                break;
            }
            self.flush_tls();
            self.finish_handshake();
            if self.phase.get() == Phase::Open {
                // Plaintext leaves rustls only while the protocol reads: it
                // may pause in any callback (in `connection_made`, run just
                // above when the handshake ends, a port forwarder pauses
                // until its other side is up), and what rustls still holds
                // then waits there for `resume_reading`.
                loop {
                    if self.paused.get() || self.told_closed() {
                        break;
                    }
                    let read = match self.conn.borrow_mut().as_mut() {
                        Some(c) => c.reader().read(&mut buf),
                        None => Ok(0),
                    };
                    match read {
                        Ok(0) => {
                            eof = true;
                            break;
                        }
                        Ok(n) if self.failure.borrow().is_none() => self.hand_over(&buf[..n]),
                        Ok(_) => break,
                        // WouldBlock: nothing more for now; UnexpectedEof
                        // is told by the transport below.
                        Err(_) => break,
                    }
                }
            }
            if eof || rest.is_empty() || self.paused.get() || self.told_closed() {
                break;
            }
        }
        give_back_scratch(buf);
        if eof && !self.paused.get() && self.failure.borrow().is_none() {
            self.peer_closed_cleanly();
        }
    }

    /// Gives the inner protocol decrypted bytes.
    fn hand_over(&self, data: &[u8]) {
        if let Some(protocol) = self.protocol.upgrade() {
            protocol.borrow_mut().data_received(&self.transport(), data);
        }
    }

    /// Whether ciphertext waits in `pending_in`.
    fn has_pending(&self) -> bool {
        self.pending_in.borrow().len() > self.pending_pos.get()
    }

    fn told_closed(&self) -> bool {
        self.failure.borrow().is_some() || self.lower().is_none_or(|l| !l.is_connected())
    }

    /// Once rustls has finished the handshake: tell the inner protocol and
    /// the endpoint, send what waited, and do a close asked for meanwhile.
    fn finish_handshake(&self) {
        if self.phase.get() != Phase::Handshaking {
            return;
        }
        let done = self
            .conn
            .borrow()
            .as_ref()
            .is_some_and(|c| !c.is_handshaking());
        if !done {
            return;
        }
        self.cancel_deadline();
        self.phase.set(Phase::Open);
        let transport = self.transport();
        if !self.told.get() {
            self.told.set(true);
            if let Some(p) = self.protocol.upgrade() {
                p.borrow_mut().connection_made(&transport);
            }
        }
        self.fire_hook(Ok(transport));
        let backlog = std::mem::take(&mut *self.backlog.borrow_mut());
        if !backlog.is_empty() {
            self.send(&[&backlog]);
        }
        self.flush_tls();
        match self.close_wanted.take() {
            Some(true) => self.close(),
            Some(false) => self.half_close(),
            None => {}
        }
    }

    /// Gives the inner protocol what rustls holds decrypted, while it reads.
    fn deliver(&self) {
        if self.phase.get() == Phase::Open && !self.paused.get() {
            self.consume(&mut &[][..]);
        }
    }

    fn peer_closed_cleanly(&self) {
        if self.peer_closed.replace(true) {
            return;
        }
        let Some(protocol) = self.protocol.upgrade() else {
            return;
        };
        if protocol.borrow().half_closeable() {
            protocol
                .borrow_mut()
                .read_connection_lost(&self.transport());
        } else {
            self.close();
        }
    }

    /// Sends `close_notify` after everything written, then closes below.
    fn close(&self) {
        match self.phase.get() {
            Phase::Handshaking => {
                self.close_wanted.set(Some(true));
                return;
            }
            Phase::Failed => return,
            Phase::Plain => {
                if let Some(lower) = self.lower() {
                    lower.lose_connection();
                }
                return;
            }
            Phase::Open => {}
        }
        // As over TCP, what is written before the close completes (here:
        // in the rest of this turn) is still delivered; then close_notify.
        if self.closing.replace(true) {
            return;
        }
        let me = self.me.clone();
        let _call = self.clock.call_later(Duration::ZERO, move || {
            if let Some(me) = me.upgrade() {
                me.send_close_notify();
                if let Some(lower) = me.lower() {
                    lower.lose_connection();
                }
            }
        });
    }

    /// Sends `close_notify` and shuts the write side below.
    fn half_close(&self) {
        match self.phase.get() {
            Phase::Handshaking => {
                self.close_wanted.set(Some(false));
                return;
            }
            Phase::Failed => return,
            Phase::Plain => {}
            Phase::Open => self.send_close_notify(),
        }
        if let Some(lower) = self.lower() {
            lower.lose_write_connection();
        }
    }

    fn send_close_notify(&self) {
        if self.close_sent.replace(true) {
            return;
        }
        if let Ok(mut conn) = self.conn.try_borrow_mut() {
            if let Some(c) = conn.as_mut() {
                c.send_close_notify();
            }
        }
        self.flush_tls();
    }

    /// Delivers what waited while reading was paused, on a later turn.
    fn schedule(&self) {
        if self.scheduled.replace(true) {
            return;
        }
        let me = self.me.clone();
        let _call = self.clock.call_later(Duration::ZERO, move || {
            let Some(me) = me.upgrade() else { return };
            me.scheduled.set(false);
            let Some(lower) = me.lower() else { return };
            with_system(lower.log_prefix(), || {
                if let Err(msg) = guarded(|| me.resume_delivery()) {
                    log_panic("data_received", &msg);
                    lower.abort_connection();
                }
            });
        });
    }

    fn resume_delivery(&self) {
        if self.paused.get() {
            return;
        }
        self.deliver();
        if self.has_pending() {
            let mut pending = std::mem::take(&mut *self.pending_in.borrow_mut());
            let pos = self.pending_pos.replace(0);
            let mut rest = &pending[pos..];
            self.consume(&mut rest);
            let used = pending.len() - rest.len();
            if used < pending.len() {
                // Keep the rest where it is, with what arrived meanwhile.
                pending.extend_from_slice(&self.pending_in.borrow());
                if used > pending.len() / 2 {
                    pending.drain(..used);
                    self.pending_pos.set(0);
                } else {
                    self.pending_pos.set(used);
                }
                *self.pending_in.borrow_mut() = pending;
            }
            // Used up: freed (an idle connection holds no buffer); only
            // what arrived meanwhile, if anything, stays.
        }
        let drained = !self.paused.get() && !self.has_pending();
        if drained && self.fin_pending.get() && !self.peer_closed.get() {
            self.fin_pending.set(false);
            if let Some(lower) = self.lower() {
                lower.lose_connection();
            }
        } else if drained {
            if let Some(lower) = self.lower() {
                if lower.is_connected() && !lower.is_disconnecting() {
                    lower.resume_reading();
                }
            }
        }
    }

    /// Whether rustls holds decrypted bytes not yet given to the protocol
    /// (or a close_notify not yet acted on).
    fn holds_plaintext(&self) -> bool {
        if self.phase.get() != Phase::Open {
            return false;
        }
        match self.conn.try_borrow_mut() {
            Ok(mut conn) => match conn.as_mut().map(|c| c.process_new_packets()) {
                Some(Ok(state)) => {
                    state.plaintext_bytes_to_read() > 0
                        || (state.peer_has_closed() && !self.peer_closed.get())
                }
                // An error is reported by the delivery that meets it.
                Some(Err(_)) => true,
                None => false,
            },
            Err(_) => true,
        }
    }

    /// The connection below ended: the reason the inner protocol hears.
    fn reason_for(&self, reason: Reason) -> Reason {
        if let Some(failure) = self.failure.borrow().clone() {
            return Reason::Tls(failure);
        }
        match self.phase.get() {
            Phase::Plain | Phase::Failed => reason,
            Phase::Handshaking => reason,
            Phase::Open => match reason {
                // A TCP close without close_notify may be a truncation.
                Reason::Done if !self.peer_closed.get() && !self.close_sent.get() => {
                    Reason::Lost(Some(Arc::new(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the peer closed the connection without a TLS close_notify",
                    ))))
                }
                other => other,
            },
        }
    }
}

impl<P: Protocol> StartTlsImpl for TlsShared<P> {
    fn start(&self, settings: &TlsSettings) -> Result<(), StartTlsError> {
        if self.phase.get() != Phase::Plain {
            return Err(StartTlsError::AlreadyStarted);
        }
        let Some(lower) = self.lower() else {
            return Err(StartTlsError::Closed);
        };
        if !lower.is_connected() || lower.is_disconnecting() {
            return Err(StartTlsError::Closed);
        }
        let mut conn = settings.role.connection()?;
        // Plaintext written before the handshake completes waits in rustls.
        conn.set_buffer_limit(None);
        *self.conn.borrow_mut() = Some(conn);
        self.side.set(settings.role.side());
        *self.name.borrow_mut() = settings.role.checked_name().map(str::to_string);
        *self.hook.borrow_mut() = settings.hook.clone();
        self.timeout.set(settings.timeout);
        self.phase.set(Phase::Handshaking);
        self.start_deadline();
        self.flush_tls();
        Ok(())
    }
}

impl<P: Protocol> WrapProtocol<Rc<RefCell<P>>> for TlsLayer<P> {
    fn connection_made(&mut self, inner: &mut Rc<RefCell<P>>, transport: &Transport) {
        let s = &self.shared;
        *s.lower.borrow_mut() = Some(transport.clone());
        match s.phase.get() {
            Phase::Plain => inner.borrow_mut().connection_made(&s.transport()),
            Phase::Handshaking => {
                if let Some(c) = s.conn.borrow_mut().as_mut() {
                    c.set_buffer_limit(None);
                }
                s.start_deadline();
                // A client's hello goes out now.
                s.flush_tls();
            }
            Phase::Open | Phase::Failed => {}
        }
    }

    fn data_received(&mut self, _inner: &mut Rc<RefCell<P>>, _transport: &Transport, data: &[u8]) {
        self.shared.receive(data)
    }

    fn connection_lost(&mut self, inner: &mut Rc<RefCell<P>>, reason: Reason) {
        let s = &self.shared;
        s.cancel_deadline();
        if s.phase.get() == Phase::Handshaking && s.failure.borrow().is_none() {
            let error = TlsError::ClosedDuringHandshake(Arc::new(reason.clone()));
            log::info!(
                target: TARGET,
                "TLS {} connection with {} failed: {error}",
                s.side.get(),
                s.lower().map(|l| l.peer().to_string()).unwrap_or_default()
            );
            *s.failure.borrow_mut() = Some(error.clone());
            s.phase.set(Phase::Failed);
            s.fire_hook(Err(error));
        }
        let reason = s.reason_for(reason);
        if s.told.replace(false) {
            inner.borrow_mut().connection_lost(reason);
        }
    }

    fn half_closeable(&self, _inner: &Rc<RefCell<P>>) -> bool {
        // The transport below reports its peer's FIN to us either way; the
        // inner protocol hears of a half-close through close_notify.
        true
    }

    fn read_connection_lost(&mut self, inner: &mut Rc<RefCell<P>>, transport: &Transport) {
        let s = &self.shared;
        match s.phase.get() {
            Phase::Plain => {
                if inner.borrow().half_closeable() {
                    inner.borrow_mut().read_connection_lost(&s.transport());
                } else {
                    transport.lose_connection();
                }
            }
            Phase::Handshaking => {
                s.fail(
                    TlsError::ClosedDuringHandshake(Arc::new(Reason::Done)),
                    false,
                );
            }
            Phase::Open => {
                if !s.paused.get() {
                    s.deliver();
                }
                if s.peer_closed.get() {
                    return;
                }
                if s.paused.get() || s.has_pending() {
                    // Records still wait (the protocol paused reading):
                    // the FIN counts once they have been read.
                    s.fin_pending.set(true);
                } else {
                    // A FIN without close_notify: the stream may be
                    // truncated.
                    transport.lose_connection();
                }
            }
            Phase::Failed => transport.lose_connection(),
        }
    }

    fn write_connection_lost(&mut self, inner: &mut Rc<RefCell<P>>, _transport: &Transport) {
        let s = &self.shared;
        if s.told.get() {
            inner.borrow_mut().write_connection_lost(&s.transport());
        }
    }
}

impl<P> Drop for TlsLayer<P> {
    fn drop(&mut self) {
        if let Some(call) = self.shared.deadline.borrow_mut().take() {
            let _ = call.cancel();
        }
    }
}

impl<P: Protocol> TransportImpl for TlsShared<P> {
    fn write(&self, data: &[u8]) {
        self.write_sequence(&[data])
    }
    fn write_sequence(&self, parts: &[&[u8]]) {
        match self.phase.get() {
            Phase::Failed => {}
            _ if self.close_sent.get() => {}
            _ => self.send(parts),
        }
    }
    fn lose_connection(&self) {
        self.close()
    }
    fn abort_connection(&self) {
        if let Some(lower) = self.lower() {
            lower.abort_connection()
        }
    }
    fn lose_write_connection(&self) {
        self.half_close()
    }
    fn peer(&self) -> Address {
        self.lower().map_or_else(unknown_address, |l| l.peer())
    }
    fn host(&self) -> Address {
        self.lower().map_or_else(unknown_address, |l| l.host())
    }
    fn set_no_delay(&self, enabled: bool) -> io::Result<()> {
        self.lower().map_or(Ok(()), |l| l.set_no_delay(enabled))
    }
    fn no_delay(&self) -> io::Result<bool> {
        self.lower().map_or(Ok(false), |l| l.no_delay())
    }
    fn set_keep_alive(&self, enabled: bool) -> io::Result<()> {
        self.lower().map_or(Ok(()), |l| l.set_keep_alive(enabled))
    }
    fn keep_alive(&self) -> io::Result<bool> {
        self.lower().map_or(Ok(false), |l| l.keep_alive())
    }
    fn set_keep_alive_timing(
        &self,
        idle: Duration,
        interval: Duration,
        count: u32,
    ) -> io::Result<()> {
        self.lower()
            .map_or(Ok(()), |l| l.set_keep_alive_timing(idle, interval, count))
    }
    fn pause_reading(&self) {
        self.paused.set(true);
        if let Some(lower) = self.lower() {
            lower.pause_reading();
        }
    }
    fn resume_reading(&self) {
        self.paused.set(false);
        if self.has_pending() || self.holds_plaintext() {
            // Delivered on a later turn (not inside the caller's call);
            // the transport below resumes once that is drained, so no
            // new bytes queue up behind it meanwhile.
            self.schedule();
        } else if let Some(lower) = self.lower() {
            lower.resume_reading();
        }
    }
    fn register_producer(&self, producer: Producer) -> Result<(), ProducerError> {
        // The transport below holds the encrypted bytes: its 64 KiB rule
        // pauses the producer.
        match self.lower() {
            Some(lower) => lower.register_producer(producer),
            None => Ok(()),
        }
    }
    fn unregister_producer(&self) {
        if let Some(lower) = self.lower() {
            lower.unregister_producer()
        }
    }
    fn is_connected(&self) -> bool {
        self.lower().is_some_and(|l| l.is_connected())
    }
    fn is_disconnecting(&self) -> bool {
        self.close_sent.get()
            || self.closing.get()
            || self.failure.borrow().is_some()
            || self.lower().is_none_or(|l| l.is_disconnecting())
    }
    fn buffered(&self) -> usize {
        self.lower().map_or(0, |l| l.buffered())
    }
    fn log_prefix(&self) -> String {
        self.lower().map(|l| l.log_prefix()).unwrap_or_default()
    }
    fn set_write_limit(&self, limit: WriteLimit) {
        if let Some(lower) = self.lower() {
            lower.set_write_limit(limit)
        }
    }
    fn write_limit(&self) -> WriteLimit {
        self.lower()
            .map_or(WriteLimit::default(), |l| l.write_limit())
    }
    fn should_yield(&self) -> bool {
        self.lower().is_some_and(|l| l.should_yield())
    }
    fn yield_reading(&self) {
        if let Some(lower) = self.lower() {
            lower.yield_reading()
        }
    }
    fn set_log_peer(&self, peer: &Address) {
        if let Some(lower) = self.lower() {
            lower.set_log_peer(peer)
        }
    }
    fn as_push_producer(self: Rc<Self>) -> Option<Rc<dyn PushProducer>> {
        Some(self)
    }
}

/// Where a connection is before it has one (never seen by a protocol).
fn unknown_address() -> Address {
    Address::tcp(std::net::SocketAddr::from(([0, 0, 0, 0], 0)))
}

impl<P: Protocol> PushProducer for TlsShared<P> {
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
