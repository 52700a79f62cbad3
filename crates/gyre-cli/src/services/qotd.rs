//! RFC 865 quote of the day: send one quote line, then close.
//!
//! The RFC asks for ASCII text, under 512 characters. gyre ships one quote of
//! its own (Twisted's is "An apple a day keeps the doctor away.").

use gyre::{Protocol, Transport};

/// The quote sent, CRLF included.
pub(crate) const QUOTE: &[u8] =
    b"A reactor does nothing until something happens, and then it does exactly that.\r\n";

/// The quote-of-the-day protocol.
#[derive(Debug, Default)]
pub(crate) struct Qotd;

impl Protocol for Qotd {
    fn connection_made(&mut self, transport: &Transport) {
        transport.write(QUOTE);
        transport.lose_connection();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gyre::testing::StringTransport;

    /// One CRLF-terminated ASCII line under 512 bytes is sent, then the connection closes.
    #[test]
    fn sends_one_line_then_closes() {
        let st = StringTransport::new();
        st.make_connection(&mut Qotd);
        let out = st.value();
        assert_eq!(out, QUOTE);
        assert!(out.ends_with(b"\r\n"));
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
        assert!(out.is_ascii() && out.len() < 512);
        assert!(st.is_disconnecting());
    }
}
