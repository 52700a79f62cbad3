//! [`ServerTls`] and [`ClientTls`]: what a TLS server presents and what a
//! TLS client trusts, built from PEM files or values.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use super::error::TlsConfigError;

/// The crypto provider gyre uses: rustls's `ring` provider. rustls 0.23.48
/// marks it deprecated because it has no post-quantum key exchange; it is
/// still supported, and the choice is deliberate (see the module docs).
#[allow(deprecated)]
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// TLS 1.2 and 1.3, as rustls offers them.
const VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

fn read(path: &Path) -> Result<Vec<u8>, TlsConfigError> {
    std::fs::read(path).map_err(|source| TlsConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Every certificate in PEM text (`what` names it in errors).
pub fn certificates_from_pem(
    pem: &[u8],
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsConfigError::Pem {
            what: what.to_string(),
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsConfigError::NoCertificate(what.to_string()));
    }
    Ok(certs)
}

/// The first private key in PEM text (PKCS#8, PKCS#1 or SEC1).
pub fn private_key_from_pem(
    pem: &[u8],
    what: &str,
) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => {
            TlsConfigError::NoPrivateKey(what.to_string())
        }
        other => TlsConfigError::Pem {
            what: what.to_string(),
            detail: other.to_string(),
        },
    })
}

fn certificates_from_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    certificates_from_pem(&read(path)?, &path.display().to_string())
}

fn key_from_file(path: &Path) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    private_key_from_pem(&read(path)?, &path.display().to_string())
}

fn roots_of(certs: Vec<CertificateDer<'static>>) -> Result<RootCertStore, TlsConfigError> {
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots.add(cert)?;
    }
    Ok(roots)
}

/// Every certificate in the `.pem`, `.crt` and `.cer` files of a directory
/// (Twisted's `caCertsDir`), in name order.
fn certificates_from_dir(dir: &Path) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let entries = std::fs::read_dir(dir).map_err(|source| TlsConfigError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("pem" | "crt" | "cer")
            )
        })
        .collect();
    files.sort();
    let mut certs = Vec::new();
    for file in &files {
        certs.extend(certificates_from_file(file)?);
    }
    if certs.is_empty() {
        return Err(TlsConfigError::NoCertificate(dir.display().to_string()));
    }
    Ok(certs)
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

/// What a TLS server presents: a certificate chain and key (and more, by
/// name, for SNI), optionally a CA its clients' certificates must chain
/// to, and ALPN protocols. Cheap to clone (one `Arc`).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = std::env::temp_dir();
/// # let (cert, key) = (dir.join("doc-server-cert.pem"), dir.join("doc-server-key.pem"));
/// # let _ = (&cert, &key);
/// use gyre::tls::ServerTls;
/// // ServerTls::builder().certificate_files(&cert, &key)?.alpn(&["h2", "http/1.1"]).build()?
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<ServerConfig>,
}

impl ServerTls {
    /// Starts a configuration.
    pub fn builder() -> ServerTlsBuilder {
        ServerTlsBuilder::default()
    }

    /// Uses a rustls configuration made elsewhere.
    pub fn from_rustls(config: Arc<ServerConfig>) -> ServerTls {
        ServerTls { config }
    }

    /// The rustls configuration.
    pub fn rustls_config(&self) -> &Arc<ServerConfig> {
        &self.config
    }
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("alpn", &self.config.alpn_protocols.len())
            .finish()
    }
}

/// Builds a [`ServerTls`].
#[derive(Default)]
pub struct ServerTlsBuilder {
    default: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    by_name: Vec<(String, Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    client_cas: Option<Vec<CertificateDer<'static>>>,
    client_optional: bool,
    alpn: Vec<Vec<u8>>,
}

impl ServerTlsBuilder {
    /// The certificate chain (leaf first) and private key presented to
    /// every client that does not ask for a name given to
    /// [`sni_certificate`](Self::sni_certificate).
    pub fn certificate(
        mut self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Self {
        self.default = Some((chain, key));
        self
    }

    /// The default certificate chain and key, as PEM text.
    pub fn certificate_pem(self, chain: &[u8], key: &[u8]) -> Result<Self, TlsConfigError> {
        let chain = certificates_from_pem(chain, "the certificate PEM")?;
        let key = private_key_from_pem(key, "the private key PEM")?;
        Ok(self.certificate(chain, key))
    }

    /// The default certificate chain and key, from PEM files (they may be
    /// the same file, as with Twisted's `privateKey` and `certKey`).
    pub fn certificate_files(
        self,
        chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, TlsConfigError> {
        let chain = certificates_from_file(chain.as_ref())?;
        let key = key_from_file(key.as_ref())?;
        Ok(self.certificate(chain, key))
    }

    /// Appends intermediate certificates (PEM file) to the default chain
    /// (Twisted's `extraCertChain`).
    pub fn extra_chain_file(mut self, path: impl AsRef<Path>) -> Result<Self, TlsConfigError> {
        let extra = certificates_from_file(path.as_ref())?;
        match &mut self.default {
            Some((chain, _)) => chain.extend(extra),
            None => {
                return Err(TlsConfigError::NoCertificate(
                    "the default certificate".into(),
                ));
            }
        }
        Ok(self)
    }

    /// A certificate chain and key for clients that ask for `name` (SNI).
    /// Names match without regard to case.
    pub fn sni_certificate(
        mut self,
        name: &str,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Self {
        self.by_name.push((name.to_ascii_lowercase(), chain, key));
        self
    }

    /// Requires every client to present a certificate that chains to one
    /// of `cas`.
    pub fn client_cas(mut self, cas: Vec<CertificateDer<'static>>) -> Self {
        self.client_cas = Some(cas);
        self.client_optional = false;
        self
    }

    /// As [`client_cas`](Self::client_cas), from a PEM file.
    pub fn client_ca_file(self, path: impl AsRef<Path>) -> Result<Self, TlsConfigError> {
        Ok(self.client_cas(certificates_from_file(path.as_ref())?))
    }

    /// As [`client_cas`](Self::client_cas), from every `.pem`/`.crt`/`.cer`
    /// file of a directory (Twisted's `caCertsDir`).
    pub fn client_ca_dir(self, dir: impl AsRef<Path>) -> Result<Self, TlsConfigError> {
        Ok(self.client_cas(certificates_from_dir(dir.as_ref())?))
    }

    /// Accepts clients without a certificate too (a certificate presented
    /// must still verify).
    pub fn client_certificate_optional(mut self) -> Self {
        self.client_optional = true;
        self
    }

    /// The ALPN protocols offered, most preferred first.
    pub fn alpn(mut self, protocols: &[&str]) -> Self {
        self.alpn = protocols.iter().map(|p| p.as_bytes().to_vec()).collect();
        self
    }

    /// Builds the configuration.
    pub fn build(self) -> Result<ServerTls, TlsConfigError> {
        let provider = provider();
        let (chain, key) = self
            .default
            .ok_or_else(|| TlsConfigError::NoCertificate("the server configuration".into()))?;
        let default = Arc::new(CertifiedKey::from_der(chain, key, &provider)?);
        let mut by_name = HashMap::new();
        for (name, chain, key) in self.by_name {
            by_name.insert(
                name,
                Arc::new(CertifiedKey::from_der(chain, key, &provider)?),
            );
        }
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(VERSIONS)?;
        let builder = match self.client_cas {
            None => builder.with_no_client_auth(),
            Some(cas) => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots_of(cas)?), provider);
                let verifier = if self.client_optional {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                let verifier = verifier
                    .build()
                    .map_err(|e| TlsConfigError::Rustls(rustls::Error::General(e.to_string())))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_cert_resolver(Arc::new(SniResolver { default, by_name }));
        config.alpn_protocols = self.alpn;
        Ok(ServerTls {
            config: Arc::new(config),
        })
    }
}

impl fmt::Debug for ServerTlsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTlsBuilder")
            .field("certificate", &self.default.is_some())
            .field(
                "sni_names",
                &self.by_name.iter().map(|n| &n.0).collect::<Vec<_>>(),
            )
            .field("client_cas", &self.client_cas.as_ref().map(|c| c.len()))
            .finish()
    }
}

/// Picks the certificate a client asked for by name, or the default.
#[derive(Debug)]
struct SniResolver {
    default: Arc<CertifiedKey>,
    by_name: HashMap<String, Arc<CertifiedKey>>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let named = hello
            .server_name()
            .and_then(|n| self.by_name.get(&n.to_ascii_lowercase()));
        Some(named.unwrap_or(&self.default).clone())
    }
}

// ---------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------

/// What a TLS client trusts and presents: the system's root certificates
/// by default (or a given CA bundle), optionally a client certificate, and
/// ALPN protocols. The server's certificate is always checked against the
/// name connected to, unless
/// [`dangerously_skip_verification_for_tests`](ClientTlsBuilder::dangerously_skip_verification_for_tests)
/// was asked for. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
}

impl ClientTls {
    /// Starts a configuration (system roots, no client certificate).
    pub fn builder() -> ClientTlsBuilder {
        ClientTlsBuilder::default()
    }

    /// Uses a rustls configuration made elsewhere.
    pub fn from_rustls(config: Arc<ClientConfig>) -> ClientTls {
        ClientTls { config }
    }

    /// The rustls configuration.
    pub fn rustls_config(&self) -> &Arc<ClientConfig> {
        &self.config
    }
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("alpn", &self.config.alpn_protocols.len())
            .finish()
    }
}

/// Builds a [`ClientTls`].
#[derive(Default)]
pub struct ClientTlsBuilder {
    roots: Option<Vec<CertificateDer<'static>>>,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    alpn: Vec<Vec<u8>>,
    insecure: bool,
}

impl ClientTlsBuilder {
    /// Trusts exactly these roots instead of the system's.
    pub fn roots(mut self, cas: Vec<CertificateDer<'static>>) -> Self {
        self.roots = Some(cas);
        self
    }

    /// Trusts exactly the CAs of a PEM bundle instead of the system's
    /// (Twisted's `trustRoots`, a file); a directory's `.pem`/`.crt`/`.cer`
    /// files when `path` is a directory.
    pub fn roots_file(self, path: impl AsRef<Path>) -> Result<Self, TlsConfigError> {
        let path = path.as_ref();
        let certs = if path.is_dir() {
            certificates_from_dir(path)?
        } else {
            certificates_from_file(path)?
        };
        Ok(self.roots(certs))
    }

    /// Trusts exactly the CAs of PEM text.
    pub fn roots_pem(self, pem: &[u8]) -> Result<Self, TlsConfigError> {
        Ok(self.roots(certificates_from_pem(pem, "the CA PEM")?))
    }

    /// Presents this client certificate chain and key when asked.
    pub fn client_certificate(
        mut self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Self {
        self.identity = Some((chain, key));
        self
    }

    /// As [`client_certificate`](Self::client_certificate), from PEM files.
    pub fn client_certificate_files(
        self,
        chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, TlsConfigError> {
        let chain = certificates_from_file(chain.as_ref())?;
        let key = key_from_file(key.as_ref())?;
        Ok(self.client_certificate(chain, key))
    }

    /// The ALPN protocols offered, most preferred first.
    pub fn alpn(mut self, protocols: &[&str]) -> Self {
        self.alpn = protocols.iter().map(|p| p.as_bytes().to_vec()).collect();
        self
    }

    /// Accepts ANY server certificate, for any name: no protection against
    /// a man in the middle at all. For tests against throwaway
    /// certificates only; never the default, and never set by a string
    /// description.
    pub fn dangerously_skip_verification_for_tests(mut self) -> Self {
        self.insecure = true;
        self
    }

    /// Builds the configuration (loading the system's roots unless roots
    /// were given).
    pub fn build(self) -> Result<ClientTls, TlsConfigError> {
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(VERSIONS)?;
        let builder = if self.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
        } else {
            let roots = match self.roots {
                Some(cas) => roots_of(cas)?,
                None => system_roots()?,
            };
            builder.with_root_certificates(roots)
        };
        let mut config = match self.identity {
            Some((chain, key)) => builder.with_client_auth_cert(chain, key)?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = self.alpn;
        Ok(ClientTls {
            config: Arc::new(config),
        })
    }
}

impl fmt::Debug for ClientTlsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTlsBuilder")
            .field("roots", &self.roots.as_ref().map(|r| r.len()))
            .field("client_certificate", &self.identity.is_some())
            .field("insecure", &self.insecure)
            .finish()
    }
}

fn system_roots() -> Result<RootCertStore, TlsConfigError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found
            .errors
            .first()
            .map(|e| e.to_string())
            .unwrap_or_else(|| "none found".to_string());
        return Err(TlsConfigError::NoSystemRoots(why));
    }
    Ok(roots)
}

/// Checks that `host` can be the name a TLS client checks (a DNS name or
/// an IP address).
pub fn check_server_name(host: &str) -> Result<(), TlsConfigError> {
    server_name(host).map(|_| ())
}

/// The name a client checks, from a host name or IP address text.
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, TlsConfigError> {
    ServerName::try_from(host.to_string())
        .map_err(|_| TlsConfigError::InvalidName(host.to_string()))
}

/// Accepts any certificate (signatures are still checked, so the handshake
/// itself is sound).
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
