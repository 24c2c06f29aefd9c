//! The audit log: append-only, hash-chained records of every decision and change.
//!
//! Record `n` carries `prev` (the hash of record `n-1`) and its own `hash`, an HMAC-SHA-256
//! under the service's audit key (a file in the data directory, not in the database) over
//! `prev` and the record's canonical fields. So an edit, an insertion, a deleted record (a
//! gap in `seq`) or a cut-off tail (the head row names the last record) is found by
//! [`verify`], which names the first bad record. A tail cut off together with the head row
//! moved back leaves a valid chain: [`verify_against`] finds it with the service's signed
//! [`Checkpoint`]s that clients and the service keep outside the database. Someone who
//! holds both the database and the audit key could rewrite history; keep backups of the
//! log elsewhere (docs/key-service.md).
//!
//! Records are inserted in the same transaction as the decision they record: an
//! acknowledged decision always has its record.

use std::path::PathBuf;

use ring::hmac;

use crate::checkpoint::Checkpoint;
use serde::{Deserialize, Serialize};

/// Most label changes one request may carry.
pub const MAX_LABEL_CHANGES: usize = 1_000;

/// What a user did to a file's label (with `fuda label set|remove`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LabelAction {
    /// A label set or raised (or re-set at the same level).
    Set,
    /// A label lowered (needs a justification).
    Downgrade,
    /// A label removed (needs a justification).
    Remove,
    /// A remembered label put back by the file-server hook (`fuda watch`) on a file that
    /// lost it (replaced by a save, moved over …); the justification says how.
    Restore,
}

impl LabelAction {
    /// The audit action: `label-set`, `label-downgrade`, `label-remove`, `label-restore`.
    pub fn audit_action(self) -> &'static str {
        match self {
            LabelAction::Set => "label-set",
            LabelAction::Downgrade => "label-downgrade",
            LabelAction::Remove => "label-remove",
            LabelAction::Restore => "label-restore",
        }
    }
}

/// The longest path a label change may name: files deeper than PATH_MAX (4,096 bytes) are
/// labelled too, so the bound is on the request's size, not on the file system's limit.
pub const MAX_PATH_BYTES: usize = 32 * 1024;

/// A label change reported by a user's CLI, for the audit log. Labels live on files, not
/// in the service, so the service records what the authenticated user says they did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelChange {
    /// The document id in the label.
    pub doc: String,
    /// What was done.
    pub action: LabelAction,
    /// The level before, if the file had a label.
    #[serde(default)]
    pub from: Option<String>,
    /// The level after (none for a removal).
    #[serde(default)]
    pub to: Option<String>,
    /// The file's absolute path on `host`: its exact bytes (`{"text"}` or `{"bytes"}` in
    /// JSON; a plain string is read too).
    #[serde(with = "fuda_core::pathname")]
    pub path: PathBuf,
    /// The machine.
    pub host: String,
    /// Why (required for downgrades and removals).
    #[serde(default)]
    pub justification: Option<String>,
    /// The new label's `seq` and `set_at` (its place among the document's labels), for a
    /// label set or lowered; [`newest_label`] answers from them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<LabelVersion>,
}

impl LabelChange {
    /// Checks the change is well formed: what is wrong, for the user.
    pub fn validate(&self) -> Result<(), String> {
        if self.doc.is_empty() || self.doc.len() > 64 {
            return Err(format!("the document id {:?} is not valid", self.doc));
        }
        if self.path.as_os_str().len() > MAX_PATH_BYTES || self.host.len() > 255 {
            return Err("the path or host name is too long".into());
        }
        let needs_why = matches!(self.action, LabelAction::Downgrade | LabelAction::Remove);
        if needs_why
            && self
                .justification
                .as_deref()
                .is_none_or(|j| j.trim().is_empty())
        {
            return Err(format!(
                "a {} of the label of {} needs a justification",
                self.action.audit_action(),
                fuda_core::pathname::escaped(&self.path)
            ));
        }
        Ok(())
    }

    /// The audit event recording this change by `actor`.
    pub fn event(&self, actor: &str) -> Event {
        Event::allow(actor, self.action.audit_action())
            .doc(&self.doc)
            .detail(serde_json::json!({
                "from": self.from, "to": self.to,
                "path": fuda_core::pathname::JsonPath::new(&self.path), "host": self.host,
                "justification": self.justification, "version": self.version,
            }))
    }
}

/// Where a label stands among its document's labels: later labels have a greater
/// `(seq, set_at)` (see `fuda_core::label::Label::version`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelVersion {
    /// The label's `seq`.
    pub seq: u64,
    /// The label's `set_at`, Unix seconds.
    pub set_at: i64,
}

/// The newest label of a document that the audit log recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewestLabel {
    /// The document id.
    pub doc: String,
    /// The newest recorded label's place.
    pub version: LabelVersion,
}

/// Most documents one `label-versions` request may ask about.
pub const MAX_LABEL_VERSIONS: usize = 1_000;

/// The newest label version recorded among `records` (the audit records of one document):
/// the greatest version of its allowed label sets and downgrades. Changes recorded before
/// versions were recorded carry none and are skipped.
pub fn newest_label<'a>(records: impl IntoIterator<Item = &'a Record>) -> Option<LabelVersion> {
    records
        .into_iter()
        .map(|r| &r.event)
        .filter(|e| {
            e.outcome == Outcome::Allow
                && [LabelAction::Set, LabelAction::Downgrade]
                    .iter()
                    .any(|a| a.audit_action() == e.action)
        })
        .filter_map(|e| serde_json::from_value(e.detail.get("version")?.clone()).ok())
        .max()
}

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Granted (a key was released, a change was made).
    Allow,
    /// Refused.
    Deny,
}

impl Outcome {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
        }
    }
}

/// What happened, before it gets its place in the chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Who asked (user name).
    pub actor: String,
    /// What: `protect`, `open`, `grant`, `ungrant`, `revoke`, `user-add`, …
    pub action: String,
    /// The document, if any.
    pub doc: Option<String>,
    /// The user acted upon, if any.
    pub subject: Option<String>,
    /// Allowed or denied.
    pub outcome: Outcome,
    /// The denial code or a short note.
    pub reason: Option<String>,
    /// Details (rights asked, rights granted, …), canonical JSON.
    pub detail: serde_json::Value,
}

impl Event {
    /// An allowed action.
    pub fn allow(actor: &str, action: &str) -> Event {
        Event {
            actor: actor.to_owned(),
            action: action.to_owned(),
            doc: None,
            subject: None,
            outcome: Outcome::Allow,
            reason: None,
            detail: serde_json::Value::Null,
        }
    }

    /// Sets the document.
    pub fn doc(mut self, doc: &str) -> Event {
        self.doc = Some(doc.to_owned());
        self
    }

    /// Sets the subject.
    pub fn subject(mut self, user: &str) -> Event {
        self.subject = Some(user.to_owned());
        self
    }

    /// Sets the details.
    pub fn detail(mut self, detail: serde_json::Value) -> Event {
        self.detail = detail;
        self
    }

    /// Marks it denied with a reason.
    pub fn deny(mut self, reason: &str) -> Event {
        self.outcome = Outcome::Deny;
        self.reason = Some(reason.to_owned());
        self
    }
}

/// One record of the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// Unix milliseconds.
    pub at_ms: i64,
    /// The event.
    #[serde(flatten)]
    pub event: Event,
    /// Hash of the previous record, hex (64 zeros for the first).
    pub prev: String,
    /// This record's hash, hex.
    pub hash: String,
}

/// The hash a record must carry.
pub fn record_hash(key: &hmac::Key, seq: i64, at_ms: i64, e: &Event, prev: &str) -> String {
    // serde_json with the default map (BTreeMap) writes keys sorted: canonical.
    let canonical = serde_json::json!({
        "seq": seq, "at_ms": at_ms, "actor": e.actor, "action": e.action, "doc": e.doc,
        "subject": e.subject, "outcome": e.outcome.as_str(), "reason": e.reason,
        "detail": e.detail.to_string(), "prev": prev,
    });
    hex::encode(hmac::sign(key, canonical.to_string().as_bytes()).as_ref())
}

/// The `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Which records to list.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Query {
    /// Only this document.
    #[serde(default)]
    pub doc: Option<String>,
    /// Only records by or about this user.
    #[serde(default)]
    pub user: Option<String>,
    /// From this time (Unix seconds), inclusive.
    #[serde(default)]
    pub since: Option<i64>,
    /// Until this time (Unix seconds), exclusive.
    #[serde(default)]
    pub until: Option<i64>,
    /// At most this many (the newest), default 1000.
    #[serde(default)]
    pub limit: Option<u32>,
    /// Only this action (`licence`, `revoke`, `console-login` …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Only records older than this sequence number (the next page of a list that shows
    /// the newest first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_seq: Option<i64>,
}

/// The result of [`verify`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// Records checked.
    pub records: u64,
    /// Whether the chain is intact.
    pub ok: bool,
    /// The first problem, naming the record.
    pub problem: Option<String>,
    /// The sequence number of the first bad record.
    pub bad_seq: Option<i64>,
    /// The highest signed checkpoint the log was checked against (its record number);
    /// `None`: none was held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<i64>,
}

/// Walks the chain in `seq` order and reports the first edit, gap or cut tail.
pub fn verify(
    key: &hmac::Key,
    records: impl IntoIterator<Item = Record>,
    head: Option<(i64, String)>,
) -> Verification {
    verify_against(key, records, head, &[])
}

/// [`verify`], and checks the log against `checkpoints` (whose signatures the caller
/// checked): the record each names must be there with the hash it names — a log shorter
/// than a checkpoint lost its tail, however consistent the chain left is.
pub fn verify_against(
    key: &hmac::Key,
    records: impl IntoIterator<Item = Record>,
    head: Option<(i64, String)>,
    checkpoints: &[Checkpoint],
) -> Verification {
    let highest = checkpoints.iter().max_by_key(|c| c.seq);
    let mut expected_seq = 1;
    let mut prev = GENESIS.to_owned();
    let mut count = 0;
    let fail = |count, seq, problem: String| Verification {
        records: count,
        ok: false,
        problem: Some(problem),
        bad_seq: Some(seq),
        checkpoint: highest.map(|c| c.seq),
    };
    for r in records {
        count += 1;
        if r.seq != expected_seq {
            return fail(
                count,
                expected_seq,
                format!(
                    "audit record {expected_seq} is missing (the next record is {}): records were deleted",
                    r.seq
                ),
            );
        }
        if r.prev != prev {
            return fail(
                count,
                r.seq,
                format!(
                    "audit record {} does not follow record {}: its link to the previous record was changed",
                    r.seq,
                    r.seq - 1
                ),
            );
        }
        let want = record_hash(key, r.seq, r.at_ms, &r.event, &r.prev);
        let same = crate::directory::constant_time_eq(want.as_bytes(), r.hash.as_bytes());
        if !same {
            return fail(
                count,
                r.seq,
                format!(
                    "audit record {} was edited (its hash does not match its content)",
                    r.seq
                ),
            );
        }
        if let Some(c) = checkpoints
            .iter()
            .find(|c| c.seq == r.seq && c.head != r.hash)
        {
            return fail(
                count,
                r.seq,
                format!(
                    "audit record {} is not the one the service signed in its checkpoint of {}: the log was rewritten from there",
                    r.seq,
                    at_text(c.at_ms)
                ),
            );
        }
        prev = r.hash;
        expected_seq += 1;
    }
    let last = expected_seq - 1;
    if let Some(c) = highest.filter(|c| c.seq > last) {
        return fail(
            count,
            last + 1,
            format!(
                "the audit log is shorter than a checkpoint you hold: it ends at record {last}, but the service signed on {} that it reached record {}: records {}..{} were removed",
                at_text(c.at_ms),
                c.seq,
                last + 1,
                c.seq
            ),
        );
    }
    match head {
        Some((seq, hash)) if seq != last || (seq > 0 && hash != prev) => fail(
            count,
            seq.max(last),
            format!(
                "the audit log ends at record {last} but its head names record {seq}: records at the end were deleted or the head was changed"
            ),
        ),
        None if last > 0 => fail(
            count,
            last,
            "the audit head row is missing: the log was tampered with".into(),
        ),
        _ => Verification {
            records: count,
            ok: true,
            problem: None,
            bad_seq: None,
            checkpoint: highest.map(|c| c.seq),
        },
    }
}

/// A checkpoint's time for a message: UTC, to the second.
fn at_text(at_ms: i64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    time::OffsetDateTime::from_unix_timestamp(at_ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_else(|| format!("{at_ms} ms"))
}

#[cfg(test)]
mod checkpoint_tests {
    use super::*;

    fn chain(key: &hmac::Key, n: i64) -> Vec<Record> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let event = Event::allow("tanaka", "open");
                let hash = record_hash(key, seq, seq * 1000, &event, &prev);
                Record {
                    seq,
                    at_ms: seq * 1000,
                    event,
                    prev: std::mem::replace(&mut prev, hash.clone()),
                    hash,
                }
            })
            .collect()
    }

    fn checkpoint(seq: i64, head: &str) -> Checkpoint {
        Checkpoint {
            service: "svc".into(),
            seq,
            head: head.into(),
            at_ms: 1_764_979_200_000,
            sig: String::new(),
        }
    }

    #[test]
    fn a_tail_cut_with_its_head_moved_back_is_found_only_with_a_checkpoint() {
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"audit key");
        let full = chain(&key, 10);
        let signed = checkpoint(10, &full[9].hash);
        let cut: Vec<Record> = full[..6].to_vec();
        let head = Some((6, cut[5].hash.clone()));
        assert!(
            verify(&key, cut.clone(), head.clone()).ok,
            "the chain alone"
        );
        let v = verify_against(&key, cut, head, std::slice::from_ref(&signed));
        assert!(!v.ok);
        assert_eq!(v.bad_seq, Some(7));
        assert_eq!(v.checkpoint, Some(10));
        let problem = v.problem.unwrap();
        assert!(
            problem.contains("it ends at record 6")
                && problem.contains("records 7..10 were removed")
                && problem.contains("2025-12-06 00:00:00 UTC"),
            "{problem}"
        );
        let intact = verify_against(
            &key,
            full.clone(),
            Some((10, full[9].hash.clone())),
            &[signed],
        );
        assert!(intact.ok && intact.checkpoint == Some(10), "{intact:?}");
    }

    #[test]
    fn a_record_other_than_the_one_a_checkpoint_names_is_a_rewritten_log() {
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"audit key");
        let full = chain(&key, 5);
        // Someone holding the audit key rebuilt the chain from record 3 on.
        let v = verify_against(
            &key,
            full.clone(),
            Some((5, full[4].hash.clone())),
            &[checkpoint(3, &"ab".repeat(32))],
        );
        assert!(!v.ok);
        assert_eq!(v.bad_seq, Some(3));
        assert!(v.problem.unwrap().contains("rewritten"));
    }
}
