//! The seeds' "higher-level example", Twisted's `ircLogBot.py`: an IRC bot
//! that logs a channel's events to a file.
//!
//! If someone says the bot's name in the channel followed by a `:`, e.g.
//! `<foo> logbot: hello!`, the bot replies `<logbot> foo: I am a log bot`.
//!
//! Run it with the channel and the file, and optionally the server
//! (default 127.0.0.1 6667):
//!
//! ```text
//! cargo run -p gyre-irc --example irc_log_bot -- test test.log [HOST [PORT]]
//! ```
//!
//! logs channel `#test` to the file `test.log`. Like the seed it reconnects
//! at once whenever the connection drops and stops when an attempt fails;
//! `gyre logbot` is the same bot with a back-off and an exit status (see
//! `gyre_irc::logbot`).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::time::SystemTime;

use gyre::log::{TimeZone, unix_seconds};
use gyre::{Address, ClientFactory, ConnectError, Connector, Factory, Reactor, Reason};
use gyre_irc::{Dispatch, Irc, IrcClient, IrcConfig, IrcHandler, IrcProtocol, Message};

/// An independent logger class (because separation of application and
/// protocol logic is a good thing).
struct MessageLogger {
    file: File,
}

impl MessageLogger {
    /// Write a message to the file.
    fn log(&mut self, message: &str) {
        let t = TimeZone::local().civil(unix_seconds(SystemTime::now()));
        let timestamp = format!("[{:02}:{:02}:{:02}]", t.hour, t.minute, t.second);
        let _ = writeln!(self.file, "{timestamp} {message}");
        let _ = self.file.flush();
    }
}

fn asctime() -> String {
    TimeZone::local()
        .civil(unix_seconds(SystemTime::now()))
        .asctime()
}

/// A logging IRC bot.
struct LogBot {
    channel: String,
    filename: String,
    logger: Option<MessageLogger>,
}

impl LogBot {
    fn log(&mut self, message: &str) {
        if let Some(logger) = &mut self.logger {
            logger.log(message);
        }
    }
}

impl IrcHandler for LogBot {
    fn connection_made(&mut self, _irc: &mut Irc) {
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.filename);
        self.logger = file.ok().map(|file| MessageLogger { file });
        self.log(&format!("[connected at {}]", asctime()));
    }

    fn connection_lost(&mut self, _irc: &mut Irc, _reason: &Reason) {
        self.log(&format!("[disconnected at {}]", asctime()));
        self.logger = None;
    }

    // callbacks for events

    /// Called when bot has successfully signed on to server.
    fn signed_on(&mut self, irc: &mut Irc) {
        irc.join(&self.channel, None);
    }

    /// This will get called when the bot joins the channel.
    fn joined(&mut self, _irc: &mut Irc, channel: &str) {
        self.log(&format!("[I have joined {channel}]"));
    }

    /// This will get called when the bot receives a message.
    fn privmsg(&mut self, irc: &mut Irc, user: &str, channel: &str, msg: &str) {
        let user = user.split('!').next().unwrap_or(user);
        self.log(&format!("<{user}> {msg}"));

        // Check to see if they're sending me a private message
        if channel == irc.nickname() {
            let _ = irc.msg(
                user,
                "It isn't nice to whisper!  Play nice with the group.",
                None,
            );
            return;
        }

        // Otherwise check to see if it is a message directed at me
        if msg.starts_with(&format!("{}:", irc.nickname())) {
            let msg = format!("{user}: I am a log bot");
            let _ = irc.msg(channel, &msg, None);
            let me = irc.nickname().to_string();
            self.log(&format!("<{me}> {msg}"));
        }
    }

    /// This will get called when the bot sees someone do an action.
    fn action(&mut self, _irc: &mut Irc, user: &str, _channel: &str, msg: &str) {
        let user = user.split('!').next().unwrap_or(user);
        self.log(&format!("* {user} {msg}"));
    }

    // irc callbacks

    /// Called when an IRC user changes their nickname (the seed's irc_NICK).
    fn received(&mut self, _irc: &mut Irc, message: &Message<'_>) -> Dispatch {
        if message.command != "NICK" {
            return Dispatch::Continue;
        }
        let old_nick = message.nick();
        let new_nick = message.param(0).unwrap_or("");
        self.log(&format!("{old_nick} is now known as {new_nick}"));
        Dispatch::Handled
    }

    // For fun, override the method that determines how a nickname is changed
    // on collisions. The default method appends an underscore.
    fn alter_collided_nick(&mut self, nickname: &str) -> String {
        format!("{nickname}^")
    }
}

/// A factory for LogBots. A new protocol instance will be created each
/// time we connect to the server.
struct LogBotFactory {
    reactor: Reactor,
    channel: String,
    filename: String,
}

impl Factory for LogBotFactory {
    type Protocol = IrcProtocol<LogBot>;

    fn build_protocol(&self, _addr: &Address) -> Option<Self::Protocol> {
        let bot = LogBot {
            channel: self.channel.clone(),
            filename: self.filename.clone(),
            logger: None,
        };
        Some(IrcClient::protocol(
            IrcConfig::with_nickname("twistedbot"),
            bot,
            self.reactor.clone(),
        ))
    }
}

impl ClientFactory for LogBotFactory {
    /// If we get disconnected, reconnect to server.
    fn client_connection_lost(&self, connector: &Connector, _reason: &Reason) {
        let _ = connector.connect();
    }

    fn client_connection_failed(&self, _connector: &Connector, reason: &ConnectError) {
        println!("connection failed: {reason}");
        let _ = self.reactor.stop();
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(channel), Some(filename)) = (args.next(), args.next()) else {
        eprintln!("usage: irc_log_bot <channel> <file> [HOST [PORT]]");
        std::process::exit(64);
    };
    let host = args.next().unwrap_or_else(|| "127.0.0.1".into());
    let port = args.next().map_or(Ok(6667), |p| p.parse())?;

    // initialize logging
    gyre::log::start_logging(std::io::stdout())?;

    // create factory protocol and application
    let reactor = Reactor::new()?;
    let f = LogBotFactory {
        reactor: reactor.clone(),
        channel,
        filename,
    };

    // connect factory to this host and port
    reactor.connect_tcp(&host, port, f);

    // run bot
    reactor.run()?;
    Ok(())
}
