//! The browser console's log-in: one-time links for admins and auditors, the sessions they
//! open, and signing out. Every step is audited; what a session may then do is decided by
//! the same checks as the API ([`Caller::Session`]).

use super::authz::{audit_err, require_active, require_reader, resolve, Caller};
use super::lifecycle::Service;
use crate::audit::Event;
use crate::console::{
    Credential, CredentialKind, LoginLink, Session, LINK_PREFIX, LINK_TTL, SESSION_MAX,
    SESSION_PREFIX, TOUCH_EVERY,
};
use crate::directory::{self, User};
use crate::error::Error;
use crate::store::{append_audit, Tx};

/// The answer to a log-in link that does not work; the same whatever the reason, so that a
/// guesser learns nothing.
fn link_refused() -> Error {
    Error::Unauthorized(
        "this log-in link does not work (already used, expired, or mistyped): run `fuda admin console` for a new one".into(),
    )
}

/// The browser console.
impl Service {
    /// A one-time log-in link for the caller, who must be an active admin or auditor.
    pub async fn console_link(&self, caller: Caller) -> Result<LoginLink, Error> {
        self.read_as_admin(caller, |tx, k, me| {
            let token = directory::new_secret(LINK_PREFIX)?;
            let now = crate::now();
            tx.console_put(&Credential {
                hash: directory::secret_hash(&token),
                user: me.name.clone(),
                kind: CredentialKind::Link,
                created_at: now,
                expires_at: now + LINK_TTL,
                last_seen: now,
            })?;
            append_audit(tx, k, Event::allow(&me.name, "console-link")).map_err(audit_err)?;
            Ok(LoginLink {
                token,
                user: me.name.clone(),
                expires_at: now + LINK_TTL,
            })
        })
        .await
    }

    /// Exchanges a log-in link (once) for a session of its admin or auditor, who must
    /// still be active and still hold the role.
    pub async fn console_login(&self, link: String) -> Result<Session, Error> {
        let key = self.keys();
        self.run_async(move |tx| {
            let now = crate::now();
            let hash = directory::secret_hash(&link);
            let Some(found) = tx.console_get(&hash)? else {
                return Err(link_refused());
            };
            if found.kind != CredentialKind::Link {
                return Err(link_refused());
            }
            tx.console_delete(&hash)?;
            if !found.live(now) {
                append_audit(
                    tx,
                    key.audit_key(),
                    Event::allow(&found.user, "console-login").deny("link-expired"),
                )
                .map_err(audit_err)?;
                return Err(link_refused());
            }
            let user = tx.user_get(&found.user)?.ok_or_else(link_refused)?;
            require_active(tx, key.audit_key(), &user, "console-login", None)?;
            require_reader(tx, key.audit_key(), &user)?;
            let token = directory::new_secret(SESSION_PREFIX)?;
            tx.console_put(&Credential {
                hash: directory::secret_hash(&token),
                user: user.name.clone(),
                kind: CredentialKind::Session,
                created_at: now,
                expires_at: now + SESSION_MAX,
                last_seen: now,
            })?;
            append_audit(
                tx,
                key.audit_key(),
                Event::allow(&user.name, "console-login").detail(serde_json::json!({
                    "role": if user.admin { "admin" } else { "auditor" }
                })),
            )
            .map_err(audit_err)?;
            Ok(Session {
                token,
                user,
                expires_at: now + SESSION_MAX,
            })
        })
        .await
    }

    /// The admin or auditor of a live session, with its last use recorded (at most once
    /// a minute). An ended session, or one whose person was disabled or lost the role,
    /// is refused.
    pub async fn console_user(&self, session: String) -> Result<User, Error> {
        let key = self.keys();
        let limits = self.inner.limits;
        self.run_async(move |tx| {
            let user = resolve(tx, &Caller::Session(session.clone()), &limits)?;
            require_active(tx, key.audit_key(), &user, "console", None)?;
            require_reader(tx, key.audit_key(), &user)?;
            touch(tx, &session)?;
            Ok(user)
        })
        .await
    }

    /// Ends a session (signing out); audited. An unknown session is not an error.
    pub async fn console_logout(&self, session: String) -> Result<(), Error> {
        let key = self.keys();
        self.run_async(move |tx| {
            let hash = directory::secret_hash(&session);
            match tx.console_get(&hash)? {
                Some(c) if c.kind == CredentialKind::Session => {
                    tx.console_delete(&hash)?;
                    append_audit(tx, key.audit_key(), Event::allow(&c.user, "console-logout"))
                        .map(drop)
                        .map_err(audit_err)
                }
                _ => Ok(()),
            }
        })
        .await
    }
}

/// Records a session's use if the last record is older than [`TOUCH_EVERY`].
fn touch(tx: &mut dyn Tx, session: &str) -> Result<(), Error> {
    let now = crate::now();
    if let Some(mut c) = tx.console_get(&directory::secret_hash(session))? {
        if now - c.last_seen >= TOUCH_EVERY {
            c.last_seen = now;
            tx.console_put(&c)?;
        }
    }
    Ok(())
}
