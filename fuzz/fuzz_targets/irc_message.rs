//! Fuzzes the IRC message parser and the client that dispatches its
//! results (`gyre_irc::message`, `gyre_irc::client`).
//!
//! The input, as text (lossy UTF-8), is parsed; when it parses, writing it
//! back and parsing again must give the same message, and every tag value
//! must unescape. The raw bytes are also fed, in two chunks split at the
//! first byte's position, to a client protocol on a `StringTransport`:
//! nothing may panic, whatever the line says (invalid UTF-8 included).

#![no_main]

use gyre::Protocol;
use gyre::testing::{StringTransport, VirtualClock};
use gyre_irc::{IrcClient, IrcConfig, IrcHandler, Message};
use libfuzzer_sys::fuzz_target;

struct Nothing;
impl IrcHandler for Nothing {}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for line in text.split(['\r', '\n']) {
        if let Ok(m) = Message::parse(line) {
            let again = m.to_string();
            let m2 = Message::parse(&again).expect("a written message parses");
            assert_eq!(m2.command, m.command);
            assert_eq!(m2.prefix, m.prefix);
            assert_eq!(m2.params, m.params, "{line:?} -> {again:?}");
            for (_key, _value) in m.tags() {}
        }
    }
    let config = IrcConfig {
        capabilities: vec!["message-tags".into()],
        sasl: Some(("a".into(), "b".into())),
        line_rate: if data.first().is_some_and(|b| b & 1 == 1) {
            Some(std::time::Duration::from_secs(1))
        } else {
            None
        },
        ..IrcConfig::default()
    };
    let clock = VirtualClock::new();
    let mut client = IrcClient::protocol(config, Nothing, clock.clone());
    let wire = StringTransport::new();
    wire.make_connection(&mut client);
    let cut = data.first().map_or(0, |&b| usize::from(b) % (data.len() + 1));
    client.data_received(&wire.transport(), &data[..cut]);
    client.data_received(&wire.transport(), &data[cut..]);
    clock.advance(std::time::Duration::from_secs(300));
});
