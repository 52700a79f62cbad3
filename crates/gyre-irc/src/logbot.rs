//! The log bot of the seeds (Twisted's `ircLogBot.py`, reference §10.7):
//! joins a channel, writes what is said there to a file with local
//! timestamps, answers when addressed, scolds whispers, and comes back
//! when the connection drops. `gyre logbot` runs it; the example
//! `examples/irc_log_bot.rs` is the same bot written out like the seed.
//!
//! Reconnecting: when a connection that got as far as the server's
//! welcome (`001`) ends, the bot connects again at once, as the seed does.
//! When an attempt fails (refused, unreachable) or a connection ends
//! before the welcome, it waits before the next one: 1 s after the first
//! such failure in a row, then 2, 4, 8, … up to 60 s
//! ([`retry_delay`]); a welcome starts the count over. The seed instead
//! reconnects at once every time, so a server that keeps hanging up on
//! it makes it loop as fast as the network allows; and it gives up (stops
//! the reactor) on any failed attempt, even after hours of service. Here
//! only a *first* attempt that fails ends the run
//! ([`LogBotRunner::first_failure`]); once the bot has connected it keeps
//! trying.

use std::cell::{Cell, RefCell};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use gyre::endpoint::{ClientEndpoint, ClientEndpointExt};
use gyre::log::{TimeZone, unix_seconds};
use gyre::{ConnectError, DelayedCall, Reactor, Reason, Shared, for_protocol};

use crate::client::{Dispatch, Irc, IrcClient, IrcConfig, IrcHandler, IrcProtocol};
use crate::message::{Message, nick_of};

/// Writes `[HH:MM:SS] message` lines in local time, each flushed at once
/// (the seed's `MessageLogger`).
#[derive(Debug)]
pub struct MessageLogger {
    file: File,
    zone: TimeZone,
    /// The line being written (kept, so that a line costs no allocation).
    line: Vec<u8>,
    /// The second the stamp was made for, and the stamp `[HH:MM:SS] `.
    stamp: Option<(i64, [u8; 11])>,
}

impl MessageLogger {
    /// Opens `path` for appending (creating it if needed).
    pub fn open(path: &Path) -> io::Result<MessageLogger> {
        let file = OpenOptions::new().append(true).create(true).open(path)?;
        Ok(MessageLogger {
            file,
            zone: TimeZone::local(),
            line: Vec::new(),
            stamp: None,
        })
    }

    /// Writes one line stamped with the local time, and flushes it.
    pub fn log(&mut self, message: &str) -> io::Result<()> {
        self.log_parts(&[message])
    }

    /// Writes one line made of `parts`, stamped with the local time, in one
    /// `write` (the file is not buffered: the line is on disk's page cache
    /// when this returns, as the seed's `flush` makes it).
    pub fn log_parts(&mut self, parts: &[&str]) -> io::Result<()> {
        let now = unix_seconds(SystemTime::now());
        let stamp = match self.stamp {
            Some((second, stamp)) if second == now => stamp,
            _ => {
                let t = self.zone.civil(now);
                let mut stamp = *b"[00:00:00] ";
                for (at, v) in [(1, t.hour), (4, t.minute), (7, t.second)] {
                    stamp[at] = b'0' + (v / 10 % 10) as u8;
                    stamp[at + 1] = b'0' + (v % 10) as u8;
                }
                self.stamp = Some((now, stamp));
                stamp
            }
        };
        self.line.clear();
        self.line.extend_from_slice(&stamp);
        for part in parts {
            self.line.extend_from_slice(part.as_bytes());
        }
        self.line.push(b'\n');
        self.file.write_all(&self.line)
    }
}

/// The local time as C's `asctime` writes it (`Sat Nov 21 23:42:00 2026`).
pub fn asctime_now() -> String {
    TimeZone::local()
        .civil(unix_seconds(SystemTime::now()))
        .asctime()
}

/// What the bot needs to know: its nick, its channel, its file.
#[derive(Debug, Clone)]
pub struct LogBotOptions {
    /// The nick (the seed's `twistedbot`).
    pub nickname: String,
    /// The channel; `#` is added when it has no channel prefix.
    pub channel: String,
    /// The log file, appended to.
    pub path: PathBuf,
}

/// Hears whether a connection got as far as the welcome when it ends.
pub trait ConnectionEnded: 'static {
    /// A connection ended; `signed_on` says whether `001` had arrived.
    fn connection_ended(&self, signed_on: bool);
}

impl ConnectionEnded for () {
    fn connection_ended(&self, _: bool) {}
}

/// The bot's handler (the seed's `LogBot`).
pub struct LogBot {
    options: LogBotOptions,
    logger: Option<MessageLogger>,
    signed_on: bool,
    ended: Rc<dyn ConnectionEnded>,
}

impl std::fmt::Debug for LogBot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogBot")
            .field("options", &self.options)
            .field("signed_on", &self.signed_on)
            .finish_non_exhaustive()
    }
}

impl LogBot {
    /// A bot for one connection; `ended` hears when it is over.
    pub fn new(options: LogBotOptions, ended: Rc<dyn ConnectionEnded>) -> LogBot {
        LogBot {
            options,
            logger: None,
            signed_on: false,
            ended,
        }
    }

    /// The client protocol running this bot, its timers on `clock`.
    pub fn protocol(self, clock: impl gyre::Clock + 'static) -> IrcProtocol<LogBot> {
        let config = IrcConfig::with_nickname(self.options.nickname.clone());
        IrcClient::protocol(config, self, clock)
    }

    fn log(&mut self, parts: &[&str]) {
        if let Some(logger) = &mut self.logger
            && let Err(e) = logger.log_parts(parts)
        {
            log::error!("cannot write to {}: {e}", self.options.path.display());
        }
    }
}

impl IrcHandler for LogBot {
    fn connection_made(&mut self, _irc: &mut Irc) {
        match MessageLogger::open(&self.options.path) {
            Ok(logger) => self.logger = Some(logger),
            Err(e) => log::error!("cannot open {}: {e}", self.options.path.display()),
        }
        self.log(&["[connected at ", &asctime_now(), "]"]);
    }

    fn connection_lost(&mut self, _irc: &mut Irc, _reason: &Reason) {
        self.log(&["[disconnected at ", &asctime_now(), "]"]);
        self.logger = None;
        self.ended.connection_ended(self.signed_on);
    }

    fn signed_on(&mut self, irc: &mut Irc) {
        self.signed_on = true;
        irc.join(&self.options.channel, None);
    }

    fn joined(&mut self, _irc: &mut Irc, channel: &str) {
        self.log(&["[I have joined ", channel, "]"]);
    }

    fn privmsg(&mut self, irc: &mut Irc, user: &str, channel: &str, message: &str) {
        let user = nick_of(user);
        self.log(&["<", user, "> ", message]);
        if channel == irc.nickname() {
            let _ = irc.msg(
                user,
                "It isn't nice to whisper!  Play nice with the group.",
                None,
            );
            return;
        }
        let addressed = message
            .strip_prefix(irc.nickname())
            .is_some_and(|rest| rest.starts_with(':'));
        if addressed {
            let reply = format!("{user}: I am a log bot");
            let _ = irc.msg(channel, &reply, None);
            let me = irc.nickname().to_string();
            self.log(&["<", &me, "> ", &reply]);
        }
    }

    fn action(&mut self, _irc: &mut Irc, user: &str, _channel: &str, data: &str) {
        self.log(&["* ", nick_of(user), " ", data]);
    }

    fn received(&mut self, _irc: &mut Irc, message: &Message<'_>) -> Dispatch {
        // The seed overrides irc_NICK: every rename is logged, the bot's own
        // included, and the client's idea of its nick is left alone.
        if message.command == "NICK" {
            let new = message.param(0).unwrap_or("");
            self.log(&[message.nick(), " is now known as ", new]);
            return Dispatch::Handled;
        }
        Dispatch::Continue
    }

    fn alter_collided_nick(&mut self, nick: &str) -> String {
        format!("{nick}^")
    }
}

/// The wait before the next attempt after `failures` failed attempts (or
/// connections lost before the welcome) in a row: none for 0, then 1 s,
/// 2 s, 4 s, … at most 60 s.
pub fn retry_delay(failures: u32) -> Duration {
    match failures {
        0 => Duration::ZERO,
        n => Duration::from_secs((1u64 << (n - 1).min(6)).min(60)),
    }
}

struct Runner {
    reactor: Reactor,
    endpoint: Rc<dyn ClientEndpoint>,
    options: LogBotOptions,
    ever_connected: Cell<bool>,
    failures: Cell<u32>,
    first_failure: RefCell<Option<String>>,
    stopping: Cell<bool>,
    pending: RefCell<Option<DelayedCall>>,
    me: RefCell<std::rc::Weak<Runner>>,
}

impl ConnectionEnded for Runner {
    fn connection_ended(&self, signed_on: bool) {
        if signed_on {
            self.failures.set(0);
        } else {
            self.failures.set(self.failures.get() + 1);
        }
        self.schedule();
    }
}

impl Runner {
    fn schedule(&self) {
        if self.stopping.get() {
            return;
        }
        let delay = retry_delay(self.failures.get());
        let Some(me) = self.me.borrow().upgrade() else {
            return;
        };
        if delay.is_zero() {
            log::info!("Reconnecting to {}", self.endpoint);
        } else {
            log::info!(
                "Reconnecting to {} in {} seconds",
                self.endpoint,
                delay.as_secs()
            );
        }
        let call = self.reactor.call_later(delay, move || connect(&me));
        *self.pending.borrow_mut() = Some(call);
    }
}

fn connect(runner: &Rc<Runner>) {
    if runner.stopping.get() {
        return;
    }
    let (options, reactor) = (runner.options.clone(), runner.reactor.clone());
    let ended: Rc<dyn ConnectionEnded> = runner.clone();
    let factory =
        for_protocol(move || LogBot::new(options.clone(), ended.clone()).protocol(reactor.clone()));
    let r = runner.clone();
    runner
        .endpoint
        .connect(Shared::new(factory))
        .consume(move |result| match result {
            Ok(_) => r.ever_connected.set(true),
            Err(failure) => {
                let reason = match failure.check::<ConnectError>() {
                    Some(e) => e.to_string(),
                    None => failure.to_string(),
                };
                if r.ever_connected.get() {
                    log::info!("connection failed: {reason}");
                    r.failures.set(r.failures.get() + 1);
                    r.schedule();
                } else if !r.stopping.get() {
                    *r.first_failure.borrow_mut() = Some(reason);
                    r.stopping.set(true);
                    let _ = r.reactor.stop();
                }
            }
        });
}

/// Runs the bot against an endpoint, reconnecting as the module says.
#[derive(Clone)]
pub struct LogBotRunner {
    inner: Rc<Runner>,
}

impl std::fmt::Debug for LogBotRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogBotRunner")
            .field("endpoint", &self.inner.endpoint.to_string())
            .field("failures", &self.inner.failures.get())
            .finish_non_exhaustive()
    }
}

impl LogBotRunner {
    /// Starts connecting (once the reactor runs). On shutdown the bot stops
    /// reconnecting; the connection is closed without a QUIT, as the seed's.
    pub fn start(
        reactor: &Reactor,
        endpoint: Rc<dyn ClientEndpoint>,
        options: LogBotOptions,
    ) -> LogBotRunner {
        let inner = Rc::new(Runner {
            reactor: reactor.clone(),
            endpoint,
            options,
            ever_connected: Cell::new(false),
            failures: Cell::new(0),
            first_failure: RefCell::new(None),
            stopping: Cell::new(false),
            pending: RefCell::new(None),
            me: RefCell::new(std::rc::Weak::new()),
        });
        *inner.me.borrow_mut() = Rc::downgrade(&inner);
        let stopping = inner.clone();
        reactor.add_system_event_trigger(
            gyre::Phase::Before,
            gyre::SystemEvent::Shutdown,
            move || {
                stopping.stop();
                None
            },
        );
        let first = inner.clone();
        reactor.call_when_running(move || connect(&first));
        LogBotRunner { inner }
    }

    /// Why the first attempt failed, if it did (the reactor was stopped).
    pub fn first_failure(&self) -> Option<String> {
        self.inner.first_failure.borrow().clone()
    }

    /// Stops reconnecting (the current connection, if any, stays).
    pub fn stop(&self) {
        self.inner.stop();
    }

    /// Failed attempts in a row so far.
    pub fn failures(&self) -> u32 {
        self.inner.failures.get()
    }
}

impl Runner {
    fn stop(&self) {
        self.stopping.set(true);
        if let Some(call) = self.pending.borrow_mut().take() {
            let _ = call.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::retry_delay;
    use std::time::Duration;

    #[test]
    fn retry_delays() {
        let secs: Vec<u64> = (0..10).map(|n| retry_delay(n).as_secs()).collect();
        assert_eq!(secs, [0, 1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(retry_delay(u32::MAX), Duration::from_secs(60));
    }
}
