//! fuda protected files: protect, open, export, share and unshare, as one library that the
//! `fuda` CLI, the key service's browser console and the tests call alike.
//!
//! A protected file is an age file (the envelope format of [`fuda_core::envelope`]) whose
//! file key is wrapped to the key service and to the organisation's recovery recipients
//! (added by the service when it registers the header), and
//! whose `fuda/label` stanza carries the signed label and the grants. Nobody but the key
//! service can unwrap it for a user: opening it asks the service for a licence, which
//! hands the file key sealed to the user's own age identity (docs/key-service.md).
//!
//! - [`Connection`]: a [`fuda_keyd::client::KeyService`] (in-process or HTTPS) and the
//!   licence signing key that its answers are checked against; who may do what with a
//!   protected file: [`Connection::share`], [`Connection::unshare`], [`Connection::rights`].
//! - [`Account`]: a user at that service with their identity: opening
//!   ([`Account::open`], with offline licences from a [`LicenceCache`] when the service is
//!   unreachable) and [`Account::export`].
//! - [`Protector`]: protecting files ([`Protector::protect`]): default grants from the
//!   policy ([`grants`]), the stanza body, registration, and verify-before-delete: the
//!   original goes only after the protected copy opened through the service and matched.
//!   A labeled file keeps its label's document id; a file-server hook protects for the
//!   person [`owner_candidates`] names, and the copy takes the original's mode, owner,
//!   group and ACL. [`Protector::adopt`] registers a file protected with the personal
//!   (embedded) service with a team service (`fuda rewrap --to-service`).
//! - A document's life: [`Account::save`] (a working copy back as the next version, the
//!   `edit` right), [`Account::reclassify`] (a new level, put in the header by the
//!   service), [`Opened::write_file_with_attr`] (a working copy labeled before it appears).
//! - [`Rewrapper`]: brings existing protected files to the organisation's recovery
//!   recipients in force (`fuda rewrap`), through the service, payload untouched.
//!
//! ```no_run
//! # fn demo(service: fuda_keyd::Service, identity: fuda_core::identity::Identity)
//! # -> Result<(), Box<dyn std::error::Error>> {
//! use fuda_core::policy::Policy;
//! use fuda_core::rights::{Right, Rights};
//! use fuda_keyd::client::Embedded;
//! use fuda_protect::{Account, Connection, Protection, Protector};
//!
//! let policy = Policy::builtin("default")?;
//! let conn = Connection::embedded(Embedded::new(service, identity.name()))?;
//! let account = Account { conn: &conn, identity: &identity, licences: None };
//! let protector = Protector::new(&account, &policy, Some("設計部".into()), "host")?;
//! let level = policy.level("confidential").expect("a level of the default policy");
//! let done = protector.protect("drawing.dxf".as_ref(), &Protection::manual(level))?;
//! let mut content = Vec::new();
//! account.open(&done.path, Rights::NONE.with(Right::View))?.write_to(&mut content)?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
pub mod grants;
mod join;
mod modes;
mod open;
mod owners;
mod protect;
mod relabel;
mod rewrap;
mod save;
mod share;

pub use error::ProtectError;
pub use open::{doc_of, Account, Connection, LicenceCache, LicenceSource, Opened};
pub use owners::owner_candidates;
pub use protect::{stanza_body, Protected, Protection, Protector};
pub use rewrap::{Rewrapper, Rewritten};
pub use save::Saved;
