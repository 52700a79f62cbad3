//! The log bot over `StringTransport`: the verified session of reference
//! §10.7, byte for byte on the wire and line for line in the file.

use std::cell::Cell;
use std::rc::Rc;

use gyre::testing::{StringTransport, VirtualClock};
use gyre::{Protocol, Reason};
use gyre_irc::logbot::{ConnectionEnded, LogBot, LogBotOptions};

struct Ended(Rc<Cell<Option<bool>>>);
impl ConnectionEnded for Ended {
    fn connection_ended(&self, signed_on: bool) {
        self.0.set(Some(signed_on));
    }
}

#[test]
fn the_reference_session() {
    let dir = std::env::temp_dir().join(format!("gyre-logbot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("test.log");
    let _ = std::fs::remove_file(&path);
    let ended = Rc::new(Cell::new(None));
    let options = LogBotOptions {
        nickname: "twistedbot".into(),
        channel: "test".into(),
        path: path.clone(),
    };
    let mut bot = LogBot::new(options, Rc::new(Ended(ended.clone()))).protocol(VirtualClock::new());
    let wire = StringTransport::new();
    wire.make_connection(&mut bot);
    let input: &[&[u8]] = &[
        b":srv 433 * twistedbot :Nickname is already in use\r\n",
        b":srv 001 twistedbot^ :Welcome\r\n",
        b":twistedbot^!u@h JOIN :#test\r\n",
        b":alice!a@h PRIVMSG #test :hello everyone\r\n",
        b":alice!a@h PRIVMSG #test :twistedbot^: who are you?\r\n",
        b":alice!a@h PRIVMSG #test :\x01ACTION waves\x01\r\n",
        b":alice!a@h PRIVMSG twistedbot^ :psst\r\n",
        b":alice!a@h NICK :alice2\r\n",
        b":alice2!a@h NOTICE #test :not logged\r\n",
        b":bob!b@h JOIN #test\r\n",
        b":alice2!a@h PRIVMSG #test :twistedbot: the old nick is not addressed\r\n",
    ];
    for chunk in input {
        bot.data_received(&wire.transport(), chunk);
    }
    bot.connection_lost(Reason::Done);
    assert_eq!(
        String::from_utf8(wire.value()).unwrap(),
        concat!(
            "NICK twistedbot\r\n",
            "USER twistedbot foo bar :None\r\n",
            "NICK twistedbot^\r\n",
            "JOIN #test\r\n",
            "PRIVMSG #test :alice: I am a log bot\r\n",
            "PRIVMSG alice :It isn't nice to whisper!  Play nice with the group.\r\n",
        )
    );
    assert_eq!(ended.get(), Some(true), "the connection had signed on");
    let log = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = log.lines().map(|l| &l[11..]).collect();
    assert!(
        log.lines()
            .all(|l| l.as_bytes()[0] == b'[' && l.as_bytes()[3] == b':' && &l[9..11] == "] "),
        "{log}"
    );
    assert!(
        lines[0].starts_with("[connected at ")
            && lines[lines.len() - 1].starts_with("[disconnected at ")
    );
    assert_eq!(
        lines[1..lines.len() - 1],
        [
            "[I have joined #test]",
            "<alice> hello everyone",
            "<alice> twistedbot^: who are you?",
            "<twistedbot^> alice: I am a log bot",
            "* alice waves",
            "<alice> psst",
            "alice is now known as alice2",
            "<alice2> twistedbot: the old nick is not addressed",
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
