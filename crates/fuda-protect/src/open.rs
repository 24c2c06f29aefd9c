//! Opening a protected file: a licence from the key service (or, when it is unreachable, a
//! cached offline licence still within its offline period), verified and unsealed with the
//! user's identity; then the content, streamed or written out atomically.

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use fuda_core::crashpoint::{self, Step};
use fuda_core::digest::Digest;
use fuda_core::envelope::{self, Decryptor, FileKey, Header, PayloadReader, StreamOptions};
use fuda_core::identity::Identity;
use fuda_core::label::DocId;
use fuda_core::label::SignedLabel;
use fuda_core::rights::{Right, Rights};
use fuda_core::store::Stored;
use fuda_keyd::client::{Embedded, KeyService};
use fuda_keyd::licence::{Granted, Request};
use fuda_keyd::tls::PinMismatch;

use crate::ProtectError;

/// A key service and what is needed to trust its answers.
pub struct Connection {
    /// The client (in-process or HTTPS).
    pub client: Box<dyn KeyService>,
    /// The service's licence signing key (Ed25519): pinned at enrollment for a remote
    /// service, read from the service itself for an embedded one.
    pub service_key: Vec<u8>,
}

impl Connection {
    /// A service whose licence signing key is known (`service_key`, raw bytes).
    pub fn new(client: Box<dyn KeyService>, service_key: Vec<u8>) -> Connection {
        Connection {
            client,
            service_key,
        }
    }

    /// A service pinned at enrollment: `signing_key` is its licence signing key in base64.
    pub fn pinned(
        client: Box<dyn KeyService>,
        signing_key: &str,
    ) -> Result<Connection, ProtectError> {
        let service_key = base64::engine::general_purpose::STANDARD
            .decode(signing_key)
            .map_err(|_| ProtectError::BadServiceKey)?;
        Ok(Connection::new(client, service_key))
    }

    /// The embedded service: in the same process, so its own signing key is the one to trust.
    pub fn embedded(client: Embedded) -> Result<Connection, ProtectError> {
        let key = client.service().info().signing_key;
        Connection::pinned(Box::new(client), &key)
    }
}

/// Where offline licences are kept (one private file per document, named by its checked
/// [`DocId`], never by text a file supplied). The sealed key inside opens only with the
/// user's identity.
#[derive(Clone, Debug)]
pub struct LicenceCache {
    dir: PathBuf,
}

impl LicenceCache {
    /// Licences in `dir` (created 0700 when the first is stored).
    pub fn new(dir: impl Into<PathBuf>) -> LicenceCache {
        LicenceCache { dir: dir.into() }
    }

    fn path(&self, doc: DocId) -> PathBuf {
        self.dir.join(format!("{doc}.json"))
    }

    /// The cached licence of `doc`, if there is a readable one.
    pub fn load(&self, doc: DocId) -> Option<Granted> {
        let bytes = std::fs::read(self.path(doc)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Keeps `granted` for offline use, or forgets the old one when it allows none. A
    /// failure only costs the offline licence.
    pub fn store(&self, doc: DocId, granted: &Granted) {
        let l = &granted.licence.licence;
        if l.offline_until <= l.issued_at {
            self.forget(doc);
            return;
        }
        let _ = fuda_core::fsutil::create_private_dir(&self.dir);
        if let Ok(json) = serde_json::to_vec(granted) {
            let _ = fuda_core::fsutil::write_atomic(&self.path(doc), &json, 0o600);
        }
    }

    /// Forgets the licence of `doc` (a refusal ends offline use).
    pub fn forget(&self, doc: DocId) {
        let _ = std::fs::remove_file(self.path(doc));
    }
}

/// Where the licence that opened a file came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LicenceSource {
    /// The key service, just now.
    Service,
    /// A cached offline licence: the service was unreachable.
    Offline {
        /// Why the service could not be reached.
        reason: String,
        /// Until when (Unix seconds) the offline licence holds.
        until: i64,
        /// Set when the reason is a TLS certificate that is not the pinned one: someone may
        /// be intercepting the connection, and the user must hear of it.
        pin_mismatch: Option<PinMismatch>,
    },
}

/// A user at a key service: the identity licences are sealed to, and the offline licences.
pub struct Account<'a> {
    /// The key service.
    pub conn: &'a Connection,
    /// The user's identity (its name is the user name at the service).
    pub identity: &'a Identity,
    /// Offline licences; `None` keeps none.
    pub licences: Option<LicenceCache>,
}

/// A protected file whose licence was granted: its key, and the content still to read.
pub struct Opened {
    /// The document.
    pub doc: DocId,
    /// The licence (the rights it lists are every right the user holds now).
    pub granted: Granted,
    /// Where the licence came from.
    pub source: LicenceSource,
    path: PathBuf,
    pub(crate) key: FileKey,
    pub(crate) decryptor: Decryptor<File>,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("doc", &self.doc)
            .field("path", &self.path)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Opened {
    /// The rights the licence lists.
    pub fn rights(&self) -> Rights {
        self.granted.licence.licence.rights
    }

    /// A streaming reader of the content (each chunk authenticated as it is read).
    pub fn reader(self) -> Result<PayloadReader<BufReader<File>>, ProtectError> {
        let path = self.path;
        self.decryptor
            .into_reader(&self.key, &StreamOptions::default())
            .map_err(|source| ProtectError::Decrypt { path, source })
    }

    /// Decrypts the whole content into `out`; returns its length. On error `out` holds the
    /// content of the chunks before the bad one.
    pub fn write_to(self, out: impl Write) -> Result<u64, ProtectError> {
        let path = self.path;
        self.decryptor
            .decrypt_with_key(&self.key, out, &StreamOptions::default())
            .map_err(|source| ProtectError::Decrypt { path, source })
    }

    /// Like [`Opened::write_file`], and the new file gets the extended attribute `name`
    /// set to `value(SHA-256 of the content)` before it appears at `out`: a working copy
    /// is never there without its label, however the process ends. Returns the length and
    /// whether the attribute was set (`false`: the file system refuses user extended
    /// attributes; the file is written all the same).
    pub fn write_file_with_attr(
        self,
        out: &Path,
        name: &str,
        value: impl FnOnce(Digest) -> Vec<u8>,
    ) -> Result<(u64, bool), ProtectError> {
        let (key, decryptor) = (self.key, self.decryptor);
        envelope::write_atomically(out, false, |w| {
            let mut hashing = Hashing {
                inner: &mut *w,
                ctx: ring::digest::Context::new(&ring::digest::SHA256),
            };
            let n = decryptor.decrypt_with_key(&key, &mut hashing, &StreamOptions::default())?;
            let mut digest = [0u8; 32];
            digest.copy_from_slice(hashing.ctx.finish().as_ref());
            w.flush().map_err(envelope::Error::Io)?;
            let file: &File = w.get_ref();
            crashpoint::reached(Step::SetAttr);
            match xattr::FileExt::set_xattr(file, name, &value(Digest(digest))) {
                Ok(()) => Ok((n, true)),
                Err(e) if crate::modes::unsupported(&e) => Ok((n, false)),
                Err(e) => Err(envelope::Error::Io(e)),
            }
        })
        .map_err(|source| ProtectError::Write {
            path: out.to_owned(),
            source,
        })
    }

    /// Decrypts the whole content into a new file `out` (0600), atomically: a damaged
    /// file leaves nothing at `out`, and an existing `out` is refused. Returns its length.
    pub fn write_file(self, out: &Path) -> Result<u64, ProtectError> {
        let (key, decryptor) = (self.key, self.decryptor);
        envelope::write_atomically(out, false, |w| {
            decryptor.decrypt_with_key(&key, w, &StreamOptions::default())
        })
        .map_err(|source| ProtectError::Write {
            path: out.to_owned(),
            source,
        })
    }
}

/// A writer that hashes (SHA-256) what passes through it.
struct Hashing<W> {
    inner: W,
    ctx: ring::digest::Context,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.ctx.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The signed label in the `fuda/label` stanza of `header` (of the protected file `path`).
pub(crate) fn header_label(header: &Header, path: &Path) -> Result<SignedLabel, ProtectError> {
    let stanza = header.label().ok_or_else(|| ProtectError::NoFudaLabel {
        path: path.to_owned(),
    })?;
    match fuda_core::store::envelope::decode_body(stanza.body()) {
        Stored::Signed(signed) if signed.label.doc == stanza.doc_id() => Ok(*signed),
        _ => Err(ProtectError::NoFudaLabel {
            path: path.to_owned(),
        }),
    }
}

/// The document id in the label stanza of the protected file at `path`.
pub fn doc_of(path: &Path) -> Result<DocId, ProtectError> {
    let summary = envelope::inspect(path).map_err(|source| ProtectError::NotProtected {
        path: path.to_owned(),
        source,
    })?;
    summary
        .label
        .map(|l| l.doc_id)
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| ProtectError::NoFudaLabel {
            path: path.to_owned(),
        })
}

impl Account<'_> {
    /// The user's name at the key service.
    pub fn user(&self) -> &str {
        self.identity.name()
    }

    /// Asks for `rights` on the protected file at `path` and returns it opened. When the
    /// service is unreachable (or its certificate is not the pinned one), a cached licence
    /// still within its offline period and covering `rights` is used instead. A refusal
    /// forgets the cached licence.
    pub fn open(&self, path: &Path, rights: Rights) -> Result<Opened, ProtectError> {
        let file = fuda_core::longpath::reach(path)
            .and_then(File::open)
            .map_err(|source| ProtectError::Read {
                path: path.to_owned(),
                source,
            })?;
        let decryptor = Decryptor::new(file).map_err(|source| ProtectError::NotProtected {
            path: path.to_owned(),
            source,
        })?;
        let doc = decryptor
            .header()
            .label()
            .ok_or_else(|| ProtectError::NoFudaLabel {
                path: path.to_owned(),
            })?
            .doc_id();
        let request = Request {
            header: decryptor.header().to_bytes(),
            rights,
        };
        let (granted, source) = match self.conn.client.licence(request) {
            Ok(granted) => {
                if let Some(cache) = &self.licences {
                    cache.store(doc, &granted);
                }
                (granted, LicenceSource::Service)
            }
            Err(
                e @ (fuda_keyd::Error::Transport(_) | fuda_keyd::Error::CertificateMismatch(_)),
            ) => self.offline(path, doc, rights, e)?,
            Err(source) => {
                if let Some(cache) = &self.licences {
                    cache.forget(doc);
                }
                return Err(ProtectError::Service {
                    action: "open",
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let key = granted
            .open(
                &self.conn.service_key,
                self.identity.age_identity(),
                self.user(),
                &doc.to_string(),
            )
            .map_err(|source| ProtectError::Licence {
                path: path.to_owned(),
                source,
            })?;
        Ok(Opened {
            doc,
            granted,
            source,
            path: path.to_owned(),
            key,
            decryptor,
        })
    }

    /// The cached licence for `doc`, when it still holds and covers `rights`.
    fn offline(
        &self,
        path: &Path,
        doc: DocId,
        rights: Rights,
        unreachable: fuda_keyd::Error,
    ) -> Result<(Granted, LicenceSource), ProtectError> {
        let pin_mismatch = match &unreachable {
            fuda_keyd::Error::CertificateMismatch(m) => Some(m.clone()),
            _ => None,
        };
        let reason = unreachable.message();
        let refuse = |why: String| ProtectError::Offline {
            path: path.to_owned(),
            reason: reason.clone(),
            why,
            pin_mismatch: pin_mismatch.clone(),
        };
        let cached = self
            .licences
            .as_ref()
            .and_then(|c| c.load(doc))
            .ok_or_else(|| refuse("there is no offline licence".into()))?;
        let l = &cached.licence.licence;
        if fuda_keyd::now() >= l.offline_until {
            return Err(refuse(format!(
                "the offline licence ended at {}: connect to the service",
                rfc3339(l.offline_until)
            )));
        }
        if !l.rights.allows(Right::View) || !l.rights.covers(rights) {
            return Err(refuse(format!(
                "the offline licence allows {} only",
                l.rights
            )));
        }
        let until = l.offline_until;
        Ok((
            cached,
            LicenceSource::Offline {
                reason,
                until,
                pin_mismatch,
            },
        ))
    }

    /// Writes the content of the protected file `path` to the new file `out` (0600,
    /// atomically), unprotected: asks for the view and export rights. Returns where the
    /// licence came from.
    pub fn export(&self, path: &Path, out: &Path) -> Result<LicenceSource, ProtectError> {
        let opened = self.open(path, Rights::NONE.with(Right::View).with(Right::Export))?;
        let source = opened.source.clone();
        opened.write_file(out)?;
        Ok(source)
    }
}

/// Unix seconds as an RFC 3339 UTC time.
fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}
