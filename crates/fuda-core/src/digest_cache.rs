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
//! Each entry is 48 bytes, in memory as on disk: a 128-bit id (SHA-256 of the stamp and
//! of what the digest covers) and the digest, sorted by id, looked up by binary search
//! without a lock. A million files cost 48 MB.
//!
//! The cache file ends with an HMAC-SHA-256 over its records, keyed with the per-user
//! secret of the verification memo (`memo.key`, 0600): a cache someone else wrote or
//! altered is ignored, not believed. The file holds no secrets and may be deleted at any
//! time; the next run is then as slow as the first.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ring::hmac;
use zeroize::Zeroizing;

use crate::digest::Digest;
use crate::learnt::Learnt;
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
/// Entries kept at most; beyond this, only those used in the last run are saved.
const MAX_ENTRIES: usize = 2_000_000;
/// What the file starts with.
const MAGIC: &[u8; 16] = b"fuda-digests-v2\n";
const ID_LEN: usize = 16;
const RECORD: usize = ID_LEN + 32;
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

    /// The cache id of this version's digest as `covers` computes it.
    fn id(self, covers: Covers) -> [u8; ID_LEN] {
        let mut out = [0; 64];
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
        out[56] = covers as u8;
        let hash = ring::digest::digest(&ring::digest::SHA256, &out);
        hash.as_ref()[..ID_LEN].try_into().expect("16 bytes")
    }
}

/// Remembered content digests; shared by the threads of one run.
pub struct DigestCache {
    key: hmac::Key,
    path: PathBuf,
    /// Entries older than this (Unix seconds) may be remembered.
    settled_before: i64,
    /// The records read at start, sorted by id.
    known: Vec<u8>,
    /// One bit per known record: used in this run.
    used: Vec<AtomicU64>,
    /// Records learnt in this run.
    fresh: Learnt<[u8; RECORD]>,
}

impl std::fmt::Debug for DigestCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestCache")
            .field("path", &self.path)
            .field("known", &(self.known.len() / RECORD))
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
        let known = std::fs::read(path)
            .ok()
            .and_then(|bytes| records(&key, bytes))
            .unwrap_or_default();
        DigestCache {
            key,
            path: path.to_owned(),
            settled_before: now - SETTLE_SECS,
            used: (0..(known.len() / RECORD).div_ceil(64))
                .map(|_| AtomicU64::new(0))
                .collect(),
            known,
            fresh: Learnt::default(),
        }
    }

    /// A cache that starts empty and is never saved.
    pub fn ephemeral(now: i64) -> DigestCache {
        DigestCache {
            key: hmac::Key::new(hmac::HMAC_SHA256, b""),
            path: PathBuf::new(),
            settled_before: now - SETTLE_SECS,
            known: Vec::new(),
            used: Vec::new(),
            fresh: Learnt::default(),
        }
    }

    /// The digest remembered for this exact version of a file, as `store` computes it.
    pub fn get(&self, stamp: &FileStamp, store: StoreKind) -> Option<Digest> {
        let id = stamp.id(Covers::of(store));
        let i = self.find(&id)?;
        self.used[i / 64].fetch_or(1 << (i % 64), Ordering::Relaxed);
        let record = &self.known[i * RECORD..(i + 1) * RECORD];
        Some(Digest(record[ID_LEN..].try_into().expect("32 bytes")))
    }

    /// The index of the known record with this id. Ids are SHA-256 output, evenly spread,
    /// so interpolating between the ends of the range finds it in two or three probes of a
    /// million records; after a few rounds it falls back to halving the range.
    fn find(&self, id: &[u8; ID_LEN]) -> Option<usize> {
        let id_at = |i: usize| &self.known[i * RECORD..i * RECORD + ID_LEN];
        let prefix = |id: &[u8]| u64::from_be_bytes(id[..8].try_into().expect("8 bytes"));
        let want = prefix(id);
        let (mut lo, mut hi) = (0, self.known.len() / RECORD);
        let mut rounds = 0;
        while lo < hi {
            let (first, last) = (prefix(id_at(lo)), prefix(id_at(hi - 1)));
            if want < first || want > last {
                return None;
            }
            let mid = if rounds < 8 && last > first {
                let offset = u128::from(want - first) * (hi - 1 - lo) as u128;
                lo + (offset / u128::from(last - first)) as usize
            } else {
                lo + (hi - lo) / 2
            };
            rounds += 1;
            match id_at(mid).cmp(id.as_slice()) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// Remembers a digest that `store` computed now from a file whose metadata, read
    /// before its content, gave `stamp`; recently changed files are not remembered.
    pub fn insert(&self, stamp: FileStamp, store: StoreKind, digest: Digest) {
        if stamp.mtime.0 >= self.settled_before || stamp.ctime.0 >= self.settled_before {
            return;
        }
        let mut record = [0; RECORD];
        record[..ID_LEN].copy_from_slice(&stamp.id(Covers::of(store)));
        record[ID_LEN..].copy_from_slice(&digest.0);
        self.fresh.push(record);
    }

    /// Writes the cache back (atomically, 0600): what was known and what was learnt.
    /// Past [`MAX_ENTRIES`], only the entries used in this run are kept.
    pub fn save(&self) -> std::io::Result<()> {
        if self.path.as_os_str().is_empty() {
            return Ok(());
        }
        let fresh = self.fresh.take("digest cache")?;
        let count = self.known.len() / RECORD;
        let unused = (0..count).filter(|&i| !self.was_used(i)).count();
        if fresh.is_empty() && (unused == 0 || count <= MAX_ENTRIES) {
            return Ok(()); // nothing to add or drop
        }
        let keep_all = count + fresh.len() <= MAX_ENTRIES;
        let mut all: Vec<&[u8]> = self
            .known
            .chunks_exact(RECORD)
            .enumerate()
            .filter(|(i, _)| keep_all || self.was_used(*i))
            .map(|(_, r)| r)
            .chain(fresh.iter().map(|r| r.as_slice()))
            .collect();
        all.sort_unstable_by(|a, b| a[..ID_LEN].cmp(&b[..ID_LEN]));
        all.dedup_by(|a, b| a[..ID_LEN] == b[..ID_LEN]);
        let mut bytes = Vec::with_capacity(MAGIC.len() + all.len() * RECORD + MAC_LEN);
        bytes.extend_from_slice(MAGIC);
        for record in all {
            bytes.extend_from_slice(record);
        }
        let mac = hmac::sign(&self.key, &bytes);
        bytes.extend_from_slice(mac.as_ref());
        let dir = self.path.parent().unwrap_or(Path::new("."));
        crate::fsutil::create_private_dir(dir)?;
        let mut tmp = crate::fsutil::TempSibling::new(&self.path, 0o600)?;
        tmp.file().write_all(&bytes)?;
        tmp.commit(&self.path)
    }

    fn was_used(&self, i: usize) -> bool {
        self.used[i / 64].load(Ordering::Relaxed) & (1 << (i % 64)) != 0
    }
}

/// The records of a cache file whose MAC checks, sorted by id.
fn records(key: &hmac::Key, mut bytes: Vec<u8>) -> Option<Vec<u8>> {
    let body_len = bytes.len().checked_sub(MAC_LEN)?;
    let (body, mac) = bytes.split_at(body_len);
    let records = body.strip_prefix(MAGIC.as_slice())?;
    if records.len() % RECORD != 0 {
        return None;
    }
    hmac::verify(key, body, mac).ok()?;
    let sorted = records
        .chunks_exact(RECORD)
        .zip(records.chunks_exact(RECORD).skip(1))
        .all(|(a, b)| a[..ID_LEN] < b[..ID_LEN]);
    if !sorted {
        return None;
    }
    bytes.truncate(body_len);
    bytes.drain(..MAGIC.len());
    Some(bytes)
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
        bad[MAGIC.len() + 30] ^= 1;
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

    #[test]
    fn every_one_of_many_entries_is_found_and_no_other() {
        let (_dir, key, path) = setup();
        let now = 1_800_000_000;
        let cache = DigestCache::open(&key, &path, now);
        for ino in 0..5000u64 {
            let digest = Digest([(ino % 251) as u8; 32]);
            cache.insert(stamp(ino, now - 100), StoreKind::Xattr, digest);
        }
        cache.save().unwrap();
        let again = DigestCache::open(&key, &path, now);
        for ino in 0..5000u64 {
            let got = again.get(&stamp(ino, now - 100), StoreKind::Xattr);
            assert_eq!(got, Some(Digest([(ino % 251) as u8; 32])), "inode {ino}");
            assert_eq!(
                again.get(&stamp(ino + 5000, now - 100), StoreKind::Xattr),
                None
            );
        }
    }
}
