//! `[sip.tls]` and `[http.tls]`: the one shape of a TLS listener's settings, and their
//! checks at start-up.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::{ConfigError, Profile};

/// `[sip.tls]` and `[http.tls]`: a listener's certificate chain and private key, PEM files
/// relative to the profile (like `media.music_on_hold`), read and checked at start-up.
/// `listen` is the SIP over TLS address (say `127.0.0.1:5061`), required in `[sip.tls]`;
/// the CTI server has one listener, `http.listen`, which then speaks HTTPS and WSS only.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A TLS section's certificate chain (leaf first) and private key, as PEM file paths
/// resolved against the profile's directory ([`Profile::tls_files`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Profile {
    pub(super) fn validate_tls(&self) -> Result<(), ConfigError> {
        if let Some(tls) = &self.sip.tls {
            let Some(listen) = tls.listen else {
                return Err(self.invalid("sip.tls.listen", "is required (say 127.0.0.1:5061)"));
            };
            if listen.port() != 0 && listen == self.sip.listen {
                return Err(self.invalid("sip.tls.listen", "must differ from sip.listen"));
            }
            self.check_tls_files(tls, ["sip.tls.cert", "sip.tls.key"])?;
        }
        if let Some(tls) = &self.http.tls {
            if tls.listen.is_some() {
                return Err(self.invalid(
                    "http.tls.listen",
                    "is not a key: HTTPS is served on http.listen",
                ));
            }
            self.check_tls_files(tls, ["http.tls.cert", "http.tls.key"])?;
        }
        Ok(())
    }

    /// Builds the server configuration the listener will use, so a bad file fails now. The
    /// protocol cores alone (no `server` feature: the fuzz targets) have no TLS to check.
    #[cfg(not(feature = "server"))]
    fn check_tls_files(&self, _: &TlsSettings, _: [&'static str; 2]) -> Result<(), ConfigError> {
        Ok(())
    }

    /// Builds the server configuration the listener will use, so a bad file fails now.
    #[cfg(feature = "server")]
    fn check_tls_files(
        &self,
        tls: &TlsSettings,
        [cert_key, key_key]: [&'static str; 2],
    ) -> Result<(), ConfigError> {
        match crate::tls::server_config(&self.tls_files(tls), &[]) {
            Ok(_) => Ok(()),
            Err(error) => {
                let key = match error.file() {
                    crate::tls::TlsFile::Cert | crate::tls::TlsFile::Ca => cert_key,
                    crate::tls::TlsFile::Key => key_key,
                };
                Err(self.invalid(key, error.to_string()))
            }
        }
    }

    /// A TLS section's files, resolved against the profile's directory.
    #[must_use]
    pub fn tls_files(&self, tls: &TlsSettings) -> TlsFiles {
        let dir = self.source.parent().unwrap_or(Path::new("."));
        TlsFiles {
            cert: dir.join(&tls.cert),
            key: dir.join(&tls.key),
        }
    }
}
