//! `fuda label set|show|check|remove`.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Result};
use fuda_core::label::{DocId, Evidence, Flag, Label, Method, PolicyRef, Status};
use fuda_core::labeling::{FileLabel, LabelingError, SetOutcome, SetRequest};
use fuda_core::pathname::JsonPath;
use fuda_core::policy::{Level, Policy};
use fuda_core::store::{ForeignLabel, StoreKind};
use fuda_keyd::audit::{LabelAction, LabelChange};
use serde::Serialize;

use super::{exit_error, exit_findings};
use crate::args::{self, JobsArgs, OutputArgs, PolicyArgs, StoreArgs};
use crate::config::{self, Session};
use crate::output::{self, timestamp, Record, Table};
use crate::walk;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Label files with a level (by id, Japanese or English name: 極秘, strictly-confidential).
    ///
    /// Office documents (docx/xlsx/pptx) get Microsoft-compatible properties inside the file;
    /// other files get the `user.fuda.label` xattr (or, with --store sidecar or auto, a .fuda
    /// index in the folder). Raising a level is always allowed; lowering it needs --justify
    /// and is logged. Re-labeling keeps the document id and owner.
    Set(SetArgs),
    /// Show the labels of files.
    Show(ShowArgs),
    /// Verify labels: exit 0 when every file has a valid label, 1 when any is stale,
    /// unverified, tampered, replayed or missing, 2 on errors.
    ///
    /// Under a key service, a label older than the newest one its audit log recorded for
    /// the document (an old label written back over a newer one) is `replayed`.
    Check(ShowArgs),
    /// Remove labels (needs --justify; logged).
    Remove(RemoveArgs),
}

/// Options shared by commands that take files.
#[derive(clap::Args)]
pub struct Files {
    /// Files (and, with -r, directories).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Include everything inside directories.
    #[arg(short, long)]
    recursive: bool,
    #[command(flatten)]
    jobs: JobsArgs,
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(clap::Args)]
pub struct SetArgs {
    /// The level: id, Japanese or English name, or alias.
    level: String,
    #[command(flatten)]
    files: Files,
    /// Ledger asset id from the policy (default: the first asset whose match fits).
    #[arg(long)]
    asset: Option<String>,
    /// Owner of the documents (default: the current owner, else you).
    #[arg(long)]
    owner: Option<String>,
    /// Why the level is being lowered (required for downgrades).
    #[arg(long)]
    justify: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
    /// Print only errors and the summary.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    files: Files,
}

#[derive(clap::Args)]
pub struct RemoveArgs {
    #[command(flatten)]
    files: Files,
    /// Why the label is being removed (required).
    #[arg(long, required = true)]
    justify: String,
}

pub fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Set(args) => set(args),
        Command::Show(args) => show(args, false),
        Command::Check(args) => show(args, true),
        Command::Remove(args) => remove(args),
    }
}

/// `label set --json`: a label written on a file.
#[derive(Serialize)]
struct Labeled<'a> {
    path: JsonPath<'a>,
    /// Where it was written.
    store: StoreKind,
    /// The level before, if the file had a label.
    previous: Option<&'a str>,
    downgrade: bool,
    /// The sidecar was used because the file system refuses user xattrs.
    fallback: bool,
    /// The signed label record as written.
    label: &'a Label,
}

impl Record for Labeled<'_> {
    const TYPE: &'static str = "file";
}

/// `label show|check --json`: a file's label and whether it is valid. The label's fields
/// are flattened into the record (absent when the file has none).
#[derive(Serialize)]
struct Shown<'a> {
    path: JsonPath<'a>,
    status: Status,
    store: Option<StoreKind>,
    /// The signer's name in the trust store.
    signer: Option<&'a str>,
    /// The signer's key id.
    key: Option<&'a str>,
    #[serde(flatten)]
    label: Option<ShownLabel<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    foreign: Option<&'a ForeignLabel>,
}

impl Record for Shown<'_> {
    const TYPE: &'static str = "file";
}

/// The fields of a label as `label show --json` prints them: `set_at` as RFC 3339, the
/// level's names from the policy.
#[derive(Serialize)]
struct ShownLabel<'a> {
    v: u8,
    doc: &'a DocId,
    level: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    level_name: Option<LevelName<'a>>,
    policy: &'a PolicyRef,
    owner: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    dept: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    asset: Option<&'a str>,
    method: Method,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    origin: Option<&'a str>,
    set_by: &'a str,
    set_at: String,
    seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_sha256: Option<&'a fuda_core::digest::Digest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    justification: Option<&'a str>,
    flags: &'a [Flag],
    evidence: &'a [Evidence],
}

/// A level's names, Japanese and English.
#[derive(Serialize)]
struct LevelName<'a> {
    ja: &'a str,
    en: &'a str,
}

/// `label remove --json`: the label taken off a file (`null` when it had none).
#[derive(Serialize)]
struct Removed<'a> {
    path: JsonPath<'a>,
    /// The level removed.
    removed: Option<&'a str>,
    doc: Option<&'a DocId>,
}

impl Record for Removed<'_> {
    const TYPE: &'static str = "file";
}

/// `label set --json`, after the files: how many were labeled.
#[derive(Serialize)]
struct SetSummary<'a> {
    /// The level set (its id).
    level: &'a str,
    labeled: usize,
    failed: usize,
    /// Labels that went to the sidecar index because the file system refuses xattrs.
    fallbacks: usize,
}

impl Record for SetSummary<'_> {
    const TYPE: &'static str = "summary";
}

/// `label check --json`, after the files: how many have each status.
#[derive(Serialize)]
struct CheckSummary {
    checked: usize,
    valid: usize,
    stale: usize,
    unverified: usize,
    tampered: usize,
    replayed: usize,
    missing: usize,
    /// Files that could not be read (reported on stderr).
    unreadable: usize,
}

impl Record for CheckSummary {
    const TYPE: &'static str = "summary";
}

/// `label remove --json`, after the files: how many labels were removed.
#[derive(Serialize)]
struct RemoveSummary {
    removed: usize,
    failed: usize,
}

impl Record for RemoveSummary {
    const TYPE: &'static str = "summary";
}

/// One line of the local label change log (`label-changes.jsonl` in the state
/// directory): downgrades, removals and break-glass recoveries, kept even without a key
/// service.
#[derive(Serialize)]
pub(crate) struct ChangeLogEntry<'a> {
    /// When (RFC 3339).
    pub at: String,
    /// `downgrade`, `remove` or `recover`.
    pub action: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<&'a str>,
    pub path: JsonPath<'a>,
    /// The document id (as the file recorded it).
    pub doc: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub justification: Option<&'a str>,
    /// Where a recovery wrote the plaintext.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out: Option<JsonPath<'a>>,
}

impl ChangeLogEntry<'_> {
    /// Appends the entry to the local change log.
    pub fn log(&self) -> Result<()> {
        config::log_change(&serde_json::to_value(self)?)
    }
}

/// The files of a recursive `label set` without the protected ones found in the folders
/// (one note says how many): their label is sealed in their header when they are
/// protected. A protected file named on the command line stays, to get its own answer.
fn skip_protected(files: Vec<PathBuf>, named: &[PathBuf]) -> Vec<PathBuf> {
    let (protected, files): (Vec<PathBuf>, Vec<PathBuf>) = files
        .into_iter()
        .partition(|f| fuda_core::store::envelope::is_protected(f) && !named.contains(f));
    if !protected.is_empty() {
        eprintln!(
            "fuda: note: skipped {} protected file{} (*.fuda) in the folders: name one (`fuda label set LEVEL FILE.fuda`) to change its level through the key service",
            protected.len(),
            if protected.len() == 1 { "" } else { "s" }
        );
    }
    files
}

fn set(args: SetArgs) -> Result<ExitCode> {
    let session = Session::load(args.files.policy.policy())?;
    let policy = &session.policy;
    let level = policy.level_by_name(&args.level).ok_or_else(|| {
        anyhow!(
            "unknown level {:?}: the policy {} defines {}",
            args.level,
            policy,
            policy.level_names()
        )
    })?;
    let labeler = args.store.labeler(&session)?;
    let files = skip_protected(
        walk::expand(&args.files.paths, args.files.recursive)?,
        &args.files.paths,
    );
    // Protected files named on the command line change level through the key service.
    let (sealed, files): (Vec<PathBuf>, Vec<PathBuf>) = files
        .into_iter()
        .partition(|f| fuda_core::store::envelope::is_protected(f) && args.files.paths.contains(f));
    let sealed_failed = super::reclassify::run(
        &session,
        level,
        args.justify.as_deref(),
        &sealed,
        args.files.output.json,
    )?;
    if files.is_empty() {
        return Ok(if sealed_failed > 0 {
            exit_error()
        } else {
            ExitCode::SUCCESS
        });
    }
    // Under a key service: the newest label of each document, so that a replayed label is
    // not silently relabeled (it needs --justify, like a tampered one).
    let newest = if crate::keyservice::has_service(&session)? {
        let current =
            walk::run_parallel(&files, args.files.jobs.jobs, "reading", |f| labeler.peek(f))?;
        newest_known(&session, &current)
    } else {
        None
    };
    let request = SetRequest {
        level,
        method: Method::Manual,
        asset: args.asset.clone(),
        owner: args.owner.clone(),
        justification: args.justify.clone(),
        rule: None,
        flags: Vec::new(),
        evidence: Vec::new(),
        content_sha256: None,
        newest: newest.as_ref(),
    };
    let results = walk::run_parallel(&files, args.files.jobs.jobs, "labeling", |f| {
        labeler.set(f, &request)
    })?;
    session.save_memo();

    let mut out = output::stdout();
    let mut summary = SetSummary {
        level: &level.id,
        labeled: 0,
        failed: 0,
        fallbacks: 0,
    };
    let mut changes = Vec::new();
    let mut misplaced = 0;
    let host = crate::keyservice::hostname();
    for (path, result) in files.iter().zip(results) {
        match result {
            Ok(SetOutcome::Applied {
                previous,
                downgrade,
                store,
                fallback,
                label,
            }) => {
                summary.labeled += 1;
                misplaced += usize::from(!level.allowed_at(&absolute(path)));
                summary.fallbacks += usize::from(fallback);
                changes.push(crate::keyservice::label_set_change(
                    path,
                    &label,
                    previous.clone(),
                    downgrade,
                    &host,
                ));
                if downgrade {
                    log_downgrade(path, &label, previous.as_deref())?;
                }
                let labeled = Labeled {
                    path: JsonPath::new(path),
                    store,
                    previous: previous.as_deref(),
                    downgrade,
                    fallback,
                    label: &label,
                };
                if args.files.output.json {
                    output::write_json(&mut out, &labeled)?;
                } else if !args.quiet {
                    print_labeled(&mut out, policy, level, &labeled)?;
                }
            }
            Ok(_) => {}
            Err(e) => {
                summary.failed += 1;
                out.flush()?;
                eprintln!("fuda: {e}");
            }
        }
    }
    if args.files.output.json {
        output::write_json(&mut out, &summary)?;
    } else {
        print_set_summary(&mut out, level, &summary)?;
    }
    out.flush()?;
    if misplaced > 0 {
        eprintln!(
            "fuda: note: the policy keeps {} files in {} (its allowed_locations); the ledger reports {misplaced} of these as outside-allowed-location (保管場所違反) until they are moved there",
            level.name_ja,
            level.allowed_locations.join(", ")
        );
    }
    let audited = audit(&session, &changes);
    Ok(if summary.failed > 0 || !audited || sealed_failed > 0 {
        exit_error()
    } else {
        ExitCode::SUCCESS
    })
}

/// Keeps a downgrade in the local change log (who, when, from, to, why).
fn log_downgrade(path: &Path, label: &Label, previous: Option<&str>) -> Result<()> {
    let doc = label.doc.to_string();
    ChangeLogEntry {
        at: timestamp(label.set_at),
        action: "downgrade",
        by: Some(&label.set_by),
        path: JsonPath::new(&absolute(path)),
        doc: Some(&doc),
        from: previous,
        to: Some(&label.level),
        justification: label.justification.as_deref(),
        out: None,
    }
    .log()
}

/// One labelled file as a line of the table: `path  [from →] level  [store]`.
fn print_labeled(
    out: &mut impl Write,
    policy: &Policy,
    level: &Level,
    labeled: &Labeled<'_>,
) -> Result<()> {
    let from = labeled
        .previous
        .and_then(|p| policy.level(p))
        .map(|l| format!("{} → ", l.name_ja))
        .unwrap_or_default();
    let note = if labeled.fallback {
        " (sidecar: this file system refuses user xattrs)"
    } else {
        ""
    };
    writeln!(
        out,
        "{}  {from}{}  [{}]{note}",
        fuda_core::pathname::escaped(labeled.path.0),
        level.name_ja,
        labeled.store
    )?;
    Ok(())
}

/// The closing lines of `label set` for people.
fn print_set_summary(out: &mut impl Write, level: &Level, summary: &SetSummary<'_>) -> Result<()> {
    let SetSummary {
        labeled,
        failed,
        fallbacks,
        ..
    } = *summary;
    writeln!(
        out,
        "labeled {labeled} file{} as {} ({}){}",
        plural(labeled),
        level.name_ja,
        level.name_en,
        if failed > 0 {
            format!(", {failed} failed")
        } else {
            String::new()
        }
    )?;
    if fallbacks > 0 {
        writeln!(
            out,
            "note: {fallbacks} label{} went to the .fuda sidecar index because the file system refuses user xattrs; sidecar labels do not travel with copies",
            plural(fallbacks)
        )?;
    }
    Ok(())
}

/// Records label changes in the key service's audit log, or queues them while it cannot
/// be reached (and says so); says so when it refuses them (the changes are made, and
/// downgrades and removals are in the local change log).
pub(crate) fn audit(session: &Session, changes: &[LabelChange]) -> bool {
    match crate::keyservice::audit_label_changes(session, changes) {
        Ok(crate::keyservice::Audited::Recorded(_)) => true,
        Ok(crate::keyservice::Audited::Queued {
            waiting,
            queue,
            why,
        }) => {
            eprintln!(
                "fuda: warning: the key service cannot be reached ({why}): the label changes were made, and {waiting} change(s) wait in {} for its audit log; they are sent by the next fuda command that reaches it",
                queue.display()
            );
            true
        }
        Err(e) => {
            eprintln!(
                "fuda: error: the label changes were made but the key service's audit log did not record them: {e:#}; tell an administrator (downgrades and removals are also in the local label-changes.jsonl)"
            );
            false
        }
    }
}

fn show(args: ShowArgs, check: bool) -> Result<ExitCode> {
    let session = Session::load(args.files.policy.policy())?;
    let labeler = args::configured_labeler(&session)?;
    let files = walk::expand(&args.files.paths, args.files.recursive)?;
    let mut results = walk::run_parallel(&files, args.files.jobs.jobs, "checking", |f| {
        labeler.inspect(f)
    })?;
    session.save_memo();
    mark_replayed(&session, &mut results);

    let mut out = output::stdout();
    let mut table = Table::new(&[
        "PATH", "LEVEL", "STATUS", "STORE", "OWNER", "METHOD", "SET BY", "SET AT",
    ]);
    let mut counts = [0usize; 6];
    let mut failed = 0;
    for result in results {
        let file = match result {
            Ok(f) => f,
            Err(e) => {
                failed += 1;
                out.flush()?;
                eprintln!("fuda: {e}");
                continue;
            }
        };
        counts[status_index(file.status)] += 1;
        if args.files.output.json {
            output::write_json(&mut out, &shown(&file, &session.policy))?;
        } else if !check || file.status != Status::Valid {
            table.row(row_of(&file, &session.policy));
        }
    }
    let [valid, stale, unverified, tampered, missing, replayed] = counts;
    if args.files.output.json {
        if check {
            let summary = CheckSummary {
                checked: files.len() - failed,
                valid,
                stale,
                unverified,
                tampered,
                replayed,
                missing,
                unreadable: failed,
            };
            output::write_json(&mut out, &summary)?;
        }
    } else {
        if !check || counts[0] < files.len() - failed {
            table.print(&mut out)?;
        }
        if check {
            writeln!(
                out,
                "checked {} file{}: {valid} valid, {stale} stale, {unverified} unverified, {tampered} tampered, {replayed} replayed, {missing} missing{}",
                files.len() - failed,
                plural(files.len() - failed),
                if failed > 0 { format!(", {failed} unreadable") } else { String::new() }
            )?;
        }
    }
    out.flush()?;
    let findings = counts[1..].iter().sum::<usize>() > 0;
    Ok(if failed > 0 {
        exit_error()
    } else if check && findings {
        exit_findings()
    } else {
        ExitCode::SUCCESS
    })
}

fn remove(args: RemoveArgs) -> Result<ExitCode> {
    let session = Session::load(args.files.policy.policy())?;
    let labeler = args::configured_labeler(&session)?;
    let files = walk::expand(&args.files.paths, args.files.recursive)?;
    let results = walk::run_parallel(&files, args.files.jobs.jobs, "removing", |f| {
        labeler.remove(f, &args.justify)
    })?;
    let json = args.files.output.json;
    let mut out = output::stdout();
    let mut failed = 0;
    let mut removed = 0;
    let mut changes = Vec::new();
    let host = crate::keyservice::hostname();
    for (path, result) in files.iter().zip(results) {
        match result {
            Ok(previous) => {
                let Some(label) = previous.label.filter(|_| previous.store.is_some()) else {
                    if json {
                        let none = Removed {
                            path: JsonPath::new(path),
                            removed: None,
                            doc: None,
                        };
                        output::write_json(&mut out, &none)?;
                    } else {
                        writeln!(out, "{}  (no label)", fuda_core::pathname::escaped(path))?;
                    }
                    continue;
                };
                removed += 1;
                let doc = label.doc.to_string();
                changes.push(LabelChange {
                    doc: doc.clone(),
                    action: LabelAction::Remove,
                    from: Some(label.level.clone()),
                    to: None,
                    path: absolute(path),
                    host: host.clone(),
                    justification: Some(args.justify.clone()),
                    version: None,
                });
                ChangeLogEntry {
                    at: timestamp(fuda_core::labeling::now()),
                    action: "remove",
                    by: Some(session.identity.name()),
                    path: JsonPath::new(&absolute(path)),
                    doc: Some(&doc),
                    from: Some(&label.level),
                    to: None,
                    justification: Some(&args.justify),
                    out: None,
                }
                .log()?;
                if json {
                    let removed = Removed {
                        path: JsonPath::new(path),
                        removed: Some(&label.level),
                        doc: Some(&label.doc),
                    };
                    output::write_json(&mut out, &removed)?;
                } else {
                    writeln!(
                        out,
                        "{}  removed {}",
                        fuda_core::pathname::escaped(path),
                        level_name(&session.policy, &label.level)
                    )?;
                }
            }
            Err(e) => {
                failed += 1;
                out.flush()?;
                eprintln!("fuda: {e}");
            }
        }
    }
    if json {
        output::write_json(&mut out, &RemoveSummary { removed, failed })?;
    } else {
        writeln!(out, "removed {removed} label{}", plural(removed))?;
    }
    out.flush()?;
    let audited = audit(&session, &changes);
    Ok(if failed > 0 || !audited {
        exit_error()
    } else {
        ExitCode::SUCCESS
    })
}

fn status_index(s: Status) -> usize {
    match s {
        Status::Valid => 0,
        Status::Stale => 1,
        Status::Unverified => 2,
        Status::Tampered => 3,
        Status::Missing => 4,
        Status::Replayed => 5,
    }
}

/// The newest label version the key service recorded for the documents of the signed
/// labels among `files`; `None` without a service, or (said on stderr) when it cannot be
/// asked.
fn newest_known(
    session: &Session,
    files: &[Result<FileLabel, LabelingError>],
) -> Option<HashMap<DocId, (u64, i64)>> {
    let mut docs: Vec<String> = files
        .iter()
        .flatten()
        .filter(|f| matches!(f.status, Status::Valid | Status::Stale))
        .filter_map(|f| f.label.as_ref().map(|l| l.doc.to_string()))
        .collect();
    docs.sort_unstable();
    docs.dedup();
    match crate::keyservice::newest_labels(session, &docs) {
        Ok(newest) => newest.map(|n| {
            n.into_iter()
                .filter_map(|(doc, v)| Some((doc.parse().ok()?, (v.seq, v.set_at))))
                .collect()
        }),
        Err(e) => {
            eprintln!(
                "fuda: warning: could not ask the key service for the newest labels ({e:#}); older labels written back over newer ones (replays) are not detected"
            );
            None
        }
    }
}

/// Calls a file's label `replayed` when the key service recorded a newer label of its
/// document (an old label was written back over it). Without a service nothing is known
/// beyond the file.
fn mark_replayed(session: &Session, results: &mut [Result<FileLabel, LabelingError>]) {
    let Some(newest) = newest_known(session, results) else {
        return;
    };
    for file in results.iter_mut().flatten() {
        let Some(label) = file.label.as_ref() else {
            continue;
        };
        let known = newest.get(&label.doc).copied();
        let Some((seq, set_at)) = known.filter(|v| label.version() < *v) else {
            continue;
        };
        if matches!(file.status, Status::Valid | Status::Stale) {
            file.status = Status::Replayed;
            file.problem = Some(format!(
                "the key service recorded a newer label of this document (seq {seq}, set {}); this one (seq {}) was written back over it",
                timestamp(set_at),
                label.seq
            ));
        }
    }
}

/// A level as people name it: `極秘 (Strictly confidential)`.
pub(crate) fn level_name(policy: &Policy, id: &str) -> String {
    policy.level(id).map_or_else(
        || format!("{id} (not in policy {policy})"),
        |l| format!("{} ({})", l.name_ja, l.name_en),
    )
}

fn row_of(file: &FileLabel, policy: &Policy) -> Vec<String> {
    let l = file.label.as_ref();
    let dash = || "-".to_owned();
    vec![
        fuda_core::pathname::escaped(&file.path),
        l.map_or_else(dash, |l| level_name(policy, &l.level)),
        match &file.problem {
            Some(p) => format!("{} ({p})", file.status),
            None => file.status.to_string(),
        },
        file.store.map_or_else(dash, |s| s.to_string()),
        l.map(|l| l.owner.clone())
            .filter(|o| !o.is_empty())
            .unwrap_or_else(dash),
        l.map_or_else(dash, |l| l.method.as_str().to_owned()),
        file.signer
            .clone()
            .or_else(|| l.map(|l| format!("{} (untrusted: unknown or disabled)", l.set_by)))
            .unwrap_or_else(dash),
        l.filter(|l| l.set_at > 0)
            .map_or_else(dash, |l| timestamp(l.set_at)),
    ]
}

fn shown<'a>(file: &'a FileLabel, policy: &'a Policy) -> Shown<'a> {
    Shown {
        path: JsonPath::new(&file.path),
        status: file.status,
        store: file.store,
        signer: file.signer.as_deref(),
        key: file.key.as_deref(),
        label: file.label.as_ref().map(|l| ShownLabel {
            v: l.v,
            doc: &l.doc,
            level: &l.level,
            level_name: policy.level(&l.level).map(|level| LevelName {
                ja: &level.name_ja,
                en: &level.name_en,
            }),
            policy: &l.policy,
            owner: &l.owner,
            dept: l.dept.as_deref(),
            asset: l.asset.as_deref(),
            method: l.method,
            rule: l.rule.as_deref(),
            origin: l.origin.as_deref(),
            set_by: &l.set_by,
            set_at: timestamp(l.set_at),
            seq: l.seq,
            content_sha256: l.content_sha256.as_ref(),
            justification: l.justification.as_deref(),
            flags: &l.flags,
            evidence: &l.evidence,
        }),
        problem: file.problem.as_deref(),
        foreign: file.foreign.as_ref(),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}
