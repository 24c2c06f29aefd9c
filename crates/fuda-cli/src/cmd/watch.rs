//! `fuda watch DIR…`: the file-server hook. Labels every file that lands in the trees.
//!
//! How it decides that a file is finished: inotify's `IN_CLOSE_WRITE` (a writer closed
//! it), a rename or move into the tree, or a file found by a walk; then the file must stay
//! quiet for the settle window (`--settle-ms`, default 300 ms: no further write events
//! and a modification time at least that old) before it is read. A writer that keeps the
//! file open and pauses longer than the settle window between writes can still be labeled
//! early; the label is then raised (or re-signed) when the writer closes the file.
//!
//! What it ignores: attribute changes (`IN_ATTRIB`: its own xattr labels, chmod, touch)
//! as far as classifying goes — they only update the label memory —, its own atomic
//! rewrites of Office documents (recognised by inode, size, mtime and birth time),
//! fuda's temporary files and `.fuda` index, and editor temporaries (`~$x.docx`,
//! `.~lock.x#`, `*.tmp`, `*~`, `.#x`, `*.swp`).
//!
//! Reconciliation: on start every file in the trees is classified (files labeled before
//! are left as they are unless a rule raises them). Overflow: when the kernel's inotify
//! queue overflows (`IN_Q_OVERFLOW`) or fuda's own event queue is full (bounded by
//! `FUDA_WATCH_QUEUE` events, default 65,536), events were lost; the watcher logs an
//! `overflow` event and rescans the trees.
//!
//! Label memory (labels that survive editing): every label the watcher sees or writes is
//! recorded in a small SQLite file (`--memory`, default
//! `$XDG_STATE_HOME/fuda/watch/<hash of the roots>.sqlite`). When a labeled file is
//! replaced at its path — an editor renamed a new file over it, a tool deleted and
//! re-created it, the Office `~$`/`.tmp` or LibreOffice `.~lock` + temp-file dance — the
//! new file gets the remembered label back (same document id, owner and method, signed
//! anew for the new content); if the new content carries a lower label of its own, the
//! higher one is kept and the downgrade is flagged. A path whose file went away keeps its
//! remembered label for `--restore-window` seconds. See [`persist`].
//!
//! Every action is one JSON line on stderr: `started`, `reconciled`, `watching`,
//! `labeled`, `kept`, `restored`, `downgrade-flagged`, `lost`, `failed`, `overflow`,
//! `rescanned`, `stopped`. SIGTERM or SIGINT stops it cleanly (exit 0) after the batch
//! in progress.

mod persist;

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};
use fuda_classify::memory::{self, Change, FileId, Hint, LabelMemory, Remembered};
use fuda_core::labeling::{Labeler, SetOutcome, StorePreference};
use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RenameMode};
use notify::{Event, EventKind, RecursiveMode, Watcher};
use rayon::prelude::*;

use super::classify::classifier;
use crate::config::Session;
use crate::output::timestamp;
use crate::walk;
use fuda_keyd::audit::LabelChange;

#[derive(clap::Args)]
pub struct Args {
    /// Directories to watch (recursively).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Use this policy file instead of the configured one.
    #[arg(long)]
    policy: Option<String>,
    /// How long a file must stay quiet after its last write before it is labeled.
    #[arg(long, default_value_t = 300)]
    settle_ms: u64,
    /// Worker threads (0 = one per core).
    #[arg(short, long, default_value_t = 0)]
    jobs: usize,
    /// Where labels of non-Office files go: xattr, auto, sidecar [default: from config].
    #[arg(long, value_parser = ["xattr", "auto", "sidecar"])]
    store: Option<String>,
    /// Also log files that no rule matched and files left as they were.
    #[arg(short, long)]
    verbose: bool,
    /// The label memory (SQLite) [default: $XDG_STATE_HOME/fuda/watch/<hash of the
    /// roots>.sqlite].
    #[arg(long, value_name = "PATH")]
    memory: Option<PathBuf>,
    /// Seconds a deleted or moved-away file's label is kept for a file that comes back to
    /// the same path.
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    restore_window: u64,
}

/// One JSON line on stderr.
fn log(mut record: serde_json::Value) {
    // Sub-second times: latency from a file's close to its label is what people measure.
    let now = time::OffsetDateTime::now_utc();
    record["at"] = serde_json::json!(now
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| timestamp(now.unix_timestamp())));
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{record}");
}

/// Editor and office temporaries, and fuda's own files.
fn ignored(path: &Path) -> bool {
    if walk::is_fuda_internal(path) {
        return true;
    }
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let lower = name.to_ascii_lowercase();
    name.starts_with("~$")
        || name.starts_with(".~lock.")
        || name.starts_with(".#")
        || name.ends_with('~')
        || lower.ends_with(".tmp")
        || lower.ends_with(".swp")
        || lower.ends_with(".swx")
        || lower.ends_with(".part")
        || lower.ends_with(".crdownload")
}

/// What a file looked like after the watcher wrote to it: inode, size, modification and
/// birth time (inode numbers are reused at once, so `tar x` of an unchanged file looks the
/// same but for its birth).
type Stat = (u64, u64, i64, Option<i64>);

fn stat_of(m: &std::fs::Metadata) -> Stat {
    (
        m.ino(),
        m.size(),
        m.mtime() * 1_000_000_000 + m.mtime_nsec(),
        FileId::of(m).born,
    )
}

enum Outcome {
    Postpone(Duration),
    Own,
    Gone,
    Done(Option<Stat>),
    /// Labeled by the rules: done, and the change goes to the audit log.
    Labeled(Option<Stat>, Box<LabelChange>),
}

pub fn run(args: Args) -> Result<ExitCode> {
    let session = Session::load(args.policy.as_deref())?;
    let policy = &session.policy;
    let mut classifier = classifier(policy)?;
    // Label what was classified: the digest comes from the same read.
    classifier.hash_content = true;
    let preference = match args.store.as_deref() {
        Some("sidecar") => StorePreference::Sidecar,
        Some("auto") => StorePreference::Auto,
        Some(_) => StorePreference::Xattr,
        None => session.config.store_preference()?,
    };
    let labeler = Labeler {
        policy,
        identity: &session.identity,
        trust: &session.trust,
        dept: session.config.dept.clone(),
        preference,
        memo: Some(&session.memo),
        digests: None,
    };
    let mut roots = Vec::new();
    for p in &args.paths {
        let meta = std::fs::metadata(p).with_context(|| format!("{}", p.display()))?;
        if !meta.is_dir() {
            bail!(
                "{}: not a directory; fuda watch watches directories",
                p.display()
            );
        }
        roots.push(std::path::absolute(p)?);
    }
    let memory_path = match &args.memory {
        Some(p) => std::path::absolute(p)?,
        None => memory::default_location(&crate::config::state_dir()?, &roots),
    };
    let mut memory = LabelMemory::open(&memory_path)?;
    let mut book = persist::Book::new(Duration::from_secs(args.restore_window));
    let settle = Duration::from_millis(args.settle_ms);
    let bound = std::env::var("FUDA_WATCH_QUEUE")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(65_536);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs)
        .build()?;

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }

    let overflow = Arc::new(AtomicBool::new(false));
    let (tx, rx) = sync_channel::<Event>(bound);
    let flag = Arc::clone(&overflow);
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<Event>| match res {
        Ok(ev) if ev.need_rescan() => flag.store(true, Ordering::SeqCst),
        Ok(ev) => {
            if let Err(TrySendError::Full(_)) = tx.try_send(ev) {
                flag.store(true, Ordering::SeqCst);
            }
        }
        Err(_) => flag.store(true, Ordering::SeqCst),
    })
    .context("cannot start inotify")?;
    for root in &roots {
        watcher
            .watch(root, RecursiveMode::Recursive)
            .with_context(|| {
                format!(
                    "cannot watch {} (raise fs.inotify.max_user_watches for large trees)",
                    root.display()
                )
            })?;
    }
    log(serde_json::json!({
        "event": "started", "roots": roots.iter().map(fuda_core::pathname::JsonPath::new).collect::<Vec<_>>(), "policy": format!("{policy}"),
        "identity": session.identity.name(), "settle_ms": args.settle_ms, "queue": bound,
        "memory": fuda_core::pathname::JsonPath::new(&memory_path),
    }));

    let mut pending: HashMap<PathBuf, Instant> = HashMap::new();
    let mut own: HashMap<PathBuf, Stat> = HashMap::new();
    let mut rewalk: Vec<(PathBuf, Instant)> = Vec::new();

    // Reconcile: everything already in the trees.
    let started = Instant::now();
    let n = schedule_walk(&roots, &mut pending, Instant::now());
    let process = |pending: &mut HashMap<PathBuf, Instant>,
                   own: &mut HashMap<PathBuf, Stat>,
                   memory: &mut LabelMemory,
                   book: &mut persist::Book| {
        // Moves first: a file renamed inside the trees must find its label under the new name.
        commit(memory, &mut book.changes);
        let now = Instant::now();
        let ready: Vec<PathBuf> = pending
            .iter()
            .filter(|(_, d)| **d <= now)
            .map(|(p, _)| p.clone())
            .collect();
        let mut work = Vec::with_capacity(ready.len());
        for p in ready {
            pending.remove(&p);
            let remembered = match memory.recall(&p) {
                Ok(r) => r,
                Err(e) => {
                    log(
                        serde_json::json!({"event": "failed", "path": fuda_core::pathname::JsonPath::new(&p), "error": e.to_string()}),
                    );
                    None
                }
            };
            let hint = book.hints.remove(&p);
            work.push((p, remembered, hint));
        }
        let worker = Worker {
            classifier: &classifier,
            labeler: &labeler,
            own,
            settle,
            verbose: args.verbose,
        };
        let results: Vec<(PathBuf, Option<Hint>, Outcome, Vec<Change>)> = pool.install(|| {
            work.into_par_iter()
                .map(|(path, remembered, hint)| {
                    let mut changes = Vec::new();
                    let outcome = worker.handle(&path, (remembered.as_ref(), hint), &mut changes);
                    (path, hint, outcome, changes)
                })
                .collect()
        });
        let now = Instant::now();
        let mut audits = Vec::new();
        for (path, hint, mut outcome, changes) in results {
            book.changes.extend(changes);
            if let Outcome::Labeled(stat, change) = outcome {
                audits.push(*change);
                outcome = Outcome::Done(stat);
            }
            match outcome {
                Outcome::Postpone(wait) => {
                    pending.insert(path.clone(), now + wait);
                    if let Some(h) = hint {
                        book.hints.entry(path).or_insert(h);
                    }
                }
                Outcome::Done(Some(stat)) => {
                    if own.len() > 200_000 {
                        own.clear();
                    }
                    own.insert(path, stat);
                }
                Outcome::Done(None) | Outcome::Own | Outcome::Gone | Outcome::Labeled(..) => {}
            }
        }
        if let Err(e) = crate::keyservice::audit_label_changes(&session, &audits) {
            log(serde_json::json!({
                "event": "audit-failed", "labels": audits.len(),
                "error": format!("the key service's audit log did not record these labels: {e:#}"),
                "paths": audits.iter().map(|c| &c.path).collect::<Vec<_>>(),
            }));
        }
        // Attribute changes: a label set, changed or removed in place.
        for path in book.due_attributes(pending) {
            let mut changes = Vec::new();
            if persist::refresh(&path, &labeler, memory, &mut changes) {
                pending.insert(path, now);
            }
            book.changes.extend(changes);
        }
        book.sweep();
        commit(memory, &mut book.changes);
    };
    while !pending.is_empty() && !stop.load(Ordering::SeqCst) {
        process(&mut pending, &mut own, &mut memory, &mut book);
        if !pending.is_empty() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    persist::forget_missing(&memory, &roots, &mut book.changes);
    commit(&mut memory, &mut book.changes);
    log(
        serde_json::json!({"event": "reconciled", "files": n, "seconds": started.elapsed().as_secs_f64()}),
    );
    log(
        serde_json::json!({"event": "watching", "roots": roots.iter().map(fuda_core::pathname::JsonPath::new).collect::<Vec<_>>()}),
    );

    while !stop.load(Ordering::SeqCst) {
        if overflow.swap(false, Ordering::SeqCst) {
            log(
                serde_json::json!({"event": "overflow", "action": "rescanning the trees: events were lost"}),
            );
            while rx.try_recv().is_ok() {}
            let t = Instant::now();
            let n = schedule_walk(&roots, &mut pending, Instant::now());
            log(
                serde_json::json!({"event": "rescanned", "files": n, "seconds": t.elapsed().as_secs_f64()}),
            );
        }
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) = rewalk.drain(..).partition(|(_, at)| *at <= now);
        rewalk = later;
        for (dir, _) in due {
            schedule_walk(&[dir], &mut pending, now);
        }
        let wait = pending
            .values()
            .chain(rewalk.iter().map(|(_, at)| at))
            .copied()
            .chain(book.next_due())
            .min()
            .map_or(Duration::from_millis(200), |d| {
                d.saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(200))
            });
        match rx.recv_timeout(wait) {
            Ok(ev) => {
                book.on_event(&ev, Instant::now() + settle);
                on_event(ev, &mut pending, &mut rewalk, settle);
                // Take whatever else is queued before doing work.
                while let Ok(ev) = rx.try_recv() {
                    book.on_event(&ev, Instant::now() + settle);
                    on_event(ev, &mut pending, &mut rewalk, settle);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        process(&mut pending, &mut own, &mut memory, &mut book);
    }
    drop(watcher);
    commit(&mut memory, &mut book.changes);
    session.save_memo();
    log(serde_json::json!({"event": "stopped", "pending": pending.len()}));
    Ok(ExitCode::SUCCESS)
}

/// Writes the batch of memory changes in one transaction; a failure is logged (the
/// watcher re-learns labels from the files at its next start) and the batch dropped.
fn commit(memory: &mut LabelMemory, changes: &mut Vec<Change>) {
    if let Err(e) = memory.commit(changes) {
        log(serde_json::json!({"event": "failed", "error": e.to_string()}));
    }
    changes.clear();
}

/// Schedules every file under `roots` (or the file `roots` names) at `at`.
fn schedule_walk(roots: &[PathBuf], pending: &mut HashMap<PathBuf, Instant>, at: Instant) -> usize {
    let (files, problems) = walk::expand_lenient(roots);
    for p in problems {
        log(serde_json::json!({"event": "failed", "error": p}));
    }
    let mut n = 0;
    for f in files {
        if !ignored(&f) {
            pending.entry(f).or_insert(at);
            n += 1;
        }
    }
    n
}

fn on_event(
    ev: Event,
    pending: &mut HashMap<PathBuf, Instant>,
    rewalk: &mut Vec<(PathBuf, Instant)>,
    settle: Duration,
) {
    let later = Instant::now() + settle;
    match ev.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write))
        | EventKind::Create(CreateKind::File) => {
            for p in ev.paths {
                if !ignored(&p) {
                    pending.insert(p, later);
                }
            }
        }
        EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Both))
        | EventKind::Create(_) => {
            // For Both, the last path is the new name.
            if let Some(p) = ev.paths.last() {
                match fuda_core::longpath::symlink_metadata(p) {
                    Ok(m) if m.is_dir() => {
                        // A file created in a new folder before inotify watched it has no
                        // event of its own: walk the folder now, and once more later.
                        schedule_walk(std::slice::from_ref(p), pending, later);
                        rewalk.push((p.clone(), later));
                    }
                    Ok(m) if m.is_file() && !ignored(p) => {
                        pending.insert(p.clone(), later);
                    }
                    _ => {}
                }
            }
        }
        EventKind::Modify(ModifyKind::Data(_)) | EventKind::Modify(ModifyKind::Any) => {
            for p in ev.paths {
                if let Some(d) = pending.get_mut(&p) {
                    *d = later;
                }
            }
        }
        EventKind::Modify(ModifyKind::Name(RenameMode::From)) | EventKind::Remove(_) => {
            for p in ev.paths {
                pending.remove(&p);
            }
        }
        // IN_ATTRIB (our own xattr writes, chmod: the label memory follows them, see
        // persist::Book), opens and reads.
        _ => {}
    }
}

/// What labeling a file needs, shared by the workers of one batch.
struct Worker<'a> {
    classifier: &'a fuda_classify::rules::Classifier,
    labeler: &'a Labeler<'a>,
    /// The files this watcher labeled last, as it left them.
    own: &'a HashMap<PathBuf, Stat>,
    settle: Duration,
    verbose: bool,
}

impl Worker<'_> {
    /// Labels `path` if a rule applies, restores a label a save stripped (`remembered`,
    /// `hint`), and records what the label memory must learn in `changes`.
    fn handle(
        &self,
        path: &Path,
        (remembered, hint): (Option<&Remembered>, Option<Hint>),
        changes: &mut Vec<Change>,
    ) -> Outcome {
        let outcome = self.label_file(path, (remembered, hint), changes);
        if matches!(outcome, Outcome::Done(_) | Outcome::Labeled(..)) {
            persist::remember(path, self.labeler, remembered, changes);
        }
        outcome
    }

    fn label_file(
        &self,
        path: &Path,
        (remembered, hint): (Option<&Remembered>, Option<Hint>),
        changes: &mut Vec<Change>,
    ) -> Outcome {
        let Worker {
            classifier,
            labeler,
            own,
            settle,
            verbose,
        } = *self;
        let meta = match fuda_core::longpath::symlink_metadata(path) {
            Ok(m) if m.is_file() => m,
            _ => return Outcome::Gone,
        };
        let age = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .unwrap_or(settle);
        if age < settle {
            return Outcome::Postpone(settle - age);
        }
        if own.get(path) == Some(&stat_of(&meta)) {
            return Outcome::Own;
        }
        let restored =
            remembered.is_some_and(|r| persist::check(path, &meta, r, hint, labeler, changes));
        let written = |restored: bool| {
            if restored {
                fuda_core::longpath::symlink_metadata(path)
                    .ok()
                    .map(|m| stat_of(&m))
            } else {
                None
            }
        };
        // A label the rules did not change: a manual one, or one higher than theirs.
        let kept = |level: &str, reason: &str| {
            if verbose {
                log(
                    serde_json::json!({"event": "kept", "path": fuda_core::pathname::JsonPath::new(&path), "level": level, "reason": reason}),
                );
            }
            Outcome::Done(written(restored))
        };
        let result = classifier
            .classify_file(path)
            .map_err(anyhow::Error::from)
            .and_then(|c| {
                if let Some(p) = &c.problem {
                    log(serde_json::json!({"event": "note", "path": fuda_core::pathname::JsonPath::new(&path), "problem": p}));
                }
                Ok((fuda_classify::rules::apply_file(labeler, &c)?, c))
            });
        match result {
            Ok((
                Some(SetOutcome::Applied {
                    previous,
                    downgrade,
                    label,
                    store,
                    ..
                }),
                _,
            )) => {
                log(serde_json::json!({
                    "event": "labeled", "path": fuda_core::pathname::JsonPath::new(&path), "level": label.level, "previous": previous,
                    "rule": label.rule, "flags": label.flags, "evidence": label.evidence, "store": store,
                    "doc": label.doc,
                }));
                let change = crate::keyservice::label_set_change(
                    path,
                    &label,
                    previous,
                    downgrade,
                    &crate::keyservice::hostname(),
                );
                Outcome::Labeled(
                    fuda_core::longpath::symlink_metadata(path)
                        .ok()
                        .map(|m| stat_of(&m)),
                    Box::new(change),
                )
            }
            Ok((Some(SetOutcome::KeptManual { level }), _)) => kept(&level, "manual"),
            Ok((Some(SetOutcome::KeptHigher { level }), _)) => kept(&level, "higher"),
            Ok((None, _)) => {
                if verbose {
                    log(
                        serde_json::json!({"event": "no-rule", "path": fuda_core::pathname::JsonPath::new(&path)}),
                    );
                }
                Outcome::Done(written(restored))
            }
            Err(e) => {
                // A file that vanished or was replaced mid-way is not a failure.
                if fuda_core::longpath::metadata(path).is_err() {
                    return Outcome::Gone;
                }
                log(
                    serde_json::json!({"event": "failed", "path": fuda_core::pathname::JsonPath::new(&path), "error": format!("{e:#}")}),
                );
                Outcome::Done(written(restored))
            }
        }
    }
}
