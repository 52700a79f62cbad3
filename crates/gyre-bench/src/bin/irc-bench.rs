//! `irc-bench`: lines per second parsed and dispatched by gyre-irc, beside
//! Twisted's `IRCClient` fed the same bytes, reported as a ratio.
//!
//! ```text
//! cargo run --release -p gyre-bench --bin irc-bench [-- --lines N --rounds R]
//! ```
//!
//! Two inputs of N realistic PRIVMSG lines (default 1,000,000): plain
//! (`:nick!user@host PRIVMSG #channel :text`, nicks, hosts and texts
//! varying, one in 20 a CTCP ACTION), and the same lines with IRCv3 tags
//! (`@time=…;msgid=…;account=…`). Each is fed as 64 KiB chunks to a client
//! protocol over a `StringTransport` (no sockets: the framing, decoding,
//! parsing and dispatch only) whose handler counts the messages and the
//! length of their texts as each language has it at hand (bytes for a
//! Rust `&str`, characters for a Python `str`); Twisted's run
//! (`twisted_irc.py`, the venv's Python) does the same in `privmsg`. Both
//! counts must equal what the generator wrote into the input, else the
//! run fails.
//!
//! Twisted does not know IRCv3 tags: it takes `@time=…` for the command
//! and hands the line to its no-op `irc_unknown`, so on the tagged input
//! it delivers no message at all (checked) while gyre-irc parses the tags
//! and delivers every one. The tagged ratio compares gyre's whole job with
//! Twisted's smaller one; the last column compares it with Twisted's rate
//! on the plain input, where both do the same job.
//!
//! Time is CPU time of the feeding loop. R rounds (default 5) alternate
//! the sides, one run each (Twisted's in a fresh process), so that both
//! are sampled over the same stretch of time; each side's best round
//! counts. The Python is `$GYRE_TWISTED_PYTHON`, else `<repo>/.venv/bin/python`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use gyre::Protocol;
use gyre::testing::{StringTransport, VirtualClock};
use gyre_irc::{Irc, IrcClient, IrcConfig, IrcHandler};

#[derive(Default)]
struct Count {
    messages: u64,
    bytes: u64,
}

impl IrcHandler for Count {
    fn privmsg(&mut self, _irc: &mut Irc, _user: &str, _channel: &str, message: &str) {
        self.messages += 1;
        // Bytes: the length a Rust string has at hand, as Python's
        // len() is the one a str has (characters). Both are checked
        // against what the input holds.
        self.bytes += message.len() as u64;
    }
    fn action(&mut self, _irc: &mut Irc, _user: &str, _channel: &str, _data: &str) {}
}

const WORDS: &[&str] = &[
    "hello",
    "there",
    "is",
    "anyone",
    "using",
    "the",
    "new",
    "release",
    "yes",
    "it",
    "works",
    "fine",
    "on",
    "my",
    "machine",
    "but",
    "tests",
    "fail",
    "sometimes",
    "café",
    "naïve",
    "ok",
    "lol",
    "thanks",
];

/// What the input holds, counted as it is written: the PRIVMSGs that are
/// not ACTIONs, and their texts' bytes and characters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Expected {
    messages: u64,
    bytes: u64,
    chars: u64,
}

fn lines(n: usize, tagged: bool) -> (Vec<u8>, Expected) {
    let mut expected = Expected::default();
    let mut out = String::with_capacity(n * 110);
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..n {
        if tagged {
            let _ = write!(
                out,
                "@time=2026-12-07T11:{:02}:{:02}.{:03}Z;msgid=m{:x};account=acct{} ",
                (i / 60) % 60,
                i % 60,
                i % 1000,
                next() & 0xffff_ffff,
                next() % 500
            );
        }
        let nick = next() % 500;
        let _ = write!(
            out,
            ":user{nick}!~u{nick}@host-{}.example.net PRIVMSG #chan{} :",
            next() % 9000,
            next() % 5
        );
        let words = 3 + next() % 14;
        let action = i % 20 == 0;
        if action {
            out.push_str("\x01ACTION ");
        }
        let text_start = out.len();
        for w in 0..words {
            if w > 0 {
                out.push(' ');
            }
            out.push_str(WORDS[(next() % WORDS.len() as u64) as usize]);
        }
        if action {
            out.push('\x01');
        } else {
            let text = &out[text_start..];
            expected.messages += 1;
            expected.bytes += text.len() as u64;
            expected.chars += text.chars().count() as u64;
        }
        out.push_str("\r\n");
    }
    (out.into_bytes(), expected)
}

fn cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn run_gyre(data: &[u8]) -> (u64, u64, Duration) {
    let mut client = IrcClient::protocol(
        IrcConfig::with_nickname("bench"),
        Count::default(),
        VirtualClock::new(),
    );
    let wire = StringTransport::new();
    wire.make_connection(&mut client);
    let start = cpu_time();
    for chunk in data.chunks(65536) {
        client.data_received(&wire.transport(), chunk);
    }
    let elapsed = cpu_time() - start;
    let h = client.handler().handler();
    (h.messages, h.bytes, elapsed)
}

/// The framing alone: the same bytes through a `LineProtocol` whose
/// handler only counts lines (what parsing and dispatch add to it).
fn run_framing(data: &[u8]) -> Duration {
    struct Lines(u64);
    impl gyre::protocols::LineReceiver for Lines {
        fn line_received(&mut self, _conn: &gyre::protocols::LineConnection<'_>, _line: &[u8]) {
            self.0 += 1;
        }
        fn delimiter(&self) -> &[u8] {
            b"\n"
        }
    }
    let mut p = gyre::protocols::LineProtocol::new(Lines(0));
    let wire = StringTransport::new();
    wire.make_connection(&mut p);
    let start = cpu_time();
    for chunk in data.chunks(65536) {
        p.data_received(&wire.transport(), chunk);
    }
    cpu_time() - start
}

fn run_twisted(python: &Path, script: &Path, file: &Path) -> (u64, u64, Duration) {
    let out = Command::new(python)
        .arg(script)
        .arg(file)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "twisted_irc.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let f: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(f.len(), 3, "unexpected output {text:?}");
    (
        f[0].parse().expect("count"),
        f[1].parse().expect("chars"),
        Duration::from_secs_f64(f[2].parse().expect("secs")),
    )
}

fn main() {
    let mut n = 1_000_000usize;
    let mut rounds = 5usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--lines" => n = args.next().and_then(|v| v.parse().ok()).expect("--lines N"),
            "--rounds" => {
                rounds = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&r| r > 0)
                    .expect("--rounds N (at least 1)")
            }
            other => {
                eprintln!("usage: irc-bench [--lines N] [--rounds R] (not {other:?})");
                std::process::exit(64);
            }
        }
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var_os("GYRE_TWISTED_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../../.venv/bin/python"));
    let script = manifest.join("twisted_irc.py");
    println!(
        "{:<8} {:>10} {:>14} {:>14} {:>8} {:>10}",
        "input", "lines", "gyre lines/s", "twisted l/s", "ratio", "vs plain"
    );
    let mut twisted_plain = None;
    for tagged in [false, true] {
        let (data, expected) = lines(n, tagged);
        let file = std::env::temp_dir().join(format!(
            "gyre-irc-bench-{}-{tagged}.txt",
            std::process::id()
        ));
        std::fs::write(&file, &data).expect("temp file");
        if std::env::var_os("IRC_BENCH_PROFILE").is_some() {
            // For a profiler: gyre only, many times over.
            for _ in 0..20 {
                run_gyre(&data);
            }
            continue;
        }
        // Rounds alternate the two sides, so that both are sampled over
        // the same stretch of time (a shared machine has slow and fast
        // spells lasting seconds); each side's best round counts.
        let (mut best, mut twisted_best) = (Duration::MAX, Duration::MAX);
        let (mut counted, mut twisted_counted) = ((0, 0), (0, 0));
        for _ in 0..rounds {
            let (m, c, t) = run_gyre(&data);
            if std::env::var_os("IRC_BENCH_RUNS").is_some() {
                eprintln!("run: {:.0} lines/s", n as f64 / t.as_secs_f64());
            }
            counted = (m, c);
            best = best.min(t);
            let (tm, tc, tt) = run_twisted(&python, &script, &file);
            twisted_counted = (tm, tc);
            twisted_best = twisted_best.min(tt);
        }
        if std::env::var_os("IRC_BENCH_FRAMING").is_some() {
            let f = run_framing(&data);
            eprintln!("framing alone: {:.0} lines/s", n as f64 / f.as_secs_f64());
        }
        let ((tm, tc), tt) = (twisted_counted, twisted_best);
        let _ = std::fs::remove_file(&file);
        assert_eq!(
            counted,
            (expected.messages, expected.bytes),
            "gyre-irc did not deliver what the input holds"
        );
        if tagged {
            assert_eq!((tm, tc), (0, 0), "Twisted does not parse tags");
        } else {
            assert_eq!(
                (tm, tc),
                (expected.messages, expected.chars),
                "Twisted did not deliver what the input holds"
            );
        }
        let g = n as f64 / best.as_secs_f64();
        let t = n as f64 / tt.as_secs_f64();
        let name = if tagged { "tags" } else { "plain" };
        let plain = *twisted_plain.get_or_insert(t);
        println!(
            "{name:<8} {n:>10} {g:>14.0} {t:>14.0} {:>7.1}x {:>9.1}x",
            g / t,
            g / plain
        );
    }
}
