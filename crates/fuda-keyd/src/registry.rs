//! The registry: every protected document, its grants and the revocations.
//!
//! The registry is the authority on rights; the snapshot in a file's header is only for
//! offline display. Owners change grants without touching the file.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use fuda_core::rights::Rights;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::directory::User;

/// Who a grant is for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Principal {
    /// The document's owner.
    Owner,
    /// One user.
    User(String),
    /// Everyone whose department is, or who is a member of, this group.
    Group(String),
}

impl Principal {
    /// Whether `user` is this principal on a document owned by `owner`.
    pub fn matches(&self, user: &User, owner: &str) -> bool {
        match self {
            Principal::Owner => user.name == owner,
            Principal::User(u) => *u == user.name,
            Principal::Group(g) => user.in_group(g),
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::Owner => f.write_str("owner"),
            Principal::User(u) => write!(f, "user:{u}"),
            Principal::Group(g) => write!(f, "group:{g}"),
        }
    }
}

impl FromStr for Principal {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            crate::Error::Invalid(format!(
                "principal {s:?}: use owner, user:NAME or group:NAME"
            ))
        };
        if s == "owner" {
            return Ok(Principal::Owner);
        }
        let (kind, name) = s.split_once(':').ok_or_else(bad)?;
        crate::directory::validate_name(kind, name)?;
        match kind {
            "user" => Ok(Principal::User(name.to_owned())),
            "group" => Ok(Principal::Group(name.to_owned())),
            _ => Err(bad()),
        }
    }
}

impl Serialize for Principal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Principal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(|e: crate::Error| serde::de::Error::custom(e.message()))
    }
}

/// Rights for a principal on a document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Who.
    pub principal: Principal,
    /// What they may do.
    pub rights: Rights,
}

impl FromStr for Grant {
    type Err = crate::Error;

    /// `user:sato=view,edit`, `group:設計部=view`, `owner=owner`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (p, r) = s.rsplit_once('=').ok_or_else(|| {
            crate::Error::Invalid(format!(
                "grant {s:?}: write PRINCIPAL=RIGHTS, e.g. user:sato=view,edit or group:設計部=view"
            ))
        })?;
        let rights: Rights = r
            .parse()
            .map_err(|e: fuda_core::rights::UnknownRight| crate::Error::Invalid(e.to_string()))?;
        if rights.is_empty() {
            return Err(crate::Error::Invalid(format!(
                "grant {s:?} gives no rights"
            )));
        }
        Ok(Grant {
            principal: p.parse()?,
            rights,
        })
    }
}

/// A protected document as registered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    /// Document id (the label's ULID).
    pub id: String,
    /// File name when protected: its exact bytes (`{"text"}` or `{"bytes"}` in JSON;
    /// a plain string is read too).
    #[serde(with = "fuda_core::pathname")]
    pub name: PathBuf,
    /// Level id.
    pub level: String,
    /// Owner's user name.
    pub owner: String,
    /// Grants in force.
    pub grants: Vec<Grant>,
    /// The most anyone outside the level's default grants may be given (policy).
    pub max_rights: Rights,
    /// Unix seconds after which nobody gets the key; `None` = never.
    pub expires_at: Option<i64>,
    /// Days an issued licence may be used offline (0 = always ask).
    pub offline_days: u32,
    /// Plaintext size in bytes.
    pub size: u64,
    /// Plaintext SHA-256, hex.
    pub digest: String,
    /// Host where it was protected.
    pub host: String,
    /// Path where it was protected, exact bytes as [`Document::name`].
    #[serde(with = "fuda_core::pathname")]
    pub path: PathBuf,
    /// Service key version the file was wrapped to.
    pub key_version: u32,
    /// Unix seconds of registration.
    pub created_at: i64,
    /// Whether the document is revoked for everyone.
    #[serde(default)]
    pub revoked: bool,
    /// Its version: 1 when registered, one more for every version saved back
    /// (`fuda save`).
    #[serde(default = "first_version")]
    pub version: u32,
}

fn first_version() -> u32 {
    1
}

/// What `protect` registers. The header proves the file was wrapped to this service and
/// binds the document id to the file key.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Registration {
    /// The protected file's header bytes (base64 in JSON).
    #[serde(with = "b64")]
    pub header: Vec<u8>,
    /// File name, exact bytes (`{"text"}` or `{"bytes"}` in JSON; a plain string is read
    /// too).
    #[serde(with = "fuda_core::pathname")]
    pub name: PathBuf,
    /// Level id.
    pub level: String,
    /// Grants (the policy's defaults plus the owner's choices).
    pub grants: Vec<Grant>,
    /// Most rights anyone outside the defaults may get.
    pub max_rights: Rights,
    /// Expiry, Unix seconds.
    pub expires_at: Option<i64>,
    /// Offline days.
    pub offline_days: u32,
    /// Plaintext size.
    pub size: u64,
    /// Plaintext SHA-256, hex.
    pub digest: String,
    /// Host.
    pub host: String,
    /// Absolute path on `host`, exact bytes as [`Registration::name`].
    #[serde(with = "fuda_core::pathname")]
    pub path: PathBuf,
    /// Whom the document belongs to when a file-server hook (or an administrator)
    /// protects it for someone: user names in order of preference (the label's owner, the
    /// file's owner in the file system). The first active person of the directory becomes
    /// the owner, and the level's default grants follow that person's department; when
    /// none is, the caller. Empty: the caller. Only for hooks and administrators: anyone
    /// else owns what they protect.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owners: Vec<String>,
    /// With `owners`: the level's default rights for the owner's department
    /// (`group:$dept` in the client's policy), which the service binds to the department
    /// of the owner it chose when it holds no organisation's policy of its own (with one,
    /// its own level decides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dept_rights: Option<Rights>,
}

/// A revocation in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// The document, or `None` for every document.
    pub doc: Option<String>,
    /// The user, or `None` for every user.
    pub user: Option<String>,
    /// Unix seconds.
    pub at: i64,
    /// Admin who revoked.
    pub by: String,
}

/// Base64 (standard) for byte fields in JSON.
pub mod b64 {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialises bytes as base64.
    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    /// Parses base64 into bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        STANDARD
            .decode(s)
            .map_err(|_| serde::de::Error::custom("not valid base64"))
    }
}
