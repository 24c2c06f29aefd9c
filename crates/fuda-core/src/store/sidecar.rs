//! Labels in a per-directory index, for file systems that refuse user xattrs.
//!
//! The index is `.fuda/labels.json` in the file's directory: a JSON object mapping file
//! names to base64 compact labels. A name that is not UTF-8 (a CP932 share) is kept in a
//! second object, `labels_by_bytes`, keyed by the standard base64 of its raw bytes; indexes
//! without it read as before. Updates take an exclusive lock on `.fuda/lock`, then
//! rewrite the index atomically. A sidecar label does not travel with the file: moving or
//! copying the file leaves it behind, which is why fuda uses it only when asked to or when
//! xattrs are refused — and says so.

use std::collections::{BTreeMap, HashMap};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::{
    decode_stored, ensure_writable, reach, LabelStore, StoreError, StoreKind, Stored, WriteContext,
};
use crate::digest::Digest;
use crate::label::{compact, SignedLabel};
use crate::policy::Policy;

/// Name of the per-directory folder.
pub const SIDECAR_DIR: &str = ".fuda";
const INDEX: &str = "labels.json";

/// The sidecar label store.
#[derive(Debug, Default, Clone, Copy)]
pub struct SidecarStore;

#[derive(Serialize, Deserialize, Default)]
struct Index {
    version: u32,
    labels: BTreeMap<String, String>,
    /// Labels of names that are not UTF-8, keyed by the base64 of the name's bytes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    labels_by_bytes: BTreeMap<String, String>,
}

/// Where a file's label sits in its folder's index.
enum Key {
    /// A UTF-8 name, in `labels`.
    Text(String),
    /// Any other name, as base64 of its bytes, in `labels_by_bytes`.
    Bytes(String),
}

impl Index {
    fn map<'a>(&'a self, key: &'a Key) -> (&'a BTreeMap<String, String>, &'a str) {
        match key {
            Key::Text(k) => (&self.labels, k),
            Key::Bytes(k) => (&self.labels_by_bytes, k),
        }
    }

    fn map_mut(&mut self, key: Key) -> (&mut BTreeMap<String, String>, String) {
        match key {
            Key::Text(k) => (&mut self.labels, k),
            Key::Bytes(k) => (&mut self.labels_by_bytes, k),
        }
    }
}

fn locate(path: &Path) -> Result<(PathBuf, Key), StoreError> {
    use std::os::unix::ffi::OsStrExt;
    let name = path
        .file_name()
        .ok_or_else(|| StoreError::NotFound(path.to_owned()))?;
    let key = match name.to_str() {
        Some(text) => Key::Text(text.to_owned()),
        None => Key::Bytes(base64::engine::general_purpose::STANDARD.encode(name.as_bytes())),
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok((dir.join(SIDECAR_DIR), key))
}

fn load(dir: &Path) -> Result<Index, StoreError> {
    let path = dir.join(INDEX);
    match std::fs::read(&*reach(&path)?) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::BadSidecar {
            path,
            reason: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index {
            version: 1,
            ..Index::default()
        }),
        Err(e) => Err(StoreError::io(&path, e)),
    }
}

/// Runs `change` on the index of `dir` under an exclusive lock and saves the result.
fn update<T>(dir: &Path, change: impl FnOnce(&mut Index) -> T) -> Result<T, StoreError> {
    std::fs::create_dir_all(&*reach(dir)?).map_err(|e| StoreError::io(dir, e))?;
    let lock_path = dir.join("lock");
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).write(true);
    let lock =
        crate::longpath::open(&options, &lock_path).map_err(|e| StoreError::io(&lock_path, e))?;
    lock.lock().map_err(|e| StoreError::io(&lock_path, e))?;
    let mut index = load(dir)?;
    let result = change(&mut index);
    let text = serde_json::to_vec_pretty(&index).expect("index serialises");
    let index_path = dir.join(INDEX);
    crate::fsutil::write_atomic(&index_path, &text, 0o644)
        .map_err(|e| StoreError::io(&index_path, e))?;
    Ok(result)
}

/// `Path::exists` for a path of any length.
fn exists(path: &Path) -> bool {
    crate::longpath::metadata(path).is_ok()
}

fn lookup(index: &Index, key: &Key) -> Option<Stored> {
    let (labels, name) = index.map(key);
    labels.get(name).map(
        |b64| match base64::engine::general_purpose::STANDARD.decode(b64) {
            Ok(bytes) => decode_stored(&bytes),
            Err(e) => Stored::Corrupt(format!("the label value is not base64: {e}")),
        },
    )
}

/// Sidecar indexes read once per folder, for reading the labels of many files in a row
/// (an inventory): without it every file would read its folder's whole index again.
///
/// The cache holds what was on disk when each folder was first asked about; use it for
/// one pass over files, not across changes.
#[derive(Default)]
pub struct SidecarCache {
    /// Per sidecar folder: its index (`None` when there is none), or why it is unreadable.
    folders: HashMap<PathBuf, Result<Option<Index>, String>>,
}

impl std::fmt::Debug for SidecarCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SidecarCache")
            .field("folders", &self.folders.len())
            .finish()
    }
}

impl SidecarCache {
    /// What the sidecar index beside `path` holds for it, as [`SidecarStore`] reads it.
    /// A corrupt index is remembered (and reported for every file); an index that could
    /// not be read is tried again for the next file.
    pub fn read(&mut self, path: &Path) -> Result<Option<Stored>, StoreError> {
        let (dir, name) = locate(path)?;
        let index_path = dir.join(INDEX);
        if !self.folders.contains_key(&dir) {
            let loaded = if exists(&index_path) {
                match load(&dir) {
                    Ok(index) => Ok(Some(index)),
                    Err(StoreError::BadSidecar { reason, .. }) => Err(reason),
                    Err(e) => return Err(e),
                }
            } else {
                Ok(None)
            };
            self.folders.insert(dir.clone(), loaded);
        }
        match &self.folders[&dir] {
            Ok(index) => Ok(index.as_ref().and_then(|i| lookup(i, &name))),
            Err(reason) => Err(StoreError::BadSidecar {
                path: index_path,
                reason: reason.clone(),
            }),
        }
    }
}

impl LabelStore for SidecarStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Sidecar
    }

    fn read(&self, path: &Path) -> Result<Option<Stored>, StoreError> {
        let (dir, name) = locate(path)?;
        if !exists(&dir.join(INDEX)) {
            return Ok(None);
        }
        Ok(lookup(&load(&dir)?, &name))
    }

    fn content_digest(&self, path: &Path) -> Result<Digest, StoreError> {
        Digest::of_file(path).map_err(|e| StoreError::io(path, e))
    }

    fn write(
        &self,
        path: &Path,
        ctx: WriteContext<'_>,
        sign: &mut dyn FnMut(Digest) -> SignedLabel,
    ) -> Result<SignedLabel, StoreError> {
        ensure_writable(path)?;
        let signed = sign(ctx.whole_file_digest(path)?);
        let (dir, name) = locate(path)?;
        let value = base64::engine::general_purpose::STANDARD.encode(compact::encode(&signed));
        update(&dir, |index| {
            let (labels, name) = index.map_mut(name);
            labels.insert(name, value)
        })?;
        Ok(signed)
    }

    fn remove(&self, path: &Path, _policy: &Policy) -> Result<bool, StoreError> {
        let (dir, name) = locate(path)?;
        if !exists(&dir.join(INDEX)) {
            return Ok(false);
        }
        update(&dir, |index| {
            let (labels, name) = index.map_mut(name);
            labels.remove(&name).is_some()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn an_index_written_before_names_by_bytes_still_reads() {
        let old = br#"{"version": 1, "labels": {"memo.txt": "AAAA"}}"#;
        let index: Index = serde_json::from_slice(old).unwrap();
        assert_eq!(index.labels["memo.txt"], "AAAA");
        assert!(index.labels_by_bytes.is_empty());
        let text = serde_json::to_string(&index).unwrap();
        assert!(!text.contains("labels_by_bytes"), "{text}");
    }

    #[test]
    fn a_cp932_name_is_keyed_by_its_bytes() {
        let name = OsStr::from_bytes(b"\x8b\xc9\x94\xe9.txt");
        let (dir, key) = locate(&Path::new("/share").join(name)).unwrap();
        assert_eq!(dir, Path::new("/share/.fuda"));
        let mut index = Index::default();
        let (labels, k) = index.map_mut(key);
        labels.insert(k, "AAAA".into());
        assert!(index.labels.is_empty());
        let (_, again) = locate(&Path::new("/share").join(name)).unwrap();
        assert!(lookup(&index, &again).is_some());
    }
}
