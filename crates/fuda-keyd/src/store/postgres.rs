//! The PostgreSQL store: any number of `fuda-keyd` replicas on one database.
//!
//! Each replica's writer thread (group commit, `service/commit.rs`) owns one connection:
//! the writer is the only user of the store, so a pool would hold connections nobody
//! asks for. A lost connection is dropped and made again on the next transaction; while
//! the database cannot be reached every request fails with
//! [`StoreError::Unavailable`] (HTTP 503) and nothing is half-written.
//!
//! **One audit chain across replicas.** Every transaction begins by taking one
//! transaction-level advisory lock and reading the chain's head under it, so the batches
//! of all replicas append to the chain one after another, each batch in order. Within a
//! batch the records are kept in memory and written with one statement just before
//! `COMMIT` (with the new head); a job that is undone drops its records. That `COMMIT`
//! does not wait for the disk, so the lock is free while the disk works; the answers go
//! out only after the [`flush`] that follows it ended, so no licence is answered before
//! its record is committed and on disk.
//!
//! Jobs run in savepoints as on SQLite, but a savepoint is only opened before a job's
//! first write: a licence decision only reads (its audit record waits in memory), so it
//! costs no subtransaction. A read that fails outside a savepoint fails the whole batch.
//!
//! Round trips are what a decision costs here, so reads read ahead and are kept: the
//! token lookup brings the user (with groups and user-wide revocations), the document
//! lookup its revocations, and the revocation check of a licence is then answered without
//! asking. What was read stays in the replica's [`cache`] across transactions for as long
//! as the database's generation — read with the chain's head, under the chain lock —
//! says nobody changed those tables; a licence for a recently seen document and user
//! then costs no round trip of its own. Every write of this transaction forgets it.
//!
//! **Caches.** A change to the organisation's policy is announced with
//! `NOTIFY fuda_keyd` in the committing transaction; each replica's [`PgFollower`]
//! listens on its own connection and also reads the newest version every time it stops
//! waiting, so a lost notification delays a replica by one wait at most.
//!
//! Migrations are numbered in [`MIGRATIONS`], recorded in `fuda_schema`, and applied at
//! start under an advisory lock (replicas starting together apply each once); a database
//! with a newer version than this build knows is refused.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use ::postgres::fallible_iterator::FallibleIterator;
use ::postgres::types::ToSql;
use ::postgres::{Client, Config, Row, SimpleQueryMessage, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

mod cache;
mod flush;
mod index;

use self::cache::Cache;
use self::flush::Flusher;
use super::{
    Credential, DocRow, DocVersion, Durability, Follower, IndexEntry, MachineRow, ReportState,
    SnapshotOpener, Store, StoreError, Tx,
};
use crate::audit::{Event, Outcome, Query, Record};
use crate::directory::{EntryKind, Group, User, UserStatus};
use crate::policy::PolicyVersion;
use crate::registry::{Document, Grant, Principal, Revocation};
use crate::report::IndexRow;

/// The advisory lock that orders the audit chain ("fudachai").
const CHAIN_LOCK: i64 = 0x6675_6461_6368_6169;
/// The advisory lock migrations run under ("fudamigr").
const MIGRATE_LOCK: i64 = 0x6675_6461_6d69_6772;
/// Records kept in memory before they are written (an import writes in chunks).
const FLUSH_AT: usize = 10_000;
/// The channel replicas announce cached changes on.
const CHANNEL: &str = "fuda_keyd";

/// Schema migrations, in order; `fuda_schema` records those applied. Text is compared
/// and ordered byte-wise (`COLLATE "C"` in queries) as SQLite does; names and paths are
/// kept as bytes (they need not be UTF-8). PostgreSQL's text cannot hold a NUL byte: the
/// audit log's free-form columns (who, which document, about whom, why) are bytes too, so
/// that a request naming a document "a\0b" is recorded like any other, and a lookup of
/// such a key finds nothing without asking the database (see [`nul`]).
pub const MIGRATIONS: &[&str] = &[
    // 1: directory, registry, revocations, audit, policy (SQLite's 1–3 in one).
    r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE users (
    name TEXT PRIMARY KEY, display_name TEXT NOT NULL, dept TEXT, status TEXT NOT NULL,
    admin BOOLEAN NOT NULL, recipient TEXT, signing_key TEXT,
    kind TEXT NOT NULL DEFAULT 'person');
CREATE INDEX users_dept ON users (dept);
CREATE TABLE groups (name TEXT PRIMARY KEY);
CREATE TABLE group_members (grp TEXT NOT NULL, member TEXT NOT NULL, PRIMARY KEY (grp, member));
CREATE INDEX group_members_member ON group_members (member);
CREATE TABLE enrollments (code_hash BYTEA PRIMARY KEY, member TEXT NOT NULL, expires_at BIGINT NOT NULL);
CREATE TABLE tokens (hash BYTEA PRIMARY KEY, member TEXT NOT NULL, created_at BIGINT NOT NULL);
CREATE INDEX tokens_member ON tokens (member);
CREATE TABLE documents (
    id TEXT PRIMARY KEY, name BYTEA NOT NULL, level TEXT NOT NULL, owner TEXT NOT NULL,
    max_rights TEXT NOT NULL, expires_at BIGINT, offline_days BIGINT NOT NULL,
    size BIGINT NOT NULL, digest TEXT NOT NULL, host TEXT NOT NULL, path BYTEA NOT NULL,
    key_version BIGINT NOT NULL, created_at BIGINT NOT NULL, key_check BYTEA NOT NULL);
CREATE TABLE grants (doc TEXT NOT NULL, principal TEXT NOT NULL, rights TEXT NOT NULL,
    PRIMARY KEY (doc, principal));
CREATE TABLE revocations (doc TEXT NOT NULL, member TEXT NOT NULL, at BIGINT NOT NULL,
    by TEXT NOT NULL, PRIMARY KEY (doc, member));
CREATE INDEX revocations_member ON revocations (member);
CREATE TABLE audit (
    seq BIGINT PRIMARY KEY, at_ms BIGINT NOT NULL, actor BYTEA NOT NULL, action TEXT NOT NULL,
    doc BYTEA, subject BYTEA, outcome TEXT NOT NULL, reason BYTEA, detail TEXT NOT NULL,
    prev TEXT NOT NULL, hash TEXT NOT NULL);
CREATE INDEX audit_doc ON audit (doc);
CREATE INDEX audit_actor ON audit (actor);
CREATE INDEX audit_subject ON audit (subject);
CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, hash TEXT NOT NULL);
CREATE TABLE policies (
    version BIGINT PRIMARY KEY, text TEXT NOT NULL, origin TEXT NOT NULL,
    set_by TEXT NOT NULL, set_at BIGINT NOT NULL);
"#,
    // 2: the company's file index from machine reports (SQLite's 4).
    index::MIGRATION,
    // 3: the versions of a document saved back after the first (SQLite's 5).
    r#"
CREATE TABLE document_versions (
    doc TEXT NOT NULL, version BIGINT NOT NULL, size BIGINT NOT NULL, digest TEXT NOT NULL,
    saved_by TEXT NOT NULL, saved_at BIGINT NOT NULL, PRIMARY KEY (doc, version));
"#,
    // 4: the read-only auditor role (SQLite's 6).
    r#"
ALTER TABLE users ADD COLUMN auditor BOOLEAN NOT NULL DEFAULT false;
"#,
    // 5: the browser console's one-time log-in links and sessions (hashes only).
    r#"
CREATE TABLE console_credentials (
    hash BYTEA PRIMARY KEY, member TEXT NOT NULL, kind TEXT NOT NULL, created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL, last_seen BIGINT NOT NULL);
CREATE INDEX console_credentials_member ON console_credentials (member);
"#,
    // 6: the generation that tells a replica its cached rows are still current (no
    // SQLite counterpart: SQLite has one process).
    cache::MIGRATION,
    // 7: narrow indexes of the file index for the console's lists (SQLite's 8).
    index::MIGRATION_LISTS,
];

/// Where a PostgreSQL database is and how to reach it: a `postgres://` URL (any option
/// rust-postgres reads, e.g. `sslmode=require`) plus `sslrootcert=FILE`, the PEM file of
/// the certificate authorities trusted for TLS to the database (default: the Mozilla
/// roots). The certificate is always verified.
#[derive(Clone)]
pub struct Target {
    /// As given (it may hold a password).
    url: String,
    config: Config,
    tls: MakeRustlsConnect,
    label: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_tuple("Target").field(&self.label).finish()
    }
}

impl Target {
    /// Reads a `postgres://` or `postgresql://` URL.
    pub fn parse(url: &str) -> Result<Target, StoreError> {
        let bad = |message: String| StoreError::Address(message);
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, q),
            None => (url, ""),
        };
        let mut ca = None;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("sslrootcert", file)) => ca = Some(PathBuf::from(file)),
                _ => kept.push(pair),
            }
        }
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        let mut config = Config::from_str(&rest).map_err(|e| {
            bad(format!(
                "not a PostgreSQL URL (postgres://USER@HOST:PORT/DATABASE?sslmode=require&sslrootcert=CA.pem): {e}"
            ))
        })?;
        if config.get_hosts().is_empty() {
            return Err(bad("the PostgreSQL URL names no host".into()));
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        config.application_name("fuda-keyd");
        let tls = tls_connector(ca.as_deref())?;
        let label = label_of(&config);
        Ok(Target {
            url: url.to_owned(),
            config,
            tls,
            label,
        })
    }

    /// The database, for messages: user, host, port and name, never the password.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The URL as given, for the data directory's `database` file (it may hold a
    /// password: never log it).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A new connection, made durable: every commit waits for the write-ahead log.
    fn connect(&self) -> Result<Client, StoreError> {
        let mut client = self
            .config
            .connect(self.tls.clone())
            .map_err(|e| map_err(&self.label, e))?;
        client
            .batch_execute(
                "SET synchronous_commit = on; SET idle_in_transaction_session_timeout = '60s'",
            )
            .map_err(|e| map_err(&self.label, e))?;
        Ok(client)
    }
}

fn label_of(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(::postgres::config::Host::Tcp(h)) => h.clone(),
        Some(::postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => String::new(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        config.get_user().unwrap_or(""),
        config.get_dbname().unwrap_or("")
    )
}

/// TLS to the database: rustls with ring, trusting the CAs in `ca` (PEM) or the Mozilla
/// roots.
fn tls_connector(ca: Option<&Path>) -> Result<MakeRustlsConnect, StoreError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(path) => {
            let bad = |e: String| {
                StoreError::Address(format!(
                    "sslrootcert {}: {e} (a PEM file of the CA certificates that sign the database's certificate)",
                    path.display()
                ))
            };
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| bad(e.to_string()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(e.to_string()))?;
            if certs.is_empty() {
                return Err(bad("no certificate in it".into()));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| bad(e.to_string()))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    // ring, as every TLS connection of fuda (the store sits below `crate::tls`).
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Address(e.to_string()))?
        .with_root_certificates(Arc::new(roots))
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// A driver error as a store error: a lost or refused connection, or a server shutting
/// down, is [`StoreError::Unavailable`] (try again); anything else a database error.
fn map_err(label: &str, e: ::postgres::Error) -> StoreError {
    let unavailable = e.is_closed()
        || match e.code() {
            // Connection exceptions (08…), operator intervention (57P…: shutdown, crash
            // recovery, cannot connect now).
            Some(code) => code.code().starts_with("08") || code.code().starts_with("57P"),
            // No server answer at all: the socket.
            None => e.as_db_error().is_none(),
        };
    let message = match e.as_db_error() {
        Some(db) => db.to_string(),
        // The cause too: "error performing TLS handshake: invalid peer certificate: …".
        None => {
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                message = format!("{message}: {cause}");
                source = cause.source();
            }
            message
        }
    };
    if unavailable {
        StoreError::Unavailable {
            database: label.to_owned(),
            message,
        }
    } else {
        StoreError::Database {
            path: label.to_owned(),
            message,
        }
    }
}

/// Applies the migrations this database lacks (refusing a newer schema).
fn migrate(client: &mut Client, label: &str) -> Result<(), StoreError> {
    let err = |e| map_err(label, e);
    let mut tx = client.transaction().map_err(err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])
        .map_err(err)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS fuda_schema (
            version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )
    .map_err(err)?;
    let found: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM fuda_schema", &[])
        .map_err(err)?
        .get(0);
    let supported = MIGRATIONS.len() as i64;
    if i64::from(found) > supported {
        return Err(StoreError::TooNew {
            path: label.to_owned(),
            found: found.into(),
            supported,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.batch_execute(sql).map_err(err)?;
        tx.execute(
            "INSERT INTO fuda_schema (version) VALUES ($1)",
            &[&(i as i32 + 1)],
        )
        .map_err(err)?;
    }
    tx.commit().map_err(err)
}

/// A PostgreSQL database, through one connection (made again when lost).
pub struct PgStore {
    target: Target,
    client: Option<Client>,
    statements: HashMap<&'static str, Statement>,
    /// Directory and registry rows read, while the database's generation stays.
    cache: Cache,
    /// Makes the batches' commits durable on a connection of its own.
    flusher: Arc<Flusher>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("database", &self.target.label)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects and migrates. Must not run on an async runtime's thread (the driver
    /// blocks).
    pub fn open(target: &Target) -> Result<PgStore, StoreError> {
        let mut client = target.connect()?;
        migrate(&mut client, &target.label)?;
        let flusher = Flusher::open(target.clone())?;
        Ok(PgStore {
            target: target.clone(),
            client: Some(client),
            statements: HashMap::new(),
            cache: Cache::default(),
            flusher,
        })
    }

    /// The connection, made again if it was lost.
    fn connected(&mut self) -> Result<&mut Client, StoreError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = None;
            self.statements.clear();
            // Perhaps another server (a restored backup): nothing read before is trusted.
            self.cache.forget();
            let client = self.target.connect()?;
            // Before anything commits on it, so that its commits can be confirmed.
            self.flusher.connect()?;
            self.client = Some(client);
        }
        Ok(self.client.as_mut().expect("connected"))
    }
}

impl Store for PgStore {
    fn transaction(
        &mut self,
        work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.transaction_pending(work)?.wait()
    }

    fn transaction_pending(
        &mut self,
        work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<Durability, StoreError> {
        let label = self.target.label.clone();
        self.connected()?;
        let ticket = self.flusher.ticket();
        let client = self.client.as_mut().expect("connected");
        let cache = &mut self.cache;
        let result = begin(client, &label).and_then(|(head, generation)| {
            cache.at(generation);
            let mut tx = PgTx {
                client,
                statements: &mut self.statements,
                label: &label,
                start: head.clone(),
                head,
                records: Vec::new(),
                flushed: 0,
                job: Job::None,
                broken: None,
                cache,
            };
            let done = work(&mut tx).and_then(|()| tx.commit());
            if done.is_err() {
                let _ = tx.client.batch_execute("ROLLBACK");
            }
            done
        });
        if matches!(result, Err(StoreError::Unavailable { .. })) {
            // Made again on the next transaction.
            self.client = None;
        }
        result?;
        self.flusher.committed(ticket);
        let flusher = self.flusher.clone();
        Ok(Durability::Pending(Box::new(move || flusher.wait(ticket))))
    }

    fn snapshots(&self) -> SnapshotOpener {
        index::opener(self.target.clone())
    }

    fn follower(&self) -> Option<Box<dyn Follower>> {
        Some(Box::new(PgFollower {
            target: self.target.clone(),
            client: None,
        }))
    }
}

/// The chain's head (none while the chain is empty).
type Head = Option<(i64, String)>;

/// Begins a transaction holding the chain lock; the chain's head and the database's
/// generation ([`cache`]), read after the lock was taken. Its `COMMIT` does not wait for
/// the disk, so the lock is not held through the `fsync`: the [`Flusher`] waits for it
/// before anything is answered.
fn begin(client: &mut Client, label: &str) -> Result<(Head, i64), StoreError> {
    // One round trip: begin, wait for the other replicas' batches, read the head. Each
    // statement of a simple query reads its own snapshot: the last sees every
    // transaction that committed before the lock was granted.
    let messages = client
        .simple_query(&format!(
            "BEGIN; SET LOCAL synchronous_commit = off; SELECT pg_advisory_xact_lock({CHAIN_LOCK}); {}",
            cache::HEAD_AND_GENERATION
        ))
        .map_err(|e| map_err(label, e))?;
    let row = messages.iter().rev().find_map(|m| match m {
        SimpleQueryMessage::Row(r) if r.len() == 3 => Some(r),
        _ => None,
    });
    let Some(r) = row else {
        let _ = client.batch_execute("ROLLBACK");
        return Err(StoreError::Database {
            path: label.to_owned(),
            message: "the table fuda_generation has no row: the schema was edited by hand".into(),
        });
    };
    let seq: i64 = r.get(0).and_then(|s| s.parse().ok()).unwrap_or(0);
    let head = (seq > 0).then(|| (seq, r.get(1).unwrap_or("").to_owned()));
    let generation = r.get(2).and_then(|g| g.parse().ok()).unwrap_or(0);
    Ok((head, generation))
}

/// Where the current job is with its savepoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Job {
    /// Between jobs (or no job: a plain transaction).
    None,
    /// A job runs and has not written yet: no savepoint opened.
    Reading {
        /// The job's first audit record's index.
        records: usize,
        /// A kept job's savepoint still to release.
        release: bool,
    },
    /// A job wrote: its savepoint is open.
    Writing {
        /// The job's first audit record's index.
        records: usize,
        /// How many records were written to the table when the savepoint opened.
        flushed: usize,
    },
    /// A kept job's savepoint, released lazily with the next one's opening.
    Kept,
}

struct PgTx<'a> {
    client: &'a mut Client,
    statements: &'a mut HashMap<&'static str, Statement>,
    label: &'a str,
    /// The chain's head when the transaction began.
    start: Option<(i64, String)>,
    /// The chain's head, with the records of this transaction.
    head: Option<(i64, String)>,
    /// The records appended in this transaction, in order.
    records: Vec<Record>,
    /// How many of them are in the table already.
    flushed: usize,
    job: Job,
    /// A failure that aborted the transaction: everything after it fails too.
    broken: Option<StoreError>,
    /// Rows read at this generation (forgotten at every write).
    cache: &'a mut Cache,
}

/// A user, their groups, and the revocations of all their documents (`at`, `by`).
const USER_GET: &str =
    "SELECT name, display_name, dept, status, admin, recipient, signing_key, kind, auditor,
    ARRAY(SELECT grp FROM group_members WHERE member = users.name ORDER BY grp COLLATE \"C\"),
    ARRAY(SELECT at FROM revocations r WHERE r.doc = '' AND r.member = users.name ORDER BY at),
    ARRAY(SELECT by FROM revocations r WHERE r.doc = '' AND r.member = users.name ORDER BY at)
    FROM users WHERE name = $1";
/// A token's user and its time, with the same columns as [`USER_GET`] after them.
const TOKEN_USER: &str = "SELECT t.member, t.created_at,
    u.name, u.display_name, u.dept, u.status, u.admin, u.recipient, u.signing_key, u.kind,
    u.auditor,
    ARRAY(SELECT grp FROM group_members WHERE member = t.member ORDER BY grp COLLATE \"C\"),
    ARRAY(SELECT at FROM revocations r WHERE r.doc = '' AND r.member = t.member ORDER BY at),
    ARRAY(SELECT by FROM revocations r WHERE r.doc = '' AND r.member = t.member ORDER BY at)
    FROM tokens t LEFT JOIN users u ON u.name = t.member WHERE t.hash = $1";
const USER_LIST: &str =
    "SELECT name, display_name, dept, status, admin, recipient, signing_key, kind, auditor,
    ARRAY(SELECT grp FROM group_members WHERE member = users.name ORDER BY grp COLLATE \"C\")
    FROM users ORDER BY name COLLATE \"C\"";
/// The documents' columns, with their grants and whether they are revoked for everyone.
macro_rules! doc_select {
    () => {
        "SELECT id, name, level, owner, max_rights, expires_at, offline_days, size,
    digest, host, path, key_version, created_at, key_check,
    ARRAY(SELECT principal FROM grants g WHERE g.doc = d.id ORDER BY principal COLLATE \"C\"),
    ARRAY(SELECT rights FROM grants g WHERE g.doc = d.id ORDER BY principal COLLATE \"C\"),
    EXISTS (SELECT 1 FROM revocations r WHERE r.doc = d.id AND r.member = ''),
    ARRAY(SELECT member FROM revocations r WHERE r.doc = d.id ORDER BY member COLLATE \"C\"),
    ARRAY(SELECT at FROM revocations r WHERE r.doc = d.id ORDER BY member COLLATE \"C\"),
    ARRAY(SELECT by FROM revocations r WHERE r.doc = d.id ORDER BY member COLLATE \"C\"),
    (SELECT COALESCE(MAX(version), 1) FROM document_versions v WHERE v.doc = d.id)
    FROM documents d"
    };
}

/// Every registered document, in the order they were registered.
const DOC_LIST: &str = concat!(doc_select!(), " ORDER BY created_at, id COLLATE \"C\"");

impl PgTx<'_> {
    fn statement(&mut self, sql: &'static str) -> Result<Statement, StoreError> {
        if let Some(st) = self.statements.get(sql) {
            return Ok(st.clone());
        }
        let st = self
            .client
            .prepare(sql)
            .map_err(|e| map_err(self.label, e))?;
        self.statements.insert(sql, st.clone());
        Ok(st)
    }

    /// Runs `sql` (prepared once per connection); a failure outside a savepoint breaks
    /// the transaction.
    fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        if let Some(e) = &self.broken {
            return Err(e.clone());
        }
        let result = self.statement(sql).and_then(|st| {
            self.client
                .query(&st, params)
                .map_err(|e| map_err(self.label, e))
        });
        if let Err(e) = &result {
            if !matches!(self.job, Job::Writing { .. }) {
                self.broken = Some(e.clone());
            }
        }
        result
    }

    /// Runs a statement that writes, inside the job's savepoint (opened now if needed).
    fn write(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        self.open_savepoint()?;
        self.cache.forget();
        self.query(sql, params)
    }

    fn open_savepoint(&mut self) -> Result<(), StoreError> {
        if let Job::Reading { records, release } = self.job {
            if let Some(e) = &self.broken {
                return Err(e.clone());
            }
            let sql = if release {
                "RELEASE SAVEPOINT job; SAVEPOINT job"
            } else {
                "SAVEPOINT job"
            };
            self.client.batch_execute(sql).map_err(|e| {
                let e = map_err(self.label, e);
                self.broken = Some(e.clone());
                e
            })?;
            self.job = Job::Writing {
                records,
                flushed: self.flushed,
            };
        }
        Ok(())
    }

    /// Writes the records not yet in the table, and the head.
    fn flush(&mut self) -> Result<(), StoreError> {
        if self.flushed == self.records.len() {
            return Ok(());
        }
        self.open_savepoint()?;
        let new = &self.records[self.flushed..];
        let col = |f: &dyn Fn(&Record) -> Option<String>| new.iter().map(f).collect::<Vec<_>>();
        let bytes = |f: &dyn Fn(&Record) -> Option<&str>| {
            new.iter()
                .map(|r| f(r).map(|t| t.as_bytes().to_vec()))
                .collect::<Vec<_>>()
        };
        let seq: Vec<i64> = new.iter().map(|r| r.seq).collect();
        let at: Vec<i64> = new.iter().map(|r| r.at_ms).collect();
        let actor = bytes(&|r| Some(r.event.actor.as_str()));
        let action = col(&|r| Some(r.event.action.clone()));
        let doc = bytes(&|r| r.event.doc.as_deref());
        let subject = bytes(&|r| r.event.subject.as_deref());
        let outcome = col(&|r| Some(r.event.outcome.as_str().to_owned()));
        let reason = bytes(&|r| r.event.reason.as_deref());
        let detail = col(&|r| Some(r.event.detail.to_string()));
        let prev = col(&|r| Some(r.prev.clone()));
        let hash = col(&|r| Some(r.hash.clone()));
        let last = new.last().expect("records to flush");
        let (head_seq, head_hash) = (last.seq, last.hash.clone());
        self.query(
            "WITH a AS (INSERT INTO audit (seq, at_ms, actor, action, doc, subject, outcome, reason, detail, prev, hash)
               SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bytea[], $4::text[], $5::bytea[],
                 $6::bytea[], $7::text[], $8::bytea[], $9::text[], $10::text[], $11::text[]))
             INSERT INTO audit_head (id, seq, hash) VALUES (1, $12, $13)
             ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash",
            &[
                &seq, &at, &actor, &action, &doc, &subject, &outcome, &reason, &detail, &prev,
                &hash, &head_seq, &head_hash,
            ],
        )?;
        self.flushed = self.records.len();
        Ok(())
    }

    /// Writes what waits and commits.
    fn commit(&mut self) -> Result<(), StoreError> {
        self.job = Job::None;
        self.flush()?;
        if let Some(e) = &self.broken {
            return Err(e.clone());
        }
        self.client
            .batch_execute("COMMIT")
            .map_err(|e| map_err(self.label, e))
    }

    fn doc_from_row(r: &Row) -> DocRow {
        let check: Vec<u8> = r.get(13);
        let mut key_check = [0u8; 32];
        if check.len() == 32 {
            key_check.copy_from_slice(&check);
        }
        let principals: Vec<String> = r.get(14);
        let rights: Vec<String> = r.get(15);
        DocRow {
            doc: Document {
                id: r.get(0),
                name: path_of(r.get(1)),
                level: r.get(2),
                owner: r.get(3),
                grants: principals
                    .iter()
                    .zip(&rights)
                    .filter_map(|(p, r)| {
                        Some(Grant {
                            principal: p.parse().ok()?,
                            rights: r.parse().ok()?,
                        })
                    })
                    .collect(),
                max_rights: r.get::<_, String>(4).parse().unwrap_or_default(),
                expires_at: r.get(5),
                offline_days: r.get::<_, i64>(6) as u32,
                size: r.get::<_, i64>(7) as u64,
                digest: r.get(8),
                host: r.get(9),
                path: path_of(r.get(10)),
                key_version: r.get::<_, i64>(11) as u32,
                created_at: r.get(12),
                revoked: r.get(16),
                version: r.get::<_, i64>(20) as u32,
            },
            key_check,
        }
    }
}

fn path_of(bytes: Vec<u8>) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(&bytes))
}

fn user_from_row(r: &Row) -> User {
    user_at(r, 0)
}

/// A user from the columns of [`USER_GET`] starting at `at`.
fn user_at(r: &Row, at: usize) -> User {
    User {
        name: r.get(at),
        display_name: r.get(at + 1),
        dept: r.get(at + 2),
        status: UserStatus::parse(r.get(at + 3)),
        admin: r.get(at + 4),
        recipient: r.get(at + 5),
        signing_key: r.get(at + 6),
        kind: EntryKind::parse(r.get(at + 7)),
        auditor: r.get(at + 8),
        groups: r.get(at + 9),
    }
}

/// Revocations of one document (`doc`) or of all of a user's (`doc` empty), from the
/// parallel arrays of users, times and admins a lookup read ahead.
fn revocations_of(doc: &str, users: Vec<String>, at: Vec<i64>, by: Vec<String>) -> Vec<Revocation> {
    users
        .into_iter()
        .zip(at.into_iter().zip(by))
        .map(|(user, (at, by))| Revocation {
            doc: (!doc.is_empty()).then(|| doc.to_owned()),
            user: (!user.is_empty()).then_some(user),
            at,
            by,
        })
        .collect()
}

/// Text the service wrote as bytes (an edited row that is not UTF-8 reads with U+FFFD,
/// which the chain's verification then reports).
fn text_of(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Whether a key holds a NUL byte: PostgreSQL's text cannot, so no row has it and the
/// lookup answers "none" without asking (asking would be an error).
fn nul(key: &str) -> bool {
    key.contains('\0')
}

fn record_from_row(r: &Row) -> Record {
    let detail: String = r.get(8);
    Record {
        seq: r.get(0),
        at_ms: r.get(1),
        event: Event {
            actor: text_of(r.get(2)),
            action: r.get(3),
            doc: r.get::<_, Option<Vec<u8>>>(4).map(text_of),
            subject: r.get::<_, Option<Vec<u8>>>(5).map(text_of),
            outcome: if r.get::<_, &str>(6) == "allow" {
                Outcome::Allow
            } else {
                Outcome::Deny
            },
            reason: r.get::<_, Option<Vec<u8>>>(7).map(text_of),
            // An unparsable detail (an edited row) keeps its text, so verify sees the edit.
            detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail)),
        },
        prev: r.get(9),
        hash: r.get(10),
    }
}

/// (hash, user, time); a hash of another length (an edited row) reads as zeros.
fn credential_from_row(r: &Row) -> Credential {
    let bytes: Vec<u8> = r.get(0);
    let mut hash = [0u8; 32];
    if bytes.len() == 32 {
        hash.copy_from_slice(&bytes);
    }
    (hash, r.get(1), r.get(2))
}

fn revocation_from_row(r: &Row) -> Revocation {
    let doc: String = r.get(0);
    let user: String = r.get(1);
    Revocation {
        doc: (!doc.is_empty()).then_some(doc),
        user: (!user.is_empty()).then_some(user),
        at: r.get(2),
        by: r.get(3),
    }
}

fn policy_from_row(r: &Row) -> PolicyVersion {
    PolicyVersion {
        version: r.get::<_, i64>(0) as u32,
        text: r.get(1),
        origin: r.get(2),
        set_by: r.get(3),
        set_at: r.get(4),
    }
}

const POLICY_GET: &str = "SELECT version, text, origin, set_by, set_at FROM policies
    WHERE $1::bigint IS NULL OR version = $1 ORDER BY version DESC LIMIT 1";

impl Tx for PgTx<'_> {
    fn meta_get(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        if nul(key) {
            return Ok(None);
        }
        let rows = self.query("SELECT value FROM meta WHERE key = $1", &[&key])?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    fn meta_set(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.write(
            "INSERT INTO meta (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            &[&key, &value],
        )
        .map(drop)
    }

    fn meta_all(&mut self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self
            .query(
                "SELECT key, value FROM meta ORDER BY key COLLATE \"C\"",
                &[],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    fn user_get(&mut self, name: &str) -> Result<Option<User>, StoreError> {
        if nul(name) {
            return Ok(None);
        }
        if let Some((user, _)) = self.cache.user(name) {
            return Ok(user.clone());
        }
        let rows = self.query(USER_GET, &[&name])?;
        let user = rows.first().map(user_from_row);
        let revoked = rows.first().map_or_else(Vec::new, |r| {
            let at: Vec<i64> = r.get(10);
            revocations_of("", vec![name.to_owned(); at.len()], at, r.get(11))
        });
        self.cache.keep_user(name, (user.clone(), revoked));
        Ok(user)
    }

    fn user_put(&mut self, u: &User) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO users (name, display_name, dept, status, admin, recipient, signing_key, kind, auditor)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (name) DO UPDATE SET display_name = EXCLUDED.display_name,
               dept = EXCLUDED.dept, status = EXCLUDED.status, admin = EXCLUDED.admin,
               recipient = EXCLUDED.recipient, signing_key = EXCLUDED.signing_key,
               kind = EXCLUDED.kind, auditor = EXCLUDED.auditor";
        self.write(
            SQL,
            &[
                &u.name,
                &u.display_name,
                &u.dept,
                &u.status.as_str(),
                &u.admin,
                &u.recipient,
                &u.signing_key,
                &u.kind.as_str(),
                &u.auditor,
            ],
        )
        .map(drop)
    }

    fn user_list(&mut self) -> Result<Vec<User>, StoreError> {
        Ok(self
            .query(USER_LIST, &[])?
            .iter()
            .map(user_from_row)
            .collect())
    }

    fn token_user(&mut self, hash: &[u8; 32]) -> Result<Option<(String, i64)>, StoreError> {
        if let Some(member) = self.cache.token(hash) {
            return Ok(Some(member.clone()));
        }
        let rows = self.query(TOKEN_USER, &[&&hash[..]])?;
        let Some(r) = rows.first() else {
            return Ok(None);
        };
        let name: String = r.get(0);
        let user = r.get::<_, Option<String>>(2).map(|_| user_at(r, 2));
        let at: Vec<i64> = r.get(12);
        let revoked = revocations_of("", vec![name.clone(); at.len()], at, r.get(13));
        let member = (name, r.get(1));
        self.cache.keep_user(&member.0, (user, revoked));
        self.cache.keep_token(*hash, member.clone());
        Ok(Some(member))
    }

    fn token_add(&mut self, hash: &[u8; 32], user: &str, at: i64) -> Result<(), StoreError> {
        self.write(
            "INSERT INTO tokens (hash, member, created_at) VALUES ($1, $2, $3)",
            &[&&hash[..], &user, &at],
        )
        .map(drop)
    }

    fn token_all(&mut self) -> Result<Vec<Credential>, StoreError> {
        Ok(self
            .query(
                "SELECT hash, member, created_at FROM tokens ORDER BY hash",
                &[],
            )?
            .iter()
            .map(credential_from_row)
            .collect())
    }

    fn enrollment_all(&mut self) -> Result<Vec<Credential>, StoreError> {
        Ok(self
            .query(
                "SELECT code_hash, member, expires_at FROM enrollments ORDER BY code_hash",
                &[],
            )?
            .iter()
            .map(credential_from_row)
            .collect())
    }

    fn token_delete_user(&mut self, user: &str) -> Result<usize, StoreError> {
        let rows = self.write("DELETE FROM tokens WHERE member = $1 RETURNING 1", &[&user])?;
        Ok(rows.len())
    }

    fn enrollment_add(
        &mut self,
        hash: &[u8; 32],
        user: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.write(
            "INSERT INTO enrollments (code_hash, member, expires_at) VALUES ($1, $2, $3)",
            &[&&hash[..], &user, &expires_at],
        )
        .map(drop)
    }

    fn enrollment_take(&mut self, hash: &[u8; 32]) -> Result<Option<(String, i64)>, StoreError> {
        let rows = self.write(
            "DELETE FROM enrollments WHERE code_hash = $1 RETURNING member, expires_at",
            &[&&hash[..]],
        )?;
        Ok(rows.first().map(|r| (r.get(0), r.get(1))))
    }

    fn console_put(&mut self, c: &crate::console::Credential) -> Result<(), StoreError> {
        self.write(
            "INSERT INTO console_credentials
                 (hash, member, kind, created_at, expires_at, last_seen)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (hash) DO UPDATE SET last_seen = EXCLUDED.last_seen",
            &[
                &&c.hash[..],
                &c.user,
                &c.kind.as_str(),
                &c.created_at,
                &c.expires_at,
                &c.last_seen,
            ],
        )
        .map(drop)
    }

    fn console_get(
        &mut self,
        hash: &[u8; 32],
    ) -> Result<Option<crate::console::Credential>, StoreError> {
        let rows = self.query(
            "SELECT member, kind, created_at, expires_at, last_seen
             FROM console_credentials WHERE hash = $1",
            &[&&hash[..]],
        )?;
        Ok(rows.first().and_then(|r| {
            Some(crate::console::Credential {
                hash: *hash,
                user: r.get(0),
                kind: crate::console::CredentialKind::parse(r.get(1))?,
                created_at: r.get(2),
                expires_at: r.get(3),
                last_seen: r.get(4),
            })
        }))
    }

    fn console_delete(&mut self, hash: &[u8; 32]) -> Result<bool, StoreError> {
        let rows = self.write(
            "DELETE FROM console_credentials WHERE hash = $1 RETURNING 1",
            &[&&hash[..]],
        )?;
        Ok(!rows.is_empty())
    }

    fn console_delete_user(&mut self, user: &str, now: i64) -> Result<usize, StoreError> {
        let rows = self.write(
            "DELETE FROM console_credentials WHERE member = $1 OR expires_at <= $2 RETURNING 1",
            &[&user, &now],
        )?;
        Ok(rows.len())
    }

    fn group_add(&mut self, name: &str) -> Result<(), StoreError> {
        self.write(
            "INSERT INTO groups (name) VALUES ($1) ON CONFLICT DO NOTHING",
            &[&name],
        )
        .map(drop)
    }

    fn group_exists(&mut self, name: &str) -> Result<bool, StoreError> {
        if nul(name) {
            return Ok(false);
        }
        let rows = self.query(
            "SELECT EXISTS (SELECT 1 FROM groups WHERE name = $1)
                 OR EXISTS (SELECT 1 FROM users WHERE dept = $1)",
            &[&name],
        )?;
        Ok(rows.first().is_some_and(|r| r.get(0)))
    }

    fn group_member(&mut self, group: &str, user: &str, member: bool) -> Result<(), StoreError> {
        let sql = if member {
            "INSERT INTO group_members (grp, member) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        } else {
            "DELETE FROM group_members WHERE grp = $1 AND member = $2"
        };
        self.write(sql, &[&group, &user]).map(drop)
    }

    fn group_list(&mut self) -> Result<Vec<Group>, StoreError> {
        let rows = self.query(
            "SELECT g, u FROM (
               SELECT name AS g, NULL AS u FROM groups
               UNION SELECT grp, member FROM group_members
               UNION SELECT dept, name FROM users WHERE dept IS NOT NULL) t
             ORDER BY g COLLATE \"C\", u COLLATE \"C\" NULLS FIRST",
            &[],
        )?;
        let mut groups: Vec<Group> = Vec::new();
        for r in rows {
            let (g, u): (String, Option<String>) = (r.get(0), r.get(1));
            if groups.last().map(|l| &l.name) != Some(&g) {
                groups.push(Group {
                    name: g,
                    members: Vec::new(),
                });
            }
            if let (Some(u), Some(last)) = (u, groups.last_mut()) {
                if !last.members.contains(&u) {
                    last.members.push(u);
                }
            }
        }
        Ok(groups)
    }

    fn doc_get(&mut self, id: &str) -> Result<Option<DocRow>, StoreError> {
        if nul(id) {
            return Ok(None);
        }
        if let Some((row, _)) = self.cache.doc(id) {
            return Ok(Some(row.clone()));
        }
        let rows = self.query(concat!(doc_select!(), " WHERE id = $1"), &[&id])?;
        let Some(r) = rows.first() else {
            return Ok(None);
        };
        let row = PgTx::doc_from_row(r);
        let revoked = revocations_of(id, r.get(17), r.get(18), r.get(19));
        self.cache.keep_doc(id, (row.clone(), revoked));
        Ok(Some(row))
    }

    fn doc_insert(&mut self, row: &DocRow) -> Result<(), StoreError> {
        let d = &row.doc;
        self.write(
            "INSERT INTO documents (id, name, level, owner, max_rights, expires_at, offline_days,
               size, digest, host, path, key_version, created_at, key_check)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            &[
                &d.id,
                &d.name.as_os_str().as_bytes(),
                &d.level,
                &d.owner,
                &d.max_rights.to_string(),
                &d.expires_at,
                &i64::from(d.offline_days),
                &(d.size as i64),
                &d.digest,
                &d.host,
                &d.path.as_os_str().as_bytes(),
                &i64::from(d.key_version),
                &d.created_at,
                &&row.key_check[..],
            ],
        )?;
        for g in &d.grants {
            self.grant_set(&d.id, g)?;
        }
        Ok(())
    }

    fn doc_list(&mut self) -> Result<Vec<Document>, StoreError> {
        Ok(self
            .query(DOC_LIST, &[])?
            .iter()
            .map(|r| PgTx::doc_from_row(r).doc)
            .collect())
    }

    fn doc_set_caps(
        &mut self,
        id: &str,
        max_rights: fuda_core::rights::Rights,
        expires_at: Option<i64>,
        offline_days: u32,
    ) -> Result<(), StoreError> {
        self.write(
            "UPDATE documents SET max_rights = $2, expires_at = $3, offline_days = $4 WHERE id = $1",
            &[
                &id,
                &max_rights.to_string(),
                &expires_at,
                &i64::from(offline_days),
            ],
        )
        .map(drop)
    }

    fn doc_set_owner(&mut self, id: &str, owner: &str) -> Result<(), StoreError> {
        self.write(
            "UPDATE documents SET owner = $2 WHERE id = $1",
            &[&id, &owner],
        )
        .map(drop)
    }

    fn doc_set_level(&mut self, id: &str, level: &str) -> Result<(), StoreError> {
        self.write(
            "UPDATE documents SET level = $2 WHERE id = $1",
            &[&id, &level],
        )
        .map(drop)
    }

    fn doc_add_version(
        &mut self,
        id: &str,
        size: u64,
        digest: &str,
        by: &str,
        at: i64,
    ) -> Result<u32, StoreError> {
        // The next number and the document's new size and digest in one statement.
        let rows = self.write(
            "WITH v AS (
               INSERT INTO document_versions (doc, version, size, digest, saved_by, saved_at)
               SELECT $1, COALESCE(MAX(version), 1) + 1, $2, $3, $4, $5
               FROM document_versions WHERE doc = $1
               RETURNING version),
             d AS (UPDATE documents SET size = $2, digest = $3 WHERE id = $1)
             SELECT version FROM v",
            &[&id, &(size as i64), &digest, &by, &at],
        )?;
        Ok(rows.first().map_or(2, |r| r.get::<_, i64>(0)) as u32)
    }

    fn grant_set(&mut self, doc: &str, g: &Grant) -> Result<(), StoreError> {
        self.write(
            "INSERT INTO grants (doc, principal, rights) VALUES ($1, $2, $3)
             ON CONFLICT (doc, principal) DO UPDATE SET rights = EXCLUDED.rights",
            &[&doc, &g.principal.to_string(), &g.rights.to_string()],
        )
        .map(drop)
    }

    fn grant_remove(&mut self, doc: &str, principal: &Principal) -> Result<bool, StoreError> {
        let rows = self.write(
            "DELETE FROM grants WHERE doc = $1 AND principal = $2 RETURNING 1",
            &[&doc, &principal.to_string()],
        )?;
        Ok(!rows.is_empty())
    }

    fn revocation_add(&mut self, r: &Revocation) -> Result<(), StoreError> {
        self.write(
            "INSERT INTO revocations (doc, member, at, by) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
            &[
                &r.doc.as_deref().unwrap_or(""),
                &r.user.as_deref().unwrap_or(""),
                &r.at,
                &r.by,
            ],
        )
        .map(drop)
    }

    fn revocation_remove(
        &mut self,
        doc: Option<&str>,
        user: Option<&str>,
    ) -> Result<bool, StoreError> {
        let rows = self.write(
            "DELETE FROM revocations WHERE doc = $1 AND member = $2 RETURNING 1",
            &[&doc.unwrap_or(""), &user.unwrap_or("")],
        )?;
        Ok(!rows.is_empty())
    }

    fn revocations_for(&mut self, doc: &str, user: &str) -> Result<Vec<Revocation>, StoreError> {
        if nul(doc) || nul(user) {
            // No revocation names a key with a NUL; one naming only the other key may.
            let rows = match (nul(doc), nul(user)) {
                (true, true) => Vec::new(),
                (true, false) => self.query(
                    "SELECT doc, member, at, by FROM revocations WHERE doc = '' AND member = $1",
                    &[&user],
                )?,
                _ => self.query(
                    "SELECT doc, member, at, by FROM revocations WHERE doc = $1 AND member = ''",
                    &[&doc],
                )?,
            };
            return Ok(rows.iter().map(revocation_from_row).collect());
        }
        if let Some(found) = self.cache.revocations_for(doc, user) {
            return Ok(found);
        }
        Ok(self
            .query(
                "SELECT doc, member, at, by FROM revocations
                 WHERE (doc = $1 AND member IN ('', $2)) OR (doc = '' AND member = $2)",
                &[&doc, &user],
            )?
            .iter()
            .map(revocation_from_row)
            .collect())
    }

    fn revocation_list(&mut self) -> Result<Vec<Revocation>, StoreError> {
        Ok(self
            .query(
                "SELECT doc, member, at, by FROM revocations
                 ORDER BY at, doc COLLATE \"C\", member COLLATE \"C\"",
                &[],
            )?
            .iter()
            .map(revocation_from_row)
            .collect())
    }

    fn policy_get(&mut self, version: Option<u32>) -> Result<Option<PolicyVersion>, StoreError> {
        let version = version.map(i64::from);
        Ok(self
            .query(POLICY_GET, &[&version])?
            .first()
            .map(policy_from_row))
    }

    fn policy_put(&mut self, p: &PolicyVersion) -> Result<(), StoreError> {
        // The other replicas hear of it when this commits.
        self.write(
            "WITH p AS (INSERT INTO policies (version, text, origin, set_by, set_at)
               VALUES ($1, $2, $3, $4, $5))
             SELECT pg_notify('fuda_keyd', 'policy')",
            &[
                &i64::from(p.version),
                &p.text,
                &p.origin,
                &p.set_by,
                &p.set_at,
            ],
        )
        .map(drop)
    }

    fn audit_head(&mut self) -> Result<Option<(i64, String)>, StoreError> {
        Ok(self.head.clone())
    }

    fn audit_append(&mut self, r: &Record) -> Result<(), StoreError> {
        if let Some(e) = &self.broken {
            return Err(e.clone());
        }
        self.head = Some((r.seq, r.hash.clone()));
        self.records.push(r.clone());
        // A group commit holds a few hundred; an import (`fuda-keyd migrate`) millions.
        if self.records.len() - self.flushed >= FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    fn audit_query(&mut self, q: &Query) -> Result<Vec<Record>, StoreError> {
        self.flush()?;
        let limit = i64::from(q.limit.unwrap_or(1000));
        let doc = q.doc.as_deref().map(str::as_bytes);
        let user = q.user.as_deref().map(str::as_bytes);
        Ok(self
            .query(
                "SELECT * FROM (SELECT seq, at_ms, actor, action, doc, subject, outcome, reason, detail, prev, hash
                   FROM audit
                   WHERE ($1::bytea IS NULL OR doc = $1)
                     AND ($2::bytea IS NULL OR actor = $2 OR subject = $2)
                     AND ($3::bigint IS NULL OR at_ms >= $3 * 1000)
                     AND ($4::bigint IS NULL OR at_ms < $4 * 1000)
                     AND ($6::text IS NULL OR action = $6)
                     AND ($7::bigint IS NULL OR seq < $7)
                   ORDER BY seq DESC LIMIT $5) t ORDER BY seq",
                &[
                    &doc,
                    &user,
                    &q.since,
                    &q.until,
                    &limit,
                    &q.action,
                    &q.before_seq,
                ],
            )?
            .iter()
            .map(record_from_row)
            .collect())
    }

    fn audit_all(&mut self) -> Result<Vec<Record>, StoreError> {
        self.flush()?;
        Ok(self
            .query(
                "SELECT seq, at_ms, actor, action, doc, subject, outcome, reason, detail, prev, hash
                 FROM audit ORDER BY seq",
                &[],
            )?
            .iter()
            .map(record_from_row)
            .collect())
    }

    fn audit_label_sets(&mut self, doc: &str) -> Result<Vec<Record>, StoreError> {
        self.flush()?;
        Ok(self
            .query(
                "SELECT seq, at_ms, actor, action, doc, subject, outcome, reason, detail, prev, hash
                 FROM audit WHERE doc = $1
                   AND action IN ('label-set', 'label-downgrade') AND outcome = 'allow'
                 ORDER BY seq",
                &[&doc.as_bytes()],
            )?
            .iter()
            .map(record_from_row)
            .collect())
    }

    fn report_state(
        &mut self,
        machine: &str,
        report: &str,
    ) -> Result<Option<ReportState>, StoreError> {
        self.report_state_of(machine, report)
    }

    fn report_states_before(
        &mut self,
        machine: &str,
        before: i64,
    ) -> Result<Vec<ReportState>, StoreError> {
        self.report_states_of(machine, before)
    }

    fn report_state_put(&mut self, machine: &str, state: &ReportState) -> Result<(), StoreError> {
        self.report_state_store(machine, state)
    }

    fn report_state_delete(&mut self, machine: &str, report: &str) -> Result<(), StoreError> {
        self.report_state_forget(machine, report)
    }

    fn index_put(&mut self, machine: &str, rows: &[IndexRow], at: i64) -> Result<(), StoreError> {
        self.index_store(machine, rows, at)
    }

    fn index_remove(&mut self, machine: &str, paths: &[PathBuf]) -> Result<usize, StoreError> {
        self.index_delete(machine, paths)
    }

    fn machine_reported(
        &mut self,
        machine: &str,
        at: i64,
        interval_s: Option<u32>,
    ) -> Result<(), StoreError> {
        self.machine_seen(machine, at, interval_s)
    }

    fn index_all(&mut self) -> Result<Vec<IndexEntry>, StoreError> {
        self.index_entries()
    }

    fn index_put_entries(&mut self, entries: &[IndexEntry]) -> Result<(), StoreError> {
        self.index_store_entries(entries)
    }

    fn machine_all(&mut self) -> Result<Vec<MachineRow>, StoreError> {
        self.machine_rows()
    }

    fn machine_put(&mut self, m: &MachineRow) -> Result<(), StoreError> {
        self.machine_store(m)
    }

    fn report_state_all(&mut self) -> Result<Vec<(String, ReportState)>, StoreError> {
        self.report_states_all()
    }

    fn version_all(&mut self) -> Result<Vec<DocVersion>, StoreError> {
        Ok(self
            .query(
                "SELECT doc, version, size, digest, saved_by, saved_at FROM document_versions
                 ORDER BY doc COLLATE \"C\", version",
                &[],
            )?
            .iter()
            .map(|r| DocVersion {
                doc: r.get(0),
                version: r.get::<_, i64>(1) as u32,
                size: r.get::<_, i64>(2) as u64,
                digest: r.get(3),
                saved_by: r.get(4),
                saved_at: r.get(5),
            })
            .collect())
    }

    fn version_put(&mut self, v: &DocVersion) -> Result<(), StoreError> {
        self.write(
            "INSERT INTO document_versions (doc, version, size, digest, saved_by, saved_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &v.doc,
                &i64::from(v.version),
                &(v.size as i64),
                &v.digest,
                &v.saved_by,
                &v.saved_at,
            ],
        )
        .map(drop)
    }

    fn savepoint(&mut self) -> Result<(), StoreError> {
        if let Some(e) = &self.broken {
            return Err(e.clone());
        }
        self.job = Job::Reading {
            records: self.records.len(),
            release: self.job == Job::Kept,
        };
        Ok(())
    }

    fn release(&mut self, keep: bool) -> Result<(), StoreError> {
        let job = std::mem::replace(&mut self.job, Job::None);
        let records = match job {
            Job::Reading { records, release } => {
                // Nothing written: only the records in memory to keep or drop, and an
                // earlier kept savepoint still to release.
                if release {
                    self.job = Job::Kept;
                }
                records
            }
            Job::Writing { records, flushed } => {
                if keep {
                    self.job = Job::Kept;
                } else {
                    if let Some(e) = &self.broken {
                        return Err(e.clone());
                    }
                    self.client
                        .batch_execute("ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job")
                        .map_err(|e| {
                            let e = map_err(self.label, e);
                            self.broken = Some(e.clone());
                            e
                        })?;
                    self.flushed = self.flushed.min(flushed);
                    self.cache.forget();
                }
                records
            }
            Job::None | Job::Kept => return Ok(()),
        };
        if !keep {
            self.records.truncate(records);
            self.head = match self.records.last() {
                Some(r) => Some((r.seq, r.hash.clone())),
                None => self.start.clone(),
            };
        }
        Ok(())
    }
}

/// Hears of changes another replica made to what every replica keeps in memory (the
/// organisation's policy), on its own connection.
pub struct PgFollower {
    target: Target,
    client: Option<Client>,
}

impl Follower for PgFollower {
    fn next(&mut self, wait: Duration) -> Result<Option<PolicyVersion>, StoreError> {
        let label = self.target.label.clone();
        let err = |e| map_err(&label, e);
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = None;
            let connected = self.target.connect().and_then(|mut c| {
                c.batch_execute(&format!("LISTEN {CHANNEL}")).map_err(err)?;
                Ok(c)
            });
            match connected {
                Ok(c) => self.client = Some(c),
                Err(e) => {
                    // Do not spin while the database is away.
                    std::thread::sleep(wait);
                    return Err(e);
                }
            }
        }
        let client = self.client.as_mut().expect("connected");
        let heard = client.notifications().timeout_iter(wait).next();
        if let Err(e) = heard {
            self.client = None;
            return Err(err(e));
        }
        // Whatever else arrived meanwhile says the same.
        while let Ok(Some(_)) = client.notifications().iter().next() {}
        match client.query_opt(POLICY_GET, &[&None::<i64>]) {
            Ok(row) => Ok(row.as_ref().map(policy_from_row)),
            Err(e) => {
                self.client = None;
                Err(err(e))
            }
        }
    }
}
