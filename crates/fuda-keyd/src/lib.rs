//! fuda key service: who may have which file's key, right now — and an audit of every answer.
//!
//! The [`Service`] is pure logic over a [`store::Store`] (SQLite by default): a
//! [`directory`] of users and groups, a [`registry`] of protected documents with their grants
//! and revocations, [`licence`]s that hand a file key sealed to one user's age recipient,
//! and a hash-chained [`audit`] log written in the same transaction as every decision.
//! [`keys`] holds the service's versioned X25519 wrapping keys and its Ed25519 signing key.
//!
//! Two fronts reach the same `Service`: the `fuda-keyd` daemon (crate `fuda-keyd-server`:
//! HTTPS, JSON under `/v1`) and [`client::Embedded`] (in-process, for a single user who
//! needs no daemon). This library carries no HTTP server, so the staff CLI links none.
//! The CLI talks to either through the one [`client::KeyService`] trait; [`client::Remote`]
//! is the HTTPS implementation.
//!
//! Data flows one way: CLI → client → service → store. The service never reaches back.
//! The modules are layered the same way; each uses only modules of the layers below it:
//!
//! 1. [`keys`], [`cache`], [`limits`]: no other module of this crate;
//! 2. [`error`](Error): the errors of every layer;
//! 3. the records the API carries, with their rules: [`directory`], [`console`] (the
//!    browser console's log-in links and sessions), [`registry`], [`audit`] (and its signed
//!    [`checkpoint`]s), [`licence`], [`policy`] (the organisation's policy, signed),
//!    [`report`] (machine reports and the company's file index);
//! 4. [`store`]: the state behind one transaction trait;
//! 5. [`service`]: the decisions;
//! 6. [`client`] (and [`tls`], the client's certificate pinning).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod audit;
pub mod cache;
pub mod checkpoint;
pub mod client;
pub mod console;
pub mod directory;
mod error;
pub mod keys;
pub mod licence;
pub mod limits;
pub mod policy;
pub mod registry;
pub mod report;
pub mod service;
pub mod store;
pub mod tls;

pub use error::{Denial, DenyCode, Error};
pub use service::{Caller, Service};

/// The current time as Unix seconds.
///
/// Debug builds (what `cargo test` runs) honour `FUDA_KEYD_NOW` (Unix seconds) so that
/// end-to-end tests can move the clock past an expiry or an offline period; release
/// builds have no such override: nobody can make a deployed service or CLI believe a
/// licence or document has not expired yet.
pub fn now() -> i64 {
    #[cfg(debug_assertions)]
    if let Some(t) = std::env::var("FUDA_KEYD_NOW")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return t;
    }
    time::OffsetDateTime::now_utc().unix_timestamp()
}
