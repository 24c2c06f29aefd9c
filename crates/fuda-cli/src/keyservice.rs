//! Connecting to the key service: the configured remote one, else the embedded one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use base64::Engine as _;
use fuda_core::envelope::{Decryptor, FileKey};
use fuda_core::label::DocId;
use fuda_core::rights::{Right, Rights};
use fuda_keyd::audit::{LabelAction, LabelChange, LabelVersion};
use fuda_keyd::client::{Embedded, KeyService, Remote};
use fuda_keyd::directory::NewUser;
use fuda_keyd::licence::{Granted, Request};

use crate::config::{self, ServiceConfig, Session};

/// A connected key service and what is needed to trust its answers.
pub struct Connection {
    /// The client.
    pub client: Box<dyn KeyService>,
    /// The licence signing key (pinned at enrollment for a remote service).
    pub service_key: Vec<u8>,
}

/// A client of the configured remote service, with the user's token.
pub fn remote(s: &ServiceConfig) -> Result<Remote> {
    let token_path = config::token_path()?;
    // Like the key files: a token others can read is refused, not used.
    let token = match fuda_core::identity::read_secret(&token_path) {
        Ok(t) => t,
        Err(e @ fuda_core::identity::IdentityError::Permissions { .. }) => {
            return Err(anyhow::Error::new(e).context("the key service token is not private"))
        }
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!(
                "cannot read the key service token {}: run `fuda init --service {} --enroll CODE` again",
                token_path.display(),
                s.url
            )))
        }
    };
    Ok(Remote::new(
        &s.url,
        &s.fingerprint,
        Some(token.trim().to_owned()),
    )?)
}

/// Where the embedded key service keeps its keys and database.
pub fn embedded_dir() -> Result<PathBuf> {
    Ok(config::data_dir()?.join("keyd"))
}

/// Connects as the session's user.
pub fn connect(session: &Session) -> Result<Connection> {
    match &session.config.service {
        Some(s) => {
            let client = remote(s)?;
            let service_key = base64::engine::general_purpose::STANDARD
                .decode(&s.signing_key)
                .context("config.toml: the key service's signing key is not base64")?;
            Ok(Connection {
                client: Box::new(client),
                service_key,
            })
        }
        None => {
            let dir = config::data_dir()?;
            fuda_core::fsutil::create_private_dir(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let embedded = Embedded::open_or_init(
                &embedded_dir()?,
                NewUser {
                    name: session.config.user.clone(),
                    display_name: None,
                    dept: session.config.dept.clone(),
                    admin: true,
                },
                &session.identity.recipient().to_string(),
                &fuda_core::trust::encode_public_key(session.identity.public_key()),
            )?;
            let service_key = base64::engine::general_purpose::STANDARD
                .decode(embedded.service().info().signing_key)
                .context("the embedded service's signing key")?;
            Ok(Connection {
                client: Box::new(embedded),
                service_key,
            })
        }
    }
}

/// This machine's name, as the registry and the audit log record it; read once per
/// process (`fuda watch` records it with every label it applies).
pub fn hostname() -> String {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "localhost".into())
    })
    .clone()
}

/// The audit record of a label applied to `path` on `host` (`previous`: the level before).
pub fn label_set_change(
    path: &Path,
    label: &fuda_core::label::Label,
    previous: Option<String>,
    downgrade: bool,
    host: &str,
) -> LabelChange {
    LabelChange {
        doc: label.doc.to_string(),
        action: if downgrade {
            LabelAction::Downgrade
        } else {
            LabelAction::Set
        },
        from: previous,
        to: Some(label.level.clone()),
        path: std::path::absolute(path)
            .unwrap_or_else(|_| path.to_owned())
            .to_string_lossy()
            .into_owned(),
        host: host.to_owned(),
        justification: label.justification.clone(),
        version: Some(LabelVersion {
            seq: label.seq,
            set_at: label.set_at,
        }),
    }
}

/// Sends label changes to the audit log of the key service: the configured one, else the
/// embedded one when it exists (without either there is no audit log; the local label
/// change log still has the downgrades and removals). Returns how many were recorded.
pub fn audit_label_changes(session: &Session, changes: &[LabelChange]) -> Result<usize> {
    if changes.is_empty() || !has_service(session)? {
        return Ok(0);
    }
    let conn = connect(session)?;
    let mut recorded = 0;
    for chunk in changes.chunks(fuda_keyd::audit::MAX_LABEL_CHANGES) {
        recorded += conn.client.label_changes(chunk.to_vec())?;
    }
    Ok(recorded)
}

/// Whether there is a key service to ask: the configured one, or the embedded one once it
/// exists.
pub fn has_service(session: &Session) -> Result<bool> {
    Ok(session.config.service.is_some()
        || embedded_dir()?.join(fuda_keyd::service::DB_FILE).exists())
}

/// The newest label version the key service's audit log recorded for each of `docs` that
/// has one; `None` without a key service (nobody then knows a newer label than a file's).
pub fn newest_labels(
    session: &Session,
    docs: &[String],
) -> Result<Option<HashMap<String, LabelVersion>>> {
    if !has_service(session)? {
        return Ok(None);
    }
    let mut newest = HashMap::new();
    if docs.is_empty() {
        return Ok(Some(newest));
    }
    let conn = connect(session)?;
    for chunk in docs.chunks(fuda_keyd::audit::MAX_LABEL_VERSIONS) {
        for n in conn.client.label_versions(chunk.to_vec())? {
            newest.insert(n.doc, n.version);
        }
    }
    Ok(Some(newest))
}

/// Where the offline licence of `doc` is cached: a file name made from a checked
/// [`DocId`] (26 characters of Crockford base32), never from text a file supplied.
fn cache_path(doc: DocId) -> Result<std::path::PathBuf> {
    Ok(config::cache_dir()?
        .join("licences")
        .join(format!("{doc}.json")))
}

/// Asks for `rights` on the protected file at `path`; returns the file key and the
/// decryptor positioned at the payload. When the service is unreachable, a cached licence
/// that is still within its offline period is used instead.
pub fn open(
    conn: &Connection,
    session: &Session,
    path: &Path,
    rights: Rights,
) -> Result<(FileKey, Decryptor<std::fs::File>, Granted)> {
    let file = fuda_core::longpath::reach(path)
        .and_then(std::fs::File::open)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let decryptor = Decryptor::new(file)
        .with_context(|| format!("{} is not a protected file", path.display()))?;
    let doc = decryptor
        .header()
        .label()
        .ok_or_else(|| anyhow!("{} has no fuda label: it was not protected with fuda (try `fuda recover` with the recovery key)", path.display()))?
        .doc_id();
    let doc_text = doc.to_string();
    let me = &session.config.user;
    let age = session.identity.age_identity();
    let request = Request {
        header: decryptor.header().to_bytes(),
        rights,
    };
    match conn.client.licence(request) {
        Ok(granted) => {
            let key = granted.open(&conn.service_key, age, me, &doc_text)?;
            cache(doc, &granted);
            Ok((key, decryptor, granted))
        }
        Err(e @ (fuda_keyd::Error::Transport(_) | fuda_keyd::Error::CertificateMismatch(_))) => {
            if let fuda_keyd::Error::CertificateMismatch(m) = &e {
                // Falling back is no weaker than a blocked connection, but never silent.
                eprintln!(
                    "fuda: WARNING: the key service's TLS certificate does not match the pinned one (expected {}, seen {}): someone may be intercepting the connection; tell your administrator. Falling back to offline licences.",
                    m.expected, m.seen
                );
            }
            let why = e.message();
            let cached = load_cached(doc).ok_or_else(|| {
                anyhow!(
                    "the key service is unreachable ({why}) and there is no offline licence for {}",
                    path.display()
                )
            })?;
            let l = &cached.licence.licence;
            let now = fuda_keyd::now();
            if now >= l.offline_until {
                return Err(anyhow!(
                    "the key service is unreachable ({why}) and the offline licence for {} ended at {}: connect to the service",
                    path.display(),
                    crate::output::timestamp(l.offline_until)
                ));
            }
            if !l.rights.allows(Right::View) || !l.rights.covers(rights) {
                return Err(anyhow!(
                    "the offline licence for {} allows {} only",
                    path.display(),
                    l.rights
                ));
            }
            let key = cached.open(&conn.service_key, age, me, &doc_text)?;
            eprintln!(
                "fuda: note: the key service is unreachable; using the offline licence valid until {}",
                crate::output::timestamp(l.offline_until)
            );
            Ok((key, decryptor, cached))
        }
        Err(e) => {
            // A refusal ends any offline licence for this document.
            if let Ok(p) = cache_path(doc) {
                let _ = std::fs::remove_file(p);
            }
            Err(anyhow::Error::new(e).context(format!("cannot open {}", path.display())))
        }
    }
}

fn cache(doc: DocId, granted: &Granted) {
    let Ok(path) = cache_path(doc) else { return };
    if granted.licence.licence.offline_until <= granted.licence.licence.issued_at {
        let _ = std::fs::remove_file(path);
        return;
    }
    if let Some(dir) = path.parent() {
        let _ = fuda_core::fsutil::create_private_dir(dir);
    }
    if let Ok(json) = serde_json::to_vec(granted) {
        // The key inside is sealed to the user's identity; the file is private anyway.
        let _ = fuda_core::fsutil::write_atomic(&path, &json, 0o600);
    }
}

fn load_cached(doc: DocId) -> Option<Granted> {
    let bytes = std::fs::read(cache_path(doc).ok()?).ok()?;
    serde_json::from_slice(&bytes).ok()
}
