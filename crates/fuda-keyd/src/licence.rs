//! Licences: the answer to "may this person have this file's key now?"
//!
//! The client sends the file's header and the rights it needs ([`Request`]). On yes, the
//! service returns the file key **sealed to the user's own age recipient** (an age file
//! holding the 16 key bytes: only the user's identity opens it) and a [`Licence`] signed by
//! the service (who, which document, which rights, until when it may be used offline).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use fuda_core::envelope::{self, FileKey};
use fuda_core::rights::Rights;
use ring::signature::{UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};

/// A licence request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Request {
    /// The protected file's header bytes (base64 in JSON).
    #[serde(with = "crate::registry::b64")]
    pub header: Vec<u8>,
    /// The rights needed: always `view` (a key opens the file), plus e.g. `export` to
    /// write plaintext out. A request without `view` is refused.
    pub rights: Rights,
}

/// What the service grants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Licence {
    /// Format version (1).
    pub v: u8,
    /// The service id.
    pub service: String,
    /// The document.
    pub doc: String,
    /// The user.
    pub user: String,
    /// Every right the user holds on the document now.
    pub rights: Rights,
    /// Unix seconds of issue.
    pub issued_at: i64,
    /// Unix seconds until which the sealed key may be used without asking again.
    pub offline_until: i64,
    /// SHA-256 of the sealed key blob (hex), binding it to this licence.
    pub sealed_sha256: String,
}

/// A licence with the service's Ed25519 signature over its JSON encoding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedLicence {
    /// The licence.
    pub licence: Licence,
    /// Signature, base64.
    pub sig: String,
}

impl SignedLicence {
    /// The bytes the signature covers.
    pub fn signing_input(licence: &Licence) -> Vec<u8> {
        let mut out = b"fuda-licence-v1\n".to_vec();
        out.extend(serde_json::to_vec(licence).expect("a licence always serialises"));
        out
    }

    /// Checks the signature with the service's public key.
    pub fn verify(&self, service_key: &[u8]) -> Result<(), crate::Error> {
        let sig = STANDARD
            .decode(&self.sig)
            .map_err(|_| crate::Error::Untrusted("the licence signature is not base64".into()))?;
        UnparsedPublicKey::new(&ED25519, service_key)
            .verify(&Self::signing_input(&self.licence), &sig)
            .map_err(|_| {
                crate::Error::Untrusted(
                    "the licence is not signed by the enrolled key service".into(),
                )
            })
    }
}

/// The answer to a granted request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Granted {
    /// The file key, age-encrypted to the user's recipient (base64).
    #[serde(with = "crate::registry::b64")]
    pub sealed_key: Vec<u8>,
    /// The signed licence.
    pub licence: SignedLicence,
}

impl Granted {
    /// Verifies the licence (signature, binding to the sealed key, user and document) and
    /// opens the sealed key with the user's identity.
    pub fn open(
        &self,
        service_key: &[u8],
        identity: &age::x25519::Identity,
        user: &str,
        doc: &str,
    ) -> Result<FileKey, crate::Error> {
        self.licence.verify(service_key)?;
        let l = &self.licence.licence;
        if l.user != user || l.doc != doc {
            return Err(crate::Error::Untrusted(format!(
                "the licence is for {} on {}, not {user} on {doc}",
                l.user, l.doc
            )));
        }
        if l.sealed_sha256 != sha256_hex(&self.sealed_key) {
            return Err(crate::Error::Untrusted(
                "the sealed key does not match the licence".into(),
            ));
        }
        unseal(&self.sealed_key, identity)
    }
}

/// SHA-256, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// Seals a file key to an age recipient: a standard age file (one X25519 stanza) whose
/// content is the 16 key bytes, written by the envelope's age code
/// ([`envelope::encrypt_bytes`]); `age -d`, the `age` crate and [`unseal`] open it with the
/// user's identity.
pub fn seal(key: &FileKey, recipient: &age::x25519::Recipient) -> Result<Vec<u8>, crate::Error> {
    envelope::encrypt_bytes(std::slice::from_ref(recipient), key.expose())
        .map_err(|e| crate::Error::Invalid(format!("cannot seal the key: {e}")))
}

/// Opens a sealed file key with the user's identity.
pub fn unseal(sealed: &[u8], identity: &age::x25519::Identity) -> Result<FileKey, crate::Error> {
    let bytes = envelope::decrypt_bytes(sealed, [identity as &dyn age::Identity]).map_err(|e| {
        crate::Error::Untrusted(match e {
            envelope::Error::NoMatchingIdentity => {
                "the sealed key does not open with your identity: it was sealed for someone else"
                    .into()
            }
            other => format!("the sealed key is damaged: {other}"),
        })
    })?;
    let key: [u8; envelope::FILE_KEY_SIZE] = bytes[..]
        .try_into()
        .map_err(|_| crate::Error::Untrusted("the sealed key has the wrong length".into()))?;
    Ok(FileKey::from_bytes(key))
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};

    use super::*;

    #[test]
    fn a_sealed_key_opens_only_for_its_recipient() {
        let alice = age::x25519::Identity::generate();
        let bob = age::x25519::Identity::generate();
        let key = FileKey::generate().unwrap();
        let sealed = seal(&key, &alice.to_public()).unwrap();
        assert_eq!(unseal(&sealed, &alice).unwrap().expose(), key.expose());
        let err = unseal(&sealed, &bob).unwrap_err().to_string();
        assert!(err.contains("sealed for someone else"), "{err}");
    }

    #[test]
    fn a_key_sealed_by_fuda_opens_with_the_age_crate_and_the_users_identity() {
        let user = age::x25519::Identity::generate();
        let key = FileKey::generate().unwrap();
        let sealed = seal(&key, &user.to_public()).unwrap();
        assert!(sealed.starts_with(b"age-encryption.org/v1\n-> X25519 "));

        let decryptor = age::Decryptor::new(&sealed[..]).unwrap();
        let mut reader = decryptor
            .decrypt(std::iter::once(&user as &dyn age::Identity))
            .unwrap();
        let mut opened = Vec::new();
        reader.read_to_end(&mut opened).unwrap();
        assert_eq!(opened, key.expose());
    }

    #[test]
    fn a_key_sealed_by_the_age_crate_opens_with_fudas_unseal() {
        let user = age::x25519::Identity::generate();
        let key = FileKey::generate().unwrap();
        let recipient = user.to_public();
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                .unwrap();
        let mut sealed = Vec::new();
        let mut writer = encryptor.wrap_output(&mut sealed).unwrap();
        writer.write_all(key.expose()).unwrap();
        writer.finish().unwrap();

        assert_eq!(unseal(&sealed, &user).unwrap().expose(), key.expose());
        let stranger = age::x25519::Identity::generate();
        assert!(unseal(&sealed, &stranger).is_err());
    }

    #[test]
    fn a_damaged_or_wrong_sized_sealed_key_is_refused_not_opened() {
        let user = age::x25519::Identity::generate();
        let key = FileKey::generate().unwrap();
        let mut sealed = seal(&key, &user.to_public()).unwrap();
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        let err = unseal(&sealed, &user).unwrap_err().to_string();
        assert!(err.contains("damaged"), "{err}");

        // A valid age file for the user whose content is not 16 bytes.
        let long = envelope::encrypt_bytes(&[user.to_public()], &[7u8; 17]).unwrap();
        let err = unseal(&long, &user).unwrap_err().to_string();
        assert!(err.contains("wrong length"), "{err}");
    }
}
