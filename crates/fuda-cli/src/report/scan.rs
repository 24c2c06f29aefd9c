//! Which files need their label read again: a walk of the roots (the inventory's walk, in
//! the byte order of the paths) that only looks at each file's metadata, merged with the
//! acknowledged state in the same order.
//!
//! A file whose metadata is as it was when its record was acknowledged is skipped: its
//! content (modification time, size), its extended attributes (change time: setting an
//! xattr label moves it), its identity (device, inode: a file replaced by a rename) and
//! its folder's sidecar index (the `.fuda` folder's times: the index is replaced by a
//! rename) are all unchanged, so its label reads as before. A change of policy or of the
//! trusted signers makes every stamp untrusted ([`super::state::State::stamps_valid`]).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

use anyhow::Result;
use fuda_core::longpath;
use fuda_ledger::inventory::walk;
use rayon::prelude::*;

use super::state::{short, Acked, Short, Snapshot};

/// A file to read: new, or its metadata changed since its record was acknowledged.
#[derive(Debug)]
pub struct Candidate {
    /// The file.
    pub path: PathBuf,
    /// The root it was found under (as the inventory names it).
    pub root: Arc<str>,
    /// Digest of its metadata now.
    pub stamp: Short,
    /// Digest of the record the service holds, if it holds one.
    pub acked: Option<Short>,
}

/// What the walk found against the acknowledged state.
#[derive(Debug, Default)]
pub struct Plan {
    /// Files to read, in path order.
    pub candidates: Vec<Candidate>,
    /// Acknowledged files under the roots that are gone.
    pub removed: Vec<PathBuf>,
    /// Files skipped: metadata unchanged.
    pub unchanged: usize,
}

/// A file found by the walk, with its metadata's digest.
struct Seen {
    path: PathBuf,
    root: Arc<str>,
    stamp: Short,
}

/// Digest of what a file's label reading depends on besides the policy and signers.
pub fn stamp(meta: &std::fs::Metadata, sidecar: Option<&std::fs::Metadata>) -> Short {
    let mut bytes = Vec::with_capacity(80);
    for m in std::iter::once(meta).chain(sidecar) {
        for v in [
            m.dev() as i64,
            m.ino() as i64,
            m.size() as i64,
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec(),
        ] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
    }
    short(&bytes)
}

/// The stamp of `path` now (`None`: it cannot be read, or is no longer a regular file).
pub fn stamp_of(path: &Path) -> Option<Short> {
    let sidecar = path.parent().and_then(sidecar_of);
    stamp_with(path, sidecar.as_ref())
}

/// The metadata of `dir`'s sidecar folder, if it has one.
fn sidecar_of(dir: &Path) -> Option<std::fs::Metadata> {
    longpath::symlink_metadata(&dir.join(fuda_core::store::sidecar::SIDECAR_DIR)).ok()
}

fn stamp_with(path: &Path, sidecar: Option<&std::fs::Metadata>) -> Option<Short> {
    let meta = longpath::symlink_metadata(path).ok()?;
    meta.is_file().then(|| stamp(&meta, sidecar))
}

/// Walks `roots` (absolute) on its own thread, stamping each chunk of files on the
/// worker threads; the chunks come in path order.
#[allow(clippy::type_complexity)]
fn walk_stamped(
    roots: Vec<(PathBuf, bool)>,
) -> (
    Receiver<Vec<Seen>>,
    std::thread::JoinHandle<Vec<walk::Unreadable>>,
) {
    let (tx, rx) = sync_channel::<Vec<Seen>>(8);
    let walker = std::thread::spawn(move || {
        walk::ordered(&roots, 1024, |chunk| {
            // One look at each folder's sidecar index per chunk (a chunk's files mostly
            // share a folder), not one per file.
            let mut sidecars: Vec<(PathBuf, Option<std::fs::Metadata>)> = Vec::new();
            for found in &chunk {
                let dir = found.path.parent().unwrap_or(Path::new("/"));
                if sidecars.last().is_none_or(|(d, _)| d != dir) {
                    sidecars.push((dir.to_owned(), sidecar_of(dir)));
                }
            }
            let seen: Vec<Seen> = chunk
                .into_par_iter()
                .filter_map(|found| {
                    let dir = found.path.parent().unwrap_or(Path::new("/"));
                    let sidecar = sidecars
                        .iter()
                        .rev()
                        .find(|(d, _)| d == dir)
                        .and_then(|(_, m)| m.as_ref());
                    Some(Seen {
                        stamp: stamp_with(&found.path, sidecar)?,
                        path: found.path,
                        root: found.root,
                    })
                })
                .collect();
            tx.send(seen).is_ok()
        })
    });
    (rx, walker)
}

/// Walks `roots` and compares every file with the acknowledged rows of `acked`.
/// `trust_stamps` false: every file found is a candidate.
pub fn plan(roots: &[PathBuf], acked: &Snapshot, trust_stamps: bool) -> Result<Plan> {
    let walk_roots = walk::roots(roots)?;
    let under: Vec<PathBuf> = walk_roots.iter().map(|(r, _)| r.clone()).collect();
    let (chunks, walker) = walk_stamped(walk_roots);
    let mut found = chunks.into_iter().flatten().peekable();
    let mut plan = Plan::default();
    let mut gone = Vec::new();
    let take = |seen: Seen, acked: Option<&Acked>, plan: &mut Plan| match acked {
        Some(a) if trust_stamps && a.stamp == seen.stamp => plan.unchanged += 1,
        _ => plan.candidates.push(Candidate {
            path: seen.path,
            root: seen.root,
            stamp: seen.stamp,
            acked: acked.map(|a| a.record),
        }),
    };
    acked.each(|row| {
        let row_key = row.path.as_os_str().as_encoded_bytes();
        // Files before this row are new.
        while let Some(seen) = found.next_if(|s| s.path.as_os_str().as_encoded_bytes() < row_key) {
            take(seen, None, &mut plan);
        }
        match found.next_if(|s| s.path.as_os_str() == row.path.as_os_str()) {
            Some(seen) => take(seen, Some(&row), &mut plan),
            None if under.iter().any(|r| row.path.starts_with(r)) => gone.push(row.path),
            None => {}
        }
        Ok(())
    })?;
    for seen in found {
        take(seen, None, &mut plan);
    }
    let unreadable = walker.join().expect("the walk does not panic");
    // A file in a folder that could not be listed this time is not known to be gone.
    plan.removed = gone
        .into_iter()
        .filter(|p| !unreadable.iter().any(|(dir, _)| p.starts_with(dir)))
        .collect();
    Ok(plan)
}
