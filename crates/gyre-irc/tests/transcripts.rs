//! Transcript tests: the client over `StringTransport` and `VirtualClock`.
//!
//! Each script runs through gyre-irc; the expected output comes from
//! reference §10 where it states it, and every script is also run through
//! Twisted's own `IRCClient` (the venv's Python) and must give the same
//! lines: bytes written and callbacks called, step by step.

mod common;

use common::{run_gyre, run_twisted};

/// Runs `script` on both sides; they must agree. Returns gyre's output.
fn both(script: &str) -> Vec<String> {
    let ours = run_gyre(script);
    let theirs = run_twisted(script);
    assert_eq!(
        ours, theirs,
        "gyre (left) and Twisted (right) differ on:\n{script}"
    );
    ours
}

fn w(s: &str) -> String {
    format!("W {s}")
}

const WELCOME: &str = "recv\t:srv.example 001 bot :Welcome\\r\\n";

#[test]
fn registration_without_password_sends_user_with_none() {
    let out = both("config\tnickname\ttwistedbot\nconnect\n");
    assert_eq!(
        out,
        [w(
            "NICK twistedbot\\x0d\\x0aUSER twistedbot foo bar :None\\x0d\\x0a"
        )]
    );
}

#[test]
fn registration_with_password_username_realname() {
    let out = both(
        "config\tnickname\tbot\nconfig\tpassword\tsecret\nconfig\tusername\tu\nconfig\trealname\tReal Name\nconnect\n",
    );
    assert_eq!(
        out,
        [w(
            "PASS secret\\x0d\\x0aNICK bot\\x0d\\x0aUSER u foo bar :Real Name\\x0d\\x0a"
        )]
    );
}

#[test]
fn nick_collision_twice_then_welcome_sets_the_nick() {
    let script = format!(
        "config\tnickname\tirc\nconnect\nrecv\t:srv 433 * irc :in use\\r\\n\nrecv\t:srv 433 * irc_ :in use\\r\\n\n{WELCOME}\nrecv\t:irc__!u@h JOIN #c\\r\\n\n"
    );
    let out = both(&script);
    assert_eq!(out[1], w("NICK irc_\\x0d\\x0a"));
    assert_eq!(out[2], w("NICK irc__\\x0d\\x0a"));
    assert_eq!(out[3], "E signedOn");
    // 001 made irc__ our nick: our own JOIN is `joined`.
    assert_eq!(out[4], "E joined|#c");
}

#[test]
fn erroneous_nick_before_registration_falls_back() {
    let script = format!(
        "connect\nrecv\t:srv 432 * b@d :Erroneous\\r\\n\n{WELCOME}\nrecv\t:srv 432 * x :Erroneous\\r\\n\n"
    );
    let out = both(&script);
    assert_eq!(out[1], w("NICK defaultnick\\x0d\\x0a"));
    assert_eq!(out.len(), 3, "no fallback after registration: {out:?}");
}

#[test]
fn ping_forms_are_answered_with_the_last_parameter() {
    let out =
        both("connect\nrecv\tPING srv\\r\\n\nrecv\tPING :srv two\\r\\n\nrecv\t:p PING a b\\r\\n\n");
    assert_eq!(
        &out[1..],
        [
            w("PONG srv\\x0d\\x0a"),
            w("PONG srv two\\x0d\\x0a"),
            w("PONG b\\x0d\\x0a")
        ]
    );
}

#[test]
fn keepalive_pings_every_120_seconds_after_welcome() {
    let script = format!("connect\n{WELCOME}\nadvance\t119\nadvance\t1\nadvance\t120\n");
    let out = both(&script);
    assert_eq!(
        &out[2..],
        [
            w("PING srv.example\\x0d\\x0a"),
            w("PING srv.example\\x0d\\x0a")
        ]
    );
}

#[test]
fn message_splitting_959_characters() {
    // Reference §10.6: 959 characters to #test → lines of 398, 398, 206 bytes.
    let words: Vec<String> = (0..160).map(|i| format!("w{i:04}")).collect();
    let mut text = words.join(" ");
    text.truncate(959);
    assert_eq!(text.len(), 959);
    let out = both(&format!("connect\ncall\tmsg\t#test\t{text}\n"));
    let lines: Vec<usize> = out[1]
        .trim_start_matches("W ")
        .split("\\x0d\\x0a")
        .filter(|l| !l.is_empty())
        .map(str::len)
        .collect();
    assert_eq!(lines, [398, 398, 206]);
}

#[test]
fn message_splitting_rules() {
    let out = both(concat!(
        "connect\n",
        "call\tmsg\t#test\tline1\\nline2\n",
        "call\tmsg\t#test\tabcdefghij\t#int:25\n",
        "call\tmsg\t#test\thello\t#int:10\n",
        "call\tmsg\t#test\t\n",
        "call\tmsg\t#test\t   \n",
        "call\tnotice\tbob\ta\\tb  c\n",
    ));
    assert_eq!(
        &out[1..],
        [
            w("PRIVMSG #test :line1\\x0d\\x0aPRIVMSG #test :line2\\x0d\\x0a"),
            w("PRIVMSG #test :abcdefgh\\x0d\\x0aPRIVMSG #test :ij\\x0d\\x0a"),
            "X Maximum length must exceed 17 for message to #test".to_string(),
            w("NOTICE bob :a       b  c\\x0d\\x0a"),
        ]
    );
}

#[test]
fn nicklen_from_isupport_changes_the_default_length() {
    // Reference §10.6: the default length for `PRIVMSG #test :` is 380 once
    // NICKLEN=30 (401 with 9); text gets length − len(fmt) − 2 = 363
    // characters, so a line is 15 + 363 bytes.
    let text = "x".repeat(400);
    let out = both(&format!(
        "connect\nrecv\t:srv 005 bot NICKLEN=30 CHANTYPES=# PREFIX=(ov)@+ CASEMAPPING=ascii :are supported\\r\\n\ncall\tmsg\t#test\t{text}\n"
    ));
    assert_eq!(
        out[1],
        "E isupport|NICKLEN=30,CHANTYPES=#,PREFIX=(ov)@+,CASEMAPPING=ascii"
    );
    let first = out[2]
        .trim_start_matches("W ")
        .split("\\x0d\\x0a")
        .next()
        .unwrap()
        .len();
    assert_eq!(first, 378);
}

#[test]
fn commands_produce_twisteds_lines() {
    let out = both(concat!(
        "connect\n",
        "call\tjoin\ttest\n",
        "call\tjoin\t#test\tkey\n",
        "call\tjoin\t&local\n",
        "call\tleave\ttest\n",
        "call\tleave\t#test\tbye now\n",
        "call\tsay\ttest\thi\n",
        "call\tdescribe\ttest\twaves\n",
        "call\tsetNick\tnew\n",
        "call\tquit\t\n",
        "call\tquit\tgone\n",
        "call\taway\tlunch\n",
        "call\tback\n",
        "call\twhois\tbob\n",
        "call\twhois\tbob\tsrv\n",
        "call\tkick\tchan\tbob\n",
        "call\tkick\t#chan\tbob\tout\n",
        "call\tinvite\tbob\tchan\n",
        "call\ttopic\tchan\n",
        "call\ttopic\tchan\tnew topic\n",
        "call\ttopic\tchan\t\n",
        "call\tmode\t#chan\t#int:1\tl\t#int:10\n",
        "call\tmode\t#chan\t#int:0\to\t~\tbob\n",
        "call\tmode\t#chan\t#int:1\tb\t~\t~\t*!*@h\n",
        "call\tping\tbob\tkey1\n",
    ));
    let expected = [
        "JOIN #test",
        "JOIN #test key",
        "JOIN &local",
        "PART #test",
        "PART #test :bye now",
        "PRIVMSG #test :hi",
        "PRIVMSG test :\\x01ACTION waves\\x01",
        "NICK new",
        "QUIT :",
        "QUIT :gone",
        "AWAY :lunch",
        "AWAY :",
        "WHOIS bob",
        "WHOIS srv bob",
        "KICK #chan bob",
        "KICK #chan bob :out",
        "INVITE bob #chan",
        "TOPIC #chan",
        "TOPIC #chan :new topic",
        "TOPIC #chan :",
        "MODE #chan +l 10",
        "MODE #chan -o bob",
        "MODE #chan +b *!*@h",
        "PRIVMSG bob :\\x01PING key1\\x01",
    ];
    let got: Vec<String> = out[1..]
        .iter()
        .map(|l| {
            l.trim_start_matches("W ")
                .trim_end_matches("\\x0d\\x0a")
                .to_string()
        })
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn ctcp_replies() {
    let out = both(concat!(
        "connect\n",
        "recv\t:bob!u@h PRIVMSG me :\\x01PING 123\\x01\\r\\n\n",
        "recv\t:bob!u@h PRIVMSG me :\\x01VERSION\\x01\\r\\n\n",
        "recv\t:bob!u@h PRIVMSG me :\\x01SOURCE\\x01\\r\\n\n",
        "recv\t:bob!u@h PRIVMSG me :\\x01ERRMSG oops\\x01\\r\\n\n",
        "recv\t:bob!u@h PRIVMSG me :\\x01CLIENTINFO\\x01\\r\\n\n",
        "recv\t:bob!u@h PRIVMSG #c :\\x01ACTION waves\\x01 and \\x01ACTION again\\x01 text\\r\\n\n",
        "recv\t:bob!u@h PRIVMSG #c :\\x01FOO bar\\x01\\r\\n\n",
        "recv\t:bob!u@h PRIVMSG #c :\\x01PING a\\\\ab\\\\\\\\c\\x01\\r\\n\n",
    ));
    assert_eq!(
        &out[1..],
        [
            w("NOTICE bob :\\x01PING 123\\x01\\x0d\\x0a"),
            w(
                "NOTICE bob :\\x01SOURCE http://twistedmatrix.com/downloads/\\x01\\x01SOURCE\\x01\\x0d\\x0a"
            ),
            w("NOTICE bob :\\x01ERRMSG oops :No error has occurred.\\x01\\x0d\\x0a"),
            w(
                "NOTICE bob :\\x01CLIENTINFO ACTION CLIENTINFO DCC ERRMSG FINGER PING SOURCE TIME USERINFO VERSION\\x01\\x0d\\x0a"
            ),
            "E action|bob!u@h|#c|waves".to_string(),
            "E privmsg|bob!u@h|#c| and   text".to_string(),
            w("NOTICE bob :\\x01PING a\\\\ab\\\\\\\\c\\x01\\x0d\\x0a"),
        ],
        "VERSION is not answered without a version name; ACTION is dispatched once per message"
    );
}

#[test]
fn version_answered_when_configured() {
    both(
        "config\tversionName\tgyre\nconfig\tversionNum\t1\nconnect\nrecv\t:bob!u@h PRIVMSG me :\\x01VERSION\\x01\\r\\n\n",
    );
}

#[test]
fn incoming_events_dispatch_as_in_twisted() {
    let script = format!(
        "config\tnickname\tbot\nconnect\n{WELCOME}\n{}",
        [
            ":bot!u@h JOIN :#c",
            ":alice!a@h JOIN #c",
            ":alice!a@h PRIVMSG #c :hello there :)",
            ":alice!a@h PRIVMSG bot :psst",
            ":alice!a@h PRIVMSG #c :",
            ":alice!a@h PRIVMSG #c",
            ":alice!a@h NOTICE #c :note",
            ":alice!a@h NICK alice2",
            ":bot!u@h NICK bot2",
            ":alice2!a@h PART #c :bye",
            ":bot2!u@h PART #c",
            ":carol!c@h QUIT :gone",
            ":op!o@h KICK #c dave :rude",
            ":op!o@h KICK #c BOT2 :you too",
            ":op!o@h TOPIC #c :new topic",
            ":srv 332 bot2 #c :the topic",
            ":srv 331 bot2 #c :No topic",
            ":op!o@h MODE #c +o-v+l alice bob 5",
            ":op!o@h MODE #c b",
            ":op!o@h MODE bot2 +i",
            ":srv 375 bot2 :- srv MOTD",
            ":srv 372 bot2 :- line one",
            ":srv 372 bot2 :line two",
            ":srv 376 bot2 :End",
            ":srv 002 bot2 :Your host",
            ":srv 003 bot2 :Created today",
            ":srv 004 bot2 :srv v1 iw",
            ":srv 010 bot2 :other 6667",
            ":srv 251 bot2 :There are 3 users",
            ":srv 252 bot2 2 :operators",
            ":srv 252 bot2 x :operators",
            ":srv 254 bot2 7 :channels",
            ":srv 255 bot2 :I have 3 clients",
            ":srv 999 bot2 :unknown",
            "",
        ]
        .iter()
        .map(|l| format!("recv\t{l}\\r\\n\n"))
        .collect::<String>()
    );
    let out = both(&script);
    assert!(
        out.contains(&"E privmsg|alice!a@h|#c|hello there :)".to_string()),
        "{out:?}"
    );
    assert!(
        out.contains(&"E privmsg|alice!a@h|#c|#c".to_string()),
        "Twisted's quirk: the last param: {out:?}"
    );
    assert!(
        out.contains(&"E kickedFrom|#c|op|you too".to_string()),
        "{out:?}"
    );
}

#[test]
fn chunking_and_carriage_returns() {
    // \r anywhere is dropped, lines end at \n, a line may arrive in pieces.
    let out =
        both("connect\nrecv\t:a!b@c PRIV\nrecv\tMSG #c :x\\ry\\n:a!b@c PRIVMSG #c :\\x10nz\\n\n");
    assert_eq!(
        &out[1..],
        ["E privmsg|a!b@c|#c|xy", "E privmsg|a!b@c|#c|\\x0az"]
    );
}

#[test]
fn low_quoting_of_outgoing_lines() {
    let out = both("connect\ncall\tquit\ta\\x10b\\x00c\n");
    assert_eq!(out[1], w("QUIT :a\\x10\\x10b\\x100c\\x0d\\x0a"));
}

#[test]
fn utf8_both_ways() {
    both(
        "connect\nrecv\t:a!b@c PRIVMSG #c :caf\\xc3\\xa9\\r\\n\ncall\tmsg\t#c\tna\\u00efve \\u2603\n",
    );
}

#[test]
fn dcc_unknown_type_gets_errmsg() {
    let out = both(
        "connect\nrecv\t:bob!u@h PRIVMSG me :\\x01DCC FOO x y\\x01\\r\\n\nrecv\t:bob!u@h PRIVMSG me :\\x01DCC\\x01\\r\\n\n",
    );
    assert_eq!(
        out[1],
        w("NOTICE bob :\\x01ERRMSG DCC FOO x y :Unknown DCC type 'FOO'\\x01\\x0d\\x0a")
    );
}
