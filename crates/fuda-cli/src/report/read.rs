//! Reading the records of the files a report sends: the inventory's own reader
//! (`fuda_ledger::inventory::build_streaming`), so a record is exactly the one
//! `fuda inventory` lists for the file.
//!
//! A few candidates are read by handing the inventory just those files; many (a first
//! report, a new policy) by reading the roots whole and keeping the candidates' records.

use std::path::PathBuf;

use anyhow::Result;
use fuda_core::labeling::Labeler;
use fuda_ledger::inventory::{self, FileEntry, InventoryError, Options};

use super::scan::Candidate;

/// Up to this many candidates are read one by one; more, by reading the roots whole.
const TARGETED: usize = 2_000;

/// A file's record as a report sends it: the inventory's entry without its ledger row
/// (which only groups files within one inventory), as JSON.
pub fn record_json(mut entry: FileEntry) -> Vec<u8> {
    entry.row = None;
    serde_json::to_vec(&entry).expect("an inventory entry serialises")
}

/// Reads the records of `candidates` (in path order, found under `roots`) and hands each
/// candidate with its record to `each`, in path order. A candidate gone before it was
/// read gets `None`.
pub fn records(
    labeler: &Labeler<'_>,
    roots: &[PathBuf],
    candidates: Vec<Candidate>,
    jobs: usize,
    mut each: impl FnMut(Candidate, Option<FileEntry>) -> Result<()>,
) -> Result<()> {
    if candidates.is_empty() {
        return Ok(());
    }
    let options = Options {
        jobs,
        files_to_sink_only: true,
        ..Options::default()
    };
    // Few: read just those files (those that still exist: a vanished file named as a
    // root would stop the inventory). Many: read the roots whole.
    let read_roots: Vec<PathBuf> = if candidates.len() <= TARGETED {
        candidates
            .iter()
            .filter(|c| fuda_core::longpath::symlink_metadata(&c.path).is_ok_and(|m| m.is_file()))
            .map(|c| c.path.clone())
            .collect()
    } else {
        roots.to_vec()
    };
    let mut pending = candidates.into_iter().peekable();
    let mut sink = |entries: &[FileEntry]| -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        for entry in entries {
            let key = entry.path.as_os_str().as_encoded_bytes();
            // Candidates before this entry were not found by this read: gone.
            while let Some(c) = pending.next_if(|c| c.path.as_os_str().as_encoded_bytes() < key) {
                each(c, None)?;
            }
            if let Some(c) = pending.next_if(|c| c.path.as_os_str() == entry.path.as_os_str()) {
                let mut entry = entry.clone();
                entry.root = c.root.clone();
                each(c, Some(entry))?;
            }
        }
        Ok(())
    };
    if !read_roots.is_empty() {
        match inventory::build_streaming(labeler, &read_roots, &options, &mut sink) {
            Ok(_) => {}
            Err(InventoryError::Output(e)) => return Err(anyhow::anyhow!(e)),
            Err(e) => return Err(e.into()),
        }
    }
    for c in pending {
        each(c, None)?;
    }
    Ok(())
}
