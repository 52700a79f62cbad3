//! `gyre chat`: the chat room of Twisted's tutorial (`chatserver.py`), as
//! a [`LineReceiver`].
//!
//! A new client is asked `What's your name?`. Its first line that is not a
//! name in use becomes its name and is answered `Welcome, <name>!`; a name
//! in use is answered `Name taken, please choose another.` and the next
//! line is the next try. Once named, every line the client sends goes to
//! every *other* named client as `<name> line`. A name is free again as
//! soon as its client's connection is gone. As in the tutorial, any line
//! is a name, the empty one included.
//!
//! Lines are split at LF and a CR before it is dropped, so both telnet
//! (CRLF) and nc (LF) work; everything is sent with CRLF. The longest line
//! taken is the framer's default (16 KiB); a longer one closes that
//! client's connection.
//!
//! The room is one map from name to transport, shared by every connection
//! the factory builds; a message to the room is one gathered write per
//! listener, with no copy of the text.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

use gyre::protocols::{LineConnection, LineProtocol, LineReceiver};
use gyre::{Address, Factory, Reason, Transport};

/// Sent with every line.
const CRLF: &[u8] = b"\r\n";

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
        let mut room = self.room.borrow_mut();
        if room.contains_key(name) {
            transport.write_sequence(&[b"Name taken, please choose another.", CRLF]);
            return;
        }
        transport.write_sequence(&[b"Welcome, ", name, b"!", CRLF]);
        room.insert(name.to_vec(), transport.clone());
        self.name = Some(name.to_vec());
    }

    /// The named client `from` said `message`: tell everyone else.
    fn broadcast(&self, from: &[u8], message: &[u8]) {
        // Writing never calls back into a protocol, so the room stays
        // borrowed for the whole round.
        for (name, transport) in self.room.borrow().iter() {
            if name.as_slice() != from {
                transport.write_sequence(&[b"<", from, b"> ", message, CRLF]);
            }
        }
    }
}

impl LineReceiver for Chat {
    fn connection_made(&mut self, conn: &LineConnection<'_>) {
        conn.transport()
            .write_sequence(&[b"What's your name?", CRLF]);
    }

    fn line_received(&mut self, conn: &LineConnection<'_>, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
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
}

impl fmt::Debug for Chat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name.as_deref().map(String::from_utf8_lossy);
        f.debug_struct("Chat").field("name", &name).finish()
    }
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
                "<zed> hello\r\n<zed> there\r\n<zed> stray\rcr\r\n",
                "chunk size {size}"
            );
        }
    }

    /// Names are taken byte for byte: case and trailing spaces count, and
    /// the empty line is a name, as in the tutorial.
    #[test]
    fn names_are_exact() {
        let room = ChatFactory::new();
        let _a = named(&room, "Ann");
        let _b = named(&room, "ann");
        let _c = named(&room, "ann ");
        let mut empty = User::join(&room);
        empty.send(b"\r\n");
        assert_eq!(empty.take(), "What's your name?\r\nWelcome, !\r\n");
        let mut other = User::join(&room);
        other.send(b"\n");
        assert_eq!(
            other.take(),
            "What's your name?\r\nName taken, please choose another.\r\n"
        );
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
