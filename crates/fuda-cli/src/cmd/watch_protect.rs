//! `fuda watch --protect`: a file that settled in a watched tree and whose label (after
//! the watcher labeled it) is at a level the policy requires to be protected is encrypted
//! at once, with the ownership rules of auto-protection (the label's owner, else the
//! file's owner in the file system, never the hook alone). Protection is the same as
//! `fuda protect`'s: the original goes only after the protected copy decrypted to it and
//! the original did not change meanwhile, so a file still being written is never lost.

use std::path::PathBuf;

use fuda_classify::watch::Report;
use fuda_core::label::Status;
use fuda_core::labeling::Labeler;
use fuda_core::pathname::JsonPath;
use fuda_core::policy::{Policy, Protect};
use fuda_protect::{Protection, Protector};
use serde::Serialize;

/// One line of the watcher's log for a file `--protect` handled.
#[derive(Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Protected<'a> {
    /// The file is now its protected copy.
    Protected {
        path: JsonPath<'a>,
        protected: JsonPath<'a>,
        doc: String,
        level: &'a str,
        owner: String,
    },
    /// It could not be protected; it stays as it is, labeled.
    ProtectFailed { path: JsonPath<'a>, error: String },
}

/// The files the watcher settled in a batch (what `--protect` then protects), from its
/// reports.
pub fn settled(reports: &[Report]) -> Vec<PathBuf> {
    let settled = |report: &Report| match report {
        Report::Labeled { path, .. }
        | Report::Kept { path, .. }
        | Report::NoRule { path }
        | Report::Restored { path, .. } => Some(path.clone()),
        _ => None,
    };
    reports.iter().filter_map(settled).collect()
}

/// Protects every file of `settled` whose label requires it; `log` prints each outcome.
pub fn protect_settled(
    protector: &Protector<'_>,
    labeler: &Labeler<'_>,
    policy: &Policy,
    settled: &[PathBuf],
    log: &dyn Fn(&Protected<'_>),
) {
    for path in settled {
        if fuda_core::store::envelope::is_protected(path) {
            continue;
        }
        let Ok(found) = labeler.inspect(path) else {
            continue;
        };
        let Some(label) = found
            .label
            .filter(|_| !matches!(found.status, Status::Tampered | Status::Replayed))
        else {
            continue;
        };
        let Some(level) = policy
            .level(&label.level)
            .filter(|l| l.protect == Protect::Required)
        else {
            continue;
        };
        let done = protector.protect(
            path,
            &Protection {
                current: Some(&label),
                owners: fuda_protect::owner_candidates(path, Some(&label)),
                method: label.method,
                rule: label.rule.clone(),
                evidence: label.evidence.clone(),
                ..Protection::manual(level)
            },
        );
        match done {
            Ok(done) => log(&Protected::Protected {
                path: JsonPath::new(path),
                protected: JsonPath::new(&done.path),
                doc: done.doc.to_string(),
                level: &level.id,
                owner: done.owner,
            }),
            Err(e) => log(&Protected::ProtectFailed {
                path: JsonPath::new(path),
                error: crate::output::describe(&e.into()),
            }),
        }
    }
}
