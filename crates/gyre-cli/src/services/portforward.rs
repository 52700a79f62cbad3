//! `gyre portforward`: relay every inbound connection to an upstream
//! endpoint, byte for byte, in both directions (Twisted's
//! `twisted.protocols.portforward`, reference §13.4).
//!
//! Each accepted connection ([`ProxyServer`]) stops reading at once and asks
//! the upstream endpoint for one outbound connection ([`ProxyClient`], built
//! by a [`ProxyClientFactory`] of its own, so `Starting factory` /
//! `Stopping factory` are logged once per forwarded connection, as in
//! Twisted). When the outbound connection is made the two are wired into a
//! [`Pair`] and reading resumes; from then on whatever one side reads is
//! written to the other unchanged.
//!
//! Flow control, end to end: each side's transport gets a [`Pacer`] for the
//! other side as its streaming producer. When one side's write buffer passes
//! the transport's high-water mark (64 KiB) the pacer pauses reading on the
//! *other* side, and resumes it when the buffer has drained; the kernel's
//! socket buffers then push back on the fast peer. A forwarded connection
//! therefore holds at most about two reads' worth of data per direction,
//! however fast one peer sends and however slowly the other reads.
//!
//! Closing, which goes further than Twisted (whose forwarder closes both
//! sides at the first end of input, cutting off replies to a half-closed
//! request):
//!
//! * both protocols are half-closeable: when one peer shuts down its
//!   sending side, the forwarder shuts down its sending side towards the
//!   other peer (`lose_write_connection`) and keeps relaying the other way;
//! * a side whose input has ended and whose output has been shut down has
//!   nothing left to carry and is closed;
//! * when either connection is gone for good (closed, reset, aborted), the
//!   other is closed with `lose_connection`, which still delivers what is
//!   buffered for it;
//! * if the outbound connection cannot be made, one line is logged with the
//!   reason and the inbound connection is closed; if the inbound connection
//!   goes while the outbound one is still being made, that attempt is
//!   cancelled.
//!
//! With `--send-proxy v1|v2` each outbound connection starts with a PROXY
//! protocol header naming the inbound connection's peer and host, as its
//! transport gives them: behind a `haproxy:` listener, the client and
//! server of the header it read (HAProxy's `send-proxy`); written by the
//! library's `SendHeader` wrapper before anything is relayed.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::rc::{Rc, Weak};

use gyre::deferred::WeakDeferred;
use gyre::endpoint::ClientEndpoint;
use gyre::haproxy::{ProxyHeader, SendHeader, Version};
use gyre::{
    Address, AnyFactory, ConnectError, Factory, Producer, Protocol, PushProducer, Reason, Shared,
    Transport, WrappingFactory,
};

/// The listening side: builds a [`ProxyServer`] per inbound connection, each
/// forwarding to `upstream`. Logs as `ProxyFactory` (`ProxyFactory starting
/// on 6666`).
pub(crate) struct ProxyFactory {
    upstream: Rc<dyn ClientEndpoint>,
    send_proxy: Option<Version>,
}

impl ProxyFactory {
    /// A factory forwarding every connection to `upstream`.
    pub(crate) fn new(upstream: Rc<dyn ClientEndpoint>) -> ProxyFactory {
        ProxyFactory {
            upstream,
            send_proxy: None,
        }
    }

    /// Starts each outbound connection with a PROXY header of `version`.
    pub(crate) fn with_send_proxy(mut self, version: Option<Version>) -> ProxyFactory {
        self.send_proxy = version;
        self
    }
}

impl Factory for ProxyFactory {
    type Protocol = ProxyEnd;

    fn build_protocol(&self, _addr: &Address) -> Option<ProxyEnd> {
        Some(ProxyEnd {
            pair: Pair::new(self.upstream.clone(), self.send_proxy),
            side: Side::Inbound,
        })
    }

    fn log_prefix(&self) -> Cow<'static, str> {
        Cow::Borrowed("ProxyFactory")
    }

    fn qualified_name(&self) -> Cow<'static, str> {
        Cow::Borrowed("gyre::services::ProxyFactory")
    }
}

impl fmt::Debug for ProxyFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyFactory")
            .field("upstream", &self.upstream.to_string())
            .finish()
    }
}

/// Which connection of a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// The accepted connection, from the client.
    Inbound,
    /// The connection the forwarder made to the upstream endpoint.
    Outbound,
}

impl Side {
    fn index(self) -> usize {
        match self {
            Side::Inbound => 0,
            Side::Outbound => 1,
        }
    }

    fn other(self) -> Side {
        match self {
            Side::Inbound => Side::Outbound,
            Side::Outbound => Side::Inbound,
        }
    }
}

/// What the pair knows of one of its connections.
#[derive(Debug, Default)]
struct End {
    /// The connection, from `connection_made` until `connection_lost`.
    transport: Option<Transport>,
    /// Its peer has shut down its sending side (`read_connection_lost`).
    read_done: bool,
    /// Our sending side towards its peer is shut down (`write_connection_lost`).
    write_done: bool,
    /// `connection_lost` was delivered.
    lost: bool,
}

/// One forwarded connection: the inbound and outbound transports and the
/// rules that tie them together.
struct Pair {
    upstream: Rc<dyn ClientEndpoint>,
    /// `--send-proxy`: the version of the header the outbound side starts with.
    send_proxy: Option<Version>,
    ends: RefCell<[End; 2]>,
    /// The outbound connection attempt, while it is under way.
    connecting: RefCell<Option<WeakDeferred<Transport>>>,
}

impl Pair {
    fn new(upstream: Rc<dyn ClientEndpoint>, send_proxy: Option<Version>) -> Rc<Pair> {
        Rc::new(Pair {
            upstream,
            send_proxy,
            ends: RefCell::new([End::default(), End::default()]),
            connecting: RefCell::new(None),
        })
    }

    /// The live transport of `side`, if any.
    fn transport(&self, side: Side) -> Option<Transport> {
        self.ends.borrow()[side.index()].transport.clone()
    }

    /// The inbound connection is made: stop reading and connect upstream.
    fn inbound_made(self: &Rc<Self>, transport: &Transport) {
        self.ends.borrow_mut()[Side::Inbound.index()].transport = Some(transport.clone());
        transport.pause_reading();
        let factory = ProxyClientFactory {
            pair: Rc::downgrade(self),
        };
        let factory = match self.send_proxy {
            None => AnyFactory::new(Shared::new(factory)),
            Some(version) => {
                let header = client_header(version, transport);
                AnyFactory::new(WrappingFactory::wrap(factory, header))
            }
        };
        let connecting = self.upstream.connect_any(factory);
        if !connecting.is_called() {
            *self.connecting.borrow_mut() = Some(connecting.downgrade());
        }
        let pair = Rc::downgrade(self);
        connecting.consume(move |result| {
            let Err(failure) = result else { return };
            if let Some(pair) = pair.upgrade() {
                pair.connect_failed(&failure);
            }
        });
    }

    /// The outbound connection could not be made: say why, close the inbound one.
    fn connect_failed(&self, failure: &gyre::Failure) {
        self.connecting.borrow_mut().take();
        let Some(inbound) = self.transport(Side::Inbound) else {
            return; // cancelled because the inbound connection went first
        };
        let interrupted = matches!(
            failure.check::<ConnectError>(),
            Some(ConnectError::Shutdown | ConnectError::Cancelled { .. })
        );
        if !interrupted {
            gyre::log::with_system(inbound.log_prefix(), || {
                log::warn!(
                    "Cannot forward to {}: {failure} Closing the inbound connection.",
                    self.upstream
                );
            });
        }
        inbound.lose_connection();
    }

    /// The outbound connection is made: pace each side by the other and
    /// start reading from the client.
    fn outbound_made(&self, outbound: &Transport) {
        self.connecting.borrow_mut().take();
        self.ends.borrow_mut()[Side::Outbound.index()].transport = Some(outbound.clone());
        let inbound = match self.transport(Side::Inbound) {
            Some(t) if t.is_connected() && !t.is_disconnecting() => t,
            _ => {
                outbound.lose_connection();
                return;
            }
        };
        for (consumer, producer) in [(&inbound, outbound), (outbound, &inbound)] {
            let pacer = Pacer {
                reading: producer.clone(),
            };
            if let Err(err) = consumer.register_producer(Producer::streaming(pacer)) {
                log::debug!("forwarding without flow control: {err}");
            }
        }
        inbound.resume_reading();
    }

    /// Bytes read on `from` go to the other side unchanged.
    fn relay(&self, from: Side, data: &[u8]) {
        if let Some(to) = self.transport(from.other()) {
            to.write(data);
        }
    }

    /// `side`'s peer will send nothing more: tell the other peer the same.
    fn read_done(&self, side: Side) {
        self.ends.borrow_mut()[side.index()].read_done = true;
        if let Some(other) = self.transport(side.other()) {
            other.lose_write_connection();
        }
        self.close_if_finished(side);
    }

    /// Our sending side towards `side`'s peer is shut down.
    fn write_done(&self, side: Side) {
        self.ends.borrow_mut()[side.index()].write_done = true;
        self.close_if_finished(side);
    }

    /// A side with nothing left to carry either way is closed.
    fn close_if_finished(&self, side: Side) {
        let finished = {
            let ends = self.ends.borrow();
            let end = &ends[side.index()];
            end.read_done && end.write_done
        };
        if finished && let Some(t) = self.transport(side) {
            t.lose_connection();
        }
    }

    /// `side` is gone: close the other (after it has sent what it holds),
    /// or stop connecting it.
    fn lost(&self, side: Side) {
        let other = {
            let mut ends = self.ends.borrow_mut();
            let end = &mut ends[side.index()];
            end.lost = true;
            end.transport = None;
            ends[side.other().index()].transport.clone()
        };
        if let Some(other) = other {
            // Its producer paced the side that is gone.
            other.unregister_producer();
            other.lose_connection();
        }
        let connecting = self.connecting.borrow_mut().take();
        if let Some(d) = connecting.and_then(|weak| weak.upgrade()) {
            d.cancel();
        }
    }
}

impl fmt::Debug for Pair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pair")
            .field("upstream", &self.upstream.to_string())
            .field("ends", &self.ends.borrow())
            .finish_non_exhaustive()
    }
}

/// The PROXY header naming `inbound`'s peer and host, in `version`; a pair
/// of addresses the format cannot hold (a UNIX path over 108 bytes) is
/// sent as the spec's address-less header.
fn client_header(version: Version, inbound: &Transport) -> SendHeader {
    let header = ProxyHeader::new(version, inbound.peer(), inbound.host());
    SendHeader::new(&header).unwrap_or_else(|_| {
        SendHeader::new(&ProxyHeader::unknown(version)).expect("an address-less header fits")
    })
}

/// Registered on one side's transport: pauses and resumes reading on the
/// other side, so data is read no faster than it can be written on.
struct Pacer {
    /// The transport whose reading is paced.
    reading: Transport,
}

impl PushProducer for Pacer {
    fn pause_producing(&self) {
        self.reading.pause_reading();
    }

    fn resume_producing(&self) {
        if self.reading.is_connected() && !self.reading.is_disconnecting() {
            self.reading.resume_reading();
        }
    }

    /// The consumer is gone; the pair closes the other side itself.
    fn stop_producing(&self) {}
}

/// One end of a pair: the inbound connection's protocol (Twisted's
/// `ProxyServer`) or the outbound one's (`ProxyClient`). Every event goes to
/// the pair, tagged with the side it came from.
pub(crate) struct ProxyEnd {
    pair: Rc<Pair>,
    side: Side,
}

impl Protocol for ProxyEnd {
    fn connection_made(&mut self, transport: &Transport) {
        match self.side {
            Side::Inbound => self.pair.inbound_made(transport),
            Side::Outbound => self.pair.outbound_made(transport),
        }
    }

    fn data_received(&mut self, _transport: &Transport, data: &[u8]) {
        self.pair.relay(self.side, data);
    }

    fn connection_lost(&mut self, _reason: Reason) {
        self.pair.lost(self.side);
    }

    fn half_closeable(&self) -> bool {
        true
    }

    fn read_connection_lost(&mut self, _transport: &Transport) {
        self.pair.read_done(self.side);
    }

    fn write_connection_lost(&mut self, _transport: &Transport) {
        self.pair.write_done(self.side);
    }

    fn log_prefix(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self.side {
            Side::Inbound => "ProxyServer",
            Side::Outbound => "ProxyClient",
        })
    }
}

impl fmt::Debug for ProxyEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(&self.log_prefix())
            .field("pair", &self.pair)
            .finish()
    }
}

/// Builds the one outbound [`ProxyEnd`] of a pair; builds nothing once the
/// inbound connection (and with it the pair) is gone.
struct ProxyClientFactory {
    pair: Weak<Pair>,
}

impl Factory for ProxyClientFactory {
    type Protocol = ProxyEnd;

    fn build_protocol(&self, _addr: &Address) -> Option<ProxyEnd> {
        self.pair.upgrade().map(|pair| ProxyEnd {
            pair,
            side: Side::Outbound,
        })
    }

    fn qualified_name(&self) -> Cow<'static, str> {
        Cow::Borrowed("gyre::services::ProxyClientFactory")
    }
}

impl fmt::Debug for ProxyClientFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProxyClientFactory")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gyre::Deferred;
    use gyre::testing::StringTransport;

    /// An upstream endpoint the test controls: it keeps the factory and
    /// the Deferred of each `connect_any`.
    #[derive(Default)]
    struct FakeUpstream {
        attempts: RefCell<Vec<(AnyFactory, Deferred<Transport>)>>,
    }

    impl fmt::Display for FakeUpstream {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("fake:upstream")
        }
    }

    impl ClientEndpoint for FakeUpstream {
        fn connect_any(&self, factory: AnyFactory) -> Deferred<Transport> {
            let d = Deferred::new();
            self.attempts.borrow_mut().push((factory, d.clone()));
            d
        }
    }

    /// A forwarded connection driven by hand: the client's transport, the
    /// upstream's, and both protocols.
    struct Rig {
        client: StringTransport,
        server: Box<dyn Protocol>,
        upstream: StringTransport,
        outbound: Box<dyn Protocol>,
    }

    /// Accepts one inbound connection and completes its outbound one.
    fn forwarded() -> Rig {
        forwarded_with(None)
    }

    /// [`forwarded`], with `--send-proxy`.
    fn forwarded_with(send_proxy: Option<Version>) -> Rig {
        let fake = Rc::new(FakeUpstream::default());
        let factory = ProxyFactory::new(fake.clone()).with_send_proxy(send_proxy);
        let addr = Address::tcp(([127, 0, 0, 1], 1).into());
        let mut server: Box<dyn Protocol> = Box::new(factory.build_protocol(&addr).unwrap());
        let client = StringTransport::new();
        client.make_connection(&mut server);
        assert!(client.is_reading_paused(), "reads before upstream is up");
        let (any, d) = fake.attempts.borrow_mut().pop().expect("one attempt");
        let mut outbound = any.build(&addr).expect("a ProxyClient");
        let upstream = StringTransport::new();
        upstream.make_connection(&mut outbound);
        d.callback(upstream.transport()).unwrap();
        assert!(
            !client.is_reading_paused(),
            "reading resumes once connected"
        );
        Rig {
            client,
            server,
            upstream,
            outbound,
        }
    }

    impl Drop for Rig {
        fn drop(&mut self) {
            // Break the producer cycles between the two doubles.
            self.client.transport().unregister_producer();
            self.upstream.transport().unregister_producer();
        }
    }

    /// Bytes go both ways unchanged.
    #[test]
    fn relays_both_ways() {
        let mut rig = forwarded();
        let (c, u) = (rig.client.transport(), rig.upstream.transport());
        rig.server.data_received(&c, b"hello\r\n\0\xff");
        assert_eq!(rig.upstream.value(), b"hello\r\n\0\xff");
        rig.outbound.data_received(&u, b"world");
        assert_eq!(rig.client.value(), b"world");
        assert!(!rig.client.is_disconnecting() && !rig.upstream.is_disconnecting());
    }

    /// With `--send-proxy`, the upstream first receives the header naming
    /// the client (the inbound transport's peer, 192.168.1.1:54321) and
    /// the address it connected to (its host, 10.0.0.1:12345), then the
    /// client's bytes.
    #[test]
    fn send_proxy_names_the_client_first() {
        let mut rig = forwarded_with(Some(Version::V1));
        rig.server.data_received(&rig.client.transport(), b"hello");
        assert_eq!(
            rig.upstream.value(),
            b"PROXY TCP4 192.168.1.1 10.0.0.1 54321 12345\r\nhello"
        );
        let rig = forwarded_with(Some(Version::V2));
        let mut v2 = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
        v2.extend_from_slice(&[192, 168, 1, 1, 10, 0, 0, 1, 0xD4, 0x31, 0x30, 0x39]);
        assert_eq!(rig.upstream.value(), v2);
    }

    /// Each transport's producer paces reading on the other side.
    #[test]
    fn each_side_paces_the_other() {
        let rig = forwarded();
        for (consumer, reader) in [(&rig.client, &rig.upstream), (&rig.upstream, &rig.client)] {
            let Some(Producer::Streaming(p)) = consumer.producer() else {
                panic!("no streaming producer on {:?}", consumer.transport());
            };
            p.pause_producing();
            assert!(reader.is_reading_paused());
            p.resume_producing();
            assert!(!reader.is_reading_paused());
        }
    }

    /// A half-close travels across; the side with nothing left is closed.
    #[test]
    fn half_close_travels_across() {
        let mut rig = forwarded();
        let (c, u) = (rig.client.transport(), rig.upstream.transport());
        rig.server.read_connection_lost(&c);
        assert!(rig.upstream.is_write_shut(), "upstream told of the end");
        assert!(!rig.client.is_disconnecting(), "the reply can still come");
        rig.outbound.write_connection_lost(&u);
        assert!(!rig.upstream.is_disconnecting(), "upstream may still reply");
        rig.outbound.data_received(&u, b"reply");
        assert_eq!(rig.client.value(), b"reply");
        rig.outbound.read_connection_lost(&u);
        assert!(rig.client.is_write_shut());
        assert!(rig.upstream.is_disconnecting(), "upstream is finished");
        rig.server.write_connection_lost(&c);
        assert!(rig.client.is_disconnecting(), "client is finished");
    }

    /// When either side is lost the other is closed.
    #[test]
    fn losing_either_side_closes_the_other() {
        let mut rig = forwarded();
        rig.outbound.connection_lost(Reason::Done);
        assert!(rig.client.is_disconnecting());
        assert!(rig.client.producer().is_none(), "pacer unregistered");

        let mut rig = forwarded();
        rig.server.connection_lost(Reason::Lost(None));
        assert!(rig.upstream.is_disconnecting());
    }

    /// A failed upstream connect closes the inbound connection.
    #[test]
    fn failed_connect_closes_the_inbound_connection() {
        let fake = Rc::new(FakeUpstream::default());
        let factory = ProxyFactory::new(fake.clone());
        let addr = Address::tcp(([127, 0, 0, 1], 1).into());
        let mut server = factory.build_protocol(&addr).unwrap();
        let client = StringTransport::new();
        client.make_connection(&mut server);
        let (_, d) = fake.attempts.borrow_mut().pop().unwrap();
        d.errback(ConnectError::Refused).unwrap();
        assert!(client.is_disconnecting());
        assert!(client.value().is_empty());
    }

    /// An inbound connection that goes while connecting cancels the attempt,
    /// and a late outbound connection is closed at once.
    #[test]
    fn inbound_gone_while_connecting() {
        let fake = Rc::new(FakeUpstream::default());
        let factory = ProxyFactory::new(fake.clone());
        let addr = Address::tcp(([127, 0, 0, 1], 1).into());
        let mut server = factory.build_protocol(&addr).unwrap();
        let client = StringTransport::new();
        client.make_connection(&mut server);
        let (any, d) = fake.attempts.borrow_mut().pop().unwrap();
        // Build the client protocol before the pair goes, as a connection
        // that completes in the same turn would.
        let mut outbound = any.build(&addr).expect("pair still alive");
        server.connection_lost(Reason::Lost(None));
        assert!(d.is_called(), "the attempt was cancelled");
        let upstream = StringTransport::new();
        upstream.make_connection(&mut outbound);
        assert!(upstream.is_disconnecting());
        drop((server, outbound));
        assert!(
            any.build(&addr).is_none(),
            "nothing built once the pair is gone"
        );
    }
}
