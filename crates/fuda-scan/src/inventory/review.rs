//! The yearly review (棚卸): what changed since the previous inventory.
//!
//! Files are matched to last time's entries by document id first (labels keep their id
//! across moves, copies and relabeling), then by path, then by content digest (a file
//! that moved and lost its label). A matched file whose path changed was **moved**; one
//! whose level changed was **reclassified** (both can happen to one file). Files left
//! over are **added** (now only) or **removed** (then only). A file that had a label then
//! and has none now is also a `label-disappeared` finding: typically an editor that saved
//! by writing a new file stripped the label.

use std::collections::{BTreeMap, HashMap};

use fuda_core::digest::Digest;
use fuda_core::label::{DocId, Status};
use serde::{Deserialize, Serialize};

use super::findings::{Finding, FindingKind};
use super::{FileEntry, Inventory};

/// What happened to a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// New since the previous inventory.
    Added,
    /// Gone since the previous inventory.
    Removed,
    /// Its level changed (including gaining or losing a label).
    Reclassified,
    /// It is somewhere else now.
    Moved,
}

impl ChangeKind {
    /// The kind's name in the ledger.
    pub fn title(self, ja: bool) -> &'static str {
        match (self, ja) {
            (ChangeKind::Added, true) => "追加",
            (ChangeKind::Removed, true) => "削除",
            (ChangeKind::Reclassified, true) => "区分変更",
            (ChangeKind::Moved, true) => "移動",
            (ChangeKind::Added, false) => "Added",
            (ChangeKind::Removed, false) => "Removed",
            (ChangeKind::Reclassified, false) => "Reclassified",
            (ChangeKind::Moved, false) => "Moved",
        }
    }
}

/// One change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// What happened.
    pub kind: ChangeKind,
    /// Document id, when labeled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<DocId>,
    /// Path now (for `removed`: the path then).
    pub path: String,
    /// Path then, for `moved`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_path: Option<String>,
    /// Level now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// Level then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_level: Option<String>,
}

/// The review against a previous inventory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    /// When the previous inventory was taken, Unix seconds.
    pub since: i64,
    /// Counts per kind.
    pub added: usize,
    /// See `added`.
    pub removed: usize,
    /// See `added`.
    pub reclassified: usize,
    /// See `added`.
    pub moved: usize,
    /// Every change, sorted by kind and path.
    pub changes: Vec<Change>,
}

fn level_of(f: &FileEntry) -> Option<&str> {
    f.level.as_deref().filter(|_| f.status != Status::Missing)
}

/// Compares `files` with `previous`; returns the review and the `label-disappeared`
/// findings.
pub fn diff(previous: &Inventory, files: &[FileEntry]) -> (Review, Vec<Finding>) {
    let old = &previous.files;
    let mut old_used = vec![false; old.len()];
    let mut pairs: Vec<(usize, usize)> = Vec::new(); // (old, new)
    let mut new_used = vec![false; files.len()];

    // 1. Document id. Copies share an id: same path pairs first, then the rest in order.
    let mut old_by_doc: HashMap<DocId, Vec<usize>> = HashMap::new();
    for (i, f) in old.iter().enumerate() {
        if let Some(d) = f.doc {
            old_by_doc.entry(d).or_default().push(i);
        }
    }
    let mut new_by_doc: BTreeMap<DocId, Vec<usize>> = BTreeMap::new();
    for (i, f) in files.iter().enumerate() {
        if let Some(d) = f.doc {
            new_by_doc.entry(d).or_default().push(i);
        }
    }
    for (doc, news) in &new_by_doc {
        let Some(olds) = old_by_doc.get(doc) else {
            continue;
        };
        for &n in news {
            if let Some(&o) = olds
                .iter()
                .find(|&&o| !old_used[o] && old[o].path == files[n].path)
            {
                old_used[o] = true;
                new_used[n] = true;
                pairs.push((o, n));
            }
        }
        for &n in news {
            if new_used[n] {
                continue;
            }
            if let Some(&o) = olds.iter().find(|&&o| !old_used[o]) {
                old_used[o] = true;
                new_used[n] = true;
                pairs.push((o, n));
            }
        }
    }

    // 2. Path.
    let old_by_path: HashMap<&str, usize> = old
        .iter()
        .enumerate()
        .filter(|(i, _)| !old_used[*i])
        .map(|(i, f)| (f.path.as_str(), i))
        .collect();
    for (n, f) in files.iter().enumerate() {
        if new_used[n] {
            continue;
        }
        if let Some(&o) = old_by_path.get(f.path.as_str()) {
            if !old_used[o] {
                old_used[o] = true;
                new_used[n] = true;
                pairs.push((o, n));
            }
        }
    }

    // 3. Content digest.
    let mut old_by_digest: HashMap<Digest, Vec<usize>> = HashMap::new();
    for (i, f) in old.iter().enumerate() {
        if let (false, Some(d)) = (old_used[i], f.sha256) {
            old_by_digest.entry(d).or_default().push(i);
        }
    }
    for (n, f) in files.iter().enumerate() {
        if new_used[n] {
            continue;
        }
        let Some(d) = f.sha256 else { continue };
        if let Some(candidates) = old_by_digest.get_mut(&d) {
            if let Some(pos) = candidates.iter().position(|&o| !old_used[o]) {
                let o = candidates.remove(pos);
                old_used[o] = true;
                new_used[n] = true;
                pairs.push((o, n));
            }
        }
    }

    let mut changes = Vec::new();
    let mut findings = Vec::new();
    for (o, n) in pairs {
        let (then, now) = (&old[o], &files[n]);
        let doc = now.doc.or(then.doc);
        if then.path != now.path {
            changes.push(Change {
                kind: ChangeKind::Moved,
                doc,
                path: now.path.clone(),
                previous_path: Some(then.path.clone()),
                level: now.level.clone(),
                previous_level: then.level.clone(),
            });
        }
        let (lt, ln) = (level_of(then), level_of(now));
        if lt != ln && now.status != Status::Tampered {
            changes.push(Change {
                kind: ChangeKind::Reclassified,
                doc,
                path: now.path.clone(),
                previous_path: (then.path != now.path).then(|| then.path.clone()),
                level: ln.map(str::to_owned),
                previous_level: lt.map(str::to_owned),
            });
        }
        if lt.is_some() && now.status == Status::Missing && now.problem.is_none() {
            findings.push(Finding::new(
                FindingKind::LabelDisappeared,
                now.path.clone(),
                then.level.clone(),
                format!(
                    "labeled {} (doc {}) in the previous inventory, no label now: a save or copy probably stripped it; restore the label with `fuda label set`",
                    lt.unwrap_or_default(),
                    then.doc.map(|d| d.to_string()).unwrap_or_default()
                ),
                format!(
                    "前回の棚卸では区分 {} (文書ID {}) でしたが、現在ラベルがありません。保存・コピーで失われた可能性があります。`fuda label set` で再設定してください",
                    lt.unwrap_or_default(),
                    then.doc.map(|d| d.to_string()).unwrap_or_default()
                ),
            ));
        }
    }
    for (_, f) in files.iter().enumerate().filter(|(n, _)| !new_used[*n]) {
        changes.push(Change {
            kind: ChangeKind::Added,
            doc: f.doc,
            path: f.path.clone(),
            previous_path: None,
            level: level_of(f).map(str::to_owned),
            previous_level: None,
        });
    }
    for (_, f) in old.iter().enumerate().filter(|(o, _)| !old_used[*o]) {
        changes.push(Change {
            kind: ChangeKind::Removed,
            doc: f.doc,
            path: f.path.clone(),
            previous_path: None,
            level: None,
            previous_level: level_of(f).map(str::to_owned),
        });
    }
    changes.sort_by(|a, b| (a.kind, &a.path).cmp(&(b.kind, &b.path)));
    let count = |k| changes.iter().filter(|c| c.kind == k).count();
    let review = Review {
        since: previous.generated_at,
        added: count(ChangeKind::Added),
        removed: count(ChangeKind::Removed),
        reclassified: count(ChangeKind::Reclassified),
        moved: count(ChangeKind::Moved),
        changes,
    };
    (review, findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, doc: Option<DocId>, level: Option<&str>, sha: u8) -> FileEntry {
        FileEntry {
            path: path.into(),
            root: "/s".into(),
            size: 1,
            status: if level.is_some() {
                Status::Valid
            } else {
                Status::Missing
            },
            doc,
            level: level.map(str::to_owned),
            sha256: Some(Digest([sha; 32])),
            ..FileEntry::default()
        }
    }

    fn inventory(files: Vec<FileEntry>) -> Inventory {
        Inventory::of_files(files)
    }

    #[test]
    fn copies_moves_and_unlabeled_moves_are_told_apart() {
        let (a, b) = (DocId::new(), DocId::new());
        let before = inventory(vec![
            entry("/s/a.txt", Some(a), Some("internal"), 1),
            entry("/s/b.txt", Some(b), Some("internal"), 2),
            entry("/s/plain.txt", None, None, 3),
        ]);
        let now = vec![
            // a stays and gained a copy (same doc id): the copy is new.
            entry("/s/a.txt", Some(a), Some("internal"), 1),
            entry("/s/copy-of-a.txt", Some(a), Some("internal"), 1),
            // b lost its label and moved: matched by content.
            entry("/s/old/b.txt", None, None, 2),
            // the unlabeled file moved: matched by content.
            entry("/s/old/plain.txt", None, None, 3),
        ];
        let (review, findings) = diff(&before, &now);
        let kinds: Vec<(ChangeKind, &str)> = review
            .changes
            .iter()
            .map(|c| (c.kind, c.path.as_str()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (ChangeKind::Added, "/s/copy-of-a.txt"),
                (ChangeKind::Reclassified, "/s/old/b.txt"),
                (ChangeKind::Moved, "/s/old/b.txt"),
                (ChangeKind::Moved, "/s/old/plain.txt"),
            ]
        );
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].kind, FindingKind::LabelDisappeared);
        assert_eq!(findings[0].path, "/s/old/b.txt");
    }
}
