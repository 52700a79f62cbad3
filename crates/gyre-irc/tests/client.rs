//! Behaviour that Twisted's transcripts cannot show: invalid input,
//! flood protection on the virtual clock, IRCv3 (tags, server time, CAP,
//! SASL), and the message parser's laws.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use gyre::Protocol;
use gyre::testing::{StringTransport, VirtualClock};
use gyre_irc::message::{escape_tag_value, serialize, unescape_tag_value};
use gyre_irc::{Irc, IrcClient, IrcConfig, IrcHandler, IrcProtocol, Message, ParseError};
use proptest::prelude::*;

#[derive(Default)]
struct Seen {
    privmsgs: Vec<(String, String, String)>,
    tags: Vec<Vec<(String, Option<String>)>>,
    times: Vec<Option<SystemTime>>,
    bad: Vec<String>,
    sasl: Vec<Result<(), String>>,
    acked: Vec<String>,
    offered: Vec<String>,
    withdrawn: Vec<String>,
    echoed: Vec<(String, String, bool)>,
}

struct Keep(Rc<RefCell<Seen>>);

impl IrcHandler for Keep {
    fn privmsg(&mut self, irc: &mut Irc, user: &str, channel: &str, message: &str) {
        let mut s = self.0.borrow_mut();
        s.privmsgs
            .push((user.into(), channel.into(), message.into()));
        s.tags.push(
            irc.tags()
                .map(|(k, v)| (k.to_string(), v.map(|v| v.into_owned())))
                .collect(),
        );
        s.times.push(irc.server_time());
    }
    fn bad_message(&mut self, _: &mut Irc, line: &str, error: &ParseError) {
        self.0.borrow_mut().bad.push(format!("{line:?}: {error}"));
    }
    fn sasl_finished(&mut self, _: &mut Irc, result: Result<(), String>) {
        self.0.borrow_mut().sasl.push(result);
    }
    fn capabilities_acknowledged(&mut self, _: &mut Irc, caps: &[&str]) {
        self.0
            .borrow_mut()
            .acked
            .extend(caps.iter().map(|c| c.to_string()));
    }
    fn capabilities_offered(&mut self, _: &mut Irc, caps: &[&str]) {
        let mut s = self.0.borrow_mut();
        s.offered.extend(caps.iter().map(|c| c.to_string()));
    }
    fn capabilities_withdrawn(&mut self, _: &mut Irc, caps: &[&str]) {
        let mut s = self.0.borrow_mut();
        s.withdrawn.extend(caps.iter().map(|c| c.to_string()));
    }
    fn message_echoed(&mut self, _: &mut Irc, target: &str, message: &str, notice: bool) {
        let mut s = self.0.borrow_mut();
        s.echoed.push((target.into(), message.into(), notice));
    }
}

/// The capabilities enabled now, sorted.
fn enabled(p: &IrcProtocol<Keep>) -> Vec<String> {
    let mut e: Vec<String> = p
        .handler()
        .irc()
        .enabled_capabilities()
        .map(String::from)
        .collect();
    e.sort();
    e
}

/// A client that asked for `caps`, was offered `offered`, had what it
/// requested acknowledged and is registered as `bot`.
fn negotiated(
    caps: &[&str],
    offered: &str,
) -> (IrcProtocol<Keep>, StringTransport, Rc<RefCell<Seen>>) {
    let config = IrcConfig {
        capabilities: caps.iter().map(|c| c.to_string()).collect(),
        ..IrcConfig::with_nickname("bot")
    };
    let (mut p, t, _, seen) = connect(config);
    text(&t);
    p.data_received(
        &t.transport(),
        format!(":srv CAP * LS :{offered}\r\n").as_bytes(),
    );
    let req = text(&t);
    let asked = req
        .strip_prefix("CAP REQ :")
        .and_then(|r| r.strip_suffix("\r\n"));
    let asked = asked.expect("a CAP REQ").to_string();
    p.data_received(
        &t.transport(),
        format!(":srv CAP bot ACK :{asked}\r\n:srv 001 bot :hi\r\n").as_bytes(),
    );
    assert_eq!(text(&t), "CAP END\r\n");
    (p, t, seen)
}

fn connect(
    config: IrcConfig,
) -> (
    IrcProtocol<Keep>,
    StringTransport,
    VirtualClock,
    Rc<RefCell<Seen>>,
) {
    let seen = Rc::new(RefCell::new(Seen::default()));
    let clock = VirtualClock::new();
    let mut p = IrcClient::protocol(config, Keep(seen.clone()), clock.clone());
    let t = StringTransport::new();
    t.make_connection(&mut p);
    (p, t, clock, seen)
}

fn text(t: &StringTransport) -> String {
    let v = String::from_utf8(t.value()).expect("utf-8");
    t.clear();
    v
}

#[test]
fn invalid_utf8_drops_the_connection() {
    let (mut p, t, _, seen) = connect(IrcConfig::default());
    p.data_received(
        &t.transport(),
        b":a!b@c PRIVMSG #c :ok\r\n:a!b@c PRIVMSG #c :\xff\r\n:a!b@c PRIVMSG #c :late\r\n",
    );
    assert!(t.is_disconnecting() || t.is_aborted());
    let msgs: Vec<String> = seen.borrow().privmsgs.iter().map(|m| m.2.clone()).collect();
    assert_eq!(msgs, ["ok"], "nothing after the bad line is delivered");
}

#[test]
fn unparsable_lines_are_reported_and_the_connection_stays() {
    let (mut p, t, _, seen) = connect(IrcConfig::default());
    p.data_received(
        &t.transport(),
        b"\r\n:onlyprefix\r\n   \r\n@tags-only\r\n:a!b@c PRIVMSG #c :after\r\n",
    );
    assert!(!t.is_disconnecting());
    assert_eq!(seen.borrow().bad.len(), 4, "{:?}", seen.borrow().bad);
    assert_eq!(seen.borrow().bad[0], "\"\": Empty line.");
    assert_eq!(seen.borrow().privmsgs.len(), 1);
}

#[test]
fn line_rate_sends_the_first_line_at_once_then_one_per_interval() {
    let config = IrcConfig {
        line_rate: Some(Duration::from_secs(1)),
        ..IrcConfig::with_nickname("bot")
    };
    let (mut p, t, clock, _) = connect(config);
    assert_eq!(text(&t), "NICK bot\r\n", "USER waits for its turn");
    clock.advance(Duration::from_millis(999));
    assert_eq!(text(&t), "");
    clock.advance(Duration::from_millis(1));
    assert_eq!(text(&t), "USER bot foo bar :None\r\n");
    p.handler_mut().irc_mut().msg("#c", "a\nb", None).unwrap();
    clock.advance(Duration::from_secs(1));
    assert_eq!(text(&t), "PRIVMSG #c :a\r\n");
    clock.advance(Duration::from_secs(1));
    assert_eq!(text(&t), "PRIVMSG #c :b\r\n");
    clock.advance(Duration::from_secs(5));
    p.handler_mut().irc_mut().quit("bye");
    assert_eq!(text(&t), "QUIT :bye\r\n", "an idle queue sends at once");
}

#[test]
fn keepalive_stops_with_the_connection() {
    let (mut p, t, clock, _) = connect(IrcConfig::default());
    p.data_received(&t.transport(), b":srv 001 irc :hi\r\n");
    text(&t);
    p.connection_lost(gyre::Reason::Done);
    clock.advance(Duration::from_secs(600));
    assert_eq!(text(&t), "");
    assert!(clock.pending_calls().is_empty());
}

#[test]
fn tags_and_server_time_reach_the_handler() {
    let (mut p, t, _, seen) = connect(IrcConfig::default());
    p.data_received(
        &t.transport(),
        b"@time=2011-10-19T16:40:51.620Z;msgid=a\\:b\\sc;flag :n!u@h PRIVMSG #c :hi\r\n:n!u@h PRIVMSG #c :plain\r\n",
    );
    let s = seen.borrow();
    assert_eq!(
        s.tags[0],
        [
            (
                "time".to_string(),
                Some("2011-10-19T16:40:51.620Z".to_string())
            ),
            ("msgid".to_string(), Some("a;b c".to_string())),
            ("flag".to_string(), None),
        ]
    );
    let expected = SystemTime::UNIX_EPOCH + Duration::from_millis(1_319_042_451_620);
    assert_eq!(s.times, [Some(expected), None]);
    assert!(s.tags[1].is_empty());
}

#[test]
fn cap_negotiation_and_sasl_plain() {
    let config = IrcConfig {
        capabilities: vec![
            "message-tags".into(),
            "server-time".into(),
            "echo-message".into(),
        ],
        sasl: Some(("acct".into(), "pw".into())),
        ..IrcConfig::with_nickname("bot")
    };
    let (mut p, t, _, seen) = connect(config);
    assert_eq!(
        text(&t),
        "CAP LS 302\r\nNICK bot\r\nUSER bot foo bar :None\r\n"
    );
    p.data_received(
        &t.transport(),
        b":srv CAP * LS * :multi-prefix sasl=PLAIN,EXTERNAL\r\n",
    );
    assert_eq!(text(&t), "", "a continued LS waits for the rest");
    p.data_received(
        &t.transport(),
        b":srv CAP * LS :server-time message-tags\r\n",
    );
    assert_eq!(text(&t), "CAP REQ :message-tags server-time sasl\r\n");
    p.data_received(
        &t.transport(),
        b":srv CAP bot ACK :message-tags server-time sasl\r\n",
    );
    assert_eq!(text(&t), "AUTHENTICATE PLAIN\r\n");
    p.data_received(&t.transport(), b"AUTHENTICATE +\r\n");
    // base64("acct\0acct\0pw")
    assert_eq!(text(&t), "AUTHENTICATE YWNjdABhY2N0AHB3\r\n");
    p.data_received(
        &t.transport(),
        b":srv 900 bot bot!u@h acct :logged in\r\n:srv 903 bot :SASL ok\r\n",
    );
    assert_eq!(text(&t), "CAP END\r\n");
    assert_eq!(seen.borrow().sasl, [Ok(())]);
    assert_eq!(seen.borrow().acked, ["message-tags", "server-time", "sasl"]);
    let mut enabled: Vec<&str> = p.handler().irc().enabled_capabilities().collect();
    enabled.sort();
    assert_eq!(enabled, ["message-tags", "sasl", "server-time"]);
}

#[test]
fn cap_nak_and_nothing_offered_end_negotiation() {
    let config = IrcConfig {
        capabilities: vec!["echo-message".into()],
        ..IrcConfig::default()
    };
    let (mut p, t, _, _) = connect(config.clone());
    text(&t);
    p.data_received(&t.transport(), b":srv CAP * LS :sasl\r\n");
    assert_eq!(text(&t), "CAP END\r\n");
    let (mut p, t, _, _) = connect(config);
    text(&t);
    p.data_received(
        &t.transport(),
        b":srv CAP * LS :echo-message\r\n:srv CAP * NAK :echo-message\r\n",
    );
    assert_eq!(text(&t), "CAP REQ :echo-message\r\nCAP END\r\n");
}

/// `cap-notify` (on with `CAP LS 302`): a new capability the client wants
/// is requested and enabled once acknowledged, with no second `CAP END`;
/// one it does not want, or has, is not; a withdrawn one is disabled.
#[test]
fn cap_new_and_del_after_registration() {
    let (mut p, t, seen) = negotiated(&["message-tags", "echo-message"], "message-tags");
    assert_eq!(enabled(&p), ["message-tags"]);
    p.data_received(
        &t.transport(),
        b":srv CAP bot NEW :echo-message away-notify=x\r\n",
    );
    assert_eq!(text(&t), "CAP REQ :echo-message\r\n");
    assert_eq!(seen.borrow().offered, ["echo-message", "away-notify"]);
    p.data_received(&t.transport(), b":srv CAP bot ACK :echo-message\r\n");
    assert_eq!(text(&t), "", "negotiation ended already: no CAP END");
    assert_eq!(enabled(&p), ["echo-message", "message-tags"]);
    p.data_received(
        &t.transport(),
        b":srv CAP bot NEW :message-tags chghost\r\n",
    );
    assert_eq!(text(&t), "", "nothing new that is wanted");
    p.data_received(
        &t.transport(),
        b":srv CAP bot DEL :echo-message chghost\r\n",
    );
    assert_eq!(seen.borrow().withdrawn, ["echo-message", "chghost"]);
    assert_eq!(enabled(&p), ["message-tags"]);
    let offered: Vec<&str> = p.handler().irc().offered_capabilities().collect();
    assert_eq!(offered, ["message-tags", "away-notify"]);
    // Offered again: requested again.
    p.data_received(&t.transport(), b":srv CAP bot NEW :echo-message\r\n");
    assert_eq!(text(&t), "CAP REQ :echo-message\r\n");
}

/// With `echo-message`, the server's copies of the client's own messages
/// go to `message_echoed` (CTCP left as sent, never answered), others'
/// messages as before; once withdrawn, a message from the client's own
/// nick is an ordinary message again (as without IRCv3, Twisted's way).
#[test]
fn echo_message_copies_are_not_messages() {
    let (mut p, t, seen) = negotiated(&["echo-message"], "echo-message");
    p.data_received(
        &t.transport(),
        b":bot!u@h PRIVMSG #c :hello\r\n:BOT!u@h PRIVMSG alice :\x01VERSION\x01\r\n:bot!u@h NOTICE #c :note\r\n:alice!u@h PRIVMSG #c :hi\r\n",
    );
    assert_eq!(text(&t), "", "no CTCP reply to the client's own query");
    assert_eq!(
        seen.borrow().echoed,
        [
            ("#c".to_string(), "hello".to_string(), false),
            ("alice".to_string(), "\x01VERSION\x01".to_string(), false),
            ("#c".to_string(), "note".to_string(), true),
        ]
    );
    assert_eq!(
        seen.borrow().privmsgs,
        [("alice!u@h".to_string(), "#c".to_string(), "hi".to_string())]
    );
    p.data_received(
        &t.transport(),
        b":srv CAP bot DEL :echo-message\r\n:bot!u@h PRIVMSG #c :again\r\n",
    );
    assert_eq!(seen.borrow().echoed.len(), 3);
    assert_eq!(seen.borrow().privmsgs[1].2, "again");
}

#[test]
fn sasl_failure_ends_negotiation_and_says_so() {
    let config = IrcConfig {
        sasl: Some(("a".into(), "b".into())),
        ..IrcConfig::default()
    };
    let (mut p, t, _, seen) = connect(config);
    text(&t);
    p.data_received(
        &t.transport(),
        b":s CAP * LS :sasl\r\n:s CAP * ACK :sasl\r\nAUTHENTICATE +\r\n:s 904 irc :failed\r\n",
    );
    assert!(text(&t).ends_with("CAP END\r\n"));
    assert_eq!(seen.borrow().sasl, [Err("904".to_string())]);
}

#[test]
fn serialize_refuses_what_cannot_be_a_line() {
    assert!(serialize(&[], "", "PRIVMSG", &["a b", "x"]).is_err());
    assert!(serialize(&[], "", "PRIVMSG", &["#c", "x\r\ny"]).is_err());
    assert!(serialize(&[], "", "", &[]).is_err());
    assert!(serialize(&[("a b", None)], "", "X", &[]).is_err());
    assert_eq!(
        serialize(&[], "n!u@h", "PRIVMSG", &["#c", ""]).unwrap(),
        ":n!u@h PRIVMSG #c :"
    );
}

proptest! {
    /// The one-pass parser agrees with Twisted's `parsemsg` stated plainly
    /// (tags off the front, then the prefix, then the first `" :"`, then
    /// `str.split()`), on lines made of the characters that matter.
    #[test]
    fn parse_agrees_with_parsemsg_stated_plainly(
        line in "[ :@ab!~\t\x0b\x1f\x01\x7f\u{2003}\u{e9}\u{a0}]{0,30}",
    ) {
        let got = Message::parse(&line)
            .ok()
            .map(|m| (m.raw_tags, m.prefix, m.command, m.params.to_vec()));
        prop_assert_eq!(got, parsemsg_plainly(&line), "{:?}", line);
    }

    #[test]
    fn tag_values_round_trip(v in "\\PC*") {
        let escaped = escape_tag_value(&v);
        prop_assert_eq!(unescape_tag_value(&escaped), v.as_str());
    }

    #[test]
    fn serialized_messages_parse_back(
        prefix in "([a-z]{1,5}(![a-z]{1,3}@[a-z.]{1,8})?)?",
        command in "[A-Z]{1,8}|[0-9]{3}",
        middles in proptest::collection::vec("[!-9;-~][!-~\u{e9}\u{2603}]{0,6}", 0..5),
        trailing in proptest::option::of("[^\r\n\0]{0,20}"),
        tags in proptest::collection::vec(("[a-z+/.-]{1,6}", proptest::option::of("[^\0\r\n]{0,8}")), 0..3),
    ) {
        let mut params: Vec<&str> = middles.iter().map(String::as_str).collect();
        if let Some(t) = &trailing { params.push(t); }
        let tag_refs: Vec<(&str, Option<&str>)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_deref())).collect();
        let line = serialize(&tag_refs, &prefix, &command, &params).unwrap();
        let m = Message::parse(&line).unwrap();
        prop_assert_eq!(m.prefix, prefix.as_str());
        prop_assert_eq!(m.command, command.as_str());
        prop_assert_eq!(&m.params, &params);
        let got: Vec<(String, Option<String>)> = m.tags().map(|(k, v)| (k.to_string(), v.map(|v| v.into_owned()))).collect();
        let want: Vec<(String, Option<String>)> = tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn parse_never_panics(line in "\\PC{0,60}") {
        if let Ok(m) = Message::parse(&line) {
            let again = m.to_string();
            let m2 = Message::parse(&again).unwrap();
            prop_assert_eq!(m2.command, m.command);
        }
    }
}

#[test]
fn many_parameters_and_python_whitespace() {
    let line: String = (0..20).map(|i| format!("p{i} ")).collect::<String>() + ":last one";
    let line = format!("CMD {line}");
    let m = Message::parse(&line).unwrap();
    assert_eq!(m.params.len(), 21);
    assert_eq!(m.params[7], "p7");
    assert_eq!(m.params[8], "p8");
    assert_eq!(m.params[20], "last one");
    // str.split() splits on tabs, \x1c-\x1f and Unicode spaces, not on NBSP-free text.
    let m = Message::parse("CMD a\tb\x1fc\u{2003}d\u{e9} :t").unwrap();
    assert_eq!(m.params, ["a", "b", "c", "d\u{e9}", "t"]);
}

#[test]
fn odd_commands_write_back_to_the_same_message() {
    // Found by the irc_message fuzz target: " @" parses (command "@").
    for line in [" @", "\t:x a", "@t=1 \t@c :x", "\x01\x0b: x"] {
        let m = Message::parse(line).unwrap();
        let again = m.to_string();
        assert_eq!(Message::parse(&again).unwrap(), m, "{line:?} -> {again:?}");
    }
}

/// Twisted's `parsemsg` as its text states it, after the IRCv3 tag section
/// gyre-irc takes off first: the reference the parser is checked against.
#[allow(clippy::type_complexity)]
fn parsemsg_plainly(line: &str) -> Option<(&str, &str, &str, Vec<&str>)> {
    if line.is_empty() {
        return None;
    }
    let mut s = line;
    let mut tags = "";
    if let Some(rest) = s.strip_prefix('@') {
        let (t, rest) = rest.split_once(' ')?;
        tags = t;
        s = rest.trim_start_matches(' ');
    }
    let mut prefix = "";
    if let Some(rest) = s.strip_prefix(':') {
        let (p, rest) = rest.split_once(' ')?;
        prefix = p;
        s = rest;
    }
    let (head, trailing) = match s.find(" :") {
        Some(at) => (&s[..at], Some(&s[at + 2..])),
        None => (s, None),
    };
    // Python's str.isspace: Unicode White_Space plus \x1c-\x1f.
    let space = |c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c);
    let mut words = head.split(space).filter(|w| !w.is_empty());
    let command = words.next()?;
    let mut params: Vec<&str> = words.collect();
    params.extend(trailing);
    Some((tags, prefix, command, params))
}
