//! Name resolution for endpoints, off the reactor thread.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};

use crate::deferred::Deferred;
use crate::error::ConnectError;
use crate::reactor::Reactor;

/// Turns a host name into addresses (Twisted's `IHostnameResolver`).
///
/// [`HostnameEndpoint`](super::HostnameEndpoint) uses one; tests give it a
/// fake that answers from a table, so no test ever asks a real DNS server.
pub trait Resolver {
    /// Every address for `host` and `port`, in the order to try them.
    /// Fails with [`ConnectError::DnsLookup`] when the name does not resolve.
    fn resolve(&self, host: &str, port: u16) -> Deferred<Vec<SocketAddr>>;
}

/// The system resolver (`getaddrinfo`), run on a helper thread so the
/// reactor never blocks. Addresses come back in the system's preferred
/// order (RFC 6724), IPv6 and IPv4 alike. Cancelling the Deferred makes the
/// reactor ignore the answer (the lookup itself cannot be interrupted).
#[derive(Clone)]
pub struct ThreadResolver {
    reactor: Reactor,
}

impl ThreadResolver {
    /// A resolver that hands answers back to `reactor`.
    pub fn new(reactor: &Reactor) -> ThreadResolver {
        ThreadResolver {
            reactor: reactor.clone(),
        }
    }
}

impl Resolver for ThreadResolver {
    fn resolve(&self, host: &str, port: u16) -> Deferred<Vec<SocketAddr>> {
        let d = Deferred::new();
        let fire = d.clone();
        let name = host.to_string();
        self.reactor.run_in_thread(
            move || {
                (name.as_str(), port)
                    .to_socket_addrs()
                    .map(|addrs| addrs.collect::<Vec<_>>())
                    .map_err(|_| name)
            },
            move |result: Result<Vec<SocketAddr>, String>| {
                if fire.is_called() {
                    return;
                }
                let _ = match result {
                    Ok(addrs) => fire.callback(addrs),
                    Err(host) => fire.errback(ConnectError::DnsLookup { host }),
                };
            },
        );
        d
    }
}

impl fmt::Debug for ThreadResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ThreadResolver")
    }
}
