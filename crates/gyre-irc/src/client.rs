//! The client protocol: Twisted's `IRCClient` as a [`LineReceiver`]
//! handler, with the events going to an [`IrcHandler`] you write.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

use gyre::protocols::{LineConnection, LineProtocol, LineReceiver};
use gyre::{Clock, DelayedCall, LoopingCall, Reason, Transport};

use crate::isupport::ServerSupport;
use crate::message::{Message, nick_of, parse_tags};
use crate::modes::parse_modes;
use crate::quote::{X_DELIM, ctcp_extract, ctcp_stringify, low_dequote, low_quote};
use crate::split::split;

/// Twisted's `MAX_COMMAND_LENGTH`.
pub const MAX_COMMAND_LENGTH: usize = 512;
/// The prefixes `join`, `leave`, `say`, `kick`, `invite` and `topic`
/// accept as already naming a channel (otherwise they add `#`), as in
/// Twisted (which does not consult `CHANTYPES` there).
pub const CHANNEL_PREFIXES: &str = "&#!+";

/// The settings of a client: Twisted's `IRCClient` attributes, with its
/// defaults.
#[derive(Debug, Clone)]
pub struct IrcConfig {
    /// The nick to register with (default `irc`).
    pub nickname: String,
    /// Sent as `PASS` first when set.
    pub password: Option<String>,
    /// The real name of `USER`; unset, the text `None` is sent, as Twisted does.
    pub realname: Option<String>,
    /// The user name of `USER` (default: the nick).
    pub username: Option<String>,
    /// The answer to CTCP `USERINFO` (none by default).
    pub userinfo: Option<String>,
    /// The answer to CTCP `FINGER` (none by default).
    pub finger_reply: Option<String>,
    /// CTCP `VERSION` answers only when this is set.
    pub version_name: Option<String>,
    /// The version number in the `VERSION` answer.
    pub version_num: Option<String>,
    /// The environment in the `VERSION` answer.
    pub version_env: Option<String>,
    /// The answer to CTCP `SOURCE` (Twisted's download page by default).
    pub source_url: Option<String>,
    /// Register on connection (default true).
    pub perform_login: bool,
    /// Flood protection: at most one line per this interval, the first at
    /// once (Twisted's `lineRate`; off by default).
    pub line_rate: Option<Duration>,
    /// A keepalive `PING <server>` this often once signed on (120 s);
    /// `None` turns it off.
    pub heartbeat_interval: Option<Duration>,
    /// The nick tried when the server calls ours erroneous before
    /// registration (`defaultnick`).
    pub erroneous_nick_fallback: String,
    /// IRCv3 capabilities to ask for (`message-tags`, `server-time`,
    /// `echo-message`, …). Empty by default: no `CAP` is sent, as with
    /// Twisted. Non-empty (or with [`sasl`](Self::sasl)), registration
    /// starts with `CAP LS 302` and ends with `CAP END`.
    pub capabilities: Vec<String>,
    /// SASL PLAIN credentials `(account, password)`: asks for the `sasl`
    /// capability and authenticates before registration ends.
    pub sasl: Option<(String, String)>,
}

impl Default for IrcConfig {
    fn default() -> Self {
        IrcConfig {
            nickname: "irc".into(),
            password: None,
            realname: None,
            username: None,
            userinfo: None,
            finger_reply: None,
            version_name: None,
            version_num: None,
            version_env: None,
            source_url: Some("http://twistedmatrix.com/downloads/".into()),
            perform_login: true,
            line_rate: None,
            heartbeat_interval: Some(Duration::from_secs(120)),
            erroneous_nick_fallback: "defaultnick".into(),
            capabilities: Vec::new(),
            sasl: None,
        }
    }
}

impl IrcConfig {
    /// The defaults with `nickname`.
    pub fn with_nickname(nickname: impl Into<String>) -> Self {
        IrcConfig {
            nickname: nickname.into(),
            ..IrcConfig::default()
        }
    }
}

/// `msg`/`notice` refused: the length asked for leaves no room for text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Maximum length must exceed {minimum} for message to {target}")]
pub struct LengthError {
    /// The length must exceed this.
    pub minimum: usize,
    /// The message's target.
    pub target: String,
}

/// What [`IrcHandler::received`] did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatch {
    /// Go on with the built-in handling.
    Continue,
    /// The handler took care of it; skip the built-in handling (like
    /// overriding an `irc_<COMMAND>` method in Twisted).
    Handled,
}

/// The events of an IRC connection, in the past tense. Every method has
/// a default that does nothing (or Twisted's default), so a handler
/// implements only what it cares about. Each gets the [`Irc`] to answer
/// through.
///
/// `user` arguments are the full prefix (`nick!user@host`) where Twisted
/// passes the prefix (`privmsg`, `action`, `noticed`, `mode_changed`) and
/// the bare nick elsewhere, as in Twisted.
#[allow(unused_variables)]
pub trait IrcHandler: 'static {
    /// The connection is up (before registration is sent, if
    /// [`perform_login`](IrcConfig::perform_login)).
    fn connection_made(&mut self, irc: &mut Irc) {}
    /// The connection is gone.
    fn connection_lost(&mut self, irc: &mut Irc, reason: &Reason) {}
    /// Every parsed message, first. Return [`Dispatch::Handled`] to
    /// replace the built-in handling of it.
    fn received(&mut self, irc: &mut Irc, message: &Message<'_>) -> Dispatch {
        Dispatch::Continue
    }
    /// Registration is done (`001`).
    fn signed_on(&mut self, irc: &mut Irc) {}
    /// The nick to try after `nick` was refused as in use (default: `nick_`).
    fn alter_collided_nick(&mut self, nick: &str) -> String {
        format!("{nick}_")
    }
    /// We joined `channel`.
    fn joined(&mut self, irc: &mut Irc, channel: &str) {}
    /// We left `channel`.
    fn left(&mut self, irc: &mut Irc, channel: &str) {}
    /// A message to a channel or (`channel` = our nick) to us.
    fn privmsg(&mut self, irc: &mut Irc, user: &str, channel: &str, message: &str) {}
    /// A CTCP ACTION (`/me`).
    fn action(&mut self, irc: &mut Irc, user: &str, channel: &str, data: &str) {}
    /// A NOTICE.
    fn noticed(&mut self, irc: &mut Irc, user: &str, channel: &str, message: &str) {}
    /// Our nick changed (already applied to [`Irc::nickname`]).
    fn nick_changed(&mut self, irc: &mut Irc, nick: &str) {}
    /// Someone else's nick changed.
    fn user_renamed(&mut self, irc: &mut Irc, old: &str, new: &str) {}
    /// Someone joined a channel we are in.
    fn user_joined(&mut self, irc: &mut Irc, nick: &str, channel: &str) {}
    /// Someone left a channel we are in.
    fn user_left(&mut self, irc: &mut Irc, nick: &str, channel: &str) {}
    /// Someone quit.
    fn user_quit(&mut self, irc: &mut Irc, nick: &str, message: &str) {}
    /// Someone was kicked.
    fn user_kicked(
        &mut self,
        irc: &mut Irc,
        kicked: &str,
        channel: &str,
        kicker: &str,
        message: &str,
    ) {
    }
    /// We were kicked.
    fn kicked_from(&mut self, irc: &mut Irc, channel: &str, kicker: &str, message: &str) {}
    /// A topic was set or reported (`TOPIC`, `332`; `331` gives `""`).
    fn topic_updated(&mut self, irc: &mut Irc, user: &str, channel: &str, topic: &str) {}
    /// Modes were set (`set` true) or unset, once for each direction.
    fn mode_changed(
        &mut self,
        irc: &mut Irc,
        user: &str,
        channel: &str,
        set: bool,
        modes: &str,
        args: &[Option<String>],
    ) {
    }
    /// The message of the day, complete, leading `- ` stripped.
    fn received_motd(&mut self, irc: &mut Irc, motd: &[String]) {}
    /// `002`.
    fn your_host(&mut self, irc: &mut Irc, info: &str) {}
    /// `003`.
    fn created(&mut self, irc: &mut Irc, when: &str) {}
    /// `004`: server name, version, user modes, channel modes.
    fn my_info(&mut self, irc: &mut Irc, info: [Option<&str>; 4]) {}
    /// `005`, already applied to [`Irc::supported`].
    fn isupport(&mut self, irc: &mut Irc, options: &[&str]) {}
    /// `010`.
    fn bounce(&mut self, irc: &mut Irc, info: &str) {}
    /// `251`.
    fn luser_client(&mut self, irc: &mut Irc, info: &str) {}
    /// `252`.
    fn luser_op(&mut self, irc: &mut Irc, ops: i64) {}
    /// `254`.
    fn luser_channels(&mut self, irc: &mut Irc, channels: i64) {}
    /// `255`.
    fn luser_me(&mut self, irc: &mut Irc, info: &str) {}
    /// The answer to our [`Irc::ping`], after `secs`.
    fn pong(&mut self, irc: &mut Irc, user: &str, secs: f64) {}
    /// A CTCP query nobody handles (logged by default).
    fn ctcp_unknown_query(
        &mut self,
        irc: &mut Irc,
        user: &str,
        channel: &str,
        tag: &str,
        data: Option<&str>,
    ) {
        log::info!("Unknown CTCP query from {user:?}: {tag:?} {data:?}");
    }
    /// A CTCP reply nobody handles (logged by default).
    fn ctcp_unknown_reply(
        &mut self,
        irc: &mut Irc,
        user: &str,
        channel: &str,
        tag: &str,
        data: Option<&str>,
    ) {
        log::info!("Unknown CTCP reply from {user}: {tag} {data:?}");
    }
    /// A DCC `SEND`, `ACCEPT`, `RESUME` or `CHAT` offer (`data` is what
    /// follows the type). Ignored by default: gyre-irc does not run DCC
    /// transfers.
    fn dcc_query(&mut self, irc: &mut Irc, user: &str, channel: &str, kind: &str, data: &str) {}
    /// A command with no built-in handling.
    fn unknown(&mut self, irc: &mut Irc, prefix: &str, command: &str, params: &[&str]) {}
    /// A line that is not a message (logged by default).
    fn bad_message(&mut self, irc: &mut Irc, line: &str, error: &crate::ParseError) {
        log::info!("Bad IRC message {line:?}: {error}");
    }
    /// The capabilities the server acknowledged (IRCv3).
    fn capabilities_acknowledged(&mut self, irc: &mut Irc, caps: &[&str]) {}
    /// The server offers new capabilities (IRCv3 `cap-notify`, which
    /// `CAP LS 302` turns on). Those among [`IrcConfig::capabilities`] not
    /// yet enabled are requested before this is called.
    fn capabilities_offered(&mut self, irc: &mut Irc, caps: &[&str]) {}
    /// The server withdrew capabilities (`CAP DEL`); they are no longer
    /// enabled when this is called.
    fn capabilities_withdrawn(&mut self, irc: &mut Irc, caps: &[&str]) {}
    /// With `echo-message` enabled, the server's copy of a `PRIVMSG`
    /// (`notice` false) or `NOTICE` this client sent to `target`, text as
    /// sent (CTCP included). It does not reach [`privmsg`](Self::privmsg),
    /// [`action`](Self::action) or the CTCP handlers, and is never
    /// answered. Ignored by default.
    fn message_echoed(&mut self, irc: &mut Irc, target: &str, message: &str, notice: bool) {}
    /// SASL ended: `Ok` on `903`, `Err(numeric)` otherwise.
    fn sasl_finished(&mut self, irc: &mut Irc, result: Result<(), String>) {}
}

/// The outgoing side: the transport and Twisted's `lineRate` queue.
struct Outbox {
    transport: Option<Transport>,
    rate: Option<Duration>,
    queue: VecDeque<Vec<u8>>,
    timer: Option<DelayedCall>,
}

fn encode(line: &str) -> Vec<u8> {
    let q = low_quote(line);
    let mut out = Vec::with_capacity(q.len() + 2);
    out.extend_from_slice(q.as_bytes());
    out.extend_from_slice(b"\r\n");
    out
}

fn pump(outbox: &Rc<RefCell<Outbox>>, clock: &Rc<dyn Clock>) {
    let mut ob = outbox.borrow_mut();
    let Some(line) = ob.queue.pop_front() else {
        ob.timer = None;
        return;
    };
    if let Some(t) = &ob.transport {
        t.write(&line);
    }
    let rate = ob.rate.unwrap_or_default();
    let (again, c) = (Rc::clone(outbox), Rc::clone(clock));
    ob.timer = Some(clock.call_later(rate, move || pump(&again, &c)));
}

/// Where a client is with IRCv3 capability negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CapState {
    Off,
    Listing,
    Requested,
    Authenticating,
    Done,
}

/// The connection as a handler sees it: state (nick, server features,
/// the current message's tags) and the commands, each writing the exact
/// line Twisted writes.
pub struct Irc {
    config: IrcConfig,
    clock: Rc<dyn Clock>,
    nickname: String,
    attempted_nick: String,
    registered: bool,
    hostname: Option<String>,
    supported: ServerSupport,
    outbox: Rc<RefCell<Outbox>>,
    heartbeat: Option<LoopingCall>,
    motd: Option<Vec<String>>,
    pings: HashMap<(String, String), Instant>,
    ping_counter: u64,
    tags: String,
    cap_state: CapState,
    offered: Vec<String>,
    enabled: HashSet<String>,
    /// `echo-message` is enabled (read for every message).
    echo_message: bool,
}

impl fmt::Debug for Irc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Irc")
            .field("nickname", &self.nickname)
            .field("registered", &self.registered)
            .field("hostname", &self.hostname)
            .finish_non_exhaustive()
    }
}

impl Irc {
    fn new(config: IrcConfig, clock: Rc<dyn Clock>) -> Irc {
        let rate = config.line_rate;
        Irc {
            nickname: config.nickname.clone(),
            config,
            clock,
            attempted_nick: String::new(),
            registered: false,
            hostname: None,
            supported: ServerSupport::default(),
            outbox: Rc::new(RefCell::new(Outbox {
                transport: None,
                rate,
                queue: VecDeque::new(),
                timer: None,
            })),
            heartbeat: None,
            motd: None,
            pings: HashMap::new(),
            ping_counter: 0,
            tags: String::new(),
            cap_state: CapState::Off,
            offered: Vec::new(),
            enabled: HashSet::new(),
            echo_message: false,
        }
    }

    /// The settings.
    pub fn config(&self) -> &IrcConfig {
        &self.config
    }

    /// The settings, to change (e.g. `realname` before registering by hand).
    pub fn config_mut(&mut self) -> &mut IrcConfig {
        &mut self.config
    }

    /// Our nick: the configured one until `001` confirms the one tried,
    /// then as the server renames us.
    pub fn nickname(&self) -> &str {
        &self.nickname
    }

    /// Sets the nick this client believes it has, without telling the
    /// server (what Twisted's default `nickChanged` does).
    pub fn set_nickname_locally(&mut self, nick: &str) {
        self.nickname = nick.to_string();
    }

    /// True once `001` arrived.
    pub fn is_registered(&self) -> bool {
        self.registered
    }

    /// The prefix of the `001` line (the server's name), once signed on.
    pub fn hostname(&self) -> Option<&str> {
        self.hostname.as_deref()
    }

    /// The server's features (`005`).
    pub fn supported(&self) -> &ServerSupport {
        &self.supported
    }

    /// The transport, once connected.
    pub fn transport(&self) -> Option<Transport> {
        self.outbox.borrow().transport.clone()
    }

    /// The IRCv3 capabilities the server offers (`CAP LS`, then `CAP NEW`
    /// and `CAP DEL`), names only, in the order offered.
    pub fn offered_capabilities(&self) -> impl Iterator<Item = &str> {
        self.offered.iter().map(String::as_str)
    }

    /// The IRCv3 capabilities the server acknowledged.
    pub fn enabled_capabilities(&self) -> impl Iterator<Item = &str> {
        self.enabled.iter().map(String::as_str)
    }

    /// The tags of the message being handled (IRCv3 `message-tags`),
    /// values unescaped; empty outside a callback or without tags.
    pub fn tags(&self) -> impl Iterator<Item = (&str, Option<Cow<'_, str>>)> {
        parse_tags(&self.tags)
    }

    /// One tag of the message being handled.
    pub fn tag(&self, key: &str) -> Option<Cow<'_, str>> {
        self.tags()
            .filter(|(k, _)| *k == key)
            .last()
            .map(|(_, v)| v.unwrap_or(Cow::Borrowed("")))
    }

    /// When the server says the message being handled was sent (IRCv3
    /// `server-time`: the `time` tag, `YYYY-MM-DDThh:mm:ss.sssZ`).
    pub fn server_time(&self) -> Option<SystemTime> {
        parse_server_time(&self.tag("time")?)
    }

    /// Sends one line: low-level quoted, UTF-8, `\r\n` appended; through
    /// the `line_rate` queue when flood protection is on.
    pub fn send_line(&self, line: &str) {
        let bytes = encode(line);
        let mut ob = self.outbox.borrow_mut();
        if ob.rate.is_none() {
            if let Some(t) = &ob.transport {
                t.write(&bytes);
            }
            return;
        }
        ob.queue.push_back(bytes);
        if ob.timer.is_none() {
            drop(ob);
            pump(&self.outbox, &self.clock);
        }
    }

    fn channel(name: &str) -> Cow<'_, str> {
        if name.starts_with(|c| CHANNEL_PREFIXES.contains(c)) {
            Cow::Borrowed(name)
        } else {
            Cow::Owned(format!("#{name}"))
        }
    }

    /// `JOIN #chan` or `JOIN #chan key` (`#` added when missing).
    pub fn join(&self, channel: &str, key: Option<&str>) {
        let channel = Self::channel(channel);
        match key {
            Some(k) if !k.is_empty() => self.send_line(&format!("JOIN {channel} {k}")),
            _ => self.send_line(&format!("JOIN {channel}")),
        }
    }

    /// `PART #chan` or `PART #chan :reason`.
    pub fn leave(&self, channel: &str, reason: Option<&str>) {
        let channel = Self::channel(channel);
        match reason {
            Some(r) if !r.is_empty() => self.send_line(&format!("PART {channel} :{r}")),
            _ => self.send_line(&format!("PART {channel}")),
        }
    }

    /// Same as [`leave`](Self::leave).
    pub fn part(&self, channel: &str, reason: Option<&str>) {
        self.leave(channel, reason)
    }

    /// `KICK #chan user` or `KICK #chan user :reason`.
    pub fn kick(&self, channel: &str, user: &str, reason: Option<&str>) {
        let channel = Self::channel(channel);
        match reason {
            Some(r) if !r.is_empty() => self.send_line(&format!("KICK {channel} {user} :{r}")),
            _ => self.send_line(&format!("KICK {channel} {user}")),
        }
    }

    /// `INVITE user #chan`.
    pub fn invite(&self, user: &str, channel: &str) {
        self.send_line(&format!("INVITE {user} {}", Self::channel(channel)))
    }

    /// `TOPIC #chan` (ask) or `TOPIC #chan :topic` (set; `Some("")` clears).
    pub fn topic(&self, channel: &str, topic: Option<&str>) {
        let channel = Self::channel(channel);
        match topic {
            Some(t) => self.send_line(&format!("TOPIC {channel} :{t}")),
            None => self.send_line(&format!("TOPIC {channel}")),
        }
    }

    /// `MODE chan +modes [limit|user|mask]` (the first given of the three).
    pub fn mode(
        &self,
        chan: &str,
        set: bool,
        modes: &str,
        limit: Option<i64>,
        user: Option<&str>,
        mask: Option<&str>,
    ) {
        let sign = if set { '+' } else { '-' };
        let mut line = format!("MODE {chan} {sign}{modes}");
        if let Some(l) = limit {
            line.push_str(&format!(" {l}"));
        } else if let Some(u) = user {
            line.push_str(&format!(" {u}"));
        } else if let Some(m) = mask {
            line.push_str(&format!(" {m}"));
        }
        self.send_line(&line)
    }

    /// [`msg`](Self::msg) to a channel, `#` added when missing.
    pub fn say(
        &self,
        channel: &str,
        message: &str,
        length: Option<usize>,
    ) -> Result<(), LengthError> {
        self.msg(&Self::channel(channel), message, length)
    }

    /// The default longest line for `fmt` (`PRIVMSG target :`): 512 less
    /// a worst-case prefix for the server's NICKLEN, less 10.
    pub fn safe_maximum_line_length(&self, fmt: &str) -> usize {
        let theoretical = 1 + self.supported.nicklen() + 1 + 10 + 1 + 63 + 1 + fmt.chars().count();
        MAX_COMMAND_LENGTH
            .saturating_sub(theoretical)
            .saturating_sub(10)
    }

    fn send_message(
        &self,
        command: &str,
        target: &str,
        message: &str,
        length: Option<usize>,
    ) -> Result<(), LengthError> {
        let fmt = format!("{command} {target} :");
        let length = length.unwrap_or_else(|| self.safe_maximum_line_length(&fmt));
        let minimum = fmt.chars().count() + 2;
        if length <= minimum {
            return Err(LengthError {
                minimum,
                target: target.to_string(),
            });
        }
        for line in split(message, length - minimum) {
            self.send_line(&format!("{fmt}{line}"));
        }
        Ok(())
    }

    /// `PRIVMSG target :text`, split as Twisted splits: at `\n`, then
    /// word-wrapped so each line fits `length` (default: what is safe for
    /// the server's NICKLEN); empty pieces are not sent. A `length` too
    /// small for any text is refused.
    pub fn msg(
        &self,
        target: &str,
        message: &str,
        length: Option<usize>,
    ) -> Result<(), LengthError> {
        self.send_message("PRIVMSG", target, message, length)
    }

    /// `NOTICE target :text`, split as [`msg`](Self::msg).
    pub fn notice(
        &self,
        target: &str,
        message: &str,
        length: Option<usize>,
    ) -> Result<(), LengthError> {
        self.send_message("NOTICE", target, message, length)
    }

    /// `AWAY :message`.
    pub fn away(&self, message: &str) {
        self.send_line(&format!("AWAY :{message}"))
    }

    /// `AWAY :`.
    pub fn back(&self) {
        self.away("")
    }

    /// `WHOIS nick` or `WHOIS server nick`.
    pub fn whois(&self, nick: &str, server: Option<&str>) {
        match server {
            Some(s) => self.send_line(&format!("WHOIS {s} {nick}")),
            None => self.send_line(&format!("WHOIS {nick}")),
        }
    }

    /// `NICK nick`; [`nickname`](Self::nickname) changes when the server confirms.
    pub fn set_nick(&mut self, nick: &str) {
        self.attempted_nick = nick.to_string();
        self.send_line(&format!("NICK {nick}"))
    }

    /// `QUIT :message`.
    pub fn quit(&self, message: &str) {
        self.send_line(&format!("QUIT :{message}"))
    }

    /// A CTCP ACTION: `PRIVMSG target :\x01ACTION text\x01` (no `#` added).
    pub fn describe(&self, target: &str, action: &str) {
        self.ctcp_make_query(target, &[("ACTION", Some(action))])
    }

    /// A CTCP PING to `user` with `text` as the key (default: 12 random
    /// printable characters); the answer comes to [`IrcHandler::pong`].
    pub fn ping(&mut self, user: &str, text: Option<&str>) {
        let key = match text {
            Some(t) => t.to_string(),
            None => self.random_key(),
        };
        self.pings
            .insert((user.to_string(), key.clone()), self.clock.now());
        self.ctcp_make_query(user, &[("PING", Some(key.as_str()))]);
        while self.pings.len() > 12 {
            let oldest = self
                .pings
                .iter()
                .min_by_key(|(_, t)| **t)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.pings.remove(&k);
            }
        }
    }

    fn random_key(&mut self) -> String {
        use std::hash::{BuildHasher, Hasher};
        const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
        self.ping_counter += 1;
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(self.ping_counter);
        let mut x = h.finish();
        (0..12)
            .map(|_| {
                let c = CHARS[(x % CHARS.len() as u64) as usize] as char;
                x = x
                    .rotate_left(7)
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    .wrapping_add(1);
                c
            })
            .collect()
    }

    /// CTCP queries, sent with `msg`.
    pub fn ctcp_make_query(&self, target: &str, messages: &[(&str, Option<&str>)]) {
        let _ = self.msg(target, &ctcp_stringify(messages), None);
    }

    /// CTCP replies, sent with `notice`.
    pub fn ctcp_make_reply(&self, target: &str, messages: &[(&str, Option<&str>)]) {
        let _ = self.notice(target, &ctcp_stringify(messages), None);
    }

    /// Sends `PASS` (if set), `NICK` and `USER` (Twisted's `register`, with
    /// its `foo`/`bar` host and server names).
    pub fn register(&mut self, nickname: &str) {
        if let Some(p) = self.config.password.clone() {
            self.send_line(&format!("PASS {p}"));
        }
        self.set_nick(nickname);
        let username = self
            .config
            .username
            .get_or_insert_with(|| nickname.to_string())
            .clone();
        let realname = self.config.realname.as_deref().unwrap_or("None");
        self.send_line(&format!("USER {username} foo bar :{realname}"));
    }

    fn start_heartbeat(&mut self) {
        self.stop_heartbeat();
        let Some(interval) = self.config.heartbeat_interval else {
            return;
        };
        let outbox = Rc::clone(&self.outbox);
        let clock = Rc::clone(&self.clock);
        let line = format!("PING {}", self.hostname.as_deref().unwrap_or(""));
        let beat = LoopingCall::new(&self.clock, move || {
            let bytes = encode(&line);
            let mut ob = outbox.borrow_mut();
            if ob.rate.is_none() {
                if let Some(t) = &ob.transport {
                    t.write(&bytes);
                }
            } else {
                ob.queue.push_back(bytes);
                if ob.timer.is_none() {
                    drop(ob);
                    pump(&outbox, &clock);
                }
            }
        });
        let _ = beat.start(interval, false);
        self.heartbeat = Some(beat);
    }

    fn stop_heartbeat(&mut self) {
        if let Some(beat) = self.heartbeat.take() {
            let _ = beat.stop();
        }
    }

    fn cap_end(&mut self) {
        self.cap_state = CapState::Done;
        self.send_line("CAP END");
    }
}

/// Parses an IRCv3 `server-time` value (`2011-10-19T16:40:51.620Z`).
pub fn parse_server_time(s: &str) -> Option<SystemTime> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, dd) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (h, mi, sec) = (t.next()??, t.next()??, t.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&dd) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 9 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + dd - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec;
    let nanos = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse::<u32>().ok()?
    };
    let base = if secs >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs as u64))?
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))?
    };
    base.checked_add(Duration::from_nanos(nanos.into()))
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The client protocol: a [`LineReceiver`] that parses IRC and calls an
/// [`IrcHandler`]. Run it in a [`LineProtocol`] ([`IrcClient::protocol`]).
pub struct IrcClient<H> {
    handler: H,
    irc: Irc,
}

/// The protocol value to connect: an [`IrcClient`] in a [`LineProtocol`].
pub type IrcProtocol<H> = LineProtocol<IrcClient<H>>;

impl<H: fmt::Debug> fmt::Debug for IrcClient<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IrcClient")
            .field("handler", &self.handler)
            .field("irc", &self.irc)
            .finish()
    }
}

/// Whether `line` holds a `\r` and whether it holds a `\x10`. Most lines
/// hold neither: one branch-free pass, eight bytes at a time,
/// says so, and only a line that has one is looked at again.
fn scan(line: &[u8]) -> (bool, bool) {
    // Cheapest first: no byte below 0x11 means neither \r (0x0d) nor
    // \x10; control codes (CTCP's \x01, colours) send a line to the
    // exact test.
    if !crate::swar::holds_below(line, 0x11) || !crate::swar::holds_either(line, b'\r', 0x10) {
        return (false, false);
    }
    (line.contains(&b'\r'), line.contains(&0x10))
}

fn int_param(s: &str) -> Option<i64> {
    s.trim().parse().ok()
}

impl<H: IrcHandler> IrcClient<H> {
    /// A client with `config`, calling `handler`, its timers (keepalive,
    /// flood protection) on `clock`: the reactor in a program, a
    /// `VirtualClock` in a test.
    pub fn new(config: IrcConfig, handler: H, clock: impl Clock + 'static) -> IrcClient<H> {
        IrcClient {
            handler,
            irc: Irc::new(config, Rc::new(clock)),
        }
    }

    /// The same, wrapped in the [`LineProtocol`] that frames its lines.
    pub fn protocol(config: IrcConfig, handler: H, clock: impl Clock + 'static) -> IrcProtocol<H> {
        LineProtocol::new(IrcClient::new(config, handler, clock))
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// The handler, mutably.
    pub fn handler_mut(&mut self) -> &mut H {
        &mut self.handler
    }

    /// The connection state and commands.
    pub fn irc(&self) -> &Irc {
        &self.irc
    }

    /// The connection state and commands, mutably (for commands from
    /// outside a callback, e.g. a timer holding the protocol).
    pub fn irc_mut(&mut self) -> &mut Irc {
        &mut self.irc
    }

    /// Handles one line as received (without its `\n`): `\r` removed,
    /// strict UTF-8, low-level dequoted, parsed, dispatched. Invalid UTF-8
    /// closes the connection (Twisted lets the decoding error escape,
    /// which drops it).
    pub fn handle_line(&mut self, line: &[u8]) {
        match std::str::from_utf8(line) {
            Ok(text) => self.handle_text(text),
            Err(e) => {
                log::error!("Invalid UTF-8 from the IRC server, dropping the connection: {e}");
                if let Some(t) = self.irc.transport() {
                    t.abort_connection();
                }
            }
        }
    }

    /// [`handle_line`](Self::handle_line) for a line already decoded.
    pub fn handle_text(&mut self, line: &str) {
        // Servers end lines with CRLF: the usual trailing \r costs no copy.
        // One pass looks for the rarer bytes: another \r, or the low-level
        // quote \x10 (then the text is dequoted below).
        let line = line.strip_suffix('\r').unwrap_or(line);
        let (has_cr, has_quote) = scan(line.as_bytes());
        let cleaned = if has_cr {
            Cow::Owned(line.replace('\r', ""))
        } else {
            Cow::Borrowed(line)
        };
        let text = if has_quote {
            Cow::Owned(low_dequote(&cleaned).into_owned())
        } else {
            cleaned
        };
        let mut m = Message::default();
        match m.parse_into(&text) {
            Ok(()) => self.dispatch(&m),
            Err(e) => self.handler.bad_message(&mut self.irc, &text, &e),
        }
    }

    /// Dispatches one parsed message (what [`handle_line`](Self::handle_line)
    /// does after parsing).
    pub fn dispatch(&mut self, m: &Message<'_>) {
        self.irc.tags.clear();
        self.irc.tags.push_str(m.raw_tags);
        if self.handler.received(&mut self.irc, m) == Dispatch::Continue {
            self.builtin(m);
        }
        self.irc.tags.clear();
    }

    fn short(&self, m: &Message<'_>) {
        log::warn!("IRC message with too few parameters ignored: {m}");
    }

    fn builtin(&mut self, m: &Message<'_>) {
        if m.command == "PRIVMSG" || m.command == "NOTICE" {
            // The bulk of any server's traffic: straight there.
            return self.message(m);
        }
        let (h, irc) = (&mut self.handler, &mut self.irc);
        let p = &m.params;
        let last = p.last().copied();
        let nick = m.nick();
        match m.command {
            "PING" => match last {
                Some(x) => irc.send_line(&format!("PONG {x}")),
                None => self.short(m),
            },
            "001" => {
                irc.hostname = Some(m.prefix.to_string());
                irc.registered = true;
                irc.nickname = irc.attempted_nick.clone();
                h.signed_on(irc);
                irc.start_heartbeat();
            }
            "433" => {
                let next = h.alter_collided_nick(&irc.attempted_nick);
                irc.set_nick(&next);
            }
            "432" => {
                if !irc.registered {
                    let fallback = irc.config.erroneous_nick_fallback.clone();
                    irc.set_nick(&fallback);
                }
            }
            "464" => log::error!("Password Incorrect."),
            "JOIN" => match last {
                Some(channel) if nick == irc.nickname => h.joined(irc, channel),
                Some(channel) => h.user_joined(irc, nick, channel),
                None => self.short(m),
            },
            "PART" => match p.first() {
                Some(channel) if nick == irc.nickname => h.left(irc, channel),
                Some(channel) => h.user_left(irc, nick, channel),
                None => self.short(m),
            },
            "QUIT" => match p.first() {
                Some(msg) => h.user_quit(irc, nick, msg),
                None => self.short(m),
            },
            "MODE" if p.len() >= 2 => {
                let (channel, mut modes) = (p[0], Cow::Borrowed(p[1]));
                if !modes.starts_with(['+', '-']) {
                    modes = Cow::Owned(format!("+{modes}"));
                }
                let (add, remove) = if channel == irc.nickname {
                    (String::new(), String::new())
                } else {
                    irc.supported.channel_mode_params()
                };
                match parse_modes(&modes, &p[2..], (&add, &remove)) {
                    Err(e) => log::error!(
                        "An error occurred while parsing the following MODE message: MODE {}: {e}",
                        p.join(" ")
                    ),
                    Ok((added, removed)) => {
                        for (set, list) in [(true, added), (false, removed)] {
                            if !list.is_empty() {
                                let modes: String = list.iter().map(|(c, _)| *c).collect();
                                let args: Vec<Option<String>> =
                                    list.into_iter().map(|(_, a)| a).collect();
                                h.mode_changed(irc, m.prefix, channel, set, &modes, &args);
                            }
                        }
                    }
                }
            }
            "NICK" => match p.first() {
                Some(new) if nick == irc.nickname => {
                    irc.nickname = new.to_string();
                    h.nick_changed(irc, new);
                }
                Some(new) => h.user_renamed(irc, nick, new),
                None => self.short(m),
            },
            "KICK" if p.len() >= 2 => {
                let (channel, kicked, message) = (p[0], p[1], last.unwrap_or(""));
                if irc.supported.casemapping().eq(kicked, &irc.nickname) {
                    h.kicked_from(irc, channel, nick, message);
                } else {
                    h.user_kicked(irc, kicked, channel, nick, message);
                }
            }
            "TOPIC" if p.len() >= 2 => h.topic_updated(irc, nick, p[0], p[1]),
            "332" if p.len() >= 3 => h.topic_updated(irc, nick, p[1], p[2]),
            "331" if p.len() >= 2 => h.topic_updated(irc, nick, p[1], ""),
            "375" | "372" => {
                let Some(line) = last else {
                    return self.short(m);
                };
                let line = line.strip_prefix("- ").unwrap_or(line).to_string();
                if m.command == "375" {
                    irc.motd = Some(vec![line]);
                } else {
                    irc.motd.get_or_insert_with(Vec::new).push(line);
                }
            }
            "376" => {
                let motd = irc.motd.take().unwrap_or_default();
                h.received_motd(irc, &motd);
            }
            "002" if p.len() >= 2 => h.your_host(irc, p[1]),
            "003" if p.len() >= 2 => h.created(irc, p[1]),
            "004" if p.len() >= 2 => {
                let mut info = [None; 4];
                let mut rest = p[1];
                for (i, slot) in info.iter_mut().enumerate() {
                    rest = rest.trim_start_matches(crate::message::is_py_space);
                    if rest.is_empty() {
                        break;
                    }
                    if i == 3 {
                        *slot = Some(rest);
                        break;
                    }
                    let end = rest.find(crate::message::is_py_space).unwrap_or(rest.len());
                    *slot = Some(&rest[..end]);
                    rest = &rest[end..];
                }
                h.my_info(irc, info);
            }
            "005" if p.len() >= 2 => {
                let args = &p[1..p.len() - 1];
                irc.supported.parse(args.iter().copied());
                h.isupport(irc, args);
            }
            "010" if p.len() >= 2 => h.bounce(irc, p[1]),
            "251" if p.len() >= 2 => h.luser_client(irc, p[1]),
            "252" if p.len() >= 2 => {
                if let Some(n) = int_param(p[1]) {
                    h.luser_op(irc, n)
                }
            }
            "254" if p.len() >= 2 => {
                if let Some(n) = int_param(p[1]) {
                    h.luser_channels(irc, n)
                }
            }
            "255" if p.len() >= 2 => h.luser_me(irc, p[1]),
            "CAP" if p.len() >= 3 && irc.cap_state != CapState::Off => self.cap(m),
            "AUTHENTICATE" if irc.cap_state == CapState::Authenticating => {
                if last == Some("+")
                    && let Some((account, password)) = irc.config.sasl.clone()
                {
                    let blob = format!("{account}\0{account}\0{password}");
                    let encoded = base64(blob.as_bytes());
                    // At most 400 bytes per AUTHENTICATE line; a final
                    // exactly-400 chunk is followed by `+`.
                    let chunks: Vec<&[u8]> = encoded.as_bytes().chunks(400).collect();
                    for c in &chunks {
                        irc.send_line(&format!("AUTHENTICATE {}", String::from_utf8_lossy(c)));
                    }
                    if chunks.last().is_some_and(|c| c.len() == 400) {
                        irc.send_line("AUTHENTICATE +");
                    }
                }
            }
            "903" | "904" | "905" | "906" | "907" if irc.cap_state == CapState::Authenticating => {
                let result = if m.command == "903" {
                    Ok(())
                } else {
                    Err(m.command.to_string())
                };
                irc.cap_end();
                h.sasl_finished(irc, result);
            }
            _ => h.unknown(irc, m.prefix, m.command, p),
        }
    }

    fn message(&mut self, m: &Message<'_>) {
        let (h, irc) = (&mut self.handler, &mut self.irc);
        let p = &m.params;
        let last = p.last().copied();
        let (Some(channel), Some(message)) = (p.first().copied(), last) else {
            return log::warn!("IRC message with too few parameters ignored: {m}");
        };
        let privmsg = m.command == "PRIVMSG";
        if message.is_empty() {
            return;
        }
        if irc.echo_message && irc.supported.casemapping().eq(m.nick(), &irc.nickname) {
            // The server's copy of what this client said: neither a
            // message to answer nor a CTCP query to reply to.
            return h.message_echoed(irc, channel, message, !privmsg);
        }
        let mut text = Cow::Borrowed(message);
        if message.starts_with(X_DELIM) {
            let x = ctcp_extract(message);
            if !x.extended.is_empty() {
                if privmsg {
                    ctcp_query(h, irc, m.prefix, channel, &x.extended);
                } else {
                    ctcp_reply(h, irc, m.prefix, channel, &x.extended);
                }
            }
            if x.normal.is_empty() {
                return;
            }
            text = Cow::Owned(x.normal.join(" "));
        }
        if privmsg {
            h.privmsg(irc, m.prefix, channel, &text);
        } else {
            h.noticed(irc, m.prefix, channel, &text);
        }
    }

    fn cap(&mut self, m: &Message<'_>) {
        let (h, irc) = (&mut self.handler, &mut self.irc);
        let p = &m.params;
        let sub = p[1];
        let list = p.last().copied().unwrap_or("");
        match sub {
            "LS" if irc.cap_state == CapState::Listing => {
                irc.offered.extend(cap_names(list).map(String::from));
                if p.len() >= 4 && p[2] == "*" {
                    return; // more LS lines follow
                }
                let mut wanted: Vec<String> = irc.config.capabilities.clone();
                if irc.config.sasl.is_some() && !wanted.iter().any(|c| c == "sasl") {
                    wanted.push("sasl".into());
                }
                let req: Vec<&str> = wanted
                    .iter()
                    .filter(|w| irc.offered.iter().any(|o| o == *w))
                    .map(String::as_str)
                    .collect();
                if req.is_empty() {
                    irc.cap_end();
                } else {
                    let line = format!("CAP REQ :{}", req.join(" "));
                    irc.cap_state = CapState::Requested;
                    irc.send_line(&line);
                }
            }
            "ACK" => {
                let caps: Vec<&str> = list.split(' ').filter(|s| !s.is_empty()).collect();
                for c in &caps {
                    match c.strip_prefix('-') {
                        Some(off) => {
                            irc.enabled.remove(off);
                        }
                        None => {
                            irc.enabled.insert(c.to_string());
                        }
                    }
                }
                irc.echo_message = irc.enabled.contains("echo-message");
                h.capabilities_acknowledged(irc, &caps);
                if irc.cap_state == CapState::Requested {
                    if irc.enabled.contains("sasl") && irc.config.sasl.is_some() {
                        irc.cap_state = CapState::Authenticating;
                        irc.send_line("AUTHENTICATE PLAIN");
                    } else {
                        irc.cap_end();
                    }
                }
            }
            "NAK" if irc.cap_state == CapState::Requested => irc.cap_end(),
            "NAK" => log::info!("the IRC server refused the capabilities {list:?}"),
            "NEW" => {
                let caps: Vec<&str> = cap_names(list).collect();
                for c in &caps {
                    if !irc.offered.iter().any(|o| o == c) {
                        irc.offered.push(c.to_string());
                    }
                }
                let wanted: Vec<&str> = caps
                    .iter()
                    .copied()
                    .filter(|c| irc.config.capabilities.iter().any(|w| w == c))
                    .filter(|c| !irc.enabled.contains(*c))
                    .collect();
                if !wanted.is_empty() {
                    irc.send_line(&format!("CAP REQ :{}", wanted.join(" ")));
                }
                h.capabilities_offered(irc, &caps);
            }
            "DEL" => {
                let caps: Vec<&str> = cap_names(list).collect();
                irc.offered.retain(|o| !caps.contains(&o.as_str()));
                for c in &caps {
                    irc.enabled.remove(*c);
                }
                irc.echo_message = irc.enabled.contains("echo-message");
                h.capabilities_withdrawn(irc, &caps);
            }
            _ => {}
        }
    }
}

/// The capability names of a `CAP LS`/`NEW`/`DEL` list, values (`=…`)
/// left off.
fn cap_names(list: &str) -> impl Iterator<Item = &str> {
    list.split(' ')
        .filter(|s| !s.is_empty())
        .map(|s| s.split_once('=').map_or(s, |(k, _)| k))
}

fn ctcp_query<H: IrcHandler>(
    h: &mut H,
    irc: &mut Irc,
    user: &str,
    channel: &str,
    messages: &[(String, Option<String>)],
) {
    let mut seen: Vec<&str> = Vec::new();
    let nick = nick_of(user);
    for (tag, data) in messages {
        if seen.contains(&tag.as_str()) {
            continue;
        }
        seen.push(tag);
        let data = data.as_deref();
        let quirk = |what: &str| {
            if let Some(d) = data {
                log::info!("Why did {user} send '{d}' with a {what} query?\n");
            }
        };
        match tag.as_str() {
            "ACTION" => h.action(irc, user, channel, data.unwrap_or("")),
            "PING" => irc.ctcp_make_reply(nick, &[("PING", data)]),
            "FINGER" => {
                quirk("FINGER");
                if let Some(r) = irc.config.finger_reply.clone().filter(|r| !r.is_empty()) {
                    irc.ctcp_make_reply(nick, &[("FINGER", Some(&r))]);
                }
            }
            "VERSION" => {
                quirk("VERSION");
                if let Some(name) = irc.config.version_name.clone().filter(|n| !n.is_empty()) {
                    let c = &irc.config;
                    let v = format!(
                        "{name}:{}:{}",
                        c.version_num.as_deref().unwrap_or(""),
                        c.version_env.as_deref().unwrap_or("")
                    );
                    irc.ctcp_make_reply(nick, &[("VERSION", Some(&v))]);
                }
            }
            "SOURCE" => {
                quirk("SOURCE");
                if let Some(url) = irc.config.source_url.clone().filter(|u| !u.is_empty()) {
                    irc.ctcp_make_reply(nick, &[("SOURCE", Some(&url)), ("SOURCE", None)]);
                }
            }
            "USERINFO" => {
                quirk("USERINFO");
                if let Some(u) = irc.config.userinfo.clone().filter(|u| !u.is_empty()) {
                    irc.ctcp_make_reply(nick, &[("USERINFO", Some(&u))]);
                }
            }
            "CLIENTINFO" => match data.filter(|d| !d.is_empty()) {
                None => irc.ctcp_make_reply(
                    nick,
                    &[("CLIENTINFO", Some(SUPPORTED_QUERIES.join(" ").as_str()))],
                ),
                Some(d) => {
                    let first = d
                        .split(crate::message::is_py_space)
                        .find(|s| !s.is_empty())
                        .unwrap_or("");
                    if SUPPORTED_QUERIES.contains(&first) {
                        // Twisted answers with the method's docstring.
                        irc.ctcp_make_reply(nick, &[("CLIENTINFO", None)]);
                    } else {
                        let e = format!("CLIENTINFO {d} :Unknown query '{first}'");
                        irc.ctcp_make_reply(nick, &[("ERRMSG", Some(&e))]);
                    }
                }
            },
            "ERRMSG" => {
                let e = format!("{} :No error has occurred.", data.unwrap_or("None"));
                irc.ctcp_make_reply(nick, &[("ERRMSG", Some(&e))]);
            }
            "TIME" => {
                quirk("TIME");
                let now = gyre::log::unix_seconds(SystemTime::now());
                let t = format!(":{}", gyre::log::TimeZone::local().civil(now).asctime());
                irc.ctcp_make_reply(nick, &[("TIME", Some(&t))]);
            }
            "DCC" => {
                let Some(d) = data.filter(|d| !d.is_empty()) else {
                    continue;
                };
                let kind = d
                    .split(crate::message::is_py_space)
                    .find(|s| !s.is_empty())
                    .unwrap_or("")
                    .to_uppercase();
                if ["SEND", "ACCEPT", "RESUME", "CHAT"].contains(&kind.as_str()) {
                    let rest = d.get(kind.len() + 1..).unwrap_or("");
                    h.dcc_query(irc, user, channel, &kind, rest);
                } else {
                    let e = format!("DCC {d} :Unknown DCC type '{kind}'");
                    irc.ctcp_make_reply(nick, &[("ERRMSG", Some(&e))]);
                    log::info!("{user} offered unknown DCC type {kind}\n");
                }
            }
            other => h.ctcp_unknown_query(irc, user, channel, other, data),
        }
    }
}

/// The CTCP queries answered, sorted (the `CLIENTINFO` answer). Of DCC,
/// only the dispatch is implemented: `SEND`, `ACCEPT`, `RESUME` and `CHAT`
/// go to [`IrcHandler::dcc_query`], other types get Twisted's `ERRMSG`.
pub const SUPPORTED_QUERIES: &[&str] = &[
    "ACTION",
    "CLIENTINFO",
    "DCC",
    "ERRMSG",
    "FINGER",
    "PING",
    "SOURCE",
    "TIME",
    "USERINFO",
    "VERSION",
];

fn ctcp_reply<H: IrcHandler>(
    h: &mut H,
    irc: &mut Irc,
    user: &str,
    channel: &str,
    messages: &[(String, Option<String>)],
) {
    for (tag, data) in messages {
        if tag == "PING" {
            let nick = nick_of(user).to_string();
            let key = (nick, data.clone().unwrap_or_default());
            match irc.pings.get(&key) {
                Some(t0) => {
                    let secs = irc.clock.now().saturating_duration_since(*t0).as_secs_f64();
                    h.pong(irc, user, secs);
                }
                None => log::warn!("Bogus PING response from {user}: {data:?}"),
            }
        } else {
            h.ctcp_unknown_reply(irc, user, channel, tag, data.as_deref());
        }
    }
}

impl<H: IrcHandler> LineReceiver for IrcClient<H> {
    fn connection_made(&mut self, conn: &LineConnection<'_>) {
        self.irc.outbox.borrow_mut().transport = Some(conn.transport().clone());
        self.irc.supported = ServerSupport::default();
        self.handler.connection_made(&mut self.irc);
        let ircv3 = !self.irc.config.capabilities.is_empty() || self.irc.config.sasl.is_some();
        if ircv3 {
            self.irc.cap_state = CapState::Listing;
            self.irc.send_line("CAP LS 302");
        }
        if self.irc.config.perform_login {
            let nick = self.irc.config.nickname.clone();
            self.irc.register(&nick);
        }
    }

    fn line_received(&mut self, _conn: &LineConnection<'_>, line: &[u8]) {
        self.handle_line(line);
    }

    fn utf8_lines(&self) -> bool {
        true
    }

    fn text_line_received(&mut self, _conn: &LineConnection<'_>, line: &str) {
        self.handle_text(line);
    }

    fn connection_lost(&mut self, reason: Reason) {
        self.irc.stop_heartbeat();
        {
            let mut ob = self.irc.outbox.borrow_mut();
            if let Some(t) = ob.timer.take() {
                let _ = t.cancel();
            }
            ob.queue.clear();
        }
        self.handler.connection_lost(&mut self.irc, &reason);
    }

    fn delimiter(&self) -> &[u8] {
        b"\n"
    }
}
