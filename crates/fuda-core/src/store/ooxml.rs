//! OOXML store (in progress).
use std::path::Path;

use super::{LabelStore, StoreError, StoreKind, Stored, WriteContext};
use crate::digest::Digest;
use crate::label::SignedLabel;
use crate::policy::Policy;

/// The OOXML label store.
#[derive(Debug, Default, Clone, Copy)]
pub struct OoxmlStore;

impl LabelStore for OoxmlStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Ooxml
    }
    fn read(&self, _path: &Path) -> Result<Option<Stored>, StoreError> {
        Ok(None)
    }
    fn content_digest(&self, path: &Path) -> Result<Digest, StoreError> {
        Err(StoreError::BadPackage {
            path: path.to_owned(),
            reason: "not yet supported".into(),
        })
    }
    fn write(
        &self,
        path: &Path,
        _ctx: WriteContext<'_>,
        _sign: &mut dyn FnMut(Digest) -> SignedLabel,
    ) -> Result<SignedLabel, StoreError> {
        Err(StoreError::BadPackage {
            path: path.to_owned(),
            reason: "not yet supported".into(),
        })
    }
    fn remove(&self, _path: &Path, _policy: &Policy) -> Result<bool, StoreError> {
        Ok(false)
    }
}
