//! Saving a working copy back: the changed plaintext of a protected document becomes its
//! next version — the same document id and file key, a new label signed by the person
//! who saved it, the version recorded by the key service (which checks the `edit` right)
//! before the protected file is replaced atomically. The working copy goes only after the
//! new protected file decrypted to exactly what was read from it.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use fuda_core::digest::Digest;
use fuda_core::envelope::{self, Decryptor, Header, LabelStanza, StreamOptions};
use fuda_core::label::{DocId, Label};
use fuda_core::rights::{Right, Rights};
use fuda_keyd::service::NewVersion;

use crate::modes::Access;
use crate::open::header_label;
use crate::protect::final_header;
use crate::{Account, ProtectError};

/// A working copy saved back by [`Account::save`].
#[derive(Clone, Debug)]
pub struct Saved {
    /// The protected file, now holding the new version.
    pub path: PathBuf,
    /// The document.
    pub doc: DocId,
    /// The version the key service recorded.
    pub version: u32,
    /// Whether the working copy was removed.
    pub removed: bool,
}

impl Account<'_> {
    /// Saves the content of the working copy `work` (its label `work_label`, of the same
    /// document) as the next version of the protected file `protected`, which keeps its
    /// mode, owner, group and ACL. The working copy is removed unless `keep`; on any
    /// failure it stays, and the protected file holds the old version or the new one.
    pub fn save(
        &self,
        work: &Path,
        work_label: &Label,
        protected: &Path,
        keep: bool,
    ) -> Result<Saved, ProtectError> {
        let access = Access::read(protected).map_err(read_err(protected))?;
        let opened = self.open(protected, Rights::NONE.with(Right::View).with(Right::Edit))?;
        let (doc, key) = (opened.doc, opened.key);
        if work_label.doc != doc {
            return Err(ProtectError::OtherDocument {
                work: work.to_owned(),
                protected: protected.to_owned(),
                work_doc: work_label.doc.to_string(),
                doc: doc.to_string(),
            });
        }
        let old = opened.decryptor.header().clone();
        drop(opened.decryptor);
        let current = header_label(&old, protected)?.label;
        let before = fuda_core::longpath::metadata(work).map_err(read_err(work))?;
        let digest = Digest::of_file(work).map_err(read_err(work))?;
        let label = Label {
            seq: current.next_seq().max(work_label.next_seq()),
            set_by: self.user().to_owned(),
            set_at: fuda_keyd::now(),
            content_sha256: Some(digest),
            justification: None,
            ..current
        };
        let compact = fuda_core::label::compact::encode(&self.identity.sign(label));
        let header = with_label(&old, &key, doc, &compact, protected)?;
        let answer = self
            .conn
            .client
            .save_version(NewVersion {
                header: header.to_bytes(),
                size: before.len(),
                digest: digest.to_string(),
            })
            .map_err(|source| ProtectError::Service {
                action: "save a new version of",
                path: protected.to_owned(),
                source,
            })?;
        let header = final_header(protected, &header, &answer.header)?;
        let write_err = |source| ProtectError::Write {
            path: protected.to_owned(),
            source,
        };
        let input = fuda_core::longpath::reach(work)
            .and_then(std::fs::File::open)
            .map_err(read_err(work))?;
        envelope::write_atomically(protected, true, |out| {
            envelope::encrypt_with_header(&key, &header, input, out, &StreamOptions::default())
        })
        .map_err(write_err)?;
        access
            .apply(protected)
            .map_err(|e| write_err(envelope::Error::Io(e)))?;
        // The new version must hold what was read, and the working copy must not have
        // changed meanwhile (an editor still writing keeps its copy).
        let file = fuda_core::longpath::reach(protected)
            .and_then(std::fs::File::open)
            .map_err(read_err(protected))?;
        let reader = Decryptor::new(file)
            .and_then(|d| d.into_reader(&key, &StreamOptions::default()))
            .map_err(|source| ProtectError::Decrypt {
                path: protected.to_owned(),
                source,
            })?;
        let seen = Digest::of_reader(reader).map_err(read_err(protected))?;
        let after = fuda_core::longpath::metadata(work).ok();
        if seen != digest
            || after.is_none_or(|a| {
                a.len() != before.len() || a.modified().ok() != before.modified().ok()
            })
        {
            return Err(ProtectError::Changed {
                path: work.to_owned(),
            });
        }
        let removed = !keep && fuda_core::longpath::remove_file(work).is_ok();
        Ok(Saved {
            path: protected.to_owned(),
            doc,
            version: answer.document.version,
            removed,
        })
    }
}

/// `old` with its label stanza carrying `compact` instead (the rights snapshot and service
/// id kept), its MAC recomputed with the document's key.
pub(crate) fn with_label(
    old: &Header,
    key: &fuda_core::envelope::FileKey,
    doc: DocId,
    compact: &[u8],
    path: &Path,
) -> Result<Header, ProtectError> {
    let stanza = old.label().ok_or_else(|| ProtectError::NoFudaLabel {
        path: path.to_owned(),
    })?;
    let body = match serde_json::from_slice::<serde_json::Value>(stanza.body()) {
        Ok(serde_json::Value::Object(mut wrapper)) => {
            wrapper.insert(
                "label".into(),
                base64::engine::general_purpose::STANDARD
                    .encode(compact)
                    .into(),
            );
            serde_json::Value::Object(wrapper).to_string().into_bytes()
        }
        _ => compact.to_vec(),
    };
    let new = LabelStanza::new(doc, body).to_stanza();
    let stanzas = old
        .stanzas()
        .iter()
        .map(|s| {
            if s.tag == new.tag {
                new.clone()
            } else {
                s.clone()
            }
        })
        .collect();
    old.rewrap(key, stanzas)
        .map_err(|source| ProtectError::Encrypt {
            path: path.to_owned(),
            source,
        })
}

/// An error reading `path`.
fn read_err(path: &Path) -> impl Fn(std::io::Error) -> ProtectError + '_ {
    move |source| ProtectError::Read {
        path: path.to_owned(),
        source,
    }
}
