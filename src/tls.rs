//! TLS server settings, one shape for every listener that speaks TLS: SIP over TLS
//! (`[sip.tls]`, RFC 3261 §26.2) and HTTPS/WSS for the CTI API and its event streams
//! (`[http.tls]`). A certificate chain and its private key are read from PEM files and turned
//! into a rustls server configuration on the ring provider (TLS 1.2 and 1.3).
//!
//! The profile is checked with the same function the listeners use, so a certificate that
//! cannot be read, is not PEM, or does not match its key stops the switch at start-up with
//! the profile key named, never at the first handshake.
//!
//! The switch is also a TLS client, towards trunk gateways over `transport = "tls"`: it
//! checks the gateway's certificate against the trunk's `tls_ca` or the system's bundle, for
//! the name the trunk gives the gateway (see [`client_config`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};

pub use crate::config::TlsFiles;

/// Which of the two files an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFile {
    Cert,
    Key,
    /// The CA certificates a client trusts.
    Ca,
}

/// Why a TLS listener cannot be set up from its files.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        file: TlsFile,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} holds no usable PEM {what}: {message}", path.display())]
    Pem {
        file: TlsFile,
        path: PathBuf,
        what: &'static str,
        message: String,
    },
    #[error("the key does not fit the certificate: {0}")]
    Mismatch(String),
}

impl TlsError {
    /// The file to blame: the key when it does not fit its certificate.
    #[must_use]
    pub fn file(&self) -> TlsFile {
        match self {
            TlsError::Read { file, .. } | TlsError::Pem { file, .. } => *file,
            TlsError::Mismatch(_) => TlsFile::Key,
        }
    }
}

/// The server configuration for `files`, offering `alpn` protocols (none for SIP,
/// `http/1.1` for the CTI server).
pub fn server_config(files: &TlsFiles, alpn: &[&[u8]]) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = certificates(&files.cert)?;
    let key = private_key(&files.key)?;
    // rustls marks ring's provider deprecated for lacking post-quantum key exchange (only
    // aws-lc-rs has it). Phones offer none anyway, and ring spares every build aws-lc-rs's
    // C and CMake step; X25519 and the NIST curves remain.
    #[allow(deprecated)]
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Mismatch(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Mismatch(e.to_string()))?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// Debian's bundle of the system's trusted CAs (package `ca-certificates`).
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The CA certificates in the PEM file `path`, as roots to verify servers against; a file
/// with none that parses is an error.
pub fn trust_anchors(path: &Path) -> Result<RootCertStore, TlsError> {
    let pem = read(TlsFile::Ca, path)?;
    let bad = |message: String| TlsError::Pem {
        file: TlsFile::Ca,
        path: path.to_owned(),
        what: "CA certificate",
        message,
    };
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots
        .add_parsable_certificates(CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok));
    if added == 0 {
        return Err(bad("no CERTIFICATE section that parses".into()));
    }
    Ok(roots)
}

/// The client configuration for connections to servers whose certificates chain to the CAs
/// in `ca` (default: [`SYSTEM_CA_BUNDLE`]); no client certificate, TLS 1.2 and 1.3.
pub fn client_config(ca: Option<&Path>) -> Result<Arc<ClientConfig>, TlsError> {
    let roots = trust_anchors(ca.unwrap_or(Path::new(SYSTEM_CA_BUNDLE)))?;
    // ring, as for the servers (see `server_config`).
    #[allow(deprecated)]
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Mismatch(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn read(file: TlsFile, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        file,
        path: path.to_owned(),
        source,
    })
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(TlsFile::Cert, path)?;
    let bad = |message: String| TlsError::Pem {
        file: TlsFile::Cert,
        path: path.to_owned(),
        what: "certificate",
        message,
    };
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no CERTIFICATE section".into()));
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(TlsFile::Key, path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| TlsError::Pem {
        file: TlsFile::Key,
        path: path.to_owned(),
        what: "private key",
        message: e.to_string(),
    })
}

#[cfg(test)]
#[path = "../tests/common/test_ca.rs"]
pub(crate) mod test_ca;

/// A server certificate and key signed by a fresh throwaway CA, written into a new folder.
#[cfg(test)]
pub(crate) fn test_files(name: &str) -> (test_ca::TestCa, TlsFiles) {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("sb-tls-{name}-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = test_ca::TestCa::new("switchboard test CA");
    let (cert, key) = ca.write_server(&dir);
    (ca, TlsFiles { cert, key })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_matching_certificate_and_key_make_a_config_with_the_asked_alpn() {
        let (_, files) = test_files("ok");
        let config = server_config(&files, &[b"http/1.1"]).unwrap();
        assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);
    }

    #[test]
    fn a_missing_file_garbage_or_a_foreign_key_is_blamed_on_the_right_file() {
        let (_, files) = test_files("bad");
        let d = files.cert.parent().unwrap().to_owned();
        let missing = TlsFiles {
            cert: d.join("nope.pem"),
            ..files.clone()
        };
        let err = server_config(&missing, &[]).unwrap_err();
        assert_eq!(err.file(), TlsFile::Cert);
        assert!(err.to_string().contains("nope.pem"), "{err}");

        std::fs::write(d.join("garbage.pem"), "not a key").unwrap();
        let garbage = TlsFiles {
            key: d.join("garbage.pem"),
            ..files.clone()
        };
        let err = server_config(&garbage, &[]).unwrap_err();
        assert_eq!(err.file(), TlsFile::Key);
        assert!(err.to_string().contains("private key"), "{err}");

        let (_, other) = test_files("other");
        let foreign = TlsFiles {
            key: other.key,
            ..files
        };
        let err = server_config(&foreign, &[]).unwrap_err();
        assert!(matches!(err, TlsError::Mismatch(_)), "{err}");
        assert_eq!(err.file(), TlsFile::Key);
    }
}
