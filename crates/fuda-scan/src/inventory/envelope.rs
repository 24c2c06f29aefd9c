//! Labels of protected files: the `fuda/label` stanza in the header of a `*.fuda` envelope.
//!
//! The header is readable without any key, so the inventory counts protected files with
//! their level, owner and document id although it cannot open them. Reading and verifying
//! is the [`Labeler`]'s (through fuda-core's envelope store); this module adds what the
//! ledger needs on top:
//!
//! - a header that does not parse is a `tampered` label (with the parser's reason), not an
//!   error that stops the inventory;
//! - the document id the stanza names must be the one inside the signed label: copying a
//!   label stanza from another file into a header is reported as `tampered` (the header
//!   MAC, which would catch it too, needs the file key that only the key service holds);
//! - assets and rules match the plaintext name (`assy.dwg.fuda` as `assy.dwg`).

use std::io::BufReader;
use std::path::Path;

use fuda_core::envelope::Header;
use fuda_core::label::Status;
use fuda_core::labeling::{FileLabel, Labeler, LabelingError};
use fuda_core::store::{StoreError, StoreKind};

pub use fuda_core::store::envelope::is_protected;

/// The path a protected file's plaintext had (`plan.dwg.fuda` → `plan.dwg`), which is what
/// asset and rule globs are written for.
pub fn plaintext_name(path: &Path) -> &Path {
    if !is_protected(path) {
        return path;
    }
    // The extension is ascii, so cutting `.fuda` off the text keeps a char boundary.
    path.to_str()
        .and_then(|t| t.get(..t.len() - fuda_core::envelope::EXTENSION.len() - 1))
        .filter(|s| !s.is_empty() && !s.ends_with('/'))
        .map_or(path, Path::new)
}

/// Reads and verifies the label in a protected file's header.
pub fn inspect(labeler: &Labeler<'_>, path: &Path) -> Result<FileLabel, LabelingError> {
    let mut out = match labeler.inspect(path) {
        Ok(out) => out,
        Err(LabelingError::Store(StoreError::BadEnvelope { reason, .. })) => {
            return Ok(FileLabel {
                path: path.to_owned(),
                status: Status::Tampered,
                store: Some(StoreKind::Envelope),
                label: None,
                key: None,
                signer: None,
                problem: Some(format!("the envelope header is unreadable: {reason}")),
                foreign: None,
                content_sha256: None,
                signed: None,
            });
        }
        Err(e) => return Err(e),
    };
    if let Some(label) = out
        .label
        .as_ref()
        .filter(|_| out.status != Status::Tampered)
    {
        let file = fuda_core::fsutil::open_quietly(path).map_err(|e| StoreError::io(path, e))?;
        let named = Header::parse(&mut BufReader::new(file))
            .ok()
            .and_then(|h| h.label())
            .map(|stanza| stanza.doc_id().to_owned());
        if named.as_deref() != Some(label.doc.to_string().as_str()) {
            out.problem = Some(format!(
                "the header names document {} but its label is for {}",
                named.unwrap_or_default(),
                label.doc
            ));
            out.status = Status::Tampered;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_files_match_by_their_plaintext_name() {
        assert_eq!(
            plaintext_name(Path::new("/s/設計/assy.dwg.fuda")),
            Path::new("/s/設計/assy.dwg")
        );
        // Protected files are `*.fuda`, exactly as fuda-core names them.
        assert_eq!(
            plaintext_name(Path::new("/s/plan.FUDA")),
            Path::new("/s/plan.FUDA")
        );
        assert_eq!(
            plaintext_name(Path::new("/s/plan.txt")),
            Path::new("/s/plan.txt")
        );
        assert_eq!(plaintext_name(Path::new("/s/.fuda")), Path::new("/s/.fuda"));
    }
}
