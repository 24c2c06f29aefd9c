//! The licence decision: may this user have this file's key now, for these rights? On
//! yes the key is sealed to the user's age recipient and a licence signed; every answer,
//! yes or no, is audited in the same transaction.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use fuda_core::envelope::FileKey;
use fuda_core::pathname::escaped;
use fuda_core::rights::{Right, Rights};

use super::authz::{
    audit_err, deny, effective_rights, refuse_invalid, require_active, resolve, show_rights, Caller,
};
use super::header::{check_header, key_check, HeaderCheck};
use super::lifecycle::Service;
use crate::audit::Event;
use crate::cache::{self, Digest};
use crate::directory;
use crate::error::{DenyCode, Error};
use crate::keys::ServiceKeys;
use crate::licence::{self, Granted, Licence, SignedLicence};
use crate::limits::Limits;
use crate::store::{append_audit, Tx};

impl Service {
    /// Decides a licence request; on yes, seals the key to the user and signs a licence.
    pub async fn licence(&self, caller: Caller, req: licence::Request) -> Result<Granted, Error> {
        self.licence_asked(caller, req.header, Ok(req.rights)).await
    }

    /// Decides a licence request whose rights are still text (as the HTTP API receives
    /// them): a list that does not parse is refused like any other request, and audited.
    pub async fn licence_text(
        &self,
        caller: Caller,
        header: Vec<u8>,
        rights: &str,
    ) -> Result<Granted, Error> {
        let asked = rights
            .parse::<Rights>()
            .map_err(|e| format!("the licence request names {e}"));
        self.licence_asked(caller, header, asked).await
    }

    async fn licence_asked(
        &self,
        caller: Caller,
        header: Vec<u8>,
        rights: Result<Rights, String>,
    ) -> Result<Granted, Error> {
        let keys = self.keys();
        let check = check_header(&keys, &self.inner.unwrapped, &header);
        let digest = check.digest;
        let (key, limits) = (keys.clone(), self.inner.limits);
        let (file_key, decision) = self
            .run_async(move |tx| decide(tx, &key, &limits, &caller, rights, check))
            .await?;
        self.grant_licence(&keys, &file_key, &digest, decision)
    }

    /// Seals the file key to the user (cached per header and recipient) and signs the
    /// licence: the part of a yes that runs outside the writer.
    fn grant_licence(
        &self,
        keys: &ServiceKeys,
        file_key: &FileKey,
        header: &Digest,
        d: Decision,
    ) -> Result<Granted, Error> {
        let slot = cache::digest(&[header, d.recipient.as_bytes()]);
        let sealed = match self.inner.sealed.get(&slot) {
            Some(sealed) => sealed,
            None => {
                let recipient: age::x25519::Recipient = d.recipient.parse().map_err(|_| {
                    Error::Invalid(format!(
                        "the enrolled age recipient of {} is invalid: enroll again",
                        d.user
                    ))
                })?;
                let sealed = licence::seal(file_key, &recipient)?;
                self.inner.sealed.insert(slot, &sealed);
                sealed
            }
        };
        let now = crate::now();
        let mut offline_until = now + i64::from(d.offline_days) * 86_400;
        if let Some(exp) = d.expires_at {
            offline_until = offline_until.min(exp);
        }
        let l = Licence {
            v: 1,
            service: self.inner.id.clone(),
            doc: d.doc,
            user: d.user,
            rights: d.rights,
            issued_at: now,
            offline_until,
            sealed_sha256: licence::sha256_hex(&sealed),
        };
        let sig = STANDARD.encode(keys.sign(&SignedLicence::signing_input(&l)));
        Ok(Granted {
            sealed_key: sealed,
            licence: SignedLicence { licence: l, sig },
        })
    }
}

/// What a granted request hands to the sealing and signing step.
struct Decision {
    doc: String,
    user: String,
    recipient: String,
    rights: Rights,
    offline_days: u32,
    expires_at: Option<i64>,
}

/// What a licence request may ask: a key opens the file, so every request must ask for
/// `view` (an empty list, or `print` alone, is covered by any grant — even none).
fn check_asked(asked: Result<Rights, String>) -> Result<Rights, String> {
    let asked = asked?;
    if asked.is_empty() {
        return Err("the licence request asks for no rights: ask for view (and what else you need, e.g. view,export)".into());
    }
    if !asked.allows(Right::View) {
        return Err(format!(
            "the licence request asks for {asked} without view: a file key is only handed out to open the file, so ask for view,{asked}"
        ));
    }
    Ok(asked)
}

/// The decision inside the writer, in order: the caller is active, asked for valid
/// rights, the header opened, the document is registered with this very key, no
/// revocation applies, it has not expired, and the user holds what was asked (with
/// `view`). Every refusal is audited; a yes is audited before it is answered.
fn decide(
    tx: &mut dyn Tx,
    keys: &ServiceKeys,
    limits: &Limits,
    caller: &Caller,
    asked: Result<Rights, String>,
    check: HeaderCheck,
) -> Result<(FileKey, Decision), Error> {
    let user = resolve(tx, caller, limits)?;
    let k = keys.audit_key();
    let doc_id = check.doc.clone();
    require_active(tx, k, &user, "open", doc_id.as_deref())?;
    let shown = match &asked {
        Ok(r) => r.to_string(),
        Err(_) => "(invalid)".to_owned(),
    };
    let mut ev = Event::allow(&user.name, "open").detail(serde_json::json!({"rights": shown}));
    ev.doc = doc_id.clone();
    let asked = match check_asked(asked) {
        Ok(a) => a,
        Err(message) => return refuse_invalid(tx, k, ev, message),
    };
    let (file_key, _version) = match check.outcome {
        Ok(v) => v,
        Err(d) => return deny(tx, k, ev, d.code, d.message),
    };
    let doc_id = doc_id.unwrap_or_default();
    let Some(row) = tx.doc_get(&doc_id)? else {
        return deny(tx, k, ev, DenyCode::NotRegistered, format!(
            "document {doc_id} is not registered with this key service: it was protected elsewhere; ask its owner"));
    };
    let doc = row.doc;
    if !directory::constant_time_eq(&row.key_check, &key_check(&file_key)) {
        return deny(tx, k, ev, DenyCode::BadHeader, format!(
            "this file's key does not belong to document {doc_id} as registered: the file was forged or re-encrypted outside fuda"));
    }
    // The first revocation found decides (one denial, one audit record).
    // The owner is never told to ask the owner.
    let owner = user.name == doc.owner;
    if let Some(r) = tx.revocations_for(&doc_id, &user.name)?.into_iter().next() {
        let when = date(r.at);
        let (code, message) = match (&r.doc, &r.user) {
            (Some(_), None) if owner => (DenyCode::DocumentRevoked, format!(
                "document {} ({doc_id}) was revoked by {} on {when}: nobody can open it, you (its owner) included; an administrator can lift it (`fuda admin unrevoke`)",
                escaped(&doc.name), r.by)),
            (Some(_), None) => (DenyCode::DocumentRevoked, format!(
                "document {} ({doc_id}) was revoked by {} on {when}: nobody can open it; ask the owner {} for a current version",
                escaped(&doc.name), r.by, doc.owner)),
            (None, Some(_)) => (DenyCode::UserRevoked, format!(
                "your access to all protected documents was revoked by {} on {when}: ask an administrator", r.by)),
            _ if owner => (DenyCode::UserRevokedOnDocument, format!(
                "your access to {} ({doc_id}) was revoked by {} on {when}, although you own it: ask an administrator to lift it (`fuda admin unrevoke`)",
                escaped(&doc.name), r.by)),
            _ => (DenyCode::UserRevokedOnDocument, format!(
                "your access to {} ({doc_id}) was revoked by {} on {when}: ask the owner {} or an administrator",
                escaped(&doc.name), r.by, doc.owner)),
        };
        return deny(tx, k, ev, code, message);
    }
    if let Some(exp) = doc.expires_at {
        if crate::now() >= exp {
            return deny(
                tx,
                k,
                ev,
                DenyCode::Expired,
                if owner {
                    format!(
                        "document {} ({doc_id}) expired on {}, the end its level sets: nobody can open it, you (its owner) included; an administrator can open it with the recovery key",
                        escaped(&doc.name),
                        date(exp)
                    )
                } else {
                    format!(
                        "document {} ({doc_id}) expired on {}: ask the owner {} to extend it",
                        escaped(&doc.name),
                        date(exp),
                        doc.owner
                    )
                },
            );
        }
    }
    let rights = effective_rights(&doc, &user);
    // Never rely on `covers` alone: the key leaves only for someone who may view.
    if !rights.allows(Right::View) || !rights.covers(asked) {
        return deny(tx, k, ev, DenyCode::NoRights, format!(
            "you ({}) have {} on {} ({doc_id}); {asked} needs a grant from the owner {} (`fuda share`)",
            user.name, show_rights(rights), escaped(&doc.name), doc.owner));
    }
    let recipient = user.recipient.clone().ok_or_else(|| {
        Error::Invalid(format!(
            "{} has not enrolled an age recipient: run `fuda init --service … --enroll CODE`",
            user.name
        ))
    })?;
    append_audit(tx, k, ev).map_err(audit_err)?;
    Ok((
        file_key,
        Decision {
            doc: doc_id,
            user: user.name,
            recipient,
            rights,
            offline_days: doc.offline_days,
            expires_at: doc.expires_at,
        },
    ))
}

/// Unix seconds as an RFC 3339 date, for messages (the number itself if out of range).
fn date(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}
