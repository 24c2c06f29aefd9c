//! Labels: small signed records that say how confidential a file is.
//!
//! A [`Label`] carries the level, the policy it was set under, the owner and the content
//! digest; a [`SignedLabel`] adds an Ed25519 signature over its [canonical
//! encoding](canonical). Labels are stored in three places (see [`crate::store`]) using the
//! [compact](compact) binary form, and verified into a [`Status`].

mod batch;
pub mod canonical;
pub mod compact;
mod flags;
pub mod memo;
pub mod verify;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use flags::{Flag, UnknownFlag};
pub use memo::VerificationMemo;
pub use verify::{verify, verify_many, Claim, Verification};
// The signer key id is the trust store's concept; labels carry it.
pub use crate::trust::KeyId;

use crate::digest::Digest;

/// The version of the label record this library writes.
pub const LABEL_VERSION: u8 = 1;

/// A document id: a ULID, stable across relabeling, copies and protection.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocId(pub ulid::Ulid);

impl DocId {
    /// A fresh id for a document seen for the first time.
    pub fn new() -> DocId {
        DocId(ulid::Ulid::new())
    }

    /// The 16 raw bytes.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_bytes()
    }

    /// From 16 raw bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> DocId {
        DocId(ulid::Ulid::from_bytes(bytes))
    }
}

impl Default for DocId {
    fn default() -> Self {
        DocId::new()
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocId({})", self.0)
    }
}

impl FromStr for DocId {
    type Err = ulid::DecodeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ulid::Ulid::from_string(s).map(DocId)
    }
}

impl Serialize for DocId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut text = [0u8; ulid::ULID_LEN];
        s.serialize_str(self.0.array_to_str(&mut text))
    }
}

impl<'de> Deserialize<'de> for DocId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(|e| {
            serde::de::Error::custom(format_args!(
                "{s:?} is not a document id (a ULID: 26 characters of Crockford base32): {e}"
            ))
        })
    }
}

/// How a label came to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// A person chose the level.
    Manual,
    /// An auto-labeling rule chose it.
    Auto,
    /// The policy's default level.
    Default,
    /// Mapped from another system's label (e.g. Microsoft Purview).
    Imported,
    /// A working copy: the plaintext of a protected document written out by `fuda open
    /// --out` (the label is the document's, signed by the person who opened it).
    Opened,
    /// The plaintext of a protected document written out by `fuda export`.
    Exported,
    /// The plaintext of a protected document decrypted with the recovery key (`fuda
    /// recover`).
    Recovered,
}

impl Method {
    /// The method's name in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Manual => "manual",
            Method::Auto => "auto",
            Method::Default => "default",
            Method::Imported => "imported",
            Method::Opened => "opened",
            Method::Exported => "exported",
            Method::Recovered => "recovered",
        }
    }

    /// Whether the label marks a plaintext copy written out of a protected document.
    pub fn is_working_copy(self) -> bool {
        matches!(self, Method::Opened | Method::Exported | Method::Recovered)
    }
}

/// The policy a label was set under.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRef {
    /// Policy id.
    pub id: String,
    /// Policy version.
    pub version: u32,
}

/// The unsigned label record (docs/labels.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Label {
    /// Record version ([`LABEL_VERSION`]).
    pub v: u8,
    /// Document id.
    pub doc: DocId,
    /// Level id in the policy.
    pub level: String,
    /// Policy the level belongs to.
    pub policy: PolicyRef,
    /// User who owns the document.
    pub owner: String,
    /// Owner's department.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dept: Option<String>,
    /// Ledger asset id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<String>,
    /// How the label came to be.
    pub method: Method,
    /// Rule id, for auto labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Origin, for imported labels (e.g. `msip:<guid> Example OEM`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Who set the label (user or hook name).
    pub set_by: String,
    /// When, in seconds since the Unix epoch (UTC).
    pub set_at: i64,
    /// How many times this document was labeled before: 0 for its first label, the
    /// previous label's `seq` + 1 for every label written over it. With `set_at` it orders
    /// the labels of one document, so an older signed label written back over a newer one
    /// (a replay) can be told from a relabel ([`Label::is_older_than`]). 0 is absent from
    /// the encodings, so labels written before this field existed keep their signatures.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub seq: u64,
    /// Digest of the content the label was set on, where the label lives outside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_sha256: Option<Digest>,
    /// Why the level was lowered or removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    /// Flags, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<Flag>,
    /// Why an automatic label was chosen: what matched and how often, never the matched
    /// values themselves. Empty for other methods (and absent from their encodings, so
    /// labels written before this field existed keep their signatures).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Evidence>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Label {
    /// Where this label stands among the labels of its document: later labels have a
    /// greater `(seq, set_at)`.
    pub fn version(&self) -> (u64, i64) {
        (self.seq, self.set_at)
    }

    /// Whether this label is an older label of the same document than `newer`: written
    /// before it, so finding it on a file where `newer` was seen means the old label was
    /// written back (replayed).
    pub fn is_older_than(&self, newer: &Label) -> bool {
        self.doc == newer.doc && self.version() < newer.version()
    }

    /// The `seq` of a label written over this one.
    pub fn next_seq(&self) -> u64 {
        self.seq.saturating_add(1)
    }
}

/// One reason for an automatic label: a condition of a rule and how many hits it had.
///
/// `what` names the condition, never the content: `path`, `extension:dwg`,
/// `keyword:極秘`, `detector:my-number`, `regex`, `property:msip`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// The condition that matched.
    pub what: String,
    /// How many hits it had (1 for path and extension conditions).
    pub count: u32,
}

/// A label with its signature.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedLabel {
    /// The record.
    pub label: Label,
    /// Id of the key that signed it.
    pub key: KeyId,
    /// Ed25519 signature over `canonical::signing_input(&label)`.
    pub sig: [u8; 64],
}

impl fmt::Debug for SignedLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedLabel")
            .field("label", &self.label)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// The verification status of a file's label.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Signed by a known key, content unchanged since labeling.
    Valid,
    /// Signature good but the content changed since labeling: a re-review is due.
    Stale,
    /// The signer is not in the trust store.
    Unverified,
    /// The signature does not match the record, or the record is corrupt.
    Tampered,
    /// No label.
    #[default]
    Missing,
    /// A good signature, but an older label of the document than one known to have been
    /// set on it since (by the key service's audit log or `fuda watch`'s label memory):
    /// an old label was written back over a newer one.
    Replayed,
}

impl Status {
    /// The status's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Valid => "valid",
            Status::Stale => "stale",
            Status::Unverified => "unverified",
            Status::Tampered => "tampered",
            Status::Missing => "missing",
            Status::Replayed => "replayed",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
