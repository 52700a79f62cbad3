//! The wire services over UDP, as their RFCs define them for datagrams:
//! each answers every datagram it receives with one datagram to its
//! sender.
//!
//! | service | RFC | reply to each datagram |
//! |---|---|---|
//! | echo | 862 | the datagram itself |
//! | discard | 863 | none |
//! | daytime | 867 | `asctime` (UTC) and CRLF, whatever the datagram held |
//! | qotd | 865 | the quote line |
//! | time | 868 | 4 bytes: seconds since 1900 (UTC), big-endian |
//!
//! A reply that cannot be sent (the socket buffer is full) is dropped, as
//! UDP drops datagrams; nothing is logged per datagram.

use std::time::SystemTime;

use gyre::udp::{DatagramProtocol, DatagramTransport};

use super::Service;
use super::qotd::QUOTE;
use super::time::rfc868;
use gyre::log::{CivilTime, unix_seconds};

/// One of the UDP wire services; `now` is the clock, replaceable in tests.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Udp {
    service: Service,
    now: fn() -> SystemTime,
}

impl Udp {
    /// The service's UDP form, or `None` for a service that has none
    /// (chargen's UDP form is not offered; chat is a stream service).
    pub(crate) fn of(service: Service) -> Option<Udp> {
        match service {
            Service::Echo | Service::Discard | Service::Daytime | Service::Qotd | Service::Time => {
                Some(Udp {
                    service,
                    now: SystemTime::now,
                })
            }
            Service::Chargen | Service::Chat => None,
        }
    }

    /// The reply to `data`, if any.
    fn reply(&self, data: &[u8]) -> Option<Vec<u8>> {
        match self.service {
            Service::Echo => Some(data.to_vec()),
            Service::Daytime => {
                let text = CivilTime::from_unix(unix_seconds((self.now)())).asctime();
                Some(format!("{text}\r\n").into_bytes())
            }
            Service::Qotd => Some(QUOTE.to_vec()),
            Service::Time => Some(rfc868(unix_seconds((self.now)())).to_be_bytes().to_vec()),
            Service::Discard | Service::Chargen | Service::Chat => None,
        }
    }
}

impl DatagramProtocol for Udp {
    fn datagram_received(&mut self, t: &DatagramTransport, data: &[u8], from: &gyre::Address) {
        if let Some(reply) = self.reply(data) {
            let _ = t.write_to(&reply, from);
        }
    }

    /// `Echo`, `Daytime`, …: `Echo starting on 7`.
    fn log_prefix(&self) -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed(match self.service {
            Service::Echo => "Echo",
            Service::Discard => "Discard",
            Service::Daytime => "Daytime",
            Service::Qotd => "QOTD",
            Service::Time => "Time",
            Service::Chargen => "Chargen",
            Service::Chat => "Chat",
        })
    }

    /// `gyre::services::udp::Echo`: the log system `… (UDP)`.
    fn qualified_name(&self) -> std::borrow::Cow<'static, str> {
        format!("gyre::services::udp::{}", self.log_prefix()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn at(service: Service) -> Udp {
        Udp {
            service,
            now: || UNIX_EPOCH + Duration::from_secs(1_795_307_449),
        }
    }

    /// Each service's reply to a datagram, per its RFC.
    #[test]
    fn replies() {
        assert_eq!(at(Service::Echo).reply(b"abc"), Some(b"abc".to_vec()));
        assert_eq!(at(Service::Discard).reply(b"abc"), None);
        assert_eq!(
            at(Service::Daytime).reply(b""),
            Some(b"Sun Nov 22 00:30:49 2026\r\n".to_vec())
        );
        assert_eq!(at(Service::Qotd).reply(b"x"), Some(QUOTE.to_vec()));
        assert_eq!(
            at(Service::Time).reply(b""),
            Some(4_004_296_249u32.to_be_bytes().to_vec())
        );
        assert!(Udp::of(Service::Chargen).is_none() && Udp::of(Service::Chat).is_none());
    }
}
