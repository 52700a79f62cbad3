//! `Transport::set_log_peer` on a real TCP connection: from the call on,
//! the connection's log prefix, every line logged in its context (its own
//! `Unhandled Error` lines included) and `Transport::log_prefix` name the
//! given peer instead of the socket's, while `peer()` stays the socket's.
//! (The PROXY protocol wrapper, `gyre::haproxy`, is what calls it; its own
//! tests are in `tests/haproxy.rs`.)

mod util;

use std::io::Write;
use std::time::Duration;

use gyre::{Address, Protocol, Reactor, Transport, for_protocol};
use util::{Events, capture_logs, join, loopback, peer, read_n, read_to_eof, run_for, std_connect};

const LIMIT: Duration = Duration::from_secs(5);

/// On `one`: logs, shows another peer in its prefix, logs again and
/// answers `ok`; panics on `boom`.
struct Relabel {
    shown: Address,
    seen: Events,
}

impl Protocol for Relabel {
    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        match data {
            b"one" => {
                log::info!("before");
                transport.set_log_peer(&self.shown);
                log::info!("after");
                self.seen.push(transport.log_prefix());
                self.seen.push(transport.peer().host());
                transport.write(b"ok");
            }
            b"boom" => panic!("boom received"),
            _ => {}
        }
    }
}

/// Runs one connection that sends `one`, then `boom`, against a `Relabel` showing
/// `shown`; returns the (system, text) of every line logged and what the
/// protocol saw.
fn relabelled(shown: Address) -> (Vec<(String, String)>, Vec<String>) {
    capture_logs();
    util::expect_errors(&["panic in data_received: boom received"]);
    let reactor = Reactor::new().unwrap();
    let seen = Events::default();
    let s = seen.clone();
    let port = reactor
        .listen_tcp_with(
            0,
            for_protocol(move || Relabel {
                shown: shown.clone(),
                seen: s.clone(),
            }),
            loopback(),
        )
        .unwrap();
    let addr = port.address();
    let client = peer(&reactor, move || {
        let mut c = std_connect(addr);
        c.write_all(b"one").unwrap();
        assert_eq!(read_n(&mut c, 2), b"ok");
        c.write_all(b"boom").unwrap();
        read_to_eof(&mut c)
    });
    run_for(&reactor, LIMIT);
    assert_eq!(join(client), b"", "closed after the panic, nothing sent");
    let lines = util::take_logs()
        .into_iter()
        .map(|l| (l.system, l.text))
        .collect();
    (lines, seen.get())
}

/// The system of the first line whose text starts with `start`.
#[track_caller]
fn system_of(lines: &[(String, String)], start: &str) -> String {
    lines
        .iter()
        .find(|(_, text)| text.starts_with(start))
        .unwrap_or_else(|| panic!("no line starting {start:?} in {lines:#?}"))
        .0
        .clone()
}

/// A server connection's log lines name the peer given to `set_log_peer`
/// from the call on, the panic report included; `peer()` is unchanged.
#[test]
fn log_lines_name_the_peer_given() {
    let (lines, seen) = relabelled(Address::tcp(([198, 51, 100, 7], 4000).into()));
    assert_eq!(system_of(&lines, "before"), "Relabel,0,127.0.0.1");
    assert_eq!(system_of(&lines, "after"), "Relabel,0,198.51.100.7");
    assert_eq!(
        system_of(&lines, "Unhandled Error"),
        "Relabel,0,198.51.100.7"
    );
    assert_eq!(seen, ["Relabel,0,198.51.100.7", "127.0.0.1"]);
}

/// An IPv6 peer is shown as its address; a UNIX peer as nothing, as the
/// prefix of a UNIX connection shows its peer.
#[test]
fn ipv6_and_unix_peers_are_shown_as_for_sockets() {
    let (lines, _) = relabelled(Address::tcp("[2001:db8::7]:4000".parse().unwrap()));
    assert_eq!(system_of(&lines, "after"), "Relabel,0,2001:db8::7");
    let (lines, _) = relabelled(Address::unix(Some(std::path::Path::new("/run/lb.sock"))));
    assert_eq!(system_of(&lines, "after"), "Relabel,0,");
}
