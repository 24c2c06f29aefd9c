//! The company's file index on PostgreSQL (migration 2): the same tables and the same
//! answers as SQLite's (`store/sqlite_index.rs`). Names sort byte-wise (`COLLATE "C"`
//! columns), paths are `BYTEA` (exact bytes, byte order), and a file without a document
//! id or digest sorts first, as in SQLite. Scans run on a snapshot's own connection,
//! through a cursor fetched a page at a time: memory does not grow with the index.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use ::postgres::{Client, Row};

use super::{map_err, path_of, PgTx, Target};
use crate::directory::EntryKind;
use crate::report::{IndexOrder, IndexRow, IndexedFile, MachineStatus, DEFAULT_INTERVAL_S};
use crate::store::{
    IndexCount, IndexEntry, IndexFilter, LevelIs, ListedFile, MachineRow, ReportState, Snapshot,
    SnapshotOpener, StoreError, INDEX_GENERATION,
};

/// Migration 2: the file index, the machines that report, and each machine's report.
pub(super) const MIGRATION: &str = r#"
CREATE TABLE file_index (
    machine TEXT COLLATE "C" NOT NULL, path BYTEA NOT NULL, doc TEXT COLLATE "C",
    sha256 TEXT COLLATE "C", level TEXT, status TEXT NOT NULL, protected BOOLEAN NOT NULL,
    size BIGINT NOT NULL, modified BIGINT NOT NULL, received_at BIGINT NOT NULL,
    record BYTEA NOT NULL, PRIMARY KEY (machine, path));
CREATE INDEX file_index_doc ON file_index (doc NULLS FIRST, machine, path);
CREATE INDEX file_index_sha256 ON file_index (sha256 NULLS FIRST, machine, path);
CREATE TABLE machines (
    name TEXT COLLATE "C" PRIMARY KEY, interval_s BIGINT NOT NULL, last_report_at BIGINT);
CREATE TABLE reports (
    machine TEXT NOT NULL, report TEXT COLLATE "C" NOT NULL, seq BIGINT NOT NULL,
    done BOOLEAN NOT NULL, files BIGINT NOT NULL, removed BIGINT NOT NULL,
    started_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
    PRIMARY KEY (machine, report));
"#;

/// Migration 6 (SQLite's 8): narrow indexes for the console's lists and counts.
pub(super) const MIGRATION_LISTS: &str = r#"
CREATE INDEX file_index_level ON file_index (level, machine, path);
CREATE INDEX file_index_names ON file_index (machine, path) INCLUDE (level, protected);
"#;

/// Rows fetched from the scan's cursor at a time.
const PAGE: usize = 1_000;

fn report_from_row(r: &Row) -> ReportState {
    ReportState {
        report: r.get(0),
        seq: r.get::<_, i64>(1) as u32,
        done: r.get(2),
        files: r.get::<_, i64>(3) as u64,
        removed: r.get::<_, i64>(4) as u64,
        started_at: r.get(5),
        updated_at: r.get(6),
    }
}

impl PgTx<'_> {
    pub(super) fn report_state_of(
        &mut self,
        machine: &str,
        report: &str,
    ) -> Result<Option<ReportState>, StoreError> {
        const SQL: &str = "SELECT report, seq, done, files, removed, started_at, updated_at
             FROM reports WHERE machine = $1 AND report = $2";
        Ok(self
            .query(SQL, &[&machine, &report])?
            .first()
            .map(report_from_row))
    }

    pub(super) fn report_states_of(
        &mut self,
        machine: &str,
        before: i64,
    ) -> Result<Vec<ReportState>, StoreError> {
        const SQL: &str = "SELECT report, seq, done, files, removed, started_at, updated_at
             FROM reports WHERE machine = $1 AND updated_at < $2 ORDER BY started_at, report";
        Ok(self
            .query(SQL, &[&machine, &before])?
            .iter()
            .map(report_from_row)
            .collect())
    }

    pub(super) fn report_state_store(
        &mut self,
        machine: &str,
        s: &ReportState,
    ) -> Result<(), StoreError> {
        self.write(
            "INSERT INTO reports (machine, report, seq, done, files, removed, started_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (machine, report) DO UPDATE SET seq = EXCLUDED.seq, done = EXCLUDED.done,
               files = EXCLUDED.files, removed = EXCLUDED.removed,
               started_at = EXCLUDED.started_at, updated_at = EXCLUDED.updated_at",
            &[
                &machine,
                &s.report,
                &i64::from(s.seq),
                &s.done,
                &(s.files as i64),
                &(s.removed as i64),
                &s.started_at,
                &s.updated_at,
            ],
        )
        .map(drop)
    }

    pub(super) fn report_state_forget(
        &mut self,
        machine: &str,
        report: &str,
    ) -> Result<(), StoreError> {
        self.write(
            "DELETE FROM reports WHERE machine = $1 AND report = $2",
            &[&machine, &report],
        )
        .map(drop)
    }

    /// One statement for the whole chunk; a path given twice keeps its last row, as
    /// SQLite's row-by-row replace does.
    pub(super) fn index_store(
        &mut self,
        machine: &str,
        rows: &[IndexRow],
        at: i64,
    ) -> Result<(), StoreError> {
        let mut last: HashMap<&[u8], usize> = HashMap::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            last.insert(row.columns.path.as_os_str().as_bytes(), i);
        }
        let kept: Vec<&IndexRow> = rows
            .iter()
            .enumerate()
            .filter(|(i, r)| last[r.columns.path.as_os_str().as_bytes()] == *i)
            .map(|(_, r)| r)
            .collect();
        if kept.is_empty() {
            return Ok(());
        }
        let path: Vec<&[u8]> = kept
            .iter()
            .map(|r| r.columns.path.as_os_str().as_bytes())
            .collect();
        let doc: Vec<Option<String>> = kept
            .iter()
            .map(|r| r.columns.doc.map(|d| d.to_string()))
            .collect();
        let sha256: Vec<Option<String>> = kept
            .iter()
            .map(|r| r.columns.sha256.map(|d| d.to_string()))
            .collect();
        let level: Vec<Option<&str>> = kept.iter().map(|r| r.columns.level.as_deref()).collect();
        let status: Vec<&str> = kept.iter().map(|r| r.columns.status.as_str()).collect();
        let protected: Vec<bool> = kept.iter().map(|r| r.columns.protected).collect();
        let size: Vec<i64> = kept
            .iter()
            .map(|r| r.columns.size.min(i64::MAX as u64) as i64)
            .collect();
        let modified: Vec<i64> = kept.iter().map(|r| r.columns.modified).collect();
        let record: Vec<&[u8]> = kept.iter().map(|r| r.record.as_slice()).collect();
        self.write(
            "INSERT INTO file_index
               (machine, path, doc, sha256, level, status, protected, size, modified, received_at, record)
             SELECT $1, p, d, h, l, s, pr, sz, m, $2, rec
             FROM unnest($3::bytea[], $4::text[], $5::text[], $6::text[], $7::text[], $8::boolean[],
                         $9::bigint[], $10::bigint[], $11::bytea[]) AS t(p, d, h, l, s, pr, sz, m, rec)
             ON CONFLICT (machine, path) DO UPDATE SET doc = EXCLUDED.doc, sha256 = EXCLUDED.sha256,
               level = EXCLUDED.level, status = EXCLUDED.status, protected = EXCLUDED.protected,
               size = EXCLUDED.size, modified = EXCLUDED.modified,
               received_at = EXCLUDED.received_at, record = EXCLUDED.record",
            &[
                &machine, &at, &path, &doc, &sha256, &level, &status, &protected, &size,
                &modified, &record,
            ],
        )?;
        self.index_changed()
    }

    /// Counts a write to the index (see [`Snapshot::index_generation`]).
    fn index_changed(&mut self) -> Result<(), StoreError> {
        self.write(
            "INSERT INTO meta (key, value) VALUES ($1, '1')
             ON CONFLICT (key) DO UPDATE SET value = (meta.value::bigint + 1)::text",
            &[&INDEX_GENERATION],
        )
        .map(drop)
    }

    pub(super) fn index_delete(
        &mut self,
        machine: &str,
        paths: &[PathBuf],
    ) -> Result<usize, StoreError> {
        if paths.is_empty() {
            return Ok(0);
        }
        let paths: Vec<&[u8]> = paths.iter().map(|p| p.as_os_str().as_bytes()).collect();
        let rows = self.write(
            "WITH gone AS (DELETE FROM file_index WHERE machine = $1 AND path = ANY($2::bytea[])
               RETURNING 1)
             SELECT count(*) FROM gone",
            &[&machine, &paths],
        )?;
        let removed = rows.first().map_or(0, |r| r.get::<_, i64>(0)) as usize;
        if removed > 0 {
            self.index_changed()?;
        }
        Ok(removed)
    }

    pub(super) fn machine_seen(
        &mut self,
        machine: &str,
        at: i64,
        interval_s: Option<u32>,
    ) -> Result<(), StoreError> {
        self.write(
            "INSERT INTO machines (name, interval_s, last_report_at) VALUES ($1, coalesce($3::bigint, $4::bigint), $2::bigint)
             ON CONFLICT (name) DO UPDATE SET last_report_at = EXCLUDED.last_report_at,
               interval_s = coalesce($3::bigint, machines.interval_s)",
            &[
                &machine,
                &at,
                &interval_s.map(i64::from),
                &i64::from(DEFAULT_INTERVAL_S),
            ],
        )
        .map(drop)
    }
}

impl PgTx<'_> {
    pub(super) fn index_entries(&mut self) -> Result<Vec<IndexEntry>, StoreError> {
        Ok(self
            .query(
                "SELECT machine, path, doc, sha256, level, status, protected, size, modified,
                   received_at, record FROM file_index ORDER BY machine, path",
                &[],
            )?
            .iter()
            .map(|r| IndexEntry {
                machine: r.get(0),
                path: path_of(r.get(1)),
                doc: r.get(2),
                sha256: r.get(3),
                level: r.get(4),
                status: r.get(5),
                protected: r.get(6),
                size: r.get::<_, i64>(7) as u64,
                modified: r.get(8),
                received_at: r.get(9),
                record: r.get(10),
            })
            .collect())
    }

    pub(super) fn index_store_entries(&mut self, entries: &[IndexEntry]) -> Result<(), StoreError> {
        for e in entries {
            self.write(
                "INSERT INTO file_index
                   (machine, path, doc, sha256, level, status, protected, size, modified, received_at, record)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (machine, path) DO UPDATE SET doc = EXCLUDED.doc,
                   sha256 = EXCLUDED.sha256, level = EXCLUDED.level, status = EXCLUDED.status,
                   protected = EXCLUDED.protected, size = EXCLUDED.size,
                   modified = EXCLUDED.modified, received_at = EXCLUDED.received_at,
                   record = EXCLUDED.record",
                &[
                    &e.machine,
                    &e.path.as_os_str().as_bytes(),
                    &e.doc,
                    &e.sha256,
                    &e.level,
                    &e.status,
                    &e.protected,
                    &(e.size.min(i64::MAX as u64) as i64),
                    &e.modified,
                    &e.received_at,
                    &e.record,
                ],
            )?;
        }
        Ok(())
    }

    pub(super) fn machine_rows(&mut self) -> Result<Vec<MachineRow>, StoreError> {
        Ok(self
            .query(
                "SELECT name, interval_s, last_report_at FROM machines ORDER BY name",
                &[],
            )?
            .iter()
            .map(|r| MachineRow {
                name: r.get(0),
                interval_s: r.get::<_, i64>(1) as u32,
                last_report_at: r.get(2),
            })
            .collect())
    }

    pub(super) fn machine_store(&mut self, m: &MachineRow) -> Result<(), StoreError> {
        self.write(
            "INSERT INTO machines (name, interval_s, last_report_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET interval_s = EXCLUDED.interval_s,
               last_report_at = EXCLUDED.last_report_at",
            &[&m.name, &i64::from(m.interval_s), &m.last_report_at],
        )
        .map(drop)
    }

    pub(super) fn report_states_all(&mut self) -> Result<Vec<(String, ReportState)>, StoreError> {
        Ok(self
            .query(
                "SELECT report, seq, done, files, removed, started_at, updated_at, machine
                 FROM reports ORDER BY machine COLLATE \"C\", report",
                &[],
            )?
            .iter()
            .map(|r| (r.get(7), report_from_row(r)))
            .collect())
    }
}

/// Opens read-only snapshots of the database at `target`, each on a connection of its
/// own (never the writer's), in a repeatable-read transaction.
pub(super) fn opener(target: Target) -> SnapshotOpener {
    std::sync::Arc::new(move || {
        let mut client = target.connect()?;
        client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .map_err(|e| map_err(target.label(), e))?;
        Ok(Box::new(PgSnapshot {
            client,
            label: target.label().to_owned(),
        }) as Box<dyn Snapshot>)
    })
}

struct PgSnapshot {
    client: Client,
    label: String,
}

impl Snapshot for PgSnapshot {
    fn index_scan(
        &mut self,
        order: IndexOrder,
        each: &mut dyn FnMut(IndexedFile) -> bool,
    ) -> Result<(), StoreError> {
        let order_by = match order {
            IndexOrder::MachinePath => "machine, path",
            IndexOrder::DocId => "doc NULLS FIRST, machine, path",
            IndexOrder::Sha256 => "sha256 NULLS FIRST, machine, path",
        };
        let label = self.label.clone();
        let e = |e| map_err(&label, e);
        self.client
            .batch_execute(&format!(
                "DECLARE fuda_scan NO SCROLL CURSOR FOR
                 SELECT machine, path, doc, sha256, record, received_at FROM file_index
                 ORDER BY {order_by}"
            ))
            .map_err(e)?;
        let fetch = format!("FETCH {PAGE} FROM fuda_scan");
        'pages: loop {
            let rows = self.client.query(&fetch, &[]).map_err(e)?;
            let last = rows.len() < PAGE;
            for r in rows {
                let file = IndexedFile {
                    machine: r.get(0),
                    path: path_of(r.get(1)),
                    doc: r.get(2),
                    sha256: r.get(3),
                    record_json: r.get(4),
                    received_at: r.get(5),
                };
                if !each(file) {
                    break 'pages;
                }
            }
            if last {
                break;
            }
        }
        self.client.batch_execute("CLOSE fuda_scan").map_err(e)
    }

    fn machines(&mut self) -> Result<Vec<MachineStatus>, StoreError> {
        let rows = self
            .client
            .query(
                "WITH counts AS (SELECT machine, count(*) AS n FROM file_index GROUP BY machine),
                      names AS (SELECT name COLLATE \"C\" AS name FROM users WHERE kind = 'machine'
                                UNION SELECT name FROM machines UNION SELECT machine FROM counts)
                 SELECT names.name, coalesce(users.kind, 'machine'), machines.last_report_at,
                        coalesce(machines.interval_s, $1), coalesce(counts.n, 0)
                 FROM names LEFT JOIN users ON users.name COLLATE \"C\" = names.name
                      LEFT JOIN machines ON machines.name = names.name
                      LEFT JOIN counts ON counts.machine = names.name
                 ORDER BY names.name",
                &[&i64::from(DEFAULT_INTERVAL_S)],
            )
            .map_err(|e| map_err(&self.label, e))?;
        Ok(rows
            .iter()
            .map(|r| MachineStatus {
                name: r.get(0),
                kind: EntryKind::parse(r.get(1)),
                last_report_at: r.get(2),
                expected_interval_s: r.get::<_, i64>(3) as u32,
                files: r.get::<_, i64>(4) as u64,
            })
            .collect())
    }

    fn index_generation(&mut self) -> Result<u64, StoreError> {
        let rows = self
            .client
            .query(
                "SELECT value FROM meta WHERE key = $1",
                &[&INDEX_GENERATION],
            )
            .map_err(|e| map_err(&self.label, e))?;
        Ok(rows
            .first()
            .and_then(|r| r.get::<_, String>(0).parse().ok())
            .unwrap_or(0))
    }

    fn index_counts(&mut self) -> Result<Vec<IndexCount>, StoreError> {
        let rows = self
            .client
            .query(
                "SELECT machine, level, count(*), count(*) FILTER (WHERE protected)
                 FROM file_index GROUP BY machine, level ORDER BY machine, level NULLS FIRST",
                &[],
            )
            .map_err(|e| map_err(&self.label, e))?;
        Ok(rows
            .iter()
            .map(|r| IndexCount {
                machine: r.get(0),
                level: r.get(1),
                files: r.get::<_, i64>(2) as u64,
                protected: r.get::<_, i64>(3) as u64,
            })
            .collect())
    }

    fn index_page(
        &mut self,
        filter: &IndexFilter,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<ListedFile>, StoreError> {
        let (unlabeled, level) = match &filter.level {
            LevelIs::Any => (false, None),
            LevelIs::Unlabeled => (true, None),
            LevelIs::Level(l) => (false, Some(l.as_str())),
        };
        // Each filter's shape reads its own index: the planner sees constants, not ORs.
        let mut clauses: Vec<String> = Vec::new();
        if unlabeled {
            clauses.push("level IS NULL".into());
        }
        if level.is_some() {
            clauses.push("level = $1::text".into());
        } else {
            clauses.push("$1::text IS NULL".into());
        }
        if filter.machine.is_some() {
            clauses.push("machine = $2::text".into());
        } else {
            clauses.push("$2::text IS NULL".into());
        }
        let sql = format!(
            "WITH page AS (SELECT machine, path FROM file_index WHERE {}
                           ORDER BY machine, path LIMIT $3 OFFSET $4)
             SELECT f.machine, f.path, f.doc, f.level, f.status, f.protected, f.size, f.modified
             FROM page JOIN file_index f USING (machine, path) ORDER BY f.machine, f.path",
            clauses.join(" AND ")
        );
        let rows = self
            .client
            .query(
                &sql,
                &[
                    &level,
                    &filter.machine,
                    &i64::from(limit),
                    &(offset.min(i64::MAX as u64) as i64),
                ],
            )
            .map_err(|e| map_err(&self.label, e))?;
        Ok(rows.iter().map(listed).collect())
    }

    fn index_file(
        &mut self,
        machine: &str,
        path: &std::path::Path,
    ) -> Result<Option<ListedFile>, StoreError> {
        let rows = self
            .client
            .query(
                "SELECT machine, path, doc, level, status, protected, size, modified
                 FROM file_index WHERE machine = $1 AND path = $2",
                &[&machine, &path.as_os_str().as_bytes()],
            )
            .map_err(|e| map_err(&self.label, e))?;
        Ok(rows.first().map(listed))
    }

    fn documents(&mut self) -> Result<Vec<crate::registry::Document>, StoreError> {
        let rows = self
            .client
            .query(super::DOC_LIST, &[])
            .map_err(|e| map_err(&self.label, e))?;
        Ok(rows.iter().map(|r| PgTx::doc_from_row(r).doc).collect())
    }
}

fn listed(r: &Row) -> ListedFile {
    ListedFile {
        machine: r.get(0),
        path: path_of(r.get(1)),
        doc: r.get(2),
        level: r.get(3),
        status: r.get(4),
        protected: r.get(5),
        size: r.get::<_, i64>(6) as u64,
        modified: r.get(7),
    }
}
