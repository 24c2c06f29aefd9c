//! Who may do what with a protected file: giving rights (the owner, or someone with the
//! share right up to their own rights), taking a grant away (the owner), reading the
//! grants. The key service decides and audits; a change holds from the next licence
//! request of the person it concerns.

use std::path::Path;

use fuda_keyd::registry::{Document, Grant, Principal};
use fuda_keyd::service::DocumentRights;

use crate::open::doc_of;
use crate::{Connection, ProtectError};

/// Sharing needs no identity (nothing is decrypted): a connection as the user is enough.
impl Connection {
    /// Gives `grant` on the protected file at `path` (replacing the principal's grant).
    pub fn share(&self, path: &Path, grant: Grant) -> Result<Document, ProtectError> {
        let doc = doc_of(path)?.to_string();
        self.client
            .grant(&doc, grant)
            .map_err(|source| ProtectError::Service {
                action: "share",
                path: path.to_owned(),
                source,
            })
    }

    /// Takes `principal`'s grant on the protected file at `path` away.
    pub fn unshare(&self, path: &Path, principal: &Principal) -> Result<Document, ProtectError> {
        let doc = doc_of(path)?.to_string();
        self.client
            .ungrant(&doc, principal)
            .map_err(|source| ProtectError::Service {
                action: "unshare",
                path: path.to_owned(),
                source,
            })
    }

    /// The protected file's registration (grants, expiry, revocation) and the user's rights.
    pub fn rights(&self, path: &Path) -> Result<DocumentRights, ProtectError> {
        let doc = doc_of(path)?.to_string();
        self.client
            .document(&doc)
            .map_err(|source| ProtectError::Service {
                action: "read the rights of",
                path: path.to_owned(),
                source,
            })
    }
}
