//! Text extraction: what a file says, as a `String`, within bounds.
//!
//! - plain text in UTF-8 (with or without BOM), UTF-16 (with BOM), CP932 (Windows-31J, the
//!   Shift_JIS that Windows writes, with NEC/IBM extensions) and EUC-JP, detected from the
//!   bytes; invalid sequences are replaced and reported, never fatal;
//! - Office Open XML (docx/xlsx/pptx and their macro/template variants): the text of the
//!   body, headers, footers, notes, comments, shared strings, cells and slides, and the
//!   title/subject/keywords of the document properties ([`ooxml`]);
//! - PDF: the text of its pages ([`pdf`]);
//! - anything else (binaries, CAD, images, archives): no text; rules then decide by name
//!   and type only.
//!
//! Bounds ([`Limits`]): only the first [`Limits::max_text_bytes`] of a text file are read
//! (a 2 GiB file costs the same as a 16 MiB one); zip entries are read through a counter
//! that refuses to inflate more than [`Limits::max_ratio`] times their compressed size or
//! more than [`Limits::max_unpacked`] bytes in total (a zip bomb is refused with
//! [`ExtractError::ZipBomb`]); PDFs over [`Limits::max_pdf_bytes`] are not parsed.

pub mod ooxml;
pub mod pdf;
mod text;

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use text::{decode, decode_owned, Decoded};

use fuda_core::digest::Digest;

/// Bounds on what extraction reads and inflates.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Bytes of a plain-text file read at most (the rest is not scanned).
    pub max_text_bytes: u64,
    /// Total uncompressed bytes read from one zip package.
    pub max_unpacked: u64,
    /// Largest ratio of uncompressed to compressed size of one zip entry (entries under
    /// 1 MiB uncompressed are exempt: small XML parts compress well legitimately).
    pub max_ratio: u64,
    /// PDFs larger than this are classified by name only.
    pub max_pdf_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_text_bytes: 16 << 20,
            max_unpacked: 256 << 20,
            max_ratio: 200,
            max_pdf_bytes: 64 << 20,
        }
    }
}

/// What kind of document a file turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DocKind {
    /// Plain text.
    Text,
    /// A Word document.
    Docx,
    /// An Excel workbook.
    Xlsx,
    /// A PowerPoint presentation.
    Pptx,
    /// A PDF.
    Pdf,
    /// Anything without extractable text.
    Binary,
}

/// The text of a file and how it was obtained.
#[derive(Clone, Debug, Serialize)]
pub struct Extracted {
    /// What the file is.
    pub kind: DocKind,
    /// The text (empty for binaries).
    #[serde(skip)]
    pub text: String,
    /// The character encoding of a plain-text file (`UTF-8`, `Shift_JIS` (CP932), `EUC-JP`…).
    pub encoding: Option<&'static str>,
    /// Whether invalid byte sequences had to be replaced.
    pub lossy: bool,
    /// Whether only the first part of the file was read.
    pub truncated: bool,
    /// Why a file that looked like a document has no text (e.g. encrypted PDF).
    pub note: Option<String>,
}

impl Extracted {
    fn binary(note: Option<String>) -> Extracted {
        Extracted {
            kind: DocKind::Binary,
            text: String::new(),
            encoding: None,
            lossy: false,
            truncated: false,
            note,
        }
    }
}

/// Why a file's text could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractError {
    /// Reading failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A zip entry inflates beyond the limits.
    #[error("{path}: refused to unpack {entry}: it inflates {detail} (a zip bomb, or a document far larger than fuda scans); the file was classified by name only")]
    ZipBomb {
        /// The document.
        path: PathBuf,
        /// The zip entry.
        entry: String,
        /// Ratio or size reached.
        detail: String,
    },
    /// The package is not a readable zip or its XML is broken.
    #[error("{path}: not a readable Office document: {reason}")]
    BadPackage {
        /// The document.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl ExtractError {
    fn io(path: &Path, source: std::io::Error) -> ExtractError {
        ExtractError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// Reads the text of the file at `path` within `limits`.
///
/// The kind is decided by extension first (Office, PDF), then by content: a file whose
/// first 8 KiB are more than 1/32 NUL and other control bytes that text never holds (and
/// that has no UTF-16 BOM) is binary ([`looks_binary`]); a text with a few stray control
/// bytes is still text.
pub fn extract(path: &Path, limits: &Limits) -> Result<Extracted, ExtractError> {
    extract_file(path, limits, false).map(|(x, _)| x)
}

/// [`extract`], and the SHA-256 of the file's whole content when extraction read all of
/// it anyway (plain text and PDFs within the limits), so that a label can be signed over
/// the bytes that were classified without reading the file a second time.
pub fn extract_and_hash(
    path: &Path,
    limits: &Limits,
) -> Result<(Extracted, Option<Digest>), ExtractError> {
    extract_file(path, limits, true)
}

fn extract_file(
    path: &Path,
    limits: &Limits,
    hash: bool,
) -> Result<(Extracted, Option<Digest>), ExtractError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let office = match ext.as_str() {
        "docx" | "docm" | "dotx" | "dotm" => Some(DocKind::Docx),
        "xlsx" | "xlsm" | "xltx" | "xltm" => Some(DocKind::Xlsx),
        "pptx" | "pptm" | "potx" | "potm" => Some(DocKind::Pptx),
        _ => None,
    };
    if let Some(kind) = office {
        return Ok((ooxml::extract(path, kind, limits)?, None));
    }
    if ext == "pdf" {
        return pdf::extract_hashing(path, limits, hash);
    }
    if BINARY_EXTENSIONS.contains(&ext.as_str()) {
        return Ok((Extracted::binary(None), None));
    }
    let file = fuda_core::longpath::reach(path)
        .and_then(File::open)
        .map_err(|e| ExtractError::io(path, e))?;
    let len = file
        .metadata()
        .map_err(|e| ExtractError::io(path, e))?
        .len();
    let mut bytes = Vec::with_capacity(len.min(limits.max_text_bytes) as usize);
    file.take(limits.max_text_bytes)
        .read_to_end(&mut bytes)
        .map_err(|e| ExtractError::io(path, e))?;
    let truncated = len > limits.max_text_bytes;
    // Only a file read to its end (shorter than the limit) has its digest here.
    let digest =
        (hash && (bytes.len() as u64) < limits.max_text_bytes).then(|| Digest::of_bytes(&bytes));
    if looks_binary(&bytes) {
        return Ok((Extracted::binary(None), digest));
    }
    let decoded = decode_owned(bytes);
    let extracted = Extracted {
        kind: DocKind::Text,
        text: decoded.text,
        encoding: Some(decoded.encoding),
        lossy: decoded.lossy,
        truncated,
        note: None,
    };
    Ok((extracted, digest))
}

/// Extensions never read as text (CAD, images, archives, executables, media).
pub const BINARY_EXTENSIONS: [&str; 33] = [
    "dwg",
    "dxf",
    "step",
    "stp",
    "iges",
    "igs",
    "jt",
    "catpart",
    "catproduct",
    "sldprt",
    "sldasm",
    "prt",
    "x_t",
    "png",
    "jpg",
    "jpeg",
    "gif",
    "bmp",
    "tif",
    "tiff",
    "zip",
    "7z",
    "gz",
    "xz",
    "tar",
    "exe",
    "dll",
    "so",
    "mp4",
    "mov",
    "mp3",
    "iso",
    "fuda",
];

/// Whether a file is binary, from its first 8 KiB: more than one byte in 32 (or, in a
/// file under 64 bytes, more than two bytes) are NUL or other control bytes that text
/// never holds. Tab, line feed, carriage return, form feed, escape (ISO-2022-JP) and
/// Ctrl-Z (the end of old DOS texts) are text; a file with a UTF-16 byte order mark is
/// text. A text with one stray NUL (a CP932 file from an old tool, say) stays text, so its
/// markings are still seen; executables, images and UTF-16 without a BOM are binary.
pub fn looks_binary(bytes: &[u8]) -> bool {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return false;
    }
    let sample = &bytes[..bytes.len().min(8192)];
    let stray = sample
        .iter()
        .filter(|&&b| {
            (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c | 0x1a | 0x1b)) || b == 0x7f
        })
        .count();
    stray * 32 > sample.len().max(64)
}

#[cfg(test)]
mod tests {
    use super::looks_binary;

    #[test]
    fn a_text_with_a_stray_nul_is_text() {
        let (mut cp932, _, _) = encoding_rs::SHIFT_JIS.encode("本資料は極秘です。取扱注意。\r\n");
        let mut text = cp932.to_mut().clone();
        text.insert(4, 0);
        assert!(!looks_binary(&text));
        assert!(!looks_binary(b"a\0b"));
        assert!(!looks_binary(
            b"ESC \x1b$B kanji \x1b(B, form feed \x0c, DOS end \x1a"
        ));
    }

    #[test]
    fn binaries_stay_binary() {
        let elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x03\0\x3e\0\x01\0\0\0";
        assert!(looks_binary(elf));
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\x01\0\0\0\x01\0\x08\x06\0\0\0";
        assert!(looks_binary(png));
        let utf16_without_bom: Vec<u8> = "極秘 memo"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert!(looks_binary(&utf16_without_bom));
        assert!(!looks_binary(b"\xff\xfe\0a\0b"));
    }
}
