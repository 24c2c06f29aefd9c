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
//! as far as classifying goes — they only update the label memory, at once —, its own atomic
//! rewrites of Office documents (recognised by inode, size, mtime and birth time),
//! fuda's temporary files and `.fuda` index, and editor temporaries (`~$x.docx`,
//! `.~lock.x#`, `*.tmp`, `*~`, `.#x`, `*.swp`).
//!
//! Reconciliation: on start every file in the trees is classified (files labeled before
//! are left as they are unless a rule raises them), a chunk of files at a time so that
//! memory does not grow with the share. Overflow: when the kernel's inotify
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
//! remembered label for `--restore-window` seconds. The decisions are
//! [`fuda_classify::watch`]'s; this module maps inotify events to its events, handles
//! signals and prints what it reports.
//!
//! Every action is one JSON line on stderr, `{"type": "event", "event": …, "at": …}`: `started`, `reconciled`, `watching`,
//! `labeled`, `kept`, `restored`, `downgrade-flagged`, `lost`, `failed`, `overflow`,
//! `rescanned`, `stopped`, and with `--report` `reported` and `report-failed`. SIGTERM or SIGINT stops it cleanly (exit 0) after the batch
//! in progress.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use fuda_classify::memory::{self, LabelMemory};
use fuda_classify::watch::{Applied, Engine, FsEvent, Labeling, Report};
use fuda_core::pathname::{escaped, JsonPath};
use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RenameMode};
use notify::{Event, EventKind, RecursiveMode, Watcher};
use rayon::prelude::*;
use serde::Serialize;

use super::classify::classifier;
use super::watch_log::{log, log_all};
use crate::args::{JobsArgs, PolicyArgs, StoreArgs};
use crate::config::Session;
use crate::report::stream::Streamer;
use crate::walk;

#[derive(clap::Args)]
pub struct Args {
    /// Directories to watch (recursively).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    policy: PolicyArgs,
    /// How long a file must stay quiet after its last write before it is labeled.
    #[arg(long, default_value_t = 300)]
    settle_ms: u64,
    #[command(flatten)]
    jobs: JobsArgs,
    #[command(flatten)]
    store: StoreArgs,
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
    /// Also protect (encrypt, through the key service) every settled file whose level
    /// requires it: owned by the label's owner, else the file's owner in the file system;
    /// the original goes only once the protected copy matched it.
    #[arg(long)]
    protect: bool,
    /// Also send the files it handles (labeled, restored, kept, lost …) to the key
    /// service's company file index, within about a second; queued and sent again while
    /// the service cannot be reached. Needs this machine enrolled with `fuda init
    /// --service URL --enroll CODE --machine NAME`.
    #[arg(long)]
    report: bool,
}

/// The watcher's own events (what the engine reports is [`Report`]).
#[derive(Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
enum Status<'a> {
    Started {
        roots: Vec<JsonPath<'a>>,
        policy: String,
        identity: &'a str,
        settle_ms: u64,
        queue: usize,
        memory: JsonPath<'a>,
    },
    Reconciled {
        files: usize,
        seconds: f64,
    },
    Watching {
        roots: Vec<JsonPath<'a>>,
    },
    Overflow {
        action: &'static str,
    },
    Rescanned {
        files: usize,
        seconds: f64,
    },
    AuditFailed {
        labels: usize,
        error: String,
        paths: Vec<JsonPath<'a>>,
    },
    /// The key service could not be reached: the label changes wait in the local queue
    /// and go at the next batch that reaches it.
    AuditQueued {
        labels: usize,
        waiting: usize,
        queue: JsonPath<'a>,
        why: String,
    },
    Failed {
        error: String,
    },
    Stopped {
        pending: usize,
    },
    /// The key service's policy changed: files from now on are labelled by the new one's
    /// rules (files already labelled keep their labels; `fuda scan --apply` re-applies).
    PolicyChanged {
        from: String,
        to: String,
    },
    /// Folders deeper than inotify can watch (their path is over 4,096 bytes): files in
    /// them are labelled when a walk finds them (a new folder, a rescan, the next start,
    /// `fuda scan --apply`), not when they are written.
    Unwatched {
        folders: Vec<JsonPath<'a>>,
        note: &'static str,
    },
}

/// With `--report`: the files the reports concern go to the company file index.
fn note_all(reporter: Option<&Streamer>, reports: &[Report]) {
    if let Some(reporter) = reporter {
        for path in reports.iter().filter_map(Report::path) {
            reporter.note(path.to_owned());
        }
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    let _log = super::watch_log::Writer::start().context("cannot start the log's thread")?;
    let mut session = Session::load(args.policy.policy())?;
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
    let settle = Duration::from_millis(args.settle_ms);
    let bound = std::env::var("FUDA_WATCH_QUEUE")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(65_536);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.jobs)
        // Named for `top -H` and /proc: the threads that read, classify and label.
        .thread_name(|i| format!("fuda-label-{i}"))
        .build()?;

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }

    let reporter = if args.report {
        let policy = args.policy.policy().map(str::to_owned);
        Some(Streamer::start(policy, roots.clone(), log)?)
    } else {
        None
    };
    let inotify = Inotify::start(&roots, bound)?;
    let mut engine = Engine::new(settle, Duration::from_secs(args.restore_window))
        .with_batch_limit(inotify.chunk);
    log(&Status::Started {
        roots: roots.iter().map(JsonPath::new).collect(),
        policy: session.policy.to_string(),
        identity: session.identity.name(),
        settle_ms: args.settle_ms,
        queue: bound,
        memory: JsonPath::new(&memory_path),
    });

    // Under a key service the organisation's policy can change while the watcher runs:
    // each generation watches with one policy until the service's changes.
    let mut first = true;
    loop {
        let watching = Watching {
            args: &args,
            session: &session,
            roots: &roots,
            pool: &pool,
            stop: &stop,
            reporter: reporter.as_ref(),
        };
        let changed = watching.run(&inotify, &mut engine, &mut memory, first)?;
        first = false;
        match changed {
            None => break,
            Some(next) => {
                log(&Status::PolicyChanged {
                    from: session.policy.to_string(),
                    to: next.policy.to_string(),
                });
                session.save_memo();
                session = next;
            }
        }
    }
    drop(inotify);
    let mut reports = Vec::new();
    engine.commit(&mut memory, &mut reports);
    note_all(reporter.as_ref(), &reports);
    log_all(reports);
    if let Some(reporter) = reporter {
        reporter.stop();
    }
    session.save_memo();
    log(&Status::Stopped {
        pending: engine.waiting(),
    });
    Ok(ExitCode::SUCCESS)
}

/// How often a watcher under a key service asks whether the organisation's policy
/// changed (from its cache, which is fetched again after `orgpolicy::TTL`).
fn policy_check_interval() -> Duration {
    #[cfg(debug_assertions)]
    if let Some(ms) = std::env::var("FUDA_WATCH_POLICY_CHECK_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return Duration::from_millis(ms);
    }
    Duration::from_secs(30)
}

/// Which of the key service's policy versions is in force (version 0: the service holds
/// none yet); `None` without a key service, or when it cannot be told now.
fn policy_generation(session: &Session, args: &Args) -> Option<(String, u32)> {
    let service = session.config.service.as_ref()?;
    match crate::orgpolicy::in_force(&session.config, args.policy.policy()) {
        Ok(crate::orgpolicy::InForce {
            source: crate::config::PolicySource::Service { version, .. },
            ..
        }) => Some((service.url.clone(), version)),
        Ok(_) => Some((service.url.clone(), 0)),
        Err(_) => None,
    }
}

/// One generation of the watcher: one session (policy, identity, labeler).
struct Watching<'a> {
    args: &'a Args,
    session: &'a Session,
    roots: &'a [PathBuf],
    pool: &'a rayon::ThreadPool,
    stop: &'a AtomicBool,
    /// Where the files handled go with `--report`.
    reporter: Option<&'a Streamer>,
}

impl Watching<'_> {
    /// Watches until a stop signal (`None`) or until the key service's policy changed
    /// (the new session). The first generation also reconciles the trees.
    fn run(
        &self,
        inotify: &Inotify,
        engine: &mut Engine,
        memory: &mut LabelMemory,
        first: bool,
    ) -> Result<Option<Session>> {
        let session = self.session;
        let mut classifier = classifier(&session.policy)?;
        // Label what was classified: the digest comes from the same read.
        classifier.hash_content = true;
        let labeler = self.args.store.labeler(session)?;
        let labeling = Labeling {
            classifier: &classifier,
            labeler: &labeler,
            verbose: self.args.verbose,
        };
        // `--protect`: one connection to the key service for this generation.
        let conn = match self.args.protect {
            true => Some(crate::keyservice::connect(session)?),
            false => None,
        };
        let account = conn
            .as_ref()
            .map(|c| crate::keyservice::account(c, session))
            .transpose()?;
        let protector = account
            .as_ref()
            .map(|a| {
                fuda_protect::Protector::new(
                    a,
                    &session.policy,
                    session.config.dept.clone(),
                    crate::keyservice::hostname(),
                )
            })
            .transpose()?;
        // One batch: the settled files on the pool's threads, their results back on this
        // thread as they come (the label memory learns them while the pool goes on); the
        // labels applied go to the key service's audit log.
        let batch = |engine: &mut Engine, memory: &mut LabelMemory| {
            let done = engine.batch(Instant::now(), labeling, memory, |jobs, handle, sink| {
                let (tx, results) = std::sync::mpsc::channel();
                self.pool.in_place_scope(|scope| {
                    scope.spawn(move |_| {
                        // A few hundred files at a time: their remembered labels are
                        // read together, and this thread is not woken for every file.
                        jobs.into_par_iter().chunks(RESULTS_AT_ONCE).for_each_with(
                            tx,
                            |tx, part| {
                                let _ = tx.send(handle(part));
                            },
                        )
                    });
                    results.iter().flatten().for_each(sink);
                });
            });
            note_all(self.reporter, &done.reports);
            audit(session, &done.labeled, &done.reports);
            let settled = protector
                .as_ref()
                .map(|_| super::watch_protect::settled(&done.reports));
            log_all(done.reports);
            if let (Some(protector), Some(settled)) = (&protector, settled) {
                super::watch_protect::protect_settled(
                    protector,
                    &labeler,
                    &session.policy,
                    &settled,
                    &|e| log(e),
                );
            }
        };

        if first {
            // Reconcile: everything already in the trees.
            let started = Instant::now();
            let began = fuda_core::labeling::now();
            let n = walk_into(engine, memory, self.roots, inotify, &batch);
            // Files written too recently to be read yet: a batch at a time, the events
            // queued meanwhile (its own label writes) taken in between.
            while engine.waiting() > 0 && !self.stop.load(Ordering::SeqCst) {
                while inotify.drain(engine) {
                    batch(engine, memory);
                }
                batch(engine, memory);
                if engine.next_due().is_some_and(|due| due > Instant::now()) {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            let forgotten = engine.forget_missing(memory, self.roots, began);
            note_all(self.reporter, &forgotten);
            log_all(forgotten);
            log(&Status::Reconciled {
                files: n,
                seconds: started.elapsed().as_secs_f64(),
            });
            log(&Status::Watching {
                roots: self.roots.iter().map(JsonPath::new).collect(),
            });
        }

        let generation = policy_generation(session, self.args);
        let interval = policy_check_interval();
        let mut checked = Instant::now();
        let mut changed = || {
            if generation.is_none() || checked.elapsed() < interval {
                return false;
            }
            checked = Instant::now();
            changed_since(&generation, session, self.args)
        };
        inotify.serve(engine, memory, self.roots, self.stop, &batch, &mut changed);
        if self.stop.load(Ordering::SeqCst) || !changed_since(&generation, session, self.args) {
            return Ok(None);
        }
        // Finish what was waiting under the old policy's rules before switching.
        batch(engine, memory);
        Ok(Some(Session::load(self.args.policy.policy())?))
    }
}

/// Whether the key service's policy is another version than `generation` now.
fn changed_since(generation: &Option<(String, u32)>, session: &Session, args: &Args) -> bool {
    let now = policy_generation(session, args);
    generation.is_some() && now.is_some() && &now != generation
}

/// The event source: inotify on every root, its events in a bounded queue.
struct Inotify {
    /// Kept alive for as long as events are wanted.
    _watcher: notify::RecommendedWatcher,
    events: Receiver<Event>,
    /// Set when events were lost (the kernel's queue or ours overflowed).
    overflow: Arc<AtomicBool>,
    /// How many files a walk hands to the engine between two looks at the queue, and a
    /// batch handles at most: its own label writes (an event or two each) stay within
    /// the queue's bound.
    chunk: usize,
}

impl Inotify {
    /// Watches `roots` recursively, queueing at most `bound` events.
    fn start(roots: &[PathBuf], bound: usize) -> Result<Inotify> {
        let overflow = Arc::new(AtomicBool::new(false));
        let (tx, events) = sync_channel::<Event>(bound);
        let flag = Arc::clone(&overflow);
        let mut first = true;
        // Runs on notify's event thread.
        let handler = move |res: notify::Result<Event>| {
            if std::mem::take(&mut first) {
                yield_to_workers();
            }
            match res {
                Ok(ev) if ev.need_rescan() => flag.store(true, Ordering::SeqCst),
                Ok(ev) if wanted(&ev.kind) => {
                    if let Err(TrySendError::Full(_)) = tx.try_send(ev) {
                        flag.store(true, Ordering::SeqCst);
                    }
                }
                Ok(_) => {}
                Err(_) => flag.store(true, Ordering::SeqCst),
            }
        };
        // Opens and reads (its own, mostly: every file it classifies) mean nothing to the
        // engine: the kernel does not even queue them (a close after writing it does).
        let kinds = notify::EventKindMask::CORE | notify::EventKindMask::ACCESS_CLOSE;
        let mut watcher = notify::RecommendedWatcher::new(
            handler,
            notify::Config::default().with_event_kinds(kinds),
        )
        .context("cannot start inotify")?;
        for root in roots {
            watcher
                .watch(root, RecursiveMode::Recursive)
                .with_context(|| {
                    format!(
                        "cannot watch {} (raise fs.inotify.max_user_watches for large trees)",
                        escaped(root)
                    )
                })?;
        }
        Ok(Inotify {
            _watcher: watcher,
            events,
            overflow,
            // Each label written echoes twice (tags and label): a batch's echoes fill a
            // quarter of the queue, so the queue holds those of the batches before it too
            // while the event thread is behind (a loaded machine).
            chunk: (bound / 8).clamp(1, WALK_CHUNK),
        })
    }

    /// Takes events until `stop`, the source ends or the policy changed: events lost are
    /// made up for by walking the trees again; each round ends with a `batch`.
    fn serve(
        &self,
        engine: &mut Engine,
        memory: &mut LabelMemory,
        roots: &[PathBuf],
        stop: &AtomicBool,
        batch: &dyn Fn(&mut Engine, &mut LabelMemory),
        policy_changed: &mut dyn FnMut() -> bool,
    ) {
        while !stop.load(Ordering::SeqCst) && !policy_changed() {
            if self.overflow.swap(false, Ordering::SeqCst) {
                log(&Status::Overflow {
                    action: "rescanning the trees: events were lost",
                });
                while self.events.try_recv().is_ok() {}
                let t = Instant::now();
                let n = walk_into(engine, memory, roots, self, batch);
                log(&Status::Rescanned {
                    files: n,
                    seconds: t.elapsed().as_secs_f64(),
                });
            }
            let now = Instant::now();
            let dirs = engine.due_walks(now);
            if !dirs.is_empty() {
                walk_into(engine, memory, &dirs, self, batch);
            }
            let wait = engine.next_due().map_or(Duration::from_millis(200), |d| {
                d.saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(200))
            });
            match self.events.recv_timeout(wait) {
                Ok(ev) => {
                    // Take whatever else is queued before doing work, but learn a label
                    // set in place before the events after it (a save-by-rename).
                    if !take(engine, ev) {
                        self.drain(engine);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            batch(engine, memory);
        }
    }
}

impl Inotify {
    /// Gives the engine the events queued now, stopping after an attribute change (a
    /// label set in place is learnt before the events after it: a save-by-rename);
    /// returns whether it stopped there.
    fn drain(&self, engine: &mut Engine) -> bool {
        while let Ok(ev) = self.events.try_recv() {
            if take(engine, ev) {
                return true;
            }
        }
        false
    }
}

/// Sends the labels the rules applied, and the remembered labels put back, to the key
/// service's audit log (queued while it cannot be reached); a failure is logged (the
/// labels are on the files).
fn audit(session: &Session, labeled: &[Applied], reports: &[Report]) {
    // Without a key service there is no audit log to build records for.
    if let Ok(false) = crate::keyservice::has_service(session) {
        return;
    }
    let host = crate::keyservice::hostname();
    let mut changes: Vec<_> = labeled
        .iter()
        .map(|a| {
            crate::keyservice::label_set_change(
                &a.path,
                &a.label,
                a.previous.clone(),
                a.downgrade,
                &host,
            )
        })
        .collect();
    changes.extend(reports.iter().filter_map(|r| match r {
        Report::Restored {
            path,
            level,
            doc,
            cause,
            ..
        } => Some(fuda_keyd::audit::LabelChange {
            doc: doc.to_string(),
            action: fuda_keyd::audit::LabelAction::Restore,
            from: None,
            to: Some(level.clone()),
            path: std::path::absolute(path).unwrap_or_else(|_| path.clone()),
            host: host.clone(),
            justification: Some(cause.clone()),
            version: None,
        }),
        _ => None,
    }));
    match crate::keyservice::audit_label_changes(session, &changes) {
        Ok(crate::keyservice::Audited::Recorded(_)) => {}
        Ok(crate::keyservice::Audited::Queued {
            waiting,
            queue,
            why,
        }) => log(&Status::AuditQueued {
            labels: changes.len(),
            waiting,
            queue: JsonPath::new(&queue),
            why,
        }),
        Err(e) => log(&Status::AuditFailed {
            labels: changes.len(),
            error: format!("the key service's audit log did not record these labels: {e:#}"),
            paths: changes.iter().map(|c| JsonPath::new(&c.path)).collect(),
        }),
    }
}

/// How many files of a batch a thread of the pool handles together (their remembered
/// labels read in one transaction) and sends the results of back together.
const RESULTS_AT_ONCE: usize = 256;

/// How many files a walk hands to the engine at a time, at most: the files waiting, the
/// batch's reports and the memory's transaction stay this small however large the trees
/// are.
const WALK_CHUNK: usize = 4096;

/// Walks `roots` and handles every file found, a chunk at a time (each chunk one batch,
/// the events queued meanwhile taken in between, so that the watcher's own label writes
/// never pile up in the event queue); returns how many files were found. The walk runs on
/// a thread of its own, a chunk or two ahead of the batches.
fn walk_into(
    engine: &mut Engine,
    memory: &mut LabelMemory,
    roots: &[PathBuf],
    inotify: &Inotify,
    batch: &dyn Fn(&mut Engine, &mut LabelMemory),
) -> usize {
    let mut n = 0;
    let mut feed = |engine: &mut Engine, memory: &mut LabelMemory, chunk: Vec<PathBuf>| {
        n += engine.found(chunk, Instant::now());
        // Empty the queue: a batch after each attribute change, in order.
        while inotify.drain(engine) {
            batch(engine, memory);
        }
        batch(engine, memory);
    };
    let size = inotify.chunk;
    let deep = std::thread::scope(|s| {
        let (tx, chunks) = sync_channel(CHUNKS_AHEAD);
        let walker = std::thread::Builder::new()
            .name("fuda-watch-walk".into())
            .spawn_scoped(s, move || {
                walk_chunks(roots, size, &mut |chunk| {
                    let _ = tx.send(chunk);
                })
            });
        match walker {
            Ok(walker) => {
                for chunk in chunks {
                    feed(engine, memory, chunk);
                }
                walker.join().unwrap_or_default()
            }
            // No thread to be had: walk here, a chunk at a time all the same.
            Err(_) => walk_chunks(roots, size, &mut |chunk| feed(engine, memory, chunk)),
        }
    });
    if !deep.is_empty() {
        log(&Status::Unwatched {
            folders: deep.iter().map(JsonPath::new).collect(),
            note: "inotify cannot watch a folder whose path is over 4,096 bytes: files written there later are labelled at the next walk (rescan, restart or `fuda scan --apply`)",
        });
    }
    n
}

/// How many walked chunks wait for their batch at most.
const CHUNKS_AHEAD: usize = 2;

/// Walks `roots`, giving the files found to `chunk` `size` at a time (the last chunk may
/// be smaller or empty) and logging what cannot be walked; returns the folders too deep
/// for inotify to watch.
fn walk_chunks(
    roots: &[PathBuf],
    size: usize,
    chunk: &mut dyn FnMut(Vec<PathBuf>),
) -> BTreeSet<PathBuf> {
    let mut deep = BTreeSet::new();
    let mut files = Vec::with_capacity(size);
    walk::walk_lenient(
        roots,
        &mut |file| {
            if let Some(dir) = file.parent().filter(|d| fuda_core::longpath::is_long(d)) {
                deep.insert(dir.to_owned());
            }
            files.push(file);
            if files.len() >= size {
                chunk(std::mem::replace(&mut files, Vec::with_capacity(size)));
            }
        },
        &mut |error| log(&Status::Failed { error }),
    );
    chunk(files);
    deep
}

/// Makes the calling thread (notify's event thread) wait for a free core or the next
/// scheduler tick instead of preempting the workers each time the kernel queues an event
/// (`SCHED_BATCH`, same weight): a share's first start queues an event or two per file
/// labeled, and each preemption cost the worker two context switches. Its events then
/// come a few hundred at a time. Best effort: where the policy cannot be set, nothing
/// changes but the speed.
fn yield_to_workers() {
    use thread_priority::unix::{
        set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
        ThreadSchedulePolicy,
    };
    use thread_priority::{ThreadPriority, ThreadPriorityValue};
    // The crate sets a normal policy's priority as a niceness, mapping 0..=99 onto 19..=-20:
    // 48 is niceness 0, the default (a process started niced keeps its niceness: raising a
    // thread back to 0 is refused without privilege, after the policy is set).
    let Ok(nice_zero) = ThreadPriorityValue::try_from(48u8) else {
        return;
    };
    let _ = set_thread_priority_and_policy(
        thread_native_id(),
        ThreadPriority::Crossplatform(nice_zero),
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch),
    );
}

/// Whether an event can mean anything to the engine (not an open or a read).
fn wanted(kind: &EventKind) -> bool {
    !matches!(kind, EventKind::Access(a) if *a != AccessKind::Close(AccessMode::Write))
}

/// Gives the engine what an inotify event means; true when it must learn an attribute
/// change (not its own) before the events after it.
fn take(engine: &mut Engine, ev: Event) -> bool {
    let now = Instant::now();
    let mut attributes = false;
    for ev in fs_events(ev) {
        attributes |= engine.event(ev, now);
    }
    attributes
}

/// The engine's events for one notify event.
fn fs_events(ev: Event) -> Vec<FsEvent> {
    let each = |f: fn(PathBuf) -> FsEvent, paths: Vec<PathBuf>| paths.into_iter().map(f).collect();
    match ev.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => each(FsEvent::Closed, ev.paths),
        EventKind::Create(CreateKind::File) => each(FsEvent::CreatedFile, ev.paths),
        EventKind::Create(_) => ev
            .paths
            .into_iter()
            .last()
            .map(FsEvent::Created)
            .into_iter()
            .collect(),
        EventKind::Modify(ModifyKind::Name(RenameMode::To)) => ev
            .paths
            .into_iter()
            .last()
            .map(FsEvent::MovedTo)
            .into_iter()
            .collect(),
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
            match <[PathBuf; 2]>::try_from(ev.paths) {
                Ok([from, to]) => vec![FsEvent::Renamed { from, to }],
                Err(paths) => paths
                    .into_iter()
                    .last()
                    .map(FsEvent::Created)
                    .into_iter()
                    .collect(),
            }
        }
        EventKind::Modify(ModifyKind::Name(RenameMode::From)) => each(FsEvent::MovedFrom, ev.paths),
        EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Any) => {
            each(FsEvent::Written, ev.paths)
        }
        EventKind::Modify(ModifyKind::Metadata(_)) => each(FsEvent::Attributes, ev.paths),
        EventKind::Remove(_) => each(FsEvent::Removed, ev.paths),
        // Opens and reads.
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::RemoveKind;

    fn ev(kind: EventKind, paths: &[&str]) -> Event {
        let mut e = Event::new(kind);
        for p in paths {
            e = e.add_path(PathBuf::from(p));
        }
        e
    }

    #[test]
    fn inotify_events_become_the_engines_events() {
        let close = ev(
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            &["/s/a"],
        );
        assert_eq!(fs_events(close), vec![FsEvent::Closed("/s/a".into())]);
        let both = ev(
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)),
            &["/s/.tmp1", "/s/a"],
        );
        assert_eq!(
            fs_events(both),
            vec![FsEvent::Renamed {
                from: "/s/.tmp1".into(),
                to: "/s/a".into()
            }]
        );
        let to = ev(
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
            &["/s/b"],
        );
        assert_eq!(fs_events(to), vec![FsEvent::MovedTo("/s/b".into())]);
        let gone = ev(EventKind::Remove(RemoveKind::File), &["/s/c"]);
        assert_eq!(fs_events(gone), vec![FsEvent::Removed("/s/c".into())]);
        let opened = ev(
            EventKind::Access(AccessKind::Open(AccessMode::Read)),
            &["/s/a"],
        );
        assert_eq!(fs_events(opened), vec![]);
    }
}
