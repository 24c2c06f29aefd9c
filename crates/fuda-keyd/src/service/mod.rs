//! The service: every decision, over a [`Store`](crate::store::Store), audited in the same
//! transaction.
//!
//! One writer thread owns the store (group commit, `commit.rs`). Every request is a job
//! for it; a decision is never acknowledged before its audit record is durable.
//! Cryptography (unwrapping the header, sealing the key, signing the licence) runs on the
//! caller's thread, outside the writer.
//!
//! The files of this module, from the bottom up (each uses only those above it):
//!
//! - `commit.rs`: the writer thread and group commit;
//! - `authz.rs`: who is asking ([`Caller`]), and the checks every decision shares (active
//!   user, admin, [`effective_rights`], audited refusals);
//! - `header.rs`: what a protected file's header says, checked outside the writer;
//! - `records.rs`: the requests and answers only the service defines ([`DocumentRights`],
//!   [`UserAdded`], [`RevokeTarget`]);
//! - `lifecycle.rs`: the [`Service`] handle: create, open, close, run a job;
//! - then one file per job of the service, each adding methods to [`Service`]:
//!   `users.rs` (enrollment, who am I), `documents.rs` (registration, grants),
//!   `licences.rs` (the licence decision), `labels.rs` (signers, label changes and
//!   versions), `admin.rs` (users, groups, revocations, audit, key rotation), `policy.rs`
//!   (the organisation's policy: set, served signed, applied; the caps of a registration),
//!   `recovery.rs` (the recovery recipients every registered header carries, rewrap),
//!   `versions.rs` (a document's new versions and levels, through its new header),
//!   `reports.rs` (machine reports into the file index, and reading the index),
//!   `checkpoint.rs` (signed checkpoints of the audit log, and verifying against them),
//!   `throttle.rs` (the audit records of the HTTPS front's brakes),
//!   `console.rs` (the browser console's one-time log-in links and sessions).

mod admin;
mod authz;
mod checkpoint;
mod commit;
mod console;
mod documents;
mod header;
mod labels;
mod ledger;
mod licences;
mod lifecycle;
mod policy;
mod records;
mod recovery;
mod reports;
mod throttle;
mod users;
mod versions;

pub use crate::keys::ServiceInfo;
pub use authz::{effective_rights, Caller, INVALID_REQUEST};
pub use commit::MAX_BATCH;
pub use ledger::LedgerSources;
pub use lifecycle::{Service, DB_FILE, ENROLLMENT_TTL};
pub use records::{DocumentRights, RevokeTarget, UserAdded};
pub use recovery::{Registered, Rewrapped};
pub use reports::ABANDONED_AFTER_S;
pub use versions::{NewVersion, Reclassify};
