//! Setting, checking and removing labels on files, with the policy's rules (DESIGN §3):
//! downgrades and removals need a justification; automatic labels never replace a manual
//! label and never lower any label.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::digest::Digest;
use crate::digest_cache::{DigestCache, FileStamp};
use crate::identity::Identity;
use crate::label::{
    self, compact, DocId, Evidence, Flag, Label, Method, PolicyRef, SignedLabel, Status,
    VerificationMemo,
};
use crate::policy::{Level, MsipMapping, Policy};
use crate::store::envelope::{is_protected, EnvelopeStore};
use crate::store::ooxml::OoxmlStore;
use crate::store::sidecar::{SidecarCache, SidecarStore};
use crate::store::xattr::XattrStore;
use crate::store::{ForeignLabel, LabelStore, StoreError, StoreKind, Stored, WriteContext};
use crate::trust::TrustStore;

/// Which store to use for files that are not Office documents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StorePreference {
    /// Extended attributes; a file system that refuses them is an error.
    #[default]
    Xattr,
    /// Extended attributes, falling back to the sidecar index (reported as a fallback)
    /// where the file system refuses them.
    Auto,
    /// Always the sidecar index.
    Sidecar,
}

/// Extensions of Office Open XML packages that carry embedded labels.
pub const OOXML_EXTENSIONS: [&str; 9] = [
    "docx", "docm", "dotx", "xlsx", "xlsm", "xltx", "pptx", "pptm", "potx",
];

/// Whether `path` names an Office Open XML document.
pub fn is_ooxml(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| OOXML_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// Errors from labeling operations; each names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabelingError {
    /// A store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Lowering a label needs a reason.
    #[error(
        "{path}: lowering the label from {from} to {to} needs a reason: add --justify \"why\""
    )]
    DowngradeNeedsJustification {
        /// The file.
        path: PathBuf,
        /// Current level, as people name it (極秘).
        from: String,
        /// Requested level, as people name it.
        to: String,
    },
    /// Replacing a label whose signature is broken, or an older label written back over a
    /// newer one, needs a reason.
    #[error("{path}: the current label is {status} (its true level is unknown); replacing it needs a reason: add --justify \"why\"")]
    ReplaceNeedsJustification {
        /// The file.
        path: PathBuf,
        /// Status of the current label.
        status: Status,
    },
    /// Removing a label needs a reason.
    #[error("{0}: removing a label needs a reason: add --justify \"why\"")]
    RemoveNeedsJustification(PathBuf),
    /// The asset is not in the policy.
    #[error("unknown asset {asset:?}: the policy defines {known}")]
    UnknownAsset {
        /// Requested asset id.
        asset: String,
        /// Assets the policy defines.
        known: String,
    },
    /// Not a regular file.
    #[error("{0}: not a regular file (directories need -r)")]
    NotAFile(PathBuf),
    /// A remembered label names a level the policy in force does not define.
    #[error("{path}: cannot restore its label: level {level:?} is not defined by policy {policy}; label the file again with `fuda label set`")]
    RestoreUnknownLevel {
        /// The file.
        path: PathBuf,
        /// The remembered level id.
        level: String,
        /// The policy in force.
        policy: String,
    },
}

/// What a file's label looks like after reading and verifying it.
#[derive(Clone, Debug, Serialize)]
pub struct FileLabel {
    /// The file.
    pub path: PathBuf,
    /// Verification status.
    pub status: Status,
    /// Where the label was found (none when missing).
    pub store: Option<StoreKind>,
    /// The label, when one could be decoded (or mapped from a foreign one).
    pub label: Option<Label>,
    /// Key id of the signer.
    pub key: Option<String>,
    /// Name of the signer in the trust store.
    pub signer: Option<String>,
    /// Why the label is tampered, when it could not be decoded.
    pub problem: Option<String>,
    /// A label written by Microsoft Office / Purview, as found.
    pub foreign: Option<ForeignLabel>,
    /// Digest of the content as it is now, when verifying the label needed it (so callers
    /// such as the inventory need not read the file a second time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_sha256: Option<Digest>,
    /// The signed label between reading and verifying it (its label then moves to
    /// `label`, without a copy).
    #[serde(skip)]
    signed: Option<SignedLabel>,
    /// The file's metadata as read with the label (size, times, inode).
    #[serde(skip)]
    pub stamp: Option<FileStamp>,
}

/// What `set` should apply.
#[derive(Clone, Debug)]
pub struct SetRequest<'a> {
    /// The level to apply.
    pub level: &'a Level,
    /// How the level was chosen.
    pub method: Method,
    /// Ledger asset (validated against the policy); `None` keeps the current one or uses
    /// the policy's first matching asset.
    pub asset: Option<String>,
    /// Owner; `None` keeps the current owner or uses the labeler.
    pub owner: Option<String>,
    /// Reason, required for downgrades.
    pub justification: Option<String>,
    /// Rule id for automatic labels.
    pub rule: Option<String>,
    /// Flags to add.
    pub flags: Vec<Flag>,
    /// Why an automatic label was chosen (rule conditions and hit counts).
    pub evidence: Vec<Evidence>,
    /// SHA-256 of the file's whole content as the caller read it (e.g. to classify it),
    /// so that the file is not read again to check the old label and sign the new one.
    /// The label then covers exactly the content that was classified.
    pub content_sha256: Option<Digest>,
    /// The newest label version (`(seq, set_at)`) known elsewhere for documents, e.g. by
    /// the key service's audit log. A file whose label is older carries a replayed label:
    /// replacing it needs a justification (its true level is unknown, as for a tampered
    /// label), and the new label is placed after the newest known one.
    pub newest: Option<&'a HashMap<DocId, (u64, i64)>>,
}

/// The outcome of `set` on one file.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum SetOutcome {
    /// The label was written.
    Applied {
        /// The previous level id, if any.
        previous: Option<String>,
        /// Whether this lowered the level.
        downgrade: bool,
        /// Where it was written.
        store: StoreKind,
        /// Set when the sidecar was used because the file system refused xattrs.
        fallback: bool,
        /// The new label.
        label: Box<Label>,
    },
    /// An automatic label was not applied because a person labeled the file.
    KeptManual {
        /// The existing level id.
        level: String,
    },
    /// An automatic label was not applied because it would not raise the level.
    KeptHigher {
        /// The existing level id.
        level: String,
    },
}

/// The outcome of [`Labeler::restore`].
#[derive(Clone, Debug, Serialize)]
pub struct Restored {
    /// Where the label was written.
    pub store: StoreKind,
    /// Set when the sidecar was used because the file system refused xattrs.
    pub fallback: bool,
    /// The label as written (same document id, level and owner; new signature).
    pub label: Box<Label>,
}

/// Applies the policy's labeling rules on behalf of one identity.
pub struct Labeler<'a> {
    /// The policy.
    pub policy: &'a Policy,
    /// Who signs.
    pub identity: &'a Identity,
    /// Whose signatures count.
    pub trust: &'a TrustStore,
    /// The labeler's department, recorded in new labels.
    pub dept: Option<String>,
    /// Store for non-Office files.
    pub preference: StorePreference,
    /// Signatures verified before, to skip verifying them again.
    pub memo: Option<&'a VerificationMemo>,
    /// Content digests of files unchanged since they were last hashed.
    pub digests: Option<&'a DigestCache>,
}

impl Labeler<'_> {
    fn store_for(&self, path: &Path) -> &'static dyn LabelStore {
        if is_protected(path) {
            &EnvelopeStore
        } else if is_ooxml(path) {
            &OoxmlStore
        } else if self.preference == StorePreference::Sidecar {
            &SidecarStore
        } else {
            &XattrStore
        }
    }

    /// Reads what is stored for `path`, looking at the sidecar when xattrs hold nothing.
    fn read_stored(
        &self,
        path: &Path,
        sidecars: &mut SidecarCache,
    ) -> Result<Option<(&'static dyn LabelStore, Stored)>, StoreError> {
        let primary = self.store_for(path);
        if primary.kind() == StoreKind::Sidecar {
            return Ok(sidecars.read(path)?.map(|s| (primary, s)));
        }
        match primary.read(path) {
            Ok(Some(s)) => return Ok(Some((primary, s))),
            Ok(None) => {}
            Err(StoreError::XattrUnsupported(_)) => {}
            Err(e) => return Err(e),
        }
        if primary.kind() == StoreKind::Xattr {
            if let Some(s) = sidecars.read(path)? {
                return Ok(Some((&SidecarStore, s)));
            }
        }
        Ok(None)
    }

    /// Reads and verifies the label of one file.
    pub fn inspect(&self, path: &Path) -> Result<FileLabel, LabelingError> {
        self.inspect_many(&[path])
            .pop()
            .expect("one result per file")
    }

    /// Reads and verifies the labels of many files (an inventory's batch), with the same
    /// result per file as [`Labeler::inspect`]: each folder's sidecar index is read once,
    /// and the signatures are verified together ([`label::verify_many`]).
    pub fn inspect_many<P: AsRef<Path>>(
        &self,
        paths: &[P],
    ) -> Vec<Result<FileLabel, LabelingError>> {
        let mut sidecars = SidecarCache::default();
        let mut files: Vec<_> = paths
            .iter()
            .map(|p| self.read_unverified(p.as_ref(), true, None, &mut sidecars))
            .collect();
        self.verify_read(&mut files);
        files
    }

    /// Reads a file's label and checks its signature without reading the content (a good
    /// signature counts as valid; staleness is not checked): enough to tell which label a
    /// file carries, cheaply.
    pub fn peek(&self, path: &Path) -> Result<FileLabel, LabelingError> {
        self.read_label(path, false, None)
    }

    /// Reads and verifies a label; without `staleness`, the content is not read and a good
    /// signature counts as valid (enough to decide on downgrades). `known` is the digest of
    /// the whole file when the caller has it.
    fn read_label(
        &self,
        path: &Path,
        staleness: bool,
        known: Option<Digest>,
    ) -> Result<FileLabel, LabelingError> {
        let mut files =
            [self.read_unverified(path, staleness, known, &mut SidecarCache::default())];
        self.verify_read(&mut files);
        let [file] = files;
        file
    }

    /// Reads a file's label and, for a signed one, the digest of its content now; the
    /// signature is left to [`Labeler::verify_read`]. `known` is the digest of the whole
    /// file when the caller has it (xattr and sidecar labels cover the whole file).
    fn read_unverified(
        &self,
        path: &Path,
        staleness: bool,
        known: Option<Digest>,
        sidecars: &mut SidecarCache,
    ) -> Result<FileLabel, LabelingError> {
        let meta = crate::longpath::metadata(path).map_err(|e| StoreError::io(path, e))?;
        if !meta.is_file() {
            return Err(LabelingError::NotAFile(path.to_owned()));
        }
        let stamp = FileStamp::of(&meta);
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
            stamp: Some(stamp),
        };
        let Some((store, stored)) = self.read_stored(path, sidecars)? else {
            return Ok(out);
        };
        out.store = Some(store.kind());
        match stored {
            Stored::Corrupt(problem) => {
                out.status = Status::Tampered;
                out.problem = Some(problem);
            }
            Stored::Signed(signed) => {
                // A protected file's label is bound to its content by the header MAC.
                out.content_sha256 = match (staleness, store.kind(), known) {
                    (false, _, _) | (_, StoreKind::Envelope, _) => None,
                    (true, StoreKind::Xattr | StoreKind::Sidecar, Some(d)) => Some(d),
                    (true, kind, _) => Some(self.digest_of(path, kind, &stamp)?),
                };
                out.key = Some(signed.key.to_string());
                // `label` is filled once the signature is checked (verify_read).
                out.signed = Some(*signed);
            }
            Stored::Foreign(foreign) => {
                out.status = Status::Unverified;
                out.label = self.map_foreign(&foreign);
                out.foreign = Some(foreign);
            }
        }
        Ok(out)
    }

    /// The digest of a file's content as a label of `kind` covers it (the whole file, or
    /// an Office document without its label parts), from the digest cache when the file
    /// is unchanged since it was last hashed. `stamp` is its metadata, read before.
    pub fn digest_of(
        &self,
        path: &Path,
        kind: StoreKind,
        stamp: &FileStamp,
    ) -> Result<Digest, StoreError> {
        if let Some(d) = self.digests.and_then(|c| c.get(stamp, kind)) {
            return Ok(d);
        }
        let digest = match kind {
            StoreKind::Ooxml => OoxmlStore.content_digest(path)?,
            StoreKind::Envelope => return Err(StoreError::Protected(path.to_owned())),
            StoreKind::Xattr | StoreKind::Sidecar => {
                Digest::of_file_sized(path, stamp.size).map_err(|e| StoreError::io(path, e))?
            }
        };
        if let Some(cache) = self.digests {
            cache.insert(*stamp, kind, digest);
        }
        Ok(digest)
    }

    /// Verifies the signed labels among `files` in one batch and sets their status.
    fn verify_read(&self, files: &mut [Result<FileLabel, LabelingError>]) {
        let signed = |f: &Result<FileLabel, LabelingError>| {
            f.as_ref().ok().filter(|f| f.signed.is_some()).is_some()
        };
        let claims: Vec<label::Claim<'_>> = files
            .iter()
            .filter_map(|f| f.as_ref().ok())
            .filter_map(|f| {
                f.signed.as_ref().map(|signed| label::Claim {
                    signed,
                    current: f.content_sha256.as_ref(),
                })
            })
            .collect();
        let verdicts = label::verify_many(&claims, self.trust, self.memo);
        drop(claims);
        let read = files
            .iter_mut()
            .filter(|f| signed(f))
            .filter_map(|f| f.as_mut().ok());
        for (file, v) in read.zip(verdicts) {
            file.status = v.status;
            file.signer = v.signer;
            file.label = file.signed.take().map(|s| s.label);
        }
    }

    /// Maps a Purview label through the policy into an (unsigned) imported label.
    pub fn map_foreign(&self, foreign: &ForeignLabel) -> Option<Label> {
        let (level, origin, flags) = match self.policy.map_msip(&foreign.guid)? {
            MsipMapping::Own(level) => (level, format!("msip:{}", foreign.guid), Vec::new()),
            MsipMapping::Imported(level, import) => (
                level,
                format!("msip:{} {}", foreign.guid, import.origin),
                import.flags.clone(),
            ),
        };
        Some(Label {
            v: label::LABEL_VERSION,
            doc: DocId::new(),
            level: level.id.clone(),
            policy: self.policy_ref(),
            owner: String::new(),
            dept: None,
            asset: None,
            method: Method::Imported,
            rule: None,
            origin: Some(match &foreign.name {
                Some(name) => format!("{origin} ({name})"),
                None => origin,
            }),
            set_by: String::from("microsoft-purview"),
            set_at: foreign
                .set_date
                .as_deref()
                .and_then(parse_msip_date)
                .unwrap_or(0),
            seq: 0,
            content_sha256: None,
            justification: None,
            flags,
            evidence: Vec::new(),
        })
    }

    fn policy_ref(&self) -> PolicyRef {
        PolicyRef {
            id: self.policy.id.clone(),
            version: self.policy.version,
        }
    }

    /// Applies a label to one file.
    pub fn set(&self, path: &Path, req: &SetRequest<'_>) -> Result<SetOutcome, LabelingError> {
        let mut current = self.read_label(path, true, req.content_sha256)?;
        // The newest version of this document known elsewhere, when the file's is older.
        let newer = current
            .label
            .as_ref()
            .filter(|_| matches!(current.status, Status::Valid | Status::Stale))
            .and_then(|l| {
                req.newest?
                    .get(&l.doc)
                    .copied()
                    .filter(|v| l.version() < *v)
            });
        if newer.is_some() {
            current.status = Status::Replayed;
        }
        let current_level = current
            .label
            .as_ref()
            .and_then(|l| self.policy.level(&l.level));
        if matches!(req.method, Method::Auto | Method::Default) {
            if let Some(l) = &current.label {
                if matches!(l.method, Method::Manual | Method::Imported)
                    && current.status != Status::Tampered
                {
                    return Ok(SetOutcome::KeptManual {
                        level: l.level.clone(),
                    });
                }
                // The default level only fills a gap: a rule's label stays as it is.
                if req.method == Method::Default
                    && l.method == Method::Auto
                    && current.status != Status::Tampered
                {
                    return Ok(SetOutcome::KeptHigher {
                        level: l.level.clone(),
                    });
                }
            }
            // An automatic label on content that changed since is re-signed when the rules
            // still give the same level, so an edited file does not stay stale forever.
            let refresh = current.status == Status::Stale
                && current
                    .label
                    .as_ref()
                    .is_some_and(|l| matches!(l.method, Method::Auto | Method::Default));
            if let Some(level) = current_level {
                let keep = if refresh {
                    level.rank > req.level.rank
                } else {
                    level.rank >= req.level.rank
                };
                if keep && current.status != Status::Tampered {
                    return Ok(SetOutcome::KeptHigher {
                        level: level.id.clone(),
                    });
                }
            }
        }
        let justification = req
            .justification
            .as_deref()
            .map(str::trim)
            .filter(|j| !j.is_empty());
        if matches!(current.status, Status::Tampered | Status::Replayed) && justification.is_none()
        {
            return Err(LabelingError::ReplaceNeedsJustification {
                path: path.to_owned(),
                status: current.status,
            });
        }
        let downgrade = current_level.is_some_and(|l| l.rank > req.level.rank);
        if downgrade && justification.is_none() {
            return Err(LabelingError::DowngradeNeedsJustification {
                path: path.to_owned(),
                from: current_level.map(|l| l.name_ja.clone()).unwrap_or_default(),
                to: req.level.name_ja.clone(),
            });
        }
        if let Some(asset) = &req.asset {
            if self.policy.asset(asset).is_none() {
                return Err(LabelingError::UnknownAsset {
                    asset: asset.clone(),
                    known: self
                        .policy
                        .assets
                        .iter()
                        .map(|a| a.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        let previous = current.label.as_ref();
        let keep_doc =
            previous.filter(|_| current.status != Status::Tampered && current.foreign.is_none());
        let asset = req
            .asset
            .clone()
            .or_else(|| keep_doc.and_then(|l| l.asset.clone()))
            .or_else(|| {
                self.policy
                    .asset_for(path, Some(&req.level.id))
                    .map(|a| a.id.clone())
            });
        let mut flags = req.flags.clone();
        if let Some(prev) = previous {
            flags.extend(prev.flags.iter().copied());
        }
        // The first person to classify a document owns it: a rule's or the default level's
        // label (set by a file-server hook) does not make the hook its owner.
        let claimed = req.method == Method::Manual
            && keep_doc.is_some_and(|l| matches!(l.method, Method::Auto | Method::Default));
        let kept = keep_doc.filter(|_| !claimed);
        let label = Label {
            v: label::LABEL_VERSION,
            doc: keep_doc.map_or_else(DocId::new, |l| l.doc),
            level: req.level.id.clone(),
            policy: self.policy_ref(),
            owner: req
                .owner
                .clone()
                .or_else(|| kept.map(|l| l.owner.clone()).filter(|o| !o.is_empty()))
                .unwrap_or_else(|| self.identity.name().to_owned()),
            dept: kept
                .and_then(|l| l.dept.clone())
                .or_else(|| self.dept.clone())
                .or_else(|| keep_doc.and_then(|l| l.dept.clone())),
            asset,
            method: req.method,
            rule: req.rule.clone(),
            origin: previous.and_then(|l| l.origin.clone()),
            set_by: self.identity.name().to_owned(),
            set_at: now(),
            // A label written over one of the same document comes after it, so the older
            // one written back later is recognisable as a replay.
            seq: keep_doc
                .map_or(0, Label::next_seq)
                .max(newer.map_or(0, |(seq, _)| seq.saturating_add(1))),
            content_sha256: None,
            justification: justification.map(str::to_owned),
            flags,
            evidence: req.evidence.clone(),
        };
        let known = req.content_sha256.filter(|_| !is_ooxml(path));
        let (signed, kind, fallback) = self.write(path, label, req.level, current.store, known)?;
        Ok(SetOutcome::Applied {
            previous: previous.map(|l| l.level.clone()),
            downgrade,
            store: kind,
            fallback,
            label: Box::new(signed.label),
        })
    }

    /// Signs `label` for the content of `path` as it is now and writes it to the file's
    /// store; `current` is where the file's label was found before, so that a label that
    /// moved out of the sidecar does not leave a stale copy behind. `content_sha256` is
    /// the digest of the whole file when the caller has it (not for Office documents,
    /// whose label covers the content without the label parts).
    fn write(
        &self,
        path: &Path,
        label: Label,
        level: &Level,
        current: Option<StoreKind>,
        content_sha256: Option<Digest>,
    ) -> Result<(SignedLabel, StoreKind, bool), LabelingError> {
        let ctx = WriteContext {
            policy: self.policy,
            level,
            content_sha256,
        };
        let mut sign = |digest: Digest| {
            let mut l = label.clone();
            l.content_sha256 = Some(digest);
            let signed = self.identity.sign(l);
            if let Some(memo) = self.memo {
                memo.insert(&compact::encode(&signed));
            }
            signed
        };
        let store = self.store_for(path);
        let (signed, kind, fallback) = match store.write(path, ctx, &mut sign) {
            Ok(s) => (s, store.kind(), false),
            Err(StoreError::XattrUnsupported(_))
                if store.kind() == StoreKind::Xattr && self.preference == StorePreference::Auto =>
            {
                (
                    SidecarStore.write(path, ctx, &mut sign)?,
                    StoreKind::Sidecar,
                    true,
                )
            }
            Err(e) => return Err(e.into()),
        };
        if current == Some(StoreKind::Sidecar) && kind != StoreKind::Sidecar {
            SidecarStore.remove(path, self.policy)?;
        }
        Ok((signed, kind, fallback))
    }

    /// Puts a label the file carried before back on it after the file was replaced (an
    /// editor saved by renaming a new file over it, or a tool deleted and re-created it):
    /// the document id, level, owner, department, asset, method, origin, flags and
    /// evidence stay as they were; the label is re-signed by this labeler for the content
    /// as it is now. The content itself is not changed (Office documents get their
    /// embedded label parts rewritten, every other entry is copied untouched).
    ///
    /// Deciding *whether* to restore (the file must really be a replacement, and any label
    /// it carries of its own must be lower) is the caller's job; this refuses only what
    /// can never be right: a level this policy does not define, or a file that is not a
    /// regular file.
    pub fn restore(&self, path: &Path, previous: &Label) -> Result<Restored, LabelingError> {
        let Some(level) = self.policy.level(&previous.level) else {
            return Err(LabelingError::RestoreUnknownLevel {
                path: path.to_owned(),
                level: previous.level.clone(),
                policy: self.policy.to_string(),
            });
        };
        let current = self.read_label(path, false, None)?;
        // After the remembered label and after whatever the file carries of the same
        // document (an older label written back is replaced by a newer one).
        let seq = current
            .label
            .as_ref()
            .filter(|l| l.doc == previous.doc && current.status != Status::Tampered)
            .map_or(0, Label::next_seq)
            .max(previous.next_seq());
        let label = Label {
            v: label::LABEL_VERSION,
            policy: self.policy_ref(),
            set_by: self.identity.name().to_owned(),
            set_at: now(),
            seq,
            content_sha256: None,
            ..previous.clone()
        };
        let (signed, store, fallback) = self.write(path, label, level, current.store, None)?;
        Ok(Restored {
            store,
            fallback,
            label: Box::new(signed.label),
        })
    }

    /// Removes the label of one file; needs a justification. Returns the removed label.
    pub fn remove(&self, path: &Path, justification: &str) -> Result<FileLabel, LabelingError> {
        if justification.trim().is_empty() {
            return Err(LabelingError::RemoveNeedsJustification(path.to_owned()));
        }
        let current = self.read_label(path, false, None)?;
        if let Some(kind) = current.store {
            let store: &dyn LabelStore = match kind {
                StoreKind::Ooxml => &OoxmlStore,
                StoreKind::Sidecar => &SidecarStore,
                _ => &XattrStore,
            };
            store.remove(path, self.policy)?;
        }
        Ok(current)
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Parses the date formats Office writes into `MSIP_Label_*_SetDate`.
fn parse_msip_date(s: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .or_else(|| {
            // Older clients write offsets without a colon: 2018-11-08T21:13:16-0800.
            let (head, tail) = s.split_at(s.len().checked_sub(5)?);
            let fixed = format!("{head}{}:{}", &tail[..3], &tail[3..]);
            time::OffsetDateTime::parse(&fixed, &Rfc3339).ok()
        })
        .map(|t| t.unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::parse_msip_date;

    #[test]
    fn msip_dates_in_both_shapes() {
        assert_eq!(parse_msip_date("2018-11-09T05:13:16Z"), Some(1_541_740_396));
        assert_eq!(
            parse_msip_date("2018-11-08T21:13:16-0800"),
            Some(1_541_740_396)
        );
        assert_eq!(parse_msip_date("yesterday"), None);
    }
}
