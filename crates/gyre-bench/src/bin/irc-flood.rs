//! `irc-flood`: the log bot's CPU per logged message against a live IRC
//! channel flood, `gyre logbot` beside the seed's bot on Twisted, reported
//! as a ratio.
//!
//! ```text
//! cargo build --release -p gyre-cli -p gyre-bench
//! cargo run --release -p gyre-bench --bin irc-flood [-- --messages N --window W]
//! ```
//!
//! A real `ngircd` runs on 127.0.0.1 (the file the gyre-irc tests use,
//! penalties off). For each bot in turn: the bot (`gyre logbot`, the binary
//! beside this one, or `twisted_logbot.py` on the venv's Python) joins
//! `#flood`; a flooding client written here joins too and says N lines
//! (default 100,000) as fast as the bot keeps up, with at most W (default
//! 1,000, about 100 KiB) said and not yet in the bot's log file: enough to
//! keep ngircd relaying without pause (with a few hundred, ngircd's own
//! loop sets the pace and a faster bot waits on it), few enough that
//! ngircd's queue towards a slower bot never overflows. R rounds (default
//! 3) alternate the bots; the medians are compared. The
//! bot's CPU time (all its threads, to the nanosecond: `schedstat`) from
//! the first line
//! said to the last line logged, divided by N, is its CPU per logged
//! message. Every line of both log files is checked: the N lines, in
//! order, in the format of reference 10.7. A bot that falls silent for
//! 30 s fails the run.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use gyre_bench::procfs::cpu_seconds_precise as cpu_seconds;

// The gyre-irc tests' server; this benchmark never restarts it.
#[path = "../../../gyre-irc/tests/common/ngircd.rs"]
#[allow(dead_code)]
mod ngircd;

const CHANNEL: &str = "flood";

struct Args {
    messages: usize,
    window: usize,
    rounds: usize,
    bots: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        messages: 100_000,
        window: 1000,
        rounds: 3,
        bots: vec!["gyre".into(), "twisted".into()],
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--messages" => {
                args.messages = value("--messages")?
                    .parse()
                    .map_err(|e| format!("--messages: {e}"))?
            }
            "--window" => {
                args.window = value("--window")?
                    .parse()
                    .map_err(|e| format!("--window: {e}"))?
            }
            "--rounds" => {
                args.rounds = value("--rounds")?
                    .parse()
                    .map_err(|e| format!("--rounds: {e}"))?
            }
            "--quick" => {
                args.messages = 5_000;
                args.rounds = 1;
            }
            "--bots" => args.bots = value("--bots")?.split(',').map(String::from).collect(),
            other => {
                return Err(format!(
                    "usage: irc-flood [--messages N] [--window W] [--rounds R] [--quick] [--bots gyre,twisted] (not {other:?})"
                ));
            }
        }
    }
    if args.window == 0 || args.messages == 0 || args.rounds == 0 {
        return Err("--messages, --window and --rounds must be at least 1".into());
    }
    Ok(args)
}

/// The bot's process, killed when dropped.
struct Bot(Child);

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_bot(which: &str, port: u16, log: &Path, nick: &str) -> Result<Bot, String> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cmd = match which {
        "gyre" => {
            let gyre = std::env::current_exe()
                .ok()
                .and_then(|e| e.parent().map(|d| d.join("gyre")))
                .filter(|p| p.exists())
                .ok_or(
                    "the gyre binary is not beside irc-flood: cargo build --release -p gyre-cli",
                )?;
            let mut c = Command::new(gyre);
            c.arg("logbot")
                .arg("--server")
                .arg(format!("tcp:127.0.0.1:{port}"))
                .args(["--channel", CHANNEL, "--nick", nick, "--file"])
                .arg(log);
            c
        }
        "twisted" => {
            let python = std::env::var_os("GYRE_TWISTED_PYTHON")
                .map(PathBuf::from)
                .unwrap_or_else(|| manifest.join("../../.venv/bin/python"));
            if !python.exists() {
                return Err(format!(
                    "no Twisted venv at {} (scripts/setup-twisted-venv makes it)",
                    python.display()
                ));
            }
            let mut c = Command::new(python);
            c.arg(manifest.join("twisted_logbot.py"))
                .arg("127.0.0.1")
                .arg(port.to_string())
                .arg(CHANNEL)
                .arg(log)
                .arg(nick);
            c
        }
        other => return Err(format!("unknown bot {other:?} (gyre or twisted)")),
    };
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("starting the {which} bot: {e}"))?;
    Ok(Bot(child))
}

/// Reads a growing log file and counts its complete lines, keeping them.
struct Tail {
    file: std::fs::File,
    partial: Vec<u8>,
    lines: Vec<String>,
}

impl Tail {
    fn open(path: &Path, within: Duration) -> Result<Tail, String> {
        let until = Instant::now() + within;
        loop {
            match std::fs::File::open(path) {
                Ok(file) => {
                    return Ok(Tail {
                        file,
                        partial: Vec::new(),
                        lines: Vec::new(),
                    });
                }
                Err(_) if Instant::now() < until => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(format!("{}: {e}", path.display())),
            }
        }
    }

    /// Reads what was appended; returns how many lines it completed.
    fn poll(&mut self) -> Result<usize, String> {
        let mut buf = [0u8; 64 * 1024];
        let before = self.lines.len();
        loop {
            let n = self.file.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            self.partial.extend_from_slice(&buf[..n]);
        }
        let mut start = 0;
        while let Some(i) = self.partial[start..].iter().position(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(&self.partial[start..start + i]).into_owned();
            self.lines.push(line);
            start += i + 1;
        }
        self.partial.drain(..start);
        Ok(self.lines.len() - before)
    }

    /// Polls until a line satisfying `want` has been read.
    fn wait_for(&mut self, within: Duration, want: impl Fn(&str) -> bool) -> Result<(), String> {
        let until = Instant::now() + within;
        loop {
            self.poll()?;
            if self.lines.iter().any(|l| want(l)) {
                return Ok(());
            }
            if Instant::now() > until {
                return Err(format!("waited {within:?}; the log holds {:?}", self.lines));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The flooding client: registered and in the channel.
fn flooder(port: u16, nick: &str) -> Result<TcpStream, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("flooder: {e}"))?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(s, "NICK {nick}\r\nUSER {nick} 0 * :flood\r\n").map_err(|e| e.to_string())?;
    let mut r = BufReader::new(s.try_clone().map_err(|e| e.to_string())?);
    let mut joined = false;
    let mut line = String::new();
    while !joined {
        line.clear();
        if r.read_line(&mut line)
            .map_err(|e| format!("flooder reads: {e}"))?
            == 0
        {
            return Err("ngircd closed the flooder's connection".into());
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["PING", token, ..] => write!(s, "PONG {token}\r\n").map_err(|e| e.to_string())?,
            [_, "001", ..] => write!(s, "JOIN #{CHANNEL}\r\n").map_err(|e| e.to_string())?,
            [who, "JOIN", ..] if who.starts_with(&format!(":{nick}!")) => joined = true,
            _ => {}
        }
    }
    Ok(s)
}

fn text(i: usize) -> String {
    format!("flood line {i:07} the quick brown fox jumps over the lazy dog")
}

struct Outcome {
    cpu: f64,
    wall: Duration,
}

fn run_bot(
    which: &str,
    round: usize,
    server: &ngircd::Ngircd,
    args: &Args,
) -> Result<Outcome, String> {
    let log = server.dir.join(format!("{which}-{round}.log"));
    let _ = std::fs::remove_file(&log);
    let bot_nick = format!("{which}bot");
    let bot = start_bot(which, server.port, &log, &bot_nick)?;
    let pid = bot.0.id();
    let mut tail = Tail::open(&log, Duration::from_secs(20))?;
    let joined = format!("[I have joined #{CHANNEL}]");
    tail.wait_for(Duration::from_secs(20), |l| l.ends_with(&joined))?;
    let nick = format!("fl{which}{round}");
    let mut s = flooder(server.port, &nick)?;
    let header = tail.lines.len();

    let cpu0 = cpu_seconds(pid).map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    let (mut said, mut logged) = (0usize, 0usize);
    let mut out = Vec::new();
    let mut last_progress = Instant::now();
    while logged < args.messages {
        out.clear();
        while said < args.messages && said - logged < args.window {
            out.extend_from_slice(format!("PRIVMSG #{CHANNEL} :{}\r\n", text(said)).as_bytes());
            said += 1;
        }
        if !out.is_empty() {
            s.write_all(&out)
                .map_err(|e| format!("flooder writes: {e}"))?;
        }
        let new = tail.poll()?;
        logged += new;
        if new > 0 {
            last_progress = Instant::now();
        } else if last_progress.elapsed() > Duration::from_secs(30) {
            return Err(format!(
                "the {which} bot logged {logged} of {said} lines said, then nothing for 30 s"
            ));
        } else {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    let wall = t0.elapsed();
    let cpu = cpu_seconds(pid).map_err(|e| e.to_string())? - cpu0;
    drop(bot);
    drop(s);

    // Every line said, in order, in the log's format.
    let body = &tail.lines[header..];
    if body.len() != args.messages {
        return Err(format!(
            "{which}: {} lines logged, {} said",
            body.len(),
            args.messages
        ));
    }
    for (i, line) in body.iter().enumerate() {
        let want = format!("<{nick}> {}", text(i));
        let ok = line.len() == 11 + want.len()
            && line.as_bytes()[0] == b'['
            && line.as_bytes()[9] == b']'
            && line[11..] == want;
        if !ok {
            return Err(format!(
                "{which}: log line {i} is {line:?}, not \"[HH:MM:SS] {want}\""
            ));
        }
    }
    Ok(Outcome { cpu, wall })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(64);
        }
    };
    let server = ngircd::Ngircd::start();
    println!(
        "{:<8} {:>5} {:>9} {:>8} {:>10} {:>12}",
        "bot", "round", "messages", "wall s", "msgs/s", "CPU us/msg"
    );
    let mut per_message: Vec<(String, Vec<f64>)> =
        args.bots.iter().map(|b| (b.clone(), Vec::new())).collect();
    for round in 1..=args.rounds {
        for (which, figures) in &mut per_message {
            match run_bot(which, round, &server, &args) {
                Ok(o) => {
                    let us = o.cpu * 1e6 / args.messages as f64;
                    println!(
                        "{:<8} {:>5} {:>9} {:>8.2} {:>10.0} {:>12.2}",
                        which,
                        round,
                        args.messages,
                        o.wall.as_secs_f64(),
                        args.messages as f64 / o.wall.as_secs_f64(),
                        us
                    );
                    figures.push(us);
                }
                Err(e) => {
                    eprintln!("irc-flood: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    for (which, figures) in &per_message {
        println!(
            "{which}: median CPU per logged message {:.2} us",
            median(figures)
        );
    }
    if let [(a, fa), (b, fb)] = per_message.as_slice() {
        println!(
            "CPU per logged message, {b}/{a} (medians): {:.1}x",
            median(fb) / median(fa)
        );
    }
    ExitCode::SUCCESS
}
