//! [`Transport`]: the handle a protocol writes to, and producers/consumers.
//!
//! A `Transport` is a cheap, cloneable handle to one connection. It can be
//! kept in the protocol, put in a map of connected users, or moved into a
//! timer: writes from anywhere on the reactor thread are fine. Once the
//! connection is gone, writes are silently dropped (as in Twisted).
//!
//! Flow control follows Twisted's producer/consumer model (reference §5.2):
//! register a [`PushProducer`] and it is paused on every write that leaves
//! more than [`HIGH_WATER`] bytes buffered, and resumed once when the buffer
//! empties; a [`PullProducer`] is asked for more each time the buffer drains.
//! A `Transport` is itself a push producer of the bytes it *reads*, so
//! registering a transport as the producer of another (or of itself, as the
//! echo service does) stops reading from the fast side while the slow side
//! catches up. Memory stays bounded.
//!
//! The mechanism behind a handle is a [`TransportImpl`]: the stream
//! connection every stream transport shares (TCP, UNIX sockets), or a test
//! double in [`crate::testing`]. Tests: below, and on
//! real sockets in `tests/transport.rs` and `tests/producers.rs`.

use std::fmt;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use crate::address::Address;
use crate::error::ProducerError;

/// Buffered bytes above which a streaming producer is paused (Twisted's
/// `bufferSize`, 64 KiB).
pub const HIGH_WATER: usize = 64 * 1024;

/// The default write cap: 4 MiB may wait to be sent on one connection.
///
/// The high-water mark paces producers; the cap is the safety net for a
/// protocol that registers none and writes to a peer that does not read
/// (a chat user who never reads, a client that stopped its receive
/// window). Twisted has no cap: its buffers grow until the process runs
/// out of memory. See [`WriteLimit`].
pub const DEFAULT_WRITE_LIMIT: usize = 4 * 1024 * 1024;

/// How many bytes may wait in a connection's write buffer, and what
/// happens to a write that would put more there.
///
/// Memory is bounded by default: every stream connection starts with
/// [`WriteLimit::default()`], `Close(DEFAULT_WRITE_LIMIT)`, unless its
/// factory says otherwise ([`Factory::write_limit`](crate::Factory::write_limit));
/// a protocol changes its own with [`Transport::set_write_limit`].
///
/// The cap bounds what *accumulates*: a single write into an empty buffer
/// is taken whole however large it is (its bytes are the program's own,
/// already in memory), but nothing more may be added while more than the
/// cap waits. The count includes the output queued during the current
/// turn, before the kernel has been offered it.
///
/// ```
/// use gyre::transport::WriteLimit;
/// use gyre::testing::StringTransport;
///
/// let st = StringTransport::new();
/// let t = st.transport();
/// t.set_write_limit(WriteLimit::Drop(64 * 1024)); // lose excess output, keep the peer
/// assert_eq!(t.write_limit(), WriteLimit::Drop(64 * 1024));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteLimit {
    /// Past this many bytes waiting, the connection is closed at once
    /// (its buffer discarded, a TCP peer sees a reset) and the protocol's
    /// `connection_lost` gets [`Reason::SlowConsumer`](crate::Reason::SlowConsumer).
    /// One line is logged. The default, with [`DEFAULT_WRITE_LIMIT`].
    Close(usize),
    /// Past this many bytes waiting, a write that would add to them is
    /// dropped whole (never a part of one) and the connection stays; the
    /// first drop is logged. For output that may be lost, such as a
    /// status feed to a slow viewer.
    Drop(usize),
    /// No cap: the buffer grows as long as the peer does not read
    /// (Twisted's behaviour). Caps of 4 GiB and more also mean this.
    Unlimited,
}

impl Default for WriteLimit {
    fn default() -> Self {
        WriteLimit::Close(DEFAULT_WRITE_LIMIT)
    }
}

/// The credentials of the process at the other end of a UNIX socket, as
/// the kernel recorded them when the connection was made (`SO_PEERCRED`):
/// for a server connection, the client's; for a client, the server's (as of
/// its `listen`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerCredentials {
    /// The peer's process id.
    pub pid: u32,
    /// The peer's effective user id.
    pub uid: u32,
    /// The peer's effective group id.
    pub gid: u32,
}

/// A producer that writes at will and is paused and resumed by its consumer
/// (Twisted's `IPushProducer`).
///
/// A real transport pauses its streaming producer when a write leaves more
/// than [`HIGH_WATER`] bytes waiting, and resumes it once they are sent.
/// A [`StringTransport`](crate::testing::StringTransport) never fills up,
/// so a test plays the transport's part by hand. A news feed that holds
/// back its items while paused and sends them on resume:
///
/// ```
/// use std::cell::{Cell, RefCell};
/// use std::collections::VecDeque;
/// use std::rc::Rc;
///
/// use gyre::testing::StringTransport;
/// use gyre::{Producer, PushProducer, Transport};
///
/// struct Feed {
///     transport: Transport,
///     paused: Cell<bool>,
///     backlog: RefCell<VecDeque<String>>,
/// }
///
/// impl Feed {
///     fn publish(&self, item: &str) {
///         self.backlog.borrow_mut().push_back(format!("{item}\n"));
///         self.send_backlog();
///     }
///
///     fn send_backlog(&self) {
///         while !self.paused.get() {
///             let Some(item) = self.backlog.borrow_mut().pop_front() else { break };
///             self.transport.write(item.as_bytes());
///         }
///     }
/// }
///
/// impl PushProducer for Feed {
///     fn pause_producing(&self) {
///         self.paused.set(true);
///     }
///     fn resume_producing(&self) {
///         self.paused.set(false);
///         self.send_backlog();
///     }
///     fn stop_producing(&self) {
///         self.backlog.borrow_mut().clear();
///     }
/// }
///
/// let st = StringTransport::new();
/// let feed = Rc::new(Feed {
///     transport: st.transport(),
///     paused: Cell::new(false),
///     backlog: RefCell::default(),
/// });
/// st.transport().register_producer(Producer::Streaming(feed.clone()))?;
/// feed.publish("first");
/// assert_eq!(st.value(), b"first\n");
///
/// // What a real transport does when its buffer passes the high-water mark:
/// let Some(Producer::Streaming(registered)) = st.producer() else { unreachable!() };
/// registered.pause_producing();
/// feed.publish("second");
/// feed.publish("third");
/// assert_eq!(st.value(), b"first\n", "nothing is sent while paused");
///
/// // ... and when the buffer has drained:
/// registered.resume_producing();
/// assert_eq!(st.value(), b"first\nsecond\nthird\n");
/// st.transport().unregister_producer();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait PushProducer {
    /// Stop producing until [`resume_producing`](Self::resume_producing).
    fn pause_producing(&self);
    /// Start producing again.
    fn resume_producing(&self);
    /// The consumer is gone; stop for good.
    fn stop_producing(&self);
}

/// A producer asked for one chunk at a time (Twisted's `IPullProducer`).
///
/// The transport calls [`resume_producing`](Self::resume_producing) when
/// the producer is registered and again each time what it wrote has been
/// sent, so no more than one chunk waits in memory however large the
/// whole is. Here a server sends a long reply in 16 KiB chunks over
/// loopback, then closes:
///
/// ```
/// use std::cell::Cell;
/// use std::io::Read;
/// use std::rc::Rc;
///
/// use gyre::{Address, Factory, Producer, Protocol, PullProducer, Reactor, TcpListenOptions, Transport};
///
/// const CHUNKS: usize = 64;
///
/// struct Chunks {
///     transport: Transport,
///     sent: Cell<usize>,
/// }
///
/// impl PullProducer for Chunks {
///     fn resume_producing(&self) {
///         let n = self.sent.get();
///         if n == CHUNKS {
///             self.transport.unregister_producer();
///             self.transport.lose_connection();
///             return;
///         }
///         self.transport.write(&[b'a' + (n % 26) as u8; 16 * 1024]);
///         self.sent.set(n + 1);
///     }
///     fn stop_producing(&self) {}
/// }
///
/// struct Send;
/// impl Protocol for Send {
///     fn connection_made(&mut self, transport: &Transport) {
///         let chunks = Chunks { transport: transport.clone(), sent: Cell::new(0) };
///         transport.register_producer(Producer::pull(chunks)).unwrap();
///     }
/// }
///
/// struct SendFactory;
/// impl Factory for SendFactory {
///     type Protocol = Send;
///     fn build_protocol(&self, _: &Address) -> Option<Send> {
///         Some(Send)
///     }
/// }
///
/// let reactor = Reactor::new()?;
/// # let watchdog = reactor.clone(); // a test that cannot hang: stop after 10 s whatever happens
/// # reactor.call_later(std::time::Duration::from_secs(10), move || { let _ = watchdog.stop(); });
/// let loopback = TcpListenOptions::interface("127.0.0.1");
/// let address = reactor.listen_tcp_with(0, SendFactory, loopback)?.address();
/// let handle = reactor.thread_handle();
/// let client = std::thread::spawn(move || {
///     let mut received = Vec::new();
///     let mut stream = std::net::TcpStream::connect(address).unwrap();
///     stream.read_to_end(&mut received).unwrap(); // until the server closes
///     handle.stop();
///     received
/// });
/// reactor.run()?;
///
/// let received = client.join().unwrap();
/// assert_eq!(received.len(), CHUNKS * 16 * 1024);
/// assert!(received.chunks(16 * 1024).enumerate().all(|(i, c)| c[0] == b'a' + (i % 26) as u8));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait PullProducer {
    /// Write one chunk to the consumer now.
    fn resume_producing(&self);
    /// The consumer is gone; stop for good.
    fn stop_producing(&self);
}

/// A registered producer, streaming or pull.
///
/// What [`Transport::register_producer`] takes: wrap a value with
/// [`Producer::streaming`] or [`Producer::pull`], or keep an `Rc` of your
/// own and build the variant from it (see [`PushProducer`] for a streaming
/// producer paused and resumed, [`PullProducer`] for a pull producer on a
/// real connection). A transport has at most one producer at a time:
///
/// ```
/// use gyre::testing::StringTransport;
/// use gyre::{Producer, PullProducer};
///
/// struct Nothing;
/// impl PullProducer for Nothing {
///     fn resume_producing(&self) {}
///     fn stop_producing(&self) {}
/// }
///
/// let st = StringTransport::new();
/// let t = st.transport();
/// t.register_producer(Producer::pull(Nothing)).unwrap();
/// assert!(t.register_producer(Producer::pull(Nothing)).is_err(), "one at a time");
/// assert!(matches!(st.producer(), Some(Producer::Pull(_))));
/// t.unregister_producer();
/// assert!(st.producer().is_none());
/// t.register_producer(Producer::pull(Nothing)).unwrap();
/// ```
#[derive(Clone)]
pub enum Producer {
    /// A push producer (`streaming=True` in Twisted).
    Streaming(Rc<dyn PushProducer>),
    /// A pull producer (`streaming=False` in Twisted).
    Pull(Rc<dyn PullProducer>),
}

impl Producer {
    /// Wraps a push producer.
    pub fn streaming(p: impl PushProducer + 'static) -> Producer {
        Producer::Streaming(Rc::new(p))
    }

    /// Wraps a pull producer.
    pub fn pull(p: impl PullProducer + 'static) -> Producer {
        Producer::Pull(Rc::new(p))
    }

    pub(crate) fn stop_producing(&self) {
        match self {
            Producer::Streaming(p) => p.stop_producing(),
            Producer::Pull(p) => p.stop_producing(),
        }
    }
}

impl fmt::Debug for Producer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Producer::Streaming(_) => f.write_str("Producer::Streaming(..)"),
            Producer::Pull(_) => f.write_str("Producer::Pull(..)"),
        }
    }
}

/// The mechanism behind a [`Transport`] handle.
///
/// Implemented by the shared stream connection and by the test doubles in
/// [`crate::testing`]. Every method takes `&self`: implementations use
/// interior mutability, and must never call back into the protocol
/// synchronously (closing is reported on a later turn).
pub trait TransportImpl {
    /// Queues `data` for sending (empty writes are ignored).
    fn write(&self, data: &[u8]);
    /// Queues all of `parts`, as one gathered write where possible.
    fn write_sequence(&self, parts: &[&[u8]]);
    /// Flushes buffered data, then closes.
    fn lose_connection(&self);
    /// Closes at once with a reset, discarding buffered data.
    fn abort_connection(&self);
    /// Flushes buffered data, then shuts down the sending side only.
    fn lose_write_connection(&self);
    /// The remote address.
    fn peer(&self) -> Address;
    /// The local address.
    fn host(&self) -> Address;
    /// Sets `TCP_NODELAY`.
    fn set_no_delay(&self, enabled: bool) -> io::Result<()>;
    /// Reads `TCP_NODELAY`.
    fn no_delay(&self) -> io::Result<bool>;
    /// Sets `SO_KEEPALIVE`.
    fn set_keep_alive(&self, enabled: bool) -> io::Result<()>;
    /// Reads `SO_KEEPALIVE`.
    fn keep_alive(&self) -> io::Result<bool>;
    /// Turns keep-alive on with this timing (see
    /// [`Transport::set_keep_alive_timing`]); by default the transport has
    /// no such thing: [`io::ErrorKind::Unsupported`].
    fn set_keep_alive_timing(
        &self,
        idle: std::time::Duration,
        interval: std::time::Duration,
        count: u32,
    ) -> io::Result<()> {
        let _ = (idle, interval, count);
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "TCP keep-alive timing is not an option of this transport",
        ))
    }
    /// Stops delivering received data until `resume_reading`.
    fn pause_reading(&self);
    /// Delivers received data again.
    fn resume_reading(&self);
    /// Registers a producer (see the module docs).
    fn register_producer(&self, producer: Producer) -> Result<(), ProducerError>;
    /// Forgets the registered producer (and lets a pending close finish).
    fn unregister_producer(&self);
    /// True until the connection is gone.
    fn is_connected(&self) -> bool;
    /// True once `lose_connection` (or an abort) has been asked for.
    fn is_disconnecting(&self) -> bool;
    /// Bytes written but not yet handed to the kernel.
    fn buffered(&self) -> usize;
    /// The log prefix of this connection (`Echo,0,127.0.0.1`).
    fn log_prefix(&self) -> String;

    /// Sets the write cap (see [`WriteLimit`]). Default: ignored.
    fn set_write_limit(&self, limit: WriteLimit) {
        let _ = limit;
    }

    /// The write cap. Default: [`WriteLimit::Unlimited`].
    fn write_limit(&self) -> WriteLimit {
        WriteLimit::Unlimited
    }

    /// True once the current turn's work budget is spent (see
    /// [`Transport::should_yield`]). Default: the reactor's budget.
    fn should_yield(&self) -> bool {
        crate::reactor::budget::exhausted()
    }

    /// Asks to be called again (`data_received` with no bytes) on a later
    /// turn, reading nothing new before (see [`Transport::yield_reading`]).
    /// Default: ignored.
    fn yield_reading(&self) {}

    /// [`lose_connection`](Self::lose_connection), aborting if the close has
    /// not completed after `grace`. Default: `lose_connection` alone.
    fn lose_connection_within(&self, grace: Duration) {
        let _ = grace;
        self.lose_connection()
    }

    /// Shows `peer` in place of the socket's peer in this connection's log
    /// prefix from now on (see [`Transport::set_log_peer`]). By default
    /// nothing changes; a transport that forwards to another forwards this.
    fn set_log_peer(&self, peer: &Address) {
        let _ = peer;
    }

    /// This transport as a push producer of what it reads, sharing the
    /// transport's own allocation, or `None` to have
    /// [`Transport::as_producer`] wrap the handle in a new one. The
    /// producer must behave as [`Transport`]'s `PushProducer` impl does.
    fn as_push_producer(self: Rc<Self>) -> Option<Rc<dyn PushProducer>> {
        None
    }

    /// The UNIX peer's credentials; `Unsupported` unless the transport
    /// has them (a transport that forwards to another forwards this).
    fn peer_credentials(&self) -> io::Result<PeerCredentials> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "peer credentials are a UNIX socket's",
        ))
    }

    /// Queues a descriptor to pass with the next write (a UNIX socket's
    /// `SCM_RIGHTS`); `Unsupported` elsewhere (forwarders forward it).
    fn send_file_descriptor(&self, fd: std::os::fd::OwnedFd) -> io::Result<()> {
        drop(fd);
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "passing descriptors is a UNIX socket's",
        ))
    }

    /// The descriptors received and not taken yet; none elsewhere.
    fn take_file_descriptors(&self) -> Vec<std::os::fd::OwnedFd> {
        Vec::new()
    }
}

/// A handle to one connection's transport. Clones refer to the same connection.
///
/// A protocol gets one in `connection_made` and may keep a clone: in a
/// timer, in a map of users, in another connection's protocol. Writes from
/// any of them go to the same connection, in the order they were made.
///
/// ```
/// use std::time::Duration;
///
/// use gyre::testing::{StringTransport, VirtualClock};
/// use gyre::{Protocol, Transport};
///
/// /// Says goodbye 30 s after connecting, whatever happens meanwhile.
/// struct Timed {
///     clock: VirtualClock,
/// }
///
/// impl Protocol for Timed {
///     fn connection_made(&mut self, transport: &Transport) {
///         transport.write(b"you have 30 s\r\n");
///         let later = transport.clone();
///         self.clock.call_later(Duration::from_secs(30), move || {
///             later.write(b"time is up\r\n");
///             later.lose_connection();
///         });
///     }
///     fn data_received(&mut self, transport: &Transport, data: &[u8]) {
///         transport.write(&data.to_ascii_uppercase());
///     }
/// }
///
/// let clock = VirtualClock::new();
/// let st = StringTransport::new();
/// let mut protocol = Timed { clock: clock.clone() };
/// st.make_connection(&mut protocol);
/// protocol.data_received(&st.transport(), b"hi\r\n");
/// assert!(!st.is_disconnecting());
/// clock.advance(Duration::from_secs(30));
/// assert_eq!(st.value(), b"you have 30 s\r\nHI\r\ntime is up\r\n");
/// assert!(st.is_disconnecting());
/// ```
///
/// After the connection is gone, writes through any handle are dropped
/// without error, as in Twisted; [`is_connected`](Self::is_connected) says
/// whether it still stands.
#[derive(Clone)]
pub struct Transport {
    inner: Rc<dyn TransportImpl>,
}

impl Transport {
    /// Wraps a transport mechanism in a handle.
    pub fn new(inner: Rc<dyn TransportImpl>) -> Transport {
        Transport { inner }
    }

    /// Sends `data`: written to the socket at once when it can take it,
    /// buffered otherwise. Dropped silently if the connection is gone.
    pub fn write(&self, data: &[u8]) {
        self.inner.write(data)
    }

    /// Sends all of `parts` in order, as one gathered write (`writev`).
    pub fn write_sequence(&self, parts: &[&[u8]]) {
        self.inner.write_sequence(parts)
    }

    /// Closes the connection once everything written so far (and anything
    /// written before the close completes) has been sent. Idempotent.
    /// `connection_lost` follows on a later turn with [`Reason::Done`](crate::Reason::Done).
    pub fn lose_connection(&self) {
        self.inner.lose_connection()
    }

    /// Closes once everything written has been sent, as
    /// [`lose_connection`](Self::lose_connection), but aborts the connection
    /// if that has not happened after `grace`: a peer that stopped reading
    /// cannot hold the connection (and its buffer) open. This is what the
    /// policies that close connections use (the idle timeout).
    pub fn lose_connection_within(&self, grace: Duration) {
        self.inner.lose_connection_within(grace)
    }

    /// Closes at once, discarding buffered data (over TCP the peer sees a reset).
    /// `connection_lost` follows on a later turn with [`Reason::Aborted`](crate::Reason::Aborted).
    pub fn abort_connection(&self) {
        self.inner.abort_connection()
    }

    /// Flushes, then shuts down the sending side (`shutdown(SHUT_WR)`); the
    /// peer sees end of input and may keep sending. A half-closeable protocol
    /// gets `write_connection_lost` when it is done.
    pub fn lose_write_connection(&self) {
        self.inner.lose_write_connection()
    }

    /// The remote end's address.
    pub fn peer(&self) -> Address {
        self.inner.peer()
    }

    /// The local end's address.
    pub fn host(&self) -> Address {
        self.inner.host()
    }

    /// Sets `TCP_NODELAY`: `true` turns Nagle's algorithm off (default: `false`).
    pub fn set_no_delay(&self, enabled: bool) -> io::Result<()> {
        self.inner.set_no_delay(enabled)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn no_delay(&self) -> io::Result<bool> {
        self.inner.no_delay()
    }

    /// Enables or disables TCP keep-alive (`SO_KEEPALIVE`; default off).
    pub fn set_keep_alive(&self, enabled: bool) -> io::Result<()> {
        self.inner.set_keep_alive(enabled)
    }

    /// Whether `SO_KEEPALIVE` is set.
    pub fn keep_alive(&self) -> io::Result<bool> {
        self.inner.keep_alive()
    }

    /// Turns TCP keep-alive on and sets its timing, so that a peer that
    /// vanished without a FIN or a reset (unplugged, powered off, its link
    /// gone) is noticed: after `idle` with nothing received the kernel
    /// sends a probe (`TCP_KEEPIDLE`), then one every `interval`
    /// (`TCP_KEEPINTVL`), and once `count` probes in a row go unanswered
    /// (`TCP_KEEPCNT`) the connection is lost with
    /// [`Reason::Lost`](crate::Reason::Lost) (`ETIMEDOUT`): about
    /// `idle + interval * count` after the peer went. A peer that answers
    /// keeps the connection, however long it stays quiet; data waiting
    /// for an acknowledgement is the retransmission timer's business, not
    /// keep-alive's.
    ///
    /// The kernel counts in whole seconds: a fraction is rounded up. Linux
    /// takes 1 to 32,767 seconds and 1 to 127 probes; anything else is an
    /// [`io::ErrorKind::InvalidInput`] error, and keep-alive is left on or
    /// off as it was. Transports without TCP keep-alive (UNIX sockets) return
    /// [`io::ErrorKind::Unsupported`]. Twisted has only
    /// `setTcpKeepAlive`, which leaves the timing to the system (two
    /// hours idle, 75-second probes, 9 of them, on Linux).
    pub fn set_keep_alive_timing(
        &self,
        idle: std::time::Duration,
        interval: std::time::Duration,
        count: u32,
    ) -> io::Result<()> {
        self.inner.set_keep_alive_timing(idle, interval, count)
    }

    /// Stops reading from the connection until [`resume_reading`](Self::resume_reading).
    pub fn pause_reading(&self) {
        self.inner.pause_reading()
    }

    /// Reads from the connection again.
    pub fn resume_reading(&self) {
        self.inner.resume_reading()
    }

    /// This transport as a streaming producer of the bytes it reads:
    /// pausing it pauses reading, resuming it resumes reading (unless the
    /// connection is closing), stopping it closes the connection.
    ///
    /// Register it with another transport to pace one connection by
    /// another, or with itself so a peer that sends faster than it reads is
    /// no longer read from while 64 KiB wait to be sent. For a stream
    /// connection this shares the connection's allocation, so it costs
    /// nothing per connection.
    ///
    /// ```
    /// use gyre::testing::{ProducerState, StringTransport};
    ///
    /// let st = StringTransport::new();
    /// let t = st.transport();
    /// t.register_producer(t.as_producer()).unwrap();
    /// if let Some(gyre::Producer::Streaming(p)) = st.producer() {
    ///     p.pause_producing();
    /// }
    /// assert_eq!(st.producer_state(), ProducerState::Paused);
    /// t.unregister_producer();
    /// ```
    pub fn as_producer(&self) -> Producer {
        match self.inner.clone().as_push_producer() {
            Some(p) => Producer::Streaming(p),
            None => Producer::Streaming(Rc::new(self.clone())),
        }
    }

    /// Registers a producer whose output this transport consumes.
    ///
    /// Fails if one is already registered. On a closed transport the
    /// producer's `stop_producing` is called at once and nothing is kept.
    pub fn register_producer(&self, producer: Producer) -> Result<(), ProducerError> {
        self.inner.register_producer(producer)
    }

    /// Forgets the registered producer.
    pub fn unregister_producer(&self) {
        self.inner.unregister_producer()
    }

    /// True until the connection is gone.
    pub fn is_connected(&self) -> bool {
        self.inner.is_connected()
    }

    /// True once a close has been asked for.
    pub fn is_disconnecting(&self) -> bool {
        self.inner.is_disconnecting()
    }

    /// Bytes written but not yet accepted by the kernel: what the kernel
    /// refused, and what was written during the current turn and waits to
    /// go out with the turn's one write call.
    pub fn buffered(&self) -> usize {
        self.inner.buffered()
    }

    /// Sets this connection's write cap (see [`WriteLimit`]); for example
    /// `WriteLimit::Unlimited` to lift it, as a file server that writes a
    /// whole file at once to a peer it trusts may.
    pub fn set_write_limit(&self, limit: WriteLimit) {
        self.inner.set_write_limit(limit)
    }

    /// This connection's write cap.
    pub fn write_limit(&self) -> WriteLimit {
        self.inner.write_limit()
    }

    /// True once the current turn has done its share of work (about 1 MiB
    /// of output written by callbacks): a protocol with more to do should
    /// stop and [`yield_reading`](Self::yield_reading), so that other
    /// connections, timers and signals are served in between. The framers
    /// in [`crate::protocols`] do this between messages.
    pub fn should_yield(&self) -> bool {
        self.inner.should_yield()
    }

    /// Asks the connection to call the protocol's `data_received` again,
    /// with no bytes, on a later turn, and to read nothing from the peer
    /// until then. A protocol that stopped in the middle of its input
    /// (because [`should_yield`](Self::should_yield)) keeps the rest and
    /// goes on from there when called. Idempotent within a turn.
    pub fn yield_reading(&self) {
        self.inner.yield_reading()
    }

    /// The credentials (pid, uid, gid) of the process at the other end of
    /// a UNIX socket ([`PeerCredentials`], from `SO_PEERCRED`);
    /// `ErrorKind::Unsupported` for other transports.
    pub fn peer_credentials(&self) -> io::Result<PeerCredentials> {
        self.inner.peer_credentials()
    }

    /// Passes `fd` to the process at the other end of a UNIX socket
    /// (`SCM_RIGHTS`; Twisted's `sendFileDescriptor`): it goes with the
    /// next bytes written, so write at least one byte after it. The
    /// receiver gets its own descriptor for the same open file; this one is
    /// closed once sent. `ErrorKind::Unsupported` for other transports.
    pub fn send_file_descriptor(&self, fd: std::os::fd::OwnedFd) -> io::Result<()> {
        self.inner.send_file_descriptor(fd)
    }

    /// The descriptors passed by the peer of a UNIX socket that have
    /// arrived and were not taken yet, oldest first (Twisted's
    /// `fileDescriptorReceived`). Descriptors arrive with the bytes sent
    /// after them, so they are here by the time `data_received` sees those
    /// bytes; take them there. Empty for other transports.
    pub fn received_file_descriptors(&self) -> Vec<std::os::fd::OwnedFd> {
        self.inner.take_file_descriptors()
    }

    /// This connection's log prefix, e.g. `Echo,0,127.0.0.1` or `EchoClient,client`.
    pub fn log_prefix(&self) -> String {
        self.inner.log_prefix()
    }

    /// Shows `peer` in place of the socket's peer in this connection's log
    /// prefix from now on: a server connection's `Echo,0,<host>` names
    /// `peer`'s IP address (nothing, for a UNIX address, as for a UNIX
    /// peer), in its log lines and in [`log_prefix`](Self::log_prefix).
    ///
    /// For a wrapper that learns the real client from the stream itself,
    /// such as a PROXY protocol header ([`crate::haproxy`]): the lines of
    /// a connection that came through a load balancer then name the client,
    /// not the balancer. [`peer`](Self::peer) is not changed (a wrapper
    /// hands its protocol a transport of its own for that). A client
    /// connection's prefix (`EchoClient,client`) names no peer; there this
    /// changes nothing.
    pub fn set_log_peer(&self, peer: &Address) {
        self.inner.set_log_peer(peer)
    }

    /// True if both handles refer to the same connection.
    pub fn same_as(&self, other: &Transport) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }
}

/// One write seen by a transport made with [`Transport::observe`].
#[derive(Debug, Clone, Copy)]
pub enum Write<'a> {
    /// A [`Transport::write`].
    Bytes(&'a [u8]),
    /// A [`Transport::write_sequence`].
    Sequence(&'a [&'a [u8]]),
}

impl Transport {
    /// A transport that forwards everything to this one and calls `tap`
    /// first for every write: a way to see what a protocol sends (count
    /// writes in a test, restart an idle timer, keep statistics) without
    /// touching the protocol. Hand the returned transport to the protocol
    /// in place of this one.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use gyre::testing::StringTransport;
    ///
    /// let st = StringTransport::new();
    /// let writes = Rc::new(Cell::new(0));
    /// let w = writes.clone();
    /// let t = st.transport().observe(move |_| w.set(w.get() + 1));
    /// t.write(b"a");
    /// t.write_sequence(&[b"b", b"c"]);
    /// assert_eq!((writes.get(), st.value()), (2, b"abc".to_vec()));
    /// ```
    pub fn observe(&self, tap: impl Fn(Write<'_>) + 'static) -> Transport {
        Transport::new(Rc::new(Observed {
            inner: self.clone(),
            tap: Box::new(tap),
        }))
    }
}

/// The mechanism behind [`Transport::observe`].
struct Observed {
    inner: Transport,
    tap: Box<dyn Fn(Write<'_>)>,
}

impl TransportImpl for Observed {
    fn write(&self, data: &[u8]) {
        (self.tap)(Write::Bytes(data));
        self.inner.write(data)
    }
    fn write_sequence(&self, parts: &[&[u8]]) {
        (self.tap)(Write::Sequence(parts));
        self.inner.write_sequence(parts)
    }
    fn lose_connection(&self) {
        self.inner.lose_connection()
    }
    fn abort_connection(&self) {
        self.inner.abort_connection()
    }
    fn lose_write_connection(&self) {
        self.inner.lose_write_connection()
    }
    fn peer(&self) -> Address {
        self.inner.peer()
    }
    fn host(&self) -> Address {
        self.inner.host()
    }
    fn set_no_delay(&self, enabled: bool) -> io::Result<()> {
        self.inner.set_no_delay(enabled)
    }
    fn no_delay(&self) -> io::Result<bool> {
        self.inner.no_delay()
    }
    fn set_keep_alive(&self, enabled: bool) -> io::Result<()> {
        self.inner.set_keep_alive(enabled)
    }
    fn keep_alive(&self) -> io::Result<bool> {
        self.inner.keep_alive()
    }
    fn set_keep_alive_timing(
        &self,
        idle: std::time::Duration,
        interval: std::time::Duration,
        count: u32,
    ) -> io::Result<()> {
        self.inner.set_keep_alive_timing(idle, interval, count)
    }
    fn pause_reading(&self) {
        self.inner.pause_reading()
    }
    fn resume_reading(&self) {
        self.inner.resume_reading()
    }
    fn register_producer(&self, producer: Producer) -> Result<(), ProducerError> {
        self.inner.register_producer(producer)
    }
    fn unregister_producer(&self) {
        self.inner.unregister_producer()
    }
    fn is_connected(&self) -> bool {
        self.inner.is_connected()
    }
    fn is_disconnecting(&self) -> bool {
        self.inner.is_disconnecting()
    }
    fn buffered(&self) -> usize {
        self.inner.buffered()
    }
    fn log_prefix(&self) -> String {
        self.inner.log_prefix()
    }
    fn set_write_limit(&self, limit: WriteLimit) {
        self.inner.set_write_limit(limit)
    }
    fn write_limit(&self) -> WriteLimit {
        self.inner.write_limit()
    }
    fn yield_reading(&self) {
        self.inner.yield_reading()
    }
    fn should_yield(&self) -> bool {
        self.inner.should_yield()
    }
    fn lose_connection_within(&self, grace: Duration) {
        self.inner.lose_connection_within(grace)
    }

    fn set_log_peer(&self, peer: &Address) {
        self.inner.set_log_peer(peer)
    }

    fn peer_credentials(&self) -> io::Result<PeerCredentials> {
        self.inner.peer_credentials()
    }

    fn send_file_descriptor(&self, fd: std::os::fd::OwnedFd) -> io::Result<()> {
        self.inner.send_file_descriptor(fd)
    }

    fn take_file_descriptors(&self) -> Vec<std::os::fd::OwnedFd> {
        self.inner.received_file_descriptors()
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Transport({})", self.inner.log_prefix())
    }
}

/// Resuming a transport as a producer of what it reads: reading resumes
/// unless the connection is closing. Shared by `Transport`'s impl and the
/// stream connection's ([`TransportImpl::as_push_producer`]).
pub(crate) fn resume_reading_unless_closing<T: TransportImpl + ?Sized>(t: &T) {
    if t.is_connected() && !t.is_disconnecting() {
        t.resume_reading()
    }
}

/// A transport produces the bytes it reads: pausing it stops reading.
impl PushProducer for Transport {
    fn pause_producing(&self) {
        self.pause_reading()
    }
    fn resume_producing(&self) {
        resume_reading_unless_closing(&*self.inner)
    }
    fn stop_producing(&self) {
        self.lose_connection()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{ProducerState, StringTransport};

    /// A transport as a push producer pauses and resumes its own reading,
    /// and stopping it closes the connection.
    #[test]
    fn transport_is_a_push_producer_of_what_it_reads() {
        let st = StringTransport::new();
        let t = st.transport();
        t.pause_producing();
        assert_eq!(st.producer_state(), ProducerState::Paused);
        t.resume_producing();
        assert_eq!(st.producer_state(), ProducerState::Producing);
        t.stop_producing();
        assert!(st.is_disconnecting());
    }

    /// Handles compare by connection, and print their log prefix.
    #[test]
    fn handles_share_one_connection() {
        let st = StringTransport::new();
        let (a, b) = (st.transport(), st.transport());
        assert!(a.same_as(&b));
        assert!(!a.same_as(&StringTransport::new().transport()));
        a.write(b"x");
        b.write_sequence(&[b"y", b"z"]);
        assert_eq!(st.value(), b"xyz");
        assert!(format!("{a:?}").starts_with("Transport("));
    }
}
