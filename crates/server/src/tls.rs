//! Native TLS: the server's certificate chain and private key from `server.tls_cert_file` and
//! `server.tls_key_file`, served by rustls (TLS 1.3, RFC 8446, and TLS 1.2, RFC 5246; nothing
//! older: RFC 8996 deprecates TLS 1.0 and 1.1), and re-read on SIGHUP.
//!
//! The pair lives behind an atomic pointer that every handshake reads ([`ServerCertificates`] is
//! the rustls certificate resolver), so a reload swaps it without a lock and without touching
//! connections already established: they keep the session they negotiated, and only handshakes
//! after the swap see the new certificate. A pair that fails to load at start stops the server
//! naming the key; one that fails on reload is logged and the current pair stays.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Why a certificate chain and key could not be used; the message names the setting.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{key}: cannot read {}: {source}", path.display())]
    Read {
        key: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{key}: {} is not valid PEM: {message}", path.display())]
    Pem {
        key: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("server.tls_cert_file: {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path.display())]
    NoCertificate { path: PathBuf },
    #[error(
        "server.tls_key_file: {} holds no PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC)",
        path.display()
    )]
    NoKey { path: PathBuf },
    #[error("server.tls_key_file: {}: unsupported private key: {source}", path.display())]
    UnsupportedKey {
        path: PathBuf,
        source: rustls::Error,
    },
    #[error(
        "server.tls_key_file: {} does not match the first certificate of {} ({source})",
        key_path.display(),
        cert_path.display()
    )]
    Mismatch {
        cert_path: PathBuf,
        key_path: PathBuf,
        source: rustls::Error,
    },
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The certificate chain and key being served, and where they are re-read from.
pub struct ServerCertificates {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<CertifiedKey>,
}

impl fmt::Debug for ServerCertificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerCertificates")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .finish_non_exhaustive()
    }
}

impl ServerCertificates {
    /// Reads and checks the pair; blocking (two small files).
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<Arc<Self>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let pair = read_pair(cert_file, key_file, &provider)?;
        tracing::info!(
            cert_file = %cert_file.display(),
            chain_length = pair.cert.len(),
            "TLS certificate loaded"
        );
        Ok(Arc::new(Self {
            cert_file: cert_file.to_owned(),
            key_file: key_file.to_owned(),
            provider,
            current: ArcSwap::from_pointee(pair),
        }))
    }

    /// Re-reads both files and serves the new pair from the next handshake on. On error the
    /// current pair stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let pair = read_pair(&self.cert_file, &self.key_file, &self.provider)?;
        self.current.store(Arc::new(pair));
        Ok(())
    }

    /// The DER of the certificate new handshakes present.
    pub fn current_certificate(&self) -> CertificateDer<'static> {
        // Never empty: `read_pair` refuses a file without a certificate.
        self.current.load().cert[0].clone()
    }

    /// A rustls configuration serving this pair: TLS 1.3 and 1.2 only, no client certificates.
    /// actix-web adds the ALPN protocols.
    pub fn server_config(self: &Arc<Self>) -> Result<rustls::ServerConfig, TlsError> {
        let config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        Ok(config)
    }
}

impl ResolvesServerCert for ServerCertificates {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        key,
        path: path.to_owned(),
        source,
    })
}

fn pem_error(key: &'static str, path: &Path, err: rustls::pki_types::pem::Error) -> TlsError {
    TlsError::Pem {
        key,
        path: path.to_owned(),
        message: err.to_string(),
    }
}

fn read_pair(
    cert_file: &Path,
    key_file: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_slice_iter(&read("server.tls_cert_file", cert_file)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| pem_error("server.tls_cert_file", cert_file, err))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert_file.to_owned(),
        });
    }
    let key = match PrivateKeyDer::from_pem_slice(&read("server.tls_key_file", key_file)?) {
        Ok(key) => key,
        Err(rustls::pki_types::pem::Error::NoItemsFound) => {
            return Err(TlsError::NoKey {
                path: key_file.to_owned(),
            });
        }
        Err(err) => return Err(pem_error("server.tls_key_file", key_file, err)),
    };
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|source| TlsError::UnsupportedKey {
            path: key_file.to_owned(),
            source,
        })?;
    let pair = CertifiedKey::new(chain, signing_key);
    // Compares the key's public half with the leaf certificate's SubjectPublicKeyInfo; this also
    // refuses a leaf that does not parse as an X.509 certificate.
    pair.keys_match().map_err(|source| TlsError::Mismatch {
        cert_path: cert_file.to_owned(),
        key_path: key_file.to_owned(),
        source,
    })?;
    Ok(pair)
}

/// Re-reads the pair on each SIGHUP for as long as the server holds `certificates`.
#[cfg(unix)]
pub fn reload_on_sighup(certificates: &Arc<ServerCertificates>) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};

    // Installed here, before the server runs, so a SIGHUP from then on is never fatal.
    let mut hangups = signal(SignalKind::hangup())?;
    let certificates: Weak<ServerCertificates> = Arc::downgrade(certificates);
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            let Some(certificates) = certificates.upgrade() else {
                return;
            };
            let reloaded = tokio::task::spawn_blocking(move || certificates.reload()).await;
            match reloaded {
                Ok(Ok(())) => tracing::info!("SIGHUP: TLS certificate reloaded"),
                Ok(Err(err)) => tracing::error!(
                    error = %err,
                    "SIGHUP: TLS certificate not reloaded; still serving the previous one"
                ),
                Err(err) => tracing::error!(error = %err, "SIGHUP: TLS reload panicked"),
            }
        }
    });
    Ok(())
}

#[cfg(not(unix))]
pub fn reload_on_sighup(_certificates: &Arc<ServerCertificates>) -> std::io::Result<()> {
    Ok(())
}
