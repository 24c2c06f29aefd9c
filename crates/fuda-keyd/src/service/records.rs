//! Requests and answers that only the service defines (the others live with their
//! subject: [`crate::directory`], [`crate::registry`], [`crate::licence`], [`crate::audit`]).

use fuda_core::rights::Rights;
use serde::{Deserialize, Serialize};

use crate::directory::User;
use crate::registry::Document;

/// A document with the caller's own rights on it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DocumentRights {
    /// The document.
    pub document: Document,
    /// What the caller may do.
    pub rights: Rights,
}

/// A user just added, with their one-time enrollment code.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserAdded {
    /// The user.
    pub user: User,
    /// One-time enrollment code (shown once).
    pub code: String,
}

/// What to revoke or unrevoke: a document, a user, or a user on a document.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RevokeTarget {
    /// The document.
    #[serde(default)]
    pub doc: Option<String>,
    /// The user.
    #[serde(default)]
    pub user: Option<String>,
}
