//! [`TlsError`]: why a TLS connection failed, and [`TlsConfigError`]: why a
//! TLS configuration could not be built.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::error::Reason;

/// Why a TLS connection failed. A connection that fails this way ends with
/// [`Reason::Tls`] in its protocol's `connection_lost` (when the protocol
/// was told of it), and a TLS client endpoint's `connect` fails with
/// [`ConnectError::Tls`](crate::ConnectError::Tls). Each failure is logged
/// once, at info level, target `gyre::tls`.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The peer's bytes are not TLS records: it does not speak TLS (a plain
    /// HTTP or line client on a TLS port, or a TLS client on a plain one).
    #[error("the peer is not speaking TLS ({0})")]
    NotTls(String),
    /// The handshake did not complete within the time allowed.
    #[error("the TLS handshake did not complete within {0:?}")]
    HandshakeTimeout(Duration),
    /// The peer's certificate has expired (or is not valid yet).
    #[error("certificate verify failed: the peer's certificate has expired or is not yet valid")]
    CertificateExpired,
    /// The peer's certificate is not issued by a trusted authority: it is
    /// self-signed, or its issuer is not among the trusted roots. (rustls
    /// reports both alike.)
    #[error(
        "certificate verify failed: the peer's certificate is self-signed or signed by an untrusted authority"
    )]
    UntrustedCertificate,
    /// The peer's certificate is valid but not for the name we connected to.
    #[error("certificate verify failed: the peer's certificate is not valid for {name}")]
    WrongName {
        /// The name that was checked.
        name: String,
    },
    /// The peer's certificate is invalid in another way.
    #[error("certificate verify failed: {0}")]
    BadCertificate(String),
    /// The peer presented no certificate where one is required (a server
    /// that requires client certificates).
    #[error("the peer presented no certificate")]
    NoCertificate,
    /// The peer refused the handshake with a fatal alert (it did not trust
    /// our certificate, or found nothing in common with us).
    #[error("the peer refused the TLS handshake: alert {0}")]
    PeerAlert(String),
    /// The connection closed or was reset before the handshake completed.
    #[error("the connection was closed during the TLS handshake: {0}")]
    ClosedDuringHandshake(Arc<Reason>),
    /// Any other TLS protocol error.
    #[error("TLS error: {0}")]
    Protocol(String),
}

impl TlsError {
    /// Classifies a rustls error; `name` is the host name a client checks.
    pub(crate) fn from_rustls(err: &rustls::Error, name: Option<&str>) -> TlsError {
        use rustls::{CertificateError as C, Error as E, InvalidMessage};
        match err {
            E::InvalidMessage(
                InvalidMessage::InvalidContentType
                | InvalidMessage::UnknownProtocolVersion
                | InvalidMessage::MessageTooLarge,
            )
            | E::PeerSentOversizedRecord => TlsError::NotTls(err.to_string()),
            E::InvalidCertificate(cert) => match cert {
                C::Expired
                | C::ExpiredContext { .. }
                | C::NotValidYet
                | C::NotValidYetContext { .. } => TlsError::CertificateExpired,
                C::UnknownIssuer => TlsError::UntrustedCertificate,
                C::NotValidForName | C::NotValidForNameContext { .. } => TlsError::WrongName {
                    name: name.unwrap_or("the name asked for").to_string(),
                },
                C::Other(other) if format!("{other:?}").contains("CaUsedAsEndEntity") => {
                    TlsError::BadCertificate(
                        "the peer's certificate is a CA certificate, which cannot identify a server \
                         (a self-signed certificate made with CA:TRUE, as `openssl req -x509` makes \
                         by default)"
                            .to_string(),
                    )
                }
                other => TlsError::BadCertificate(format!("{other:?}")),
            },
            E::NoCertificatesPresented => TlsError::NoCertificate,
            E::AlertReceived(alert) => TlsError::PeerAlert(format!("{alert:?}")),
            other => TlsError::Protocol(other.to_string()),
        }
    }
}

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// PEM text held no certificate.
    #[error("no certificate found in {0}")]
    NoCertificate(String),
    /// PEM text held no private key.
    #[error("no private key found in {0}")]
    NoPrivateKey(String),
    /// PEM text could not be parsed.
    #[error("invalid PEM in {what}: {detail}")]
    Pem {
        /// Where the PEM came from.
        what: String,
        /// What was wrong.
        detail: String,
    },
    /// No trusted root certificate could be loaded from the system.
    #[error("no trusted root certificates could be loaded from the system: {0}")]
    NoSystemRoots(String),
    /// rustls refused the configuration (a key that does not match its
    /// certificate, an unsupported key type, …).
    #[error("invalid TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// A host name that is not a valid DNS name or IP address.
    #[error("invalid server name for TLS: {0:?}")]
    InvalidName(String),
}

impl fmt::Display for TlsSide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsSide::Client => "client",
            TlsSide::Server => "server",
        })
    }
}

/// Which side of a handshake a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsSide {
    /// It connected, and checks the server's certificate.
    Client,
    /// It accepted, and presents a certificate.
    Server,
}
