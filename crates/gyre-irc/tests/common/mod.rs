//! Shared by the transcript tests: a recording handler, the script
//! runner for gyre-irc, and the same script run through Twisted's
//! `IRCClient` (tests/twisted_transcript.py) in the venv's Python.
//!
//! A script is one step per line, fields separated by tabs:
//! `config KEY VALUE` (Twisted attribute names), `connect`, `recv DATA`,
//! `call METHOD ARGS…` (Twisted method names; `~` is None, `#int:N` a
//! number), `advance SECONDS`. Texts use `\\`, `\xHH`, `\uHHHH` escapes.
//! The output: `E name|args…` for each callback, `W bytes` for what was
//! written during a step, `X text` for a refused call.
#![allow(dead_code, unreachable_pub, clippy::unit_arg)]

use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::Duration;

use gyre::Protocol;
use gyre::testing::{StringTransport, VirtualClock};
use gyre_irc::{Irc, IrcClient, IrcConfig, IrcHandler, IrcProtocol};

pub fn esc(s: &str) -> String {
    let mut r = String::new();
    for c in s.chars() {
        let o = c as u32;
        if c == '\\' {
            r.push_str("\\\\");
        } else if (0x20..0x7f).contains(&o) {
            r.push(c);
        } else if o < 0x100 {
            r.push_str(&format!("\\x{o:02x}"));
        } else {
            r.push_str(&format!("\\u{o:04x}"));
        }
    }
    r
}

pub fn esc_bytes(b: &[u8]) -> String {
    esc(&b.iter().map(|&b| char::from(b)).collect::<String>())
}

pub fn unesc(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('x') => {
                let h: String = it.by_ref().take(2).collect();
                out.push(char::from(u8::from_str_radix(&h, 16).expect("hex")));
            }
            Some('u') => {
                let h: String = it.by_ref().take(4).collect();
                out.push(char::from_u32(u32::from_str_radix(&h, 16).expect("hex")).expect("char"));
            }
            other => panic!("bad escape {other:?}"),
        }
    }
    out
}

/// The bytes of an escaped text whose chars are all below 256.
pub fn unesc_bytes(s: &str) -> Vec<u8> {
    unesc(s)
        .chars()
        .map(|c| u8::try_from(u32::from(c)).expect("a byte"))
        .collect()
}

pub type Events = Rc<RefCell<Vec<String>>>;

pub struct Recorder(pub Events);

impl Recorder {
    fn e(&self, parts: &[&str]) {
        self.0
            .borrow_mut()
            .push(format!("E {}", esc(&parts.join("|"))));
    }
}

fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "None".into())
}

impl IrcHandler for Recorder {
    fn signed_on(&mut self, _: &mut Irc) {
        self.e(&["signedOn"])
    }
    fn joined(&mut self, _: &mut Irc, c: &str) {
        self.e(&["joined", c])
    }
    fn left(&mut self, _: &mut Irc, c: &str) {
        self.e(&["left", c])
    }
    fn privmsg(&mut self, _: &mut Irc, u: &str, c: &str, m: &str) {
        self.e(&["privmsg", u, c, m])
    }
    fn action(&mut self, _: &mut Irc, u: &str, c: &str, m: &str) {
        self.e(&["action", u, c, m])
    }
    fn noticed(&mut self, _: &mut Irc, u: &str, c: &str, m: &str) {
        self.e(&["noticed", u, c, m])
    }
    fn nick_changed(&mut self, _: &mut Irc, n: &str) {
        self.e(&["nickChanged", n])
    }
    fn user_renamed(&mut self, _: &mut Irc, o: &str, n: &str) {
        self.e(&["userRenamed", o, n])
    }
    fn user_joined(&mut self, _: &mut Irc, n: &str, c: &str) {
        self.e(&["userJoined", n, c])
    }
    fn user_left(&mut self, _: &mut Irc, n: &str, c: &str) {
        self.e(&["userLeft", n, c])
    }
    fn user_quit(&mut self, _: &mut Irc, n: &str, m: &str) {
        self.e(&["userQuit", n, m])
    }
    fn user_kicked(&mut self, _: &mut Irc, k: &str, c: &str, by: &str, m: &str) {
        self.e(&["userKicked", k, c, by, m])
    }
    fn kicked_from(&mut self, _: &mut Irc, c: &str, by: &str, m: &str) {
        self.e(&["kickedFrom", c, by, m])
    }
    fn topic_updated(&mut self, _: &mut Irc, u: &str, c: &str, t: &str) {
        self.e(&["topicUpdated", u, c, t])
    }
    fn mode_changed(
        &mut self,
        _: &mut Irc,
        u: &str,
        c: &str,
        set: bool,
        modes: &str,
        args: &[Option<String>],
    ) {
        let args: Vec<String> = args.iter().map(opt).collect();
        let set = if set { "True" } else { "False" };
        self.e(&["modeChanged", u, c, set, modes, &args.join(",")])
    }
    fn received_motd(&mut self, _: &mut Irc, motd: &[String]) {
        self.e(&["receivedMOTD", &motd.join(",")])
    }
    fn your_host(&mut self, _: &mut Irc, i: &str) {
        self.e(&["yourHost", i])
    }
    fn created(&mut self, _: &mut Irc, i: &str) {
        self.e(&["created", i])
    }
    fn my_info(&mut self, _: &mut Irc, info: [Option<&str>; 4]) {
        let i: Vec<String> = info
            .iter()
            .map(|s| s.unwrap_or("None").to_string())
            .collect();
        let i: Vec<&str> = i.iter().map(String::as_str).collect();
        self.e(&[&["myInfo"][..], &i].concat())
    }
    fn isupport(&mut self, _: &mut Irc, o: &[&str]) {
        self.e(&["isupport", &o.join(",")])
    }
    fn bounce(&mut self, _: &mut Irc, i: &str) {
        self.e(&["bounce", i])
    }
    fn luser_client(&mut self, _: &mut Irc, i: &str) {
        self.e(&["luserClient", i])
    }
    fn luser_op(&mut self, _: &mut Irc, n: i64) {
        self.e(&["luserOp", &n.to_string()])
    }
    fn luser_channels(&mut self, _: &mut Irc, n: i64) {
        self.e(&["luserChannels", &n.to_string()])
    }
    fn luser_me(&mut self, _: &mut Irc, i: &str) {
        self.e(&["luserMe", i])
    }
}

fn arg(a: &str) -> Option<String> {
    if a == "~" {
        None
    } else {
        Some(unesc(a.strip_prefix("#int:").unwrap_or(a)))
    }
}

/// Runs `script` through gyre-irc; returns the output lines.
pub fn run_gyre(script: &str) -> Vec<String> {
    let events = Events::default();
    let clock = VirtualClock::new();
    let mut config = IrcConfig::default();
    let transport = StringTransport::new();
    let mut proto: Option<IrcProtocol<Recorder>> = None;
    for line in script.lines().filter(|l| !l.is_empty()) {
        let step: Vec<&str> = line.split('\t').collect();
        match step[0] {
            "config" => {
                let v = arg(step[2]);
                match step[1] {
                    "nickname" => config.nickname = v.expect("a nick"),
                    "password" => config.password = v,
                    "realname" => config.realname = v,
                    "username" => config.username = v,
                    "versionName" => config.version_name = v,
                    "versionNum" => config.version_num = v,
                    "versionEnv" => config.version_env = v,
                    "userinfo" => config.userinfo = v,
                    "fingerReply" => config.finger_reply = v,
                    "sourceURL" => config.source_url = v,
                    other => panic!("unknown config {other}"),
                }
            }
            "connect" => {
                let mut p =
                    IrcClient::protocol(config.clone(), Recorder(events.clone()), clock.clone());
                transport.make_connection(&mut p);
                proto = Some(p);
            }
            "recv" => {
                let p = proto.as_mut().expect("connected");
                p.data_received(&transport.transport(), &unesc_bytes(step[1]));
            }
            "advance" => clock.advance(Duration::from_secs_f64(step[1].parse().expect("secs"))),
            "call" => {
                let p = proto.as_mut().expect("connected");
                let irc = p.handler_mut().irc_mut();
                let a: Vec<Option<String>> = step[2..].iter().map(|a| arg(a)).collect();
                let s = |i: usize| a.get(i).cloned().flatten();
                let n = |i: usize| s(i).map(|v| v.parse::<usize>().expect("int"));
                let r = match step[1] {
                    "msg" => irc.msg(&s(0).unwrap(), &s(1).unwrap(), n(2)),
                    "notice" => irc.notice(&s(0).unwrap(), &s(1).unwrap(), n(2)),
                    "say" => irc.say(&s(0).unwrap(), &s(1).unwrap(), n(2)),
                    "join" => Ok(irc.join(&s(0).unwrap(), s(1).as_deref())),
                    "leave" => Ok(irc.leave(&s(0).unwrap(), s(1).as_deref())),
                    "kick" => Ok(irc.kick(&s(0).unwrap(), &s(1).unwrap(), s(2).as_deref())),
                    "invite" => Ok(irc.invite(&s(0).unwrap(), &s(1).unwrap())),
                    "topic" => Ok(irc.topic(&s(0).unwrap(), s(1).as_deref())),
                    "mode" => Ok(irc.mode(
                        &s(0).unwrap(),
                        s(1).unwrap() != "0",
                        &s(2).unwrap(),
                        s(3).map(|v| v.parse().expect("int")),
                        s(4).as_deref(),
                        s(5).as_deref(),
                    )),
                    "away" => Ok(irc.away(&s(0).unwrap())),
                    "back" => Ok(irc.back()),
                    "whois" => Ok(irc.whois(&s(0).unwrap(), s(1).as_deref())),
                    "setNick" => Ok(irc.set_nick(&s(0).unwrap())),
                    "quit" => Ok(irc.quit(&s(0).unwrap())),
                    "describe" => Ok(irc.describe(&s(0).unwrap(), &s(1).unwrap())),
                    "ping" => Ok(irc.ping(&s(0).unwrap(), s(1).as_deref())),
                    other => panic!("unknown call {other}"),
                };
                if let Err(e) = r {
                    events
                        .borrow_mut()
                        .push(format!("X {}", esc(&e.to_string())));
                }
            }
            other => panic!("unknown step {other}"),
        }
        let v = transport.value();
        if !v.is_empty() {
            events.borrow_mut().push(format!("W {}", esc_bytes(&v)));
            transport.clear();
        }
    }
    events.borrow().clone()
}

/// The venv's Python: `$GYRE_TWISTED_PYTHON`, else `<repo>/.venv/bin/python`;
/// panics (never skips) when neither imports Twisted.
pub fn twisted_python() -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = std::env::var_os("GYRE_TWISTED_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([
            repo.join(".venv/bin/python"),
            PathBuf::from("/work/main/.venv/bin/python"),
        ]);
    for c in candidates {
        let ok = Command::new(&c)
            .args(["-c", "import twisted.words.protocols.irc"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return c;
        }
    }
    panic!("Twisted venv missing: run scripts/setup-twisted-venv (or set GYRE_TWISTED_PYTHON)");
}

/// Runs `script` through Twisted's IRCClient; returns the output lines.
pub fn run_twisted(script: &str) -> Vec<String> {
    let py = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/twisted_transcript.py");
    let mut child = Command::new(twisted_python())
        .arg(py)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("python finishes");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}
