//! The `fuda-keyd` daemon's HTTPS front over the key service library (`fuda-keyd`).
//!
//! [`http`] turns each request under `/v1` into one call on a [`fuda_keyd::Service`];
//! [`console`] serves the admins' browser console at `/console`;
//! [`tls`] makes and loads the service's self-signed certificate. The staff CLI does not
//! depend on this crate: it reaches the daemon through `fuda_keyd::client::Remote`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod console;
pub mod guard;
pub mod http;
mod ledger;
pub mod tls;
