//! Protecting a file: a signed label and the rights snapshot in the `fuda/label` stanza,
//! the header (the file key wrapped to the key service and the policy's recovery
//! recipients) registered, the content encrypted behind the header the service answered
//! with (which adds the organisation's recovery stanzas), the protected copy opened
//! through the service (or, by a hook protecting for someone else, decrypted with the key
//! it made) and compared with the original — and only then the original removed
//! (docs/key-service.md). The document keeps its label's id; a run interrupted after the
//! copy was placed is finished by the next one.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use fuda_core::digest::Digest;
use fuda_core::envelope::{self, x25519, FileKey, Header, LabelStanza, StreamOptions};
use fuda_core::label::{DocId, Evidence, Label, Method, PolicyRef, LABEL_VERSION};
use fuda_core::policy::{Level, Policy, Protect};
use fuda_core::rights::{Right, Rights};
use fuda_keyd::registry::{Grant, Registration};
use fuda_keyd::service::Registered;

use crate::{grants, Account, ProtectError};

/// How to protect one file.
#[derive(Clone, Debug)]
pub struct Protection<'a> {
    /// The level the protected file carries.
    pub level: &'a Level,
    /// Grants on top of the level's default grants.
    pub extra: &'a [Grant],
    /// The last day the document may be opened, within the level's `expires_days`.
    pub expires: Option<time::Date>,
    /// Keep the original file.
    pub keep: bool,
    /// The label the file carries now, when it verified (valid or stale): the protected
    /// file keeps its document id (one document, one history in the audit log and the
    /// review), and its asset, origin and flags.
    pub current: Option<&'a Label>,
    /// Whom the document belongs to when a file-server hook protects it for someone, in
    /// order of preference (the label's owner, the file's owner in the file system): the
    /// key service makes the first active person of its directory the owner, with the
    /// level's default grants for that person's department. Empty: the protector.
    pub owners: Vec<String>,
    /// How the level was chosen (manual for `fuda protect`, auto for `fuda scan --protect`).
    pub method: Method,
    /// The rule that chose an automatic level.
    pub rule: Option<String>,
    /// Why an automatic level was chosen.
    pub evidence: Vec<Evidence>,
}

impl<'a> Protection<'a> {
    /// A person protects a file at `level` with the level's default grants, no expiry of
    /// their own, removing the original.
    pub fn manual(level: &'a Level) -> Protection<'a> {
        Protection {
            level,
            extra: &[],
            expires: None,
            keep: false,
            current: None,
            owners: Vec::new(),
            method: Method::Manual,
            rule: None,
            evidence: Vec::new(),
        }
    }
}

/// A file protected by [`Protector::protect`].
#[derive(Clone, Debug)]
pub struct Protected {
    /// The protected file (`NAME.fuda`).
    pub path: PathBuf,
    /// Its document id in the key service's registry (the id of the label it carried).
    pub doc: DocId,
    /// Who owns it, as the key service registered it.
    pub owner: String,
    /// Who may do what.
    pub grants: Vec<Grant>,
    /// When it expires (Unix seconds).
    pub expires_at: Option<i64>,
}

/// What must not change about the original while it is protected: which file it is, its
/// size, and when its content and inode last changed.
#[derive(PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(m: &std::fs::Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

/// Protects files for one owner through one key service: connected once, used for every
/// file.
pub struct Protector<'a> {
    pub(crate) account: &'a Account<'a>,
    pub(crate) policy: &'a Policy,
    pub(crate) dept: Option<String>,
    pub(crate) host: String,
    pub(crate) service_id: String,
    /// The key service's recipient, then the policy's recovery recipients that the service
    /// does not add itself.
    pub(crate) recipients: Vec<x25519::Recipient>,
}

/// The `fuda/label` stanza body: the signed compact label and the rights snapshot (shown
/// by `fuda inspect` without asking the service).
pub fn stanza_body(compact: &[u8], grants: &[Grant], service: &str) -> Vec<u8> {
    let rights: BTreeMap<String, String> = grants
        .iter()
        .map(|g| (g.principal.to_string(), g.rights.to_string()))
        .collect();
    fuda_core::store::envelope::encode_body(compact, &rights, service)
}

impl<'a> Protector<'a> {
    /// A protector for the account's user (in department `dept`, on machine `host`, as the
    /// registry records it) under `policy`: asks the service for its recipient and checks
    /// the policy's recovery recipients.
    pub fn new(
        account: &'a Account<'a>,
        policy: &'a Policy,
        dept: Option<String>,
        host: impl Into<String>,
    ) -> Result<Protector<'a>, ProtectError> {
        let info = account
            .conn
            .client
            .info()
            .map_err(ProtectError::KeyService)?;
        let mut recipients = vec![info.recipient.parse::<x25519::Recipient>().map_err(|_| {
            ProtectError::BadServiceRecipient {
                recipient: info.recipient.clone(),
            }
        })?];
        // The service adds a stanza for each recovery recipient it holds to every header it
        // registers; the client wraps only to the policy's others (a service from before
        // recovery keys answers NotFound and adds none).
        let added_by_service = account
            .conn
            .client
            .recovery_recipients()
            .unwrap_or_default();
        for r in &policy.recovery_recipients {
            if added_by_service.contains(r) {
                continue;
            }
            recipients.push(r.parse().map_err(|_| ProtectError::BadPolicy {
                policy: policy.to_string(),
                what: format!("recovery recipient {r:?} is not an age X25519 recipient"),
            })?);
        }
        Ok(Protector {
            account,
            policy,
            dept,
            host: host.into(),
            service_id: info.id,
            recipients,
        })
    }

    /// Encrypts `path` into `NAME.fuda`, registers it with the key service, opens the
    /// protected copy through the service and compares it with the original, and only then
    /// removes the original (unless [`Protection::keep`]). On any failure before that the
    /// original is untouched and no protected copy is left behind (nor after SIGTERM: the
    /// copy is provisional until verified, see [`fuda_core::fsutil::Provisional`]).
    pub fn protect(&self, path: &Path, p: &Protection<'_>) -> Result<Protected, ProtectError> {
        let meta = self.check(path, p)?;
        // For someone else, the department's default grants are the owner's: the service
        // binds them (the protector's own department gets nothing through it).
        let dept = self.dept.as_deref().filter(|_| p.owners.is_empty());
        let grants = grants::grants(self.policy, p.level, dept, p.extra)?;
        let now = fuda_keyd::now();
        let expires_at = grants::expiry(p.level, p.expires, now)?;
        let digest = Digest::of_file(path).map_err(|source| ProtectError::Read {
            path: path.to_owned(),
            source,
        })?;
        let dst = envelope::protected_path(path);
        // What would stop the copy from being placed is found before anything is
        // registered: an existing file, a name too long for the file system, a folder that
        // cannot be read.
        match fuda_core::longpath::symlink_metadata(&dst) {
            Ok(_) => return self.finish(path, p, &meta, digest, &dst),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(encrypt_err(&dst, envelope::Error::Io(e))),
        }
        let registration = Registration {
            header: Vec::new(),
            name: path.file_name().map(PathBuf::from).unwrap_or_default(),
            level: p.level.id.clone(),
            grants: grants.clone(),
            max_rights: p.level.max_rights,
            expires_at,
            offline_days: p.level.offline_days,
            size: meta.len(),
            digest: digest.to_string(),
            host: self.host.clone(),
            path: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned()),
            owners: p.owners.clone(),
            // For someone else: the department's default rights, for the service to bind
            // to the owner's department when it holds no organisation's policy.
            dept_rights: (!p.owners.is_empty())
                .then(|| grants::dept_rights(p.level))
                .flatten(),
        };
        // One document, one id: the label's. A copy of a labeled file that is protected
        // already (`cp` keeps no history) becomes a document of its own.
        let (doc, file_key, header, registered) = match self.register(
            path,
            p,
            p.current.map(|l| l.doc),
            digest,
            now,
            &registration,
        ) {
            Err(ProtectError::Register {
                source: fuda_keyd::Error::Conflict(_),
                ..
            }) if p.current.is_some() => {
                self.register(path, p, None, digest, now, &registration)?
            }
            other => other?,
        };
        let header = final_header(&dst, &header, &registered.header)?;
        // Until it is verified, the protected copy goes on any failure (or on
        // SIGTERM/SIGINT/SIGHUP); the original stays until then.
        let placed = fuda_core::fsutil::Provisional::new(&dst);
        envelope::encrypt_to_path_with_header(
            path,
            &file_key,
            &header,
            &dst,
            &StreamOptions::default(),
        )
        .map_err(|e| encrypt_err(&dst, e))?;
        crate::modes::Access::of(path, &meta)
            .and_then(|a| a.apply(&dst))
            .map_err(|e| encrypt_err(&dst, envelope::Error::Io(e)))?;
        let for_someone_else = registered.document.owner != self.account.user();
        self.verify(
            path,
            &meta,
            digest,
            &dst,
            for_someone_else.then_some(&file_key),
        )?;
        placed.keep();
        if !p.keep {
            fuda_core::longpath::remove_file(path).map_err(|source| {
                ProtectError::RemoveOriginal {
                    path: path.to_owned(),
                    protected: dst.clone(),
                    source,
                }
            })?;
        }
        Ok(Protected {
            path: dst,
            doc,
            owner: registered.document.owner,
            grants: registered.document.grants,
            expires_at,
        })
    }

    /// `dst` exists already. When it is the protected copy of this very file — the same
    /// document as the file's label (an unlabeled file has no id to match: a copy this
    /// user protected at the level asked for), opening through the service to exactly the
    /// original's content — an earlier run was interrupted before it removed the original:
    /// this run finishes it. Anything else at `dst` is left alone and refused.
    fn finish(
        &self,
        path: &Path,
        p: &Protection<'_>,
        meta: &std::fs::Metadata,
        digest: Digest,
        dst: &Path,
    ) -> Result<Protected, ProtectError> {
        let exists = || encrypt_err(dst, envelope::Error::OutputExists(dst.to_owned()));
        let theirs = crate::rewrap::read_header(dst)
            .and_then(|h| crate::open::header_label(&h, dst))
            .map_err(|_| exists())?
            .label;
        let same_doc = match p.current {
            Some(label) => label.doc == theirs.doc,
            None => theirs.set_by == self.account.user() && theirs.level == p.level.id,
        };
        if !same_doc {
            return Err(exists());
        }
        let doc = theirs.doc;
        if self.verify(path, meta, digest, dst, None).is_err() {
            return Err(exists());
        }
        let registered = self
            .account
            .conn
            .rights(dst)
            .map_err(|_| exists())?
            .document;
        if !p.keep {
            fuda_core::longpath::remove_file(path).map_err(|source| {
                ProtectError::RemoveOriginal {
                    path: path.to_owned(),
                    protected: dst.to_owned(),
                    source,
                }
            })?;
        }
        Ok(Protected {
            path: dst.to_owned(),
            doc,
            owner: registered.owner,
            grants: registered.grants,
            expires_at: registered.expires_at,
        })
    }

    /// Signs the label of document `doc` (a new id when `None`), builds the header and
    /// registers it: the service answers with the header the file must carry (its own,
    /// plus the organisation's recovery stanzas, with a new MAC), and the content is then
    /// encrypted once, behind that header.
    fn register(
        &self,
        path: &Path,
        p: &Protection<'_>,
        doc: Option<DocId>,
        digest: Digest,
        now: i64,
        registration: &Registration,
    ) -> Result<(DocId, FileKey, Header, Registered), ProtectError> {
        let doc = doc.unwrap_or_default(); // a new id
        let signed = self
            .account
            .identity
            .sign(self.label(path, p, doc, digest, now));
        let compact = fuda_core::label::compact::encode(&signed);
        let stanza = LabelStanza::new(
            doc,
            stanza_body(&compact, &registration.grants, &self.service_id),
        );
        let dst = envelope::protected_path(path);
        let (file_key, header) = envelope::new_header(&self.recipients, Some(&stanza))
            .map_err(|e| encrypt_err(&dst, e))?;
        let registered = self
            .account
            .conn
            .client
            .register(Registration {
                header: header.to_bytes(),
                ..registration.clone()
            })
            .map_err(|source| ProtectError::Register {
                path: path.to_owned(),
                source,
            })?;
        Ok((doc, file_key, header, registered))
    }

    /// Whether `path` may be protected at `level`: a regular file, not protected yet, at a
    /// level the policy protects. Returns its metadata.
    fn check(&self, path: &Path, p: &Protection<'_>) -> Result<std::fs::Metadata, ProtectError> {
        let level = p.level;
        let meta =
            fuda_core::longpath::symlink_metadata(path).map_err(|source| ProtectError::Read {
                path: path.to_owned(),
                source,
            })?;
        if !meta.is_file() {
            return Err(ProtectError::NotAFile {
                path: path.to_owned(),
            });
        }
        if path.extension().is_some_and(|e| e == envelope::EXTENSION) {
            return Err(ProtectError::AlreadyProtected {
                path: path.to_owned(),
            });
        }
        if let Some(copy) = p.current.filter(|l| l.method.is_working_copy()) {
            return Err(ProtectError::WorkingCopy {
                path: path.to_owned(),
                doc: copy.doc.to_string(),
            });
        }
        if level.protect == Protect::Never {
            return Err(ProtectError::NeverProtected {
                name: level.name_ja.clone(),
                id: level.id.clone(),
                policy: self.policy.to_string(),
            });
        }
        Ok(meta)
    }

    /// The owner opens the protected copy `dst` through the service: it must hold what was
    /// read (`digest`), and the original must still be the file `meta` described (an
    /// editor may have saved it since, and that save must not be deleted). A hook that
    /// protected the file for someone else holds no right on it: it decrypts the copy
    /// with the file key it made (`own_key`) instead.
    fn verify(
        &self,
        path: &Path,
        meta: &std::fs::Metadata,
        digest: Digest,
        dst: &Path,
        own_key: Option<&FileKey>,
    ) -> Result<(), ProtectError> {
        let unverified = |source| ProtectError::Unverified {
            path: path.to_owned(),
            source: Box::new(source),
        };
        let reader = match own_key {
            None => self
                .account
                .open(dst, Rights::NONE.with(Right::View))
                .and_then(|opened| opened.reader()),
            Some(key) => fuda_core::longpath::reach(dst)
                .and_then(std::fs::File::open)
                .map_err(|source| ProtectError::Read {
                    path: dst.to_owned(),
                    source,
                })
                .and_then(|file| {
                    envelope::Decryptor::new(file)
                        .and_then(|d| d.into_reader(key, &StreamOptions::default()))
                        .map_err(|source| ProtectError::Decrypt {
                            path: dst.to_owned(),
                            source,
                        })
                }),
        }
        .map_err(unverified)?;
        let seen = Digest::of_reader(reader).map_err(|source| {
            unverified(ProtectError::Read {
                path: dst.to_owned(),
                source,
            })
        })?;
        let now = fuda_core::longpath::symlink_metadata(path).ok();
        if seen != digest || now.map(|m| Stamp::of(&m)) != Some(Stamp::of(meta)) {
            return Err(ProtectError::Changed {
                path: path.to_owned(),
            });
        }
        Ok(())
    }

    /// The label the protected file carries: the level chosen, the owner, and what the
    /// file's current label said about its asset, origin and flags.
    fn label(
        &self,
        path: &Path,
        p: &Protection<'_>,
        doc: DocId,
        digest: Digest,
        now: i64,
    ) -> Label {
        let me = self.account.user().to_owned();
        let current = p.current;
        // The label's own document keeps its history: this label comes after it.
        let same = current.filter(|l| l.doc == doc);
        Label {
            v: LABEL_VERSION,
            doc,
            level: p.level.id.clone(),
            policy: PolicyRef {
                id: self.policy.id.clone(),
                version: self.policy.version,
            },
            owner: p.owners.first().cloned().unwrap_or_else(|| me.clone()),
            dept: same
                .and_then(|l| l.dept.clone())
                .or_else(|| self.dept.clone()),
            asset: current.and_then(|l| l.asset.clone()).or_else(|| {
                self.policy
                    .asset_for(path, Some(&p.level.id))
                    .map(|a| a.id.clone())
            }),
            method: p.method,
            rule: p.rule.clone(),
            origin: current.and_then(|l| l.origin.clone()),
            set_by: me,
            set_at: now,
            seq: same.map_or(0, Label::next_seq),
            content_sha256: Some(digest),
            justification: None,
            flags: current.map(|l| l.flags.clone()).unwrap_or_default(),
            evidence: p.evidence.clone(),
        }
    }
}

/// An error placing the protected copy `dst`.
fn encrypt_err(dst: &Path, source: envelope::Error) -> ProtectError {
    ProtectError::Encrypt {
        path: dst.to_owned(),
        source,
    }
}

/// The header the key service answered with: the one sent, plus the organisation's
/// recovery stanzas, with a new MAC. It must be for the same document; its MAC is checked
/// with the file key before any content is written behind it.
pub(crate) fn final_header(
    dst: &Path,
    sent: &Header,
    answer: &[u8],
) -> Result<Header, ProtectError> {
    let bad = |what: String| ProtectError::Encrypt {
        path: dst.to_owned(),
        source: envelope::Error::Header(format!("the key service answered with {what}")),
    };
    let (header, len) = Header::parse_bytes(answer)
        .map_err(|e| bad(format!("a header that does not parse ({e})")))?;
    if len != answer.len() || header.label() != sent.label() {
        return Err(bad("the header of another document".into()));
    }
    Ok(header)
}
