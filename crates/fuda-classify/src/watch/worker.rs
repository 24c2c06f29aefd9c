//! Handling one settled file: restore a label a save stripped, classify, label by the
//! rules, and say what the label memory must learn. Runs on many files at once.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use fuda_core::label::Label;
use fuda_core::labeling::{FileLabel, Labeler, SetOutcome};

use super::{persist, Report, Stat};
use crate::memory::{Change, Hint, Readers, Remembered};
use crate::rules::Classifier;

/// A file due for handling, with what the events said about it.
#[derive(Debug)]
pub struct Job {
    /// The file.
    pub path: PathBuf,
    /// How the path came to hold a new file, if an event said so.
    pub hint: Option<Hint>,
}

/// A label a rule applied: what the audit log must hear of.
#[derive(Clone, Debug)]
pub struct Applied {
    /// The file.
    pub path: PathBuf,
    /// The label written.
    pub label: Label,
    /// The level before, if any.
    pub previous: Option<String>,
    /// Whether the level went down (never by a rule; kept for the audit record).
    pub downgrade: bool,
}

/// What became of a job.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Written to too recently: look again after this long.
    Postpone(Duration),
    /// The watcher's own write (a label it set): nothing to do.
    Own,
    /// Gone (deleted or replaced mid-way).
    Gone,
    /// Handled; the stat is set when the watcher wrote to the file.
    Done(Option<Stat>),
    /// Labeled by the rules.
    Labeled(Option<Stat>, Box<Applied>),
}

/// A handled job: its outcome, the memory changes and the reports.
#[derive(Debug)]
pub struct Handled {
    pub(crate) job_path: PathBuf,
    pub(crate) hint: Option<Hint>,
    pub(crate) outcome: Outcome,
    pub(crate) changes: Vec<Change>,
    pub(crate) reports: Vec<Report>,
}

/// What labeling a file needs: the classifier (with `hash_content` set, so the label is
/// signed over the bytes classified) and the labeler.
#[derive(Clone, Copy)]
pub struct Labeling<'a> {
    /// The policy's rules.
    pub classifier: &'a Classifier,
    /// Writes labels.
    pub labeler: &'a Labeler<'a>,
    /// Also report files left as they were (`kept`, `no-rule`).
    pub verbose: bool,
}

/// The shared state of one batch's workers.
pub(crate) struct Worker<'a> {
    pub labeling: Labeling<'a>,
    /// The files this watcher labeled last, as it left them.
    pub own: &'a super::OwnWrites,
    pub settle: Duration,
    /// Where each worker looks up the label remembered at its file.
    pub memory: &'a Readers,
}

impl Worker<'_> {
    /// Handles `jobs`, looking up what the memory remembers at their paths together (one
    /// read of the memory for them all).
    pub fn handle_all(&self, jobs: Vec<Job>) -> Vec<Handled> {
        let paths: Vec<&Path> = jobs.iter().map(|j| j.path.as_path()).collect();
        let recalled = match self.memory.recall_each(&paths) {
            Ok(each) => each
                .into_iter()
                .map(|r| r.map_err(|e| e.to_string()))
                .collect(),
            Err(e) => vec![Err(e.to_string()); jobs.len()],
        };
        jobs.into_iter()
            .zip(recalled)
            .map(|(job, remembered)| self.handle(job, remembered))
            .collect()
    }

    /// Labels the file of `job` if a rule applies, restores a label a save stripped, and
    /// records what the memory must learn; `remembered` is what the memory knows of its
    /// path (or why it could not be looked up).
    fn handle(&self, job: Job, remembered: Result<Option<Remembered>, String>) -> Handled {
        let mut changes = Vec::new();
        let mut reports = Vec::new();
        let remembered = remembered.unwrap_or_else(|e| {
            reports.push(Report::failed(&job.path, e));
            None
        });
        let remembered = remembered.as_ref();
        let mut seen = None;
        let outcome = self.label_file(
            &job.path,
            remembered,
            job.hint,
            &mut seen,
            &mut changes,
            &mut reports,
        );
        // A label the rules applied was recorded as written (`label_file`).
        if matches!(outcome, Outcome::Done(_)) {
            let labeler = self.labeling.labeler;
            persist::remember(&job.path, labeler, remembered, seen, &mut changes);
        }
        Handled {
            job_path: job.path,
            hint: job.hint,
            outcome,
            changes,
            reports,
        }
    }

    /// Handles one file; `seen` gets its label as read to compare with the remembered one,
    /// when the watcher wrote nothing since.
    fn label_file(
        &self,
        path: &Path,
        remembered: Option<&Remembered>,
        hint: Option<Hint>,
        seen: &mut Option<FileLabel>,
        changes: &mut Vec<Change>,
        reports: &mut Vec<Report>,
    ) -> Outcome {
        let Labeling {
            classifier,
            labeler,
            verbose,
        } = self.labeling;
        let meta = match fuda_core::longpath::symlink_metadata(path) {
            Ok(m) if m.is_file() => m,
            _ => return Outcome::Gone,
        };
        let age = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .unwrap_or(self.settle);
        if age < self.settle {
            return Outcome::Postpone(self.settle - age);
        }
        if self.own.get(path) == Some(&super::stat_of(&meta)) {
            return Outcome::Own;
        }
        let mut restored = false;
        if let Some(r) = remembered {
            match labeler.peek(path) {
                Ok(file) => {
                    restored = persist::check(&file, &meta, r, hint, labeler, changes, reports);
                    if !restored {
                        *seen = Some(file);
                    }
                }
                Err(e) => reports.push(Report::failed(path, e)),
            }
        }
        let written = |restored: bool| {
            if restored {
                fuda_core::longpath::symlink_metadata(path)
                    .ok()
                    .map(|m| super::stat_of(&m))
            } else {
                None
            }
        };
        // A label the rules did not change: a manual one, or one higher than theirs.
        let kept = |level: String, reason: &'static str, reports: &mut Vec<Report>| {
            if verbose {
                reports.push(Report::Kept {
                    path: path.to_owned(),
                    level,
                    reason,
                });
            }
            Outcome::Done(written(restored))
        };
        let classified = match classifier.classify_file(path) {
            Ok(c) => c,
            Err(e) => return self.failed(path, e, restored, reports),
        };
        if let Some(p) = &classified.problem {
            reports.push(Report::Note {
                path: path.to_owned(),
                problem: p.clone(),
            });
        }
        match crate::rules::apply_file(labeler, &classified) {
            Ok(Some(SetOutcome::Applied {
                previous,
                downgrade,
                label,
                store,
                ..
            })) => {
                reports.push(Report::labeled(path, &label, previous.clone(), store));
                // The memory learns the label as written, not read back: a change made
                // since comes as an attribute event of its own.
                let after = fuda_core::longpath::symlink_metadata(path).ok();
                if let Some(meta) = &after {
                    persist::record(path, &label, meta, changes);
                }
                Outcome::Labeled(
                    after.map(|m| super::stat_of(&m)),
                    Box::new(Applied {
                        path: path.to_owned(),
                        label: *label,
                        previous,
                        downgrade,
                    }),
                )
            }
            Ok(Some(SetOutcome::KeptManual { level })) => kept(level, "manual", reports),
            Ok(Some(SetOutcome::KeptHigher { level })) => kept(level, "higher", reports),
            Ok(None) => {
                if verbose {
                    reports.push(Report::NoRule {
                        path: path.to_owned(),
                    });
                }
                Outcome::Done(written(restored))
            }
            Err(e) => self.failed(path, e, restored, reports),
        }
    }

    /// A file that could not be classified or labeled; one that vanished or was replaced
    /// mid-way is not a failure.
    fn failed(
        &self,
        path: &Path,
        e: impl std::fmt::Display,
        restored: bool,
        reports: &mut Vec<Report>,
    ) -> Outcome {
        if fuda_core::longpath::metadata(path).is_err() {
            return Outcome::Gone;
        }
        reports.push(Report::failed(path, e));
        Outcome::Done(if restored {
            fuda_core::longpath::symlink_metadata(path)
                .ok()
                .map(|m| super::stat_of(&m))
        } else {
            None
        })
    }
}
