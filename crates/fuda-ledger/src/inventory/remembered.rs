//! Findings from the label memory of `fuda watch` ([`fuda_classify::memory`]): labels the watcher
//! had to restore after a save or a tool stripped them (`label-restored`, with when and
//! why), older labels written back over the remembered ones (`replayed`: the watcher put
//! the newer one back), and files the memory knows as labeled that carry no label now
//! (`label-disappeared`, with the cause when the watcher saw one).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use fuda_core::label::Status;

use super::findings::{level_names, Finding, FindingKind};
use super::FileEntry;
use fuda_classify::memory::{EventKind, Recollection};

/// The moment `at` (Unix seconds) at the organisation's offset from UTC, RFC 3339.
fn when(at: i64, offset: time::UtcOffset) -> String {
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| {
            t.to_offset(offset)
                .format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| at.to_string())
}

/// What the inventory found at the paths the memory knows as labeled: whether each file
/// is there and unlabeled (noted one file at a time, as the inventory reads them).
#[derive(Debug)]
pub struct Watched {
    unlabeled_now: HashMap<PathBuf, bool>,
}

impl Watched {
    /// The paths `memory` knows as labeled, none of them seen yet.
    pub fn new(memory: &Recollection) -> Watched {
        Watched {
            unlabeled_now: memory
                .labels
                .iter()
                .map(|r| (r.path.clone(), false))
                .collect(),
        }
    }

    /// Notes what the inventory found in `file`.
    pub fn note(&mut self, file: &FileEntry) {
        if let Some(unlabeled) = self.unlabeled_now.get_mut(&file.path) {
            *unlabeled = file.status == Status::Missing && file.problem.is_none();
        }
    }
}

/// The findings the memory adds, given what the inventory found at its paths
/// (`watched`); `already` holds paths that have a `label-disappeared` finding from the
/// review, so that a file is not listed twice. Times are shown at `offset` from UTC (the
/// policy's `utc_offset`).
pub fn findings(
    memory: &Recollection,
    watched: &Watched,
    already: &HashSet<PathBuf>,
    policy: &fuda_core::policy::Policy,
) -> Vec<Finding> {
    let offset = policy.utc_offset;
    let names = |id: Option<&str>| level_names(policy, id.unwrap_or_default());
    let mut out = Vec::new();
    for e in &memory.events {
        let path = e.path.clone();
        let (level, level_ja) = names(e.level.as_deref());
        let doc = e.doc.clone().unwrap_or_default();
        match e.kind {
            EventKind::Restored => {
                let (detail, detail_ja) = match e.found_level.as_deref().map(|l| names(Some(l))) {
                    Some((lower, lower_ja)) => (
                        format!(
                            "at {}: the file was replaced ({}) carrying a lower label ({lower}); fuda watch kept {level} (doc {doc}). Check who saved it and why",
                            when(e.at, offset), e.cause
                        ),
                        format!(
                            "{}: ファイルが置き換えられ ({})、より低い区分 ({lower_ja}) が付いていました。fuda watch が {level_ja} (文書ID {doc}) を維持しました。保存者と理由を確認してください",
                            when(e.at, offset), e.cause
                        ),
                    ),
                    None => (
                        format!(
                            "at {}: the file was replaced ({}) without its label; fuda watch restored {level} (doc {doc}). Nothing to do unless the level should change",
                            when(e.at, offset), e.cause
                        ),
                        format!(
                            "{}: 保存によりラベルが失われました ({})。fuda watch が {level_ja} (文書ID {doc}) を復元しました",
                            when(e.at, offset), e.cause
                        ),
                    ),
                };
                out.push(Finding::new(
                    FindingKind::LabelRestored,
                    path,
                    e.level.clone(),
                    detail,
                    detail_ja,
                ));
            }
            EventKind::Replayed => {
                let (found, found_ja) = names(e.found_level.as_deref());
                out.push(Finding::new(
                    FindingKind::Replayed,
                    path,
                    e.level.clone(),
                    format!(
                        "at {}: an older label of this document ({found}) was written back over {level} (doc {doc}); {}. Check who wrote the old label and why",
                        when(e.at, offset), e.cause
                    ),
                    format!(
                        "{}: この文書の古いラベル ({found_ja}) が {level_ja} (文書ID {doc}) の上に書き戻されました ({})。誰が何のために書き戻したか確認してください",
                        when(e.at, offset), e.cause
                    ),
                ));
            }
            // Reported with the restore that followed it.
            EventKind::DowngradeFlagged | EventKind::Lost => {}
        }
    }
    // The latest in-place removal the watcher saw, per path.
    let removed: HashMap<&PathBuf, i64> = memory
        .events
        .iter()
        .filter(|e| e.kind == EventKind::Lost)
        .map(|e| (&e.path, e.at))
        .collect();
    for r in &memory.labels {
        let path = r.path.clone();
        // A file deleted since, or still labeled, has not lost its label.
        if watched.unlabeled_now.get(&path) != Some(&true) || already.contains(&path) {
            continue;
        }
        let (level_id, doc) = (&r.label.level, r.label.doc);
        let (level, level_ja) = names(Some(level_id));
        let (why, why_ja) = match removed.get(&path) {
            Some(at) => (
                format!("removed from the file in place at {}", when(*at, offset)),
                format!("{} にファイルから直接削除されました", when(*at, offset)),
            ),
            None => (
                "no known cause (fuda watch was not running, or the file was edited in place)"
                    .to_owned(),
                "原因不明 (fuda watch 停止中、またはその場で編集)".to_owned(),
            ),
        };
        out.push(Finding::new(
            FindingKind::LabelDisappeared,
            path,
            Some(level_id.clone()),
            format!(
                "the label memory knows this file as {level} (doc {doc}), it has no label now: {why}. Label it again with `fuda label set {level_id}`"
            ),
            format!(
                "ラベル記憶ではこのファイルは{level_ja} (文書ID {doc}) ですが、現在ラベルがありません: {why_ja}。`fuda label set {level_id}` で再設定してください"
            ),
        ));
    }
    out
}
