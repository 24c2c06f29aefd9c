//! The watcher's log: one JSON line per event on stderr, `{"type": "event", "event": …,
//! "at": …}`. While a [`Writer`] runs, the lines are written by its thread in the order
//! they were logged, from whichever thread: a batch's reports (a line per file on a
//! share's first start) are serialised and freed there, beside the labeling, not between
//! two batches while the workers wait. Without one (before it starts, after it stops)
//! each line is written at once.

use std::io::Write;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Mutex;
use std::thread::JoinHandle;

use fuda_classify::watch::Report;
use serde::Serialize;

use crate::output::{self, timestamp, Record};

/// What the writer's thread is given: lines ready to write, or a batch's reports.
enum Entry {
    Lines(Vec<u8>),
    Reports(Vec<Report>, String),
}

impl Entry {
    /// Writes the entry's lines to stderr.
    fn write(&self) {
        match self {
            Entry::Lines(lines) => write_out(lines),
            Entry::Reports(reports, at) => write_out(&lines_of(reports, at)),
        }
    }
}

/// Where lines go while a writer runs. A lock, not a sender per thread: lines from two
/// threads keep the order in which they were logged.
static QUEUE: Mutex<Option<SyncSender<Entry>>> = Mutex::new(None);

/// How many entries wait at most (each up to a batch of reports): a slow reader of stderr
/// holds the watcher back instead of its memory growing.
const WAITING: usize = 4;

/// The thread that writes the log; stopping it (or dropping it) writes what is queued.
pub struct Writer {
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the thread; from now on every line goes through it.
    pub fn start() -> std::io::Result<Writer> {
        let (tx, rx) = sync_channel::<Entry>(WAITING);
        let thread = std::thread::Builder::new()
            .name("fuda-watch-log".into())
            .spawn(move || {
                for entry in rx {
                    entry.write();
                }
            })?;
        *queue() = Some(tx);
        Ok(Writer {
            thread: Some(thread),
        })
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        queue().take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn queue() -> std::sync::MutexGuard<'static, Option<SyncSender<Entry>>> {
    QUEUE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Hands `entry` to the writer's thread, or writes it now when none runs.
fn put(entry: Entry) {
    let queue = queue();
    let entry = match &*queue {
        Some(tx) => match tx.send(entry) {
            Ok(()) => return,
            Err(unsent) => unsent.0,
        },
        None => entry,
    };
    drop(queue);
    entry.write();
}

/// One line on stderr: `{"type": "event", "event": …, …, "at": …}`.
#[derive(Serialize)]
struct EventRecord<'a, T: Serialize> {
    #[serde(flatten)]
    event: &'a T,
    at: &'a str,
}

impl<T: Serialize> Record for EventRecord<'_, T> {
    const TYPE: &'static str = "event";
}

/// Now, as the log writes it (sub-second: latency from a file's close to its label is
/// what people measure).
fn log_time() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| timestamp(now.unix_timestamp()))
}

/// Appends the line of `event` at `at` to `out` (nothing when it cannot be written).
fn line<T: Serialize>(out: &mut Vec<u8>, event: &T, at: &str) {
    let start = out.len();
    if output::write_json(out, &EventRecord { event, at }).is_err() {
        out.truncate(start);
    }
}

fn lines_of(reports: &[Report], at: &str) -> Vec<u8> {
    let mut lines = Vec::new();
    for r in reports {
        line(&mut lines, r, at);
    }
    lines
}

/// Writes whole lines with one write; a closed stderr loses the log, not the labels.
fn write_out(lines: &[u8]) {
    if !lines.is_empty() {
        let _ = std::io::stderr().lock().write_all(lines);
    }
}

/// Logs one event, stamped now.
pub fn log<T: Serialize>(event: &T) {
    let mut lines = Vec::new();
    line(&mut lines, event, &log_time());
    put(Entry::Lines(lines));
}

/// Logs a batch's reports, stamped now, as one write.
pub fn log_all(reports: Vec<Report>) {
    if !reports.is_empty() {
        put(Entry::Reports(reports, log_time()));
    }
}
