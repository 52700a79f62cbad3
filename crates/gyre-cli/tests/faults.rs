//! Faults on the wire: `gyre echo`, `gyre portforward` and `gyre chat`
//! between network namespaces whose router loses, reorders or delays
//! packets, checked byte by byte; and clients that vanish without a FIN or
//! a reset (the router black-holes them), which `--keepalive` and
//! `--idle-timeout` must notice and free.
//!
//! The network is made by `faults/netns.rs` (its docs say how: three
//! namespaces, two veth pairs, `tc` on the router's links, and for the
//! delay a relay over two TUN devices in the router, `faults/relay.rs`
//! running `faults/delay_relay.py`) and torn down when each test ends, even
//! on failure. gyre runs inside the server
//! namespace (`ip netns exec`); clients are threads of this test that
//! joined the client namespace. Every byte a client sends follows the
//! pattern `(offset + connection) mod 251`, whose prime period shows a lost,
//! repeated, reordered or foreign byte as a mismatch at its offset. Each
//! test also checks that its faults really happened (the router's drop and
//! slow-class counters, the delay relay's forwarded and dropped counters, a
//! round trip at least twice the delay, TCP's retransmission and
//! out-of-order counters in each namespace), so none passes on a clean
//! link.
//!
//! These tests need root, iproute2 (`ip`, `tc`), `/dev/net/tun` and
//! `python3` (the relay) and fail, saying so, without them;
//! `scripts/test-all` installs iproute2. netem is not used: this machine's
//! kernel is built without it (`CONFIG_NET_SCH_NETEM` is not set, and it
//! loads no modules), so loss and reordering are made with HTB and a BPF
//! classifier instead, and the 100 ms delay by the relay.

#[allow(dead_code)] // the kit has more than these tests use
mod util;

#[path = "faults/netns.rs"]
mod netns;

#[path = "faults/relay.rs"]
mod relay;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use netns::{CLIENT_IP, Faults, Net, SERVER_IP};
use relay::RelayCounts;
use util::Gyre;

/// How long a client waits on one read, write or connect: loss can stall
/// a connection for a few retransmission timeouts, never for this long.
const CLIENT_LIMIT: Duration = Duration::from_secs(30);

/// The pattern's period (a prime).
const PERIOD: u64 = 251;

/// The byte connection `conn` sends at stream offset `offset`.
fn pattern_byte(conn: u64, offset: u64) -> u8 {
    ((offset + conn) % PERIOD) as u8
}

/// `len` pattern bytes of connection `conn` from `offset`.
fn pattern(conn: u64, offset: u64, len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| pattern_byte(conn, offset + i))
        .collect()
}

/// `gyre ARGS --listen tcp:0:interface=<ip>`, started in namespace `ns`.
fn start_in(ns: &str, ip: Ipv4Addr, args: &[&str]) -> Gyre {
    let listen = format!("tcp:0:interface={ip}");
    let mut all = args.to_vec();
    all.extend_from_slice(&["--listen", &listen]);
    Gyre::start_in_netns(ns, &all)
}

/// A blocking connection with [`CLIENT_LIMIT`] on connect, reads and writes.
fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, CLIENT_LIMIT)
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    stream.set_read_timeout(Some(CLIENT_LIMIT)).unwrap();
    stream.set_write_timeout(Some(CLIENT_LIMIT)).unwrap();
    stream
}

/// Sends `total` pattern bytes of connection `conn` over a new connection
/// to an echo (direct or forwarded) at `addr` while reading the echo back
/// on another thread; returns the offset and value of each wrong byte
/// (at most 10) and how many bytes came back.
fn echo_pattern(addr: SocketAddr, conn: u64, total: usize) -> (Vec<String>, usize) {
    let mut stream = connect(addr);
    let mut writer = stream.try_clone().unwrap();
    let sender = thread::spawn(move || {
        let mut at = 0;
        while at < total {
            let n = (total - at).min(16 * 1024);
            writer.write_all(&pattern(conn, at as u64, n))?;
            at += n;
        }
        Ok::<(), std::io::Error>(())
    });
    let mut wrong = Vec::new();
    let mut got = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    while got < total {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                for (i, &b) in buf[..n].iter().enumerate() {
                    let offset = (got + i) as u64;
                    if b != pattern_byte(conn, offset) && wrong.len() < 10 {
                        wrong.push(format!("offset {offset}: {b}"));
                    }
                }
                got += n;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                wrong.push(format!("read failed after {got} bytes: {e}"));
                break;
            }
        }
    }
    match sender.join().expect("sender thread") {
        Ok(()) => {}
        Err(e) => wrong.push(format!("write failed: {e}")),
    }
    (wrong, got)
}

/// Runs [`echo_pattern`] on `conns` connections at once from the client
/// namespace; panics with every connection's problems if any byte was
/// wrong or missing.
fn echo_from_client(net: &Net, addr: SocketAddr, conns: u64, each: usize) {
    let clients: Vec<_> = (0..conns)
        .map(|conn| net.spawn_in_client(move || echo_pattern(addr, conn, each)))
        .collect();
    let mut problems = Vec::new();
    for (conn, client) in clients.into_iter().enumerate() {
        let (wrong, got) = client.join().expect("client thread");
        if !wrong.is_empty() || got != each {
            problems.push(format!(
                "connection {conn}: {got} of {each} bytes back, {wrong:?}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// TCP segments namespace `ns` retransmitted so far.
fn retransmitted(net: &Net, ns: &str) -> u64 {
    net.tcp_counter(ns, "snmp", "Tcp", "RetransSegs")
}

/// Segments namespace `ns` received out of order (queued behind a gap) so far.
fn out_of_order(net: &Net, ns: &str) -> u64 {
    net.tcp_counter(ns, "netstat", "TcpExt", "TCPOFOQueue")
}

/// `gyre echo` returns every byte of four concurrent 1 MiB streams intact when the link loses 5 % of its packets both ways.
#[test]
fn echo_carries_every_byte_under_loss() {
    let net = Net::new();
    net.set_faults(Faults {
        loss: 5,
        reorder: 0,
    });
    let gyre = start_in(net.server_ns(), SERVER_IP, &["echo"]);
    let addr = SocketAddr::from((SERVER_IP, gyre.port()));
    echo_from_client(&net, addr, 4, 1024 * 1024);

    let counts = net.counts();
    assert!(counts.dropped > 0, "the router dropped nothing: {counts:?}");
    for ns in [net.server_ns(), net.client_ns()] {
        assert!(retransmitted(&net, ns) > 0, "{ns} retransmitted nothing");
    }
}

/// `gyre echo` returns every byte of four concurrent 1 MiB streams intact when the link reorders 10 % of its packets both ways.
#[test]
fn echo_carries_every_byte_under_reordering() {
    let net = Net::new();
    net.set_faults(Faults {
        loss: 0,
        reorder: 10,
    });
    let gyre = start_in(net.server_ns(), SERVER_IP, &["echo"]);
    let addr = SocketAddr::from((SERVER_IP, gyre.port()));
    echo_from_client(&net, addr, 4, 1024 * 1024);

    let counts = net.counts();
    assert!(
        counts.slowed > 0,
        "the router reordered nothing: {counts:?}"
    );
    assert_eq!(counts.dropped, 0, "{counts:?}");
    for ns in [net.server_ns(), net.client_ns()] {
        assert!(out_of_order(&net, ns) > 0, "{ns} saw nothing out of order");
    }
}

/// `gyre portforward` relays every byte of three concurrent 512 KiB streams intact, both ways, when both of its
/// connections cross a link that loses 5 % and reorders 10 % of its packets.
#[test]
fn portforward_carries_every_byte_under_loss_and_reordering() {
    let net = Net::new();
    net.set_faults(Faults {
        loss: 5,
        reorder: 10,
    });
    // The upstream echo is on the client's side, so the forwarder's
    // upstream connection crosses the router too.
    let upstream = start_in(net.client_ns(), CLIENT_IP, &["echo"]);
    let connect = format!("tcp:{CLIENT_IP}:{}", upstream.port());
    let forwarder = start_in(
        net.server_ns(),
        SERVER_IP,
        &["portforward", "--connect", &connect],
    );
    let addr = SocketAddr::from((SERVER_IP, forwarder.port()));
    echo_from_client(&net, addr, 3, 512 * 1024);

    let counts = net.counts();
    assert!(counts.dropped > 0 && counts.slowed > 0, "{counts:?}");
    for ns in [net.server_ns(), net.client_ns()] {
        assert!(retransmitted(&net, ns) > 0, "{ns} retransmitted nothing");
        assert!(out_of_order(&net, ns) > 0, "{ns} saw nothing out of order");
    }
}

/// Users of the chat room.
const CHAT_USERS: usize = 3;
/// Lines each user says.
const CHAT_LINES: usize = 300;

/// Line `i` of user `user`: its number and 100 printable pattern bytes.
fn chat_line(user: usize, i: usize) -> String {
    let body: String = pattern(user as u64, (i * 100) as u64, 100)
        .into_iter()
        .map(|b| char::from(b'!' + b % 94))
        .collect();
    format!("{i:05} {body}")
}

/// A chat client: reads its lines on its own thread.
struct Chatter {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Chatter {
    /// Connects and takes the name `u<user>`.
    fn join(addr: SocketAddr, user: usize) -> Chatter {
        let stream = connect(addr);
        let mut chatter = Chatter {
            writer: stream.try_clone().unwrap(),
            reader: BufReader::new(stream),
        };
        assert_eq!(chatter.line(), "What's your name?\r\n");
        chatter
            .writer
            .write_all(format!("u{user}\r\n").as_bytes())
            .unwrap();
        assert_eq!(chatter.line(), format!("Welcome, u{user}!\r\n"));
        chatter
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => panic!("the chat server closed the connection"),
            Ok(_) => line,
            Err(e) => panic!("no line from the chat server: {e}"),
        }
    }
}

/// Runs a room of [`CHAT_USERS`] users on `gyre chat` at `addr`, every
/// user saying [`CHAT_LINES`] lines at once; panics unless each heard every
/// line of every other user intact and in order, and nothing else.
fn chat_from_client(net: &Net, addr: SocketAddr) {
    let heard = net
        .spawn_in_client(move || {
            // Everyone is in the room before anyone speaks.
            let chatters: Vec<Chatter> = (0..CHAT_USERS).map(|u| Chatter::join(addr, u)).collect();
            thread::scope(|s| {
                let mut listeners = Vec::new();
                for (user, mut chatter) in chatters.into_iter().enumerate() {
                    let mut writer = chatter.writer.try_clone().unwrap();
                    s.spawn(move || {
                        for i in 0..CHAT_LINES {
                            let line = format!("{}\r\n", chat_line(user, i));
                            writer.write_all(line.as_bytes()).unwrap();
                        }
                    });
                    listeners.push(s.spawn(move || {
                        let expected = (CHAT_USERS - 1) * CHAT_LINES;
                        (0..expected)
                            .map(|_| chatter.line())
                            .collect::<Vec<String>>()
                    }));
                }
                listeners
                    .into_iter()
                    .map(|l| l.join().expect("listener"))
                    .collect::<Vec<_>>()
            })
        })
        .join()
        .expect("chat clients");

    for (user, lines) in heard.iter().enumerate() {
        let mut by_sender: HashMap<String, Vec<String>> = HashMap::new();
        for line in lines {
            let (sender, text) = line
                .strip_prefix('<')
                .and_then(|l| l.split_once("> "))
                .unwrap_or_else(|| panic!("u{user} got a line not from a user: {line:?}"));
            by_sender
                .entry(sender.to_string())
                .or_default()
                .push(text.to_string());
        }
        for other in (0..CHAT_USERS).filter(|&o| o != user) {
            let want: Vec<String> = (0..CHAT_LINES)
                .map(|i| format!("{}\r\n", chat_line(other, i)))
                .collect();
            let got = by_sender.remove(&format!("u{other}")).unwrap_or_default();
            if got != want {
                let first = got.iter().zip(&want).position(|(g, w)| g != w);
                panic!(
                    "u{user} heard {} of u{other}'s {} lines; first difference at {first:?}",
                    got.len(),
                    want.len()
                );
            }
        }
        assert!(
            by_sender.is_empty(),
            "u{user} heard from {:?}",
            by_sender.keys()
        );
    }
}

/// `gyre chat` delivers every line of three users, 300 lines each, intact and in order to both other users,
/// when the link loses 5 % and reorders 10 % of its packets.
#[test]
fn chat_carries_every_line_under_loss_and_reordering() {
    let net = Net::new();
    net.set_faults(Faults {
        loss: 5,
        reorder: 10,
    });
    let gyre = start_in(net.server_ns(), SERVER_IP, &["chat"]);
    chat_from_client(&net, SocketAddr::from((SERVER_IP, gyre.port())));

    let counts = net.counts();
    assert!(counts.dropped > 0 && counts.slowed > 0, "{counts:?}");
}

// ----- delay -----

/// The delay each way of the delay tests (issue 16's 100 ms).
const ONE_WAY: Duration = Duration::from_millis(100);

/// Bytes each echo connection sends under delay: with every round trip at
/// least 200 ms, TCP's slow start and loss recovery take a few seconds per
/// quarter MiB.
const DELAYED_BYTES: usize = 256 * 1024;

/// How long a TCP connect from the client namespace to `addr` takes: the
/// SYN and the SYN-ACK cross the router once each.
fn connect_time(net: &Net, addr: SocketAddr) -> Duration {
    net.spawn_in_client(move || {
        let start = Instant::now();
        let stream = connect(addr);
        let took = start.elapsed();
        drop(stream);
        took
    })
    .join()
    .expect("client thread")
}

/// Checks that a round trip through the router took at least the delay
/// both ways: the relay really held the packets.
#[track_caller]
fn assert_delayed(round_trip: Duration) {
    assert!(
        round_trip >= 2 * ONE_WAY,
        "a round trip took {round_trip:?}, less than twice the {ONE_WAY:?} delay"
    );
}

/// Checks the relay's counters after a run that sent at least `bytes`
/// each way with `loss` % loss: both directions carried at least the
/// full-sized packets those bytes need (all the traffic went through the
/// relay), none overflowed its queue, and the share dropped is the one
/// asked for, within five standard deviations: none when it is 0, some
/// in all and in each direction expected to lose 20 or more (the chance of
/// losing none is then e^-20).
#[track_caller]
fn assert_relayed(net: &Net, bytes: usize, loss: u32) -> RelayCounts {
    let counts = net.relay_counts();
    let p = f64::from(loss) / 100.0;
    let least = (bytes / 1500) as u64;
    for lane in [counts.to_server, counts.to_client] {
        assert!(
            lane.forwarded >= least,
            "under {least} packets relayed: {counts:?}"
        );
        assert_eq!(lane.overflowed, 0, "{counts:?}");
        let expected = (lane.forwarded + lane.dropped) as f64 * p;
        if loss == 0 || expected >= 20.0 {
            assert!(
                (lane.dropped == 0) == (loss == 0),
                "{loss} % loss asked for, and a direction dropped {}: {counts:?}",
                lane.dropped
            );
        }
    }
    let dropped = counts.to_server.dropped + counts.to_client.dropped;
    let seen = dropped + counts.to_server.forwarded + counts.to_client.forwarded;
    let (expected, sd) = (seen as f64 * p, (seen as f64 * p * (1.0 - p)).sqrt());
    assert!(
        (dropped > 0) == (loss > 0) && (dropped as f64 - expected).abs() <= 5.0 * sd + 1.0,
        "dropped {dropped} of {seen} packets, expected about {expected:.0} ({loss} %): {counts:?}"
    );
    counts
}

/// With 100 ms of delay each way and no loss, a connect and an echoed line each take at least 200 ms, and
/// `gyre echo` returns every byte of four concurrent 256 KiB streams intact.
#[test]
fn echo_carries_every_byte_under_delay() {
    let net = Net::with_delay(ONE_WAY, 0);
    let gyre = start_in(net.server_ns(), SERVER_IP, &["echo"]);
    let addr = SocketAddr::from((SERVER_IP, gyre.port()));
    let connected = connect_time(&net, addr);
    let (echoed, back) = net
        .spawn_in_client(move || {
            let mut stream = connect(addr);
            let start = Instant::now();
            stream.write_all(b"how long is it?\n").unwrap();
            let mut back = [0u8; 16];
            let read = stream.read_exact(&mut back);
            (start.elapsed(), read.map(|()| back))
        })
        .join()
        .expect("client thread");
    echo_from_client(&net, addr, 4, DELAYED_BYTES);

    assert_eq!(&back.expect("the echo"), b"how long is it?\n");
    assert_delayed(connected);
    assert_delayed(echoed);
    let counts = assert_relayed(&net, 4 * DELAYED_BYTES, 0);
    eprintln!("connect {connected:?}, echoed line {echoed:?}, {counts:?}");
}

/// `gyre echo` returns every byte of four concurrent 256 KiB streams intact when the link delays every packet
/// 100 ms and loses 5 % of them, both ways.
#[test]
fn echo_carries_every_byte_under_loss_and_delay() {
    let net = Net::with_delay(ONE_WAY, 5);
    let gyre = start_in(net.server_ns(), SERVER_IP, &["echo"]);
    let addr = SocketAddr::from((SERVER_IP, gyre.port()));
    let connected = connect_time(&net, addr);
    echo_from_client(&net, addr, 4, DELAYED_BYTES);

    assert_delayed(connected);
    let counts = assert_relayed(&net, 4 * DELAYED_BYTES, 5);
    for ns in [net.server_ns(), net.client_ns()] {
        assert!(retransmitted(&net, ns) > 0, "{ns} retransmitted nothing");
    }
    eprintln!("connect {connected:?}, {counts:?}");
}

/// `gyre portforward` relays every byte of two concurrent 256 KiB streams intact, both ways, when both of its
/// connections cross a link that delays every packet 100 ms and loses 5 % of them.
#[test]
fn portforward_carries_every_byte_under_loss_and_delay() {
    let net = Net::with_delay(ONE_WAY, 5);
    // The upstream echo is on the client's side, so the forwarder's
    // upstream connection crosses the router too.
    let upstream = start_in(net.client_ns(), CLIENT_IP, &["echo"]);
    let connect = format!("tcp:{CLIENT_IP}:{}", upstream.port());
    let forwarder = start_in(
        net.server_ns(),
        SERVER_IP,
        &["portforward", "--connect", &connect],
    );
    let addr = SocketAddr::from((SERVER_IP, forwarder.port()));
    let connected = connect_time(&net, addr);
    echo_from_client(&net, addr, 2, DELAYED_BYTES);

    assert_delayed(connected);
    // Every byte crosses the router twice each way.
    let counts = assert_relayed(&net, 2 * 2 * DELAYED_BYTES, 5);
    for ns in [net.server_ns(), net.client_ns()] {
        assert!(retransmitted(&net, ns) > 0, "{ns} retransmitted nothing");
    }
    eprintln!("connect {connected:?}, {counts:?}");
}

/// `gyre chat` delivers every line of three users, 300 lines each, intact and in order to both other users,
/// when the link delays every packet 100 ms and loses 5 % of them.
#[test]
fn chat_carries_every_line_under_loss_and_delay() {
    let net = Net::with_delay(ONE_WAY, 5);
    let gyre = start_in(net.server_ns(), SERVER_IP, &["chat"]);
    let addr = SocketAddr::from((SERVER_IP, gyre.port()));
    let connected = connect_time(&net, addr);
    chat_from_client(&net, addr);

    assert_delayed(connected);
    // The users' lines went to the server once, and came back twice.
    let said = CHAT_USERS * CHAT_LINES * chat_line(0, 0).len();
    let counts = assert_relayed(&net, said, 5);
    eprintln!("connect {connected:?}, {counts:?}");
}

// ----- vanished clients -----

/// Whether process `pid` still has the socket with inode `inode` open.
fn holds(pid: u32, inode: u64) -> bool {
    let wanted = format!("socket:[{inode}]");
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .any(|target| target.to_string_lossy() == wanted)
}

/// The send queue (bytes not yet acknowledged) and inode of `gyre`'s
/// connection from its port to `client`, from `/proc/<pid>/net/tcp` (the
/// process's own namespace); `None` while there is no such socket.
fn server_socket(gyre: &Gyre, client: SocketAddr) -> Option<(u64, u64)> {
    let hex = |a: SocketAddr| {
        let SocketAddr::V4(a) = a else { unreachable!() };
        format!(
            "{:08X}:{:04X}",
            u32::from_ne_bytes(a.ip().octets()),
            a.port()
        )
    };
    let local = hex(SocketAddr::from((SERVER_IP, gyre.port())));
    let remote = hex(client);
    let table = std::fs::read_to_string(format!("/proc/{}/net/tcp", gyre.pid())).ok()?;
    table.lines().skip(1).find_map(|row| {
        let f: Vec<&str> = row.split_whitespace().collect();
        if f.get(1) == Some(&local.as_str()) && f.get(2) == Some(&remote.as_str()) {
            let (tx, _) = f.get(4)?.split_once(':')?;
            Some((u64::from_str_radix(tx, 16).ok()?, f.get(9)?.parse().ok()?))
        } else {
            None
        }
    })
}

/// Polls `done` every 10 ms until it holds (returns how long that took)
/// or `limit` passes (`None`). There is no event for the kernel or gyre
/// closing a socket, so this polls, bounded.
fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if done() {
            return Some(start.elapsed());
        }
        if start.elapsed() >= limit {
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// A client of one echo server, as the server sees it.
struct Settled {
    /// The client's end, kept open (it never closes: it vanishes).
    _stream: TcpStream,
    /// The client's address.
    addr: SocketAddr,
    /// The inode of the server's socket for this connection.
    inode: u64,
}

/// A client of `gyre echo`: connected, one line echoed, and everything it
/// sent acknowledged both ways.
fn settled_echo_client(net: &Net, gyre: &Gyre) -> Settled {
    let server = SocketAddr::from((SERVER_IP, gyre.port()));
    let (stream, addr) = net
        .spawn_in_client(move || {
            let mut stream = connect(server);
            stream.write_all(b"are you there?\n").unwrap();
            let mut back = [0u8; 15];
            stream.read_exact(&mut back).expect("the echo");
            assert_eq!(&back, b"are you there?\n");
            let addr = stream.local_addr().unwrap();
            (stream, addr)
        })
        .join()
        .expect("client thread");
    // The reply's acknowledgement is on its way: wait for it, so that the
    // server has nothing outstanding when the link dies (unacknowledged
    // data would hand the connection to the retransmission timer).
    let mut inode = None;
    let acked = wait_until(CLIENT_LIMIT, || match server_socket(gyre, addr) {
        Some((0, i)) => {
            inode = Some(i);
            true
        }
        _ => false,
    });
    assert!(acked.is_some(), "the echo was never acknowledged");
    let inode = inode.expect("set with acked");
    assert!(
        holds(gyre.pid(), inode),
        "the server's socket is not gyre's"
    );
    Settled {
        _stream: stream,
        addr,
        inode,
    }
}

/// Starts `gyre echo ARGS` in the server namespace.
fn echo_server(net: &Net, args: &[&str]) -> Gyre {
    let mut all = vec!["echo"];
    all.extend_from_slice(args);
    start_in(net.server_ns(), SERVER_IP, &all)
}

/// With `--keepalive 1` a client that vanished without a FIN or a reset is dropped once three probes go
/// unanswered (about 4 s after its last packet), while a server without it keeps the dead connection.
#[test]
fn keepalive_drops_a_client_that_vanished() {
    let net = Net::new();
    let probing = echo_server(&net, &["--keepalive", "1"]);
    let plain = echo_server(&net, &[]);
    let a = settled_echo_client(&net, &probing);
    let b = settled_echo_client(&net, &plain);

    net.blackhole();
    let dropped = wait_until(Duration::from_secs(15), || !holds(probing.pid(), a.inode));
    let still_held = holds(plain.pid(), b.inode);
    let Some(after) = dropped else {
        panic!(
            "the probing server still holds the vanished client after 15 s\n{}",
            probing.transcript()
        );
    };
    // First probe 1 s after the last packet, then 1 s apart; the third
    // unanswered one ends it at 4 s. The cut came at most a few ms after
    // that last packet.
    assert!(
        after >= Duration::from_millis(3500) && after <= Duration::from_secs(6),
        "dropped {after:?} after the link died, not about 4 s"
    );
    assert!(still_held, "the server without keep-alive dropped it too");
}

/// With `--idle-timeout 2` a client that vanished without a FIN or a reset is timed out and its connection
/// freed about 2 s after its last packet, while a server without it keeps the dead connection.
#[test]
fn idle_timeout_drops_a_client_that_vanished() {
    let net = Net::new();
    let timing = echo_server(&net, &["--idle-timeout", "2"]);
    let plain = echo_server(&net, &[]);
    let a = settled_echo_client(&net, &timing);
    let b = settled_echo_client(&net, &plain);

    net.blackhole();
    let freed = wait_until(Duration::from_secs(10), || !holds(timing.pid(), a.inode));
    let still_held = holds(plain.pid(), b.inode);
    let Some(after) = freed else {
        panic!(
            "the server with --idle-timeout still holds the vanished client after 10 s\n{}",
            timing.transcript()
        );
    };
    assert!(
        after <= Duration::from_secs(4),
        "freed {after:?} after the link died, not about 2 s"
    );
    let line = timing.wait_for_line("Timing out client");
    assert!(line.contains(&format!("port={}", a.addr.port())), "{line}");
    assert!(still_held, "the server without a timeout dropped it too");
}

/// With `--idle-timeout 1` a client that vanished while replies were waiting for it (its window full, then the
/// link dead) is still freed: the close that cannot flush is aborted after the grace period.
#[test]
fn idle_timeout_frees_a_vanished_client_with_replies_waiting() {
    let net = Net::new();
    let gyre = echo_server(&net, &["--idle-timeout", "1"]);
    let addr = SocketAddr::from((SERVER_IP, gyre.port()));
    // A client with a tiny window that sends without reading, until the
    // echo has stopped reading from it (its replies fill every buffer).
    let (_client, local) = net
        .spawn_in_client(move || {
            use rustix::net::{AddressFamily, SocketType, connect, socket, sockopt};
            let fd = socket(AddressFamily::INET, SocketType::STREAM, None).unwrap();
            sockopt::set_socket_recv_buffer_size(&fd, 4096).unwrap();
            connect(&fd, &addr).unwrap();
            let stream = TcpStream::from(fd);
            stream.set_nonblocking(true).unwrap();
            let chunk = pattern(0, 0, 16 * 1024);
            let mut refused_since: Option<Instant> = None;
            let deadline = Instant::now() + CLIENT_LIMIT;
            // Sends until the kernel has refused more for 300 ms: the
            // echo's buffer is past its high-water mark and it stopped
            // reading, and all the buffers in between are full.
            loop {
                assert!(Instant::now() < deadline, "the echo never stopped reading");
                match (&stream).write(&chunk) {
                    Ok(_) => refused_since = None,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        let since = *refused_since.get_or_insert_with(Instant::now);
                        if since.elapsed() >= Duration::from_millis(300) {
                            break;
                        }
                        thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => panic!("write: {e}"),
                }
            }
            let local = stream.local_addr().unwrap();
            (stream, local)
        })
        .join()
        .expect("client thread");
    let (waiting, inode) = server_socket(&gyre, local).expect("the server's socket");
    assert!(waiting > 0, "the server has nothing waiting for the client");

    net.blackhole();
    gyre.wait_for_line("Timing out client");
    let freed = wait_until(Duration::from_secs(30), || !holds(gyre.pid(), inode));
    assert!(
        freed.is_some(),
        "30 s after its idle timeout the server still holds the vanished client\n{}",
        gyre.transcript()
    );
}
