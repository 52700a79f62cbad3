//! The start-up rules of `gyre portforward` (the relaying itself is in
//! `services/portforward.rs`): its default connection cap, and the refusal
//! of a `--connect` that reaches the forwarder's own listening ports.
//!
//! Forwarding to itself chains connections until the descriptor table is
//! full: each accepted connection opens another to the same port, which is
//! accepted and opens another (one client made 508 hops and 1,021
//! descriptors within a second). [`refuse_own_ports`] catches the direct
//! case before anything listens, with one line and exit 64: a `--connect`
//! on the port of a `--listen` whose address it resolves to. A loop through
//! other machines or forwarders cannot be seen from here; the connection
//! cap ([`DEFAULT_MAX_CONNECTIONS`]) bounds what any loop or flood can
//! take.
//!
//! Which target reaches which listener, as the kernel decides (Linux):
//!
//! * a listener on a specific address gets connections to that address;
//! * a `tcp` listener on every address (`0.0.0.0`) gets connections to any
//!   local IPv4 address: the loopback network 127.0.0.0/8 and this
//!   machine's own addresses. An address is this machine's when the kernel
//!   would send to it from itself (a UDP socket connected to it, which
//!   sends nothing, gets it as its own address);
//! * a `tcp6` listener on every address (`::`) gets the same for IPv6 and,
//!   dual-stack (Linux's default), for IPv4;
//! * a connection to the unspecified address (`0.0.0.0`, `::`) goes to the
//!   loopback address of its family.
//!
//! A `--connect` host name is resolved for the check only when its port is
//! one the forwarder listens on (so a forwarder to another machine's port
//! costs no lookup at start); if it does not resolve, nothing is refused
//! and the forwarder reports the failure per connection, as always.
//!
//! A `unix:` `--connect` is refused when a `--listen` (`haproxy:` or not)
//! names the same socket path.
//!
//! Tests: at the bottom of this file, and `tests/regressions.rs`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};

use gyre::endpoint::spec::{
    parse_tcp_client, parse_tcp_server, parse_unix_client, parse_unix_server,
};

use crate::exit::{self, Failure};

/// How many connections `gyre portforward` serves at once unless
/// `--max-connections` says otherwise (per reactor thread, as the option).
///
/// Each forwarded connection holds two descriptors, the client's and the
/// upstream's, so 256 of them take 512 of the usual soft limit of 1,024
/// open files and leave room for the rest. nginx's default of 512 worker
/// connections, which also counts both ends of every proxied connection,
/// makes the same choice. A forwarder that needs more says so, with
/// `--max-connections N` and a matching `ulimit -n`.
pub(crate) const DEFAULT_MAX_CONNECTIONS: usize = 256;

/// Fails (exit 64, one line) when `connect`, the `--connect` description,
/// reaches one of the `listen` descriptions' endpoints (see the module
/// docs). Descriptions that are not TCP are not checked.
pub(crate) fn refuse_own_ports(listen: &[String], connect: &str) -> Result<(), Failure> {
    if let Ok(target) = parse_unix_client(connect) {
        let own = listen.iter().find(|d| {
            parse_unix_server(crate::flags::behind_haproxy(d).1)
                .is_ok_and(|s| s.path == target.path)
        });
        return match own {
            Some(description) => Err(Failure::new(
                exit::USAGE,
                format!(
                    "--connect: {connect} reaches this forwarder's own socket \
                     (--listen {description}): it would forward every connection to itself"
                ),
            )),
            None => Ok(()),
        };
    }
    let Ok(target) = parse_tcp_client(connect) else {
        return Ok(());
    };
    let listeners: Vec<(&String, Listener)> = listen
        .iter()
        .filter_map(|d| {
            let spec = parse_tcp_server(d).ok()?;
            if spec.port != target.port || spec.port == 0 {
                return None;
            }
            Some((d, Listener::of(&spec)?))
        })
        .collect();
    if listeners.is_empty() {
        return Ok(());
    }
    let Ok(addrs) = (target.host.as_str(), target.port).to_socket_addrs() else {
        return Ok(());
    };
    for addr in addrs {
        if target.ipv6 && addr.is_ipv4() {
            continue;
        }
        let ip = reached(addr);
        if let Some((description, _)) = listeners.iter().find(|(_, l)| l.gets(ip)) {
            return Err(Failure::new(
                exit::USAGE,
                format!(
                    "--connect: {connect} reaches {}, where this forwarder listens \
                     (--listen {description}): it would forward every connection to itself",
                    SocketAddr::new(ip, target.port)
                ),
            ));
        }
    }
    Ok(())
}

/// Where a listening socket takes connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listener {
    /// Every IPv4 address of the machine.
    AnyV4,
    /// Every address, IPv6 and (dual-stack) IPv4.
    AnyV6,
    /// One address.
    At(IpAddr),
}

impl Listener {
    /// The listener a server description opens; `None` for an interface
    /// that is not an IP address (the parser refuses those anyway).
    fn of(spec: &gyre::endpoint::spec::TcpServerSpec) -> Option<Listener> {
        if spec.interface.is_empty() {
            return Some(if spec.ipv6 {
                Listener::AnyV6
            } else {
                Listener::AnyV4
            });
        }
        let ip: IpAddr = spec.interface.parse().ok()?;
        Some(match ip {
            IpAddr::V4(v4) if v4.is_unspecified() => Listener::AnyV4,
            IpAddr::V6(v6) if v6.is_unspecified() => Listener::AnyV6,
            ip => Listener::At(ip),
        })
    }

    /// True when a connection to `ip` (on the listener's port) reaches it.
    fn gets(self, ip: IpAddr) -> bool {
        match self {
            Listener::AnyV4 => ip.is_ipv4() && is_local(ip),
            Listener::AnyV6 => is_local(ip),
            Listener::At(own) => own == ip,
        }
    }
}

/// The address a connection to `addr` really goes to: the loopback
/// address for the unspecified one, the IPv4 address for an IPv4-mapped
/// IPv6 one.
fn reached(addr: SocketAddr) -> IpAddr {
    match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        ip => ip,
    }
}

/// True when `ip` is one of this machine's addresses: a loopback address,
/// or one the kernel would send to from that very address.
fn is_local(ip: IpAddr) -> bool {
    if ip.is_loopback() {
        return true;
    }
    let unspecified: IpAddr = match ip {
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let Ok(socket) = UdpSocket::bind((unspecified, 0)) else {
        return false;
    };
    // Connecting a UDP socket only picks a route and a source address.
    socket.connect((ip, 9)).is_ok() && socket.local_addr().is_ok_and(|own| own.ip() == ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(listen: &[&str], connect: &str) -> Result<(), Failure> {
        let listen: Vec<String> = listen.iter().map(|s| s.to_string()).collect();
        refuse_own_ports(&listen, connect)
    }

    /// A `--connect` that reaches a `--listen` is refused with one line,
    /// exit 64, whatever spelling reaches it.
    #[test]
    fn own_ports_are_refused() {
        let table: [(&[&str], &str); 12] = [
            (&["unix:/run/f.sock"], "unix:/run/f.sock"),
            (
                &["tcp:1", "haproxy:unix:/run/f.sock"],
                "UNIX:path=/run/f.sock",
            ),
            (&["tcp:6666"], "tcp:127.0.0.1:6666"),
            (&["tcp:6666"], "tcp:localhost:6666"),
            (&["tcp:6666"], "tcp:127.1.2.3:6666"),
            (&["tcp:6666"], "tcp:0.0.0.0:6666"),
            (&["tcp:6666:interface=127.0.0.1"], "tcp:127.0.0.1:6666"),
            (
                &["tcp:6666:interface=0.0.0.0"],
                "tcp:host=127.0.0.1:port=6666",
            ),
            (&["tcp6:6666"], "tcp:127.0.0.1:6666"),
            (&["tcp6:6666"], r"tcp6:\:\:1:6666"),
            (&[r"tcp6:6666:interface=\:\:1"], r"tcp:\:\:1:6666"),
            (&["tcp:7", "tcp:6666"], "tcp:127.0.0.1:6666:timeout=5"),
        ];
        for (listen, connect) in table {
            let failure = check(listen, connect).expect_err(connect);
            assert_eq!(failure.code, 64, "{listen:?} {connect}");
            assert!(
                failure
                    .message
                    .starts_with(&format!("--connect: {connect} reaches "))
                    && failure
                        .message
                        .ends_with("it would forward every connection to itself"),
                "{listen:?} {connect}: {failure:?}"
            );
            assert_eq!(failure.line().lines().count(), 1);
        }
        assert_eq!(
            check(&["tcp:6666:interface=127.0.0.1"], "tcp:127.0.0.1:6666")
                .unwrap_err()
                .message,
            "--connect: tcp:127.0.0.1:6666 reaches 127.0.0.1:6666, where this forwarder \
             listens (--listen tcp:6666:interface=127.0.0.1): it would forward every \
             connection to itself"
        );
    }

    /// Other ports, other addresses and non-local hosts are forwarded to.
    #[test]
    fn other_targets_are_allowed() {
        let table: [(&[&str], &str); 10] = [
            (&["unix:/run/f.sock"], "unix:/run/g.sock"),
            (&["tcp:6666"], "unix:/run/f.sock"),
            (&["tcp:6666"], "tcp:127.0.0.1:6665"),
            (&["tcp:6666:interface=127.0.0.1"], "tcp:127.0.0.2:6666"),
            (&[r"tcp6:6666:interface=\:\:1"], "tcp:127.0.0.1:6666"),
            (&["tcp:6666:interface=127.0.0.1"], r"tcp:\:\:1:6666"),
            (&["tcp:6666"], r"tcp6:\:\:1:6666"),
            // Documentation addresses (RFC 5737, 3849): never this machine's.
            (&["tcp:6666"], "tcp:192.0.2.1:6666"),
            (&["tcp6:6666"], r"tcp6:2001\:db8\:\:1:6666"),
            // Port 0 is a free port, never the one connected to.
            (&["tcp:0"], "tcp:127.0.0.1:0"),
        ];
        for (listen, connect) in table {
            assert_eq!(check(listen, connect), Ok(()), "{listen:?} {connect}");
        }
    }

    /// A host that does not resolve is left to fail per connection; a host
    /// on another port is not even looked up.
    #[test]
    fn unresolved_hosts_are_not_refused() {
        assert_eq!(check(&["tcp:6666"], "tcp:host=bad..name:port=6666"), Ok(()));
        assert_eq!(check(&["tcp:6666"], "tcp:host=bad..name:port=6667"), Ok(()));
    }

    /// This machine's addresses are local; loopback always is.
    #[test]
    fn local_addresses() {
        assert!(is_local(Ipv4Addr::LOCALHOST.into()));
        assert!(is_local(Ipv4Addr::new(127, 9, 9, 9).into()));
        assert!(is_local(Ipv6Addr::LOCALHOST.into()));
        assert!(!is_local(Ipv4Addr::new(192, 0, 2, 1).into()));
        assert_eq!(
            reached("0.0.0.0:1".parse().unwrap()),
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        );
        assert_eq!(
            reached("[::ffff:127.0.0.1]:1".parse().unwrap()),
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        );
    }
}
