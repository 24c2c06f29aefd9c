//! Labels of protected files: the `fuda/label` stanza in the header of a `*.fuda` envelope.
//!
//! The header is readable without any key ([`fuda_core::envelope::Header::parse`]), so the
//! inventory counts protected files with their level, owner and document id although it
//! cannot open them. The stanza body is the signed label in its compact encoding (the
//! same bytes as the `user.fuda.label` xattr). Its signature is verified like any other
//! label; there is no content digest to compare, because the header MAC binds the label
//! to the content (checked by the key service, which holds the file key). A body that
//! does not decode, or whose document id differs from the stanza's, is `tampered`; a
//! header that does not parse is `tampered` with the parser's reason.

use std::io::BufReader;
use std::path::Path;

use fuda_core::envelope::Header;
use fuda_core::label::{self, compact, Status};
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

/// The path a protected file's plaintext had (`plan.dwg.fuda` → `plan.dwg`), which is what
/// asset and rule globs are written for.
pub fn plaintext_name(path: &Path) -> &Path {
    if !is_protected(path) {
        return path;
    }
    // The extension is ascii, so cutting `.fuda` off the text keeps a char boundary.
    path.to_str()
        .and_then(|t| t.get(..t.len() - EXTENSION.len() - 1))
        .filter(|s| !s.is_empty() && !s.ends_with('/'))
        .map_or(path, Path::new)
}

/// Reads and verifies the label in a protected file's header.
pub fn inspect(labeler: &Labeler<'_>, path: &Path) -> Result<FileLabel, LabelingError> {
    let meta = std::fs::metadata(path).map_err(|e| StoreError::io(path, e))?;
    if !meta.is_file() {
        return Err(LabelingError::NotAFile(path.to_owned()));
    }
    let mut out = FileLabel {
        path: path.to_owned(),
        status: Status::Missing,
        store: None,
        label: None,
        key: None,
        signer: None,
        problem: None,
        foreign: None,
        content_sha256: None,
        signed: None,
    };
    let file = fuda_core::fsutil::open_quietly(path).map_err(|e| StoreError::io(path, e))?;
    let header = match Header::parse(&mut BufReader::new(file)) {
        Ok(h) => h,
        Err(e) => {
            out.status = Status::Tampered;
            out.store = Some(StoreKind::Envelope);
            out.problem = Some(format!("the envelope header is unreadable: {e}"));
            return Ok(out);
        }
    };
    let Some(stanza) = header.label() else {
        return Ok(out);
    };
    out.store = Some(StoreKind::Envelope);
    match compact::decode(stanza.body()) {
        Err(e) => {
            out.status = Status::Tampered;
            out.problem = Some(e.to_string());
        }
        Ok(signed) => {
            let v = label::verify(&signed, labeler.trust, None, labeler.memo);
            out.status = v.status;
            out.signer = v.signer;
            if signed.label.doc.to_string() != stanza.doc_id() {
                out.status = Status::Tampered;
                out.problem = Some(format!(
                    "the header names document {} but its label is for {}",
                    stanza.doc_id(),
                    signed.label.doc
                ));
            }
            out.key = Some(signed.key.to_string());
            out.label = Some(signed.label.clone());
            out.signed = Some(signed);
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
        assert_eq!(
            plaintext_name(Path::new("/s/plan.FUDA")),
            Path::new("/s/plan")
        );
        assert_eq!(
            plaintext_name(Path::new("/s/plan.txt")),
            Path::new("/s/plan.txt")
        );
        assert_eq!(plaintext_name(Path::new("/s/.fuda")), Path::new("/s/.fuda"));
    }
}
