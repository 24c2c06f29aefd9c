//! The organisation's recovery key: the service keeps its public recipients (never a
//! secret) and puts a stanza for each of them in every header it registers or rewraps.
//!
//! A client's header is never trusted to carry them: at registration the service, which
//! has just unwrapped the file key with its own stanza, wraps the key to every recovery
//! recipient itself, records them in a `fuda/recovery` stanza, recomputes the header MAC
//! ([`fuda_core::envelope::recovery::complete`]) and answers with the final header, which
//! the client writes in front of the unchanged payload. `fuda admin recovery rotate` adds
//! a recipient; `fuda rewrap` brings existing files to it through [`Service::rewrap`].
//! The `[recovery] recipients` of the organisation's policy held by the service, if any,
//! are added the same way.

use fuda_core::envelope::recovery::{self as envelope_recovery, Recorded};
use fuda_core::envelope::{x25519, FileKey, Header};
use serde::{Deserialize, Serialize};

use super::authz::{audit_err, not_registered, require_active, require_admin, resolve, Caller};
use super::header::{check_header, key_check};
use super::lifecycle::Service;
use super::policy::OrgPolicy;
use crate::audit::Event;
use crate::error::Error;
use crate::registry::{b64, Document};
use crate::store::{append_audit, Tx};

/// Where the recipients live: one `age1…` per line in the metadata table.
const META_KEY: &str = "recovery_recipients";

/// The answer to a registration: the document and the header the file must carry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Registered {
    /// The document as registered.
    #[serde(flatten)]
    pub document: Document,
    /// The final header (base64 in JSON): the client's, plus a stanza for each recovery
    /// recipient, with a new MAC. The client writes it in front of the payload it sent.
    #[serde(with = "b64")]
    pub header: Vec<u8>,
}

/// The answer to a rewrap.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Rewrapped {
    /// The document id.
    pub doc: String,
    /// Whether the header changed (false: it already carried every recovery recipient).
    pub changed: bool,
    /// The header to write in front of the file's payload (base64 in JSON).
    #[serde(with = "b64")]
    pub header: Vec<u8>,
}

/// The recovery recipients in force: the service's own (oldest first), then those of the
/// organisation's policy (`[recovery] recipients`, validated when it was set) not already
/// among them.
fn in_force(tx: &mut dyn Tx, policy: &[String]) -> Result<Vec<x25519::Recipient>, Error> {
    let mut list = recipients(tx)?;
    for text in policy {
        let r = parse_recipient(text)?;
        if !list.iter().any(|have| have.to_string() == r.to_string()) {
            list.push(r);
        }
    }
    Ok(list)
}

/// The `[recovery] recipients` of the organisation's policy in force, if any.
fn policy_recipients(org: Option<&OrgPolicy>) -> Vec<String> {
    org.map(|o| o.policy.recovery_recipients.clone())
        .unwrap_or_default()
}

/// The service's own recovery recipients, oldest first.
pub(super) fn recipients(tx: &mut dyn Tx) -> Result<Vec<x25519::Recipient>, Error> {
    let text = tx.meta_get(META_KEY)?.unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.trim().parse().map_err(|_| {
                Error::Invalid(format!(
                    "the stored recovery recipient {l:?} is not an age X25519 recipient: restore the database from backup"
                ))
            })
        })
        .collect()
}

fn store(tx: &mut dyn Tx, list: &[x25519::Recipient]) -> Result<(), Error> {
    let text: Vec<String> = list.iter().map(ToString::to_string).collect();
    tx.meta_set(META_KEY, &text.join("\n"))?;
    Ok(())
}

/// The header a registration answers with: `header` (the client's bytes, already opened
/// with `file_key`) with a stanza for every recovery recipient in force (the service's and
/// those of the organisation's policy `org`), whatever the client wrote.
pub(super) fn complete_header(
    tx: &mut dyn Tx,
    org: Option<&OrgPolicy>,
    file_key: &FileKey,
    header: &[u8],
) -> Result<Vec<u8>, Error> {
    let list = in_force(tx, &policy_recipients(org))?;
    let (parsed, _) = Header::parse_bytes(header)
        .map_err(|e| Error::Invalid(format!("the file header does not parse: {e}")))?;
    envelope_recovery::complete(&parsed, file_key, &list, Recorded::Distrust)
        .map(|h| h.to_bytes())
        .map_err(|e| Error::Invalid(format!("cannot add the recovery stanzas: {e}")))
}

/// Parses an `age1…` recipient given by an admin.
fn parse_recipient(text: &str) -> Result<x25519::Recipient, Error> {
    text.trim().parse().map_err(|_| {
        Error::Invalid(format!(
            "{text:?} is not an age X25519 recipient (age1…): give the public key printed by `fuda-keyd init` or `age-keygen -y`"
        ))
    })
}

impl Service {
    /// Sets the first recovery recipient of a new service (`fuda-keyd init`), audited as
    /// done by `actor`. Refuses if the service already has one.
    pub fn recovery_init(&self, actor: &str, recipient: &str) -> Result<(), Error> {
        let recipient = parse_recipient(recipient)?;
        let (keys, actor) = (self.keys(), actor.to_owned());
        self.run(move |tx| {
            if !recipients(tx)?.is_empty() {
                return Err(Error::Conflict(
                    "this service already has a recovery recipient: use `fuda admin recovery rotate`".into(),
                ));
            }
            store(tx, std::slice::from_ref(&recipient))?;
            append_audit(
                tx,
                keys.audit_key(),
                Event::allow(&actor, "recovery-add")
                    .detail(serde_json::json!({"recipient": recipient.to_string()})),
            )
            .map_err(audit_err)?;
            Ok(())
        })
    }

    /// The recovery recipients every protected file carries (any active user may read
    /// them: they are public keys).
    pub async fn recovery_recipients(&self, caller: Caller) -> Result<Vec<String>, Error> {
        let (keys, limits) = (self.keys(), self.inner.limits);
        let policy = policy_recipients(self.org_policy().as_deref());
        self.run_async(move |tx| {
            let user = resolve(tx, &caller, &limits)?;
            require_active(tx, keys.audit_key(), &user, "recovery", None)?;
            Ok(in_force(tx, &policy)?
                .iter()
                .map(ToString::to_string)
                .collect())
        })
        .await
    }

    /// Adds a recovery recipient (admin only, audited): files registered from now on carry
    /// it, and `fuda rewrap` brings existing files to it. Returns the recipients in force.
    pub async fn recovery_add(
        &self,
        caller: Caller,
        recipient: String,
    ) -> Result<Vec<String>, Error> {
        let recipient = parse_recipient(&recipient)?;
        let (keys, limits) = (self.keys(), self.inner.limits);
        let policy = policy_recipients(self.org_policy().as_deref());
        self.run_async(move |tx| {
            let user = resolve(tx, &caller, &limits)?;
            let k = keys.audit_key();
            require_active(tx, k, &user, "recovery-add", None)?;
            require_admin(tx, k, &user, "recovery-add")?;
            let mut list = recipients(tx)?;
            if list.iter().any(|r| r.to_string() == recipient.to_string()) {
                return Err(Error::Conflict(format!(
                    "{recipient} is already a recovery recipient"
                )));
            }
            list.push(recipient.clone());
            store(tx, &list)?;
            append_audit(
                tx,
                k,
                Event::allow(&user.name, "recovery-add")
                    .detail(serde_json::json!({"recipient": recipient.to_string()})),
            )
            .map_err(audit_err)?;
            Ok(in_force(tx, &policy)?
                .iter()
                .map(ToString::to_string)
                .collect())
        })
        .await
    }

    /// Rewraps a registered file's header to every recovery recipient in force (admin
    /// only, audited when it changes): the caller writes the answer's header in front of
    /// the file's untouched payload. The file key never leaves the service.
    pub async fn rewrap(&self, caller: Caller, header: Vec<u8>) -> Result<Rewrapped, Error> {
        let keys = self.keys();
        let policy = policy_recipients(self.org_policy().as_deref());
        let check = check_header(&keys, &self.inner.unwrapped, &header);
        let limits = self.inner.limits;
        self.run_async(move |tx| {
            let user = resolve(tx, &caller, &limits)?;
            let k = keys.audit_key();
            require_active(tx, k, &user, "rewrap", check.doc.as_deref())?;
            require_admin(tx, k, &user, "rewrap")?;
            let (file_key, _) = check.outcome.map_err(|d| Error::Invalid(d.message))?;
            let doc = check.doc.unwrap_or_default();
            let row = tx.doc_get(&doc)?.ok_or_else(|| not_registered(&doc))?;
            if row.key_check != key_check(&file_key) {
                return Err(Error::Invalid(format!(
                    "this file's key does not belong to document {doc} as registered: the file was forged or re-encrypted outside fuda"
                )));
            }
            let list = in_force(tx, &policy)?;
            let (parsed, _) = Header::parse_bytes(&header)
                .map_err(|e| Error::Invalid(format!("the file header does not parse: {e}")))?;
            if envelope_recovery::is_complete(&parsed, &list) {
                return Ok(Rewrapped { doc, changed: false, header });
            }
            let done = envelope_recovery::complete(&parsed, &file_key, &list, Recorded::Trust)
                .map_err(|e| Error::Invalid(format!("cannot add the recovery stanzas: {e}")))?;
            append_audit(
                tx,
                k,
                Event::allow(&user.name, "rewrap").doc(&doc).detail(serde_json::json!({
                    "recipients": list.iter().map(ToString::to_string).collect::<Vec<_>>()})),
            )
            .map_err(audit_err)?;
            Ok(Rewrapped { doc, changed: true, header: done.to_bytes() })
        })
        .await
    }
}
