//! A memo of label signatures this user has already verified (or made).
//!
//! Verifying an Ed25519 signature costs ~50 µs; checking a share of 100,000 labeled files
//! would spend most of its time re-verifying signatures that have not changed since the
//! last check. The memo remembers, per user, a 128-bit HMAC-SHA-256 tag of every compact
//! label whose signature verified. A label is only taken from the memo when its exact bytes
//! (record, key id and signature) were seen before *and* its signer is still in the trust
//! store, so tampering, unknown signers and removed signers are all still detected.
//!
//! The tags are keyed with a per-user secret (`memo.key`, 0600, beside the identity), so
//! someone who can write the memo file but not read the key cannot make a forged label
//! look verified. The memo file itself holds no secrets and may be deleted at any time.

use std::collections::HashSet;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use ring::hmac;
use ring::rand::SecureRandom;
use zeroize::Zeroizing;

use crate::learnt::Learnt;

const TAG_LEN: usize = 16;
/// Memos larger than this are discarded and started afresh.
const MAX_BYTES: u64 = 64 << 20;

pub(crate) type Tag = [u8; TAG_LEN];

/// Remembered verifications; shared by the threads of one run.
pub struct VerificationMemo {
    key: hmac::Key,
    path: PathBuf,
    seen: RwLock<HashSet<Tag>>,
    fresh: Learnt<Tag>,
}

impl std::fmt::Debug for VerificationMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerificationMemo")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl VerificationMemo {
    /// Opens the memo at `memo_path` keyed by the secret in `key_path` (created 0600 when
    /// missing). A missing or unreadable memo file starts empty.
    pub fn open(key_path: &Path, memo_path: &Path) -> std::io::Result<VerificationMemo> {
        let secret = match std::fs::read(key_path) {
            Ok(bytes) if bytes.len() == 32 => Zeroizing::new(bytes),
            Ok(_) | Err(_) => {
                let mut bytes = Zeroizing::new(vec![0u8; 32]);
                ring::rand::SystemRandom::new()
                    .fill(&mut bytes)
                    .map_err(|_| std::io::Error::other("no system randomness"))?;
                let _ = std::fs::remove_file(key_path);
                let _ = std::fs::remove_file(memo_path);
                crate::fsutil::create_secret_file(key_path, &bytes)?;
                bytes
            }
        };
        let mut seen = HashSet::new();
        if let Ok(meta) = std::fs::metadata(memo_path) {
            if meta.len() <= MAX_BYTES {
                if let Ok(bytes) = std::fs::read(memo_path) {
                    seen.extend(bytes.chunks_exact(TAG_LEN).map(|c| {
                        let mut t = [0; TAG_LEN];
                        t.copy_from_slice(c);
                        t
                    }));
                }
            } else {
                let _ = std::fs::remove_file(memo_path);
            }
        }
        Ok(VerificationMemo {
            key: hmac::Key::new(hmac::HMAC_SHA256, &secret),
            path: memo_path.to_owned(),
            seen: RwLock::new(seen),
            fresh: Learnt::default(),
        })
    }

    /// An empty memo that is never saved (for tests and one-off checks).
    pub fn ephemeral() -> VerificationMemo {
        let mut secret = [0u8; 32];
        let _ = ring::rand::SystemRandom::new().fill(&mut secret);
        VerificationMemo {
            key: hmac::Key::new(hmac::HMAC_SHA256, &secret),
            path: PathBuf::new(),
            seen: RwLock::new(HashSet::new()),
            fresh: Learnt::default(),
        }
    }

    /// The memo's tag of these compact label bytes (for [`VerificationMemo::contains_tag`]
    /// and [`VerificationMemo::insert_tag`], when one label is looked up and then added).
    pub(crate) fn tag(&self, compact: &[u8]) -> Tag {
        let full = hmac::sign(&self.key, compact);
        let mut t = [0; TAG_LEN];
        t.copy_from_slice(&full.as_ref()[..TAG_LEN]);
        t
    }

    /// Whether these exact compact label bytes verified before.
    pub fn contains(&self, compact: &[u8]) -> bool {
        self.contains_tag(&self.tag(compact))
    }

    pub(crate) fn contains_tag(&self, tag: &Tag) -> bool {
        self.seen.read().map(|s| s.contains(tag)).unwrap_or(false)
    }

    /// Remembers that these compact label bytes carry a good signature.
    pub fn insert(&self, compact: &[u8]) {
        self.insert_tag(self.tag(compact));
    }

    pub(crate) fn insert_tag(&self, tag: Tag) {
        let added = self
            .seen
            .write()
            .map(|mut s| s.insert(tag))
            .unwrap_or(false);
        if added {
            self.fresh.push(tag);
        }
    }

    /// Appends what was learnt in this run to the memo file.
    pub fn save(&self) -> std::io::Result<()> {
        if self.path.as_os_str().is_empty() {
            return Ok(());
        }
        let fresh = self.fresh.take("memo")?;
        if fresh.is_empty() {
            return Ok(());
        }
        if let Some(dir) = self.path.parent() {
            crate::fsutil::create_private_dir(dir)?;
        }
        // Only this user's runs add to the memo (0600, like the key beside it).
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)?;
        // A memo from before this rule may still be readable by others.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(&fresh.concat())
    }
}
