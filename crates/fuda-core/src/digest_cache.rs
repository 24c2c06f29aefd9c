//! Content digests remembered between runs, so that checking an unchanged share does not
//! read every file again.
//!
//! Whether a label is stale needs the digest of the file's content now; for a share of a
//! million files that is a million opens and reads. The cache keeps, per user, the digest
//! of each file it hashed under the file's [`FileStamp`]: device, inode, size, and
//! modification and status-change times to the nanosecond. Writing a file changes its
//! modification and change times; `touch -d` can set the modification time back but not
//! the change time, which only the kernel sets. A file whose times are within
//! [`SETTLE_SECS`] of the run is not remembered (its content could still change within the
//! same clock tick), so a cached digest is always one of a file that has not changed since.
//!
//! The cache file ends with an HMAC-SHA-256 over its records, keyed with the per-user
//! secret of the verification memo (`memo.key`, 0600): a cache someone else wrote or
//! altered is ignored, not believed. The file holds no secrets and may be deleted at any
//! time; the next run is then as slow as the first.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ring::hmac;
use zeroize::Zeroizing;

use crate::digest::Digest;
use crate::store::StoreKind;

/// What a digest covers: the whole file (xattr and sidecar labels) or an Office document
/// without its label parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
enum Covers {
    WholeFile = 0,
    OfficeContent = 1,
}

impl Covers {
    fn of(kind: StoreKind) -> Covers {
        match kind {
            StoreKind::Ooxml => Covers::OfficeContent,
            _ => Covers::WholeFile,
        }
    }
}

/// Files changed this recently (seconds) are hashed but not remembered.
pub const SETTLE_SECS: i64 = 2;
/// Entries kept at most; beyond this, only those seen in the last run are saved.
const MAX_ENTRIES: usize = 4_000_000;
/// What the file starts with.
const MAGIC: &[u8; 16] = b"fuda-digests-v1\n";
const RECORD: usize = 8 * 8 + 32;
const MAC_LEN: usize = 32;

/// What identifies one version of a file's content without reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileStamp {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, seconds and nanoseconds.
    pub mtime: (i64, i64),
    /// Status change time, seconds and nanoseconds.
    pub ctime: (i64, i64),
}

impl FileStamp {
    /// The stamp of a file's metadata.
    pub fn of(meta: &std::fs::Metadata) -> FileStamp {
        FileStamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    fn to_bytes(self) -> [u8; 56] {
        let mut out = [0; 56];
        let fields = [
            self.dev,
            self.ino,
            self.size,
            self.mtime.0 as u64,
            self.mtime.1 as u64,
            self.ctime.0 as u64,
            self.ctime.1 as u64,
        ];
        for (chunk, field) in out.chunks_exact_mut(8).zip(fields) {
            chunk.copy_from_slice(&field.to_le_bytes());
        }
        out
    }

    fn from_bytes(b: &[u8]) -> FileStamp {
        let f = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        FileStamp {
            dev: f(0),
            ino: f(1),
            size: f(2),
            mtime: (f(3) as i64, f(4) as i64),
            ctime: (f(5) as i64, f(6) as i64),
        }
    }
}

/// Remembered content digests; shared by the threads of one run.
pub struct DigestCache {
    key: hmac::Key,
    path: PathBuf,
    /// Entries older than this (Unix seconds) may be remembered.
    settled_before: i64,
    entries: Mutex<HashMap<(FileStamp, Covers), Entry>>,
}

#[derive(Clone, Copy)]
struct Entry {
    digest: Digest,
    used: bool,
}

impl std::fmt::Debug for DigestCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestCache")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl DigestCache {
    /// Opens the cache at `path`, authenticated with the verification memo's secret in
    /// `key_path` (which [`crate::label::VerificationMemo::open`] creates). A missing,
    /// unreadable, altered or foreign cache starts empty; without the secret the cache is
    /// [ephemeral](DigestCache::ephemeral). `now` is the time of the run.
    pub fn open(key_path: &Path, path: &Path, now: i64) -> DigestCache {
        let secret = match std::fs::read(key_path) {
            Ok(bytes) if bytes.len() == 32 => Zeroizing::new(bytes),
            Ok(_) | Err(_) => return DigestCache::ephemeral(now),
        };
        let key = hmac::Key::new(
            hmac::HMAC_SHA256,
            &Zeroizing::new([b"fuda digest cache\0".as_slice(), &secret].concat()),
        );
        let entries = std::fs::read(path)
            .ok()
            .and_then(|bytes| parse(&key, &bytes))
            .unwrap_or_default();
        DigestCache {
            key,
            path: path.to_owned(),
            settled_before: now - SETTLE_SECS,
            entries: Mutex::new(entries),
        }
    }

    /// A cache that starts empty and is never saved.
    pub fn ephemeral(now: i64) -> DigestCache {
        DigestCache {
            key: hmac::Key::new(hmac::HMAC_SHA256, b""),
            path: PathBuf::new(),
            settled_before: now - SETTLE_SECS,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The digest remembered for this exact version of a file, as `store` computes it.
    pub fn get(&self, stamp: &FileStamp, store: StoreKind) -> Option<Digest> {
        let mut entries = self.entries.lock().ok()?;
        let entry = entries.get_mut(&(*stamp, Covers::of(store)))?;
        entry.used = true;
        Some(entry.digest)
    }

    /// Remembers a digest that `store` computed now from a file whose metadata, read
    /// before its content, gave `stamp`; recently changed files are not remembered.
    pub fn insert(&self, stamp: FileStamp, store: StoreKind, digest: Digest) {
        if stamp.mtime.0 >= self.settled_before || stamp.ctime.0 >= self.settled_before {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert((stamp, Covers::of(store)), Entry { digest, used: true });
        }
    }

    /// Writes the cache back (atomically, 0600). Past [`MAX_ENTRIES`], only the entries
    /// used in this run are kept.
    pub fn save(&self) -> std::io::Result<()> {
        if self.path.as_os_str().is_empty() {
            return Ok(());
        }
        let entries = self
            .entries
            .lock()
            .map_err(|_| std::io::Error::other("digest cache lock poisoned"))?;
        let keep_all = entries.len() <= MAX_ENTRIES;
        let mut bytes = Vec::with_capacity(MAGIC.len() + entries.len() * RECORD + MAC_LEN);
        bytes.extend_from_slice(MAGIC);
        for ((stamp, covers), entry) in entries.iter().filter(|(_, e)| keep_all || e.used) {
            bytes.extend_from_slice(&stamp.to_bytes());
            bytes.extend_from_slice(&u64::from(*covers as u8).to_le_bytes());
            bytes.extend_from_slice(&entry.digest.0);
        }
        let mac = hmac::sign(&self.key, &bytes);
        bytes.extend_from_slice(mac.as_ref());
        drop(entries);
        let dir = self.path.parent().unwrap_or(Path::new("."));
        crate::fsutil::create_private_dir(dir)?;
        let mut tmp = crate::fsutil::TempSibling::new(&self.path, 0o600)?;
        tmp.file().write_all(&bytes)?;
        tmp.commit(&self.path)
    }
}

/// The records of a cache file whose MAC checks.
fn parse(key: &hmac::Key, bytes: &[u8]) -> Option<HashMap<(FileStamp, Covers), Entry>> {
    let body = bytes.strip_prefix(MAGIC.as_slice())?;
    let (records, mac) = body.split_at_checked(body.len().checked_sub(MAC_LEN)?)?;
    if records.len() % RECORD != 0 {
        return None;
    }
    hmac::verify(key, &bytes[..bytes.len() - MAC_LEN], mac).ok()?;
    records
        .chunks_exact(RECORD)
        .map(|r| {
            let covers = match r[56] {
                0 => Covers::WholeFile,
                1 => Covers::OfficeContent,
                _ => return None,
            };
            let entry = Entry {
                digest: Digest(r[64..].try_into().expect("32 bytes")),
                used: false,
            };
            Some(((FileStamp::from_bytes(&r[..56]), covers), entry))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(ino: u64, mtime: i64) -> FileStamp {
        FileStamp {
            dev: 1,
            ino,
            size: 10,
            mtime: (mtime, 5),
            ctime: (mtime, 7),
        }
    }

    fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("memo.key");
        crate::fsutil::create_secret_file(&key, &[9; 32]).unwrap();
        let path = dir.path().join("cache").join("content-digests");
        (dir, key, path)
    }

    #[test]
    fn remembers_settled_files_across_runs_and_each_covering_apart() {
        let (_dir, key, path) = setup();
        let now = 1_800_000_000;
        let cache = DigestCache::open(&key, &path, now);
        cache.insert(stamp(1, now - 100), StoreKind::Xattr, Digest([1; 32]));
        cache.insert(stamp(2, now - 100), StoreKind::Ooxml, Digest([2; 32]));
        // Changed in the last SETTLE_SECS: hashed, not remembered.
        cache.insert(stamp(3, now - 1), StoreKind::Xattr, Digest([3; 32]));
        cache.save().unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );

        let again = DigestCache::open(&key, &path, now + 60);
        assert_eq!(
            again.get(&stamp(1, now - 100), StoreKind::Xattr),
            Some(Digest([1; 32]))
        );
        // A sidecar label covers the whole file, as an xattr label does.
        assert_eq!(
            again.get(&stamp(1, now - 100), StoreKind::Sidecar),
            Some(Digest([1; 32]))
        );
        assert_eq!(again.get(&stamp(1, now - 100), StoreKind::Ooxml), None);
        assert_eq!(
            again.get(&stamp(2, now - 100), StoreKind::Ooxml),
            Some(Digest([2; 32]))
        );
        assert_eq!(again.get(&stamp(3, now - 1), StoreKind::Xattr), None);
        // Any other size, time or inode is another version of the file.
        let mut other = stamp(1, now - 100);
        other.ctime.1 += 1;
        assert_eq!(again.get(&other, StoreKind::Xattr), None);
        other = stamp(1, now - 100);
        other.size += 1;
        assert_eq!(again.get(&other, StoreKind::Xattr), None);
    }

    #[test]
    fn an_altered_or_foreign_cache_is_ignored() {
        let (dir, key, path) = setup();
        let now = 1_800_000_000;
        let cache = DigestCache::open(&key, &path, now);
        cache.insert(stamp(1, now - 100), StoreKind::Xattr, Digest([1; 32]));
        cache.save().unwrap();
        let good = std::fs::read(&path).unwrap();

        // One digest byte changed: the MAC no longer checks.
        let mut bad = good.clone();
        bad[MAGIC.len() + 70] ^= 1;
        std::fs::write(&path, &bad).unwrap();
        assert_eq!(
            DigestCache::open(&key, &path, now).get(&stamp(1, now - 100), StoreKind::Xattr),
            None
        );

        // Another user's key.
        std::fs::write(&path, &good).unwrap();
        let other_key = dir.path().join("other.key");
        crate::fsutil::create_secret_file(&other_key, &[8; 32]).unwrap();
        let foreign = DigestCache::open(&other_key, &path, now);
        assert_eq!(foreign.get(&stamp(1, now - 100), StoreKind::Xattr), None);

        // Truncated.
        std::fs::write(&path, &good[..good.len() - 1]).unwrap();
        assert_eq!(
            DigestCache::open(&key, &path, now).get(&stamp(1, now - 100), StoreKind::Xattr),
            None
        );
    }
}
