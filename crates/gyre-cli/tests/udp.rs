//! `gyre` services over UDP (`--listen udp:PORT`): echo, daytime, qotd and
//! time answer each datagram as their RFCs define (RFC 862, 867, 865,
//! 868), discard answers none; the port's log lines; a TCP and a UDP port
//! side by side.

#[allow(dead_code)] // the kit has more than these tests use
mod util;

use std::net::{Ipv4Addr, UdpSocket};

use rustix::process::Signal;
use util::{Gyre, LIMIT};

const UDP_LOOPBACK: &str = "udp:0:interface=127.0.0.1";

fn ask(port: u16, datagram: &[u8]) -> Vec<u8> {
    let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s.send_to(datagram, (Ipv4Addr::LOCALHOST, port)).unwrap();
    let mut buf = [0u8; 1024];
    let (n, from) = s.recv_from(&mut buf).expect("a reply");
    assert_eq!(from.port(), port, "the reply comes from the service's port");
    buf[..n].to_vec()
}

/// Each service answers a datagram with one datagram, per its RFC.
#[test]
fn services_answer_datagrams() {
    for service in ["echo", "daytime", "qotd", "time"] {
        let mut gyre = Gyre::start(&[service, "--listen", UDP_LOOPBACK]);
        let port = gyre.port();
        let reply = ask(port, b"what?");
        match service {
            "echo" => assert_eq!(reply, b"what?"),
            "daytime" => {
                let text = String::from_utf8(reply).unwrap();
                // asctime: `Sun Nov 22 00:30:49 2026` and CRLF.
                assert!(text.ends_with("\r\n") && text.len() == 26, "{text:?}");
            }
            "qotd" => {
                assert!(reply.ends_with(b"\r\n") && reply.is_ascii() && reply.len() < 512);
            }
            "time" => assert_eq!(reply.len(), 4),
            _ => unreachable!(),
        }
        gyre.signal(Signal::TERM);
        assert!(gyre.wait_exit().success(), "{}", gyre.transcript());
        let lines = gyre.lines();
        let prefix = match service {
            "qotd" => "QOTD",
            s => &format!("{}{}", s[..1].to_uppercase(), &s[1..]),
        };
        for needle in [
            format!("{prefix} starting on {port}"),
            format!("Starting protocol <gyre::services::udp::{prefix} object at 0x"),
            format!("[gyre::services::udp::{prefix} (UDP)] (UDP Port {port} Closed)"),
            format!("Stopping protocol <gyre::services::udp::{prefix} object at 0x"),
        ] {
            assert!(
                lines.iter().any(|l| l.contains(&needle)),
                "{needle:?} not in {lines:#?}"
            );
        }
    }
}

/// discard holds its UDP port (binding it again fails) and answers
/// nothing; echo over TCP and UDP at once serves both.
#[test]
fn discard_and_two_kinds_of_port() {
    let gyre = Gyre::start(&["discard", "--listen", UDP_LOOPBACK]);
    let err = UdpSocket::bind((Ipv4Addr::LOCALHOST, gyre.port())).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);

    let both = Gyre::start(&[
        "echo",
        "--listen",
        "tcp:0:interface=127.0.0.1",
        "--listen",
        UDP_LOOPBACK,
    ]);
    let lines = both.wait_for_lines(" starting on ", 2);
    // `EchoFactory starting on N` is the TCP port, `Echo starting on N`
    // the UDP one.
    let udp_line = lines
        .iter()
        .find(|l| l.contains("] Echo starting on "))
        .expect("the UDP port's line");
    let udp_port: u16 = util::port_of_starting_line(udp_line);
    assert_eq!(ask(udp_port, b"over udp"), b"over udp");
    let tcp_line = lines
        .iter()
        .find(|l| l.contains("] EchoFactory starting on "))
        .expect("the TCP port's line");
    let tcp_port = util::port_of_starting_line(tcp_line);
    let mut tcp = std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, tcp_port)).unwrap();
    tcp.set_read_timeout(Some(LIMIT)).unwrap();
    use std::io::{Read, Write};
    tcp.write_all(b"over tcp").unwrap();
    let mut back = [0u8; 8];
    tcp.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"over tcp");
}
