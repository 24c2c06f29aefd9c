//! The company's file index in SQLite (tables `file_index`, `machines`, `reports` of
//! migration 4): writes for the writer's transactions, and read-only snapshots on a
//! connection of their own for scans that must not hold up the writer.
//!
//! Paths are stored as blobs of their exact bytes, so `ORDER BY machine, path` is the
//! byte order of the names whatever their encoding.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use super::{
    IndexCount, IndexEntry, IndexFilter, LevelIs, ListedFile, MachineRow, ReportState, Snapshot,
    StoreError, INDEX_GENERATION,
};
use crate::directory::EntryKind;
use crate::report::{IndexOrder, IndexRow, IndexedFile, MachineStatus, DEFAULT_INTERVAL_S};

/// Migration 4: the file index, the machines that report, and each machine's report.
pub(super) const MIGRATION: &str = r#"
CREATE TABLE file_index (
    machine TEXT NOT NULL, path BLOB NOT NULL, doc TEXT, sha256 TEXT, level TEXT,
    status TEXT NOT NULL, protected INTEGER NOT NULL, size INTEGER NOT NULL,
    modified INTEGER NOT NULL, received_at INTEGER NOT NULL, record BLOB NOT NULL,
    PRIMARY KEY (machine, path)) WITHOUT ROWID;
CREATE INDEX file_index_doc ON file_index (doc, machine, path);
CREATE INDEX file_index_sha256 ON file_index (sha256, machine, path);
CREATE TABLE machines (
    name TEXT PRIMARY KEY, interval_s INTEGER NOT NULL, last_report_at INTEGER);
CREATE TABLE reports (
    machine TEXT NOT NULL, report TEXT NOT NULL, seq INTEGER NOT NULL,
    done INTEGER NOT NULL, files INTEGER NOT NULL, removed INTEGER NOT NULL,
    started_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
    PRIMARY KEY (machine, report));
"#;

/// Migration 8: what the console's lists of the index need — a page of one level's files
/// in name order, and every machine's files counted per level — read from narrow indexes
/// instead of the rows (a row holds the machine's whole record).
pub(super) const MIGRATION_LISTS: &str = r#"
CREATE INDEX file_index_level ON file_index (level, machine, path);
CREATE INDEX file_index_names ON file_index (machine, path, level, protected);
"#;

/// Counts a write to the index (see [`Snapshot::index_generation`]).
fn index_changed(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, '1')
         ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
    )
    .map_err(err(path))?
    .execute([INDEX_GENERATION])
    .map(drop)
    .map_err(err(path))
}

fn err(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |e| StoreError::Database {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

const REPORT_COLS: &str = "report, seq, done, files, removed, started_at, updated_at";

fn report_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ReportState> {
    Ok(ReportState {
        report: r.get(0)?,
        seq: r.get(1)?,
        done: r.get::<_, i64>(2)? != 0,
        files: r.get::<_, i64>(3)? as u64,
        removed: r.get::<_, i64>(4)? as u64,
        started_at: r.get(5)?,
        updated_at: r.get(6)?,
    })
}

pub(super) fn report_state(
    conn: &Connection,
    path: &Path,
    machine: &str,
    report: &str,
) -> Result<Option<ReportState>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {REPORT_COLS} FROM reports WHERE machine = ?1 AND report = ?2"
    ))
    .map_err(err(path))?
    .query_row([machine, report], report_from_row)
    .optional()
    .map_err(err(path))
}

pub(super) fn report_states_before(
    conn: &Connection,
    path: &Path,
    machine: &str,
    before: i64,
) -> Result<Vec<ReportState>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {REPORT_COLS} FROM reports WHERE machine = ?1 AND updated_at < ?2 ORDER BY started_at, report"
    ))
    .map_err(err(path))?
    .query_map(params![machine, before], report_from_row)
    .map_err(err(path))?
    .collect::<Result<Vec<_>, _>>()
    .map_err(err(path))
}

pub(super) fn report_state_delete(
    conn: &Connection,
    path: &Path,
    machine: &str,
    report: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM reports WHERE machine = ?1 AND report = ?2")
        .map_err(err(path))?
        .execute([machine, report])
        .map(drop)
        .map_err(err(path))
}

pub(super) fn report_state_put(
    conn: &Connection,
    path: &Path,
    machine: &str,
    s: &ReportState,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO reports
         (machine, report, seq, done, files, removed, started_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .map_err(err(path))?
    .execute(params![
        machine,
        s.report,
        s.seq,
        s.done as i64,
        s.files as i64,
        s.removed as i64,
        s.started_at,
        s.updated_at
    ])
    .map(drop)
    .map_err(err(path))
}

pub(super) fn index_put(
    conn: &Connection,
    path: &Path,
    machine: &str,
    rows: &[IndexRow],
    at: i64,
) -> Result<(), StoreError> {
    let mut st = conn
        .prepare_cached(
            "INSERT OR REPLACE INTO file_index
             (machine, path, doc, sha256, level, status, protected, size, modified, received_at, record)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .map_err(err(path))?;
    for row in rows {
        let c = &row.columns;
        st.execute(params![
            machine,
            c.path.as_os_str().as_bytes(),
            c.doc.map(|d| d.to_string()),
            c.sha256.map(|d| d.to_string()),
            c.level,
            c.status.as_str(),
            c.protected as i64,
            c.size.min(i64::MAX as u64) as i64,
            c.modified,
            at,
            row.record
        ])
        .map_err(err(path))?;
    }
    index_changed(conn, path)
}

pub(super) fn index_remove(
    conn: &Connection,
    path: &Path,
    machine: &str,
    paths: &[PathBuf],
) -> Result<usize, StoreError> {
    let mut st = conn
        .prepare_cached("DELETE FROM file_index WHERE machine = ?1 AND path = ?2")
        .map_err(err(path))?;
    let mut removed = 0;
    for p in paths {
        removed += st
            .execute(params![machine, p.as_os_str().as_bytes()])
            .map_err(err(path))?;
    }
    if removed > 0 {
        index_changed(conn, path)?;
    }
    Ok(removed)
}

pub(super) fn machine_reported(
    conn: &Connection,
    path: &Path,
    machine: &str,
    at: i64,
    interval_s: Option<u32>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO machines (name, interval_s, last_report_at) VALUES (?1, coalesce(?3, ?4), ?2)
         ON CONFLICT (name) DO UPDATE SET last_report_at = ?2, interval_s = coalesce(?3, interval_s)",
    )
    .map_err(err(path))?
    .execute(params![machine, at, interval_s, DEFAULT_INTERVAL_S])
    .map(drop)
    .map_err(err(path))
}

pub(super) fn index_all(conn: &Connection, path: &Path) -> Result<Vec<IndexEntry>, StoreError> {
    conn.prepare(
        "SELECT machine, path, doc, sha256, level, status, protected, size, modified, received_at, record
         FROM file_index ORDER BY machine, path",
    )
    .map_err(err(path))?
    .query_map([], |r| {
        Ok(IndexEntry {
            machine: r.get(0)?,
            path: PathBuf::from(std::ffi::OsStr::from_bytes(&r.get::<_, Vec<u8>>(1)?)),
            doc: r.get(2)?,
            sha256: r.get(3)?,
            level: r.get(4)?,
            status: r.get(5)?,
            protected: r.get::<_, i64>(6)? != 0,
            size: r.get::<_, i64>(7)? as u64,
            modified: r.get(8)?,
            received_at: r.get(9)?,
            record: r.get(10)?,
        })
    })
    .map_err(err(path))?
    .collect::<Result<Vec<_>, _>>()
    .map_err(err(path))
}

pub(super) fn index_put_entries(
    conn: &Connection,
    path: &Path,
    entries: &[IndexEntry],
) -> Result<(), StoreError> {
    let mut st = conn
        .prepare_cached(
            "INSERT OR REPLACE INTO file_index
             (machine, path, doc, sha256, level, status, protected, size, modified, received_at, record)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .map_err(err(path))?;
    for e in entries {
        st.execute(params![
            e.machine,
            e.path.as_os_str().as_bytes(),
            e.doc,
            e.sha256,
            e.level,
            e.status,
            e.protected as i64,
            e.size.min(i64::MAX as u64) as i64,
            e.modified,
            e.received_at,
            e.record
        ])
        .map_err(err(path))?;
    }
    Ok(())
}

pub(super) fn machine_all(conn: &Connection, path: &Path) -> Result<Vec<MachineRow>, StoreError> {
    conn.prepare("SELECT name, interval_s, last_report_at FROM machines ORDER BY name")
        .map_err(err(path))?
        .query_map([], |r| {
            Ok(MachineRow {
                name: r.get(0)?,
                interval_s: r.get(1)?,
                last_report_at: r.get(2)?,
            })
        })
        .map_err(err(path))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(err(path))
}

pub(super) fn machine_put(
    conn: &Connection,
    path: &Path,
    m: &MachineRow,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO machines (name, interval_s, last_report_at) VALUES (?1, ?2, ?3)",
    )
    .map_err(err(path))?
    .execute(params![m.name, m.interval_s, m.last_report_at])
    .map(drop)
    .map_err(err(path))
}

pub(super) fn report_state_all(
    conn: &Connection,
    path: &Path,
) -> Result<Vec<(String, ReportState)>, StoreError> {
    conn.prepare(&format!(
        "SELECT machine, {REPORT_COLS} FROM reports ORDER BY machine, report"
    ))
    .map_err(err(path))?
    .query_map([], |r| {
        Ok((
            r.get(0)?,
            ReportState {
                report: r.get(1)?,
                seq: r.get(2)?,
                done: r.get::<_, i64>(3)? != 0,
                files: r.get::<_, i64>(4)? as u64,
                removed: r.get::<_, i64>(5)? as u64,
                started_at: r.get(6)?,
                updated_at: r.get(7)?,
            },
        ))
    })
    .map_err(err(path))?
    .collect::<Result<Vec<_>, _>>()
    .map_err(err(path))
}

/// Opens read-only snapshots of the database at `db`.
pub(super) fn opener(db: PathBuf) -> super::SnapshotOpener {
    std::sync::Arc::new(move || {
        let e = err(&db);
        let conn = Connection::open_with_flags(
            &db,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(&e)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(&e)?;
        // One read transaction for the snapshot's life: a consistent view in WAL mode.
        conn.execute_batch("BEGIN").map_err(&e)?;
        Ok(Box::new(SqliteSnapshot {
            conn,
            path: db.clone(),
        }) as Box<dyn Snapshot>)
    })
}

struct SqliteSnapshot {
    conn: Connection,
    path: PathBuf,
}

impl Snapshot for SqliteSnapshot {
    fn index_scan(
        &mut self,
        order: IndexOrder,
        each: &mut dyn FnMut(IndexedFile) -> bool,
    ) -> Result<(), StoreError> {
        let order_by = match order {
            IndexOrder::MachinePath => "machine, path",
            IndexOrder::DocId => "doc, machine, path",
            IndexOrder::Sha256 => "sha256, machine, path",
        };
        let e = err(&self.path);
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT machine, path, doc, sha256, record, received_at FROM file_index ORDER BY {order_by}"
            ))
            .map_err(&e)?;
        let mut rows = st.query([]).map_err(&e)?;
        while let Some(r) = rows.next().map_err(&e)? {
            let file = IndexedFile {
                machine: r.get(0).map_err(&e)?,
                path: PathBuf::from(std::ffi::OsStr::from_bytes(
                    &r.get::<_, Vec<u8>>(1).map_err(&e)?,
                )),
                doc: r.get(2).map_err(&e)?,
                sha256: r.get(3).map_err(&e)?,
                record_json: r.get(4).map_err(&e)?,
                received_at: r.get(5).map_err(&e)?,
            };
            if !each(file) {
                break;
            }
        }
        Ok(())
    }

    fn machines(&mut self) -> Result<Vec<MachineStatus>, StoreError> {
        let e = err(&self.path);
        let mut st = self
            .conn
            .prepare(
                "WITH counts AS (SELECT machine, count(*) AS n FROM file_index GROUP BY machine),
                      names AS (SELECT name FROM users WHERE kind = 'machine'
                                UNION SELECT name FROM machines UNION SELECT machine FROM counts)
                 SELECT names.name, coalesce(users.kind, 'machine'), machines.last_report_at,
                        coalesce(machines.interval_s, ?1), coalesce(counts.n, 0)
                 FROM names LEFT JOIN users ON users.name = names.name
                      LEFT JOIN machines ON machines.name = names.name
                      LEFT JOIN counts ON counts.machine = names.name
                 ORDER BY names.name",
            )
            .map_err(&e)?;
        let rows = st
            .query_map([DEFAULT_INTERVAL_S], |r| {
                Ok(MachineStatus {
                    name: r.get(0)?,
                    kind: EntryKind::parse(&r.get::<_, String>(1)?),
                    last_report_at: r.get(2)?,
                    expected_interval_s: r.get(3)?,
                    files: r.get::<_, i64>(4)? as u64,
                })
            })
            .map_err(&e)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(&e)?;
        Ok(rows)
    }

    fn index_generation(&mut self) -> Result<u64, StoreError> {
        let e = err(&self.path);
        let value: Option<String> = self
            .conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")
            .map_err(&e)?
            .query_row([INDEX_GENERATION], |r| r.get(0))
            .optional()
            .map_err(&e)?;
        Ok(value.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    fn index_counts(&mut self) -> Result<Vec<IndexCount>, StoreError> {
        let e = err(&self.path);
        let mut st = self
            .conn
            .prepare(
                "SELECT machine, level, count(*), sum(protected) FROM file_index INDEXED BY file_index_names
                 GROUP BY machine, level ORDER BY machine, level",
            )
            .map_err(&e)?;
        let rows = st
            .query_map([], |r| {
                Ok(IndexCount {
                    machine: r.get(0)?,
                    level: r.get(1)?,
                    files: r.get::<_, i64>(2)? as u64,
                    protected: r.get::<_, i64>(3)? as u64,
                })
            })
            .map_err(&e)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(&e)?;
        Ok(rows)
    }

    fn index_page(
        &mut self,
        filter: &IndexFilter,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<ListedFile>, StoreError> {
        let db = self.path.clone();
        let e = err(&db);
        // The names of the page from a narrow index, then each row by its key.
        use rusqlite::types::Value;
        let mut clauses = Vec::new();
        let mut values = Vec::new();
        let index = match &filter.level {
            LevelIs::Any => "file_index_names",
            LevelIs::Unlabeled => {
                clauses.push("level IS NULL".to_owned());
                "file_index_level"
            }
            LevelIs::Level(l) => {
                values.push(Value::Text(l.clone()));
                clauses.push(format!("level = ?{}", values.len()));
                "file_index_level"
            }
        };
        if let Some(m) = &filter.machine {
            values.push(Value::Text(m.clone()));
            clauses.push(format!("machine = ?{}", values.len()));
        }
        let filter_sql = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        values.push(Value::Integer(i64::from(limit)));
        values.push(Value::Integer(offset.min(i64::MAX as u64) as i64));
        let n = values.len();
        let sql = format!(
            "SELECT machine, path FROM file_index INDEXED BY {index} {filter_sql}
             ORDER BY machine, path LIMIT ?{} OFFSET ?{n}",
            n - 1
        );
        let keys = self
            .conn
            .prepare_cached(&sql)
            .map_err(&e)?
            .query_map(rusqlite::params_from_iter(values), |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .map_err(&e)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(&e)?;
        let mut out = Vec::with_capacity(keys.len());
        for (machine, path) in keys {
            out.extend(self.index_file(&machine, Path::new(std::ffi::OsStr::from_bytes(&path)))?);
        }
        Ok(out)
    }

    fn index_file(&mut self, machine: &str, path: &Path) -> Result<Option<ListedFile>, StoreError> {
        let e = err(&self.path);
        self.conn
            .prepare_cached(
                "SELECT machine, path, doc, level, status, protected, size, modified
                 FROM file_index WHERE machine = ?1 AND path = ?2",
            )
            .map_err(&e)?
            .query_row(params![machine, path.as_os_str().as_bytes()], |r| {
                Ok(ListedFile {
                    machine: r.get(0)?,
                    path: PathBuf::from(std::ffi::OsStr::from_bytes(&r.get::<_, Vec<u8>>(1)?)),
                    doc: r.get(2)?,
                    level: r.get(3)?,
                    status: r.get(4)?,
                    protected: r.get::<_, i64>(5)? != 0,
                    size: r.get::<_, i64>(6)? as u64,
                    modified: r.get(7)?,
                })
            })
            .optional()
            .map_err(&e)
    }

    fn documents(&mut self) -> Result<Vec<crate::registry::Document>, StoreError> {
        super::sqlite::doc_list_on(&self.conn, &self.path)
    }
}
