//! A user's (or hook's) identity: an age X25519 identity for receiving file keys and an
//! Ed25519 key for signing labels.
//!
//! Both live in the user's fuda config directory as files with mode 0600:
//! `identity.age` (an `AGE-SECRET-KEY-1…` line, readable by `age -d -i`) and
//! `signing.key` (a PKCS#8 v2 Ed25519 document, base64). Secret bytes held in memory are
//! zeroized on drop; ring's key pair object is opaque and is dropped with the identity.

use std::path::{Path, PathBuf};

use age::secrecy::ExposeSecret;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use zeroize::Zeroizing;

use crate::label::{canonical, KeyId, Label, SignedLabel};
use crate::trust::{Signer, SignerKind};

/// File name of the age identity.
pub const AGE_IDENTITY_FILE: &str = "identity.age";
/// File name of the Ed25519 signing key.
pub const SIGNING_KEY_FILE: &str = "signing.key";

/// Errors creating or loading an identity.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// An identity already exists; fuda never overwrites keys.
    #[error("an identity already exists at {0}: fuda never overwrites keys; move it away first if you really want a new one")]
    Exists(PathBuf),
    /// No identity yet.
    #[error("no identity at {0}: run `fuda init` first")]
    NotFound(PathBuf),
    /// A key file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A key file is corrupt.
    #[error("{path} is not a valid {what}; restore it from backup")]
    Corrupt {
        /// The key file.
        path: PathBuf,
        /// What it should hold.
        what: &'static str,
    },
    /// A key file is readable by others.
    #[error("{path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`")]
    Permissions {
        /// The key file.
        path: PathBuf,
        /// Its mode.
        mode: u32,
    },
}

/// A loaded identity.
pub struct Identity {
    name: String,
    age: age::x25519::Identity,
    signing: Ed25519KeyPair,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("name", &self.name)
            .field("key", &self.key_id())
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Generates a new identity and writes its key files (0600) into `dir` (created 0700).
    /// Refuses if either file exists.
    pub fn create(dir: &Path, name: &str) -> Result<Identity, IdentityError> {
        let age_path = dir.join(AGE_IDENTITY_FILE);
        let sig_path = dir.join(SIGNING_KEY_FILE);
        for p in [&age_path, &sig_path] {
            if p.exists() {
                return Err(IdentityError::Exists(p.clone()));
            }
        }
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| IdentityError::Io { path, source }
        };
        crate::fsutil::create_private_dir(dir).map_err(io(dir))?;

        let age = age::x25519::Identity::generate();
        let age_text = Zeroizing::new(format!(
            "# fuda identity of {name}\n# public key: {}\n{}\n",
            age.to_public(),
            age.to_string().expose_secret()
        ));
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| {
            IdentityError::Corrupt {
                path: sig_path.clone(),
                what: "Ed25519 key (generation failed)",
            }
        })?;
        let pkcs8 = Zeroizing::new(pkcs8.as_ref().to_vec());
        let sig_text = Zeroizing::new(format!(
            "# fuda signing key of {name} (Ed25519, PKCS#8 v2)\n{}\n",
            base64::engine::general_purpose::STANDARD.encode(&*pkcs8)
        ));
        crate::fsutil::create_secret_file(&age_path, age_text.as_bytes()).map_err(io(&age_path))?;
        crate::fsutil::create_secret_file(&sig_path, sig_text.as_bytes()).map_err(io(&sig_path))?;
        Identity::load(dir, name)
    }

    /// Loads the identity in `dir`, checking that the key files are private.
    pub fn load(dir: &Path, name: &str) -> Result<Identity, IdentityError> {
        let age_text = read_secret(&dir.join(AGE_IDENTITY_FILE))?;
        let sig_path = dir.join(SIGNING_KEY_FILE);
        let sig_text = read_secret(&sig_path)?;
        let age = age_text
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
            .and_then(|l| l.parse::<age::x25519::Identity>().ok())
            .ok_or_else(|| IdentityError::Corrupt {
                path: dir.join(AGE_IDENTITY_FILE),
                what: "age X25519 identity",
            })?;
        let corrupt = || IdentityError::Corrupt {
            path: sig_path.clone(),
            what: "Ed25519 signing key",
        };
        let b64 = sig_text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .ok_or_else(corrupt)?;
        let pkcs8 = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| corrupt())?,
        );
        let signing = Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|_| corrupt())?;
        Ok(Identity {
            name: name.to_owned(),
            age,
            signing,
        })
    }

    /// The user or hook name labels record as `set_by`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The age recipient (`age1…`) file keys can be sealed to.
    pub fn recipient(&self) -> age::x25519::Recipient {
        self.age.to_public()
    }

    /// The age identity, for decrypting.
    pub fn age_identity(&self) -> &age::x25519::Identity {
        &self.age
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> &[u8] {
        self.signing.public_key().as_ref()
    }

    /// The signing key's id.
    pub fn key_id(&self) -> KeyId {
        KeyId::of(self.public_key())
    }

    /// This identity as a trust-store entry.
    pub fn as_signer(&self, kind: SignerKind) -> Signer {
        Signer {
            name: self.name.clone(),
            kind,
            public_key: self.public_key().to_vec(),
        }
    }

    /// Signs `message` as it is with the Ed25519 key (for records other than labels, e.g.
    /// a machine's report to the key service; the caller puts its own context first).
    pub fn sign_bytes(&self, message: &[u8]) -> [u8; 64] {
        let mut bytes = [0; 64];
        bytes.copy_from_slice(self.signing.sign(message).as_ref());
        bytes
    }

    /// Signs a label (normalising it first: flags sorted and deduplicated).
    pub fn sign(&self, mut label: Label) -> SignedLabel {
        label.flags.sort();
        label.flags.dedup();
        let sig = self.signing.sign(&canonical::signing_input(&label));
        let mut bytes = [0; 64];
        bytes.copy_from_slice(sig.as_ref());
        SignedLabel {
            label,
            key: self.key_id(),
            sig: bytes,
        }
    }
}

/// Reads a secret file (a key, an API token), refusing one that other users can read
/// ([`IdentityError::Permissions`]: the message says `chmod 600 …`).
pub fn read_secret(path: &Path) -> Result<Zeroizing<String>, IdentityError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(IdentityError::NotFound(path.to_owned()))
        }
        Err(source) => {
            return Err(IdentityError::Io {
                path: path.to_owned(),
                source,
            })
        }
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(IdentityError::Permissions {
            path: path.to_owned(),
            mode,
        });
    }
    std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|source| IdentityError::Io {
            path: path.to_owned(),
            source,
        })
}
