//! The company-wide ledger: one confidential list from the files every file server and
//! PC reported to the key service.
//!
//! The key service keeps the company's file index (per machine, per path: the
//! [`FileEntry`] each machine's inventory made); this module makes the ledger of it, in
//! the same IPA layout, sheets and review as `fuda inventory`. Each file is named
//! `MACHINE:PATH` (its *company path*, [`company_path`]), so rows merge the same kind of
//! asset across machines and 媒体・保存先 / 保管場所 list every `machine:folder`; a
//! `--since` review compares with last time's company ledger file by file.
//!
//! A [`Builder`] takes the index in passes, each a stream (memory does not grow with the
//! number of files; 10,000,000 records do not sit in memory):
//!
//! 1. every file, in any order (machine and path order lists them best): the policy's
//!    checks on each file where it is (labels tampered, stale, missing; outside the
//!    level's `allowed_locations`; not protected; a revoked document still present),
//!    the ledger rows, the review, and the per-file records (spilled to a temporary
//!    file, as `fuda inventory` does);
//! 2. the files in content-digest order ([`Builder::add_by_content`]), then the labeled
//!    files in document-id order ([`Builder::add_by_doc`]): copies of one confidential
//!    document on several machines ([`copies`]), one finding per document.
//!
//! [`Builder::finish`] adds a finding for every machine that has not reported for
//! longer than its interval — the ledger is then incomplete, and says so on its first
//! sheet ([`crate::ledger::company`]). Findings wait in temporary files too, one per
//! severity and kind, so they come out in that order without sorting.

pub mod copies;
mod spill;
pub mod wire;

use std::collections::BTreeMap;
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fuda_core::policy::Policy;
use serde::{Deserialize, Serialize};

use crate::inventory::findings::{self, Expectations, Finding, FindingKind, Severity};
use crate::inventory::registry::{Registry, RevokedDocuments};
use crate::inventory::review::{Matcher, Previous, Review};
use crate::inventory::rows::{self, AssetRow, Grouper};
use crate::inventory::{files, FileEntry, FileList, PolicyInfo, Summary};

/// A machine (or file-server hook) that reports into the index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// Its name in the directory.
    pub name: String,
    /// `machine` or `hook`.
    pub kind: String,
    /// Its last report, Unix seconds (`None`: never reported).
    pub last_report_at: Option<i64>,
    /// How often it is expected to report, seconds.
    pub expected_interval_s: u32,
    /// Files it reported.
    pub files: u64,
}

impl Source {
    /// Whether it has not reported for longer than its interval at `now` (never reported
    /// counts as overdue).
    pub fn overdue(&self, now: i64) -> bool {
        self.last_report_at
            .is_none_or(|t| now.saturating_sub(t) > i64::from(self.expected_interval_s))
    }
}

/// `MACHINE:PATH`, with the path's exact bytes: how the company ledger names a file.
pub fn company_path(machine: &str, path: &Path) -> PathBuf {
    let mut bytes = Vec::with_capacity(machine.len() + 1 + path.as_os_str().len());
    bytes.extend_from_slice(machine.as_bytes());
    bytes.push(b':');
    bytes.extend_from_slice(path.as_os_str().as_bytes());
    PathBuf::from(std::ffi::OsString::from_vec(bytes))
}

/// The company's findings, by severity and kind (each in arrival order).
pub struct FindingList {
    parts: Vec<spill::Spilled<Finding>>,
    len: usize,
}

impl FindingList {
    /// How many.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every finding: high first, then by kind; an error means a temporary file could
    /// not be read back.
    pub fn iter(&self) -> impl Iterator<Item = std::io::Result<Finding>> + '_ {
        self.parts.iter().flat_map(spill::Spilled::iter)
    }
}

/// Findings as they come, kept in a temporary file per severity and kind.
pub(crate) struct Buckets {
    dir: PathBuf,
    map: BTreeMap<(Severity, FindingKind), spill::Writer<Finding>>,
}

impl Buckets {
    pub(crate) fn new(dir: &Path) -> Buckets {
        Buckets {
            dir: dir.to_owned(),
            map: BTreeMap::new(),
        }
    }

    pub(crate) fn push(&mut self, finding: &Finding) -> std::io::Result<()> {
        let key = (finding.severity, finding.kind);
        if !self.map.contains_key(&key) {
            self.map.insert(key, spill::Writer::new(&self.dir)?);
        }
        self.map
            .get_mut(&key)
            .expect("inserted above")
            .push(finding)
    }

    pub(crate) fn finish(self) -> std::io::Result<FindingList> {
        let mut parts = Vec::with_capacity(self.map.len());
        let mut len = 0;
        for (_, writer) in self.map {
            let part = writer.finish()?;
            len += part.count();
            parts.push(part);
        }
        Ok(FindingList { parts, len })
    }
}

/// The company ledger, ready to write ([`crate::ledger::company`]).
pub struct CompanyLedger {
    /// When it was made, Unix seconds.
    pub generated_at: i64,
    /// The policy in force.
    pub policy: PolicyInfo,
    /// Every machine and hook, with when it last reported.
    pub sources: Vec<Source>,
    /// The machines that have not reported within their interval: the ledger is
    /// incomplete for them.
    pub overdue: Vec<String>,
    /// Counts (files as reported).
    pub summary: Summary,
    /// Ledger rows, merged across machines.
    pub rows: Vec<AssetRow>,
    /// Findings, high first.
    pub findings: FindingList,
    /// What changed since the previous company ledger, when one was given.
    pub review: Option<Review>,
    /// Every file, named by its company path, in the order given.
    pub files: FileList,
}

impl CompanyLedger {
    /// Whether every machine reported within its interval.
    pub fn complete(&self) -> bool {
        self.overdue.is_empty()
    }
}

/// Builds the company ledger from the index, a pass at a time.
pub struct Builder<'a> {
    policy: &'a Policy,
    now: i64,
    sources: Vec<Source>,
    expect: Expectations<'a>,
    revoked: Option<RevokedDocuments<'a>>,
    grouper: Grouper<'a>,
    summary: Summary,
    review: Option<Matcher<'a>>,
    files: files::Spill,
    findings: Buckets,
    by_content: copies::Copies<'a>,
    by_doc: Option<copies::Copies<'a>>,
    /// Scratch: one file's findings.
    scratch: Vec<Finding>,
}

impl<'a> Builder<'a> {
    /// A ledger under `policy` at `now` of the files of `sources`; `registry` gives the
    /// revoked documents, `previous` last time's company ledger (the review); temporary
    /// files go to `spill_dir`.
    pub fn new(
        policy: &'a Policy,
        now: i64,
        sources: Vec<Source>,
        registry: Option<&'a Registry>,
        previous: Option<&'a Previous>,
        spill_dir: &Path,
    ) -> std::io::Result<Builder<'a>> {
        Ok(Builder {
            policy,
            now,
            sources,
            expect: Expectations::new(policy),
            revoked: registry.map(|r| RevokedDocuments::new(r, policy.utc_offset)),
            grouper: Grouper::new(policy),
            summary: Summary::default(),
            review: previous.map(|p| Matcher::new(p, policy)),
            files: files::Spill::new(spill_dir)?,
            findings: Buckets::new(spill_dir),
            by_content: copies::Copies::new(policy, copies::Key::Content),
            by_doc: None,
            scratch: Vec::new(),
        })
    }

    fn finding(&mut self, finding: Finding) -> std::io::Result<()> {
        self.findings.push(&finding)
    }

    /// Pass 1: one file that `machine` reported.
    pub fn add(&mut self, machine: &str, mut entry: FileEntry) -> std::io::Result<()> {
        entry.row = None;
        // The policy's checks see the file where it is on its machine.
        let row = rows::row_of(self.policy, &entry);
        let asset = row.as_ref().and_then(|(_, a)| *a);
        let mut found = std::mem::take(&mut self.scratch);
        findings::check_file(&self.expect, &entry, asset, &mut found);
        found.extend(self.revoked.as_ref().and_then(|r| r.finding(&entry)));
        // Everywhere else it is MACHINE:PATH.
        entry.path = company_path(machine, &entry.path);
        entry.root = Arc::from(format!("{machine}:{}", entry.root));
        for mut f in found.drain(..) {
            f.path.clone_from(&entry.path);
            self.finding(f)?;
        }
        self.scratch = found;
        self.summary.count(&entry);
        if let Some((id, asset)) = row {
            self.grouper.add(&entry, &id, asset);
            entry.row = Some(Arc::from(id));
        }
        if let Some(review) = &mut self.review {
            review.see(&entry);
        }
        self.files
            .push(&files::Spill::lines(std::slice::from_ref(&entry)), 1)
    }

    /// Pass 2: a file, the files in the order of their content digests; `record` is its
    /// [`FileEntry`] as JSON (parsed only when the content has copies).
    pub fn add_by_content(
        &mut self,
        sha256: &str,
        machine: &str,
        path: &Path,
        record: &[u8],
    ) -> std::io::Result<()> {
        match self.by_content.add(sha256, machine, path, record) {
            Some(f) => self.finding(f),
            None => Ok(()),
        }
    }

    /// Pass 3 (after every [`Builder::add_by_content`]): a labeled file, the files in
    /// the order of their document ids.
    pub fn add_by_doc(
        &mut self,
        doc: &str,
        machine: &str,
        path: &Path,
        record: &[u8],
    ) -> std::io::Result<()> {
        if self.by_doc.is_none() {
            if let Some(f) = self.by_content.finish() {
                self.finding(f)?;
            }
            let mut by_doc = copies::Copies::new(self.policy, copies::Key::Doc);
            by_doc.skip_documents(self.by_content.reported().clone());
            self.by_doc = Some(by_doc);
        }
        let by_doc = self.by_doc.as_mut().expect("made above");
        match by_doc.add(doc, machine, path, record) {
            Some(f) => self.finding(f),
            None => Ok(()),
        }
    }

    /// The ledger.
    pub fn finish(mut self) -> std::io::Result<CompanyLedger> {
        let last = match self.by_doc.as_mut() {
            Some(c) => c.finish(),
            None => self.by_content.finish(),
        };
        if let Some(f) = last {
            self.finding(f)?;
        }
        let mut overdue = Vec::new();
        for source in self.sources.clone() {
            if source.overdue(self.now) {
                overdue.push(source.name.clone());
                self.finding(not_reporting(self.policy, &source))?;
            }
        }
        let review = match self.review.take() {
            Some(matcher) => {
                let (review, disappeared) = matcher.finish();
                for f in disappeared {
                    self.finding(f)?;
                }
                Some(review)
            }
            None => None,
        };
        let rows = self
            .grouper
            .finish(self.now)
            .into_iter()
            .map(|r| with_places(self.policy, r))
            .collect::<Vec<_>>();
        let findings = self.findings.finish()?;
        let mut summary = self.summary;
        summary.rows = rows.len();
        summary.findings = findings.len();
        Ok(CompanyLedger {
            generated_at: self.now,
            policy: PolicyInfo {
                id: self.policy.id.clone(),
                version: self.policy.version,
            },
            sources: self.sources,
            overdue,
            summary,
            rows,
            findings,
            review,
            files: self.files.finish()?,
        })
    }
}

/// Most `machine:folder` places listed in 媒体・保存先.
const MAX_PLACES: usize = 10;

/// 媒体・保存先 of a company row: the asset's medium, then every `machine:folder`
/// (the first [`MAX_PLACES`], then how many more).
fn with_places(policy: &Policy, mut row: AssetRow) -> AssetRow {
    let medium = row
        .asset
        .as_deref()
        .and_then(|a| policy.asset(a))
        .and_then(|a| a.medium.clone());
    let mut lines: Vec<String> = medium.into_iter().collect();
    lines.extend(row.locations.iter().take(MAX_PLACES).cloned());
    if row.locations.len() > MAX_PLACES {
        lines.push(format!("(+{})", row.locations.len() - MAX_PLACES));
    }
    row.medium = (!lines.is_empty()).then(|| lines.join("\n"));
    row
}

/// The finding for a machine that has not reported within its interval.
fn not_reporting(policy: &Policy, source: &Source) -> Finding {
    let hours = f64::from(source.expected_interval_s) / 3600.0;
    let (last, last_ja) = match source.last_report_at {
        Some(t) => {
            let day = crate::calendar::date(t, policy.utc_offset);
            (format!("last reported on {day}"), format!("最終報告 {day}"))
        }
        None => (
            "never reported".to_owned(),
            "一度も報告していません".to_owned(),
        ),
    };
    Finding::new(
        FindingKind::MachineNotReporting,
        PathBuf::from(format!("{}:", source.name)),
        None,
        format!(
            "{} ({last}) has not reported within its interval of {hours:.1} h: the ledger is incomplete for it. Check that the machine is on and `fuda inventory --report` runs (its timer or `fuda watch --report`)",
            source.name
        ),
        format!(
            "{} は報告間隔 {hours:.1} 時間を過ぎても報告していません ({last_ja})。この台帳はこのマシンについて不完全です。マシンが稼働し `fuda inventory --report` (タイマー) または `fuda watch --report` が動いているか確認してください",
            source.name
        ),
    )
}

#[cfg(test)]
mod tests;
