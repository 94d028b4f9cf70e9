//! TLS for both kinds of connection, with libpq's `sslmode` semantics, over rustls (ring).
//!
//! [`TlsSetup`] turns an [`Endpoint`] into a rustls client configuration whose certificate
//! verifier does exactly what the mode promises: nothing for `allow`/`prefer`/`require` (still
//! checking the handshake signatures, so the session is bound to the certificate's key), the chain
//! but not the name for `verify-ca` (and for `require` with a root certificate, as libpq does), chain
//! and name for `verify-full`. The same setup drives the replication connection and, through
//! [`RustlsConnector`], ordinary tokio-postgres connections. [`server_end_point`] computes SCRAM's
//! `tls-server-end-point` channel-binding data (RFC 5929) from the server's certificate.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::SignatureScheme;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::verify_server_cert_signed_by_trust_anchor;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::error::PostgresError;

use super::endpoint::{Endpoint, SslMode};

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verification {
    /// Nothing: the connection is encrypted but the peer is not authenticated.
    None,
    /// The chain up to a trusted root, but not the host name.
    Chain,
    /// The chain and that the certificate names the host.
    Full,
}

impl Verification {
    /// libpq's mapping from `sslmode` (and whether a root certificate was given).
    pub(crate) fn for_endpoint(endpoint: &Endpoint) -> Verification {
        match endpoint.sslmode {
            SslMode::Disable | SslMode::Allow | SslMode::Prefer => Verification::None,
            SslMode::Require if endpoint.sslrootcert.is_some() => Verification::Chain,
            SslMode::Require => Verification::None,
            SslMode::VerifyCa => Verification::Chain,
            SslMode::VerifyFull => Verification::Full,
        }
    }
}

/// A ready-to-use TLS client configuration for one endpoint.
#[derive(Debug, Clone)]
pub(crate) struct TlsSetup {
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
    host: String,
    address: String,
}

impl TlsSetup {
    /// Builds the configuration: trusted roots, client certificate, verifier, ALPN.
    pub(crate) fn new(endpoint: &Endpoint) -> Result<TlsSetup, PostgresError> {
        let verification = Verification::for_endpoint(endpoint);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls_error = |message: String| PostgresError::Tls { endpoint: endpoint.address(), message };
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error(format!("cannot configure TLS: {e}")))?;
        let builder = match verification {
            Verification::Full => builder.with_root_certificates(load_roots(endpoint)?),
            Verification::Chain | Verification::None => {
                let roots = match verification {
                    Verification::Chain => {
                        // Without the host name check, trusting the public CA list would let any
                        // holder of any public certificate pose as the server.
                        if endpoint.sslrootcert.as_ref().is_none_or(|p| p.as_os_str() == "system") {
                            return Err(PostgresError::config(
                                "database.sslrootcert",
                                format!(
                                    "sslmode={} checks the certificate chain but not the host name, so it \
                                     needs the CA file that signed the server's certificate; set \
                                     database.sslrootcert, or use sslmode=verify-full to check the host \
                                     name against public CAs",
                                    endpoint.sslmode.as_str()
                                ),
                            ));
                        }
                        Some(Arc::new(load_roots(endpoint)?))
                    }
                    _ => None,
                };
                let verifier =
                    LibpqVerifier { roots, algorithms: provider.signature_verification_algorithms };
                builder.dangerous().with_custom_certificate_verifier(Arc::new(verifier))
            }
        };
        let mut config = match (&endpoint.sslcert, &endpoint.sslkey) {
            (Some(cert), Some(key)) => {
                let (chain, key) = load_client_identity(cert, key)?;
                builder.with_client_auth_cert(chain, key).map_err(|e| {
                    PostgresError::config("database.sslkey", format!("unusable client key: {e}"))
                })?
            }
            (None, None) => builder.with_no_client_auth(),
            (Some(_), None) => {
                return Err(PostgresError::config(
                    "database.sslkey",
                    "database.sslcert is set, so set database.sslkey too",
                ));
            }
            (None, Some(_)) => {
                return Err(PostgresError::config(
                    "database.sslcert",
                    "database.sslkey is set, so set database.sslcert too",
                ));
            }
        };
        // PostgreSQL 17 requires this ALPN for direct TLS and accepts it after SSLRequest; older
        // servers ignore it.
        config.alpn_protocols = vec![b"postgresql".to_vec()];

        let host = endpoint.bare_host();
        let server_name = match ServerName::try_from(host.to_owned()) {
            Ok(name) => name,
            Err(_) if verification == Verification::Full => {
                return Err(PostgresError::config(
                    "database.hostname",
                    format!(
                        "'{host}' is neither a DNS name nor an IP address, so sslmode=verify-full cannot check it"
                    ),
                ));
            }
            // Only used for SNI, which is not sent for IP addresses.
            Err(_) => ServerName::IpAddress(IpAddr::V4(Ipv4Addr::UNSPECIFIED).into()),
        };
        Ok(TlsSetup {
            config: Arc::new(config),
            server_name,
            host: host.to_owned(),
            address: endpoint.address(),
        })
    }

    /// Runs the TLS handshake over an established stream (after the server accepted SSLRequest).
    pub(crate) async fn handshake<S>(&self, stream: S) -> Result<TlsStream<S>, PostgresError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        TlsConnector::from(self.config.clone())
            .connect(self.server_name.clone(), stream)
            .await
            .map_err(|e| self.map_io_error(e))
    }

    /// A certificate or handshake failure becomes [`PostgresError::Tls`]; anything else is I/O.
    pub(crate) fn map_io_error(&self, error: io::Error) -> PostgresError {
        match error.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
            Some(tls) => PostgresError::Tls {
                endpoint: self.address.clone(),
                message: describe_tls_error(tls, &self.host),
            },
            None => PostgresError::Io { endpoint: self.address.clone(), source: error },
        }
    }
}

/// A friendlier explanation of the certificate errors users actually hit.
pub(crate) fn describe_tls_error(error: &rustls::Error, host: &str) -> String {
    match error {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "the server's certificate is not signed by a trusted CA; set database.sslrootcert to the CA \
             certificate that signed it"
                .to_owned()
        }
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!(
            "the server's certificate is not valid for host '{host}' (sslmode=verify-full checks the host \
             name; connect with a name the certificate lists, or use sslmode=verify-ca)"
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => "the server's certificate has expired".to_owned(),
        other => format!("{other}"),
    }
}

/// Finds a rustls error anywhere in an error's source chain (tokio-postgres wraps it twice).
pub(crate) fn find_rustls_error<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::Error> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(tls) = e
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(tls);
        }
        current = e.source();
    }
    None
}

/// Trusted roots: the `sslrootcert` PEM file, or the bundled web PKI roots when it is absent or
/// `system`.
fn load_roots(endpoint: &Endpoint) -> Result<RootCertStore, PostgresError> {
    let mut roots = RootCertStore::empty();
    match &endpoint.sslrootcert {
        Some(path) if path.as_os_str() != "system" => {
            let bad = |message: String| PostgresError::config("database.sslrootcert", message);
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
            for cert in certs {
                let cert = cert.map_err(|e| bad(format!("cannot parse {}: {e}", path.display())))?;
                roots
                    .add(cert)
                    .map_err(|e| bad(format!("unusable CA certificate in {}: {e}", path.display())))?;
            }
            if roots.is_empty() {
                return Err(bad(format!("{} contains no PEM certificate", path.display())));
            }
        }
        _ => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    Ok(roots)
}

/// The client certificate chain and its key, from PEM files.
fn load_client_identity(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), PostgresError> {
    let chain =
        CertificateDer::pem_file_iter(cert).and_then(|certs| certs.collect::<Result<Vec<_>, _>>()).map_err(
            |e| PostgresError::config("database.sslcert", format!("cannot read {}: {e}", cert.display())),
        )?;
    if chain.is_empty() {
        return Err(PostgresError::config(
            "database.sslcert",
            format!("{} contains no PEM certificate", cert.display()),
        ));
    }
    // The error names the file only: the key material must never reach a message.
    let key = PrivateKeyDer::from_pem_file(key).map_err(|_| {
        PostgresError::config(
            "database.sslkey",
            format!("cannot read a PEM private key (PKCS#8, PKCS#1 or SEC1) from {}", key.display()),
        )
    })?;
    Ok((chain, key))
}

/// The verifier for every mode but `verify-full`: checks the chain when it has roots, never the
/// host name, and always the handshake signatures.
#[derive(Debug)]
struct LibpqVerifier {
    roots: Option<Arc<RootCertStore>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for LibpqVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            let cert = ParsedCertificate::try_from(end_entity)?;
            verify_server_cert_signed_by_trust_anchor(&cert, roots, intermediates, now, self.algorithms.all)?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// `tls-server-end-point` channel-binding data: a hash of the server's certificate, with the
/// certificate signature's hash (SHA-256 in place of MD5 and SHA-1). `None` when there is no
/// certificate or its signature algorithm has no such hash (Ed25519, RSA-PSS), in which case SCRAM
/// must go without channel binding.
pub(crate) fn server_end_point(connection: &ClientConnection) -> Option<Vec<u8>> {
    let cert = connection.peer_certificates()?.first()?;
    let algorithm = end_point_hash(signature_algorithm(cert.as_ref())?)?;
    Some(ring::digest::digest(algorithm, cert.as_ref()).as_ref().to_vec())
}

/// The digest RFC 5929 prescribes for a certificate signature algorithm (DER OID content bytes).
fn end_point_hash(oid: &[u8]) -> Option<&'static ring::digest::Algorithm> {
    const RSA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01];
    const ECDSA_SHA1: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x01];
    const ECDSA_SHA2: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03];
    use ring::digest::{SHA256, SHA384, SHA512};
    if let Some(rest) = oid.strip_prefix(RSA) {
        return match rest {
            // md5WithRSAEncryption, sha1WithRSAEncryption, sha256WithRSAEncryption
            [0x04] | [0x05] | [0x0B] => Some(&SHA256),
            [0x0C] => Some(&SHA384),
            [0x0D] => Some(&SHA512),
            _ => None,
        };
    }
    if oid == ECDSA_SHA1 {
        return Some(&SHA256);
    }
    match oid.strip_prefix(ECDSA_SHA2)? {
        [0x02] => Some(&SHA256),
        [0x03] => Some(&SHA384),
        [0x04] => Some(&SHA512),
        _ => None,
    }
}

/// The OID of `Certificate.signatureAlgorithm`, by walking the DER just far enough.
fn signature_algorithm(der: &[u8]) -> Option<&[u8]> {
    const SEQUENCE: u8 = 0x30;
    const OID: u8 = 0x06;
    let (tag, certificate, _) = der_element(der)?;
    if tag != SEQUENCE {
        return None;
    }
    let (_tbs_tag, _tbs, rest) = der_element(certificate)?;
    let (tag, algorithm_identifier, _) = der_element(rest)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, oid, _) = der_element(algorithm_identifier)?;
    (tag == OID).then_some(oid)
}

/// Splits one DER element off `input`: (tag, contents, rest). `None` on any malformation.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7F);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        (bytes.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b)), rest)
    };
    if rest.len() < len {
        return None;
    }
    let (contents, rest) = rest.split_at(len);
    Some((tag, contents, rest))
}

/// A tokio-postgres [`MakeTlsConnect`](tokio_postgres::tls::MakeTlsConnect) with sluice's `sslmode`
/// semantics and SCRAM channel binding.
#[derive(Debug, Clone)]
pub struct RustlsConnector {
    setup: TlsSetup,
}

impl RustlsConnector {
    /// A connector for the endpoint's TLS settings.
    pub fn new(endpoint: &Endpoint) -> Result<Self, PostgresError> {
        Ok(RustlsConnector { setup: TlsSetup::new(endpoint)? })
    }
}

impl<S> tokio_postgres::tls::MakeTlsConnect<S> for RustlsConnector
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    /// The endpoint's own host is used for verification; tokio-postgres passes the same name.
    fn make_tls_connect(&mut self, _domain: &str) -> Result<RustlsConnect, io::Error> {
        Ok(RustlsConnect { config: self.setup.config.clone(), server_name: self.setup.server_name.clone() })
    }
}

/// One TLS handshake for tokio-postgres.
#[derive(Debug)]
pub struct RustlsConnect {
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
}

impl<S> tokio_postgres::tls::TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let tls = TlsConnector::from(self.config).connect(self.server_name, stream).await?;
            Ok(RustlsStream(Box::new(tls)))
        })
    }
}

/// A TLS stream as tokio-postgres sees it.
#[derive(Debug)]
pub struct RustlsStream<S>(Box<TlsStream<S>>);

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> tokio_postgres::tls::ChannelBinding {
        match server_end_point(self.0.get_ref().1) {
            Some(hash) => tokio_postgres::tls::ChannelBinding::tls_server_end_point(hash),
            None => tokio_postgres::tls::ChannelBinding::none(),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_walk_survives_truncation() {
        // SEQUENCE { SEQUENCE {} , SEQUENCE { OID 1.2.840.113549.1.1.11 } }
        let cert = [
            0x30, 0x0F, 0x30, 0x00, 0x30, 0x0B, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01,
            0x0B,
        ];
        let oid = signature_algorithm(&cert).unwrap();
        assert!(std::ptr::eq(end_point_hash(oid).unwrap(), &ring::digest::SHA256));
        for cut in 0..cert.len() {
            assert!(signature_algorithm(&cert[..cut]).is_none());
        }
        // Long-form lengths that overrun the input are rejected, not trusted.
        assert!(der_element(&[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF]).is_none());
    }

    #[test]
    fn end_point_hash_follows_rfc_5929() {
        let rsa = |last: u8| [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, last];
        assert!(std::ptr::eq(end_point_hash(&rsa(0x05)).unwrap(), &ring::digest::SHA256));
        assert!(std::ptr::eq(end_point_hash(&rsa(0x0C)).unwrap(), &ring::digest::SHA384));
        assert!(end_point_hash(&rsa(0x0A)).is_none(), "RSA-PSS has no fixed hash");
        let ecdsa384 = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x03];
        assert!(std::ptr::eq(end_point_hash(&ecdsa384).unwrap(), &ring::digest::SHA384));
        assert!(end_point_hash(&[0x2B, 0x65, 0x70]).is_none(), "Ed25519");
    }

    #[test]
    fn verification_follows_libpq() {
        let mut e = Endpoint::new("localhost", 5432, "u", "d");
        for (mode, expected) in [
            (SslMode::Prefer, Verification::None),
            (SslMode::Require, Verification::None),
            (SslMode::VerifyCa, Verification::Chain),
            (SslMode::VerifyFull, Verification::Full),
        ] {
            e.sslmode = mode;
            assert_eq!(Verification::for_endpoint(&e), expected);
        }
        e.sslmode = SslMode::Require;
        e.sslrootcert = Some("/ca.crt".into());
        assert_eq!(Verification::for_endpoint(&e), Verification::Chain);
    }
}
