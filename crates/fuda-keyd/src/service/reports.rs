//! Machine reports into the company's file index, and reading the index back.
//!
//! A chunk is checked in three steps: its JSON on the caller's thread (a malformed or
//! oversized chunk is a 400 and touches nothing), then in the writer who sent it (an
//! enrolled, active machine or hook), that it names that machine, and its signature
//! against the key the machine enrolled — each refusal audited — and finally where it
//! stands in its report (a retried chunk changes nothing). The index is read through a
//! snapshot beside the writer, so a long scan never holds up a licence.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::signature::{UnparsedPublicKey, ED25519};

use super::authz::{audit_err, require_active, resolve, Caller};
use super::lifecycle::Service;
use crate::audit::Event;
use crate::directory::{EntryKind, User};
use crate::error::Error;
use crate::limits::Limits;
use crate::report::{
    self, CheckedChunk, IndexOrder, IndexedFile, MachineStatus, ReportAck, SignedChunk,
};
use crate::store::{append_audit, ReportState, Tx};

impl Service {
    /// Applies one signed chunk of a machine's report to the file index (see
    /// [`crate::report`]). The caller must be the machine itself (a directory entry of
    /// kind `machine` or `hook` named as the chunk's `machine`), and the signature must
    /// verify with the key it enrolled; every refusal is audited.
    pub async fn report(&self, caller: Caller, chunk: SignedChunk) -> Result<ReportAck, Error> {
        let checked = report::parse_chunk(&chunk.body).map_err(Error::Invalid)?;
        let key = self.keys();
        let limits = self.inner.limits;
        self.run_bulk(move |tx| apply(tx, key.audit_key(), &limits, &caller, &chunk, checked))
            .await
    }

    /// Hands every file of the company's file index to `each`, in `order`, one at a time:
    /// memory does not grow with the index, and the scan reads a snapshot taken when it
    /// started (reports arriving meanwhile are not seen) beside the writer, which it never
    /// holds up. Stops at the first error `each` returns and returns it.
    ///
    /// This is the library call for the ledger; it checks no caller: the endpoint that
    /// exposes the index decides who may read it. It blocks: call it from a blocking
    /// thread (`tokio::task::spawn_blocking`) in async code.
    ///
    /// ```no_run
    /// # fn demo(service: &fuda_keyd::Service) -> Result<(), fuda_keyd::Error> {
    /// use fuda_keyd::report::IndexOrder;
    /// let mut copies = 0;
    /// service.index_scan(IndexOrder::DocId, |file| {
    ///     // file.record_json is the machine's `fuda_ledger::inventory::FileEntry`.
    ///     copies += usize::from(file.doc.is_some());
    ///     Ok::<(), fuda_keyd::Error>(())
    /// })?;
    /// # Ok(()) }
    /// ```
    pub fn index_scan<E: From<Error>>(
        &self,
        order: IndexOrder,
        mut each: impl FnMut(IndexedFile) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut snapshot = (self.inner.snapshots)().map_err(|e| E::from(Error::Store(e)))?;
        let mut failed = None;
        snapshot
            .index_scan(order, &mut |file| match each(file) {
                Ok(()) => true,
                Err(e) => {
                    failed = Some(e);
                    false
                }
            })
            .map_err(|e| E::from(Error::Store(e)))?;
        failed.map_or(Ok(()), Err)
    }

    /// Every reporting identity (the directory's machines, even those that never
    /// reported, and every hook or other name that reported or has files in the index —
    /// a hook that only labels is not listed), by name, with when it last completed a report, how often
    /// it said it would, and how many files it has in the index. Like
    /// [`Service::index_scan`], it checks no caller and reads a snapshot.
    pub fn machines(&self) -> Result<Vec<MachineStatus>, Error> {
        let mut snapshot = (self.inner.snapshots)()?;
        Ok(snapshot.machines()?)
    }

    /// A read-only snapshot of the store for the console's pages of the index (counts,
    /// a filtered page of files, one file). Like [`Service::index_scan`], it checks no
    /// caller: the page asked the service whether its reader may read first.
    pub fn index_snapshot(&self) -> Result<Box<dyn crate::store::Snapshot>, Error> {
        Ok((self.inner.snapshots)()?)
    }
}

/// Refuses a report: audits `ev` as denied for `reason`, and answers `error`.
fn refuse<T>(
    tx: &mut dyn Tx,
    key: &ring::hmac::Key,
    ev: Event,
    reason: &str,
    error: Error,
) -> Result<T, Error> {
    append_audit(tx, key, ev.deny(reason)).map_err(audit_err)?;
    Err(error)
}

/// Whether `user` may report as `machine`, with a signature made by its enrolled key:
/// the refusal, audited, if not.
fn authenticate(
    tx: &mut dyn Tx,
    key: &ring::hmac::Key,
    user: &User,
    chunk: &SignedChunk,
    ev: &Event,
    machine: &str,
) -> Result<(), Error> {
    if !matches!(user.kind, EntryKind::Machine | EntryKind::Hook) {
        return refuse(
            tx,
            key,
            ev.clone(),
            "not-a-reporter",
            Error::Forbidden(format!(
                "{} is a {} in the directory: only machines and hooks report files (an admin adds one with `fuda admin user add NAME --kind machine`, and the machine enrolls with `fuda init --service URL --enroll CODE --machine NAME`)",
                user.name,
                user.kind.as_str()
            )),
        );
    }
    if machine != user.name {
        return refuse(
            tx,
            key,
            ev.clone(),
            "other-machine",
            Error::Forbidden(format!(
                "{} may report only its own files, not those of {machine}",
                user.name
            )),
        );
    }
    let enrolled = user
        .signing_key
        .as_deref()
        .and_then(|k| STANDARD.decode(k).ok());
    let Some(public_key) = enrolled else {
        return refuse(
            tx,
            key,
            ev.clone(),
            "not-enrolled",
            Error::Forbidden(format!(
                "{} has no enrolled key: enroll it with `fuda init --service URL --enroll CODE --machine {}`",
                user.name, user.name
            )),
        );
    };
    let verified = UnparsedPublicKey::new(&ED25519, public_key)
        .verify(&report::signing_input(&chunk.body), &chunk.signature)
        .is_ok();
    if !verified {
        return refuse(
            tx,
            key,
            ev.clone(),
            "bad-signature",
            Error::Forbidden(format!(
                "the report's signature does not verify with the key {} enrolled: the report was altered, or signed with another key (enroll this machine again if its keys changed)",
                user.name
            )),
        );
    }
    Ok(())
}

/// The report audit record of `state` (complete or cut off).
fn report_event(actor: &str, machine: &str, state: &ReportState) -> Event {
    Event::allow(actor, "report")
        .subject(machine)
        .detail(serde_json::json!({
            "report": state.report,
            "chunks": u64::from(state.seq) + 1,
            "files": state.files,
            "removed": state.removed,
            "complete": state.done,
        }))
}

/// A report whose last chunk arrived this long ago (seconds) and that is not complete was
/// cut off: a live report sends a chunk every few seconds, and a sender retrying an
/// unreachable service gives up well within this.
pub const ABANDONED_AFTER_S: i64 = 3_600;

/// When `machine` starts a report: its reports cut off (no chunk for
/// [`ABANDONED_AFTER_S`]) get their audit record, and they and its complete reports that
/// old (kept until then so that a retried last chunk stays a no-op) are forgotten.
/// Reports still going (a watcher's beside a timer's) are left alone.
fn settle_old_reports(
    tx: &mut dyn Tx,
    key: &ring::hmac::Key,
    actor: &str,
    machine: &str,
    now: i64,
) -> Result<(), Error> {
    for old in tx.report_states_before(machine, now - ABANDONED_AFTER_S)? {
        if !old.done {
            append_audit(tx, key, report_event(actor, machine, &old)).map_err(audit_err)?;
        }
        tx.report_state_delete(machine, &old.report)?;
    }
    Ok(())
}

/// Applies a checked chunk inside the writer.
fn apply(
    tx: &mut dyn Tx,
    key: &ring::hmac::Key,
    limits: &Limits,
    caller: &Caller,
    chunk: &SignedChunk,
    c: CheckedChunk,
) -> Result<ReportAck, Error> {
    let user = resolve(tx, caller, limits)?;
    require_active(tx, key, &user, "report", None)?;
    let ev = Event::allow(&user.name, "report")
        .subject(&c.machine)
        .detail(serde_json::json!({"report": c.report, "seq": c.seq}));
    authenticate(tx, key, &user, chunk, &ev, &c.machine)?;
    let machine = c.machine.as_str();
    let now = crate::now();
    let ack = |applied, files, removed| ReportAck {
        report: c.report.clone(),
        seq: c.seq,
        applied,
        files,
        removed,
    };
    let mut state = match tx.report_state(machine, &c.report)? {
        Some(s) => {
            if c.seq <= s.seq {
                // A retry of a chunk already applied (its answer was lost): nothing to do.
                return Ok(ack(false, 0, 0));
            }
            if s.done || c.seq != s.seq + 1 {
                let why = if s.done {
                    format!("report {} is complete; start a new report", c.report)
                } else {
                    format!(
                        "chunk {} of report {} arrived after chunk {}: send chunk {} next",
                        c.seq,
                        c.report,
                        s.seq,
                        s.seq + 1
                    )
                };
                return refuse(tx, key, ev, "out-of-order", Error::Conflict(why));
            }
            s
        }
        None => {
            if c.seq != 0 {
                return refuse(
                    tx,
                    key,
                    ev,
                    "out-of-order",
                    Error::Conflict(format!(
                        "report {} is not known (or was abandoned): a report starts with chunk 0",
                        c.report
                    )),
                );
            }
            settle_old_reports(tx, key, &user.name, machine, now)?;
            ReportState {
                report: c.report.clone(),
                seq: 0,
                done: false,
                files: 0,
                removed: 0,
                started_at: now,
                updated_at: now,
            }
        }
    };
    tx.index_put(machine, &c.files, now)?;
    let removed = tx.index_remove(machine, &c.removed)?;
    state.seq = c.seq;
    state.files += c.files.len() as u64;
    state.removed += removed as u64;
    state.done = c.last;
    state.updated_at = now;
    tx.report_state_put(machine, &state)?;
    if c.last {
        tx.machine_reported(machine, now, c.interval_s)?;
        append_audit(tx, key, report_event(&user.name, machine, &state)).map_err(audit_err)?;
    }
    Ok(ack(true, c.files.len() as u32, removed as u32))
}
