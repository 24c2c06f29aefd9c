//! TLS on the server side: the service's self-signed certificate and its rustls config.
//!
//! `fuda-keyd init` makes a self-signed certificate (`DATA/tls/cert.pem`, key 0600) and
//! prints its SHA-256 fingerprint, which clients pin (see `fuda_keyd::tls`).

use std::path::Path;

use fuda_keyd::tls::{fingerprint, provider};
use fuda_keyd::Error;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// File names under `DATA/tls/`.
pub const CERT_FILE: &str = "cert.pem";
/// The private key file.
pub const KEY_FILE: &str = "key.pem";

/// Makes the self-signed certificate and key in `dir` (0700); returns the fingerprint.
pub fn generate(dir: &Path, names: &[String]) -> Result<String, Error> {
    let io = |e: std::io::Error| Error::Invalid(format!("{}: {e}", dir.display()));
    fuda_core::fsutil::create_private_dir(dir).map_err(io)?;
    let cert = rcgen::generate_simple_self_signed(names.to_vec())
        .map_err(|e| Error::Invalid(format!("cannot make the TLS certificate: {e}")))?;
    let key_pem = zeroize::Zeroizing::new(cert.key_pair.serialize_pem());
    fuda_core::fsutil::create_secret_file(&dir.join(KEY_FILE), key_pem.as_bytes()).map_err(io)?;
    std::fs::write(dir.join(CERT_FILE), cert.cert.pem()).map_err(io)?;
    Ok(fingerprint(cert.cert.der()))
}

fn load(dir: &Path) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
    let read = |name: &str| {
        std::fs::read(dir.join(name))
            .map_err(|e| Error::Invalid(format!("{}: {e}", dir.join(name).display())))
    };
    let certs = CertificateDer::pem_slice_iter(&read(CERT_FILE)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Invalid(format!("{}: {e}", dir.join(CERT_FILE).display())))?;
    let key_bytes = zeroize::Zeroizing::new(read(KEY_FILE)?);
    let key = PrivateKeyDer::from_pem_slice(&key_bytes)
        .ok()
        .ok_or_else(|| {
            Error::Invalid(format!(
                "{} holds no private key",
                dir.join(KEY_FILE).display()
            ))
        })?;
    if certs.is_empty() {
        return Err(Error::Invalid(format!(
            "{} holds no certificate",
            dir.join(CERT_FILE).display()
        )));
    }
    Ok((certs, key))
}

/// The fingerprint of the certificate in `dir`.
pub fn fingerprint_of(dir: &Path) -> Result<String, Error> {
    Ok(fingerprint(&load(dir)?.0[0]))
}

/// The server's rustls config from `dir`.
pub fn server_config(dir: &Path) -> Result<rustls::ServerConfig, Error> {
    let (certs, key) = load(dir)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Invalid(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::Invalid(format!("TLS certificate in {}: {e}", dir.display())))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
