//! HAProxy in front of a `gyre echo` backend, for the `haproxy-*` servers
//! of `bench`: where the binary is, the configuration it runs with, and
//! whether it listens yet.
//!
//! The configuration is TCP mode on 127.0.0.1 only, one frontend, one
//! server, at most 9,000 connections (two descriptors each, within the
//! 20,000 `bench` raises its limit to; the 10,000 of `idle` are too many),
//! one HAProxy thread (so the client, HAProxy and gyre share the
//! machine's CPUs the same way for every kind), and none of what Debian's
//! `/etc/haproxy/haproxy.cfg` adds for a system service (daemon, chroot,
//! user switch, stats socket, syslog): `bench` runs it in the foreground
//! (`-db`) and kills it with the backend.

use std::fs;
use std::io;
use std::path::PathBuf;

/// How HAProxy talks to the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Send {
    /// No PROXY header: the backend is plain `gyre echo --listen tcp:…`.
    Plain,
    /// `send-proxy`: a v1 line first (the backend listens on `haproxy:`).
    V1,
    /// `send-proxy-v2`: a v2 header first.
    V2,
}

impl Send {
    /// The `server` line's option.
    fn option(self) -> &'static str {
        match self {
            Send::Plain => "",
            Send::V1 => " send-proxy",
            Send::V2 => " send-proxy-v2",
        }
    }
}

/// `haproxy` on `PATH`, or where Debian installs it.
pub fn binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("haproxy"));
    on_path
        .chain([PathBuf::from("/usr/sbin/haproxy")])
        .find(|p| p.is_file())
}

/// The configuration: 127.0.0.1:`frontend` relayed to 127.0.0.1:`backend`.
pub fn config(frontend: u16, backend: u16, send: Send) -> String {
    format!(
        "global
    maxconn 9000
    nbthread 1

defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s

frontend bench
    bind 127.0.0.1:{frontend}
    default_backend echo

backend echo
    server gyre 127.0.0.1:{backend}{}
",
        send.option()
    )
}

/// Whether something listens on 127.0.0.1:`port` (from `/proc/net/tcp`,
/// without connecting).
pub fn listening(port: u16) -> io::Result<bool> {
    Ok(listens_in(&fs::read_to_string("/proc/net/tcp")?, port))
}

/// Whether `/proc/net/tcp` text `table` has a listening socket on
/// 127.0.0.1:`port`.
fn listens_in(table: &str, port: u16) -> bool {
    // Local address 0100007F:PORT (127.0.0.1, printed as a host-order word
    // on little-endian machines), state 0A (LISTEN).
    let local = format!("{:08X}:{port:04X}", u32::from_ne_bytes([127, 0, 0, 1]));
    table.lines().skip(1).any(|row| {
        let mut fields = row.split_whitespace().skip(1);
        fields.next() == Some(&local) && fields.nth(1) == Some("0A")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listening row of `/proc/net/tcp` is found by its port; a
    /// connected one on the same port is not.
    #[test]
    fn finds_a_listening_socket() {
        let local = format!("{:08X}", u32::from_ne_bytes([127, 0, 0, 1]));
        let table = format!(
            "  sl  local_address rem_address   st tx_queue rx_queue\n\
             0: {local}:1F90 00000000:0000 0A 00000000:00000000\n\
             1: {local}:1F91 {local}:D431 01 00000000:00000000\n"
        );
        assert!(listens_in(&table, 8080));
        assert!(!listens_in(&table, 8081));
        assert!(!listens_in(&table, 80));
    }

    /// The server line carries the header option of each kind.
    #[test]
    fn the_server_line_says_what_to_send() {
        assert!(config(1, 2, Send::V2).contains("server gyre 127.0.0.1:2 send-proxy-v2\n"));
        assert!(config(1, 2, Send::V1).contains("server gyre 127.0.0.1:2 send-proxy\n"));
        assert!(config(1, 2, Send::Plain).contains("server gyre 127.0.0.1:2\n"));
        assert!(config(1, 2, Send::Plain).contains("bind 127.0.0.1:1\n"));
    }
}
