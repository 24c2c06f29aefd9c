//! The key service's registry, merged into an inventory (`fuda inventory --from-service`).
//!
//! The caller (the CLI) fetches what the key service knows — every registered document
//! and whether it is revoked — and passes it in as a [`Registry`]; this module knows
//! nothing about how it was fetched. A file on disk whose label carries the id of a
//! revoked document is a `revoked-still-present` finding: nobody can open a revoked
//! protected file any more, but the copy is still there (and a plaintext copy that kept
//! its label is readable by anyone), so someone should delete or re-protect it.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::findings::{Finding, FindingKind};
use super::FileEntry;

/// A document as the key service registered it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredDocument {
    /// Document id (the label's `doc`).
    pub id: String,
    /// File name at protection, exact bytes (`{"text"}` or `{"bytes"}` in JSON).
    #[serde(with = "fuda_core::pathname")]
    pub name: std::path::PathBuf,
    /// Owner.
    pub owner: String,
    /// Level id.
    pub level: String,
    /// The revocation of the whole document, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<Revoked>,
}

/// Who revoked a document, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoked {
    /// Unix seconds.
    pub at: i64,
    /// The admin.
    pub by: String,
}

/// What the key service knows, as the inventory needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Registry {
    /// Every registered document.
    pub documents: Vec<RegisteredDocument>,
}

/// The registry's revoked documents by id, to check files against one at a time.
pub struct RevokedDocuments<'r> {
    by_id: HashMap<&'r str, (&'r RegisteredDocument, &'r Revoked)>,
    offset: time::UtcOffset,
}

impl<'r> RevokedDocuments<'r> {
    /// The revoked documents of `registry`; dates are shown at `offset` from UTC.
    pub fn new(registry: &'r Registry, offset: time::UtcOffset) -> RevokedDocuments<'r> {
        RevokedDocuments {
            by_id: registry
                .documents
                .iter()
                .filter_map(|d| d.revoked.as_ref().map(|r| (d.id.as_str(), (d, r))))
                .collect(),
            offset,
        }
    }

    /// The `revoked-still-present` finding for `f`, when its label names a revoked
    /// document.
    pub fn finding(&self, f: &FileEntry) -> Option<Finding> {
        if self.by_id.is_empty() {
            return None;
        }
        let doc = f.doc.as_ref()?.to_string();
        let (d, r) = self.by_id.get(doc.as_str())?;
        let when = crate::calendar::date(r.at, self.offset);
        let copy = if f.protected {
            "nobody can open it any more"
        } else {
            "this unprotected copy is still readable"
        };
        let copy_ja = if f.protected {
            "もう誰も開けません"
        } else {
            "この暗号化されていないコピーは読めてしまいます"
        };
        Some(Finding::new(
            FindingKind::RevokedStillPresent,
            f.path.clone(),
            f.level.clone(),
            format!(
                "document {doc} ({}, owner {}) was revoked by {} on {when}; {copy}: delete the file or ask the owner for a current version",
                fuda_core::pathname::escaped(&d.name), d.owner, r.by
            ),
            format!(
                "文書 {doc}（{}、所有者 {}）は {when} に {} が失効させました。{copy_ja}。ファイルを削除するか、所有者に最新版を依頼してください",
                fuda_core::pathname::escaped(&d.name), d.owner, r.by
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, doc: &str, protected: bool) -> FileEntry {
        serde_json::from_value(serde_json::json!({
            "path": path, "root": "/srv", "size": 1, "modified": 0, "status": "valid",
            "protected": protected, "doc": doc, "level": "confidential",
        }))
        .unwrap()
    }

    fn doc(id: &str, revoked: bool) -> RegisteredDocument {
        RegisteredDocument {
            id: id.into(),
            name: "bracket.dxf".into(),
            owner: "tanaka".into(),
            level: "confidential".into(),
            revoked: revoked.then(|| Revoked {
                at: 1_700_000_000,
                by: "admin".into(),
            }),
        }
    }

    #[test]
    fn only_files_of_revoked_documents_are_findings() {
        let (a, b) = ("01JB0000000000000000000001", "01JB0000000000000000000002");
        let registry = Registry {
            documents: vec![doc(a, true), doc(b, false)],
        };
        let files = [
            file("/srv/old.dxf.fuda", a, true),
            file("/srv/old-plain.dxf", a, false),
            file("/srv/current.dxf.fuda", b, true),
        ];
        let findings = |registry: &Registry| -> Vec<Finding> {
            let revoked = RevokedDocuments::new(registry, time::UtcOffset::UTC);
            files.iter().filter_map(|f| revoked.finding(f)).collect()
        };
        let found = findings(&registry);
        let paths: Vec<&str> = found.iter().map(|f| f.path.to_str().unwrap()).collect();
        assert_eq!(paths, ["/srv/old.dxf.fuda", "/srv/old-plain.dxf"]);
        assert!(found
            .iter()
            .all(|f| f.kind == FindingKind::RevokedStillPresent));
        assert!(
            found[1].detail.contains("still readable"),
            "{}",
            found[1].detail
        );
        assert!(findings(&Registry::default()).is_empty());
    }
}
