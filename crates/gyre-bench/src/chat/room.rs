//! The benchmark's clients: every client of one server on one mio poll,
//! joined by name, each with what it received and has not split into
//! lines yet and what it has to send; a [`Phase`] gets every line.

use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

/// One client: its socket, what it received and has not split into lines
/// yet, and what it has to send.
#[derive(Debug)]
pub(super) struct User {
    stream: TcpStream,
    input: Vec<u8>,
    output: Vec<u8>,
    written: usize,
    pub(super) open: bool,
}

/// Every client of one server, on one mio poll.
#[derive(Debug)]
pub(super) struct Room {
    poll: Poll,
    events: Events,
    pub(super) users: Vec<User>,
    buf: Vec<u8>,
}

/// What a phase does with the lines that arrive.
pub(super) trait Phase {
    /// `user` received `line` (without its CRLF).
    fn line(&mut self, user: usize, line: &[u8]);
    /// After each batch of events: send what is due.
    fn after(&mut self, room: &mut Room);
    /// True once the phase is complete.
    fn done(&self) -> bool;
    /// `user`'s connection ended (an error, unless the phase expects it).
    fn closed(&mut self, user: usize);
}

impl Room {
    /// Connects `n` clients and names them `u000`, `u001`, ... (blocking,
    /// one after the other), then makes them non-blocking on one poll.
    pub(super) fn join(addr: SocketAddr, n: usize) -> io::Result<Room> {
        let poll = Poll::new()?;
        let mut users = Vec::with_capacity(n);
        for i in 0..n {
            let std = std::net::TcpStream::connect(addr)?;
            std.set_nodelay(true)?;
            std.set_read_timeout(Some(Duration::from_secs(30)))?;
            let mut reader = BufReader::new(std.try_clone()?);
            let mut line = String::new();
            reader.read_line(&mut line)?;
            if line != "What's your name?\r\n" {
                return Err(io::Error::other(format!("greeting {line:?}")));
            }
            (&std).write_all(format!("u{i:03}\r\n").as_bytes())?;
            line.clear();
            reader.read_line(&mut line)?;
            if line != format!("Welcome, u{i:03}!\r\n") {
                return Err(io::Error::other(format!("welcome {line:?}")));
            }
            if !reader.buffer().is_empty() {
                return Err(io::Error::other("more than the welcome arrived"));
            }
            std.set_nonblocking(true)?;
            let mut stream = TcpStream::from_std(std);
            poll.registry().register(
                &mut stream,
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            users.push(User {
                stream,
                input: Vec::new(),
                output: Vec::new(),
                written: 0,
                open: true,
            });
        }
        Ok(Room {
            poll,
            events: Events::with_capacity(1024),
            users,
            buf: vec![0; 64 * 1024],
        })
    }

    /// Queues `data` for `user` and writes what the kernel takes.
    pub(super) fn send(&mut self, user: usize, data: &[u8]) {
        self.users[user].output.extend_from_slice(data);
        self.flush(user);
    }

    fn flush(&mut self, user: usize) {
        let u = &mut self.users[user];
        while u.open && u.written < u.output.len() {
            match u.stream.write(&u.output[u.written..]) {
                Ok(n) => u.written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => u.open = false,
            }
        }
        if u.written == u.output.len() {
            u.output.clear();
            u.written = 0;
        }
    }

    /// True when `user` has nothing left to send.
    pub(super) fn drained(&self, user: usize) -> bool {
        self.users[user].output.is_empty()
    }

    /// Runs `phase` until it is done (`Ok(true)`) or `until` (`Ok(false)`).
    pub(super) fn run(&mut self, phase: &mut dyn Phase, until: Instant) -> Result<bool, String> {
        phase.after(self);
        while !phase.done() {
            let now = Instant::now();
            if now >= until {
                return Ok(false);
            }
            let wait = (until - now).min(Duration::from_millis(50));
            match self.poll.poll(&mut self.events, Some(wait)) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("poll: {e}")),
            }
            let ready: Vec<(usize, bool, bool)> = self
                .events
                .iter()
                .map(|e| {
                    (
                        e.token().0,
                        e.is_readable() || e.is_read_closed(),
                        e.is_writable(),
                    )
                })
                .collect();
            for (user, readable, writable) in ready {
                if writable {
                    self.flush(user);
                }
                if readable {
                    self.read(user, phase);
                }
            }
            phase.after(self);
        }
        Ok(true)
    }

    /// Reads what `user` has until the kernel has no more; hands every
    /// complete line to `phase`.
    fn read(&mut self, user: usize, phase: &mut dyn Phase) {
        let Room { users, buf, .. } = self;
        let u = &mut users[user];
        while u.open {
            match u.stream.read(buf) {
                Ok(0) => {
                    u.open = false;
                    phase.closed(user);
                }
                Ok(n) => u.input.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    u.open = false;
                    phase.closed(user);
                }
            }
        }
        let mut start = 0;
        while let Some(at) = u.input[start..].iter().position(|&b| b == b'\n') {
            let end = start + at;
            let line = &u.input[start..end];
            phase.line(user, line.strip_suffix(b"\r").unwrap_or(line));
            start = end + 1;
        }
        u.input.drain(..start);
    }
}
