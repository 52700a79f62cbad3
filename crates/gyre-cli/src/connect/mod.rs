//! `gyre connect [--reconnect] ENDPOINT`: standard input and output over
//! a connection, like netcat.
//!
//! Three threads take part. The reactor thread owns the connection and the
//! [`Session`]; a reader thread feeds it standard input ([`input`]), and a
//! writer thread drains what arrives to standard output ([`output`]). Both
//! helpers talk to the reactor with `ThreadHandle::call_from_thread`, whose
//! closures must be `Send`: they carry an [`Event`] and find the session
//! through a thread-local slot on the reactor thread ([`deliver`]). Flow
//! control holds memory to a few hundred KiB in both directions (see the two
//! modules).
//!
//! The session's rules:
//!
//! * the protocol opts into half-close; end of standard input shuts down
//!   our sending side (`lose_write_connection`) and output goes on;
//! * when the peer shuts down its sending side (`read_connection_lost`),
//!   the whole connection is closed (`lose_connection`, which still sends
//!   what is buffered);
//! * once the connection is gone the reactor stops, the writer thread
//!   finishes writing and flushing, and the command exits;
//! * the first failure decides the exit status: could not connect (69,
//!   `cannot connect to <endpoint>: <reason>`), standard input or output
//!   failed, or the connection was lost uncleanly (74); after SIGINT or
//!   SIGTERM the command exits 0, waiting at most [`GRACE`] for queued
//!   output;
//! * the command logs at warn unless `--log-level` says otherwise (see
//!   `flags.rs`), so a failure prints its one line and nothing before it.
//!
//! With `--reconnect` a [`ClientService`] owns the connection: failed
//! attempts and ended connections are retried with its back-off (it logs
//! `Scheduling retry N to connect <endpoint> in X seconds.`), and input
//! goes to whichever connection is live; input read while none is live is
//! held (at most the credit window) for the next one. End of input
//! half-closes the live connection, and once that connection is gone (or
//! at once, if none is live and nothing is held) the service is stopped and
//! the command exits. Connection failures are then not failures of the
//! command; standard input and output failures still are. At shutdown the
//! service is stopped first, so closing its connection schedules no retry.

mod input;
mod output;

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::Duration;

use gyre::client::ClientService;
use gyre::endpoint::{ClientEndpoint, ClientEndpointExt};
use gyre::{
    Address, ConnectError, Factory, Phase, Producer, Protocol, PushProducer, Reactor, Reason,
    SystemEvent, ThreadHandle, Transport,
};

use crate::exit::{self, Failure};
use input::{Credits, Input, Window};
use output::OutQueue;

/// After SIGINT or SIGTERM, how long queued output may take to be written.
const GRACE: Duration = Duration::from_secs(1);

/// Connects to `endpoint` and shuttles standard input and output over the
/// connection until it closes (or, with `reconnect`, over one connection
/// after another until input ends), or until a signal stops the reactor.
pub(crate) fn run(
    reactor: &Reactor,
    endpoint: Rc<dyn ClientEndpoint>,
    reconnect: bool,
) -> Result<(), Failure> {
    let session = Session::new(reactor, endpoint.to_string());
    start_helpers(reactor.thread_handle(), &session)?;
    let _current = Current::install(session.clone());
    let factory = NetcatFactory {
        session: Rc::downgrade(&session),
    };
    if reconnect {
        let service = ClientService::new(reactor, endpoint.clone(), factory);
        *session.service.borrow_mut() = Some(service.clone());
        let stopping = service.clone();
        reactor.add_system_event_trigger(Phase::Before, SystemEvent::Shutdown, move || {
            // Not waited for: the shutdown closes the connection anyway.
            drop(stopping.stop_service());
            None
        });
        reactor.call_when_running(move || service.start_service());
    } else {
        let connecting = session.clone();
        reactor.call_when_running(move || connecting.connect(&*endpoint, factory));
    }
    let ran = reactor.run();
    session.finish(ran)
}

/// Starts the reader and writer threads of `session`.
fn start_helpers(handle: ThreadHandle, session: &Session) -> Result<(), Failure> {
    let thread_failed =
        |e: std::io::Error| Failure::new(exit::OSERR, format!("cannot start a thread: {e}"));
    let (resume, failed) = (handle.clone(), handle.clone());
    output::spawn_writer(
        session.output.clone(),
        move || {
            post(&resume, Event::OutputResume);
        },
        move |text| {
            post(&failed, Event::OutputFailed(text));
        },
    )
    .map_err(thread_failed)?;
    input::spawn_reader(session.credits.clone(), move |input| {
        post(&handle, Event::Input(input))
    })
    .map_err(thread_failed)
}

/// What the helper threads tell the reactor.
#[derive(Debug)]
enum Event {
    /// From the reader thread.
    Input(Input),
    /// The writer thread has drained its queue below the low mark.
    OutputResume,
    /// Writing standard output failed (the OS error's text).
    OutputFailed(String),
}

thread_local! {
    /// The session of the reactor running on this thread.
    static CURRENT: RefCell<Option<Rc<Session>>> = const { RefCell::new(None) };
}

/// Keeps a session in [`CURRENT`] while the reactor runs.
struct Current;

impl Current {
    fn install(session: Rc<Session>) -> Current {
        CURRENT.with(|c| *c.borrow_mut() = Some(session));
        Current
    }
}

impl Drop for Current {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| c.borrow_mut().take());
    }
}

impl fmt::Debug for Current {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Current")
    }
}

/// Hands `event` to the session on the reactor thread; false if the
/// reactor has finished.
fn post(handle: &ThreadHandle, event: Event) -> bool {
    handle.call_from_thread(move |_| deliver(event))
}

/// On the reactor thread: passes `event` to the current session, if any.
fn deliver(event: Event) {
    let session = CURRENT.with(|c| c.borrow().clone());
    if let Some(session) = session {
        session.handle(event);
    }
}

/// The state of one `connect` run, on the reactor thread.
struct Session {
    reactor: Reactor,
    /// The endpoint's description, for messages.
    endpoint: String,
    /// With `--reconnect`: the service that keeps a connection up.
    service: RefCell<Option<ClientService<Netcat>>>,
    /// The live connection.
    transport: RefCell<Option<Transport>>,
    /// Credits for the reader thread, and the reactor's account of them.
    credits: Arc<Credits>,
    window: RefCell<Window>,
    /// Chunks of input that arrived while no connection was live.
    held: RefCell<VecDeque<Vec<u8>>>,
    /// End of standard input has been seen.
    input_done: Cell<bool>,
    /// What arrives, for the writer thread.
    output: Arc<OutQueue>,
    /// The first failure; it decides the exit status.
    failure: RefCell<Option<Failure>>,
    /// The session itself stopped the reactor (otherwise a signal did).
    stopped_by_us: Cell<bool>,
}

impl Session {
    fn new(reactor: &Reactor, endpoint: String) -> Rc<Session> {
        Rc::new(Session {
            reactor: reactor.clone(),
            endpoint,
            service: RefCell::new(None),
            transport: RefCell::new(None),
            credits: Arc::new(Credits::default()),
            window: RefCell::new(Window::default()),
            held: RefCell::new(VecDeque::new()),
            input_done: Cell::new(false),
            output: Arc::new(OutQueue::default()),
            failure: RefCell::new(None),
            stopped_by_us: Cell::new(false),
        })
    }

    /// Starts the one connection attempt (without `--reconnect`).
    fn connect(self: &Rc<Self>, endpoint: &dyn ClientEndpoint, factory: NetcatFactory) {
        let me = self.clone();
        endpoint.connect(factory).consume(move |result| {
            let Err(failure) = result else { return };
            let interrupted = matches!(
                failure.check::<ConnectError>(),
                Some(ConnectError::Shutdown | ConnectError::Cancelled { .. })
            );
            if !interrupted {
                me.fail(exit::UNAVAILABLE, || {
                    format!("cannot connect to {}: {failure}", me.endpoint)
                });
            }
            me.stop();
        });
    }

    /// Records a failure unless an earlier one is recorded already.
    fn fail(&self, code: u8, message: impl FnOnce() -> String) {
        let mut first = self.failure.borrow_mut();
        if first.is_none() {
            *first = Some(Failure::new(code, message()));
        }
    }

    /// Stops the reactor (the connection, if any, is gone or going), unless
    /// it is stopping already.
    fn stop(&self) {
        if self.reactor.stop().is_ok() {
            self.stopped_by_us.set(true);
        }
    }

    /// Ends the session: stops the service if there is one (closing its
    /// connection, if any) and then the reactor; otherwise closes the
    /// connection (the reactor stops once it is gone) or, with none, stops
    /// the reactor at once.
    fn end(self: &Rc<Self>) {
        let service = self.service.borrow().clone();
        if let Some(service) = service {
            let me = self.clone();
            service.stop_service().consume(move |_| me.stop());
            return;
        }
        let transport = self.transport.borrow().clone();
        match transport {
            Some(t) => t.lose_connection(),
            None => self.stop(),
        }
    }

    fn reconnecting(&self) -> bool {
        self.service.borrow().is_some()
    }

    /// Grants the reader whatever credits the window allows now.
    fn grant(&self) {
        let n = self.window.borrow_mut().grant();
        self.credits.grant(n);
    }

    /// The connection, if it is live and still takes input.
    fn writable(&self) -> Option<Transport> {
        self.transport
            .borrow()
            .as_ref()
            .filter(|t| t.is_connected() && !t.is_disconnecting())
            .cloned()
    }

    // ----- connection events -----

    fn connection_made(self: &Rc<Self>, transport: &Transport) {
        *self.transport.borrow_mut() = Some(transport.clone());
        let pacer = Pacer {
            session: Rc::downgrade(self),
        };
        if let Err(err) = transport.register_producer(Producer::streaming(pacer)) {
            log::warn!("standard input is not paced: {err}");
        }
        // Output from an earlier connection may still be draining.
        if self.output.reading_paused() {
            transport.pause_reading();
        }
        self.window.borrow_mut().open();
        let held: Vec<Vec<u8>> = self.held.borrow_mut().drain(..).collect();
        for chunk in &held {
            transport.write(chunk);
        }
        self.window.borrow_mut().released(held.len());
        if self.input_done.get() {
            transport.lose_write_connection();
        }
        self.grant();
    }

    fn data_received(&self, transport: &Transport, data: &[u8]) {
        if self.output.push(data) {
            transport.pause_reading();
        }
    }

    /// The peer has shut down its sending side: close ours too.
    fn read_connection_lost(&self, transport: &Transport) {
        self.window.borrow_mut().close();
        transport.lose_connection();
    }

    fn connection_lost(self: &Rc<Self>, reason: &Reason) {
        if let Some(t) = self.transport.borrow_mut().take() {
            t.unregister_producer();
        }
        self.window.borrow_mut().close();
        let unclean = !reason.is_clean() && !matches!(reason, Reason::Shutdown | Reason::Aborted);
        if self.reconnecting() {
            // The service retries; the session ends only when input has.
            if unclean {
                log::warn!("Lost the connection to {}: {reason}", self.endpoint);
            }
            let failed = self.failure.borrow().is_some();
            if self.input_done.get() || failed {
                self.end();
            }
            return;
        }
        if unclean {
            self.fail(exit::IOERR, || {
                format!("lost the connection to {}: {reason}", self.endpoint)
            });
        }
        self.credits.close();
        self.output.close();
        self.stop();
    }

    // ----- events from the helper threads -----

    fn handle(self: &Rc<Self>, event: Event) {
        match event {
            Event::Input(Input::Data(chunk)) => {
                let live = self.writable();
                self.window.borrow_mut().arrived(live.is_none());
                match live {
                    Some(t) => t.write(&chunk),
                    None => self.held.borrow_mut().push_back(chunk),
                }
                self.grant();
            }
            Event::Input(Input::End) => {
                self.input_done.set(true);
                if let Some(t) = self.writable() {
                    t.lose_write_connection();
                } else if self.reconnecting() && self.held.borrow().is_empty() {
                    // Nothing left to deliver; held input waits for the
                    // next connection instead.
                    self.end();
                }
            }
            Event::Input(Input::Failed(text)) => {
                self.fail(exit::IOERR, || {
                    format!("cannot read standard input: {text}")
                });
                self.end();
            }
            Event::OutputResume => {
                // Not if a newer pause came first (the writer will post again).
                if let Some(t) = self.transport.borrow().as_ref()
                    && !self.output.reading_paused()
                {
                    t.resume_reading();
                }
            }
            Event::OutputFailed(text) => {
                self.fail(exit::IOERR, || {
                    format!("cannot write to standard output: {text}")
                });
                self.end();
            }
        }
    }

    // ----- the end -----

    /// After the reactor stopped: lets the writer finish, then decides the
    /// outcome.
    fn finish(&self, ran: Result<(), gyre::ReactorError>) -> Result<(), Failure> {
        self.credits.close();
        self.output.close();
        // Stopped by a signal: the reader of our output may be gone too.
        let patience = if self.stopped_by_us.get() {
            None
        } else {
            Some(GRACE)
        };
        let written = self.output.wait_finished(patience);
        ran.map_err(|e| Failure::reactor_run(&e))?;
        if let Some(failure) = self.failure.borrow_mut().take() {
            return Err(failure);
        }
        match written {
            Some(Err(text)) => Err(Failure::new(
                exit::IOERR,
                format!("cannot write to standard output: {text}"),
            )),
            _ => Ok(()),
        }
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("endpoint", &self.endpoint)
            .field("reconnecting", &self.reconnecting())
            .field("connected", &self.transport.borrow().is_some())
            .field("window", &*self.window.borrow())
            .field("input_done", &self.input_done.get())
            .finish_non_exhaustive()
    }
}

/// Paces standard input: the transport pauses it above its high-water mark
/// and resumes it once its buffer is empty.
struct Pacer {
    session: Weak<Session>,
}

impl PushProducer for Pacer {
    fn pause_producing(&self) {
        if let Some(s) = self.session.upgrade() {
            s.window.borrow_mut().pause();
        }
    }

    fn resume_producing(&self) {
        if let Some(s) = self.session.upgrade() {
            s.window.borrow_mut().resume();
            s.grant();
        }
    }

    fn stop_producing(&self) {}
}

/// The protocol: hands every event to the session.
struct Netcat {
    session: Rc<Session>,
}

impl Protocol for Netcat {
    fn connection_made(&mut self, transport: &Transport) {
        self.session.connection_made(transport);
    }

    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        self.session.data_received(transport, data);
    }

    fn connection_lost(&mut self, reason: Reason) {
        self.session.connection_lost(&reason);
    }

    fn half_closeable(&self) -> bool {
        true
    }

    fn read_connection_lost(&mut self, transport: &Transport) {
        self.session.read_connection_lost(transport);
    }

    fn log_prefix(&self) -> Cow<'static, str> {
        Cow::Borrowed("Netcat")
    }
}

impl fmt::Debug for Netcat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Netcat")
    }
}

/// Builds the [`Netcat`] protocol for the session's connection.
struct NetcatFactory {
    session: Weak<Session>,
}

impl Factory for NetcatFactory {
    type Protocol = Netcat;

    fn build_protocol(&self, _addr: &Address) -> Option<Netcat> {
        self.session.upgrade().map(|session| Netcat { session })
    }

    fn qualified_name(&self) -> Cow<'static, str> {
        Cow::Borrowed("gyre::connect::NetcatFactory")
    }
}

impl fmt::Debug for NetcatFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NetcatFactory")
    }
}
