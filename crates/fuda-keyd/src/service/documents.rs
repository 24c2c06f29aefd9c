//! Documents: registration at `fuda protect` (checked against the file's own header and
//! signed label), a document with the caller's rights, and grants (share, unshare).

use fuda_core::label::verify::verify;
use fuda_core::label::{SignedLabel, Status};
use fuda_core::rights::Right;
use fuda_core::trust::{decode_public_key, Signer, SignerKind, TrustStore};

use super::authz::{
    audit_err, check_principal, deny, effective_rights, not_registered, owner_or_admin,
    refuse_invalid, require_active, resolve, show_rights, Caller,
};
use super::header::{check_header, key_check, signed_label, HeaderCheck};
use super::lifecycle::Service;
use super::policy::{Caps, OrgPolicy};
use super::records::DocumentRights;
use super::recovery::{self, Registered};
use crate::audit::Event;
use crate::directory::{EntryKind, User, UserStatus};
use crate::error::{DenyCode, Error};
use crate::keys::ServiceKeys;
use crate::limits::Limits;
use crate::registry::{Document, Grant, Principal, Registration};
use crate::store::{append_audit, DocRow, Tx};

impl Service {
    /// Registers a protected document (at `fuda protect`).
    pub async fn register(&self, caller: Caller, r: Registration) -> Result<Registered, Error> {
        let keys = self.keys();
        let check = check_header(&keys, &self.inner.unwrapped, &r.header);
        let label = signed_label(&r.header);
        let (key, limits, org) = (keys.clone(), self.inner.limits, self.org_policy());
        self.run_async(move |tx| {
            register(
                tx,
                &key,
                &limits,
                org.as_deref(),
                &caller,
                r,
                (check, label),
            )
        })
        .await
    }

    /// A document and the caller's rights on it (any right, or admin, needed).
    pub async fn document(&self, caller: Caller, doc: String) -> Result<DocumentRights, Error> {
        let key = self.keys();
        let limits = self.inner.limits;
        self.run_async(move |tx| {
            let user = resolve(tx, &caller, &limits)?;
            require_active(tx, key.audit_key(), &user, "rights", Some(&doc))?;
            let row = tx.doc_get(&doc)?.ok_or_else(|| not_registered(&doc))?;
            let rights = effective_rights(&row.doc, &user);
            if rights.is_empty() && !user.admin {
                return Err(Error::Forbidden(format!(
                    "you have no rights on document {doc}"
                )));
            }
            Ok(DocumentRights {
                document: row.doc,
                rights,
            })
        })
        .await
    }

    /// Adds or changes a grant (owner, or `share` up to one's own rights and the level's
    /// `max_rights`).
    pub async fn grant(
        &self,
        caller: Caller,
        doc: String,
        grant: Grant,
    ) -> Result<Document, Error> {
        let key = self.keys();
        let limits = self.inner.limits;
        self.run_async(move |tx| {
            let user = resolve(tx, &caller, &limits)?;
            let k = key.audit_key();
            require_active(tx, k, &user, "grant", Some(&doc))?;
            let row = tx.doc_get(&doc)?.ok_or_else(|| not_registered(&doc))?;
            let mine = effective_rights(&row.doc, &user);
            let ev = Event::allow(&user.name, "grant").doc(&doc).detail(serde_json::json!({
                "principal": grant.principal.to_string(), "rights": grant.rights.to_string()}));
            if grant.rights.is_empty() {
                return refuse_invalid(tx, k, ev, format!(
                    "a grant must give at least one right; to take {}'s rights away, ask the owner {} (`fuda unshare`)",
                    grant.principal, row.doc.owner));
            }
            // An administrator changes grants as the owner would, within the same caps.
            if !mine.allows(Right::Owner) && !user.admin {
                if !mine.allows(Right::Share) {
                    return deny(tx, k, ev, DenyCode::NoRights, format!(
                        "you have {} on {doc}; sharing needs the share or owner right: ask the owner {}",
                        show_rights(mine), row.doc.owner));
                }
                if !mine.covers(grant.rights) || grant.rights.allows(Right::Owner) {
                    return deny(tx, k, ev, DenyCode::NoRights, format!(
                        "you can share at most your own rights ({}) on {doc}", show_rights(mine)));
                }
                // A sharer adds; only the owner changes what someone already holds.
                if grant.principal == Principal::Owner {
                    return deny(tx, k, ev, DenyCode::NoRights, format!(
                        "only the owner ({}) can change the owner's grant on {doc}", row.doc.owner));
                }
                let held = row.doc.grants.iter().find(|g| g.principal == grant.principal);
                if let Some(held) = held.filter(|h| !grant.rights.covers(h.rights)) {
                    return deny(tx, k, ev, DenyCode::NoRights, format!(
                        "{} holds {} on {doc}; only the owner ({}) can reduce an existing grant",
                        grant.principal, held.rights, row.doc.owner));
                }
            }
            if grant.principal != Principal::Owner && !row.doc.max_rights.covers(grant.rights) {
                return deny(tx, k, ev, DenyCode::NoRights, format!(
                    "level {} allows at most {} for people outside its default grants; {} is more",
                    row.doc.level, show_rights(row.doc.max_rights), grant.rights));
            }
            check_principal(tx, &grant.principal)?;
            tx.grant_set(&doc, &grant)?;
            append_audit(tx, k, ev).map_err(audit_err)?;
            tx.doc_get(&doc)?.map(|r| r.doc).ok_or_else(|| not_registered(&doc))
        })
        .await
    }

    /// Removes a grant (owner only).
    pub async fn ungrant(
        &self,
        caller: Caller,
        doc: String,
        principal: Principal,
    ) -> Result<Document, Error> {
        let key = self.keys();
        let limits = self.inner.limits;
        self.run_async(move |tx| {
            let user = resolve(tx, &caller, &limits)?;
            let k = key.audit_key();
            require_active(tx, k, &user, "ungrant", Some(&doc))?;
            let row = tx.doc_get(&doc)?.ok_or_else(|| not_registered(&doc))?;
            let ev = Event::allow(&user.name, "ungrant")
                .doc(&doc)
                .detail(serde_json::json!({
                "principal": principal.to_string()}));
            if !owner_or_admin(&row.doc, &user) {
                return deny(
                    tx,
                    k,
                    ev,
                    DenyCode::NoRights,
                    format!(
                        "only the owner ({}) or an administrator can remove grants on {doc}",
                        row.doc.owner
                    ),
                );
            }
            if !tx.grant_remove(&doc, &principal)? {
                return Err(Error::NotFound(format!(
                    "{doc} has no grant for {principal}"
                )));
            }
            append_audit(tx, k, ev).map_err(audit_err)?;
            tx.doc_get(&doc)?
                .map(|r| r.doc)
                .ok_or_else(|| not_registered(&doc))
        })
        .await
    }

    /// Makes `owner` (an active person of the directory) the owner of a document: its
    /// owner or an administrator may (`fuda admin doc owner`), audited. The grants stay
    /// as they are; the `owner` grant now means the new owner.
    pub async fn transfer(
        &self,
        caller: Caller,
        doc: String,
        owner: String,
    ) -> Result<Document, Error> {
        let key = self.keys();
        let limits = self.inner.limits;
        self.run_async(move |tx| {
            let user = resolve(tx, &caller, &limits)?;
            let k = key.audit_key();
            require_active(tx, k, &user, "transfer", Some(&doc))?;
            let row = tx.doc_get(&doc)?.ok_or_else(|| not_registered(&doc))?;
            let ev = Event::allow(&user.name, "transfer")
                .doc(&doc)
                .detail(serde_json::json!({"from": row.doc.owner, "to": owner}));
            if !owner_or_admin(&row.doc, &user) {
                return deny(tx, k, ev, DenyCode::NoRights, format!(
                    "only the owner ({}) or an administrator can transfer {doc} to someone else",
                    row.doc.owner));
            }
            let person = tx
                .user_get(&owner)?
                .filter(|u| u.status == UserStatus::Active && u.kind == EntryKind::Person);
            if person.is_none() {
                return refuse_invalid(tx, k, ev, format!(
                    "{owner} is not an active person in the directory: a document belongs to a person (add them with `fuda admin user add`)"));
            }
            if row.doc.owner == owner {
                return Err(Error::Conflict(format!("{owner} owns {doc} already")));
            }
            tx.doc_set_owner(&doc, &owner)?;
            append_audit(tx, k, ev).map_err(audit_err)?;
            tx.doc_get(&doc)?
                .map(|r| r.doc)
                .ok_or_else(|| not_registered(&doc))
        })
        .await
    }
}

/// Registers a document inside the writer: the caller is active, the header opened,
/// the id is new, the registration agrees with the file's own label, the organisation's
/// policy (`org`, which also gives the caps kept) and the service's limits; the registry
/// keeps the document with its key check, and the audit log a `protect` record.
fn register(
    tx: &mut dyn Tx,
    keys: &ServiceKeys,
    limits: &Limits,
    org: Option<&OrgPolicy>,
    caller: &Caller,
    r: Registration,
    (check, label): (HeaderCheck, Result<SignedLabel, String>),
) -> Result<Registered, Error> {
    let user = resolve(tx, caller, limits)?;
    let k = keys.audit_key();
    require_active(tx, k, &user, "protect", check.doc.as_deref())?;
    let (file_key, version) = check.outcome.map_err(|d| Error::Invalid(d.message))?;
    let doc_id = check.doc.unwrap_or_default();
    if let Some(row) = tx.doc_get(&doc_id)? {
        return registered_again(tx, keys, org, &user, row, &file_key, &r.header);
    }
    let ev = Event::allow(&user.name, "protect")
        .doc(&doc_id)
        .detail(serde_json::json!({
            "level": r.level, "offline_days": r.offline_days, "expires_at": r.expires_at}));
    let now = crate::now();
    let owner = owner_for(tx, &user, &r.owners)?;
    let caps = check_registration(tx, &user, &r, label).and_then(|()| {
        let caps = match org {
            Some(org) => org.caps(&owner, &r, now)?,
            None => Caps::asked(&r).with_owner_dept(&owner, r.dept_rights),
        };
        limits.check_registration(caps.offline_days, caps.expires_at, now)?;
        Ok(caps)
    });
    let caps = match caps {
        Ok(caps) => caps,
        Err(message) => return refuse_invalid(tx, k, ev, message),
    };
    for g in &caps.grants {
        check_principal(tx, &g.principal)?;
    }
    let header = recovery::complete_header(tx, org, &file_key, &r.header)?;
    let doc = Document {
        id: doc_id.clone(),
        name: r.name,
        level: r.level,
        owner: owner.name.clone(),
        grants: caps.grants,
        max_rights: caps.max_rights,
        expires_at: caps.expires_at,
        offline_days: caps.offline_days,
        size: r.size,
        digest: r.digest,
        host: r.host,
        path: r.path,
        key_version: version,
        created_at: now,
        revoked: false,
        version: 1,
    };
    tx.doc_insert(&DocRow {
        doc: doc.clone(),
        key_check: key_check(&file_key),
    })?;
    append_audit(
        tx,
        k,
        Event::allow(&user.name, "protect").doc(&doc_id).detail(serde_json::json!({
            "name": fuda_core::pathname::JsonPath::new(&doc.name), "level": doc.level, "expires_at": doc.expires_at,
            "grants": doc.grants.iter().map(|g| format!("{}={}", g.principal, g.rights)).collect::<Vec<_>>(),
            "policy_version": org.map(OrgPolicy::version),
            "owner": doc.owner, "owner_candidates": r.owners,
        })),
    )
    .map_err(audit_err)?;
    let document = tx.doc_get(&doc_id)?.map(|r| r.doc).unwrap_or(doc);
    Ok(Registered { document, header })
}

/// A document registered before with this very file key, registered again by its owner or
/// an administrator (`fuda rewrap --to-service` run again after it was interrupted between
/// the registration and the file's new header): the registry stays as it is, the answer is
/// the header to write, audited. Any other registration of a known id is a conflict.
fn registered_again(
    tx: &mut dyn Tx,
    keys: &ServiceKeys,
    org: Option<&OrgPolicy>,
    user: &User,
    row: DocRow,
    file_key: &fuda_core::envelope::FileKey,
    header: &[u8],
) -> Result<Registered, Error> {
    let doc_id = row.doc.id.clone();
    let same_key = crate::directory::constant_time_eq(&row.key_check, &key_check(file_key));
    let may = owner_or_admin(&row.doc, user);
    if !same_key || !may {
        return Err(Error::Conflict(format!(
            "document {doc_id} is already registered"
        )));
    }
    let header = recovery::complete_header(tx, org, file_key, header)?;
    append_audit(
        tx,
        keys.audit_key(),
        Event::allow(&user.name, "protect")
            .doc(&doc_id)
            .detail(serde_json::json!({"again": true, "owner": row.doc.owner})),
    )
    .map_err(audit_err)?;
    Ok(Registered {
        document: row.doc,
        header,
    })
}

/// Whom a registration makes the owner: when a hook or an administrator protects for
/// someone (`candidates`, in order of preference), the first active person of the
/// directory among them; else, and for everyone else, the caller (a person owns what they
/// protect, as before).
fn owner_for(tx: &mut dyn Tx, caller: &User, candidates: &[String]) -> Result<User, Error> {
    if caller.kind == EntryKind::Hook || caller.admin {
        for name in candidates {
            if let Some(u) = tx
                .user_get(name)?
                .filter(|u| u.status == UserStatus::Active && u.kind == EntryKind::Person)
            {
                return Ok(u);
            }
        }
    }
    Ok(caller.clone())
}

/// A registration must agree with the file's own signed label (level; signature, when the
/// signer is enrolled here).
fn check_registration(
    tx: &mut dyn Tx,
    user: &User,
    r: &Registration,
    label: Result<SignedLabel, String>,
) -> Result<(), String> {
    let signed = label?;
    if let Some(g) = r.grants.iter().find(|g| g.rights.is_empty()) {
        return Err(format!("the grant for {} gives no rights", g.principal));
    }
    if signed.label.level != r.level {
        return Err(format!(
            "the registration says level {:?} but the file's signed label says {:?}: the service registers the level the file carries",
            r.level, signed.label.level
        ));
    }
    check_signature(tx, user, &signed)
}

/// Whether `signed` was signed with `user`'s enrolled key.
pub(super) fn signed_by(user: &User, signed: &SignedLabel) -> bool {
    user.signing_key
        .as_deref()
        .and_then(|k| decode_public_key(k).ok())
        .map(|key| Signer {
            name: user.name.clone(),
            kind: SignerKind::User,
            public_key: key,
        })
        .is_some_and(|s| s.key_id() == signed.key)
}

/// The file's signed label must verify with its signer's enrolled key (the caller's, or
/// any active user's).
pub(super) fn check_signature(
    tx: &mut dyn Tx,
    user: &User,
    signed: &SignedLabel,
) -> Result<(), String> {
    // `fuda protect` signs with the caller's own key: check that one without reading the
    // whole directory (this runs in the writer); any other enrolled signer is looked up.
    let signer_of = |u: &User| {
        let key = decode_public_key(u.signing_key.as_deref()?).ok()?;
        Some(Signer {
            name: u.name.clone(),
            kind: SignerKind::User,
            public_key: key,
        })
    };
    let mut trust = TrustStore::default();
    match signer_of(user).filter(|s| s.key_id() == signed.key) {
        Some(me) => trust.add(me),
        None => {
            let users = tx.user_list().map_err(|e| e.to_string())?;
            for u in users.iter().filter(|u| u.status == UserStatus::Active) {
                if let Some(s) = signer_of(u) {
                    trust.add(s);
                }
            }
        }
    }
    if verify(signed, &trust, None, None).status == Status::Tampered {
        return Err(
            "the file's label signature does not verify with its signer's enrolled key: the label was altered"
                .into(),
        );
    }
    Ok(())
}
