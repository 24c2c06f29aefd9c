//! What the key service last acknowledged of this machine's files: a small SQLite file
//! (0600) in the state directory, one row per file — its path (exact bytes), a digest of
//! the record the service holds, and a digest of the file's metadata when it was read
//! (device, inode, size, modification and change times, and its folder's sidecar index).
//!
//! A row is written only after the service acknowledged the chunk that carried it, so
//! the file never claims more than the service has; a report cut off half-way resumes
//! from the last acknowledged chunk. The file belongs to one service and one machine
//! identity and one context (policy, trusted signers): with another, nothing in it counts.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rusqlite::{params, Connection, OpenFlags};

/// Digest of a record or of a file's metadata (the first 16 bytes of a SHA-256).
pub type Short = [u8; 16];

/// The first 16 bytes of the SHA-256 of `bytes`.
pub fn short(bytes: &[u8]) -> Short {
    let d = fuda_core::digest::Digest::of_bytes(bytes);
    let mut out = [0; 16];
    out.copy_from_slice(&d.0[..16]);
    out
}

/// One acknowledged file.
#[derive(Clone, Debug)]
pub struct Acked {
    /// Its path.
    pub path: PathBuf,
    /// Digest of the record the service holds.
    pub record: Short,
    /// Digest of its metadata when it was read (all zero: read again).
    pub stamp: Short,
}

/// The acknowledged state.
pub struct State {
    conn: Connection,
    path: PathBuf,
    /// Whether the rows' stamps may be trusted (same context as when they were written).
    pub stamps_valid: bool,
}

/// What an acknowledged chunk changes in the state.
#[derive(Default)]
pub struct Change {
    /// Files the service now holds (path, record digest, stamp).
    pub put: Vec<Acked>,
    /// Files whose record the service already holds, with a new stamp.
    pub restamp: Vec<(PathBuf, Short)>,
    /// Files removed.
    pub removed: Vec<PathBuf>,
}

impl Change {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.put.is_empty() && self.restamp.is_empty() && self.removed.is_empty()
    }
}

fn err(path: &Path) -> impl Fn(rusqlite::Error) -> anyhow::Error + '_ {
    move |e| anyhow::anyhow!("{}: {e}", fuda_core::pathname::escaped(path))
}

impl State {
    /// Opens (creating, 0600) the state at `path` for `owner` (service id and machine)
    /// in `context` (policy and signers). Another owner's rows are dropped; another
    /// context's stamps are not trusted (every file is read again, and only the records
    /// that changed are sent).
    pub fn open(path: &Path, owner: &str, context: &str) -> Result<State> {
        if let Some(dir) = path.parent() {
            fuda_core::fsutil::create_private_dir(dir)
                .with_context(|| format!("cannot create {}", fuda_core::pathname::escaped(dir)))?;
        }
        let e = err(path);
        let conn = Connection::open(path).map_err(&e)?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("cannot make {} private", path.display()))?;
        }
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(&e)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(&e)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS acked (path BLOB PRIMARY KEY, record BLOB NOT NULL,
                 stamp BLOB NOT NULL) WITHOUT ROWID;",
        )
        .map_err(&e)?;
        let get = |key: &str| -> Result<Option<String>> {
            Ok(conn
                .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .ok())
        };
        let same_owner = get("owner")?.as_deref() == Some(owner);
        let same_context = get("context")?.as_deref() == Some(context);
        if !same_owner {
            conn.execute("DELETE FROM acked", []).map_err(&e)?;
        }
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('owner', ?1), ('context', ?2)",
            params![owner, context],
        )
        .map_err(&e)?;
        Ok(State {
            conn,
            path: path.to_owned(),
            stamps_valid: same_owner && same_context,
        })
    }

    /// Forgets every acknowledged file (the next report sends everything).
    pub fn forget(&mut self) -> Result<()> {
        self.conn
            .execute("DELETE FROM acked", [])
            .map(drop)
            .map_err(err(&self.path))
    }

    /// A read-only view of the rows as they are now, in the byte order of their paths
    /// (the order the walk finds files in), on a connection of its own.
    pub fn snapshot(&self) -> Result<Snapshot> {
        let e = err(&self.path);
        let conn = Connection::open_with_flags(&self.path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(&e)?;
        conn.execute_batch("BEGIN").map_err(&e)?;
        Ok(Snapshot {
            conn,
            path: self.path.clone(),
        })
    }

    /// Writes what an acknowledged chunk changed, in one transaction.
    pub fn apply(&mut self, change: &Change) -> Result<()> {
        if change.is_empty() {
            return Ok(());
        }
        let e = err(&self.path);
        let tx = self.conn.transaction().map_err(&e)?;
        {
            let mut put = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO acked (path, record, stamp) VALUES (?1, ?2, ?3)",
                )
                .map_err(&e)?;
            for a in &change.put {
                put.execute(params![
                    a.path.as_os_str().as_bytes(),
                    &a.record[..],
                    &a.stamp[..]
                ])
                .map_err(&e)?;
            }
            let mut restamp = tx
                .prepare_cached("UPDATE acked SET stamp = ?2 WHERE path = ?1")
                .map_err(&e)?;
            for (p, stamp) in &change.restamp {
                restamp
                    .execute(params![p.as_os_str().as_bytes(), &stamp[..]])
                    .map_err(&e)?;
            }
            let mut remove = tx
                .prepare_cached("DELETE FROM acked WHERE path = ?1")
                .map_err(&e)?;
            for p in &change.removed {
                remove.execute([p.as_os_str().as_bytes()]).map_err(&e)?;
            }
        }
        tx.commit().map_err(&e)
    }

    /// The acknowledged rows of `paths` (for the watcher's few files).
    pub fn lookup(&self, paths: &[PathBuf]) -> Result<Vec<Option<Acked>>> {
        let e = err(&self.path);
        let mut st = self
            .conn
            .prepare_cached("SELECT record, stamp FROM acked WHERE path = ?1")
            .map_err(&e)?;
        let mut out = Vec::with_capacity(paths.len());
        for p in paths {
            let row = st
                .query_row([p.as_os_str().as_bytes()], |r| {
                    Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
                })
                .ok();
            out.push(row.map(|(record, stamp)| Acked {
                path: p.clone(),
                record: to_short(&record),
                stamp: to_short(&stamp),
            }));
        }
        Ok(out)
    }
}

fn to_short(bytes: &[u8]) -> Short {
    let mut out = [0; 16];
    if bytes.len() == 16 {
        out.copy_from_slice(bytes);
    }
    out
}

/// A read-only view of the acknowledged rows.
pub struct Snapshot {
    conn: Connection,
    path: PathBuf,
}

impl Snapshot {
    /// Hands every row to `each` in the byte order of the paths; stops at its first error.
    pub fn each(&self, mut each: impl FnMut(Acked) -> Result<()>) -> Result<()> {
        let e = err(&self.path);
        let mut st = self
            .conn
            .prepare("SELECT path, record, stamp FROM acked ORDER BY path")
            .map_err(&e)?;
        let mut rows = st.query([]).map_err(&e)?;
        while let Some(r) = rows.next().map_err(&e)? {
            let path: Vec<u8> = r.get(0).map_err(&e)?;
            let record: Vec<u8> = r.get(1).map_err(&e)?;
            let stamp: Vec<u8> = r.get(2).map_err(&e)?;
            each(Acked {
                path: PathBuf::from(std::ffi::OsStr::from_bytes(&path)),
                record: to_short(&record),
                stamp: to_short(&stamp),
            })?;
        }
        Ok(())
    }
}
