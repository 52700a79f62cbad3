//! TLS over any stream transport (feature `tls`): rustls under a protocol,
//! as a [wrapper](crate::wrap) (Twisted's `TLSMemoryBIOProtocol`).
//!
//! The wrapper feeds the bytes its transport reads to a rustls session,
//! gives the inner protocol the plaintext, and writes what rustls produces
//! (handshake messages, records, alerts) to the transport below, which may
//! be TCP, a UNIX socket, or anything else with a [`Transport`]. The inner
//! protocol sees an ordinary connection:
//!
//! * `connection_made` once the handshake is done (not when the socket
//!   connects), with a transport whose `write`, `write_sequence`,
//!   `lose_connection`, `abort_connection`, `pause_reading` / `resume_reading`
//!   and producers work as over TCP;
//! * `data_received` with decrypted bytes;
//! * half-close as TLS does it: `lose_write_connection` sends `close_notify`
//!   and shuts the write side below; a peer's `close_notify` is
//!   `read_connection_lost` for a half-closeable protocol, and a clean close
//!   for any other;
//! * `connection_lost` with [`Reason::Done`] after a clean TLS close, a
//!   `Lost` reason when the peer closed its socket without `close_notify` (a
//!   truncation attack looks like this), and [`Reason::Tls`] with a
//!   [`TlsError`] when the handshake or the session failed.
//!
//! A connection whose handshake fails (a peer that does not speak TLS, a
//! handshake timeout, an expired, self-signed or wrong-name certificate,
//! a reset mid-handshake) is closed, logged once (info, target
//! `gyre::tls`), and its protocol is never told of it; a TLS client
//! endpoint's `connect` fails with [`ConnectError::Tls`](crate::ConnectError::Tls).
//! This differs from Twisted on purpose, where a client's `connectionMade`
//! runs before verification and an endpoint "connects" to a server it then
//! rejects.
//!
//! # Configuration
//!
//! [`ServerTls`]: a certificate chain and key (PEM files or values), more
//! by name for SNI, optional client-certificate verification against a CA,
//! ALPN. [`ClientTls`]: the system's root certificates
//! (`rustls-native-certs`) unless a CA bundle is given, the host name
//! always checked, client certificates, ALPN, and
//! [`dangerously_skip_verification_for_tests`](ClientTlsBuilder::dangerously_skip_verification_for_tests),
//! never the default. [`TlsSettings`] adds the clock and the handshake
//! timeout ([`DEFAULT_HANDSHAKE_TIMEOUT`]); [`tls_factory`] wraps a
//! factory, and the endpoints [`TlsServerEndpoint`](crate::endpoint::TlsServerEndpoint)
//! and [`TlsClientEndpoint`](crate::endpoint::TlsClientEndpoint) (strings
//! `ssl:` and `tls:`) wrap any other endpoint.
//!
//! The crypto provider is rustls's `ring`: it builds with a C compiler
//! alone. `aws-lc-rs` (rustls's default) needs cmake and takes minutes
//! longer to build on a two-core CI machine; gyre does not need what it
//! adds (FIPS, post-quantum key exchange by default).
//!
//! # STARTTLS
//!
//! A protocol that starts in clear and switches (SMTP, IMAP, IRC) is run
//! by [`TlsLayer::plain`]; it (or its owner) calls
//! [`StartTls::start_tls`] on the handle from
//! [`start_tls_handle`](crate::wrap::ProtocolWrapper::start_tls_handle).
//! What it wrote before the call goes out in clear first, once; what it
//! writes after is encrypted and waits for the handshake. The peer must
//! not send TLS bytes in the same read as the clear command that asks for
//! it (every STARTTLS protocol waits for the go-ahead).
//!
//! # Flow control and memory
//!
//! Writes are encrypted at once and handed to the transport below in one
//! write (a `writev` for several records), so the bytes waiting to go out
//! are all encrypted, in the transport below; a producer registered on the
//! TLS transport is registered there, and the 64 KiB rule counts the
//! encrypted side (record overhead included). Pausing reading pauses the
//! transport below; ciphertext already read when a protocol pauses is kept
//! (at most one read) and delivered on a later turn after it resumes.
//!
//! Copies: rustls encrypts from the protocol's bytes into its own record
//! buffer (the one copy encryption needs) and the records go to the
//! transport below, which sends them straight to the kernel when nothing
//! is queued (copying them only when the kernel refuses). On the reading
//! side rustls decrypts in its own buffers, and the plaintext is read into
//! one per-thread 16 KiB buffer handed to `data_received`: one copy more
//! than an in-place design would need (rustls's unbuffered API would
//! remove it; not done yet).
//!
//! Memory: an idle TLS 1.3 connection holds a rustls session (about 1 KiB
//! of state plus its keys; its message buffers are empty and freed while
//! idle) and this wrapper (a few hundred bytes); a busy one adds rustls's
//! record buffers: up to one 16 KiB record being reassembled on the read
//! side, and on the write side the records of one write until the transport
//! below takes them. A handshake in progress holds the peer's certificate
//! chain (a few KiB). These are estimates from rustls's buffer sizes, not
//! measurements.
//!
//! Tests: `tests/tls.rs` (loopback, certificates made by rcgen at test
//! time), `tests/tls_peers.rs` (openssl s_client / s_server).

mod config;
mod error;
mod layer;

pub use config::{
    ClientTls, ClientTlsBuilder, ServerTls, ServerTlsBuilder, certificates_from_pem,
    check_server_name, private_key_from_pem,
};
pub use error::{TlsConfigError, TlsError, TlsSide};
pub use layer::{
    DEFAULT_HANDSHAKE_TIMEOUT, HandshakeHook, StartTls, StartTlsError, TlsFactory, TlsLayer,
    TlsProtocol, TlsRole, TlsSettings, tls_factory,
};

pub use rustls;
pub use rustls_pki_types as pki_types;

#[allow(unused_imports)]
use crate::{Reason, Transport};
