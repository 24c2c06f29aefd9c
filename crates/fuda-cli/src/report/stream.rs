//! `fuda watch --report`: the files the watcher handled (labeled, restored, kept, lost, …)
//! go to the company file index within about a second, a few at a time.
//!
//! The watcher hands paths to a thread of its own ([`Streamer::note`]), which waits
//! [`DELAY`] after the first for more to come, reads their records and sends what differs
//! from the acknowledged state as one report. While the service cannot be reached the
//! paths stay queued and are tried again, with a growing pause (up to 30 s); nothing is
//! lost while the watcher runs, and what it had not sent when it stopped is sent by the
//! next `fuda inventory --report`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender as Tx};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;

use super::{read, scan, send, state, MachineConfig, Reporting};
use crate::config::Session;

/// How long the streamer waits after a path for others before it sends.
pub const DELAY: Duration = Duration::from_millis(250);
/// The longest pause between two attempts while the service cannot be reached.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What the streamer did, for the watcher's log.
#[derive(Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum StreamEvent {
    /// A report went out and was acknowledged.
    Reported {
        /// Records sent.
        files: u64,
        /// Removals sent.
        removed: u64,
        /// Paths looked at.
        paths: usize,
    },
    /// A report could not be sent; its paths stay queued.
    ReportFailed {
        /// Why.
        error: String,
        /// Paths waiting.
        queued: usize,
        /// Seconds until the next attempt.
        retry_in: f64,
    },
}

/// The streaming reporter: a thread that sends what the watcher handled.
pub struct Streamer {
    paths: Option<Tx<PathBuf>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Streamer {
    /// Starts reporting the files under `roots` that are noted, logging with `log`.
    /// Checks first that this machine can report (a reporting identity and a service).
    pub fn start(
        policy: Option<String>,
        roots: Vec<PathBuf>,
        log: impl Fn(&StreamEvent) + Send + 'static,
    ) -> Result<Streamer> {
        // Fail now, not in the thread, when this machine cannot report.
        Reporting::open(&Session::load(policy.as_deref())?)?;
        MachineConfig::load()?;
        let (tx, rx) = channel();
        let thread = std::thread::Builder::new()
            .name("fuda-report".into())
            .spawn(move || run(policy, roots, rx, log))?;
        Ok(Streamer {
            paths: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues `path` for the next report.
    pub fn note(&self, path: PathBuf) {
        if let Some(tx) = &self.paths {
            let _ = tx.send(path);
        }
    }

    /// Sends what is queued (one attempt) and stops.
    pub fn stop(mut self) {
        self.paths.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The streamer's thread: batches paths and reports them until the watcher stops.
fn run(
    policy: Option<String>,
    roots: Vec<PathBuf>,
    rx: Receiver<PathBuf>,
    log: impl Fn(&StreamEvent),
) {
    let mut queued = BTreeSet::new();
    let mut backoff = Duration::ZERO;
    let mut open = true;
    while open || !queued.is_empty() {
        // Wait for a first path (or the retry time), then DELAY for the rest.
        let first = if queued.is_empty() {
            rx.recv().ok()
        } else {
            match rx.recv_timeout(backoff) {
                Ok(p) => Some(p),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => {
                    open = false;
                    None
                }
            }
        };
        match first {
            Some(p) => {
                queued.insert(p);
            }
            None if queued.is_empty() => break,
            None => {}
        }
        let until = Instant::now() + DELAY;
        while open {
            match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok(p) => {
                    queued.insert(p);
                }
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => open = false,
            }
        }
        let batch: Vec<PathBuf> = queued
            .iter()
            .filter(|p| super::under(p, &roots))
            .cloned()
            .collect();
        match report(policy.as_deref(), &roots, &batch) {
            Ok(sent) => {
                queued.clear();
                backoff = Duration::ZERO;
                log(&StreamEvent::Reported {
                    files: sent.files,
                    removed: sent.removed,
                    paths: batch.len(),
                });
            }
            Err(e) => {
                backoff = (backoff * 2).clamp(Duration::from_secs(1), MAX_BACKOFF);
                log(&StreamEvent::ReportFailed {
                    error: format!("{e:#}"),
                    queued: queued.len(),
                    retry_in: backoff.as_secs_f64(),
                });
                if !open {
                    // The watcher stopped: the next `fuda inventory --report` sends them.
                    break;
                }
            }
        }
    }
}

/// Reports `paths` (sorted): the records of those that exist, removals for those gone.
fn report(policy: Option<&str>, roots: &[PathBuf], paths: &[PathBuf]) -> Result<send::Sent> {
    let session = Session::load(policy)?;
    let Reporting {
        machine,
        client,
        mut state,
        ..
    } = Reporting::open(&session)?;
    let acked = state.lookup(paths)?;
    let mut candidates = Vec::new();
    let mut gone = Vec::new();
    for (path, acked) in paths.iter().zip(acked) {
        match scan::stamp_of(path) {
            Some(stamp) => candidates.push(scan::Candidate {
                root: root_of(path, roots),
                path: path.clone(),
                stamp,
                acked: acked.map(|a| a.record),
            }),
            None if acked.is_some() => gone.push(path.clone()),
            None => {}
        }
    }
    let labeler = crate::args::configured_labeler(&session)?;
    let mut sender = send::Sender::new(client.as_ref(), &session.identity, &machine.name, None, 1);
    read::records(&labeler, roots, candidates, 1, |c, entry| match entry {
        Some(entry) => {
            let record = read::record_json(entry);
            let digest = state::short(&record);
            if c.acked == Some(digest) {
                sender.restamp(c.path, c.stamp);
                return Ok(());
            }
            let acked = state::Acked {
                path: c.path,
                record: digest,
                stamp: c.stamp,
            };
            sender.file(&mut state, acked, record)
        }
        None if c.acked.is_some() => sender.removal(&mut state, c.path),
        None => Ok(()),
    })?;
    for path in gone {
        sender.removal(&mut state, path)?;
    }
    let sent = sender.finish(&mut state)?;
    session.save_memo();
    Ok(sent)
}

/// The root `path` lies under, as the inventory names it.
fn root_of(path: &std::path::Path, roots: &[PathBuf]) -> std::sync::Arc<str> {
    let root = roots
        .iter()
        .filter(|r| path.starts_with(r))
        .max_by_key(|r| r.as_os_str().len())
        .map_or(path, |r| r.as_path());
    let root: PathBuf = root.components().collect();
    std::sync::Arc::from(&*fuda_ledger::inventory::display_path(&root))
}
