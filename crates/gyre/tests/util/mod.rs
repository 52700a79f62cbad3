//! Shared kit for gyre's integration tests.
//!
//! * [`logs`] / [`take_logs`]: a capturing logger. Each test thread sees only
//!   the lines its own reactor logged, with the log system (`[Echo,0,127.0.0.1]`).
//! * [`loopback`]: listen options for 127.0.0.1, port chosen by the OS.
//! * [`run_for`]: runs a reactor with a deadline, failing the test if the
//!   reactor had to be stopped by the deadline rather than by the test, and
//!   failing it at once, with the panic's own message, when a reactor
//!   callback panics ([`run_within`] and [`run_without_timers`] for the
//!   tests that need another watchdog; every reactor a test runs goes
//!   through one of the three).
//!
//! ## A panic in a callback fails the test
//!
//! The reactor catches a panic in any callback it runs (a protocol's, a
//! factory's, a timer's, a trigger's, a call from a thread), logs it as an
//! `Unhandled Error` and goes on, as it must in production. So an `assert!`
//! that fails inside a callback would fail the test only through a timeout,
//! if at all. The capturing logger therefore watches every line logged at
//! error level on the thread of a reactor [`run_for`] is running: the first
//! one stops that reactor, and `run_for` then fails the test with it. A test
//! that provokes such errors on purpose (panic isolation, EMFILE) declares
//! them first with [`expect_errors`]; any other error still fails it.

#![allow(dead_code, unreachable_pub)]

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Once;
use std::time::Duration;

use gyre::{Reactor, TcpListenOptions};

/// One captured log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub level: log::Level,
    pub system: String,
    pub text: String,
}

thread_local! {
    static LINES: RefCell<Vec<Line>> = const { RefCell::new(Vec::new()) };
    /// What this test declared with [`expect_errors`].
    static EXPECTED_ERRORS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    /// Error lines logged on this thread that no declaration covers, not yet
    /// reported by [`run_for`].
    static UNEXPECTED_ERRORS: RefCell<Vec<Line>> = const { RefCell::new(Vec::new()) };
    /// The reactor [`run_for`] is running on this thread.
    static RUNNING: RefCell<Option<Reactor>> = const { RefCell::new(None) };
}

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        let line = Line {
            level: record.level(),
            system: gyre::log::system(),
            text: record.args().to_string(),
        };
        if line.level == log::Level::Error && !is_expected(&line.text) {
            UNEXPECTED_ERRORS.with(|u| u.borrow_mut().push(line.clone()));
            // Stop the run at once; `run_for` reports the line.
            RUNNING.with(|r| {
                if let Ok(running) = r.try_borrow() {
                    if let Some(reactor) = running.as_ref() {
                        let _ = reactor.stop();
                    }
                }
            });
        }
        LINES.with(|l| l.borrow_mut().push(line));
    }
    fn flush(&self) {}
}

static INIT: Once = Once::new();

/// True if `text` contains something this test declared with [`expect_errors`].
fn is_expected(text: &str) -> bool {
    EXPECTED_ERRORS.with(|e| {
        e.borrow()
            .iter()
            .any(|needle| text.contains(needle.as_str()))
    })
}

/// Declares that this test provokes errors logged by the reactor (a panic
/// in a callback it makes on purpose, EMFILE): error lines containing any
/// of `needles` no longer fail [`run_for`]. Other error lines still do.
/// Holds for the rest of the test (its thread). Installs the capturing
/// logger.
pub fn expect_errors(needles: &[&str]) {
    capture_logs();
    EXPECTED_ERRORS.with(|e| e.borrow_mut().extend(needles.iter().map(|n| n.to_string())));
}

/// Fails the test if an error was logged on this thread that no
/// [`expect_errors`] declaration covers (and forgets those lines, so the
/// test fails once for them).
#[track_caller]
pub fn assert_no_unexpected_errors() {
    let unexpected = UNEXPECTED_ERRORS.with(|u| std::mem::take(&mut *u.borrow_mut()));
    if let Some(first) = unexpected.first() {
        let rest: Vec<&str> = unexpected[1..].iter().map(|l| l.text.as_str()).collect();
        panic!(
            "a reactor callback failed: [{}] {}\n(an error logged during the run; if this test \
             provokes it on purpose, declare it with util::expect_errors; {} more: {rest:#?})",
            first.system,
            first.text,
            rest.len()
        );
    }
}

/// Installs the capturing logger (once per test binary).
pub fn capture_logs() {
    INIT.call_once(|| {
        log::set_logger(&Capture).expect("no other logger");
        log::set_max_level(log::LevelFilter::Trace);
    });
}

/// The lines this thread logged so far.
pub fn logs() -> Vec<Line> {
    LINES.with(|l| l.borrow().clone())
}

/// The texts this thread logged so far, and clears them.
pub fn take_logs() -> Vec<Line> {
    LINES.with(|l| std::mem::take(&mut *l.borrow_mut()))
}

/// Just the texts.
pub fn texts() -> Vec<String> {
    logs().into_iter().map(|l| l.text).collect()
}

/// Listen options for 127.0.0.1 with the default backlog.
pub fn loopback() -> TcpListenOptions {
    TcpListenOptions {
        interface: "127.0.0.1".into(),
        ..Default::default()
    }
}

/// Runs `reactor` (without signal handlers) until the test stops it; fails
/// the test if `limit` passes first, or, at once, if a reactor callback
/// panics (any error logged on this thread during the run, unless declared
/// with [`expect_errors`]), with that panic's message.
#[track_caller]
pub fn run_for(reactor: &Reactor, limit: Duration) {
    assert!(
        !run_within(reactor, limit),
        "the reactor was still running after {limit:?}"
    );
}

/// Like [`run_for`], but a run that `limit` had to stop is not a failure
/// here: returns true for it, so the caller can say more (what a peer
/// saw). A panicking callback still fails the test at once.
#[track_caller]
pub fn run_within(reactor: &Reactor, limit: Duration) -> bool {
    watched_run(reactor, Some(limit))
}

/// Runs `reactor` with no timer of the kit's own (for a test that needs a
/// reactor without timers, and has a watchdog of its own); a panicking
/// callback fails the test at once, as in [`run_for`].
#[track_caller]
pub fn run_without_timers(reactor: &Reactor) {
    watched_run(reactor, None);
}

/// Runs `reactor`, stopping it at `limit` (true if it had to) and at the
/// first error logged on this thread that no [`expect_errors`] covers,
/// which then fails the test.
#[track_caller]
fn watched_run(reactor: &Reactor, limit: Option<Duration>) -> bool {
    capture_logs();
    // Errors logged before the run (building protocols, say) count too.
    assert_no_unexpected_errors();
    let timed_out = Rc::new(std::cell::Cell::new(false));
    let guard = limit.map(|limit| {
        let flag = timed_out.clone();
        let r = reactor.clone();
        reactor.call_later(limit, move || {
            flag.set(true);
            let _ = r.stop();
        })
    });
    let outer = RUNNING.with(|running| running.replace(Some(reactor.clone())));
    let ran = reactor.run_without_signals();
    RUNNING.with(|running| *running.borrow_mut() = outer);
    ran.expect("reactor ran");
    if let Some(guard) = guard {
        let _ = guard.cancel();
    }
    assert_no_unexpected_errors();
    timed_out.get()
}

/// A shared event log for recording callback order.
#[derive(Clone, Default)]
pub struct Events(Rc<RefCell<Vec<String>>>);

impl Events {
    pub fn push(&self, e: impl Into<String>) {
        self.0.borrow_mut().push(e.into());
    }
    pub fn get(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
}

// ----- reactor lifecycle helpers (tests/reactor.rs) -----

/// An event log that threads can share ([`Events`] is for the reactor thread).
#[derive(Clone, Default)]
pub struct SyncEvents(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl SyncEvents {
    pub fn push(&self, e: impl Into<String>) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(e.into());
    }
    pub fn get(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Asserts that `lines` contain, in this order, a line containing each of
/// `needles` (other lines may come between); returns their positions.
#[track_caller]
pub fn assert_in_order(lines: &[String], needles: &[&str]) -> Vec<usize> {
    let mut at = Vec::with_capacity(needles.len());
    let mut from = 0;
    for needle in needles {
        match lines[from..].iter().position(|l| l.contains(needle)) {
            Some(i) => {
                at.push(from + i);
                from += i + 1;
            }
            None => panic!(
                "expected a line containing {needle:?} after position {from} (wanted, in order: {needles:#?}); lines were: {lines:#?}"
            ),
        }
    }
    at
}

// ----- peers for TCP tests (tests/tcp_*.rs, transport*.rs, producers*.rs, emfile.rs) -----

/// How long a blocking std peer waits on one read or write before failing.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs `f` on a helper thread (a peer of the reactor under test), then
/// stops `reactor` from that thread, also when `f` panics.
pub fn peer<T: Send + 'static>(
    reactor: &Reactor,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    struct StopOnDrop(gyre::ThreadHandle);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.stop();
        }
    }
    let stop = StopOnDrop(reactor.thread_handle());
    std::thread::spawn(move || {
        let _stop = stop;
        f()
    })
}

/// Joins a peer thread, re-raising its panic in the test.
#[track_caller]
pub fn join<T>(handle: std::thread::JoinHandle<T>) -> T {
    match handle.join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// A blocking std client connected to `addr`, with [`PEER_TIMEOUT`] on
/// reads and writes.
#[track_caller]
pub fn std_connect(addr: std::net::SocketAddr) -> std::net::TcpStream {
    let s = std::net::TcpStream::connect(addr).expect("std client connects");
    s.set_read_timeout(Some(PEER_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(PEER_TIMEOUT)).unwrap();
    s
}

/// Reads until end of input; fails on an error (a reset, a timeout).
#[track_caller]
pub fn read_to_eof(s: &mut impl std::io::Read) -> Vec<u8> {
    let mut out = Vec::new();
    s.read_to_end(&mut out)
        .expect("read until a clean end of input");
    out
}

/// Reads exactly `n` bytes; fails on an early end, an error or a timeout.
#[track_caller]
pub fn read_n(s: &mut impl std::io::Read, n: usize) -> Vec<u8> {
    let mut out = vec![0; n];
    s.read_exact(&mut out).expect("read the expected bytes");
    out
}

/// The lines this thread logged whose text contains `needle`.
pub fn lines_containing(needle: &str) -> Vec<Line> {
    logs()
        .into_iter()
        .filter(|l| l.text.contains(needle))
        .collect()
}

/// Stops `reactor` unless it is already stopping.
pub fn stop(reactor: &Reactor) {
    let _ = reactor.stop();
}

/// A blocking std client whose receive buffer is tiny (`SO_RCVBUF` 4 KiB,
/// set before connecting), so a server writing to it fills its own buffer
/// quickly; with [`PEER_TIMEOUT`] on reads and writes.
#[track_caller]
pub fn small_window_connect(addr: std::net::SocketAddr) -> std::net::TcpStream {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )
    .expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket.connect(&addr.into()).expect("std client connects");
    let s: std::net::TcpStream = socket.into();
    s.set_read_timeout(Some(PEER_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(PEER_TIMEOUT)).unwrap();
    s
}

/// `len` bytes of a pattern that shows reordering or loss: byte `i` of the
/// whole stream is `i * 7 mod 251`; `offset` is where this piece starts.
pub fn pattern(len: usize, offset: usize) -> Vec<u8> {
    (offset..offset + len)
        .map(|i| (i * 7 % 251) as u8)
        .collect()
}

/// Writes [`pattern`] bytes in 64 KiB pieces until the kernel refuses some
/// and `transport` starts buffering; returns how many bytes were written.
#[track_caller]
pub fn fill_kernel(transport: &gyre::Transport) -> usize {
    const PIECE: usize = 64 * 1024;
    let mut written = 0;
    while transport.buffered() == 0 {
        assert!(
            written < 256 * 1024 * 1024,
            "the kernel took 256 MiB without refusing"
        );
        transport.write(&pattern(PIECE, written));
        written += PIECE;
    }
    written
}

/// A listening socket that never accepts, with its accept queue full, so
/// that further connects hang (the kernel drops their SYNs).
pub struct Saturated {
    pub addr: std::net::SocketAddr,
    _sockets: Vec<socket2::Socket>,
}

impl Saturated {
    pub fn new() -> Saturated {
        use socket2::{Domain, Socket, Type};
        let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        listener
            .bind(
                &"127.0.0.1:0"
                    .parse::<std::net::SocketAddr>()
                    .unwrap()
                    .into(),
            )
            .unwrap();
        listener.listen(0).unwrap();
        let addr = listener.local_addr().unwrap().as_socket().unwrap();
        let mut sockets = vec![listener];
        // Fill the accept queue until a connect no longer completes.
        for _ in 0..16 {
            let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
            let outcome = s.connect_timeout(&addr.into(), Duration::from_millis(200));
            sockets.push(s);
            if outcome.is_err() {
                return Saturated {
                    addr,
                    _sockets: sockets,
                };
            }
        }
        panic!("the backlog never filled");
    }
}

// ----- the shared connection tests over both stream socket kinds -----

/// The socket kinds the shared stream-connection tests run over: the same
/// test body, once on TCP over loopback and once on a UNIX `socketpair`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A port on 127.0.0.1; each peer connects to it.
    Tcp,
    /// Socket pairs made up front, one end adopted by the reactor
    /// (`Reactor::adopt_unix`), the other handed to the peer.
    Unix,
    /// A listening UNIX socket (`Reactor::listen_unix`) in a fresh
    /// temporary directory; each peer connects to its path.
    UnixPort,
}

/// A fresh, empty temporary directory, removed (with whatever is left in
/// it) when dropped.
#[derive(Debug)]
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    /// Makes one, named after this process and a counter.
    pub fn new() -> TempDir {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("gyre-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).expect("create a temporary directory");
        TempDir(path)
    }

    /// The directory.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }

    /// A path inside it.
    pub fn join(&self, name: &str) -> std::path::PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A protocol served over one [`Kind`] of socket, and how a blocking std
/// peer reaches it. `Send`, so it moves into a peer thread.
#[derive(Debug)]
pub struct Served {
    kind: Kind,
    tcp: Option<std::net::SocketAddr>,
    pairs: std::sync::Mutex<std::collections::VecDeque<std::os::unix::net::UnixStream>>,
    /// The listening UNIX socket's path, and the directory holding it.
    unix: Option<(std::path::PathBuf, TempDir)>,
}

/// Serves protocols built by `build` over `kind`, for up to `conns` peers
/// (`conns` matters for [`Kind::Unix`] only: that many pairs are made and
/// adopted now, in order, so their protocols are built before the reactor
/// runs; on TCP each peer's connect makes one).
///
/// The adopted end of a UNIX pair gets a small send buffer (`SO_SNDBUF`
/// 4 KiB), so that, as with [`small_window_connect`] on TCP, a server that
/// writes fills its own buffer soon.
pub fn serve_kind<P: gyre::Protocol>(
    kind: Kind,
    reactor: &Reactor,
    conns: usize,
    build: impl Fn() -> P + 'static,
) -> Served {
    serve_factory(kind, reactor, conns, gyre::for_protocol(build))
}

/// [`serve_kind`] with a factory of any kind (wrappers included).
pub fn serve_factory<F: gyre::Factory>(
    kind: Kind,
    reactor: &Reactor,
    conns: usize,
    factory: impl Into<gyre::Shared<F>>,
) -> Served {
    let factory: gyre::Shared<F> = factory.into();
    match kind {
        Kind::Tcp => {
            let port = reactor
                .listen_tcp_with(0, factory, loopback())
                .expect("listen on 127.0.0.1");
            Served {
                kind,
                tcp: Some(port.address()),
                pairs: Default::default(),
                unix: None,
            }
        }
        Kind::UnixPort => {
            let dir = TempDir::new();
            let path = dir.join("served.sock");
            reactor
                .listen_unix(&path, factory)
                .expect("listen on a UNIX socket");
            Served {
                kind,
                tcp: None,
                pairs: Default::default(),
                unix: Some((path, dir)),
            }
        }
        Kind::Unix => {
            let mut theirs = std::collections::VecDeque::new();
            for _ in 0..conns {
                let (ours, peer) = std::os::unix::net::UnixStream::pair().expect("socketpair");
                socket2::SockRef::from(&ours)
                    .set_send_buffer_size(4096)
                    .expect("SO_SNDBUF");
                peer.set_read_timeout(Some(PEER_TIMEOUT)).unwrap();
                peer.set_write_timeout(Some(PEER_TIMEOUT)).unwrap();
                reactor
                    .adopt_unix(ours, factory.clone())
                    .expect("adopt one end of the pair");
                theirs.push_back(peer);
            }
            Served {
                kind,
                tcp: None,
                pairs: std::sync::Mutex::new(theirs),
                unix: None,
            }
        }
    }
}

impl Served {
    /// The kind of socket served.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The TCP port's address (TCP only).
    #[track_caller]
    pub fn addr(&self) -> std::net::SocketAddr {
        self.tcp.expect("a TCP server")
    }

    /// A blocking peer with [`PEER_TIMEOUT`] on reads and writes: a new TCP
    /// connection, or the next UNIX pair's free end.
    #[track_caller]
    pub fn connect(&self) -> Peer {
        match self.kind {
            Kind::Tcp => Peer::Tcp(std_connect(self.addr())),
            Kind::Unix => self.next_pair(),
            Kind::UnixPort => self.unix_connect(),
        }
    }

    /// Like [`connect`](Self::connect), with a tiny receive window on TCP
    /// ([`small_window_connect`]); the UNIX pairs are small already.
    #[track_caller]
    pub fn small_window_connect(&self) -> Peer {
        match self.kind {
            Kind::Tcp => Peer::Tcp(small_window_connect(self.addr())),
            Kind::Unix => self.next_pair(),
            Kind::UnixPort => self.unix_connect(),
        }
    }

    /// The listening UNIX socket's path (`UnixPort` only).
    #[track_caller]
    pub fn path(&self) -> &std::path::Path {
        &self.unix.as_ref().expect("a UNIX port").0
    }

    #[track_caller]
    fn unix_connect(&self) -> Peer {
        let s = std::os::unix::net::UnixStream::connect(self.path()).expect("connect to the port");
        s.set_read_timeout(Some(PEER_TIMEOUT)).unwrap();
        s.set_write_timeout(Some(PEER_TIMEOUT)).unwrap();
        Peer::Unix(s)
    }

    #[track_caller]
    fn next_pair(&self) -> Peer {
        let next = self.pairs.lock().unwrap().pop_front();
        Peer::Unix(next.expect("serve_kind made enough UNIX pairs"))
    }
}

/// A blocking std peer of either kind.
#[derive(Debug)]
pub enum Peer {
    /// A TCP client.
    Tcp(std::net::TcpStream),
    /// The free end of a UNIX pair.
    Unix(std::os::unix::net::UnixStream),
}

impl Peer {
    /// A second handle to the same socket.
    pub fn try_clone(&self) -> std::io::Result<Peer> {
        Ok(match self {
            Peer::Tcp(s) => Peer::Tcp(s.try_clone()?),
            Peer::Unix(s) => Peer::Unix(s.try_clone()?),
        })
    }

    /// Sets the read timeout.
    pub fn set_read_timeout(&self, t: Option<Duration>) -> std::io::Result<()> {
        match self {
            Peer::Tcp(s) => s.set_read_timeout(t),
            Peer::Unix(s) => s.set_read_timeout(t),
        }
    }

    /// Sets the write timeout.
    pub fn set_write_timeout(&self, t: Option<Duration>) -> std::io::Result<()> {
        match self {
            Peer::Tcp(s) => s.set_write_timeout(t),
            Peer::Unix(s) => s.set_write_timeout(t),
        }
    }

    /// Shuts down one or both directions.
    pub fn shutdown(&self, how: std::net::Shutdown) -> std::io::Result<()> {
        match self {
            Peer::Tcp(s) => s.shutdown(how),
            Peer::Unix(s) => s.shutdown(how),
        }
    }
}

impl std::io::Read for Peer {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Peer::Tcp(s) => s.read(buf),
            Peer::Unix(s) => s.read(buf),
        }
    }
}

impl std::io::Write for Peer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Peer::Tcp(s) => s.write(buf),
            Peer::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs each named test function (`fn name(kind: Kind)`) over every stream
/// socket kind, as `tcp::name`, `unix::name` (socketpairs) and
/// `unix_port::name` (listen/connect on a path).
#[macro_export]
macro_rules! over_both_kinds {
    ($($name:ident),* $(,)?) => {
        /// The shared connection tests over TCP.
        mod tcp {
            $(
                /// See the function of the same name in the parent module.
                #[test]
                fn $name() {
                    super::$name($crate::util::Kind::Tcp)
                }
            )*
        }
        /// The shared connection tests over a UNIX socketpair.
        mod unix {
            $(
                /// See the function of the same name in the parent module.
                #[test]
                fn $name() {
                    super::$name($crate::util::Kind::Unix)
                }
            )*
        }
        /// The shared connection tests over a listening UNIX socket and
        /// connections to its path.
        mod unix_port {
            $(
                /// See the function of the same name in the parent module.
                #[test]
                fn $name() {
                    super::$name($crate::util::Kind::UnixPort)
                }
            )*
        }
    };
}
