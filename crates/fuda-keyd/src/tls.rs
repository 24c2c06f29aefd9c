//! TLS on the client side: accepting exactly the service's certificate, pinned by fingerprint.
//!
//! `fuda-keyd init` makes a self-signed certificate and prints its SHA-256 fingerprint;
//! staff give that fingerprint to `fuda init`, and the client then accepts exactly that
//! certificate (no CA, no name check: the pin is the identity). rustls runs with the ring
//! provider only. The server half (making and loading the certificate) lives with the
//! daemon, in `fuda-keyd-server`.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

pub use crate::error::PinMismatch;
use crate::Error;

/// The crypto provider of every TLS connection: ring, and nothing else.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// SHA-256 of a certificate's DER, as colon-separated upper-case hex (like `openssl x509
/// -fingerprint -sha256`).
pub fn fingerprint(der: &[u8]) -> String {
    show(ring::digest::digest(&ring::digest::SHA256, der).as_ref())
}

fn show(sha256: &[u8]) -> String {
    sha256
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl PinMismatch {
    /// The mismatch behind a failed connection, if a pin check is what failed: looks through
    /// the error's sources (and the I/O and rustls errors that wrap it).
    pub fn find(err: &(dyn std::error::Error + 'static)) -> Option<PinMismatch> {
        let mut next = Some(err);
        while let Some(e) = next {
            if let Some(m) = e.downcast_ref::<PinMismatch>() {
                return Some(m.clone());
            }
            if let Some(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(o))) =
                e.downcast_ref::<rustls::Error>()
            {
                return o.0.downcast_ref::<PinMismatch>().cloned();
            }
            next = match e.downcast_ref::<std::io::Error>() {
                Some(io) => io
                    .get_ref()
                    .map(|inner| inner as &(dyn std::error::Error + 'static)),
                None => e.source(),
            };
        }
        None
    }
}

/// Parses a fingerprint (hex, any case, colons or spaces allowed).
pub fn parse_fingerprint(s: &str) -> Result<[u8; 32], Error> {
    let clean: String = s
        .trim()
        .trim_start_matches("SHA256:")
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .collect();
    let mut out = [0u8; 32];
    hex::decode_to_slice(&clean, &mut out).map_err(|_| {
        Error::Invalid(format!(
            "certificate fingerprint {s:?} is not a SHA-256 fingerprint (64 hex digits, colons allowed): copy it from `fuda-keyd init` or `fuda-keyd fingerprint`"
        ))
    })?;
    Ok(out)
}

/// A client config that accepts exactly the certificate with SHA-256 `pin`.
pub fn pinned_client_config(pin: [u8; 32]) -> rustls::ClientConfig {
    let provider = provider();
    rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned { pin, provider }))
        .with_no_client_auth()
}

#[derive(Debug)]
struct Pinned {
    pin: [u8; 32],
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = ring::digest::digest(&ring::digest::SHA256, end_entity.as_ref());
        if crate::directory::constant_time_eq(got.as_ref(), &self.pin) {
            Ok(ServerCertVerified::assertion())
        } else {
            let mismatch = PinMismatch {
                expected: show(&self.pin),
                seen: show(got.as_ref()),
            };
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Other(rustls::OtherError(Arc::new(mismatch))),
            ))
        }
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
            &self.provider.signature_verification_algorithms,
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
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
