//! The churning client behind the `soak` binary: a population of
//! connections held open against one server for a long time, each used and
//! then closed and replaced by a new one, with every byte checked.
//!
//! Two kinds, one mio loop each (one thread per server):
//!
//! * [`Kind::Echo`] (for `gyre echo`, and `gyre portforward` in front of
//!   an echo): each connection sends a message of 64 to 1,024 bytes of its
//!   [`Pattern`] stream every [`Churn::every`] (the first one at a random
//!   point of that period, so the population does not move in step), checks
//!   the echo byte by byte, and after 6 to 17 messages closes and is
//!   replaced by a new connection with a new pattern.
//! * [`Kind::Chat`] (for `gyre chat`): each connection joins (checks
//!   `What's your name?`, sends the name `s<id>`, checks `Welcome, s<id>!`),
//!   listens, and leaves after a lifetime of 6 to 17 periods of
//!   [`Churn::every`]. Every [`Churn::speak_every`] one of 16 speaker
//!   slots, in turn, says its next line, `<seq> <body>`, where the body is
//!   a function of the speaker and `seq`. Every listener checks every line
//!   it hears: that it comes from a user, that its body is the one for
//!   that user and `seq`, and that each speaker's lines arrive with no gap,
//!   repeat or reordering from the first one it heard.
//!
//! New connections bind to a source address rotating over 127.3.0.0/16
//! (their TIME_WAIT sockets then never exhaust the ephemeral ports) and at
//! most [`CONNECTS_IN_FLIGHT`] connects are under way at once. When the
//! run's time is up no new message or line starts; connections whose
//! message is under way get [`DRAIN`] to finish it, and then everything is
//! closed. Progress is counted in a shared [`Live`] that the caller samples.

use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::pattern::Pattern;

/// Connects under way at once.
pub const CONNECTS_IN_FLIGHT: usize = 64;
/// How long messages under way may take to finish once the time is up.
pub const DRAIN: Duration = Duration::from_secs(10);
/// Speaker slots of the chat room (the first 16 connections' slots).
const SPEAKERS: usize = 16;
/// Bytes in a chat line's body.
const BODY: usize = 48;

/// What the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Echoes every byte (`gyre echo`, or a forwarder in front of one).
    Echo,
    /// `gyre chat`.
    Chat,
}

/// One churning run against one server.
#[derive(Debug, Clone)]
pub struct Churn {
    /// The server's protocol.
    pub kind: Kind,
    /// The server.
    pub addr: SocketAddr,
    /// Connections held open at once.
    pub conns: usize,
    /// How long to churn.
    pub duration: Duration,
    /// The period of one connection's messages (echo) or of its lifetime
    /// unit (chat: a connection lives 6 to 17 of them).
    pub every: Duration,
    /// How often a chat speaker says a line (room-wide).
    pub speak_every: Duration,
    /// Third octet base of the source addresses (127.3.x.y), so that
    /// several runs at once use different ones.
    pub source: u8,
}

/// Counters a run updates as it goes; read them at any time.
#[derive(Debug, Default)]
pub struct Live {
    /// Connections opened (connect started).
    pub opened: AtomicU64,
    /// Connections closed by the client when done.
    pub closed: AtomicU64,
    /// Connections open now (connected or connecting).
    pub open: AtomicU64,
    /// Echo messages checked, or chat lines heard and checked.
    pub ops: AtomicU64,
    /// Bytes checked.
    pub bytes: AtomicU64,
    /// Bytes or lines wrong, missing or in excess.
    pub bad: AtomicU64,
    /// Connections that failed: refused, reset or closed by the server.
    pub failed: AtomicU64,
    /// The first few problems, described.
    pub problems: Mutex<Vec<String>>,
}

impl Live {
    fn problem(&self, text: String) {
        let mut problems = self.problems.lock().unwrap_or_else(|e| e.into_inner());
        if problems.len() < 20 {
            problems.push(text);
        }
    }

    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// A snapshot: (opened, closed, open, ops, bytes, bad, failed).
    pub fn snapshot(&self) -> [u64; 7] {
        [
            &self.opened,
            &self.closed,
            &self.open,
            &self.ops,
            &self.bytes,
            &self.bad,
            &self.failed,
        ]
        .map(|c| c.load(Ordering::Relaxed))
    }
}

/// A cheap deterministic mix of `x` (splitmix64's finaliser).
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The body of chat line `seq` of user `id`: printable, from the pattern.
fn chat_body(pattern: &Pattern, id: u64, seq: u64) -> Vec<u8> {
    pattern
        .slice(id, seq * BODY as u64, BODY)
        .iter()
        .map(|b| b'!' + b % 94)
        .collect()
}

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The connect is under way.
    Connecting,
    /// Echo: waiting to send the next message. Chat: joined, listening.
    Idle,
    /// Echo: a message is being sent and echoed.
    Busy,
    /// Chat: waiting for the prompt.
    Prompted,
    /// Chat: the name is sent, waiting for the welcome.
    Naming,
}

/// One connection.
#[derive(Debug)]
struct Conn {
    id: u64,
    stream: TcpStream,
    phase: Phase,
    /// Echo: bytes of the pattern sent and received so far.
    written: u64,
    received: u64,
    /// Echo: end offset of the message under way.
    target: u64,
    /// Echo: messages done; chat: lines said.
    count: u64,
    /// Echo: messages to send before closing.
    lifetime: u64,
    /// Chat: when to leave.
    leave_at: Option<Instant>,
    /// Chat: bytes read and not yet a whole line.
    partial: Vec<u8>,
    /// Chat: the last sequence number heard from each speaker.
    heard: HashMap<u64, u64>,
    /// Chat: bytes of the name line, or a line said, not yet written.
    outbox: Vec<u8>,
}

/// A timer: when, which slot, for which connection id.
type Timer = std::cmp::Reverse<(Instant, usize, u64)>;

/// The loop's state.
struct Run<'a> {
    churn: &'a Churn,
    live: &'a Live,
    pattern: Pattern,
    poll: Poll,
    slots: Vec<Option<Conn>>,
    /// Slots waiting for a new connection.
    to_open: VecDeque<usize>,
    connecting: usize,
    next_id: u64,
    timers: BinaryHeap<Timer>,
    stopping: bool,
    next_speaker: usize,
    buf: Vec<u8>,
}

/// Runs `churn`, counting into `live`; returns when the time is up and
/// every connection is closed.
pub fn run(churn: &Churn, live: &Live) -> io::Result<()> {
    let mut run = Run {
        churn,
        live,
        pattern: Pattern::new(64 * 1024),
        poll: Poll::new()?,
        slots: (0..churn.conns).map(|_| None).collect(),
        to_open: (0..churn.conns).collect(),
        connecting: 0,
        next_id: 0,
        timers: BinaryHeap::new(),
        stopping: false,
        next_speaker: 0,
        buf: vec![0u8; 64 * 1024],
    };
    let start = Instant::now();
    let stop_at = start + churn.duration;
    let mut next_speech = start + churn.speak_every;
    let mut events = Events::with_capacity(4096);
    loop {
        let now = Instant::now();
        if !run.stopping && now >= stop_at {
            run.stopping = true;
            run.to_open.clear();
            // Idle connections are done at once; busy ones get DRAIN.
            for slot in 0..run.slots.len() {
                if matches!(&run.slots[slot], Some(c) if c.phase != Phase::Busy) {
                    run.close(slot);
                }
            }
        }
        if run.stopping && (run.slots.iter().all(Option::is_none) || now >= stop_at + DRAIN) {
            break;
        }
        run.open_some();
        if churn.kind == Kind::Chat && !run.stopping && now >= next_speech {
            run.speak();
            next_speech += churn.speak_every;
        }
        run.fire_timers(now);
        let mut wait = Duration::from_millis(100);
        if let Some(std::cmp::Reverse((at, _, _))) = run.timers.peek() {
            wait = wait.min(at.saturating_duration_since(now));
        }
        if churn.kind == Kind::Chat {
            wait = wait.min(next_speech.saturating_duration_since(now));
        }
        run.poll.poll(&mut events, Some(wait))?;
        for event in events.iter() {
            run.ready(event.token().0);
        }
    }
    // Whatever is left did not finish within DRAIN.
    for slot in 0..run.slots.len() {
        if let Some(c) = &run.slots[slot] {
            if c.phase == Phase::Busy {
                Live::add(&live.bad, c.target - c.received);
                live.problem(format!(
                    "connection {} still waiting for its echo at the end",
                    c.id
                ));
            }
            run.close(slot);
        }
    }
    Ok(())
}

impl Run<'_> {
    /// Starts connects for waiting slots, up to the in-flight bound.
    fn open_some(&mut self) {
        while self.connecting < CONNECTS_IN_FLIGHT {
            let Some(slot) = self.to_open.pop_front() else {
                return;
            };
            let id = self.next_id;
            self.next_id += 1;
            match self.connect(slot, id) {
                Ok(stream) => {
                    let r = mix(id);
                    let lifetime = 6 + r % 12;
                    let leave_at = (self.churn.kind == Kind::Chat)
                        .then(|| Instant::now() + self.churn.every * lifetime as u32);
                    self.slots[slot] = Some(Conn {
                        id,
                        stream,
                        phase: Phase::Connecting,
                        written: 0,
                        received: 0,
                        target: 0,
                        count: 0,
                        lifetime,
                        leave_at,
                        partial: Vec::new(),
                        heard: HashMap::new(),
                        outbox: Vec::new(),
                    });
                    self.connecting += 1;
                    Live::add(&self.live.opened, 1);
                    Live::add(&self.live.open, 1);
                }
                Err(e) => {
                    Live::add(&self.live.failed, 1);
                    self.live.problem(format!("connect {id}: {e}"));
                    if !self.stopping {
                        self.to_open.push_back(slot);
                    }
                    return;
                }
            }
        }
    }

    /// A non-blocking connect from the next source address.
    fn connect(&mut self, slot: usize, id: u64) -> io::Result<TcpStream> {
        use socket2::{Domain, Protocol, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nonblocking(true)?;
        socket.set_tcp_nodelay(true)?;
        let n = id % (64 * 256);
        let source = Ipv4Addr::new(127, 3, self.churn.source + (n / 256) as u8, (n % 256) as u8);
        socket.bind(&SocketAddr::new(IpAddr::V4(source), 0).into())?;
        match socket.connect(&self.churn.addr.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INPROGRESS.raw_os_error()) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        let mut stream = TcpStream::from_std(socket.into());
        self.poll.registry().register(
            &mut stream,
            Token(slot),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        Ok(stream)
    }

    /// Closes the connection in `slot` (done with it) and, unless the run
    /// is stopping, queues the slot for a new one.
    fn close(&mut self, slot: usize) {
        if let Some(c) = self.slots[slot].take() {
            if c.phase == Phase::Connecting {
                self.connecting -= 1;
            }
            Live::add(&self.live.closed, 1);
            self.live.open.fetch_sub(1, Ordering::Relaxed);
            drop(c);
            if !self.stopping {
                self.to_open.push_back(slot);
            }
        }
    }

    /// The connection in `slot` failed: counts it, then closes it.
    fn fail(&mut self, slot: usize, why: String) {
        if let Some(c) = &self.slots[slot] {
            Live::add(&self.live.failed, 1);
            Live::add(&self.live.bad, c.target - c.received);
            self.live.problem(format!("connection {}: {why}", c.id));
        }
        self.close(slot);
    }

    fn fire_timers(&mut self, now: Instant) {
        while let Some(&std::cmp::Reverse((at, slot, id))) = self.timers.peek() {
            if at > now {
                return;
            }
            self.timers.pop();
            let current = matches!(&self.slots[slot], Some(c) if c.id == id);
            if !current || self.stopping {
                continue;
            }
            match self.churn.kind {
                Kind::Echo => self.send_message(slot),
                Kind::Chat => self.close(slot), // its lifetime is over
            }
        }
    }

    /// Readiness for `slot`.
    fn ready(&mut self, slot: usize) {
        let Some(c) = self.slots[slot].as_mut() else {
            return;
        };
        if c.phase == Phase::Connecting {
            match c.stream.take_error() {
                Ok(None) => {}
                Ok(Some(e)) | Err(e) => {
                    self.connecting -= 1;
                    c.phase = Phase::Idle;
                    return self.fail(slot, format!("connect: {e}"));
                }
            }
            if c.stream.peer_addr().is_err() {
                return; // not yet
            }
            self.connecting -= 1;
            let id = c.id;
            match self.churn.kind {
                Kind::Echo => {
                    c.phase = Phase::Idle;
                    // The first message at a random point of the period.
                    let offset = self
                        .churn
                        .every
                        .mul_f64((mix(id ^ 1) % 1000) as f64 / 1000.0);
                    let at = Instant::now() + offset;
                    self.timers.push(std::cmp::Reverse((at, slot, id)));
                }
                Kind::Chat => {
                    c.phase = Phase::Prompted;
                    let at = c.leave_at.expect("chat connections have a lifetime");
                    self.timers.push(std::cmp::Reverse((at, slot, id)));
                }
            }
        }
        match self.churn.kind {
            Kind::Echo => self.echo_io(slot),
            Kind::Chat => self.chat_io(slot),
        }
    }

    /// Starts the next echo message of `slot`.
    fn send_message(&mut self, slot: usize) {
        let Some(c) = self.slots[slot].as_mut() else {
            return;
        };
        if c.phase != Phase::Idle {
            return;
        }
        let size = 64 + mix(c.id.wrapping_mul(31).wrapping_add(c.count)) % 961;
        c.target = c.written + size;
        c.phase = Phase::Busy;
        self.echo_io(slot);
    }

    /// Writes what is due, reads and checks what came back.
    fn echo_io(&mut self, slot: usize) {
        let Some(c) = self.slots[slot].as_mut() else {
            return;
        };
        let mut problem = None;
        while c.written < c.target {
            let n = (c.target - c.written) as usize;
            match c.stream.write(self.pattern.slice(c.id, c.written, n)) {
                Ok(0) => {
                    problem = Some("write returned 0".to_string());
                    break;
                }
                Ok(k) => c.written += k as u64,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    problem = Some(format!("write: {e}"));
                    break;
                }
            }
        }
        while problem.is_none() {
            match c.stream.read(&mut self.buf) {
                Ok(0) => problem = Some("closed by the server".to_string()),
                Ok(n) => {
                    let room = (c.written - c.received) as usize;
                    let good = n.min(room);
                    let wrong = self.pattern.mismatches(c.id, c.received, &self.buf[..good]);
                    let excess = (n - good) as u64;
                    if wrong + excess > 0 {
                        Live::add(&self.live.bad, wrong + excess);
                        problem = Some(format!(
                            "{wrong} wrong and {excess} extra bytes after {}",
                            c.received
                        ));
                    }
                    c.received += good as u64;
                    Live::add(&self.live.bytes, good as u64);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => problem = Some(format!("read: {e}")),
            }
        }
        if let Some(why) = problem {
            return self.fail(slot, why);
        }
        if c.phase == Phase::Busy && c.received == c.target {
            Live::add(&self.live.ops, 1);
            c.count += 1;
            c.phase = Phase::Idle;
            if c.count >= c.lifetime || self.stopping {
                return self.close(slot);
            }
            let at = Instant::now() + self.churn.every;
            let id = c.id;
            self.timers.push(std::cmp::Reverse((at, slot, id)));
        }
    }

    /// The next speaker slot that has a joined user says its next line.
    fn speak(&mut self) {
        for _ in 0..SPEAKERS {
            let slot = self.next_speaker % SPEAKERS.min(self.slots.len());
            self.next_speaker += 1;
            if let Some(c) = self.slots[slot].as_mut()
                && c.phase == Phase::Idle
            {
                let seq = c.count;
                c.count += 1;
                let mut line = format!("{seq} ").into_bytes();
                line.extend_from_slice(&chat_body(&self.pattern, c.id, seq));
                line.extend_from_slice(b"\r\n");
                c.outbox.extend_from_slice(&line);
                self.chat_io(slot);
                return;
            }
        }
    }

    /// Writes the outbox, reads and checks lines.
    fn chat_io(&mut self, slot: usize) {
        let Some(c) = self.slots[slot].as_mut() else {
            return;
        };
        let mut problem = flush_outbox(c);
        while problem.is_none() {
            match c.stream.read(&mut self.buf) {
                Ok(0) => problem = Some("closed by the server".to_string()),
                Ok(n) => c.partial.extend_from_slice(&self.buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => problem = Some(format!("read: {e}")),
            }
        }
        let mut partial = std::mem::take(&mut c.partial);
        let mut at = 0;
        while problem.is_none() {
            let Some(end) = partial[at..].windows(2).position(|w| w == b"\r\n") else {
                break;
            };
            let line = &partial[at..at + end];
            at += end + 2;
            Live::add(&self.live.bytes, line.len() as u64 + 2);
            problem = check_line(c, line, &self.pattern, self.live);
        }
        partial.drain(..at);
        c.partial = partial;
        if problem.is_none() {
            // The name, when the prompt came.
            problem = flush_outbox(c);
        }
        if let Some(why) = problem {
            self.fail(slot, why);
        }
    }
}

/// Writes what `c` has to say until the kernel refuses more; a problem,
/// described, if the connection failed.
fn flush_outbox(c: &mut Conn) -> Option<String> {
    while !c.outbox.is_empty() {
        match c.stream.write(&c.outbox) {
            Ok(0) => return Some("write returned 0".to_string()),
            Ok(k) => {
                c.outbox.drain(..k);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Some(format!("write: {e}")),
        }
    }
    None
}

/// Checks one line a chat connection received (without its CRLF).
fn check_line(c: &mut Conn, line: &[u8], pattern: &Pattern, live: &Live) -> Option<String> {
    let text = String::from_utf8_lossy(line);
    let bad = |why: &str| {
        Live::add(&live.bad, 1);
        Some(format!("{why}: {text:?}"))
    };
    match c.phase {
        Phase::Prompted => {
            if line != b"What's your name?" {
                return bad("not the prompt");
            }
            c.outbox
                .extend_from_slice(format!("s{}\r\n", c.id).as_bytes());
            c.phase = Phase::Naming;
            Live::add(&live.ops, 1);
            None
        }
        Phase::Naming => {
            if text != format!("Welcome, s{}!", c.id) {
                return bad("not the welcome");
            }
            c.phase = Phase::Idle;
            Live::add(&live.ops, 1);
            None
        }
        _ => {
            // "<s<id>> <seq> <body>"
            let Some((speaker, rest)) = text
                .strip_prefix("<s")
                .and_then(|t| t.split_once("> "))
                .and_then(|(s, rest)| Some((s.parse::<u64>().ok()?, rest)))
            else {
                return bad("not a user's line");
            };
            let Some((seq, body)) = rest
                .split_once(' ')
                .and_then(|(n, body)| Some((n.parse::<u64>().ok()?, body)))
            else {
                return bad("no sequence number");
            };
            if speaker == c.id {
                return bad("heard its own line");
            }
            if body.as_bytes() != chat_body(pattern, speaker, seq) {
                return bad("wrong body");
            }
            if let Some(&last) = c.heard.get(&speaker)
                && seq != last + 1
            {
                return bad(&format!("after line {last} of s{speaker}"));
            }
            c.heard.insert(speaker, seq);
            Live::add(&live.ops, 1);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A speaker's lines must come in order with no gap, from the first one heard.
    #[test]
    fn chat_lines_are_checked_in_order() {
        let live = Live::default();
        let pattern = Pattern::new(1024);
        let stream = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let s = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            TcpStream::from_std(s)
        };
        let mut c = Conn {
            id: 9,
            stream,
            phase: Phase::Idle,
            written: 0,
            received: 0,
            target: 0,
            count: 0,
            lifetime: 1,
            leave_at: None,
            partial: Vec::new(),
            heard: HashMap::new(),
            outbox: Vec::new(),
        };
        let line = |speaker: u64, seq: u64| {
            let mut l = format!("<s{speaker}> {seq} ").into_bytes();
            l.extend_from_slice(&chat_body(&pattern, speaker, seq));
            l
        };
        assert_eq!(check_line(&mut c, &line(3, 7), &pattern, &live), None);
        assert_eq!(check_line(&mut c, &line(3, 8), &pattern, &live), None);
        assert_eq!(check_line(&mut c, &line(4, 0), &pattern, &live), None);
        assert!(check_line(&mut c, &line(3, 10), &pattern, &live).is_some());
        assert!(check_line(&mut c, &line(4, 0), &pattern, &live).is_some());
        assert!(check_line(&mut c, &line(9, 0), &pattern, &live).is_some());
        let mut wrong = line(5, 0);
        *wrong.last_mut().unwrap() ^= 1;
        assert!(check_line(&mut c, &wrong, &pattern, &live).is_some());
        assert_eq!(live.bad.load(Ordering::Relaxed), 4);
        assert_eq!(live.ops.load(Ordering::Relaxed), 3);
    }
}
