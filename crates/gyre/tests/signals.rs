//! SIGINT and SIGTERM stop a running reactor in order (reference §1.6); a
//! process started with SIGINT ignored keeps ignoring it.
//!
//! Signals are process-wide, so each test runs a child process: this test
//! binary again, told by `GYRE_SIGNALS_CHILD` to act as the child in
//! [`signal_child`], started through `env --default-signal=INT` (or
//! `--ignore-signal=INT`) so that its SIGINT disposition does not depend on
//! how the tests were started. The child logs `[system] text` lines to
//! stderr, listens on 127.0.0.1, prints its port on stdout and runs the
//! reactor (with signal handlers). The parent connects one client, sends
//! the signal and reads the child's log and exit status. Every wait is
//! bounded; a child still running when a test ends is killed.

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use gyre::application::{MultiService, Service, StreamServerEndpointService};
use gyre::client::ClientService;
use gyre::endpoint::{TcpClientEndpoint, TcpServerEndpoint};
use gyre::{Protocol, Reactor, Reason, Transport, for_protocol};
use rustix::process::{Pid, Signal, kill_process};

/// Set in the child's environment; its value is the child's mode (see
/// [`signal_child`]).
const CHILD_ENV: &str = "GYRE_SIGNALS_CHILD";
/// The port of the parent's server, for the child's `ClientService`.
const UPSTREAM_ENV: &str = "GYRE_SIGNALS_UPSTREAM";
/// The child prints `GYRE_PORT=<port>` on stdout once it listens.
const PORT_PREFIX: &str = "GYRE_PORT=";
const LIMIT: Duration = Duration::from_secs(10);

// ----- the child -----

/// Writes `[system] text` lines to stderr.
struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let line = format!("[{}] {}\n", gyre::log::system(), record.args());
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
    }

    fn flush(&self) {}
}

/// Greets each client, so the parent knows its connection was accepted,
/// echoes what it receives, and logs how the connection ends.
struct Greeter;

impl Protocol for Greeter {
    fn connection_made(&mut self, transport: &Transport) {
        transport.write(b"hello\n");
    }

    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        transport.write(data);
    }

    fn connection_lost(&mut self, reason: Reason) {
        let kind = if matches!(reason, Reason::Shutdown) {
            "shutdown"
        } else {
            "other"
        };
        log::info!(target: "test", "connection lost ({kind}): {reason}");
    }
}

/// Says hello to the upstream server, so the parent knows the
/// `ClientService`'s connection is up on both sides.
struct Hello;

impl Protocol for Hello {
    fn connection_made(&mut self, transport: &Transport) {
        transport.write(b"hi\n");
    }
}

/// Not a check by itself: the child process of the signal tests (does nothing
/// unless `GYRE_SIGNALS_CHILD` is set). With `GYRE_SIGNALS_CHILD=1` it runs
/// the Greeter port; with `service` or `bare` it also keeps a
/// `ClientService` connected to `127.0.0.1:$GYRE_SIGNALS_UPSTREAM`, run as a
/// service by `Reactor::run_service` (`service`) or started by hand
/// (`bare`).
#[test]
fn signal_child() {
    let Some(mode) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    log::set_logger(&StderrLogger).expect("the child's only logger");
    log::set_max_level(log::LevelFilter::Info);
    let reactor = Reactor::new().unwrap();
    let print_port = |port: u16| {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{PORT_PREFIX}{port}").unwrap();
        out.flush().unwrap();
    };
    let upstream = || {
        let port: u16 = std::env::var(UPSTREAM_ENV)
            .expect("the upstream port")
            .parse()
            .unwrap();
        let endpoint = TcpClientEndpoint::new(&reactor, "127.0.0.1", port);
        ClientService::new(&reactor, endpoint, for_protocol(|| Hello))
    };
    match mode.to_str() {
        Some("service") => {
            let root = MultiService::new();
            let endpoint = TcpServerEndpoint::new(&reactor, 0).with_interface("127.0.0.1");
            let greeter = StreamServerEndpointService::new(endpoint, for_protocol(|| Greeter));
            root.add_service(greeter.clone()).unwrap();
            root.add_service(upstream()).unwrap();
            root.privileged_start_service().unwrap();
            print_port(greeter.port().unwrap().address().port());
            reactor.run_service(root).unwrap();
        }
        Some("bare") => {
            let port = reactor
                .listen_tcp_with(0, for_protocol(|| Greeter), util::loopback())
                .unwrap();
            upstream().start_service();
            print_port(port.address().port());
            reactor.run().unwrap();
        }
        _ => {
            let port = reactor
                .listen_tcp_with(0, for_protocol(|| Greeter), util::loopback())
                .unwrap();
            print_port(port.address().port());
            reactor.run().unwrap();
        }
    }
}

// ----- the parent -----

/// The running child; killed and reaped if the test ends before it exits.
struct Running {
    child: Child,
    port_rx: mpsc::Receiver<u16>,
    stderr_rx: mpsc::Receiver<String>,
    waited: bool,
}

/// How the child starts with SIGINT: `env`'s option that sets it.
#[derive(Clone, Copy)]
enum Sigint {
    Default,
    Ignored,
}

impl Running {
    fn start(sigint: Sigint) -> Running {
        Running::start_as(sigint, "1", None)
    }

    /// A child in `mode`, its `ClientService` (if any) aimed at `upstream`.
    fn start_as(sigint: Sigint, mode: &str, upstream: Option<u16>) -> Running {
        let disposition = match sigint {
            Sigint::Default => "--default-signal=INT",
            Sigint::Ignored => "--ignore-signal=INT",
        };
        let mut child = Command::new("env")
            .arg(disposition)
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", "signal_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, mode)
            .env(
                UPSTREAM_ENV,
                upstream.map_or(String::new(), |p| p.to_string()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the child");
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (port_tx, port_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // libtest may have written `test signal_child ... ` on the same line.
                if let Some((_, port)) = line.split_once(PORT_PREFIX) {
                    let _ = port_tx.send(port.trim().parse().expect("a port number"));
                }
            }
        });
        let (stderr_tx, stderr_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut all = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut all);
            let _ = stderr_tx.send(all);
        });
        Running {
            child,
            port_rx,
            stderr_rx,
            waited: false,
        }
    }

    /// Kills the child and fails the test with `what` and the child's log.
    #[track_caller]
    fn fail(&mut self, what: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.waited = true;
        let log = self.stderr_rx.recv_timeout(LIMIT).unwrap_or_default();
        panic!("{what}; the child's stderr:\n{log}");
    }

    /// The port the child listens on.
    #[track_caller]
    fn port(&mut self) -> u16 {
        match self.port_rx.recv_timeout(LIMIT) {
            Ok(port) => port,
            Err(_) => self.fail("the child did not print its port"),
        }
    }

    fn signal(&mut self, signal: Signal) {
        let pid = Pid::from_raw(self.child.id() as i32).expect("a child pid");
        kill_process(pid, signal).expect("kill");
    }

    /// Waits for the child to exit; its stderr and exit status.
    #[track_caller]
    fn finish(&mut self) -> (String, ExitStatus) {
        // Stderr reaches end-of-file when the child exits.
        let log = match self.stderr_rx.recv_timeout(LIMIT) {
            Ok(log) => log,
            Err(_) => self.fail("the child did not exit"),
        };
        let status = self.child.wait().expect("reap the child");
        self.waited = true;
        (log, status)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.waited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Running {
    /// Connects a client and reads the greeting: the reactor runs, with
    /// its signal handlers installed.
    #[track_caller]
    fn connect(&mut self) -> TcpStream {
        let port = self.port();
        let mut client = TcpStream::connect(("127.0.0.1", port)).expect("connect to the child");
        client.set_read_timeout(Some(LIMIT)).unwrap();
        let mut greeting = [0u8; 6];
        if let Err(e) = client.read_exact(&mut greeting) {
            self.fail(&format!("no greeting from the child: {e}"));
        }
        assert_eq!(&greeting, b"hello\n");
        client
    }

    /// The child's ignored and caught signals (`SigIgn`, `SigCgt` of
    /// `/proc/PID/status`), as bit masks (bit `n - 1` for signal `n`).
    fn dispositions(&mut self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the child's /proc status");
        let mask = |field: &str| {
            let hex = status
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .unwrap_or_else(|| panic!("no {field} in {status}"));
            u64::from_str_radix(hex.trim(), 16).expect("a hex mask")
        };
        (mask("SigIgn:"), mask("SigCgt:"))
    }
}

/// Whether signal `n` is in `mask`.
fn has(mask: u64, n: i32) -> bool {
    mask >> (n - 1) & 1 == 1
}

/// Runs a child, connects a client, sends `signal` and checks the shutdown.
fn shuts_down_in_order_on(signal: Signal, name: &str) {
    let mut child = Running::start(Sigint::Default);
    let mut client = child.connect();
    let port = client.peer_addr().unwrap().port();

    child.signal(signal);

    let mut rest = [0u8; 16];
    let closed = match client.read(&mut rest) {
        Ok(0) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(()),
        other => Err(format!("{other:?}")),
    };
    let (log, status) = child.finish();
    assert!(
        closed.is_ok(),
        "the client should see its connection closed, got {closed:?}; child's stderr:\n{log}"
    );
    assert!(
        status.success(),
        "the child exited with {status}; its stderr:\n{log}"
    );
    let lines: Vec<String> = log.lines().map(str::to_string).collect();
    util::assert_in_order(
        &lines,
        &[
            &format!("] Received {name}, shutting down."),
            "[Greeter,0,127.0.0.1] connection lost (shutdown): Connection to the other side was lost in a non-clean fashion: Connection lost.",
            &format!("] (TCP Port {port} Closed)"),
            "] Stopping factory <",
            "] Main loop terminated.",
        ],
    );
}

/// SIGINT logs `Received SIGINT, shutting down.`, loses the open connection
/// with the shutdown reason, closes the port, stops the factory, ends the
/// loop, and the process exits with status 0.
#[test]
fn sigint_shuts_down_in_order() {
    shuts_down_in_order_on(Signal::INT, "SIGINT");
}

/// SIGTERM logs `Received SIGTERM, shutting down.`, loses the open connection
/// with the shutdown reason, closes the port, stops the factory, ends the
/// loop, and the process exits with status 0.
#[test]
fn sigterm_shuts_down_in_order() {
    shuts_down_in_order_on(Signal::TERM, "SIGTERM");
}

/// Started with SIGINT ignored (as `nohup`-style supervisors and background
/// jobs start programs), the reactor leaves SIGINT alone, as Twisted does
/// (reference §1.6): SIGINT stays ignored rather than caught, sending it
/// stops nothing (the connection still echoes), and SIGTERM, which is
/// caught, still shuts down in order with exit status 0.
#[test]
fn sigint_ignored_at_start_stays_ignored() {
    let mut child = Running::start(Sigint::Ignored);
    let mut client = child.connect();
    let (ignored, caught) = child.dispositions();
    assert!(
        has(ignored, Signal::INT.as_raw()) && !has(caught, Signal::INT.as_raw()),
        "SIGINT must stay ignored, not caught: SigIgn {ignored:016x}, SigCgt {caught:016x}"
    );
    assert!(has(caught, Signal::TERM.as_raw()), "SigCgt {caught:016x}");

    // An ignored signal is discarded when sent: nothing is left pending.
    child.signal(Signal::INT);
    client.write_all(b"ping\n").expect("write to the child");
    let mut echo = [0u8; 5];
    if let Err(e) = client.read_exact(&mut echo) {
        child.fail(&format!("no echo after SIGINT: {e}"));
    }
    assert_eq!(&echo, b"ping\n");

    child.signal(Signal::TERM);
    let mut rest = [0u8; 16];
    let closed = client.read(&mut rest);
    let (log, status) = child.finish();
    assert!(
        matches!(closed, Ok(0))
            || closed
                .as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "the client should see its connection closed, got {closed:?}; child's stderr:\n{log}"
    );
    assert!(
        status.success(),
        "the child exited with {status}; its stderr:\n{log}"
    );
    assert!(!log.contains("Received SIGINT"), "{log}");
    let lines: Vec<String> = log.lines().map(str::to_string).collect();
    util::assert_in_order(
        &lines,
        &[
            "] Received SIGTERM, shutting down.",
            "] Main loop terminated.",
        ],
    );
}

/// Runs a child whose `ClientService` is connected to a server of this
/// test's (it said `hi`), sends SIGTERM, and returns the child's log lines
/// once it has exited with status 0.
fn client_service_stopped_by_sigterm(mode: &str) -> Vec<String> {
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the upstream");
    let upstream_port = upstream.local_addr().unwrap().port();
    let mut child = Running::start_as(Sigint::Default, mode, Some(upstream_port));
    let _client = child.connect();
    // Accept the ClientService's connection (bounded: the listener polls).
    upstream.set_nonblocking(true).unwrap();
    let deadline = std::time::Instant::now() + LIMIT;
    let mut conn = loop {
        match upstream.accept() {
            Ok((conn, _)) => break conn,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if std::time::Instant::now() > deadline {
                    child.fail("the ClientService never connected");
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => child.fail(&format!("accept: {e}")),
        }
    };
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(LIMIT)).unwrap();
    let mut hi = [0u8; 3];
    if let Err(e) = conn.read_exact(&mut hi) {
        child.fail(&format!("no hello from the ClientService: {e}"));
    }
    child.signal(Signal::TERM);
    let (log, status) = child.finish();
    assert!(
        status.success(),
        "the child exited with {status}; its stderr:\n{log}"
    );
    let lines: Vec<String> = log.lines().map(str::to_string).collect();
    util::assert_in_order(
        &lines,
        &[
            "] Received SIGTERM, shutting down.",
            "] Main loop terminated.",
        ],
    );
    lines
}

/// The lines after `Received SIGTERM` that schedule a retry.
fn retries_after_sigterm(lines: &[String]) -> Vec<&String> {
    lines
        .iter()
        .skip_while(|l| !l.contains("Received SIGTERM"))
        .filter(|l| l.contains("Scheduling retry"))
        .collect()
}

/// Run as a service (`Reactor::run_service`), a `ClientService` is stopped
/// in the before-shutdown phase, so SIGTERM closes its connection without
/// scheduling a retry, and the process exits 0.
#[test]
fn sigterm_stops_a_client_service_without_a_retry() {
    let lines = client_service_stopped_by_sigterm("service");
    let retries = retries_after_sigterm(&lines);
    assert!(retries.is_empty(), "{retries:?} in\n{}", lines.join("\n"));
}

/// The contrast that shows what the runner is for: a `ClientService`
/// started by hand still runs when the shutdown closes its connection, and
/// schedules a retry while the reactor stops.
#[test]
fn a_client_service_started_by_hand_retries_into_the_shutdown() {
    let lines = client_service_stopped_by_sigterm("bare");
    let retries = retries_after_sigterm(&lines);
    assert!(
        !retries.is_empty(),
        "no retry line after SIGTERM in\n{}",
        lines.join("\n")
    );
}
