//! Who is asking, and the checks every decision shares: an active user, an admin, the
//! rights a user holds through a document's grants, and refusals that are audited.

use fuda_core::rights::Rights;

use crate::audit::Event;
use crate::directory::{self, User, UserStatus};
use crate::error::{Denial, DenyCode, Error};
use crate::limits::Limits;
use crate::registry::{Document, Principal};
use crate::store::{append_audit, StoreError, Tx};

/// Who is asking.
#[derive(Clone)]
pub enum Caller {
    /// A bearer token (remote clients); resolved to a user inside the transaction.
    Token(String),
    /// A user of the embedded service (the process is the user).
    Local(String),
    /// A browser console session's secret (the cookie); resolved to its admin or auditor
    /// inside the transaction, refused once expired or idle.
    Session(String),
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Caller::Token(_) => f.write_str("Caller::Token(<redacted>)"),
            Caller::Session(_) => f.write_str("Caller::Session(<redacted>)"),
            Caller::Local(n) => write!(f, "Caller::Local({n})"),
        }
    }
}

/// A failed audit append is a store failure: the job is undone, nothing is answered yes.
pub(super) fn audit_err(e: StoreError) -> Error {
    Error::Store(e)
}

/// The rights `user` holds on `doc` through its grants.
pub fn effective_rights(doc: &Document, user: &User) -> Rights {
    doc.grants
        .iter()
        .filter(|g| g.principal.matches(user, &doc.owner))
        .fold(Rights::NONE, |acc, g| {
            g.rights.iter().fold(acc, |a, r| a.with(r))
        })
}

/// Whether `user` may act as the document's owner: they hold its owner right, or they are
/// an administrator (transfer, ungrant, reclassify).
pub(super) fn owner_or_admin(doc: &Document, user: &User) -> bool {
    user.admin || effective_rights(doc, user).allows(fuda_core::rights::Right::Owner)
}

/// Resolves the caller to a user. Bad credentials write nothing.
pub(super) fn resolve(tx: &mut dyn Tx, caller: &Caller, limits: &Limits) -> Result<User, Error> {
    let name = match caller {
        Caller::Local(n) => n.clone(),
        Caller::Token(t) => {
            let invalid = || {
                Error::Unauthorized(
                    "the API token is not valid (revoked, expired, replaced by a newer enrollment, or mistyped): enroll again with `fuda init --service URL --enroll CODE` (ask an admin for a code)".into(),
                )
            };
            let (name, created_at) = tx
                .token_user(&directory::secret_hash(t))?
                .ok_or_else(invalid)?;
            if !limits.token_valid(created_at, crate::now()) {
                return Err(invalid());
            }
            name
        }
        Caller::Session(t) => tx
            .console_get(&directory::secret_hash(t))?
            .filter(|c| c.kind == crate::console::CredentialKind::Session && c.live(crate::now()))
            .map(|c| c.user)
            .ok_or_else(|| {
                Error::Unauthorized(
                    "the console session has ended (signed out, idle too long, or expired): get a new log-in link with `fuda admin console`".into(),
                )
            })?,
    };
    tx.user_get(&name)?
        .ok_or_else(|| Error::Unauthorized(format!("user {name} is not in the directory")))
}

/// A disabled user is refused everywhere, and the refusal audited.
pub(super) fn require_active(
    tx: &mut dyn Tx,
    key: &ring::hmac::Key,
    user: &User,
    action: &str,
    doc: Option<&str>,
) -> Result<(), Error> {
    if user.status == UserStatus::Active {
        return Ok(());
    }
    let mut ev = Event::allow(&user.name, action).deny(DenyCode::UserDisabled.as_str());
    ev.doc = doc.map(str::to_owned);
    append_audit(tx, key, ev).map_err(audit_err)?;
    Err(Error::Denied(Denial {
        code: DenyCode::UserDisabled,
        message: format!(
            "your account {} is disabled: ask an administrator to enable it",
            user.name
        ),
    }))
}

/// Only an administrator of this service passes; anyone else (an auditor too: they
/// change nothing) is refused, and the refusal is audited.
pub(super) fn require_admin(
    tx: &mut dyn Tx,
    key: &ring::hmac::Key,
    user: &User,
    action: &str,
) -> Result<(), Error> {
    if user.admin {
        return Ok(());
    }
    let (code, message) = if user.auditor {
        (
            "auditor-read-only",
            format!(
                "{} is an auditor: auditors read the ledger and the audit log but change nothing",
                user.name
            ),
        )
    } else {
        (
            "not-admin",
            format!("{} is not an administrator of this key service", user.name),
        )
    };
    append_audit(tx, key, Event::allow(&user.name, action).deny(code)).map_err(audit_err)?;
    Err(Error::Forbidden(message))
}

/// Admins and auditors pass (a request that only reads); anyone else is refused, and the
/// refusal is audited.
pub(super) fn require_reader(
    tx: &mut dyn Tx,
    key: &ring::hmac::Key,
    user: &User,
) -> Result<(), Error> {
    if user.admin || user.auditor {
        return Ok(());
    }
    append_audit(
        tx,
        key,
        Event::allow(&user.name, "admin-read").deny("not-admin"),
    )
    .map_err(audit_err)?;
    Err(Error::Forbidden(format!(
        "{} is neither an administrator nor an auditor of this key service",
        user.name
    )))
}

/// Audits a denial and returns it as an error.
pub(super) fn deny<T>(
    tx: &mut dyn Tx,
    key: &ring::hmac::Key,
    ev: Event,
    code: DenyCode,
    message: String,
) -> Result<T, Error> {
    append_audit(tx, key, ev.deny(code.as_str())).map_err(audit_err)?;
    Err(Error::Denied(Denial { code, message }))
}

/// Audits a refused malformed request and returns it as a 400.
pub(super) fn refuse_invalid<T>(
    tx: &mut dyn Tx,
    key: &ring::hmac::Key,
    ev: Event,
    message: String,
) -> Result<T, Error> {
    append_audit(tx, key, ev.deny(INVALID_REQUEST)).map_err(audit_err)?;
    Err(Error::Invalid(message))
}

/// The audit reason of a request refused as malformed (unknown or missing rights, a
/// registration that contradicts its own label).
pub const INVALID_REQUEST: &str = "invalid-request";

/// Rights as a message shows them (`no rights` for none).
pub(super) fn show_rights(r: Rights) -> String {
    if r.is_empty() {
        "no rights".into()
    } else {
        r.to_string()
    }
}

/// The error for a document id this service does not know.
pub(super) fn not_registered(doc: &str) -> Error {
    Error::NotFound(format!(
        "document {doc} is not registered with this key service"
    ))
}

/// A grant's principal must exist: a user in the directory, or a group or department.
pub(super) fn check_principal(tx: &mut dyn Tx, p: &Principal) -> Result<(), Error> {
    match p {
        Principal::Owner => Ok(()),
        Principal::User(u) => match tx.user_get(u)? {
            Some(_) => Ok(()),
            None => Err(Error::NotFound(format!(
                "user {u} is not in the directory: ask an admin to add them"
            ))),
        },
        Principal::Group(g) => {
            if tx.group_exists(g)? {
                Ok(())
            } else {
                Err(Error::NotFound(format!(
                    "group {g} does not exist (no such group or department)"
                )))
            }
        }
    }
}
