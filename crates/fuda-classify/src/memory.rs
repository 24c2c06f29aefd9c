//! The label memory of watched trees: what label each path carried, kept durably, so that
//! a label that an editor's save stripped can be put back (docs/file-server.md).
//!
//! Most editors save by writing a new file and renaming it over the old one (vim with some
//! settings, `sed -i`, LibreOffice, gedit, Office over SMB); tools such as `tar` and
//! `rsync` delete and re-create files. The new file has no extended attributes, so a label
//! kept in `user.fuda.label` vanishes at the first save. `fuda watch` records every label
//! it sees or writes here and, when a remembered path is taken by a *different* file (a
//! new inode or birth time) without a label, restores the remembered one.
//!
//! The memory is one SQLite file in WAL mode (by default
//! `$XDG_STATE_HOME/fuda/watch/<hash of the roots>.sqlite`, see [`default_location`]):
//!
//! - `labels`: one row per path, in the order of the paths (`WITHOUT ROWID`): the file's
//!   device, inode and birth time, whether the label is still there (`labeled`) or went
//!   missing in place (`lost`), when it was last seen, and the whole label record (JSON:
//!   document id, level, owner, method, the content digest it was signed for …) for a
//!   faithful restore;
//! - `events`: what happened: `restored` (with the cause), `downgrade-flagged` (the new
//!   content carried a lower label of its own; the higher one was kept), `lost` (a
//!   label vanished without a replacement, so nothing was restored) and `replayed` (an
//!   older label of the same document was written back over the remembered one; the
//!   remembered, newer one was put back).
//!
//! Writes come in batches ([`LabelMemory::commit`]), one transaction each, so the watcher
//! pays one fsync per settle batch rather than one per file.
//!
//! ```no_run
//! # fn demo() -> Result<(), fuda_classify::memory::MemoryError> {
//! use fuda_classify::memory::LabelMemory;
//! let memory = LabelMemory::open_existing("/var/lib/fuda/share.sqlite".as_ref())?;
//! for event in memory.events(None)? {
//!     println!("{} {} {}", event.kind.as_str(), event.path.display(), event.cause);
//! }
//! # Ok(()) }
//! ```

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use fuda_core::digest::Digest;
use fuda_core::label::Label;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

/// Schema migrations, applied in order; `PRAGMA user_version` counts those applied.
const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE labels (
    path BLOB PRIMARY KEY,
    doc TEXT NOT NULL,
    level TEXT NOT NULL,
    owner TEXT NOT NULL,
    method TEXT NOT NULL,
    digest TEXT,
    dev INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    born INTEGER,
    state TEXT NOT NULL,
    seen_at INTEGER NOT NULL,
    label TEXT NOT NULL
);
CREATE INDEX labels_doc ON labels(doc);
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    path BLOB NOT NULL,
    kind TEXT NOT NULL,
    doc TEXT,
    level TEXT,
    found_level TEXT,
    cause TEXT NOT NULL
);
CREATE INDEX events_at ON events(at);
",
    // Fewer bytes written per file (a watcher writes a row for every file of a share): the
    // columns that repeated the label record's fields and their index go, and the rows are
    // stored in the primary key's order (no second tree of paths).
    "
CREATE TABLE labels_by_path (
    path BLOB PRIMARY KEY,
    dev INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    born INTEGER,
    state TEXT NOT NULL,
    seen_at INTEGER NOT NULL,
    label TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO labels_by_path SELECT path, dev, ino, born, state, seen_at, label FROM labels;
DROP TABLE labels;
ALTER TABLE labels_by_path RENAME TO labels;
",
];

/// Errors of the label memory; each names the database file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryError {
    /// The folder for the database could not be created.
    #[error("{path}: cannot create the label memory's folder ({source}); pass --memory PATH somewhere writable")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The database file could not be created or made private (0600).
    #[error("{path}: cannot create the label memory or make it private ({source}); pass --memory PATH somewhere writable")]
    Private {
        /// The database file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// There is no memory at this path.
    #[error("{0}: no label memory here; `fuda watch --memory PATH` creates one")]
    Missing(PathBuf),
    /// The file is an SQLite database, but not a label memory (or an unfinished one).
    #[error("{0}: not a fuda label memory; pass the file `fuda watch --memory` writes")]
    NotAMemory(PathBuf),
    /// SQLite failed.
    #[error("{path}: label memory: {source}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// The database was written by a newer fuda.
    #[error("{path}: label memory schema version {found}, this fuda knows up to {supported}; upgrade fuda")]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// Version found.
        found: i64,
        /// Newest version known.
        supported: i64,
    },
    /// A row could not be decoded.
    #[error("{path}: label memory row for {row} is corrupt ({reason}); move the file away to start a new memory")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// The path the row is about.
        row: String,
        /// What is wrong.
        reason: String,
    },
}

/// Which file object a path named: device, inode and birth time. Inode numbers are reused
/// at once on ext4 (`tar x` over a file often gets the old number back); the birth time,
/// where the file system keeps one, tells the two files apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileId {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Birth time in nanoseconds since the epoch, when the file system records it.
    pub born: Option<i64>,
}

impl FileId {
    /// The identity of the file `meta` describes.
    pub fn of(meta: &std::fs::Metadata) -> FileId {
        let born = meta
            .created()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_nanos()).ok());
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
            born,
        }
    }

    /// Whether `other` is certainly another file object than `self`.
    pub fn differs(&self, other: &FileId) -> bool {
        self.dev != other.dev
            || self.ino != other.ino
            || matches!((self.born, other.born), (Some(a), Some(b)) if a != b)
    }
}

/// Whether the remembered label is still on the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// The file carried this label when last seen.
    Labeled,
    /// The label vanished from the same file (no replacement): not restored, reported.
    Lost,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::Labeled => "labeled",
            State::Lost => "lost",
        }
    }
}

/// What the memory knows about one path.
#[derive(Clone, Debug)]
pub struct Remembered {
    /// The path.
    pub path: PathBuf,
    /// The label it carried (signed for `label.content_sha256`).
    pub label: Label,
    /// The file object that carried it.
    pub file: FileId,
    /// Whether it still does.
    pub state: State,
    /// When the watcher last saw the label, Unix seconds.
    pub seen_at: i64,
}

/// Kinds of event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A replaced file got its previous label back.
    Restored,
    /// A replaced file carried a lower label of its own; the higher remembered label was
    /// put back and the attempted downgrade is reported.
    DowngradeFlagged,
    /// A label vanished from a file that was not replaced; nothing was restored.
    Lost,
    /// The file carried an older label of the remembered document (an old label written
    /// back); the remembered, newer label was put back.
    Replayed,
}

impl EventKind {
    /// The kind's name in logs and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Restored => "restored",
            EventKind::DowngradeFlagged => "downgrade-flagged",
            EventKind::Lost => "lost",
            EventKind::Replayed => "replayed",
        }
    }

    fn parse(s: &str) -> Option<EventKind> {
        [
            EventKind::Restored,
            EventKind::DowngradeFlagged,
            EventKind::Lost,
            EventKind::Replayed,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// When, Unix seconds.
    pub at: i64,
    /// The file.
    pub path: PathBuf,
    /// What happened.
    pub kind: EventKind,
    /// Document id of the remembered label.
    pub doc: Option<String>,
    /// Level of the remembered label (the level the file has after a restore).
    pub level: Option<String>,
    /// Level the new content carried of its own (for `downgrade-flagged`), or of the older
    /// label found (for `replayed`).
    pub found_level: Option<String>,
    /// Why, in words: `renamed over`, `deleted and re-created`, `replaced while the
    /// watcher was stopped` …
    pub cause: String,
}

/// One change to the memory; a batch of them is committed at once.
#[derive(Clone, Debug)]
pub enum Change {
    /// `path` (the file object `file`) carries `label`.
    Remember {
        /// The path.
        path: PathBuf,
        /// Its label.
        label: Box<Label>,
        /// The file object.
        file: FileId,
    },
    /// The label of `path` vanished in place.
    MarkLost(PathBuf),
    /// Nothing is at `path` any more.
    Forget(PathBuf),
    /// `from` (a file, or a folder and everything below it) was renamed to `to`.
    Move {
        /// Old path.
        from: PathBuf,
        /// New path.
        to: PathBuf,
    },
    /// Record an event.
    Event(Event),
}

/// What the watcher saw happen at a path before it looked at the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hint {
    /// A file was renamed onto the path (an editor's save by rename, a move in).
    RenamedOver,
    /// The path was deleted and a file created there again (`tar x`, `cp` after `rm`).
    Recreated,
}

impl Hint {
    /// The cause as the log and the ledger say it.
    pub fn cause(self) -> &'static str {
        match self {
            Hint::RenamedOver => "renamed over (save by rename)",
            Hint::Recreated => "deleted and re-created",
        }
    }
}

/// The cause recorded when a file was replaced but the watcher saw no event for it.
pub const REPLACED_UNSEEN: &str = "replaced while the watcher was not looking";

/// What the file carries now, as far as [`decide`] needs to know.
#[derive(Clone, Copy, Debug)]
pub enum Found<'a> {
    /// No label.
    Nothing,
    /// A label with a good signature (or one mapped from Microsoft Purview).
    Label(&'a Label),
    /// A label that is corrupt or does not match its signature: left for a person.
    Tampered,
}

/// What to do about a remembered path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing to restore: the file still carries its label, carries a label of its own
    /// that is at least as high, was already reported as lost, or holds a tampered label.
    Keep,
    /// Put the remembered label back.
    Restore {
        /// Why the file was found replaced.
        cause: String,
        /// The lower level the new content carried of its own (a downgrade that is
        /// flagged and not applied), if any.
        downgrade_from: Option<String>,
    },
    /// The label vanished from the same file: report it, restore nothing.
    Lost,
    /// The file carries an older label of the remembered document than the remembered one
    /// (an old signed label was written back, e.g. with `setfattr`): report it and put the
    /// remembered, newer label back — unless that label was removed in place (`lost`):
    /// a label a person took off is not put back, the replay is only reported.
    Replayed {
        /// The level of the older label found.
        found_level: String,
        /// Whether to put the remembered label back.
        restore: bool,
    },
}

/// Decides whether a file at a remembered path gets its remembered label back.
///
/// A file is a *replacement* when it is another file object than the one remembered
/// (device, inode, birth time) or when the watcher saw it renamed onto the path or
/// re-created there (`hint`). A replacement without a label gets the remembered label
/// back; one whose own label (another document's, an Office document's embedded one) is
/// lower gets the remembered label too, and the attempted downgrade is flagged; a label
/// that is as high or higher wins. A label that vanished from the very same file was
/// removed in place: it is reported, not restored. A label of the remembered document that
/// is older than the remembered one (a smaller `(seq, set_at)`) was written back over it:
/// it is `replayed`, whatever its level. `rank` gives a level's rank in the policy in
/// force.
pub fn decide(
    remembered: &Remembered,
    now: &FileId,
    hint: Option<Hint>,
    found: Found<'_>,
    rank: impl Fn(&str) -> Option<u8>,
) -> Verdict {
    let replaced = hint.is_some() || remembered.file.differs(now);
    let cause = || hint.map_or(REPLACED_UNSEEN, Hint::cause).to_owned();
    match found {
        Found::Tampered => Verdict::Keep,
        Found::Label(label) if label.is_older_than(&remembered.label) => Verdict::Replayed {
            found_level: label.level.clone(),
            restore: remembered.state == State::Labeled,
        },
        Found::Label(label) if label.doc == remembered.label.doc => Verdict::Keep,
        Found::Label(label) => {
            let lower = match (rank(&label.level), rank(&remembered.label.level)) {
                (Some(have), Some(had)) => have < had,
                // A level this policy does not know cannot outrank a known one.
                (None, Some(_)) => true,
                _ => false,
            };
            if replaced && lower {
                Verdict::Restore {
                    cause: cause(),
                    downgrade_from: Some(label.level.clone()),
                }
            } else {
                Verdict::Keep
            }
        }
        Found::Nothing if remembered.state == State::Lost => Verdict::Keep,
        Found::Nothing if replaced => Verdict::Restore {
            cause: cause(),
            downgrade_from: None,
        },
        Found::Nothing => Verdict::Lost,
    }
}

/// What an inventory takes from a memory: the labels remembered under its roots and the
/// events there.
#[derive(Clone, Debug, Default)]
pub struct Recollection {
    /// Remembered labels, by path.
    pub labels: Vec<Remembered>,
    /// Events, oldest first.
    pub events: Vec<Event>,
}

/// The label memory: one SQLite database.
pub struct LabelMemory {
    conn: Connection,
    path: PathBuf,
    readers: Readers,
}

/// Connections that look labels up from many threads at once (the watcher's workers, one
/// connection per thread asking at the same time): in WAL mode they read what the
/// memory's own connection committed last, while it writes the next batch.
pub struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    fn new(path: &Path) -> Readers {
        Readers {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// What the memory knows about each of `paths`, as last committed, read in one
    /// transaction: one snapshot and one lock of the database's shared memory for them all,
    /// where a lookup each would contend with the other threads' lookups and the writer.
    /// The outer error: no snapshot could be had; the inner ones are each path's own.
    pub fn recall_each(
        &self,
        paths: &[&Path],
    ) -> Result<Vec<Result<Option<Remembered>, MemoryError>>, MemoryError> {
        let conn = self.take()?;
        let found = (|| {
            let read = conn
                .unchecked_transaction()
                .map_err(|source| MemoryError::Database {
                    path: self.path.clone(),
                    source,
                })?;
            let each = paths
                .iter()
                .map(|path| recall_with(&read, &self.path, path))
                .collect();
            // A read: nothing to keep, only the snapshot to let go of.
            drop(read);
            Ok(each)
        })();
        self.put_back(conn);
        found
    }

    /// An idle connection, or a new one.
    fn take(&self) -> Result<Connection, MemoryError> {
        match self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            Some(conn) => Ok(conn),
            None => self.open(),
        }
    }

    fn put_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
    }

    fn open(&self) -> Result<Connection, MemoryError> {
        let err = |source| MemoryError::Database {
            path: self.path.clone(),
            source,
        };
        // Read-write, not read-only: a WAL database needs its -shm file to be writable.
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(err)?;
        conn.pragma_update(None, "query_only", true).map_err(err)?;
        Ok(conn)
    }
}

/// What the memory at `db` knows about `path`, through `conn`.
fn recall_with(
    conn: &Connection,
    db: &Path,
    path: &Path,
) -> Result<Option<Remembered>, MemoryError> {
    let err = |source| MemoryError::Database {
        path: db.to_owned(),
        source,
    };
    let row = conn
        .prepare_cached(
            "SELECT path, label, dev, ino, born, state, seen_at FROM labels WHERE path = ?1",
        )
        .map_err(err)?
        .query_row([bytes(path)], raw_row)
        .optional()
        .map_err(err)?;
    row.map(|r| decode(db, r)).transpose()
}

impl std::fmt::Debug for LabelMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabelMemory")
            .field("path", &self.path)
            .finish()
    }
}

/// Where `fuda watch` keeps the memory of these roots when not told: a file named after
/// a hash of the roots (absolute, sorted) in `state_dir/watch/`.
pub fn default_location(state_dir: &Path, roots: &[PathBuf]) -> PathBuf {
    // `share/` and `share/.` name the same tree as `share`.
    let clean: Vec<PathBuf> = roots.iter().map(|r| r.components().collect()).collect();
    let mut sorted: Vec<&[u8]> = clean.iter().map(|r| bytes(r)).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let digest = Digest::of_bytes(&sorted.join(&b'\0')).to_string();
    state_dir
        .join("watch")
        .join(format!("{}.sqlite", &digest[..16]))
}

fn bytes(path: &Path) -> &[u8] {
    path.as_os_str().as_bytes()
}

fn from_bytes(b: Vec<u8>) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(&b))
}

/// Creates the database file 0600 if it is missing, and makes it and any -wal and -shm
/// file beside it (an older version made them 0644) 0600.
fn private_files(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

impl LabelMemory {
    /// Opens the memory at `path`, creating it (and its folder, 0700) if needed; the
    /// database and its -wal and -shm files are 0600.
    pub fn open(path: &Path) -> Result<LabelMemory, MemoryError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                fuda_core::fsutil::create_private_dir(dir).map_err(|source| {
                    MemoryError::Folder {
                        path: dir.to_owned(),
                        source,
                    }
                })?;
            }
        }
        // Private before SQLite opens it: SQLite gives the -wal and -shm files it makes
        // the database file's mode, and they hold the same paths and labels.
        private_files(path).map_err(|source| MemoryError::Private {
            path: path.to_owned(),
            source,
        })?;
        let conn = Connection::open(path).map_err(|source| MemoryError::Database {
            path: path.to_owned(),
            source,
        })?;
        let memory = LabelMemory {
            conn,
            path: path.to_owned(),
            readers: Readers::new(path),
        };
        memory.prepare(true)?;
        Ok(memory)
    }

    /// Opens an existing memory for reading (the inventory); a missing file is an error.
    pub fn open_existing(path: &Path) -> Result<LabelMemory, MemoryError> {
        if !path.is_file() {
            return Err(MemoryError::Missing(path.to_owned()));
        }
        // Read-write, not read-only: a WAL database needs its -shm file to be readable
        // while the watcher writes.
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(
            |source| MemoryError::Database {
                path: path.to_owned(),
                source,
            },
        )?;
        let memory = LabelMemory {
            conn,
            path: path.to_owned(),
            readers: Readers::new(path),
        };
        memory.prepare(false)?;
        Ok(memory)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn db(&self) -> impl Fn(rusqlite::Error) -> MemoryError + '_ {
        |source| MemoryError::Database {
            path: self.path.clone(),
            source,
        }
    }

    fn prepare(&self, migrate: bool) -> Result<(), MemoryError> {
        let err = self.db();
        self.conn
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(&err)?;
        self.conn
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(&err)?;
        // A crash may lose the last batch (the watcher re-learns it from the files at its
        // next start), never corrupt the database.
        self.conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(&err)?;
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(&err)?;
        let supported = MIGRATIONS.len() as i64;
        if version > supported {
            return Err(MemoryError::TooNew {
                path: self.path.clone(),
                found: version,
                supported,
            });
        }
        if !migrate && version < supported {
            return Err(MemoryError::NotAMemory(self.path.clone()));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self.conn.unchecked_transaction().map_err(&err)?;
            tx.execute_batch(sql).map_err(&err)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .map_err(&err)?;
            tx.commit().map_err(&err)?;
        }
        Ok(())
    }

    /// What the memory knows about `path`.
    pub fn recall(&self, path: &Path) -> Result<Option<Remembered>, MemoryError> {
        recall_with(&self.conn, &self.path, path)
    }

    /// Connections for looking labels up from other threads.
    pub fn readers(&self) -> &Readers {
        &self.readers
    }

    /// Every remembered path at or below `root`.
    pub fn under(&self, root: &Path) -> Result<Vec<Remembered>, MemoryError> {
        let mut prefix = bytes(root).to_vec();
        if prefix.last() != Some(&b'/') {
            prefix.push(b'/');
        }
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT path, label, dev, ino, born, state, seen_at FROM labels
                 WHERE path = ?1 OR substr(path, 1, length(?2)) = ?2 ORDER BY path",
            )
            .map_err(self.db())?;
        let rows = stmt
            .query_map(params![bytes(root), prefix], raw_row)
            .map_err(self.db())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.db())?;
        rows.into_iter().map(|r| decode(&self.path, r)).collect()
    }

    /// Gives `each` every remembered path at or below `root` whose label was last seen
    /// at or before `seen_by` (Unix seconds; `i64::MAX`: every path), one at a time (the
    /// watcher checks millions of them without holding their labels).
    pub fn each_path_under(
        &self,
        root: &Path,
        seen_by: i64,
        mut each: impl FnMut(PathBuf),
    ) -> Result<(), MemoryError> {
        // The paths below `root/`: a range of the primary key ('0' follows '/').
        let base = bytes(root).strip_suffix(b"/").unwrap_or(bytes(root));
        let below = [base, b"/"].concat();
        let past = [base, b"0"].concat();
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT path FROM labels WHERE (path = ?1 OR (path >= ?2 AND path < ?3))
                 AND seen_at <= ?4",
            )
            .map_err(self.db())?;
        let mut rows = stmt
            .query(params![bytes(root), below, past, seen_by])
            .map_err(self.db())?;
        while let Some(row) = rows.next().map_err(self.db())? {
            each(from_bytes(row.get(0).map_err(self.db())?));
        }
        Ok(())
    }

    /// Events at or after `since` (Unix seconds; `None`: all), oldest first.
    pub fn events(&self, since: Option<i64>) -> Result<Vec<Event>, MemoryError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT at, path, kind, doc, level, found_level, cause FROM events
                 WHERE at >= ?1 ORDER BY at, id",
            )
            .map_err(self.db())?;
        let rows = stmt
            .query_map([since.unwrap_or(i64::MIN)], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, String>(6)?,
                ))
            })
            .map_err(self.db())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.db())?;
        rows.into_iter()
            .map(|(at, path, kind, doc, level, found_level, cause)| {
                let path = from_bytes(path);
                let kind = EventKind::parse(&kind).ok_or_else(|| MemoryError::Corrupt {
                    path: self.path.clone(),
                    row: path.display().to_string(),
                    reason: format!("unknown event kind {kind:?}"),
                })?;
                Ok(Event {
                    at,
                    path,
                    kind,
                    doc,
                    level,
                    found_level,
                    cause,
                })
            })
            .collect()
    }

    /// The labels remembered under `roots` and the events there at or after `since`.
    pub fn recollect(
        &self,
        roots: &[PathBuf],
        since: Option<i64>,
    ) -> Result<Recollection, MemoryError> {
        let mut labels = Vec::new();
        for root in roots {
            labels.extend(self.under(root)?);
        }
        labels.sort_by(|a, b| a.path.cmp(&b.path));
        labels.dedup_by(|a, b| a.path == b.path);
        let events = self
            .events(since)?
            .into_iter()
            .filter(|e| roots.iter().any(|r| e.path.starts_with(r)))
            .collect();
        Ok(Recollection { labels, events })
    }

    /// Applies a batch of changes in one transaction.
    pub fn commit(&self, changes: &[Change]) -> Result<(), MemoryError> {
        if changes.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        let err = |source| MemoryError::Database {
            path: path.clone(),
            source,
        };
        let now = fuda_core::labeling::now();
        let tx = self.conn.unchecked_transaction().map_err(err)?;
        for change in changes {
            match change {
                Change::Remember { path, label, file } => {
                    let json = serde_json::to_string(label).map_err(|e| MemoryError::Corrupt {
                        path: self.path.clone(),
                        row: path.display().to_string(),
                        reason: e.to_string(),
                    })?;
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO labels
                         (path, dev, ino, born, state, seen_at, label)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            bytes(path),
                            file.dev as i64,
                            file.ino as i64,
                            file.born,
                            State::Labeled.as_str(),
                            now,
                            json,
                        ])
                    })
                    .map_err(err)?;
                }
                Change::MarkLost(p) => {
                    tx.prepare_cached("UPDATE labels SET state = ?2 WHERE path = ?1")
                        .and_then(|mut s| s.execute(params![bytes(p), State::Lost.as_str()]))
                        .map_err(err)?;
                }
                Change::Forget(p) => {
                    tx.prepare_cached("DELETE FROM labels WHERE path = ?1")
                        .and_then(|mut s| s.execute([bytes(p)]))
                        .map_err(err)?;
                }
                Change::Move { from, to } => {
                    // The paths below `from/`: a range of the primary key ('0' follows
                    // '/'), not a scan of the table at every rename.
                    let mut from_dir = bytes(from).to_vec();
                    from_dir.push(b'/');
                    let mut past_dir = bytes(from).to_vec();
                    past_dir.push(b'0');
                    // A file renamed over another replaces what the memory knew there.
                    tx.prepare_cached(
                        "DELETE FROM labels WHERE path = ?2 AND EXISTS
                         (SELECT 1 FROM labels WHERE path = ?1)",
                    )
                    .and_then(|mut s| s.execute(params![bytes(from), bytes(to)]))
                    .map_err(err)?;
                    tx.prepare_cached("UPDATE OR REPLACE labels SET path = ?2 WHERE path = ?1")
                        .and_then(|mut s| s.execute(params![bytes(from), bytes(to)]))
                        .map_err(err)?;
                    tx.prepare_cached(
                        "UPDATE OR REPLACE labels
                         SET path = CAST(?2 || substr(path, length(?1) + 1) AS BLOB)
                         WHERE path >= ?3 AND path < ?4",
                    )
                    .and_then(|mut s| {
                        s.execute(params![bytes(from), bytes(to), from_dir, past_dir])
                    })
                    .map_err(err)?;
                }
                Change::Event(e) => {
                    tx.prepare_cached(
                        "INSERT INTO events (at, path, kind, doc, level, found_level, cause)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            e.at,
                            bytes(&e.path),
                            e.kind.as_str(),
                            e.doc,
                            e.level,
                            e.found_level,
                            e.cause,
                        ])
                    })
                    .map_err(err)?;
                }
            }
        }
        tx.commit().map_err(err)
    }
}

/// Decodes a row of the memory at `db`.
fn decode(db: &Path, r: RawRow) -> Result<Remembered, MemoryError> {
    let path = from_bytes(r.path);
    let corrupt = |reason: String| MemoryError::Corrupt {
        path: db.to_owned(),
        row: path.display().to_string(),
        reason,
    };
    let label: Label = serde_json::from_str(&r.label).map_err(|e| corrupt(e.to_string()))?;
    let state = match r.state.as_str() {
        "labeled" => State::Labeled,
        "lost" => State::Lost,
        other => return Err(corrupt(format!("unknown state {other:?}"))),
    };
    Ok(Remembered {
        label,
        file: FileId {
            dev: r.dev as u64,
            ino: r.ino as u64,
            born: r.born,
        },
        state,
        seen_at: r.seen_at,
        path,
    })
}

struct RawRow {
    path: Vec<u8>,
    label: String,
    dev: i64,
    ino: i64,
    born: Option<i64>,
    state: String,
    seen_at: i64,
}

fn raw_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
    Ok(RawRow {
        path: r.get(0)?,
        label: r.get(1)?,
        dev: r.get(2)?,
        ino: r.get(3)?,
        born: r.get(4)?,
        state: r.get(5)?,
        seen_at: r.get(6)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fuda_core::label::{DocId, Method, PolicyRef};

    fn label(level: &str) -> Label {
        Label {
            v: 1,
            doc: DocId::new(),
            level: level.into(),
            policy: PolicyRef {
                id: "default".into(),
                version: 1,
            },
            owner: "tanaka".into(),
            dept: None,
            asset: None,
            method: Method::Manual,
            rule: None,
            origin: None,
            set_by: "tanaka".into(),
            set_at: 1,
            seq: 0,
            content_sha256: None,
            justification: None,
            flags: Vec::new(),
            evidence: Vec::new(),
        }
    }

    const FILE: FileId = FileId {
        dev: 1,
        ino: 2,
        born: Some(3),
    };

    fn remember(path: &str, l: &Label) -> Change {
        Change::Remember {
            path: path.into(),
            label: Box::new(l.clone()),
            file: FILE,
        }
    }

    #[test]
    fn remembers_across_reopening_and_moves_folders() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state/watch/m.sqlite");
        let (a, b) = (label("confidential"), label("internal"));
        {
            let m = LabelMemory::open(&db).unwrap();
            m.commit(&[
                remember("/s/d/a.txt", &a),
                remember("/s/d/sub/b.txt", &b),
                remember("/s/dd/c.txt", &b),
            ])
            .unwrap();
            m.commit(&[Change::Move {
                from: "/s/d".into(),
                to: "/s/e".into(),
            }])
            .unwrap();
        }
        let m = LabelMemory::open_existing(&db).unwrap();
        assert!(m.recall(Path::new("/s/d/a.txt")).unwrap().is_none());
        let got = m.recall(Path::new("/s/e/a.txt")).unwrap().unwrap();
        assert_eq!(got.label, a);
        assert_eq!(got.file, FILE);
        assert_eq!(got.state, State::Labeled);
        assert!(m.recall(Path::new("/s/e/sub/b.txt")).unwrap().is_some());
        // A sibling whose name merely starts the same is not inside the folder.
        assert!(m.recall(Path::new("/s/dd/c.txt")).unwrap().is_some());
        assert_eq!(m.under(Path::new("/s/e")).unwrap().len(), 2);
    }

    #[test]
    fn the_memory_and_its_wal_files_are_private_even_when_an_older_version_left_them_open() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memory.sqlite");
        let mode = |suffix: &str| {
            let mut f = path.as_os_str().to_owned();
            f.push(suffix);
            std::fs::metadata(f).unwrap().permissions().mode() & 0o777
        };
        {
            let _memory = LabelMemory::open(&path).unwrap();
            for suffix in ["", "-wal", "-shm"] {
                assert_eq!(mode(suffix), 0o600, "memory.sqlite{suffix}");
            }
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut f = path.as_os_str().to_owned();
            f.push(suffix);
            if std::path::Path::new(&f).exists() {
                std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
            }
        }
        let _memory = LabelMemory::open(&path).unwrap();
        for suffix in ["", "-wal", "-shm"] {
            assert_eq!(mode(suffix), 0o600, "memory.sqlite{suffix} after reopening");
        }
    }

    #[test]
    fn a_memory_the_previous_version_wrote_keeps_its_labels() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.sqlite");
        let a = label("confidential");
        let path = b"/s/\xff-a".as_slice();
        {
            let conn = Connection::open(&db).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute(
                "INSERT INTO labels (path, doc, level, owner, method, digest, dev, ino, born,
                 state, seen_at, label) VALUES (?1, ?2, ?3, 'tanaka', 'manual', NULL, 1, 2, 3,
                 'lost', 5, ?4)",
                params![
                    path,
                    a.doc.to_string(),
                    a.level,
                    serde_json::to_string(&a).unwrap()
                ],
            )
            .unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
        }
        let m = LabelMemory::open(&db).unwrap();
        let r = m.recall(&from_bytes(path.to_vec())).unwrap().unwrap();
        assert_eq!(
            (r.label, r.file, r.state, r.seen_at),
            (a, FILE, State::Lost, 5)
        );
        let columns: i64 = m
            .conn
            .query_row(
                "SELECT count(*) FROM pragma_table_info('labels')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            columns, 7,
            "the columns that repeated the label record are gone"
        );
    }

    #[test]
    fn workers_read_what_the_memory_committed_last_from_their_threads() {
        let dir = tempfile::tempdir().unwrap();
        let m = LabelMemory::open(&dir.path().join("m.sqlite")).unwrap();
        let a = label("confidential");
        // Each thread looks up `path` and a path never remembered, together.
        let readers = |m: &LabelMemory, path: &str| {
            let readers = m.readers();
            std::thread::scope(|s| {
                let found: Vec<_> = (0..4)
                    .map(|_| {
                        s.spawn(|| {
                            let paths = [Path::new(path), Path::new("/s/never")];
                            let mut each = readers.recall_each(&paths).unwrap();
                            assert!(each.pop().unwrap().unwrap().is_none());
                            each.pop().unwrap().unwrap()
                        })
                    })
                    .collect();
                found
                    .into_iter()
                    .map(|f| f.join().unwrap().map(|r| (r.label, r.file, r.state)))
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(readers(&m, "/s/a"), vec![None; 4]);
        m.commit(&[remember("/s/a", &a)]).unwrap();
        assert_eq!(
            readers(&m, "/s/a"),
            vec![Some((a.clone(), FILE, State::Labeled)); 4]
        );
        m.commit(&[Change::Forget("/s/a".into())]).unwrap();
        assert_eq!(
            readers(&m, "/s/a"),
            vec![None; 4],
            "a forgotten path is gone"
        );
    }

    #[test]
    fn a_file_renamed_over_another_replaces_it_and_events_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let m = LabelMemory::open(&dir.path().join("m.sqlite")).unwrap();
        let (a, b) = (label("confidential"), label("internal"));
        m.commit(&[remember("/s/a", &a), remember("/s/b", &b)])
            .unwrap();
        m.commit(&[
            Change::Move {
                from: "/s/a".into(),
                to: "/s/b".into(),
            },
            Change::MarkLost("/s/b".into()),
            Change::Event(Event {
                at: 10,
                path: "/s/b".into(),
                kind: EventKind::Lost,
                doc: Some(a.doc.to_string()),
                level: Some(a.level.clone()),
                found_level: None,
                cause: "unknown".into(),
            }),
        ])
        .unwrap();
        let got = m.recall(Path::new("/s/b")).unwrap().unwrap();
        assert_eq!(got.label, a);
        assert_eq!(got.state, State::Lost);
        assert!(m.recall(Path::new("/s/a")).unwrap().is_none());
        assert_eq!(m.events(Some(10)).unwrap().len(), 1);
        assert!(m.events(Some(11)).unwrap().is_empty());
        m.commit(&[Change::Forget("/s/b".into())]).unwrap();
        assert!(m.recall(Path::new("/s/b")).unwrap().is_none());
    }

    fn rank(level: &str) -> Option<u8> {
        [
            "public",
            "internal",
            "confidential",
            "strictly-confidential",
        ]
        .iter()
        .position(|l| *l == level)
        .map(|r| r as u8)
    }

    fn remembered(l: &Label, state: State) -> Remembered {
        Remembered {
            path: "/s/a".into(),
            label: l.clone(),
            file: FILE,
            state,
            seen_at: 0,
        }
    }

    #[test]
    fn a_replaced_file_without_a_label_gets_it_back() {
        let had = label("confidential");
        let r = remembered(&had, State::Labeled);
        let other = FileId { ino: 9, ..FILE };
        let restore = |cause: &str| Verdict::Restore {
            cause: cause.into(),
            downgrade_from: None,
        };
        assert_eq!(
            decide(&r, &other, None, Found::Nothing, rank),
            restore(REPLACED_UNSEEN)
        );
        // Same inode number reused, but the watcher saw the delete and create.
        assert_eq!(
            decide(&r, &FILE, Some(Hint::Recreated), Found::Nothing, rank),
            restore("deleted and re-created")
        );
        // Same file, label gone, nothing replaced it: reported, not restored.
        assert_eq!(decide(&r, &FILE, None, Found::Nothing, rank), Verdict::Lost);
        // Already reported as lost: a later save does not bring it back.
        let lost = remembered(&had, State::Lost);
        assert_eq!(
            decide(&lost, &other, Some(Hint::RenamedOver), Found::Nothing, rank),
            Verdict::Keep
        );
    }

    #[test]
    fn the_higher_label_wins_and_a_downgrade_is_flagged() {
        let had = label("confidential");
        let r = remembered(&had, State::Labeled);
        let hint = Some(Hint::RenamedOver);
        let lower = label("internal");
        assert_eq!(
            decide(&r, &FILE, hint, Found::Label(&lower), rank),
            Verdict::Restore {
                cause: "renamed over (save by rename)".into(),
                downgrade_from: Some("internal".into()),
            }
        );
        let higher = label("strictly-confidential");
        assert_eq!(
            decide(&r, &FILE, hint, Found::Label(&higher), rank),
            Verdict::Keep
        );
        // The same document relabeled (through fuda, with a reason) is not second-guessed.
        let mut relabeled = had.clone();
        relabeled.level = "public".into();
        assert_eq!(
            decide(&r, &FILE, hint, Found::Label(&relabeled), rank),
            Verdict::Keep
        );
        assert_eq!(
            decide(&r, &FILE, hint, Found::Tampered, rank),
            Verdict::Keep
        );
    }

    #[test]
    fn an_older_label_of_the_document_written_back_is_replayed() {
        // 公開 first (seq 0), then relabeled 極秘 (seq 1): the watcher remembers 極秘.
        let public = label("public");
        let secret = Label {
            level: "strictly-confidential".into(),
            seq: 1,
            set_at: public.set_at + 60,
            ..public.clone()
        };
        let r = remembered(&secret, State::Labeled);
        // The saved 公開 label written back onto the very same file.
        assert_eq!(
            decide(&r, &FILE, None, Found::Label(&public), rank),
            Verdict::Replayed {
                found_level: "public".into(),
                restore: true,
            }
        );
        // After the 極秘 label was removed in place, the old 公開 one written back is
        // reported, but the removed label is not put back.
        let removed = remembered(&secret, State::Lost);
        assert_eq!(
            decide(&removed, &FILE, None, Found::Label(&public), rank),
            Verdict::Replayed {
                found_level: "public".into(),
                restore: false,
            }
        );
        // The same seq, signed earlier (labels written before seq existed): still older.
        let earlier = Label {
            seq: 1,
            set_at: secret.set_at - 1,
            ..public.clone()
        };
        assert!(matches!(
            decide(&r, &FILE, None, Found::Label(&earlier), rank),
            Verdict::Replayed { .. }
        ));
        // A relabel through fuda comes after the remembered label: not a replay.
        let relabeled = Label {
            level: "public".into(),
            seq: 2,
            set_at: secret.set_at + 60,
            ..secret.clone()
        };
        assert_eq!(
            decide(&r, &FILE, None, Found::Label(&relabeled), rank),
            Verdict::Keep
        );
        // The remembered label itself, and another document's older label, are no replay.
        assert_eq!(
            decide(&r, &FILE, None, Found::Label(&secret), rank),
            Verdict::Keep
        );
        let other = label("public");
        assert_eq!(
            decide(&r, &FILE, None, Found::Label(&other), rank),
            Verdict::Keep
        );
    }

    #[test]
    fn a_missing_memory_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = LabelMemory::open_existing(&dir.path().join("none.sqlite")).unwrap_err();
        assert!(err.to_string().contains("fuda watch --memory"), "{err}");
    }

    #[test]
    fn identities_tell_reused_inodes_apart_by_birth_time() {
        let again = FileId {
            born: Some(4),
            ..FILE
        };
        assert!(FILE.differs(&again));
        assert!(!FILE.differs(&FileId { born: None, ..FILE }));
    }

    #[test]
    fn default_location_does_not_depend_on_root_order() {
        let s = Path::new("/state");
        let a = default_location(s, &["/a".into(), "/b".into()]);
        assert_eq!(a, default_location(s, &["/b".into(), "/a".into()]));
        assert_ne!(a, default_location(s, &["/a".into()]));
        assert!(a.starts_with("/state/watch"));
        assert_eq!(
            default_location(s, &["/a/".into(), "/b/.".into()]),
            a,
            "trailing slashes do not matter"
        );
    }
}
