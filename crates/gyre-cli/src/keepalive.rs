//! `--keepalive SECONDS`: TCP keep-alive on every connection a service
//! accepts, so that a client which vanished without a FIN or a reset (its
//! machine gone, its link cut) is noticed and its connection freed.
//!
//! [`KeepAlive`] is a [`WrapFactory`] around the service's factory: each
//! protocol it builds is wrapped so that, when its connection is made, the
//! transport gets [`Transport::set_keep_alive_timing`] with the first probe
//! after `SECONDS` without traffic, one more every `SECONDS`, and
//! [`PROBES`] unanswered probes dropping the connection: a vanished client
//! is gone after about `(1 + PROBES) × SECONDS`. A client that answers the
//! probes keeps its connection however quiet it is (`--idle-timeout` is
//! for those). The wrapper changes nothing else, and its log lines are the
//! service's own. Tests: at the bottom of this file (through
//! `StringTransport`), and on a cut link in `tests/faults.rs`.

use std::time::Duration;

use gyre::wrap::{ProtocolWrapper, WrapFactory, WrapProtocol, WrappingFactory};
use gyre::{Address, Factory, Protocol, Shared, Transport};

/// Unanswered probes after which the kernel drops the connection.
pub(crate) const PROBES: u32 = 3;

/// The longest `--keepalive` Linux takes (`TCP_KEEPIDLE`, `TCP_KEEPINTVL`).
pub(crate) const MAX_SECONDS: u64 = 32_767;

/// Wraps `factory` so that every connection it serves has keep-alive
/// probes every `every` (idle time and interval alike).
pub(crate) fn wrap<F: Factory>(factory: F, every: Duration) -> WrappingFactory<F, KeepAlive> {
    WrappingFactory::wrap(factory, KeepAlive { every })
}

/// The factory side: gives every protocol a [`SetTiming`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeepAlive {
    every: Duration,
}

impl<F: Factory> WrapFactory<F> for KeepAlive {
    type Protocol = ProtocolWrapper<F::Protocol, SetTiming>;

    fn build_protocol(&self, wrapped: &Shared<F>, addr: &Address) -> Option<Self::Protocol> {
        let inner = wrapped.build_protocol(addr)?;
        Some(ProtocolWrapper::wrap(
            inner,
            SetTiming { every: self.every },
        ))
    }
}

/// The protocol side: sets the timing when the connection is made, then
/// stays out of the way.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SetTiming {
    every: Duration,
}

impl<P: Protocol> WrapProtocol<P> for SetTiming {
    fn connection_made(&mut self, inner: &mut P, transport: &Transport) {
        if let Err(e) = transport.set_keep_alive_timing(self.every, self.every, PROBES) {
            // Not fatal: the connection is served, only without probes.
            log::warn!("Cannot turn on TCP keep-alive: {e}");
        }
        inner.connection_made(transport);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gyre::testing::StringTransport;
    use gyre::{Protocol, for_protocol};

    /// Writes whether keep-alive was on when it saw the connection.
    struct Report;

    impl Protocol for Report {
        fn connection_made(&mut self, transport: &Transport) {
            let on = transport.keep_alive().unwrap();
            transport.write(format!("keep_alive={on}").as_bytes());
        }
        fn data_received(&mut self, transport: &Transport, data: &[u8]) {
            transport.write(data);
        }
    }

    /// Every connection gets probes every SECONDS, three of them, before the service sees it.
    #[test]
    fn every_connection_gets_the_timing_first() {
        let factory = wrap(for_protocol(|| Report), Duration::from_secs(7));
        for _ in 0..2 {
            let addr = Address::tcp("127.0.0.1:4000".parse().unwrap());
            let mut protocol = factory.build_protocol(&addr).expect("built");
            let st = StringTransport::new();
            st.make_connection(&mut protocol);
            let seven = Duration::from_secs(7);
            assert_eq!(st.keep_alive_timing(), Some((seven, seven, 3)));
            protocol.data_received(&st.transport(), b"+data");
            assert_eq!(st.value(), b"keep_alive=true+data");
        }
    }
}
