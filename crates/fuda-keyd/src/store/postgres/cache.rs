//! What a replica read of the directory and the registry, kept across its transactions
//! for as long as nobody changed them (migration 6).
//!
//! A licence decision reads a token's user (with groups and user-wide revocations) and a
//! document (with grants and revocations). Asking PostgreSQL for them costs round trips
//! inside the chain lock; the same people open the same documents all day. So each
//! replica keeps what it read, tagged with the **generation** of the database it was read
//! at:
//!
//! - a statement-level trigger on every table the cache holds rows of (users, groups,
//!   group_members, tokens, documents, grants, revocations, document_versions) sets
//!   `fuda_generation.generation` to the id of the writing transaction, whoever writes
//!   (any replica, `fuda-keyd migrate`, an operator with `psql`). Transaction ids never
//!   repeat in a cluster, so a generation names one state of those tables;
//! - every transaction of a replica reads the generation in the same statement as the
//!   chain's head, after it took the chain lock (`begin`), and forgets everything when it
//!   differs from the one its cache was read at. A change committed before that lock was
//!   taken — a revocation through another replica — is therefore seen by the very next
//!   decision, exactly as when every decision read its rows;
//! - a write in this replica's own transaction, a job undone, or a new connection forget
//!   the cache too (its generation becomes unknown until the next `begin`).
//!
//! Bounded: a map that reaches [`MAX_ENTRIES`] is emptied and fills again from what is
//! asked.

use std::collections::HashMap;

use crate::directory::User;
use crate::registry::Revocation;
use crate::store::DocRow;

/// Migration 6: the generation and the triggers that move it.
pub(super) const MIGRATION: &str = r#"
CREATE TABLE fuda_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1), generation BIGINT NOT NULL);
INSERT INTO fuda_generation (id, generation) VALUES (1, txid_current());
CREATE FUNCTION fuda_next_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE fuda_generation SET generation = txid_current() WHERE id = 1;
    RETURN NULL;
END $$;
CREATE TRIGGER users_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION fuda_next_generation();
CREATE TRIGGER groups_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON groups
    FOR EACH STATEMENT EXECUTE FUNCTION fuda_next_generation();
CREATE TRIGGER group_members_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON group_members
    FOR EACH STATEMENT EXECUTE FUNCTION fuda_next_generation();
CREATE TRIGGER tokens_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tokens
    FOR EACH STATEMENT EXECUTE FUNCTION fuda_next_generation();
CREATE TRIGGER documents_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON documents
    FOR EACH STATEMENT EXECUTE FUNCTION fuda_next_generation();
CREATE TRIGGER grants_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON grants
    FOR EACH STATEMENT EXECUTE FUNCTION fuda_next_generation();
CREATE TRIGGER revocations_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON revocations
    FOR EACH STATEMENT EXECUTE FUNCTION fuda_next_generation();
CREATE TRIGGER document_versions_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON document_versions
    FOR EACH STATEMENT EXECUTE FUNCTION fuda_next_generation();
"#;

/// The chain's head and the generation, read after the chain lock was taken: one row
/// (seq and hash empty while the chain is).
pub(super) const HEAD_AND_GENERATION: &str = "SELECT h.seq, h.hash, g.generation
    FROM fuda_generation g LEFT JOIN audit_head h ON h.id = 1 WHERE g.id = 1";

/// Most entries of each kind kept.
const MAX_ENTRIES: usize = 100_000;

/// A user (or that the token's member is not in the directory) and the revocations of
/// all their documents.
pub(super) type UserEntry = (Option<User>, Vec<Revocation>);
/// A registered document and its revocations.
pub(super) type DocEntry = (DocRow, Vec<Revocation>);

/// Rows read at one generation of the database.
#[derive(Default)]
pub(super) struct Cache {
    /// The generation the rows were read at; `None`: unknown (forgotten).
    generation: Option<i64>,
    /// Token hash → member and creation time.
    tokens: HashMap<[u8; 32], (String, i64)>,
    users: HashMap<String, UserEntry>,
    docs: HashMap<String, DocEntry>,
}

impl Cache {
    /// The database is at `generation` (read under the chain lock): rows read at another
    /// one are forgotten.
    pub(super) fn at(&mut self, generation: i64) {
        if self.generation != Some(generation) {
            self.forget();
            self.generation = Some(generation);
        }
    }

    /// Forgets every row; what is read until the next [`Cache::at`] is dropped then.
    pub(super) fn forget(&mut self) {
        self.generation = None;
        self.tokens.clear();
        self.users.clear();
        self.docs.clear();
    }

    pub(super) fn token(&self, hash: &[u8; 32]) -> Option<&(String, i64)> {
        self.tokens.get(hash)
    }

    pub(super) fn user(&self, name: &str) -> Option<&UserEntry> {
        self.users.get(name)
    }

    pub(super) fn doc(&self, id: &str) -> Option<&DocEntry> {
        self.docs.get(id)
    }

    pub(super) fn keep_token(&mut self, hash: [u8; 32], member: (String, i64)) {
        bounded(&mut self.tokens);
        self.tokens.insert(hash, member);
    }

    pub(super) fn keep_user(&mut self, name: &str, entry: UserEntry) {
        bounded(&mut self.users);
        self.users.insert(name.to_owned(), entry);
    }

    pub(super) fn keep_doc(&mut self, id: &str, entry: DocEntry) {
        bounded(&mut self.docs);
        self.docs.insert(id.to_owned(), entry);
    }

    /// The revocations that touch `user` on `doc` (document-wide, of the user on it, of
    /// the user everywhere), when both were read.
    pub(super) fn revocations_for(&self, doc: &str, user: &str) -> Option<Vec<Revocation>> {
        let (_, of_doc) = self.docs.get(doc)?;
        let (_, of_user) = self.users.get(user)?;
        Some(
            of_doc
                .iter()
                .filter(|r| r.user.as_deref().is_none_or(|n| n == user))
                .chain(of_user)
                .cloned()
                .collect(),
        )
    }
}

/// Empties a full map before another entry goes in.
fn bounded<K, V>(map: &mut HashMap<K, V>) {
    if map.len() >= MAX_ENTRIES {
        map.clear();
    }
}
