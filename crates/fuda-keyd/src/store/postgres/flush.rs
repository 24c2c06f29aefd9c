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
//! had (the same as a `COMMIT` whose answer was lost).

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

/// Counts the batches committed and makes them durable, one flush for all that wait.
pub(super) struct Flusher {
    target: Target,
    /// Batches whose `COMMIT` returned (numbered from 1).
    committed: AtomicU64,
    /// The flush connection and how many batches are known durable.
    state: Mutex<State>,
}

struct State {
    client: Option<Client>,
    durable: u64,
}

impl Flusher {
    pub(super) fn new(target: Target) -> Arc<Flusher> {
        Arc::new(Flusher {
            target,
            committed: AtomicU64::new(0),
            state: Mutex::new(State {
                client: None,
                durable: 0,
            }),
        })
    }

    /// Checks at start that the service's role may write the flush's log record (any
    /// role may unless an administrator revoked it), so that a refusal is one clear
    /// error at start and not a failure of every batch.
    pub(super) fn check(client: &mut Client, label: &str) -> Result<(), StoreError> {
        client.batch_execute(FLUSH).map_err(|e| match map_err(label, e) {
            StoreError::Database { path, message } => StoreError::Database {
                path,
                message: format!(
                    "{message} (the service makes its commits durable with pg_logical_emit_message: \
                     GRANT EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text) to its role)"
                ),
            },
            other => other,
        })
    }

    /// Notes that a batch's `COMMIT` returned; the ticket to [`Flusher::wait`] for it.
    pub(super) fn committed(&self) -> u64 {
        self.committed.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Returns once the batch with `ticket` is on disk (at once if a flush that began
    /// after it already ended), or the error that kept it from knowing.
    pub(super) fn wait(&self, ticket: u64) -> Result<(), StoreError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.durable >= ticket {
            return Ok(());
        }
        // Every batch committed by now is covered by the flush that begins next.
        let upto = self.committed.load(Ordering::SeqCst);
        let result = match state.client.as_mut().filter(|c| !c.is_closed()) {
            Some(client) => client
                .batch_execute(FLUSH)
                .map_err(|e| map_err(&self.target.label, e)),
            None => self.target.connect().and_then(|mut client| {
                let r = client
                    .batch_execute(FLUSH)
                    .map_err(|e| map_err(&self.target.label, e));
                state.client = Some(client);
                r
            }),
        };
        match result {
            Ok(()) => {
                state.durable = state.durable.max(upto);
                Ok(())
            }
            Err(e) => {
                // Made again for the next batch; a transaction left open is rolled back
                // by the server when the connection closes.
                state.client = None;
                Err(e)
            }
        }
    }
}
