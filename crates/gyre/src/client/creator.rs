//! [`ClientCreator`]: Twisted's older one-shot client API, kept for code
//! (and tutorials) written against it. New code should prefer an endpoint
//! and [`connect_protocol`](crate::endpoint::connect_protocol).

use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use crate::deferred::{Deferred, defer_later};
use crate::endpoint::{ClientEndpointExt, Connected, OneShotFactory, TcpClientEndpoint};
use crate::protocol::Protocol;
use crate::reactor::Reactor;
use crate::tcp::TcpConnectOptions;

/// Connects single protocols built by a closure (Twisted's `ClientCreator`,
/// reference §3.3).
///
/// Each connect builds one protocol and returns a Deferred that fires with
/// it one reactor turn after its `connection_made`, or fails with the
/// connection's [`ConnectError`](crate::ConnectError). Cancelling it while
/// connecting stops the attempt. Its factory is quiet: no `Starting
/// factory` / `Stopping factory` lines.
///
/// ```no_run
/// use gyre::client::ClientCreator;
/// use gyre::{Protocol, Reactor, Transport};
///
/// #[derive(Default)]
/// struct Greeter;
/// impl Protocol for Greeter {
///     fn connection_made(&mut self, t: &Transport) { t.write(b"MESSAGE Hello\n") }
/// }
///
/// let reactor = Reactor::new()?;
/// let creator = ClientCreator::new(&reactor, Greeter::default);
/// creator.connect_tcp("localhost", 1234).add_callback(|p| p.transport().lose_connection());
/// reactor.run()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ClientCreator<P, B> {
    reactor: Reactor,
    build: Rc<B>,
    _protocol: std::marker::PhantomData<fn() -> P>,
}

impl<P: Protocol, B: Fn() -> P + 'static> ClientCreator<P, B> {
    /// A creator building its protocols with `build`.
    pub fn new(reactor: &Reactor, build: B) -> Self {
        ClientCreator {
            reactor: reactor.clone(),
            build: Rc::new(build),
            _protocol: std::marker::PhantomData,
        }
    }

    /// Connects to `host:port` with a 30-second timeout.
    pub fn connect_tcp(&self, host: &str, port: u16) -> Deferred<Connected<P>> {
        self.connect_tcp_with(host, port, TcpConnectOptions::default())
    }

    /// Connects with a timeout and bind address.
    pub fn connect_tcp_with(
        &self,
        host: &str,
        port: u16,
        options: TcpConnectOptions,
    ) -> Deferred<Connected<P>> {
        let endpoint = TcpClientEndpoint::new(&self.reactor, host, port)
            .with_timeout(options.timeout)
            .with_bind_address(options.bind_address);
        let factory = OneShotFactory::new((self.build)(), false);
        let reactor = self.reactor.clone();
        endpoint
            .connect(factory)
            .add_callback_deferred(move |p| defer_later(&reactor, Duration::ZERO, move || p))
    }
}

impl<P, B> fmt::Debug for ClientCreator<P, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientCreator")
    }
}
