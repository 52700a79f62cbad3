//! RFC 868 time: send the time as 32 bits, then close.
//!
//! The value is the number of seconds since 1900-01-01 00:00 UTC, big-endian.
//! It wraps modulo 2^32, as the RFC's era arithmetic expects, on
//! 2036-02-07 06:28:16 UTC. (Twisted's `Time` sends seconds since 1970
//! instead, which RFC 868 clients read as a date in 1970–2006; gyre follows
//! the RFC.)

use std::time::SystemTime;

use gyre::{Protocol, Transport};

use gyre::log::unix_seconds;

/// Seconds from 1900-01-01 to 1970-01-01.
const FROM_1900_TO_1970: i64 = 2_208_988_800;

/// The RFC 868 value for a Unix time: seconds since 1900, modulo 2^32.
pub(crate) fn rfc868(unix_secs: i64) -> u32 {
    (unix_secs + FROM_1900_TO_1970).rem_euclid(1 << 32) as u32
}

/// The time protocol. `now` is the clock, replaceable in tests.
#[derive(Debug)]
pub(crate) struct Time {
    now: fn() -> SystemTime,
}

impl Default for Time {
    fn default() -> Self {
        Time {
            now: SystemTime::now,
        }
    }
}

impl Protocol for Time {
    fn connection_made(&mut self, transport: &Transport) {
        let value = rfc868(unix_seconds((self.now)()));
        transport.write(&value.to_be_bytes());
        transport.lose_connection();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gyre::testing::StringTransport;
    use std::time::{Duration, UNIX_EPOCH};

    /// Known instants map to the RFC's values, including the 2036 wrap.
    #[test]
    fn known_values() {
        assert_eq!(rfc868(-FROM_1900_TO_1970), 0);
        assert_eq!(rfc868(0), 2_208_988_800);
        assert_eq!(rfc868(1_795_307_449), 4_004_296_249);
        assert_eq!(rfc868(2_085_978_495), u32::MAX); // 2036-02-07 06:28:15
        assert_eq!(rfc868(2_085_978_496), 0); // the next era begins
    }

    /// Four big-endian bytes are sent, then the connection closes.
    #[test]
    fn sends_four_bytes_then_closes() {
        let st = StringTransport::new();
        st.make_connection(&mut Time { now: || UNIX_EPOCH });
        assert_eq!(st.value(), [0x83, 0xaa, 0x7e, 0x80]);
        assert!(st.is_disconnecting());

        let st = StringTransport::new();
        st.make_connection(&mut Time {
            now: || UNIX_EPOCH + Duration::from_secs(1_795_307_449),
        });
        assert_eq!(
            u32::from_be_bytes(st.value().try_into().unwrap()),
            4_004_296_249
        );
    }

    /// The default clock is the system clock: the value is after 2026.
    #[test]
    fn default_uses_system_clock() {
        let st = StringTransport::new();
        st.make_connection(&mut Time::default());
        let value = u32::from_be_bytes(st.value().try_into().unwrap());
        assert!(value > rfc868(1_767_225_600) || value < 1 << 30, "{value}");
    }
}
