//! Tests of the wrapper pair: forwarding, overriding, nesting, substituted
//! transports, and the factory rules.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::*;
use crate::connector::{ConnectorImpl, ConnectorState, Destination};
use crate::error::ConnectorError;
use crate::testing::StringTransport;
use crate::transport::Write;

/// Events seen, in order, shared by everything a test records into.
#[derive(Clone, Default)]
struct Events(Rc<RefCell<Vec<String>>>);

impl Events {
    fn push(&self, event: impl Into<String>) {
        self.0.borrow_mut().push(event.into());
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.borrow_mut())
    }
}

/// Records every callback, with whether the transport is the one it
/// was given at `connection_made`; echoes what it receives.
struct Recorder {
    name: &'static str,
    events: Events,
    transport: Option<Transport>,
    half_closeable: bool,
}

impl Recorder {
    fn new(name: &'static str, events: &Events) -> Recorder {
        Recorder {
            name,
            events: events.clone(),
            transport: None,
            half_closeable: true,
        }
    }

    fn same(&self, transport: &Transport) -> bool {
        self.transport
            .as_ref()
            .is_some_and(|t| t.same_as(transport))
    }
}

impl Protocol for Recorder {
    fn connection_made(&mut self, transport: &Transport) {
        self.events.push(format!("{} made", self.name));
        self.transport = Some(transport.clone());
    }
    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        let same = self.same(transport);
        let text = String::from_utf8_lossy(data);
        self.events
            .push(format!("{} data {text} same={same}", self.name));
        transport.write(data);
    }
    fn connection_lost(&mut self, reason: Reason) {
        self.events.push(format!("{} lost {reason:?}", self.name));
    }
    fn half_closeable(&self) -> bool {
        self.half_closeable
    }
    fn read_connection_lost(&mut self, transport: &Transport) {
        let same = self.same(transport);
        self.events
            .push(format!("{} read lost same={same}", self.name));
    }
    fn write_connection_lost(&mut self, transport: &Transport) {
        let same = self.same(transport);
        self.events
            .push(format!("{} write lost same={same}", self.name));
    }
    fn log_prefix(&self) -> Cow<'static, str> {
        Cow::Owned(format!("Rec-{}", self.name))
    }
}

/// Overrides nothing.
#[derive(Debug)]
struct Transparent;
impl<P: Protocol> WrapProtocol<P> for Transparent {}

/// Upper-cases what the inner protocol receives; nothing else.
struct Shout;
impl<P: Protocol> WrapProtocol<P> for Shout {
    fn data_received(&mut self, inner: &mut P, transport: &Transport, data: &[u8]) {
        inner.data_received(transport, &data.to_ascii_uppercase());
    }
}

/// Notes each callback it passes on, before passing it on unchanged.
struct Tag {
    events: Events,
}
impl<P: Protocol> WrapProtocol<P> for Tag {
    fn connection_made(&mut self, inner: &mut P, transport: &Transport) {
        self.events.push("tag made");
        inner.connection_made(transport);
    }
    fn data_received(&mut self, inner: &mut P, transport: &Transport, data: &[u8]) {
        self.events.push("tag data");
        inner.data_received(transport, data);
    }
    fn connection_lost(&mut self, inner: &mut P, reason: Reason) {
        self.events.push("tag lost");
        inner.connection_lost(reason);
    }
}

/// Drives every callback once, half-close events included.
fn drive(protocol: &mut impl Protocol, st: &StringTransport) {
    let t = st.transport();
    protocol.connection_made(&t);
    protocol.data_received(&t, b"one");
    protocol.data_received(&t, b"two");
    protocol.read_connection_lost(&t);
    protocol.write_connection_lost(&t);
    protocol.connection_lost(Reason::Done);
}

/// What a lone `Recorder` named `a` records under `drive`.
fn unwrapped_events() -> Vec<String> {
    let events = Events::default();
    drive(&mut Recorder::new("a", &events), &StringTransport::new());
    events.take()
}

/// A wrapper that overrides nothing forwards every callback, in order,
/// with the connection's own transport, and reports the inner
/// protocol's `half_closeable` and log prefix.
#[test]
fn a_transparent_wrapper_forwards_everything_in_order() {
    let events = Events::default();
    let mut wrapped = ProtocolWrapper::wrap(Recorder::new("a", &events), Transparent);
    let st = StringTransport::new();
    drive(&mut wrapped, &st);
    let seen = events.take();
    let prefix = wrapped.log_prefix();
    let half = wrapped.half_closeable();
    wrapped.inner_mut().half_closeable = false;
    let half_after = wrapped.half_closeable();

    assert_eq!(
        seen,
        [
            "a made",
            "a data one same=true",
            "a data two same=true",
            "a read lost same=true",
            "a write lost same=true",
            "a lost Done",
        ]
    );
    assert_eq!(seen, unwrapped_events());
    assert_eq!(prefix, "Rec-a");
    assert_eq!((half, half_after), (true, false));
    assert_eq!(st.value(), b"onetwo");
}

/// A wrapper that overrides one callback changes that one only: the
/// inner protocol receives upper-cased bytes, and every other event
/// is as without the wrapper.
#[test]
fn overriding_one_callback_changes_only_that_one() {
    let events = Events::default();
    let mut wrapped = ProtocolWrapper::wrap(Recorder::new("a", &events), Shout);
    let st = StringTransport::new();
    drive(&mut wrapped, &st);
    let seen = events.take();

    let mut expected = unwrapped_events();
    expected[1] = "a data ONE same=true".into();
    expected[2] = "a data TWO same=true".into();
    assert_eq!(seen, expected);
    assert_eq!(st.value(), b"ONETWO");
    assert_eq!(wrapped.log_prefix(), "Rec-a");
}

/// A wrapper around a wrapper: the outer one sees each event first,
/// then the inner wrapper's change applies, then the protocol runs.
#[test]
fn a_wrapper_around_a_wrapper() {
    let events = Events::default();
    let inner = ProtocolWrapper::wrap(Recorder::new("a", &events), Shout);
    let mut outer = ProtocolWrapper::wrap(
        inner,
        Tag {
            events: events.clone(),
        },
    );
    let st = StringTransport::new();
    drive(&mut outer, &st);
    let seen = events.take();
    let prefix = outer.log_prefix();

    assert_eq!(
        seen,
        [
            "tag made",
            "a made",
            "tag data",
            "a data ONE same=true",
            "tag data",
            "a data TWO same=true",
            "a read lost same=true",
            "a write lost same=true",
            "tag lost",
            "a lost Done",
        ]
    );
    assert_eq!(prefix, "Rec-a");
    assert!(outer.half_closeable());
}

/// Hands the inner protocol an observed transport, the same one in
/// every callback, and records what goes through it.
struct Observe {
    writes: Rc<RefCell<Vec<String>>>,
    given: Option<Transport>,
}

impl Observe {
    fn transport_for(&mut self, outer: &Transport) -> Transport {
        let writes = self.writes.clone();
        self.given
            .get_or_insert_with(|| {
                outer.observe(move |w| {
                    let text = match w {
                        Write::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
                        Write::Sequence(parts) => parts
                            .iter()
                            .map(|b| String::from_utf8_lossy(b))
                            .collect::<Vec<_>>()
                            .join("+"),
                    };
                    writes.borrow_mut().push(text);
                })
            })
            .clone()
    }
}

impl<P: Protocol> WrapProtocol<P> for Observe {
    fn connection_made(&mut self, inner: &mut P, transport: &Transport) {
        let t = self.transport_for(transport);
        inner.connection_made(&t);
    }
    fn data_received(&mut self, inner: &mut P, transport: &Transport, data: &[u8]) {
        let t = self.transport_for(transport);
        inner.data_received(&t, data);
    }
    fn read_connection_lost(&mut self, inner: &mut P, transport: &Transport) {
        let t = self.transport_for(transport);
        inner.read_connection_lost(&t);
    }
    fn write_connection_lost(&mut self, inner: &mut P, transport: &Transport) {
        let t = self.transport_for(transport);
        inner.write_connection_lost(&t);
    }
}

/// A wrapper can hand the inner protocol a substituted transport: the
/// inner protocol's writes go through the wrapper on their way to the
/// connection, and the inner protocol sees one stable handle.
#[test]
fn a_substituted_transport_carries_the_inner_writes() {
    let events = Events::default();
    let writes = Rc::new(RefCell::new(Vec::new()));
    let mut wrapped = ProtocolWrapper::wrap(
        Recorder::new("a", &events),
        Observe {
            writes: writes.clone(),
            given: None,
        },
    );
    let st = StringTransport::new();
    drive(&mut wrapped, &st);
    let kept = wrapped.inner().transport.clone().expect("connected");
    kept.write_sequence(&[b"x", b"y"]);
    let seen = events.take();

    assert_eq!(seen, unwrapped_events());
    assert_eq!(*writes.borrow(), ["one", "two", "x+y"]);
    assert_eq!(st.value(), b"onetwoxy");
    assert!(!kept.same_as(&st.transport()));
}

/// Holds the inner protocol back until the first bytes arrive, which it
/// swallows (the shape of a handshake), then lets everything through.
struct Handshake {
    done: bool,
}

impl<P: Protocol> WrapProtocol<P> for Handshake {
    fn connection_made(&mut self, _inner: &mut P, _transport: &Transport) {}
    fn data_received(&mut self, inner: &mut P, transport: &Transport, data: &[u8]) {
        if self.done {
            inner.data_received(transport, data);
        } else {
            self.done = true;
            inner.connection_made(transport);
        }
    }
    fn connection_lost(&mut self, inner: &mut P, reason: Reason) {
        if self.done {
            inner.connection_lost(reason);
        }
    }
}

/// A wrapper can swallow callbacks and deliver one later: the inner
/// `connection_made` runs at the first data, which the inner protocol
/// never sees; a connection lost before that reaches it not at all.
#[test]
fn a_wrapper_can_delay_and_swallow_callbacks() {
    let events = Events::default();
    let st = StringTransport::new();
    let t = st.transport();
    let mut wrapped = ProtocolWrapper::wrap(Recorder::new("a", &events), Handshake { done: false });
    wrapped.connection_made(&t);
    let before = events.take();
    wrapped.data_received(&t, b"hello");
    wrapped.data_received(&t, b"data");
    wrapped.connection_lost(Reason::Done);
    let after = events.take();

    let mut early = ProtocolWrapper::wrap(Recorder::new("b", &events), Handshake { done: false });
    early.connection_made(&t);
    early.connection_lost(Reason::Done);
    let never = events.take();

    assert!(before.is_empty());
    assert_eq!(after, ["a made", "a data data same=true", "a lost Done"]);
    assert!(never.is_empty());
}

/// A connector that stays where it is put.
struct Idle;
impl ConnectorImpl for Idle {
    fn state(&self) -> ConnectorState {
        ConnectorState::Connecting
    }
    fn connect(&self, _: &Connector) -> Result<(), ConnectorError> {
        Err(ConnectorError::CannotConnect)
    }
    fn stop_connecting(&self, _: &Connector) -> Result<(), ConnectorError> {
        Err(ConnectorError::NotConnecting)
    }
    fn disconnect(&self, _: &Connector) {}
    fn destination(&self) -> Destination {
        Destination {
            host: "example.test".into(),
            port: 7,
        }
    }
}

/// A client factory that records every call it gets.
struct Recorders {
    events: Events,
}

impl Factory for Recorders {
    type Protocol = Recorder;
    fn build_protocol(&self, addr: &Address) -> Option<Recorder> {
        self.events.push(format!("build {}", addr.socket_addr()));
        Some(Recorder::new("a", &self.events))
    }
    fn start_factory(&self) {
        self.events.push("start");
    }
    fn stop_factory(&self) {
        self.events.push("stop");
    }
    fn log_prefix(&self) -> Cow<'static, str> {
        "Recorders-prefix".into()
    }
    fn qualified_name(&self) -> Cow<'static, str> {
        "test::Recorders".into()
    }
}

impl ClientFactory for Recorders {
    fn started_connecting(&self, connector: &Connector) {
        self.events
            .push(format!("started {}", connector.destination().host));
    }
    fn client_connection_failed(&self, _: &Connector, reason: &ConnectError) {
        self.events.push(format!("failed {reason:?}"));
    }
    fn client_connection_lost(&self, _: &Connector, reason: &Reason) {
        self.events.push(format!("lost {reason:?}"));
    }
}

/// Wraps every protocol in `Transparent`; overrides nothing else.
#[derive(Debug)]
struct WrapAll;
impl<F: Factory> WrapFactory<F> for WrapAll {
    type Protocol = ProtocolWrapper<F::Protocol, Transparent>;
    fn build_protocol(&self, wrapped: &Shared<F>, addr: &Address) -> Option<Self::Protocol> {
        Some(ProtocolWrapper::wrap(
            wrapped.build_protocol(addr)?,
            Transparent,
        ))
    }
}

fn addr() -> Address {
    Address::tcp("127.0.0.1:4000".parse().expect("address"))
}

/// The factory wrapper forwards build, start, stop, the log prefix,
/// the qualified name and the three client callbacks to the wrapped
/// factory, and is silent itself.
#[test]
fn the_factory_wrapper_forwards_every_method() {
    let events = Events::default();
    let factory = Shared::new(WrappingFactory::wrap(
        Recorders {
            events: events.clone(),
        },
        WrapAll,
    ));
    let connector = Connector::new(Rc::new(Idle));
    factory.do_start();
    factory.started_connecting(&connector);
    let mut protocol = factory.build_protocol(&addr()).expect("built");
    protocol.connection_made(&StringTransport::new().transport());
    factory.client_connection_failed(&connector, &ConnectError::Refused);
    factory.client_connection_lost(&connector, &Reason::Done);
    factory.do_stop();
    let seen = events.take();

    assert_eq!(
        seen,
        [
            "start",
            "started example.test",
            "build 127.0.0.1:4000",
            "a made",
            "failed Refused",
            "lost Done",
            "stop",
        ]
    );
    assert_eq!(factory.log_prefix(), "Recorders-prefix");
    assert_eq!(factory.qualified_name(), "test::Recorders");
    assert!(!Factory::noisy(&*factory));
    assert_eq!(protocol.log_prefix(), "Rec-a");
    assert_eq!(factory.wrapped().num_ports(), 0);
}

/// Through two wrappers and a direct user, the wrapped factory is
/// started once, when the first user starts, and stopped once, when
/// the last one stops (Twisted's numPorts rule).
#[test]
fn start_and_stop_are_counted_once_through_two_wrappers() {
    let events = Events::default();
    let base = Shared::new(Recorders {
        events: events.clone(),
    });
    let twice = Shared::new(WrappingFactory::wrap(
        WrappingFactory::wrap(base.clone(), WrapAll),
        WrapAll,
    ));
    let mut counts = Vec::new();
    twice.do_start();
    twice.do_start();
    base.do_start();
    counts.push(base.num_ports());
    twice.do_stop();
    twice.do_stop();
    counts.push(base.num_ports());
    let before_last = events.take();
    base.do_stop();
    let at_last = events.take();
    let prefix = twice.log_prefix();
    let name = twice.qualified_name();
    let quiet = !Factory::noisy(&*twice) && !Factory::noisy(&**twice.wrapped());

    assert_eq!(counts, [2, 1]);
    assert_eq!(before_last, ["start"]);
    assert_eq!(at_last, ["stop"]);
    assert_eq!(
        (prefix.as_ref(), name.as_ref()),
        ("Recorders-prefix", "test::Recorders")
    );
    assert!(quiet);
}

/// A wrapper whose `build_protocol` refuses (returns `None`) never
/// calls the wrapped factory.
#[test]
fn a_refusing_wrapper_does_not_call_the_wrapped_factory() {
    struct Refuse;
    impl<F: Factory> WrapFactory<F> for Refuse {
        type Protocol = F::Protocol;
        fn build_protocol(&self, _: &Shared<F>, _: &Address) -> Option<F::Protocol> {
            None
        }
    }
    let events = Events::default();
    let factory = WrappingFactory::wrap(
        Recorders {
            events: events.clone(),
        },
        Refuse,
    );
    let built = factory.build_protocol(&addr());
    let seen = events.take();

    assert!(built.is_none());
    assert!(seen.is_empty());
}

/// A factory wrapper that overrides one client callback changes only
/// that one; the others still reach the wrapped factory.
#[test]
fn overriding_one_client_callback_changes_only_that_one() {
    struct MuteFailures {
        muted: Cell<u32>,
    }
    impl<F: Factory> WrapFactory<F> for MuteFailures {
        type Protocol = F::Protocol;
        fn build_protocol(&self, wrapped: &Shared<F>, addr: &Address) -> Option<F::Protocol> {
            wrapped.build_protocol(addr)
        }
        fn client_connection_failed(&self, _: &Shared<F>, _: &Connector, _: &ConnectError)
        where
            F: ClientFactory,
        {
            self.muted.set(self.muted.get() + 1);
        }
    }
    let events = Events::default();
    let factory = WrappingFactory::wrap(
        Recorders {
            events: events.clone(),
        },
        MuteFailures {
            muted: Cell::new(0),
        },
    );
    let connector = Connector::new(Rc::new(Idle));
    factory.started_connecting(&connector);
    factory.client_connection_failed(&connector, &ConnectError::Refused);
    factory.client_connection_lost(&connector, &Reason::Done);
    let seen = events.take();

    assert_eq!(seen, ["started example.test", "lost Done"]);
    assert_eq!(factory.wrapper().muted.get(), 1);
}

/// `Rc<RefCell<P>>` is a protocol that forwards every callback to `P`,
/// so a protocol can be shared with its connection and still be reached.
#[test]
fn a_shared_cell_is_a_forwarding_protocol() {
    let events = Events::default();
    let shared = Rc::new(RefCell::new(Recorder::new("a", &events)));
    let mut driven = shared.clone();
    drive(&mut driven, &StringTransport::new());
    let seen = events.take();
    let prefix = Protocol::log_prefix(&driven);
    let half = Protocol::half_closeable(&driven);

    assert_eq!(seen, unwrapped_events());
    assert_eq!((prefix.as_ref(), half), ("Rec-a", true));
    assert!(shared.borrow().transport.is_some());
}

/// The wrapper's debug form names the inner protocol and shows the wrapper.
#[test]
fn debug_names_both_parts() {
    let wrapped = ProtocolWrapper::wrap(Recorder::new("a", &Events::default()), Transparent);
    let factory = WrappingFactory::wrap(
        Recorders {
            events: Events::default(),
        },
        WrapAll,
    );
    let shown = (format!("{wrapped:?}"), format!("{factory:?}"));

    assert_eq!(
        shown.0,
        "ProtocolWrapper { inner: \"Recorder\", wrapper: Transparent }"
    );
    assert!(shown.1.starts_with("WrappingFactory { wrapped: Shared {"));
    assert!(shown.1.ends_with("wrapper: WrapAll }"));
}
