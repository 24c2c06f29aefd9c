//! The `fuda-keyd` daemon's HTTPS front over the key service library (`fuda-keyd`).
//!
//! [`http`] turns each request under `/v1` into one call on a [`fuda_keyd::Service`];
//! [`console`] serves the admins' browser console at `/console`; [`guard`] keeps hostile
//! clients from starving the others; [`checkpoint`] hands every enrolled client the newest
//! signed checkpoint of the audit log; [`tls`] makes and loads the service's self-signed
//! certificate. The staff CLI does not
//! depend on this crate: it reaches the daemon through `fuda_keyd::client::Remote`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod checkpoint;
pub mod console;
pub mod guard;
pub mod http;
mod ledger;
pub mod tls;
