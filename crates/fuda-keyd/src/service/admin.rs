//! Administration (admins only, every change audited): users and their tokens, groups,
//! revocations, the document list, the audit log and its verification, key rotation.

use super::authz::{
    audit_err, not_registered, require_active, require_admin, require_reader, resolve, Caller,
};
use super::lifecycle::{Service, ENROLLMENT_TTL};
use super::records::{RevokeTarget, UserAdded};
use crate::audit::{self, Event};
use crate::directory::{self, EntryKind, Group, NewUser, User, UserStatus};
use crate::error::Error;
use crate::keys::{ServiceInfo, ServiceKeys};
use crate::registry::{Document, Revocation};
use crate::store::{append_audit, Tx};

/// Administration.
impl Service {
    /// The job of an admin request: the caller must be an active admin (a disabled one
    /// is refused and audited); `f` gets the audit key and the admin.
    fn admin_job<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Tx, &ring::hmac::Key, &User) -> Result<T, Error> + Send + 'static,
        caller: Caller,
    ) -> tokio::sync::oneshot::Receiver<Result<T, Error>> {
        let key = self.keys();
        let limits = self.inner.limits;
        self.submit(move |tx| {
            let user = resolve(tx, &caller, &limits)?;
            require_active(tx, key.audit_key(), &user, "admin", None)?;
            require_admin(tx, key.audit_key(), &user, "admin")?;
            f(tx, key.audit_key(), &user)
        })
    }

    /// An admin's request that only reads (the directory, the registry, the audit log,
    /// the ledger): admins and auditors pass; anyone else is refused and audited.
    pub(super) async fn read_as_admin<T: Send + 'static>(
        &self,
        caller: Caller,
        f: impl FnOnce(&mut dyn Tx, &ring::hmac::Key, &User) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let key = self.keys();
        let limits = self.inner.limits;
        self.submit(move |tx| {
            let user = resolve(tx, &caller, &limits)?;
            require_active(tx, key.audit_key(), &user, "admin-read", None)?;
            require_reader(tx, key.audit_key(), &user)?;
            f(tx, key.audit_key(), &user)
        })
        .await
        .unwrap_or(Err(Error::ShuttingDown))
    }

    pub(super) async fn admin<T: Send + 'static>(
        &self,
        caller: Caller,
        f: impl FnOnce(&mut dyn Tx, &ring::hmac::Key, &User) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        self.admin_job(f, caller)
            .await
            .unwrap_or(Err(Error::ShuttingDown))
    }

    /// Adds a user and returns their one-time enrollment code.
    pub async fn user_add(&self, caller: Caller, new: NewUser) -> Result<UserAdded, Error> {
        self.admin(caller, move |tx, k, me| {
            directory::validate_name("user", &new.name)?;
            if let Some(d) = &new.dept {
                directory::validate_name("department", d)?;
            }
            if tx.user_get(&new.name)?.is_some() {
                return Err(Error::Conflict(format!("user {} already exists", new.name)));
            }
            if (new.admin || new.auditor) && new.kind != EntryKind::Person {
                return Err(Error::Invalid(format!(
                    "{} is a {}: only a person can administer or audit the service",
                    new.name,
                    new.kind.as_str()
                )));
            }
            if new.admin && new.auditor {
                return Err(Error::Invalid(format!(
                    "{} cannot be both an admin and an auditor: an auditor only reads (choose one)",
                    new.name
                )));
            }
            let user = User {
                name: new.name.clone(),
                display_name: new.display_name.clone().unwrap_or_else(|| new.name.clone()),
                dept: new.dept.clone(),
                status: UserStatus::Active,
                admin: new.admin,
                auditor: new.auditor,
                recipient: None,
                signing_key: None,
                groups: Vec::new(),
                kind: new.kind,
            };
            tx.user_put(&user)?;
            let code = directory::new_secret("fudaenroll")?;
            tx.enrollment_add(
                &directory::secret_hash(&code),
                &user.name,
                crate::now() + ENROLLMENT_TTL,
            )?;
            append_audit(
                tx,
                k,
                Event::allow(&me.name, "user-add")
                    .subject(&user.name)
                    .detail(serde_json::json!({
                        "dept": user.dept, "admin": user.admin, "auditor": user.auditor,
                        "kind": user.kind.as_str(),
                    })),
            )
            .map_err(audit_err)?;
            Ok(UserAdded { user, code })
        })
        .await
    }

    /// A new one-time enrollment code for an existing user (new machine, lost token).
    pub async fn user_code(&self, caller: Caller, name: String) -> Result<UserAdded, Error> {
        self.admin(caller, move |tx, k, me| {
            let user = tx
                .user_get(&name)?
                .ok_or_else(|| Error::NotFound(format!("user {name} does not exist")))?;
            let code = directory::new_secret("fudaenroll")?;
            tx.enrollment_add(
                &directory::secret_hash(&code),
                &user.name,
                crate::now() + ENROLLMENT_TTL,
            )?;
            append_audit(tx, k, Event::allow(&me.name, "user-code").subject(&name))
                .map_err(audit_err)?;
            Ok(UserAdded { user, code })
        })
        .await
    }

    /// Enables or disables a user.
    pub async fn user_status(
        &self,
        caller: Caller,
        name: String,
        status: UserStatus,
    ) -> Result<User, Error> {
        self.admin(caller, move |tx, k, me| {
            let mut user = tx
                .user_get(&name)?
                .ok_or_else(|| Error::NotFound(format!("user {name} does not exist")))?;
            if user.name == me.name && status == UserStatus::Disabled {
                return Err(Error::Conflict("you cannot disable yourself".into()));
            }
            // Disabled, a user's token still names them, so every refusal is audited and
            // tells them why; enabled again, no token from before the disabling works:
            // they enroll with a new code.
            if user.status == UserStatus::Disabled && status == UserStatus::Active {
                tx.token_delete_user(&user.name)?;
            }
            // A disabled admin's console sessions end at once.
            if status == UserStatus::Disabled {
                tx.console_delete_user(&user.name, crate::now())?;
            }
            user.status = status;
            tx.user_put(&user)?;
            let action = if status == UserStatus::Active {
                "user-enable"
            } else {
                "user-disable"
            };
            append_audit(tx, k, Event::allow(&me.name, action).subject(&name))
                .map_err(audit_err)?;
            Ok(user)
        })
        .await
    }

    /// Ends every API token of a user (a lost laptop, a leaked token); they enroll again
    /// with a new code. Returns how many tokens ended.
    pub async fn revoke_tokens(&self, caller: Caller, name: String) -> Result<usize, Error> {
        self.admin(caller, move |tx, k, me| {
            if tx.user_get(&name)?.is_none() {
                return Err(Error::NotFound(format!("user {name} does not exist")));
            }
            let ended = tx.token_delete_user(&name)?;
            tx.console_delete_user(&name, crate::now())?;
            append_audit(
                tx,
                k,
                Event::allow(&me.name, "revoke-tokens")
                    .subject(&name)
                    .detail(serde_json::json!({"tokens": ended})),
            )
            .map_err(audit_err)?;
            Ok(ended)
        })
        .await
    }

    /// Moves a user to another department (`None`: no department). The department is a
    /// group for grants, so what they may open changes with it at their next request.
    pub async fn user_dept(
        &self,
        caller: Caller,
        name: String,
        dept: Option<String>,
    ) -> Result<User, Error> {
        self.admin(caller, move |tx, k, me| {
            if let Some(d) = &dept {
                directory::validate_name("department", d)?;
            }
            let mut user = tx
                .user_get(&name)?
                .ok_or_else(|| Error::NotFound(format!("user {name} does not exist")))?;
            if user.dept == dept {
                return Err(Error::Conflict(format!(
                    "{name} is in that department already"
                )));
            }
            let from = std::mem::replace(&mut user.dept, dept);
            tx.user_put(&user)?;
            append_audit(
                tx,
                k,
                Event::allow(&me.name, "user-dept")
                    .subject(&name)
                    .detail(serde_json::json!({"from": from, "to": user.dept})),
            )
            .map_err(audit_err)?;
            Ok(user)
        })
        .await
    }

    /// Every user.
    pub async fn user_list(&self, caller: Caller) -> Result<Vec<User>, Error> {
        self.read_as_admin(caller, |tx, _, _| Ok(tx.user_list()?))
            .await
    }

    /// Creates a group.
    pub async fn group_add(&self, caller: Caller, name: String) -> Result<(), Error> {
        self.admin(caller, move |tx, k, me| {
            directory::validate_name("group", &name)?;
            tx.group_add(&name)?;
            append_audit(
                tx,
                k,
                Event::allow(&me.name, "group-add").detail(serde_json::json!({"group": name})),
            )
            .map_err(audit_err)?;
            Ok(())
        })
        .await
    }

    /// Adds (`member`) or removes a user from a group.
    pub async fn group_member(
        &self,
        caller: Caller,
        group: String,
        user: String,
        member: bool,
    ) -> Result<(), Error> {
        self.admin(caller, move |tx, k, me| {
            directory::validate_name("group", &group)?;
            if tx.user_get(&user)?.is_none() {
                return Err(Error::NotFound(format!("user {user} does not exist")));
            }
            tx.group_add(&group)?;
            tx.group_member(&group, &user, member)?;
            let action = if member {
                "group-member-add"
            } else {
                "group-member-remove"
            };
            append_audit(
                tx,
                k,
                Event::allow(&me.name, action)
                    .subject(&user)
                    .detail(serde_json::json!({"group": group})),
            )
            .map_err(audit_err)?;
            Ok(())
        })
        .await
    }

    /// Every group with its members.
    pub async fn group_list(&self, caller: Caller) -> Result<Vec<Group>, Error> {
        self.read_as_admin(caller, |tx, _, _| Ok(tx.group_list()?))
            .await
    }

    /// Revokes a document, a user, or a user on a document: effective at the next request.
    pub async fn revoke(&self, caller: Caller, target: RevokeTarget) -> Result<Revocation, Error> {
        self.admin(caller, move |tx, k, me| {
            check_target(tx, &target)?;
            let r = Revocation {
                doc: target.doc.clone(),
                user: target.user.clone(),
                at: crate::now(),
                by: me.name.clone(),
            };
            tx.revocation_add(&r)?;
            let mut ev = Event::allow(&me.name, "revoke");
            ev.doc = target.doc;
            ev.subject = target.user;
            append_audit(tx, k, ev).map_err(audit_err)?;
            Ok(r)
        })
        .await
    }

    /// Lifts a revocation.
    pub async fn unrevoke(&self, caller: Caller, target: RevokeTarget) -> Result<(), Error> {
        self.admin(caller, move |tx, k, me| {
            check_target(tx, &target)?;
            if !tx.revocation_remove(target.doc.as_deref(), target.user.as_deref())? {
                return Err(Error::NotFound("no such revocation is in force".into()));
            }
            let mut ev = Event::allow(&me.name, "unrevoke");
            ev.doc = target.doc;
            ev.subject = target.user;
            append_audit(tx, k, ev).map_err(audit_err)?;
            Ok(())
        })
        .await
    }

    /// Revocations in force.
    pub async fn revocations(&self, caller: Caller) -> Result<Vec<Revocation>, Error> {
        self.read_as_admin(caller, |tx, _, _| Ok(tx.revocation_list()?))
            .await
    }

    /// Every registered document. The caller is checked by the writer; the list is read
    /// from a snapshot beside it (with its grants and revocations, thousands of documents
    /// would hold up every decision behind them for tens of milliseconds).
    pub async fn documents(&self, caller: Caller) -> Result<Vec<Document>, Error> {
        self.read_as_admin(caller, |_, _, _| Ok(())).await?;
        let snapshots = self.inner.snapshots.clone();
        tokio::task::spawn_blocking(move || Ok(snapshots()?.documents()?))
            .await
            .unwrap_or(Err(Error::ShuttingDown))
    }

    /// Audit records matching a query.
    pub async fn audit(
        &self,
        caller: Caller,
        q: audit::Query,
    ) -> Result<Vec<audit::Record>, Error> {
        self.read_as_admin(caller, move |tx, _, _| Ok(tx.audit_query(&q)?))
            .await
    }

    /// Verifies the whole audit chain, and against the highest checkpoint this service
    /// signed ([`Service::audit_verify_against`] with none held by the caller).
    pub async fn audit_verify(&self, caller: Caller) -> Result<audit::Verification, Error> {
        self.audit_verify_against(caller, Vec::new()).await
    }

    /// Adds a wrapping key version; new files are wrapped to it, old ones keep opening.
    ///
    /// Replicas on one database each hold a copy of the keys: a new version made by one
    /// would be unknown to the others, which could then not open the files wrapped to it.
    /// So over the API a replicated service refuses; `fuda-keyd rotate-key` (a local
    /// caller) rotates while every replica is stopped, and the keys are copied to all.
    pub async fn rotate_key(&self, caller: Caller) -> Result<ServiceInfo, Error> {
        if self.inner.replicated && matches!(caller, Caller::Token(_)) {
            return Err(Error::Conflict(
                "this key service runs as replicas on one database, each with its own copy of the keys: stop every replica, run `fuda-keyd rotate-key --data DIR --admin NAME` on one, copy its keys/ to the others, and start them again".into(),
            ));
        }
        let dir = self.inner.dir.join("keys");
        let version = self
            .admin(caller, move |tx, k, me| {
                let version = ServiceKeys::rotate(&dir)?;
                append_audit(
                    tx,
                    k,
                    Event::allow(&me.name, "rotate-key")
                        .detail(serde_json::json!({"version": version})),
                )
                .map_err(audit_err)?;
                Ok(version)
            })
            .await?;
        let keys = self.reload_keys()?;
        debug_assert_eq!(keys.current_version(), version);
        Ok(self.info())
    }
}

/// A revocation names a document, a user or both, and each must exist.
fn check_target(tx: &mut dyn Tx, t: &RevokeTarget) -> Result<(), Error> {
    if t.doc.is_none() && t.user.is_none() {
        return Err(Error::Invalid(
            "name a document (--doc ID), a user (--user NAME) or both".into(),
        ));
    }
    if let Some(d) = &t.doc {
        if tx.doc_get(d)?.is_none() {
            return Err(not_registered(d));
        }
    }
    if let Some(u) = &t.user {
        if tx.user_get(u)?.is_none() {
            return Err(Error::NotFound(format!("user {u} does not exist")));
        }
    }
    Ok(())
}
