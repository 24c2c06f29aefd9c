//! The organisation's policy: set by an admin (validated like `fuda policy check`,
//! versioned, audited with a diff), served signed to every enrolled user, re-applied to
//! the documents already registered; and the caps a registration must stay within.
//!
//! Until an admin sets a policy the service holds none and keeps what it did before: a
//! registration's caps are the client's, within the service's [`Limits`]. From the first
//! `fuda admin policy set` on, the level, `max_rights`, `offline_days`, `expires_days`,
//! `protect = never` and the default grants come from the service's current policy, never
//! from the client ([`OrgPolicy::caps`]). A document keeps the caps it was registered
//! under until an admin re-applies the policy ([`Service::policy_apply`]), which only
//! tightens.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use fuda_core::policy::{Level, Policy, Protect};
use fuda_core::rights::Rights;

use super::authz::{audit_err, refuse_invalid, require_active, resolve, show_rights, Caller};
use super::lifecycle::Service;
use crate::audit::Event;
use crate::directory::User;
use crate::error::Error;
use crate::keys::ServiceKeys;
use crate::limits::Limits;
use crate::policy::{Applied, PolicySet, PolicyVersion, SignedPolicy, Tightened};
use crate::registry::{Document, Grant, Principal, Registration};
use crate::store::{append_audit, Tx};

/// A client clock may run this far ahead of the service's when it computes an expiry.
const CLOCK_SKEW: i64 = 3_600;

/// Longest file name kept as a policy's origin.
const MAX_ORIGIN: usize = 256;

/// The policy in force: its signed text and the parsed policy.
#[derive(Debug)]
pub(super) struct OrgPolicy {
    /// What `GET /v1/policy` returns.
    pub(super) signed: SignedPolicy,
    /// The parsed policy.
    pub(super) policy: Policy,
}

/// What a registration is stored with: its grants and caps, from the policy (or, without
/// one, from the client).
#[derive(Clone, Debug)]
pub(super) struct Caps {
    pub(super) grants: Vec<Grant>,
    pub(super) max_rights: Rights,
    pub(super) expires_at: Option<i64>,
    pub(super) offline_days: u32,
}

impl Caps {
    /// What the client asked for (a service that holds no policy).
    pub(super) fn asked(r: &Registration) -> Caps {
        Caps {
            grants: r.grants.clone(),
            max_rights: r.max_rights,
            expires_at: r.expires_at,
            offline_days: r.offline_days,
        }
    }

    /// Adds the level's default grant for the department of `owner` (`dept_rights`, as
    /// the client's policy has it) unless a grant names that group already: a document
    /// protected for someone else under a service without the organisation's policy,
    /// whose client could not know the owner's department.
    pub(super) fn with_owner_dept(mut self, owner: &User, dept_rights: Option<Rights>) -> Caps {
        let (Some(dept), Some(rights)) = (&owner.dept, dept_rights) else {
            return self;
        };
        let group = Principal::Group(dept.clone());
        if !rights.is_empty() && !self.grants.iter().any(|g| g.principal == group) {
            self.grants.push(Grant {
                principal: group,
                rights,
            });
        }
        self
    }
}

impl OrgPolicy {
    /// Parses a stored version and signs it with the service's key.
    pub(super) fn new(
        stored: PolicyVersion,
        service: &str,
        keys: &ServiceKeys,
    ) -> Result<OrgPolicy, Error> {
        let policy = Policy::from_toml(&stored.text, Path::new(&stored.origin)).map_err(|e| {
            Error::Invalid(format!(
                "the stored policy version {} no longer validates: {e}",
                stored.version
            ))
        })?;
        Ok(OrgPolicy {
            signed: SignedPolicy::sign(service, stored, |b| keys.sign(b)),
            policy,
        })
    }

    /// The policy itself.
    pub(super) fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The service's version number of this policy.
    pub(super) fn version(&self) -> u32 {
        self.signed.policy.version
    }

    pub(super) fn level(&self, id: &str) -> Result<&Level, String> {
        self.policy.level(id).ok_or_else(|| {
            format!(
                "level {id:?} is not in the organisation's policy (version {}); its levels are {}",
                self.version(),
                self.policy.level_names()
            )
        })
    }

    /// The grants and caps of a registration by `user` under this policy, or why it is
    /// refused: a level the policy lacks or never protects, a grant beyond the level's
    /// caps, an expiry later than the level allows. `max_rights` and `offline_days` are the
    /// level's whatever the client sent; the grants are the client's plus every default
    /// grant of the level it left out (`group:$dept` bound to the directory's department).
    pub(super) fn caps(&self, user: &User, r: &Registration, now: i64) -> Result<Caps, String> {
        let level = self.level(&r.level)?;
        let v = self.version();
        if level.protect == Protect::Never {
            return Err(format!(
                "level {} ({}) is never protected under the organisation's policy (version {v}): label the file without protecting it",
                level.name_ja, level.id
            ));
        }
        let defaults = default_grants(level, user.dept.as_deref());
        for g in r.grants.iter().filter(|g| g.principal != Principal::Owner) {
            let cap = cap_for(level, &defaults, &g.principal);
            if !cap.covers(g.rights) {
                return Err(format!(
                    "the grant {}={} is more than level {} allows ({}) under the organisation's policy (version {v})",
                    g.principal, g.rights, level.name_ja, show_rights(cap)
                ));
            }
        }
        let expires_at = match (level.expires_days, r.expires_at) {
            (0, asked) => asked,
            (days, None) => {
                return Err(format!(
                    "level {} expires {days} days after protection under the organisation's policy (version {v}); this registration never expires",
                    level.name_ja
                ))
            }
            (days, Some(asked)) if asked > now + i64::from(days) * 86_400 + CLOCK_SKEW => {
                return Err(format!(
                    "an expiry more than {days} days ahead is later than level {} allows under the organisation's policy (version {v}): choose an earlier --expires",
                    level.name_ja
                ))
            }
            (_, asked) => asked,
        };
        let mut grants = r.grants.clone();
        for (principal, rights) in defaults {
            if !grants.iter().any(|g| g.principal == principal) {
                grants.push(Grant { principal, rights });
            }
        }
        Ok(Caps {
            grants,
            max_rights: level.max_rights,
            expires_at,
            offline_days: level.offline_days,
        })
    }
}

/// A level's default grants, `$dept` bound to `dept` (and left out without one).
fn default_grants(level: &Level, dept: Option<&str>) -> BTreeMap<Principal, Rights> {
    let mut out = BTreeMap::new();
    for (principal, rights) in &level.grants {
        let name = match (principal.contains("$dept"), dept) {
            (true, Some(d)) => principal.replace("$dept", d),
            (true, None) => continue,
            (false, _) => principal.clone(),
        };
        if let Ok(p) = name.parse::<Principal>() {
            out.insert(p, *rights);
        }
    }
    out
}

/// The most a principal other than the owner may hold at `level`: its default grant and
/// the level's `max_rights`.
fn cap_for(level: &Level, defaults: &BTreeMap<Principal, Rights>, p: &Principal) -> Rights {
    let default = defaults.get(p).copied().unwrap_or(Rights::NONE);
    union(default, level.max_rights)
}

fn union(a: Rights, b: Rights) -> Rights {
    b.iter().fold(a, |acc, r| acc.with(r))
}

fn intersect(a: Rights, b: Rights) -> Rights {
    a.iter()
        .filter(|r| b.allows(*r))
        .fold(Rights::NONE, |acc, r| acc.with(r))
}

/// Why a policy's levels ask for more than this service allows, if they do.
fn check_limits(policy: &Policy, limits: &Limits) -> Result<(), String> {
    for l in &policy.levels {
        if l.offline_days > limits.max_offline_days {
            return Err(format!(
                "level {} allows {} offline days, more than this key service allows ({}): lower offline_days, or serve with a higher --max-offline-days",
                l.id, l.offline_days, limits.max_offline_days
            ));
        }
        if l.expires_days > limits.max_expiry_days {
            return Err(format!(
                "level {} expires after {} days, later than this key service allows ({}): lower expires_days, or serve with a higher --max-expiry-days",
                l.id, l.expires_days, limits.max_expiry_days
            ));
        }
    }
    Ok(())
}

/// The organisation's policy.
impl Service {
    /// The policy in force now, if an admin set one.
    /// The policy in force, if one was set: what every user is served, signed.
    pub fn policy_in_force(&self) -> Option<fuda_core::policy::Policy> {
        self.org_policy().map(|p| p.policy().clone())
    }

    pub(super) fn org_policy(&self) -> Option<Arc<OrgPolicy>> {
        self.inner.policy.read().expect("policy lock").clone()
    }

    /// Uses a version another replica stored, from now on (unless a newer one is in use).
    pub(super) fn adopt_policy(&self, stored: PolicyVersion) {
        let version = stored.version;
        match OrgPolicy::new(stored, &self.inner.id, &self.keys()) {
            Ok(p) => {
                self.use_policy(p);
                tracing::info!(version, "policy set on another replica is in force");
            }
            Err(e) => {
                tracing::error!(version, error = %e, "another replica's policy does not load")
            }
        }
    }

    /// Uses `new` from now on, unless a newer version is already in use.
    fn use_policy(&self, new: OrgPolicy) {
        let mut current = self.inner.policy.write().expect("policy lock");
        if current.as_ref().is_none_or(|c| c.version() < new.version()) {
            *current = Some(Arc::new(new));
        }
    }

    /// The current policy, signed, for any active user (`None`: no admin set one).
    pub async fn policy(&self, caller: Caller) -> Result<Option<SignedPolicy>, Error> {
        let (keys, limits) = (self.keys(), self.inner.limits);
        let current = self.org_policy();
        self.run_async(move |tx| {
            let user = resolve(tx, &caller, &limits)?;
            require_active(tx, keys.audit_key(), &user, "policy", None)?;
            Ok(current.map(|c| c.signed.clone()))
        })
        .await
    }

    /// Admin: a version of the policy (`None`: the current one), signed.
    pub async fn policy_version(
        &self,
        caller: Caller,
        version: Option<u32>,
    ) -> Result<SignedPolicy, Error> {
        let keys = self.keys();
        let id = self.inner.id.clone();
        self.read_as_admin(caller, move |tx, _, _| {
            let stored = tx.policy_get(version)?.ok_or_else(|| {
                Error::NotFound(match version {
                    Some(v) => format!("there is no policy version {v}"),
                    None => {
                        "no policy is set on this key service: `fuda admin policy set FILE`".into()
                    }
                })
            })?;
            Ok(SignedPolicy::sign(&id, stored, |b| keys.sign(b)))
        })
        .await
    }

    /// Admin: makes `text` (the policy file `origin`) the organisation's policy. A policy
    /// with problems is refused with every problem's file:line:column (audited); the
    /// previous version stays in force.
    pub async fn policy_set(
        &self,
        caller: Caller,
        text: String,
        origin: String,
    ) -> Result<PolicySet, Error> {
        let origin: String = origin.chars().take(MAX_ORIGIN).collect();
        let parsed = Policy::from_toml(&text, Path::new(&origin)).map_err(|e| e.to_string());
        let (keys, limits, id) = (self.keys(), self.inner.limits, self.inner.id.clone());
        let (set, stored) = self
            .admin(caller, move |tx, k, me| {
                let ev = Event::allow(&me.name, "policy-set")
                    .detail(serde_json::json!({ "origin": origin }));
                let policy = match parsed.and_then(|p| check_limits(&p, &limits).map(|()| p)) {
                    Ok(p) => p,
                    Err(message) => return refuse_invalid(tx, k, ev, message),
                };
                let previous = tx.policy_get(None)?;
                if let Some(prev) = previous.as_ref().filter(|p| p.text == text) {
                    let same = PolicySet {
                        version: prev.version,
                        previous: Some(prev.version),
                        diff: String::new(),
                    };
                    return Ok((same, None));
                }
                let version = previous.as_ref().map_or(1, |p| p.version + 1);
                let (old_text, old_name) = match &previous {
                    Some(p) => (p.text.as_str(), format!("version {}", p.version)),
                    None => ("", "(none)".to_owned()),
                };
                let diff =
                    crate::policy::diff(old_text, &text, &old_name, &format!("version {version}"));
                let stored = PolicyVersion {
                    version,
                    text,
                    origin: origin.clone(),
                    set_by: me.name.clone(),
                    set_at: crate::now(),
                };
                tx.policy_put(&stored)?;
                append_audit(
                    tx,
                    k,
                    Event::allow(&me.name, "policy-set").detail(serde_json::json!({
                        "version": version, "previous": previous.as_ref().map(|p| p.version),
                        "origin": origin, "policy": policy.to_string(), "diff": diff,
                    })),
                )
                .map_err(audit_err)?;
                let set = PolicySet {
                    version,
                    previous: previous.map(|p| p.version),
                    diff,
                };
                Ok((set, Some(stored)))
            })
            .await?;
        if let Some(stored) = stored {
            self.use_policy(OrgPolicy::new(stored, &id, &keys)?);
        }
        Ok(set)
    }

    /// Admin: re-applies the current policy to every registered document, tightening
    /// (never widening) its `max_rights`, grants, offline days and expiry; one audit
    /// record per document changed and one for the whole run.
    pub async fn policy_apply(&self, caller: Caller) -> Result<Applied, Error> {
        let current = self.org_policy();
        self.admin(caller, move |tx, k, me| {
            let org = current.ok_or_else(|| {
                Error::Conflict(
                    "no policy is set on this key service: `fuda admin policy set FILE` first"
                        .into(),
                )
            })?;
            let docs = tx.doc_list()?;
            let mut applied = Applied {
                version: org.version(),
                documents: docs.len(),
                tightened: Vec::new(),
                unknown_level: Vec::new(),
            };
            for doc in docs {
                let Some(level) = org.policy.level(&doc.level) else {
                    applied.unknown_level.push(doc.id);
                    continue;
                };
                let owner = tx.user_get(&doc.owner)?;
                let dept = owner.as_ref().and_then(|u| u.dept.as_deref());
                let changes = tighten(tx, &doc, level, &default_grants(level, dept))?;
                if changes.is_empty() {
                    continue;
                }
                append_audit(
                    tx,
                    k,
                    Event::allow(&me.name, "policy-apply")
                        .doc(&doc.id)
                        .detail(serde_json::json!({"version": org.version(), "changes": changes})),
                )
                .map_err(audit_err)?;
                applied.tightened.push(Tightened {
                    doc: doc.id,
                    level: doc.level,
                    changes,
                });
            }
            append_audit(
                tx,
                k,
                Event::allow(&me.name, "policy-apply").detail(serde_json::json!({
                    "version": applied.version, "documents": applied.documents,
                    "tightened": applied.tightened.len(), "unknown_level": applied.unknown_level,
                })),
            )
            .map_err(audit_err)?;
            Ok(applied)
        })
        .await
    }
}

/// Puts a reclassified document under `level`'s caps: its `max_rights` and
/// `offline_days`, and every grant but the owner's narrowed to what the level allows
/// (its default grants for the owner's department `dept`, and `max_rights`). The expiry
/// stays.
pub(super) fn apply_level(
    tx: &mut dyn Tx,
    doc: &Document,
    level: &Level,
    dept: Option<&str>,
) -> Result<(), Error> {
    let defaults = default_grants(level, dept);
    for g in doc
        .grants
        .iter()
        .filter(|g| g.principal != Principal::Owner)
    {
        let rights = intersect(g.rights, cap_for(level, &defaults, &g.principal));
        if rights.is_empty() {
            tx.grant_remove(&doc.id, &g.principal)?;
        } else if rights != g.rights {
            let mut narrowed = g.clone();
            narrowed.rights = rights;
            tx.grant_set(&doc.id, &narrowed)?;
        }
    }
    tx.doc_set_caps(
        &doc.id,
        level.max_rights,
        doc.expires_at,
        level.offline_days,
    )?;
    Ok(())
}

/// Tightens one document to `level`; what changed, in words.
fn tighten(
    tx: &mut dyn Tx,
    doc: &Document,
    level: &Level,
    defaults: &BTreeMap<Principal, Rights>,
) -> Result<Vec<String>, Error> {
    let mut changes = Vec::new();
    let max_rights = intersect(doc.max_rights, level.max_rights);
    if max_rights != doc.max_rights {
        changes.push(format!(
            "max_rights {} → {}",
            show_rights(doc.max_rights),
            show_rights(max_rights)
        ));
    }
    let offline_days = doc.offline_days.min(level.offline_days);
    if offline_days != doc.offline_days {
        changes.push(format!(
            "offline_days {} → {offline_days}",
            doc.offline_days
        ));
    }
    let expires_at = match level.expires_days {
        0 => doc.expires_at,
        days => {
            let latest = doc.created_at.saturating_add(i64::from(days) * 86_400);
            Some(doc.expires_at.map_or(latest, |e| e.min(latest)))
        }
    };
    if expires_at != doc.expires_at {
        changes.push(format!(
            "expires_at {} → {}",
            doc.expires_at.map_or("never".into(), |e| e.to_string()),
            expires_at.map_or("never".into(), |e| e.to_string())
        ));
    }
    for g in doc
        .grants
        .iter()
        .filter(|g| g.principal != Principal::Owner)
    {
        let rights = intersect(g.rights, cap_for(level, defaults, &g.principal));
        if rights == g.rights {
            continue;
        }
        changes.push(format!(
            "grant {} {} → {}",
            g.principal,
            g.rights,
            show_rights(rights)
        ));
        if rights.is_empty() {
            tx.grant_remove(&doc.id, &g.principal)?;
        } else {
            let mut narrowed = g.clone();
            narrowed.rights = rights;
            tx.grant_set(&doc.id, &narrowed)?;
        }
    }
    if !changes.is_empty() {
        tx.doc_set_caps(&doc.id, max_rights, expires_at, offline_days)?;
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intersect_and_union_keep_only_what_both_or_either_allow() {
        let r = |s: &str| s.parse::<Rights>().unwrap();
        assert_eq!(intersect(r("view,edit,export"), r("view,print")), r("view"));
        assert_eq!(intersect(r("view,edit"), r("owner")), r("view,edit"));
        assert_eq!(union(r("view"), r("print")), r("view,print"));
    }
}
