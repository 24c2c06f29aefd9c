//! From personal to team (`fuda rewrap --to-service`): a file protected with the embedded
//! key service of one person's machine is registered with the team's key service — the
//! same document id, its label and owner kept, the level's default grants — and its header
//! replaced by the one the team service answered with (the same file key: the payload is
//! copied byte for byte). After that it opens for everyone the team service allows.

use std::io::Read;
use std::path::{Path, PathBuf};

use fuda_core::digest::Digest;
use fuda_core::envelope::{self, x25519, Header, LabelStanza};
use fuda_core::rights::{Right, Rights};
use fuda_keyd::registry::Registration;

use crate::modes::Access;
use crate::open::header_label;
use crate::protect::{final_header, stanza_body};
use crate::{grants, Account, ProtectError, Protected, Protector};

impl Protector<'_> {
    /// Registers the protected file at `path`, which the personal (embedded) key service
    /// of `personal` opens, with this protector's key service, and puts the header that
    /// service answered with on it. The owner of its label stays the owner (this service
    /// decides: only a hook or an administrator registers for someone else).
    ///
    /// `None`: the file is registered with this service already (its label stanza names
    /// it), and is left as it is.
    pub fn adopt(
        &self,
        personal: &Account<'_>,
        path: &Path,
    ) -> Result<Option<Protected>, ProtectError> {
        let read_err = |source| ProtectError::Read {
            path: path.to_owned(),
            source,
        };
        if service_of(&crate::rewrap::read_header(path)?).as_deref() == Some(&self.service_id) {
            return Ok(None);
        }
        let access = Access::read(path).map_err(read_err)?;
        let opened = personal.open(path, Rights::NONE.with(Right::View))?;
        let (doc, key) = (opened.doc, opened.key.clone());
        let old = opened.decryptor.header().clone();
        let signed = header_label(&old, path)?;
        let label = &signed.label;
        let level = self
            .policy
            .level(&label.level)
            .ok_or_else(|| ProtectError::UnknownLevel {
                name: label.level.clone(),
                policy: self.policy.to_string(),
                known: self.policy.level_names(),
            })?;
        let mut counted = Counted {
            inner: opened.reader()?,
            bytes: 0,
        };
        let digest = Digest::of_reader(&mut counted).map_err(read_err)?;
        let grants = grants::grants(
            self.policy,
            level,
            label.dept.as_deref().or(self.dept.as_deref()),
            &[],
        )?;
        let expires_at = grants::expiry(level, None, fuda_keyd::now())?;
        let compact = fuda_core::label::compact::encode(&signed);
        let stanza = LabelStanza::new(doc, stanza_body(&compact, &grants, &self.service_id));
        let encrypt_err = |source| ProtectError::Encrypt {
            path: path.to_owned(),
            source,
        };
        let mut stanzas = self
            .recipients
            .iter()
            .map(|r: &x25519::Recipient| x25519::wrap(&key, r))
            .collect::<Result<Vec<_>, _>>()
            .map_err(encrypt_err)?;
        stanzas.push(stanza.to_stanza());
        let header = Header::new(stanzas, &key).map_err(encrypt_err)?;
        let registered = self
            .account
            .conn
            .client
            .register(Registration {
                header: header.to_bytes(),
                name: path
                    .file_name()
                    .map(PathBuf::from)
                    .map(|n| envelope::plaintext_path(&n).unwrap_or(n))
                    .unwrap_or_default(),
                level: level.id.clone(),
                grants: grants.clone(),
                max_rights: level.max_rights,
                expires_at,
                offline_days: level.offline_days,
                size: counted.bytes,
                digest: digest.to_string(),
                host: self.host.clone(),
                path: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned()),
                owners: vec![label.owner.clone()],
                dept_rights: grants::dept_rights(level),
            })
            .map_err(|source| ProtectError::Register {
                path: path.to_owned(),
                source,
            })?;
        let header = final_header(path, &header, &registered.header)?;
        let rewrite = |source| ProtectError::Rewrite {
            path: path.to_owned(),
            source,
        };
        envelope::replace_header(path, &old, &header).map_err(rewrite)?;
        access
            .apply(path)
            .map_err(|e| rewrite(envelope::Error::Io(e)))?;
        Ok(Some(Protected {
            path: path.to_owned(),
            doc,
            owner: registered.document.owner,
            grants: registered.document.grants,
            expires_at,
        }))
    }
}

/// The key service a header's label stanza names (`service` in its JSON body).
fn service_of(header: &Header) -> Option<String> {
    let stanza = header.label()?;
    let body: serde_json::Value = serde_json::from_slice(stanza.body()).ok()?;
    body.get("service")?.as_str().map(str::to_owned)
}

/// A reader that counts what it yields (the plaintext's size, read once with its digest).
struct Counted<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}
