//! fuda scanning: reading what files say and turning labels into the ledger.
//!
//! - auto-labeling (DESIGN §6): text extraction, detectors, rules;
//! - the label memory of watched trees, which puts labels back after an editor saved;
//! - inventory (DESIGN §7): walking roots, reading every label store, building the
//!   confidential-asset ledger (情報資産管理台帳).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

// Auto-labeling.
pub mod detect;
pub mod extract;
pub mod rules;
// The inventory and the ledger.
pub mod inventory;
pub mod ledger;
// Labels that survive editing: what `fuda watch` remembers about watched trees.
pub mod memory;
