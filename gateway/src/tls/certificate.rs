//! Loading the serving certificate from PEM files, or generating and
//! keeping a self-signed one in the data directory.

use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a certificate could not be used. Never includes key material.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("cannot read {what} from `{path}`: {message}")]
    Pem {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The key does not fit rustls (unsupported type).
    #[error("unusable private key in `{path}`: {message}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A self-signed certificate could not be generated or saved.
    #[error("cannot create the self-signed certificate in `{dir}`: {message}")]
    SelfSigned {
        /// The directory.
        dir: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// rustls refused the configuration.
    #[error("invalid TLS configuration: {0}")]
    Config(String),
}

/// Where the certificate comes from.
#[derive(Debug, Clone)]
pub enum CertificateSource {
    /// Operator-provided PEM files.
    Files {
        /// Certificate chain.
        cert: PathBuf,
        /// Private key.
        key: PathBuf,
    },
    /// Self-signed, kept in this directory.
    SelfSigned {
        /// Directory holding `cert.pem` and `key.pem`.
        dir: PathBuf,
    },
}

/// A certificate ready to serve.
#[derive(Debug, Clone)]
pub struct LoadedCertificate {
    /// The rustls certificate and signing key.
    pub certified: Arc<CertifiedKey>,
    /// SHA-256 fingerprint of the leaf certificate, `AA:BB:...`.
    pub fingerprint: String,
    /// Whether it was freshly generated.
    pub generated: bool,
}

/// SHA-256 fingerprint of a DER certificate, colon-separated upper-case hex.
pub fn fingerprint(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn load_files(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let pem_error = |what, path: &Path, message: String| TlsError::Pem {
        what,
        path: path.to_path_buf(),
        message,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| pem_error("certificate", cert, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem_error("certificate", cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(pem_error(
            "certificate",
            cert,
            "no CERTIFICATE block found".into(),
        ));
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| pem_error("private key", key, e.to_string()))?;
    Ok((chain, key_der))
}

fn certified(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    key_path: &Path,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let signing_key = super::provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::Key {
            path: key_path.to_path_buf(),
            message: e.to_string(),
        })?;
    Ok(Arc::new(CertifiedKey::new(chain, signing_key)))
}

impl CertificateSource {
    /// Loads the certificate, generating a self-signed one if needed.
    pub fn load(&self) -> Result<LoadedCertificate, TlsError> {
        match self {
            Self::Files { cert, key } => {
                let (chain, key_der) = load_files(cert, key)?;
                let fingerprint = fingerprint(chain[0].as_ref());
                Ok(LoadedCertificate {
                    certified: certified(chain, key_der, key)?,
                    fingerprint,
                    generated: false,
                })
            }
            Self::SelfSigned { dir } => {
                let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
                let generated = !cert.exists() || !key.exists();
                if generated {
                    generate_self_signed(dir, &cert, &key)?;
                }
                let (chain, key_der) = load_files(&cert, &key)?;
                let fingerprint = fingerprint(chain[0].as_ref());
                Ok(LoadedCertificate {
                    certified: certified(chain, key_der, &key)?,
                    fingerprint,
                    generated,
                })
            }
        }
    }
}

fn generate_self_signed(dir: &Path, cert_path: &Path, key_path: &Path) -> Result<(), TlsError> {
    let failed = |message: String| TlsError::SelfSigned {
        dir: dir.to_path_buf(),
        message,
    };
    crate::data_dir::create_private_dir(dir).map_err(|e| failed(e.to_string()))?;
    let generated = rcgen::generate_simple_self_signed(vec![
        "localhost".into(),
        "127.0.0.1".into(),
        "::1".into(),
    ])
    .map_err(|e| failed(e.to_string()))?;
    crate::data_dir::write_private_file(key_path, generated.signing_key.serialize_pem().as_bytes())
        .map_err(|e| failed(e.to_string()))?;
    std::fs::write(cert_path, generated.cert.pem()).map_err(|e| failed(e.to_string()))?;
    Ok(())
}
