//! `gyre chat` end to end, over real sockets on 127.0.0.1: the tutorial's
//! exchange with telnet-style (CRLF) and nc-style (LF) clients, a name that
//! is taken and then freed, and a room of 300 users where one line reaches
//! all 299 others and nobody else.

#[allow(dead_code)] // the kit has more than these tests use
mod util;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

use util::{Gyre, LOOPBACK_ANY_PORT};

/// A chat client: a line reader over the socket, and the socket to write.
struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    fn connect(gyre: &Gyre) -> Client {
        let stream = gyre.connect();
        let writer = stream.try_clone().expect("clone");
        Client {
            reader: BufReader::new(stream),
            writer,
        }
    }

    /// Sends `text` as it is (the caller picks the line ending).
    #[track_caller]
    fn send(&mut self, text: &str) {
        self.writer.write_all(text.as_bytes()).expect("send");
    }

    /// The next line from the server, with its line ending.
    #[track_caller]
    fn line(&mut self) -> String {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => panic!("the server closed the connection"),
            Ok(_) => line,
            Err(e) => panic!("no line from the server: {e}"),
        }
    }

    /// Connects and takes `name`, checking the greeting and the welcome.
    #[track_caller]
    fn named(gyre: &Gyre, name: &str, ending: &str) -> Client {
        let mut client = Client::connect(gyre);
        assert_eq!(client.line(), "What's your name?\r\n");
        client.send(&format!("{name}{ending}"));
        assert_eq!(client.line(), format!("Welcome, {name}!\r\n"));
        client
    }
}

fn chat() -> Gyre {
    Gyre::start(&["chat", "--listen", LOOPBACK_ANY_PORT])
}

/// The tutorial's session: a taken name is refused and the next line is
/// the next try; lines go to the others with the sender's name; a name is
/// free again once its owner has gone.
#[test]
fn tutorial_session_with_crlf_and_lf_clients() {
    let gyre = chat();
    let mut telnet = Client::named(&gyre, "alice", "\r\n");
    let mut nc = Client::connect(&gyre);
    assert_eq!(nc.line(), "What's your name?\r\n");
    nc.send("alice\n");
    assert_eq!(nc.line(), "Name taken, please choose another.\r\n");
    nc.send("bob\n");
    assert_eq!(nc.line(), "Welcome, bob!\r\n");

    telnet.send("hello bob\r\n");
    assert_eq!(nc.line(), "<alice> hello bob\r\n");
    nc.send("hi alice\nhow are you?\n");
    assert_eq!(telnet.line(), "<bob> hi alice\r\n");
    assert_eq!(telnet.line(), "<bob> how are you?\r\n");
    // Nothing came back to alice in between: her next line is bob's.
    nc.send("bye\n");
    assert_eq!(telnet.line(), "<bob> bye\r\n");

    // Once bob's connection is gone, his name can be taken again.
    drop(nc);
    gyre.wait_for_connection_count(1);
    let mut bob2 = Client::named(&gyre, "bob", "\n");
    telnet.send("welcome back\r\n");
    assert_eq!(bob2.line(), "<alice> welcome back\r\n");
}

/// 300 users register; one line from the first reaches each of the other
/// 299 exactly once, and not its sender.
#[test]
fn a_line_reaches_all_299_others() {
    const USERS: usize = 300;
    let gyre = chat();
    let mut clients: Vec<Client> = (0..USERS)
        .map(|i| {
            let ending = if i % 2 == 0 { "\r\n" } else { "\n" };
            Client::named(&gyre, &format!("user{i}"), ending)
        })
        .collect();
    gyre.wait_for_connection_count(USERS);

    clients[0].send("hello, everyone\r\n");
    for (i, client) in clients.iter_mut().enumerate().skip(1) {
        assert_eq!(client.line(), "<user0> hello, everyone\r\n", "user{i}");
    }
    // The sender got nothing: the next line it sees is the reply.
    clients[USERS - 1].send("hi user0\n");
    assert_eq!(
        clients[0].line(),
        format!("<user{}> hi user0\r\n", USERS - 1)
    );
    for (i, client) in clients.iter_mut().enumerate().skip(1).take(USERS - 2) {
        assert_eq!(
            client.line(),
            format!("<user{}> hi user0\r\n", USERS - 1),
            "user{i}"
        );
    }
}
