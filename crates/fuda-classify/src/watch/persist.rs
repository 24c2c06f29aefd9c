//! Labels that survive editing: the watcher's side of the label memory ([`crate::memory`]).
//!
//! The watcher remembers every label it sees or writes. What it saw happen at a path
//! (renamed onto, deleted and re-created, renamed away to an editor's backup) goes into a
//! [`Book`]; when a file at a remembered path is handled, [`check`] asks
//! [`memory::decide`] whether it is a replacement that lost its label and restores it,
//! and [`remember`] records what the file carries afterwards. Attribute changes (a person
//! relabeling with `fuda label set`, or removing a label in place) are followed by
//! [`refresh`], which reads the label and remembers it, except an older label of the
//! remembered document written back (a replay), which is reported and replaced by the
//! remembered one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fuda_core::label::{Label, Status};
use fuda_core::labeling::{FileLabel, Labeler};

use super::{ignored, FsEvent, Report};
use crate::memory::{
    self, Change, Event as MemoryEvent, EventKind, FileId, Found, Hint, LabelMemory, Remembered,
    State, Verdict,
};

/// What the watcher saw happen at paths, and memory changes waiting for the next commit.
pub(crate) struct Book {
    /// How a path came to hold a new file, until that file is handled.
    pub hints: HashMap<PathBuf, Hint>,
    /// Paths whose file went away (deleted, moved out, renamed to a backup), and when.
    vacated: HashMap<PathBuf, Instant>,
    /// Paths whose attributes changed, due at the instant given.
    attr: HashMap<PathBuf, Instant>,
    /// Changes to commit with the next batch.
    pub changes: Vec<Change>,
    /// How long a vacated path's label is kept for a file that comes back.
    window: Duration,
}

impl Book {
    pub fn new(window: Duration) -> Book {
        Book {
            hints: HashMap::new(),
            vacated: HashMap::new(),
            attr: HashMap::new(),
            changes: Vec::new(),
            window,
        }
    }

    /// Notes what an event means for the memory, at `now` (attribute changes are due at
    /// once).
    pub fn on_event(&mut self, ev: &FsEvent, now: Instant) {
        match ev {
            FsEvent::CreatedFile(p) if !ignored(p) => {
                self.vacated.remove(p);
                self.hints.insert(p.clone(), Hint::Recreated);
            }
            FsEvent::MovedTo(p) if !ignored(p) => {
                self.vacated.remove(p);
                self.hints.insert(p.clone(), Hint::RenamedOver);
            }
            FsEvent::MovedFrom(p) | FsEvent::Removed(p) => {
                self.vacated.insert(p.clone(), now);
            }
            // A move inside the trees carries its label (same inode): the memory follows
            // it. A rename to an editor's backup or temporary name leaves the path
            // vacated, waiting for the saved file. `to` keeps its hint: `sed -i` saves
            // through a temporary file named like any other.
            FsEvent::Renamed { from, to } if !ignored(from) && !ignored(to) => {
                self.vacated.remove(from);
                self.changes.push(Change::Move {
                    from: from.clone(),
                    to: to.clone(),
                });
            }
            // A label set or removed in place is learnt at once, not after the settle
            // window: an editor's save-by-rename right after `fuda label set` must find
            // it remembered.
            FsEvent::Attributes(p) if !ignored(p) => {
                self.attr.insert(p.clone(), now);
            }
            _ => {}
        }
    }

    /// Forgets the labels of paths vacated longer than the window that stayed empty.
    pub fn sweep(&mut self, now: Instant) {
        let window = self.window;
        let mut expired = Vec::new();
        self.vacated.retain(|p, at| {
            let keep = now.saturating_duration_since(*at) < window;
            if !keep {
                expired.push(p.clone());
            }
            keep
        });
        for p in expired {
            if fuda_core::longpath::symlink_metadata(&p).is_err() {
                self.changes.push(Change::Forget(p));
            }
        }
    }

    /// Paths whose attribute changes are due and that are not waiting for content work.
    pub fn due_attributes(
        &mut self,
        busy: &HashMap<PathBuf, Instant>,
        now: Instant,
    ) -> Vec<PathBuf> {
        let due: Vec<PathBuf> = self
            .attr
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(p, _)| p.clone())
            .collect();
        for p in &due {
            self.attr.remove(p);
        }
        due.into_iter().filter(|p| !busy.contains_key(p)).collect()
    }

    /// The earliest instant something in the book is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.attr.values().min().copied()
    }
}

/// The label a file carries, if it is one the memory should keep: signed by fuda and not
/// tampered (Purview labels live in the content and get a fresh id at every reading).
fn keepable(file: &FileLabel) -> Option<&Label> {
    if file.status == Status::Tampered || file.foreign.is_some() {
        return None;
    }
    file.label.as_ref()
}

fn event(
    path: &Path,
    kind: EventKind,
    label: &Label,
    found: Option<String>,
    cause: &str,
) -> Change {
    Change::Event(MemoryEvent {
        at: fuda_core::labeling::now(),
        path: path.to_owned(),
        kind,
        doc: Some(label.doc.to_string()),
        level: Some(label.level.clone()),
        found_level: found,
        cause: cause.to_owned(),
    })
}

/// Restores the remembered label of `file.path` when the file there (`file`: its label as
/// just read, `meta`: its metadata) is a replacement that lost it (or carries a lower one);
/// records a lost label. Returns whether it wrote a label.
pub(crate) fn check(
    file: &FileLabel,
    meta: &std::fs::Metadata,
    remembered: &Remembered,
    hint: Option<Hint>,
    labeler: &Labeler<'_>,
    changes: &mut Vec<Change>,
    reports: &mut Vec<Report>,
) -> bool {
    let path = file.path.as_path();
    let found = if file.status == Status::Tampered {
        Found::Tampered
    } else {
        file.label.as_ref().map_or(Found::Nothing, Found::Label)
    };
    let had = &remembered.label;
    let policy = labeler.policy;
    let verdict = memory::decide(remembered, &FileId::of(meta), hint, found, |l| {
        policy.level(l).map(|l| l.rank)
    });
    match verdict {
        Verdict::Keep => false,
        Verdict::Lost => {
            reports.push(Report::Lost {
                path: path.to_owned(),
                level: had.level.clone(),
                doc: had.doc,
                action: "the label vanished from this file in place; not restored, reported by fuda inventory",
            });
            changes.push(Change::MarkLost(path.to_owned()));
            changes.push(event(path, EventKind::Lost, had, None, "removed in place"));
            false
        }
        Verdict::Replayed {
            found_level,
            restore: false,
        } => {
            reports.push(Report::Replayed {
                path: path.to_owned(),
                level: had.level.clone(),
                found: found_level.clone(),
                doc: had.doc,
                action: "an older label of this document was written back after its label was removed in place; reported, not accepted as the file's label",
            });
            changes.push(event(
                path,
                EventKind::Replayed,
                had,
                Some(found_level),
                "its label had been removed in place: not put back",
            ));
            false
        }
        Verdict::Replayed {
            found_level,
            restore: true,
        } => match labeler.restore(path, had) {
            Ok(restored) => {
                reports.push(Report::Replayed {
                    path: path.to_owned(),
                    level: restored.label.level.clone(),
                    found: found_level.clone(),
                    doc: had.doc,
                    action: "an older label of this document was written back over the remembered one; the remembered label was put back",
                });
                changes.push(event(
                    path,
                    EventKind::Replayed,
                    had,
                    Some(found_level),
                    "fuda watch put the newer label back",
                ));
                true
            }
            Err(e) => {
                reports.push(Report::Failed {
                    path: Some(path.to_owned()),
                    error: e.to_string(),
                    found: Some(found_level),
                    action: Some("an older label of this document was written back and the remembered label could not be put back"),
                });
                false
            }
        },
        Verdict::Restore {
            cause,
            downgrade_from,
        } => match labeler.restore(path, had) {
            Ok(restored) => {
                if let Some(lower) = &downgrade_from {
                    reports.push(Report::DowngradeFlagged {
                        path: path.to_owned(),
                        level: had.level.clone(),
                        found: lower.clone(),
                        doc: had.doc,
                        cause: cause.clone(),
                        action: "the new content carried a lower label; the higher one was kept",
                    });
                    changes.push(event(
                        path,
                        EventKind::DowngradeFlagged,
                        had,
                        Some(lower.clone()),
                        &cause,
                    ));
                }
                reports.push(Report::Restored {
                    path: path.to_owned(),
                    level: restored.label.level.clone(),
                    doc: restored.label.doc,
                    owner: restored.label.owner.clone(),
                    method: restored.label.method,
                    cause: cause.clone(),
                    store: restored.store,
                });
                changes.push(event(
                    path,
                    EventKind::Restored,
                    had,
                    downgrade_from,
                    &cause,
                ));
                true
            }
            Err(e) => {
                reports.push(Report::Failed {
                    path: Some(path.to_owned()),
                    error: e.to_string(),
                    found: None,
                    action: Some("could not restore the remembered label"),
                });
                false
            }
        },
    }
}

/// Records what `path` carries now, unless the memory already knows exactly that; `seen`
/// is its label as read since the watcher last wrote to it, if it was (else it is read).
pub(crate) fn remember(
    path: &Path,
    labeler: &Labeler<'_>,
    remembered: Option<&Remembered>,
    seen: Option<FileLabel>,
    changes: &mut Vec<Change>,
) {
    let Ok(meta) = fuda_core::longpath::metadata(path) else {
        return;
    };
    let file = match seen {
        Some(file) => file,
        None => match labeler.peek(path) {
            Ok(file) => file,
            Err(_) => return,
        },
    };
    let Some(label) = keepable(&file) else {
        return;
    };
    let id = FileId::of(&meta);
    let known = remembered
        .is_some_and(|r| r.state == State::Labeled && r.label == *label && !r.file.differs(&id));
    if !known {
        record(path, label, &meta, changes);
    }
}

/// Records that `path` (the file `meta` describes) carries `label`.
pub(crate) fn record(
    path: &Path,
    label: &Label,
    meta: &std::fs::Metadata,
    changes: &mut Vec<Change>,
) {
    changes.push(Change::Remember {
        path: path.to_owned(),
        label: Box::new(label.clone()),
        file: FileId::of(meta),
    });
}

/// Follows an attribute change at `path`: a label set or changed by a person is
/// remembered, a label removed from the same file is recorded as lost. Returns true when
/// the file turned out to be a replacement the watcher must handle as new content.
pub(crate) fn refresh(
    path: &Path,
    labeler: &Labeler<'_>,
    memory: &LabelMemory,
    changes: &mut Vec<Change>,
    reports: &mut Vec<Report>,
) -> bool {
    let Ok(meta) = fuda_core::longpath::metadata(path) else {
        return false;
    };
    if !meta.is_file() {
        return false;
    }
    let remembered = match memory.recall(path) {
        Ok(r) => r,
        Err(e) => {
            reports.push(Report::failed(path, e));
            return false;
        }
    };
    let Ok(file) = labeler.peek(path) else {
        return false;
    };
    if let Some(label) = keepable(&file) {
        // An older label of the remembered document written back in place (a replay) is
        // not learnt: the remembered, newer one goes back on.
        if let Some(r) = remembered
            .as_ref()
            .filter(|r| label.is_older_than(&r.label))
        {
            return check(&file, &meta, r, None, labeler, changes, reports);
        }
        if remembered.as_ref().is_none_or(|r| r.label != *label) {
            reports.push(Report::Remembered {
                path: path.to_owned(),
                level: label.level.clone(),
                doc: label.doc,
            });
        }
        remember(path, labeler, remembered.as_ref(), None, changes);
        return false;
    }
    match remembered {
        Some(r) if file.status == Status::Missing && r.state == State::Labeled => {
            if r.file.differs(&FileId::of(&meta)) {
                return true;
            }
            check(&file, &meta, &r, None, labeler, changes, reports)
        }
        _ => false,
    }
}

/// After the start-up reconciliation that began at `began`: forget paths that no longer
/// exist under `roots` (deleted while the watcher was stopped), among those remembered
/// before it.
pub(crate) fn forget_missing(
    memory: &LabelMemory,
    roots: &[PathBuf],
    began: i64,
    changes: &mut Vec<Change>,
    reports: &mut Vec<Report>,
) {
    for root in roots {
        let mut chunk = Vec::with_capacity(CHECK_CHUNK);
        let listed = memory.each_path_under(root, began, |path| {
            chunk.push(path);
            if chunk.len() == CHECK_CHUNK {
                forget_vanished(&mut chunk, changes);
            }
        });
        forget_vanished(&mut chunk, changes);
        if let Err(e) = listed {
            reports.push(Report::failed_anywhere(e));
        }
    }
}

/// How many remembered paths [`forget_missing`] looks up at a time.
const CHECK_CHUNK: usize = 4096;

/// Forgets the paths of `paths` that no longer exist (looked up on every core), leaving
/// `paths` empty.
fn forget_vanished(paths: &mut Vec<PathBuf>, changes: &mut Vec<Change>) {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let share = paths.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let lookups: Vec<_> = paths
            .chunks(share)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .filter(|p| fuda_core::longpath::symlink_metadata(p).is_err())
                        .cloned()
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for lookup in lookups {
            // A lookup that could not finish forgets nothing.
            changes.extend(
                lookup
                    .join()
                    .unwrap_or_default()
                    .into_iter()
                    .map(Change::Forget),
            );
        }
    });
    paths.clear();
}
