//! Where the service keeps its state, behind one trait: SQLite (the default, and the
//! embedded mode) or PostgreSQL (several replicas on one database, feature `postgres`).
//!
//! A [`Store`] runs a closure in one durable transaction; the closure works on a [`Tx`],
//! which has one method per question the service asks. The service batches concurrent
//! requests into one transaction (group commit), each in its own savepoint, so a decision
//! and its audit record are committed together and a failed request leaves no trace.

pub mod copy;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod sqlite;
mod sqlite_index;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::audit::{Event, Query, Record};
use crate::directory::{Group, User};
use crate::policy::PolicyVersion;
use crate::registry::{Document, Grant, Principal, Revocation};
use crate::report::{IndexOrder, IndexRow, IndexedFile, MachineStatus};
use fuda_core::rights::Rights;

pub use crate::error::StoreError;

/// A document row with what only the service sees.
#[derive(Clone, Debug)]
pub struct DocRow {
    /// The public part.
    pub doc: Document,
    /// SHA-256 of the file key, binding the document id to one file key.
    pub key_check: [u8; 32],
}

/// A stored credential: the hash of a token or enrollment code, whose it is, and when it
/// was made (tokens) or expires (enrollment codes), in Unix seconds.
pub type Credential = ([u8; 32], String, i64);

/// Where one report of a machine stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportState {
    /// The report id.
    pub report: String,
    /// The last chunk applied.
    pub seq: u32,
    /// Whether its last chunk was applied (the report is complete and audited).
    pub done: bool,
    /// Records stored so far.
    pub files: u64,
    /// Removals applied so far.
    pub removed: u64,
    /// When its first chunk arrived (Unix seconds).
    pub started_at: i64,
    /// When its last chunk arrived (Unix seconds).
    pub updated_at: i64,
}

/// One row of the file index as stored, every column (for `fuda-keyd migrate`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// The machine that reported the file.
    pub machine: String,
    /// Its path, exact bytes.
    pub path: PathBuf,
    /// The document id of its label.
    pub doc: Option<String>,
    /// SHA-256 of its content (hex).
    pub sha256: Option<String>,
    /// The level of its label.
    pub level: Option<String>,
    /// The label's verification status, as stored.
    pub status: String,
    /// Whether it is protected.
    pub protected: bool,
    /// Size in bytes.
    pub size: u64,
    /// Last modification (Unix seconds).
    pub modified: i64,
    /// When the service received it (Unix seconds).
    pub received_at: i64,
    /// The record as the machine sent it.
    pub record: Vec<u8>,
}

/// Which files of the index a list shows (the console's file list).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexFilter {
    /// Only this machine's files.
    pub machine: Option<String>,
    /// Only files at this level.
    pub level: LevelIs,
}

/// The level a listed file must have.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LevelIs {
    /// Any level, or none.
    #[default]
    Any,
    /// No label.
    Unlabeled,
    /// Labeled at this level id.
    Level(String),
}

/// A file of the index as a list shows it (every column but the record).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedFile {
    /// The machine that reported the file.
    pub machine: String,
    /// Its path, exact bytes.
    pub path: PathBuf,
    /// The document id of its label.
    pub doc: Option<String>,
    /// The level of its label.
    pub level: Option<String>,
    /// The label's verification status, as stored.
    pub status: String,
    /// Whether it is protected.
    pub protected: bool,
    /// Size in bytes.
    pub size: u64,
    /// Last modification (Unix seconds).
    pub modified: i64,
}

/// How many files of the index one machine has at one level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexCount {
    /// The machine.
    pub machine: String,
    /// The level (`None`: unlabeled).
    pub level: Option<String>,
    /// Its files.
    pub files: u64,
    /// Of which protected.
    pub protected: u64,
}

/// The meta key counting the writes to the file index (see
/// [`Snapshot::index_generation`]).
pub const INDEX_GENERATION: &str = "index_generation";

/// A reporting machine as stored: its interval and last complete report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachineRow {
    /// Its name.
    pub name: String,
    /// How often it said it would report (seconds).
    pub interval_s: u32,
    /// When its last report completed (Unix seconds).
    pub last_report_at: Option<i64>,
}

/// A version of a document saved back after the first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocVersion {
    /// The document.
    pub doc: String,
    /// Its number (2 and up).
    pub version: u32,
    /// The content's size.
    pub size: u64,
    /// The content's digest.
    pub digest: String,
    /// Who saved it.
    pub saved_by: String,
    /// When (Unix seconds).
    pub saved_at: i64,
}

/// One transaction's view of the state.
pub trait Tx {
    /// A value from the metadata table.
    fn meta_get(&mut self, key: &str) -> Result<Option<String>, StoreError>;
    /// Sets a metadata value.
    fn meta_set(&mut self, key: &str, value: &str) -> Result<(), StoreError>;
    /// Every metadata value, by key (for `fuda-keyd migrate`).
    fn meta_all(&mut self) -> Result<Vec<(String, String)>, StoreError>;

    /// A user with their groups.
    fn user_get(&mut self, name: &str) -> Result<Option<User>, StoreError>;
    /// Inserts or replaces a user (groups are managed separately).
    fn user_put(&mut self, user: &User) -> Result<(), StoreError>;
    /// Every user.
    fn user_list(&mut self) -> Result<Vec<User>, StoreError>;
    /// The user a token hash belongs to, and when the token was made (Unix seconds).
    fn token_user(&mut self, hash: &[u8; 32]) -> Result<Option<(String, i64)>, StoreError>;
    /// Stores a token hash.
    fn token_add(&mut self, hash: &[u8; 32], user: &str, at: i64) -> Result<(), StoreError>;
    /// Every token hash: its user and when it was made (for `fuda-keyd migrate`).
    fn token_all(&mut self) -> Result<Vec<Credential>, StoreError>;
    /// Deletes a user's tokens; how many there were.
    fn token_delete_user(&mut self, user: &str) -> Result<usize, StoreError>;
    /// Stores an enrollment code hash.
    fn enrollment_add(
        &mut self,
        hash: &[u8; 32],
        user: &str,
        expires_at: i64,
    ) -> Result<(), StoreError>;
    /// Every pending enrollment: code hash, user, expiry (for `fuda-keyd migrate`).
    fn enrollment_all(&mut self) -> Result<Vec<Credential>, StoreError>;
    /// Takes (deletes and returns) an enrollment: the user and expiry.
    fn enrollment_take(&mut self, hash: &[u8; 32]) -> Result<Option<(String, i64)>, StoreError>;

    /// Stores a console credential (a log-in link or a session), replacing one with the
    /// same hash (a session's last use).
    fn console_put(&mut self, c: &crate::console::Credential) -> Result<(), StoreError>;
    /// The console credential with this hash.
    fn console_get(
        &mut self,
        hash: &[u8; 32],
    ) -> Result<Option<crate::console::Credential>, StoreError>;
    /// Deletes a console credential; whether there was one.
    fn console_delete(&mut self, hash: &[u8; 32]) -> Result<bool, StoreError>;
    /// Deletes every console credential of `user` (disabled, tokens revoked) and every
    /// one that expired before `now`; how many.
    fn console_delete_user(&mut self, user: &str, now: i64) -> Result<usize, StoreError>;

    /// Creates a group (no-op if it exists).
    fn group_add(&mut self, name: &str) -> Result<(), StoreError>;
    /// Whether a group exists (explicitly or as someone's department).
    fn group_exists(&mut self, name: &str) -> Result<bool, StoreError>;
    /// Adds or removes a member.
    fn group_member(&mut self, group: &str, user: &str, member: bool) -> Result<(), StoreError>;
    /// Every group with members (departments included).
    fn group_list(&mut self) -> Result<Vec<Group>, StoreError>;

    /// A document.
    fn doc_get(&mut self, id: &str) -> Result<Option<DocRow>, StoreError>;
    /// Inserts a document with its grants.
    fn doc_insert(&mut self, row: &DocRow) -> Result<(), StoreError>;
    /// Every document.
    fn doc_list(&mut self) -> Result<Vec<Document>, StoreError>;
    /// Replaces a document's caps (`fuda admin policy apply`).
    fn doc_set_caps(
        &mut self,
        id: &str,
        max_rights: Rights,
        expires_at: Option<i64>,
        offline_days: u32,
    ) -> Result<(), StoreError>;
    /// Makes `owner` the owner of a document (`fuda admin doc owner`).
    fn doc_set_owner(&mut self, id: &str, owner: &str) -> Result<(), StoreError>;
    /// Changes a document's level (reclassification through the service).
    fn doc_set_level(&mut self, id: &str, level: &str) -> Result<(), StoreError>;
    /// Records a new version of a document saved back (its content's size and digest,
    /// who saved it and when); returns its number.
    fn doc_add_version(
        &mut self,
        id: &str,
        size: u64,
        digest: &str,
        by: &str,
        at: i64,
    ) -> Result<u32, StoreError>;
    /// Sets (or replaces) a grant.
    fn grant_set(&mut self, doc: &str, grant: &Grant) -> Result<(), StoreError>;
    /// Removes a grant; whether it existed.
    fn grant_remove(&mut self, doc: &str, principal: &Principal) -> Result<bool, StoreError>;

    /// Records a revocation (no-op if present).
    fn revocation_add(&mut self, r: &Revocation) -> Result<(), StoreError>;
    /// Lifts a revocation; whether it existed.
    fn revocation_remove(
        &mut self,
        doc: Option<&str>,
        user: Option<&str>,
    ) -> Result<bool, StoreError>;
    /// The revocations touching `doc` or `user` (for a licence decision).
    fn revocations_for(&mut self, doc: &str, user: &str) -> Result<Vec<Revocation>, StoreError>;
    /// Every revocation.
    fn revocation_list(&mut self) -> Result<Vec<Revocation>, StoreError>;

    /// A version of the organisation's policy (`None`: the newest), if any was set.
    fn policy_get(&mut self, version: Option<u32>) -> Result<Option<PolicyVersion>, StoreError>;
    /// Stores a new policy version.
    fn policy_put(&mut self, policy: &PolicyVersion) -> Result<(), StoreError>;

    /// The last record's sequence number and hash.
    fn audit_head(&mut self) -> Result<Option<(i64, String)>, StoreError>;
    /// Appends a record (and moves the head).
    fn audit_append(&mut self, record: &Record) -> Result<(), StoreError>;
    /// Records matching a query, oldest first.
    fn audit_query(&mut self, q: &Query) -> Result<Vec<Record>, StoreError>;
    /// Every record in sequence order.
    fn audit_all(&mut self) -> Result<Vec<Record>, StoreError>;
    /// The allowed label sets and downgrades recorded for `doc`, in sequence order (by
    /// the document index: a lookup per document, whatever the size of the log).
    fn audit_label_sets(&mut self, doc: &str) -> Result<Vec<Record>, StoreError>;

    /// The state of `machine`'s report `report`.
    fn report_state(
        &mut self,
        machine: &str,
        report: &str,
    ) -> Result<Option<ReportState>, StoreError>;
    /// `machine`'s reports whose last chunk arrived before `before` (Unix seconds).
    fn report_states_before(
        &mut self,
        machine: &str,
        before: i64,
    ) -> Result<Vec<ReportState>, StoreError>;
    /// Stores (inserts or replaces) the state of one of `machine`'s reports.
    fn report_state_put(&mut self, machine: &str, state: &ReportState) -> Result<(), StoreError>;
    /// Forgets one of `machine`'s reports.
    fn report_state_delete(&mut self, machine: &str, report: &str) -> Result<(), StoreError>;
    /// Stores (inserts or replaces) files of `machine` in the file index, received `at`.
    fn index_put(&mut self, machine: &str, rows: &[IndexRow], at: i64) -> Result<(), StoreError>;
    /// Removes files of `machine` from the file index; how many were there.
    fn index_remove(
        &mut self,
        machine: &str,
        paths: &[std::path::PathBuf],
    ) -> Result<usize, StoreError>;
    /// Records that `machine` completed a report `at`, and (if given) its new interval.
    fn machine_reported(
        &mut self,
        machine: &str,
        at: i64,
        interval_s: Option<u32>,
    ) -> Result<(), StoreError>;

    /// Every row of the file index, by machine and path bytes (`migrate`).
    fn index_all(&mut self) -> Result<Vec<IndexEntry>, StoreError>;
    /// Stores rows of the file index exactly as given (`migrate`).
    fn index_put_entries(&mut self, entries: &[IndexEntry]) -> Result<(), StoreError>;
    /// Every reporting machine's row, by name (`migrate`).
    fn machine_all(&mut self) -> Result<Vec<MachineRow>, StoreError>;
    /// Stores a machine's row exactly as given (`migrate`).
    fn machine_put(&mut self, m: &MachineRow) -> Result<(), StoreError>;
    /// Every report state, by machine and report (`migrate`).
    fn report_state_all(&mut self) -> Result<Vec<(String, ReportState)>, StoreError>;
    /// Every saved-back version, by document and number (`migrate`).
    fn version_all(&mut self) -> Result<Vec<DocVersion>, StoreError>;
    /// Stores a version's row exactly as given, the document untouched (`migrate`).
    fn version_put(&mut self, v: &DocVersion) -> Result<(), StoreError>;

    /// Starts a savepoint.
    fn savepoint(&mut self) -> Result<(), StoreError>;
    /// Keeps (true) or undoes (false) what was done since the savepoint.
    fn release(&mut self, keep: bool) -> Result<(), StoreError>;
}

/// Storage: runs work in durable transactions.
pub trait Store: Send {
    /// Runs `work` in one transaction and commits it durably (or rolls back on error).
    fn transaction(
        &mut self,
        work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;

    /// Runs `work` in one transaction and commits it, perhaps before the commit is on
    /// disk: what it did must not be acknowledged before [`Durability::wait`] returned.
    /// The next transaction may begin meanwhile (and sees this one's changes). A store
    /// whose commits are durable when they return (SQLite) needs no other version.
    fn transaction_pending(
        &mut self,
        work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<Durability, StoreError> {
        self.transaction(work).map(|()| Durability::Durable)
    }

    /// Opens read-only snapshots of this store beside the writer (for long reads that
    /// must not hold up decisions: the file index, the list of documents).
    fn snapshots(&self) -> SnapshotOpener;

    /// Where to hear of changes other processes make to what the service keeps in memory
    /// (a store several replicas share); `None` when this process is the only writer.
    fn follower(&self) -> Option<Box<dyn Follower>> {
        None
    }
}

/// Whether a committed transaction is on disk yet.
pub enum Durability {
    /// It is: the commit waited for the disk.
    Durable,
    /// Once this returns `Ok` (it blocks; call it off the writer thread so the next
    /// transaction can run meanwhile).
    Pending(Box<dyn FnOnce() -> Result<(), StoreError> + Send>),
}

impl Durability {
    /// Waits until the commit is on disk.
    pub fn wait(self) -> Result<(), StoreError> {
        match self {
            Durability::Durable => Ok(()),
            Durability::Pending(wait) => wait(),
        }
    }
}

/// Opens a [`Snapshot`]; shared by every clone of the service.
pub type SnapshotOpener =
    std::sync::Arc<dyn Fn() -> Result<Box<dyn Snapshot>, StoreError> + Send + Sync>;

/// A consistent read-only view of the store, taken when it was opened: what the writer
/// commits afterwards is not seen, and the writer is never waited for.
pub trait Snapshot {
    /// Hands every file of the index to `each`, in `order`, one at a time (memory does not
    /// grow with the index); stops early when `each` returns false.
    fn index_scan(
        &mut self,
        order: IndexOrder,
        each: &mut dyn FnMut(IndexedFile) -> bool,
    ) -> Result<(), StoreError>;
    /// Every reporting identity (directory entries of kind machine, and any hook or
    /// machine that reported or has files in the index), by name.
    fn machines(&mut self) -> Result<Vec<MachineStatus>, StoreError>;
    /// A number that changes whenever files are added to or removed from the index (the
    /// writes of reports; 0 before the first): what is computed from the whole index can
    /// be kept until it changes.
    fn index_generation(&mut self) -> Result<u64, StoreError>;
    /// Files per machine and level, by machine then level (unlabeled first).
    fn index_counts(&mut self) -> Result<Vec<IndexCount>, StoreError>;
    /// The files `filter` keeps, in machine and path order, `limit` of them after the
    /// first `offset` (an index serves each filter: no page reads the whole index).
    fn index_page(
        &mut self,
        filter: &IndexFilter,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<ListedFile>, StoreError>;
    /// One file of the index, if it is there.
    fn index_file(&mut self, machine: &str, path: &Path) -> Result<Option<ListedFile>, StoreError>;
    /// Every registered document, as [`Tx::doc_list`] gives them: a listing of thousands
    /// of documents read here keeps the writer free for decisions.
    fn documents(&mut self) -> Result<Vec<crate::registry::Document>, StoreError>;
}

/// Hears of another replica's changes to what each replica keeps in memory.
pub trait Follower: Send {
    /// Waits up to `wait` for news of a change, then returns the newest policy version
    /// (read every time: a lost notification costs one wait at most).
    fn next(&mut self, wait: Duration) -> Result<Option<PolicyVersion>, StoreError>;
}

/// File name of the SQLite database in the data directory.
pub const DB_FILE: &str = "keyd.db";

/// The file in a data directory that names its database when it is not the SQLite file
/// beside it (written by `fuda-keyd init --database`, mode 0600: the URL may hold a
/// password).
pub const DATABASE_FILE: &str = "database";

/// Where a service keeps its state.
#[derive(Clone, Debug)]
pub enum Database {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database.
    #[cfg(feature = "postgres")]
    Postgres(Box<postgres::Target>),
}

impl Database {
    /// Reads `sqlite:PATH`, a path, or a `postgres://` (`postgresql://`) URL.
    pub fn parse(spec: &str) -> Result<Database, StoreError> {
        let spec = spec.trim();
        if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
            #[cfg(feature = "postgres")]
            return Ok(Database::Postgres(Box::new(postgres::Target::parse(spec)?)));
            #[cfg(not(feature = "postgres"))]
            return Err(StoreError::Address(
                "this build of fuda-keyd has no PostgreSQL support (cargo feature `postgres`)"
                    .into(),
            ));
        }
        let path = spec.strip_prefix("sqlite:").unwrap_or(spec);
        if path.is_empty() || spec.contains("://") {
            return Err(StoreError::Address(format!(
                "{spec:?} is not a database: give sqlite:PATH or postgres://USER@HOST:PORT/DATABASE"
            )));
        }
        Ok(Database::Sqlite(PathBuf::from(path)))
    }

    /// The database of the service in `dir`: the one its [`DATABASE_FILE`] names, else
    /// the SQLite file `keyd.db` in it.
    pub fn of_dir(dir: &Path) -> Result<Database, StoreError> {
        let named = dir.join(DATABASE_FILE);
        match std::fs::read_to_string(&named) {
            Ok(spec) => Database::parse(&spec)
                .map_err(|e| StoreError::Address(format!("{}: {e}", named.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok(Database::Sqlite(dir.join(DB_FILE)))
            }
            Err(e) => Err(StoreError::Address(format!(
                "cannot read {}: {e}",
                named.display()
            ))),
        }
    }

    /// What to call it in messages (never a password).
    pub fn label(&self) -> String {
        match self {
            Database::Sqlite(path) => format!("sqlite:{}", path.display()),
            #[cfg(feature = "postgres")]
            Database::Postgres(t) => t.label().to_owned(),
        }
    }

    /// Names it in the data directory `dir` (0600), unless it is the SQLite file there
    /// that opens by default.
    pub fn remember(&self, dir: &Path) -> Result<(), StoreError> {
        let spec = match self {
            Database::Sqlite(path) if path == &dir.join(DB_FILE) => return Ok(()),
            Database::Sqlite(path) => format!("sqlite:{}", path.display()),
            #[cfg(feature = "postgres")]
            Database::Postgres(t) => t.url().to_owned(),
        };
        let file = dir.join(DATABASE_FILE);
        fuda_core::fsutil::write_atomic(&file, format!("{spec}\n").as_bytes(), 0o600)
            .map_err(|e| StoreError::Address(format!("cannot write {}: {e}", file.display())))
    }

    /// Opens (and migrates) it.
    pub fn open(&self) -> Result<Box<dyn Store>, StoreError> {
        Ok(match self {
            Database::Sqlite(path) => Box::new(sqlite::SqliteStore::open(path)?),
            #[cfg(feature = "postgres")]
            Database::Postgres(t) => Box::new(postgres::PgStore::open(t)?),
        })
    }
}

/// Appends an event to the chain inside `tx`, keyed with the audit key.
pub fn append_audit(
    tx: &mut dyn Tx,
    key: &ring::hmac::Key,
    event: Event,
) -> Result<Record, StoreError> {
    let (seq, prev) = match tx.audit_head()? {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, crate::audit::GENESIS.to_owned()),
    };
    let at_ms = now_ms();
    let hash = crate::audit::record_hash(key, seq, at_ms, &event, &prev);
    let record = Record {
        seq,
        at_ms,
        event,
        prev,
        hash,
    };
    tx.audit_append(&record)?;
    Ok(record)
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}
