//! Text of PDF files, with [lopdf].
//!
//! Why lopdf: it is pure Rust (no poppler or other C library on file servers), maintained,
//! and bounds the decompressed size of each page's content, which is what a scanner fed
//! hostile files needs. Its text extraction follows `ToUnicode` maps and simple encodings;
//! text drawn as outlines or images (scans) has no text to find, which is reported in
//! [`Extracted::note`] and leaves the file to name- and type-based rules.

use std::path::Path;

use fuda_core::digest::Digest;

use super::{DocKind, ExtractError, Extracted, Limits};

/// Most pages read from one PDF.
const MAX_PAGES: u32 = 2_000;

/// Most decompressed content per page.
const MAX_PAGE_CONTENT: usize = 16 << 20;

/// Reads the text of a PDF; a PDF that cannot be parsed is reported in the note, not as an
/// error, because its name and type still classify it.
pub fn extract(path: &Path, limits: &Limits) -> Result<Extracted, ExtractError> {
    extract_hashing(path, limits, false).map(|(x, _)| x)
}

/// [`extract`], and the SHA-256 of the whole file when `hash` (the file is read whole).
pub(super) fn extract_hashing(
    path: &Path,
    limits: &Limits,
    hash: bool,
) -> Result<(Extracted, Option<Digest>), ExtractError> {
    let path_at = fuda_core::longpath::reach(path).map_err(|e| ExtractError::io(path, e))?;
    let meta = std::fs::metadata(&*path_at).map_err(|e| ExtractError::io(path, e))?;
    if meta.len() > limits.max_pdf_bytes {
        return Ok((
            note(format!(
                "PDF larger than {} MiB: classified by name only",
                limits.max_pdf_bytes >> 20
            )),
            None,
        ));
    }
    let bytes = std::fs::read(&*path_at).map_err(|e| ExtractError::io(path, e))?;
    let digest = hash.then(|| Digest::of_bytes(&bytes));
    Ok((extract_bytes(&bytes, path, limits), digest))
}

/// The text of a PDF held in memory (`path` names it in notes). Never fails: what cannot
/// be read is reported in [`Extracted::note`].
pub fn extract_bytes(bytes: &[u8], path: &Path, limits: &Limits) -> Extracted {
    if bytes.len() as u64 > limits.max_pdf_bytes {
        return note(format!(
            "{}: PDF larger than {} MiB: classified by name only",
            path.display(),
            limits.max_pdf_bytes >> 20
        ));
    }
    // lopdf is not hardened against every malformed file; a panic in it must not take
    // the scan down with it.
    let result = std::panic::catch_unwind(|| -> Result<String, String> {
        let doc = lopdf::Document::load_mem(bytes).map_err(|e| e.to_string())?;
        if doc.is_encrypted() {
            return Err("encrypted PDF".into());
        }
        let pages: Vec<u32> = doc
            .get_pages()
            .keys()
            .copied()
            .take(MAX_PAGES as usize)
            .collect();
        let mut text = String::new();
        for chunk in doc.extract_text_chunks_with_limit(&pages, MAX_PAGE_CONTENT) {
            match chunk {
                Ok(t) => text.push_str(&t),
                Err(_) => continue,
            }
            text.push('\n');
        }
        Ok(text)
    });
    match result {
        Ok(Ok(text)) => Extracted {
            kind: DocKind::Pdf,
            text,
            encoding: None,
            lossy: false,
            truncated: false,
            note: None,
        },
        Ok(Err(reason)) => note(format!("PDF text not readable ({reason})")),
        Err(_) => note("PDF text not readable (parser failure)".into()),
    }
}

fn note(note: String) -> Extracted {
    Extracted {
        kind: DocKind::Pdf,
        text: String::new(),
        encoding: None,
        lossy: false,
        truncated: false,
        note: Some(note),
    }
}
