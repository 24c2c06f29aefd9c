//! Licences: the answer to "may this person have this file's key now?"
//!
//! The client sends the file's header and the rights it needs ([`Request`]). On yes, the
//! service returns the file key **sealed to the user's own age recipient** (an age file
//! holding the 16 key bytes: only the user's identity opens it) and a [`Licence`] signed by
//! the service (who, which document, which rights, until when it may be used offline).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use fuda_core::envelope::FileKey;
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
/// content is the 16 key bytes, opened by `age::decrypt` with the user's identity.
///
/// Built here rather than with `age::encrypt` because it runs once per licence: the
/// ephemeral X25519 key and agreement use ring's assembly code (several times faster than
/// the portable code), and the 16-byte payload is written sequentially.
pub fn seal(key: &FileKey, recipient: &age::x25519::Recipient) -> Result<Vec<u8>, crate::Error> {
    use base64::engine::general_purpose::STANDARD_NO_PAD;
    use fuda_core::envelope::{stream, Header, Stanza};
    use ring::{aead, agreement, hkdf};

    let fail = |what: &str| crate::Error::Invalid(format!("cannot seal the key: {what}"));
    let pk = recipient_bytes(&recipient.to_string()).ok_or_else(|| fail("bad recipient"))?;
    let rng = ring::rand::SystemRandom::new();
    let eph = agreement::EphemeralPrivateKey::generate(&agreement::X25519, &rng)
        .map_err(|_| fail("random generator"))?;
    let epk = eph.compute_public_key().map_err(|_| fail("public key"))?;
    let mut salt = epk.as_ref().to_vec();
    salt.extend_from_slice(&pk);
    let wrap_key = agreement::agree_ephemeral(
        eph,
        &agreement::UnparsedPublicKey::new(&agreement::X25519, &pk),
        |shared| -> Option<zeroize::Zeroizing<[u8; 32]>> {
            // age rejects an all-zero shared secret (a low-order recipient).
            if shared.iter().all(|b| *b == 0) {
                return None;
            }
            let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &salt).extract(shared);
            let okm = prk
                .expand(&[b"age-encryption.org/v1/X25519"], &aead::CHACHA20_POLY1305)
                .ok()?;
            let mut k = zeroize::Zeroizing::new([0u8; 32]);
            okm.fill(&mut k[..]).ok()?;
            Some(k)
        },
    )
    .map_err(|_| fail("key agreement"))?
    .ok_or_else(|| fail("the recipient is a low-order point"))?;
    let inner = FileKey::generate().map_err(|_| fail("random generator"))?;
    let sealing = aead::LessSafeKey::new(
        aead::UnboundKey::new(&aead::CHACHA20_POLY1305, &wrap_key[..]).map_err(|_| fail("aead"))?,
    );
    let mut body = inner.expose().to_vec();
    sealing
        .seal_in_place_append_tag(
            aead::Nonce::assume_unique_for_key([0; 12]),
            aead::Aad::empty(),
            &mut body,
        )
        .map_err(|_| fail("aead"))?;
    let stanza = Stanza {
        tag: "X25519".into(),
        args: vec![STANDARD_NO_PAD.encode(epk.as_ref())],
        body,
    };
    let header = Header::new(vec![stanza], &inner).map_err(|e| fail(&e.to_string()))?;
    let mut nonce = [0u8; stream::NONCE_SIZE];
    ring::rand::SecureRandom::fill(&rng, &mut nonce).map_err(|_| fail("random generator"))?;
    // The payload is one final STREAM chunk (age: key = HKDF-SHA-256(nonce, file key,
    // "payload"), chunk nonce = counter 0 with the last-chunk flag), written directly:
    // the general streaming code sizes its buffers for 64 KiB chunks, not 16 bytes.
    let payload_key = {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &nonce).extract(inner.expose());
        let okm = prk
            .expand(&[b"payload"], &aead::CHACHA20_POLY1305)
            .map_err(|_| fail("hkdf"))?;
        let mut k = zeroize::Zeroizing::new([0u8; 32]);
        okm.fill(&mut k[..]).map_err(|_| fail("hkdf"))?;
        k
    };
    let mut chunk_nonce = [0u8; 12];
    chunk_nonce[11] = 1;
    let mut payload = key.expose().to_vec();
    aead::LessSafeKey::new(
        aead::UnboundKey::new(&aead::CHACHA20_POLY1305, &payload_key[..])
            .map_err(|_| fail("aead"))?,
    )
    .seal_in_place_append_tag(
        aead::Nonce::assume_unique_for_key(chunk_nonce),
        aead::Aad::empty(),
        &mut payload,
    )
    .map_err(|_| fail("aead"))?;
    let mut out = header.to_bytes();
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&payload);
    Ok(out)
}

/// The 32 bytes of an `age1…` recipient (bech32).
fn recipient_bytes(s: &str) -> Option<[u8; 32]> {
    use bech32::FromBase32;
    let (hrp, data, variant) = bech32::decode(s).ok()?;
    if hrp != "age" || variant != bech32::Variant::Bech32 {
        return None;
    }
    Vec::<u8>::from_base32(&data).ok()?.try_into().ok()
}

/// Opens a sealed file key with the user's identity.
pub fn unseal(sealed: &[u8], identity: &age::x25519::Identity) -> Result<FileKey, crate::Error> {
    let bytes = zeroize::Zeroizing::new(age::decrypt(identity, sealed).map_err(|_| {
        crate::Error::Untrusted(
            "the sealed key does not open with your identity: it was sealed for someone else"
                .into(),
        )
    })?);
    let key: [u8; fuda_core::envelope::FILE_KEY_SIZE] = bytes[..]
        .try_into()
        .map_err(|_| crate::Error::Untrusted("the sealed key has the wrong length".into()))?;
    Ok(FileKey::from_bytes(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_key_opens_with_age_and_only_for_its_recipient() {
        let alice = age::x25519::Identity::generate();
        let bob = age::x25519::Identity::generate();
        let key = FileKey::generate().unwrap();
        let sealed = seal(&key, &alice.to_public()).unwrap();
        assert_eq!(age::decrypt(&alice, &sealed).unwrap(), key.expose());
        assert_eq!(unseal(&sealed, &alice).unwrap().expose(), key.expose());
        assert!(unseal(&sealed, &bob).is_err());
    }
}
