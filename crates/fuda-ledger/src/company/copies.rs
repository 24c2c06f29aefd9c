//! Copies of one confidential document on several machines: a 極秘 drawing copied from
//! the design share to a sales PC, or to a USB-synced folder.
//!
//! The company's files come in the order of a key — the content digest (a copy that
//! lost its label is still the same bytes), then the document id (a labeled copy edited
//! since) — so the copies of one document arrive one after another and only the current
//! group is held. A document reported by content is not reported again by id.
//! A group is a finding when its copies are on two machines or more and the highest
//! level among them has IPA 機密性 2 (秘, 極秘 in the default policy): one finding per
//! document, naming every place it is (the first [`KEEP`], then how many more).

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use fuda_core::policy::{Level, Policy};

use super::company_path;
use crate::inventory::findings::{Finding, FindingKind};
use crate::inventory::{display_path, FileEntry};

/// Places listed in a finding before "and N more".
pub const KEEP: usize = 20;

/// What the files are grouped by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// The label's document id.
    Doc,
    /// The SHA-256 of the content.
    Content,
}

/// One copy.
struct Copy {
    machine: String,
    path: PathBuf,
    doc: Option<String>,
}

/// Groups files by a key as they arrive in its order.
pub struct Copies<'p> {
    policy: &'p Policy,
    by: Key,
    key: Option<String>,
    /// The first copy's record, parsed only when a second copy arrives.
    first: Option<(String, PathBuf, Vec<u8>)>,
    copies: Vec<Copy>,
    more: usize,
    machines: BTreeSet<String>,
    /// The highest level among the copies (by rank).
    level: Option<&'p Level>,
    /// Documents already reported (by id): a content group names the documents its
    /// labeled copies carry, and their document groups are not reported again.
    reported: HashSet<String>,
}

impl<'p> Copies<'p> {
    /// No files yet.
    pub fn new(policy: &'p Policy, by: Key) -> Copies<'p> {
        Copies {
            policy,
            by,
            key: None,
            first: None,
            copies: Vec::new(),
            more: 0,
            machines: BTreeSet::new(),
            level: None,
            reported: HashSet::new(),
        }
    }

    /// Documents whose copies were reported already (by content) are not reported
    /// again.
    pub fn skip_documents(&mut self, reported: HashSet<String>) {
        self.reported = reported;
    }

    /// The documents reported so far.
    pub fn reported(&self) -> &HashSet<String> {
        &self.reported
    }

    /// Takes the next file, `record` being its [`FileEntry`] as JSON; returns the finding
    /// of the group it closes, if any.
    pub fn add(&mut self, key: &str, machine: &str, path: &Path, record: &[u8]) -> Option<Finding> {
        let closed = if self.key.as_deref() != Some(key) {
            let f = self.close();
            self.key = Some(key.to_owned());
            f
        } else {
            None
        };
        if self.first.is_none() && self.copies.is_empty() {
            self.first = Some((machine.to_owned(), path.to_owned(), record.to_vec()));
            return closed;
        }
        if let Some((m, p, r)) = self.first.take() {
            self.take(&m, p, &r);
        }
        self.take(machine, path.to_owned(), record);
        closed
    }

    fn take(&mut self, machine: &str, path: PathBuf, record: &[u8]) {
        let entry: Option<FileEntry> = serde_json::from_slice(record).ok();
        let doc = entry.as_ref().and_then(|e| e.doc).map(|d| d.to_string());
        if let Some(level) = entry
            .as_ref()
            .filter(|e| e.counted_label())
            .and_then(|e| e.level.as_deref())
            .and_then(|l| self.policy.level(l))
        {
            if self.level.is_none_or(|l| level.rank > l.rank) {
                self.level = Some(level);
            }
        }
        if !self.machines.contains(machine) {
            self.machines.insert(machine.to_owned());
        }
        if self.copies.len() < KEEP {
            self.copies.push(Copy {
                machine: machine.to_owned(),
                path,
                doc,
            });
        } else {
            self.more += 1;
        }
    }

    /// The finding of the last group, if any.
    pub fn finish(&mut self) -> Option<Finding> {
        self.close()
    }

    fn close(&mut self) -> Option<Finding> {
        let copies = std::mem::take(&mut self.copies);
        let machines = std::mem::take(&mut self.machines);
        let more = std::mem::take(&mut self.more);
        let level = self.level.take();
        let key = self.key.take();
        self.first = None;
        let level = level.filter(|l| l.ipa_confidentiality >= 2)?;
        let key = key.unwrap_or_default();
        if machines.len() < 2 || (self.by == Key::Doc && self.reported.contains(&key)) {
            return None;
        }
        // The labeled copies' documents are reported with this finding.
        self.reported
            .extend(copies.iter().filter_map(|c| c.doc.clone()));
        let places: Vec<String> = copies
            .iter()
            .map(|c| display_path(&company_path(&c.machine, &c.path)).into_owned())
            .collect();
        let (list, list_ja) = if more > 0 {
            (
                format!("{} and {more} more", places.join(", ")),
                format!("{} ほか {more} か所", places.join("、")),
            )
        } else {
            (places.join(", "), places.join("、"))
        };
        let (what, what_ja) = match self.by {
            Key::Doc => (format!("document {key}"), format!("文書 {key}")),
            Key::Content => {
                let short: String = key.chars().take(16).collect();
                (
                    format!("the same content (SHA-256 {short}…)"),
                    format!("同一内容 (SHA-256 {short}…)"),
                )
            }
        };
        let total = copies.len() + more;
        Some(Finding::new(
            FindingKind::CopiesOnSeveralMachines,
            company_path(&copies[0].machine, &copies[0].path),
            Some(level.id.clone()),
            format!(
                "{} {what}: {total} copies on {} machines: {list}. Keep it where the policy allows it and delete the other copies (or protect them with `fuda protect`)",
                level.name_en,
                machines.len()
            ),
            format!(
                "{}の{what_ja}が {} 台のマシンに {total} 件あります: {list_ja}。ポリシーで認められた場所に残し、他のコピーは削除するか `fuda protect` で保護してください",
                level.name_ja,
                machines.len()
            ),
        ))
    }
}
