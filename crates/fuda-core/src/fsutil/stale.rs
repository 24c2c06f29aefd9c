//! Temporary files that a killed process left behind, and how the next one removes them.
//!
//! Every [`super::TempSibling`] holds an exclusive `flock` on its file from the moment it
//! exists until it is published or removed, and the kernel drops that lock when the
//! process ends, however it ends. A file named `.NAME.fuda-tmp-XXXXXXXX` that no process
//! holds is therefore left over — by a process killed between giving its temporary file a
//! name and publishing it, or by an older fuda — and the first temporary file a process
//! makes in a folder removes every such file there that is its own.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use rustix::fs::{FlockOperation, OFlags};

use crate::longpath;

/// How a temporary file's name ends: `.fuda-tmp-` and eight hex digits.
const MARK: &[u8] = b".fuda-tmp-";

/// The folders this process has swept already.
static SWEPT: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

/// How many folders [`SWEPT`] remembers before it starts over: a long-running process
/// (`fuda watch` on a large share) keeps bounded memory, and a folder swept twice costs
/// only a second listing.
const REMEMBERED: usize = 4096;

/// Takes the exclusive lock that marks `file` as in use. `Ok(false)` where the file
/// system has no locks: such a file cannot be told from a left-over one, and sweeping
/// leaves it alone, since it cannot lock it either. `WouldBlock` when another process
/// holds it (it is sweeping the file away).
pub(super) fn hold(file: &File) -> io::Result<bool> {
    match rustix::fs::flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Err(io::ErrorKind::WouldBlock.into()),
        Err(_) => Ok(false),
    }
}

/// Whether `name` is a temporary file's name: `.<name>.fuda-tmp-<8 hex>`, or a staged
/// file's, which keeps its destination's extension: `.<stem>.fuda-tmp-<8 hex>.<ext>`.
pub(super) fn is_temporary(name: &[u8]) -> bool {
    let Some(at) = name
        .windows(MARK.len())
        .rposition(|w| w == MARK)
        .filter(|&at| at >= 1 && name[0] == b'.')
    else {
        return false;
    };
    let rest = &name[at + MARK.len()..];
    let (hex, ext) = rest.split_at(rest.len().min(8));
    hex.len() == 8
        && hex.iter().all(u8::is_ascii_hexdigit)
        && (ext.is_empty()
            || (ext[0] == b'.'
                && (2..=11).contains(&ext.len())
                && ext[1..].iter().all(u8::is_ascii_alphanumeric)))
}

/// Removes the left-over temporary files in `dir`, the first time this process asks.
pub(super) fn sweep_once(dir: &Path) {
    {
        let mut swept = SWEPT.lock().unwrap_or_else(PoisonError::into_inner);
        let swept = swept.get_or_insert_with(HashSet::new);
        if swept.len() >= REMEMBERED {
            swept.clear();
        }
        if !swept.insert(dir.to_owned()) {
            return;
        }
    }
    let _ = sweep(dir);
}

/// Removes every temporary file in `dir` that belongs to this user and that no process
/// holds; returns how many went.
pub(super) fn sweep(dir: &Path) -> io::Result<usize> {
    let me = rustix::process::geteuid().as_raw();
    let mut removed = 0;
    for entry in longpath::read_dir(dir)? {
        let Ok(entry) = entry else { continue };
        if !is_temporary(entry.file_name().as_bytes()) {
            continue;
        }
        let path = dir.join(entry.file_name());
        if remove_if_left_over(&path, me).unwrap_or(false) {
            removed += 1;
        }
    }
    Ok(removed)
}

/// Removes `path` if it is a regular file of the user `me` that no process holds.
fn remove_if_left_over(path: &Path, me: u32) -> io::Result<bool> {
    let mut options = OpenOptions::new();
    // Never follow a link, never wait on a FIFO someone named like a temporary file.
    options
        .read(true)
        .custom_flags((OFlags::NOFOLLOW | OFlags::NONBLOCK).bits() as i32);
    let file = longpath::open(&options, path)?;
    let meta = file.metadata()?;
    if !meta.is_file() || meta.uid() != me || !hold(&file)? {
        return Ok(false);
    }
    // Still the same file under that name (not published or replaced meanwhile).
    let named = longpath::symlink_metadata(path)?;
    if (named.dev(), named.ino()) != (meta.dev(), meta.ino()) {
        return Ok(false);
    }
    longpath::remove_file(path)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_names_of_temporary_files_count() {
        assert!(is_temporary(b".plan.docx.fuda-tmp-0a1b2c3d"));
        assert!(is_temporary(b"..fuda-tmp-0a1b2c3d"));
        assert!(is_temporary(b".plan.fuda-tmp-0a1b2c3d.docx"));
        for name in [
            &b"plan.docx.fuda-tmp-0a1b2c3d"[..],
            b".plan.docx.fuda-tmp-0a1b2c3",
            b".plan.docx.fuda-tmp-0a1b2c3g",
            b".fuda-tmp-0a1b2c3d",
            b".plan.docx",
            b".plan.fuda-tmp-0a1b2c3d.",
            b".plan.fuda-tmp-0a1b2c3d.do-cx",
            b".plan.fuda-tmp-0a1b2c3d.docx.txt",
            b"",
        ] {
            assert!(!is_temporary(name), "{}", String::from_utf8_lossy(name));
        }
    }
}
