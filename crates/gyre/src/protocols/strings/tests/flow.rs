//! Flow control in every framing: a spent turn yields between strings,
//! nothing is delivered after a close, pausing and resuming (inside a
//! callback and through [`StringProducer`]), and the log prefix and
//! `Debug` output.

use super::*;

/// When the turn's work is done (`should_yield`), every framing stops
/// after the string it delivered, asks to be called again, and delivers
/// the rest in order when it is (`data_received` with no bytes).
#[test]
fn a_spent_turn_yields_between_strings() {
    for kind in [Kind::Int8, Kind::Int16, Kind::Int32, Kind::Netstring] {
        let handler = default_recorder();
        let events = handler.events.clone();
        let st = StringTransport::new();
        let mut p = protocol(kind, handler);
        st.make_connection(&mut p);
        st.set_should_yield(true);
        let input = [
            encode(kind, b"one"),
            encode(kind, b"two"),
            encode(kind, b"3"),
        ]
        .concat();
        p.data_received(&st.transport(), &input);
        assert_eq!(*events.borrow(), strings(&[b"one"]), "{kind:?}");
        assert_eq!(st.yields(), 1, "{kind:?}");
        st.set_should_yield(false);
        p.data_received(&st.transport(), b"");
        assert_eq!(
            *events.borrow(),
            strings(&[b"one", b"two", b"3"]),
            "{kind:?}"
        );
        assert!(!st.is_disconnecting(), "{kind:?}");
    }
}

/// When the handler closes the connection, no further string is
/// delivered, in every framing and at every chunk size.
#[test]
fn nothing_is_delivered_after_the_handler_closes() {
    for kind in KINDS {
        let make = || Recorder {
            close_on: Some(b"b".to_vec()),
            ..Recorder::new(DEFAULT_MAX_LENGTH)
        };
        let input: Vec<u8> = [&b"a"[..], b"b", b"c"]
            .iter()
            .flat_map(|s| encode(kind, s))
            .collect();
        let out = every_chunking(kind, &make, &input);
        assert_eq!(out.events, strings(&[b"a", b"b"]), "{kind:?}");
        assert!(out.disconnecting);
    }
}

/// Pausing from `string_received` stops delivery, buffered strings
/// included, and pauses reading; data arriving meanwhile is kept;
/// resuming through the producer handle delivers the rest at once.
#[test]
fn pause_stops_delivery_and_resume_delivers_the_rest() {
    for kind in KINDS {
        let handler = Recorder {
            pause_on: Some(b"b".to_vec()),
            ..Recorder::new(DEFAULT_MAX_LENGTH)
        };
        let events = handler.events.clone();
        let producer = handler.producer.clone();
        let st = StringTransport::new();
        let mut p = protocol(kind, handler);
        st.make_connection(&mut p);
        let first: Vec<u8> = [&b"a"[..], b"b", b"c"]
            .iter()
            .flat_map(|s| encode(kind, s))
            .collect();
        p.data_received(&st.transport(), &first);
        assert_eq!(*events.borrow(), strings(&[b"a", b"b"]), "{kind:?}");
        assert!(st.is_reading_paused());
        p.data_received(&st.transport(), &encode(kind, b"d"));
        assert_eq!(events.borrow().len(), 2, "{kind:?}: delivered while paused");

        let producer = producer.borrow().clone().unwrap();
        producer.resume_producing();
        assert!(!st.is_reading_paused());
        assert_eq!(
            *events.borrow(),
            strings(&[b"a", b"b", b"c", b"d"]),
            "{kind:?}"
        );
        p.data_received(&st.transport(), &encode(kind, b"e"));
        assert_eq!(events.borrow().len(), 5);

        producer.pause_producing();
        assert!(st.is_reading_paused());
        p.data_received(&st.transport(), &encode(kind, b"f"));
        assert_eq!(events.borrow().len(), 5);
        producer.stop_producing();
        assert!(st.is_disconnecting());
        assert_eq!(events.borrow().len(), 5, "stopping delivers nothing");
    }
}

/// Resuming from inside a callback, after pausing there, lets the
/// running delivery carry on.
#[test]
fn resume_inside_a_callback_continues_delivery() {
    struct Flicker(Vec<Vec<u8>>);
    impl StringReceiver for Flicker {
        fn string_received(&mut self, conn: &StringConnection<'_>, s: &[u8]) {
            self.0.push(s.to_vec());
            conn.pause_producing();
            assert!(conn.is_paused());
            conn.resume_producing();
        }
    }
    let st = StringTransport::new();
    let mut p = NetstringProtocol::new(Flicker(vec![]));
    st.make_connection(&mut p);
    p.data_received(&st.transport(), b"1:a,1:b,1:c,");
    assert_eq!(p.handler().0, [b"a", b"b", b"c"]);
    assert!(!st.is_reading_paused());
}

/// A producer handle outlives its protocol harmlessly: it only pauses
/// and resumes the transport's reading.
#[test]
fn producer_after_the_protocol_is_dropped() {
    let handler = Recorder::new(DEFAULT_MAX_LENGTH);
    let producer = handler.producer.clone();
    let st = StringTransport::new();
    let mut p = Int32StringProtocol::new(handler);
    st.make_connection(&mut p);
    let producer = producer.borrow().clone().unwrap();
    drop(p);
    producer.pause_producing();
    assert!(st.is_reading_paused());
    producer.resume_producing();
    assert!(!st.is_reading_paused());
    assert!(format!("{producer:?}").contains("paused: None"));
}

/// The protocol's log prefix is the handler's name, and Debug shows
/// the framer's state.
#[test]
fn log_prefix_and_debug() {
    struct Chatter;
    impl StringReceiver for Chatter {
        fn string_received(&mut self, _: &StringConnection<'_>, _: &[u8]) {}
    }
    let mut p = Int32StringProtocol::new(Chatter);
    assert_eq!(p.log_prefix(), "Chatter");
    let st = StringTransport::new();
    st.make_connection(&mut p);
    p.data_received(&st.transport(), b"\0\0");
    let debug = format!("{p:?}");
    assert!(debug.starts_with("Int32StringProtocol {"), "{debug}");
    assert!(debug.contains("buffered: 2"), "{debug}");
}
