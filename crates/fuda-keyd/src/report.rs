//! Machine reports: what a file server or PC tells the service about its files, and the
//! company's file index the service keeps from them.
//!
//! A machine (a directory entry of kind `machine`, or a `hook` reporting for the machine
//! it labels) sends its files in **chunks**. Each chunk is a JSON object ([`Chunk`]) that
//! the machine signs with its enrolled Ed25519 key ([`signing_input`]); the service keeps
//! each file's record (the inventory's per-file record, `fuda_ledger::inventory::FileEntry`,
//! as JSON) exactly as received, beside the few columns it indexes ([`Columns`]).
//!
//! - A report has an id chosen by the machine and numbered chunks `0, 1, …`; the last one
//!   says so. A chunk the service already applied is acknowledged again and changes
//!   nothing, so a retried chunk is harmless; a chunk out of order is refused.
//! - A report carries only differences (files new or changed since the machine's last
//!   acknowledged report, and removals). Applying a chunk is one transaction, so a report
//!   cut off half-way leaves the index at a chunk boundary, and the next report sends
//!   the rest: the index ends as one clean report would leave it.
//! - Several reports of one machine may run at once (a watcher's beside a timer's).
//! - Each report is one audit record (`report`), written with its last chunk, or — for a
//!   report cut off and never finished — when the machine starts a report after it has
//!   been idle for an hour ([`ABANDONED_AFTER_S`](crate::service::ABANDONED_AFTER_S)).
//!
//! The index is read in a stable order without holding it in memory by
//! [`Service::index_scan`](crate::Service::index_scan); the reporting machines and their
//! freshness by [`Service::machines`](crate::Service::machines).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::directory::EntryKind;

/// Most files (records plus removals) one chunk may carry.
pub const MAX_CHUNK_FILES: usize = 2_000;
/// The longest one file's record may be (bytes of JSON).
pub const MAX_RECORD_BYTES: usize = 64 * 1024;
/// The longest path a record may name (files deeper than PATH_MAX are reported too).
pub const MAX_PATH_BYTES: usize = crate::audit::MAX_PATH_BYTES;
/// The expected interval between two reports of a machine that never said otherwise
/// (seconds): a day.
pub const DEFAULT_INTERVAL_S: u32 = 86_400;
/// The longest expected interval a report may set (seconds): 90 days.
pub const MAX_INTERVAL_S: u32 = 90 * 86_400;
/// What a report's signature covers: this context, then the chunk's bytes exactly as sent.
pub const SIGNATURE_CONTEXT: &[u8] = b"fuda-report-v1\n";
/// The HTTP header that carries a chunk's signature (standard base64 of 64 bytes).
pub const SIGNATURE_HEADER: &str = "fuda-signature";

/// The bytes a machine signs for a chunk: [`SIGNATURE_CONTEXT`] followed by `body`.
pub fn signing_input(body: &[u8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(SIGNATURE_CONTEXT.len() + body.len());
    input.extend_from_slice(SIGNATURE_CONTEXT);
    input.extend_from_slice(body);
    input
}

/// A signature as the [`SIGNATURE_HEADER`] carries it.
pub fn encode_signature(signature: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(signature)
}

/// Reads a [`SIGNATURE_HEADER`] value: the 64 bytes, if it is standard base64 of that many.
pub fn decode_signature(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()
        .filter(|sig| sig.len() == 64)
}

/// One chunk of a report, as sent (the JSON body of `POST /v1/reports`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chunk {
    /// The reporting machine: the name of its directory entry.
    pub machine: String,
    /// The report's id, chosen by the machine (1–64 of `A-Z a-z 0-9 - _`).
    pub report: String,
    /// The chunk's place in the report: 0, 1, 2, …
    pub seq: u32,
    /// Whether this is the report's last chunk.
    #[serde(default)]
    pub last: bool,
    /// How often the machine means to report (seconds); the service flags it as stale
    /// after that. `None` keeps what it said before (else [`DEFAULT_INTERVAL_S`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_s: Option<u32>,
    /// Files new or changed: each the inventory's per-file record as JSON.
    #[serde(default)]
    pub files: Vec<Box<RawValue>>,
    /// Files gone since the last acknowledged report (absolute paths, exact bytes).
    #[serde(default, with = "paths")]
    pub removed: Vec<PathBuf>,
}

/// A chunk and its signature, as the client hands it to [`KeyService::report`](crate::client::KeyService::report).
#[derive(Clone, Debug)]
pub struct SignedChunk {
    /// The chunk's JSON, exactly as signed.
    pub body: Vec<u8>,
    /// The Ed25519 signature over [`signing_input`]`(body)`.
    pub signature: Vec<u8>,
}

/// The service's answer to a chunk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportAck {
    /// The report id.
    pub report: String,
    /// The chunk acknowledged.
    pub seq: u32,
    /// False when the chunk had been applied before (a retry): nothing changed.
    pub applied: bool,
    /// Records stored by this chunk.
    pub files: u32,
    /// Removals applied by this chunk.
    pub removed: u32,
}

/// The columns the service indexes, read from a file's record (the rest of the record is
/// kept as received and never interpreted by the service).
#[derive(Clone, Debug, Deserialize)]
pub struct Columns {
    /// The file's absolute path, exact bytes.
    #[serde(with = "fuda_core::pathname")]
    pub path: PathBuf,
    /// The document id of its label.
    #[serde(default)]
    pub doc: Option<fuda_core::label::DocId>,
    /// The level of its label.
    #[serde(default)]
    pub level: Option<String>,
    /// The label's verification status.
    pub status: fuda_core::label::Status,
    /// Whether the file is protected.
    #[serde(default)]
    pub protected: bool,
    /// Size in bytes.
    pub size: u64,
    /// Last modification, Unix seconds.
    pub modified: i64,
    /// SHA-256 of the content.
    #[serde(default)]
    pub sha256: Option<fuda_core::digest::Digest>,
}

/// One file of a checked chunk, ready for the store.
#[derive(Clone, Debug)]
pub struct IndexRow {
    /// The indexed columns.
    pub columns: Columns,
    /// The record exactly as received.
    pub record: Vec<u8>,
}

/// A chunk that passed every check that needs no database.
#[derive(Debug)]
pub struct CheckedChunk {
    /// The reporting machine.
    pub machine: String,
    /// The report id.
    pub report: String,
    /// The chunk's place.
    pub seq: u32,
    /// Whether it is the last.
    pub last: bool,
    /// The interval the machine asks for.
    pub interval_s: Option<u32>,
    /// Files to store.
    pub files: Vec<IndexRow>,
    /// Paths to remove.
    pub removed: Vec<PathBuf>,
}

/// Reads and checks a chunk's JSON: what is wrong, for the sender.
pub fn parse_chunk(body: &[u8]) -> Result<CheckedChunk, String> {
    let chunk: Chunk = serde_json::from_slice(body)
        .map_err(|e| format!("the report is not a report chunk: {e}"))?;
    crate::directory::validate_name("machine", &chunk.machine).map_err(|e| e.message())?;
    let id_ok = !chunk.report.is_empty()
        && chunk.report.len() <= 64
        && chunk
            .report
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !id_ok {
        return Err(format!(
            "the report id {:?} must be 1 to 64 letters, digits, '-' or '_'",
            chunk.report
        ));
    }
    if chunk.files.len() + chunk.removed.len() > MAX_CHUNK_FILES {
        return Err(format!(
            "a report chunk carries at most {MAX_CHUNK_FILES} files and removals; this one has {}",
            chunk.files.len() + chunk.removed.len()
        ));
    }
    if let Some(i) = chunk.interval_s {
        if i == 0 || i > MAX_INTERVAL_S {
            return Err(format!(
                "the reporting interval must be 1 s to {MAX_INTERVAL_S} s, not {i}"
            ));
        }
    }
    let mut seen = std::collections::HashSet::with_capacity(chunk.files.len());
    let mut files = Vec::with_capacity(chunk.files.len());
    for (i, raw) in chunk.files.iter().enumerate() {
        let text = raw.get();
        if text.len() > MAX_RECORD_BYTES {
            return Err(format!(
                "file record {i} is {} bytes; at most {MAX_RECORD_BYTES}",
                text.len()
            ));
        }
        let columns: Columns = serde_json::from_str(text)
            .map_err(|e| format!("file record {i} is not an inventory file record: {e}"))?;
        check_path(&columns.path).map_err(|e| format!("file record {i}: {e}"))?;
        if !seen.insert(columns.path.clone()) {
            return Err(format!(
                "file record {i} repeats {} in the same chunk",
                fuda_core::pathname::escaped(&columns.path)
            ));
        }
        files.push(IndexRow {
            columns,
            record: text.as_bytes().to_vec(),
        });
    }
    for (i, path) in chunk.removed.iter().enumerate() {
        check_path(path).map_err(|e| format!("removal {i}: {e}"))?;
        if !seen.insert(path.clone()) {
            return Err(format!(
                "removal {i} names {}, which the same chunk also reports or removes",
                fuda_core::pathname::escaped(path)
            ));
        }
    }
    Ok(CheckedChunk {
        machine: chunk.machine,
        report: chunk.report,
        seq: chunk.seq,
        last: chunk.last,
        interval_s: chunk.interval_s,
        files,
        removed: chunk.removed,
    })
}

fn check_path(path: &std::path::Path) -> Result<(), String> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    if !path.is_absolute() {
        return Err(format!(
            "the path {} is not absolute",
            fuda_core::pathname::escaped(path)
        ));
    }
    if bytes.len() > MAX_PATH_BYTES || bytes.contains(&0) {
        return Err(format!(
            "the path is longer than {MAX_PATH_BYTES} bytes or holds a NUL byte"
        ));
    }
    Ok(())
}

/// The order of [`Service::index_scan`](crate::Service::index_scan).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexOrder {
    /// By machine name, then by the bytes of the path.
    MachinePath,
    /// By document id (files without a label first, the id absent), then machine, then
    /// path: every copy of a document is next to the others.
    DocId,
    /// By content digest (files without one first), then machine, then path: every copy
    /// of the same content is next to the others.
    Sha256,
}

/// One file of the company's file index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexedFile {
    /// The machine that reported it.
    pub machine: String,
    /// Its absolute path on that machine, exact bytes.
    pub path: PathBuf,
    /// The document id of its label, if any.
    pub doc: Option<String>,
    /// SHA-256 of its content (lower-case hex), if known.
    pub sha256: Option<String>,
    /// Its record as the machine sent it: `fuda_ledger::inventory::FileEntry` as JSON.
    pub record_json: Vec<u8>,
    /// When the service received it (Unix seconds).
    pub received_at: i64,
}

/// A reporting identity and how current its files are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineStatus {
    /// The directory entry's name (the machine's name).
    pub name: String,
    /// `machine` or `hook`.
    pub kind: EntryKind,
    /// When its last report completed (Unix seconds); `None`: never.
    pub last_report_at: Option<i64>,
    /// How often it said it would report (seconds).
    pub expected_interval_s: u32,
    /// Files of it in the index.
    pub files: u64,
}

impl MachineStatus {
    /// Whether the machine has not reported for longer than its interval at `now` (a
    /// machine that never reported is overdue).
    pub fn overdue(&self, now: i64) -> bool {
        self.last_report_at
            .is_none_or(|at| now - at > i64::from(self.expected_interval_s))
    }
}

/// Serde for a list of paths in the [`fuda_core::pathname`] JSON form.
mod paths {
    use std::path::PathBuf;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Deserialize)]
    struct Path(#[serde(with = "fuda_core::pathname")] PathBuf);

    pub fn serialize<S: Serializer>(paths: &[PathBuf], s: S) -> Result<S::Ok, S::Error> {
        paths
            .iter()
            .map(fuda_core::pathname::JsonPath::new)
            .collect::<Vec<_>>()
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<PathBuf>, D::Error> {
        Ok(Vec::<Path>::deserialize(d)?
            .into_iter()
            .map(|p| p.0)
            .collect())
    }
}
