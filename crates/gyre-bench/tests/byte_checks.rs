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
