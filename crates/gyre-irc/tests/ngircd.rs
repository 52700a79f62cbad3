//! End to end against a real IRC server: `ngircd` on 127.0.0.1, a free
//! port, a configuration written to a temporary directory.
//!
//! A peer (gyre-irc itself) takes the nick `twistedbot` first, so the log
//! bot becomes `twistedbot^`; the peer talks, addresses the bot, acts,
//! whispers and renames; the bot's answers and its log file are checked
//! exactly (times by their format). Then ngircd is restarted and the bot
//! must reconnect, rejoin and answer again under its own nick. Bounded: a watchdog stops the reactor after
//! 60 s and the test then fails; ngircd is killed when the test ends.
//!
//! Without ngircd (`/usr/sbin/ngircd`) the test fails, saying how to get
//! it (scripts/test-all installs it).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use gyre::Reactor;
use gyre::endpoint::{ClientEndpoint, TcpClientEndpoint, connect_protocol};
use gyre_irc::logbot::{LogBotOptions, LogBotRunner};
use gyre_irc::{Irc, IrcClient, IrcConfig, IrcHandler};

// Shared with the gyre-cli tests and irc-flood, which use more of it.
#[path = "common/ngircd.rs"]
#[allow(dead_code)]
mod server;
use server::Ngircd;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Waiting,
    Talking,
    Restarted,
    Done,
}

#[derive(Default)]
struct Heard {
    lines: Vec<String>,
}

struct World {
    reactor: Reactor,
    server: RefCell<Ngircd>,
    phase: RefCell<Phase>,
    heard: RefCell<Heard>,
    bot_rejoined: RefCell<bool>,
}

/// The peer before the restart: holds `twistedbot`, talks to the bot.
struct Peer(Rc<World>);

impl IrcHandler for Peer {
    fn signed_on(&mut self, irc: &mut Irc) {
        irc.join("test", None);
    }

    fn joined(&mut self, _irc: &mut Irc, _channel: &str) {
        // The channel is ours: now the bot may come.
        let w = &self.0;
        let endpoint: Rc<dyn ClientEndpoint> = Rc::new(TcpClientEndpoint::new(
            &w.reactor,
            "127.0.0.1",
            w.server.borrow().port,
        ));
        let path = w.server.borrow().dir.join("bot.log");
        let options = LogBotOptions {
            nickname: "twistedbot".into(),
            channel: "test".into(),
            path,
        };
        LogBotRunner::start(&w.reactor, endpoint, options);
    }

    fn user_joined(&mut self, irc: &mut Irc, nick: &str, channel: &str) {
        if nick != "twistedbot^" || channel != "#test" || *self.0.phase.borrow() != Phase::Waiting {
            return;
        }
        *self.0.phase.borrow_mut() = Phase::Talking;
        irc.say("test", "hello everyone", None).unwrap();
        irc.say("test", "twistedbot^: who are you?", None).unwrap();
        irc.describe("#test", "waves");
        irc.msg("twistedbot^", "psst", None).unwrap();
    }

    fn nick_changed(&mut self, irc: &mut Irc, nick: &str) {
        if nick == "alice2" {
            irc.say("test", "twistedbot^: bye", None).unwrap();
        }
    }

    fn privmsg(&mut self, irc: &mut Irc, user: &str, channel: &str, message: &str) {
        let line = format!(
            "{} -> {channel}: {message}",
            user.split('!').next().unwrap_or("")
        );
        self.0.heard.borrow_mut().lines.push(line);
        if message.starts_with("It isn't nice to whisper!") {
            // Renaming before the answer arrives would leave the bot
            // whispering back to a nick that is gone.
            irc.set_nick("alice2");
        }
        if message == "alice2: I am a log bot" {
            // Everything was said and the bot has seen it all: restart.
            *self.0.phase.borrow_mut() = Phase::Restarted;
            self.0.server.borrow_mut().restart();
            let w = self.0.clone();
            let endpoint = TcpClientEndpoint::new(&w.reactor, "127.0.0.1", w.server.borrow().port);
            let watcher = IrcClient::protocol(
                IrcConfig::with_nickname("watcher"),
                Watcher(w.clone()),
                w.reactor.clone(),
            );
            connect_protocol(&endpoint, watcher).consume(|_| {});
        }
    }
}

/// After the restart: waits for the bot to come back to #test, then asks
/// it a question, whose answer proves the bot has seen its own JOIN (it
/// comes before anything said in the channel on the bot's connection).
struct Watcher(Rc<World>);

impl Watcher {
    fn saw_bot(&self, irc: &mut Irc) {
        if *self.0.bot_rejoined.borrow() {
            return;
        }
        *self.0.bot_rejoined.borrow_mut() = true;
        irc.say("test", "twistedbot: are you back?", None).unwrap();
    }
}

impl IrcHandler for Watcher {
    fn signed_on(&mut self, irc: &mut Irc) {
        irc.join("test", None);
    }
    fn user_joined(&mut self, irc: &mut Irc, nick: &str, channel: &str) {
        if nick == "twistedbot" && channel == "#test" {
            self.saw_bot(irc);
        }
    }
    fn unknown(&mut self, irc: &mut Irc, _prefix: &str, command: &str, params: &[&str]) {
        // 353 RPL_NAMREPLY: the bot may have rejoined before us.
        if command == "353"
            && params.last().is_some_and(|names| {
                names
                    .split(' ')
                    .any(|n| n.trim_start_matches(['@', '+']) == "twistedbot")
            })
        {
            self.saw_bot(irc);
        }
    }
    fn privmsg(&mut self, _irc: &mut Irc, user: &str, channel: &str, message: &str) {
        let line = format!(
            "{} -> {channel}: {message}",
            user.split('!').next().unwrap_or("")
        );
        self.0.heard.borrow_mut().lines.push(line);
        if message == "watcher: I am a log bot" {
            *self.0.phase.borrow_mut() = Phase::Done;
            let _ = self.0.reactor.stop();
        }
    }
}

fn is_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 8
        && b[2] == b':'
        && b[5] == b':'
        && [0, 1, 3, 4, 6, 7].iter().all(|&i| b[i].is_ascii_digit())
}

/// `Sat Nov 21 23:42:00 2026`
fn is_asctime(s: &str) -> bool {
    let parts: Vec<&str> = s.split(' ').filter(|p| !p.is_empty()).collect();
    parts.len() == 5
        && ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"].contains(&parts[0])
        && [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ]
        .contains(&parts[1])
        && is_time(parts[3])
        && parts[4].len() == 4
}

/// The log's lines with the stamps checked and taken off, and the
/// asctime texts replaced by `T`.
fn normalised(log: &str) -> Vec<String> {
    log.lines()
        .map(|line| {
            assert!(
                line.len() > 11
                    && line.starts_with('[')
                    && is_time(&line[1..9])
                    && &line[9..11] == "] ",
                "bad stamp: {line:?}"
            );
            let rest = &line[11..];
            for tag in ["[connected at ", "[disconnected at "] {
                if let Some(t) = rest.strip_prefix(tag) {
                    let t = t.strip_suffix(']').expect("closing bracket");
                    assert!(is_asctime(t), "bad asctime {t:?}");
                    return format!("{tag}T]");
                }
            }
            rest.to_string()
        })
        .collect()
}

#[test]
fn log_bot_against_ngircd() {
    let server = Ngircd::start();
    let reactor = Reactor::new().expect("reactor");
    let world = Rc::new(World {
        reactor: reactor.clone(),
        server: RefCell::new(server),
        phase: RefCell::new(Phase::Waiting),
        heard: RefCell::default(),
        bot_rejoined: RefCell::new(false),
    });
    let path = world.server.borrow().dir.join("bot.log");
    std::fs::write(&path, "an older line\n").expect("seed the log");
    let watchdog = reactor.clone();
    reactor.call_later(Duration::from_secs(60), move || {
        let _ = watchdog.stop();
    });
    let endpoint = TcpClientEndpoint::new(&reactor, "127.0.0.1", world.server.borrow().port);
    let peer = IrcClient::protocol(
        IrcConfig::with_nickname("twistedbot"),
        Peer(world.clone()),
        reactor.clone(),
    );
    let failed = Rc::new(RefCell::new(None));
    let f = failed.clone();
    connect_protocol(&endpoint, peer).consume(move |r| {
        if let Err(e) = r {
            *f.borrow_mut() = Some(e.to_string());
        }
    });
    reactor.run().expect("reactor runs");

    assert_eq!(*failed.borrow(), None);
    assert_eq!(
        *world.phase.borrow(),
        Phase::Done,
        "heard: {:?}",
        world.heard.borrow().lines
    );
    assert!(*world.bot_rejoined.borrow());
    assert_eq!(
        world.heard.borrow().lines,
        [
            "twistedbot^ -> #test: twistedbot: I am a log bot",
            "twistedbot^ -> twistedbot: It isn't nice to whisper!  Play nice with the group.",
            "twistedbot^ -> #test: alice2: I am a log bot",
            "twistedbot -> #test: watcher: I am a log bot",
        ]
    );
    let log = std::fs::read_to_string(&path).expect("the log");
    let (older, rest) = log.split_once('\n').expect("two lines at least");
    assert_eq!(older, "an older line", "the file is appended to");
    let lines = normalised(rest);
    let expected = [
        "[connected at T]",
        "[I have joined #test]",
        "<twistedbot> hello everyone",
        "<twistedbot> twistedbot^: who are you?",
        "<twistedbot^> twistedbot: I am a log bot",
        "* twistedbot waves",
        "<twistedbot> psst",
        "twistedbot is now known as alice2",
        "<alice2> twistedbot^: bye",
        "<twistedbot^> alice2: I am a log bot",
        "[disconnected at T]",
        "[connected at T]",
        "[I have joined #test]",
        "<watcher> twistedbot: are you back?",
        "<twistedbot> watcher: I am a log bot",
        "[disconnected at T]",
    ];
    assert_eq!(lines, expected, "whole log:\n{log}");
}
