//! The trust store: the signer keys whose labels count as `valid`.
//!
//! Locally it is a TOML file (`trust.toml` in the user's fuda config directory) listing
//! enrolled signers: people, file-server hooks and the key service. A label signed by a key
//! that is not listed verifies as `unverified`. The key service becomes the source of this
//! directory once it exists; the file is then a cache of it.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use base64::Engine;
use serde::{Deserialize, Serialize};

/// 8-byte id of an Ed25519 signing key: the first bytes of SHA-256 of the public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 8]);

impl KeyId {
    /// The key id of an Ed25519 public key.
    pub fn of(public_key: &[u8]) -> KeyId {
        let digest = ring::digest::digest(&ring::digest::SHA256, public_key);
        let mut id = [0; 8];
        id.copy_from_slice(&digest.as_ref()[..8]);
        KeyId(id)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl FromStr for KeyId {
    type Err = hex::FromHexError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut id = [0; 8];
        hex::decode_to_slice(s, &mut id)?;
        Ok(KeyId(id))
    }
}

/// What kind of party a signer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignerKind {
    /// A person using the `fuda` CLI.
    User,
    /// A file-server hook (`fuda watch`).
    Hook,
    /// The key service.
    Service,
}

/// An enrolled signer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signer {
    /// User or hook name.
    pub name: String,
    /// What kind of party it is.
    pub kind: SignerKind,
    /// The 32-byte Ed25519 public key.
    pub public_key: Vec<u8>,
}

impl Signer {
    /// The signer's key id.
    pub fn key_id(&self) -> KeyId {
        KeyId::of(&self.public_key)
    }
}

/// Errors reading or changing the trust store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// The file could not be read or written.
    #[error("trust store {path}: {source}")]
    Io {
        /// The trust store file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a valid trust store.
    #[error("trust store {path} is invalid: {message}; fix or remove the entry")]
    Invalid {
        /// The trust store file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A public key that is not 32 bytes of base64.
    #[error("not an Ed25519 public key (32 bytes, base64): {0:?}")]
    BadKey(String),
}

#[derive(Serialize, Deserialize, Default)]
struct File {
    #[serde(default, rename = "signer")]
    signers: Vec<Entry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    kind: SignerKind,
    public_key: String,
}

/// Signer keys by key id.
#[derive(Clone, Debug, Default)]
pub struct TrustStore {
    signers: HashMap<KeyId, Signer>,
}

/// Decodes a base64 Ed25519 public key.
pub fn decode_public_key(text: &str) -> Result<Vec<u8>, TrustError> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()
        .filter(|k| k.len() == 32)
        .ok_or_else(|| TrustError::BadKey(text.to_owned()))
}

/// Encodes an Ed25519 public key as base64.
pub fn encode_public_key(key: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(key)
}

impl TrustStore {
    /// Loads the store; a missing file is an empty store.
    pub fn load(path: &Path) -> Result<TrustStore, TrustError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(TrustStore::default()),
            Err(source) => {
                return Err(TrustError::Io {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        let invalid = |message: String| TrustError::Invalid {
            path: path.to_owned(),
            message,
        };
        let file: File = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let mut store = TrustStore::default();
        for entry in file.signers {
            let public_key = decode_public_key(&entry.public_key)
                .map_err(|e| invalid(format!("signer {:?}: {e}", entry.name)))?;
            store.add(Signer {
                name: entry.name,
                kind: entry.kind,
                public_key,
            });
        }
        Ok(store)
    }

    /// Writes the store atomically (mode 0644: public keys are not secret).
    pub fn save(&self, path: &Path) -> Result<(), TrustError> {
        let mut signers: Vec<&Signer> = self.signers.values().collect();
        signers.sort_by(|a, b| a.name.cmp(&b.name).then(a.public_key.cmp(&b.public_key)));
        let file = File {
            signers: signers
                .into_iter()
                .map(|s| Entry {
                    name: s.name.clone(),
                    kind: s.kind,
                    public_key: encode_public_key(&s.public_key),
                })
                .collect(),
        };
        let text = format!(
            "# fuda trust store: signers whose labels verify as valid.\n\n{}",
            toml::to_string(&file).expect("trust store serialises")
        );
        crate::fsutil::write_atomic(path, text.as_bytes(), 0o644).map_err(|source| TrustError::Io {
            path: path.to_owned(),
            source,
        })
    }

    /// Adds (or replaces) a signer.
    pub fn add(&mut self, signer: Signer) {
        self.signers.insert(signer.key_id(), signer);
    }

    /// Removes every key of the named signer; returns how many were removed.
    pub fn remove(&mut self, name: &str) -> usize {
        let before = self.signers.len();
        self.signers.retain(|_, s| s.name != name);
        before - self.signers.len()
    }

    /// The signer with this key id.
    pub fn get(&self, key: &KeyId) -> Option<&Signer> {
        self.signers.get(key)
    }

    /// Every signer, sorted by name.
    pub fn signers(&self) -> Vec<&Signer> {
        let mut all: Vec<&Signer> = self.signers.values().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }
}
