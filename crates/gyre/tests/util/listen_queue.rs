//! The accept-queue limit of a listening TCP socket, as the kernel reports it.
//!
//! Linux's `sock_diag` netlink interface, the one `ss` uses, answers a dump
//! request for listening TCP sockets with one `inet_diag_msg` per socket. For
//! a listening socket its `idiag_wqueue` is the accept queue's limit
//! (`sk_max_ack_backlog`: the backlog given to `listen`, capped at
//! `net.core.somaxconn`), which `ss -ltn` prints as `Send-Q`.
//!
//! Included by path from the tests that check listen backlogs, in gyre
//! (`tests/backlog.rs`) and in gyre-cli (`tests/backlog.rs`), so both read
//! the kernel the same way.

use std::io;
use std::net::{IpAddr, SocketAddr};

use rustix::net::netlink::{self, SocketAddrNetlink};
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketType, recv, sendto, socket};

/// `SOCK_DIAG_BY_FAMILY`, the request type of `sock_diag`.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `NLM_F_REQUEST | NLM_F_DUMP`.
const DUMP_REQUEST: u16 = 0x1 | 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
/// `TCP_LISTEN` in the kernel's state numbering.
const TCP_LISTEN: u32 = 10;
const IPPROTO_TCP: u8 = 6;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
/// `struct nlmsghdr`.
const HEADER: usize = 16;
/// `struct inet_diag_msg`: family, state, timer, retrans, the 48-byte
/// socket id, then expires, rqueue, wqueue, uid, inode.
const DIAG_MSG: usize = 72;

/// The accept-queue limits of the TCP sockets listening on exactly `addr`
/// (address and port): none when nothing listens there, several when
/// several sockets share the port (`SO_REUSEPORT`).
pub(crate) fn accept_queue_limits(addr: SocketAddr) -> io::Result<Vec<u32>> {
    let family = if addr.is_ipv4() { AF_INET } else { AF_INET6 };
    let fd = socket(
        AddressFamily::NETLINK,
        SocketType::DGRAM,
        Some(netlink::SOCK_DIAG),
    )?;
    // nlmsghdr, then inet_diag_req_v2: family, protocol, ext, pad, states,
    // and a zeroed socket id (a dump ignores it; the rows are filtered here).
    let mut request = Vec::with_capacity(HEADER + 56);
    request.extend_from_slice(&((HEADER + 56) as u32).to_ne_bytes());
    request.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    request.extend_from_slice(&DUMP_REQUEST.to_ne_bytes());
    request.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    request.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel
    request.extend_from_slice(&[family, IPPROTO_TCP, 0, 0]);
    request.extend_from_slice(&(1u32 << TCP_LISTEN).to_ne_bytes());
    request.extend_from_slice(&[0u8; 48]);
    sendto(
        &fd,
        &request,
        SendFlags::empty(),
        &SocketAddrNetlink::new(0, 0),
    )?;
    let mut found = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = recv(&fd, &mut buf[..], RecvFlags::empty())?.0;
        let mut at = 0;
        while at + HEADER <= n {
            let len = u32::from_ne_bytes(buf[at..at + 4].try_into().unwrap()) as usize;
            let kind = u16::from_ne_bytes(buf[at + 4..at + 6].try_into().unwrap());
            if len < HEADER || at + len > n {
                return Err(io::Error::other("malformed sock_diag reply"));
            }
            match kind {
                NLMSG_DONE => return Ok(found),
                NLMSG_ERROR => return Err(io::Error::other("sock_diag refused the request")),
                SOCK_DIAG_BY_FAMILY if len >= HEADER + DIAG_MSG => {
                    let msg = &buf[at + HEADER..at + HEADER + DIAG_MSG];
                    if listens_on(msg, addr) {
                        found.push(u32::from_ne_bytes(msg[60..64].try_into().unwrap()));
                    }
                }
                _ => {}
            }
            at += (len + 3) & !3;
        }
        if n == 0 {
            return Err(io::Error::other("sock_diag reply ended without DONE"));
        }
    }
}

/// Whether an `inet_diag_msg` describes a socket bound to `addr`.
fn listens_on(msg: &[u8], addr: SocketAddr) -> bool {
    let port = u16::from_be_bytes([msg[4], msg[5]]);
    let source = &msg[8..24];
    let same_ip = match addr.ip() {
        IpAddr::V4(ip) => msg[0] == AF_INET && source[..4] == ip.octets(),
        IpAddr::V6(ip) => msg[0] == AF_INET6 && source == ip.octets(),
    };
    port == addr.port() && same_ip
}
