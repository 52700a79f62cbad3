//! `ReactorPool`: several reactors on several threads over one port.
//!
//! The pool's threads log through one process-wide capturing logger, so the
//! tests in this file take turns (a lock) and each starts from an empty log.
//! Signals are left to the `gyre` command's tests (`--threads`); here the
//! pool is stopped with its `PoolStopper` or by a reactor ending.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::time::Duration;

use gyre::{
    PoolError, Protocol, ReactorPool, RunningPool, TcpListenOptions, Transport, for_protocol,
};

const LIMIT: Duration = Duration::from_secs(10);

/// `(system, text)` of every line logged by any thread.
static LINES: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
static TURN: Mutex<()> = Mutex::new(());
static INIT: Once = Once::new();

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        let line = (gyre::log::system(), record.args().to_string());
        LINES.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    }
    fn flush(&self) {}
}

/// Takes this test's turn and clears the log.
fn turn() -> MutexGuard<'static, ()> {
    INIT.call_once(|| {
        log::set_logger(&Capture).expect("no other logger");
        log::set_max_level(log::LevelFilter::Debug);
    });
    let guard = TURN.lock().unwrap_or_else(|e| e.into_inner());
    LINES.lock().unwrap_or_else(|e| e.into_inner()).clear();
    guard
}

fn lines() -> Vec<(String, String)> {
    LINES.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The systems of the lines whose text is `text`, sorted.
fn systems_of(text: &str) -> Vec<String> {
    let mut out: Vec<String> = lines()
        .into_iter()
        .filter(|(_, t)| t == text)
        .map(|(s, _)| s)
        .collect();
    out.sort();
    out
}

fn loopback() -> TcpListenOptions {
    TcpListenOptions {
        interface: "127.0.0.1".into(),
        ..Default::default()
    }
}

/// Echoes, counting its connection for the thread it runs on.
struct CountingEcho {
    accepted: Arc<[AtomicUsize; 2]>,
    thread: usize,
}

impl Protocol for CountingEcho {
    fn connection_made(&mut self, _: &Transport) {
        self.accepted[self.thread].fetch_add(1, Ordering::SeqCst);
    }
    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        transport.write(data);
    }
}

/// `pool.wait()`, failing the test if the pool has not ended within [`LIMIT`].
fn wait_bounded<E: Send + 'static>(pool: RunningPool<E>) -> Result<(), PoolError<E>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(pool.wait());
    });
    rx.recv_timeout(LIMIT)
        .expect("the pool ended within the limit")
}

fn client(port: u16) -> TcpStream {
    let s = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connect");
    s.set_read_timeout(Some(LIMIT)).expect("timeout");
    s.set_write_timeout(Some(LIMIT)).expect("timeout");
    s
}

/// Two reactors listen on the same port (port 0 → one free port, shared);
/// 64 clients are all served, some by each thread; stopping the pool ends
/// both reactors in order and closes the clients.
///
/// With `SO_REUSEPORT`, Linux picks the socket for each new connection by a
/// hash of its address pair; 64 clients with distinct source ports all
/// landing on one of two sockets has a probability of about 2⁻⁶³, so "each
/// thread got at least one" holds in practice while still failing if the
/// sockets did not share the port (then thread 1 would get none).
#[test]
fn two_reactors_share_one_port() {
    let _turn = turn();
    let accepted: Arc<[AtomicUsize; 2]> = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let bound = Arc::new(Mutex::new(Vec::new()));
    let (counts, ports) = (accepted.clone(), bound.clone());
    let pool = ReactorPool::new(2)
        .handle_signals(false)
        .start(move |reactor, worker| {
            let (accepted, thread) = (counts.clone(), worker.index());
            let factory = for_protocol(move || CountingEcho {
                accepted: accepted.clone(),
                thread,
            });
            let port = worker.listen_tcp(reactor, 0, factory, loopback())?;
            ports.lock().unwrap().push((thread, port.address().port()));
            Ok::<_, gyre::ListenError>(())
        })
        .expect("pool starts");
    let port = pool.ports()[0];
    assert_ne!(port, 0);
    let mut bound = bound.lock().unwrap().clone();
    bound.sort();
    assert_eq!(bound, [(0, port), (1, port)], "both threads on one port");

    let mut clients: Vec<TcpStream> = (0..64).map(|_| client(port)).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        let msg = format!("hello {i}");
        c.write_all(msg.as_bytes()).expect("write");
        let mut back = vec![0; msg.len()];
        c.read_exact(&mut back).expect("echo");
        assert_eq!(back, msg.as_bytes());
    }
    let per_thread: Vec<usize> = accepted.iter().map(|a| a.load(Ordering::SeqCst)).collect();
    assert_eq!(per_thread.iter().sum::<usize>(), 64, "{per_thread:?}");
    assert!(per_thread.iter().all(|&n| n >= 1), "{per_thread:?}");

    let stopper = pool.stopper();
    assert!(stopper.stop());
    wait_bounded(pool).expect("pool ends cleanly");
    for c in &mut clients {
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).expect("closed by the server");
        assert!(rest.is_empty());
    }
    assert!(!stopper.stop(), "the pool has ended");
    assert_eq!(
        systems_of("Main loop terminated."),
        ["reactor-0", "reactor-1"]
    );
    // Each thread closed its own port before its loop ended.
    let log = lines();
    for thread in ["reactor-0", "reactor-1"] {
        let closed = log
            .iter()
            .position(|(s, t)| s.ends_with(thread) && t.contains(&format!("Port {port} Closed")));
        let ended = log
            .iter()
            .position(|(s, t)| s == thread && t == "Main loop terminated.");
        assert!(
            matches!((closed, ended), (Some(c), Some(e)) if c < e),
            "{thread}: {log:?}"
        );
    }
}

/// A setup failure on one thread: no reactor runs, every thread ends, the
/// failure names the thread, and the shared port is free again.
#[test]
fn setup_error_on_one_thread_stops_all() {
    let _turn = turn();
    let ports = Arc::new(Mutex::new(Vec::new()));
    let seen = ports.clone();
    let result = ReactorPool::new(3)
        .handle_signals(false)
        .start(move |reactor, worker| {
            let port = worker
                .listen_tcp(reactor, 0, for_protocol(|| Echo), loopback())
                .map_err(|e| e.to_string())?;
            seen.lock().unwrap().push(port.address().port());
            match worker.index() {
                1 => Err(format!("thread {} refuses", worker.index())),
                _ => Ok(()),
            }
        });
    match result {
        Err(PoolError::Setup { worker: 1, error }) => assert_eq!(error, "thread 1 refuses"),
        other => panic!("expected thread 1's setup error, got {other:?}"),
    }
    assert!(
        systems_of("Main loop terminated.").is_empty(),
        "no reactor ran"
    );
    let ports = ports.lock().unwrap().clone();
    assert_eq!(ports.len(), 3);
    // Every thread's socket is closed: the port can be bound without SO_REUSEPORT.
    TcpListener::bind((Ipv4Addr::LOCALHOST, ports[0])).expect("the port is free again");
}

/// A setup error on thread 0 is returned before any other thread starts; a
/// panic in setup is reported with its message; zero threads is refused.
#[test]
fn setup_failures_are_reported() {
    let _turn = turn();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let result = ReactorPool::new(4)
        .handle_signals(false)
        .start(move |_, worker| {
            counted.fetch_add(1, Ordering::SeqCst);
            Err(worker.index())
        });
    assert!(matches!(
        result,
        Err(PoolError::Setup {
            worker: 0,
            error: 0
        })
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    let result = ReactorPool::new(2)
        .handle_signals(false)
        .start(|_, worker| -> Result<(), ()> {
            assert!(worker.index() == 0, "setup blew up on {}", worker.index());
            Ok(())
        });
    match result {
        Err(PoolError::Panicked { worker: 1, message }) => {
            assert_eq!(message, "setup blew up on 1")
        }
        other => panic!("expected a panic on thread 1, got {other:?}"),
    }

    let result = ReactorPool::new(0).start(|_, _| Ok::<_, ()>(()));
    assert!(matches!(result, Err(PoolError::NoThreads)));
}

/// One reactor stopping by itself stops the whole pool, in order.
#[test]
fn one_reactor_ending_stops_all() {
    let _turn = turn();
    let pool = ReactorPool::new(2)
        .handle_signals(false)
        .start(|reactor, worker| {
            if worker.index() == 1 {
                let r = reactor.clone();
                reactor.call_when_running(move || {
                    let _ = r.stop();
                });
            }
            Ok::<_, ()>(())
        })
        .expect("pool starts");
    wait_bounded(pool).expect("pool ends cleanly");
    assert_eq!(
        systems_of("Main loop terminated."),
        ["reactor-0", "reactor-1"]
    );
}

struct Echo;

impl Protocol for Echo {
    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        transport.write(data);
    }
}
