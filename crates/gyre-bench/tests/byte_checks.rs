//! The load generator's byte checks catch a server that corrupts, drops or
//! adds bytes, and pass one that echoes faithfully. The servers here are
//! small blocking loops on loopback threads.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use gyre_bench::load::{Config, Scenario, run};

/// Serves one connection on a thread with `handle`; returns the address.
fn serve_one(handle: fn(TcpStream)) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        if let Ok((stream, _)) = listener.accept() {
            handle(stream);
        }
    });
    addr
}

fn config(addr: SocketAddr, scenario: Scenario) -> Config {
    Config {
        scenario,
        addr,
        duration: Duration::from_millis(100),
        threads: 1,
        server_pid: None,
    }
}

const PING: Scenario = Scenario::Stream {
    conns: 1,
    depth: 1,
    size: 64,
};

#[test]
fn a_faithful_echo_is_clean() {
    let addr = serve_one(|mut s| {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = s.read(&mut buf) {
            if s.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    let m = run(&config(addr, PING)).unwrap();
    assert!(m.is_clean(), "{m}");
    assert!(m.ops >= 1, "{m}");
    assert_eq!(m.bytes, m.ops * 64);
}

#[test]
fn a_flipped_byte_is_a_mismatch() {
    let addr = serve_one(|mut s| {
        let mut buf = [0u8; 4096];
        let mut first = true;
        while let Ok(n @ 1..) = s.read(&mut buf) {
            if first {
                buf[n / 2] ^= 0x40;
                first = false;
            }
            if s.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    let m = run(&config(addr, PING)).unwrap();
    assert_eq!(m.mismatched, 1, "{m}");
    assert!(!m.is_clean());
}

#[test]
fn bytes_never_echoed_are_missing() {
    let addr = serve_one(|mut s| {
        let mut buf = [0u8; 64];
        // Echo half of the first message, then hang up.
        if s.read_exact(&mut buf).is_ok() {
            let _ = s.write_all(&buf[..32]);
        }
    });
    let m = run(&config(addr, PING)).unwrap();
    assert_eq!(m.missing, 32, "{m}");
    assert_eq!(m.errors, 1, "{m}");
    assert!(!m.is_clean());
}

#[test]
fn bytes_never_sent_are_excess() {
    let addr = serve_one(|mut s| {
        let mut buf = [0u8; 4096];
        let mut first = true;
        while let Ok(n @ 1..) = s.read(&mut buf) {
            // The first echo carries one byte more than was sent.
            let extra = if first { 1 } else { 0 };
            first = false;
            if s.write_all(&buf[..n + extra]).is_err() {
                break;
            }
        }
    });
    let m = run(&config(addr, PING)).unwrap();
    assert!(m.excess >= 1, "{m}");
    assert!(!m.is_clean());
}

#[test]
fn connection_rate_and_idle_check_their_echoes() {
    // A faithful echo serving any number of connections, one thread each.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { break };
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = s.read(&mut buf) {
                    if s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    let rate = run(&config(
        addr,
        Scenario::ConnRate {
            concurrency: 4,
            size: 64,
        },
    ))
    .unwrap();
    assert!(rate.is_clean(), "{rate}");
    assert!(rate.ops >= 1, "{rate}");
    let idle = run(&config(addr, Scenario::Idle { conns: 50 })).unwrap();
    assert!(idle.is_clean(), "{idle}");
    assert_eq!(idle.ops, 50, "{idle}");
}

/// Serves every connection on a thread of its own with `handle`.
fn serve_many(handle: fn(TcpStream)) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(s) = stream else { break };
            thread::spawn(move || handle(s));
        }
    });
    addr
}

/// Echoes until the peer closes, flipping one bit of the first chunk.
fn flip_first(mut s: TcpStream) {
    let mut buf = [0u8; 4096];
    let mut first = true;
    while let Ok(n @ 1..) = s.read(&mut buf) {
        if first {
            buf[0] ^= 0x01;
            first = false;
        }
        if s.write_all(&buf[..n]).is_err() {
            break;
        }
    }
}

/// Echoes until the peer closes.
fn echo(mut s: TcpStream) {
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = s.read(&mut buf) {
        if s.write_all(&buf[..n]).is_err() {
            break;
        }
    }
}

/// A burst against a faithful echo is clean: every connection set up and
/// its 64 bytes checked, one op each.
#[test]
fn a_burst_checks_every_connection() {
    let m = run(&config(serve_many(echo), Scenario::Burst { conns: 100 })).unwrap();
    assert!(m.is_clean(), "{m}");
    assert_eq!((m.ops, m.bytes), (100, 100 * 64), "{m}");
}

/// A burst catches a server that corrupts one byte of each connection's echo.
#[test]
fn a_burst_counts_corrupt_echoes() {
    let m = run(&config(
        serve_many(flip_first),
        Scenario::Burst { conns: 40 },
    ))
    .unwrap();
    assert_eq!(m.mismatched, 40, "{m}");
    assert!(!m.is_clean());
}

/// A burst keeps connecting while the server accepts nothing: only the
/// handshakes count against the 32 connects in flight, so all 100
/// connections reach the server's accept queue before it echoes any.
#[test]
fn a_burst_fills_the_accept_queue() {
    const CONNS: usize = 100;
    // std listens with a backlog of 128: room for all of them.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        // Accept everything first, echo nothing until all are here. A client
        // that waits for echoes before connecting more never gets there:
        // then, after 5 s, every connection is dropped and the run fails.
        listener.set_nonblocking(true).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut held = Vec::new();
        while held.len() < CONNS && std::time::Instant::now() < deadline {
            match listener.accept() {
                Ok((s, _)) => held.push(s),
                Err(_) => thread::sleep(Duration::from_millis(1)),
            }
        }
        if held.len() < CONNS {
            return;
        }
        for s in held {
            s.set_nonblocking(false).unwrap();
            thread::spawn(move || echo(s));
        }
    });
    let m = run(&config(addr, Scenario::Burst { conns: CONNS })).unwrap();
    assert!(m.is_clean(), "{m}");
    assert_eq!(m.ops, CONNS as u64, "{m}");
}
