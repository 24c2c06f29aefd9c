//! fuda core: policies, signed labels, label stores and the protected-file envelope.
//!
//! This crate knows nothing about HTTP, SQL or directory walking (see docs/architecture.md
//! for where those live). Auto-labeling, the ledger, the key service and the CLI build on
//! it:
//!
//! - [`policy`]: an organisation's classification scheme, validated with precise errors;
//! - [`label`]: the signed label record, its canonical and compact encodings, statuses;
//! - [`identity`] and [`trust`]: who signs labels and whose signatures count;
//! - [`store`]: where labels live (xattr, OOXML, sidecar) behind one trait;
//! - [`labeling`]: setting, checking and removing labels on files with the policy's rules;
//! - [`envelope`]: protected files, standard age v1 files carrying the label in their header.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod crashpoint;
pub mod digest;
pub mod digest_cache;
pub mod envelope;
pub mod fsutil;
pub mod identity;
pub mod label;
pub mod labeling;
mod learnt;
pub mod longpath;
pub mod pathname;
pub mod policy;
pub mod recovery_key;
pub mod rights;
pub mod store;
pub mod trust;
