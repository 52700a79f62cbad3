//! `gyre::log`'s output against Twisted's and the C library's.
//!
//! * Zones: for a dozen `TZ` values (zone names, POSIX rules, a file path,
//!   the empty value), [`TimeZone::from_tz`] must give the offset that
//!   Python's `time.localtime(t).tm_gmtoff` (the C library) gives, for
//!   instants every few days from 1900 to 2040 and around two known
//!   changes.
//! * The logger: `tests/interop/twisted_logging.py` runs a small program
//!   under `log.startLogging(sys.stdout)`; this binary runs the same
//!   program on gyre in a child process (the logger is process-wide) with
//!   `start_logging(std::io::stdout())`. The lines must match once the
//!   port number, object addresses and module paths are set aside, and the
//!   timestamps must carry the same offset, in UTC, India (+0530) and New
//!   York (-0500 or -0400).
//!
//! The logger is installed once per process, so this test has its own
//! `main` (`harness = false` in Cargo.toml): run with `--child`, it is the
//! gyre side of the program; otherwise it runs the checks and exits
//! non-zero on the first failure, saying which.

#[path = "interop/python.rs"]
mod python;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use gyre::log::{CivilTime, TimeZone, unix_seconds};
use gyre::{Address, Factory, Protocol, Reactor, TcpListenOptions, Transport};

/// How long one child (Python or gyre) may run.
const LIMIT: Duration = Duration::from_secs(60);

fn main() {
    if std::env::args().any(|a| a == "--child") {
        child();
        return;
    }
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let checks: [(&str, fn()); 2] = [
        (
            "zones_agree_with_the_c_library",
            zones_agree_with_the_c_library,
        ),
        (
            "lines_match_twisted_in_three_zones",
            lines_match_twisted_in_three_zones,
        ),
    ];
    let mut ran = 0;
    for (name, check) in checks {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        println!("test {name} ...");
        check();
        println!("test {name} ... ok");
        ran += 1;
    }
    println!("logging: {ran} checks passed");
}

// ---------------------------------------------------------------------------
// Zones

/// `TZ` values, each as the C library would read it from the environment.
const ZONES: &[&str] = &[
    "UTC",
    "",
    "Asia/Kolkata",
    "America/New_York",
    "Europe/London",
    "Australia/Sydney",
    "America/St_Johns",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    ":Europe/Berlin",
    "/usr/share/zoneinfo/America/Sao_Paulo",
    "EST5EDT,M3.2.0,M11.1.0",
    "<+0530>-5:30",
    "AEST-10AEDT,M10.1.0,M4.1.0/3",
];

fn zones_agree_with_the_c_library() {
    assert!(
        Path::new("/usr/share/zoneinfo/America/New_York").exists(),
        "the zone database is missing: install tzdata (scripts/test-all does)"
    );
    // 1900-01-01 to 2040, every 9 days 7 hours 13 minutes (so the time of
    // day drifts), and a minute around New York's changes of 2026.
    let mut instants: Vec<i64> = (-2_208_988_800i64..2_208_988_800)
        .step_by(803_580)
        .collect();
    for change in [1_772_953_200i64, 1_793_512_800] {
        instants.extend(change - 60..change + 60);
    }
    let input: String = instants.iter().map(|t| format!("{t}\n")).collect();
    let script = "import sys, time\n\
                  for line in sys.stdin:\n    \
                      print(time.localtime(int(line)).tm_gmtoff)\n";
    for &value in ZONES {
        let mut python = Command::new(python::twisted_python());
        python.args(["-c", script]).env("TZ", value);
        let out = python::output_within(python, input.as_bytes(), LIMIT);
        let expected: Vec<i32> = out.lines().map(|l| l.parse().expect("an offset")).collect();
        assert_eq!(
            expected.len(),
            instants.len(),
            "TZ={value:?}: one offset per instant"
        );
        let zone = TimeZone::from_tz(value);
        let wrong: Vec<String> = instants
            .iter()
            .zip(&expected)
            .filter(|&(&t, &want)| zone.utc_offset(t) != want)
            .take(5)
            .map(|(&t, &want)| format!("t={t}: C library {want}, gyre {}", zone.utc_offset(t)))
            .collect();
        assert!(wrong.is_empty(), "TZ={value:?}: {}", wrong.join("; "));
    }
}

// ---------------------------------------------------------------------------
// The logger

struct Echo;

impl Protocol for Echo {
    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        transport.write(data);
    }
}

struct EchoFactory;

impl Factory for EchoFactory {
    type Protocol = Echo;
    fn build_protocol(&self, _: &Address) -> Option<Echo> {
        Some(Echo)
    }
}

/// The gyre side of `twisted_logging.py`.
fn child() {
    gyre::log::start_logging(std::io::stdout()).expect("the only logger");
    let reactor = Reactor::new().expect("a reactor");
    let loopback = TcpListenOptions {
        interface: "127.0.0.1".into(),
        ..Default::default()
    };
    let port = reactor
        .listen_tcp_with(0, EchoFactory, loopback)
        .expect("listen on loopback");
    log::info!("two\nlines");
    log::info!("ends with a newline\n");
    let r = reactor.clone();
    reactor.call_when_running(move || {
        port.stop_listening()
            .on_complete(move || r.stop().expect("running"));
    });
    reactor.run().expect("run");
}

fn lines_match_twisted_in_three_zones() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/twisted_logging.py");
    for tz in ["UTC", "Asia/Kolkata", "America/New_York"] {
        let mut twisted = Command::new(python::twisted_python());
        twisted.arg(&script).env("TZ", tz);
        let twisted = python::output_within(twisted, b"", LIMIT);
        let mut gyre = Command::new(std::env::current_exe().expect("this test's path"));
        gyre.arg("--child").env("TZ", tz);
        let gyre = python::output_within(gyre, b"", LIMIT);

        let (theirs, ours) = (split(&twisted), split(&gyre));
        assert_eq!(
            ours.iter()
                .map(|(_, text)| text.clone())
                .collect::<Vec<_>>(),
            theirs
                .iter()
                .map(|(_, text)| text.clone())
                .collect::<Vec<_>>(),
            "TZ={tz}: the lines differ\n--- Twisted:\n{twisted}--- gyre:\n{gyre}"
        );
        // Same offset on every line, and the one the C library gives now.
        let now = unix_seconds(std::time::SystemTime::now());
        let offset = TimeZone::from_tz(tz).utc_offset(now);
        let expected = &CivilTime::from_unix_at(now, offset).log_stamp()[19..];
        for (stamp, text) in ours.iter().chain(&theirs) {
            let Some(stamp) = stamp else { continue };
            assert_eq!(&stamp[19..], expected, "TZ={tz}: offset of {stamp} {text}");
        }
    }
}

/// Each line as (its timestamp, if it has one; the rest, normalised).
/// Continuation lines (a tab first) have no timestamp.
fn split(output: &str) -> Vec<(Option<String>, String)> {
    output
        .lines()
        .map(|line| {
            if line.starts_with('\t') {
                return (None, line.to_string());
            }
            let stamp_ok = line.len() > 25
                && line.as_bytes()[..24]
                    .iter()
                    .enumerate()
                    .all(|(i, c)| match i {
                        4 | 7 => *c == b'-',
                        10 => *c == b' ',
                        13 | 16 => *c == b':',
                        19 => *c == b'+' || *c == b'-',
                        _ => c.is_ascii_digit(),
                    })
                && &line[24..26] == " [";
            assert!(stamp_ok, "not a log line: {line:?}");
            (Some(line[..24].to_string()), normalise(&line[25..]))
        })
        .collect()
}

/// Sets aside what differs by nature: port numbers, `0x…` addresses, the
/// module path of a factory's type.
fn normalise(text: &str) -> String {
    let mut s = text.to_string();
    for marker in ["starting on ", "(TCP Port "] {
        if let Some(at) = s.find(marker) {
            let start = at + marker.len();
            let len = s[start..]
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(s.len() - start);
            s.replace_range(start..start + len, "N");
        }
    }
    for marker in ["Starting factory <", "Stopping factory <"] {
        if let Some(at) = s.find(marker) {
            let start = at + marker.len();
            if let Some(len) = s[start..].find(" object at ") {
                let path = &s[start..start + len];
                let short = path.rsplit(['.', ':']).next().unwrap_or(path).to_string();
                let end = s[start..].find('>').map_or(s.len(), |e| start + e);
                s.replace_range(start..end, &short);
            }
        }
    }
    s
}
