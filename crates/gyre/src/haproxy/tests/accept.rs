//! The receiving wrapper on a `StringTransport` and the test clock: the
//! spec's examples split at every byte, malformed headers closing the
//! connection unseen, the time bound, and what the inner protocol sees.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use super::examples::{self, SIG};
use crate::address::Address;
use crate::error::Reason;
use crate::factory::{Factory, for_protocol};
use crate::haproxy::{AcceptProxy, AcceptSettings, DEFAULT_TIMEOUT, ProxyHeader, Tlv};
use crate::protocol::Protocol;
use crate::testing::{ProducerState, StringTransport, VirtualClock};
use crate::transport::Transport;
use crate::wrap::WrappingFactory;

/// What the inner protocol was told, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    /// `connection_made`, with the transport's peer and host.
    Made {
        peer: Address,
        host: Address,
    },
    Data(Vec<u8>),
    ReadLost,
    Lost,
}

/// Records its callbacks; keeps the transports it was given.
#[derive(Default)]
struct Recorder {
    seen: Rc<RefCell<Vec<Seen>>>,
    transports: Rc<RefCell<Vec<Transport>>>,
    half_closeable: bool,
    /// Close from `connection_made`.
    close_at_once: bool,
    /// Pause reading from `connection_made` (as a port forwarder does).
    pause_at_once: bool,
    /// Panic when data arrives.
    panic_on_data: bool,
    /// TLVs handed over by the header hook.
    tlvs: Vec<Tlv>,
}

impl Protocol for Recorder {
    fn connection_made(&mut self, transport: &Transport) {
        self.transports.borrow_mut().push(transport.clone());
        self.seen.borrow_mut().push(Seen::Made {
            peer: transport.peer(),
            host: transport.host(),
        });
        if self.close_at_once {
            transport.lose_connection();
        }
        if self.pause_at_once {
            transport.pause_reading();
        }
    }
    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        assert!(!self.panic_on_data, "data_received went wrong");
        self.transports.borrow_mut().push(transport.clone());
        self.seen.borrow_mut().push(Seen::Data(data.to_vec()));
    }
    fn connection_lost(&mut self, _reason: Reason) {
        self.seen.borrow_mut().push(Seen::Lost);
    }
    fn half_closeable(&self) -> bool {
        self.half_closeable
    }
    fn read_connection_lost(&mut self, transport: &Transport) {
        self.transports.borrow_mut().push(transport.clone());
        self.seen.borrow_mut().push(Seen::ReadLost);
    }
}

/// A wrapped recorder on a fresh `StringTransport` (balancer
/// 10.1.1.1:4000 -> server 10.0.0.2:8000), connection made.
struct Rig {
    protocol: AcceptProxy<Recorder>,
    transport: StringTransport,
    clock: VirtualClock,
    seen: Rc<RefCell<Vec<Seen>>>,
}

fn balancer() -> Address {
    Address::tcp(([10, 1, 1, 1], 4000).into())
}

fn server() -> Address {
    Address::tcp(([10, 0, 0, 2], 8000).into())
}

impl Rig {
    fn new() -> Rig {
        Rig::with(Recorder::default(), |s| s)
    }

    fn with(
        recorder: Recorder,
        settings: impl FnOnce(AcceptSettings<Recorder>) -> AcceptSettings<Recorder>,
    ) -> Rig {
        let clock = VirtualClock::new();
        let seen = recorder.seen.clone();
        let mut protocol = AcceptProxy::new(recorder, settings(AcceptSettings::new(&clock)));
        let transport = StringTransport::with_addresses(server(), balancer());
        transport.make_connection(&mut protocol);
        Rig {
            protocol,
            transport,
            clock,
            seen,
        }
    }

    /// Delivers `data` as one read (none if empty: a connection never
    /// delivers an empty read).
    fn feed(&mut self, data: &[u8]) {
        if !data.is_empty() {
            self.protocol
                .data_received(&self.transport.transport(), data);
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.borrow().clone()
    }

    /// Ends the connection as the reactor would.
    fn lose(&mut self) {
        self.protocol.connection_lost(Reason::Done);
    }
}

/// What the inner protocol must see for `e`'s wire bytes: made with the
/// header's addresses (or the connection's own), then the data after it.
fn expected(e: &examples::Example) -> Vec<Seen> {
    let (peer, host) = e.addresses.clone().unwrap_or((balancer(), server()));
    let mut seen = vec![Seen::Made { peer, host }];
    if e.header_len < e.wire.len() {
        seen.push(Seen::Data(e.wire[e.header_len..].to_vec()));
    }
    seen
}

/// Joins the data events, so that splits in the data do not matter.
fn merged(seen: Vec<Seen>) -> Vec<Seen> {
    let mut out: Vec<Seen> = Vec::new();
    for s in seen {
        match (out.last_mut(), s) {
            (Some(Seen::Data(all)), Seen::Data(more)) => all.extend_from_slice(&more),
            (_, s) => out.push(s),
        }
    }
    out
}

/// Every example of the spec, cut in two at every byte, is read as what it
/// says: the inner protocol is made once with the header's addresses and
/// then gets exactly the bytes after the header.
#[test]
fn every_example_split_at_every_byte() {
    for e in examples::all() {
        for cut in 0..=e.wire.len() {
            let mut rig = Rig::new();
            rig.feed(&e.wire[..cut]);
            if cut < e.header_len {
                assert_eq!(
                    rig.seen(),
                    [],
                    "{}: told before the header at {cut}",
                    e.name
                );
            }
            rig.feed(&e.wire[cut..]);
            assert_eq!(merged(rig.seen()), expected(&e), "{} cut at {cut}", e.name);
            assert!(!rig.transport.is_disconnecting(), "{} cut at {cut}", e.name);
            assert!(
                rig.clock.pending_calls().is_empty(),
                "deadline left after the header"
            );
        }
    }
}

/// Every example fed one byte at a time is read the same.
#[test]
fn every_example_one_byte_at_a_time() {
    for e in examples::all() {
        let mut rig = Rig::new();
        for b in &e.wire {
            rig.feed(std::slice::from_ref(b));
        }
        assert_eq!(merged(rig.seen()), expected(&e), "{}", e.name);
    }
}

/// With a header's addresses the log prefix is told the client; without
/// (LOCAL, UNKNOWN, UNSPEC) nothing is changed.
#[test]
fn the_log_prefix_names_the_header_s_client() {
    for e in examples::all() {
        let mut rig = Rig::new();
        rig.feed(&e.wire);
        let shown = e.addresses.as_ref().map(|(source, _)| source.clone());
        assert_eq!(rig.transport.log_peer(), shown, "{}", e.name);
    }
}

/// The inner protocol gets one transport for every callback; it writes
/// and closes the real connection, and registering it as a producer pauses
/// the real connection's reading.
#[test]
fn the_inner_protocol_s_transport_forwards_to_the_connection() {
    let recorder = Recorder {
        half_closeable: true,
        ..Recorder::default()
    };
    let transports = recorder.transports.clone();
    let mut rig = Rig::with(recorder, |s| s);
    rig.feed(&examples::all()[8].wire); // TCP over IPv4, with a request after it
    rig.feed(b"more");
    rig.protocol
        .read_connection_lost(&rig.transport.transport());
    let given = transports.borrow().clone();
    assert_eq!(given.len(), 4);
    assert!(
        given.iter().all(|t| t.same_as(&given[0])),
        "one transport throughout"
    );
    let t = &given[0];
    assert!(
        !t.same_as(&rig.transport.transport()),
        "addresses of its own"
    );
    t.write(b"reply");
    t.write_sequence(&[b"a", b"b"]);
    assert_eq!(rig.transport.value(), b"replyab");
    t.register_producer(t.as_producer()).unwrap();
    let Some(crate::Producer::Streaming(p)) = rig.transport.producer() else {
        panic!("no streaming producer on the connection");
    };
    p.pause_producing();
    assert_eq!(rig.transport.producer_state(), ProducerState::Paused);
    t.unregister_producer();
    t.lose_connection();
    assert!(rig.transport.is_disconnecting());
    assert_eq!(rig.seen()[3], Seen::ReadLost);
}

/// The header hook runs before `connection_made` and can keep the TLVs;
/// the wrapper keeps the header too.
#[test]
fn the_header_hook_hands_over_the_tlvs() {
    let mut rig = Rig::with(Recorder::default(), |s| {
        s.with_on_header(|p: &mut Recorder, h: &ProxyHeader| {
            assert!(
                p.seen.borrow().is_empty(),
                "the hook runs before connection_made"
            );
            p.tlvs = h.tlvs().to_vec();
        })
    });
    let e = &examples::all()[14];
    rig.feed(&e.wire);
    assert_eq!(rig.protocol.inner().borrow().tlvs, e.tlvs);
    assert_eq!(rig.protocol.header().map(|h| h.tlvs().len()), Some(4));
}

/// `connection_lost` reaches the inner protocol once it was made, and not
/// before.
#[test]
fn connection_lost_only_after_connection_made() {
    let mut rig = Rig::new();
    rig.feed(&examples::all()[2].wire[..5]);
    rig.lose();
    assert_eq!(rig.seen(), []);
    assert!(rig.clock.pending_calls().is_empty(), "deadline cancelled");

    let mut rig = Rig::new();
    rig.feed(&examples::all()[2].wire);
    rig.lose();
    assert_eq!(
        rig.seen(),
        [
            Seen::Made {
                peer: balancer(),
                host: server()
            },
            Seen::Lost
        ]
    );
}

/// A protocol that closes its connection in `connection_made` gets none of
/// the bytes that came with the header.
#[test]
fn nothing_is_delivered_after_a_close_in_connection_made() {
    let recorder = Recorder {
        close_at_once: true,
        ..Recorder::default()
    };
    let mut rig = Rig::with(recorder, |s| s);
    rig.feed(&examples::all()[4].wire); // v1 before an HTTP request
    assert_eq!(rig.seen().len(), 1, "{:?}", rig.seen());
}

/// A protocol that pauses reading in `connection_made` gets the bytes that
/// came with the header only once it resumes, on a later turn; bytes that
/// arrive after them follow them.
#[test]
fn bytes_with_the_header_wait_while_paused() {
    let recorder = Recorder {
        pause_at_once: true,
        ..Recorder::default()
    };
    let transports = recorder.transports.clone();
    let mut rig = Rig::with(recorder, |s| s);
    let e = &examples::all()[4]; // v1 before an HTTP request
    rig.feed(&e.wire);
    assert_eq!(rig.seen().len(), 1, "only made: {:?}", rig.seen());
    assert!(
        rig.transport.is_reading_paused(),
        "the connection is paused too"
    );
    rig.clock.advance(Duration::ZERO);
    assert_eq!(rig.seen().len(), 1, "still paused");
    let given = transports.borrow()[0].clone();
    given.resume_reading();
    assert_eq!(rig.seen().len(), 1, "not from inside resume_reading");
    assert!(!rig.transport.is_reading_paused());
    rig.clock.advance(Duration::ZERO);
    rig.feed(b"next");
    let mut want = expected(e);
    want.push(Seen::Data(b"next".to_vec()));
    assert_eq!(rig.seen(), want);
}

/// Held bytes are delivered before newer ones, and before the end of the
/// connection, whichever comes first after the resume.
#[test]
fn held_bytes_keep_their_order() {
    for end in [false, true] {
        let recorder = Recorder {
            pause_at_once: true,
            half_closeable: true,
            ..Recorder::default()
        };
        let transports = recorder.transports.clone();
        let mut rig = Rig::with(recorder, |s| s);
        rig.feed(b"PROXY UNKNOWN\r\nfirst");
        transports.borrow()[0].resume_reading();
        if end {
            rig.protocol
                .read_connection_lost(&rig.transport.transport());
            rig.lose();
        } else {
            rig.feed(b"second");
        }
        let made = Seen::Made {
            peer: balancer(),
            host: server(),
        };
        let want = if end {
            vec![
                made,
                Seen::Data(b"first".to_vec()),
                Seen::ReadLost,
                Seen::Lost,
            ]
        } else {
            vec![
                made,
                Seen::Data(b"first".to_vec()),
                Seen::Data(b"second".to_vec()),
            ]
        };
        assert_eq!(rig.seen(), want);
        rig.clock.advance(Duration::ZERO);
        assert_eq!(rig.seen().len(), want.len(), "delivered once");
    }
}

/// A panic while held bytes are delivered on a later turn closes the
/// connection, as a panic in `data_received` does.
#[test]
fn a_panic_delivering_held_bytes_closes_the_connection() {
    let recorder = Recorder {
        pause_at_once: true,
        panic_on_data: true,
        ..Recorder::default()
    };
    let transports = recorder.transports.clone();
    let mut rig = Rig::with(recorder, |s| s);
    rig.feed(b"PROXY UNKNOWN\r\nboom");
    transports.borrow()[0].resume_reading();
    rig.clock.advance(Duration::ZERO);
    assert!(rig.transport.is_aborted());
}

/// Malformed headers of every kind, and the limit: each closes the
/// connection (aborted) without the inner protocol hearing of it, and
/// nothing sent later reaches it.
#[test]
fn malformed_headers_close_the_connection_unseen() {
    let v2 = |rest: &[u8]| [&SIG[..], rest].concat();
    let too_long = v2(&[0x21, 0x11, 0x10, 0x00]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("bad signature", b"GET / HTTP/1.1\r\n\r\n".to_vec()),
        ("bad version", v2(&[0x11, 0x11, 0x00, 0x0C])),
        ("bad command", v2(&[0x2F, 0x11, 0x00, 0x0C])),
        ("bad family", v2(&[0x21, 0x41, 0x00, 0x0C])),
        (
            "wrong length",
            v2(&[
                0x21, 0x21, 0x00, 0x0C, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
            ]),
        ),
        ("family mismatch", b"PROXY TCP4 ::1 ::1 1 2\r\n".to_vec()),
        (
            "v1 line over 107 bytes",
            [&b"PROXY UNKNOWN "[..], &[b'f'; 100]].concat(),
        ),
        ("over the header limit", too_long),
    ];
    for (name, wire) in cases {
        for chunk in [wire.len(), 1] {
            let mut rig = Rig::new();
            for piece in wire.chunks(chunk) {
                rig.feed(piece);
            }
            rig.feed(b"PROXY UNKNOWN\r\nlater");
            assert!(rig.transport.is_aborted(), "{name}: not closed");
            rig.lose();
            assert_eq!(rig.seen(), [], "{name}: the inner protocol heard of it");
            assert!(
                rig.clock.pending_calls().is_empty(),
                "{name}: deadline left"
            );
        }
    }
}

/// A header not complete within the time bound closes the connection at
/// the bound, not before; the inner protocol never hears of it.
#[test]
fn an_incomplete_header_times_out() {
    let mut rig = Rig::with(Recorder::default(), |s| {
        s.with_timeout(Duration::from_secs(3))
    });
    rig.feed(b"PROXY TCP4 192.168.0.1 ");
    rig.clock.advance(Duration::from_millis(2999));
    assert!(!rig.transport.is_disconnecting(), "closed before the bound");
    rig.clock.advance(Duration::from_millis(1));
    assert!(rig.transport.is_aborted(), "open after the bound");
    rig.feed(b"192.168.0.11 56324 443\r\n");
    rig.lose();
    assert_eq!(rig.seen(), []);
}

/// The default bound is 10 s, and a header that arrives in time cancels it.
#[test]
fn a_header_in_time_cancels_the_bound() {
    assert_eq!(DEFAULT_TIMEOUT, Duration::from_secs(10));
    let mut rig = Rig::new();
    rig.clock.advance(Duration::from_millis(9999));
    rig.feed(&examples::all()[2].wire);
    rig.clock.advance(Duration::from_secs(3600));
    assert!(!rig.transport.is_disconnecting());
    assert_eq!(rig.seen().len(), 1);
}

/// A connection whose peer stops sending before the header is complete is
/// closed; the inner protocol never hears of it.
#[test]
fn an_end_of_input_before_the_header_closes() {
    let recorder = Recorder {
        half_closeable: true,
        ..Recorder::default()
    };
    let mut rig = Rig::with(recorder, |s| s);
    rig.feed(&SIG[..6]);
    rig.protocol
        .read_connection_lost(&rig.transport.transport());
    assert!(rig.transport.is_aborted());
    rig.lose();
    assert_eq!(rig.seen(), []);
}

/// The factory wrapper gives every protocol the wrapped factory builds a
/// header reader with its settings; the wrapped factory may still refuse.
#[test]
fn the_factory_wrapper_wraps_every_protocol() {
    let clock = VirtualClock::new();
    let factory = WrappingFactory::wrap(
        for_protocol(Recorder::default),
        AcceptSettings::new(&clock).with_timeout(Duration::from_secs(1)),
    );
    let mut protocol = factory.build_protocol(&balancer()).expect("built");
    let transport = StringTransport::with_addresses(server(), balancer());
    transport.make_connection(&mut protocol);
    clock.advance(Duration::from_secs(1));
    assert!(transport.is_aborted(), "the settings' bound applies");
    assert!(protocol.inner().borrow().seen.borrow().is_empty());

    struct Refuse;
    impl Factory for Refuse {
        type Protocol = Recorder;
        fn build_protocol(&self, _: &Address) -> Option<Recorder> {
            None
        }
    }
    let factory = WrappingFactory::wrap(Refuse, AcceptSettings::new(&clock));
    assert!(factory.build_protocol(&balancer()).is_none());
}

/// A wrapper dropped while waiting leaves no deadline on the clock; the
/// limit is capped at the longest v2 header.
#[test]
fn dropping_a_waiting_wrapper_cancels_its_deadline() {
    let rig = Rig::new();
    assert_eq!(rig.clock.pending_calls().len(), 1);
    let clock = rig.clock.clone();
    drop(rig);
    assert!(clock.pending_calls().is_empty());
    let settings = AcceptSettings::<Recorder>::new(&clock).with_max_header_len(usize::MAX);
    assert_eq!(settings.max_header_len(), 16 + 65535);
    assert!(format!("{settings:?}").contains("max_len: 65551"));
}
