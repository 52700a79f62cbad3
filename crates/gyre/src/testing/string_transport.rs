//! [`StringTransport`]: a transport that records what is written to it.
//! Tests: at the bottom of this file.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use crate::address::Address;
use crate::error::ProducerError;
use crate::protocol::Protocol;
use crate::transport::{Producer, Transport, TransportImpl, WriteLimit};

/// The transport's own state as a producer of the bytes it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProducerState {
    /// Reading (the initial state).
    Producing,
    /// Reading is paused (`pause_reading`, or `pause_producing` on the transport).
    Paused,
    /// The connection was closed or aborted; reading never resumes.
    Stopped,
}

/// An in-memory transport for testing protocols. Clones share the same state.
///
/// This is Twisted's `twisted.internet.testing.StringTransport` (reference
/// §12) for gyre: attach it to a protocol, feed the protocol bytes by calling
/// its `data_received` directly, and assert on what the protocol wrote
/// ([`value`](StringTransport::value)) and on whether it asked to close
/// ([`is_disconnecting`](StringTransport::is_disconnecting)). No reactor, no
/// socket, no clock: every call takes effect at once and nothing calls back
/// into the protocol, so a test is a straight line of calls and assertions.
///
/// ```
/// use gyre::testing::StringTransport;
/// use gyre::{Protocol, Transport};
///
/// struct Echo;
///
/// impl Protocol for Echo {
///     fn data_received(&mut self, transport: &Transport, data: &[u8]) {
///         transport.write(data);
///     }
/// }
///
/// let st = StringTransport::new();
/// let mut echo = Echo;
/// st.make_connection(&mut echo);
/// echo.data_received(&st.transport(), b"hello");
/// assert_eq!(st.value(), b"hello");
///
/// st.clear();
/// echo.data_received(&st.transport(), b"again");
/// assert_eq!(st.value(), b"again");
/// assert!(!st.is_disconnecting());
/// ```
///
/// What it models, and where it differs from a TCP transport:
/// * writes are appended to an in-memory buffer; [`value`](StringTransport::value)
///   returns everything since the last [`clear`](StringTransport::clear).
///   Writes after `lose_connection` (or `lose_write_connection`) are still
///   recorded, as a real transport still delivers them; writes after
///   `abort_connection` are dropped;
/// * `lose_connection` only sets a flag: `connection_lost` is never
///   delivered (call it yourself if the test needs it);
/// * the write cap ([`Transport::set_write_limit`](crate::Transport::set_write_limit))
///   is recorded but not enforced; [`Transport::lose_connection_within`](crate::Transport::lose_connection_within)
///   is `lose_connection` and records the grace ([`close_grace`](StringTransport::close_grace));
/// * [`Transport::should_yield`](crate::Transport::should_yield) answers
///   what [`set_should_yield`](StringTransport::set_should_yield) said
///   (default `false`), and [`Transport::yield_reading`](crate::Transport::yield_reading)
///   is counted ([`yields`](StringTransport::yields)), so a test can make a
///   framer stop between messages and then go on by calling its
///   `data_received` with no bytes, as the reactor would;
/// * [`buffered`](crate::Transport::buffered) is always 0, so a registered
///   streaming producer is never paused and a pull producer is never asked
///   for more: take it from [`producer`](StringTransport::producer) and drive
///   it by hand;
/// * the transport as a producer of the bytes it reads is modelled by
///   [`producer_state`](StringTransport::producer_state): `pause_reading`
///   and `resume_reading` move it between [`ProducerState::Producing`] and
///   [`ProducerState::Paused`]; closing makes it [`ProducerState::Stopped`]
///   for good. (Twisted's double raises when paused or resumed after that
///   unless `lenient`; gyre's real transports ignore those calls, and so does
///   this double.)
///
/// Tests are at the bottom of this file.
#[derive(Clone)]
pub struct StringTransport {
    state: Rc<State>,
}

/// Everything a `StringTransport` records. It is also the `TransportImpl`
/// behind the handles returned by [`StringTransport::transport`], so all
/// those handles are the same connection (`Transport::same_as` holds).
struct State {
    host: Address,
    peer: Address,
    written: RefCell<Vec<u8>>,
    disconnecting: Cell<bool>,
    aborted: Cell<bool>,
    write_shut: Cell<bool>,
    producer: RefCell<Option<Producer>>,
    reading: Cell<ProducerState>,
    no_delay: Cell<bool>,
    keep_alive: Cell<bool>,
    write_limit: Cell<WriteLimit>,
    close_grace: Cell<Option<Duration>>,
    should_yield: Cell<bool>,
    yields: Cell<usize>,
    log_peer: RefCell<Option<Address>>,
    keep_alive_timing: Cell<Option<KeepAliveTiming>>,
}

/// What `set_keep_alive_timing` was given: idle, interval, probe count.
type KeepAliveTiming = (Duration, Duration, u32);

impl StringTransport {
    /// A transport from `10.0.0.1:12345` (host) to `192.168.1.1:54321`
    /// (peer), both TCP: Twisted's defaults.
    pub fn new() -> StringTransport {
        StringTransport::with_addresses(
            Address::tcp(([10, 0, 0, 1], 12345).into()),
            Address::tcp(([192, 168, 1, 1], 54321).into()),
        )
    }

    /// A transport with the given local (`host`) and remote (`peer`) addresses.
    pub fn with_addresses(host: Address, peer: Address) -> StringTransport {
        StringTransport {
            state: Rc::new(State {
                host,
                peer,
                written: RefCell::new(Vec::new()),
                disconnecting: Cell::new(false),
                aborted: Cell::new(false),
                write_shut: Cell::new(false),
                producer: RefCell::new(None),
                reading: Cell::new(ProducerState::Producing),
                no_delay: Cell::new(false),
                write_limit: Cell::new(WriteLimit::default()),
                close_grace: Cell::new(None),
                should_yield: Cell::new(false),
                yields: Cell::new(0),
                keep_alive: Cell::new(false),
                log_peer: RefCell::new(None),
                keep_alive_timing: Cell::new(None),
            }),
        }
    }

    /// A [`Transport`] handle to this double, to pass to a protocol.
    /// Every handle refers to the same connection.
    pub fn transport(&self) -> Transport {
        Transport::new(self.state.clone())
    }

    /// Calls `protocol.connection_made` with this transport (Twisted's
    /// `makeConnection`).
    pub fn make_connection(&self, protocol: &mut impl Protocol) {
        protocol.connection_made(&self.transport());
    }

    /// Everything written since the last [`clear`](Self::clear).
    pub fn value(&self) -> Vec<u8> {
        self.state.written.borrow().clone()
    }

    /// Forgets what was written so far.
    pub fn clear(&self) {
        self.state.written.borrow_mut().clear();
    }

    /// What [`Transport::should_yield`](crate::Transport::should_yield)
    /// answers from now on (a real connection answers from the reactor's
    /// work budget for the turn).
    pub fn set_should_yield(&self, exhausted: bool) {
        self.state.should_yield.set(exhausted);
    }

    /// How many times the protocol asked to be called again on a later turn
    /// ([`Transport::yield_reading`](crate::Transport::yield_reading)).
    pub fn yields(&self) -> usize {
        self.state.yields.get()
    }

    /// The grace given to the last
    /// [`Transport::lose_connection_within`](crate::Transport::lose_connection_within).
    pub fn close_grace(&self) -> Option<Duration> {
        self.state.close_grace.get()
    }

    /// True once `lose_connection` or `abort_connection` was called.
    pub fn is_disconnecting(&self) -> bool {
        self.state.disconnecting.get()
    }

    /// True once `abort_connection` was called.
    pub fn is_aborted(&self) -> bool {
        self.state.aborted.get()
    }

    /// True once `lose_write_connection` was called.
    pub fn is_write_shut(&self) -> bool {
        self.state.write_shut.get()
    }

    /// The registered producer, if any.
    pub fn producer(&self) -> Option<Producer> {
        self.state.producer.borrow().clone()
    }

    /// The transport's state as a producer of the bytes it reads.
    pub fn producer_state(&self) -> ProducerState {
        self.state.reading.get()
    }

    /// True while reading is paused.
    pub fn is_reading_paused(&self) -> bool {
        self.producer_state() == ProducerState::Paused
    }

    /// The peer last given to [`Transport::set_log_peer`], if any.
    pub fn log_peer(&self) -> Option<Address> {
        self.state.log_peer.borrow().clone()
    }

    /// The last keep-alive timing set (`idle`, `interval`, `count`), as
    /// given to [`Transport::set_keep_alive_timing`]: the double records it
    /// without the kernel's rounding or limits, and turns keep-alive on.
    pub fn keep_alive_timing(&self) -> Option<(Duration, Duration, u32)> {
        self.state.keep_alive_timing.get()
    }
}

impl Default for StringTransport {
    fn default() -> Self {
        StringTransport::new()
    }
}

impl fmt::Debug for StringTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.state;
        f.debug_struct("StringTransport")
            .field("host", &s.host)
            .field("peer", &s.peer)
            .field("written", &s.written.borrow().len())
            .field("disconnecting", &s.disconnecting.get())
            .field("aborted", &s.aborted.get())
            .field("write_shut", &s.write_shut.get())
            .field("producer", &*s.producer.borrow())
            .field("reading", &s.reading.get())
            .finish()
    }
}

impl State {
    fn stop_reading(&self) {
        self.reading.set(ProducerState::Stopped);
    }
}

impl TransportImpl for State {
    fn write(&self, data: &[u8]) {
        if !self.aborted.get() {
            self.written.borrow_mut().extend_from_slice(data);
        }
    }

    fn write_sequence(&self, parts: &[&[u8]]) {
        for part in parts {
            self.write(part);
        }
    }

    fn lose_connection(&self) {
        self.disconnecting.set(true);
        self.stop_reading();
    }

    fn abort_connection(&self) {
        self.disconnecting.set(true);
        self.aborted.set(true);
        self.stop_reading();
    }

    fn lose_write_connection(&self) {
        self.write_shut.set(true);
    }

    fn peer(&self) -> Address {
        self.peer.clone()
    }

    fn host(&self) -> Address {
        self.host.clone()
    }

    fn set_no_delay(&self, enabled: bool) -> io::Result<()> {
        self.no_delay.set(enabled);
        Ok(())
    }

    fn no_delay(&self) -> io::Result<bool> {
        Ok(self.no_delay.get())
    }

    fn set_keep_alive(&self, enabled: bool) -> io::Result<()> {
        self.keep_alive.set(enabled);
        Ok(())
    }

    fn keep_alive(&self) -> io::Result<bool> {
        Ok(self.keep_alive.get())
    }

    fn set_keep_alive_timing(
        &self,
        idle: Duration,
        interval: Duration,
        count: u32,
    ) -> io::Result<()> {
        self.keep_alive.set(true);
        self.keep_alive_timing.set(Some((idle, interval, count)));
        Ok(())
    }

    fn pause_reading(&self) {
        if self.reading.get() != ProducerState::Stopped {
            self.reading.set(ProducerState::Paused);
        }
    }

    fn resume_reading(&self) {
        if self.reading.get() != ProducerState::Stopped {
            self.reading.set(ProducerState::Producing);
        }
    }

    fn register_producer(&self, producer: Producer) -> Result<(), ProducerError> {
        if self.aborted.get() {
            // Like a closed transport: tell the producer at once, keep nothing.
            producer.stop_producing();
            return Ok(());
        }
        if self.producer.borrow().is_some() {
            return Err(ProducerError);
        }
        *self.producer.borrow_mut() = Some(producer);
        Ok(())
    }

    fn unregister_producer(&self) {
        // Take first, drop after the borrow ends: dropping a producer may
        // drop the last handle to something that touches this state.
        let old = self.producer.borrow_mut().take();
        drop(old);
    }

    fn is_connected(&self) -> bool {
        !self.aborted.get()
    }

    fn is_disconnecting(&self) -> bool {
        self.disconnecting.get()
    }

    fn buffered(&self) -> usize {
        0
    }

    fn log_prefix(&self) -> String {
        "StringTransport".to_string()
    }

    fn set_write_limit(&self, limit: WriteLimit) {
        self.write_limit.set(limit);
    }

    fn write_limit(&self) -> WriteLimit {
        self.write_limit.get()
    }

    fn should_yield(&self) -> bool {
        self.should_yield.get()
    }

    fn yield_reading(&self) {
        self.yields.set(self.yields.get() + 1);
    }

    fn lose_connection_within(&self, grace: Duration) {
        self.close_grace.set(Some(grace));
        self.lose_connection();
    }

    fn set_log_peer(&self, peer: &Address) {
        *self.log_peer.borrow_mut() = Some(peer.clone());
    }
}

/// Lets a `StringTransport` be used wherever a `TransportImpl` is expected
/// (wrapping it in your own handle type, say). Every method acts on the
/// shared state, exactly as through [`StringTransport::transport`].
impl TransportImpl for StringTransport {
    fn write(&self, data: &[u8]) {
        self.state.write(data)
    }
    fn write_sequence(&self, parts: &[&[u8]]) {
        self.state.write_sequence(parts)
    }
    fn lose_connection(&self) {
        self.state.lose_connection()
    }
    fn abort_connection(&self) {
        self.state.abort_connection()
    }
    fn lose_write_connection(&self) {
        self.state.lose_write_connection()
    }
    fn peer(&self) -> Address {
        self.state.peer()
    }
    fn host(&self) -> Address {
        self.state.host()
    }
    fn set_no_delay(&self, enabled: bool) -> io::Result<()> {
        self.state.set_no_delay(enabled)
    }
    fn no_delay(&self) -> io::Result<bool> {
        self.state.no_delay()
    }
    fn set_keep_alive(&self, enabled: bool) -> io::Result<()> {
        self.state.set_keep_alive(enabled)
    }
    fn keep_alive(&self) -> io::Result<bool> {
        self.state.keep_alive()
    }
    fn set_keep_alive_timing(
        &self,
        idle: Duration,
        interval: Duration,
        count: u32,
    ) -> io::Result<()> {
        self.state.set_keep_alive_timing(idle, interval, count)
    }
    fn pause_reading(&self) {
        self.state.pause_reading()
    }
    fn resume_reading(&self) {
        self.state.resume_reading()
    }
    fn register_producer(&self, producer: Producer) -> Result<(), ProducerError> {
        self.state.register_producer(producer)
    }
    fn unregister_producer(&self) {
        self.state.unregister_producer()
    }
    fn is_connected(&self) -> bool {
        self.state.is_connected()
    }
    fn is_disconnecting(&self) -> bool {
        self.state.is_disconnecting()
    }
    fn buffered(&self) -> usize {
        self.state.buffered()
    }
    fn log_prefix(&self) -> String {
        self.state.log_prefix()
    }
    fn set_log_peer(&self, peer: &Address) {
        self.state.set_log_peer(peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Reason;
    use crate::transport::{PullProducer, PushProducer};

    /// Records which producer calls it received.
    #[derive(Default)]
    struct Recorder {
        calls: RefCell<Vec<&'static str>>,
    }

    impl PushProducer for Recorder {
        fn pause_producing(&self) {
            self.calls.borrow_mut().push("pause");
        }
        fn resume_producing(&self) {
            self.calls.borrow_mut().push("resume");
        }
        fn stop_producing(&self) {
            self.calls.borrow_mut().push("stop");
        }
    }

    impl PullProducer for Recorder {
        fn resume_producing(&self) {
            self.calls.borrow_mut().push("resume");
        }
        fn stop_producing(&self) {
            self.calls.borrow_mut().push("stop");
        }
    }

    /// A protocol that echoes and records its events.
    #[derive(Default)]
    struct Echo {
        made: bool,
        lost: Option<Reason>,
    }

    impl Protocol for Echo {
        fn connection_made(&mut self, _transport: &Transport) {
            self.made = true;
        }
        fn data_received(&mut self, transport: &Transport, data: &[u8]) {
            transport.write(data);
        }
        fn connection_lost(&mut self, reason: Reason) {
            self.lost = Some(reason);
        }
    }

    /// The default addresses are Twisted's: host 10.0.0.1:12345, peer 192.168.1.1:54321, TCP.
    #[test]
    fn default_addresses() {
        let t = StringTransport::new().transport();
        assert_eq!(
            t.host().to_string(),
            "IPv4Address(type='TCP', host='10.0.0.1', port=12345)"
        );
        assert_eq!(
            t.peer().to_string(),
            "IPv4Address(type='TCP', host='192.168.1.1', port=54321)"
        );
    }

    /// Explicit addresses are reported as given.
    #[test]
    fn explicit_addresses() {
        let host = Address::tcp("[::1]:80".parse().unwrap());
        let peer = Address::udp("127.0.0.1:9".parse().unwrap());
        let t = StringTransport::with_addresses(host.clone(), peer.clone()).transport();
        assert_eq!(t.host(), host);
        assert_eq!(t.peer(), peer);
    }

    /// `value` accumulates writes and write sequences until `clear`.
    #[test]
    fn value_accumulates_until_clear() {
        let st = StringTransport::new();
        let t = st.transport();
        t.write(b"ab");
        t.write(b"");
        t.write_sequence(&[b"c", b"", b"de"]);
        assert_eq!(st.value(), b"abcde");
        st.clear();
        assert!(st.value().is_empty());
        t.write(b"f");
        assert_eq!(st.value(), b"f");
    }

    /// `make_connection` calls `connection_made`, and the protocol's writes are recorded.
    #[test]
    fn make_connection_drives_a_protocol() {
        let st = StringTransport::new();
        let mut echo = Echo::default();
        st.make_connection(&mut echo);
        assert!(echo.made);
        for byte in b"hello" {
            echo.data_received(&st.transport(), &[*byte]);
        }
        assert_eq!(st.value(), b"hello");
        assert!(
            echo.lost.is_none(),
            "the double never calls connection_lost"
        );
    }

    /// Every handle from `transport()` (and from a clone of the double) is the same connection.
    #[test]
    fn handles_are_the_same_connection() {
        let st = StringTransport::new();
        let a = st.transport();
        let b = st.clone().transport();
        assert!(a.same_as(&b));
        b.write(b"x");
        assert_eq!(st.value(), b"x");
        assert!(!a.same_as(&StringTransport::new().transport()));
    }

    /// `lose_connection` sets disconnecting and stops reading; later writes are still recorded.
    #[test]
    fn lose_connection_keeps_later_writes() {
        let st = StringTransport::new();
        let t = st.transport();
        t.write(b"before ");
        t.lose_connection();
        t.lose_connection();
        assert!(st.is_disconnecting());
        assert!(t.is_disconnecting());
        assert!(t.is_connected());
        assert!(!st.is_aborted());
        t.write(b"after");
        assert_eq!(st.value(), b"before after");
        assert_eq!(st.producer_state(), ProducerState::Stopped);
    }

    /// `abort_connection` disconnects at once and drops later writes.
    #[test]
    fn abort_drops_later_writes() {
        let st = StringTransport::new();
        let t = st.transport();
        t.write(b"kept");
        t.abort_connection();
        t.write(b"dropped");
        t.write_sequence(&[b"dropped too"]);
        assert_eq!(st.value(), b"kept");
        assert!(st.is_aborted());
        assert!(st.is_disconnecting());
        assert!(!t.is_connected());
    }

    /// `lose_write_connection` is recorded and does not close the connection.
    #[test]
    fn lose_write_connection_is_recorded() {
        let st = StringTransport::new();
        let t = st.transport();
        assert!(!st.is_write_shut());
        t.lose_write_connection();
        assert!(st.is_write_shut());
        assert!(!st.is_disconnecting());
        t.write(b"still recorded");
        assert_eq!(st.value(), b"still recorded");
    }

    /// A registered producer is kept, and a second registration is refused.
    #[test]
    fn second_producer_is_refused() {
        let st = StringTransport::new();
        let t = st.transport();
        assert!(st.producer().is_none());
        let first = Rc::new(Recorder::default());
        t.register_producer(Producer::Streaming(first.clone()))
            .unwrap();
        assert!(matches!(st.producer(), Some(Producer::Streaming(_))));
        let second = Rc::new(Recorder::default());
        assert_eq!(
            t.register_producer(Producer::Pull(second.clone())),
            Err(ProducerError)
        );
        assert!(matches!(st.producer(), Some(Producer::Streaming(_))));
        assert!(first.calls.borrow().is_empty());
        assert!(second.calls.borrow().is_empty());
    }

    /// `unregister_producer` forgets the producer (twice is harmless), allowing a new one.
    #[test]
    fn unregister_allows_another() {
        let st = StringTransport::new();
        let t = st.transport();
        let pull = Rc::new(Recorder::default());
        t.register_producer(Producer::Pull(pull.clone())).unwrap();
        t.unregister_producer();
        t.unregister_producer();
        assert!(st.producer().is_none());
        t.register_producer(Producer::Pull(pull.clone())).unwrap();
        assert!(matches!(st.producer(), Some(Producer::Pull(_))));
        assert!(
            pull.calls.borrow().is_empty(),
            "the double never drives a pull producer"
        );
    }

    /// Registering on an aborted transport stops the producer at once and keeps nothing.
    #[test]
    fn register_after_abort_stops_producer() {
        let st = StringTransport::new();
        let t = st.transport();
        t.abort_connection();
        let p = Rc::new(Recorder::default());
        t.register_producer(Producer::Streaming(p.clone())).unwrap();
        assert_eq!(*p.calls.borrow(), vec!["stop"]);
        assert!(st.producer().is_none());
    }

    /// Pausing and resuming reading move the producer state; closing stops it for good.
    #[test]
    fn reading_state_follows_pause_and_resume() {
        let st = StringTransport::new();
        let t = st.transport();
        assert_eq!(st.producer_state(), ProducerState::Producing);
        t.pause_reading();
        assert!(st.is_reading_paused());
        assert_eq!(st.producer_state(), ProducerState::Paused);
        t.resume_reading();
        assert_eq!(st.producer_state(), ProducerState::Producing);
        t.abort_connection();
        t.resume_reading();
        t.pause_reading();
        assert_eq!(st.producer_state(), ProducerState::Stopped);
        assert!(!st.is_reading_paused());
    }

    /// The transport as its own streaming producer (the echo service's flow control) pauses and resumes reading.
    #[test]
    fn transport_as_push_producer() {
        let st = StringTransport::new();
        let t = st.transport();
        t.register_producer(Producer::Streaming(Rc::new(t.clone())))
            .unwrap();
        let Some(Producer::Streaming(p)) = st.producer() else {
            panic!("not streaming")
        };
        p.pause_producing();
        assert!(st.is_reading_paused());
        p.resume_producing();
        assert_eq!(st.producer_state(), ProducerState::Producing);
        p.stop_producing();
        assert!(st.is_disconnecting());
        assert_eq!(st.producer_state(), ProducerState::Stopped);
        t.unregister_producer(); // break the cycle transport → producer → transport
    }

    /// `TCP_NODELAY`, `SO_KEEPALIVE` and keep-alive timing settings are stored; nothing is ever buffered.
    #[test]
    fn socket_options_are_stored() {
        let st = StringTransport::new();
        let t = st.transport();
        assert!(!t.no_delay().unwrap());
        assert!(!t.keep_alive().unwrap());
        t.set_no_delay(true).unwrap();
        t.set_keep_alive(true).unwrap();
        assert!(t.no_delay().unwrap());
        assert!(t.keep_alive().unwrap());
        t.set_keep_alive(false).unwrap();
        assert_eq!(st.keep_alive_timing(), None);
        let (idle, interval) = (Duration::from_secs(7), Duration::from_millis(1500));
        t.set_keep_alive_timing(idle, interval, 4).unwrap();
        assert_eq!(st.keep_alive_timing(), Some((idle, interval, 4)));
        assert!(t.keep_alive().unwrap(), "the timing turns keep-alive on");
        t.write(&[0; 100_000]);
        assert_eq!(t.buffered(), 0);
        assert_eq!(t.log_prefix(), "StringTransport");
    }

    /// The double itself implements `TransportImpl`, acting on the shared state.
    #[test]
    fn double_is_a_transport_impl() {
        let st = StringTransport::new();
        let t = Transport::new(Rc::new(st.clone()));
        t.write(b"via impl");
        t.lose_connection();
        assert_eq!(st.value(), b"via impl");
        assert!(st.is_disconnecting());
        assert!(format!("{st:?}").starts_with("StringTransport {"));
    }

    /// The peer a wrapper asks the log prefix to show is recorded, through
    /// any handle and through an observing transport, and `peer()` stays.
    #[test]
    fn log_peer_is_recorded() {
        let st = StringTransport::new();
        assert_eq!(st.log_peer(), None);
        let client = Address::tcp(([198, 51, 100, 7], 4000).into());
        st.transport().observe(|_| {}).set_log_peer(&client);
        assert_eq!(st.log_peer(), Some(client));
        assert_eq!(
            st.transport().peer(),
            Address::tcp(([192, 168, 1, 1], 54321).into())
        );
    }
}
