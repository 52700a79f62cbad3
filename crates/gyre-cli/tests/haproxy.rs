//! gyre behind a real HAProxy (Debian's `haproxy` package), on loopback:
//! `gyre echo --listen haproxy:tcp:…` backends balanced by HAProxy with
//! `send-proxy-v2` (one of them with a CRC32c TLV) and `send-proxy`, and
//! chains `HAProxy → gyre portforward --listen haproxy:… --send-proxy … →
//! upstream` that must hand the upstream the original client.
//!
//! HAProxy's frontend listens on [::1] and its backends on 127.0.0.1, so
//! the client HAProxy reports (`::1`, over IPv6) is not the address HAProxy
//! itself connects from (127.0.0.1, over IPv4). HAProxy runs with a
//! configuration generated here (loopback only, ports chosen free, no
//! daemon, chroot, user switch, stats socket or syslog — what Debian's
//! `/etc/haproxy/haproxy.cfg` would add), in the foreground (`-db`) as a
//! child that the test kills. Every wait is bounded.
//!
//! These tests need `haproxy`: `./scripts/test-all` installs it when it is
//! missing (`apt-get install -y haproxy`). Without it they fail, loudly,
//! never skip.

#[allow(dead_code)] // the kit has more than these tests use
mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use util::{Gyre, LIMIT, LOOPBACK_ANY_PORT, TCP_LISTEN, assert_log_line, exchange, tcp6_table};

/// How long HAProxy may take to listen: it starts in well under a second,
/// but on a machine busy compiling it has been seen to need more than
/// [`LIMIT`].
const START_LIMIT: Duration = Duration::from_secs(60);

/// Where HAProxy is: on `PATH`, or where Debian installs it.
fn haproxy_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("haproxy"));
    on_path
        .chain([PathBuf::from("/usr/sbin/haproxy")])
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "haproxy is not installed, and these tests need a real HAProxy: \
                 run `apt-get install -y haproxy` (./scripts/test-all does it when it is missing)"
            )
        })
}

/// A port nobody listens on now on [::1], for HAProxy's frontend to bind
/// (chosen by the kernel, then released).
fn free_port() -> u16 {
    TcpListener::bind((Ipv6Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A running HAProxy: killed and reaped when dropped.
struct Haproxy {
    child: Child,
    stderr: Arc<Mutex<String>>,
    config: PathBuf,
}

impl Haproxy {
    /// Starts HAProxy on `config` (the text of a configuration file) and
    /// waits until it listens on every one of `ports` on [::1].
    fn start(config: &str, ports: &[u16]) -> Haproxy {
        let path = std::env::temp_dir().join(format!(
            "gyre-haproxy-{}-{}.cfg",
            std::process::id(),
            ports[0]
        ));
        std::fs::write(&path, config).expect("write the HAProxy configuration");
        let mut child = Command::new(haproxy_binary())
            .arg("-db") // foreground: a child of this test, logging to stderr
            .arg("-f")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start haproxy");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let pipe = child.stderr.take().expect("piped");
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut all = sink.lock().unwrap_or_else(|e| e.into_inner());
                all.push_str(&line);
                all.push('\n');
            }
        });
        let mut haproxy = Haproxy {
            child,
            stderr,
            config: path,
        };
        haproxy.wait_listening(ports);
        haproxy
    }

    /// Polls the kernel's socket table (no connection is made, so the
    /// balancing order is untouched) until every port listens; bounded.
    fn wait_listening(&mut self, ports: &[u16]) {
        let deadline = Instant::now() + START_LIMIT;
        loop {
            let listening: Vec<u16> = tcp6_table()
                .into_iter()
                .filter(|e| e.state == TCP_LISTEN && e.local.ip() == Ipv6Addr::LOCALHOST)
                .map(|e| e.local.port())
                .collect();
            if ports.iter().all(|p| listening.contains(p)) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "haproxy exited ({status}) before listening:\n{}",
                    self.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "haproxy does not listen on {ports:?} after {START_LIMIT:?}:\n{}",
                self.stderr()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let deadline = Instant::now() + LIMIT;
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(2));
        }
        let _ = std::fs::remove_file(&self.config);
    }
}

/// The settings every configuration here starts with: TCP mode, loopback,
/// bounded timeouts, and nothing of a system service.
const PREAMBLE: &str = "\
global
    maxconn 256

defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
";

/// A client connected to HAProxy's frontend at [::1]:`port`, so from ::1
/// (the client HAProxy will name; HAProxy itself reaches the backends from
/// 127.0.0.1), with bounded reads and writes.
fn connect_over_ipv6(port: u16) -> TcpStream {
    let stream = TcpStream::connect((Ipv6Addr::LOCALHOST, port)).expect("connect through haproxy");
    let from = stream.local_addr().expect("client address");
    assert_eq!(from.ip(), Ipv6Addr::LOCALHOST, "{from}");
    stream.set_read_timeout(Some(LIMIT)).expect("read timeout");
    stream
        .set_write_timeout(Some(LIMIT))
        .expect("write timeout");
    stream
}

/// A gyre service listening on `haproxy:` around a free loopback port,
/// logging at debug level (where the header of each connection is logged).
fn behind_haproxy(service: &[&str]) -> Gyre {
    let listen = format!("haproxy:{LOOPBACK_ANY_PORT}");
    let mut args = service.to_vec();
    args.extend_from_slice(&["--listen", &listen, "--log-level", "debug"]);
    Gyre::start(&args)
}

/// How Twisted prints a TCP address on ::1 (its repr, checked with the
/// venv's Twisted: `IPv6Address(type='TCP', host='::1', port=…,
/// flowInfo=0, scopeID=0)`).
fn ipv6_loopback(port: u16) -> String {
    format!("IPv6Address(type='TCP', host='::1', port={port}, flowInfo=0, scopeID=0)")
}

/// The log lines of `gyre` that report a PROXY header, as (system, text).
fn header_lines(gyre: &Gyre) -> Vec<(String, String)> {
    gyre.lines()
        .iter()
        .filter(|l| l.contains("] PROXY v"))
        .map(|l| {
            let (system, text) = assert_log_line(l);
            (system.to_string(), text.to_string())
        })
        .collect()
}

/// Balanced over four `gyre echo --listen haproxy:…` backends, two sent
/// v2 headers (one with a CRC32c TLV) and two v1, eight clients over IPv6
/// from ::1 get every byte back; every backend served, each saw the
/// header of its version naming the client (port included) and the
/// frontend, and each logs the client, not HAProxy, in its log prefix.
#[test]
fn echo_backends_behind_haproxy() {
    let backends: Vec<Gyre> = (0..4).map(|_| behind_haproxy(&["echo"])).collect();
    let frontend = free_port();
    let config = format!(
        "{PREAMBLE}
frontend balanced
    bind [::1]:{frontend}
    default_backend echoes

backend echoes
    balance roundrobin
    server v2a 127.0.0.1:{} send-proxy-v2
    server v2b 127.0.0.1:{} send-proxy-v2 proxy-v2-options crc32c
    server v1a 127.0.0.1:{} send-proxy
    server v1b 127.0.0.1:{} send-proxy
",
        backends[0].port(),
        backends[1].port(),
        backends[2].port(),
        backends[3].port()
    );
    let haproxy = Haproxy::start(&config, &[frontend]);

    let mut client_ports = Vec::new();
    for i in 0..8 {
        let mut client = connect_over_ipv6(frontend);
        client_ports.push(client.local_addr().expect("client address").port());
        let data: Vec<u8> = (0..64 * 1024).map(|n| (n * 7 + i) as u8).collect();
        let back = exchange(&mut client, &data);
        assert!(
            back == data,
            "client {i}: the echo differs\n{}",
            haproxy.stderr()
        );
    }

    // Every backend served: each logs a header (waited for, bounded).
    for backend in &backends {
        backend.wait_for_line("] PROXY v");
    }
    // All eight headers are logged (the lines were written before the
    // echoes went back; stderr readers may lag, so wait, bounded).
    let deadline = Instant::now() + LIMIT;
    while backends
        .iter()
        .map(|b| header_lines(b).len())
        .sum::<usize>()
        < 8
    {
        assert!(Instant::now() < deadline, "fewer than 8 headers logged");
        thread::sleep(Duration::from_millis(5));
    }
    let versions = ["v2", "v2", "v1", "v1"];
    for (backend, version) in backends.iter().zip(versions) {
        for (system, text) in &header_lines(backend) {
            let session = system
                .strip_prefix("Echo,")
                .and_then(|rest| rest.strip_suffix(",::1"));
            assert!(
                session.is_some_and(|n| n.parse::<u32>().is_ok()),
                "the log prefix names the client: {system:?}\n{}",
                backend.transcript()
            );
            assert!(
                text.starts_with(&format!(
                    "PROXY {version} header from IPv4Address(type='TCP', host='127.0.0.1', port="
                )),
                "{text}"
            );
            let client = client_ports
                .iter()
                .any(|p| text.contains(&format!("client {}", ipv6_loopback(*p))));
            assert!(client, "no client of this test in {text:?}");
            assert!(
                text.contains(&format!("server {}", ipv6_loopback(frontend))),
                "{text}"
            );
        }
        assert!(
            backend
                .lines()
                .iter()
                .all(|l| !l.contains("Dropping connection")),
            "{}",
            backend.transcript()
        );
    }
    let with_crc = header_lines(&backends[1]);
    assert!(
        with_crc
            .iter()
            .all(|(_, t)| t.ends_with("; TLVs 0x03 (4 bytes)")),
        "HAProxy's CRC32c TLV: {with_crc:?}"
    );
}

/// An upstream listener in the test: accepts one connection and reads it
/// to its end.
fn upstream() -> (u16, thread::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind upstream");
    let port = listener.local_addr().expect("addr").port();
    let reader = thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("the forwarder connects");
        s.set_read_timeout(Some(LIMIT)).expect("read timeout");
        let mut all = Vec::new();
        s.read_to_end(&mut all).expect("read to the end");
        s.write_all(b"bye").expect("answer");
        all
    });
    (port, reader)
}

/// Runs the chain client → HAProxy (`send` towards the forwarder) → `gyre
/// portforward --listen haproxy:… --send-proxy <out>` → upstream with one
/// client over IPv6 from ::1; returns what the upstream received, the
/// client's port, HAProxy's frontend port and the forwarder.
fn chain(send: &str, out: &str) -> (Vec<u8>, u16, u16, Gyre) {
    let (up, received) = upstream();
    let connect = format!("--connect=tcp:127.0.0.1:{up}");
    let forwarder = behind_haproxy(&["portforward", &connect, "--send-proxy", out]);
    let frontend = free_port();
    let config = format!(
        "{PREAMBLE}
frontend chain
    bind [::1]:{frontend}
    default_backend forwarder

backend forwarder
    server gyre 127.0.0.1:{} {send}
",
        forwarder.port()
    );
    let haproxy = Haproxy::start(&config, &[frontend]);
    let mut client = connect_over_ipv6(frontend);
    let client_port = client.local_addr().expect("client address").port();
    client
        .write_all(b"hello through the chain\n")
        .expect("send");
    client.shutdown(Shutdown::Write).expect("half-close");
    let mut answer = Vec::new();
    client.read_to_end(&mut answer).expect("the answer");
    assert_eq!(answer, b"bye", "{}", haproxy.stderr());
    let received = received.join().expect("the upstream");
    forwarder.wait_for_line("] PROXY v");
    (received, client_port, frontend, forwarder)
}

/// HAProxy sends v2 to `gyre portforward --send-proxy v1`: the upstream
/// gets `PROXY TCP6 ::1 ::1 <client port> <frontend port>`,
/// then the client's bytes; the forwarder logs the client.
#[test]
fn a_chain_passes_the_client_on_in_v1() {
    let (received, client_port, frontend, forwarder) = chain("send-proxy-v2", "v1");
    let expected =
        format!("PROXY TCP6 ::1 ::1 {client_port} {frontend}\r\nhello through the chain\n");
    assert_eq!(String::from_utf8_lossy(&received), expected);
    let lines = header_lines(&forwarder);
    assert_eq!(lines.len(), 1, "{}", forwarder.transcript());
    assert_eq!(lines[0].0, "ProxyServer,0,::1");
    assert!(
        lines[0]
            .1
            .starts_with("PROXY v2 header from IPv4Address(type='TCP', host='127.0.0.1', port="),
        "{}",
        lines[0].1
    );
}

/// HAProxy sends v1 to `gyre portforward --send-proxy v2`: the upstream
/// gets the v2 header of TCP over IPv6 from ::1 to the frontend on ::1
/// (the spec's layout: family 0x21, 36 address bytes), then the client's
/// bytes.
#[test]
fn a_chain_passes_the_client_on_in_v2() {
    let (received, client_port, frontend, forwarder) = chain("send-proxy", "v2");
    let mut expected = b"\r\n\r\n\0\r\nQUIT\n\x21\x21\x00\x24".to_vec();
    expected.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
    expected.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
    expected.extend_from_slice(&client_port.to_be_bytes());
    expected.extend_from_slice(&frontend.to_be_bytes());
    expected.extend_from_slice(b"hello through the chain\n");
    assert_eq!(received, expected);
    let lines = header_lines(&forwarder);
    assert_eq!(lines.len(), 1, "{}", forwarder.transcript());
    assert_eq!(lines[0].0, "ProxyServer,0,::1");
    assert!(
        lines[0]
            .1
            .starts_with("PROXY v1 header from IPv4Address(type='TCP', host='127.0.0.1', port="),
        "{}",
        lines[0].1
    );
}

/// `gyre echo --threads 2 --listen haproxy:…`: every reactor reads the
/// header (here sent by the test, v1 and v2 in turn), echoes what follows
/// it and logs the header's client; a connection without a header is
/// dropped.
#[test]
fn threads_behind_haproxy() {
    let listen = format!("haproxy:{LOOPBACK_ANY_PORT}");
    let gyre = Gyre::spawn(&[
        "echo",
        "--threads",
        "2",
        "--listen",
        &listen,
        "--log-level",
        "debug",
    ]);
    let starting = gyre.wait_for_lines(" starting on ", 2);
    let port = util::port_of_starting_line(&starting[0]);
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    for i in 0..16u16 {
        let mut client = util::connect(addr);
        let mut header = if i % 2 == 0 {
            format!(
                "PROXY TCP4 198.51.100.{i} 127.0.0.1 {} {port}\r\n",
                1000 + i
            )
            .into_bytes()
        } else {
            let mut v2 = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
            v2.extend_from_slice(&[198, 51, 100, i as u8, 127, 0, 0, 1]);
            v2.extend_from_slice(&(1000 + i).to_be_bytes());
            v2.extend_from_slice(&port.to_be_bytes());
            v2
        };
        let message = format!("client {i}\n");
        header.extend_from_slice(message.as_bytes());
        client.write_all(&header).expect("send");
        let mut back = vec![0u8; message.len()];
        client.read_exact(&mut back).expect("the echo");
        assert_eq!(back, message.as_bytes());
    }
    let lines = gyre.wait_for_lines("] PROXY v", 16);
    let mut threads: Vec<&str> = lines
        .iter()
        .map(|l| assert_log_line(l).0)
        .inspect(|system| assert!(system.contains(",198.51.100."), "{system}"))
        .map(|system| system.rsplit(',').next().expect("a thread tag"))
        .collect();
    threads.sort();
    threads.dedup();
    assert_eq!(threads, ["reactor-0", "reactor-1"], "{}", gyre.transcript());
    let mut plain = util::connect(addr);
    plain.write_all(b"no header\r\n").expect("send");
    util::peer_closed(&mut plain).expect("dropped");
}
