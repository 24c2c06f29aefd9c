//! A protected document changes without becoming another one: a new version saved back
//! by someone with `edit` (`fuda save`), and a new level set by its owner or an
//! administrator (`fuda label set` on a `.fuda` file). Both arrive as the file's new
//! header — the same file key (checked against the registry), a new signed label of the
//! same document — and are answered with the header to write (recovery stanzas
//! completed), after the registry and the audit log recorded the change.

use fuda_core::envelope::{FileKey, Header, LabelStanza};
use fuda_core::label::SignedLabel;
use fuda_core::pathname::escaped;
use fuda_core::policy::{Policy, Protect};
use fuda_core::rights::Right;
use serde::{Deserialize, Serialize};

use super::authz::{
    audit_err, deny, effective_rights, owner_or_admin, refuse_invalid, require_active, resolve,
    show_rights, Caller,
};
use super::documents::{check_signature, signed_by};
use super::header::{check_header, key_check, signed_label, HeaderCheck};
use super::lifecycle::Service;
use super::policy::{self, OrgPolicy};
use super::recovery::{self, Registered};
use crate::audit::Event;
use crate::directory::{self, User};
use crate::error::{DenyCode, Error};
use crate::registry::b64;
use crate::store::{append_audit, DocRow, Tx};

/// A new version of a protected document (`POST /v1/versions`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewVersion {
    /// The new header (base64 in JSON): the document's file key, a label of the same
    /// document and level signed by the saver for the new content.
    #[serde(with = "b64")]
    pub header: Vec<u8>,
    /// The new content's size in bytes.
    pub size: u64,
    /// The new content's SHA-256, hex.
    pub digest: String,
}

/// A new level for a protected document (`POST /v1/reclassify`). The caller needs no
/// file key: the service, which holds it, puts the label in the header.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reclassify {
    /// The file's current header (base64 in JSON).
    #[serde(with = "b64")]
    pub header: Vec<u8>,
    /// The new label in its compact encoding (base64 in JSON): the same document at the
    /// new level, signed by the caller (with a justification for a downgrade).
    #[serde(with = "b64")]
    pub label: Vec<u8>,
}

impl Service {
    /// Records a new version of a document (the `edit` right needed), audited; answers
    /// with the header the new content is written behind.
    pub async fn save_version(&self, caller: Caller, v: NewVersion) -> Result<Registered, Error> {
        let keys = self.keys();
        let check = check_header(&keys, &self.inner.unwrapped, &v.header);
        let label = signed_label(&v.header);
        let (limits, org) = (self.inner.limits, self.org_policy());
        self.run_async(move |tx| {
            let user = resolve(tx, &caller, &limits)?;
            let k = keys.audit_key();
            require_active(tx, k, &user, "save", check.doc.as_deref())?;
            let mut ev = Event::allow(&user.name, "save")
                .detail(serde_json::json!({"size": v.size, "digest": v.digest}));
            ev.doc = check.doc.clone();
            let (file_key, row) = registered(tx, k, &user, ev.clone(), check)?;
            let doc = row.doc.id.clone();
            let rights = effective_rights(&row.doc, &user);
            if !rights.allows(Right::Edit) {
                return deny(tx, k, ev, DenyCode::NoRights, format!(
                    "you ({}) have {} on {} ({doc}); saving a new version needs the edit right: ask the owner {}",
                    user.name, show_rights(rights), escaped(&row.doc.name), row.doc.owner));
            }
            let checked = label.and_then(|signed| {
                if signed.label.level != row.doc.level {
                    return Err(format!(
                        "the saved label says level {:?} but document {doc} is {:?}: change the level with `fuda label set` on the protected file, then save",
                        signed.label.level, row.doc.level));
                }
                if !signed_by(&user, &signed) {
                    return Err("the saved label must be signed by you (with your enrolled key)".into());
                }
                check_signature(tx, &user, &signed)
            });
            let valid_digest = v.digest.len() == 64 && v.digest.bytes().all(|b| b.is_ascii_hexdigit());
            if let Err(message) = checked.and_then(|()| {
                valid_digest.then_some(()).ok_or_else(|| format!("{:?} is not a SHA-256 in hex", v.digest))
            }) {
                return refuse_invalid(tx, k, ev, message);
            }
            let header = recovery::complete_header(tx, org.as_deref(), &file_key, &v.header)?;
            let version = tx.doc_add_version(&doc, v.size, &v.digest, &user.name, crate::now())?;
            let ev = ev.detail(serde_json::json!({
                "version": version, "size": v.size, "digest": v.digest}));
            append_audit(tx, k, ev).map_err(audit_err)?;
            answer(tx, &doc, header)
        })
        .await
    }

    /// Changes the level of a document (its owner or an administrator; a downgrade needs
    /// the label's justification), audited; the caps follow the new level under the
    /// organisation's policy. Answers with the header to put on the file: the new label
    /// (with the grants now in force) in place of the old one, the payload untouched.
    pub async fn reclassify(&self, caller: Caller, r: Reclassify) -> Result<Registered, Error> {
        let keys = self.keys();
        let check = check_header(&keys, &self.inner.unwrapped, &r.header);
        let label = fuda_core::label::compact::decode(&r.label)
            .map_err(|e| format!("the new label does not decode: {e}"))
            .and_then(|signed| match &check.doc {
                Some(doc) if signed.label.doc.to_string() == *doc => Ok(signed),
                _ => Err("the new label is for another document than the file".into()),
            });
        let (limits, org, id) = (self.inner.limits, self.org_policy(), self.inner.id.clone());
        self.run_async(move |tx| {
            let user = resolve(tx, &caller, &limits)?;
            let k = keys.audit_key();
            require_active(tx, k, &user, "reclassify", check.doc.as_deref())?;
            let mut ev = Event::allow(&user.name, "reclassify");
            ev.doc = check.doc.clone();
            let (file_key, row) = registered(tx, k, &user, ev.clone(), check)?;
            let doc = row.doc.id.clone();
            if !owner_or_admin(&row.doc, &user) {
                return deny(
                    tx,
                    k,
                    ev,
                    DenyCode::NoRights,
                    format!(
                    "only the owner ({}) or an administrator can change the level of {} ({doc})",
                    row.doc.owner, escaped(&row.doc.name)),
                );
            }
            let mine = |s: SignedLabel| {
                if signed_by(&user, &s) {
                    Ok(s)
                } else {
                    Err("the new label must be signed by you (with your enrolled key)".to_owned())
                }
            };
            let signed = match label
                .and_then(mine)
                .and_then(|s| check_signature(tx, &user, &s).map(|()| s))
            {
                Ok(s) => s,
                Err(message) => return refuse_invalid(tx, k, ev, message),
            };
            let change = match level_change(org.as_deref(), &row.doc.level, &signed) {
                Ok(c) => c,
                Err(message) => return refuse_invalid(tx, k, ev, message),
            };
            tx.doc_set_level(&doc, &signed.label.level)?;
            if let (Some(org), true) = (org.as_deref(), change.to_caps) {
                let level = org.level(&signed.label.level).map_err(Error::Invalid)?;
                let dept = tx.user_get(&row.doc.owner)?.and_then(|u| u.dept);
                policy::apply_level(tx, &row.doc, level, dept.as_deref())?;
            }
            // The header's rights snapshot shows the grants as they now stand.
            let now = tx
                .doc_get(&doc)?
                .ok_or_else(|| super::authz::not_registered(&doc))?;
            let relabeled = relabel(&r.header, &file_key, &r.label, &now, &id)?;
            let header = recovery::complete_header(tx, org.as_deref(), &file_key, &relabeled)?;
            let ev = ev.detail(serde_json::json!({
                "from": row.doc.level, "to": signed.label.level, "downgrade": change.downgrade,
                "justification": signed.label.justification}));
            append_audit(tx, k, ev).map_err(audit_err)?;
            answer(tx, &doc, header)
        })
        .await
    }
}

/// `header` with the label stanza of `row`'s document replaced by one carrying `compact`
/// and the grants in force, its MAC recomputed with the document's key.
fn relabel(
    header: &[u8],
    file_key: &FileKey,
    compact: &[u8],
    row: &DocRow,
    service: &str,
) -> Result<Vec<u8>, Error> {
    let (parsed, _) = Header::parse_bytes(header)
        .map_err(|e| Error::Invalid(format!("the file header does not parse: {e}")))?;
    let rights = row
        .doc
        .grants
        .iter()
        .map(|g| (g.principal.to_string(), g.rights.to_string()))
        .collect();
    let body = fuda_core::store::envelope::encode_body(compact, &rights, service);
    let doc = row
        .doc
        .id
        .parse()
        .map_err(|_| Error::Invalid(format!("{:?} is not a document id", row.doc.id)))?;
    let stanza = LabelStanza::new(doc, body).to_stanza();
    let stanzas = parsed
        .stanzas()
        .iter()
        .map(|s| {
            if s.tag == stanza.tag {
                stanza.clone()
            } else {
                s.clone()
            }
        })
        .collect();
    parsed
        .rewrap(file_key, stanzas)
        .map(|h| h.to_bytes())
        .map_err(|e| Error::Invalid(format!("cannot put the new label in the header: {e}")))
}

/// What a new level changes.
struct LevelChange {
    /// Whether it is lower than the registered one (without the organisation's policy,
    /// by the ranks of the built-in policy the label names; a change neither ranks counts
    /// as one).
    downgrade: bool,
    /// Whether the document takes the new level's caps (another level, under the
    /// organisation's policy).
    to_caps: bool,
}

/// Whether the label's level may replace `from`: another level, one the organisation's
/// policy protects, and a justification for a downgrade.
fn level_change(
    org: Option<&OrgPolicy>,
    from: &str,
    signed: &SignedLabel,
) -> Result<LevelChange, String> {
    let to = &signed.label.level;
    if to == from {
        // The label is signed again at the level the registry has: a run interrupted
        // after the service recorded the change and before the file carried it converges.
        return Ok(LevelChange {
            downgrade: false,
            to_caps: false,
        });
    }
    let (downgrade, to_caps) = match org {
        Some(org) => {
            let new = org.level(to)?;
            if new.protect == Protect::Never {
                return Err(format!(
                    "level {} ({to}) is never protected under the organisation's policy: export the content to keep it unprotected",
                    new.name_ja
                ));
            }
            // A level the policy no longer defines counts as the highest.
            let old_rank = org.level(from).map_or(u8::MAX, |l| l.rank);
            (new.rank < old_rank, true)
        }
        None => match builtin_ranks(&signed.label.policy.id, from, to) {
            Some((old_rank, new_rank)) => (new_rank < old_rank, false),
            // Nothing ranks the two levels: the change counts as a lowering.
            None if justified(signed) => (true, false),
            None => {
                return Err(format!(
                    "changing document {} from {from:?} to {to:?} needs a justification: this key service holds no organisation policy to tell a raise from a lowering; add --justify \"why\" (an admin can publish the policy: fuda admin policy set FILE)",
                    signed.label.doc
                ))
            }
        },
    };
    if downgrade && !justified(signed) {
        return Err(format!(
            "lowering document {} from {from:?} to {to:?} needs a justification: add --justify \"why\"",
            signed.label.doc
        ));
    }
    Ok(LevelChange { downgrade, to_caps })
}

/// Whether the label says why it was set.
fn justified(signed: &SignedLabel) -> bool {
    signed
        .label
        .justification
        .as_deref()
        .is_some_and(|j| !j.trim().is_empty())
}

/// The ranks of `from` and `to` in the built-in policy named `policy` (the one a
/// client without the organisation's policy labels with), when it defines both.
fn builtin_ranks(policy: &str, from: &str, to: &str) -> Option<(u8, u8)> {
    let builtin = Policy::builtin(policy).ok()?;
    Some((builtin.level(from)?.rank, builtin.level(to)?.rank))
}

/// The registered document behind a header that this service opens with the document's
/// own key, unless a revocation or the expiry stops `user` (every refusal audited with
/// `ev`).
fn registered(
    tx: &mut dyn Tx,
    k: &ring::hmac::Key,
    user: &User,
    ev: Event,
    check: HeaderCheck,
) -> Result<(FileKey, DocRow), Error> {
    let (file_key, _) = match check.outcome {
        Ok(v) => v,
        Err(d) => return deny(tx, k, ev, d.code, d.message),
    };
    let doc = check.doc.unwrap_or_default();
    let Some(row) = tx.doc_get(&doc)? else {
        return deny(
            tx,
            k,
            ev,
            DenyCode::NotRegistered,
            format!("document {doc} is not registered with this key service"),
        );
    };
    if !directory::constant_time_eq(&row.key_check, &key_check(&file_key)) {
        return deny(tx, k, ev, DenyCode::BadHeader, format!(
            "this file's key does not belong to document {doc} as registered: the file was forged or re-encrypted outside fuda"));
    }
    if !tx.revocations_for(&doc, &user.name)?.is_empty() {
        return deny(tx, k, ev, DenyCode::DocumentRevoked, format!(
            "document {doc} is revoked (for everyone or for you): ask the owner {} or an administrator",
            row.doc.owner));
    }
    if row.doc.expires_at.is_some_and(|exp| crate::now() >= exp) {
        return deny(
            tx,
            k,
            ev,
            DenyCode::Expired,
            format!(
                "document {doc} has expired: ask the owner {} to extend it",
                row.doc.owner
            ),
        );
    }
    Ok((file_key, row))
}

/// The document as it now stands, with the header to write.
fn answer(tx: &mut dyn Tx, doc: &str, header: Vec<u8>) -> Result<Registered, Error> {
    let document = tx
        .doc_get(doc)?
        .map(|r| r.doc)
        .ok_or_else(|| super::authz::not_registered(doc))?;
    Ok(Registered { document, header })
}
