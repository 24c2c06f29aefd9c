//! Moving a service's state from one store to another (`fuda-keyd migrate`, e.g. from
//! its SQLite file to PostgreSQL), through the [`Tx`] methods of both: what the target
//! holds afterwards is read back and compared with the source, field by field.

use serde::Serialize;

use super::{Credential, DocVersion, IndexEntry, MachineRow, ReportState, Store, StoreError, Tx};
use crate::audit::Record;
use crate::directory::{Group, User};
use crate::policy::PolicyVersion;
use crate::registry::{Document, Revocation};

/// Everything a store holds, as the service reads it.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// Metadata (service id, signing key, recovery recipients…).
    pub meta: Vec<(String, String)>,
    /// The directory, with each user's groups.
    pub users: Vec<User>,
    /// Groups and departments with their members.
    pub groups: Vec<Group>,
    /// API token hashes.
    #[serde(skip)]
    pub tokens: Vec<Credential>,
    /// Enrollment code hashes.
    #[serde(skip)]
    pub enrollments: Vec<Credential>,
    /// Registered documents with their grants, and each one's key check (hex).
    pub documents: Vec<(Document, String)>,
    /// Revocations in force.
    pub revocations: Vec<Revocation>,
    /// Every policy version, oldest first.
    pub policies: Vec<PolicyVersion>,
    /// The audit chain, in order.
    pub audit: Vec<Record>,
    /// The chain's head.
    pub head: Option<(i64, String)>,
    /// Versions of documents saved back.
    #[serde(skip)]
    pub versions: Vec<DocVersion>,
    /// The company's file index, every column.
    #[serde(skip)]
    pub files: Vec<IndexEntry>,
    /// The machines that reported.
    #[serde(skip)]
    pub machines: Vec<MachineRow>,
    /// Where each machine's reports stand.
    #[serde(skip)]
    pub reports: Vec<(String, ReportState)>,
}

/// How much was moved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Copied {
    /// Users.
    pub users: usize,
    /// Groups (departments included).
    pub groups: usize,
    /// API tokens (users keep working without enrolling again).
    pub tokens: usize,
    /// Pending enrollment codes.
    pub enrollments: usize,
    /// Documents.
    pub documents: usize,
    /// Revocations.
    pub revocations: usize,
    /// Policy versions.
    pub policies: usize,
    /// Audit records.
    pub audit_records: usize,
    /// Versions of documents saved back.
    pub versions: usize,
    /// Files in the company's file index.
    pub index_files: usize,
    /// Machines that reported.
    pub machines: usize,
    /// Report states (complete and in progress).
    pub reports: usize,
}

/// Why a copy did not happen or did not come out the same.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CopyError {
    /// A store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The target already holds a service.
    #[error("the target already holds the key service {0}: migrate into an empty database")]
    NotEmpty(String),
    /// What the target holds after the copy differs from the source.
    #[error("after the copy the target differs from the source in {0}: nothing was committed")]
    Differs(&'static str),
}

impl Snapshot {
    /// Reads everything in `tx`.
    pub fn read(tx: &mut dyn Tx) -> Result<Snapshot, StoreError> {
        let mut documents = Vec::new();
        for doc in tx.doc_list()? {
            let check = tx
                .doc_get(&doc.id)?
                .map(|row| hex::encode(row.key_check))
                .unwrap_or_default();
            documents.push((doc, check));
        }
        let mut policies = Vec::new();
        if let Some(newest) = tx.policy_get(None)? {
            for v in 1..newest.version {
                policies.extend(tx.policy_get(Some(v))?);
            }
            policies.push(newest);
        }
        let mut revocations = tx.revocation_list()?;
        revocations.sort_by(|a, b| (a.at, &a.doc, &a.user).cmp(&(b.at, &b.doc, &b.user)));
        Ok(Snapshot {
            meta: tx.meta_all()?,
            users: tx.user_list()?,
            groups: tx.group_list()?,
            tokens: tx.token_all()?,
            enrollments: tx.enrollment_all()?,
            documents,
            revocations,
            policies,
            audit: tx.audit_all()?,
            head: tx.audit_head()?,
            versions: tx.version_all()?,
            files: tx.index_all()?,
            machines: tx.machine_all()?,
            reports: tx.report_state_all()?,
        })
    }

    /// Writes it into `tx` (an empty store).
    fn write(&self, tx: &mut dyn Tx) -> Result<(), StoreError> {
        for (k, v) in &self.meta {
            tx.meta_set(k, v)?;
        }
        for u in &self.users {
            tx.user_put(u)?;
        }
        for g in &self.groups {
            tx.group_add(&g.name)?;
        }
        for u in &self.users {
            for g in &u.groups {
                tx.group_member(g, &u.name, true)?;
            }
        }
        for (hash, user, at) in &self.tokens {
            tx.token_add(hash, user, *at)?;
        }
        for (hash, user, expires) in &self.enrollments {
            tx.enrollment_add(hash, user, *expires)?;
        }
        for (doc, check) in &self.documents {
            let mut key_check = [0u8; 32];
            hex::decode_to_slice(check, &mut key_check).map_err(|e| StoreError::Database {
                path: "source".into(),
                message: format!("document {}: its key check is not 32 bytes: {e}", doc.id),
            })?;
            tx.doc_insert(&super::DocRow {
                doc: doc.clone(),
                key_check,
            })?;
        }
        for r in &self.revocations {
            tx.revocation_add(r)?;
        }
        for p in &self.policies {
            tx.policy_put(p)?;
        }
        for r in &self.audit {
            tx.audit_append(r)?;
        }
        for v in &self.versions {
            tx.version_put(v)?;
        }
        for chunk in self.files.chunks(1_000) {
            tx.index_put_entries(chunk)?;
        }
        for m in &self.machines {
            tx.machine_put(m)?;
        }
        for (machine, state) in &self.reports {
            tx.report_state_put(machine, state)?;
        }
        Ok(())
    }

    /// The first part in which `other` differs.
    fn first_difference(&self, other: &Snapshot) -> Option<&'static str> {
        [
            ("metadata", self.meta == other.meta),
            ("users", self.users == other.users),
            ("groups", self.groups == other.groups),
            ("API tokens", self.tokens == other.tokens),
            ("enrollment codes", self.enrollments == other.enrollments),
            ("documents", self.documents == other.documents),
            ("revocations", self.revocations == other.revocations),
            ("policy versions", self.policies == other.policies),
            ("the audit chain", self.audit == other.audit),
            ("the audit head", self.head == other.head),
            ("document versions", self.versions == other.versions),
            ("the file index", self.files == other.files),
            ("machines", self.machines == other.machines),
            ("report states", self.reports == other.reports),
        ]
        .into_iter()
        .find(|(_, same)| !same)
        .map(|(what, _)| what)
    }

    /// How much it holds.
    pub fn counts(&self) -> Copied {
        Copied {
            users: self.users.len(),
            groups: self.groups.len(),
            tokens: self.tokens.len(),
            enrollments: self.enrollments.len(),
            documents: self.documents.len(),
            revocations: self.revocations.len(),
            policies: self.policies.len(),
            audit_records: self.audit.len(),
            versions: self.versions.len(),
            index_files: self.files.len(),
            machines: self.machines.len(),
            reports: self.reports.len(),
        }
    }
}

/// Copies everything from `from` into the empty `to` in one transaction of each, reads
/// the target back inside its transaction and commits only if it equals the source.
/// Returns what was copied (the source's snapshot).
pub fn copy(from: &mut dyn Store, to: &mut dyn Store) -> Result<Snapshot, CopyError> {
    let mut source = None;
    from.transaction(&mut |tx| {
        source = Some(Snapshot::read(tx)?);
        Ok(())
    })?;
    let source = source.expect("read in the transaction");
    let mut outcome: Result<(), CopyError> = Ok(());
    let result = to.transaction(&mut |tx| {
        if let Some(id) = tx.meta_get("service_id")? {
            outcome = Err(CopyError::NotEmpty(id));
            return Err(rollback());
        }
        source.write(tx)?;
        let copied = Snapshot::read(tx)?;
        if let Some(what) = source.first_difference(&copied) {
            outcome = Err(CopyError::Differs(what));
            return Err(rollback());
        }
        Ok(())
    });
    outcome?;
    result?;
    Ok(source)
}

/// Undoes the target's transaction (the reason is in `outcome`).
fn rollback() -> StoreError {
    StoreError::Database {
        path: "target".into(),
        message: "rolled back".into(),
    }
}
