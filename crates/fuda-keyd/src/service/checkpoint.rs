//! Signed checkpoints of the audit chain's head ([`crate::checkpoint`]): signing the
//! newest one, keeping the highest in the data directory (out of reach of whoever writes
//! only the database), and verifying the log against the checkpoints a client holds.

use super::authz::Caller;
use super::lifecycle::Service;
use crate::audit::{self, GENESIS};
use crate::checkpoint::{Checkpoint, CheckpointError, Witness, SERVICE_FILE};
use crate::error::Error;

impl Service {
    /// A checkpoint of the audit log as committed now, signed with the service's key, and
    /// kept in the data directory when it is the highest yet. The HTTPS front asks for
    /// one at most once a second and attaches it to its answers to enrolled users.
    pub async fn audit_checkpoint(&self) -> Result<Checkpoint, Error> {
        // Read by the writer and signed once its batch has committed: a checkpoint never
        // names a record that could still be rolled back.
        let head = self.run_async(|tx| Ok(tx.audit_head()?)).await?;
        let (seq, head) = head.unwrap_or((0, GENESIS.to_owned()));
        let keys = self.keys();
        let signed = Checkpoint::sign(&self.inner.id, seq, &head, crate::now() * 1000, |b| {
            keys.sign(b)
        });
        let witness = Witness::new(
            self.inner.dir.join(SERVICE_FILE),
            &self.inner.id,
            keys.signing_public(),
        );
        let kept = signed.clone();
        tokio::task::spawn_blocking(move || witness.observe(&kept))
            .await
            .map_err(|e| Error::Invalid(format!("cannot keep the audit checkpoint: {e}")))?
            .map_err(kept_err)?;
        Ok(signed)
    }

    /// Verifies the whole audit chain (admins and auditors) against `held` — checkpoints
    /// a client kept, each of which must be signed by this service — and against the
    /// highest one this service signed (kept in its data directory).
    pub async fn audit_verify_against(
        &self,
        caller: Caller,
        held: Vec<Checkpoint>,
    ) -> Result<audit::Verification, Error> {
        let keys = self.keys();
        for c in &held {
            c.verify(&self.inner.id, keys.signing_public())
                .map_err(|e| Error::Invalid(e.message()))?;
        }
        let own = Checkpoint::read(&self.inner.dir.join(SERVICE_FILE)).map_err(kept_err)?;
        let mut checkpoints = held;
        if let Some(own) = own {
            own.verify(&self.inner.id, keys.signing_public())
                .map_err(|e| {
                    Error::Untrusted(format!(
                        "{}: {} (someone with access to the data directory changed it)",
                        self.inner.dir.join(SERVICE_FILE).display(),
                        e.message()
                    ))
                })?;
            checkpoints.push(own);
        }
        self.read_as_admin(caller, move |tx, key, _| {
            let records = tx.audit_all()?;
            let head = tx.audit_head()?;
            Ok(audit::verify_against(key, records, head, &checkpoints))
        })
        .await
    }
}

fn kept_err(e: CheckpointError) -> Error {
    Error::Invalid(e.to_string())
}
