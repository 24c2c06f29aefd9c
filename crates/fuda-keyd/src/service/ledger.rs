//! What the company ledger is made of, handed to the server that writes it (the ledger's
//! format belongs to `fuda-ledger`, which this crate does not know): the organisation's
//! policy and the registry, for admins and auditors only, every export audited. The files
//! themselves stream from [`Service::index_scan`] and [`Service::machines`].

use fuda_core::policy::Policy;

use super::authz::{audit_err, Caller};
use super::lifecycle::Service;
use crate::audit::Event;
use crate::error::Error;
use crate::registry::{Document, Revocation};
use crate::store::append_audit;

/// The registry and policy a company ledger is checked against.
#[derive(Debug)]
pub struct LedgerSources {
    /// Who asked (an admin or an auditor).
    pub reader: String,
    /// The organisation's policy in force (`None`: no admin set one on this service).
    pub policy: Option<Policy>,
    /// Every registered document.
    pub documents: Vec<Document>,
    /// Revocations in force.
    pub revocations: Vec<Revocation>,
}

impl Service {
    /// Admins and auditors: the start of a company-ledger export, audited
    /// (`ledger-export`, with `detail`, e.g. the format asked for); anyone else is
    /// refused and audited.
    pub async fn ledger_sources(
        &self,
        caller: Caller,
        detail: serde_json::Value,
    ) -> Result<LedgerSources, Error> {
        let (reader, documents, revocations) = self
            .read_as_admin(caller, move |tx, k, me| {
                let documents = tx.doc_list()?;
                let revocations = tx.revocation_list()?;
                append_audit(
                    tx,
                    k,
                    Event::allow(&me.name, "ledger-export").detail(detail),
                )
                .map_err(audit_err)?;
                Ok((me.name.clone(), documents, revocations))
            })
            .await?;
        Ok(LedgerSources {
            reader,
            policy: self.org_policy().map(|p| p.policy().clone()),
            documents,
            revocations,
        })
    }
}
