//! Enrollment (a one-time code becomes an API token) and "who am I".

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::authz::{audit_err, resolve, Caller};
use super::lifecycle::Service;
use crate::audit::Event;
use crate::directory::{self, Enrolled, Enrollment, User};
use crate::error::Error;
use crate::keys::{ServiceInfo, ServiceKeys};
use crate::store::{append_audit, Tx};

impl Service {
    /// Redeems a one-time enrollment code: stores the user's public keys, returns a token.
    pub fn enroll(&self, e: Enrollment) -> Result<Enrolled, Error> {
        let (key, info) = (self.keys(), self.info());
        self.run(move |tx| enroll(tx, &key, info, e))
    }

    /// Async [`Service::enroll`].
    pub async fn enroll_async(&self, e: Enrollment) -> Result<Enrolled, Error> {
        let (key, info) = (self.keys(), self.info());
        self.run_async(move |tx| enroll(tx, &key, info, e)).await
    }

    /// The caller's directory entry.
    pub async fn whoami(&self, caller: Caller) -> Result<User, Error> {
        let limits = self.inner.limits;
        self.run_async(move |tx| resolve(tx, &caller, &limits))
            .await
    }
}

/// Redeems an enrollment code inside the writer: checks the keys, takes the code,
/// stores the keys, replaces the user's tokens with a new one, audits `enroll`.
fn enroll(
    tx: &mut dyn Tx,
    key: &ServiceKeys,
    info: ServiceInfo,
    e: Enrollment,
) -> Result<Enrolled, Error> {
    let bad_code = || {
        Error::Unauthorized(
            "the enrollment code is not valid (already used, expired or mistyped): ask an admin for a new one".into(),
        )
    };
    // Check the keys before taking the code: a typo in them must not burn it. (A refusal
    // is kept, not rolled back: see `Writer::submit` in `commit.rs`.)
    e.recipient
        .parse::<age::x25519::Recipient>()
        .map_err(|_| Error::Invalid("the age recipient is not an age1… X25519 recipient".into()))?;
    let sk = STANDARD
        .decode(&e.signing_key)
        .ok()
        .filter(|k| k.len() == 32)
        .ok_or_else(|| {
            Error::Invalid("the signing key is not a base64 Ed25519 public key".into())
        })?;
    let (name, expires) = tx
        .enrollment_take(&directory::secret_hash(&e.code))?
        .ok_or_else(bad_code)?;
    if expires < crate::now() {
        return Err(bad_code());
    }
    let mut user = tx.user_get(&name)?.ok_or_else(bad_code)?;
    user.recipient = Some(e.recipient);
    user.signing_key = Some(STANDARD.encode(sk));
    tx.user_put(&user)?;
    // A new enrollment replaces the user's tokens: a lost or stolen one stops working.
    tx.token_delete_user(&user.name)?;
    let token = directory::new_secret("fudatok")?;
    tx.token_add(&directory::secret_hash(&token), &user.name, crate::now())?;
    append_audit(
        tx,
        key.audit_key(),
        Event::allow(&user.name, "enroll").subject(&user.name),
    )
    .map_err(audit_err)?;
    Ok(Enrolled {
        user,
        token,
        service: info,
    })
}
