//! Walking the roots in path order, one folder listing at a time.
//!
//! The walk yields files in the byte order of their full paths (a folder's entries are
//! sorted, a sub-folder sorting as its name followed by `/`), so the inventory's file list
//! comes out sorted without a global sort, and the walk holds only the listings of the
//! folders on the current path: its memory does not grow with the size of the share.
//!
//! Symbolic links are not followed (a link can point outside the share or loop);
//! `.fuda` sidecar folders and fuda's own temporary files are skipped. A folder that
//! cannot be read inside a root is reported (and becomes a finding); a root that cannot be
//! read is an error, raised before anything is walked.
//!
//! Folders are listed through [`fuda_core::longpath`], so the walk descends past
//! `PATH_MAX` (4,096 bytes); ordinary paths pay nothing for it.

use std::cmp::Ordering;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use fuda_core::longpath;

use super::InventoryError;

/// A regular file found by the walk (by the type the folder listing gives, without a
/// `stat` of its own: the label reader reads its metadata once, with the label).
#[derive(Clone, Debug)]
pub struct Found {
    /// The file.
    pub path: PathBuf,
    /// The root it was found under, as the ledger shows it (shared by all its files).
    pub root: Arc<str>,
}

/// A folder or file below a root that could not be read, with the reason.
pub type Unreadable = (PathBuf, String);

/// Whether the walk skips this name (sidecar folders, fuda's temporary files).
pub fn is_ignored(name: &str) -> bool {
    name == fuda_core::store::sidecar::SIDECAR_DIR
        || (name.starts_with('.') && name.contains(".fuda-tmp-"))
}

/// One entry of a folder listing.
struct Entry {
    name: OsString,
    dir: bool,
}

impl Entry {
    /// Order of full paths: a folder sorts as its name followed by `/`.
    fn path_order(&self, other: &Entry) -> Ordering {
        self.key().cmp(other.key())
    }

    fn key(&self) -> impl Iterator<Item = u8> + '_ {
        let slash: &[u8] = if self.dir { b"/" } else { b"" };
        self.name.as_encoded_bytes().iter().chain(slash).copied()
    }
}

/// The roots to walk, checked: sorted in path order, each a folder or a file (`a/b/` and
/// `a/./b` taken as `a/b`); a root that the walk of another root reaches is dropped, so its
/// files count once. A root below another that the walk does not reach (through a
/// symbolic link, an unreadable or skipped folder) is kept and walked on its own.
pub fn roots(roots: &[PathBuf]) -> Result<Vec<(PathBuf, bool)>, InventoryError> {
    let mut checked = Vec::with_capacity(roots.len());
    for given in roots {
        let error = |source| InventoryError::Root {
            path: given.clone(),
            source,
        };
        let root: PathBuf = given.components().collect();
        let meta = longpath::metadata(&root).map_err(error)?;
        if meta.is_dir() {
            // Fail now, before any output, if the root itself cannot be listed.
            longpath::read_dir(&root).map_err(error)?;
            checked.push((root, true));
        } else if meta.is_file() {
            checked.push((root, false));
        }
    }
    checked.sort_by(|a, b| {
        let entry = |(p, dir): &(PathBuf, bool)| Entry {
            name: p.clone().into_os_string(),
            dir: *dir,
        };
        entry(a).path_order(&entry(b))
    });
    let mut kept: Vec<(PathBuf, bool)> = Vec::with_capacity(checked.len());
    for root in checked {
        let walked = kept
            .iter()
            .any(|(k, dir)| *k == root.0 || *dir && reached_by(k, &root.0));
        if !walked {
            kept.push(root);
        }
    }
    Ok(kept)
}

/// Whether walking the folder `outer` reaches `inner`: every folder on the way can be
/// listed, and it and `inner` are real folders (or, last, a regular file) with names the
/// walk does not skip.
fn reached_by(outer: &Path, inner: &Path) -> bool {
    let Ok(below) = inner.strip_prefix(outer) else {
        return false;
    };
    let mut at = outer.to_path_buf();
    for part in below.components() {
        let Component::Normal(name) = part else {
            return false;
        };
        if longpath::read_dir(&at).is_err() || name.to_str().is_some_and(is_ignored) {
            return false;
        }
        at.push(name);
        match longpath::symlink_metadata(&at) {
            Ok(m) if m.is_dir() || m.is_file() && at == inner => {}
            _ => return false,
        }
    }
    true
}

/// Walks `roots` (from [`roots`]) in path order, handing the files to `emit` `chunk` at a
/// time; stops early when `emit` returns `false`. Returns what could not be read.
pub fn ordered(
    roots: &[(PathBuf, bool)],
    chunk: usize,
    mut emit: impl FnMut(Vec<Found>) -> bool,
) -> Vec<Unreadable> {
    let mut unreadable = Vec::new();
    let mut batch = Vec::with_capacity(chunk);
    // Adds a file; hands the batch over when it is full. False: stop.
    let mut add = |found: Found, batch: &mut Vec<Found>| {
        batch.push(found);
        batch.len() < chunk || emit(std::mem::replace(batch, Vec::with_capacity(chunk)))
    };
    for (root_path, is_dir) in roots {
        let root: Arc<str> = Arc::from(&*super::display_path(root_path));
        if !is_dir {
            let found = Found {
                path: root_path.clone(),
                root,
            };
            if !add(found, &mut batch) {
                return unreadable;
            }
            continue;
        }
        // The listings of the folders on the current path, deepest last.
        let mut stack = vec![(root_path.clone(), list(root_path, &mut unreadable))];
        while let Some((dir, entries)) = stack.last_mut() {
            let Some(entry) = entries.next() else {
                stack.pop();
                continue;
            };
            let path = dir.join(&entry.name);
            if entry.dir {
                let listing = list(&path, &mut unreadable);
                stack.push((path, listing));
                continue;
            }
            let found = Found {
                path,
                root: Arc::clone(&root),
            };
            if !add(found, &mut batch) {
                return unreadable;
            }
        }
    }
    if !batch.is_empty() {
        emit(batch);
    }
    unreadable
}

/// The files and sub-folders of `dir`, in path order.
fn list(dir: &Path, unreadable: &mut Vec<Unreadable>) -> std::vec::IntoIter<Entry> {
    let mut out = Vec::new();
    match longpath::read_dir(dir) {
        Err(e) => unreadable.push((dir.to_owned(), e.to_string())),
        Ok(entries) => {
            for entry in entries {
                let entry = match entry {
                    Ok(e) => e,
                    Err(e) => {
                        unreadable.push((dir.to_owned(), e.to_string()));
                        continue;
                    }
                };
                let name = entry.file_name();
                if name.to_str().is_some_and(is_ignored) {
                    continue;
                }
                match entry.file_type() {
                    Ok(t) if t.is_dir() => out.push(Entry { name, dir: true }),
                    Ok(t) if t.is_file() => out.push(Entry { name, dir: false }),
                    Ok(_) => {}
                    Err(e) => unreadable.push((dir.join(entry.file_name()), e.to_string())),
                }
            }
        }
    }
    out.sort_unstable_by(Entry::path_order);
    out.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk_all(roots: &[PathBuf], chunk: usize) -> Vec<String> {
        let mut seen = Vec::new();
        let checked = super::roots(roots).unwrap();
        let unreadable = ordered(&checked, chunk, |files| {
            assert!(files.len() <= chunk);
            seen.extend(
                files
                    .into_iter()
                    .map(|f| f.path.to_string_lossy().into_owned()),
            );
            true
        });
        assert!(unreadable.is_empty(), "{unreadable:?}");
        seen
    }

    #[test]
    fn files_come_in_the_byte_order_of_their_paths_and_once() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        // `a-b` < `a/…` < `a0` in bytes ('-' < '/' < '0'): a naive per-folder sort by name
        // would give a, a-b, a0.
        for rel in [
            "a/x.txt",
            "a/y/z.txt",
            "a-b/f.txt",
            "a0.txt",
            "b.txt",
            ".fuda/idx",
            "c/d/e/f.txt",
        ] {
            let p = base.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"x").unwrap();
        }
        std::os::unix::fs::symlink(base.join("a"), base.join("link")).unwrap();
        let mut want: Vec<String> = [
            "a/x.txt",
            "a/y/z.txt",
            "a-b/f.txt",
            "a0.txt",
            "b.txt",
            "c/d/e/f.txt",
        ]
        .iter()
        .map(|r| base.join(r).to_string_lossy().into_owned())
        .collect();
        want.sort();
        for chunk in [1, 2, 512] {
            assert_eq!(walk_all(&[base.to_owned()], chunk), want);
        }
        // A root inside another root, the same root twice, and a file root inside a root:
        // every file once.
        let nested = [
            base.join("a"),
            base.to_owned(),
            base.to_owned(),
            base.join("b.txt"),
        ];
        assert_eq!(walk_all(&nested, 3), want);
        // A trailing slash names the same folder; a nested root whose name sorts before
        // `/` is still inside it.
        let slashed = [
            PathBuf::from(format!("{}/", base.display())),
            base.join("a-b"),
            base.join("./a"),
        ];
        assert_eq!(walk_all(&slashed, 3), want);
        // The walk does not follow links: a root reached only through one is walked too.
        let linked = walk_all(&[base.to_owned(), base.join("link")], 2);
        let through_link: Vec<String> = ["link/x.txt", "link/y/z.txt"]
            .iter()
            .map(|r| base.join(r).to_string_lossy().into_owned())
            .collect();
        assert_eq!(linked, [want.clone(), through_link].concat());
        // Many file roots: still handed over a chunk at a time.
        let files: Vec<PathBuf> = (0..7).map(|_| base.join("b.txt")).collect();
        assert_eq!(walk_all(&files, 2), [base.join("b.txt").to_string_lossy()]);
        let many: Vec<PathBuf> = want.iter().map(PathBuf::from).collect();
        assert_eq!(walk_all(&many, 2), want);
        // Two sibling roots whose names sort differently from their paths.
        let siblings = [base.join("a0.txt"), base.join("a"), base.join("a-b")];
        assert_eq!(
            walk_all(&siblings, 2),
            want[..4].to_vec(),
            "a-b/…, a/…, a0.txt"
        );
    }

    #[test]
    fn a_file_past_4096_bytes_is_found_in_path_order() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        let mut deep = base.to_owned();
        while !longpath::is_long(&deep) {
            deep.push("深".repeat(60));
            std::fs::create_dir(&*longpath::reach(&deep).unwrap()).unwrap();
        }
        let file = deep.join("図面.txt");
        std::fs::write(&*longpath::reach(&file).unwrap(), b"x").unwrap();
        std::fs::write(base.join("a.txt"), b"x").unwrap();
        let want = [base.join("a.txt"), file.clone()].map(|p| p.to_string_lossy().into_owned());
        assert_eq!(walk_all(&[base.to_owned()], 1), want);
        // A deep folder given as a root is walked too.
        assert_eq!(walk_all(&[deep], 4), want[1..]);
    }
}
