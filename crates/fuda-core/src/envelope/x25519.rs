//! Recipient stanzas: wrapping the file key to X25519 recipients and unwrapping it with
//! any age identity.
//!
//! The X25519 stanza itself (ephemeral share, HKDF, ChaCha20-Poly1305 of the file key,
//! rejection of low-order shares and non-canonical encodings) is the `age` crate's,
//! reached through its `Recipient`/`Identity` traits; this module converts between our
//! [`Stanza`] and age's, and turns age's outcomes into our [`Error`]s.

use age::secrecy::ExposeSecret as _;
use age::DecryptError;

use super::header::Stanza;
use super::{Error, FileKey};

/// The X25519 stanza tag.
pub const X25519_TAG: &str = "X25519";

/// The scrypt (passphrase) stanza tag; such a stanza must be alone in its header.
pub const SCRYPT_TAG: &str = "scrypt";

/// An X25519 age identity (`AGE-SECRET-KEY-1…`), re-exported from the `age` crate.
pub use age::x25519::Identity;
/// An X25519 age recipient (`age1…`), re-exported from the `age` crate.
pub use age::x25519::Recipient;

/// Wraps `file_key` to `recipient`, giving one `X25519` stanza.
pub fn wrap(file_key: &FileKey, recipient: &Recipient) -> Result<Stanza, Error> {
    let age_key =
        age_core::format::FileKey::init_with_mut(|k| k.copy_from_slice(file_key.expose()));
    let (stanzas, _labels) = age::Recipient::wrap_file_key(recipient, &age_key)
        .map_err(|e| Error::Recipient(e.to_string()))?;
    match <[age_core::format::Stanza; 1]>::try_from(stanzas) {
        Ok([stanza]) => Ok(Stanza::from_age(stanza)),
        Err(_) => Err(Error::Recipient(
            "an X25519 recipient must produce exactly one stanza".into(),
        )),
    }
}

/// Unwraps the file key from `stanzas` with the first identity that matches.
///
/// Errors: [`Error::NoMatchingIdentity`] if no identity opens any stanza,
/// [`Error::InvalidRecipientStanza`] if a stanza meant for an identity is malformed,
/// [`Error::Header`] if a passphrase stanza is not alone. The header MAC is *not*
/// checked here; [`super::Decryptor`] does that next.
pub fn unwrap<'a>(
    stanzas: &[Stanza],
    identities: impl IntoIterator<Item = &'a dyn age::Identity>,
) -> Result<FileKey, Error> {
    if stanzas.iter().any(|s| s.tag == SCRYPT_TAG) && stanzas.len() != 1 {
        return Err(Error::Header(
            "a passphrase (scrypt) stanza must be the only stanza in the header".into(),
        ));
    }
    let age_stanzas: Vec<age_core::format::Stanza> = stanzas.iter().map(Stanza::to_age).collect();
    for identity in identities {
        match identity.unwrap_stanzas(&age_stanzas) {
            None => continue,
            Some(Ok(key)) => return Ok(FileKey::from_bytes(*key.expose_secret())),
            // A wrong passphrase, or a stanza that does not open with this key.
            Some(Err(DecryptError::DecryptionFailed | DecryptError::KeyDecryptionFailed)) => {
                continue
            }
            Some(Err(DecryptError::InvalidHeader)) => return Err(Error::InvalidRecipientStanza),
            Some(Err(DecryptError::ExcessiveWork { required, .. })) => {
                return Err(Error::ExcessiveWork {
                    work_factor: required,
                })
            }
            Some(Err(DecryptError::Io(e))) => return Err(Error::Io(e)),
            Some(Err(e)) => return Err(Error::Identity(e.to_string())),
        }
    }
    Err(Error::NoMatchingIdentity)
}

/// Reads an identity file (`age-keygen` format: `AGE-SECRET-KEY-1…` lines, comments).
pub fn read_identity_file(path: &std::path::Path) -> Result<Vec<Box<dyn age::Identity>>, Error> {
    let file = age::IdentityFile::from_file(path.to_string_lossy().into_owned()).map_err(|e| {
        Error::IdentityFile {
            path: path.to_owned(),
            reason: e.to_string(),
        }
    })?;
    let identities = file.into_identities().map_err(|e| Error::IdentityFile {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    if identities.is_empty() {
        return Err(Error::IdentityFile {
            path: path.to_owned(),
            reason: "it holds no identity".into(),
        });
    }
    Ok(identities)
}
