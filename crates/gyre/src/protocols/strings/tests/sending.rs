//! `send_string` in every framing: the bytes on the wire, the refusal of a
//! string too long for its prefix, and one transport call per string.

use super::*;

/// Reference §9.3: `send_string` writes prefix and payload, once; Int32
/// `hello` is `\0\0\0\x05hello`.
#[test]
fn prefixed_send_string_writes_prefix_and_payload() {
    struct Send(&'static [u8]);
    impl StringReceiver for Send {
        fn string_received(&mut self, _: &StringConnection<'_>, _: &[u8]) {}
        fn connection_made(&mut self, conn: &StringConnection<'_>) {
            conn.send_string(self.0).unwrap();
        }
    }
    let cases: [(Box<dyn Protocol>, &[u8]); 5] = [
        (
            Box::new(Int32StringProtocol::new(Send(b"hello"))),
            b"\0\0\0\x05hello",
        ),
        (
            Box::new(Int16StringProtocol::new(Send(b"hello"))),
            b"\0\x05hello",
        ),
        (
            Box::new(Int8StringProtocol::new(Send(b"hello"))),
            b"\x05hello",
        ),
        (Box::new(Int32StringProtocol::new(Send(b""))), b"\0\0\0\0"),
        (Box::new(Int8StringProtocol::new(Send(b""))), b"\0"),
    ];
    for (mut p, wire) in cases {
        let st = StringTransport::new();
        st.make_connection(&mut p);
        assert_eq!(st.value(), wire);
    }
}

/// Reference §9.3: a string of `2^bits` bytes or more is refused with
/// Twisted's message and nothing is written; one byte less is sent.
#[test]
fn send_string_too_long_is_refused_with_twisteds_message() {
    struct Sender(Option<StringSender>);
    impl StringReceiver for Sender {
        fn string_received(&mut self, _: &StringConnection<'_>, _: &[u8]) {}
        fn connection_made(&mut self, conn: &StringConnection<'_>) {
            self.0 = Some(conn.sender());
        }
    }
    let st = StringTransport::new();
    let mut p16 = Int16StringProtocol::new(Sender(None));
    st.make_connection(&mut p16);
    let sender = p16.handler().0.clone().unwrap();
    let err = sender.send_string(&vec![0; 65_536]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Try to send 65536 bytes whereas maximum is 65536"
    );
    assert_eq!((err.length(), err.maximum()), (65_536, 65_536));
    assert_eq!(st.value(), b"");
    sender.send_string(&vec![1; 65_535]).unwrap();
    assert_eq!(st.value()[..2], [0xff, 0xff]);
    assert_eq!(st.value().len(), 65_537);

    let st = StringTransport::new();
    let mut p8 = Int8StringProtocol::new(Sender(None));
    st.make_connection(&mut p8);
    let sender = p8.handler().0.clone().unwrap();
    let err = sender.send_string(&[0; 256]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Try to send 256 bytes whereas maximum is 256"
    );
    assert_eq!(st.value(), b"");
    sender.send_string(&[2; 255]).unwrap();
    assert_eq!(st.value().len(), 256);

    // Int32 without allocating 4 GiB: the same check on the length.
    assert_eq!(PrefixWidth::U32.check(u32::MAX as usize), Ok(()));
    if let Ok(len) = usize::try_from(1u64 << 32) {
        let err = PrefixWidth::U32.check(len).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Try to send 4294967296 bytes whereas maximum is 4294967296"
        );
    }
    let mut out = vec![9];
    assert!(PrefixWidth::U8.encode(&[0; 300], &mut out).is_err());
    assert_eq!(out, [9], "a refused encode appends nothing");
}

/// A transport that counts calls, to check each string is one write.
struct Counting {
    inner: StringTransport,
    calls: Cell<usize>,
}

impl crate::transport::TransportImpl for Counting {
    fn write(&self, data: &[u8]) {
        self.calls.set(self.calls.get() + 1);
        self.inner.transport().write(data)
    }
    fn write_sequence(&self, parts: &[&[u8]]) {
        self.calls.set(self.calls.get() + 1);
        self.inner.transport().write_sequence(parts)
    }
    fn lose_connection(&self) {
        self.inner.transport().lose_connection()
    }
    fn abort_connection(&self) {
        self.inner.transport().abort_connection()
    }
    fn lose_write_connection(&self) {
        self.inner.transport().lose_write_connection()
    }
    fn peer(&self) -> crate::Address {
        self.inner.transport().peer()
    }
    fn host(&self) -> crate::Address {
        self.inner.transport().host()
    }
    fn set_no_delay(&self, enabled: bool) -> std::io::Result<()> {
        self.inner.transport().set_no_delay(enabled)
    }
    fn no_delay(&self) -> std::io::Result<bool> {
        self.inner.transport().no_delay()
    }
    fn set_keep_alive(&self, enabled: bool) -> std::io::Result<()> {
        self.inner.transport().set_keep_alive(enabled)
    }
    fn keep_alive(&self) -> std::io::Result<bool> {
        self.inner.transport().keep_alive()
    }
    fn pause_reading(&self) {
        self.inner.transport().pause_reading()
    }
    fn resume_reading(&self) {
        self.inner.transport().resume_reading()
    }
    fn register_producer(&self, producer: crate::Producer) -> Result<(), crate::ProducerError> {
        self.inner.transport().register_producer(producer)
    }
    fn unregister_producer(&self) {
        self.inner.transport().unregister_producer()
    }
    fn is_connected(&self) -> bool {
        self.inner.transport().is_connected()
    }
    fn is_disconnecting(&self) -> bool {
        self.inner.transport().is_disconnecting()
    }
    fn buffered(&self) -> usize {
        0
    }
    fn log_prefix(&self) -> String {
        "Counting".into()
    }
}

/// Every framing hands one string to the transport in exactly one call.
#[test]
fn each_string_is_one_transport_write() {
    for kind in KINDS {
        for s in [&b""[..], b"hello", &[5u8; 200]] {
            let counting = Rc::new(Counting {
                inner: StringTransport::new(),
                calls: Cell::new(0),
            });
            let transport = Transport::new(counting.clone());
            let framing = match kind {
                Kind::Int8 => Framing::Prefixed(PrefixWidth::U8),
                Kind::Int16 => Framing::Prefixed(PrefixWidth::U16),
                Kind::Int32 => Framing::Prefixed(PrefixWidth::U32),
                Kind::Netstring => Framing::Netstring,
            };
            let sender = StringSender { transport, framing };
            sender.send_string(s).unwrap();
            assert_eq!(counting.calls.get(), 1, "{kind:?}");
            assert_eq!(counting.inner.value(), encode(kind, s), "{kind:?}");
        }
    }
}

/// Reference §9.4: `hello` is sent as `5:hello,` and the empty string
/// as `0:,`; lengths of several digits are written in decimal.
#[test]
fn netstring_send_string() {
    struct Send;
    impl StringReceiver for Send {
        fn string_received(&mut self, conn: &StringConnection<'_>, s: &[u8]) {
            conn.send_string(s).unwrap();
        }
    }
    let st = StringTransport::new();
    let mut p = NetstringProtocol::new(Send);
    st.make_connection(&mut p);
    p.data_received(&st.transport(), b"5:hello,0:,");
    assert_eq!(st.value(), b"5:hello,0:,");
    let mut out = Vec::new();
    encode_netstring(&[b'a'; 1234], &mut out);
    assert!(out.starts_with(b"1234:aaa") && out.ends_with(b"a,"));
    assert_eq!(out.len(), 1234 + 6);
}
