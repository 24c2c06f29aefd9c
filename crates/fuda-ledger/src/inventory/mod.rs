//! The inventory: every file under some roots, its verified label, the ledger rows it
//! forms, the problems a person must look at, and what changed since the last inventory.
//!
//! [`build`] walks the roots in path order ([`walk`]), reads and verifies each file's label
//! on every core through the [`Labeler`] (xattr, OOXML, sidecar; protected `*.fuda` files
//! through [`envelope`]), groups the files into ledger rows ([`rows`]: one row per policy asset,
//! otherwise one per folder and level), lists the [findings](findings) and, given the
//! previous inventory, the [review](review) of what was added, removed, reclassified and
//! moved; given the label memory of `fuda watch`, the labels it [restored](remembered) and
//! the ones gone without a known cause. The result is plain data: the [`crate::ledger`]
//! module writes it as xlsx, CSV or JSON, and the JSON form is read back by [`Previous::load`] for the next review.
//! The per-file records wait in a temporary file ([`files`]), so memory does not grow
//! with the number of files (except for the review, which keeps a small [`review::Trace`]
//! per file of the previous inventory and per file that changed, and the findings).
//!
//! ```no_run
//! # fn demo(labeler: &fuda_core::labeling::Labeler<'_>) -> Result<(), fuda_ledger::inventory::InventoryError> {
//! use fuda_ledger::inventory::{self, Options};
//! let previous = inventory::Previous::load("last-year.json".as_ref())?;
//! let inv = inventory::build(labeler, &["/srv/share".into()], &Options {
//!     previous: Some(previous),
//!     ..Options::default()
//! })?;
//! println!("{} rows, {} findings", inv.rows.len(), inv.findings.len());
//! # Ok(()) }
//! ```

pub mod envelope;
pub mod files;
pub mod findings;
pub mod owners;
pub mod registry;
pub mod remembered;
pub mod review;
pub mod rows;
pub mod walk;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fuda_core::digest::Digest;
use fuda_core::digest_cache::FileStamp;
use fuda_core::label::{DocId, Flag, Method, Status};
use fuda_core::labeling::{FileLabel, Labeler};
use fuda_core::store::StoreKind;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

pub use files::FileList;
pub use findings::{Finding, FindingKind, Severity};
pub use review::{Change, ChangeKind, Previous, Review};
pub use rows::AssetRow;

/// The `format` value of an inventory JSON document.
pub const FORMAT: &str = "fuda-inventory";
/// The version of the inventory JSON this library writes. Version 2 carries every path
/// with its exact bytes (`{"text": …}` or `{"bytes": base64}`); version 1 (paths as
/// Unicode NFC strings) still reads as a previous inventory.
pub const VERSION: u32 = 2;

/// Errors that stop an inventory; problems with single files become findings instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InventoryError {
    /// A root could not be read.
    #[error("{path}: cannot read this folder ({source}); check the path and that you may read it")]
    Root {
        /// The root.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No roots were given.
    #[error("no folders to inventory: name at least one")]
    NoRoots,
    /// The previous inventory could not be read.
    #[error("{path}: cannot read the previous inventory ({source})")]
    PreviousRead {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The previous inventory is not an inventory JSON this version understands.
    #[error("{path}: not a fuda inventory JSON ({reason}); pass the .json file an earlier `fuda inventory --format json` wrote")]
    PreviousInvalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The temporary file that holds the per-file records could not be written.
    #[error("cannot write the inventory's temporary file in {dir} ({source}); check that the folder exists, is writable and has space, or choose another with --out or TMPDIR")]
    Spill {
        /// Its folder.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Whatever took the files as they were read (a ledger being written) failed.
    #[error("{0}")]
    Output(Box<dyn std::error::Error + Send + Sync>),
    /// Running the workers failed.
    #[error("cannot start the worker threads: {0}")]
    Threads(String),
}

/// How to build an inventory.
#[derive(Debug, Default)]
pub struct Options {
    /// Worker threads (0 = one per core).
    pub jobs: usize,
    /// The previous inventory, for the review and for labels that disappeared.
    pub previous: Option<Previous>,
    /// Time of the inventory (Unix seconds); `None` means now.
    pub now: Option<i64>,
    /// What the label memory of `fuda watch` knows about these roots (restored and lost
    /// labels).
    pub memory: Option<fuda_classify::memory::Recollection>,
    /// The key service's registry, for revoked documents still on disk.
    pub registry: Option<registry::Registry>,
    /// Where the per-file records wait until the ledger is written ([`files`]); `None`
    /// means the system's temporary folder.
    pub spill_dir: Option<PathBuf>,
    /// Keep no per-file records: the caller takes the files from the sink of
    /// [`build_streaming`] (a workbook written as the files are read); the inventory's
    /// `files` is then empty.
    pub files_to_sink_only: bool,
    /// Files the walk leaves out: the ledger this inventory is about to write (an older
    /// one at the same path would otherwise be listed, then replaced).
    pub exclude: Vec<PathBuf>,
}

/// The policy an inventory was made under.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyInfo {
    /// Policy id.
    pub id: String,
    /// Policy version.
    pub version: u32,
}

/// One file as the inventory saw it (the default: a file without a label).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Absolute path, with its exact bytes (JSON: `{"text": …}` or `{"bytes": base64}`).
    #[serde(with = "fuda_core::pathname")]
    pub path: PathBuf,
    /// The root it was found under.
    pub root: Arc<str>,
    /// Size in bytes.
    pub size: u64,
    /// Last modification, Unix seconds.
    pub modified: i64,
    /// Verification status of the label.
    pub status: Status,
    /// Where the label was found (`xattr`, `ooxml`, `sidecar`, `envelope`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// Whether the file is protected (an encrypted `*.fuda` envelope).
    #[serde(default)]
    pub protected: bool,
    /// Document id from the label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<DocId>,
    /// Level id from the label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// Owner from the label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Department from the label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dept: Option<String>,
    /// Who owns the file on disk, for a label a rule or the policy's default set (its
    /// `owner` is then the labeling account, not the person responsible: [`owners`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_owner: Option<String>,
    /// Asset id from the label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<String>,
    /// How the label was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<Method>,
    /// When the label was set, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_at: Option<i64>,
    /// Who set the label, as the signed label says (on a working copy: who wrote the
    /// plaintext out of the protected document).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_by: Option<String>,
    /// The label's place among its document's labels (`seq`; absent for a first label).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// Flags from the label.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<Flag>,
    /// Origin of an imported label (another company's secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Name of the signer in the trust store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// Why the label is tampered, or why the file could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// SHA-256 of the content now (for Office documents: without the label parts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Digest>,
    /// Id of the ledger row the file is counted in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row: Option<Arc<str>>,
}

impl FileEntry {
    /// Whether a person chose this file's label (by hand, or by importing their own
    /// system's label): its owner and department are then the people responsible.
    /// A rule's or the default level's label names the labeling account instead.
    pub fn labeled_by_a_person(&self) -> bool {
        matches!(self.method, Some(Method::Manual | Method::Imported))
    }

    /// The person responsible for the file (管理者): the label's owner when a person
    /// labeled it, else the file's owner on disk.
    pub fn custodian(&self) -> Option<&str> {
        if self.labeled_by_a_person() {
            self.owner.as_deref()
        } else {
            self.file_owner.as_deref()
        }
    }

    /// The department responsible (管理部署): the label's, when a person labeled it.
    pub fn department(&self) -> Option<&str> {
        self.dept.as_deref().filter(|_| self.labeled_by_a_person())
    }

    /// Whether the label's level and flags count in the ledger: valid, stale (content
    /// changed, level still meant) and unverified (unknown signer, or a Purview label)
    /// labels do; a tampered label's level cannot be believed.
    pub fn counted_label(&self) -> bool {
        self.level.is_some()
            && matches!(
                self.status,
                Status::Valid | Status::Stale | Status::Unverified
            )
    }
}

/// Counts for the summary line and the JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Files seen.
    pub files: usize,
    /// Files with a valid label.
    pub valid: usize,
    /// Stale labels.
    pub stale: usize,
    /// Labels by unknown signers.
    pub unverified: usize,
    /// Tampered labels.
    pub tampered: usize,
    /// Older labels written back over newer ones (see the `replayed` findings).
    #[serde(default)]
    pub replayed: usize,
    /// Files without a label.
    pub missing: usize,
    /// Protected files.
    pub protected: usize,
    /// Ledger rows.
    pub rows: usize,
    /// Findings.
    pub findings: usize,
}

impl Summary {
    /// Counts one file.
    pub(crate) fn count(&mut self, f: &FileEntry) {
        self.files += 1;
        match f.status {
            Status::Valid => self.valid += 1,
            Status::Stale => self.stale += 1,
            Status::Unverified => self.unverified += 1,
            Status::Tampered => self.tampered += 1,
            Status::Replayed => self.replayed += 1,
            Status::Missing => self.missing += 1,
        }
        self.protected += usize::from(f.protected);
    }
}

/// A complete inventory.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Inventory {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// When the inventory was taken, Unix seconds.
    pub generated_at: i64,
    /// The policy in force.
    pub policy: PolicyInfo,
    /// The roots walked (absolute, NFC).
    pub roots: Vec<String>,
    /// Counts.
    pub summary: Summary,
    /// Ledger rows (情報資産管理台帳), one per asset.
    pub rows: Vec<AssetRow>,
    /// Problems that need a person (指摘事項).
    pub findings: Vec<Finding>,
    /// What changed since the previous inventory (棚卸), when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<Review>,
    /// Every file (ファイル明細), in walk order: sorted by the bytes of the names on disk
    /// (a folder's files before the files of a sibling whose name sorts after it).
    pub files: FileList,
}

impl Inventory {
    /// An inventory of `/s` holding just `files`, taken at time 0 (for tests).
    #[cfg(test)]
    pub(crate) fn of_files(files: Vec<FileEntry>) -> Inventory {
        Inventory {
            format: FORMAT.into(),
            version: VERSION,
            generated_at: 0,
            policy: PolicyInfo {
                id: "default".into(),
                version: 1,
            },
            roots: vec!["/s".into()],
            summary: Summary::default(),
            rows: Vec::new(),
            findings: Vec::new(),
            review: None,
            files: files.into(),
        }
    }

    /// Whether a person needs to look at something (the CLI exits 1).
    pub fn has_findings(&self) -> bool {
        !self.findings.is_empty()
    }
}

/// A path as people read it in the ledger: escaped where it is not plain text
/// ([`fuda_core::pathname::escaped`]), in Unicode NFC (a name a Mac client saved
/// decomposed reads as typed). The JSON carries the exact bytes instead.
pub fn display_path(path: &Path) -> Cow<'_, str> {
    let text = fuda_core::pathname::escaped_cow(path);
    match unicode_normalization::is_nfc_quick(text.chars()) {
        unicode_normalization::IsNormalized::Yes => text,
        _ => Cow::Owned(text.nfc().collect()),
    }
}

/// Builds the inventory of `roots` with the labeler's policy and trust store.
///
/// The files stream through in path order: a walker lists folders, the workers read and
/// verify labels a chunk at a time, and this thread sums each chunk, in order, into the
/// ledger rows and the counts and appends its records to the [`files`] spill. Memory
/// holds a bounded number of chunks, the rows and the findings; the review (`previous`)
/// adds the previous inventory's traces and a [`review::Trace`] of each file that
/// changed.
pub fn build(
    labeler: &Labeler<'_>,
    roots: &[PathBuf],
    options: &Options,
) -> Result<Inventory, InventoryError> {
    build_streaming(labeler, roots, options, &mut |_| Ok(()))
}

/// What takes the files as the inventory reads them; an error stops the inventory.
pub type FileSink<'s> =
    dyn FnMut(&[FileEntry]) -> Result<(), Box<dyn std::error::Error + Send + Sync>> + 's;

/// [`build`], handing the files to `sink` a chunk at a time, in walk order, as they are
/// read: for a progress display, or a ledger that is written while the files are read
/// ([`crate::ledger::xlsx::Writer`]).
pub fn build_streaming(
    labeler: &Labeler<'_>,
    roots: &[PathBuf],
    options: &Options,
    sink: &mut FileSink<'_>,
) -> Result<Inventory, InventoryError> {
    if roots.is_empty() {
        return Err(InventoryError::NoRoots);
    }
    let now = options.now.unwrap_or_else(fuda_core::labeling::now);
    let mut absolute_roots = Vec::with_capacity(roots.len());
    for root in roots {
        let abs = std::path::absolute(root).map_err(|source| InventoryError::Root {
            path: root.clone(),
            source,
        })?;
        absolute_roots.push(abs);
    }
    let walk_roots = walk::roots(&absolute_roots)?;
    let spill_dir = options.spill_dir.clone().unwrap_or_else(std::env::temp_dir);
    let spill_error = |source| InventoryError::Spill {
        dir: spill_dir.clone(),
        source,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.jobs)
        .build()
        .map_err(|e| InventoryError::Threads(e.to_string()))?;

    let policy = labeler.policy;
    let reader = ChunkReader {
        labeler,
        expect: findings::Expectations::new(policy),
        revoked: options
            .registry
            .as_ref()
            .map(|r| registry::RevokedDocuments::new(r, policy.utc_offset)),
        records: !options.files_to_sink_only,
        owners: owners::Owners::local(),
    };
    let mut sums = Sums {
        grouper: rows::Grouper::new(policy),
        summary: Summary::default(),
        findings: Vec::new(),
        review: options
            .previous
            .as_ref()
            .map(|p| review::Matcher::new(p, policy)),
        watched: options.memory.as_ref().map(remembered::Watched::new),
        spill: if options.files_to_sink_only {
            None
        } else {
            Some(files::Spill::new(&spill_dir).map_err(spill_error)?)
        },
    };
    let exclude = excluded(&options.exclude);
    let read = |mut chunk: Vec<walk::Found>| {
        if !exclude.is_empty() {
            chunk.retain(|f| !exclude.contains(&f.path));
        }
        reader.read(chunk)
    };
    let unreadable = stream(&pool, &walk_roots, CHUNK, &read, |chunk| {
        sink(&chunk.entries).map_err(InventoryError::Output)?;
        sums.add(chunk).map_err(spill_error)
    })?;

    let Sums {
        grouper,
        mut summary,
        findings: file_findings,
        review,
        watched,
        spill,
    } = sums;
    let rows = grouper.finish(now);
    let mut findings = findings::unreadable(&unreadable);
    findings.extend(file_findings);
    let review = review.map(|matcher| {
        let (review, disappeared) = matcher.finish();
        findings.extend(disappeared);
        review
    });
    if let (Some(memory), Some(watched)) = (&options.memory, &watched) {
        let already = findings
            .iter()
            .filter(|f| f.kind == FindingKind::LabelDisappeared)
            .map(|f| f.path.clone())
            .collect();
        findings.extend(remembered::findings(memory, watched, &already, policy));
    }
    findings.sort_by(|a, b| (a.severity, a.kind, &a.path).cmp(&(b.severity, b.kind, &b.path)));
    summary.rows = rows.len();
    summary.findings = findings.len();
    Ok(Inventory {
        format: FORMAT.into(),
        version: VERSION,
        generated_at: now,
        policy: PolicyInfo {
            id: policy.id.clone(),
            version: policy.version,
        },
        roots: absolute_roots
            .iter()
            .map(|r| display_path(&r.components().collect::<PathBuf>()).into_owned())
            .collect(),
        summary,
        rows,
        findings,
        review,
        files: match spill {
            Some(spill) => spill.finish().map_err(spill_error)?,
            None => FileList::from(Vec::new()),
        },
    })
}

/// The files to leave out, as the walk names them: absolute, without `.` components.
fn excluded(paths: &[PathBuf]) -> Vec<PathBuf> {
    paths
        .iter()
        .filter_map(|p| std::path::absolute(p).ok())
        .map(|p| p.components().collect())
        .collect()
}

/// Chunks read ahead of the one being summed, at most (bounds the memory).
/// Threads that walk roots at once (each takes a group of neighbouring roots).
const WALKERS: usize = 4;

/// Chunks read ahead of the one being summed, per worker (bounds the memory: a slow
/// chunk holds up at most this many behind it per worker).
const WINDOW_PER_WORKER: usize = 4;

/// Walks `roots` in path order, reads the chunks on `pool` and hands them to `sum` in
/// walk order. Returns what could not be read; stops at `sum`'s first error. A panic
/// while reading a chunk is passed on here, after every thread has stopped.
fn stream<T: Send, E>(
    pool: &rayon::ThreadPool,
    roots: &[(PathBuf, bool)],
    chunk: usize,
    read: &(dyn Fn(Vec<walk::Found>) -> T + Sync),
    mut sum: impl FnMut(T) -> Result<(), E>,
) -> Result<Vec<walk::Unreadable>, E> {
    use std::sync::mpsc;
    let window = WINDOW_PER_WORKER * pool.current_num_threads().max(1);
    std::thread::scope(|s| {
        // The roots are walked in parallel, in up to WALKERS groups of neighbours, each
        // group ahead of the reading by at most `window` chunks; the chunks are taken
        // group after group, so they still come in path order.
        let mut found = Vec::new();
        let mut walkers = Vec::new();
        for group in roots.chunks(roots.len().div_ceil(WALKERS).max(1)) {
            let (found_tx, found_rx) = mpsc::sync_channel::<Vec<walk::Found>>(window);
            walkers
                .push(s.spawn(move || walk::ordered(group, chunk, |c| found_tx.send(c).is_ok())));
            found.push(found_rx);
        }
        found.reverse(); // the next group last
                         // A chunk is taken up only with a token; a token comes back when a chunk has been
                         // summed, so no more than `window` chunks are ever read and waiting.
        let (token_tx, token_rx) = mpsc::channel::<()>();
        for _ in 0..window {
            token_tx.send(()).expect("the receiver is here");
        }
        let (read_tx, read_rx) = mpsc::channel::<(usize, std::thread::Result<T>)>();
        s.spawn(move || {
            let feed = std::iter::from_fn(move || {
                token_rx.recv().ok()?;
                while let Some(group) = found.last() {
                    match group.recv() {
                        Ok(chunk) => return Some(chunk),
                        // This group's walk is over.
                        Err(_) => drop(found.pop()),
                    }
                }
                None
            });
            pool.install(|| {
                feed.enumerate()
                    .par_bridge()
                    .for_each_with(read_tx, |tx, (i, chunk)| {
                        // A panic goes to the summing side, which stops everything: left
                        // here, the other workers would wait for tokens forever.
                        let read =
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read(chunk)));
                        // The summing side has stopped when this fails.
                        let _ = tx.send((i, read));
                    })
            });
        });
        let mut waiting = std::collections::BTreeMap::new();
        let mut next = 0;
        for (i, read) in read_rx {
            waiting.insert(i, read);
            while let Some(read) = waiting.remove(&next) {
                // A reader's panic ends the inventory at its chunk's turn.
                sum(read.unwrap_or_else(|panic| std::panic::resume_unwind(panic)))?;
                next += 1;
                // The reader may be done and gone: no more tokens are needed then.
                let _ = token_tx.send(());
            }
        }
        let mut unreadable = Vec::new();
        for walker in walkers {
            unreadable.extend(walker.join().expect("the walker does not panic"));
        }
        Ok(unreadable)
    })
}

/// What the workers need to read a chunk.
struct ChunkReader<'a, 'p> {
    labeler: &'a Labeler<'p>,
    expect: findings::Expectations<'p>,
    revoked: Option<registry::RevokedDocuments<'a>>,
    /// Whether the records are kept (serialized for the spill).
    records: bool,
    /// Account names, for the owners of files a rule labeled.
    owners: owners::Owners,
}

/// A chunk of files as the workers read it.
struct ReadChunk<'p> {
    entries: Vec<FileEntry>,
    /// The policy asset of each entry's row, for those in a row.
    assets: Vec<Option<&'p fuda_core::policy::Asset>>,
    findings: Vec<Finding>,
    /// The entries' records for the spill.
    lines: Vec<u8>,
}

impl<'p> ChunkReader<'_, 'p> {
    fn read(&self, chunk: Vec<walk::Found>) -> ReadChunk<'p> {
        let policy = self.labeler.policy;
        let mut entries = read_entries(self.labeler, chunk);
        let mut assets = Vec::with_capacity(entries.len());
        let mut findings = Vec::new();
        for entry in &mut entries {
            if entry.method.is_some() && !entry.labeled_by_a_person() {
                entry.file_owner = self.owners.of(&entry.path);
            }
            let row = rows::row_of(policy, entry);
            let asset = row.as_ref().and_then(|(_, a)| *a);
            entry.row = row.map(|(id, _)| Arc::from(id));
            findings::check_file(&self.expect, entry, asset, &mut findings);
            findings.extend(self.revoked.as_ref().and_then(|r| r.finding(entry)));
            assets.push(asset);
        }
        let lines = if self.records {
            files::Spill::lines(&entries)
        } else {
            Vec::new()
        };
        ReadChunk {
            entries,
            assets,
            findings,
            lines,
        }
    }
}

/// What is summed as the chunks come in, in path order.
struct Sums<'p> {
    grouper: rows::Grouper<'p>,
    summary: Summary,
    findings: Vec<Finding>,
    review: Option<review::Matcher<'p>>,
    watched: Option<remembered::Watched>,
    /// Where the records go (none when only the sink takes the files).
    spill: Option<files::Spill>,
}

impl<'p> Sums<'p> {
    fn add(&mut self, chunk: ReadChunk<'p>) -> std::io::Result<()> {
        for (entry, asset) in chunk.entries.iter().zip(chunk.assets) {
            self.summary.count(entry);
            if let Some(row) = &entry.row {
                self.grouper.add(entry, row, asset);
            }
            if let Some(review) = &mut self.review {
                review.see(entry);
            }
            if let Some(watched) = &mut self.watched {
                watched.note(entry);
            }
        }
        self.findings.extend(chunk.findings);
        match &mut self.spill {
            Some(spill) => spill.push(&chunk.lines, chunk.entries.len()),
            None => Ok(()),
        }
    }
}

/// Files read and verified together by one worker (one signature batch).
const CHUNK: usize = fuda_core::label::verify::BATCH;

/// Reads and verifies the labels of a chunk of files into entries.
fn read_entries(labeler: &Labeler<'_>, chunk: Vec<walk::Found>) -> Vec<FileEntry> {
    let paths: Vec<&Path> = chunk.iter().map(|f| f.path.as_path()).collect();
    let results = labeler.inspect_many(&paths);
    drop(paths);
    chunk
        .into_iter()
        .zip(results)
        .map(|(found, result)| read_entry(labeler, found, result))
        .collect()
}

/// One file's label as read into an entry; a file that cannot be read becomes an entry
/// with status `missing` and the reason in `problem`.
fn read_entry(
    labeler: &Labeler<'_>,
    found: walk::Found,
    result: Result<FileLabel, fuda_core::labeling::LabelingError>,
) -> FileEntry {
    let protected = envelope::is_protected(&found.path);
    let stamp = match &result {
        Ok(file) => file.stamp,
        // The label could not be read; the size and date may still be known.
        Err(_) => fuda_core::longpath::symlink_metadata(&found.path)
            .ok()
            .map(|m| FileStamp::of(&m)),
    };
    let mut entry = FileEntry {
        root: found.root,
        size: stamp.map_or(0, |s| s.size),
        modified: stamp.map_or(0, |s| s.mtime.0),
        protected,
        ..FileEntry::default()
    };
    match result {
        Ok(file) => fill(&mut entry, file),
        Err(e) => entry.problem = Some(format!("unreadable: {e}")),
    }
    if let (None, None, false, Some(stamp)) = (&entry.sha256, &entry.problem, protected, stamp) {
        // Unlabeled (or corrupt-labeled) files still get a digest, so that a file that
        // lost its label can be matched to last year's entry when it also moved.
        let kind = if fuda_core::labeling::is_ooxml(&found.path) {
            StoreKind::Ooxml
        } else {
            StoreKind::Xattr
        };
        entry.sha256 = labeler.digest_of(&found.path, kind, &stamp).ok();
    }
    entry.path = found.path;
    entry
}

fn fill(entry: &mut FileEntry, file: FileLabel) {
    entry.status = file.status;
    entry.store = file.store.map(|s| s.as_str().to_owned());
    entry.signer = file.signer;
    entry.problem = file.problem;
    entry.sha256 = file.content_sha256;
    if let Some(label) = file.label {
        // A label mapped from Purview has no stable doc id of its own.
        if file.foreign.is_none() {
            entry.doc = Some(label.doc);
        }
        entry.level = Some(label.level);
        entry.owner = Some(label.owner).filter(|o| !o.is_empty());
        entry.dept = label.dept;
        entry.asset = label.asset;
        entry.method = Some(label.method);
        entry.set_at = Some(label.set_at).filter(|t| *t > 0);
        entry.set_by = Some(label.set_by).filter(|b| !b.is_empty());
        entry.seq = Some(label.seq).filter(|s| *s > 0);
        entry.flags = label.flags;
        entry.origin = label.origin;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_roots_are_walked_at_once_and_summed_in_path_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut want = Vec::new();
        let mut roots = Vec::new();
        for r in 0..9 {
            let root = dir.path().join(format!("r{r}"));
            for i in 0..(r * 7) {
                let file = root
                    .join(format!("d{}", i % 3))
                    .join(format!("f{i:02}.txt"));
                std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                std::fs::write(&file, b"x").unwrap();
                want.push(file);
            }
            std::fs::create_dir_all(&root).unwrap();
            roots.push(root);
        }
        want.sort();
        roots.reverse(); // given in any order
        let roots = walk::roots(&roots).unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let read = |chunk: Vec<walk::Found>| chunk.into_iter().map(|f| f.path).collect();
        let mut summed: Vec<PathBuf> = Vec::new();
        let unreadable = stream(&pool, &roots, 4, &read, |paths: Vec<PathBuf>| {
            summed.extend(paths);
            Ok::<(), ()>(())
        })
        .unwrap();
        assert!(unreadable.is_empty());
        assert_eq!(summed, want);
    }

    #[test]
    fn a_panic_while_reading_stops_the_inventory_instead_of_hanging() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..40 {
            let folder = dir.path().join(format!("d{}", i / 10));
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(folder.join(format!("f{i:02}.txt")), b"x").unwrap();
        }
        let roots = walk::roots(&[dir.path().to_owned()]).unwrap();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .build()
                .unwrap();
            let read = |chunk: Vec<walk::Found>| {
                assert!(!chunk[0].path.ends_with("f06.txt"), "a reader bug");
                std::thread::sleep(std::time::Duration::from_millis(2));
                chunk.len()
            };
            let mut summed = 0;
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                stream(&pool, &roots, 2, &read, |n| {
                    summed += n;
                    Ok::<(), ()>(())
                })
            }));
            done_tx.send((outcome.is_err(), summed)).unwrap();
        });
        let (panicked, summed) = done_rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the inventory stops within a minute");
        assert!(panicked);
        // Chunks before the bad one were summed in order; none after it.
        assert_eq!(summed, 6);
    }
}
