//! [`TcpServerEndpoint`]: listen on a TCP port (IPv4 or IPv6).

use std::fmt;

use super::ServerEndpoint;
use super::parse::quote_string_argument;
use crate::deferred::{Deferred, fail, succeed};
use crate::factory::AnyFactory;
use crate::reactor::Reactor;
use crate::tcp::{ListeningPort, TcpListenOptions, TcpReactor};

/// A TCP server endpoint (Twisted's `TCP4ServerEndpoint` and
/// `TCP6ServerEndpoint`): a port, a backlog (default 1024,
/// [`TcpListenOptions::DEFAULT_BACKLOG`], where Twisted's is 50; Linux caps it
/// at `net.core.somaxconn`) and an interface (default: every IPv4 address, or
/// `::` for [`ipv6`](Self::ipv6)).
///
/// Its string form is `tcp:<port>[:interface=<ip>][:backlog=<n>]` or
/// `tcp6:<port>[:interface=<ip>][:backlog=<n>]`.
///
/// `listen` fires at once, with the port or with the
/// [`ListenError`](crate::ListenError) (a port in use, say); it never
/// panics and never returns the error any other way:
///
/// ```
/// use std::io::Read;
///
/// use gyre::endpoint::{ServerEndpointExt, TcpServerEndpoint};
/// use gyre::testing::{failure_result_of_type, success_result_of};
/// use gyre::{for_protocol, ListenError, Protocol, Reactor, Transport};
///
/// struct Hello;
/// impl Protocol for Hello {
///     fn connection_made(&mut self, t: &Transport) {
///         t.write(b"hello\r\n");
///         t.lose_connection();
///     }
/// }
///
/// let reactor = Reactor::new()?;
/// # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
/// # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
/// let endpoint = TcpServerEndpoint::new(&reactor, 0).with_interface("127.0.0.1");
/// assert_eq!(endpoint.to_string(), "tcp:0:interface=127.0.0.1");
/// let port = success_result_of(&endpoint.listen(for_protocol(|| Hello)));
/// let address = port.address();
///
/// // The same port again: in use.
/// let again = TcpServerEndpoint::new(&reactor, address.port()).with_interface("127.0.0.1");
/// let failure = failure_result_of_type::<ListenError>(&again.listen(for_protocol(|| Hello)));
/// assert!(failure.to_string().contains("Address already in use"), "{failure}");
///
/// let handle = reactor.thread_handle();
/// let client = std::thread::spawn(move || {
///     let mut text = String::new();
///     std::net::TcpStream::connect(address).unwrap().read_to_string(&mut text).unwrap();
///     handle.stop();
///     text
/// });
/// reactor.run()?;
/// assert_eq!(client.join().unwrap(), "hello\r\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct TcpServerEndpoint<R: TcpReactor + Clone + 'static = Reactor> {
    reactor: R,
    port: u16,
    options: TcpListenOptions,
    ipv6: bool,
}

impl<R: TcpReactor + Clone + 'static> TcpServerEndpoint<R> {
    /// Port `port` on every IPv4 interface (0: a free port).
    pub fn new(reactor: &R, port: u16) -> Self {
        TcpServerEndpoint {
            reactor: reactor.clone(),
            port,
            options: TcpListenOptions::default(),
            ipv6: false,
        }
    }

    /// Port `port` on every IPv6 interface (`::`).
    pub fn ipv6(reactor: &R, port: u16) -> Self {
        let mut e = TcpServerEndpoint::new(reactor, port);
        e.options.interface = "::".to_string();
        e.ipv6 = true;
        e
    }

    /// Listens on `interface` only (an IP literal).
    pub fn with_interface(mut self, interface: &str) -> Self {
        self.options.interface = interface.to_string();
        self
    }

    /// Sets the listen backlog.
    pub fn with_backlog(mut self, backlog: u32) -> Self {
        self.options.backlog = backlog;
        self
    }

    /// Sets `SO_REUSEPORT` (several reactors on one port).
    pub fn with_reuse_port(mut self, reuse: bool) -> Self {
        self.options.reuse_port = reuse;
        self
    }

    /// The port asked for.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Backlog, interface and `reuse_port`.
    pub fn options(&self) -> &TcpListenOptions {
        &self.options
    }
}

impl<R: TcpReactor + Clone + 'static> ServerEndpoint for TcpServerEndpoint<R> {
    fn listen_any(&self, factory: AnyFactory) -> Deferred<ListeningPort> {
        match self
            .reactor
            .listen_tcp_with(self.port, factory, self.options.clone())
        {
            Ok(port) => succeed(port),
            Err(e) => fail(e),
        }
    }
}

/// The description form: `tcp:8000:interface=127.0.0.1` (`backlog=` only when
/// it is not the default, 1024).
impl<R: TcpReactor + Clone + 'static> fmt::Display for TcpServerEndpoint<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.ipv6 { "tcp6" } else { "tcp" };
        write!(f, "{kind}:{}", self.port)?;
        let default_iface = if self.ipv6 { "::" } else { "" };
        if self.options.interface != default_iface {
            write!(
                f,
                ":interface={}",
                quote_string_argument(&self.options.interface)
            )?;
        }
        if self.options.backlog != TcpListenOptions::DEFAULT_BACKLOG {
            write!(f, ":backlog={}", self.options.backlog)?;
        }
        Ok(())
    }
}

impl<R: TcpReactor + Clone + 'static> fmt::Debug for TcpServerEndpoint<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TcpServerEndpoint({self})")
    }
}
