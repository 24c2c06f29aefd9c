//! The service's keys, files with mode 0600 in `DATA/keys/`:
//!
//! - `wrap-N.age`: versioned X25519 wrapping keys (age identities). New files are wrapped
//!   to the newest version; every older version keeps unwrapping, so rotation never strands
//!   a file. [`ServiceKeys::rotate`] adds a version.
//! - `signing.key`: the Ed25519 key that signs licences (PKCS#8, base64).
//! - `audit.key`: the HMAC key of the audit chain (kept out of the database on purpose).

use std::path::{Path, PathBuf};

use age::secrecy::ExposeSecret as _;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// A problem with the key files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A key file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A key file is corrupt.
    #[error("{0} is not a valid key file; restore the data directory from backup")]
    Corrupt(PathBuf),
    /// A key file is readable by others.
    #[error("{0} is readable by other users: run `chmod 600` on it")]
    Permissions(PathBuf),
    /// There are no wrapping keys.
    #[error("no wrapping key in {0}: run `fuda-keyd init` first")]
    Missing(PathBuf),
    /// Keys already exist.
    #[error("keys already exist in {0}: fuda-keyd never overwrites keys")]
    Exists(PathBuf),
    /// Randomness failed.
    #[error("the system random generator failed")]
    Random,
}

/// What a client pins and uses: the service's id and the public half of its keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    /// Service id (a ULID made at init).
    pub id: String,
    /// The age recipient new files are wrapped to.
    pub recipient: String,
    /// Its version.
    pub key_version: u32,
    /// The licence signing key, base64 Ed25519.
    pub signing_key: String,
}

/// The service's keys, loaded.
pub struct ServiceKeys {
    /// (version, identity), newest last.
    wrapping: Vec<(u32, age::x25519::Identity)>,
    signing: Ed25519KeyPair,
    audit: ring::hmac::Key,
}

impl std::fmt::Debug for ServiceKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceKeys")
            .field("versions", &self.wrapping.len())
            .finish_non_exhaustive()
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_owned(),
        source,
    }
}

fn read_secret(path: &Path) -> Result<Zeroizing<String>, KeyError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(io(path))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(KeyError::Permissions(path.to_owned()));
    }
    Ok(Zeroizing::new(
        std::fs::read_to_string(path).map_err(io(path))?,
    ))
}

fn write_wrap(dir: &Path, version: u32) -> Result<(), KeyError> {
    let identity = age::x25519::Identity::generate();
    let text = Zeroizing::new(format!(
        "# fuda-keyd wrapping key, version {version}\n# public key: {}\n{}\n",
        identity.to_public(),
        identity.to_string().expose_secret()
    ));
    let path = dir.join(format!("wrap-{version}.age"));
    fuda_core::fsutil::create_secret_file(&path, text.as_bytes()).map_err(io(&path))
}

impl ServiceKeys {
    /// Creates the key files in `dir` (0700). Refuses if any exists.
    pub fn init(dir: &Path) -> Result<ServiceKeys, KeyError> {
        if dir.join("signing.key").exists() || dir.join("wrap-1.age").exists() {
            return Err(KeyError::Exists(dir.to_owned()));
        }
        fuda_core::fsutil::create_private_dir(dir).map_err(io(dir))?;
        write_wrap(dir, 1)?;
        let pkcs8 =
            Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| KeyError::Random)?;
        let text = Zeroizing::new(format!(
            "# fuda-keyd licence signing key (Ed25519, PKCS#8)\n{}\n",
            STANDARD.encode(pkcs8.as_ref())
        ));
        let path = dir.join("signing.key");
        fuda_core::fsutil::create_secret_file(&path, text.as_bytes()).map_err(io(&path))?;
        let mut audit = Zeroizing::new([0u8; 32]);
        SystemRandom::new()
            .fill(&mut audit[..])
            .map_err(|_| KeyError::Random)?;
        let path = dir.join("audit.key");
        let text = Zeroizing::new(format!(
            "# fuda-keyd audit chain key (HMAC-SHA-256)\n{}\n",
            hex::encode(&audit[..])
        ));
        fuda_core::fsutil::create_secret_file(&path, text.as_bytes()).map_err(io(&path))?;
        ServiceKeys::load(dir)
    }

    /// Loads the keys in `dir`, checking that each file is private.
    pub fn load(dir: &Path) -> Result<ServiceKeys, KeyError> {
        let mut wrapping = Vec::new();
        let entries = std::fs::read_dir(dir).map_err(io(dir))?;
        for entry in entries {
            let entry = entry.map_err(io(dir))?;
            let name = entry.file_name();
            let Some(version) = name
                .to_str()
                .and_then(|n| n.strip_prefix("wrap-"))
                .and_then(|n| n.strip_suffix(".age"))
                .and_then(|v| v.parse::<u32>().ok())
            else {
                continue;
            };
            let path = entry.path();
            let text = read_secret(&path)?;
            let identity = text
                .lines()
                .map(str::trim)
                .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
                .and_then(|l| l.parse::<age::x25519::Identity>().ok())
                .ok_or_else(|| KeyError::Corrupt(path.clone()))?;
            wrapping.push((version, identity));
        }
        if wrapping.is_empty() {
            return Err(KeyError::Missing(dir.to_owned()));
        }
        wrapping.sort_by_key(|(v, _)| *v);

        let path = dir.join("signing.key");
        let text = read_secret(&path)?;
        let b64 = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .ok_or_else(|| KeyError::Corrupt(path.clone()))?;
        let pkcs8 = Zeroizing::new(
            STANDARD
                .decode(b64)
                .map_err(|_| KeyError::Corrupt(path.clone()))?,
        );
        let signing =
            Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|_| KeyError::Corrupt(path.clone()))?;

        let path = dir.join("audit.key");
        let text = read_secret(&path)?;
        let bytes = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .and_then(|l| hex::decode(l).ok())
            .map(Zeroizing::new)
            .filter(|b| b.len() == 32)
            .ok_or_else(|| KeyError::Corrupt(path.clone()))?;
        let audit = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &bytes);
        Ok(ServiceKeys {
            wrapping,
            signing,
            audit,
        })
    }

    /// Adds a wrapping key version in `dir` and returns the new version.
    pub fn rotate(dir: &Path) -> Result<u32, KeyError> {
        let current = ServiceKeys::load(dir)?.current_version();
        write_wrap(dir, current + 1)?;
        Ok(current + 1)
    }

    /// The newest wrapping key version.
    pub fn current_version(&self) -> u32 {
        self.wrapping.last().map(|(v, _)| *v).unwrap_or(0)
    }

    /// The recipient new files are wrapped to.
    pub fn current_recipient(&self) -> age::x25519::Recipient {
        self.wrapping
            .last()
            .map(|(_, i)| i.to_public())
            .expect("at least one wrapping key is loaded")
    }

    /// Unwraps and MAC-checks a header's file key with any version (newest first).
    /// Returns the key and the version that opened it.
    pub fn unwrap(
        &self,
        header: &fuda_core::envelope::Header,
    ) -> Result<(fuda_core::envelope::FileKey, u32), fuda_core::envelope::Error> {
        let mut last = fuda_core::envelope::Error::NoMatchingIdentity;
        for (version, identity) in self.wrapping.iter().rev() {
            match fuda_core::envelope::x25519::unwrap(
                header.stanzas(),
                [identity as &dyn age::Identity],
            ) {
                Ok(key) => {
                    header.verify_mac(&key)?;
                    return Ok((key, *version));
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Signs bytes with the licence signing key.
    pub fn sign(&self, bytes: &[u8]) -> [u8; 64] {
        let mut out = [0u8; 64];
        out.copy_from_slice(self.signing.sign(bytes).as_ref());
        out
    }

    /// The licence signing public key.
    pub fn signing_public(&self) -> &[u8] {
        self.signing.public_key().as_ref()
    }

    /// The audit chain key.
    pub fn audit_key(&self) -> &ring::hmac::Key {
        &self.audit
    }

    /// The public half, as clients pin it, for the service with id `id`.
    pub fn info(&self, id: &str) -> ServiceInfo {
        ServiceInfo {
            id: id.to_owned(),
            recipient: self.current_recipient().to_string(),
            key_version: self.current_version(),
            signing_key: STANDARD.encode(self.signing_public()),
        }
    }
}
