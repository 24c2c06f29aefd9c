//! What the watcher did, one [`Report`] per action: the CLI prints each as a JSON line
//! (`{"type": "event", "event": "labeled", …}`), a test asserts on them.

use std::path::PathBuf;

use fuda_core::label::{DocId, Evidence, Flag, Label, Method};
use fuda_core::store::StoreKind;
use serde::Serialize;

/// One action of the watcher on one file. Serialised with its kind in `event`
/// (`labeled`, `kept`, `no-rule`, `note`, `restored`, `downgrade-flagged`, `lost`,
/// `replayed`, `remembered`, `failed`) and paths as [`fuda_core::pathname::JsonPath`].
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Report {
    /// A rule labeled the file (or raised its label), or no rule matched and the file got
    /// the policy's default level.
    Labeled {
        /// The file.
        #[serde(serialize_with = "fuda_core::pathname::serialize")]
        path: PathBuf,
        /// The level now.
        level: String,
        /// The level before, if it had one.
        previous: Option<String>,
        /// `auto` (a rule) or `default` (no rule matched: the policy's default level).
        method: Method,
        /// The rule.
        rule: Option<String>,
        /// The label's flags.
        flags: Vec<Flag>,
        /// Why the rule matched.
        evidence: Vec<Evidence>,
        /// Where the label went.
        store: StoreKind,
        /// The document id.
        doc: DocId,
    },
    /// A rule matched but the file keeps its label: a person's, or a higher one.
    Kept {
        /// The file.
        #[serde(serialize_with = "fuda_core::pathname::serialize")]
        path: PathBuf,
        /// The level it keeps.
        level: String,
        /// `manual` or `higher`.
        reason: &'static str,
    },
    /// No rule matched.
    NoRule {
        /// The file.
        #[serde(serialize_with = "fuda_core::pathname::serialize")]
        path: PathBuf,
    },
    /// The content could be read only in part (classified on what was read).
    Note {
        /// The file.
        #[serde(serialize_with = "fuda_core::pathname::serialize")]
        path: PathBuf,
        /// What was wrong.
        problem: String,
    },
    /// A replacement that lost its label got the remembered one back.
    Restored {
        /// The file.
        #[serde(serialize_with = "fuda_core::pathname::serialize")]
        path: PathBuf,
        /// The level put back.
        level: String,
        /// The remembered document id.
        doc: DocId,
        /// The remembered owner.
        owner: String,
        /// The remembered method.
        method: Method,
        /// How the path came to hold a new file.
        cause: String,
        /// Where the label went.
        store: StoreKind,
    },
    /// The new content carried a lower label of its own; the higher one was kept.
    DowngradeFlagged {
        /// The file.
        #[serde(serialize_with = "fuda_core::pathname::serialize")]
        path: PathBuf,
        /// The level kept.
        level: String,
        /// The lower level found.
        found: String,
        /// The document.
        doc: DocId,
        /// How the path came to hold a new file.
        cause: String,
        /// What was done.
        action: &'static str,
    },
    /// A label vanished from the same file in place (not restored; `fuda inventory`
    /// reports it).
    Lost {
        /// The file.
        #[serde(serialize_with = "fuda_core::pathname::serialize")]
        path: PathBuf,
        /// The level it had.
        level: String,
        /// The document.
        doc: DocId,
        /// What was done.
        action: &'static str,
    },
    /// An older label of the remembered document was written back (a replay).
    Replayed {
        /// The file.
        #[serde(serialize_with = "fuda_core::pathname::serialize")]
        path: PathBuf,
        /// The remembered level.
        level: String,
        /// The older level written back.
        found: String,
        /// The document.
        doc: DocId,
        /// What was done.
        action: &'static str,
    },
    /// A person set or changed a label: the memory learnt it.
    Remembered {
        /// The file.
        #[serde(serialize_with = "fuda_core::pathname::serialize")]
        path: PathBuf,
        /// The level.
        level: String,
        /// The document.
        doc: DocId,
    },
    /// Something failed (the watcher goes on).
    Failed {
        /// The file, when one is concerned.
        #[serde(
            serialize_with = "serialize_some_path",
            skip_serializing_if = "Option::is_none"
        )]
        path: Option<PathBuf>,
        /// What failed.
        error: String,
        /// The level found, for a replay that could not be undone.
        #[serde(skip_serializing_if = "Option::is_none")]
        found: Option<String>,
        /// What it means.
        #[serde(skip_serializing_if = "Option::is_none")]
        action: Option<&'static str>,
    },
}

fn serialize_some_path<S: serde::Serializer>(
    path: &Option<PathBuf>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match path {
        Some(p) => fuda_core::pathname::serialize(p, s),
        None => s.serialize_none(),
    }
}

impl Report {
    /// The file the report concerns, if one.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            Report::Labeled { path, .. }
            | Report::Kept { path, .. }
            | Report::NoRule { path }
            | Report::Note { path, .. }
            | Report::Restored { path, .. }
            | Report::DowngradeFlagged { path, .. }
            | Report::Lost { path, .. }
            | Report::Replayed { path, .. }
            | Report::Remembered { path, .. } => Some(path),
            Report::Failed { path, .. } => path.as_deref(),
        }
    }

    /// A failure concerning `path`.
    pub fn failed(path: &std::path::Path, error: impl ToString) -> Report {
        Report::Failed {
            path: Some(path.to_owned()),
            error: error.to_string(),
            found: None,
            action: None,
        }
    }

    /// A failure concerning no single file.
    pub fn failed_anywhere(error: impl ToString) -> Report {
        Report::Failed {
            path: None,
            error: error.to_string(),
            found: None,
            action: None,
        }
    }

    /// The report of a label a rule applied.
    pub(crate) fn labeled(
        path: &std::path::Path,
        label: &Label,
        previous: Option<String>,
        store: StoreKind,
    ) -> Report {
        Report::Labeled {
            path: path.to_owned(),
            level: label.level.clone(),
            previous,
            method: label.method,
            rule: label.rule.clone(),
            flags: label.flags.clone(),
            evidence: label.evidence.clone(),
            store,
            doc: label.doc,
        }
    }
}
