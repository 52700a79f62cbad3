//! `gyre exec`: one process per connection, inetd-style.
//!
//! Each accepted connection starts `PROGRAM ARGS…`; what the client sends
//! goes to the child's stdin, what the child writes on its stdout goes to
//! the client, and each line it writes on its stderr is logged under the
//! connection's log system (`ExecConnection,3,127.0.0.1`).
//!
//! * Back-pressure both ways: the connection is the producer of the
//!   child's stdin (more than 64 KiB waiting for the child pauses reading
//!   from the client) and the child is the producer of the connection
//!   (more than 64 KiB waiting for the client pauses reading the child's
//!   stdout, and the child blocks on its full pipe).
//! * Half-close passed on: the client's end of input closes the child's
//!   stdin; the child closing its stdout half-closes the connection; the
//!   child's end (exit, and every pipe closed) closes the connection once
//!   its output is sent.
//! * The client leaving first: the child's stdin is closed and it gets
//!   SIGTERM, then SIGKILL if it is still running after the grace period.
//!   (A client that closes its socket sends what a half-close sends: the
//!   connection is known to be gone once a write to it fails, that is as
//!   soon as the child writes anything.)
//! * A program that cannot be started: one line (`cannot run PROGRAM:
//!   REASON`) and the connection is closed.

use std::ffi::OsString;
use std::rc::Rc;
use std::time::Duration;

use gyre::process::{Env, ExitReason, ProcessProtocol, ProcessTransport};
use gyre::{Address, Factory, Producer, Protocol, PushProducer, Reactor, Reason, Transport};

/// How long a child may take to exit after SIGTERM before SIGKILL,
/// unless `--grace` says otherwise.
pub(crate) const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// The longest stderr line logged whole; longer ones are logged in parts.
const MAX_ERR_LINE: usize = 4096;

/// What `gyre exec` runs for each connection.
#[derive(Debug, Clone)]
pub(crate) struct ExecSpec {
    /// The program (looked up in `PATH` when it has no slash).
    pub(crate) program: OsString,
    /// Its arguments, after `argv[0]`.
    pub(crate) args: Vec<OsString>,
    /// SIGTERM to SIGKILL.
    pub(crate) grace: Duration,
}

/// Builds an [`ExecConnection`] per connection.
pub(crate) struct ExecFactory {
    reactor: Reactor,
    spec: Rc<ExecSpec>,
}

impl ExecFactory {
    pub(crate) fn new(reactor: &Reactor, spec: ExecSpec) -> ExecFactory {
        ExecFactory {
            reactor: reactor.clone(),
            spec: Rc::new(spec),
        }
    }
}

impl Factory for ExecFactory {
    type Protocol = ExecConnection;

    fn build_protocol(&self, _addr: &Address) -> Option<ExecConnection> {
        Some(ExecConnection {
            reactor: self.reactor.clone(),
            spec: self.spec.clone(),
            process: None,
        })
    }
}

/// One client connection and its child.
pub(crate) struct ExecConnection {
    reactor: Reactor,
    spec: Rc<ExecSpec>,
    process: Option<ProcessTransport>,
}

impl Protocol for ExecConnection {
    fn connection_made(&mut self, transport: &Transport) {
        let child = ChildSide {
            connection: transport.clone(),
            system: transport.log_prefix(),
            partial: Vec::new(),
        };
        let argv = std::iter::once(&self.spec.program).chain(&self.spec.args);
        match self
            .reactor
            .spawn_process(child, &self.spec.program, argv, Env::Inherit, None)
        {
            Ok(process) => {
                let reading = Producer::streaming(ClientReading(transport.clone()));
                if let Err(e) = process.register_producer(reading) {
                    log::debug!("stdin flow control not set up: {e}");
                }
                if let Err(e) = transport.register_producer(process.as_producer()) {
                    log::debug!("stdout flow control not set up: {e}");
                }
                self.process = Some(process);
            }
            Err(e) => {
                log::error!("{e}");
                transport.lose_connection();
            }
        }
    }

    fn data_received(&mut self, _transport: &Transport, data: &[u8]) {
        if let Some(p) = &self.process {
            p.write(data);
        }
    }

    fn half_closeable(&self) -> bool {
        true
    }

    fn read_connection_lost(&mut self, _transport: &Transport) {
        if let Some(p) = &self.process {
            p.close_stdin();
        }
    }

    fn connection_lost(&mut self, _reason: Reason) {
        let Some(p) = self.process.take() else {
            return;
        };
        let Some(pid) = p.pid() else {
            return; // exited already
        };
        p.close_stdin();
        if p.signal_process("TERM").is_err() {
            return;
        }
        log::info!("client gone: sent SIGTERM to process {pid}");
        let grace = self.spec.grace;
        self.reactor.call_later(grace, move || {
            if p.pid().is_some() && p.signal_process("KILL").is_ok() {
                log::info!("process {pid} still running {grace:?} after SIGTERM: sent SIGKILL");
            }
        });
    }
}

/// Reading from the client, as the producer of the child's stdin: paused
/// while the child does not read. Unlike the transport's own producer,
/// stopping it (the child's stdin closed) leaves the connection open: the
/// child's output is still to come.
struct ClientReading(Transport);

impl PushProducer for ClientReading {
    fn pause_producing(&self) {
        self.0.pause_reading();
    }
    fn resume_producing(&self) {
        if self.0.is_connected() && !self.0.is_disconnecting() {
            self.0.resume_reading();
        }
    }
    fn stop_producing(&self) {}
}

/// The child's side: its output to the connection, its stderr to the log.
struct ChildSide {
    connection: Transport,
    /// The connection's log system, for the child's stderr lines.
    system: String,
    /// A stderr line not yet ended.
    partial: Vec<u8>,
}

impl ChildSide {
    fn log_err(&self, pid: Option<u32>, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let pid = pid.map_or_else(String::new, |p| format!(" {p}"));
        gyre::log::with_system(self.system.clone(), || {
            log::info!("process{pid} stderr: {text}");
        });
    }
}

impl ProcessProtocol for ChildSide {
    fn out_received(&mut self, _: &ProcessTransport, data: &[u8]) {
        self.connection.write(data);
    }

    fn err_received(&mut self, t: &ProcessTransport, data: &[u8]) {
        self.partial.extend_from_slice(data);
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            self.log_err(t.pid(), &line[..line.len() - 1]);
        }
        while self.partial.len() > MAX_ERR_LINE {
            let part: Vec<u8> = self.partial.drain(..MAX_ERR_LINE).collect();
            self.log_err(t.pid(), &part);
        }
    }

    fn out_connection_lost(&mut self) {
        self.connection.lose_write_connection();
    }

    fn process_ended(&mut self, reason: ExitReason) {
        if !self.partial.is_empty() {
            let rest = std::mem::take(&mut self.partial);
            self.log_err(None, &rest);
        }
        gyre::log::with_system(self.system.clone(), || {
            log::info!("{reason}");
        });
        self.connection.lose_connection();
    }

    fn log_prefix(&self) -> std::borrow::Cow<'static, str> {
        "Exec".into()
    }
}
