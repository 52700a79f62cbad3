//! RFC 862 echo: every chunk received is written straight back.
//!
//! Memory stays bounded when a client sends but does not read: the protocol
//! registers its own transport as the transport's streaming producer, so once
//! more than 64 KiB wait to be sent the transport pauses reading from the
//! client, and resumes when the buffer has drained (reference §5.2).
//! Twisted's `Echo` has no such guard and buffers without limit.
//!
//! Each connection also turns Nagle's algorithm off (`TCP_NODELAY`), as an
//! echo has nothing to gain from holding back the tail of a reply.

use gyre::{Protocol, Transport};

/// The echo protocol.
#[derive(Debug, Default)]
pub(crate) struct Echo;

impl Protocol for Echo {
    fn connection_made(&mut self, transport: &Transport) {
        // An echo answers at once: Nagle's algorithm could only hold a
        // reply's tail back until the peer acknowledges the previous one.
        if let Err(err) = transport.set_no_delay(true) {
            log::debug!("TCP_NODELAY not set: {err}");
        }
        if let Err(err) = transport.register_producer(transport.as_producer()) {
            log::debug!("echo flow control not set up: {err}");
        }
    }

    fn data_received(&mut self, transport: &Transport, data: &[u8]) {
        transport.write(data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gyre::Producer;
    use gyre::testing::{ProducerState, StringTransport};

    /// Replies go out without waiting on Nagle's algorithm.
    #[test]
    fn turns_nagle_off() {
        let st = StringTransport::new();
        assert!(!st.transport().no_delay().unwrap());
        st.make_connection(&mut Echo);
        assert!(st.transport().no_delay().unwrap());
        st.transport().unregister_producer();
    }

    /// Bytes come back unchanged and in order, whatever the chunk size.
    #[test]
    fn echoes_every_chunk() {
        let input: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        for size in [1, 2, 3, 7, 64, 999, 1000] {
            let st = StringTransport::new();
            let mut echo = Echo;
            st.make_connection(&mut echo);
            for chunk in input.chunks(size) {
                echo.data_received(&st.transport(), chunk);
            }
            assert_eq!(st.value(), input, "chunk size {size}");
            assert!(!st.is_disconnecting());
            st.transport().unregister_producer();
        }
    }

    /// The transport is registered as its own streaming producer, so back-pressure pauses reading.
    #[test]
    fn registers_transport_as_its_own_producer() {
        let st = StringTransport::new();
        st.make_connection(&mut Echo);
        let Some(Producer::Streaming(producer)) = st.producer() else {
            panic!("expected a streaming producer, got {:?}", st.producer());
        };
        producer.pause_producing(); // what the transport does above 64 KiB
        assert!(st.is_reading_paused());
        producer.resume_producing(); // what it does once drained
        assert_eq!(st.producer_state(), ProducerState::Producing);
        st.transport().unregister_producer();
    }

    /// A transport that already has a producer still echoes (flow control is best effort).
    #[test]
    fn echoes_without_flow_control() {
        let st = StringTransport::new();
        let t = st.transport();
        t.register_producer(t.as_producer()).unwrap();
        let mut echo = Echo;
        st.make_connection(&mut echo);
        echo.data_received(&t, b"ping");
        assert_eq!(st.value(), b"ping");
        t.unregister_producer();
    }
}
