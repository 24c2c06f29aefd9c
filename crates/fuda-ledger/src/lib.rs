//! fuda inventory and the confidential-asset ledger (情報資産管理台帳).
//!
//! - [`inventory`]: walking roots, reading every label store of every file, verifying
//!   labels, and the review findings an auditor reads (unlabeled, tampered, replayed,
//!   orphaned protected files …);
//! - [`ledger`]: the ledger itself in IPA's column layout, written as xlsx, PDF, CSV or
//!   JSON;
//! - [`company`]: the company-wide ledger, from the files every machine reported to the
//!   key service.
//!
//! See docs/architecture.md for how a file on a share becomes a ledger row.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod calendar;
pub mod company;
pub mod inventory;
pub mod ledger;
