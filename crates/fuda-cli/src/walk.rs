//! Expanding command-line paths into files, and running work on them in parallel.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use rayon::prelude::*;

/// Expands `paths`: files as given, directories walked when `recursive` (symlinks are not
/// followed; `.fuda` folders and fuda's temporary files are skipped).
pub fn expand(paths: &[PathBuf], recursive: bool) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        let meta = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                bail!("{}: no such file or directory", path.display())
            }
            Err(e) => bail!("{}: {e}", path.display()),
        };
        if meta.is_dir() {
            if !recursive {
                bail!(
                    "{}: is a directory; add -r to include everything in it",
                    path.display()
                );
            }
            for entry in walkdir::WalkDir::new(path)
                .sort_by_file_name()
                .into_iter()
                .filter_entry(|e| !is_ignored(e.path()))
            {
                let entry = entry?;
                if entry.file_type().is_file() {
                    files.push(entry.into_path());
                }
            }
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn is_ignored(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
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
    for path in paths {
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => {
                for entry in walkdir::WalkDir::new(path)
                    .sort_by_file_name()
                    .into_iter()
                    .filter_entry(|e| !is_ignored(e.path()))
                {
                    match entry {
                        Ok(e) if e.file_type().is_file() => files.push(e.into_path()),
                        Ok(_) => {}
                        Err(e) => problems.push(e.to_string()),
                    }
                }
            }
            Ok(m) if m.is_file() => files.push(path.clone()),
            Ok(_) => problems.push(format!(
                "{}: not a regular file or directory",
                path.display()
            )),
            Err(e) => problems.push(format!("{}: {e}", path.display())),
        }
    }
    (files, problems)
}
