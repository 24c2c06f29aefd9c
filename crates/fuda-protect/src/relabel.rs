//! Reclassifying a protected document: a new label of the same document at another level,
//! signed by the person asking, put in the file's header by the key service — which alone
//! holds the file key, decides (the owner or an administrator; a downgrade needs a
//! justification) and audits. The payload is untouched; the file keeps its mode.

use std::path::Path;

use fuda_core::envelope::{self, Header};
use fuda_core::label::{Label, Method, PolicyRef};
use fuda_core::policy::{Level, Policy};
use fuda_keyd::registry::Document;
use fuda_keyd::service::Reclassify;

use crate::modes::Access;
use crate::open::header_label;
use crate::rewrap::read_header;
use crate::{Account, ProtectError};

impl Account<'_> {
    /// Puts the protected file at `path` at `level` of `policy` (with `justification`,
    /// which a downgrade needs) through the key service; returns the document as it now
    /// stands.
    pub fn reclassify(
        &self,
        path: &Path,
        policy: &Policy,
        level: &Level,
        justification: Option<&str>,
    ) -> Result<Document, ProtectError> {
        let access = Access::read(path).map_err(|source| ProtectError::Read {
            path: path.to_owned(),
            source,
        })?;
        let old = read_header(path)?;
        let current = header_label(&old, path)?.label;
        let label = Label {
            level: level.id.clone(),
            policy: PolicyRef {
                id: policy.id.clone(),
                version: policy.version,
            },
            method: Method::Manual,
            rule: None,
            evidence: Vec::new(),
            seq: current.next_seq(),
            set_by: self.user().to_owned(),
            set_at: fuda_keyd::now(),
            justification: justification
                .map(str::trim)
                .filter(|j| !j.is_empty())
                .map(str::to_owned),
            ..current
        };
        let compact = fuda_core::label::compact::encode(&self.identity.sign(label));
        let answer = self
            .conn
            .client
            .reclassify(Reclassify {
                header: old.to_bytes(),
                label: compact,
            })
            .map_err(|source| ProtectError::Service {
                action: "change the level of",
                path: path.to_owned(),
                source,
            })?;
        let rewrite = |source| ProtectError::Rewrite {
            path: path.to_owned(),
            source,
        };
        let (new, len) = Header::parse_bytes(&answer.header).map_err(rewrite)?;
        if len != answer.header.len()
            || new.label().map(|l| l.doc_id()) != old.label().map(|l| l.doc_id())
        {
            return Err(rewrite(envelope::Error::Header(
                "the key service answered with the header of another document".into(),
            )));
        }
        envelope::replace_header(path, &old, &new).map_err(rewrite)?;
        access
            .apply(path)
            .map_err(|e| rewrite(envelope::Error::Io(e)))?;
        Ok(answer.document)
    }
}
