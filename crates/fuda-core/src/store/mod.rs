//! Where labels live: one [`LabelStore`] trait, one implementation per place.
//!
//! - [`xattr`]: the `user.fuda.label` extended attribute (plus the level name merged into
//!   `user.xdg.tags` for desktop file managers);
//! - [`ooxml`]: Microsoft-compatible properties inside docx/xlsx/pptx;
//! - [`sidecar`]: a `.fuda/labels.json` index in the directory, for file systems without
//!   user xattrs — used only when asked for (`--store sidecar`, or `--store auto` as a
//!   reported fallback);
//! - [`envelope`]: the `fuda/label` stanza in a protected file's header (read-only).

pub mod envelope;
pub mod ooxml;
pub mod sidecar;
pub mod xattr;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::digest::Digest;
use crate::label::SignedLabel;
use crate::policy::{Level, Policy};

/// Which store a label was read from or written to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// Extended attribute `user.fuda.label`.
    Xattr,
    /// Properties inside an Office Open XML document.
    Ooxml,
    /// `.fuda/labels.json` beside the file.
    Sidecar,
    /// The header of a protected (`.fuda`) file.
    Envelope,
}

impl StoreKind {
    /// The store's name.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::Xattr => "xattr",
            StoreKind::Ooxml => "ooxml",
            StoreKind::Sidecar => "sidecar",
            StoreKind::Envelope => "envelope",
        }
    }
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A label another system wrote (Microsoft Office / Purview), before mapping.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ForeignLabel {
    /// The Purview label GUID (lower-case, no braces).
    pub guid: String,
    /// The label's name, if recorded.
    pub name: Option<String>,
    /// The tenant (site) id, if recorded.
    pub site_id: Option<String>,
    /// When it was set, as recorded.
    pub set_date: Option<String>,
    /// `Standard` or `Privileged`, as recorded.
    pub method: Option<String>,
}

/// What a store holds for a file.
#[derive(Clone, Debug)]
pub enum Stored {
    /// A fuda label.
    Signed(Box<SignedLabel>),
    /// A value that is not a decodable fuda label (reported as tampered).
    Corrupt(String),
    /// Only a label written by another system.
    Foreign(ForeignLabel),
}

/// Errors from label stores.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The file system refuses user extended attributes.
    #[error("{0}: this file system does not support user extended attributes, so the label cannot travel with the file; use --store sidecar (or --store auto) to keep it in a .fuda index beside the file, or move the file to a file system with xattrs")]
    XattrUnsupported(PathBuf),
    /// The file is read-only.
    #[error("{0}: the file is read-only; labeling would change it. Make it writable (chmod u+w) and retry")]
    ReadOnly(PathBuf),
    /// Not permitted.
    #[error("{0}: permission denied; you need write access to the file (and, for Office documents, its folder)")]
    PermissionDenied(PathBuf),
    /// The file does not exist.
    #[error("{0}: no such file")]
    NotFound(PathBuf),
    /// The document is not a valid Office Open XML package.
    #[error("{path}: not a valid Office document ({reason}); the file was left unchanged")]
    BadPackage {
        /// The document.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The label of a protected file can only change through the key service.
    #[error("{0}: this is a protected file; its label is inside the encrypted envelope and changes only through the key service (fuda protect / fuda open)")]
    Protected(PathBuf),
    /// A sidecar index is corrupt.
    #[error("{path}: the label index is corrupt ({reason}); move it away to start a new one")]
    BadSidecar {
        /// The index file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Another I/O error.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl StoreError {
    /// Maps an I/O error on `path` to the most helpful variant.
    pub fn io(path: &Path, source: std::io::Error) -> StoreError {
        match source.kind() {
            std::io::ErrorKind::NotFound => StoreError::NotFound(path.to_owned()),
            std::io::ErrorKind::PermissionDenied => StoreError::PermissionDenied(path.to_owned()),
            std::io::ErrorKind::Unsupported => StoreError::XattrUnsupported(path.to_owned()),
            _ if source.raw_os_error() == Some(95) => StoreError::XattrUnsupported(path.to_owned()),
            _ => StoreError::Io {
                path: path.to_owned(),
                source,
            },
        }
    }
}

/// What a store needs to know to write a label beyond the label itself.
#[derive(Clone, Copy, Debug)]
pub struct WriteContext<'a> {
    /// The policy the label belongs to.
    pub policy: &'a Policy,
    /// The label's level.
    pub level: &'a Level,
    /// SHA-256 of the file's content as the caller read it (e.g. to classify it). Stores
    /// whose labels cover the whole file (xattr, sidecar) sign over it instead of reading
    /// the file again; the Office store computes its own digest of the package's parts.
    pub content_sha256: Option<Digest>,
}

impl WriteContext<'_> {
    /// The digest the caller gave, else the file's content read now.
    pub(crate) fn whole_file_digest(&self, path: &Path) -> Result<Digest, StoreError> {
        match self.content_sha256 {
            Some(d) => Ok(d),
            None => Digest::of_file(path).map_err(|e| StoreError::io(path, e)),
        }
    }
}

/// One place labels live.
pub trait LabelStore: Sync {
    /// Which store this is.
    fn kind(&self) -> StoreKind;

    /// Reads what the store holds for `path`.
    fn read(&self, path: &Path) -> Result<Option<Stored>, StoreError>;

    /// Digest of the content the label covers, as it is now.
    fn content_digest(&self, path: &Path) -> Result<Digest, StoreError>;

    /// Writes a label. The store computes the digest of the content as it will be, asks
    /// `sign` for the signed label over it, and stores that; the file is replaced
    /// atomically or left unchanged.
    fn write(
        &self,
        path: &Path,
        ctx: WriteContext<'_>,
        sign: &mut dyn FnMut(Digest) -> SignedLabel,
    ) -> Result<SignedLabel, StoreError>;

    /// Removes the label; `false` if there was none.
    fn remove(&self, path: &Path, policy: &Policy) -> Result<bool, StoreError>;
}

/// Decodes a stored compact value into what it holds.
pub(crate) fn decode_stored(bytes: &[u8]) -> Stored {
    match crate::label::compact::decode(bytes) {
        Ok(signed) => Stored::Signed(Box::new(signed)),
        Err(e) => Stored::Corrupt(e.to_string()),
    }
}

/// A path the kernel takes for `path`, however long (see [`crate::longpath`]).
pub(crate) fn reach(path: &Path) -> Result<crate::longpath::Reach<'_>, StoreError> {
    crate::longpath::reach(path).map_err(|e| StoreError::io(path, e))
}

/// Refuses to label a file whose permission bits say nobody may write it.
pub(crate) fn ensure_writable(path: &Path) -> Result<std::fs::Metadata, StoreError> {
    let meta = std::fs::metadata(&*reach(path)?).map_err(|e| StoreError::io(path, e))?;
    if meta.permissions().readonly() {
        return Err(StoreError::ReadOnly(path.to_owned()));
    }
    Ok(meta)
}
