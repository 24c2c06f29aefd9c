//! Connecting to the key service: the configured remote one, else the embedded one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use fuda_keyd::audit::{LabelAction, LabelChange, LabelVersion};
use fuda_keyd::checkpoint::{Checkpoint, Witness};
use fuda_keyd::client::{Embedded, Remote};
use fuda_keyd::directory::NewUser;
pub use fuda_protect::Connection;
use fuda_protect::{Account, LicenceCache};

use crate::config::{self, ServiceConfig, Session};

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
    let remote = Remote::new(&s.url, &s.fingerprint, Some(token.trim().to_owned()))?
        .with_replicas(&s.replicas)
        .context("config.toml: [service] replicas")?;
    Ok(match witness(s) {
        Some(w) => remote.keeping_checkpoints(w),
        None => remote,
    })
}

/// Where this machine keeps the newest audit checkpoint its key service signed (0600).
pub fn checkpoint_path() -> Result<PathBuf> {
    Ok(config::state_dir()?.join("audit-checkpoint.json"))
}

/// The keeper of the service's audit checkpoints in the state directory (`None` when
/// there is nowhere to keep them: the commands go on without).
fn witness(s: &ServiceConfig) -> Option<Witness> {
    use base64::Engine as _;
    let key = base64::engine::general_purpose::STANDARD
        .decode(&s.signing_key)
        .ok()?;
    let path = checkpoint_path().ok()?;
    fuda_core::fsutil::create_private_dir(path.parent()?).ok()?;
    Some(Witness::new(path, &s.id, &key))
}

/// The checkpoints to verify the audit log against: this machine's own (if it kept one)
/// and the files named.
pub fn held_checkpoints(files: &[PathBuf]) -> Result<Vec<Checkpoint>> {
    let mut held = Vec::new();
    if let Some(own) = Checkpoint::read(&checkpoint_path()?)? {
        held.push(own);
    }
    for file in files {
        held.push(
            Checkpoint::read(file)?
                .with_context(|| format!("{}: no such checkpoint file", file.display()))?,
        );
    }
    Ok(held)
}

/// Where the embedded key service keeps its keys and database.
pub fn embedded_dir() -> Result<PathBuf> {
    Ok(config::data_dir()?.join("keyd"))
}

/// Connects as the session's user.
pub fn connect(session: &Session) -> Result<Connection> {
    match &session.config.service {
        Some(s) => Ok(Connection::pinned(Box::new(remote(s)?), &s.signing_key)
            .context("config.toml: the key service's signing key")?),
        None => embedded(session),
    }
}

/// The embedded key service of this machine (created on first use), as the session's
/// user: the one `fuda protect` uses without a team service, and whose files `fuda rewrap
/// --to-service` registers with the team service after joining one.
pub fn embedded(session: &Session) -> Result<Connection> {
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
            auditor: false,
            kind: Default::default(),
        },
        &session.identity.recipient().to_string(),
        &fuda_core::trust::encode_public_key(session.identity.public_key()),
    )?;
    Ok(Connection::embedded(embedded)?)
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
        path: std::path::absolute(path).unwrap_or_else(|_| path.to_owned()),
        host: host.to_owned(),
        justification: label.justification.clone(),
        version: Some(LabelVersion {
            seq: label.seq,
            set_at: label.set_at,
        }),
    }
}

/// What became of label changes sent to the audit log.
#[derive(Debug, PartialEq, Eq)]
pub enum Audited {
    /// Recorded by the key service (how many, with those that waited in the queue).
    Recorded(usize),
    /// The key service could not be reached: the changes wait in the local queue
    /// ([`crate::label_queue`]) and go at the next command that reaches it.
    Queued {
        /// How many wait, these included.
        waiting: usize,
        /// The queue's file.
        queue: PathBuf,
        /// Why the service was not reached.
        why: String,
    },
}

/// Whether an error means the key service could not be reached (rather than refused).
fn unreachable(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<fuda_keyd::Error>(),
            Some(fuda_keyd::Error::Transport(_) | fuda_keyd::Error::ShuttingDown)
        )
    })
}

/// Sends label changes to the audit log of the key service: the configured one, else the
/// embedded one when it exists (without either there is no audit log; the local label
/// change log still has the downgrades and removals). Changes queued during an outage go
/// first, oldest first. When the service cannot be reached, `changes` join the queue
/// ([`Audited::Queued`]); a refusal is an error (nothing is queued: it would be refused
/// again).
pub fn audit_label_changes(session: &Session, changes: &[LabelChange]) -> Result<Audited> {
    if !has_service(session)? {
        return Ok(Audited::Recorded(0));
    }
    let queue = crate::label_queue::LabelQueue::in_dir(&config::state_dir()?);
    if changes.is_empty() && queue.len()? == 0 {
        return Ok(Audited::Recorded(0));
    }
    let chunk = fuda_keyd::audit::MAX_LABEL_CHANGES;
    let mut unsent = changes;
    let attempt = (|| -> Result<usize> {
        let conn = connect(session)?;
        let mut recorded = queue.drain(chunk, |part| {
            conn.client.label_changes(part)?;
            Ok(())
        })?;
        while !unsent.is_empty() {
            let n = unsent.len().min(chunk);
            recorded += conn.client.label_changes(unsent[..n].to_vec())?;
            unsent = &unsent[n..];
        }
        Ok(recorded)
    })();
    match attempt {
        Ok(n) => Ok(Audited::Recorded(n)),
        Err(e) if unreachable(&e) => {
            queue.push(unsent)?;
            Ok(Audited::Queued {
                waiting: queue.len()?,
                queue: queue.path().to_owned(),
                why: format!("{e:#}"),
            })
        }
        Err(e) => Err(e),
    }
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

/// The user at the session's key service, with offline licences kept in the cache
/// directory (`licences/DOC.json`).
pub fn account<'a>(conn: &'a Connection, session: &'a Session) -> Result<Account<'a>> {
    Ok(Account {
        conn,
        identity: &session.identity,
        licences: Some(LicenceCache::new(config::cache_dir()?.join("licences"))),
    })
}
