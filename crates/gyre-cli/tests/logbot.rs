//! `gyre logbot`: a first connection that fails is one line and exit 69;
//! against a real `ngircd` the bot joins, answers, logs, and exits 0 on
//! SIGINT with its `[disconnected at …]` line written. Bounded: every read
//! has a timeout, every child is killed at the end.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process};

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

/// ngircd on 127.0.0.1:`port`, ready.
fn ngircd(dir: &Path, port: u16) -> Killed {
    let bin = ["/usr/sbin/ngircd", "/usr/bin/ngircd"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("ngircd is missing: apt-get install ngircd (scripts/test-all installs it)");
    let conf = dir.join("ngircd.conf");
    std::fs::write(
        &conf,
        format!(
            "[Global]\nName = irc.gyre.test\nInfo = test\nListen = 127.0.0.1\nPorts = {port}\nPidFile = {}/pid\n\
             MotdPhrase = hi\nAdminInfo1 = a\nAdminInfo2 = b\nAdminEMail = c@example.invalid\n\
             [Limits]\nMaxNickLength = 30\n[Options]\nPAM = no\nIdent = no\nDNS = no\n",
            dir.display()
        ),
    )
    .expect("config");
    let mut child = Command::new(bin)
        .args(["-n", "-f"])
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ngircd starts");
    let (tx, rx) = mpsc::channel();
    let outputs: [Box<dyn std::io::Read + Send>; 2] = [
        Box::new(child.stdout.take().expect("stdout")),
        Box::new(child.stderr.take().expect("stderr")),
    ];
    for out in outputs {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    loop {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(line) if line.contains("ready.") => return Killed(child),
            Ok(_) => {}
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("ngircd did not become ready");
            }
        }
    }
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

#[test]
fn bot_joins_answers_and_logs_against_ngircd() {
    let dir = temp_dir("ngircd");
    let port = free_port();
    let _server = ngircd(&dir, port);
    let mut peer = Peer::connect(port, "peer");
    peer.send("JOIN #test\r\n");
    peer.wait_for(" 366 ");
    let file = dir.join("bot.log");
    // SIGINT at its default (the test may run with it ignored, as under
    // CI, and gyre, like Twisted, leaves an ignored SIGINT ignored).
    let bot = Command::new("env")
        .arg("--default-signal=INT")
        .arg(env!("CARGO_BIN_EXE_gyre"))
        .args([
            "logbot",
            "--server",
            &format!("tcp:127.0.0.1:{port}"),
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
    let _ = std::fs::remove_dir_all(&dir);
}
