//! The service's errors: each says what happened and what the user can do.

use serde::{Deserialize, Serialize};

/// Why a licence (or another request on a document) was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum DenyCode {
    /// The user's account is disabled.
    UserDisabled,
    /// The document is not in this service's registry.
    NotRegistered,
    /// The header is not for this service, was edited, or its label does not match.
    BadHeader,
    /// The document was revoked for everyone.
    DocumentRevoked,
    /// The user was revoked on every document.
    UserRevoked,
    /// The user was revoked on this document.
    UserRevokedOnDocument,
    /// The document expired.
    Expired,
    /// The user lacks the rights asked for.
    NoRights,
}

impl DenyCode {
    /// The code as written in the API and the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            DenyCode::UserDisabled => "user-disabled",
            DenyCode::NotRegistered => "not-registered",
            DenyCode::BadHeader => "bad-header",
            DenyCode::DocumentRevoked => "document-revoked",
            DenyCode::UserRevoked => "user-revoked",
            DenyCode::UserRevokedOnDocument => "user-revoked-on-document",
            DenyCode::Expired => "expired",
            DenyCode::NoRights => "no-rights",
        }
    }
}

/// A refusal, audited, with a message the user can act on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Denial {
    /// Machine-readable reason.
    pub code: DenyCode,
    /// What happened and what to do.
    pub message: String,
}

/// A storage failure.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database failed.
    #[error("database {path}: {message}")]
    Database {
        /// The database file.
        path: String,
        /// What failed.
        message: String,
    },
    /// The database cannot be reached now (PostgreSQL down, restarting, or the network
    /// between): the request was not done and may be tried again.
    #[error("database {database} is unreachable: {message}")]
    Unavailable {
        /// The database (host, port, name; never a password).
        database: String,
        /// What failed.
        message: String,
    },
    /// The database's address (`--database`) cannot be used.
    #[error("{0}")]
    Address(String),
    /// The database was written by a newer version.
    #[error("database {path} has schema version {found}, newer than this fuda-keyd ({supported}): upgrade fuda-keyd")]
    TooNew {
        /// The database file.
        path: String,
        /// Its version.
        found: i64,
        /// Ours.
        supported: i64,
    },
}

/// The server presented a certificate other than the pinned one (the handshake failed);
/// [`crate::tls`] finds it behind a failed connection.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the key service's certificate has fingerprint {seen}, not the pinned {expected}: someone may be intercepting the connection, or the service got a new certificate (ask the admin)")]
pub struct PinMismatch {
    /// The pinned fingerprint.
    pub expected: String,
    /// The fingerprint of the certificate the server presented.
    pub seen: String,
}

/// Errors of the key service and its clients.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request was refused (and the refusal audited).
    #[error("access denied: {}", .0.message)]
    Denied(Denial),
    /// No valid credentials.
    #[error("not authenticated: {0}")]
    Unauthorized(String),
    /// Authenticated, but not allowed to do this (e.g. not an admin).
    #[error("not allowed: {0}")]
    Forbidden(String),
    /// A named thing does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The thing exists already or the change conflicts with the current state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The request is malformed.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The store failed.
    #[error("key service storage: {0}")]
    Store(#[from] StoreError),
    /// The service keys could not be used.
    #[error("key service keys: {0}")]
    Keys(#[from] crate::keys::KeyError),
    /// The service is not reachable or answered nonsense (remote client).
    #[error("key service unreachable: {0}")]
    Transport(String),
    /// The server's TLS certificate is not the pinned one (remote client): the connection
    /// was refused before anything was sent.
    #[error("{0}")]
    CertificateMismatch(PinMismatch),
    /// The service's answer failed verification (remote client).
    #[error("the key service's answer is not trustworthy: {0}")]
    Untrusted(String),
    /// The service is shutting down.
    #[error("the key service is shutting down; try again")]
    ShuttingDown,
}

impl Error {
    /// The stable error code used in the JSON API.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Denied(d) => d.code.as_str(),
            Error::Unauthorized(_) => "unauthorized",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) => "not-found",
            Error::Conflict(_) => "conflict",
            Error::Invalid(_) => "invalid",
            Error::Store(StoreError::Unavailable { .. }) | Error::ShuttingDown => "unavailable",
            Error::Store(_) | Error::Keys(_) => "internal",
            Error::Transport(_) => "transport",
            Error::CertificateMismatch(_) => "certificate-mismatch",
            Error::Untrusted(_) => "untrusted",
        }
    }

    /// Rebuilds an error from the API's code and message (remote client).
    pub fn from_code(code: &str, message: String) -> Error {
        let deny = |code| {
            Error::Denied(Denial {
                code,
                message: message.clone(),
            })
        };
        match code {
            "user-disabled" => deny(DenyCode::UserDisabled),
            "not-registered" => deny(DenyCode::NotRegistered),
            "bad-header" => deny(DenyCode::BadHeader),
            "document-revoked" => deny(DenyCode::DocumentRevoked),
            "user-revoked" => deny(DenyCode::UserRevoked),
            "user-revoked-on-document" => deny(DenyCode::UserRevokedOnDocument),
            "expired" => deny(DenyCode::Expired),
            "no-rights" => deny(DenyCode::NoRights),
            "unauthorized" => Error::Unauthorized(message),
            "forbidden" => Error::Forbidden(message),
            "not-found" => Error::NotFound(message),
            "conflict" => Error::Conflict(message),
            "invalid" => Error::Invalid(message),
            // Shutting down, or its database unreachable: as good as unreachable (the
            // client tries another replica, then its offline licences).
            "unavailable" => Error::Transport(message),
            _ => Error::Transport(format!("{code}: {message}")),
        }
    }

    /// The message without the category prefix (what the API sends).
    pub fn message(&self) -> String {
        match self {
            Error::Denied(d) => d.message.clone(),
            Error::Unauthorized(m)
            | Error::Forbidden(m)
            | Error::NotFound(m)
            | Error::Conflict(m)
            | Error::Invalid(m)
            | Error::Transport(m)
            | Error::Untrusted(m) => m.clone(),
            Error::Store(StoreError::Unavailable { .. }) => {
                "the key service cannot reach its database right now (the administrator can see why in its log); nothing was done: try again in a moment".into()
            }
            // Internal details stay in the server log.
            Error::Store(_) | Error::Keys(_) => {
                "the key service failed internally; the administrator can see why in its log".into()
            }
            Error::CertificateMismatch(_) | Error::ShuttingDown => self.to_string(),
        }
    }
}
