//! Signed checkpoints of the audit chain's head, kept where the database's writer cannot
//! reach them, so that a log cut short is found.
//!
//! The hash chain ([`crate::audit`]) finds an edited, inserted or deleted record, but not a
//! tail cut off together with the head row moved back to the record before it: the
//! records left are a valid chain. A [`Checkpoint`] is the service's Ed25519 signature —
//! the licence signing key every client pinned at enrollment — over the service id, a
//! record's sequence number, that record's hash and the time. The HTTPS front attaches
//! the newest one (signed at most once a second) to its answers to enrolled users in the
//! [`HEADER`] header; `fuda` keeps the highest it has seen ([`Witness`], a 0600 file in
//! its state directory), and so does the service in its data directory.
//! [`crate::audit::verify_against`] reports a log shorter than a checkpoint held, or one
//! whose record differs from the checkpoint's, naming the records removed.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ring::signature::{UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};

/// The response header carrying the newest checkpoint (base64url of its JSON).
pub const HEADER: &str = "fuda-audit-checkpoint";

/// Where the service keeps the highest checkpoint it signed, in its data directory.
pub const SERVICE_FILE: &str = "audit-checkpoint.json";

/// The service's signed statement that its audit log reached record `seq`, whose hash is
/// `head`, at `at_ms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The service id.
    pub service: String,
    /// The last record's sequence number.
    pub seq: i64,
    /// The last record's hash, hex.
    pub head: String,
    /// When it was signed, Unix milliseconds.
    pub at_ms: i64,
    /// Ed25519 signature over [`Checkpoint::signing_input`], base64.
    pub sig: String,
}

/// Why a checkpoint file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// It could not be read or written.
    #[error("cannot {action} the audit checkpoint {}: {source}", path.display())]
    Io {
        /// Read or write.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It is not a checkpoint.
    #[error("{} is not an audit checkpoint: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Its signature is not the service's.
    #[error("{}: {source}", path.display())]
    Untrusted {
        /// The file.
        path: PathBuf,
        /// The signature's failure.
        source: crate::Error,
    },
}

impl Checkpoint {
    /// The bytes the signature covers: a domain tag (no licence or policy signature can
    /// pass for a checkpoint), then each field on its own line.
    pub fn signing_input(service: &str, seq: i64, head: &str, at_ms: i64) -> Vec<u8> {
        format!("fuda-audit-checkpoint-v1\n{service}\n{seq}\n{head}\n{at_ms}").into_bytes()
    }

    /// Signs the head (`seq`, `head`) of the service `service` with `sign` (its key).
    pub fn sign(
        service: &str,
        seq: i64,
        head: &str,
        at_ms: i64,
        sign: impl Fn(&[u8]) -> [u8; 64],
    ) -> Checkpoint {
        let sig = sign(&Self::signing_input(service, seq, head, at_ms));
        Checkpoint {
            service: service.to_owned(),
            seq,
            head: head.to_owned(),
            at_ms,
            sig: STANDARD.encode(sig),
        }
    }

    /// Checks that the service `service_id`, whose signing key is `service_key`, signed
    /// this checkpoint.
    pub fn verify(&self, service_id: &str, service_key: &[u8]) -> Result<(), crate::Error> {
        let refused = || {
            crate::Error::Untrusted(format!(
                "the audit checkpoint of record {} is not signed by this key service: it was forged or altered, or made by another service",
                self.seq
            ))
        };
        let well_formed = self.seq >= 0
            && self.head.len() == 64
            && self.head.bytes().all(|b| b.is_ascii_hexdigit());
        if self.service != service_id || !well_formed {
            return Err(refused());
        }
        let sig = STANDARD.decode(&self.sig).map_err(|_| refused())?;
        UnparsedPublicKey::new(&ED25519, service_key)
            .verify(
                &Self::signing_input(&self.service, self.seq, &self.head, self.at_ms),
                &sig,
            )
            .map_err(|_| refused())
    }

    /// As the [`HEADER`] value.
    pub fn to_header(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("a checkpoint serialises"))
    }

    /// From a [`HEADER`] value (`None`: not a checkpoint).
    pub fn from_header(value: &str) -> Option<Checkpoint> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(value).ok()?).ok()
    }

    /// Reads a checkpoint file (`None`: there is none).
    pub fn read(path: &Path) -> Result<Option<Checkpoint>, CheckpointError> {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(CheckpointError::Io {
                    action: "read",
                    path: path.to_owned(),
                    source,
                })
            }
        };
        serde_json::from_slice(&text)
            .map(Some)
            .map_err(|e| CheckpointError::Malformed {
                path: path.to_owned(),
                reason: e.to_string(),
            })
    }

    /// Writes it to `path` (0600, replaced atomically).
    pub fn write(&self, path: &Path) -> Result<(), CheckpointError> {
        let mut text = serde_json::to_vec_pretty(self).expect("a checkpoint serialises");
        text.push(b'\n');
        fuda_core::fsutil::write_atomic(path, &text, 0o600).map_err(|source| CheckpointError::Io {
            action: "write",
            path: path.to_owned(),
            source,
        })
    }
}

/// Keeps the highest checkpoint of one service that this machine has seen, in a file.
#[derive(Debug)]
pub struct Witness {
    path: PathBuf,
    service: String,
    key: Vec<u8>,
    held: Mutex<Option<i64>>,
}

impl Witness {
    /// Keeps checkpoints of the service `service_id` (signing key `service_key`) in
    /// `path`. A file that is unreadable, forged or another service's is never trusted
    /// and is replaced by the next good checkpoint.
    pub fn new(path: PathBuf, service_id: &str, service_key: &[u8]) -> Witness {
        let held = Checkpoint::read(&path)
            .ok()
            .flatten()
            .filter(|c| c.verify(service_id, service_key).is_ok())
            .map(|c| c.seq);
        Witness {
            path,
            service: service_id.to_owned(),
            key: service_key.to_owned(),
            held: Mutex::new(held),
        }
    }

    /// Keeps `checkpoint` if it is higher than the one held and the service signed it.
    /// A lower one is not kept (nor its signature checked): the held one stays the
    /// evidence.
    pub fn observe(&self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if held.is_some_and(|seq| seq >= checkpoint.seq) {
            return Ok(());
        }
        checkpoint
            .verify(&self.service, &self.key)
            .map_err(|source| CheckpointError::Untrusted {
                path: self.path.clone(),
                source,
            })?;
        checkpoint.write(&self.path)?;
        *held = Some(checkpoint.seq);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{Ed25519KeyPair, KeyPair as _};

    fn key() -> Ed25519KeyPair {
        let rng = ring::rand::SystemRandom::new();
        Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&rng).unwrap().as_ref()).unwrap()
    }

    fn signed(k: &Ed25519KeyPair, seq: i64) -> Checkpoint {
        Checkpoint::sign("svc", seq, &"ab".repeat(32), 1_000, |b| {
            k.sign(b).as_ref().try_into().unwrap()
        })
    }

    #[test]
    fn a_checkpoint_verifies_only_unaltered_with_its_service_key_and_id() {
        let (ours, theirs) = (key(), key());
        let c = signed(&ours, 7);
        let public = ours.public_key().as_ref();
        assert!(c.verify("svc", public).is_ok());
        assert!(c.verify("svc", theirs.public_key().as_ref()).is_err());
        assert!(c.verify("other", public).is_err());
        let back = Checkpoint::from_header(&c.to_header()).unwrap();
        assert_eq!(back, c);
        let mut raised = c.clone();
        raised.seq = 8;
        assert!(raised.verify("svc", public).is_err());
        let mut moved = c;
        moved.head = "cd".repeat(32);
        assert!(moved.verify("svc", public).is_err());
        assert!(Checkpoint::from_header("not base64!").is_none());
    }

    #[test]
    fn a_witness_keeps_the_highest_good_checkpoint_in_a_private_file() {
        use std::os::unix::fs::PermissionsExt as _;
        let (ours, theirs) = (key(), key());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint.json");
        let w = Witness::new(path.clone(), "svc", ours.public_key().as_ref());
        w.observe(&signed(&ours, 5)).unwrap();
        w.observe(&signed(&ours, 3)).unwrap();
        assert!(w.observe(&signed(&theirs, 9)).is_err(), "a forged one");
        let held = Checkpoint::read(&path).unwrap().unwrap();
        assert_eq!(held.seq, 5, "the highest good one");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // A new process starts from the file.
        let again = Witness::new(path.clone(), "svc", ours.public_key().as_ref());
        again.observe(&signed(&ours, 4)).unwrap();
        assert_eq!(Checkpoint::read(&path).unwrap().unwrap().seq, 5);
    }
}
