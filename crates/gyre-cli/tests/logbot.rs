//! `gyre logbot`: a first connection that fails is one line and exit 69;
//! against a real `ngircd`, over TCP and over TLS (`tls:` endpoint, the
//! server's certificate made at test time and trusted through
//! `trustRoots`), the bot joins, answers, logs, and exits 0 on SIGINT with
//! its `[disconnected at …]` line written. Bounded: every read has a
//! timeout, every child is killed at the end.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process};

// The gyre-irc tests' ngircd (a configuration in a temporary directory, a
// free port, TLS when given a certificate), and the TLS tests' kit.
#[path = "../../gyre-irc/tests/common/ngircd.rs"]
#[allow(dead_code)]
mod server;
#[path = "../../gyre/tests/tls_kit/mod.rs"]
mod tls_kit;

use server::Ngircd;

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gyre-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // ngircd drops root for `nobody`: let it write its pid file.
    let _ = Command::new("chmod").arg("777").arg(&dir).status();
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .port()
}

#[test]
fn first_connection_refused_is_one_line_and_exit_69() {
    let dir = temp_dir("refused");
    let file = dir.join("bot.log");
    let out = Command::new(env!("CARGO_BIN_EXE_gyre"))
        .args([
            "logbot",
            "--server",
            &format!("tcp:127.0.0.1:{}", free_port()),
            "--channel",
            "test",
            "--file",
        ])
        .arg(&file)
        .output()
        .expect("gyre runs");
    assert_eq!(out.status.code(), Some(69));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or("");
    assert_eq!(
        last,
        "gyre: connection failed: Connection was refused by other side: 111: Connection refused."
    );
    assert!(!file.exists(), "no connection, no log file");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A blocking IRC peer that reads until a line contains `needle`.
struct Peer {
    out: TcpStream,
    lines: mpsc::Receiver<String>,
}

impl Peer {
    fn connect(port: u16, nick: &str) -> Peer {
        let out = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let reader = BufReader::new(out.try_clone().expect("clone"));
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in reader.lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut peer = Peer { out, lines };
        peer.send(&format!("NICK {nick}\r\nUSER {nick} x y :peer\r\n"));
        peer.wait_for(" 001 ");
        peer
    }

    fn send(&mut self, text: &str) {
        self.out.write_all(text.as_bytes()).expect("send");
    }

    fn wait_for(&mut self, needle: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(15))
                .unwrap_or_else(|_| panic!("no line with {needle:?}"));
            if line.starts_with("PING") {
                let pong = line.replacen("PING", "PONG", 1);
                self.send(&format!("{pong}\r\n"));
            }
            if line.contains(needle) {
                return line;
            }
        }
    }
}

/// Runs `gyre logbot` against `server` through `endpoint` as `logbot` in
/// `#test`, with a peer that addresses it; checks the reply, the exit on
/// SIGINT and the whole log.
fn bot_session(server: &Ngircd, endpoint: &str) {
    let mut peer = Peer::connect(server.port, "peer");
    peer.send("JOIN #test\r\n");
    peer.wait_for(" 366 ");
    let file = server.dir.join("bot.log");
    // SIGINT at its default (the test may run with it ignored, as under
    // CI, and gyre, like Twisted, leaves an ignored SIGINT ignored).
    let bot = Command::new("env")
        .arg("--default-signal=INT")
        .arg(env!("CARGO_BIN_EXE_gyre"))
        .args([
            "logbot",
            "--server",
            endpoint,
            "--channel",
            "test",
            "--nick",
            "logbot",
            "--file",
        ])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gyre runs");
    let mut bot = Killed(bot);
    peer.wait_for(":logbot!");
    peer.send("PRIVMSG #test :logbot: hi\r\n");
    let reply = peer.wait_for("I am a log bot");
    assert!(
        reply.ends_with("PRIVMSG #test :peer: I am a log bot"),
        "{reply}"
    );
    kill_process(Pid::from_child(&bot.0), Signal::INT).expect("SIGINT");
    let status = bot.0.wait().expect("gyre exits");
    assert_eq!(status.code(), Some(0));
    let log = std::fs::read_to_string(&file).expect("log");
    let lines: Vec<&str> = log.lines().map(|l| l.get(11..).unwrap_or(l)).collect();
    assert!(lines[0].starts_with("[connected at "), "{log}");
    assert_eq!(
        lines[1..3],
        ["[I have joined #test]", "<peer> logbot: hi"],
        "{log}"
    );
    assert_eq!(lines[3], "<logbot> peer: I am a log bot", "{log}");
    assert!(lines[4].starts_with("[disconnected at "), "{log}");
    assert_eq!(lines.len(), 5, "{log}");
}

#[test]
fn bot_joins_answers_and_logs_against_ngircd() {
    let server = Ngircd::start();
    bot_session(&server, &format!("tcp:127.0.0.1:{}", server.port));
}

/// The same session with the bot on ngircd's TLS port: `tls:` endpoint,
/// certificate verified against the test's CA (and nothing else).
#[test]
fn bot_over_tls_against_ngircd() {
    let dir = temp_dir("ngircd-tls");
    let ca = tls_kit::Ca::new("gyre logbot test CA");
    let (cert, key, _both) = ca.leaf(&["localhost"]).write(&dir, "irc");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).expect("CA file");
    let server = Ngircd::start_tls(&cert, &key);
    let tls_port = server.tls_port.expect("a TLS port");
    bot_session(
        &server,
        &format!(
            "tls:host=localhost:port={tls_port}:trustRoots={}",
            ca_file.display()
        ),
    );
    let _ = std::fs::remove_dir_all(&dir);
}
