//! `gyre chat`: the chat room of Twisted's tutorial (`chatserver.py`), as
//! a [`LineReceiver`], hardened against users who do not play along.
//!
//! A new client is asked `What's your name?`. Its first line that is a
//! valid name not in use becomes its name and is answered `Welcome,
//! <name>!`; a name in use is answered `Name taken, please choose
//! another.`, an invalid one `Names are printable text without control
//! characters, please choose another.`, and the next line is the next try.
//! Once named, every line the client sends goes to every *other* named
//! client as `<name> line`. A name is free again as soon as its client's
//! connection is gone.
//!
//! Where this goes beyond the tutorial, on purpose (the tutorial lets one
//! user exhaust the server's memory, freeze it, or take over the others'
//! terminals):
//!
//! * **Names** are valid UTF-8 with at least one character that is not
//!   white space, and no character with the Unicode property Cc (control
//!   characters: U+0000–U+001F, U+007F–U+009F, tab included) or
//!   Bidi_Control (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069,
//!   which reorder what follows them on screen). The tutorial takes any
//!   line, the empty one included.
//! * **Relayed lines are escaped**: every byte that is a control character
//!   other than tab (0x00–0x08, 0x0A–0x1F, 0x7F), belongs to one (the
//!   C1 controls U+0080–U+009F, two bytes each in UTF-8) or is not part of
//!   valid UTF-8 is sent as the four characters `\xNN` (lowercase hex):
//!   ESC becomes `\x1b`, U+009B becomes `\xc2\x9b`, a stray 0xff byte
//!   `\xff`. What the room relays is therefore valid UTF-8 in which tab is
//!   the only control character, and no user can send terminal escapes to
//!   another's screen. A backslash typed by a user is relayed as it is, so
//!   `\x1b` typed literally looks the same as an escaped ESC.
//! * **A slow consumer is disconnected.** Each client may have at most
//!   [`WRITE_LIMIT`] (2 MiB) waiting to be sent to it; past that its
//!   connection is closed at once as a slow consumer (the library's
//!   [`WriteLimit::Close`], logged once) and everyone else keeps getting
//!   every line. 2 MiB is ten thousand lines of a hundred bytes behind,
//!   which no reader that reads is, and twice the output the reactor lets
//!   one turn produce, so one turn's fan-out never trips it for a client
//!   that keeps up. The library's default is 4 MiB; half of it halves what
//!   a room full of stalled clients can hold.
//! * **A flood cannot starve the room.** The framer stops between lines
//!   once the turn's work budget is spent and goes on in a later turn
//!   (see `gyre::protocols` and `Transport::should_yield`), so while one
//!   user's burst of lines is fanned out, newcomers are greeted, others'
//!   lines relayed, and signals handled.
//!
//! Lines are split at LF and a CR before it is dropped, so both telnet
//! (CRLF) and nc (LF) work; everything is sent with CRLF. The longest line
//! taken is Twisted's `LineReceiver.MAX_LENGTH`, 16,384 bytes, counted
//! without its ending whichever ending it has (the framer splits at LF, so
//! its own limit is set one byte higher to leave room for the CR, and a
//! line that is longer once the CR is dropped is refused here); a longer
//! line closes that client's connection, as in Twisted.
//!
//! The room is one map from name to transport, shared by every connection
//! the factory builds; a message to the room is escaped once and then one
//! gathered write per listener, with no further copy of the text. Nagle's
//! algorithm is off (`TCP_NODELAY`), as for echo: the library already
//! sends a turn's output to a client in one write, and with Nagle on, a
//! busy room's next write to a client waits for the client's (delayed)
//! acknowledgement of the previous one.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

use gyre::protocols::lines::DEFAULT_MAX_LENGTH;
use gyre::protocols::{LineConnection, LineProtocol, LineReceiver};
use gyre::{Address, Factory, Reason, Transport, WriteLimit};

/// Sent with every line.
const CRLF: &[u8] = b"\r\n";

/// The longest line taken, without its ending (Twisted's `MAX_LENGTH`).
const MAX_LINE: usize = DEFAULT_MAX_LENGTH;

/// How many bytes may wait to be sent to one client before it is
/// disconnected as a slow consumer (see the module docs).
pub(crate) const WRITE_LIMIT: usize = 2 * 1024 * 1024;

/// The answer to a name in use.
const NAME_TAKEN: &[u8] = b"Name taken, please choose another.";

/// The answer to a name that is not printable text.
const NAME_INVALID: &[u8] =
    b"Names are printable text without control characters, please choose another.";

/// Who is in the room: name → connection.
type Room = Rc<RefCell<HashMap<Vec<u8>, Transport>>>;

/// Builds a [`Chat`] per connection, all sharing one room. Logs as
/// `ChatFactory` (`ChatFactory starting on 8123`).
pub(crate) struct ChatFactory {
    room: Room,
}

impl ChatFactory {
    /// A factory with an empty room.
    pub(crate) fn new() -> ChatFactory {
        ChatFactory {
            room: Rc::default(),
        }
    }
}

impl Factory for ChatFactory {
    type Protocol = LineProtocol<Chat>;

    fn build_protocol(&self, _addr: &Address) -> Option<LineProtocol<Chat>> {
        Some(LineProtocol::new(Chat {
            room: self.room.clone(),
            name: None,
        }))
    }

    fn log_prefix(&self) -> Cow<'static, str> {
        Cow::Borrowed("ChatFactory")
    }

    fn qualified_name(&self) -> Cow<'static, str> {
        Cow::Borrowed("gyre::services::ChatFactory")
    }

    /// Every client starts with the chat's cap, [`WRITE_LIMIT`].
    fn write_limit(&self) -> WriteLimit {
        WriteLimit::Close(WRITE_LIMIT)
    }
}

impl fmt::Debug for ChatFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatFactory")
            .field("users", &self.room.borrow().len())
            .finish()
    }
}

/// One client of the room.
pub(crate) struct Chat {
    room: Room,
    /// Set once the client has picked a free name.
    name: Option<Vec<u8>>,
}

impl Chat {
    /// The client's line is its try at a name.
    fn pick_name(&mut self, transport: &Transport, name: &[u8]) {
        if !is_valid_name(name) {
            transport.write_sequence(&[NAME_INVALID, CRLF]);
            return;
        }
        let mut room = self.room.borrow_mut();
        if room.contains_key(name) {
            transport.write_sequence(&[NAME_TAKEN, CRLF]);
            return;
        }
        transport.write_sequence(&[b"Welcome, ", name, b"!", CRLF]);
        room.insert(name.to_vec(), transport.clone());
        self.name = Some(name.to_vec());
    }

    /// The named client `from` said `message`: tell everyone else.
    fn broadcast(&self, from: &[u8], message: &[u8]) {
        let message = escape(message);
        // Writing never calls back into a protocol, so the room stays
        // borrowed for the whole round.
        for (name, transport) in self.room.borrow().iter() {
            if name.as_slice() != from {
                transport.write_sequence(&[b"<", from, b"> ", &message, CRLF]);
            }
        }
    }
}

impl LineReceiver for Chat {
    fn connection_made(&mut self, conn: &LineConnection<'_>) {
        let transport = conn.transport();
        // The room's output to a client already goes out in one write per
        // turn; Nagle's algorithm could only hold the next turn's lines
        // back until the client acknowledges the previous ones (40 ms with
        // a delayed ACK), a stall in every busy room.
        if let Err(err) = transport.set_no_delay(true) {
            log::debug!("TCP_NODELAY not set: {err}");
        }
        transport.write_sequence(&[b"What's your name?", CRLF]);
    }

    fn line_received(&mut self, conn: &LineConnection<'_>, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > MAX_LINE {
            // Within the framer's limit only because it had no CR to drop.
            self.line_length_exceeded(conn, line);
            return;
        }
        match &self.name {
            None => self.pick_name(conn.transport(), line),
            Some(name) => self.broadcast(name, line),
        }
    }

    fn connection_lost(&mut self, _reason: Reason) {
        if let Some(name) = self.name.take() {
            self.room.borrow_mut().remove(&name);
        }
    }

    fn delimiter(&self) -> &[u8] {
        b"\n"
    }

    /// Room for a [`MAX_LINE`]-byte line and the CR of its CRLF.
    fn max_length(&self) -> usize {
        MAX_LINE + 1
    }
}

impl fmt::Debug for Chat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name.as_deref().map(String::from_utf8_lossy);
        f.debug_struct("Chat").field("name", &name).finish()
    }
}

/// True for a name the room takes: UTF-8 text, not only white space, with
/// no control (Cc) or Bidi_Control character (see the module docs).
fn is_valid_name(name: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(name) else {
        return false;
    };
    !text.trim().is_empty() && text.chars().all(|c| !c.is_control() && !is_bidi_control(c))
}

/// The Unicode property Bidi_Control: marks, embeddings, overrides and
/// isolates that reorder the text after them.
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// `line` as the room relays it: unchanged when it is printable ASCII and
/// tabs (no copy), otherwise with every byte of a control character other
/// than tab, and every byte that is not valid UTF-8, written as `\xNN`.
fn escape(line: &[u8]) -> Cow<'_, [u8]> {
    if line
        .iter()
        .all(|&b| (b' '..=b'~').contains(&b) || b == b'\t')
    {
        return Cow::Borrowed(line);
    }
    let mut out = Vec::with_capacity(line.len() + 16);
    for chunk in line.utf8_chunks() {
        for c in chunk.valid().chars() {
            let mut utf8 = [0u8; 4];
            let bytes = c.encode_utf8(&mut utf8).as_bytes();
            if c.is_control() && c != '\t' {
                bytes.iter().for_each(|&b| push_escaped(&mut out, b));
            } else {
                out.extend_from_slice(bytes);
            }
        }
        chunk
            .invalid()
            .iter()
            .for_each(|&b| push_escaped(&mut out, b));
    }
    Cow::Owned(out)
}

/// Appends `b` as `\xNN`, lowercase.
fn push_escaped(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(&[
        b'\\',
        b'x',
        HEX[usize::from(b >> 4)],
        HEX[usize::from(b & 15)],
    ]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use gyre::Protocol;
    use gyre::testing::StringTransport;

    /// One client of a room, driven through a `StringTransport`.
    struct User {
        st: StringTransport,
        protocol: LineProtocol<Chat>,
    }

    impl User {
        /// Connects a new client to the room of `factory`.
        fn join(factory: &ChatFactory) -> User {
            let addr = Address::tcp(([127, 0, 0, 1], 1).into());
            let mut protocol = factory.build_protocol(&addr).expect("a protocol");
            let st = StringTransport::new();
            st.make_connection(&mut protocol);
            User { st, protocol }
        }

        /// Sends `data` as the client would.
        fn send(&mut self, data: &[u8]) {
            self.protocol.data_received(&self.st.transport(), data);
        }

        /// What the client has been sent since the last call.
        fn take(&self) -> String {
            let text = String::from_utf8(self.st.value()).expect("UTF-8");
            self.st.clear();
            text
        }

        /// The client leaves.
        fn leave(mut self) {
            self.protocol.connection_lost(Reason::Done);
        }
    }

    /// A client that has joined and picked `name`, its output cleared.
    fn named(factory: &ChatFactory, name: &str) -> User {
        let mut user = User::join(factory);
        user.send(format!("{name}\r\n").as_bytes());
        assert_eq!(
            user.take(),
            format!("What's your name?\r\nWelcome, {name}!\r\n")
        );
        user
    }

    /// The whole exchange of two users, as in the tutorial.
    #[test]
    fn two_users_talk() {
        let room = ChatFactory::new();
        let mut alice = User::join(&room);
        assert_eq!(alice.take(), "What's your name?\r\n");
        alice.send(b"alice\r\n");
        assert_eq!(alice.take(), "Welcome, alice!\r\n");
        let mut bob = User::join(&room);
        assert_eq!(bob.take(), "What's your name?\r\n");
        bob.send(b"alice\r\n");
        assert_eq!(bob.take(), "Name taken, please choose another.\r\n");
        bob.send(b"bob\r\n");
        assert_eq!(bob.take(), "Welcome, bob!\r\n");
        alice.send(b"hi bob\r\n");
        assert_eq!(bob.take(), "<alice> hi bob\r\n");
        assert_eq!(alice.take(), "", "nothing echoed to the sender");
        bob.send(b"hi alice\r\n");
        assert_eq!(alice.take(), "<bob> hi alice\r\n");
        assert_eq!(bob.take(), "");
        assert!(!alice.st.is_disconnecting() && !bob.st.is_disconnecting());
    }

    /// Three users: each line reaches the two others once; an unnamed
    /// client hears nothing and its tries are not broadcast.
    #[test]
    fn three_users_and_a_newcomer() {
        let room = ChatFactory::new();
        let mut users: Vec<User> = ["ann", "ben", "cy"]
            .iter()
            .map(|n| named(&room, n))
            .collect();
        let mut newcomer = User::join(&room);
        assert_eq!(newcomer.take(), "What's your name?\r\n");
        newcomer.send(b"ben\r\n");
        assert_eq!(newcomer.take(), "Name taken, please choose another.\r\n");
        for u in &users {
            assert_eq!(u.take(), "", "a try at a name is not broadcast");
        }
        users[1].send(b"one\r\ntwo\r\n");
        assert_eq!(users[0].take(), "<ben> one\r\n<ben> two\r\n");
        assert_eq!(users[1].take(), "");
        assert_eq!(users[2].take(), "<ben> one\r\n<ben> two\r\n");
        assert_eq!(newcomer.take(), "", "unnamed clients hear nothing");
        newcomer.send(b"dee\r\n");
        assert_eq!(newcomer.take(), "Welcome, dee!\r\n");
        users[2].send(b"hello all\r\n");
        assert_eq!(users[0].take(), "<cy> hello all\r\n");
        assert_eq!(users[1].take(), "<cy> hello all\r\n");
        assert_eq!(newcomer.take(), "<cy> hello all\r\n");
    }

    /// Leaving frees the name and stops messages to the one who left.
    #[test]
    fn leaving_frees_the_name() {
        let room = ChatFactory::new();
        let mut ann = named(&room, "ann");
        let ben = named(&room, "ben");
        ben.leave();
        ann.send(b"anyone?\n");
        let mut again = User::join(&room);
        again.send(b"ben\n");
        assert_eq!(again.take(), "What's your name?\r\nWelcome, ben!\r\n");
        ann.send(b"welcome back\n");
        assert_eq!(again.take(), "<ann> welcome back\r\n");
        // A client that never picked a name frees nothing when it leaves.
        let shy = User::join(&room);
        shy.leave();
        assert_eq!(room.room.borrow().len(), 2);
    }

    /// LF and CRLF both end a line, in any chunking; output is always CRLF.
    #[test]
    fn bare_lf_and_crlf_in_any_chunks() {
        let input = b"zed\nhello\r\nthere\nstray\rcr\r\n";
        for size in 1..=input.len() {
            let room = ChatFactory::new();
            let ear = named(&room, "ear");
            let mut user = User::join(&room);
            for chunk in input.chunks(size) {
                user.send(chunk);
            }
            assert_eq!(
                user.take(),
                "What's your name?\r\nWelcome, zed!\r\n",
                "chunk size {size}"
            );
            assert_eq!(
                ear.take(),
                "<zed> hello\r\n<zed> there\r\n<zed> stray\\x0dcr\r\n",
                "chunk size {size} (a CR inside a line is escaped)"
            );
        }
    }

    /// Names are taken byte for byte: case and trailing spaces count.
    #[test]
    fn names_are_exact() {
        let room = ChatFactory::new();
        let _a = named(&room, "Ann");
        let _b = named(&room, "ann");
        let _c = named(&room, "ann ");
        let _d = named(&room, "Zoë 李");
        let mut other = User::join(&room);
        other.send(b"ann \n");
        assert_eq!(
            other.take(),
            "What's your name?\r\nName taken, please choose another.\r\n"
        );
    }

    /// A name that is not printable text is refused with its own line, and
    /// the next line is the next try: control characters (tab, ESC, DEL,
    /// C1 in UTF-8), Bidi_Control characters, invalid UTF-8, and names
    /// with nothing but white space (the empty one included).
    #[test]
    fn names_must_be_printable_text() {
        let refused: [&[u8]; 14] = [
            b"",
            b" ",
            b"\t",
            "\u{3000}".as_bytes(),
            b"a\tb",
            b"\x1b]0;pwned\x07",
            b"bell\x07",
            b"del\x7f",
            b"nul\x00",
            "c1\u{9b}31m".as_bytes(),
            "\u{202E}nimda".as_bytes(),
            "iso\u{2066}late".as_bytes(),
            b"\xff\xfe",
            b"caf\xe9",
        ];
        let room = ChatFactory::new();
        let ear = named(&room, "ear");
        for name in refused {
            let mut user = User::join(&room);
            let mut line = name.to_vec();
            line.extend_from_slice(b"\r\n");
            user.send(&line);
            assert_eq!(
                user.take(),
                "What's your name?\r\n\
                 Names are printable text without control characters, please choose another.\r\n",
                "{:?}",
                name.escape_ascii().to_string()
            );
            user.send(b"next\r\n");
            assert_eq!(
                user.take(),
                "Welcome, next!\r\n",
                "the next line is the next try"
            );
            user.leave();
        }
        assert_eq!(ear.take(), "", "refused tries are not broadcast");
    }

    /// Relayed lines: control bytes other than tab, C1 controls and bytes
    /// that are not UTF-8 become `\xNN`; everything else is unchanged,
    /// backslashes and non-ASCII text included.
    #[test]
    fn relayed_lines_are_escaped() {
        let table: [(&[u8], &str); 10] = [
            (b"plain text, 100% ~ok~", "plain text, 100% ~ok~"),
            (b"tab\tkept", "tab\tkept"),
            (b"\x1b[2Jhi", "\\x1b[2Jhi"),
            (b"\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),
            (
                b"\x00\x01\x08\x0b\x0c\x1f\x7f",
                "\\x00\\x01\\x08\\x0b\\x0c\\x1f\\x7f",
            ),
            ("C1 \u{9b}2J".as_bytes(), "C1 \\xc2\\x9b2J"),
            (b"bad \xff\xc3 utf8", "bad \\xff\\xc3 utf8"),
            ("Zoë says 你好".as_bytes(), "Zoë says 你好"),
            (br"a \x1b typed", r"a \x1b typed"),
            ("\u{202E}kept".as_bytes(), "\u{202E}kept"),
        ];
        let room = ChatFactory::new();
        let ear = named(&room, "ear");
        let mut mouth = named(&room, "mouth");
        for (line, relayed) in table {
            let mut sent = line.to_vec();
            sent.push(b'\n');
            mouth.send(&sent);
            assert_eq!(ear.take(), format!("<mouth> {relayed}\r\n"));
        }
    }

    /// The line limit counts the line without its ending, CRLF or LF:
    /// 16,384 bytes are relayed either way, 16,385 close the connection
    /// either way (and nothing after them is relayed); 16,385 bytes with
    /// no LF yet wait (they may be a full line and its CR), 16,386 close.
    #[test]
    fn line_limit_counts_the_line_without_its_ending() {
        let full = "x".repeat(MAX_LINE);
        for ending in ["\r\n", "\n"] {
            for size in [1, 4096, 16_384, 16_385, 100_000] {
                let room = ChatFactory::new();
                let ear = named(&room, "ear");
                let mut user = named(&room, "big");
                let input = format!("{full}{ending}{full}y{ending}after{ending}");
                for chunk in input.as_bytes().chunks(size) {
                    user.send(chunk);
                }
                assert_eq!(
                    ear.take(),
                    format!("<big> {full}\r\n"),
                    "{ending:?}, chunks of {size}"
                );
                assert!(user.st.is_disconnecting(), "{ending:?}, chunks of {size}");
            }
        }
        let room = ChatFactory::new();
        let mut waits = named(&room, "w");
        waits.send(format!("{full}y").as_bytes());
        assert!(!waits.st.is_disconnecting(), "16,385 bytes without LF wait");
        waits.send(b"z");
        assert!(
            waits.st.is_disconnecting(),
            "16,386 bytes without LF cannot fit"
        );
        let mut named_long = User::join(&room);
        named_long.send(format!("{full}\r\n").as_bytes());
        assert_eq!(
            named_long.take(),
            format!("What's your name?\r\nWelcome, {full}!\r\n")
        );
    }

    /// Nagle's algorithm is turned off for every client.
    #[test]
    fn turns_nagle_off() {
        let room = ChatFactory::new();
        let user = User::join(&room);
        assert!(user.st.transport().no_delay().unwrap());
    }

    /// Every client starts with the chat's cap: close past 2 MiB waiting.
    #[test]
    fn each_client_is_capped_at_two_mebibytes() {
        let room = ChatFactory::new();
        assert_eq!(room.write_limit(), WriteLimit::Close(2 * 1024 * 1024));
    }

    /// Once the turn's budget is spent the room stops between lines and
    /// asks to go on later; called again, it relays the rest, in order.
    #[test]
    fn a_flood_yields_between_lines() {
        let room = ChatFactory::new();
        let ear = named(&room, "ear");
        let mut mouth = named(&room, "mouth");
        mouth.st.set_should_yield(true);
        mouth.send(b"1\n2\n3\n");
        assert_eq!(ear.take(), "<mouth> 1\r\n");
        assert_eq!(mouth.st.yields(), 1);
        mouth.send(b"");
        assert_eq!(ear.take(), "<mouth> 2\r\n");
        mouth.st.set_should_yield(false);
        mouth.send(b"");
        assert_eq!(ear.take(), "<mouth> 3\r\n");
        assert_eq!(mouth.st.yields(), 2);
    }

    /// The factory names itself for the log and counts the room.
    #[test]
    fn factory_names() {
        let room = ChatFactory::new();
        assert_eq!(room.log_prefix(), "ChatFactory");
        let _a = named(&room, "a");
        assert_eq!(format!("{room:?}"), "ChatFactory { users: 1 }");
    }
}
