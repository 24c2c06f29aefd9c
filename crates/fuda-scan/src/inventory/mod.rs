//! The inventory: every file under some roots, its verified label, the ledger rows it
//! forms, the problems a person must look at, and what changed since the last inventory.
//!
//! [`build`] walks the roots in parallel ([`walk`]), reads and verifies each file's label
//! through the [`Labeler`] (xattr, OOXML, sidecar; protected `*.fuda` files through
//! [`envelope`]), groups the files into ledger rows ([`rows`]: one row per policy asset,
//! otherwise one per folder and level), lists the [findings](findings) and, given the
//! previous inventory, the [review](review) of what was added, removed, reclassified and
//! moved; given the label memory of `fuda watch`, the labels it [restored](remembered) and
//! the ones gone without a known cause. The result is plain data: the [`crate::ledger`] module writes it as xlsx, CSV
//! or JSON, and the JSON form is read back by [`Inventory::load`] for the next review.
//!
//! ```no_run
//! # fn demo(labeler: &fuda_core::labeling::Labeler<'_>) -> Result<(), fuda_scan::inventory::InventoryError> {
//! use fuda_scan::inventory::{self, Options};
//! let previous = inventory::Inventory::load("last-year.json".as_ref())?;
//! let inv = inventory::build(labeler, &["/srv/share".into()], &Options {
//!     previous: Some(previous),
//!     ..Options::default()
//! })?;
//! println!("{} rows, {} findings", inv.rows.len(), inv.findings.len());
//! # Ok(()) }
//! ```

pub mod envelope;
pub mod findings;
pub mod registry;
pub mod remembered;
pub mod review;
pub mod rows;
pub mod walk;

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

pub use findings::{Finding, FindingKind, Severity};
pub use review::{Change, ChangeKind, Review};
pub use rows::AssetRow;

/// The `format` value of an inventory JSON document.
pub const FORMAT: &str = "fuda-inventory";
/// The version of the inventory JSON this library writes and reads.
pub const VERSION: u32 = 1;

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
    pub previous: Option<Inventory>,
    /// Time of the inventory (Unix seconds); `None` means now.
    pub now: Option<i64>,
    /// What the label memory of `fuda watch` knows about these roots (restored and lost
    /// labels).
    pub memory: Option<crate::memory::Recollection>,
    /// The key service's registry, for revoked documents still on disk.
    pub registry: Option<registry::Registry>,
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
    /// Absolute path, Unicode NFC.
    pub path: String,
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
    /// Asset id from the label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<String>,
    /// How the label was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<Method>,
    /// When the label was set, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_at: Option<i64>,
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
    /// Files without a label.
    pub missing: usize,
    /// Protected files.
    pub protected: usize,
    /// Ledger rows.
    pub rows: usize,
    /// Findings.
    pub findings: usize,
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
    /// Every file (ファイル明細), sorted by path.
    pub files: Vec<FileEntry>,
}

impl Inventory {
    /// Reads an inventory JSON written earlier (for `--since`).
    pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
        let bytes = std::fs::read(path).map_err(|source| InventoryError::PreviousRead {
            path: path.to_owned(),
            source,
        })?;
        Inventory::from_json(&bytes).map_err(|reason| InventoryError::PreviousInvalid {
            path: path.to_owned(),
            reason,
        })
    }

    /// Parses inventory JSON; the error says what is wrong.
    pub fn from_json(bytes: &[u8]) -> Result<Inventory, String> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let head: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if head.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(format!("no \"format\": \"{FORMAT}\" field"));
        }
        match head.get("version").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(VERSION) => {}
            Some(v) => return Err(format!("version {v}, this fuda reads version {VERSION}")),
            None => return Err("no \"version\" field".into()),
        }
        serde_json::from_value(head).map_err(|e| e.to_string())
    }

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
            files,
        }
    }

    /// Whether a person needs to look at something (the CLI exits 1).
    pub fn has_findings(&self) -> bool {
        !self.findings.is_empty()
    }
}

/// A path as the ledger shows it: lossless where possible, Unicode NFC.
pub fn display_path(path: &Path) -> String {
    let text = path.to_string_lossy();
    match unicode_normalization::is_nfc_quick(text.chars()) {
        unicode_normalization::IsNormalized::Yes => text.into_owned(),
        _ => text.nfc().collect(),
    }
}

/// [`display_path`] of an owned path, reusing its memory when it is already NFC UTF-8.
fn into_display_path(path: PathBuf) -> String {
    match path.into_os_string().into_string() {
        Ok(text) if unicode_normalization::is_nfc(&text) => text,
        Ok(text) => text.nfc().collect(),
        Err(raw) => display_path(Path::new(&raw)),
    }
}

/// Builds the inventory of `roots` with the labeler's policy and trust store.
pub fn build(
    labeler: &Labeler<'_>,
    roots: &[PathBuf],
    options: &Options,
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
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.jobs)
        .build()
        .map_err(|e| InventoryError::Threads(e.to_string()))?;
    let (mut files, unreadable) = pool.install(|| {
        let mut walked = walk::walk(&absolute_roots)?;
        // Nested or repeated roots must not count a file twice.
        walked.files.sort_unstable_by(|a, b| {
            a.path
                .as_os_str()
                .as_encoded_bytes()
                .cmp(b.path.as_os_str().as_encoded_bytes())
        });
        walked.files.dedup_by(|a, b| a.path == b.path);
        // Files in path order, so that a chunk is mostly one folder: its sidecar index
        // is read once and its signatures are verified in one batch.
        // Each chunk is moved into its entries, so a path is not held twice.
        let files: Vec<FileEntry> = std::mem::take(&mut walked.files)
            .into_par_iter()
            .chunks(CHUNK)
            .flat_map_iter(|chunk| read_entries(labeler, chunk))
            .collect();
        Ok::<_, InventoryError>((files, walked.unreadable))
    })?;
    files.sort_unstable_by(|a, b| a.path.cmp(&b.path));

    let policy = labeler.policy;
    let (rows, mut findings) = pool.install(|| {
        let rows = rows::group(policy, &mut files, now);
        (rows, findings::check(policy, &files, &unreadable))
    });
    if let Some(registry) = &options.registry {
        findings.extend(registry::findings(registry, &files, policy.utc_offset));
    }
    let review = options.previous.as_ref().map(|previous| {
        let (review, disappeared) = review::diff(previous, &files);
        findings.extend(disappeared);
        review
    });
    if let Some(memory) = &options.memory {
        let already = findings
            .iter()
            .filter(|f| f.kind == FindingKind::LabelDisappeared)
            .map(|f| f.path.clone())
            .collect();
        findings.extend(remembered::findings(
            memory,
            &files,
            &already,
            policy.utc_offset,
        ));
    }
    findings.sort_by(|a, b| (a.severity, a.kind, &a.path).cmp(&(b.severity, b.kind, &b.path)));

    let mut summary = Summary {
        files: files.len(),
        rows: rows.len(),
        findings: findings.len(),
        ..Summary::default()
    };
    for f in &files {
        match f.status {
            Status::Valid => summary.valid += 1,
            Status::Stale => summary.stale += 1,
            Status::Unverified => summary.unverified += 1,
            Status::Tampered => summary.tampered += 1,
            Status::Missing => summary.missing += 1,
        }
        summary.protected += usize::from(f.protected);
    }
    Ok(Inventory {
        format: FORMAT.into(),
        version: VERSION,
        generated_at: now,
        policy: PolicyInfo {
            id: policy.id.clone(),
            version: policy.version,
        },
        roots: absolute_roots.iter().map(|r| display_path(r)).collect(),
        summary,
        rows,
        findings,
        review,
        files,
    })
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
        Err(_) => std::fs::symlink_metadata(&found.path)
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
    entry.path = into_display_path(found.path);
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
        entry.flags = label.flags;
        entry.origin = label.origin;
    }
}
