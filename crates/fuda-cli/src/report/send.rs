//! Sending a report: files and removals gathered into chunks, each signed with the
//! machine's key and sent; the acknowledged state is updated after each acknowledgement.
//!
//! A chunk that fails to arrive (the service is down, the connection broke) is sent
//! again, the same chunk with the same id, so a chunk that did arrive changes nothing
//! the second time.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use fuda_core::identity::Identity;
use fuda_keyd::client::KeyService;
use fuda_keyd::report::{self, Chunk, SignedChunk};
use serde_json::value::RawValue;

use super::state::{Acked, Change, Short, State};

/// The largest chunk body sent (the service takes at most 1 MiB).
const MAX_CHUNK_BYTES: usize = 768 * 1024;

/// Counts of what a report sent.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Sent {
    /// Records sent (files new or changed).
    pub files: u64,
    /// Removals sent.
    pub removed: u64,
    /// Chunks sent.
    pub chunks: u32,
    /// Bytes of chunk bodies sent.
    pub bytes: u64,
}

/// One report being sent.
pub struct Sender<'a> {
    client: &'a dyn KeyService,
    identity: &'a Identity,
    machine: String,
    report: String,
    interval_s: Option<u32>,
    /// How many times a chunk is tried before the report gives up.
    attempts: u32,
    seq: u32,
    files: Vec<Box<RawValue>>,
    removed: Vec<PathBuf>,
    bytes: usize,
    change: Change,
    max_files: usize,
    /// What was sent so far.
    pub sent: Sent,
}

impl<'a> Sender<'a> {
    /// A new report of `machine`, signed by `identity`; a chunk is tried `attempts` times.
    pub fn new(
        client: &'a dyn KeyService,
        identity: &'a Identity,
        machine: &str,
        interval_s: Option<u32>,
        attempts: u32,
    ) -> Sender<'a> {
        Sender {
            client,
            identity,
            machine: machine.to_owned(),
            report: ulid::Ulid::new().to_string(),
            interval_s,
            attempts: attempts.max(1),
            seq: 0,
            files: Vec::new(),
            removed: Vec::new(),
            bytes: 0,
            change: Change::default(),
            max_files: chunk_files(),
            sent: Sent::default(),
        }
    }

    /// Adds a file's record (sent in the current chunk or a later one).
    pub fn file(&mut self, state: &mut State, acked: Acked, record: Vec<u8>) -> Result<()> {
        if self.full(record.len()) {
            self.flush(state, false)?;
        }
        self.bytes += record.len() + 1;
        let text = String::from_utf8(record).expect("serde_json writes UTF-8");
        self.files
            .push(RawValue::from_string(text).expect("a record is one JSON value"));
        self.change.put.push(acked);
        Ok(())
    }

    /// Adds a removal.
    pub fn removal(&mut self, state: &mut State, path: PathBuf) -> Result<()> {
        let len = path.as_os_str().len() * 4 / 3 + 16;
        if self.full(len) {
            self.flush(state, false)?;
        }
        self.bytes += len;
        self.change.removed.push(path.clone());
        self.removed.push(path);
        Ok(())
    }

    /// Notes that a file's record is unchanged though its metadata changed (nothing is
    /// sent; the state learns the new stamp with the next acknowledgement).
    pub fn restamp(&mut self, path: PathBuf, stamp: Short) {
        self.change.restamp.push((path, stamp));
    }

    fn full(&self, more: usize) -> bool {
        let n = self.files.len() + self.removed.len();
        n >= self.max_files || (n > 0 && self.bytes + more > MAX_CHUNK_BYTES)
    }

    /// Sends the last chunk (with whatever is left, possibly nothing): the report is
    /// complete. Returns what was sent.
    pub fn finish(mut self, state: &mut State) -> Result<Sent> {
        self.flush(state, true)?;
        Ok(self.sent)
    }

    /// Sends the current chunk and, once acknowledged, writes its changes to the state.
    fn flush(&mut self, state: &mut State, last: bool) -> Result<()> {
        let chunk = Chunk {
            machine: self.machine.clone(),
            report: self.report.clone(),
            seq: self.seq,
            last,
            interval_s: self.interval_s,
            files: std::mem::take(&mut self.files),
            removed: std::mem::take(&mut self.removed),
        };
        let body = serde_json::to_vec(&chunk).expect("a chunk serialises");
        let signature = self
            .identity
            .sign_bytes(&report::signing_input(&body))
            .to_vec();
        let signed = SignedChunk { body, signature };
        self.send(&signed)?;
        self.sent.files += chunk.files.len() as u64;
        self.sent.removed += chunk.removed.len() as u64;
        self.sent.chunks += 1;
        self.sent.bytes += signed.body.len() as u64;
        state
            .apply(&std::mem::take(&mut self.change))
            .context("the service has the chunk, but this machine's record of it could not be written (the next report sends it again)")?;
        self.seq += 1;
        self.bytes = 0;
        pause_after_chunk();
        Ok(())
    }

    /// Sends a chunk, trying again while the service cannot be reached.
    fn send(&self, chunk: &SignedChunk) -> Result<()> {
        let mut wait = Duration::from_millis(500);
        let mut tried = 0;
        loop {
            tried += 1;
            match self.client.report(chunk) {
                Ok(_) => return Ok(()),
                Err(e @ (fuda_keyd::Error::Transport(_) | fuda_keyd::Error::ShuttingDown))
                    if tried < self.attempts =>
                {
                    tracing_note(&e, wait);
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(Duration::from_secs(30));
                }
                Err(e) => {
                    return Err(anyhow::Error::new(e).context(format!(
                        "the key service did not take chunk {} of report {}",
                        self.seq, self.report
                    )))
                }
            }
        }
    }
}

fn tracing_note(e: &fuda_keyd::Error, wait: Duration) {
    eprintln!(
        "fuda: note: {e}; trying again in {:.1} s",
        wait.as_secs_f64()
    );
}

/// Files and removals per chunk. Debug builds (what the tests run) honour
/// `FUDA_REPORT_CHUNK_FILES`, so that a small tree makes many chunks.
fn chunk_files() -> usize {
    #[cfg(debug_assertions)]
    if let Some(n) = std::env::var("FUDA_REPORT_CHUNK_FILES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
    {
        return n.min(report::MAX_CHUNK_FILES);
    }
    1_000
}

/// Debug builds honour `FUDA_REPORT_PAUSE_MS`: a pause after each acknowledged chunk, so
/// that a test can kill a report half-way.
fn pause_after_chunk() {
    #[cfg(debug_assertions)]
    if let Some(ms) = std::env::var("FUDA_REPORT_PAUSE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(Duration::from_millis(ms));
    }
}
