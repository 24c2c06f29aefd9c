//! What can go wrong with a protected file, said so that the user knows what to do.

use std::path::PathBuf;

use fuda_core::pathname::escaped;
use fuda_core::rights::Rights;

/// An error of a protected-file workflow. Each names the file (where there is one), what is
/// wrong and what to do; the cause, when there is one, is its [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtectError {
    /// The file could not be read.
    #[error("cannot read {}", escaped(path))]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Only regular files are protected (not directories, symbolic links or devices).
    #[error(
        "{} is not a regular file: only regular files can be protected",
        escaped(path)
    )]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The file is a protected file already.
    #[error(
        "{} is already protected (it ends in .{})",
        escaped(path),
        fuda_core::envelope::EXTENSION
    )]
    AlreadyProtected {
        /// The file.
        path: PathBuf,
    },
    /// No level was asked for, the file has no label and the policy names no default level.
    #[error(
        "{} has no label and no level was given: choose a level",
        escaped(path)
    )]
    NoLevel {
        /// The file.
        path: PathBuf,
    },
    /// A level that the policy does not define.
    #[error("unknown level {name:?}: the policy {policy} defines {known}")]
    UnknownLevel {
        /// The level asked for (or found in a label).
        name: String,
        /// The policy (id and version).
        policy: String,
        /// The levels it defines.
        known: String,
    },
    /// The file is a working copy of a protected document (its label says it was opened,
    /// exported or recovered from one): it goes back as a new version, not a new document.
    #[error(
        "{} is a working copy of the protected document {doc}: save it back with `fuda save {}` (the edit right), or, to make it a document of its own, remove its label first (`fuda label remove --justify …`)",
        escaped(path),
        escaped(path)
    )]
    WorkingCopy {
        /// The file.
        path: PathBuf,
        /// The document it is a copy of.
        doc: String,
    },
    /// The policy says files of this level are never protected.
    #[error(
        "level {name} ({id}) is never protected under the policy {policy}: choose a higher level"
    )]
    NeverProtected {
        /// The level's Japanese name.
        name: String,
        /// The level's id.
        id: String,
        /// The policy.
        policy: String,
    },
    /// A grant beyond what the level allows for people outside its default grants.
    #[error("level {level} allows at most {max} for people outside its default grants; {principal}={rights} is more")]
    GrantTooWide {
        /// The level's name.
        level: String,
        /// What it allows.
        max: Rights,
        /// Who was to get more.
        principal: String,
        /// What they were to get.
        rights: Rights,
    },
    /// An expiry date later than the level allows.
    #[error("level {level} expires after {days} days; the expiry {date} is later: choose an earlier date")]
    ExpiryTooLate {
        /// The level's name.
        level: String,
        /// Its `expires_days`.
        days: u32,
        /// The date asked for.
        date: time::Date,
    },
    /// A date that is not `YYYY-MM-DD`.
    #[error("{text:?} is not a date: write it as YYYY-MM-DD")]
    BadDate {
        /// What was given.
        text: String,
    },
    /// A default grant of the policy, or a recipient, that does not parse.
    #[error("the policy {policy} is not usable for protection: {what}")]
    BadPolicy {
        /// The policy.
        policy: String,
        /// What is wrong.
        what: String,
    },
    /// The key service's own recipient is not an age X25519 recipient.
    #[error("the key service's recipient {recipient:?} is not an age X25519 recipient: ask its administrator")]
    BadServiceRecipient {
        /// What it said.
        recipient: String,
    },
    /// The key service's licence signing key is not base64.
    #[error(
        "the key service's licence signing key is not base64: re-enroll with `fuda init --service`"
    )]
    BadServiceKey,
    /// Writing the protected copy failed; nothing is left behind.
    #[error("cannot write the protected copy {}", escaped(path))]
    Encrypt {
        /// The protected copy that was to be written.
        path: PathBuf,
        /// Why.
        #[source]
        source: fuda_core::envelope::Error,
    },
    /// The content of a protected file did not decrypt (damaged, or the key does not fit).
    #[error("cannot decrypt {}", escaped(path))]
    Decrypt {
        /// The protected file.
        path: PathBuf,
        /// Why.
        #[source]
        source: fuda_core::envelope::Error,
    },
    /// The plaintext could not be written where it was asked for; nothing is left there.
    #[error("cannot write {}", escaped(path))]
    Write {
        /// Where it was to go.
        path: PathBuf,
        /// Why.
        #[source]
        source: fuda_core::envelope::Error,
    },
    /// The key service refused to register the protected copy; the original is untouched.
    #[error(
        "the key service refused to register {}; nothing changed",
        escaped(path)
    )]
    Register {
        /// The original file.
        path: PathBuf,
        /// The service's answer.
        #[source]
        source: fuda_keyd::Error,
    },
    /// The protected copy did not open through the key service; the original is kept.
    #[error(
        "the protected copy of {} did not open; the original is kept",
        escaped(path)
    )]
    Unverified {
        /// The original file.
        path: PathBuf,
        /// Why it did not open.
        #[source]
        source: Box<ProtectError>,
    },
    /// A working copy saved back onto a protected file of another document.
    #[error(
        "{} is a copy of document {work_doc}, but {} is document {doc}: name the protected file it came from with --to",
        escaped(work),
        escaped(protected)
    )]
    OtherDocument {
        /// The working copy.
        work: PathBuf,
        /// The protected file.
        protected: PathBuf,
        /// The document the working copy's label names.
        work_doc: String,
        /// The protected file's document.
        doc: String,
    },
    /// The original changed while it was being protected; it is kept.
    #[error(
        "{} changed while it was being protected; the original is kept: try again",
        escaped(path)
    )]
    Changed {
        /// The original file.
        path: PathBuf,
    },
    /// The protected copy is in place and registered, but the original could not be removed.
    #[error(
        "protected as {}, but cannot remove the original {}: remove it by hand",
        escaped(protected),
        escaped(path)
    )]
    RemoveOriginal {
        /// The original file.
        path: PathBuf,
        /// The protected copy.
        protected: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Not a protected file (or a damaged one).
    #[error("{} is not a protected file", escaped(path))]
    NotProtected {
        /// The file.
        path: PathBuf,
        /// What the header parser found.
        #[source]
        source: fuda_core::envelope::Error,
    },
    /// An age file without a fuda label: no key service knows it.
    #[error("{} has no fuda label: it was not protected with fuda (try `fuda recover` with the recovery key)", escaped(path))]
    NoFudaLabel {
        /// The file.
        path: PathBuf,
    },
    /// The key service refused or failed a request about a file.
    #[error("cannot {action} {}", escaped(path))]
    Service {
        /// What was asked (`open`, `share`, `unshare`, `read the rights of`).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The service's answer.
        #[source]
        source: fuda_keyd::Error,
    },
    /// The key service is unreachable and no usable offline licence is cached.
    #[error(
        "{}: the key service is unreachable ({reason}) and {why}",
        escaped(path)
    )]
    Offline {
        /// The file.
        path: PathBuf,
        /// Why the service could not be reached.
        reason: String,
        /// Why no offline licence helps: none cached, it ended, or it allows too little.
        why: String,
        /// Set when the reason is a TLS certificate that is not the pinned one: someone
        /// may be intercepting the connection, and the user must hear of it.
        pin_mismatch: Option<fuda_keyd::tls::PinMismatch>,
    },
    /// The service's licence did not verify (signature, user, document or sealed key).
    #[error("the licence for {} does not verify", escaped(path))]
    Licence {
        /// The file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: fuda_keyd::Error,
    },
    /// A request to the key service that concerns no single file failed.
    #[error(transparent)]
    KeyService(fuda_keyd::Error),
    /// The key service did not rewrap a protected file; it is unchanged.
    #[error(
        "the key service did not rewrap {}; the file is unchanged",
        escaped(path)
    )]
    Rewrap {
        /// The protected file.
        path: PathBuf,
        /// The service's answer.
        #[source]
        source: fuda_keyd::Error,
    },
    /// The rewrapped header could not be written; the file is unchanged.
    #[error(
        "cannot rewrite the header of {}; the file is unchanged",
        escaped(path)
    )]
    Rewrite {
        /// The protected file.
        path: PathBuf,
        /// Why.
        #[source]
        source: fuda_core::envelope::Error,
    },
}
