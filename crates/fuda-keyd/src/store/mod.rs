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

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::audit::{Event, Query, Record};
use crate::directory::{Group, User};
use crate::policy::PolicyVersion;
use crate::registry::{Document, Grant, Principal, Revocation};
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

    /// Where to hear of changes other processes make to what the service keeps in memory
    /// (a store several replicas share); `None` when this process is the only writer.
    fn follower(&self) -> Option<Box<dyn Follower>> {
        None
    }
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
