//! The three loads of the chat benchmark, each a [`Phase`] that checks
//! every line it hears: rounds of one line from everyone, one client's
//! burst with a newcomer timed meanwhile, and the load under which the
//! server gets SIGTERM.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use super::room::{Phase, Room};
use super::{ChatServer, PHASE_LIMIT, Sizes};

// ----- rounds -----

/// Every client sends one line per round and hears every other's.
struct Rounds {
    n: usize,
    total: usize,
    round: usize,
    /// The line each client sends this round, as the others receive it.
    relayed: Vec<Vec<u8>>,
    /// `heard[receiver * n + sender]`: the last round `receiver` heard `sender`.
    heard: Vec<usize>,
    in_round: usize,
    delivered: u64,
    errors: Vec<String>,
    line_len: usize,
    started: bool,
}

impl Rounds {
    fn payload(&self, sender: usize) -> String {
        let head = format!("r{:06} u{sender:03} ", self.round);
        format!(
            "{head}{}",
            "p".repeat(self.line_len.saturating_sub(head.len()))
        )
    }

    fn start_round(&mut self, room: &mut Room) {
        self.in_round = 0;
        for sender in 0..self.n {
            let payload = self.payload(sender);
            self.relayed[sender] = format!("<u{sender:03}> {payload}").into_bytes();
            room.send(sender, format!("{payload}\r\n").as_bytes());
        }
    }
}

impl Phase for Rounds {
    fn line(&mut self, user: usize, line: &[u8]) {
        let sender = line
            .get(2..5)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| d.parse::<usize>().ok())
            .filter(|s| *s < self.n && *s != user);
        let ok = match sender {
            Some(s) if line == self.relayed[s].as_slice() => {
                let seen = &mut self.heard[user * self.n + s];
                let first = *seen != self.round + 1;
                *seen = self.round + 1;
                first
            }
            _ => false,
        };
        if ok {
            self.in_round += 1;
            self.delivered += 1;
        } else if self.errors.len() < 5 {
            self.errors.push(format!(
                "u{user:03} in round {}: {:?}",
                self.round,
                String::from_utf8_lossy(line)
            ));
        }
    }

    fn after(&mut self, room: &mut Room) {
        if !self.started {
            self.started = true;
            self.start_round(room);
        } else if self.in_round == self.n * (self.n - 1) {
            self.round += 1;
            if self.round < self.total {
                self.start_round(room);
            }
        }
    }

    fn done(&self) -> bool {
        self.round >= self.total || !self.errors.is_empty()
    }

    fn closed(&mut self, user: usize) {
        self.errors.push(format!("u{user:03} was disconnected"));
    }
}

/// The rounds: delivered lines and seconds.
pub(super) fn rounds(room: &mut Room, sizes: &Sizes) -> Result<(u64, f64), String> {
    let n = room.users.len();
    let mut phase = Rounds {
        n,
        total: sizes.rounds,
        round: 0,
        relayed: vec![Vec::new(); n],
        heard: vec![0; n * n],
        in_round: 0,
        delivered: 0,
        errors: Vec::new(),
        line_len: sizes.line,
        started: false,
    };
    let start = Instant::now();
    let done = room.run(&mut phase, start + PHASE_LIMIT)?;
    let seconds = start.elapsed().as_secs_f64();
    if !phase.errors.is_empty() {
        return Err(format!("rounds: {}", phase.errors.join("; ")));
    }
    if !done {
        return Err(format!("rounds: not done within {PHASE_LIMIT:?}"));
    }
    Ok((phase.delivered, seconds))
}

// ----- burst -----

/// Client 0's burst of empty lines, heard by everyone else.
struct Burst {
    lines: usize,
    heard: Vec<usize>,
    delivered: Arc<AtomicU64>,
    listeners_done: usize,
    errors: Vec<String>,
    /// Told once the whole burst is in the kernel.
    sent: Option<mpsc::Sender<()>>,
}

impl Phase for Burst {
    fn line(&mut self, user: usize, line: &[u8]) {
        if user != 0 && line == b"<u000> " && self.heard[user] < self.lines {
            self.heard[user] += 1;
            self.delivered.fetch_add(1, Ordering::Relaxed);
            if self.heard[user] == self.lines {
                self.listeners_done += 1;
            }
        } else if self.errors.len() < 5 {
            self.errors
                .push(format!("u{user:03}: {:?}", String::from_utf8_lossy(line)));
        }
    }

    fn after(&mut self, room: &mut Room) {
        if self.sent.is_some() && room.drained(0) {
            let _ = self.sent.take().map(|tx| tx.send(()));
        }
    }

    fn done(&self) -> bool {
        self.listeners_done == self.heard.len() - 1 || !self.errors.is_empty()
    }

    fn closed(&mut self, user: usize) {
        self.errors.push(format!("u{user:03} was disconnected"));
    }
}

/// What the burst gave.
pub(super) struct BurstFigures {
    /// Lines delivered.
    pub(super) lines: u64,
    /// From the burst's first write to its last line delivered.
    pub(super) seconds: f64,
    /// From the newcomer's connect to its greeting.
    pub(super) newcomer_ms: f64,
    /// The share of the burst the listeners had when the newcomer was greeted.
    pub(super) share: f64,
}

/// The burst, and a newcomer connecting once it is all sent.
pub(super) fn burst(
    room: &mut Room,
    addr: SocketAddr,
    sizes: &Sizes,
) -> Result<BurstFigures, String> {
    let n = room.users.len();
    let lines = sizes.burst / 2;
    let whole = (lines * (n - 1)) as u64;
    let delivered = Arc::new(AtomicU64::new(0));
    let (sent_tx, sent_rx) = mpsc::channel::<()>();
    let seen = delivered.clone();
    let newcomer = thread::spawn(move || -> Result<(f64, f64), String> {
        sent_rx
            .recv_timeout(PHASE_LIMIT)
            .map_err(|_| "the burst was never sent".to_string())?;
        let asked = Instant::now();
        let stream = std::net::TcpStream::connect(addr).map_err(|e| format!("newcomer: {e}"))?;
        stream
            .set_read_timeout(Some(PHASE_LIMIT))
            .map_err(|e| e.to_string())?;
        let mut line = String::new();
        BufReader::new(&stream)
            .read_line(&mut line)
            .map_err(|e| format!("newcomer: {e}"))?;
        let ms = asked.elapsed().as_secs_f64() * 1e3;
        let share = seen.load(Ordering::Relaxed) as f64 / whole as f64;
        if line != "What's your name?\r\n" {
            return Err(format!("newcomer got {line:?}"));
        }
        Ok((ms, share))
    });
    let mut phase = Burst {
        lines,
        heard: vec![0; n],
        delivered,
        listeners_done: 0,
        errors: Vec::new(),
        sent: Some(sent_tx),
    };
    let start = Instant::now();
    room.send(0, &b"\r\n".repeat(lines));
    let done = room.run(&mut phase, start + PHASE_LIMIT)?;
    let seconds = start.elapsed().as_secs_f64();
    drop(phase.sent.take());
    let greeted = newcomer
        .join()
        .map_err(|_| "newcomer panicked".to_string())?;
    if !phase.errors.is_empty() {
        return Err(format!("burst: {}", phase.errors.join("; ")));
    }
    if !done {
        return Err(format!("burst: not done within {PHASE_LIMIT:?}"));
    }
    let (newcomer_ms, share) = greeted?;
    Ok(BurstFigures {
        lines: whole,
        seconds,
        newcomer_ms,
        share,
    })
}

// ----- SIGTERM under load -----

/// Everyone sends 100-byte lines, each at most `WINDOW` lines ahead of what
/// it has heard from the others.
struct Load {
    n: usize,
    line: Vec<u8>,
    sent: Vec<usize>,
    heard: Vec<usize>,
    delivered: u64,
    /// The server is shutting down: connections end.
    stopping: bool,
    errors: Vec<String>,
}

impl Load {
    /// Lines a client may have sent beyond what the others' lines it has
    /// heard call for.
    const WINDOW: usize = 4;
}

impl Phase for Load {
    fn line(&mut self, user: usize, line: &[u8]) {
        if line.starts_with(b"<u") {
            self.heard[user] += 1;
            self.delivered += 1;
        } else if self.errors.len() < 5 {
            self.errors
                .push(format!("u{user:03}: {:?}", String::from_utf8_lossy(line)));
        }
    }

    fn after(&mut self, room: &mut Room) {
        if self.stopping {
            return;
        }
        for user in 0..self.n {
            let due = Self::WINDOW + self.heard[user] / (self.n - 1);
            if self.sent[user] < due && room.users[user].open {
                let lines = due - self.sent[user];
                room.send(user, &self.line.repeat(lines));
                self.sent[user] = due;
            }
        }
    }

    fn done(&self) -> bool {
        false
    }

    fn closed(&mut self, _user: usize) {}
}

/// Loads the room, sends SIGTERM, and times the server's exit (the load
/// going on); `None` when it had not exited within the limit.
pub(super) fn sigterm(
    room: &mut Room,
    server: &mut ChatServer,
    sizes: &Sizes,
) -> Result<Option<f64>, String> {
    let n = room.users.len();
    let mut line = "l".repeat(98).into_bytes();
    line.extend_from_slice(b"\r\n");
    let mut phase = Load {
        n,
        line,
        sent: vec![0; n],
        heard: vec![0; n],
        delivered: 0,
        stopping: false,
        errors: Vec::new(),
    };
    room.run(&mut phase, Instant::now() + sizes.sigterm_load)?;
    if !phase.errors.is_empty() {
        return Err(format!("load: {}", phase.errors.join("; ")));
    }
    if phase.delivered == 0 {
        return Err("load: nothing was delivered".into());
    }
    let pid = rustix::process::Pid::from_raw(server.pid() as i32).ok_or("no pid")?;
    let signalled = Instant::now();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM)
        .map_err(|e| format!("SIGTERM: {e}"))?;
    let limit = signalled + sizes.exit_limit;
    loop {
        if let Ok(Some(_)) = server.child.try_wait() {
            return Ok(Some(signalled.elapsed().as_secs_f64() * 1e3));
        }
        if Instant::now() >= limit {
            return Ok(None);
        }
        // Keep the load on while the server shuts down.
        let slice = Instant::now() + Duration::from_millis(1);
        room.run(&mut phase, slice)?;
        phase.stopping = room.users.iter().all(|u| !u.open);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A round's payload is the round and sender, padded to the line size.
    #[test]
    fn payloads() {
        let r = Rounds {
            n: 2,
            total: 1,
            round: 7,
            relayed: vec![Vec::new(); 2],
            heard: vec![0; 4],
            in_round: 0,
            delivered: 0,
            errors: Vec::new(),
            line_len: 64,
            started: false,
        };
        let p = r.payload(1);
        assert_eq!(p.len(), 64);
        assert!(p.starts_with("r000007 u001 ppp"), "{p}");
    }
}
