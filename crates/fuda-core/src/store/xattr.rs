//! Labels in the `user.fuda.label` extended attribute.
//!
//! The value is the compact label (see [`crate::label::compact`]), about 150–190 bytes.
//! ext4 keeps xattrs inside a 256-byte inode only while they fit in ~100 bytes, so a fuda
//! label usually takes one extra 4 KiB xattr block per file; the Ed25519 signature alone is
//! 64 bytes. The level's names, Japanese then English (`極秘,Strictly confidential`), are
//! also merged into `user.xdg.tags` (comma separated) so desktop file managers show them;
//! other tags there are kept.
//!
//! Extended attributes survive `mv`, `cp --preserve=xattr`, `rsync -X`, `tar --xattrs` and
//! Samba with `ea support = yes`; they do not survive editors that save by writing a new
//! file and renaming it over the old one.

use std::path::Path;

use super::{
    decode_stored, ensure_writable, reach, LabelStore, StoreError, StoreKind, Stored, WriteContext,
};
use crate::crashpoint::{self, Step};
use crate::digest::Digest;
use crate::label::{compact, SignedLabel};
use crate::policy::{Level, Policy};

/// Name of the attribute holding the label.
pub const LABEL_ATTR: &str = "user.fuda.label";
/// Name of the freedesktop tags attribute.
pub const TAGS_ATTR: &str = "user.xdg.tags";

/// The xattr label store.
#[derive(Debug, Default, Clone, Copy)]
pub struct XattrStore;

impl XattrStore {
    /// Whether the file system holding `path` accepts user xattrs.
    pub fn supported_at(path: &Path) -> bool {
        let Ok(at) = reach(path) else {
            return true;
        };
        match xattr::get(&*at, LABEL_ATTR) {
            Ok(_) => true,
            Err(e) => !matches!(StoreError::io(path, e), StoreError::XattrUnsupported(_)),
        }
    }
}

/// Merges the level's names into a comma-separated tag list, dropping any other level's.
fn merge_tags(existing: Option<&str>, level: Option<&Level>, policy: &Policy) -> String {
    let is_level_name = |t: &str| {
        policy
            .levels
            .iter()
            .any(|l| l.name_ja == t || l.name_en == t)
    };
    let mut tags: Vec<&str> = existing
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty() && !is_level_name(t))
        .collect();
    if let Some(level) = level {
        tags.push(&level.name_ja);
        if level.name_en != level.name_ja {
            tags.push(&level.name_en);
        }
    }
    tags.join(",")
}

fn update_tags(path: &Path, level: Option<&Level>, policy: &Policy) -> Result<(), StoreError> {
    let at = &*reach(path)?;
    let existing = xattr::get(at, TAGS_ATTR).map_err(|e| StoreError::io(path, e))?;
    let existing_text = existing.as_deref().map(String::from_utf8_lossy);
    let merged = merge_tags(existing_text.as_deref(), level, policy);
    if existing_text.as_deref() == Some(merged.as_str()) {
        return Ok(());
    }
    if merged.is_empty() {
        if existing.is_some() {
            crashpoint::reached(Step::RemoveAttr);
            xattr::remove(at, TAGS_ATTR).map_err(|e| StoreError::io(path, e))?;
        }
        return Ok(());
    }
    crashpoint::reached(Step::SetAttr);
    xattr::set(at, TAGS_ATTR, merged.as_bytes()).map_err(|e| StoreError::io(path, e))
}

impl LabelStore for XattrStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Xattr
    }

    fn read(&self, path: &Path) -> Result<Option<Stored>, StoreError> {
        let value = xattr::get(&*reach(path)?, LABEL_ATTR).map_err(|e| StoreError::io(path, e))?;
        Ok(value.map(|v| decode_stored(&v)))
    }

    fn content_digest(&self, path: &Path) -> Result<Digest, StoreError> {
        Digest::of_file(path).map_err(|e| StoreError::io(path, e))
    }

    fn write(
        &self,
        path: &Path,
        ctx: WriteContext<'_>,
        sign: &mut dyn FnMut(Digest) -> SignedLabel,
    ) -> Result<SignedLabel, StoreError> {
        ensure_writable(path)?;
        let signed = sign(ctx.whole_file_digest(path)?);
        // The tags follow the label, so they go first: a process ended between the two
        // leaves the old label, which makes the next run write both again.
        update_tags(path, Some(ctx.level), ctx.policy)?;
        crashpoint::reached(Step::SetAttr);
        xattr::set(&*reach(path)?, LABEL_ATTR, &compact::encode(&signed))
            .map_err(|e| StoreError::io(path, e))?;
        Ok(signed)
    }

    fn remove(&self, path: &Path, policy: &Policy) -> Result<bool, StoreError> {
        ensure_writable(path)?;
        let at = &*reach(path)?;
        let had = xattr::get(at, LABEL_ATTR)
            .map_err(|e| StoreError::io(path, e))?
            .is_some();
        // Tags first, as in `write`: the label that stays until the end makes the next
        // run finish the removal.
        update_tags(path, None, policy)?;
        if had {
            crashpoint::reached(Step::RemoveAttr);
            xattr::remove(at, LABEL_ATTR).map_err(|e| StoreError::io(path, e))?;
        }
        Ok(had)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_keep_foreign_entries_and_replace_level_names() {
        let policy = Policy::builtin("default").unwrap();
        let level = |id| policy.level(id);
        assert_eq!(
            merge_tags(
                Some("work,社外秘,urgent,Internal"),
                level("strictly-confidential"),
                &policy
            ),
            "work,urgent,極秘,Strictly confidential"
        );
        assert_eq!(
            merge_tags(None, level("public"), &policy),
            "公開,Public",
            "the Japanese name, then the English one"
        );
        assert_eq!(merge_tags(Some("Internal,x"), None, &policy), "x");
    }
}
