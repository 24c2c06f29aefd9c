//! The yearly review (棚卸): what changed since the previous inventory.
//!
//! Files are matched to last time's entries by document id first (labels keep their id
//! across moves, copies and relabeling), then by path, then by content digest (a file
//! that moved and lost its label). A matched file that is now the protected copy of what
//! it was (`plan.docx` → `plan.docx.fuda`, one document id) was **protected**; one whose
//! path changed otherwise was **moved**; one
//! whose level changed was **reclassified** (both can happen to one file). Files left
//! over are **added** (now only) or **removed** (then only). A file that had a label then
//! and has none now is also a `label-disappeared` finding: typically an editor that saved
//! by writing a new file stripped the label. A file of the same document that carries an
//! older label than it had then (a smaller `(seq, set_at)`: an old signed label was
//! written back) is a `replayed` finding, not a reclassification.

use std::collections::HashMap;

use fuda_core::digest::Digest;
use fuda_core::label::{DocId, Status};
use serde::{Deserialize, Serialize};

use super::findings::{Finding, FindingKind};
use std::path::{Path, PathBuf};

use super::{FileEntry, InventoryError, FORMAT, VERSION};

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
    /// It is the protected copy of what it was (`NAME` → `NAME.fuda`, the same document).
    Protected,
}

impl ChangeKind {
    /// The kind's name in the ledger.
    pub fn title(self, ja: bool) -> &'static str {
        match (self, ja) {
            (ChangeKind::Added, true) => "追加",
            (ChangeKind::Removed, true) => "削除",
            (ChangeKind::Reclassified, true) => "区分変更",
            (ChangeKind::Moved, true) => "移動",
            (ChangeKind::Protected, true) => "保護",
            (ChangeKind::Added, false) => "Added",
            (ChangeKind::Removed, false) => "Removed",
            (ChangeKind::Reclassified, false) => "Reclassified",
            (ChangeKind::Moved, false) => "Moved",
            (ChangeKind::Protected, false) => "Protected",
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
    /// Path now (for `removed`: the path then), with its exact bytes.
    #[serde(with = "fuda_core::pathname")]
    pub path: PathBuf,
    /// Path then, for `moved` and `protected`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "fuda_core::pathname::option"
    )]
    pub previous_path: Option<PathBuf>,
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
    /// See `added`.
    #[serde(default)]
    pub protected: usize,
    /// Every change, sorted by kind and path.
    pub changes: Vec<Change>,
}

/// What the review needs to know of a file: enough to match it and to tell what changed
/// (a few dozen bytes and the path, instead of the whole entry).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Trace {
    /// Path, with its exact bytes.
    #[serde(deserialize_with = "boxed_path")]
    pub path: Box<Path>,
    /// Document id from the label.
    #[serde(default)]
    pub doc: Option<DocId>,
    /// Level id from the label.
    #[serde(default)]
    pub level: Option<Box<str>>,
    /// Verification status.
    pub status: Status,
    /// Whether the entry records a problem (a file that could not be read has not lost
    /// its label).
    #[serde(default, rename = "problem", deserialize_with = "present")]
    pub problem: bool,
    /// Content digest.
    #[serde(default)]
    pub sha256: Option<Digest>,
    /// The label's `seq` (absent: 0).
    #[serde(default)]
    pub seq: Option<u64>,
    /// When the label was set.
    #[serde(default)]
    pub set_at: Option<i64>,
}

impl Trace {
    /// The label's place among its document's labels, when it has a label whose signature
    /// holds (a tampered label's fields cannot be believed).
    fn version(&self) -> Option<(u64, i64)> {
        matches!(
            self.status,
            Status::Valid | Status::Stale | Status::Unverified
        )
        .then(|| (self.seq.unwrap_or(0), self.set_at.unwrap_or(0)))
    }

    /// Whether this file carries an older label of the document `then` carried.
    fn replays(&self, then: &Trace) -> bool {
        self.doc.is_some()
            && self.doc == then.doc
            && matches!((self.version(), then.version()), (Some(now), Some(was)) if now < was)
    }
}

fn boxed_path<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Box<Path>, D::Error> {
    fuda_core::pathname::deserialize(d).map(PathBuf::into_boxed_path)
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<serde::de::IgnoredAny>::deserialize(d)?.is_some())
}

impl From<&FileEntry> for Trace {
    fn from(f: &FileEntry) -> Trace {
        Trace {
            path: f.path.as_path().into(),
            doc: f.doc,
            level: f.level.as_deref().map(Into::into),
            status: f.status,
            problem: f.problem.is_some(),
            sha256: f.sha256,
            seq: f.seq,
            set_at: f.set_at,
        }
    }
}

/// The previous inventory, as the review needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Previous {
    /// When it was taken, Unix seconds.
    pub generated_at: i64,
    /// Its files.
    pub files: Vec<Trace>,
}

/// The parts of an inventory JSON the review reads; the rest is skipped as it streams by.
#[derive(Deserialize)]
struct PreviousJson {
    #[allow(dead_code)] // checked while parsing, before the files
    format: FormatTag,
    #[allow(dead_code)]
    version: VersionTag,
    generated_at: i64,
    files: Vec<Trace>,
}

/// The `format` field, accepted only when it is [`FORMAT`].
struct FormatTag;

impl<'de> Deserialize<'de> for FormatTag {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<FormatTag, D::Error> {
        let format = String::deserialize(d)?;
        if format == FORMAT {
            Ok(FormatTag)
        } else {
            Err(serde::de::Error::custom(format!(
                "\"format\" is {format:?}, not \"{FORMAT}\""
            )))
        }
    }
}

/// The `version` field, accepted from 1 to [`VERSION`].
struct VersionTag;

impl<'de> Deserialize<'de> for VersionTag {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<VersionTag, D::Error> {
        match u64::deserialize(d)? {
            v if (1..=u64::from(VERSION)).contains(&v) => Ok(VersionTag),
            v => Err(serde::de::Error::custom(format!(
                "version {v}, this fuda reads version {VERSION}"
            ))),
        }
    }
}

impl Previous {
    /// Reads an inventory JSON written earlier (for `--since`), streaming: only the
    /// traces of its files are kept.
    pub fn load(path: &Path) -> Result<Previous, InventoryError> {
        let file = std::fs::File::open(path).map_err(|source| InventoryError::PreviousRead {
            path: path.to_owned(),
            source,
        })?;
        let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
        Previous::from_reader(&mut reader).map_err(|reason| InventoryError::PreviousInvalid {
            path: path.to_owned(),
            reason,
        })
    }

    /// Parses inventory JSON (a byte-order mark is allowed); the error says what is wrong.
    pub fn from_reader(reader: &mut impl std::io::BufRead) -> Result<Previous, String> {
        let start = reader.fill_buf().map_err(|e| e.to_string())?;
        if start.starts_with(b"\xEF\xBB\xBF") {
            reader.consume(3);
        }
        let json: PreviousJson = serde_json::from_reader(reader).map_err(|e| e.to_string())?;
        Ok(Previous {
            generated_at: json.generated_at,
            files: json.files,
        })
    }
}

fn level_of(f: &Trace) -> Option<&str> {
    f.level.as_deref().filter(|_| f.status != Status::Missing)
}

/// Compares the files now with `previous` as they stream by.
///
/// A file found at the path it had, with the same document id (or without one then and
/// now), is matched at once, since no other rule could claim either side: only its
/// changes are kept. Every other file (new, moved, copied, or its label gone or replaced)
/// waits, as a [`Trace`], for [`Matcher::finish`], which matches the waiting files by
/// document id, then by path, then by content digest. So the memory needed beyond the
/// previous inventory is a trace per file that changed.
pub struct Matcher<'a> {
    previous: &'a Previous,
    /// For the level names in the findings' texts.
    policy: &'a fuda_core::policy::Policy,
    /// The last previous file at each path.
    old_by_path: HashMap<&'a Path, usize>,
    /// Every previous file at the paths listed more than once (a hand-edited inventory,
    /// or names that differ on disk but not once normalised), in order.
    repeated: HashMap<&'a Path, Vec<usize>>,
    old_used: Vec<bool>,
    waiting: Vec<Trace>,
    changes: Vec<Change>,
    findings: Vec<Finding>,
}

impl<'a> Matcher<'a> {
    /// Nothing seen yet.
    pub fn new(previous: &'a Previous, policy: &'a fuda_core::policy::Policy) -> Matcher<'a> {
        let mut old_by_path = HashMap::with_capacity(previous.files.len());
        let mut repeated: HashMap<&Path, Vec<usize>> = HashMap::new();
        for (i, f) in previous.files.iter().enumerate() {
            if let Some(before) = old_by_path.insert(&*f.path, i) {
                repeated
                    .entry(&*f.path)
                    .or_insert_with(|| vec![before])
                    .push(i);
            }
        }
        Matcher {
            previous,
            policy,
            old_by_path,
            repeated,
            old_used: vec![false; previous.files.len()],
            waiting: Vec::new(),
            changes: Vec::new(),
            findings: Vec::new(),
        }
    }

    /// Takes one file of the inventory now.
    pub fn see(&mut self, now: &FileEntry) {
        let now = Trace::from(now);
        let unique = !self.repeated.contains_key(&*now.path);
        if let Some(&o) = self.old_by_path.get(&*now.path).filter(|_| unique) {
            let then = &self.previous.files[o];
            if !self.old_used[o] && then.doc == now.doc {
                self.old_used[o] = true;
                self.pair(o, &now);
                return;
            }
        }
        self.waiting.push(now);
    }

    /// Takes one file without trying to match it yet.
    #[cfg(test)]
    fn wait(&mut self, now: Trace) {
        self.waiting.push(now);
    }

    /// Matches the files that waited; returns the review and the `label-disappeared`
    /// findings.
    pub fn finish(mut self) -> (Review, Vec<Finding>) {
        let files = std::mem::take(&mut self.waiting);
        let old = &self.previous.files;
        let mut new_used = vec![false; files.len()];
        let mut pairs: Vec<(usize, usize)> = Vec::new(); // (old, new)

        // 1. Document id. Copies share an id: same path pairs first, then the rest in
        // order. Both sides as (doc, position) sorted: a few bytes per file.
        let by_doc = |traces: &[Trace], used: &[bool]| {
            let mut sorted: Vec<(DocId, usize)> = traces
                .iter()
                .enumerate()
                .filter(|(i, _)| !used[*i])
                .filter_map(|(i, f)| Some((f.doc?, i)))
                .collect();
            sorted.sort_unstable();
            sorted
        };
        let old_by_doc = by_doc(old, &self.old_used);
        let old_used = &mut self.old_used;
        for news in by_doc(&files, &new_used).chunk_by(|a, b| a.0 == b.0) {
            let doc = news[0].0;
            let from = old_by_doc.partition_point(|(d, _)| *d < doc);
            let olds = &old_by_doc[from..];
            let olds = &olds[..olds.partition_point(|(d, _)| *d == doc)];
            for &(_, n) in news {
                if let Some(&(_, o)) = olds
                    .iter()
                    .find(|&&(_, o)| !old_used[o] && old[o].path == files[n].path)
                {
                    old_used[o] = true;
                    new_used[n] = true;
                    pairs.push((o, n));
                }
            }
            for &(_, n) in news {
                if new_used[n] {
                    continue;
                }
                if let Some(&(_, o)) = olds.iter().find(|&&(_, o)| !old_used[o]) {
                    old_used[o] = true;
                    new_used[n] = true;
                    pairs.push((o, n));
                }
            }
        }
        drop(old_by_doc);

        // 2. Path: the last previous file at the path that is still unmatched.
        for (n, f) in files.iter().enumerate() {
            if new_used[n] {
                continue;
            }
            let o = match self.repeated.get(&*f.path) {
                Some(all) => all.iter().rev().find(|&&o| !old_used[o]).copied(),
                None => self
                    .old_by_path
                    .get(&*f.path)
                    .copied()
                    .filter(|&o| !old_used[o]),
            };
            if let Some(o) = o {
                old_used[o] = true;
                new_used[n] = true;
                pairs.push((o, n));
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

        for (o, n) in pairs {
            self.pair(o, &files[n]);
        }
        for (_, f) in files.iter().enumerate().filter(|(n, _)| !new_used[*n]) {
            self.changes.push(Change {
                kind: ChangeKind::Added,
                doc: f.doc,
                path: f.path.to_path_buf(),
                previous_path: None,
                level: level_of(f).map(str::to_owned),
                previous_level: None,
            });
        }
        for (_, f) in old.iter().enumerate().filter(|(o, _)| !self.old_used[*o]) {
            self.changes.push(Change {
                kind: ChangeKind::Removed,
                doc: f.doc,
                path: f.path.to_path_buf(),
                previous_path: None,
                level: None,
                previous_level: level_of(f).map(str::to_owned),
            });
        }
        let mut changes = self.changes;
        changes.sort_by(|a, b| (a.kind, &a.path).cmp(&(b.kind, &b.path)));
        let mut findings = self.findings;
        findings.sort_by(|a, b| a.path.cmp(&b.path));
        let count = |k| changes.iter().filter(|c| c.kind == k).count();
        let review = Review {
            since: self.previous.generated_at,
            added: count(ChangeKind::Added),
            removed: count(ChangeKind::Removed),
            reclassified: count(ChangeKind::Reclassified),
            moved: count(ChangeKind::Moved),
            protected: count(ChangeKind::Protected),
            changes,
        };
        (review, findings)
    }

    /// Records what changed between the previous file `o` and the file `now`.
    fn pair(&mut self, o: usize, now: &Trace) {
        let then = &self.previous.files[o];
        let doc = now.doc.or(then.doc);
        if then.path != now.path {
            let protected =
                *now.path == *fuda_core::envelope::protected_path(&then.path) && now.doc.is_some();
            self.changes.push(Change {
                kind: if protected {
                    ChangeKind::Protected
                } else {
                    ChangeKind::Moved
                },
                doc,
                path: now.path.to_path_buf(),
                previous_path: Some(then.path.to_path_buf()),
                level: now.level.as_deref().map(str::to_owned),
                previous_level: then.level.as_deref().map(str::to_owned),
            });
        }
        let (lt, ln) = (level_of(then), level_of(now));
        if now.replays(then) {
            let doc = then.doc.map(|d| d.to_string()).unwrap_or_default();
            let names =
                |l: Option<&str>| super::findings::level_names(self.policy, l.unwrap_or_default());
            let ((was, was_ja), (is, is_ja)) = (names(lt), names(ln));
            self.findings.push(Finding::new(
                FindingKind::Replayed,
                now.path.to_path_buf(),
                ln.map(str::to_owned),
                format!(
                    "carries an older label of its document ({is}, seq {}) than the previous inventory saw on it ({was}, seq {}, doc {doc}): an old label was written back. Its level cannot be trusted: investigate, then re-label with --justify",
                    now.seq.unwrap_or(0),
                    then.seq.unwrap_or(0)
                ),
                format!(
                    "前回の棚卸で確認したラベル ({was_ja}、seq {}、文書ID {doc}) より古いラベル ({is_ja}、seq {}) が付いています。古いラベルが書き戻されました。区分は信頼できません。調査のうえ --justify 付きで再設定してください",
                    then.seq.unwrap_or(0),
                    now.seq.unwrap_or(0)
                ),
            ));
            return;
        }
        if lt != ln && now.status != Status::Tampered {
            self.changes.push(Change {
                kind: ChangeKind::Reclassified,
                doc,
                path: now.path.to_path_buf(),
                previous_path: (then.path != now.path).then(|| then.path.to_path_buf()),
                level: ln.map(str::to_owned),
                previous_level: lt.map(str::to_owned),
            });
        }
        if let (Some(level), Status::Missing, false) = (lt, now.status, now.problem) {
            let (en, ja) = super::findings::level_names(self.policy, level);
            let doc = then.doc.map(|d| d.to_string()).unwrap_or_default();
            self.findings.push(Finding::new(
                FindingKind::LabelDisappeared,
                now.path.to_path_buf(),
                then.level.as_deref().map(str::to_owned),
                format!(
                    "labeled {en} (doc {doc}) in the previous inventory, no label now: a save or copy probably stripped it; restore the label with `fuda label set`",
                ),
                format!(
                    "前回の棚卸では{ja} (文書ID {doc}) でしたが、現在ラベルがありません。保存・コピーで失われた可能性があります。`fuda label set` で再設定してください",
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {

    fn policy() -> fuda_core::policy::Policy {
        fuda_core::policy::Policy::builtin("default").unwrap()
    }
    use super::*;
    use proptest::prelude::*;

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

    fn inventory(files: Vec<FileEntry>) -> Previous {
        Previous {
            generated_at: 0,
            files: traces(&files),
        }
    }

    fn traces(files: &[FileEntry]) -> Vec<Trace> {
        files.iter().map(Trace::from).collect()
    }

    /// The review with every file matched by the rules in order (nothing settled early).
    fn diff(previous: &Previous, files: &[Trace]) -> (Review, Vec<Finding>) {
        let policy = policy();
        let mut matcher = Matcher::new(previous, &policy);
        for f in files {
            matcher.wait(f.clone());
        }
        matcher.finish()
    }

    /// The review as the inventory makes it, settling unchanged files as they stream by.
    fn streamed(previous: &Previous, files: &[FileEntry]) -> (Review, Vec<Finding>) {
        let policy = policy();
        let mut matcher = Matcher::new(previous, &policy);
        for f in files {
            matcher.see(f);
        }
        matcher.finish()
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
        let (review, findings) = diff(&before, &traces(&now));
        assert_eq!(streamed(&before, &now), (review.clone(), findings.clone()));
        let kinds: Vec<(ChangeKind, &str)> = review
            .changes
            .iter()
            .map(|c| (c.kind, c.path.to_str().unwrap()))
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
        assert_eq!(findings[0].path, Path::new("/s/old/b.txt"));
    }

    #[test]
    fn an_older_label_written_back_is_replayed_not_reclassified() {
        let doc = DocId::new();
        // Last year: labeled 公開 (seq 0), then relabeled 極秘 (seq 1) before the inventory.
        let mut secret = entry("/s/plan.txt", Some(doc), Some("strictly-confidential"), 1);
        (secret.seq, secret.set_at) = (Some(1), Some(2_000));
        let before = inventory(vec![secret]);
        // Now it carries the saved 公開 label again (seq 0, signed earlier).
        let mut public = entry("/s/plan.txt", Some(doc), Some("public"), 1);
        public.set_at = Some(1_000);
        let now = vec![public];
        let (review, findings) = streamed(&before, &now);
        assert_eq!(
            diff(&before, &traces(&now)),
            (review.clone(), findings.clone())
        );
        assert!(review.changes.is_empty(), "{:?}", review.changes);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].kind, FindingKind::Replayed);
        assert_eq!(findings[0].path, Path::new("/s/plan.txt"));
        assert_eq!(findings[0].level.as_deref(), Some("public"));

        // A relabel through fuda (seq 2) is a reclassification, as before.
        let mut relabeled = entry("/s/plan.txt", Some(doc), Some("public"), 1);
        (relabeled.seq, relabeled.set_at) = (Some(2), Some(3_000));
        let (review, findings) = streamed(&before, &[relabeled]);
        assert!(findings.is_empty(), "{findings:?}");
        assert_eq!(review.reclassified, 1);
    }

    #[test]
    fn the_previous_inventory_must_be_an_inventory_of_this_version() {
        let parse = |text: &str| Previous::from_reader(&mut text.as_bytes());
        let good = r#"{"format":"fuda-inventory","version":1,"generated_at":7,"rows":[],
            "files":[{"path":"/s/a.txt","root":"/s","size":1,"modified":0,"status":"missing",
            "problem":"unreadable: denied"}]}"#;
        let previous = parse(good).unwrap();
        assert_eq!(previous.generated_at, 7);
        assert!(previous.files[0].problem);
        // Excel and Notepad like to add a byte-order mark.
        assert_eq!(parse(&format!("\u{feff}{good}")).unwrap(), previous);
        let wrong_format = parse(r#"{"format":"something-else","version":1}"#).unwrap_err();
        assert!(wrong_format.contains("something-else"), "{wrong_format}");
        let wrong_version =
            parse(r#"{"format":"fuda-inventory","version":9,"files":[]}"#).unwrap_err();
        assert!(wrong_version.contains("version 9"), "{wrong_version}");
        assert!(parse(r#"{"files":[]}"#).unwrap_err().contains("format"));
        assert!(parse("not json").is_err());
    }

    /// A file as (path, doc id, level, content, unreadable), each an index into a few values.
    type FileSpec = (u8, Option<u8>, Option<u8>, u8, bool);

    fn arbitrary_file() -> impl Strategy<Value = FileSpec> {
        // Small domains, so that paths, ids, levels and contents collide often.
        (
            0u8..12,
            proptest::option::of(0u8..6),
            proptest::option::of(0u8..3),
            0u8..6,
            any::<bool>(),
        )
    }

    /// Files from specs; with `unique`, each path once (as on a disk).
    fn files_of(specs: Vec<FileSpec>, unique: bool) -> Vec<FileEntry> {
        let mut seen = std::collections::HashSet::new();
        // The same six ids in both inventories.
        let docs: Vec<DocId> = (0..6)
            .map(|d| format!("01JB00000000000000000000{d:02}").parse().unwrap())
            .collect();
        let levels = ["public", "internal", "secret"];
        specs
            .into_iter()
            .filter(|(path, ..)| seen.insert(*path) || !unique)
            .map(|(path, doc, level, sha, problem)| {
                let mut e = entry(
                    &format!("/s/{path}.txt"),
                    doc.map(|d| docs[usize::from(d)]),
                    level.map(|l| levels[usize::from(l)]),
                    sha,
                );
                if problem && e.level.is_none() {
                    e.problem = Some("unreadable: denied".into());
                }
                e
            })
            .collect()
    }

    proptest::proptest! {
        /// Settling unchanged files early never changes the review.
        #[test]
        fn settling_files_as_they_stream_matches_the_rules_in_order(
            then in proptest::collection::vec(arbitrary_file(), 0..12),
            now in proptest::collection::vec(arbitrary_file(), 0..12),
        ) {
            // A previous inventory may list a path twice (edited by hand, or two names
            // that are one once normalised); the files now come from a disk.
            let (then, now) = (files_of(then, false), files_of(now, true));
            let previous = Previous { generated_at: 0, files: traces(&then) };
            proptest::prop_assert_eq!(streamed(&previous, &now), diff(&previous, &traces(&now)));
        }
    }
}
