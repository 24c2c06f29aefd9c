//! What label handling asks of the service: the enrolled signers (every client's trust
//! store), label changes for the audit log, and the newest recorded label versions.

use super::authz::{audit_err, require_active, resolve, Caller};
use super::lifecycle::Service;
use crate::audit::{self, LabelChange};
use crate::directory::{EnrolledSigner, UserStatus};
use crate::error::Error;
use crate::store::append_audit;

/// The directory as a trust store, and label changes for the audit log.
impl Service {
    /// The label signers enrolled in the directory (active users with a signing key):
    /// the trust store of every client of this service. Any active user may ask.
    pub async fn signers(&self, caller: Caller) -> Result<Vec<EnrolledSigner>, Error> {
        let key = self.keys();
        let limits = self.inner.limits;
        self.run_async(move |tx| {
            let user = resolve(tx, &caller, &limits)?;
            require_active(tx, key.audit_key(), &user, "signers", None)?;
            Ok(tx
                .user_list()?
                .into_iter()
                .filter(|u| u.status == UserStatus::Active)
                .filter_map(|u| {
                    u.signing_key.map(|public_key| EnrolledSigner {
                        name: u.name,
                        public_key,
                        kind: u.kind,
                    })
                })
                .collect())
        })
        .await
    }

    /// Records label changes the caller made (`fuda label set|remove`) in the audit log,
    /// all or none. Returns how many were recorded.
    pub async fn label_changes(
        &self,
        caller: Caller,
        changes: Vec<LabelChange>,
    ) -> Result<usize, Error> {
        if changes.len() > audit::MAX_LABEL_CHANGES {
            return Err(Error::Invalid(format!(
                "at most {} label changes per request",
                audit::MAX_LABEL_CHANGES
            )));
        }
        for c in &changes {
            c.validate().map_err(Error::Invalid)?;
        }
        let key = self.keys();
        let limits = self.inner.limits;
        self.run_async(move |tx| {
            let user = resolve(tx, &caller, &limits)?;
            let k = key.audit_key();
            require_active(tx, k, &user, "label", None)?;
            for c in &changes {
                append_audit(tx, k, c.event(&user.name)).map_err(audit_err)?;
            }
            Ok(changes.len())
        })
        .await
    }

    /// The newest label version the audit log recorded for each of `docs` that has one
    /// (`fuda label check` calls an older label on a file `replayed`). Any active user may
    /// ask: the answer holds no level, owner or path.
    pub async fn label_versions(
        &self,
        caller: Caller,
        docs: Vec<String>,
    ) -> Result<Vec<audit::NewestLabel>, Error> {
        if docs.len() > audit::MAX_LABEL_VERSIONS {
            return Err(Error::Invalid(format!(
                "at most {} documents per request",
                audit::MAX_LABEL_VERSIONS
            )));
        }
        if let Some(bad) = docs
            .iter()
            .find(|d| d.parse::<fuda_core::label::DocId>().is_err())
        {
            return Err(Error::Invalid(format!("{bad:?} is not a document id")));
        }
        let key = self.keys();
        let limits = self.inner.limits;
        self.run_async(move |tx| {
            let user = resolve(tx, &caller, &limits)?;
            require_active(tx, key.audit_key(), &user, "label-versions", None)?;
            let mut out = Vec::new();
            for doc in docs {
                if let Some(version) = audit::newest_label(&tx.audit_label_sets(&doc)?) {
                    out.push(audit::NewestLabel { doc, version });
                }
            }
            Ok(out)
        })
        .await
    }
}
