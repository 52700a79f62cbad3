//! RFC 867 daytime: send the current date and time as text, then close.
//!
//! The text is C's `asctime` of the UTC time, as Twisted's `Daytime` sends
//! (`asctime(gmtime())`), followed by CRLF: `Sun Nov 22 00:30:49 2026\r\n`.

use std::time::SystemTime;

use gyre::{Protocol, Transport};

use gyre::log::{CivilTime, unix_seconds};

/// The daytime protocol. `now` is the clock, replaceable in tests.
#[derive(Debug)]
pub(crate) struct Daytime {
    now: fn() -> SystemTime,
}

impl Default for Daytime {
    fn default() -> Self {
        Daytime {
            now: SystemTime::now,
        }
    }
}

impl Protocol for Daytime {
    fn connection_made(&mut self, transport: &Transport) {
        let text = CivilTime::from_unix(unix_seconds((self.now)())).asctime();
        transport.write_sequence(&[text.as_bytes(), b"\r\n"]);
        transport.lose_connection();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gyre::testing::StringTransport;
    use std::time::{Duration, UNIX_EPOCH};

    /// The reply is `asctime` in UTC plus CRLF, and the connection is closed.
    #[test]
    fn sends_asctime_then_closes() {
        let st = StringTransport::new();
        let mut daytime = Daytime {
            now: || UNIX_EPOCH + Duration::from_secs(1_795_307_449),
        };
        st.make_connection(&mut daytime);
        assert_eq!(st.value(), b"Sun Nov 22 00:30:49 2026\r\n");
        assert!(st.is_disconnecting());
    }

    /// Single-digit days are space-padded, as `asctime` does.
    #[test]
    fn pads_single_digit_days() {
        let st = StringTransport::new();
        let mut daytime = Daytime {
            now: || UNIX_EPOCH + Duration::from_secs(1_000_000_000),
        };
        st.make_connection(&mut daytime);
        assert_eq!(st.value(), b"Sun Sep  9 01:46:40 2001\r\n");
    }

    /// The default clock is the system clock: the reply is well formed and names a recent year.
    #[test]
    fn default_uses_system_clock() {
        let st = StringTransport::new();
        st.make_connection(&mut Daytime::default());
        let text = String::from_utf8(st.value()).unwrap();
        assert_eq!(text.len(), 26, "{text:?}");
        assert!(text[20..24].parse::<u32>().unwrap() >= 2026, "{text:?}");
    }
}
