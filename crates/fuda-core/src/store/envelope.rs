//! Labels of protected files: the `fuda/label` stanza in the age header.
//!
//! The stanza body is the compact signed label (see [`crate::label::compact`]). It is
//! readable without any key; the header MAC, keyed from the file key, binds it to the
//! payload, so the label carries no content digest and is never `stale`. Changing the label
//! of a protected file needs the file key, which only the key service hands out: this
//! store reads, and refuses to write.

use std::io::BufReader;
use std::path::Path;

use super::{decode_stored, LabelStore, StoreError, StoreKind, Stored, WriteContext};
use crate::digest::Digest;
use crate::envelope::Header;
use crate::label::SignedLabel;
use crate::policy::Policy;

/// The envelope label store (read-only).
#[derive(Debug, Default, Clone, Copy)]
pub struct EnvelopeStore;

/// Whether `path` names a protected file (`*.fuda`).
pub fn is_protected(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e == crate::envelope::EXTENSION)
}

impl LabelStore for EnvelopeStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Envelope
    }

    fn read(&self, path: &Path) -> Result<Option<Stored>, StoreError> {
        let file = crate::fsutil::open_quietly(path).map_err(|e| StoreError::io(path, e))?;
        let header =
            Header::parse(&mut BufReader::new(file)).map_err(|e| StoreError::BadEnvelope {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(header.label().map(|stanza| decode_stored(stanza.body())))
    }

    fn content_digest(&self, path: &Path) -> Result<Digest, StoreError> {
        Err(StoreError::Protected(path.to_owned()))
    }

    fn write(
        &self,
        path: &Path,
        _ctx: WriteContext<'_>,
        _sign: &mut dyn FnMut(Digest) -> SignedLabel,
    ) -> Result<SignedLabel, StoreError> {
        Err(StoreError::Protected(path.to_owned()))
    }

    fn remove(&self, path: &Path, _policy: &Policy) -> Result<bool, StoreError> {
        Err(StoreError::Protected(path.to_owned()))
    }
}
