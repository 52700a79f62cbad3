//! RFC 863 discard: read everything, answer nothing, never close first.

use gyre::Protocol;

/// The discard protocol: the default `data_received` already drops the bytes.
#[derive(Debug, Default)]
pub(crate) struct Discard;

impl Protocol for Discard {}

#[cfg(test)]
mod tests {
    use super::*;
    use gyre::testing::StringTransport;

    /// Received bytes produce no output and no close.
    #[test]
    fn drops_everything() {
        let st = StringTransport::new();
        let mut discard = Discard;
        st.make_connection(&mut discard);
        for chunk in [&b"hello"[..], b"", &[0u8; 70_000]] {
            discard.data_received(&st.transport(), chunk);
        }
        assert!(st.value().is_empty());
        assert!(!st.is_disconnecting());
        assert!(st.producer().is_none());
    }
}
