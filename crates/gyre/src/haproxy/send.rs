//! The sending side: [`SendHeader`] writes a PROXY header as the first
//! bytes of a connection, before its protocol writes anything (HAProxy's
//! `send-proxy` and `send-proxy-v2`). It is both the protocol wrapper
//! ([`SendProxy`]) and the factory wrapper ([`SendProxyFactory`]); every
//! other callback passes through untouched.

use std::fmt;
use std::rc::Rc;

use super::header::{EncodeError, ProxyHeader};
use crate::address::Address;
use crate::factory::{Factory, Shared};
use crate::protocol::Protocol;
use crate::transport::Transport;
use crate::wrap::{ProtocolWrapper, WrapFactory, WrapProtocol, WrappingFactory};

/// A header, encoded once, to write first on every connection it wraps.
#[derive(Clone)]
pub struct SendHeader {
    bytes: Rc<[u8]>,
}

impl SendHeader {
    /// Encodes `header` in its version (see [`ProxyHeader::encode`]).
    pub fn new(header: &ProxyHeader) -> Result<SendHeader, EncodeError> {
        Ok(SendHeader {
            bytes: header.encode()?.into(),
        })
    }

    /// The bytes written first.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Debug for SendHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendHeader")
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl<P: Protocol> WrapProtocol<P> for SendHeader {
    /// Writes the header, then tells the inner protocol: whatever it writes
    /// from `connection_made` on follows the header.
    fn connection_made(&mut self, inner: &mut P, transport: &Transport) {
        transport.write(&self.bytes);
        inner.connection_made(transport);
    }
}

/// The protocol `P` on a connection that starts with a PROXY header:
/// a client's protocol to a server behind `haproxy:`.
///
/// ```
/// use gyre::haproxy::{ProxyHeader, SendProxy, Version};
/// use gyre::testing::StringTransport;
/// use gyre::{Address, Protocol, Transport};
///
/// struct Hello;
/// impl Protocol for Hello {
///     fn connection_made(&mut self, transport: &Transport) {
///         transport.write(b"hello\r\n");
///     }
/// }
///
/// let client = Address::tcp("192.0.2.7:40000".parse()?);
/// let server = Address::tcp("192.0.2.1:8000".parse()?);
/// let mut protocol = SendProxy::new(Hello, &ProxyHeader::new(Version::V1, client, server))?;
/// let transport = StringTransport::new();
/// transport.make_connection(&mut protocol);
/// assert_eq!(transport.value(), b"PROXY TCP4 192.0.2.7 192.0.2.1 40000 8000\r\nhello\r\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub type SendProxy<P> = ProtocolWrapper<P, SendHeader>;

impl<P: Protocol> ProtocolWrapper<P, SendHeader> {
    /// Wraps `inner`: its connection starts with `header`.
    pub fn new(inner: P, header: &ProxyHeader) -> Result<Self, EncodeError> {
        Ok(ProtocolWrapper::wrap(inner, SendHeader::new(header)?))
    }
}

/// A factory whose every connection starts with the same PROXY header:
/// `WrappingFactory::wrap(factory, SendHeader::new(&header)?)`.
pub type SendProxyFactory<F> = WrappingFactory<F, SendHeader>;

impl<F: Factory> WrapFactory<F> for SendHeader {
    type Protocol = SendProxy<F::Protocol>;

    fn build_protocol(&self, wrapped: &Shared<F>, addr: &Address) -> Option<Self::Protocol> {
        let inner = wrapped.build_protocol(addr)?;
        Some(ProtocolWrapper::wrap(inner, self.clone()))
    }
}
