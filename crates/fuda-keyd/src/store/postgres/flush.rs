//! Waiting for the disk outside the chain lock.
//!
//! A batch commits with `synchronous_commit = off` inside its own transaction: `COMMIT`
//! returns as soon as the commit record is in the write-ahead log's buffers, and the
//! chain lock is free for the next batch (of this replica or another) while the disk
//! works. Nothing is answered yet. The [`Flusher`] then commits a transaction of its own
//! on a second connection, with `synchronous_commit = on`: PostgreSQL writes its log in
//! order, so once that commit is flushed every commit before it is on disk too. Only
//! then are the batch's jobs answered. Durability is unchanged (no answer before its
//! records are on disk); what changes is that one batch's `fsync` overlaps the next
//! batch's work, and that flushes waited for together share one `fsync`.
//!
//! If the database goes away between the two, the batch's jobs are answered with the
//! error: their records may or may not have reached the disk, but no answer claimed they
//! had (the same as a `COMMIT` whose answer was lost). A flush vouches only for commits
//! made after its connection was opened: had the database crashed and restarted in
//! between (losing a commit that was only in its buffers), that connection would have
//! died with it. So a flush connection opened anew — after an error — never confirms a
//! batch that committed before it: that batch is answered with an error too, and the
//! writer opens the flush connection again whenever it opens its own, before it commits
//! anything on it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ::postgres::Client;

use super::{map_err, Target};
use crate::store::StoreError;

/// One transaction that writes to the log (a transactional logical-decoding message, so
/// it needs no table and conflicts with nobody) and so must wait for the log's flush
/// when it commits (the connection's `synchronous_commit` is on). Its commit record
/// comes after every commit that returned before it began.
const FLUSH: &str = "SELECT pg_logical_emit_message(true, 'fuda-keyd', 'flush')";

/// Hands out the batches' tickets and makes their commits durable, one flush for all
/// that wait.
pub(super) struct Flusher {
    target: Target,
    /// Tickets handed to batches before they commit (numbered from 1).
    issued: AtomicU64,
    /// The newest ticket whose `COMMIT` returned (tickets commit in order: one writer).
    committed: AtomicU64,
    /// The flush connection and what it can vouch for.
    state: Mutex<State>,
}

struct State {
    client: Option<Client>,
    /// Tickets issued before the connection was opened: it cannot vouch for them.
    since: u64,
    /// Every ticket up to this one is on disk.
    durable: u64,
}

impl Flusher {
    /// A flusher with its connection open (and checked: see [`Flusher::connect`]).
    pub(super) fn open(target: Target) -> Result<Arc<Flusher>, StoreError> {
        let flusher = Arc::new(Flusher {
            target,
            issued: AtomicU64::new(0),
            committed: AtomicU64::new(0),
            state: Mutex::new(State {
                client: None,
                since: 0,
                durable: 0,
            }),
        });
        flusher.connect()?;
        Ok(flusher)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens the flush connection unless it is open, so that what the writer commits
    /// next can be confirmed; the writer calls it whenever it opens its own connection.
    pub(super) fn connect(&self) -> Result<(), StoreError> {
        self.connect_locked(&mut self.state())
    }

    fn connect_locked(&self, state: &mut State) -> Result<(), StoreError> {
        if state.client.as_ref().is_some_and(|c| !c.is_closed()) {
            return Ok(());
        }
        state.client = None;
        let mut client = self.target.connect()?;
        // Flushing once checks that the role may write the flush's record (any role may
        // unless an administrator revoked it): a refusal is one clear error here, not a
        // failure of every batch.
        client.batch_execute(FLUSH).map_err(|e| match map_err(&self.target.label, e) {
            StoreError::Database { path, message } => StoreError::Database {
                path,
                message: format!(
                    "{message} (the service makes its commits durable with pg_logical_emit_message: \
                     GRANT EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text) to its role)"
                ),
            },
            other => other,
        })?;
        state.client = Some(client);
        state.since = self.issued.load(Ordering::SeqCst);
        Ok(())
    }

    /// The ticket of the batch about to commit (take it before sending `COMMIT`).
    pub(super) fn ticket(&self) -> u64 {
        self.issued.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Notes that the `COMMIT` of the batch with `ticket` returned.
    pub(super) fn committed(&self, ticket: u64) {
        self.committed.fetch_max(ticket, Ordering::SeqCst);
    }

    /// Returns once the batch with `ticket` is on disk (at once if a flush that began
    /// after its commit already ended), or the error that kept it from knowing.
    pub(super) fn wait(&self, ticket: u64) -> Result<(), StoreError> {
        let mut state = self.state();
        if state.durable >= ticket {
            return Ok(());
        }
        self.connect_locked(&mut state)?;
        if ticket <= state.since {
            return Err(StoreError::Unavailable {
                database: self.target.label.clone(),
                message: "the connection to the database was lost after this commit, so it is \
                          not known to be on disk (the database may have restarted)"
                    .into(),
            });
        }
        // Every batch committed by now is covered by the flush that begins next.
        let upto = self.committed.load(Ordering::SeqCst);
        let client = state.client.as_mut().expect("connected");
        match client.batch_execute(FLUSH) {
            Ok(()) => {
                state.durable = state.durable.max(upto);
                Ok(())
            }
            Err(e) => {
                // Opened again for the next batch, which it then cannot vouch for.
                state.client = None;
                Err(map_err(&self.target.label, e))
            }
        }
    }
}
