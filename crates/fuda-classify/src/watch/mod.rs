//! What `fuda watch` decides when files appear, change, move or lose their labels: plain
//! logic, events in and decisions out (docs/file-server.md). The event source (inotify
//! through `notify` in the CLI), signals and printing stay with the caller.
//!
//! How a file is judged finished: a writer closed it ([`FsEvent::Closed`]), it was
//! created, renamed or moved into the trees, or a walk found it ([`Engine::found`]); then
//! it must stay quiet for the settle window — no further write event, and a modification
//! time at least that old — before it is read. Bursts of events on one file coalesce into
//! one handling. A new folder is walked at once and again one settle window later (files
//! created in it before it was watched have no event of their own).
//!
//! What it ignores ([`ignored`]): attribute changes as far as classifying goes (they only
//! update the label memory, at once: a label set just before an editor's save-by-rename
//! is remembered and put back on the saved file), its own writes (recognised by inode, size, modification and
//! birth time), fuda's temporary files and `.fuda` index, and editor temporaries.
//!
//! Labels that survive editing: every label the watcher sees or writes is recorded in the
//! [`LabelMemory`]. When a labeled file is replaced at its path — an editor renamed a new
//! file over it, a tool deleted and re-created it — the new file gets the remembered label
//! back (same document id, owner and method, signed anew for the new content); if the new
//! content carries a lower label of its own, the higher one is kept and the downgrade
//! reported. A path whose file went away keeps its remembered label for the restore
//! window. An older label of the remembered document written back in place (a replay) is
//! reported and the remembered one put back.
//!
//! ```no_run
//! # fn demo(labeling: fuda_classify::watch::Labeling<'_>, memory: &mut fuda_classify::memory::LabelMemory) {
//! use std::time::{Duration, Instant};
//! use fuda_classify::watch::{Engine, FsEvent};
//!
//! let mut engine = Engine::new(Duration::from_millis(300), Duration::from_secs(300));
//! engine.event(FsEvent::Closed("/srv/share/見積書.xlsx".into()), Instant::now());
//! std::thread::sleep(Duration::from_millis(400));
//! let batch = engine.batch(Instant::now(), labeling, memory, |jobs, handle, sink| {
//!     handle(jobs).into_iter().for_each(sink)
//! });
//! for report in &batch.reports {
//!     println!("{}", serde_json::to_string(report).unwrap());
//! }
//! # }
//! ```

mod ignore;
mod persist;
mod report;
mod worker;

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use ignore::{ignored, is_fuda_internal};
pub use report::Report;
pub use worker::{Applied, Handled, Job, Labeling};

use crate::memory::{Change, FileId, LabelMemory};
use persist::Book;
use worker::{Outcome, Worker};

/// A file-system event, as the caller's event source reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FsEvent {
    /// A writer closed the file after writing (`IN_CLOSE_WRITE`).
    Closed(PathBuf),
    /// A file was created.
    CreatedFile(PathBuf),
    /// Something whose kind the source does not say (file or folder) was created.
    Created(PathBuf),
    /// Something was renamed or moved to this path (its old name is unknown or outside
    /// the trees).
    MovedTo(PathBuf),
    /// Something was renamed or moved away from this path.
    MovedFrom(PathBuf),
    /// A rename inside the trees.
    Renamed {
        /// The old path.
        from: PathBuf,
        /// The new path.
        to: PathBuf,
    },
    /// Content was written.
    Written(PathBuf),
    /// Something was removed.
    Removed(PathBuf),
    /// Attributes changed (extended attributes, mode, times).
    Attributes(PathBuf),
}

/// What a file looked like after the watcher wrote to it: inode, size, modification,
/// birth and change time (inode numbers are reused at once, so `tar x` of an unchanged
/// file looks the same but for its birth; a label set by someone else since changes the
/// change time).
pub(crate) type Stat = (u64, u64, i64, Option<i64>, i64);

pub(crate) fn stat_of(m: &std::fs::Metadata) -> Stat {
    (
        m.ino(),
        m.size(),
        m.mtime() * 1_000_000_000 + m.mtime_nsec(),
        FileId::of(m).born,
        m.ctime() * 1_000_000_000 + m.ctime_nsec(),
    )
}

/// The files the watcher wrote last, as it left them: the newest writes and the ones
/// before them, so that starting over never forgets the writes whose events are still on
/// their way.
#[derive(Default)]
pub(crate) struct OwnWrites {
    recent: HashMap<PathBuf, Stat>,
    older: HashMap<PathBuf, Stat>,
}

impl OwnWrites {
    /// How the watcher left `path`, if it wrote to it lately.
    pub fn get(&self, path: &std::path::Path) -> Option<&Stat> {
        self.recent.get(path).or_else(|| self.older.get(path))
    }

    fn insert(&mut self, path: PathBuf, stat: Stat) {
        if self.recent.len() >= OWN_LIMIT / 2 {
            self.older = std::mem::take(&mut self.recent);
        }
        self.recent.insert(path, stat);
    }
}

/// What one batch did.
#[derive(Debug, Default)]
pub struct Batch {
    /// What happened, file by file, in order.
    pub reports: Vec<Report>,
    /// Labels the rules applied: the audit log must hear of them.
    pub labeled: Vec<Applied>,
}

/// The watcher's state: files waiting to settle, folders to walk, what it wrote, and what
/// it saw happen at paths (for the label memory).
pub struct Engine {
    settle: Duration,
    /// Files waiting, and when they are due.
    pending: HashMap<PathBuf, Instant>,
    /// New folders to walk, and when.
    walks: Vec<(PathBuf, Instant)>,
    /// The files this watcher labeled last, as it left them.
    own: OwnWrites,
    book: Book,
    /// The most files one batch handles.
    most: usize,
}

/// How many of its own writes the watcher remembers, at most: enough for their events to
/// come back (several walk chunks, or minutes of a busy share), few enough to stay a few
/// megabytes on a share of millions of files.
const OWN_LIMIT: usize = 32_768;

impl Engine {
    /// An engine that waits `settle` after a file's last write, and keeps a vacated path's
    /// label for `restore_window` for a file that comes back.
    pub fn new(settle: Duration, restore_window: Duration) -> Engine {
        Engine {
            settle,
            pending: HashMap::new(),
            walks: Vec::new(),
            own: OwnWrites::default(),
            book: Book::new(restore_window),
            most: usize::MAX,
        }
    }

    /// An engine whose batches handle at most `most` files (those due first): the echoes
    /// of its own label writes in one batch then stay within an event queue's bound.
    pub fn with_batch_limit(mut self, most: usize) -> Engine {
        self.most = most.max(1);
        self
    }

    /// Takes in one event seen at `now`. Returns true for an attribute change that must be
    /// learnt before the events after it; the echo of the watcher's own label write (the
    /// file still as it left it) is dropped, so its own work never floods the memory.
    pub fn event(&mut self, ev: FsEvent, now: Instant) -> bool {
        if let FsEvent::Attributes(p) = &ev {
            if self.is_own(p) {
                return false;
            }
        }
        let attributes = matches!(ev, FsEvent::Attributes(_));
        let later = now + self.settle;
        self.book.on_event(&ev, now);
        match ev {
            FsEvent::Closed(p) | FsEvent::CreatedFile(p) => {
                if !ignored(&p) {
                    self.pending.insert(p, later);
                }
            }
            FsEvent::MovedTo(p) | FsEvent::Created(p) | FsEvent::Renamed { to: p, .. } => {
                match fuda_core::longpath::symlink_metadata(&p) {
                    Ok(m) if m.is_dir() => {
                        // Walk now, and once more later.
                        self.walks.push((p.clone(), now));
                        self.walks.push((p, later));
                    }
                    Ok(m) if m.is_file() && !ignored(&p) => {
                        self.pending.insert(p, later);
                    }
                    _ => {}
                }
            }
            FsEvent::Written(p) => {
                if let Some(due) = self.pending.get_mut(&p) {
                    *due = later;
                }
            }
            FsEvent::MovedFrom(p) | FsEvent::Removed(p) => {
                self.pending.remove(&p);
            }
            // Attribute changes only concern the label memory (the book).
            FsEvent::Attributes(_) => {}
        }
        attributes
    }

    /// Whether the file at `path` is still exactly as the watcher's last write left it.
    fn is_own(&self, path: &std::path::Path) -> bool {
        self.own.get(path).is_some_and(|own| {
            fuda_core::longpath::symlink_metadata(path).is_ok_and(|m| stat_of(&m) == *own)
        })
    }

    /// Schedules the files a walk found (all the trees at start or after lost events, or
    /// a new folder) at `at`, leaving out ignored ones; returns how many.
    pub fn found(&mut self, files: impl IntoIterator<Item = PathBuf>, at: Instant) -> usize {
        let mut n = 0;
        for f in files {
            if !ignored(&f) {
                self.pending.entry(f).or_insert(at);
                n += 1;
            }
        }
        n
    }

    /// The folders due to be walked at `now` (the caller walks them and calls
    /// [`Engine::found`]).
    pub fn due_walks(&mut self, now: Instant) -> Vec<PathBuf> {
        let (due, later): (Vec<_>, Vec<_>) = self.walks.drain(..).partition(|(_, at)| *at <= now);
        self.walks = later;
        due.into_iter().map(|(dir, _)| dir).collect()
    }

    /// How many files are waiting.
    pub fn waiting(&self) -> usize {
        self.pending.len()
    }

    /// When something is due next (a file, a walk or an attribute change).
    pub fn next_due(&self) -> Option<Instant> {
        self.pending
            .values()
            .chain(self.walks.iter().map(|(_, at)| at))
            .copied()
            .chain(self.book.next_due())
            .min()
    }

    /// Handles every file due at `now`: moves first (a renamed file finds its label under
    /// the new name), then the settled files — through `run`, which applies the handler to
    /// the jobs, a group at a time (in parallel or not: each group looks up its remembered
    /// labels itself, together), and gives each result to the sink on the calling thread
    /// as it comes, in any order —, then
    /// attribute changes. What the label memory learns is committed while the workers go
    /// on, a transaction per 1,024 changes, and the rest at the end.
    pub fn batch<R>(
        &mut self,
        now: Instant,
        labeling: Labeling<'_>,
        memory: &mut LabelMemory,
        run: R,
    ) -> Batch
    where
        R: FnOnce(Vec<Job>, &(dyn Fn(Vec<Job>) -> Vec<Handled> + Sync), &mut dyn FnMut(Handled)),
    {
        let mut out = Batch::default();
        self.commit(memory, &mut out.reports);
        let mut ready: Vec<(PathBuf, Instant)> = self
            .pending
            .iter()
            .filter(|(_, due)| **due <= now)
            .map(|(p, due)| (p.clone(), *due))
            .collect();
        if ready.len() > self.most {
            ready.select_nth_unstable_by_key(self.most, |(_, due)| *due);
            ready.truncate(self.most);
        }
        let mut jobs = Vec::with_capacity(ready.len());
        for (path, _) in ready {
            self.pending.remove(&path);
            let hint = self.book.hints.remove(&path);
            jobs.push(Job { path, hint });
        }
        // The workers read the writes of earlier batches: this batch's are noted on the
        // side and added once they are done.
        let mut own = Vec::new();
        let mut learnt = Vec::new();
        let worker = Worker {
            labeling,
            own: &self.own,
            settle: self.settle,
            memory: memory.readers(),
        };
        let (pending, hints) = (&mut self.pending, &mut self.book.hints);
        let memory_now: &LabelMemory = memory;
        run(
            jobs,
            &|group| worker.handle_all(group),
            &mut |h: Handled| {
                learnt.extend(h.changes);
                if learnt.len() >= COMMIT_GROUP {
                    commit_into(memory_now, &mut learnt, &mut out.reports);
                }
                out.reports.extend(h.reports);
                let stat = match h.outcome {
                    Outcome::Postpone(wait) => {
                        pending.insert(h.job_path.clone(), now + wait);
                        if let Some(hint) = h.hint {
                            hints.entry(h.job_path.clone()).or_insert(hint);
                        }
                        None
                    }
                    Outcome::Labeled(stat, applied) => {
                        out.labeled.push(*applied);
                        stat
                    }
                    Outcome::Done(stat) => stat,
                    Outcome::Own | Outcome::Gone => None,
                };
                if let Some(stat) = stat {
                    own.push((h.job_path, stat));
                }
            },
        );
        for (path, stat) in own {
            self.own.insert(path, stat);
        }
        self.book.changes.append(&mut learnt);
        // Attribute changes: a label set, changed or removed in place.
        for path in self.book.due_attributes(&self.pending, now) {
            let mut changes = Vec::new();
            if persist::refresh(
                &path,
                labeling.labeler,
                memory,
                &mut changes,
                &mut out.reports,
            ) {
                self.pending.insert(path, now);
            }
            self.book.changes.extend(changes);
        }
        self.book.sweep(now);
        self.commit(memory, &mut out.reports);
        out
    }

    /// After the start-up reconciliation that began at `began` (Unix seconds): forgets
    /// remembered paths under `roots` that no longer exist (deleted while the watcher was
    /// stopped). Paths whose label it remembered after `began` are not looked at: the
    /// reconciliation saw them, and their deletion since is an event of its own.
    pub fn forget_missing(
        &mut self,
        memory: &mut LabelMemory,
        roots: &[PathBuf],
        began: i64,
    ) -> Vec<Report> {
        let mut reports = Vec::new();
        persist::forget_missing(memory, roots, began, &mut self.book.changes, &mut reports);
        self.commit(memory, &mut reports);
        reports
    }

    /// Writes the memory changes waiting in one transaction; a failure is reported (the
    /// watcher re-learns labels from the files at its next start) and the changes dropped.
    pub fn commit(&mut self, memory: &mut LabelMemory, reports: &mut Vec<Report>) {
        commit_into(memory, &mut self.book.changes, reports);
    }
}

/// How many label-memory changes a batch commits at a time while its workers go on.
const COMMIT_GROUP: usize = 1024;

/// Writes `changes` to `memory` in one transaction and empties it; a failure is reported
/// (the watcher re-learns labels from the files at its next start) and the changes dropped.
fn commit_into(memory: &LabelMemory, changes: &mut Vec<Change>, reports: &mut Vec<Report>) {
    if let Err(e) = memory.commit(changes) {
        reports.push(Report::failed_anywhere(e));
    }
    changes.clear();
}

#[cfg(test)]
mod tests;
