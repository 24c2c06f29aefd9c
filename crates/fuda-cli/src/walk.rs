//! Expanding command-line paths into files, and running work on them in parallel.
//!
//! The walk lists each folder through [`fuda_core::longpath`], so it descends past
//! `PATH_MAX` (4,096 bytes) like any other depth; ordinary paths pay nothing for it.

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use fuda_core::longpath;
use fuda_core::pathname::escaped;
use rayon::prelude::*;

/// Expands `paths`: files as given, directories walked when `recursive` (symlinks are not
/// followed; `.fuda` folders and fuda's temporary files are skipped).
pub fn expand(paths: &[PathBuf], recursive: bool) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        let meta = match longpath::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                bail!("{}: no such file or directory", escaped(path))
            }
            Err(e) => bail!("{}: {e}", escaped(path)),
        };
        if meta.file_type().is_symlink() {
            bail!("{}", symlink_refused(path));
        }
        if meta.is_dir() {
            if !recursive {
                bail!(
                    "{}: is a directory; add -r to include everything in it",
                    escaped(path)
                );
            }
            let mut problem = None;
            walk_dir(path, &mut |f| files.push(f), &mut |dir, e| {
                problem.get_or_insert_with(|| format!("{}: {e}", escaped(dir)));
                false
            });
            if let Some(problem) = problem {
                bail!("{problem}");
            }
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

/// Why a symbolic link named on the command line is refused: fuda labels files, and a
/// label set "through" a link would land on whatever it points to now.
fn symlink_refused(path: &Path) -> String {
    match std::fs::read_link(path) {
        Ok(target) => format!(
            "{}: is a symbolic link to {}: fuda labels files, not links; give the file's own path",
            escaped(path),
            escaped(&target)
        ),
        Err(_) => format!(
            "{}: is a symbolic link: fuda labels files, not links; give the file's own path",
            escaped(path)
        ),
    }
}

/// Walks the folder `root` depth first, each folder's entries in the byte order of their
/// names, giving its regular files to `file`. A folder that cannot be listed goes to
/// `problem`, which says whether to go on.
fn walk_dir(
    root: &Path,
    file: &mut dyn FnMut(PathBuf),
    problem: &mut dyn FnMut(&Path, io::Error) -> bool,
) {
    // The listings of the folders on the current path, deepest last, each reversed so
    // that `pop` gives the next entry.
    let mut stack = Vec::new();
    match list(root) {
        Ok(entries) => stack.push((root.to_owned(), entries)),
        Err(e) => {
            problem(root, e);
            return;
        }
    }
    while let Some((dir, entries)) = stack.last_mut() {
        let Some((name, is_dir)) = entries.pop() else {
            stack.pop();
            continue;
        };
        let path = dir.join(name);
        if !is_dir {
            file(path);
            continue;
        }
        match list(&path) {
            Ok(entries) => stack.push((path, entries)),
            Err(e) => {
                if !problem(&path, e) {
                    return;
                }
            }
        }
    }
}

/// The regular files and folders in `dir` (not symbolic links, not fuda's own files),
/// with whether each is a folder, in reverse byte order of their names.
fn list(dir: &Path) -> io::Result<Vec<(OsString, bool)>> {
    let mut entries = Vec::new();
    for entry in longpath::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if is_ignored_name(&name) {
            continue;
        }
        let kind = entry.file_type()?;
        if kind.is_dir() || kind.is_file() {
            entries.push((name, kind.is_dir()));
        }
    }
    entries.sort_unstable_by(|a, b| b.0.as_bytes().cmp(a.0.as_bytes()));
    Ok(entries)
}

fn is_ignored_name(name: &std::ffi::OsStr) -> bool {
    name.to_str().is_some_and(|n| {
        n == fuda_core::store::sidecar::SIDECAR_DIR
            || (n.starts_with('.') && n.contains(".fuda-tmp-"))
    })
}

/// Runs `work` on every file on `jobs` threads (0 = all cores), with a progress bar on a
/// terminal for long runs; results keep the input order.
pub fn run_parallel<T: Send>(
    files: &[PathBuf],
    jobs: usize,
    what: &str,
    work: impl Fn(&Path) -> T + Sync,
) -> Result<Vec<T>> {
    let bar = if files.len() >= 1000 {
        indicatif::ProgressBar::new(files.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} {bar:40} {pos}/{len} files ({per_sec}, {eta} left)",
        )
        .expect("valid template"),
    );
    bar.set_message(what.to_owned());
    let pool = rayon::ThreadPoolBuilder::new().num_threads(jobs).build()?;
    let results = pool.install(|| {
        files
            .par_iter()
            .map(|f| {
                let r = work(f);
                bar.inc(1);
                r
            })
            .collect()
    });
    bar.finish_and_clear();
    Ok(results)
}

/// Expands directories recursively like [`expand`], but reports what cannot be walked
/// (unreadable directories, vanished entries) instead of stopping at the first problem.
/// Symlinks are never followed, so symlink loops cannot trap the walk.
pub fn expand_lenient(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<String>) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    walk_lenient(paths, &mut |f| files.push(f), &mut |p| problems.push(p));
    (files, problems)
}

/// Walks like [`expand_lenient`], giving each file to `file` as it is found and each
/// problem to `problem`: memory stays bounded by the folders on the current path, however
/// many files the trees hold.
pub fn walk_lenient(
    paths: &[PathBuf],
    file: &mut dyn FnMut(PathBuf),
    problem: &mut dyn FnMut(String),
) {
    for path in paths {
        match longpath::symlink_metadata(path) {
            Ok(m) if m.is_dir() => walk_dir(path, file, &mut |dir, e| {
                problem(format!("{}: {e}", escaped(dir)));
                true
            }),
            Ok(m) if m.is_file() => file(path.clone()),
            Ok(_) => problem(format!(
                "{}: not a regular file or directory",
                escaped(path)
            )),
            Err(e) => problem(format!("{}: {e}", escaped(path))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Makes `rel` below `base`, however long, folders and all (`rel` ends in a file).
    fn make(base: &Path, rel: &str) -> PathBuf {
        let mut at = base.to_owned();
        let parts: Vec<&str> = rel.split('/').collect();
        for dir in &parts[..parts.len() - 1] {
            at.push(dir);
            if longpath::metadata(&at).is_err() {
                std::fs::create_dir(&*longpath::reach(&at).unwrap()).unwrap();
            }
        }
        at.push(parts[parts.len() - 1]);
        std::fs::write(&*longpath::reach(&at).unwrap(), b"x").unwrap();
        at
    }

    #[test]
    fn a_folder_is_walked_in_name_order_past_4096_bytes_skipping_fuda_files_and_links() {
        let base = tempfile::tempdir().unwrap();
        let deep = vec!["d".repeat(200); 25].join("/");
        let want: Vec<PathBuf> = ["a/x.txt", "a-b.txt", "b.txt", &format!("{deep}/深い.txt")]
            .iter()
            .map(|rel| make(base.path(), rel))
            .collect();
        assert!(longpath::is_long(&want[3]));
        make(base.path(), ".fuda/labels.json");
        make(base.path(), "a/.x.txt.fuda-tmp-0123abcd");
        std::os::unix::fs::symlink(base.path().join("a"), base.path().join("link")).unwrap();

        let files = expand(&[base.path().to_owned()], true).unwrap();
        assert_eq!(files, want);
        let (lenient, problems) = expand_lenient(&[base.path().to_owned()]);
        assert_eq!(lenient, want);
        assert!(problems.is_empty(), "{problems:?}");
        // A deep file named on its own is taken as it is.
        assert_eq!(expand(&want[3..], false).unwrap(), &want[3..]);
    }

    #[test]
    fn a_missing_path_is_reported_by_name() {
        let base = tempfile::tempdir().unwrap();
        let missing = base.path().join("gone\u{a}.txt");
        let err = expand(std::slice::from_ref(&missing), true)
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with(r"gone\n.txt: no such file or directory"),
            "{err}"
        );
        let (files, problems) = expand_lenient(&[missing]);
        assert!(files.is_empty());
        assert_eq!(problems.len(), 1);
    }
}
