//! The directory: users, groups (departments), admins, enrollment codes and API tokens.
//!
//! Secrets (enrollment codes, API tokens) are random, shown once, and stored only as
//! SHA-256 hashes; a presented token is found by its hash, so no stored secret is ever
//! compared byte by byte.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

/// Whether a user may get keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    /// Enrolled or waiting for enrollment; may use the service.
    Active,
    /// Refused everywhere (e.g. left the company).
    Disabled,
}

impl UserStatus {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Disabled => "disabled",
        }
    }

    /// From the stored text.
    pub fn parse(s: &str) -> UserStatus {
        if s == "active" {
            UserStatus::Active
        } else {
            UserStatus::Disabled
        }
    }
}

/// A person known to the service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Login name (`tanaka`).
    pub name: String,
    /// Display name (`田中 太郎`).
    pub display_name: String,
    /// Department, which is also a group for grants (`設計部`).
    pub dept: Option<String>,
    /// Active or disabled.
    pub status: UserStatus,
    /// Whether the user administers the service.
    pub admin: bool,
    /// Whether the user is an auditor: they read what admins read (the company ledger,
    /// the registry, the directory, the audit log) and can change nothing.
    #[serde(default)]
    pub auditor: bool,
    /// The enrolled age recipient (`age1…`) keys are sealed to; `None` until enrolled.
    pub recipient: Option<String>,
    /// The enrolled Ed25519 label-signing key, base64; `None` until enrolled.
    pub signing_key: Option<String>,
    /// Groups the user belongs to besides the department.
    #[serde(default)]
    pub groups: Vec<String>,
    /// A person, a file-server hook or a machine.
    #[serde(default)]
    pub kind: EntryKind,
}

/// What a directory entry is: the signer of a label is a person, or software acting for
/// the organisation (a file-server hook labelling a share, a machine reporting into the
/// ledger), and audits and the trust store say which.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A member of staff.
    #[default]
    Person,
    /// A file-server hook (`fuda watch`, `fuda scan --apply` on a share).
    Hook,
    /// A machine (a PC or server that reports its files).
    Machine,
}

impl EntryKind {
    /// The kind's name, as stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Person => "person",
            EntryKind::Hook => "hook",
            EntryKind::Machine => "machine",
        }
    }

    /// Reads a stored name; anything unknown is a person (the most restricted reading).
    pub fn parse(s: &str) -> EntryKind {
        match s {
            "hook" => EntryKind::Hook,
            "machine" => EntryKind::Machine,
            _ => EntryKind::Person,
        }
    }
}

impl User {
    /// Whether the user belongs to `group` (by department or membership).
    pub fn in_group(&self, group: &str) -> bool {
        self.dept.as_deref() == Some(group) || self.groups.iter().any(|g| g == group)
    }
}

/// A new user, as an admin adds them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewUser {
    /// Login name.
    pub name: String,
    /// Display name (default: the name).
    #[serde(default)]
    pub display_name: Option<String>,
    /// Department.
    #[serde(default)]
    pub dept: Option<String>,
    /// Admin role.
    #[serde(default)]
    pub admin: bool,
    /// Auditor role (read-only; not with `admin`).
    #[serde(default)]
    pub auditor: bool,
    /// A person (default), a hook or a machine.
    #[serde(default)]
    pub kind: EntryKind,
}

/// A group and its members (department members are listed too).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Group name.
    pub name: String,
    /// Member user names.
    pub members: Vec<String>,
}

/// A label signer enrolled in the directory: an active user with a signing key. Clients
/// use the list of these as their trust store for label signatures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolledSigner {
    /// User name (as it appears in labels' `set_by`).
    pub name: String,
    /// Their Ed25519 public key, base64.
    pub public_key: String,
    /// A person, a hook or a machine.
    #[serde(default)]
    pub kind: EntryKind,
}

/// What an enrolling user sends with their one-time code.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Enrollment {
    /// The one-time code an admin gave them.
    pub code: String,
    /// Their age recipient (`age1…`).
    pub recipient: String,
    /// Their Ed25519 public key, base64.
    pub signing_key: String,
}

/// What enrollment returns: the API token (shown once) and who the user is.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Enrolled {
    /// The user.
    pub user: User,
    /// The API token; the service keeps only its hash.
    pub token: String,
    /// The service's identity, to pin.
    pub service: crate::keys::ServiceInfo,
}

/// Makes a random secret (`prefix_` + 32 random bytes, base64url).
pub fn new_secret(prefix: &str) -> Result<String, crate::Error> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| crate::Error::Invalid("the system random generator failed".into()))?;
    Ok(format!("{prefix}_{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// The stored form of a secret: its SHA-256.
pub fn secret_hash(secret: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, secret.trim().as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Checks a user or group name: 1–64 characters, no control characters, `:` or `=`.
pub fn validate_name(what: &str, name: &str) -> Result<(), crate::Error> {
    let ok = !name.is_empty()
        && name.chars().count() <= 64
        && name.trim() == name
        && !name
            .chars()
            .any(|c| c.is_control() || c == ':' || c == '=' || c == ',');
    if ok {
        Ok(())
    } else {
        Err(crate::Error::Invalid(format!(
            "{what} name {name:?} must be 1 to 64 characters without spaces at the ends, \
             control characters, ':', '=' or ','"
        )))
    }
}

/// Compares two secrets (or digests) in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
