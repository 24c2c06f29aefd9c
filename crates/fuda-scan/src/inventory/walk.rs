//! Walking the roots in parallel: every directory is read by its own rayon task, so a
//! share with many folders keeps every core busy while the disk answers.
//!
//! Symbolic links are not followed (a link can point outside the share or loop);
//! `.fuda` sidecar folders and fuda's own temporary files are skipped. A folder that
//! cannot be read inside a root is reported (and becomes a finding); a root that cannot be
//! read is an error.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

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

/// What the walk found.
#[derive(Debug, Default)]
pub struct Walked {
    /// Regular files, in no particular order.
    pub files: Vec<Found>,
    /// Folders and files below a root that could not be read, with the reason.
    pub unreadable: Vec<(PathBuf, String)>,
}

/// Whether the walk skips this name (sidecar folders, fuda's temporary files).
pub fn is_ignored(name: &str) -> bool {
    name == fuda_core::store::sidecar::SIDECAR_DIR
        || (name.starts_with('.') && name.contains(".fuda-tmp-"))
}

/// Walks `roots` (absolute paths) on the current rayon pool.
pub fn walk(roots: &[PathBuf]) -> Result<Walked, InventoryError> {
    let out = Mutex::new(Walked::default());
    let mut dirs = Vec::new();
    for root in roots {
        let meta = std::fs::metadata(root).map_err(|source| InventoryError::Root {
            path: root.clone(),
            source,
        })?;
        if meta.is_dir() {
            // Fail now, before any output, if the root itself cannot be listed.
            std::fs::read_dir(root).map_err(|source| InventoryError::Root {
                path: root.clone(),
                source,
            })?;
            dirs.push(root.clone());
        } else if meta.is_file() {
            let found = Found {
                path: root.clone(),
                root: Arc::from(super::display_path(root)),
            };
            push(&out, vec![found], Vec::new());
        }
    }
    rayon::scope(|s| {
        for dir in dirs {
            let out = &out;
            let root: Arc<str> = Arc::from(super::display_path(&dir));
            s.spawn(move |s| visit(s, dir, root, out));
        }
    });
    Ok(out.into_inner().expect("walk lock"))
}

fn push(out: &Mutex<Walked>, files: Vec<Found>, unreadable: Vec<(PathBuf, String)>) {
    let mut w = out.lock().expect("walk lock");
    w.files.extend(files);
    w.unreadable.extend(unreadable);
}

fn visit<'s>(s: &rayon::Scope<'s>, dir: PathBuf, root: Arc<str>, out: &'s Mutex<Walked>) {
    let mut files = Vec::new();
    let mut unreadable = Vec::new();
    match std::fs::read_dir(&dir) {
        Err(e) => unreadable.push((dir, e.to_string())),
        Ok(entries) => {
            for entry in entries {
                let entry = match entry {
                    Ok(e) => e,
                    Err(e) => {
                        unreadable.push((dir.clone(), e.to_string()));
                        continue;
                    }
                };
                let name = entry.file_name();
                if name.to_str().is_some_and(is_ignored) {
                    continue;
                }
                let path = entry.path();
                let file_type = match entry.file_type() {
                    Ok(t) => t,
                    Err(e) => {
                        unreadable.push((path, e.to_string()));
                        continue;
                    }
                };
                if file_type.is_dir() {
                    let root = Arc::clone(&root);
                    s.spawn(move |s| visit(s, path, root, out));
                } else if file_type.is_file() {
                    files.push(Found {
                        path,
                        root: Arc::clone(&root),
                    });
                }
            }
        }
    }
    push(out, files, unreadable);
}
