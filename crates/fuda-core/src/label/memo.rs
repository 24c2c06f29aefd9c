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
//!
//! The memo is bounded ([`MAX_ENTRIES`] tags, in memory and in its file): tags are kept in
//! two generations, and when the newer one is full the older one is dropped. A
//! long-running `fuda watch` signs a label for every file it labels, for months; dropping
//! tags only costs verifying those signatures again.

use std::collections::HashSet;
use std::io::{BufWriter, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use ring::hmac;
use ring::rand::SecureRandom;
use zeroize::Zeroizing;

const TAG_LEN: usize = 16;
/// How many tags one generation holds: 7/8 of 2^20, so that its hash table stays at 2^20
/// slots (about 17 MB).
const GENERATION: usize = 917_504;
/// The most tags the memo holds, in memory and in its file (two generations: 29 MB as a
/// file, about 50 MB in memory with the tags learnt in a run). Memo files larger than
/// this are discarded and started afresh.
pub const MAX_ENTRIES: usize = 2 * GENERATION;

pub(crate) type Tag = [u8; TAG_LEN];

/// Remembered verifications; shared by the threads of one run.
pub struct VerificationMemo {
    key: hmac::Key,
    path: PathBuf,
    tags: RwLock<Tags>,
}

/// The tags in memory: two generations of at most `generation` tags each.
#[derive(Debug)]
struct Tags {
    generation: usize,
    newer: HashSet<Tag>,
    older: HashSet<Tag>,
    /// Tags learnt in this run, appended to the file at save.
    fresh: Vec<Tag>,
    /// Set when tags were dropped: the file is then written anew from the tags in memory,
    /// not appended to (it would grow past the bound).
    dropped: bool,
}

impl Tags {
    fn new(generation: usize) -> Tags {
        Tags {
            generation,
            newer: HashSet::new(),
            older: HashSet::new(),
            fresh: Vec::new(),
            dropped: false,
        }
    }

    fn contains(&self, tag: &Tag) -> bool {
        self.newer.contains(tag) || self.older.contains(tag)
    }

    /// Adds `tag`, dropping the older generation when the newer one is full; returns
    /// whether the tag was new.
    fn add(&mut self, tag: Tag) -> bool {
        if self.contains(&tag) {
            return false;
        }
        if self.newer.len() >= self.generation {
            if !self.older.is_empty() {
                self.dropped = true;
                self.fresh = Vec::new();
            }
            self.older = std::mem::take(&mut self.newer);
        }
        self.newer.insert(tag)
    }

    /// Adds a tag learnt in this run.
    fn learn(&mut self, tag: Tag) {
        if self.add(tag) && !self.dropped {
            self.fresh.push(tag);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.newer.len() + self.older.len()
    }
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
        VerificationMemo::open_bounded(key_path, memo_path, GENERATION)
    }

    /// [`VerificationMemo::open`] with generations of `generation` tags.
    fn open_bounded(
        key_path: &Path,
        memo_path: &Path,
        generation: usize,
    ) -> std::io::Result<VerificationMemo> {
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
        let mut tags = Tags::new(generation);
        if let Ok(meta) = std::fs::metadata(memo_path) {
            if meta.len() <= (2 * generation * TAG_LEN) as u64 {
                if let Ok(bytes) = std::fs::read(memo_path) {
                    for c in bytes.chunks_exact(TAG_LEN) {
                        let mut t = [0; TAG_LEN];
                        t.copy_from_slice(c);
                        tags.add(t);
                    }
                }
            } else {
                let _ = std::fs::remove_file(memo_path);
            }
        }
        Ok(VerificationMemo {
            key: hmac::Key::new(hmac::HMAC_SHA256, &secret),
            path: memo_path.to_owned(),
            tags: RwLock::new(tags),
        })
    }

    /// An empty memo that is never saved (for tests and one-off checks).
    pub fn ephemeral() -> VerificationMemo {
        let mut secret = [0u8; 32];
        let _ = ring::rand::SystemRandom::new().fill(&mut secret);
        VerificationMemo {
            key: hmac::Key::new(hmac::HMAC_SHA256, &secret),
            path: PathBuf::new(),
            tags: RwLock::new(Tags::new(GENERATION)),
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
        self.tags.read().map(|t| t.contains(tag)).unwrap_or(false)
    }

    /// Remembers that these compact label bytes carry a good signature.
    pub fn insert(&self, compact: &[u8]) {
        self.insert_tag(self.tag(compact));
    }

    pub(crate) fn insert_tag(&self, tag: Tag) {
        // After a panic elsewhere poisoned the lock, the tag is dropped: a cache only
        // loses a shortcut.
        if let Ok(mut tags) = self.tags.write() {
            tags.learn(tag);
        }
    }

    /// Appends what was learnt in this run to the memo file; after tags were dropped,
    /// writes the file anew with the tags in memory.
    pub fn save(&self) -> std::io::Result<()> {
        if self.path.as_os_str().is_empty() {
            return Ok(());
        }
        let mut tags = self
            .tags
            .write()
            .map_err(|_| std::io::Error::other("memo lock poisoned"))?;
        if !tags.dropped && tags.fresh.is_empty() {
            return Ok(());
        }
        if let Some(dir) = self.path.parent() {
            crate::fsutil::create_private_dir(dir)?;
        }
        if tags.dropped {
            // Older first: a reload keeps the newer generation the newer one.
            let mut tmp = crate::fsutil::TempSibling::new(&self.path, 0o600)?;
            let mut out = BufWriter::new(tmp.file());
            for tag in tags.older.iter().chain(&tags.newer) {
                out.write_all(tag)?;
            }
            out.flush()?;
            drop(out);
            tmp.commit(&self.path)?;
            tags.dropped = false;
            return Ok(());
        }
        // Only this user's runs add to the memo (0600, like the key beside it).
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)?;
        // A memo from before this rule may still be readable by others.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(&std::mem::take(&mut tags.fresh).concat())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(i: usize) -> Vec<u8> {
        format!("compact label {i}").into_bytes()
    }

    #[test]
    fn a_memo_that_learns_without_end_keeps_the_newest_within_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let (key, file) = (dir.path().join("memo.key"), dir.path().join("memo"));
        let memo = VerificationMemo::open_bounded(&key, &file, 8).unwrap();
        for i in 0..100 {
            memo.insert(&label(i));
            assert!(
                memo.tags.read().unwrap().len() <= 16,
                "at most two generations"
            );
        }
        assert!(memo.contains(&label(99)) && memo.contains(&label(88)));
        assert!(!memo.contains(&label(0)), "the oldest were dropped");
        assert!(memo.tags.read().unwrap().fresh.len() <= 16);

        memo.save().unwrap();
        assert!(
            std::fs::metadata(&file).unwrap().len() <= (16 * TAG_LEN) as u64,
            "the file is written anew, not appended to past the bound"
        );
        let again = VerificationMemo::open_bounded(&key, &file, 8).unwrap();
        assert!(again.contains(&label(99)) && again.contains(&label(88)));
        assert!(!again.contains(&label(0)));

        // After the rewrite, what is learnt is appended again.
        again.insert(&label(1000));
        again.save().unwrap();
        let third = VerificationMemo::open_bounded(&key, &file, 8).unwrap();
        assert!(third.contains(&label(1000)) && third.contains(&label(99)));
    }

    #[test]
    fn a_memo_file_over_the_bound_is_discarded() {
        let dir = tempfile::tempdir().unwrap();
        let (key, file) = (dir.path().join("memo.key"), dir.path().join("memo"));
        let memo = VerificationMemo::open_bounded(&key, &file, 8).unwrap();
        for i in 0..16 {
            memo.insert(&label(i));
        }
        memo.save().unwrap();
        let full = VerificationMemo::open_bounded(&key, &file, 8).unwrap();
        assert!(
            full.contains(&label(0)) && full.contains(&label(15)),
            "16 tags fit"
        );

        std::fs::write(&file, vec![0u8; 17 * TAG_LEN]).unwrap();
        let over = VerificationMemo::open_bounded(&key, &file, 8).unwrap();
        assert_eq!(over.tags.read().unwrap().len(), 0);
        assert!(!file.exists(), "a memo file over the bound is removed");
    }
}
