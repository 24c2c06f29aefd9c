//! The SQLite store: one file, WAL journal, `synchronous = FULL` (a commit is on disk
//! before the service answers), schema migrations by `PRAGMA user_version`.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

use super::sqlite_index;
use super::{
    Credential, DocRow, DocVersion, IndexEntry, MachineRow, ReportState, SnapshotOpener, Store,
    StoreError, Tx,
};
use crate::audit::{Event, Outcome, Query, Record};
use crate::directory::{EntryKind, Group, User, UserStatus};
use crate::policy::PolicyVersion;
use crate::registry::{Document, Grant, Principal, Revocation};
use crate::report::IndexRow;

/// Schema migrations, in order; `user_version` counts those applied.
const MIGRATIONS: &[&str] = &[
    // 1: directory, registry, revocations, audit.
    r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE users (
    name TEXT PRIMARY KEY, display_name TEXT NOT NULL, dept TEXT, status TEXT NOT NULL,
    admin INTEGER NOT NULL, recipient TEXT, signing_key TEXT);
CREATE TABLE groups (name TEXT PRIMARY KEY);
CREATE TABLE group_members (grp TEXT NOT NULL, user TEXT NOT NULL, PRIMARY KEY (grp, user));
CREATE TABLE enrollments (code_hash BLOB PRIMARY KEY, user TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE TABLE tokens (hash BLOB PRIMARY KEY, user TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE INDEX tokens_user ON tokens (user);
CREATE TABLE documents (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, level TEXT NOT NULL, owner TEXT NOT NULL,
    max_rights TEXT NOT NULL, expires_at INTEGER, offline_days INTEGER NOT NULL,
    size INTEGER NOT NULL, digest TEXT NOT NULL, host TEXT NOT NULL, path TEXT NOT NULL,
    key_version INTEGER NOT NULL, created_at INTEGER NOT NULL, key_check BLOB NOT NULL);
CREATE TABLE grants (doc TEXT NOT NULL, principal TEXT NOT NULL, rights TEXT NOT NULL,
    PRIMARY KEY (doc, principal));
CREATE TABLE revocations (doc TEXT NOT NULL, user TEXT NOT NULL, at INTEGER NOT NULL,
    by TEXT NOT NULL, PRIMARY KEY (doc, user));
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    doc TEXT, subject TEXT, outcome TEXT NOT NULL, reason TEXT, detail TEXT NOT NULL,
    prev TEXT NOT NULL, hash TEXT NOT NULL);
CREATE INDEX audit_doc ON audit (doc);
CREATE INDEX audit_actor ON audit (actor);
CREATE INDEX audit_subject ON audit (subject);
CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL);
"#,
    // 2: the organisation's policy, every version an admin set (`fuda admin policy set`).
    r#"
CREATE TABLE policies (
    version INTEGER PRIMARY KEY, text TEXT NOT NULL, origin TEXT NOT NULL,
    set_by TEXT NOT NULL, set_at INTEGER NOT NULL);
"#,
    // 3: what each directory entry is (person, hook, machine); existing ones are people.
    r#"
ALTER TABLE users ADD COLUMN kind TEXT NOT NULL DEFAULT 'person';
"#,
    // 4: the company's file index from machine reports (`fuda inventory --report`).
    super::sqlite_index::MIGRATION,
    // 5: the versions of a document saved back after the first (`fuda save`); version 1 is
    // the registration itself.
    r#"
CREATE TABLE document_versions (
    doc TEXT NOT NULL, version INTEGER NOT NULL, size INTEGER NOT NULL, digest TEXT NOT NULL,
    saved_by TEXT NOT NULL, saved_at INTEGER NOT NULL, PRIMARY KEY (doc, version));
"#,
    // 6: the read-only auditor role (`fuda admin user add --auditor`).
    r#"
ALTER TABLE users ADD COLUMN auditor INTEGER NOT NULL DEFAULT 0;
"#,
    // 7: the browser console's one-time log-in links and sessions (hashes only).
    r#"
CREATE TABLE console_credentials (
    hash BLOB PRIMARY KEY, user TEXT NOT NULL, kind TEXT NOT NULL, created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL, last_seen INTEGER NOT NULL);
CREATE INDEX console_credentials_user ON console_credentials (user);
"#,
    // 8: narrow indexes of the file index for the console's lists and counts.
    super::sqlite_index::MIGRATION_LISTS,
];

/// A SQLite database file.
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

fn db_err(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |e| StoreError::Database {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let err = db_err(path);
        let conn = Connection::open(path).map_err(&err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(&err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(&err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(&err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(&err)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(&err)?;
        let supported = MIGRATIONS.len() as i64;
        if version > supported {
            return Err(StoreError::TooNew {
                path: path.display().to_string(),
                found: version,
                supported,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = conn.unchecked_transaction().map_err(&err)?;
            tx.execute_batch(sql).map_err(&err)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .map_err(&err)?;
            tx.commit().map_err(&err)?;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        Ok(SqliteStore {
            conn,
            path: path.to_owned(),
        })
    }
}

impl Store for SqliteStore {
    fn transaction(
        &mut self,
        work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db_err(&path))?;
        {
            let mut t = SqliteTx {
                conn: &tx,
                path: &path,
            };
            work(&mut t)?;
        }
        tx.commit().map_err(db_err(&path))
    }

    fn snapshots(&self) -> SnapshotOpener {
        sqlite_index::opener(self.path.clone())
    }
}

struct SqliteTx<'a> {
    conn: &'a Connection,
    path: &'a Path,
}

/// Every registered document, read through `conn` (the writer's or a snapshot's) of the
/// database at `path`.
pub(super) fn doc_list_on(conn: &Connection, path: &Path) -> Result<Vec<Document>, StoreError> {
    SqliteTx { conn, path }.doc_list()
}

fn user_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        name: r.get(0)?,
        display_name: r.get(1)?,
        dept: r.get(2)?,
        status: UserStatus::parse(&r.get::<_, String>(3)?),
        admin: r.get::<_, i64>(4)? != 0,
        recipient: r.get(5)?,
        signing_key: r.get(6)?,
        groups: Vec::new(),
        kind: EntryKind::parse(&r.get::<_, String>(7)?),
        auditor: r.get::<_, i64>(8)? != 0,
    })
}

fn record_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Record> {
    let detail: String = r.get(8)?;
    Ok(Record {
        seq: r.get(0)?,
        at_ms: r.get(1)?,
        event: Event {
            actor: r.get(2)?,
            action: r.get(3)?,
            doc: r.get(4)?,
            subject: r.get(5)?,
            outcome: if r.get::<_, String>(6)? == "allow" {
                Outcome::Allow
            } else {
                Outcome::Deny
            },
            reason: r.get(7)?,
            // An unparsable detail (an edited row) keeps its text, so verify sees the edit.
            detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail)),
        },
        prev: r.get(9)?,
        hash: r.get(10)?,
    })
}

const USER_COLS: &str =
    "name, display_name, dept, status, admin, recipient, signing_key, kind, auditor";
/// A file name or path as SQLite keeps it: text when it is UTF-8 (what every row written
/// before names were kept as bytes holds), else a blob of its exact bytes.
fn path_value(path: &Path) -> rusqlite::types::Value {
    match path.to_str() {
        Some(text) => rusqlite::types::Value::Text(text.to_owned()),
        None => rusqlite::types::Value::Blob(path.as_os_str().as_bytes().to_vec()),
    }
}

/// Reads back what [`path_value`] stored.
fn path_column(r: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<PathBuf> {
    match r.get_ref(index)? {
        rusqlite::types::ValueRef::Text(b) | rusqlite::types::ValueRef::Blob(b) => {
            Ok(PathBuf::from(OsStr::from_bytes(b)))
        }
        other => Err(rusqlite::Error::InvalidColumnType(
            index,
            "name or path".into(),
            other.data_type(),
        )),
    }
}

const DOC_COLS: &str = "id, name, level, owner, max_rights, expires_at, offline_days, size, digest, host, path, key_version, created_at, key_check";
const AUDIT_COLS: &str =
    "seq, at_ms, actor, action, doc, subject, outcome, reason, detail, prev, hash";

impl SqliteTx<'_> {
    fn e(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        db_err(self.path)
    }

    fn groups_of(&self, user: &str) -> Result<Vec<String>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT grp FROM group_members WHERE user = ?1 ORDER BY grp")
            .map_err(self.e())?;
        let rows = st
            .query_map([user], |r| r.get(0))
            .map_err(self.e())?
            .collect::<Result<Vec<String>, _>>()
            .map_err(self.e())?;
        Ok(rows)
    }

    fn grants_of(&self, doc: &str) -> Result<Vec<Grant>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT principal, rights FROM grants WHERE doc = ?1 ORDER BY principal",
            )
            .map_err(self.e())?;
        let rows = st
            .query_map([doc], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(self.e())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.e())?;
        Ok(rows
            .into_iter()
            .filter_map(|(p, r)| {
                Some(Grant {
                    principal: p.parse().ok()?,
                    rights: r.parse().ok()?,
                })
            })
            .collect())
    }

    fn doc_from_row(&self, r: &rusqlite::Row<'_>) -> rusqlite::Result<DocRow> {
        let check: Vec<u8> = r.get(13)?;
        let mut key_check = [0u8; 32];
        if check.len() == 32 {
            key_check.copy_from_slice(&check);
        }
        Ok(DocRow {
            doc: Document {
                id: r.get(0)?,
                name: path_column(r, 1)?,
                level: r.get(2)?,
                owner: r.get(3)?,
                grants: Vec::new(),
                max_rights: r.get::<_, String>(4)?.parse().unwrap_or_default(),
                expires_at: r.get(5)?,
                offline_days: r.get(6)?,
                size: r.get::<_, i64>(7)? as u64,
                digest: r.get(8)?,
                host: r.get(9)?,
                path: path_column(r, 10)?,
                key_version: r.get(11)?,
                created_at: r.get(12)?,
                revoked: false,
                version: 1,
            },
            key_check,
        })
    }

    /// Rows of (hash, user, time); a hash of another length (an edited row) reads as zeros.
    fn credentials(&self, sql: &str) -> Result<Vec<Credential>, StoreError> {
        self.conn
            .prepare(sql)
            .map_err(self.e())?
            .query_map([], |r| {
                let bytes: Vec<u8> = r.get(0)?;
                let mut hash = [0u8; 32];
                if bytes.len() == 32 {
                    hash.copy_from_slice(&bytes);
                }
                Ok((hash, r.get(1)?, r.get(2)?))
            })
            .map_err(self.e())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.e())
    }

    /// The newest version of a document: 1 until a version is saved back.
    fn doc_version(&self, id: &str) -> Result<u32, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT COALESCE(MAX(version), 1) FROM document_versions WHERE doc = ?1",
            )
            .map_err(self.e())?
            .query_row([id], |r| r.get(0))
            .map_err(self.e())
    }

    fn doc_revoked(&self, id: &str) -> Result<bool, StoreError> {
        self.conn
            .prepare_cached("SELECT 1 FROM revocations WHERE doc = ?1 AND user = ''")
            .map_err(self.e())?
            .exists([id])
            .map_err(self.e())
    }
}

impl Tx for SqliteTx<'_> {
    fn meta_get(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")
            .map_err(self.e())?
            .query_row([key], |r| r.get(0))
            .optional()
            .map_err(self.e())
    }

    fn meta_set(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
                params![key, value],
            )
            .map(drop)
            .map_err(self.e())
    }

    fn meta_all(&mut self) -> Result<Vec<(String, String)>, StoreError> {
        self.conn
            .prepare("SELECT key, value FROM meta ORDER BY key")
            .map_err(self.e())?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.e())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.e())
    }

    fn user_get(&mut self, name: &str) -> Result<Option<User>, StoreError> {
        let user = self
            .conn
            .prepare_cached(&format!("SELECT {USER_COLS} FROM users WHERE name = ?1"))
            .map_err(self.e())?
            .query_row([name], user_from_row)
            .optional()
            .map_err(self.e())?;
        match user {
            Some(mut u) => {
                u.groups = self.groups_of(&u.name)?;
                Ok(Some(u))
            }
            None => Ok(None),
        }
    }

    fn user_put(&mut self, u: &User) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(&format!(
                "INSERT OR REPLACE INTO users ({USER_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ))
            .map_err(self.e())?
            .execute(params![
                u.name,
                u.display_name,
                u.dept,
                u.status.as_str(),
                u.admin as i64,
                u.recipient,
                u.signing_key,
                u.kind.as_str(),
                u.auditor as i64
            ])
            .map(drop)
            .map_err(self.e())
    }

    fn user_list(&mut self) -> Result<Vec<User>, StoreError> {
        let mut users = self
            .conn
            .prepare(&format!("SELECT {USER_COLS} FROM users ORDER BY name"))
            .map_err(self.e())?
            .query_map([], user_from_row)
            .map_err(self.e())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.e())?;
        for u in &mut users {
            u.groups = self.groups_of(&u.name)?;
        }
        Ok(users)
    }

    fn token_user(&mut self, hash: &[u8; 32]) -> Result<Option<(String, i64)>, StoreError> {
        self.conn
            .prepare_cached("SELECT user, created_at FROM tokens WHERE hash = ?1")
            .map_err(self.e())?
            .query_row([&hash[..]], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(self.e())
    }

    fn token_add(&mut self, hash: &[u8; 32], user: &str, at: i64) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO tokens (hash, user, created_at) VALUES (?1, ?2, ?3)",
                params![&hash[..], user, at],
            )
            .map(drop)
            .map_err(self.e())
    }

    fn token_all(&mut self) -> Result<Vec<Credential>, StoreError> {
        self.credentials("SELECT hash, user, created_at FROM tokens ORDER BY hash")
    }

    fn enrollment_all(&mut self) -> Result<Vec<Credential>, StoreError> {
        self.credentials("SELECT code_hash, user, expires_at FROM enrollments ORDER BY code_hash")
    }

    fn token_delete_user(&mut self, user: &str) -> Result<usize, StoreError> {
        self.conn
            .execute("DELETE FROM tokens WHERE user = ?1", [user])
            .map_err(self.e())
    }

    fn enrollment_add(
        &mut self,
        hash: &[u8; 32],
        user: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO enrollments (code_hash, user, expires_at) VALUES (?1, ?2, ?3)",
                params![&hash[..], user, expires_at],
            )
            .map(drop)
            .map_err(self.e())
    }

    fn enrollment_take(&mut self, hash: &[u8; 32]) -> Result<Option<(String, i64)>, StoreError> {
        let found = self
            .conn
            .query_row(
                "SELECT user, expires_at FROM enrollments WHERE code_hash = ?1",
                [&hash[..]],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.e())?;
        if found.is_some() {
            self.conn
                .execute("DELETE FROM enrollments WHERE code_hash = ?1", [&hash[..]])
                .map_err(self.e())?;
        }
        Ok(found)
    }

    fn console_put(&mut self, c: &crate::console::Credential) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO console_credentials
                     (hash, user, kind, created_at, expires_at, last_seen)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut st| {
                st.execute(rusqlite::params![
                    &c.hash[..],
                    c.user,
                    c.kind.as_str(),
                    c.created_at,
                    c.expires_at,
                    c.last_seen
                ])
            })
            .map(drop)
            .map_err(self.e())
    }

    fn console_get(
        &mut self,
        hash: &[u8; 32],
    ) -> Result<Option<crate::console::Credential>, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT user, kind, created_at, expires_at, last_seen
                 FROM console_credentials WHERE hash = ?1",
            )
            .and_then(|mut st| {
                st.query_row([&hash[..]], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                    ))
                })
                .optional()
            })
            .map_err(self.e())
            .map(|row| {
                row.and_then(|(user, kind, created_at, expires_at, last_seen)| {
                    Some(crate::console::Credential {
                        hash: *hash,
                        user,
                        kind: crate::console::CredentialKind::parse(&kind)?,
                        created_at,
                        expires_at,
                        last_seen,
                    })
                })
            })
    }

    fn console_delete(&mut self, hash: &[u8; 32]) -> Result<bool, StoreError> {
        self.conn
            .execute(
                "DELETE FROM console_credentials WHERE hash = ?1",
                [&hash[..]],
            )
            .map(|n| n > 0)
            .map_err(self.e())
    }

    fn console_delete_user(&mut self, user: &str, now: i64) -> Result<usize, StoreError> {
        self.conn
            .execute(
                "DELETE FROM console_credentials WHERE user = ?1 OR expires_at <= ?2",
                rusqlite::params![user, now],
            )
            .map_err(self.e())
    }

    fn group_add(&mut self, name: &str) -> Result<(), StoreError> {
        self.conn
            .execute("INSERT OR IGNORE INTO groups (name) VALUES (?1)", [name])
            .map(drop)
            .map_err(self.e())
    }

    fn group_exists(&mut self, name: &str) -> Result<bool, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT 1 FROM groups WHERE name = ?1 UNION SELECT 1 FROM users WHERE dept = ?1",
            )
            .map_err(self.e())?
            .exists([name])
            .map_err(self.e())
    }

    fn group_member(&mut self, group: &str, user: &str, member: bool) -> Result<(), StoreError> {
        let sql = if member {
            "INSERT OR IGNORE INTO group_members (grp, user) VALUES (?1, ?2)"
        } else {
            "DELETE FROM group_members WHERE grp = ?1 AND user = ?2"
        };
        self.conn
            .execute(sql, params![group, user])
            .map(drop)
            .map_err(self.e())
    }

    fn group_list(&mut self) -> Result<Vec<Group>, StoreError> {
        let rows = self
            .conn
            .prepare(
                "SELECT g, u FROM (
                   SELECT name AS g, NULL AS u FROM groups
                   UNION SELECT grp, user FROM group_members
                   UNION SELECT dept, name FROM users WHERE dept IS NOT NULL)
                 ORDER BY g, u",
            )
            .map_err(self.e())?
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
            })
            .map_err(self.e())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.e())?;
        let mut groups: Vec<Group> = Vec::new();
        for (g, u) in rows {
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
        let row = {
            let mut st = self
                .conn
                .prepare_cached(&format!("SELECT {DOC_COLS} FROM documents WHERE id = ?1"))
                .map_err(self.e())?;
            st.query_row([id], |r| self.doc_from_row(r))
                .optional()
                .map_err(self.e())?
        };
        match row {
            Some(mut row) => {
                row.doc.grants = self.grants_of(id)?;
                row.doc.revoked = self.doc_revoked(id)?;
                row.doc.version = self.doc_version(id)?;
                Ok(Some(row))
            }
            None => Ok(None),
        }
    }

    fn doc_insert(&mut self, row: &DocRow) -> Result<(), StoreError> {
        let d = &row.doc;
        self.conn
            .prepare_cached(&format!(
                "INSERT INTO documents ({DOC_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
            ))
            .map_err(self.e())?
            .execute(params![
                d.id,
                path_value(&d.name),
                d.level,
                d.owner,
                d.max_rights.to_string(),
                d.expires_at,
                d.offline_days,
                d.size as i64,
                d.digest,
                d.host,
                path_value(&d.path),
                d.key_version,
                d.created_at,
                &row.key_check[..]
            ])
            .map_err(self.e())?;
        for g in &d.grants {
            self.grant_set(&d.id, g)?;
        }
        Ok(())
    }

    fn doc_list(&mut self) -> Result<Vec<Document>, StoreError> {
        let rows = {
            let mut st = self
                .conn
                .prepare(&format!(
                    "SELECT {DOC_COLS} FROM documents ORDER BY created_at, id"
                ))
                .map_err(self.e())?;
            let rows = st
                .query_map([], |r| self.doc_from_row(r))
                .map_err(self.e())?
                .collect::<Result<Vec<_>, _>>()
                .map_err(self.e())?;
            rows
        };
        let mut docs = Vec::with_capacity(rows.len());
        for mut row in rows {
            row.doc.grants = self.grants_of(&row.doc.id)?;
            row.doc.revoked = self.doc_revoked(&row.doc.id)?;
            row.doc.version = self.doc_version(&row.doc.id)?;
            docs.push(row.doc);
        }
        Ok(docs)
    }

    fn doc_set_caps(
        &mut self,
        id: &str,
        max_rights: fuda_core::rights::Rights,
        expires_at: Option<i64>,
        offline_days: u32,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE documents SET max_rights = ?2, expires_at = ?3, offline_days = ?4 WHERE id = ?1",
            )
            .map_err(self.e())?
            .execute(params![id, max_rights.to_string(), expires_at, offline_days])
            .map(drop)
            .map_err(self.e())
    }

    fn doc_set_owner(&mut self, id: &str, owner: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("UPDATE documents SET owner = ?2 WHERE id = ?1")
            .map_err(self.e())?
            .execute(params![id, owner])
            .map(drop)
            .map_err(self.e())
    }

    fn doc_set_level(&mut self, id: &str, level: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("UPDATE documents SET level = ?2 WHERE id = ?1")
            .map_err(self.e())?
            .execute(params![id, level])
            .map(drop)
            .map_err(self.e())
    }

    fn doc_add_version(
        &mut self,
        id: &str,
        size: u64,
        digest: &str,
        by: &str,
        at: i64,
    ) -> Result<u32, StoreError> {
        let version = self.doc_version(id)? + 1;
        self.conn
            .prepare_cached(
                "INSERT INTO document_versions (doc, version, size, digest, saved_by, saved_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(self.e())?
            .execute(params![id, version, size as i64, digest, by, at])
            .map_err(self.e())?;
        self.conn
            .prepare_cached("UPDATE documents SET size = ?2, digest = ?3 WHERE id = ?1")
            .map_err(self.e())?
            .execute(params![id, size as i64, digest])
            .map(drop)
            .map_err(self.e())?;
        Ok(version)
    }

    fn grant_set(&mut self, doc: &str, g: &Grant) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO grants (doc, principal, rights) VALUES (?1, ?2, ?3)
                 ON CONFLICT (doc, principal) DO UPDATE SET rights = ?3",
            )
            .map_err(self.e())?
            .execute(params![doc, g.principal.to_string(), g.rights.to_string()])
            .map(drop)
            .map_err(self.e())
    }

    fn grant_remove(&mut self, doc: &str, principal: &Principal) -> Result<bool, StoreError> {
        self.conn
            .execute(
                "DELETE FROM grants WHERE doc = ?1 AND principal = ?2",
                params![doc, principal.to_string()],
            )
            .map(|n| n > 0)
            .map_err(self.e())
    }

    fn revocation_add(&mut self, r: &Revocation) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO revocations (doc, user, at, by) VALUES (?1, ?2, ?3, ?4)",
                params![
                    r.doc.as_deref().unwrap_or(""),
                    r.user.as_deref().unwrap_or(""),
                    r.at,
                    r.by
                ],
            )
            .map(drop)
            .map_err(self.e())
    }

    fn revocation_remove(
        &mut self,
        doc: Option<&str>,
        user: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.conn
            .execute(
                "DELETE FROM revocations WHERE doc = ?1 AND user = ?2",
                params![doc.unwrap_or(""), user.unwrap_or("")],
            )
            .map(|n| n > 0)
            .map_err(self.e())
    }

    fn revocations_for(&mut self, doc: &str, user: &str) -> Result<Vec<Revocation>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT doc, user, at, by FROM revocations
                 WHERE (doc = ?1 AND user IN ('', ?2)) OR (doc = '' AND user = ?2)",
            )
            .map_err(self.e())?;
        let rows = st
            .query_map(params![doc, user], revocation_from_row)
            .map_err(self.e())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.e())?;
        Ok(rows)
    }

    fn revocation_list(&mut self) -> Result<Vec<Revocation>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT doc, user, at, by FROM revocations ORDER BY at")
            .map_err(self.e())?;
        let rows = st
            .query_map([], revocation_from_row)
            .map_err(self.e())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.e())?;
        Ok(rows)
    }

    fn policy_get(&mut self, version: Option<u32>) -> Result<Option<PolicyVersion>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT version, text, origin, set_by, set_at FROM policies
                 WHERE ?1 IS NULL OR version = ?1 ORDER BY version DESC LIMIT 1",
            )
            .map_err(self.e())?;
        st.query_row([version], |r| {
            Ok(PolicyVersion {
                version: r.get(0)?,
                text: r.get(1)?,
                origin: r.get(2)?,
                set_by: r.get(3)?,
                set_at: r.get(4)?,
            })
        })
        .optional()
        .map_err(self.e())
    }

    fn policy_put(&mut self, p: &PolicyVersion) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO policies (version, text, origin, set_by, set_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(self.e())?
            .execute(params![p.version, p.text, p.origin, p.set_by, p.set_at])
            .map(drop)
            .map_err(self.e())
    }

    fn audit_head(&mut self) -> Result<Option<(i64, String)>, StoreError> {
        self.conn
            .prepare_cached("SELECT seq, hash FROM audit_head WHERE id = 1")
            .map_err(self.e())?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(self.e())
    }

    fn audit_append(&mut self, r: &Record) -> Result<(), StoreError> {
        let e = &r.event;
        self.conn
            .prepare_cached(&format!(
                "INSERT INTO audit ({AUDIT_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            ))
            .map_err(self.e())?
            .execute(params![
                r.seq,
                r.at_ms,
                e.actor,
                e.action,
                e.doc,
                e.subject,
                e.outcome.as_str(),
                e.reason,
                e.detail.to_string(),
                r.prev,
                r.hash
            ])
            .map_err(self.e())?;
        self.conn
            .prepare_cached(
                "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET seq = ?1, hash = ?2",
            )
            .map_err(self.e())?
            .execute(params![r.seq, r.hash])
            .map(drop)
            .map_err(self.e())
    }

    fn audit_query(&mut self, q: &Query) -> Result<Vec<Record>, StoreError> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT * FROM (SELECT {AUDIT_COLS} FROM audit
                 WHERE (?1 IS NULL OR doc = ?1)
                   AND (?2 IS NULL OR actor = ?2 OR subject = ?2)
                   AND (?3 IS NULL OR at_ms >= ?3 * 1000)
                   AND (?4 IS NULL OR at_ms < ?4 * 1000)
                   AND (?6 IS NULL OR action = ?6)
                   AND (?7 IS NULL OR seq < ?7)
                 ORDER BY seq DESC LIMIT ?5) ORDER BY seq"
            ))
            .map_err(self.e())?;
        let rows = st
            .query_map(
                params![
                    q.doc,
                    q.user,
                    q.since,
                    q.until,
                    q.limit.unwrap_or(1000),
                    q.action,
                    q.before_seq
                ],
                record_from_row,
            )
            .map_err(self.e())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.e())?;
        Ok(rows)
    }

    fn audit_all(&mut self) -> Result<Vec<Record>, StoreError> {
        let mut st = self
            .conn
            .prepare(&format!("SELECT {AUDIT_COLS} FROM audit ORDER BY seq"))
            .map_err(self.e())?;
        let rows = st
            .query_map([], record_from_row)
            .map_err(self.e())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.e())?;
        Ok(rows)
    }

    fn audit_label_sets(&mut self, doc: &str) -> Result<Vec<Record>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {AUDIT_COLS} FROM audit WHERE doc = ?1
                 AND action IN ('label-set', 'label-downgrade') AND outcome = 'allow'
                 ORDER BY seq"
            ))
            .map_err(self.e())?;
        let rows = st
            .query_map([doc], record_from_row)
            .map_err(self.e())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.e())?;
        Ok(rows)
    }

    fn report_state(
        &mut self,
        machine: &str,
        report: &str,
    ) -> Result<Option<ReportState>, StoreError> {
        sqlite_index::report_state(self.conn, self.path, machine, report)
    }

    fn report_states_before(
        &mut self,
        machine: &str,
        before: i64,
    ) -> Result<Vec<ReportState>, StoreError> {
        sqlite_index::report_states_before(self.conn, self.path, machine, before)
    }

    fn report_state_delete(&mut self, machine: &str, report: &str) -> Result<(), StoreError> {
        sqlite_index::report_state_delete(self.conn, self.path, machine, report)
    }

    fn report_state_put(&mut self, machine: &str, state: &ReportState) -> Result<(), StoreError> {
        sqlite_index::report_state_put(self.conn, self.path, machine, state)
    }

    fn index_put(&mut self, machine: &str, rows: &[IndexRow], at: i64) -> Result<(), StoreError> {
        sqlite_index::index_put(self.conn, self.path, machine, rows, at)
    }

    fn index_remove(&mut self, machine: &str, paths: &[PathBuf]) -> Result<usize, StoreError> {
        sqlite_index::index_remove(self.conn, self.path, machine, paths)
    }

    fn machine_reported(
        &mut self,
        machine: &str,
        at: i64,
        interval_s: Option<u32>,
    ) -> Result<(), StoreError> {
        sqlite_index::machine_reported(self.conn, self.path, machine, at, interval_s)
    }

    fn index_all(&mut self) -> Result<Vec<IndexEntry>, StoreError> {
        sqlite_index::index_all(self.conn, self.path)
    }

    fn index_put_entries(&mut self, entries: &[IndexEntry]) -> Result<(), StoreError> {
        sqlite_index::index_put_entries(self.conn, self.path, entries)
    }

    fn machine_all(&mut self) -> Result<Vec<MachineRow>, StoreError> {
        sqlite_index::machine_all(self.conn, self.path)
    }

    fn machine_put(&mut self, m: &MachineRow) -> Result<(), StoreError> {
        sqlite_index::machine_put(self.conn, self.path, m)
    }

    fn report_state_all(&mut self) -> Result<Vec<(String, ReportState)>, StoreError> {
        sqlite_index::report_state_all(self.conn, self.path)
    }

    fn version_all(&mut self) -> Result<Vec<DocVersion>, StoreError> {
        self.conn
            .prepare(
                "SELECT doc, version, size, digest, saved_by, saved_at FROM document_versions
                 ORDER BY doc, version",
            )
            .map_err(self.e())?
            .query_map([], |r| {
                Ok(DocVersion {
                    doc: r.get(0)?,
                    version: r.get(1)?,
                    size: r.get::<_, i64>(2)? as u64,
                    digest: r.get(3)?,
                    saved_by: r.get(4)?,
                    saved_at: r.get(5)?,
                })
            })
            .map_err(self.e())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.e())
    }

    fn version_put(&mut self, v: &DocVersion) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO document_versions (doc, version, size, digest, saved_by, saved_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(self.e())?
            .execute(params![
                v.doc,
                v.version,
                v.size as i64,
                v.digest,
                v.saved_by,
                v.saved_at
            ])
            .map(drop)
            .map_err(self.e())
    }

    fn savepoint(&mut self) -> Result<(), StoreError> {
        self.conn.execute_batch("SAVEPOINT job").map_err(self.e())
    }

    fn release(&mut self, keep: bool) -> Result<(), StoreError> {
        let sql = if keep {
            "RELEASE job"
        } else {
            "ROLLBACK TO job; RELEASE job"
        };
        self.conn.execute_batch(sql).map_err(self.e())
    }
}

fn revocation_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Revocation> {
    let doc: String = r.get(0)?;
    let user: String = r.get(1)?;
    Ok(Revocation {
        doc: (!doc.is_empty()).then_some(doc),
        user: (!user.is_empty()).then_some(user),
        at: r.get(2)?,
        by: r.get(3)?,
    })
}
